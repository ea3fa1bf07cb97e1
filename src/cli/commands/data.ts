/**
 * `hone data`: Hone's shard format from the command line — pack any supported data into checksummed
 * shards, inspect a pack, verify every record of one.
 */
import type { Command } from '../command.js';
import { oneOf, parseFlags, progressLines, quietFlag, quietHelp } from '../command.js';
import { badInput } from '../../errors.js';
import { packShards, packSource } from '../../data/pack.js';
import { DATA_FORMATS } from '../../data/read.js';
import { checkPackDir, readManifest, verifyShards, type FieldSpec, type ShardManifest } from '../../data/shards.js';

const HELP = `hone data — Hone's shard format: pack data into checksummed shards, inspect a pack, verify one

Usage:
  hone data pack SRC -o DIR [--shard-size 64MB] [--split train|test] [--force] [--json] [--quiet]
  hone data inspect DIR [--json]
  hone data verify DIR [--json] [--quiet]

pack     reads SRC (${DATA_FORMATS.replace(/ or a Hone pack \(hone data pack\)/, '')})
         and writes it to DIR as shards of records with an index and a CRC32C per record. Arrays keep their
         dtype and shape; an image folder's files are stored encoded (decoded when read for training, so
         the pack is the size of the images) with their class index as 'label'. DIR is written all or
         nothing: an interrupted pack leaves no pack behind
inspect  the pack's schema (fields, dtypes, shapes), records, shards, size, classes and source
verify   reads every record and checks its CRC32C and layout, every shard's header, index and trailer;
         names the shard and record of each problem and exits 2 when there is one

Every command that takes --data (train, quantize --calib, optimize, distill) reads a pack directly.

Options:
  -o, --output DIR         where pack writes (must not exist, or be empty, or hold a pack with --force)
  --shard-size SIZE        bytes of records per shard: 64MB (default), 256MB, 500KB, or a plain number
  --split train|test       the split of the built-in mnist to pack (default train; or say mnist:test)
  --force                  replace the pack in DIR
  --json                   one JSON object on stdout: the manifest (pack, inspect) or {records, bytes,
                           problems} (verify)
${quietHelp(25)}

Examples:
  hone data pack mnist -o mnist-pack
  hone data inspect mnist-pack
  hone data verify mnist-pack
  hone train --model zoo:lenet5 --data mnist-pack --epochs 1 --augment crop:pad=2 -o lenet5.onnx
`;

