/**
 * The cgroup v1 driver: one hierarchy per mount (cpu, memory, … or co-mounts such as
 * cpu,cpuacct), the container cgroup created at the same path in each.
 *
 * Hybrid hosts: controllers the kernel bound to the cgroup2 mount (e.g. hugetlb on a host that
 * mounts no v1 hugetlb hierarchy) are driven there, with the v2 mapping.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BerthError } from '../common/index.ts';
import { listSubtree, makeCgroupDir, parseFlatKeyed, pathExists, readControl, readControlIfExists, sleep, writeControl } from './fs.ts';
import { V1_CONTROLLERS } from './layout.ts';
import { watchCounter } from './oom.ts';
import { cgroupDir, normalizeCgroupPath, prefixesOf } from './paths.ts';
import { compileV1, DEFAULT_V1_PROBE } from './resources-v1.ts';
import type { V1Probe } from './resources-v1.ts';
import { compileV2, DEFAULT_V2_PROBE } from './resources-v2.ts';
import { sectionsOf, v1ControllerOf } from './resources.ts';
import type { CgroupResources, ResourceSection, Unenforced } from './resources.ts';
import { readV1Stats } from './stats.ts';
import { collectPids, killAll, removeDirs, waitUntilEmpty } from './teardown.ts';
import { runWrites } from './writes.ts';
import type { PlacedWrite } from './writes.ts';
import { prepareV2Path } from './v2.ts';
import type { ApplyResult, CgroupDriver, CgroupHandle, CgroupStats, WatchOomOptions } from './driver.ts';

/** Hierarchies a container joins: every v1 controller, and systemd's named one (as runc). */
const JOINED = [...V1_CONTROLLERS, 'name=systemd'];
/** Sections the v2 mapping can serve from a hybrid host's cgroup2 mount. */
const V2_SECTIONS: readonly ResourceSection[] = ['memory', 'cpu', 'cpuset', 'pids', 'io', 'hugetlb', 'rdma'];
/** Where the pids of a cgroup are read (any hierarchy holds all of them). */
const PIDS_FROM = ['pids', 'freezer', 'memory', 'cpu', 'devices', 'cpuacct', 'cpuset', 'blkio', 'name=systemd'];

export interface V1DriverOptions {
  /** v1 controller → mount directory (CgroupLayout.v1Mounts). */
  mounts: ReadonlyMap<string, string>;
  /** Hybrid hosts: the cgroup2 mount and the controllers bound to it (used only when non-empty). */
  unified?: { dir: string; controllers: readonly string[] } | undefined;
  /** How long freeze() waits for freezer.state to read FROZEN (5 s by default). */
  freezeTimeoutMs?: number;
}

const FIELD_OF: Record<ResourceSection, string> = {
  memory: 'linux.resources.memory',
  cpu: 'linux.resources.cpu',
  cpuset: 'linux.resources.cpu.cpus/mems',
  pids: 'linux.resources.pids',
  io: 'linux.resources.blockIO',
  hugetlb: 'linux.resources.hugepageLimits',
  net_cls: 'linux.resources.network.classID',
  net_prio: 'linux.resources.network.priorities',
  devices: 'linux.resources.devices',
  rdma: 'linux.resources.rdma',
  unified: 'linux.resources.unified',
};

export class V1Driver implements CgroupDriver {
  readonly version = 'v1' as const;
  readonly #mounts: ReadonlyMap<string, string>;
  readonly #unified: { dir: string; controllers: readonly string[] } | undefined;
  readonly #freezeTimeoutMs: number;

  constructor(options: V1DriverOptions) {
    this.#mounts = options.mounts;
    this.#unified = options.unified && options.unified.controllers.length > 0 ? options.unified : undefined;
    this.#freezeTimeoutMs = options.freezeTimeoutMs ?? 5000;
  }

  /** The distinct mount directories the container cgroup is created in. */
  #hierarchies(): string[] {
    const dirs: string[] = [];
    for (const [controller, dir] of this.#mounts) if (JOINED.includes(controller) && !dirs.includes(dir)) dirs.push(dir);
    return dirs;
  }

  /** Every directory of the cgroup: one per v1 hierarchy, plus the cgroup2 one on hybrid hosts. */
  #allDirs(rel: string): string[] {
    const dirs = this.#hierarchies().map((mount) => cgroupDir(mount, rel));
    if (this.#unified) dirs.push(cgroupDir(this.#unified.dir, rel));
    return dirs;
  }

