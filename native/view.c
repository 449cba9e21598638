/* view.c — `berth-init view`: one container's limits view (what lxcfs is, but one per container
 * and with sysinfo(2)). TypeScript decides which cgroup directories count; this reads them at
 * each read of a file and does the kernel's arithmetic.
 *
 *   berth-init view --dir DIR [--socket PATH] --cgroup-version 1|2 --memory DIR... --cpu DIR...
 *                   --cpuset DIR... --cpuacct DIR --blkio DIR --tasks FILE
 *
 * DIR gets a FUSE filesystem (fuse.berth-view) of the files berth binds over the container's
 * /proc/{meminfo,cpuinfo,stat,uptime,loadavg,swaps,diskstats} and /sys/devices/system/cpu/online.
 * --memory, --cpu and --cpuset list the container's cgroup directory first, then its ancestors:
 * the tightest limit counts. With --socket, the seccomp notify fd the runtime sends there
 * (linux.seccomp.listenerPath) is used to answer the container's sysinfo(2).
 *
 * Two processes: the keeper mounts DIR, holds the FUSE and seccomp fds, and starts the server
 * again when it dies, so a killed server costs a container nothing (its reads wait for the next
 * one; the load averages live in shared memory). fd 3 (a socket from the caller) gets "ready\n"
 * once mounted and then the container's init pid as text; the view ends with that process
 * (DIR is unmounted), or when fd 3 closes before a pid came (the create failed).
 */
#include "init.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/fuse.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#define MAX_DIRS 32
#define MAX_NOTIFY 64
#define SPIN_NS 50000ull
#define FILE_CAP (4u << 20) /* no cgroup or /proc file berth reads is near this */
/* The size the files claim (procfs says 0, but sendfile(2) and splice(2), which busybox's cat
 * uses, read a FUSE file through the page cache up to its size): more than any of them holds. */
#define VIEW_SIZE (1u << 20)
#define FSHIFT 11
#define FIXED_1 (1ul << FSHIFT)
#define HZ_TICKS 100ull /* USER_HZ, what /proc/stat counts in */

#if defined(__x86_64__)
#define NATIVE_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NATIVE_ARCH AUDIT_ARCH_AARCH64
#else
#define NATIVE_ARCH 0
#endif

struct dirs {
	const char *d[MAX_DIRS];
	int n;
};

static struct {
	int v2;
	const char *dir, *socket, *cpuacct, *blkio, *tasks;
	struct dirs mem, cpu, cpuset;
	uint64_t start_ns;        /* CLOCK_BOOTTIME when the view started: the container's uptime */
	int fuse_fd, listen_fd, keeper_sock;
	/* one notify fd per filter: the container's init and each process exec'd into it */
	int sfd[MAX_NOTIFY], nsfd;
	struct shared {           /* survives a server's death: the keeper maps it before fork */
		unsigned long avenrun[3];
	} *sh;
} v = { .fuse_fd = -1, .listen_fd = -1, .keeper_sock = -1 };

static void add_notify_fd(int fd)
{
	if (v.nsfd < MAX_NOTIFY)
		v.sfd[v.nsfd++] = fd;
	else
		close(fd); /* its process's sysinfo(2) gets ENOSYS */
}

static void drop_notify_fd(int i)
{
	close(v.sfd[i]);
	v.sfd[i] = v.sfd[--v.nsfd];
}

static void count_tasks(unsigned *running_out, unsigned *threads_out);

/* ---- text helpers ---- */

struct buf {
	char *p;
	size_t len, cap;
};

static void bput(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bput(struct buf *b, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if (b->p && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = (b->cap ? b->cap * 2 : 4096) + (size_t)n;
		char *p = realloc(b->p, cap);
		if (!p)
			return;
		b->p = p;
		b->cap = cap;
	}
}

static void bline(struct buf *b, const char *s, size_t n)
{
	bput(b, "%.*s\n", (int)n, s);
}

/* The files a view reads stay open: each read seeks to 0 and reads on (procfs and cgroup files
 * make their text anew at offset 0; a pread elsewhere would make it all again to find its
 * place), with no path walk; a file that does not exist is remembered. */
#define MAX_OPEN_FILES 64
static __thread struct {
	char *path;
	int fd; /* -1: does not exist */
} opened[MAX_OPEN_FILES];
static __thread int nopened;

static int file_fd(const char *path, int *owned)
{
	*owned = 0;
	for (int i = 0; i < nopened; i++)
		if (strcmp(opened[i].path, path) == 0)
			return opened[i].fd;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno != ENOENT)
		return -1;
	if (nopened < MAX_OPEN_FILES && (opened[nopened].path = strdup(path))) {
		opened[nopened++].fd = fd;
	} else {
		*owned = fd >= 0;
	}
	return fd;
}

/* The whole file, NUL-terminated (NULL when it cannot be read). */
static char *slurp(const char *dir, const char *name)
{
	char path[4096];
	snprintf(path, sizeof(path), name ? "%s/%s" : "%s", dir, name);
	int owned;
	int fd = file_fd(path, &owned);
	if (fd < 0)
		return NULL;
	size_t cap = 8192, len = 0;
	char *p = lseek(fd, 0, SEEK_SET) == 0 ? malloc(cap) : NULL;
	while (p) {
		ssize_t n = read(fd, p + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len + 1 == cap) {
			char *q = cap >= FILE_CAP ? NULL : realloc(p, cap * 2);
			if (!q)
				break;
			p = q;
			cap *= 2;
		}
	}
	if (owned)
		close(fd);
	if (p)
		p[len] = '\0';
	return p;
}

/* A number file: "max" (v2) counts as no limit. Returns 0 when read. */
static int read_num(const char *dir, const char *name, uint64_t *out)
{
	AUTO_FREE char *t = slurp(dir, name);
	if (!t || !*t)
		return -1;
	if (strncmp(t, "max", 3) == 0) {
		*out = UINT64_MAX;
		return 0;
	}
	char *end;
	long long n = strtoll(t, &end, 10);
	if (end == t)
		return -1;
	*out = n < 0 ? UINT64_MAX : (uint64_t)n;
	return 0;
}

