/**
 * Where a registry is reached: docker.io's API lives at registry-1.docker.io, and plain HTTP
 * is used only for registries marked insecure or on the loopback interface (as docker does
 * for localhost); every other registry is HTTPS.
 */
import { DEFAULT_DOMAIN } from '../reference.ts';

export const DOCKER_HUB_API_HOST = 'registry-1.docker.io';
/** The key docker writes in config.json for Docker Hub credentials. */
export const DOCKER_HUB_AUTH_KEY = 'https://index.docker.io/v1/';

const DOCKER_HUB_ALIASES = new Set([DEFAULT_DOMAIN, 'index.docker.io', DOCKER_HUB_API_HOST, 'registry.hub.docker.com']);

/** A registry name as users type it (`https://index.docker.io/v1/`, `HOST:5000/`) → its domain (`docker.io`, `host:5000`). */
export function normalizeRegistry(registry: string): string {
  let host = registry.trim().replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  host = host.split('/')[0] ?? '';
  host = host.toLowerCase();
  return DOCKER_HUB_ALIASES.has(host) ? DEFAULT_DOMAIN : host;
}

/** The host (and port) serving the registry API of a domain. */
export function apiHost(domain: string): string {
  return normalizeRegistry(domain) === DEFAULT_DOMAIN ? DOCKER_HUB_API_HOST : domain;
}

/** The hostname of `host[:port]` (IPv6 keeps its brackets). */
function hostname(hostAndPort: string): string {
  if (hostAndPort.startsWith('[')) return hostAndPort.slice(0, hostAndPort.indexOf(']') + 1);
  return hostAndPort.split(':')[0] ?? hostAndPort;
}

/** localhost, 127.0.0.0/8 or [::1]. */
export function isLoopbackHost(hostAndPort: string): boolean {
  const name = hostname(hostAndPort).toLowerCase();
  return name === 'localhost' || name.endsWith('.localhost') || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name) || name === '[::1]';
}

/** `http://host` for insecure or loopback registries, else `https://host`. */
export function registryBaseUrl(domain: string, insecureRegistries: readonly string[] = []): string {
  const host = apiHost(domain);
  const insecure = new Set(insecureRegistries.map(normalizeRegistry));
  const scheme = isLoopbackHost(host) || insecure.has(normalizeRegistry(domain)) || insecure.has(host) ? 'http' : 'https';
  return `${scheme}://${host}`;
}

/** The key under which config.json keeps a registry's credentials. */
export function authKey(domain: string): string {
  const registry = normalizeRegistry(domain);
  return registry === DEFAULT_DOMAIN ? DOCKER_HUB_AUTH_KEY : registry;
}
