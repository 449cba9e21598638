/**
 * The file worker's code (see file-worker.ts for the main thread's side). It runs from its
 * source text in a worker thread: it imports nothing and uses no outer name; modules come from
 * `process.getBuiltinModule` (koffi from the path it is given), types only are imported.
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

/** What starts it on an unpack (its workerData holds only the path of koffi). */
export interface FileWorkerData {
  memory: SharedMemory;
  op: OpLayout;
  port: MessagePort;
}

/**
 * The worker's code. Self-contained (it runs from its source text): no imports, no outer
 * names; modules come from `process.getBuiltinModule`.
 */
export function fileWorkerMain(): void {
  const proc = process as unknown as { getBuiltinModule(id: string): unknown };
  const threads = proc.getBuiltinModule('node:worker_threads') as typeof import('node:worker_threads');
  const fs = proc.getBuiltinModule('node:fs') as typeof import('node:fs');
  const moduleApi = proc.getBuiltinModule('node:module') as typeof import('node:module');
  const { koffiPath } = threads.workerData as { koffiPath: string };
  const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;
  const FLAGS = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW;
  const times = Buffer.alloc(32);
  const parentPort = threads.parentPort as import('node:worker_threads').MessagePort;
  // waiting (unref'd, in a pool) until an unpack hands over its shared memory
  parentPort.once('message', (first: { start: FileWorkerData } | 'close') => {
    if (first === 'close') {
      parentPort.close();
      return;
    }
    // koffi is loaded only now, by a thread in use: ending a thread inside an addon's set-up
    // aborts Node, and a spare thread may be ended at any time (its process may just exit)
    const koffi = moduleApi.createRequire(koffiPath)(koffiPath) as typeof import('koffi');
    const libc = koffi.load('libc.so.6');
    const futimens = libc.func('int futimens(int fd, const void *times)');
    const fsetxattr = libc.func('int fsetxattr(int fd, const char *name, const void *value, size_t size, int flags)');
    const errnoNames = new Map<number, string>();
    for (const [name, value] of Object.entries(koffi.os.errno)) if (!errnoNames.has(value)) errnoNames.set(value, name);
    const { slot } = first.start.memory;
    const slots = new Int32Array(first.start.memory.slots);
    const ring = Buffer.from(first.start.memory.outRing);
    const OP = first.start.op;
    const port = first.start.port;
    let fd = -1;
    let path = '';
    let name = '';
    let xattrs: Array<[string, Uint8Array]> = [];
    let meta: Float64Array = new Float64Array(0);
    let hasFailed = false;

    const wakeMain = (): void => {
      Atomics.add(slots, slot.MAIN_TICK, 1);
      Atomics.notify(slots, slot.MAIN_TICK);
    };
    const sysError = (op: string): Error => {
      const errno = koffi.errno();
      const code = errnoNames.get(errno) ?? `E${errno}`;
      return Object.assign(new Error(`${code}: ${op} failed, ${op} '${path}'`), { code, errno, syscall: op });
    };
    /** Owner, mode, xattrs and times from `meta`, the step that started the file; then close it. */
    const finish = (): void => {
      if ((meta[OP.FLAGS] as number) & OP.NEEDS_CHOWN) fs.fchownSync(fd, meta[OP.UID] as number, meta[OP.GID] as number);
      fs.fchmodSync(fd, meta[OP.MODE] as number); // after chown, which clears setuid and setgid
      for (const [xattr, value] of xattrs) {
        if (fsetxattr(fd, xattr, value, value.byteLength, 0) === 0) continue;
        const error = sysError('fsetxattr');
        const code = (error as { code?: string }).code;
        if (code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EPERM') throw error;
        port.postMessage({ kind: 'warning', name, message: `xattr ${JSON.stringify(xattr)} not set: ${code === 'EOPNOTSUPP' ? 'ENOTSUP' : code}` } satisfies FileReport);
      }
      times.writeBigInt64LE(BigInt(meta[OP.ATIME] as number), 0);
      times.writeBigInt64LE(BigInt(meta[OP.ATIME_NS] as number), 8);
      times.writeBigInt64LE(BigInt(meta[OP.MTIME] as number), 16);
      times.writeBigInt64LE(BigInt(meta[OP.MTIME_NS] as number), 24);
      if (futimens(fd, times) !== 0) throw sysError('futimens');
      fs.closeSync(fd);
      fd = -1;
      const seq = meta[OP.SEQ] as number;
      Atomics.store(slots, slot.FILE_DONE_SEQ, seq);
      if (Atomics.load(slots, slot.WANTS_FILE_SEQ) !== 0 && seq >= Atomics.load(slots, slot.WANT_FILE_SEQ)) wakeMain();
    };

    threads.parentPort?.on('message', (batch: Batch | 'close') => {
      if (batch === 'close') {
        if (fd >= 0) fs.closeSync(fd);
        parentPort.close(); // nothing keeps the thread alive: it ends
        return;
      }
      try {
        if (hasFailed) return;
        const ops = batch.ops;
        let file = 0;
        for (let i = 0; i < ops.length; i += OP.SLOTS) {
          if (Atomics.load(slots, slot.CLOSING) !== 0) return; // abandoned: stop at once
          switch (ops[i + OP.KIND]) {
            case OP.START: {
              const flags = ops[i + OP.FLAGS] as number;
              path = batch.paths[file] as string;
              name = batch.names[file] as string;
              file++;
              xattrs = flags & OP.HAS_XATTRS ? (batch.xattrs.shift() ?? []) : [];
              meta = ops.subarray(i, i + OP.SLOTS);
              fd = fs.openSync(path, FLAGS, 0o600);
              break;
            }
            case OP.DATA: {
              const offset = ops[i + OP.OFFSET] as number;
              const length = ops[i + OP.LENGTH] as number;
              let done = 0;
              while (done < length) done += fs.writeSync(fd, ring, offset + done, length - done);
              break;
            }
            default:
              finish();
          }
        }
      } catch (err) {
        hasFailed = true;
        if (fd >= 0) {
          try {
            fs.closeSync(fd);
          } catch {
            // already failing
          }
          fd = -1;
        }
        const e = err as NodeJS.ErrnoException;
        const error: WorkerFailure = { name, message: e.message ?? String(err) };
        if (e.code !== undefined) error.code = e.code;
        if (typeof e.errno === 'number') error.errno = e.errno;
        if (e.syscall !== undefined) error.syscall = e.syscall;
        port.postMessage({ kind: 'error', error } satisfies FileReport);
        Atomics.store(slots, slot.FILE_FAILED, 1);
        wakeMain();
      } finally {
        Atomics.add(slots, slot.FILE_DONE_BATCHES, 1);
        if (Atomics.load(slots, slot.WANTS_FILE_BATCH) !== 0) wakeMain();
      }
    });
  });
}