/* "key value" lines (memory.stat, cpu.stat, cpuacct.stat); "key: value kB" (meminfo) too. */
static uint64_t keyed(const char *text, const char *key)
{
	size_t kl = strlen(key);
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, key, kl) == 0 && (p[kl] == ' ' || p[kl] == ':' || p[kl] == '\t'))
			return strtoull(p + kl + 1 + strspn(p + kl + 1, " \t:"), NULL, 10);
	return 0;
}

static uint64_t boottime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- the figures ---- */

struct mem {
	uint64_t total, usage, swap_total, swap_used;
	int swap_known;
	char *stat, *host;
};

static uint64_t stat_of(const struct mem *m, const char *v2key, const char *v1key)
{
	return m->stat ? keyed(m->stat, v.v2 ? v2key : v1key) : 0;
}

static void mem_read(struct mem *m)
{
	memset(m, 0, sizeof(*m));
	m->host = slurp("/proc/meminfo", NULL);
	uint64_t host_total = m->host ? keyed(m->host, "MemTotal") * 1024 : 0;
	uint64_t host_swap = m->host ? keyed(m->host, "SwapTotal") * 1024 : 0;
	uint64_t x, memsw = UINT64_MAX;
	m->total = host_total;
	for (int i = 0; i < v.mem.n; i++) {
		if (read_num(v.mem.d[i], v.v2 ? "memory.max" : "memory.limit_in_bytes", &x) == 0 && x < m->total)
			m->total = x;
		if (read_num(v.mem.d[i], v.v2 ? "memory.swap.max" : "memory.memsw.limit_in_bytes", &x) == 0) {
			m->swap_known |= i == 0;
			if (x < memsw)
				memsw = x;
		}
	}
	if (v.mem.n > 0) {
		read_num(v.mem.d[0], v.v2 ? "memory.current" : "memory.usage_in_bytes", &m->usage);
		m->stat = slurp(v.mem.d[0], "memory.stat");
		if (m->swap_known) {
			uint64_t used = 0;
			read_num(v.mem.d[0], v.v2 ? "memory.swap.current" : "memory.memsw.usage_in_bytes", &used);
			/* v1 counts memory+swap together: the swap part is what passes the memory limit */
			uint64_t limit = v.v2 ? memsw : (memsw > m->total ? memsw - m->total : 0);
			m->swap_total = limit < host_swap ? limit : host_swap;
			m->swap_used = v.v2 ? used : (used > m->usage ? used - m->usage : 0);
			if (m->swap_used > m->swap_total)
				m->swap_used = m->swap_total;
		}
	}
	if (m->usage > m->total)
		m->usage = m->total;
}

static void mem_free(struct mem *m)
{
	free(m->stat);
	free(m->host);
}

/* The CPUs the container is shown: its cpuset, cut to ⌈quota/period⌉ when it has a quota. */
static int cpu_list(const char *text, int *ids, int max)
{
	int n = 0;
	for (const char *p = text; p && *p && n < max;) {
		char *end;
		long a = strtol(p, &end, 10), b = a;
		if (end == p)
			break;
		if (*end == '-')
			b = strtol(end + 1, &end, 10);
		for (long c = a; c <= b && n < max; c++)
			ids[n++] = (int)c;
		p = *end == ',' ? end + 1 : NULL;
	}
	return n;
}

#define MAX_CPUS 1024

static int visible_cpus(int *ids)
{
	int n = 0;
	for (int i = 0; i < v.cpuset.n && n == 0; i++) {
		AUTO_FREE char *t = slurp(v.cpuset.d[i], v.v2 ? "cpuset.cpus.effective" : "cpuset.effective_cpus");
		if (!t || !*t || *t == '\n') {
			free(t);
			t = v.v2 ? NULL : slurp(v.cpuset.d[i], "cpuset.cpus");
		}
		if (t && *t && *t != '\n')
			n = cpu_list(t, ids, MAX_CPUS);
	}
	if (n == 0) {
		AUTO_FREE char *t = slurp("/sys/devices/system/cpu/online", NULL);
		n = cpu_list(t, ids, MAX_CPUS);
	}
	uint64_t limit = UINT64_MAX;
	for (int i = 0; i < v.cpu.n; i++) {
		uint64_t quota = UINT64_MAX, period = 0;
		if (v.v2) {
			AUTO_FREE char *t = slurp(v.cpu.d[i], "cpu.max");
			if (t && strncmp(t, "max", 3) != 0) {
				char *end;
				quota = strtoull(t, &end, 10);
				period = strtoull(end, NULL, 10);
			}
		} else if (read_num(v.cpu.d[i], "cpu.cfs_quota_us", &quota) == 0) {
			read_num(v.cpu.d[i], "cpu.cfs_period_us", &period);
		}
		if (quota != UINT64_MAX && period > 0) {
			uint64_t cpus = (quota + period - 1) / period;
			if (cpus < limit)
				limit = cpus ? cpus : 1;
		}
	}
	if (n == 0)
		ids[n++] = 0;
	return limit < (uint64_t)n ? (int)limit : n;
}

/* Busy time per shown CPU, in USER_HZ ticks (usage on CPUs not shown is folded onto them). */
static void cpu_busy(int k, const int *ids, uint64_t *user, uint64_t *sys)
{
	memset(user, 0, sizeof(*user) * (size_t)k);
	memset(sys, 0, sizeof(*sys) * (size_t)k);
	if (v.v2) {
		AUTO_FREE char *t = v.cpuacct ? slurp(v.cpuacct, "cpu.stat") : NULL;
		uint64_t u = t ? keyed(t, "user_usec") * HZ_TICKS / 1000000 : 0;
		uint64_t s = t ? keyed(t, "system_usec") * HZ_TICKS / 1000000 : 0;
		for (int i = 0; i < k; i++) {
			user[i] = u / (uint64_t)k + (i == 0 ? u % (uint64_t)k : 0);
			sys[i] = s / (uint64_t)k + (i == 0 ? s % (uint64_t)k : 0);
		}
		return;
	}
	const char *names[2] = { "cpuacct.usage_percpu_user", "cpuacct.usage_percpu_sys" };
	uint64_t *into[2] = { user, sys };
	for (int w = 0; w < 2; w++) {
		AUTO_FREE char *t = v.cpuacct ? slurp(v.cpuacct, names[w]) : NULL;
		if (!t && w == 0)
			t = v.cpuacct ? slurp(v.cpuacct, "cpuacct.usage_percpu") : NULL;
		char *p = t, *end;
		for (int host = 0; p && *p; host++, p = end) {
			uint64_t ns = strtoull(p, &end, 10);
			if (end == p)
				break;
			int slot = host % k;
			for (int i = 0; i < k; i++)
				if (ids[i] == host)
					slot = i;
			into[w][slot] += ns * HZ_TICKS / 1000000000ull;
		}
	}
}

