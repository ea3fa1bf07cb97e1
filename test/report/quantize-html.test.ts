// `hone quantize --html`: the page of a real static int8 run (LeNet-5 on MNIST digits, an accuracy target, two
// batch sizes timed) shows float and quantized side by side, in a table and in charts with named axes and a
// legend: size, latency per input shape, accuracy; every measure the summary has (agreement, cosine, max
// error), the settings used, the per-layer sensitivity; names from the model and the user are escaped.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ModelProto } from '../../src/ir/proto.js';
import { loadSampleData } from '../../src/quantize/data.js';
import { quantizeModel, type QuantizeSummary } from '../../src/quantize/pipeline.js';
import { layerSensitivity } from '../../src/quantize/sensitivity.js';
import { tunableLayers } from '../../src/quantize/tune.js';
import { zooModel } from '../../src/zoo/index.js';
import { bytes, ms, pct } from '../../src/report/format.js';
import { quantizeHtml } from '../../src/report/quantize-html.js';
import { barSizes, chartIds, chartOf, renderInChromium, seriesMarks, svgTexts } from '../helpers/chart-svg.js';

const EVIL = '<img src=x onerror=alert(1)>';
const OUTPUT = 'out/lenet5.int8.onnx';

let s: QuantizeSummary;
before(async () => {
  let quantized: ModelProto;
  ({ model: quantized, summary: s } = await quantizeModel({
    model: 'zoo:lenet5',
    mode: 'static',
    samples: 200,
    maxAccuracyDrop: 0.5,
    batchSizes: [1, 4],
    latency: { runs: 3, warmup: 1, blocks: 1, budgetMs: 0, threads: 1 },
  }));
  // The guard measures per-layer sensitivity only when quantizing every layer misses the target: on an
  // AVX-512 VNNI EPYC static int8 lost accuracy on these 200 digits and it did; on a Zen 3 without VNNI it
  // lost none and stopped after one evaluation. The page is what this file tests, so the same sensitivity
  // pass then runs here directly, on the same models and digits, and goes where the guard puts it.
  if (!s.tuning!.sensitivity.length) {
    const float = zooModel('lenet5');
    const layers = tunableLayers(s.report.nodes);
    const data = await loadSampleData('mnist', float, { samples: 200 });
    const sensitivity = (await layerSensitivity(float, quantized, layers, data)).sort((a, b) => b.score - a.score);
    s = { ...s, tuning: { ...s.tuning!, sensitivity } };
  }
  assert.ok(s.tuning!.sensitivity.length >= 4, 'LeNet-5 has 5 layers that quantize');
});

/** The float, quantized and change cells of the before/after table's row `label`. */
function row(html: string, label: string): string[] {
  const table = /<table class="ba">([\s\S]*?)<\/table>/.exec(html)![1]!;
  const tr = [...table.matchAll(/<tr>(.*?)<\/tr>/g)].map((m) => [...m[1]!.matchAll(/<td[^>]*>(.*?)<\/td>/g)].map((c) => c[1]!));
  const found = tr.find((cells) => cells[0] === label);
  assert.ok(found, `a row '${label}' in ${tr.map((c) => c[0]).join(' | ')}`);
  return found.slice(1);
}

test('before and after side by side: size, latency per batch size, accuracy, agreement, output error', () => {
  assert.ok(
    s.latencyByBatch?.length === 2 && s.fidelity?.accuracy && s.fidelity.top1Agreement !== undefined,
    'the run measured all of them',
  );
  const html = quantizeHtml(s, OUTPUT);
  assert.deepEqual(row(html, 'model file'), [bytes(s.size.float), bytes(s.size.quantized), `${s.size.ratio.toFixed(3)}x`]);
  for (const l of s.latencyByBatch!) {
    const label = `latency on ${l.inputs.map((i) => `${i.name}[${i.shape.join('x')}]`).join(', ')} (ms)`;
    assert.deepEqual(row(html, label), [ms(l.floatMs), ms(l.quantizedMs), `${l.ratio.toFixed(3)}x`]);
  }
  const a = s.fidelity!.accuracy!;
  assert.deepEqual(row(html, 'top-1 accuracy (labels)').slice(0, 2), [pct(a.float), pct(a.quantized)]);
  assert.equal(row(html, 'top-1 agreement with float')[1], pct(s.fidelity!.top1Agreement!));
  assert.equal(row(html, 'output cosine with float')[1], s.fidelity!.cosine.toFixed(6));
  assert.equal(row(html, 'max abs error vs float')[1], s.fidelity!.maxAbsError.toPrecision(4));
  assert.equal(row(html, 'nodes quantized')[1], `${s.report.nodes.filter((d) => d.quantized).length} of ${s.report.nodes.length}`);
});

