/**
 * Mirror of native/protocol.h: the plan berth-init carries out, and the sync messages.
 * Change both files together.
 */

export const PLAN_MAGIC = 'BPLN';
export const PLAN_VERSION = 1;

export const STAGES = { parent: 0, 'parent-after': 1, child: 2 } as const;
export type Stage = keyof typeof STAGES;

export const OP_CODES = {
  'cgroup-join': 1,
  setns: 2,
  timens: 3,
  clone: 4,
  'setgroups-deny': 5,
  'uid-map': 6,
  'gid-map': 7,
  'become-root': 8,
  setsid: 9,
  propagation: 10,
  rootfs: 11,
  mount: 12,
  mkdir: 13,
  mknod: 14,
  'bind-device': 15,
  symlink: 16,
  hooks: 17,
  'run-hook': 18,
  'pivot-root': 19,
  chroot: 20,
  mask: 21,
  readonly: 22,
  'remount-root-ro': 23,
  hostname: 24,
  domainname: 25,
  sysctl: 26,
  'oom-score-adj': 27,
  rlimit: 28,
  'console-connect': 29,
  console: 30,
  'exec-fifo': 31,
  chdir: 32,
  umask: 33,
  personality: 34,
  setgroups: 35,
  setgid: 36,
  setuid: 37,
  'caps-bounding': 38,
  'no-new-privs': 39,
  'seccomp-init': 40,
  'seccomp-arch': 41,
  'seccomp-rule': 42,
  'seccomp-load': 43,
  'resolve-exec': 44,
  ready: 45,
  'exec-wait': 46,
  exec: 47,
  'close-fds': 48,
  'write-file': 49,
  'caps-set': 50,
  mkfifo: 51,
  'console-pair': 52,
  dumpable: 53,
  'cgroup-open': 54,
  unshare: 55,
  'seccomp-listener': 56,
  'seccomp-notify-send': 57,
  ioprio: 58,
  sched: 59,
  affinity: 60,
  'idmap-tree': 61,
} as const;

export const SECCOMP_FLAG_BITS = {
  SECCOMP_FILTER_FLAG_TSYNC: 1,
  SECCOMP_FILTER_FLAG_LOG: 2,
  SECCOMP_FILTER_FLAG_SPEC_ALLOW: 4,
} as const;

/** Exit status of berth-init when the set-up failed (it reported why over the sync socket). */
export const INIT_EXIT_SETUP_FAILED = 125;

export interface SeccompArgCondition {
  index: number;
  op: number;
  opName: string;
  value: bigint;
  valueTwo: bigint;
}

