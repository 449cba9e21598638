/** The runtime's view of the host's cgroups, through src/cgroups (detected once, lazily). */
import { basename, dirname, join } from 'node:path';
import { release as osRelease } from 'node:os';
import { accessSync, constants, rmdirSync, watch } from 'node:fs';
import { spawn } from 'node:child_process';
import { detectCgroupLayout, createCgroupDriver, normalizeCgroupPath, type CgroupDriver, type CgroupLayout, type Unenforced } from '../cgroups/index.ts';
import { bpfProgAttach, bpfProgDetach, bpfProgGetFdById, bpfProgLoadCgroupDevice, bpfProgQuery, initBinaryPath } from '../native/index.ts';
import type { Resources } from '../oci/index.ts';
import { BerthError } from '../common/index.ts';
import type { CgroupEntry, CgroupHierarchy } from './compile.ts';
import type { OomNotifier, RuntimeCgroups } from './context.ts';

const bpfSyscalls = { bpfProgLoadCgroupDevice, bpfProgAttach, bpfProgDetach, bpfProgQuery, bpfProgGetFdById };

const notEnforced = (unenforced: Unenforced[]) => unenforced.map((u) => `${u.field}: not enforced: ${u.reason}`);

/** A notifier fed by `start(fire)`; `stop` is called on close. */
function notifier(start: (fire: () => void) => () => void): OomNotifier {
  let pending = false;
  let wake: (() => void) | undefined;
  const stop = start(() => {
    pending = true;
    wake?.();
  });
  return {
    wait: () =>
      new Promise<void>((resolve) => {
        if (pending) {
          pending = false;
          return resolve();
        }
        wake = () => {
          pending = false;
          wake = undefined;
          resolve();
        };
      }),
    close: stop,
  };
}

/** cgroup v2: memory.events changes (inotify) when the OOM killer acts. */
function watchFile(file: string): OomNotifier {
  return notifier((fire) => {
    const watcher = watch(file, { persistent: false }, fire);
    watcher.on('error', () => {});
    return () => watcher.close();
  });
}

/** cgroup v1: an eventfd in cgroup.event_control, which berth-init waits on for us. */
function watchEventfd(dir: string): OomNotifier {
  return notifier((fire) => {
    const child = spawn(initBinaryPath(), ['oom-watch', dir], { stdio: ['pipe', 'pipe', 'ignore'] });
    child.on('error', () => {});
    child.stdout!.setEncoding('utf8').on('data', (text: string) => {
      if (text.includes('oom')) fire();
    });
    child.unref();
    (child.stdout as unknown as { unref?: () => void }).unref?.();
    (child.stdin as unknown as { unref?: () => void }).unref?.();
    return () => {
      child.stdin!.destroy();
      child.kill('SIGTERM');
    };
  });
}

/** A container without a cgroup of its own (rootless) has cgroupPath ''. Never let that reach
 * the driver: '' would be the root of every hierarchy. */
function needPath(path: string): string {
  if (!path) {
    throw new BerthError('FAILED_PRECONDITION', 'the container has no cgroup of its own (rootless, no delegated cgroup)', {
      hint: 'run it as root to pause, update, list or count its processes through cgroups',
    });
  }
  return path;
}

/** clone3's CLONE_INTO_CGROUP came with Linux 5.7. */
export function kernelHasCloneIntoCgroup(release = osRelease()): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release);
  return m !== null && (Number(m[1]) > 5 || (Number(m[1]) === 5 && Number(m[2]) >= 7));
}

/** How berth-init enters a container's cgroups (see CgroupEntry): v1 through `tasks`, v2 by
 * being cloned into it where the kernel can, else through cgroup.procs. */
export function cgroupEntry(layout: Pick<CgroupLayout, 'v2Dir'>, procsFiles: string[], cloneInto = kernelHasCloneIntoCgroup()): CgroupEntry {
  const entry: CgroupEntry = { joinFiles: [] };
  for (const file of procsFiles) {
    const dir = dirname(file);
    const isV2 = layout.v2Dir !== undefined && (dir === layout.v2Dir || dir.startsWith(`${layout.v2Dir}/`));
    if (!isV2) entry.joinFiles.push(join(dir, 'tasks'));
    else if (cloneInto && entry.cloneInto === undefined) entry.cloneInto = dir;
    else entry.joinFiles.push(file);
  }
  return entry;
}

