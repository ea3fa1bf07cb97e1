/**
 * Reading and writing .onnx files, with external data.
 *
 * Reading: the file is read once and decoded in place; every tensor's `rawData` is a view into that one
 * buffer (no copy). Tensors stored in external files are read straight into their own buffers, one
 * read each, so a model of any size costs its size in memory and nothing more.
 * Writing: chunks are streamed to a temp file and renamed. A model whose protobuf would pass the 2 GiB
 * protobuf limit has its large initializers moved to an external data file automatically.
 */
import { densifySparseInitializers } from './sparse.js';
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, normalize, resolve } from 'node:path';
import type { ModelProto, TensorProto } from './proto.js';
import { decodeModel, DecodeError, encodeMessageChunks } from './codec.js';
import { forEachTensor } from './walk.js';
import { badInput } from '../errors.js';
import { writeFileAtomic } from '../util/fs.js';
import { byteSize } from './dtype.js';
import { numElements } from './tensor.js';

/** Protobuf messages cannot exceed 2 GiB; stay clear of it. */
export const PROTOBUF_LIMIT = 2 ** 31 - 1;

export interface LoadOptions {
  /** Read tensors held in external files (default true). With false they stay unloaded (metadata only). */
  externalData?: boolean;
}

export function loadModel(path: string, opts: LoadOptions = {}): ModelProto {
  const bytes = readModelFile(path);
  const model = parseModel(bytes, path);
  if (opts.externalData !== false) loadExternalData(model, dirname(resolve(path)), path);
  return model;
}

/** Decodes model bytes, turning codec failures into a one-line error that names the file. */
export function parseModel(bytes: Uint8Array, what = 'the model'): ModelProto {
  let model: ModelProto;
  try {
    model = decodeModel(bytes);
  } catch (e) {
    if (e instanceof DecodeError) {
      throw badInput(`${what} is not a valid ONNX model (${e.message}: the file is truncated or corrupt); re-export or re-download it`, e);
    }
    throw e;
  }
  if (!model.graph || model.irVersion === undefined || model.opsetImport.length === 0) {
    const missing = !model.graph ? 'no graph' : model.irVersion === undefined ? 'no ir_version' : 'no opset_import';
    throw badInput(`${what} is not an ONNX model (${missing}); pass a .onnx file exported by a framework or built by Hone`);
  }
  // Sparse initializers (pruned weights) become dense, as ONNX Runtime makes them on load: every pass sees initializers.
  try {
    densifySparseInitializers(model.graph);
  } catch (e) {
    throw badInput(`${what} holds a corrupt sparse initializer (${(e as Error).message}); re-export the model`, e);
  }
  return model;
}

function readModelFile(path: string): Uint8Array {
  if (!existsSync(path)) throw badInput(`cannot read ${path}: no such file; check the path`);
  if (statSync(path).isDirectory()) throw badInput(`${path} is a folder; pass the .onnx file inside it`);
  try {
    return readFileSync(path);
  } catch (e) {
    throw badInput(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; check its permissions`, e);
  }
}

interface ExternalRef {
  location: string;
  offset: number;
  length?: number;
}

export function externalRef(t: TensorProto): ExternalRef | undefined {
  if (t.dataLocation !== 1) return undefined;
  const get = (k: string) => t.externalData.find((e) => e.key === k)?.value;
  const location = get('location');
  if (location === undefined) return undefined;
  const offset = Number(get('offset') ?? 0);
  const length = get('length') === undefined ? undefined : Number(get('length'));
  return { location, offset, length };
}

/** Reads every external tensor into memory; afterwards the model is self-contained. */
export function loadExternalData(model: ModelProto, baseDir: string, what = 'the model'): void {
  const fds = new Map<string, number>();
  try {
    forEachTensor(model, (t) => {
      const ref = externalRef(t);
      if (!ref) {
        if (t.dataLocation === 1)
          throw badInput(`${what}: tensor '${t.name}' is marked external but names no location; re-export the model`);
        return;
      }
      const file = normalize(join(baseDir, ref.location));
      if (isAbsolute(ref.location) || !file.startsWith(normalize(baseDir))) {
        throw badInput(
          `${what}: tensor '${t.name}' points outside the model's folder (${ref.location}); keep external data beside the model`,
        );
      }
      let fd = fds.get(file);
      if (fd === undefined) {
        if (!existsSync(file))
          throw badInput(`${what}: external data file ${ref.location} for tensor '${t.name}' is missing; copy it beside the model`);
        fd = openSync(file, 'r');
        fds.set(file, fd);
      }
      const size = fstatSync(fd).size;
      const expected = byteSize(t.dataType ?? 0, numElements(t.dims));
      const length = ref.length ?? expected;
      if (!Number.isFinite(ref.offset) || ref.offset < 0 || ref.offset + length > size) {
        throw badInput(
          `${what}: tensor '${t.name}' reads bytes ${ref.offset}..${ref.offset + length} of ${ref.location}, which has ${size}; the data file is truncated or does not belong to this model`,
        );
      }
      const buf = Buffer.allocUnsafe(length);
      let done = 0;
      while (done < length) {
        const n = readSync(fd, buf, done, Math.min(length - done, 1 << 30), ref.offset + done);
        if (n === 0) throw badInput(`${what}: unexpected end of ${ref.location}`);
        done += n;
      }
      t.rawData = buf;
      t.dataLocation = undefined;
      t.externalData = [];
    });
  } finally {
    for (const fd of fds.values()) closeSync(fd);
  }
}

