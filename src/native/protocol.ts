import { BerthError } from '../common/errors.ts';

/**
 * Mirror of native/protocol.h: the plan berth-init carries out, and the sync messages.
 * Change both files together.
 */

export const PLAN_MAGIC = 'BPLN';
export const PLAN_VERSION = 2;

export const STAGES = { parent: 0, 'parent-after': 1, child: 2 } as const;
export type Stage = keyof typeof STAGES;

/**
 * Every op of the plan: its code, the stages that may run it (P parent before clone, A parent
 * after clone, C child) and its argument signature (s string, u integer, s* / u* a counted list,
 * u4* a counted list of 4-integer groups). The same table is BERTH_OPS in native/protocol.h,
 * where each op's syscalls are spelled out; protocol.test.ts holds the two together.
 */
export const OPS = {
  'cgroup-join': { code: 1, stages: 'PAC', signature: 's' },
  setns: { code: 2, stages: 'P', signature: 's u' },
  timens: { code: 3, stages: 'P', signature: 's' },
  clone: { code: 4, stages: 'P', signature: 'u' },
  'setgroups-deny': { code: 5, stages: 'A', signature: '' },
  'uid-map': { code: 6, stages: 'A', signature: 's' },
  'gid-map': { code: 7, stages: 'A', signature: 's' },
  'become-root': { code: 8, stages: 'C', signature: '' },
  setsid: { code: 9, stages: 'C', signature: '' },
  propagation: { code: 10, stages: 'C', signature: 's u' },
  rootfs: { code: 11, stages: 'C', signature: 's u s s s s u' },
  mount: { code: 12, stages: 'C', signature: 's s s u s u u u u u' },
  mkdir: { code: 13, stages: 'C', signature: 's u' },
  mknod: { code: 14, stages: 'C', signature: 's u u u u u' },
  'bind-device': { code: 15, stages: 'C', signature: 's s' },
  symlink: { code: 16, stages: 'C', signature: 's s' },
  hooks: { code: 17, stages: 'C', signature: 's' },
  'run-hook': { code: 18, stages: 'C', signature: 's s u s s* s* u' },
  'pivot-root': { code: 19, stages: 'C', signature: '' },
  chroot: { code: 20, stages: 'C', signature: 'u' },
  mask: { code: 21, stages: 'C', signature: 's' },
  readonly: { code: 22, stages: 'C', signature: 's' },
  'remount-root-ro': { code: 23, stages: 'C', signature: '' },
  hostname: { code: 24, stages: 'C', signature: 's' },
  domainname: { code: 25, stages: 'C', signature: 's' },
  sysctl: { code: 26, stages: 'C', signature: 's s' },
  'oom-score-adj': { code: 27, stages: 'AC', signature: 'u' },
  rlimit: { code: 28, stages: 'C', signature: 'u u u s' },
  'console-connect': { code: 29, stages: 'P', signature: 's' },
  console: { code: 30, stages: 'C', signature: 'u u u' },
  'close-fds': { code: 31, stages: 'C', signature: 'u' },
  chdir: { code: 32, stages: 'C', signature: 's u' },
  umask: { code: 33, stages: 'C', signature: 'u' },
  personality: { code: 34, stages: 'C', signature: 'u' },
  setgroups: { code: 35, stages: 'C', signature: 'u*' },
  setgid: { code: 36, stages: 'C', signature: 'u' },
  setuid: { code: 37, stages: 'C', signature: 'u' },
  'caps-bounding': { code: 38, stages: 'C', signature: 'u' },
  'no-new-privs': { code: 39, stages: 'C', signature: '' },
  'seccomp-init': { code: 40, stages: 'C', signature: 'u u u' },
  'seccomp-arch': { code: 41, stages: 'C', signature: 's' },
  'seccomp-rule': { code: 42, stages: 'C', signature: 'u s u4*' },
  'seccomp-load': { code: 43, stages: 'C', signature: '' },
  'resolve-exec': { code: 44, stages: 'C', signature: 's s' },
  ready: { code: 45, stages: 'C', signature: '' },
  'exec-wait': { code: 46, stages: 'C', signature: '' },
  exec: { code: 47, stages: 'C', signature: 's* s*' },
  'cloexec-fds': { code: 48, stages: 'C', signature: 'u' },
  'write-file': { code: 49, stages: 'C', signature: 's s' },
  'caps-set': { code: 50, stages: 'C', signature: 'u u u u' },
  'start-socket': { code: 51, stages: 'P', signature: 's' },
  'console-pair': { code: 52, stages: 'P', signature: '' },
  dumpable: { code: 53, stages: 'C', signature: 'u' },
  'cgroup-open': { code: 54, stages: 'P', signature: 's' },
  unshare: { code: 55, stages: 'C', signature: 'u' },
  'seccomp-listener': { code: 56, stages: 'P', signature: 's' },
  'seccomp-notify-send': { code: 57, stages: 'C', signature: 's s s' },
  ioprio: { code: 58, stages: 'C', signature: 'u' },
  sched: { code: 59, stages: 'C', signature: 'u u u u u u u' },
  affinity: { code: 60, stages: 'PC', signature: 'u*' },
  'bind-tree': { code: 61, stages: 'P', signature: 'u s u u u s s' },
  'chdir-deferred': { code: 62, stages: 'C', signature: '' },
  'reset-signals': { code: 63, stages: 'C', signature: '' },
  remount: { code: 64, stages: 'C', signature: 's u' },
  detach: { code: 65, stages: 'C', signature: 's' },
  'home-env': { code: 66, stages: 'C', signature: 'u' },
  monitor: { code: 67, stages: 'P', signature: 's u u s s s u s*' },
  user: { code: 68, stages: 'C', signature: 's s*' },
  'seccomp-bpf': { code: 69, stages: 'C', signature: 'u u*' },
  'device-tree': { code: 70, stages: 'P', signature: 'u s u u u u u' },
  'rootfs-tree': { code: 71, stages: 'P', signature: 'u s s s s s*' },
  view: { code: 72, stages: 'P', signature: 's*' },
} as const satisfies Record<string, { code: number; stages: string; signature: string }>;

