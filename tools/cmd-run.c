/*
 * cmd-run.c - `ava run`: run an unmodified program through ava.
 *
 * Without --server, a private server is forked for the duration of the
 * command (the embedded default): it listens on a socket in a fresh
 * temporary directory, over shm: unless --transport or AVA_TRANSPORT say
 * unix (or tcp: on 127.0.0.1, on a port the kernel picks, which the
 * server reports before "ready"), and the command is pointed at it
 * through AVA_SERVER.
 * OCL_ICD_VENDORS names ava's ICD file alone, so the command sees only ava's
 * platform, which presents the server's real devices. The server process
 * itself keeps the caller's environment, so it loads the real vendors.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ava-error.h"
#include "tool.h"

/* How long the private server may take to listen, and to exit. */
#define SERVER_START_MS 15000
#define SERVER_STOP_MS 5000

struct run_opts {
	const char *server;
	const char *transport;   /* the private server's: unix, shm or tcp */
	struct ava_server_config cfg;
	char **cmd;
};

static volatile sig_atomic_t child_pid;

static void
run_usage(FILE *f)
{
	fprintf(f,
		"usage: ava run [--server ADDR | --transport shm|unix|tcp] [--journal DIR]\n"
		"               [--journal-mode full|state|off] [--sync none|batch|strict]\n"
		"               [--verbose] -- CMD [ARG...]\n"
		"\n"
		"  --server ADDR       use the running server at ADDR instead of a\n"
		"                      private one\n"
		"  --transport T       the private server's transport: shm (default,\n"
		"                      or $AVA_TRANSPORT), unix or tcp (127.0.0.1)\n"
		"  --journal DIR       journal the private server's calls into DIR\n"
		"  --journal-mode M    full, state or off (default full with --journal)\n"
		"  --sync S            journal durability: none, batch (default), strict\n"
		"  --verbose           log the private server's sessions\n");
}

/* --transport, else $AVA_TRANSPORT, else shm: (the fast one). */
static bool
pick_transport(struct run_opts *o)
{
	const char *from = "--transport ";
	if (o->transport == NULL) {
		o->transport = getenv("AVA_TRANSPORT");
		from = "AVA_TRANSPORT=";
	}
	if (o->transport == NULL || o->transport[0] == '\0')
		o->transport = "shm";
	else if (strcmp(o->transport, "shm") != 0 &&
		 strcmp(o->transport, "unix") != 0 &&
		 strcmp(o->transport, "tcp") != 0) {
		tool_error("run: %s%s: the transport is shm, unix or tcp", from,
			   o->transport);
		return false;
	}
	return true;
}

