/**
 * Hijacked connections (attach, exec start): after the response head, the HTTP connection
 * carries the process's output one way (multiplexed frames unless there is a tty) and its
 * stdin the other. The client may half-close its side (end of stdin) and still read.
 */
import type { Duplex } from 'node:stream';
import { Writable } from 'node:stream';
import { frame } from './http.ts';

export const RAW_STREAM = 'application/vnd.docker.raw-stream';
export const MULTIPLEXED_STREAM = 'application/vnd.docker.multiplexed-stream';

/** Writes the response head that hands the connection over: 101 when upgraded, else 200. */
export function hijack(socket: Duplex, upgraded: boolean, tty: boolean): void {
  const type = tty ? RAW_STREAM : MULTIPLEXED_STREAM;
  socket.on('error', () => {});
  socket.write(upgraded ? `HTTP/1.1 101 UPGRADED\r\nContent-Type: ${type}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n` : `HTTP/1.1 200 OK\r\nContent-Type: ${type}\r\n\r\n`);
}

/** A writable that sends what is written to the client as stream 1 or 2 (raw with a tty);
 * nothing when the client did not ask for that stream or is gone. */
export function streamTo(socket: Duplex, stream: 1 | 2, wanted: boolean, tty: boolean): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      if (!wanted || socket.destroyed || !socket.writable) return done();
      socket.write(tty ? chunk : frame(stream, chunk), () => done());
    },
  });
}

/** Writes an error response on a connection that was not handed over yet. */
export function failRaw(socket: Duplex, status: number, message: string): void {
  const body = JSON.stringify({ message });
  socket.on('error', () => {});
  socket.end(`HTTP/1.1 ${status} Error\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}
