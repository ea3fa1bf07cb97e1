import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { applyAugment, formatAugment, type ImageBatch, parseAugment, warpAffine } from '../../src/data/augment.js';
import { HoneError } from '../../src/errors.js';
import { mulberry32 } from '../../src/util/random.js';

const NO_LABELS = { data: new BigInt64Array(0) };

/** A batch whose values are all distinct and non-zero: sample i, channel ch, pixel (y, x) → 1 + index. */
function batch(n: number, c: number, h: number, w: number): ImageBatch {
  const data = new Float32Array(n * c * h * w);
  for (let k = 0; k < data.length; k++) data[k] = 1 + k;
  return { data, n, c, h, w };
}

function clone(b: ImageBatch): ImageBatch {
  return { ...b, data: b.data.slice() };
}

function at(b: ImageBatch, i: number, ch: number, y: number, x: number): number {
  return b.data[((i * b.c + ch) * b.h + y) * b.w + x]!;
}

function run(spec: string, b: ImageBatch, seed = 1): void {
  applyAugment(parseAugment(spec), b, { data: new BigInt64Array(b.n) }, seed);
}

function throwsHone(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof HoneError, `expected HoneError, got ${e}`);
    assert.match(e.message, pattern);
    assert.ok(!e.message.includes('\n'), 'one-line message');
    return true;
  });
}

describe('parseAugment / formatAugment', () => {
  it('parses steps and params, fills defaults, round-trips', () => {
    const spec = parseAugment('crop:pad=2, flip ,cutout:size=8');
    assert.deepEqual(spec.steps, [
      { op: 'crop', params: { pad: 2 } },
      { op: 'flip', params: { p: 0.5 } },
      { op: 'cutout', params: { size: 8, p: 1 } },
    ]);
    assert.equal(spec.mixesLabels, false);
    assert.equal(formatAugment(spec), 'crop:pad=2,flip:p=0.5,cutout:size=8:p=1');
    for (const text of [
      'crop:pad=2,flip,cutout:size=8',
      'vflip:p=0.25,rotate:deg=7.5,affine:deg=10:translate=0.05:scale=0.2:shear=3',
      'jitter:brightness=0.4:contrast=0.1:saturation=0.3:clamp=1,noise:std=1e-3',
      'normalize:std2=0.26:mean0=0.49:mean=0.5:std=0.25:mean1=0.48,mixup:alpha=0.4,cutmix:alpha=1:p=0.5',
    ]) {
      const once = parseAugment(text);
      const canonical = formatAugment(once);
      assert.deepEqual(parseAugment(canonical), once, canonical);
      assert.equal(formatAugment(parseAugment(canonical)), canonical);
    }
    assert.equal(formatAugment(parseAugment('normalize:std2=0.26:mean0=0.49:mean=0.5')), 'normalize:mean=0.5:std=1:mean0=0.49:std2=0.26');
    assert.equal(parseAugment('mixup').mixesLabels, true);
    assert.equal(parseAugment('flip,cutmix').mixesLabels, true);
    assert.deepEqual(parseAugment(''), { steps: [], mixesLabels: false });
    assert.deepEqual(parseAugment('  '), { steps: [], mixesLabels: false });
    assert.equal(formatAugment(parseAugment('')), '');
  });

  it('rejects bad specs with a one-line HoneError naming the problem', () => {
    throwsHone(() => parseAugment('blur'), /unknown op 'blur'.*crop, flip.*cutmix.*e\.g\./);
    throwsHone(() => parseAugment('toString'), /unknown op 'toString'/);
    throwsHone(() => parseAugment('__proto__'), /unknown op '__proto__'/);
    throwsHone(() => parseAugment('crop:constructor=1'), /no param 'constructor'/);
    throwsHone(() => parseAugment('crop:size=3'), /crop has no param 'size'.*params: pad/);
    throwsHone(() => parseAugment('crop:pad=-1'), /crop pad must be an integer >= 0, got -1/);
    throwsHone(() => parseAugment('crop:pad=1.5'), /pad must be an integer/);
    throwsHone(() => parseAugment('crop:pad=abc'), /pad must be a number, got 'abc'/);
    throwsHone(() => parseAugment('crop:pad'), /expected key=value/);
    throwsHone(() => parseAugment('crop:pad=1:pad=2'), /'pad' is given twice/);
    throwsHone(() => parseAugment('flip:p=1.5'), /flip p must be in \[0, 1\], got 1.5/);
    throwsHone(() => parseAugment('noise:std=0'), /noise std must be > 0/);
    throwsHone(() => parseAugment('mixup:alpha=0'), /mixup alpha must be > 0/);
    throwsHone(() => parseAugment('affine:scale=1'), /affine scale must be in \[0, 1\)/);
    throwsHone(() => parseAugment('jitter:clamp=2'), /clamp must be 0 or 1/);
    throwsHone(() => parseAugment('normalize'), /normalize needs mean=\/std=/);
    throwsHone(() => parseAugment('normalize:std=0'), /std must be > 0/);
    throwsHone(() => parseAugment('normalize:mean01=1'), /no param 'mean01'/);
    throwsHone(() => parseAugment('crop,,flip'), /step 2 is empty/);
    throwsHone(() => parseAugment('flip,'), /step 2 is empty/);
    // A hand-built spec is checked too, before any pixel changes.
    const b = batch(1, 1, 2, 2);
    const before = b.data.slice();
    throwsHone(() => applyAugment({ steps: [{ op: 'crop', params: { pad: -2 } }], mixesLabels: false }, b, NO_LABELS, 1), /pad must be/);
    throwsHone(
      () =>
        applyAugment(
          {
            steps: [
              { op: 'flip', params: { p: 1 } },
              { op: 'warp', params: {} },
            ],
            mixesLabels: false,
          },
          b,
          NO_LABELS,
          1,
        ),
      /unknown op 'warp'/,
    );
    throwsHone(() => run('normalize:mean3=1', batch(1, 3, 2, 2)), /mean3 names channel 3.*3 channel/);
    throwsHone(() => applyAugment(parseAugment('flip'), { ...b, n: 2 }, NO_LABELS, 1), /batch data has 4 values/);
    assert.deepEqual(b.data, before);
  });
});

