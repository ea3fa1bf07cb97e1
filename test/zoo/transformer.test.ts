// The transformer graph computes what it claims: checked against a plain-JS encoder on a tiny config,
// and the 4-layer d=256 encoder runs at batch 8 × 128 (the size the quantization work measures).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { transformer } from '../../src/zoo/index.js';
import type { ModelProto } from '../../src/ir/proto.js';
import { tensorArray } from '../../src/ir/tensor.js';
import { runOnce } from './helpers.js';

type Mat = number[][]; // [rows][cols]

function weights(model: ModelProto): (name: string) => Float32Array {
  const inits = new Map(model.graph!.initializer.map((t) => [t.name, t]));
  return (name) => tensorArray(inits.get(name)!) as Float32Array;
}

function linear(x: Mat, w: Float32Array, b: Float32Array, out: number): Mat {
  return x.map((row) => Array.from({ length: out }, (_, j) => row.reduce((s, v, i) => s + v * w[i * out + j]!, b[j]!)));
}

function layerNorm(x: Mat): Mat {
  return x.map((row) => {
    const mean = row.reduce((s, v) => s + v, 0) / row.length;
    const variance = row.reduce((s, v) => s + (v - mean) ** 2, 0) / row.length;
    return row.map((v) => (v - mean) / Math.sqrt(variance + 1e-5));
  });
}

function erf(x: number): number {
  // Numerical Recipes' erfc approximation (fractional error < 1.2e-7), fine for a 1e-4 comparison.
  const t = 1 / (1 + 0.5 * Math.abs(x));
  const y =
    1 -
    t *
      Math.exp(
        -x * x -
          1.26551223 +
          t *
            (1.00002368 +
              t *
                (0.37409196 +
                  t *
                    (0.09678418 +
                      t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
      );
  return x >= 0 ? y : -y;
}

/** One sequence [seq][d] through the encoder, written from the textbook definition. */
function reference(model: ModelProto, x: Mat, layers: number, d: number, heads: number, ffn: number): Mat {
  const W = weights(model);
  const dh = d / heads;
  const add = (a: Mat, b: Mat) => a.map((r, i) => r.map((v, j) => v + b[i]![j]!));
  for (let l = 0; l < layers; l++) {
    const p = `layers.${l}`;
    const h = layerNorm(x);
    const q = linear(h, W(`${p}.attn.q_proj.weight`), W(`${p}.attn.q_proj.bias`), d);
    const k = linear(h, W(`${p}.attn.k_proj.weight`), W(`${p}.attn.k_proj.bias`), d);
    const v = linear(h, W(`${p}.attn.v_proj.weight`), W(`${p}.attn.v_proj.bias`), d);
    const ctx: Mat = x.map(() => new Array<number>(d).fill(0));
    for (let hd = 0; hd < heads; hd++) {
      for (let i = 0; i < x.length; i++) {
        const scores = x.map((_, j) => {
          let s = 0;
          for (let c = 0; c < dh; c++) s += q[i]![hd * dh + c]! * k[j]![hd * dh + c]!;
          return s / Math.sqrt(dh);
        });
        const max = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - max));
        const z = e.reduce((a, b) => a + b, 0);
        for (let j = 0; j < x.length; j++) for (let c = 0; c < dh; c++) ctx[i]![hd * dh + c]! += (e[j]! / z) * v[j]![hd * dh + c]!;
      }
    }
    x = add(x, linear(ctx, W(`${p}.attn.out_proj.weight`), W(`${p}.attn.out_proj.bias`), d));
    const f = linear(layerNorm(x), W(`${p}.ffn.fc1.weight`), W(`${p}.ffn.fc1.bias`), ffn).map((r) =>
      r.map((u) => 0.5 * u * (1 + erf(u / Math.SQRT2))),
    );
    x = add(x, linear(f, W(`${p}.ffn.fc2.weight`), W(`${p}.ffn.fc2.bias`), d));
  }
  return layerNorm(x);
}

test('the encoder graph matches a plain-JS encoder', async () => {
  const [layers, d, heads, ffn, seq, batch] = [2, 8, 2, 16, 5, 2];
  const model = transformer({ layers, dModel: d, heads, ffn, seed: 3 });
  const out = await runOnce(model, [batch, seq, d]);
  const got = out.data as Float32Array;
  for (let b = 0; b < batch; b++) {
    // runOnce's input: element i is sin(0.37·i)·1.5
    const x: Mat = Array.from({ length: seq }, (_, s) =>
      Array.from({ length: d }, (_, c) => Math.sin(((b * seq + s) * d + c) * 0.37) * 1.5),
    );
    const want = reference(model, x, layers, d, heads, ffn);
    for (let s = 0; s < seq; s++) {
      for (let c = 0; c < d; c++) {
        const g = got[(b * seq + s) * d + c]!;
        assert.ok(Math.abs(g - want[s]![c]!) < 1e-4, `[${b},${s},${c}]: ORT ${g}, reference ${want[s]![c]}`);
      }
    }
  }
});

test('the 4-layer d=256 encoder runs at batch 8 × seq 128', async () => {
  const out = await runOnce(transformer(), [8, 128, 256]);
  assert.deepEqual(out.dims, [8, 128, 256]);
  const data = out.data as Float32Array;
  assert.ok(data.every(Number.isFinite));
  // The final LayerNorm (gamma 1, beta 0) leaves each position with mean 0 and variance 1.
  const row = data.subarray(0, 256);
  const mean = row.reduce((s, v) => s + v, 0) / 256;
  assert.ok(Math.abs(mean) < 1e-4);
  assert.ok(Math.abs(row.reduce((s, v) => s + (v - mean) ** 2, 0) / 256 - 1) < 1e-2);
});

test('the classifier form: features projected to dModel with positions, logits = head(mean over the sequence)', async () => {
  const o = { inputSize: 3, seq: 5, maxSeq: 6, layers: 1, dModel: 8, heads: 2, ffn: 16, seed: 4 };
  const clf = transformer({ ...o, classes: 4 });
  assert.deepEqual(
    clf.graph!.input[0]!.type!.tensorType!.shape!.dim!.map((d) => d.dimParam || Number(d.dimValue)),
    ['batch', 5, 3],
  );
  // The same encoder without the head (the head's weights are drawn last, so the rest is identical).
  const enc = await runOnce(transformer(o), [2, 5, 3]);
  const logits = await runOnce(clf, [2, 5, 3]);
  assert.deepEqual(logits.dims, [2, 4]);
  const w = weights(clf)('head.weight');
  const bias = weights(clf)('head.bias');
  const h = enc.data as Float32Array;
  for (let b = 0; b < 2; b++) {
    const pooled = Array.from({ length: 8 }, (_, c) => {
      let s = 0;
      for (let t = 0; t < 5; t++) s += h[(b * 5 + t) * 8 + c]!;
      return s / 5;
    });
    for (let k = 0; k < 4; k++) {
      const want = pooled.reduce((s, v, c) => s + v * w[k * 8 + c]!, bias[k]!);
      const got = (logits.data as Float32Array)[b * 4 + k]!;
      assert.ok(Math.abs(got - want) < 1e-4, `[${b},${k}]: ${got} vs ${want}`);
    }
  }
  assert.throws(() => transformer({ ...o, vocab: 10 }), /give vocab \(token ids\) or inputSize \(features\), not both/);
  assert.throws(() => transformer({ ...o, seq: 7 }), /seq \(7\) is longer than maxSeq \(6\)/);
});
