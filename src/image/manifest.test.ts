import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { BerthError } from '../common/index.ts';
import { MEDIA_TYPES, checkImageManifest, layerCompression, parseImageConfig, parseManifest } from './manifest.ts';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;

function dockerManifest(overrides: Record<string, unknown> = {}): string {
  return JSON.stringify({
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.dockerManifest,
    config: { mediaType: MEDIA_TYPES.dockerConfig, digest: D1, size: 100 },
    layers: [{ mediaType: MEDIA_TYPES.dockerLayerGzip, digest: D2, size: 2000 }],
    ...overrides,
  });
}

describe('parseManifest', () => {
  it('reads a docker v2 schema 2 manifest', () => {
    const parsed = parseManifest(dockerManifest());
    assert.equal(parsed.kind, 'manifest');
    if (parsed.kind !== 'manifest') return;
    assert.equal(parsed.manifest.mediaType, MEDIA_TYPES.dockerManifest);
    assert.deepEqual(parsed.manifest.layers, [{ mediaType: MEDIA_TYPES.dockerLayerGzip, digest: D2, size: 2000 }]);
    checkImageManifest(parsed.manifest);
  });

  it('reads a docker manifest list and an OCI index with platforms', () => {
    for (const mediaType of [MEDIA_TYPES.dockerManifestList, MEDIA_TYPES.ociIndex]) {
      const parsed = parseManifest(JSON.stringify({
        schemaVersion: 2,
        mediaType,
        manifests: [{ mediaType: MEDIA_TYPES.ociManifest, digest: D1, size: 5, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } }],
      }));
      assert.equal(parsed.kind, 'index');
      if (parsed.kind === 'index') assert.deepEqual(parsed.index.manifests[0]?.platform, { os: 'linux', architecture: 'arm64', variant: 'v8' });
    }
  });

  it('takes the type from Content-Type or the shape when the document has no mediaType (OCI allows that)', () => {
    const bare = JSON.stringify({ schemaVersion: 2, config: { mediaType: MEDIA_TYPES.ociConfig, digest: D1, size: 1 }, layers: [] });
    const parsed = parseManifest(bare);
    assert.equal(parsed.kind === 'manifest' && parsed.manifest.mediaType, MEDIA_TYPES.ociManifest);
    const index = parseManifest(JSON.stringify({ schemaVersion: 2, manifests: [] }), `${MEDIA_TYPES.dockerManifestList}; charset=utf-8`);
    assert.equal(index.kind === 'index' && index.index.mediaType, MEDIA_TYPES.dockerManifestList);
  });

  it('refuses schema 1, unknown types, bad JSON and malformed descriptors with clear errors', () => {
    assert.throws(() => parseManifest('{"schemaVersion":1,"name":"x"}'), (err: BerthError) => err.code === 'NOT_IMPLEMENTED' && /schema 1/.test(err.message));
    assert.throws(() => parseManifest('{"schemaVersion":2,"mediaType":"application/x-nope"}'), /unsupported manifest media type "application\/x-nope"/);
    assert.throws(() => parseManifest('{not json'), /invalid manifest: not JSON/);
    assert.throws(() => parseManifest(dockerManifest({ layers: [{ mediaType: MEDIA_TYPES.dockerLayerGzip, digest: 'sha256:xyz', size: 1 }] })), /invalid image manifest layers\[0\]: descriptor digest "sha256:xyz" is malformed/);
    assert.throws(() => parseManifest(dockerManifest({ layers: [{ mediaType: MEDIA_TYPES.dockerLayerGzip, digest: D2, size: -1 }] })), /size -1 is not a non-negative integer/);
    assert.throws(() => parseManifest(dockerManifest({ schemaVersion: 3 })), /schemaVersion 3 is not 2/);
  });

  it('refuses artifacts and foreign layers when checked as an image', () => {
    const artifact = parseManifest(dockerManifest({ config: { mediaType: 'application/vnd.cncf.helm.config.v1+json', digest: D1, size: 1 } }));
    assert.throws(() => artifact.kind === 'manifest' && checkImageManifest(artifact.manifest), /not a container image config/);
    const foreign = parseManifest(dockerManifest({ layers: [{ mediaType: MEDIA_TYPES.dockerLayerForeignGzip, digest: D2, size: 1 }] }));
    assert.throws(() => foreign.kind === 'manifest' && checkImageManifest(foreign.manifest), /foreign layer/);
  });
});

