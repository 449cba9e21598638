/**
 * OCI `linux.resources` → cgroup v2 control file writes.
 *
 * The OCI resources were designed for cgroup v1; the conversions below (cpu shares → weight,
 * memory+swap → swap, blkio weight → io weight) are the ones runc and crun use, so a
 * container gets the same limits under berth as under them.
 */
import { BerthError } from '../common/index.ts';
import { compileDeviceRules } from './devices.ts';
import type { CompiledDeviceRules } from './devices.ts';
import { checkBeforeUpdate, cpusetList, deviceNumbers, hugepageSize, invalid, rdmaWrites, toInt } from './resources.ts';
import type { CgroupResources, ControlWrite, ResourceSection, ThrottleDevice, Unenforced } from './resources.ts';

/** What the v2 mapping needs to know about the cgroup as it is now. */
export interface V2Probe {
  /** memory.max now ("max" → undefined), used when swap is updated without a limit. */
  memoryMax?: bigint;
  /** memory.current now, for memory.checkBeforeUpdate. */
  memoryUsage?: bigint;
  /** memory.swap.max exists (the kernel accounts swap). */
  hasSwapMax: boolean;
  /** cpu.max now, e.g. "max 100000", to keep the quota when only the period changes. */
  cpuMax?: string;
  /** io.bfq.weight exists (the BFQ scheduler is loaded); preferred as runc and crun do. */
  hasBfqWeight: boolean;
  /** io.weight exists (blk-iocost). */
  hasIoWeight: boolean;
}

export const DEFAULT_V2_PROBE: V2Probe = { hasSwapMax: true, hasBfqWeight: false, hasIoWeight: true };

const INT64_MAX = 0x7fffffffffffffffn;

export interface CompiledV2 {
  writes: ControlWrite[];
  unenforced: Unenforced[];
  /** The device rules an eBPF program must enforce (not attached yet: see devices.ts). */
  deviceRules?: CompiledDeviceRules;
}

/**
 * cgroup v1 cpu.shares [2, 262144] (default 1024) → cgroup v2 cpu.weight [1, 10000] (default 100).
 *
 * The quadratic formula of runc ≥ 1.3.2 / opencontainers/cgroups `ConvertCPUSharesToCgroupV2Value`
 * (https://github.com/opencontainers/runc/pull/4785) and crun ≥ 1.23
 * (https://github.com/containers/crun/issues/1721), which maps min, default and max onto each
 * other (2 → 1, 1024 → 100, 262144 → 10000):
 *
 *   l = log2(shares);  weight = ceil(10 ^ ((l² + 125·l) / 612 − 7/34))
 *
 * It replaced the linear `1 + ((shares − 2) · 9999) / 262142`, which mapped the default
 * 1024 shares to weight 39. 0 means "unset" and gives 0 (nothing is written).
 */
export function cpuSharesToWeight(shares: number | bigint): number {
  const n = Number(shares);
  if (n === 0) return 0;
  if (n <= 2) return 1;
  if (n >= 262144) return 10000;
  const l = Math.log2(n);
  const exponent = (l * l + 125 * l) / 612 - 7 / 34;
  return Math.ceil(Math.pow(10, exponent));
}

/** blkio weight [10, 1000] → io.weight [1, 10000] (runc `ConvertBlkIOToIOWeightValue`). */
export function blkioWeightToIoWeight(weight: number | bigint): number {
  const n = BigInt(weight);
  if (n === 0n) return 0;
  return Number(1n + ((n - 10n) * 9999n) / 990n);
}

/**
 * OCI memory.swap is memory+swap (the v1 meaning); v2's memory.swap.max is swap alone.
 * Same rules as runc's `ConvertMemorySwapToCgroupV2Value`: -1 stays unlimited, 0 stays unset,
 * unlimited memory with no swap given means unlimited swap. Returns -1n for "max".
 */
export function memorySwapToV2(swap: bigint | undefined, limit: bigint | undefined): bigint | undefined {
  if (limit === -1n && swap === undefined) return -1n;
  if (swap === undefined || swap === -1n) return swap;
  if (limit === undefined || limit === -1n) {
    throw invalid('linux.resources.memory.swap', 'cannot be limited without a memory limit (linux.resources.memory.limit)');
  }
  if (swap < limit) {
    throw invalid('linux.resources.memory.swap', `(memory+swap, ${swap}) must be at least linux.resources.memory.limit (${limit})`);
  }
  return swap - limit;
}

