/**
 * The flags every command that runs a model shares (profile, quantize, train, lr-find), declared,
 * documented and parsed once, so they read, default and conflict the same everywhere: the model's inputs
 * (--shape, --dim, --input), the runtime (--threads, --provider), and for commands that time runs
 * (profile, quantize) --batch-sizes/--batch-size, --runs and --warmup.
 */
import { existsSync } from 'node:fs';
import { badInput } from '../errors.js';
import { readNpyFile } from '../data/npz.js';
import { parseDimFlags, parseShapeFlags, type InputValue } from '../runtime/inputs.js';
import { numberFlag } from './command.js';

export const modelInputFlags = {
  shape: { type: 'string', multiple: true },
  dim: { type: 'string', multiple: true },
  input: { type: 'string', multiple: true },
  threads: { type: 'string' },
  provider: { type: 'string' },
} as const;

export const timingFlags = {
  'batch-sizes': { type: 'string' },
  'batch-size': { type: 'string' },
  runs: { type: 'string' },
  warmup: { type: 'string' },
} as const;

const RUNS = 20;
const WARMUP = 3;

/** Help for `modelInputFlags`, the same block in every command's --help. */
export const MODEL_INPUT_HELP = `Model inputs (the same on profile, quantize, train and lr-find):
  --shape NAME=DIMS         an input's whole shape, e.g. --shape images=1x3x640x640 (repeatable)
  --dim SYMBOL=N            size of a symbolic dim, e.g. --dim seq=128 (repeatable); a dim the model leaves
                            unnamed is INPUT_dimI: --dim audio_dim1=16000 sizes dim 1 of input 'audio'
  --input NAME=VALUE        a real value for an input that must not be random (repeatable): a number
                            (sr=16000), a comma list (ids=101,2023,102), true/false, or a .npy file
                            (mask=mask.npy); converted to the input's type, repeated over the leading dims
                            it leaves out, and it sizes the dims it fills
  --threads N               ONNX Runtime intra-op threads (default: ORT's own count of physical cores;
                            training steps: one per core as the OS counts them)
  --provider NAME           execution provider: cpu (default), cuda, tensorrt, webgpu
  The batch size is set once: a batch set by --dim, --shape or --input must agree with the batch-size
  flag, or the command stops and names both.
`;

/** Help for `timingFlags`, the same block in every command that times runs. */
export const TIMING_HELP = `Timing:
  --batch-sizes 1,8         batch sizes to time (default 1,8 when the batch dim is symbolic, else the
                            model's own); --batch-size B is the same as --batch-sizes B
  --runs N                  timed runs per batch size (default ${RUNS})
  --warmup N                untimed runs before them (default ${WARMUP})
`;

export interface ModelInputs {
  dims: Map<string, number>;
  shapes: Map<string, number[]>;
  values: Map<string, InputValue>;
  /** 0: ORT's default, one intra-op thread per physical core. */
  threads: number;
  provider?: string;
}

export interface Timing {
  /** Undefined when not given: each command's default (see TIMING_HELP). */
  batchSizes?: number[];
  runs: number;
  warmup: number;
}

type ModelInputValues = { shape?: string[]; dim?: string[]; input?: string[]; threads?: string; provider?: string };
type TimingValues = { 'batch-sizes'?: string; 'batch-size'?: string; runs?: string; warmup?: string };

export function parseModelInputs(values: ModelInputValues): ModelInputs {
  return {
    dims: parseDimFlags(values.dim ?? []),
    shapes: parseShapeFlags(values.shape ?? []),
    values: parseInputFlags(values.input ?? []),
    threads: numberFlag(values.threads, '--threads', { int: true, min: 1 }) ?? 0,
    provider: values.provider,
  };
}

export function parseTiming(values: TimingValues): Timing {
  if (values['batch-sizes'] !== undefined && values['batch-size'] !== undefined) {
    throw badInput(
      `--batch-sizes ${values['batch-sizes']} and --batch-size ${values['batch-size']} both set the batch sizes; give one of them`,
    );
  }
  const one = numberFlag(values['batch-size'], '--batch-size', { int: true, min: 1 });
  return {
    batchSizes: one !== undefined ? [one] : values['batch-sizes'] === undefined ? undefined : parseBatchSizes(values['batch-sizes']),
    runs: numberFlag(values.runs, '--runs', { int: true, min: 1 }) ?? RUNS,
    warmup: numberFlag(values.warmup, '--warmup', { int: true, min: 0 }) ?? WARMUP,
  };
}

/** Parses `--input` values: `NAME=NUMBER`, `NAME=A,B,C`, `NAME=true|false`, `NAME=FILE.npy`. */
export function parseInputFlags(flags: readonly string[]): Map<string, InputValue> {
  const out = new Map<string, InputValue>();
  for (const flag of flags) {
    const eq = flag.indexOf('=');
    const name = flag.slice(0, eq).trim();
    const text = flag.slice(eq + 1).trim();
    if (eq < 1 || !name || !text)
      throw badInput(
        `--input '${flag}' is not NAME=VALUE; write it like --input sr=16000, --input ids=101,2023,102 or --input mask=mask.npy`,
      );
    if (out.has(name)) throw badInput(`--input ${name} is given twice; give it once`);
    out.set(name, /\.npy$/i.test(text) ? npyValue(flag, text) : listValue(flag, text));
  }
  return out;
}

function npyValue(flag: string, path: string): InputValue {
  if (!existsSync(path)) throw badInput(`--input ${flag}: cannot read ${path} (no such file); give the path of a .npy file`);
  const a = readNpyFile(path);
  return { dims: a.dims, data: a.data instanceof BigInt64Array ? a.data : Float64Array.from(a.data as ArrayLike<number>), text: flag };
}

/** One number is a scalar; a comma list is a vector. Integers past 2^53 keep every digit (int64 ids). */
function listValue(flag: string, text: string): InputValue {
  const parts = text.split(',').map((p) => p.trim());
  const nums = parts.map((p) => (p === 'true' ? 1 : p === 'false' ? 0 : p === '' ? NaN : Number(p)));
  const bad = parts.find((_p, i) => Number.isNaN(nums[i]!));
  if (bad !== undefined)
    throw badInput(
      `--input ${flag}: '${bad}' is not a number; give numbers (sr=16000), a comma list (ids=1,2,3), true/false or a .npy file`,
    );
  const big = parts.every((p) => /^-?\d+$/.test(p)) && nums.some((n) => !Number.isSafeInteger(n));
  const data = big ? BigInt64Array.from(parts, (p) => BigInt(p)) : Float64Array.from(nums);
  return { dims: parts.length === 1 ? [] : [parts.length], data, text: flag };
}

function parseBatchSizes(v: string): number[] {
  const parts = v.split(',').map((s) => s.trim());
  if (parts.some((p) => !/^\d+$/.test(p) || Number(p) < 1)) {
    throw badInput(`--batch-sizes '${v}' is not a comma-separated list of integers >= 1; write it like --batch-sizes 1,8`);
  }
  return parts.map(Number);
}
