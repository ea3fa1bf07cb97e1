/**
 * The one way Hone reads a node's attributes: shape rules, gradient rules, passes and the quantizer all
 * go through `attrReader(node)`, so an attribute means the same thing to each of them. Defaults are the
 * caller's (ONNX's defaults differ per op and per opset), given at the call site: `attrReader(n).int('axis', 1)`.
 *
 * An attribute that is present but whose value field is absent has the protobuf default (0, 0.0, ''):
 * ONNX's AttributeProto is proto2, and writers that follow proto3 habits omit zeros. onnx's
 * `helper.get_attribute_value` and ORT's kernels read such an INT as 0, not as the op's default, and so
 * does this reader (`transB` written that way is 0, whatever the caller's fallback).
 */
import type { AttributeProto, GraphProto, NodeProto, TensorProto } from './proto.js';
import { AttributeType } from './proto.js';

export interface AttrReader {
  has(name: string): boolean;
  int(name: string, fallback: number): number;
  int(name: string): number | undefined;
  ints(name: string, fallback: number[]): number[];
  ints(name: string): number[] | undefined;
  float(name: string, fallback: number): number;
  float(name: string): number | undefined;
  floats(name: string): number[] | undefined;
  string(name: string, fallback: string): string;
  string(name: string): string | undefined;
  tensor(name: string): TensorProto | undefined;
  graph(name: string): GraphProto | undefined;
  raw(name: string): AttributeProto | undefined;
}

/** An AttrReader over `node`'s attributes. Cheap: shape inference makes one per node. */
export function attrReader(node: NodeProto): AttrReader {
  return new NodeAttrs(node);
}

const utf8 = new TextDecoder();

class NodeAttrs implements AttrReader {
  constructor(private readonly node: NodeProto) {}

  raw(name: string): AttributeProto | undefined {
    for (const a of this.node.attribute) if (a.name === name) return a;
    return undefined;
  }

  has(name: string): boolean {
    return this.raw(name) !== undefined;
  }

  int(name: string, fallback: number): number;
  int(name: string): number | undefined;
  int(name: string, fallback?: number): number | undefined {
    const a = this.raw(name);
    if (a?.i !== undefined) return Number(a.i);
    return a?.type === AttributeType.INT ? 0 : fallback;
  }

  ints(name: string, fallback: number[]): number[];
  ints(name: string): number[] | undefined;
  ints(name: string, fallback?: number[]): number[] | undefined {
    // An INTS attribute may be empty (Transpose's perm never is, Squeeze's axes may be); another type
    // under the name has no list to give.
    const a = this.raw(name);
    return a && (a.type === AttributeType.INTS || a.ints.length > 0) ? a.ints.map(Number) : fallback;
  }

  float(name: string, fallback: number): number;
  float(name: string): number | undefined;
  float(name: string, fallback?: number): number | undefined {
    const a = this.raw(name);
    if (a?.f !== undefined) return a.f;
    return a?.type === AttributeType.FLOAT ? 0 : fallback;
  }

  floats(name: string): number[] | undefined {
    const a = this.raw(name);
    return a && (a.type === AttributeType.FLOATS || a.floats.length > 0) ? a.floats : undefined;
  }

  string(name: string, fallback: string): string;
  string(name: string): string | undefined;
  string(name: string, fallback?: string): string | undefined {
    const a = this.raw(name);
    if (a?.s !== undefined) return utf8.decode(a.s);
    return a?.type === AttributeType.STRING ? '' : fallback;
  }

  tensor(name: string): TensorProto | undefined {
    return this.raw(name)?.t;
  }

  graph(name: string): GraphProto | undefined {
    return this.raw(name)?.g;
  }
}
