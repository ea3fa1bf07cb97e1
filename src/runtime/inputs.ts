/**
 * A model's inputs, fixing their symbolic dims, and their feeds. The Node binding ignores
 * `freeDimensionOverrides`, so dims are fixed by editing the graph: the input ValueInfos of a copy get
 * numbers in place of symbols before the session is created (loadable.ts says what happens when ORT
 * refuses the copy). Feeds are seeded random data, except for inputs given a value (values.ts). Also the
 * `--shape`/`--dim` flag syntax, and the one rule for who sets the batch size.
 */
import { mulberry32 } from '../util/random.js';
import * as ort from 'onnxruntime-node';
import type { ModelProto, TensorShapeProto, ValueInfoProto } from '../ir/proto.js';
import { DataType, dtypeInfo, dtypeName } from '../ir/dtype.js';
import { numElements } from '../ir/tensor.js';
import { badInput } from '../errors.js';
import { halfBits } from '../ir/half.js';
import { valueFits, valueTensor, type InputValue } from './values.js';

export type { InputValue } from './values.js';

export type Dim = number | string;

/** A graph input (initializers excluded); `shape` undefined when the model gives no shape. */
export interface InputInfo {
  name: string;
  elemType: number;
  /** Dims the model leaves unnamed (neither a size nor a name) are called `<input>_dim<i>`, see `unnamedDim`. */
  shape?: Dim[];
}

/** An input with every dim known. */
export interface ConcreteInput {
  name: string;
  elemType: number;
  shape: number[];
}

type Named<V> = ReadonlyMap<string, V> | Record<string, V>;

export interface DimFixes {
  /** Symbolic dim name → size, e.g. {batch: 8} (from `--dim batch=8`). */
  dims?: Named<number>;
  /** Input name → full shape, e.g. {x: [1,3,640,640]} (from `--shape x=1x3x640x640`). Wins over `dims`. */
  shapes?: Named<readonly number[]>;
  /** Input name → a value fed instead of random data (`--input sr=16000`); it sizes the dims it fills. */
  values?: Named<InputValue>;
}

/** The graph's real inputs: graph.input minus those that are initializers (old-style models list both). */
export function graphInputs(model: ModelProto): InputInfo[] {
  const g = model.graph;
  if (!g) return [];
  const inits = new Set(g.initializer.map((t) => t.name));
  return g.input
    .filter((vi) => !inits.has(vi.name))
    .map((vi) => {
      const tt = vi.type?.tensorType;
      if (!tt)
        throw badInput(
          `input '${vi.name}' is not a tensor (sequence, map or optional inputs are not supported); profile a model with tensor inputs`,
        );
      return {
        name: vi.name ?? '',
        elemType: tt.elemType ?? 0,
        shape: tt.shape?.dim.map((d, i) => d.dimValue ?? (d.dimParam || unnamedDim(vi.name ?? '', i))),
      };
    });
}

/**
 * The name Hone gives a dim the model leaves unnamed, so that `--dim` can size it: `input_dim1` is dim 1
 * of input 'input'. Stable: it depends only on the input's name and the dim's position.
 */
export function unnamedDim(input: string, index: number): string {
  return `${input}_dim${index}`;
}

/** Parses `--shape` values: `NAME=1x3x640x640` (commas also accepted between dims). */
export function parseShapeFlags(values: readonly string[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const v of values) {
    const m = /^([^=]+)=(\d+(?:[x,]\d+)*)$/.exec(v.trim());
    if (!m) throw badInput(`--shape '${v}' is not NAME=DIMS; write it like --shape input=1x3x224x224`);
    once(out, m[1]!, '--shape');
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
    once(out, m[1]!, '--dim');
    out.set(m[1]!, Number(m[2]));
  }
  return out;
}

/**
 * Every input's concrete shape under `fixes`. Errors name the input and the flag that fixes it: an unknown
 * input in `shapes` or `values`, a dim name no input has, a rank or fixed-size mismatch, a value that
 * disagrees with a shape or a dim, and every symbolic dim still without a size (all of them, in one line).
 */
