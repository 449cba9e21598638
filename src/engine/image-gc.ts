/**
 * Garbage collection of content: blobs and unpacked layers that no image record references,
 * and what killed commands left behind (temp dirs and files whose owner is gone). Runs after
 * every pull, load, import, removal and prune (after a failed pull only the leftovers go: the
 * layers it completed stay for the next try). Blobs and layers are skipped (and left for the
 * next collection) while another berth process is writing content, see leases.ts; leftovers
 * are judged by their owner alone, so they go even then, and never while their owner lives.
 */
import { removeLeftovers, type Leftover } from '../storage/index.ts';
import type { ImageContext } from './context.ts';

export interface GcResult {
  /** True when a writer was active and no blob or layer was collected. */
  isSkipped: boolean;
  blobs: string[];
  /** Chain IDs of the layers removed. */
  layers: string[];
  /** Temp dirs and files of killed commands removed (paths). */
  leftovers: string[];
  /** Bytes freed: blob sizes plus unpacked layer data plus leftovers. */
  reclaimed: number;
}

export interface LeftoverOptions {
  /**
   * Also remove resumable partial downloads that nobody resumes however recent they are
   * (`image prune`); by default only those not written for PARTIAL_MAX_AGE_MS go, so that the
   * next pull of an interrupted image resumes where it stopped.
   */
  includeResumable?: boolean;
}

export interface LeftoverResult {
  removed: Leftover[];
  reclaimed: number;
}

/**
 * How long a partial download nobody resumes is kept for the next pull to resume: 24 hours,
 * the lease containerd's client gives a pull's content.
 */
export const PARTIAL_MAX_AGE_MS = 24 * 60 * 60_000;

/** `load-4242-8123-x1y2z3` → `load-` (the temp dirs of <root>/tmp, see context.ts). */
function tmpPrefix(name: string): string | undefined {
  return /^[a-z]+-/.exec(name)?.[0];
}

/**
 * Remove what killed commands left in the state root: unpacks' temp dirs
 * (`storage/overlay/.tmp-*`, `.rm-*`), ingest temp files (`content/ingest/.tmp-*`), staging dirs
 * (`tmp/load-*`, `tmp/import-*`) whose owner process is gone, and partial downloads nobody
 * resumes (see LeftoverOptions). When no writer runs, short layer links to no layer go too.
 * Never touches what a live process owns. For `berth system check` as well.
 */
export async function collectLeftovers(ctx: ImageContext, opts: LeftoverOptions = {}): Promise<LeftoverResult> {
  const removed = await removeOwnedLeftovers(ctx, opts);
  const lease = ctx.leases.tryAcquireGc();
  if (lease) {
    try {
      removed.push(...(await ctx.layers.removeLeftovers({ isIdle: true })));
    } finally {
      lease.release();
    }
  }
  return { removed, reclaimed: sumSizes(removed) };
}

/** The leftovers judged by their owner alone (safe while writers run). */
async function removeOwnedLeftovers(ctx: ImageContext, opts: LeftoverOptions): Promise<Leftover[]> {
  return [
    ...(await ctx.layers.removeLeftovers()),
    ...(await ctx.content.removeLeftovers({ partialMaxAgeMs: opts.includeResumable ? 0 : PARTIAL_MAX_AGE_MS })),
    ...(await removeLeftovers(ctx.tmpDir, tmpPrefix)),
  ];
}

function sumSizes(leftovers: Leftover[]): number {
  return leftovers.reduce((sum, l) => sum + l.size, 0);
}

export async function collectGarbage(ctx: ImageContext, opts: LeftoverOptions = {}): Promise<GcResult> {
  const owned = await removeOwnedLeftovers(ctx, opts);
  const result: GcResult = { isSkipped: false, blobs: [], layers: [], leftovers: owned.map((l) => l.path), reclaimed: sumSizes(owned) };
  const lease = ctx.leases.tryAcquireGc();
  if (!lease) return { ...result, isSkipped: true };
  try {
    const refs = ctx.store.references();
    for (const chainId of ctx.layersInUse()) refs.chainIds.add(chainId);
    for (const digest of await ctx.content.list()) {
      if (refs.blobs.has(digest)) continue;
      result.reclaimed += (await ctx.content.size(digest)) ?? 0;
      await ctx.content.delete(digest);
      result.blobs.push(digest);
    }
    for (const chainId of await ctx.layers.list()) {
      if (refs.chainIds.has(chainId)) continue;
      result.reclaimed += (await ctx.layers.info(chainId))?.size ?? 0;
      await ctx.layers.remove(chainId);
      result.layers.push(chainId);
    }
    // last: short links a killed unpack left, also those that pointed at a layer removed above
    const links = await ctx.layers.removeLeftovers({ isIdle: true });
    result.leftovers.push(...links.map((l) => l.path));
    result.reclaimed += sumSizes(links);
  } finally {
    lease.release();
  }
  return result;
}
