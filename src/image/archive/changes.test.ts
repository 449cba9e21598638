import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BerthError } from '../../common/index.ts';
import { applyChanges, splitWords } from './changes.ts';

describe('applyChanges', () => {
  it('sets CMD and ENTRYPOINT in exec and shell form', () => {
    assert.deepEqual(applyChanges({}, ['CMD ["sh", "-c", "echo hi"]']).Cmd, ['sh', '-c', 'echo hi']);
    assert.deepEqual(applyChanges({}, ['CMD echo hi']).Cmd, ['/bin/sh', '-c', 'echo hi']);
    const c = applyChanges({}, ['CMD ["x"]', 'ENTRYPOINT ["/init"]']);
    assert.deepEqual([c.Entrypoint, c.Cmd], [['/init'], ['x']]);
    assert.equal(applyChanges({ Cmd: ['old'] }, ['ENTRYPOINT ["/init"]']).Cmd, null, 'ENTRYPOINT resets an inherited CMD');
  });

  it('sets ENV, LABEL (quoted values, legacy form), WORKDIR, USER, EXPOSE, VOLUME, STOPSIGNAL', () => {
    const c = applyChanges({ Env: ['A=old'] }, [
      'ENV A=1 B="two words"',
      'ENV C legacy value',
      'LABEL version=1.0 "com.example.name"="My App"',
      'WORKDIR /app',
      'WORKDIR sub',
      'USER 1000:1000',
      'EXPOSE 80 53/udp',
      'VOLUME ["/data"]',
      'STOPSIGNAL SIGINT',
    ]);
    assert.deepEqual(c.Env, ['A=1', 'B=two words', 'C=legacy value']);
    assert.deepEqual(c.Labels, { version: '1.0', 'com.example.name': 'My App' });
    assert.equal(c.WorkingDir, '/app/sub');
    assert.equal(c.User, '1000:1000');
    assert.deepEqual(c.ExposedPorts, { '80/tcp': {}, '53/udp': {} });
    assert.deepEqual(c.Volumes, { '/data': {} });
    assert.equal(c.StopSignal, 'SIGINT');
  });

  it('refuses what import cannot apply, naming the change', () => {
    const fails = (change: string, re: RegExp) =>
      assert.throws(() => applyChanges({}, [change]), (err: unknown) => err instanceof BerthError && err.code === 'INVALID_ARGUMENT' && err.message.includes(JSON.stringify(change)) && re.test(err.message));
    fails('RUN make', /RUN cannot be applied/);
    fails('EXPOSE http', /invalid port/);
    fails('VOLUME data', /not an absolute path/);
    fails('ENV', /needs an argument/);
  });

  it('splits words with quotes and escapes', () => {
    assert.deepEqual(splitWords(`a "b c" 'd e' f\\ g ""`), ['a', 'b c', 'd e', 'f g', '']);
  });
});
