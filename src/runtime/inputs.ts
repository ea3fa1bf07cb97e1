/**
 * A model's inputs, and fixing their symbolic dims. The Node binding ignores `freeDimensionOverrides`,
 * so dims are fixed by editing the graph: the input ValueInfos of a copy get numbers in place of
 * symbols before the session is created. Also: the `--shape`/`--dim` flag syntax, and seeded random feeds.
 */
import { mulberry32 } from '../util/random.js';
import * as ort from 'onnxruntime-node';
import type { ModelProto, ValueInfoProto } from '../ir/proto.js';
import { DataType, dtypeInfo, dtypeName } from '../ir/dtype.js';
import { numElements } from '../ir/tensor.js';
import { badInput } from '../errors.js';

export type Dim = number | string;

/** A graph input (initializers excluded); `shape` undefined when the model gives no shape. */
export interface InputInfo {
  name: string;
  elemType: number;
  shape?: Dim[];
}

/** An input with every dim known. */
export interface ConcreteInput {
  name: string;
  elemType: number;
  shape: number[];
}

export interface DimFixes {
  /** Symbolic dim name → size, e.g. {batch: 8} (from `--dim batch=8`). */
  dims?: ReadonlyMap<string, number> | Record<string, number>;
  /** Input name → full shape, e.g. {x: [1,3,640,640]} (from `--shape x=1x3x640x640`). Wins over `dims`. */
  shapes?: ReadonlyMap<string, readonly number[]> | Record<string, readonly number[]>;
}

/** The graph's real inputs: graph.input minus those that are initializers (old-style models list both). */
export function graphInputs(model: ModelProto): InputInfo[] {
  const g = model.graph;
  if (!g) return [];
  const inits = new Set(g.initializer.map((t) => t.name));
  return g.input.filter((vi) => !inits.has(vi.name)).map((vi) => {
    const tt = vi.type?.tensorType;
    if (!tt) throw badInput(`input '${vi.name}' is not a tensor (sequence, map or optional inputs are not supported); profile a model with tensor inputs`);
    return {
      name: vi.name ?? '',
      elemType: tt.elemType ?? 0,
      shape: tt.shape?.dim.map((d, i) => d.dimValue ?? d.dimParam ?? `${vi.name}_dim${i}`),
    };
  });
}

/** Parses `--shape` values: `NAME=1x3x640x640` (commas also accepted between dims). */
export function parseShapeFlags(values: readonly string[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const v of values) {
    const m = /^([^=]+)=(\d+(?:[x,]\d+)*)$/.exec(v.trim());
    if (!m) throw badInput(`--shape '${v}' is not NAME=DIMS; write it like --shape input=1x3x224x224`);
    out.set(m[1]!, m[2]!.split(/[x,]/).map(Number));
  }
  return out;
}

/** Parses `--dim` values: `batch=8`. */
export function parseDimFlags(values: readonly string[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const v of values) {
    const m = /^([^=]+)=(\d+)$/.exec(v.trim());
    if (!m || Number(m[2]) < 1) throw badInput(`--dim '${v}' is not NAME=N with N >= 1; write it like --dim batch=8`);
    out.set(m[1]!, Number(m[2]));
  }
  return out;
}

/**
 * Every input's concrete shape under `fixes`. Errors name the input and the flag that fixes it: an unknown
 * input in `shapes`, a dim name no input has, a rank or fixed-size mismatch, an unresolved symbolic dim.
 */
export function resolveInputs(model: ModelProto, fixes: DimFixes = {}): ConcreteInput[] {
  const inputs = graphInputs(model);
  const dims = toMap(fixes.dims);
  const shapes = toMap(fixes.shapes);
  const names = inputs.map((i) => i.name);
  for (const name of shapes.keys()) {
    if (!names.includes(name)) throw badInput(`--shape names '${name}', but the model's inputs are: ${names.join(', ') || '(none)'}`);
  }
  const symbols = new Set(inputs.flatMap((i) => (i.shape ?? []).filter((d): d is string => typeof d === 'string')));
  for (const name of dims.keys()) {
    if (!symbols.has(name)) {
      throw badInput(`--dim names '${name}', but no input has that symbolic dim; the symbolic dims are: ${[...symbols].join(', ') || '(none)'}`);
    }
  }
  return inputs.map((input) => {
    const given = shapes.get(input.name);
    if (given) {
      if (input.shape && input.shape.length !== given.length) {
        throw badInput(`--shape ${input.name}=${given.join('x')} has rank ${given.length}, but input '${input.name}' has rank ${input.shape.length} [${input.shape.join(',')}]; give ${input.shape.length} dims`);
      }
      input.shape?.forEach((d, i) => {
        if (typeof d === 'number' && d !== given[i]) {
          throw badInput(`--shape ${input.name}=${given.join('x')}: dim ${i} of input '${input.name}' is fixed at ${d} in the model; use ${d} there`);
        }
      });
      return { name: input.name, elemType: input.elemType, shape: [...given] };
    }
    if (!input.shape) throw badInput(`input '${input.name}' has no shape in the model; pass --shape ${input.name}=D1xD2x...`);
    const shape = input.shape.map((d) => {
      if (typeof d === 'number') return d;
      const n = dims.get(d);
      if (n === undefined) throw badInput(`input '${input.name}' has symbolic dim '${d}'; pass --dim ${d}=N (or --shape ${input.name}=...)`);
      return n;
    });
    return { name: input.name, elemType: input.elemType, shape };
  });
}

