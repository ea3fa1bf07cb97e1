/**
 * Readers for more dataset formats — numeric CSV, JSON lines, MNIST IDX files and image folders — each
 * returning named arrays in Hone's in-memory form (float32 features, int64 integer labels, samples first).
 *
 * Choices:
 * - Text files are read as bytes and split into lines chunk by chunk, so a file larger than V8's longest
 *   string still reads; arrays are preallocated from a newline count (an upper bound on the rows).
 * - CSV: cells must be plain decimal numbers (or nan/inf); an explicit `labelColumn` wins over a header
 *   name such as `label`. Line numbers are 1-based file lines; columns are 1-based, as editors show them.
 * - Images: sharp decodes (one pipeline per image, alpha dropped, EXIF orientation not applied, as PIL),
 *   then one pass over the pixels writes float32 CHW / 255. Colour → grey uses PIL's luma
 *   ((19595 R + 38470 G + 7471 B + 2^15) >> 16, what torchvision's Grayscale gives) rather than libvips's
 *   linear-light greyscale, which is much brighter and would not match models trained in PyTorch.
 *   Whether a file is grey, and its size, come from its PNG/JPEG/WebP header, read here in JS (sharp's
 *   raw output makes a grey PNG 3 channels, and a metadata call per image would cost a third of a decode).
 * - Image folders: a first pass reads only headers (sizes, grey or colour), so the output is allocated
 *   once and each image decoded straight into its slot, 8 at a time.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Transformer } from '@napi-rs/image';
import sharp from 'sharp';
import { badInput, errorMessage } from '../errors.js';
import type { ArrayTensor, NumericArray } from './dataset.js';

// ---------------------------------------------------------------------------------------------------------
// Shared helpers

/** Column/key names taken as labels (matched case-insensitively in CSV headers). */
const LABEL_NAMES = ['label', 'labels', 'y', 'target', 'class'];

function readBytes(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a folder' : errorMessage(e);
    throw badInput(`cannot read ${path}: ${why}; check the --data path`);
  }
}

/** Calls `fn` for each line (without its '\r\n' / '\n'), 1-based; decodes the file in chunks of whole lines. */
function forEachLine(buf: Buffer, fn: (line: string, lineNo: number) => void): void {
  const chunk = 1 << 25;
  let start = buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf ? 3 : 0; // UTF-8 byte-order mark
  let lineNo = 0;
  while (start < buf.length) {
    let end = start + chunk >= buf.length ? buf.length : buf.indexOf(10, start + chunk);
    end = end < 0 ? buf.length : Math.min(end + 1, buf.length);
    const lines = buf.toString('utf8', start, end).split('\n');
    if (buf[end - 1] === 10) lines.pop(); // the '' after the chunk's last newline
    for (const line of lines) fn(line.endsWith('\r') ? line.slice(0, -1) : line, ++lineNo);
    start = end;
  }
}

/** An upper bound on the number of non-empty lines. */
function lineCount(buf: Buffer): number {
  let n = 1;
  for (let i = buf.indexOf(10); i >= 0; i = buf.indexOf(10, i + 1)) n++;
  return n;
}

function shortText(s: string, max = 40): string {
  return s.length > max ? `${s.slice(0, max - 3)}...` : s;
}

