/**
 * berth's nftables rules: one table of its own per state root (`ip berth`, or `ip berth-<hash>`
 * for another root), never a rule in anyone else's table. The table is written whole, from the
 * engine's records, in one nft transaction (`add table; delete table; table { … }`): a change
 * never leaves half a ruleset, and a table that drifted (a flush by a firewall reload, a killed
 * command) is made right by the next change or by `system check`.
 *
 *   prerouting/output (nat)   traffic to an address of this host goes through `ports`, which
 *                             DNATs published ports by two maps: one address, or any address
 *   postrouting (nat)         masquerade what leaves a non-internal network for anywhere but a
 *                             berth bridge; what was DNATed from a container (hairpin); and what
 *                             reaches a container from 127.0.0.1 (a published port on loopback)
 *   forward (filter)          per bridge: no traffic into another berth network, and none out of
 *                             (or into) an internal network
 *
 * Verdicts are only drops: berth's accept could never override another table's drop anyway.
 */
import { spawnSync } from 'node:child_process';
import { BerthError } from '../common/index.ts';
import type { Protocol } from './ports.ts';

export interface NftNetwork {
  bridge: string;
  subnet: string;
  internal: boolean;
}

export interface NftPort {
  /** '' for every address of the host. */
  hostIp: string;
  hostPort: number;
  protocol: Protocol;
  containerIp: string;
  containerPort: number;
}

const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

function q(ifname: string): string {
  if (!IFNAME.test(ifname)) throw new BerthError('INTERNAL', `bad interface name ${JSON.stringify(ifname)}`);
  return `"${ifname}"`;
}

/** The whole table as one nft script; with no network, the script removes the table. */
export function tableScript(table: string, networks: readonly NftNetwork[], ports: readonly NftPort[]): string {
  const lines = [`add table ip ${table}`, `delete table ip ${table}`];
  if (!networks.length) return lines.join('\n') + '\n';
  const t = `ip ${table}`;
  const elements = (items: string[]) => (items.length ? ` elements = { ${items.join(', ')} }` : '');
  const bridges = networks.map((n) => q(n.bridge));
  const natNets = networks.filter((n) => !n.internal).map((n) => n.subnet);
  const anyPorts = ports.filter((p) => p.hostIp === '').map((p) => `${p.protocol} . ${p.hostPort} : ${p.containerIp} . ${p.containerPort}`);
  const ipPorts = ports.filter((p) => p.hostIp !== '').map((p) => `${p.hostIp} . ${p.protocol} . ${p.hostPort} : ${p.containerIp} . ${p.containerPort}`);
  lines.push(`table ${t} {`);
  lines.push(`  set bridges { type ifname;${elements(bridges)} }`);
  lines.push(`  set nat_nets { type ipv4_addr; flags interval;${elements(natNets)} }`);
  lines.push(`  map ports_ip { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service;${elements(ipPorts)} }`);
  lines.push(`  map ports_any { type inet_proto . inet_service : ipv4_addr . inet_service;${elements(anyPorts)} }`);
  lines.push('  chain ports {');
  lines.push('    dnat ip to ip daddr . meta l4proto . th dport map @ports_ip');
  lines.push('    dnat ip to meta l4proto . th dport map @ports_any');
  lines.push('  }');
  lines.push('  chain prerouting { type nat hook prerouting priority dstnat; policy accept;');
  lines.push('    fib daddr type local jump ports');
  lines.push('  }');
  lines.push('  chain output { type nat hook output priority -100; policy accept;');
  lines.push('    fib daddr type local jump ports');
  lines.push('  }');
  lines.push('  chain postrouting { type nat hook postrouting priority srcnat; policy accept;');
  lines.push('    ip saddr @nat_nets oifname != @bridges masquerade');
  lines.push('    ct status dnat ip saddr @nat_nets masquerade');
  lines.push('    oifname @bridges ip saddr 127.0.0.0/8 masquerade');
  lines.push('  }');
  lines.push('  chain forward { type filter hook forward priority filter; policy accept;');
  for (const n of networks) {
    const br = q(n.bridge);
    // into another berth network: dropped (networks are isolated from each other)
    lines.push(`    iifname ${br} oifname @bridges oifname != ${br} drop`);
    if (n.internal) {
      lines.push(`    iifname ${br} oifname != ${br} drop`);
      lines.push(`    oifname ${br} iifname != ${br} drop`);
    }
  }
  lines.push('  }');
  lines.push('}');
  return lines.join('\n') + '\n';
}

/** Runs an nft script as one transaction. */
export function applyNft(script: string): void {
  const r = spawnSync('nft', ['-f', '-'], { input: script, encoding: 'utf8' });
  if (r.error) {
    throw new BerthError('FAILED_PRECONDITION', `cannot run nft: ${r.error.message}`, { hint: 'install nftables (setup.sh does)' });
  }
  if (r.status !== 0) {
    throw new BerthError('INTERNAL', `nft refused berth's rules: ${r.stderr.trim().split('\n').slice(0, 3).join(' / ')}`);
  }
}

/** Whether the table is on the host (for `system check`). */
export function tableExists(table: string): boolean {
  return spawnSync('nft', ['list', 'table', 'ip', table], { stdio: 'ignore' }).status === 0;
}
