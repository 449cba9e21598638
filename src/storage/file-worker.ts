/**
 * A worker thread that creates regular files for the unpacker, so that the kernel's cost of
 * making inodes (the largest single cost of unpacking a layer) runs on another CPU while the
 * main thread parses and makes directories and links.
 *
 * The main thread decides everything (which path, which owner, mode, times, xattrs) and sends
 * batches of steps (numbers in one transferred array, paths as strings); the file data stays
 * where the decompressor put it, in the output ring (unpack-signals.ts), and the worker writes
 * it from there. It opens each path with O_CREAT|O_EXCL|O_NOFOLLOW (never through an existing
 * file or symlink), writes, sets the metadata on the descriptor (fchown, then fchmod, since
 * chown clears the setuid bit, then xattrs and nanosecond times) and closes it.
 *
 * Progress is shared memory: the worker publishes the sequence number of the last file it
 * finished and counts the batches it handled, so the main thread can wait for one file (when a
 * later entry touches its path) or know which part of the ring it no longer needs, without an
 * event-loop round trip. After the first failure the worker does nothing more; the main thread
 * reads the error with `receiveMessageOnPort`.
 */
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { createRequire } from 'node:module';
import type { Timespec } from '../native/sys.ts';
import { OP, type Batch, type FileReport, type FileThreadData, type FileWorkerData, type WorkerFailure } from './file-protocol.ts';
import { UnpackWorkerError } from './inflate-worker.ts';
import { SLOT, type UnpackSignals } from './unpack-signals.ts';
import { existingWorkerUrl } from './worker-url.ts';

/** What the worker needs to make one file; `path` is absolute, its parents verified by the caller. */
export interface FileJob {
  path: string;
  /** The tar entry's name, for errors and warnings. */
  name: string;
  mode: number;
  uid: number;
  gid: number;
  /** False when the new file is provably owned by uid:gid already (chown would change nothing). */
  needsChown: boolean;
  atime: Timespec;
  mtime: Timespec;
  xattrs: Array<[string, Uint8Array]>;
}

const BATCH_OPS = 512;
/** Batches sent and not yet handled before the producer waits. */
const MAX_BACKLOG = 16;

let koffiPath: string | undefined;

/** A file worker thread, started ahead of need or for one unpack. */
interface FileThread {
  worker: Worker;
  exited: Promise<void>;
  isExited: boolean;
}

/** One thread started ahead (`FileWorker.prewarm`), taken by the next unpack. */
let spare: FileThread | undefined;

function startFileThread(): FileThread {
  koffiPath ??= createRequire(import.meta.url).resolve('koffi');
  const workerData: FileThreadData = { koffiPath };
  const worker = new Worker(existingWorkerUrl('file-thread'), { workerData, stdout: false, stderr: false });
  const thread: FileThread = { worker, exited: Promise.resolve(), isExited: false };
  thread.exited = new Promise((resolve) => {
    worker.once('exit', () => {
      thread.isExited = true;
      resolve();
    });
  });
  worker.on('error', () => {}); // its user finds out through 'exit'
  return thread;
}

/** The main thread's side: batches the steps of new files for the worker and tracks what it finished. */
export class FileWorker {
  private readonly signals: UnpackSignals;
  private readonly worker: Worker;
  private readonly reports: MessagePort;
  private readonly exited: Promise<void>;
  private seq = 0;
  private sentBatches = 0;
  private ops = new Float64Array(BATCH_OPS * OP.SLOTS);
  private count = 0;
  private paths: string[] = [];
  private names: string[] = [];
  private xattrs: Array<Array<[string, Uint8Array]>> = [];
  /** Stream position of the first data of the batch being filled (-1: none yet). */
  private firstData = -1;
  /** The same for each batch sent and not yet known to be handled, oldest first. */
  private readonly sentFirstData: number[] = [];
  private seenBatches = 0;
  private failure: WorkerFailure | undefined;
  private isClosed = false;
  readonly warnings: Array<{ name: string; message: string }> = [];

  /**
   * Start a thread for the next unpack now: its start-up (tens of milliseconds) then overlaps
   * with whatever comes before, e.g. fetching a manifest. While it waits it does not keep the
   * process alive: it loads koffi only once it is used (the process may end at any time).
   */
  static prewarm(): void {
    if (spare && !spare.isExited) return;
    spare = startFileThread();
    spare.worker.unref();
  }

  constructor(signals: UnpackSignals) {
    this.signals = signals;
    const thread = spare && !spare.isExited ? spare : startFileThread();
    spare = undefined;
    thread.worker.ref();
    this.worker = thread.worker;
    const channel = new MessageChannel();
    this.reports = channel.port1;
    const start: FileWorkerData = { memory: signals.share(), port: channel.port2 };
    this.worker.postMessage({ start }, [channel.port2]);
    this.worker.on('error', (err) => {
      this.failure ??= { name: '', message: `the unpack worker failed: ${err.message}` };
      this.signals.wake(SLOT.MAIN_TICK);
    });
    this.exited = thread.exited.then(() => {
      if (!this.isClosed) this.failure ??= { name: '', message: 'the unpack worker exited' };
      this.signals.wake(SLOT.MAIN_TICK);
    });
  }

