import { BerthError } from '../common/index.ts';
import type { RuntimeContext } from './context.ts';
import { containerStatus } from './status.ts';
import { killAndWait } from './kill.ts';
import { runHooksCollectingWarnings } from './hooks.ts';

/**
 * delete: a stopped or created container goes; a running or paused one only with force
 * (SIGKILL, as runc does). Then the cgroup and state go and poststop hooks run.
 * Works on half-made containers too (a runtime killed mid-create).
 */
export async function deleteContainer(ctx: RuntimeContext, id: string, opts: { force?: boolean } = {}): Promise<{ warnings: string[] }> {
  const state = await ctx.store.read(id);
  const status = await containerStatus(ctx, state);
  if ((status === 'running' || status === 'paused' || status === 'creating') && !opts.force) {
    throw new BerthError('FAILED_PRECONDITION', `container "${id}" is ${status}`, {
      hint: `stop it first, or use: berth-runtime delete --force ${id}`,
    });
  }
  if (status === 'paused') await ctx.cgroups.thaw(state.cgroupPath).catch(() => {});
  if (state.pid > 0) await killAndWait(state.pid, state.pidStartTime);
  if (state.cgroupPath) await ctx.cgroups.destroy(state.cgroupPath);
  await ctx.store.remove(id);
  if (!state.bundle) return { warnings: [] };
  const warnings = await runHooksCollectingWarnings('poststop', state.config.hooks?.poststop, ctx.store.ociState(state, 'stopped'), state.bundle);
  return { warnings };
}
