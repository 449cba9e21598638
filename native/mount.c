/* mount.c — the container's root and its mounts: everything below the root is reached through
 * fds resolved inside it (fs.c), never through a path the image could redirect. */
#include "init.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
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
			AUTO_FD s = openat(src, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			AUTO_FD d = openat(dst, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (s < 0 || d < 0)
				fail("open", errno, dest);
			copy_tree(s, d, dest, depth + 1);
		} else if (S_ISREG(st.st_mode)) {
			AUTO_FD s = openat(src, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			AUTO_FD d = openat(dst, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
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
		AUTO_FD fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, maps[i], strlen(maps[i])) != (ssize_t)strlen(maps[i]))
			err = errno ? errno : EIO;
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

/* A detached copy of a bind source, made by the parent from the host's mount and user
 * namespaces (so a user-namespaced container needs no access to the source's path), id-mapped
 * when asked; the child moves it into place (OP_MOUNT). */
void op_bind_tree(const struct plan_op *op)
{
	uint64_t slot = arg_u64(op, 0);
	const char *source = arg_str(op, 1);
	int rec_tree = arg_u64(op, 2) != 0, idmap = arg_u64(op, 3) != 0, rec_attr = arg_u64(op, 4) != 0;
	if (slot >= BERTH_MAX_IDMAP_TREES)
		fail_msg("open_tree", EINVAL, source, "too many bind mounts prepared from the host");
	int tree = (int)syscall(SYS_open_tree, AT_FDCWD, source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (rec_tree ? BERTH_AT_RECURSIVE : 0));
	if (tree < 0)
		fail("open_tree", errno, source);
	if (idmap) {
		AUTO_FD ns = userns_with_maps(arg_str(op, 5), arg_str(op, 6), source);
		struct mount_attr attr = { .attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t)ns };
		if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | (rec_attr ? BERTH_AT_RECURSIVE : 0), &attr, sizeof(attr)) < 0)
			fail("mount_setattr", errno, source);
	}
	ctx.idmap_trees[slot] = tree + 1;
}

#ifndef FSOPEN_CLOEXEC
#define FSOPEN_CLOEXEC 0x00000001
#define FSMOUNT_CLOEXEC 0x00000001
#define FSCONFIG_CMD_CREATE 6
#endif
#ifndef MOUNT_ATTR_NOSUID
#define MOUNT_ATTR_NOSUID 0x00000002
#define MOUNT_ATTR_NOEXEC 0x00000008
#endif

/* In a helper's mount namespace of its own: a tmpfs attached there (over "/", reached only
 * through the returned fd), for mounts that must be attached to be cloned from or stacked on
 * (a detached mount is neither on older kernels). */
static int helper_tmpfs(const char *what)
{
	if (unshare(CLONE_NEWNS) < 0)
		fail("unshare", errno, "CLONE_NEWNS (helper)");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		fail("mount", errno, "/ (helper, private)");
	int fs = (int)syscall(SYS_fsopen, "tmpfs", FSOPEN_CLOEXEC);
	if (fs < 0)
		fail("fsopen", errno, "tmpfs");
	if (syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		fail("fsconfig", errno, "tmpfs");
	int mnt = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC);
	if (mnt < 0)
		fail("fsmount", errno, "tmpfs");
	if (syscall(SYS_move_mount, mnt, "", AT_FDCWD, "/", MOVE_MOUNT_F_EMPTY_PATH) < 0)
		fail("move_mount", errno, what);
	close(fs);
	return mnt;
}

/* Runs make(arg) in a forked helper, which sends back the fd it returns (a detached mount);
 * the helper reports its own failure (fail()) and ends, and so the parent's receive fails too. */
static int tree_from_helper(int (*make)(void *), void *arg, const char *what)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) < 0)
		fail("socketpair", errno, what);
	pid_t pid = fork();
	if (pid < 0)
		fail("fork", errno, what);
	if (pid == 0) {
		close(sv[0]);
		send_fd(sv[1], make(arg), "T", 1, what);
		_exit(0);
	}
	close(sv[1]);
	int fd = recv_fd(sv[0]);
	int recv_err = errno;
	close(sv[0]);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	if (fd < 0)
		fail("recvmsg", recv_err, what); /* after the helper's own report, which comes first */
	return fd;
}

