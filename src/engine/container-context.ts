/**
 * The container side of the engine, on top of the image side (one database, one root): the
 * container records, where their files are, and the OCI runtime that runs them in-process.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BerthError } from '../common/index.ts';
import { Runtime, type RuntimeOptions } from '../runtime/index.ts';
import { openImageContext, type ImageContext, type ImageContextOptions } from './context.ts';
import { ContainerStore } from './container-store.ts';
import { NetworkStore } from './network-store.ts';
import { VolumeStore } from './volume-store.ts';
import { enginePaths, type EnginePaths } from './container-paths.ts';

export interface EngineContext extends ImageContext {
  containers: ContainerStore;
  networks: NetworkStore;
  volumes: VolumeStore;
  paths: EnginePaths;
  /** The runtime (made on first use: `ps` and `inspect` need none). */
  runtime(): Runtime;
  /** The command the monitor runs when a container ends: `berth --root R container cleanup`. */
  cleanupCommand: string[];
  /** Registries reached over plain HTTP (for pulls `run` makes). */
  insecureRegistries: string[];
}

export interface EngineOptions extends ImageContextOptions {
  /** The berth CLI the monitor runs at a container's end (default: bin/berth of this checkout). */
  berthCommand?: string[];
  insecureRegistries?: string[];
  /** How the runtime starts berth-init (default 'auto'; a one-shot CLI saves koffi's load with 'node'). */
  launcher?: RuntimeOptions['launcher'];
}

export function openEngineContext(opts: EngineOptions = {}): EngineContext {
  const image = openImageContext(opts);
  const paths = enginePaths(image.root);
  let runtime: Runtime | undefined;
  return {
    ...image,
    containers: new ContainerStore(image.db),
    networks: new NetworkStore(image.db),
    volumes: new VolumeStore(image.db),
    paths,
    runtime: () => (runtime ??= new Runtime({ root: paths.runtimeRoot, ...(opts.launcher ? { launcher: opts.launcher } : {}) })),
    get cleanupCommand() {
      return [...(opts.berthCommand ?? defaultBerthCommand()), '--root', image.root, 'container', 'cleanup'];
    },
    insecureRegistries: opts.insecureRegistries ?? [],
  };
}

/** bin/berth of this checkout or package (found upwards from this module: src/engine, dist, dist/lib). */
function defaultBerthCommand(): string[] {
  const fromEnv = process.env.BERTH_COMMAND;
  if (fromEnv) return [fromEnv];
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++, dir = dirname(dir)) {
    if (existsSync(join(dir, 'bin/berth')) && existsSync(join(dir, 'package.json'))) return [join(dir, 'bin/berth')];
  }
  throw new BerthError('FAILED_PRECONDITION', 'cannot find bin/berth beside the berth module', { hint: 'set BERTH_COMMAND to the berth CLI' });
}
