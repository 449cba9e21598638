/**
 * A client of a container's monitor (native/monitor.c): the attach socket's frames, both ways.
 *
 *   frame: u8 type, 3 zero bytes, u32 big-endian length, payload
 *   monitor -> client: 1 stdout, 2 stderr, 3 exit record (JSON, last)
 *   client -> monitor: 0 stdin, 1 close stdin, 2 resize (u16 rows, u16 cols), 3 the client
 *                      finishes the container itself (the monitor runs no exit command)
 *
 * Connected before the container's program starts, so nothing it writes is missed.
 */
import { closeSync, openSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { basename, dirname } from 'node:path';
import { BerthError, isErrno } from '../common/index.ts';
import type { ExitRecord } from './container-lifecycle.ts';

export const FRAME_STDOUT = 1;
export const FRAME_STDERR = 2;
export const FRAME_EXIT = 3;
export const SEND_STDIN = 0;
export const SEND_CLOSE_STDIN = 1;
export const SEND_RESIZE = 2;
export const SEND_CLIENT_CLEANS = 3;

/** Most a frame from the monitor may carry (it sends at most 8 KiB of output at once). */
const MAX_FRAME = 1 << 20;

/** docker's default detach keys: ctrl-p, ctrl-q. */
export const DEFAULT_DETACH_KEYS = Buffer.from([0x10, 0x11]);

/** docker's --detach-keys: "ctrl-p,ctrl-q", "ctrl-a,x", … */
export function parseDetachKeys(text: string): Buffer {
  const keys: number[] = [];
  for (const part of text.split(',')) {
    const key = part.trim().toLowerCase();
    if (key.length === 1) keys.push(key.charCodeAt(0));
    else if (/^ctrl-[a-z@[\\\]^_]$/.test(key)) {
      const c = key.slice(5);
      keys.push(c === '@' ? 0 : c >= 'a' && c <= 'z' ? c.charCodeAt(0) - 96 : '[\\]^_'.indexOf(c) + 27);
    } else throw new BerthError('INVALID_ARGUMENT', `Invalid detach keys (${text}) provided`, { hint: 'use "ctrl-<value>" or single characters separated by commas, e.g. ctrl-p,ctrl-q' });
  }
  if (!keys.length) throw new BerthError('INVALID_ARGUMENT', `Invalid detach keys (${text}) provided`);
  return Buffer.from(keys);
}

export interface AttachSession {
  /** Output and the exit record as they come. */
  onFrame(fn: (type: number, data: Buffer) => void): void;
  /** Resolves once the frame is written to the socket (a frame the start must not overtake is awaited). */
  send(type: number, data?: Buffer): Promise<void>;
  resize(rows: number, cols: number): void;
  /** Resolves when the monitor closes the connection (the container ended) or close() is called. */
  closed: Promise<void>;
  close(): void;
  /** Closes once what was sent is written. */
  end(): void;
}

/** Connects to a monitor's attach socket (a path longer than sun_path through its directory's fd). */
export async function openAttach(path: string): Promise<AttachSession> {
  let socketPath = path;
  let dirFd: number | undefined;
  if (Buffer.byteLength(path) >= 108) {
    dirFd = openSync(dirname(path), 'r');
    socketPath = `/proc/self/fd/${dirFd}/${basename(path)}`;
  }
  let socket: Socket;
  try {
    socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect(socketPath);
      s.once('connect', () => resolve(s));
      s.once('error', reject);
    });
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ECONNREFUSED')) throw new BerthError('CONFLICT', 'the container is not running: its monitor does not accept attach clients');
    throw err;
  } finally {
    if (dirFd !== undefined) closeSync(dirFd);
  }
  const handlers: ((type: number, data: Buffer) => void)[] = [];
  const early: [number, Buffer][] = [];
  let pending: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    while (pending.length >= 8) {
      const len = pending.readUInt32BE(4);
      if (len > MAX_FRAME) {
        socket.destroy();
        return;
      }
      if (pending.length < 8 + len) break;
      const type = pending[0]!;
      const data = pending.subarray(8, 8 + len);
      pending = pending.subarray(8 + len);
      if (handlers.length) for (const h of handlers) h(type, data);
      else early.push([type, data]);
    }
  });
  socket.on('error', () => socket.destroy());
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const send = (type: number, data: Buffer = Buffer.alloc(0)) =>
    new Promise<void>((resolve) => {
      if (socket.destroyed) return resolve();
      const header = Buffer.alloc(8);
      header[0] = type;
      header.writeUInt32BE(data.length, 4);
      // a failed write ends the session (the 'error' handler): nothing to wait for then
      socket.write(Buffer.concat([header, data]), () => resolve());
    });
  return {
    onFrame(fn) {
      handlers.push(fn);
      for (const [type, data] of early.splice(0)) fn(type, data);
    },
    send,
    resize(rows, cols) {
      const b = Buffer.alloc(4);
      b.writeUInt16BE(rows, 0);
      b.writeUInt16BE(cols, 2);
      void send(SEND_RESIZE, b);
    },
    closed,
    close: () => socket.destroy(),
    end: () => socket.end(),
  };
}

