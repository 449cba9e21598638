/**
 * `berth` image verbs end to end, as root, on real files: import, images, inspect, history,
 * tag, rmi, save, load (berth's, skopeo's and a hand-made legacy archive), prune, and the
 * errors of bad input. Each test has its own state root (a `berth-test-*` temp dir).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { humanSize } from '../../src/cli/render/units.ts';
import { startRegistry, writeOciLayout, type TestRegistry } from '../fixtures/registry.ts';
import { writeTar } from '../fixtures/tar-writer.ts';

const repoDir = join(import.meta.dirname, '../..');
const skip = process.getuid?.() === 0 ? false : 'the image e2e tests need root';

export interface BerthResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Run the berth CLI (from source, so it is never stale) on a state root. */
export function berth(root: string, args: string[], opts: { input?: string | Buffer; env?: Record<string, string> } = {}): BerthResult {
  const res = spawnSync(process.execPath, [join(repoDir, 'src/bin/berth.ts'), '--root', root, ...args], {
    input: opts.input ?? '',
    encoding: 'utf8',
    env: { ...process.env, ...opts.env },
    maxBuffer: 1 << 28,
  });
  return { status: res.status ?? -1, stdout: res.stdout, stderr: res.stderr };
}

export function ok(res: BerthResult): string {
  assert.equal(res.status, 0, `berth failed (${res.status}): ${res.stderr}`);
  return res.stdout;
}

export function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** What the state root holds: blobs and unpacked layers. */
export function contentOf(root: string): { blobs: string[]; layers: string[] } {
  const list = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((n) => /^[a-f0-9]{64}$/.test(n)) : []);
  return { blobs: list(join(root, 'content/blobs/sha256')), layers: list(join(root, 'storage/overlay')) };
}

let work = '';
let rootCount = 0;
function newRoot(): string {
  return join(work, `root-${rootCount++}`);
}

let rootfsTar = '';

