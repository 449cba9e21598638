/* berth-init — carries out a plan that berth's TypeScript compiled; decides nothing.
 *
 *   berth-init create --plan-fd N --sync-fd M [--foreground]
 *   berth-init check-syscalls NAME...
 *   berth-init reap -- COMMAND [ARG...]   (subreaper: adopts and reaps orphaned containers)
 *   berth-init [init] -- COMMAND [ARG...] (a container's PID 1 for --init: tinit.c)
 *   berth-init oom-watch CGROUP_DIR       (cgroup v1 OOM notifications as lines)
 *   berth-init view --dir DIR …           (a container's limits view: view.c)
 *   berth-init view-off PID TARGET…       (unmounts a dead view's files in the container)
 *
 * It always runs from a sealed memfd copy of itself, so a container can never overwrite
 * the binary on the host through /proc/self/exe (CVE-2019-5736).
 */
#include "init.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/wait.h>

struct init_ctx ctx = {
	.sync_fd = -1, .stage = "parent", .root_fd = -1, .start_fd = -1,
	.console_fd = -1, .relay_fd = -1, .cgroup_fd = -1,
	.seccomp_listener_fd = -1, .seccomp_notify_fd = -1, .caller_netns_fd = -1, .view_fd = -1,
	.go_pipe = { -1, -1 }, .ready_pipe = { -1, -1 },
};

extern char **environ;

static int is_sealed(void)
{
	int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	int seals = fcntl(fd, F_GET_SEALS);
	close(fd);
	return seals >= 0 && (seals & F_SEAL_WRITE) && (seals & F_SEAL_SEAL);
}

/*
 * For the processes that live as long as a container (the monitor, the limits view): the pages
 * of code their set-up ran are let go once it is over. The binary is a sealed memfd (shmem), so
 * every fault mapped up to 64 KiB of its neighbours too; the long-lived loop then faults back
 * only what it runs (the monitor's RSS: 1.2 MB before, 0.5 MB after). Code only: it is mapped
 * read-only and never copied on write, so nothing is lost; data and stack stay as they are.
 */
void release_setup_pages(void)
{
	extern char __executable_start[], __etext[];
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t start = ((uintptr_t)__executable_start + page - 1) & ~(page - 1);
	uintptr_t end = (uintptr_t)__etext & ~(page - 1);
	if (end > start)
		madvise((void *)start, end - start, MADV_DONTNEED);
}

