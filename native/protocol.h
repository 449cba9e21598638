/*
 * protocol.h — the only contract between berth's TypeScript and berth-init.
 * Mirrored by src/native/protocol.ts: change both together (src/native/protocol.test.ts reads
 * this file and fails on any difference in op codes, names, stages or argument layouts).
 *
 * 1. The PLAN (TypeScript -> berth-init, read once from --plan-fd until EOF):
 *      header:  "BPLN" u32 version
 *      op:      u16 code, u8 stage, u8 reserved (0), u32 argc, then argc args of
 *               (u32 len, len bytes)
 *    All integers are little-endian. Integer args are 8 bytes (u64/s64); string args carry
 *    their terminating NUL inside len. argc is 32 bits: an exec with any number of arguments
 *    and environment variables the kernel accepts fits. Stages say which process runs the op:
 *    the parent (before and after clone) or the child (the container's process).
 *    Every op's arguments follow its SIGNATURE below, checked when the plan is read:
 *      s      one string
 *      u      one integer
 *      s*     an integer n, then n strings
 *      u*     an integer n, then n integers
 *      u4*    an integer n, then n groups of 4 integers
 *
 * 2. SYNC messages over --sync-fd (a unix stream socket), one per line:
 *      berth-init -> TS: JSON objects  {"type":"<name>", ...}
 *      TS -> berth-init: plain words   "<name> [payload]\n"
 *    Every request has its named acknowledgement:
 *      MSG_PID            {"type":"pid","pid":N}            (no ack; the child's host pid)
 *      MSG_HOOKS_REQ      {"type":"hooks","name":"createRuntime"}
 *        -> ACK_HOOKS     "hooks-done <state json>\n"  or  "abort\n"
 *      MSG_READY          {"type":"ready"}                   (init waits on the start socket)
 *      MSG_ERROR          {"type":"error","stage":s,"op":o,"errno":n,"errnoName":e,"path":p,"message":m}
 *
 * 3. START (berth-runtime start -> the created container's init): the init listens on the
 *    unix socket OP_START_SOCKET made (one connection). `start` connects and sends
 *    REQ_START "start\n"; the init goes on. From then on the connection is the init's sync
 *    channel: an error before execve arrives on it as MSG_ERROR, and the connection closes
 *    (close-on-exec) when the program is executed.
 */
#ifndef BERTH_PROTOCOL_H
#define BERTH_PROTOCOL_H

#define BERTH_PLAN_MAGIC "BPLN"
#define BERTH_PLAN_VERSION 2u

/* stages */
#define STAGE_PARENT 0       /* berth-init before clone, in the caller's namespaces  */
#define STAGE_PARENT_AFTER 1 /* berth-init after clone (id maps for the child)       */
#define STAGE_CHILD 2        /* the container's process, in its namespaces           */

/* sync message names */
#define MSG_PID "pid"
#define MSG_HOOKS_REQ "hooks"
#define ACK_HOOKS "hooks-done"
#define ACK_ABORT "abort"
#define MSG_READY "ready"
#define MSG_ERROR "error"
#define REQ_START "start"

/*
 * The ops: X(ENUM, code, "name", "stages", "signature")
 *   stages: P parent (before clone), A parent after clone, C child
 *   name: the same word in C and TypeScript (PlanStep.op); errors about the plan name it.
 * What each op does, syscall by syscall, is in the comment beside it; `--explain` prints
 * the same steps (src/runtime/explain.ts).
 */