describe('berth image verbs', { skip }, () => {
  before(() => {
    work = mkdtempSync(join(tmpdir(), 'berth-test-images-'));
    rootfsTar = join(work, 'busybox-rootfs.tar');
    const res = spawnSync(process.execPath, [join(repoDir, 'scripts/make-busybox-image.mjs'), '--tar', rootfsTar], { encoding: 'utf8' });
    assert.equal(res.status, 0, res.stderr);
  });
  after(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  function importBusybox(root: string, ...extra: string[]): string {
    return ok(berth(root, ['import', '--change', 'CMD ["sh"]', ...extra, rootfsTar, 'busybox:latest'])).trim();
  }

  it('imports a rootfs tarball and lists it in docker\'s table with its size', () => {
    const root = newRoot();
    const id = importBusybox(root);
    assert.match(id, /^sha256:[a-f0-9]{64}$/);
    const lines = ok(berth(root, ['images'])).trimEnd().split('\n');
    assert.match(lines[0]!, /^REPOSITORY +TAG +IMAGE ID +CREATED +SIZE$/);
    const [repo, tag, shortId, ...rest] = lines[1]!.split(/ {2,}/);
    assert.deepEqual([repo, tag, shortId], ['busybox', 'latest', id.slice(7, 19)]);
    assert.equal(rest.at(-1), humanSize(statSync('/bin/busybox').size + passwdAndGroupSize(root)));
    assert.equal(ok(berth(root, ['images', '-q'])), `${id.slice(7, 19)}\n`);
    assert.equal(ok(berth(root, ['image', 'ls', '--format', '{{.Repository}}:{{.Tag}}'])), 'busybox:latest\n');
    const json = JSON.parse(ok(berth(root, ['images', '--format', 'json'])).trim());
    assert.equal(json.ID, id.slice(7, 19));
    assert.equal(json.Digest, '<none>');
  });

  it('inspects an image in docker\'s JSON shape', () => {
    const root = newRoot();
    const id = importBusybox(root, '--platform', 'linux/amd64');
    const [view] = JSON.parse(ok(berth(root, ['image', 'inspect', 'busybox'])));
    assert.equal(view.Id, id);
    assert.deepEqual(view.RepoTags, ['busybox:latest']);
    assert.deepEqual(view.Config.Cmd, ['sh']);
    assert.deepEqual(view.RootFS, { Type: 'layers', Layers: [sha256(readFileSync(rootfsTar))] });
    assert.equal(view.Architecture, 'amd64');
    assert.equal(view.Os, 'linux');
    assert.equal(typeof view.Size, 'number');
    assert.match(view.Created, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    // the ID is the digest of the stored config
    assert.equal(sha256(readFileSync(join(root, 'content/blobs/sha256', id.slice(7)))), id);
    assert.equal(ok(berth(root, ['image', 'inspect', '-f', '{{.Os}}/{{.Architecture}} {{json .Config.Cmd}}', id.slice(7, 15)])), 'linux/amd64 ["sh"]\n');
  });

  it('tags, then rmi untags, deletes with the last name and collects blobs and layers', () => {
    const root = newRoot();
    const id = importBusybox(root);
    ok(berth(root, ['tag', 'busybox', 'localhost:5000/my/box:1']));
    assert.equal(ok(berth(root, ['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}'])).split('\n').filter(Boolean).sort().join('\n'),
      [`busybox:latest ${id.slice(7, 19)}`, `localhost:5000/my/box:1 ${id.slice(7, 19)}`].join('\n'));
    assert.equal(ok(berth(root, ['rmi', 'busybox'])), 'Untagged: busybox:latest\n');
    assert.equal(contentOf(root).layers.length, 1);
    assert.equal(ok(berth(root, ['image', 'rm', 'localhost:5000/my/box:1'])), `Untagged: localhost:5000/my/box:1\nDeleted: ${id}\n`);
    assert.deepEqual(contentOf(root), { blobs: [], layers: [] });
    assert.equal(ok(berth(root, ['images', '-q'])), '');
  });

  it('saves and loads back into a fresh root the same image, readable by skopeo', () => {
    const root = newRoot();
    const id = importBusybox(root);
    const archive = join(work, 'saved.tar');
    ok(berth(root, ['save', '-o', archive, 'busybox']));
    const names = spawnSync('tar', ['tf', archive], { encoding: 'utf8' }).stdout.split('\n');
    for (const name of ['index.json', 'manifest.json', 'oci-layout', 'repositories', `blobs/sha256/${id.slice(7)}`]) assert.ok(names.includes(name), name);
    const docker = JSON.parse(spawnSync('skopeo', ['inspect', `docker-archive:${archive}`], { encoding: 'utf8' }).stdout);
    assert.deepEqual(docker.Layers, [sha256(readFileSync(rootfsTar))]);
    const oci = spawnSync('skopeo', ['inspect', '--config', `oci-archive:${archive}`], { encoding: 'utf8' });
    assert.equal(oci.status, 0, oci.stderr);
    assert.deepEqual(JSON.parse(oci.stdout).config.Cmd, ['sh']);
    const fresh = newRoot();
    assert.equal(ok(berth(fresh, ['load', '-i', archive])), 'Loaded image: busybox:latest\n');
    assert.equal(ok(berth(fresh, ['image', 'inspect', '-f', '{{.Id}}', 'busybox'])), `${id}\n`);
    // and what skopeo writes from it, in both formats, loads as the same content
    for (const [kind, target] of [['docker-archive', 'sk/docker:v1'], ['oci-archive', 'sk/oci:v1']] as const) {
      const copy = join(work, `${kind}.tar`);
      const res = spawnSync('skopeo', ['copy', '-q', `docker-archive:${archive}`, `${kind}:${copy}:${target}`], { encoding: 'utf8' });
      assert.equal(res.status, 0, res.stderr);
      assert.equal(ok(berth(fresh, ['load', '-i', copy])), `Loaded image: ${target}\n`);
      const [view] = JSON.parse(ok(berth(fresh, ['image', 'inspect', target])));
      assert.deepEqual(view.RootFS.Layers, [sha256(readFileSync(rootfsTar))]);
    }
  });

  it('saves an OCI layout that umoci unpacks into a runnable root filesystem', { skip: existsSync('/usr/bin/umoci') ? false : 'umoci is not installed (./setup.sh installs it)' }, () => {
    const root = newRoot();
    importBusybox(root);
    const archive = join(work, 'for-umoci.tar');
    ok(berth(root, ['save', '-o', archive, 'busybox']));
    const layout = join(work, 'umoci-layout');
    const bundle = join(work, 'umoci-bundle');
    assert.equal(spawnSync('mkdir', ['-p', layout]).status, 0);
    assert.equal(spawnSync('tar', ['-xf', archive, '-C', layout]).status, 0);
    const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8'));
    const tag = index.manifests[0].annotations['org.opencontainers.image.ref.name'];
    assert.ok(tag, 'index.json names the image');
    const res = spawnSync('umoci', ['unpack', '--image', `${layout}:${tag}`, bundle], { encoding: 'utf8' });
    assert.equal(res.status, 0, res.stderr);
    assert.ok(statSync(join(bundle, 'rootfs/bin/busybox')).isFile());
    assert.deepEqual(JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')).process.args, ['sh']);
  });

  it('loads a legacy docker-archive (manifest.json, <id>/layer.tar) from stdin', () => {
    const root = newRoot();
    const layer = writeTar([{ name: 'hello.txt', data: 'hello\n' }]);
    const config = JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['cat', '/hello.txt'] }, rootfs: { type: 'layers', diff_ids: [sha256(layer)] } });
    const archive = writeTar([
      { name: 'abc/', type: 'dir' },
      { name: 'abc/layer.tar', data: layer },
      { name: 'abc/VERSION', data: '1.0' },
      { name: `${sha256(config).slice(7)}.json`, data: config },
      { name: 'manifest.json', data: JSON.stringify([{ Config: `${sha256(config).slice(7)}.json`, RepoTags: ['legacy/app:v1'], Layers: ['abc/layer.tar'] }]) },
    ]);
    assert.equal(ok(berth(root, ['load'], { input: gzipSync(archive) })), 'Loaded image: legacy/app:v1\n');
    assert.equal(ok(berth(root, ['image', 'inspect', '-f', '{{.Id}} {{.Config.Cmd}}', 'legacy/app:v1'])), `${sha256(config)} [cat /hello.txt]\n`);
    const [layerDir] = contentOf(root).layers;
    assert.equal(readFileSync(join(root, 'storage/overlay', layerDir!, 'diff/hello.txt'), 'utf8'), 'hello\n');
  });

  it('import --change sets Cmd, Env, WorkingDir, Entrypoint and labels; - reads stdin', () => {
    const root = newRoot();
    const changes = ['CMD ["-c", "echo hi"]', 'ENTRYPOINT ["/bin/sh"]', 'ENV A=1 B="two words"', 'WORKDIR /srv', 'USER 1000', 'EXPOSE 8080', 'LABEL team=core'];
    const id = ok(berth(root, ['import', ...changes.flatMap((c) => ['--change', c]), '-m', 'from a test', '-', 'custom:v1'], { input: readFileSync(rootfsTar) })).trim();
    const [view] = JSON.parse(ok(berth(root, ['image', 'inspect', id])));
    assert.deepEqual(view.Config.Cmd, ['-c', 'echo hi']);
    assert.deepEqual(view.Config.Entrypoint, ['/bin/sh']);
    assert.deepEqual(view.Config.Env, ['A=1', 'B=two words']);
    assert.equal(view.Config.WorkingDir, '/srv');
    assert.equal(view.Config.User, '1000');
    assert.deepEqual(view.Config.ExposedPorts, { '8080/tcp': {} });
    assert.deepEqual(view.Config.Labels, { team: 'core' });
    assert.equal(view.Comment, 'from a test');
    const history = ok(berth(root, ['history', 'custom:v1'])).trimEnd().split('\n');
    assert.match(history[0]!, /^IMAGE +CREATED +CREATED BY +SIZE +COMMENT$/);
    assert.match(history[1]!, new RegExp(`^${id.slice(7, 19)} .* from a test$`));
    const bad = berth(root, ['import', '--change', 'RUN make', rootfsTar]);
    assert.equal(bad.status, 125);
    assert.match(bad.stderr, /RUN cannot be applied/);
  });

  it('refuses an archive whose layer does not match its digest, and stores nothing', () => {
    const root = newRoot();
    const layer = writeTar([{ name: 'a', data: 'a' }]);
    const config = JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256('something else')] } });
    const legacy = writeTar([
      { name: 'x/layer.tar', data: layer },
      { name: 'c.json', data: config },
      { name: 'manifest.json', data: JSON.stringify([{ Config: 'c.json', RepoTags: ['bad:1'], Layers: ['x/layer.tar'] }]) },
    ]);
    const res = berth(root, ['load'], { input: legacy });
    assert.equal(res.status, 125);
    assert.match(res.stderr, /^Error: .*diff ID mismatch/m);
    // an OCI blob whose bytes are not what its name says
    const oci = writeTar([
      { name: 'oci-layout', data: '{"imageLayoutVersion":"1.0.0"}' },
      { name: `blobs/sha256/${sha256('expected').slice(7)}`, data: 'tampered' },
      { name: 'index.json', data: '{"schemaVersion":2,"manifests":[]}' },
    ]);
    const res2 = berth(root, ['load'], { input: oci });
    assert.equal(res2.status, 125);
    assert.match(res2.stderr, /does not match its digest/);
    assert.equal(ok(berth(root, ['images', '-q'])), '');
    assert.deepEqual(contentOf(root), { blobs: [], layers: [] });
    assert.deepEqual(readdirSync(join(root, 'tmp')), []);
  });

  it('prunes dangling images and the content only they used', () => {
    const root = newRoot();
    const first = importBusybox(root);
    const second = ok(berth(root, ['import', '--change', 'CMD ["echo"]', rootfsTar, 'busybox:latest'])).trim();
    assert.notEqual(first, second);
    assert.equal(ok(berth(root, ['images', '--filter', 'dangling=true', '-q', '--no-trunc'])), `${first}\n`);
    const out = ok(berth(root, ['image', 'prune', '-f']));
    assert.match(out, new RegExp(`^Deleted Images:\ndeleted: ${first}\n\nTotal reclaimed space: `));
    assert.equal(ok(berth(root, ['images', '-q', '--no-trunc'])), `${second}\n`);
    assert.ok(!contentOf(root).blobs.includes(first.slice(7)));
    assert.equal(contentOf(root).layers.length, 1, 'the shared layer stays');
    const cancelled = berth(root, ['image', 'prune', '-a'], { input: 'n\n' });
    assert.equal(cancelled.status, 1);
    assert.match(cancelled.stderr, /cancelled/);
  });

  it('names a missing image (exit 1) and an unknown flag (exit 125)', () => {
    const root = newRoot();
    for (const args of [['rmi', 'nosuch'], ['image', 'inspect', 'nosuch'], ['history', 'nosuch'], ['tag', 'nosuch', 'x']]) {
      const res = berth(root, args);
      assert.equal(res.status, 1, args.join(' '));
      assert.match(res.stderr, /^Error: No such image: nosuch$/m, args.join(' '));
    }
    const flag = berth(root, ['images', '--bogus']);
    assert.equal(flag.status, 125);
    assert.match(flag.stderr, /unknown flag --bogus/);
    const help = berth(root, ['rmi', '--help']);
    assert.match(help.stdout, /^Usage: berth rmi \[OPTIONS\] IMAGE/);
  });
});

