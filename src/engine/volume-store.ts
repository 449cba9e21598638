/**
 * The engine's volume records (SQLite, domain `volumes`): each volume, and which container
 * mounts which volume where (what `volume rm` checks, what `rm -v` removes, what
 * `--volumes-from` copies). A volume's data is `<root>/volumes/<name>/_data` (docker's layout).
 */
import { BerthError } from '../common/index.ts';
import type { Database, Migration } from './db.ts';

export const VOLUME_MIGRATIONS: Migration[] = [
  {
    domain: 'volumes',
    version: 1,
    sql: `CREATE TABLE volumes (
      name TEXT PRIMARY KEY,
      driver TEXT NOT NULL,
      options TEXT NOT NULL DEFAULT '{}',
      labels TEXT NOT NULL DEFAULT '{}',
      anonymous INTEGER NOT NULL DEFAULT 0,
      created_at TEXT NOT NULL
    );
    CREATE TABLE container_volumes (
      container_id TEXT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
      volume TEXT NOT NULL REFERENCES volumes(name),
      destination TEXT NOT NULL,
      read_only INTEGER NOT NULL DEFAULT 0,
      PRIMARY KEY (container_id, destination)
    );
    CREATE INDEX container_volumes_volume ON container_volumes (volume);`,
  },
];

/** A volume a run asks for: `-v NAME:/path`, `-v /path` (anonymous), `--mount type=volume`. */
export interface VolumeSpec {
  /** undefined: an anonymous volume. */
  name?: string;
  target: string;
  readOnly: boolean;
  /** volume-nocopy: no copy-up from the image. */
  noCopy?: boolean;
  /** volume-opt=…: the options a volume made by this run gets. */
  driverOpts?: Record<string, string>;
}

export interface VolumeRecord {
  name: string;
  driver: string;
  /** --opt: type, o, device (docker's local driver). */
  options: Record<string, string>;
  labels: Record<string, string>;
  /** Made for `-v /path` or an image's VOLUME: removed by `rm -v` and `run --rm`. */
  anonymous: boolean;
  createdAt: string;
}

export interface VolumeUse {
  containerId: string;
  volume: string;
  destination: string;
  readOnly: boolean;
}

type VolumeRow = { name: string; driver: string; options: string; labels: string; anonymous: number; created_at: string };
type UseRow = { container_id: string; volume: string; destination: string; read_only: number };

function toVolume(r: VolumeRow): VolumeRecord {
  return { name: r.name, driver: r.driver, options: JSON.parse(r.options) as Record<string, string>, labels: JSON.parse(r.labels) as Record<string, string>, anonymous: r.anonymous === 1, createdAt: r.created_at };
}

function toUse(r: UseRow): VolumeUse {
  return { containerId: r.container_id, volume: r.volume, destination: r.destination, readOnly: r.read_only === 1 };
}

/** docker's rule for volume names. */
export function checkVolumeName(name: string): string {
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/.test(name) || name.length > 255) {
    throw new BerthError('INVALID_ARGUMENT', `"${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`);
  }
  return name;
}

export class VolumeStore {
  readonly db: Database;

  constructor(db: Database) {
    this.db = db;
  }

  list(): VolumeRecord[] {
    return this.db.all<VolumeRow>('SELECT * FROM volumes ORDER BY name').map(toVolume);
  }

  get(name: string): VolumeRecord | undefined {
    const r = this.db.get<VolumeRow>('SELECT * FROM volumes WHERE name = ?', name);
    return r && toVolume(r);
  }

  resolve(name: string): VolumeRecord {
    const v = this.get(name);
    if (!v) throw new BerthError('NOT_FOUND', `get ${name}: no such volume`);
    return v;
  }

  insert(v: VolumeRecord): void {
    this.db.run('INSERT INTO volumes (name, driver, options, labels, anonymous, created_at) VALUES (?, ?, ?, ?, ?, ?)', v.name, v.driver, JSON.stringify(v.options), JSON.stringify(v.labels), v.anonymous ? 1 : 0, v.createdAt);
  }

  remove(name: string): void {
    this.db.run('DELETE FROM volumes WHERE name = ?', name);
  }

  usesOf(containerId: string): VolumeUse[] {
    return this.db.all<UseRow>('SELECT * FROM container_volumes WHERE container_id = ? ORDER BY destination', containerId).map(toUse);
  }

  usersOf(volume: string): VolumeUse[] {
    return this.db.all<UseRow>('SELECT * FROM container_volumes WHERE volume = ? ORDER BY container_id', volume).map(toUse);
  }

  allUses(): VolumeUse[] {
    return this.db.all<UseRow>('SELECT * FROM container_volumes').map(toUse);
  }

  addUse(u: VolumeUse): void {
    this.db.run('INSERT INTO container_volumes (container_id, volume, destination, read_only) VALUES (?, ?, ?, ?)', u.containerId, u.volume, u.destination, u.readOnly ? 1 : 0);
  }
}
