/**
 * Networking end to end, as root, through the CLI: the default bridge (address, route, NAT out),
 * published ports (TCP and UDP, from the host, from another container, from "outside"), -P and
 * `port`, user networks (names, aliases, isolation, --internal), --network container:X and host,
 * concurrent runs, teardown after rm, a killed CLI and a container killed from outside, and bad
 * input. Only 127.0.0.1 and addresses inside namespaces the test made are contacted: "outside"
 * and "the internet" are a network namespace of the test's own, joined to the host by a veth.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { berth, berthChild, busyboxRoot, ok } from '../fixtures/berth-cli.ts';
import { fnv1a64, signalProcess } from '../../src/common/index.ts';

const skip = process.getuid?.() === 0 ? false : 'the network e2e tests need root';

const rand = Math.floor(Math.random() * 0xffff).toString(16).padStart(4, '0');
/** The test's "outside world": a namespace joined to the host by a veth (198.51.100.0/24, TEST-NET-2). */
const OUT_NS = `berth-test-out-${rand}`;
const OUT_HOST_IF = `vbto${rand}`;
const HOST_ADDR = '198.51.100.1';
const OUT_ADDR = '198.51.100.2';
const PORT_BASE = 20000 + Math.floor(Math.random() * 20000);

function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { encoding: 'utf8', ...(input !== undefined ? { input } : {}) });
}

