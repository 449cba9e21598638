import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultAuthFile, findCredentials, readAuthFile, removeCredentials, saveCredentials } from './auth-file.ts';

async function tempFile(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-test-auth-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return join(dir, 'docker', 'config.json');
}

describe('auth file', () => {
  it('saves credentials as docker does (base64 user:password, mode 0600) and keeps other keys', async (t) => {
    const path = await tempFile(t);
    await saveCredentials(path, 'quay.io', { username: 'u', password: 'p:w' });
    await writeFile(path, JSON.stringify({ ...JSON.parse(await readFile(path, 'utf8')), credsStore: 'none' }));
    await saveCredentials(path, 'docker.io', { username: 'me', password: 'secret' });
    const doc = JSON.parse(await readFile(path, 'utf8'));
    assert.equal(doc.credsStore, 'none');
    assert.deepEqual(doc.auths['https://index.docker.io/v1/'], { auth: Buffer.from('me:secret').toString('base64') });
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.deepEqual(findCredentials(await readAuthFile(path), 'quay.io'), { username: 'u', password: 'p:w' });
    assert.deepEqual(findCredentials(await readAuthFile(path), 'index.docker.io'), { username: 'me', password: 'secret' });
  });

  it('finds credentials under keys with a scheme and removes them on logout', async (t) => {
    const path = await tempFile(t);
    await saveCredentials(path, 'x', { username: 'a', password: 'b' }); // creates the dirs
    await writeFile(path, JSON.stringify({ auths: { 'https://reg.example:5000/v2/': { auth: Buffer.from('a:b').toString('base64') }, other: { auth: 'eDp5' } } }));
    assert.deepEqual(findCredentials(await readAuthFile(path), 'reg.example:5000'), { username: 'a', password: 'b' });
    assert.equal(await removeCredentials(path, 'reg.example:5000'), true);
    assert.equal(await removeCredentials(path, 'reg.example:5000'), false);
    assert.deepEqual(JSON.parse(await readFile(path, 'utf8')).auths, { other: { auth: 'eDp5' } });
  });

  it('treats a missing file as empty and refuses a malformed one', async (t) => {
    const path = await tempFile(t);
    assert.deepEqual(await readAuthFile(path), {});
    await saveCredentials(path, 'x', { username: 'a', password: 'b' });
    await writeFile(path, '{oops');
    await assert.rejects(readAuthFile(path), /is not valid JSON/);
  });

  it('follows REGISTRY_AUTH_FILE and DOCKER_CONFIG', () => {
    assert.equal(defaultAuthFile({ REGISTRY_AUTH_FILE: '/a.json' }), '/a.json');
    assert.equal(defaultAuthFile({ DOCKER_CONFIG: '/cfg' }), '/cfg/config.json');
    assert.equal(defaultAuthFile({ HOME: '/home/u' }), '/home/u/.docker/config.json');
  });
});
