/**
 * Blobs by digest, OCI image-layout style: `<rootDir>/blobs/sha256/<hex>`.
 *
 * Every write goes to a temp file in `<rootDir>/ingest`, is hashed as it streams, verified
 * (digest and size), fsynced and renamed into place: a blob is visible complete or not at all,
 * and a blob that fails verification leaves nothing behind. Concurrent writers of one digest
 * are safe (unique temp names; rename is atomic and both write the same bytes).
 *
 * Temp files are named after their owner (`ingest/.tmp-<pid>-<start>-*`, see
 * ../storage/owner.ts), so what a killed command left is recognised and removed
 * (`removeLeftovers`).
 *
 * Resumable ingests (resumable-ingest.ts) keep their partial file at `<rootDir>/ingest/<key>`
 * across a crash or a broken connection, and resume from its size: the next pull of the same
 * blob does. One that nobody resumes goes once it is older than the caller allows.
 *
 * A consumer (`IngestOptions.consumer`) can see a blob's bytes while it is ingested, e.g. to
 * unpack a layer as it downloads. It gets every byte from the first on, in order, and
 * `close()` before the blob is committed: if that fails, the blob is not stored. Its digest is
 * checked first, so a corrupt download is reported as a digest mismatch even when the consumer
 * choked on the bytes earlier.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { BerthError, isErrno } from '../common/index.ts';
import { ownedName, removeLeftovers, type Leftover } from '../storage/index.ts';
import { HEX64, canceled, digestHex, isAbort, mismatch, sha256Digest, toBuffer, type BlobSource, type ExpectedBlob, type FetchFrom, type IngestOptions, type ResumableIngestOptions } from './blob.ts';
import { FileAppender } from './file-appender.ts';
import { formatBytes } from './limits.ts';
import { ingestResumable, removeAbandonedPartial } from './resumable-ingest.ts';

export { digestHex, sha256Digest } from './blob.ts';
export type { BlobConsumer, BlobSource, ExpectedBlob, FetchFrom, IngestOptions, ResumableIngestOptions } from './blob.ts';

const TEMP_PREFIX = '.tmp-';

async function drain(source: BlobSource): Promise<void> {
  for await (const _ of source as AsyncIterable<unknown>) {
    // discard
  }
}

export class ContentStore {
  readonly rootDir: string;
  readonly blobsDir: string;
  readonly ingestDir: string;

  constructor(rootDir: string) {
    this.rootDir = resolve(rootDir);
    this.blobsDir = join(this.rootDir, 'blobs', 'sha256');
    this.ingestDir = join(this.rootDir, 'ingest');
  }

  blobPath(digest: string): string {
    return join(this.blobsDir, digestHex(digest));
  }

  async has(digest: string): Promise<boolean> {
    return (await this.size(digest)) !== undefined;
  }

  /** The stored blob's size in bytes, or undefined when it is not stored. */
  async size(digest: string): Promise<number | undefined> {
    try {
      return (await stat(this.blobPath(digest))).size;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    }
  }

  /**
   * Store a stream as blob `expected.digest`: nothing is stored unless its digest (and size,
   * when given) match. A blob already stored is not written again (the source is drained).
   */
  async ingest(source: BlobSource, expected: ExpectedBlob, opts: IngestOptions = {}): Promise<void> {
    const hex = digestHex(expected.digest);
    if (await this.has(expected.digest)) return drain(source);
    const tempPath = await this.#tempPath();
    const handle = await open(tempPath, 'wx', 0o644);
    const hash = createHash('sha256');
    const consumer = opts.consumer?.();
    const writer = new FileAppender(handle);
    let received = 0;
    try {
      for await (const chunk of source as AsyncIterable<Uint8Array | string>) {
        opts.signal?.throwIfAborted();
        const data = toBuffer(chunk);
        received += data.length;
        if (expected.size !== undefined && received > expected.size) throw mismatch(expected, received, 'more data than expected');
        hash.update(data);
        await (consumer ? Promise.all([writer.write(data), consumer.write(data)]) : writer.write(data));
        opts.onBytes?.(received);
      }
      const actual = `sha256:${hash.digest('hex')}`;
      if (actual !== expected.digest || (expected.size !== undefined && received !== expected.size)) {
        throw mismatch(expected, received, actual);
      }
      await writer.flush();
      await handle.sync();
      await handle.close();
      await consumer?.close();
      await this.commitFile(tempPath, hex);
    } catch (err) {
      await writer.flush().catch(() => {});
      await handle.close().catch(() => {});
      await rm(tempPath, { force: true });
      await consumer?.abort(err);
      throw isAbort(err, opts.signal) ? canceled(expected.digest, err) : err;
    }
  }

  /**
   * Store a blob fetched with `fetchFrom`, keeping the partial file `ingest/<key>` when the
   * transfer breaks (or the process dies) so that a later call resumes from its size (see
   * resumable-ingest.ts).
   */
  ingestResumable(key: string, fetchFrom: FetchFrom, expected: ExpectedBlob, opts: ResumableIngestOptions = {}): Promise<void> {
    return ingestResumable(this, key, fetchFrom, expected, opts);
  }

  /** Store bytes as a blob; returns the digest (checked against `digest` when given). */
  async writeBlob(data: Uint8Array, digest?: string): Promise<string> {
    const actual = sha256Digest(data);
    if (digest !== undefined && digest !== actual) {
      digestHex(digest);
      throw mismatch({ digest }, data.length, actual);
    }
    if (await this.has(actual)) return actual;
    const tempPath = await this.#tempPath();
    const handle = await open(tempPath, 'wx', 0o644);
    try {
      await handle.writeFile(data);
      await handle.sync();
      await handle.close();
      await this.commitFile(tempPath, digestHex(actual));
    } catch (err) {
      await handle.close().catch(() => {});
      await rm(tempPath, { force: true });
      throw err;
    }
    return actual;
  }

  /**
   * A stored blob's bytes, verified against its digest. With `maxBytes`, a larger blob is
   * refused (INVALID_ARGUMENT, `what` naming it) before it is read.
   */
  async readBlob(digest: string, opts: { maxBytes?: number; what?: string } = {}): Promise<Buffer> {
    let data: Buffer;
    try {
      if (opts.maxBytes !== undefined) {
        const size = (await stat(this.blobPath(digest))).size;
        if (size > opts.maxBytes) {
          throw new BerthError('INVALID_ARGUMENT', `${opts.what ?? 'blob'} ${digest} is ${size} bytes, more than the ${formatBytes(opts.maxBytes)} berth reads`);
        }
      }
      data = await readFile(this.blobPath(digest));
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw this.#notFound(digest);
      throw err;
    }
    const actual = sha256Digest(data);
    if (actual !== digest) {
      throw new BerthError('INTERNAL', `stored blob ${digest} is corrupt: its content hashes to ${actual}`, {
        hint: 'delete the image and pull it again',
      });
    }
    return data;
  }

  /** A stream of a stored blob; a missing blob fails the stream with NOT_FOUND. */
  openBlob(digest: string): NodeJS.ReadableStream {
    const path = this.blobPath(digest);
    const notFound = () => this.#notFound(digest);
    async function* read(): AsyncGenerator<Buffer> {
      try {
        yield* createReadStream(path, { highWaterMark: 256 * 1024 }) as AsyncIterable<Buffer>;
      } catch (err) {
        if (isErrno(err, 'ENOENT')) throw notFound();
        throw err;
      }
    }
    return Readable.from(read(), { objectMode: false });
  }

  async delete(digest: string): Promise<void> {
    await rm(this.blobPath(digest), { force: true });
  }

  /** Digests of all stored blobs. */
  async list(): Promise<string[]> {
    const names = await readdir(this.blobsDir).catch((err: unknown) => {
      if (isErrno(err, 'ENOENT')) return [] as string[];
      throw err;
    });
    return names.filter((n) => HEX64.test(n)).sort().map((n) => `sha256:${n}`);
  }

  /** Names in the ingest dir: resumable partial files and temp files of ingests in progress (or crashed). */
  async listIngests(): Promise<string[]> {
    return readdir(this.ingestDir).catch((err: unknown) => {
      if (isErrno(err, 'ENOENT')) return [] as string[];
      throw err;
    });
  }

  /**
   * Remove what killed commands left in the ingest dir: temp files whose owner is gone, and
   * resumable partial files that nobody resumes and that were not written for
   * `partialMaxAgeMs` (0: every one nobody resumes). Partial files of a live pull are never
   * touched.
   */
  async removeLeftovers(opts: { partialMaxAgeMs: number }): Promise<Leftover[]> {
    const removed = await removeLeftovers(this.ingestDir, [TEMP_PREFIX]);
    for (const name of await this.listIngests()) {
      if (name.startsWith(TEMP_PREFIX)) continue;
      const partial = await removeAbandonedPartial(this, name, (p) => p.age >= opts.partialMaxAgeMs);
      if (partial) removed.push({ path: partial.path, size: partial.size });
    }
    return removed;
  }

  async #tempPath(): Promise<string> {
    await mkdir(this.ingestDir, { recursive: true });
    return join(this.ingestDir, ownedName(TEMP_PREFIX));
  }

  /** Move a verified file of the ingest dir into place as blob `hex` (for the ingest code). */
  async commitFile(tempPath: string, hex: string): Promise<void> {
    await mkdir(this.blobsDir, { recursive: true });
    await rename(tempPath, join(this.blobsDir, hex));
  }

  #notFound(digest: string): BerthError {
    return new BerthError('NOT_FOUND', `blob ${digest} not found in the content store`);
  }
}
