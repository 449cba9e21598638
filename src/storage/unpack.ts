/**
 * Apply an OCI/docker layer (gzip, zstd or plain tar) to a directory, for overlayfs (the
 * default) or as the vfs fallback (`mode: 'vfs'`, applied on top of a copy of lower layers).
 *
 * Fidelity: regular files, directories, symlinks (targets verbatim, absolute ones too),
 * hardlinks, character and block devices, FIFOs, binary xattrs, numeric owners, all mode bits
 * (chmod after chown, which clears setuid), nanosecond mtimes (directories last; symlinks
 * without following).
 *
 * Safety: no entry writes outside `layerDir` (see layer-tree.ts). Entries are created fresh
 * (the old file is unlinked, never written through; files are opened O_EXCL|O_NOFOLLOW).
 * Hardlink targets must already be in this layer, reached without symlinks.
 * `trusted.overlay.*` xattrs from the tar are dropped: overlay metadata comes only from
 * whiteout entries.
 *
 * On error `layerDir` is left partly written: unpack into a temporary directory and rename
 * it into place on success.
 *
 * How it is fast (a layer of thousands of small files is mostly the kernel making inodes):
 * three threads share the work through shared memory (unpack-signals.ts), each step streaming.
 *   - this thread copies the compressed input into a ring, parses the tar in place in the
 *     output ring with a push parser (no promise per entry), and makes directories, links,
 *     devices and whiteouts with synchronous syscalls (unpack-apply.ts);
 *   - the inflate worker (inflate-thread.ts) decompresses (ring to ring with ISA-L) and hashes
 *     the tar (the diff ID);
 *   - when the directory starts empty, the file worker (file-thread.ts) creates the regular
 *     files, writing their data straight from the output ring. It pays on a disk filesystem
 *     (5–7 % of a pull, bench/README.md); `BERTH_UNPACK_FILE_WORKER=0` turns it off.
 * A later entry that touches a path the file worker has not finished waits for it
 * (`LayerTree.settle`). In an empty directory, paths this unpack never made need no lstat, and
 * a chown that would not change the owner of a new inode is skipped.
 */
import { createHash } from 'node:crypto';
import { lstat, mkdir, readdir } from 'node:fs/promises';
import { BerthError, isErrno } from '../common/index.ts';
import { assertDecompressible, decompressStream, detectCompression, type ChunkSource, type Compression } from './decompress.ts';
import { FileWorker } from './file-worker.ts';
import { Inflater, UnpackWorkerError } from './inflate-worker.ts';
import { LayerTree } from './layer-tree.ts';
import { TarParser } from './tar/parser.ts';
import { EntryApplier, type UnpackMode } from './unpack-apply.ts';
import { UnpackSignals } from './unpack-signals.ts';

export type { UnpackMode };

export type UnpackEvent =
  | { type: 'compression'; compression: Compression }
  | { type: 'progress'; inputBytes: number; tarBytes: number; entries: number }
  | { type: 'warning'; entry: string; message: string };

export interface UnpackOptions {
  /** How the layer is named in errors, e.g. its digest (default: `layerDir`). */
  layerName?: string;
  /** 'overlay' (default): whiteouts as overlayfs expects. 'vfs': whiteouts delete from the copy. */
  mode?: UnpackMode;
  /**
   * Create regular files in a worker thread when `layerDir` starts empty (default true;
   * `BERTH_UNPACK_FILE_WORKER=0` in the environment makes it false, for bench/pull.mjs).
   */
  useWorker?: boolean;
  /**
   * The input's size in bytes, when known: below THREADED_MIN_BYTES the layer is unpacked on
   * this thread alone (starting the worker threads would cost more than they save).
   */
  sizeHint?: number;
  onProgress?: (event: UnpackEvent) => void;
  signal?: AbortSignal;
  /** Every entry gets this owner instead of the tar's (`cp -` into a container without -a). */
  owner?: { uid: number; gid: number };
  /** Entry names are files only: no whiteouts (a tar that `cp` applies, not a layer). */
  literalNames?: boolean;
}

export interface UnpackStats {
  /** Tar entries applied (whiteouts included, PAX/GNU metadata headers not). */
  entries: number;
  /** Bytes of regular file data written. */
  bytes: number;
  /** Bytes read from the input (compressed size). */
  inputBytes: number;
  /** Bytes of uncompressed tar. */
  tarBytes: number;
  whiteouts: number;
  compression: Compression;
  /** sha256 of the uncompressed tar: the layer's diff ID, to check against the image config. */
  diffId: string;
  /** Things skipped without failing (e.g. an xattr the filesystem refused). */
  warnings: string[];
}

