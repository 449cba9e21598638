/**
 * `berth info`, `version`, `events`, `system df|check|prune|boot`.
 */
import { release } from 'node:os';
import { API_VERSION, MIN_API_VERSION } from './docker-api/http.ts';
import { BerthError } from '../common/index.ts';
import { bootSystem, checkSystem, diskUsage, systemInfo } from '../engine/index.ts';
import type { CommandSpec } from './args.ts';
import { boolFlag, formatFlag, listFlag, readLine, stringFlag, type BerthCommand } from './berth-command.ts';
import { parseTimeFilter } from './berth-container-verbs.ts';
import { goJson, renderTable } from './render/table.ts';
import { compileTemplate } from './render/template.ts';
import { humanSize } from './render/units.ts';

export const VERSION = '0.1.0';

function formatted(value: object, format: string | undefined): string | undefined {
  if (!format) return undefined;
  if (format === 'json') return goJson(value) + '\n';
  return compileTemplate(format).render(value) + '\n';
}

export const infoCommand: BerthCommand = {
  spec: { name: 'info', usage: 'info [OPTIONS]', summary: 'Display system-wide information', positionals: [0, 0], flags: [formatFlag] },
  async run(args, env) {
    const info = await systemInfo(env.engine().ctx);
    info.ServerVersion = VERSION;
    const text = formatted(info, stringFlag(args, 'format'));
    if (text !== undefined) return env.io.out(text), 0;
    const i = info as Record<string, unknown> & { DriverStatus: string[][] };
    env.io.out(
      [
        'Server:',
        ` Containers: ${i.Containers}`,
        `  Running: ${i.ContainersRunning}`,
        `  Paused: ${i.ContainersPaused}`,
        `  Stopped: ${i.ContainersStopped}`,
        ` Images: ${i.Images}`,
        ` Server Version: ${i.ServerVersion} (berth, daemonless)`,
        ` Storage Driver: ${i.Driver}`,
        ...i.DriverStatus.map(([k, v]) => `  ${k}: ${v}`),
        ` Logging Driver: ${i.LoggingDriver}`,
        ` Cgroup Driver: ${i.CgroupDriver}`,
        ` Cgroup Version: ${i.CgroupVersion}`,
        ` Default Runtime: ${i.DefaultRuntime}`,
        ' Security Options:',
        '  seccomp',
        '   Profile: builtin',
        ` Kernel Version: ${i.KernelVersion}`,
        ` Operating System: ${i.OperatingSystem}`,
        ` OSType: ${i.OSType}`,
        ` Architecture: ${i.Architecture}`,
        ` CPUs: ${i.NCPU}`,
        ` Total Memory: ${humanSize(i.MemTotal as number)}`,
        ` Name: ${i.Name}`,
        ` Docker Root Dir: ${i.DockerRootDir}`,
        '',
      ].join('\n'),
    );
    return 0;
  },
};

export const versionCommand: BerthCommand = {
  spec: { name: 'version', usage: 'version [OPTIONS]', summary: 'Show the berth version information', positionals: [0, 0], flags: [formatFlag] },
  async run(args, env) {
    const v = {
      Client: { Version: VERSION, ApiVersion: '1.43', GoVersion: `node ${process.version}`, Os: 'linux', Arch: process.arch === 'x64' ? 'amd64' : process.arch },
      Server: { Version: VERSION, ApiVersion: API_VERSION, MinAPIVersion: MIN_API_VERSION, Os: 'linux', Arch: process.arch === 'x64' ? 'amd64' : process.arch, KernelVersion: release() },
    };
    const text = formatted(v, stringFlag(args, 'format'));
    if (text !== undefined) return env.io.out(text), 0;
    env.io.out(
      `Client:\n Version:           ${v.Client.Version}\n API version:       ${v.Client.ApiVersion}\n Built with:        ${v.Client.GoVersion}\n OS/Arch:           ${v.Client.Os}/${v.Client.Arch}\n\n` +
        `Server: berth (daemonless: the engine runs in each command)\n Engine:\n  Version:          ${v.Server.Version}\n  API version:      ${v.Server.ApiVersion} (minimum version ${v.Server.MinAPIVersion})\n  OS/Arch:          ${v.Server.Os}/${v.Server.Arch}\n  Kernel Version:   ${v.Server.KernelVersion}\n`,
    );
    return 0;
  },
};

