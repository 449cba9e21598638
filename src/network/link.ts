/**
 * Links, addresses and routes, made with iproute2 (`ip -batch`: one process for many changes)
 * and util-linux (`unshare`, `nsenter`). Node cannot speak rtnetlink; these are the tools every
 * Linux host has, and each change here is one short process.
 *
 * A container's network namespace is made by a holder process (`unshare --net`) that stays
 * until the runtime has joined the namespace by its /proc path and is then told to go: no
 * namespace file is bind-mounted, so nothing is left to unmount, and the namespace (with its
 * veth ends) goes away with the container's last process, however it ends.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { BerthError } from '../common/index.ts';

export interface BridgeSpec {
  name: string;
  /** The gateway's address with the subnet's prefix, e.g. 10.99.0.1/16. */
  gatewayCidr: string;
  mtu: number;
}

/** One interface of a container on one network. */
export interface EndpointSpec {
  /** The bridge the host end joins. */
  bridge: string;
  /** The host end's name. */
  hostIf: string;
  /** The name inside the container: eth0, eth1, … */
  ifname: string;
  /** The container's address with the prefix, e.g. 10.99.0.2/16. */
  addressCidr: string;
  mac: string;
  mtu: number;
  /** The default route's gateway ('' for none: an internal network, or not the first network). */
  gateway: string;
}

function ipBatch(script: string, what: string, netns?: string): void {
  const [cmd, args] = netns ? ['nsenter', [`--net=${netns}`, 'ip', '-batch', '-']] : ['ip', ['-batch', '-']];
  const r = spawnSync(cmd, args, { input: script, encoding: 'utf8' });
  if (r.error) throw new BerthError('FAILED_PRECONDITION', `cannot run ${cmd}: ${r.error.message}`, { hint: 'install iproute2 and util-linux (setup.sh does)' });
  if (r.status !== 0) throw new BerthError('INTERNAL', `${what}: ${ipError(r.stderr)}`);
}

function ipError(stderr: string): string {
  return stderr.trim().split('\n').filter((l) => !l.startsWith('Command failed')).join(' / ') || 'ip failed';
}

export function linkExists(name: string): boolean {
  return existsSync(`/sys/class/net/${name}`);
}

/**
 * Whether a bridge of berth's is there and in use: it exists and is up. A bridge being removed
 * (by the command that ended its network's last container) is down and leaves sysfs a moment
 * after its name is gone: it is waited for, and then made again.
 */
export function bridgeReady(name: string): boolean {
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let i = 0; i < 200; i++) {
    let flags: number;
    try {
      flags = parseInt(readFileSync(`/sys/class/net/${name}/flags`, 'utf8').trim(), 16);
    } catch {
      return false;
    }
    if (flags & 1) return true;
    // called under the records' lock: a short blocking wait, not an event-loop turn
    Atomics.wait(pause, 0, 0, 5);
  }
  throw new BerthError('INTERNAL', `the bridge ${name} is down and does not go away: set it up (ip link set ${name} up) or remove it`);
}

/** Makes the bridge with its gateway address, up (it must not exist yet). */
export function createBridge(b: BridgeSpec): void {
  ipBatch([`link add ${b.name} mtu ${b.mtu} type bridge`, `addr add ${b.gatewayCidr} dev ${b.name}`, `link set ${b.name} up`].join('\n') + '\n', `cannot make the bridge ${b.name}`);
  // a published port on 127.0.0.1 is DNATed to a container: such packets may leave by the bridge
  writeFileSync(`/proc/sys/net/ipv4/conf/${b.name}/route_localnet`, '1');
  // containers reach out through the host (docker and podman turn this on too)
  if (readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim() !== '1') writeFileSync('/proc/sys/net/ipv4/ip_forward', '1');
}

export function deleteLinks(names: readonly string[]): void {
  const present = names.filter(linkExists);
  if (!present.length) return;
  const r = spawnSync('ip', ['-force', '-batch', '-'], { input: present.map((n) => `link del ${n}`).join('\n') + '\n', encoding: 'utf8' });
  // a link that went away meanwhile (its namespace ended: the kernel removes it a moment later) is what was wanted
  const errors = ipError(r.stderr ?? '').split(' / ').filter((l) => l && !/Cannot find device/.test(l) && l !== 'ip failed');
  if (r.status !== 0 && errors.length) throw new BerthError('INTERNAL', `cannot remove ${present.join(', ')}: ${errors.join(' / ')}`);
}

/** The `ip` lines that make the endpoints: host side (in the host's namespace) and container side. */
export function endpointScripts(endpoints: readonly EndpointSpec[], netns: string): { inside: string; host: string } {
  const inside = ['link set lo up'];
  const host: string[] = [];
  for (const e of endpoints) {
    // made from the host, its peer sent into the container's namespace already named and addressed
    host.push(`link add ${e.hostIf} mtu ${e.mtu} master ${e.bridge} up type veth peer name ${e.ifname} mtu ${e.mtu} address ${e.mac} netns ${netns}`);
    // a container may reach itself through a published port of the host (hairpin)
    host.push(`link set ${e.hostIf} type bridge_slave hairpin on`);
    inside.push(`link set ${e.ifname} up`);
    inside.push(`addr add ${e.addressCidr} dev ${e.ifname}`);
  }
  for (const e of endpoints) if (e.gateway) inside.push(`route add default via ${e.gateway} dev ${e.ifname}`);
  return { inside: inside.join('\n') + '\n', host: host.join('\n') + '\n' };
}