const v2Int = (n: bigint): string => (n < 0n ? 'max' : String(n));

function w(section: ResourceSection, file: string, value: string, field: string): ControlWrite {
  return { section, file, value, field };
}

/** A memory amount: -1 = unlimited, else > 0; 0 means "not set" (as runc). */
function amount(value: unknown, field: string): bigint | undefined {
  if (value == null) return undefined;
  const n = toInt(value, field, { min: -1n, max: INT64_MAX });
  return n === 0n ? undefined : n;
}

function notOnV2(field: string, why: string): BerthError {
  return invalid(field, `is not supported on cgroup v2 (${why})`, `remove ${field} from the configuration`);
}

/** The writes for the given sections (all sections of `resources` by default). */
export function compileV2(resources: CgroupResources, probe: V2Probe, sections?: readonly ResourceSection[]): CompiledV2 {
  const writes: ControlWrite[] = [];
  const unenforced: Unenforced[] = [];
  const isWanted = (section: ResourceSection) => sections === undefined || sections.includes(section);
  const result: CompiledV2 = { writes, unenforced };
  if (isWanted('memory')) writes.push(...memoryWrites(resources, probe, unenforced));
  if (isWanted('cpu')) writes.push(...cpuWrites(resources, probe));
  if (isWanted('cpuset')) {
    const cpu = resources.cpu;
    if (cpu?.cpus) writes.push(w('cpuset', 'cpuset.cpus', cpusetList(cpu.cpus, 'linux.resources.cpu.cpus'), 'linux.resources.cpu.cpus'));
    if (cpu?.mems) writes.push(w('cpuset', 'cpuset.mems', cpusetList(cpu.mems, 'linux.resources.cpu.mems'), 'linux.resources.cpu.mems'));
  }
  if (isWanted('pids') && resources.pids && resources.pids.limit != null) {
    const limit = toInt(resources.pids.limit, 'linux.resources.pids.limit', { min: -1n });
    // 0 is "not set", as runc reads it (a new cgroup has no limit); below 0 is "max"
    if (limit !== 0n) writes.push(w('pids', 'pids.max', v2Int(limit), 'linux.resources.pids.limit'));
  }
  if (isWanted('io')) writes.push(...ioWrites(resources, probe));
  if (isWanted('hugetlb')) {
    (resources.hugepageLimits ?? []).forEach((entry, i) => {
      const field = `linux.resources.hugepageLimits[${i}]`;
      const size = hugepageSize(entry.pageSize, `${field}.pageSize`);
      writes.push(w('hugetlb', `hugetlb.${size}.max`, v2Int(toInt(entry.limit, `${field}.limit`, { min: -1n })), `${field}.limit`));
    });
  }
  if (isWanted('net_cls') && resources.network?.classID != null) {
    throw notOnV2('linux.resources.network.classID', 'net_cls is a cgroup v1 controller; match the cgroup path in nftables instead');
  }
  if (isWanted('net_prio') && (resources.network?.priorities ?? []).length > 0) {
    throw notOnV2('linux.resources.network.priorities', 'net_prio is a cgroup v1 controller');
  }
  if (isWanted('devices') && resources.devices) {
    result.deviceRules = compileDeviceRules(resources.devices);
    unenforced.push({
      field: 'linux.resources.devices',
      reason: 'cgroup v2 device rules need a BPF_CGROUP_DEVICE program, and this driver was given no bpf(2) calls to attach one (rootless?): device access is not restricted by the cgroup',
    });
  }
  if (isWanted('rdma')) writes.push(...rdmaWrites(resources));
  if (isWanted('unified')) writes.push(...unifiedWrites(resources.unified ?? {}));
  return result;
}

