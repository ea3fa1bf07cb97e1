/**
 * The LR range test (Smith 2017; fastai's lr_find): train for a few hundred steps while the learning rate
 * grows exponentially, smooth the loss curve, and suggest the rate where the loss falls fastest.
 */
import { badInput } from '../errors.js';
import type { ModelProto } from '../ir/proto.js';
import type { Dataset } from '../data/dataset.js';
import { train, type TrainOptions } from './trainer.js';

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
  const start = opts.startLr ?? 1e-7;
  const end = opts.endLr ?? 10;
  const steps = opts.steps ?? 200;
  if (!(start > 0 && end > start)) throw badInput(`lr-find needs 0 < start < end, got ${start} and ${end}`);
  if (!Number.isInteger(steps) || steps < 10) throw badInput(`lr-find needs at least 10 steps, got ${steps}`);
  const perEpoch = Math.floor(data.size / opts.batchSize);
  if (perEpoch < 1) throw badInput(`the data has ${data.size} samples, fewer than one batch of ${opts.batchSize}; lower --batch-size`);
  const lrs: number[] = [];
  const losses: number[] = [];
  const smoothed: number[] = [];
  const beta = 0.98;
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

/** A self-contained HTML page with the loss curve (inline SVG, log-scaled LR axis) and the suggestion. */
export function lrFindHtml(r: LrFindResult, title = 'LR range test'): string {
  const W = 640,
    H = 360,
    P = 48;
  const lx = r.lrs.map(Math.log10);
  const x0 = Math.min(...lx),
    x1 = Math.max(...lx);
  const finite = r.smoothed.filter(Number.isFinite);
  const y0 = Math.min(...finite),
    y1 = Math.min(Math.max(...finite), y0 + 4 * (finite[0]! - y0 || 1));
  const sx = (v: number) => P + ((v - x0) / (x1 - x0 || 1)) * (W - 2 * P);
  const sy = (v: number) => H - P - ((Math.min(v, y1) - y0) / (y1 - y0 || 1)) * (H - 2 * P);
  const path = lx.map((x, i) => `${i ? 'L' : 'M'}${sx(x).toFixed(1)},${sy(r.smoothed[i]!).toFixed(1)}`).join('');
  const sxS = sx(lx[r.suggestedIndex]!);
  const ticks = [];
  for (let e = Math.ceil(x0); e <= Math.floor(x1); e++)
    ticks.push(
      `<line x1="${sx(e)}" x2="${sx(e)}" y1="${H - P}" y2="${H - P + 5}" stroke="#333"/><text x="${sx(e)}" y="${H - P + 18}" font-size="11" text-anchor="middle">1e${e}</text>`,
    );
  return `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title></head><body style="font-family:sans-serif">
<h1>${title}</h1><p>Suggested learning rate: <b>${r.suggestedLr.toExponential(2)}</b> (steepest descent of the smoothed loss)${r.stoppedEarly ? '; the sweep stopped when the loss diverged' : ''}.</p>
<svg width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" xmlns="http://www.w3.org/2000/svg">
<rect x="${P}" y="${P}" width="${W - 2 * P}" height="${H - 2 * P}" fill="none" stroke="#999"/>
${ticks.join('')}
<text x="${W / 2}" y="${H - 8}" font-size="12" text-anchor="middle">learning rate (log scale)</text>
<text x="14" y="${H / 2}" font-size="12" transform="rotate(-90 14 ${H / 2})" text-anchor="middle">smoothed loss</text>
<text x="${P - 4}" y="${sy(y0)}" font-size="11" text-anchor="end">${y0.toPrecision(3)}</text>
<text x="${P - 4}" y="${sy(y1) + 10}" font-size="11" text-anchor="end">${y1.toPrecision(3)}</text>
<path d="${path}" fill="none" stroke="#1f77b4" stroke-width="2"/>
<line x1="${sxS}" x2="${sxS}" y1="${P}" y2="${H - P}" stroke="#d62728" stroke-dasharray="4 3"/>
</svg></body></html>
`;
}
