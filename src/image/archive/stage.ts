/**
 * Read an image archive (docker-archive, legacy or with OCI layout; a plain OCI layout tar;
 * gzip or zstd compressed or not) in one streaming pass:
 *
 * - `blobs/sha256/<hex>` files go straight into the content store, verified against their name;
 * - the metadata berth reads (index.json, manifest.json, the `<id>.json` configs of
 *   docker-archives) is kept in memory, within the limits of ../limits.ts: a manifest.json or
 *   index.json over 4 MiB, or more than 32 MiB of it in all, is refused before it is read;
 * - what berth does not read (repositories, oci-layout, VERSION, legacy `<id>/json`) is skipped
 *   unread;
 * - a `*.json` larger than a config may be is skipped unread too (refused if a manifest names it);
 * - anything else (legacy `<id>/layer.tar`) is written to a staging directory while it is
 *   hashed, to be ingested once the manifest says what it is.
 *
 * Nothing here records an image: the caller resolves the staged archive and commits it.
 */
import { createHash } from 'node:crypto';
import { open, mkdir } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { BerthError } from '../../common/index.ts';
import { decompressStream, readTar, type ChunkSource } from '../../storage/index.ts';
import type { ContentStore } from '../content-store.ts';
import { MAX_ARCHIVE_METADATA_BYTES, MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES, formatBytes } from '../limits.ts';

const BLOB_PATH = /^blobs\/sha256\/([a-f0-9]{64})$/;
/** Files of an archive that berth never reads. */
const UNUSED_NAMES = new Set(['repositories', 'oci-layout', 'VERSION', 'json']);

export interface StagedFile {
  /** File in the staging directory. */
  path: string;
  digest: string;
  size: number;
}

export interface StagedArchive {
  /** Metadata files, by archive path. */
  files: Map<string, Buffer>;
  /** Large files written to the staging directory, by archive path. */
  staged: Map<string, StagedFile>;
  /** Blobs found under blobs/sha256 (now in the content store). */
  blobs: Set<string>;
  /** Symlinks (legacy docker-archives link repeated layers), archive path → resolved target path. */
  links: Map<string, string>;
  /** `*.json` files too large to be a config, skipped unread: archive path → size. */
  oversized: Map<string, number>;
}

/**
 * What berth makes of an archive file: a top-level index or manifest list (read, kept in memory
 * up to MAX_MANIFEST_BYTES), a config candidate (`*.json`, kept in memory), a file it never
 * reads (skipped), or anything else (staged on disk).
 */
function fileKind(name: string): 'index' | 'config' | 'unused' | 'other' {
  if (name === 'index.json' || name === 'manifest.json') return 'index';
  const base = posix.basename(name);
  if (UNUSED_NAMES.has(base)) return 'unused';
  return base.endsWith('.json') ? 'config' : 'other';
}

function tooLarge(name: string, size: number, limit: number, what: string): BerthError {
  return new BerthError('INVALID_ARGUMENT', `invalid image archive: ${name} is ${size} bytes, more than the ${formatBytes(limit)} ${what}`, {
    hint: 'the archive is malformed or hostile; nothing was loaded',
  });
}

/** A clean relative archive path, or undefined for names that cannot belong to an image archive. */
function cleanName(name: string): string | undefined {
  const cleaned = posix.normalize(name.replace(/^(\.\/)+/, '')).replace(/\/+$/, '');
  if (cleaned === '' || cleaned === '.' || cleaned.startsWith('/') || cleaned === '..' || cleaned.startsWith('../')) return undefined;
  return cleaned;
}

/** The body of a file into memory, refused past `limit` (whatever its header said). */
async function collect(body: AsyncIterable<Buffer>, limit: number, name: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > limit) throw tooLarge(name, size, limit, 'berth reads of it');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Writes a stream to a new file, hashing it on the way: its sha256 digest and size. */
export async function writeHashed(body: AsyncIterable<Uint8Array>, path: string, signal?: AbortSignal): Promise<{ digest: string; size: number }> {
  const handle = await open(path, 'wx', 0o600);
  const hash = createHash('sha256');
  let size = 0;
  try {
    for await (const chunk of body) {
      signal?.throwIfAborted();
      hash.update(chunk);
      size += chunk.length;
      let offset = 0;
      while (offset < chunk.length) offset += (await handle.write(chunk, offset, chunk.length - offset)).bytesWritten;
    }
  } finally {
    await handle.close();
  }
  return { digest: `sha256:${hash.digest('hex')}`, size };
}

