/**
 * Rootless: berth-runtime run by an unprivileged user (nobody), in a user namespace that maps
 * the container's root to that user, with no cgroup of its own, as runc does rootless.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { skipUnlessRoot } from './helpers.ts';
import { makeBusyboxRootfs, uniqueId } from '../fixtures/bundle.ts';

const cli = join(import.meta.dirname, '../../bin/berth-runtime');
const NOBODY = 65534;

function chownTree(path: string): void {
  chownSync(path, NOBODY, NOBODY);
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    const child = join(path, entry.name);
    if (entry.isDirectory()) chownTree(child);
    else if (!entry.isSymbolicLink()) chownSync(child, NOBODY, NOBODY);
  }
}

describe('berth-runtime rootless', { skip: skipUnlessRoot }, () => {
  let dir = '';
  let bundle = '';
  let state = '';
  const asNobody = (...args: string[]) =>
    spawnSync(cli, ['--root', state, ...args], { uid: NOBODY, gid: NOBODY, encoding: 'utf8', cwd: bundle, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'berth-test-rootless-'));
    chmodSync(dir, 0o755);
    bundle = join(dir, 'bundle');
    state = join(dir, 'state');
    makeBusyboxRootfs(join(bundle, 'rootfs'));
    chownTree(dir);
    const spec = asNobody('spec', '--rootless');
    assert.equal(spec.status, 0, spec.stderr);
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function configure(mutate: (c: Record<string, any>) => void): void {
    const path = join(bundle, 'config.json');
    const config = JSON.parse(readFileSync(path, 'utf8'));
    config.process.terminal = false;
    mutate(config);
    writeFileSync(path, JSON.stringify(config));
    chownSync(path, NOBODY, NOBODY);
  }

  it('runs a container as an unprivileged user: root inside, that user outside, no cgroup', () => {
    configure((c) => (c.process.args = ['/bin/sh', '-c', 'id -u; cat /proc/self/uid_map; echo pid=$$']));
    const id = uniqueId();
    const r = asNobody('run', id);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines[0], '0');
    assert.match(lines[1]!, /^\s*0\s+65534\s+1$/);
    assert.equal(lines[2], 'pid=1');
    assert.match(r.stderr, /no cgroup: rootless/);
    assert.equal(existsSync(`/sys/fs/cgroup/memory/berth/${id}`) || existsSync(`/sys/fs/cgroup/berth/${id}`), false);
    assert.equal(asNobody('list', '-q').stdout, '', 'run removed the stopped container');
  });

  it('refuses resource limits without a delegated cgroup, and leaves nothing', () => {
    configure((c) => {
      c.process.args = ['/bin/true'];
      c.linux.resources = { memory: { limit: 64 * 1024 * 1024 } };
    });
    const r = asNobody('run', uniqueId());
    assert.equal(r.status, 1);
    assert.match(r.stderr, /rootless container cannot have resource limits without a delegated cgroup/);
    assert.equal(asNobody('list', '-q').stdout, '');
  });
});
