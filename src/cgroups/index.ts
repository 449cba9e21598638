/**
 * berth's cgroups: layout detection, one driver interface with v1 and v2 implementations,
 * the OCI resources mapping, device rules and stats.
 */
export { detectCgroupLayout, parseMountinfo, CGROUP2_SUPER_MAGIC, CGROUP_SUPER_MAGIC, TMPFS_MAGIC } from './layout.ts';
export type { CgroupLayout, DetectLayoutOptions } from './layout.ts';
export type {
  ApplyResult,
  BlkioEntry,
  CgroupDriver,
  CgroupHandle,
  CgroupStats,
  CpuThrottling,
  CpuUsage,
  MemoryUsage,
  WatchOomOptions,
} from './driver.ts';
export type {
  BlockIoResources,
  CgroupResources,
  ControlWrite,
  CpuResources,
  DeviceRule,
  HugepageLimit,
  MemoryResources,
  NetworkResources,
  PidsResources,
  RdmaLimit,
  ResourceSection,
  ThrottleDevice,
  Unenforced,
  WeightDevice,
} from './resources.ts';
export { normalizeCgroupPath } from './paths.ts';
export { V1Driver } from './v1.ts';
export type { V1DriverOptions } from './v1.ts';
export { V2Driver } from './v2.ts';
export type { V2DriverOptions } from './v2.ts';
export { createCgroupDriver, type CreateDriverOptions } from './factory.ts';
export { compileDeviceRules, DEFAULT_DEVICE_RULES, formatDeviceRule } from './devices.ts';
export type { CompiledDeviceRules, DeviceRuleEntry } from './devices.ts';
export { compileV1 } from './resources-v1.ts';
export type { V1Probe } from './resources-v1.ts';
export { compileV2, cpuSharesToWeight, memorySwapToV2, blkioWeightToIoWeight } from './resources-v2.ts';
export type { V2Probe } from './resources-v2.ts';
export { attachDeviceFilter, compileDeviceFilter } from './ebpf-devices.ts';
export type { DeviceFilterSyscalls } from './ebpf-devices.ts';
