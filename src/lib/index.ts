/**
 * berth as a library: `import { Engine } from 'berth'`. The CLI is a thin layer over these
 * typed functions; a Node program (a test harness, a sandbox service) runs containers with no
 * CLI in between.
 *
 *   import { Engine } from 'berth';
 *   const engine = new Engine();                      // the state of /var/lib/berth, as the CLI's
 *   const { record } = await engine.containers.run({ image: 'busybox', command: ['sleep', '60'] }, { detach: true });
 *   for await (const e of engine.containers.logs(record.id)) process.stdout.write(e.log);
 *   await engine.containers.remove(record.id, { force: true });
 *   engine.close();
 *
 * Nothing here prints; long work reports progress through callbacks, errors are BerthError
 * with a stable `code`.
 */
export { Engine, Containers, Images, explainRun, parseDetachKeys, DEFAULT_DETACH_KEYS, familiarName, parseReference, parsePlatform, formatPlatform, hostPlatform } from '../engine/index.ts';
export type {
  AttachResult,
  AttachStreams,
  BindSpec,
  ContainerEvent,
  ContainerRecord,
  ContainerStatus,
  ContainerSummary,
  CreateEvent,
  CreateOptions,
  CreateResult,
  DeviceSpec,
  EngineOptions,
  ExecSpec,
  ExitRecord,
  ImageInspect,
  ImageRecord,
  ImageReference,
  ImageSummary,
  LogEntry,
  LogsOptions,
  Platform,
  PullEvent,
  PullOptions,
  PullOutcome,
  PullPolicy,
  RestartPolicy,
  RunOptions,
  RunResult,
  RunSpec,
  StatsSample,
  TmpfsSpec,
  UpdateSpec,
  WaitCondition,
} from '../engine/index.ts';
export { Runtime } from '../runtime/index.ts';
export type { RuntimeOptions, CreateOptions as RuntimeCreateOptions, RunOptions as RuntimeRunOptions, RunResult as RuntimeRunResult, ExecOptions as RuntimeExecOptions, ExecResult } from '../runtime/index.ts';
export type { RuntimeConfig, State } from '../oci/index.ts';
export { BerthError, SyscallError } from '../common/index.ts';
export type { ErrorCode } from '../common/index.ts';
