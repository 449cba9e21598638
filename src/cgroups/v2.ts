/**
 * The cgroup v2 (unified hierarchy) driver: one directory per cgroup, controllers enabled
 * top-down through every ancestor's cgroup.subtree_control.
 */
import { join } from 'node:path';
import { BerthError, isErrno } from '../common/index.ts';
import { errnoText, listSubtree, makeCgroupDir, parseFlatKeyed, pathExists, readControl, readControlIfExists, readProcs, sleep, writeControl } from './fs.ts';
import { watchCounter } from './oom.ts';
import { cgroupDir, normalizeCgroupPath, prefixesOf } from './paths.ts';
import { compileV2, DEFAULT_V2_PROBE, v2ControllerOf } from './resources-v2.ts';
import type { V2Probe } from './resources-v2.ts';
import { sectionsOf } from './resources.ts';
import type { CgroupResources } from './resources.ts';
import { readV2Stats } from './stats.ts';
import { killAll, refuseForeign, removeDirs, waitUntilEmpty } from './teardown.ts';
import { runWrites } from './writes.ts';
import { attachDeviceFilter, type DeviceFilterSyscalls } from './ebpf-devices.ts';
import type { ApplyResult, CgroupDriver, CgroupHandle, CgroupStats, WatchOomOptions } from './driver.ts';

/** Controllers enabled for every container when available, so that stats() can read them. */
const STATS_CONTROLLERS = ['cpu', 'io', 'memory', 'pids'];

export interface V2DriverOptions {
  /** The cgroup2 mount, e.g. /sys/fs/cgroup. */
  root: string;
  /**
   * The bpf(2) calls that attach the device filter (src/native/bpf.ts; the cgroups layer does
   * not import native/). Without them, device rules are reported as not enforced.
   */
  bpf?: DeviceFilterSyscalls;
  /** How long freeze() waits for the kernel to report the cgroup frozen (5 s by default). */
  freezeTimeoutMs?: number;
}

function controllerList(text: string | undefined): string[] {
  return (text ?? '').split(/\s+/).filter((name) => name !== '');
}

/**
 * Create `relPath` below `root` (a cgroup2 mount), enabling controllers in the
 * cgroup.subtree_control of the root and of every ancestor on the way. `required` controllers
 * must be available (FAILED_PRECONDITION naming the controller otherwise); `optional` ones are
 * enabled where available. Returns the directories it created, top first.
 */
export async function prepareV2Path(root: string, relPath: string, required: readonly string[], optional: readonly string[]): Promise<string[]> {
  const created: string[] = [];
  let parent = root;
  try {
    for (const prefix of prefixesOf(relPath)) {
      await enableControllers(parent, required, optional);
      const dir = join(root, prefix);
      if (makeCgroupDir(dir)) created.push(dir);
      parent = dir;
    }
  } catch (err) {
    await removeDirs(created);
    throw err;
  }
  return created;
}

async function enableControllers(dir: string, required: readonly string[], optional: readonly string[]): Promise<void> {
  const available = controllerList(await readControlIfExists(join(dir, 'cgroup.controllers')));
  const enabled = controllerList(await readControlIfExists(join(dir, 'cgroup.subtree_control')));
  for (const controller of required) {
    if (!available.includes(controller)) {
      throw new BerthError('FAILED_PRECONDITION', `cgroup controller "${controller}" is not available in ${dir}`, {
        hint: `the kernel must provide the ${controller} controller and every parent cgroup must enable it in cgroup.subtree_control`,
      });
    }
  }
  const wanted = [...required, ...optional.filter((name) => available.includes(name) && !required.includes(name))];
  for (const controller of wanted) {
    if (enabled.includes(controller)) continue;
    try {
      await writeControl(join(dir, 'cgroup.subtree_control'), `+${controller}`);
    } catch (err) {
      if (!required.includes(controller)) continue;
      const isBusy = err instanceof BerthError && isErrno(err.cause, 'EBUSY');
      throw new BerthError(err instanceof BerthError ? err.code : 'INTERNAL', `cannot enable cgroup controller "${controller}" in ${dir}: ${errnoText((err as BerthError).cause ?? err)}`, {
        cause: err,
        ...(isBusy ? { hint: `${dir} holds processes itself; cgroup v2 allows controllers only on cgroups whose processes live in child cgroups` } : {}),
      });
    }
  }
}

