import { capabilityNames } from './capabilities.ts';
import { knownMountOptions } from './mount-options.ts';
import { NAMESPACE_TYPES } from './namespaces.ts';
import { SECCOMP_ACTIONS, SECCOMP_ARCHITECTURES, SECCOMP_FLAGS, SECCOMP_OPERATORS } from './seccomp-tables.ts';
import { OCI_VERSION, OCI_VERSION_MIN } from './spec.ts';
import type { NamespaceType } from './types.ts';
import { HOOK_NAMES } from './validate.ts';

/** The document `runc features` prints (runtime-spec features.md), Linux parts. */
export interface FeaturesDocument {
  ociVersionMin: string;
  ociVersionMax: string;
  hooks: string[];
  mountOptions: string[];
  linux: {
    namespaces: string[];
    capabilities: string[];
    cgroup: { v1: boolean; v2: boolean; systemd: boolean; systemdUser: boolean; rdma: boolean };
    seccomp:
      | { enabled: false }
      | { enabled: true; actions: string[]; operators: string[]; archs: string[]; knownFlags: string[]; supportedFlags: string[] };
    apparmor: { enabled: boolean };
    selinux: { enabled: boolean };
    intelRdt: { enabled: boolean };
    mountExtensions: { idmap: { enabled: boolean } };
  };
  annotations: Record<string, string>;
  potentiallyUnsafeConfigAnnotations?: string[];
}

/** What this build and host really support; every field defaults to the conservative answer. */
export interface FeaturesOptions {
  /** Namespace types the runtime can create (default: all of runtime-spec's). */
  namespaces?: readonly NamespaceType[];
  cgroup?: { v1?: boolean; v2?: boolean; systemd?: boolean; systemdUser?: boolean; rdma?: boolean };
  /** false: no seccomp. Otherwise which filter flags the kernel accepts (default: all known). */
  seccomp?: false | { supportedFlags?: readonly string[] };
  apparmor?: boolean;
  selinux?: boolean;
  intelRdt?: boolean;
  /** Id-mapped mounts (mount_setattr with MOUNT_ATTR_IDMAP). */
  idmap?: boolean;
  /** e.g. { "io.berth.version": "0.1.0" }. */
  annotations?: Record<string, string>;
  potentiallyUnsafeConfigAnnotations?: readonly string[];
}

/** The `features` JSON object, filled in with what the caller says is supported. */
export function featuresDocument(options: FeaturesOptions = {}): FeaturesDocument {
  const cgroup = options.cgroup ?? {};
  const doc: FeaturesDocument = {
    ociVersionMin: OCI_VERSION_MIN,
    ociVersionMax: OCI_VERSION,
    hooks: [...HOOK_NAMES],
    mountOptions: knownMountOptions(),
    linux: {
      namespaces: [...(options.namespaces ?? NAMESPACE_TYPES)].sort(),
      capabilities: capabilityNames(),
      cgroup: {
        v1: cgroup.v1 ?? false,
        v2: cgroup.v2 ?? false,
        systemd: cgroup.systemd ?? false,
        systemdUser: cgroup.systemdUser ?? false,
        rdma: cgroup.rdma ?? false,
      },
      seccomp:
        options.seccomp === false || options.seccomp === undefined
          ? { enabled: false }
          : {
              enabled: true,
              actions: [...SECCOMP_ACTIONS].sort(),
              operators: [...SECCOMP_OPERATORS].sort(),
              archs: Object.keys(SECCOMP_ARCHITECTURES).sort(),
              knownFlags: Object.keys(SECCOMP_FLAGS),
              supportedFlags: [...(options.seccomp.supportedFlags ?? Object.keys(SECCOMP_FLAGS))],
            },
      apparmor: { enabled: options.apparmor ?? false },
      selinux: { enabled: options.selinux ?? false },
      intelRdt: { enabled: options.intelRdt ?? false },
      mountExtensions: { idmap: { enabled: options.idmap ?? false } },
    },
    annotations: { ...options.annotations },
  };
  if (options.potentiallyUnsafeConfigAnnotations !== undefined) {
    doc.potentiallyUnsafeConfigAnnotations = [...options.potentiallyUnsafeConfigAnnotations];
  }
  return doc;
}
