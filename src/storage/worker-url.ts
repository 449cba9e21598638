/**
 * Where the unpacker's worker modules are. Each worker is a module of its own
 * (inflate-thread.ts, file-thread.ts), started from its file: from source (tests, Node's type
 * stripping) the .ts file beside this one; from a bundle (`dist/berth.cjs`, made by
 * scripts/build.mjs) its own bundle `dist/workers/<name>.cjs`, which the build makes as a
 * separate entry point.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BerthError } from '../common/index.ts';

export type WorkerName = 'inflate-thread' | 'file-thread';

/** The file URL of worker `name`, for code at `base` (default: this module, or the bundle it is in). */
export function workerUrl(name: WorkerName, base: string = import.meta.url): URL {
  return new URL(base.endsWith('.ts') ? `./${name}.ts` : `./workers/${name}.cjs`, base);
}

const checked = new Set<string>();

/** `workerUrl`, checked once per process to exist (a bundle without its workers is a broken build). */
export function existingWorkerUrl(name: WorkerName): URL {
  const url = workerUrl(name);
  if (!checked.has(url.href)) {
    if (!existsSync(fileURLToPath(url))) {
      throw new BerthError('INTERNAL', `the unpacker's worker module ${fileURLToPath(url)} is missing`, { hint: 'rebuild berth (node scripts/build.mjs)' });
    }
    checked.add(url.href);
  }
  return url;
}
