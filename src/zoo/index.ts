/**
 * The model zoo: reference networks built in code, deterministic, parameterised for search. A spec names
 * one: `NAME` or `NAME:k=v,k=v` (`mlp:hidden=128-64`, `transformer:layers=2,dModel=128`), as in the CLI's
 * `zoo:NAME…` model argument.
 */
import type { ModelProto } from '../ir/proto.js';
import { badInput } from '../errors.js';
import { describeOptions, parseOptions, type OptionValues, type ZooModelInfo } from './options.js';
import { lenet5, lenet5Info, type Lenet5Options } from './lenet5.js';
import { mlp, mlpInfo, type MlpOptions } from './mlp.js';
import { mobilenet, mobilenetInfo, type MobilenetOptions } from './mobilenet.js';
import { resnet, resnetInfo, type ResnetOptions } from './resnet.js';
import { transformer, transformerInfo, type TransformerOptions } from './transformer.js';

export { mlp, lenet5, resnet, mobilenet, transformer };
export type { MlpOptions, Lenet5Options, ResnetOptions, MobilenetOptions, TransformerOptions };
export type { ZooModelInfo, OptionSpec, OptionKind, OptionValue } from './options.js';
export { ACTIVATIONS, type Activation, ZOO_OPSET, ZOO_IR_VERSION } from './layers.js';

interface Entry {
  info: ZooModelInfo;
  // Values were checked against info.options by parseOptions, so they have the builder's option types.
  build(values: OptionValues): ModelProto;
}

const ENTRIES: readonly Entry[] = [
  { info: mlpInfo, build: (v) => mlp(v as Partial<MlpOptions>) },
  { info: lenet5Info, build: (v) => lenet5(v as Partial<Lenet5Options>) },
  { info: resnetInfo, build: (v) => resnet(v as Partial<ResnetOptions>) },
  { info: mobilenetInfo, build: (v) => mobilenet(v as Partial<MobilenetOptions>) },
  { info: transformerInfo, build: (v) => transformer(v as Partial<TransformerOptions>) },
];

/** Builds the model a spec names. Throws a HoneError naming the models or options available. */
export function zooModel(spec: string): ModelProto {
  const { entry, values } = parseSpec(spec);
  return entry.build(values);
}

/** A zoo spec with `options` added: `zoo:lenet5` + fc=64 → `zoo:lenet5:fc=64` (after any options the base has). */
export function zooSpec(base: string, options: readonly (readonly [string, unknown])[]): string {
  if (options.length === 0) return base;
  const text = options.map(([k, v]) => `${k}=${String(v)}`).join(',');
  return base.slice(4).includes(':') ? `${base},${text}` : `${base}:${text}`;
}

/** The names of the zoo's models, in a stable order. */
export function zooNames(): string[] {
  return ENTRIES.map((e) => e.info.name);
}

/** Name, one-line description, options and an example spec of every model. */
export function zooModels(): readonly ZooModelInfo[] {
  return ENTRIES.map((e) => e.info);
}

/** The zoo's section of a `--help` text: each model, its description and options with defaults. */
export function zooHelp(): string {
  const lines = ['Zoo models (zoo:NAME or zoo:NAME:key=value,key=value; lists join with -):'];
  for (const info of zooModels()) {
    lines.push('', `  ${info.name} — ${info.description}`, `    e.g. zoo:${info.example}`);
    for (const l of describeOptions(info)) lines.push(`    ${l}`);
  }
  return lines.join('\n');
}

function parseSpec(spec: string): { entry: Entry; values: OptionValues } {
  const text = spec.trim().replace(/^zoo:/, '');
  const colon = text.indexOf(':');
  const name = (colon < 0 ? text : text.slice(0, colon)).trim();
  const entry = ENTRIES.find((e) => e.info.name === name.toLowerCase());
  if (!entry) {
    throw badInput(`unknown zoo model '${name}'; available: ${zooNames().join(', ')} (e.g. zoo:${mlpInfo.example})`);
  }
  return { entry, values: parseOptions(entry.info, colon < 0 ? '' : text.slice(colon + 1)) };
}
