/**
 * Behaviour the OCI runtime spec and its callers (containerd, podman, runc's and crun's users)
 * expect of a runtime, where berth-runtime used to differ from runc and crun: each one a test.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { harness, sh, skipUnlessRoot, waitFor } from './helpers.ts';
import { uniqueId } from '../fixtures/bundle.ts';
import type { RuntimeConfig } from '../../src/oci/index.ts';

const cli = join(import.meta.dirname, '../../bin/berth-runtime');

/** What a busybox `sh -c 'echo …'` needs, and nothing of berth-init's own (no close_range,
 * openat, accept4, fcntl, …): a profile like the older docker and runtime-tools defaults. */
const SHELL_SYSCALLS = ['write', 'mprotect', 'brk', 'rt_sigaction', 'rt_sigprocmask', 'getpid', 'execve', 'uname', 'readlink', 'getuid', 'getppid', 'prctl', 'arch_prctl', 'set_tid_address', 'newfstatat', 'set_robust_list', 'prlimit64', 'getrandom', 'rseq', 'exit', 'exit_group'];

function strictSeccomp(extra: string[] = []): NonNullable<RuntimeConfig['linux']>['seccomp'] {
  return { defaultAction: 'SCMP_ACT_ERRNO', architectures: ['SCMP_ARCH_X86_64'], syscalls: [{ names: [...SHELL_SYSCALLS, ...extra], action: 'SCMP_ACT_ALLOW' }] };
}

