/**
 * Image records in the engine database: an image is its config digest (the image ID), the
 * manifest it came with, its layers (blob digest, diff ID, chain ID) and its names: tags
 * (`docker.io/library/busybox:latest`) and repo digests (`docker.io/library/busybox@sha256:…`).
 *
 * Pure bookkeeping: blobs and unpacked layers live in the content and layer stores; this
 * store tells which of them are still referenced.
 */
import { BerthError } from '../common/index.ts';
import { parseReference } from '../image/index.ts';
import type { ContainerConfig, ImageConfig } from '../image/index.ts';
import type { Database, Migration } from './db.ts';

export const IMAGE_MIGRATIONS: Migration[] = [
  {
    domain: 'images',
    version: 1,
    sql: `
      CREATE TABLE images (
        id TEXT PRIMARY KEY,
        manifest_digest TEXT NOT NULL,
        manifest_media_type TEXT NOT NULL,
        config TEXT NOT NULL,
        layers TEXT NOT NULL,
        size INTEGER NOT NULL,
        created TEXT,
        os TEXT NOT NULL,
        architecture TEXT NOT NULL,
        variant TEXT,
        added_at INTEGER NOT NULL,
        last_tag_time INTEGER
      );
      CREATE TABLE image_names (
        name TEXT PRIMARY KEY,
        image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        manifest_digest TEXT NOT NULL,
        tagged_at INTEGER NOT NULL
      );
      CREATE INDEX image_names_by_image ON image_names(image_id);
      CREATE TABLE image_digests (
        reference TEXT PRIMARY KEY,
        image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE
      );
      CREATE INDEX image_digests_by_image ON image_digests(image_id);
    `,
  },
];

export interface ImageLayer {
  /** Digest of the layer blob in the content store (compressed or not). */
  digest: string;
  mediaType: string;
  /** Size of the blob. */
  size: number;
  /** sha256 of the uncompressed tar. */
  diffId: string;
  chainId: string;
  /** Bytes of the uncompressed tar, when known. */
  diffSize?: number;
}

/** What is needed to add an image. */
export interface NewImage {
  id: string;
  manifestDigest: string;
  manifestMediaType: string;
  config: ImageConfig;
  layers: ImageLayer[];
  size: number;
}

export interface ImageRecord extends NewImage {
  created: string | undefined;
  os: string;
  architecture: string;
  variant: string | undefined;
  /** Tags: `docker.io/library/busybox:latest`, sorted. */
  names: string[];
  /** `docker.io/library/busybox@sha256:…`, sorted. */
  repoDigests: string[];
  /** When the image was added here (ms since the epoch). */
  addedAt: number;
  lastTagTime: number | undefined;
}

interface ImageRow {
  id: string;
  manifest_digest: string;
  manifest_media_type: string;
  config: string;
  layers: string;
  size: number;
  created: string | null;
  os: string;
  architecture: string;
  variant: string | null;
  added_at: number;
  last_tag_time: number | null;
}

const FULL_ID = /^(?:sha256:)?[0-9a-f]{64}$/;
const ID_PREFIX = /^(?:sha256:)?[0-9a-f]{1,63}$/;

/** An image ID in full form: `sha256:<64 hex>`. */
export function normalizeImageId(id: string): string {
  return id.startsWith('sha256:') ? id : `sha256:${id}`;
}

export function noSuchImage(imageRef: string): BerthError {
  return new BerthError('NOT_FOUND', `No such image: ${imageRef}`);
}

/** The runtime config of an image (Env, Cmd, Entrypoint, WorkingDir, User, …). */
export function imageContainerConfig(image: Pick<NewImage, 'config'>): ContainerConfig {
  return image.config.config ?? {};
}

export class ImageStore {
  private readonly db: Database;

  constructor(db: Database) {
    this.db = db;
  }

