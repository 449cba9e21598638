/**
 * The steps that turn a process of the container into the program it runs: limits, terminal,
 * seccomp, capabilities, user, cwd, and the execve. Shared by a container's init (create) and
 * a process joining it (exec).
 */
import { compileSeccomp, type SeccompCache } from './seccomp-cache.ts';
import { BerthError } from '../common/index.ts';
import { checkLabels, hostSecurity, type HostSecurity } from './host-security.ts';
import type { PlanStep, SeccompArgCondition } from '../native/protocol.ts';
import { SECCOMP_FILTER_FLAG_NEW_LISTENER, SECCOMP_FLAG_BITS } from '../native/protocol.ts';
import { readFileSync } from 'node:fs';
import { LAST_CAPABILITY, capabilityMask, capabilityNumber, parseCpuList, rlimitNumber, type Process, type RuntimeConfig } from '../oci/index.ts';

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

const SECCOMP_ACTION_VALUES: Record<string, number> = {
  SCMP_ACT_KILL: 0,
  SCMP_ACT_KILL_THREAD: 0,
  SCMP_ACT_KILL_PROCESS: 0x8000_0000,
  SCMP_ACT_TRAP: 0x0003_0000,
  SCMP_ACT_ERRNO: 0x0005_0000,
  SCMP_ACT_TRACE: 0x7ff0_0000,
  SCMP_ACT_LOG: 0x7ffc_0000,
  SCMP_ACT_ALLOW: 0x7fff_0000,
  SCMP_ACT_NOTIFY: 0x7fc0_0000,
};

const SECCOMP_OP_VALUES: Record<string, number> = {
  SCMP_CMP_NE: 1,
  SCMP_CMP_LT: 2,
  SCMP_CMP_LE: 3,
  SCMP_CMP_EQ: 4,
  SCMP_CMP_GE: 5,
  SCMP_CMP_GT: 6,
  SCMP_CMP_MASKED_EQ: 7,
};

const EPERM = 1;

function seccompAction(name: string, errnoRet: number | undefined, field: string): number {
  const base = SECCOMP_ACTION_VALUES[name];
  if (base === undefined) throw new BerthError('INVALID_ARGUMENT', `${field}: unknown seccomp action "${name}"`);
  if (name === 'SCMP_ACT_ERRNO') return (base | ((errnoRet ?? EPERM) & 0xffff)) >>> 0;
  if (name === 'SCMP_ACT_TRACE') return (base | ((errnoRet ?? EPERM) & 0xffff)) >>> 0;
  return base >>> 0;
}

function toBig(value: number | bigint | undefined): bigint {
  return BigInt(value ?? 0);
}

/** The state a seccomp listener gets (OCI "container process state"), without the pid. */
export interface SeccompListenerState {
  id: string;
  status: 'creating' | 'running';
  bundle: string;
  annotations?: Record<string, string> | undefined;
}

/** linux.seccomp.listenerPath: callers connect to it while host paths are reachable. The filter's
 * notify fd goes there even when no rule is SCMP_ACT_NOTIFY (as crun does: an agent may count on
 * the container's state, and the fd costs nothing). */
export function seccompListenerPath(config: RuntimeConfig): string | undefined {
  return config.linux?.seccomp?.listenerPath || undefined;
}

const hasNotifyRule = (seccomp: NonNullable<NonNullable<RuntimeConfig['linux']>['seccomp']>) =>
  (seccomp.syscalls ?? []).some((rule) => rule.action === 'SCMP_ACT_NOTIFY');

/** The container process state JSON, cut where berth-init writes the pid (it knows it only then). */
function listenerStateParts(metadata: string, state: SeccompListenerState): [string, string, string] {
  for (let sentinel = -1_000_000_001; ; sentinel--) {
    const doc = {
      // the version of the container process state document: "0.2.0" in the runtime-spec's own
      // example, which crun sends and agents written for it check (the state inside is 1.2.0)
      ociVersion: '0.2.0',
      fds: ['seccompFd'],
      pid: sentinel,
      metadata,
      state: { ociVersion: '1.2.0', id: state.id, status: state.status, pid: sentinel, bundle: state.bundle, ...(state.annotations && Object.keys(state.annotations).length ? { annotations: state.annotations } : {}) },
    };
    const parts = JSON.stringify(doc).split(String(sentinel));
    if (parts.length === 3) return parts as [string, string, string];
  }
}

