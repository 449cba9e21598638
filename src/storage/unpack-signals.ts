/**
 * The shared memory through which the unpacker's threads coordinate without event-loop round
 * trips: a few Int32 counters (named slots) and the two rings of bytes.
 *
 *   input ring   compressed bytes: main thread → inflate worker
 *   output ring  uncompressed tar: inflate worker → main thread (parses it) and the file worker
 *                (writes file data straight from it)
 *
 * Ring positions are byte counts since the start, kept modulo 2^32 (`>>> 0`): the rings' sizes
 * are powers of two, so `position & (size - 1)` is the offset in the ring.
 *
 * Waking a thread costs a context switch, so waiters say what they wait for: a thread about to
 * sleep sets a want flag (and the position it needs) and sleeps on its own tick; whoever moves
 * that counter wakes it only once the position is reached. Ends, failures and `CLOSING` wake
 * everyone. Every wait also times out now and then, so a missed wake-up only costs time.
 */
export const SLOT = {
  /** What the main thread / the inflate worker sleep on. */
  MAIN_TICK: 0,
  INFLATE_TICK: 1,
  /** Input ring: bytes written by the main thread; bytes consumed by the inflate worker; 1 once input ended. */
  IN_HEAD: 2,
  IN_TAIL: 3,
  IN_ENDED: 4,
  /** Output ring: bytes written by the inflate worker; bytes the main thread gave back; 1 once complete. */
  OUT_HEAD: 5,
  OUT_RELEASED: 6,
  OUT_ENDED: 7,
  INFLATE_FAILED: 8,
  /** File worker: last file finished, batches handled, 1 after a failure. */
  FILE_DONE_SEQ: 9,
  FILE_DONE_BATCHES: 10,
  FILE_FAILED: 11,
  /** 1 when the unpack is abandoned: workers stop waiting. */
  CLOSING: 12,
  /** Wants: a flag (1 while someone sleeps on it) and the position that wakes them. */
  WANTS_OUT_HEAD: 13,
  WANT_OUT_HEAD: 14,
  WANTS_IN_TAIL: 15,
  WANT_IN_TAIL: 16,
  WANTS_FILE_SEQ: 17,
  WANT_FILE_SEQ: 18,
  WANTS_FILE_BATCH: 19,
  WANTS_IN_HEAD: 20,
  WANT_IN_HEAD: 21,
  WANTS_OUT_RELEASED: 22,
  WANT_OUT_RELEASED: 23,
} as const;

const SLOT_COUNT = 24;

export type Slots = typeof SLOT;

export const IN_RING_BYTES = 2 << 20;
export const OUT_RING_BYTES = 8 << 20;

/** How long a waiter sleeps at most before looking again. */
export const POLL_MS = 50;

/** A condition to be woken for: its flag slot, and the slot and value of the position it needs. */
export interface Want {
  flag: number;
  slot?: number;
  position?: number;
}

/** The shared memory of one unpack, as the main thread uses it. */
export class UnpackSignals {
  readonly slots: Int32Array;
  readonly inRing: Buffer;
  readonly outRing: Buffer;

  constructor() {
    this.slots = new Int32Array(new SharedArrayBuffer(4 * SLOT_COUNT));
    this.inRing = Buffer.from(new SharedArrayBuffer(IN_RING_BYTES));
    this.outRing = Buffer.from(new SharedArrayBuffer(OUT_RING_BYTES));
  }

  /** What a worker needs to share this memory (its workerData). */
  share(): SharedMemory {
    return { slots: this.slots.buffer as SharedArrayBuffer, inRing: this.inRing.buffer as SharedArrayBuffer, outRing: this.outRing.buffer as SharedArrayBuffer, slot: SLOT };
  }

  /** A counter as an unsigned 32-bit number. */
  load(slot: number): number {
    return Atomics.load(this.slots, slot) >>> 0;
  }

  store(slot: number, value: number): void {
    Atomics.store(this.slots, slot, value | 0);
  }

  /** Wake whoever sleeps on `tick`. */
  wake(tick: number): void {
    Atomics.add(this.slots, tick, 1);
    Atomics.notify(this.slots, tick);
  }

  /** Wake the sleepers on `tick` if one wants `flag` and `value` reached the position it needs. */
  wakeIfWanted(tick: number, flag: number, slot: number, value: number): void {
    if (Atomics.load(this.slots, flag) !== 0 && reached(value, this.load(slot))) this.wake(tick);
  }

  /** Block this (main) thread until `isReady()`, woken only for `wants`. */
  untilSync(isReady: () => boolean, wants: Want[]): void {
    for (;;) {
      const tick = Atomics.load(this.slots, SLOT.MAIN_TICK);
      this.#want(wants, 1);
      try {
        if (isReady()) return;
        Atomics.wait(this.slots, SLOT.MAIN_TICK, tick, POLL_MS);
      } finally {
        this.#want(wants, 0);
      }
    }
  }

  /**
   * Wait without blocking the event loop until `isReady()`, woken only for `wants`. A timer
   * keeps the event loop alive meanwhile: a pending waitAsync does not.
   */
  async until(isReady: () => boolean, wants: Want[]): Promise<void> {
    for (;;) {
      const tick = Atomics.load(this.slots, SLOT.MAIN_TICK);
      this.#want(wants, 1);
      try {
        if (isReady()) return;
        const waiting = waitAsync(this.slots, SLOT.MAIN_TICK, tick, POLL_MS);
        if (waiting.async) {
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([waiting.value, new Promise((resolve) => (timer = setTimeout(resolve, POLL_MS)))]);
          clearTimeout(timer);
        }
      } finally {
        this.#want(wants, 0);
      }
    }
  }

  /** Raise (1) or lower (0) the flags of `wants`; positions are published before their flag. */
  #want(wants: Want[], on: 0 | 1): void {
    for (const want of wants) {
      if (on && want.slot !== undefined) Atomics.store(this.slots, want.slot, (want.position ?? 0) | 0);
      Atomics.store(this.slots, want.flag, on);
    }
  }
}

export interface SharedMemory {
  slots: SharedArrayBuffer;
  inRing: SharedArrayBuffer;
  outRing: SharedArrayBuffer;
  slot: Slots;
}

/** `Atomics.waitAsync` (ES2024; the configured lib predates it). */
const waitAsync = (Atomics as unknown as {
  waitAsync(array: Int32Array, index: number, value: number, timeoutMs: number): { async: boolean; value: Promise<string> | string };
}).waitAsync.bind(Atomics);

/** Bytes from `from` to `to` on the 2^32 circle of ring positions. */
export function distance(from: number, to: number): number {
  return (to - from) >>> 0;
}

/** True when position `value` is at or past `target` (both modulo 2^32, less than 2^31 apart). */
export function reached(value: number, target: number): boolean {
  return ((value - target) | 0) >= 0;
}
