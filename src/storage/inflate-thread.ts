/**
 * The inflate worker's code (see inflate-worker.ts for the main thread's side). It runs from
 * its source text in a worker thread: it imports nothing and uses no outer name; modules come
 * from `process.getBuiltinModule`, types only are imported.
 */
import type { MessagePort } from 'node:worker_threads';
import type { Compression } from './decompress.ts';
import type { isalEngine } from './inflate-isal.ts';
import type { SharedMemory } from './unpack-signals.ts';

/**
 * Which decompressor ran: ISA-L's inflate (libisal2, through koffi: about 3.5 times zlib's speed
 * on x86-64), Node's zlib driven synchronously, or Node's zlib as a stream; `copy` for a tar that
 * is not compressed.
 */
export type InflateEngine = 'isa-l' | 'zlib' | 'zlib-stream' | 'copy';

/** What the worker sends back, once. */
export type InflateReport = { kind: 'done'; diffId: string; tarBytes: number; engine: InflateEngine } | { kind: 'error'; error: { message: string; code?: string } };

/** The worker's workerData: where koffi is, to load ISA-L with (none: zlib only). */
export interface InflateThreadData {
  koffiPath?: string;
}

/** The message that starts it. `engine`: the one to use, or `auto` (the fastest one there is). */
export interface InflateData {
  memory: SharedMemory;
  kind: Compression;
  chunkSize: number;
  inputStep: number;
  minRoom: number;
  engine: 'auto' | 'isa-l' | 'zlib' | 'zlib-stream';
  port: MessagePort;
}

/**
 * The worker's code. Self-contained (it runs from its source text): no imports, no outer
 * names; modules come from `process.getBuiltinModule`, and ISA-L's side (inflate-isal.ts, as
 * self-contained) is passed in.
 *
 * gzip goes through ISA-L where libisal.so.2 loads and passes a check of its state layout.
 * Otherwise, and for zstd, the zlib engine is driven synchronously (`_handle.writeSync`, what
 * Node's own `gunzipSync` uses), ring to ring: no thread-pool round trip, no buffer allocated
 * per chunk, no copy. Should a Node lack those internals, the engine is used as a stream
 * instead. ISA-L's errors are reported as zlib's (same messages and codes), so callers see one
 * behaviour.
 */
