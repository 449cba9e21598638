/* user.c — a user named as docker names one ("name", "uid", "name:group", "uid:gid"), looked up
 * in the container's own /etc/passwd and /etc/group, inside the container (no path of the image
 * is ever followed on the host). The rules are runc's user.GetExecUser: a name must exist; a
 * numeric uid need not (gid 0 then); the group defaults to the user's; every group of
 * /etc/group that lists the user is added, then the asked additional groups. */
#include "init.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DB_MAX (4u << 20)

/* the file, NUL-terminated, if it is a regular file; NULL when it is missing or not a regular
 * file (it is looked at through an O_PATH fd first: a device node or FIFO the image put there is
 * never opened); a larger file than DB_MAX fails the op, naming it */
static char *read_db(const char *path)
{
	AUTO_FD probe = open(path, O_PATH | O_CLOEXEC);
	struct stat st;
	if (probe < 0 || fstat(probe, &st) < 0 || !S_ISREG(st.st_mode))
		return NULL;
	if ((size_t)st.st_size > DB_MAX)
		fail_msg("user", EFBIG, path, "the user database is larger than 4 MiB");
	char self[64];
	procfd_path(self, sizeof(self), probe);
	AUTO_FD fd = open(self, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) /* no /proc in this container: the path, then the type again */
		fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return NULL;
	size_t cap = (size_t)st.st_size < DB_MAX ? (size_t)st.st_size : DB_MAX;
	char *buf = malloc(cap + 1);
	size_t used = 0;
	while (buf && used < cap) {
		ssize_t n = read(fd, buf + used, cap - used);
		if (n <= 0)
			break;
		used += (size_t)n;
	}
	if (buf)
		buf[used] = '\0';
	return buf;
}

/* splits the next line of *cursor into up to `max` colon-separated fields; 0 at the end */
static int next_entry(char **cursor, char **field, int max)
{
	while (*cursor && **cursor) {
		char *line = *cursor, *end = strchr(line, '\n');
		*cursor = end ? end + 1 : NULL;
		if (end)
			*end = '\0';
		if (!*line || *line == '#')
			continue;
		int n = 0;
		for (char *p = line; p && n < max; n++) {
			field[n] = p;
			p = strchr(p, ':');
			if (p)
				*p++ = '\0';
		}
		for (int i = n; i < max; i++)
			field[i] = "";
		return 1;
	}
	return 0;
}

static int parse_id(const char *s, unsigned long *out)
{
	char *end;
	if (!*s || *s == '-')
		return 0;
	errno = 0;
	*out = strtoul(s, &end, 10);
	return !*end && !errno && *out <= 0x7fffffffUL;
}

/* a group by name or number: its gid, or -1 */
static long find_group(const char *groups, const char *want)
{
	unsigned long id;
	if (parse_id(want, &id))
		return (long)id;
	AUTO_FREE char *copy = groups ? strdup(groups) : NULL;
	char *cursor = copy, *f[4];
	while (next_entry(&cursor, f, 4))
		if (strcmp(f[0], want) == 0 && parse_id(f[2], &id))
			return (long)id;
	return -1;
}

/* (user spec, additional groups) */
void op_user(const struct plan_op *op)
{
	unsigned pos = 0;
	const char *spec = arg_str(op, pos++);
	AUTO_FREE char **extra = arg_list(op, &pos);
	AUTO_FREE char *users = read_db("/etc/passwd");
	AUTO_FREE char *groups = read_db("/etc/group");
	char name[256] = "", group[256] = "";
	const char *colon = strchr(spec, ':');
	snprintf(name, sizeof(name), "%.*s", colon ? (int)(colon - spec) : (int)strlen(spec), spec);
	if (colon)
		snprintf(group, sizeof(group), "%s", colon + 1);

	unsigned long uid = 0, gid = 0, id;
	int by_number = parse_id(name, &id), found = 0;
	const char *home = "/";
	char login[256] = "";
	if (by_number)
		uid = id;
	for (char *cursor = users, *f[7]; !found && next_entry(&cursor, f, 7);) {
		unsigned long entry_uid, entry_gid;
		if (!parse_id(f[2], &entry_uid) || !parse_id(f[3], &entry_gid))
			continue;
		if (by_number ? entry_uid == uid : strcmp(f[0], name) == 0) {
			found = 1;
			uid = entry_uid;
			gid = entry_gid;
			if (*f[5])
				home = f[5];
			snprintf(login, sizeof(login), "%s", f[0]);
		}
	}
	if (!found && !by_number) {
		char msg[400];
		snprintf(msg, sizeof(msg), "unable to find user %s: no matching entries in passwd file", name);
		fail_msg("user", ENOENT, spec, msg);
	}
	if (*group) {
		long g = find_group(groups, group);
		if (g < 0) {
			char msg[400];
			snprintf(msg, sizeof(msg), "unable to find group %s: no matching entries in group file", group);
			fail_msg("user", ENOENT, spec, msg);
		}
		gid = (unsigned long)g;
	}
	size_t cap = 64, n = 0;
	gid_t *list = malloc(cap * sizeof(gid_t));
	if (!list)
		fail("user", ENOMEM, NULL);
	/* the groups that list the user (by its login name), unless a group was given */
	if (*login && !*group) {
		AUTO_FREE char *copy = groups ? strdup(groups) : NULL;
		char *cursor = copy, *f[4];
		while (next_entry(&cursor, f, 4)) {
			unsigned long g;
			if (!parse_id(f[2], &g))
				continue;
			for (char *m = f[3], *comma; m && *m; m = comma ? comma + 1 : NULL) {
				comma = strchr(m, ',');
				if ((comma ? (size_t)(comma - m) : strlen(m)) == strlen(login) && strncmp(m, login, strlen(login)) == 0) {
					if (n == cap && !(list = realloc(list, (cap *= 2) * sizeof(gid_t))))
						fail("user", ENOMEM, NULL);
					list[n++] = (gid_t)g;
					break;
				}
			}
		}
	}
	for (char **e = extra; *e; e++) {
		long g = find_group(groups, *e);
		if (g < 0) {
			char msg[400];
			snprintf(msg, sizeof(msg), "unable to find group %s: no matching entries in group file", *e);
			fail_msg("user", ENOENT, *e, msg);
		}
		if (n == cap && !(list = realloc(list, (cap *= 2) * sizeof(gid_t))))
			fail("user", ENOMEM, NULL);
		list[n++] = (gid_t)g;
	}
	ctx.user.resolved = 1;
	ctx.user.uid = (uid_t)uid;
	ctx.user.gid = (gid_t)gid;
	ctx.user.groups = list;
	ctx.user.ngroups = n;
	free(ctx.home_env);
	if (asprintf(&ctx.home_env, "HOME=%s", home) < 0)
		fail("user", ENOMEM, NULL);
}

/* the home directory of uid in the container's /etc/passwd (or /) */
void op_home_env(const struct plan_op *op)
{
	if (ctx.user.resolved && ctx.home_env)
		return; /* OP_USER found it */
	unsigned long uid = arg_u64(op, 0), id;
	const char *home = "/";
	AUTO_FREE char *users = read_db("/etc/passwd");
	for (char *cursor = users, *f[7]; next_entry(&cursor, f, 7);) {
		if (parse_id(f[2], &id) && id == uid && *f[5]) {
			home = f[5];
			break;
		}
	}
	free(ctx.home_env);
	if (asprintf(&ctx.home_env, "HOME=%s", home) < 0)
		fail("home-env", ENOMEM, NULL);
}
