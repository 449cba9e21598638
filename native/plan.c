/* plan.c — read the plan TypeScript compiled (format in protocol.h). */
#include "init.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int read_all(int fd, char **out, size_t *outlen)
{
	size_t cap = 16384, len = 0;
	char *buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (len == cap) {
			char *next = realloc(buf, cap * 2);
			if (!next) {
				free(buf);
				return -ENOMEM;
			}
			buf = next;
			cap *= 2;
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = errno;
			free(buf);
			return -err;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	*out = buf;
	*outlen = len;
	return 0;
}

static uint32_t le32(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;
	return (uint32_t)u[0] | ((uint32_t)u[1] << 8) | ((uint32_t)u[2] << 16) | ((uint32_t)u[3] << 24);
}

int plan_read(int fd, struct plan *plan)
{
	char *buf = NULL;
	size_t len = 0;
	int rc = read_all(fd, &buf, &len);
	if (rc < 0)
		return rc;
	if (len < 8 || memcmp(buf, BERTH_PLAN_MAGIC, 4) != 0 || le32(buf + 4) != BERTH_PLAN_VERSION) {
		free(buf);
		return -EPROTO;
	}
	/* first pass: count ops and check bounds; second pass: fill */
	for (int pass = 0; pass < 2; pass++) {
		size_t pos = 8, n = 0;
		while (pos < len) {
			if (len - pos < 4)
				goto bad;
			uint16_t code = (uint16_t)((unsigned char)buf[pos] | ((unsigned char)buf[pos + 1] << 8));
			uint8_t stage = (uint8_t)buf[pos + 2];
			uint8_t argc = (uint8_t)buf[pos + 3];
			pos += 4;
			struct plan_arg *args = NULL;
			if (pass == 1) {
				args = calloc(argc ? argc : 1, sizeof(*args));
				if (!args)
					goto bad;
				plan->ops[n] = (struct plan_op){ code, stage, argc, args };
			}
			for (unsigned i = 0; i < argc; i++) {
				if (len - pos < 4)
					goto bad;
				uint32_t alen = le32(buf + pos);
				pos += 4;
				if (len - pos < alen)
					goto bad;
				if (pass == 1)
					args[i] = (struct plan_arg){ alen, buf + pos };
				pos += alen;
			}
			n++;
		}
		if (pass == 0) {
			plan->ops = calloc(n ? n : 1, sizeof(*plan->ops));
			if (!plan->ops)
				goto bad;
			plan->nops = n;
		}
	}
	plan->buf = buf;
	return 0;
bad:
	free(buf);
	return -EPROTO;
}

uint64_t arg_u64(const struct plan_op *op, unsigned i)
{
	if (i >= op->argc || op->args[i].len != 8)
		fail_msg("plan", EPROTO, op_name(op->code), "malformed integer argument in plan");
	const unsigned char *u = (const unsigned char *)op->args[i].data;
	uint64_t v = 0;
	for (int b = 7; b >= 0; b--)
		v = (v << 8) | u[b];
	return v;
}

const char *arg_str(const struct plan_op *op, unsigned i)
{
	if (i >= op->argc || op->args[i].len == 0 || op->args[i].data[op->args[i].len - 1] != '\0')
		fail_msg("plan", EPROTO, op_name(op->code), "malformed string argument in plan");
	return op->args[i].data;
}

const char *op_name(unsigned code)
{
	static const char *const names[OP_MAX] = {
		[OP_CGROUP_JOIN] = "cgroup-join", [OP_SETNS] = "setns", [OP_TIMENS] = "timens",
		[OP_CLONE] = "clone", [OP_SETGROUPS_DENY] = "setgroups-deny", [OP_UID_MAP] = "uid_map",
		[OP_GID_MAP] = "gid_map", [OP_BECOME_ROOT] = "become-root", [OP_SETSID] = "setsid",
		[OP_PROPAGATION] = "propagation", [OP_ROOTFS] = "rootfs", [OP_MOUNT] = "mount",
		[OP_MKDIR] = "mkdir", [OP_MKNOD] = "mknod", [OP_BIND_DEV] = "bind-device",
		[OP_SYMLINK] = "symlink", [OP_HOOKS] = "hooks", [OP_RUN_HOOK] = "hook",
		[OP_PIVOT_ROOT] = "pivot_root", [OP_CHROOT] = "chroot", [OP_MASK] = "mask",
		[OP_READONLY] = "readonly", [OP_REMOUNT_ROOT_RO] = "remount-root-ro",
		[OP_HOSTNAME] = "sethostname", [OP_DOMAINNAME] = "setdomainname", [OP_SYSCTL] = "sysctl",
		[OP_OOM_SCORE_ADJ] = "oom_score_adj", [OP_RLIMIT] = "setrlimit",
		[OP_CONSOLE_CONNECT] = "console-connect", [OP_CONSOLE] = "console",
		[OP_EXEC_FIFO] = "exec-fifo", [OP_CHDIR] = "chdir", [OP_UMASK] = "umask",
		[OP_PERSONALITY] = "personality", [OP_SETGROUPS] = "setgroups", [OP_SETGID] = "setgid",
		[OP_SETUID] = "setuid", [OP_CAPS_BOUNDING] = "capbset", [OP_NO_NEW_PRIVS] = "no_new_privs",
		[OP_SECCOMP_INIT] = "seccomp", [OP_SECCOMP_ARCH] = "seccomp-arch",
		[OP_SECCOMP_RULE] = "seccomp-rule", [OP_SECCOMP_LOAD] = "seccomp-load",
		[OP_RESOLVE_EXEC] = "exec", [OP_READY] = "ready", [OP_EXEC_WAIT] = "exec-wait",
		[OP_EXEC] = "exec", [OP_CLOSE_FDS] = "close-fds", [OP_WRITE_FILE] = "write",
		[OP_CAPS_SET] = "capset", [OP_MKFIFO] = "mkfifo", [OP_CONSOLE_PAIR] = "console-pair", [OP_DUMPABLE] = "dumpable",
		[OP_CGROUP_OPEN] = "cgroup-open", [OP_UNSHARE] = "unshare",
		[OP_SECCOMP_LISTENER] = "seccomp-listener", [OP_SECCOMP_NOTIFY_SEND] = "seccomp-notify",
		[OP_IOPRIO] = "ioprio_set", [OP_SCHED] = "sched_setattr", [OP_AFFINITY] = "sched_setaffinity",
		[OP_IDMAP_TREE] = "idmap-mount",
	};
	return code < OP_MAX && names[code] ? names[code] : "unknown-op";
}
