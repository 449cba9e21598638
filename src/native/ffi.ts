/**
 * The one loader of koffi and libc, shared by sys.ts and bpf.ts: loaded on first use only, so
 * importing a module that may call the host costs nothing at start-up.
 */
import { createRequire } from 'node:module';
import { BerthError } from '../common/index.ts';

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
