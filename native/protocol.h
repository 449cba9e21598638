/*
 * protocol.h — the only contract between berth's TypeScript and berth-init.
 * Mirrored by src/native/protocol.ts: change both together.
 *
 * 1. The PLAN (TypeScript -> berth-init, read once from --plan-fd until EOF):
 *      header:  "BPLN" u32 version
 *      op:      u16 code, u8 stage, u8 argc, then argc args of (u32 len, len bytes)
 *    All integers are little-endian. Integer args are 8 bytes (u64/s64); string
 *    args carry their terminating NUL inside len. Stages say which process runs the
 *    op: the parent (before and after clone) or the child (the container's init).
 *
 * 2. SYNC messages over --sync-fd (a unix stream socket), one per line:
 *      berth-init -> TS: JSON objects  {"type":"<name>", ...}
 *      TS -> berth-init: plain words   "<name> [payload]\n"
 *    Every request has its named acknowledgement:
 *      MSG_PID            {"type":"pid","pid":N}            (no ack; the child's host pid)
 *      MSG_HOOKS_REQ      {"type":"hooks","name":"createRuntime"}
 *        -> ACK_HOOKS     "hooks-done <state json>\n"  or  "abort\n"
 *      MSG_READY          {"type":"ready"}                   (init waits on the exec fifo)
 *      MSG_ERROR          {"type":"error","stage":s,"op":o,"errno":n,"errnoName":e,"path":p,"message":m}
 */
#ifndef BERTH_PROTOCOL_H
#define BERTH_PROTOCOL_H

#define BERTH_PLAN_MAGIC "BPLN"
#define BERTH_PLAN_VERSION 1u

/* stages */
#define STAGE_PARENT 0       /* berth-init before clone, in the caller's namespaces  */
#define STAGE_PARENT_AFTER 1 /* berth-init after clone (id maps for the child)       */
#define STAGE_CHILD 2        /* the container init, in its new namespaces            */

/* sync message names */
#define MSG_PID "pid"
#define MSG_HOOKS_REQ "hooks"
#define ACK_HOOKS "hooks-done"
#define ACK_ABORT "abort"
#define MSG_READY "ready"
#define MSG_ERROR "error"

