/**
 * The HTTP side of the Docker Engine API: routes, docker's error bodies and status codes,
 * bounded request bodies, checked JSON fields and the multiplexed stream frame.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BerthError } from '../../common/index.ts';

export const API_VERSION = '1.47';
export const MIN_API_VERSION = '1.24';
/** Request bodies larger than this are refused (413): a container's config is a few KB. */
export const MAX_BODY = 1 << 20;

/** An error with docker's HTTP status. */
export class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** docker's status for berth's error codes. */
export function statusOf(err: unknown): number {
  if (err instanceof HttpError) return err.status;
  if (!(err instanceof BerthError)) return 500;
  switch (err.code) {
    case 'NOT_FOUND':
      return 404;
    case 'ALREADY_EXISTS':
    case 'CONFLICT':
    case 'FAILED_PRECONDITION':
      return 409;
    case 'INVALID_ARGUMENT':
      return 400;
    case 'NOT_IMPLEMENTED':
      return 501;
    default:
      return 500;
  }
}

export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

export function sendError(res: ServerResponse, status: number, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, status, { message });
}

export const noContent = (res: ServerResponse) => void res.writeHead(204).end();

export async function readBody(req: IncomingMessage, max = MAX_BODY): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > max) throw new HttpError(413, `request body too large: ${declared} bytes (at most ${max})`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) throw new HttpError(413, `request body too large: more than ${max} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

export async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const body = await readBody(req);
  if (body.length === 0) return {};
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new HttpError(400, `invalid JSON: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new HttpError(400, 'invalid JSON: the body must be an object');
  return value as Record<string, unknown>;
}

export const bool = (v: string | null) => v === '1' || v === 'true' || v === 'True';

type FieldType = 'string' | 'number' | 'boolean' | 'string[]' | 'object' | 'array';

/** A field of a request body, checked: wrong types are refused (400) before anything is made. */
export function field<T>(obj: Record<string, unknown> | undefined, key: string, type: FieldType, where: string): T | undefined {
  const v = obj?.[key];
  if (v === undefined || v === null) return undefined;
  const ok =
    type === 'string[]' ? Array.isArray(v) && v.every((x) => typeof x === 'string')
    : type === 'array' ? Array.isArray(v)
    : type === 'object' ? typeof v === 'object' && !Array.isArray(v)
    : typeof v === type;
  if (!ok) throw new HttpError(400, `json: cannot unmarshal ${Array.isArray(v) ? 'array' : typeof v} into Go struct field ${where}.${key} of type ${type}`);
  return v as T;
}

/** docker's `filters` query parameter: `{"name":["a"],"label":{"k=v":true}}`, as name → values. */
export function filtersOf(q: URLSearchParams): Map<string, string[]> {
  const raw = q.get('filters');
  const out = new Map<string, string[]>();
  if (!raw) return out;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new HttpError(400, `invalid filter: ${raw.slice(0, 200)}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new HttpError(400, `invalid filter: ${raw.slice(0, 200)}`);
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    // both shapes docker has used: a list, or a map of value → true
    const values = Array.isArray(v) ? v : typeof v === 'object' && v !== null ? Object.keys(v).filter((x) => (v as Record<string, unknown>)[x]) : [];
    out.set(k, values.map(String));
  }
  return out;
}

/** docker's multiplexed stream frame: stream (0 stdin, 1 stdout, 2 stderr), 3 zero bytes, length. */
export function frame(stream: 1 | 2, data: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h[0] = stream;
  h.writeUInt32BE(data.length, 4);
  return Buffer.concat([h, data]);
}

export type Handler = (req: IncomingMessage, res: ServerResponse, params: string[], query: URLSearchParams) => Promise<void>;

/** The API's routes: a method and a path pattern (its groups are the handler's params). */
export class Router {
  readonly routes: { method: string; re: RegExp; handler: Handler }[] = [];

  add(method: string, path: string, handler: Handler): void {
    this.routes.push({ method, re: new RegExp(`^${path}$`), handler });
  }

  /** The handler for a request, or the status (404, 405) and message when there is none. */
  find(method: string, path: string): { handler: Handler; params: string[] } | { status: number; message: string } {
    const matches = this.routes.map((r) => ({ r, m: r.re.exec(path) })).filter((x) => x.m);
    const hit = matches.find((x) => x.r.method === method);
    if (hit) return { handler: hit.r.handler, params: hit.m!.slice(1).map((s) => decodeURIComponent(s)) };
    return matches.length ? { status: 405, message: `method ${method} not allowed for ${path}` } : { status: 404, message: `page not found: ${path}` };
  }
}