  /**
   * Add an image and point `names` (canonical
   * `name:tag`) and `repoDigests` (`name@digest`) at it, in one transaction. Returns the IDs
   * of images that lost their last name to this one (they are now dangling).
   */
  add(image: NewImage, opts: { names?: string[]; repoDigests?: string[] } = {}): { danglingIds: string[] } {
    const now = Date.now();
    return this.db.transaction(() => {
      this.db.run(
        `INSERT INTO images (id, manifest_digest, manifest_media_type, config, layers, size, created, os, architecture, variant, added_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(id) DO NOTHING`,
        image.id,
        image.manifestDigest,
        image.manifestMediaType,
        JSON.stringify(image.config),
        JSON.stringify(image.layers),
        image.size,
        image.config.created ?? null,
        image.config.os,
        image.config.architecture,
        image.config.variant ?? null,
        now,
      );
      const manifestDigest = this.row(image.id)?.manifest_digest ?? image.manifestDigest;
      const danglingIds = new Set<string>();
      for (const name of opts.names ?? []) {
        const previous = this.setName(name, image.id, manifestDigest, now);
        if (previous) danglingIds.add(previous);
      }
      for (const reference of opts.repoDigests ?? []) {
        this.db.run('INSERT INTO image_digests (reference, image_id) VALUES (?, ?) ON CONFLICT(reference) DO UPDATE SET image_id = excluded.image_id', reference, image.id);
      }
      return { danglingIds: [...danglingIds].filter((id) => id !== image.id && this.isDangling(id)) };
    });
  }

  /** Point the tag `name` (canonical `name:tag`) at an image. */
  tag(imageId: string, name: string): void {
    this.db.transaction(() => {
      const row = this.row(imageId);
      if (!row) throw noSuchImage(imageId);
      this.setName(name, row.id, row.manifest_digest, Date.now());
    });
  }

  /** Remove a tag or repo digest. Returns the image it pointed at, or undefined if there was none. */
  untag(reference: string): string | undefined {
    return this.db.transaction(() => {
      const table = reference.includes('@') ? 'image_digests' : 'image_names';
      const column = table === 'image_digests' ? 'reference' : 'name';
      const row = this.db.get<{ image_id: string }>(`SELECT image_id FROM ${table} WHERE ${column} = ?`, reference);
      if (!row) return undefined;
      this.db.run(`DELETE FROM ${table} WHERE ${column} = ?`, reference);
      return row.image_id;
    });
  }

  /** Delete the record of an image and all its names. */
  remove(imageId: string): boolean {
    return this.db.transaction(() => this.db.run('DELETE FROM images WHERE id = ?', imageId).changes > 0);
  }

  get(imageId: string): ImageRecord | undefined {
    const row = this.row(imageId);
    return row ? this.toRecord(row) : undefined;
  }

  list(): ImageRecord[] {
    return this.db.all<ImageRow>('SELECT * FROM images ORDER BY added_at DESC, id').map((row) => this.toRecord(row));
  }

  /**
   * Find an image as docker does: a full ID, then a name (`busybox`, `busybox:1.36`,
   * `busybox@sha256:…`), then an unambiguous ID prefix. Throws NOT_FOUND `No such image: …`.
   */
  resolve(imageRef: string): ImageRecord {
    const found = this.find(imageRef);
    if (!found) throw noSuchImage(imageRef);
    return found;
  }

  /** Like resolve, but undefined when there is no such image. */
  find(imageRef: string): ImageRecord | undefined {
    if (FULL_ID.test(imageRef)) {
      const image = this.get(normalizeImageId(imageRef));
      if (image) return image;
    }
    const byName = this.findByName(imageRef);
    if (byName) return byName;
    if (ID_PREFIX.test(imageRef)) {
      const prefix = normalizeImageId(imageRef);
      const rows = this.db.all<ImageRow>("SELECT * FROM images WHERE substr(id, 1, ?) = ? LIMIT 2", prefix.length, prefix);
      if (rows.length > 1) {
        throw new BerthError('INVALID_ARGUMENT', `image ID prefix ${JSON.stringify(imageRef)} is ambiguous`, { hint: 'give more characters of the ID' });
      }
      if (rows[0]) return this.toRecord(rows[0]);
    }
    return undefined;
  }

  /** The canonical reference a name resolves to (`name:tag` or `name@digest`), or undefined if it is not a valid name. */
  canonicalName(imageRef: string): string | undefined {
    try {
      const ref = parseReference(imageRef);
      return ref.digest ? `${ref.name}@${ref.digest}` : `${ref.name}:${ref.tag}`;
    } catch {
      return undefined;
    }
  }

