import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runSpecFromCreate } from './create-body.ts';

describe('docker API: a ContainerCreate body as a RunSpec', () => {
  it('maps Config and HostConfig to berth run\'s flags', () => {
    const { spec } = runSpecFromCreate(
      {
        Image: 'busybox',
        Cmd: ['sh', '-c', 'echo hi'],
        Entrypoint: ['/bin/env'],
        Env: ['A=1'],
        Tty: true,
        OpenStdin: true,
        Labels: { app: 'web' },
        WorkingDir: '/srv',
        HostConfig: { AutoRemove: true, Memory: 64 << 20, NanoCpus: 500_000_000, Binds: ['/tmp:/host:ro'], PortBindings: { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '8080' }] }, RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 3 }, NetworkMode: 'none' },
      },
      'web',
    );
    assert.equal(spec.name, 'web');
    assert.deepEqual([spec.image, spec.command, spec.entrypoint, spec.env], ['busybox', ['sh', '-c', 'echo hi'], ['/bin/env'], ['A=1']]);
    assert.deepEqual([spec.tty, spec.interactive, spec.autoRemove, spec.workdir, spec.labels], [true, true, true, '/srv', { app: 'web' }]);
    assert.deepEqual([spec.memory, spec.cpus], [64 << 20, 0.5]);
    assert.deepEqual(spec.binds?.map((b) => [b.source, b.target, b.readOnly]), [['/tmp', '/host', true]]);
    assert.deepEqual(spec.restart, { name: 'on-failure', maxRetries: 3 });
  });

  it('refuses a body without an image and fields of the wrong type', () => {
    assert.throws(() => runSpecFromCreate({}, undefined), /No image specified/);
    assert.throws(() => runSpecFromCreate({ Image: 'busybox', Env: 'A=1' }, undefined), /Env of type string\[\]/);
    assert.throws(() => runSpecFromCreate({ Image: 'busybox', HostConfig: { Memory: '64m' } }, undefined), /HostConfig\.Memory of type number/);
  });
});
