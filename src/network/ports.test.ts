import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseExposed, parsePublish } from './ports.ts';

describe('parsePublish (docker -p)', () => {
  const table: [string, ReturnType<typeof parsePublish>][] = [
    ['80', [{ hostIp: '', hostPort: 0, containerPort: 80, protocol: 'tcp' }]],
    ['18080:80', [{ hostIp: '', hostPort: 18080, containerPort: 80, protocol: 'tcp' }]],
    ['127.0.0.1:18080:80', [{ hostIp: '127.0.0.1', hostPort: 18080, containerPort: 80, protocol: 'tcp' }]],
    ['127.0.0.1::80/udp', [{ hostIp: '127.0.0.1', hostPort: 0, containerPort: 80, protocol: 'udp' }]],
    ['0.0.0.0:53:53/UDP', [{ hostIp: '', hostPort: 53, containerPort: 53, protocol: 'udp' }]],
    ['8000-8001:80-81', [
      { hostIp: '', hostPort: 8000, containerPort: 80, protocol: 'tcp' },
      { hostIp: '', hostPort: 8001, containerPort: 81, protocol: 'tcp' },
    ]],
    ['8000-8010:80', [{ hostIp: '', hostPort: 8000, hostPortEnd: 8010, containerPort: 80, protocol: 'tcp' }]],
    ['80-81', [
      { hostIp: '', hostPort: 0, containerPort: 80, protocol: 'tcp' },
      { hostIp: '', hostPort: 0, containerPort: 81, protocol: 'tcp' },
    ]],
  ];
  for (const [spec, want] of table) it(`parses ${spec}`, () => assert.deepEqual(parsePublish(spec), want));

  const refused: [string, RegExp][] = [
    ['', /"" is not a port/],
    ['0:80', /host port 0 is out of range/],
    ['70000', /container port 70000 is out of range/],
    ['80/sctp', /unknown protocol "sctp"/],
    ['a:b:c:d', /too many colons/],
    ['1.2.3:80:80', /"1\.2\.3" is not an IPv4 address/],
    ['8000-8002:80-81', /differ in length/],
    ['81-80', /ends before it starts/],
    ['[::1]:80:80', /IPv6/],
  ];
  for (const [spec, re] of refused) {
    it(`refuses ${JSON.stringify(spec)}`, () => assert.throws(() => parsePublish(spec), (e: Error) => re.test(e.message) && e.message.includes('invalid port specification')));
  }

  it('reads EXPOSE keys', () => {
    assert.deepEqual(parseExposed(['80/tcp', '53/udp']), [{ containerPort: 80, protocol: 'tcp' }, { containerPort: 53, protocol: 'udp' }]);
  });
});
