import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { mkdtemp, readFile, readdir, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BerthError } from '../common/index.ts';
import { LayerStore } from '../storage/index.ts';
import { startRegistry, writeOciLayout, type BuiltImage, type TestImage, type TestRegistry } from '../../test/fixtures/registry.ts';
import { ContentStore } from './content-store.ts';
import { pullImage, type PullEvent } from './pull.ts';
import { RegistryClient } from './registry/client.ts';
import { parseReference } from './reference.ts';

const root = await mkdtemp(join(tmpdir(), 'berth-test-pull-'));
let reg: TestRegistry;
let counter = 0;

async function stores(): Promise<{ content: ContentStore; layers: LayerStore; dir: string }> {
  const dir = join(root, `stores-${++counter}`);
  return { content: new ContentStore(join(dir, 'content')), layers: new LayerStore(join(dir, 'storage')), dir };
}

/** Build `images` as an OCI layout and push it to `repo:tag` on `registry`. */
async function publish(registry: TestRegistry, repo: string, images: TestImage[], opts: { format?: 'oci' | 'v2s2' } = {}): Promise<{ images: BuiltImage[]; indexDigest?: string }> {
  const layout = join(root, `layout-${++counter}`);
  const built = await writeOciLayout(layout, 'v1', images);
  await registry.push(`${layout}:v1`, `${repo}:v1`, { all: images.length > 1, ...(opts.format ? { format: opts.format } : {}) });
  return built;
}

function unique(label: string): TestImage {
  return { layers: [{ entries: [{ name: 'id', data: `${label} ${randomBytes(8).toString('hex')}` }] }] };
}

/** Records the Range header of every blob request. */
function spyingFetch(ranges: Array<{ url: string; range: string | null }>): typeof fetch {
  return (async (input: string | URL | Request, init?: RequestInit) => {
    if (String(input).includes('/blobs/')) ranges.push({ url: String(input), range: new Headers(init?.headers).get('range') });
    return fetch(input, init);
  }) as typeof fetch;
}

async function assertNothingStored(content: ContentStore, layers: LayerStore, digest: string): Promise<void> {
  assert.equal(await content.has(digest), false, 'the bad blob is not in the content store');
  assert.deepEqual(await content.listIngests(), [], 'no partial or temp file is left');
  assert.deepEqual(await layers.list(), [], 'no layer of the image was unpacked');
}

before(async () => {
  reg = await startRegistry();
});
after(async () => {
  await reg?.stop();
  await rm(root, { recursive: true, force: true });
});

