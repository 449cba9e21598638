/**
 * Read an image archive (docker-archive, legacy or with OCI layout; a plain OCI layout tar;
 * gzip or zstd compressed or not) in one streaming pass:
 *
 * - `blobs/sha256/<hex>` files go straight into the content store, verified against their name;
 * - small metadata files (index.json, manifest.json, `<id>.json`, …) are kept in memory;
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

const BLOB_PATH = /^blobs\/sha256\/([a-f0-9]{64})$/;
const METADATA_LIMIT = 16 * 1024 * 1024;

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
}

function isMetadataName(name: string): boolean {
  const base = posix.basename(name);
  return base.endsWith('.json') || base === 'json' || base === 'VERSION' || base === 'repositories' || base === 'oci-layout';
}

/** A clean relative archive path, or undefined for names that cannot belong to an image archive. */
function cleanName(name: string): string | undefined {
  const cleaned = posix.normalize(name.replace(/^(\.\/)+/, '')).replace(/\/+$/, '');
  if (cleaned === '' || cleaned === '.' || cleaned.startsWith('/') || cleaned === '..' || cleaned.startsWith('../')) return undefined;
  return cleaned;
}

async function collect(body: AsyncIterable<Buffer>, limit: number, name: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > limit) throw new BerthError('INVALID_ARGUMENT', `image archive file ${name} is larger than ${limit} bytes`);
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
  const staged: StagedArchive = { files: new Map(), staged: new Map(), blobs: new Set(), links: new Map() };
  await mkdir(opts.stagingDir, { recursive: true, mode: 0o700 });
  let count = 0;
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
      } else if (isMetadataName(name) && entry.size <= METADATA_LIMIT) {
        staged.files.set(name, await collect(entry.body, METADATA_LIMIT, name));
      } else {
        const path = join(opts.stagingDir, `file-${count++}`);
        staged.staged.set(name, { path, ...(await writeHashed(entry.body, path)) });
      }
    }
  } catch (err) {
    if (err instanceof BerthError) throw err;
    throw new BerthError('INVALID_ARGUMENT', `cannot read the image archive: ${(err as Error).message}`, { cause: err });
  }
  if (!isTar) throw new BerthError('INVALID_ARGUMENT', 'cannot read the image archive: it is empty', { hint: 'give a tar written by berth save, docker save or skopeo' });
  return staged;
}
