// Readers for CSV, JSON lines, MNIST IDX and image folders, on fixtures built here in a temporary folder.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import sharp from 'sharp';
import type { ArrayTensor } from '../../src/data/dataset.js';
import {
  decodeImage,
  isImageFolder,
  listImageFolder,
  readCsv,
  readIdx,
  readIdxPair,
  readImageFolder,
  readJsonl,
} from '../../src/data/readers.js';
import { HoneError } from '../../src/errors.js';

const root = mkdtempSync(join(tmpdir(), 'hone-readers-'));
after(() => rmSync(root, { recursive: true, force: true }));

let fileNo = 0;
/** Writes a fixture file and returns its path. */
function fixture(name: string, content: string | Uint8Array): string {
  const dir = join(root, `f${fileNo++}`);
  mkdirSync(dir, { recursive: true });
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

/** Asserts that fn throws a HoneError (exit 2) whose message matches every pattern. */
function throwsBad(fn: () => unknown, ...patterns: (string | RegExp)[]): void {
  assert.throws(fn, (e: unknown) => checkBad(e, patterns));
}
async function rejectsBad(p: Promise<unknown>, ...patterns: (string | RegExp)[]): Promise<void> {
  await assert.rejects(p, (e: unknown) => checkBad(e, patterns));
}
function checkBad(e: unknown, patterns: (string | RegExp)[]): true {
  assert.ok(e instanceof HoneError, `expected a HoneError, got ${e}`);
  assert.equal(e.exitCode, 2);
  assert.ok(!e.message.includes('\n'), `one-line message: ${e.message}`);
  for (const p of patterns) {
    if (typeof p === 'string') assert.ok(e.message.includes(p), `'${e.message}' should include '${p}'`);
    else assert.match(e.message, p);
  }
  return true;
}

const f32 = (...v: number[]) => Float32Array.from(v);
const i64 = (...v: number[]) => BigInt64Array.from(v, BigInt);
const unit = (v: number) => Math.fround(v / 255);

function assertTensor(t: ArrayTensor | undefined, data: ArrayTensor['data'], dims: number[]): void {
  assert.ok(t, 'array missing');
  assert.deepEqual(t.dims, dims);
  assert.equal(t.data.constructor, data.constructor);
  assert.deepEqual(t.data, data);
}

describe('readCsv', () => {
  test('header naming a label column: it becomes int64 labels, the rest float32 features', () => {
    const p = fixture('a.csv', 'a,label,b\n1,2,3.5\n4,5,-6e-1\n');
    const r = readCsv(p);
    assert.deepEqual(Object.keys(r).sort(), ['input', 'label']);
    assertTensor(r.input, f32(1, 3.5, 4, -0.6), [2, 2]);
    assertTensor(r.label, i64(2, 5), [2]);
  });

  test('other label names (target, case-insensitive Class), float labels stay float32', () => {
    const r = readCsv(fixture('a.csv', 'x1,x2,target\n1,2,0.5\n3,4,1\n'));
    assertTensor(r.input, f32(1, 2, 3, 4), [2, 2]);
    assertTensor(r.label, f32(0.5, 1), [2]);
    const r2 = readCsv(fixture('a.csv', 'Class,x\n7,1\n8,2\n'));
    assertTensor(r2.label, i64(7, 8), [2]);
    assertTensor(r2.input, f32(1, 2), [2, 1]);
  });

  test('no header: every column is a feature unless a label column is given by index', () => {
    const p = fixture('a.csv', '1,2,3\n4,5,6\n');
    const none = readCsv(p);
    assert.deepEqual(Object.keys(none), ['input']);
    assertTensor(none.input, f32(1, 2, 3, 4, 5, 6), [2, 3]);
    const first = readCsv(p, { labelColumn: 0 });
    assertTensor(first.input, f32(2, 3, 5, 6), [2, 2]);
    assertTensor(first.label, i64(1, 4), [2]);
    const last = readCsv(p, { labelColumn: -1 });
    assertTensor(last.input, f32(1, 2, 4, 5), [2, 2]);
    assertTensor(last.label, i64(3, 6), [2]);
    assertTensor(readCsv(p, { labelColumn: '1' }).label, i64(2, 5), [2]);
  });

  test('label column given by header name overrides the automatic label column', () => {
    const p = fixture('a.csv', 'label,b,c\n1,2,3\n4,5,6\n');
    const r = readCsv(p, { labelColumn: 'c' });
    assertTensor(r.label, i64(3, 6), [2]);
    assertTensor(r.input, f32(1, 2, 4, 5), [2, 2]);
  });

  test('quoted fields, CRLF, blank lines, a byte-order mark, nan and inf', () => {
    const p = fixture('a.csv', '\ufeff"f,1","label"\r\n"1.5",2\r\n\r\n  \n"-2", "3"\r\nnan,4\n-inf,5\n');
    const r = readCsv(p);
    assertTensor(r.label, i64(2, 3, 4, 5), [4]);
    assert.equal(r.input!.data[0], 1.5);
    assert.equal(r.input!.data[1], -2);
    assert.ok(Number.isNaN(r.input!.data[2]));
    assert.equal(r.input!.data[3], -Infinity);
  });

  test("';' and tab separators are detected when the first line has no comma; opts.separator overrides", () => {
    const semi = readCsv(fixture('a.csv', 'a;y\n1.5;2\n2.5;3\n'));
    assertTensor(semi.input, f32(1.5, 2.5), [2, 1]);
    assertTensor(semi.label, i64(2, 3), [2]);
    assertTensor(readCsv(fixture('a.tsv', '1\t2\n3\t4\n'), { labelColumn: 1 }).label, i64(2, 4), [2]);
    assertTensor(readCsv(fixture('a.txt', '1|2\n3|4\n'), { separator: '|' }).input, f32(1, 2, 3, 4), [2, 2]);
    // A decimal comma is not a number: the cell is named.
    throwsBad(() => readCsv(fixture('a.csv', 'a;y\n1,5;2\n')), 'line 2, column 1', "('a')", "'1,5' is not a number");
  });

  test('a non-numeric or empty cell names the line and column; a row of the wrong width names both lines', () => {
    const bad = fixture('bad.csv', 'a,b,label\n1,2,0\n\n3,x7,1\n');
    throwsBad(() => readCsv(bad), bad, 'line 4, column 2', "('b')", "'x7' is not a number");
    throwsBad(() => readCsv(fixture('a.csv', '1,2\n3,\n')), 'line 2, column 2 is empty');
    const wide = fixture('wide.csv', '1,2,3\n4,5,6\n7,8\n');
    throwsBad(() => readCsv(wide), wide, 'line 3 has 2 cells but line 1 has 3');
    throwsBad(() => readCsv(fixture('a.csv', '1,"2\n')), 'line 1', 'not closed');
  });

  test('bad label columns, empty files and missing files are named', () => {
    const p = fixture('a.csv', 'a,b\n1,2\n');
    throwsBad(() => readCsv(p, { labelColumn: 'zz' }), "no column 'zz'", 'columns: a, b');
    throwsBad(() => readCsv(p, { labelColumn: 2 }), 'label column 2 is out of range', '2 columns');
    throwsBad(() => readCsv(fixture('a.csv', '1,2\n'), { labelColumn: 'y' }), 'no header row');
    throwsBad(() => readCsv(fixture('a.csv', 'a,b\n')), 'no data rows');
    throwsBad(() => readCsv(fixture('a.csv', 'label\n1\n')), 'no feature columns');
    throwsBad(() => readCsv(join(root, 'missing.csv')), 'cannot read', 'no such file');
  });
});

describe('readJsonl', () => {
  test('nested arrays become [n, ...shape] float32; integer labels int64; blank lines skipped', () => {
    const p = fixture('a.jsonl', '{"input": [[1, 2], [3, 4], [5, 6]], "label": 3}\n\n{"input": [[0.5, 0], [0, 0], [0, -1]], "label": 1}\n');
    const r = readJsonl(p);
    assertTensor(r.input, f32(1, 2, 3, 4, 5, 6, 0.5, 0, 0, 0, 0, -1), [2, 3, 2]);
    assertTensor(r.label, i64(3, 1), [2]);
  });

  test('every key becomes an array; a non-integer label stays float32; other keys are float32 even when integer', () => {
    const r = readJsonl(fixture('a.jsonl', '{"x": [1, 2], "y": 0.5, "w": 2}\r\n{"x": [3, 4], "y": 1, "w": 3}\r\n'));
    assertTensor(r.x, f32(1, 2, 3, 4), [2, 2]);
    assertTensor(r.y, f32(0.5, 1), [2]);
    assertTensor(r.w, f32(2, 3), [2]);
  });

  test('ragged, differently shaped, missing, extra and non-numeric values name the line and key', () => {
    const ragged = fixture('a.jsonl', '{"input": [[1, 2], [3, 4]]}\n{"input": [[1, 2], [3]]}\n');
    throwsBad(() => readJsonl(ragged), ragged, "line 2, 'input' is ragged");
    throwsBad(
      () => readJsonl(fixture('a.jsonl', '{"input": [1, 2]}\n{"input": [1, 2, 3]}\n')),
      "line 2, 'input' has shape [3] but line 1 has [2]",
    );
    throwsBad(() => readJsonl(fixture('a.jsonl', '{"x": 1, "y": 2}\n{"x": 1}\n')), "line 2 has no 'y'");
    throwsBad(() => readJsonl(fixture('a.jsonl', '{"x": 1}\n{"x": 1, "z": 2}\n')), "line 2 has key 'z'");
    throwsBad(() => readJsonl(fixture('a.jsonl', '{"x": [1, "a"]}\n')), "line 1, 'x' holds a string");
    throwsBad(() => readJsonl(fixture('a.jsonl', '{"x": 1}\n{"x": 1\n')), 'line 2 is not valid JSON');
    throwsBad(() => readJsonl(fixture('a.jsonl', '[1, 2]\n')), 'line 1 is not a JSON object');
    throwsBad(() => readJsonl(fixture('a.jsonl', '\n')), 'has no lines');
  });
});

/** An IDX file: magic 00 00 type ndims, big-endian dims, then the (big-endian) values. */
function idx(type: number, dims: number[], values: number[]): Uint8Array {
  const size = { 8: 1, 9: 1, 11: 2, 12: 4, 13: 4, 14: 8 }[type]!;
  const out = new Uint8Array(4 + 4 * dims.length + size * values.length);
  const dv = new DataView(out.buffer);
  out.set([0, 0, type, dims.length]);
  dims.forEach((d, i) => dv.setUint32(4 + 4 * i, d, false));
  const at = 4 + 4 * dims.length;
  values.forEach((v, i) => {
    const o = at + size * i;
    if (type === 0x08) dv.setUint8(o, v);
    else if (type === 0x09) dv.setInt8(o, v);
    else if (type === 0x0b) dv.setInt16(o, v, false);
    else if (type === 0x0c) dv.setInt32(o, v, false);
    else if (type === 0x0d) dv.setFloat32(o, v, false);
    else dv.setFloat64(o, v, false);
  });
  return out;
}

describe('readIdx / readIdxPair', () => {
  const pixels = Array.from({ length: 3 * 2 * 2 }, (_, i) => (i * 23) % 256);
  const images = idx(0x08, [3, 2, 2], pixels);
  const labels = idx(0x08, [3], [7, 0, 9]);

  test('ubyte images as Uint8Array, or float32 / 255 with scale; gzip detected by its magic bytes', () => {
    const p = fixture('train-images-idx3-ubyte', images);
    assertTensor(readIdx(p), Uint8Array.from(pixels), [3, 2, 2]);
    assertTensor(readIdx(p, { scale: true }), Float32Array.from(pixels, unit), [3, 2, 2]);
    const gz = fixture('images.bin', gzipSync(images)); // no .gz suffix: found by magic
    assertTensor(readIdx(gz), Uint8Array.from(pixels), [3, 2, 2]);
  });

  test('sbyte, short, int, float and double, big-endian', () => {
    assertTensor(readIdx(fixture('a', idx(0x09, [3], [-1, 0, 127]))), Int8Array.from([-1, 0, 127]), [3]);
    assertTensor(readIdx(fixture('a', idx(0x0b, [2], [-300, 1000]))), Int16Array.from([-300, 1000]), [2]);
    assertTensor(readIdx(fixture('a', idx(0x0c, [1, 2], [-70000, 123456]))), Int32Array.from([-70000, 123456]), [1, 2]);
    assertTensor(readIdx(fixture('a', idx(0x0d, [2], [1.5, -0.25]))), f32(1.5, -0.25), [2]);
    assertTensor(readIdx(fixture('a', idx(0x0e, [2], [0.1, 1e300]))), Float64Array.from([0.1, 1e300]), [2]);
  });

  test('a pair: input float32 [n, 1, h, w] in [0, 1] and int64 labels, plain or gzipped', () => {
    const expect = (r: Record<string, ArrayTensor>) => {
      assertTensor(r.input, Float32Array.from(pixels, unit), [3, 1, 2, 2]);
      assertTensor(r.label, i64(7, 0, 9), [3]);
    };
    expect(readIdxPair(fixture('i', images), fixture('l', labels)));
    expect(readIdxPair(fixture('i.gz', gzipSync(images)), fixture('l.gz', gzipSync(labels))));
  });

  test('wrong magic, wrong length, count mismatch and swapped files are errors', () => {
    const png = fixture('x.idx', new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0]));
    throwsBad(() => readIdx(png), png, 'is not an IDX file', 'magic bytes 89 50 4e 47');
    throwsBad(() => readIdx(fixture('a', idx(0x08, [3, 2, 2], pixels).subarray(0, 20))), 'truncated');
    throwsBad(() => readIdx(fixture('a', gzipSync(images).subarray(0, 15))), 'damaged gzip');
    const imgs = fixture('imgs', images);
    const two = fixture('two', idx(0x08, [2], [1, 2]));
    throwsBad(() => readIdxPair(imgs, two), imgs, 'has 3 images', two, 'has 2 labels');
    throwsBad(() => readIdxPair(two, imgs), 'swap');
    throwsBad(() => readIdxPair(imgs, fixture('f', idx(0x0d, [3], [0, 1, 2]))), 'floating-point');
  });
});

