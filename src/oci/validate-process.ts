import { capabilityHint, isKnownCapability } from './capabilities.ts';
import {
  absolutePath,
  arrayOf,
  boolean,
  compareInt64,
  fail,
  int32,
  integer,
  item,
  object,
  oneOf,
  optional,
  required,
  string,
  stringArray,
  uint32,
  uint64,
  userId,
  type Check,
  type Json,
} from './field-checks.ts';
import { parseCpuList } from './cpu-list.ts';
import { rlimitNames } from './rlimits.ts';
import type { CapabilitySet, IoPriorityClass, Process, Rlimit, SchedulerFlag, SchedulerPolicy } from './types.ts';

const CAPABILITY_SETS: readonly CapabilitySet[] = ['bounding', 'effective', 'inheritable', 'permitted', 'ambient'];

const IO_PRIORITY_CLASSES: readonly IoPriorityClass[] = ['IOPRIO_CLASS_RT', 'IOPRIO_CLASS_BE', 'IOPRIO_CLASS_IDLE'];

const SCHEDULER_POLICIES: readonly SchedulerPolicy[] = [
  'SCHED_OTHER',
  'SCHED_FIFO',
  'SCHED_RR',
  'SCHED_BATCH',
  'SCHED_ISO',
  'SCHED_IDLE',
  'SCHED_DEADLINE',
];

const SCHEDULER_FLAGS: readonly SchedulerFlag[] = [
  'SCHED_FLAG_RESET_ON_FORK',
  'SCHED_FLAG_RECLAIM',
  'SCHED_FLAG_DL_OVERRUN',
  'SCHED_FLAG_KEEP_POLICY',
  'SCHED_FLAG_KEEP_PARAMS',
  'SCHED_FLAG_UTIL_CLAMP_MIN',
  'SCHED_FLAG_UTIL_CLAMP_MAX',
];

/** Check `process`. A missing `user` (or uid/gid) becomes 0, as runc reads it. */
export function checkProcess(value: unknown, path: string): Process {
  const proc = object(value, path);
  optional(proc, 'terminal', path, boolean);
  optional(proc, 'consoleSize', path, consoleSize);
  proc['user'] = user(proc['user'] ?? {}, `${path}.user`);

  const args = required(proc, 'args', path, stringArray, 'give the program to run, e.g. "args": ["sh"]');
  if (args.length === 0) fail(`${path}.args`, 'must name the program to run (it is empty)', 'e.g. "args": ["sh"]');
  optional(proc, 'commandLine', path, string);
  optional(proc, 'env', path, arrayOf(envEntry));
  required(proc, 'cwd', path, absolutePath('working directory'), 'use "/" for the root of the container');
  optional(proc, 'capabilities', path, capabilities);
  optional(proc, 'rlimits', path, rlimits);
  optional(proc, 'noNewPrivileges', path, boolean);
  optional(proc, 'apparmorProfile', path, string);
  optional(proc, 'oomScoreAdj', path, integer(-1000, 1000, 'an integer'));
  optional(proc, 'selinuxLabel', path, string);
  optional(proc, 'ioPriority', path, ioPriority);
  optional(proc, 'scheduler', path, scheduler);
  optional(proc, 'execCPUAffinity', path, execCpuAffinity);
  return proc as unknown as Process;
}

function consoleSize(value: unknown, path: string): Json {
  const box = object(value, path);
  required(box, 'height', path, uint32);
  required(box, 'width', path, uint32);
  return box;
}

function user(value: unknown, path: string): Json {
  const u = object(value, path);
  u['uid'] = optional(u, 'uid', path, userId) ?? 0;
  u['gid'] = optional(u, 'gid', path, userId) ?? 0;
  optional(u, 'umask', path, integer(0, 0o7777, 'a file mode (0 to 4095, i.e. 0o7777)'));
  optional(u, 'additionalGids', path, arrayOf(userId));
  optional(u, 'username', path, string);
  return u;
}

function envEntry(value: unknown, path: string): string {
  const s = string(value, path);
  const eq = s.indexOf('=');
  if (eq < 0) fail(path, `${JSON.stringify(s)} has no "=" (write NAME=value)`);
  if (eq === 0) fail(path, `${JSON.stringify(s)} has an empty variable name`);
  return s;
}

