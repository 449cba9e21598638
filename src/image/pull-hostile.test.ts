/**
 * pullImage against a registry that misbehaves (test/fixtures/registry.ts `startFakeRegistry`):
 * documents larger than berth reads, Content-Length that lies, bodies cut short, redirects
 * out of HTTP. Each must fail with an error that names the object and the problem, and leave
 * nothing in the stores.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BerthError, RegistryError } from '../common/index.ts';
import { LayerStore } from '../storage/index.ts';
import { buildImage, sendBytes, startFakeRegistry, type FakeRegistry, type ImageDocuments } from '../../test/fixtures/registry.ts';
import { ContentStore } from './content-store.ts';
import { MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES } from './limits.ts';
import { pullImage } from './pull.ts';
import { RegistryClient } from './registry/client.ts';

const root = await mkdtemp(join(tmpdir(), 'berth-test-pull-hostile-'));
let reg: FakeRegistry;
let counter = 0;

before(async () => {
  reg = await startFakeRegistry();
});
after(async () => {
  await reg?.stop();
  await rm(root, { recursive: true, force: true });
});

function stores(): { content: ContentStore; layers: LayerStore } {
  const dir = join(root, `stores-${++counter}`);
  return { content: new ContentStore(join(dir, 'content')), layers: new LayerStore(join(dir, 'storage')) };
}

function client(): RegistryClient {
  return new RegistryClient({ maxRetries: 1, retryBaseDelayMs: 1, retryMaxDelayMs: 5 });
}

/** A small valid image under a fresh repository name. */
function image(extra: Record<string, unknown> = {}): { repo: string; docs: ImageDocuments } {
  const repo = `hostile/app${++counter}`;
  return { repo, docs: buildImage({ layers: [{ entries: [{ name: 'hello', data: `hello ${counter}\n` }] }], config: extra }) };
}

/** A config document of `size` bytes (valid JSON: the padding is a label). */
function bigConfig(size: number, diffIds: string[]): Buffer {
  const head = { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds }, config: { Labels: { pad: '' } } };
  const base = JSON.stringify(head).length;
  head.config.Labels.pad = 'x'.repeat(size - base);
  return Buffer.from(JSON.stringify(head));
}

async function assertNothingStored(s: { content: ContentStore; layers: LayerStore }): Promise<void> {
  assert.deepEqual(await s.content.list(), [], 'no blob stored');
  assert.deepEqual((await s.content.listIngests()).filter((n) => n.startsWith('.tmp-')), [], 'no temp file left');
  assert.deepEqual(await s.layers.list(), [], 'no layer unpacked');
  const overlay = await readdir(s.layers.overlayDir).catch(() => [] as string[]);
  assert.deepEqual(overlay.filter((n) => n.startsWith('.tmp-')), [], 'no temp layer dir left');
}

function requested(path: string): boolean {
  return reg.requests.some((r) => r === `GET ${path}`);
}