const PROGRESS_STEP = 256 * 1024;
/** Longest stretch of parsing before the event loop gets a turn (to read the network, copy input in). */
const SLICE_MS = 2;
/** Bytes needed to tell the compression (the longest magic number, xz's). */
const MAGIC_BYTES = 6;
/** Input size from which the worker threads pay off. */
export const THREADED_MIN_BYTES = 2 * 1024 * 1024;

/**
 * Start the unpacker's worker threads now, for an unpack that is about to come: their start-up
 * (tens of milliseconds) then overlaps with what comes first (e.g. fetching manifests).
 */
export function prewarmUnpack(): void {
  Inflater.prewarm();
  if (process.env.BERTH_UNPACK_FILE_WORKER !== '0') FileWorker.prewarm();
}

/** Unpack one layer stream into `layerDir` (created if missing). */
export async function unpackLayer(input: ChunkSource, layerDir: string, opts: UnpackOptions = {}): Promise<UnpackStats> {
  const label = opts.layerName ?? layerDir;
  await mkdir(layerDir, { recursive: true });
  const rootStat = await lstat(layerDir);
  if (!rootStat.isDirectory()) {
    throw new BerthError('INVALID_ARGUMENT', `cannot unpack layer ${label}: ${JSON.stringify(layerDir)} is not a directory`);
  }
  const isFresh = (await readdir(layerDir)).length === 0;
  const stats: UnpackStats = {
    entries: 0, bytes: 0, inputBytes: 0, tarBytes: 0, whiteouts: 0, compression: 'none', diffId: '', warnings: [],
  };
  const emit = opts.onProgress ?? (() => {});
  const tree = new LayerTree(layerDir, { isFresh });
  tree.dirGids.set('', rootStat.gid);
  const job: Job = {
    input,
    opts,
    stats,
    emit,
    tree,
    warn: (entry, message) => {
      stats.warnings.push(`${entry}: ${message}`);
      emit({ type: 'warning', entry, message });
    },
    lastReport: 0,
    current: () => undefined,
  };
  // worker threads cost tens of milliseconds to start: a small layer is done sooner without them
  const isThreaded = opts.sizeHint === undefined || opts.sizeHint >= THREADED_MIN_BYTES;
  try {
    await (isThreaded ? unpackThreaded(job) : unpackInline(job));
  } catch (err) {
    throw wrapError(err, label, job.current());
  }
  job.report?.();
  return stats;
}

/** What the two ways of unpacking share. */
interface Job {
  input: ChunkSource;
  opts: UnpackOptions;
  stats: UnpackStats;
  emit: (event: UnpackEvent) => void;
  tree: LayerTree;
  warn: (entry: string, message: string) => void;
  lastReport: number;
  /** The entry being applied (for errors). */
  current: () => string | undefined;
  report?: () => void;
}

/** Count input bytes, reporting progress every PROGRESS_STEP. */
function counted(job: Job, chunk: Uint8Array | string): Uint8Array {
  const data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
  job.stats.inputBytes += data.byteLength;
  if (job.stats.inputBytes - job.lastReport >= PROGRESS_STEP) {
    job.lastReport = job.stats.inputBytes;
    job.report?.();
  }
  return data;
}

function setCompression(job: Job, compression: Compression): void {
  job.stats.compression = compression;
  job.emit({ type: 'compression', compression });
}

function newApplier(job: Job, worker: FileWorker | undefined): { applier: EntryApplier; parser: TarParser } {
  const applier = new EntryApplier({ tree: job.tree, mode: job.opts.mode ?? 'overlay', stats: job.stats, warn: job.warn, worker, owner: job.opts.owner, literalNames: job.opts.literalNames });
  const { stats, emit } = job;
  job.current = () => applier.current;
  job.report = () => emit({ type: 'progress', inputBytes: stats.inputBytes, tarBytes: stats.tarBytes, entries: stats.entries });
  return { applier, parser: new TarParser(applier) };
}

/** A small layer: decompressed on the thread pool, parsed and applied on this thread. */
async function unpackInline(job: Job): Promise<void> {
  const { opts, stats } = job;
  const { applier, parser } = newApplier(job, undefined);
  const hash = createHash('sha256');
  async function* input(): AsyncGenerator<Uint8Array> {
    for await (const chunk of job.input) yield counted(job, chunk);
  }
  try {
    for await (const chunk of decompressStream(input(), { onCompression: (compression) => setCompression(job, compression) })) {
      opts.signal?.throwIfAborted();
      hash.update(chunk);
      stats.tarBytes += chunk.length;
      parser.push(chunk);
    }
    parser.finish();
    await applier.finish();
  } finally {
    applier.closeFile();
  }
  stats.diffId = `sha256:${hash.digest('hex')}`;
}