/**
 * A copy of `model` whose graph inputs have the concrete shapes `resolveInputs` gives. The caller's
 * model is not touched; the copy shares everything but the graph's input list (nodes, initializers).
 */
export function fixDims(model: ModelProto, fixes: DimFixes = {}): ModelProto {
  const concrete = new Map(resolveInputs(model, fixes).map((c) => [c.name, c]));
  const g = model.graph!;
  const input: ValueInfoProto[] = g.input.map((vi) => {
    const c = concrete.get(vi.name ?? '');
    if (!c) return vi;
    return {
      ...vi,
      type: { ...vi.type, tensorType: { ...vi.type!.tensorType, elemType: c.elemType, shape: { dim: c.shape.map((n) => ({ dimValue: n })) } } },
    };
  });
  return { ...model, graph: { ...g, input } };
}

/**
 * Seeded random feeds: floats uniform in [-1, 1), integers in [0, intHigh) (default 2, so index inputs
 * such as token ids stay in range of any embedding), booleans fair coin flips.
 */
export function randomFeeds(inputs: readonly ConcreteInput[], seed = 0, intHigh = 2): Record<string, ort.Tensor> {
  const rand = mulberry32(seed);
  const feeds: Record<string, ort.Tensor> = {};
  for (const input of inputs) feeds[input.name] = randomTensor(input, rand, intHigh);
  return feeds;
}

function randomTensor(input: ConcreteInput, rand: () => number, intHigh: number): ort.Tensor {
  const n = numElements(input.shape);
  const type = dtypeInfo(input.elemType)?.ort;
  const int = () => Math.floor(rand() * intHigh);
  const float = () => rand() * 2 - 1;
  switch (input.elemType) {
    case DataType.FLOAT: return new ort.Tensor('float32', Float32Array.from({ length: n }, float), input.shape);
    case DataType.DOUBLE: return new ort.Tensor('float64', Float64Array.from({ length: n }, float), input.shape);
    case DataType.FLOAT16: return new ort.Tensor('float16', Uint16Array.from({ length: n }, () => halfBits(float())), input.shape);
    case DataType.INT64: return new ort.Tensor('int64', BigInt64Array.from({ length: n }, () => BigInt(int())), input.shape);
    case DataType.UINT64: return new ort.Tensor('uint64', BigUint64Array.from({ length: n }, () => BigInt(int())), input.shape);
    case DataType.INT32: return new ort.Tensor('int32', Int32Array.from({ length: n }, int), input.shape);
    case DataType.UINT32: return new ort.Tensor('uint32', Uint32Array.from({ length: n }, int), input.shape);
    case DataType.INT16: return new ort.Tensor('int16', Int16Array.from({ length: n }, int), input.shape);
    case DataType.UINT16: return new ort.Tensor('uint16', Uint16Array.from({ length: n }, int), input.shape);
    case DataType.INT8: return new ort.Tensor('int8', Int8Array.from({ length: n }, int), input.shape);
    case DataType.UINT8: return new ort.Tensor('uint8', Uint8Array.from({ length: n }, int), input.shape);
    case DataType.BOOL: return new ort.Tensor('bool', Uint8Array.from({ length: n }, () => (rand() < 0.5 ? 1 : 0)), input.shape);
    default:
      throw badInput(`input '${input.name}' has element type ${dtypeName(input.elemType)}${type ? '' : ' (no onnxruntime-node tensor type)'}, which Hone cannot make random data for; profile a model with numeric inputs`);
  }
}

function toMap<V>(m: ReadonlyMap<string, V> | Record<string, V> | undefined): Map<string, V> {
  if (m === undefined) return new Map();
  return m instanceof Map ? new Map(m) : new Map(Object.entries(m as Record<string, V>));
}

/** IEEE half-precision bits of a float in [-1, 1] (round to nearest; no inf/NaN needed here). */
function halfBits(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0]!;
  const sign = (u >>> 16) & 0x8000;
  const exp = ((u >>> 23) & 0xff) - 127 + 15;
  if (exp <= 0) return sign;
  return sign | (exp << 10) | ((u >>> 13) & 0x3ff);
}