export function hostCgroups(root = '/sys/fs/cgroup'): RuntimeCgroups {
  let detected: Promise<{ layout: CgroupLayout; driver: CgroupDriver }> | undefined;
  const get = () =>
    (detected ??= detectCgroupLayout(root).then((layout) => ({
      layout,
      // bpf(2) for the v2 device filter needs CAP_SYS_ADMIN: root only
      driver: createCgroupDriver(layout, process.getuid?.() === 0 ? { bpf: bpfSyscalls } : {}),
    })));

  function hierarchies(layout: CgroupLayout, path: string): CgroupHierarchy[] {
    const rel = normalizeCgroupPath(path);
    if (layout.kind === 'v2' && layout.v2Dir) return [{ name: '', data: '', hostDir: join(layout.v2Dir, rel), isV2: true }];
    const byDir = new Map<string, string[]>();
    for (const [controller, dir] of layout.v1Mounts) byDir.set(dir, [...(byDir.get(dir) ?? []), controller]);
    return [...byDir].map(([dir, controllers]) => {
      const named = controllers.find((c) => c.startsWith('name='));
      return { name: basename(dir), data: named ? `none,${named}` : controllers.join(','), hostDir: join(dir, rel), isV2: false };
    });
  }

  return {
    async canManage(path) {
      const { layout } = await get();
      const rel = normalizeCgroupPath(path).split('/').filter(Boolean);
      const roots = layout.kind === 'v2' && layout.v2Dir ? [layout.v2Dir] : [...new Set(layout.v1Mounts.values())];
      // the deepest existing ancestor of the cgroup must be writable in every hierarchy
      return roots.every((root) => {
        for (let depth = rel.length - 1; depth >= 0; depth--) {
          const dir = join(root, ...rel.slice(0, depth));
          try {
            accessSync(dir, constants.W_OK);
            return true;
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return false;
          }
        }
        return false;
      });
    },
    async preview(path) {
      needPath(path);
      const { layout, driver } = await get();
      return { entry: cgroupEntry(layout, driver.procsFilesOf(path)), hierarchies: hierarchies(layout, path) };
    },
    async inspect(path) {
      needPath(path);
      const { driver } = await get();
      // a freezer cgroup may exist alone (v1): frozen is asked whatever else exists
      const frozen = await driver.isFrozen(path).catch(() => false);
      if (!(await driver.exists(path))) return { exists: frozen, frozen, pids: [] };
      return { exists: true, frozen, pids: await driver.pids(path, true).catch(() => []) };
    },
    async create(path, resources: Resources | undefined) {
      needPath(path);
      const { driver } = await get();
      // one that holds processes already is somebody else's; an empty one (a leftover) is taken
      const owned = !(await driver.exists(path)) || (await driver.pids(path, true).catch(() => [0])).length === 0;
      // another container's delete may remove the shared /berth parent at the same moment
      let handle;
      for (let attempt = 0; ; attempt++) {
        try {
          handle = await driver.create(path, resources ?? {});
          break;
        } catch (err) {
          if (attempt >= 3 || !/no such file or directory/.test(String((err as Error).message))) throw err;
        }
      }
      // never silent: what the host cannot enforce is said to the caller
      return { warnings: notEnforced(handle.unenforced), owned };
    },
    async destroy(path) {
      needPath(path);
      const { layout, driver } = await get();
      await driver.destroy(path);
      // parents berth made (/berth) go too once empty; a busy or non-empty one stays
      const rel = normalizeCgroupPath(path).split('/').filter(Boolean);
      const roots = new Set([...layout.v1Mounts.values(), ...(layout.v2Dir ? [layout.v2Dir] : [])]);
      for (let depth = rel.length - 1; depth >= 1; depth--) {
        const parent = rel.slice(0, depth).join('/');
        if (!parent.includes('berth')) continue;
        for (const root of roots) {
          try {
            rmdirSync(join(root, parent));
          } catch {
            // busy (another container) or already gone
          }
        }
      }
    },
    async isFrozen(path) {
      if (!path) return false;
      return (await get()).driver.isFrozen(path);
    },
    async rescueFrozen(pid, path) {
      return (await get()).driver.rescueFrozen(pid, path);
    },
    async freeze(path) {
      needPath(path);
      await (await get()).driver.freeze(path);
    },
    async thaw(path) {
      needPath(path);
      await (await get()).driver.thaw(path);
    },
    async pids(path) {
      needPath(path);
      return (await get()).driver.pids(path, true);
    },
    async update(path, resources) {
      needPath(path);
      const { driver } = await get();
      return notEnforced((await driver.update(path, resources)).unenforced);
    },
    async stats(path) {
      needPath(path);
      return (await get()).driver.stats(path);
    },
    async oomKillCount(path) {
      needPath(path);
      return (await get()).driver.oomKillCount(path);
    },
    async oomCounterFile(path) {
      needPath(path);
      const { layout } = await get();
      const rel = normalizeCgroupPath(path);
      if (layout.kind === 'v2' && layout.v2Dir) return join(layout.v2Dir, rel, 'memory.events');
      const memoryDir = layout.v1Mounts.get('memory');
      return memoryDir ? join(memoryDir, rel, 'memory.oom_control') : undefined;
    },
    async viewSources(path) {
      needPath(path);
      const { layout } = await get();
      const rel = normalizeCgroupPath(path);
      // the container's directory, then each ancestor up to the hierarchy's root
      const chain = (mount: string | undefined): string[] => {
        if (!mount) return [];
        const dirs: string[] = [];
        for (let r = rel; ; r = dirname(r)) {
          dirs.push(join(mount, r));
          if (r === '/' || r === '.' || r === '') break;
        }
        return dirs;
      };
      if (layout.kind === 'v2' && layout.v2Dir) {
        const dir = join(layout.v2Dir, rel);
        const all = chain(layout.v2Dir);
        return { version: 2, memory: all, cpu: all, cpuset: all, cpuacct: dir, blkio: dir, tasks: join(dir, 'cgroup.threads') };
      }
      const m = layout.v1Mounts;
      const at = (controller: string) => (m.get(controller) ? join(m.get(controller)!, rel) : undefined);
      const tasksDir = at('cpuacct') ?? at('memory') ?? at('pids');
      return {
        version: 1,
        memory: chain(m.get('memory')),
        cpu: chain(m.get('cpu')),
        cpuset: chain(m.get('cpuset')),
        cpuacct: at('cpuacct'),
        blkio: at('blkio'),
        tasks: tasksDir && join(tasksDir, 'tasks'),
      };
    },
    async oomNotifier(path) {
      needPath(path);
      const { layout } = await get();
      const rel = normalizeCgroupPath(path);
      if (layout.kind === 'v2' && layout.v2Dir) return watchFile(join(layout.v2Dir, rel, 'memory.events'));
      const memoryDir = layout.v1Mounts.get('memory');
      if (!memoryDir) return notifier(() => () => {});
      return watchEventfd(join(memoryDir, rel));
    },
  };
}