/** One step of the plan. Names and numbers both: numbers run, names explain. */
export type PlanStep = { stage: Stage } & (
  | { op: 'cgroup-join'; procsPath: string }
  | { op: 'cgroup-open'; dir: string }
  | { op: 'seccomp-listener'; path: string }
  /** The container process state for the listener, cut where the pid goes: a + pid + b + pid + c. */
  | { op: 'seccomp-notify-send'; parts: [string, string, string]; path: string }
  | { op: 'unshare'; flags: number; namespaces: string[] }
  | { op: 'setns'; path: string; nsType: number; namespace: string }
  | { op: 'timens'; offsets: string }
  /** intoCgroup: after a cgroup-open (berth-init uses clone3 CLONE_INTO_CGROUP then; for explain). */
  | { op: 'clone'; flags: number; namespaces: string[]; intoCgroup?: boolean }
  | { op: 'setgroups-deny' }
  | { op: 'uid-map'; map: string }
  | { op: 'gid-map'; map: string }
  | { op: 'become-root' }
  | { op: 'setsid' }
  | { op: 'propagation'; path: string; flags: number; flagNames: string[] }
  | { op: 'rootfs'; path: string }
  | {
      op: 'mount';
      source: string;
      destination: string;
      fstype: string;
      flags: number;
      flagNames: string[];
      data: string;
      propagation: number;
      attrSet: number;
      attrClr: number;
      isFile: boolean;
      remountFlags: number;
      /** tmpcopyup: the directory's content is copied into the new mount. */
      copyUp?: boolean;
      /** An id-mapped mount: the tree prepared by the idmap-tree step of this slot is moved here. */
      idmapSlot?: number;
    }
  | { op: 'idmap-tree'; slot: number; source: string; recursiveTree: boolean; recursiveIdmap: boolean; uidMap: string; gidMap: string }
  | { op: 'mkdir'; path: string; mode: number }
  | { op: 'mknod'; path: string; mode: number; major: number; minor: number; uid: number; gid: number; type: string }
  | { op: 'bind-device'; hostPath: string; path: string }
  | { op: 'symlink'; target: string; path: string }
  | { op: 'hooks'; name: string; count: number }
  | { op: 'run-hook'; name: string; path: string; timeout: number; args: string[]; env: string[] }
  | { op: 'pivot-root' }
  | { op: 'chroot' }
  | { op: 'mask'; path: string }
  | { op: 'readonly'; path: string }
  | { op: 'remount-root-ro' }
  | { op: 'hostname'; name: string }
  | { op: 'domainname'; name: string }
  | { op: 'sysctl'; key: string; value: string }
  | { op: 'oom-score-adj'; value: number }
  | { op: 'rlimit'; type: string; resource: number; soft: bigint; hard: bigint }
  | { op: 'console-connect'; socketPath: string }
  | { op: 'console'; rows: number; cols: number; uid: number }
  | { op: 'mkfifo'; path: string }
  | { op: 'console-pair' }
  | { op: 'dumpable'; value: boolean; reason: string }
  | { op: 'exec-fifo'; path: string }
  | { op: 'chdir'; path: string }
  | { op: 'umask'; mask: number }
  | { op: 'personality'; persona: number; domain: string }
  | { op: 'ioprio'; value: number; className: string; priority: number }
  | {
      op: 'sched';
      policy: number;
      policyName: string;
      flags: number;
      flagNames: string[];
      nice: number;
      priority: number;
      runtime: bigint;
      deadline: bigint;
      period: bigint;
    }
  | { op: 'affinity'; cpus: number[]; list: string; when: string }
  | { op: 'setgroups'; gids: number[] }
  | { op: 'setgid'; gid: number }
  | { op: 'setuid'; uid: number }
  | { op: 'caps-bounding'; mask: bigint; names: string[] }
  | {
      op: 'caps-set';
      effective: bigint;
      permitted: bigint;
      inheritable: bigint;
      ambient: bigint;
      names: { effective: string[]; permitted: string[]; inheritable: string[]; ambient: string[] };
    }
  | { op: 'no-new-privs' }
  | { op: 'seccomp-init'; defaultAction: number; actionName: string; flags: number; flagNames: string[]; ruleCount: number }
  | { op: 'seccomp-arch'; arch: string }
  | { op: 'seccomp-rule'; action: number; actionName: string; syscall: string; args: SeccompArgCondition[] }
  | { op: 'seccomp-load' }
  | { op: 'resolve-exec'; program: string; searchPath: string }
  | { op: 'ready' }
  | { op: 'exec-wait' }
  | { op: 'exec'; args: string[]; env: string[] }
  | { op: 'close-fds'; from: number }
  | { op: 'write-file'; path: string; content: string }
);

type Arg = string | number | bigint | boolean;

