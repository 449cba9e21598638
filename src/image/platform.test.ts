import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { BerthError } from '../common/index.ts';
import { MEDIA_TYPES, type Descriptor, type ImageIndex } from './manifest.ts';
import { formatPlatform, hostPlatform, normalizePlatform, parsePlatform, selectPlatform, type Platform } from './platform.ts';

function entry(n: number, platform?: Platform, annotations?: Record<string, string>): Descriptor {
  return {
    mediaType: MEDIA_TYPES.ociManifest,
    digest: `sha256:${String(n).repeat(64)}`,
    size: 100,
    ...(platform ? { platform } : {}),
    ...(annotations ? { annotations } : {}),
  };
}

function index(...manifests: Descriptor[]): ImageIndex {
  return { schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests };
}

describe('normalizePlatform', () => {
  it('maps kernel and distro names to OCI names with default variants', () => {
    assert.deepEqual(normalizePlatform({ os: 'Linux', architecture: 'x86_64' }), { os: 'linux', architecture: 'amd64', variant: 'v1' });
    assert.deepEqual(normalizePlatform({ os: 'linux', architecture: 'aarch64' }), { os: 'linux', architecture: 'arm64', variant: 'v8' });
    assert.deepEqual(normalizePlatform({ os: 'linux', architecture: 'arm64' }), { os: 'linux', architecture: 'arm64', variant: 'v8' });
    assert.deepEqual(normalizePlatform({ os: 'linux', architecture: 'armhf' }), { os: 'linux', architecture: 'arm', variant: 'v7' });
    assert.deepEqual(normalizePlatform({ os: 'linux', architecture: 'arm', variant: '6' }), { os: 'linux', architecture: 'arm', variant: 'v6' });
    assert.deepEqual(normalizePlatform({ os: 'linux', architecture: 's390x' }), { os: 'linux', architecture: 's390x' });
  });

  it('formats as docker prints platforms', () => {
    assert.equal(formatPlatform(normalizePlatform({ os: 'linux', architecture: 'x86_64' })), 'linux/amd64');
    assert.equal(formatPlatform(normalizePlatform({ os: 'linux', architecture: 'aarch64' })), 'linux/arm64/v8');
  });
});

describe('parsePlatform', () => {
  it('reads --platform values', () => {
    assert.deepEqual(parsePlatform('linux/arm64'), { os: 'linux', architecture: 'arm64', variant: 'v8' });
    assert.deepEqual(parsePlatform('linux/arm/v7'), { os: 'linux', architecture: 'arm', variant: 'v7' });
    assert.deepEqual(parsePlatform('linux/x86_64'), { os: 'linux', architecture: 'amd64', variant: 'v1' });
    assert.deepEqual(parsePlatform('arm64'), { os: 'linux', architecture: 'arm64', variant: 'v8' });
  });

  it('refuses malformed values with a hint', () => {
    assert.throws(() => parsePlatform('linux//v7'), (err: BerthError) => err.code === 'INVALID_ARGUMENT' && /use os\/arch/.test(err.hint ?? ''));
    assert.throws(() => parsePlatform('a/b/c/d'), /too many components/);
    assert.throws(() => parsePlatform('toaster'), /unknown operating system or architecture/);
  });
});

describe('selectPlatform', () => {
  const amd64 = entry(1, { os: 'linux', architecture: 'amd64' });
  const arm64 = entry(2, { os: 'linux', architecture: 'arm64', variant: 'v8' });
  const armv6 = entry(3, { os: 'linux', architecture: 'arm', variant: 'v6' });
  const armv7 = entry(4, { os: 'linux', architecture: 'arm', variant: 'v7' });
  const attestation = entry(5, { os: 'unknown', architecture: 'unknown' }, { 'vnd.docker.reference.type': 'attestation-manifest' });

  it('picks the entry of the asked platform, matching aliases and default variants', () => {
    const idx = index(attestation, amd64, arm64, armv6, armv7);
    assert.equal(selectPlatform(idx, { os: 'linux', architecture: 'x86_64' }), amd64);
    assert.equal(selectPlatform(idx, { os: 'linux', architecture: 'aarch64' }), arm64);
    assert.equal(selectPlatform(index(entry(6, { os: 'linux', architecture: 'arm64' })), { os: 'linux', architecture: 'arm64', variant: 'v8' })?.digest, `sha256:${'6'.repeat(64)}`);
    assert.equal(selectPlatform(idx, { os: 'linux', architecture: 'arm', variant: 'v7' }), armv7);
  });

  it('falls back to an older compatible variant (arm/v7 runs arm/v6)', () => {
    assert.equal(selectPlatform(index(amd64, armv6), { os: 'linux', architecture: 'arm', variant: 'v7' }), armv6);
    assert.throws(() => selectPlatform(index(armv7), { os: 'linux', architecture: 'arm', variant: 'v6' }), /no matching manifest/);
  });

  it('defaults to this machine and fails listing what the index has', () => {
    const host = hostPlatform();
    assert.equal(host.os, 'linux');
    assert.equal(selectPlatform(index(amd64, arm64)).platform?.architecture, host.architecture);
    assert.throws(() => selectPlatform(index(amd64, arm64, attestation), { os: 'linux', architecture: 's390x' }), (err: BerthError) => {
      assert.equal(err.code, 'NOT_FOUND');
      assert.equal(err.message, 'no matching manifest for linux/s390x in the manifest list entries (available: linux/amd64, linux/arm64/v8)');
      return true;
    });
  });

  it('takes the one entry of an index that names no platform', () => {
    const only = entry(7);
    assert.equal(selectPlatform(index(only), { os: 'linux', architecture: 'amd64' }), only);
  });
});
