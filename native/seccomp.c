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
#define STUB_ARCHS 8

/* runc's -ENOSYS stub: a syscall numbered above every one the profile names (per architecture)
 * is one the profile's author could not know of, newer than the profile: it fails with ENOSYS,
 * which libcs take as "fall back to the older call", not with the default action's EPERM. */
static struct {
	int wanted;
	unsigned n;
	struct {
		uint32_t token; /* SCMP_ARCH_* (the AUDIT_ARCH_* value, but X32's own token) */
		int max; /* -1: no syscall of the profile is known here */
	} arch[STUB_ARCHS];
} stub;

static void stub_arch(uint32_t token)
{
	for (unsigned i = 0; i < stub.n; i++)
		if (stub.arch[i].token == token)
			return;
	if (stub.n < STUB_ARCHS)
		stub.arch[stub.n++] = (typeof(stub.arch[0])){ .token = token, .max = -1 };
}

static void stub_syscall(const char *name)
{
	for (unsigned i = 0; i < stub.n; i++) {
		int nr = seccomp_syscall_resolve_name_arch(stub.arch[i].token, name);
		if (nr >= 0 && nr > stub.arch[i].max)
			stub.arch[i].max = nr;
	}
}

#define STUB_MAX (3 + STUB_ARCHS * 6)

/* The stub, to run before libseccomp's program (which it falls into: jumps are relative).
 * x86_64 and x32 share AUDIT_ARCH_X86_64 and differ in bit 30 of the number. */
static size_t stub_program(struct sock_filter *out)
{
	struct {
		uint32_t audit;
		int max, x32max;
	} sect[STUB_ARCHS];
	size_t ns = 0;
	for (unsigned i = 0; i < stub.n; i++) {
		int x32 = stub.arch[i].token == SCMP_ARCH_X32;
		uint32_t audit = x32 ? SCMP_ARCH_X86_64 : stub.arch[i].token;
		size_t j = 0;
		while (j < ns && sect[j].audit != audit)
			j++;
		if (j == ns)
			sect[ns++] = (typeof(sect[0])){ .audit = audit, .max = -1, .x32max = -1 };
		if (x32)
			sect[j].x32max = stub.arch[i].max;
		else
			sect[j].max = stub.arch[i].max;
	}
	/* each section: ld nr; (x86_64: jset bit 30); one jgt per mode, or a jump to the filter */
	size_t len[STUB_ARCHS], total = 1 + ns + 1, start[STUB_ARCHS];
	for (size_t j = 0; j < ns; j++) {
		start[j] = total;
		len[j] = sect[j].audit == SCMP_ARCH_X86_64 ? 4 : 2;
		total += len[j];
	}
	size_t enosys = total, filter = total + 1, n = 0;
#define AT(k) ((uint8_t)((k) - (n + 1))) /* a conditional jump's offset from the next instruction */
	out[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 4); /* seccomp_data.arch */
	for (size_t j = 0; j < ns; j++, n++)
		out[n] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, sect[j].audit, AT(start[j]), 0);
	out[n] = (struct sock_filter)BPF_STMT(BPF_JMP | BPF_JA, (uint32_t)(filter - (n + 1)));
	n++;
	for (size_t j = 0; j < ns; j++) {
		int x86 = sect[j].audit == SCMP_ARCH_X86_64;
		out[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0); /* seccomp_data.nr */
		if (x86) {
			out[n] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x40000000, 1, 0);
			n++;
		}
		int modes[2] = { sect[j].max, sect[j].x32max };
		for (int m = 0; m < (x86 ? 2 : 1); m++, n++) {
			if (modes[m] < 0) /* nothing of the profile is known in this mode: libseccomp decides */
				out[n] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, AT(filter), AT(filter));
			else
				out[n] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, (uint32_t)modes[m], AT(enosys), AT(filter));
		}
	}
#undef AT
	out[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS);
	return n;
}

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
		stub.wanted = (int)arg_u64(op, 2);
		stub.n = 0;
		stub_arch(seccomp_arch_native());
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
		stub_arch(arch);
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
		stub_syscall(name);
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
	if (stub.wanted) {
		struct sock_filter prefix[STUB_MAX];
		size_t n = stub_program(prefix);
		if (write(1, prefix, n * sizeof(prefix[0])) != (ssize_t)(n * sizeof(prefix[0]))) {
			fprintf(stderr, "berth-init: seccomp-bpf: write: %s\n", strerror(errno));
			return 1;
		}
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
