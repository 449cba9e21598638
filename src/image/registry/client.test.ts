import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BerthError, RegistryError } from '../../common/index.ts';
import { startRegistry, writeOciLayout, type BuiltImage, type TestRegistry } from '../../../test/fixtures/registry.ts';
import { parseReference } from '../reference.ts';
import { RegistryClient } from './client.ts';

const FILES = [{ name: 'etc/', type: 'dir' as const }, { name: 'etc/motd', data: 'hello from the registry\n' }];

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

function sha256(data: Uint8Array): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'berth-test-client-'));
}

/** A registry with `test/app:v1` pushed; `auth` as asked. */
async function seeded(auth: 'none' | 'token' | 'basic', dir: string): Promise<{ reg: TestRegistry; image: BuiltImage }> {
  const reg = await startRegistry({ auth });
  const layout = join(dir, `layout-${auth}`);
  const { images } = await writeOciLayout(layout, 'v1', [{ layers: [{ entries: FILES }] }]);
  await reg.push(layout, 'test/app:v1');
  reg.tokenRequests.length = 0;
  return { reg, image: images[0] as BuiltImage };
}

async function authFileFor(dir: string, reg: TestRegistry, password = reg.password): Promise<string> {
  const path = join(dir, `auth-${reg.auth}-${password.length}.json`);
  await writeFile(path, JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from(`${reg.username}:${password}`).toString('base64') } } }));
  return path;
}

describe('RegistryClient against an anonymous registry', () => {
  let dir: string;
  let reg: TestRegistry;
  let image: BuiltImage;
  before(async () => {
    dir = await tempDir();
    ({ reg, image } = await seeded('none', dir));
  });
  after(async () => {
    await reg?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('gets a manifest by tag and by digest, verified', async () => {
    const client = new RegistryClient();
    const byTag = await client.getManifest(parseReference(`${reg.host}/test/app:v1`));
    assert.equal(byTag.digest, image.manifestDigest);
    assert.equal(byTag.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    assert.equal(sha256(byTag.bytes), image.manifestDigest);
    const byDigest = await client.getManifest(parseReference(`${reg.host}/test/app@${image.manifestDigest}`));
    assert.deepEqual(byDigest.bytes, byTag.bytes);
  });

  it('refuses a manifest that does not match Docker-Content-Digest or the digest asked for', async () => {
    const lying = (async (input: string | URL | Request, init?: RequestInit) => {
      const res = await fetch(input, init);
      if (!String(input).includes('/manifests/')) return res;
      const headers = new Headers(res.headers);
      headers.set('docker-content-digest', `sha256:${'0'.repeat(64)}`);
      return new Response(await res.arrayBuffer(), { status: res.status, headers });
    }) as typeof fetch;
    const client = new RegistryClient({ fetchImpl: lying });
    await assert.rejects(client.getManifest(parseReference(`${reg.host}/test/app:v1`)), (err: BerthError) => {
      assert.equal(err.code, 'INVALID_ARGUMENT');
      assert.match(err.message, /manifest digest mismatch for 127\.0\.0\.1:\d+\/test\/app:v1: expected sha256:0{64}, got sha256:/);
      return true;
    });
    const tampering = (async (input: string | URL | Request, init?: RequestInit) => {
      const res = await fetch(input, init);
      const body = Buffer.from(await res.arrayBuffer());
      return new Response(String(input).includes('/manifests/') ? Buffer.concat([body, Buffer.from(' ')]) : body, { status: res.status, headers: res.headers });
    }) as typeof fetch;
    const client2 = new RegistryClient({ fetchImpl: tampering });
    await assert.rejects(client2.getManifest(parseReference(`${reg.host}/test/app@${image.manifestDigest}`)), /manifest digest mismatch/);
  });

  it('says "manifest unknown" for an unknown tag and "blob unknown" for an unknown blob', async () => {
    const client = new RegistryClient();
    await assert.rejects(client.getManifest(parseReference(`${reg.host}/test/app:nope`)), (err: RegistryError) => {
      assert.equal(err.code, 'NOT_FOUND');
      assert.equal(err.status, 404);
      assert.match(err.message, new RegExp(`^manifest unknown: ${reg.host.replaceAll('.', '\\.')}/test/app:nope`));
      return true;
    });
    await assert.rejects(client.fetchBlob(parseReference(`${reg.host}/test/app`), `sha256:${'e'.repeat(64)}`), (err: RegistryError) => {
      assert.equal(err.code, 'NOT_FOUND');
      assert.match(err.message, /^blob unknown: sha256:e{64}/);
      return true;
    });
  });

  it('fetches a blob whole or from an offset (Range), also when the server ignores Range', async () => {
    const ref = parseReference(`${reg.host}/test/app`);
    const layer = image.layers[0] as BuiltImage['layers'][number];
    const whole = await collect(await new RegistryClient().fetchBlob(ref, layer.digest));
    assert.equal(sha256(whole), layer.digest);
    const ranges: Array<string | null> = [];
    const spying = (async (input: string | URL | Request, init?: RequestInit) => {
      ranges.push(new Headers(init?.headers).get('range'));
      return fetch(input, init);
    }) as typeof fetch;
    const tail = await collect(await new RegistryClient({ fetchImpl: spying }).fetchBlob(ref, layer.digest, { offset: 10 }));
    assert.deepEqual(ranges, ['bytes=10-']);
    assert.deepEqual(tail, whole.subarray(10));
    const ignoring = (async (input: string | URL | Request, init?: RequestInit) => {
      const headers = new Headers(init?.headers);
      headers.delete('range');
      return fetch(input, { ...init, headers });
    }) as typeof fetch;
    const tail2 = await collect(await new RegistryClient({ fetchImpl: ignoring }).fetchBlob(ref, layer.digest, { offset: 10 }));
    assert.deepEqual(tail2, whole.subarray(10));
  });

  it('keeps a blob\'s body readable through a garbage collection before it is read (fetch transport)', async () => {
    // undici cancels the body of a Response that was collected while the body was neither
    // locked nor read: fetchBlob hands out the body only
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const ref = parseReference(`${reg.host}/test/app`);
    const layer = image.layers[0] as BuiltImage['layers'][number];
    const body = await new RegistryClient({ fetchImpl: (input, init) => fetch(input, init) }).fetchBlob(ref, layer.digest);
    for (let i = 0; i < 3; i++) {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 10)); // finalizers run between tasks
    }
    assert.equal(sha256(await collect(body)), layer.digest);
  });

  it('pushes a blob and a manifest that can be read back', async () => {
    const client = new RegistryClient();
    const ref = parseReference(`${reg.host}/test/pushed:one`);
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
    const configDigest = await client.pushBlob(ref, config);
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: [],
    }));
    const digest = await client.pushManifest(ref, manifest, 'application/vnd.oci.image.manifest.v1+json');
    assert.equal((await client.getManifest(ref)).digest, digest);
    assert.deepEqual(await collect(await client.fetchBlob(ref, configDigest)), config);
  });
});