describe('pullImage from a hostile registry', () => {
  it('refuses an image config larger than 8 MiB before downloading it, storing nothing', async () => {
    const repo = `hostile/bigconfig${++counter}`;
    const layerOnly = buildImage({ layers: [{ entries: [{ name: 'a', data: 'a' }] }] });
    const docs = buildImage({ layers: [{ entries: [{ name: 'a', data: 'a' }] }], configBytes: bigConfig(MAX_CONFIG_BYTES + 1024, layerOnly.layers.map((l) => l.diffId)) });
    reg.serve(repo, 'v1', docs);
    const s = stores();
    await assert.rejects(pullImage(`${reg.host}/${repo}:v1`, { client: client(), ...s }), (err: unknown) => {
      assert.ok(err instanceof BerthError);
      assert.equal(err.code, 'INVALID_ARGUMENT');
      assert.match(err.message, new RegExp(`^the image config ${docs.configDigest} of ${reg.host}/${repo}:v1 is ${docs.config.length} bytes, more than the 8 MiB berth reads$`));
      return true;
    });
    assert.equal(requested(`/v2/${repo}/blobs/${docs.configDigest}`), false, 'the config was not even requested');
    await assertNothingStored(s);
  });

  it('refuses a blob whose Content-Length says more than its descriptor, before reading its body', async () => {
    const { repo, docs } = image();
    const open: Array<() => void> = [];
    reg.route(`/v2/${repo}/blobs/${docs.configDigest}`, (_req, res) => {
      res.writeHead(200, { 'Content-Length': String(200 * 1024 * 1024) });
      res.write(docs.config); // then nothing: a client that waits for the rest waits forever
      open.push(() => res.destroy());
    });
    reg.serve(repo, 'v1', docs);
    const s = stores();
    try {
      await assert.rejects(pullImage(`${reg.host}/${repo}:v1`, { client: client(), ...s }), (err: unknown) => {
        assert.ok(err instanceof RegistryError);
        assert.equal(err.code, 'INVALID_ARGUMENT');
        assert.match(err.message, new RegExp(`^registry ${reg.host} answered blob ${docs.configDigest} of ${reg.host}/${repo} with 209715200 bytes, but its descriptor says ${docs.config.length}$`));
        return true;
      });
    } finally {
      for (const close of open) close();
    }
    await assertNothingStored(s);
  });

  it('stops reading a blob at its descriptor size when the registry sends more without a Content-Length', async () => {
    const { repo, docs } = image();
    let sent = 0;
    reg.route(`/v2/${repo}/blobs/${docs.configDigest}`, (_req, res) => {
      res.writeHead(200); // chunked: no Content-Length
      const chunk = Buffer.alloc(1 << 20, 0x20);
      const pump = () => {
        while (sent < 64 << 20 && res.write(sent === 0 ? docs.config : chunk)) sent += sent === 0 ? docs.config.length : chunk.length;
        if (sent < 64 << 20) res.once('drain', pump);
        else res.end();
      };
      res.on('close', () => (sent = Infinity));
      pump();
    });
    reg.serve(repo, 'v1', docs);
    const s = stores();
    await assert.rejects(pullImage(`${reg.host}/${repo}:v1`, { client: client(), ...s }), /^BerthError: size mismatch for sha256:[a-f0-9]{64}: got \d+ bytes, expected \d+$/);
    assert.ok(sent === Infinity || sent < 64 << 20, 'berth hung up instead of reading all 64 MiB');
    await assertNothingStored(s);
  });

  it('refuses a manifest over 4 MiB: by its Content-Length before reading it, and without one once 4 MiB have come', async () => {
    const huge = Buffer.alloc(MAX_MANIFEST_BYTES + 1, 0x20);
    const open: Array<() => void> = [];
    reg.route('/v2/hostile/declared/manifests/v1', (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json', 'Content-Length': String(huge.length) });
      res.write('{'); // and nothing more
      open.push(() => res.destroy());
    });
    reg.route('/v2/hostile/chunked/manifests/v1', (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' });
      res.end(huge);
    });
    try {
      for (const [repo, size] of [['declared', String(huge.length)], ['chunked', '\\d+']] as const) {
        const s = stores();
        await assert.rejects(pullImage(`${reg.host}/hostile/${repo}:v1`, { client: client(), ...s }), (err: unknown) => {
          assert.ok(err instanceof BerthError);
          assert.equal(err.code, 'INVALID_ARGUMENT');
          assert.match(err.message, new RegExp(`^the manifest of ${reg.host}/hostile/${repo}:v1 is ${size} bytes, more than the 4 MiB berth reads$`));
          return true;
        });
        await assertNothingStored(s);
      }
    } finally {
      for (const close of open) close();
    }
  });

  it('refuses an index entry whose descriptor is over 4 MiB before fetching it', async () => {
    const { repo, docs } = image();
    reg.serve(repo, 'v1', docs);
    const index = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: docs.manifestDigest, size: MAX_MANIFEST_BYTES + 1, platform: { os: 'linux', architecture: 'amd64' } }],
    }));
    reg.route(`/v2/${repo}/manifests/multi`, sendBytes(index, { 'Content-Type': 'application/vnd.oci.image.index.v1+json' }));
    const s = stores();
    await assert.rejects(pullImage(`${reg.host}/${repo}:multi`, { client: client(), ...s, platform: { os: 'linux', architecture: 'amd64' } }),
      new RegExp(`the manifest ${docs.manifestDigest} of ${reg.host}/${repo}:multi is ${MAX_MANIFEST_BYTES + 1} bytes, more than the 4 MiB berth reads`));
    assert.equal(requested(`/v2/${repo}/manifests/${docs.manifestDigest}`), false);
    await assertNothingStored(s);
  });

  it('names the registry and the blob when the connection breaks mid-body, storing nothing', async () => {
    const { repo, docs } = image();
    reg.route(`/v2/${repo}/blobs/${docs.configDigest}`, (_req, res) => {
      res.writeHead(200, { 'Content-Length': String(docs.config.length) });
      res.write(docs.config.subarray(0, 10), () => res.socket?.destroy());
    });
    reg.serve(repo, 'v1', docs);
    const s = stores();
    await assert.rejects(pullImage(`${reg.host}/${repo}:v1`, { client: client(), ...s }), (err: unknown) => {
      assert.ok(err instanceof RegistryError, String(err));
      assert.equal(err.code, 'UNAVAILABLE');
      assert.match(err.message, new RegExp(`^the connection to ${reg.host} broke while downloading blob ${docs.configDigest} of ${reg.host}/${repo}, after \\d+ bytes \\(aborted: ECONNRESET\\)$`));
      return true;
    });
    await assertNothingStored(s);
  });

  it('names the manifest when the connection breaks while it is read', async () => {
    const { repo, docs } = image();
    reg.route(`/v2/${repo}/manifests/v1`, (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json', 'Content-Length': String(docs.manifest.length) });
      res.write(docs.manifest.subarray(0, 20), () => res.socket?.destroy());
    });
    const s = stores();
    await assert.rejects(pullImage(`${reg.host}/${repo}:v1`, { client: client(), ...s }), (err: unknown) => {
      assert.ok(err instanceof RegistryError, String(err));
      assert.equal(err.code, 'UNAVAILABLE');
      assert.match(err.message, new RegExp(`^the connection to ${reg.host} broke while downloading the manifest of ${reg.host}/${repo}:v1, after \\d+ bytes \\(terminated: other side closed\\)$`));
      return true;
    });
    await assertNothingStored(s);
  });

  it('resumes a layer whose connection breaks, and names the break once retries run out', async () => {
    const { repo, docs } = image();
    const layer = docs.layers[0]!;
    const ranges: Array<string | undefined> = [];
    reg.route(`/v2/${repo}/blobs/${layer.digest}`, (req, res) => {
      ranges.push(req.headers.range);
      res.writeHead(200, { 'Content-Length': String(layer.data.length) });
      res.write(layer.data.subarray(0, 5), () => res.socket?.destroy());
    });
    reg.serve(repo, 'v1', docs);
    const s = stores();
    await assert.rejects(pullImage(`${reg.host}/${repo}:v1`, { client: client(), ...s }), (err: unknown) => {
      assert.ok(err instanceof RegistryError, String(err));
      assert.equal(err.code, 'UNAVAILABLE');
      assert.match(err.message, new RegExp(`^the connection to ${reg.host} broke while downloading blob ${layer.digest} of ${reg.host}/${repo}, after \\d+ bytes \\(aborted`));
      return true;
    });
    assert.deepEqual(ranges, [undefined, 'bytes=5-', 'bytes=5-', 'bytes=5-'], 'the first try, then three resumed from the partial file');
    assert.deepEqual(await s.content.listIngests(), [`sha256-${layer.digest.slice(7)}`], 'the partial file is kept for the next pull to resume');
    assert.deepEqual(await s.layers.list(), []);
  });

  for (const location of ['file:///etc/passwd', 'ftp://127.0.0.1/blob']) {
    it(`refuses a redirect to ${location.split(':')[0]}: without following it`, async () => {
      const { repo, docs } = image();
      reg.route(`/v2/${repo}/blobs/${docs.configDigest}`, (_req, res) => void res.writeHead(307, { Location: location }).end());
      reg.serve(repo, 'v1', docs);
      const s = stores();
      await assert.rejects(pullImage(`${reg.host}/${repo}:v1`, { client: client(), ...s }), (err: unknown) => {
        assert.ok(err instanceof RegistryError, String(err));
        assert.equal(err.code, 'UNAVAILABLE');
        assert.equal(err.message, `${reg.host} redirected GET /v2/${repo}/blobs/${docs.configDigest} to ${JSON.stringify(location)}, which is not an HTTP(S) URL`);
        return true;
      });
      await assertNothingStored(s);
    });
  }
});
