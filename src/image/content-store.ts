/**
 * Blobs by digest, OCI image-layout style: `<rootDir>/blobs/sha256/<hex>`.
 *
 * Every write goes to a temp file in `<rootDir>/ingest`, is hashed as it streams, verified
 * (digest and size), fsynced and renamed into place: a blob is visible complete or not at all,
 * and a blob that fails verification leaves nothing behind. Concurrent writers of one digest
 * are safe (unique temp names; rename is atomic and both write the same bytes).
 *
 * Resumable ingests keep their partial file at `<rootDir>/ingest/<key>` across a crash or a
 * broken connection: the next attempt re-hashes the prefix and asks for the rest. One writer
 * per key: in a process, later callers wait for the first; across processes an abstract unix
 * socket named after the key is the lock (the kernel drops it when its owner dies), and a
 * process that finds it taken ingests into a temp file of its own instead.
 *
 * A consumer (`IngestOptions.consumer`) can see a blob's bytes while it is ingested, e.g. to
 * unpack a layer as it downloads. It gets every byte from the first on, in order (a resumed
 * ingest re-reads the partial file for it), and `close()` before the blob is committed: if that
 * fails, the blob is not stored. Its digest is checked first, so a corrupt download is reported
 * as a digest mismatch even when the consumer choked on the bytes earlier.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { BerthError, isErrno } from '../common/index.ts';
import { FileAppender } from './file-appender.ts';

export interface ExpectedBlob {
  digest: string;
  size?: number;
}

/** Sees a blob's bytes while it is ingested, and has a say before it is committed. */
export interface BlobConsumer {
  /**
   * The next bytes of the blob (from byte 0 on, without gaps or repeats). The promise is
   * back-pressure: the ingest waits for it. A consumer that failed should resolve (and drop the
   * bytes), keeping its error for `close()`.
   */
  write(chunk: Buffer): Promise<void>;
  /** Every byte was written and the blob matches its digest: finish. Throwing keeps the blob out. */
  close(): Promise<void>;
  /** The ingest failed or was canceled: undo whatever was made (resolves once undone). */
  abort(reason: unknown): Promise<void>;
}

export interface IngestOptions {
  /** Called as data arrives with the number of bytes of the blob received so far. */
  onBytes?: (received: number) => void;
  signal?: AbortSignal;
  /** Makes a consumer of the blob's bytes; called whenever the ingest (re)starts from byte 0. */
  consumer?: () => BlobConsumer;
}

export interface ResumableIngestOptions extends IngestOptions {
  /** How many times a broken transfer is resumed before giving up (default 3). */
  retries?: number;
}

export type BlobSource = AsyncIterable<Uint8Array | string> | NodeJS.ReadableStream;

/** `fetchFrom(offset)` yields the blob's bytes from `offset` on (offset 0: the whole blob). */
export type FetchFrom = (offset: number) => Promise<AsyncIterable<Uint8Array>>;

const HEX64 = /^[a-f0-9]{64}$/;
const KEY = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,200}$/;
const TEMP_PREFIX = '.tmp-';
const RESUME_DELAY_MS = 250;
const inflight = new Map<string, Promise<void>>();

