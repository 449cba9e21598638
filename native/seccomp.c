/* seccomp.c — build and load the filter TypeScript described, through libseccomp. */
#include "init.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <seccomp.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/syscall.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ARGS 6

void seccomp_op(const struct plan_op *op)
{
	scmp_filter_ctx filter = ctx.seccomp;
	switch (op->code) {
	case OP_SECCOMP_INIT: {
		uint32_t flags = (uint32_t)arg_u64(op, 1);
		filter = seccomp_init((uint32_t)arg_u64(op, 0));
		if (!filter)
			fail("seccomp_init", EINVAL, NULL);
		ctx.seccomp = filter;
		/* no_new_privs is the plan's own step, not a side effect of loading */
		if (seccomp_attr_set(filter, SCMP_FLTATR_CTL_NNP, 0) < 0)
			fail("seccomp_attr_set", EINVAL, "SCMP_FLTATR_CTL_NNP");
		if ((flags & BERTH_SECCOMP_FLAG_TSYNC) && seccomp_attr_set(filter, SCMP_FLTATR_CTL_TSYNC, 1) < 0)
			fail("seccomp_attr_set", EINVAL, "SECCOMP_FILTER_FLAG_TSYNC");
		if ((flags & BERTH_SECCOMP_FLAG_LOG) && seccomp_attr_set(filter, SCMP_FLTATR_CTL_LOG, 1) < 0)
			fail("seccomp_attr_set", EINVAL, "SECCOMP_FILTER_FLAG_LOG");
		if ((flags & BERTH_SECCOMP_FLAG_SPEC_ALLOW) && seccomp_attr_set(filter, SCMP_FLTATR_CTL_SSB, 1) < 0)
			fail("seccomp_attr_set", EINVAL, "SECCOMP_FILTER_FLAG_SPEC_ALLOW");
		break;
	}
	case OP_SECCOMP_ARCH: {
		uint32_t arch = seccomp_arch_resolve_name(arg_str(op, 0));
		if (arch == 0)
			fail_msg("seccomp_arch_add", EINVAL, arg_str(op, 0), "unknown architecture");
		int rc = seccomp_arch_add(filter, arch);
		if (rc < 0 && rc != -EEXIST)
			fail("seccomp_arch_add", -rc, arg_str(op, 0));
		break;
	}
	case OP_SECCOMP_RULE: {
		uint32_t action = (uint32_t)arg_u64(op, 0);
		const char *name = arg_str(op, 1);
		unsigned nargs = (unsigned)arg_u64(op, 2);
		if (nargs > MAX_ARGS)
			fail_msg("seccomp_rule_add", EINVAL, name, "too many argument conditions");
		struct scmp_arg_cmp cmps[MAX_ARGS];
		for (unsigned i = 0; i < nargs; i++) {
			cmps[i] = (struct scmp_arg_cmp){
				.arg = (unsigned)arg_u64(op, 3 + i * 4),
				.op = (enum scmp_compare)arg_u64(op, 4 + i * 4),
				.datum_a = arg_u64(op, 5 + i * 4),
				.datum_b = arg_u64(op, 6 + i * 4),
			};
		}
		int nr = seccomp_syscall_resolve_name(name);
		if (nr == __NR_SCMP_ERROR)
			break; /* a name of another architecture: not in this filter (runc does the same) */
		int rc = seccomp_rule_add_array(filter, action, nr, nargs, cmps);
		if (rc == -EACCES || rc == -EEXIST)
			break; /* same action as the default, or a duplicate: nothing to add */
		if (rc < 0)
			fail("seccomp_rule_add", -rc, name);
		break;
	}
	case OP_SECCOMP_LOAD: {
		int rc = seccomp_load(filter);
		if (rc < 0)
			fail("seccomp_load", -rc, NULL);
		/* a filter with SCMP_ACT_NOTIFY rules has a listener fd: keep a copy of our own */
		int notify = seccomp_notify_fd(filter);
		if (notify >= 0 && ctx.seccomp_listener_fd >= 0) {
			ctx.seccomp_notify_fd = fcntl(notify, F_DUPFD_CLOEXEC, 3);
			if (ctx.seccomp_notify_fd < 0)
				fail("fcntl", errno, "seccomp notify fd");
		}
		seccomp_release(filter);
		ctx.seccomp = NULL;
		break;
	}
	}
}

