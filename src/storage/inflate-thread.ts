/**
 * The inflate worker (see inflate-worker.ts for the main thread's side). A module of its own,
 * started as a worker thread from its file: this one when berth runs from source, its bundle
 * `dist/workers/inflate-thread.cjs` otherwise (worker-url.ts says which).
 *
 * gzip goes through ISA-L (inflate-isal.ts) where libisal.so.2 loads and passes a check of its
 * state layout: it reads the input ring and writes the output ring in place, synchronously, on
 * this thread. Otherwise, and for zstd, Node's zlib is used through its public stream API (its
 * work runs on the thread pool; this thread copies what it gives into the output ring). ISA-L's
 * errors are reported as zlib's (same messages and codes), so callers see one behaviour.
 */
import { createHash } from 'node:crypto';
import type { Transform } from 'node:stream';
import { parentPort, workerData } from 'node:worker_threads';
import * as zlib from 'node:zlib';
import { isalEngine, type IsalEngine } from './inflate-isal.ts';
import type { InflateData, InflateEngine, InflateReport, InflateThreadData } from './inflate-protocol.ts';

/** What to sleep for: the tick seen before looking, the want flag and the position needed. */
interface Wait {
  tick: number;
  flag: number;
  slot: number;
  position: number;
}

function isWait(value: unknown): value is Wait {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The rings and counters of one unpack, as this thread uses them. */
class Rings {
  readonly inRing: Buffer;
  readonly outRing: Buffer;
  readonly hash = createHash('sha256');
  tarBytes = 0;
  private readonly data: InflateData;
  private readonly slots: Int32Array;
  private readonly slot: InflateData['memory']['slot'];
  private inTail = 0;
  private outHead = 0;
  /** Input worth decompressing: a full step, or whatever is left at the end. */
  private readonly enoughInput: number;
  /** Room worth filling in the output ring. */
  private readonly enoughRoom: number;

  constructor(data: InflateData) {
    this.data = data;
    this.slot = data.memory.slot;
    this.slots = new Int32Array(data.memory.slots);
    this.inRing = Buffer.from(data.memory.inRing);
    this.outRing = Buffer.from(data.memory.outRing);
    this.enoughInput = Math.min(data.inputStep, this.inRing.length / 2);
    this.enoughRoom = Math.min(data.minRoom, this.outRing.length / 2);
  }

  load(i: number): number {
    return Atomics.load(this.slots, i) >>> 0;
  }

  store(i: number, value: number): void {
    Atomics.store(this.slots, i, value | 0);
  }

  wakeMain(): void {
    Atomics.add(this.slots, this.slot.MAIN_TICK, 1);
    Atomics.notify(this.slots, this.slot.MAIN_TICK);
  }

  /** Wake the main thread if it sleeps until the counter in `wantSlot` reaches `value`. */
  wakeMainIfWanted(flag: number, wantSlot: number, value: number): void {
    if (Atomics.load(this.slots, flag) !== 0 && ((value - this.load(wantSlot)) | 0) >= 0) this.wakeMain();
  }

  /** The next run of input: [ring offset, length], undefined at the end, or what to wait for. */
  nextInput(): [number, number] | undefined | Wait {
    const { slot } = this;
    const tick = Atomics.load(this.slots, slot.INFLATE_TICK);
    const isEnded = this.load(slot.IN_ENDED) !== 0;
    const available = (this.load(slot.IN_HEAD) - this.inTail) >>> 0;
    if (available >= this.enoughInput || (available > 0 && isEnded)) {
      const at = this.inTail & (this.inRing.length - 1);
      return [at, Math.min(available, this.inRing.length - at, this.data.inputStep)];
    }
    if (isEnded) return undefined;
    return { tick, flag: slot.WANTS_IN_HEAD, slot: slot.WANT_IN_HEAD, position: (this.inTail + this.enoughInput) >>> 0 };
  }

  consumed(n: number): void {
    this.inTail = (this.inTail + n) >>> 0;
    this.store(this.slot.IN_TAIL, this.inTail);
    this.wakeMainIfWanted(this.slot.WANTS_IN_TAIL, this.slot.WANT_IN_TAIL, this.inTail);
  }

  /** Free space in the output ring: [ring offset, length up to the ring's end], or what to wait for. */
  nextRoom(): [number, number] | Wait {
    const { slot, outRing } = this;
    const tick = Atomics.load(this.slots, slot.INFLATE_TICK);
    const released = this.load(slot.OUT_RELEASED);
    const room = outRing.length - ((this.outHead - released) >>> 0);
    if (room < this.enoughRoom) return { tick, flag: slot.WANTS_OUT_RELEASED, slot: slot.WANT_OUT_RELEASED, position: (this.outHead - outRing.length + this.enoughRoom) >>> 0 };
    const at = this.outHead & (outRing.length - 1);
    return [at, Math.min(room, outRing.length - at)];
  }

  /** `n` bytes were put in the output ring at `at`. */
  produced(at: number, n: number): void {
    if (n === 0) return;
    this.hash.update(this.outRing.subarray(at, at + n));
    this.tarBytes += n;
    this.outHead = (this.outHead + n) >>> 0;
    this.store(this.slot.OUT_HEAD, this.outHead);
    this.wakeMainIfWanted(this.slot.WANTS_OUT_HEAD, this.slot.WANT_OUT_HEAD, this.outHead);
  }

  hasInput(): boolean {
    return !isWait(this.nextInput());
  }

  hasRoom(): boolean {
    return !isWait(this.nextRoom());
  }

  #raise(wait: Wait): void {
    this.store(wait.slot, wait.position);
    Atomics.store(this.slots, wait.flag, 1);
  }

  /** Raise the want, look once more with `isReady`, then sleep (blocking) until woken or a while passed. */
  block(wait: Wait, isReady: () => boolean): void {
    this.#raise(wait);
    try {
      if (isReady()) return;
      if (this.load(this.slot.CLOSING) !== 0) throw abandoned();
      Atomics.wait(this.slots, this.slot.INFLATE_TICK, wait.tick, 50);
    } finally {
      Atomics.store(this.slots, wait.flag, 0);
    }
  }

  /** `block` without blocking the event loop (for zlib's stream). */
  async sleep(wait: Wait, isReady: () => boolean): Promise<void> {
    this.#raise(wait);
    try {
      if (isReady()) return;
      if (this.load(this.slot.CLOSING) !== 0) throw abandoned();
      const waiting = (Atomics as unknown as { waitAsync(a: Int32Array, i: number, v: number, t: number): { async: boolean; value: Promise<unknown> } }).waitAsync(this.slots, this.slot.INFLATE_TICK, wait.tick, 50);
      if (!waiting.async) return;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([waiting.value, new Promise((resolve) => (timer = setTimeout(resolve, 50)))]);
      clearTimeout(timer);
    } finally {
      Atomics.store(this.slots, wait.flag, 0);
    }
  }

  /** `use(at, length)` on each run of input as it comes (sleeping for more) until it ends; each is consumed after. */
  eachInput(use: (at: number, length: number) => void): void {
    for (;;) {
      const input = this.nextInput();
      if (input === undefined) return;
      if (isWait(input)) {
        this.block(input, () => this.hasInput());
        continue;
      }
      use(input[0], input[1]);
      this.consumed(input[1]);
    }
  }

  /** Put `out` in the output ring, waiting (without blocking the event loop) for room. */
  async emit(out: Buffer): Promise<void> {
    let pos = 0;
    while (pos < out.length) {
      const room = this.nextRoom();
      if (isWait(room)) {
        await this.sleep(room, () => this.hasRoom());
        continue;
      }
      const n = Math.min(out.length - pos, room[1]);
      out.copy(this.outRing, room[0], pos, pos + n);
      this.produced(room[0], n);
      pos += n;
    }
  }
}

