/**
 * `hone zoo`: the built-in models as files, so every command can be tried on a real .onnx without
 * bringing one. `list` shows each model's options, inputs and size; `export` writes one, untrained.
 */
import type { Command } from '../command.js';
import { checkWritable, numberFlag, parseFlags } from '../command.js';
import { badInput } from '../../errors.js';
import { saveModel } from '../../ir/model.js';
import type { ModelProto } from '../../ir/proto.js';
import { dtypeName } from '../../ir/dtype.js';
import { weightStats } from '../../profile/static.js';
import { zooModel, zooModels, type OptionSpec } from '../../zoo/index.js';

const HELP = `hone zoo — the built-in models: list them, or export one as an .onnx file

Usage:
  hone zoo list [--json]
  hone zoo export NAME[:key=value,…] -o FILE.onnx [--seed N]

list    each model with its inputs and outputs (symbolic dims by name), its parameters at the default
        options, and every option with its default and range
export  writes the model with untrained weights drawn from a seeded initializer: the same NAME, options
        and seed give the same file. Every command takes the file (or zoo:NAME directly)

Options:
  -o, --output FILE        where to write the model (export; required; written atomically)
  --seed N                 seed of the weights (default 0; the same as the option seed=N)
  --json                   list: one JSON object {models: [{name, description, example, params, inputs,
                           outputs, options}]}; export: {output, model, params, bytes}

Examples:
  hone zoo list
  hone zoo export lenet5 -o lenet5.onnx
  hone zoo export mlp:hidden=128-64,activation=tanh -o mlp.onnx --seed 7
  hone zoo export transformer:layers=2,dModel=128,heads=2,ffn=512 -o transformer.onnx --json
`;

export const zooCommand: Command = {
  name: 'zoo',
  summary: 'the built-in models: list them with their options, or export one as an .onnx file',
  help: HELP,
  async run(argv, io) {
    const { values, positionals } = parseFlags('zoo', argv, {
      output: { type: 'string', short: 'o' },
      seed: { type: 'string' },
      json: { type: 'boolean' },
    });
    const [action, spec, ...extra] = positionals;
    if (action === 'list') {
      if (spec !== undefined) throw badInput(`zoo list takes no arguments, got '${spec}'; see 'hone zoo --help'`);
      if (values.output || values.seed)
        throw badInput(`zoo list takes no ${values.output ? '-o' : '--seed'}; to write a model use 'hone zoo export NAME -o FILE.onnx'`);
      const models = listing();
      io.stdout(values.json ? `${JSON.stringify({ models })}\n` : listText(models));
      return 0;
    }
    if (action !== 'export') {
      throw badInput(
        `zoo needs an action: list, or export NAME -o FILE.onnx${action === undefined ? '' : ` (got '${action}')`}; see 'hone zoo --help'`,
      );
    }
    if (spec === undefined)
      throw badInput(
        `zoo export needs a model: one of ${zooModels()
          .map((m) => m.name)
          .join(', ')}; e.g. 'hone zoo export lenet5 -o lenet5.onnx'`,
      );
    if (extra.length)
      throw badInput(`zoo export takes one model, got also '${extra.join(' ')}'; options go after a colon: mlp:hidden=128-64`);
    const output = values.output;
    if (!output) throw badInput(`zoo export needs an output path: add -o FILE.onnx`);
    checkWritable(output);
    const seed = numberFlag(values.seed, '--seed', { int: true, min: 0 });
    const name = spec.replace(/^zoo:/, '');
    if (seed !== undefined && /[:,]\s*seed\s*=/i.test(name))
      throw badInput(`the seed is given twice (--seed ${seed} and in '${spec}'); keep one`);
    const full = seed === undefined ? name : `${name}${name.includes(':') ? ',' : ':'}seed=${seed}`;
    const model = zooModel(full);
    const { bytes } = saveModel(model, output);
    const { params } = weightStats(model);
    if (values.json) io.stdout(`${JSON.stringify({ output, model: `zoo:${full}`, params, bytes })}\n`);
    else io.stdout(`wrote zoo:${full} (${params.toLocaleString('en-US')} parameters, untrained) → ${output}\n`);
    return 0;
  },
};

interface Listed {
  name: string;
  description: string;
  example: string;
  /** Parameters at the default options. */
  params: number;
  inputs: { name: string; type: string; shape: (number | string)[] }[];
  outputs: { name: string; type: string; shape: (number | string)[] }[];
  options: { name: string; kind: string; default: string; range: string; help: string }[];
}

/** Every zoo model, built once at its defaults so that the inputs and parameter counts are its own. */
function listing(): Listed[] {
  return zooModels().map((info) => {
    const model = zooModel(info.name);
    return {
      name: info.name,
      description: info.description,
      example: `zoo:${info.example}`,
      params: weightStats(model).params,
      inputs: signature(model, 'input'),
      outputs: signature(model, 'output'),
      options: info.options.map((o) => ({ name: o.name, kind: o.kind, default: o.default, range: range(o), help: o.help })),
    };
  });
}

function signature(model: ModelProto, which: 'input' | 'output'): Listed['inputs'] {
  const inits = new Set(model.graph!.initializer.map((t) => t.name));
  return model
    .graph![which].filter((v) => !inits.has(v.name))
    .map((v) => ({
      name: v.name ?? '',
      type: dtypeName(v.type?.tensorType?.elemType),
      shape: (v.type?.tensorType?.shape?.dim ?? []).map((d) => d.dimValue ?? d.dimParam ?? '?'),
    }));
}

/** The values an option accepts, as the spec parser checks them (src/zoo/options.ts). */
function range(o: OptionSpec): string {
  const min = o.min ?? 1;
  switch (o.kind) {
    case 'int':
      return `integer >= ${min}`;
    case 'float':
      return o.min === undefined ? 'number' : `number >= ${o.min}`;
    case 'ints':
      return `integers >= ${min} joined by '-'`;
    case 'enum':
      return o.values!.join(' | ');
    case 'bool':
      return 'true | false';
    case 'dim':
      return 'integer >= 1, or a symbol (left free)';
  }
}

function listText(models: readonly Listed[]): string {
  const shape = (s: Listed['inputs'][number]) => `${s.name} ${s.type}[${s.shape.join(',')}]`;
  const lines = ['Zoo models: use as zoo:NAME[:key=value,…] in any command, or write one with hone zoo export NAME -o FILE.onnx'];
  for (const m of models) {
    lines.push('', `${m.name} — ${m.description}`);
    lines.push(
      `  parameters ${m.params.toLocaleString('en-US')} (at the defaults)   inputs ${m.inputs.map(shape).join(', ')}   outputs ${m.outputs.map(shape).join(', ')}`,
    );
    lines.push(`  e.g. ${m.example}`);
    const w = (f: (o: Listed['options'][number]) => string) => Math.max(...m.options.map((o) => f(o).length), 7);
    const dflt = (o: Listed['options'][number]) => o.default || "''";
    const [wn, wd, wr] = [w((o) => o.name), w(dflt), w((o) => o.range)];
    lines.push(`  ${'option'.padEnd(wn)}  ${'default'.padEnd(wd)}  range`);
    for (const o of m.options) lines.push(`  ${o.name.padEnd(wn)}  ${dflt(o).padEnd(wd)}  ${o.range.padEnd(wr)}  ${o.help}`);
  }
  return `${lines.join('\n')}\n`;
}
