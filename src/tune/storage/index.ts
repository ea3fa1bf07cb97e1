/** Storages for studies: memory (one process), SQLite (one machine), PostgreSQL (many machines). */
export type { Storage } from './storage.js';
export { InMemoryStorage } from './memory.js';
export { SqliteStorage, SQLITE_MIGRATIONS, migrateSqlite } from './sqlite.js';
export { PostgresStorage, POSTGRES_MIGRATIONS, migratePostgres, type PostgresOptions } from './postgres.js';
export { openStorage, storageKind, type StorageKind } from './open.js';
export { createTrialWithinBudget, retryFailedTrial, isCoordinated, type CoordinatedStorage } from './coordination.js';