export function inflateMain(makeIsal: typeof isalEngine): void {
  const proc = process as unknown as { getBuiltinModule(id: string): unknown };
  const threads = proc.getBuiltinModule('node:worker_threads') as typeof import('node:worker_threads');
  const zlib = proc.getBuiltinModule('node:zlib') as typeof import('node:zlib') & {
    createZstdDecompress?: (opts: { chunkSize: number }) => import('node:stream').Transform;
  };
  const crypto = proc.getBuiltinModule('node:crypto') as typeof import('node:crypto');

  // waiting (unref'd, in a pool) until an unpack hands over its shared memory
  threads.parentPort?.once('message', (data: InflateData) => {
    // koffi is loaded only now, by a thread in use: ending a thread inside an addon's set-up
    // aborts Node, and a spare thread may be ended at any time (its process may just exit)
    const wantsIsal = data.kind === 'gzip' && (data.engine === 'auto' || data.engine === 'isa-l');
    const isal = wantsIsal ? makeIsal(((threads.workerData ?? {}) as InflateThreadData).koffiPath) : { unavailable: 'not asked for', run: () => {} };
    const { slot } = data.memory;
    const slots = new Int32Array(data.memory.slots);
    const inRing = Buffer.from(data.memory.inRing);
    const outRing = Buffer.from(data.memory.outRing);
    const hash = crypto.createHash('sha256');
    let tarBytes = 0;
    let inTail = 0;
    let outHead = 0;

    const load = (i: number): number => Atomics.load(slots, i) >>> 0;
    const store = (i: number, value: number): void => {
      Atomics.store(slots, i, value | 0);
    };
    const wakeMain = (): void => {
      Atomics.add(slots, slot.MAIN_TICK, 1);
      Atomics.notify(slots, slot.MAIN_TICK);
    };
    /** Wake the main thread if it sleeps until the counter in `wantSlot` reaches `value`. */
    const wakeMainIfWanted = (flag: number, wantSlot: number, value: number): void => {
      if (Atomics.load(slots, flag) !== 0 && ((value - load(wantSlot)) | 0) >= 0) wakeMain();
    };
    const abandoned = (): Error => new Error('the unpack was abandoned');
    /** What to sleep for: the tick seen before looking, the want flag and the position needed. */
    type Wait = { tick: number; flag: number; slot: number; position: number };
    const isWait = (value: unknown): value is Wait => typeof value === 'object' && value !== null && !Array.isArray(value);
    /** Input worth decompressing: a full step, or whatever is left at the end. */
    const enoughInput = Math.min(data.inputStep, inRing.length / 2);
    /** The next run of input: [ring offset, length], undefined at the end, or what to wait for. */
    const nextInput = (): [number, number] | undefined | Wait => {
      const tick = Atomics.load(slots, slot.INFLATE_TICK);
      const isEnded = load(slot.IN_ENDED) !== 0;
      const available = (load(slot.IN_HEAD) - inTail) >>> 0;
      if (available >= enoughInput || (available > 0 && isEnded)) {
        const at = inTail & (inRing.length - 1);
        return [at, Math.min(available, inRing.length - at, data.inputStep)];
      }
      if (isEnded) return undefined;
      return { tick, flag: slot.WANTS_IN_HEAD, slot: slot.WANT_IN_HEAD, position: (inTail + enoughInput) >>> 0 };
    };
    const consumed = (n: number): void => {
      inTail = (inTail + n) >>> 0;
      store(slot.IN_TAIL, inTail);
      wakeMainIfWanted(slot.WANTS_IN_TAIL, slot.WANT_IN_TAIL, inTail);
    };
    /** Room worth filling in the output ring. */
    const enoughRoom = Math.min(data.minRoom, outRing.length / 2);
    /** Free space in the output ring: [ring offset, length up to the ring's end], or what to wait for. */
    const nextRoom = (): [number, number] | Wait => {
      const tick = Atomics.load(slots, slot.INFLATE_TICK);
      const released = load(slot.OUT_RELEASED);
      const room = outRing.length - ((outHead - released) >>> 0);
      if (room < enoughRoom) return { tick, flag: slot.WANTS_OUT_RELEASED, slot: slot.WANT_OUT_RELEASED, position: (outHead - outRing.length + enoughRoom) >>> 0 };
      const at = outHead & (outRing.length - 1);
      return [at, Math.min(room, outRing.length - at)];
    };
    /** `n` bytes were put in the output ring at `at`. */
    const produced = (at: number, n: number): void => {
      if (n === 0) return;
      hash.update(outRing.subarray(at, at + n));
      tarBytes += n;
      outHead = (outHead + n) >>> 0;
      store(slot.OUT_HEAD, outHead);
      wakeMainIfWanted(slot.WANTS_OUT_HEAD, slot.WANT_OUT_HEAD, outHead);
    };
    /** Raise the want, look once more with `isReady`, then sleep (blocking) until woken or a while passed. */
    const block = (wait: Wait, isReady: () => boolean): void => {
      store(wait.slot, wait.position);
      Atomics.store(slots, wait.flag, 1);
      try {
        if (isReady()) return;
        if (load(slot.CLOSING) !== 0) throw abandoned();
        Atomics.wait(slots, slot.INFLATE_TICK, wait.tick, 50);
      } finally {
        Atomics.store(slots, wait.flag, 0);
      }
    };
    /** `block` without blocking the event loop (for the stream fallback). */
    const sleep = async (wait: Wait, isReady: () => boolean): Promise<void> => {
      store(wait.slot, wait.position);
      Atomics.store(slots, wait.flag, 1);
      try {
        if (isReady()) return;
        if (load(slot.CLOSING) !== 0) throw abandoned();
        const waiting = (Atomics as unknown as { waitAsync(a: Int32Array, i: number, v: number, t: number): { async: boolean; value: Promise<unknown> } }).waitAsync(slots, slot.INFLATE_TICK, wait.tick, 50);
        if (!waiting.async) return;
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([waiting.value, new Promise((resolve) => (timer = setTimeout(resolve, 50)))]);
        clearTimeout(timer);
      } finally {
        Atomics.store(slots, wait.flag, 0);
      }
    };
    const hasInput = (): boolean => !isWait(nextInput());
    const hasRoom = (): boolean => !isWait(nextRoom());
    /** `use(at, length)` on each run of input as it comes (sleeping for more) until it ends; each is consumed after. */
    const eachInput = (use: (at: number, length: number) => void): void => {
      for (;;) {
        const input = nextInput();
        if (input === undefined) return;
        if (isWait(input)) {
          block(input, hasInput);
          continue;
        }
        use(input[0], input[1]);
        consumed(input[1]);
      }
    };

    /** An uncompressed tar: copied through. */
    const copyThrough = (): void => {
      eachInput((at, length) => {
        let from = at;
        let left = length;
        while (left > 0) {
          const room = nextRoom();
          if (isWait(room)) {
            block(room, hasRoom);
            continue;
          }
          const n = Math.min(left, room[1]);
          inRing.copy(outRing, room[0], from, from + n);
          produced(room[0], n);
          from += n;
          left -= n;
        }
      });
    };

    type Engine = import('node:stream').Transform & {
      _handle?: { writeSync?: (flush: number, input: Buffer, inOff: number, inLen: number, out: Buffer, outOff: number, outLen: number) => void };
      _writeState?: Uint32Array;
      _defaultFlushFlag?: number;
      _finishFlushFlag?: number;
      errored?: Error | null;
    };
    const engine: Engine = data.kind === 'gzip'
      ? zlib.createGunzip({ chunkSize: data.chunkSize })
      : (zlib.createZstdDecompress as NonNullable<typeof zlib.createZstdDecompress>)({ chunkSize: data.chunkSize });
    engine.on('error', () => {}); // read from engine.errored
    // koffi is loaded and the zlib engine initialised: the thread may be ended at any time now
    // (ending it inside either's set-up aborts Node: "close before init" for a zlib handle)
    threads.parentPort?.postMessage('ready');

    /** The fast path: the engine's handle, synchronously, ring to ring. */
    const inflateSync = (): void => {
      const handle = engine._handle as { writeSync: NonNullable<NonNullable<Engine['_handle']>['writeSync']> };
      const state = engine._writeState as Uint32Array;
      /** Feed `length` input bytes at `from` with `flush`; false once the compressed stream ended. */
      const feed = (flush: number, from: number, length: number): boolean => {
        let inOff = from;
        let inLen = length;
        for (;;) {
          const room = nextRoom();
          if (isWait(room)) {
            block(room, hasRoom);
            continue;
          }
          handle.writeSync(flush, inRing, inOff, inLen, outRing, room[0], room[1]);
          if (engine.errored) throw engine.errored;
          const availOut = state[0] as number;
          const availIn = state[1] as number;
          produced(room[0], room[1] - availOut);
          inOff += inLen - availIn;
          inLen = availIn;
          if (availOut === 0) continue; // the output was full: there may be more
          return availIn === 0; // room left and input left: the stream ended before the input (as Node's stream, the rest is ignored)
        }
      };
      let isStreamEnded = false;
      eachInput((at, length) => {
        if (!isStreamEnded) isStreamEnded = !feed(engine._defaultFlushFlag as number, at, length);
      });
      if (!isStreamEnded) feed(engine._finishFlushFlag as number, 0, 0);
    };

    /** The fallback: the engine as a stream, on the thread pool. */
    const inflateStream = async (): Promise<void> => {
      const emit = async (out: Buffer): Promise<void> => {
        let pos = 0;
        while (pos < out.length) {
          const room = nextRoom();
          if (isWait(room)) {
            await sleep(room, hasRoom);
            continue;
          }
          const n = Math.min(out.length - pos, room[1]);
          out.copy(outRing, room[0], pos, pos + n);
          produced(room[0], n);
          pos += n;
        }
      };
      const reading = (async () => {
        for await (const out of engine) await emit(out as Buffer);
      })();
      reading.catch(() => {}); // awaited below
      try {
        for (;;) {
          const input = nextInput();
          if (input === undefined) break;
          if (isWait(input)) {
            await sleep(input, hasInput);
            continue;
          }
          // the engine reads the ring in place: the bytes are given back once it is done with them
          const chunk = inRing.subarray(input[0], input[0] + input[1]);
          const written = new Promise<void>((resolve, reject) => engine.write(chunk, (err) => (err ? reject(err) : resolve())));
          await Promise.race([written, reading]); // a failed engine may never call back: its reader fails instead
          consumed(input[1]);
        }
        engine.end();
      } catch (err) {
        engine.destroy();
        await reading.catch(() => {});
        throw err;
      }
      await reading;
    };

    const canDriveHandle = typeof engine._handle?.writeSync === 'function' && engine._writeState instanceof Uint32Array
      && typeof engine._defaultFlushFlag === 'number' && typeof engine._finishFlushFlag === 'number' && 'errored' in engine;
    let used: InflateEngine = 'copy';
    const run = async (): Promise<void> => {
      if (data.kind === 'none') return copyThrough();
      if (data.kind === 'gzip' && (data.engine === 'auto' || data.engine === 'isa-l') && isal.unavailable === undefined) {
        used = 'isa-l';
        return isal.run({ inRing, outRing, eachInput, nextRoom, isWait, block, hasRoom, produced });
      }
      if (data.engine === 'isa-l') throw new Error(`ISA-L cannot decompress here: ${data.kind === 'gzip' ? isal.unavailable : `it does not read ${data.kind}`}`);
      if (canDriveHandle && data.engine !== 'zlib-stream') {
        used = 'zlib';
        return inflateSync();
      }
      used = 'zlib-stream';
      return inflateStream();
    };

    const alive = setInterval(() => {}, 1 << 30); // until run() settles, even while nothing else is pending
    run().finally(() => clearInterval(alive)).then(
      () => {
        data.port.postMessage({ kind: 'done', diffId: `sha256:${hash.digest('hex')}`, tarBytes, engine: used } satisfies InflateReport);
        store(slot.OUT_ENDED, 1);
        wakeMain();
        engine.destroy();
      },
      (err: unknown) => {
        const e = err as NodeJS.ErrnoException;
        const error: { message: string; code?: string } = { message: e?.message ?? String(err) };
        if (typeof e?.code === 'string') error.code = e.code;
        data.port.postMessage({ kind: 'error', error } satisfies InflateReport);
        store(slot.INFLATE_FAILED, 1);
        wakeMain();
        engine.destroy();
      },
    );
  });
}
