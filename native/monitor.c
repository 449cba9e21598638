/* monitor.c — berth-init as a container's monitor (what conmon is to podman): the parent stage
 * stays with the container it cloned, holds its stdio (pipes, or the pty master), writes the
 * json-file log with rotation, serves attach clients on a unix socket, reaps the container,
 * writes its exit record, and execs the exit command. Every path and limit is the plan's
 * (OP_MONITOR); the monitor decides nothing.
 *
 * attach socket frames, both ways: u8 type, 3 zero bytes, u32 big-endian length, payload.
 *   monitor -> client: 1 stdout, 2 stderr (docker's stdcopy framing), 3 exit record (JSON)
 *   client -> monitor: 0 stdin data, 1 close stdin, 2 resize (u16 rows, u16 cols, BE),
 *                      3 the client removes the container itself (no exit command)
 */
#include "init.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#define MAX_CLIENTS 16
#define LINE_MAX_BYTES 16384 /* docker's json-file splits longer lines */
#define MON_STDIN 1u
#define MON_TTY 2u

static struct {
	int on;
	const char *log_path, *attach_path, *exit_path, *oom_file;
	uint64_t max_size, max_files, flags;
	char **exit_argv;
	int out[2], err[2], in[2];   /* pipes (no tty) */
	int listen_fd, log_fd;
	uint64_t log_size, oom_start;
	int clients[MAX_CLIENTS];
	char line[2][LINE_MAX_BYTES];
	size_t line_len[2];
	int client_cleans, cleaner; /* a client finishes the container: which one */
} mon = { .out = { -1, -1 }, .err = { -1, -1 }, .in = { -1, -1 }, .listen_fd = -1, .log_fd = -1 };

static uint64_t read_oom_count(void)
{
	if (!mon.oom_file || !*mon.oom_file)
		return 0;
	char buf[4096];
	AUTO_FD fd = open(mon.oom_file, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* "oom_kill N" in v2 memory.events and in v1 memory.oom_control */
	for (char *p = buf; (p = strstr(p, "oom_kill ")); p++)
		if (p == buf || p[-1] == '\n')
			return strtoull(p + 9, NULL, 10);
	return 0;
}

static int open_log(void)
{
	int fd = open(mon.log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	struct stat st;
	mon.log_size = fd >= 0 && fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
	return fd;
}

/* container.log -> .1 -> .2 …: max_files counts the current one, as docker's max-file */
static void rotate_log(void)
{
	char from[4200], to[4200];
	close(mon.log_fd);
	for (uint64_t k = mon.max_files - 1; k >= 1; k--) {
		snprintf(to, sizeof(to), "%s.%llu", mon.log_path, (unsigned long long)k);
		if (k == 1)
			snprintf(from, sizeof(from), "%s", mon.log_path);
		else
			snprintf(from, sizeof(from), "%s.%llu", mon.log_path, (unsigned long long)(k - 1));
		if (rename(from, to) < 0 && errno != ENOENT)
			break;
	}
	if (mon.max_files <= 1 && unlink(mon.log_path) < 0 && errno != ENOENT)
		mon.log_fd = -1;
	mon.log_fd = open_log();
}

/* one json-file record: {"log":"…","stream":"stdout","time":"2006-01-02T15:04:05.999999999Z"} */
static void log_record(int stream, const char *data, size_t len)
{
	if (mon.log_fd < 0)
		return;
	static char rec[LINE_MAX_BYTES * 6 + 128];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t o = (size_t)snprintf(rec, sizeof(rec), "{\"log\":\"");
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)data[i];
		if (c == '"' || c == '\\') {
			rec[o++] = '\\';
			rec[o++] = (char)c;
		} else if (c == '\n') {
			rec[o++] = '\\';
			rec[o++] = 'n';
		} else if (c < 0x20 || c == 0x7f) {
			o += (size_t)snprintf(rec + o, 7, "\\u%04x", c);
		} else {
			rec[o++] = (char)c;
		}
	}
	o += (size_t)snprintf(rec + o, sizeof(rec) - o, "\",\"stream\":\"%s\",\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ\"}\n",
			      stream == 2 ? "stderr" : "stdout", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
			      tm.tm_min, tm.tm_sec, ts.tv_nsec);
	if (mon.max_size && mon.log_size + o > mon.max_size && mon.log_size > 0)
		rotate_log();
	if (mon.log_fd >= 0 && write_all(mon.log_fd, rec, o) == 0)
		mon.log_size += o;
}