export const systemDfCommand: BerthCommand = {
  spec: { name: 'system df', usage: 'system df [OPTIONS]', summary: 'Show berth disk usage', positionals: [0, 0], flags: [formatFlag, { name: 'verbose', short: 'v', type: 'boolean', description: 'show detailed information on space usage' }] },
  async run(args, env) {
    const du = await diskUsage(env.engine().ctx);
    const pct = (a: number, b: number) => (b ? ` (${Math.round((a / b) * 100)}%)` : '');
    const rows = [
      { Type: 'Images', TotalCount: String(du.images.total), Active: String(du.images.active), Size: humanSize(du.images.size), Reclaimable: humanSize(du.images.reclaimable) + pct(du.images.reclaimable, du.images.size) },
      { Type: 'Containers', TotalCount: String(du.containers.total), Active: String(du.containers.active), Size: humanSize(du.containers.size), Reclaimable: humanSize(du.containers.reclaimable) + pct(du.containers.reclaimable, du.containers.size) },
      { Type: 'Local Volumes', TotalCount: String(du.volumes.total), Active: String(du.volumes.active), Size: humanSize(du.volumes.size), Reclaimable: humanSize(du.volumes.reclaimable) + pct(du.volumes.reclaimable, du.volumes.size) },
      { Type: 'Build Cache', TotalCount: '0', Active: '0', Size: '0B', Reclaimable: '0B' },
    ];
    const format = stringFlag(args, 'format');
    if (format && format !== 'table') {
      const { renderFormatted } = await import('./render/format.ts');
      return env.io.out(renderFormatted(rows, format, { Type: 'TYPE', TotalCount: 'TOTAL', Active: 'ACTIVE', Size: 'SIZE', Reclaimable: 'RECLAIMABLE' })), 0;
    }
    env.io.out(renderTable([['TYPE', 'TOTAL', 'ACTIVE', 'SIZE', 'RECLAIMABLE'], ...rows.map((r) => [r.Type, r.TotalCount, r.Active, r.Size, r.Reclaimable])]));
    return 0;
  },
};

export const systemCheckCommand: BerthCommand = {
  spec: {
    name: 'system check',
    usage: 'system check',
    summary: 'Find and repair what killed commands and monitors left: containers whose processes are gone, half-made or half-removed containers, runtime states, cgroups, sockets and temp files of no container',
    positionals: [0, 0],
    flags: [],
  },
  async run(_args, env) {
    const result = await checkSystem(env.engine().ctx);
    for (const line of result.repaired) env.io.out(`repaired: ${line}\n`);
    for (const line of result.problems) env.io.err(`problem: ${line}\n`);
    if (!result.repaired.length && !result.problems.length) env.io.out('nothing to repair\n');
    return result.problems.length ? 1 : 0;
  },
};

export const systemBootCommand: BerthCommand = {
  spec: {
    name: 'system boot',
    usage: 'system boot',
    summary: 'Start the containers whose restart policy brings them back after a reboot (run it at boot: see the README for a systemd unit)',
    positionals: [0, 0],
    flags: [],
  },
  async run(_args, env) {
    const { started, failed } = await bootSystem(env.engine().ctx);
    for (const id of started) env.io.out(`${id}\n`);
    for (const f of failed) env.io.err(`Error: cannot start ${f.id.slice(0, 12)}: ${f.error}\n`);
    return failed.length ? 1 : 0;
  },
};

