/**
 * `berth serve` driven by the clients people use with dockerd, unchanged but for DOCKER_HOST:
 * docker-compose 1.29 (Debian's) brings up a two-service app (a busybox httpd and a client that
 * reaches it by service name, a named volume, a published port), and dockerode and
 * testcontainers (npm) start a container, wait for its log line and port, exec and remove it.
 * testcontainers' reaper (Ryuk, an image from Docker Hub) is off: TESTCONTAINERS_RYUK_DISABLED.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { berth, busyboxRoot, ok } from '../fixtures/berth-cli.ts';
import { startServe, type Serve } from '../fixtures/serve.ts';

const skip = process.getuid?.() !== 0 ? 'the Docker API e2e tests need root' : false;

const COMPOSE_FILE = `version: "3.7"
services:
  web:
    image: busybox
    command: sh -c 'mkdir -p /www && echo hello-from-web > /www/index.html && exec httpd -f -p 80 -h /www'
    ports: ["127.0.0.1::80"]
    volumes: ["data:/data"]
    labels: { app.role: server }
  client:
    image: busybox
    command: sh -c 'until wget -qO /data/got http://web/; do sleep 0.2; done; echo fetched; exec sleep 300'
    volumes: ["data:/data"]
    depends_on: [web]
volumes:
  data: {}
`;

describe('berth serve with docker-compose, dockerode and testcontainers', { skip }, () => {
  let box: ReturnType<typeof busyboxRoot>;
  let root = '';
  let socket = '';
  let server: Serve | undefined;
  before(async () => {
    box = busyboxRoot('clients');
    root = box.root;
    server = await startServe(root);
    socket = server.socket;
    process.env.DOCKER_HOST = `unix://${socket}`;
  });
  after(async () => {
    await server?.stop();
    box?.remove();
  });

  it('docker-compose up -d, ps, logs, port, exec, down -v: the app works and nothing is left', async () => {
    const app = join(root, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'docker-compose.yml'), COMPOSE_FILE);
    const compose = (...args: string[]) => {
      const r = spawnSync('docker-compose', ['-p', 'bapp', ...args], { cwd: app, encoding: 'utf8', env: { ...process.env, DOCKER_CONFIG: join(root, 'docker-config') }, timeout: 120_000 });
      assert.equal(r.status, 0, `docker-compose ${args.join(' ')}: ${r.stdout}${r.stderr}`);
      return r.stdout;
    };
    compose('up', '-d');
    assert.match(compose('ps'), /bapp_web_1 .* Up +127\.0\.0\.1:\d+->80\/tcp/);
    for (let i = 0; i < 100 && !compose('logs', 'client').includes('fetched'); i++) await new Promise((r) => setTimeout(r, 100));
    assert.match(compose('logs', 'client'), /fetched/, 'the client reached web by its service name');
    assert.equal(compose('exec', '-T', 'client', 'cat', '/data/got'), 'hello-from-web\n', 'through the named volume');
    const hostPort = compose('port', 'web', '80').trim();
    assert.match(hostPort, /^127\.0\.0\.1:\d+$/);
    assert.equal(await (await fetch(`http://${hostPort}/`)).text(), 'hello-from-web\n', 'the published port');
    assert.match(ok(berth(root, ['ps', '--format', '{{.Names}}'])), /bapp_web_1/, 'berth sees compose\'s containers');
    compose('down', '-v', '-t', '1');
    assert.equal(ok(berth(root, ['ps', '-aq'])), '');
    assert.doesNotMatch(ok(berth(root, ['network', 'ls', '--format', '{{.Name}}'])), /bapp/);
    assert.equal(ok(berth(root, ['volume', 'ls', '-q'])), '');
  });

  it('dockerode: create, start, wait for a log line, exec, inspect, remove', async () => {
    const { default: Docker } = await import('dockerode');
    const docker = new Docker({ socketPath: socket });
    const c = await docker.createContainer({ Image: 'busybox', Cmd: ['sh', '-c', 'echo starting; sleep 0.3; echo ready; exec sleep 300'], Labels: { by: 'dockerode' } });
    await c.start();
    let logs = '';
    for (let i = 0; i < 50 && !logs.includes('ready'); i++) {
      logs = (await c.logs({ stdout: true, stderr: true })).toString('utf8');
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(logs, /starting[\s\S]*ready/);
    const exec = await c.exec({ Cmd: ['sh', '-c', 'echo from-exec; exit 2'], AttachStdout: true, AttachStderr: true });
    const stream = await exec.start({});
    const out: Buffer[] = [];
    await new Promise<void>((resolve) => {
      stream.on('data', (d: Buffer) => out.push(d));
      stream.on('end', () => resolve());
    });
    // the multiplexed stream: an 8-byte header (stream 1) before the line
    assert.equal(Buffer.concat(out).subarray(8).toString(), 'from-exec\n');
    assert.equal((await exec.inspect()).ExitCode, 2);
    const info = await c.inspect();
    assert.deepEqual([info.State.Running, info.Config.Labels.by], [true, 'dockerode']);
    await c.remove({ force: true });
    assert.equal(ok(berth(root, ['ps', '-aq'])), '');
  });

  it('testcontainers: a container with a wait strategy, a mapped port and an exec (Ryuk off)', async () => {
    process.env.TESTCONTAINERS_RYUK_DISABLED = 'true';
    process.env.TESTCONTAINERS_HOST_OVERRIDE = '127.0.0.1';
    const { GenericContainer, Wait } = await import('testcontainers');
    const c = await new GenericContainer('busybox')
      .withCommand(['sh', '-c', 'mkdir /www; echo served > /www/i; echo ready; exec httpd -f -p 8080 -h /www'])
      .withExposedPorts(8080)
      .withWaitStrategy(Wait.forLogMessage('ready'))
      .start();
    const port = c.getMappedPort(8080);
    assert.equal(await (await fetch(`http://127.0.0.1:${port}/i`)).text(), 'served\n');
    const result = await c.exec(['sh', '-c', 'echo exec-out; exit 3']);
    assert.deepEqual([result.stdout, result.exitCode], ['exec-out\n', 3]);
    await c.stop();
    assert.equal(ok(berth(root, ['ps', '-aq'])), '', 'stop removes it (testcontainers asks for removal)');
  });
});
