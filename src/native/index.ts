export * from './protocol.ts';
export { initBinaryPath, staticInitBinaryPath } from './init-binary.ts';
export { checkSyscallNames } from './syscalls.ts';
export { bpfProgLoadCgroupDevice, bpfProgAttach, bpfProgDetach, bpfProgQuery, bpfProgGetFdById } from './bpf.ts';
