/**
 * IPv4 addresses and subnets as numbers: parsing (refused with the offending text named),
 * overlap, the n-th address, and the lowest free address of a subnet (IPAM's core).
 */
import { BerthError } from '../common/index.ts';

export interface Subnet {
  /** The network address as an unsigned 32-bit number. */
  base: number;
  prefix: number;
}

export function parseIPv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!/^(0|[1-9]\d{0,2})$/.test(p) || Number(p) > 255) return undefined;
    n = n * 256 + Number(p);
  }
  return n;
}

export function formatIPv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function isIPv4(text: string): boolean {
  return parseIPv4(text) !== undefined;
}

function mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** `10.99.0.0/16`; host bits set (`10.99.0.1/16`) are refused, as docker refuses them. */
export function parseSubnet(text: string, what = 'subnet'): Subnet {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(text);
  const addr = m ? parseIPv4(m[1]!) : undefined;
  const prefix = m ? Number(m[2]) : NaN;
  if (addr === undefined || !(prefix >= 0 && prefix <= 32)) {
    throw new BerthError('INVALID_ARGUMENT', `invalid ${what} ${JSON.stringify(text)}: it must be an IPv4 CIDR such as 10.100.0.0/24`);
  }
  if (((addr & mask(prefix)) >>> 0) !== addr) {
    throw new BerthError('INVALID_ARGUMENT', `invalid ${what} ${text}: it has host bits set (the network is ${formatIPv4((addr & mask(prefix)) >>> 0)}/${prefix})`);
  }
  if (prefix > 30) throw new BerthError('INVALID_ARGUMENT', `invalid ${what} ${text}: a network needs at least a /30 (room for a gateway and a container)`);
  return { base: addr, prefix };
}

export function formatSubnet(s: Subnet): string {
  return `${formatIPv4(s.base)}/${s.prefix}`;
}

export function size(s: Subnet): number {
  return 2 ** (32 - s.prefix);
}

export function contains(s: Subnet, addr: number): boolean {
  return ((addr & mask(s.prefix)) >>> 0) === s.base;
}

/** Whether `inner` lies wholly inside `outer`. */
export function within(inner: Subnet, outer: Subnet): boolean {
  return inner.prefix >= outer.prefix && contains(outer, inner.base);
}

export function overlaps(a: Subnet, b: Subnet): boolean {
  return contains(a, b.base) || contains(b, a.base);
}

/** The n-th address of the subnet (1 is the usual gateway). */
export function nth(s: Subnet, n: number): number {
  return (s.base + n) >>> 0;
}

/**
 * The lowest address of `range` (default: the whole subnet) that is not the network or
 * broadcast address of `subnet` and not in `used`; undefined when none is left.
 */
export function lowestFree(subnet: Subnet, used: ReadonlySet<number>, range: Subnet = subnet): number | undefined {
  const first = Math.max(range.base, subnet.base + 1);
  const last = Math.min(range.base + size(range) - 1, subnet.base + size(subnet) - 2);
  for (let a = first; a <= last; a++) if (!used.has(a >>> 0)) return a >>> 0;
  return undefined;
}

/** docker's MAC for an address: 02:42 and the four bytes of the IPv4 address. */
export function macFor(addr: number): string {
  return ['02', '42', ...[addr >>> 24, (addr >>> 16) & 255, (addr >>> 8) & 255, addr & 255].map((b) => b.toString(16).padStart(2, '0'))].join(':');
}

export function isMac(text: string): boolean {
  // a unicast address: the multicast bit of the first byte is clear
  return /^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/.test(text) && (parseInt(text.slice(0, 2), 16) & 1) === 0;
}
