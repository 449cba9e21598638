/**
 * Published ports: docker's `-p` grammar and `EXPOSE`'s, refused with the offending spec named.
 *
 *   -p [IP:][HOST[-HOST_END]:]CTR[-CTR_END][/tcp|udp]
 *
 * A missing host port (`-p 80`, `-p 127.0.0.1::80`) is chosen at start (hostPort 0); a host
 * range for one container port means any free port of the range.
 */
import { BerthError } from '../common/index.ts';
import { isIPv4 } from './cidr.ts';

export type Protocol = 'tcp' | 'udp';

export interface PortBinding {
  /** '' for every address of the host. */
  hostIp: string;
  /** 0: a free port, chosen when the container starts. */
  hostPort: number;
  /** With hostPort, a range to choose from (`-p 8000-8010:80`). */
  hostPortEnd?: number;
  containerPort: number;
  protocol: Protocol;
}

function bad(spec: string, why: string): BerthError {
  return new BerthError('INVALID_ARGUMENT', `invalid port specification: "${spec}": ${why}`);
}

function portRange(text: string, spec: string, what: string): [number, number] {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(text);
  if (!m) throw bad(spec, `${what} ${JSON.stringify(text)} is not a port or a range of ports`);
  const start = Number(m[1]);
  const end = m[2] === undefined ? start : Number(m[2]);
  if (start < 1 || end > 65535 || start > 65535) throw bad(spec, `${what} ${text} is out of range (1-65535)`);
  if (end < start) throw bad(spec, `${what} range ${text} ends before it starts`);
  return [start, end];
}

export function parsePublish(spec: string): PortBinding[] {
  let rest = spec;
  let protocol: Protocol = 'tcp';
  const slash = rest.lastIndexOf('/');
  if (slash >= 0) {
    const p = rest.slice(slash + 1).toLowerCase();
    if (p !== 'tcp' && p !== 'udp') throw bad(spec, `unknown protocol ${JSON.stringify(rest.slice(slash + 1))} (tcp or udp)`);
    protocol = p;
    rest = rest.slice(0, slash);
  }
  let hostIp = '';
  let hostPart = '';
  let ctrPart: string;
  if (rest.startsWith('[')) throw bad(spec, 'IPv6 host addresses are not supported: berth networks are IPv4');
  const parts = rest.split(':');
  if (parts.length === 1) ctrPart = parts[0]!;
  else if (parts.length === 2) [hostPart, ctrPart] = parts as [string, string];
  else if (parts.length === 3) [hostIp, hostPart, ctrPart] = parts as [string, string, string];
  else throw bad(spec, 'too many colons');
  if (hostIp === '0.0.0.0') hostIp = '';
  if (hostIp !== '' && !isIPv4(hostIp)) throw bad(spec, `${JSON.stringify(hostIp)} is not an IPv4 address`);
  const [cStart, cEnd] = portRange(ctrPart, spec, 'container port');
  if (hostPart === '') {
    const out: PortBinding[] = [];
    for (let p = cStart; p <= cEnd; p++) out.push({ hostIp, hostPort: 0, containerPort: p, protocol });
    return out;
  }
  const [hStart, hEnd] = portRange(hostPart, spec, 'host port');
  if (cStart === cEnd && hEnd > hStart) return [{ hostIp, hostPort: hStart, hostPortEnd: hEnd, containerPort: cStart, protocol }];
  if (hEnd - hStart !== cEnd - cStart) throw bad(spec, `the host range ${hostPart} and the container range ${ctrPart} differ in length`);
  const out: PortBinding[] = [];
  for (let i = 0; i <= cEnd - cStart; i++) out.push({ hostIp, hostPort: hStart + i, containerPort: cStart + i, protocol });
  return out;
}

/** An image's `EXPOSE`d ports (`80/tcp`, `53/udp`, `8000-8002`), for -P. */
export function parseExposed(keys: readonly string[]): { containerPort: number; protocol: Protocol }[] {
  const out: { containerPort: number; protocol: Protocol }[] = [];
  for (const key of keys) {
    for (const b of parsePublish(key)) out.push({ containerPort: b.containerPort, protocol: b.protocol });
  }
  return out;
}

/** docker's `80/tcp` key. */
export function portKey(port: number, protocol: Protocol): string {
  return `${port}/${protocol}`;
}
