/**
 * `berth ps` / `container ls`: docker's table (CONTAINER ID IMAGE COMMAND CREATED STATUS PORTS
 * NAMES), -a, -q, -n, -l, -s, --filter id|name|label|status|exited|ancestor, --no-trunc,
 * --format json|<template>|table <template>.
 */
import { BerthError } from '../common/index.ts';
import { containerPaths, dirSize, familiarName, parseReference, portsColumn, type ContainerSummary, type Engine } from '../engine/index.ts';
import type { CommandSpec, ParsedArgs } from './args.ts';
import { boolFlag, formatFlag, listFlag, stringFlag, type BerthCommand } from './berth-command.ts';
import { renderFormatted } from './render/format.ts';
import { renderTable } from './render/table.ts';
import { goTime, humanSize, timeAgo } from './render/units.ts';

export interface ContainerRow {
  Command: string;
  CreatedAt: string;
  ID: string;
  Image: string;
  Labels: string;
  LocalVolumes: string;
  Mounts: string;
  Names: string;
  Networks: string;
  Ports: string;
  RunningFor: string;
  Size: string;
  State: string;
  Status: string;
}

const HEADERS: Record<string, string> = {
  Command: 'COMMAND',
  CreatedAt: 'CREATED AT',
  ID: 'CONTAINER ID',
  Image: 'IMAGE',
  Labels: 'LABELS',
  LocalVolumes: 'LOCAL VOLUMES',
  Mounts: 'MOUNTS',
  Names: 'NAMES',
  Networks: 'NETWORKS',
  Ports: 'PORTS',
  RunningFor: 'CREATED',
  Size: 'SIZE',
  State: 'STATE',
  Status: 'STATUS',
};

const STATUSES = ['created', 'restarting', 'running', 'removing', 'paused', 'exited', 'dead'];

/** docker's Command column: quoted, 20 characters with an ellipsis unless --no-trunc. */
function commandColumn(command: string, noTrunc: boolean): string {
  const shown = !noTrunc && [...command].length > 19 ? [...command].slice(0, 19).join('') + '…' : command;
  return `"${shown}"`;
}

export type Filter = (s: ContainerSummary) => boolean;

function parseFilters(texts: string[], engine: () => Engine): Filter[] {
  const byKey = new Map<string, string[]>();
  for (const text of texts) {
    const eq = text.indexOf('=');
    if (eq <= 0) throw new BerthError('INVALID_ARGUMENT', `bad format of filter (expected name=value): ${text}`);
    const key = text.slice(0, eq);
    byKey.set(key, [...(byKey.get(key) ?? []), text.slice(eq + 1)]);
  }
  return containerFilters(byKey, engine);
}

/** docker's container filters (ps --filter, the API's `filters`): name → alternatives. */
export function containerFilters(byKey: Map<string, string[]>, engine: () => Engine): Filter[] {
  const filters: Filter[] = [];
  for (const [key, values] of byKey) {
    // values of one key are alternatives (any), different keys must all match
    switch (key) {
      case 'id':
        filters.push((s) => values.some((v) => s.Id.startsWith(v)));
        break;
      case 'name':
        filters.push((s) => values.some((v) => new RegExp(v).test(s.Names[0]!.slice(1))));
        break;
      case 'label':
        filters.push((s) => values.every((v) => {
          const [k, val] = v.split('=', 2) as [string, string?];
          return k in s.Labels && (val === undefined || s.Labels[k] === val);
        }));
        break;
      case 'status':
        for (const v of values) if (!STATUSES.includes(v)) throw new BerthError('INVALID_ARGUMENT', `invalid filter 'status=${v}'`, { hint: `one of ${STATUSES.join(', ')}` });
        filters.push((s) => values.includes(s.State));
        break;
      case 'exited':
        for (const v of values) if (!/^-?\d+$/.test(v)) throw new BerthError('INVALID_ARGUMENT', `invalid filter 'exited=${v}'`);
        filters.push((s) => s.State === 'exited' && values.includes(String(s.record.exitCode)));
        break;
      case 'ancestor': {
        const ids = values.map((v) => {
          const image = engine().images.ctx.store.find(v);
          return image?.id;
        });
        filters.push((s) => ids.includes(s.ImageID) || values.some((v) => s.Image === v || familiarName(parseReference(s.Image).name) === v));
        break;
      }
      case 'before':
      case 'since': {
        const other = engine().containers.get(values[0]!);
        const t = Date.parse(other.createdAt);
        filters.push((s) => (key === 'before' ? s.Created * 1000 < t && Date.parse(s.record.createdAt) < t : Date.parse(s.record.createdAt) > t));
        break;
      }
      default:
        throw new BerthError('INVALID_ARGUMENT', `invalid filter '${key}'`, { hint: 'filters: id, name, label, status, exited, ancestor, before, since' });
    }
  }
  return filters;
}

