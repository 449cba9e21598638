import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BerthError } from '../common/index.ts';
import {
  knownMountOptions,
  MOUNT_ATTR__ATIME,
  MOUNT_ATTR_NOATIME,
  MOUNT_ATTR_NODEV,
  MOUNT_ATTR_NOEXEC,
  MOUNT_ATTR_NOSUID,
  MOUNT_ATTR_RDONLY,
  MOUNT_ATTR_STRICTATIME,
  MS_BIND,
  MS_DIRSYNC,
  MS_LAZYTIME,
  MS_MANDLOCK,
  MS_NOATIME,
  MS_NODEV,
  MS_NODIRATIME,
  MS_NOEXEC,
  MS_NOSUID,
  MS_PRIVATE,
  MS_RDONLY,
  MS_REC,
  MS_RELATIME,
  MS_REMOUNT,
  MS_SHARED,
  MS_SILENT,
  MS_SLAVE,
  MS_STRICTATIME,
  MS_SYNCHRONOUS,
  MS_UNBINDABLE,
  parseMountOptions,
  parseRootfsPropagation,
} from './mount-options.ts';

describe('mount flag constants', () => {
  it('match the values of <sys/mount.h>', () => {
    assert.deepEqual(
      [MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_SYNCHRONOUS, MS_REMOUNT, MS_MANDLOCK, MS_DIRSYNC, MS_NOATIME, MS_NODIRATIME, MS_BIND],
      [1, 2, 4, 8, 16, 32, 64, 128, 1024, 2048, 4096],
    );
    assert.deepEqual([MS_REC, MS_SILENT, MS_UNBINDABLE, MS_PRIVATE, MS_SLAVE, MS_SHARED, MS_RELATIME], [16384, 32768, 131072, 262144, 524288, 1048576, 2097152]);
    assert.deepEqual([MS_STRICTATIME, MS_LAZYTIME], [16777216, 33554432]);
  });
});

