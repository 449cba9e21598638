import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BerthError } from '../../common/index.ts';
import { renderFormatted, globToRegExp } from './format.ts';
import { compileTemplate, goString } from './template.ts';
import { renderTable } from './table.ts';

const image = { Id: 'sha256:abc', RepoTags: ['busybox:latest'], Config: { Cmd: ['sh'], Env: null, Labels: { 'a.b': 'c' } }, Size: 42 };

describe('compileTemplate', () => {
  it('prints fields, nested fields and Go-formatted values', () => {
    assert.equal(compileTemplate('{{.Id}} {{.Size}}').render(image), 'sha256:abc 42');
    assert.equal(compileTemplate('{{.Config.Cmd}} {{.Config.Env}}').render(image), '[sh] <nil>');
    assert.equal(compileTemplate('{{.Config.Labels}}').render(image), 'map[a.b:c]');
    assert.equal(compileTemplate('{{index .Config.Labels "a.b"}}').render(image), 'c');
  });

  it('knows json, join, upper, len, if/else and range', () => {
    assert.equal(compileTemplate('{{json .Config.Cmd}}').render(image), '["sh"]');
    assert.equal(compileTemplate('{{join .RepoTags ","}}|{{upper .Id}}|{{len .RepoTags}}').render(image), 'busybox:latest|SHA256:ABC|1');
    assert.equal(compileTemplate('{{if .Config.Env}}env{{else}}no env{{end}}').render(image), 'no env');
    assert.equal(compileTemplate('{{range .RepoTags}}<{{.}}>{{end}}').render(image), '<busybox:latest>');
    assert.equal(compileTemplate('{{.Id}}\\t{{.Size}}').render(image), 'sha256:abc\t42');
  });

  it('names an unknown field or function in its error', () => {
    assert.throws(() => compileTemplate('{{.Nope}}').render(image), (err: unknown) => err instanceof BerthError && /Nope/.test(err.message));
    assert.throws(() => compileTemplate('{{frob .Id}}').render(image), (err: unknown) => err instanceof BerthError && /frob/.test(err.message));
    assert.throws(() => compileTemplate('{{if .Id}}x'), (err: unknown) => err instanceof BerthError && /end/.test(err.message));
  });

  it('prints a missing map key as <no value>', () => {
    assert.equal(compileTemplate('{{.Config.Labels.missing}}').render(image), '<no value>');
    assert.equal(goString([1, 'a']), '[1 a]');
  });
});

describe('renderFormatted', () => {
  const rows = [{ Repository: 'busybox', Tag: 'latest', ID: 'abc' }, { Repository: '<none>', Tag: '<none>', ID: 'def' }];

  it('prints one JSON object per line with Go\'s escaping', () => {
    assert.equal(renderFormatted(rows, 'json', {}), '{"Repository":"busybox","Tag":"latest","ID":"abc"}\n{"Repository":"\\u003cnone\\u003e","Tag":"\\u003cnone\\u003e","ID":"def"}\n');
  });

  it('prints a table with headers for a table template', () => {
    const out = renderFormatted(rows, 'table {{.Repository}}\\t{{.ID}}', { Repository: 'REPOSITORY', ID: 'IMAGE ID' });
    assert.equal(out, 'REPOSITORY   IMAGE ID\nbusybox      abc\n<none>       def\n');
  });

  it('prints one line per row for a plain template', () => {
    assert.equal(renderFormatted(rows, '{{.Repository}}:{{.Tag}}', {}), 'busybox:latest\n<none>:<none>\n');
  });
});

describe('renderTable', () => {
  it('pads columns like Go\'s tabwriter (min width 10, padding 3), the last one not at all', () => {
    assert.equal(renderTable([['A', 'LONGER HEADER', 'Z'], ['value', 'x', 'last']]), 'A         LONGER HEADER   Z\nvalue     x               last\n');
  });
});

describe('globToRegExp', () => {
  it('matches like Go\'s path.Match', () => {
    assert.ok(globToRegExp('busy*').test('busybox'));
    assert.ok(!globToRegExp('*').test('library/busybox'));
    assert.ok(globToRegExp('*/app:v?').test('user/app:v1'));
    assert.ok(globToRegExp('[ab]ox').test('box'));
  });
});
