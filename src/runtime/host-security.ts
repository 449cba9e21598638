/**
 * The host's Linux security modules, as far as a container's process labels go: AppArmor
 * profiles are applied (on exec, as runc does); SELinux labels are refused, and so is anything
 * asked of a module the host does not run: never silently ignored.
 */
import { existsSync, readFileSync } from 'node:fs';
import { BerthError } from '../common/index.ts';

export interface HostSecurity {
  /** Where a process asks for its AppArmor profile on exec; undefined without AppArmor. */
  appArmorExecAttr?: string | undefined;
  selinux: boolean;
}

let cached: HostSecurity | undefined;

export function hostSecurity(): HostSecurity {
  if (cached) return cached;
  let appArmor = false;
  try {
    appArmor = readFileSync('/sys/module/apparmor/parameters/enabled', 'utf8').trim().startsWith('Y');
  } catch {
    // no AppArmor module
  }
  return (cached = {
    appArmorExecAttr: appArmor ? (existsSync('/proc/self/attr/apparmor/exec') ? '/proc/self/attr/apparmor/exec' : '/proc/self/attr/exec') : undefined,
    selinux: existsSync('/sys/fs/selinux/enforce'),
  });
}

/** Refuses labels this host (or berth) cannot apply, naming the field. */
export function checkLabels(fields: { selinuxLabel?: string | undefined; mountLabel?: string | undefined; apparmorProfile?: string | undefined }, host: HostSecurity, where: string): void {
  for (const [name, value] of [['selinuxLabel', fields.selinuxLabel], ['mountLabel', fields.mountLabel]] as const) {
    if (!value) continue;
    const field = name === 'mountLabel' ? 'linux.mountLabel' : `${where}.selinuxLabel`;
    if (!host.selinux) throw new BerthError('FAILED_PRECONDITION', `${field} is set but SELinux is not enabled on this host`, { hint: `remove ${field} from the configuration` });
    throw new BerthError('NOT_IMPLEMENTED', `${field}: SELinux labels are not supported by berth-runtime yet`);
  }
  if (fields.apparmorProfile && !host.appArmorExecAttr) {
    throw new BerthError('FAILED_PRECONDITION', `${where}.apparmorProfile is set but AppArmor is not enabled on this host`, {
      hint: `remove ${where}.apparmorProfile from the configuration`,
    });
  }
}
