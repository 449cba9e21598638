/**
 * The engine's records in one SQLite database (`<root>/berth.db`, through `node:sqlite`):
 * WAL, a busy timeout so that concurrent berth processes wait for each other instead of
 * failing, foreign keys on, and one transaction per change.
 *
 * Each domain (images now; containers, volumes, networks later) brings its own numbered
 * migrations; `schema_version` records how far each domain's schema has gone, so domains
 * evolve independently and a newer database is refused by an older berth.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { DatabaseSync as DatabaseSyncType, SQLInputValue } from 'node:sqlite';
import { BerthError } from '../common/index.ts';

export const DEFAULT_ROOT = '/var/lib/berth';
export const DATABASE_FILE = 'berth.db';
const BUSY_TIMEOUT_MS = 30_000;

export interface Migration {
  /** Domain the migration belongs to, e.g. `images`. */
  domain: string;
  /** 1, 2, 3, … in order, per domain. */
  version: number;
  sql: string;
}

export type Row = Record<string, SQLInputValue>;

/**
 * node:sqlite is loaded lazily (process.getBuiltinModule) so that importing this module costs nothing
 * and tools that bundle berth do not need to know the module.
 */
function loadSqlite(): typeof import('node:sqlite') {
  return process.getBuiltinModule('node:sqlite') as typeof import('node:sqlite');
}

/** The engine's state directory: `--root`, else `$BERTH_ROOT`, else /var/lib/berth. */
export function resolveRoot(root?: string): string {
  return root ?? process.env.BERTH_ROOT ?? DEFAULT_ROOT;
}

export class Database {
  readonly path: string;
  private readonly db: DatabaseSyncType;
  private depth = 0;

  private constructor(path: string, db: DatabaseSyncType) {
    this.path = path;
    this.db = db;
  }

  /** Open (creating if missing) `<rootDir>/berth.db` and bring every domain's schema up to date. */
  static open(rootDir: string, migrations: readonly Migration[]): Database {
    mkdirSync(rootDir, { recursive: true, mode: 0o700 });
    const path = join(rootDir, DATABASE_FILE);
    const { DatabaseSync } = loadSqlite();
    let db: DatabaseSyncType;
    try {
      db = new DatabaseSync(path);
    } catch (err) {
      throw new BerthError('UNAVAILABLE', `cannot open the engine database ${path}: ${(err as Error).message}`, { cause: err });
    }
    const database = new Database(path, db);
    try {
      db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
      db.exec('PRAGMA journal_mode = WAL');
      db.exec('PRAGMA synchronous = NORMAL');
      db.exec('PRAGMA foreign_keys = ON');
      database.migrate(migrations);
    } catch (err) {
      db.close();
      throw err;
    }
    return database;
  }

  close(): void {
    if (this.db.isOpen) this.db.close();
  }

  /** Run `fn` in one transaction (BEGIN IMMEDIATE: writers queue up front, never deadlock half-way). Nested calls join the outer one. */
  transaction<T>(fn: () => T): T {
    if (this.depth > 0) {
      this.depth++;
      try {
        return fn();
      } finally {
        this.depth--;
      }
    }
    this.db.exec('BEGIN IMMEDIATE');
    this.depth = 1;
    try {
      const result = fn();
      if (result instanceof Promise) throw new BerthError('INTERNAL', 'a database transaction must be synchronous');
      this.db.exec('COMMIT');
      return result;
    } catch (err) {
      if (this.db.isTransaction) this.db.exec('ROLLBACK');
      throw err;
    } finally {
      this.depth = 0;
    }
  }

  run(sql: string, ...params: SQLInputValue[]): { changes: number } {
    const result = this.db.prepare(sql).run(...params);
    return { changes: Number(result.changes) };
  }

  get<T extends object = Row>(sql: string, ...params: SQLInputValue[]): T | undefined {
    const row = this.db.prepare(sql).get(...params);
    return row === undefined ? undefined : ({ ...row } as T);
  }

  all<T extends object = Row>(sql: string, ...params: SQLInputValue[]): T[] {
    // node:sqlite rows have a null prototype: make them ordinary objects
    return this.db.prepare(sql).all(...params).map((row) => ({ ...row }) as T);
  }

  /** The schema version of a domain (0 when it has none yet). */
  schemaVersion(domain: string): number {
    const row = this.get<{ version: number }>('SELECT version FROM schema_version WHERE domain = ?', domain);
    return row?.version ?? 0;
  }

  private migrate(migrations: readonly Migration[]): void {
    this.db.exec('CREATE TABLE IF NOT EXISTS schema_version (domain TEXT PRIMARY KEY, version INTEGER NOT NULL)');
    const domains = [...new Set(migrations.map((m) => m.domain))];
    for (const domain of domains) {
      const steps = migrations.filter((m) => m.domain === domain).sort((a, b) => a.version - b.version);
      const latest = steps.at(-1)?.version ?? 0;
      steps.forEach((m, i) => {
        if (m.version !== i + 1) throw new BerthError('INTERNAL', `migrations of ${domain} must be numbered 1, 2, 3, …`);
      });
      this.transaction(() => {
        const current = this.schemaVersion(domain);
        if (current > latest) {
          throw new BerthError('FAILED_PRECONDITION', `the engine database ${this.path} has ${domain} schema version ${current}, newer than this berth knows (${latest})`, {
            hint: 'use a newer berth, or another --root',
          });
        }
        for (const m of steps.slice(current)) this.db.exec(m.sql);
        if (current < latest) this.run('INSERT INTO schema_version (domain, version) VALUES (?, ?) ON CONFLICT(domain) DO UPDATE SET version = excluded.version', domain, latest);
      });
    }
  }
}
