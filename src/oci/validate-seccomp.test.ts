import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BerthError } from '../common/index.ts';
import { fullConfig } from './config-fixture.ts';
import type { RuntimeConfig } from './types.ts';
import { findUnknownSeccompSyscallNames, validateSeccompSyscallNames } from './validate-seccomp.ts';
import { validateRuntimeConfig } from './validate.ts';
import { assertRejected, variant, type Loose } from './validate-assert.ts';

const withSeccomp = (seccomp: Loose) => variant((c) => (c['linux'] = { seccomp }));
const allow = (...names: string[]) => ({ names, action: 'SCMP_ACT_ALLOW' });

describe('validateRuntimeConfig linux.seccomp', () => {
  it('accepts every action, operator, flag and architecture of runtime-spec 1.2', () => {
    const config = withSeccomp({
      defaultAction: 'SCMP_ACT_KILL_PROCESS',
      architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_AARCH64', 'SCMP_ARCH_RISCV64', 'SCMP_ARCH_PARISC64', 'SCMP_ARCH_LOONGARCH64'],
      flags: ['SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW', 'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV'],
      listenerPath: '/run/agent.sock',
      listenerMetadata: 'web',
      syscalls: [
        ...['SCMP_ACT_KILL', 'SCMP_ACT_KILL_THREAD', 'SCMP_ACT_TRAP', 'SCMP_ACT_ALLOW', 'SCMP_ACT_LOG', 'SCMP_ACT_NOTIFY'].map((action) => ({ names: ['getpid'], action })),
        { names: ['ptrace'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 },
        { names: ['ptrace'], action: 'SCMP_ACT_TRACE', errnoRet: 2 },
        {
          names: ['socket'],
          action: 'SCMP_ACT_ALLOW',
          args: ['SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_MASKED_EQ'].map((op, i) => ({ index: i % 6, value: 1, valueTwo: 1, op })),
        },
      ],
    });
    assert.doesNotThrow(() => validateRuntimeConfig(config));
  });

  it('rejects an unknown default or rule action', () => {
    assertRejected(withSeccomp({ defaultAction: 'SCMP_ACT_DENY' }), 'linux.seccomp.defaultAction', 'unknown seccomp action "SCMP_ACT_DENY" (expected one of SCMP_ACT_KILL,');
    assertRejected(withSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [allow('read'), { names: ['x'], action: 'allow' }] }), 'linux.seccomp.syscalls[1].action', 'unknown seccomp action "allow"');
    assertRejected(withSeccomp({ syscalls: [allow('read')] }), 'linux.seccomp.defaultAction', 'is required');
  });

  it('rejects an unknown argument operator', () => {
    assertRejected(
      withSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['clone'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 1, op: 'SCMP_CMP_MATCH' }] }] }),
      'linux.seccomp.syscalls[0].args[0].op',
      'unknown seccomp operator "SCMP_CMP_MATCH"',
    );
    assertRejected(
      withSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['clone'], action: 'SCMP_ACT_ERRNO', args: [{ index: 6, value: 1, op: 'SCMP_CMP_EQ' }] }] }),
      'linux.seccomp.syscalls[0].args[0].index',
      '(0 to 5), got 6',
    );
  });

  it('rejects an unknown flag or architecture', () => {
    assertRejected(withSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', flags: ['SECCOMP_FILTER_FLAG_NEW_LISTENER'] }), 'linux.seccomp.flags[0]', 'unknown seccomp flag "SECCOMP_FILTER_FLAG_NEW_LISTENER"');
    assertRejected(withSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_AMD64'] }), 'linux.seccomp.architectures[1]', 'unknown seccomp architecture "SCMP_ARCH_AMD64"');
  });

  it('rejects errnoRet on actions that return no errno', () => {
    assertRejected(withSeccomp({ defaultAction: 'SCMP_ACT_KILL', defaultErrnoRet: 1 }), 'linux.seccomp.defaultErrnoRet', 'but defaultAction is SCMP_ACT_KILL');
    assertRejected(withSeccomp({ defaultAction: 'SCMP_ACT_KILL', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW', errnoRet: 1 }] }), 'linux.seccomp.syscalls[0].errnoRet', 'but action is SCMP_ACT_ALLOW');
  });

  it('rejects notify as default action or without a listener', () => {
    assertRejected(withSeccomp({ defaultAction: 'SCMP_ACT_NOTIFY', listenerPath: '/run/a.sock' }), 'linux.seccomp.defaultAction', 'cannot be the default action');
    assertRejected(withSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [allow('read'), { names: ['mount'], action: 'SCMP_ACT_NOTIFY' }] }), 'linux.seccomp.syscalls[1].action', 'needs linux.seccomp.listenerPath');
  });

  it('rejects a rule without syscall names', () => {
    assertRejected(withSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: [], action: 'SCMP_ACT_ERRNO' }] }), 'linux.seccomp.syscalls[0].names', 'is empty');
    assertRejected(withSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ action: 'SCMP_ACT_ERRNO' }] }), 'linux.seccomp.syscalls[0].names', 'is required');
  });

  it('keeps 64-bit argument values exact', () => {
    const config = withSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['ioctl'], action: 'SCMP_ACT_ERRNO', args: [{ index: 1, value: 0xffff_ffff_ffff_ffffn, op: 'SCMP_CMP_EQ' }] }] });
    assert.equal(validateRuntimeConfig(config).linux?.seccomp?.syscalls?.[0]?.args?.[0]?.value, 0xffff_ffff_ffff_ffffn);
    const tooBig = withSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['ioctl'], action: 'SCMP_ACT_ERRNO', args: [{ index: 1, value: 2n ** 64n, op: 'SCMP_CMP_EQ' }] }] });
    assertRejected(tooBig, 'linux.seccomp.syscalls[0].args[0].value', 'between 0 and 18446744073709551615');
  });
});

describe('validateSeccompSyscallNames', () => {
  const known = new Set(['read', 'write', 'openat', 'close', 'exit_group', 'futex', 'personality', 'clone', 'ptrace', 'kexec_load']);

  it('accepts a config whose names are all in the table', () => {
    assert.doesNotThrow(() => validateSeccompSyscallNames(fullConfig(), known));
  });

  it('names the first unknown syscall and where it is', () => {
    const config = fullConfig();
    config.linux?.seccomp?.syscalls?.[2]?.names.unshift('notasyscall');
    assert.throws(
      () => validateSeccompSyscallNames(config, known),
      (err: unknown) =>
        err instanceof BerthError && err.code === 'INVALID_ARGUMENT' && err.message === 'invalid config.json: linux.seccomp.syscalls[2].names[0]: unknown syscall "notasyscall"',
    );
  });

  it('lists every unknown name when asked to find them', () => {
    const config: RuntimeConfig = { ociVersion: '1.2.0', linux: { seccomp: { defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read', 'cachestat'], action: 'SCMP_ACT_ALLOW' }, { names: ['map_shadow_stack'], action: 'SCMP_ACT_ALLOW' }] } } };
    assert.deepEqual(findUnknownSeccompSyscallNames(config, known), [
      { path: 'linux.seccomp.syscalls[0].names[1]', name: 'cachestat' },
      { path: 'linux.seccomp.syscalls[1].names[0]', name: 'map_shadow_stack' },
    ]);
  });

  it('accepts a config without seccomp', () => {
    assert.doesNotThrow(() => validateSeccompSyscallNames({ ociVersion: '1.2.0', root: { path: 'rootfs' } }, known));
  });
});
