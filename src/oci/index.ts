/** OCI runtime-spec: config.json types, validation, mount options, and the tables the runtime needs. */
export type * from './types.ts';
export { parseRuntimeConfig, validateRuntimeConfig, validateProcess, validateResources, HOOK_NAMES } from './validate.ts';
export { validateSeccompSyscallNames, findUnknownSeccompSyscallNames, type UnknownSyscallName } from './validate-seccomp.ts';
export { normalizeSysctlKey } from './validate-linux.ts';
export { MAX_ID_MAPPINGS } from './validate-idmap.ts';
export { parseJsonLossless, stringifyJsonLossless, findJsonSyntaxError, type JsonSyntaxError } from './json.ts';
export * from './mount-options.ts';
export { CAPABILITIES, LAST_CAPABILITY, capabilityMask, capabilityNames, capabilityNumber, isKnownCapability } from './capabilities.ts';
export { RLIMITS, RLIM_INFINITY, rlimitNames, rlimitNumber } from './rlimits.ts';
export { parseCpuList } from './cpu-list.ts';
export { NAMESPACE_TYPES, NAMESPACE_CLONE_FLAGS, NAMESPACE_PROC_NAMES, isNamespaceType } from './namespaces.ts';
export {
  SECCOMP_ACTIONS,
  SECCOMP_ACTIONS_WITH_ERRNO,
  SECCOMP_OPERATORS,
  SECCOMP_ARCHITECTURES,
  SECCOMP_FLAGS,
  isSeccompAction,
  isSeccompOperator,
} from './seccomp-tables.ts';
export { defaultSpec, OCI_VERSION, OCI_VERSION_MIN, type DefaultSpecOptions } from './spec.ts';
export { featuresDocument, type FeaturesDocument, type FeaturesOptions } from './features.ts';
