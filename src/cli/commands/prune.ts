import { badInput } from '../../errors.js';
import { saveModel } from '../../ir/model.js';
import { withSparseInitializers } from '../../ir/sparse.js';
import { compareLatency } from '../../quantize/evaluate.js';
import { resolveInputs } from '../../runtime/inputs.js';
import { batchSymbols, pruneModel, type PruneReport } from '../../prune/prune.js';
import type { Command } from '../command.js';
import { checkWritable, numberFlag, oneOf, parseFlags, progressLines, quietFlag, quietHelp, sameFile } from '../command.js';
import { MODEL_INPUT_HELP } from '../model-flags.js';
import { commonFlags, parseList, parseTrainCommon, parseTrainInputs, resolveData, resolveModel, parseReadFlags } from './train-args.js';

const HELP = `hone prune — remove weights (unstructured) or whole channels (structured), fine-tune, and check

Usage: hone prune MODEL -o OUT.onnx --sparsity S [options]

MODEL is an .onnx file or zoo:NAME. Unstructured pruning zeroes the smallest weights of every Conv, Gemm
and MatMul; tensors that end up mostly zero are stored sparse, so the file shrinks (ORT makes them dense
again on load: the speed is unchanged). Structured pruning removes whole channels — Conv filters, Gemm/MatMul
neurons — and rewrites every layer coupled to them (BatchNorm, the next layer's inputs, residual Adds that must
drop the same channels, Concat, Flatten into Gemm, depthwise Convs): the model gets smaller and faster.
Channels that cannot be removed safely (a graph output, a Reshape that spells out their count) are kept and
listed with the node that holds them. --structured heads removes whole attention heads instead: the Q, K and V
projection columns of each head, the output projection rows that read it, and the head count of the Reshapes
that split and merge heads. The pruned model is loaded in ONNX Runtime and compared with MODEL
before it is written: on the test data (accuracy with labels) or on random inputs.

Options:
  --sparsity S             fraction to remove, in [0, 1): of the weights, or of each group's channels
  --structured channels|heads
                           remove channels, or attention heads, instead of single weights
  --criterion l1|l2|taylor structured: channel (head) importance, the L1 (default) or L2 norm of every weight
                           slice coupled to it (its filters, the next layer's inputs, norm scales; a head's
                           Q/K/V columns and output projection rows),
                           or taylor: (Σ w·∂L/∂w)² over those slices on 16 batches of the data (Molchanov 2019)
  --scope layer|global     layer: every layer (channel group) loses the same fraction; global: the smallest
                           anywhere, scores normalized per layer (default: global unstructured, layer structured)
  --round-to N             structured: keep a multiple of N channels per group (SIMD widths; default 1)
  --exclude A,B            unstructured: weight initializers to leave dense
  --sensitivity            per-layer fractions instead of one: each layer (weight tensor, or channel group)
                           is pruned alone at 10%, 20%, … 90% and measured on the test data (accuracy with
                           labels, else output cosine on random inputs); then, until S is removed, the layer
                           whose next 10% loses least takes it: sensitive layers are pruned least (with
                           --schedule gradual, each layer rises along the cubic to its own fraction)
  --sensitivity-samples N  samples per sensitivity measurement (default 1000)
  --finetune DATA          fine-tune after pruning with the pruned weights held at zero: 'mnist' or an .npz
                           with arrays named after the inputs and 'label' (as hone train)
  --epochs N               fine-tuning epochs (default 1)
  --schedule oneshot|gradual
                           prune at once, then fine-tune (default), or raise the sparsity along Zhu & Gupta's
                           cubic schedule over the first 3/4 of fine-tuning (weights, or whole channels zeroed
                           and ranked again on the live weights, removed at the end), then recover
  --test-data DATA         labelled data to measure accuracy before and after ('mnist' uses its test split;
                           with --finetune mnist the test split is the default)
  --batch-size B, --lr LR, --optimizer NAME, --momentum M, --weight-decay W, --seed S, --limit N
                           fine-tuning settings, as for hone train (default Adam, lr 1e-3, batch 64)
  --latency-batch N        structured: time the input and the pruned model side by side in ONNX Runtime
                           (3 blocks each, alternating, each a fresh worker) at batch N (default 1)
  --runs N, --warmup N     timed and untimed runs per block (default 20 and 3)
  --no-latency             structured: skip the timing
  --json                   one JSON object on stdout: the report
${quietHelp(27)}

${MODEL_INPUT_HELP}
Examples:
  hone prune lenet5.onnx -o lenet5.sparse.onnx --sparsity 0.8 --finetune mnist --epochs 2
  hone prune lenet5.onnx -o lenet5.gradual.onnx --sparsity 0.9 --finetune mnist --epochs 3 --schedule gradual
  hone prune lenet5.onnx -o lenet5.half.onnx --structured channels --sparsity 0.5 --finetune mnist --epochs 2
  hone prune zoo:resnet -o resnet.half.onnx --structured channels --sparsity 0.5
  hone prune lenet5.onnx -o lenet5.sens.onnx --sparsity 0.9 --sensitivity --test-data mnist
  hone prune zoo:mobilenet -o mobilenet.pruned.onnx --structured channels --sparsity 0.3 --round-to 8
  hone prune zoo:transformer -o transformer.heads.onnx --structured heads --sparsity 0.5 --dim seq=128
`;

