/**
 * A real caller drives berth-runtime: podman, with `--runtime bin/berth-runtime`, runs,
 * execs into, stops and removes containers through conmon, as it does with runc.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { skipUnlessRoot } from './helpers.ts';

const repoDir = join(import.meta.dirname, '../..');
const skip = skipUnlessRoot || (existsSync('/usr/bin/podman') ? false : 'podman is not installed (./setup.sh installs it)');

describe('podman driving berth-runtime', { skip }, () => {
  let dir = '';
  let hadRunContainers = true;
  const podman = (...args: string[]) => {
    const base = ['--root', join(dir, 'root'), '--runroot', join(dir, 'runroot'), '--tmpdir', join(dir, 'tmp'), '--network-config-dir', join(dir, 'net'), '--cgroup-manager', 'cgroupfs', '--events-backend', 'none', '--runtime', join(repoDir, 'bin/berth-runtime'), '--runtime-flag', `root=${join(dir, 'runtime')}`];
    return spawnSync('podman', [...base, ...args], { encoding: 'utf8', timeout: 60_000 });
  };
  // this sandbox's root lacks CAP_SYS_RESOURCE: keep the rlimits podman asks for reachable
  const runFlags = ['--network', 'none', '--ulimit', 'nofile=1024:4096', '--ulimit', 'nproc=4096:4096'];

  // podman's SHM lock file: removed at the end when these tests made it
  const LIBPOD_LOCK = '/dev/shm/libpod_lock';
  let hadLibpodLock = true;

  before(() => {
    hadRunContainers = existsSync('/run/containers');
    hadLibpodLock = existsSync(LIBPOD_LOCK);
    dir = mkdtempSync('/var/tmp/berth-test-podman-');
    const tar = join(dir, 'busybox.tar');
    const made = spawnSync(process.execPath, [join(repoDir, 'scripts/make-busybox-image.mjs'), '--tar', tar], { encoding: 'utf8' });
    assert.equal(made.status, 0, made.stderr);
    const imported = podman('import', '-q', '--change', 'CMD ["sh"]', tar, 'localhost/berth-busybox:test');
    assert.equal(imported.status, 0, imported.stderr);
  });

  after(() => {
    if (!dir) return;
    podman('system', 'reset', '-f');
    rmSync(dir, { recursive: true, force: true });
    if (!hadLibpodLock) rmSync(LIBPOD_LOCK, { force: true });
    if (!hadRunContainers) {
      for (const d of ['/run/containers/networks', '/run/containers']) {
        try {
          rmdirSync(d);
        } catch {
          // not there or not empty: not ours to remove
        }
      }
    }
  });

  it('runs a container to completion and passes its output and status through', () => {
    const r = podman('run', '--rm', ...runFlags, 'localhost/berth-busybox:test', 'sh', '-c', 'echo via-berth; hostname; exit 3');
    assert.equal(r.status, 3, r.stderr);
    assert.match(r.stdout, /^via-berth\n[0-9a-f]{12}\n$/);
  });

  it('runs a detached container with a memory limit, execs into it, stops and removes it', () => {
    const started = podman('run', '-d', ...runFlags, '--memory', '64m', 'localhost/berth-busybox:test', 'sh', '-c', 'echo started; exec sleep 300');
    assert.equal(started.status, 0, started.stderr);
    const id = started.stdout.trim();
    const exec = podman('exec', id, 'sh', '-c', 'echo exec-ok; cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max');
    assert.equal(exec.status, 0, exec.stderr);
    assert.match(exec.stdout, /exec-ok\n67108864\n/);
    assert.match(podman('logs', id).stdout, /started/);
    assert.equal(podman('stop', '-t', '1', id).status, 0);
    assert.equal(podman('rm', id).status, 0);
    assert.equal(podman('ps', '-aq').stdout.trim(), '');
  });
});
