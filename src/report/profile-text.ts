/** The human-readable `hone profile` report: aligned plain-text tables. */
import type { BatchRow, ProfileReport } from '../profile/types.js';
import { isNoisy } from '../runtime/stats.js';
import { bytes, ms, pct, si, table } from './format.js';

/** The latency table's columns, shared with the HTML report: every latency comes with its spread. */
export const LATENCY_HEADER = [
  'batch',
  'p50 ms',
  'p90 ms',
  'p99 ms',
  'cv',
  'runs',
  'floor ms',
  'items/s',
  'peak mem',
  'GFLOP/s',
  'in kernels',
  'bound',
];

export function latencyCells(b: BatchRow): string[] {
  const l = b.latencyMs;
  return [
    String(b.batchSize),
    ms(l.p50),
    ms(l.p90),
    ms(l.p99),
    pct(l.cv),
    l.rounds > 1 ? `${l.runs} (${l.rounds} rounds)` : String(l.runs),
    ms(l.floor),
    si(b.throughput),
    bytes(b.peakMemoryBytes),
    (b.achievedFlops / 1e9).toFixed(2),
    pct(b.kernelFraction),
    b.kind,
  ];
}

/** One line per batch size whose runs were noisy: how noisy, and what the verdict used instead. */
export function noiseNotes(r: ProfileReport): string[] {
  return r.batches
    .filter((b) => isNoisy(b.latencyMs))
    .map((b) => {
      const l = b.latencyMs;
      return (
        `batch ${b.batchSize}: noisy runs (robust CV ${pct(l.cv)}, p90 ${l.tail.toFixed(2)}x p50, p99 ${ms(l.p99)} ms against p50 ${ms(l.p50)} ms over ${l.runs} runs in ${l.rounds} round${l.rounds > 1 ? 's' : ''}): ` +
        `another process may be competing for the cores; figures judged use the fastest round's median, ${ms(l.floor)} ms`
      );
    });
}

export function profileText(r: ProfileReport): string {
  const out: string[] = [];
  const m = r.model;
  const opsets = Object.entries(m.opsets)
    .map(([d, v]) => (d === 'ai.onnx' ? `opset ${v}` : `${d} ${v}`))
    .join(', ');
  out.push(`model     ${m.source}  (${m.nodes} nodes, ${opsets}${m.producer ? `, from ${m.producer}` : ''})`);
  for (const i of m.inputs) out.push(`input     ${i.name}: ${i.elemType}[${i.shape.join(',')}]`);
  out.push(`size      ${si(r.params)} params, ${bytes(r.weightBytes)} of weights, ${bytes(r.bytes)} model`);
  out.push(
    `static    batch ${r.staticBatchSize}: ${si(r.macs)}MACs, ${si(r.flops)}FLOPs, ${bytes(r.bytesMoved)} moved, ${bytes(r.activationBytes)} of activations`,
  );
  if (r.staticNote) out.push(`          note: ${r.staticNote}`);
  if (r.unknownOps.length) out.push(`          ops without a cost rule (counted as 0): ${r.unknownOps.join(', ')}`);
  if (r.settings.dynamic) {
    const mc = r.machine;
    out.push(
      `machine   ${mc.cpu}, ${mc.cores} cores, ORT ${mc.ort} (${r.settings.provider}, ${r.settings.threads || 'default'} threads): ` +
        `${si(mc.peakFlops)}FLOP/s fp32 MatMul, ${si(mc.bandwidth)}B/s memory read, ${si(mc.cacheBandwidth)}B/s cache read`,
    );
    if (mc.peaksCheck) out.push(`          peaks ${mc.peaksCheck}`);
    out.push('');
    out.push(
      table(
        LATENCY_HEADER,
        r.batches.map(latencyCells),
        LATENCY_HEADER.map((_, i) => i < LATENCY_HEADER.length - 1),
      ),
    );
    for (const note of noiseNotes(r)) out.push(`note      ${note}`);
  }
  out.push('');
  const timed = r.opTypes.some((o) => o.timeShare > 0);
  out.push(
    table(
      ['op type', 'count', 'MACs', ...(timed ? ['time', 'ms/run'] : [])],
      r.opTypes.map((o) => [o.opType, o.count ? String(o.count) : 'ORT', si(o.macs), ...(timed ? [pct(o.timeShare), ms(o.timeMs)] : [])]),
      [false, true, true, true, true],
    ),
  );
  if (r.topNodes.length) {
    out.push('');
    out.push(
      table(
        ['top nodes', 'op type', 'MACs', ...(timed ? ['time'] : [])],
        r.topNodes
          .slice(0, 10)
          .map((n) => [n.name, n.opType, n.macs === undefined ? '' : si(n.macs), ...(timed ? [pct(n.timeShare)] : [])]),
        [false, false, true, true],
      ),
    );
  }
  if (r.bottleneck) {
    out.push('', `verdict   ${r.bottleneck.summary}`);
    r.bottleneck.advice.forEach((a, i) => {
      out.push(
        `${`${i === 0 ? 'advice' : ''}`.padEnd(10)}${i + 1}. ~${a.expectedSpeedup.toFixed(2)}x  ${a.condition ? `(${a.condition}) ` : ''}${a.action}  (${a.command})`,
      );
      out.push(`${''.padEnd(13)}${a.reason}`);
    });
    if (r.bottleneck.advice.length === 0) out.push('advice    none of the rules applies: no op type or overhead stands out');
  }
  return `${out.join('\n')}\n`;
}
