import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseCommandArgs, parseGlobalArgs, formatHelp, type CommandSpec } from './args.ts';

const run: CommandSpec = {
  name: 'run',
  usage: 'run [OPTIONS] IMAGE [COMMAND] [ARG...]',
  summary: 'Create and run a container',
  positionals: [1, Number.MAX_SAFE_INTEGER],
  restAfter: 1,
  flags: [
    { name: 'detach', short: 'd', type: 'boolean', description: 'in the background' },
    { name: 'interactive', short: 'i', type: 'boolean', description: 'keep stdin open' },
    { name: 'tty', short: 't', type: 'boolean', description: 'a terminal' },
    { name: 'env', short: 'e', type: 'string', repeatable: true, description: 'a variable' },
    { name: 'publish', short: 'p', type: 'string', repeatable: true, description: 'a port' },
    { name: 'name', type: 'string', description: 'a name' },
    { name: 'rm', type: 'boolean', description: 'remove' },
    { name: 'memory-swap', type: 'string', description: 'swap' },
    { name: 'cpu-shares', short: 'c', type: 'number', description: 'weight' },
    { name: 'hostname', short: 'h', type: 'string', description: 'hostname (docker: -h is not help here)' },
  ],
};
const ps: CommandSpec = {
  name: 'ps',
  usage: 'ps [OPTIONS]',
  summary: 'List containers',
  positionals: [0, 0],
  flags: [
    { name: 'all', short: 'a', type: 'boolean', description: 'all' },
    { name: 'quiet', short: 'q', type: 'boolean', description: 'ids' },
    { name: 'last', short: 'n', type: 'number', description: 'last n' },
    { name: 'filter', short: 'f', type: 'string', repeatable: true, description: 'filter' },
  ],
};

type Case = [what: string, spec: CommandSpec, argv: string[], flags: Record<string, unknown>, positionals: string[]];
const CASES: Case[] = [
  ['grouped short booleans', ps, ['-qa'], { quiet: true, all: true }, []],
  ['grouped, in any order, with a value flag last', run, ['-itd', 'busybox'], { interactive: true, tty: true, detach: true }, ['busybox']],
  ['a value flag last in a group takes the next argument', run, ['-dp', '80:80', 'nginx'], { detach: true, publish: ['80:80'] }, ['nginx']],
  ['a short value flag takes the rest of its group', run, ['-ePATH=/bin', 'img'], { env: ['PATH=/bin'] }, ['img']],
  ['-e with = after the letter', run, ['-e=A=1', 'img'], { env: ['A=1'] }, ['img']],
  ['--flag=value and --flag value', run, ['--name=web', '--memory-swap', '-1', 'img'], { name: 'web', 'memory-swap': '-1' }, ['img']],
  ['a value that looks like a flag is the value', run, ['--name', '--rm', 'img'], { name: '--rm' }, ['img']],
  ['repeated flags collect in order', run, ['-e', 'A=1', '--env', 'B=2', '-eC=3', 'img'], { env: ['A=1', 'B=2', 'C=3'] }, ['img']],
  ['options end at the image: the rest is the command\'s', run, ['--rm', 'img', 'sh', '-c', 'echo -e x', '--rm'], { rm: true }, ['img', 'sh', '-c', 'echo -e x', '--rm']],
  ['-- ends the flags', run, ['--', '-img-'], {}, ['-img-']],
  ['a boolean takes =false', run, ['--rm=false', 'img'], { rm: false }, ['img']],
  ['numbers, negative included', ps, ['-n', '-1'], { last: -1 }, []],
  ['a number in a group', ps, ['-an3'], { all: true, last: 3 }, []],
  ['- is an argument', run, ['img', '-'], {}, ['img', '-']],
  ['-h is the command\'s own flag where it has one', run, ['-h', 'box', 'img'], { hostname: 'box' }, ['img']],
];

describe('parseCommandArgs', () => {
  for (const [what, spec, argv, flags, positionals] of CASES) {
    it(`parses ${what}: ${argv.join(' ')}`, () => {
      const parsed = parseCommandArgs(spec, argv, 'berth');
      assert.deepEqual(parsed.flags, flags);
      assert.deepEqual(parsed.positionals, positionals);
      assert.equal(parsed.help, false);
    });
  }

  const ERRORS: [string, CommandSpec, string[], RegExp][] = [
    ['an unknown long flag', ps, ['--bogus'], /unknown flag --bogus for "berth ps"/],
    ['an unknown letter inside a group (never silently dropped)', ps, ['-qz'], /unknown flag -z \(in -qz\) for "berth ps"/],
    ['a value flag at the end of the line', ps, ['-a', '--filter'], /flag --filter needs a value/],
    ['a missing value', ps, ['-f'], /flag -f \(--filter\) needs a value/],
    ['a number that is not one', ps, ['-n', 'x'], /flag --last needs a whole number, got "x"/],
    ['a boolean given a word', run, ['--rm=yes', 'img'], /flag --rm takes true or false, got "yes"/],
    ['too few arguments', run, ['--rm'], /"berth run" requires at least 1 argument/],
    ['too many arguments', ps, ['extra'], /"berth ps" takes at most 0 arguments, got 1/],
  ];
  for (const [what, spec, argv, message] of ERRORS) {
    it(`refuses ${what}`, () => assert.throws(() => parseCommandArgs(spec, argv, 'berth'), message));
  }

  it('takes --help (and -h where the command has no -h of its own) anywhere before the arguments', () => {
    assert.equal(parseCommandArgs(ps, ['-a', '--help'], 'berth').help, true);
    assert.equal(parseCommandArgs(ps, ['-h'], 'berth').help, true);
    assert.match(formatHelp(ps, 'berth'), /Usage: berth ps \[OPTIONS\]\n\nList containers\n\nOptions:\n {2}-a, --all/);
  });
});

describe('parseGlobalArgs', () => {
  const globals = [
    { name: 'root', type: 'string' as const, description: 'state dir' },
    { name: 'debug', short: 'D', type: 'boolean' as const, description: 'debug' },
  ];
  it('stops at the command and leaves its arguments untouched', () => {
    const parsed = parseGlobalArgs(globals, ['--root', '/x', '-D', 'run', '-it', '--root', 'y', 'img'], 'berth');
    assert.deepEqual(parsed.flags, { root: '/x', debug: true });
    assert.deepEqual(parsed.rest, ['run', '-it', '--root', 'y', 'img']);
  });
  it('refuses an unknown global flag, naming it', () => {
    assert.throws(() => parseGlobalArgs(globals, ['--frob', 'ps'], 'berth'), /unknown flag --frob for "berth"/);
  });
});
