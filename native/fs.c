/* fs.c — paths inside the container's root. Every path of the config is resolved with
 * openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) from the root's fd and used through
 * /proc/self/fd/N, so no symlink the image holds leads outside the root. */
#include "init.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

void procfd_path(char *buf, size_t len, int fd)
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

static int open_in_root_depth(const char *path, int create_kind, int final_flags, int depth);

/* A component that is a symlink to nothing yet (a dangling link of the image): the walk goes on
 * from its target, still inside the root, so what is made lands where the link points, as
 * runc's securejoin does. */
static int follow_dangling(int parent, const char *comp, const char *prefix, size_t dirlen, const char *rest,
			   int create_kind, int final_flags, int depth)
{
	struct stat st;
	if (fstatat(parent, comp, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISLNK(st.st_mode))
		return -2;
	if (depth >= 40)
		fail("open", ELOOP, prefix);
	char target[4096], next[8192];
	ssize_t n = readlinkat(parent, comp, target, sizeof(target) - 1);
	if (n < 0)
		fail("readlink", errno, prefix);
	target[n] = '\0';
	rest += strspn(rest, "/");
	const char *sep = *rest ? "/" : "";
	int len = target[0] == '/' ? snprintf(next, sizeof(next), "%s%s%s", target, sep, rest)
				   : snprintf(next, sizeof(next), "%.*s/%s%s%s", (int)dirlen, prefix, target, sep, rest);
	if (len < 0 || (size_t)len >= sizeof(next))
		fail("open", ENAMETOOLONG, prefix);
	return open_in_root_depth(next, create_kind, final_flags, depth + 1);
}

/* Open `path` inside the container root, never leaving it, whatever symlinks the image
 * holds (RESOLVE_IN_ROOT). create_kind: 0 do not create, 1 create dirs, 2 create the
 * final component as an empty file. Returns an fd, or -1 with errno when create_kind is 0;
 * otherwise fails the stage. */
int open_in_root(const char *path, int create_kind, int final_flags)
{
	return open_in_root_depth(path, create_kind, final_flags, 0);
}

static int open_in_root_depth(const char *path, int create_kind, int final_flags, int depth)
{
	int fd = openat2_root(path, final_flags);
	if (fd >= 0 || errno != ENOENT || create_kind == 0)
		return fd;

	char prefix[4096];
	size_t used = 0;
	AUTO_FD parent = openat2_root("/", O_PATH | O_DIRECTORY);
	if (parent < 0)
		fail("open", errno, "/");
	const char *p = path;
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		const char *end = strchr(p, '/');
		size_t clen = end ? (size_t)(end - p) : strlen(p);
		int last = end == NULL || end[strspn(end, "/")] == '\0';
		char comp[256];
		if (clen >= sizeof(comp) || used + 1 + clen + 1 > sizeof(prefix))
			fail("open", ENAMETOOLONG, path);
		memcpy(comp, p, clen);
		comp[clen] = '\0';
		size_t dirlen = used;
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
			if (next < 0 && errno == ENOENT) {
				int followed = follow_dangling(parent, comp, prefix, dirlen, p + clen, create_kind, final_flags, depth);
				if (followed != -2)
					return followed;
				errno = ENOENT;
			}
		}
		if (next < 0)
			fail("open", errno, prefix);
		close(parent);
		parent = next;
		p += clen;
	}
	int out = parent;
	parent = -1;
	return out;
}

/* split "a/b/c" into a parent fd inside the root (created) and the last name */
int open_parent(const char *path, char *name, size_t namelen)
{
	char parent[4096];
	if (strlen(path) >= sizeof(parent))
		fail("open", ENAMETOOLONG, path);
	snprintf(parent, sizeof(parent), "%s", path);
	size_t len = strlen(parent);
	while (len > 1 && parent[len - 1] == '/')
		parent[--len] = '\0';
	char *slash = strrchr(parent, '/');
	const char *base = slash ? slash + 1 : parent;
	if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0 || strlen(base) >= namelen)
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

void op_mkdir(const struct plan_op *op)
{
	const char *path = arg_str(op, 0);
	AUTO_FD fd = open_in_root(path, 1, O_PATH | O_DIRECTORY);
	if (fd < 0)
		fail("mkdir", errno, path);
}

void op_mknod(const struct plan_op *op)
{
	const char *path = arg_str(op, 0);
	mode_t mode = (mode_t)arg_u64(op, 1);
	dev_t dev = makedev((unsigned)arg_u64(op, 2), (unsigned)arg_u64(op, 3));
	char name[256];
	AUTO_FD dir = open_parent(path, name, sizeof(name));
	struct stat st;
	/* a node already there (from the image) is replaced; one mounted over stays */
	if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode) && unlinkat(dir, name, 0) < 0 && errno != EBUSY)
		fail("unlink", errno, path);
	if (mknodat(dir, name, mode, dev) < 0 && errno != EEXIST)
		fail("mknod", errno, path);
	if (fchownat(dir, name, (uid_t)arg_u64(op, 4), (gid_t)arg_u64(op, 5), AT_SYMLINK_NOFOLLOW) < 0)
		fail("chown", errno, path);
	/* mknod honours the umask: set the mode the plan asked for */
	AUTO_FD fd = openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		fail("open", errno, path);
	char target[64];
	procfd_path(target, sizeof(target), fd);
	if (chmod(target, mode & 07777) < 0)
		fail("chmod", errno, path);
}

void op_bind_device(const struct plan_op *op)
{
	const char *host = arg_str(op, 0), *path = arg_str(op, 1);
	AUTO_FD fd = open_in_root(path, 2, O_PATH);
	if (fd < 0)
		fail("open", errno, path);
	char target[64];
	procfd_path(target, sizeof(target), fd);
	if (mount(host, target, NULL, MS_BIND, NULL) < 0)
		fail("mount", errno, path);
}

void op_symlink(const struct plan_op *op)
{
	const char *target = arg_str(op, 0), *path = arg_str(op, 1);
	char name[256];
	AUTO_FD dir = open_parent(path, name, sizeof(name));
	if (symlinkat(target, dir, name) < 0 && errno != EEXIST)
		fail("symlink", errno, path);
}
