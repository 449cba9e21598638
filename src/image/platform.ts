/**
 * Platforms (os/architecture/variant) and picking one image out of an index, as containerd's
 * platform matcher does: names are normalised (`x86_64` → `amd64`, `aarch64` → `arm64/v8`,
 * `armhf` → `arm/v7`), a missing variant means the architecture's default, and an older
 * variant runs where a newer one is asked for (arm/v7 can take arm/v6).
 */
import { BerthError } from '../common/index.ts';
import type { Descriptor, ImageIndex } from './manifest.ts';

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
  'os.version'?: string;
}

const ARCH_ALIASES: Record<string, { architecture: string; variant?: string }> = {
  x86_64: { architecture: 'amd64' },
  'x86-64': { architecture: 'amd64' },
  x64: { architecture: 'amd64' },
  aarch64: { architecture: 'arm64', variant: 'v8' },
  armhf: { architecture: 'arm', variant: 'v7' },
  armel: { architecture: 'arm', variant: 'v6' },
  i386: { architecture: '386' },
  i686: { architecture: '386' },
  ia32: { architecture: '386' },
  ppc64el: { architecture: 'ppc64le' },
};

/** The variant an architecture has when none is given. */
const DEFAULT_VARIANT: Record<string, string> = { arm64: 'v8', arm: 'v7', amd64: 'v1' };

/** Variants that run where the key variant is asked for, best first. */
const COMPATIBLE_VARIANTS: Record<string, Record<string, string[]>> = {
  arm: { v8: ['v8', 'v7', 'v6', 'v5'], v7: ['v7', 'v6', 'v5'], v6: ['v6', 'v5'], v5: ['v5'] },
  arm64: { v8: ['v8'], 'v8.1': ['v8.1', 'v8'], v9: ['v9', 'v8.1', 'v8'] },
  amd64: { v1: ['v1'], v2: ['v2', 'v1'], v3: ['v3', 'v2', 'v1'], v4: ['v4', 'v3', 'v2', 'v1'] },
};

const KNOWN_OS = new Set(['linux', 'windows', 'darwin', 'freebsd', 'netbsd', 'openbsd', 'solaris', 'illumos', 'aix']);
const KNOWN_ARCH = new Set(['amd64', 'arm64', 'arm', '386', 'ppc64le', 'ppc64', 's390x', 'riscv64', 'mips64le', 'mips64', 'loong64', 'wasm']);

/** Canonical names: lowercase, aliases resolved, the architecture's default variant filled in. */
export function normalizePlatform(platform: Platform): Platform {
  let os = platform.os.toLowerCase();
  if (os === 'macos') os = 'darwin';
  let architecture = platform.architecture.toLowerCase();
  let variant = platform.variant?.toLowerCase();
  const alias = ARCH_ALIASES[architecture];
  if (alias) {
    architecture = alias.architecture;
    variant = variant || alias.variant;
  }
  if (variant && /^[0-9]/.test(variant) && (architecture === 'arm' || architecture === 'arm64' || architecture === 'amd64')) {
    variant = `v${variant}`;
  }
  variant = variant || DEFAULT_VARIANT[architecture];
  const out: Platform = { os, architecture };
  if (variant) out.variant = variant;
  if (platform['os.version']) out['os.version'] = platform['os.version'];
  return out;
}

/** `os/arch[/variant]`, without the default amd64 variant (as docker prints it). */
export function formatPlatform(platform: Platform): string {
  const parts = [platform.os, platform.architecture];
  if (platform.variant && !(platform.architecture === 'amd64' && platform.variant === 'v1')) parts.push(platform.variant);
  return parts.join('/');
}

/** The platform of this machine, as images name it (`linux/amd64`, `linux/arm64/v8`). */
export function hostPlatform(): Platform {
  const arch = process.arch === 'arm'
    ? { architecture: 'arm', variant: `v${(process.config.variables as { arm_version?: string }).arm_version ?? '7'}` }
    : process.arch === 'ppc64'
      ? { architecture: 'ppc64le' }
      : { architecture: process.arch };
  return normalizePlatform({ os: process.platform, ...arch });
}

/** Parse docker's `--platform` value: `os/arch[/variant]`, or just an os or an architecture. */
export function parsePlatform(text: string): Platform {
  const parts = text.trim().toLowerCase().split('/');
  const bad = (reason: string) =>
    new BerthError('INVALID_ARGUMENT', `invalid platform ${JSON.stringify(text)}: ${reason}`, {
      hint: 'use os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8',
    });
  if (parts.some((p) => !/^[a-z0-9._-]+$/.test(p))) throw bad('empty or invalid component');
  if (parts.length > 3) throw bad('too many components');
  const [first, second, third] = parts as [string, string | undefined, string | undefined];
  if (second === undefined) {
    const host = hostPlatform();
    if (KNOWN_OS.has(first)) return normalizePlatform({ os: first, architecture: host.architecture, ...(host.variant ? { variant: host.variant } : {}) });
    const arch = ARCH_ALIASES[first]?.architecture ?? first;
    if (KNOWN_ARCH.has(arch)) return normalizePlatform({ os: 'linux', architecture: first });
    throw bad('unknown operating system or architecture');
  }
  return normalizePlatform({ os: first, architecture: second, ...(third ? { variant: third } : {}) });
}

/** True when `candidate` is an image that runs on `want` (both normalised here). */
export function platformRank(want: Platform, candidate: Platform): number | undefined {
  const w = normalizePlatform(want);
  const c = normalizePlatform(candidate);
  if (w.os !== c.os || w.architecture !== c.architecture) return undefined;
  if (w['os.version'] && c['os.version'] && w['os.version'] !== c['os.version']) return undefined;
  if (w.variant === undefined) return 0;
  const compatible = COMPATIBLE_VARIANTS[w.architecture]?.[w.variant] ?? [w.variant];
  const rank = compatible.indexOf(c.variant ?? '');
  return rank < 0 ? undefined : rank;
}

/** Attestations and signatures that buildkit puts in indexes: not images to run. */
function isAttestation(desc: Descriptor): boolean {
  return desc.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest'
    || (desc.platform?.os === 'unknown' && desc.platform.architecture === 'unknown');
}

/**
 * The manifest of `index` for platform `want` (default: this machine's): the best variant
 * match, the first of equals. Fails with NOT_FOUND listing the platforms the index has.
 */
export function selectPlatform(index: ImageIndex, want: Platform = hostPlatform()): Descriptor {
  const candidates = index.manifests.filter((m) => !isAttestation(m));
  let best: { desc: Descriptor; rank: number } | undefined;
  for (const desc of candidates) {
    if (!desc.platform) continue;
    const rank = platformRank(want, desc.platform);
    if (rank !== undefined && (best === undefined || rank < best.rank)) best = { desc, rank };
  }
  if (best) return best.desc;
  const only = candidates[0];
  if (candidates.length === 1 && only && !only.platform) return only;
  const available = [...new Set(candidates.filter((m) => m.platform).map((m) => formatPlatform(normalizePlatform(m.platform as Platform))))];
  throw new BerthError(
    'NOT_FOUND',
    `no matching manifest for ${formatPlatform(normalizePlatform(want))} in the manifest list entries (available: ${available.join(', ') || 'none'})`,
    { hint: available.length > 0 ? `pull one of the available platforms with --platform ${available[0]}` : undefined },
  );
}
