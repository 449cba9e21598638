import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, normalize } from 'node:path';
import { describe, it } from 'node:test';
import { isKnownCapability, validateRuntimeConfig } from '../../oci/index.ts';
import {
  DOCKER_DEFAULT_CAPABILITIES,
  DOCKER_DEFAULT_MASKED_PATHS,
  DOCKER_DEFAULT_MOUNTS,
  DOCKER_DEFAULT_NAMESPACES,
  DOCKER_DEFAULT_PATH_ENV,
  DOCKER_DEFAULT_READONLY_PATHS,
  DOCKER_DEFAULT_SHM_SIZE,
  dockerDefaultMounts,
  dockerMaskedPaths,
} from './docker-defaults.ts';

describe('docker defaults', () => {
  it('grants the 14 capabilities docker gives every container, all known to berth', () => {
    assert.equal(DOCKER_DEFAULT_CAPABILITIES.length, 14);
    assert.equal(new Set(DOCKER_DEFAULT_CAPABILITIES).size, 14);
    assert.deepEqual(DOCKER_DEFAULT_CAPABILITIES.filter((cap) => !isKnownCapability(cap)), []);
    assert.ok(!DOCKER_DEFAULT_CAPABILITIES.includes('CAP_SYS_ADMIN'));
  });

  it('masks 12 paths and makes 5 read-only, each absolute and normalized', () => {
    assert.equal(DOCKER_DEFAULT_MASKED_PATHS.length, 12);
    assert.equal(DOCKER_DEFAULT_READONLY_PATHS.length, 5);
    for (const path of [...DOCKER_DEFAULT_MASKED_PATHS, ...DOCKER_DEFAULT_READONLY_PATHS]) {
      assert.ok(isAbsolute(path) && normalize(path) === path, path);
    }
    assert.ok(DOCKER_DEFAULT_MASKED_PATHS.includes('/proc/kcore') && DOCKER_DEFAULT_MASKED_PATHS.includes('/sys/firmware'));
    assert.ok(DOCKER_DEFAULT_READONLY_PATHS.includes('/proc/sysrq-trigger'));
  });

  it('mounts proc, /dev, devpts, sysfs, cgroup, mqueue and /dev/shm in that order', () => {
    assert.deepEqual(
      DOCKER_DEFAULT_MOUNTS.map((m) => `${m.type} ${m.destination}`),
      ['proc /proc', 'tmpfs /dev', 'devpts /dev/pts', 'sysfs /sys', 'cgroup /sys/fs/cgroup', 'mqueue /dev/mqueue', 'tmpfs /dev/shm'],
    );
    assert.deepEqual(DOCKER_DEFAULT_MOUNTS[2]?.options, ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5']);
  });

  it('sizes /dev/shm at 64 MiB when no size is given, and at the given size otherwise', () => {
    const shm = (mounts: ReturnType<typeof dockerDefaultMounts>) => mounts.find((m) => m.destination === '/dev/shm')?.options;
    assert.equal(DOCKER_DEFAULT_SHM_SIZE, 67108864);
    assert.deepEqual(shm(dockerDefaultMounts()), ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=67108864']);
    assert.deepEqual(shm(dockerDefaultMounts(1 << 20)), ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=1048576']);
  });

  it('returns mounts the caller may change without changing the defaults', () => {
    const mounts = dockerDefaultMounts();
    mounts[0]?.options?.push('ro');
    assert.deepEqual(DOCKER_DEFAULT_MOUNTS[0]?.options, ['nosuid', 'noexec', 'nodev']);
    assert.deepEqual(dockerDefaultMounts()[0]?.options, ['nosuid', 'noexec', 'nodev']);
  });

  it("passes berth's OCI validator as the mounts, namespaces, masked and read-only paths of a config.json", () => {
    const config = {
      ociVersion: '1.2.0',
      root: { path: 'rootfs' },
      process: { user: { uid: 0, gid: 0 }, args: ['sh'], cwd: '/', env: [`PATH=${DOCKER_DEFAULT_PATH_ENV}`], capabilities: { bounding: [...DOCKER_DEFAULT_CAPABILITIES] } },
      mounts: dockerDefaultMounts(),
      linux: {
        namespaces: DOCKER_DEFAULT_NAMESPACES.map((type) => ({ type })),
        maskedPaths: [...DOCKER_DEFAULT_MASKED_PATHS],
        readonlyPaths: [...DOCKER_DEFAULT_READONLY_PATHS],
      },
    };
    assert.deepEqual(validateRuntimeConfig(config).mounts, config.mounts);
  });

  it('sets the PATH docker uses when the image has none', () => {
    assert.equal(DOCKER_DEFAULT_PATH_ENV, '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
  });
});

describe('dockerMaskedPaths', () => {
  const fakeSys = (t: { after: (fn: () => void) => void }, possible: string | undefined, throttled: number[]) => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-sys-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    mkdirSync(join(dir, 'devices/system/cpu'), { recursive: true });
    if (possible !== undefined) writeFileSync(join(dir, 'devices/system/cpu/possible'), `${possible}\n`);
    for (const cpu of throttled) mkdirSync(join(dir, `devices/system/cpu/cpu${cpu}/thermal_throttle`), { recursive: true });
    return dir;
  };

  it('adds thermal_throttle of each possible CPU that has one', (t) => {
    const sysDir = fakeSys(t, '0-3', [0, 2, 7]);
    assert.deepEqual(dockerMaskedPaths(sysDir).slice(DOCKER_DEFAULT_MASKED_PATHS.length), [
      '/sys/devices/system/cpu/cpu0/thermal_throttle',
      '/sys/devices/system/cpu/cpu2/thermal_throttle',
    ]);
  });

  it('returns the default list when the host has no possible-CPU file', (t) => {
    assert.deepEqual(dockerMaskedPaths(fakeSys(t, undefined, [0])), [...DOCKER_DEFAULT_MASKED_PATHS]);
  });
});
