import { stopLimitsView } from './limits-view.ts';
import { BerthError, signalProcess } from '../common/index.ts';
import type { RuntimeContext } from './context.ts';
import { containerStatus } from './status.ts';
import { containerPids, killAndWait, rescueFrozen } from './kill.ts';
import { runHooksCollectingWarnings } from './hooks.ts';
import { releaseHostMounts } from './host-mounts.ts';

/**
 * delete: a stopped or created container goes; a running or paused one only with force
 * (SIGKILL, as runc does). Then the cgroup and state go and poststop hooks run.
 * Works on half-made containers too (a runtime killed mid-create).
 */
export async function deleteContainer(ctx: RuntimeContext, id: string, opts: { force?: boolean } = {}): Promise<{ warnings: string[] }> {
  let state;
  try {
    state = await ctx.store.read(id);
  } catch (err) {
    // gone already: what --force asks for is done (runc exits 0 too)
    if (opts.force && err instanceof BerthError && err.code === 'NOT_FOUND') return { warnings: [] };
    throw err;
  }
  const status = await containerStatus(ctx, state);
  if ((status === 'running' || status === 'paused' || status === 'creating') && !opts.force) {
    throw new BerthError('FAILED_PRECONDITION', `container "${id}" is ${status}`, {
      hint: `stop it first, or use: berth-runtime delete --force ${id}`,
    });
  }
  if (status === 'paused') await ctx.cgroups.thaw(state.cgroupPath).catch(() => {});
  if (state.cgroupOwned === false) {
    // a cgroup it found holding others: only this container's processes go, the cgroup stays
    for (const pid of await containerPids(ctx, state)) {
      try {
        signalProcess(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
  }
  if (state.pid > 0) await killAndWait(state.pid, state.pidStartTime, undefined, () => rescueFrozen(ctx, state));
  if (state.cgroupPath && state.cgroupOwned !== false) await ctx.cgroups.destroy(state.cgroupPath);
  if (state.view) stopLimitsView(state.view);
  if (state.hostMounts) releaseHostMounts(state.hostMounts);
  await ctx.store.remove(id);
  if (!state.bundle) return { warnings: [] };
  const warnings = await runHooksCollectingWarnings('poststop', state.config.hooks?.poststop, ctx.store.ociState(state, 'stopped'), state.bundle);
  return { warnings };
}
