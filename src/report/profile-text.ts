/** The human-readable `hone profile` report: aligned plain-text tables. */
import type { ProfileReport } from '../profile/types.js';
import { bytes, ms, pct, si, table } from './format.js';

export function profileText(r: ProfileReport): string {
  const out: string[] = [];
  const m = r.model;
  const opsets = Object.entries(m.opsets).map(([d, v]) => (d === 'ai.onnx' ? `opset ${v}` : `${d} ${v}`)).join(', ');
  out.push(`model     ${m.source}  (${m.nodes} nodes, ${opsets}${m.producer ? `, from ${m.producer}` : ''})`);
  for (const i of m.inputs) out.push(`input     ${i.name}: ${i.elemType}[${i.shape.join(',')}]`);
  out.push(`size      ${si(r.params)} params, ${bytes(r.weightBytes)} of weights, ${bytes(r.bytes)} model`);
  out.push(`static    batch ${r.staticBatchSize}: ${si(r.macs)}MACs, ${si(r.flops)}FLOPs, ${bytes(r.bytesMoved)} moved, ${bytes(r.activationBytes)} of activations`);
  if (r.staticNote) out.push(`          note: ${r.staticNote}`);
  if (r.unknownOps.length) out.push(`          ops without a cost rule (counted as 0): ${r.unknownOps.join(', ')}`);
  if (r.settings.dynamic) {
    const mc = r.machine;
    out.push(`machine   ${mc.cpu}, ${mc.cores} cores, ORT ${mc.ort} (${r.settings.provider}, ${r.settings.threads || 'default'} threads): ` +
      `${si(mc.peakFlops)}FLOP/s fp32 MatMul, ${si(mc.bandwidth)}B/s memory read, ${si(mc.cacheBandwidth)}B/s cache read`);
    out.push('');
    out.push(table(
      ['batch', 'p50 ms', 'p90 ms', 'p99 ms', 'items/s', 'peak mem', 'GFLOP/s', 'in kernels', 'bound'],
      r.batches.map((b) => [String(b.batchSize), ms(b.latencyMs.p50), ms(b.latencyMs.p90), ms(b.latencyMs.p99), si(b.throughput),
        bytes(b.peakMemoryBytes), (b.achievedFlops / 1e9).toFixed(2), pct(b.kernelFraction), b.kind]),
      [true, true, true, true, true, true, true, true, false],
    ));
  }
  out.push('');
  const timed = r.opTypes.some((o) => o.timeShare > 0);
  out.push(table(
    ['op type', 'count', 'MACs', ...(timed ? ['time', 'ms/run'] : [])],
    r.opTypes.map((o) => [o.opType, o.count ? String(o.count) : 'ORT', si(o.macs), ...(timed ? [pct(o.timeShare), ms(o.timeMs)] : [])]),
    [false, true, true, true, true],
  ));
  if (r.topNodes.length) {
    out.push('');
    out.push(table(
      ['top nodes', 'op type', 'MACs', ...(timed ? ['time'] : [])],
      r.topNodes.slice(0, 10).map((n) => [n.name, n.opType, n.macs === undefined ? '' : si(n.macs), ...(timed ? [pct(n.timeShare)] : [])]),
      [false, false, true, true],
    ));
  }
  if (r.bottleneck) {
    out.push('', `verdict   ${r.bottleneck.summary}`);
    r.bottleneck.advice.forEach((a, i) => {
      out.push(`${i === 0 ? 'advice' : ''}`.padEnd(10) + `${i + 1}. ~${a.expectedSpeedup.toFixed(2)}x  ${a.action}  (${a.command})`);
      out.push(`${''.padEnd(13)}${a.reason}`);
    });
    if (r.bottleneck.advice.length === 0) out.push('advice    none of the rules applies: no op type or overhead stands out');
  }
  return out.join('\n') + '\n';
}
