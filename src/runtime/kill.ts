import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { BerthError, signalProcess } from '../common/index.ts';
import { isSameLiveProcess } from './process-info.ts';
import type { StoredState } from './state-store.ts';
import type { RuntimeContext } from './context.ts';
import { containerStatus } from './status.ts';

const SIGNALS: Record<string, number> = {
  HUP: 1, INT: 2, QUIT: 3, ILL: 4, TRAP: 5, ABRT: 6, IOT: 6, BUS: 7, FPE: 8, KILL: 9, USR1: 10, SEGV: 11, USR2: 12,
  PIPE: 13, ALRM: 14, TERM: 15, STKFLT: 16, CHLD: 17, CONT: 18, STOP: 19, TSTP: 20, TTIN: 21, TTOU: 22, URG: 23,
  XCPU: 24, XFSZ: 25, VTALRM: 26, PROF: 27, WINCH: 28, IO: 29, POLL: 29, PWR: 30, SYS: 31,
};

/** "TERM", "SIGTERM", "15", "RTMIN+2" → signal number; 0 only checks that the process is there. */
export function parseSignal(text: string): number {
  const upper = text.toUpperCase().replace(/^SIG/, '');
  if (/^\d+$/.test(upper)) {
    const n = Number(upper);
    if (n >= 0 && n <= 64) return n;
  } else if (SIGNALS[upper] !== undefined) {
    return SIGNALS[upper];
  } else {
    const rt = /^RTM(IN|AX)([+-]\d+)?$/.exec(upper);
    if (rt) {
      const n = (rt[1] === 'IN' ? 34 : 64) + Number(rt[2] ?? 0);
      if (n >= 34 && n <= 64) return n;
    }
  }
  throw new BerthError('INVALID_ARGUMENT', `unknown signal ${JSON.stringify(text)}`, { hint: 'use a name like TERM or KILL, or a number' });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * SIGKILL and wait (up to timeoutMs) until the process is gone or a zombie. `unstick` runs once
 * if it is still there 100 ms after the signal: a process frozen by someone else takes the
 * signal only once thawed.
 */
export async function killAndWait(pid: number, startTime: string, timeoutMs = 10_000, unstick?: () => Promise<void>): Promise<void> {
  if (!isSameLiveProcess(pid, startTime)) return;
  try {
    signalProcess(pid, 'SIGKILL');
  } catch {
    return;
  }
  const deadline = Date.now() + timeoutMs;
  for (let polls = 1; isSameLiveProcess(pid, startTime); polls++) {
    if (Date.now() > deadline) throw new BerthError('UNAVAILABLE', `process ${pid} did not die after SIGKILL`);
    if (polls === 20 && unstick) await unstick();
    await sleep(5);
  }
}

/**
 * Moves back into the container's cgroup every process of the container that someone else
 * froze in a cgroup v1 freezer of their own (runc and crun leave such a container undeletable):
 * those of its own pid namespace, or, sharing one, the init and its descendants.
 */
export async function rescueFrozen(ctx: RuntimeContext, state: StoredState): Promise<void> {
  if (!isSameLiveProcess(state.pid, state.pidStartTime)) return;
  // a pid namespace joined by path may hold strangers: only the init's tree is the container's then
  const mine = memberOf(state, { ownPidNsOnly: true });
  const pids = readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number).filter(mine);
  for (const pid of pids) await ctx.cgroups.rescueFrozen(pid, state.cgroupOwned === false ? '' : state.cgroupPath);
}

function pidNamespace(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return undefined;
  }
}

/** The pid and its descendants, from the parent links in /proc/<pid>/stat. */
function descendantsOf(root: number): Set<number> {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
    } catch {
      // gone meanwhile
    }
  }
  const out = new Set<number>([root]);
  for (const pid of out) for (const child of children.get(pid) ?? []) out.add(child);
  return out;
}

/**
 * The processes of this container. In a cgroup the container made, all of its processes; in one
 * it found holding others (`cgroupOwned` false), only those in the container's pid namespace,
 * or, sharing the host's, the init and its descendants: never a stranger of the same cgroup.
 */
export async function containerPids(ctx: RuntimeContext, state: StoredState): Promise<number[]> {
  const alive = isSameLiveProcess(state.pid, state.pidStartTime);
  if (!state.cgroupPath) return alive ? [state.pid] : [];
  const pids = await ctx.cgroups.pids(state.cgroupPath).catch(() => [] as number[]);
  if (state.cgroupOwned !== false) return pids;
  if (!alive) return [];
  return pids.filter(memberOf(state, { ownPidNsOnly: false }));
}

/** Whether a process is the container's: in its pid namespace when it has one (`ownPidNsOnly`:
 * one it made, not one joined by path), else the init or one of its descendants. */
function memberOf(state: StoredState, opts: { ownPidNsOnly: boolean }): (pid: number) => boolean {
  const hasPidNs = (state.config.linux?.namespaces ?? []).some((ns) => ns.type === 'pid' && !(opts.ownPidNsOnly && ns.path));
  if (hasPidNs) {
    const ns = pidNamespace(state.pid);
    return (pid) => ns !== undefined && pidNamespace(pid) === ns;
  }
  const tree = descendantsOf(state.pid);
  return (pid) => tree.has(pid);
}

export async function killContainer(ctx: RuntimeContext, id: string, signal: string | number = 'TERM', opts: { all?: boolean } = {}): Promise<void> {
  const sig = typeof signal === 'number' ? signal : parseSignal(signal);
  const state = await ctx.store.read(id);
  const status = await containerStatus(ctx, state);
  // --all reaches whatever is left in the container's cgroup: none left is not an error (runc)
  if (opts.all && status === 'stopped') return;
  if (status === 'stopped' || status === 'creating') {
    throw new BerthError('FAILED_PRECONDITION', `container "${id}" is not running`);
  }
  // without a cgroup (rootless) --all reaches the init only; its pid namespace ends with it
  const pids = opts.all ? await containerPids(ctx, state) : [state.pid];
  for (const pid of pids) {
    try {
      signalProcess(pid, sig);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }
  if (opts.all && status === 'paused' && (sig === 9 || sig === 15)) {
    // frozen processes take the signal only when thawed
    await ctx.cgroups.thaw(state.cgroupPath);
  }
}
