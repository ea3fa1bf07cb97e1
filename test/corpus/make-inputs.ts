/**
 * Regenerates the corpus's real inputs (test/corpus/inputs/*.npy.gz): rendered text for the PaddleOCR
 * models, drawn line scenes for M-LSD, and synthesized speech for Silero VAD and openWakeWord. Quantized
 * models are judged on these, not on noise. Needs ImageMagick's `convert`, DejaVu fonts, `espeak-ng` and
 * `sox` (Debian: imagemagick fonts-dejavu-core espeak-ng sox); the outputs are committed, so tests need none
 * of them. Run: npx tsx test/corpus/make-inputs.ts
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { encodeNpy } from '../../src/data/npy.js';

const OUT = join(dirname(fileURLToPath(import.meta.url)), 'inputs');

/** A grayscale image from ImageMagick drawing arguments, as H×W bytes. */
function render(w: number, h: number, background: string, draw: string[]): Uint8Array {
  return execFileSync('convert', ['-size', `${w}x${h}`, `xc:${background}`, ...draw, '-colorspace', 'Gray', '-depth', '8', 'gray:-'], {
    maxBuffer: 1 << 26,
  });
}

function save(name: string, data: Uint8Array | Int32Array, dims: number[]): void {
  writeFileSync(join(OUT, `${name}.npy.gz`), gzipSync(encodeNpy(data, dims), { level: 9 }));
}

function stack(images: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(images.reduce((a, i) => a + i.length, 0));
  let at = 0;
  for (const i of images) {
    out.set(i, at);
    at += i.length;
  }
  return out;
}

const FONTS = ['DejaVu-Sans', 'DejaVu-Serif', 'DejaVu-Sans-Bold', 'DejaVu-Sans-Mono', 'DejaVu-Serif-Bold', 'DejaVu-Sans-Condensed'];
const LINES = [
  'Invoice No. 20931',
  'Date: 2026-03-14',
  'Total due: 1,284.50 EUR',
  'Pay within 30 days',
  'Thank you!',
  'OPEN 24/7',
  'Coffee  Tea  Pastries',
  'Main Street 42',
  'Tel. +49 30 1234567',
  'Profile first, then optimize',
  'Quantize me gently',
  'Batch size 8, 2 threads',
  'EXIT',
  'Platform 3 -> Berlin Hbf',
  'Best before 12/2027',
  'Room 101',
  'Net weight 500 g',
  'No parking',
  'Chapter 7: Pruning',
  'ONNX Runtime 1.30',
];

mkdirSync(OUT, { recursive: true });

// Detection: pages of text in several fonts, sizes, shades and slight rotations.
const det = Array.from({ length: 16 }, (_, k) => {
  const draw: string[] = [];
  for (let j = 0; j < 5; j++) {
    const line = LINES[(k * 7 + j * 3) % LINES.length]!;
    const size = 14 + ((k * 7 + j * 5) % 20);
    const angle = ((k + j) % 3) * 4 - 4;
    draw.push(
      '-font',
      FONTS[(k + j) % FONTS.length]!,
      '-pointsize',
      String(size),
      '-fill',
      j % 2 ? '#303060' : '#101010',
      '-annotate',
      `${angle}x${angle}+${10 + ((k * 13 + j * 29) % 60)}+${40 + j * 58}`,
      line,
    );
  }
  return render(320, 320, k % 2 ? '#f4f1e8' : 'white', draw);
});
save('ocr-det', stack(det), [16, 320, 320]);

// Recognition: single text lines, 48 px high.
const rec = [...LINES.slice(0, 12), ...LINES.slice(12).map((l) => l.toUpperCase())].map((line, k) =>
  render(320, 48, 'white', [
    '-font',
    FONTS[k % FONTS.length]!,
    '-pointsize',
    String(22 + (k % 4) * 2),
    '-fill',
    'black',
    '-annotate',
    '+6+34',
    line,
  ]),
);
save('ocr-rec', stack(rec), [rec.length, 48, 320]);

// Direction classification: lines 48x192, every other one upside down (the classifier's two classes).
const cls = LINES.slice(8, 20).map((line, k) =>
  render(192, 48, 'white', [
    '-font',
    FONTS[k % FONTS.length]!,
    '-pointsize',
    '20',
    '-fill',
    'black',
    '-annotate',
    '+4+32',
    line.slice(0, 16),
    ...(k % 2 ? ['-rotate', '180'] : []),
  ]),
);
save('ocr-cls', stack(cls), [12, 48, 192]);

// Line scenes (rooms, boxes, a road in perspective) for the line-segment detector.
const scenes = [
  [
    '-stroke',
    'black',
    '-strokewidth',
    '3',
    '-fill',
    'none',
    '-draw',
    'rectangle 40,40 280,280',
    '-draw',
    'line 40,40 120,100',
    '-draw',
    'line 280,40 200,100',
    '-draw',
    'rectangle 120,100 200,220',
    '-draw',
    'line 40,280 120,220',
    '-draw',
    'line 280,280 200,220',
  ],
  [
    '-stroke',
    '#202020',
    '-strokewidth',
    '4',
    '-draw',
    'line 160,60 20,310',
    '-draw',
    'line 160,60 300,310',
    '-draw',
    'line 0,150 320,150',
    '-strokewidth',
    '2',
    '-draw',
    'line 160,60 160,310',
  ],
  [
    '-stroke',
    'black',
    '-strokewidth',
    '2',
    '-fill',
    '#c0c0c0',
    '-draw',
    'polygon 60,200 160,140 260,200 160,260',
    '-fill',
    '#808080',
    '-draw',
    'polygon 60,200 60,280 160,320 160,260',
    '-draw',
    'rectangle 200,30 300,90',
  ],
  [
    '-stroke',
    'black',
    '-strokewidth',
    '3',
    '-draw',
    'line 20,20 300,40',
    '-draw',
    'line 20,80 300,90',
    '-draw',
    'line 20,140 300,140',
    '-draw',
    'line 20,200 300,190',
    '-draw',
    'line 20,260 300,240',
    '-draw',
    'line 100,10 110,310',
  ],
].map((draw, k) => render(320, 320, k % 2 ? '#e8e8e0' : 'white', draw));
save('line-scenes', stack(scenes), [4, 320, 320]);

// Speech at 16 kHz: short phrases, including the wake word, with silence between.
const phrases = ['hey jarvis', 'what is the weather like today', 'hello', 'profile first then optimize'];
const samples: number[] = [];
for (const [k, p] of phrases.entries()) {
  const wav = execFileSync('espeak-ng', ['-v', k % 2 ? 'en-us' : 'en', '-s', '150', '--stdout', p], { maxBuffer: 1 << 26 });
  const raw = execFileSync('sox', ['-t', 'wav', '-', '-t', 'raw', '-r', '16000', '-c', '1', '-e', 'signed', '-b', '16', '-'], {
    input: wav,
    maxBuffer: 1 << 26,
  });
  const pcm = new Int16Array(raw.buffer, raw.byteOffset, raw.byteLength >> 1);
  samples.push(...new Array<number>(4000).fill(0), ...pcm);
}
save('speech-16k', Int32Array.from(samples), [samples.length]);
console.log(
  `wrote ${OUT}: ocr-det [16,320,320], ocr-rec [${rec.length},48,320], ocr-cls [12,48,192], line-scenes [4,320,320], speech-16k [${samples.length}]`,
);
