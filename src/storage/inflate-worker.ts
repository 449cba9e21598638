/**
 * Decompression in a worker thread, the main thread's side: compressed bytes go in through the
 * input ring, the uncompressed tar comes out through the output ring (see unpack-signals.ts),
 * hashed on the way (the layer's diff ID). The main thread only copies input in and parses the
 * output in place; decompression (inflate-thread.ts, a worker module of its own) runs on
 * another CPU.
 *
 * gzip uses ISA-L where libisal2 is installed (through koffi, ring to ring), else Node's zlib, as
 * zstd does; an uncompressed tar is copied through. Errors (corrupt or truncated data) come back
 * as zlib's (message and zlib code) whichever engine ran.
 */
import { createRequire } from 'node:module';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import type { Compression } from './decompress.ts';
import type { InflateData, InflateEngine, InflateReport, InflateThreadData } from './inflate-protocol.ts';
import { IN_RING_BYTES, SLOT, distance, type UnpackSignals } from './unpack-signals.ts';
import { existingWorkerUrl } from './worker-url.ts';

/** Output chunk of the decompressors (zlib's default of 16 KiB means 16 times the thread-pool round trips). */
const CHUNK_SIZE = 256 * 1024;
/** Most compressed bytes handed to the decompressor at once (and what it waits for, short of the end). */
const INPUT_STEP = 256 * 1024;
/** Free output ring the worker waits for before decompressing more (fewer, larger hand-overs). */
const MIN_ROOM = 1024 * 1024;

/** A failure in one of the unpack's workers, as it was there (message, errno or zlib code). */
export class UnpackWorkerError extends Error {
  /** The tar entry it happened at, when known. */
  readonly entryName: string;
  readonly code: string | undefined;
  readonly errno: number | undefined;
  readonly syscall: string | undefined;
  constructor(failure: { message: string; name?: string; code?: string; errno?: number; syscall?: string }) {
    super(failure.message);
    this.name = 'UnpackWorkerError';
    this.entryName = failure.name ?? '';
    this.code = failure.code;
    this.errno = failure.errno;
    this.syscall = failure.syscall;
  }
}

/** An inflate worker thread, started ahead of need or for one unpack. */
interface InflateThread {
  worker: Worker;
  /**
   * Resolves once a thread in use loaded koffi (or gave up on it) and set up its zlib engine:
   * ending it in between would abort the process. A spare thread sets up nothing native.
   */
  ready: Promise<void>;
  isExited: boolean;
}

/** One thread started ahead (`Inflater.prewarm`), taken by the next unpack. */
let spare: InflateThread | undefined;

let koffiPath: string | undefined;

function startInflateThread(): InflateThread {
  try {
    koffiPath ??= createRequire(import.meta.url).resolve('koffi');
  } catch {
    // no koffi: zlib only
  }
  const workerData: InflateThreadData = koffiPath === undefined ? {} : { koffiPath };
  const worker = new Worker(existingWorkerUrl('inflate-thread'), { workerData, stdout: false, stderr: false });
  const thread: InflateThread = { worker, ready: Promise.resolve(), isExited: false };
  thread.ready = new Promise((resolve) => {
    worker.once('message', () => resolve()); // its first message says it is ready
    worker.once('exit', () => resolve());
  });
  worker.once('exit', () => (thread.isExited = true));
  worker.on('error', () => {}); // its user finds out through 'exit'
  return thread;
}

/** The main thread's side: feeds compressed bytes in, hands out views of the tar as it comes. */
export class Inflater {
  private readonly signals: UnpackSignals;
  private readonly worker: Worker;
  private readonly ready: Promise<void>;
  private readonly reports: MessagePort;
  private inHead = 0;
  /** How far the main thread has taken the output. */
  private outTail = 0;
  private failure: { message: string; code?: string } | undefined;
  private done: { diffId: string; tarBytes: number; engine: InflateEngine } | undefined;
  private isClosed = false;

  /**
   * Start a thread for the next unpack now: its start-up (tens of milliseconds) then overlaps
   * with whatever comes before, e.g. fetching a manifest. While it waits it does not keep the
   * process alive.
   */
  static prewarm(): void {
    if (spare && !spare.isExited) return;
    spare = startInflateThread();
    spare.worker.unref(); // it loads nothing native until it is used: the process may end any time
  }

  /** `engine`: which decompressor to use (for tests and benches); by default the fastest one there is. */
  constructor(signals: UnpackSignals, kind: Compression, opts: { engine?: InflateData['engine'] } = {}) {
    this.signals = signals;
    const thread = spare && !spare.isExited ? spare : startInflateThread();
    spare = undefined;
    thread.worker.ref();
    this.worker = thread.worker;
    this.ready = thread.ready;
    const channel = new MessageChannel();
    this.reports = channel.port1;
    const start: InflateData = { memory: signals.share(), kind, chunkSize: CHUNK_SIZE, inputStep: INPUT_STEP, minRoom: MIN_ROOM, engine: opts.engine ?? 'auto', port: channel.port2 };
    this.worker.postMessage(start, [channel.port2]);
    this.worker.on('error', (err) => {
      this.failure ??= { message: `the decompression worker failed: ${err.message}` };
      this.signals.wake(SLOT.MAIN_TICK);
    });
    const onExit = () => {
      // it ends by itself once it sent its result; without one, it died
      if (!this.isClosed) this.#collect();
      if (!this.isClosed && this.done === undefined) this.failure ??= { message: 'the decompression worker exited' };
      this.signals.wake(SLOT.MAIN_TICK);
    };
    if (thread.isExited) onExit();
    else this.worker.once('exit', onExit);
  }