export function resolveInputs(model: ModelProto, fixes: DimFixes = {}): ConcreteInput[] {
  const inputs = graphInputs(model);
  const shapes = partialShapes(inputs, fixes);
  const missing = new Map<string, { input: string; index: number; unnamed: boolean }>();
  for (const input of inputs) {
    const shape = shapes.get(input.name);
    if (!shape) throw badInput(`input '${input.name}' has no shape in the model; pass --shape ${input.name}=D1xD2x...`);
    shape.forEach((d, index) => {
      if (typeof d === 'string' && !missing.has(d))
        missing.set(d, { input: input.name, index, unnamed: d === unnamedDim(input.name, index) });
    });
  }
  const where = (m: { input: string; index: number; unnamed: boolean }) =>
    `input '${m.input}' dim ${m.index}${m.unnamed ? ', unnamed in the model' : ''}`;
  if (missing.size === 1) {
    const [[d, m]] = [...missing];
    throw badInput(
      `input '${m.input}' has symbolic dim '${d}'${m.unnamed ? ` (dim ${m.index}, unnamed in the model)` : ''}; pass --dim ${d}=N (or --shape ${m.input}=...)`,
    );
  }
  if (missing.size > 1) {
    const list = [...missing].map(([d, m]) => `'${d}' (${where(m)})`).join(', ');
    throw badInput(
      `the inputs have symbolic dims without a size: ${list}; pass ${[...missing.keys()].map((d) => `--dim ${d}=N`).join(' ')} (or --shape INPUT=...)`,
    );
  }
  return inputs.map((input) => ({ name: input.name, elemType: input.elemType, shape: shapes.get(input.name) as number[] }));
}

/** Checks every fix against the model (names, ranks, fixed dims, values against shapes and dims). */
export function checkFixes(model: ModelProto, fixes: DimFixes): void {
  partialShapes(graphInputs(model), fixes);
}

export interface FixOptions {
  /** Leave dims no fix sizes symbolic instead of failing (the trainer sizes the batch itself). */
  partial?: boolean;
  /** Keep every input's leading dim as the model declares it (the trainer feeds batches of its own size). */
  keepLeading?: boolean;
}

/**
 * A copy of `model` whose graph inputs have the concrete shapes `resolveInputs` gives. The caller's
 * model is not touched; the copy shares everything but the graph's input list (nodes, initializers).
 */
export function fixDims(model: ModelProto, fixes: DimFixes = {}, opts: FixOptions = {}): ModelProto {
  const shapes = opts.partial
    ? partialShapes(graphInputs(model), fixes)
    : new Map(resolveInputs(model, fixes).map((c) => [c.name, c.shape as Dim[]]));
  const g = model.graph!;
  const input: ValueInfoProto[] = g.input.map((vi) => {
    const shape = shapes.get(vi.name ?? '');
    if (!shape) return vi;
    const old = vi.type!.tensorType!.shape?.dim;
    const dim: TensorShapeProto['dim'] = shape.map((d, i) =>
      (typeof d === 'string' || (i === 0 && opts.keepLeading)) && old?.[i] ? old[i]! : { dimValue: d as number },
    );
    return { ...vi, type: { ...vi.type, tensorType: { ...vi.type!.tensorType, shape: { dim } } } };
  });
  return { ...model, graph: { ...g, input } };
}

/** Batch sizes a command times when nothing sets them and the model's batch dim is symbolic. */
export const DEFAULT_BATCH_SIZES: readonly number[] = [1, 8];

/** The batch dim: dim 0 of the first input that has dims, and the size a fix gives it, with that fix's flag. */
export interface BatchDim {
  input: string;
  dim: Dim;
  given?: { size: number; flag: string };
}