export type OpName = keyof typeof OPS;

/** OP_MONITOR flags (MON_* in native/monitor.c). */
export const MONITOR_FLAGS = { stdin: 1, tty: 2 } as const;

/** Frame types of a monitor's attach socket (native/monitor.c). */
export const ATTACH_FRAME = { stdin: 0, closeStdin: 1, resize: 2, clientCleans: 3, stdout: 1, stderr: 2, exit: 3 } as const;

/** OP_MOUNT kind bits (BERTH_MOUNT_* in protocol.h). */
export const MOUNT_KIND = { file: 1, copyUp: 2, realDir: 4 } as const;

export const SECCOMP_FLAG_BITS = {
  SECCOMP_FILTER_FLAG_TSYNC: 1,
  SECCOMP_FILTER_FLAG_LOG: 2,
  SECCOMP_FILTER_FLAG_SPEC_ALLOW: 4,
} as const;
/** seccomp(2) returns a notify fd (not a flag of config.json: set for linux.seccomp.listenerPath). */
export const SECCOMP_FILTER_FLAG_NEW_LISTENER = 8;

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
  | { op: 'propagation'; path: string; flags: number; flagNames: string[]; why: string }
  /** bind: bound on itself in a mount namespace of its own; mount: a filesystem mounted there
   * (an image's overlay, in the container's mount namespace only); else used as it is. */
  | { op: 'rootfs'; path: string; bind: boolean; mount?: { type: string; source: string; data: string; cwd?: string | undefined } | undefined; treeSlot?: number | undefined }
  /** The overlay root of a user-namespaced container: id-mapped lower layers (OP_ROOTFS_TREE). */
  | { op: 'rootfs-tree'; slot: number; cwd: string; options: string; uidMap: string; gidMap: string; lowers: string[] }
  /** The container's limits view: berth-init view with these arguments, forked before the clone. */
  | { op: 'view'; args: string[] }
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
      /** procfs, sysfs: never mounted through a symlink at the destination. */
      realDir?: boolean;
      /** A tree the parent prepared from the host (bind-tree of this slot) is moved here. */
      treeSlot?: number;
    }
  | { op: 'bind-tree'; slot: number; source: string; recursiveTree: boolean; idmap: boolean; recursiveIdmap: boolean; uidMap: string; gidMap: string }
  /** A device node made by the parent for a user-namespaced container (owner: host ids). */
  | { op: 'device-tree'; slot: number; path: string; mode: number; major: number; minor: number; uid: number; gid: number; type: string }
  | { op: 'remount'; path: string; flags: number; flagNames: string[] }
  | { op: 'detach'; path: string }
  /** HOME from the container's /etc/passwd entry of uid (or /), for an env without HOME. */
  | { op: 'home-env'; uid: number }
  /** docker's user spec looked up in the container's own passwd and group files (user.c). */
  | { op: 'user'; spec: string; groups: string[] }
  /** A filter compiled before (kernel flags; instructions packed as code | jt << 16 | jf << 24 | k << 32). */
  /** program: the filter as the kernel takes it, struct sock_filter[] (8 bytes an instruction) */
  | { op: 'seccomp-bpf'; flags: number; flagNames: string[]; program: Uint8Array; ruleCount: number; cached: boolean; /** the program starts with runc's -ENOSYS stub (for --explain) */ enosysStub: boolean }
  /** This process stays as the container's monitor (native/monitor.c). */
  | {
      op: 'monitor';
      logPath: string;
      logMaxSize: number;
      logMaxFiles: number;
      attachPath: string;
      exitPath: string;
      oomFile: string;
      stdinOpen: boolean;
      tty: boolean;
      exitCommand: string[];
    }
  | { op: 'mkdir'; path: string; mode: number }
  | { op: 'mknod'; path: string; mode: number; major: number; minor: number; uid: number; gid: number; type: string }
  | { op: 'bind-device'; hostPath: string; path: string }
  | { op: 'symlink'; target: string; path: string }
  | { op: 'hooks'; name: string; count: number }
  /** inheritEnv: the hook has no env of its own and gets the runtime's environment. */
  | { op: 'run-hook'; name: string; path: string; timeout: number; cwd: string; args: string[]; env: string[]; inheritEnv: boolean }
  | { op: 'pivot-root' }
  /** move: MS_MOVE the root over / first (a mount namespace of its own). */
  | { op: 'chroot'; move: boolean }
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
  | { op: 'start-socket'; path: string }
  | { op: 'console-pair' }
  | { op: 'dumpable'; value: boolean; reason: string }
  | { op: 'close-fds'; from: number }
  /** deferrable: denied as root (EACCES/EPERM), it is tried again at chdir-deferred. */
  | { op: 'chdir'; path: string; deferrable: boolean }
  | { op: 'chdir-deferred' }
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
      why?: string;
    }
  | { op: 'no-new-privs' }
  | { op: 'seccomp-init'; defaultAction: number; actionName: string; flags: number; flagNames: string[]; ruleCount: number; enosysStub: boolean }
  | { op: 'seccomp-arch'; arch: string }
  | { op: 'seccomp-rule'; action: number; actionName: string; syscall: string; args: SeccompArgCondition[] }
  | { op: 'seccomp-load' }
  | { op: 'resolve-exec'; program: string; searchPath: string }
  | { op: 'ready' }
  | { op: 'exec-wait' }
  | { op: 'reset-signals' }
  | { op: 'exec'; args: string[]; env: string[] }
  | { op: 'cloexec-fds'; from: number }
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
    case 'remount-root-ro':
    case 'no-new-privs':
    case 'seccomp-load':
    case 'ready':
    case 'exec-wait':
    case 'chdir-deferred':
    case 'reset-signals':
      return [];
    case 'uid-map':
    case 'gid-map':
      return [step.map];
    case 'propagation':
      return [step.path, step.flags];
    case 'rootfs':
      return [step.path, step.treeSlot !== undefined ? 3 : step.mount ? 2 : step.bind ? 1 : 0, step.mount?.type ?? '', step.mount?.source ?? '', step.mount?.data ?? '', step.mount?.cwd ?? '', step.treeSlot ?? 0];
    case 'rootfs-tree':
      return [step.slot, step.cwd, step.options, step.uidMap, step.gidMap, step.lowers.length, ...step.lowers];
    case 'view':
      return [step.args.length, ...step.args];
    case 'chroot':
      return [step.move];
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
        (step.isFile ? MOUNT_KIND.file : 0) |
          (step.copyUp ? MOUNT_KIND.copyUp : 0) |
          (step.realDir ? MOUNT_KIND.realDir : 0) |
          (step.treeSlot !== undefined ? (step.treeSlot + 1) << 8 : 0),
        step.remountFlags,
      ];
    case 'remount':
      return [step.path, step.flags];
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
      return [step.name, step.path, step.timeout, step.cwd, step.args.length, ...step.args, step.env.length, ...step.env, step.inheritEnv];
    case 'mask':
    case 'readonly':
    case 'detach':
      return [step.path];
    case 'hostname':
    case 'domainname':
      return [step.name];
    case 'sysctl':
      return [`/proc/sys/${step.key.replaceAll('.', '/')}`, step.value];
    case 'oom-score-adj':
      return [BigInt.asUintN(64, BigInt(step.value))];
    case 'dumpable':
      return [step.value];
    case 'rlimit':
      return [step.resource, step.soft, step.hard, step.type];
    case 'ioprio':
      return [step.value];
    case 'bind-tree':
      return [step.slot, step.source, step.recursiveTree, step.idmap, step.recursiveIdmap, step.uidMap, step.gidMap];
    case 'device-tree':
      return [step.slot, step.path, step.mode, step.major, step.minor, step.uid, step.gid];
    case 'sched':
      return [step.policy, step.flags, BigInt.asUintN(64, BigInt(step.nice)), step.priority, step.runtime, step.deadline, step.period];
    case 'affinity':
      return [step.cpus.length, ...step.cpus];
    case 'console-connect':
      return [step.socketPath];
    case 'console':
      return [step.rows, step.cols, step.uid];
    case 'start-socket':
      return [step.path];
    case 'chdir':
      return [step.path, step.deferrable];
    case 'umask':
      return [step.mask];
    case 'personality':
      return [step.persona];
    case 'setgroups':
      return [step.gids.length, ...step.gids];
    case 'setgid':
      return [step.gid];
    case 'setuid':
    case 'home-env':
      return [step.uid];
    case 'caps-bounding':
      return [step.mask];
    case 'caps-set':
      return [step.effective, step.permitted, step.inheritable, step.ambient];
    case 'seccomp-init':
      return [step.defaultAction, step.flags, step.enosysStub ? 1 : 0];
    case 'seccomp-arch':
      return [step.arch];
    case 'seccomp-rule':
      return [step.action, step.syscall, step.args.length, ...step.args.flatMap((a) => [a.index, a.op, a.value, a.valueTwo])];
    case 'resolve-exec':
      return [step.program, step.searchPath];
    case 'exec':
      return [step.args.length, ...step.args, step.env.length, ...step.env];
    case 'close-fds':
    case 'cloexec-fds':
      return [step.from];
    case 'user':
      return [step.spec, step.groups.length, ...step.groups];
    case 'seccomp-bpf': {
      // each instruction one u64 (code | jt << 16 | jf << 24 | k << 32): little-endian, the
      // struct's own bytes (encodePlan copies them as they are)
      const view = new DataView(step.program.buffer, step.program.byteOffset, step.program.byteLength);
      const insns: bigint[] = [];
      for (let o = 0; o + 8 <= step.program.byteLength; o += 8) insns.push(view.getBigUint64(o, true));
      return [step.flags, insns.length, ...insns];
    }
    case 'monitor':
      return [
        step.logPath,
        step.logMaxSize,
        step.logMaxFiles,
        step.attachPath,
        step.exitPath,
        step.oomFile,
        (step.stdinOpen ? MONITOR_FLAGS.stdin : 0) | (step.tty ? MONITOR_FLAGS.tty : 0),
        step.exitCommand.length,
        ...step.exitCommand,
      ];
    case 'write-file':
      return [step.path, step.content];
  }
}