static uint64_t uptime_ticks(void)
{
	return (boottime_ns() - v.start_ns) * HZ_TICKS / 1000000000ull;
}

/* ---- the files ---- */

static void gen_meminfo(struct buf *b)
{
	struct mem m;
	mem_read(&m);
	uint64_t free_ = m.total - m.usage;
	uint64_t afile = stat_of(&m, "active_file", "total_active_file"), ifile = stat_of(&m, "inactive_file", "total_inactive_file");
	uint64_t aanon = stat_of(&m, "active_anon", "total_active_anon"), ianon = stat_of(&m, "inactive_anon", "total_inactive_anon");
	uint64_t sreclaim = stat_of(&m, "slab_reclaimable", "-"), sunreclaim = stat_of(&m, "slab_unreclaimable", "-");
	uint64_t avail = free_ + afile + ifile + sreclaim;
	struct {
		const char *key;
		uint64_t bytes;
	} rows[] = {
		{ "MemTotal", m.total }, { "MemFree", free_ }, { "MemAvailable", avail < m.total ? avail : m.total },
		{ "Buffers", 0 }, { "Cached", stat_of(&m, "file", "total_cache") }, { "SwapCached", stat_of(&m, "swapcached", "-") },
		{ "Active", aanon + afile }, { "Inactive", ianon + ifile }, { "Active(anon)", aanon }, { "Inactive(anon)", ianon },
		{ "Active(file)", afile }, { "Inactive(file)", ifile }, { "Unevictable", stat_of(&m, "unevictable", "total_unevictable") },
		{ "SwapTotal", m.swap_total }, { "SwapFree", m.swap_total - m.swap_used },
		{ "Zswap", stat_of(&m, "zswap", "-") }, { "Zswapped", stat_of(&m, "zswapped", "-") },
		{ "Dirty", stat_of(&m, "file_dirty", "total_dirty") }, { "Writeback", stat_of(&m, "file_writeback", "total_writeback") },
		{ "AnonPages", stat_of(&m, "anon", "total_rss") }, { "Mapped", stat_of(&m, "file_mapped", "total_mapped_file") },
		{ "Shmem", stat_of(&m, "shmem", "total_shmem") }, { "KReclaimable", sreclaim }, { "Slab", sreclaim + sunreclaim },
		{ "SReclaimable", sreclaim }, { "SUnreclaim", sunreclaim }, { "KernelStack", stat_of(&m, "kernel_stack", "-") },
		{ "PageTables", stat_of(&m, "pagetables", "-") }, { "AnonHugePages", stat_of(&m, "anon_thp", "total_rss_huge") },
		{ "ShmemHugePages", stat_of(&m, "shmem_thp", "-") }, { "FileHugePages", stat_of(&m, "file_thp", "-") },
	};
	for (const char *p = m.host; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		const char *colon = memchr(p, ':', len);
		size_t kl = colon ? (size_t)(colon - p) : 0;
		int done = 0;
		/* without swap accounting the host's swap lines stay */
		for (size_t i = 0; colon && i < sizeof(rows) / sizeof(rows[0]) && !done; i++) {
			if (strlen(rows[i].key) != kl || strncmp(rows[i].key, p, kl) != 0)
				continue;
			if (!m.swap_known && strncmp(p, "Swap", 4) == 0 && kl != 10)
				break;
			bput(b, "%-16.*s%8llu kB\n", (int)kl + 1, p, (unsigned long long)(rows[i].bytes / 1024));
			done = 1;
		}
		if (!done)
			bline(b, p, len);
		p = nl ? nl + 1 : NULL;
	}
	mem_free(&m);
}

static void gen_cpuinfo(struct buf *b)
{
	int ids[MAX_CPUS];
	int k = visible_cpus(ids);
	AUTO_FREE char *host = slurp("/proc/cpuinfo", NULL);
	if (!host)
		return;
	/* blocks start at "processor\t: N"; on architectures without them the file stays */
	if (strncmp(host, "processor", 9) != 0) {
		bput(b, "%s", host);
		return;
	}
	for (int i = 0; i < k; i++) {
		for (char *p = host; p; p = strstr(p + 1, "\nprocessor")) {
			char *line = *p == '\n' ? p + 1 : p;
			char *colon = strchr(line, ':');
			if (!colon || atoi(colon + 1) != ids[i])
				continue;
			char *end = strstr(line, "\n\n");
			char *nl = strchr(line, '\n');
			bput(b, "%.*s: %d\n", (int)(colon - line), line, i);
			if (nl && (!end || nl < end))
				bput(b, "%.*s\n\n", (int)((end ? end : line + strlen(line)) - nl - 1), nl + 1);
			else
				bput(b, "\n");
			break;
		}
	}
}

static void gen_online(struct buf *b)
{
	int ids[MAX_CPUS];
	int k = visible_cpus(ids);
	bput(b, k > 1 ? "0-%d\n" : "0\n", k - 1);
}

static void gen_stat(struct buf *b, uint64_t *idle_total)
{
	int ids[MAX_CPUS];
	int k = visible_cpus(ids);
	uint64_t user[MAX_CPUS], sys[MAX_CPUS], idle[MAX_CPUS], tu = 0, ts = 0, ti = 0, up = uptime_ticks();
	cpu_busy(k, ids, user, sys);
	for (int i = 0; i < k; i++) {
		idle[i] = up > user[i] + sys[i] ? up - user[i] - sys[i] : 0;
		tu += user[i], ts += sys[i], ti += idle[i];
	}
	if (idle_total) {
		*idle_total = ti;
		return;
	}
	bput(b, "cpu  %llu 0 %llu %llu 0 0 0 0 0 0\n", (unsigned long long)tu, (unsigned long long)ts, (unsigned long long)ti);
	for (int i = 0; i < k; i++)
		bput(b, "cpu%d %llu 0 %llu %llu 0 0 0 0 0 0\n", i, (unsigned long long)user[i], (unsigned long long)sys[i], (unsigned long long)idle[i]);
	AUTO_FREE char *host = slurp("/proc/stat", NULL);
	for (const char *p = host; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		if (strncmp(p, "cpu", 3) != 0)
			bline(b, p, len);
		p = nl ? nl + 1 : NULL;
	}
}

