import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cgroupEntry, kernelHasCloneIntoCgroup } from './host-cgroups.ts';

describe('cgroupEntry', () => {
  const hybrid = ['/cg/memory/berth/c1/cgroup.procs', '/cg/pids/berth/c1/cgroup.procs', '/cg/unified/berth/c1/cgroup.procs'];

  it('enters v1 hierarchies through tasks and clones into the v2 one', () => {
    assert.deepEqual(cgroupEntry({ v2Dir: '/cg/unified' }, hybrid, true), {
      joinFiles: ['/cg/memory/berth/c1/tasks', '/cg/pids/berth/c1/tasks'],
      cloneInto: '/cg/unified/berth/c1',
    });
  });

  it('writes cgroup.procs of v2 where the kernel cannot clone into a cgroup', () => {
    assert.deepEqual(cgroupEntry({ v2Dir: '/cg/unified' }, hybrid, false), {
      joinFiles: ['/cg/memory/berth/c1/tasks', '/cg/pids/berth/c1/tasks', '/cg/unified/berth/c1/cgroup.procs'],
    });
  });

  it('on pure v2 only clones into the cgroup; on pure v1 only writes tasks', () => {
    assert.deepEqual(cgroupEntry({ v2Dir: '/cg' }, ['/cg/berth/c1/cgroup.procs'], true), { joinFiles: [], cloneInto: '/cg/berth/c1' });
    assert.deepEqual(cgroupEntry({ v2Dir: undefined }, ['/cg/memory/berth/c1/cgroup.procs'], true), { joinFiles: ['/cg/memory/berth/c1/tasks'] });
  });

  it('knows which kernels have CLONE_INTO_CGROUP (5.7)', () => {
    assert.equal(kernelHasCloneIntoCgroup('5.6.19'), false);
    assert.equal(kernelHasCloneIntoCgroup('5.7.0-1-amd64'), true);
    assert.equal(kernelHasCloneIntoCgroup('6.18.44-fc-v857'), true);
    assert.equal(kernelHasCloneIntoCgroup('4.19.0'), false);
    assert.equal(kernelHasCloneIntoCgroup('garbage'), false);
  });
});