/** Do the arguments follow the op's signature? (berth-init checks the same when it reads the
 * plan; checking here too names the step while the error is still a TypeScript one.) */
export function argsMatchSignature(signature: string, args: readonly Arg[]): boolean {
  let i = 0;
  const isInt = (a: Arg | undefined) => a !== undefined && typeof a !== 'string';
  const isStr = (a: Arg | undefined) => typeof a === 'string';
  for (const token of signature.split(' ').filter(Boolean)) {
    const kind = token[0];
    const check = kind === 's' ? isStr : isInt;
    if (!token.endsWith('*')) {
      if (!check(args[i])) return false;
      i++;
      continue;
    }
    const group = token.length === 3 ? Number(token[1]) : 1;
    const n = args[i];
    if (!isInt(n)) return false;
    i++;
    const count = Number(n) * group;
    for (let k = 0; k < count; k++, i++) if (!check(args[i])) return false;
  }
  return i === args.length;
}

/** The plan's bytes, written into one buffer that grows (a plan is ~20 KB, most of it the
 * seccomp filter: no Buffer per argument). */
class PlanWriter {
  buf = Buffer.allocUnsafe(32 * 1024);
  length = 0;

  reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(bigger, 0, 0, this.length);
    this.buf = bigger;
  }

  u32(value: number): void {
    this.reserve(4);
    this.buf.writeUInt32LE(value, this.length);
    this.length += 4;
  }

  arg(arg: Arg, op: string): void {
    if (typeof arg === 'string') {
      if (arg.includes('\0')) throw new BerthError('INVALID_ARGUMENT', `${op}: a string of the config contains a NUL character: ${JSON.stringify(arg.slice(0, 80))}`);
      const size = Buffer.byteLength(arg, 'utf8') + 1;
      this.reserve(4 + size);
      this.buf.writeUInt32LE(size, this.length);
      this.buf.write(arg, this.length + 4, 'utf8');
      this.buf[this.length + 4 + size - 1] = 0;
      this.length += 4 + size;
      return;
    }
    this.reserve(12);
    this.buf.writeUInt32LE(8, this.length);
    if (typeof arg === 'boolean' || (typeof arg === 'number' && Number.isSafeInteger(arg) && arg >= 0)) {
      const n = Number(arg);
      this.buf.writeUInt32LE(n % 0x1_0000_0000, this.length + 4);
      this.buf.writeUInt32LE(Math.floor(n / 0x1_0000_0000), this.length + 8);
    } else {
      this.buf.writeBigUInt64LE(BigInt.asUintN(64, BigInt(arg)), this.length + 4);
    }
    this.length += 12;
  }

  /** A u* list of u64s whose little-endian bytes are `raw` (8 bytes each), copied as they are. */
  rawU64s(raw: Uint8Array): void {
    const count = raw.byteLength / 8;
    this.reserve(12 + count * 12);
    this.arg(count, 'seccomp-bpf');
    // byte by byte: a subarray per instruction cost ~1.5 ms for docker's profile (cold code)
    const buf = this.buf;
    let d = this.length;
    for (let o = 0; o < raw.byteLength; o += 8, d += 12) {
      buf[d] = 8;
      buf[d + 1] = buf[d + 2] = buf[d + 3] = 0;
      for (let k = 0; k < 8; k++) buf[d + 4 + k] = raw[o + k]!;
    }
    this.length = d;
  }
}

