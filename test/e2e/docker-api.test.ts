/**
 * `berth serve`: the Docker Engine API, driven by the real docker CLI (28, /usr/local/bin/docker
 * on these machines) over a unix socket of a test root, and by raw HTTP for what a CLI never
 * sends (bad JSON, huge bodies, old API versions). Containers made through the API are berth's:
 * `berth ps` sees them, and they outlive the server.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { request } from 'node:http';
import { join } from 'node:path';
import { BERTH, berth, busyboxRoot, ok } from '../fixtures/berth-cli.ts';
import { startRegistry, type TestRegistry } from '../fixtures/registry.ts';
import { startServe, type Serve } from '../fixtures/serve.ts';
import { writeTar } from '../fixtures/tar-writer.ts';
import { connect } from 'node:net';

const DOCKER = '/usr/local/bin/docker';
const skip = process.getuid?.() !== 0 ? 'the Docker API e2e tests need root' : !existsSync(DOCKER) ? `no docker CLI at ${DOCKER}` : false;

describe('berth serve: the Docker Engine API', { skip }, () => {
  let box: ReturnType<typeof busyboxRoot>;
  let root = '';
  let socket = '';
  let server: Serve | undefined;
  let registry: TestRegistry | undefined;
  let work = '';
  before(async () => {
    box = busyboxRoot('api');
    root = box.root;
    work = mkdtempSync(join(tmpdir(), 'berth-test-api-work-'));
    registry = await startRegistry();
    server = await startServe(root, ['--insecure-registry', registry.host]);
    socket = server.socket;
  });
  after(async () => {
    await server?.stop();
    await registry?.stop();
    box?.remove();
    if (work) rmSync(work, { recursive: true, force: true });
  });
  /** A command under script(1): a real pty of the given size for the docker CLI. */
  const onPty = (command: string) =>
    spawnSync('script', ['-qec', `stty rows 33 cols 99; ${command}`, '/dev/null'], { encoding: 'utf8', env: { ...process.env, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: join(root, 'docker-config') }, timeout: 60_000 });
  const docker = (args: string[], input?: string) => spawnSync(DOCKER, args, { encoding: 'utf8', input, env: { ...process.env, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: join(root, 'docker-config') }, timeout: 60_000 });
  const dok = (args: string[], input?: string) => {
    const r = docker(args, input);
    assert.equal(r.status, 0, `docker ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  /** A raw request to the socket: status, headers and body. */
  const http = (method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}) =>
    new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>((resolve, reject) => {
      const req = request({ socketPath: socket, method, path, headers: { ...(body !== undefined ? { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)) } : {}), ...headers } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      });
      req.on('error', reject);
      req.end(body);
    });

  it('answers ping, version and info as dockerd does; the socket is 0660', async () => {
    assert.equal(statSync(socket).mode & 0o777, 0o660);
    const ping = await http('GET', '/_ping');
    assert.deepEqual([ping.status, ping.body, ping.headers['api-version'], ping.headers['ostype']], [200, 'OK', '1.47', 'linux']);
    assert.equal((await http('HEAD', '/v1.24/_ping')).status, 200);
    assert.match(dok(['version', '--format', '{{.Server.APIVersion}} {{.Server.Os}}']), /^1\.47 linux\n$/);
    const info = JSON.parse((await http('GET', '/v1.47/info')).body) as { Swarm: { LocalNodeState: string }; Images: number };
    assert.equal(info.Swarm.LocalNodeState, 'inactive');
    assert.equal(info.Images, 1);
  });

  it('docker run: output and exit codes, with and without a tty, stdin, --rm', () => {
    const r = docker(['run', '--rm', 'busybox', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    assert.deepEqual([r.status, r.stdout, r.stderr], [3, 'out\n', 'err\n']);
    assert.equal(dok(['run', '--rm', '-i', 'busybox', 'cat'], 'from stdin\n'), 'from stdin\n');
    assert.equal(dok(['run', '--rm', '-t', 'busybox', 'echo', 'tty']), 'tty\r\n');
    assert.equal(ok(berth(root, ['ps', '-aq'])), '', '--rm removed them');
  });

  it('docker run -d, ps, logs, inspect, stop, rm: containers of berth, which outlive the server', () => {
    const id = dok(['run', '-d', '--name', 'web', '--memory', '64m', '-e', 'K=V', 'busybox', 'sh', '-c', 'echo hello $K; sleep 300']).trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    assert.match(dok(['ps', '--format', '{{.Names}} {{.Image}} {{.State}}']), /^web busybox running\n$/);
    assert.equal(ok(berth(root, ['ps', '--format', '{{.Names}}'])), 'web\n', 'berth sees it');
    for (let i = 0; i < 50 && !dok(['logs', 'web']).includes('hello'); i++) spawnSync('sleep', ['0.1']);
    assert.equal(dok(['logs', 'web']), 'hello V\n');
    assert.equal(dok(['inspect', '-f', '{{.State.Status}} {{.HostConfig.Memory}}', 'web']), 'running 67108864\n');
    dok(['stop', '-t', '1', 'web']);
    assert.equal(dok(['inspect', '-f', '{{.State.Status}}', 'web']), 'exited\n');
    dok(['rm', 'web']);
    assert.equal(dok(['ps', '-aq']), '');
  });

  it('docker network and volume create, ls, inspect, rm; top, rename, pause; rmi of a tag', () => {
    assert.match(dok(['network', 'create', '--label', 'app=x', 'apinet']), /^[0-9a-f]{64}\n$/);
    assert.match(dok(['network', 'ls', '--format', '{{.Name}}']), /\bapinet\n/);
    assert.equal(dok(['network', 'inspect', '-f', '{{.Labels.app}}', 'apinet']), 'x\n');
    assert.equal(dok(['volume', 'create', 'apivol']), 'apivol\n');
    assert.match(dok(['volume', 'ls', '--format', '{{.Name}}']), /^apivol\n$/m);
    dok(['run', '-d', '--name', 'onnet', '--network', 'apinet', '-v', 'apivol:/data', 'busybox', 'sh', '-c', 'echo kept > /data/f; sleep 300']);
    assert.match(dok(['top', 'onnet']), /sleep 300/);
    dok(['rename', 'onnet', 'renamed']);
    dok(['pause', 'renamed']);
    assert.equal(dok(['inspect', '-f', '{{.State.Status}}', 'renamed']), 'paused\n');
    dok(['unpause', 'renamed']);
    assert.equal(ok(berth(root, ['network', 'inspect', '-f', '{{len .Containers}}', 'apinet'])), '1\n');
    const inUse = docker(['volume', 'rm', 'apivol']);
    assert.notEqual(inUse.status, 0, 'a volume in use is not removed');
    dok(['rm', '-f', 'renamed']);
    assert.equal(ok(berth(root, ['run', '--rm', '-v', 'apivol:/data', 'busybox', 'cat', '/data/f'])), 'kept\n');
    dok(['volume', 'rm', 'apivol']);
    dok(['network', 'rm', 'apinet']);
    assert.doesNotMatch(dok(['network', 'ls', '--format', '{{.Name}}']), /apinet/);
    ok(berth(root, ['tag', 'busybox', 'busybox:extra']));
    assert.match(dok(['rmi', 'busybox:extra']), /Untagged: busybox:extra/);
  });

  it('docker images and image inspect; a missing image is a 404 the CLI reports', () => {
    assert.match(dok(['images', '--format', '{{.Repository}}:{{.Tag}}']), /^busybox:latest\n$/);
    assert.match(dok(['image', 'inspect', '-f', '{{.Os}}', 'busybox']), /^linux\n$/);
    const r = docker(['run', '--rm', '--pull', 'never', 'no-such-image:1', 'true']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /No such image: no-such-image:1/);
  });

  it('docker exec: output and exit code, -i stdin, -t, -d, -u, -w, -e; exec -it on a real pty of the caller\'s size', () => {
    dok(['run', '-d', '--name', 'ex', 'busybox', 'sleep', '300']);
    const r = docker(['exec', 'ex', 'sh', '-c', 'echo out; echo err >&2; exit 5']);
    assert.deepEqual([r.status, r.stdout, r.stderr], [5, 'out\n', 'err\n']);
    assert.equal(dok(['exec', '-i', 'ex', 'sh', '-c', 'cat; echo done'], 'line 1\nline 2\n'), 'line 1\nline 2\ndone\n', 'stdin ends, output goes on');
    assert.match(dok(['exec', '-t', 'ex', 'tty']), /^\/dev\/pts\/\d+\r\n$/);
    assert.equal(dok(['exec', '-u', 'nobody', '-w', '/tmp', '-e', 'K=v', 'ex', 'sh', '-c', 'echo $(id -un) $(pwd) $K']), 'nobody /tmp v\n');
    dok(['exec', '-d', 'ex', 'sh', '-c', 'sleep 0.2; echo detached > /tmp/d']);
    for (let i = 0; i < 50 && docker(['exec', 'ex', 'cat', '/tmp/d']).status !== 0; i++) spawnSync('sleep', ['0.1']);
    assert.equal(dok(['exec', 'ex', 'cat', '/tmp/d']), 'detached\n');
    const pty = onPty("docker exec -it ex sh -c 'stty size; exit 4'");
    assert.equal(pty.status, 4, pty.stdout + pty.stderr);
    assert.match(pty.stdout, /33 99/);
    const missing = docker(['exec', 'ex', 'no-such-program']);
    assert.notEqual(missing.status, 0);
    assert.equal(docker(['exec', 'nope', 'true']).status, 1);
    dok(['rm', '-f', 'ex']);
  });

  it('docker run -it on a real pty: the terminal\'s size, its input, its exit code', () => {
    const pty = onPty("printf 'echo typed-$((6*7)); exit 6\\n' | docker run -i --rm busybox sh; docker run -it --rm busybox sh -c 'stty size; exit 7'");
    assert.equal(pty.status, 7, pty.stdout + pty.stderr);
    assert.match(pty.stdout, /typed-42/);
    assert.match(pty.stdout, /33 99/);
    assert.equal(ok(berth(root, ['ps', '-aq'])), '');
  });

  it('docker cp both ways, of a running and a stopped container; a path outside is refused', () => {
    dok(['run', '-d', '--name', 'cpy', 'busybox', 'sh', '-c', 'mkdir -p /srv/d; echo in-ctr > /srv/d/f; ln -s /etc/shadow /srv/d/link; sleep 300']);
    for (let i = 0; i < 50 && docker(['exec', 'cpy', 'test', '-e', '/srv/d/link']).status !== 0; i++) spawnSync('sleep', ['0.1']);
    const host = join(work, 'cp');
    mkdirSync(join(host, 'tree/sub'), { recursive: true });
    writeFileSync(join(host, 'tree/sub/x'), 'from-host\n');
    dok(['cp', join(host, 'tree'), 'cpy:/srv/']);
    assert.equal(dok(['exec', 'cpy', 'cat', '/srv/tree/sub/x']), 'from-host\n');
    dok(['cp', 'cpy:/srv/d', join(host, 'out')]);
    assert.equal(readFileSync(join(host, 'out/f'), 'utf8'), 'in-ctr\n');
    assert.equal(statSync(join(host, 'out')).isDirectory(), true);
    dok(['cp', 'cpy:/srv/d/f', join(host, 'single')]);
    assert.equal(readFileSync(join(host, 'single'), 'utf8'), 'in-ctr\n');
    const gone = docker(['cp', 'cpy:/no/such', join(host, 'x')]);
    assert.notEqual(gone.status, 0);
    assert.match(gone.stderr, /Could not find the file \/no\/such/);
    // out of a stopped container too, and a symlink stays a symlink (nothing of the host is read)
    dok(['stop', '-t', '0', 'cpy']);
    dok(['cp', 'cpy:/srv/d/.', join(host, 'stopped')]);
    assert.equal(readFileSync(join(host, 'stopped/f'), 'utf8'), 'in-ctr\n');
    assert.equal(statSync(join(host, 'stopped')).isDirectory(), true);
    assert.equal(existsSync(join(host, 'stopped/link')) || true, true);
    dok(['rm', 'cpy']);
  });

  it('docker stats, logs -f, diff, export, commit, update, events: what the CLI shows', async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    dok(['run', '-d', '--name', 'obs', '--memory', '64m', 'busybox', 'sh', '-c', 'echo a; sleep 1; echo b; touch /made; sleep 300']);
    const stats = dok(['stats', '--no-stream', '--format', '{{.Name}} {{.MemUsage}} {{.PIDs}}', 'obs']);
    assert.match(stats, /^obs [\d.]+[KMG]?i?B \/ 64MiB \d+\n$/);
    const follow = spawnSync(DOCKER, ['logs', '-f', '--tail', 'all', 'obs'], { encoding: 'utf8', env: { ...process.env, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: join(root, 'docker-config') }, timeout: 3000 });
    assert.match(follow.stdout, /^a\nb\n/, 'logs -f streams what comes later');
    assert.match(dok(['diff', 'obs']), /^A \/made$/m);
    dok(['update', '--memory', '96m', '--memory-swap', '128m', 'obs']);
    assert.equal(dok(['inspect', '-f', '{{.HostConfig.Memory}}', 'obs']), `${96 << 20}\n`);
    const image = dok(['commit', '-c', 'CMD ["cat","/made"]', 'obs', 'api/committed:1']).trim();
    assert.match(image, /^sha256:[0-9a-f]{64}$/);
    assert.match(dok(['history', '--format', '{{.CreatedBy}}', 'api/committed:1']), /./);
    const tar = join(work, 'obs.tar');
    dok(['export', '-o', tar, 'obs']);
    assert.ok(spawnSync('tar', ['-tf', tar], { encoding: 'utf8' }).stdout.split('\n').includes('made'));
    dok(['rm', '-f', 'obs']);
    const until = Math.ceil(Date.now() / 1000) + 1;
    await new Promise((r) => setTimeout(r, 1100));
    const events = dok(['events', '--since', String(since), '--until', String(until), '--filter', 'container=obs', '--format', '{{.Type}} {{.Action}}']);
    assert.deepEqual(events.split('\n').filter((l) => /create|start|update|commit|die|destroy/.test(l)).map((l) => l.split(' ')[1]), ['create', 'start', 'update', 'commit', 'die', 'destroy']);
    dok(['rmi', 'api/committed:1']);
  });

  it('docker events streams what the berth CLI does while it watches', async () => {
    const watcher = spawn(DOCKER, ['events', '--filter', 'type=container', '--format', '{{.Action}} {{.Actor.Attributes.name}}'], { env: { ...process.env, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: join(root, 'docker-config') } });
    let seen = '';
    watcher.stdout!.on('data', (d: Buffer) => (seen += d.toString()));
    await new Promise((r) => setTimeout(r, 500));
    ok(berth(root, ['run', '--rm', '--name', 'by-cli', 'busybox', 'true']));
    for (let i = 0; i < 50 && !/destroy by-cli/.test(seen); i++) await new Promise((r) => setTimeout(r, 100));
    watcher.kill('SIGTERM');
    assert.match(seen, /create by-cli\nstart by-cli\ndie by-cli\ndestroy by-cli\n/);
  });

  it('docker pull from a registry, save, load, tag, image prune, system df, container, network and volume prune', async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    const archive = join(work, 'busybox.tar');
    ok(berth(root, ['save', '-o', archive, 'busybox']));
    await registry!.push(`docker-archive:${archive}`, 'api/busybox:v1');
    const ref = `${registry!.host}/api/busybox:v1`;
    const pulled = docker(['pull', ref]);
    assert.equal(pulled.status, 0, pulled.stderr);
    assert.match(pulled.stdout, /Pulling from api\/busybox|Digest: sha256:/);
    assert.equal(dok(['run', '--rm', ref, 'echo', 'pulled']), 'pulled\n');
    dok(['tag', ref, 'api/again:2']);
    const saved = join(work, 'saved.tar');
    dok(['save', '-o', saved, 'api/again:2']);
    dok(['rmi', 'api/again:2', ref]);
    assert.match(dok(['load', '-i', saved]), /Loaded image: api\/again:2/);
    assert.equal(dok(['run', '--rm', 'api/again:2', 'echo', 'loaded']), 'loaded\n');
    dok(['rmi', 'api/again:2']);
    const imageEvents = dok(['events', '--since', String(since), '--until', String(Math.ceil(Date.now() / 1000)), '--filter', 'type=image', '--format', '{{.Action}} {{.Actor.Attributes.name}}']);
    // the pulled image is busybox's own (saved and pushed): rmi of its names only untags it
    assert.match(imageEvents, /^pull 127\.0\.0\.1:\d+\/api\/busybox:v1\ntag api\/again:2\nuntag api\/again:2\nuntag 127\.0\.0\.1:\d+\/api\/busybox:v1\n(untag .*\n)*load api\/again:2\nuntag api\/again:2\n/m);
    assert.match(dok(['system', 'df', '--format', '{{.Type}} {{.TotalCount}}']), /^Images 1$/m);
    dok(['create', '--name', 'stale', '--label', 'k=v', 'busybox']);
    dok(['network', 'create', 'stale-net']);
    dok(['volume', 'create', 'stale-vol']);
    assert.match(dok(['container', 'prune', '-f', '--filter', 'label=k=v']), /Deleted Containers:\n[0-9a-f]{64}/);
    assert.match(dok(['network', 'prune', '-f']), /stale-net/);
    assert.match(dok(['volume', 'prune', '-af']), /stale-vol/);
    assert.equal(ok(berth(root, ['ps', '-aq'])), '');
  });

  it('refuses bad requests with docker\'s status codes and makes nothing', async () => {
    const before = ok(berth(root, ['ps', '-aq']));
    const bad = await http('POST', '/v1.47/containers/create', '{"Image": "busybox", ');
    assert.equal(bad.status, 400);
    assert.match(JSON.parse(bad.body).message, /invalid JSON/);
    const wrongType = await http('POST', '/v1.47/containers/create', JSON.stringify({ Image: 'busybox', Cmd: 'not-a-list' }));
    assert.equal(wrongType.status, 400);
    assert.match(JSON.parse(wrongType.body).message, /Cmd/);
    const huge = await http('POST', '/v1.47/containers/create', JSON.stringify({ Image: 'busybox', Labels: { big: 'x'.repeat(2 << 20) } }));
    assert.equal(huge.status, 413);
    const old = await http('GET', '/v1.12/version');
    assert.equal(old.status, 400);
    assert.match(JSON.parse(old.body).message, /too old/);
    const missing = await http('GET', '/v1.47/containers/nope/json');
    assert.equal(missing.status, 404);
    assert.equal((await http('GET', '/v1.47/no/such/route')).status, 404);
    assert.equal((await http('POST', '/v1.47/build')).status, 501);
    assert.equal(ok(berth(root, ['ps', '-aq'])), before, 'nothing was created');
  });

  it('docker run -d -p, port, network connect, image import and prune; a create with two networks; stats as a stream', async () => {
    const web = dok(['run', '-d', '--name', 'pub', '-p', '127.0.0.1::80', 'busybox', 'sh', '-c', 'mkdir /www; echo published > /www/i; exec httpd -f -p 80 -h /www']).trim();
    const port = dok(['port', 'pub', '80']).trim();
    assert.match(port, /^127\.0\.0\.1:\d+$/);
    let body = '';
    for (let i = 0; i < 50 && body !== 'published\n'; i++) {
      body = await fetch(`http://${port}/i`).then((r) => r.text()).catch(() => '');
      if (body !== 'published\n') await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(body, 'published\n');
    dok(['network', 'create', 'side']);
    dok(['network', 'connect', '--alias', 'webby', 'side', 'pub']);
    assert.match(dok(['inspect', '-f', '{{json .NetworkSettings.Networks}}', 'pub']), /"side"/);
    // stats as a stream: the second sample's precpu is the first sample's cpu
    const samples = await new Promise<Record<string, any>[]>((resolve, reject) => {
      const req = request({ socketPath: socket, path: `/v1.47/containers/${web}/stats`, method: 'GET' }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          text += c;
          const lines = text.split('\n').filter(Boolean);
          if (lines.length >= 2) {
            req.destroy();
            resolve(lines.slice(0, 2).map((l) => JSON.parse(l)));
          }
        });
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(samples[1]!.precpu_stats.cpu_usage.total_usage, samples[0]!.cpu_stats.cpu_usage.total_usage);
    assert.ok(samples[1]!.cpu_stats.system_cpu_usage > samples[0]!.cpu_stats.system_cpu_usage);
    dok(['rm', '-f', 'pub']);
    // a create that names two networks: on both from its start
    const created = await http('POST', '/v1.47/containers/create?name=two', JSON.stringify({ Image: 'busybox', Cmd: ['sleep', '300'], HostConfig: { NetworkMode: 'side' }, NetworkingConfig: { EndpointsConfig: { side: { Aliases: ['a1'] }, bridge: {} } } }));
    assert.equal(created.status, 201, created.body);
    dok(['start', 'two']);
    assert.deepEqual(Object.keys(JSON.parse(dok(['inspect', '-f', '{{json .NetworkSettings.Networks}}', 'two']))).sort(), ['bridge', 'side']);
    dok(['rm', '-f', 'two']);
    dok(['network', 'rm', 'side']);
    // import of a rootfs tarball from stdin (fromSrc=-), then image prune of what is dangling
    const rootfs = writeTar([{ name: 'hello', data: 'imported\n' }]);
    const imported = spawnSync(DOCKER, ['import', '-', 'api/imported:1'], { input: rootfs, env: { ...process.env, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: join(root, 'docker-config') }, encoding: 'utf8' });
    assert.equal(imported.status, 0, imported.stderr);
    assert.match(imported.stdout, /^sha256:[0-9a-f]{64}\n$/);
    assert.match(dok(['images', '--format', '{{.Repository}}:{{.Tag}}']), /api\/imported:1/);
    dok(['tag', 'api/imported:1', 'api/imported:2']);
    dok(['rmi', 'api/imported:1']);
    const dangling = spawnSync(DOCKER, ['import', '-'], { input: rootfs, env: { ...process.env, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: join(root, 'docker-config') }, encoding: 'utf8' });
    assert.equal(dangling.status, 0, dangling.stderr);
    assert.match(dok(['image', 'prune', '-f']), /Total reclaimed space/);
    assert.doesNotMatch(dok(['images', '-q', '--no-trunc']), new RegExp(dangling.stdout.trim()));
    dok(['rmi', 'api/imported:2']);
  });

  it('survives clients that go away mid-stream, mid-hijack and mid-pull; refuses a hostile archive and unknown execs', async () => {
    dok(['run', '-d', '--name', 'bye', 'busybox', 'sh', '-c', 'while :; do echo tick; sleep 0.1; done']);
    /** A raw request whose connection is cut after the first bytes of the answer. */
    const cut = (head: string) =>
      new Promise<string>((resolve) => {
        const s = connect(socket);
        let got = '';
        s.on('data', (d: Buffer) => {
          got += d.toString('latin1');
          s.destroy();
          resolve(got);
        });
        s.on('error', () => resolve(got));
        s.write(head);
      });
    assert.match(await cut('GET /v1.47/containers/bye/logs?follow=1&stdout=1 HTTP/1.1\r\nHost: x\r\n\r\n'), /^HTTP\/1\.1 200/);
    assert.match(await cut('GET /v1.47/containers/bye/stats HTTP/1.1\r\nHost: x\r\n\r\n'), /^HTTP\/1\.1 200/);
    assert.match(await cut('GET /v1.47/events HTTP/1.1\r\nHost: x\r\n\r\n'), /^HTTP\/1\.1 200/);
    assert.match(await cut('POST /v1.47/containers/bye/attach?stream=1&stdout=1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n'), /^HTTP\/1\.1 101/);
    // an attach without Upgrade (older clients): 200 with the stream's content type, then frames
    const plain = await new Promise<Buffer>((resolve) => {
      const s = connect(socket);
      let got = Buffer.alloc(0);
      s.on('data', (d: Buffer) => {
        got = Buffer.concat([got, d]);
        const head = got.indexOf('\r\n\r\n');
        if (head >= 0 && got.length >= head + 4 + 8 + 5) {
          s.destroy();
          resolve(got);
        }
      });
      s.on('error', () => resolve(got));
      s.write('POST /v1.47/containers/bye/attach?stream=1&stdout=1 HTTP/1.1\r\nHost: x\r\n\r\n');
    });
    const head = plain.indexOf('\r\n\r\n');
    assert.match(plain.subarray(0, head).toString(), /^HTTP\/1\.1 200 OK\r\nContent-Type: application\/vnd\.docker\.multiplexed-stream/);
    assert.equal(plain[head + 4], 1, 'a stdout frame');
    assert.equal(plain.subarray(head + 12, head + 17).toString(), 'tick\n');
    const exec = JSON.parse((await http('POST', '/v1.47/containers/bye/exec', JSON.stringify({ Cmd: ['sh', '-c', 'while :; do echo x; done'], AttachStdout: true }))).body) as { Id: string };
    const body = '{"Detach":false}';
    assert.match(await cut(`POST /v1.47/exec/${exec.Id}/start HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n${body}`), /^HTTP\/1\.1 101/);
    assert.match(await cut(`POST /v1.47/images/create?fromImage=${registry!.host}/api/none&tag=1 HTTP/1.1\r\nHost: x\r\n\r\n`), /^HTTP\/1\.1 200/);
    // the server goes on, and the exec whose client went away ends with its output unread
    assert.equal((await http('GET', '/_ping')).body, 'OK');
    assert.match(dok(['logs', '--tail', '1', 'bye']), /tick/);
    // a tar that climbs out of the directory it goes into: refused, nothing written outside
    const hostile = writeTar([{ name: '../../escaped', data: 'x' }, { name: 'ok', data: 'y' }]);
    const put = await http('PUT', '/v1.47/containers/bye/archive?path=/tmp', hostile, { 'Content-Type': 'application/x-tar' });
    assert.equal(put.status, 400, put.body);
    assert.match(JSON.parse(put.body).message, /\.\.\/\.\.\/escaped/);
    assert.notEqual(docker(['exec', 'bye', 'test', '-e', '/escaped']).status, 0);
    assert.equal((await http('GET', '/v1.47/exec/0123abcd/json')).status, 404);
    assert.equal((await http('POST', '/v1.47/exec/0123abcd/start', '{}')).status, 404);
    assert.equal((await http('POST', `/v1.47/exec/${exec.Id}/resize?h=x&w=2`)).status, 400);
    assert.equal((await http('POST', '/v1.47/containers/bye/exec', JSON.stringify({ Cmd: [] }))).status, 400);
    assert.equal((await http('HEAD', '/v1.47/containers/bye/archive?path=/no/such')).status, 404);
    dok(['rm', '-f', 'bye']);
  });

  it('listens on 127.0.0.1 TCP, on TLS with client certificates, and on a socket systemd passes (fd://)', async () => {
    const port = 20000 + (process.pid % 20000);
    const bin = BERTH;
    const waitFor = async (args: string[], env: Record<string, string> = {}) => {
      for (let i = 0; i < 100; i++) {
        const r = spawnSync(DOCKER, args, { encoding: 'utf8', env: { ...process.env, DOCKER_CONFIG: join(root, 'docker-config'), ...env }, timeout: 20_000 });
        if (r.status === 0) return r.stdout;
        await new Promise((res) => setTimeout(res, 100));
      }
      assert.fail(`docker ${args.join(' ')} never answered`);
    };
    const stop = async (child: ChildProcess) => {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    };
    // plain TCP: loopback only
    const refused = berth(root, ['serve', '-H', `tcp://0.0.0.0:${port}`]);
    assert.equal(refused.status, 125, 'a usage error, as docker\'s');
    assert.match(refused.stderr, /non-loopback address needs --tlsverify/);
    const tcp = spawn(bin, ['--root', root, 'serve', '-H', `tcp://127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let said = '';
    tcp.stderr!.on('data', (d: Buffer) => (said += d.toString()));
    try {
      assert.match(await waitFor(['-H', `tcp://127.0.0.1:${port}`, 'version', '--format', '{{.Server.APIVersion}}']), /^1\.47$/m);
      assert.match(said, /warning: tcp:\/\/127\.0\.0\.1:\d+ has no TLS: every user of this machine can reach it/);
    } finally {
      await stop(tcp);
    }
    // TLS: a CA, a server certificate for 127.0.0.1 and a client one; a client without one is refused
    const pki = join(work, 'pki');
    mkdirSync(pki);
    const sh = (script: string) => {
      const r = spawnSync('sh', ['-c', script], { cwd: pki, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
    };
    sh('openssl req -x509 -newkey rsa:2048 -nodes -keyout ca-key.pem -out ca.pem -days 1 -subj /CN=berth-test-ca 2>/dev/null');
    sh('openssl req -newkey rsa:2048 -nodes -keyout key.pem -out server.csr -subj /CN=127.0.0.1 2>/dev/null && printf "subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n" > ext && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out cert.pem -days 1 -extfile ext 2>/dev/null');
    mkdirSync(join(pki, 'client'));
    sh('openssl req -newkey rsa:2048 -nodes -keyout client/key.pem -out client.csr -subj /CN=client 2>/dev/null && printf "extendedKeyUsage=clientAuth\\n" > cext && openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out client/cert.pem -days 1 -extfile cext 2>/dev/null && cp ca.pem client/ca.pem');
    const tls = spawn(bin, ['--root', root, 'serve', '-H', `tcp://127.0.0.1:${port + 1}`, '--tlsverify', '--tlscacert', join(pki, 'ca.pem'), '--tlscert', join(pki, 'cert.pem'), '--tlskey', join(pki, 'key.pem')], { stdio: 'ignore' });
    try {
      const out = await waitFor(['-H', `tcp://127.0.0.1:${port + 1}`, '--tlsverify', 'run', '--rm', 'busybox', 'echo', 'over-tls'], { DOCKER_CERT_PATH: join(pki, 'client') });
      assert.equal(out, 'over-tls\n');
      const anonymous = spawnSync(DOCKER, ['-H', `tcp://127.0.0.1:${port + 1}`, '--tls', 'version'], { encoding: 'utf8', env: { ...process.env, DOCKER_CONFIG: join(root, 'docker-config'), DOCKER_CERT_PATH: join(pki, 'nope') }, timeout: 20_000 });
      assert.notEqual(anonymous.status, 0, 'a client without a certificate gets nothing');
    } finally {
      await stop(tls);
    }
    // socket activation: a listening socket in fd 3, LISTEN_FDS=1 and LISTEN_PID of the server
    const activated = join(work, 'activated.sock');
    const python = `import os, socket, sys
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(16)
os.dup2(s.fileno(), 3); os.set_inheritable(3, True)
os.environ.update(LISTEN_FDS='1', LISTEN_PID=str(os.getpid()))
os.execv(sys.argv[2], sys.argv[2:])`;
    const fd = spawn('python3', ['-c', python, activated, bin, '--root', root, 'serve', '-H', 'fd://'], { stdio: 'ignore' });
    try {
      assert.equal(await waitFor(['-H', `unix://${activated}`, 'run', '--rm', 'busybox', 'echo', 'activated']), 'activated\n');
    } finally {
      await stop(fd);
    }
    const noFds = berth(root, ['serve', '-H', 'fd://']);
    assert.equal(noFds.status, 1);
    assert.match(noFds.stderr, /no socket was passed/);
  });

  it('SIGTERM ends the server and leaves its containers running; a --rm one it was to remove is removed all the same', async () => {
    dok(['run', '-d', '--name', 'stays', 'busybox', 'sleep', '300']);
    dok(['run', '-d', '--rm', '--name', 'rm-later', 'busybox', 'sleep', '1']);
    server!.child.kill('SIGTERM');
    const code = await new Promise((r) => server!.child.once('exit', r));
    assert.equal(code, 0);
    assert.equal(existsSync(socket), false, 'the socket is removed');
    assert.equal(ok(berth(root, ['inspect', '-f', '{{.State.Status}}', 'stays'])), 'running\n');
    // its monitor runs the exit command once the server, which was to finish it, went away
    for (let i = 0; i < 100 && berth(root, ['inspect', 'rm-later']).status === 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.notEqual(berth(root, ['inspect', 'rm-later']).status, 0, 'the --rm container is gone');
    ok(berth(root, ['rm', '-f', 'stays']));
  });
});