/* A filter compiled before, as BPF: loaded as it is (no libseccomp on the hot path). */
void seccomp_bpf_op(const struct plan_op *op)
{
	unsigned pos = 0;
	unsigned long flags = (unsigned long)arg_u64(op, pos++);
	uint64_t n = arg_u64(op, pos++);
	if (n == 0 || n > BPF_MAXINSNS || n + 2 != op->argc)
		fail_msg("seccomp-bpf", EINVAL, NULL, "malformed seccomp program in plan");
	AUTO_FREE struct sock_filter *insns = calloc((size_t)n, sizeof(*insns));
	if (!insns)
		fail("seccomp-bpf", ENOMEM, NULL);
	for (uint64_t i = 0; i < n; i++) {
		uint64_t v = arg_u64(op, pos++);
		insns[i] = (struct sock_filter){ .code = (uint16_t)v, .jt = (uint8_t)(v >> 16), .jf = (uint8_t)(v >> 24), .k = (uint32_t)(v >> 32) };
	}
	struct sock_fprog prog = { .len = (unsigned short)n, .filter = insns };
	long rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
	if (rc < 0)
		fail("seccomp", errno, NULL);
	/* with SECCOMP_FILTER_FLAG_NEW_LISTENER the result is the notify fd (close-on-exec) */
	if (flags & SECCOMP_FILTER_FLAG_NEW_LISTENER) {
		if (ctx.seccomp_listener_fd >= 0)
			ctx.seccomp_notify_fd = (int)rc;
		else
			close((int)rc);
	}
}

/* `berth-init seccomp-bpf < PLAN`: the filter of the plan's seccomp-init, -arch and -rule ops,
 * compiled by libseccomp and written to stdout as BPF, for TypeScript to keep and pass back
 * with OP_SECCOMP_BPF. */
int seccomp_export(void)
{
	struct plan plan = { 0 };
	int rc = plan_read(0, &plan);
	if (rc < 0) {
		fprintf(stderr, "berth-init: seccomp-bpf: %s\n", strerror(-rc));
		return 1;
	}
	for (size_t i = 0; i < plan.nops; i++) {
		unsigned code = plan.ops[i].code;
		if (code != OP_SECCOMP_INIT && code != OP_SECCOMP_ARCH && code != OP_SECCOMP_RULE) {
			fprintf(stderr, "berth-init: seccomp-bpf: %s is not a seccomp op\n", op_name(code));
			return 1;
		}
		seccomp_op(&plan.ops[i]);
	}
	if (!ctx.seccomp) {
		fprintf(stderr, "berth-init: seccomp-bpf: no seccomp-init in the plan\n");
		return 1;
	}
	rc = seccomp_export_bpf(ctx.seccomp, 1);
	seccomp_release(ctx.seccomp);
	plan_free(&plan);
	if (rc < 0) {
		fprintf(stderr, "berth-init: seccomp-bpf: seccomp_export_bpf: %s\n", strerror(-rc));
		return 1;
	}
	return 0;
}

/* The notify fd goes to linux.seccomp.listenerPath with the container process state (OCI
 * runtime spec): a + pid + b + pid + c, the pid as the host sees this process. */
void seccomp_notify_send(const struct plan_op *op)
{
	if (ctx.seccomp_listener_fd < 0 || ctx.seccomp_notify_fd < 0)
		fail_msg("seccomp", EINVAL, "listenerPath", "no seccomp notify fd to send (no SCMP_ACT_NOTIFY rule was loaded)");
	const char *a = arg_str(op, 0), *b = arg_str(op, 1), *c = arg_str(op, 2);
	size_t len = strlen(a) + strlen(b) + strlen(c) + 32;
	char *state = malloc(len);
	if (!state)
		fail("malloc", ENOMEM, NULL);
	int n = snprintf(state, len, "%s%d%s%d%s", a, (int)ctx.host_pid, b, (int)ctx.host_pid, c);
	send_fd(ctx.seccomp_listener_fd, ctx.seccomp_notify_fd, state, (size_t)n, "seccomp listener");
	free(state);
	close(ctx.seccomp_notify_fd);
	close(ctx.seccomp_listener_fd);
	ctx.seccomp_notify_fd = ctx.seccomp_listener_fd = -1;
}

/* `berth-init check-syscalls NAME...`: print the names that no architecture knows, one
 * per line, so TypeScript can refuse a config before anything is created. */
int check_syscalls(int argc, char **argv)
{
	static const char *const archs[] = { "x86_64", "x86", "x32", "arm", "aarch64", "mips", "mips64",
					     "mips64n32", "mipsel", "mipsel64", "mipsel64n32", "ppc", "ppc64",
					     "ppc64le", "s390", "s390x", "riscv64", "loongarch64", NULL };
	for (int i = 0; i < argc; i++) {
		int known = 0;
		for (int a = 0; archs[a] && !known; a++) {
			uint32_t arch = seccomp_arch_resolve_name(archs[a]);
			if (arch && seccomp_syscall_resolve_name_arch(arch, argv[i]) != __NR_SCMP_ERROR)
				known = 1;
		}
		if (!known)
			printf("%s\n", argv[i]);
	}
	return 0;
}
