import { badInput } from '../../errors.js';
import { InMemoryStorage } from './memory.js';
import { describeUrl, PostgresStorage, type PostgresOptions } from './postgres.js';
import { SqliteStorage } from './sqlite.js';
import type { Storage } from './storage.js';

export type StorageKind = 'memory' | 'sqlite' | 'postgres';

/**
 * Opens a storage from a URL:
 *   `memory`                                  this process only
 *   `sqlite:PATH` or `PATH.db` / `.sqlite`    one file, many processes on one machine
 *   `postgresql://user@host:port/db[?schema=NAME]` (or `postgres://`)   many machines
 */
export async function openStorage(url: string, opts: PostgresOptions = {}): Promise<Storage> {
  const kind = storageKind(url);
  if (kind === 'memory') return new InMemoryStorage();
  if (kind === 'sqlite') return new SqliteStorage(sqlitePath(url));
  const { url: plain, schema } = splitSchema(url);
  return PostgresStorage.connect(plain, { ...opts, schema: opts.schema ?? schema });
}

/** How messages and reports name a storage: a PostgreSQL URL without its user and password. */
export function storageWhere(url: string): string {
  return storageKind(url) === 'postgres' ? `postgresql://${describeUrl(url)}` : url;
}

export function storageKind(url: string): StorageKind {
  if (url === 'memory' || url === 'memory:') return 'memory';
  if (/^postgres(ql)?:\/\//.test(url)) return 'postgres';
  if (url.startsWith('sqlite:') || /\.(db|sqlite3?)$/i.test(url)) return 'sqlite';
  throw badInput(`unknown storage '${url}'; use memory, sqlite:PATH (or PATH.db) or postgresql://user@host:port/db`);
}

/** The file a sqlite: URL (or a PATH.db) names. */
export function sqlitePath(url: string): string {
  // Accept sqlite:PATH, sqlite://PATH and sqlite:///ABS/PATH (SQLAlchemy's spelling, which Optuna users know).
  const path = url.startsWith('sqlite:') ? url.slice('sqlite:'.length).replace(/^\/\/\/?/, (m) => (m === '///' ? '/' : '')) : url;
  if (!path) throw badInput(`storage '${url}' names no file; use sqlite:PATH, e.g. sqlite:study.db`);
  return path;
}

/** `?schema=NAME` is Hone's, not libpq's: take it off before pg sees the URL. */
function splitSchema(url: string): { url: string; schema?: string } {
  const q = url.indexOf('?');
  if (q < 0) return { url };
  const params = new URLSearchParams(url.slice(q + 1));
  const schema = params.get('schema') ?? undefined;
  params.delete('schema');
  const rest = params.toString();
  return { url: url.slice(0, q) + (rest ? `?${rest}` : ''), schema };
}