/* output of the container: whole lines to the log (long ones in 16 KiB pieces) */
static void log_output(int stream, const char *data, size_t len)
{
	int s = stream == 2 ? 1 : 0;
	for (size_t i = 0; i < len; i++) {
		mon.line[s][mon.line_len[s]++] = data[i];
		if (data[i] == '\n' || mon.line_len[s] == LINE_MAX_BYTES) {
			log_record(stream, mon.line[s], mon.line_len[s]);
			mon.line_len[s] = 0;
		}
	}
}

static void frame_header(char *h, unsigned type, size_t len)
{
	h[0] = (char)type;
	h[1] = h[2] = h[3] = 0;
	h[4] = (char)(len >> 24);
	h[5] = (char)(len >> 16);
	h[6] = (char)(len >> 8);
	h[7] = (char)len;
}

static void drop_client(int i)
{
	close(mon.clients[i]);
	mon.clients[i] = -1;
}

/* A client that went away while the container runs: if it was to finish the container, the
 * exit command does it after all (a killed `berth run --rm` or `berth serve`). */
static void lose_client(int i)
{
	if (mon.client_cleans && mon.cleaner == i)
		mon.client_cleans = 0;
	drop_client(i);
}

static void to_clients(unsigned type, const char *data, size_t len)
{
	char h[8];
	frame_header(h, type, len);
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (mon.clients[i] >= 0 && (write_all(mon.clients[i], h, 8) < 0 || write_all(mon.clients[i], data, len) < 0))
			lose_client(i); /* gone, or stuck past its send timeout */
}

/* read what the container wrote on one of its streams; 0 at its end */
static int pump_output(int fd, int stream)
{
	char buf[8192];
	ssize_t n = read(fd, buf, sizeof(buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 1;
	if (n <= 0)
		return 0; /* EOF, or EIO: every holder of the pty's other side is gone */
	log_output(stream, buf, (size_t)n);
	to_clients((unsigned)stream, buf, (size_t)n);
	return 1;
}

static int stdin_fd(void)
{
	return (mon.flags & MON_TTY) ? ctx.relay_fd : mon.in[1];
}

/* one frame from an attach client; 0 when it is gone */
static int client_frame(int i)
{
	char h[8];
	int fd = mon.clients[i];
	if (read(fd, h, 8) != 8)
		return 0;
	size_t len = ((size_t)(unsigned char)h[4] << 24) | ((size_t)(unsigned char)h[5] << 16) | ((size_t)(unsigned char)h[6] << 8) | (unsigned char)h[7];
	if (len > 65536)
		return 0;
	char data[65536];
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, data + got, len - got);
		if (n <= 0)
			return 0;
		got += (size_t)n;
	}
	switch (h[0]) {
	case 0: /* stdin */
		if ((mon.flags & MON_STDIN) && stdin_fd() >= 0 && write_all(stdin_fd(), data, len) < 0)
			return 1;
		break;
	case 1: /* close stdin (not a pty's: that is the container's terminal) */
		if (!(mon.flags & MON_TTY) && mon.in[1] >= 0) {
			close(mon.in[1]);
			mon.in[1] = -1;
		}
		break;
	case 2: /* resize */
		if ((mon.flags & MON_TTY) && len == 4) {
			struct winsize ws = { .ws_row = (unsigned short)(((unsigned char)data[0] << 8) | (unsigned char)data[1]),
					      .ws_col = (unsigned short)(((unsigned char)data[2] << 8) | (unsigned char)data[3]) };
			if (ioctl(ctx.relay_fd, TIOCSWINSZ, &ws) < 0)
				return 1;
		}
		break;
	case 3:
		mon.client_cleans = 1;
		mon.cleaner = i;
		break;
	}
	return 1;
}

/* (log path "" for none, max size 0 for no rotation, max files, attach socket, exit record,
 * oom counter file, flags, exit command) */