describe('RegistryClient with bearer token auth', () => {
  let dir: string;
  let reg: TestRegistry;
  let image: BuiltImage;
  before(async () => {
    dir = await tempDir();
    ({ reg, image } = await seeded('token', dir));
  });
  after(async () => {
    await reg?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('fetches one token for the repository pull scope and reuses it', async () => {
    const client = new RegistryClient({ authFile: await authFileFor(dir, reg) });
    const ref = parseReference(`${reg.host}/test/app:v1`);
    await client.getManifest(ref);
    await client.getManifest(ref);
    await collect(await client.fetchBlob(ref, image.configDigest));
    assert.equal(client.tokenRequests, 1);
    assert.deepEqual(reg.tokenRequests, [{ scopes: ['repository:test/app:pull'], service: 'berth-test-registry', user: 'berth', granted: true }]);
  });

  it('is refused without credentials or with wrong ones, with a login hint', async () => {
    const ref = parseReference(`${reg.host}/test/app:v1`);
    for (const client of [new RegistryClient(), new RegistryClient({ authFile: await authFileFor(dir, reg, 'wrong') })]) {
      await assert.rejects(client.getManifest(ref), (err: BerthError) => {
        assert.equal(err.code, 'PERMISSION_DENIED');
        assert.equal(err.hint, `berth login ${reg.host}`);
        return true;
      });
    }
  });

  it('logs in (checking the password with the token server) and out', async () => {
    const authFile = join(dir, 'login', 'config.json');
    const client = new RegistryClient({ authFile });
    await assert.rejects(client.login(reg.host, reg.username, 'wrong'), (err: BerthError) => err.code === 'PERMISSION_DENIED');
    await assert.rejects(stat(authFile), { code: 'ENOENT' });
    await client.login(reg.host, reg.username, reg.password);
    assert.equal((await client.getManifest(parseReference(`${reg.host}/test/app:v1`))).digest, image.manifestDigest);
    assert.equal(await client.logout(reg.host), true);
    await assert.rejects(client.getManifest(parseReference(`${reg.host}/test/app:v1`)), (err: BerthError) => err.code === 'PERMISSION_DENIED');
  });
});

describe('RegistryClient with basic auth', () => {
  let dir: string;
  let reg: TestRegistry;
  let image: BuiltImage;
  before(async () => {
    dir = await tempDir();
    ({ reg, image } = await seeded('basic', dir));
  });
  after(async () => {
    await reg?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('sends the credentials of the auth file', async () => {
    const client = new RegistryClient({ authFile: await authFileFor(dir, reg) });
    assert.equal((await client.getManifest(parseReference(`${reg.host}/test/app:v1`))).digest, image.manifestDigest);
    assert.equal(client.tokenRequests, 0);
    await assert.rejects(new RegistryClient().getManifest(parseReference(`${reg.host}/test/app:v1`)), (err: BerthError) => {
      assert.equal(err.code, 'PERMISSION_DENIED');
      assert.equal(err.hint, `berth login ${reg.host}`);
      return true;
    });
  });

  it('login writes the auth file (0600) only for good credentials, logout removes the entry', async () => {
    const authFile = join(dir, 'basic-login', 'config.json');
    const client = new RegistryClient({ authFile });
    await assert.rejects(client.login(reg.host, reg.username, 'wrong'), /refused the credentials of "berth"/);
    await assert.rejects(stat(authFile), { code: 'ENOENT' });
    await client.login(`http://${reg.host}/`, reg.username, reg.password);
    assert.equal((await stat(authFile)).mode & 0o777, 0o600);
    const doc = JSON.parse(await readFile(authFile, 'utf8'));
    assert.deepEqual(doc.auths, { [reg.host]: { auth: Buffer.from(`${reg.username}:${reg.password}`).toString('base64') } });
    assert.equal((await client.getManifest(parseReference(`${reg.host}/test/app:v1`))).digest, image.manifestDigest);
    assert.equal(await client.logout(reg.host), true);
    assert.deepEqual(JSON.parse(await readFile(authFile, 'utf8')).auths, {});
    assert.equal(await client.logout(reg.host), false);
  });
});

describe('RegistryClient redirects and retries', () => {
  const servers: Server[] = [];
  after(async () => {
    await Promise.all(servers.map((s) => new Promise((done) => s.close(done))));
  });

  async function serve(handler: Parameters<typeof createServer>[1]): Promise<string> {
    const server = createServer(handler);
    servers.push(server);
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    return `127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  it('follows a redirect to another host without sending it the credentials, and retries 503', async () => {
    const blob = Buffer.from('blob bytes from the storage backend');
    const digest = sha256(blob);
    const seenByStorage: IncomingHttpHeaders[] = [];
    const storage = await serve((req, res) => {
      seenByStorage.push(req.headers);
      res.end(blob);
    });
    let unavailable = 2;
    const creds = `Basic ${Buffer.from('u:p').toString('base64')}`;
    const registry = await serve((req, res) => {
      if (req.headers.authorization !== creds) {
        res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="test"' }).end();
      } else if (unavailable-- > 0) {
        res.writeHead(503, { 'Retry-After': '0' }).end();
      } else {
        res.writeHead(307, { Location: `http://${storage}/bucket/${digest}?sig=1` }).end();
      }
    });
    const dir = await tempDir();
    try {
      const authFile = join(dir, 'auth.json');
      await writeFile(authFile, JSON.stringify({ auths: { [registry]: { auth: Buffer.from('u:p').toString('base64') } } }));
      const client = new RegistryClient({ authFile, retryBaseDelayMs: 1 });
      const data = await collect(await client.fetchBlob(parseReference(`${registry}/a/b`), digest));
      assert.deepEqual(data, blob);
      assert.equal(seenByStorage.length, 1);
      assert.equal(seenByStorage[0]?.authorization, undefined);
      assert.equal(unavailable, -1, 'both 503s were retried');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