/**
 * A layer worth the threads: the input is copied into a ring for the inflate worker, the tar
 * parsed in place in the output ring, new files made by the file worker.
 */
async function unpackThreaded(job: Job): Promise<void> {
  const { opts, stats } = job;
  const signals = new UnpackSignals();
  const worker = job.tree.isFresh && (opts.useWorker ?? process.env.BERTH_UNPACK_FILE_WORKER !== '0') ? new FileWorker(signals) : undefined;
  const { applier, parser } = newApplier(job, worker);

  let inflater: Inflater | undefined;
  let failure: { error: unknown } | undefined;
  let started: (inflater: Inflater) => void = () => {};
  let notStarted: (error: unknown) => void = () => {};
  const isStarted = new Promise<Inflater>((resolve, reject) => {
    started = resolve;
    notStarted = reject;
  });
  isStarted.catch(() => {}); // the feeder's failure is reported, not this

  /** Compressed bytes in: the format is judged from the first bytes, then they go to the inflate worker. */
  const feed = async (): Promise<void> => {
    const head: Buffer[] = [];
    let headLength = 0;
    const start = async (first: Buffer): Promise<Inflater> => {
      const compression = detectCompression(first);
      assertDecompressible(compression);
      setCompression(job, compression);
      inflater = new Inflater(signals, compression);
      started(inflater);
      if (first.length > 0) await inflater.write(first);
      return inflater;
    };
    for await (const chunk of job.input) {
      opts.signal?.throwIfAborted();
      const data = counted(job, chunk);
      if (inflater) {
        await inflater.write(data);
        continue;
      }
      head.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
      headLength += data.byteLength;
      if (headLength >= MAGIC_BYTES) await start(Buffer.concat(head));
    }
    (inflater ?? (await start(Buffer.concat(head)))).end();
  };

  /** The tar out: parsed in place in the output ring, which is given back as far as nothing needs it. */
  const parse = async (): Promise<void> => {
    const source = await isStarted;
    let sliceStart = performance.now();
    /** Before waiting for more tar: what the file worker should write must be sent, or it would pin the ring. */
    const beforeWait = () => {
      worker?.flush();
      return applier.releasable();
    };
    for (let run = await source.next(beforeWait); run !== undefined; run = await source.next(beforeWait)) {
      opts.signal?.throwIfAborted();
      applier.setRun(run.view, run.position);
      parser.push(run.view);
      stats.tarBytes += run.view.length;
      applier.parsedTo((run.position + run.view.length) >>> 0);
      source.release(applier.releasable());
      if (worker) await worker.pace();
      // the network and the input copy run on this thread's event loop: give it a turn now and then
      if (performance.now() - sliceStart >= SLICE_MS) {
        await new Promise((resolve) => setImmediate(resolve));
        sliceStart = performance.now();
      }
    }
    parser.finish();
    await applier.finish();
    stats.diffId = source.result().diffId;
  };

  /** The first failure stops the other side (closing the workers unblocks whatever waits on them). */
  const guard = (task: Promise<void>) =>
    task.catch(async (error: unknown) => {
      if (failure) return;
      failure = { error };
      notStarted(error);
      await inflater?.close();
    });
  try {
    await Promise.all([guard(feed()), guard(parse())]);
  } finally {
    applier.closeFile();
    await worker?.close();
    await inflater?.close();
  }
  if (failure) throw failure.error;
}

function wrapError(err: unknown, label: string, entryName: string | undefined): BerthError {
  if (err instanceof UnpackWorkerError) entryName = err.entryName === '' ? undefined : err.entryName; // decompression errors are no entry's
  const where = entryName === undefined ? `layer ${label}` : `layer ${label} entry ${JSON.stringify(entryName)}`;
  if (err instanceof Error && err.name === 'AbortError') {
    return new BerthError('CANCELED', `${where}: unpacking was canceled`, { cause: err });
  }
  if (err instanceof BerthError) {
    const hint = err.hint ?? (err.code === 'INVALID_ARGUMENT' ? 'the layer is malformed or hostile; it was not applied' : undefined);
    return new BerthError(err.code, `${where}: ${err.message}`, { cause: err, ...(hint ? { hint } : {}) });
  }
  const code = isErrno(err, 'EPERM', 'EACCES') ? 'PERMISSION_DENIED' : isErrno(err, 'ENOSPC') ? 'UNAVAILABLE' : 'INTERNAL';
  const message = err instanceof Error ? err.message : String(err);
  return new BerthError(code, `${where}: ${message}`, { cause: err });
}