describe('applyAugment', () => {
  it('is deterministic in the seed', () => {
    const spec =
      'crop:pad=4,flip,vflip,rotate:deg=20,affine:deg=5:shear=5,jitter:saturation=0.2,cutout:size=8,noise,mixup:alpha=0.5,cutmix';
    const outs = [1, 1, 2].map((seed) => {
      const b = batch(8, 3, 12, 10);
      const labels = { data: BigInt64Array.from({ length: 8 }, (_, i) => BigInt(i % 5)), classes: 5 };
      const y = applyAugment(parseAugment(spec), b, labels, seed);
      return { x: Buffer.from(b.data.buffer), y: Buffer.from((y.data as Float32Array).buffer) };
    });
    assert.ok(outs[0]!.x.equals(outs[1]!.x) && outs[0]!.y.equals(outs[1]!.y), 'same seed, same bytes');
    assert.ok(!outs[0]!.x.equals(outs[2]!.x), 'different seed, different images');
  });

  it('no steps: leaves images and labels alone', () => {
    const b = batch(2, 1, 3, 3);
    const labels = { data: new BigInt64Array([0n, 1n]) };
    assert.equal(applyAugment(parseAugment(''), b, labels, 5), labels);
    assert.deepEqual(b.data, batch(2, 1, 3, 3).data);
  });

  it('flip p=1 reverses every row; twice is the identity; p=0 does nothing', () => {
    const orig = batch(3, 2, 4, 5);
    const b = clone(orig);
    run('flip:p=1', b);
    for (let i = 0; i < 3; i++)
      for (let ch = 0; ch < 2; ch++)
        for (let y = 0; y < 4; y++) for (let x = 0; x < 5; x++) assert.equal(at(b, i, ch, y, x), at(orig, i, ch, y, 4 - x));
    run('flip:p=1', b, 7);
    assert.deepEqual(b.data, orig.data);
    run('flip:p=0', b);
    assert.deepEqual(b.data, orig.data);
    run('vflip:p=1', b);
    for (let y = 0; y < 4; y++) for (let x = 0; x < 5; x++) assert.equal(at(b, 2, 1, y, x), at(orig, 2, 1, 3 - y, x));
    run('vflip:p=1', b);
    assert.deepEqual(b.data, orig.data);
  });

  it('flip p=0.5 flips about half the samples', () => {
    const orig = batch(400, 1, 1, 2);
    const b = clone(orig);
    run('flip', b, 3);
    let flipped = 0;
    for (let i = 0; i < 400; i++) flipped += b.data[2 * i] === orig.data[2 * i + 1] ? 1 : 0;
    assert.ok(flipped > 150 && flipped < 250, `${flipped}`);
  });

  it('crop pad=0 is the identity; pad=P shifts each sample by at most P, zeros coming in', () => {
    const orig = batch(64, 3, 6, 7);
    const b = clone(orig);
    run('crop:pad=0', b);
    assert.deepEqual(b.data, orig.data);
    const P = 3;
    run(`crop:pad=${P}`, b, 11);
    const seen = new Set<string>();
    for (let i = 0; i < 64; i++) {
      // The shift follows from any non-zero pixel (values are distinct); every pixel must agree with it.
      let shift: [number, number] | undefined;
      for (let y = 0; y < 6 && !shift; y++)
        for (let x = 0; x < 7 && !shift; x++) {
          const v = at(b, i, 0, y, x);
          if (v === 0) continue;
          const k = v - 1 - i * 3 * 42;
          shift = [Math.floor(k / 7) - y, (k % 7) - x];
        }
      const [oy, ox] = shift ?? [P, P];
      assert.ok(Math.abs(oy) <= P && Math.abs(ox) <= P, `shift ${oy},${ox}`);
      seen.add(`${oy},${ox}`);
      for (let ch = 0; ch < 3; ch++)
        for (let y = 0; y < 6; y++)
          for (let x = 0; x < 7; x++) {
            const sy = y + oy;
            const sx = x + ox;
            const want = sy >= 0 && sy < 6 && sx >= 0 && sx < 7 ? at(orig, i, ch, sy, sx) : 0;
            assert.equal(at(b, i, ch, y, x), want, `sample ${i} ch ${ch} (${y},${x}) shift ${oy},${ox}`);
          }
    }
    assert.ok(seen.size > 10, 'shifts vary across samples');
  });

  it('cutout zeroes one size×size square per sample, clipped to the image, the same in every channel', () => {
    const S = 5;
    const orig = batch(200, 3, 9, 8);
    const b = clone(orig);
    run(`cutout:size=${S}`, b, 4);
    let clipped = 0;
    for (let i = 0; i < 200; i++) {
      let [y0, y1, x0, x1, zeros] = [99, -1, 99, -1, 0];
      for (let y = 0; y < 9; y++)
        for (let x = 0; x < 8; x++) {
          if (at(b, i, 0, y, x) !== 0) continue;
          zeros++;
          [y0, y1, x0, x1] = [Math.min(y0, y), Math.max(y1, y), Math.min(x0, x), Math.max(x1, x)];
        }
      const [bh, bw] = [y1 - y0 + 1, x1 - x0 + 1];
      assert.equal(zeros, bh * bw, 'the zeros form a filled rectangle');
      // Full size unless the box touches an edge, where it is clipped.
      assert.ok(bh === S || (bh < S && (y0 === 0 || y1 === 8)), `height ${bh} at rows ${y0}..${y1}`);
      assert.ok(bw === S || (bw < S && (x0 === 0 || x1 === 7)), `width ${bw} at cols ${x0}..${x1}`);
      if (bh < S || bw < S) clipped++;
      for (let ch = 0; ch < 3; ch++)
        for (let y = 0; y < 9; y++)
          for (let x = 0; x < 8; x++) {
            const inBox = y >= y0 && y <= y1 && x >= x0 && x <= x1;
            assert.equal(at(b, i, ch, y, x), inBox ? 0 : at(orig, i, ch, y, x));
          }
    }
    assert.ok(clipped > 0 && clipped < 200);
    const c = clone(orig);
    run('cutout:size=4:p=0', c);
    assert.deepEqual(c.data, orig.data);
  });

  it('rotate deg=0 and an all-zero affine are the identity', () => {
    const orig = batch(4, 3, 7, 9);
    for (const spec of ['rotate:deg=0', 'affine:deg=0:translate=0:scale=0:shear=0']) {
      const b = clone(orig);
      run(spec, b);
      assert.deepEqual(b.data, orig.data, spec);
    }
  });

  it('warpAffine: 90° turns the image counter-clockwise exactly; a whole-pixel shift moves it', () => {
    for (const n of [4, 5]) {
      const orig = batch(2, 2, n, n);
      const b = clone(orig);
      warpAffine(b, 1, { deg: 90 });
      for (let ch = 0; ch < 2; ch++)
        for (let y = 0; y < n; y++)
          for (let x = 0; x < n; x++) {
            // numpy rot90: out[y][x] = in[x][n-1-y]
            assert.ok(Math.abs(at(b, 1, ch, y, x) - at(orig, 1, ch, x, n - 1 - y)) < 1e-6, `n=${n} (${y},${x})`);
            assert.equal(at(b, 0, ch, y, x), at(orig, 0, ch, y, x), 'other samples untouched');
          }
    }
    const orig = batch(1, 1, 4, 5);
    const b = clone(orig);
    warpAffine(b, 0, { tx: 2, ty: -1 });
    for (let y = 0; y < 4; y++)
      for (let x = 0; x < 5; x++) {
        const [sy, sx] = [y + 1, x - 2];
        assert.equal(at(b, 0, 0, y, x), sy < 4 && sx >= 0 ? at(orig, 0, 0, sy, sx) : 0);
      }
    // Half a pixel: bilinear averages neighbours; the column shifted in from outside is half-weighted against 0.
    const c = batch(1, 1, 1, 3);
    warpAffine(c, 0, { tx: 0.5 });
    assert.deepEqual([...c.data], [0.5, 1.5, 2.5]);
  });

  it('rotate keeps values within the input range and zero-fills corners', () => {
    const b = { data: new Float32Array(16 * 16 * 10).fill(1), n: 10, c: 1, h: 16, w: 16 };
    run('rotate:deg=45', b, 9);
    assert.ok(b.data.every((v) => v >= 0 && v <= 1 + 1e-6));
    assert.ok(b.data.some((v) => v === 0));
  });

  it('noise has the requested std and ~zero mean', () => {
    const b = { data: new Float32Array(200_000).fill(3), n: 2000, c: 1, h: 10, w: 10 };
    run('noise:std=0.5', b, 123);
    let [sum, sq] = [0, 0];
    for (const v of b.data) {
      sum += v - 3;
      sq += (v - 3) ** 2;
    }
    const mean = sum / b.data.length;
    const std = Math.sqrt(sq / b.data.length - mean * mean);
    assert.ok(Math.abs(mean) < 0.01, `mean ${mean}`);
    assert.ok(Math.abs(std - 0.5) < 0.01, `std ${std}`);
  });

  it('normalize is (x - mean) / std, per channel where given', () => {
    const orig = batch(2, 3, 2, 3);
    const b = clone(orig);
    run('normalize:mean=0.5:std=2:mean1=-1:std2=0.25', b);
    const [means, stds] = [
      [0.5, -1, 0.5],
      [2, 2, 0.25],
    ];
    for (let i = 0; i < 2; i++)
      for (let ch = 0; ch < 3; ch++)
        for (let y = 0; y < 2; y++)
          for (let x = 0; x < 3; x++) assert.equal(at(b, i, ch, y, x), Math.fround((at(orig, i, ch, y, x) - means[ch]!) / stds[ch]!));
  });

  it('jitter: brightness scales, contrast keeps the mean grey, saturation keeps the grey; clamp=1 clamps', () => {
    const rand = mulberry32(42);
    const orig = { data: Float32Array.from({ length: 6 * 3 * 4 * 4 }, () => 0.05 + 0.9 * rand()), n: 6, c: 3, h: 4, w: 4 };
    const hw = 16;
    const grey = (d: Float32Array, i: number, j: number) =>
      0.2989 * d[i * 48 + j]! + 0.587 * d[i * 48 + hw + j]! + 0.114 * d[i * 48 + 2 * hw + j]!;
    // Brightness only: each sample is scaled by one factor in [0.5, 1.5].
    const b = clone(orig);
    run('jitter:brightness=0.5:contrast=0', b, 2);
    for (let i = 0; i < 6; i++) {
      const f = b.data[i * 48]! / orig.data[i * 48]!;
      assert.ok(f >= 0.5 && f <= 1.5, `${f}`);
      for (let k = i * 48; k < (i + 1) * 48; k++) assert.ok(Math.abs(b.data[k]! - f * orig.data[k]!) < 1e-5);
    }
    // Contrast only: the mean grey stays; saturation only: every pixel's grey stays (to 1e-4: torchvision's
    // luma weights 0.2989, 0.587, 0.114 sum to 0.9999).
    for (const spec of ['jitter:brightness=0:contrast=0.8', 'jitter:brightness=0:contrast=0:saturation=0.9']) {
      const c = clone(orig);
      run(spec, c, 3);
      assert.notDeepEqual(c.data, orig.data);
      for (let i = 0; i < 6; i++) {
        let [m0, m1] = [0, 0];
        for (let j = 0; j < hw; j++) {
          const [g0, g1] = [grey(orig.data, i, j), grey(c.data, i, j)];
          if (spec.includes('saturation')) assert.ok(Math.abs(g0 - g1) < 1e-4, spec);
          [m0, m1] = [m0 + g0, m1 + g1];
        }
        assert.ok(Math.abs(m0 - m1) / hw < 1e-4, spec);
      }
    }
    const d = clone(orig);
    run('jitter:brightness=3:contrast=3:saturation=3:clamp=1', d, 4);
    assert.ok(d.data.every((v) => v >= 0 && v <= 1));
    assert.ok(d.data.some((v) => v === 1 || v === 0));
  });

  it('mixup: rows of probabilities; each image is λ·a + (1-λ)·b for the λ the labels imply', () => {
    const n = 16;
    for (const seed of [1, 2, 3]) {
      const orig = batch(n, 2, 3, 3);
      const b = clone(orig);
      // Sample i has class i, so a label row names both partners and λ.
      const y = applyAugment(
        parseAugment('mixup:alpha=1'),
        b,
        { data: BigInt64Array.from({ length: n }, (_, i) => BigInt(i)), classes: n },
        seed,
      );
      assert.equal(y.classes, n);
      assert.ok(y.data instanceof Float32Array && y.data.length === n * n);
      let mixed = 0;
      for (let i = 0; i < n; i++) {
        const row = y.data.subarray(i * n, (i + 1) * n);
        assert.ok(Math.abs(row.reduce((s, v) => s + v, 0) - 1) < 1e-6);
        const lam = row[i]!;
        const others = [...row.keys()].filter((k) => k !== i && row[k]! > 0);
        assert.ok(others.length <= 1);
        const j = others[0] ?? i;
        if (j !== i) mixed++;
        for (let k = 0; k < 18; k++) {
          const want = lam * orig.data[i * 18 + k]! + (1 - lam) * orig.data[j * 18 + k]!;
          assert.ok(Math.abs(b.data[i * 18 + k]! - want) < 1e-3, `seed ${seed} sample ${i}`);
        }
      }
      assert.ok(mixed > n / 2);
    }
  });

  it('mixup with probability labels mixes them', () => {
    const b = batch(2, 1, 1, 2);
    const labels = { data: new Float32Array([0.75, 0.25, 0, 1]), classes: 2 };
    const y = applyAugment(parseAugment('mixup'), b, labels, 5);
    assert.ok(y.data instanceof Float32Array && y.data !== labels.data && y.classes === 2);
    assert.deepEqual([...labels.data], [0.75, 0.25, 0, 1], 'input labels untouched');
    for (let i = 0; i < 2; i++) assert.ok(Math.abs(y.data[2 * i]! + y.data[2 * i + 1]! - 1) < 1e-6);
  });

  it('cutmix: each pixel is from a or its partner; the partner weight is the pasted area fraction', () => {
    const n = 12;
    let pasted = 0;
    for (const seed of [1, 2, 3, 4, 5]) {
      const orig = batch(n, 3, 8, 10);
      const per = 3 * 80;
      const b = clone(orig);
      const y = applyAugment(
        parseAugment('cutmix:alpha=1'),
        b,
        { data: BigInt64Array.from({ length: n }, (_, i) => BigInt(i)), classes: n },
        seed,
      );
      for (let i = 0; i < n; i++) {
        const row = (y.data as Float32Array).subarray(i * n, (i + 1) * n);
        assert.ok(Math.abs(row.reduce((s, v) => s + v, 0) - 1) < 1e-6);
        const others = [...row.keys()].filter((k) => k !== i && row[k]! > 0);
        assert.ok(others.length <= 1);
        const j = others[0];
        let fromJ = 0;
        for (let k = 0; k < per; k++) {
          const v = b.data[i * per + k]!;
          if (v === orig.data[i * per + k]) continue;
          assert.ok(j !== undefined && v === orig.data[j * per + k], `seed ${seed} sample ${i} pixel ${k} comes from neither`);
          fromJ++;
        }
        assert.equal(fromJ % 3, 0, 'same box in every channel');
        assert.ok(
          Math.abs((j === undefined ? 0 : row[j]!) - fromJ / per) < 1e-6,
          `weight ${j === undefined ? 0 : row[j]} vs area ${fromJ / per}`,
        );
        pasted += fromJ;
      }
    }
    assert.ok(pasted > 0);
    // p=0: images untouched, labels still one-hot probabilities.
    const b = batch(3, 1, 4, 4);
    const y = applyAugment(parseAugment('cutmix:p=0'), b, { data: new BigInt64Array([2n, 0n, 1n]), classes: 3 }, 1);
    assert.deepEqual(b.data, batch(3, 1, 4, 4).data);
    assert.deepEqual([...y.data], [0, 0, 1, 1, 0, 0, 0, 1, 0]);
  });

  it('mixing class-index labels needs classes, and labels in range', () => {
    const b = batch(2, 1, 2, 2);
    const before = b.data.slice();
    throwsHone(() => applyAugment(parseAugment('flip:p=1,mixup'), b, { data: new BigInt64Array([0n, 1n]) }, 1), /need the class count/);
    throwsHone(
      () => applyAugment(parseAugment('cutmix'), b, { data: new BigInt64Array([0n, 3n]), classes: 3 }, 1),
      /label 3 of sample 1 is outside/,
    );
    throwsHone(() => applyAugment(parseAugment('mixup'), b, { data: new Float32Array(5), classes: 2 }, 1), /5 label probabilities/);
    assert.deepEqual(b.data, before, 'nothing changed before the throw');
  });

  it('works on empty and single-pixel batches', () => {
    const spec = parseAugment('crop:pad=2,flip,vflip,rotate,affine,jitter,cutout,noise,normalize:mean=1,mixup,cutmix');
    const e = applyAugment(spec, { data: new Float32Array(0), n: 0, c: 3, h: 4, w: 4 }, { data: new BigInt64Array(0), classes: 2 }, 1);
    assert.equal(e.data.length, 0);
    const one = { data: new Float32Array([0.5]), n: 1, c: 1, h: 1, w: 1 };
    const y = applyAugment(spec, one, { data: new BigInt64Array([1n]), classes: 2 }, 1);
    assert.deepEqual([...y.data], [0, 1]);
    assert.ok(Number.isFinite(one.data[0]!));
  });
});
