/**
 * `berth serve`: the Docker Engine API, driven by the real docker CLI (28, /usr/local/bin/docker
 * on these machines) over a unix socket of a test root, and by raw HTTP for what a CLI never
 * sends (bad JSON, huge bodies, old API versions). Containers made through the API are berth's:
 * `berth ps` sees them, and they outlive the server.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { berth, busyboxRoot, ok } from '../fixtures/berth-cli.ts';

const DOCKER = '/usr/local/bin/docker';
const skip = process.getuid?.() !== 0 ? 'the Docker API e2e tests need root' : !existsSync(DOCKER) ? `no docker CLI at ${DOCKER}` : false;
const repoDir = join(import.meta.dirname, '../..');

describe('berth serve: the Docker Engine API', { skip }, () => {
  let box: ReturnType<typeof busyboxRoot>;
  let root = '';
  let socket = '';
  let server: ChildProcess | undefined;
  before(async () => {
    box = busyboxRoot('api');
    root = box.root;
    socket = join(root, 'docker.sock');
    server = spawn(join(repoDir, 'bin/berth'), ['--root', root, 'serve', '-H', `unix://${socket}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    for (let i = 0; i < 200 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 25));
    assert.ok(existsSync(socket), 'the server listens');
  });
  after(async () => {
    if (server && server.exitCode === null) {
      server.kill('SIGTERM');
      await new Promise((r) => server!.once('exit', r));
    }
    box?.remove();
  });
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

  it('SIGTERM ends the server and leaves its containers running', async () => {
    dok(['run', '-d', '--name', 'stays', 'busybox', 'sleep', '300']);
    server!.kill('SIGTERM');
    const code = await new Promise((r) => server!.once('exit', r));
    assert.equal(code, 0);
    assert.equal(existsSync(socket), false, 'the socket is removed');
    assert.equal(ok(berth(root, ['inspect', '-f', '{{.State.Status}}', 'stays'])), 'running\n');
    ok(berth(root, ['rm', '-f', 'stays']));
  });
});
