/**
 * The network side of the engine as one object (`engine.networks`): what `berth network …`,
 * `berth port` and the API server call. Nothing here prints.
 */
import type { EngineContext } from './container-context.ts';
import type { NetworkRecord } from './network-store.ts';
import { connectNetwork, createNetwork, disconnectNetwork, pruneNetworks, removeNetwork, type NetworkCreateOptions } from './networks.ts';
import { inspectNetwork, listNetworks, portLines } from './network-view.ts';
import type { Protocol } from '../network/index.ts';
import { effectiveRecord } from './container-lifecycle.ts';

export class Networks {
  readonly ctx: EngineContext;

  constructor(ctx: EngineContext) {
    this.ctx = ctx;
  }

  create(opts: NetworkCreateOptions): NetworkRecord {
    return createNetwork(this.ctx, opts);
  }

  remove(ref: string): NetworkRecord {
    return removeNetwork(this.ctx, ref);
  }

  list(): NetworkRecord[] {
    return listNetworks(this.ctx);
  }

  inspect(ref: string): Record<string, unknown> {
    listNetworks(this.ctx);
    return inspectNetwork(this.ctx, this.ctx.networks.resolve(ref));
  }

  connect(container: string, network: string, opts: { aliases?: string[]; ip?: string } = {}): Promise<void> {
    return connectNetwork(this.ctx, container, network, opts);
  }

  disconnect(container: string, network: string): Promise<void> {
    return disconnectNetwork(this.ctx, container, network);
  }

  prune(keep?: (n: NetworkRecord) => boolean): NetworkRecord[] {
    return pruneNetworks(this.ctx, keep);
  }

  /** `berth port`: the published ports of a container (all, or those of one container port). */
  ports(container: string, filter?: { port: number; protocol?: Protocol }): string[] {
    const rec = effectiveRecord(this.ctx, this.ctx.containers.resolve(container));
    return portLines(this.ctx, rec, filter);
  }
}
