/**
 * Types of the OCI runtime-spec 1.2 `config.json` (Linux parts) and of the OCI state.
 *
 * Field names are exactly the JSON keys. Integers that the spec declares as 64-bit
 * (`uint64`/`int64`) are `Int64`: a `number`, or a `bigint` when the JSON held an
 * integer beyond Number.MAX_SAFE_INTEGER (parseRuntimeConfig keeps such values exact,
 * e.g. RLIM_INFINITY 18446744073709551615). Unknown fields are kept as they were read.
 */

/** A 64-bit integer from JSON: number when safe, bigint when not. */
export type Int64 = number | bigint;

export interface RuntimeConfig {
  ociVersion: string;
  root?: Root;
  mounts?: Mount[];
  process?: Process;
  hostname?: string;
  domainname?: string;
  hooks?: Hooks;
  annotations?: Record<string, string>;
  linux?: Linux;
  /** Other platforms and future fields are carried along untouched. */
  [field: string]: unknown;
}

export interface Root {
  path: string;
  readonly?: boolean;
}

export interface IdMapping {
  containerID: number;
  hostID: number;
  size: number;
}

export interface Mount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
  uidMappings?: IdMapping[];
  gidMappings?: IdMapping[];
}

// ---------------------------------------------------------------------------
// process
// ---------------------------------------------------------------------------

export interface Process {
  terminal?: boolean;
  consoleSize?: ConsoleSize;
  user: User;
  args?: string[];
  /** Windows only; accepted and ignored on Linux. */
  commandLine?: string;
  env?: string[];
  cwd: string;
  capabilities?: Capabilities;
  rlimits?: Rlimit[];
  noNewPrivileges?: boolean;
  apparmorProfile?: string;
  oomScoreAdj?: number;
  selinuxLabel?: string;
  ioPriority?: IoPriority;
  scheduler?: Scheduler;
  execCPUAffinity?: ExecCpuAffinity;
}

export interface ConsoleSize {
  height: number;
  width: number;
}

export interface User {
  uid: number;
  gid: number;
  umask?: number;
  additionalGids?: number[];
  /** Windows only. */
  username?: string;
}

export type CapabilitySet = 'bounding' | 'effective' | 'inheritable' | 'permitted' | 'ambient';

export interface Capabilities {
  bounding?: string[];
  effective?: string[];
  inheritable?: string[];
  permitted?: string[];
  ambient?: string[];
}

export interface Rlimit {
  /** RLIMIT_* name, e.g. "RLIMIT_NOFILE". */
  type: string;
  hard: Int64;
  soft: Int64;
}

export type IoPriorityClass = 'IOPRIO_CLASS_RT' | 'IOPRIO_CLASS_BE' | 'IOPRIO_CLASS_IDLE';

export interface IoPriority {
  class: IoPriorityClass;
  priority?: number;
}

export type SchedulerPolicy =
  | 'SCHED_OTHER'
  | 'SCHED_FIFO'
  | 'SCHED_RR'
  | 'SCHED_BATCH'
  | 'SCHED_ISO'
  | 'SCHED_IDLE'
  | 'SCHED_DEADLINE';

export type SchedulerFlag =
  | 'SCHED_FLAG_RESET_ON_FORK'
  | 'SCHED_FLAG_RECLAIM'
  | 'SCHED_FLAG_DL_OVERRUN'
  | 'SCHED_FLAG_KEEP_POLICY'
  | 'SCHED_FLAG_KEEP_PARAMS'
  | 'SCHED_FLAG_UTIL_CLAMP_MIN'
  | 'SCHED_FLAG_UTIL_CLAMP_MAX';

export interface Scheduler {
  policy: SchedulerPolicy;
  nice?: number;
  priority?: number;
  flags?: SchedulerFlag[];
  runtime?: Int64;
  deadline?: Int64;
  period?: Int64;
}

export interface ExecCpuAffinity {
  initial?: string;
  final?: string;
}

// ---------------------------------------------------------------------------
// hooks
// ---------------------------------------------------------------------------

export interface Hook {
  path: string;
  args?: string[];
  env?: string[];
  /** Seconds; must be > 0 when set. */
  timeout?: number;
}

export type HookName = 'prestart' | 'createRuntime' | 'createContainer' | 'startContainer' | 'poststart' | 'poststop';

export type Hooks = { [name in HookName]?: Hook[] };

// ---------------------------------------------------------------------------
// linux
// ---------------------------------------------------------------------------

export type NamespaceType = 'pid' | 'network' | 'mount' | 'ipc' | 'uts' | 'user' | 'cgroup' | 'time';

export interface Namespace {
  type: NamespaceType;
  /** Join this namespace instead of creating one. */
  path?: string;
}

export interface TimeOffset {
  secs?: Int64;
  nanosecs?: number;
}

/** Device node to create in the container. */
export interface Device {
  type: 'c' | 'b' | 'u' | 'p';
  path: string;
  major?: Int64;
  minor?: Int64;
  fileMode?: number;
  uid?: number;
  gid?: number;
}

