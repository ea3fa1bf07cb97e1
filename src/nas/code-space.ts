/**
 * Search spaces in code: an ES module of the user's (.mjs, or .js in an ESM package) declares the
 * architecture options and a function from one architecture's options to its ONNX model.
 *
 *   // space.mjs — hone nas --space space.mjs --data mnist -o out
 *   export const space = {
 *     hidden: ['64', '128-64', '256-128'],         // a list: categorical choices
 *     act: ['relu', 'gelu'],
 *   };
 *   export const reference = { hidden: '128-64', act: 'relu' };   // optional: trained first, compared with
 *   export function model(o, { zoo }) {           // any ModelProto: Hone's zoo, GraphBuilder, a loaded file
 *     return zoo(`mlp:hidden=${o.hidden},activation=${o.act}`);
 *   }
 *
 * An option is a list of choices or one of the tuner's distributions (`{ type: 'int', low: 1, high: 4 }`,
 * `{ type: 'float', … }`), so every sampler searches it as it searches a YAML space. The second argument of
 * `model` holds Hone's builders (zoo, GraphBuilder, DataType), so the module needs no import of its own.
 *
 * An architecture is named `code:PATH:k=v,…`, as zoo architectures are `zoo:NAME:k=v,…`: a study's trials,
 * front.json and the latency model identify both the same way. The module is imported once per process
 * (in each --workers process too); an architecture's model is built from its name while it is loaded.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { badInput, errorMessage } from '../errors.js';
import { GraphBuilder } from '../ir/builder.js';
import { DataType } from '../ir/dtype.js';
import type { ModelProto } from '../ir/proto.js';
import { validateDistribution } from '../tune/distributions.js';
import type { Distribution, ParamValue } from '../tune/types.js';
import { zooModel, zooSpec } from '../zoo/index.js';

export const CODE_PREFIX = 'code:';

/** What `model(options, builders)` receives besides the options. */
export const CODE_SPACE_BUILDERS = { zoo: zooModel, GraphBuilder, DataType };

export interface CodeSpace {
  /** The module's absolute path. */
  path: string;
  space: Record<string, Distribution>;
  /** The options trained first as the space's reference, when the module exports `reference`. */
  reference?: Record<string, ParamValue>;
  build(options: Record<string, ParamValue>): ModelProto;
}

const loaded = new Map<string, CodeSpace>();

/** Whether `--space` names a module (rather than a built-in space or a YAML file). */
export function isCodeSpaceFile(path: string): boolean {
  return /\.(mjs|js)$/i.test(path);
}

