/** `hone optimize`'s text report: the before/after table, the session options to use, and every candidate's fate. */
import type { Candidate, OptimizeReport } from '../optimize/types.js';
import { baselineWords, gainSplitText, settingsText } from '../optimize/optimize.js';
import { bytes, ms, table } from './format.js';

export function optimizeText(report: OptimizeReport, candidates: readonly Candidate[], outDir: string): string {
  const out: string[] = [];
  out.push(`hone optimize ${report.source} → ${outDir}  (goal ${report.goal}, max drop ${report.maxAccuracyDrop} ${report.metric})`);
  if (report.profile) out.push(`profile: ${report.profile.summary}`);
  out.push(`data: ${report.data.evaluation}${report.data.calibration ? `; calibration: ${report.data.calibration}` : ''}`);
  out.push('');
  const base = report.baseline.byBatch.find((b) => b.batchSize === (report.chosen?.batchSize ?? report.baseline.byBatch[0]!.batchSize))!;
  const c = report.chosen;
  const rows: string[][] = [
    ['passes', '(none: the model as given)', c ? c.passes.join(', ') || '(none)' : '—'],
    ['session', `${settingsText(report.baseline.settings)}`, c ? settingsText(c.settings) : '—'],
    ['batch', String(base.batchSize), c ? String(c.batchSize) : '—'],
    ['latency', `${ms(base.latencyMs)} ms`, c ? `${ms(c.latencyMs)} ms` : '—'],
    ['throughput', `${base.throughput.toFixed(1)}/s`, c ? `${c.throughput.toFixed(1)}/s` : '—'],
    ['speedup', '1.00x', c ? `${c.speedup.toFixed(2)}x` : '—'],
    ['size', bytes(report.baseline.bytes), c ? bytes(c.bytes) : '—'],
    ['cosine', '1', c ? c.fidelity.cosine.toFixed(5) : '—'],
    ['drop', '0', c ? `${c.fidelity.drop.toFixed(3)} (${report.metric})` : '—'],
  ];
  if (c?.fidelity.accuracy) rows.push(['accuracy', pct(c.fidelity.accuracy.float), pct(c.fidelity.accuracy.optimized)]);
  out.push(table(['', `baseline (${baselineWords(report.baseline.settings.intraOpThreads, report.target)})`, 'chosen'], rows));
  out.push('');
  out.push(c ? `Chosen ${c.candidate}: ${report.conclusion}` : report.conclusion);
  const split = c && gainSplitText(c, report.goal);
  if (split) out.push(split);
  if (c) out.push(`SessionOptions to use with model.onnx: ${JSON.stringify(c.sessionOptions)}`);
  out.push('');
  const n = report.counts;
  out.push(`Tried ${n.candidates} candidate(s): ${n.measured} measured, ${n.rejected} rejected, ${n.skipped} skipped`);
  // Pipelines that came out the same model as an earlier one (a pass that matched nothing) go on one line.
  const same = candidates.filter((k) => k.status === 'skipped' && k.reason?.startsWith('the same model as '));
  // A search of many trials: the fastest measured, then the rejected and skipped, a few of each; all are in candidates.json.
  const rest = candidates.filter((k) => !same.includes(k));
  const bySpeed = (a: Candidate, b: Candidate) => (b.metrics.speedup ?? 0) - (a.metrics.speedup ?? 0);
  const shown = [
    ...rest
      .filter((k) => k.status === 'measured')
      .sort(bySpeed)
      .slice(0, TEXT_ROWS.measured),
    ...rest.filter((k) => k.status === 'rejected').slice(0, TEXT_ROWS.rejected),
    ...rest
      .filter((k) => k.status === 'skipped')
      .sort(bySpeed)
      .slice(0, TEXT_ROWS.skipped),
  ];
  const crows = shown.map((k) => [
    k.id + (k.chosen ? ' *' : ''),
    passesText(k),
    settingsText(k.settings) + (report.goal === 'throughput' ? `, batch ${k.batchSize}` : ''),
    k.metrics.latencyMs !== undefined ? `${ms(k.metrics.latencyMs)} ms` : '',
    k.metrics.speedup !== undefined ? `${k.metrics.speedup.toFixed(2)}x` : '',
    k.metrics.full ? k.metrics.full.cosine.toFixed(5) : k.metrics.quick ? `${k.metrics.quick.cosine.toFixed(5)}~` : '',
    k.status + (k.reason ? `: ${k.reason}` : ''),
  ]);
  out.push(
    table(['id', 'passes', 'session', 'latency', 'speedup', 'cosine', 'status'], crows, [false, false, false, true, true, true, false]),
  );
  out.push(
    `(~: cosine on the few samples of the cheap check; * chosen${shown.length < rest.length ? `; ${rest.length - shown.length} more in candidates.json and report.html` : ''})`,
  );
  if (same.length)
    out.push(
      `skipped, the same model as an earlier pipeline (a pass matched nothing; reasons in candidates.json): ${same
        .map((k) => `${k.id} = ${/^the same model as (\S+)/.exec(k.reason!)![1]}`)
        .join(', ')}`,
    );
  for (const note of report.notes) out.push(`note: ${note}`);
  out.push(`search ${report.searchSeconds.toFixed(0)} s of a ${report.budgetSeconds} s budget; ${report.totalSeconds.toFixed(0)} s in all`);
  return `${out.join('\n')}\n`;
}

/** Candidates the text table shows at most, by status (the fastest measured and skipped first). */
const TEXT_ROWS = { measured: 10, rejected: 6, skipped: 4 };

/** The passes that changed the model once built (those that did not are in candidates.json), else those planned. */
export function passesText(k: Candidate): string {
  const ids = k.steps.length ? k.steps.filter((s) => s.status === 'applied').map((s) => s.pass) : k.passes;
  return ids.length ? ids.join(' → ') : '(none)';
}

function pct(x: number): string {
  return `${(100 * x).toFixed(2)}%`;
}