/**
 * Stream `input` (an archive tar) into the content store and `stagingDir` (created; the
 * caller removes it). A blob whose content does not match its name fails the whole read.
 */
export async function stageArchive(input: ChunkSource, opts: { content: ContentStore; stagingDir: string; signal?: AbortSignal }): Promise<StagedArchive> {
  const staged: StagedArchive = { files: new Map(), staged: new Map(), blobs: new Set(), links: new Map(), oversized: new Map() };
  await mkdir(opts.stagingDir, { recursive: true, mode: 0o700 });
  let count = 0;
  let metadataBytes = 0;
  let isTar = false;
  try {
    for await (const entry of readTar(decompressStream(input))) {
      isTar = true;
      opts.signal?.throwIfAborted();
      const name = cleanName(entry.name);
      if (name === undefined || entry.type === 'dir') continue;
      if (entry.type === 'symlink' || entry.type === 'hardlink') {
        const target = entry.type === 'symlink' ? posix.join(posix.dirname(name), entry.linkname) : entry.linkname;
        const cleanTarget = cleanName(target);
        if (cleanTarget !== undefined) staged.links.set(name, cleanTarget);
        continue;
      }
      if (entry.type !== 'file') continue;
      const blob = BLOB_PATH.exec(name);
      if (blob) {
        const digest = `sha256:${blob[1]}`;
        try {
          await opts.content.ingest(entry.body, { digest, size: entry.size }, opts.signal ? { signal: opts.signal } : {});
        } catch (err) {
          if (err instanceof BerthError && err.code === 'INVALID_ARGUMENT') {
            throw new BerthError('INVALID_ARGUMENT', `invalid image archive: ${name} does not match its digest`, {
              cause: err,
              hint: 'the archive is corrupt or was modified; nothing was loaded',
            });
          }
          throw err;
        }
        staged.blobs.add(digest);
        continue;
      }
      const kind = fileKind(name);
      if (kind === 'unused') continue; // skipped unread
      if (kind === 'index' && entry.size > MAX_MANIFEST_BYTES) throw tooLarge(name, entry.size, MAX_MANIFEST_BYTES, 'a manifest may have');
      if (kind === 'index' || (kind === 'config' && entry.size <= MAX_CONFIG_BYTES)) {
        metadataBytes += entry.size;
        if (metadataBytes > MAX_ARCHIVE_METADATA_BYTES) {
          throw new BerthError('INVALID_ARGUMENT', `invalid image archive: its metadata files (index.json, manifest.json, *.json) hold more than the ${formatBytes(MAX_ARCHIVE_METADATA_BYTES)} berth reads of an archive`, {
            hint: 'the archive is malformed or hostile; nothing was loaded',
          });
        }
        staged.files.set(name, await collect(entry.body, kind === 'index' ? MAX_MANIFEST_BYTES : MAX_CONFIG_BYTES, name));
        continue;
      }
      if (kind === 'config') {
        staged.oversized.set(name, entry.size); // too large to be a config: skipped unread, refused if a manifest names it
        continue;
      }
      const path = join(opts.stagingDir, `file-${count++}`);
      staged.staged.set(name, { path, ...(await writeHashed(entry.body, path)) });
    }
  } catch (err) {
    if (err instanceof BerthError) throw err;
    throw new BerthError('INVALID_ARGUMENT', `cannot read the image archive: ${(err as Error).message}`, { cause: err });
  }
  if (!isTar) throw new BerthError('INVALID_ARGUMENT', 'cannot read the image archive: it is empty', { hint: 'give a tar written by berth save, docker save or skopeo' });
  return staged;
}
