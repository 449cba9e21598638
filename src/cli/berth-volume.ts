/**
 * `berth volume create|ls|inspect|rm|prune`, as docker has them.
 */
import { BerthError } from '../common/index.ts';
import { matchesLabels, parseLabelFilter, type VolumeRecord } from '../engine/index.ts';
import { boolFlag, forEachContainer, formatFlag, listFlag, stringFlag, type BerthCommand } from './berth-command.ts';
import { confirmPrune, keyValueFlags, printInspected, pruneLabelFilters } from './cli-shared.ts';
import { globToRegExp, renderFormatted } from './render/format.ts';
import { renderTable } from './render/table.ts';
import { humanSize } from './render/units.ts';

export const volumeCreateCommand: BerthCommand = {
  spec: {
    name: 'volume create',
    usage: 'volume create [OPTIONS] [VOLUME]',
    summary: 'Create a volume (a random name when none is given; the existing one when it exists)',
    positionals: [0, 1],
    flags: [
      { name: 'driver', short: 'd', type: 'string', value: 'string', description: 'specify volume driver name (local)' },
      { name: 'opt', short: 'o', type: 'string', value: 'map', repeatable: true, description: "set driver specific options: type=tmpfs|none|<fs>, o=<mount options>, device=<what to mount>" },
      { name: 'label', type: 'string', value: 'list', repeatable: true, description: 'set metadata for a volume' },
      { name: 'name', type: 'string', value: 'string', description: 'specify volume name', hidden: true },
    ],
  },
  async run(args, env) {
    const name = args.positionals[0] ?? stringFlag(args, 'name');
    const driver = stringFlag(args, 'driver');
    const v = env.engine().volumes.create({
      ...(name ? { name } : {}),
      ...(driver ? { driver } : {}),
      options: keyValueFlags(listFlag(args, 'opt'), '--opt'),
      labels: keyValueFlags(listFlag(args, 'label'), '--label'),
    });
    env.io.out(`${v.name}\n`);
    return 0;
  },
};

type Filter = (v: VolumeRecord, inUse: boolean) => boolean;

function volumeFilters(texts: string[]): Filter[] {
  const filters: Filter[] = [];
  for (const t of texts) {
    const eq = t.indexOf('=');
    if (eq <= 0) throw new BerthError('INVALID_ARGUMENT', `bad format of filter (expected name=value): ${t}`);
    const [key, value] = [t.slice(0, eq), t.slice(eq + 1)];
    switch (key) {
      case 'name':
        filters.push((v) => v.name.includes(value) || globToRegExp(value).test(v.name));
        break;
      case 'driver':
        filters.push((v) => v.driver === value);
        break;
      case 'dangling':
        if (!['true', 'false', '1', '0'].includes(value)) throw new BerthError('INVALID_ARGUMENT', `invalid filter 'dangling=${value}'`);
        filters.push((_, inUse) => (value === 'true' || value === '1') === !inUse);
        break;
      case 'label':
      case 'label!': {
        const f = parseLabelFilter(value, key === 'label!');
        filters.push((v) => matchesLabels(v.labels, [f]));
        break;
      }
      default:
        throw new BerthError('INVALID_ARGUMENT', `invalid filter '${key}'`, { hint: 'filters: name, driver, dangling=true|false, label=KEY[=VALUE]' });
    }
  }
  return filters;
}

