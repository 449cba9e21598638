/**
 * `berth images` / `berth image ls`: docker's table (REPOSITORY TAG IMAGE ID CREATED SIZE),
 * `-q`, `--digests`, `--no-trunc`, `--filter dangling|reference|label|before|since`,
 * `--format json|<template>|table <template>`.
 */
import { BerthError } from '../common/index.ts';
import { familiarName, matchesLabels, parseLabelFilter, parseReference, type ImageSummary, type LabelFilter } from '../engine/index.ts';
import type { CommandSpec, ParsedArgs } from './args.ts';
import { boolFlag, formatFlag, listFlag, quietFlag, stringFlag, type BerthCommand, type CommandEnv } from './berth-command.ts';
import { globToRegExp, renderFormatted } from './render/format.ts';
import { renderTable } from './render/table.ts';
import { goTime, humanSize, timeAgo } from './render/units.ts';

const NONE = '<none>';

export interface ImageRow {
  Containers: string;
  CreatedAt: string;
  CreatedSince: string;
  Digest: string;
  ID: string;
  Repository: string;
  SharedSize: string;
  Size: string;
  Tag: string;
  UniqueSize: string;
  VirtualSize: string;
}

const HEADERS: Record<string, string> = {
  Containers: 'CONTAINERS',
  CreatedAt: 'CREATED AT',
  CreatedSince: 'CREATED',
  Digest: 'DIGEST',
  ID: 'IMAGE ID',
  Repository: 'REPOSITORY',
  SharedSize: 'SHARED SIZE',
  Size: 'SIZE',
  Tag: 'TAG',
  UniqueSize: 'UNIQUE SIZE',
  VirtualSize: 'VIRTUAL SIZE',
};

interface Filters {
  dangling?: boolean;
  references: RegExp[];
  labels: LabelFilter[];
  before?: number;
  since?: number;
}

function parseFilters(args: ParsedArgs, env: CommandEnv): Filters {
  const filters: Filters = { references: [], labels: [] };
  const positional = args.positionals[0];
  if (positional) filters.references.push(globToRegExp(positional));
  for (const text of listFlag(args, 'filter')) {
    const eq = text.indexOf('=');
    if (eq <= 0) throw new BerthError('INVALID_ARGUMENT', `bad format of filter (expected name=value): ${JSON.stringify(text)}`);
    const key = text.slice(0, eq);
    const value = text.slice(eq + 1);
    switch (key) {
      case 'dangling':
        if (value !== 'true' && value !== 'false' && value !== '1' && value !== '0') {
          throw new BerthError('INVALID_ARGUMENT', `invalid filter 'dangling=${value}'`, { hint: 'use dangling=true or dangling=false' });
        }
        filters.dangling = value === 'true' || value === '1';
        break;
      case 'reference':
        filters.references.push(globToRegExp(value));
        break;
      case 'label':
      case 'label!':
        filters.labels.push(parseLabelFilter(value, key === 'label!'));
        break;
      case 'before':
      case 'since': {
        const created = env.images().resolve(value).created;
        filters[key] = created ? Date.parse(created) / 1000 : 0;
        break;
      }
      default:
        throw new BerthError('INVALID_ARGUMENT', `invalid filter '${key}'`, { hint: 'images filters: dangling, reference, label, before, since' });
    }
  }
  return filters;
}

/** Does a familiar reference (`busybox:latest`) match a reference pattern? (docker's FamiliarMatch) */
function referenceMatches(pattern: RegExp, reference: string): boolean {
  const at = reference.indexOf('@');
  const colon = reference.lastIndexOf(':');
  const name = at >= 0 ? reference.slice(0, at) : colon > reference.lastIndexOf('/') ? reference.slice(0, colon) : reference;
  return pattern.test(reference) || pattern.test(name);
}

function applyFilters(images: ImageSummary[], filters: Filters): ImageSummary[] {
  const out: ImageSummary[] = [];
  for (const image of images) {
    const isDangling = image.RepoTags.length === 0 && image.RepoDigests.length === 0;
    if (filters.dangling !== undefined && filters.dangling !== isDangling) continue;
    if (!matchesLabels(image.Labels, filters.labels)) continue;
    if (filters.before !== undefined && !(image.Created < filters.before)) continue;
    if (filters.since !== undefined && !(image.Created > filters.since)) continue;
    if (filters.references.length) {
      const keep = (r: string) => filters.references.some((p) => referenceMatches(p, r));
      const tags = image.RepoTags.filter(keep);
      const digests = image.RepoDigests.filter(keep);
      if (tags.length === 0 && digests.length === 0) continue;
      out.push({ ...image, RepoTags: tags, RepoDigests: digests });
      continue;
    }
    out.push(image);
  }
  return out;
}

