import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseCommandArgs } from './args.ts';
import { parseBytes, parseDevice, parseMount, parseRestart, parseTmpfs, parseUlimit, parseVolume, RUN_FLAGS, runSpecFromArgs } from './run-flags.ts';

const spec = { name: 'run', usage: '', summary: '', flags: RUN_FLAGS, positionals: [1, Infinity] as [number, number], restAfter: 1 };
const run = (...argv: string[]) => runSpecFromArgs(parseCommandArgs(spec, argv, 'berth'));

describe('run flags', () => {
  it('parses docker\'s sizes (binary units, optional b) and refuses others with docker\'s words', () => {
    assert.equal(parseBytes('256m', '-m'), 256 * 1024 * 1024);
    assert.equal(parseBytes('1g', '-m'), 1 << 30);
    assert.equal(parseBytes('512k', '-m'), 512 * 1024);
    assert.equal(parseBytes('64MB', '-m'), 64 * 1024 * 1024);
    assert.equal(parseBytes('1.5g', '-m'), 1.5 * (1 << 30));
    assert.equal(parseBytes('1024', '-m'), 1024);
    assert.throws(() => parseBytes('lots', '-m, --memory'), /invalid argument "lots" for "-m, --memory" flag: invalid size: 'lots'/);
    assert.throws(() => parseBytes('-1', '--shm-size'), /invalid size/);
  });

  it('--limits-view: absent (the default: on where FUSE is), asked for, or off', () => {
    assert.equal(run('busybox').limitsView, undefined);
    assert.equal(run('--limits-view', 'busybox').limitsView, true);
    assert.equal(run('--limits-view=false', 'busybox').limitsView, false);
  });

  it('parses restart policies, refusing unknown ones and counts where docker does', () => {
    assert.deepEqual(parseRestart('no'), { name: 'no' });
    assert.deepEqual(parseRestart('on-failure'), { name: 'on-failure', maxRetries: 0 });
    assert.deepEqual(parseRestart('on-failure:3'), { name: 'on-failure', maxRetries: 3 });
    assert.deepEqual(parseRestart('unless-stopped'), { name: 'unless-stopped' });
    assert.throws(() => parseRestart('always:2'), /maximum retry count can only be used with 'on-failure'/);
    assert.throws(() => parseRestart('on-failure:x'), /must be an integer/);
    assert.throws(() => parseRestart('sometimes'), /no such policy: sometimes/);
  });

  it('parses -v, --mount, --tmpfs, --device and --ulimit as docker does', () => {
    assert.deepEqual(parseVolume('/host:/ctr:ro'), { bind: { source: '/host', target: '/ctr', readOnly: true, createSource: true } });
    assert.deepEqual(parseVolume('/host:/ctr:rw,rslave,z'), { bind: { source: '/host', target: '/ctr', readOnly: false, createSource: true, propagation: 'rslave' } });
    assert.deepEqual(parseVolume('/only'), { volume: { target: '/only', readOnly: false } });
    assert.deepEqual(parseVolume('data:/d:ro,nocopy'), { volume: { name: 'data', target: '/d', readOnly: true, noCopy: true } });
    assert.throws(() => parseVolume('data:/d:rshared'), /propagation is for bind mounts/);
    assert.throws(() => parseVolume('/a:/b:bogus'), /invalid mode: bogus/);
    assert.deepEqual(parseMount('type=bind,source=/h,target=/c,readonly'), { bind: { source: '/h', target: '/c', readOnly: true, createSource: false } });
    assert.deepEqual(parseMount('type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1770'), { tmpfs: { target: '/t', options: ['size=1048576', 'mode=1770'], readOnly: false } });
    assert.deepEqual(parseMount('type=volume,source=data,target=/d'), { volume: { name: 'data', target: '/d', readOnly: false } });
    assert.deepEqual(parseMount('type=volume,dst=/d,volume-nocopy,volume-opt=type=tmpfs,volume-opt=device=tmpfs'), { volume: { target: '/d', readOnly: false, noCopy: true, driverOpts: { type: 'tmpfs', device: 'tmpfs' } } });
    assert.throws(() => parseMount('type=volume,dst=/d,volume-opt=bad'), /volume-opt wants KEY=VALUE/);
    assert.throws(() => parseMount('type=bind,source=/h'), /target is required/);
    assert.deepEqual(parseTmpfs('/run:size=1m,mode=0700'), { target: '/run', options: ['size=1m', 'mode=0700'] });
    assert.deepEqual(parseDevice('/dev/fuse'), { host: '/dev/fuse', container: '/dev/fuse', permissions: 'rwm' });
    assert.deepEqual(parseDevice('/dev/fuse:r'), { host: '/dev/fuse', container: '/dev/fuse', permissions: 'r' });
    assert.deepEqual(parseDevice('/dev/a:/dev/b:rw'), { host: '/dev/a', container: '/dev/b', permissions: 'rw' });
    assert.throws(() => parseDevice('fuse'), /invalid device specification/);
    assert.deepEqual(parseUlimit('nofile=1024:2048'), { name: 'nofile', soft: 1024, hard: 2048 });
    assert.deepEqual(parseUlimit('nproc=64'), { name: 'nproc', soft: 64, hard: 64 });
    assert.throws(() => parseUlimit('nofile=10:5'), /soft limit must be less than or equal to hard limit/);
  });

  it('turns a command line into a RunSpec: the image ends the options, everything after is the command', () => {
    const s = run('-it', '--rm', '--name', 'web', '-e', 'A=1', '-m', '64m', '--cpus', '0.5', '-u', 'nobody', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges', 'busybox', 'sh', '-c', 'echo -e x');
    assert.equal(s.image, 'busybox');
    assert.deepEqual(s.command, ['sh', '-c', 'echo -e x']);
    assert.deepEqual([s.tty, s.interactive, s.autoRemove, s.name, s.memory, s.cpus, s.user, s.noNewPrivileges], [true, true, true, 'web', 64 * 1024 * 1024, 0.5, 'nobody', true]);
    assert.deepEqual(s.env, ['A=1']);
    assert.deepEqual(s.capDrop, ['ALL']);
    assert.deepEqual(run('--entrypoint', '', 'busybox').entrypoint, []);
    assert.deepEqual(run('--log-opt', 'max-size=1k', '--log-opt', 'max-file=3', 'busybox'), { image: 'busybox', logMaxSize: 1024, logMaxFiles: 3 });
    assert.throws(() => run('--log-opt', 'max-file=3', 'busybox'), /max-file cannot be set without max-size/);
    assert.throws(() => run('--log-driver', 'syslog', 'busybox'), /no log driver named 'syslog'/);
    assert.throws(() => run('--security-opt', 'label=type:x', 'busybox'), /berth applies no SELinux labels/);
    assert.throws(() => run('--userns', 'keep-id', 'busybox'), /invalid USER mode: keep-id/);
    assert.throws(() => run('--blkio-weight', '5', 'busybox'), /Range of blkio weight is from 10 to 1000/);
  });

  it('takes -e NAME from this environment, and leaves it out when it is unset', () => {
    process.env.BERTH_TEST_FROM_ENV = 'here';
    delete process.env.BERTH_TEST_UNSET;
    assert.deepEqual(run('-e', 'BERTH_TEST_FROM_ENV', '-e', 'BERTH_TEST_UNSET', 'busybox').env, ['BERTH_TEST_FROM_ENV=here']);
  });
});