/** linux.seccomp.flags as the kernel's SECCOMP_FILTER_FLAG_* bits (berth's are the kernel's). */
function seccompFlags(seccomp: NonNullable<NonNullable<RuntimeConfig['linux']>['seccomp']>): { flags: number; flagNames: string[] } {
  let flags = 0;
  const flagNames: string[] = [];
  for (const name of seccomp.flags ?? []) {
    const bit = SECCOMP_FLAG_BITS[name as keyof typeof SECCOMP_FLAG_BITS];
    if (bit === undefined) throw new BerthError('NOT_IMPLEMENTED', `linux.seccomp.flags: "${name}" is not supported by berth-runtime`);
    flags |= bit;
    flagNames.push(name);
  }
  return { flags, flagNames };
}

function seccompSteps(config: RuntimeConfig, listenerState: SeccompListenerState | undefined, cache?: SeccompCache, asRules = false): PlanStep[] {
  const seccomp = config.linux?.seccomp;
  if (!seccomp) return [];
  // the filter is loaded as BPF, compiled once and kept; with a listenerPath it is loaded with
  // SECCOMP_FILTER_FLAG_NEW_LISTENER (whether or not a rule is SCMP_ACT_NOTIFY: the kernel makes
  // the listener, not libseccomp). Notify rules without a listener go through libseccomp.
  const listenerPath = seccompListenerPath(config);
  // runc's -ENOSYS stub, put before libseccomp's BPF (so only on that path): a syscall newer than
  // every one the profile names fails with ENOSYS (libcs then fall back to an older call), unless
  // the default lets calls through anyway
  const enosysStub = !['SCMP_ACT_ALLOW', 'SCMP_ACT_LOG', 'SCMP_ACT_TRACE'].includes(seccomp.defaultAction);
  if (!asRules && (!hasNotifyRule(seccomp) || listenerPath)) {
    const { flags, flagNames } = seccompFlags(seccomp);
    const ruleCount = (seccomp.syscalls ?? []).reduce((n, r) => n + r.names.length, 0);
    const ruleSteps = () =>
      seccompSteps({ ...config, linux: { ...config.linux, seccomp: { ...seccomp, listenerPath: undefined } } }, undefined, undefined, true).filter((s) => s.op !== 'seccomp-load');
    const { program, cached } = cache ? cache.program(seccomp, ruleSteps) : compileSeccomp(ruleSteps());
    if (!listenerPath) return [{ stage: 'child', op: 'seccomp-bpf', flags /* berth's bits are the kernel's SECCOMP_FILTER_FLAG_* */, flagNames, program, ruleCount, cached, enosysStub }];
    if (!listenerState) throw new BerthError('INTERNAL', 'seccomp notify: no container state for the listener');
    return [
      { stage: 'child', op: 'seccomp-bpf', flags: flags | SECCOMP_FILTER_FLAG_NEW_LISTENER, flagNames: [...flagNames, 'SECCOMP_FILTER_FLAG_NEW_LISTENER'], program, ruleCount, cached, enosysStub },
      { stage: 'child', op: 'seccomp-notify-send', path: listenerPath, parts: listenerStateParts(seccomp.listenerMetadata ?? '', listenerState) },
    ];
  }
  const { flags, flagNames } = seccompFlags(seccomp);
  const rules: PlanStep[] = [];
  (seccomp.syscalls ?? []).forEach((rule, i) => {
    const field = `linux.seccomp.syscalls[${i}]`;
    const action = seccompAction(rule.action, rule.errnoRet, `${field}.action`);
    if (rule.action === 'SCMP_ACT_NOTIFY' && rule.names.includes('write')) {
      // the runtime writes to the listener and its sync socket itself (runc refuses it too)
      throw new BerthError('INVALID_ARGUMENT', `${field}: SCMP_ACT_NOTIFY cannot be used for the write syscall`, { hint: 'use another action for write' });
    }
    const args: SeccompArgCondition[] = (rule.args ?? []).map((a) => ({
      index: a.index,
      op: SECCOMP_OP_VALUES[a.op] ?? 0,
      opName: a.op,
      value: toBig(a.value),
      valueTwo: toBig(a.valueTwo),
    }));
    // libseccomp takes one condition per argument in a rule: several on one argument become a
    // rule each (any of them matches), as runc does
    const perIndex = new Map<number, number>();
    for (const a of args) perIndex.set(a.index, (perIndex.get(a.index) ?? 0) + 1);
    const groups = [...perIndex.values()].some((n) => n > 1) ? args.map((a) => [a]) : [args];
    for (const name of rule.names) {
      for (const group of groups) rules.push({ stage: 'child', op: 'seccomp-rule', action, actionName: rule.action, syscall: name, args: group });
    }
  });
  const steps: PlanStep[] = [
    {
      stage: 'child',
      op: 'seccomp-init',
      defaultAction: seccompAction(seccomp.defaultAction, seccomp.defaultErrnoRet, 'linux.seccomp.defaultAction'),
      actionName: seccomp.defaultAction,
      flags,
      flagNames,
      ruleCount: rules.length,
      // only compiled to BPF has it (libseccomp's own load cannot take a prefix)
      enosysStub: asRules && enosysStub,
    },
  ];
  for (const arch of seccomp.architectures ?? []) {
    steps.push({ stage: 'child', op: 'seccomp-arch', arch: arch.replace(/^SCMP_ARCH_/, '').toLowerCase() });
  }
  steps.push(...rules, { stage: 'child', op: 'seccomp-load' });
  if (listenerPath) {
    if (!listenerState) throw new BerthError('INTERNAL', 'seccomp notify: no container state for the listener');
    steps.push({ stage: 'child', op: 'seccomp-notify-send', path: listenerPath, parts: listenerStateParts(seccomp.listenerMetadata ?? '', listenerState) });
  }
  return steps;
}

