/**
 * Unpacked layers, one directory per chain ID, shared by every image that uses the layer:
 *
 *   <rootDir>/overlay/<chainIdHex>/diff        the layer's files (overlay format: whiteouts as 0:0 devices)
 *   <rootDir>/overlay/<chainIdHex>/link        the short link name (see overlay.ts)
 *   <rootDir>/overlay/<chainIdHex>/layer.json  {version, chainId, diffId, size, link}
 *   <rootDir>/overlay/l/<short>                → ../<chainIdHex>/diff
 *
 * A layer is unpacked into `overlay/.tmp-<owner>-*`, checked against its diff ID and renamed
 * into place: a layer directory is complete or absent. When two unpacks of one layer race, the
 * second rename fails and its copy is discarded. A removed layer is renamed to
 * `overlay/.rm-<owner>-*` first. The owner (owner.ts) in those names lets `removeLeftovers`
 * find what a killed command left.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, readlink, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { BerthError, isErrno } from '../common/index.ts';
import { listDir, removeLeftover, removeLeftovers, type Leftover } from './leftovers.ts';
import { createLayerLink, removeLayerLink } from './overlay.ts';
import { ownedName } from './owner.ts';
import { unpackLayer, type UnpackEvent } from './unpack.ts';
import type { ChunkSource } from './decompress.ts';

export interface LayerInfo {
  version: 1;
  chainId: string;
  diffId: string;
  /** Bytes of file data in the layer. */
  size: number;
  /** Short link name in `linkDir`. */
  link: string;
}

export interface LayerUnpackOptions {
  /** The diff ID the image config gives (sha256 of the uncompressed tar). */
  expectedDiffId: string;
  /** Bytes of the blob, when known (small layers are unpacked without worker threads). */
  size?: number;
  onProgress?: (event: UnpackEvent) => void;
  signal?: AbortSignal;
}

export interface LayerUnpackResult {
  size: number;
  /** True when the layer was already there (nothing was unpacked). */
  existed: boolean;
}

export type LayerSource = ChunkSource | NodeJS.ReadableStream;

const HEX64 = /^[a-f0-9]{64}$/;
const TEMP_PREFIX = '.tmp-';
const DOOMED_PREFIX = '.rm-';
const inflight = new Map<string, Promise<LayerUnpackResult>>();

function chainHex(chainId: string): string {
  const hex = chainId.startsWith('sha256:') ? chainId.slice(7) : '';
  if (!HEX64.test(hex)) throw new BerthError('INVALID_ARGUMENT', `invalid chain ID ${JSON.stringify(chainId)}: expected sha256: and 64 hex digits`);
  return hex;
}

/** Stop a source we will not read (a file stream is closed, a generator returned). */
async function discard(source: LayerSource): Promise<void> {
  const s = source as { destroy?: () => void; [Symbol.asyncIterator]?: () => AsyncIterator<unknown> };
  const iterate = s[Symbol.asyncIterator];
  if (typeof s.destroy === 'function') s.destroy();
  else if (typeof iterate === 'function') await iterate.call(s).return?.();
}

export class LayerStore {
  readonly rootDir: string;
  readonly overlayDir: string;
  /** Where the short links live (`cwd` of long overlay mounts). */
  readonly linkDir: string;

  constructor(rootDir: string) {
    this.rootDir = resolve(rootDir);
    this.overlayDir = join(this.rootDir, 'overlay');
    this.linkDir = join(this.overlayDir, 'l');
  }

  /** OCI chain IDs: chain[0] = diff[0]; chain[i] = sha256(chain[i-1] + " " + diff[i]). */
  static chainIds(diffIds: string[]): string[] {
    const out: string[] = [];
    for (const diffId of diffIds) {
      const parent = out[out.length - 1];
      out.push(parent === undefined ? diffId : `sha256:${createHash('sha256').update(`${parent} ${diffId}`).digest('hex')}`);
    }
    return out;
  }

  layerDir(chainId: string): string {
    return join(this.overlayDir, chainHex(chainId));
  }

  diffDir(chainId: string): string {
    return join(this.layerDir(chainId), 'diff');
  }