/** A capability name. One berth does not know but written as one (CAP_…) is accepted: a config
 * made for a newer kernel still runs, the name skipped with a warning (as runc and crun do).
 * Anything else is a mistake worth naming. */
function capabilityName(value: unknown, path: string): string {
  const name = string(value, path);
  if (!isKnownCapability(name) && !/^[A-Z0-9_]+$/.test(name)) {
    fail(
      path,
      `unknown capability ${JSON.stringify(name)} (expected a CAP_* name from CAP_CHOWN to CAP_CHECKPOINT_RESTORE, see capabilities(7))`,
      capabilityHint(name),
    );
  }
  return name;
}

function capabilities(value: unknown, path: string): Json {
  const caps = object(value, path);
  for (const set of CAPABILITY_SETS) optional(caps, set, path, arrayOf(capabilityName));
  return caps;
}

function rlimit(value: unknown, path: string): Rlimit {
  const limit = object(value, path);
  const hint = (name: string) => (rlimitNames().includes(`RLIMIT_${name.toUpperCase()}`) ? `did you mean "RLIMIT_${name.toUpperCase()}"?` : undefined);
  required(limit, 'type', path, oneOf(rlimitNames(), 'rlimit', hint));
  const hard = required(limit, 'hard', path, uint64);
  const soft = required(limit, 'soft', path, uint64);
  if (compareInt64(soft, hard) > 0) {
    fail(path, `soft limit ${soft} is above hard limit ${hard}`, 'the soft limit must not exceed the hard limit');
  }
  return limit as unknown as Rlimit;
}

function rlimits(value: unknown, path: string): Rlimit[] {
  const list = arrayOf(rlimit)(value, path);
  const seen = new Map<string, number>();
  list.forEach((limit, i) => {
    const first = seen.get(limit.type);
    if (first !== undefined) fail(item(path, i), `duplicate rlimit ${JSON.stringify(limit.type)} (already at ${item(path, first)})`);
    seen.set(limit.type, i);
  });
  return list;
}

function ioPriority(value: unknown, path: string): Json {
  const prio = object(value, path);
  required(prio, 'class', path, oneOf(IO_PRIORITY_CLASSES, 'I/O priority class'));
  optional(prio, 'priority', path, integer(0, 7, 'an integer'));
  return prio;
}

function scheduler(value: unknown, path: string): Json {
  const sched = object(value, path);
  const policy = required(sched, 'policy', path, oneOf(SCHEDULER_POLICIES, 'scheduler policy'));
  optional(sched, 'nice', path, integer(-20, 19, 'a nice value'));
  const priority = optional(sched, 'priority', path, int32);
  optional(sched, 'flags', path, arrayOf(oneOf(SCHEDULER_FLAGS, 'scheduler flag')));
  const runtime = optional(sched, 'runtime', path, uint64);
  const deadline = optional(sched, 'deadline', path, uint64);
  const period = optional(sched, 'period', path, uint64);
  if (priority !== undefined && priority !== 0 && policy !== 'SCHED_FIFO' && policy !== 'SCHED_RR') {
    fail(`${path}.priority`, `only applies to SCHED_FIFO and SCHED_RR, not ${policy}`);
  }
  const isSet = (v: unknown) => v !== undefined && v !== 0 && v !== 0n;
  if (policy !== 'SCHED_DEADLINE' && (isSet(runtime) || isSet(deadline) || isSet(period))) {
    fail(path, `runtime, deadline and period only apply to SCHED_DEADLINE, not ${policy}`);
  }
  return sched;
}

const cpuList: Check<string> = (value, path) => {
  const text = string(value, path);
  if (parseCpuList(text) === undefined) fail(path, `expected a CPU list like "0-3,7", got ${JSON.stringify(text)}`);
  return text;
};

function execCpuAffinity(value: unknown, path: string): Json {
  const affinity = object(value, path);
  optional(affinity, 'initial', path, cpuList);
  optional(affinity, 'final', path, cpuList);
  return affinity;
}