export function batchDim(model: ModelProto, fixes: DimFixes = {}): BatchDim | undefined {
  const shapes = toMap(fixes.shapes);
  const values = toMap(fixes.values);
  const lead = graphInputs(model).find(
    (i) => (i.shape?.length ?? 0) > 0 || shapes.has(i.name) || (values.get(i.name)?.dims.length ?? 0) > 0,
  );
  if (!lead) return undefined;
  const given = shapes.get(lead.name);
  const value = values.get(lead.name);
  const d0 = lead.shape?.[0] ?? given?.[0] ?? value!.dims[0]!;
  if (given) return { input: lead.name, dim: d0, given: { size: given[0]!, flag: `--shape ${lead.name}=${given.join('x')}` } };
  if (value && value.dims.length === (lead.shape?.length ?? value.dims.length))
    return { input: lead.name, dim: d0, given: { size: value.dims[0]!, flag: `--input ${value.text}` } };
  const n = typeof d0 === 'string' ? toMap(fixes.dims).get(d0) : undefined;
  return { input: lead.name, dim: d0, given: n === undefined ? undefined : { size: n, flag: `--dim ${d0}=${n}` } };
}

/**
 * The one rule for who sets the batch size: `--batch-sizes` (`requested`), or a fix of the batch dim
 * (`--dim batch=4`, `--shape`'s leading dim, a full-rank `--input`). Either alone decides; both with
 * different sizes are an error that names both flags. Returns undefined when neither is given.
 */
export function resolveBatchSizes(
  model: ModelProto,
  fixes: DimFixes,
  requested: readonly number[] | undefined,
  flag = '--batch-sizes',
): number[] | undefined {
  const given = batchDim(model, fixes)?.given;
  if (!given) return requested ? [...requested] : undefined;
  if (!requested || (requested.length === 1 && requested[0] === given.size)) return [given.size];
  throw badInput(
    `${given.flag} sets the batch size to ${given.size}, ${flag} to ${requested.join(',')}; drop one of them, or make them agree`,
  );
}

/**
 * Feeds for `inputs`: the given value where `values` has one (converted to the input's type, repeated over
 * the leading dims it leaves out), else seeded random data: floats uniform in [-1, 1), integers in
 * [0, intHigh) (default 2, so index inputs such as token ids stay in range of any embedding), booleans
 * fair coin flips.
 */
export function randomFeeds(
  inputs: readonly ConcreteInput[],
  seed = 0,
  intHigh = 2,
  values?: Named<InputValue>,
): Record<string, ort.Tensor> {
  const rand = mulberry32(seed);
  const given = toMap(values);
  const feeds: Record<string, ort.Tensor> = {};
  for (const input of inputs) {
    const value = given.get(input.name);
    feeds[input.name] = value ? valueTensor(input, input.shape, value) : randomTensor(input, rand, intHigh);
  }
  return feeds;
}

/**
 * What to try when a run on random feeds fails: inputs that are not float data (a sample rate, token ids,
 * a flag, any scalar) often need a real value. Undefined when every such input has one.
 */
export function randomFeedsHint(inputs: readonly ConcreteInput[], values?: Named<InputValue>): string | undefined {
  const given = toMap(values);
  const suspects = inputs.filter((i) => !given.has(i.name) && (i.shape.length === 0 || !FLOATS.has(i.elemType)));
  if (!suspects.length) return undefined;
  return `${suspects.map((i) => `'${i.name}'`).join(', ')} got random data; if ${suspects.length === 1 ? 'it needs' : 'one needs'} a real value, pass --input ${suspects[0]!.name}=VALUE`;
}

const FLOATS = new Set<number>([DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16, DataType.BFLOAT16]);

/**
 * Sizes of symbolic dims that `--shape` fixes imply (`--shape ids=2x16` on ids [batch, seq] gives
 * {batch: 2, seq: 16}), so a value given for another input over the same dims (`--input mask=1`) is sized.
 */
export function shapeSymbols(model: ModelProto, shapes: Named<readonly number[]> | undefined): Record<string, number> {
  const given = toMap(shapes);
  const out: Record<string, number> = {};
  for (const input of graphInputs(model)) {
    const s = given.get(input.name);
    if (s)
      input.shape?.forEach((d, i) => {
        if (typeof d === 'string' && s[i] !== undefined) out[d] = s[i]!;
      });
  }
  return out;
}