  #dirOf(controller: string, rel: string): string | undefined {
    const mount = this.#mounts.get(controller);
    return mount === undefined ? undefined : cgroupDir(mount, rel);
  }

  #need(controller: string, rel: string, why: string): string {
    const dir = this.#dirOf(controller, rel);
    if (dir === undefined) {
      throw new BerthError('FAILED_PRECONDITION', `cgroup controller "${controller}" is not available (needed by ${why})`, {
        hint: `mount the ${controller} cgroup v1 hierarchy (mount -t cgroup -o ${controller} cgroup /sys/fs/cgroup/${controller})`,
      });
    }
    return dir;
  }

  procsFilesOf(path: string): string[] {
    return this.#allDirs(normalizeCgroupPath(path)).map((dir) => join(dir, 'cgroup.procs'));
  }

  async exists(path: string): Promise<boolean> {
    return pathExists(this.#pidsDir(normalizeCgroupPath(path)));
  }

  #pidsDir(rel: string): string {
    for (const controller of PIDS_FROM) {
      const dir = this.#dirOf(controller, rel);
      if (dir !== undefined) return dir;
    }
    const first = this.#hierarchies()[0];
    if (first === undefined) throw new BerthError('FAILED_PRECONDITION', 'no cgroup v1 hierarchy is mounted');
    return cgroupDir(first, rel);
  }

  async #existingPidsDir(path: string): Promise<string> {
    const dir = this.#pidsDir(normalizeCgroupPath(path));
    if (!(await pathExists(dir))) throw new BerthError('NOT_FOUND', `cgroup ${JSON.stringify(path)} does not exist (no ${dir})`);
    return dir;
  }

  /** Decide, per section, whether a v1 hierarchy or the hybrid cgroup2 mount serves it. */
  #route(resources: CgroupResources): { v1: ResourceSection[]; v2: ResourceSection[] } {
    const v1: ResourceSection[] = [];
    const v2: ResourceSection[] = [];
    for (const section of sectionsOf(resources)) {
      const controller = v1ControllerOf(section);
      if (section === 'unified' || this.#mounts.has(controller)) v1.push(section);
      else if (this.#unified?.controllers.includes(section) && V2_SECTIONS.includes(section)) v2.push(section);
      else this.#need(controller, '', FIELD_OF[section]);
    }
    return { v1, v2 };
  }

  async create(path: string, resources: CgroupResources = {}): Promise<CgroupHandle> {
    const rel = normalizeCgroupPath(path);
    // Check the configuration (values and controllers) before touching any hierarchy.
    const route = this.#route(resources);
    compileV1(resources, DEFAULT_V1_PROBE, route.v1);
    const planned = compileV2(resources, DEFAULT_V2_PROBE, route.v2);
    const created: string[] = [];
    try {
      for (const mount of this.#hierarchies()) {
        created.push(...(await makeDirs(mount, rel, mount === this.#mounts.get('cpuset'))));
      }
      if (this.#unified) {
        const required = [...new Set(planned.writes.map((write) => write.section))];
        created.push(...(await prepareV2Path(this.#unified.dir, rel, required, [])));
      }
      const result = await this.apply(path, resources);
      const dirs = this.#allDirs(rel);
      return { path: `/${rel}`, dirs, procsFiles: dirs.map((dir) => join(dir, 'cgroup.procs')), ...result };
    } catch (err) {
      await removeDirs(created);
      throw err;
    }
  }

  async apply(path: string, resources: CgroupResources): Promise<ApplyResult> {
    const rel = normalizeCgroupPath(path);
    const route = this.#route(resources);
    const dirOfSection = (section: ResourceSection) => this.#need(v1ControllerOf(section), rel, FIELD_OF[section]);
    for (const section of route.v1.filter((s) => s !== 'unified')) {
      const dir = dirOfSection(section);
      if (!(await pathExists(dir))) throw new BerthError('NOT_FOUND', `cgroup ${JSON.stringify(path)} does not exist (no ${dir})`);
    }
    const v1 = compileV1(resources, await this.#probe(rel, route.v1, resources), route.v1);
    const writes: PlacedWrite[] = v1.writes.map((write) => ({ ...write, path: join(dirOfSection(write.section), write.file) }));
    const unenforced: Unenforced[] = [...v1.unenforced];
    if (route.v2.length > 0 && this.#unified) {
      const dir = cgroupDir(this.#unified.dir, rel);
      if (!(await pathExists(dir))) throw new BerthError('NOT_FOUND', `cgroup ${JSON.stringify(path)} does not exist (no ${dir})`);
      const v2 = compileV2(resources, DEFAULT_V2_PROBE, route.v2);
      writes.push(...v2.writes.map((write) => ({ ...write, path: join(dir, write.file) })));
      unenforced.push(...v2.unenforced);
    }
    await runWrites(writes);
    return { unenforced };
  }

  update(path: string, resources: CgroupResources): Promise<ApplyResult> {
    return this.apply(path, resources);
  }

  async #probe(rel: string, sections: readonly ResourceSection[], resources: CgroupResources): Promise<V1Probe> {
    const probe: V1Probe = { ...DEFAULT_V1_PROBE };
    const memoryDir = this.#dirOf('memory', rel);
    if (sections.includes('memory') && memoryDir !== undefined) {
      const limit = (await readControlIfExists(join(memoryDir, 'memory.limit_in_bytes')))?.trim();
      if (limit && /^\d+$/.test(limit)) probe.memoryLimit = BigInt(limit);
      probe.hasMemsw = await pathExists(join(memoryDir, 'memory.memsw.limit_in_bytes'));
      if (resources.memory?.checkBeforeUpdate) {
        const usage = (await readControlIfExists(join(memoryDir, 'memory.usage_in_bytes')))?.trim();
        if (usage && /^\d+$/.test(usage)) probe.memoryUsage = BigInt(usage);
      }
    }
    const blkioDir = this.#dirOf('blkio', rel);
    if (sections.includes('io') && blkioDir !== undefined) {
      probe.hasBlkioWeight = await pathExists(join(blkioDir, 'blkio.weight'));
      probe.hasBfqWeight = await pathExists(join(blkioDir, 'blkio.bfq.weight'));
    }
    return probe;
  }

  async destroy(path: string): Promise<void> {
    const rel = normalizeCgroupPath(path);
    const dirs = (await Promise.all(this.#allDirs(rel).map(listSubtree))).flat();
    if (dirs.length === 0) return;
    if ((await collectPids(dirs)).length > 0) {
      // Freeze so nothing forks between listing and killing; thaw so the SIGKILLs are delivered.
      const freezerDir = this.#dirOf('freezer', rel);
      const canFreeze = freezerDir !== undefined && (await pathExists(freezerDir));
      if (canFreeze) {
        await writeControl(join(freezerDir, 'freezer.state'), 'FROZEN');
        await this.#waitState(freezerDir, 'FROZEN', 500);
      }
      try {
        await killAll(dirs);
      } finally {
        if (canFreeze) await writeControl(join(freezerDir, 'freezer.state'), 'THAWED');
      }
      await waitUntilEmpty(dirs);
    }
    await removeDirs(dirs);
  }

  async #waitState(dir: string, want: string, timeoutMs: number, rewrite?: string): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (let i = 1; ; i++) {
      const state = (await readControl(join(dir, 'freezer.state'))).trim();
      if (state === want) return true;
      if (Date.now() > deadline) return false;
      // A freeze can stall on a task that was forking; writing FROZEN again retries it.
      if (rewrite !== undefined && i % 25 === 0) await writeControl(join(dir, 'freezer.state'), rewrite);
      await sleep(10);
    }
  }

  async #freezerDir(path: string): Promise<string> {
    const dir = this.#need('freezer', normalizeCgroupPath(path), 'freeze/thaw');
    if (!(await pathExists(dir))) throw new BerthError('NOT_FOUND', `cgroup ${JSON.stringify(path)} does not exist (no ${dir})`);
    return dir;
  }

  async freeze(path: string): Promise<void> {
    const dir = await this.#freezerDir(path);
    await writeControl(join(dir, 'freezer.state'), 'FROZEN');
    if (!(await this.#waitState(dir, 'FROZEN', this.#freezeTimeoutMs, 'FROZEN'))) {
      await writeControl(join(dir, 'freezer.state'), 'THAWED');
      throw new BerthError('UNAVAILABLE', `cgroup ${JSON.stringify(path)} did not freeze within ${this.#freezeTimeoutMs} ms`, { hint: 'a process may be in uninterruptible sleep; retry' });
    }
  }

  async thaw(path: string): Promise<void> {
    const dir = await this.#freezerDir(path);
    await writeControl(join(dir, 'freezer.state'), 'THAWED');
    if (!(await this.#waitState(dir, 'THAWED', this.#freezeTimeoutMs, 'THAWED'))) {
      throw new BerthError('UNAVAILABLE', `cgroup ${JSON.stringify(path)} did not thaw within ${this.#freezeTimeoutMs} ms`);
    }
  }

  async rescueFrozen(pid: number, path: string): Promise<string | undefined> {
    const mount = this.#mounts.get('freezer');
    if (!mount) return undefined;
    let rel: string | undefined;
    try {
      const line = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => (l.split(':')[1] ?? '').split(',').includes('freezer'));
      rel = line?.split(':').slice(2).join(':');
    } catch {
      return undefined; // gone
    }
    if (rel === undefined) return undefined;
    const where = join(mount, rel);
    const own = path ? this.#dirOf('freezer', normalizeCgroupPath(path)) : undefined;
    if (own !== undefined && where === own) return undefined; // the container's own: thaw() is for it
    const state = (await readControlIfExists(join(where, 'freezer.state')))?.trim();
    if (state === undefined || state === 'THAWED') return undefined;
    if (own === undefined || !(await pathExists(own))) {
      throw new BerthError('UNAVAILABLE', `process ${pid} of the container is frozen in the cgroup ${where}, which is not the container's, and cannot take SIGKILL`, {
        hint: `thaw it: echo THAWED > ${join(where, 'freezer.state')}`,
      });
    }
    // moving a task into a thawed v1 freezer cgroup thaws it (the kernel's freezer_attach)
    await writeControl(join(own, 'cgroup.procs'), String(pid));
    return where;
  }

  async isFrozen(path: string): Promise<boolean> {
    const dir = await this.#freezerDir(path);
    return (await readControl(join(dir, 'freezer.state'))).trim() === 'FROZEN';
  }

  async pids(path: string, recursive = false): Promise<number[]> {
    const dir = await this.#existingPidsDir(path);
    const dirs = recursive ? await listSubtree(dir) : [dir];
    return collectPids(dirs);
  }

  async stats(path: string): Promise<CgroupStats> {
    await this.#existingPidsDir(path);
    const rel = normalizeCgroupPath(path);
    return readV1Stats({
      cpu: this.#dirOf('cpu', rel),
      cpuacct: this.#dirOf('cpuacct', rel),
      memory: this.#dirOf('memory', rel),
      pids: this.#dirOf('pids', rel),
      blkio: this.#dirOf('blkio', rel),
    });
  }

  async oomKillCount(path: string): Promise<number> {
    const dir = this.#need('memory', normalizeCgroupPath(path), 'the OOM-kill counter');
    const text = await readControlIfExists(join(dir, 'memory.oom_control'));
    if (text === undefined) throw new BerthError('NOT_FOUND', `cgroup ${JSON.stringify(path)} does not exist (no ${dir}/memory.oom_control)`);
    const count = parseFlatKeyed(text).get('oom_kill');
    if (count === undefined) {
      throw new BerthError('FAILED_PRECONDITION', `${dir}/memory.oom_control has no oom_kill counter`, { hint: 'the counter needs Linux 4.13 or later' });
    }
    return count;
  }

  watchOom(path: string, options?: WatchOomOptions): AsyncIterable<number> {
    return watchCounter(() => this.oomKillCount(path), options);
  }
}

/**
 * mkdir every missing level of `rel` in one hierarchy; returns the directories it created.
 * In the cpuset hierarchy a new cgroup starts with empty cpuset.cpus/mems, which would make
 * joining it fail (ENOSPC): each level gets its parent's values when its own are empty.
 */
async function makeDirs(mount: string, rel: string, isCpuset: boolean): Promise<string[]> {
  const created: string[] = [];
  let parent = mount;
  try {
    for (const prefix of prefixesOf(rel)) {
      const dir = join(mount, prefix);
      if (makeCgroupDir(dir)) created.push(dir);
      if (isCpuset) {
        for (const file of ['cpuset.cpus', 'cpuset.mems']) {
          const own = await readControlIfExists(join(dir, file));
          if (own !== undefined && own.trim() === '') await writeControl(join(dir, file), (await readControl(join(parent, file))).trim());
        }
      }
      parent = dir;
    }
  } catch (err) {
    await removeDirs(created);
    throw err;
  }
  return created;
}
