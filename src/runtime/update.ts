/**
 * update and events: a running container's limits changed in place, and its cgroup's
 * statistics and OOM kills reported in the shape of `runc events`.
 */
import { BerthError } from '../common/index.ts';
import type { Resources } from '../oci/index.ts';
import { DEFAULT_DEVICE_RULES, type CgroupStats } from '../cgroups/index.ts';
import type { RuntimeContext } from './context.ts';
import { containerStatus } from './status.ts';

async function liveState(ctx: RuntimeContext, id: string) {
  const state = await ctx.store.read(id);
  const status = await containerStatus(ctx, state);
  if (status === 'stopped' || status === 'creating') throw new BerthError('FAILED_PRECONDITION', `container "${id}" is not running`);
  return state;
}

export async function updateContainer(ctx: RuntimeContext, id: string, resources: Resources): Promise<{ warnings: string[] }> {
  const state = await liveState(ctx, id);
  // new device rules keep the devices every container needs usable, as at create
  if (resources.devices) resources = { ...resources, devices: [...resources.devices, ...(DEFAULT_DEVICE_RULES.slice(1) as NonNullable<Resources['devices']>)] };
  const warnings = await ctx.cgroups.update(state.cgroupPath, resources);
  // what the container runs with now: later updates and the engine read it from the state
  const linux = (state.config.linux ??= {});
  linux.resources = mergeResources(linux.resources ?? {}, resources);
  await ctx.store.write(state);
  return { warnings };
}

function mergeResources(base: Resources, change: Resources): Resources {
  const out: Resources = { ...base };
  for (const key of Object.keys(change) as (keyof Resources)[]) {
    const value = change[key];
    if (value === undefined) continue;
    const prev = out[key];
    (out as Record<string, unknown>)[key] =
      value && typeof value === 'object' && !Array.isArray(value) && prev && typeof prev === 'object' && !Array.isArray(prev) ? { ...prev, ...value } : value;
  }
  return out;
}

export type RuntimeEvent =
  | { type: 'stats'; id: string; data: CgroupStats }
  | { type: 'oom'; id: string };

/**
 * Stats every `intervalMs` and an `oom` event whenever the OOM-kill count grows, until the
 * container stops or the signal aborts. With `statsOnly`, one stats event.
 */
export async function* containerEvents(
  ctx: RuntimeContext,
  id: string,
  opts: { intervalMs?: number; statsOnly?: boolean; signal?: AbortSignal } = {},
): AsyncGenerator<RuntimeEvent> {
  const state = await liveState(ctx, id);
  if (opts.statsOnly) {
    yield { type: 'stats', id, data: await ctx.cgroups.stats(state.cgroupPath) };
    return;
  }
  const interval = opts.intervalMs ?? 5000;
  const poll = Math.min(interval, 100);
  // OOM kills are reported by the kernel (eventfd / inotify) and confirmed by the counter;
  // stats and the container's end are looked at every `poll` ms
  const notifier = await ctx.cgroups.oomNotifier(state.cgroupPath);
  let ooms = await ctx.cgroups.oomKillCount(state.cgroupPath).catch(() => 0);
  let nextStats = 0;
  try {
    while (!opts.signal?.aborted) {
      const status = await containerStatus(ctx, state);
      const count = await ctx.cgroups.oomKillCount(state.cgroupPath).catch(() => ooms);
      if (count > ooms) {
        ooms = count;
        yield { type: 'oom', id };
      }
      if (status === 'stopped') return;
      if (Date.now() >= nextStats) {
        nextStats = Date.now() + interval;
        yield { type: 'stats', id, data: await ctx.cgroups.stats(state.cgroupPath) };
      }
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([notifier.wait(), new Promise((r) => (timer = setTimeout(r, poll)))]);
      clearTimeout(timer);
    }
  } finally {
    notifier.close();
  }
}
