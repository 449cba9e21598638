import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseWwwAuthenticate } from './challenge.ts';

describe('parseWwwAuthenticate', () => {
  it('reads a bearer challenge whose quoted scope holds commas', () => {
    assert.deepEqual(
      parseWwwAuthenticate('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push"'),
      [{ scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull,push' } }],
    );
  });

  it('reads several challenges in one header, spaces, unquoted values and escapes', () => {
    assert.deepEqual(parseWwwAuthenticate('Basic realm="Registry Realm", Bearer realm="http://t/x" , service=reg, error="say \\"hi\\""'), [
      { scheme: 'basic', params: { realm: 'Registry Realm' } },
      { scheme: 'bearer', params: { realm: 'http://t/x', service: 'reg', error: 'say "hi"' } },
    ]);
  });

  it('gives nothing for an empty header and keeps a bare scheme', () => {
    assert.deepEqual(parseWwwAuthenticate(''), []);
    assert.deepEqual(parseWwwAuthenticate('Basic'), [{ scheme: 'basic', params: {} }]);
  });
});
