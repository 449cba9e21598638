import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CGROUP2_SUPER_MAGIC, TMPFS_MAGIC, detectCgroupLayout, parseMountinfo } from './layout.ts';
import { BerthError } from '../common/index.ts';

async function tempRoot(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-layout-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const tmpfs = async () => TMPFS_MAGIC;

/** A mountinfo text like this host's: separate cpu and cpuacct mounts, systemd, unified. */
function hybridMountinfo(root: string): string {
  return [
    `22 1 0:21 / / rw,relatime - ext4 /dev/vda rw`,
    `31 23 0:28 / ${root} rw,relatime - tmpfs tmpfs rw,mode=755`,
    `32 31 0:29 / ${root}/cpu rw,relatime - cgroup cgroup rw,cpu`,
    `33 31 0:30 / ${root}/cpuacct rw,relatime - cgroup cgroup rw,cpuacct`,
    `34 31 0:31 / ${root}/cpuset rw,relatime - cgroup cgroup rw,cpuset`,
    `35 31 0:32 / ${root}/memory rw,relatime - cgroup cgroup rw,memory`,
    `39 31 0:36 / ${root}/pids rw,relatime - cgroup cgroup rw,pids`,
    `40 31 0:37 / ${root}/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd`,
    `41 31 0:38 / ${root}/unified rw,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate`,
    '',
  ].join('\n');
}

describe('detectCgroupLayout', () => {
  it('reports hybrid with each separate v1 mount and the unified controllers when v1 and cgroup2 are both mounted', async (t) => {
    const root = await tempRoot(t);
    await mkdir(join(root, 'unified'));
    await writeFile(join(root, 'unified/cgroup.controllers'), 'hugetlb\n');
    const layout = await detectCgroupLayout(root, { mountinfo: hybridMountinfo(root), fsType: tmpfs });
    assert.equal(layout.kind, 'hybrid');
    assert.equal(layout.root, root);
    assert.equal(layout.v1Mounts.get('cpu'), `${root}/cpu`);
    assert.equal(layout.v1Mounts.get('cpuacct'), `${root}/cpuacct`);
    assert.equal(layout.v1Mounts.get('memory'), `${root}/memory`);
    assert.equal(layout.v1Mounts.get('name=systemd'), `${root}/systemd`);
    assert.equal(layout.v1Mounts.has('xattr'), false);
    assert.equal(layout.v1Mounts.has('rw'), false);
    assert.equal(layout.v2Dir, `${root}/unified`);
    assert.deepEqual(layout.v2Controllers, ['hugetlb']);
  });

  it('maps both controllers of a co-mount to the same directory when cpu,cpuacct are mounted together', async (t) => {
    const root = await tempRoot(t);
    const mountinfo = [
      `25 24 0:22 / ${root}/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct`,
      `26 24 0:23 / ${root}/net_cls,net_prio rw - cgroup cgroup rw,net_cls,net_prio`,
      `27 24 0:24 / ${root}/memory rw - cgroup cgroup rw,memory`,
    ].join('\n');
    const layout = await detectCgroupLayout(root, { mountinfo, fsType: tmpfs });
    assert.equal(layout.kind, 'v1');
    assert.equal(layout.v1Mounts.get('cpu'), `${root}/cpu,cpuacct`);
    assert.equal(layout.v1Mounts.get('cpuacct'), `${root}/cpu,cpuacct`);
    assert.equal(layout.v1Mounts.get('net_prio'), `${root}/net_cls,net_prio`);
    assert.equal(layout.v2Dir, undefined);
    assert.deepEqual(layout.v2Controllers, []);
  });

  it('reports v2 with the root as v2Dir when the root itself is cgroup2', async (t) => {
    const root = await tempRoot(t);
    await writeFile(join(root, 'cgroup.controllers'), 'cpuset cpu io memory hugetlb pids\n');
    const layout = await detectCgroupLayout(root, { mountinfo: '', fsType: async () => CGROUP2_SUPER_MAGIC });
    assert.equal(layout.kind, 'v2');
    assert.equal(layout.v2Dir, root);
    assert.equal(layout.v1Mounts.size, 0);
    assert.deepEqual(layout.v2Controllers, ['cpuset', 'cpu', 'io', 'memory', 'hugetlb', 'pids']);
  });

  it('ignores cgroup mounts outside the root and decodes escaped mount points', async (t) => {
    const root = await tempRoot(t);
    const mountinfo = [
      `30 24 0:22 / /elsewhere/memory rw - cgroup cgroup rw,memory`,
      `31 24 0:23 / ${root}/my\\040pids rw - cgroup cgroup rw,pids`,
    ].join('\n');
    const layout = await detectCgroupLayout(root, { mountinfo, fsType: tmpfs });
    assert.equal(layout.v1Mounts.has('memory'), false);
    assert.equal(layout.v1Mounts.get('pids'), `${root}/my pids`);
  });

  it('fails with FAILED_PRECONDITION naming the root when no hierarchy is mounted there', async (t) => {
    const root = await tempRoot(t);
    await assert.rejects(detectCgroupLayout(root, { mountinfo: '22 1 0:21 / / rw - ext4 /dev/vda rw\n', fsType: tmpfs }), (err: unknown) => {
      assert.ok(err instanceof BerthError);
      assert.equal(err.code, 'FAILED_PRECONDITION');
      assert.match(err.message, new RegExp(`no cgroup hierarchy is mounted at ${root}`));
      return true;
    });
  });
});

describe('parseMountinfo', () => {
  it('reads the mount id, and the filesystem type and super options after the separator when optional fields are present', () => {
    const [entry] = parseMountinfo('41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:9 master:2 - cgroup2 cgroup2 rw,nsdelegate\n');
    assert.deepEqual(entry, { id: 41, root: '/', mountPoint: '/sys/fs/cgroup/unified', fsType: 'cgroup2', superOptions: ['rw', 'nsdelegate'] });
  });
});
