/**
 * Image references as docker reads them (github.com/distribution/reference):
 *
 *   busybox                      → docker.io/library/busybox:latest
 *   user/app                     → docker.io/user/app:latest
 *   localhost:5000/ns/name:tag   → localhost:5000/ns/name:tag
 *   name@sha256:<64 hex>         → docker.io/library/name@sha256:<64 hex> (no default tag)
 *
 * Grammar (distribution/reference):
 *   reference      := name [ ":" tag ] [ "@" digest ]
 *   name           := [domain '/'] path-component ['/' path-component]*
 *   domain         := host [':' port]      host := domain-name | '[' ipv6 ']'
 *   path-component := [a-z0-9]+ (separator [a-z0-9]+)*   separator := '.' | '_' | '__' | '-'+
 *   tag            := [\w][\w.-]{0,127}
 *   digest         := algorithm ':' hex    (sha256: 64, sha384: 96, sha512: 128 lowercase hex)
 */
import { BerthError } from '../common/index.ts';

export const DEFAULT_DOMAIN = 'docker.io';
export const DEFAULT_TAG = 'latest';
const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
const OFFICIAL_REPO_PREFIX = 'library/';
const NAME_TOTAL_LENGTH_MAX = 255;

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_NAME_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN_AND_PORT = new RegExp(
  `^(?:${DOMAIN_NAME_COMPONENT}(?:\\.${DOMAIN_NAME_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`,
);
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST_ALGORITHM = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*$/;
const DIGEST_HEX_LENGTH: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };
const ANCHORED_IDENTIFIER = /^[a-f0-9]{64}$/;

/** A parsed, normalised image reference. */
export interface ImageReference {
  /** Registry host (and port): `docker.io`, `localhost:5000`, `[::1]:5000`. */
  domain: string;
  /** Repository path inside the registry: `library/busybox`, `ns/name`. */
  path: string;
  /** `domain/path`: `docker.io/library/busybox`. */
  name: string;
  tag?: string;
  /** `sha256:<hex>`. */
  digest?: string;
  /** The short name docker shows: `busybox`, `user/app`, `localhost:5000/ns/name`. */
  familiar: string;
  /** `name[:tag][@digest]`: `docker.io/library/busybox:latest`. */
  canonical: string;
}

export interface ParseReferenceOptions {
  /** Tag to add when the reference has neither tag nor digest; `false` to add none. Default `latest`. */
  defaultTag?: string | false;
}

function invalid(imageRef: string, reason: string, hint?: string): BerthError {
  return new BerthError(
    'INVALID_ARGUMENT',
    `invalid reference ${JSON.stringify(imageRef)}: ${reason}`,
    hint === undefined ? {} : { hint },
  );
}

/** Split a name into registry domain and repository path the way docker does. */
function splitDockerDomain(name: string): { domain: string; path: string } {
  const slash = name.indexOf('/');
  let domain: string;
  let path: string;
  if (slash < 0) {
    return { domain: DEFAULT_DOMAIN, path: OFFICIAL_REPO_PREFIX + name };
  }
  const first = name.slice(0, slash);
  const rest = name.slice(slash + 1);
  if (first === 'localhost' || /[.:]/.test(first) || first.toLowerCase() !== first) {
    domain = first === LEGACY_DEFAULT_DOMAIN ? DEFAULT_DOMAIN : first;
    path = rest;
  } else {
    domain = DEFAULT_DOMAIN;
    path = name;
  }
  if (domain === DEFAULT_DOMAIN && !path.includes('/')) path = OFFICIAL_REPO_PREFIX + path;
  return { domain, path };
}

function validateDigest(imageRef: string, digest: string): void {
  const colon = digest.indexOf(':');
  const algorithm = colon < 0 ? '' : digest.slice(0, colon);
  const hex = colon < 0 ? '' : digest.slice(colon + 1);
  const expect = 'expected sha256: followed by 64 lowercase hex digits';
  if (!DIGEST_ALGORITHM.test(algorithm)) throw invalid(imageRef, `invalid digest ${JSON.stringify(digest)} (${expect})`);
  const length = DIGEST_HEX_LENGTH[algorithm];
  if (length === undefined) {
    throw invalid(imageRef, `unsupported digest algorithm ${JSON.stringify(algorithm)}`, 'use sha256, sha384 or sha512');
  }
  if (hex.length !== length || !/^[a-f0-9]+$/.test(hex)) {
    throw invalid(imageRef, `invalid ${algorithm} digest (expected ${length} lowercase hex digits)`);
  }
}