/** A new network namespace with the endpoints in it, held until `release`. */
export interface HeldNetns {
  /** The namespace by path, for the runtime to join. */
  path: string;
  release(): void;
}

/** Whether the route the endpoints' last command makes is in the namespace's table (/proc/PID/net/route). */
function configured(pid: number, endpoints: readonly EndpointSpec[]): boolean {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/net/route`, 'utf8');
  } catch {
    return false;
  }
  const withGateway = endpoints.find((e) => e.gateway);
  const last = endpoints[endpoints.length - 1]!;
  const lines = text.split('\n').slice(1).map((l) => l.trim().split(/\s+/));
  if (withGateway) return lines.some((f) => f[0] === withGateway.ifname && f[1] === '00000000');
  return lines.some((f) => f[0] === last.ifname);
}

function netnsOf(pid: number | 'self'): string {
  try {
    return readlinkSync(`/proc/${pid}/ns/net`);
  } catch {
    return '';
  }
}

/**
 * Makes a network namespace holding the endpoints. The holder is `ip -batch -` itself in a new
 * namespace (unshare --net): once its namespace exists, the host's `ip` makes each veth with its
 * peer sent into it, and the holder, fed through its stdin, configures the inside. It lives
 * until `release` closes its stdin.
 */
export async function makeNetns(endpoints: readonly EndpointSpec[]): Promise<HeldNetns> {
  const child: ChildProcess = spawn('unshare', ['--net', '--', 'ip', '-batch', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  let ended = false;
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.on('exit', () => (ended = true));
  child.on('error', (err) => {
    ended = true;
    stderr += err.message;
  });
  const fail = (why: string): never => {
    child.stdin!.destroy();
    if (!ended) child.kill('SIGKILL');
    // the host ends of a namespace that came to be go with it; any made before it failed too
    deleteLinks(endpoints.map((e) => e.hostIf));
    throw new BerthError('INTERNAL', `cannot set up the container's network: ${why}`);
  };
  const waitFor = async (cond: () => boolean, what: string) => {
    for (let i = 0; !cond(); i++) {
      if (ended) fail(stderr.trim() ? ipError(stderr) : `the namespace holder ended before ${what}`);
      if (i > 5000) fail(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, i < 20 ? 0 : 1));
    }
  };
  const own = netnsOf('self');
  await waitFor(() => child.pid !== undefined && netnsOf(child.pid).length > 0 && netnsOf(child.pid) !== own, 'its namespace');
  const path = `/proc/${child.pid}/ns/net`;
  const { inside, host } = endpointScripts(endpoints, path);
  try {
    ipBatch(host, 'cannot make the container\'s interfaces');
  } catch (err) {
    fail(err instanceof Error ? err.message : String(err));
  }
  child.stdin!.write(inside);
  await waitFor(() => configured(child.pid!, endpoints), 'its interfaces to be configured');
  return {
    path,
    release: () => {
      child.stdin!.end();
      child.stderr!.destroy();
      child.unref();
    },
  };
}

/** Adds endpoints to a namespace that exists (a running container's: `network connect`; a
 * user-namespaced container's own, before it starts). */
export function addEndpoints(netnsPath: string, endpoints: readonly EndpointSpec[], opts: { loopback?: boolean } = {}): void {
  const { inside, host } = endpointScripts(endpoints, netnsPath);
  try {
    ipBatch(host, 'cannot make the container\'s interfaces');
    ipBatch(opts.loopback ? inside : inside.replace(/^link set lo up\n/, ''), 'cannot configure the interface in the container', netnsPath);
  } catch (err) {
    deleteLinks(endpoints.map((e) => e.hostIf));
    throw err;
  }
}

/** Removes an interface from a running container's namespace (`network disconnect`). */
export function removeEndpoint(netnsPath: string, ifname: string, hostIf: string): void {
  if (linkExists(hostIf)) deleteLinks([hostIf]);
  else spawnSync('nsenter', [`--net=${netnsPath}`, 'ip', 'link', 'del', ifname], { stdio: 'ignore' });
}

/** The host's IPv4 routes as [network, prefix, interface] (from /proc/net/route). */
export function hostRoutes(): { dest: number; prefix: number; iface: string }[] {
  let text = '';
  try {
    text = readFileSync('/proc/net/route', 'utf8');
  } catch {
    return [];
  }
  const out: { dest: number; prefix: number; iface: string }[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const le = (hex: string) => (parseInt(hex.slice(6, 8) + hex.slice(4, 6) + hex.slice(2, 4) + hex.slice(0, 2), 16) >>> 0);
    const dest = le(f[1]!);
    const mask = le(f[7]!);
    if (mask === 0) continue; // the default route overlaps everything and says nothing
    out.push({ dest, prefix: 32 - countZeros(mask), iface: f[0]! });
  }
  return out;
}

function countZeros(mask: number): number {
  let n = 0;
  for (let m = mask >>> 0; n < 32 && (m & 1) === 0; m >>>= 1) n++;
  return n;
}