struct device_args {
	const char *path;
	mode_t mode;
	dev_t dev;
	uid_t uid;
	gid_t gid;
};

static int make_device_tree(void *p)
{
	struct device_args *a = p;
	int mnt = helper_tmpfs(a->path);
	if (mknodat(mnt, "node", a->mode, a->dev) < 0)
		fail("mknod", errno, a->path);
	if (fchownat(mnt, "node", a->uid, a->gid, AT_SYMLINK_NOFOLLOW) < 0)
		fail("chown", errno, a->path);
	if (fchmodat(mnt, "node", a->mode & 07777, 0) < 0) /* the umask took bits of the mode */
		fail("chmod", errno, a->path);
	int tree = (int)syscall(SYS_open_tree, mnt, "node", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (tree < 0)
		fail("open_tree", errno, a->path);
	return tree;
}

void op_device_tree(const struct plan_op *op)
{
	uint64_t slot = arg_u64(op, 0);
	struct device_args a = {
		.path = arg_str(op, 1),
		.mode = (mode_t)arg_u64(op, 2),
		.dev = makedev((unsigned)arg_u64(op, 3), (unsigned)arg_u64(op, 4)),
		.uid = (uid_t)arg_u64(op, 5),
		.gid = (gid_t)arg_u64(op, 6),
	};
	if (slot >= BERTH_MAX_IDMAP_TREES)
		fail_msg("mknod", EINVAL, a.path, "too many mounts prepared from the host");
	ctx.idmap_trees[slot] = tree_from_helper(make_device_tree, &a, a.path) + 1;
}

struct rootfs_args {
	const char *cwd, *options;
	int userns;
	uint64_t nlower;
	const struct plan_op *op;
};

/* The overlay of a user-namespaced container: each lower layer an id-mapped copy (host root's
 * files appear as the container's root's), the upper as it is (what the container writes is
 * stored with its own host ids), mounted by the host's root, so overlay's trusted.* xattrs
 * (opaque directories) keep working. */
static int make_rootfs_tree(void *p)
{
	struct rootfs_args *a = p;
	int mnt = helper_tmpfs("overlay layers");
	if (*a->cwd && chdir(a->cwd) < 0)
		fail("chdir", errno, a->cwd);
	size_t cap = 32 + strlen(a->options) + a->nlower * 12;
	char *data = malloc(cap);
	if (!data)
		fail("malloc", ENOMEM, "overlay options");
	size_t len = (size_t)snprintf(data, cap, "lowerdir=");
	for (uint64_t i = 0; i < a->nlower; i++) {
		const char *lower = arg_str(a->op, 6 + i);
		int tree = (int)syscall(SYS_open_tree, AT_FDCWD, lower, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
		if (tree < 0)
			fail("open_tree", errno, lower);
		struct mount_attr attr = { .attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t)a->userns };
		if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0) {
			if (errno == EINVAL)
				fail_msg("mount_setattr", errno, lower, "the storage's filesystem cannot be id-mapped on this kernel (ext4, xfs and btrfs can since Linux 5.12 to 5.15, tmpfs since 6.3), and a user-namespaced container's image layers must be");
			fail("mount_setattr", errno, lower);
		}
		char name[24];
		snprintf(name, sizeof(name), "%llu", (unsigned long long)i);
		if (mkdirat(mnt, name, 0700) < 0)
			fail("mkdir", errno, "overlay layer");
		if (syscall(SYS_move_mount, tree, "", mnt, name, MOVE_MOUNT_F_EMPTY_PATH) < 0)
			fail("move_mount", errno, lower);
		close(tree);
		len += (size_t)snprintf(data + len, cap - len, "%s%s", i ? ":" : "", name);
	}
	if (*a->options)
		snprintf(data + len, cap - len, ",%s", a->options);
	if (mkdirat(mnt, "root", 0755) < 0)
		fail("mkdir", errno, "overlay root");
	/* the upper and work dirs are absolute; the layers are named from the tmpfs */
	if (fchdir(mnt) < 0)
		fail("chdir", errno, "overlay layers");
	if (mount("overlay", "root", "overlay", 0, data) < 0)
		fail("mount", errno, "overlay of id-mapped layers");
	int tree = (int)syscall(SYS_open_tree, AT_FDCWD, "root", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (tree < 0)
		fail("open_tree", errno, "overlay");
	return tree;
}

void op_rootfs_tree(const struct plan_op *op)
{
	uint64_t slot = arg_u64(op, 0);
	struct rootfs_args a = { .cwd = arg_str(op, 1), .options = arg_str(op, 2), .nlower = arg_u64(op, 5), .op = op };
	if (slot >= BERTH_MAX_IDMAP_TREES || a.nlower == 0 || a.nlower + 6 != op->argc)
		fail_msg("mount", EINVAL, "overlay", "malformed rootfs-tree in plan");
	a.userns = userns_with_maps(arg_str(op, 3), arg_str(op, 4), "overlay layers");
	ctx.idmap_trees[slot] = tree_from_helper(make_rootfs_tree, &a, "overlay of id-mapped layers") + 1;
	close(a.userns);
}

/* The target must be a directory reached through no symlink at its last component (procfs
 * and sysfs are never mounted through a symlink the image planted). */
static void require_real_dir(const char *dest)
{
	AUTO_FD fd = open_in_root(dest, 0, O_PATH | O_NOFOLLOW);
	if (fd < 0)
		return; /* missing: made as a directory by the caller */
	struct stat st;
	if (fstat(fd, &st) < 0)
		fail("stat", errno, dest);
	if (S_ISLNK(st.st_mode))
		fail_msg("mount", ELOOP, dest, "the mount destination is a symlink in the root filesystem: procfs and sysfs must be mounted on ordinary directory");
	if (!S_ISDIR(st.st_mode))
		fail_msg("mount", ENOTDIR, dest, "the mount destination is not a directory");
}

/* A destination must land where it says: one that a symlink of the image sends into the
 * container's /proc or /sys (`/etc/hosts -> /proc/sys/kernel/core_pattern`) would put a file of
 * the host's over a kernel interface (the CVE-2019-19921 / CVE-2019-16884 class). Only a
 * destination written under /proc or /sys may be there. */
static void check_not_redirected(int fd, const char *dest)
{
	struct statfs sf;
	if (fstatfs(fd, &sf) < 0)
		fail("statfs", errno, dest);
	const char *in = sf.f_type == PROC_SUPER_MAGIC ? "/proc" : sf.f_type == SYSFS_MAGIC ? "/sys" : NULL;
	if (!in)
		return;
	size_t n = strlen(in);
	while (dest[0] == '/' && dest[1] == '/')
		dest++;
	if (strncmp(dest, in, n) == 0 && (dest[n] == '/' || dest[n] == '\0'))
		return;
	char msg[160];
	snprintf(msg, sizeof(msg), "the mount destination resolves into %s through a symlink in the root filesystem", in);
	fail_msg("mount", ELOOP, dest, msg);
}

void op_mount(const struct plan_op *op)
{
	const char *source = arg_str(op, 0), *dest = arg_str(op, 1), *fstype = arg_str(op, 2);
	unsigned long flags = (unsigned long)arg_u64(op, 3);
	const char *data = arg_str(op, 4);
	unsigned long propagation = (unsigned long)arg_u64(op, 5);
	uint64_t attr_set = arg_u64(op, 6), attr_clr = arg_u64(op, 7);
	uint64_t kind = arg_u64(op, 8);
	unsigned long remount = (unsigned long)arg_u64(op, 9);

	int is_file = kind & BERTH_MOUNT_FILE, copy_up = kind & BERTH_MOUNT_COPY_UP, slot = (int)(kind >> 8) - 1;
	if (kind & BERTH_MOUNT_REAL_DIR)
		require_real_dir(dest);
	int fd = open_in_root(dest, is_file ? 2 : 1, O_PATH);
	if (fd < 0)
		fail("open", errno, dest);
	check_not_redirected(fd, dest);
	/* tmpcopyup: this fd keeps reading the directory once the mount covers it */
	AUTO_FD lower = -1;
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
		/* a copy of the source the parent made from the host: moved into place */
		int tree = slot < BERTH_MAX_IDMAP_TREES ? ctx.idmap_trees[slot] - 1 : -1;
		if (tree < 0)
			fail_msg("move_mount", EBADF, dest, "no bind mount was prepared for it");
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
		AUTO_FD upper = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (upper < 0)
			fail("open", errno, dest);
		copy_tree(lower, upper, dest, 0);
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

/* (path, mode, fstype, source, data, cwd) the root: bound on itself in the container's mount
 * namespace, or a filesystem mounted there (an image's overlay, whose relative lowerdirs are
 * resolved from cwd), or, without a mount namespace, used as it is */
void op_rootfs(const struct plan_op *op)
{
	const char *rootfs = arg_str(op, 0), *fstype = arg_str(op, 2), *source = arg_str(op, 3), *data = arg_str(op, 4), *cwd = arg_str(op, 5);
	uint64_t mode = arg_u64(op, 1);
	if (mode == 1 && mount(rootfs, rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
		fail("mount", errno, rootfs);
	if (mode == 2) {
		if (*cwd && chdir(cwd) < 0)
			fail("chdir", errno, cwd);
		if (mount(source, rootfs, fstype, 0, *data ? data : NULL) < 0)
			fail("mount", errno, rootfs);
		if (*cwd && chdir("/") < 0)
			fail("chdir", errno, "/");
	}
	if (mode == 3) {
		/* the overlay the parent made (OP_ROOTFS_TREE), moved into place */
		uint64_t slot = arg_u64(op, 6);
		int tree = slot < BERTH_MAX_IDMAP_TREES ? ctx.idmap_trees[slot] - 1 : -1;
		if (tree < 0)
			fail_msg("move_mount", EBADF, rootfs, "no root filesystem was prepared for it");
		if (syscall(SYS_move_mount, tree, "", AT_FDCWD, rootfs, MOVE_MOUNT_F_EMPTY_PATH) < 0)
			fail("move_mount", errno, rootfs);
		close(tree);
		ctx.idmap_trees[slot] = 0;
	}
	ctx.root_fd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (ctx.root_fd < 0)
		fail("open", errno, rootfs);
}

static void reopen_root(void)
{
	close(ctx.root_fd);
	ctx.root_fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (ctx.root_fd < 0)
		fail("open", errno, "/");
}

void op_pivot_root(void)
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

/* (move) MS_MOVE the root over "/" first (a mount namespace of its own), or not (none) */
void op_chroot(const struct plan_op *op)
{
	if (fchdir(ctx.root_fd) < 0)
		fail("chdir", errno, "rootfs");
	if (arg_u64(op, 0) && mount(".", "/", NULL, MS_MOVE, NULL) < 0)
		fail("mount-move", errno, "rootfs");
	if (chroot(".") < 0)
		fail("chroot", errno, "rootfs");
	if (chdir("/") < 0)
		fail("chdir", errno, "/");
	reopen_root();
}

void op_mask(const struct plan_op *op)
{
	const char *path = arg_str(op, 0);
	AUTO_FD fd = open_in_root(path, 0, O_PATH);
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
}

void op_readonly(const struct plan_op *op)
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

/* (path, flags) a mount made earlier gets its final flags (e.g. a read-only /dev once its
 * device nodes are made) */
void op_remount(const struct plan_op *op)
{
	const char *path = arg_str(op, 0);
	AUTO_FD fd = open_in_root(path, 0, O_PATH);
	if (fd < 0)
		fail("open", errno, path);
	remount_with_flags(fd, (unsigned long)arg_u64(op, 1), path);
}

void op_remount_root_ro(void)
{
	if (mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) == 0)
		return;
	struct statvfs st;
	unsigned long locked = statvfs("/", &st) == 0 ? st.f_flag & (ST_NOSUID | ST_NODEV | ST_NOEXEC) : 0;
	if (mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | locked, NULL) < 0)
		fail("remount", errno, "/");
}

void op_detach(const struct plan_op *op)
{
	const char *path = arg_str(op, 0);
	if (mount(NULL, path, NULL, MS_SLAVE | MS_REC, NULL) < 0) {
		if (errno == ENOENT || errno == EINVAL)
			return; /* gone with a parent detached before, or not a mount point any more */
		fail("mount", errno, path);
	}
	if (umount2(path, MNT_DETACH) == 0)
		return;
	if (errno != EINVAL && errno != EPERM)
		fail("umount2", errno, path);
	/* not ours to unmount (a user namespace): covered instead */
	if (mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0k") < 0)
		fail("mount", errno, path);
}