export interface UserSpec {
  user: string;
  groups: string[];
}

/** Annotation of a config whose user is named (docker's --user, --group-add): JSON UserSpec. */
export const USER_ANNOTATION = 'io.berth.user';

/** The named user of a config (USER_ANNOTATION), checked. */
export function userSpecOf(annotations: Record<string, string> | undefined): UserSpec | undefined {
  const raw = annotations?.[USER_ANNOTATION];
  if (raw === undefined) return undefined;
  let doc: unknown;
  try {
    doc = JSON.parse(raw);
  } catch {
    throw new BerthError('INVALID_ARGUMENT', `annotations["${USER_ANNOTATION}"]: not JSON`);
  }
  const d = doc as Partial<UserSpec>;
  if (typeof d?.user !== 'string' || !Array.isArray(d.groups ?? []) || !(d.groups ?? []).every((g) => typeof g === 'string')) {
    throw new BerthError('INVALID_ARGUMENT', `annotations["${USER_ANNOTATION}"]: expected {"user": string, "groups": [string]}`);
  }
  return checkUserSpec({ user: d.user, groups: d.groups ?? [] });
}

/** A user spec's parts are names or numbers of at most 255 bytes, without NUL, ':' only once. */
export function checkUserSpec(spec: UserSpec): UserSpec {
  const ok = (s: string) => s.length > 0 && Buffer.byteLength(s) <= 255 && !/[\0\n:,]/.test(s);
  const [name, group, ...rest] = spec.user.split(':');
  if (!ok(name ?? '') || (group !== undefined && !ok(group)) || rest.length) {
    throw new BerthError('INVALID_ARGUMENT', `invalid user "${spec.user}": expected NAME|UID[:GROUP|GID]`);
  }
  for (const id of [name!, group].filter((x): x is string => x !== undefined)) {
    if (/^\d+$/.test(id) && Number(id) > 0x7fffffff) throw new BerthError('INVALID_ARGUMENT', `invalid user "${spec.user}": id ${id} is above 2147483647`);
  }
  for (const g of spec.groups) {
    if (!ok(g)) throw new BerthError('INVALID_ARGUMENT', `invalid group "${g}"`);
    if (/^\d+$/.test(g) && Number(g) > 0x7fffffff) throw new BerthError('INVALID_ARGUMENT', `invalid group "${g}": above 2147483647`);
  }
  return spec;
}

