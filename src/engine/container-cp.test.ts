import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { hostRootId, placeCopy, renameTransform, splitContainerPath, kernelMountExcludes } from './container-cp.ts';

describe('splitContainerPath', () => {
  it('splits a path into its parent and name when it names a file', () => {
    assert.deepEqual(splitContainerPath('/etc/passwd'), { parent: '/etc', name: 'passwd', isContents: false, mustBeDir: false });
    assert.deepEqual(splitContainerPath('etc/passwd'), { parent: '/etc', name: 'passwd', isContents: false, mustBeDir: false });
  });
  it('reads a trailing / as a directory and /. as its contents', () => {
    assert.equal(splitContainerPath('/data/').mustBeDir, true);
    assert.deepEqual(splitContainerPath('/data/.'), { parent: '/', name: 'data', isContents: true, mustBeDir: true });
    assert.deepEqual(splitContainerPath('/'), { parent: '/', name: '.', isContents: true, mustBeDir: true });
  });
  it('leaves a trailing .. to the resolver as a directory', () => {
    assert.deepEqual(splitContainerPath('/a/..'), { parent: '/a/..', name: '.', isContents: false, mustBeDir: true });
  });
});

describe('renameTransform', () => {
  it('renames the top member and what is under it, with regex characters taken literally', () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-cp-unit-'));
    try {
      mkdirSync(join(dir, 'a.b*[x]'));
      writeFileSync(join(dir, 'a.b*[x]/f'), '');
      writeFileSync(join(dir, 'aXb'), '');
      const r = spawnSync('tar', ['-c', '-f', '-', `--transform=${renameTransform('a.b*[x]', 'new&\\name')}`, '-C', dir, 'a.b*[x]', 'aXb']);
      const list = spawnSync('tar', ['-t', '--quoting-style=literal'], { input: r.stdout, encoding: 'utf8' }).stdout.trim().split('\n');
      assert.deepEqual(list, ['new&\\name/', 'new&\\name/f', 'aXb']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('refuses names it cannot express', () => {
    assert.throws(() => renameTransform('a', 'b\x01'), { code: 'INVALID_ARGUMENT' });
  });
});

describe('placeCopy', () => {
  const file = { isDir: false, isContents: false, name: 'f' };
  const dir = { isDir: true, isContents: false, name: 'd' };
  it('copies into an existing directory under the source name', () => {
    assert.deepEqual(placeCopy(file, { path: '/x', stat: { isDir: true }, mustBeDir: false }), { into: 'dest', name: 'f', isContents: false });
    assert.deepEqual(placeCopy({ ...dir, isContents: true }, { path: '/x', stat: { isDir: true }, mustBeDir: false }), { into: 'dest', name: 'd', isContents: true });
  });
  it('creates or overwrites the destination under its own name', () => {
    assert.deepEqual(placeCopy(file, { path: '/x/new', stat: undefined, mustBeDir: false }), { into: 'parent', name: 'new', isContents: false });
    assert.deepEqual(placeCopy(file, { path: '/x/old', stat: { isDir: false }, mustBeDir: false }), { into: 'parent', name: 'old', isContents: false });
    assert.deepEqual(placeCopy(dir, { path: '/x/new/', stat: undefined, mustBeDir: true }), { into: 'parent', name: 'new', isContents: false });
  });
  it("refuses docker's error cases", () => {
    assert.throws(() => placeCopy(dir, { path: '/x/file', stat: { isDir: false }, mustBeDir: false }), /not a directory/);
    assert.throws(() => placeCopy(file, { path: '/x/missing/', stat: undefined, mustBeDir: true }), /must exist/);
  });
});

describe('hostRootId', () => {
  it("maps the container's root through its uid map", () => {
    assert.equal(hostRootId(undefined), 0);
    assert.equal(hostRootId([{ containerID: 0, hostID: 100000, size: 65536 }]), 100000);
  });
});

describe('cp out of a running container: its kernel file systems', () => {
  const mountinfo = [
    '1 0 0:1 / / rw - overlay overlay rw',
    '2 1 0:2 / /proc rw - proc proc rw',
    '3 1 0:3 / /sys ro - sysfs sysfs ro',
    '4 1 0:4 / /dev rw - tmpfs tmpfs rw',
    '5 4 0:5 / /dev/pts rw - devpts devpts rw',
    '6 2 0:6 /meminfo /proc/meminfo rw - fuse.berth-view berth-view rw',
    '7 1 0:7 / /data rw - ext4 /dev/sda1 rw',
    '8 1 0:2 / /odd\\040[dir] rw - proc proc rw',
  ].join('\n');

  it('leaves out what is under /proc, /sys, /dev/pts (the dirs stay), not volumes or tmpfs', () => {
    assert.deepEqual(kernelMountExcludes(mountinfo, '/', '.'), ['./dev/pts/*', './odd \\[dir]/*', './proc/*', './proc/meminfo/*', './sys/*']);
    assert.deepEqual(kernelMountExcludes(mountinfo, '/', 'proc'), ['proc/*', 'proc/meminfo/*']);
    assert.deepEqual(kernelMountExcludes(mountinfo, '/', 'data'), []);
    assert.deepEqual(kernelMountExcludes(mountinfo, '/dev', '.'), ['./pts/*']);
    assert.deepEqual(kernelMountExcludes(mountinfo, '/dev', 'pts'), ['pts/*']);
    assert.deepEqual(kernelMountExcludes(mountinfo, '/etc', '.'), []);
    assert.deepEqual(kernelMountExcludes(mountinfo, '/proc', '.'), ['./*', './meminfo/*']);
  });
});
