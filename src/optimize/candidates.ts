/**
 * Which pipelines `hone optimize` tries, from the profile and the passes that apply. Passes are grouped
 * by family (the part of the id before the dot) so that passes added to the registry later take part
 * without a change here:
 *   - `fold.*`, `inline.*`: exact rewrites that only help the others, in every pipeline;
 *   - `fuse.*` (and any family this file does not know): exact graph fusions, tried all together and not
 *     at all; a fusion that finds nothing in the model (after the rewrites and the fusions before it) is
 *     left out of every pipeline before anything is built (dropIdleFusions); the search then leaves single
 *     fusions out (search.ts), since one of ORT's fused kernels can be slower than what it replaces;
 *   - `quantize.*`: at most one per pipeline, and only those that can pay off here (below);
 *   - `ort.*`: ONNX Runtime's offline optimization, with and without, always last;
 *   - `upgrade.*`: never on its own (the passes that need a newer opset raise it themselves).
 */
import type { Advice } from '../profile/bottleneck.js';
import type { Pass } from '../passes/pass.js';
import type { PipelineResult, PipelineStep } from '../passes/pipeline.js';
import type { ModelProto } from '../ir/proto.js';
import { modelFacts } from '../passes/registry.js';
import type { OptimizeGoal } from './types.js';

export interface PassDecision {
  id: string;
  applies: boolean;
  reason?: string;
  used: boolean;
  why?: string;
}

export interface Plan {
  /** Each a pipeline of pass ids (in registry order), the empty one first (the model with only the exact rewrites). */
  pipelines: PipelineStep[][];
  decisions: PassDecision[];
}

export function family(id: string): string {
  return id.split('.')[0]!;
}

/** The key of a pipeline in the search: its pass ids in order ('' for the exact rewrites only, which still has a key). */
export function pipelineKey(steps: readonly PipelineStep[]): string {
  return steps.map((s) => s.pass).join('+') || '(none)';
}

/** A graph fusion in the planner's sense: `fuse.*`, or a family this file does not know. */
export function isFusion(id: string): boolean {
  const fam = family(id);
  return fam === 'fuse' || !['fold', 'inline', 'quantize', 'ort', 'upgrade'].includes(fam);
}

/**
 * The pipelines to try. Quantizers are filtered by what they need and by what can pay off on this
 * machine: static int8 needs calibration data; float16 is not faster on ORT's CPU provider (it casts most
 * ops back: the zoo transformer ran 1.34x slower, profile/bottleneck.ts) and int4's MatMulNBits unpacks
 * its blocks on every run, so those two are tried only where the profile advises them (fp16 for GPU
 * providers, int4 when memory-bound) or when the goal is size.
 */