/** int64 when every value is an integer, else float32. */
function labelArray(values: Float64Array): NumericArray {
  for (let i = 0; i < values.length; i++) if (!Number.isInteger(values[i])) return Float32Array.from(values);
  const out = new BigInt64Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = BigInt(values[i]!);
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// CSV

/** A cell's number, or undefined when it is blank or not a plain decimal number (nan and inf allowed). */
function parseCell(cell: string): number | undefined {
  const v = Number(cell); // ignores surrounding whitespace; '' and blanks give 0
  if (Number.isNaN(v)) {
    const w = cell.trim().toLowerCase().replace(/^\+/, '');
    return w === 'nan' || w === '-nan' ? Number.NaN : /^-?inf(inity)?$/.test(w) ? (w[0] === '-' ? -Infinity : Infinity) : undefined;
  }
  if (v === 0 && cell.trim() === '') return undefined;
  // Number() also reads 0x.., 0o.., 0b.. literals, which no CSV writer produces.
  if (cell.charCodeAt(0) === 48 && cell.length > 2) {
    const c = cell.charCodeAt(1) | 32;
    if (c === 120 || c === 111 || c === 98) return undefined;
  }
  return v;
}

/** Splits one CSV line; fields may be quoted ("1.5", with "" for a quote inside). */
function splitCsvLine(line: string, sep: string, path: string, lineNo: number): string[] {
  if (!line.includes('"')) return line.split(sep);
  const out: string[] = [];
  let i = 0;
  for (;;) {
    while (line[i] === ' ' || line[i] === '\t') {
      if (line[i] === sep) break;
      i++;
    }
    let field: string;
    if (line[i] === '"') {
      field = '';
      i++;
      for (;;) {
        const q = line.indexOf('"', i);
        if (q < 0) throw badInput(`${path} line ${lineNo}: a quoted field is not closed; close it with " (fields cannot span lines)`);
        field += line.slice(i, q);
        if (line[q + 1] === '"') {
          field += '"';
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      const next = line.indexOf(sep, i);
      const rest = next < 0 ? line.slice(i) : line.slice(i, next);
      if (rest.trim() !== '')
        throw badInput(`${path} line ${lineNo}: text after a closing quote ('${shortText(rest)}'); quote the whole field`);
      out.push(field);
      if (next < 0) return out;
      i = next + sep.length;
    } else {
      const next = line.indexOf(sep, i);
      out.push(next < 0 ? line.slice(i) : line.slice(i, next));
      if (next < 0) return out;
      i = next + sep.length;
    }
  }
}

/**
 * Numeric CSV: a header row is detected (any non-numeric cell in row 1) and gives column names. The label
 * column is `opts.labelColumn` when given (a header name, or a 0-based index, negative from the end), else
 * the header's `label` / `labels` / `y` / `target` / `class` column, else none. Features: every other
 * column, float32 [n, cols] under 'input'; labels under 'label', int64 [n] when all are integers, else float32.
 */
export function readCsv(path: string, opts: { labelColumn?: string | number; separator?: string } = {}): Record<string, ArrayTensor> {
  const buf = readBytes(path);
  const maxRows = lineCount(buf);
  let sep = opts.separator;
  if (sep === '') throw badInput(`the CSV separator for ${path} is empty; pass one character such as ',' or ';'`);
  let width = -1; // cells per row
  let widthLine = 0;
  let header: string[] | undefined;
  let labelIdx = -1;
  let features: Float32Array | undefined;
  let labels: Float64Array | undefined;
  let n = 0;
  const columnName = (c: number) => (header ? ` ('${shortText(header[c]!.trim())}')` : '');

  const setup = (cells: string[], lineNo: number) => {
    width = cells.length;
    widthLine = lineNo;
    header = cells.some((c) => parseCell(c) === undefined) ? cells : undefined;
    const names = header?.map((h) => h.trim().toLowerCase());
    if (opts.labelColumn !== undefined) labelIdx = resolveColumn(opts.labelColumn, header, width, path);
    else if (names) labelIdx = LABEL_NAMES.map((l) => names.indexOf(l)).find((i) => i >= 0) ?? -1;
    const featureCols = labelIdx >= 0 ? width - 1 : width;
    if (featureCols === 0)
      throw badInput(`${path} has no feature columns, only the label column; add the features, or choose another label column`);
    features = new Float32Array(maxRows * featureCols);
    if (labelIdx >= 0) labels = new Float64Array(maxRows);
  };

  forEachLine(buf, (line, lineNo) => {
    if (line.trim() === '') return;
    if (sep === undefined) sep = line.includes(',') ? ',' : line.includes(';') ? ';' : line.includes('\t') ? '\t' : ',';
    const cells = splitCsvLine(line, sep, path, lineNo);
    if (width < 0) {
      setup(cells, lineNo);
      if (header) return;
    }
    if (cells.length !== width)
      throw badInput(
        `${path} line ${lineNo} has ${cells.length} cells but line ${widthLine} has ${width}; every row needs the same number of cells (check the separator${sep === ',' ? '' : ` '${sep === '\t' ? '\\t' : sep}'`} and quoting)`,
      );
    let o = n * (labelIdx >= 0 ? width - 1 : width);
    for (let c = 0; c < width; c++) {
      const cell = cells[c]!;
      const v = parseCell(cell);
      if (v === undefined) {
        const where = `${path} line ${lineNo}, column ${c + 1}${columnName(c)}`;
        if (cell.trim() === '') throw badInput(`${where} is empty; fill in the missing value or drop the row`);
        throw badInput(`${where}: '${shortText(cell.trim())}' is not a number; CSV cells must be numeric (encode categories as integers)`);
      }
      if (c === labelIdx) labels![n] = v;
      else features![o++] = v;
    }
    n++;
  });
  if (n === 0) throw badInput(`${path} has no data rows; it needs one row of numbers per sample`);
  const cols = labelIdx >= 0 ? width - 1 : width;
  const out: Record<string, ArrayTensor> = {
    input: { data: features!.length === n * cols ? features! : features!.slice(0, n * cols), dims: [n, cols] },
  };
  if (labels) out.label = { data: labelArray(labels.subarray(0, n)), dims: [n] };
  return out;
}

/** The 0-based index of label column `col` (a header name, or an index, negative from the end). */
function resolveColumn(col: string | number, header: string[] | undefined, width: number, path: string): number {
  if (typeof col === 'string') {
    const name = col.trim();
    const i = header?.findIndex((h) => h.trim() === name) ?? -1;
    if (i >= 0) return i;
    const folded = header?.findIndex((h) => h.trim().toLowerCase() === name.toLowerCase()) ?? -1;
    if (folded >= 0) return folded;
    if (!/^-?\d+$/.test(name))
      throw badInput(
        header
          ? `${path} has no column '${name}' (columns: ${header
              .slice(0, 12)
              .map((h) => h.trim())
              .join(', ')}${header.length > 12 ? ', ...' : ''}); pass one of them, or a 0-based index, as the label column`
          : `${path} has no header row, so label column '${name}' cannot be found; pass its 0-based index instead`,
      );
    col = Number(name);
  }
  if (!Number.isInteger(col) || col < -width || col >= width)
    throw badInput(`label column ${col} is out of range for ${path}, which has ${width} columns; pass 0..${width - 1}, or -1 for the last`);
  return col < 0 ? width + col : col;
}

// ---------------------------------------------------------------------------------------------------------
// JSON lines

/** Shape along first elements: [2, 3] for [[1,2,3],[4,5,6]]; [] for a number. */
function shapeOf(v: unknown): number[] {
  const shape: number[] = [];
  while (Array.isArray(v)) {
    shape.push(v.length);
    v = v[0];
  }
  return shape;
}

/**
 * Writes the numbers of `v` (which must have exactly `shape`) into out from `pos`; returns the new position,
 * or a string saying what is wrong.
 */
function flatten(v: unknown, shape: number[], depth: number, out: Float32Array | Float64Array, pos: number): number | string {
  if (depth === shape.length) {
    if (typeof v === 'number') {
      out[pos] = v;
      return pos + 1;
    }
    if (Array.isArray(v)) return 'shape';
    return v === null ? 'holds null' : `holds a ${typeof v} (${shortText(JSON.stringify(v))})`;
  }
  if (!Array.isArray(v) || v.length !== shape[depth]) return 'shape';
  for (const e of v) {
    const r = flatten(e, shape, depth + 1, out, pos);
    if (typeof r === 'string') return r;
    pos = r;
  }
  return pos;
}

function isRectangular(v: unknown, shape: number[], depth = 0): boolean {
  if (depth === shape.length) return !Array.isArray(v);
  return Array.isArray(v) && v.length === shape[depth] && v.every((e) => isRectangular(e, shape, depth + 1));
}

/**
 * JSON lines: one object per line; every key becomes an array named by the key, dims [n, ...shape]. Float32,
 * except label keys (label, labels, y, target, class) whose values are all integers: int64.
 */
export function readJsonl(path: string): Record<string, ArrayTensor> {
  const buf = readBytes(path);
  const maxRows = lineCount(buf);
  let keys: { name: string; shape: number[]; size: number; data: Float32Array | Float64Array }[] | undefined;
  let firstLine = 0;
  let n = 0;
  forEachLine(buf, (line, lineNo) => {
    if (line.trim() === '') return;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch (e) {
      throw badInput(`${path} line ${lineNo} is not valid JSON (${errorMessage(e)}); write one JSON object per line`);
    }
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj))
      throw badInput(`${path} line ${lineNo} is not a JSON object; write one object per line, e.g. {"input": [0.1, 0.2], "label": 3}`);
    const rec = obj as Record<string, unknown>;
    if (!keys) {
      firstLine = lineNo;
      const names = Object.keys(rec);
      if (names.length === 0) throw badInput(`${path} line ${lineNo} is an empty object; give each line its arrays, e.g. {"input": [...]}`);
      keys = names.map((name) => {
        const shape = shapeOf(rec[name]);
        const size = shape.reduce((a, b) => a * b, 1);
        const isLabel = LABEL_NAMES.includes(name);
        return { name, shape, size, data: isLabel ? new Float64Array(maxRows * size) : new Float32Array(maxRows * size) };
      });
    }
    for (const k of keys) {
      if (!(k.name in rec))
        throw badInput(`${path} line ${lineNo} has no '${k.name}' (line ${firstLine} has); every line needs the same keys`);
      const r = flatten(rec[k.name], k.shape, 0, k.data, n * k.size);
      if (typeof r === 'string') {
        const where = `${path} line ${lineNo}, '${k.name}'`;
        if (r !== 'shape') throw badInput(`${where} ${r}; values must be numbers or (nested) arrays of numbers`);
        const shape = shapeOf(rec[k.name]);
        if (!isRectangular(rec[k.name], shape))
          throw badInput(`${where} is ragged (nested arrays of different lengths); make every inner array the same length`);
        throw badInput(
          `${where} has shape [${shape.join(', ')}] but line ${firstLine} has [${k.shape.join(', ')}]; every line must give '${k.name}' the same shape`,
        );
      }
    }
    if (Object.keys(rec).length !== keys.length) {
      const extra = Object.keys(rec).find((name) => !keys!.some((k) => k.name === name));
      throw badInput(`${path} line ${lineNo} has key '${extra}', which line ${firstLine} lacks; every line needs the same keys`);
    }
    n++;
  });
  if (!keys) throw badInput(`${path} has no lines; write one JSON object per sample, e.g. {"input": [0.1, 0.2], "label": 3}`);
  const out: Record<string, ArrayTensor> = {};
  for (const k of keys) {
    const data = k.data.subarray(0, n * k.size);
    out[k.name] = {
      data: data instanceof Float64Array ? labelArray(data) : data.length === k.data.length ? data : data.slice(),
      dims: [n, ...k.shape],
    };
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// MNIST IDX

const IDX_TYPES: Record<number, { name: string; size: number }> = {
  8: { name: 'ubyte', size: 1 },
  9: { name: 'sbyte', size: 1 },
  11: { name: 'short', size: 2 },
  12: { name: 'int', size: 4 },
  13: { name: 'float', size: 4 },
  14: { name: 'double', size: 8 },
};

function readIdxRaw(path: string): { type: number; dims: number[]; body: Uint8Array } {
  let bytes: Uint8Array = readBytes(path);
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (e) {
      throw badInput(`${path} is a damaged gzip file (${errorMessage(e)}); download it again`);
    }
  }
  const type = bytes[2]!;
  const ndims = bytes[3]!;
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0 || !IDX_TYPES[type] || ndims === 0) {
    const magic = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
    throw badInput(
      `${path} is not an IDX file (${magic ? `magic bytes ${magic}` : 'it is empty'}; expected 00 00 08..0e ndims); pass MNIST-format files such as train-images-idx3-ubyte(.gz)`,
    );
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const start = 4 + 4 * ndims;
  if (bytes.length < start) throw badInput(`${path} is truncated inside its IDX header; download it again`);
  const dims = Array.from({ length: ndims }, (_, i) => dv.getUint32(4 + 4 * i, false));
  const need = dims.reduce((a, b) => a * b, 1) * IDX_TYPES[type]!.size;
  const have = bytes.length - start;
  if (have !== need)
    throw badInput(
      `${path} has ${have} bytes of data but its header (${IDX_TYPES[type]!.name} [${dims.join(', ')}]) needs ${need}; the file is ${have < need ? 'truncated' : 'damaged'}, download it again`,
    );
  return { type, dims, body: bytes.subarray(start) };
}

/** MNIST IDX file (optionally gzipped): one tensor of the file's type; ubyte as float32 / 255 when opts.scale. */
export function readIdx(path: string, opts: { scale?: boolean } = {}): ArrayTensor {
  const { type, dims, body } = readIdxRaw(path);
  const count = body.length / IDX_TYPES[type]!.size;
  const dv = new DataView(body.buffer, body.byteOffset, body.byteLength);
  let data: NumericArray;
  switch (type) {
    case 0x08:
      data = opts.scale ? scaleBytes(body) : new Uint8Array(body);
      break;
    case 0x09:
      data = new Int8Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength));
      break;
    case 0x0b: {
      const a = new Int16Array(count);
      for (let i = 0; i < count; i++) a[i] = dv.getInt16(2 * i, false);
      data = a;
      break;
    }
    case 0x0c: {
      const a = new Int32Array(count);
      for (let i = 0; i < count; i++) a[i] = dv.getInt32(4 * i, false);
      data = a;
      break;
    }
    case 0x0d: {
      const a = new Float32Array(count);
      for (let i = 0; i < count; i++) a[i] = dv.getFloat32(4 * i, false);
      data = a;
      break;
    }
    default: {
      const a = new Float64Array(count);
      for (let i = 0; i < count; i++) a[i] = dv.getFloat64(8 * i, false);
      data = a;
    }
  }
  return { data, dims };
}

