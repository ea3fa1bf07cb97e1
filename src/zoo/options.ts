/**
 * Zoo model options: their declared kinds (shown in help texts) and the parsing of `k=v` strings from a
 * spec such as `transformer:layers=2,dModel=128`. Semantic checks across options (dModel divisible by
 * heads…) belong to each model's builder, which runs them for library callers too.
 */
import { badInput } from '../errors.js';

export type OptionValue = number | number[] | string | boolean;
export type OptionValues = Record<string, OptionValue>;

export type OptionKind =
  | 'int' // a positive integer unless `min` says otherwise
  | 'float'
  | 'ints' // positive integers joined by '-': hidden=512-256; empty for none
  | 'enum'
  | 'bool'
  | 'dim'; // a positive integer, or a symbol name for a dimension left free (batch, seq)

export interface OptionSpec {
  name: string;
  kind: OptionKind;
  /** The default as a user would type it, for help texts. */
  default: string;
  help: string;
  values?: readonly string[];
  min?: number;
}

export interface ZooModelInfo {
  name: string;
  /** One line for `--help` texts. */
  description: string;
  options: readonly OptionSpec[];
  /** A spec that shows the options off, e.g. `mlp:hidden=128-64`. */
  example: string;
}

/** Parses `k=v,k=v` against a model's declared options. */
export function parseOptions(info: ZooModelInfo, text: string): OptionValues {
  const values: OptionValues = {};
  if (text.trim() === '') return values;
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw badInput(`zoo:${info.name}: '${part}' is not key=value; write options as zoo:${info.example}`);
    const key = part.slice(0, eq).trim();
    const raw = part.slice(eq + 1).trim();
    const spec = info.options.find((o) => o.name === key) ?? info.options.find((o) => o.name.toLowerCase() === key.toLowerCase());
    if (!spec) throw badInput(`zoo:${info.name} has no option '${key}'; its options are ${info.options.map((o) => o.name).join(', ')}`);
    if (spec.name in values) throw badInput(`zoo:${info.name}: option '${spec.name}' is given twice; keep one`);
    values[spec.name] = parseValue(info.name, spec, raw);
  }
  return values;
}

function parseValue(model: string, spec: OptionSpec, raw: string): OptionValue {
  const fail = (expected: string): never => {
    throw badInput(`zoo:${model}: option ${spec.name} must be ${expected}, got '${raw}'`);
  };
  const min = spec.min ?? 1;
  switch (spec.kind) {
    case 'int': {
      if (!/^-?\d+$/.test(raw) || Number(raw) < min) fail(`an integer >= ${min}`);
      return Number(raw);
    }
    case 'float': {
      const n = Number(raw);
      if (raw === '' || !Number.isFinite(n) || (spec.min !== undefined && n < spec.min))
        fail(spec.min !== undefined ? `a number >= ${spec.min}` : 'a number');
      return n;
    }
    case 'ints': {
      if (raw === '') return [];
      if (!/^\d+(-\d+)*$/.test(raw)) fail(`integers joined by '-' (e.g. ${spec.name}=${spec.default || '128-64'})`);
      const list = raw.split('-').map(Number);
      if (list.some((n) => n < min)) fail(`integers >= ${min}`);
      return list;
    }
    case 'enum': {
      const v = spec.values?.find((x) => x.toLowerCase() === raw.toLowerCase());
      if (v === undefined) fail(`one of ${spec.values?.join(', ')}`);
      return v!;
    }
    case 'bool': {
      if (/^(true|1|yes|on)$/i.test(raw)) return true;
      if (/^(false|0|no|off)$/i.test(raw)) return false;
      return fail('true or false');
    }
    case 'dim': {
      if (/^\d+$/.test(raw) && Number(raw) >= 1) return Number(raw);
      if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(raw)) return raw;
      return fail('a positive integer or a symbol name such as batch');
    }
  }
}

/** One line per option, for help texts: `  hidden   ints   512-256   hidden layer widths`. */
export function describeOptions(info: ZooModelInfo): string[] {
  const kind = (o: OptionSpec) => (o.kind === 'enum' ? o.values!.join('|') : o.kind);
  const w1 = Math.max(...info.options.map((o) => o.name.length));
  const w2 = Math.max(...info.options.map((o) => kind(o).length));
  const w3 = Math.max(...info.options.map((o) => o.default.length));
  return info.options.map((o) => `${o.name.padEnd(w1)}  ${kind(o).padEnd(w2)}  ${o.default.padEnd(w3)}  ${o.help}`);
}

/** Checks a builder's option, for library callers who skip the spec parser. */
export function requireInt(model: string, name: string, value: number, min = 1): void {
  if (!Number.isInteger(value) || value < min) throw badInput(`zoo:${model}: option ${name} must be an integer >= ${min}, got ${value}`);
}

export function requireInts(model: string, name: string, values: readonly number[], min = 1): void {
  for (const v of values) requireInt(model, name, v, min);
}

/** The common options every zoo model takes. */
export const COMMON_OPTIONS: readonly OptionSpec[] = [
  { name: 'batch', kind: 'dim', default: 'batch', help: 'batch dimension: a symbol (left free) or a fixed size' },
  { name: 'seed', kind: 'int', default: '0', min: 0, help: 'seed of the weight initialisation' },
];