export interface AttachStreams {
  stdin?: NodeJS.ReadableStream | undefined;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** The container has a pty: one stream, and the detach keys are watched. */
  tty: boolean;
  detachKeys?: Buffer | undefined;
}

export interface AttachResult {
  /** The container's exit (undefined when the client detached or the monitor went away). */
  exit?: ExitRecord;
  detached: boolean;
}

/**
 * Pumps a session: the container's output to stdout/stderr, stdin to the container (closing
 * its stdin at our end of input, when not a pty), until the container ends or the user types
 * the detach keys.
 */
export function pumpAttach(session: AttachSession, streams: AttachStreams): Promise<AttachResult> {
  return new Promise((resolve) => {
    let exit: ExitRecord | undefined;
    let detached = false;
    session.onFrame((type, data) => {
      if (type === FRAME_STDOUT) streams.stdout.write(data);
      else if (type === FRAME_STDERR) streams.stderr.write(data);
      else if (type === FRAME_EXIT) {
        try {
          exit = JSON.parse(data.toString()) as ExitRecord;
        } catch {
          // a damaged record: the exit stays unknown
        }
      }
    });
    const keys = streams.tty ? (streams.detachKeys ?? DEFAULT_DETACH_KEYS) : undefined;
    let matched = 0;
    const onData = (chunk: Buffer | string) => {
      let buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      if (keys) {
        // the detach sequence is held back while it is being typed; anything else goes through
        for (let i = 0; i < buf.length; i++) {
          if (buf[i] === keys[matched]) {
            matched++;
            if (matched === keys.length) {
              detached = true;
              stop();
              session.close();
              return;
            }
          } else if (matched) {
            session.send(SEND_STDIN, Buffer.from(keys.subarray(0, matched)));
            matched = buf[i] === keys[0] ? 1 : 0;
            if (!matched) session.send(SEND_STDIN, buf.subarray(i, i + 1));
          } else {
            const next = buf.indexOf(keys[0]!, i);
            const end = next < 0 ? buf.length : next;
            session.send(SEND_STDIN, buf.subarray(i, end));
            i = end - 1;
          }
        }
        return;
      }
      session.send(SEND_STDIN, buf);
      buf = Buffer.alloc(0);
    };
    const onEnd = () => {
      if (!streams.tty) session.send(SEND_CLOSE_STDIN);
    };
    const stop = () => {
      streams.stdin?.removeListener('data', onData);
      streams.stdin?.removeListener('end', onEnd);
      (streams.stdin as { pause?: () => void } | undefined)?.pause?.();
    };
    if (streams.stdin) {
      streams.stdin.on('data', onData);
      streams.stdin.on('end', onEnd);
      streams.stdin.resume();
    }
    void session.closed.then(() => {
      stop();
      resolve(exit ? { exit, detached } : { detached });
    });
  });
}
