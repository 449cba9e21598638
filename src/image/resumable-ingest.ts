/**
 * Resumable ingests (ContentStore.ingestResumable): the partial file `<rootDir>/ingest/<key>`
 * is kept across a crash or a broken connection, and the next attempt re-hashes it and asks
 * for the rest. One writer per key: in a process, later callers wait for the first; across
 * processes an abstract unix socket named after the key is the lock (the kernel drops it when
 * its owner dies), and a process that finds it taken ingests into a temp file of its own.
 *
 * A consumer gets every byte from the first on, in order (a resumed ingest re-reads the partial
 * file for it), and `close()` before the blob is committed, while the blob's write-back runs.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rm, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BerthError, isErrno } from '../common/index.ts';
import { canceled, digestHex, isAbort, isInterrupted, mismatch, toBuffer, type BlobConsumer, type BlobSource, type ExpectedBlob, type FetchFrom, type IngestOptions, type ResumableIngestOptions } from './blob.ts';
import { FileAppender } from './file-appender.ts';

/** What a resumable ingest needs of the content store. */
export interface IngestTarget {
  readonly ingestDir: string;
  has(digest: string): Promise<boolean>;
  /** A plain (not resumable) ingest into a temp file of its own. */
  ingest(source: BlobSource, expected: ExpectedBlob, opts: IngestOptions): Promise<void>;
  /** Move a verified file of the ingest dir into place as blob `hex`. */
  commitFile(path: string, hex: string): Promise<void>;
}

const KEY = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,200}$/;
const RESUME_DELAY_MS = 250;
const inflight = new Map<string, Promise<void>>();

/**
 * Store a blob fetched with `fetchFrom`, keeping the partial file `ingest/<key>` when the
 * transfer breaks (or the process dies) so that a later call resumes from its size. A
 * broken transfer is resumed up to `retries` times at once. A resumed blob that fails
 * verification is fetched once more from the start before the mismatch is reported.
 */
export async function ingestResumable(store: IngestTarget, key: string, fetchFrom: FetchFrom, expected: ExpectedBlob, opts: ResumableIngestOptions = {}): Promise<void> {
  if (!KEY.test(key)) throw new BerthError('INVALID_ARGUMENT', `invalid ingest key ${JSON.stringify(key)}`);
  digestHex(expected.digest);
  const partialPath = join(store.ingestDir, key);
  for (;;) {
    if (await store.has(expected.digest)) return;
    const running = inflight.get(partialPath);
    if (running === undefined) break;
    await running.catch(() => {}); // its failure is its caller's; try again ourselves
  }
  const work = resumableLocked(store, partialPath, fetchFrom, expected, opts);
  inflight.set(partialPath, work);
  try {
    await work;
  } finally {
    inflight.delete(partialPath);
  }
}

async function resumableLocked(store: IngestTarget, partialPath: string, fetchFrom: FetchFrom, expected: ExpectedBlob, opts: ResumableIngestOptions): Promise<void> {
  await mkdir(store.ingestDir, { recursive: true });
  const lock = await tryLock(lockNameOf(partialPath));
  if (lock === undefined) return store.ingest(await fetchFrom(0), expected, opts); // another process resumes it
  const feed: Feed = { consumer: undefined, fed: 0 };
  try {
    let retries = opts.retries ?? 3;
    let isFreshRetryLeft = true;
    for (;;) {
      try {
        return await resumeOnce(store, partialPath, fetchFrom, expected, opts, feed);
      } catch (err) {
        if (isAbort(err, opts.signal)) throw canceled(expected.digest, err);
        if (err instanceof ResumedMismatch) {
          if (!isFreshRetryLeft) throw err.error;
          isFreshRetryLeft = false;
          await feed.consumer?.abort(err.error); // it saw the bad prefix: a new one starts over
          feed.consumer = undefined;
          continue;
        }
        if ((err instanceof BerthError && !isInterrupted(err)) || retries <= 0) throw err;
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
async function resumeOnce(store: IngestTarget, partialPath: string, fetchFrom: FetchFrom, expected: ExpectedBlob, opts: ResumableIngestOptions, feed: Feed): Promise<void> {
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
  let syncing: Promise<void> | undefined;
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
    // the blob's write-back overlaps the end of the consumer's work (an unpack's last files)
    syncing = handle.sync();
    syncing.catch(() => {}); // awaited below
    if (consumer) {
      try {
        await consumer.close();
      } catch (err) {
        feed.consumer = undefined; // it failed for good: nothing of the blob stays
        await consumer.abort(err);
        await syncing.catch(() => {});
        await handle.close().catch(() => {});
        await rm(partialPath, { force: true });
        throw err;
      }
      feed.consumer = undefined;
    }
    await syncing;
  } finally {
    await syncing?.catch(() => {});
    await handle.close().catch(() => {});
  }
  await store.commitFile(partialPath, digestHex(expected.digest));
}

/** The name of the cross-process lock of a partial file. */
function lockNameOf(partialPath: string): string {
  return `berth-ingest-${createHash('sha256').update(partialPath).digest('hex').slice(0, 40)}`;
}

/** A resumable partial file that nobody resumes: its lock is free (an owner that died let it go). */
export interface AbandonedPartial {
  path: string;
  size: number;
  /** Milliseconds since it was last written. */
  age: number;
}

/**
 * Remove the partial file `ingest/<key>` when nobody is resuming it (no process holds its lock:
 * the kernel drops the lock of a process that dies) and `shouldRemove` says so. The lock is
 * held meanwhile, so a pull that starts then does not resume it but ingests into a temp file of
 * its own. Returns what was removed.
 */
export async function removeAbandonedPartial(store: Pick<IngestTarget, 'ingestDir'>, key: string, shouldRemove: (partial: AbandonedPartial) => boolean): Promise<AbandonedPartial | undefined> {
  if (!KEY.test(key)) return undefined;
  const partialPath = join(store.ingestDir, key);
  if (inflight.has(partialPath)) return undefined;
  const lock = await tryLock(lockNameOf(partialPath));
  if (lock === undefined) return undefined; // a live process resumes it
  try {
    const st = await stat(partialPath).catch((err: unknown) => {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    });
    if (st === undefined || !st.isFile()) return undefined;
    const partial: AbandonedPartial = { path: partialPath, size: st.size, age: Date.now() - st.mtimeMs };
    if (!shouldRemove(partial)) return undefined;
    await rm(partialPath, { force: true });
    return partial;
  } finally {
    lock.close();
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