export interface Linux {
  namespaces?: Namespace[];
  uidMappings?: IdMapping[];
  gidMappings?: IdMapping[];
  /** Keyed by clock: "monotonic" or "boottime". */
  timeOffsets?: Record<string, TimeOffset>;
  devices?: Device[];
  cgroupsPath?: string;
  resources?: Resources;
  sysctl?: Record<string, string>;
  seccomp?: Seccomp;
  rootfsPropagation?: string;
  maskedPaths?: string[];
  readonlyPaths?: string[];
  mountLabel?: string;
  personality?: Personality;
  intelRdt?: IntelRdt;
}

export interface Personality {
  domain: 'LINUX' | 'LINUX32';
  flags?: string[];
}

export interface IntelRdt {
  closID?: string;
  l3CacheSchema?: string;
  memBwSchema?: string;
  enableCMT?: boolean;
  enableMBM?: boolean;
}

// ---------------------------------------------------------------------------
// linux.resources (cgroups)
// ---------------------------------------------------------------------------

export interface Resources {
  devices?: DeviceCgroupRule[];
  memory?: MemoryResources;
  cpu?: CpuResources;
  blockIO?: BlockIoResources;
  hugepageLimits?: HugepageLimit[];
  network?: NetworkResources;
  pids?: PidsResources;
  rdma?: Record<string, RdmaLimit>;
  /** cgroup v2 files, e.g. { "memory.high": "1G" }. */
  unified?: Record<string, string>;
}

export interface DeviceCgroupRule {
  allow: boolean;
  /** "a" (all, the default), "c" or "b". */
  type?: 'a' | 'c' | 'b';
  major?: Int64;
  minor?: Int64;
  /** Some of "rwm". */
  access?: string;
}

export interface MemoryResources {
  limit?: Int64;
  reservation?: Int64;
  swap?: Int64;
  kernel?: Int64;
  kernelTCP?: Int64;
  swappiness?: Int64;
  disableOOMKiller?: boolean;
  useHierarchy?: boolean;
  checkBeforeUpdate?: boolean;
}

export interface CpuResources {
  shares?: Int64;
  quota?: Int64;
  burst?: Int64;
  period?: Int64;
  realtimeRuntime?: Int64;
  realtimePeriod?: Int64;
  cpus?: string;
  mems?: string;
  idle?: Int64;
}

export interface BlockIoDevice {
  major: Int64;
  minor: Int64;
}

export interface WeightDevice extends BlockIoDevice {
  weight?: number;
  leafWeight?: number;
}

export interface ThrottleDevice extends BlockIoDevice {
  rate: Int64;
}

export interface BlockIoResources {
  weight?: number;
  leafWeight?: number;
  weightDevice?: WeightDevice[];
  throttleReadBpsDevice?: ThrottleDevice[];
  throttleWriteBpsDevice?: ThrottleDevice[];
  throttleReadIOPSDevice?: ThrottleDevice[];
  throttleWriteIOPSDevice?: ThrottleDevice[];
}

export interface HugepageLimit {
  /** e.g. "2MB", "1GB". */
  pageSize: string;
  limit: Int64;
}

export interface NetworkResources {
  classID?: number;
  priorities?: Array<{ name: string; priority: number }>;
}

export interface PidsResources {
  limit: Int64;
}

export interface RdmaLimit {
  hcaHandles?: number;
  hcaObjects?: number;
}

// ---------------------------------------------------------------------------
// linux.seccomp
// ---------------------------------------------------------------------------

export type SeccompAction =
  | 'SCMP_ACT_KILL'
  | 'SCMP_ACT_KILL_PROCESS'
  | 'SCMP_ACT_KILL_THREAD'
  | 'SCMP_ACT_TRAP'
  | 'SCMP_ACT_ERRNO'
  | 'SCMP_ACT_TRACE'
  | 'SCMP_ACT_ALLOW'
  | 'SCMP_ACT_LOG'
  | 'SCMP_ACT_NOTIFY';

export type SeccompOperator =
  | 'SCMP_CMP_NE'
  | 'SCMP_CMP_LT'
  | 'SCMP_CMP_LE'
  | 'SCMP_CMP_EQ'
  | 'SCMP_CMP_GE'
  | 'SCMP_CMP_GT'
  | 'SCMP_CMP_MASKED_EQ';

export interface SeccompArg {
  index: number;
  value: Int64;
  valueTwo?: Int64;
  op: SeccompOperator;
}

export interface SeccompSyscall {
  names: string[];
  action: SeccompAction;
  errnoRet?: number;
  args?: SeccompArg[];
}

export interface Seccomp {
  defaultAction: SeccompAction;
  defaultErrnoRet?: number;
  /** SCMP_ARCH_* names. */
  architectures?: string[];
  /** SECCOMP_FILTER_FLAG_* names. */
  flags?: string[];
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls?: SeccompSyscall[];
}

// ---------------------------------------------------------------------------
// state (what `state <id>` prints)
// ---------------------------------------------------------------------------

export type ContainerStatus = 'creating' | 'created' | 'running' | 'stopped' | 'paused';

export interface State {
  ociVersion: string;
  id: string;
  status: ContainerStatus;
  /** Present while the container process exists (created, running, paused). */
  pid?: number;
  /** Absolute path of the bundle directory. */
  bundle: string;
  annotations?: Record<string, string>;
}