const STAGE_LETTER: Record<Stage, string> = { parent: 'P', 'parent-after': 'A', child: 'C' };

/** The plan in the wire format of protocol.h. */
export function encodePlan(steps: readonly PlanStep[]): Buffer {
  const out = new PlanWriter();
  out.reserve(8);
  out.buf.write(PLAN_MAGIC, 0, 'latin1');
  out.length = 4;
  out.u32(PLAN_VERSION);
  for (const step of steps) {
    const info = OPS[step.op];
    // the filter (most of a plan) is copied as it is: its signature ('u u*') holds by construction
    if (step.op === 'seccomp-bpf' && step.program.byteLength % 8 === 0 && step.stage === 'child') {
      const count = step.program.byteLength / 8;
      out.reserve(8);
      out.buf.writeUInt16LE(info.code, out.length);
      out.buf.writeUInt16LE(STAGES[step.stage], out.length + 2);
      out.buf.writeUInt32LE(2 + count, out.length + 4);
      out.length += 8;
      out.arg(step.flags, step.op);
      out.rawU64s(step.program);
      continue;
    }
    const args = argsOf(step);
    if (!info.stages.includes(STAGE_LETTER[step.stage]) || !argsMatchSignature(info.signature, args)) {
      throw new BerthError('INTERNAL', `plan step ${step.op} (${step.stage}) does not follow its signature or stages in protocol.h`);
    }
    out.reserve(8);
    out.buf.writeUInt16LE(info.code, out.length);
    out.buf.writeUInt16LE(STAGES[step.stage], out.length + 2);
    out.buf.writeUInt32LE(args.length, out.length + 4);
    out.length += 8;
    for (const a of args) out.arg(a, step.op);
  }
  return Buffer.from(out.buf.subarray(0, out.length));
}

/** Messages berth-init sends over the sync socket (one JSON object per line). */
export type InitMessage =
  /** view: the keeper of the container's limits view (OP_VIEW), when there is one */
  | { type: 'pid'; pid: number; view?: number }
  | { type: 'hooks'; name: string }
  | { type: 'ready' }
  | { type: 'error'; stage: string; op: string; errno: number; errnoName: string; path: string; message: string };

export const ACK_HOOKS = 'hooks-done';
export const ACK_ABORT = 'abort';
/** What `start` sends on the start socket. */
export const REQ_START = 'start';
