import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BerthError } from '../common/index.ts';

let cached: string | undefined;

/** Where berth-init is: $BERTH_INIT, or build/berth-init of this checkout (from src/ or dist/). */
export function initBinaryPath(): string {
  if (cached) return cached;
  const candidates = [
    process.env.BERTH_INIT,
    fileURLToPath(new URL('../build/berth-init', import.meta.url)),
    fileURLToPath(new URL('../../build/berth-init', import.meta.url)),
  ];
  for (const candidate of candidates) {
    if (candidate && existsSync(candidate)) return (cached = candidate);
  }
  throw new BerthError('FAILED_PRECONDITION', 'berth-init is not built', { hint: 'run ./setup.sh' });
}

/** berth-init linked statically (build/berth-init-static): what a container can run itself
 * (`--init`), whatever libc its image has. */
export function staticInitBinaryPath(): string {
  const path = initBinaryPath().replace(/berth-init$/, 'berth-init-static');
  if (!existsSync(path)) throw new BerthError('FAILED_PRECONDITION', `the static berth-init (${path}) is not built`, { hint: 'run ./setup.sh' });
  return path;
}