static void gen_uptime(struct buf *b)
{
	uint64_t idle = 0, up = uptime_ticks();
	gen_stat(b, &idle);
	bput(b, "%llu.%02llu %llu.%02llu\n", (unsigned long long)(up / HZ_TICKS), (unsigned long long)(up % HZ_TICKS),
	     (unsigned long long)(idle / HZ_TICKS), (unsigned long long)(idle % HZ_TICKS));
}

static void gen_loadavg(struct buf *b)
{
	AUTO_FREE char *host = slurp("/proc/loadavg", NULL);
	const char *last = host ? strrchr(host, ' ') : NULL;
	unsigned long a[3];
	unsigned running, threads;
	count_tasks(&running, &threads);
	for (int i = 0; i < 3; i++)
		a[i] = v.sh->avenrun[i] + FIXED_1 / 200;
#define LI(x) ((x) >> FSHIFT)
#define LF(x) LI(((x) & (FIXED_1 - 1)) * 100)
	bput(b, "%lu.%02lu %lu.%02lu %lu.%02lu %u/%u %d\n", LI(a[0]), LF(a[0]), LI(a[1]), LF(a[1]), LI(a[2]), LF(a[2]),
	     running, threads, last ? atoi(last + 1) : 0);
}

static void gen_swaps(struct buf *b)
{
	struct mem m;
	mem_read(&m);
	if (!m.swap_known) {
		AUTO_FREE char *host = slurp("/proc/swaps", NULL);
		bput(b, "%s", host ? host : "");
	} else {
		bput(b, "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n");
		if (m.swap_total > 0)
			bput(b, "none\t\t\t\t\tvirtual\t\t%llu\t\t%llu\t\t0\n", (unsigned long long)(m.swap_total / 1024),
			     (unsigned long long)(m.swap_used / 1024));
	}
	mem_free(&m);
}

/* v1 blkio "MAJ:MIN Read N" lines, or v2 io.stat "MAJ:MIN rbytes=N …" */
static uint64_t io_of(const char *text, const char *dev, const char *v1op, const char *v2key)
{
	size_t dl = strlen(dev);
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, dev, dl) != 0 || p[dl] != ' ')
			continue;
		const char *nl = strchr(p, '\n');
		if (v.v2) {
			const char *at = strstr(p, v2key);
			return at && (!nl || at < nl) ? strtoull(at + strlen(v2key), NULL, 10) : 0;
		}
		if (strncmp(p + dl + 1, v1op, strlen(v1op)) == 0)
			return strtoull(p + dl + 1 + strlen(v1op), NULL, 10);
	}
	return 0;
}

static void gen_diskstats(struct buf *b)
{
	AUTO_FREE char *host = slurp("/proc/diskstats", NULL);
	AUTO_FREE char *bytes = v.blkio ? slurp(v.blkio, v.v2 ? "io.stat" : "blkio.throttle.io_service_bytes_recursive") : NULL;
	AUTO_FREE char *ios = v.blkio && !v.v2 ? slurp(v.blkio, "blkio.throttle.io_serviced_recursive") : NULL;
	for (const char *p = host; p && *p;) {
		const char *nl = strchr(p, '\n');
		unsigned maj, min;
		char name[64];
		int fields = 0;
		if (sscanf(p, "%u %u %63s", &maj, &min, name) == 3) {
			for (const char *q = p; q < (nl ? nl : p + strlen(p)); q++)
				fields += (*q != ' ' && (q == p || q[-1] == ' '));
			char dev[32];
			snprintf(dev, sizeof(dev), "%u:%u", maj, min);
			uint64_t rb = io_of(bytes, dev, "Read ", "rbytes="), wb = io_of(bytes, dev, "Write ", "wbytes=");
			uint64_t rn = io_of(v.v2 ? bytes : ios, dev, "Read ", "rios="), wn = io_of(v.v2 ? bytes : ios, dev, "Write ", "wios=");
			if (rb || wb || rn || wn) {
				bput(b, "%4u %7u %s %llu 0 %llu 0 %llu 0 %llu 0", maj, min, name, (unsigned long long)rn, (unsigned long long)(rb / 512),
				     (unsigned long long)wn, (unsigned long long)(wb / 512));
				for (int i = 11; i < fields; i++)
					bput(b, " 0");
				bput(b, "\n");
			}
		}
		p = nl ? nl + 1 : NULL;
	}
}

/* ---- load averages: the kernel's calc_load over the container's own tasks, every 5 s ---- */

static unsigned long calc_load(unsigned long load, unsigned long exp, unsigned long active)
{
	unsigned long n = load * exp + active * (FIXED_1 - exp);
	if (active >= load)
		n += FIXED_1 - 1;
	return n / FIXED_1;
}

/* The container's threads, and how many of them run or wait on I/O (what the kernel counts). */
static void count_tasks(unsigned *running_out, unsigned *threads_out)
{
	AUTO_FREE char *tasks = v.tasks ? slurp(v.tasks, NULL) : NULL;
	unsigned running = 0, threads = 0;
	for (char *p = tasks, *end; p && *p; p = end) {
		long tid = strtol(p, &end, 10);
		if (end == p)
			break;
		threads++;
		char path[64], st[512];
		snprintf(path, sizeof(path), "/proc/%ld/stat", tid);
		AUTO_FD fd = open(path, O_RDONLY | O_CLOEXEC);
		ssize_t n = fd < 0 ? -1 : read(fd, st, sizeof(st) - 1);
		if (n <= 0)
			continue;
		st[n] = '\0';
		const char *rp = strrchr(st, ')');
		if (rp && (rp[2] == 'R' || rp[2] == 'D'))
			running++;
	}
	*running_out = running;
	*threads_out = threads;
}

