/**
 * OCI `linux.resources` → cgroup v1 control file writes, in the order they must be made.
 *
 * Pure: what the kernel currently holds (the present memory limit, which optional files
 * exist) comes in as a probe, so the mapping can be tested without a kernel.
 */
import { deviceRuleWritesV1 } from './devices.ts';
import { checkBeforeUpdate, cpusetList, deviceNumbers, hugepageSize, invalid, rdmaWrites, toInt } from './resources.ts';
import type { CgroupResources, ControlWrite, ResourceSection, ThrottleDevice, Unenforced } from './resources.ts';

/** What the v1 mapping needs to know about the cgroup as it is now. */
export interface V1Probe {
  /** memory.limit_in_bytes now (to order the limit and memsw writes); undefined when unknown. */
  memoryLimit?: bigint;
  /** memory.memsw.limit_in_bytes exists (swap accounting is on). */
  hasMemsw: boolean;
  /** blkio.weight exists (CFQ era); else blkio.bfq.weight is used when it exists. */
  hasBlkioWeight: boolean;
  hasBfqWeight: boolean;
  /** memory.usage_in_bytes now, for memory.checkBeforeUpdate. */
  memoryUsage?: bigint;
}

export const DEFAULT_V1_PROBE: V1Probe = { hasMemsw: true, hasBlkioWeight: true, hasBfqWeight: false };

const INT64_MAX = 0x7fffffffffffffffn;

export interface CompiledV1 {
  writes: ControlWrite[];
  unenforced: Unenforced[];
}

/** The writes for the given sections (all sections of `resources` by default). */
export function compileV1(resources: CgroupResources, probe: V1Probe, sections?: readonly ResourceSection[]): CompiledV1 {
  const writes: ControlWrite[] = [];
  const unenforced: Unenforced[] = [];
  const isWanted = (section: ResourceSection) => sections === undefined || sections.includes(section);
  if (resources.unified && Object.keys(resources.unified).length > 0) {
    throw invalid('linux.resources.unified', 'invalid configuration: cannot be used on cgroup v1 (it holds cgroup v2 files)', 'remove linux.resources.unified or run on a cgroup v2 host');
  }
  if (isWanted('memory')) writes.push(...memoryWrites(resources, probe, unenforced));
  if (isWanted('cpu')) writes.push(...cpuWrites(resources));
  if (isWanted('cpuset')) writes.push(...cpusetWrites(resources));
  if (isWanted('pids') && resources.pids && resources.pids.limit != null) {
    const limit = toInt(resources.pids.limit, 'linux.resources.pids.limit', { min: -1n });
    // 0 is "not set", as runc reads it (a new cgroup has no limit); below 0 is "max"
    if (limit !== 0n) writes.push(w('pids', 'pids.max', limit < 0n ? 'max' : String(limit), 'linux.resources.pids.limit'));
  }
  if (isWanted('io')) writes.push(...blkioWrites(resources, probe));
  if (isWanted('hugetlb')) {
    (resources.hugepageLimits ?? []).forEach((entry, i) => {
      const field = `linux.resources.hugepageLimits[${i}]`;
      const size = hugepageSize(entry.pageSize, `${field}.pageSize`);
      const limit = toInt(entry.limit, `${field}.limit`, { min: -1n });
      writes.push(w('hugetlb', `hugetlb.${size}.limit_in_bytes`, String(limit), `${field}.limit`));
    });
  }
  if (isWanted('net_cls') && resources.network?.classID != null) {
    const classID = toInt(resources.network.classID, 'linux.resources.network.classID', { min: 0n, max: 0xffffffffn });
    writes.push(w('net_cls', 'net_cls.classid', String(classID), 'linux.resources.network.classID'));
  }
  if (isWanted('net_prio')) {
    (resources.network?.priorities ?? []).forEach((entry, i) => {
      const field = `linux.resources.network.priorities[${i}]`;
      if (typeof entry.name !== 'string' || !/^[^\s/]+$/.test(entry.name)) throw invalid(`${field}.name`, 'must be an interface name');
      const priority = toInt(entry.priority, `${field}.priority`, { min: 0n, max: 0xffffffffn });
      writes.push(w('net_prio', 'net_prio.ifpriomap', `${entry.name} ${priority}`, field));
    });
  }
  if (isWanted('devices') && resources.devices) {
    for (const write of deviceRuleWritesV1(resources.devices)) {
      const field = write.index < 0 ? 'linux.resources.devices' : `linux.resources.devices[${write.index}]`;
      writes.push(w('devices', write.file, write.value, field));
    }
  }
  if (isWanted('rdma')) writes.push(...rdmaWrites(resources));
  return { writes, unenforced };
}

function w(section: ResourceSection, file: string, value: string, field: string, isRetriedAfterEinval = false): ControlWrite {
  return isRetriedAfterEinval ? { section, file, value, field, isRetriedAfterEinval } : { section, file, value, field };
}