/**
 * The full shape of `input` when fed `value`: the value's dims last, the input's own dims before them,
 * symbolic ones sized by `dims` (the batch, `--dim`). Errors name a dim nothing sizes.
 */
export function valueShape(input: InputInfo, value: InputValue, dims: ReadonlyMap<string, number>): number[] {
  if (!input.shape) return [...value.dims];
  valueSymbols(input, value);
  const lead = input.shape.slice(0, input.shape.length - value.dims.length).map((d, i) => {
    if (typeof d === 'number') return d;
    const n = dims.get(d);
    if (n === undefined)
      throw badInput(
        `--input ${value.text} leaves dim ${i} of input '${input.name}' ('${d}') without a size; pass --dim ${d}=N or give the value's full shape in a .npy file`,
      );
    return n;
  });
  return [...lead, ...value.dims];
}

/**
 * Every input's shape as far as `fixes` size it (symbols left where nothing does; undefined for an input
 * with no shape and no fix). Checks every fix against the model and the other fixes first.
 */
function partialShapes(inputs: readonly InputInfo[], fixes: DimFixes): Map<string, Dim[] | undefined> {
  const dims = toMap(fixes.dims);
  const shapes = toMap(fixes.shapes);
  const values = toMap(fixes.values);
  const names = inputs.map((i) => i.name);
  for (const [flag, m] of [
    ['--shape', shapes],
    ['--input', values],
  ] as const) {
    for (const name of m.keys()) {
      if (!names.includes(name)) throw badInput(`${flag} names '${name}', but the model's inputs are: ${names.join(', ') || '(none)'}`);
    }
  }
  const symbols = new Map<string, string>();
  for (const i of inputs)
    i.shape?.forEach((d, k) => {
      if (typeof d === 'string' && !symbols.has(d))
        symbols.set(d, d === unnamedDim(i.name, k) ? `${d} (unnamed dim ${k} of '${i.name}')` : d);
    });
  for (const name of dims.keys()) {
    if (!symbols.has(name)) {
      throw badInput(
        `--dim names '${name}', but no input has that symbolic dim; the symbolic dims are: ${[...symbols.values()].join(', ') || '(none)'}`,
      );
    }
  }
  // Sizes of symbols, with the flag that set each: --dim first, then the dims each value fills.
  const sizes = new Map([...dims].map(([d, n]) => [d, { n, flag: `--dim ${d}=${n}` }]));
  for (const input of inputs) {
    const value = values.get(input.name);
    if (!value || !input.shape || shapes.has(input.name)) continue;
    for (const [d, v] of valueSymbols(input, value)) {
      const set = sizes.get(d);
      if (set && set.n !== v)
        throw badInput(`--input ${value.text} makes '${d}' ${v}, but ${set.flag} makes it ${set.n}; drop one or make them agree`);
      sizes.set(d, { n: v, flag: `--input ${value.text}` });
    }
  }
  return new Map(
    inputs.map((input) => {
      const given = shapes.get(input.name);
      const value = values.get(input.name);
      if (given) {
        if (input.shape && input.shape.length !== given.length) {
          throw badInput(
            `--shape ${input.name}=${given.join('x')} has rank ${given.length}, but input '${input.name}' has rank ${input.shape.length} [${input.shape.join(',')}]; give ${input.shape.length} dims`,
          );
        }
        input.shape?.forEach((d, i) => {
          if (typeof d === 'number' && d !== given[i]) {
            throw badInput(
              `--shape ${input.name}=${given.join('x')}: dim ${i} of input '${input.name}' is fixed at ${d} in the model; use ${d} there`,
            );
          }
        });
        if (value && !valueFits(value.dims, given)) {
          throw badInput(
            `--shape ${input.name}=${given.join('x')} and --input ${value.text} (shape [${value.dims.join(',')}]) disagree; the value must fill the shape's last dims: drop one or make them agree`,
          );
        }
        return [input.name, [...given]];
      }
      if (!input.shape) return [input.name, value ? [...value.dims] : undefined];
      return [input.name, input.shape.map((d) => (typeof d === 'number' ? d : (sizes.get(d)?.n ?? d)))];
    }),
  );
}

