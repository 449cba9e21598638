import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { STREAM_BODY, httpFetch, streamedBody } from './http-stream.ts';
import { networkReason } from './retry.ts';

describe('httpFetch', () => {
  let server: Server;
  let base = '';
  const seen: Array<Record<string, string | string[] | undefined>> = [];
  before(async () => {
    server = createServer((req, res) => {
      seen.push(req.headers);
      if (req.url === '/blob') {
        res.writeHead(200, { 'content-length': '6', 'docker-content-digest': 'sha256:x' });
        res.end('berth!');
      } else if (req.url === '/cut') {
        res.writeHead(200, { 'content-length': '1000' });
        res.write('only a part', () => res.destroy());
      } else {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end('{"errors":[{"code":"BLOB_UNKNOWN"}]}');
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise((resolve) => server.close(resolve)));

  const read = async (body: AsyncIterable<Uint8Array>): Promise<string> => {
    const parts: Uint8Array[] = [];
    for await (const part of body) parts.push(part);
    return Buffer.concat(parts).toString();
  };

  it('streams a 2xx body of a marked request outside the Response, with its status, headers, url and request headers', async () => {
    const res = await httpFetch(`${base}/blob`, { headers: { Range: 'bytes=0-', Authorization: 'Bearer t' }, [STREAM_BODY]: true } as RequestInit);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-content-digest'), 'sha256:x');
    assert.equal(res.url, `${base}/blob`);
    assert.equal(res.body, null);
    const body = streamedBody(res);
    assert.ok(body);
    assert.equal(await read(body), 'berth!');
    const headers = seen.at(-1) ?? {};
    assert.equal(headers.range, 'bytes=0-');
    assert.equal(headers.authorization, 'Bearer t');
    assert.equal(headers['accept-encoding'], 'identity');
  });

  it('gives any other answer as a Response whose body can be read (error details)', async () => {
    const res = await httpFetch(`${base}/missing`, { [STREAM_BODY]: true } as RequestInit);
    assert.equal(res.status, 404);
    assert.equal(streamedBody(res), undefined);
    assert.deepEqual(await res.json(), { errors: [{ code: 'BLOB_UNKNOWN' }] });
  });

  it('leaves requests that are not marked to fetch', async () => {
    const res = await httpFetch(`${base}/blob`);
    assert.equal(streamedBody(res), undefined);
    assert.equal(await res.text(), 'berth!');
  });

  it('fails the stream when the connection ends before the body does, also when that was before reading began', async () => {
    for (const delay of [0, 100]) {
      const res = await httpFetch(`${base}/cut`, { [STREAM_BODY]: true } as RequestInit);
      const body = streamedBody(res);
      assert.ok(body);
      await new Promise((resolve) => setTimeout(resolve, delay));
      await assert.rejects(read(body), (err: NodeJS.ErrnoException) => err.code === 'ECONNRESET');
    }
  });

  it('throws network errors as fetch does (a TypeError whose cause has the code)', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const err = await httpFetch(`http://127.0.0.1:${port}/blob`, { [STREAM_BODY]: true } as RequestInit).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof TypeError);
    assert.equal(networkReason(err), 'ECONNREFUSED');
  });

  it('is canceled by its signal', async () => {
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(httpFetch(`${base}/blob`, { signal: controller.signal, [STREAM_BODY]: true } as RequestInit), (err: Error) => err.name === 'AbortError');
  });
});