static int
parse_run_options(int argc, char **argv, struct run_opts *o)
{
	static const struct option opts[] = {
		{ "server", required_argument, NULL, 's' },
		{ "transport", required_argument, NULL, 't' },
		{ "journal", required_argument, NULL, 'j' },
		{ "journal-mode", required_argument, NULL, 'm' },
		{ "sync", required_argument, NULL, 'y' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool mode_set = false;
	int c;
	/* '+': stop at the command, so its own options stay its own. */
	while ((c = getopt_long(argc, argv, "+s:t:j:m:y:vh", opts, NULL)) != -1) {
		switch (c) {
		case 's': o->server = optarg; break;
		case 't': o->transport = optarg; break;
		case 'j': o->cfg.journal_dir = optarg; break;
		case 'm':
			if (!tool_parse_journal_mode(optarg, &o->cfg.journal_mode))
				return AVA_EXIT_USAGE;
			mode_set = true;
			break;
		case 'y':
			if (!tool_parse_sync(optarg, &o->cfg.journal_sync))
				return AVA_EXIT_USAGE;
			break;
		case 'v': o->cfg.verbose = true; break;
		case 'h': run_usage(stdout); exit(0);
		default: run_usage(stderr); return AVA_EXIT_USAGE;
		}
	}
	if (optind == argc) {
		tool_error("run: no command given (usage: ava run [OPTION]... -- CMD [ARG...])");
		return AVA_EXIT_USAGE;
	}
	if (!mode_set)
		o->cfg.journal_mode = o->cfg.journal_dir ? AVA_JOURNAL_FULL
							 : AVA_JOURNAL_OFF;
	if (o->server != NULL && o->cfg.journal_dir != NULL) {
		tool_error("run: --journal applies to the private server; with "
			   "--server, journal on that server instead");
		return AVA_EXIT_USAGE;
	}
	if (o->server != NULL && o->transport != NULL) {
		tool_error("run: --transport applies to the private server; with "
			   "--server, ADDR names the transport");
		return AVA_EXIT_USAGE;
	}
	if (o->server == NULL && !pick_transport(o))
		return AVA_EXIT_USAGE;
	o->cmd = argv + optind;
	return tool_check_server_config(&o->cfg);
}

static void
forward_signal(int sig)
{
	if (child_pid > 0)
		kill((pid_t)child_pid, sig);
}

static long
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* What the server writes to the ready pipe: "listening ADDR" lines (tcp:
 * port 0 only), then "ready". */
#define READY_MAX 512

/* Read fd until "ready\n" ends buf; false if the server died or took too
 * long. */
static bool
read_ready(int fd, char *buf)
{
	size_t got = 0;
	long deadline = now_ms() + SERVER_START_MS;
	buf[0] = '\0';
	while (got < 6 || strcmp(buf + got - 6, "ready\n") != 0) {
		long left = deadline - now_ms();
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return false;
		ssize_t n = read(fd, buf + got, READY_MAX - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		got += (size_t)n;
		buf[got] = '\0';
	}
	return true;
}

/* Wait until the server is ready. Where it reported the address it got
 * (tcp: port 0), that address goes into bound (cap bytes). */
static bool
wait_ready(int fd, char *bound, size_t cap)
{
	char buf[READY_MAX];
	if (!read_ready(fd, buf))
		return false;
	const char *l = strstr(buf, "listening ");
	if (l != NULL) {
		l += 10;
		size_t n = strcspn(l, "\n");
		if (n >= cap)
			return false;
		memcpy(bound, l, n);
		bound[n] = '\0';
	}
	return true;
}

/* Start the server on addr; where it reports another address (tcp:
 * port 0), that one replaces addr (of cap bytes). */
static pid_t
start_private_server(struct ava_server_config *cfg, char *addr, size_t cap)
{
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) != 0) {
		tool_error("run: pipe: %s", strerror(errno));
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		tool_error("run: fork: %s", strerror(errno));
		close(pipefd[0]);
		close(pipefd[1]);
		return -1;
	}
	if (pid == 0) {
		close(pipefd[0]);
		const char *listen[1] = { addr };
		cfg->listen = listen;
		cfg->nlisten = 1;
		cfg->ready_fd = pipefd[1];
		cfg->spare = true;  /* the program is on its way */
		_exit(ava_server_run(cfg) == 0 ? 0 : 1);
	}
	close(pipefd[1]);
	bool ready = wait_ready(pipefd[0], addr, cap);
	close(pipefd[0]);
	if (!ready) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		tool_error("run: the private server did not start (see above)");
		return -1;
	}
	return pid;
}

/* A descriptor that polls readable once pid has exited, or -1 where the
 * kernel has no pidfd_open (before 5.3) or refuses it. */
static int
open_pidfd(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	(void)pid;
	return -1;
#endif
}

/* Wait until pid (a child) exits, ms at most; true once it is reaped.
 * The wait blocks, so `ava run` returns as soon as its server is gone,
 * not at the next tick of a polling loop. */
static bool
wait_exit(pid_t pid, long ms)
{
	long deadline = now_ms() + ms;
	int fd = open_pidfd(pid);
	bool gone = false;
	for (;;) {
		pid_t r = waitpid(pid, NULL, WNOHANG);
		gone = r == pid || (r < 0 && errno != EINTR);
		long left = deadline - now_ms();
		if (gone || left <= 0)
			break;
		if (fd >= 0) {
			struct pollfd p = { .fd = fd, .events = POLLIN };
			poll(&p, 1, (int)left);
		} else {
			usleep(1000);
		}
	}
	if (fd >= 0)
		close(fd);
	return gone;
}