export interface SaveOptions {
  /**
   * 'auto' (default): external data only when the model would pass the 2 GiB protobuf limit.
   * true: always move tensors of at least `sizeThreshold` bytes to the external file. false: never.
   */
  externalData?: boolean | 'auto';
  /** External file name, relative to the model's folder (default `<model file>.data`). */
  location?: string;
  /** Tensors smaller than this stay inside the .onnx (default 1024 bytes). */
  sizeThreshold?: number;
}

/** Writes the model atomically (and its external data file, if any). Returns the bytes written. */
export function saveModel(model: ModelProto, path: string, opts: SaveOptions = {}): { bytes: number; externalBytes: number } {
  const threshold = opts.sizeThreshold ?? 1024;
  const mode = opts.externalData ?? 'auto';
  const big: TensorProto[] = [];
  let inline = 0;
  forEachTensor(model, (t) => {
    if (t.dataLocation === 1)
      throw badInput(`tensor '${t.name}' has unloaded external data; load the model with its external data before saving`);
    const n = t.rawData?.byteLength ?? 0;
    inline += n;
    if (n >= threshold && t.rawData) big.push(t);
  });
  const tooBig = inline > PROTOBUF_LIMIT - 64 * 1024 * 1024;
  if (mode === false && tooBig)
    throw badInput(`the model holds ${inline} bytes of tensors, over protobuf's 2 GiB limit; save it with external data`);
  const external = mode === true || (mode === 'auto' && tooBig);
  if (!external || big.length === 0) {
    const chunks = encodeMessageChunks(model, 'ModelProto');
    writeFileAtomic(path, chunks);
    return { bytes: chunks.reduce((s, c) => s + c.byteLength, 0), externalBytes: 0 };
  }
  const location = opts.location ?? `${basename(path)}.data`;
  if (isAbsolute(location) || location.includes('..'))
    throw badInput(`external data location '${location}' must be a file name beside the model`);
  // Lay out the external file: page-aligned offsets for large tensors so ORT can map them.
  const saved = big.map((t) => ({ t, rawData: t.rawData, dataLocation: t.dataLocation, externalData: t.externalData }));
  const dataChunks: Uint8Array[] = [];
  let offset = 0;
  try {
    for (const { t, rawData } of saved) {
      const align = rawData!.byteLength >= 65536 ? 4096 : 64;
      const pad = (align - (offset % align)) % align;
      if (pad) dataChunks.push(new Uint8Array(pad));
      offset += pad;
      dataChunks.push(rawData!);
      t.externalData = [
        { key: 'location', value: location },
        { key: 'offset', value: String(offset) },
        { key: 'length', value: String(rawData!.byteLength) },
      ];
      t.dataLocation = 1;
      t.rawData = undefined;
      offset += rawData!.byteLength;
    }
    const chunks = encodeMessageChunks(model, 'ModelProto');
    writeFileAtomic(join(dirname(path), location), dataChunks);
    writeFileAtomic(path, chunks);
    return { bytes: chunks.reduce((s, c) => s + c.byteLength, 0), externalBytes: offset };
  } finally {
    for (const s of saved) {
      s.t.rawData = s.rawData;
      s.t.dataLocation = s.dataLocation;
      s.t.externalData = s.externalData;
    }
  }
}