function splitReference(reference: string, separator: '@' | ':'): [string, string] {
  const index = separator === '@' ? reference.indexOf('@') : reference.lastIndexOf(':');
  return [familiarName(parseReference(reference.slice(0, index), { defaultTag: false }).name), reference.slice(index + 1)];
}

/** The rows docker's CLI makes of one image: one per tag (per digest with --digests). */
export function imageRows(image: ImageSummary, opts: { digests: boolean; noTrunc: boolean }, now = Date.now()): ImageRow[] {
  const base = {
    Containers: image.Containers < 0 ? 'N/A' : String(image.Containers),
    CreatedAt: goTime(image.Created),
    CreatedSince: timeAgo(image.Created, now),
    ID: opts.noTrunc ? image.Id : image.Id.slice(image.Id.indexOf(':') + 1, image.Id.indexOf(':') + 13),
    SharedSize: image.SharedSize < 0 ? 'N/A' : humanSize(image.SharedSize),
    Size: humanSize(image.Size),
    UniqueSize: 'N/A',
    VirtualSize: humanSize(image.Size),
  };
  // docker's JSON has the keys sorted
  const row = (Repository: string, Tag: string, Digest: string): ImageRow => ({
    Containers: base.Containers,
    CreatedAt: base.CreatedAt,
    CreatedSince: base.CreatedSince,
    Digest,
    ID: base.ID,
    Repository,
    SharedSize: base.SharedSize,
    Size: base.Size,
    Tag,
    UniqueSize: base.UniqueSize,
    VirtualSize: base.VirtualSize,
  });
  if (image.RepoTags.length === 0 && image.RepoDigests.length === 0) return [row(NONE, NONE, NONE)];
  const tags = new Map<string, string[]>();
  const digests = new Map<string, string[]>();
  for (const r of image.RepoTags) {
    const [repo, tag] = splitReference(r, ':');
    tags.set(repo, [...(tags.get(repo) ?? []), tag]);
  }
  for (const r of image.RepoDigests) {
    const [repo, digest] = splitReference(r, '@');
    digests.set(repo, [...(digests.get(repo) ?? []), digest]);
  }
  const rows: ImageRow[] = [];
  for (const [repo, repoTags] of tags) {
    const repoDigests = opts.digests ? (digests.get(repo) ?? []) : [];
    digests.delete(repo);
    for (const tag of repoTags) {
      if (repoDigests.length === 0) rows.push(row(repo, tag, NONE));
      else for (const d of repoDigests) rows.push(row(repo, tag, d));
    }
  }
  for (const [repo, repoDigests] of digests) {
    if (opts.digests) for (const d of repoDigests) rows.push(row(repo, NONE, d));
    else rows.push(row(repo, NONE, NONE));
  }
  return rows;
}

const spec = (name: string): CommandSpec => ({
  name,
  usage: `${name} [OPTIONS] [REPOSITORY[:TAG]]`,
  summary: 'List images.',
  positionals: [0, 1],
  flags: [
    { name: 'all', short: 'a', type: 'boolean', description: 'show all images (berth keeps no intermediate images: same as without)' },
    { name: 'digests', type: 'boolean', description: 'show digests' },
    { name: 'filter', short: 'f', type: 'string', value: 'FILTER', repeatable: true, description: 'filter: dangling=true|false, reference=PATTERN, label=KEY[=VALUE], before=IMAGE, since=IMAGE' },
    formatFlag,
    { name: 'no-trunc', type: 'boolean', description: 'do not truncate output' },
    quietFlag,
  ],
});

function listImages(name: string): BerthCommand {
  return {
    spec: spec(name),
    async run(args, env) {
      const filters = parseFilters(args, env);
      const summaries = applyFilters(env.images().summaries(), filters).sort((a, b) => b.Created - a.Created);
      const digests = boolFlag(args, 'digests');
      const noTrunc = boolFlag(args, 'no-trunc');
      const rows = summaries.flatMap((s) => imageRows(s, { digests, noTrunc }));
      const format = stringFlag(args, 'format');
      if (boolFlag(args, 'quiet')) {
        env.io.out(rows.map((r) => r.ID + '\n').join(''));
      } else if (format && format !== 'table') {
        env.io.out(renderFormatted(rows, format, HEADERS));
      } else {
        const columns: Array<keyof ImageRow> = digests ? ['Repository', 'Tag', 'Digest', 'ID', 'CreatedSince', 'Size'] : ['Repository', 'Tag', 'ID', 'CreatedSince', 'Size'];
        env.io.out(renderTable([columns.map((c) => HEADERS[c]!), ...rows.map((r) => columns.map((c) => r[c]))]));
      }
      return 0;
    },
  };
}

export const imagesCommand = listImages('images');
export const imageLsCommand = listImages('image ls');