export function planPipelines(
  model: ModelProto,
  passes: readonly Pass[],
  opts: { goal: OptimizeGoal; hasData: boolean; advice: readonly Advice[] },
): Plan {
  const facts = modelFacts(model);
  const decisions: PassDecision[] = [];
  const prep: string[] = [];
  const fusions: string[] = [];
  const quantizers: string[] = [];
  const ort: string[] = [];
  // The passes the profile's advice names (`Advice.pass`): the advice that transforms the model says which pass does it.
  const advised = new Set(opts.advice.flatMap((a) => (a.pass ? [a.pass.id] : [])));
  for (const pass of passes) {
    const reason = pass.applies(model, facts);
    const d: PassDecision = { id: pass.id, applies: reason === undefined, ...(reason !== undefined ? { reason } : {}), used: false };
    decisions.push(d);
    const fam = family(pass.id);
    const needs = [...pass.needs];
    if (fam === 'upgrade') {
      d.why = 'not on its own: the passes that need a newer opset raise it themselves';
      continue;
    }
    if (needs.includes('training') || needs.includes('labels')) {
      d.why = `needs ${needs.join(' and ')}, which optimize does not search`;
      continue;
    }
    if (isFusion(pass.id)) {
      // Fusions are tried even when they do not match the input as given: an earlier fusion can create
      // their pattern (skip layer norm matches the LayerNormalization that fuse.layer-norm writes).
      d.used = true;
      d.why = 'graph fusion: tried with the other fusions, and without';
      fusions.push(pass.id);
      continue;
    }
    if (reason !== undefined) {
      d.why = 'does not apply';
      continue;
    }
    if (fam === 'fold' || fam === 'inline') {
      d.used = true;
      d.why = 'exact rewrite, in every pipeline';
      prep.push(pass.id);
    } else if (fam === 'ort') {
      d.used = true;
      d.why = 'tried last in each pipeline, and not at all';
      ort.push(pass.id);
    } else {
      const why = quantizerFilter(pass, opts, advised);
      if (why) d.why = why;
      else {
        d.used = true;
        d.why = 'one quantizer per pipeline';
        quantizers.push(pass.id);
      }
    }
  }
  const order = new Map(passes.map((p, i) => [p.id, i]));
  const sorted = (ids: string[]) => [...ids].sort((a, b) => order.get(a)! - order.get(b)!);
  const pipelines: PipelineStep[][] = [];
  for (const fused of fusions.length ? [false, true] : [false])
    for (const q of [undefined, ...quantizers])
      for (const last of ort.length ? [false, true] : [false]) {
        const ids = [...prep, ...(fused ? fusions : []), ...(q ? [q] : []), ...(last ? ort : [])];
        pipelines.push(sorted(ids).map((pass) => ({ pass })));
      }
  return { pipelines, decisions };
}

function quantizerFilter(pass: Pass, opts: { goal: OptimizeGoal; hasData: boolean }, advised: ReadonlySet<string>): string | undefined {
  if (pass.needs.includes('calibration-data') && !opts.hasData) return 'needs calibration data: pass --data DATA';
  if (pass.id === 'quantize.fp16' && opts.goal !== 'size' && !advised.has(pass.id))
    return "not advised by the profile: ONNX Runtime's CPU provider runs few ops in float16 and casts the rest back (--goal size tries it)";
  if (pass.id === 'quantize.int4' && opts.goal !== 'size' && !advised.has(pass.id))
    return 'not advised by the profile (it is advised when memory-bound): MatMulNBits unpacks its 4-bit blocks on every run (--goal size tries it)';
  return undefined;
}

/**
 * The plan without the fusions that find nothing in this model. The rewrites and every fusion run once, in
 * the pipelines' order (`run`: cached, so the fused pipeline's later build reads it back); a fusion that
 * changed nothing there is taken out of every pipeline — a step that changes nothing changes nothing for
 * the steps after it, so each pipeline's model stays the same — and pipelines that become another's copy
 * are dropped. On a CNN, the transformer fusions: the search then neither builds nor names them. A chain
 * that fails leaves the plan as it is (the pipelines' builds report the failure).
 */
export async function dropIdleFusions(plan: Plan, run: (steps: PipelineStep[]) => Promise<PipelineResult>): Promise<Plan> {
  const chain = plan.pipelines.filter((p) => p.some((st) => isFusion(st.pass))).sort((a, b) => a.length - b.length)[0];
  if (!chain) return plan;
  let result: PipelineResult;
  try {
    result = await run(chain);
  } catch {
    return plan;
  }
  const idle = new Set(result.steps.filter((st) => isFusion(st.pass) && st.status !== 'applied').map((st) => st.pass));
  if (idle.size === 0) return plan;
  const seen = new Set<string>();
  const pipelines: PipelineStep[][] = [];
  for (const p of plan.pipelines) {
    const kept = p.filter((st) => !idle.has(st.pass));
    const key = pipelineKey(kept);
    if (seen.has(key)) continue;
    seen.add(key);
    pipelines.push(kept);
  }
  const decisions = plan.decisions.map((d) =>
    idle.has(d.id)
      ? { ...d, used: false, why: 'graph fusion: finds nothing in this model (after the exact rewrites and the fusions before it)' }
      : d,
  );
  return { pipelines, decisions };
}
