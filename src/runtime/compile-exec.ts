/**
 * compileExecPlan: a new process joins a running container. berth-init's parent enters the
 * container's cgroups and namespaces (user first) through /proc/<init>/ns/*, then clones a child
 * that becomes the program with the process's own user, capabilities, limits and the
 * container's seccomp filter.
 */
import { readlinkSync } from 'node:fs';
import type { PlanStep } from '../native/protocol.ts';
import type { NamespaceType, Process, RuntimeConfig } from '../oci/index.ts';
import { CLONE_FLAGS, cgroupEntrySteps, type CgroupEntry } from './compile.ts';
import type { SeccompCache } from './seccomp-cache.ts';
import { affinityStep, processSteps, seccompListenerPath, type SeccompListenerState, type UserSpec } from './compile-process.ts';

const PROC_NS_NAMES: Record<NamespaceType, string> = {
  user: 'user',
  cgroup: 'cgroup',
  ipc: 'ipc',
  uts: 'uts',
  network: 'net',
  pid: 'pid',
  mount: 'mnt',
  time: 'time',
};
/** The user namespace first: it gives the capabilities to join the others. The mount namespace
 * last but one: after it, host paths are gone. */
const EXEC_JOIN_ORDER: NamespaceType[] = ['user', 'cgroup', 'ipc', 'uts', 'network', 'pid', 'time', 'mount'];

export interface ExecCompileOptions {
  /** Host pid of the container's init. */
  pid: number;
  cgroupEntry: CgroupEntry;
  /** The container, for a seccomp listener (linux.seccomp.listenerPath). */
  seccompState?: SeccompListenerState | undefined;
  consoleSocket?: string | undefined;
  relayConsole?: boolean | undefined;
  preserveFds?: number | undefined;
  userSpec?: UserSpec | undefined;
  seccompCache?: SeccompCache | undefined;
}

function sameNamespace(a: string, b: string): boolean {
  try {
    return readlinkSync(a) === readlinkSync(b);
  } catch {
    return false;
  }
}

export function compileExecPlan(config: RuntimeConfig, process: Process, opts: ExecCompileOptions): { steps: PlanStep[]; warnings: string[] } {
  const types = new Set((config.linux?.namespaces ?? []).map((ns) => ns.type));
  const entry = cgroupEntrySteps(opts.cgroupEntry, types.has('cgroup'));
  const affinity = process.execCPUAffinity;
  const steps: PlanStep[] = [];
  if (affinity?.initial) {
    steps.push(affinityStep(affinity.initial, 'parent', 'execCPUAffinity.initial: before entering the container\'s cgroups', 'process.execCPUAffinity.initial'));
  }
  steps.push(...entry.steps);
  const hasConsole = process.terminal === true && (!!opts.consoleSocket || opts.relayConsole === true);
  // the console socket is a host path: connect before the mount namespace changes
  if (process.terminal && opts.consoleSocket) steps.push({ stage: 'parent', op: 'console-connect', socketPath: opts.consoleSocket });
  const listenerPath = seccompListenerPath(config);
  if (listenerPath) steps.push({ stage: 'parent', op: 'seccomp-listener', path: listenerPath });
  if (process.terminal && !opts.consoleSocket && opts.relayConsole) steps.push({ stage: 'parent', op: 'console-pair' });
  for (const type of EXEC_JOIN_ORDER) {
    if (!types.has(type)) continue;
    const path = `/proc/${opts.pid}/ns/${PROC_NS_NAMES[type]}`;
    // setns into the namespace one is already in fails for user namespaces (EINVAL)
    if (sameNamespace(path, `/proc/self/ns/${PROC_NS_NAMES[type]}`)) continue;
    steps.push({ stage: 'parent', op: 'setns', path, nsType: CLONE_FLAGS[type], namespace: type });
  }
  steps.push({ stage: 'parent', op: 'clone', flags: 0, namespaces: [], intoCgroup: entry.intoCgroup });
  // nothing of the host reaches the process: every fd it does not need is closed first (the
  // cgroup dir opened for clone3 among them)
  steps.push({ stage: 'child', op: 'close-fds', from: 3 + (opts.preserveFds ?? 0) });
  steps.push({ stage: 'child', op: 'setsid' });
  if (affinity?.final) {
    steps.push(affinityStep(affinity.final, 'child', 'execCPUAffinity.final: in the container\'s cgroups', 'process.execCPUAffinity.final'));
  }
  // in the container's pid namespace now: its processes must not ptrace this one (and take its
  // fds) before the execve
  steps.push({ stage: 'child', op: 'dumpable', value: false, reason: 'processes of the container cannot ptrace it before execve' });
  const plan = processSteps(config, process, {
    seccompCache: opts.seccompCache,
    hasConsole,
    preserveFds: opts.preserveFds,
    waitForStart: false,
    isRootless: globalThis.process.getuid?.() !== 0,
    seccompState: opts.seccompState,
    userSpec: opts.userSpec,
  });
  steps.push(...plan.steps);
  return { steps, warnings: plan.warnings };
}
