/**
 * `berth image inspect` (docker's JSON, or `--format`) and `berth history` (docker's table).
 */
import { BerthError } from '../common/index.ts';
import type { HistoryItem } from '../engine/index.ts';
import type { CommandSpec } from './args.ts';
import { boolFlag, formatFlag, stringFlag, type BerthCommand } from './berth-command.ts';
import { renderFormatted } from './render/format.ts';
import { goJson, renderTable } from './render/table.ts';
import { compileTemplate } from './render/template.ts';
import { humanSize, timeAgo } from './render/units.ts';

export const imageInspectCommand: BerthCommand = {
  spec: {
    name: 'image inspect',
    usage: 'image inspect [OPTIONS] IMAGE [IMAGE...]',
    summary: 'Display detailed information on one or more images, as JSON.',
    positionals: [1, Infinity],
    flags: [{ ...formatFlag, short: 'f', description: "format the output with a Go template ('{{.Id}}', '{{json .Config}}')" }],
  },
  async run(args, env) {
    const found: unknown[] = [];
    let failure: BerthError | undefined;
    for (const imageRef of args.positionals) {
      try {
        found.push(env.images().inspect(imageRef));
      } catch (err) {
        if (!(err instanceof BerthError) || err.code !== 'NOT_FOUND') throw err;
        failure = err;
        break;
      }
    }
    const format = stringFlag(args, 'format');
    if (format && format !== 'json') {
      const template = compileTemplate(format);
      env.io.out(found.map((image) => template.render(image) + '\n').join(''));
    } else {
      env.io.out(goJson(found, '    ') + '\n');
    }
    if (failure) throw failure;
    return 0;
  },
};

/** docker's stringutils.Ellipsis. */
function ellipsis(text: string, width: number): string {
  const chars = [...text];
  return chars.length <= width ? text : chars.slice(0, width - 1).join('') + '…';
}

interface HistoryRow {
  ID: string;
  CreatedSince: string;
  CreatedAt: string;
  CreatedBy: string;
  Size: string;
  Comment: string;
}

const HEADERS: Record<string, string> = { ID: 'IMAGE', CreatedSince: 'CREATED', CreatedAt: 'CREATED AT', CreatedBy: 'CREATED BY', Size: 'SIZE', Comment: 'COMMENT' };

function historyRow(item: HistoryItem, opts: { isHuman: boolean; noTrunc: boolean }, now: number): HistoryRow {
  const createdBy = item.CreatedBy.replaceAll('\t', ' ');
  const createdAt = item.Created ? new Date(item.Created * 1000).toISOString().replace('.000Z', 'Z') : 'N/A';
  return {
    ID: item.Id === '<missing>' || opts.noTrunc ? item.Id : item.Id.slice(item.Id.indexOf(':') + 1, item.Id.indexOf(':') + 13),
    CreatedSince: opts.isHuman ? timeAgo(item.Created, now) : createdAt,
    CreatedAt: createdAt,
    CreatedBy: opts.noTrunc ? createdBy : ellipsis(createdBy, 45),
    Size: opts.isHuman ? humanSize(item.Size) : String(item.Size),
    Comment: item.Comment,
  };
}

const historySpec = (name: string): CommandSpec => ({
  name,
  usage: `${name} [OPTIONS] IMAGE`,
  summary: 'Show the history of an image.',
  positionals: [1, 1],
  flags: [
    formatFlag,
    { name: 'human', short: 'H', type: 'boolean', description: 'print sizes and dates in human readable format (default true; --human=false for raw)' },
    { name: 'no-trunc', type: 'boolean', description: 'do not truncate output' },
    { name: 'quiet', short: 'q', type: 'boolean', description: 'only show image IDs' },
  ],
});

function historyCommand(name: string): BerthCommand {
  return {
    spec: historySpec(name),
    async run(args, env) {
      const items = env.images().history(args.positionals[0]!);
      const opts = { isHuman: args.flags.human !== false, noTrunc: boolFlag(args, 'no-trunc') };
      const now = Date.now();
      const rows = items.map((item) => historyRow(item, opts, now));
      const format = stringFlag(args, 'format');
      if (boolFlag(args, 'quiet')) env.io.out(rows.map((r) => r.ID + '\n').join(''));
      else if (format && format !== 'table') env.io.out(renderFormatted(rows, format, HEADERS));
      else {
        const columns: Array<keyof HistoryRow> = ['ID', 'CreatedSince', 'CreatedBy', 'Size', 'Comment'];
        env.io.out(renderTable([columns.map((c) => HEADERS[c]!), ...rows.map((r) => columns.map((c) => r[c]))]));
      }
      return 0;
    },
  };
}

export const historyTopCommand = historyCommand('history');
export const imageHistoryCommand = historyCommand('image history');
