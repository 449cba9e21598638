/**
 * The inflate worker's code (see inflate-worker.ts for the main thread's side). It runs from
 * its source text in a worker thread: it imports nothing and uses no outer name; modules come
 * from `process.getBuiltinModule`, types only are imported.
 */
import type { MessagePort } from 'node:worker_threads';
import type { Compression } from './decompress.ts';
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
 * names; modules come from `process.getBuiltinModule`.
 *
 * gzip goes through ISA-L where libisal.so.2 loads and passes a check of its state layout:
 * `isal_inflate` reads the input ring and writes the output ring in place (both are shared
 * memory, which never moves, so their addresses are taken once). Otherwise, and for zstd, the
 * zlib engine is driven synchronously (`_handle.writeSync`, what Node's own `gunzipSync` uses),
 * ring to ring: no thread-pool round trip, no buffer allocated per chunk, no copy. Should a Node
 * lack those internals, the engine is used as a stream instead. ISA-L's errors are reported as
 * zlib's (same messages and codes), so callers see one behaviour.
 */
export function inflateMain(): void {
  const proc = process as unknown as { getBuiltinModule(id: string): unknown };
  const threads = proc.getBuiltinModule('node:worker_threads') as typeof import('node:worker_threads');
  const zlib = proc.getBuiltinModule('node:zlib') as typeof import('node:zlib') & {
    createZstdDecompress?: (opts: { chunkSize: number }) => import('node:stream').Transform;
  };
  const crypto = proc.getBuiltinModule('node:crypto') as typeof import('node:crypto');
  const moduleApi = proc.getBuiltinModule('node:module') as typeof import('node:module');
  /**
   * Where `struct inflate_state` (isa-l/igzip_lib.h) keeps what berth reads and writes: the ABI
   * of libisal.so.2 on 64-bit Linux (2.30, Debian 12). The application allocates the struct, so
   * its layout is part of the ABI; the worker still checks it on a known stream before use and
   * falls back to zlib if the library disagrees.
   */
  const S = { BYTES: 87368, NEXT_OUT: 0, AVAIL_OUT: 8, NEXT_IN: 16, AVAIL_IN: 32, BLOCK_STATE: 21160, CRC_FLAG: 21172 } as const;
  const ISAL_GZIP = 1;
  const ISAL_BLOCK_FINISH = 5;

  /** ISA-L's inflate, if it loads and decodes a known stream right; else why not. */
  type Isal = { inflate(state: Buffer): number; reset(state: Buffer): void; addressOf(memory: Uint8Array): bigint };
  const loadIsal = (): Isal | string => {
    const { koffiPath } = (threads.workerData ?? {}) as InflateThreadData;
    if (koffiPath === undefined) return 'no FFI module was given';
    try {
      const koffi = moduleApi.createRequire(koffiPath)(koffiPath) as typeof import('koffi');
      const lib = koffi.load('libisal.so.2');
      const init = lib.func('void isal_inflate_init(void *state)');
      const inflate = lib.func('int isal_inflate(void *state)') as (state: Buffer) => number;
      // memmove(p, p, 0) returns p: the address koffi passes for shared memory (which never moves)
      const memmove = koffi.load('libc.so.6').func('uintptr_t memmove(void *dest, const void *src, size_t n)');
      const isal: Isal = {
        inflate,
        reset: (state) => {
          init(state);
          state.writeUInt32LE(ISAL_GZIP, S.CRC_FLAG);
        },
        addressOf: (memory) => BigInt(memmove(memory, memory, 0) as number | bigint),
      };
      // the check: two gzip members through small buffers, as an unpack drives it
      const expected = Buffer.alloc(100_000);
      for (let i = 0; i < expected.length; i++) expected[i] = (i * 7919) % 251;
      const gz = Buffer.concat([zlib.gzipSync(expected.subarray(0, 60_000)), zlib.gzipSync(expected.subarray(60_000))]);
      const input = new Uint8Array(new SharedArrayBuffer(gz.length));
      input.set(gz);
      const output = Buffer.from(new SharedArrayBuffer(expected.length + 16));
      const state = Buffer.alloc(STATE_ROOM);
      isal.reset(state);
      const inAt = isal.addressOf(input);
      const outAt = isal.addressOf(output);
      let produced = 0;
      let consumed = 0;
      for (let calls = 0; calls < 1000 && consumed < gz.length; calls++) {
        if (state.readUInt32LE(S.BLOCK_STATE) === ISAL_BLOCK_FINISH) isal.reset(state);
        const n = Math.min(4096, gz.length - consumed);
        state.writeBigUInt64LE(inAt + BigInt(consumed), S.NEXT_IN);
        state.writeUInt32LE(n, S.AVAIL_IN);
        const room = Math.min(5000, output.length - produced);
        state.writeBigUInt64LE(outAt + BigInt(produced), S.NEXT_OUT);
        state.writeUInt32LE(room, S.AVAIL_OUT);
        if (isal.inflate(state) !== 0) return 'its check stream did not decode';
        consumed += n - state.readUInt32LE(S.AVAIL_IN);
        produced += room - state.readUInt32LE(S.AVAIL_OUT);
      }
      if (produced !== expected.length || !output.subarray(0, produced).equals(expected) || state.readUInt32LE(S.BLOCK_STATE) !== ISAL_BLOCK_FINISH) {
        return 'its state layout is not the one berth knows';
      }
      return isal;
    } catch (err) {
      return (err as Error)?.message ?? String(err);
    }
  };
  /** Room for the state: more than the struct, so that a larger one of another build stays inside. */
  const STATE_ROOM = 4 * S.BYTES;
  const isal = loadIsal();
  threads.parentPort?.postMessage('ready'); // koffi is loaded (or not used): the thread may be ended at any time now

  // waiting (unref'd, in a pool) until an unpack hands over its shared memory
  threads.parentPort?.once('message', (data: InflateData) => {
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

    /** An uncompressed tar: copied through. */
    const copyThrough = (): void => {
      for (;;) {
        const input = nextInput();
        if (input === undefined) return;
        if (isWait(input)) {
          block(input, hasInput);
          continue;
        }
        let [from, left] = input;
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
          consumed(n);
        }
      }
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
      for (;;) {
        const input = nextInput();
        if (input === undefined) break;
        if (isWait(input)) {
          block(input, hasInput);
          continue;
        }
        if (!isStreamEnded) isStreamEnded = !feed(engine._defaultFlushFlag as number, input[0], input[1]);
        consumed(input[1]);
      }
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

    /** ISA-L, ring to ring; gzip members one after the other, zeros after the last ignored (as Node's gunzip). */
    const inflateIsal = (api: Isal): void => {
      const state = Buffer.alloc(STATE_ROOM);
      api.reset(state);
      const inAt = api.addressOf(inRing);
      const outAt = api.addressOf(outRing);
      const blockState = (): number => state.readUInt32LE(S.BLOCK_STATE);
      const availIn = (): number => state.readUInt32LE(S.AVAIL_IN);
      /** zlib's message and code for an ISA-L error. */
      const fail = (code: number): never => {
        const messages: Record<number, string> = {
          [-1]: 'invalid block type', [-2]: 'invalid code', [-3]: 'invalid distance too far back',
          [-4]: 'incorrect header check', [-5]: 'unknown compression method', [-6]: 'incorrect data check',
        };
        throw Object.assign(new Error(messages[code] ?? `ISA-L inflate failed (${code})`), { code: code === 6 ? 'Z_NEED_DICT' : 'Z_DATA_ERROR' });
      };
      /** Once a member ended: true while the next byte decides whether another one follows. */
      let isBetweenMembers = false;
      /** The stream is over (zeros followed it): the rest of the input is ignored. */
      let isOver = false;
      /** Decompress `length` input bytes at ring offset `from` (0 bytes: flush what is held). */
      const feed = (from: number, length: number): void => {
        let at = from;
        let left = length;
        while (!isOver) {
          if (isBetweenMembers) {
            if (left === 0) return;
            if (inRing[at] === 0) {
              isOver = true;
              return;
            }
            api.reset(state);
            isBetweenMembers = false;
          }
          const room = nextRoom();
          if (isWait(room)) {
            block(room, hasRoom);
            continue;
          }
          state.writeBigUInt64LE(inAt + BigInt(at), S.NEXT_IN);
          state.writeUInt32LE(left, S.AVAIL_IN);
          state.writeBigUInt64LE(outAt + BigInt(room[0]), S.NEXT_OUT);
          state.writeUInt32LE(room[1], S.AVAIL_OUT);
          const code = api.inflate(state);
          if (code < 0 || code === 6) fail(code);
          const out = room[1] - state.readUInt32LE(S.AVAIL_OUT);
          produced(room[0], out);
          const taken = left - availIn();
          at += taken;
          left -= taken;
          if (blockState() === ISAL_BLOCK_FINISH) {
            isBetweenMembers = true;
            continue;
          }
          if (out === room[1]) continue; // the output was full: there may be more
          if (left === 0) return; // all taken: it needs more input
          if (taken === 0 && out === 0) throw new Error('ISA-L inflate stopped with input left');
        }
      };
      for (;;) {
        const input = nextInput();
        if (input === undefined) break;
        if (isWait(input)) {
          block(input, hasInput);
          continue;
        }
        feed(input[0], input[1]);
        consumed(input[1]);
      }
      if (!isBetweenMembers && !isOver) {
        feed(0, 0); // what it still holds
        if (!isBetweenMembers) throw Object.assign(new Error('unexpected end of file'), { code: 'Z_BUF_ERROR' });
      }
    };

    const canDriveHandle = typeof engine._handle?.writeSync === 'function' && engine._writeState instanceof Uint32Array
      && typeof engine._defaultFlushFlag === 'number' && typeof engine._finishFlushFlag === 'number' && 'errored' in engine;
    let used: InflateEngine = 'copy';
    const run = async (): Promise<void> => {
      if (data.kind === 'none') return copyThrough();
      if (data.kind === 'gzip' && (data.engine === 'auto' || data.engine === 'isa-l') && typeof isal !== 'string') {
        used = 'isa-l';
        return inflateIsal(isal);
      }
      if (data.engine === 'isa-l') throw new Error(`ISA-L cannot decompress here: ${data.kind === 'gzip' ? isal as string : `it does not read ${data.kind}`}`);
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
