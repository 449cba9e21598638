/** Bad input: each is refused with a message naming the problem, and leaves nothing behind. */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, writeFileSync, symlinkSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { harness, sh, skipUnlessRoot, waitFor } from './helpers.ts';
import { uniqueId } from '../fixtures/bundle.ts';

const repoDir = join(import.meta.dirname, '../..');
const cli = join(repoDir, 'bin/berth-runtime');

/** The container's cgroup in any hierarchy: /sys/fs/cgroup/<controller>/berth/<id> (v1) or /sys/fs/cgroup/berth/<id> (v2). */
function cgroupLeft(id: string): boolean {
  if (existsSync(join('/sys/fs/cgroup/berth', id))) return true;
  return readdirSync('/sys/fs/cgroup').some((h) => existsSync(join('/sys/fs/cgroup', h, 'berth', id)));
}

describe('berth-runtime bad input', { skip: skipUnlessRoot }, () => {
  const h = harness();
  after(() => h.cleanup());

  async function refused(mutate: Parameters<typeof h.bundle>[0], pattern: RegExp, code?: string): Promise<void> {
    const b = h.bundle(mutate);
    const id = uniqueId();
    await assert.rejects(h.runtime.create(id, { bundleDir: b.bundleDir }), (err: Error & { code?: string }) => {
      assert.match(err.message, pattern);
      if (code) assert.equal(err.code, code);
      return true;
    });
    assert.equal(existsSync(join(h.rootDir, id)), false, 'state left behind');
    assert.equal(cgroupLeft(id), false, 'cgroup left behind');
  }

  it('refuses a config with a wrong type, naming the field', () =>
    refused((c) => ((c.process as unknown as Record<string, unknown>).args = 'sh'), /process\.args/, 'INVALID_ARGUMENT'));

  it('refuses an unknown namespace type', () =>
    refused((c) => c.linux!.namespaces!.push({ type: 'bogus' as 'pid' }), /linux\.namespaces\[\d+\]\.type: unknown namespace type "bogus"/));

  it('refuses duplicate namespaces', () => refused((c) => c.linux!.namespaces!.push({ type: 'pid' }), /linux\.namespaces\[\d+\]/));

  it('refuses a relative mount destination', () =>
    refused((c) => c.mounts!.push({ destination: 'data', type: 'tmpfs', source: 'tmpfs' }), /mounts\[\d+\]\.destination/));

  it('refuses a name that is no capability', () =>
    refused((c) => (c.process!.capabilities!.bounding = ['fly']), /process\.capabilities\.bounding\[0\]: unknown capability "fly"/));

  it('refuses an unknown seccomp syscall name', () =>
    refused(
      (c) => (c.linux!.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['notasyscall'], action: 'SCMP_ACT_ERRNO' }] }),
      /linux\.seccomp\.syscalls\[0\]\.names\[0\]: unknown syscall "notasyscall"/,
    ));

  it('refuses bad id mappings', () =>
    refused((c) => {
      c.linux!.namespaces!.push({ type: 'user' });
      c.linux!.uidMappings = [{ containerID: 0, hostID: 1000, size: 0 }];
      c.linux!.gidMappings = [{ containerID: 0, hostID: 1000, size: 1 }];
    }, /linux\.uidMappings\[0\]\.size/));

  it('refuses malformed JSON with its position', async () => {
    const b = h.bundle();
    writeFileSync(join(b.bundleDir, 'config.json'), '{"ociVersion": "1.2.0",, }');
    await assert.rejects(h.runtime.create(uniqueId(), { bundleDir: b.bundleDir }), /malformed JSON at line 1/);
  });

  it('reports a missing mount source with stage, operation, path and errno', async () => {
    const missing = join(tmpdir(), 'berth-test-does-not-exist');
    await refused((c) => c.mounts!.push({ destination: '/data', type: 'bind', source: missing, options: ['rbind'] }), new RegExp(`child: mount "${missing} on /data": no such file or directory`), 'NOT_FOUND');
  });

  it('reports a missing executable as not found', () =>
    refused((c) => (c.process!.args = ['/bin/no-such-program']), /exec "\/bin\/no-such-program".*(no such file|not found)/));

  it('fails the create when a prestart hook fails, saying which', () =>
    refused((c) => (c.hooks = { prestart: [{ path: '/bin/false' }] }), /error running hook \(prestart \/bin\/false\): exit status 1/));

  it('never lets a symlink in the image send a mount to the host', async () => {
    const hostTarget = mkdtempSync(join(tmpdir(), 'berth-test-target-'));
    after(() => rmSync(hostTarget, { recursive: true, force: true }));
    const r = await h.run((c) => {
      c.mounts!.push({ destination: '/evil/inside', type: 'tmpfs', source: 'tmpfs', options: ['size=1k'] });
      c.process!.args = ['/bin/sh', '-c', 'echo ok'];
    }, {});
    assert.equal(r.exitCode, 0);
    // now plant /evil -> hostTarget in a rootfs and mount through it
    const b = h.bundle((c) => {
      c.mounts!.push({ destination: '/evil/inside', type: 'tmpfs', source: 'tmpfs', options: ['size=1k'] });
      c.process!.args = ['/bin/sh', '-c', 'ls -d /evil/inside && grep -c " /evil/inside " /proc/self/mountinfo'];
    });
    symlinkSync(hostTarget, join(b.rootfsDir, 'evil'));
    const id = uniqueId();
    const devNull = openSync('/dev/null', 'w');
    const result = await h.runtime.run(id, { bundleDir: b.bundleDir, stdio: { stdout: devNull } }).catch((e: Error) => e);
    closeSync(devNull);
    // the mount landed inside the root (the symlink resolved within it) or was refused: never on the host
    assert.equal(existsSync(join(hostTarget, 'inside')), false, 'a directory was created on the host through the symlink');
    void result;
  });

  it('exits 127 from `run` for a missing program and 126 for one that cannot execute (CLI)', () => {
    const missing = h.bundle((c) => (c.process!.args = ['no-such-program']));
    let r = spawnSync(cli, ['--root', h.rootDir, 'run', '--bundle', missing.bundleDir, uniqueId()], { encoding: 'utf8' });
    assert.equal(r.status, 127, r.stderr);
    assert.match(r.stderr, /no-such-program/);
    const noexec = h.bundle((c) => (c.process!.args = ['/etc/passwd']));
    r = spawnSync(cli, ['--root', h.rootDir, 'run', '--bundle', noexec.bundleDir, uniqueId()], { encoding: 'utf8' });
    assert.equal(r.status, 126, r.stderr);
  });

  it('refuses unknown flags and commands with a non-zero exit (CLI)', () => {
    let r = spawnSync(cli, ['create', '--bogus', 'x'], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /unknown flag --bogus for "berth-runtime create"/);
    r = spawnSync(cli, ['frobnicate'], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /unknown command "frobnicate"/);
    // help of a command there is not: runc's words (scripts match them), and a failure
    r = spawnSync(cli, ['frobnicate', '-h'], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /No help topic for 'frobnicate'/);
    r = spawnSync(cli, ['--root', h.rootDir, 'state', 'nope'], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /container "nope" does not exist/);
  });

  it('prints the plan with --explain and creates nothing (CLI)', () => {
    const b = h.bundle(sh('true'));
    const id = uniqueId();
    const r = spawnSync(cli, ['--root', h.rootDir, 'run', '--explain', '--bundle', b.bundleDir, id], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    for (const step of ['CLONE_NEWPID', 'pivot_root', 'mount("proc"', 'capset', 'execve("/bin/sh"']) assert.ok(r.stdout.includes(step), `plan lacks ${step}`);
    assert.match(r.stdout, /\] clone3?\(/, 'plan lacks the clone');
    // v1: berth-init joins through tasks; v2: the init is cloned into its cgroup
    assert.match(r.stdout, /join cgroup: write 0 > \/sys\/fs\/cgroup\/|open\("\/sys\/fs\/cgroup\/[^"]*", O_PATH\|O_DIRECTORY\)/, 'plan lacks the cgroup entry');
    assert.equal(existsSync(join(h.rootDir, id)), false);
    assert.equal(cgroupLeft(id), false);
  });

  it('cleans up with delete --force after the runtime was killed in the middle of create (CLI)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-test-killed-'));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const marker = join(dir, 'hook-started');
    const b = h.bundle((c) => {
      c.hooks = { createRuntime: [{ path: '/bin/sh', args: ['sh', '-c', `touch ${marker}; sleep 2`] }] };
      c.process!.args = ['/bin/true'];
    });
    const id = uniqueId();
    const child = spawn(cli, ['--root', h.rootDir, 'create', '--bundle', b.bundleDir, id], { stdio: 'ignore' });
    await waitFor(() => existsSync(marker), 'the createRuntime hook');
    child.kill('SIGKILL');
    await new Promise((r) => child.on('close', r));
    // state and cgroup were recorded before they were made: both are found and removed
    assert.equal(existsSync(join(h.rootDir, id)), true);
    assert.equal(cgroupLeft(id), true);
    const r = spawnSync(cli, ['--root', h.rootDir, 'delete', '--force', id], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(existsSync(join(h.rootDir, id)), false);
    assert.equal(cgroupLeft(id), false);
  });

  it('reports in features only what it supports (CLI)', () => {
    const r = spawnSync(cli, ['features'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.ok(doc.hooks.includes('createContainer'));
    assert.ok(doc.mountOptions.includes('rro'));
    for (const option of ['tmpcopyup', 'idmap', 'ridmap']) assert.ok(doc.mountOptions.includes(option), option);
    assert.equal(doc.linux.mountExtensions.idmap.enabled, true);
    assert.equal(doc.linux.seccomp.enabled, true);
  });

  it('has --help for every command (CLI)', () => {
    for (const cmd of ['create', 'start', 'run', 'exec', 'state', 'kill', 'delete', 'list', 'ps', 'pause', 'resume', 'update', 'events', 'spec', 'features']) {
      const r = spawnSync(cli, [cmd, '--help'], { encoding: 'utf8' });
      assert.equal(r.status, 0);
      assert.match(r.stdout, new RegExp(`Usage: berth-runtime ${cmd}`));
    }
  });

  describe('errors a user can act on', () => {
    const cases: { what: string; mutate?: Parameters<typeof h.bundle>[0]; prepare?: (rootfsDir: string) => void; id?: string; preserveFds?: number; pattern: RegExp }[] = [
      { what: 'an id with a path in it', id: 'a/../../etc', pattern: /invalid container id "a\/\.\.\/\.\.\/etc"/ },
      { what: 'an id longer than a file name may be', id: 'a'.repeat(256), pattern: /invalid container id: 256 characters \(at most 255\)/ },
      { what: '--preserve-fds below 0', preserveFds: -5, pattern: /--preserve-fds: expected a number of fds from 0 to \d+, got -5/ },
      { what: '--preserve-fds in-process, without the launcher\'s record of the caller\'s fds', preserveFds: 2, pattern: /--preserve-fds 2: which fds the caller gave is known only when berth-runtime runs through its launcher/ },
      { what: '--preserve-fds past the open-file limit', preserveFds: 1 << 20, pattern: /--preserve-fds 1048576: fds 3 to 1048578 pass the open-file limit of \d+/ },
      {
        what: 'a /proc that is a symlink in the image',
        prepare: (rootfsDir) => {
          rmSync(join(rootfsDir, 'proc'), { recursive: true });
          symlinkSync('tmp', join(rootfsDir, 'proc'));
        },
        pattern: /mount "\/proc": the mount destination is a symlink in the root filesystem: procfs and sysfs must be mounted on ordinary directory/,
      },
    ];
    for (const c of cases) {
      it(`refuses ${c.what}, saying so, and leaves nothing`, async () => {
        const b = h.bundle(c.mutate);
        c.prepare?.(b.rootfsDir);
        const id = c.id ?? uniqueId();
        await assert.rejects(h.runtime.create(id, { bundleDir: b.bundleDir, ...(c.preserveFds !== undefined ? { preserveFds: c.preserveFds } : {}) }), (err: Error) => {
          assert.match(err.message, c.pattern);
          assert.doesNotMatch(err.message, /undefined|without saying why|is not a function|Cannot read/);
          return true;
        });
        assert.deepEqual(readdirSync(h.rootDir).filter((n) => n !== '.seccomp-cache'), [], 'state left behind');
        if (!c.id) assert.equal(cgroupLeft(id), false, 'cgroup left behind');
        assert.equal(existsSync(join(b.rootfsDir, 'tmp/self')), false, 'procfs was mounted elsewhere');
      });
    }

    it('says the OOM killer ended a process with a memory limit too low for it, in set-up or after', async () => {
      // where the set-up itself is charged to the limit (v1: berth-init joins the cgroup), create
      // is refused naming the OOM killer; otherwise the program is killed: 137, nothing vaguer
      const b = h.bundle((c) => {
        c.process!.args = ['/bin/sh', '-c', 'x=a; while true; do x=$x$x; done'];
        c.linux!.resources = { ...c.linux!.resources, memory: { limit: 256 * 1024, swap: 256 * 1024 } };
      });
      const id = uniqueId();
      try {
        const r = await h.runtime.run(id, { bundleDir: b.bundleDir, stdio: { stdout: 'ignore', stderr: 'ignore' } });
        assert.equal(r.exitCode, 137);
      } catch (err) {
        assert.match((err as Error).message, /killed by the OOM killer during set-up \(memory limit 262144 bytes\)/);
      }
      assert.deepEqual(readdirSync(h.rootDir).filter((n) => n !== '.seccomp-cache'), [], 'state left behind');
      assert.equal(cgroupLeft(id), false, 'cgroup left behind');
    });

    it('exits 0 from delete --force of a container that does not exist, and 1 without --force (CLI)', () => {
      let r = spawnSync(cli, ['--root', h.rootDir, 'delete', '--force', 'never-was'], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      r = spawnSync(cli, ['--root', h.rootDir, 'delete', 'never-was'], { encoding: 'utf8' });
      assert.equal(r.status, 1);
      assert.match(r.stderr, /container "never-was" does not exist/);
    });

    it('names --preserve-fds problems at the command line too (CLI)', () => {
      const b = h.bundle(sh('true'));
      for (const [value, pattern] of [['-5', /got -5/], ['1048576', /pass the open-file limit/], ['x', /needs a whole number/]] as const) {
        const r = spawnSync(cli, ['--root', h.rootDir, 'run', '--preserve-fds', value, '--bundle', b.bundleDir, uniqueId()], { encoding: 'utf8' });
        assert.equal(r.status, 1);
        assert.match(r.stderr, pattern);
      }
    });
  });
});