/** `sha256:<hex>` of some bytes. */
export function sha256Digest(data: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** The hex part of a sha256 digest; other algorithms and malformed digests are refused. */
export function digestHex(digest: string): string {
  if (!digest.startsWith('sha256:')) {
    throw new BerthError('NOT_IMPLEMENTED', `unsupported digest ${JSON.stringify(digest)}: the content store keeps sha256 blobs only`);
  }
  const hex = digest.slice(7);
  if (!HEX64.test(hex)) throw new BerthError('INVALID_ARGUMENT', `invalid digest ${JSON.stringify(digest)}: expected sha256: and 64 lowercase hex digits`);
  return hex;
}

function mismatch(expected: ExpectedBlob, size: number, actual: string): BerthError {
  if (expected.size !== undefined && size !== expected.size) {
    return new BerthError('INVALID_ARGUMENT', `size mismatch for ${expected.digest}: got ${size} bytes, expected ${expected.size}`, {
      hint: 'the registry sent a truncated or wrong blob; nothing was stored',
    });
  }
  return new BerthError('INVALID_ARGUMENT', `digest mismatch for ${expected.digest}: got ${actual}`, {
    hint: 'the registry sent corrupt or tampered content; nothing was stored',
  });
}

function canceled(digest: string, cause: unknown): BerthError {
  return new BerthError('CANCELED', `download of ${digest} was canceled`, { cause });
}

function isAbort(err: unknown, signal?: AbortSignal): boolean {
  return signal?.aborted === true || (err instanceof Error && err.name === 'AbortError');
}

function toBuffer(chunk: Uint8Array | string): Buffer {
  return typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

async function drain(source: BlobSource): Promise<void> {
  for await (const _ of source as AsyncIterable<unknown>) {
    // discard
  }
}

/** Take the cross-process lock for `name`, or undefined when another process holds it. */
async function tryLock(name: string): Promise<Server | undefined> {
  const server = createServer();
  try {
    await new Promise<void>((done, fail) => {
      server.once('error', fail);
      server.listen({ path: `\0${name}`, exclusive: true }, done);
    });
  } catch (err) {
    if (isErrno(err, 'EADDRINUSE')) return undefined;
    throw err;
  }
  server.unref();
  return server;
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
      await this.#commit(tempPath, hex);
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
   * transfer breaks (or the process dies) so that a later call resumes from its size. A
   * broken transfer is resumed up to `retries` times at once. A resumed blob that fails
   * verification is fetched once more from the start before the mismatch is reported.
   */
  async ingestResumable(key: string, fetchFrom: FetchFrom, expected: ExpectedBlob, opts: ResumableIngestOptions = {}): Promise<void> {
    if (!KEY.test(key)) throw new BerthError('INVALID_ARGUMENT', `invalid ingest key ${JSON.stringify(key)}`);
    digestHex(expected.digest);
    const partialPath = join(this.ingestDir, key);
    for (;;) {
      if (await this.has(expected.digest)) return;
      const running = inflight.get(partialPath);
      if (running === undefined) break;
      await running.catch(() => {}); // its failure is its caller's; try again ourselves
    }
    const work = this.#resumableLocked(partialPath, fetchFrom, expected, opts);
    inflight.set(partialPath, work);
    try {
      await work;
    } finally {
      inflight.delete(partialPath);
    }
  }

  async #resumableLocked(partialPath: string, fetchFrom: FetchFrom, expected: ExpectedBlob, opts: ResumableIngestOptions): Promise<void> {
    await mkdir(this.ingestDir, { recursive: true });
    const lockName = `berth-ingest-${createHash('sha256').update(partialPath).digest('hex').slice(0, 40)}`;
    const lock = await tryLock(lockName);
    if (lock === undefined) return this.ingest(await fetchFrom(0), expected, opts); // another process resumes it
    const feed: Feed = { consumer: undefined, fed: 0 };
    try {
      let retries = opts.retries ?? 3;
      let isFreshRetryLeft = true;
      for (;;) {
        try {
          return await this.#resumeOnce(partialPath, fetchFrom, expected, opts, feed);
        } catch (err) {
          if (isAbort(err, opts.signal)) throw canceled(expected.digest, err);
          if (err instanceof ResumedMismatch) {
            if (!isFreshRetryLeft) throw err.error;
            isFreshRetryLeft = false;
            await feed.consumer?.abort(err.error); // it saw the bad prefix: a new one starts over
            feed.consumer = undefined;
            continue;
          }
          if (err instanceof BerthError || retries <= 0) throw err;
          retries--;
          await sleep(RESUME_DELAY_MS, undefined, opts.signal ? { signal: opts.signal } : {}).catch((e: unknown) => {
            throw canceled(expected.digest, e);
          });
        }
      }
    } catch (err) {
      await feed.consumer?.abort(err);
      throw err;
    } finally {
      lock.close();
    }
  }

  /** One attempt: re-hash the partial file, fetch the rest, verify, commit. */
  async #resumeOnce(partialPath: string, fetchFrom: FetchFrom, expected: ExpectedBlob, opts: ResumableIngestOptions, feed: Feed): Promise<void> {
    const hash = createHash('sha256');
    let offset = 0;
    let existing = await stat(partialPath).catch((err: unknown) => {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    });
    if (existing && expected.size !== undefined && existing.size > expected.size) {
      await rm(partialPath, { force: true });
      existing = undefined;
    }
    if (feed.consumer && (existing?.size ?? 0) < feed.fed) {
      // the consumer saw bytes the partial file lost (a failed write): it starts over too
      await feed.consumer.abort(new Error('partial file shorter than what was consumed'));
      feed.consumer = undefined;
    }
    if (feed.consumer === undefined && opts.consumer) {
      feed.consumer = opts.consumer();
      feed.fed = 0;
    }
    const consumer = feed.consumer;
    if (existing) {
      for await (const chunk of createReadStream(partialPath, { highWaterMark: 1 << 20 })) {
        const data = chunk as Buffer;
        hash.update(data);
        if (consumer && offset + data.length > feed.fed) {
          await consumer.write(data.subarray(Math.max(0, feed.fed - offset)));
          feed.fed = offset + data.length;
        }
        offset += data.length;
      }
      opts.onBytes?.(offset);
    }
    const resumedFrom = offset;
    const handle = await open(partialPath, 'a', 0o644);
    const writer = new FileAppender(handle);
    try {
      if (expected.size === undefined || offset < expected.size) {
        try {
          for await (const chunk of await fetchFrom(offset)) {
            opts.signal?.throwIfAborted();
            const data = toBuffer(chunk);
            offset += data.length;
            if (expected.size !== undefined && offset > expected.size) break;
            hash.update(data);
            if (consumer) {
              await Promise.all([writer.write(data), consumer.write(data)]);
              feed.fed = offset;
            } else {
              await writer.write(data);
            }
            opts.onBytes?.(offset);
          }
        } catch (err) {
          await writer.flush().catch(() => {}); // what arrived is kept for the next try
          throw err;
        }
        await writer.flush();
      }
      const actual = `sha256:${hash.digest('hex')}`;
      if (actual !== expected.digest || (expected.size !== undefined && offset !== expected.size)) {
        await handle.close();
        await rm(partialPath, { force: true });
        const error = mismatch(expected, offset, actual);
        throw resumedFrom > 0 ? new ResumedMismatch(error) : error;
      }
      await handle.sync();
    } finally {
      await handle.close().catch(() => {});
    }
    if (consumer) {
      try {
        await consumer.close();
      } catch (err) {
        feed.consumer = undefined; // it failed for good: nothing of the blob stays
        await consumer.abort(err);
        await rm(partialPath, { force: true });
        throw err;
      }
      feed.consumer = undefined;
    }
    await this.#commit(partialPath, digestHex(expected.digest));
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
      await this.#commit(tempPath, digestHex(actual));
    } catch (err) {
      await handle.close().catch(() => {});
      await rm(tempPath, { force: true });
      throw err;
    }
    return actual;
  }

  /** A stored blob's bytes, verified against its digest. */
  async readBlob(digest: string): Promise<Buffer> {
    let data: Buffer;
    try {
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

  /** Remove ingest leftovers not modified for `olderThanMs` (what a crash leaves). Returns their names. */
  async pruneIngests(olderThanMs: number): Promise<string[]> {
    const removed: string[] = [];
    for (const name of await this.listIngests()) {
      const path = join(this.ingestDir, name);
      const st = await stat(path).catch(() => undefined);
      if (st && Date.now() - st.mtimeMs >= olderThanMs && !inflight.has(path)) {
        await rm(path, { force: true, recursive: true });
        removed.push(name);
      }
    }
    return removed;
  }

  async #tempPath(): Promise<string> {
    await mkdir(this.ingestDir, { recursive: true });
    return join(this.ingestDir, `${TEMP_PREFIX}${randomBytes(8).toString('hex')}`);
  }

  async #commit(tempPath: string, hex: string): Promise<void> {
    await mkdir(this.blobsDir, { recursive: true });
    await rename(tempPath, join(this.blobsDir, hex));
  }

  #notFound(digest: string): BerthError {
    return new BerthError('NOT_FOUND', `blob ${digest} not found in the content store`);
  }
}

/** The consumer of a resumable ingest, kept across attempts, and how many bytes it was given. */
interface Feed {
  consumer: BlobConsumer | undefined;
  fed: number;
}

/** A mismatch found after resuming: the partial file may have been bad, so one fresh try is due. */
class ResumedMismatch extends Error {
  readonly error: BerthError;
  constructor(error: BerthError) {
    super(error.message);
    this.error = error;
  }
}
