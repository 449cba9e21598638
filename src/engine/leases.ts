/**
 * Leases keep garbage collection and writers apart across berth processes (there is no
 * daemon to serialise them). A writer (pull, load, import) holds a `write` lease while it puts
 * blobs and layers in place that no image record references yet; the collector holds a `gc`
 * lease while it deletes unreferenced ones.
 *
 * - A writer waits while a collection runs (collections are short).
 * - A collection does not start while any writer runs: it is skipped, and the next one
 *   collects what this one would have (nothing unreferenced is ever needed again).
 *
 * A lease records its process id and that process's start time, so a lease left by a
 * crashed process is recognised as stale and dropped, even if the pid was reused.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { BerthError } from '../common/index.ts';
import { processStartTime } from '../storage/index.ts';
import type { Database, Migration } from './db.ts';

export const LEASE_MIGRATIONS: Migration[] = [
  {
    domain: 'leases',
    version: 1,
    sql: `CREATE TABLE leases (
      id TEXT PRIMARY KEY,
      kind TEXT NOT NULL CHECK (kind IN ('write', 'gc')),
      pid INTEGER NOT NULL,
      pid_start TEXT NOT NULL,
      created_at INTEGER NOT NULL
    )`,
  },
];

export type LeaseKind = 'write' | 'gc';

export interface Lease {
  id: string;
  kind: LeaseKind;
  release(): void;
}

const WAIT_STEP_MS = 50;
const WAIT_LIMIT_MS = 10 * 60_000;

export { processStartTime };

interface LeaseRow {
  id: string;
  kind: LeaseKind;
  pid: number;
  pid_start: string;
}

function isLive(row: LeaseRow): boolean {
  return processStartTime(row.pid) === row.pid_start;
}

export class Leases {
  private readonly db: Database;

  constructor(db: Database) {
    this.db = db;
  }

  /** Take a write lease, waiting while a collection runs. */
  async acquireWrite(signal?: AbortSignal): Promise<Lease> {
    const started = Date.now();
    for (;;) {
      const lease = this.tryAcquire('write', 'gc');
      if (lease) return lease;
      signal?.throwIfAborted();
      if (Date.now() - started > WAIT_LIMIT_MS) {
        throw new BerthError('UNAVAILABLE', 'timed out waiting for a garbage collection of another berth process to finish');
      }
      await sleep(WAIT_STEP_MS);
    }
  }

  /** Take the collector's lease, or undefined when a writer (or another collection) is running. */
  tryAcquireGc(): Lease | undefined {
    return this.tryAcquire('gc', 'write', 'gc');
  }

  /** Leases of live processes. */
  live(): Array<{ id: string; kind: LeaseKind; pid: number }> {
    return this.db.all<LeaseRow>('SELECT id, kind, pid, pid_start FROM leases').filter(isLive).map(({ id, kind, pid }) => ({ id, kind, pid }));
  }

  private tryAcquire(kind: LeaseKind, ...blockedBy: LeaseKind[]): Lease | undefined {
    const pidStart = processStartTime(process.pid);
    if (pidStart === undefined) throw new BerthError('INTERNAL', 'cannot read the start time of this process from /proc');
    const id = randomBytes(8).toString('hex');
    const isTaken = this.db.transaction(() => {
      for (const row of this.db.all<LeaseRow>('SELECT id, kind, pid, pid_start FROM leases')) {
        if (!isLive(row)) this.db.run('DELETE FROM leases WHERE id = ?', row.id);
        else if (blockedBy.includes(row.kind)) return false;
      }
      this.db.run('INSERT INTO leases (id, kind, pid, pid_start, created_at) VALUES (?, ?, ?, ?, ?)', id, kind, process.pid, pidStart, Date.now());
      return true;
    });
    if (!isTaken) return undefined;
    let isReleased = false;
    return {
      id,
      kind,
      release: () => {
        if (isReleased) return;
        isReleased = true;
        this.db.run('DELETE FROM leases WHERE id = ?', id);
      },
    };
  }
}