void op_monitor(const struct plan_op *op)
{
	unsigned pos = 0;
	mon.log_path = arg_str(op, pos++);
	mon.max_size = arg_u64(op, pos++);
	mon.max_files = arg_u64(op, pos++);
	mon.attach_path = arg_str(op, pos++);
	mon.exit_path = arg_str(op, pos++);
	mon.oom_file = arg_str(op, pos++);
	mon.flags = arg_u64(op, pos++);
	mon.exit_argv = arg_list(op, &pos);
	if (mon.max_files == 0)
		mon.max_files = 1;
	mon.on = 1;
	for (int i = 0; i < MAX_CLIENTS; i++)
		mon.clients[i] = -1;
	if (!(mon.flags & MON_TTY)) {
		if (pipe2(mon.out, O_CLOEXEC) < 0 || pipe2(mon.err, O_CLOEXEC) < 0)
			fail("pipe", errno, "container stdio");
		if ((mon.flags & MON_STDIN) && pipe2(mon.in, O_CLOEXEC) < 0)
			fail("pipe", errno, "container stdin");
	}
	if (*mon.log_path && (mon.log_fd = open_log()) < 0)
		fail("open", errno, mon.log_path);
	mon.listen_fd = listen_unix(mon.attach_path, 8, SOCK_NONBLOCK);
	mon.oom_start = read_oom_count();
}

/* in the child, before its first op: the monitor's pipes become its stdio */
void monitor_child_stdio(void)
{
	if (!mon.on || (mon.flags & MON_TTY))
		return;
	int null = -1;
	if (!(mon.flags & MON_STDIN) && (null = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0)
		fail("open", errno, "/dev/null");
	if (dup2(mon.in[0] >= 0 ? mon.in[0] : null, 0) < 0 || dup2(mon.out[1], 1) < 0 || dup2(mon.err[1], 2) < 0)
		fail("dup2", errno, "container stdio");
	int fds[] = { null, mon.in[0], mon.in[1], mon.out[0], mon.out[1], mon.err[0], mon.err[1], mon.listen_fd, mon.log_fd };
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (fds[i] > 2)
			close(fds[i]);
}

int monitor_on(void)
{
	return mon.on;
}

static void write_exit_record(int status)
{
	char json[256], tmp[4200];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	int oom = read_oom_count() > mon.oom_start;
	int n = snprintf(json, sizeof(json),
			 "{\"exitCode\":%d,\"signal\":%d,\"oomKilled\":%s,\"finishedAt\":\"%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ\"}\n",
			 code, WIFSIGNALED(status) ? WTERMSIG(status) : 0, oom ? "true" : "false", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec);
	to_clients(3, json, (size_t)n);
	snprintf(tmp, sizeof(tmp), "%s.tmp", mon.exit_path);
	AUTO_FD fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write_all(fd, json, (size_t)n) < 0 || rename(tmp, mon.exit_path) < 0)
		report_error("exit-record", errno, mon.exit_path, NULL);
}

/* every client waiting in the backlog (the listening socket does not block) */
static void accept_clients(void)
{
	struct timeval tv = { .tv_sec = 5 };
	for (;;) {
		int c = accept4(mon.listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0 && (errno == ECONNABORTED || errno == EINTR))
			continue;
		if (c < 0)
			return; /* EAGAIN: none left */
		int i = 0;
		while (i < MAX_CLIENTS && mon.clients[i] >= 0)
			i++;
		if (i == MAX_CLIENTS) {
			close(c); /* full */
			continue;
		}
		setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		mon.clients[i] = c;
	}
}

