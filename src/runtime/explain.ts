/**
 * explain: the plan in words, one syscall-level step per line, so anyone can see what
 * makes a container a container. Pure formatting: nothing runs.
 */
import type { PlanStep } from '../native/protocol.ts';
import { cloneFlagNames } from './flag-names.ts';

const octal = (n: number) => '0' + n.toString(8);
const q = (s: string) => JSON.stringify(s);
const list = (names: string[]) => (names.length ? names.join('|') : '0');

function describeStep(step: PlanStep): string {
  switch (step.op) {
    case 'cgroup-join':
      return step.procsPath.endsWith('/tasks')
        ? `join cgroup: write 0 > ${step.procsPath}  (this single-threaded process only: no global cgroup lock)`
        : `join cgroup: write 0 > ${step.procsPath}`;
    case 'seccomp-listener':
      return `connect(seccomp listener ${q(step.path)})  while host paths are reachable`;
    case 'seccomp-notify-send':
      return `sendmsg(seccomp listener ${q(step.path)}: the container process state, SCM_RIGHTS the filter's notify fd)`;
    case 'cgroup-open':
      return `open(${q(step.dir)}, O_PATH|O_DIRECTORY)  the child is created in this cgroup (clone3 CLONE_INTO_CGROUP)`;
    case 'unshare':
      return `unshare(${list(cloneFlagNames(step.flags))})  new namespaces: ${step.namespaces.join(', ')} (rooted at the cgroups the process is in now)`;
    case 'setns':
      return `setns(open(${q(step.path)}), ${cloneFlagNames(step.nsType).join('|')})  join the ${step.namespace} namespace`;
    case 'timens':
      return `unshare(CLONE_NEWTIME); write /proc/self/timens_offsets ${q(step.offsets)}`;
    case 'clone':
      return step.intoCgroup
        ? `clone3(${list([...cloneFlagNames(step.flags), 'CLONE_INTO_CGROUP'])}, exit_signal SIGCHLD, cgroup fd)  new namespaces: ${step.namespaces.join(', ') || 'none'}`
        : `clone(${list(cloneFlagNames(step.flags))}|SIGCHLD)  new namespaces: ${step.namespaces.join(', ') || 'none'}`;
    case 'setgroups-deny':
      return 'write "deny" > /proc/<child>/setgroups';
    case 'uid-map':
      return `write /proc/<child>/uid_map: ${step.map.replaceAll('\n', '; ')}  (container host size)`;
    case 'gid-map':
      return `write /proc/<child>/gid_map: ${step.map.replaceAll('\n', '; ')}  (container host size)`;
    case 'become-root':
      return 'setresgid(0,0,0); setresuid(0,0,0)  root inside the new user namespace';
    case 'setsid':
      return 'setsid()  new session';
    case 'propagation':
      return `mount(NULL, ${q(step.path)}, NULL, ${list(step.flagNames)})  ${step.why}`;
    case 'view': {
      const at = (flag: string) => step.args[step.args.indexOf(flag) + 1];
      return `fork: the limits view (berth-init view, a session of its own): open("/dev/fuse"); mount("berth-view", ${q(at('--dir') ?? '')}, "fuse.berth-view", MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC); it serves the container's /proc/meminfo, cpuinfo, stat, uptime, loadavg, swaps, diskstats and /sys/devices/system/cpu/online from its cgroup files (bound below)${step.args.includes('--socket') ? `, and answers its sysinfo(2) (SCMP_ACT_NOTIFY) on ${q(at('--socket') ?? '')}` : ''}; wait until it has mounted; it is told the container's pid after the clone and ends with it`;
    }
    case 'rootfs-tree':
      return `in a helper's own mount namespace: open_tree(OPEN_TREE_CLONE) of each image layer (${step.lowers.map(q).join(', ')}), mount_setattr(MOUNT_ATTR_IDMAP) with uid_map ${step.uidMap.replaceAll('\n', '; ')} and gid_map ${step.gidMap.replaceAll('\n', '; ')}; mount("overlay", lowerdir=those, ${q(step.options)}) as the host's root; open_tree(OPEN_TREE_CLONE) of it  (slot ${step.slot}: the image's files show as the container's root's, what it writes is stored with its own host ids)`;
    case 'rootfs':
      if (step.treeSlot !== undefined) return `move_mount(the overlay of slot ${step.treeSlot}, ${q(step.path)}); open(O_PATH): the root filesystem, every later path resolved inside it`;
      if (step.mount) {
        return `${step.mount.cwd ? `chdir(${q(step.mount.cwd)}); ` : ''}mount(${q(step.mount.source)}, ${q(step.path)}, ${q(step.mount.type)}, 0, ${q(step.mount.data)}); open(O_PATH): the root filesystem, in the container's mount namespace only, every later path resolved inside it`;
      }
      return step.bind
        ? `mount(${q(step.path)}, ${q(step.path)}, NULL, MS_BIND|MS_REC); open(O_PATH): the root filesystem, every later path resolved inside it`
        : `open(${q(step.path)}, O_PATH): the root filesystem as it is (no mount namespace: nothing is mounted)`;
    case 'mount': {
      const extra = [
        step.data ? `data ${q(step.data)}` : '',
        step.remountFlags ? `then remount MS_BIND|MS_REMOUNT|${step.remountFlags.toString()}` : '',
        step.propagation ? `propagation ${step.propagation}` : '',
        step.attrSet || step.attrClr ? `mount_setattr(AT_RECURSIVE, set 0x${step.attrSet.toString(16)}, clear 0x${step.attrClr.toString(16)})` : '',
        step.copyUp ? 'then copy what the directory held into it (tmpcopyup: owners, modes, times, symlinks, devices)' : '',
        step.treeSlot !== undefined ? `move_mount of the tree prepared from the host in slot ${step.treeSlot} instead` : '',
        step.realDir ? 'refused when the destination is a symlink (only on a real directory)' : '',
      ].filter(Boolean);
      return `mount(${q(step.source)}, <root>${step.destination}, ${q(step.fstype || 'none')}, ${list(step.flagNames)})${extra.length ? '  ' + extra.join(', ') : ''}  target resolved with openat2(RESOLVE_IN_ROOT)`;
    }
    case 'mkdir':
      return `mkdir <root>${step.path} ${octal(step.mode)}`;
    case 'mknod':
      return `mknod(<root>${step.path}, ${step.type} ${octal(step.mode & 0o7777)}, ${step.major}:${step.minor}); chown ${step.uid}:${step.gid}`;
    case 'bind-device':
      return `mount(${q(step.hostPath)}, <root>${step.path}, NULL, MS_BIND)  device from the host (user namespace)`;
    case 'symlink':
      return `symlink(${q(step.target)}, <root>${step.path})`;
    case 'hooks':
      return `pause: the runtime runs ${step.count} prestart/createRuntime hook(s) with the state on stdin`;
    case 'run-hook':
      return `${step.name} hook: fork; ${step.cwd ? `chdir(${q(step.cwd)}); ` : ''}execve(${q(step.path)}${step.args.slice(1).map((a) => ', ' + q(a)).join('')})  state on stdin, ${step.inheritEnv ? "the runtime's environment" : `env: ${step.env.length} variable(s)`}${step.timeout ? `, timeout ${step.timeout}s` : ''}`;
    case 'pivot-root':
      return 'fchdir(root); pivot_root(".", "."); mount(NULL, ".", NULL, MS_SLAVE|MS_REC) so the old root\'s unmount stays off the host; umount2(".", MNT_DETACH); chdir("/")';
    case 'chroot':
      return step.move ? 'fchdir(root); mount(".", "/", NULL, MS_MOVE); chroot("."); chdir("/")  (no pivot_root)' : 'fchdir(root); chroot("."); chdir("/")  (no mount namespace)';
    case 'detach':
      return `mount(NULL, ${q(step.path)}, NULL, MS_SLAVE|MS_REC); umount2(${q(step.path)}, MNT_DETACH)  the host's ${step.path} must not stay in the container's mount namespace (a tmpfs over it where not permitted)`;
    case 'remount':
      return `mount(NULL, <root>${step.path}, NULL, MS_BIND|MS_REMOUNT|${list(step.flagNames)})  its final flags, once everything under it is made`;
    case 'mask':
      return `mask ${step.path}: /dev/null bound over a file, read-only empty tmpfs over a directory`;
    case 'readonly':
      return `mount(${step.path}, ${step.path}, NULL, MS_BIND|MS_REC); remount MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC`;
    case 'remount-root-ro':
      return 'mount(NULL, "/", NULL, MS_BIND|MS_REMOUNT|MS_RDONLY)  read-only root';
    case 'hostname':
      return `sethostname(${q(step.name)})`;
    case 'domainname':
      return `setdomainname(${q(step.name)})`;
    case 'sysctl':
      return `write /proc/sys/${step.key.replaceAll('.', '/')} = ${q(step.value)}`;
    case 'oom-score-adj':
      return step.stage === 'parent-after' ? `write /proc/<child>/oom_score_adj = ${step.value}` : `write /proc/self/oom_score_adj = ${step.value} (unless it is that already)`;
    case 'rlimit':
      return `setrlimit(${step.type}, soft ${fmtLimit(step.soft)}, hard ${fmtLimit(step.hard)})`;
    case 'console-connect':
      return `connect(console socket ${q(step.socketPath)})`;
    case 'console':
      return `open /dev/ptmx; send the master over the console socket (SCM_RIGHTS); slave → stdin/stdout/stderr, TIOCSCTTY${step.rows ? ` (${step.cols}x${step.rows})` : ''}`;
    case 'dumpable':
      return `prctl(PR_SET_DUMPABLE, ${step.value ? 1 : 0})  ${step.reason}`;
    case 'console-pair':
      return 'socketpair(AF_UNIX): the child sends the pty master here; this process relays it to its own stdio';
    case 'start-socket':
      return `socket(AF_UNIX); bind(${q(step.path)}); chmod 0600; listen  the init waits on it for \`start\``;
    case 'chdir':
      return `chdir(${q(step.path)}); getcwd() must be inside the root${step.deferrable ? '  (as root; if that is denied, again as the user)' : ''}`;
    case 'chdir-deferred':
      return 'chdir again as the user, if it was denied as root; getcwd() must be inside the root';
    case 'close-fds':
      return `close_range(${step.from}, ~0) but the fds berth-init still needs (sync socket, start socket, console socket, seccomp listener, prepared mounts)  nothing of the host reaches the container`;
    case 'home-env':
      return `HOME from the entry of uid ${step.uid} in the container's /etc/passwd (or /): the config sets no HOME`;
    case 'seccomp-bpf':
      return `seccomp(SECCOMP_SET_MODE_FILTER${step.flagNames.length ? `, ${step.flagNames.join('|')}` : ''}): the profile's ${step.ruleCount} rule(s) as a BPF program of ${step.program.byteLength / 8} instructions, compiled by libseccomp ${step.cached ? 'for an earlier container (kept in the runtime\'s seccomp cache)' : 'just before'}${step.enosysStub ? '; before it, a syscall numbered above every one the profile names (per architecture) fails with ENOSYS' : ''}`;
    case 'user':
      return `look up user ${q(step.spec)}${step.groups.length ? ` and groups ${step.groups.map(q).join(', ')}` : ''} in the container's /etc/passwd and /etc/group: setgroups, setgid, setuid and the terminal's owner use what is found`;
    case 'monitor':
      return `this process stays as the container's monitor: ${step.tty ? 'the pty master' : `pipe() for stdout and stderr${step.stdinOpen ? ' and stdin' : ''}`}; ${step.logPath ? `json-file log ${q(step.logPath)}${step.logMaxSize ? ` (rotated at ${step.logMaxSize} bytes, ${step.logMaxFiles} file(s))` : ''}` : 'no log'}; socket(AF_UNIX); bind(${q(step.attachPath)}) for attach; after the container: the exit record ${q(step.exitPath)}, then execve(${step.exitCommand.map(q).join(', ')})`;
    case 'reset-signals':
      return 'every signal to SIG_DFL, none blocked';
    case 'umask':
      return `umask(${octal(step.mask)})`;
    case 'bind-tree':
      return `open_tree(${q(step.source)}, OPEN_TREE_CLONE${step.recursiveTree ? '|AT_RECURSIVE' : ''}) from the host's namespaces${step.idmap ? `; mount_setattr(MOUNT_ATTR_IDMAP${step.recursiveIdmap ? ', AT_RECURSIVE' : ''}) through a user namespace with uid_map ${step.uidMap.replaceAll('\n', '; ')} and gid_map ${step.gidMap.replaceAll('\n', '; ')}` : ''}  (slot ${step.slot}, moved into place in the container)`;
    case 'device-tree':
      return `mknod(${q(step.path)}, ${step.type} ${step.major}:${step.minor}, mode ${(step.mode & 0o7777).toString(8)}, owner ${step.uid}:${step.gid} on the host) in a tmpfs of a helper's own mount namespace, then open_tree(OPEN_TREE_CLONE) of the node  (mknod is not allowed in a user namespace; slot ${step.slot}, moved into place in the container)`;
    case 'ioprio':
      return `ioprio_set(IOPRIO_WHO_PROCESS, 0, ${step.className} priority ${step.priority})`;
    case 'sched':
      return `sched_setattr(0, {${step.policyName}${step.flagNames.length ? `, flags ${step.flagNames.join('|')}` : ''}, nice ${step.nice}, priority ${step.priority}${step.policyName === 'SCHED_DEADLINE' ? `, runtime ${step.runtime} deadline ${step.deadline} period ${step.period}` : ''}})`;
    case 'affinity':
      return `sched_setaffinity(0, CPUs ${step.list})  ${step.when}`;
    case 'personality':
      return `personality(${step.domain})`;
    case 'setgroups':
      return `setgroups([${step.gids.join(', ')}])`;
    case 'setgid':
      return `setresgid(${step.gid}, ${step.gid}, ${step.gid})`;
    case 'setuid':
      return `prctl(PR_SET_KEEPCAPS, 1); setresuid(${step.uid}, ${step.uid}, ${step.uid}); prctl(PR_SET_KEEPCAPS, 0)`;
    case 'caps-bounding':
      return `prctl(PR_CAPBSET_DROP) for every capability but: ${step.names.join(', ') || '(none)'}`;
    case 'caps-set':
      return (step.why ? `${step.why}: ` : '') + [
        `capset(effective: ${step.names.effective.join(', ') || '(none)'};`,
        `permitted: ${step.names.permitted.join(', ') || '(none)'};`,
        `inheritable: ${step.names.inheritable.join(', ') || '(none)'}); ambient: ${step.names.ambient.join(', ') || '(none)'}`,
      ].join(' ');
    case 'no-new-privs':
      return 'prctl(PR_SET_NO_NEW_PRIVS, 1)';
    case 'seccomp-init':
      return `seccomp filter: default ${step.actionName}, ${step.ruleCount} rule(s)${step.flagNames.length ? ', flags ' + step.flagNames.join('|') : ''}`;
    case 'seccomp-arch':
      return `seccomp architecture ${step.arch}`;
    case 'seccomp-rule':
      return `seccomp rule: ${step.syscall} → ${step.actionName}${step.args.length ? ' when ' + step.args.map((a) => `arg${a.index} ${a.opName} ${a.value}${a.opName === 'SCMP_CMP_MASKED_EQ' ? '/' + a.valueTwo : ''}`).join(' && ') : ''}`;
    case 'seccomp-load':
      return 'seccomp(SECCOMP_SET_MODE_FILTER)  load the filter';
    case 'resolve-exec':
      return `find ${q(step.program)}${step.program.includes('/') ? '' : ` in PATH ${q(step.searchPath)}`}: openat2(RESOLVE_NO_MAGICLINKS), a regular file, faccessat2(X_OK)`;
    case 'cloexec-fds':
      return `close_range(${step.from}, ~0, CLOSE_RANGE_CLOEXEC)  only stdio${step.from > 3 ? ' and preserved fds' : ''} reach the program (listing /proc/self/fd where a filter refuses close_range)`;
    case 'ready':
      return 'tell the runtime: created';
    case 'exec-wait':
      return 'accept4(start socket); read "start": blocks until `start`, whose connection then carries any error and closes at execve';
    case 'exec':
      return `execve(${step.args.map(q).join(', ')})  env: ${step.env.length} variable(s)`;
    case 'write-file':
      return `write ${step.path} = ${q(step.content)}`;
  }
}

function fmtLimit(v: bigint): string {
  return v === 0xffff_ffff_ffff_ffffn ? 'unlimited' : v.toString();
}

const STAGE_LABEL: Record<PlanStep['stage'], string> = {
  parent: 'parent',
  'parent-after': 'parent',
  child: 'child',
};

/** The plan as numbered lines. */
export function explainPlan(steps: readonly PlanStep[], header?: string): string {
  const lines: string[] = [];
  if (header) lines.push(header);
  const width = String(steps.length).length;
  steps.forEach((step, i) => {
    lines.push(`${String(i + 1).padStart(width)}. [${STAGE_LABEL[step.stage].padEnd(6)}] ${describeStep(step)}`);
  });
  return lines.join('\n') + '\n';
}
