/* oom.c — `berth-init oom-watch <memory cgroup dir>`: cgroup v1 tells OOM kills only through
 * an eventfd registered in cgroup.event_control. Prints one line ("oom") per notification and
 * ends when the cgroup goes away (the kernel signals the eventfd then too) or on EOF of stdin
 * (its reader is gone). TypeScript reads the lines and decides what they mean. */
#include "init.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>

int oom_watch(const char *dir)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/memory.oom_control", dir);
	int oom_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (oom_fd < 0) {
		fprintf(stderr, "berth-init: oom-watch: open %s: %s\n", path, strerror(errno));
		return 1;
	}
	int efd = eventfd(0, EFD_CLOEXEC);
	snprintf(path, sizeof(path), "%s/cgroup.event_control", dir);
	int ctl = open(path, O_WRONLY | O_CLOEXEC);
	char line[64];
	int n = snprintf(line, sizeof(line), "%d %d", efd, oom_fd);
	if (efd < 0 || ctl < 0 || write(ctl, line, (size_t)n) != n) {
		fprintf(stderr, "berth-init: oom-watch: register with %s: %s\n", path, strerror(errno));
		return 1;
	}
	close(ctl);
	printf("ready\n");
	fflush(stdout);
	struct pollfd fds[2] = { { .fd = efd, .events = POLLIN }, { .fd = 0, .events = POLLIN } };
	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	for (;;) {
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		if (fds[1].revents)
			return 0; /* the reader went away */
		uint64_t count;
		if (read(efd, &count, sizeof(count)) != sizeof(count))
			return 1;
		if (access(path, F_OK) < 0)
			return 0; /* the cgroup was removed */
		printf("oom\n");
		fflush(stdout);
	}
}
