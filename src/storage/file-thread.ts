/**
 * The file worker (see file-worker.ts for the main thread's side). A module of its own, started
 * as a worker thread from its file: this one when berth runs from source, its bundle
 * `dist/workers/file-thread.cjs` otherwise (worker-url.ts says which).
 *
 * It opens each path with O_CREAT|O_EXCL|O_NOFOLLOW, writes the file's data from the output
 * ring, sets owner, mode, xattrs and nanosecond times on the descriptor (futimens and fsetxattr
 * through koffi: Node has neither on a descriptor) and closes it, publishing its progress in
 * shared memory.
 */
import { closeSync, constants, fchmodSync, fchownSync, openSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { OP, type Batch, type FileReport, type FileThreadData, type FileWorkerData, type WorkerFailure } from './file-protocol.ts';

const FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** Makes the files of one unpack, batch by batch. */
function serve(port: MessagePort, start: FileWorkerData): void {
  // koffi is loaded only now, by a thread in use: ending a thread inside an addon's set-up
  // aborts Node, and a spare thread may be ended at any time (its process may just exit)
  const { koffiPath } = workerData as FileThreadData;
  const koffi = createRequire(koffiPath)(koffiPath) as typeof import('koffi');
  const libc = koffi.load('libc.so.6');
  const futimens = libc.func('int futimens(int fd, const void *times)');
  const fsetxattr = libc.func('int fsetxattr(int fd, const char *name, const void *value, size_t size, int flags)');
  const errnoNames = new Map<number, string>();
  for (const [name, value] of Object.entries(koffi.os.errno)) if (!errnoNames.has(value)) errnoNames.set(value, name);
  const { slot } = start.memory;
  const slots = new Int32Array(start.memory.slots);
  const ring = Buffer.from(start.memory.outRing);
  const reports = start.port;
  const times = Buffer.alloc(32);
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
    if ((meta[OP.FLAGS] as number) & OP.NEEDS_CHOWN) fchownSync(fd, meta[OP.UID] as number, meta[OP.GID] as number);
    fchmodSync(fd, meta[OP.MODE] as number); // after chown, which clears setuid and setgid
    for (const [xattr, value] of xattrs) {
      if (fsetxattr(fd, xattr, value, value.byteLength, 0) === 0) continue;
      const error = sysError('fsetxattr');
      const code = (error as { code?: string }).code;
      if (code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EPERM') throw error;
      reports.postMessage({ kind: 'warning', name, message: `xattr ${JSON.stringify(xattr)} not set: ${code === 'EOPNOTSUPP' ? 'ENOTSUP' : code}` } satisfies FileReport);
    }
    times.writeBigInt64LE(BigInt(meta[OP.ATIME] as number), 0);
    times.writeBigInt64LE(BigInt(meta[OP.ATIME_NS] as number), 8);
    times.writeBigInt64LE(BigInt(meta[OP.MTIME] as number), 16);
    times.writeBigInt64LE(BigInt(meta[OP.MTIME_NS] as number), 24);
    if (futimens(fd, times) !== 0) throw sysError('futimens');
    closeSync(fd);
    fd = -1;
    const seq = meta[OP.SEQ] as number;
    Atomics.store(slots, slot.FILE_DONE_SEQ, seq);
    if (Atomics.load(slots, slot.WANTS_FILE_SEQ) !== 0 && seq >= Atomics.load(slots, slot.WANT_FILE_SEQ)) wakeMain();
  };

  port.on('message', (batch: Batch | 'close') => {
    if (batch === 'close') {
      if (fd >= 0) closeSync(fd);
      port.close(); // nothing keeps the thread alive: it ends
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
            fd = openSync(path, FLAGS, 0o600);
            break;
          }
          case OP.DATA: {
            const offset = ops[i + OP.OFFSET] as number;
            const length = ops[i + OP.LENGTH] as number;
            let done = 0;
            while (done < length) done += writeSync(fd, ring, offset + done, length - done);
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
          closeSync(fd);
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
      reports.postMessage({ kind: 'error', error } satisfies FileReport);
      Atomics.store(slots, slot.FILE_FAILED, 1);
      wakeMain();
    } finally {
      Atomics.add(slots, slot.FILE_DONE_BATCHES, 1);
      if (Atomics.load(slots, slot.WANTS_FILE_BATCH) !== 0) wakeMain();
    }
  });
}

// waiting (unref'd, in a pool) until an unpack hands over its shared memory
const port = parentPort;
port?.once('message', (first: { start: FileWorkerData } | 'close') => {
  if (first === 'close') port.close();
  else serve(port, first.start);
});
