/**
 * `ort.offline-optimize`: ONNX Runtime's own graph optimizations, done once and saved, so that the model
 * shipped holds ORT's fusions (FusedConv, FusedGemm, FusedMatMul, BiasGelu, SkipLayerNormalization…) and a
 * session need not find them again at every load. ORT does the work: a session is created with
 * `optimizedModelFilePath`, which writes the graph as optimized at the chosen level, and the file is read back.
 *
 * The level is the option. 'basic' (constant folding, redundant nodes, Conv+BN/Mul/Add folding) and
 * 'extended' (ORT's contrib fusions) write ops any ORT CPU build runs; 'all' adds the layout
 * transformations, which on x86 rewrite Convs to ORT's NCHWc ops (com.microsoft.nchwc) blocked for this
 * CPU's vector width: measured on the zoo, lenet5 and resnet come back as nchwc.Conv/ReorderOutput at
 * 'all' and 'layout', while the transformer is the same at 'extended' and 'all'. ORT's documentation warns
 * that such a model is tied to the machine that wrote it, so the default is 'extended' and the report
 * says when layout ops were written.
 *
 * `disable` names ORT graph optimizers to leave out (comma-separated, e.g. 'SkipLayerNormFusion'), as a
 * session's `optimization.disable_specified_optimizers` does: a fusion ORT bakes into the saved file cannot
 * be turned off later by the session that loads it, so a search that turns a fusion off for its session
 * (`hone optimize`'s `ort:NAME`) must turn it off here too. ORT ignores names it does not know, so a misspelt
 * one changes nothing: the report's summary names what was left out, to be checked against its op counts.
 *
 * The saved model is loaded again in ORT (optimizations off, so that what is checked is the saved graph
 * itself) before it is returned. Hone's other passes know ORT's standard-op graphs, not its fused ops:
 * this pass goes last in a pipeline.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { encodeModel } from '../ir/codec.js';
import { parseModel } from '../ir/model.js';
import type { ModelProto } from '../ir/proto.js';
import { createSession, ortLoadError, sessionOptions } from '../runtime/session.js';
import { nameList, withDefaults } from './options.js';
import type { Pass } from './pass.js';

type OrtLevel = 'basic' | 'extended' | 'all';

export const ortOptimizePass: Pass<{ level: OrtLevel; disable: string }> = {
  id: 'ort.offline-optimize',
  description:
    'saves the graph as ONNX Runtime optimizes it (its fusions) at a level: basic, extended or all (all may write CPU-specific layout ops); disable: ORT optimizers to leave out',
  applies: (model) => (model.graph?.node.length ? undefined : 'the graph has no nodes'),
  space: { level: { type: 'categorical', choices: ['basic', 'extended', 'all'] } },
  defaults: { level: 'extended', disable: '' },
  needs: [],
  async run(model, options, ctx) {
    const { level, disable } = withDefaults(this, options);
    const disabled = disable ? nameList(disable) : [];
    const without = disabled.length ? ` without ${disabled.join(', ')}` : '';
    ctx.onProgress?.(`ONNX Runtime optimizing the graph at level ${level}${without}`);
    const dir = mkdtempSync(join(tmpdir(), 'hone-ort-opt-'));
    let optimized: ModelProto;
    try {
      const path = join(dir, 'optimized.onnx');
      const opts: ort.InferenceSession.SessionOptions = {
        ...sessionOptions({ graphOptimizationLevel: level, intraOpThreads: 1, disabledOptimizers: disabled }),
        optimizedModelFilePath: path,
      };
      let session: ort.InferenceSession;
      try {
        session = await ort.InferenceSession.create(encodeModel(model), opts);
      } catch (e) {
        throw ortLoadError(e, 'cpu');
      }
      await session.release();
      const bytes = readFileSync(path);
      optimized = parseModel(bytes, 'the model ONNX Runtime saved');
      // The saved graph must load by itself: with optimizations off, nothing rewrites it first.
      await (await createSession(bytes, { graphOptimizationLevel: 'disabled', intraOpThreads: 1 })).release();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const before = opCounts(model);
    const after = opCounts(optimized);
    const added = diff(after, before);
    const removed = diff(before, after);
    const changed = Object.keys(added).length > 0 || Object.keys(removed).length > 0;
    const layout = Object.keys(after).filter((op) => op.startsWith('com.microsoft.nchwc.'));
    const notes: string[] = [];
    if (layout.length)
      notes.push(
        `level ${level} wrote layout-specific ops (${layout.join(', ')}), blocked for this CPU's vector width: the model may not run, or run slower, on another machine; use level extended for a portable model`,
      );
    else if (level === 'all')
      notes.push('level all can write layout-specific (NCHWc) ops tied to this CPU; this model got none, so it is portable');
    if (changed) notes.push("ORT's fused ops are opaque to Hone's other passes (quantization, folding): run this pass last");
    const nodesBefore = model.graph!.node.length;
    const nodesAfter = optimized.graph!.node.length;
    return {
      model: changed ? optimized : model,
      changed,
      report: {
        summary: changed
          ? `ONNX Runtime (${level}${without}): ${nodesBefore} → ${nodesAfter} nodes${Object.keys(added).length ? `; now holds ${list(added)}` : ''}`
          : `ONNX Runtime (${level}${without}) changed nothing`,
        notes,
        detail: { level, disabled, nodesBefore, nodesAfter, added, removed, ortVersion: ort.env.versions.common },
      },
    };
  },
};

/** Op counts of the main graph, keyed `domain.op` outside the default domain. */
function opCounts(model: ModelProto): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const n of model.graph!.node) {
    const key = n.domain && n.domain !== 'ai.onnx' ? `${n.domain}.${n.opType}` : (n.opType ?? '');
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

/** Ops `a` holds more of than `b`, with how many more. */
function diff(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, n] of Object.entries(a)) if (n > (b[k] ?? 0)) out[k] = n - (b[k] ?? 0);
  return out;
}

function list(counts: Record<string, number>): string {
  return Object.entries(counts)
    .map(([k, n]) => `${k} ×${n}`)
    .join(', ');
}
