import type { ParamValue } from '../../tune/types.js';
import type { StudyReport } from '../../tune/report.js';

/** The human report: counts, best trial, importance bars, the last trials. */
export function formatReport(r: StudyReport, opts: { where?: string; historyRows?: number } = {}): string {
  const lines: string[] = [];
  const counts = (['complete', 'pruned', 'fail', 'running', 'waiting'] as const)
    .filter((s) => r.states[s] > 0)
    .map((s) => `${r.states[s]} ${s === 'fail' ? 'failed' : s}`)
    .join(', ');
  lines.push(`study ${r.study}${opts.where ? ` (${opts.where})` : ''}: ${r.nTrials} trials${counts ? ` — ${counts}` : ''}`);
  if (r.bestTrial !== null) {
    lines.push(`best: trial #${r.bestTrial}, value ${formatValue(r.bestValue!)} (${r.directions[0]})`);
    for (const [k, v] of Object.entries(r.bestParams!))
      lines.push(`  ${k} = ${typeof v === 'number' ? formatValue(v) : JSON.stringify(v)}`);
  } else if (r.bestTrials.length) {
    lines.push(`Pareto front (${r.directions.join(', ')}): ${r.bestTrials.length} trials`);
    for (const t of r.bestTrials.slice(0, 10))
      lines.push(`  #${t.number}  [${t.values.map(formatValue).join(', ')}]  ${paramText(t.params)}`);
  } else {
    lines.push('best: no trial completed yet');
  }
  const imp = Object.entries(r.importance);
  if (imp.length) {
    lines.push('parameter importance (PED-ANOVA):');
    const width = Math.max(...imp.map(([k]) => k.length));
    for (const [k, v] of imp) lines.push(`  ${k.padEnd(width)}  ${'█'.repeat(Math.round(v * 30)).padEnd(30)} ${v.toFixed(3)}`);
  }
  const rows = r.history.slice(-(opts.historyRows ?? 10));
  if (rows.length) {
    lines.push(`history (last ${rows.length}):`);
    const samplers = rows.some((h) => h.sampler);
    lines.push(`  trial  state     value        best so far${samplers ? '  sampler' : ''}`);
    for (const h of rows) {
      const value = h.values ? h.values.map(formatValue).join(', ') : h.failReason ? h.failReason.slice(0, 60) : '-';
      const best = h.bestSoFar === null ? '-' : formatValue(h.bestSoFar);
      lines.push(
        `  ${String(h.number).padStart(5)}  ${h.state.padEnd(8)}  ${value.padEnd(11)}  ${samplers ? `${best.padEnd(11)}  ${h.sampler ?? '-'}` : best}`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

/** A value as reports print it: 6 significant digits, exponent notation when very small or large. */
export function formatValue(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e6) ? v.toExponential(4) : Number(v.toPrecision(6)).toString();
}

/** `lr=0.001 act="relu"`: a trial's params on one line. */
export function paramText(p: Record<string, ParamValue>): string {
  return Object.entries(p)
    .map(([k, v]) => `${k}=${typeof v === 'number' ? formatValue(v) : JSON.stringify(v)}`)
    .join(' ');
}
