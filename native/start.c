/* start.c — a created container's init waits for `start` on a unix socket it listens on.
 *
 * The parent binds it while the runtime's state dir is reachable; the init inherits the
 * listening fd (a socket, never a directory: it gives no way out of the root). `start` connects
 * and sends "start"; the init goes on, and the connection becomes its sync channel: an error
 * before execve goes back to `start`, and the close-on-exec connection ends at the execve, which
 * is how `start` knows the program runs. Nothing is polled. */
#include "init.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

/* sun_path for `path`; a path longer than sun_path goes through its directory's fd (returned:
 * the caller closes it after bind or connect; -1 when none was needed, -2 on error with errno). */
int unix_sockaddr(const char *path, struct sockaddr_un *addr)
{
	char copy[4096];
	memset(addr, 0, sizeof(*addr));
	addr->sun_family = AF_UNIX;
	if (strlen(path) < sizeof(addr->sun_path)) {
		strcpy(addr->sun_path, path);
		return -1;
	}
	if (strlen(path) >= sizeof(copy)) {
		errno = ENAMETOOLONG;
		return -2;
	}
	snprintf(copy, sizeof(copy), "%s", path);
	int dir = open(dirname(copy), O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return -2;
	snprintf(copy, sizeof(copy), "%s", path);
	int n = snprintf(addr->sun_path, sizeof(addr->sun_path), "/proc/self/fd/%d/%s", dir, basename(copy));
	if (n < 0 || (size_t)n >= sizeof(addr->sun_path)) {
		close(dir);
		errno = ENAMETOOLONG;
		return -2;
	}
	return dir;
}

/* A listening unix socket at `path`, mode 0600 (only its owner may connect). Fails the op on
 * error. */
int listen_unix(const char *path, int backlog, int sock_flags)
{
	struct sockaddr_un addr;
	AUTO_FD dir = unix_sockaddr(path, &addr);
	if (dir == -2)
		fail("bind", errno, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | sock_flags, 0);
	if (fd < 0)
		fail("socket", errno, path);
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		fail("bind", errno, path);
	if (chmod(addr.sun_path, 0600) < 0)
		fail("chmod", errno, path);
	if (listen(fd, backlog) < 0)
		fail("listen", errno, path);
	return fd;
}

/* only the runtime's user may start the container */
void op_start_socket(const struct plan_op *op)
{
	ctx.start_fd = listen_unix(arg_str(op, 0), 1, 0);
}

void op_exec_wait(void)
{
	if (ctx.start_fd < 0)
		fail_msg("exec-wait", EBADF, NULL, "no start socket");
	for (;;) {
		int conn = accept4(ctx.start_fd, NULL, NULL, SOCK_CLOEXEC);
		if (conn < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			fail("accept", errno, "start socket");
		}
		char buf[16];
		size_t used = 0;
		while (used < sizeof(buf)) {
			ssize_t n = read(conn, buf + used, sizeof(buf) - used);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			used += (size_t)n;
			if (memchr(buf, '\n', used))
				break;
		}
		if (used == strlen(REQ_START) + 1 && memcmp(buf, REQ_START "\n", used) == 0) {
			close(ctx.start_fd);
			ctx.start_fd = -1;
			/* errors from here on go to `start`; the old sync socket's reader is gone */
			if (ctx.sync_fd >= 0)
				close(ctx.sync_fd);
			ctx.sync_fd = conn;
			return;
		}
		close(conn); /* not a start request: keep waiting */
	}
}