/** Float32 value / 255 for each byte value: exact float32(v / 255), one table look-up per pixel. */
const BYTE_TO_UNIT = Float32Array.from({ length: 256 }, (_, v) => v / 255);

function scaleBytes(b: Uint8Array): Float32Array {
  const out = new Float32Array(b.length);
  for (let i = 0; i < b.length; i++) out[i] = BYTE_TO_UNIT[b[i]!]!;
  return out;
}

/**
 * An MNIST images + labels pair: { input: float32 [n, 1, h, w], label: int64 [n] }. ubyte images are scaled
 * to [0, 1]; images of other types are kept as they are (as float32). Labels must be of an integer type.
 */
export function readIdxPair(imagesPath: string, labelsPath: string): Record<string, ArrayTensor> {
  const images = readIdx(imagesPath, { scale: true });
  const labels = readIdx(labelsPath);
  if (images.dims.length !== 3)
    throw badInput(
      `${imagesPath} has ${images.dims.length} dims [${images.dims.join(', ')}], but an images file has 3 [n, h, w]${images.dims.length === 1 ? '; did you swap the images and labels files?' : '; pass an MNIST-format images file'}`,
    );
  if (labels.dims.length !== 1)
    throw badInput(
      `${labelsPath} has ${labels.dims.length} dims [${labels.dims.join(', ')}], but a labels file has 1 [n]${labels.dims.length === 3 ? '; did you swap the images and labels files?' : '; pass an MNIST-format labels file'}`,
    );
  if (labels.data instanceof Float32Array || labels.data instanceof Float64Array)
    throw badInput(`${labelsPath} holds floating-point values; labels must be class indices (an IDX file of ubyte, sbyte, short or int)`);
  const [n, h, w] = images.dims as [number, number, number];
  if (labels.dims[0] !== n)
    throw badInput(`${imagesPath} has ${n} images but ${labelsPath} has ${labels.dims[0]} labels; pass files of the same split`);
  const input = images.data instanceof Float32Array ? images.data : Float32Array.from(images.data as ArrayLike<number>);
  const label = new BigInt64Array(n);
  for (let i = 0; i < n; i++) label[i] = BigInt((labels.data as ArrayLike<number>)[i]!);
  return { input: { data: input, dims: [n, 1, h, w] }, label: { data: label, dims: [n] } };
}

