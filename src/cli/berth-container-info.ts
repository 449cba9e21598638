/**
 * `berth inspect` (containers and images), `container inspect`, `top`, `stats`.
 */
import { availableParallelism } from 'node:os';
import { BerthError } from '../common/index.ts';
import type { StatsSample } from '../engine/index.ts';
import type { CommandSpec } from './args.ts';
import { boolFlag, formatFlag, stringFlag, type BerthCommand } from './berth-command.ts';
import { renderFormatted } from './render/format.ts';
import { printInspected } from './cli-shared.ts';
import { renderTable } from './render/table.ts';
import { formatG, humanSize } from './render/units.ts';

function inspectCommand(name: string, types: readonly ('container' | 'image')[]): BerthCommand {
  const flags: CommandSpec['flags'] = [
    { ...formatFlag, short: 'f', description: "format the output with a Go template ('{{.State.Status}}', '{{json .Config}}')" },
    { name: 'size', short: 's', type: 'boolean', description: 'display total file sizes' },
  ];
  if (types.length > 1) flags.push({ name: 'type', type: 'string', value: 'string', description: 'return JSON for a specified type (container or image)' });
  return {
    spec: { name, usage: `${name} [OPTIONS] NAME|ID [NAME|ID...]`, summary: `Return low-level information on ${types.length > 1 ? 'Docker objects' : 'one or more containers'}`, positionals: [1, Infinity], flags },
    async run(args, env) {
      const wanted = stringFlag(args, 'type');
      if (wanted !== undefined && wanted !== 'container' && wanted !== 'image') throw new BerthError('INVALID_ARGUMENT', `"${wanted}" is not a valid value for --type`);
      const found: unknown[] = [];
      let failed = false;
      for (const ref of args.positionals) {
        let value: unknown;
        for (const type of types) {
          if (wanted && wanted !== type) continue;
          try {
            value = type === 'container' ? await env.engine().containers.inspect(ref) : env.images().inspect(ref);
            break;
          } catch (err) {
            if (!(err instanceof BerthError) || err.code !== 'NOT_FOUND') throw err;
          }
        }
        if (value === undefined) {
          env.io.err(`Error: No such ${types.length > 1 && !wanted ? 'object' : wanted ?? 'container'}: ${ref}\n`);
          failed = true;
        } else found.push(value);
      }
      printInspected(env.io, found, stringFlag(args, 'format'));
      return failed ? 1 : 0;
    },
  };
}

export const inspectTopCommand = inspectCommand('inspect', ['container', 'image']);
export const containerInspectCommand = inspectCommand('container inspect', ['container']);

export const topCommand: BerthCommand = {
  spec: { name: 'top', usage: 'top CONTAINER [ps OPTIONS]', summary: 'Display the running processes of a container', positionals: [1, Infinity], restAfter: 1, flags: [] },
  async run(args, env) {
    const [ref, ...psArgs] = args.positionals;
    const top = await env.engine().containers.top(ref!, psArgs.length ? psArgs : undefined);
    env.io.out(renderTable([top.Titles, ...top.Processes]));
    return 0;
  },
};

interface StatsRow {
  BlockIO: string;
  CPUPerc: string;
  Container: string;
  ID: string;
  MemPerc: string;
  MemUsage: string;
  Name: string;
  NetIO: string;
  PIDs: string;
}

const STATS_HEADERS: Record<string, string> = {
  BlockIO: 'BLOCK I/O',
  CPUPerc: 'CPU %',
  Container: 'CONTAINER',
  ID: 'CONTAINER ID',
  MemPerc: 'MEM %',
  MemUsage: 'MEM USAGE / LIMIT',
  Name: 'NAME',
  NetIO: 'NET I/O',
  PIDs: 'PIDS',
};

/** docker's binary sizes for memory: "1.5MiB". */
function binarySize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  let v = bytes;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${formatG(v, 4)}${units[i]}`;
}

function statsRow(ref: string, a: StatsSample, b: StatsSample, cpus: number): StatsRow {
  const elapsedNs = (b.readAt - a.readAt) * 1e6;
  const cpu = elapsedNs > 0 ? ((b.cpuNs - a.cpuNs) / elapsedNs) * 100 : 0;
  void cpus;
  return {
    BlockIO: `${humanSize(b.blockRead)} / ${humanSize(b.blockWrite)}`,
    CPUPerc: `${Math.max(0, cpu).toFixed(2)}%`,
    Container: ref,
    ID: b.id.slice(0, 12),
    MemPerc: `${b.memoryLimit ? ((b.memoryUsage / b.memoryLimit) * 100).toFixed(2) : '0.00'}%`,
    MemUsage: `${binarySize(b.memoryUsage)} / ${binarySize(b.memoryLimit)}`,
    Name: b.name,
    NetIO: '0B / 0B',
    PIDs: String(b.pids),
  };
}

export const statsCommand: BerthCommand = {
  spec: {
    name: 'stats',
    usage: 'stats [OPTIONS] [CONTAINER...]',
    summary: 'Display a live stream of container(s) resource usage statistics',
    positionals: [0, Infinity],
    flags: [
      { name: 'all', short: 'a', type: 'boolean', description: 'show all containers (default shows just running)' },
      formatFlag,
      { name: 'no-stream', type: 'boolean', description: 'disable streaming stats and only pull the first result' },
      { name: 'no-trunc', type: 'boolean', description: 'do not truncate output' },
    ],
  },
  async run(args, env) {
    const containers = env.engine().containers;
    const refs = args.positionals.length ? args.positionals : containers.list({ all: boolFlag(args, 'all') }).map((s) => s.Id);
    const noStream = boolFlag(args, 'no-stream');
    const format = stringFlag(args, 'format');
    const cpus = availableParallelism();
    const sample = async () => {
      const out = new Map<string, StatsSample>();
      for (const ref of refs) {
        const s = await containers.stats(ref);
        if (s) out.set(ref, s);
      }
      return out;
    };
    let before = await sample();
    const abort = new AbortController();
    const stop = () => abort.abort();
    process.once('SIGINT', stop);
    try {
      for (;;) {
        await new Promise((r) => setTimeout(r, noStream ? 500 : 1000));
        const now = await sample();
        const rows = refs.filter((r) => now.has(r) && before.has(r)).map((r) => statsRow(r, before.get(r)!, now.get(r)!, cpus));
        if (args.positionals.length && !rows.length && refs.every((r) => !now.has(r))) throw new BerthError('CONFLICT', `container ${refs[0]} is not running`);
        let text: string;
        if (format && format !== 'table') text = renderFormatted(rows, format, STATS_HEADERS);
        else {
          const cols: (keyof StatsRow)[] = ['ID', 'Name', 'CPUPerc', 'MemUsage', 'MemPerc', 'NetIO', 'BlockIO', 'PIDs'];
          text = renderTable([cols.map((c) => STATS_HEADERS[c]!), ...rows.map((r) => cols.map((c) => r[c]))]);
        }
        if (noStream) {
          env.io.out(text);
          return 0;
        }
        env.io.out((env.io.isTty ? '\x1b[2J\x1b[H' : '') + text);
        before = now;
        if (abort.signal.aborted) return 0;
      }
    } finally {
      process.off('SIGINT', stop);
    }
  },
};
