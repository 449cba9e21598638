/**
 * The driver for a detected layout: v2 → V2Driver; v1 → V1Driver; hybrid → V1Driver, which
 * also drives the controllers the kernel bound to the cgroup2 mount (when there are any).
 */
import { BerthError } from '../common/index.ts';
import type { CgroupDriver } from './driver.ts';
import type { CgroupLayout } from './layout.ts';
import { V1Driver } from './v1.ts';
import { V2Driver } from './v2.ts';

export function createCgroupDriver(layout: CgroupLayout): CgroupDriver {
  if (layout.kind === 'v2') {
    if (layout.v2Dir === undefined) throw new BerthError('INVALID_ARGUMENT', 'a cgroup v2 layout needs v2Dir');
    return new V2Driver({ root: layout.v2Dir });
  }
  const unified = layout.kind === 'hybrid' && layout.v2Dir !== undefined ? { dir: layout.v2Dir, controllers: layout.v2Controllers } : undefined;
  return new V1Driver({ mounts: layout.v1Mounts, unified });
}