function inOut(args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync('ip', ['netns', 'exec', OUT_NS, ...args], { encoding: 'utf8', timeout: 20_000 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** What a container sees of a URL (busybox wget, whose -T crashes in Debian's static build; '' when it fails). */
function httpGet(root: string, args: string[], url: string): string {
  const r = berth(root, ['run', '--rm', ...args, 'busybox', 'wget', '-qO-', url]);
  return r.status === 0 ? r.stdout : '';
}

/** A container's address on one network (inspect's NetworkSettings.Networks). */
function ipOn(root: string, name: string, network: string): string {
  const nets = JSON.parse(ok(berth(root, ['inspect', '-f', '{{json .NetworkSettings.Networks}}', name]))) as Record<string, { IPAddress: string }>;
  return nets[network]?.IPAddress ?? '';
}

/** Waits until the httpd of a container answers on its address (the host reaches every bridge). */
async function serving(root: string, name: string): Promise<string> {
  const ip = ok(berth(root, ['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}', name])).trim().split(' ')[0]!;
  for (let i = 0; i < 200; i++) {
    try {
      return await hostGet(`http://${ip}/`);
    } catch {
      await sleep(25);
    }
  }
  throw new Error(`the httpd of ${name} (${ip}) never answered`);
}

/** Host-side GET through Node (127.0.0.1 and the host's addresses). */
async function hostGet(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return await res.text();
}


const HTTPD = (text: string) => ['sh', '-c', `mkdir -p /www && echo ${text} > /www/index.html && exec httpd -f -p 80 -h /www`];

describe('berth networking', { skip }, () => {
  let box: ReturnType<typeof busyboxRoot>;
  let root = '';
  let work = '';
  let udpEcho = '';

  before(() => {
    box = busyboxRoot('network');
    root = box.root;
    work = mkdtempSync(join(tmpdir(), 'berth-test-network-work-'));
    // the outside world: a namespace with an HTTP server whose CGI says who asked
    sh('ip', ['netns', 'add', OUT_NS]);
    sh('ip', ['link', 'add', OUT_HOST_IF, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', OUT_NS]);
    sh('ip', ['addr', 'add', `${HOST_ADDR}/24`, 'dev', OUT_HOST_IF]);
    sh('ip', ['link', 'set', OUT_HOST_IF, 'up']);
    sh('ip', ['-n', OUT_NS, 'addr', 'add', `${OUT_ADDR}/24`, 'dev', 'eth0']);
    sh('ip', ['-n', OUT_NS, 'link', 'set', 'eth0', 'up']);
    sh('ip', ['-n', OUT_NS, 'link', 'set', 'lo', 'up']);
    sh('ip', ['-n', OUT_NS, 'route', 'add', 'default', 'via', HOST_ADDR]);
    const www = join(work, 'www');
    mkdirSync(join(www, 'cgi-bin'), { recursive: true });
    writeFileSync(join(www, 'cgi-bin', 'who'), '#!/bin/sh\necho "Content-Type: text/plain"\necho\necho "$REMOTE_ADDR"\n');
    chmodSync(join(www, 'cgi-bin', 'who'), 0o755);
    const child = spawnSync('ip', ['netns', 'exec', OUT_NS, 'busybox', 'httpd', '-p', '8080', '-h', www], { encoding: 'utf8' });
    assert.equal(child.status, 0, child.stderr);
    // a static UDP echo server for the UDP publish test (busybox's nc has no -u here)
    const src = join(work, 'udpecho.c');
    writeFileSync(src, `#include <sys/socket.h>
#include <netinet/in.h>
#include <stdlib.h>
int main(int c, char **v) { int s = socket(AF_INET, SOCK_DGRAM, 0); struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(atoi(v[1])) };
  if (bind(s, (struct sockaddr *)&a, sizeof a)) return 1; char b[512]; for (;;) { struct sockaddr_in f; socklen_t l = sizeof f;
  ssize_t n = recvfrom(s, b, sizeof b, 0, (struct sockaddr *)&f, &l); if (n > 0) sendto(s, b, n, 0, (struct sockaddr *)&f, l); } }
`);
    const cc = spawnSync('cc', ['-static', '-O2', '-o', join(work, 'udpecho'), src], { encoding: 'utf8' });
    if (cc.status === 0) udpEcho = join(work, 'udpecho');
  });

  after(() => {
    box?.remove();
    // the outside's httpd is a daemon in its namespace: its pid is the one whose net ns is OUT_NS
    const pids = spawnSync('ip', ['netns', 'pids', OUT_NS], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number);
    for (const pid of pids) {
      try {
        signalProcess(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    spawnSync('ip', ['link', 'del', OUT_HOST_IF]);
    spawnSync('ip', ['netns', 'del', OUT_NS]);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  /** No container, and once `network prune` ran, no bridge, veth or table of this root. */
  const nothingLeft = async () => {
    assert.equal(berth(root, ['ps', '-aq']).stdout, '', 'no container is left');
    const hash = fnv1a64(root);
    const mine = (l: string) => l.includes(`berth${hash.slice(0, 6)}-`);
    // a container's veth goes with its namespace, which the kernel tears down a moment later
    for (let i = 0; i < 200 && sh('ip', ['-o', 'link', 'show']).split('\n').some((l) => mine(l) && /master/.test(l)); i++) await sleep(25);
    ok(berth(root, ['network', 'prune', '-f']));
    assert.deepEqual(sh('ip', ['-o', 'link', 'show']).split('\n').filter(mine), [], 'no veth or bridge of berth is left');
    assert.doesNotMatch(sh('nft', ['list', 'tables']), new RegExp(`berth-${hash.slice(0, 12)}`), 'no nftables table of this root is left');
  };

  it('puts a container on the default bridge: an address of its subnet, a default route, its name in /etc/hosts, NAT to the outside', async () => {
    const out = ok(berth(root, ['run', '--rm', '--hostname', 'box', 'busybox', 'sh', '-c', 'ip -o -4 addr show eth0; ip route; grep box /etc/hosts']));
    const addr = /inet (\d+\.\d+\.\d+\.\d+)\/(\d+)/.exec(out);
    assert.ok(addr, out);
    assert.match(out, /default via \d+\.\d+\.\d+\.1 dev eth0/);
    assert.match(out, new RegExp(`${addr[1]!.replace(/\./g, '\\.')}\\tbox`));
    // out through the host: the outside sees the host's address, not the container's
    const who = httpGet(root, [], `http://${OUT_ADDR}:8080/cgi-bin/who`).trim();
    // busybox httpd listens on IPv6 too: [::ffff:198.51.100.1]
    assert.match(who, new RegExp(`^\\[?(::ffff:)?${HOST_ADDR.replace(/\./g, '\\.')}\\]?$`), 'masqueraded to the host address');
    await nothingLeft();
  });

  it('publishes TCP ports: to 127.0.0.1 and all addresses, reachable from the host, another container and the outside; ps, inspect and port show them', async () => {
    const [p1, p2] = [PORT_BASE, PORT_BASE + 1];
    ok(berth(root, ['run', '-d', '--name', 'web', '-p', `127.0.0.1:${p1}:80`, '-p', `${p2}:80`, 'busybox', ...HTTPD('hello-web')]));
    try {
      await serving(root, 'web');
      assert.equal((await hostGet(`http://127.0.0.1:${p1}/`)).trim(), 'hello-web');
      assert.equal((await hostGet(`http://127.0.0.1:${p2}/`)).trim(), 'hello-web');
      assert.equal((await hostGet(`http://${HOST_ADDR}:${p2}/`)).trim(), 'hello-web');
      // 127.0.0.1 only: not from the host's other addresses
      await assert.rejects(hostGet(`http://${HOST_ADDR}:${p1}/`));
      // from outside the host
      const outside = inOut(['busybox', 'wget', '-qO-', `http://${HOST_ADDR}:${p2}/`]);
      assert.equal(outside.stdout.trim(), 'hello-web', outside.stderr);
      // from another container, through the host's address
      assert.equal(httpGet(root, [], `http://${HOST_ADDR}:${p2}/`).trim(), 'hello-web');
      // shown as docker shows them
      assert.match(ok(berth(root, ['ps'])), new RegExp(`0\\.0\\.0\\.0:${p2}->80/tcp, 127\\.0\\.0\\.1:${p1}->80/tcp +web`));
      assert.equal(ok(berth(root, ['port', 'web'])), `80/tcp -> 0.0.0.0:${p2}\n80/tcp -> 127.0.0.1:${p1}\n`);
      assert.equal(ok(berth(root, ['port', 'web', '80/tcp'])), `0.0.0.0:${p2}\n127.0.0.1:${p1}\n`);
      const ports = JSON.parse(ok(berth(root, ['inspect', '-f', '{{json .NetworkSettings.Ports}}', 'web']))) as Record<string, unknown>;
      assert.deepEqual(ports, { '80/tcp': [{ HostIp: '0.0.0.0', HostPort: String(p2) }, { HostIp: '127.0.0.1', HostPort: String(p1) }] });
      // the same port again: refused, exit 125, nothing made
      const again = berth(root, ['run', '--rm', '-p', `${p2}:80`, 'busybox', 'true']);
      assert.equal(again.status, 125);
      assert.match(again.stderr, new RegExp(`Bind for 0\\.0\\.0\\.0:${p2} failed: port is already allocated`));
      assert.equal(ok(berth(root, ['ps', '-aq'])).trim().split('\n').length, 1);
    } finally {
      ok(berth(root, ['rm', '-f', 'web']));
    }
    await assert.rejects(hostGet(`http://127.0.0.1:${p2}/`), 'the port is gone with the container');
    await nothingLeft();
  });

  it('publishes a UDP port', { skip: !existsSync('/usr/bin/cc') && 'no C compiler for the UDP echo server' }, async () => {
    assert.ok(udpEcho, 'the UDP echo server was built');
    const port = PORT_BASE + 2;
    ok(berth(root, ['run', '-d', '--name', 'udp', '-p', `${port}:5353/udp`, '-v', `${udpEcho}:/udpecho:ro`, 'busybox', '/udpecho', '5353']));
    try {
      const reply = await new Promise<string>((resolve, reject) => {
        const s = createSocket('udp4');
        const timer = setInterval(() => s.send('ping', port, '127.0.0.1'), 200);
        const end = (fn: () => void) => {
          clearInterval(timer);
          clearTimeout(limit);
          s.close();
          fn();
        };
        const limit = setTimeout(() => end(() => reject(new Error('no UDP reply'))), 5000);
        s.on('message', (m) => end(() => resolve(m.toString())));
      });
      assert.equal(reply, 'ping');
    } finally {
      ok(berth(root, ['rm', '-f', 'udp']));
    }
    await nothingLeft();
  });

  it('-P publishes every exposed port on a free host port, which port reports', async () => {
    ok(berth(root, ['run', '-d', '--name', 'pall', '--expose', '80', '-P', 'busybox', ...HTTPD('hello-p')]));
    try {
      await serving(root, 'pall');
      const line = ok(berth(root, ['port', 'pall', '80']));
      const m = /^0\.0\.0\.0:(\d+)\n$/.exec(line);
      assert.ok(m, line);
      assert.equal((await hostGet(`http://127.0.0.1:${m[1]}/`)).trim(), 'hello-p');
    } finally {
      ok(berth(root, ['rm', '-f', 'pall']));
    }
    await nothingLeft();
  });

  it('user networks: containers reach each other by name and alias; other networks cannot; an internal network has no way out', async () => {
    ok(berth(root, ['network', 'create', 'front']));
    ok(berth(root, ['network', 'create', 'back']));
    ok(berth(root, ['network', 'create', '--internal', 'inner']));
    try {
      ok(berth(root, ['run', '-d', '--name', 'api', '--network', 'front', '--network-alias', 'service', 'busybox', ...HTTPD('hello-api')]));
      await serving(root, 'api');
      assert.equal(httpGet(root, ['--network', 'front'], 'http://api/').trim(), 'hello-api');
      assert.equal(httpGet(root, ['--network', 'front'], 'http://service/').trim(), 'hello-api');
      const ping = berth(root, ['run', '--rm', '--network', 'front', 'busybox', 'ping', '-c', '1', '-W', '2', 'api']);
      assert.equal(ping.status, 0, ping.stderr);
      // another network: the name does not resolve, and the address is not reachable
      const apiIp = ipOn(root, 'api', 'front');
      assert.match(apiIp, /^\d+\.\d+\.\d+\.\d+$/);
      const other = berth(root, ['run', '--rm', '--network', 'back', 'busybox', 'sh', '-c', `nslookup api >/dev/null 2>&1 && echo resolved; nc -w 2 ${apiIp} 80 </dev/null && echo reached; echo done`]);
      assert.equal(other.stdout, 'done\n', other.stderr);
      // the default bridge does not resolve names either (as in docker)
      assert.equal(httpGet(root, [], 'http://api/'), '');
      // internal: no default route, nothing outside reachable
      const inner = berth(root, ['run', '--rm', '--network', 'inner', 'busybox', 'sh', '-c', `ip route | grep -c default; nc -w 2 ${OUT_ADDR} 8080 </dev/null && echo reached; echo done`]);
      assert.equal(inner.stdout, '0\ndone\n', inner.stderr);
      // network verbs: ls, inspect, rm refused while in use
      const ls = ok(berth(root, ['network', 'ls', '--format', '{{.Name}} {{.Driver}}']));
      for (const n of ['bridge bridge', 'host host', 'none null', 'front bridge', 'back bridge', 'inner bridge']) assert.ok(ls.split('\n').includes(n), ls);
      const front = JSON.parse(ok(berth(root, ['network', 'inspect', 'front']))) as [{ Containers: Record<string, { Name: string; IPv4Address: string }>; IPAM: { Config: [{ Subnet: string }] } }];
      assert.deepEqual(Object.values(front[0].Containers).map((c) => c.Name), ['api']);
      const busy = berth(root, ['network', 'rm', 'front']);
      assert.equal(busy.status, 1);
      assert.match(busy.stderr, /has active endpoints/);
    } finally {
      berth(root, ['rm', '-f', 'api']);
      ok(berth(root, ['network', 'rm', 'front', 'back', 'inner']));
    }
    await nothingLeft();
    for (let i = 0; i < 200 && spawnSync('pgrep', ['-f', join(root, 'run', 'aardvark')]).status === 0; i++) await sleep(25);
    assert.equal(spawnSync('pgrep', ['-f', join(root, 'run', 'aardvark')]).status, 1, 'the DNS server ended with its last container');
  });

  it('network connect and disconnect a running container', async () => {
    ok(berth(root, ['network', 'create', 'extra']));
    try {
      ok(berth(root, ['run', '-d', '--name', 'multi', 'busybox', 'sleep', '600']));
      ok(berth(root, ['network', 'connect', '--alias', 'm2', 'extra', 'multi']));
      const links = ok(berth(root, ['exec', 'multi', 'ip', '-o', '-4', 'addr']));
      assert.match(links, /eth0/);
      assert.match(links, /eth1/);
      assert.equal(httpGet(root, ['--network', 'extra'], 'http://m2:1/'), '');
      const resolved = berth(root, ['run', '--rm', '--network', 'extra', 'busybox', 'nslookup', 'm2']);
      assert.equal(resolved.status, 0, resolved.stdout + resolved.stderr);
      ok(berth(root, ['network', 'disconnect', 'extra', 'multi']));
      assert.doesNotMatch(ok(berth(root, ['exec', 'multi', 'ip', '-o', '-4', 'addr'])), /eth1/);
    } finally {
      berth(root, ['rm', '-f', 'multi']);
      ok(berth(root, ['network', 'rm', 'extra']));
    }
    await nothingLeft();
  });

  it('--network container:X shares X\'s stack, --network host sees the host\'s interfaces', async () => {
    ok(berth(root, ['run', '-d', '--name', 'owner', 'busybox', ...HTTPD('hello-owner')]));
    try {
      await serving(root, 'owner');
      const shared = ok(berth(root, ['run', '--rm', '--network', 'container:owner', 'busybox', 'wget', '-qO-', 'http://127.0.0.1/']));
      assert.equal(shared.trim(), 'hello-owner');
    } finally {
      ok(berth(root, ['rm', '-f', 'owner']));
    }
    const inside = ok(berth(root, ['run', '--rm', '--network', 'host', 'busybox', 'cat', '/proc/net/dev'])).split('\n').slice(2).map((l) => l.split(':')[0]!.trim()).filter(Boolean).sort();
    assert.deepEqual(inside, readFileSync('/proc/net/dev', 'utf8').split('\n').slice(2).map((l) => l.split(':')[0]!.trim()).filter(Boolean).sort());
    await nothingLeft();
  });

  it('gives concurrent runs on one network distinct addresses', async () => {
    ok(berth(root, ['network', 'create', 'many', '--subnet', '10.126.250.0/24']));
    try {
      const runs = Array.from({ length: 8 }, (_, i) => berthChild(root, ['run', '-d', '--name', `m${i}`, '--network', 'many', 'busybox', 'sleep', '600']));
      for (const r of runs) assert.equal((await r.done).status, 0);
      const ips = Array.from({ length: 8 }, (_, i) => ipOn(root, `m${i}`, 'many'));
      assert.equal(new Set(ips).size, 8, ips.join(' '));
      for (const ip of ips) assert.match(ip, /^10\.126\.250\.\d+$/);
      // one DNS server for the root, answering every one of them
      const servers = spawnSync('pgrep', ['-f', join(root, 'run', 'aardvark')], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
      assert.equal(servers.length, 1, `DNS servers: ${servers.join(' ')}`);
      const resolved = ok(berth(root, ['run', '--rm', '--network', 'many', 'busybox', 'sh', '-c', 'for i in 0 1 2 3 4 5 6 7; do nslookup m$i >/dev/null && echo ok; done']));
      assert.equal(resolved, 'ok\n'.repeat(8));
    } finally {
      berth(root, ['rm', '-f', ...Array.from({ length: 8 }, (_, i) => `m${i}`)]);
      ok(berth(root, ['network', 'rm', 'many']));
    }
    await nothingLeft();
  });

  it('leaves no veth, rule or lease after a CLI killed mid-run and a container killed from outside, once system check ran', async () => {
    // a container killed from outside: its monitor finishes it, the network goes with it
    ok(berth(root, ['run', '-d', '--name', 'victim', '-p', `${PORT_BASE + 3}:80`, 'busybox', 'sleep', '600']));
    const pid = Number(ok(berth(root, ['inspect', '-f', '{{.State.Pid}}', 'victim'])).trim());
    signalProcess(pid, 'SIGKILL');
    for (let i = 0; i < 200 && ok(berth(root, ['inspect', '-f', '{{.State.Status}}', 'victim'])).trim() === 'running'; i++) await sleep(25);
    ok(berth(root, ['rm', 'victim']));
    await nothingLeft();
    // CLIs killed at several moments of a run
    for (const delay of [30, 80, 150, 250]) {
      const { child, done } = berthChild(root, ['run', '--rm', '-p', `${PORT_BASE + 4}:80`, 'busybox', 'sleep', '600']);
      await sleep(delay);
      child.kill('SIGKILL');
      await done;
      ok(berth(root, ['system', 'check']));
      const ids = ok(berth(root, ['ps', '-aq'])).split('\n').filter(Boolean);
      if (ids.length) ok(berth(root, ['rm', '-f', ...ids]));
      await nothingLeft();
    }
  });

  it('refuses bad input with a clear message, exit 125, and nothing created', async () => {
    ok(berth(root, ['network', 'create', 'taken', '--subnet', '10.126.251.0/24']));
    try {
      const cases: [string[], RegExp, number][] = [
        [['network', 'create', 'overlap', '--subnet', '10.126.251.128/25'], /Pool overlaps with other one on this address space/, 1],
        [['network', 'create', 'taken'], /network with name taken already exists/, 1],
        [['network', 'create', 'bad', '--subnet', '10.126.252.1/24'], /host bits set/, 125],
        [['network', 'create', 'gw', '--subnet', '10.126.253.0/24', '--gateway', '10.126.254.1'], /must be a host address of 10\.126\.253\.0\/24/, 125],
        [['network', 'create', 'bad name'], /invalid network name/, 125],
        [['network', 'create', '--bogus', 'x'], /unknown flag --bogus/, 125],
        [['run', '--rm', '--network', 'nowhere', 'busybox', 'true'], /network nowhere not found/, 125],
        [['run', '--rm', '-p', '99999:80', 'busybox', 'true'], /host port 99999 is out of range/, 125],
        [['run', '--rm', '-p', '80/sctp', 'busybox', 'true'], /unknown protocol "sctp"/, 125],
        [['run', '--rm', '--network', 'taken', '--ip', '10.126.251.0', 'busybox', 'true'], /not a free host address/, 125],
        [['run', '--rm', '--network', 'taken', '--mac-address', 'zz', 'busybox', 'true'], /zz is not a valid mac address/, 125],
        [['network', 'rm', 'bridge'], /bridge is a pre-defined network and cannot be removed/, 1],
        [['run', '--rm', '--network', 'taken', '--network-alias', 'a b\nevil 10.0.0.1 x', 'busybox', 'true'], /invalid network alias/, 125],
      ];
      for (const [args, message, code] of cases) {
        const r = berth(root, args);
        assert.equal(r.status, code, `${args.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, message, args.join(' '));
      }
      assert.deepEqual(ok(berth(root, ['network', 'ls', '--format', '{{.Name}}'])).split('\n').filter(Boolean).sort(), ['bridge', 'host', 'none', 'taken']);
    } finally {
      ok(berth(root, ['network', 'rm', 'taken']));
    }
    await nothingLeft();
  });
});
