/**
 * The OCI `linux.resources` object as the cgroup drivers take it, plus the checks shared by
 * the v1 and v2 mappings.
 *
 */
import { BerthError } from '../common/index.ts';

// The OCI types are the one model of `linux.resources`: the drivers take a validated
// config's resources as they are.
export type {
  Int64,
  DeviceCgroupRule as DeviceRule,
  MemoryResources,
  CpuResources,
  WeightDevice,
  ThrottleDevice,
  BlockIoResources,
  HugepageLimit,
  NetworkResources,
  PidsResources,
  RdmaLimit,
  Resources as CgroupResources,
} from '../oci/index.ts';
import type { BlockIoResources, Int64, MemoryResources, Resources as CgroupResources } from '../oci/index.ts';

/**
 * A part of `linux.resources` served by one controller. Names are the cgroup v2 controller
 * names, plus the v1-only ones; on v1, `io` is the `blkio` controller.
 */
export type ResourceSection =
  | 'memory'
  | 'cpu'
  | 'cpuset'
  | 'pids'
  | 'io'
  | 'hugetlb'
  | 'net_cls'
  | 'net_prio'
  | 'devices'
  | 'rdma'
  | 'unified';

/** One write of one value into one control file of the container's cgroup. */
export interface ControlWrite {
  /** The section (controller) whose directory holds the file. */
  section: ResourceSection;
  /** File name inside the cgroup directory, e.g. "memory.limit_in_bytes". */
  file: string;
  value: string;
  /** The OCI field this value comes from, for error messages. */
  field: string;
  /**
   * The kernel may refuse this write (EINVAL) only because of a value written later in the
   * same batch (cpu period vs quota, burst vs quota): retry it once after the others.
   */
  isRetriedAfterEinval?: boolean;
}

/** A requested setting that the driver accepted but could not put in force. */
export interface Unenforced {
  field: string;
  reason: string;
}

/** The sections that a resources object actually sets (absent values set nothing). */
export function sectionsOf(resources: CgroupResources): ResourceSection[] {
  const out: ResourceSection[] = [];
  const { memory, cpu, blockIO, network } = resources;
  if (memory && hasAny(memory, ['limit', 'reservation', 'swap', 'kernelTCP', 'swappiness', 'disableOOMKiller', 'useHierarchy'])) {
    out.push('memory');
  }
  if (cpu && hasAny(cpu, ['shares', 'quota', 'burst', 'period', 'realtimeRuntime', 'realtimePeriod', 'idle'])) out.push('cpu');
  if (cpu && hasAny(cpu, ['cpus', 'mems'])) out.push('cpuset');
  if (resources.pids && resources.pids.limit != null) out.push('pids');
  if (blockIO && isBlockIoSet(blockIO)) out.push('io');
  if (resources.hugepageLimits && resources.hugepageLimits.length > 0) out.push('hugetlb');
  if (network && network.classID != null) out.push('net_cls');
  if (network && network.priorities && network.priorities.length > 0) out.push('net_prio');
  if (resources.devices) out.push('devices');
  if (resources.rdma && Object.keys(resources.rdma).length > 0) out.push('rdma');
  if (resources.unified && Object.keys(resources.unified).length > 0) out.push('unified');
  return out;
}

function hasAny(object: object, keys: string[]): boolean {
  const record = object as Record<string, unknown>;
  return keys.some((key) => record[key] != null && record[key] !== '');
}

function isBlockIoSet(blockIO: BlockIoResources): boolean {
  return (
    blockIO.weight != null ||
    blockIO.leafWeight != null ||
    [
      blockIO.weightDevice,
      blockIO.throttleReadBpsDevice,
      blockIO.throttleWriteBpsDevice,
      blockIO.throttleReadIOPSDevice,
      blockIO.throttleWriteIOPSDevice,
    ].some((list) => list !== undefined && list.length > 0)
  );
}

/** The v1 controller (hierarchy) serving a section. */
export function v1ControllerOf(section: ResourceSection): string {
  return section === 'io' ? 'blkio' : section;
}

