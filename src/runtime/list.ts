import type { RuntimeContext } from './context.ts';
import type { ContainerStatus } from '../oci/index.ts';
import { containerStatus } from './status.ts';

export interface ListEntry {
  ociVersion: string;
  id: string;
  rootfs: string;
  pid: number;
  status: ContainerStatus;
  bundle: string;
  created: string;
  owner: string;
  annotations: Record<string, string>;
}

export async function listContainers(ctx: RuntimeContext): Promise<ListEntry[]> {
  const out: ListEntry[] = [];
  for (const id of await ctx.store.list()) {
    const state = await ctx.store.read(id).catch(() => undefined);
    if (!state) continue;
    const status = await containerStatus(ctx, state);
    out.push({ ociVersion: state.config.ociVersion, id, rootfs: state.rootfs, pid: status === 'stopped' ? 0 : state.pid, status, bundle: state.bundle, created: state.created, owner: state.owner ?? 'root', annotations: state.annotations });
  }
  return out;
}