static void reexec_sealed(char **argv)
{
	if (is_sealed())
		return;
	int src = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	int mem = memfd_create("berth-init", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	struct stat st;
	if (src < 0 || mem < 0 || fstat(src, &st) < 0) {
		perror("berth-init: cannot make a sealed copy of itself");
		exit(BERTH_INIT_EXIT_SETUP_FAILED);
	}
	off_t off = 0;
	while (off < st.st_size) {
		ssize_t n = sendfile(mem, src, &off, (size_t)(st.st_size - off));
		if (n <= 0) {
			perror("berth-init: sendfile");
			exit(BERTH_INIT_EXIT_SETUP_FAILED);
		}
	}
	close(src);
	if (fcntl(mem, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
		perror("berth-init: seal");
		exit(BERTH_INIT_EXIT_SETUP_FAILED);
	}
	fexecve(mem, argv, environ);
	perror("berth-init: fexecve");
	exit(BERTH_INIT_EXIT_SETUP_FAILED);
}

static pid_t reap_child;
static void reap_forward(int sig)
{
	if (reap_child > 0)
		kill(reap_child, sig);
}

static int reap_main(int argc, char **argv)
{
	if (argc < 1) {
		fprintf(stderr, "usage: berth-init reap -- COMMAND [ARG...]\n");
		return 2;
	}
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
		perror("berth-init: PR_SET_CHILD_SUBREAPER");
		return BERTH_INIT_EXIT_SETUP_FAILED;
	}
	reap_child = fork();
	if (reap_child < 0) {
		perror("berth-init: fork");
		return BERTH_INIT_EXIT_SETUP_FAILED;
	}
	if (reap_child == 0) {
		execvp(argv[0], argv);
		perror(argv[0]);
		_exit(127);
	}
	struct sigaction sa = { .sa_handler = reap_forward, .sa_flags = SA_RESTART };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	int status = 0, result = -1;
	for (;;) {
		pid_t pid = waitpid(-1, &status, 0);
		if (pid < 0 && errno == EINTR)
			continue;
		if (pid < 0)
			break;
		if (pid == reap_child) {
			result = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
			/* reap what already ended, then leave; live orphans go up to our parent */
			while (waitpid(-1, &status, WNOHANG) > 0)
				;
			break;
		}
	}
	return result < 0 ? BERTH_INIT_EXIT_SETUP_FAILED : result;
}

static int parse_fd(const char *s)
{
	char *end;
	long v = strtol(s ? s : "", &end, 10);
	return (s && *s && !*end && v >= 0 && v < 65536) ? (int)v : -1;
}

/* `berth-init check-plan < plan`: read and check a plan as `create` would, print its ops */
static int check_plan(void)
{
	struct plan plan = { 0 };
	int rc = plan_read(0, &plan);
	if (rc < 0) {
		fprintf(stderr, "berth-init: check-plan: %s\n", strerror(-rc));
		return 1;
	}
	for (size_t i = 0; i < plan.nops; i++)
		printf("%s %u %u\n", op_name(plan.ops[i].code), plan.ops[i].stage, plan.ops[i].argc);
	plan_free(&plan);
	return 0;
}

int main(int argc, char **argv)
{
	/* /dev/init -- COMMAND…: the container's tiny init (tinit.c) */
	if (argc >= 2 && strcmp(argv[1], "--") == 0)
		return tinit_main(argc - 2, argv + 2);
	if (argc >= 3 && strcmp(argv[1], "init") == 0 && strcmp(argv[2], "--") == 0)
		return tinit_main(argc - 3, argv + 3);
	if (argc >= 2 && strcmp(argv[1], "check-syscalls") == 0)
		return check_syscalls(argc - 2, argv + 2);
	if (argc == 2 && strcmp(argv[1], "check-plan") == 0)
		return check_plan();
	if (argc == 2 && strcmp(argv[1], "seccomp-bpf") == 0)
		return seccomp_export();
	if (argc == 3 && strcmp(argv[1], "oom-watch") == 0)
		return oom_watch(argv[2]);
	if (argc >= 2 && strcmp(argv[1], "view") == 0)
		return view_main(argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "view-off") == 0)
		return view_off_main(argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "reap") == 0) {
		int skip = argc >= 3 && strcmp(argv[2], "--") == 0 ? 3 : 2;
		return reap_main(argc - skip, argv + skip);
	}
	if (argc < 2 || strcmp(argv[1], "create") != 0) {
		fprintf(stderr, "usage: berth-init create --plan-fd N --sync-fd M [--foreground]\n"
				"       berth-init check-syscalls NAME...\n"
				"       berth-init check-plan < PLAN\n"
				"       berth-init seccomp-bpf < PLAN\n"
				"       berth-init reap -- COMMAND [ARG...]\n"
				"       berth-init oom-watch CGROUP_DIR\n"
				"       berth-init view --dir DIR [--socket PATH] --cgroup-version 1|2 …\n"
				"       berth-init view-off PID TARGET...\n"
				"berth-init is berth's helper: run containers with berth or berth-runtime.\n");
		return 2;
	}
	int plan_fd = -1;
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--plan-fd") == 0 && i + 1 < argc)
			plan_fd = parse_fd(argv[++i]);
		else if (strcmp(argv[i], "--sync-fd") == 0 && i + 1 < argc)
			ctx.sync_fd = parse_fd(argv[++i]);
		else if (strcmp(argv[i], "--foreground") == 0)
			ctx.foreground = 1;
	}
	if (plan_fd < 0 || ctx.sync_fd < 0) {
		fprintf(stderr, "berth-init: --plan-fd and --sync-fd are required\n");
		return 2;
	}
	reexec_sealed(argv);
	close_fds_above((unsigned)(plan_fd > ctx.sync_fd ? plan_fd : ctx.sync_fd));
	/* the caller's fds must not reach the container by accident */
	if (fcntl(plan_fd, F_SETFD, FD_CLOEXEC) < 0 || fcntl(ctx.sync_fd, F_SETFD, FD_CLOEXEC) < 0) {
		perror("berth-init: --plan-fd and --sync-fd must be open");
		return BERTH_INIT_EXIT_SETUP_FAILED;
	}
	struct plan plan = { 0 };
	int rc = plan_read(plan_fd, &plan);
	close(plan_fd);
	if (rc < 0)
		fail_msg("plan", -rc, NULL, rc == -EFBIG ? "the plan is too large" : "cannot read the plan");
	rc = run_plan(&plan);
	plan_free(&plan);
	free(ctx.state_json);
	return rc;
}