function abandoned(): Error {
  return new Error('the unpack was abandoned');
}

/** An uncompressed tar: copied through. */
function copyThrough(rings: Rings): void {
  rings.eachInput((at, length) => {
    let from = at;
    let left = length;
    while (left > 0) {
      const room = rings.nextRoom();
      if (isWait(room)) {
        rings.block(room, () => rings.hasRoom());
        continue;
      }
      const n = Math.min(left, room[1]);
      rings.inRing.copy(rings.outRing, room[0], from, from + n);
      rings.produced(room[0], n);
      from += n;
      left -= n;
    }
  });
}

/** zlib's decompressor for `kind`, through Node's public API. */
function zlibStream(kind: 'gzip' | 'zstd', chunkSize: number): Transform {
  if (kind === 'gzip') return zlib.createGunzip({ chunkSize });
  const z = zlib as unknown as { createZstdDecompress?: (opts: { chunkSize: number }) => Transform };
  if (typeof z.createZstdDecompress !== 'function') throw new Error(`zstd needs Node >= 22.15 (this is ${process.version})`);
  return z.createZstdDecompress({ chunkSize });
}

/**
 * zlib as a stream: input is written from the input ring in place (each run is given back once
 * zlib is done with it), output copied into the output ring as it comes.
 */
async function inflateStream(rings: Rings, engine: Transform): Promise<void> {
  const reading = (async () => {
    for await (const out of engine) await rings.emit(out as Buffer);
  })();
  reading.catch(() => {}); // awaited below
  try {
    for (;;) {
      const input = rings.nextInput();
      if (input === undefined) break;
      if (isWait(input)) {
        await rings.sleep(input, () => rings.hasInput());
        continue;
      }
      const chunk = rings.inRing.subarray(input[0], input[0] + input[1]);
      const written = new Promise<void>((resolve, reject) => engine.write(chunk, (err) => (err ? reject(err) : resolve())));
      await Promise.race([written, reading]); // a failed engine may never call back: its reader fails instead
      rings.consumed(input[1]);
    }
    engine.end();
  } catch (err) {
    engine.destroy();
    await reading.catch(() => {});
    throw err;
  }
  await reading;
}

