import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatIPv4, formatSubnet, isMac, lowestFree, macFor, nth, overlaps, parseIPv4, parseSubnet, within } from './cidr.ts';

describe('cidr', () => {
  it('parses and formats addresses, refusing what is not one', () => {
    assert.equal(formatIPv4(parseIPv4('10.99.0.1')!), '10.99.0.1');
    assert.equal(parseIPv4('255.255.255.255'), 0xffffffff);
    for (const bad of ['10.99.0', '10.99.0.256', '1.2.3.4.5', '01.2.3.4', 'a.b.c.d', '']) assert.equal(parseIPv4(bad), undefined, bad);
  });

  it('parses subnets and refuses host bits, bad text and networks too small', () => {
    assert.equal(formatSubnet(parseSubnet('10.99.0.0/16')), '10.99.0.0/16');
    assert.throws(() => parseSubnet('10.99.0.1/16'), /host bits set \(the network is 10\.99\.0\.0\/16\)/);
    assert.throws(() => parseSubnet('10.99.0.0'), /must be an IPv4 CIDR/);
    assert.throws(() => parseSubnet('10.99.0.0/33'), /must be an IPv4 CIDR/);
    assert.throws(() => parseSubnet('10.99.0.0/31'), /at least a \/30/);
  });

  it('tells overlapping and nested subnets', () => {
    const a = parseSubnet('10.99.0.0/16');
    assert.ok(overlaps(a, parseSubnet('10.99.5.0/24')));
    assert.ok(overlaps(parseSubnet('10.0.0.0/8'), a));
    assert.ok(!overlaps(a, parseSubnet('10.100.0.0/24')));
    assert.ok(within(parseSubnet('10.99.5.0/24'), a));
    assert.ok(!within(a, parseSubnet('10.99.5.0/24')));
  });

  it('allocates the lowest free address, never the network or broadcast address', () => {
    const s = parseSubnet('10.0.0.0/30');
    assert.equal(formatIPv4(lowestFree(s, new Set())!), '10.0.0.1');
    assert.equal(formatIPv4(lowestFree(s, new Set([nth(s, 1)]))!), '10.0.0.2');
    assert.equal(lowestFree(s, new Set([nth(s, 1), nth(s, 2)])), undefined);
    const big = parseSubnet('10.1.0.0/16');
    assert.equal(formatIPv4(lowestFree(big, new Set([nth(big, 1)]), parseSubnet('10.1.8.0/24'))!), '10.1.8.0');
  });

  it('makes docker-style MACs and checks given ones', () => {
    assert.equal(macFor(parseIPv4('10.99.0.2')!), '02:42:0a:63:00:02');
    assert.ok(isMac('02:42:0a:63:00:02'));
    assert.ok(!isMac('01:42:0a:63:00:02'), 'multicast');
    assert.ok(!isMac('02:42:0a:63:00'));
  });
});