describe('berth-runtime conformance', { skip: skipUnlessRoot }, () => {
  const h = harness();
  const dirs: string[] = [];
  after(async () => {
    await h.cleanup();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const hostDir = (name: string) => {
    const d = mkdtempSync(join(tmpdir(), `berth-test-${name}-`));
    dirs.push(d);
    return d;
  };

  describe('seccomp', () => {
    it('starts under a default-deny profile that allows only what a shell needs (no close_range), with and without no_new_privs', async () => {
      let r = await h.run((c) => {
        c.process!.args = ['/bin/sh', '-c', 'echo under-the-filter'];
        c.process!.noNewPrivileges = true;
        c.linux!.seccomp = strictSeccomp();
      });
      assert.equal(r.exitCode, 0, r.stderr);
      assert.equal(r.stdout, 'under-the-filter\n');
      // without no_new_privs the capabilities are set after the filter: capset is all it adds
      r = await h.run((c) => {
        c.process!.args = ['/bin/sh', '-c', 'echo still-under-it'];
        c.process!.noNewPrivileges = false;
        c.linux!.seccomp = strictSeccomp(['capset']);
      });
      assert.equal(r.exitCode, 0, r.stderr);
      assert.equal(r.stdout, 'still-under-it\n');
    });

    it('fails a syscall numbered above every one the profile names with ENOSYS, not the default errno (runc\'s -ENOSYS stub); one below gets the default', async () => {
      const dir = hostDir('enosys');
      writeFileSync(
        join(dir, 'probe.c'),
        `#include <errno.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/syscall.h>
int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  long r = syscall(1000, 0xdeadbeef, 0xcafefeed, 0x1337);
  printf("nr-1000 %ld %d\\n", r, r < 0 ? errno : 0);
  r = syscall(SYS_getpgid, 0);
  printf("getpgid %ld %d\\n", r, r < 0 ? errno : 0);
  return 0;
}
`,
      );
      execFileSync('cc', ['-static', '-O1', '-o', join(dir, 'probe'), join(dir, 'probe.c')]);
      const probe = (defaultAction: 'SCMP_ACT_ERRNO' | 'SCMP_ACT_KILL_PROCESS') =>
        h.run((c) => {
          c.mounts!.push({ destination: '/probe', type: 'bind', source: join(dir, 'probe'), options: ['bind', 'ro'] });
          c.process!.args = ['/probe'];
          c.linux!.seccomp = { ...strictSeccomp(['fstat', 'ioctl']), defaultAction };
        });
      const r = await probe('SCMP_ACT_ERRNO');
      assert.equal(r.exitCode, 0, r.stderr);
      assert.equal(r.stdout, 'nr-1000 -1 38\ngetpgid -1 1\n', 'ENOSYS (38) above the profile, EPERM (1) of the default below it');
      // a killing default kills for what the profile knows of, and says ENOSYS for what it cannot
      const k = await probe('SCMP_ACT_KILL_PROCESS');
      assert.match(k.stdout, /^nr-1000 -1 38\n$/);
      assert.equal(k.exitCode, 128 + 31, 'SIGSYS for getpgid');
    });

    it('runs the startContainer hook under the filter', async () => {
      const b = h.bundle((c) => {
        c.process!.args = ['/bin/true'];
        c.root!.readonly = false;
        c.linux!.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' }] };
        c.hooks = { startContainer: [{ path: '/bin/sh', args: ['sh', '-c', 'mkdir /tmp/hook-made-a-dir || touch /tmp/hook-was-refused'] }] };
      });
      const r = await h.runtime.run(uniqueId(), { bundleDir: b.bundleDir, stdio: { stdout: 'ignore', stderr: 'ignore' } });
      assert.equal(r.exitCode, 0);
      assert.equal(existsSync(join(b.rootfsDir, 'tmp/hook-was-refused')), true, 'the hook ran, in the container');
      assert.equal(existsSync(join(b.rootfsDir, 'tmp/hook-made-a-dir')), false, 'its mkdir met the filter');
    });

    it('accepts several conditions on one argument (each a rule of its own, as runc adds them)', async () => {
      const r = await h.run((c) => {
        c.process!.args = ['/bin/sh', '-c', 'echo ok'];
        c.linux!.seccomp = {
          defaultAction: 'SCMP_ACT_ALLOW',
          syscalls: [{ names: ['personality'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 8, op: 'SCMP_CMP_EQ' }, { index: 0, value: 0x20008, op: 'SCMP_CMP_EQ' }] }],
        };
      });
      assert.equal(r.exitCode, 0, r.stderr);
    });

    it('refuses SCMP_ACT_NOTIFY on write, naming the rule', async () => {
      const b = h.bundle((c) => (c.linux!.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', listenerPath: '/run/none.sock', syscalls: [{ names: ['write'], action: 'SCMP_ACT_NOTIFY' }] }));
      await assert.rejects(h.runtime.create(uniqueId(), { bundleDir: b.bundleDir }), /linux\.seccomp\.syscalls\[0\]: SCMP_ACT_NOTIFY cannot be used for the write syscall/);
    });
  });

  describe('root filesystem and mounts', () => {
    it('makes the root shared when rootfsPropagation asks for it', async () => {
      const r = await h.run((c) => {
        c.linux!.rootfsPropagation = 'shared';
        c.process!.args = ['/bin/sh', '-c', 'awk \'$5 == "/"\' /proc/self/mountinfo'];
      });
      assert.equal(r.exitCode, 0, r.stderr);
      assert.match(r.stdout, /shared:\d+/);
    });

    it('runs without a mount namespace in the host\'s, in the rootfs as given, leaving the host\'s mounts alone', async () => {
      const b = h.bundle((c) => {
        c.linux!.namespaces = c.linux!.namespaces!.filter((n) => n.type !== 'mount');
        c.mounts = [];
        c.linux!.maskedPaths = [];
        c.linux!.readonlyPaths = [];
        c.root!.readonly = false;
        c.process!.args = ['/bin/sh', '-c', 'ls /bin/busybox > /tmp/seen'];
      });
      const r = await h.runtime.run(uniqueId(), { bundleDir: b.bundleDir, stdio: { stdout: 'ignore' } });
      assert.equal(r.exitCode, 0);
      assert.equal(readFileSync(join(b.rootfsDir, 'tmp/seen'), 'utf8'), '/bin/busybox\n', 'the rootfs was its root');
      assert.equal(readFileSync('/proc/self/mountinfo', 'utf8').includes(b.bundleDir), false, 'nothing was mounted on the host');
    });

    it('runs without a mount namespace with the config\'s mounts, made in the host\'s under the root (as runc); delete takes them down, the host\'s stay', async () => {
      // what runtime-tools' linux_ns_itype runs: no namespace at all, the default mounts kept
      const b = h.bundle((c) => {
        c.linux!.namespaces = [];
        delete c.hostname;
        c.linux!.maskedPaths = [];
        c.linux!.readonlyPaths = [];
        c.root!.readonly = false;
        c.process!.args = ['/bin/sh', '-c', 'readlink /proc/self/ns/mnt; echo x > /dev/null && echo dev-null; ls /proc/1/ns >/dev/null && echo proc; sleep 30'];
      });
      // a mount of the host's own under the root stays: it was there before
      const before = join(b.rootfsDir, 'mnt');
      mkdirSync(before, { recursive: true });
      assert.equal(spawnSync('mount', ['-t', 'tmpfs', 'host-own', before]).status, 0);
      try {
        const id = uniqueId();
        const out = join(hostDir('nomntns'), 'out');
        const fd = (await import('node:fs')).openSync(out, 'w');
        await h.runtime.create(id, { bundleDir: b.bundleDir, stdio: { stdin: 'ignore', stdout: fd, stderr: fd } });
        await h.runtime.start(id);
        await waitFor(() => readFileSync(out, 'utf8').includes('proc'), 'the container to run');
        assert.equal(readFileSync(out, 'utf8'), `${readlinkSync('/proc/self/ns/mnt')}\ndev-null\nproc\n`, 'the host\'s mount namespace, its own /dev and /proc');
        const under = () => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.split(' ')[4]?.startsWith(b.rootfsDir + '/')).map((l) => l.split(' ')[4]);
        assert.ok(under().includes(join(b.rootfsDir, 'proc')) && under().includes(join(b.rootfsDir, 'dev')), 'its mounts are in the host\'s namespace while it runs');
        await h.runtime.delete(id, { force: true });
        assert.deepEqual(under(), [before], 'delete took its mounts down, and only its');
      } finally {
        spawnSync('umount', [before]);
      }
    });

    it('names a missing root of a container without a mount namespace, and leaves nothing', async () => {
      const b = h.bundle((c) => {
        c.linux!.namespaces = c.linux!.namespaces!.filter((n) => n.type !== 'mount');
        c.linux!.maskedPaths = [];
        c.linux!.readonlyPaths = [];
        c.root!.readonly = false;
        c.root!.path = 'no-such-root';
      });
      const id = uniqueId();
      await assert.rejects(h.runtime.create(id, { bundleDir: b.bundleDir }), /root.path: .*no-such-root does not exist/);
      assert.equal(existsSync(join(h.rootDir, id)), false, 'no state left');
    });

    it('mounts a read-only /dev, with its device nodes in it', async () => {
      const r = await h.run((c) => {
        c.mounts = c.mounts!.map((m) => (m.destination === '/dev' ? { ...m, options: [...(m.options ?? []), 'ro'] } : m));
        c.process!.args = ['/bin/sh', '-c', 'echo x > /dev/null && echo null-works; touch /dev/new 2>/dev/null || echo dev-is-read-only'];
      });
      assert.equal(r.exitCode, 0, r.stderr);
      assert.equal(r.stdout, 'null-works\ndev-is-read-only\n');
    });

    it('takes the host\'s procfs and sysfs out of the container\'s mount namespace with --no-pivot', async () => {
      const b = h.bundle((c) => (c.process!.args = ['/bin/sleep', '60']));
      const id = uniqueId();
      const { pid } = await h.runtime.create(id, { bundleDir: b.bundleDir, noPivot: true });
      try {
        // every mount of the container's namespace, as a process at the namespace's root sees it
        // (the container's own view, chrooted, hides those outside its root)
        const r = spawnSync('python3', ['-c', `
import ctypes, os, sys
proc = os.open('/proc', os.O_PATH)
ns = os.open('/proc/%s/ns/mnt' % sys.argv[1], os.O_RDONLY)
if ctypes.CDLL(None, use_errno=True).setns(ns, 0x20000) != 0: sys.exit('setns: %d' % ctypes.get_errno())
print(os.read(os.open('self/mountinfo', os.O_RDONLY, dir_fd=proc), 1 << 20).decode())
`, String(pid)], { encoding: 'utf8' });
        assert.equal(r.status, 0, r.stderr);
        const full = r.stdout.split('\n').filter((l) => / - (proc|sysfs) /.test(l) && l.split(' ')[3] === '/');
        // the container's own /proc and /sys, nothing of the host's
        assert.deepEqual(full.map((l) => l.split(' ')[4]).sort(), ['/proc', '/sys'], full.join('\n'));
      } finally {
        await h.runtime.delete(id, { force: true });
      }
    });

    it('mounts onto a dangling symlink of the image where it points, inside the root', async () => {
      const b = h.bundle((c) => {
        c.mounts!.push({ destination: '/data', type: 'tmpfs', source: 'tmpfs', options: ['nosuid'] });
        c.process!.args = ['/bin/sh', '-c', 'echo hi > /data/x && grep -c " /real/data " /proc/self/mountinfo'];
      });
      symlinkSync('/real/data', join(b.rootfsDir, 'data'));
      const r = await h.runtime.run(uniqueId(), { bundleDir: b.bundleDir, stdio: { stdout: 'ignore' } });
      assert.equal(r.exitCode, 0);
      assert.equal(existsSync(join(b.rootfsDir, 'real/data')), true, 'made inside the root');
      assert.equal(existsSync('/real/data'), false, 'never on the host');
    });

    it('mounts an overlay as the root, in the container\'s mount namespace only (io.berth.rootfs.mount)', async () => {
      const dir = hostDir('overlay');
      const layers = join(dir, 'layers');
      // the lower layer: a busybox root; relative lowerdirs are resolved from the annotation's cwd
      const b = h.bundle((c) => {
        c.root = { path: join(dir, 'mnt'), readonly: false };
        c.annotations = {
          'io.berth.rootfs.mount': JSON.stringify({ type: 'overlay', source: 'overlay', options: ['lowerdir=base', `upperdir=${join(dir, 'upper')}`, `workdir=${join(dir, 'work')}`], cwd: layers }),
        };
        c.process!.args = ['/bin/sh', '-c', 'cat /etc/from-lower && echo written > /new-file'];
      });
      for (const d of ['layers', 'upper', 'work', 'mnt']) mkdirSync(join(dir, d));
      (await import('node:fs')).renameSync(b.rootfsDir, join(layers, 'base'));
      writeFileSync(join(layers, 'base/etc/from-lower'), 'lower layer\n');
      const out = join(dir, 'out');
      const fd = (await import('node:fs')).openSync(out, 'w');
      const r = await h.runtime.run(uniqueId(), { bundleDir: b.bundleDir, stdio: { stdout: fd } });
      (await import('node:fs')).closeSync(fd);
      assert.equal(r.exitCode, 0);
      assert.equal(readFileSync(out, 'utf8'), 'lower layer\n');
      assert.equal(readFileSync(join(dir, 'upper/new-file'), 'utf8'), 'written\n', 'writes land in the upper dir');
      assert.equal(existsSync(join(layers, 'base/new-file')), false);
      assert.equal(readFileSync('/proc/self/mountinfo', 'utf8').includes(join(dir, 'mnt')), false, 'nothing mounted on the host');
    });

    it('binds a source the user namespace\'s root could not reach (opened from the host side)', async () => {
      const secret = hostDir('userns-bind');
      chmodSync(secret, 0o700); // root only: the container's mapped root (uid 100000) cannot enter
      mkdirSync(join(secret, 'share'));
      writeFileSync(join(secret, 'share/file'), 'from-the-host\n');
      const b = h.bundle((c) => {
        c.linux!.namespaces!.push({ type: 'user' });
        c.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
        c.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
        c.mounts = c.mounts!.filter((m) => m.type !== 'cgroup' && m.destination !== '/sys');
        c.mounts!.push({ destination: '/share', type: 'bind', source: join(secret, 'share'), options: ['rbind', 'ro'] });
        c.process!.args = ['/bin/cat', '/share/file'];
      });
      // the mount point is there (the mapped root could not make it in a root-owned rootfs)
      mkdirSync(join(b.rootfsDir, 'share'));
      const out = join(hostDir('userns-out'), 'out');
      const fd = (await import('node:fs')).openSync(out, 'w');
      const r = await h.runtime.run(uniqueId(), { bundleDir: b.bundleDir, stdio: { stdout: fd } });
      (await import('node:fs')).closeSync(fd);
      assert.equal(r.exitCode, 0);
      assert.equal(readFileSync(out, 'utf8'), 'from-the-host\n');
    });
  });

  describe('process and environment', () => {
    it('makes a missing cwd, and enters as root a cwd only root may enter before becoming the user', async () => {
      let r = await h.run((c) => {
        c.process!.cwd = '/made/for/it';
        c.process!.args = ['/bin/pwd'];
      });
      assert.equal(r.exitCode, 0, r.stderr);
      assert.equal(r.stdout, '/made/for/it\n');
      r = await h.run((c) => {
        c.process!.cwd = '/root';
        c.process!.user = { uid: 1000, gid: 1000 };
        c.process!.args = ['/bin/pwd'];
      }, {});
      assert.equal(r.exitCode, 0, r.stderr);
      assert.equal(r.stdout, '/root\n');
    });

    it('sets HOME from the user\'s entry in the container\'s /etc/passwd (or /) when the config has none, for the init and for exec', async () => {
      let r = await h.run((c) => {
        c.process!.env = ['PATH=/bin'];
        c.process!.user = { uid: 65534, gid: 65534 };
        c.process!.args = ['/bin/sh', '-c', 'echo $HOME'];
      });
      assert.equal(r.stdout, '/nonexistent\n', r.stderr);
      r = await h.run((c) => {
        c.process!.env = ['PATH=/bin'];
        c.process!.user = { uid: 4321, gid: 4321 };
        c.process!.args = ['/bin/sh', '-c', 'echo $HOME'];
      });
      assert.equal(r.stdout, '/\n', r.stderr);
      r = await h.run((c) => {
        c.process!.env = ['PATH=/bin', 'HOME=/given'];
        c.process!.args = ['/bin/sh', '-c', 'echo $HOME'];
      });
      assert.equal(r.stdout, '/given\n', 'a HOME of the config stays');
      const b = h.bundle((c) => {
        c.process!.env = ['PATH=/bin'];
        c.process!.args = ['/bin/sleep', '60'];
      });
      const id = uniqueId();
      await h.runtime.create(id, { bundleDir: b.bundleDir });
      await h.runtime.start(id);
      const e = spawnSync(cli, ['--root', h.rootDir, 'exec', id, '/bin/sh', '-c', 'echo $HOME'], { encoding: 'utf8' });
      assert.equal(e.stdout, '/root\n', e.stderr);
      await h.runtime.delete(id, { force: true });
    });

    it('skips capabilities the kernel or berth does not know, with a warning, in create and exec --cap', async () => {
      const b = h.bundle((c) => {
        c.process!.capabilities!.bounding!.push('CAP_FROM_THE_FUTURE');
        c.process!.capabilities!.effective!.push('CAP_FROM_THE_FUTURE');
        c.process!.args = ['/bin/sleep', '60'];
      });
      const id = uniqueId();
      const { warnings } = await h.runtime.create(id, { bundleDir: b.bundleDir });
      assert.ok(warnings.some((w) => w === 'ignoring unknown or unavailable capabilities: CAP_FROM_THE_FUTURE'), warnings.join('\n'));
      await h.runtime.start(id);
      const r = spawnSync(cli, ['--root', h.rootDir, 'exec', '--cap', 'CAP_ALSO_UNKNOWN', id, '/bin/true'], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /warning: ignoring unknown or unavailable capabilities: .*CAP_ALSO_UNKNOWN/);
      await h.runtime.delete(id, { force: true });
    });

    it('gives exec a terminal only with -t, whatever config.json says', async () => {
      const dir = hostDir('console');
      const socketPath = join(dir, 'console.sock');
      const server = createServer((conn) => conn.resume());
      await new Promise<void>((r) => server.listen(socketPath, r));
      try {
        const b = h.bundle((c) => {
          c.process!.terminal = true;
          c.process!.args = ['/bin/sleep', '60'];
        });
        const id = uniqueId();
        await h.runtime.create(id, { bundleDir: b.bundleDir, consoleSocket: socketPath });
        await h.runtime.start(id);
        // detached, with no console socket: no terminal is asked for
        const r = spawnSync(cli, ['--root', h.rootDir, 'exec', '--detach', id, '/bin/sh', '-c', 'sleep 1'], { stdio: 'ignore' });
        assert.equal(r.status, 0);
        const out = spawnSync(cli, ['--root', h.rootDir, 'exec', id, '/bin/sh', '-c', 'tty || true'], { encoding: 'utf8' });
        assert.match(out.stdout, /not a tty/);
        await h.runtime.delete(id, { force: true });
      } finally {
        server.close();
      }
    });

    it('gives hooks the runtime\'s environment when they have none, and the root as the createContainer hook\'s cwd', async () => {
      const out = hostDir('hooks');
      process.env.BERTH_TEST_HOOK_VAR = 'from-the-runtime';
      try {
        const b = h.bundle((c) => {
          c.process!.args = ['/bin/true'];
          c.hooks = {
            createRuntime: [{ path: '/bin/sh', args: ['sh', '-c', `echo "$BERTH_TEST_HOOK_VAR" > ${out}/inherited; pwd > ${out}/runtime-cwd`] }],
            createContainer: [
              { path: '/bin/sh', args: ['sh', '-c', `pwd > ${out}/container-cwd`] },
              { path: '/bin/sh', args: ['sh', '-c', `echo "[$BERTH_TEST_HOOK_VAR]" > ${out}/own-env`], env: ['ONLY=this'] },
            ],
          };
        });
        const r = await h.runtime.run(uniqueId(), { bundleDir: b.bundleDir });
        assert.equal(r.exitCode, 0);
        assert.equal(readFileSync(join(out, 'inherited'), 'utf8'), 'from-the-runtime\n');
        assert.equal(readFileSync(join(out, 'runtime-cwd'), 'utf8'), `${b.bundleDir}\n`, 'runtime hooks run in the bundle');
        assert.equal(readFileSync(join(out, 'container-cwd'), 'utf8'), `${b.rootfsDir}\n`);
        assert.equal(readFileSync(join(out, 'own-env'), 'utf8'), '[]\n', 'a hook with env of its own gets only that');
      } finally {
        delete process.env.BERTH_TEST_HOOK_VAR;
      }
    });

    it('reads pids.limit 0 as "no limit", and takes device rules with access "rwa"', async () => {
      const r = await h.run((c) => {
        c.linux!.resources = { ...c.linux!.resources, pids: { limit: 0 }, devices: [...(c.linux!.resources?.devices ?? []), { allow: true, type: 'c', major: 1, minor: 3, access: 'rwa' }] };
        c.process!.args = ['/bin/sh', '-c', 'for i in 1 2 3; do sleep 0 & done; wait; echo forked'];
      });
      assert.equal(r.exitCode, 0, r.stderr);
      assert.equal(r.stdout, 'forked\n');
    });
  });

  describe('lifecycle and command line', () => {
    it('takes kill 0 (is it there?), exec and ps --ignore-paused, update --cpu-share, --cgroup-manager cgroupfs and run --config', async () => {
      const b = h.bundle((c) => (c.process!.args = ['/bin/sleep', '60']));
      const id = uniqueId();
      await h.runtime.create(id, { bundleDir: b.bundleDir });
      await h.runtime.start(id);
      const run = (...args: string[]) => spawnSync(cli, ['--root', h.rootDir, ...args], { encoding: 'utf8' });
      assert.equal(run('kill', id, '0').status, 0);
      assert.equal(run('--cgroup-manager', 'cgroupfs', 'state', id).status, 0);
      assert.match(run('--cgroup-manager', 'systemd', 'state', id).stderr, /--cgroup-manager systemd is not supported yet/);
      assert.equal(run('update', '--cpu-share', '512', id).status, 0);
      assert.equal(run('pause', id).status, 0);
      let r = run('exec', id, '/bin/true');
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /cannot exec in a paused container .* \(use --ignore-paused to override\)/);
      // with --ignore-paused it goes ahead, and is frozen with the container until it resumes
      const paused = spawn(cli, ['--root', h.rootDir, 'exec', '--ignore-paused', id, '/bin/sh', '-c', 'echo ran-after-resume'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      paused.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
      const ended = new Promise<number | null>((res) => paused.on('close', res));
      await new Promise((res) => setTimeout(res, 300));
      assert.equal(paused.exitCode, null, 'frozen while the container is paused');
      assert.equal(run('ps', '--ignore-paused', '--format', 'json', id).status, 0);
      assert.equal(run('resume', id).status, 0);
      assert.equal(await ended, 0);
      assert.equal(output, 'ran-after-resume\n');
      await h.runtime.delete(id, { force: true });
      // --config: a config file other than the bundle's
      const other = join(hostDir('config'), 'other.json');
      writeFileSync(other, JSON.stringify({ ...b.config, process: { ...b.config.process, args: ['/bin/sh', '-c', 'echo from-other-config'] } }));
      r = run('run', '--bundle', b.bundleDir, '--config', other, uniqueId());
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, 'from-other-config\n');
    });

    it('deletes every container whose id a --regex matches (crun\'s delete --regex), and no other', async () => {
      const b = h.bundle((c) => (c.process!.args = ['/bin/sleep', '60']));
      const stem = uniqueId();
      const ids = [`${stem}-web-1`, `${stem}-web-2`, `${stem}-db-1`];
      for (const id of ids) {
        await h.runtime.create(id, { bundleDir: b.bundleDir });
        await h.runtime.start(id);
      }
      const run = (...args: string[]) => spawnSync(cli, ['--root', h.rootDir, ...args], { encoding: 'utf8' });
      let r = run('delete', '--regex', `${stem}-web`);
      assert.equal(r.status, 1, 'running containers without --force are not deleted');
      assert.match(r.stderr, new RegExp(`delete ${stem}-web-1: .*running`));
      r = run('delete', '-f', '--regex', `${stem}-web-[0-9]`);
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual((await h.runtime.list()).map((e) => e.id).filter((id) => id.startsWith(stem)), [`${stem}-db-1`]);
      r = run('delete', '--regex', '(unclosed');
      assert.equal(r.status, 1);
      assert.match(r.stderr, /delete --regex: invalid regular expression "\(unclosed"/);
      await h.runtime.delete(`${stem}-db-1`, { force: true });
    });

    it('runs an exec in an existing sub-cgroup of the container\'s with --cgroup', async () => {
      const b = h.bundle((c) => (c.process!.args = ['/bin/sleep', '60']));
      const id = uniqueId();
      await h.runtime.create(id, { bundleDir: b.bundleDir });
      await h.runtime.start(id);
      const cgroupPath = (await h.runtime.ctx.store.read(id)).cgroupPath;
      // the sub-cgroup, made as a caller of runc makes it: a plain mkdir in every hierarchy
      const subDirs = readdirSync('/sys/fs/cgroup')
        .map((hierarchy) => join('/sys/fs/cgroup', hierarchy, cgroupPath))
        .concat(join('/sys/fs/cgroup', cgroupPath))
        .filter((dir) => existsSync(dir))
        .map((dir) => join(dir, 'sub'));
      for (const dir of subDirs) {
        mkdirSync(dir);
        // a v1 cpuset starts empty: it takes its parent's CPUs and memory nodes
        for (const file of ['cpuset.cpus', 'cpuset.mems']) {
          if (existsSync(join(dir, file)) && readFileSync(join(dir, file), 'utf8').trim() === '') writeFileSync(join(dir, file), readFileSync(join(dir, '..', file)));
        }
      }
      const r = spawnSync(cli, ['--root', h.rootDir, 'exec', '--cgroup', 'sub', id, '/bin/cat', '/proc/self/cgroup'], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /\/sub$/m);
      const missing = spawnSync(cli, ['--root', h.rootDir, 'exec', '--cgroup', 'nope', id, '/bin/true'], { encoding: 'utf8' });
      assert.notEqual(missing.status, 0);
      assert.match(missing.stderr, /--cgroup: adding pid to cgroups: open \/sys\/fs\/cgroup\/.*\/nope\/cgroup.procs: no such file or directory \(cgroup .*\/nope does not exist\)/);
      // "/" is the container's own cgroup; ".." and controllers the host lacks are refused
      const top = spawnSync(cli, ['--root', h.rootDir, 'exec', '--cgroup', '/', id, '/bin/cat', '/proc/self/cgroup'], { encoding: 'utf8' });
      assert.equal(top.status, 0, top.stderr);
      assert.doesNotMatch(top.stdout, /\/sub$/m);
      const up = spawnSync(cli, ['--root', h.rootDir, 'exec', '--cgroup', '..', id, '/bin/true'], { encoding: 'utf8' });
      assert.match(up.stderr, / \.\. is not a sub cgroup path/);
      if (!existsSync('/sys/fs/cgroup/cgroup.controllers')) {
        const bogus = spawnSync(cli, ['--root', h.rootDir, 'exec', '--cgroup', 'whaaat:/', id, '/bin/true'], { encoding: 'utf8' });
        assert.notEqual(bogus.status, 0);
        assert.match(bogus.stderr, /--cgroup: unknown controller "whaaat"/);
        // per controller: a sub-cgroup made in the memory hierarchy alone is enough for memory:
        const memOnly = join('/sys/fs/cgroup/memory', cgroupPath, 'memonly');
        mkdirSync(memOnly);
        subDirs.push(memOnly);
        const mem = spawnSync(cli, ['--root', h.rootDir, 'exec', '--cgroup', 'memory:memonly', id, '/bin/cat', '/proc/self/cgroup'], { encoding: 'utf8' });
        assert.equal(mem.status, 0, mem.stderr);
        assert.match(mem.stdout, /:memory:.*\/memonly$/m);
        assert.doesNotMatch(mem.stdout, /:pids:.*\/memonly$/m);
      }
      await h.runtime.delete(id, { force: true });
      for (const dir of subDirs) rmSync(dir, { recursive: false, force: true });
    });

    it('prints --version and list --format json in runc\'s shapes', async () => {
      const v = spawnSync(cli, ['--version'], { encoding: 'utf8' });
      assert.match(v.stdout, /^berth-runtime version \S+\nspec: \d+\.\d+\.\d+\n/);
      assert.doesNotMatch(v.stdout, /SYSTEMD/);
      const b = h.bundle((c) => (c.process!.args = ['/bin/sleep', '60']));
      const id = uniqueId();
      await h.runtime.create(id, { bundleDir: b.bundleDir });
      const list = JSON.parse(spawnSync(cli, ['--root', h.rootDir, 'list', '--format', 'json'], { encoding: 'utf8' }).stdout) as Record<string, unknown>[];
      const entry = list.find((e) => e.id === id)!;
      for (const key of ['ociVersion', 'id', 'pid', 'status', 'bundle', 'rootfs', 'created', 'owner']) assert.ok(key in entry, key);
      assert.equal(entry.status, 'created');
      await h.runtime.delete(id, { force: true });
      void waitFor;
      void readlinkSync;
    });
  });
});