/** One unpack's decompression, from the message that starts it to the report that ends it. */
function inflate(data: InflateData): void {
  // koffi is loaded only now, by a thread in use: ending a thread inside an addon's set-up
  // aborts Node, and a spare thread may be ended at any time (its process may just exit)
  const wantsIsal = data.kind === 'gzip' && (data.engine === 'auto' || data.engine === 'isa-l');
  const isal: IsalEngine = wantsIsal ? isalEngine(((workerData ?? {}) as InflateThreadData).koffiPath) : { unavailable: 'not asked for', run: () => {} };
  const rings = new Rings(data);
  const isIsal = data.kind === 'gzip' && isal.unavailable === undefined && data.engine !== 'zlib';
  let engine: Transform | undefined;
  let setupError: { error: unknown } | undefined;
  try {
    engine = data.kind === 'none' || isIsal ? undefined : zlibStream(data.kind, data.chunkSize);
    engine?.on('error', () => {}); // its reader sees the error
  } catch (error) {
    setupError = { error }; // reported as the unpack's failure
  }
  // koffi is loaded and the zlib stream set up: the thread may be ended at any time now
  // (ending it inside either's set-up aborts Node: "close before init" for a zlib handle)
  parentPort?.postMessage('ready');

  let used: InflateEngine = 'copy';
  const run = async (): Promise<void> => {
    if (setupError) throw setupError.error;
    if (data.kind === 'none') return copyThrough(rings);
    if (isIsal) {
      used = 'isa-l';
      return isal.run({
        inRing: rings.inRing,
        outRing: rings.outRing,
        eachInput: (use) => rings.eachInput(use),
        nextRoom: () => rings.nextRoom(),
        isWait,
        block: (wait, isReady) => rings.block(wait, isReady),
        hasRoom: () => rings.hasRoom(),
        produced: (at, n) => rings.produced(at, n),
      });
    }
    if (data.engine === 'isa-l') throw new Error(`ISA-L cannot decompress here: ${data.kind === 'gzip' ? isal.unavailable : `it does not read ${data.kind}`}`);
    used = 'zlib';
    return inflateStream(rings, engine as Transform);
  };

  const { slot } = data.memory;
  const alive = setInterval(() => {}, 1 << 30); // until run() settles, even while nothing else is pending
  run().finally(() => clearInterval(alive)).then(
    () => {
      data.port.postMessage({ kind: 'done', diffId: `sha256:${rings.hash.digest('hex')}`, tarBytes: rings.tarBytes, engine: used } satisfies InflateReport);
      rings.store(slot.OUT_ENDED, 1);
      rings.wakeMain();
      engine?.destroy();
    },
    (err: unknown) => {
      const e = err as NodeJS.ErrnoException;
      const error: { message: string; code?: string } = { message: e?.message ?? String(err) };
      if (typeof e?.code === 'string') error.code = e.code;
      data.port.postMessage({ kind: 'error', error } satisfies InflateReport);
      rings.store(slot.INFLATE_FAILED, 1);
      rings.wakeMain();
      engine?.destroy();
    },
  );
}

// waiting (unref'd, in a pool) until an unpack hands over its shared memory
parentPort?.once('message', (data: InflateData) => inflate(data));
