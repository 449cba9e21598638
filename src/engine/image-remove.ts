/**
 * `rmi` and `image prune`, with docker's rules:
 *
 * - by name: untag it; the image goes when nothing names it any more. Untagging the last tag
 *   of a repository also drops that repository's digest references.
 * - by ID: when every name is in one repository all are untagged and the image goes;
 *   names in several repositories need `force`.
 * - an image a container uses is never deleted: without `force` that is a conflict, with it
 *   the names go and the image stays (dangling) for the container.
 *
 * Blobs and layers no image references any more are collected afterwards.
 */
import { BerthError } from '../common/index.ts';
import { familiarName } from '../image/index.ts';
import type { ImageContext } from './context.ts';
import { collectGarbage } from './image-gc.ts';
import type { ImageRecord } from './image-store.ts';

export type RemoveEntry = { Untagged: string } | { Deleted: string };

export interface RemoveOptions {
  force?: boolean;
  /** Collect unreferenced blobs and layers afterwards (default true). */
  collect?: boolean;
}

export interface PruneOptions {
  /** Every image no container uses, not only the dangling ones. */
  all?: boolean;
  /** Only images that match every filter (`label=k`, `label=k=v`, `label!=k=v`). */
  labelFilters?: LabelFilter[];
}

export interface LabelFilter {
  key: string;
  value?: string;
  negate?: boolean;
}

/** `k` or `k=v` (the value of a `label=` filter). */
export function parseLabelFilter(text: string, negate = false): LabelFilter {
  const eq = text.indexOf('=');
  return eq < 0 ? { key: text, negate } : { key: text.slice(0, eq), value: text.slice(eq + 1), negate };
}

export function matchesLabels(labels: Record<string, string> | null | undefined, filters: readonly LabelFilter[]): boolean {
  return filters.every((f) => {
    const has = labels != null && Object.hasOwn(labels, f.key) && (f.value === undefined || labels[f.key] === f.value);
    return f.negate ? !has : has;
  });
}

export interface PruneResult {
  entries: RemoveEntry[];
  reclaimed: number;
}

export function shortId(id: string): string {
  return id.slice(id.indexOf(':') + 1, id.indexOf(':') + 13);
}

/** `docker.io/library/busybox:latest` → `busybox:latest`; digests likewise. */
export function familiarReference(reference: string): string {
  const at = reference.indexOf('@');
  const nameEnd = at >= 0 ? at : reference.lastIndexOf(':') > reference.lastIndexOf('/') ? reference.lastIndexOf(':') : reference.length;
  return familiarName(reference.slice(0, nameEnd)) + reference.slice(nameEnd);
}

function repositoryOf(reference: string): string {
  const at = reference.indexOf('@');
  if (at >= 0) return reference.slice(0, at);
  const colon = reference.lastIndexOf(':');
  return colon > reference.lastIndexOf('/') ? reference.slice(0, colon) : reference;
}

function allReferences(image: ImageRecord): string[] {
  return [...image.names, ...image.repoDigests];
}

function inUseConflict(ctx: ImageContext, image: ImageRecord, what: string): BerthError | undefined {
  const user = ctx.isImageInUse(image.id);
  if (!user) return undefined;
  return new BerthError(
    'CONFLICT',
    `conflict: unable to ${what} (must be forced) - image is being used by ${user.isRunning ? 'running' : 'stopped'} container ${user.containerId.slice(0, 12)}`,
    { hint: 'remove the container first' },
  );
}

function untag(ctx: ImageContext, reference: string, out: RemoveEntry[]): void {
  if (ctx.store.untag(reference)) out.push({ Untagged: familiarReference(reference) });
}

/** Delete the record of an image nothing names (unless a container uses it). */
function deleteImage(ctx: ImageContext, image: ImageRecord, out: RemoveEntry[]): void {
  if (ctx.isImageInUse(image.id)) return;
  if (ctx.store.remove(image.id)) out.push({ Deleted: image.id });
}

/** Remove one image reference (name, ID or ID prefix), docker's `rmi`. */
export async function removeImage(ctx: ImageContext, imageRef: string, opts: RemoveOptions = {}): Promise<RemoveEntry[]> {
  const out: RemoveEntry[] = [];
  ctx.db.transaction(() => {
    const image = ctx.store.resolve(imageRef);
    const canonical = ctx.store.canonicalName(imageRef);
    const isByName = canonical !== undefined && allReferences(image).includes(canonical);
    if (isByName) {
      const remaining = allReferences(image).filter((r) => r !== canonical);
      const repo = repositoryOf(canonical);
      const isLastTagOfRepo = !canonical.includes('@') && !image.names.some((n) => n !== canonical && repositoryOf(n) === repo);
      const left = isLastTagOfRepo ? remaining.filter((r) => repositoryOf(r) !== repo) : remaining;
      if (left.length === 0 && !opts.force) {
        const conflict = inUseConflict(ctx, image, `remove repository reference ${JSON.stringify(familiarReference(canonical))}`);
        if (conflict) throw conflict;
      }
      untag(ctx, canonical, out);
      if (isLastTagOfRepo) for (const r of image.repoDigests) if (repositoryOf(r) === repo) untag(ctx, r, out);
      if (left.length > 0) return;
      deleteImage(ctx, image, out);
      return;
    }
    const repos = new Set(allReferences(image).map(repositoryOf));
    if (repos.size > 1 && !opts.force) {
      throw new BerthError('CONFLICT', `conflict: unable to delete ${shortId(image.id)} (must be forced) - image is referenced in multiple repositories`, {
        hint: `remove the tags one by one, or use --force`,
      });
    }
    if (!opts.force) {
      const conflict = inUseConflict(ctx, image, `delete ${shortId(image.id)}`);
      if (conflict) throw conflict;
    }
    for (const reference of allReferences(image)) untag(ctx, reference, out);
    deleteImage(ctx, image, out);
  });
  if (opts.collect !== false && out.some((e) => 'Deleted' in e)) await collectGarbage(ctx);
  return out;
}

/**
 * `image prune`: dangling images (with `all`, every unused image), then the garbage, partial
 * downloads nobody resumes included.
 */
export async function pruneImages(ctx: ImageContext, opts: PruneOptions = {}): Promise<PruneResult> {
  const entries: RemoveEntry[] = [];
  ctx.db.transaction(() => {
    for (const image of ctx.store.list()) {
      if (ctx.isImageInUse(image.id)) continue;
      if (!opts.all && allReferences(image).length > 0) continue;
      if (!matchesLabels(image.config.config?.Labels, opts.labelFilters ?? [])) continue;
      for (const reference of allReferences(image)) untag(ctx, reference, entries);
      deleteImage(ctx, image, entries);
    }
  });
  const gc = await collectGarbage(ctx, { includeResumable: true });
  return { entries, reclaimed: gc.reclaimed };
}