static void sample_load(void)
{
	unsigned running, threads;
	count_tasks(&running, &threads);
	static const unsigned long exps[3] = { 1884, 2014, 2037 }; /* EXP_1, EXP_5, EXP_15 */
	for (int i = 0; i < 3; i++)
		v.sh->avenrun[i] = calc_load(v.sh->avenrun[i], exps[i], running * FIXED_1);
}

/* ---- sysinfo(2) through seccomp user notification ---- */

static void answer_sysinfo(int sfd)
{
	struct seccomp_notif req;
	memset(&req, 0, sizeof(req));
	if (ioctl(sfd, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0)
		return;
	struct seccomp_notif_resp resp = { .id = req.id };
	if (req.data.nr != SYS_sysinfo || req.data.arch != NATIVE_ARCH) {
		resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
	} else {
		struct mem m;
		mem_read(&m);
		struct sysinfo si;
		memset(&si, 0, sizeof(si));
		si.uptime = (long)(uptime_ticks() / HZ_TICKS);
		for (int i = 0; i < 3; i++)
			si.loads[i] = v.sh->avenrun[i] << (SI_LOAD_SHIFT - FSHIFT);
		si.totalram = m.total;
		si.freeram = m.total - m.usage;
		si.sharedram = stat_of(&m, "shmem", "total_shmem");
		si.totalswap = m.swap_known ? m.swap_total : (m.host ? keyed(m.host, "SwapTotal") * 1024 : 0);
		si.freeswap = m.swap_known ? m.swap_total - m.swap_used : (m.host ? keyed(m.host, "SwapFree") * 1024 : 0);
		unsigned running, threads;
		count_tasks(&running, &threads);
		si.procs = (unsigned short)(threads > 65535 ? 65535 : threads);
		si.mem_unit = 1;
		mem_free(&m);
		struct iovec local = { &si, sizeof(si) }, remote = { (void *)(uintptr_t)req.data.args[0], sizeof(si) };
		/* the pid is still the caller only while its notification is pending: check, then write */
		if (ioctl(sfd, SECCOMP_IOCTL_NOTIF_ID_VALID, &req.id) < 0)
			return;
		if (process_vm_writev((pid_t)req.pid, &local, 1, &remote, 1, 0) != (ssize_t)sizeof(si))
			resp.error = -EFAULT;
	}
	ioctl(sfd, SECCOMP_IOCTL_NOTIF_SEND, &resp);
}

/* The runtime connects to --socket early (while host paths are reachable) and sends the state
 * and the notify fd once the filter is loaded (OCI listenerPath): never wait for it here, the
 * container's set-up reads the view's files meanwhile. */
static void receive_listener(int conn)
{
	char data[8192];
	union {
		char buf[CMSG_SPACE(sizeof(int) * 4)];
		struct cmsghdr align;
	} c;
	struct iovec iov = { data, sizeof(data) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf, .msg_controllen = sizeof(c.buf) };
	if (recvmsg(conn, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT) < 0)
		return;
	for (struct cmsghdr *h = CMSG_FIRSTHDR(&msg); h; h = CMSG_NXTHDR(&msg, h)) {
		if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
			continue;
		int n = (int)((h->cmsg_len - CMSG_LEN(0)) / sizeof(int)), fds[4];
		memcpy(fds, CMSG_DATA(h), sizeof(int) * (size_t)(n > 4 ? 4 : n));
		for (int i = 0; i < n && i < 4; i++) {
			add_notify_fd(fds[i]);
			/* the keeper keeps a copy for the next server */
			struct msghdr out = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf, .msg_controllen = CMSG_SPACE(sizeof(int)) };
			iov.iov_len = 1;
			struct cmsghdr *oh = CMSG_FIRSTHDR(&out);
			oh->cmsg_level = SOL_SOCKET, oh->cmsg_type = SCM_RIGHTS, oh->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(oh), &fds[i], sizeof(int));
			sendmsg(v.keeper_sock, &out, MSG_NOSIGNAL);
		}
	}
}

/* ---- FUSE ---- */

static const char *const FILES[] = { "meminfo", "cpuinfo", "stat", "uptime", "loadavg", "swaps", "diskstats", "cpu-online" };
#define NFILES (sizeof(FILES) / sizeof(FILES[0]))
#define ROOT_ID FUSE_ROOT_ID

static void reply(uint64_t unique, int error, const void *data, size_t len)
{
	struct fuse_out_header h = { .len = (uint32_t)(sizeof(h) + (error ? 0 : len)), .error = error, .unique = unique };
	struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)data, error ? 0 : len } };
	writev(v.fuse_fd, iov, 2);
}

static void attr_of(uint64_t node, struct fuse_attr *a)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	memset(a, 0, sizeof(*a));
	a->ino = node;
	a->mode = node == ROOT_ID ? (S_IFDIR | 0555) : (S_IFREG | 0444);
	a->nlink = node == ROOT_ID ? 2 : 1;
	a->atime = a->mtime = a->ctime = (uint64_t)now.tv_sec;
	a->blksize = 4096;
	a->size = node == ROOT_ID ? 0 : VIEW_SIZE;
}

/* A read through the page cache that comes up short sets the file's size to what it read: at
 * each open the size is set back (a store of nothing at its end: no page is touched), or a later
 * sendfile(2) would cut a text that grew. */
static void restore_size(uint64_t node)
{
	struct fuse_out_header h = { .len = sizeof(h) + sizeof(struct fuse_notify_store_out), .error = FUSE_NOTIFY_STORE };
	struct fuse_notify_store_out st = { .nodeid = node, .offset = VIEW_SIZE, .size = 0 };
	struct iovec iov[2] = { { &h, sizeof(h) }, { &st, sizeof(st) } };
	writev(v.fuse_fd, iov, 2);
}

/* Open files at once: each holds its text in the view (outside the container's memory limit),
 * so a container holding more gets ENFILE rather than the host's memory. */
#define MAX_HANDLES 4096
static unsigned handles;

/* one open file: its text, made at open and again at each read from offset 0 */
struct handle {
	unsigned file;
	struct buf text;
};

