import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { BerthError } from '../../common/index.ts';
import { checkSyscallNames } from '../../native/index.ts';
import { validateRuntimeConfig, type Seccomp, type SeccompSyscall } from '../../oci/index.ts';
import { DOCKER_DEFAULT_CAPABILITIES } from './docker-defaults.ts';
import { applySeccompProfile, DOCKER_SECCOMP_PROFILE, DOCKER_SECCOMP_SOURCE, dockerSeccompProfile, type MobySeccompProfile } from './seccomp-default.ts';

const DEFAULT_CAPS = [...DOCKER_DEFAULT_CAPABILITIES];
const WITH_SYS_ADMIN = [...DEFAULT_CAPS, 'CAP_SYS_ADMIN'];
const NEW_KERNEL = '6.8.0-45-generic';
const x64 = (capabilities: readonly string[], kernelRelease = NEW_KERNEL) => dockerSeccompProfile({ capabilities, arch: 'x64', kernelRelease });

/** The rules of `seccomp` that name `name`. */
const rulesFor = (seccomp: Seccomp, name: string): SeccompSyscall[] => (seccomp.syscalls ?? []).filter((rule) => rule.names.includes(name));

/** True when a rule allows `name` whatever its arguments. */
const allowsAlways = (seccomp: Seccomp, name: string) => rulesFor(seccomp, name).some((r) => r.action === 'SCMP_ACT_ALLOW' && !r.args?.length);

const CLONE_NAMESPACE_FLAGS =
  0x0002_0000 | // CLONE_NEWNS
  0x0200_0000 | // CLONE_NEWCGROUP
  0x0400_0000 | // CLONE_NEWUTS
  0x0800_0000 | // CLONE_NEWIPC
  0x1000_0000 | // CLONE_NEWUSER
  0x2000_0000 | // CLONE_NEWPID
  0x4000_0000; // CLONE_NEWNET

function assertInvalidArgument(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (err: unknown) => err instanceof BerthError && err.code === 'INVALID_ARGUMENT' && message.test(err.message));
}