export const systemPruneCommand: BerthCommand = {
  spec: {
    name: 'system prune',
    usage: 'system prune [OPTIONS]',
    summary: 'Remove unused data: stopped containers, networks no container uses, and dangling images (with -a, every image no container uses)',
    positionals: [0, 0],
    flags: [
      { name: 'all', short: 'a', type: 'boolean', description: 'remove all unused images not just dangling ones' },
      { name: 'force', short: 'f', type: 'boolean', description: 'do not prompt for confirmation' },
      { name: 'volumes', type: 'boolean', description: 'prune anonymous volumes no container uses' },
      { name: 'filter', type: 'string', value: 'filter', repeatable: true, description: 'provide filter values (e.g. "until=<timestamp>")' },
    ],
  },
  async run(args, env) {
    const all = boolFlag(args, 'all');
    if (!boolFlag(args, 'force')) {
      env.io.out(`WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n  - ${all ? 'all images without at least one container associated to them' : 'all dangling images'}\n\nAre you sure you want to continue? [y/N] `);
      const answer = (await readLine(env.io.stdin))?.trim().toLowerCase();
      if (answer !== 'y' && answer !== 'yes') return env.io.out('\n'), 0;
    }
    let until: number | undefined;
    for (const f of listFlag(args, 'filter')) {
      if (!f.startsWith('until=')) throw new BerthError('INVALID_ARGUMENT', `invalid filter '${f.split('=')[0]}'`);
      until = parseTimeFilter(f.slice(6));
    }
    const engine = env.engine();
    const containers = await engine.containers.prune(until !== undefined ? { until } : {});
    if (containers.ContainersDeleted.length) env.io.out(`Deleted Containers:\n${containers.ContainersDeleted.join('\n')}\n\n`);
    const networks = engine.networks.prune();
    if (networks.length) env.io.out(`Deleted Networks:\n${networks.map((n) => n.name).join('\n')}\n\n`);
    if (boolFlag(args, 'volumes')) {
      const volumes = await engine.volumes.prune();
      if (volumes.removed.length) env.io.out(`Deleted Volumes:\n${volumes.removed.join('\n')}\n\n`);
    }
    const images = await engine.images.prune({ all });
    if (images.entries.length) env.io.out(`Deleted Images:\n${images.entries.map((e) => ('Untagged' in e ? `untagged: ${e.Untagged}` : `deleted: ${e.Deleted}`)).join('\n')}\n\n`);
    env.io.out(`Total reclaimed space: ${humanSize(containers.SpaceReclaimed + images.reclaimed, 4)}\n`);
    return 0;
  },
};

export const eventsCommand: BerthCommand = {
  spec: {
    name: 'events',
    usage: 'events [OPTIONS]',
    summary: 'Get real time events from the engine',
    positionals: [0, 0],
    flags: [
      { name: 'since', type: 'string', value: 'string', description: 'show all events created since timestamp' },
      { name: 'until', type: 'string', value: 'string', description: 'stream events until this timestamp' },
      { name: 'filter', short: 'f', type: 'string', value: 'filter', repeatable: true, description: 'filter output based on conditions provided (container, event, type)' },
      formatFlag,
    ],
  } satisfies CommandSpec,
  async run(args, env) {
    const since = stringFlag(args, 'since');
    const until = stringFlag(args, 'until');
    const sinceMs = since ? parseTimeFilter(since) : undefined;
    const untilMs = until ? parseTimeFilter(until) : undefined;
    const engine = env.engine();
    const filters = listFlag(args, 'filter').map((f) => f.split('=', 2) as [string, string]);
    // without --since: only what comes from now on
    const start = sinceMs === undefined ? (engine.ctx.db.get<{ id: number }>('SELECT max(id) AS id FROM events')?.id ?? 0) : 0;
    const abort = new AbortController();
    const stop = () => abort.abort();
    process.once('SIGINT', stop);
    env.io.closed?.addEventListener('abort', stop, { once: true });
    let timer: NodeJS.Timeout | undefined;
    if (untilMs !== undefined) timer = setTimeout(stop, Math.max(0, untilMs - Date.now()));
    const format = stringFlag(args, 'format');
    try {
      for await (const e of engine.containers.events({ since: start, signal: abort.signal })) {
        const ms = Number(e.timeNano / 1_000_000n);
        if (sinceMs !== undefined && ms < sinceMs) continue;
        if (untilMs !== undefined && ms > untilMs) break;
        const ok = filters.every(([k, v]) => (k === 'container' ? e.actorId.startsWith(v) || e.attributes.name === v : k === 'event' ? e.action === v : k === 'type' ? e.type === v : true));
        if (!ok) continue;
        const doc = { Type: e.type, Action: e.action, Actor: { ID: e.actorId, Attributes: e.attributes }, scope: 'local', time: Math.floor(ms / 1000), timeNano: Number(e.timeNano), status: e.action, id: e.actorId, from: e.attributes.image ?? '' };
        if (format) env.io.out(format === 'json' ? goJson(doc) + '\n' : compileTemplate(format).render(doc) + '\n');
        else {
          const iso = new Date(ms).toISOString().replace('Z', `${String(e.timeNano % 1_000_000n).padStart(6, '0')}Z`);
          const attrs = Object.entries(e.attributes).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}=${v}`).join(', ');
          env.io.out(`${iso} ${e.type} ${e.action} ${e.actorId}${attrs ? ` (${attrs})` : ''}\n`);
        }
      }
    } finally {
      process.off('SIGINT', stop);
      if (timer) clearTimeout(timer);
    }
    return 0;
  },
};
