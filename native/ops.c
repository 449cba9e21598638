/* ops.c — one function per plan operation. Each does exactly what the plan says and
 * reports a failure at the failing call; none decides anything. */
#include "init.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/openat2.h>
#include <pty.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>

#ifndef MOUNT_ATTR_RDONLY
struct mount_attr {
	uint64_t attr_set;
	uint64_t attr_clr;
	uint64_t propagation;
	uint64_t userns_fd;
};
#endif
#define BERTH_AT_RECURSIVE 0x8000
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#define OPEN_TREE_CLOEXEC O_CLOEXEC
#endif
#ifndef MOUNT_ATTR_IDMAP
#define MOUNT_ATTR_IDMAP 0x00100000
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#define MOVE_MOUNT_T_EMPTY_PATH 0x00000040
#endif

static void procfd_path(char *buf, size_t len, int fd)
{
	snprintf(buf, len, "/proc/self/fd/%d", fd);
}

static int openat2_root(const char *path, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	while (*path == '/')
		path++;
	if (*path == '\0')
		path = ".";
	return (int)syscall(SYS_openat2, ctx.root_fd, path, &how, sizeof(how));
}

/* Open `path` inside the container root, never leaving it, whatever symlinks the image
 * holds (RESOLVE_IN_ROOT). create_kind: 0 do not create, 1 create dirs, 2 create the
 * final component as an empty file. Returns an fd or fails the stage. */
int open_in_root(const char *path, int create_kind, int final_flags)
{
	int fd = openat2_root(path, final_flags);
	if (fd >= 0 || errno != ENOENT || create_kind == 0)
		return fd;

	char prefix[4096];
	size_t plen = strlen(path);
	if (plen >= sizeof(prefix))
		fail("open", ENAMETOOLONG, path);
	int parent = openat2_root("/", O_PATH | O_DIRECTORY);
	if (parent < 0)
		fail("open", errno, "/");
	const char *p = path;
	size_t used = 0;
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		const char *end = strchr(p, '/');
		size_t clen = end ? (size_t)(end - p) : strlen(p);
		int last = end == NULL || end[strspn(end, "/")] == '\0';
		char comp[256];
		if (clen >= sizeof(comp))
			fail("open", ENAMETOOLONG, path);
		memcpy(comp, p, clen);
		comp[clen] = '\0';
		prefix[used++] = '/';
		memcpy(prefix + used, comp, clen);
		used += clen;
		prefix[used] = '\0';
		int next = openat2_root(prefix, last ? final_flags : O_PATH | O_DIRECTORY);
		if (next < 0 && errno == ENOENT) {
			if (last && create_kind == 2) {
				int f = openat(parent, comp, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
				if (f < 0 && errno != EEXIST)
					fail("create", errno, prefix);
				if (f >= 0)
					close(f);
			} else if (mkdirat(parent, comp, 0755) < 0 && errno != EEXIST) {
				fail("mkdir", errno, prefix);
			}
			next = openat2_root(prefix, last ? final_flags : O_PATH | O_DIRECTORY);
		}
		if (next < 0)
			fail("open", errno, prefix);
		close(parent);
		parent = next;
		p += clen;
	}
	return parent;
}

static void remount_with_flags(int fd, unsigned long flags, const char *where)
{
	char target[64];
	procfd_path(target, sizeof(target), fd);
	if (mount(NULL, target, NULL, flags | MS_REMOUNT | MS_BIND, NULL) == 0)
		return;
	if (errno != EPERM)
		fail("remount", errno, where);
	/* locked flags of the source (in a user namespace) must be kept: add them and retry */
	struct statvfs st;
	if (fstatvfs(fd, &st) < 0)
		fail("statvfs", errno, where);
	unsigned long locked = st.f_flag & (ST_NOSUID | ST_NODEV | ST_NOEXEC | ST_RDONLY | ST_NOATIME | ST_NODIRATIME | ST_RELATIME);
	if (mount(NULL, target, NULL, flags | locked | MS_REMOUNT | MS_BIND, NULL) < 0)
		fail("remount", errno, where);
}

/* tmpcopyup: what `src` (the directory under the new mount) held, copied into `dst` (the new
 * mount): directories, files, symlinks (never followed), device nodes and fifos, with their
 * owners, modes and times. Everything is reached through fds with O_NOFOLLOW. */
