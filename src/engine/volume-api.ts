/**
 * The volume side of the engine as one object (`engine.volumes`): what `berth volume …` and
 * the API server call. Nothing here prints.
 */
import type { EngineContext } from './container-context.ts';
import type { VolumeRecord } from './volume-store.ts';
import { createVolume, inspectVolume, pruneVolumes, removeVolume } from './volumes.ts';

export class Volumes {
  readonly ctx: EngineContext;

  constructor(ctx: EngineContext) {
    this.ctx = ctx;
  }

  create(opts: { name?: string; driver?: string; options?: Record<string, string>; labels?: Record<string, string> } = {}): VolumeRecord {
    return createVolume(this.ctx, opts);
  }

  remove(name: string, opts: { force?: boolean } = {}): void {
    removeVolume(this.ctx, name, opts);
  }

  list(): VolumeRecord[] {
    return this.ctx.volumes.list();
  }

  /** Whether a container (running or not) uses the volume. */
  inUse(name: string): boolean {
    return this.ctx.volumes.usersOf(name).length > 0;
  }

  inspect(name: string): Record<string, unknown> {
    return inspectVolume(this.ctx, this.ctx.volumes.resolve(name));
  }

  prune(opts: { all?: boolean; keep?: (v: VolumeRecord) => boolean } = {}): Promise<{ removed: string[]; reclaimed: number }> {
    return pruneVolumes(this.ctx, opts);
  }
}
