import type { RuntimeContext } from './context.ts';
import type { ContainerStatus } from '../oci/index.ts';
import { containerStatus } from './status.ts';

export interface ListEntry {
  ociVersion: string;
  id: string;
  pid: number;
  status: ContainerStatus;
  bundle: string;
  rootfs: string;
  created: string;
  /** Absent when there are none (runc's omitempty). */
  annotations?: Record<string, string>;
  owner: string;
}

export async function listContainers(ctx: RuntimeContext): Promise<ListEntry[]> {
  const out: ListEntry[] = [];
  for (const id of await ctx.store.list()) {
    const state = await ctx.store.read(id).catch(() => undefined);
    if (!state) continue;
    const status = await containerStatus(ctx, state);
    // runc's order of keys (tools match its JSON as text)
    out.push({ ociVersion: state.config.ociVersion, id, pid: status === 'stopped' ? 0 : state.pid, status, bundle: state.bundle, rootfs: state.rootfs, created: state.created, ...(Object.keys(state.annotations).length ? { annotations: state.annotations } : {}), owner: state.owner ?? 'root' });
  }
  return out;
}
