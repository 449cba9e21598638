import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { imageRows } from './berth-image-list.ts';

const base = { Containers: -1, Created: 1_700_000_000, Id: 'sha256:' + 'a'.repeat(64), Labels: null, ParentId: '', SharedSize: -1, Size: 4_261_550 };
const digest = 'sha256:' + 'd'.repeat(64);

describe('imageRows', () => {
  it('makes one row per tag, docker\'s short ID, size and age', () => {
    const rows = imageRows({ ...base, RepoTags: ['busybox:latest', 'busybox:1.36'], RepoDigests: [] }, { digests: false, noTrunc: false }, 1_700_000_000_000 + 3 * 86_400_000);
    assert.deepEqual(rows.map((r) => [r.Repository, r.Tag, r.ID, r.CreatedSince, r.Size, r.Digest]), [
      ['busybox', 'latest', 'aaaaaaaaaaaa', '3 days ago', '4.26MB', '<none>'],
      ['busybox', '1.36', 'aaaaaaaaaaaa', '3 days ago', '4.26MB', '<none>'],
    ]);
    const keys = Object.keys(rows[0]!);
    assert.deepEqual(keys, [...keys].sort(), 'docker prints the JSON keys sorted');
  });

  it('shows a dangling image as <none> <none>, and digest-only repositories with tag <none>', () => {
    assert.deepEqual(imageRows({ ...base, RepoTags: [], RepoDigests: [] }, { digests: true, noTrunc: true }).map((r) => [r.Repository, r.Tag, r.ID]), [['<none>', '<none>', base.Id]]);
    const rows = imageRows({ ...base, RepoTags: ['a:1'], RepoDigests: [`a@${digest}`, `b@${digest}`] }, { digests: true, noTrunc: false });
    assert.deepEqual(rows.map((r) => [r.Repository, r.Tag, r.Digest]), [['a', '1', digest], ['b', '<none>', digest]]);
  });
});