function memoryWrites(resources: CgroupResources, probe: V2Probe, unenforced: Unenforced[]): ControlWrite[] {
  const memory = resources.memory;
  if (!memory) return [];
  const out: ControlWrite[] = [];
  const limit = amount(memory.limit, 'linux.resources.memory.limit');
  checkBeforeUpdate(memory, limit, probe.memoryUsage);
  if (limit !== undefined) out.push(w('memory', 'memory.max', v2Int(limit), 'linux.resources.memory.limit'));
  const swapTotal = amount(memory.swap, 'linux.resources.memory.swap');
  const swap = memorySwapToV2(swapTotal, limit ?? (swapTotal === undefined ? undefined : (probe.memoryMax ?? -1n)));
  if (swap !== undefined) {
    if (probe.hasSwapMax) out.push(w('memory', 'memory.swap.max', v2Int(swap), 'linux.resources.memory.swap'));
    else if (swap !== -1n && swapTotal !== undefined) {
      throw invalid('linux.resources.memory.swap', 'cannot be set: this kernel does not account swap (no memory.swap.max)', 'leave memory.swap unset');
    }
  }
  const reservation = amount(memory.reservation, 'linux.resources.memory.reservation');
  if (reservation !== undefined) out.push(w('memory', 'memory.low', v2Int(reservation), 'linux.resources.memory.reservation'));
  if (memory.kernel != null) {
    unenforced.push({ field: 'linux.resources.memory.kernel', reason: 'kernel memory limits are deprecated by OCI and do not exist on cgroup v2' });
  }
  if (memory.kernelTCP != null) throw notOnV2('linux.resources.memory.kernelTCP', 'TCP buffer memory is part of memory.max');
  if (memory.swappiness != null) throw notOnV2('linux.resources.memory.swappiness', 'there is no per-cgroup swappiness');
  if (memory.disableOOMKiller === true) throw notOnV2('linux.resources.memory.disableOOMKiller', 'the OOM killer cannot be disabled per cgroup');
  if (memory.useHierarchy === false) throw notOnV2('linux.resources.memory.useHierarchy', 'accounting is always hierarchical');
  return out;
}

function cpuWrites(resources: CgroupResources, probe: V2Probe): ControlWrite[] {
  const cpu = resources.cpu;
  if (!cpu) return [];
  const out: ControlWrite[] = [];
  if (cpu.shares != null) {
    const shares = toInt(cpu.shares, 'linux.resources.cpu.shares', { min: 0n, max: 262144n });
    if (shares !== 0n) out.push(w('cpu', 'cpu.weight', String(cpuSharesToWeight(shares)), 'linux.resources.cpu.shares'));
  }
  const quota = cpu.quota == null ? undefined : toInt(cpu.quota, 'linux.resources.cpu.quota', { min: -1n });
  const period = cpu.period == null ? undefined : toInt(cpu.period, 'linux.resources.cpu.period', { min: 0n });
  const isQuotaSet = quota !== undefined && quota !== 0n;
  const isPeriodSet = period !== undefined && period !== 0n;
  if (isQuotaSet || isPeriodSet) {
    // "cpu.max" is "$QUOTA $PERIOD"; a lone "$QUOTA" keeps the period. With only a period,
    // keep the quota that is in force now.
    const currentQuota = probe.cpuMax?.trim().split(/\s+/)[0] || 'max';
    const quotaText = isQuotaSet ? v2Int(quota) : currentQuota;
    const field = isQuotaSet ? 'linux.resources.cpu.quota' : 'linux.resources.cpu.period';
    const write = w('cpu', 'cpu.max', isPeriodSet ? `${quotaText} ${period}` : quotaText, field);
    // A quota below the burst in force is refused until the new burst is written after it.
    if (cpu.burst != null) write.isRetriedAfterEinval = true;
    out.push(write);
  }
  if (cpu.burst != null) out.push(w('cpu', 'cpu.max.burst', String(toInt(cpu.burst, 'linux.resources.cpu.burst', { min: 0n })), 'linux.resources.cpu.burst'));
  if (cpu.idle != null) out.push(w('cpu', 'cpu.idle', String(toInt(cpu.idle, 'linux.resources.cpu.idle', { min: 0n, max: 1n })), 'linux.resources.cpu.idle'));
  for (const key of ['realtimeRuntime', 'realtimePeriod'] as const) {
    if (cpu[key] != null && toInt(cpu[key], `linux.resources.cpu.${key}`) !== 0n) {
      throw notOnV2(`linux.resources.cpu.${key}`, 'the cpu controller of cgroup v2 has no realtime bandwidth');
    }
  }
  return out;
}

