/**
 * `berth rmi` / `image rm`, `berth tag` / `image tag`, `berth image prune`.
 */
import { BerthError } from '../common/index.ts';
import { parseLabelFilter, type LabelFilter, type RemoveEntry } from '../engine/index.ts';
import type { CommandSpec } from './args.ts';
import { boolFlag, forceFlag, listFlag, readLine, renderError, type BerthCommand } from './berth-command.ts';
import { humanSize } from './render/units.ts';

function entryLine(entry: RemoveEntry, lower = false): string {
  const [kind, value] = 'Untagged' in entry ? ['Untagged', entry.Untagged] : ['Deleted', entry.Deleted];
  return `${lower ? kind.toLowerCase() : kind}: ${value}\n`;
}

const rmiSpec = (name: string): CommandSpec => ({
  name,
  usage: `${name} [OPTIONS] IMAGE [IMAGE...]`,
  summary: 'Remove one or more images: untag them, and delete each image once nothing names it.',
  positionals: [1, Infinity],
  flags: [forceFlag, { name: 'no-prune', type: 'boolean', description: 'accepted for docker compatibility (berth keeps no untagged parents)' }],
});

function rmiCommand(name: string): BerthCommand {
  return {
    spec: rmiSpec(name),
    async run(args, env) {
      let status = 0;
      for (const imageRef of args.positionals) {
        try {
          const entries = await env.images().remove(imageRef, { force: boolFlag(args, 'force') });
          env.io.out(entries.map((e) => entryLine(e)).join(''));
        } catch (err) {
          if (!(err instanceof BerthError) || err.code === 'INTERNAL') throw err;
          renderError(err, env.io, env.globals.debug);
          status = 1;
        }
      }
      return status;
    },
  };
}

export const rmiTopCommand = rmiCommand('rmi');
export const imageRmCommand = rmiCommand('image rm');

function tagCommand(name: string): BerthCommand {
  return {
    spec: {
      name,
      usage: `${name} SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]`,
      summary: 'Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE.',
      positionals: [2, 2],
      flags: [],
    },
    async run(args, env) {
      env.images().tag(args.positionals[0]!, args.positionals[1]!);
      return 0;
    },
  };
}

export const tagTopCommand = tagCommand('tag');
export const imageTagCommand = tagCommand('image tag');

function pruneFilters(texts: string[]): LabelFilter[] {
  return texts.map((text) => {
    const eq = text.indexOf('=');
    const key = eq < 0 ? text : text.slice(0, eq);
    if (key !== 'label' && key !== 'label!') {
      throw new BerthError('INVALID_ARGUMENT', `invalid filter '${key}'`, { hint: 'image prune filters: label=KEY[=VALUE], label!=KEY[=VALUE]' });
    }
    return parseLabelFilter(text.slice(eq + 1), key === 'label!');
  });
}

export const imagePruneCommand: BerthCommand = {
  spec: {
    name: 'image prune',
    usage: 'image prune [OPTIONS]',
    summary: 'Remove unused images: dangling ones (with -a, every image no container uses), then unreferenced blobs and layers.',
    positionals: [0, 0],
    flags: [
      { name: 'all', short: 'a', type: 'boolean', description: 'remove all unused images, not just dangling ones' },
      { name: 'filter', type: 'string', value: 'FILTER', repeatable: true, description: 'label=KEY[=VALUE] or label!=KEY[=VALUE]' },
      { name: 'force', short: 'f', type: 'boolean', description: 'do not prompt for confirmation' },
    ],
  },
  async run(args, env) {
    const all = boolFlag(args, 'all');
    const labelFilters = pruneFilters(listFlag(args, 'filter'));
    if (!boolFlag(args, 'force')) {
      const what = all ? 'all images without at least one container associated to them' : 'all dangling images';
      env.io.out(`WARNING! This will remove ${what}.\nAre you sure you want to continue? [y/N] `);
      const answer = (await readLine(env.io.stdin))?.trim().toLowerCase();
      if (answer !== 'y' && answer !== 'yes') {
        env.io.out('\n');
        throw new BerthError('CANCELED', 'image prune has been cancelled');
      }
    }
    const result = await env.images().prune({ all, labelFilters });
    if (result.entries.length) env.io.out(`Deleted Images:\n${result.entries.map((e) => entryLine(e, true)).join('')}\n`);
    env.io.out(`Total reclaimed space: ${humanSize(result.reclaimed, 4)}\n`);
    return 0;
  },
};