describe('pullImage', () => {
  let app: BuiltImage;
  before(async () => {
    ({ images: [app] } = (await publish(reg, 'test/app', [{
      layers: [
        { entries: [{ name: 'etc/', type: 'dir' }, { name: 'etc/motd', data: 'base layer\n' }, { name: 'bin/', type: 'dir' }, { name: 'bin/tool', data: 'T', mode: 0o755 }] },
        { entries: [{ name: 'etc/motd', data: 'top layer (zstd)\n' }], compression: 'zstd' },
      ],
      config: { Cmd: ['/bin/tool'] },
    }])) as { images: [BuiltImage] });
  });

  it('pulls by tag: blobs in the content store, each layer unpacked once with the right files', async () => {
    const { content, layers } = await stores();
    const events: PullEvent[] = [];
    const image = await pullImage(`${reg.host}/test/app:v1`, { client: new RegistryClient(), content, layers, onProgress: (e) => events.push(e) });
    assert.equal(image.manifestDigest, app.manifestDigest);
    assert.equal(image.repoDigest, app.manifestDigest);
    assert.equal(image.configDigest, app.configDigest);
    assert.deepEqual(image.diffIds, app.layers.map((l) => l.diffId));
    assert.deepEqual(image.chainIds, LayerStore.chainIds(image.diffIds));
    assert.deepEqual(image.config.config?.Cmd, ['/bin/tool']);
    assert.equal(image.size, 'base layer\n'.length + 1 + 'top layer (zstd)\n'.length);
    const [base, top] = image.chainIds as [string, string];
    assert.equal(await readFile(join(layers.diffDir(base), 'etc/motd'), 'utf8'), 'base layer\n');
    assert.equal((await stat(join(layers.diffDir(base), 'bin/tool'))).mode & 0o777, 0o755);
    assert.equal(await readFile(join(layers.diffDir(top), 'etc/motd'), 'utf8'), 'top layer (zstd)\n');
    for (const digest of [app.manifestDigest, app.configDigest, ...app.layers.map((l) => l.digest)]) assert.equal(await content.has(digest), true, digest);
    assert.deepEqual(events[0], { type: 'resolving', ref: `${reg.host}/test/app:v1` });
    assert.deepEqual(events.at(-1), { type: 'done', digest: app.manifestDigest });
    for (const layer of app.layers) {
      const statuses = events.filter((e) => e.type === 'layer' && e.digest === layer.digest).map((e) => e.type === 'layer' && e.status);
      assert.deepEqual([...new Set(statuses)], ['waiting', 'downloading', 'verifying', 'extracting', 'done']);
    }
  });

  it('pulls by digest, and a second pull finds every layer already there', async () => {
    const { content, layers } = await stores();
    const ranges: Array<{ url: string; range: string | null }> = [];
    const client = new RegistryClient({ fetchImpl: spyingFetch(ranges) });
    const first = await pullImage(`${reg.host}/test/app@${app.manifestDigest}`, { client, content, layers });
    assert.equal(first.manifestDigest, app.manifestDigest);
    assert.equal(first.reference.digest, app.manifestDigest);
    const fetched = ranges.length;
    const events: PullEvent[] = [];
    await pullImage(`${reg.host}/test/app:v1`, { client, content, layers, onProgress: (e) => events.push(e) });
    assert.equal(ranges.length, fetched, 'no blob was fetched again');
    const statuses = events.filter((e) => e.type === 'layer' && e.status !== 'waiting').map((e) => e.type === 'layer' && e.status);
    assert.deepEqual(statuses, ['exists', 'exists']);
  });

  it('pulls an image with an uncompressed layer (pushed by berth: skopeo would compress it)', async () => {
    const layout = join(root, `layout-${++counter}`);
    const { images: [built] } = await writeOciLayout(layout, 'v1', [{ layers: [{ entries: [{ name: 'plain', data: 'uncompressed' }], compression: 'none' }] }]);
    const client = new RegistryClient();
    const ref = parseReference(`${reg.host}/test/plain:v1`);
    const blob = async (digest: string) => readFile(join(layout, 'blobs/sha256', digest.slice(7)));
    for (const digest of [built?.configDigest, built?.layers[0]?.digest]) await client.pushBlob(ref, await blob(digest as string));
    await client.pushManifest(ref, await blob(built?.manifestDigest as string), 'application/vnd.oci.image.manifest.v1+json');
    const { content, layers } = await stores();
    const image = await pullImage(`${reg.host}/test/plain:v1`, { client, content, layers });
    assert.equal(image.manifest.layers[0]?.mediaType, 'application/vnd.oci.image.layer.v1.tar');
    assert.equal(await readFile(join(layers.diffDir(image.chainIds[0] as string), 'plain'), 'utf8'), 'uncompressed');
  });

  it('pulls docker v2 schema 2 images', async () => {
    const built = await publish(reg, 'test/docker-format', [unique('docker')], { format: 'v2s2' });
    const { content, layers } = await stores();
    const image = await pullImage(`${reg.host}/test/docker-format:v1`, { client: new RegistryClient(), content, layers });
    assert.equal(image.manifest.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
    assert.equal(image.manifest.layers[0]?.mediaType, 'application/vnd.docker.image.rootfs.diff.tar.gzip');
    assert.deepEqual(image.diffIds, built.images[0]?.layers.map((l) => l.diffId));
    assert.match(await readFile(join(layers.diffDir(image.chainIds[0] as string), 'id'), 'utf8'), /^docker /);
  });

  it('says "manifest unknown" for a tag the registry does not have', async () => {
    const { content, layers } = await stores();
    await assert.rejects(pullImage(`${reg.host}/test/app:missing`, { client: new RegistryClient(), content, layers }), (err: BerthError) => {
      assert.equal(err.code, 'NOT_FOUND');
      assert.match(err.message, /^manifest unknown: 127\.0\.0\.1:\d+\/test\/app:missing/);
      return true;
    });
  });

  it('lets two concurrent pulls of one image both succeed, sharing its layers', async () => {
    const { dir, content, layers } = await stores();
    const other = { content: new ContentStore(join(dir, 'content')), layers: new LayerStore(join(dir, 'storage')) };
    const [a, b] = await Promise.all([
      pullImage(`${reg.host}/test/app:v1`, { client: new RegistryClient(), content, layers }),
      pullImage(`${reg.host}/test/app:v1`, { client: new RegistryClient(), ...other }),
    ]);
    assert.equal(a.manifestDigest, b.manifestDigest);
    assert.deepEqual((await layers.list()).sort(), [...a.chainIds].sort());
    assert.equal(await readFile(join(layers.diffDir(a.chainIds[1] as string), 'etc/motd'), 'utf8'), 'top layer (zstd)\n');
    assert.deepEqual(await content.listIngests(), []);
    assert.deepEqual((await readdir(layers.overlayDir)).filter((n) => n.startsWith('.')), []);
  });
});

describe('pullImage from a manifest list', () => {
  let built: { images: BuiltImage[]; indexDigest?: string };
  const platformImage = (architecture: string, variant?: string): TestImage => ({
    platform: { os: 'linux', architecture, ...(variant ? { variant } : {}) },
    layers: [{ entries: [{ name: 'arch', data: architecture }] }],
  });
  before(async () => {
    built = await publish(reg, 'test/multi', [platformImage('amd64'), platformImage('arm64', 'v8')]);
  });

  it('picks the image of the asked platform (default: this machine)', async () => {
    const { content, layers } = await stores();
    const client = new RegistryClient();
    const arm = await pullImage(`${reg.host}/test/multi:v1`, { client, content, layers, platform: { os: 'linux', architecture: 'aarch64' } });
    assert.equal(arm.config.architecture, 'arm64');
    assert.equal(arm.manifestDigest, built.images[1]?.manifestDigest);
    assert.equal(arm.indexDigest, built.indexDigest);
    assert.equal(arm.repoDigest, built.indexDigest);
    assert.equal(await readFile(join(layers.diffDir(arm.chainIds[0] as string), 'arch'), 'utf8'), 'arm64');
    const host = await pullImage(`${reg.host}/test/multi:v1`, { client, content, layers });
    assert.equal(host.config.architecture, 'amd64');
    assert.equal(await content.has(built.indexDigest as string), true);
  });

  it('fails clearly for a platform the list does not have, storing nothing', async () => {
    const { content, layers } = await stores();
    await assert.rejects(pullImage(`${reg.host}/test/multi:v1`, { client: new RegistryClient(), content, layers, platform: { os: 'linux', architecture: 's390x' } }), (err: BerthError) => {
      assert.equal(err.code, 'NOT_FOUND');
      assert.equal(err.message, 'no matching manifest for linux/s390x in the manifest list entries (available: linux/amd64, linux/arm64/v8)');
      return true;
    });
    assert.deepEqual(await content.list(), []);
  });
});

describe('pullImage with bad blobs', () => {
  it('refuses a tampered layer (same size, other bytes) and stores nothing of it', async () => {
    const built = await publish(reg, 'test/tampered', [unique('tampered')]);
    const layer = built.images[0]?.layers[0] as BuiltImage['layers'][number];
    const path = reg.blobDataPath(layer.digest);
    const data = await readFile(path);
    data[data.length - 12] = (data[data.length - 12] ?? 0) ^ 0xff;
    await writeFile(path, data);
    const { content, layers } = await stores();
    await assert.rejects(pullImage(`${reg.host}/test/tampered:v1`, { client: new RegistryClient(), content, layers }), (err: BerthError) => {
      assert.equal(err.code, 'INVALID_ARGUMENT');
      assert.match(err.message, new RegExp(`^digest mismatch for ${layer.digest}: got sha256:`));
      return true;
    });
    await assertNothingStored(content, layers, layer.digest);
  });

  it('refuses a truncated layer and stores nothing of it', async () => {
    const built = await publish(reg, 'test/truncated', [unique('truncated')]);
    const layer = built.images[0]?.layers[0] as BuiltImage['layers'][number];
    await truncate(reg.blobDataPath(layer.digest), Math.floor(layer.size / 2));
    const { content, layers } = await stores();
    await assert.rejects(pullImage(`${reg.host}/test/truncated:v1`, { client: new RegistryClient(), content, layers }), (err: BerthError) => {
      assert.equal(err.code, 'INVALID_ARGUMENT');
      assert.match(err.message, new RegExp(`^size mismatch for ${layer.digest}: got ${Math.floor(layer.size / 2)} bytes, expected ${layer.size}`));
      return true;
    });
    await assertNothingStored(content, layers, layer.digest);
  });
});

describe('pullImage with a layer unlike its config', () => {
  it('refuses a layer whose content does not hash to the config diff ID, keeping neither its blob nor the layer', async () => {
    // an image whose blobs are all intact, but whose config names another diff ID
    const layout = join(root, `layout-${++counter}`);
    const { images: [built] } = await writeOciLayout(layout, 'v1', [unique('diff-id')]);
    const blob = async (digest: string) => readFile(join(layout, 'blobs/sha256', digest.slice(7)));
    const config = JSON.parse((await blob(built?.configDigest as string)).toString());
    const wrongDiffId = `sha256:${'0'.repeat(64)}`;
    config.rootfs.diff_ids = [wrongDiffId];
    const client = new RegistryClient();
    const ref = parseReference(`${reg.host}/test/diff-id:v1`);
    const configBytes = Buffer.from(JSON.stringify(config));
    const configDigest = await client.pushBlob(ref, configBytes);
    const layer = built?.layers[0] as BuiltImage['layers'][number];
    await client.pushBlob(ref, await blob(layer.digest));
    const manifest = JSON.parse((await blob(built?.manifestDigest as string)).toString());
    manifest.config = { ...manifest.config, digest: configDigest, size: configBytes.length };
    await client.pushManifest(ref, Buffer.from(JSON.stringify(manifest)), 'application/vnd.oci.image.manifest.v1+json');
    const { content, layers } = await stores();
    await assert.rejects(pullImage(`${reg.host}/test/diff-id:v1`, { client, content, layers }), (err: BerthError) => {
      assert.equal(err.code, 'INVALID_ARGUMENT');
      assert.match(err.message, new RegExp(`diff ID mismatch: the layer content hashes to ${layer.diffId}, the image config says ${wrongDiffId}`));
      return true;
    });
    await assertNothingStored(content, layers, layer.digest);
    assert.deepEqual((await readdir(layers.overlayDir)).filter((n) => n.startsWith('.')), [], 'no temp dir of the unpack is left');
  });
});

describe('pullImage interrupted', () => {
  it('unpacks a layer whose download broke mid-way and resumed with a Range request', async () => {
    const big = randomBytes(3 * 1024 * 1024);
    const built = await publish(reg, 'test/dropped', [{ layers: [{ entries: [{ name: 'big.bin', data: big }, { name: 'after', data: 'end' }] }] }]);
    const layer = built.images[0]?.layers[0] as BuiltImage['layers'][number];
    const ranges: Array<{ url: string; range: string | null }> = [];
    let isDropped = false;
    // the first response for the layer ends after 1 MiB as if the connection dropped
    const dropping = (async (input: string | URL | Request, init?: RequestInit) => {
      const res = await spyingFetch(ranges)(input, init);
      if (isDropped || !String(input).endsWith(layer.digest) || !res.body) return res;
      isDropped = true;
      const reader = res.body.getReader();
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          const { done, value } = await reader.read();
          if (done || sent >= 1024 * 1024) {
            await reader.cancel().catch(() => {});
            controller.error(Object.assign(new TypeError('terminated'), { cause: { code: 'ECONNRESET' } }));
            return;
          }
          const part = value.subarray(0, 1024 * 1024 - sent);
          sent += part.length;
          controller.enqueue(part);
        },
      });
      return new Response(body, { status: res.status, headers: res.headers });
    }) as typeof fetch;
    const { content, layers } = await stores();
    const image = await pullImage(`${reg.host}/test/dropped:v1`, { client: new RegistryClient({ fetchImpl: dropping }), content, layers });
    assert.deepEqual(ranges.filter((r) => r.url.endsWith(layer.digest)).map((r) => r.range), [null, `bytes=${1024 * 1024}-`]);
    assert.deepEqual(await readFile(join(layers.diffDir(image.chainIds[0] as string), 'big.bin')), big);
    assert.equal(await readFile(join(layers.diffDir(image.chainIds[0] as string), 'after'), 'utf8'), 'end');
    assert.equal(await content.has(layer.digest), true);
    assert.deepEqual(await content.listIngests(), []);
  });


  it('resumes with a Range request when the connection is cut mid-layer (default transport, a real socket)', async () => {
    const big = randomBytes(3 * 1024 * 1024);
    const built = await publish(reg, 'test/cut', [{ layers: [{ entries: [{ name: 'big.bin', data: big }] }] }]);
    const layer = built.images[0]?.layers[0] as BuiltImage['layers'][number];
    // a TCP proxy before the registry: the first connection that asks for the layer is cut
    // after 1 MiB of its answer; it records the Range header of every request for the layer
    const ranges: Array<string | null> = [];
    let isCut = false;
    const sockets = new Set<Socket>();
    const proxy = createServer((client) => {
      const upstream = connect(Number(reg.host.split(':')[1]), '127.0.0.1');
      sockets.add(client).add(upstream);
      let cutAfter = -1;
      client.on('data', (data: Buffer) => {
        const head = data.toString('latin1');
        if (head.includes(`/blobs/${layer.digest}`) && head.startsWith('GET')) {
          ranges.push(/\r\nrange: *([^\r]*)/i.exec(head)?.[1] ?? null);
          if (!isCut) {
            isCut = true;
            cutAfter = 1024 * 1024;
          }
        }
        upstream.write(data);
      });
      upstream.on('data', (data: Buffer) => {
        if (cutAfter >= 0) {
          if (data.length >= cutAfter) {
            client.write(data.subarray(0, cutAfter));
            client.destroy();
            upstream.destroy();
            return;
          }
          cutAfter -= data.length;
        }
        client.write(data);
      });
      for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
        a.on('close', () => b.destroy());
        a.on('error', () => b.destroy());
      }
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    try {
      const host = `127.0.0.1:${(proxy.address() as AddressInfo).port}`;
      const { content, layers } = await stores();
      const image = await pullImage(`${host}/test/cut:v1`, { client: new RegistryClient(), content, layers });
      assert.equal(ranges.length, 2, `requests for the layer: ${JSON.stringify(ranges)}`);
      assert.equal(ranges[0], null);
      assert.match(ranges[1] ?? '', /^bytes=\d+-$/);
      assert.ok(Number(/\d+/.exec(ranges[1] ?? '')?.[0]) > 0, 'the resume asks for the bytes after those kept');
      assert.deepEqual(await readFile(join(layers.diffDir(image.chainIds[0] as string), 'big.bin')), big);
      assert.equal(await content.has(layer.digest), true);
      assert.deepEqual(await content.listIngests(), []);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => proxy.close(resolve));
    }
  });

  it('resumes a pull canceled mid-layer with a Range request and ends consistent', async () => {
    const big = randomBytes(4 * 1024 * 1024);
    const built = await publish(reg, 'test/big', [{ layers: [{ entries: [{ name: 'small', data: 'x' }] }, { entries: [{ name: 'big.bin', data: big }] }] }]);
    const bigLayer = built.images[0]?.layers[1] as BuiltImage['layers'][number];
    const { content, layers } = await stores();
    const controller = new AbortController();
    await assert.rejects(pullImage(`${reg.host}/test/big:v1`, {
      client: new RegistryClient(),
      content,
      layers,
      signal: controller.signal,
      onProgress: (e) => {
        if (e.type === 'layer' && e.digest === bigLayer.digest && e.status === 'downloading' && (e.current ?? 0) >= 1024 * 1024) controller.abort();
      },
    }), (err: BerthError) => err.code === 'CANCELED');
    assert.equal(await content.has(bigLayer.digest), false);
    const partialName = `sha256-${bigLayer.digest.slice(7)}`;
    const partial = (await stat(join(content.ingestDir, partialName))).size;
    assert.ok(partial >= 1024 * 1024 && partial < bigLayer.size, `partial file holds ${partial} of ${bigLayer.size} bytes`);
    assert.equal(await layers.has(LayerStore.chainIds(built.images[0]?.layers.map((l) => l.diffId) ?? [])[1] as string), false);

    const ranges: Array<{ url: string; range: string | null }> = [];
    const image = await pullImage(`${reg.host}/test/big:v1`, { client: new RegistryClient({ fetchImpl: spyingFetch(ranges) }), content, layers });
    assert.deepEqual(ranges.filter((r) => r.url.endsWith(bigLayer.digest)).map((r) => r.range), [`bytes=${partial}-`]);
    assert.deepEqual(await readFile(join(layers.diffDir(image.chainIds[1] as string), 'big.bin')), big);
    assert.equal(await content.has(bigLayer.digest), true);
    assert.deepEqual(await content.listIngests(), []);
  });
});

describe('pullImage with token auth', () => {
  it('asks the token server once, for the repository pull scope, across two pulls', async (t) => {
    const tokenReg = await startRegistry({ auth: 'token' });
    t.after(() => tokenReg.stop());
    await publish(tokenReg, 'test/private', [unique('private')]);
    tokenReg.tokenRequests.length = 0;
    const authFile = join(root, 'token-auth.json');
    await writeFile(authFile, JSON.stringify({ auths: { [tokenReg.host]: { auth: Buffer.from(`${tokenReg.username}:${tokenReg.password}`).toString('base64') } } }));
    const client = new RegistryClient({ authFile });
    for (let i = 0; i < 2; i++) {
      const { content, layers } = await stores();
      await pullImage(`${tokenReg.host}/test/private:v1`, { client, content, layers });
    }
    assert.deepEqual(tokenReg.tokenRequests.map((r) => [r.scopes, r.user, r.granted]), [[['repository:test/private:pull'], 'berth', true]]);
  });
});
