/**
 * What the main thread (file-worker.ts) and the file worker (file-thread.ts) say to each other.
 */
import type { MessagePort } from 'node:worker_threads';
import type { SharedMemory } from './unpack-signals.ts';

/** A batch of steps, OP.SLOTS numbers each in `ops`: a file's start, a run of its data, its end. */
export interface Batch {
  ops: Float64Array;
  paths: string[];
  names: string[];
  xattrs: Array<Array<[string, Uint8Array]>>;
}

export interface WorkerFailure {
  name: string;
  message: string;
  code?: string;
  errno?: number;
  syscall?: string;
}

export type FileReport = { kind: 'warning'; name: string; message: string } | { kind: 'error'; error: WorkerFailure };

/** The numbers of one step (`KIND` says which), and the flags of a start. */
export const OP = {
  SLOTS: 10, KIND: 0, FLAGS: 1, SEQ: 2, MODE: 3, UID: 4, GID: 5, ATIME: 6, ATIME_NS: 7, MTIME: 8, MTIME_NS: 9,
  /** A data step's ring offset and length (in the slots of SEQ and MODE). */
  OFFSET: 2, LENGTH: 3,
  START: 1, DATA: 2, END: 3,
  NEEDS_CHOWN: 1, HAS_XATTRS: 2,
} as const;
export type OpLayout = typeof OP;

/** The worker's workerData: where koffi is. */
export interface FileThreadData {
  koffiPath: string;
}

/** What starts it on an unpack. */
export interface FileWorkerData {
  memory: SharedMemory;
  port: MessagePort;
}
