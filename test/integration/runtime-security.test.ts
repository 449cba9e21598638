/**
 * The ways out of a container that a runtime itself can open, each as a class:
 * - a host fd held while the container's paths are resolved (CVE-2024-21626: a cwd or a program
 *   reached through /proc/self/fd/N lands on the host);
 * - ids that setresuid(2) reads as "unchanged" (4294967295 would keep root).
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readlinkSync, realpathSync, statSync, symlinkSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { RuntimeConfig } from '../../src/oci/index.ts';
import { harness, sh, skipUnlessRoot, waitFor } from './helpers.ts';
import { uniqueId } from '../fixtures/bundle.ts';
import { signalProcess } from '../../src/common/index.ts';

/** The fds a process holds, as the host sees them: number → what it points at. */
function fdsOf(pid: number): Map<number, string> {
  const out = new Map<number, string>();
  for (const name of readdirSync(`/proc/${pid}/fd`)) {
    try {
      out.set(Number(name), readlinkSync(`/proc/${pid}/fd/${name}`));
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

/** Directories among a process's fds (a directory fd is a way to a cwd outside the root). */
function directoryFds(pid: number): string[] {
  const dirs: string[] = [];
  for (const [fd, target] of fdsOf(pid)) {
    try {
      if (statSync(`/proc/${pid}/fd/${fd}`).isDirectory()) dirs.push(`${fd} -> ${target}`);
    } catch {
      // closed meanwhile
    }
  }
  return dirs;
}

/** Waits until the process runs its program, then for its fds to be `expected` (the kernel closes
 * close-on-exec fds a moment after /proc/<pid>/exe changes), and fails if they never are. */
async function runsWithFds(pid: number, expected: number[]): Promise<void> {
  await waitFor(() => readlinkSync(`/proc/${pid}/exe`).endsWith('/busybox'), 'the program to run');
  const sorted = () => [...fdsOf(pid).keys()].sort((a, b) => a - b);
  await waitFor(() => JSON.stringify(sorted()) === JSON.stringify(expected), `fds ${expected.join(',')}`, 2000).catch(() => {});
  assert.deepEqual(sorted(), expected);
}

function isInside(path: string, root: string): boolean {
  return path === root || path.startsWith(`${root}/`);
}

describe('berth-runtime: no host fd reaches the container (CVE-2024-21626 class)', { skip: skipUnlessRoot }, () => {
  const h = harness();
  after(() => h.cleanup());

  it('fails create+start with a clear error, or lands inside the root, for every cwd /proc/self/fd/3 … 64', async () => {
    for (let n = 3; n <= 64; n++) {
      const b = h.bundle((c) => {
        c.process!.args = ['/bin/sleep', '60'];
        c.process!.cwd = `/proc/self/fd/${n}`;
      });
      const id = uniqueId();
      try {
        const { pid } = await h.runtime.create(id, { bundleDir: b.bundleDir });
        await h.runtime.start(id);
        const cwd = realpathSync(`/proc/${pid}/cwd`);
        assert.ok(isInside(cwd, realpathSync(b.rootfsDir)), `cwd /proc/self/fd/${n} put the process at ${cwd}, outside its root`);
      } catch (err) {
        assert.match(String((err as Error).message), /proc\/self\/fd\/\d+/, `fd ${n}: the error names the path`);
        assert.doesNotMatch(String((err as Error).message), /undefined|without saying why/);
      } finally {
        await h.runtime.delete(id, { force: true }).catch(() => {});
      }
    }
  });

  it('fails exec with a clear error, or lands inside the root, for every --cwd /proc/self/fd/3 … 64', async () => {
    const b = h.bundle((c) => (c.process!.args = ['/bin/sleep', '60']));
    const id = uniqueId();
    await h.runtime.create(id, { bundleDir: b.bundleDir });
    await h.runtime.start(id);
    const root = realpathSync(b.rootfsDir);
    const devNull = openSync('/dev/null', 'r+');
    try {
      for (let n = 3; n <= 64; n++) {
        try {
          const r = await h.runtime.exec(id, { process: { args: ['/bin/sleep', '60'], cwd: `/proc/self/fd/${n}` }, detach: true, stdio: { stdin: devNull, stdout: devNull, stderr: devNull } });
          const cwd = realpathSync(`/proc/${r.pid}/cwd`);
          signalProcess(r.pid, 'SIGKILL');
          assert.ok(isInside(cwd, root), `exec --cwd /proc/self/fd/${n} put the process at ${cwd}`);
        } catch (err) {
          assert.match(String((err as Error).message), /chdir "\/proc\/self\/fd\/\d+"/, `fd ${n}: the error names the cwd`);
        }
      }
    } finally {
      closeSync(devNull);
      await h.runtime.delete(id, { force: true });
    }
  });

  it('refuses a working directory outside the root even through an fd the caller passes on purpose', async () => {
    const b = h.bundle((c) => (c.process!.args = ['/bin/sleep', '60']));
    const id = uniqueId();
    await h.runtime.create(id, { bundleDir: b.bundleDir });
    await h.runtime.start(id);
    // fd 3 of the exec'd process: a directory of the host, passed with --preserve-fds 1
    const hostDir = openSync('/etc', 'r');
    const devNull = openSync('/dev/null', 'r+');
    try {
      await assert.rejects(
        h.runtime.exec(id, { process: { args: ['/bin/true'], cwd: '/proc/self/fd/3' }, preserveFds: 1, stdio: { stdin: devNull, stdout: devNull, stderr: devNull }, extraFds: [hostDir] }),
        /the working directory is outside the container's root/,
      );
    } finally {
      closeSync(hostDir);
      closeSync(devNull);
      await h.runtime.delete(id, { force: true });
    }
  });

  it('never runs a program reached through a /proc magic link', async () => {
    await assert.rejects(h.run((c) => (c.process!.args = ['/proc/self/root/bin/true'])), /reached through a \/proc magic link/);
    await assert.rejects(h.run((c) => (c.process!.args = ['/proc/1/cwd/bin/true'])), /reached through a \/proc magic link/);
  });

  it('holds only stdio and sockets before start, and only what the config asks for after exec', async () => {
    const b = h.bundle((c) => (c.process!.args = ['/bin/sleep', '60']));
    const id = uniqueId();
    const { pid } = await h.runtime.create(id, { bundleDir: b.bundleDir });
    // created: the init waits on its start socket; no directory of the host is open in it
    assert.deepEqual(directoryFds(pid), []);
    for (const [fd, target] of fdsOf(pid)) {
      if (fd > 2) assert.match(target, /^socket:/, `fd ${fd} of the created init is ${target}`);
    }
    await h.runtime.start(id);
    await runsWithFds(pid, [0, 1, 2]);
    // an exec'd process holds its stdio only too
    const devNull = openSync('/dev/null', 'r+');
    try {
      const r = await h.runtime.exec(id, { process: { args: ['/bin/sleep', '60'] }, detach: true, stdio: { stdin: devNull, stdout: devNull, stderr: devNull } });
      await runsWithFds(r.pid, [0, 1, 2]);
      signalProcess(r.pid, 'SIGKILL');
    } finally {
      closeSync(devNull);
      await h.runtime.delete(id, { force: true });
    }
  });

  it('passes exactly the preserved fds, and nothing else', async () => {
    const b = h.bundle(sh('ls /proc/self/fd | sort -n | tr "\\n" " "; sleep 60'));
    const id = uniqueId();
    const a = openSync('/dev/null', 'r');
    const c = openSync('/dev/zero', 'r');
    try {
      const { pid } = await h.runtime.create(id, { bundleDir: b.bundleDir, preserveFds: 2, extraFds: [a, c] });
      await h.runtime.start(id);
      await runsWithFds(pid, [0, 1, 2, 3, 4]);
      assert.equal(fdsOf(pid).get(4), '/dev/zero');
    } finally {
      closeSync(a);
      closeSync(c);
      await h.runtime.delete(id, { force: true });
    }
  });
  it('passes the fds the caller gave in the preserved range at their numbers; a closed one stays closed (as crun), and none of Node\'s own fills it', () => {
    // (the launcher's Node opens fds of its own, at the lowest free numbers: 4 and 6 here)
    const b = h.bundle(sh('for f in 3 4 5 6 7 8; do [ -e /proc/self/fd/$f ] && printf "$f "; done; echo'));
    const cli = join(import.meta.dirname, '../../bin/berth-runtime');
    // fds 3 and 5 open, 4 not: --preserve-fds 4 passes 3 and 5, nothing at 4 or 6
    const r = spawnSync('bash', ['-c', `exec 3</dev/null 5</dev/null; exec "$@"`, 'bash', cli, '--root', h.rootDir, 'run', '--preserve-fds', '4', '--bundle', b.bundleDir, uniqueId()], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), '3 5');
  });
});

describe('berth-runtime: no id is read as "unchanged" (uid/gid 4294967295 would keep root)', { skip: skipUnlessRoot }, () => {
  const h = harness();
  after(() => h.cleanup());
  const cli = join(import.meta.dirname, '../../bin/berth-runtime');

  it('refuses ids above 2^31-1 in the config, naming the field, and creates nothing', async () => {
    for (const [mutate, field] of [
      [(c: RuntimeConfig) => (c.process!.user = { uid: 4294967295, gid: 0 }), 'process.user.uid'],
      [(c: RuntimeConfig) => (c.process!.user = { uid: 0, gid: 4294967295 }), 'process.user.gid'],
      [(c: RuntimeConfig) => (c.process!.user = { uid: 0, gid: 0, additionalGids: [4294967295] }), 'process.user.additionalGids[0]'],
    ] as const) {
      const b = h.bundle(mutate);
      const id = uniqueId();
      await assert.rejects(h.runtime.create(id, { bundleDir: b.bundleDir }), new RegExp(`${field.replace(/[.[\]]/g, '\\$&')}: expected a user or group id between 0 and 2147483647, got 4294967295`));
      assert.deepEqual(await h.runtime.list(), []);
    }
  });

  it('refuses exec --user 4294967295:4294967295 and runs nothing', async () => {
    const b = h.bundle((c) => (c.process!.args = ['/bin/sleep', '60']));
    const id = uniqueId();
    await h.runtime.create(id, { bundleDir: b.bundleDir });
    await h.runtime.start(id);
    try {
      const r = spawnSync(cli, ['--root', h.rootDir, 'exec', '--user', '4294967295:4294967295', id, '/bin/sh', '-c', 'id -u > /tmp/ran'], { encoding: 'utf8' });
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /user\.uid: expected a user or group id between 0 and 2147483647, got 4294967295/);
      assert.equal(existsSync(join(b.rootfsDir, 'tmp/ran')), false, 'nothing ran');
      const g = spawnSync(cli, ['--root', h.rootDir, 'exec', '--user', '0:0', '--additional-gids', '4294967295', id, '/bin/true'], { encoding: 'utf8' });
      assert.notEqual(g.status, 0);
      assert.match(g.stderr, /additionalGids\[0\]: expected a user or group id/);
    } finally {
      await h.runtime.delete(id, { force: true });
    }
  });
});

describe('berth-runtime: no mount lands on a kernel interface through a symlink of the image (CVE-2019-19921 class)', { skip: skipUnlessRoot }, () => {
  const h = harness();
  after(() => h.cleanup());

  it('refuses a bind mount whose destination a planted symlink sends into /proc or /sys, and allows those written there', async () => {
    for (const [link, target, kernel] of [['etc/hosts', '/proc/sys/kernel/hostname', '/proc'], ['etc/motd', '/sys/kernel/notes', '/sys'], ['redirect', '/proc/sys/kernel', '/proc']] as const) {
      const b = h.bundle((c) => {
        c.process!.args = ['/bin/true'];
        c.mounts!.push({ destination: `/${link}${link === 'redirect' ? '/core_pattern' : ''}`, type: 'bind', source: '/etc/hostname', options: ['bind', 'ro'] });
      });
      const linkPath = join(b.rootfsDir, link);
      spawnSync('rm', ['-f', linkPath]);
      symlinkSync(target, linkPath);
      const id = uniqueId();
      await assert.rejects(h.runtime.create(id, { bundleDir: b.bundleDir }), new RegExp(`resolves into ${kernel} through a symlink in the root filesystem`), link);
      assert.deepEqual(await h.runtime.ctx.store.list(), [], 'nothing is left');
    }
    // a destination written under /proc is the config's own choice (lxcfs-style views)
    const r = await h.run((c) => {
      c.process!.args = ['/bin/sh', '-c', 'head -c 5 /proc/uptime'];
      c.mounts!.push({ destination: '/proc/uptime', type: 'bind', source: '/etc/hostname', options: ['bind', 'ro'] });
    });
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(r.stdout, readFileSync('/etc/hostname', 'utf8').slice(0, 5));
  });
});