describe('layerCompression', () => {
  it('knows gzip, zstd and plain tar layer types, docker and OCI', () => {
    assert.equal(layerCompression(MEDIA_TYPES.dockerLayerGzip), 'gzip');
    assert.equal(layerCompression(MEDIA_TYPES.ociLayerGzip), 'gzip');
    assert.equal(layerCompression(MEDIA_TYPES.ociLayerZstd), 'zstd');
    assert.equal(layerCompression(MEDIA_TYPES.ociLayerTar), 'none');
    assert.equal(layerCompression(MEDIA_TYPES.ociLayerNondistributableGzip), 'gzip');
    assert.equal(layerCompression(MEDIA_TYPES.ociConfig), undefined);
  });
});

describe('parseImageConfig', () => {
  it('reads an image config with its diff IDs', () => {
    const config = parseImageConfig(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['sh'] }, rootfs: { type: 'layers', diff_ids: [D1, D2] } }));
    assert.deepEqual(config.rootfs.diff_ids, [D1, D2]);
    assert.deepEqual(config.config?.Cmd, ['sh']);
  });

  it('refuses a config without rootfs layers or with a malformed diff ID', () => {
    assert.throws(() => parseImageConfig('{"architecture":"amd64","os":"linux"}'), /"rootfs" must be/);
    assert.throws(() => parseImageConfig(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: ['nope'] } })), /rootfs.diff_ids\[0\] "nope" is malformed/);
  });

  it('refuses runtime fields a container cannot be made of, naming the field (a hostile image fails at pull, not at run)', () => {
    const withConfig = (config: unknown) => JSON.stringify({ architecture: 'amd64', os: 'linux', config, rootfs: { type: 'layers', diff_ids: [D1] } });
    const cases: [unknown, RegExp][] = [
      [{ Env: [5] }, /config\.Env must be a list of strings/],
      [{ Env: 'A=1' }, /config\.Env must be a list of strings/],
      [{ Env: ['A=1\u0000B=2'] }, /config\.Env must be a list of strings/],
      [{ Entrypoint: 'sh' }, /config\.Entrypoint must be a list of strings/],
      [{ Cmd: [['sh']] }, /config\.Cmd must be a list of strings/],
      [{ User: 0 }, /config\.User must be a string/],
      [{ WorkingDir: ['/'] }, /config\.WorkingDir must be a string/],
      [{ Labels: { a: 1 } }, /config\.Labels must map names to strings/],
      [{ Volumes: ['/data'] }, /config\.Volumes must be an object/],
    ];
    for (const [config, message] of cases) assert.throws(() => parseImageConfig(withConfig(config)), message, JSON.stringify(config));
    // null lists are docker's "none"
    assert.deepEqual(parseImageConfig(withConfig({ Entrypoint: null, Cmd: null, Env: ['A=1'] })).config?.Env, ['A=1']);
    assert.throws(() => parseImageConfig(JSON.stringify({ os: 'linux', rootfs: { type: 'layers', diff_ids: [] } })), /no "architecture"/);
  });

  it('refuses a config when its history holds a non-object or it nests deeper than 64 levels', () => {
    const base = { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [D1] } };
    assert.throws(() => parseImageConfig(JSON.stringify({ ...base, history: [null] })), /^BerthError: invalid image config: history\[0\] is not an object$/);
    assert.throws(() => parseImageConfig(JSON.stringify({ ...base, created: 5 })), /^BerthError: invalid image config: "created" is not a string$/);
    const deep = `{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"x":${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
    assert.throws(() => parseImageConfig(deep), /^BerthError: invalid image config: JSON nested more than 64 levels deep$/);
  });
});
