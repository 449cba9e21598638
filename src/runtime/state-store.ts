/**
 * Runtime state on disk, one directory per container under the runtime root
 * (default /run/berth-runtime/<id>/): state.json (atomic rename) and start.sock, the socket
 * a created container's init waits on for `start`.
 * The pid is stored with its start time so a reused pid is never taken for the container.
 */
import type { ViewRecord } from './limits-view.ts';
import { readdir, stat } from 'node:fs/promises';
import { existsSync, mkdirSync, readFileSync, rmdirSync, rmSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { BerthError, isErrno, writeFileAtomicSync } from '../common/index.ts';
import { parseJsonLossless, stringifyJsonLossless, type RuntimeConfig, type State, type ContainerStatus } from '../oci/index.ts';
import type { HostMounts } from './host-mounts.ts';

export const DEFAULT_RUNTIME_ROOT = '/run/berth-runtime';

/** Where state lives by default: /run/berth-runtime for root; for others (rootless), as runc,
 * $XDG_RUNTIME_DIR/berth-runtime, else /tmp/berth-runtime-<uid>. */
export function defaultRuntimeRoot(): string {
  const uid = process.getuid?.() ?? 0;
  if (uid === 0) return DEFAULT_RUNTIME_ROOT;
  return process.env.XDG_RUNTIME_DIR ? `${process.env.XDG_RUNTIME_DIR}/berth-runtime` : `/tmp/berth-runtime-${uid}`;
}
export const STATE_VERSION = 1;
const OCI_VERSION = '1.2.0';

export interface StoredState {
  version: number;
  id: string;
  bundle: string;
  rootfs: string;
  /** 0 while creating (before berth-init reported the container's pid). */
  pid: number;
  pidStartTime: string;
  /** "creating" until berth-init reports ready; "created" after. Live status is derived. */
  phase: 'creating' | 'created';
  created: string;
  /** Absolute cgroup path from the hierarchy root, recorded before the cgroup is made. */
  cgroupPath: string;
  /** Whether this container made its cgroup (absent in state of older versions: it did). A cgroup
   * it found is never killed through cgroup.kill, and never removed. */
  cgroupOwned?: boolean;
  annotations: Record<string, string>;
  /** The config the container was made from (hooks and resources are needed after create). */
  config: RuntimeConfig;
  owner?: string;
  /** The container's limits view (limits-view.ts), recorded before it is started. */
  view?: ViewRecord | undefined;
  /** Without a mount namespace of its own: its mounts are in the caller's, taken down at delete. */
  hostMounts?: HostMounts | undefined;
}

/** An id names a directory (the state dir, the cgroup /berth/<id>): one path component, at
 * most NAME_MAX (255) bytes, so the rule and the filesystem's limit are the same. */
const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.+-]{0,254}$/;
export const MAX_ID_LENGTH = 255;

export function validateContainerId(id: string): void {
  if (id.length > MAX_ID_LENGTH && /^[A-Za-z0-9][A-Za-z0-9_.+-]*$/.test(id)) {
    throw new BerthError('INVALID_ARGUMENT', `invalid container id: ${id.length} characters (at most ${MAX_ID_LENGTH})`, { hint: 'use a shorter id' });
  }
  if (!ID_RE.test(id)) {
    throw new BerthError('INVALID_ARGUMENT', `invalid container id ${JSON.stringify(id.length > 80 ? id.slice(0, 80) + '…' : id)}`, {
      hint: 'use letters, digits and _ . + - (starting with a letter or digit)',
    });
  }
}

export class StateStore {
  readonly rootDir: string;

  constructor(rootDir = defaultRuntimeRoot()) {
    this.rootDir = rootDir;
  }

  containerDir(id: string): string {
    return join(this.rootDir, id);
  }

  statePath(id: string): string {
    return join(this.containerDir(id), 'state.json');
  }

  startSocketPath(id: string): string {
    return join(this.containerDir(id), 'start.sock');
  }

  /** Claims the id: the directory is made exclusively, so two creates of one id cannot both win. */
  async claim(state: StoredState): Promise<void> {
    validateContainerId(state.id);
    mkdirSync(this.rootDir, { recursive: true, mode: 0o711 });
    try {
      mkdirSync(this.containerDir(state.id), { mode: 0o711 });
    } catch (err) {
      if (isErrno(err, 'EEXIST')) {
        throw new BerthError('ALREADY_EXISTS', `container "${state.id}" already exists`, {
          hint: `choose another id, or remove it with: berth-runtime delete --force ${state.id}`,
        });
      }
      throw err;
    }
    await this.write(state);
  }

  async write(state: StoredState): Promise<void> {
    // lossless: config values beyond 2^53 (RLIM_INFINITY) stay exact. No fsync: this state
    // describes live processes and is void after a reboot (runc and crun do not sync it either);
    // the rename keeps every reader's view whole.
    writeFileAtomicSync(this.statePath(state.id), stringifyJsonLossless(state, 2) + '\n', 0o600, { durable: false });
  }

  async read(id: string): Promise<StoredState> {
    validateContainerId(id);
    let text: string;
    try {
      text = readFileSync(this.statePath(id), 'utf8');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) {
        if (existsSync(this.containerDir(id))) {
          // claimed, but killed before the first state write: only delete --force can remove it
          return { version: STATE_VERSION, id, bundle: '', rootfs: '', pid: 0, pidStartTime: '', phase: 'creating', created: '', cgroupPath: '', annotations: {}, config: { ociVersion: OCI_VERSION } };
        }
        throw new BerthError('NOT_FOUND', `container "${id}" does not exist`);
      }
      throw err;
    }
    try {
      return parseJsonLossless(text) as StoredState;
    } catch (err) {
      throw new BerthError('INTERNAL', `state of container "${id}" is unreadable (${this.statePath(id)})`, {
        cause: err,
        hint: `remove it with: berth-runtime delete --force ${id}`,
      });
    }
  }

  async remove(id: string): Promise<void> {
    const dir = this.containerDir(id);
    // what a container leaves is known: two unlinks and an rmdir cost less than a recursive
    // walk; anything else (a temp file of a killed writer) falls back to one
    for (const name of ['state.json', 'start.sock']) {
      try {
        unlinkSync(join(dir, name));
      } catch {
        // not there
      }
    }
    try {
      rmdirSync(dir);
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) rmSync(dir, { recursive: true, force: true });
    }
  }

  async list(): Promise<string[]> {
    try {
      const names = await readdir(this.rootDir);
      const ids: string[] = [];
      for (const name of names.sort()) {
        if (!ID_RE.test(name)) continue;
        const st = await stat(join(this.rootDir, name)).catch(() => undefined);
        if (st?.isDirectory()) ids.push(name);
      }
      return ids;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return [];
      throw err;
    }
  }

  ociState(state: StoredState, status: ContainerStatus): State {
    const out: State = { ociVersion: OCI_VERSION, id: state.id, status, bundle: state.bundle };
    if (status !== 'stopped' && state.pid > 0) out.pid = state.pid;
    if (Object.keys(state.annotations).length) out.annotations = state.annotations;
    return out;
  }
}
