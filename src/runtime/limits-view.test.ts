import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { addLimitsView, limitsViewWanted, viewArgs, withoutLimitsView, VIEW_FILES } from './limits-view.ts';
import { defaultSpec, type RuntimeConfig } from '../oci/index.ts';
import { BerthError } from '../common/index.ts';

const paths = { dir: '/run/x/view', socket: '/run/x/view.sock' };
const withSeccomp = (seccomp: NonNullable<RuntimeConfig['linux']>['seccomp']): RuntimeConfig => {
  const c = defaultSpec();
  c.linux!.seccomp = seccomp;
  return c;
};

describe('limits view: the config it adds', () => {
  it('is wanted only for io.berth.limits-view=true; another value is refused', () => {
    const c = defaultSpec();
    assert.equal(limitsViewWanted(c), false);
    c.annotations = { 'io.berth.limits-view': 'false' };
    assert.equal(limitsViewWanted(c), false);
    c.annotations = { 'io.berth.limits-view': 'true' };
    assert.equal(limitsViewWanted(c), true);
    c.annotations = { 'io.berth.limits-view': 'TRUE' };
    assert.throws(() => limitsViewWanted(c), (e: unknown) => e instanceof BerthError && e.code === 'INVALID_ARGUMENT' && /io\.berth\.limits-view must be "true" or "false", not "TRUE"/.test(e.message));
  });

  it('binds every file of the view over the kernel\'s, after the config\'s own mounts', () => {
    const c = defaultSpec();
    const before = c.mounts!.length;
    assert.equal(addLimitsView(c, paths), false, 'no seccomp filter: sysinfo stays the kernel\'s');
    const added = c.mounts!.slice(before);
    assert.deepEqual(added.map((m) => [m.source, m.destination]), VIEW_FILES.map(([f, t]) => [`/run/x/view/${f}`, t]));
    // read-only, nosuid, nodev, noexec: the flags of the view's own mount, which a bind keeps
    assert.ok(added.every((m) => m.type === 'bind' && m.options!.join() === 'bind'));
    assert.equal(c.linux!.seccomp, undefined, 'no filter is added to a container that has none');
  });

  it('sends sysinfo to the view only when the filter allowed it and has no listener of its own', () => {
    const allow = withSeccomp({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read', 'sysinfo', 'write'], action: 'SCMP_ACT_ALLOW' }] });
    assert.equal(addLimitsView(allow, paths), true);
    assert.deepEqual(allow.linux!.seccomp!.syscalls, [
      { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' },
      { names: ['sysinfo'], action: 'SCMP_ACT_NOTIFY' },
    ]);
    assert.equal(allow.linux!.seccomp!.listenerPath, paths.socket);
    // and back, for processes exec'd once the view is gone
    const back = withoutLimitsView(allow, paths);
    assert.equal(back.linux!.seccomp!.listenerPath, undefined);
    assert.deepEqual(back.linux!.seccomp!.syscalls!.at(-1), { names: ['sysinfo'], action: 'SCMP_ACT_ALLOW' });

    const refused = withSeccomp({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }] });
    assert.equal(addLimitsView(refused, paths), false, 'default errno: sysinfo stays refused');
    assert.equal(refused.linux!.seccomp!.listenerPath, undefined);
    const denied = withSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['sysinfo'], action: 'SCMP_ACT_ERRNO' }] });
    assert.equal(addLimitsView(denied, paths), false);
    const agent = withSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', listenerPath: '/run/agent.sock' });
    assert.equal(addLimitsView(agent, paths), false, 'the config\'s own agent keeps its listener');
    assert.equal(agent.linux!.seccomp!.listenerPath, '/run/agent.sock');
  });

  it('passes the cgroup directories to berth-init view, the container\'s first', () => {
    const args = viewArgs({ version: 1, memory: ['/m/a/b', '/m/a', '/m/'], cpu: ['/c/a/b'], cpuset: [], cpuacct: '/ca/a/b', tasks: '/ca/a/b/tasks' }, paths, true);
    assert.deepEqual(args, ['--dir', paths.dir, '--cgroup-version', '1', '--socket', paths.socket, '--memory', '/m/a/b', '--memory', '/m/a', '--memory', '/m/', '--cpu', '/c/a/b', '--cpuacct', '/ca/a/b', '--tasks', '/ca/a/b/tasks']);
  });
});
