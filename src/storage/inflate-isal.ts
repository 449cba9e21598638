/**
 * ISA-L's inflate for the inflate worker (inflate-thread.ts): libisal.so.2 (Debian's libisal2)
 * through koffi, about 3.5 times zlib's speed on x86-64. koffi is loaded only when
 * `isalEngine` is called, by a worker in use (see inflate-thread.ts).
 *
 * `isal_inflate` reads the input ring and writes the output ring in place: both are shared
 * memory, which never moves, so their addresses are taken once. gzip members are read one
 * after the other and zeros after the last are ignored, as Node's gunzip does; errors are
 * reported with zlib's messages and codes, so callers see one behaviour whichever engine ran.
 */
import { createRequire } from 'node:module';
import * as zlib from 'node:zlib';

/** What the worker's rings offer the engine (see inflate-thread.ts); `W` is what to wait for. */
export interface RingIo<W = object> {
  inRing: Buffer;
  outRing: Buffer;
  /** `use(at, length)` on each run of input as it comes, until the input ends (each is consumed after). */
  eachInput(use: (at: number, length: number) => void): void;
  /** Free space in the output ring: [ring offset, length], or what to wait for. */
  nextRoom(): [number, number] | W;
  isWait(value: unknown): value is W;
  /** Sleep until `isReady` or a while passed (throws once the unpack is abandoned). */
  block(wait: W, isReady: () => boolean): void;
  hasRoom(): boolean;
  /** `n` bytes were put in the output ring at `at`. */
  produced(at: number, n: number): void;
}

/** ISA-L in this thread, or why not (`unavailable`). */
export interface IsalEngine {
  unavailable: string | undefined;
  /** Decompress the gzip stream from the input ring to the output ring, until the input ends. */
  run<W>(io: RingIo<W>): void;
}

/** Load ISA-L with the koffi at `koffiPath` and check it on a known stream. */
export function isalEngine(koffiPath: string | undefined): IsalEngine {
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
    if (koffiPath === undefined) return 'no FFI module was given';
    try {
      const koffi = createRequire(koffiPath)(koffiPath) as typeof import('koffi');
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
  if (typeof isal === 'string') {
    return {
      unavailable: isal,
      run: () => {
        throw new Error(`ISA-L is not available: ${isal}`);
      },
    };
  }

  /** ISA-L, ring to ring; gzip members one after the other, zeros after the last ignored (as Node's gunzip). */
  const run = <W>(io: RingIo<W>): void => {
    const api = isal;
    const { inRing, outRing, eachInput, nextRoom, isWait, block, hasRoom, produced } = io;
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
    eachInput(feed);
    if (!isBetweenMembers && !isOver) {
      feed(0, 0); // what it still holds
      if (!isBetweenMembers) throw Object.assign(new Error('unexpected end of file'), { code: 'Z_BUF_ERROR' });
    }
  };

  return { unavailable: undefined, run };
}
