/**
 * The engine's container records (SQLite, domain `containers`), the per-container lock, and
 * the event log. A record is written before anything of the container is made, so a killed
 * command always leaves something `rm -f` and `system check` find.
 *
 * The lock: a verb that touches the kernel (start, stop, kill, rm, …) holds the container's
 * `busy` columns (its pid and that pid's start time, like the leases); a lock of a process
 * that is gone is stale and taken over. Several berth commands at once are safe this way with
 * no daemon and no flock(2) (which Node cannot call).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { BerthError, randomBytesSync } from '../common/index.ts';
import { processStartTime } from '../storage/index.ts';
import type { Database, Migration } from './db.ts';
import type { RunSpec } from './container-spec.ts';
import type { ContainerStatus } from './container-status.ts';

export const CONTAINER_MIGRATIONS: Migration[] = [
  {
    domain: 'containers',
    version: 1,
    sql: `CREATE TABLE containers (
      id TEXT PRIMARY KEY,
      name TEXT NOT NULL UNIQUE,
      image_id TEXT NOT NULL,
      image_ref TEXT NOT NULL,
      layers TEXT NOT NULL,
      created_at TEXT NOT NULL,
      spec TEXT NOT NULL,
      config TEXT NOT NULL,
      status TEXT NOT NULL,
      pid INTEGER NOT NULL DEFAULT 0,
      pid_start TEXT NOT NULL DEFAULT '',
      monitor_pid INTEGER NOT NULL DEFAULT 0,
      monitor_start TEXT NOT NULL DEFAULT '',
      started_at TEXT NOT NULL DEFAULT '',
      finished_at TEXT NOT NULL DEFAULT '',
      exit_code INTEGER NOT NULL DEFAULT 0,
      oom_killed INTEGER NOT NULL DEFAULT 0,
      error TEXT NOT NULL DEFAULT '',
      restart_count INTEGER NOT NULL DEFAULT 0,
      stopped_by_user INTEGER NOT NULL DEFAULT 0,
      busy_pid INTEGER,
      busy_start TEXT,
      busy_op TEXT
    );
    CREATE INDEX containers_image ON containers (image_id);
    CREATE TABLE events (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      time_nano INTEGER NOT NULL,
      type TEXT NOT NULL,
      action TEXT NOT NULL,
      actor_id TEXT NOT NULL,
      attributes TEXT NOT NULL
    );`,
  },
];

/** A container as the engine records it. */
export interface ContainerRecord {
  id: string;
  name: string;
  imageId: string;
  /** What the user named the image with. */
  imageRef: string;
  /** Chain IDs of the image's layers, base first: kept from deletion while the container lives. */
  layers: string[];
  createdAt: string;
  spec: RunSpec;
  /** The image's config and the run's, merged as docker shows them (inspect's Config). */
  config: Record<string, unknown>;
  status: ContainerStatus;
  pid: number;
  pidStart: string;
  /** The monitor (or, once the container ended, its exit command; while restarting, the
   * cleanup that restarts it) and its start time: whoever will finish the container. */
  monitorPid: number;
  monitorStart: string;
  startedAt: string;
  finishedAt: string;
  exitCode: number;
  oomKilled: boolean;
  error: string;
  restartCount: number;
  /** `stop`/`kill` by the user (no restart for `unless-stopped`, `on-failure`). */
  stoppedByUser: boolean;
}

interface Row {
  id: string;
  name: string;
  image_id: string;
  image_ref: string;
  layers: string;
  created_at: string;
  spec: string;
  config: string;
  status: string;
  pid: number;
  pid_start: string;
  monitor_pid: number;
  monitor_start: string;
  started_at: string;
  finished_at: string;
  exit_code: number;
  oom_killed: number;
  error: string;
  restart_count: number;
  stopped_by_user: number;
}