// --- images -------------------------------------------------------------------------------------------

type Rgb = { r: number; g: number; b: number };
const solid = (width: number, height: number, background: Rgb) => sharp({ create: { width, height, channels: 3, background } });
/** A lossless PNG of raw HWC bytes (1 channel: a true grey PNG). */
function rawPng(data: number[], width: number, height: number, channels: 1 | 3 | 4): Promise<Buffer> {
  const s = sharp(Buffer.from(data), { raw: { width, height, channels } });
  return (channels === 1 ? s.toColourspace('b-w') : s).png().toBuffer();
}
/** HWC bytes → the CHW float32 / 255 Hone decodes to. */
function chw(data: number[], h: number, w: number, c: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let p = 0; p < h * w; p++) for (let k = 0; k < c; k++) out[k * h * w + p] = unit(data[p * c + k]!);
  return out;
}
function folder(name: string, files: Record<string, Uint8Array | string>): string {
  const dir = join(root, name);
  for (const [rel, bytes] of Object.entries(files)) {
    mkdirSync(join(dir, rel, '..'), { recursive: true });
    writeFileSync(join(dir, rel), bytes);
  }
  return dir;
}

describe('decodeImage', () => {
  const rgb = [255, 0, 0, 0, 128, 0, 1, 2, 3, 250, 251, 252, 10, 20, 30, 99, 100, 101]; // 3×2 RGB
  const grey = [0, 50, 100, 255, 7, 9]; // 3×2 grey

  test('an RGB PNG decodes exactly to CHW / 255', async () => {
    const d = await decodeImage(await rawPng(rgb, 3, 2, 3));
    assert.deepEqual([d.c, d.h, d.w], [3, 2, 3]);
    assert.deepEqual(d.data, chw(rgb, 2, 3, 3));
  });

  test('lossless WebP is exact too; alpha is dropped', async () => {
    const webp = await sharp(Buffer.from(rgb), { raw: { width: 3, height: 2, channels: 3 } })
      .webp({ lossless: true })
      .toBuffer();
    assert.deepEqual((await decodeImage(webp)).data, chw(rgb, 2, 3, 3));
    const rgba = rgb.flatMap((v, i) => (i % 3 === 2 ? [v, 77] : [v]));
    const d = await decodeImage(await rawPng(rgba, 3, 2, 4));
    assert.equal(d.c, 3);
    assert.deepEqual(d.data, chw(rgb, 2, 3, 3));
  });

  test('a grey PNG stays 1 channel; channels: 3 gives three equal planes', async () => {
    const png = await rawPng(grey, 3, 2, 1);
    const d = await decodeImage(png);
    assert.deepEqual([d.c, d.h, d.w], [1, 2, 3]);
    assert.deepEqual(d.data, chw(grey, 2, 3, 1));
    const d3 = await decodeImage(png, { channels: 3 });
    assert.equal(d3.c, 3);
    for (let k = 0; k < 3; k++) assert.deepEqual(d3.data.subarray(k * 6, k * 6 + 6), chw(grey, 2, 3, 1));
  });

  test("channels: 1 on colour uses PIL's luma (torchvision Grayscale)", async () => {
    const d = await decodeImage(await rawPng(rgb, 3, 2, 3), { channels: 1 });
    assert.equal(d.c, 1);
    const luma = Array.from(
      { length: 6 },
      (_, p) => (rgb[3 * p]! * 19595 + rgb[3 * p + 1]! * 38470 + rgb[3 * p + 2]! * 7471 + 0x8000) >> 16,
    );
    assert.deepEqual(luma.slice(0, 2), [76, 75]); // pure red, half green
    assert.deepEqual(d.data, chw(luma, 2, 3, 1));
  });

  test('a JPEG decodes approximately', async () => {
    const jpg = await solid(16, 8, { r: 200, g: 40, b: 90 }).jpeg({ quality: 95 }).toBuffer();
    const d = await decodeImage(jpg);
    assert.deepEqual([d.c, d.h, d.w], [3, 8, 16]);
    const hw = 8 * 16;
    [200, 40, 90].forEach((v, k) => {
      for (let p = 0; p < hw; p++)
        assert.ok(Math.abs(d.data[k * hw + p]! - v / 255) < 4 / 255, `channel ${k}: ${d.data[k * hw + p]! * 255}`);
    });
  });

  test('fit modes give the requested size: stretch, centre-crop, letterbox with zeros', async () => {
    // 8×2: columns 0-1 red, 2-5 green, 6-7 blue.
    const stripes = Array.from({ length: 2 }, () =>
      Array.from({ length: 8 }, (_, x) => (x < 2 ? [255, 0, 0] : x < 6 ? [0, 255, 0] : [0, 0, 255])).flat(),
    ).flat();
    const png = await rawPng(stripes, 8, 2, 3);
    for (const fit of ['resize', 'cover', 'contain'] as const) {
      const d = await decodeImage(png, { width: 4, height: 6, fit });
      assert.deepEqual([d.c, d.h, d.w], [3, 6, 4], fit);
      assert.equal(d.data.length, 3 * 6 * 4);
    }
    const cover = await decodeImage(png, { width: 2, height: 2, fit: 'cover' }); // the centre: green only
    assert.deepEqual(
      Array.from(cover.data, (v) => Math.round(v)),
      [0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0],
    );
    const contain = await decodeImage(await rawPng(Array(8 * 2 * 3).fill(255), 8, 2, 3), { width: 4, height: 4, fit: 'contain' });
    const rows = Array.from({ length: 4 }, (_, y) => Array.from(contain.data.subarray(y * 4, y * 4 + 4)));
    assert.deepEqual(rows[0], [0, 0, 0, 0]); // zero padding above and below
    assert.deepEqual(rows[3], [0, 0, 0, 0]);
    assert.ok(rows.some((r) => r.every((v) => v === 1)));
    const stretched = await decodeImage(await rawPng(Array(8 * 2 * 3).fill(255), 8, 2, 3), { width: 4, height: 4 });
    assert.ok(stretched.data.every((v) => v === 1)); // default fit: stretch, no padding
    const same = await decodeImage(png, { width: 8, height: 2 });
    assert.deepEqual(same.data, chw(stripes, 2, 8, 3));
  });

  test('bad bytes and half a size are errors', async () => {
    await rejectsBad(decodeImage(new Uint8Array([1, 2, 3, 4])), 'cannot decode the image');
    await rejectsBad(decodeImage(await rawPng(grey, 3, 2, 1), { width: 4 }), 'both width and height', '--resize WxH');
  });
});