describe('parseMountOptions', () => {
  it('ors the flags together when given nosuid, noexec, nodev, ro', () => {
    const parsed = parseMountOptions(['nosuid', 'noexec', 'nodev', 'ro']);
    assert.equal(parsed.flags, 1 | 2 | 4 | 8);
    assert.equal(parsed.clearFlags, 0);
    assert.equal(parsed.data, '');
    assert.equal(parsed.isBind, false);
  });

  it('makes a recursive bind when given rbind', () => {
    const parsed = parseMountOptions(['rbind']);
    assert.equal(parsed.flags, MS_BIND | MS_REC);
    assert.equal(parsed.isBind, true);
    assert.equal(parsed.isRecursive, true);
    const plain = parseMountOptions(['bind', 'ro']);
    assert.equal(plain.flags, MS_BIND | MS_RDONLY);
    assert.equal(plain.isRecursive, false);
  });

  it('collects propagation changes in order when given rprivate and others', () => {
    assert.deepEqual(parseMountOptions(['rprivate']).propagation, [MS_PRIVATE | MS_REC]);
    assert.deepEqual(parseMountOptions(['shared', 'rslave', 'runbindable', 'private']).propagation, [
      MS_SHARED,
      MS_SLAVE | MS_REC,
      MS_UNBINDABLE | MS_REC,
      MS_PRIVATE,
    ]);
    assert.equal(parseMountOptions(['rshared']).flags, 0);
  });

  it('passes unknown options through as data in order', () => {
    assert.equal(parseMountOptions(['size=64k', 'mode=1777']).data, 'size=64k,mode=1777');
    const devpts = parseMountOptions(['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5']);
    assert.equal(devpts.flags, MS_NOSUID | MS_NOEXEC);
    assert.equal(devpts.data, 'newinstance,ptmxmode=0666,mode=0620,gid=5');
  });

  it('lets a later option undo an earlier one and records what it cleared', () => {
    const parsed = parseMountOptions(['ro', 'nosuid', 'rw', 'suid', 'noexec']);
    assert.equal(parsed.flags, MS_NOEXEC);
    assert.equal(parsed.clearFlags, MS_RDONLY | MS_NOSUID);
    const again = parseMountOptions(['rw', 'ro']);
    assert.equal(again.flags, MS_RDONLY);
    assert.equal(again.clearFlags, 0);
  });

  it('maps every named option to its flag', () => {
    const set: Array<[string, number]> = [
      ['sync', MS_SYNCHRONOUS],
      ['dirsync', MS_DIRSYNC],
      ['remount', MS_REMOUNT],
      ['mand', MS_MANDLOCK],
      ['noatime', MS_NOATIME],
      ['nodiratime', MS_NODIRATIME],
      ['relatime', MS_RELATIME],
      ['strictatime', MS_STRICTATIME],
      ['lazytime', MS_LAZYTIME],
      ['silent', MS_SILENT],
    ];
    for (const [option, flag] of set) assert.equal(parseMountOptions([option]).flags, flag, option);
    const cleared: Array<[string, number]> = [
      ['async', MS_SYNCHRONOUS],
      ['nomand', MS_MANDLOCK],
      ['atime', MS_NOATIME],
      ['diratime', MS_NODIRATIME],
      ['norelatime', MS_RELATIME],
      ['nostrictatime', MS_STRICTATIME],
      ['nolazytime', MS_LAZYTIME],
      ['loud', MS_SILENT],
      ['dev', MS_NODEV],
      ['exec', MS_NOEXEC],
    ];
    for (const [option, flag] of cleared) assert.equal(parseMountOptions([option]).clearFlags, flag, option);
  });

  it('ignores defaults', () => {
    assert.deepEqual(parseMountOptions(['defaults']), parseMountOptions([]));
  });

  it('sets recursive attributes when given r-variants', () => {
    const parsed = parseMountOptions(['rbind', 'rro', 'rnosuid', 'rnodev', 'rnoexec']);
    assert.equal(parsed.recAttrSet, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
    assert.equal(parsed.recAttrClr, 0);
    assert.equal(parsed.flags, MS_BIND | MS_REC);
    const cleared = parseMountOptions(['rrw', 'rsuid', 'rdev', 'rexec']);
    assert.equal(cleared.recAttrClr, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
    assert.equal(cleared.recAttrSet, 0);
  });

  it('also clears MOUNT_ATTR__ATIME when an atime r-variant is set', () => {
    const noatime = parseMountOptions(['rnoatime']);
    assert.equal(noatime.recAttrSet, MOUNT_ATTR_NOATIME);
    assert.equal(noatime.recAttrClr, MOUNT_ATTR__ATIME);
    const strict = parseMountOptions(['rstrictatime']);
    assert.equal(strict.recAttrSet, MOUNT_ATTR_STRICTATIME);
    assert.equal(strict.recAttrClr, MOUNT_ATTR__ATIME);
    const relatime = parseMountOptions(['rrelatime']);
    assert.equal(relatime.recAttrSet, 0);
    assert.equal(relatime.recAttrClr, MOUNT_ATTR__ATIME);
    assert.equal(parseMountOptions(['ratime']).recAttrClr, MOUNT_ATTR_NOATIME);
  });

  it('recognises tmpcopyup, idmap and ridmap without passing them as data', () => {
    const tmp = parseMountOptions(['tmpcopyup', 'size=1m']);
    assert.equal(tmp.isTmpCopyUp, true);
    assert.equal(tmp.data, 'size=1m');
    assert.deepEqual(parseMountOptions(['bind', 'idmap']).idmap, { recursive: false });
    assert.deepEqual(parseMountOptions(['rbind', 'ridmap']).idmap, { recursive: true });
    assert.equal('idmap' in parseMountOptions(['bind']), false);
  });

  it('lists the known options sorted for features', () => {
    const known = knownMountOptions();
    assert.deepEqual(known, [...known].sort());
    for (const option of ['rbind', 'rprivate', 'rro', 'tmpcopyup', 'nosymfollow', 'idmap']) assert.ok(known.includes(option), option);
    assert.equal(known.includes('size=64k'), false);
  });
});

describe('parseRootfsPropagation', () => {
  it('maps the spec values and runc r forms to flags', () => {
    assert.equal(parseRootfsPropagation('private'), MS_PRIVATE);
    assert.equal(parseRootfsPropagation('rslave'), MS_SLAVE | MS_REC);
    assert.equal(parseRootfsPropagation('shared'), MS_SHARED);
    assert.equal(parseRootfsPropagation('unbindable'), MS_UNBINDABLE);
  });

  it('rejects an unknown value naming the field', () => {
    assert.throws(
      () => parseRootfsPropagation('slaved'),
      (err: unknown) => err instanceof BerthError && err.code === 'INVALID_ARGUMENT' && err.message.startsWith('linux.rootfsPropagation: unknown propagation "slaved"'),
    );
  });
});