static void
stop_private_server(pid_t pid)
{
	kill(pid, SIGTERM);
	if (wait_exit(pid, SERVER_STOP_MS))
		return;
	tool_error("run: the private server did not stop in %d ms; killed it",
		   SERVER_STOP_MS);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* exec CMD with ava's environment; only returns on failure. */
static void
exec_command(char **cmd, const char *icd, const char *addr)
{
	if (setenv("OCL_ICD_VENDORS", icd, 1) != 0 ||
	    setenv("AVA_SERVER", addr, 1) != 0) {
		tool_error("run: setenv: %s", strerror(errno));
		return;
	}
	execvp(cmd[0], cmd);
	tool_error("run: cannot run '%s': %s", cmd[0], strerror(errno));
}

static int
exit_status(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return AVA_EXIT_FAILURE;
}

static int
run_command(char **cmd, const char *icd, const char *addr)
{
	pid_t pid = fork();
	if (pid < 0) {
		tool_error("run: fork: %s", strerror(errno));
		return AVA_EXIT_FAILURE;
	}
	if (pid == 0) {
		exec_command(cmd, icd, addr);
		_exit(127);
	}
	child_pid = pid;
	struct sigaction sa = { .sa_handler = forward_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			tool_error("run: waitpid: %s", strerror(errno));
			return AVA_EXIT_FAILURE;
		}
	}
	child_pid = 0;
	return exit_status(status);
}

/* An absolute directory from the environment variable name, or NULL. */
static const char *
env_dir(const char *name)
{
	const char *d = getenv(name);
	return d != NULL && d[0] == '/' ? d : NULL;
}

/* A sticky, world-writable directory (a shared tmpfs like /dev/shm). */
static bool
shared_dir(const char *d)
{
	struct stat st;
	return stat(d, &st) == 0 && S_ISDIR(st.st_mode) &&
	       (st.st_mode & (S_ISVTX | S_IWOTH)) == (S_ISVTX | S_IWOTH) &&
	       access(d, W_OK | X_OK) == 0;
}

/*
 * Where the private server's socket directory goes: $TMPDIR, as the
 * user asked; else $XDG_RUNTIME_DIR; else /dev/shm, a tmpfs; else /tmp.
 * Memory rather than disk where the user did not choose: removing a
 * directory from a disk file system mounted with `discard` waits for the
 * device (1 to 2.5 ms on the project's VM), at the end of every run.
 */
static const char *
socket_base(void)
{
	const char *d = env_dir("TMPDIR");
	if (d == NULL)
		d = env_dir("XDG_RUNTIME_DIR");
	if (d == NULL && shared_dir("/dev/shm"))
		d = "/dev/shm";
	return d != NULL ? d : "/tmp";
}

static int
run_with_private_server(struct run_opts *o, const char *icd)
{
	const char *tmp = socket_base();
	/* A unix socket path has at most 107 bytes. */
	char dir[80], sock[96], addr[112];
	if ((size_t)snprintf(dir, sizeof(dir), "%s/ava-run-XXXXXX", tmp) >=
	    sizeof(dir)) {
		tool_error("run: %s is too long a directory to hold a socket "
			   "path; set a shorter TMPDIR", tmp);
		return AVA_EXIT_FAILURE;
	}
	if (mkdtemp(dir) == NULL) {
		tool_error("run: cannot create a directory in %s: %s",
			   tmp, strerror(errno));
		return AVA_EXIT_FAILURE;
	}
	snprintf(sock, sizeof(sock), "%s/server.sock", dir);
	/* Loopback only: guests of a private server are on this host. */
	if (strcmp(o->transport, "tcp") == 0)
		snprintf(addr, sizeof(addr), "tcp:127.0.0.1:0");
	else
		snprintf(addr, sizeof(addr), "%s:%s", o->transport, sock);

	int rc = AVA_EXIT_FAILURE;
	pid_t server = start_private_server(&o->cfg, addr, sizeof(addr));
	if (server > 0) {
		rc = run_command(o->cmd, icd, addr);
		stop_private_server(server);
	}
	unlink(sock);
	rmdir(dir);
	return rc;
}

int
cmd_run(int argc, char **argv)
{
	struct run_opts o = { .cfg = { .ready_fd = -1 } };
	int rc = parse_run_options(argc, argv, &o);
	if (rc != 0)
		return rc;
	char *icd = tool_find_icd();
	if (icd == NULL)
		return AVA_EXIT_FAILURE;
	if (o.server != NULL) {
		/* Nothing to clean up after: become the command. */
		exec_command(o.cmd, icd, o.server);
		free(icd);
		return 127;
	}
	rc = run_with_private_server(&o, icd);
	free(icd);
	return rc;
}
