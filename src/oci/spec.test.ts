import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { featuresDocument } from './features.ts';
import { stringifyJsonLossless } from './json.ts';
import { defaultSpec, OCI_VERSION } from './spec.ts';
import { parseRuntimeConfig, validateRuntimeConfig } from './validate.ts';

describe('defaultSpec', () => {
  it('passes validation and survives a JSON round trip', () => {
    for (const options of [{}, { cgroupNamespace: true }, { rootless: true, uid: 1000, gid: 1000 }]) {
      const spec = defaultSpec(options);
      assert.deepEqual(validateRuntimeConfig(spec), spec);
      assert.deepEqual(parseRuntimeConfig(stringifyJsonLossless(spec)), spec);
    }
  });

  it('writes what runc spec writes for the process', () => {
    const spec = defaultSpec();
    assert.equal(spec.ociVersion, OCI_VERSION);
    assert.deepEqual(spec.root, { path: 'rootfs', readonly: true });
    assert.equal(spec.hostname, 'runc');
    const caps = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];
    assert.deepEqual(spec.process, {
      terminal: true,
      user: { uid: 0, gid: 0 },
      args: ['sh'],
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'TERM=xterm'],
      cwd: '/',
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    });
  });

  it('writes runc default mounts, masked paths and namespaces', () => {
    const spec = defaultSpec();
    assert.deepEqual(
      spec.mounts?.map((m) => `${m.destination} ${m.type} ${m.source} ${(m.options ?? []).join(',')}`),
      [
        '/proc proc proc ',
        '/dev tmpfs tmpfs nosuid,strictatime,mode=755,size=65536k',
        '/dev/pts devpts devpts nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5',
        '/dev/shm tmpfs shm nosuid,noexec,nodev,mode=1777,size=65536k',
        '/dev/mqueue mqueue mqueue nosuid,noexec,nodev',
        '/sys sysfs sysfs nosuid,noexec,nodev,ro',
        '/sys/fs/cgroup cgroup cgroup nosuid,noexec,nodev,relatime,ro',
      ],
    );
    assert.deepEqual(
      spec.linux?.namespaces?.map((n) => n.type),
      ['pid', 'network', 'ipc', 'uts', 'mount'],
    );
    assert.deepEqual(spec.linux?.resources, { devices: [{ allow: false, access: 'rwm' }] });
    assert.ok(spec.linux?.maskedPaths?.includes('/proc/kcore'));
    assert.ok(spec.linux?.maskedPaths?.includes('/sys/firmware'));
    assert.deepEqual(spec.linux?.readonlyPaths, ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger']);
  });

  it('adds a cgroup namespace when the caller says the host is on cgroup v2', () => {
    assert.deepEqual(
      defaultSpec({ cgroupNamespace: true }).linux?.namespaces?.map((n) => n.type),
      ['pid', 'network', 'ipc', 'uts', 'mount', 'cgroup'],
    );
  });

  it('maps root to the caller and drops what needs privilege when rootless', () => {
    const spec = defaultSpec({ rootless: true, uid: 1000, gid: 1001 });
    const linux = spec.linux ?? {};
    assert.deepEqual(
      linux.namespaces?.map((n) => n.type),
      ['pid', 'ipc', 'uts', 'mount', 'user'],
    );
    assert.deepEqual(linux.uidMappings, [{ containerID: 0, hostID: 1000, size: 1 }]);
    assert.deepEqual(linux.gidMappings, [{ containerID: 0, hostID: 1001, size: 1 }]);
    assert.equal(linux.resources, undefined);
    assert.deepEqual(
      spec.mounts?.find((m) => m.destination === '/sys'),
      { destination: '/sys', type: 'none', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] },
    );
    const devpts = spec.mounts?.find((m) => m.destination === '/dev/pts');
    assert.deepEqual(devpts?.options, ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620']);
    assert.deepEqual(Object.keys(linux).slice(0, 2), ['uidMappings', 'gidMappings']);
  });

  it('returns a new object each call', () => {
    const a = defaultSpec();
    a.process?.args?.push('-x');
    assert.deepEqual(defaultSpec().process?.args, ['sh']);
  });
});

describe('featuresDocument', () => {
  it('reports the conservative answer when told nothing', () => {
    const doc = featuresDocument();
    assert.equal(doc.ociVersionMin, '1.0.0');
    assert.equal(doc.ociVersionMax, OCI_VERSION);
    assert.deepEqual(doc.hooks, ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop']);
    assert.deepEqual(doc.linux.seccomp, { enabled: false });
    assert.deepEqual(doc.linux.cgroup, { v1: false, v2: false, systemd: false, systemdUser: false, rdma: false });
    assert.deepEqual(doc.linux.namespaces, ['cgroup', 'ipc', 'mount', 'network', 'pid', 'time', 'user', 'uts']);
    assert.equal(doc.linux.capabilities.length, 41);
    assert.ok(doc.mountOptions.includes('rbind'));
  });

  it('fills in what the caller says is supported', () => {
    const doc = featuresDocument({
      cgroup: { v1: true, v2: true },
      seccomp: { supportedFlags: ['SECCOMP_FILTER_FLAG_LOG'] },
      idmap: true,
      annotations: { 'io.berth.version': '0.1.0' },
    });
    assert.deepEqual(doc.linux.cgroup, { v1: true, v2: true, systemd: false, systemdUser: false, rdma: false });
    assert.equal(doc.linux.seccomp.enabled, true);
    if (doc.linux.seccomp.enabled) {
      assert.deepEqual(doc.linux.seccomp.supportedFlags, ['SECCOMP_FILTER_FLAG_LOG']);
      assert.equal(doc.linux.seccomp.knownFlags.length, 4);
      assert.ok(doc.linux.seccomp.actions.includes('SCMP_ACT_NOTIFY'));
      assert.ok(doc.linux.seccomp.archs.includes('SCMP_ARCH_X86_64'));
      assert.equal(doc.linux.seccomp.operators.length, 7);
    }
    assert.deepEqual(doc.linux.mountExtensions, { idmap: { enabled: true } });
    assert.deepEqual(doc.annotations, { 'io.berth.version': '0.1.0' });
  });
});
