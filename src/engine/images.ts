/**
 * The image side of the engine as one object: what `berth` (and later the API server and
 * the TypeScript API) calls. Every method works on the records of one state root.
 */
import { BerthError } from '../common/index.ts';
import { saveArchive, type SaveImage } from '../image/index.ts';
import { parseReference } from '../image/index.ts';
import type { ChunkSource } from '../storage/index.ts';
import { openImageContext, type ImageContext, type ImageContextOptions } from './context.ts';
import { collectGarbage, collectLeftovers, type GcResult, type LeftoverOptions, type LeftoverResult } from './image-gc.ts';
import { importImage, loadImages, type ImportImageOptions, type LoadedImage, type LoadOptions } from './image-load.ts';
import { login, logout, pull, type PullOptions, type PullOutcome, type RegistryOptions } from './image-pull.ts';
import { familiarReference, pruneImages, removeImage, type PruneOptions, type PruneResult, type RemoveEntry, type RemoveOptions } from './image-remove.ts';
import type { ImageRecord } from './image-store.ts';
import { imageHistory, imageSummary, inspectImage, type HistoryItem, type ImageInspect, type ImageSummary } from './image-view.ts';

/** An image event (docker's `pull`, `tag`, `untag`, `delete`, `load`, `import`, `save`) for the
 * engine's event log. */
export type ImageEventSink = (action: string, id: string, attributes: Record<string, string>) => void;

export class Images {
  readonly ctx: ImageContext;
  readonly #onEvent: ImageEventSink;

  constructor(opts: (ImageContextOptions | { context: ImageContext }) & { onEvent?: ImageEventSink } = {}) {
    this.ctx = 'context' in opts ? opts.context : openImageContext(opts);
    const sink = opts.onEvent ?? (() => {});
    // docker's events name images as its CLI shows them (busybox:latest, not docker.io/library/…)
    this.#onEvent = (action, id, attributes) => sink(action, id, attributes.name ? { ...attributes, name: familiarReference(attributes.name) } : attributes);
  }

  #removed(entries: RemoveEntry[]): void {
    for (const e of entries) {
      if ('Untagged' in e) this.#onEvent('untag', e.Untagged, { name: e.Untagged });
      else this.#onEvent('delete', e.Deleted, { name: e.Deleted });
    }
  }

  close(): void {
    this.ctx.db.close();
  }

  /** The image a reference names (name, `name@digest`, ID or ID prefix); NOT_FOUND `No such image: …`. */
  resolve(imageRef: string): ImageRecord {
    return this.ctx.store.resolve(imageRef);
  }

  list(): ImageRecord[] {
    return this.ctx.store.list();
  }

  summaries(): ImageSummary[] {
    return this.list().map((image) => imageSummary(image));
  }

  inspect(imageRef: string): ImageInspect {
    const image = this.resolve(imageRef);
    return inspectImage(image, { diffDirs: image.layers.map((l) => this.ctx.layers.diffDir(l.chainId)) });
  }

  history(imageRef: string): HistoryItem[] {
    return imageHistory(this.resolve(imageRef));
  }

  /** Point `target` (`name[:tag]`) at the image `source` names. */
  tag(source: string, target: string): void {
    const image = this.resolve(source);
    const ref = parseReference(target);
    if (ref.digest) throw new BerthError('INVALID_ARGUMENT', `refusing to create a tag with a digest reference: ${JSON.stringify(target)}`);
    this.ctx.store.tag(image.id, `${ref.name}:${ref.tag}`);
    this.#onEvent('tag', image.id, { name: `${ref.name}:${ref.tag}` });
  }

  async remove(imageRef: string, opts: RemoveOptions = {}): Promise<RemoveEntry[]> {
    const entries = await removeImage(this.ctx, imageRef, opts);
    this.#removed(entries);
    return entries;
  }

  async prune(opts: PruneOptions = {}): Promise<PruneResult> {
    const result = await pruneImages(this.ctx, opts);
    this.#removed(result.entries);
    return result;
  }

  collectGarbage(opts: LeftoverOptions = {}): Promise<GcResult> {
    return collectGarbage(this.ctx, opts);
  }

  /** Remove what killed commands left (temp dirs and files whose owner is gone); for `berth system check`. */
  collectLeftovers(opts: LeftoverOptions = {}): Promise<LeftoverResult> {
    return collectLeftovers(this.ctx, opts);
  }

  async load(input: ChunkSource, opts: LoadOptions = {}): Promise<LoadedImage[]> {
    const loaded = await loadImages(this.ctx, input, opts);
    for (const image of loaded) this.#onEvent('load', image.id, { name: image.names[0] ?? image.id });
    return loaded;
  }

  async import(input: ChunkSource, opts: ImportImageOptions = {}): Promise<LoadedImage> {
    const image = await importImage(this.ctx, input, opts);
    this.#onEvent('import', image.id, { name: image.names[0] ?? image.id });
    return image;
  }

  /**
   * A docker-archive (with OCI layout) of the images that `imageRefs` name, as a stream of
   * tar chunks. A name is recorded in the archive; an image given by ID is saved without one.
   */
  save(imageRefs: string[]): AsyncGenerator<Uint8Array> {
    const items: SaveImage[] = imageRefs.map((imageRef) => {
      const image = this.resolve(imageRef);
      const canonical = this.ctx.store.canonicalName(imageRef);
      const names = canonical && image.names.includes(canonical) ? [canonical] : [];
      const manifest = { mediaType: image.manifestMediaType, digest: image.manifestDigest, size: 0 };
      return { id: image.id, manifest, layers: image.layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })), names };
    });
    return this.#saveStream(items);
  }

  async *#saveStream(items: SaveImage[]): AsyncGenerator<Uint8Array> {
    for (const item of items) {
      const size = await this.ctx.content.size(item.manifest.digest);
      if (size === undefined) {
        throw new BerthError('NOT_FOUND', `the manifest ${item.manifest.digest} of image ${item.id} is missing from the content store`, { hint: 'pull or load the image again' });
      }
      item.manifest.size = size;
    }
    yield* saveArchive(this.ctx.content, items);
  }

  async pull(imageRef: string, opts: PullOptions = {}): Promise<PullOutcome> {
    const outcome = await pull(this.ctx, imageRef, opts);
    this.#onEvent('pull', outcome.reference, { name: outcome.reference });
    return outcome;
  }

  login(registry: string, username: string, password: string, opts: RegistryOptions = {}): Promise<void> {
    return login(registry, username, password, opts);
  }

  logout(registry: string, opts: RegistryOptions = {}): Promise<boolean> {
    return logout(registry, opts);
  }
}