  async has(chainId: string): Promise<boolean> {
    return (await this.info(chainId)) !== undefined;
  }

  /** What is recorded of an unpacked layer, or undefined when it is not here. */
  async info(chainId: string): Promise<LayerInfo | undefined> {
    try {
      return JSON.parse(await readFile(join(this.layerDir(chainId), 'layer.json'), 'utf8')) as LayerInfo;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    }
  }

  /**
   * Unpack a layer blob (gzip, zstd or plain tar) as layer `chainId`. Its uncompressed
   * content must hash to `expectedDiffId`, else it is refused and nothing is kept. A layer
   * already here is not unpacked again (the stream is closed unread).
   */
  async unpack(chainId: string, blobStream: LayerSource, opts: LayerUnpackOptions): Promise<LayerUnpackResult> {
    const finalDir = this.layerDir(chainId);
    for (;;) {
      const info = await this.info(chainId);
      if (info) {
        await discard(blobStream);
        return { size: info.size, existed: true };
      }
      const running = inflight.get(finalDir);
      if (running === undefined) break;
      await running.catch(() => {});
    }
    const work = this.#unpackFresh(chainId, finalDir, blobStream, opts);
    inflight.set(finalDir, work);
    try {
      return await work;
    } finally {
      inflight.delete(finalDir);
    }
  }

