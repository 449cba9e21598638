/**
 * The leak check (test/leaks.check.ts, run after the suite) must be able to fail: one leak of
 * each kind is planted here, found, and taken away again.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findLeaks } from '../leaks.ts';
import { harness, sh, skipUnlessRoot } from './helpers.ts';
import { uniqueId } from '../fixtures/bundle.ts';

describe('the leak check', { skip: skipUnlessRoot }, () => {
  const h = harness();
  after(() => h.cleanup());

  it('finds a mount of berth', () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-test-leak-mnt-'));
    execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', dir]);
    try {
      assert.ok(findLeaks().mounts.some((l) => l.includes(dir)));
    } finally {
      execFileSync('umount', [dir]);
      rmdirSync(dir);
    }
    assert.equal(findLeaks().mounts.some((l) => l.includes(dir)), false);
  });

  it('finds a cgroup of berth in a hierarchy', () => {
    const hierarchy = readdirSync('/sys/fs/cgroup').includes('cgroup.procs') ? '/sys/fs/cgroup' : '/sys/fs/cgroup/memory';
    const dir = join(hierarchy, `berth-test-leak-${process.pid}`);
    mkdirSync(dir);
    try {
      assert.ok(findLeaks().cgroups.includes(dir));
    } finally {
      rmdirSync(dir);
    }
  });

  it('finds a berth-init started from a sealed memfd, and a container process in a cgroup of berth', async () => {
    const b = h.bundle(sh('sleep 60'));
    const id = uniqueId();
    // the library starts berth-init with posix_spawn from a memfd: /proc/<pid>/exe is /memfd:berth-init
    const { pid } = await h.runtime.create(id, { bundleDir: b.bundleDir });
    try {
      assert.ok(findLeaks().processes.some((l) => l.startsWith(`${pid} /memfd:berth-init`)), 'the created init');
      await h.runtime.start(id);
      assert.ok(findLeaks().processes.some((l) => l.startsWith(`${pid} in a cgroup of berth`)), 'the running container');
    } finally {
      await h.runtime.delete(id, { force: true });
    }
    assert.equal(findLeaks().processes.some((l) => l.startsWith(`${pid} `)), false);
  });

  it('finds a state dir and a temp dir of the tests', () => {
    const run = mkdtempSync('/run/berth-test-leak-');
    const tmp = mkdtempSync(join(tmpdir(), 'berth-test-leak-'));
    try {
      const dirs = findLeaks().dirs;
      assert.ok(dirs.includes(run) && dirs.includes(tmp));
    } finally {
      rmSync(run, { recursive: true });
      rmSync(tmp, { recursive: true });
    }
  });

  it('finds a network namespace and a veth of berth', () => {
    const ns = `berth-test-leak-${process.pid}`;
    const veth = `berthtl${process.pid % 100000}`;
    execFileSync('ip', ['netns', 'add', ns]);
    execFileSync('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', `${veth}p`]);
    try {
      const network = findLeaks().network;
      assert.ok(network.includes(`netns ${ns}`));
      assert.ok(network.some((l) => l.includes(veth)));
    } finally {
      execFileSync('ip', ['link', 'del', veth]);
      execFileSync('ip', ['netns', 'del', ns]);
    }
  });

  it('finds an nftables table of a test root', () => {
    const table = `berth-leaktest${process.pid}`;
    execFileSync('nft', ['add', 'table', 'ip', table]);
    try {
      assert.ok(findLeaks().network.some((l) => l.includes(table)));
    } finally {
      execFileSync('nft', ['delete', 'table', 'ip', table]);
    }
  });
});