test('the charts: float and quantized bars per measure, named axes with units, a legend', () => {
  const html = quantizeHtml(s, OUTPUT);
  assert.deepEqual(chartIds(html), ['quantize-size', 'quantize-latency', 'quantize-accuracy', 'quantize-sensitivity']);
  for (const [id, axis, categories] of [
    ['quantize-size', 'size (KiB)', ['model file', 'weights']],
    ['quantize-latency', 'latency (ms)', ['input[1x1x28x28]', 'input[4x1x28x28]']],
    ['quantize-accuracy', 'accuracy (%)', ['top-1 accuracy']],
  ] as const) {
    const svg = chartOf(html, id);
    const texts = svgTexts(svg);
    for (const t of [axis, 'float', 'quantized', ...categories]) assert.ok(texts.includes(t), `${id}: ${t} in ${texts}`);
    // One float and one quantized bar per category.
    assert.deepEqual(seriesMarks(svg, 0), [...categories.keys()]);
    assert.deepEqual(seriesMarks(svg, 1), [...categories.keys()]);
  }
  assert.ok(svgTexts(chartOf(html, 'quantize-latency')).includes('inputs timed'));
  // Bars as long as their values: the quantized model file is its ratio of the float one.
  const [float, quantized] = [0, 1].map((i) => barSizes(chartOf(html, 'quantize-size'), i)[0]![1]);
  assert.ok(Math.abs(quantized! / float! - s.size.ratio) < 0.02, `${quantized}/${float} vs ${s.size.ratio}`);
  // Sensitivity: one bar per layer scored, on a named axis.
  const sens = chartOf(html, 'quantize-sensitivity');
  assert.equal(seriesMarks(sens, 0).length, Math.min(30, s.tuning!.sensitivity.length));
  assert.ok(svgTexts(sens).includes('noise-to-signal ratio the layer adds'));
  assert.ok(svgTexts(sens).includes('layer'));
});

test('the page names the model and the settings used', () => {
  const html = quantizeHtml(s, OUTPUT);
  assert.match(html, /<h1>Quantization of zoo:lenet5<\/h1>/);
  const dd = (k: string) => new RegExp(`<dt>${k}</dt><dd>([^<]*)</dd>`).exec(html)?.[1];
  assert.equal(dd('Model'), 'zoo:lenet5');
  assert.equal(dd('Mode'), 'static');
  assert.equal(dd('Output'), OUTPUT);
  assert.equal(dd('Calibration data'), s.data.calibration);
  assert.equal(dd('Compared on'), `${s.fidelity!.samples} samples of ${s.fidelity!.source}`);
  assert.match(dd('Latency')!, /fastest round median over 1 blocks × 3 runs/);
  for (const [k, v] of Object.entries(s.report.settings)) assert.ok(dd(k) !== undefined, `setting ${k} (${String(v)})`);
});

test('names from the model and the user are escaped', () => {
  const evil: QuantizeSummary = {
    ...s,
    source: EVIL,
    data: { calibration: EVIL, evaluation: EVIL },
    report: { ...s.report, nodes: s.report.nodes.map((d, i) => (i === 0 ? { ...d, node: EVIL } : d)) },
    latencyByBatch: s.latencyByBatch!.map((l) => ({ ...l, inputs: l.inputs.map((i) => ({ ...i, name: EVIL })) })),
    tuning: { ...s.tuning!, sensitivity: s.tuning!.sensitivity.map((x, i) => (i === 0 ? { ...x, node: EVIL } : x)) },
  };
  const html = quantizeHtml(evil, EVIL);
  assert.ok(!html.includes(EVIL));
  assert.match(html, /<h1>Quantization of &lt;img src=x onerror=alert\(1\)&gt;<\/h1>/);
  assert.ok(svgTexts(chartOf(html, 'quantize-sensitivity')).includes(EVIL), 'the layer is drawn, as text');
});

test('without latency or labels: the table and charts show what was measured', () => {
  const { latency: _l, latencyByBatch: _b, ...rest } = s;
  const plain: QuantizeSummary = {
    ...rest,
    fidelity: { ...s.fidelity!, accuracy: undefined, top1Agreement: undefined },
    tuning: undefined,
  };
  const html = quantizeHtml(plain, OUTPUT);
  assert.deepEqual(chartIds(html), ['quantize-size']);
  assert.doesNotMatch(html, /latency on|top-1/);
  assert.match(html, /<td>output cosine with float<\/td>/);
});

test('the page in headless Chromium: every chart laid out, no console errors, nothing fetched', async () => {
  const html = quantizeHtml(s, OUTPUT);
  const { errors, requests, widths } = await renderInChromium(html);
  assert.deepEqual(Object.keys(widths), chartIds(html));
  for (const [id, w] of Object.entries(widths)) assert.ok(w > 400, `${id} is ${w} px wide`);
  assert.deepEqual(errors, []);
  assert.deepEqual(requests, [], 'the page fetches nothing');
});
