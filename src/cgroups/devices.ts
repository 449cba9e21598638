/**
 * Device access rules (OCI `linux.resources.devices`).
 *
 * cgroup v1 enforces them itself through devices.deny / devices.allow. cgroup v2 has no
 * device files: access is decided by a BPF_CGROUP_DEVICE eBPF program attached to the
 * cgroup. `compileDeviceRules` computes the effective rule set that such a program must
 * implement, with the same semantics as the v1 kernel code (and runc's devices emulator).
 *
 * On v2 the driver attaches that program (ebpf-devices.ts) when it is given the bpf(2) calls;
 * without them (rootless) it does not restrict device access and says so: it reports
 * `linux.resources.devices` in `unenforced`.
 *
 * On both versions berth starts from "deny everything" and then applies the rules in order,
 * as runc does with the OCI default list.
 */
import { invalid, toInt } from './resources.ts';
import type { DeviceRule } from './resources.ts';

/** A rule with every field explicit: major/minor -1 mean any ("*"). */
export interface DeviceRuleEntry {
  allow: boolean;
  type: 'a' | 'c' | 'b';
  major: number;
  minor: number;
  access: string;
}

export interface CompiledDeviceRules {
  /** What happens to a device that no rule in `rules` matches. */
  defaultAllow: boolean;
  /**
   * Exceptions to the default: when `defaultAllow` is false these are the allow-list
   * (every entry has allow: true); when true, the deny-list. No two entries have the same
   * type/major/minor, so their order does not matter.
   */
  rules: DeviceRuleEntry[];
}

const rwm = (access: string, major: number, minor: number, type: 'c' | 'b'): DeviceRuleEntry => ({ allow: true, type, major, minor, access });

/** The OCI/runc default: deny everything, then allow mknod of any node and the usual devices. */
export const DEFAULT_DEVICE_RULES: readonly DeviceRule[] = Object.freeze([
  { allow: false, access: 'rwm' },
  rwm('m', -1, -1, 'c'),
  rwm('m', -1, -1, 'b'),
  rwm('rwm', 1, 3, 'c'), // /dev/null
  rwm('rwm', 1, 5, 'c'), // /dev/zero
  rwm('rwm', 1, 7, 'c'), // /dev/full
  rwm('rwm', 5, 0, 'c'), // /dev/tty
  rwm('rwm', 1, 8, 'c'), // /dev/random
  rwm('rwm', 1, 9, 'c'), // /dev/urandom
  rwm('rwm', 5, 1, 'c'), // /dev/console
  rwm('rwm', 5, 2, 'c'), // /dev/ptmx
  rwm('rwm', 136, -1, 'c'), // /dev/pts/*
]);

/** A rule with defaults filled in and checked; errors name `linux.resources.devices[i]`. */
export function normalizeDeviceRule(rule: DeviceRule, index: number): DeviceRuleEntry {
  const field = `linux.resources.devices[${index}]`;
  if (typeof rule !== 'object' || rule === null || typeof rule.allow !== 'boolean') {
    throw invalid(`${field}.allow`, 'must be true or false');
  }
  const type = rule.type ?? 'a';
  if (type !== 'a' && type !== 'c' && type !== 'b') throw invalid(`${field}.type`, `must be "a", "c" or "b" (got ${JSON.stringify(type)})`);
  const access = rule.access ?? 'rwm';
  // "a" is accepted and means nothing more (configs write "rwa"; runc and crun take them)
  if (typeof access !== 'string' || access === '' || !/^[rwma]+$/.test(access) || new Set(access).size !== access.length) {
    throw invalid(`${field}.access`, `must be some of "rwm" (got ${JSON.stringify(access)})`);
  }
  const number = (value: unknown, name: string): number => {
    if (value == null) return -1;
    return Number(toInt(value, `${field}.${name}`, { min: -1n, max: 0xffffffffn }));
  };
  return { allow: rule.allow, type, major: number(rule.major, 'major'), minor: number(rule.minor, 'minor'), access: sortAccess(access) };
}