/**
 * The symbols `value` sizes in `input`'s trailing dims, after checking its rank and the model's fixed
 * dims there.
 */
function valueSymbols(input: InputInfo, value: InputValue): [string, number][] {
  const shape = input.shape ?? [];
  const k = shape.length - value.dims.length;
  if (k < 0) {
    throw badInput(
      shape.length === 0
        ? `--input ${value.text} gives ${value.data.length} values, but input '${input.name}' is a scalar; give one number`
        : `--input ${value.text} has rank ${value.dims.length}, but input '${input.name}' has rank ${shape.length} [${shape.join(',')}]; give at most ${shape.length} dims`,
    );
  }
  return value.dims.flatMap((v, j): [string, number][] => {
    const d = shape[k + j]!;
    if (typeof d === 'string') return [[d, v]];
    if (d !== v)
      throw badInput(
        `--input ${value.text}: dim ${k + j} of input '${input.name}' is fixed at ${d} in the model, the value has ${v} there; give a value of shape [${shape.slice(k).join(',')}]`,
      );
    return [];
  });
}

function randomTensor(input: ConcreteInput, rand: () => number, intHigh: number): ort.Tensor {
  const n = numElements(input.shape);
  const type = dtypeInfo(input.elemType)?.ort;
  const int = () => Math.floor(rand() * intHigh);
  const float = () => rand() * 2 - 1;
  switch (input.elemType) {
    case DataType.FLOAT:
      return new ort.Tensor('float32', Float32Array.from({ length: n }, float), input.shape);
    case DataType.DOUBLE:
      return new ort.Tensor('float64', Float64Array.from({ length: n }, float), input.shape);
    case DataType.FLOAT16:
      return new ort.Tensor(
        'float16',
        Uint16Array.from({ length: n }, () => halfBits(float())),
        input.shape,
      );
    case DataType.INT64:
      return new ort.Tensor(
        'int64',
        BigInt64Array.from({ length: n }, () => BigInt(int())),
        input.shape,
      );
    case DataType.UINT64:
      return new ort.Tensor(
        'uint64',
        BigUint64Array.from({ length: n }, () => BigInt(int())),
        input.shape,
      );
    case DataType.INT32:
      return new ort.Tensor('int32', Int32Array.from({ length: n }, int), input.shape);
    case DataType.UINT32:
      return new ort.Tensor('uint32', Uint32Array.from({ length: n }, int), input.shape);
    case DataType.INT16:
      return new ort.Tensor('int16', Int16Array.from({ length: n }, int), input.shape);
    case DataType.UINT16:
      return new ort.Tensor('uint16', Uint16Array.from({ length: n }, int), input.shape);
    case DataType.INT8:
      return new ort.Tensor('int8', Int8Array.from({ length: n }, int), input.shape);
    case DataType.UINT8:
      return new ort.Tensor('uint8', Uint8Array.from({ length: n }, int), input.shape);
    case DataType.BOOL:
      return new ort.Tensor(
        'bool',
        Uint8Array.from({ length: n }, () => (rand() < 0.5 ? 1 : 0)),
        input.shape,
      );
    default:
      throw badInput(
        `input '${input.name}' has element type ${dtypeName(input.elemType)}${type ? '' : ' (no onnxruntime-node tensor type)'}, which Hone cannot make random data for; profile a model with numeric inputs`,
      );
  }
}

function once<V>(m: Map<string, V>, key: string, flag: string): void {
  if (m.has(key)) throw badInput(`${flag} ${key} is given twice; give it once`);
}

function toMap<V>(m: Named<V> | undefined): Map<string, V> {
  if (m === undefined) return new Map();
  return m instanceof Map ? new Map(m) : new Map(Object.entries(m as Record<string, V>));
}
