/**
 * The one place that owns a container's status and its transitions (as youki's status type):
 *
 *   created ──start──► running ⇄ paused          (pause / unpause)
 *      ▲                  │
 *      └─── restart ── exited ◄──┘ (the process ended: monitor's exit command, or found dead)
 *   any ──rm──► removing ──► (gone)
 *
 * `restarting` is running's twin while a restart policy brings an exited container back.
 * Every verb asks `assertTransition` before it acts; the message is docker's where docker has one.
 */
import { BerthError, humanDuration } from '../common/index.ts';

export type ContainerStatus = 'created' | 'running' | 'paused' | 'restarting' | 'exited' | 'removing' | 'dead';

export type ContainerVerb = 'start' | 'stop' | 'kill' | 'pause' | 'unpause' | 'exec' | 'attach' | 'remove' | 'restart' | 'update' | 'rename' | 'top';

const ALLOWED: Record<ContainerVerb, readonly ContainerStatus[]> = {
  start: ['created', 'exited'],
  stop: ['created', 'running', 'paused', 'restarting', 'exited'],
  kill: ['running', 'restarting'],
  pause: ['running'],
  unpause: ['paused'],
  exec: ['running'],
  attach: ['created', 'running', 'paused', 'restarting'],
  remove: ['created', 'exited', 'dead'],
  restart: ['created', 'running', 'paused', 'restarting', 'exited'],
  update: ['created', 'running', 'paused', 'restarting', 'exited'],
  rename: ['created', 'running', 'paused', 'restarting', 'exited', 'dead'],
  top: ['running', 'paused'],
};

export function canTransition(verb: ContainerVerb, status: ContainerStatus): boolean {
  return ALLOWED[verb].includes(status);
}

/** Refuses `verb` in `status` with docker's words. */
export function assertTransition(verb: ContainerVerb, status: ContainerStatus, id: string): void {
  if (canTransition(verb, status)) return;
  const short = id.slice(0, 12);
  switch (verb) {
    case 'kill':
    case 'exec':
    case 'top':
      if (status === 'paused' && verb !== 'top') throw new BerthError('CONFLICT', `Container ${short} is paused, unpause the container before ${verb === 'exec' ? 'exec' : 'kill'}`);
      throw new BerthError('CONFLICT', `Container ${short} is not running`);
    case 'pause':
      if (status === 'paused') throw new BerthError('CONFLICT', `Container ${short} is already paused`);
      throw new BerthError('CONFLICT', `Container ${short} is not running`);
    case 'unpause':
      throw new BerthError('CONFLICT', `Container ${short} is not paused`);
    case 'remove':
      throw new BerthError('CONFLICT', `You cannot remove a ${status} container ${id}. Stop the container before attempting removal or force remove`);
    case 'start':
      if (status === 'paused') throw new BerthError('CONFLICT', `cannot start a paused container, try unpause instead`);
      throw new BerthError('CONFLICT', `container ${short} is ${status}`);
    default:
      throw new BerthError('CONFLICT', `container ${short} is ${status}: cannot ${verb} it`);
  }
}

/** What `ps` shows: "Up 3 minutes", "Exited (0) 2 seconds ago", "Created", "Up 1 second (Paused)". */
export function describeStatus(status: ContainerStatus, startedAt: string, finishedAt: string, exitCode: number, now = Date.now()): string {
  // ' 3 minutes' since a time; '' for a time never recorded (a monitor killed before it wrote the exit)
  const since = (time: string) => {
    const at = Date.parse(time);
    return Number.isNaN(at) ? '' : ` ${humanDuration(now - at)}`;
  };
  const up = () => `Up${since(startedAt)}`;
  const ago = (time: string) => (since(time) ? `${since(time)} ago` : '');
  switch (status) {
    case 'created':
      return 'Created';
    case 'running':
      return up();
    case 'paused':
      return `${up()} (Paused)`;
    case 'restarting':
      return `Restarting (${exitCode})${ago(finishedAt)}`;
    case 'exited':
      return `Exited (${exitCode})${ago(finishedAt)}`;
    case 'removing':
      return 'Removal In Progress';
    case 'dead':
      return 'Dead';
  }
}
