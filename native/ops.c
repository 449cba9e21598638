/* ops.c — one call per plan operation: each does exactly what the plan says (protocol.h) and
 * reports a failure at the failing call; none decides anything. The ops live by concern in
 * fs.c, mount.c, process.c, hooks.c, start.c, fds.c and seccomp.c; this file dispatches. */
#include "init.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

void run_op(const struct plan_op *op)
{
	switch (op->code) {
	case OP_BECOME_ROOT:
		if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
			fail("setresuid", errno, NULL);
		break;
	case OP_CGROUP_JOIN: /* the child, single-threaded, moves itself: no global lock */
		write_file(arg_str(op, 0), "0");
		break;
	case OP_SETSID:
		if (setsid() < 0)
			fail("setsid", errno, NULL);
		break;
	case OP_PROPAGATION:
		if (mount(NULL, arg_str(op, 0), NULL, (unsigned long)arg_u64(op, 1), NULL) < 0)
			fail("mount", errno, arg_str(op, 0));
		break;
	case OP_ROOTFS: op_rootfs(op); break;
	case OP_MOUNT: op_mount(op); break;
	case OP_REMOUNT: op_remount(op); break;
	case OP_DETACH: op_detach(op); break;
	case OP_MKDIR: op_mkdir(op); break;
	case OP_MKNOD: op_mknod(op); break;
	case OP_BIND_DEVICE: op_bind_device(op); break;
	case OP_SYMLINK: op_symlink(op); break;
	case OP_HOOKS: op_hooks(op); break;
	case OP_RUN_HOOK: op_run_hook(op); break;
	case OP_PIVOT_ROOT: op_pivot_root(); break;
	case OP_CHROOT: op_chroot(op); break;
	case OP_MASK: op_mask(op); break;
	case OP_READONLY: op_readonly(op); break;
	case OP_REMOUNT_ROOT_RO: op_remount_root_ro(); break;
	case OP_HOSTNAME:
		if (sethostname(arg_str(op, 0), strlen(arg_str(op, 0))) < 0)
			fail("sethostname", errno, arg_str(op, 0));
		break;
	case OP_DOMAINNAME:
		if (setdomainname(arg_str(op, 0), strlen(arg_str(op, 0))) < 0)
			fail("setdomainname", errno, arg_str(op, 0));
		break;
	case OP_SYSCTL:
	case OP_WRITE_FILE: write_file(arg_str(op, 0), arg_str(op, 1)); break;
	case OP_OOM_SCORE_ADJ: {
		/* (exec) a value it already has from its parent is not written: in a user namespace
		 * its /proc files belong to the host's root once it is not dumpable */
		char buf[32], cur[32] = { 0 };
		snprintf(buf, sizeof(buf), "%lld", (long long)(int64_t)arg_u64(op, 0));
		int fd = open("/proc/self/oom_score_adj", O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			ssize_t n = read(fd, cur, sizeof(cur) - 1);
			close(fd);
			if (n > 0 && cur[n - 1] == '\n')
				cur[n - 1] = '\0';
		}
		if (strcmp(cur, buf) != 0)
			write_file("/proc/self/oom_score_adj", buf);
		break;
	}
	case OP_RLIMIT: op_rlimit(op); break;
	case OP_CONSOLE_CONNECT: ctx.console_fd = connect_unix(arg_str(op, 0)); break;
	case OP_SECCOMP_LISTENER: ctx.seccomp_listener_fd = connect_seccomp_agent(arg_str(op, 0)); break;
	case OP_SECCOMP_NOTIFY_SEND: seccomp_notify_send(op); break;
	case OP_BIND_TREE: op_bind_tree(op); break;
	case OP_DEVICE_TREE: op_device_tree(op); break;
	case OP_ROOTFS_TREE: op_rootfs_tree(op); break;
	case OP_CONSOLE: op_console(op); break;
	case OP_CHDIR: op_chdir(op); break;
	case OP_CHDIR_DEFERRED: op_chdir_deferred(); break;
	case OP_UMASK: umask((mode_t)arg_u64(op, 0)); break;
	case OP_IOPRIO:
		if (syscall(SYS_ioprio_set, 1 /* IOPRIO_WHO_PROCESS */, 0, (int)arg_u64(op, 0)) < 0)
			fail("ioprio_set", errno, NULL);
		break;
	case OP_SCHED: op_sched(op); break;
	case OP_AFFINITY: op_affinity(op); break;
	case OP_PERSONALITY:
		if (personality((unsigned long)arg_u64(op, 0)) < 0)
			fail("personality", errno, NULL);
		break;
	case OP_SETGROUPS: op_setgroups(op); break;
	case OP_SETGID: {
		gid_t gid = ctx.user.resolved ? ctx.user.gid : (gid_t)arg_u64(op, 0);
		if (setresgid(gid, gid, gid) < 0)
			fail("setresgid", errno, NULL);
		break;
	}
	case OP_SETUID: op_setuid(op); break;
	case OP_CAPS_BOUNDING: op_caps_bounding(op); break;
	case OP_CAPS_SET: op_caps_set(op); break;
	case OP_DUMPABLE:
		if (prctl(PR_SET_DUMPABLE, (unsigned long)arg_u64(op, 0), 0, 0, 0) < 0)
			fail("prctl", errno, "PR_SET_DUMPABLE");
		break;
	case OP_UNSHARE:
		if (unshare((int)arg_u64(op, 0)) < 0)
			fail("unshare", errno, NULL);
		break;
	case OP_NO_NEW_PRIVS:
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
			fail("prctl", errno, "PR_SET_NO_NEW_PRIVS");
		break;
	case OP_SECCOMP_INIT:
	case OP_SECCOMP_ARCH:
	case OP_SECCOMP_RULE:
	case OP_SECCOMP_LOAD: seccomp_op(op); break;
	case OP_RESOLVE_EXEC: op_resolve_exec(op); break;
	case OP_EXEC_WAIT: op_exec_wait(); break;
	case OP_RESET_SIGNALS: op_reset_signals(); break;
	case OP_HOME_ENV: op_home_env(op); break;
	case OP_USER: op_user(op); break;
	case OP_SECCOMP_BPF: seccomp_bpf_op(op); break;
	case OP_EXEC: op_exec(op); break;
	case OP_CLOSE_FDS: close_host_fds((unsigned)arg_u64(op, 0)); break;
	case OP_CLOEXEC_FDS: cloexec_from((unsigned)arg_u64(op, 0)); break;
	default:
		fail_msg("plan", EPROTO, op_name(op->code), "operation not valid in the container's stage");
	}
}