describe('dockerSeccompProfile', () => {
  it('denies with EPERM when a syscall matches no rule', () => {
    const seccomp = x64(DEFAULT_CAPS);
    assert.equal(seccomp.defaultAction, 'SCMP_ACT_ERRNO');
    assert.equal(seccomp.defaultErrnoRet, 1);
  });

  it('allows read, write, execve and the other everyday syscalls when the container has the default capabilities', () => {
    const seccomp = x64(DEFAULT_CAPS);
    for (const name of ['read', 'write', 'execve', 'openat', 'mmap', 'exit_group', 'wait4', 'futex', 'chroot']) {
      assert.ok(allowsAlways(seccomp, name), `${name} should be allowed`);
    }
  });

  it('makes clone3 fail with ENOSYS when CAP_SYS_ADMIN is missing', () => {
    assert.deepEqual(rulesFor(x64(DEFAULT_CAPS), 'clone3'), [{ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 }]);
  });

  it('allows clone3 when CAP_SYS_ADMIN is added', () => {
    const rules = rulesFor(x64(WITH_SYS_ADMIN), 'clone3');
    assert.ok(rules.length > 0 && rules.every((r) => r.action === 'SCMP_ACT_ALLOW' && !r.args));
  });

  it('denies unshare, mount, setns, bpf, keyctl and add_key when the container has the default capabilities', () => {
    const seccomp = x64(DEFAULT_CAPS);
    for (const name of ['unshare', 'mount', 'umount2', 'setns', 'bpf', 'keyctl', 'add_key', 'request_key', 'perf_event_open', 'reboot']) {
      assert.deepEqual(rulesFor(seccomp, name), [], `${name} should fall to the default action`);
    }
  });

  it('allows unshare, mount, setns and bpf when CAP_SYS_ADMIN is added, but still not keyctl or add_key', () => {
    const seccomp = x64(WITH_SYS_ADMIN);
    for (const name of ['unshare', 'mount', 'umount2', 'setns', 'bpf', 'sethostname', 'perf_event_open']) assert.ok(allowsAlways(seccomp, name), name);
    assert.deepEqual(rulesFor(seccomp, 'keyctl'), []);
    assert.deepEqual(rulesFor(seccomp, 'add_key'), []);
  });

  it('allows clone only without namespace flags when CAP_SYS_ADMIN is missing', () => {
    assert.deepEqual(rulesFor(x64(DEFAULT_CAPS), 'clone'), [
      { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: CLONE_NAMESPACE_FLAGS, op: 'SCMP_CMP_MASKED_EQ' }] },
    ]);
  });

  it('checks the flags in clone argument 1 when the architecture is s390x', () => {
    const seccomp = dockerSeccompProfile({ capabilities: DEFAULT_CAPS, arch: 's390x', kernelRelease: NEW_KERNEL });
    assert.deepEqual(rulesFor(seccomp, 'clone').map((r) => r.args), [[{ index: 1, value: CLONE_NAMESPACE_FLAGS, op: 'SCMP_CMP_MASKED_EQ' }]]);
  });

  it('allows clone with any flags when CAP_SYS_ADMIN is added', () => {
    const rules = rulesFor(x64(WITH_SYS_ADMIN), 'clone');
    assert.ok(rules.length > 0 && rules.every((r) => r.action === 'SCMP_ACT_ALLOW' && !r.args));
  });

  it('allows ptrace when the kernel is 4.8 or newer', () => {
    for (const kernel of ['4.8.0-1-amd64', '4.19.0', '5.4', NEW_KERNEL]) assert.ok(allowsAlways(x64(DEFAULT_CAPS, kernel), 'ptrace'), kernel);
  });

  it('denies ptrace when the kernel is older than 4.8 and CAP_SYS_PTRACE is missing', () => {
    for (const kernel of ['4.7.10', '3.10.0-1160.el7.x86_64']) assert.deepEqual(rulesFor(x64(DEFAULT_CAPS, kernel), 'ptrace'), [], kernel);
  });

  it('allows ptrace on a kernel older than 4.8 when CAP_SYS_PTRACE is added', () => {
    assert.ok(allowsAlways(x64([...DEFAULT_CAPS, 'CAP_SYS_PTRACE'], '4.4.0'), 'ptrace'));
  });

  it('allows personality only for the five personas moby lists', () => {
    const rules = rulesFor(x64(WITH_SYS_ADMIN), 'personality');
    assert.deepEqual(
      rules.map((r) => [r.action, r.args]),
      [0x0, 0x0008, 0x20000, 0x20008, 0xffffffff].map((value) => ['SCMP_ACT_ALLOW', [{ index: 0, value, op: 'SCMP_CMP_EQ' }]]),
    );
  });

  it('allows socket for every address family but AF_VSOCK', () => {
    assert.deepEqual(rulesFor(x64(DEFAULT_CAPS), 'socket'), [{ names: ['socket'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 40, op: 'SCMP_CMP_NE' }] }]);
  });

  it('lists x86_64, x86 and x32 and allows arch_prctl when the architecture is x64', () => {
    const seccomp = x64(DEFAULT_CAPS);
    assert.deepEqual(seccomp.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    assert.ok(allowsAlways(seccomp, 'arch_prctl') && allowsAlways(seccomp, 'modify_ldt'));
    assert.deepEqual(rulesFor(seccomp, 'set_tls'), []);
  });

  it('lists aarch64 and arm and allows the arm syscalls instead of arch_prctl when the architecture is arm64', () => {
    const seccomp = dockerSeccompProfile({ capabilities: DEFAULT_CAPS, arch: 'arm64', kernelRelease: NEW_KERNEL });
    assert.deepEqual(seccomp.architectures, ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
    assert.ok(allowsAlways(seccomp, 'set_tls') && allowsAlways(seccomp, 'cacheflush'));
    assert.deepEqual(rulesFor(seccomp, 'arch_prctl'), []);
  });

  it('lists no architectures when the archMap has no entry for the architecture', () => {
    const seccomp = dockerSeccompProfile({ capabilities: DEFAULT_CAPS, arch: 'ia32', kernelRelease: NEW_KERNEL });
    assert.equal(seccomp.architectures, undefined);
    assert.ok(allowsAlways(seccomp, 'modify_ldt'), 'x86 still gets the rules that list x86');
  });

  it('follows process.arch and os.release() when they are not given', () => {
    assert.deepEqual(
      dockerSeccompProfile({ capabilities: DEFAULT_CAPS }),
      dockerSeccompProfile({ capabilities: DEFAULT_CAPS, arch: process.arch, kernelRelease: release() }),
    );
  });

  it('rejects an architecture Node does not name, such as Go\'s "amd64"', () => {
    assertInvalidArgument(() => dockerSeccompProfile({ capabilities: DEFAULT_CAPS, arch: 'amd64' }), /unknown architecture "amd64"/);
  });

  it('rejects a kernel release it cannot read', () => {
    assertInvalidArgument(() => x64(DEFAULT_CAPS, 'linux'), /cannot read the kernel release "linux"/);
  });

  it('gives equal results and shares no arrays with the table when called twice', () => {
    const first = x64(DEFAULT_CAPS);
    const second = x64(DEFAULT_CAPS);
    assert.deepEqual(second, first);
    first.syscalls?.[0]?.names.push('not_a_syscall');
    first.architectures?.push('SCMP_ARCH_PPC');
    const socketArg = rulesFor(first, 'socket')[0]?.args?.[0];
    if (socketArg) socketArg.value = 2;
    assert.deepEqual(x64(DEFAULT_CAPS), second);
  });

  it("passes berth's OCI validator for every architecture when put in a config.json", () => {
    for (const arch of ['x64', 'arm64', 'arm', 'ia32', 's390x', 'ppc64', 'riscv64', 'mipsel', 'loong64']) {
      for (const capabilities of [DEFAULT_CAPS, WITH_SYS_ADMIN]) {
        const seccomp = dockerSeccompProfile({ capabilities, arch, kernelRelease: NEW_KERNEL });
        const config = { ociVersion: '1.2.0', root: { path: 'rootfs' }, process: { user: { uid: 0, gid: 0 }, args: ['sh'], cwd: '/' }, linux: { seccomp } };
        assert.deepEqual(validateRuntimeConfig(config).linux?.seccomp, seccomp, arch);
      }
    }
  });

  it("names only syscalls this machine's libseccomp knows, apart from ones newer than it", (t) => {
    const names = [...new Set(DOCKER_SECCOMP_PROFILE.syscalls.flatMap((rule) => rule.names ?? []))];
    let unknown: Set<string>;
    try {
      unknown = checkSyscallNames(names);
    } catch (err) {
      if (err instanceof BerthError && err.code === 'FAILED_PRECONDITION') return t.skip('berth-init is not built');
      throw err;
    }
    t.diagnostic(`${unknown.size} of ${names.length} syscall names unknown to this libseccomp: ${[...unknown].join(' ') || 'none'}`);
    // Syscalls of Linux 5.3 and later, which an older libseccomp may not know yet (runc skips those).
    const recent = new Set(['clone3', 'close_range', 'epoll_pwait2', 'faccessat2', 'futex_waitv', 'landlock_add_rule', 'landlock_create_ruleset',
      'landlock_restrict_self', 'memfd_secret', 'mount_setattr', 'openat2', 'pidfd_getfd', 'process_madvise', 'process_mrelease',
      'quotactl_fd', 'set_mempolicy_home_node']);
    assert.deepEqual([...unknown].filter((name) => !recent.has(name)), []);
  });
});

