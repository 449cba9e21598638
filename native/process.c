/* process.c — what turns this process into the container's program: terminal, limits,
 * scheduling, user, capabilities, working directory, and the execve. */
#include "init.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/openat2.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <termios.h>

void write_file(const char *path, const char *content)
{
	AUTO_FD fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		fail("open", errno, path);
	size_t len = strlen(content);
	ssize_t n = write(fd, content, len);
	if (n < 0)
		fail("write", errno, path);
	if ((size_t)n != len)
		fail_msg("write", EIO, path, "short write");
}

void send_fd(int sock, int fd, const void *data, size_t len, const char *what)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = (void *)data, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	ssize_t n;
	do
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		fail("sendmsg", errno, what);
	/* the fd went with the first bytes; a stream socket takes the rest as it can */
	if ((size_t)n < len && write_all(sock, (const char *)data + n, len - (size_t)n) < 0)
		fail("send", errno ? errno : EPIPE, what);
}

/* The fd sent with send_fd (close-on-exec), its data dropped; -1 when none came (errno set). */
int recv_fd(int sock)
{
	char data[256], cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = data, .iov_len = sizeof(data) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	ssize_t n;
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	struct cmsghdr *cm = n > 0 ? CMSG_FIRSTHDR(&msg) : NULL;
	if (!cm || cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) {
		if (n >= 0)
			errno = EPIPE;
		return -1;
	}
	int fd;
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

int connect_unix(const char *path)
{
	struct sockaddr_un addr;
	AUTO_FD dir = unix_sockaddr(path, &addr);
	if (dir == -2)
		fail("connect", errno, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		fail("socket", errno, path);
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		fail("connect", errno, path);
	return fd;
}

/* linux.seccomp.listenerPath: the agent must be listening */
int connect_seccomp_agent(const char *path)
{
	struct sockaddr_un addr;
	AUTO_FD dir = unix_sockaddr(path, &addr);
	if (dir == -2)
		fail("connect", errno, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		fail("socket", errno, path);
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		fail_msg("connect", errno, path, "failed to connect with seccomp agent (linux.seccomp.listenerPath)");
	return fd;
}

void op_console(const struct plan_op *op)
{
	struct winsize ws = { .ws_row = (unsigned short)arg_u64(op, 0), .ws_col = (unsigned short)arg_u64(op, 1) };
	uid_t uid = ctx.user.resolved ? ctx.user.uid : (uid_t)arg_u64(op, 2);
	AUTO_FD master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0)
		fail("open", errno, "/dev/ptmx");
	if (unlockpt(master) < 0)
		fail("unlockpt", errno, "/dev/ptmx");
	char name[128];
	if (ptsname_r(master, name, sizeof(name)) != 0)
		fail("ptsname", errno, "/dev/ptmx");
	AUTO_FD slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (slave < 0)
		fail("open", errno, name);
	if (fchown(slave, uid, (gid_t)-1) < 0)
		fail("chown", errno, name);
	if ((ws.ws_row || ws.ws_col) && ioctl(slave, TIOCSWINSZ, &ws) < 0)
		fail("ioctl", errno, name);
	/* hand the master to whoever listens on the console socket, as runc does */
	if (ctx.console_fd < 0)
		fail_msg("console", EBADF, NULL, "no console socket to send the terminal to");
	send_fd(ctx.console_fd, master, name, strlen(name), "console socket");
	close(ctx.console_fd);
	ctx.console_fd = -1;
	for (int i = 0; i < 3; i++)
		if (dup3(slave, i, 0) < 0)
			fail("dup3", errno, name);
	if (ioctl(0, TIOCSCTTY, 0) < 0)
		fail("ioctl", errno, "TIOCSCTTY");
}

/* the working directory must be inside the root: the kernel answers "(unreachable)/…" for one
 * outside it (a cwd reached through an fd of the host) */
static void check_cwd(const char *path)
{
	char cwd[4096];
	long n = syscall(SYS_getcwd, cwd, sizeof(cwd));
	if (n < 0) {
		if (errno == ENAMETOOLONG || errno == ERANGE)
			return; /* deep, but reached from the root */
		fail("getcwd", errno, path);
	}
	if (cwd[0] != '/')
		fail_msg("chdir", EPERM, path, "the working directory is outside the container's root");
}

void op_chdir(const struct plan_op *op)
{
	const char *path = arg_str(op, 0);
	int deferrable = arg_u64(op, 1) != 0;
	/* the container's root fd served the mounts; nothing after this resolves through it */
	if (ctx.root_fd >= 0) {
		close(ctx.root_fd);
		ctx.root_fd = -1;
	}
	if (chdir(path) < 0) {
		if (deferrable && (errno == EACCES || errno == EPERM)) {
			/* a directory only the container's user may enter: again after the switch */
			ctx.deferred_cwd = strdup(path);
			if (!ctx.deferred_cwd)
				fail("chdir", ENOMEM, path);
			return;
		}
		fail("chdir", errno, path);
	}
	check_cwd(path);
}

void op_chdir_deferred(void)
{
	if (!ctx.deferred_cwd)
		return;
	if (chdir(ctx.deferred_cwd) < 0)
		fail("chdir", errno, ctx.deferred_cwd);
	check_cwd(ctx.deferred_cwd);
	free(ctx.deferred_cwd);
	ctx.deferred_cwd = NULL;
}

void op_setuid(const struct plan_op *op)
{
	uid_t uid = ctx.user.resolved ? ctx.user.uid : (uid_t)arg_u64(op, 0);
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		fail("prctl", errno, "PR_SET_KEEPCAPS");
	if (setresuid(uid, uid, uid) < 0)
		fail("setresuid", errno, NULL);
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
		fail("prctl", errno, "PR_SET_KEEPCAPS");
}

void op_setgroups(const struct plan_op *op)
{
	if (ctx.user.resolved) {
		if (setgroups(ctx.user.ngroups, ctx.user.groups) < 0)
			fail("setgroups", errno, NULL);
		return;
	}
	unsigned pos = 0;
	uint64_t n = arg_u64(op, pos++);
	AUTO_FREE gid_t *gids = calloc(n ? (size_t)n : 1, sizeof(gid_t));
	if (!gids)
		fail("setgroups", ENOMEM, NULL);
	for (uint64_t i = 0; i < n; i++)
		gids[i] = (gid_t)arg_u64(op, pos++);
	if (setgroups((size_t)n, gids) < 0)
		fail("setgroups", errno, NULL);
}

void op_caps_bounding(const struct plan_op *op)
{
	uint64_t keep = arg_u64(op, 0);
	for (int cap = 0; cap <= 63; cap++) {
		if (keep & (1ULL << cap))
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			if (errno == EINVAL)
				break; /* past the kernel's last capability */
			fail("prctl", errno, "PR_CAPBSET_DROP");
		}
	}
}

void op_caps_set(const struct plan_op *op)
{
	uint64_t eff = arg_u64(op, 0), perm = arg_u64(op, 1), inh = arg_u64(op, 2), amb = arg_u64(op, 3);
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[2] = {
		{ (uint32_t)eff, (uint32_t)perm, (uint32_t)inh },
		{ (uint32_t)(eff >> 32), (uint32_t)(perm >> 32), (uint32_t)(inh >> 32) },
	};
	if (syscall(SYS_capset, &hdr, data) < 0)
		fail("capset", errno, NULL);
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		fail("prctl", errno, "PR_CAP_AMBIENT");
	for (int cap = 0; cap <= 63; cap++)
		if ((amb & (1ULL << cap)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0)
			fail("prctl", errno, "PR_CAP_AMBIENT_RAISE");
}

void op_rlimit(const struct plan_op *op)
{
	struct rlimit rl = { .rlim_cur = (rlim_t)arg_u64(op, 1), .rlim_max = (rlim_t)arg_u64(op, 2) };
	if (setrlimit((int)arg_u64(op, 0), &rl) < 0)
		fail_msg("setrlimit", errno, arg_str(op, 3),
			 errno == EPERM ? "raising a hard limit needs CAP_SYS_RESOURCE (and at most fs.nr_open for RLIMIT_NOFILE)" : NULL);
}

void op_sched(const struct plan_op *op)
{
	/* struct sched_attr of <linux/sched/types.h> (SCHED_ATTR_SIZE_VER0) */
	struct {
		uint32_t size, policy;
		uint64_t flags;
		int32_t nice;
		uint32_t priority;
		uint64_t runtime, deadline, period;
	} attr = {
		.size = 48, .policy = (uint32_t)arg_u64(op, 0), .flags = arg_u64(op, 1),
		.nice = (int32_t)(int64_t)arg_u64(op, 2), .priority = (uint32_t)arg_u64(op, 3),
		.runtime = arg_u64(op, 4), .deadline = arg_u64(op, 5), .period = arg_u64(op, 6),
	};
	if (syscall(SYS_sched_setattr, 0, &attr, 0) < 0)
		fail("sched_setattr", errno, NULL);
}

void op_affinity(const struct plan_op *op)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	uint64_t n = arg_u64(op, 0);
	for (uint64_t i = 0; i < n; i++) {
		uint64_t cpu = arg_u64(op, 1 + (unsigned)i);
		if (cpu >= CPU_SETSIZE)
			fail_msg("sched_setaffinity", EINVAL, NULL, "CPU number out of range");
		CPU_SET((int)cpu, &set);
	}
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		fail("sched_setaffinity", errno, NULL);
}

/* Is `path` (in the container's filesystem) a program this process may run? Resolved with
 * RESOLVE_NO_MAGICLINKS: a program reached through /proc/<pid>/fd or /proc/<pid>/root would be
 * a file of the host. 0, or an errno. */
static int check_program(const char *path)
{
	struct open_how how = { .flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_NO_MAGICLINKS };
	AUTO_FD fd = (int)syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof(how));
	if (fd < 0)
		return errno == ELOOP ? ELOOP : errno;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return errno;
	if (!S_ISREG(st.st_mode))
		return EACCES;
	/* through the fd (faccessat2, Linux 5.8), else by the path just checked */
	if (syscall(SYS_faccessat2, fd, "", X_OK, AT_EMPTY_PATH) == 0)
		return 0;
	if (errno != ENOSYS && errno != EINVAL)
		return errno;
	return access(path, X_OK) == 0 ? 0 : errno;
}