static void generate(struct handle *h)
{
	h->text.len = 0;
	switch (h->file) {
	case 0: gen_meminfo(&h->text); break;
	case 1: gen_cpuinfo(&h->text); break;
	case 2: gen_stat(&h->text, NULL); break;
	case 3: gen_uptime(&h->text); break;
	case 4: gen_loadavg(&h->text); break;
	case 5: gen_swaps(&h->text); break;
	case 6: gen_diskstats(&h->text); break;
	default: gen_online(&h->text); break;
	}
}

static int fuse_request(char *req, size_t len)
{
	struct fuse_in_header *in = (struct fuse_in_header *)req;
	void *arg = req + sizeof(*in);
	if (len < sizeof(*in) || in->len > len)
		return 0;
	switch (in->opcode) {
	case FUSE_INIT: {
		struct fuse_init_in *ii = arg;
		struct fuse_init_out o = { .major = FUSE_KERNEL_VERSION, .minor = FUSE_KERNEL_MINOR_VERSION, .max_write = 4096 };
		if (ii->major == FUSE_KERNEL_VERSION && ii->minor < o.minor)
			o.minor = ii->minor;
		o.max_readahead = ii->max_readahead;
		o.max_background = 16;
		o.congestion_threshold = 12;
		o.time_gran = 1;
		reply(in->unique, ii->major == FUSE_KERNEL_VERSION ? 0 : -EPROTO, &o, sizeof(o));
		return 0;
	}
	case FUSE_LOOKUP: {
		const char *name = arg;
		for (unsigned i = 0; in->nodeid == ROOT_ID && i < NFILES; i++) {
			if (strcmp(name, FILES[i]) != 0)
				continue;
			struct fuse_entry_out e = { .nodeid = i + 2, .generation = 1, .entry_valid = 86400, .attr_valid = 86400 };
			attr_of(i + 2, &e.attr);
			reply(in->unique, 0, &e, sizeof(e));
			return 0;
		}
		reply(in->unique, -ENOENT, NULL, 0);
		return 0;
	}
	case FUSE_GETATTR: {
		struct fuse_attr_out o = { .attr_valid = 86400 };
		attr_of(in->nodeid, &o.attr);
		reply(in->unique, in->nodeid <= NFILES + 1 ? 0 : -ENOENT, &o, sizeof(o));
		return 0;
	}
	case FUSE_OPEN: {
		struct fuse_open_in *oi = arg;
		if (in->nodeid < 2 || in->nodeid > NFILES + 1 || (oi->flags & O_ACCMODE) != O_RDONLY) {
			reply(in->unique, in->nodeid < 2 ? -EISDIR : -EACCES, NULL, 0);
			return 0;
		}
		struct handle *h = handles < MAX_HANDLES ? calloc(1, sizeof(*h)) : NULL;
		if (!h) {
			reply(in->unique, handles < MAX_HANDLES ? -ENOMEM : -ENFILE, NULL, 0);
			return 0;
		}
		handles++;
		h->file = (unsigned)(in->nodeid - 2);
		restore_size(in->nodeid);
		/* direct I/O: every read comes here (the files have no size, as in procfs) */
		struct fuse_open_out o = { .fh = (uint64_t)(uintptr_t)h, .open_flags = FOPEN_DIRECT_IO };
		reply(in->unique, 0, &o, sizeof(o));
		return 0;
	}
	case FUSE_READ: {
		struct fuse_read_in *ri = arg;
		struct handle *h = (struct handle *)(uintptr_t)ri->fh;
		if (!h) {
			reply(in->unique, -EBADF, NULL, 0);
			return 0;
		}
		if (ri->offset == 0 || !h->text.p)
			generate(h);
		if (h->text.len > VIEW_SIZE)
			h->text.len = VIEW_SIZE;
		size_t off = ri->offset < h->text.len ? (size_t)ri->offset : h->text.len;
		size_t n = h->text.len - off < ri->size ? h->text.len - off : ri->size;
		reply(in->unique, 0, h->text.p ? h->text.p + off : "", n);
		return 0;
	}
	case FUSE_RELEASE: {
		struct fuse_release_in *ri = arg;
		struct handle *h = (struct handle *)(uintptr_t)ri->fh;
		if (h) {
			free(h->text.p);
			handles--;
		}
		free(h);
		reply(in->unique, 0, NULL, 0);
		return 0;
	}
	case FUSE_STATFS: {
		struct fuse_statfs_out o = { .st = { .bsize = 4096, .namelen = 255, .frsize = 4096 } };
		reply(in->unique, 0, &o, sizeof(o));
		return 0;
	}
	case FUSE_FORGET:
	case FUSE_BATCH_FORGET:
	case FUSE_INTERRUPT:
		return 0; /* no reply */
	case FUSE_DESTROY:
		return 1;
	case FUSE_FLUSH: /* ENOSYS: the kernel sends no flush again (one round trip less per close) */
	default:
		reply(in->unique, -ENOSYS, NULL, 0);
		return 0;
	}
}

