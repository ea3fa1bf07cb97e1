/** An AttrReader over a NodeProto's attributes (the interface the shape rules use too). */
import type { NodeProto } from '../../ir/proto.js';
import { AttributeType } from '../../ir/proto.js';
import type { AttrReader } from '../types.js';

export function attrReader(node: NodeProto): AttrReader {
  const find = (name: string) => node.attribute.find((a) => a.name === name);
  function int(name: string): number | undefined;
  function int(name: string, fallback: number): number;
  function int(name: string, fallback?: number) {
    const a = find(name);
    return a?.i !== undefined ? Number(a.i) : fallback;
  }
  function ints(name: string): number[] | undefined;
  function ints(name: string, fallback: number[]): number[];
  function ints(name: string, fallback?: number[]) {
    const a = find(name);
    return a && a.type === AttributeType.INTS ? a.ints.map(Number) : fallback;
  }
  function float(name: string): number | undefined;
  function float(name: string, fallback: number): number;
  function float(name: string, fallback?: number) {
    const a = find(name);
    return a?.f !== undefined ? a.f : fallback;
  }
  function string(name: string): string | undefined;
  function string(name: string, fallback: string): string;
  function string(name: string, fallback?: string) {
    const a = find(name);
    return a?.s !== undefined ? new TextDecoder().decode(a.s) : fallback;
  }
  return {
    has: (name) => find(name) !== undefined,
    int,
    ints,
    float,
    string,
    floats: (name) => find(name)?.floats,
    tensor: (name) => find(name)?.t,
    graph: (name) => find(name)?.g,
    raw: (name) => find(name),
  };
}