function fromRow(r: Row): ContainerRecord {
  return {
    id: r.id,
    name: r.name,
    imageId: r.image_id,
    imageRef: r.image_ref,
    layers: JSON.parse(r.layers) as string[],
    createdAt: r.created_at,
    spec: JSON.parse(r.spec) as RunSpec,
    config: JSON.parse(r.config) as Record<string, unknown>,
    status: r.status as ContainerStatus,
    pid: r.pid,
    pidStart: r.pid_start,
    monitorPid: r.monitor_pid,
    monitorStart: r.monitor_start,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    exitCode: r.exit_code,
    oomKilled: r.oom_killed !== 0,
    error: r.error,
    restartCount: r.restart_count,
    stoppedByUser: r.stopped_by_user !== 0,
  };
}

const COLUMNS: Record<keyof Omit<ContainerRecord, 'id'>, string> = {
  name: 'name',
  imageId: 'image_id',
  imageRef: 'image_ref',
  layers: 'layers',
  createdAt: 'created_at',
  spec: 'spec',
  config: 'config',
  status: 'status',
  pid: 'pid',
  pidStart: 'pid_start',
  monitorPid: 'monitor_pid',
  monitorStart: 'monitor_start',
  startedAt: 'started_at',
  finishedAt: 'finished_at',
  exitCode: 'exit_code',
  oomKilled: 'oom_killed',
  error: 'error',
  restartCount: 'restart_count',
  stoppedByUser: 'stopped_by_user',
};

function toColumn(value: unknown): string | number {
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'number' || typeof value === 'string') return value;
  return JSON.stringify(value);
}

/** docker's rule for names: [a-zA-Z0-9][a-zA-Z0-9_.-]+ (a leading / is dropped). */
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

