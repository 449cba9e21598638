/* hooks.c — hooks that run in the container's namespaces (createContainer, startContainer),
 * with the behaviour of the runtime's own (src/runtime/hooks.ts): the state on stdin, stdout
 * dropped, stderr kept (up to 4 KiB) for the error, a timeout, the hook's env or else the
 * runtime's environment. The runtime's hooks (prestart, createRuntime) are asked of TS. */
#include "init.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

#define HOOK_STDERR_MAX 4096

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static __attribute__((noreturn)) void hook_child(const char *path, const char *cwd, char **argv, char **envp, int in, int err)
{
	sigset_t none;
	sigemptyset(&none);
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	sigprocmask(SIG_SETMASK, &none, NULL);
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (dup2(in, 0) < 0 || (null >= 0 ? dup2(null, 1) : close(1)) < 0 || dup2(err, 2) < 0)
		_exit(126);
	/* only stdio: not the container's preserved fds, not berth-init's own */
	if (syscall(SYS_close_range, 3, ~0U, 0) < 0)
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
	if (*cwd && chdir(cwd) < 0) {
		dprintf(2, "cannot change to %s: %s", cwd, strerror(errno));
		_exit(126);
	}
	execve(path, argv, envp);
	dprintf(2, "cannot run: %s", strerror(errno));
	_exit(errno == ENOENT ? 127 : 126);
}

void op_run_hook(const struct plan_op *op)
{
	unsigned pos = 0;
	const char *name = arg_str(op, pos++);
	const char *path = arg_str(op, pos++);
	uint64_t timeout = arg_u64(op, pos++);
	const char *cwd = arg_str(op, pos++);
	AUTO_FREE char **argv = arg_list(op, &pos);
	AUTO_FREE char **env = arg_list(op, &pos);
	char **envp = arg_u64(op, pos) ? environ : env;

	int in[2], err[2];
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0)
		fail("pipe", errno, path);
	struct sigaction ignore = { .sa_handler = SIG_IGN }, old;
	sigemptyset(&ignore.sa_mask);
	sigaction(SIGPIPE, &ignore, &old); /* a hook need not read its stdin */
	pid_t pid = fork();
	if (pid < 0)
		fail("fork", errno, path);
	if (pid == 0)
		hook_child(path, cwd, argv, envp, in[0], err[1]);
	close(in[0]);
	close(err[1]);
	const char *state = ctx.state_json ? ctx.state_json : "{}";
	if (write_all(in[1], state, strlen(state)) < 0 && errno != EPIPE)
		report_error("hook", errno, path, "cannot write the state to the hook's stdin");
	close(in[1]);

	char text[HOOK_STDERR_MAX + 1];
	size_t used = 0;
	int status = 0, timed_out = 0, err_open = 1;
	long long deadline = timeout ? now_ms() + (long long)timeout * 1000 : 0;
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			break;
		if (r < 0 && errno != EINTR)
			fail("waitpid", errno, path);
		if (deadline && now_ms() >= deadline) {
			kill(pid, SIGKILL);
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			timed_out = 1;
			break;
		}
		struct pollfd pfd = { .fd = err_open ? err[0] : -1, .events = POLLIN };
		int wait = 10;
		if (poll(&pfd, 1, wait) > 0 && (pfd.revents & (POLLIN | POLLHUP))) {
			char chunk[1024];
			ssize_t n = read(err[0], chunk, sizeof(chunk));
			if (n <= 0)
				err_open = 0;
			for (ssize_t i = 0; i < n && used < HOOK_STDERR_MAX; i++)
				text[used++] = chunk[i];
		}
	}
	close(err[0]);
	sigaction(SIGPIPE, &old, NULL);
	text[used] = '\0';
	while (used > 0 && (text[used - 1] == '\n' || text[used - 1] == ' '))
		text[--used] = '\0';
	if (!timed_out && WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return;
	char why[128], msg[HOOK_STDERR_MAX + 4600];
	if (timed_out)
		snprintf(why, sizeof(why), "timed out after %llus", (unsigned long long)timeout);
	else if (WIFSIGNALED(status)) {
		/* and the signal in words, as runc says it ("signal: bad system call") */
		const char *abbrev = sigabbrev_np(WTERMSIG(status)), *descr = sigdescr_np(WTERMSIG(status));
		char words[40] = "";
		for (size_t i = 0; descr && descr[i] && i + 1 < sizeof(words); i++)
			words[i] = (char)(descr[i] >= 'A' && descr[i] <= 'Z' ? descr[i] + 32 : descr[i]);
		snprintf(why, sizeof(why), "killed by SIG%s (signal: %s)", abbrev ? abbrev : "?", words);
	}
	else
		snprintf(why, sizeof(why), "exit status %d", WEXITSTATUS(status));
	/* the same sentence as the runtime's own hooks (src/runtime/hooks.ts) */
	snprintf(msg, sizeof(msg), "error running hook (%s %s): %s%s%s", name, path, why, used ? ": " : "", text);
	fail_msg("hook", 0, path, msg);
}

void op_hooks(const struct plan_op *op)
{
	char line[512];
	snprintf(line, sizeof(line), "{\"type\":\"" MSG_HOOKS_REQ "\",\"name\":\"%s\"}", arg_str(op, 0));
	if (sync_send(line) != 0)
		fail("sync", EPIPE, "hooks");
	char *reply = sync_read_line();
	if (!reply || strncmp(reply, ACK_HOOKS, strlen(ACK_HOOKS)) != 0)
		_exit(BERTH_INIT_EXIT_SETUP_FAILED); /* the runtime reported the hook's failure itself */
	free(ctx.state_json);
	ctx.state_json = strdup(reply + strlen(ACK_HOOKS) + (reply[strlen(ACK_HOOKS)] == ' '));
	free(reply);
	if (!ctx.state_json)
		fail("hooks", ENOMEM, NULL);
}