export class V2Driver implements CgroupDriver {
  readonly version = 'v2' as const;
  readonly root: string;
  readonly #freezeTimeoutMs: number;
  readonly #bpf: DeviceFilterSyscalls | undefined;

  constructor(options: V2DriverOptions) {
    this.root = options.root;
    this.#freezeTimeoutMs = options.freezeTimeoutMs ?? 5000;
    this.#bpf = options.bpf;
  }

  #dir(path: string): string {
    return cgroupDir(this.root, normalizeCgroupPath(path));
  }

  async #existingDir(path: string): Promise<string> {
    const dir = this.#dir(path);
    if (!(await pathExists(dir))) throw new BerthError('NOT_FOUND', `cgroup ${JSON.stringify(path)} does not exist (no ${dir})`);
    return dir;
  }

  procsFilesOf(path: string): string[] {
    return [join(this.#dir(path), 'cgroup.procs')];
  }

  async exists(path: string): Promise<boolean> {
    return pathExists(this.#dir(path));
  }

  async create(path: string, resources: CgroupResources = {}): Promise<CgroupHandle> {
    const rel = normalizeCgroupPath(path);
    // Check the configuration before touching the hierarchy.
    const planned = compileV2(resources, DEFAULT_V2_PROBE);
    const required = [...new Set(planned.writes.map(v2ControllerOf).filter((name) => name !== undefined))];
    const created = await prepareV2Path(this.root, rel, required, STATS_CONTROLLERS);
    try {
      const result = await this.apply(path, resources);
      const dir = cgroupDir(this.root, rel);
      return { path: `/${rel}`, dirs: [dir], procsFiles: [join(dir, 'cgroup.procs')], ...result };
    } catch (err) {
      await removeDirs(created);
      throw err;
    }
  }

  async apply(path: string, resources: CgroupResources): Promise<ApplyResult> {
    const dir = await this.#existingDir(path);
    const compiled = compileV2(resources, await this.#probe(dir, resources));
    const available = controllerList(await readControlIfExists(join(dir, 'cgroup.controllers')));
    for (const write of compiled.writes) {
      const controller = v2ControllerOf(write);
      if (controller !== undefined && !available.includes(controller)) {
        throw new BerthError('FAILED_PRECONDITION', `cgroup controller "${controller}" is not enabled for ${dir} (needed by ${write.field})`, {
          hint: `enable it in the parent's cgroup.subtree_control, or leave ${write.field} unset`,
        });
      }
    }
    await runWrites(compiled.writes.map((write) => ({ ...write, path: join(dir, write.file) })));
    let unenforced = compiled.unenforced;
    if (compiled.deviceRules && resources.devices && this.#bpf) {
      // v2 devices: an eBPF program in place of devices.allow/deny, attached before any
      // process of the container runs
      await attachDeviceFilter(dir, resources.devices, this.#bpf);
      unenforced = unenforced.filter((u) => u.field !== 'linux.resources.devices');
    }
    const result: ApplyResult = { unenforced };
    if (compiled.deviceRules) result.deviceRules = compiled.deviceRules;
    return result;
  }

  update(path: string, resources: CgroupResources): Promise<ApplyResult> {
    return this.apply(path, resources);
  }

  async #probe(dir: string, resources: CgroupResources): Promise<V2Probe> {
    const sections = sectionsOf(resources);
    const probe: V2Probe = { ...DEFAULT_V2_PROBE };
    if (sections.includes('memory')) {
      const max = (await readControlIfExists(join(dir, 'memory.max')))?.trim();
      if (max && /^\d+$/.test(max)) probe.memoryMax = BigInt(max);
      const usage = (await readControlIfExists(join(dir, 'memory.current')))?.trim();
      if (usage && /^\d+$/.test(usage)) probe.memoryUsage = BigInt(usage);
      probe.hasSwapMax = await pathExists(join(dir, 'memory.swap.max'));
    }
    if (sections.includes('cpu')) {
      const cpuMax = await readControlIfExists(join(dir, 'cpu.max'));
      if (cpuMax !== undefined) probe.cpuMax = cpuMax;
    }
    if (sections.includes('io')) {
      probe.hasBfqWeight = await pathExists(join(dir, 'io.bfq.weight'));
      probe.hasIoWeight = await pathExists(join(dir, 'io.weight'));
    }
    return probe;
  }

  async destroy(path: string): Promise<void> {
    const dir = this.#dir(path);
    const dirs = await listSubtree(dir);
    if (dirs.length === 0) return;
    const pids = (await Promise.all(dirs.map(readProcs))).flat();
    if (pids.length > 0) {
      refuseForeign(dirs, pids);
      if (await pathExists(join(dir, 'cgroup.kill'))) {
        await writeControl(join(dir, 'cgroup.kill'), '1');
      } else {
        // Before 5.14: freeze so nothing forks between listing and killing, kill, thaw so the kills land.
        const canFreeze = await pathExists(join(dir, 'cgroup.freeze'));
        if (canFreeze) await writeControl(join(dir, 'cgroup.freeze'), '1');
        await killAll(dirs);
        if (canFreeze) await writeControl(join(dir, 'cgroup.freeze'), '0');
      }
      await waitUntilEmpty(dirs);
    }
    await removeDirs(dirs);
  }

  async #freezeFile(path: string): Promise<string> {
    const dir = await this.#existingDir(path);
    const file = join(dir, 'cgroup.freeze');
    if (!(await pathExists(file))) {
      throw new BerthError('FAILED_PRECONDITION', `cgroup controller "freezer" is not available: ${file} does not exist`, { hint: 'the cgroup v2 freezer needs Linux 5.2 or later' });
    }
    return file;
  }

  async #waitFrozen(path: string, want: boolean): Promise<boolean> {
    const deadline = Date.now() + this.#freezeTimeoutMs;
    for (;;) {
      if ((await this.isFrozen(path)) === want) return true;
      if (Date.now() > deadline) return false;
      await sleep(10);
    }
  }

  async freeze(path: string): Promise<void> {
    const file = await this.#freezeFile(path);
    await writeControl(file, '1');
    if (!(await this.#waitFrozen(path, true))) {
      await writeControl(file, '0');
      throw new BerthError('UNAVAILABLE', `cgroup ${JSON.stringify(path)} did not freeze within ${this.#freezeTimeoutMs} ms`, { hint: 'a process may be in uninterruptible sleep; retry' });
    }
  }

  async thaw(path: string): Promise<void> {
    const file = await this.#freezeFile(path);
    await writeControl(file, '0');
    if (!(await this.#waitFrozen(path, false))) {
      throw new BerthError('UNAVAILABLE', `cgroup ${JSON.stringify(path)} did not thaw within ${this.#freezeTimeoutMs} ms`);
    }
  }

  async isFrozen(path: string): Promise<boolean> {
    const dir = await this.#existingDir(path);
    const events = parseFlatKeyed(await readControl(join(dir, 'cgroup.events')));
    return events.get('frozen') === 1;
  }

  async rescueFrozen(): Promise<string | undefined> {
    // a frozen v2 task leaves the frozen state to die of a fatal signal
    return undefined;
  }

  async pids(path: string, recursive = false): Promise<number[]> {
    const dir = await this.#existingDir(path);
    const dirs = recursive ? await listSubtree(dir) : [dir];
    const all = new Set<number>();
    for (const each of dirs) for (const pid of await readProcs(each)) all.add(pid);
    return [...all];
  }

  async stats(path: string): Promise<CgroupStats> {
    return readV2Stats(await this.#existingDir(path));
  }

  async oomKillCount(path: string): Promise<number> {
    const dir = await this.#existingDir(path);
    const text = await readControlIfExists(join(dir, 'memory.events'));
    if (text === undefined) {
      throw new BerthError('FAILED_PRECONDITION', `cgroup controller "memory" is not enabled for ${dir} (no memory.events)`);
    }
    return parseFlatKeyed(text).get('oom_kill') ?? 0;
  }

  watchOom(path: string, options?: WatchOomOptions): AsyncIterable<number> {
    return watchCounter(() => this.oomKillCount(path), options);
  }
}
