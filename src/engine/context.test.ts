import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openImageContext } from './context.ts';

describe('openImageContext', () => {
  it('makes what the state root holds root\'s alone, whatever mode the root was made with', () => {
    const root = mkdtempSync(join(tmpdir(), 'berth-test-ctx-'));
    try {
      mkdirSync(join(root, 'storage'), { mode: 0o755 });
      mkdirSync(join(root, 'content'), { mode: 0o777 });
      const ctx = openImageContext({ root });
      ctx.db.close();
      const mode = (name: string) => statSync(join(root, name)).mode & 0o777;
      assert.deepEqual(
        ['storage', 'content', 'containers', 'tmp', 'berth.db'].map((n) => [n, mode(n).toString(8)]),
        [['storage', '700'], ['content', '700'], ['containers', '700'], ['tmp', '700'], ['berth.db', '600']],
      );
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