/* op codes: (args) */
enum berth_op {
	OP_CGROUP_JOIN = 1,     /* (path)  write "0" to it: a v1 `tasks` file (moves this single-
	                            threaded process only, without the global lock a cgroup.procs
	                            write takes) or a cgroup.procs file                      */
	OP_SETNS = 2,           /* (path, u64 nstype)                         setns()         */
	OP_TIMENS = 3,          /* (str offsets)    unshare(CLONE_NEWTIME) + /proc/self/timens_offsets */
	OP_CLONE = 4,           /* (u64 flags)  clone(); clone3(CLONE_INTO_CGROUP) after OP_CGROUP_OPEN */
	OP_SETGROUPS_DENY = 5,  /* ()                    /proc/<child>/setgroups = deny       */
	OP_UID_MAP = 6,         /* (str map)             /proc/<child>/uid_map                */
	OP_GID_MAP = 7,         /* (str map)             /proc/<child>/gid_map                */
	OP_BECOME_ROOT = 8,     /* ()                    setresuid/gid(0) in a new user ns    */
	OP_SETSID = 9,          /* ()                                                          */
	OP_PROPAGATION = 10,    /* (path, u64 flags)     mount(NULL, path, NULL, flags)       */
	OP_ROOTFS = 11,         /* (path)                bind rootfs on itself, open as root  */
	OP_MOUNT = 12,          /* (source, target-in-root, fstype, u64 flags, data,
	                            u64 propagation-flags, u64 attr-set, u64 attr-clr,
	                            u64 kind: bit 0 a file (else a dir), bit 1 copy the dir's
	                            content into the new mount (tmpcopyup), bits 8+: slot+1 of
	                            an OP_IDMAP_TREE moved into place instead of mount(),
	                            u64 remount-flags)                                        */
	OP_MKDIR = 13,          /* (path-in-root, u64 mode)                                    */
	OP_MKNOD = 14,          /* (path-in-root, u64 mode incl type, u64 major, u64 minor,
	                            u64 uid, u64 gid)                                          */
	OP_BIND_DEV = 15,       /* (host path, path-in-root)   device by bind (user ns)        */
	OP_SYMLINK = 16,        /* (target, path-in-root)                                      */
	OP_HOOKS = 17,          /* (name)               ask TS to run hooks, wait for ack      */
	OP_RUN_HOOK = 18,       /* (path, u64 timeout-s, u64 argc, args..., u64 envc, env...)  */
	OP_PIVOT_ROOT = 19,     /* ()                   pivot_root(".", ".") + detach old root */
	OP_CHROOT = 20,         /* ()                   MS_MOVE rootfs to / + chroot           */
	OP_MASK = 21,           /* (path)               /dev/null over files, ro tmpfs on dirs */
	OP_READONLY = 22,       /* (path)               bind on itself, remount read-only      */
	OP_REMOUNT_ROOT_RO = 23,/* ()                                                          */
	OP_HOSTNAME = 24,       /* (name)                                                      */
	OP_DOMAINNAME = 25,     /* (name)                                                      */
	OP_SYSCTL = 26,         /* (key as /proc/sys path, value)                              */
	OP_OOM_SCORE_ADJ = 27,  /* (s64 value)                                                 */
	OP_RLIMIT = 28,         /* (u64 resource, u64 soft, u64 hard, name for errors)         */
	OP_CONSOLE_CONNECT = 29,/* (socket path)        connect to the console socket          */
	OP_CONSOLE = 30,        /* (u64 rows, u64 cols, u64 uid) new pty, master to the socket,
	                            slave (owned by uid) becomes stdio and controlling tty     */
	OP_EXEC_FIFO = 31,      /* (path)               open O_PATH, kept for OP_EXEC_WAIT     */
	OP_CHDIR = 32,          /* (path)                                                      */
	OP_UMASK = 33,          /* (u64 mask)                                                  */
	OP_PERSONALITY = 34,    /* (u64 persona)                                               */
	OP_SETGROUPS = 35,      /* (u64 n, u64 gid...)                                         */
	OP_SETGID = 36,         /* (u64 gid)                                                   */
	OP_SETUID = 37,         /* (u64 uid)            keeps capabilities across the switch   */
	OP_CAPS_BOUNDING = 38,  /* (u64 bounding)       drop what is not in it (before setuid) */
	OP_NO_NEW_PRIVS = 39,   /* ()                                                          */
	OP_SECCOMP_INIT = 40,   /* (u64 default action, u64 flags bitmask SECCOMP_FILTER_FLAG_*) */
	OP_SECCOMP_ARCH = 41,   /* (name e.g. "x86_64")                                        */
	OP_SECCOMP_RULE = 42,   /* (u64 action, name, u64 nargs, then per arg:
	                            u64 index, u64 op, u64 value, u64 value-two)               */
	OP_SECCOMP_LOAD = 43,   /* ()                                                          */
	OP_RESOLVE_EXEC = 44,   /* (program, PATH)      find the program before waiting        */
	OP_READY = 45,          /* ()                   tell TS the container is created       */
	OP_EXEC_WAIT = 46,      /* ()                   block until `start` opens the fifo     */
	OP_EXEC = 47,           /* (u64 argc, args..., u64 envc, env...)  execve of the resolved
	                                                program                               */
	OP_CLOSE_FDS = 48,      /* (u64 first fd to keep open after preserved ones)            */
	OP_WRITE_FILE = 49,     /* (path, content)      e.g. /proc/self/oom_score_adj          */
	OP_CAPS_SET = 50,       /* (u64 effective, permitted, inheritable, ambient) after setuid */
	OP_MKFIFO = 51,         /* (path)               the exec fifo, made by the parent      */
	OP_CONSOLE_PAIR = 52,   /* ()  parent: socketpair; the child sends the pty master on it
	                            and the foreground parent relays the pty to its own stdio */
	OP_DUMPABLE = 53,       /* (u64 0|1)  prctl(PR_SET_DUMPABLE): 0 keeps processes of the
	                            container from ptracing berth-init's code before execve   */
	OP_CGROUP_OPEN = 54,    /* (dir)  parent: open a cgroup v2 directory; the next OP_CLONE
	                            creates the child in it (clone3 CLONE_INTO_CGROUP)        */
	OP_UNSHARE = 55,        /* (u64 flags)  unshare(), e.g. CLONE_NEWCGROUP in the child once
	                            it is in its cgroups                                      */
	OP_SECCOMP_LISTENER = 56, /* (path)  connect to linux.seccomp.listenerPath while host paths
	                            are reachable                                             */
	OP_SECCOMP_NOTIFY_SEND = 57, /* (3 strings a, b, c)  after OP_SECCOMP_LOAD: send the notify
	                            fd (SCM_RIGHTS) with the container process state
	                            a + pid + b + pid + c (pid: this process, seen from the host) */
	OP_IOPRIO = 58,         /* (u64 ioprio value)   ioprio_set(IOPRIO_WHO_PROCESS, 0, …)   */
	OP_SCHED = 59,          /* (u64 policy, u64 flags, s64 nice, u64 priority, u64 runtime,
	                            u64 deadline, u64 period)   sched_setattr(0, …)           */
	OP_AFFINITY = 60,       /* (u64 n, u64 cpu...)  sched_setaffinity(0, …)                */
	OP_IDMAP_TREE = 61,     /* (u64 slot, source, u64 recursive tree, u64 recursive idmap,
	                            uid_map, gid_map)  parent: a detached copy of the source
	                            (open_tree) id-mapped through a user namespace with those
	                            maps (mount_setattr MOUNT_ATTR_IDMAP), kept for OP_MOUNT    */
	OP_MAX
};

/* seccomp filter flags carried by OP_SECCOMP_INIT (bit values of <linux/seccomp.h>) */
#define BERTH_SECCOMP_FLAG_TSYNC 1u
#define BERTH_SECCOMP_FLAG_LOG 2u
#define BERTH_SECCOMP_FLAG_SPEC_ALLOW 4u

/* exit codes of berth-init itself (the container's own status passes through in
   foreground mode) */
#define BERTH_INIT_EXIT_SETUP_FAILED 125

#endif