export interface ProcessStepOptions {
  /** A pty is made for the process (console socket or relay). */
  hasConsole: boolean;
  preserveFds?: number | undefined;
  /** The init waits on the start socket for `start` (create); exec runs at once. */
  waitForStart: boolean;
  /** startContainer hooks, run after `start` and before the program (under the filter). */
  startHooks?: PlanStep[];
  /** The caller is not root: setgroups is denied in its user namespace. */
  isRootless?: boolean | undefined;
  /** What a seccomp listener (linux.seccomp.listenerPath) is told about the container. */
  seccompState?: SeccompListenerState | undefined;
  /** The host's security modules (default: this host's). */
  security?: HostSecurity | undefined;
  /** Where compiled seccomp filters are kept (none: libseccomp builds the filter in the child). */
  seccompCache?: SeccompCache | undefined;
  /** The parent writes process.oomScoreAdj (a container's init). */
  oomFromParent?: boolean | undefined;
  /** A user as docker names one ("name[:group]", "uid[:gid]") and groups to add, looked up in
   * the container's /etc/passwd and /etc/group by the init; it replaces process.user's ids. */
  userSpec?: UserSpec | undefined;
  /** The highest capability this kernel knows (default: /proc/sys/kernel/cap_last_cap). */
  lastCapability?: number | undefined;
}

export interface ProcessPlan {
  steps: PlanStep[];
  warnings: string[];
}

const IOPRIO_CLASSES: Record<string, number> = { IOPRIO_CLASS_RT: 1, IOPRIO_CLASS_BE: 2, IOPRIO_CLASS_IDLE: 3 };
const SCHED_POLICIES: Record<string, number> = {
  SCHED_OTHER: 0,
  SCHED_FIFO: 1,
  SCHED_RR: 2,
  SCHED_BATCH: 3,
  SCHED_ISO: 4,
  SCHED_IDLE: 5,
  SCHED_DEADLINE: 6,
};
const SCHED_FLAGS: Record<string, number> = {
  SCHED_FLAG_RESET_ON_FORK: 0x01,
  SCHED_FLAG_RECLAIM: 0x02,
  SCHED_FLAG_DL_OVERRUN: 0x04,
  SCHED_FLAG_KEEP_POLICY: 0x08,
  SCHED_FLAG_KEEP_PARAMS: 0x10,
  SCHED_FLAG_UTIL_CLAMP_MIN: 0x20,
  SCHED_FLAG_UTIL_CLAMP_MAX: 0x40,
};

/** process.ioPriority and process.scheduler: applied while the process still has its
 * capabilities (a real-time class or policy needs them). */
function priorityAndSchedulerSteps(process: Process): PlanStep[] {
  const steps: PlanStep[] = [];
  if (process.ioPriority) {
    const cls = IOPRIO_CLASSES[process.ioPriority.class];
    if (cls === undefined) throw new BerthError('INVALID_ARGUMENT', `process.ioPriority.class: unknown class "${process.ioPriority.class}"`);
    const priority = process.ioPriority.priority ?? 0;
    steps.push({ stage: 'child', op: 'ioprio', value: (cls << 13) | priority, className: process.ioPriority.class, priority });
  }
  const sched = process.scheduler;
  if (sched) {
    const policy = SCHED_POLICIES[sched.policy];
    if (policy === undefined) throw new BerthError('INVALID_ARGUMENT', `process.scheduler.policy: unknown policy "${sched.policy}"`);
    const flagNames = sched.flags ?? [];
    const flags = flagNames.reduce((f, name) => f | (SCHED_FLAGS[name] ?? 0), 0);
    steps.push({
      stage: 'child',
      op: 'sched',
      policy,
      policyName: sched.policy,
      flags,
      flagNames,
      nice: sched.nice ?? 0,
      priority: sched.priority ?? 0,
      runtime: toBig(sched.runtime),
      deadline: toBig(sched.deadline),
      period: toBig(sched.period),
    });
  }
  return steps;
}

/** execCPUAffinity (exec only: the spec does not apply it to a container's init). */
export function affinityStep(list: string, stage: 'parent' | 'child', when: string, field: string): PlanStep {
  const cpus = parseCpuList(list);
  if (!cpus) throw new BerthError('INVALID_ARGUMENT', `${field}: expected a CPU list like "0-3,7", got ${JSON.stringify(list)}`);
  return { stage, op: 'affinity', cpus, list, when };
}

let hostLastCap: number | undefined;

