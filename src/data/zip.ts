/**
 * Reading .zip archives (what numpy.savez writes): the central directory, ZIP64 extensions, and stored
 * or deflated members (Node's zlib inflateRaw). Enough for .npz; not a general archiver.
 */
import { inflateRawSync } from 'node:zlib';
import { badInput } from '../errors.js';

export interface ZipEntry {
  name: string;
  read(): Uint8Array;
}

export function readZip(bytes: Uint8Array, what = 'the archive'): ZipEntry[] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let eocd = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 65535); i--) {
    if (dv.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw badInput(`${what} is not a zip archive (no end of central directory); write it with numpy.savez`);
  let count = dv.getUint16(eocd + 10, true);
  let cdOffset = dv.getUint32(eocd + 16, true);
  if (cdOffset === 0xffffffff || count === 0xffff) {
    // ZIP64: the locator just before the EOCD points at the ZIP64 end record.
    const loc = eocd - 20;
    if (loc < 0 || dv.getUint32(loc, true) !== 0x07064b50) throw badInput(`${what}: ZIP64 locator missing`);
    const rec = Number(dv.getBigUint64(loc + 8, true));
    count = Number(dv.getBigUint64(rec + 32, true));
    cdOffset = Number(dv.getBigUint64(rec + 48, true));
  }
  const entries: ZipEntry[] = [];
  let p = cdOffset;
  for (let k = 0; k < count; k++) {
    if (dv.getUint32(p, true) !== 0x02014b50) throw badInput(`${what}: corrupt central directory`);
    const method = dv.getUint16(p + 10, true);
    let csize = dv.getUint32(p + 20, true);
    let usize = dv.getUint32(p + 24, true);
    const nameLen = dv.getUint16(p + 28, true);
    const extraLen = dv.getUint16(p + 30, true);
    const commentLen = dv.getUint16(p + 32, true);
    let local = dv.getUint32(p + 42, true);
    const name = new TextDecoder().decode(bytes.subarray(p + 46, p + 46 + nameLen));
    // ZIP64 extra field (id 1): 64-bit values for exactly the fields that are 0xFFFFFFFF, in this order.
    let e = p + 46 + nameLen;
    const eEnd = e + extraLen;
    while (e + 4 <= eEnd) {
      const id = dv.getUint16(e, true);
      const len = dv.getUint16(e + 2, true);
      if (id === 1) {
        let q = e + 4;
        if (usize === 0xffffffff) {
          usize = Number(dv.getBigUint64(q, true));
          q += 8;
        }
        if (csize === 0xffffffff) {
          csize = Number(dv.getBigUint64(q, true));
          q += 8;
        }
        if (local === 0xffffffff) {
          local = Number(dv.getBigUint64(q, true));
          q += 8;
        }
      }
      e += 4 + len;
    }
    p = eEnd + commentLen;
    const at = local;
    entries.push({
      name,
      read() {
        if (dv.getUint32(at, true) !== 0x04034b50) throw badInput(`${what}: corrupt local header for '${name}'`);
        const start = at + 30 + dv.getUint16(at + 26, true) + dv.getUint16(at + 28, true);
        const raw = bytes.subarray(start, start + csize);
        if (method === 0) return raw;
        if (method === 8) {
          const out = inflateRawSync(raw);
          if (out.byteLength !== usize) throw badInput(`${what}: '${name}' inflated to ${out.byteLength} bytes, expected ${usize}`);
          return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
        }
        throw badInput(`${what}: '${name}' uses zip compression method ${method}; use numpy.savez or savez_compressed`);
      },
    });
  }
  return entries;
}
