export { RegistryClient, pullScope } from './client.ts';
export type { FetchBlobOptions, ManifestResult, RegistryClientOptions, RequestOptions } from './client.ts';
export { defaultAuthFile, findCredentials, readAuthFile, removeCredentials, saveCredentials } from './auth-file.ts';
export type { AuthFile, Credentials } from './auth-file.ts';
export { parseWwwAuthenticate } from './challenge.ts';
export type { Challenge } from './challenge.ts';
export { DOCKER_HUB_API_HOST, DOCKER_HUB_AUTH_KEY, apiHost, authKey, isLoopbackHost, normalizeRegistry, registryBaseUrl } from './hosts.ts';
export { DEFAULT_RETRY_POLICY, backoffDelay, fetchWithRetry, parseRetryAfter } from './retry.ts';
export type { RetryPolicy } from './retry.ts';
