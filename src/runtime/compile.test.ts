import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compilePlan, type CompileOptions } from './compile.ts';
import { compileExecPlan } from './compile-exec.ts';
import { defaultSpec, type RuntimeConfig } from '../oci/index.ts';
import type { PlanStep } from '../native/protocol.ts';

const opts: CompileOptions = {
  containerId: 'c1',
  bundleDir: '/bundle',
  startSocketPath: '/run/x/c1/start.sock',
  cgroupEntry: { joinFiles: ['/sys/fs/cgroup/memory/berth/c1/tasks'] },
  cgroupHierarchies: [],
};

function spec(mutate?: (c: RuntimeConfig) => void): RuntimeConfig {
  const c = defaultSpec();
  c.process!.terminal = false;
  mutate?.(c);
  return c;
}

const ops = (steps: PlanStep[]) => steps.map((s) => s.op);

describe('compilePlan', () => {
  it('joins the cgroup before cloning and execs last, after pivot_root and the wait for start', () => {
    const list = ops(compilePlan(spec(), opts).steps);
    assert.ok(list.indexOf('cgroup-join') < list.indexOf('clone'));
    assert.ok(list.indexOf('clone') < list.indexOf('pivot-root'));
    assert.ok(list.indexOf('pivot-root') < list.indexOf('ready'));
    assert.ok(list.indexOf('ready') < list.indexOf('exec-wait'));
    assert.equal(list.at(-1), 'exec');
  });

  it('loads seccomp (as BPF compiled by libseccomp) as the last step before the startContainer hooks and execve, with or without no_new_privs', () => {
    const seccomp = { defaultAction: 'SCMP_ACT_ALLOW' as const, syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' as const }] };
    const hooks = { startContainer: [{ path: '/bin/true' }] };
    const withNnp = ops(compilePlan(spec((c) => ((c.process!.noNewPrivileges = true), (c.linux!.seccomp = seccomp), (c.hooks = hooks))), opts).steps);
    assert.ok(withNnp.indexOf('seccomp-bpf') > withNnp.indexOf('exec-wait'));
    assert.ok(withNnp.indexOf('seccomp-bpf') > withNnp.indexOf('cloexec-fds'), 'close_range runs before the filter');
    assert.ok(withNnp.indexOf('seccomp-bpf') < withNnp.indexOf('run-hook'), 'the startContainer hook runs under the filter');
    assert.deepEqual(withNnp.slice(withNnp.indexOf('seccomp-bpf') + 1), ['run-hook', 'exec']);
    // without no_new_privs CAP_SYS_ADMIN stays effective until the filter is loaded, then goes
    const steps = compilePlan(spec((c) => ((c.process!.noNewPrivileges = false), (c.linux!.seccomp = seccomp))), opts).steps;
    const without = ops(steps);
    assert.ok(without.indexOf('seccomp-bpf') > without.indexOf('exec-wait'));
    const capsets = steps.filter((s) => s.op === 'caps-set');
    assert.equal(capsets.length, 2);
    assert.ok(capsets[0]!.op === 'caps-set' && capsets[0]!.names.effective.includes('CAP_SYS_ADMIN'));
    assert.ok(capsets[1]!.op === 'caps-set' && !capsets[1]!.names.permitted.includes('CAP_SYS_ADMIN'));
    assert.deepEqual(without.slice(without.indexOf('seccomp-bpf') + 1), ['caps-set', 'exec']);
  });

  it('raises only ambient capabilities that are permitted and inheritable, as runc manages to', () => {
    const plan = compilePlan(
      spec((c) => (c.process!.capabilities = { bounding: ['CAP_KILL', 'CAP_CHOWN'], permitted: ['CAP_KILL', 'CAP_CHOWN'], effective: ['CAP_KILL'], inheritable: ['CAP_CHOWN'], ambient: ['CAP_KILL', 'CAP_CHOWN'] })),
      opts,
    );
    const caps = plan.steps.find((s) => s.op === 'caps-set');
    assert.ok(caps && caps.op === 'caps-set');
    assert.deepEqual(caps.names.ambient, ['CAP_CHOWN']);
    assert.equal(caps.ambient, 1n);
  });

  it('runs without a mount namespace in the host\'s, the rootfs as given; mounts there only under the root, never masked paths or a user namespace\'s', () => {
    const noMountNs = (c: RuntimeConfig) => (c.linux!.namespaces = c.linux!.namespaces!.filter((n) => n.type !== 'mount'));
    assert.throws(() => compilePlan(spec(noMountNs), opts), /linux.maskedPaths: cannot be masked when the container has no mount namespace/);
    const withMounts = compilePlan(spec((c) => (noMountNs(c), (c.linux!.maskedPaths = []), (c.linux!.readonlyPaths = []), (c.root!.readonly = false))), opts).steps;
    assert.equal(ops(withMounts).includes('propagation'), false, 'the host\'s propagation is never changed');
    assert.ok(withMounts.some((s) => s.op === 'mount' && s.fstype === 'proc'), 'its mounts are made');
    assert.ok(ops(withMounts).includes('mknod'), 'device nodes go into the /dev it mounts');
    assert.throws(
      () => compilePlan(spec((c) => (noMountNs(c), (c.linux!.maskedPaths = []), (c.linux!.readonlyPaths = []), (c.root!.readonly = false), c.linux!.namespaces!.push({ type: 'user' }))), opts),
      /mounts: a user-namespaced container cannot mount/,
    );
    const steps = compilePlan(
      spec((c) => {
        noMountNs(c);
        c.mounts = [];
        c.linux!.maskedPaths = [];
        c.linux!.readonlyPaths = [];
        c.root!.readonly = false;
      }),
      opts,
    ).steps;
    const list = ops(steps);
    assert.equal(list.includes('propagation'), false, 'the host\'s propagation is never changed');
    assert.equal(list.includes('mknod'), false);
    const root = steps.find((s) => s.op === 'rootfs');
    assert.ok(root && root.op === 'rootfs' && root.bind === false);
    const chroot = steps.find((s) => s.op === 'chroot');
    assert.ok(chroot && chroot.op === 'chroot' && chroot.move === false);
  });

  it('clones into a v2 cgroup, and then makes the cgroup namespace in the child, once it is there', () => {
    const steps = compilePlan(spec((c) => c.linux!.namespaces!.push({ type: 'cgroup' })), {
      ...opts,
      cgroupEntry: { joinFiles: ['/sys/fs/cgroup/memory/berth/c1/tasks'], cloneInto: '/sys/fs/cgroup/unified/berth/c1' },
    }).steps;
    const list = ops(steps);
    assert.ok(list.indexOf('cgroup-join') < list.indexOf('cgroup-open'));
    assert.ok(list.indexOf('cgroup-open') < list.indexOf('clone'));
    const clone = steps.find((s) => s.op === 'clone');
    assert.ok(clone && clone.op === 'clone');
    assert.equal(clone.intoCgroup, true);
    assert.equal(clone.flags & 0x02000000, 0, 'no CLONE_NEWCGROUP at clone: it would be rooted at berth-init\'s own cgroup');
    const unshare = steps.find((s) => s.op === 'unshare');
    assert.ok(unshare && unshare.op === 'unshare' && unshare.stage === 'child');
    assert.equal(unshare.flags, 0x02000000);
    assert.ok(list.indexOf('unshare') < list.indexOf('rootfs'));
    // without a v2 cgroup to clone into, the cgroup namespace comes with the clone as before
    const plain = compilePlan(spec((c) => c.linux!.namespaces!.push({ type: 'cgroup' })), opts).steps;
    const plainClone = plain.find((s) => s.op === 'clone');
    assert.ok(plainClone && plainClone.op === 'clone' && (plainClone.flags & 0x02000000) !== 0);
    assert.equal(ops(plain).includes('unshare'), false);
  });

  it('joins the v2 cgroup through cgroup.procs when an existing cgroup namespace is joined first', () => {
    const cgroupEntry = { joinFiles: ['/sys/fs/cgroup/memory/berth/c1/tasks'], cloneInto: '/sys/fs/cgroup/unified/berth/c1' };
    const created = compilePlan(
      spec((c) => c.linux!.namespaces!.push({ type: 'cgroup', path: '/proc/1/ns/cgroup' })),
      { ...opts, cgroupEntry },
    ).steps;
    assert.equal(ops(created).includes('cgroup-open'), false);
    const joins = created.filter((s) => s.op === 'cgroup-join').map((s) => (s.op === 'cgroup-join' ? s.procsPath : ''));
    assert.deepEqual(joins, ['/sys/fs/cgroup/memory/berth/c1/tasks', '/sys/fs/cgroup/unified/berth/c1/cgroup.procs']);
    assert.ok(ops(created).indexOf('cgroup-join') < ops(created).indexOf('setns'));
    // exec into a container with a cgroup namespace: the same
    const exec = compileExecPlan(spec((c) => c.linux!.namespaces!.push({ type: 'cgroup' })), { ...spec().process!, args: ['/bin/true'] }, { pid: process.pid, cgroupEntry }).steps;
    assert.equal(ops(exec).includes('cgroup-open'), false);
    assert.ok(exec.some((s) => s.op === 'cgroup-join' && s.procsPath.endsWith('/unified/berth/c1/cgroup.procs')));
    // and without one, exec clones into the v2 cgroup
    const plain = compileExecPlan(spec(), { ...spec().process!, args: ['/bin/true'] }, { pid: process.pid, cgroupEntry }).steps;
    assert.ok(ops(plain).includes('cgroup-open'));
  });

  it('asks for the AppArmor profile on exec where the host runs AppArmor, before no_new_privs', () => {
    const security = { appArmorExecAttr: '/proc/self/attr/apparmor/exec', selinux: false };
    const steps = compilePlan(spec((c) => ((c.process!.apparmorProfile = 'berth-default'), (c.process!.noNewPrivileges = true))), { ...opts, security }).steps;
    const write = steps.find((s) => s.op === 'write-file');
    assert.ok(write && write.op === 'write-file');
    assert.deepEqual([write.path, write.content], ['/proc/self/attr/apparmor/exec', 'exec berth-default']);
    assert.ok(ops(steps).indexOf('write-file') < ops(steps).indexOf('no-new-privs'));
    // without AppArmor on the host: refused, never ignored
    assert.throws(
      () => compilePlan(spec((c) => (c.process!.apparmorProfile = 'berth-default')), { ...opts, security: { selinux: false } }),
      /process\.apparmorProfile is set but AppArmor is not enabled on this host/,
    );
  });

  it('copies up into tmpfs only, and writes a read-only one before making it read-only', () => {
    const steps = compilePlan(spec((c) => c.mounts!.push({ destination: '/data', type: 'tmpfs', source: 'tmpfs', options: ['tmpcopyup', 'ro', 'nosuid'] })), opts).steps;
    const m = steps.find((s) => s.op === 'mount' && s.destination === '/data');
    assert.ok(m && m.op === 'mount');
    assert.equal(m.copyUp, true);
    assert.equal(m.flags & 1, 0, 'mounted writable for the copy');
    const remount = steps.find((s) => s.op === 'remount' && s.path === '/data');
    assert.ok(remount && remount.op === 'remount' && (remount.flags & 1) === 1 && (remount.flags & 2) === 2, 'then read-only, nosuid kept');
    assert.ok(ops(steps).indexOf('remount') > ops(steps).indexOf('pivot-root'));
    assert.throws(
      () => compilePlan(spec((c) => c.mounts!.push({ destination: '/data', type: 'bind', source: '/tmp', options: ['rbind', 'tmpcopyup'] })), opts),
      /mounts\[\d+\]\.options: "tmpcopyup" applies to tmpfs mounts only, not to a bind mount/,
    );
  });

  it('has the parent make id-mapped trees before it joins any namespace, and the child move them into place', () => {
    const steps = compilePlan(
      spec((c) => {
        c.linux!.namespaces!.push({ type: 'ipc', path: '/proc/1/ns/ipc' });
        c.mounts!.push({ destination: '/a', type: 'bind', source: '/srv/a', options: ['rbind', 'ridmap'], uidMappings: [{ containerID: 0, hostID: 1000, size: 10 }], gidMappings: [{ containerID: 0, hostID: 2000, size: 10 }] });
      }),
      opts,
    ).steps;
    const list = ops(steps);
    assert.ok(list.indexOf('cgroup-join') < list.indexOf('bind-tree'));
    assert.ok(list.indexOf('bind-tree') < list.indexOf('setns'));
    const tree = steps.find((s) => s.op === 'bind-tree');
    assert.ok(tree && tree.op === 'bind-tree' && tree.stage === 'parent');
    assert.deepEqual([tree.slot, tree.recursiveTree, tree.idmap, tree.recursiveIdmap, tree.uidMap, tree.gidMap], [0, true, true, true, '0 1000 10', '0 2000 10']);
    const mount = steps.find((s) => s.op === 'mount' && s.destination === '/a');
    assert.ok(mount && mount.op === 'mount' && mount.treeSlot === 0 && mount.stage === 'child');
    // no maps of its own and no user namespace: nothing to map with
    assert.throws(() => compilePlan(spec((c) => c.mounts!.push({ destination: '/b', type: 'bind', source: '/srv/b', options: ['bind', 'idmap'] })), opts), /an id-mapped mount needs uidMappings and gidMappings, or a user namespace with mappings/);
  });

  it('uses chroot instead of pivot_root with noPivot or on an initramfs root', () => {
    assert.ok(ops(compilePlan(spec(), { ...opts, noPivot: true }).steps).includes('chroot'));
    assert.ok(ops(compilePlan(spec(), { ...opts, isRootRamfs: true }).steps).includes('chroot'));
  });
});