function rowOf(s: ContainerSummary, opts: { noTrunc: boolean; size?: number }, now: number): ContainerRow {
  return {
    Command: commandColumn(s.Command, opts.noTrunc),
    CreatedAt: goTime(s.Created),
    ID: opts.noTrunc ? s.Id : s.Id.slice(0, 12),
    Image: s.Image,
    Labels: Object.entries(s.Labels).map(([k, v]) => `${k}=${v}`).join(','),
    LocalVolumes: '0',
    Mounts: (s.Mounts as { Source?: string }[]).map((m) => m.Source ?? '').join(','),
    Names: s.Names.map((n) => n.slice(1)).join(','),
    Networks: s.HostConfig.NetworkMode,
    Ports: portsColumn(s.Ports as Parameters<typeof portsColumn>[0]),
    RunningFor: timeAgo(s.Created, now),
    Size: opts.size === undefined ? '' : humanSize(opts.size),
    State: s.State,
    Status: s.Status,
  };
}

function psSpec(name: string): CommandSpec {
  return {
    name,
    usage: `${name} [OPTIONS]`,
    summary: 'List containers',
    positionals: [0, 0],
    flags: [
      { name: 'all', short: 'a', type: 'boolean', description: 'show all containers (default shows just running)' },
      { name: 'filter', short: 'f', type: 'string', value: 'filter', repeatable: true, description: 'filter output based on conditions provided (id, name, label, status, exited, ancestor, before, since)' },
      formatFlag,
      { name: 'last', short: 'n', type: 'number', value: 'int', description: 'show n last created containers (includes all states)' },
      { name: 'latest', short: 'l', type: 'boolean', description: 'show the latest created container (includes all states)' },
      { name: 'no-trunc', type: 'boolean', description: "don't truncate output" },
      { name: 'quiet', short: 'q', type: 'boolean', description: 'only display container IDs' },
      { name: 'size', short: 's', type: 'boolean', description: 'display total file sizes' },
    ],
  };
}

async function listRows(args: ParsedArgs, engine: () => Engine): Promise<{ summaries: ContainerSummary[]; sizes: Map<string, number> }> {
  const last = typeof args.flags.last === 'number' ? args.flags.last : boolFlag(args, 'latest') ? 1 : -1;
  const filters = parseFilters(listFlag(args, 'filter'), engine);
  const all = boolFlag(args, 'all') || last > 0 || listFlag(args, 'filter').some((f) => f.startsWith('status=') || f.startsWith('exited='));
  let summaries = engine().containers.list({ all }).filter((s) => filters.every((f) => f(s)));
  if (last > 0) summaries = summaries.slice(0, last);
  const sizes = new Map<string, number>();
  if (boolFlag(args, 'size')) {
    for (const s of summaries) sizes.set(s.Id, await dirSize(containerPaths(engine().ctx.paths, s.Id).upperDir));
  }
  return { summaries, sizes };
}

function psCommand(name: string): BerthCommand {
  return {
    spec: psSpec(name),
    async run(args, env) {
      const { summaries, sizes } = await listRows(args, env.engine);
      const noTrunc = boolFlag(args, 'no-trunc');
      const now = Date.now();
      if (boolFlag(args, 'quiet')) {
        env.io.out(summaries.map((s) => (noTrunc ? s.Id : s.Id.slice(0, 12)) + '\n').join(''));
        return 0;
      }
      const rows = summaries.map((s) => rowOf(s, { noTrunc, ...(sizes.has(s.Id) ? { size: sizes.get(s.Id)! } : {}) }, now));
      const format = stringFlag(args, 'format');
      if (format && format !== 'table') {
        env.io.out(renderFormatted(rows, format, HEADERS));
        return 0;
      }
      const columns: Array<keyof ContainerRow> = ['ID', 'Image', 'Command', 'RunningFor', 'Status', 'Ports', 'Names'];
      if (sizes.size || boolFlag(args, 'size')) columns.push('Size');
      env.io.out(renderTable([columns.map((c) => HEADERS[c]!), ...rows.map((r) => columns.map((c) => r[c]))]));
      return 0;
    },
  };
}

export const psTopCommand = psCommand('ps');
export const containerLsCommand = psCommand('container ls');
