import type { ContainerStatus } from '../oci/index.ts';
import type { RuntimeContext } from './context.ts';
import type { StoredState } from './state-store.ts';
import { isSameLiveProcess } from './process-info.ts';
import { existsSync } from 'node:fs';

/** The status a caller sees, derived from the process, the start socket and the freezer; never stored. */
export async function containerStatus(ctx: RuntimeContext, state: StoredState): Promise<ContainerStatus> {
  const alive = state.pid > 0 && isSameLiveProcess(state.pid, state.pidStartTime);
  if (state.phase === 'creating') return alive ? 'creating' : 'stopped';
  if (!alive) return 'stopped';
  if (await ctx.cgroups.isFrozen(state.cgroupPath).catch(() => false)) return 'paused';
  return existsSync(ctx.store.startSocketPath(state.id)) ? 'created' : 'running';
}