function validatePath(imageRef: string, path: string): void {
  for (const component of path.split('/')) {
    if (PATH_COMPONENT.test(component)) continue;
    if (PATH_COMPONENT.test(component.toLowerCase())) throw invalid(imageRef, 'repository name must be lowercase');
    if (component === '') throw invalid(imageRef, 'invalid reference format (empty path component)');
    throw invalid(
      imageRef,
      `invalid repository name component ${JSON.stringify(component)}`,
      'name components use lowercase letters, digits and the separators ".", "_", "__" and "-", and start and end with a letter or digit',
    );
  }
}

/**
 * Parse and normalise a reference as docker does: a missing domain is docker.io, a single
 * name on docker.io gets `library/`, and with neither tag nor digest the tag is `latest`.
 * Throws an INVALID_ARGUMENT BerthError naming the reference and what is wrong.
 */
export function parseReference(imageRef: string, opts: ParseReferenceOptions = {}): ImageReference {
  if (imageRef === '') throw invalid(imageRef, 'repository name must have at least one component');
  if (ANCHORED_IDENTIFIER.test(imageRef)) {
    throw invalid(imageRef, 'cannot specify 64-byte hexadecimal strings', 'an image ID is not a repository name');
  }
  let rest = imageRef;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    validateDigest(imageRef, digest);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) {
      throw invalid(
        imageRef,
        `invalid tag ${JSON.stringify(tag)}`,
        'a tag is 1 to 128 letters, digits, "_", "." and "-", and does not start with "." or "-"',
      );
    }
  }
  if (rest === '') throw invalid(imageRef, 'repository name must have at least one component');
  const { domain, path } = splitDockerDomain(rest);
  if (!DOMAIN_AND_PORT.test(domain)) throw invalid(imageRef, `invalid registry domain ${JSON.stringify(domain)}`);
  const port = /:(\d+)$/.exec(domain)?.[1];
  if (port !== undefined && !(Number(port) >= 1 && Number(port) <= 65535)) {
    throw invalid(imageRef, `port ${port} of registry ${JSON.stringify(domain)} is out of range`, 'a port is a number from 1 to 65535');
  }
  if (URL.parse(`http://${domain}/`) === null) throw invalid(imageRef, `invalid registry domain ${JSON.stringify(domain)}`);
  validatePath(imageRef, path);
  const name = `${domain}/${path}`;
  if (name.length > NAME_TOTAL_LENGTH_MAX) {
    throw invalid(imageRef, `repository name must not be more than ${NAME_TOTAL_LENGTH_MAX} characters`);
  }
  const defaultTag = opts.defaultTag ?? DEFAULT_TAG;
  if (tag === undefined && digest === undefined && defaultTag !== false) tag = defaultTag;
  const ref: ImageReference = { domain, path, name, familiar: familiarName(name), canonical: '' };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  ref.canonical = formatReference(ref);
  return ref;
}

/** The short name docker shows for a normalised name: `docker.io/library/busybox` → `busybox`. */
export function familiarName(name: string): string {
  const prefix = `${DEFAULT_DOMAIN}/`;
  if (!name.startsWith(prefix)) return name;
  const path = name.slice(prefix.length);
  if (path.startsWith(OFFICIAL_REPO_PREFIX) && !path.slice(OFFICIAL_REPO_PREFIX.length).includes('/')) {
    return path.slice(OFFICIAL_REPO_PREFIX.length);
  }
  return path;
}

/** `name[:tag][@digest]`, with the familiar name when `familiar` is set (`busybox:latest`). */
export function formatReference(
  ref: Pick<ImageReference, 'name' | 'tag' | 'digest'>,
  opts: { familiar?: boolean } = {},
): string {
  let out = opts.familiar ? familiarName(ref.name) : ref.name;
  if (ref.tag !== undefined) out += `:${ref.tag}`;
  if (ref.digest !== undefined) out += `@${ref.digest}`;
  return out;
}

/** True when `digest` is a well-formed `algorithm:hex` digest berth can verify. */
export function isValidDigest(digest: string): boolean {
  try {
    validateDigest(digest, digest);
    return true;
  } catch {
    return false;
  }
}
