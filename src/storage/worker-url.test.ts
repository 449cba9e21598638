import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { existingWorkerUrl, workerUrl } from './worker-url.ts';

describe('workerUrl', () => {
  it('points at the module beside it when berth runs from source', () => {
    for (const name of ['inflate-thread', 'file-thread'] as const) {
      const url = existingWorkerUrl(name);
      assert.equal(url.href, new URL(`./${name}.ts`, import.meta.url).href);
      assert.ok(existsSync(fileURLToPath(url)));
    }
  });

  it('points at dist/workers/<name>.cjs when berth runs from a bundle', () => {
    assert.equal(workerUrl('inflate-thread', 'file:///opt/berth/dist/berth.cjs').href, 'file:///opt/berth/dist/workers/inflate-thread.cjs');
    assert.equal(workerUrl('file-thread', 'file:///opt/berth/dist/berth.cjs').href, 'file:///opt/berth/dist/workers/file-thread.cjs');
  });

  it('finds no worker started from source text or zlib internals when the unpacker\'s code is read', () => {
    const dir = new URL('.', import.meta.url);
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))) {
      const code = readFileSync(new URL(file, dir), 'utf8');
      assert.doesNotMatch(code, /eval:\s*true/, `${file} starts a worker from source text`);
      assert.doesNotMatch(code, /\._handle\b|_writeState|_processChunk|\.toString\(\)\}\)/, `${file} uses private Node internals or code as text`);
    }
  });
});