function argsOf(step: PlanStep): Arg[] {
  switch (step.op) {
    case 'cgroup-join':
      return [step.procsPath];
    case 'cgroup-open':
      return [step.dir];
    case 'seccomp-listener':
      return [step.path];
    case 'seccomp-notify-send':
      return step.parts;
    case 'unshare':
      return [step.flags];
    case 'setns':
      return [step.path, step.nsType];
    case 'timens':
      return [step.offsets];
    case 'clone':
      return [step.flags];
    case 'setgroups-deny':
    case 'console-pair':
    case 'become-root':
    case 'setsid':
    case 'pivot-root':
    case 'chroot':
    case 'remount-root-ro':
    case 'no-new-privs':
    case 'seccomp-load':
    case 'ready':
    case 'exec-wait':
      return [];
    case 'uid-map':
    case 'gid-map':
      return [step.map];
    case 'propagation':
      return [step.path, step.flags];
    case 'rootfs':
      return [step.path];
    case 'mount':
      return [
        step.source,
        step.destination,
        step.fstype,
        step.flags,
        step.data,
        step.propagation,
        step.attrSet,
        step.attrClr,
        (step.isFile ? 1 : 0) | (step.copyUp ? 2 : 0) | (step.idmapSlot !== undefined ? (step.idmapSlot + 1) << 8 : 0),
        step.remountFlags,
      ];
    case 'mkdir':
      return [step.path, step.mode];
    case 'mknod':
      return [step.path, step.mode, step.major, step.minor, step.uid, step.gid];
    case 'bind-device':
      return [step.hostPath, step.path];
    case 'symlink':
      return [step.target, step.path];
    case 'hooks':
      return [step.name];
    case 'run-hook':
      return [step.path, step.timeout, step.args.length, ...step.args, step.env.length, ...step.env];
    case 'mask':
    case 'readonly':
      return [step.path];
    case 'hostname':
    case 'domainname':
      return [step.name];
    case 'sysctl':
      return [`/proc/sys/${step.key.replaceAll('.', '/')}`, step.value];
    case 'oom-score-adj':
      return [step.value];
    case 'dumpable':
      return [step.value ? 1 : 0];
    case 'rlimit':
      return [step.resource, step.soft, step.hard, step.type];
    case 'ioprio':
      return [step.value];
    case 'idmap-tree':
      return [step.slot, step.source, step.recursiveTree, step.recursiveIdmap, step.uidMap, step.gidMap];
    case 'sched':
      return [step.policy, step.flags, BigInt.asUintN(64, BigInt(step.nice)), step.priority, step.runtime, step.deadline, step.period];
    case 'affinity':
      return [step.cpus.length, ...step.cpus];
    case 'console-connect':
      return [step.socketPath];
    case 'console':
      return [step.rows, step.cols, step.uid];
    case 'mkfifo':
    case 'exec-fifo':
    case 'chdir':
      return [step.path];
    case 'umask':
      return [step.mask];
    case 'personality':
      return [step.persona];
    case 'setgroups':
      return [step.gids.length, ...step.gids];
    case 'setgid':
      return [step.gid];
    case 'setuid':
      return [step.uid];
    case 'caps-bounding':
      return [step.mask];
    case 'caps-set':
      return [step.effective, step.permitted, step.inheritable, step.ambient];
    case 'seccomp-init':
      return [step.defaultAction, step.flags];
    case 'seccomp-arch':
      return [step.arch];
    case 'seccomp-rule':
      return [step.action, step.syscall, step.args.length, ...step.args.flatMap((a) => [a.index, a.op, a.value, a.valueTwo])];
    case 'resolve-exec':
      return [step.program, step.searchPath];
    case 'exec':
      return [step.args.length, ...step.args, step.env.length, ...step.env];
    case 'close-fds':
      return [step.from];
    case 'write-file':
      return [step.path, step.content];
  }
}

function encodeArg(arg: Arg): Buffer {
  if (typeof arg === 'string') {
    const body = Buffer.from(arg + '\0', 'utf8');
    const out = Buffer.allocUnsafe(4 + body.length);
    out.writeUInt32LE(body.length, 0);
    body.copy(out, 4);
    return out;
  }
  const out = Buffer.allocUnsafe(12);
  out.writeUInt32LE(8, 0);
  const value = typeof arg === 'boolean' ? (arg ? 1n : 0n) : BigInt(arg);
  out.writeBigUInt64LE(BigInt.asUintN(64, value), 4);
  return out;
}

/** The plan in the wire format of protocol.h. */
export function encodePlan(steps: readonly PlanStep[]): Buffer {
  const parts: Buffer[] = [];
  const header = Buffer.alloc(8);
  header.write(PLAN_MAGIC, 0, 'latin1');
  header.writeUInt32LE(PLAN_VERSION, 4);
  parts.push(header);
  for (const step of steps) {
    const args = argsOf(step);
    if (args.length > 255) throw new RangeError(`plan step ${step.op} has too many arguments (${args.length})`);
    const head = Buffer.alloc(4);
    head.writeUInt16LE(OP_CODES[step.op], 0);
    head.writeUInt8(STAGES[step.stage], 2);
    head.writeUInt8(args.length, 3);
    parts.push(head, ...args.map(encodeArg));
  }
  return Buffer.concat(parts);
}

/** Messages berth-init sends over the sync socket (one JSON object per line). */
export type InitMessage =
  | { type: 'pid'; pid: number }
  | { type: 'hooks'; name: string }
  | { type: 'ready' }
  | { type: 'error'; stage: string; op: string; errno: number; errnoName: string; path: string; message: string };

export const ACK_HOOKS = 'hooks-done';
export const ACK_ABORT = 'abort';
