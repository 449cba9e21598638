/* init.h — shared declarations of berth-init's C files. Not part of the TS contract
 * (that is protocol.h). */
#ifndef BERTH_INIT_H
#define BERTH_INIT_H

#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <unistd.h>

#include "protocol.h"

struct plan_arg {
	uint32_t len;
	const char *data;
};

struct plan_op {
	uint16_t code;
	uint8_t stage;
	uint8_t argc;
	struct plan_arg *args;
};

struct plan {
	char *buf;
	size_t nops;
	struct plan_op *ops;
};

#define BERTH_MAX_IDMAP_TREES 64

struct init_ctx {
	int sync_fd;
	const char *stage;     /* "parent" or "child", for error reports */
	int root_fd;           /* O_PATH fd of the container root (after OP_ROOTFS) */
	int host_proc_fd;      /* O_PATH fd of the host's /proc, kept across pivot_root */
	int fifo_fd;           /* O_PATH fd of the exec fifo */
	int console_fd;        /* connected console socket */
	int relay_fd;          /* parent's end of the console pair, or -1 */
	int cgroup_fd;         /* O_PATH fd of the cgroup v2 dir to clone into, or -1 */
	int seccomp_listener_fd; /* connected linux.seccomp.listenerPath socket, or -1 */
	int seccomp_notify_fd; /* the loaded filter's notify fd, or -1 */
	pid_t host_pid;        /* the child's pid in the parent's pid namespace (from the go pipe) */
	int idmap_trees[BERTH_MAX_IDMAP_TREES]; /* OP_IDMAP_TREE fds + 1 (0: none), by slot */
	int go_pipe[2];        /* parent -> child: id maps written, go on */
	int ready_pipe[2];     /* child -> parent: created (one byte) */
	pid_t child;
	int foreground;        /* parent waits for the container and passes its status */
	char *state_json;      /* OCI state, from the last hooks acknowledgement */
	char exec_path[4096];
	void *seccomp;         /* scmp_filter_ctx while a filter is being built */
};

extern struct init_ctx ctx;

/* plan.c */
int plan_read(int fd, struct plan *plan);
uint64_t arg_u64(const struct plan_op *op, unsigned i);
const char *arg_str(const struct plan_op *op, unsigned i);
const char *op_name(unsigned code);

/* report.c: one error report, sent where the failing call is, then the process exits */
void report_error(const char *op, int err, const char *path, const char *message);
__attribute__((noreturn)) void fail(const char *op, int err, const char *path);
__attribute__((noreturn)) void fail_msg(const char *op, int err, const char *path, const char *message);
int sync_send(const char *json);
char *sync_read_line(void);
void json_escape(char *out, size_t outlen, const char *in);

/* ops.c */
void run_op(const struct plan_op *op);
int open_in_root(const char *path, int create_kind, int final_flags);

/* seccomp.c */
void seccomp_op(const struct plan_op *op);
void seccomp_notify_send(const struct plan_op *op);
void op_idmap_tree(const struct plan_op *op);
void send_fd(int sock, int fd, const void *data, size_t len, const char *what);
int check_syscalls(int argc, char **argv);

/* oom.c */
int oom_watch(const char *dir);

/* relay.c */
int relay_console(void);

/* stage.c */
int run_plan(struct plan *plan);

#endif