// ---------------------------------------------------------------------------------------------------------
// Image folders

const IMAGE_EXT = /\.(jpe?g|png|webp)$/i;

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Non-hidden entries of a folder, split into subfolders and files (symbolic links followed), names sorted. */
function listDir(dir: string): { dirs: string[]; files: string[] } {
  const dirs: string[] = [];
  const files: string[] = [];
  for (const d of readdirSync(dir, { withFileTypes: true })) {
    if (d.name.startsWith('.')) continue;
    if (d.isDirectory() || (d.isSymbolicLink() && isDir(join(dir, d.name)))) dirs.push(d.name);
    else files.push(d.name);
  }
  return { dirs: dirs.sort(), files: files.sort() };
}

/** True when `dir` looks like an image-folder dataset: subfolders (one per class) holding .jpg/.jpeg/.png/.webp files. */
export function isImageFolder(dir: string): boolean {
  try {
    return listDir(dir).dirs.some((cls) => listDir(join(dir, cls)).files.some((f) => IMAGE_EXT.test(f)));
  } catch {
    return false;
  }
}

export interface ImageFolderEntry {
  path: string;
  label: number;
}
export interface ImageFolderListing {
  classes: string[];
  entries: ImageFolderEntry[];
}

/**
 * Lists DIR/<class>/<image>: classes are the subfolder names sorted, labels their indices; entries sorted
 * by class, then file name (a class's subfolders are searched too, after its own files, as torchvision's
 * ImageFolder does). Hidden files and folders are skipped, so are files directly in DIR; a file that is not
 * an image is an error unless opts.ignoreOther. A class folder without images is an error.
 */