static void copy_tree(int src, int dst, const char *dest, int depth)
{
	if (depth > 256)
		fail_msg("tmpcopyup", ELOOP, dest, "directories nested too deep to copy");
	int dup_fd = fcntl(src, F_DUPFD_CLOEXEC, 3);
	DIR *dir = dup_fd < 0 ? NULL : fdopendir(dup_fd);
	if (!dir)
		fail("opendir", errno, dest);
	struct dirent *e;
	while ((e = readdir(dir))) {
		const char *name = e->d_name;
		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			continue;
		struct stat st;
		if (fstatat(src, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			fail("stat", errno, dest);
		mode_t perm = st.st_mode & 07777;
		if (S_ISDIR(st.st_mode)) {
			if (mkdirat(dst, name, 0700) < 0)
				fail("mkdir", errno, dest);
			int s = openat(src, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			int d = openat(dst, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (s < 0 || d < 0)
				fail("open", errno, dest);
			copy_tree(s, d, dest, depth + 1);
			close(s);
			close(d);
		} else if (S_ISREG(st.st_mode)) {
			int s = openat(src, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			int d = openat(dst, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
			if (s < 0 || d < 0)
				fail("open", errno, dest);
			for (off_t left = st.st_size; left > 0;) {
				ssize_t n = copy_file_range(s, NULL, d, NULL, (size_t)left, 0);
				if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL))
					n = sendfile(d, s, NULL, (size_t)left);
				if (n < 0)
					fail("copy", errno, dest);
				if (n == 0)
					break; /* it shrank meanwhile */
				left -= n;
			}
			close(s);
			close(d);
		} else if (S_ISLNK(st.st_mode)) {
			char target[4096];
			ssize_t n = readlinkat(src, name, target, sizeof(target) - 1);
			if (n < 0)
				fail("readlink", errno, dest);
			target[n] = '\0';
			if (symlinkat(target, dst, name) < 0)
				fail("symlink", errno, dest);
		} else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) || S_ISFIFO(st.st_mode)) {
			if (mknodat(dst, name, st.st_mode & S_IFMT, st.st_rdev) < 0)
				fail("mknod", errno, dest);
		} else {
			continue; /* sockets are not content */
		}
		if (fchownat(dst, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
			fail("chown", errno, dest);
		/* after chown, which clears set-id bits */
		if (!S_ISLNK(st.st_mode) && fchmodat(dst, name, perm, 0) < 0)
			fail("chmod", errno, dest);
		struct timespec times[2] = { st.st_atim, st.st_mtim };
		if (utimensat(dst, name, times, AT_SYMLINK_NOFOLLOW) < 0)
			fail("utimensat", errno, dest);
	}
	closedir(dir);
}

/* a user namespace holding only these maps, as an fd (its process is gone by return) */
static int userns_with_maps(const char *uid_map, const char *gid_map, const char *what)
{
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		fail("pipe", errno, what);
	pid_t pid = (pid_t)syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
	if (pid < 0)
		fail("clone", errno, "CLONE_NEWUSER (id map of a mount)");
	if (pid == 0) {
		char c;
		close(pipefd[1]);
		while (read(pipefd[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(pipefd[0]);
	char path[64];
	const char *files[2] = { "uid_map", "gid_map" }, *maps[2] = { uid_map, gid_map };
	int err = 0;
	for (int i = 0; i < 2 && !err; i++) {
		snprintf(path, sizeof(path), "/proc/%d/%s", pid, files[i]);
		int fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, maps[i], strlen(maps[i])) != (ssize_t)strlen(maps[i]))
			err = errno ? errno : EIO;
		if (fd >= 0)
			close(fd);
	}
	snprintf(path, sizeof(path), "/proc/%d/ns/user", pid);
	int ns = err ? -1 : open(path, O_RDONLY | O_CLOEXEC);
	if (!err && ns < 0)
		err = errno;
	close(pipefd[1]);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	if (err)
		fail("write", err, what);
	return ns;
}

void op_idmap_tree(const struct plan_op *op)
{
	uint64_t slot = arg_u64(op, 0);
	const char *source = arg_str(op, 1);
	int rec_tree = arg_u64(op, 2) != 0, rec_attr = arg_u64(op, 3) != 0;
	if (slot >= BERTH_MAX_IDMAP_TREES)
		fail_msg("idmap-mount", EINVAL, source, "too many id-mapped mounts");
	int ns = userns_with_maps(arg_str(op, 4), arg_str(op, 5), source);
	int tree = (int)syscall(SYS_open_tree, AT_FDCWD, source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (rec_tree ? BERTH_AT_RECURSIVE : 0));
	if (tree < 0)
		fail("open_tree", errno, source);
	struct mount_attr attr = { .attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t)ns };
	if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | (rec_attr ? BERTH_AT_RECURSIVE : 0), &attr, sizeof(attr)) < 0)
		fail("mount_setattr", errno, source);
	close(ns);
	ctx.idmap_trees[slot] = tree + 1;
}

static void op_mount(const struct plan_op *op)
{
	const char *source = arg_str(op, 0), *dest = arg_str(op, 1), *fstype = arg_str(op, 2);
	unsigned long flags = (unsigned long)arg_u64(op, 3);
	const char *data = arg_str(op, 4);
	unsigned long propagation = (unsigned long)arg_u64(op, 5);
	uint64_t attr_set = arg_u64(op, 6), attr_clr = arg_u64(op, 7);
	int kind = (int)arg_u64(op, 8);
	unsigned long remount = (unsigned long)arg_u64(op, 9);

	int is_file = kind & 1, copy_up = kind & 2, slot = (kind >> 8) - 1;
	int fd = open_in_root(dest, is_file ? 2 : 1, O_PATH);
	if (fd < 0)
		fail("open", errno, dest);
	/* tmpcopyup: this fd keeps reading the directory once the mount covers it */
	int lower = -1;
	if (copy_up) {
		char self[64];
		procfd_path(self, sizeof(self), fd);
		lower = open(self, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (lower < 0)
			fail("open", errno, dest);
	}
	char target[64];
	procfd_path(target, sizeof(target), fd);
	if (slot >= 0) {
		/* an id-mapped copy of the source the parent made: moved into place */
		int tree = slot < BERTH_MAX_IDMAP_TREES ? ctx.idmap_trees[slot] - 1 : -1;
		if (tree < 0)
			fail_msg("move_mount", EBADF, dest, "no id-mapped mount was prepared for it");
		if (syscall(SYS_move_mount, tree, "", fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
			fail("move_mount", errno, dest);
		close(tree);
		ctx.idmap_trees[slot] = 0;
	} else if (mount(*source ? source : NULL, target, *fstype ? fstype : NULL, flags, *data ? data : NULL) < 0) {
		int err = errno;
		char what[4200];
		snprintf(what, sizeof(what), "%s on %s", *source ? source : fstype, dest);
		fail("mount", err, what);
	}
	close(fd);
	/* the fd saw the directory under the new mount: reopen to reach the mount itself */
	fd = open_in_root(dest, 0, O_PATH);
	if (fd < 0)
		fail("open", errno, dest);
	procfd_path(target, sizeof(target), fd);
	if (lower >= 0) {
		int upper = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (upper < 0)
			fail("open", errno, dest);
		copy_tree(lower, upper, dest, 0);
		close(upper);
		close(lower);
	}
	if (remount)
		remount_with_flags(fd, remount, dest);
	for (unsigned long bit = MS_UNBINDABLE; bit <= MS_SHARED; bit <<= 1) {
		if (propagation & bit) {
			if (mount(NULL, target, NULL, bit | (propagation & MS_REC), NULL) < 0)
				fail("mount-propagation", errno, dest);
		}
	}
	if (attr_set || attr_clr) {
		struct mount_attr attr = { .attr_set = attr_set, .attr_clr = attr_clr };
		if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | BERTH_AT_RECURSIVE, &attr, sizeof(attr)) < 0)
			fail("mount_setattr", errno, dest);
	}
	close(fd);
}

/* split "a/b/c" into a parent fd inside the root (created) and the last name */
static int open_parent(const char *path, char *name, size_t namelen)
{
	char parent[4096];
	snprintf(parent, sizeof(parent), "%s", path);
	size_t len = strlen(parent);
	while (len > 1 && parent[len - 1] == '/')
		parent[--len] = '\0';
	char *slash = strrchr(parent, '/');
	const char *base = slash ? slash + 1 : parent;
	if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
		fail("open", EINVAL, path);
	snprintf(name, namelen, "%s", base);
	if (slash)
		*slash = '\0';
	else
		parent[0] = '\0';
	int fd = open_in_root(*parent ? parent : "/", 1, O_PATH | O_DIRECTORY);
	if (fd < 0)
		fail("open", errno, path);
	return fd;
}

static void op_mknod(const struct plan_op *op)
{
	const char *path = arg_str(op, 0);
	mode_t mode = (mode_t)arg_u64(op, 1);
	dev_t dev = makedev((unsigned)arg_u64(op, 2), (unsigned)arg_u64(op, 3));
	char name[256];
	int dir = open_parent(path, name, sizeof(name));
	struct stat st;
	if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode))
		unlinkat(dir, name, 0);
	if (mknodat(dir, name, mode, dev) < 0 && errno != EEXIST)
		fail("mknod", errno, path);
	if (fchownat(dir, name, (uid_t)arg_u64(op, 4), (gid_t)arg_u64(op, 5), AT_SYMLINK_NOFOLLOW) < 0)
		fail("chown", errno, path);
	/* mknod honours the umask: set the mode the plan asked for */
	int fd = openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	char target[64];
	procfd_path(target, sizeof(target), fd);
	if (fd < 0 || chmod(target, mode & 07777) < 0)
		fail("chmod", errno, path);
	close(fd);
	close(dir);
}

static void op_bind_dev(const struct plan_op *op)
{
	const char *host = arg_str(op, 0), *path = arg_str(op, 1);
	int fd = open_in_root(path, 2, O_PATH);
	if (fd < 0)
		fail("open", errno, path);
	char target[64];
	procfd_path(target, sizeof(target), fd);
	if (mount(host, target, NULL, MS_BIND, NULL) < 0)
		fail("mount", errno, path);
	close(fd);
}

static void op_symlink(const struct plan_op *op)
{
	const char *target = arg_str(op, 0), *path = arg_str(op, 1);
	char name[256];
	int dir = open_parent(path, name, sizeof(name));
	if (symlinkat(target, dir, name) < 0 && errno != EEXIST)
		fail("symlink", errno, path);
	close(dir);
}

static void op_rootfs(const struct plan_op *op)
{
	const char *rootfs = arg_str(op, 0);
	if (mount(rootfs, rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
		fail("mount", errno, rootfs);
	ctx.root_fd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (ctx.root_fd < 0)
		fail("open", errno, rootfs);
	ctx.host_proc_fd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (ctx.host_proc_fd < 0)
		fail("open", errno, "/proc");
}

static void reopen_root(void)
{
	close(ctx.root_fd);
	ctx.root_fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (ctx.root_fd < 0)
		fail("open", errno, "/");
}

static void op_pivot_root(void)
{
	if (fchdir(ctx.root_fd) < 0)
		fail("chdir", errno, "rootfs");
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		fail("pivot_root", errno, "rootfs");
	/* the old root is stacked under "."; keep its unmount from reaching the host */
	if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
		fail("mount", errno, "old root");
	if (umount2(".", MNT_DETACH) < 0)
		fail("umount2", errno, "old root");
	if (chdir("/") < 0)
		fail("chdir", errno, "/");
	reopen_root();
}

static void op_chroot(void)
{
	if (fchdir(ctx.root_fd) < 0)
		fail("chdir", errno, "rootfs");
	if (mount(".", "/", NULL, MS_MOVE, NULL) < 0)
		fail("mount-move", errno, "rootfs");
	if (chroot(".") < 0)
		fail("chroot", errno, "rootfs");
	if (chdir("/") < 0)
		fail("chdir", errno, "/");
	reopen_root();
}

static void op_mask(const struct plan_op *op)
{
	const char *path = arg_str(op, 0);
	int fd = open_in_root(path, 0, O_PATH);
	if (fd < 0) {
		if (errno == ENOENT)
			return;
		fail("open", errno, path);
	}
	struct stat st;
	if (fstat(fd, &st) < 0)
		fail("stat", errno, path);
	char target[64];
	procfd_path(target, sizeof(target), fd);
	int rc = S_ISDIR(st.st_mode) ? mount("tmpfs", target, "tmpfs", MS_RDONLY, "size=0k")
				     : mount("/dev/null", target, NULL, MS_BIND, NULL);
	if (rc < 0)
		fail("mount", errno, path);
	close(fd);
}

static void op_readonly(const struct plan_op *op)
{
	const char *path = arg_str(op, 0);
	int fd = open_in_root(path, 0, O_PATH);
	if (fd < 0) {
		if (errno == ENOENT)
			return;
		fail("open", errno, path);
	}
	char target[64];
	procfd_path(target, sizeof(target), fd);
	if (mount(target, target, NULL, MS_BIND | MS_REC, NULL) < 0)
		fail("mount", errno, path);
	close(fd);
	fd = open_in_root(path, 0, O_PATH);
	if (fd < 0)
		fail("open", errno, path);
	remount_with_flags(fd, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, path);
	close(fd);
}

static void write_file(const char *path, const char *content)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		fail("open", errno, path);
	size_t len = strlen(content);
	if (write(fd, content, len) != (ssize_t)len)
		fail("write", errno, path);
	close(fd);
}

static void op_console(const struct plan_op *op)
{
	struct winsize ws = { .ws_row = (unsigned short)arg_u64(op, 0), .ws_col = (unsigned short)arg_u64(op, 1) };
	uid_t uid = (uid_t)arg_u64(op, 2);
	int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0)
		fail("open", errno, "/dev/ptmx");
	if (unlockpt(master) < 0)
		fail("unlockpt", errno, "/dev/ptmx");
	char name[128];
	if (ptsname_r(master, name, sizeof(name)) != 0)
		fail("ptsname", errno, "/dev/ptmx");
	int slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (slave < 0)
		fail("open", errno, name);
	if (fchown(slave, uid, (gid_t)-1) < 0)
		fail("chown", errno, name);
	if ((ws.ws_row || ws.ws_col) && ioctl(slave, TIOCSWINSZ, &ws) < 0)
		fail("ioctl", errno, name);
	/* hand the master to whoever listens on the console socket, as runc does */
	send_fd(ctx.console_fd, master, name, strlen(name), "console socket");
	close(master);
	close(ctx.console_fd);
	ctx.console_fd = -1;
	for (int i = 0; i < 3; i++)
		if (dup3(slave, i, 0) < 0)
			fail("dup", errno, name);
	if (ioctl(0, TIOCSCTTY, 0) < 0)
		fail("ioctl", errno, "TIOCSCTTY");
	close(slave);
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
	ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	if (n < 0)
		fail("sendmsg", errno, what);
	/* the fd went with the first bytes; a stream socket takes the rest as it can */
	for (size_t off = (size_t)n; off < len; off += (size_t)n) {
		n = send(sock, (const char *)data + off, len - off, MSG_NOSIGNAL);
		if (n < 0)
			fail("send", errno, what);
	}
}

static void op_sched(const struct plan_op *op)
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

static void op_affinity(const struct plan_op *op)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	uint64_t n = arg_u64(op, 0);
	for (uint64_t i = 0; i < n; i++) {
		uint64_t cpu = arg_u64(op, 1 + i);
		if (cpu >= CPU_SETSIZE)
			fail_msg("sched_setaffinity", EINVAL, NULL, "CPU number out of range");
		CPU_SET((int)cpu, &set);
	}
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		fail("sched_setaffinity", errno, NULL);
}

static int connect_unix(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(addr.sun_path))
		fail("connect", ENAMETOOLONG, path);
	strcpy(addr.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		fail("connect", errno, path);
	return fd;
}

static void op_console_connect(const struct plan_op *op)
{
	ctx.console_fd = connect_unix(arg_str(op, 0));
}

static void op_setuid(const struct plan_op *op)
{
	uid_t uid = (uid_t)arg_u64(op, 0);
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		fail("prctl", errno, "PR_SET_KEEPCAPS");
	if (setresuid(uid, uid, uid) < 0)
		fail("setresuid", errno, NULL);
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
		fail("prctl", errno, "PR_SET_KEEPCAPS");
}

static void op_caps_bounding(const struct plan_op *op)
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

static void op_caps_set(const struct plan_op *op)
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

/* find the program as execvp would, in the container's own filesystem, before `start` */
static void op_resolve_exec(const struct plan_op *op)
{
	const char *prog = arg_str(op, 0), *path = arg_str(op, 1);
	if (strchr(prog, '/')) {
		snprintf(ctx.exec_path, sizeof(ctx.exec_path), "%s", prog);
	} else {
		int found = 0, denied = 0;
		const char *p = path;
		while (!found) {
			const char *end = strchr(p, ':');
			size_t len = end ? (size_t)(end - p) : strlen(p);
			snprintf(ctx.exec_path, sizeof(ctx.exec_path), "%.*s/%s", (int)len, len ? p : ".", prog);
			struct stat st;
			if (stat(ctx.exec_path, &st) == 0 && S_ISREG(st.st_mode)) {
				if (access(ctx.exec_path, X_OK) == 0)
					found = 1;
				else
					denied = 1;
			}
			if (!end)
				break;
			p = end + 1;
		}
		if (!found)
			fail_msg("exec", denied ? EACCES : ENOENT, prog,
				 denied ? "permission denied" : "executable file not found in $PATH");
		return;
	}
	struct stat st;
	if (stat(ctx.exec_path, &st) < 0)
		fail("exec", errno, prog);
	if (!S_ISREG(st.st_mode))
		fail_msg("exec", EACCES, prog, "not a regular file");
	if (access(ctx.exec_path, X_OK) < 0)
		fail("exec", errno, prog);
}

static void op_exec_wait(void)
{
	char path[64];
	snprintf(path, sizeof(path), "self/fd/%d", ctx.fifo_fd);
	int fd = openat(ctx.host_proc_fd, path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		fail("open", errno, "exec fifo");
	if (write(fd, "0", 1) != 1)
		fail("write", errno, "exec fifo");
	close(fd);
	close(ctx.fifo_fd);
	close(ctx.host_proc_fd);
	ctx.fifo_fd = ctx.host_proc_fd = -1;
}

static char **collect_strings(const struct plan_op *op, unsigned *pos)
{
	unsigned n = (unsigned)arg_u64(op, (*pos)++);
	char **list = calloc(n + 1, sizeof(char *));
	if (!list)
		fail("exec", ENOMEM, NULL);
	for (unsigned i = 0; i < n; i++)
		list[i] = (char *)arg_str(op, (*pos)++);
	return list;
}

static void op_exec(const struct plan_op *op)
{
	unsigned pos = 0;
	char **argv = collect_strings(op, &pos);
	char **envp = collect_strings(op, &pos);
	/* signals the runtime blocked or ignored must not leak into the container */
	sigset_t all;
	sigemptyset(&all);
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	sigprocmask(SIG_SETMASK, &all, NULL);
	execve(ctx.exec_path, argv, envp);
	fail("exec", errno, argv[0]);
}

static void op_run_hook(const struct plan_op *op)
{
	unsigned pos = 0;
	const char *path = arg_str(op, pos++);
	uint64_t timeout = arg_u64(op, pos++);
	char **argv = collect_strings(op, &pos);
	char **envp = collect_strings(op, &pos);
	int in[2];
	if (pipe2(in, O_CLOEXEC) < 0)
		fail("pipe", errno, path);
	pid_t pid = fork();
	if (pid < 0)
		fail("fork", errno, path);
	if (pid == 0) {
		dup2(in[0], 0);
		execve(path, argv, envp);
		_exit(127);
	}
	close(in[0]);
	const char *state = ctx.state_json ? ctx.state_json : "{}";
	ssize_t unused = write(in[1], state, strlen(state));
	(void)unused;
	close(in[1]);
	int status = 0;
	struct timespec start, now, nap = { 0, 1000000 };
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			break;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (timeout && (uint64_t)(now.tv_sec - start.tv_sec) >= timeout) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			fail_msg("hook", ETIMEDOUT, path, "hook timed out");
		}
		nanosleep(&nap, NULL);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		char msg[128];
		snprintf(msg, sizeof(msg), "hook failed with %s %d", WIFEXITED(status) ? "exit status" : "signal",
			 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
		fail_msg("hook", 0, path, msg);
	}
}

static void op_hooks(const struct plan_op *op)
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
}