/** The v1 text of a rule: "c 1:3 rwm", "a *:* rwm". */
export function formatDeviceRule(rule: DeviceRuleEntry): string {
  const n = (value: number) => (value < 0 ? '*' : String(value));
  return `${rule.type} ${n(rule.major)}:${n(rule.minor)} ${rule.access}`;
}

function sortAccess(access: string): string {
  return ['r', 'w', 'm'].filter((c) => access.includes(c)).join('');
}

function union(a: string, b: string): string {
  return sortAccess(a + b);
}

function difference(a: string, b: string): string {
  return [...a].filter((c) => !b.includes(c)).join('');
}

function intersects(a: string, b: string): boolean {
  return [...a].some((c) => b.includes(c));
}

const keyOf = (type: string, major: number, minor: number) => `${type} ${major}:${minor}`;

/**
 * The effective device rules after applying `rules` in order, starting from deny-all.
 * A rule of type "a" resets the default (allow or deny everything) and drops all exceptions.
 * Removing part of a wildcard exception (e.g. denying c 1:3 after allowing c 1:*) cannot be
 * expressed with v1 exceptions and is refused with INVALID_ARGUMENT rather than ignored.
 */
export function compileDeviceRules(rules: readonly DeviceRule[]): CompiledDeviceRules {
  let defaultAllow = false;
  const exceptions = new Map<string, DeviceRuleEntry>();
  rules.forEach((raw, index) => {
    const rule = normalizeDeviceRule(raw, index);
    if (rule.type === 'a') {
      defaultAllow = rule.allow;
      exceptions.clear();
      return;
    }
    // In allow-all mode exceptions are denials; in deny-all mode they are grants.
    const isGrowingExceptions = rule.allow !== defaultAllow;
    const key = keyOf(rule.type, rule.major, rule.minor);
    const wildcards = [keyOf(rule.type, -1, rule.minor), keyOf(rule.type, rule.major, -1), keyOf(rule.type, -1, -1)].filter(
      (wildcard) => wildcard !== key,
    );
    if (isGrowingExceptions) {
      const isCovered = wildcards.some((wildcard) => difference(rule.access, exceptions.get(wildcard)?.access ?? '') === '');
      if (isCovered) return;
      const existing = exceptions.get(key);
      exceptions.set(key, { ...rule, allow: !defaultAllow, access: union(existing?.access ?? '', rule.access) });
      return;
    }
    for (const wildcard of wildcards) {
      const partial = exceptions.get(wildcard);
      if (partial && intersects(partial.access, rule.access)) {
        throw invalid(
          `linux.resources.devices[${index}]`,
          `(${formatDeviceRule(rule)}, ${rule.allow ? 'allow' : 'deny'}) cannot carve an exception out of the earlier wildcard rule ${formatDeviceRule(partial)}`,
          'list the specific devices instead of the wildcard',
        );
      }
    }
    const existing = exceptions.get(key);
    if (!existing) return;
    const left = difference(existing.access, rule.access);
    if (left === '') exceptions.delete(key);
    else exceptions.set(key, { ...existing, access: left });
  });
  return { defaultAllow, rules: [...exceptions.values()] };
}

/**
 * The v1 writes for a rule list: "a" to devices.deny first, then every rule in order
 * (allow → devices.allow, deny → devices.deny). Rules are checked with compileDeviceRules
 * first, so v1 refuses exactly what v2 would refuse.
 */
export function deviceRuleWritesV1(rules: readonly DeviceRule[]): Array<{ file: 'devices.allow' | 'devices.deny'; value: string; index: number }> {
  compileDeviceRules(rules);
  const writes: Array<{ file: 'devices.allow' | 'devices.deny'; value: string; index: number }> = [
    { file: 'devices.deny', value: 'a', index: -1 },
  ];
  rules.forEach((raw, index) => {
    const rule = normalizeDeviceRule(raw, index);
    writes.push({ file: rule.allow ? 'devices.allow' : 'devices.deny', value: formatDeviceRule(rule), index });
  });
  return writes;
}