/* find the program as execvp would, in the container's own filesystem, before `start` */
void op_resolve_exec(const struct plan_op *op)
{
	const char *prog = arg_str(op, 0), *path = arg_str(op, 1);
	if (strchr(prog, '/')) {
		if (strlen(prog) >= sizeof(ctx.exec_path))
			fail("exec", ENAMETOOLONG, prog);
		snprintf(ctx.exec_path, sizeof(ctx.exec_path), "%s", prog);
		int err = check_program(ctx.exec_path);
		if (err == ELOOP)
			fail_msg("exec", ELOOP, prog, "the program is reached through a /proc magic link; it must be a file of the container");
		if (err == EACCES)
			fail_msg("exec", EACCES, prog, "permission denied (not an executable regular file)");
		if (err)
			fail("exec", err, prog);
		return;
	}
	int denied = 0;
	const char *p = path;
	for (;;) {
		const char *end = strchr(p, ':');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		int n = snprintf(ctx.exec_path, sizeof(ctx.exec_path), "%.*s/%s", (int)len, len ? p : ".", prog);
		if (n > 0 && (size_t)n < sizeof(ctx.exec_path)) {
			int err = check_program(ctx.exec_path);
			if (err == 0)
				return;
			if (err == EACCES)
				denied = 1;
		}
		if (!end)
			break;
		p = end + 1;
	}
	fail_msg("exec", denied ? EACCES : ENOENT, prog, denied ? "permission denied" : "executable file not found in $PATH");
}

/* signals the runtime blocked or ignored must not reach the container's program */
void op_reset_signals(void)
{
	sigset_t none;
	sigemptyset(&none);
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL); /* refused only for signals that cannot be caught */
	if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
		fail("sigprocmask", errno, NULL);
}

void op_exec(const struct plan_op *op)
{
	unsigned pos = 0;
	char **argv = arg_list(op, &pos);
	char **envp = arg_list(op, &pos);
	if (ctx.home_env) {
		size_t n = 0;
		while (envp[n])
			n++;
		char **with = realloc(envp, (n + 2) * sizeof(char *));
		if (!with)
			fail("exec", ENOMEM, argv[0]);
		with[n] = ctx.home_env;
		with[n + 1] = NULL;
		envp = with;
	}
	execve(ctx.exec_path, argv, envp);
	fail("exec", errno, argv[0]);
}
