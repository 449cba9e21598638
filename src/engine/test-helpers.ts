/**
 * Helpers for the engine's unit tests: a temp state root (`berth-test-*`, removed after) and
 * image records made up without any blob.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { openImageContext, type ImageContext, type ImageUser } from './context.ts';
import type { NewImage } from './image-store.ts';

export function tempRoot(): { root: string; cleanup(): void } {
  const root = mkdtempSync(join(tmpdir(), 'berth-test-engine-'));
  return { root, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

export function testContext(opts: { inUse?: Map<string, ImageUser> } = {}): { ctx: ImageContext; cleanup(): void } {
  const { root, cleanup } = tempRoot();
  const ctx = openImageContext({ root, isImageInUse: (id) => opts.inUse?.get(id) });
  return {
    ctx,
    cleanup: () => {
      ctx.db.close();
      cleanup();
    },
  };
}

export function digestOf(text: string): string {
  return `sha256:${createHash('sha256').update(text).digest('hex')}`;
}

/** A record for an image that exists only in the database. */
export function fakeImage(seed: string, opts: { created?: string; labels?: Record<string, string> } = {}): NewImage {
  const diffId = digestOf(`layer-${seed}`);
  return {
    id: digestOf(`config-${seed}`),
    manifestDigest: digestOf(`manifest-${seed}`),
    manifestMediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: {
      architecture: 'amd64',
      os: 'linux',
      created: opts.created ?? '2024-01-01T00:00:00Z',
      config: { Cmd: ['sh'], ...(opts.labels ? { Labels: opts.labels } : {}) },
      rootfs: { type: 'layers', diff_ids: [diffId] },
      history: [{ created: '2024-01-01T00:00:00Z', created_by: `made ${seed}` }],
    },
    layers: [{ digest: diffId, mediaType: 'application/vnd.oci.image.layer.v1.tar', size: 100, diffId, chainId: diffId, diffSize: 90 }],
    size: 90,
  };
}
