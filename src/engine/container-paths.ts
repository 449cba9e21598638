/**
 * Where the engine keeps a container's things:
 *
 *   <root>/containers/<id>/config.json    the OCI bundle the runtime runs
 *   <root>/containers/<id>/rootfs/        an empty mountpoint: the overlay is mounted over it
 *                                         inside the container's mount namespace only
 *   <root>/containers/<id>/diff/, work/   the overlay's upper and work dirs
 *   <root>/containers/<id>/hostname, hosts, resolv.conf   bound over the image's /etc files
 *   <root>/containers/<id>/<id>-json.log  docker's json-file log (rotated: .1, .2, …)
 *   <root>/containers/<id>/exit.json      the monitor's exit record
 *   <run>/runtime/<id>/                   the runtime's state (runc's layout)
 *   <run>/attach/<id>                     the monitor's attach socket
 *   /berth/<id> (cgroups)                 /berth-<hash of the root>/<id> for other roots
 *
 * <run> is /run/berth for the default root (gone at reboot, as a container's processes are)
 * and <root>/run for any other root, so that two roots never share runtime state.
 */
import { join } from 'node:path';
import { fnv1a64 } from '../common/index.ts';
import { DEFAULT_ROOT } from './db.ts';

export interface EnginePaths {
  root: string;
  /** The cgroup its containers' cgroups go under: /berth for the default root, /berth-<hash>
   * for any other (two roots never judge each other's cgroups, e.g. in `system check`). */
  cgroupParent: string;
  containersDir: string;
  runDir: string;
  runtimeRoot: string;
  attachDir: string;
  /** Host-wide names of this root's network things: its nftables table, the prefix of its
   * bridges (berth0, berth1, … for the default root; berth<hash>-0, … for another), and the
   * directory of its DNS server's configuration. */
  nftTable: string;
  bridgePrefix: string;
  dnsDir: string;
}

/** Where one container's files are. */
export interface ContainerPaths {
  /** <root>/containers/<id>: the bundle */
  dir: string;
  configPath: string;
  rootfsDir: string;
  upperDir: string;
  workDir: string;
  hostsPath: string;
  hostnamePath: string;
  resolvConfPath: string;
  logPath: string;
  exitPath: string;
  attachPath: string;
}

export function enginePaths(root: string): EnginePaths {
  const runDir = root === DEFAULT_ROOT ? '/run/berth' : join(root, 'run');
  const cgroupParent = root === DEFAULT_ROOT ? '/berth' : `/berth-${fnv1a64(root).slice(0, 12)}`;
  const hash = fnv1a64(root);
  return {
    root,
    cgroupParent,
    containersDir: join(root, 'containers'),
    runDir,
    runtimeRoot: join(runDir, 'runtime'),
    attachDir: join(runDir, 'attach'),
    nftTable: root === DEFAULT_ROOT ? 'berth' : `berth-${hash.slice(0, 12)}`,
    bridgePrefix: root === DEFAULT_ROOT ? 'berth' : `berth${hash.slice(0, 6)}-`,
    dnsDir: join(runDir, 'aardvark'),
  };
}

export function containerPaths(paths: EnginePaths, id: string): ContainerPaths {
  const dir = join(paths.containersDir, id);
  return {
    dir,
    configPath: join(dir, 'config.json'),
    rootfsDir: join(dir, 'rootfs'),
    upperDir: join(dir, 'diff'),
    workDir: join(dir, 'work'),
    hostsPath: join(dir, 'hosts'),
    hostnamePath: join(dir, 'hostname'),
    resolvConfPath: join(dir, 'resolv.conf'),
    logPath: join(dir, `${id}-json.log`),
    exitPath: join(dir, 'exit.json'),
    attachPath: join(paths.attachDir, id),
  };
}