export function listImageFolder(dir: string, opts: { ignoreOther?: boolean } = {}): ImageFolderListing {
  let top: { dirs: string[]; files: string[] };
  try {
    top = listDir(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR')
      throw badInput(`${dir} is not a folder; an image-folder dataset is a folder of class folders, DIR/<class>/<image>.jpg`);
    throw badInput(`cannot read ${dir}: ${code === 'ENOENT' ? 'no such folder' : errorMessage(e)}; check the --data path`);
  }
  if (top.dirs.length === 0) {
    const loose = top.files.filter((f) => IMAGE_EXT.test(f)).length;
    throw badInput(
      `${dir} has no class subfolders${loose ? ` (it holds ${loose} images directly)` : ''}; put each class's images in its own subfolder, DIR/<class>/<image>.jpg`,
    );
  }
  const entries: ImageFolderEntry[] = [];
  const walk = (folder: string, label: number) => {
    const { dirs, files } = listDir(folder);
    for (const f of files) {
      const path = join(folder, f);
      if (IMAGE_EXT.test(f)) entries.push({ path, label });
      else if (!opts.ignoreOther)
        throw badInput(`${path} is not a .jpg, .jpeg, .png or .webp image; move it out of the class folders (only images may be there)`);
    }
    for (const d of dirs) walk(join(folder, d), label);
  };
  top.dirs.forEach((cls, label) => {
    const before = entries.length;
    walk(join(dir, cls), label);
    if (entries.length === before)
      throw badInput(`${join(dir, cls)} has no images (.jpg, .jpeg, .png, .webp); add the class's images or remove the folder`);
  });
  return { classes: top.dirs, entries };
}

export interface ImageDecodeOptions {
  /** output size; when absent the image's own size is kept */
  width?: number;
  height?: number;
  /** 1 = grey, 3 = RGB; absent = from the image (grey stays 1, else 3; alpha dropped) */
  channels?: 1 | 3;
  /** how a differently sized image is brought to width×height: 'resize' (stretch, the default), 'cover' (resize then centre-crop), 'contain' (letterbox, zero pad) */
  fit?: 'resize' | 'cover' | 'contain';
}

export interface ImageHeader {
  width: number;
  height: number;
  grey: boolean;
  /** 8-bit grey or colour samples (not a 16-bit PNG, not a CMYK JPEG): what decodeDirect takes. */
  plain?: boolean;
}

/** Size and grey-or-colour from a PNG, JPEG or WebP header; undefined for other or unreadable bytes. */
function sniffImage(b: Uint8Array): ImageHeader | undefined {
  const be16 = (i: number) => (b[i]! << 8) | b[i + 1]!;
  const be32 = (i: number) => ((b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!) >>> 0;
  const le24 = (i: number) => b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16);
  if (b.length >= 26 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) {
    // PNG: IHDR first; colour type 0 = grey, 4 = grey + alpha.
    return { width: be32(16), height: be32(20), grey: b[25] === 0 || b[25] === 4, plain: b[24] === 8 || b[25] === 3 };
  }
  if (b.length >= 4 && b[0] === 0xff && b[1] === 0xd8) {
    // JPEG: walk the marker segments to the first start-of-frame (SOF0..15 except DHT C4, JPG C8, DAC CC).
    let i = 2;
    while (i + 9 < b.length) {
      if (b[i] !== 0xff) return undefined;
      const m = b[i + 1]!;
      if (m === 0xff) {
        i++;
        continue;
      }
      if (m === 0xd8 || m === 0x01 || (m >= 0xd0 && m <= 0xd7)) {
        i += 2;
        continue;
      }
      if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc)
        return {
          height: be16(i + 5),
          width: be16(i + 7),
          grey: b[i + 9] === 1,
          plain: b[i + 4] === 8 && (b[i + 9] === 1 || b[i + 9] === 3),
        };
      if (m === 0xda || m === 0xd9) return undefined;
      i += 2 + be16(i + 2);
    }
    return undefined;
  }
  if (b.length >= 30 && String.fromCharCode(...b.subarray(0, 4)) === 'RIFF' && String.fromCharCode(...b.subarray(8, 12)) === 'WEBP') {
    // WebP is always colour; the size sits in the first chunk.
    const chunk = String.fromCharCode(...b.subarray(12, 16));
    if (chunk === 'VP8 ') return { width: be16le(b, 26) & 0x3fff, height: be16le(b, 28) & 0x3fff, grey: false, plain: true };
    if (chunk === 'VP8L') {
      const bits = (b[21]! | (b[22]! << 8) | (b[23]! << 16) | (b[24]! << 24)) >>> 0;
      return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1, grey: false, plain: true };
    }
    if (chunk === 'VP8X') return { width: le24(24) + 1, height: le24(27) + 1, grey: false, plain: true };
  }
  return undefined;
}