describe('applySeccompProfile', () => {
  const base = { defaultAction: 'SCMP_ACT_ERRNO', archMap: [] } as const;
  const apply = (syscalls: MobySeccompProfile['syscalls'], capabilities: string[] = [], kernelRelease = '5.10.0') =>
    applySeccompProfile({ ...base, syscalls }, { capabilities, arch: 'x64', kernelRelease }).syscalls ?? [];

  it('keeps a rule that includes several capabilities only when all of them are held', () => {
    const rule = { names: ['acct'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_PACCT', 'CAP_SYS_ADMIN'] } } as const;
    assert.deepEqual(apply([rule], ['CAP_SYS_PACCT']), []);
    assert.deepEqual(apply([rule], ['CAP_SYS_PACCT', 'CAP_SYS_ADMIN']), [{ names: ['acct'], action: 'SCMP_ACT_ALLOW' }]);
  });

  it('drops a rule whose excludes names a minKernel the kernel has reached', () => {
    const rule = { names: ['uselib'], action: 'SCMP_ACT_ALLOW', excludes: { minKernel: '5.10' } } as const;
    assert.deepEqual(apply([rule], [], '5.9.16'), [{ names: ['uselib'], action: 'SCMP_ACT_ALLOW' }]);
    assert.deepEqual(apply([rule], [], '5.10.0'), []);
  });

  it('turns the single name of an older profile into names, and keeps a non-zero valueTwo', () => {
    const rule = { name: 'kill', action: 'SCMP_ACT_ALLOW', args: [{ index: 1, value: 3, valueTwo: 1, op: 'SCMP_CMP_MASKED_EQ' }] } as const;
    assert.deepEqual(apply([rule]), [{ names: ['kill'], action: 'SCMP_ACT_ALLOW', args: [{ index: 1, value: 3, valueTwo: 1, op: 'SCMP_CMP_MASKED_EQ' }] }]);
  });

  it('drops a rule that names no syscall, and omits syscalls when no rule is left', () => {
    const seccomp = applySeccompProfile({ ...base, syscalls: [{ names: [], action: 'SCMP_ACT_ALLOW' }] }, { capabilities: [], arch: 'x64' });
    assert.deepEqual(seccomp, { defaultAction: 'SCMP_ACT_ERRNO' });
  });

  it('rejects a rule with both name and names', () => {
    assertInvalidArgument(() => apply([{ name: 'kill', names: ['tkill'], action: 'SCMP_ACT_ALLOW' }]), /rule 0 has both "name" and "names"/);
  });
});

describe('DOCKER_SECCOMP_PROFILE', () => {
  const tablePath = fileURLToPath(new URL('./seccomp-default.ts', import.meta.url));
  const generatorPath = fileURLToPath(new URL('../../../scripts/gen-seccomp-default.mjs', import.meta.url));
  const sourceText = () => JSON.stringify(DOCKER_SECCOMP_PROFILE, null, '\t') + (DOCKER_SECCOMP_SOURCE.trailingNewline ? '\n' : '');

  it("gives back moby's file byte for byte when serialized as moby's generator writes it", () => {
    const bytes = Buffer.from(sourceText());
    assert.equal(bytes.length, DOCKER_SECCOMP_SOURCE.bytes);
    assert.equal(createHash('sha256').update(bytes).digest('hex'), DOCKER_SECCOMP_SOURCE.sha256);
  });

  it('is exactly what scripts/gen-seccomp-default.mjs prints for that file', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-seccomp-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const jsonPath = join(dir, 'default.json');
    writeFileSync(jsonPath, sourceText());
    const { repository, path, commit } = DOCKER_SECCOMP_SOURCE;
    const printed = execFileSync(process.execPath, [generatorPath, jsonPath, '--commit', commit, '--repository', repository, '--path', path], { encoding: 'utf8' });
    const file = readFileSync(tablePath, 'utf8');
    assert.ok(printed.length > 1000);
    assert.equal(file.slice(file.length - printed.length), printed);
  });

  it('names the commit of its source in the file header', () => {
    const header = readFileSync(tablePath, 'utf8').split('*/')[0] ?? '';
    assert.ok(header.includes(DOCKER_SECCOMP_SOURCE.commit), 'refresh the header comment after regenerating the table');
  });
});
