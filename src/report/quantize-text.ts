/** The `hone quantize` terminal report: before/after table, fidelity, per-node decisions, notes. */
import type { QuantizeSummary } from '../quantize/pipeline.js';
import { bytes, ms, pct, table } from './format.js';

const MODE_NAMES = { dynamic: 'dynamic int8', static: 'static int8', fp16: 'float16', int4: 'int4 weight-only' } as const;

export function quantizeText(s: QuantizeSummary, output: string, opts: { maxNodes?: number } = {}): string {
  const lines: string[] = [`hone quantize: ${s.source} → ${output} (${MODE_NAMES[s.mode]})`, ''];
  const rows: string[][] = [['model size', bytes(s.size.float), bytes(s.size.quantized), `${s.size.ratio.toFixed(2)}x`]];
  rows.push([
    'weights',
    bytes(s.report.weightBytes.before),
    bytes(s.report.weightBytes.after),
    `${(s.report.weightBytes.after / (s.report.weightBytes.before || 1)).toFixed(2)}x`,
  ]);
  if (s.latency)
    rows.push(['latency ms (fastest round median)', ms(s.latency.floatMs), ms(s.latency.quantizedMs), `${s.latency.ratio.toFixed(2)}x`]);
  const f = s.fidelity;
  if (f?.accuracy)
    rows.push([
      'accuracy',
      pct(f.accuracy.float),
      pct(f.accuracy.quantized),
      `${((f.accuracy.quantized - f.accuracy.float) * 100).toFixed(2)} pt`,
    ]);
  lines.push(table(['', 'float', s.mode, 'ratio'], rows, [false, true, true, true]));
  if (f) {
    lines.push(
      '',
      `Output fidelity on ${f.samples} samples (${f.source}): cosine ${f.cosine.toFixed(5)}, max abs error ${f.maxAbsError.toPrecision(3)}` +
        (f.top1Agreement !== undefined ? `, top-1 agreement ${pct(f.top1Agreement)}` : ''),
    );
  }
  if (s.latency) {
    lines.push(
      `Latency on ${s.latency.inputs.map((i) => `${i.name}[${i.shape.join('x')}]`).join(', ')}: median of ${s.latency.blocks} blocks × ${s.latency.runsPerBlock} runs per model, blocks side by side`,
    );
  }
  for (const w of s.warnings) lines.push(`Warning: ${w}.`);
  if (s.data.calibration)
    lines.push(`Calibration: ${s.data.calibration}${s.report.settings.calibration ? ` (${String(s.report.settings.calibration)})` : ''}`);
  if (s.tuning) {
    const t = s.tuning;
    const what = t.guard
      ? `Accuracy guard (static default; --no-accuracy-guard skips it, --max-accuracy-drop X sets another target): drop <= ${t.target}`
      : `Accuracy target: drop <= ${t.target}`;
    lines.push(
      '',
      `${what} (${t.metric}) on ${t.data}: ${t.met ? 'met' : 'MISSED'}, drop ${t.drop.toFixed(3)} (all layers quantized: ${t.initialDrop.toFixed(3)}), ${t.keptFloat.length} layer(s) kept in float${t.order ? ` (${t.order})` : ''}, ${t.trials} trials`,
    );
    if (t.keptFloat.length) lines.push(`  kept float: ${t.keptFloat.join(', ')}`);
    if (t.heldOut)
      lines.push(
        `  output cosine on ${t.heldOut.source}: ${t.heldOut.cosineBefore.toFixed(5)} with every layer quantized → ${t.heldOut.cosineAfter.toFixed(5)}`,
      );
    if (t.reason) lines.push(`  ${t.reason}`);
    if (t.caveat) lines.push(`  Note: ${t.caveat}`);
  }
  if (s.refinement) {
    const r = s.refinement;
    const point = (p: { cosine: number; accuracy?: number }) =>
      `cosine ${p.cosine.toFixed(5)}${p.accuracy !== undefined ? `, accuracy ${pct(p.accuracy)}` : ''}`;
    lines.push(
      '',
      `${r.name}: ${r.summary}`,
      `  on ${r.calibration.samples}${r.calibration.heldOut ? ' held-out' : ''} calibration samples: round-to-nearest cosine ${r.calibration.before.toFixed(5)} → ${r.calibration.after.toFixed(5)}${r.kept ? '' : ` (not better: the model keeps round-to-nearest)`}`,
      `  on ${r.evaluation.source}: round-to-nearest ${point(r.evaluation.before)} → ${r.name} ${point(r.evaluation.after)}`,
    );
  }
  const quantized = s.report.nodes.filter((d) => d.quantized);
  const kept = s.report.nodes.filter((d) => !d.quantized);
  lines.push('', `Nodes: ${quantized.length} quantized, ${kept.length} left in float`);
  const max = opts.maxNodes ?? 40;
  const shown = [...kept, ...quantized].slice(0, max);
  lines.push(
    table(
      ['node', 'op', 'result'],
      shown.map((d) => [d.node, d.opType, d.quantized ? d.detail : `float: ${d.detail}`]),
    ),
  );
  if (s.report.nodes.length > shown.length) lines.push(`… ${s.report.nodes.length - shown.length} more (--json lists all)`);
  if (s.report.notes.length) lines.push('', 'Notes:', ...s.report.notes.map((n) => `  - ${n}`));
  return `${lines.join('\n')}\n`;
}
