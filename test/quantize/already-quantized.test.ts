// A model that is quantized already (Q/DQ pairs, integer ops, int8 weights; float16 weights for fp16 mode)
// is refused in one line naming what was found, unless --force: quantizing it again re-rounds its weights
// and wraps Q/DQ in more Q/DQ (the corpus QDQ CNN grew 1.3x under static mode).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, saveModel } from '../../src/ir/model.js';
import { quantizedAlready } from '../../src/quantize/common.js';
import { quantizeDynamic } from '../../src/quantize/dynamic.js';
import { convertFp16 } from '../../src/quantize/fp16.js';
import { quantizeInt4 } from '../../src/quantize/int4.js';
import { zooModel } from '../../src/zoo/index.js';
import { corpusModels } from '../helpers/corpus.js';
import { honeArgs as cli } from '../helpers/cli.js';

const corpus = (id: string) => corpusModels().find((m) => m.id === id)!.path;
const small = 'transformer:layers=1,dModel=32,heads=2,ffn=64';

test('quantizedAlready names the Q/DQ pairs, integer ops and low-bit weights it finds; float models have none', () => {
  assert.deepEqual(quantizedAlready(loadModel(corpus('qdq-cnn')), 'static'), {
    kind: 'quantized',
    found: '6 QuantizeLinear, 12 DequantizeLinear, 3 int8 weights',
  });
  assert.deepEqual(quantizedAlready(loadModel(corpus('tiny-encoder-matmulinteger')), 'dynamic'), {
    kind: 'quantized',
    found: '6 DynamicQuantizeLinear, 6 MatMulInteger, 6 uint8 weights',
  });
  const float = zooModel(small);
  for (const mode of ['dynamic', 'static', 'fp16', 'int4'] as const) {
    assert.equal(quantizedAlready(float, mode), undefined, mode);
    assert.equal(quantizedAlready(loadModel(corpus('tiny-encoder')), mode), undefined, mode);
  }
  // Hone's own outputs: quantized again, they would be refused too.
  assert.match(quantizedAlready(quantizeDynamic(float).model, 'dynamic')!.found, /\d+ DynamicQuantizeMatMul, \d+ int8 weights$/);
  assert.match(quantizedAlready(quantizeInt4(float).model, 'int4')!.found, /^\d+ MatMulNBits, \d+ uint8 weights$/);
  // float16 weights count for fp16 mode only: the int8 passes find no float32 weight there and say so themselves.
  const half = convertFp16(float).model;
  assert.equal(quantizedAlready(half, 'fp16')!.kind, 'float16');
  assert.equal(quantizedAlready(half, 'dynamic'), undefined);
});

test('cli: an already-quantized model is refused with exit 2 and one line, nothing written; --force quantizes it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hone-requant-'));
  try {
    const out = join(dir, 'out.onnx');
    for (const mode of ['static', 'dynamic', 'fp16', 'int4']) {
      const r = await cli(['quantize', corpus('qdq-cnn'), '-o', out, '--mode', mode, '--no-latency']);
      assert.equal(r.code, 2, `${mode}: ${r.stderr}`);
      assert.match(
        r.stderr,
        /^hone: the model is quantized already \(6 QuantizeLinear, 12 DequantizeLinear, 3 int8 weights\): .*pass --force/,
      );
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.equal(existsSync(out), false);
    }
    const forced = await cli([
      'quantize',
      corpus('tiny-encoder-matmulinteger'),
      '-o',
      out,
      '--mode',
      'dynamic',
      '--no-latency',
      '--force',
      '--shape',
      'input_ids=1x16',
      '--shape',
      'attention_mask=1x16',
    ]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.ok(existsSync(out));

    const half = join(dir, 'half.onnx');
    saveModel(convertFp16(loadModel(corpus('tiny-gru-kws'))).model, half);
    const again = await cli(['quantize', half, '-o', join(dir, 'again.onnx'), '--mode', 'fp16', '--no-latency']);
    assert.equal(again.code, 2, again.stderr);
    assert.match(again.stderr, /^hone: the model is float16 already \(\d+ float16 weights\): .*--force/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