export const dataCommand: Command = {
  name: 'data',
  summary: "Hone's shard format: pack data into checksummed shards, inspect and verify packs",
  help: HELP,
  async run(argv, io) {
    const { values, positionals } = parseFlags('data', argv, {
      output: { type: 'string', short: 'o' },
      'shard-size': { type: 'string' },
      split: { type: 'string' },
      force: { type: 'boolean' },
      json: { type: 'boolean' },
      ...quietFlag,
    });
    const [action, target, ...extra] = positionals;
    const actions = ['pack', 'inspect', 'verify'] as const;
    if (action === undefined) throw badInput(`data needs an action: ${actions.join(', ')}; see 'hone data --help'`);
    oneOf(action, actions, 'hone data ACTION');
    if (target === undefined)
      throw badInput(
        action === 'pack'
          ? `data pack needs a source: e.g. 'hone data pack mnist -o mnist-pack'`
          : `data ${action} needs a pack folder: 'hone data ${action} DIR'`,
      );
    if (extra.length) throw badInput(`data ${action} takes one ${action === 'pack' ? 'source' : 'folder'}, got also '${extra.join(' ')}'`);
    const progress = progressLines(io, values.quiet);
    if (action !== 'pack') {
      for (const f of ['output', 'shard-size', 'split', 'force'] as const)
        if (values[f] !== undefined) throw badInput(`data ${action} takes no --${f}; it only reads ${target}`);
    }
    if (action === 'inspect') {
      const m = readManifest(target);
      io.stdout(values.json ? `${JSON.stringify(m)}\n` : manifestText(target, m));
      return 0;
    }
    if (action === 'verify') {
      const m = readManifest(target);
      progress?.(`verifying ${m.records} records in ${m.shards.length} shard(s)`);
      const r = verifyShards(target, progress ? (d, t) => progress(`${d}/${t} records`) : undefined);
      if (values.json) io.stdout(`${JSON.stringify(r)}\n`);
      else if (r.problems.length === 0)
        io.stdout(`${target}: ok — ${r.records} records, ${mib(r.bytes)} of records, every CRC32C and shard checked\n`);
      if (r.problems.length === 0) return 0;
      const list = r.problems.slice(0, 5).map((p) => `${p.file}${p.record !== undefined ? ` record ${p.record}` : ''}: ${p.problem}`);
      io.stderr(
        `hone: ${target}: ${r.problems.length} problem(s): ${list.join('; ')}${r.problems.length > 5 ? '; …' : ''}; pack the data again, or train with --skip-corrupt to leave bad records out\n`,
      );
      return 2;
    }
    const output = values.output;
    if (!output) throw badInput(`data pack needs an output folder: add -o DIR`);
    const shardBytes = parseSize(values['shard-size']);
    const split = values.split === undefined ? undefined : oneOf(values.split, ['train', 'test'] as const, '--split');
    if (split && target !== 'mnist') throw badInput(`--split applies to the built-in mnist only; ${target} has no splits`);
    checkPackDir(output, values.force ?? false);
    const src = await packSource(target, { ...(split ? { split } : {}) });
    progress?.(`packing ${src.size} records of ${src.description} into ${output}`);
    const abort = new AbortController();
    const onSignal = () => abort.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    let m: ShardManifest | undefined;
    try {
      m = await packShards(src, output, {
        force: values.force ?? false,
        ...(shardBytes ? { shardBytes } : {}),
        signal: abort.signal,
        ...(progress ? { onProgress: (d: number, t: number) => progress(`${d}/${t} records`) } : {}),
      });
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    if (!m) {
      io.stderr(`hone: interrupted; no pack was written to ${output}\n`);
      return 130;
    }
    io.stdout(values.json ? `${JSON.stringify(m)}\n` : manifestText(output, m));
    return 0;
  },
};

/** "64MB", "500KB", "1GB", "1048576" → bytes. */
function parseSize(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib)?$/i.exec(v.trim());
  const unit = { b: 1, kb: 1e3, kib: 1024, mb: 1e6, mib: 2 ** 20, gb: 1e9, gib: 2 ** 30 }[(m?.[2] ?? 'b').toLowerCase() as 'b'];
  const n = m ? Number(m[1]) * unit : Number.NaN;
  if (!(n >= 1024)) throw badInput(`--shard-size must be a size of at least 1KB such as 64MB or 500KB, got '${v}'`);
  return Math.round(n);
}

const mib = (b: number) => (b >= 2 ** 20 ? `${(b / 2 ** 20).toFixed(1)} MiB` : `${(b / 1024).toFixed(1)} KiB`);

function fieldText(f: FieldSpec): string {
  if (f.kind === 'tensor') return `${f.name.padEnd(12)} tensor ${f.dtype}[${f.shape.map((d) => (d === -1 ? '?' : d)).join(', ')}]`;
  const size = f as FieldSpec & { width?: number; height?: number; channels?: number };
  return `${f.name.padEnd(12)} ${f.kind}${size.width ? ` (encoded, ${size.width}×${size.height}, ${size.channels} channel(s))` : f.kind === 'image' ? ' (encoded, mixed sizes)' : ''}`;
}

function manifestText(dir: string, m: ShardManifest): string {
  const bytes = m.shards.reduce((a, s) => a + s.bytes, 0);
  const lines = [
    `pack      ${dir}`,
    `records   ${m.records} in ${m.shards.length} shard(s), ${mib(bytes)}`,
    `source    ${m.source ?? 'unknown'}`,
    `created   ${m.created}`,
    'fields',
    ...m.schema.fields.map((f) => `  ${fieldText(f)}`),
  ];
  if (m.schema.classes)
    lines.push(
      `classes   ${m.schema.classes.length}: ${m.schema.classes.slice(0, 10).join(', ')}${m.schema.classes.length > 10 ? ', …' : ''}`,
    );
  return `${lines.join('\n')}\n`;
}