function be16le(b: Uint8Array, i: number): number {
  return b[i]! | (b[i + 1]! << 8);
}

/** The header, from sniffImage or else from sharp (GIF, TIFF, AVIF... bytes sharp reads). */
export async function imageHeader(bytes: Uint8Array, what: string): Promise<ImageHeader> {
  const sniffed = sniffImage(bytes);
  if (sniffed) return sniffed;
  try {
    const m = await sharp(bytes).metadata();
    return { width: m.width ?? 0, height: m.height ?? 0, grey: (m.channels ?? 3) - (m.hasAlpha ? 1 : 0) === 1 };
  } catch (e) {
    throw decodeError(e, what);
  }
}

function decodeError(e: unknown, what: string): Error {
  // libvips messages can run to several lines, often repeating; keep the distinct ones on one line.
  const lines = [
    ...new Set(
      errorMessage(e)
        .split('\n')
        .map((l) => l.trim().replace(/:$/, '')),
    ),
  ].filter((l) => l !== '');
  return badInput(`cannot decode ${what}: ${shortText(lines.join('; '), 200)}; re-save it as JPEG, PNG or WebP, or remove it`, e);
}

const FIT = { resize: 'fill', cover: 'cover', contain: 'contain' } as const;

function checkSize(opts: ImageDecodeOptions): { width: number; height: number } | undefined {
  const { width, height } = opts;
  if (width === undefined && height === undefined) return undefined;
  if (width === undefined || height === undefined)
    throw badInput(`an image size needs both width and height (got ${width ?? '?'}×${height ?? '?'}); pass --resize WxH`);
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1)
    throw badInput(`image size ${width}×${height} is not two positive whole numbers; pass --resize WxH, e.g. --resize 224x224`);
  return { width, height };
}

/**
 * Decodes into out[off ..] as c×h×w float32 / 255. One sharp pipeline: alpha dropped, 1 channel kept for a
 * grey source read as grey, else sRGB; colour → grey with PIL's luma in the same pass over the pixels.
 */
