/**
 * The one loader of koffi and libc, shared by sys.ts and bpf.ts: loaded on first use only, so
 * importing a module that may call the host costs nothing at start-up.
 */
import { createRequire } from 'node:module';
import { BerthError, SyscallError, describeErrno } from '../common/index.ts';

export interface Ffi {
  koffi: typeof import('koffi');
  libc: ReturnType<(typeof import('koffi'))['load']>;
  errno: () => number;
  /** errno number → name (ENOENT, …) */
  errnoNames: Map<number, string>;
}

let ffi: Ffi | undefined;

export function loadFfi(): Ffi {
  if (ffi) return ffi;
  let koffi: typeof import('koffi');
  try {
    koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
  } catch (err) {
    throw new BerthError('UNAVAILABLE', 'cannot load koffi, the FFI module berth uses for host syscalls', {
      cause: err,
      hint: 'run `npm install` in the berth directory',
    });
  }
  const errnoNames = new Map<number, string>();
  for (const [name, value] of Object.entries(koffi.os.errno)) {
    if (!errnoNames.has(value)) errnoNames.set(value, name);
  }
  ffi = { koffi, libc: koffi.load('libc.so.6'), errno: () => koffi.errno(), errnoNames };
  return ffi;
}

/** A failed host call as a SyscallError: "<op> <what>: <what errno means> (ENAME)", the
 * one shape every module of this folder reports in. `what` names the object (a quoted path). */
export function hostSyscallError(op: string, errno: number, info: { path?: string | undefined; what?: string; detail?: string; hint?: string } = {}): SyscallError {
  const errnoName = loadFfi().errnoNames.get(errno) ?? `E${errno}`;
  const what = info.what ? ` ${info.what}` : '';
  const detail = info.detail === undefined ? '' : `\n${info.detail}`;
  return new SyscallError({
    stage: 'host',
    op,
    errno,
    errnoName,
    path: info.path,
    message: `${op}${what}: ${describeErrno(errnoName)} (${errnoName})${detail}`,
    ...(info.hint === undefined ? {} : { hint: info.hint }),
  });
}
