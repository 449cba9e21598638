import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkHostname, hostsFile, parseAddHost, resolvConf } from './container-etc.ts';

describe('the container\'s /etc files', () => {
  it('writes docker\'s /etc/hosts with --add-host entries (IPv6 too) and the container\'s own name', () => {
    const text = hostsFile({ addHosts: ['db:10.0.0.5', 'v6=[::1]'], own: { ip: '172.17.0.2', hostname: 'box', domainname: 'example.org' } });
    assert.equal(text.split('\n')[0], '127.0.0.1\tlocalhost');
    assert.match(text, /\n10\.0\.0\.5\tdb\n::1\tv6\n172\.17\.0\.2\tbox\.example\.org box\n$/);
    assert.throws(() => parseAddHost('db'), /bad format for add-host/);
    assert.throws(() => parseAddHost('db:999.1.1.1'), /invalid IP address in add-host/);
    assert.throws(() => parseAddHost('gw:host-gateway'), /host-gateway needs a bridge network/);
    assert.deepEqual(parseAddHost('gw:host-gateway', '10.99.0.1'), { host: 'gw', ip: '10.99.0.1' });
  });

  it('keeps the host\'s resolvers but its local ones, falls back to docker\'s, and applies --dns, --dns-search, --dns-option', () => {
    const host = 'nameserver 127.0.0.53\nnameserver 10.1.1.1 # comment\nsearch corp.example\noptions edns0\n';
    assert.equal(resolvConf(host), 'search corp.example\nnameserver 10.1.1.1\noptions edns0\n');
    assert.equal(resolvConf('nameserver 127.0.0.1\n'), 'nameserver 8.8.8.8\nnameserver 8.8.4.4\n');
    assert.equal(resolvConf(host, { dns: ['192.0.2.1'], dnsSearch: ['a.example'], dnsOptions: ['ndots:2'] }), 'search a.example\nnameserver 192.0.2.1\noptions ndots:2\n');
    assert.throws(() => resolvConf(host, { dns: ['not-an-ip'] }), /not-an-ip is not an ip address/);
  });

  it('accepts RFC 1123 host names only', () => {
    assert.equal(checkHostname('web-1.example'), 'web-1.example');
    for (const bad of ['-x', 'a_b', 'a/b', 'x'.repeat(64), '']) assert.throws(() => checkHostname(bad), /invalid hostname format/, bad);
  });
});