export const volumeLsCommand: BerthCommand = {
  spec: {
    name: 'volume ls',
    usage: 'volume ls [OPTIONS]',
    summary: 'List volumes',
    positionals: [0, 0],
    flags: [
      { name: 'filter', short: 'f', type: 'string', value: 'FILTER', repeatable: true, description: "filter: dangling=true|false, name, driver, label=KEY[=VALUE]" },
      formatFlag,
      { name: 'quiet', short: 'q', type: 'boolean', description: 'only display volume names' },
    ],
  },
  async run(args, env) {
    const engine = env.engine();
    const filters = volumeFilters(listFlag(args, 'filter'));
    const rows = engine.volumes
      .list()
      .filter((v) => filters.every((f) => f(v, engine.volumes.inUse(v.name))))
      .map((v) => ({ Driver: v.driver, Name: v.name, Scope: 'local', Mountpoint: (engine.volumes.inspect(v.name).Mountpoint as string), Labels: Object.entries(v.labels).map(([k, x]) => `${k}=${x}`).join(',') }));
    const format = stringFlag(args, 'format');
    if (boolFlag(args, 'quiet')) env.io.out(rows.map((r) => `${r.Name}\n`).join(''));
    else if (format && format !== 'table') env.io.out(renderFormatted(rows, format, { Driver: 'DRIVER', Name: 'VOLUME NAME', Scope: 'SCOPE', Mountpoint: 'MOUNTPOINT', Labels: 'LABELS' }));
    else env.io.out(renderTable([['DRIVER', 'VOLUME NAME'], ...rows.map((r) => [r.Driver, r.Name])]));
    return 0;
  },
};

export const volumeInspectCommand: BerthCommand = {
  spec: {
    name: 'volume inspect',
    usage: 'volume inspect [OPTIONS] VOLUME [VOLUME...]',
    summary: 'Display detailed information on one or more volumes',
    positionals: [1, Infinity],
    flags: [{ ...formatFlag, short: 'f', description: "format the output with a Go template ('{{.Mountpoint}}')" }],
  },
  async run(args, env) {
    const found: unknown[] = [];
    let failed = false;
    for (const name of args.positionals) {
      try {
        found.push(env.engine().volumes.inspect(name));
      } catch (err) {
        if (!(err instanceof BerthError) || err.code !== 'NOT_FOUND') throw err;
        env.io.err(`Error: No such volume: ${name}\n`);
        failed = true;
      }
    }
    printInspected(env.io, found, stringFlag(args, 'format'));
    return failed ? 1 : 0;
  },
};

export const volumeRmCommand: BerthCommand = {
  spec: {
    name: 'volume rm',
    usage: 'volume rm [OPTIONS] VOLUME [VOLUME...]',
    summary: 'Remove one or more volumes (not one a container uses, unless -f and that container is not running)',
    positionals: [1, Infinity],
    flags: [{ name: 'force', short: 'f', type: 'boolean', description: 'force the removal: of a volume stopped containers use, and no error for a missing one' }],
  },
  run: (args, env) => {
    const force = boolFlag(args, 'force');
    return forEachContainer(args, env, async (name) => (env.engine().volumes.remove(name, { force }), name), { missingOk: force });
  },
};

export const volumePruneCommand: BerthCommand = {
  spec: {
    name: 'volume prune',
    usage: 'volume prune [OPTIONS]',
    summary: 'Remove unused anonymous volumes (with -a, every unused volume)',
    positionals: [0, 0],
    flags: [
      { name: 'all', short: 'a', type: 'boolean', description: 'remove all unused volumes, not just anonymous ones' },
      { name: 'force', short: 'f', type: 'boolean', description: 'do not prompt for confirmation' },
      { name: 'filter', type: 'string', value: 'FILTER', repeatable: true, description: 'filter: label=KEY[=VALUE], label!=KEY[=VALUE]' },
    ],
  },
  async run(args, env) {
    const { labels, other } = pruneLabelFilters(listFlag(args, 'filter'), 'volume prune', ['all']);
    const all = boolFlag(args, 'all') || other.all === 'true' || other.all === '1';
    if (!boolFlag(args, 'force') && !(await confirmPrune(env.io, `This will remove ${all ? 'all' : 'anonymous'} local volumes not used by at least one container.`))) return 0;
    const { removed, reclaimed } = await env.engine().volumes.prune({ all, keep: (v) => !matchesLabels(v.labels, labels) });
    env.io.out(`${removed.length ? `Deleted Volumes:\n${removed.map((n) => `${n}\n`).join('')}\n` : ''}Total reclaimed space: ${humanSize(reclaimed)}\n`);
    return 0;
  },
};