async function decodeInto(
  bytes: Uint8Array,
  c: 1 | 3,
  grey: boolean,
  size: { width: number; height: number } | undefined,
  fit: ImageDecodeOptions['fit'],
  what: string,
  alloc: (h: number, w: number) => { out: Float32Array; off: number },
): Promise<{ h: number; w: number }> {
  const fast = decodeDirect(bytes, size);
  if (fast) {
    const { w, h, bpp, data: src } = fast;
    const { out, off } = alloc(h, w);
    const hw = h * w;
    const t = BYTE_TO_UNIT;
    // One loop per case (no branch per pixel): the source's first byte of each pixel is grey or red.
    if (c === 3 && bpp >= 3) {
      const g = off + hw;
      const b = off + 2 * hw;
      for (let p = 0, s = 0; p < hw; p++, s += bpp) {
        out[off + p] = t[src[s]!]!;
        out[g + p] = t[src[s + 1]!]!;
        out[b + p] = t[src[s + 2]!]!;
      }
    } else if (bpp < 3 || grey) {
      for (let p = 0, s = 0; p < hw; p++, s += bpp) out[off + p] = t[src[s]!]!;
      if (c === 3) {
        out.copyWithin(off + hw, off, off + hw);
        out.copyWithin(off + 2 * hw, off, off + hw);
      }
    } else {
      for (let p = 0, s = 0; p < hw; p++, s += bpp)
        out[off + p] = t[(src[s]! * 19595 + src[s + 1]! * 38470 + src[s + 2]! * 7471 + 0x8000) >>> 16]!;
    }
    return { h, w };
  }
  let raw: { data: Buffer; info: { width: number; height: number; channels: number } };
  try {
    let p = sharp(bytes).removeAlpha();
    p = c === 1 && grey ? p.greyscale() : p.toColourspace('srgb');
    if (size) p = p.resize(size.width, size.height, { fit: FIT[fit ?? 'resize'], background: { r: 0, g: 0, b: 0 } });
    raw = await p.raw().toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw decodeError(e, what);
  }
  const { width: w, height: h, channels: sc } = raw.info;
  if (sc !== 1 && sc !== 3) throw badInput(`cannot decode ${what}: it decoded to ${sc} channels; re-save it as RGB or grey JPEG or PNG`);
  const { out, off } = alloc(h, w);
  const src = raw.data;
  const hw = h * w;
  const t = BYTE_TO_UNIT;
  if (sc === c) {
    if (c === 1) for (let p = 0; p < hw; p++) out[off + p] = t[src[p]!]!;
    else
      for (let p = 0, s = 0; p < hw; p++, s += 3) {
        out[off + p] = t[src[s]!]!;
        out[off + hw + p] = t[src[s + 1]!]!;
        out[off + 2 * hw + p] = t[src[s + 2]!]!;
      }
  } else if (c === 1) {
    for (let p = 0, s = 0; p < hw; p++, s += 3)
      out[off + p] = t[(src[s]! * 19595 + src[s + 1]! * 38470 + src[s + 2]! * 7471 + 0x8000) >>> 16]!;
  } else {
    for (let p = 0; p < hw; p++) out[off + p] = out[off + hw + p] = out[off + 2 * hw + p] = t[src[p]!]!;
  }
  return { h, w };
}

/**
 * An image that needs no resizing, decoded on the calling thread by @napi-rs/image (Rust decoders): a 224×224
 * JPEG in 0.8 ms where sharp took 2.1–2.5 ms (libvips's pipeline and a libuv thread hop per call; PIL 0.6 ms),
 * a 28×28 PNG in 20 µs where sharp took about 1 ms. Pixels as stored (grey, grey + alpha, RGB or RGBA; the
 * bytes per pixel follow from the length). Undefined, so that sharp decodes, when the image must be resized,
 * its header cannot be read here, or the decoder gives something unexpected (CMYK JPEGs, 16-bit PNGs).
 */
function decodeDirect(
  bytes: Uint8Array,
  size: { width: number; height: number } | undefined,
): { w: number; h: number; bpp: number; data: Uint8Array } | undefined {
  const head = sniffImage(bytes);
  if (!head?.plain || (size && (head.width !== size.width || head.height !== size.height))) return undefined;
  let data: Uint8Array;
  try {
    data = new Transformer(bytes).rawPixelsSync();
  } catch {
    return undefined;
  }
  const hw = head.width * head.height;
  const bpp = data.length / hw;
  return Number.isInteger(bpp) && bpp >= 1 && bpp <= 4 ? { w: head.width, h: head.height, bpp, data } : undefined;
}

/** Decodes one encoded image (JPEG/PNG/WebP bytes) with sharp to float32 CHW scaled to [0, 1]. */
export async function decodeImage(
  bytes: Uint8Array,
  opts: ImageDecodeOptions = {},
): Promise<{ data: Float32Array; c: number; h: number; w: number }> {
  let data = new Float32Array(0);
  const { c, h, w } = await decodeImageInto(bytes, opts, (c, h, w) => {
    data = new Float32Array(c * h * w);
    return { out: data, off: 0 };
  });
  return { data, c, h, w };
}

/**
 * decodeImage into memory the caller gives: `alloc(c, h, w)` returns the array and offset the CHW pixels go to
 * (a batch's slot, so that no per-image array is made and copied).
 */
export async function decodeImageInto(
  bytes: Uint8Array,
  opts: ImageDecodeOptions,
  alloc: (c: number, h: number, w: number) => { out: Float32Array; off: number },
): Promise<{ c: number; h: number; w: number }> {
  const size = checkSize(opts);
  let c = opts.channels;
  let grey = false;
  if (c !== 3) {
    grey = c === undefined ? (await imageHeader(bytes, 'the image')).grey : (sniffImage(bytes)?.grey ?? false);
    c ??= grey ? 1 : 3;
  }
  const ch = c;
  const { h, w } = await decodeInto(bytes, ch, grey, size, opts.fit, 'the image', (h, w) => alloc(ch, h, w));
  return { c: ch, h, w };
}