/* The server's second thread: the load samples, the seccomp listener and sysinfo(2). */
static void *serve_others(void *unused)
{
	(void)unused;
	AUTO_FD timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	struct itimerspec every5 = { { 5, 0 }, { 5, 0 } };
	timerfd_settime(timer, 0, &every5, NULL);
	int conn = -1;
	for (;;) {
		struct pollfd p[3 + MAX_NOTIFY] = { { timer, POLLIN, 0 }, { conn < 0 ? v.listen_fd : -1, POLLIN, 0 }, { conn, POLLIN, 0 } };
		for (int i = 0; i < v.nsfd; i++)
			p[3 + i] = (struct pollfd){ v.sfd[i], POLLIN, 0 };
		int nfds = 3 + v.nsfd;
		if (poll(p, (nfds_t)nfds, -1) < 0) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		if (p[0].revents & POLLIN) {
			uint64_t ticks;
			if (read(timer, &ticks, sizeof(ticks)) > 0)
				sample_load();
		}
		if (p[1].revents & POLLIN)
			conn = accept4(v.listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (p[2].revents) {
			receive_listener(conn);
			close(conn);
			conn = -1;
		}
		for (int i = nfds - 1; i >= 3; i--) {
			if (p[i].revents & POLLIN)
				answer_sysinfo(v.sfd[i - 3]);
			else if (p[i].revents & (POLLHUP | POLLERR))
				drop_notify_fd(i - 3); /* no process uses that filter any more */
		}
	}
	return NULL;
}

/* The server: FUSE requests on this thread, read blocking (no poll between requests: each is
 * one wake-up and one read), everything else on a second one. */
static __attribute__((noreturn)) void serve(void)
{
	static char req[FUSE_MIN_READ_BUFFER * 2];
	pthread_t other;
	if (pthread_create(&other, NULL, serve_others, NULL) != 0)
		_exit(1);
	int fl = fcntl(v.fuse_fd, F_GETFL);
	fcntl(v.fuse_fd, F_SETFL, fl | O_NONBLOCK);
	uint64_t last = 0;
	release_setup_pages();
	for (;;) {
		ssize_t n = read(v.fuse_fd, req, sizeof(req));
		if (n < 0 && errno == EAGAIN) {
			/* a reader's requests come in bursts (open, read, read, release): wait for the
			 * next one awake a little while before sleeping */
			if (boottime_ns() - last < SPIN_NS)
				continue;
			struct pollfd p = { v.fuse_fd, POLLIN, 0 };
			poll(&p, 1, -1);
			continue;
		}
		if (n < 0 && errno == ENODEV)
			_exit(0); /* unmounted: the view is over */
		if (n > 0 && fuse_request(req, (size_t)n))
			_exit(0);
		last = boottime_ns();
	}
}

/* ---- the keeper ---- */

static int add_dir(struct dirs *d, const char *dir)
{
	if (d->n >= MAX_DIRS)
		return -1;
	d->d[d->n++] = dir;
	return 0;
}

static int parse_args(int argc, char **argv)
{
	for (int i = 0; i + 1 < argc; i += 2) {
		const char *f = argv[i], *a = argv[i + 1];
		int bad = 0;
		if (strcmp(f, "--dir") == 0)
			v.dir = a;
		else if (strcmp(f, "--socket") == 0)
			v.socket = a;
		else if (strcmp(f, "--cgroup-version") == 0)
			v.v2 = strcmp(a, "2") == 0;
		else if (strcmp(f, "--memory") == 0)
			bad = add_dir(&v.mem, a);
		else if (strcmp(f, "--cpu") == 0)
			bad = add_dir(&v.cpu, a);
		else if (strcmp(f, "--cpuset") == 0)
			bad = add_dir(&v.cpuset, a);
		else if (strcmp(f, "--cpuacct") == 0)
			v.cpuacct = a;
		else if (strcmp(f, "--blkio") == 0)
			v.blkio = a;
		else if (strcmp(f, "--tasks") == 0)
			v.tasks = a;
		else
			bad = 1;
		if (bad) {
			fprintf(stderr, "berth-init view: bad argument %s\n", f);
			return -1;
		}
	}
	if (!v.dir || argc % 2) {
		fprintf(stderr, "usage: berth-init view --dir DIR [--socket PATH] --cgroup-version 1|2 [--memory DIR]... [--cpu DIR]... "
				"[--cpuset DIR]... [--cpuacct DIR] [--blkio DIR] [--tasks FILE]\n");
		return -1;
	}
	return 0;
}

static int mount_view(void)
{
	if (mkdir(v.dir, 0711) < 0 && errno != EEXIST) {
		fprintf(stderr, "berth-init view: mkdir %s: %s\n", v.dir, strerror(errno));
		return -1;
	}
	v.fuse_fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (v.fuse_fd < 0) {
		fprintf(stderr, "berth-init view: /dev/fuse: %s\n", strerror(errno));
		return -1;
	}
	char opts[256];
	snprintf(opts, sizeof(opts), "fd=%d,rootmode=40555,user_id=0,group_id=0,allow_other,default_permissions", v.fuse_fd);
	if (mount("berth-view", v.dir, "fuse.berth-view", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, opts) < 0) {
		fprintf(stderr, "berth-init view: mount %s: %s\n", v.dir, strerror(errno));
		return -1;
	}
	return 0;
}

static int listen_on(const char *path)
{
	struct sockaddr_un a;
	AUTO_FD dir = unix_sockaddr(path, &a);
	unlink(path);
	int fd = dir == -2 ? -1 : socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || chmod(path, 0600) < 0 || listen(fd, 4) < 0) {
		fprintf(stderr, "berth-init view: listen on %s: %s\n", path, strerror(errno));
		return -1;
	}
	return fd;
}

static pid_t start_server(int pair[2])
{
	pid_t pid = fork();
	if (pid == 0) {
		close(pair[0]);
		v.keeper_sock = pair[1];
		signal(SIGTERM, SIG_DFL);
		serve();
	}
	return pid;
}

/* The keeper's end: a copy of the seccomp fd the server received. */
static void take_seccomp_copy(int sock)
{
	char b;
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} c;
	struct iovec iov = { &b, 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf, .msg_controllen = sizeof(c.buf) };
	if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT) <= 0)
		return;
	struct cmsghdr *h = CMSG_FIRSTHDR(&msg);
	if (h && h->cmsg_type == SCM_RIGHTS) {
		int fd;
		memcpy(&fd, CMSG_DATA(h), sizeof(int));
		add_notify_fd(fd);
	}
}

static void end_view(pid_t server)
{
	if (server > 0)
		kill(server, SIGKILL);
	umount2(v.dir, MNT_DETACH);
	if (v.socket)
		unlink(v.socket);
}

static volatile sig_atomic_t stop_asked;
static void ask_stop(int sig)
{
	(void)sig;
	stop_asked = 1;
}