  /** Everything the records reference: blobs (manifests, configs, layers) and unpacked layers. */
  references(): { blobs: Set<string>; chainIds: Set<string> } {
    const blobs = new Set<string>();
    const chainIds = new Set<string>();
    for (const row of this.db.all<{ id: string; manifest_digest: string; layers: string }>('SELECT id, manifest_digest, layers FROM images')) {
      blobs.add(row.id);
      blobs.add(row.manifest_digest);
      for (const layer of JSON.parse(row.layers) as ImageLayer[]) {
        blobs.add(layer.digest);
        chainIds.add(layer.chainId);
      }
    }
    return { blobs, chainIds };
  }

  isDangling(imageId: string): boolean {
    const names = this.db.get<{ n: number }>('SELECT count(*) AS n FROM image_names WHERE image_id = ?', imageId);
    const digests = this.db.get<{ n: number }>('SELECT count(*) AS n FROM image_digests WHERE image_id = ?', imageId);
    return (names?.n ?? 0) === 0 && (digests?.n ?? 0) === 0;
  }

  private findByName(imageRef: string): ImageRecord | undefined {
    const canonical = this.canonicalName(imageRef);
    if (!canonical) return undefined;
    const table = canonical.includes('@') ? 'image_digests' : 'image_names';
    const column = table === 'image_digests' ? 'reference' : 'name';
    const row = this.db.get<{ image_id: string }>(`SELECT image_id FROM ${table} WHERE ${column} = ?`, canonical);
    if (row) return this.get(row.image_id);
    if (!canonical.includes('@')) return undefined;
    // name@digest also finds an image pulled by tag whose manifest has that digest
    const at = canonical.indexOf('@');
    const byManifest = this.db.get<ImageRow>(
      'SELECT images.* FROM images JOIN image_names ON image_names.image_id = images.id WHERE images.manifest_digest = ? AND substr(image_names.name, 1, ?) = ? LIMIT 1',
      canonical.slice(at + 1),
      at + 1,
      canonical.slice(0, at) + ':',
    );
    return byManifest ? this.toRecord(byManifest) : undefined;
  }

  /** Point `name` at an image; returns the image it pointed at before, if another. */
  private setName(name: string, imageId: string, manifestDigest: string, now: number): string | undefined {
    const previous = this.db.get<{ image_id: string }>('SELECT image_id FROM image_names WHERE name = ?', name);
    this.db.run(
      'INSERT INTO image_names (name, image_id, manifest_digest, tagged_at) VALUES (?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id, manifest_digest = excluded.manifest_digest, tagged_at = excluded.tagged_at',
      name,
      imageId,
      manifestDigest,
      now,
    );
    this.db.run('UPDATE images SET last_tag_time = ? WHERE id = ?', now, imageId);
    return previous && previous.image_id !== imageId ? previous.image_id : undefined;
  }

  private row(imageId: string): ImageRow | undefined {
    return this.db.get<ImageRow>('SELECT * FROM images WHERE id = ?', normalizeImageId(imageId));
  }

  private toRecord(row: ImageRow): ImageRecord {
    const names = this.db.all<{ name: string }>('SELECT name FROM image_names WHERE image_id = ? ORDER BY name', row.id).map((r) => r.name);
    const repoDigests = this.db.all<{ reference: string }>('SELECT reference FROM image_digests WHERE image_id = ? ORDER BY reference', row.id).map((r) => r.reference);
    return {
      id: row.id,
      manifestDigest: row.manifest_digest,
      manifestMediaType: row.manifest_media_type,
      config: JSON.parse(row.config) as ImageConfig,
      layers: JSON.parse(row.layers) as ImageLayer[],
      size: row.size,
      created: row.created ?? undefined,
      os: row.os,
      architecture: row.architecture,
      variant: row.variant ?? undefined,
      names,
      repoDigests,
      addedAt: row.added_at,
      lastTagTime: row.last_tag_time ?? undefined,
    };
  }
}
