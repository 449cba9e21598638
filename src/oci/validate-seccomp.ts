import { BerthError } from '../common/index.ts';
import { arrayOf, child, fail, item, object, oneOf, optional, required, string, stringArray, uint32, uint64 } from './field-checks.ts';
import {
  SECCOMP_ACTIONS,
  SECCOMP_ACTIONS_WITH_ERRNO,
  SECCOMP_ARCHITECTURES,
  SECCOMP_FLAGS,
  SECCOMP_OPERATORS,
} from './seccomp-tables.ts';
import type { RuntimeConfig, Seccomp, SeccompAction, SeccompSyscall } from './types.ts';

/** Most syscall arguments a rule may compare (syscalls take six). */
const MAX_ARG_INDEX = 5;

const action = oneOf(SECCOMP_ACTIONS, 'seccomp action');

/** Check `linux.seccomp` (all but the syscall names, which need a table: see validateSeccompSyscallNames). */
export function checkSeccomp(value: unknown, path: string): Seccomp {
  const seccomp = object(value, path);
  const defaultAction = required(seccomp, 'defaultAction', path, action, 'e.g. "SCMP_ACT_ERRNO" or "SCMP_ACT_ALLOW"');
  if (defaultAction === 'SCMP_ACT_NOTIFY') {
    fail(child(path, 'defaultAction'), 'SCMP_ACT_NOTIFY cannot be the default action', 'use it for chosen syscalls only');
  }
  const defaultErrnoRet = optional(seccomp, 'defaultErrnoRet', path, uint32);
  if (defaultErrnoRet !== undefined) checkErrnoAllowed(defaultAction, child(path, 'defaultErrnoRet'), 'defaultAction');

  optional(seccomp, 'architectures', path, arrayOf(oneOf(Object.keys(SECCOMP_ARCHITECTURES), 'seccomp architecture')));
  optional(seccomp, 'flags', path, arrayOf(oneOf(Object.keys(SECCOMP_FLAGS), 'seccomp flag')));
  const listenerPath = optional(seccomp, 'listenerPath', path, string);
  optional(seccomp, 'listenerMetadata', path, string);

  const syscalls = optional(seccomp, 'syscalls', path, arrayOf(syscall)) ?? [];
  const notifyAt = syscalls.findIndex((rule) => rule.action === 'SCMP_ACT_NOTIFY');
  if (notifyAt >= 0 && (listenerPath === undefined || listenerPath === '')) {
    fail(
      `${item(child(path, 'syscalls'), notifyAt)}.action`,
      'SCMP_ACT_NOTIFY needs linux.seccomp.listenerPath',
      'set listenerPath to the seccomp agent\'s unix socket',
    );
  }
  return seccomp as unknown as Seccomp;
}

function checkErrnoAllowed(act: SeccompAction, path: string, actionField: string): void {
  if (!SECCOMP_ACTIONS_WITH_ERRNO.includes(act)) {
    fail(path, `only applies to ${SECCOMP_ACTIONS_WITH_ERRNO.join(' and ')}, but ${actionField} is ${act}`);
  }
}

function syscall(value: unknown, path: string): SeccompSyscall {
  const rule = object(value, path);
  const names = required(rule, 'names', path, stringArray);
  if (names.length === 0) fail(child(path, 'names'), 'is empty: name at least one syscall');
  names.forEach((name, i) => {
    if (name === '') fail(item(child(path, 'names'), i), 'is an empty syscall name');
  });
  const act = required(rule, 'action', path, action);
  const errnoRet = optional(rule, 'errnoRet', path, uint32);
  if (errnoRet !== undefined) checkErrnoAllowed(act, child(path, 'errnoRet'), 'action');
  optional(rule, 'args', path, arrayOf(syscallArg));
  return rule as unknown as SeccompSyscall;
}

function syscallArg(value: unknown, path: string) {
  const arg = object(value, path);
  required(arg, 'index', path, (v, p) => {
    const index = uint32(v, p);
    if (index > MAX_ARG_INDEX) fail(p, `syscalls have 6 arguments (0 to 5), got ${index}`);
    return index;
  });
  required(arg, 'value', path, uint64);
  optional(arg, 'valueTwo', path, uint64);
  required(arg, 'op', path, oneOf(SECCOMP_OPERATORS, 'seccomp operator'));
  return arg;
}

/** One syscall name the table does not know, with where it is. */
export interface UnknownSyscallName {
  path: string;
  name: string;
}

/**
 * Every syscall name of `linux.seccomp.syscalls` that `knownNames` lacks. runc (through
 * libseccomp) skips such names silently, because profiles such as Docker's default one name
 * syscalls of newer kernels and other architectures; callers that want that behaviour
 * can warn about these instead of calling validateSeccompSyscallNames.
 */
export function findUnknownSeccompSyscallNames(config: RuntimeConfig, knownNames: ReadonlySet<string>): UnknownSyscallName[] {
  const unknown: UnknownSyscallName[] = [];
  const syscalls = config.linux?.seccomp?.syscalls ?? [];
  syscalls.forEach((rule, i) => {
    rule.names.forEach((name, j) => {
      if (!knownNames.has(name)) unknown.push({ path: `linux.seccomp.syscalls[${i}].names[${j}]`, name });
    });
  });
  return unknown;
}

/**
 * Throw INVALID_ARGUMENT for the first syscall name `knownNames` lacks:
 * `invalid config.json: linux.seccomp.syscalls[2].names[0]: unknown syscall "notasyscall"`.
 */
export function validateSeccompSyscallNames(config: RuntimeConfig, knownNames: ReadonlySet<string>, source = 'config.json'): void {
  const [first] = findUnknownSeccompSyscallNames(config, knownNames);
  if (first !== undefined) {
    throw new BerthError('INVALID_ARGUMENT', `invalid ${source}: ${first.path}: unknown syscall ${JSON.stringify(first.name)}`, {
      hint: 'check the spelling, or drop syscalls this kernel does not have',
    });
  }
}