/** A memory amount: -1 = unlimited, else > 0; 0 means "not set" (as runc). */
function amount(value: unknown, field: string): bigint | undefined {
  if (value == null) return undefined;
  const n = toInt(value, field, { min: -1n, max: INT64_MAX });
  return n === 0n ? undefined : n;
}

function memoryWrites(resources: CgroupResources, probe: V1Probe, unenforced: Unenforced[]): ControlWrite[] {
  const memory = resources.memory;
  if (!memory) return [];
  const out: ControlWrite[] = [];
  const limit = amount(memory.limit, 'linux.resources.memory.limit');
  let swap = amount(memory.swap, 'linux.resources.memory.swap');
  if (limit !== undefined && limit > 0n && swap !== undefined && swap > 0n && swap < limit) {
    throw invalid('linux.resources.memory.swap', `(memory+swap, ${swap}) must be at least linux.resources.memory.limit (${limit})`);
  }
  if (limit === -1n && swap !== undefined && swap > 0n) {
    throw invalid('linux.resources.memory.swap', `(memory+swap, ${swap}) cannot be limited while memory is unlimited (limit -1)`);
  }
  // Unlimited memory with swap not given means unlimited memory+swap too (as runc).
  if (limit === -1n && swap === undefined && probe.hasMemsw) swap = -1n;
  if (swap !== undefined && !probe.hasMemsw) {
    if (swap === -1n || swap === limit) swap = undefined;
    else {
      throw invalid('linux.resources.memory.swap', 'cannot be set: this kernel does not account swap (no memory.memsw.limit_in_bytes)', 'boot with swapaccount=1, or leave memory.swap unset');
    }
  }
  checkBeforeUpdate(memory, limit, probe.memoryUsage);
  const limitWrite = limit === undefined ? undefined : w('memory', 'memory.limit_in_bytes', String(limit), 'linux.resources.memory.limit');
  const swapWrite = swap === undefined ? undefined : w('memory', 'memory.memsw.limit_in_bytes', String(swap), 'linux.resources.memory.swap');
  // The kernel keeps memsw >= limit at every instant: when memsw grows past the present limit,
  // write it first; otherwise write the limit first.
  const isSwapFirst = swap !== undefined && (swap === -1n || probe.memoryLimit === undefined || probe.memoryLimit < swap);
  if (isSwapFirst) out.push(...[swapWrite, limitWrite].filter((x) => x !== undefined));
  else out.push(...[limitWrite, swapWrite].filter((x) => x !== undefined));

  const reservation = amount(memory.reservation, 'linux.resources.memory.reservation');
  if (reservation !== undefined) out.push(w('memory', 'memory.soft_limit_in_bytes', String(reservation), 'linux.resources.memory.reservation'));
  if (memory.kernel != null) {
    unenforced.push({ field: 'linux.resources.memory.kernel', reason: 'kernel memory limits are deprecated by OCI and no longer supported by Linux (since 5.16)' });
  }
  const kernelTCP = amount(memory.kernelTCP, 'linux.resources.memory.kernelTCP');
  if (kernelTCP !== undefined) out.push(w('memory', 'memory.kmem.tcp.limit_in_bytes', String(kernelTCP), 'linux.resources.memory.kernelTCP'));
  if (memory.swappiness != null) {
    const swappiness = toInt(memory.swappiness, 'linux.resources.memory.swappiness', { min: 0n, max: 100n });
    out.push(w('memory', 'memory.swappiness', String(swappiness), 'linux.resources.memory.swappiness'));
  }
  if (memory.disableOOMKiller != null) {
    out.push(w('memory', 'memory.oom_control', memory.disableOOMKiller ? '1' : '0', 'linux.resources.memory.disableOOMKiller'));
  }
  if (memory.useHierarchy != null) {
    out.push(w('memory', 'memory.use_hierarchy', memory.useHierarchy ? '1' : '0', 'linux.resources.memory.useHierarchy'));
  }
  return out;
}