/** Imports and checks a space module (once per process); every problem is a one-line bad-input error. */
export async function loadCodeSpace(path: string): Promise<CodeSpace> {
  const abs = resolve(path);
  const cached = loaded.get(abs);
  if (cached) return cached;
  const where = `space module ${path}`;
  if (!existsSync(abs)) throw badInput(`${where} does not exist`);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(abs).href)) as Record<string, unknown>;
  } catch (e) {
    throw badInput(`${where} could not be imported: ${errorMessage(e).split('\n')[0]}`, e);
  }
  const build = mod.model;
  if (typeof build !== 'function')
    throw badInput(`${where} must export function model(options, { zoo, GraphBuilder }) returning an ONNX model`);
  const raw = mod.space;
  if (!raw || typeof raw !== 'object' || Array.isArray(raw))
    throw badInput(`${where} must export space = { OPTION: [choices…] or { type: 'int', low, high }, … }`);
  const space: Record<string, Distribution> = {};
  for (const [name, v] of Object.entries(raw as Record<string, unknown>)) {
    if (!/^[A-Za-z_][\w-]*$/.test(name))
      throw badInput(`${where}: option name '${name}' must be letters, digits, '_' or '-' (it becomes model.${name})`);
    const o = v as Record<string, unknown> | null;
    if (!Array.isArray(v) && !(o && typeof o === 'object' && ['categorical', 'int', 'float'].includes(o.type as string)))
      throw badInput(`${where}: option ${name} must be a list of choices or { type: 'int' | 'float' | 'categorical', … }`);
    // A range as users write it in JavaScript: int steps of 1 and a linear scale unless they say otherwise.
    const d = (
      Array.isArray(v) ? { type: 'categorical', choices: v } : { log: false, ...(o!.type === 'int' ? { step: 1 } : {}), ...o }
    ) as Distribution;
    try {
      space[name] = validateDistribution(name, d);
    } catch (e) {
      throw badInput(`${where}: option ${name}: ${errorMessage(e)}`, e);
    }
    if (d.type === 'categorical')
      for (const c of d.choices)
        if (typeof c === 'string' && /[,=:]/.test(c))
          throw badInput(`${where}: option ${name}'s choice '${c}' holds ',', '=' or ':', which architecture names use`);
  }
  if (!Object.keys(space).length) throw badInput(`${where} exports an empty space; give at least one option to search`);
  const reference = checkReference(mod.reference, space, where);
  const cs: CodeSpace = {
    path: abs,
    space,
    ...(reference ? { reference } : {}),
    build(options) {
      let m: unknown;
      try {
        m = (build as (o: Record<string, ParamValue>, b: typeof CODE_SPACE_BUILDERS) => unknown)({ ...options }, CODE_SPACE_BUILDERS);
      } catch (e) {
        throw new Error(`model(${JSON.stringify(options)}) in ${path} threw: ${errorMessage(e)}`);
      }
      if (!m || typeof m !== 'object' || !(m as ModelProto).graph)
        throw new Error(`model(${JSON.stringify(options)}) in ${path} did not return an ONNX model (a ModelProto with a graph)`);
      return m as ModelProto;
    },
  };
  loaded.set(abs, cs);
  return cs;
}

function checkReference(v: unknown, space: Record<string, Distribution>, where: string): Record<string, ParamValue> | undefined {
  if (v === undefined) return undefined;
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw badInput(`${where}: reference must be { OPTION: value, … } for every option`);
  const ref = v as Record<string, ParamValue>;
  for (const [name, d] of Object.entries(space)) {
    const value = ref[name];
    const ok =
      d.type === 'categorical' ? d.choices.some((c) => c === value) : typeof value === 'number' && value >= d.low && value <= d.high;
    if (!ok) throw badInput(`${where}: reference.${name} is ${JSON.stringify(value)}, not in the space's ${name}`);
  }
  for (const name of Object.keys(ref)) if (!(name in space)) throw badInput(`${where}: reference.${name} is not an option of the space`);
  return ref;
}

/**
 * An architecture's name from the searched model and its options: `zoo:NAME:k=v,…` for a zoo model,
 * `code:PATH:k=v,…` for a space module's.
 */
export function architectureName(model: string, options: readonly (readonly [string, unknown])[]): string {
  if (!model.startsWith(CODE_PREFIX)) return zooSpec(model, options);
  return options.length ? `${model}:${options.map(([k, v]) => `${k}=${String(v)}`).join(',')}` : model;
}

/**
 * The module and options an architecture's name stands for; undefined when it is not a code architecture
 * or its module is not loaded in this process (values are matched to the space: '64' stays a string
 * where the choices are strings).
 */
export function codeArchitecture(spec: string): { space: CodeSpace; options: Record<string, ParamValue> } | undefined {
  const m = /^code:(.+?\.(?:mjs|js))(?::(.*))?$/i.exec(spec);
  if (!m) return undefined;
  const space = loaded.get(m[1]!);
  if (!space) return undefined;
  const options: Record<string, ParamValue> = {};
  for (const part of m[2] ? m[2].split(',') : []) {
    const eq = part.indexOf('=');
    const [k, text] = [part.slice(0, eq), part.slice(eq + 1)];
    const d = space.space[k];
    if (!d) return undefined;
    options[k] = d.type === 'categorical' ? (d.choices.find((c) => String(c) === text) ?? text) : Number(text);
  }
  return { space, options };
}

/** The model of a code architecture whose module is loaded; undefined otherwise. */
export function buildCodeArchitecture(spec: string): ModelProto | undefined {
  const a = codeArchitecture(spec);
  return a ? a.space.build(a.options) : undefined;
}
