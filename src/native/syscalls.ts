import { execFileSync } from 'node:child_process';
import { initBinaryPath } from './init-binary.ts';

/** The names no architecture's syscall table knows (asked of libseccomp through berth-init). */
export function checkSyscallNames(names: readonly string[]): Set<string> {
  if (names.length === 0) return new Set();
  const out = execFileSync(initBinaryPath(), ['check-syscalls', ...names], { encoding: 'utf8' });
  return new Set(out.split('\n').filter(Boolean));
}