export const pruneCommand: Command = {
  name: 'prune',
  summary: 'unstructured and structured (channel) pruning with coupled layers rewritten, fine-tuning, checked in ORT',
  help: HELP,
  async run(argv, io) {
    const { values: v, positionals } = parseFlags('prune', argv, {
      ...commonFlags,
      output: { type: 'string', short: 'o' },
      sparsity: { type: 'string' },
      structured: { type: 'string' },
      criterion: { type: 'string' },
      scope: { type: 'string' },
      'round-to': { type: 'string' },
      exclude: { type: 'string' },
      sensitivity: { type: 'boolean' },
      'sensitivity-samples': { type: 'string' },
      finetune: { type: 'string' },
      epochs: { type: 'string' },
      schedule: { type: 'string' },
      'test-data': { type: 'string' },
      lr: { type: 'string' },
      'latency-batch': { type: 'string' },
      runs: { type: 'string' },
      warmup: { type: 'string' },
      'no-latency': { type: 'boolean' },
      ...quietFlag,
    });
    if (v.model !== undefined || v.data !== undefined)
      throw badInput(
        "prune takes the model as its first argument and data as --finetune DATA; e.g. 'hone prune m.onnx -o p.onnx --sparsity 0.5'",
      );
    if (positionals.length !== 1)
      throw badInput(
        `prune needs exactly one MODEL (a .onnx path or zoo:NAME), got ${positionals.length}; e.g. 'hone prune m.onnx -o p.onnx --sparsity 0.5'`,
      );
    const spec = positionals[0]!;
    const output = v.output;
    if (!output) throw badInput('prune needs an output path: add -o OUT.onnx');
    checkWritable(output);
    if (!spec.startsWith('zoo:') && sameFile(output, spec))
      throw badInput(`-o ${output} is the input model itself; write the pruned model to another file so the original is kept`);
    if (v.sparsity === undefined) throw badInput('prune needs --sparsity S, the fraction to remove (e.g. --sparsity 0.5)');
    const sparsity = Number(v.sparsity);
    if (!(sparsity >= 0 && sparsity < 1)) throw badInput(`--sparsity must be a number in [0, 1), got '${v.sparsity}'`);
    const structured = v.structured === undefined ? undefined : oneOf(v.structured, ['channels', 'heads'] as const, '--structured');
    const criterion = v.criterion === undefined ? undefined : oneOf(v.criterion, ['l1', 'l2', 'taylor'] as const, '--criterion');
    if (criterion && !structured)
      throw badInput('--criterion ranks channels; add --structured channels|heads (unstructured pruning ranks weights by magnitude)');
    const scope = v.scope === undefined ? undefined : oneOf(v.scope, ['layer', 'global'] as const, '--scope');
    const roundTo = numberFlag(v['round-to'], '--round-to', { int: true, min: 1 });
    if (roundTo !== undefined && !structured) throw badInput('--round-to counts channels; add --structured channels');
    const exclude = parseList(v.exclude);
    if (exclude && structured) throw badInput('--exclude lists weights for unstructured pruning; drop --structured or --exclude');
    const sensitivitySamples = numberFlag(v['sensitivity-samples'], '--sensitivity-samples', { int: true, min: 1 });
    if (sensitivitySamples !== undefined && !v.sensitivity) throw badInput('--sensitivity-samples sizes --sensitivity; add --sensitivity');
    if (v.sensitivity && scope) throw badInput('--sensitivity chooses a fraction per layer, so --scope does not apply; drop one');
    const schedule = oneOf(v.schedule ?? 'oneshot', ['oneshot', 'gradual'] as const, '--schedule');
    if (schedule === 'gradual' && !v.finetune) throw badInput('--schedule gradual prunes while fine-tuning; add --finetune DATA');
    for (const flag of ['epochs', 'batch-size', 'lr', 'optimizer', 'momentum', 'weight-decay', 'limit'] as const)
      if (v[flag] !== undefined && !v.finetune) throw badInput(`--${flag} sets fine-tuning; add --finetune DATA`);

    const model = resolveModel(spec, 'prune');
    const inputs = parseTrainInputs(v, model);
    const limit = numberFlag(v.limit, '--limit', { int: true, min: 1 });
    const data = v.finetune ? await resolveData(v.finetune, model, limit, 'prune', inputs.values, parseReadFlags(v)) : undefined;
    if (data?.limitNote && !v.quiet) io.stderr(`hone: ${data.limitNote}\n`);
    const test = v['test-data']
      ? await resolveData(v['test-data'], model, undefined, 'prune', inputs.values, parseReadFlags(v))
      : undefined;
    const evalData = test ? (test.test ?? test.train) : data?.test;
    const evalSource = test ? `${v['test-data']}${test.test ? ' (test)' : ''}` : data?.test ? `${v.finetune} (test)` : undefined;
    const epochs = numberFlag(v.epochs, '--epochs', { int: true, min: 1 }) ?? 1;
    const latencyBatch = numberFlag(v['latency-batch'], '--latency-batch', { int: true, min: 1 }) ?? 1;
    if (!structured)
      for (const flag of ['latency-batch', 'runs', 'warmup', 'no-latency'] as const)
        if (v[flag] !== undefined)
          throw badInput(
            `--${flag} times structured pruning (unstructured pruning does not change the speed: ORT makes sparse weights dense); drop it`,
          );
    const onProgress = progressLines(io, v.quiet);
    const { model: pruned, report } = await pruneModel(model, {
      sparsity,
      structured,
      criterion,
      scope,
      roundTo,
      exclude,
      sensitivity: v.sensitivity,
      sensitivitySamples,
      evalData,
      evalSource,
      inputs: { dims: inputs.dims, shapes: inputs.shapes, values: inputs.values },
      onProgress,
      finetune: data
        ? {
            data: data.train,
            epochs,
            gradual: schedule === 'gradual',
            train: {
              batchSize: inputs.batchSize,
              ...parseTrainCommon(v, inputs),
              lr: numberFlag(v.lr, '--lr', { min: 0 }) ?? 1e-3,
              onProgress: onProgress
                ? (p) => {
                    if (p.step === p.steps) onProgress(`epoch ${p.epoch}/${p.epochs}: loss ${p.loss.toFixed(4)}`);
                  }
                : undefined,
            },
          }
        : undefined,
    });
    let latency: { batch: number; beforeMs: number; afterMs: number; speedup: number } | undefined;
    if (structured && !v['no-latency']) {
      onProgress?.(`timing the input and the pruned model at batch ${latencyBatch}`);
      const batchDims = Object.fromEntries(batchSymbols(model).map((d) => [d, latencyBatch]));
      const concrete = resolveInputs(model, { dims: { ...inputs.dims, ...batchDims }, shapes: inputs.shapes, values: inputs.values });
      const lat = await compareLatency(model, pruned, concrete, {
        blocks: 3,
        runs: numberFlag(v.runs, '--runs', { int: true, min: 1 }) ?? 20,
        warmup: numberFlag(v.warmup, '--warmup', { int: true, min: 0 }) ?? 3,
        threads: inputs.threads,
        provider: inputs.provider,
        values: inputs.values,
      });
      latency = { batch: latencyBatch, beforeMs: lat.floatMs, afterMs: lat.quantizedMs, speedup: lat.floatMs / lat.quantizedMs };
    }
    const stored = structured ? { model: pruned, sparse: [] } : withSparseInitializers(pruned, report.weights ?? []);
    const { bytes } = saveModel(stored.model, output);
    const summary = { output, bytes, sparseTensors: stored.sparse.length, ...report, ...(latency ? { latency } : {}) };
    io.stdout(v.json ? `${JSON.stringify(summary)}\n` : pruneText(summary));
    return 0;
  },
};

