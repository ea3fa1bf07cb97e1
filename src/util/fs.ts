import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync, mkdirSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { badInput } from '../errors.js';

/**
 * Writes `chunks` to `path` atomically: a temp file beside it, fsync, rename. Nothing half-written is
 * ever left at `path`; the temp file is removed on failure.
 */
export function writeFileAtomic(path: string, chunks: Iterable<Uint8Array> | Uint8Array | string): void {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${Date.now().toString(36)}.tmp`);
  let fd: number;
  try {
    fd = openSync(tmp, 'w');
  } catch (e) {
    throw cannotWrite(path, e);
  }
  try {
    const parts: Iterable<Uint8Array | string> = typeof chunks === 'string' || chunks instanceof Uint8Array ? [chunks] : chunks;
    for (const part of parts) writeAll(fd, typeof part === 'string' ? Buffer.from(part) : part);
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, path);
  } catch (e) {
    try {
      closeSync(fd);
    } catch {
      /* already closed */
    }
    rmSync(tmp, { force: true });
    throw cannotWrite(path, e);
  }
}

function writeAll(fd: number, data: Uint8Array): void {
  // writeSync may write less than asked for large buffers; loop until done, in ≤1 GiB slices.
  let off = 0;
  while (off < data.byteLength) {
    const n = Math.min(data.byteLength - off, 1 << 30);
    off += writeSync(fd, data, off, n);
  }
}

export function ensureDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw cannotWrite(dir, e);
  }
}

function cannotWrite(path: string, e: unknown) {
  const code = (e as NodeJS.ErrnoException)?.code;
  const why =
    code === 'ENOENT'
      ? 'its folder does not exist'
      : code === 'EACCES' || code === 'EPERM'
        ? 'permission denied'
        : code === 'ENOSPC'
          ? 'the disk is full'
          : code === 'EISDIR'
            ? 'it is a folder'
            : ((e as Error)?.message ?? String(e));
  return badInput(`cannot write ${path}: ${why}; choose a writable output path`, e);
}
