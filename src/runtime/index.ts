/** The OCI runtime as a library: what berth-runtime and the engine run containers with. */
export { Runtime, type RuntimeOptions } from './runtime.ts';
export { compilePlan, ROOTFS_MOUNT_ANNOTATION, type CompileOptions, type CompiledPlan, type CgroupHierarchy, type MonitorOptions } from './compile.ts';
export { USER_ANNOTATION, checkUserSpec, type UserSpec } from './compile-process.ts';
export { LIMITS_VIEW_ANNOTATION, VIEW_FILES, fuseAvailable, stopLimitsView, viewMounts, viewOff, viewPaths, viewServes, withoutLimitsView, type ViewRecord } from './limits-view.ts';
export { explainPlan } from './explain.ts';
export { parseSignal } from './kill.ts';
export { StateStore, DEFAULT_RUNTIME_ROOT, defaultRuntimeRoot, validateContainerId } from './state-store.ts';
export type { RuntimeCgroups, RuntimeContext } from './context.ts';
export type { CreateOptions } from './create.ts';
export type { RunOptions, RunResult } from './run.ts';
export type { ListEntry } from './list.ts';
export type { RuntimeEvent } from './update.ts';
export type { ExecOptions, ExecResult } from './exec.ts';
export type { ContainerStdio, StdioSpec } from './init-process.ts';
