/**
 * What the main thread (inflate-worker.ts) and the inflate worker (inflate-thread.ts) say to
 * each other.
 */
import type { MessagePort } from 'node:worker_threads';
import type { Compression } from './decompress.ts';
import type { SharedMemory } from './unpack-signals.ts';

/**
 * Which decompressor ran: ISA-L's inflate (libisal2, through koffi: about 3.5 times zlib's speed
 * on x86-64) or Node's zlib (its public stream API); `copy` for a tar that is not compressed.
 */
export type InflateEngine = 'isa-l' | 'zlib' | 'copy';

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
  engine: 'auto' | 'isa-l' | 'zlib';
  port: MessagePort;
}