void run_op(const struct plan_op *op)
{
	switch (op->code) {
	case OP_BECOME_ROOT:
		if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
			fail("setresuid", errno, NULL);
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
	case OP_MKDIR: {
		int fd = open_in_root(arg_str(op, 0), 1, O_PATH | O_DIRECTORY);
		if (fd < 0)
			fail("mkdir", errno, arg_str(op, 0));
		close(fd);
		break;
	}
	case OP_MKNOD: op_mknod(op); break;
	case OP_BIND_DEV: op_bind_dev(op); break;
	case OP_SYMLINK: op_symlink(op); break;
	case OP_HOOKS: op_hooks(op); break;
	case OP_RUN_HOOK: op_run_hook(op); break;
	case OP_PIVOT_ROOT: op_pivot_root(); break;
	case OP_CHROOT: op_chroot(); break;
	case OP_MASK: op_mask(op); break;
	case OP_READONLY: op_readonly(op); break;
	case OP_REMOUNT_ROOT_RO:
		if (mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0) {
			struct statvfs st;
			unsigned long locked = statvfs("/", &st) == 0 ? st.f_flag & (ST_NOSUID | ST_NODEV | ST_NOEXEC) : 0;
			if (mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | locked, NULL) < 0)
				fail("remount", errno, "/");
		}
		break;
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
		char buf[32];
		snprintf(buf, sizeof(buf), "%lld", (long long)(int64_t)arg_u64(op, 0));
		write_file("/proc/self/oom_score_adj", buf);
		break;
	}
	case OP_RLIMIT: {
		struct rlimit rl = { .rlim_cur = (rlim_t)arg_u64(op, 1), .rlim_max = (rlim_t)arg_u64(op, 2) };
		if (setrlimit((int)arg_u64(op, 0), &rl) < 0)
			fail_msg("setrlimit", errno, arg_str(op, 3),
				 errno == EPERM ? "raising a hard limit needs CAP_SYS_RESOURCE (and at most fs.nr_open for RLIMIT_NOFILE)" : NULL);
		break;
	}
	case OP_CONSOLE_CONNECT: op_console_connect(op); break;
	case OP_SECCOMP_LISTENER: ctx.seccomp_listener_fd = connect_unix(arg_str(op, 0)); break;
	case OP_SECCOMP_NOTIFY_SEND: seccomp_notify_send(op); break;
	case OP_IDMAP_TREE: op_idmap_tree(op); break;
	case OP_CONSOLE: op_console(op); break;
	case OP_EXEC_FIFO:
		ctx.fifo_fd = open(arg_str(op, 0), O_PATH | O_CLOEXEC);
		if (ctx.fifo_fd < 0)
			fail("open", errno, arg_str(op, 0));
		break;
	case OP_CHDIR:
		if (chdir(arg_str(op, 0)) < 0)
			fail("chdir", errno, arg_str(op, 0));
		break;
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
	case OP_SETGROUPS: {
		unsigned n = (unsigned)arg_u64(op, 0);
		gid_t *gids = calloc(n ? n : 1, sizeof(gid_t));
		if (!gids)
			fail("setgroups", ENOMEM, NULL);
		for (unsigned i = 0; i < n; i++)
			gids[i] = (gid_t)arg_u64(op, i + 1);
		if (setgroups(n, gids) < 0)
			fail("setgroups", errno, NULL);
		free(gids);
		break;
	}
	case OP_SETGID:
		if (setresgid((gid_t)arg_u64(op, 0), (gid_t)arg_u64(op, 0), (gid_t)arg_u64(op, 0)) < 0)
			fail("setresgid", errno, NULL);
		break;
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
	case OP_EXEC: op_exec(op); break;
	case OP_CLOSE_FDS:
		if (syscall(SYS_close_range, (unsigned)arg_u64(op, 0), ~0U, 4 /* CLOSE_RANGE_CLOEXEC */) < 0)
			fail("close_range", errno, NULL);
		break;
	default:
		fail_msg("plan", EPROTO, op_name(op->code), "operation not valid in the container's stage");
	}
}
