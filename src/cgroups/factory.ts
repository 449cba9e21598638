/**
 * The driver for a detected layout: v2 → V2Driver; v1 → V1Driver; hybrid → V1Driver, which
 * also drives the controllers the kernel bound to the cgroup2 mount (when there are any).
 */
import { BerthError } from '../common/index.ts';
import type { CgroupDriver } from './driver.ts';
import type { CgroupLayout } from './layout.ts';
import { V1Driver } from './v1.ts';
import { V2Driver } from './v2.ts';
import type { DeviceFilterSyscalls } from './ebpf-devices.ts';

export interface CreateDriverOptions {
  /** bpf(2) calls for the cgroup v2 device filter (src/native/bpf.ts); none: not enforced. */
  bpf?: DeviceFilterSyscalls | undefined;
}

export function createCgroupDriver(layout: CgroupLayout, options: CreateDriverOptions = {}): CgroupDriver {
  if (layout.kind === 'v2') {
    if (layout.v2Dir === undefined) throw new BerthError('INVALID_ARGUMENT', 'a cgroup v2 layout needs v2Dir');
    return new V2Driver({ root: layout.v2Dir, ...(options.bpf ? { bpf: options.bpf } : {}) });
  }
  const unified = layout.kind === 'hybrid' && layout.v2Dir !== undefined ? { dir: layout.v2Dir, controllers: layout.v2Controllers } : undefined;
  return new V1Driver({ mounts: layout.v1Mounts, unified });
}
