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
	uint32_t argc;
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
	int start_fd;          /* listening start socket (OP_START_SOCKET), until OP_EXEC_WAIT */
	int console_fd;        /* connected console socket */
	int relay_fd;          /* parent's end of the console pair, or -1 */
	int cgroup_fd;         /* O_PATH fd of the cgroup v2 dir to clone into, or -1 */
	int seccomp_listener_fd; /* connected linux.seccomp.listenerPath socket, or -1 */
	int seccomp_notify_fd; /* the loaded filter's notify fd, or -1 */
	int caller_netns_fd;   /* the network namespace berth-init started in, kept when OP_SETNS
	                          leaves it: the monitor's exit command runs there, not in the
	                          container's network namespace; or -1 */
	pid_t host_pid;        /* the child's pid in the parent's pid namespace (from the go pipe) */
	int idmap_trees[BERTH_MAX_IDMAP_TREES]; /* OP_IDMAP_TREE fds + 1 (0: none), by slot */
	int go_pipe[2];        /* parent -> child: id maps written, go on */
	int ready_pipe[2];     /* child -> parent: created (one byte) */
	pid_t child;
	int foreground;        /* parent waits for the container and passes its status */
	char *state_json;      /* OCI state, from the last hooks acknowledgement */
	char exec_path[4096];
	char *home_env;        /* "HOME=…" for OP_EXEC (OP_HOME_ENV, OP_USER), or NULL */
	struct {               /* OP_USER: the user it found, for setgroups/setgid/setuid/console */
		int resolved;
		uid_t uid;
		gid_t gid;
		gid_t *groups;
		size_t ngroups;
	} user;
	char *deferred_cwd;    /* OP_CHDIR denied as root: tried again by OP_CHDIR_DEFERRED */
	void *seccomp;         /* scmp_filter_ctx while a filter is being built */
	int view_fd;           /* OP_VIEW: the control socket of the container's view, or -1 */
	pid_t view_pid;        /* OP_VIEW: its keeper */
};

extern struct init_ctx ctx;

/* cleanup helpers (__attribute__((cleanup))) */
void close_fdp(int *fd);
void free_ptr(void *p);
#define AUTO_FD __attribute__((cleanup(close_fdp))) int
#define AUTO_FREE __attribute__((cleanup(free_ptr)))

/* plan.c */
int plan_read(int fd, struct plan *plan);
void plan_free(struct plan *plan);
uint64_t arg_u64(const struct plan_op *op, unsigned i);
const char *arg_str(const struct plan_op *op, unsigned i);
char **arg_list(const struct plan_op *op, unsigned *pos);
const char *op_name(unsigned code);

/* report.c: one error report, sent where the failing call is, then the process exits */
void report_error(const char *op, int err, const char *path, const char *message);
__attribute__((noreturn)) void fail(const char *op, int err, const char *path);
__attribute__((noreturn)) void fail_msg(const char *op, int err, const char *path, const char *message);
int sync_send(const char *json);
char *sync_read_line(void);
void json_escape(char *out, size_t outlen, const char *in);
int write_all(int fd, const char *buf, size_t len);

/* fds.c */
void close_host_fds(unsigned first);
void cloexec_from(unsigned first);
void close_fds_above(unsigned last);
void release_setup_pages(void);

/* fs.c: paths inside the container's root */
int open_in_root(const char *path, int create_kind, int final_flags);
int open_parent(const char *path, char *name, size_t namelen);
void procfd_path(char *buf, size_t len, int fd);
void op_mkdir(const struct plan_op *op);
void op_mknod(const struct plan_op *op);
void op_symlink(const struct plan_op *op);
void op_bind_device(const struct plan_op *op);

/* mount.c */
void op_rootfs(const struct plan_op *op);
void op_mount(const struct plan_op *op);
void op_bind_tree(const struct plan_op *op);
void op_device_tree(const struct plan_op *op);
void op_rootfs_tree(const struct plan_op *op);
void op_pivot_root(void);
void op_chroot(const struct plan_op *op);
void op_mask(const struct plan_op *op);
void op_readonly(const struct plan_op *op);
void op_remount_root_ro(void);
void op_remount(const struct plan_op *op);
void op_detach(const struct plan_op *op);

/* process.c: what turns this process into the container's program */
void op_console(const struct plan_op *op);
void op_chdir(const struct plan_op *op);
void op_chdir_deferred(void);
void op_setuid(const struct plan_op *op);
void op_setgroups(const struct plan_op *op);
void op_caps_bounding(const struct plan_op *op);
void op_caps_set(const struct plan_op *op);
void op_rlimit(const struct plan_op *op);
void op_sched(const struct plan_op *op);
void op_affinity(const struct plan_op *op);
void op_resolve_exec(const struct plan_op *op);
void op_reset_signals(void);
/* user.c */
void op_home_env(const struct plan_op *op);
void op_user(const struct plan_op *op);
void op_exec(const struct plan_op *op);
void write_file(const char *path, const char *content);
int connect_unix(const char *path);
int listen_unix(const char *path, int backlog, int sock_flags);
/* tinit.c */
int tinit_main(int argc, char **argv);
void seccomp_bpf_op(const struct plan_op *op);
int seccomp_export(void);
int connect_seccomp_agent(const char *path);
void send_fd(int sock, int fd, const void *data, size_t len, const char *what);
int recv_fd(int sock);

/* hooks.c */
void op_hooks(const struct plan_op *op);
void op_run_hook(const struct plan_op *op);

/* start.c: the start socket */
void op_start_socket(const struct plan_op *op);
void op_exec_wait(void);

/* ops.c */
void run_op(const struct plan_op *op);

/* seccomp.c */
void seccomp_op(const struct plan_op *op);
void seccomp_notify_send(const struct plan_op *op);
int check_syscalls(int argc, char **argv);

/* oom.c */
int oom_watch(const char *dir);
struct sockaddr_un;
int unix_sockaddr(const char *path, struct sockaddr_un *addr);
int view_main(int argc, char **argv);
void op_view(const struct plan_op *op);
int view_off_main(int argc, char **argv);

/* monitor.c */
void op_monitor(const struct plan_op *op);
void monitor_child_stdio(void);
int monitor_on(void);
int monitor_run(void);

/* relay.c */
int relay_console(void);

/* stage.c */
int run_plan(struct plan *plan);

#endif
