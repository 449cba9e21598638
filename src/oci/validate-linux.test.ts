import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { normalizeSysctlKey } from './validate-linux.ts';
import { validateRuntimeConfig } from './validate.ts';
import { assertRejected, variant, type Loose } from './validate-assert.ts';

/** A minimal config with `linux` set to the given object. */
const withLinux = (linux: Loose) => variant((c) => (c['linux'] = linux));
const ns = (...types: string[]) => types.map((type) => ({ type }));

describe('validateRuntimeConfig linux', () => {
  it('rejects an unknown namespace type and lists the known ones', () => {
    assertRejected(
      withLinux({ namespaces: ns('pid', 'network', 'mount', 'foo') }),
      'linux.namespaces[3].type',
      'unknown namespace type "foo" (expected one of pid, network, mount, ipc, uts, user, cgroup, time)',
    );
    assertRejected(withLinux({ namespaces: [{ path: '/proc/1/ns/net' }] }), 'linux.namespaces[0].type', 'is required');
  });

  it('rejects a namespace type given twice', () => {
    assertRejected(withLinux({ namespaces: ns('pid', 'ipc', 'pid') }), 'linux.namespaces[2].type', 'duplicate namespace "pid" (already at linux.namespaces[0])');
  });

  it('rejects a relative namespace path', () => {
    assertRejected(withLinux({ namespaces: [{ type: 'network', path: 'netns/a' }] }), 'linux.namespaces[0].path', 'namespace file "netns/a" is not an absolute path');
  });

  it('rejects mappings when the user namespace is joined by path', () => {
    const err = assertRejected(
      withLinux({ namespaces: [{ type: 'pid' }, { type: 'user', path: '/proc/42/ns/user' }], uidMappings: [{ containerID: 0, hostID: 1000, size: 1 }] }),
      'linux.uidMappings',
      'cannot be combined with joining the user namespace at linux.namespaces[1].path',
    );
    assert.match(err.hint ?? '', /drop one/);
  });

  it('rejects mappings when there is no user namespace', () => {
    assertRejected(withLinux({ namespaces: ns('pid'), gidMappings: [{ containerID: 0, hostID: 1000, size: 1 }] }), 'linux.gidMappings', 'no user namespace');
    assertRejected(withLinux({ uidMappings: [{ containerID: 0, hostID: 1000, size: 1 }] }), 'linux.uidMappings', 'no user namespace');
  });

  it('rejects a new user namespace without both mappings', () => {
    const map = [{ containerID: 0, hostID: 1000, size: 1 }];
    assertRejected(withLinux({ namespaces: ns('pid', 'user') }), 'linux.uidMappings', 'is required when linux.namespaces[1] creates a user namespace');
    assertRejected(withLinux({ namespaces: ns('user'), uidMappings: map }), 'linux.gidMappings', 'is required when linux.namespaces[0] creates a user namespace');
    assert.doesNotThrow(() => validateRuntimeConfig(withLinux({ namespaces: [{ type: 'user', path: '/proc/42/ns/user' }] })));
  });

  it('rejects bad id mappings', () => {
    const gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    const maps = (uidMappings: unknown) => withLinux({ namespaces: ns('user'), uidMappings, gidMappings });
    assertRejected(maps([{ containerID: 0, hostID: 1000, size: 0 }]), 'linux.uidMappings[0].size', 'must be at least 1');
    assertRejected(
      maps([
        { containerID: 0, hostID: 100000, size: 65536 },
        { containerID: 1000, hostID: 1000, size: 1 },
      ]),
      'linux.uidMappings[1]',
      'container range 1000-1000 overlaps linux.uidMappings[0] (0-65535)',
    );
    assertRejected(
      maps([
        { containerID: 0, hostID: 100000, size: 10 },
        { containerID: 10, hostID: 100005, size: 10 },
      ]),
      'linux.uidMappings[1]',
      'host range 100005-100014 overlaps linux.uidMappings[0]',
    );
    assertRejected(maps([{ containerID: 0.5, hostID: 1000, size: 1 }]), 'linux.uidMappings[0].containerID', 'got a number 0.5');
    assertRejected(maps([{ containerID: 0, hostID: '1000', size: 1 }]), 'linux.uidMappings[0].hostID', 'got a string "1000"');
    assertRejected(maps([{ containerID: 0, size: 1 }]), 'linux.uidMappings[0].hostID', 'is required');
    assertRejected(maps([{ containerID: 2147483647, hostID: 0, size: 2147483649 }]), 'linux.uidMappings[0]', 'runs past id 4294967294');
    // ids above 2^31-1 are refused wherever they enter (4294967295 is setresuid's "unchanged")
    assertRejected(maps([{ containerID: 4294967295, hostID: 0, size: 1 }]), 'linux.uidMappings[0].containerID', 'between 0 and 2147483647, got 4294967295');
    assertRejected(maps([{ containerID: 0, hostID: 2147483648, size: 1 }]), 'linux.uidMappings[0].hostID', 'between 0 and 2147483647, got 2147483648');
    const tooMany = Array.from({ length: 341 }, (_, i) => ({ containerID: i, hostID: 100000 + i, size: 1 }));
    assertRejected(maps(tooMany), 'linux.uidMappings', 'has 341 entries; the kernel accepts at most 340');
  });

  it('accepts adjacent ranges that do not overlap', () => {
    const config = withLinux({
      namespaces: ns('user'),
      gidMappings: [{ containerID: 0, hostID: 1000, size: 1 }],
      uidMappings: [
        { containerID: 0, hostID: 1000, size: 1 },
        { containerID: 1, hostID: 100000, size: 65535 },
      ],
    });
    assert.doesNotThrow(() => validateRuntimeConfig(config));
  });

  it('rejects a device type outside c, b, u, p', () => {
    assertRejected(withLinux({ devices: [{ type: 'x', path: '/dev/x', major: 1, minor: 1 }] }), 'linux.devices[0].type', 'unknown device type "x" (expected one of c, b, u, p)');
    assertRejected(withLinux({ devices: [{ type: 'c', path: 'dev/null', major: 1, minor: 3 }] }), 'linux.devices[0].path', 'is not an absolute path');
    assertRejected(withLinux({ devices: [{ type: 'b', path: '/dev/sda', major: 8 }] }), 'linux.devices[0].minor', 'is required');
    assert.doesNotThrow(() => validateRuntimeConfig(withLinux({ devices: [{ type: 'p', path: '/dev/fifo' }] })));
  });

  it('rejects a bad device cgroup rule', () => {
    assertRejected(withLinux({ resources: { devices: [{ allow: true, type: 'p' }] } }), 'linux.resources.devices[0].type', 'unknown device cgroup type "p"');
    assertRejected(withLinux({ resources: { devices: [{ allow: true, access: 'rwx' }] } }), 'linux.resources.devices[0].access', 'not made of r, w and m');
    assertRejected(withLinux({ resources: { devices: [{ access: 'rwm' }] } }), 'linux.resources.devices[0].allow', 'is required');
  });

  it('rejects resources of the wrong shape', () => {
    assertRejected(withLinux({ resources: { pids: {} } }), 'linux.resources.pids.limit', 'is required');
    assertRejected(withLinux({ resources: { memory: { swappiness: 101 } } }), 'linux.resources.memory.swappiness', 'between 0 and 100');
    assertRejected(withLinux({ resources: { cpu: { shares: -2 } } }), 'linux.resources.cpu.shares', 'expected a non-negative integer (uint64) between 0 and');
    assertRejected(withLinux({ resources: { hugepageLimits: [{ pageSize: '2M', limit: 1 }] } }), 'linux.resources.hugepageLimits[0].pageSize', 'not a page size');
    assertRejected(withLinux({ resources: { blockIO: { weightDevice: [{ major: 8, minor: 0 }] } } }), 'linux.resources.blockIO.weightDevice[0]', 'needs "weight" or "leafWeight"');
    assertRejected(withLinux({ resources: { unified: { 'memory.high': 1 } } }), 'linux.resources.unified["memory.high"]', 'expected a string');
    assertRejected(withLinux({ resources: { rdma: { mlx: { hcaHandles: -1 } } } }), 'linux.resources.rdma["mlx"].hcaHandles', 'got -1');
    assert.doesNotThrow(() => validateRuntimeConfig(withLinux({ resources: { memory: { limit: -1, swap: -1 } } })));
  });

  it('rejects an unknown rootfsPropagation and accepts the r forms', () => {
    assertRejected(withLinux({ rootfsPropagation: 'recursive' }), 'linux.rootfsPropagation', 'unknown propagation "recursive"');
    assert.doesNotThrow(() => validateRuntimeConfig(withLinux({ rootfsPropagation: 'rprivate' })));
  });

  it('rejects masked and read-only paths without a mount namespace', () => {
    assertRejected(withLinux({ namespaces: ns('pid'), maskedPaths: ['/proc/kcore'] }), 'linux.maskedPaths', 'needs a mount namespace');
    assertRejected(withLinux({ namespaces: ns('mount'), readonlyPaths: ['proc/sys'] }), 'linux.readonlyPaths[0]', 'path "proc/sys" is not an absolute path');
  });

  it('rejects time offsets without a time namespace or for an unknown clock', () => {
    assertRejected(withLinux({ timeOffsets: { monotonic: { secs: 1 } } }), 'linux.timeOffsets', 'no time namespace');
    assertRejected(withLinux({ namespaces: ns('time'), timeOffsets: { realtime: { secs: 1 } } }), 'linux.timeOffsets["realtime"]', 'unknown clock "realtime"');
    assertRejected(withLinux({ namespaces: ns('time'), timeOffsets: { boottime: { nanosecs: 1e9 } } }), 'linux.timeOffsets["boottime"].nanosecs', 'between 0 and 999999999');
  });

  it('rejects a bad personality domain and intelRdt closID', () => {
    assertRejected(withLinux({ personality: { domain: 'LINUX64' } }), 'linux.personality.domain', 'unknown personality domain "LINUX64"');
    assertRejected(withLinux({ intelRdt: { closID: '../x' } }), 'linux.intelRdt.closID', 'not a valid resctrl group name');
  });
});