export function invalid(field: string, message: string, hint?: string): BerthError {
  return new BerthError('INVALID_ARGUMENT', `${field} ${message}`, hint === undefined ? {} : { hint });
}

/** An OCI integer as a bigint, checked against bounds; throws INVALID_ARGUMENT naming the field. */
export function toInt(value: unknown, field: string, bounds: { min?: bigint; max?: bigint } = {}): bigint {
  let n: bigint;
  if (typeof value === 'bigint') n = value;
  else if (typeof value === 'number' && Number.isInteger(value)) n = BigInt(value);
  else throw invalid(field, `must be an integer (got ${describe(value)})`);
  if (bounds.min !== undefined && n < bounds.min) throw invalid(field, `must be at least ${bounds.min} (got ${n})`);
  if (bounds.max !== undefined && n > bounds.max) throw invalid(field, `must be at most ${bounds.max} (got ${n})`);
  return n;
}

export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return value.toString();
  return String(JSON.stringify(value) ?? value);
}

/** Major/minor device numbers of blockIO entries. */
export function deviceNumbers(entry: { major: Int64; minor: Int64 }, field: string): string {
  const major = toInt(entry.major, `${field}.major`, { min: 0n });
  const minor = toInt(entry.minor, `${field}.minor`, { min: 0n });
  return `${major}:${minor}`;
}

/** OCI hugepage size ("2MB", "1GB", "64KB") checked for the control file name. */
export function hugepageSize(pageSize: unknown, field: string): string {
  if (typeof pageSize !== 'string' || !/^[1-9][0-9]*[KMG]B$/.test(pageSize)) {
    throw invalid(field, `must be a size like "2MB" or "1GB" (got ${describe(pageSize)})`);
  }
  return pageSize;
}

/** A cpuset list ("0-3,5") checked for shape; the kernel checks the CPUs exist. */
export function cpusetList(value: unknown, field: string): string {
  if (typeof value !== 'string' || !/^\s*(\d+(-\d+)?)(\s*,\s*\d+(-\d+)?)*\s*$/.test(value)) {
    throw invalid(field, `must be a list like "0-3,5" (got ${describe(value)})`);
  }
  return value.replace(/\s+/g, '');
}

/** rdma.max lines ("mlx5_1 hca_handle=3 hca_object=10000"); the same on v1 and v2. */
export function rdmaWrites(resources: CgroupResources): ControlWrite[] {
  const out: ControlWrite[] = [];
  for (const [device, limit] of Object.entries(resources.rdma ?? {})) {
    const field = `linux.resources.rdma[${JSON.stringify(device)}]`;
    if (!/^[^\s/]+$/.test(device)) throw invalid(field, 'must be keyed by an RDMA device name');
    const parts = [device];
    if (limit.hcaHandles != null) parts.push(`hca_handle=${toInt(limit.hcaHandles, `${field}.hcaHandles`, { min: 0n })}`);
    if (limit.hcaObjects != null) parts.push(`hca_object=${toInt(limit.hcaObjects, `${field}.hcaObjects`, { min: 0n })}`);
    if (parts.length > 1) out.push({ section: 'rdma', file: 'rdma.max', value: parts.join(' '), field });
  }
  return out;
}

/**
 * OCI memory.checkBeforeUpdate: refuse a new limit below what the cgroup already uses,
 * instead of letting the kernel reclaim or OOM-kill to reach it.
 */
export function checkBeforeUpdate(memory: MemoryResources, limit: bigint | undefined, usage: bigint | undefined): void {
  if (memory.checkBeforeUpdate !== true || limit === undefined || limit <= 0n || usage === undefined) return;
  if (usage > limit) {
    throw new BerthError('FAILED_PRECONDITION', `linux.resources.memory.limit (${limit}) is below the memory the cgroup uses now (${usage})`, {
      hint: 'raise the limit, or unset memory.checkBeforeUpdate to let the kernel reclaim',
    });
  }
}