function ioWrites(resources: CgroupResources, probe: V2Probe): ControlWrite[] {
  const blockIO = resources.blockIO;
  if (!blockIO) return [];
  const out: ControlWrite[] = [];
  const weightFile = (field: string): { file: string; convert: (weight: bigint) => string } => {
    if (probe.hasBfqWeight) return { file: 'io.bfq.weight', convert: String };
    if (probe.hasIoWeight) return { file: 'io.weight', convert: (weight) => String(blkioWeightToIoWeight(weight)) };
    throw new BerthError('FAILED_PRECONDITION', `${field} cannot be set: this kernel has neither io.bfq.weight nor io.weight`, {
      hint: 'use the BFQ I/O scheduler or enable blk-iocost, or leave the weights unset',
    });
  };
  if (blockIO.weight != null) {
    const weight = toInt(blockIO.weight, 'linux.resources.blockIO.weight', { min: 10n, max: 1000n });
    const { file, convert } = weightFile('linux.resources.blockIO.weight');
    out.push(w('io', file, convert(weight), 'linux.resources.blockIO.weight'));
  }
  if (blockIO.leafWeight != null) throw notOnV2('linux.resources.blockIO.leafWeight', 'leaf weights went away with the CFQ scheduler');
  (blockIO.weightDevice ?? []).forEach((entry, i) => {
    const field = `linux.resources.blockIO.weightDevice[${i}]`;
    if (entry.leafWeight != null) throw notOnV2(`${field}.leafWeight`, 'leaf weights went away with the CFQ scheduler');
    if (entry.weight == null) return;
    const weight = toInt(entry.weight, `${field}.weight`, { min: 10n, max: 1000n });
    const { file, convert } = weightFile(`${field}.weight`);
    out.push(w('io', file, `${deviceNumbers(entry, field)} ${convert(weight)}`, `${field}.weight`));
  });
  const throttle = (list: ThrottleDevice[] | undefined, key: string, name: string) => {
    (list ?? []).forEach((entry, i) => {
      const field = `linux.resources.blockIO.${name}[${i}]`;
      const rate = toInt(entry.rate, `${field}.rate`, { min: 0n });
      // A rate of 0 removes the limit on v1; "max" does that on v2.
      out.push(w('io', 'io.max', `${deviceNumbers(entry, field)} ${key}=${rate === 0n ? 'max' : rate}`, field));
    });
  };
  throttle(blockIO.throttleReadBpsDevice, 'rbps', 'throttleReadBpsDevice');
  throttle(blockIO.throttleWriteBpsDevice, 'wbps', 'throttleWriteBpsDevice');
  throttle(blockIO.throttleReadIOPSDevice, 'riops', 'throttleReadIOPSDevice');
  throttle(blockIO.throttleWriteIOPSDevice, 'wiops', 'throttleWriteIOPSDevice');
  return out;
}

/** Interface files of the cgroup core that `unified` must not reach (membership and lifecycle). */
const FORBIDDEN_UNIFIED = new Set(['cgroup.procs', 'cgroup.threads', 'cgroup.subtree_control', 'cgroup.kill', 'cgroup.freeze', 'cgroup.type', 'cgroup.events', 'cgroup.controllers']);

function unifiedWrites(unified: Record<string, string>): ControlWrite[] {
  const out: ControlWrite[] = [];
  for (const [key, value] of Object.entries(unified)) {
    const field = `linux.resources.unified[${JSON.stringify(key)}]`;
    if (!/^[a-z0-9_]+\.[a-z0-9_.]+$/.test(key) || key.includes('..')) {
      throw invalid(field, 'must name a cgroup v2 interface file such as "memory.high"');
    }
    if (FORBIDDEN_UNIFIED.has(key)) throw invalid(field, 'is managed by the runtime and cannot be set through unified');
    if (typeof value !== 'string') throw invalid(field, `must be a string (got ${JSON.stringify(value)})`);
    out.push(w('unified', key, value, field));
  }
  return out;
}

/** The v2 controller a write needs enabled, or undefined for core (cgroup.*) files. */
export function v2ControllerOf(write: ControlWrite): string | undefined {
  if (write.section !== 'unified') return write.section;
  const prefix = write.file.slice(0, write.file.indexOf('.'));
  return prefix === 'cgroup' ? undefined : prefix;
}
