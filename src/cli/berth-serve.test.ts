import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseListenAddress } from './berth-serve.ts';

describe('berth serve -H', () => {
  it('takes unix://, tcp:// and fd:// addresses', () => {
    assert.deepEqual(parseListenAddress('unix:///run/x.sock', false), { kind: 'unix', path: '/run/x.sock' });
    assert.deepEqual(parseListenAddress('tcp://127.0.0.1:2375', false), { kind: 'tcp', host: '127.0.0.1', port: 2375 });
    assert.deepEqual(parseListenAddress('tcp://[::1]:2375', false), { kind: 'tcp', host: '::1', port: 2375 });
    assert.deepEqual(parseListenAddress('tcp://0.0.0.0:2376', true), { kind: 'tcp', host: '0.0.0.0', port: 2376 });
    assert.deepEqual(parseListenAddress('fd://', false), { kind: 'fd' });
  });

  it('refuses a non-loopback TCP address without TLS, relative sockets, bad ports and other schemes', () => {
    assert.throws(() => parseListenAddress('tcp://0.0.0.0:2375', false), /non-loopback address needs --tlsverify/);
    assert.throws(() => parseListenAddress('tcp://10.0.0.1:2375', false), /needs --tlsverify/);
    assert.throws(() => parseListenAddress('unix://run/x.sock', false), /must be absolute/);
    assert.throws(() => parseListenAddress('tcp://127.0.0.1:70000', false), /expected tcp:\/\/HOST:PORT/);
    assert.throws(() => parseListenAddress('tcp://127.0.0.1', false), /expected tcp:\/\/HOST:PORT/);
    assert.throws(() => parseListenAddress('http://127.0.0.1:80', false), /expected unix:\/\/\/path, tcp:\/\/HOST:PORT or fd:\/\//);
  });
});
