/**
 * `berth stop`, `restart`, `kill`, `rm`, `pause`, `unpause`, `rename`, `wait`, `update`,
 * `container prune`, and the monitor's `container cleanup`.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BerthError } from '../common/index.ts';
import { DATABASE_FILE, resolveRoot, type UpdateSpec } from '../engine/index.ts';
import type { CommandSpec } from './args.ts';
import { boolFlag, forEachContainer, listFlag, readLine, stringFlag, type BerthCommand } from './berth-command.ts';
import { parseBytes, parseRestart } from './run-flags.ts';
import { humanSize } from './render/units.ts';

const containerArgs = (name: string, summary: string, flags: CommandSpec['flags'] = []): CommandSpec => ({
  name,
  usage: `${name} [OPTIONS] CONTAINER [CONTAINER...]`,
  summary,
  positionals: [1, Infinity],
  flags,
});

const stopFlags: CommandSpec['flags'] = [
  { name: 'signal', short: 's', type: 'string', value: 'string', description: 'signal to send to the container' },
  { name: 'time', short: 't', type: 'number', value: 'int', description: 'seconds to wait before killing the container' },
];

function stopOptions(args: Parameters<BerthCommand['run']>[0]): { timeoutSec?: number; signal?: string } {
  const t = args.flags.time;
  const signal = stringFlag(args, 'signal');
  return { ...(typeof t === 'number' ? { timeoutSec: t } : {}), ...(signal ? { signal } : {}) };
}

export const stopCommand: BerthCommand = {
  spec: containerArgs('stop', 'Stop one or more running containers', stopFlags),
  run: (args, env) => forEachContainer(args, env, async (ref) => (await env.engine().containers.stop(ref, stopOptions(args)), ref)),
};

export const restartCommand: BerthCommand = {
  spec: containerArgs('restart', 'Restart one or more containers', stopFlags),
  run: (args, env) => forEachContainer(args, env, async (ref) => (await env.engine().containers.restart(ref, stopOptions(args)), ref)),
};

export const killCommand: BerthCommand = {
  spec: containerArgs('kill', 'Kill one or more running containers', [{ name: 'signal', short: 's', type: 'string', value: 'string', description: 'signal to send to the container (default "KILL")' }]),
  run: (args, env) => forEachContainer(args, env, async (ref) => (await env.engine().containers.kill(ref, stringFlag(args, 'signal') ?? 'KILL'), ref)),
};

export const rmCommand: BerthCommand = {
  spec: containerArgs('rm', 'Remove one or more containers', [
    { name: 'force', short: 'f', type: 'boolean', description: 'force the removal of a running container (uses SIGKILL)' },
    { name: 'volumes', short: 'v', type: 'boolean', description: 'remove anonymous volumes associated with the container' },
    { name: 'link', short: 'l', type: 'boolean', description: 'remove the specified link', hidden: true },
  ]),
  run: (args, env) => forEachContainer(args, env, async (ref) => (await env.engine().containers.remove(ref, { force: boolFlag(args, 'force'), volumes: boolFlag(args, 'volumes') }), ref)),
};

export const pauseCommand: BerthCommand = {
  spec: containerArgs('pause', 'Pause all processes within one or more containers'),
  run: (args, env) => forEachContainer(args, env, async (ref) => (await env.engine().containers.pause(ref), ref)),
};

export const unpauseCommand: BerthCommand = {
  spec: containerArgs('unpause', 'Unpause all processes within one or more containers'),
  run: (args, env) => forEachContainer(args, env, async (ref) => (await env.engine().containers.unpause(ref), ref)),
};

export const renameCommand: BerthCommand = {
  spec: { name: 'rename', usage: 'rename CONTAINER NEW_NAME', summary: 'Rename a container', positionals: [2, 2], flags: [] },
  async run(args, env) {
    await env.engine().containers.rename(args.positionals[0]!, args.positionals[1]!);
    return 0;
  },
};

export const waitCommand: BerthCommand = {
  spec: containerArgs('wait', 'Block until one or more containers stop, then print their exit codes'),
  run: (args, env) => forEachContainer(args, env, async (ref) => String((await env.engine().containers.wait(ref)).StatusCode)),
};

export const updateCommand: BerthCommand = {
  spec: containerArgs('update', 'Update configuration of one or more containers', [
    { name: 'memory', short: 'm', type: 'string', value: 'bytes', description: 'memory limit' },
    { name: 'memory-swap', type: 'string', value: 'bytes', description: "swap limit equal to memory plus swap: -1 to enable unlimited swap" },
    { name: 'memory-reservation', type: 'string', value: 'bytes', description: 'memory soft limit' },
    { name: 'cpus', type: 'string', value: 'decimal', description: 'number of CPUs' },
    { name: 'cpu-shares', short: 'c', type: 'number', value: 'int', description: 'CPU shares (relative weight)' },
    { name: 'cpu-quota', type: 'number', value: 'int', description: 'limit CPU CFS quota' },
    { name: 'cpu-period', type: 'number', value: 'int', description: 'limit CPU CFS period' },
    { name: 'cpuset-cpus', type: 'string', value: 'string', description: 'CPUs in which to allow execution (0-3, 0,1)' },
    { name: 'cpuset-mems', type: 'string', value: 'string', description: 'MEMs in which to allow execution (0-3, 0,1)' },
    { name: 'pids-limit', type: 'number', value: 'int', description: 'tune container pids limit (set -1 for unlimited)' },
    { name: 'blkio-weight', type: 'number', value: 'uint16', description: 'block IO (relative weight), between 10 and 1000, or 0 to disable' },
    { name: 'restart', type: 'string', value: 'string', description: 'restart policy to apply when a container exits' },
  ]),
  run(args, env) {
    const update: UpdateSpec = {};
    const str = (n: string) => stringFlag(args, n);
    const num = (n: string) => (typeof args.flags[n] === 'number' ? (args.flags[n] as number) : undefined);
    if (str('memory') !== undefined) update.memory = parseBytes(str('memory')!, '-m, --memory');
    if (str('memory-swap') !== undefined) update.memorySwap = str('memory-swap') === '-1' ? -1 : parseBytes(str('memory-swap')!, '--memory-swap');
    if (str('memory-reservation') !== undefined) update.memoryReservation = parseBytes(str('memory-reservation')!, '--memory-reservation');
    if (str('cpus') !== undefined) {
      const cpus = Number(str('cpus'));
      if (!Number.isFinite(cpus) || cpus < 0) throw new BerthError('INVALID_ARGUMENT', `invalid argument "${str('cpus')}" for "--cpus" flag`);
      update.cpus = cpus;
    }
    for (const [flag, key] of [['cpu-shares', 'cpuShares'], ['cpu-quota', 'cpuQuota'], ['cpu-period', 'cpuPeriod'], ['pids-limit', 'pidsLimit'], ['blkio-weight', 'blkioWeight']] as const) {
      const v = num(flag);
      if (v !== undefined) update[key] = v;
    }
    if (str('cpuset-cpus') !== undefined) update.cpusetCpus = str('cpuset-cpus')!;
    if (str('cpuset-mems') !== undefined) update.cpusetMems = str('cpuset-mems')!;
    if (str('restart') !== undefined) update.restart = parseRestart(str('restart')!);
    if (Object.keys(update).length === 0) throw new BerthError('INVALID_ARGUMENT', 'you must provide one or more flags when using this command');
    return forEachContainer(args, env, async (ref) => {
      const { warnings } = await env.engine().containers.update(ref, update);
      for (const w of warnings) env.io.err(`WARNING: ${w}\n`);
      return ref;
    });
  },
};

export const containerPruneCommand: BerthCommand = {
  spec: {
    name: 'container prune',
    usage: 'container prune [OPTIONS]',
    summary: 'Remove all stopped containers',
    positionals: [0, 0],
    flags: [
      { name: 'filter', type: 'string', value: 'filter', repeatable: true, description: 'provide filter values (e.g. "until=<timestamp>", "label=<key>")' },
      { name: 'force', short: 'f', type: 'boolean', description: 'do not prompt for confirmation' },
    ],
  },
  async run(args, env) {
    let until: number | undefined;
    const labels: [string, string | undefined, boolean][] = [];
    for (const f of listFlag(args, 'filter')) {
      const eq = f.indexOf('=');
      const key = f.slice(0, eq);
      const value = f.slice(eq + 1);
      if (key === 'until') until = parseTimeFilter(value);
      else if (key === 'label' || key === 'label!') {
        const [k, v] = value.split('=', 2) as [string, string?];
        labels.push([k, v, key === 'label!']);
      } else throw new BerthError('INVALID_ARGUMENT', `invalid filter '${key}'`);
    }
    if (!boolFlag(args, 'force')) {
      env.io.out('WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] ');
      const answer = (await readLine(env.io.stdin))?.trim().toLowerCase();
      if (answer !== 'y' && answer !== 'yes') {
        env.io.out('\n');
        return 0;
      }
    }
    const result = await env.engine().containers.prune({
      ...(until !== undefined ? { until } : {}),
      ...(labels.length
        ? {
            labels: (rec) => {
              const have = (rec.config as { Labels?: Record<string, string> }).Labels ?? {};
              return labels.every(([k, v, negate]) => (k in have && (v === undefined || have[k] === v)) !== negate);
            },
          }
        : {}),
    });
    if (result.ContainersDeleted.length) env.io.out(`Deleted Containers:\n${result.ContainersDeleted.join('\n')}\n\n`);
    env.io.out(`Total reclaimed space: ${humanSize(result.SpaceReclaimed, 4)}\n`);
    return 0;
  },
};

/** docker's time filters: a unix time, an RFC 3339 date, or a duration back from now (10m, 2h). */
export function parseTimeFilter(text: string): number {
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  const duration = /^(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)$/.exec(text);
  if (duration) {
    const unit = { ns: 1e-6, us: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[duration[2] as 'ns'];
    return Date.now() - Number(duration[1]) * unit;
  }
  const t = Date.parse(text);
  if (Number.isNaN(t)) throw new BerthError('INVALID_ARGUMENT', `invalid time ${JSON.stringify(text)}: use a unix time, an RFC 3339 date or a duration such as 10m`);
  return t;
}

export const containerCleanupCommand: BerthCommand = {
  spec: { name: 'container cleanup', usage: 'container cleanup CONTAINER_ID', summary: "Finish a container that ended (its monitor's exit command): record its exit, remove it (--rm) or restart it (--restart)", positionals: [1, 1], flags: [] },
  async run(args, env) {
    // a monitor that outlived its root (removed with rm -rf meanwhile) has nothing to finish: it
    // must not make the root, its database and its network again
    if (!existsSync(join(resolveRoot(env.globals.root), DATABASE_FILE))) return 0;
    await env.engine().containers.cleanup(args.positionals[0]!);
    return 0;
  },
};
