import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { tableScript } from './nft.ts';

const canCheck = process.getuid?.() === 0 && spawnSync('nft', ['--version']).status === 0;

describe('the nftables table', () => {
  const script = tableScript('berth-t', [
    { bridge: 'berth0', subnet: '10.99.0.0/16', internal: false },
    { bridge: 'berth1', subnet: '10.100.0.0/24', internal: true },
  ], [
    { hostIp: '', hostPort: 8080, protocol: 'tcp', containerIp: '10.99.0.2', containerPort: 80 },
    { hostIp: '127.0.0.1', hostPort: 5353, protocol: 'udp', containerIp: '10.99.0.3', containerPort: 53 },
  ]);

  it('is replaced whole in one transaction, and removed when no network is up', () => {
    assert.match(script, /^add table ip berth-t\ndelete table ip berth-t\ntable ip berth-t \{/);
    assert.equal(tableScript('berth-t', [], []), 'add table ip berth-t\ndelete table ip berth-t\n');
  });

  it('masquerades only non-internal networks and maps published ports by address or for all', () => {
    assert.match(script, /set nat_nets \{ type ipv4_addr; flags interval; elements = \{ 10\.99\.0\.0\/16 \} \}/);
    assert.match(script, /map ports_any .* elements = \{ tcp \. 8080 : 10\.99\.0\.2 \. 80 \} \}/);
    assert.match(script, /map ports_ip .* elements = \{ 127\.0\.0\.1 \. udp \. 5353 : 10\.99\.0\.3 \. 53 \} \}/);
  });

  it('isolates networks and closes internal ones both ways', () => {
    assert.match(script, /iifname "berth0" oifname @bridges oifname != "berth0" drop/);
    assert.match(script, /iifname "berth1" oifname != "berth1" drop/);
    assert.match(script, /oifname "berth1" iifname != "berth1" drop/);
    assert.doesNotMatch(script, /iifname "berth0" oifname != "berth0" drop/);
  });

  it('refuses an interface name that could break out of its quotes', () => {
    assert.throws(() => tableScript('t', [{ bridge: 'x" accept; #', subnet: '10.0.0.0/24', internal: false }], []), /bad interface name/);
  });

  it('is accepted by nft (checked, not applied)', { skip: !canCheck && 'needs root and nft' }, () => {
    const r = spawnSync('nft', ['-c', '-f', '-'], { input: script, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  });
});