/** The kernel's last capability number: names past it are unavailable here. */
function kernelLastCapability(): number {
  if (hostLastCap !== undefined) return hostLastCap;
  try {
    hostLastCap = Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8').trim());
  } catch {
    hostLastCap = LAST_CAPABILITY;
  }
  return hostLastCap;
}

/** The capability sets without the names this kernel (or berth) does not know: skipped with a
 * warning, as runc and crun do, so configs written for newer kernels still run. */
function usableCapabilities(caps: NonNullable<Process['capabilities']>, lastCap: number, warnings: string[]): Required<NonNullable<Process['capabilities']>> {
  const unknown = new Set<string>();
  const keep = (names: string[] | undefined) =>
    (names ?? []).filter((name) => {
      const n = capabilityNumber(name);
      if (n !== undefined && n <= lastCap) return true;
      unknown.add(name);
      return false;
    });
  const out = { bounding: keep(caps.bounding), effective: keep(caps.effective), permitted: keep(caps.permitted), inheritable: keep(caps.inheritable), ambient: keep(caps.ambient) };
  if (unknown.size) warnings.push(`ignoring unknown or unavailable capabilities: ${[...unknown].join(', ')}`);
  return out;
}

const CAP_SYS_ADMIN = 'CAP_SYS_ADMIN';

/** Annotation (crun's): keep the caller's supplementary groups. */
export const KEEP_GROUPS = 'run.oci.keep_original_groups';