#define BERTH_OPS(X)                                                                           \
	/* (path) write "0": a v1 `tasks` file (moves this single-threaded process only,       \
	   without the global lock a cgroup.procs write takes) or a cgroup.procs file; after   \
	   the clone (a monitor stays out of the container's cgroups), the child's pid; in the \
	   child, "0" again: the child moves itself (no lock, no RCU grace period) */           \
	X(OP_CGROUP_JOIN, 1, "cgroup-join", "PAC", "s")                                         \
	/* (path, nstype) open(path); setns(fd, nstype) */                                       \
	X(OP_SETNS, 2, "setns", "P", "s u")                                                      \
	/* (offsets) unshare(CLONE_NEWTIME); write /proc/self/timens_offsets */                  \
	X(OP_TIMENS, 3, "timens", "P", "s")                                                      \
	/* (flags) clone(flags|SIGCHLD), or clone3(CLONE_INTO_CGROUP) after OP_CGROUP_OPEN */    \
	X(OP_CLONE, 4, "clone", "P", "u")                                                        \
	/* () write "deny" to /proc/<child>/setgroups */                                         \
	X(OP_SETGROUPS_DENY, 5, "setgroups-deny", "A", "")                                       \
	/* (map) write /proc/<child>/uid_map */                                                  \
	X(OP_UID_MAP, 6, "uid-map", "A", "s")                                                    \
	/* (map) write /proc/<child>/gid_map */                                                  \
	X(OP_GID_MAP, 7, "gid-map", "A", "s")                                                    \
	/* () setresgid(0,0,0); setresuid(0,0,0) in a new user namespace */                      \
	X(OP_BECOME_ROOT, 8, "become-root", "C", "")                                             \
	/* () setsid() */                                                                        \
	X(OP_SETSID, 9, "setsid", "C", "")                                                       \
	/* (path, flags) mount(NULL, path, NULL, flags) */                                       \
	X(OP_PROPAGATION, 10, "propagation", "C", "s u")                                         \
	/* (path, mode, fstype, source, data, cwd) the root: mode 1 mount(path, path, NULL,     \
	   MS_BIND|MS_REC) (a mount namespace of its own); mode 2 chdir(cwd) when given, then   \
	   mount(source, path, fstype, 0, data), e.g. the overlay of an image's layers, made in  \
	   the container's mount namespace only; mode 3 move_mount of the tree in slot (the 7th  \
	   argument) OP_ROOTFS_TREE made; mode 0 as it is. Then open(path, O_PATH) */            \
	X(OP_ROOTFS, 11, "rootfs", "C", "s u s s s s u")                                         \
	/* (source, target-in-root, fstype, flags, data, propagation-flags, attr-set,           \
	   attr-clr, kind, remount-flags) target opened with openat2(RESOLVE_IN_ROOT) (made     \
	   when missing); mount(source, /proc/self/fd/N, fstype, flags, data); then remount     \
	   MS_BIND|MS_REMOUNT|remount-flags, propagation, mount_setattr(AT_RECURSIVE).          \
	   kind: bit 0 a file (else a dir), bit 1 copy the dir's content into the new mount     \
	   (tmpcopyup), bit 2 the target must be a real directory (procfs, sysfs: never         \
	   through a symlink), bits 8+: slot+1 of an OP_IDMAP_TREE moved into place             \
	   (move_mount) instead of mount() */                                                    \
	X(OP_MOUNT, 12, "mount", "C", "s s s u s u u u u u")                                     \
	/* (path-in-root, mode) mkdir of every missing component, resolved in the root */        \
	X(OP_MKDIR, 13, "mkdir", "C", "s u")                                                     \
	/* (path-in-root, mode incl type, major, minor, uid, gid) mknodat; fchownat; chmod */    \
	X(OP_MKNOD, 14, "mknod", "C", "s u u u u u")                                             \
	/* (host path, path-in-root) mount(host, target, NULL, MS_BIND): a device (user ns) */   \
	X(OP_BIND_DEVICE, 15, "bind-device", "C", "s s")                                         \
	/* (target, path-in-root) symlinkat */                                                   \
	X(OP_SYMLINK, 16, "symlink", "C", "s s")                                                 \
	/* (name) ask TS to run the runtime's hooks of a phase, wait for the ack */              \
	X(OP_HOOKS, 17, "hooks", "C", "s")                                                       \
	/* (phase, path, timeout-s, cwd ("" unchanged), argv, env, inherit-env) fork; execve a  \
	   hook with the state on stdin, stdout to /dev/null, stderr kept for the error; the   \
	   runtime's environment when inherit-env (the hook has no env of its own) */          \
	X(OP_RUN_HOOK, 18, "run-hook", "C", "s s u s s* s* u")                                   \
	/* () fchdir(root); pivot_root(".", "."); mount(NULL, ".", NULL, MS_SLAVE|MS_REC);      \
	   umount2(".", MNT_DETACH); chdir("/") */                                               \
	X(OP_PIVOT_ROOT, 19, "pivot-root", "C", "")                                              \
	/* (move) fchdir(root); mount(".", "/", NULL, MS_MOVE) when move; chroot("."); chdir("/") */\
	X(OP_CHROOT, 20, "chroot", "C", "u")                                                     \
	/* (path) /dev/null bound over a file, a read-only empty tmpfs over a directory */       \
	X(OP_MASK, 21, "mask", "C", "s")                                                         \
	/* (path) bind on itself (MS_REC), remount MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC */     \
	X(OP_READONLY, 22, "readonly", "C", "s")                                                 \
	/* () mount(NULL, "/", NULL, MS_BIND|MS_REMOUNT|MS_RDONLY) */                            \
	X(OP_REMOUNT_ROOT_RO, 23, "remount-root-ro", "C", "")                                    \
	/* (name) sethostname */                                                                 \
	X(OP_HOSTNAME, 24, "hostname", "C", "s")                                                 \
	/* (name) setdomainname */                                                               \
	X(OP_DOMAINNAME, 25, "domainname", "C", "s")                                             \
	/* (key as /proc/sys path, value) write */                                               \
	X(OP_SYSCTL, 26, "sysctl", "C", "s s")                                                   \
	/* (value) write /proc/self/oom_score_adj */                                             \
	X(OP_OOM_SCORE_ADJ, 27, "oom-score-adj", "AC", "u")                                      \
	/* (resource, soft, hard, name for errors) setrlimit */                                  \
	X(OP_RLIMIT, 28, "rlimit", "C", "u u u s")                                               \
	/* (socket path) connect to the console socket (from the host side) */                  \
	X(OP_CONSOLE_CONNECT, 29, "console-connect", "P", "s")                                   \
	/* (rows, cols, uid) open /dev/ptmx; the master goes to the console socket or the       \
	   relay (SCM_RIGHTS); the slave (owned by uid) becomes stdio, TIOCSCTTY */             \
	X(OP_CONSOLE, 30, "console", "C", "u u u")                                               \
	/* (first fd) close now every fd >= first but those berth-init holds for later steps    \
	   (sync socket, start socket, console socket, seccomp listener, id-mapped trees):      \
	   nothing of the host reaches the container's process */                               \
	X(OP_CLOSE_FDS, 31, "close-fds", "C", "u")                                               \
	/* (path, deferrable) chdir(path); getcwd() must be inside the root. deferrable: on     \
	   EACCES/EPERM, try again at OP_CHDIR_DEFERRED (after the switch to the user) */       \
	X(OP_CHDIR, 32, "chdir", "C", "s u")                                                     \
	/* (mask) umask */                                                                       \
	X(OP_UMASK, 33, "umask", "C", "u")                                                       \
	/* (persona) personality */                                                              \
	X(OP_PERSONALITY, 34, "personality", "C", "u")                                           \
	/* (gids) setgroups */                                                                   \
	X(OP_SETGROUPS, 35, "setgroups", "C", "u*")                                              \
	/* (gid) setresgid(gid, gid, gid) */                                                     \
	X(OP_SETGID, 36, "setgid", "C", "u")                                                     \
	/* (uid) prctl(PR_SET_KEEPCAPS, 1); setresuid(uid, uid, uid); prctl(PR_SET_KEEPCAPS, 0) */\
	X(OP_SETUID, 37, "setuid", "C", "u")                                                     \
	/* (bounding) prctl(PR_CAPBSET_DROP) of every capability not in it */                    \
	X(OP_CAPS_BOUNDING, 38, "caps-bounding", "C", "u")                                       \
	/* () prctl(PR_SET_NO_NEW_PRIVS, 1) */                                                   \
	X(OP_NO_NEW_PRIVS, 39, "no-new-privs", "C", "")                                          \
	/* (default action, flags SECCOMP_FILTER_FLAG_*) seccomp_init */                         \
	X(OP_SECCOMP_INIT, 40, "seccomp-init", "C", "u u u")                                     \
	/* (name e.g. "x86_64") seccomp_arch_add */                                              \
	X(OP_SECCOMP_ARCH, 41, "seccomp-arch", "C", "s")                                         \
	/* (action, name, conditions: index, op, value, value-two) seccomp_rule_add_array */     \
	X(OP_SECCOMP_RULE, 42, "seccomp-rule", "C", "u s u4*")                                   \
	/* () seccomp_load: seccomp(SECCOMP_SET_MODE_FILTER) */                                  \
	X(OP_SECCOMP_LOAD, 43, "seccomp-load", "C", "")                                          \
	/* (program, PATH) find the program as execvp would, inside the root, never through     \
	   a /proc magic link (openat2 RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS) */                \
	X(OP_RESOLVE_EXEC, 44, "resolve-exec", "C", "s s")                                       \
	/* () tell TS: created */                                                                \
	X(OP_READY, 45, "ready", "C", "")                                                        \
	/* () accept4(start socket); read "start": blocks until `start` */                       \
	X(OP_EXEC_WAIT, 46, "exec-wait", "C", "")                                                \
	/* (argv, env) execve of the resolved program */                                         \
	X(OP_EXEC, 47, "exec", "C", "s* s*")                                                     \
	/* (first fd) close_range(first, ~0, CLOSE_RANGE_CLOEXEC) (listing /proc/self/fd where  \
	   a seccomp filter refuses close_range) */                                              \
	X(OP_CLOEXEC_FDS, 48, "cloexec-fds", "C", "u")                                           \
	/* (path, content) write, e.g. /proc/self/attr/apparmor/exec */                          \
	X(OP_WRITE_FILE, 49, "write-file", "C", "s s")                                           \
	/* (effective, permitted, inheritable, ambient) capset; PR_CAP_AMBIENT */                \
	X(OP_CAPS_SET, 50, "caps-set", "C", "u u u u")                                           \
	/* (path) socket(AF_UNIX); bind(path) 0600; listen: the init waits on it for `start` */  \
	X(OP_START_SOCKET, 51, "start-socket", "P", "s")                                         \
	/* () socketpair: the child sends the pty master on it and the foreground parent         \
	   relays the pty to its own stdio */                                                    \
	X(OP_CONSOLE_PAIR, 52, "console-pair", "P", "")                                          \
	/* (0|1) prctl(PR_SET_DUMPABLE) */                                                       \
	X(OP_DUMPABLE, 53, "dumpable", "C", "u")                                                 \
	/* (dir) open(dir, O_PATH|O_DIRECTORY): the next OP_CLONE creates the child in this      \
	   cgroup v2 (clone3 CLONE_INTO_CGROUP) */                                               \
	X(OP_CGROUP_OPEN, 54, "cgroup-open", "P", "s")                                           \
	/* (flags) unshare(), e.g. CLONE_NEWCGROUP in the child once it is in its cgroups */     \
	X(OP_UNSHARE, 55, "unshare", "C", "u")                                                   \
	/* (path) connect to linux.seccomp.listenerPath (from the host side) */                  \
	X(OP_SECCOMP_LISTENER, 56, "seccomp-listener", "P", "s")                                 \
	/* (a, b, c) after OP_SECCOMP_LOAD: send the notify fd (SCM_RIGHTS) with the container  \
	   process state a + pid + b + pid + c (pid: this process, seen from the host) */       \
	X(OP_SECCOMP_NOTIFY_SEND, 57, "seccomp-notify-send", "C", "s s s")                       \
	/* (ioprio value) ioprio_set(IOPRIO_WHO_PROCESS, 0, value) */                            \
	X(OP_IOPRIO, 58, "ioprio", "C", "u")                                                     \
	/* (policy, flags, nice, priority, runtime, deadline, period) sched_setattr(0, …) */     \
	X(OP_SCHED, 59, "sched", "C", "u u u u u u u")                                           \
	/* (cpus) sched_setaffinity(0, …) */                                                     \
	X(OP_AFFINITY, 60, "affinity", "PC", "u*")                                               \
	/* (slot, source, recursive tree, idmap, recursive idmap, uid_map, gid_map)             \
	   open_tree(source, OPEN_TREE_CLONE) from the host's namespaces; when idmap,           \
	   mount_setattr(MOUNT_ATTR_IDMAP) through a user namespace with those maps; kept for   \
	   OP_MOUNT, which moves it into place */                                                \
	X(OP_BIND_TREE, 61, "bind-tree", "P", "u s u u u s s")                                  \
	/* () if OP_CHDIR was denied as root: chdir again (as the user), getcwd check */         \
	X(OP_CHDIR_DEFERRED, 62, "chdir-deferred", "C", "")                                      \
	/* () every signal to SIG_DFL, none blocked (before the filter, which may refuse        \
	   rt_sigaction) */                                                                      \
	X(OP_RESET_SIGNALS, 63, "reset-signals", "C", "")                                        \
	/* (path, flags) mount(NULL, path, NULL, MS_REMOUNT|MS_BIND|flags): a mount made         \
	   earlier gets its final flags (a read-only /dev once its nodes are made) */            \
	X(OP_REMOUNT, 64, "remount", "C", "s u")                                                  \
	/* (path) a mount of the host taken out of the container's mount namespace:             \
	   mount(NULL, path, NULL, MS_SLAVE|MS_REC); umount2(path, MNT_DETACH); a tmpfs over it  \
	   where that is not permitted */                                                        \
	X(OP_DETACH, 65, "detach", "C", "s")                                                     \
	/* (uid) the env has no HOME: HOME=<home of uid in the container's /etc/passwd> (or /)   \
	   is added at OP_EXEC */                                                                \
	X(OP_HOME_ENV, 66, "home-env", "C", "u")                                                 \
	/* (log path, max size, max files, attach socket, exit record, oom counter file, flags   \
	   (1 stdin open, 2 tty), exit command) this process stays as the container's monitor:   \
	   pipes (or the pty) for its stdio, the json-file log, attach clients, then the exit    \
	   record, and execve of the exit command (monitor.c) */                                \
	X(OP_MONITOR, 67, "monitor", "P", "s u u s s s u s*")                                    \
	/* (user, additional groups) docker's user ("name", "uid", "name:group", …) looked up  \
	   in the container's /etc/passwd and /etc/group (user.c); the setgroups, setgid, setuid  \
	   and console ops after it use what it found, and HOME is its home */                  \
	X(OP_USER, 68, "user", "C", "s s*")                                                      \
	/* (kernel filter flags, instructions: code | jt << 16 | jf << 24 | k << 32) a seccomp    \
	   filter libseccomp compiled before (berth-init seccomp-bpf): seccomp(2)                 \
	   SECCOMP_SET_MODE_FILTER, loaded where OP_SECCOMP_LOAD would be (seccomp.c) */          \
	X(OP_SECCOMP_BPF, 69, "seccomp-bpf", "C", "u u*")                                        \
	/* (slot, path, mode, major, minor, host uid, host gid) a device node of linux.devices for \
	   a user-namespaced container, where mknod is not allowed: made by the parent, as the    \
	   host's root, in a tmpfs of its own (in a mount namespace of a short-lived helper), and \
	   kept as a detached bind of that node for OP_MOUNT, which moves it into place (crun's  \
	   way: the node need not exist on the host, and has the config's owner and mode) */     \
	X(OP_DEVICE_TREE, 70, "device-tree", "P", "u s u u u u u")                                \
	/* (slot, cwd, options, uid_map, gid_map, lowerdirs...) the overlay root of a user-      \
	   namespaced container, made by the parent in a helper's mount namespace: each lower    \
	   layer an id-mapped copy, the upper as it is; OP_ROOTFS mode 3 moves it into place */  \
	X(OP_ROOTFS_TREE, 71, "rootfs-tree", "P", "u s s s s s*")                                \
	/* (arguments of berth-init view) the container's limits view (view.c): forked before   \
	   the clone, in a session of its own; waited for until it has mounted; told the        \
	   container's pid after the clone, and its keeper's pid reported with the container's */ \
	X(OP_VIEW, 72, "view", "P", "s*")

enum berth_op {
#define BERTH_OP_ENUM(e, code, name, stages, sig) e = code,
	BERTH_OPS(BERTH_OP_ENUM)
#undef BERTH_OP_ENUM
	OP_MAX
};

/* seccomp filter flags carried by OP_SECCOMP_INIT (bit values of <linux/seccomp.h>) */
#define BERTH_SECCOMP_FLAG_TSYNC 1u
#define BERTH_SECCOMP_FLAG_LOG 2u
#define BERTH_SECCOMP_FLAG_SPEC_ALLOW 4u

/* OP_MOUNT kind bits */
#define BERTH_MOUNT_FILE 1u
#define BERTH_MOUNT_COPY_UP 2u
#define BERTH_MOUNT_REAL_DIR 4u

/* exit codes of berth-init itself (the container's own status passes through in
   foreground mode) */
#define BERTH_INIT_EXIT_SETUP_FAILED 125

#endif
