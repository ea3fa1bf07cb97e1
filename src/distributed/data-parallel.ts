/**
 * Data-parallel training as a trainer callback: after each step's graph runs (each worker on its share of
 * the batch, TrainOptions.shard), `onGradients` makes every worker's gradients the mean over all workers,
 * so every worker applies the same update and the weights stay identical without ever being sent.
 *
 * Each step is two exchanges over the Collective:
 * 1. a control round: one flags byte (bit 0: this worker's loss or gradients are not finite; bit 1: it
 *    wants to stop) and the BatchNorm running statistics (f32), averaged in rank order. A non-finite worker
 *    anywhere → every worker drops the step's update (reported as skipped); a stop anywhere → every worker
 *    stops after this step, so they all end at the same step; bit 2 (the leader's): the run re-forms to
 *    admit new workers, and every worker throws Reform at this step;
 * 2. the gradients, through the GradientExchange of the chosen compression (compress.ts).
 * With compression 'none', N workers on batches of B/N give the weights of one process on batches of B (up
 * to the order of float sums: tested).
 */
import type { GradientInfo, TrainCallback, TrainingRun } from '../train/callbacks.js';
import { HoneError } from '../errors.js';
import type { Collective, GradientExchange } from './compress.js';

export interface DataParallelStats {
  /** Steps exchanged (skipped ones included). */
  steps: number;
  /** Steps whose update every worker dropped: some worker's gradients were not finite. */
  skipped: number;
  /** Bytes this worker sent for gradients (compressed), and for the control rounds. */
  gradientBytes: number;
  controlBytes: number;
  /** Layers sent uncompressed in the last exchange (skipped by the 2x rule, warm-up, or too small). */
  uncompressedLayers: number;
  /** Wall time in the exchanges (waiting for peers included). */
  exchangeMs: number;
}

export interface DataParallelOptions {
  collective: Collective;
  exchange: GradientExchange;
  /** True once this worker wants training to end (Ctrl-C): every worker stops after the step. */
  wantsStop?: () => boolean;
  /** True once the next generation is agreed (new workers admitted): every worker ends this one at the step. */
  reform?: () => boolean;
}

/** Thrown by every worker at the same step when the run re-forms to admit new workers. */
export class Reform extends HoneError {
  constructor() {
    super('the workers re-form to admit new ones', 1);
  }
}

export function dataParallel(o: DataParallelOptions): TrainCallback & { readonly stats: DataParallelStats } {
  const stats: DataParallelStats = { steps: 0, skipped: 0, gradientBytes: 0, controlBytes: 0, uncompressedLayers: 0, exchangeMs: 0 };
  let control: Uint8Array | undefined;
  return {
    stats,
    async onGradients(run: TrainingRun, info: GradientInfo) {
      const t0 = performance.now();
      const { buffers } = run;
      const floats = buffers.reduce((s, b) => s + b.length, 0);
      control ??= new Uint8Array(4 + 4 * floats);
      const finite = Number.isFinite(info.loss) && run.grads.every(allFinite);
      control[0] = (finite ? 0 : 1) | (o.wantsStop?.() ? 2 : 0) | (o.reform?.() ? 4 : 0);
      const view = new Float32Array(control.buffer, 4, floats);
      let at = 0;
      for (const b of buffers) {
        view.set(b, at);
        at += b.length;
      }
      const parts = await o.collective.allgather(control);
      stats.controlBytes += control.length;
      let bad = false;
      let stop = false;
      let reform = false;
      for (const p of parts) {
        if (p.length !== control.length) throw new Error(`a worker's control message has ${p.length} bytes, ${control.length} expected`);
        bad ||= (p[0]! & 1) !== 0;
        stop ||= (p[0]! & 2) !== 0;
        reform ||= (p[0]! & 4) !== 0;
      }
      if (reform) throw new Reform();
      if (floats > 0) averageInto(buffers, parts, floats);
      if (stop) run.stop();
      stats.steps++;
      if (bad) {
        stats.skipped++;
        stats.exchangeMs += performance.now() - t0;
        return 'skip';
      }
      const r = await o.exchange.exchange(run.grads as Float32Array[], info.step, o.collective);
      stats.gradientBytes += r.bytesSent;
      stats.uncompressedLayers = r.uncompressedLayers;
      stats.exchangeMs += performance.now() - t0;
      return undefined;
    },
  };
}

function allFinite(a: Float32Array): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) return false;
  return true;
}

/** Every worker's buffers (after each control message's 4-byte header), summed in rank order and averaged. */
function averageInto(buffers: readonly Float32Array[], parts: Uint8Array[], floats: number): void {
  const views = parts.map((p) => new Float32Array(p.buffer.slice(p.byteOffset + 4, p.byteOffset + 4 + 4 * floats)));
  let at = 0;
  for (const b of buffers) {
    for (let i = 0; i < b.length; i++) {
      let s = 0;
      for (const v of views) s += v[at + i]!;
      b[i] = s / views.length;
    }
    at += b.length;
  }
}
