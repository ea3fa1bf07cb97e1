/**
 * The LR range test (Smith 2017; fastai's lr_find): train for a few hundred steps while the learning rate
 * grows exponentially, smooth the loss curve, and suggest the rate where the loss falls fastest.
 */
import { badInput } from '../errors.js';
import type { ModelProto } from '../ir/proto.js';
import type { Dataset } from '../data/dataset.js';
import { train, type TrainOptions } from './trainer.js';

/** The sweep's defaults: from 1e-7 to 10 over 200 steps (the CLI names them on its page). */
export const LR_FIND_DEFAULTS = { startLr: 1e-7, endLr: 10, steps: 200 } as const;

/** β of the loss's exponential moving average (bias-corrected), the curve the suggestion is read from. */
export const LR_FIND_SMOOTHING = 0.98;

export interface LrFindOptions
  extends Pick<
    TrainOptions,
    'batchSize' | 'optimizer' | 'loss' | 'seed' | 'threads' | 'provider' | 'frozen' | 'dims' | 'shapes' | 'values'
  > {
  startLr?: number;
  endLr?: number;
  steps?: number;
  /** Stop once the smoothed loss exceeds this multiple of the best seen (default 4). */
  divergence?: number;
  /** Called after every step, for progress (the CLI prints a line every few steps). */
  onProgress?: (p: { step: number; steps: number; lr: number; loss: number; smoothed: number }) => void;
}

export interface LrFindResult {
  lrs: number[];
  losses: number[];
  smoothed: number[];
  suggestedLr: number;
  /** Index into lrs of the suggestion. */
  suggestedIndex: number;
  stoppedEarly: boolean;
}

export async function lrFind(model: ModelProto, data: Dataset, opts: LrFindOptions): Promise<LrFindResult> {
  const start = opts.startLr ?? LR_FIND_DEFAULTS.startLr;
  const end = opts.endLr ?? LR_FIND_DEFAULTS.endLr;
  const steps = opts.steps ?? LR_FIND_DEFAULTS.steps;
  if (!(start > 0 && end > start)) throw badInput(`lr-find needs 0 < start < end, got ${start} and ${end}`);
  if (!Number.isInteger(steps) || steps < 10) throw badInput(`lr-find needs at least 10 steps, got ${steps}`);
  const perEpoch = Math.floor(data.size / opts.batchSize);
  if (perEpoch < 1) throw badInput(`the data has ${data.size} samples, fewer than one batch of ${opts.batchSize}; lower --batch-size`);
  const lrs: number[] = [];
  const losses: number[] = [];
  const smoothed: number[] = [];
  const beta = LR_FIND_SMOOTHING;
  let avg = 0;
  let best = Infinity;
  let diverged = false;
  const { onProgress, ...trainOpts } = opts;
  await train(model, data, {
    ...trainOpts,
    epochs: Math.ceil(steps / perEpoch),
    lr: start,
    schedule: { kind: 'exponential', gamma: (end / start) ** (1 / (steps - 1)) },
    onStep: ({ step, lr, loss }) => {
      avg = beta * avg + (1 - beta) * loss;
      const s = avg / (1 - beta ** step);
      lrs.push(lr);
      losses.push(loss);
      smoothed.push(s);
      best = Math.min(best, s);
      onProgress?.({ step, steps, lr, loss, smoothed: s });
      if (step > 10 && s > (opts.divergence ?? 4) * best) {
        diverged = true;
        return false;
      }
      return step < steps;
    },
  }).catch((e: unknown) => {
    // A loss that turns NaN/Inf at a huge LR ends the sweep; what was recorded still counts, and the
    // sweep stopped early because the loss diverged.
    if (losses.length < 10) throw e;
    diverged = true;
  });
  const idx = steepest(lrs, smoothed);
  return { lrs, losses, smoothed, suggestedLr: lrs[idx]!, suggestedIndex: idx, stoppedEarly: diverged };
}

/** Index of the most negative slope of the smoothed loss against log(lr), ignoring the noisy first steps. */
function steepest(lrs: number[], smoothed: number[]): number {
  const skip = Math.min(10, Math.floor(lrs.length / 10));
  let best = skip;
  let bestSlope = Infinity;
  for (let i = skip + 1; i < lrs.length - 1; i++) {
    const slope = (smoothed[i + 1]! - smoothed[i - 1]!) / (Math.log(lrs[i + 1]!) - Math.log(lrs[i - 1]!));
    if (slope < bestSlope) {
      bestSlope = slope;
      best = i;
    }
  }
  return best;
}