function pruneText(
  r: PruneReport & {
    output: string;
    bytes: number;
    sparseTensors: number;
    latency?: { batch: number; beforeMs: number; afterMs: number; speedup: number };
  },
): string {
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const num = (x: number) => x.toLocaleString('en-US');
  const heads = r.method.startsWith('heads');
  const lines = [
    `pruned (${r.method}): ${pct(r.achieved)} of the ${r.groups ? (heads ? 'prunable heads' : 'prunable channels') : 'prunable weights'} removed (asked ${pct(r.sparsity)})`,
    `  parameters  ${num(r.params.before)} → ${num(r.params.after)} (${num(r.params.nonZeroAfter)} non-zero)`,
    `  MACs/sample ${num(r.macs.before)} → ${num(r.macs.after)} (${(r.macs.before / Math.max(1, r.macs.after)).toFixed(2)}x fewer)`,
  ];
  if (r.sparseTensors) lines.push(`  stored sparse: ${r.sparseTensors} weight tensor(s)`);
  if (r.latency)
    lines.push(
      `  latency     ${r.latency.beforeMs.toFixed(3)} → ${r.latency.afterMs.toFixed(3)} ms at batch ${r.latency.batch} (${r.latency.speedup.toFixed(2)}x faster; ONNX Runtime, side by side)`,
    );
  if (r.groups) {
    const cut = r.groups.filter((g) => g.kept < g.channels);
    lines.push(`  ${heads ? 'attention blocks' : 'channel groups'} pruned: ${cut.length} of ${r.groups.length + (r.skipped?.length ?? 0)}`);
    for (const g of cut.slice(0, 12))
      lines.push(`    ${g.producers.slice(0, 3).join(', ')}${g.producers.length > 3 ? ', …' : ''}: ${g.channels} → ${g.kept}`);
    if (cut.length > 12) lines.push(`    … and ${cut.length - 12} more (--json lists all)`);
  }
  if (r.skipped?.length) {
    lines.push(`  kept whole (${r.skipped.length} group(s)):`);
    for (const s of r.skipped.slice(0, 6))
      lines.push(`    ${s.producers.slice(0, 2).join(', ')} (${s.channels} ${heads ? 'heads' : 'channels'}): ${s.reason}`);
    if (r.skipped.length > 6) lines.push(`    … and ${r.skipped.length - 6} more (--json lists all)`);
  }
  if (r.sensitivity) {
    const metric = r.sensitivity[0]?.points[0]?.accuracy !== undefined ? 'accuracy' : 'output cosine';
    lines.push(`  sensitivity (${metric} with one layer pruned at 10% … 90%), ratio chosen:`);
    for (const c of r.sensitivity.slice(0, 12)) {
      const curve = c.points.map((p) => (p.accuracy ?? p.cosine).toFixed(3)).join(' ');
      lines.push(`    ${c.name.length > 40 ? `${c.name.slice(0, 39)}…` : c.name.padEnd(40)} ${pct(c.chosen).padStart(6)}  ${curve}`);
    }
    if (r.sensitivity.length > 12) lines.push(`    … and ${r.sensitivity.length - 12} more (--json lists all)`);
  }
  if (r.finetune) {
    const last = r.finetune.history[r.finetune.history.length - 1];
    lines.push(`  fine-tuned ${r.finetune.epochs} epoch(s): train loss ${last?.trainLoss.toFixed(4) ?? 'n/a'}`);
  }
  const c = r.check;
  if (c.accuracy) lines.push(`  accuracy    ${pct(c.accuracy.before)} → ${pct(c.accuracy.after)} on ${c.samples} samples of ${c.source}`);
  lines.push(
    `  checked in ONNX Runtime on ${c.samples} samples of ${c.source}: output cosine ${c.cosine.toFixed(4)}${c.top1Agreement !== undefined ? `, top-1 agreement ${pct(c.top1Agreement)}` : ''}`,
  );
  lines.push(`→ ${r.output} (${num(r.bytes)} bytes)`);
  return `${lines.join('\n')}\n`;
}
