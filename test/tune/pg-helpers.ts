// PostgreSQL for tests: the server named by HONE_TEST_POSTGRES_URL, one fresh schema per use.
import pg from 'pg';

export const PG_URL = process.env.HONE_TEST_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';

let counter = 0;

/** A schema name no other test (or test process) uses. */
export function uniqueSchema(prefix = 'hone_test'): string {
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${counter++}`;
}

export async function dropSchema(schema: string): Promise<void> {
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  try {
    await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await c.end();
  }
}
