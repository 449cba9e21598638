/* fds.c — no file descriptor of the host reaches the container's process.
 *
 * A descriptor that stays open across the container's set-up is a way out of it: a working
 * directory or a program path through /proc/self/fd/N reaches whatever N is (CVE-2024-21626).
 * So the child closes every fd it did not get from the plan (stdio, preserved fds) or does not
 * still need itself, first thing, before anything of the container is resolved. */
#include "init.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC 4
#endif

void close_fdp(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

void free_ptr(void *p)
{
	free(*(void **)p);
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* the fds berth-init holds for its own later steps (the sync socket and ready pipe to the
 * runtime, the start socket, the console socket, the seccomp listener, prepared mounts) */
static size_t held_fds(int *out, size_t cap)
{
	size_t n = 0;
	int fds[] = { ctx.sync_fd, ctx.ready_pipe[1], ctx.start_fd, ctx.console_fd, ctx.seccomp_listener_fd, ctx.seccomp_notify_fd };
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]) && n < cap; i++)
		if (fds[i] >= 0)
			out[n++] = fds[i];
	for (int s = 0; s < BERTH_MAX_IDMAP_TREES && n < cap; s++)
		if (ctx.idmap_trees[s] > 0)
			out[n++] = ctx.idmap_trees[s] - 1;
	return n;
}

/* one syscall per range, or one close per fd where close_range is missing or refused */
static int close_range_or_each(unsigned lo, unsigned hi, unsigned flags)
{
	if (syscall(SYS_close_range, lo, hi, flags) == 0)
		return 0;
	if (errno != ENOSYS && errno != EPERM && errno != EACCES && errno != EINVAL)
		return -1;
	/* the kernel lacks it or a seccomp filter refuses it: walk the fds that are open */
	DIR *dir = opendir("/proc/self/fd");
	if (dir) {
		int self = dirfd(dir);
		struct dirent *e;
		while ((e = readdir(dir))) {
			char *end;
			long fd = strtol(e->d_name, &end, 10);
			if (*end || fd < 0 || fd == self || (unsigned long)fd < lo || (unsigned long)fd > hi)
				continue;
			if (flags & CLOSE_RANGE_CLOEXEC)
				fcntl((int)fd, F_SETFD, FD_CLOEXEC);
			else
				close((int)fd);
		}
		closedir(dir);
		return 0;
	}
	/* no /proc: every number up to the fd limit */
	struct rlimit rl;
	unsigned limit = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (1u << 20) ? (unsigned)rl.rlim_cur : (1u << 20);
	for (unsigned fd = lo; fd <= hi && fd < limit; fd++) {
		if (flags & CLOSE_RANGE_CLOEXEC)
			fcntl((int)fd, F_SETFD, FD_CLOEXEC);
		else
			close((int)fd);
	}
	return 0;
}

void close_host_fds(unsigned first)
{
	int keep[BERTH_MAX_IDMAP_TREES + 8];
	size_t n = held_fds(keep, sizeof(keep) / sizeof(keep[0]));
	qsort(keep, n, sizeof(int), cmp_int);
	unsigned lo = first;
	for (size_t i = 0; i < n; i++) {
		if (keep[i] < 0 || (unsigned)keep[i] < lo)
			continue;
		if ((unsigned)keep[i] > lo && close_range_or_each(lo, (unsigned)keep[i] - 1, 0) < 0)
			fail("close_range", errno, NULL);
		lo = (unsigned)keep[i] + 1;
	}
	if (close_range_or_each(lo, ~0U, 0) < 0)
		fail("close_range", errno, NULL);
}

void cloexec_from(unsigned first)
{
	if (close_range_or_each(first, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		fail("close_range", errno, NULL);
}

/* berth-init's own start: the launcher passes stdio, the container's preserved fds, then the
 * plan and sync fds, in that order; anything above them is the caller's by accident (an fd it
 * did not mark close-on-exec) and is closed, so that no process of berth-init's (the monitor
 * above all, which outlives its caller) holds a file, pipe or socket of the caller's. */
void close_fds_above(unsigned last)
{
	if (close_range_or_each(last + 1, ~0U, 0) < 0)
		fail("close_range", errno, NULL);
}
