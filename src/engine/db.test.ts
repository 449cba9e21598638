import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BerthError } from '../common/index.ts';
import { Database, resolveRoot } from './db.ts';
import { tempRoot } from './test-helpers.ts';

const migrations = [
  { domain: 'things', version: 1, sql: 'CREATE TABLE things (name TEXT PRIMARY KEY)' },
  { domain: 'things', version: 2, sql: 'ALTER TABLE things ADD COLUMN size INTEGER' },
];

describe('Database', () => {
  it('creates berth.db in WAL mode with each domain at its latest schema version', (t) => {
    const { root, cleanup } = tempRoot();
    t.after(cleanup);
    const db = Database.open(root, migrations);
    t.after(() => db.close());
    assert.ok(existsSync(join(root, 'berth.db')));
    assert.equal(db.get<{ journal_mode: string }>('PRAGMA journal_mode')?.journal_mode, 'wal');
    assert.equal(db.schemaVersion('things'), 2);
    db.run('INSERT INTO things (name, size) VALUES (?, ?)', 'a', 1);
    assert.deepEqual(db.all('SELECT name, size FROM things'), [{ name: 'a', size: 1 }]);
  });

  it('runs only the new migrations when opened again', (t) => {
    const { root, cleanup } = tempRoot();
    t.after(cleanup);
    Database.open(root, migrations.slice(0, 1)).close();
    const db = Database.open(root, migrations);
    t.after(() => db.close());
    assert.equal(db.schemaVersion('things'), 2);
    db.run('INSERT INTO things (name, size) VALUES (?, ?)', 'b', 2);
  });

  it('refuses a database whose schema is newer than this berth knows', (t) => {
    const { root, cleanup } = tempRoot();
    t.after(cleanup);
    Database.open(root, migrations).close();
    assert.throws(() => Database.open(root, migrations.slice(0, 1)), (err: unknown) => err instanceof BerthError && err.code === 'FAILED_PRECONDITION' && /newer/.test(err.message));
  });

  it('rolls a transaction back when it throws, and nested transactions join the outer one', (t) => {
    const { root, cleanup } = tempRoot();
    t.after(cleanup);
    const db = Database.open(root, migrations);
    t.after(() => db.close());
    assert.throws(() =>
      db.transaction(() => {
        db.run("INSERT INTO things (name) VALUES ('x')");
        db.transaction(() => db.run("INSERT INTO things (name) VALUES ('y')"));
        throw new Error('boom');
      }),
    /boom/);
    assert.deepEqual(db.all('SELECT name FROM things'), []);
    db.transaction(() => db.run("INSERT INTO things (name) VALUES ('z')"));
    assert.equal(db.all('SELECT name FROM things').length, 1);
  });

  it('takes the root from --root, then $BERTH_ROOT, then /var/lib/berth', () => {
    const saved = process.env.BERTH_ROOT;
    try {
      process.env.BERTH_ROOT = '/tmp/elsewhere';
      assert.equal(resolveRoot('/x'), '/x');
      assert.equal(resolveRoot(), '/tmp/elsewhere');
      delete process.env.BERTH_ROOT;
      assert.equal(resolveRoot(), '/var/lib/berth');
    } finally {
      if (saved === undefined) delete process.env.BERTH_ROOT;
      else process.env.BERTH_ROOT = saved;
    }
  });
});
