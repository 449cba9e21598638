/**
 * Emptying and removing a cgroup: SIGKILL what is left, wait until the kernel has moved every
 * process out, then rmdir the directories deepest first, retrying while the kernel still
 * reports them busy.
 */
import { rmdirSync } from 'node:fs';
import { BerthError, isErrno, signalProcess } from '../common/index.ts';
import { errnoText, readProcs, sleep } from './fs.ts';

/** Every pid listed in the cgroup.procs files of `dirs`. */
export async function collectPids(dirs: readonly string[]): Promise<number[]> {
  const pids = new Set<number>();
  for (const dir of dirs) for (const pid of await readProcs(dir)) pids.add(pid);
  return [...pids];
}

/** Refuses when the calling process (or pid 1 of its namespace) is among `pids`: the cgroup is a
 * wrong path, not a container's (the same check guards cgroup.kill). */
export function refuseForeign(dirs: readonly string[], pids: readonly number[]): void {
  for (const pid of pids) {
    if (pid === process.pid || pid === 1) {
      throw new BerthError('FAILED_PRECONDITION', `refusing to kill pid ${pid}: it is in cgroup ${dirs[0] ?? ''}, which must hold only the container`, {
        hint: 'check the container cgroup path',
      });
    }
  }
}

/**
 * SIGKILL every process of the cgroups. Refuses when the calling process (or pid 1 of its
 * namespace) is among them: that is a wrong path, not a container.
 */
export async function killAll(dirs: readonly string[]): Promise<number[]> {
  const pids = await collectPids(dirs);
  refuseForeign(dirs, pids);
  for (const pid of pids) {
    try {
      signalProcess(pid, 'SIGKILL');
    } catch (err) {
      if (!isErrno(err, 'ESRCH')) throw new BerthError('INTERNAL', `cannot kill pid ${pid}: ${errnoText(err)}`, { cause: err });
    }
  }
  return pids;
}

/** Wait until no process is left (killing late arrivals too); UNAVAILABLE after `timeoutMs`. */
export async function waitUntilEmpty(dirs: readonly string[], timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let delay = 5;
  for (;;) {
    const left = await collectPids(dirs);
    if (left.length === 0) return;
    if (Date.now() > deadline) {
      throw new BerthError('UNAVAILABLE', `processes ${left.join(', ')} are still in cgroup ${dirs[0] ?? ''} after SIGKILL`, {
        hint: 'they may be stuck in uninterruptible sleep (state D); retry the removal later',
      });
    }
    await killAll(dirs);
    await sleep(delay);
    delay = Math.min(delay * 2, 100);
  }
}

/**
 * rmdir every directory, deepest first. ENOENT is fine (already gone); EBUSY is retried with
 * a short backoff for up to `timeoutMs`, since the kernel releases a cgroup a moment after its
 * last process exits.
 */
export async function removeDirs(dirs: readonly string[], timeoutMs = 2000): Promise<void> {
  const depth = (dir: string) => dir.split('/').length;
  const ordered = [...dirs].sort((a, b) => depth(b) - depth(a));
  const deadline = Date.now() + timeoutMs;
  for (const dir of ordered) {
    let delay = 5;
    for (;;) {
      try {
        rmdirSync(dir);
        break;
      } catch (err) {
        if (isErrno(err, 'ENOENT')) break;
        if (isErrno(err, 'EBUSY') && Date.now() < deadline) {
          await sleep(delay);
          delay = Math.min(delay * 2, 200);
          continue;
        }
        throw new BerthError(isErrno(err, 'EBUSY') ? 'UNAVAILABLE' : 'INTERNAL', `cannot remove cgroup ${dir}: ${errnoText(err)}`, {
          cause: err,
          ...(isErrno(err, 'EBUSY') ? { hint: 'a process or a child cgroup is still inside; retry the removal' } : {}),
        });
      }
    }
  }
}