export function processSteps(config: RuntimeConfig, process: Process, opts: ProcessStepOptions): ProcessPlan {
  const steps: PlanStep[] = [];
  const warnings: string[] = [];
  const child = (step: PlanStep) => steps.push(step);
  const linux = config.linux ?? {};
  if (!process.args?.length) throw new BerthError('INVALID_ARGUMENT', 'process.args: a program to run is required');
  // a container's init gets it from the parent (OP_OOM_SCORE_ADJ there), an exec'd process here
  if (process.oomScoreAdj !== undefined && !opts.oomFromParent) child({ stage: 'child', op: 'oom-score-adj', value: process.oomScoreAdj });
  for (const rl of process.rlimits ?? []) {
    const resource = rlimitNumber(rl.type);
    if (resource === undefined) throw new BerthError('INVALID_ARGUMENT', `process.rlimits: unknown rlimit type "${rl.type}"`);
    child({ stage: 'child', op: 'rlimit', type: rl.type, resource, soft: toBig(rl.soft), hard: toBig(rl.hard) });
  }
  steps.push(...priorityAndSchedulerSteps(process));
  // in the container's root now: its /etc/passwd and /etc/group are the container's
  if (opts.userSpec) {
    if (opts.isRootless && opts.userSpec.groups.length) throw new BerthError('INVALID_ARGUMENT', 'a rootless container cannot set additional groups');
    child({ stage: 'child', op: 'user', spec: opts.userSpec.user, groups: opts.userSpec.groups });
  }
  if (opts.hasConsole) {
    child({ stage: 'child', op: 'console', rows: process.consoleSize?.height ?? 0, cols: process.consoleSize?.width ?? 0, uid: process.user.uid });
  }

  const seccomp = seccompSteps(config, opts.seccompState, opts.seccompCache);
  const nnp = process.noNewPrivileges === true;
  const caps = process.capabilities ? usableCapabilities(process.capabilities, opts.lastCapability ?? kernelLastCapability(), warnings) : undefined;
  // The filter is loaded as the last step before execve (and the startContainer hooks), so
  // that no syscall of berth-init's own runs under it. Without no_new_privs, loading needs
  // CAP_SYS_ADMIN: it is kept in the effective set until the filter is loaded and dropped
  // right after. Only a process with no capability sets at all (nothing to drop to) that is
  // not root loads it before the switch to its user, while it still has the capability.
  const early = seccomp.length > 0 && !nnp && !caps && process.user.uid !== 0;
  if (early) steps.push(...seccomp);

  if (caps) child({ stage: 'child', op: 'caps-bounding', mask: capabilityMask(caps.bounding), names: caps.bounding });
  // as root, before the switch to the user: a cwd only root may enter still works; one only
  // the user may enter is tried again after the switch
  child({ stage: 'child', op: 'chdir', path: process.cwd, deferrable: true });
  const user = process.user;
  // rootless: setgroups(2) is denied in the user namespace; only "no extra groups" works
  if (opts.isRootless && user.additionalGids?.length) {
    throw new BerthError('INVALID_ARGUMENT', 'process.user.additionalGids: a rootless container cannot set additional groups');
  }
  // crun's run.oci.keep_original_groups (podman's --group-add keep-groups): the process keeps
  // the supplementary groups of whoever ran the runtime (no setgroups at all)
  const keepGroups = (config.annotations?.[KEEP_GROUPS] ?? '0') !== '0';
  if (keepGroups && user.additionalGids?.length) {
    throw new BerthError('INVALID_ARGUMENT', `process.user.additionalGids cannot be combined with the annotation ${KEEP_GROUPS} (the caller's groups are kept as they are)`);
  }
  if (!opts.isRootless && !keepGroups) child({ stage: 'child', op: 'setgroups', gids: user.additionalGids ?? [] });
  child({ stage: 'child', op: 'setgid', gid: user.gid });
  child({ stage: 'child', op: 'setuid', uid: user.uid });
  child({ stage: 'child', op: 'chdir-deferred' });
  let finalCaps: PlanStep | undefined;
  if (caps) {
    // the kernel raises an ambient capability only when it is permitted and inheritable;
    // runc ignores the others with a warning, so such configs (runc spec's own) must work here
    const names = { ...caps, ambient: caps.ambient.filter((c) => caps.permitted.includes(c) && caps.inheritable.includes(c)) };
    finalCaps = {
      stage: 'child',
      op: 'caps-set',
      effective: capabilityMask(names.effective),
      permitted: capabilityMask(names.permitted),
      inheritable: capabilityMask(names.inheritable),
      ambient: capabilityMask(names.ambient),
      names,
    };
    const needsAdmin = seccomp.length > 0 && !nnp && !early && !names.effective.includes(CAP_SYS_ADMIN);
    if (needsAdmin) {
      const plus = (list: string[]) => [...list, CAP_SYS_ADMIN];
      const interim = { ...names, effective: plus(names.effective), permitted: plus(names.permitted), ambient: [] };
      child({
        stage: 'child',
        op: 'caps-set',
        effective: capabilityMask(interim.effective),
        permitted: capabilityMask(interim.permitted),
        inheritable: capabilityMask(interim.inheritable),
        ambient: 0n,
        names: interim,
        why: 'CAP_SYS_ADMIN kept until the seccomp filter is loaded (no no_new_privs)',
      });
    } else {
      child(finalCaps);
      finalCaps = undefined;
    }
  }
  if (user.umask !== undefined) child({ stage: 'child', op: 'umask', mask: user.umask });
  if (linux.personality) {
    child({ stage: 'child', op: 'personality', persona: linux.personality.domain === 'LINUX32' ? 0x0008 : 0x0000, domain: linux.personality.domain });
  }
  const security = opts.security ?? hostSecurity();
  checkLabels({ selinuxLabel: process.selinuxLabel, apparmorProfile: process.apparmorProfile }, security, 'process');
  if (process.apparmorProfile && security.appArmorExecAttr) {
    // the profile takes effect at the execve, as runc applies it
    child({ stage: 'child', op: 'write-file', path: security.appArmorExecAttr, content: `exec ${process.apparmorProfile}` });
  }
  if (nnp) child({ stage: 'child', op: 'no-new-privs' });

  const env = process.env ?? [];
  // HOME from the user's entry in the container's /etc/passwd when the config sets none
  if (!env.some((e) => e.startsWith('HOME='))) child({ stage: 'child', op: 'home-env', uid: user.uid });
  const pathVar = env.find((e) => e.startsWith('PATH='))?.slice(5) ?? DEFAULT_PATH;
  child({ stage: 'child', op: 'resolve-exec', program: process.args[0]!, searchPath: pathVar });
  child({ stage: 'child', op: 'cloexec-fds', from: 3 + (opts.preserveFds ?? 0) });
  child({ stage: 'child', op: 'ready' });
  if (opts.waitForStart) child({ stage: 'child', op: 'exec-wait' });
  child({ stage: 'child', op: 'reset-signals' });
  if (!early) steps.push(...seccomp);
  if (finalCaps) steps.push(finalCaps);
  steps.push(...(opts.startHooks ?? []));
  child({ stage: 'child', op: 'exec', args: process.args, env });
  return { steps, warnings };
}
