/**
 * Garbage collection of content: blobs and unpacked layers that no image record references.
 * Runs after every removal; skipped (and left for the next one) while another berth process
 * is writing content, see leases.ts.
 */
import type { ImageContext } from './context.ts';

export interface GcResult {
  /** True when a writer was active and nothing was collected. */
  isSkipped: boolean;
  blobs: string[];
  /** Chain IDs of the layers removed. */
  layers: string[];
  /** Bytes freed: blob sizes plus unpacked layer data. */
  reclaimed: number;
}

export async function collectGarbage(ctx: ImageContext): Promise<GcResult> {
  const result: GcResult = { isSkipped: false, blobs: [], layers: [], reclaimed: 0 };
  const lease = ctx.leases.tryAcquireGc();
  if (!lease) return { ...result, isSkipped: true };
  try {
    const refs = ctx.store.references();
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
  } finally {
    lease.release();
  }
  return result;
}