export function validateName(name: string): string {
  const bare = name.startsWith('/') ? name.slice(1) : name;
  if (!NAME_RE.test(bare) || bare.length > 255) {
    throw new BerthError('INVALID_ARGUMENT', `Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  }
  return bare;
}

const ADJECTIVES = ['bold', 'brave', 'calm', 'clever', 'eager', 'fond', 'gentle', 'happy', 'keen', 'kind', 'lucid', 'merry', 'nifty', 'proud', 'quiet', 'sharp', 'stoic', 'swift', 'vivid', 'witty'];
const NOUNS = ['anchor', 'berth', 'buoy', 'cargo', 'cove', 'dock', 'ferry', 'harbor', 'hull', 'keel', 'mast', 'pier', 'quay', 'raft', 'rudder', 'sail', 'skiff', 'tide', 'wharf', 'yacht'];

export function randomName(): string {
  const b = randomBytesSync(2);
  return `${ADJECTIVES[b[0]! % ADJECTIVES.length]}_${NOUNS[b[1]! % NOUNS.length]}`;
}

export interface ContainerEvent {
  id: number;
  timeNano: bigint;
  type: string;
  action: string;
  actorId: string;
  attributes: Record<string, string>;
}

export class ContainerStore {
  private readonly db: Database;
  /** Resolved at the next change this process makes (waiters wake at once for their own changes;
   * other processes' changes are seen by polling). */
  #next: { promise: Promise<void>; resolve: () => void } | undefined;

  constructor(db: Database) {
    this.db = db;
  }

  /** A promise of the next change of a record made by this process. */
  nextChange(): Promise<void> {
    if (!this.#next) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.#next = { promise, resolve };
    }
    return this.#next.promise;
  }

  #changed(): void {
    const next = this.#next;
    this.#next = undefined;
    next?.resolve();
  }

  /** Adds the record, locked by this process (see lock(); `release` ends it once the container's
   * files are made); a taken name is CONFLICT with docker's message. A name left empty gets a
   * random one. */
  insert(rec: ContainerRecord): ContainerRecord {
    return this.db.transaction(() => {
      let name = rec.name;
      for (let attempt = 0; !name; attempt++) {
        const candidate = attempt < 5 ? randomName() : `${randomName()}_${attempt}`;
        if (!this.db.get('SELECT 1 FROM containers WHERE name = ?', candidate)) name = candidate;
      }
      const taken = this.db.get<{ id: string }>('SELECT id FROM containers WHERE name = ?', name);
      if (taken) {
        throw new BerthError('CONFLICT', `Conflict. The container name "/${name}" is already in use by container "${taken.id}". You have to remove (or rename) that container to be able to reuse that name.`);
      }
      const full = { ...rec, name };
      const keys = Object.keys(COLUMNS) as (keyof typeof COLUMNS)[];
      this.db.run(
        `INSERT INTO containers (id, busy_pid, busy_start, busy_op, ${keys.map((k) => COLUMNS[k]).join(', ')}) VALUES (?, ?, ?, 'create', ${keys.map(() => '?').join(', ')})`,
        full.id,
        process.pid,
        processStartTime(process.pid) ?? '',
        ...keys.map((k) => toColumn(full[k])),
      );
      return full;
    });
  }

  get(id: string): ContainerRecord | undefined {
    const row = this.db.get<Row>('SELECT * FROM containers WHERE id = ?', id);
    return row ? fromRow(row) : undefined;
  }

  /** By full ID, name, or a unique ID prefix (docker's order). NOT_FOUND `No such container`. */
  resolve(ref: string): ContainerRecord {
    const bare = ref.startsWith('/') ? ref.slice(1) : ref;
    const byId = this.db.get<Row>('SELECT * FROM containers WHERE id = ?', bare);
    if (byId) return fromRow(byId);
    const byName = this.db.get<Row>('SELECT * FROM containers WHERE name = ?', bare);
    if (byName) return fromRow(byName);
    if (/^[0-9a-f]+$/.test(bare)) {
      const rows = this.db.all<Row>('SELECT * FROM containers WHERE id LIKE ? LIMIT 2', `${bare}%`);
      if (rows.length === 1) return fromRow(rows[0]!);
      if (rows.length > 1) throw new BerthError('INVALID_ARGUMENT', `multiple IDs found with provided prefix: ${bare}`);
    }
    throw new BerthError('NOT_FOUND', `No such container: ${ref}`);
  }

  list(): ContainerRecord[] {
    return this.db.all<Row>('SELECT * FROM containers ORDER BY created_at DESC, rowid DESC').map(fromRow);
  }

  /** Changes fields; with `ifStatus`, only when the status is one of those (else false). */
  update(id: string, fields: Partial<Omit<ContainerRecord, 'id'>>, ifStatus?: readonly ContainerStatus[]): boolean {
    const keys = Object.keys(fields) as (keyof typeof COLUMNS)[];
    if (keys.length === 0) return true;
    const where = ifStatus ? ` AND status IN (${ifStatus.map(() => '?').join(', ')})` : '';
    const { changes } = this.db.run(
      `UPDATE containers SET ${keys.map((k) => `${COLUMNS[k]} = ?`).join(', ')} WHERE id = ?${where}`,
      ...keys.map((k) => toColumn(fields[k])),
      id,
      ...(ifStatus ?? []),
    );
    if (changes > 0) this.#changed();
    return changes > 0;
  }

  /** Ends this process's lock of the container (taken by insert or lock). */
  release(id: string): void {
    this.db.run('UPDATE containers SET busy_pid = NULL, busy_start = NULL, busy_op = NULL WHERE id = ? AND busy_pid = ?', id, process.pid);
  }

  remove(id: string): void {
    this.db.run('DELETE FROM containers WHERE id = ?', id);
    this.#changed();
  }

  /** The IDs of containers made from `imageId`, and whether one runs. */
  usersOf(imageId: string): { id: string; status: string }[] {
    return this.db.all<{ id: string; status: string }>('SELECT id, status FROM containers WHERE image_id = ?', imageId);
  }

  /** A container made from `imageId` (a running one first), for `rmi`'s refusal. */
  imageUser(imageId: string): { containerId: string; isRunning: boolean } | undefined {
    const rows = this.usersOf(imageId);
    const row = rows.find((r) => r.status === 'running' || r.status === 'paused' || r.status === 'restarting') ?? rows[0];
    return row ? { containerId: row.id, isRunning: row.status !== 'created' && row.status !== 'exited' && row.status !== 'dead' } : undefined;
  }

  /** Every layer a container still needs (its overlay mounts them). */
  layersInUse(): Set<string> {
    const out = new Set<string>();
    for (const row of this.db.all<{ layers: string }>('SELECT layers FROM containers')) for (const l of JSON.parse(row.layers) as string[]) out.add(l);
    return out;
  }

  /**
   * Takes the container's lock for `op`, waiting while another live berth process holds it
   * (up to `timeoutMs`). Returns the release function.
   */
  async lock(id: string, op: string, timeoutMs = 60_000): Promise<() => void> {
    const pid = process.pid;
    const start = processStartTime(pid) ?? '';
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const got = this.db.transaction(() => {
        const row = this.db.get<{ busy_pid: number | null; busy_start: string | null; busy_op: string | null }>('SELECT busy_pid, busy_start, busy_op FROM containers WHERE id = ?', id);
        if (!row) throw new BerthError('NOT_FOUND', `No such container: ${id}`);
        const held = row.busy_pid !== null && !(row.busy_pid === pid && row.busy_start === start) && processStartTime(row.busy_pid) === row.busy_start;
        if (held) return row.busy_op ?? 'another command';
        this.db.run('UPDATE containers SET busy_pid = ?, busy_start = ?, busy_op = ? WHERE id = ?', pid, start, op, id);
        return undefined;
      });
      if (got === undefined) break;
      if (Date.now() > deadline) throw new BerthError('UNAVAILABLE', `container ${id.slice(0, 12)} is busy (${got}) in another berth command`);
      await sleep(20);
    }
    return () => {
      this.db.run('UPDATE containers SET busy_pid = NULL, busy_start = NULL, busy_op = NULL WHERE id = ? AND busy_pid = ? AND busy_start = ?', id, pid, start);
    };
  }

  /** Appends to the event log every berth process shares (`berth events`, the API's /events). */
  event(type: string, action: string, actorId: string, attributes: Record<string, string> = {}): void {
    const now = BigInt(Date.now()) * 1_000_000n + process.hrtime.bigint() % 1_000_000n;
    this.db.run('INSERT INTO events (time_nano, type, action, actor_id, attributes) VALUES (?, ?, ?, ?, ?)', now, type, action, actorId, JSON.stringify(attributes));
  }

  /** The exit code of a container's last run, from its 'die' event (kept after it is removed). */
  lastExitCode(id: string): number | undefined {
    const row = this.db.get<{ attributes: string }>("SELECT attributes FROM events WHERE actor_id = ? AND action = 'die' ORDER BY id DESC LIMIT 1", id);
    const code = row ? Number((JSON.parse(row.attributes) as Record<string, string>).exitCode) : NaN;
    return Number.isInteger(code) ? code : undefined;
  }

  events(since: number, limit = 1000): ContainerEvent[] {
    return this.db
      // nanoseconds since the epoch are past 2^53: read as text, made a bigint
      .all<{ id: number; time_nano: string; type: string; action: string; actor_id: string; attributes: string }>(
        'SELECT id, CAST(time_nano AS TEXT) AS time_nano, type, action, actor_id, attributes FROM events WHERE id > ? ORDER BY id LIMIT ?',
        since,
        limit,
      )
      .map((r) => ({ id: r.id, timeNano: BigInt(r.time_nano), type: r.type, action: r.action, actorId: r.actor_id, attributes: JSON.parse(r.attributes) as Record<string, string> }));
  }
}

/** A new container ID: 64 hex characters, as docker's. */
export function newContainerId(): string {
  return randomBytesSync(32).toString('hex');
}