int view_main(int argc, char **argv)
{
	/* errors go to the caller on the control socket, before "ready" */
	if (fcntl(3, F_GETFD) >= 0)
		dup2(3, 2);
	if (parse_args(argc, argv) < 0)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGCHLD, SIG_DFL); /* its servers are waited for (a copy of a parent stage may ignore it) */
	signal(SIGINT, SIG_DFL);
	/* SIGTERM (the runtime's delete): unmount and end */
	struct sigaction sa = { .sa_handler = ask_stop };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	v.start_ns = boottime_ns();
	v.sh = mmap(NULL, sizeof(*v.sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	const int ctl = 3;
	int pair[2];
	if (v.sh == MAP_FAILED || fcntl(ctl, F_SETFD, FD_CLOEXEC) < 0 || socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, pair) < 0) {
		perror("berth-init view");
		return 1;
	}
	if (v.socket && (v.listen_fd = listen_on(v.socket)) < 0)
		return 1;
	if (mount_view() < 0) {
		if (v.socket)
			unlink(v.socket);
		return 1;
	}
	pid_t server = start_server(pair);
	uint64_t started = boottime_ns();
	/* look each file up once now, while the runtime makes the cgroup: the container's binds then
	 * find them in the dentry cache, with no round trip to the server on its set-up path */
	for (size_t i = 0; server > 0 && i < NFILES; i++) {
		char path[4096];
		struct stat st;
		snprintf(path, sizeof(path), "%s/%s", v.dir, FILES[i]);
		stat(path, &st);
	}
	if (server < 0 || write_all(ctl, "ready\n", 6) < 0) {
		end_view(server);
		return 1;
	}
	int init_fd = -1, ctl_open = 1, server_fd = (int)syscall(SYS_pidfd_open, server, 0);
	char pidtext[32];
	size_t pidlen = 0;
	release_setup_pages();
	for (;;) {
		struct pollfd p[4 + MAX_NOTIFY] = { { ctl_open ? ctl : -1, POLLIN, 0 }, { init_fd, POLLIN, 0 }, { pair[0], POLLIN, 0 }, { server_fd, POLLIN, 0 } };
		for (int i = 0; i < v.nsfd; i++)
			p[4 + i] = (struct pollfd){ v.sfd[i], 0, 0 }; /* only its end (POLLHUP) */
		int nfds = 4 + v.nsfd;
		if (stop_asked)
			break;
		if (poll(p, (nfds_t)nfds, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents) {
			ssize_t n = read(ctl, pidtext + pidlen, sizeof(pidtext) - 1 - pidlen);
			if (n > 0) {
				pidlen += (size_t)n;
			} else {
				ctl_open = 0;
				close(ctl);
				pidtext[pidlen] = '\0';
				long pid = strtol(pidtext, NULL, 10);
				init_fd = pid > 0 ? (int)syscall(SYS_pidfd_open, (pid_t)pid, 0) : -1;
				if (init_fd < 0)
					break; /* no container (its create failed, or it is gone already) */
			}
		}
		if (p[1].revents)
			break; /* the container's init ended */
		for (int i = nfds - 1; i >= 4; i--)
			if (p[i].revents & (POLLHUP | POLLERR))
				drop_notify_fd(i - 4);
		if (p[2].revents)
			take_seccomp_copy(pair[0]);
		if (!p[3].revents)
			continue;
		int status;
		if (waitpid(server, &status, 0) != server || WIFEXITED(status)) {
			server = 0;
			break; /* unmounted from elsewhere, or FUSE_DESTROY */
		}
		/* killed: start another, at most one a second */
		close(server_fd);
		uint64_t now = boottime_ns();
		if (now - started < 1000000000ull)
			usleep((useconds_t)((1000000000ull - (now - started)) / 1000));
		started = boottime_ns();
		if ((server = start_server(pair)) < 0)
			break;
		server_fd = (int)syscall(SYS_pidfd_open, server, 0);
	}
	end_view(server);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	return 0;
}

/* OP_VIEW: the view forked from the parent stage (no exec: a copy of this small process), with
 * nothing of ours but its control socket; its "ready" (or its error) is waited for here. */
void op_view(const struct plan_op *op)
{
	unsigned pos = 0;
	AUTO_FREE char **argv = arg_list(op, &pos);
	int argc = 0;
	while (argv[argc])
		argc++;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		fail("socketpair", errno, "view");
	pid_t pid = fork();
	if (pid < 0)
		fail("fork", errno, "view");
	if (pid == 0) {
		setsid();
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (sv[1] == 3 ? fcntl(3, F_SETFD, 0) < 0 : dup2(sv[1], 3) < 0)
			_exit(1);
		if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0)
			_exit(1);
		close_fds_above(3);
		prctl(PR_SET_NAME, "berth-view", 0, 0, 0); /* what ps and top show */
		_exit(view_main(argc, argv));
	}
	close(sv[1]);
	char said[512];
	size_t len = 0;
	for (;;) {
		ssize_t n = read(sv[0], said + len, sizeof(said) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (memchr(said, '\n', len) || len == sizeof(said) - 1)
			break;
	}
	said[len] = '\0';
	if (strncmp(said, "ready\n", 6) != 0) {
		close(sv[0]);
		char *nl = strchr(said, '\n');
		if (nl)
			*nl = '\0';
		const char *why = strncmp(said, "berth-init view: ", 17) == 0 ? said + 17 : said;
		char message[600];
		snprintf(message, sizeof(message), "the limits view could not start: %s", *why ? why : "berth-init view ended");
		fail_msg("view", 0, NULL, message);
	}
	ctx.view_fd = sv[0];
	ctx.view_pid = pid;
}

/* `berth-init view-off PID TARGET…`: a view whose server is gone: unmount its files in the
 * container's mount namespace, so reads fall back to the kernel's own files. No exec: nothing of
 * the container's runs. */
int view_off_main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: berth-init view-off PID TARGET...\n");
		return 2;
	}
	char path[64];
	snprintf(path, sizeof(path), "/proc/%s/ns/mnt", argv[0]);
	AUTO_FD ns = open(path, O_RDONLY | O_CLOEXEC);
	if (ns < 0 || setns(ns, CLONE_NEWNS) < 0) {
		fprintf(stderr, "berth-init view-off: %s: %s\n", path, strerror(errno));
		return 1;
	}
	int rc = 0;
	for (int i = 1; i < argc; i++) {
		if (umount2(argv[i], MNT_DETACH | UMOUNT_NOFOLLOW) < 0 && errno != EINVAL && errno != ENOENT) {
			fprintf(stderr, "berth-init view-off: umount %s: %s\n", argv[i], strerror(errno));
			rc = 1;
		}
	}
	return rc;
}
