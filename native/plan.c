/* plan.c — read the plan TypeScript compiled (format in protocol.h) and check every op against
 * its signature and stages, so no op ever reads an argument that is not there. */
#include "init.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct op_info {
	const char *name, *stages, *signature;
};

static const struct op_info ops[OP_MAX] = {
#define BERTH_OP_INFO(e, code, name, stages, sig) [e] = { name, stages, sig },
	BERTH_OPS(BERTH_OP_INFO)
#undef BERTH_OP_INFO
};

/* the plan is at most this big: a plan is made of a config.json, which no caller makes larger */
#define PLAN_MAX_BYTES (256u << 20)

static int read_all(int fd, char **out, size_t *outlen)
{
	size_t cap = 16384, len = 0;
	char *buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (len == cap) {
			if (cap >= PLAN_MAX_BYTES) {
				free(buf);
				return -EFBIG;
			}
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

static uint64_t le64(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;
	uint64_t v = 0;
	for (int b = 7; b >= 0; b--)
		v = (v << 8) | u[b];
	return v;
}

static int is_str(const struct plan_arg *a)
{
	return a->len > 0 && a->data[a->len - 1] == '\0' && memchr(a->data, '\0', a->len) == a->data + a->len - 1;
}

static int is_int(const struct plan_arg *a)
{
	return a->len == 8;
}

/* Does the op's argument list follow its signature? */
static int matches_signature(const struct plan_op *op)
{
	const char *sig = ops[op->code].signature;
	uint32_t i = 0;
	while (*sig) {
		if (*sig == ' ') {
			sig++;
			continue;
		}
		size_t tok = strcspn(sig, " ");
		int is_list = sig[tok - 1] == '*';
		unsigned group = 1;
		if (is_list && tok == 3)
			group = (unsigned)(sig[1] - '0'); /* "u4*" */
		char kind = sig[0];
		if (!is_list) {
			if (i >= op->argc || (kind == 's' ? !is_str(&op->args[i]) : !is_int(&op->args[i])))
				return 0;
			i++;
		} else {
			if (i >= op->argc || !is_int(&op->args[i]))
				return 0;
			uint64_t n = le64(op->args[i].data);
			i++;
			if (n > op->argc - i || n * group > op->argc - i)
				return 0;
			for (uint64_t k = 0; k < n * group; k++, i++)
				if (kind == 's' ? !is_str(&op->args[i]) : !is_int(&op->args[i]))
					return 0;
		}
		sig += tok;
	}
	return i == op->argc;
}

static int stage_allowed(const struct plan_op *op)
{
	static const char letters[] = { [STAGE_PARENT] = 'P', [STAGE_PARENT_AFTER] = 'A', [STAGE_CHILD] = 'C' };
	return op->stage <= STAGE_CHILD && strchr(ops[op->code].stages, letters[op->stage]) != NULL;
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
	/* first pass: count ops and check bounds; second pass: fill and check each op */
	for (int pass = 0; pass < 2; pass++) {
		size_t pos = 8, n = 0;
		while (pos < len) {
			if (len - pos < 8)
				goto bad;
			uint16_t code = (uint16_t)((unsigned char)buf[pos] | ((unsigned char)buf[pos + 1] << 8));
			uint8_t stage = (uint8_t)buf[pos + 2];
			uint32_t argc = le32(buf + pos + 4);
			pos += 8;
			/* every arg takes at least its 4-byte length: a bigger count is a lie */
			if (argc > (len - pos) / 4)
				goto bad;
			struct plan_arg *args = NULL;
			if (pass == 1) {
				args = calloc(argc ? argc : 1, sizeof(*args));
				if (!args)
					goto bad;
				plan->ops[n] = (struct plan_op){ code, stage, argc, args };
			}
			for (uint32_t i = 0; i < argc; i++) {
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
			if (pass == 1) {
				const struct plan_op *op = &plan->ops[n];
				if (code == 0 || code >= OP_MAX || !ops[code].name)
					fail_msg("plan", EPROTO, NULL, "unknown op code in plan");
				if (!stage_allowed(op))
					fail_msg("plan", EPROTO, ops[code].name, "op not valid in its stage");
				if (!matches_signature(op))
					fail_msg("plan", EPROTO, ops[code].name, "op arguments do not follow its signature");
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

/* The signature was checked when the plan was read: these only guard against a mistake in the
 * op's own code. */
uint64_t arg_u64(const struct plan_op *op, unsigned i)
{
	if (i >= op->argc || !is_int(&op->args[i]))
		fail_msg("plan", EPROTO, op_name(op->code), "malformed integer argument in plan");
	return le64(op->args[i].data);
}

const char *arg_str(const struct plan_op *op, unsigned i)
{
	if (i >= op->argc || !is_str(&op->args[i]))
		fail_msg("plan", EPROTO, op_name(op->code), "malformed string argument in plan");
	return op->args[i].data;
}

/* a "s*" argument at *pos: a NULL-terminated array of its strings (pointing into the plan) */
char **arg_list(const struct plan_op *op, unsigned *pos)
{
	uint64_t n = arg_u64(op, (*pos)++);
	if (n > op->argc)
		fail_msg("plan", EPROTO, op_name(op->code), "malformed list in plan");
	char **list = calloc((size_t)n + 1, sizeof(char *));
	if (!list)
		fail(op_name(op->code), ENOMEM, NULL);
	for (uint64_t i = 0; i < n; i++)
		list[i] = (char *)arg_str(op, (*pos)++);
	return list;
}

const char *op_name(unsigned code)
{
	return code < OP_MAX && ops[code].name ? ops[code].name : "unknown-op";
}

void plan_free(struct plan *plan)
{
	for (size_t i = 0; i < plan->nops; i++)
		free(plan->ops[i].args);
	free(plan->ops);
	free(plan->buf);
	plan->ops = NULL;
	plan->buf = NULL;
	plan->nops = 0;
}