describe('validateRuntimeConfig linux.sysctl', () => {
  it('rejects net.* without a network namespace and names the key', () => {
    const err = assertRejected(
      withLinux({ namespaces: ns('pid', 'ipc'), sysctl: { 'kernel.shmmax': '1', 'net.ipv4.ip_forward': '1' } }),
      'linux.sysctl["net.ipv4.ip_forward"]',
      "needs a network namespace of the container's own",
    );
    assert.match(err.hint ?? '', /add \{"type": "network"\}/);
  });

  it('rejects ipc sysctls without an ipc namespace', () => {
    assertRejected(withLinux({ namespaces: ns('network'), sysctl: { 'kernel.msgmax': '8192' } }), 'linux.sysctl["kernel.msgmax"]', 'needs an ipc namespace');
    assertRejected(withLinux({ sysctl: { 'fs/mqueue/queues_max': '8' } }), 'linux.sysctl["fs/mqueue/queues_max"]', 'needs an ipc namespace');
  });

  it('rejects sysctls that no namespace scopes and kernel.hostname', () => {
    assertRejected(withLinux({ namespaces: ns('network', 'ipc', 'uts'), sysctl: { 'vm.swappiness': '10' } }), 'linux.sysctl["vm.swappiness"]', 'is not namespaced');
    assertRejected(withLinux({ namespaces: ns('uts'), sysctl: { 'kernel.hostname': 'x' } }), 'linux.sysctl["kernel.hostname"]', 'conflicts with the "hostname" field');
    assertRejected(withLinux({ namespaces: ns('pid'), sysctl: { 'kernel.domainname': 'x' } }), 'linux.sysctl["kernel.domainname"]', 'needs a uts namespace');
  });

  it('accepts namespaced sysctls when the namespaces exist, in either separator form', () => {
    const config = withLinux({
      namespaces: ns('network', 'ipc', 'uts'),
      sysctl: { 'net/ipv4/conf/eth0.100/rp_filter': '1', 'kernel.sem': '250 32000 32 128', 'kernel.domainname': 'example.org' },
    });
    assert.doesNotThrow(() => validateRuntimeConfig(config));
    assert.doesNotThrow(() => validateRuntimeConfig(withLinux({ namespaces: [{ type: 'network', path: '/run/netns/a' }], sysctl: { 'net.core.somaxconn': '1024' } })));
  });

  it('converts slash-separated keys to dotted ones when normalizing', () => {
    assert.equal(normalizeSysctlKey('net/ipv4/conf/eth0.100/rp_filter'), 'net.ipv4.conf.eth0/100.rp_filter');
    assert.equal(normalizeSysctlKey('net.ipv4.ip_forward'), 'net.ipv4.ip_forward');
  });
});