function cpuWrites(resources: CgroupResources): ControlWrite[] {
  const cpu = resources.cpu;
  if (!cpu) return [];
  const out: ControlWrite[] = [];
  if (cpu.shares != null) {
    const shares = toInt(cpu.shares, 'linux.resources.cpu.shares', { min: 0n, max: 262144n });
    if (shares !== 0n) out.push(w('cpu', 'cpu.shares', String(shares), 'linux.resources.cpu.shares'));
  }
  // Period first; it may be refused until the new quota is in (old quota / new period over the
  // parent's), so it is retried after the quota. Same for burst, which must stay <= quota.
  const period = cpu.period == null ? 0n : toInt(cpu.period, 'linux.resources.cpu.period', { min: 0n });
  if (period !== 0n) out.push(w('cpu', 'cpu.cfs_period_us', String(period), 'linux.resources.cpu.period', true));
  if (cpu.burst != null) {
    const burst = toInt(cpu.burst, 'linux.resources.cpu.burst', { min: 0n });
    out.push(w('cpu', 'cpu.cfs_burst_us', String(burst), 'linux.resources.cpu.burst', true));
  }
  if (cpu.quota != null) {
    const quota = toInt(cpu.quota, 'linux.resources.cpu.quota', { min: -1n });
    if (quota !== 0n) out.push(w('cpu', 'cpu.cfs_quota_us', String(quota < 0n ? -1n : quota), 'linux.resources.cpu.quota'));
  }
  if (cpu.realtimePeriod != null) {
    const rtPeriod = toInt(cpu.realtimePeriod, 'linux.resources.cpu.realtimePeriod', { min: 0n });
    if (rtPeriod !== 0n) out.push(w('cpu', 'cpu.rt_period_us', String(rtPeriod), 'linux.resources.cpu.realtimePeriod', true));
  }
  if (cpu.realtimeRuntime != null) {
    const rtRuntime = toInt(cpu.realtimeRuntime, 'linux.resources.cpu.realtimeRuntime', { min: -1n });
    if (rtRuntime !== 0n) out.push(w('cpu', 'cpu.rt_runtime_us', String(rtRuntime), 'linux.resources.cpu.realtimeRuntime'));
  }
  if (cpu.idle != null) {
    const idle = toInt(cpu.idle, 'linux.resources.cpu.idle', { min: 0n, max: 1n });
    out.push(w('cpu', 'cpu.idle', String(idle), 'linux.resources.cpu.idle'));
  }
  return out;
}

export function cpusetWrites(resources: CgroupResources): ControlWrite[] {
  const cpu = resources.cpu;
  const out: ControlWrite[] = [];
  if (cpu?.cpus) out.push(w('cpuset', 'cpuset.cpus', cpusetList(cpu.cpus, 'linux.resources.cpu.cpus'), 'linux.resources.cpu.cpus'));
  if (cpu?.mems) out.push(w('cpuset', 'cpuset.mems', cpusetList(cpu.mems, 'linux.resources.cpu.mems'), 'linux.resources.cpu.mems'));
  return out;
}

function blkioWrites(resources: CgroupResources, probe: V1Probe): ControlWrite[] {
  const blockIO = resources.blockIO;
  if (!blockIO) return [];
  const out: ControlWrite[] = [];
  const weightFile = probe.hasBlkioWeight ? 'blkio.weight' : probe.hasBfqWeight ? 'blkio.bfq.weight' : undefined;
  const needWeightFile = (field: string): string => {
    if (weightFile === undefined) {
      throw invalid(field, 'cannot be set: this kernel has neither blkio.weight nor blkio.bfq.weight', 'use the BFQ I/O scheduler, or leave the weights unset');
    }
    return weightFile;
  };
  if (blockIO.weight != null) {
    const weight = toInt(blockIO.weight, 'linux.resources.blockIO.weight', { min: 10n, max: 1000n });
    out.push(w('io', needWeightFile('linux.resources.blockIO.weight'), String(weight), 'linux.resources.blockIO.weight'));
  }
  if (blockIO.leafWeight != null) {
    throw invalid('linux.resources.blockIO.leafWeight', 'is not supported: Linux dropped leaf weights with the CFQ scheduler (5.0)');
  }
  (blockIO.weightDevice ?? []).forEach((entry, i) => {
    const field = `linux.resources.blockIO.weightDevice[${i}]`;
    if (entry.leafWeight != null) throw invalid(`${field}.leafWeight`, 'is not supported: Linux dropped leaf weights with the CFQ scheduler (5.0)');
    if (entry.weight == null) return;
    const weight = toInt(entry.weight, `${field}.weight`, { min: 10n, max: 1000n });
    out.push(w('io', `${needWeightFile(`${field}.weight`)}_device`, `${deviceNumbers(entry, field)} ${weight}`, `${field}.weight`));
  });
  const throttle = (list: ThrottleDevice[] | undefined, file: string, name: string) => {
    (list ?? []).forEach((entry, i) => {
      const field = `linux.resources.blockIO.${name}[${i}]`;
      const rate = toInt(entry.rate, `${field}.rate`, { min: 0n });
      out.push(w('io', file, `${deviceNumbers(entry, field)} ${rate}`, field));
    });
  };
  throttle(blockIO.throttleReadBpsDevice, 'blkio.throttle.read_bps_device', 'throttleReadBpsDevice');
  throttle(blockIO.throttleWriteBpsDevice, 'blkio.throttle.write_bps_device', 'throttleWriteBpsDevice');
  throttle(blockIO.throttleReadIOPSDevice, 'blkio.throttle.read_iops_device', 'throttleReadIOPSDevice');
  throttle(blockIO.throttleWriteIOPSDevice, 'blkio.throttle.write_iops_device', 'throttleWriteIOPSDevice');
  return out;
}
