export * from './protocol.ts';
export { initBinaryPath } from './init-binary.ts';
export { checkSyscallNames } from './syscalls.ts';
export { bpfProgLoadCgroupDevice, bpfProgAttach, bpfProgDetach, bpfProgQuery, bpfProgGetFdById } from './bpf.ts';
