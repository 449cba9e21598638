/* stage.c — the stages of making a container: the parent (berth-init in the caller's
 * namespaces) clones the child into new namespaces; the child becomes the container. */
#include "init.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <stdint.h>

/* struct clone_args of <linux/sched.h> up to `cgroup` (CLONE_ARGS_SIZE_VER2), spelled out
 * so that the kernel headers' definitions do not clash with glibc's <sched.h> */
struct clone_args_v2 {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls,
		set_tid, set_tid_size, cgroup;
};
#define BERTH_CLONE_INTO_CGROUP 0x200000000ULL

static void write_proc_child(const char *file, const char *content)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/%s", ctx.child, file);
	write_file(path, content);
}

static void parent_op(const struct plan_op *op)
{
	switch (op->code) {
	case OP_CGROUP_JOIN: {
		/* before the clone this process moves itself; after it, the child */
		char pid[16];
		snprintf(pid, sizeof(pid), "%d", ctx.child > 0 ? ctx.child : 0);
		write_file(arg_str(op, 0), pid);
		break;
	}
	case OP_MONITOR:
		op_monitor(op);
		break;
	case OP_CGROUP_OPEN:
		ctx.cgroup_fd = open(arg_str(op, 0), O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (ctx.cgroup_fd < 0)
			fail("open", errno, arg_str(op, 0));
		break;
	case OP_SETNS: {
		AUTO_FD fd = open(arg_str(op, 0), O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			fail("open", errno, arg_str(op, 0));
		if ((int)arg_u64(op, 1) == CLONE_NEWNET && ctx.caller_netns_fd < 0)
			ctx.caller_netns_fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
		if (setns(fd, (int)arg_u64(op, 1)) < 0)
			fail("setns", errno, arg_str(op, 0));
		break;
	}
	case OP_TIMENS: {
		if (unshare(CLONE_NEWTIME) < 0)
			fail("unshare", errno, "CLONE_NEWTIME");
		const char *offsets = arg_str(op, 0);
		if (*offsets)
			write_file("/proc/self/timens_offsets", offsets);
		break;
	}
	case OP_CONSOLE_CONNECT:   /* host paths, from the host's namespaces */
	case OP_SECCOMP_LISTENER:
	case OP_AFFINITY:          /* exec: execCPUAffinity.initial, before entering the cgroups */
	case OP_BIND_TREE:         /* host paths and the host's user namespace */
	case OP_DEVICE_TREE:       /* mknod as the host's root */
	case OP_ROOTFS_TREE:       /* image layers of the host, id-mapped */
		run_op(op);
		break;
	case OP_VIEW:              /* before the cgroups and namespaces: the view stays out of them */
		op_view(op);
		break;
	case OP_START_SOCKET:
		op_start_socket(op);
		break;
	case OP_CONSOLE_PAIR: {
		int pair[2];
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
			fail("socketpair", errno, "console");
		ctx.relay_fd = pair[0];
		ctx.console_fd = pair[1];
		break;
	}
	case OP_SETGROUPS_DENY: write_proc_child("setgroups", "deny"); break;
	case OP_OOM_SCORE_ADJ: { /* from the host: the child's /proc files are not its own to write */
		char buf[32];
		snprintf(buf, sizeof(buf), "%lld", (long long)(int64_t)arg_u64(op, 0));
		write_proc_child("oom_score_adj", buf);
		break;
	}
	case OP_UID_MAP: write_proc_child("uid_map", arg_str(op, 0)); break;
	case OP_GID_MAP: write_proc_child("gid_map", arg_str(op, 0)); break;
	default:
		fail_msg("plan", EPROTO, op_name(op->code), "operation not valid in the parent stage");
	}
}

static void close_and_forget(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void child_main(struct plan *plan, size_t from)
{
	ctx.stage = "child";
	close_and_forget(&ctx.relay_fd);
	close_and_forget(&ctx.go_pipe[1]);
	close_and_forget(&ctx.ready_pipe[0]);
	close_and_forget(&ctx.cgroup_fd); /* a directory of the host: never into the container */
	monitor_child_stdio();
	/* "go" is the child's own pid as the parent sees it (for the seccomp listener's state) */
	pid_t go;
	ssize_t n;
	do
		n = read(ctx.go_pipe[0], &go, sizeof(go));
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(go))
		_exit(BERTH_INIT_EXIT_SETUP_FAILED); /* the parent failed and said why */
	ctx.host_pid = go;
	close_and_forget(&ctx.go_pipe[0]);
	for (size_t i = from; i < plan->nops; i++) {
		const struct plan_op *op = &plan->ops[i];
		if (op->stage != STAGE_CHILD)
			continue;
		if (op->code == OP_READY) {
			sync_send("{\"type\":\"" MSG_READY "\"}");
			if (write(ctx.ready_pipe[1], "r", 1) != 1)
				fail("write", errno, "ready pipe");
			close_and_forget(&ctx.ready_pipe[1]);
			continue;
		}
		run_op(op);
	}
	fail_msg("plan", EPROTO, NULL, "plan ended without exec");
}

static pid_t forward_to;
static void forward_signal(int sig)
{
	if (forward_to > 0)
		kill(forward_to, sig);
}

static void forward_signals(void)
{
	static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT, 0 };
	forward_to = ctx.child;
	struct sigaction sa = { .sa_handler = forward_signal, .sa_flags = SA_RESTART };
	sigemptyset(&sa.sa_mask);
	for (int i = 0; forwarded[i]; i++)
		sigaction(forwarded[i], &sa, NULL);
}

static int wait_child(void)
{
	int status;
	while (waitpid(ctx.child, &status, 0) < 0)
		if (errno != EINTR)
			return BERTH_INIT_EXIT_SETUP_FAILED;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

int run_plan(struct plan *plan)
{
	ctx.stage = "parent";
	size_t i = 0;
	for (; i < plan->nops; i++) {
		const struct plan_op *op = &plan->ops[i];
		if (op->stage != STAGE_PARENT)
			continue;
		if (op->code != OP_CLONE) {
			parent_op(op);
			continue;
		}
		if (pipe2(ctx.go_pipe, O_CLOEXEC) < 0 || pipe2(ctx.ready_pipe, O_CLOEXEC) < 0)
			fail("pipe", errno, NULL);
		unsigned long flags = (unsigned long)arg_u64(op, 0);
		/* fork-like (no new stack): the child continues right here */
		pid_t pid;
		if (ctx.cgroup_fd >= 0) {
			/* born in its cgroup v2: no migration, so none of the global lock a
			 * cgroup.procs write takes (and its RCU grace period) */
			struct clone_args_v2 args = { .flags = flags | BERTH_CLONE_INTO_CGROUP, .exit_signal = SIGCHLD,
						      .cgroup = (uint64_t)ctx.cgroup_fd };
			pid = (pid_t)syscall(SYS_clone3, &args, sizeof(args));
			if (pid < 0)
				fail("clone3", errno, "CLONE_INTO_CGROUP");
		} else {
			pid = (pid_t)syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
			if (pid < 0)
				fail("clone", errno, NULL);
		}
		if (pid == 0)
			child_main(plan, i + 1);
		ctx.child = pid;
		/* what the child took along is its own now */
		close_and_forget(&ctx.cgroup_fd);
		close_and_forget(&ctx.start_fd);
		close_and_forget(&ctx.seccomp_listener_fd);
		for (int s = 0; s < BERTH_MAX_IDMAP_TREES; s++)
			if (ctx.idmap_trees[s] > 0) {
				close(ctx.idmap_trees[s] - 1);
				ctx.idmap_trees[s] = 0;
			}
		break;
	}
	if (ctx.child <= 0)
		fail_msg("plan", EPROTO, NULL, "plan has no clone");
	close_and_forget(&ctx.go_pipe[0]);
	close_and_forget(&ctx.ready_pipe[1]);
	close_and_forget(&ctx.console_fd); /* the child's (the pty master comes back on relay_fd) */
	char msg[96];
	if (ctx.view_fd >= 0) {
		/* the view ends with the container's init */
		dprintf(ctx.view_fd, "%d\n", ctx.child);
		close_and_forget(&ctx.view_fd);
		snprintf(msg, sizeof(msg), "{\"type\":\"" MSG_PID "\",\"pid\":%d,\"view\":%d}", ctx.child, ctx.view_pid);
	} else {
		snprintf(msg, sizeof(msg), "{\"type\":\"" MSG_PID "\",\"pid\":%d}", ctx.child);
	}
	sync_send(msg);
	for (i++; i < plan->nops; i++)
		if (plan->ops[i].stage == STAGE_PARENT_AFTER)
			parent_op(&plan->ops[i]);
	if (write(ctx.go_pipe[1], &ctx.child, sizeof(ctx.child)) != (ssize_t)sizeof(ctx.child))
		fail("write", errno, "go pipe");
	close(ctx.go_pipe[1]);

	char ready;
	ssize_t n;
	do
		n = read(ctx.ready_pipe[0], &ready, 1);
	while (n < 0 && errno == EINTR);
	close(ctx.ready_pipe[0]);
	if (n != 1) {
		/* the child died during set-up: it reported why itself, unless it was killed */
		int status = 0;
		while (waitpid(ctx.child, &status, 0) < 0 && errno == EINTR)
			;
		if (WIFSIGNALED(status)) {
			char msg[96];
			snprintf(msg, sizeof(msg), "the container's process was killed by SIG%s during set-up",
				 sigabbrev_np(WTERMSIG(status)) ? sigabbrev_np(WTERMSIG(status)) : "?");
			report_error("killed", 0, NULL, msg);
		}
		return BERTH_INIT_EXIT_SETUP_FAILED;
	}
	if (monitor_on()) {
		close(ctx.sync_fd);
		ctx.sync_fd = -1;
		return monitor_run();
	}
	if (!ctx.foreground)
		return 0;
	close(ctx.sync_fd);
	ctx.sync_fd = -1;
	forward_signals();
	if (ctx.relay_fd >= 0)
		relay_console();
	return wait_child();
}