  /** Start a file; its data follows through `data`, then `end`. Returns its sequence number. */
  begin(job: FileJob): number {
    this.seq++;
    const i = this.#step(OP.START);
    const ops = this.ops;
    ops[i + OP.FLAGS] = (job.needsChown ? OP.NEEDS_CHOWN : 0) | (job.xattrs.length > 0 ? OP.HAS_XATTRS : 0);
    ops[i + OP.SEQ] = this.seq;
    ops[i + OP.MODE] = job.mode;
    ops[i + OP.UID] = job.uid;
    ops[i + OP.GID] = job.gid;
    ops[i + OP.ATIME] = job.atime.sec;
    ops[i + OP.ATIME_NS] = job.atime.nsec;
    ops[i + OP.MTIME] = job.mtime.sec;
    ops[i + OP.MTIME_NS] = job.mtime.nsec;
    this.paths.push(job.path);
    this.names.push(job.name);
    if (job.xattrs.length > 0) this.xattrs.push(job.xattrs);
    return this.seq;
  }

  /**
   * More data of the file begun last: `view` is part of the output ring (the worker writes it
   * from there), `position` its place in the stream (the ring is not reused before it is written).
   */
  data(view: Buffer, position: number): void {
    if (this.firstData < 0) this.firstData = position;
    const i = this.#step(OP.DATA);
    this.ops[i + OP.OFFSET] = view.byteOffset;
    this.ops[i + OP.LENGTH] = view.length;
  }

  /** The file begun last is complete. */
  end(): void {
    this.#step(OP.END);
  }

  /** True while file `seq` is not finished by the worker. */
  isPending(seq: number): boolean {
    return (Atomics.load(this.signals.slots, SLOT.FILE_DONE_SEQ) >>> 0) < seq;
  }

  /** Block until file `seq` is finished (for a later entry that touches its path). */
  waitFor(seq: number): void {
    if (!this.isPending(seq)) return this.#check();
    this.#send();
    this.signals.untilSync(() => {
      this.#check();
      return !this.isPending(seq);
    }, [{ flag: SLOT.WANTS_FILE_SEQ, slot: SLOT.WANT_FILE_SEQ, position: seq }]);
  }

  /** Block until every file begun so far is finished. */
  waitAll(): void {
    this.waitFor(this.seq);
  }

  /**
   * The stream position of the oldest data the worker still has to write, relative to which
   * the output ring must not be reused; undefined when it has none.
   */
  oldestData(): number | undefined {
    this.#seeDone();
    for (const first of this.sentFirstData) if (first >= 0) return first;
    return this.firstData >= 0 ? this.firstData : undefined;
  }

  /**
   * Between runs of input: hand the worker a batch when it is idle or the batch is big enough
   * (a message wakes a thread, which costs), and wait (without blocking the event loop) while
   * too many are in flight.
   */
  async pace(): Promise<void> {
    this.#check();
    const isIdle = this.#backlog() === 0;
    if (this.count >= BATCH_OPS / 2 || (isIdle && this.count >= BATCH_OPS / 4)) this.#send();
    if (this.#backlog() > MAX_BACKLOG) {
      await this.signals.until(() => {
        this.#check();
        return this.#backlog() <= MAX_BACKLOG;
      }, [{ flag: SLOT.WANTS_FILE_BATCH }]);
    }
    this.#check();
  }

  /** Hand over what is batched (e.g. before waiting for room in the ring). */
  flush(): void {
    this.#send();
  }

  /** Send what is left and wait until the worker finished everything. */
  async drain(): Promise<void> {
    this.#send();
    const last = this.seq;
    await this.signals.until(() => {
      this.#check();
      return !this.isPending(last);
    }, [{ flag: SLOT.WANTS_FILE_SEQ, slot: SLOT.WANT_FILE_SEQ, position: last }]);
    this.#collectReports();
  }

  /**
   * Stop the worker; once this resolves it touches no file any more. It is asked to end rather
   * than terminated: terminating a thread while it loads koffi (a native addon) aborts the process.
   */
  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    this.signals.store(SLOT.CLOSING, 1);
    this.signals.wake(SLOT.INFLATE_TICK);
    this.worker.postMessage('close');
    await this.exited;
    this.#collectReports();
    this.reports.close();
  }

  /** Add a step of `kind`; returns its index in `ops`. */
  #step(kind: number): number {
    if (this.count === BATCH_OPS) this.#send();
    const i = this.count++ * OP.SLOTS;
    this.ops[i + OP.KIND] = kind;
    return i;
  }

  /** Batches sent and not yet handled. */
  #backlog(): number {
    return this.sentBatches - (Atomics.load(this.signals.slots, SLOT.FILE_DONE_BATCHES) >>> 0);
  }

  #seeDone(): void {
    const done = Atomics.load(this.signals.slots, SLOT.FILE_DONE_BATCHES) >>> 0;
    while (this.seenBatches < done) {
      this.sentFirstData.shift();
      this.seenBatches++;
    }
  }

  #send(): void {
    if (this.count === 0) return;
    const ops = this.ops.slice(0, this.count * OP.SLOTS);
    const batch: Batch = { ops, paths: this.paths, names: this.names, xattrs: this.xattrs };
    this.worker.postMessage(batch, [ops.buffer]);
    this.sentBatches++;
    this.sentFirstData.push(this.firstData);
    this.count = 0;
    this.paths = [];
    this.names = [];
    this.xattrs = [];
    this.firstData = -1;
  }

  #collectReports(): void {
    for (;;) {
      const message = receiveMessageOnPort(this.reports);
      if (message === undefined) return;
      const report = message.message as FileReport;
      if (report.kind === 'warning') this.warnings.push({ name: report.name, message: report.message });
      else this.failure ??= report.error;
    }
  }

  /** Throw the worker's failure, if any. */
  #check(): void {
    if (this.isClosed || this.signals.load(SLOT.CLOSING) !== 0) throw new Error('the unpack worker was stopped');
    if (this.failure === undefined && Atomics.load(this.signals.slots, SLOT.FILE_FAILED) === 0) return;
    this.#collectReports();
    throw new UnpackWorkerError(this.failure ?? { name: '', message: 'the unpack worker failed' });
  }
}