  /** Copy compressed bytes in (waiting for room without blocking the event loop). */
  async write(chunk: Uint8Array): Promise<void> {
    if (this.isClosed) throw new Error('the decompression worker was stopped');
    const { signals } = this;
    const ring = signals.inRing;
    let pos = 0;
    while (pos < chunk.length) {
      const needed = Math.min(chunk.length - pos, IN_RING_BYTES);
      const room = () => IN_RING_BYTES - distance(signals.load(SLOT.IN_TAIL), this.inHead);
      if (room() < needed) {
        await signals.until(() => {
          this.#check();
          return room() >= needed;
        }, [{ flag: SLOT.WANTS_IN_TAIL, slot: SLOT.WANT_IN_TAIL, position: (this.inHead + needed - IN_RING_BYTES) >>> 0 }]);
      }
      const at = this.inHead & (IN_RING_BYTES - 1);
      const n = Math.min(needed, IN_RING_BYTES - at);
      ring.set(n === chunk.length ? chunk : chunk.subarray(pos, pos + n), at);
      pos += n;
      this.inHead = (this.inHead + n) >>> 0;
      signals.store(SLOT.IN_HEAD, this.inHead);
      signals.wakeIfWanted(SLOT.INFLATE_TICK, SLOT.WANTS_IN_HEAD, SLOT.WANT_IN_HEAD, this.inHead);
    }
  }

  /** No more input. */
  end(): void {
    this.signals.store(SLOT.IN_ENDED, 1);
    this.signals.wake(SLOT.INFLATE_TICK);
  }

  /**
   * The next run of the tar: a view of the output ring (valid until released) and its position
   * in the stream; undefined once everything was handed out. `beforeWait` is called whenever it
   * has to wait: it hands over whatever holds the ring and says how much of it may be reused.
   */
  async next(beforeWait: () => number): Promise<{ view: Buffer; position: number } | undefined> {
    const { signals } = this;
    const size = signals.outRing.length;
    for (;;) {
      this.#check();
      const isEnded = signals.load(SLOT.OUT_ENDED) !== 0;
      const available = distance(this.outTail, signals.load(SLOT.OUT_HEAD));
      if (available > 0) {
        const at = this.outTail & (size - 1);
        const n = Math.min(available, size - at);
        const position = this.outTail;
        this.outTail = (this.outTail + n) >>> 0;
        return { view: signals.outRing.subarray(at, at + n), position };
      }
      if (isEnded) {
        this.#collect();
        return undefined;
      }
      // everything handed out is parsed: what the file worker still holds is all that pins the ring
      const released = beforeWait();
      this.release(released);
      const isPinned = released !== this.outTail;
      const batches = signals.load(SLOT.FILE_DONE_BATCHES);
      await signals.until(() => {
        this.#check();
        return signals.load(SLOT.OUT_HEAD) !== this.outTail || signals.load(SLOT.OUT_ENDED) !== 0
          || (isPinned && signals.load(SLOT.FILE_DONE_BATCHES) !== batches);
      }, [{ flag: SLOT.WANTS_OUT_HEAD, slot: SLOT.WANT_OUT_HEAD, position: (this.outTail + 1) >>> 0 }, ...(isPinned ? [{ flag: SLOT.WANTS_FILE_BATCH }] : [])]);
    }
  }

  /** The output ring before stream position `position` may be written again. */
  release(position: number): void {
    if (position === this.signals.load(SLOT.OUT_RELEASED)) return;
    this.signals.store(SLOT.OUT_RELEASED, position);
    this.signals.wakeIfWanted(SLOT.INFLATE_TICK, SLOT.WANTS_OUT_RELEASED, SLOT.WANT_OUT_RELEASED, position);
  }

  /** sha256 of the whole tar, its size and the decompressor that ran, once `next` returned undefined. */
  result(): { diffId: string; tarBytes: number; engine: InflateEngine } {
    if (this.done === undefined) throw new Error('the tar was not read to its end');
    return this.done;
  }

  /** Stop the worker. */
  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    this.signals.store(SLOT.CLOSING, 1);
    this.signals.wake(SLOT.INFLATE_TICK);
    this.signals.wake(SLOT.MAIN_TICK);
    this.reports.close();
    await this.ready;
    await this.worker.terminate();
  }

  #collect(): void {
    for (;;) {
      const message = receiveMessageOnPort(this.reports);
      if (message === undefined) return;
      const report = message.message as InflateReport;
      if (report.kind === 'done') this.done = { diffId: report.diffId, tarBytes: report.tarBytes, engine: report.engine };
      else this.failure ??= report.error;
    }
  }

  #check(): void {
    if (this.isClosed) throw new Error('the decompression worker was stopped');
    if (this.failure === undefined && this.signals.load(SLOT.INFLATE_FAILED) === 0) return;
    this.#collect();
    throw new UnpackWorkerError(this.failure ?? { message: 'the decompression worker failed' });
  }
}