  async #unpackFresh(chainId: string, finalDir: string, blobStream: LayerSource, opts: LayerUnpackOptions): Promise<LayerUnpackResult> {
    await mkdir(this.overlayDir, { recursive: true });
    const tempDir = join(this.overlayDir, ownedName(TEMP_PREFIX));
    try {
      const stats = await unpackLayer(blobStream as ChunkSource, join(tempDir, 'diff'), {
        layerName: chainId,
        ...(opts.size !== undefined ? { sizeHint: opts.size } : {}),
        ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
      if (stats.diffId !== opts.expectedDiffId) {
        throw new BerthError('INVALID_ARGUMENT', `layer ${chainId}: diff ID mismatch: the layer content hashes to ${stats.diffId}, the image config says ${opts.expectedDiffId}`, {
          hint: 'the image is corrupt or was tampered with; the layer was not stored',
        });
      }
      return await this.#place(chainId, finalDir, tempDir, { diffId: stats.diffId, bytes: stats.bytes });
    } catch (err) {
      await rm(tempDir, { recursive: true, force: true });
      throw err;
    }
  }

  /**
   * Unpack a layer whose diff ID is known only once it is read (a commit's, unpacked while it
   * is made), on top of layer `parentChainId` (undefined: a base layer): its chain ID comes
   * from what its content hashes to. When that layer is already here, ours is discarded.
   */
  async unpackNew(parentChainId: string | undefined, blobStream: LayerSource, opts: Omit<LayerUnpackOptions, 'expectedDiffId'> = {}): Promise<LayerUnpackResult & { chainId: string; diffId: string }> {
    await mkdir(this.overlayDir, { recursive: true });
    const tempDir = join(this.overlayDir, ownedName(TEMP_PREFIX));
    try {
      const stats = await unpackLayer(blobStream as ChunkSource, join(tempDir, 'diff'), {
        layerName: 'new layer',
        ...(opts.size !== undefined ? { sizeHint: opts.size } : {}),
        ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
      const chainId = LayerStore.chainIds(parentChainId === undefined ? [stats.diffId] : [parentChainId, stats.diffId]).at(-1)!;
      const placed = (await this.info(chainId))
        ? (await rm(tempDir, { recursive: true, force: true }), { size: stats.bytes, existed: true })
        : await this.#place(chainId, this.layerDir(chainId), tempDir, { diffId: stats.diffId, bytes: stats.bytes });
      return { ...placed, chainId, diffId: stats.diffId };
    } catch (err) {
      await rm(tempDir, { recursive: true, force: true });
      throw err;
    }
  }

  /** Rename an unpacked temp dir into place as layer `chainId` (the caller removes `tempDir` on failure). */
  async #place(chainId: string, finalDir: string, tempDir: string, stats: { diffId: string; bytes: number }): Promise<LayerUnpackResult> {
    let link: string | undefined;
    try {
      link = await createLayerLink(join(finalDir, 'diff'), this.linkDir);
      const info: LayerInfo = { version: 1, chainId, diffId: stats.diffId, size: stats.bytes, link };
      await writeFile(join(tempDir, 'link'), link);
      await writeFile(join(tempDir, 'layer.json'), JSON.stringify(info) + '\n');
      try {
        await rename(tempDir, finalDir);
      } catch (err) {
        if (!isErrno(err, 'EEXIST', 'ENOTEMPTY')) throw err;
        // Another process won the race: theirs stays, ours goes.
        await removeLayerLink(this.linkDir, link);
        link = undefined;
        await rm(tempDir, { recursive: true, force: true });
        const theirs = await this.info(chainId);
        return { size: theirs?.size ?? stats.bytes, existed: true };
      }
      return { size: stats.bytes, existed: false };
    } catch (err) {
      if (link !== undefined) await removeLayerLink(this.linkDir, link);
      throw err;
    }
  }

  /** Remove a layer and its short link (no error when it is not here). */
  async remove(chainId: string): Promise<void> {
    const dir = this.layerDir(chainId);
    const info = await this.info(chainId);
    const doomed = join(this.overlayDir, ownedName(DOOMED_PREFIX));
    try {
      await rename(dir, doomed); // gone at once for readers; the delete may take a while
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return;
      throw err;
    }
    if (info?.link) await removeLayerLink(this.linkDir, info.link);
    await rm(doomed, { recursive: true, force: true });
  }

  /**
   * Remove what killed commands left: unpacks' temp dirs and removals' doomed dirs whose owner
   * is gone. With `isIdle` (the caller holds off every unpack, e.g. under the engine's gc
   * lease) also short links that are no layer's: an unpack killed between making its link and
   * renaming its dir into place leaves one, pointing at no layer or (once another unpack put the
   * layer in place with a link of its own) at a layer that records another link.
   */
  async removeLeftovers(opts: { isIdle?: boolean } = {}): Promise<Leftover[]> {
    const removed = await removeLeftovers(this.overlayDir, [TEMP_PREFIX, DOOMED_PREFIX]);
    if (!opts.isIdle) return removed;
    for (const name of await listDir(this.linkDir)) {
      const path = join(this.linkDir, name);
      const target = await readlink(path).catch(() => undefined);
      if (target === undefined) continue; // not a link: not ours to judge
      const layerDir = dirname(resolve(this.linkDir, target));
      const recorded = await readFile(join(layerDir, 'layer.json'), 'utf8').then(
        (text) => (JSON.parse(text) as Partial<LayerInfo>).link,
        (err: unknown) => {
          if (isErrno(err, 'ENOENT', 'ENOTDIR')) return undefined;
          throw err;
        },
      );
      if (recorded !== name) removed.push(await removeLeftover(path));
    }
    return removed;
  }

  /** Chain IDs of all unpacked layers. */
  async list(): Promise<string[]> {
    const names = await readdir(this.overlayDir).catch((err: unknown) => {
      if (isErrno(err, 'ENOENT')) return [] as string[];
      throw err;
    });
    return names.filter((n) => HEX64.test(n)).sort().map((n) => `sha256:${n}`);
  }

  /**
   * What `overlayMount` needs for an image whose layers are `chainIds` (base first): the
   * diff dirs and their short links, top-most first as overlayfs wants them.
   */
  async lowerDirs(chainIds: string[]): Promise<{ lowerDirs: string[]; lowerLinks: string[]; linkDir: string }> {
    const lowerDirs: string[] = [];
    const lowerLinks: string[] = [];
    for (const chainId of [...chainIds].reverse()) {
      const info = await this.info(chainId);
      if (!info) throw new BerthError('NOT_FOUND', `layer ${chainId} is not unpacked`, { hint: 'pull the image again' });
      lowerDirs.push(this.diffDir(chainId));
      lowerLinks.push(info.link);
    }
    return { lowerDirs, lowerLinks, linkDir: this.linkDir };
  }
}