/**
 * Encoded images decoded into one float32 [n, c, h, w], 8 at a time, each straight into its slot: the first
 * image decoded sizes the array (from `alloc`, e.g. a recycled buffer), every other must match, else an error
 * naming `what` and the flag that fixes it.
 */
export async function decodeImages(
  images: readonly Uint8Array[],
  opts: ImageDecodeOptions,
  what: string,
  alloc: (length: number) => Float32Array = (k) => new Float32Array(k),
): Promise<ArrayTensor> {
  let data: Float32Array | undefined;
  let shape: [number, number, number] | undefined;
  await forEachLimited(images.length, 8, async (k) => {
    await decodeImageInto(images[k]!, opts, (c, h, w) => {
      if (!shape) {
        shape = [c, h, w];
        data = alloc(images.length * c * h * w);
      } else if (shape[0] !== c || shape[1] !== h || shape[2] !== w)
        throw badInput(
          `${what}: images decode to different sizes (${shape.join('×')} and ${c}×${h}×${w}); pass --resize WxH (and --channels) to bring them to one size`,
        );
      return { out: data!, off: k * c * h * w };
    });
  });
  return { data: data ?? new Float32Array(0), dims: [images.length, ...(shape ?? [0, 0, 0])] };
}

/** Runs fn(0 .. count-1), at most `limit` at a time; stops starting new ones after a failure. */
export async function forEachLimited(count: number, limit: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < count) {
      const i = next++;
      try {
        await fn(i);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker));
}

async function readImageBytes(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (e) {
    throw badInput(`cannot read ${path}: ${errorMessage(e)}; check the file's permissions`);
  }
}

/**
 * Decodes every image of an image folder into { input: float32 [n, c, h, w], label: int64 [n] } plus the
 * class names. Sizes must agree unless width/height are given; channels are opts.channels, else those of
 * most images (3 on a tie), the others converted.
 */
export async function readImageFolder(
  dir: string,
  opts: ImageDecodeOptions & { ignoreOther?: boolean } = {},
): Promise<{ arrays: Record<string, ArrayTensor>; classes: string[] }> {
  const size = checkSize(opts);
  const { classes, entries } = listImageFolder(dir, { ignoreOther: opts.ignoreOther });
  const n = entries.length;
  const concurrency = 8;
  // Pass 1: headers only (sizes, grey or colour), to allocate the output once.
  const headers: ImageHeader[] = new Array(n);
  await forEachLimited(n, concurrency, async (i) => {
    const path = entries[i]!.path;
    headers[i] = await imageHeader(await readImageBytes(path), path);
  });
  let width: number;
  let height: number;
  if (size) ({ width, height } = size);
  else {
    const first = headers[0]!;
    const odd = headers.findIndex((h) => h.width !== first.width || h.height !== first.height);
    if (odd >= 0) {
      const counts = new Map<string, number>();
      for (const h of headers) counts.set(`${h.width}x${h.height}`, (counts.get(`${h.width}x${h.height}`) ?? 0) + 1);
      const common = [...counts].sort((a, b) => b[1] - a[1])[0]![0];
      throw badInput(
        `${dir}: images differ in size (${entries[0]!.path} is ${first.width}×${first.height}, ${entries[odd]!.path} is ${headers[odd]!.width}×${headers[odd]!.height}); pass --resize WxH (e.g. --resize ${common}) to bring them all to one size`,
      );
    }
    ({ width, height } = first);
  }
  const greyCount = headers.reduce((a, h) => a + (h.grey ? 1 : 0), 0);
  const c: 1 | 3 = opts.channels ?? (greyCount > n - greyCount ? 1 : 3);
  const chw = c * height * width;
  let input: Float32Array;
  try {
    input = new Float32Array(n * chw);
  } catch {
    throw badInput(
      `${dir}: ${n} images of ${c}×${height}×${width} need ${((n * chw * 4) / 2 ** 30).toFixed(1)} GiB as float32, more than fits; pass a smaller --resize`,
    );
  }
  // Pass 2: decode each image straight into its slot.
  await forEachLimited(n, concurrency, async (i) => {
    const path = entries[i]!.path;
    const bytes = await readImageBytes(path);
    await decodeInto(bytes, c, headers[i]!.grey, size, opts.fit, path, (h, w) => {
      if (h !== height || w !== width)
        throw badInput(`${path} decoded to ${w}×${h}, not the ${width}×${height} its header gave; pass --resize WxH`);
      return { out: input, off: i * chw };
    });
  });
  const label = BigInt64Array.from(entries, (e) => BigInt(e.label));
  return { arrays: { input: { data: input, dims: [n, c, height, width] }, label: { data: label, dims: [n] } }, classes };
}
