/* relay.c — a foreground `run` of a container with a terminal and no console socket: the
 * parent takes the pty master from the child and copies between it and its own stdio, as
 * runc does. The caller's terminal is put in raw mode meanwhile and restored after. */
#include "init.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>

static int master_fd = -1;

static void copy_winsize(int sig)
{
	(void)sig;
	struct winsize ws;
	if (master_fd >= 0 && ioctl(0, TIOCGWINSZ, &ws) == 0)
		ioctl(master_fd, TIOCSWINSZ, &ws);
}

static int pump(int from, int to)
{
	char buf[8192];
	ssize_t n = read(from, buf, sizeof(buf));
	if (n <= 0)
		return -1;
	for (ssize_t off = 0; off < n;) {
		ssize_t w = write(to, buf + off, (size_t)(n - off));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		off += w;
	}
	return 0;
}

int relay_console(void)
{
	master_fd = recv_fd(ctx.relay_fd);
	close(ctx.relay_fd);
	ctx.relay_fd = -1;
	if (master_fd < 0)
		return -1;
	struct termios saved;
	int is_tty = tcgetattr(0, &saved) == 0;
	if (is_tty) {
		struct termios raw = saved;
		cfmakeraw(&raw);
		/* a terminal that will not go raw is relayed as it is (cooked) */
		is_tty = tcsetattr(0, TCSANOW, &raw) == 0;
	}
	if (is_tty) {
		copy_winsize(0);
		struct sigaction sa = { .sa_handler = copy_winsize, .sa_flags = SA_RESTART };
		sigemptyset(&sa.sa_mask);
		sigaction(SIGWINCH, &sa, NULL);
	}
	struct pollfd fds[2] = { { .fd = master_fd, .events = POLLIN }, { .fd = 0, .events = POLLIN } };
	for (;;) {
		int n = poll(fds, 2, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			if (pump(master_fd, 1) < 0)
				break; /* EIO: every holder of the slave is gone, the container ended */
		}
		if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			if (pump(0, master_fd) < 0)
				fds[1].fd = -1; /* our stdin ended: keep showing the output */
		}
	}
	if (is_tty && tcsetattr(0, TCSANOW, &saved) < 0) {
		static const char msg[] = "berth-init: cannot restore the terminal's settings (run `stty sane`)\n";
		if (write(2, msg, sizeof(msg) - 1) < 0)
			return 0;
	}
	close(master_fd);
	master_fd = -1;
	return 0;
}
