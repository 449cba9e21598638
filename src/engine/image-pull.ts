/**
 * `pull`: fetch an image from its registry (../image/pull.ts does the transfer, verification
 * and unpacking) and record it under its tag and its repo digest, then collect garbage.
 * `login` and `logout` keep the credentials pull uses.
 */
import { RegistryClient, defaultAuthFile, parseReference, pullImage, type ImageManifest, type Platform, type PullEvent } from '../image/index.ts';
import type { ImageContext } from './context.ts';
import { collectGarbage, collectLeftovers } from './image-gc.ts';
import type { ImageLayer } from './image-store.ts';

export type { PullEvent };

export interface RegistryOptions {
  /** docker config.json-style credentials (default `$REGISTRY_AUTH_FILE`, `$DOCKER_CONFIG/config.json` or ~/.docker/config.json). */
  authFile?: string;
  /** Registries reached over plain HTTP (loopback ones always are). */
  insecureRegistries?: string[];
}

export interface PullOptions extends RegistryOptions {
  platform?: Platform;
  onProgress?: (event: PullEvent) => void;
  signal?: AbortSignal;
}

export interface PullOutcome {
  /** Canonical reference pulled: `docker.io/library/busybox:latest`. */
  reference: string;
  id: string;
  /** The digest to pull this image by again (`name@digest`). */
  digest: string;
  /** False when the name already pointed at this image. */
  isNew: boolean;
}

export function registryClient(opts: RegistryOptions = {}): RegistryClient {
  return new RegistryClient({
    authFile: opts.authFile ?? defaultAuthFile(),
    ...(opts.insecureRegistries ? { insecureRegistries: opts.insecureRegistries } : {}),
  });
}

export async function pull(ctx: ImageContext, imageRef: string, opts: PullOptions = {}): Promise<PullOutcome> {
  const ref = parseReference(imageRef);
  const name = ref.digest ? `${ref.name}@${ref.digest}` : `${ref.name}:${ref.tag}`;
  const before = ctx.store.find(name);
  const lease = await ctx.leases.acquireWrite(opts.signal);
  let isRecorded = false;
  try {
    const result = await pullImage(imageRef, {
      client: registryClient(opts),
      content: ctx.content,
      layers: ctx.layers,
      ...(opts.platform ? { platform: opts.platform } : {}),
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    const manifest: ImageManifest = result.manifest;
    const layers: ImageLayer[] = [];
    for (const [i, d] of manifest.layers.entries()) {
      const chainId = result.chainIds[i]!;
      const info = await ctx.layers.info(chainId);
      layers.push({ digest: d.digest, mediaType: d.mediaType, size: d.size, diffId: result.diffIds[i]!, chainId, ...(info ? { diffSize: info.size } : {}) });
    }
    // the digest the user pulls by: the index's when the tag named one
    const digest = ref.digest ?? result.repoDigest;
    ctx.store.add(
      {
        id: result.configDigest,
        manifestDigest: result.manifestDigest,
        manifestMediaType: manifest.mediaType,
        config: result.config,
        layers,
        size: layers.reduce((sum, l) => sum + (l.diffSize ?? l.size), 0),
      },
      { names: ref.digest ? [] : [name], repoDigests: [`${ref.name}@${digest}`] },
    );
    isRecorded = true;
    return { reference: ref.canonical, id: result.configDigest, digest, isNew: before?.id !== result.configDigest };
  } finally {
    lease.release();
    // What killed commands left (see image-gc.ts), and once the image is recorded, whatever no
    // image references. After a failed pull the layers it completed stay for the next pull
    // (a partial download too, for a day). A failure to collect is the next collection's to
    // retry, not this pull's.
    await (isRecorded ? collectGarbage(ctx) : collectLeftovers(ctx)).catch(() => undefined);
  }
}

/** Check the credentials with the registry and store them in the auth file. */
export async function login(registry: string, username: string, password: string, opts: RegistryOptions = {}): Promise<void> {
  await registryClient(opts).login(registry, username, password);
}

/** Forget the credentials of a registry; false when there were none. */
export async function logout(registry: string, opts: RegistryOptions = {}): Promise<boolean> {
  return registryClient(opts).logout(registry);
}