describe('berth pull, login, logout (a real registry on 127.0.0.1)', { skip }, () => {
  let reg: TestRegistry | undefined;
  let layoutDir = '';
  let built: Awaited<ReturnType<typeof writeOciLayout>>;
  let pullWork = '';

  before(async () => {
    pullWork = mkdtempSync(join(tmpdir(), 'berth-test-pull-'));
    reg = await startRegistry();
    layoutDir = join(pullWork, 'layout');
    built = await writeOciLayout(layoutDir, 'v1', [{
      layers: [
        { entries: [{ name: 'etc/', type: 'dir' }, { name: 'etc/os-release', data: 'ID=test\n' }] },
        { entries: [{ name: 'big.bin', data: Buffer.alloc(1 << 20, 1) }], compression: 'zstd' },
      ],
      config: { Cmd: ['/bin/true'] },
    }]);
    await reg.push(`oci:${layoutDir}:v1`, 'test/app:v1');
  });
  after(async () => {
    await reg?.stop();
    if (pullWork) rmSync(pullWork, { recursive: true, force: true });
  });

  it('pulls with docker\'s progress lines, digest and status, then is up to date', () => {
    const root = join(pullWork, 'root-a');
    const ref = `${reg!.host}/test/app:v1`;
    const lines = ok(berth(root, ['pull', ref])).trimEnd().split('\n');
    const image = built.images[0]!;
    assert.equal(lines[0], 'v1: Pulling from test/app');
    for (const layer of image.layers) assert.ok(lines.includes(`${layer.digest.slice(7, 19)}: Pull complete`), lines.join('\n'));
    assert.deepEqual(lines.slice(-3), [`Digest: ${image.manifestDigest}`, `Status: Downloaded newer image for ${ref}`, ref]);
    const again = ok(berth(root, ['pull', ref])).trimEnd().split('\n');
    assert.equal(again.at(-2), `Status: Image is up to date for ${ref}`);
    assert.equal(ok(berth(root, ['pull', '-q', ref])), `${ref}\n`);
    const [view] = JSON.parse(ok(berth(root, ['image', 'inspect', ref])));
    assert.equal(view.Id, image.configDigest);
    assert.deepEqual(view.RepoDigests, [`${reg!.host}/test/app@${image.manifestDigest}`]);
    assert.deepEqual(view.RootFS.Layers, image.layers.map((l) => l.diffId));
    assert.match(ok(berth(root, ['images', '--digests'])), new RegExp(`${reg!.host}/test/app +v1 +${image.manifestDigest} +${image.configDigest.slice(7, 19)} `));
    // its compressed layers save and load into a fresh root as the same image
    const archive = join(pullWork, 'pulled.tar');
    ok(berth(root, ['save', '-o', archive, ref]));
    const fresh = join(pullWork, 'root-b');
    assert.equal(ok(berth(fresh, ['load', '-i', archive])), `Loaded image: ${ref}\n`);
    assert.equal(ok(berth(fresh, ['image', 'inspect', '-f', '{{.Id}}', ref])), `${image.configDigest}\n`);
    ok(berth(root, ['rmi', ref]));
    assert.deepEqual(contentOf(root), { blobs: [], layers: [] });
  });

  it('fails on an unknown tag, storing nothing', () => {
    const root = join(pullWork, 'root-c');
    const res = berth(root, ['pull', `${reg!.host}/test/app:nope`]);
    assert.equal(res.status, 1);
    assert.match(res.stderr, /^Error: .*(unknown|not found)/m);
    assert.deepEqual(contentOf(root), { blobs: [], layers: [] });
  });

  it('logs in with --password-stdin, pulls with the stored credentials, logs out', async (t) => {
    const secured = await startRegistry({ auth: 'basic' });
    t.after(() => secured.stop());
    await secured.push(`oci:${layoutDir}:v1`, 'private/app:v1');
    const env = { REGISTRY_AUTH_FILE: join(pullWork, 'auth.json') };
    const root = join(pullWork, 'root-d');
    const ref = `${secured.host}/private/app:v1`;
    assert.notEqual(berth(root, ['pull', ref], { env }).status, 0, 'anonymous pull is refused');
    const login = berth(root, ['login', '-u', secured.username, '--password-stdin', secured.host], { env, input: `${secured.password}\n` });
    assert.equal(ok(login), 'Login Succeeded\n');
    assert.ok(JSON.parse(readFileSync(env.REGISTRY_AUTH_FILE, 'utf8')).auths[secured.host]);
    ok(berth(root, ['pull', '-q', ref], { env }));
    const wrong = berth(root, ['login', '-u', secured.username, '-p', 'wrong', secured.host], { env });
    assert.notEqual(wrong.status, 0);
    assert.match(wrong.stderr, /WARNING! Using --password via the CLI is insecure/);
    assert.equal(ok(berth(root, ['logout', secured.host], { env })), `Removing login credentials for ${secured.host}\n`);
    assert.equal(JSON.parse(readFileSync(env.REGISTRY_AUTH_FILE, 'utf8')).auths?.[secured.host], undefined);
    assert.equal(ok(berth(root, ['logout', secured.host], { env })), `Not logged in to ${secured.host}\n`);
  });
});

/** Bytes of /etc/passwd and /etc/group as the busybox rootfs has them (read from its layer). */
function passwdAndGroupSize(root: string): number {
  const [layer] = contentOf(root).layers;
  return ['etc/passwd', 'etc/group'].reduce((n, f) => n + statSync(join(root, 'storage/overlay', layer!, 'diff', f)).size, 0);
}