/* The monitor's life once the container is created: until it ends, then the exit command. */
int monitor_run(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	AUTO_FD sig = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	if (sig < 0)
		fail("signalfd", errno, NULL);
	if (mon.flags & MON_TTY) {
		/* the child sends the pty master on the console pair (OP_CONSOLE) */
		int master = recv_fd(ctx.relay_fd);
		close(ctx.relay_fd);
		ctx.relay_fd = master;
	} else {
		close(mon.out[1]);
		close(mon.err[1]);
		if (mon.in[0] >= 0)
			close(mon.in[0]);
	}
	int out = (mon.flags & MON_TTY) ? ctx.relay_fd : mon.out[0], err = (mon.flags & MON_TTY) ? -1 : mon.err[0];
	int status = 0, exited = 0;
	release_setup_pages();
	while (!exited || out >= 0 || err >= 0) {
		struct pollfd fds[4 + MAX_CLIENTS];
		int n = 0;
		fds[n++] = (struct pollfd){ .fd = sig, .events = POLLIN };
		fds[n++] = (struct pollfd){ .fd = out, .events = POLLIN };
		fds[n++] = (struct pollfd){ .fd = err, .events = POLLIN };
		fds[n++] = (struct pollfd){ .fd = mon.listen_fd, .events = POLLIN };
		for (int i = 0; i < MAX_CLIENTS; i++)
			fds[n++] = (struct pollfd){ .fd = mon.clients[i], .events = POLLIN };
		/* once the container is gone, what it wrote is drained without waiting for more */
		if (poll(fds, (nfds_t)n, exited ? 0 : -1) < 0) {
			if (errno == EINTR)
				continue;
			fail("poll", errno, NULL);
		}
		if (fds[0].revents) {
			struct signalfd_siginfo si;
			while (read(sig, &si, sizeof(si)) == sizeof(si))
				;
			if (!exited && waitpid(ctx.child, &status, WNOHANG) == ctx.child)
				exited = 1;
		}
		/* clients first, then output: those that connected before the container started (run
		 * attaches before start) are all waiting, and must not miss the first bytes; after the
		 * end too, as a monitor first scheduled then finds its clients still in the backlog */
		if (fds[3].revents || exited)
			accept_clients();
		if (out >= 0 && (fds[1].revents || exited) && !pump_output(out, 1)) {
			close(out);
			out = -1;
		} else if (exited && out >= 0 && !fds[1].revents) {
			close(out);
			out = -1;
		}
		if (err >= 0 && (fds[2].revents || exited) && !pump_output(err, 2)) {
			close(err);
			err = -1;
		} else if (exited && err >= 0 && !fds[2].revents) {
			close(err);
			err = -1;
		}
		for (int i = 0; i < MAX_CLIENTS; i++)
			if (mon.clients[i] >= 0 && fds[4 + i].revents && !client_frame(i))
				lose_client(i);
	}
	for (int s = 0; s < 2; s++)
		if (mon.line_len[s])
			log_record(s + 1, mon.line[s], mon.line_len[s]); /* a last line without its newline */
	/* what clients sent and were not yet heard on (the one that finishes the container may
	 * have said so in the round that accepted it): every frame already there, before the end */
	accept_clients();
	for (int more = 1, rounds = 0; more && rounds < 64; rounds++) { /* bounded: a client cannot hold the end back */
		struct pollfd fds[MAX_CLIENTS];
		more = 0;
		for (int i = 0; i < MAX_CLIENTS; i++)
			fds[i] = (struct pollfd){ .fd = mon.clients[i], .events = POLLIN };
		if (poll(fds, MAX_CLIENTS, 0) <= 0)
			break;
		for (int i = 0; i < MAX_CLIENTS; i++) {
			if (mon.clients[i] < 0 || !fds[i].revents)
				continue;
			if (!(fds[i].revents & POLLIN) || !client_frame(i))
				lose_client(i);
			else
				more = 1;
		}
	}
	write_exit_record(status);
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (mon.clients[i] >= 0)
			drop_client(i);
	close(mon.listen_fd);
	unlink(mon.attach_path);
	if (mon.log_fd >= 0)
		close(mon.log_fd);
	if (mon.client_cleans || !mon.exit_argv[0])
		return 0;
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	/* the exit command tears the container's network down: from the caller's namespace */
	if (ctx.caller_netns_fd >= 0 && setns(ctx.caller_netns_fd, CLONE_NEWNET) < 0)
		report_error("setns", errno, "the caller's network namespace", "the exit command runs in the container's");
	extern char **environ;
	execve(mon.exit_argv[0], mon.exit_argv, environ);
	report_error("exec", errno, mon.exit_argv[0], "cannot run the exit command");
	return BERTH_INIT_EXIT_SETUP_FAILED;
}