describe('image folders', () => {
  test('listing: classes sorted, labels their indices, entries by class then name; hidden and top-level files skipped', async () => {
    const png = await solid(2, 2, { r: 1, g: 2, b: 3 }).png().toBuffer();
    const dir = folder('list', {
      'zebra/b.png': png,
      'zebra/a.JPG': png,
      'cat/2.webp': png,
      'cat/10.png': png,
      'cat/.DS_Store': 'x',
      'cat/sub/0.png': png,
      '.git/x.png': png,
      'README.txt': 'hello',
      'dog/x.jpeg': png,
    });
    const l = listImageFolder(dir);
    assert.deepEqual(l.classes, ['cat', 'dog', 'zebra']);
    assert.deepEqual(
      l.entries.map((e) => [e.path.slice(dir.length + 1), e.label]),
      [
        ['cat/10.png', 0],
        ['cat/2.webp', 0],
        ['cat/sub/0.png', 0],
        ['dog/x.jpeg', 1],
        ['zebra/a.JPG', 2],
        ['zebra/b.png', 2],
      ],
    );
    assert.equal(isImageFolder(dir), true);
    assert.equal(isImageFolder(join(dir, 'dog')), false); // images, but no class folders
    assert.equal(isImageFolder(join(dir, 'README.txt')), false);
    assert.equal(isImageFolder(join(root, 'nowhere')), false);
  });

  test('listing errors: a non-image file (unless ignoreOther), an empty class, no classes, no folder', async () => {
    const png = await solid(2, 2, { r: 1, g: 2, b: 3 }).png().toBuffer();
    const dir = folder('other', { 'a/1.png': png, 'a/notes.txt': 'x', 'b/2.png': png });
    throwsBad(() => listImageFolder(dir), join(dir, 'a', 'notes.txt'), 'is not a .jpg', 'move it out of the class folders');
    assert.equal(listImageFolder(dir, { ignoreOther: true }).entries.length, 2);
    const empty = folder('emptyclass', { 'a/1.png': png, 'b/notes.txt': 'x' });
    throwsBad(() => listImageFolder(empty, { ignoreOther: true }), join(empty, 'b'), 'has no images');
    const flat = folder('flat', { '1.png': png, '2.png': png });
    throwsBad(() => listImageFolder(flat), 'no class subfolders', 'holds 2 images directly');
    throwsBad(() => listImageFolder(join(root, 'nowhere')), 'no such folder', '--data');
    throwsBad(() => listImageFolder(join(flat, '1.png')), 'is not a folder');
  });

  test('readImageFolder: labels, class order, exact PNG and lossless WebP pixels, approximate JPEG, in listing order', async () => {
    // 14 solid-colour images over classes a, b, c (written in no particular order); more than the 8 decoded at a time.
    const colourOf: Record<string, Rgb> = {};
    const files: Record<string, Uint8Array> = {};
    for (let i = 0; i < 14; i++) {
      const rel = i === 12 ? 'c/99.jpg' : i === 13 ? 'c/98.webp' : `${['b', 'c', 'a'][i % 3]}/${String(i).padStart(2, '0')}.png`;
      const colour = (colourOf[rel] = { r: i * 19, g: 255 - i * 7, b: (i * 50) % 256 });
      const s = solid(4, 3, colour);
      files[rel] = await (i === 12 ? s.jpeg({ quality: 95 }) : i === 13 ? s.webp({ lossless: true }) : s.png()).toBuffer();
    }
    const dir = folder('read', files);
    const { arrays, classes } = await readImageFolder(dir);
    assert.deepEqual(classes, ['a', 'b', 'c']);
    const rels = listImageFolder(dir).entries.map((e) => e.path.slice(dir.length + 1));
    assert.deepEqual(
      rels,
      ['a/02.png', 'a/05.png', 'a/08.png', 'a/11.png', 'b/00.png', 'b/03.png', 'b/06.png', 'b/09.png'].concat([
        'c/01.png',
        'c/04.png',
        'c/07.png',
        'c/10.png',
        'c/98.webp',
        'c/99.jpg',
      ]),
    );
    assertTensor(arrays.label, i64(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2), [14]);
    assert.deepEqual(arrays.input!.dims, [14, 3, 3, 4]);
    const x = arrays.input!.data as Float32Array;
    rels.forEach((rel, i) => {
      const { r, g, b } = colourOf[rel]!;
      const img = x.subarray(i * 36, (i + 1) * 36);
      [r, g, b].forEach((v, k) => {
        for (let p = 0; p < 12; p++) {
          if (rel.endsWith('.jpg')) assert.ok(Math.abs(img[k * 12 + p]! - v / 255) < 4 / 255, rel);
          else assert.equal(img[k * 12 + p], unit(v), rel);
        }
      });
    });
  });

  test('mixed sizes without a size name two files and --resize; with width/height they are resized', async () => {
    const dir = folder('mixed', {
      'a/1.png': await solid(6, 4, { r: 9, g: 9, b: 9 }).png().toBuffer(),
      'a/2.png': await solid(6, 4, { r: 9, g: 9, b: 9 }).png().toBuffer(),
      'b/1.webp': await solid(5, 7, { r: 9, g: 9, b: 9 }).webp().toBuffer(),
      'b/2.jpg': await solid(6, 4, { r: 9, g: 9, b: 9 }).jpeg().toBuffer(),
    });
    await rejectsBad(
      readImageFolder(dir),
      'images differ in size',
      `${join(dir, 'a', '1.png')} is 6×4`,
      `${join(dir, 'b', '1.webp')} is 5×7`,
      '--resize WxH (e.g. --resize 6x4)',
    );
    for (const fit of ['resize', 'cover', 'contain'] as const) {
      const r = await readImageFolder(dir, { width: 8, height: 8, fit });
      assert.deepEqual(r.arrays.input!.dims, [4, 3, 8, 8], fit);
    }
  });

  test('mixed channels follow the majority, or opts.channels', async () => {
    const g = await rawPng([10, 20, 30, 40], 2, 2, 1);
    const dir = folder('channels', {
      'a/1.png': g,
      'a/2.png': g,
      'b/3.png': await rawPng([255, 0, 0, 255, 0, 0, 255, 0, 0, 255, 0, 0], 2, 2, 3),
    });
    const r = await readImageFolder(dir);
    assert.deepEqual(r.arrays.input!.dims, [3, 1, 2, 2]);
    const x = r.arrays.input!.data;
    assert.deepEqual(x.subarray(0, 4), f32(...[10, 20, 30, 40].map(unit)));
    assert.deepEqual(x.subarray(8, 12), f32(...Array(4).fill(unit(76)))); // red → PIL luma 76
    const r3 = await readImageFolder(dir, { channels: 3 });
    assert.deepEqual(r3.arrays.input!.dims, [3, 3, 2, 2]);
    assert.deepEqual(r3.arrays.input!.data.subarray(0, 12), f32(...Array(3).fill([10, 20, 30, 40].map(unit)).flat()));
  });

  test('an image that does not decode is named', async () => {
    const dir = folder('corrupt', {
      'a/1.png': await solid(2, 2, { r: 0, g: 0, b: 0 }).png().toBuffer(),
      'a/2.png': 'not a png',
    });
    await rejectsBad(readImageFolder(dir), `cannot decode ${join(dir, 'a', '2.png')}`);
  });
});
