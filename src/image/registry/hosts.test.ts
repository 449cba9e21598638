import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { apiHost, authKey, isLoopbackHost, normalizeRegistry, registryBaseUrl } from './hosts.ts';

describe('registry hosts', () => {
  it('uses http only for loopback and insecure registries', () => {
    assert.equal(registryBaseUrl('127.0.0.1:5000'), 'http://127.0.0.1:5000');
    assert.equal(registryBaseUrl('127.3.2.1:5000'), 'http://127.3.2.1:5000');
    assert.equal(registryBaseUrl('localhost:5000'), 'http://localhost:5000');
    assert.equal(registryBaseUrl('[::1]:5000'), 'http://[::1]:5000');
    assert.equal(registryBaseUrl('registry.example.com'), 'https://registry.example.com');
    assert.equal(registryBaseUrl('10.0.0.5:5000'), 'https://10.0.0.5:5000');
    assert.equal(registryBaseUrl('10.0.0.5:5000', ['10.0.0.5:5000']), 'http://10.0.0.5:5000');
    assert.equal(registryBaseUrl('127.0.0.1.example.com'), 'https://127.0.0.1.example.com');
    assert.equal(isLoopbackHost('128.0.0.1'), false);
  });

  it('sends docker.io to its API host and keeps its credentials under docker\'s key', () => {
    assert.equal(registryBaseUrl('docker.io'), 'https://registry-1.docker.io');
    assert.equal(apiHost('quay.io'), 'quay.io');
    assert.equal(authKey('docker.io'), 'https://index.docker.io/v1/');
    assert.equal(authKey('127.0.0.1:5000'), '127.0.0.1:5000');
    assert.equal(normalizeRegistry('https://index.docker.io/v1/'), 'docker.io');
    assert.equal(normalizeRegistry('http://Quay.io/'), 'quay.io');
  });
});
