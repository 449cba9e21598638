/**
 * Blob downloads over node:http(s) rather than fetch. A pull is CPU-bound on small machines, and
 * fetch (undici and its web streams) spends about twice the CPU of node:http on a layer's body:
 * 280 vs 145 ms for 50 MB here, hash included. Only a request marked with `STREAM_BODY` goes this
 * way, and only a 2xx answer to it is streamed (`streamedBody`); any other answer comes back as
 * an ordinary Response with its body read, so the client's auth, redirects, retries and error
 * details behave as with fetch. Network errors are thrown as fetch throws them (a TypeError
 * whose cause has the errno code).
 */
import * as http from 'node:http';
import * as https from 'node:https';

/** A RequestInit key: stream a 2xx body through `streamedBody` instead of `Response.body`. */
export const STREAM_BODY = Symbol('berth.streamBody');

/** A body streamed from the socket: iterate it, or destroy it to let it go. */
export interface StreamedBody extends AsyncIterable<Uint8Array> {
  destroy(): void;
}

const bodies = new WeakMap<Response, http.IncomingMessage>();

/** Most bytes of a non-2xx answer kept (registries' error documents are small). */
const MAX_ERROR_BODY = 1 << 20;
const NULL_BODY_STATUSES = new Set([204, 205, 304]);

/** The streamed body of a response made by `httpFetch` for a `STREAM_BODY` request; else undefined. */
export function streamedBody(res: Response): StreamedBody | undefined {
  return bodies.get(res);
}

/** fetch, except that a `STREAM_BODY` GET over http(s) is made with node:http (see above). */
export async function httpFetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
  const url = new URL(input instanceof Request ? input.url : String(input));
  const isStreamed = (init as { [STREAM_BODY]?: boolean } | undefined)?.[STREAM_BODY] === true;
  const method = (init?.method ?? 'GET').toUpperCase();
  if (!isStreamed || input instanceof Request || method !== 'GET' || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    return fetch(input, init);
  }
  const headers: Record<string, string> = { 'accept-encoding': 'identity' };
  for (const [name, value] of new Headers(init?.headers)) headers[name] = value;
  const signal = init?.signal ?? undefined;
  const message = await new Promise<http.IncomingMessage>((resolve, reject) => {
    const request = (url.protocol === 'https:' ? https : http).request(url, { method, headers, ...(signal ? { signal } : {}) }, resolve);
    request.once('error', (err) => reject(err.name === 'AbortError' ? err : new TypeError('fetch failed', { cause: err })));
    request.end();
  });
  const status = message.statusCode ?? 0;
  if (status < 200 || status > 599) {
    message.destroy();
    throw new TypeError('fetch failed', { cause: new Error(`invalid HTTP status ${status} from ${url.host}`) });
  }
  const responseHeaders = new Headers();
  for (let i = 0; i + 1 < message.rawHeaders.length; i += 2) responseHeaders.append(message.rawHeaders[i] as string, message.rawHeaders[i + 1] as string);
  const meta = { status, statusText: message.statusMessage ?? '', headers: responseHeaders };
  let res: Response;
  if (status >= 200 && status < 300 && !NULL_BODY_STATUSES.has(status)) {
    res = new Response(null, meta);
    bodies.set(res, message);
  } else {
    const body = await readSome(message, MAX_ERROR_BODY).catch((err: unknown) => {
      throw (err as Error)?.name === 'AbortError' ? err : new TypeError('fetch failed', { cause: err });
    });
    res = new Response(NULL_BODY_STATUSES.has(status) ? null : new Uint8Array(body), meta);
  }
  Object.defineProperty(res, 'url', { value: url.href });
  return res;
}

/** Up to `limit` bytes of a message; the rest is dropped with the connection. */
async function readSome(message: http.IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of message as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= limit) {
      message.destroy();
      break;
    }
  }
  return Buffer.concat(chunks).subarray(0, limit);
}
