/**
 * The /etc files each container gets of its own (bound over the image's): hostname, hosts and
 * resolv.conf, written as docker writes them. Pure text in, text out; the caller writes files.
 */
import { isIP } from 'node:net';
import { BerthError } from '../common/index.ts';

const HOSTS_DEFAULT = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback', 'fe00::0\tip6-localnet', 'ff00::0\tip6-mcastprefix', 'ff02::1\tip6-allnodes', 'ff02::2\tip6-allrouters'];

/** docker's fallback when the host names only local resolvers (unreachable from a container). */
const DEFAULT_NAMESERVERS = ['8.8.8.8', '8.8.4.4'];

/** One --add-host entry: `name:ip` (an IPv6 address keeps its colons; `name=ip` works too). */
export function parseAddHost(entry: string, hostGateway?: string): { host: string; ip: string } {
  const sep = entry.includes('=') ? entry.indexOf('=') : entry.indexOf(':');
  const host = sep > 0 ? entry.slice(0, sep) : '';
  let ip = sep > 0 ? entry.slice(sep + 1) : '';
  if (ip.startsWith('[') && ip.endsWith(']')) ip = ip.slice(1, -1);
  if (!host || /\s/.test(host)) throw new BerthError('INVALID_ARGUMENT', `invalid argument "${entry}" for "--add-host" flag: bad format for add-host: "${entry}"`);
  if (ip === 'host-gateway') {
    if (!hostGateway) throw new BerthError('INVALID_ARGUMENT', `--add-host ${entry}: host-gateway needs a bridge network (the container has none)`);
    ip = hostGateway;
  }
  if (!isIP(ip)) throw new BerthError('INVALID_ARGUMENT', `invalid argument "${entry}" for "--add-host" flag: invalid IP address in add-host: "${ip}"`);
  return { host, ip };
}

export function hostsFile(opts: { addHosts?: string[]; hostGateway?: string; own?: { ip: string; hostname: string; domainname?: string } }): string {
  const lines = [...HOSTS_DEFAULT];
  for (const entry of opts.addHosts ?? []) {
    const { host, ip } = parseAddHost(entry, opts.hostGateway);
    lines.push(`${ip}\t${host}`);
  }
  if (opts.own) {
    const names = opts.own.domainname ? `${opts.own.hostname}.${opts.own.domainname} ${opts.own.hostname}` : opts.own.hostname;
    lines.push(`${opts.own.ip}\t${names}`);
  }
  return lines.join('\n') + '\n';
}

function isLocalNameserver(ip: string): boolean {
  return /^127\./.test(ip) || ip === '::1' || ip === '0.0.0.0';
}

/**
 * The container's resolv.conf from the host's: its local nameservers dropped (they are the
 * host's loopback, not the container's), docker's defaults when none is left; --dns,
 * --dns-search and --dns-option replace their parts.
 */
export function resolvConf(hostText: string, opts: { dns?: string[]; dnsSearch?: string[]; dnsOptions?: string[] } = {}): string {
  const nameservers: string[] = [];
  let search: string[] = [];
  let options: string[] = [];
  for (const raw of hostText.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const [key, ...rest] = line.split(/\s+/);
    if (key === 'nameserver' && rest[0] && !isLocalNameserver(rest[0])) nameservers.push(rest[0]);
    else if (key === 'search' || key === 'domain') search = rest;
    else if (key === 'options') options = rest;
  }
  for (const ip of opts.dns ?? []) if (!isIP(ip)) throw new BerthError('INVALID_ARGUMENT', `${ip} is not an ip address`);
  const servers = opts.dns?.length ? opts.dns : nameservers.length ? nameservers : DEFAULT_NAMESERVERS;
  if (opts.dnsSearch?.length) search = opts.dnsSearch.filter((s) => s !== '.');
  if (opts.dnsOptions?.length) options = opts.dnsOptions;
  const out: string[] = [];
  if (search.length) out.push(`search ${search.join(' ')}`);
  for (const s of servers) out.push(`nameserver ${s}`);
  if (options.length) out.push(`options ${options.join(' ')}`);
  return out.join('\n') + '\n';
}

/** docker's rule for hostnames: RFC 1123 labels (a name, not a path or an option). */
export function checkHostname(name: string): string {
  if (name.length > 253 || !/^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/.test(name)) {
    throw new BerthError('INVALID_ARGUMENT', `invalid hostname format: ${name}`);
  }
  return name;
}
