/*
 * cmd-checkpoint.c - `ava checkpoint` and `ava restore`: the operator's
 * end of a CONTROL connection (migrate/control.c is the server's).
 *
 *   ava checkpoint --server ADDR --session S -o IMAGE [--secret FILE]
 *   ava restore IMAGE --server ADDR [--secret FILE] [--check]
 *
 * A checkpoint is written to IMAGE.part and renamed only once the server
 * said the image is whole and the file checks, so IMAGE is never half an
 * image. A restore checks the whole file before sending a byte of it.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "ava-error.h"
#include "control.h"
#include "image.h"
#include "opencl-server.h"
#include "protocol.h"
#include "tool.h"
#include "wire.h"

struct peer {
	const char *cmd;
	const char *addr;
	const char *secret;   /* file, or NULL */
	struct ava_conn *c;
	struct ava_frame f;
};

static double
now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/* "ava CMD: ..." and the failure status. */
static int
say(const struct peer *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int
say(const struct peer *p, const char *fmt, ...)
{
	char msg[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	tool_error("%s: %s", p->cmd, msg);
	return AVA_EXIT_FAILURE;
}

/* The server's ERROR or DONE text, at most n bytes. */
static void
frame_text(const struct ava_frame *f, char *buf, size_t n)
{
	size_t len = f->payload.len > 4 ? f->payload.len - 4 : 0;
	if (len >= n)
		len = n - 1;
	memcpy(buf, len ? (const char *)f->payload.data + 4 : "", len);
	buf[len] = '\0';
}

/* Connect, say HELLO for session, and pass the server's admission. */
static int
open_peer(struct peer *p, uint64_t session)
{
	char why[400];
	ava_buf_init(&p->f.payload);
	const char *secret = p->secret ? p->secret : getenv("AVA_SECRET_FILE");
	if (ava_ctl_open(p->addr, session, ava_opencl_server.api, secret,
			 &p->c, why, sizeof(why)) < 0)
		return say(p, "%s", why);
	return 0;
}

static void
close_peer(struct peer *p)
{
	ava_transport_conn_destroy(p->c);
	ava_buf_finish(&p->f.payload);
}

/* A progress line on a terminal, at most ten times a second. */
static void
progress(const char *what, uint64_t done, uint64_t total, double *last)
{
	double t = now_s();
	if (!isatty(STDERR_FILENO) || t - *last < 0.1)
		return;
	*last = t;
	if (total > 0)
		fprintf(stderr, "\r%s %.1f / %.1f MiB (%.0f%%)", what,
			done / 1048576.0, total / 1048576.0,
			100.0 * done / total);
	else
		fprintf(stderr, "\r%s %.1f MiB", what, done / 1048576.0);
}

static void
progress_end(double last)
{
	if (last > 0)
		fputs("\r\033[K", stderr);
}

/* DONE's status and text. */
static int
done(struct peer *p, char *text, size_t n)
{
	if (p->f.h.type == AVA_MSG_ERROR) {
		frame_text(&p->f, text, n);
		return AVA_EPROTO;
	}
	if (p->f.h.type != AVA_MSG_CONTROL || p->f.h.fn != AVA_CTL_DONE ||
	    p->f.payload.len < 4) {
		snprintf(text, n, "unexpected message type %u", p->f.h.type);
		return AVA_EPROTO;
	}
	frame_text(&p->f, text, n);
	return (int32_t)ava_wire_get_le(p->f.payload.data, 4);
}

/* --session S: a session number, or 0 after one error line. */
static uint64_t
parse_session(const char *cmd, const char *arg)
{
	char *end;
	errno = 0;
	unsigned long long n = strtoull(arg, &end, 10);
	if (errno || *end || n == 0 || arg[0] == '-') {
		tool_error("%s: --session wants a session number, not '%s'",
			   cmd, arg);
		return 0;
	}
	return n;
}

static int
usage_checkpoint(FILE *f)
{
	fprintf(f, "usage: ava checkpoint --server ADDR --session S -o IMAGE "
		"[--secret FILE]\n"
		"Pause session S at a call boundary, write its whole state "
		"to IMAGE, and let it go on.\n");
	return f == stdout ? 0 : AVA_EXIT_USAGE;
}

int
cmd_checkpoint(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "server", required_argument, NULL, 's' },
		{ "session", required_argument, NULL, 'S' },
		{ "output", required_argument, NULL, 'o' },
		{ "secret", required_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct peer p = { .cmd = "checkpoint" };
	const char *out = NULL;
	uint64_t session = 0;
	int c;
	while ((c = getopt_long(argc, argv, "s:S:o:k:h", opts, NULL)) != -1) {
		switch (c) {
		case 's': p.addr = optarg; break;
		case 'o': out = optarg; break;
		case 'k': p.secret = optarg; break;
		case 'S':
			if ((session = parse_session("checkpoint", optarg)) == 0)
				return AVA_EXIT_USAGE;
			break;
		case 'h': return usage_checkpoint(stdout);
		default: return usage_checkpoint(stderr);
		}
	}
	if (p.addr == NULL || session == 0 || out == NULL || optind < argc)
		return usage_checkpoint(stderr);
	char part[4096];
	snprintf(part, sizeof(part), "%s.part", out);
	double t0 = now_s(), last = 0;
	if (open_peer(&p, session) != 0) {
		close_peer(&p);
		return AVA_EXIT_FAILURE;
	}
	int fd = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		close_peer(&p);
		return say(&p, "cannot write %s: %s", part, strerror(errno));
	}
	int r = ava_ctl_send(p.c, AVA_MSG_CONTROL, AVA_CTL_CHECKPOINT, NULL, 0);
	uint64_t bytes = 0;
	while (r == 0 && (r = ava_transport_conn_recv(p.c, &p.f)) == 0 &&
	       p.f.h.type == AVA_MSG_IMAGE) {
		r = ava_io_write_full(fd, p.f.payload.data, p.f.payload.len);
		bytes += p.f.payload.len;
		progress("checkpoint:", bytes, 0, &last);
	}
	progress_end(last);
	char text[500] = "";
	if (r == 0)
		r = done(&p, text, sizeof(text));
	else
		snprintf(text, sizeof(text), "%s", r == AVA_ECLOSED ?
			 "the server closed the connection" : ava_strerror(r));
	if (r == 0 && fsync(fd) != 0)
		r = -errno;
	close(fd);
	close_peer(&p);
	struct ava_img_summary sum;
	char why[300];
	if (r == 0 && (r = ava_img_check_file(part, &sum, why,
					      sizeof(why))) < 0)
		snprintf(text, sizeof(text), "the image does not check: %s",
			 why);
	if (r == 0 && rename(part, out) != 0) {
		r = -errno;
		snprintf(text, sizeof(text), "cannot rename the image into "
			 "place: %s", strerror(errno));
	}
	if (r != 0) {
		unlink(part);
		return say(&p, "session %" PRIu64 " on %s: %s", session,
			   p.addr, text);
	}
	double dt = now_s() - t0;
	printf("checkpoint of session %" PRIu64 " written to %s: %" PRIu64
	       " objects, %.1f MiB of contents, %.1f MiB in %.2f s "
	       "(%.0f MiB/s)\n  server: %s\n", session, out,
	       sum.live_objects, sum.state_bytes / 1048576.0,
	       bytes / 1048576.0, dt, bytes / 1048576.0 / (dt > 0 ? dt : 1),
	       text);
	return 0;
}

static int
usage_restore(FILE *f)
{
	fprintf(f, "usage: ava restore IMAGE --server ADDR [--secret FILE] "
		"[--check]\n"
		"Rebuild the session in IMAGE on the server; its guest then "
		"resumes there.\n"
		"  --check   only check IMAGE and print what it holds\n");
	return f == stdout ? 0 : AVA_EXIT_USAGE;
}

int
cmd_restore(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "server", required_argument, NULL, 's' },
		{ "secret", required_argument, NULL, 'k' },
		{ "check", no_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct peer p = { .cmd = "restore" };
	bool check = false;
	int c;
	while ((c = getopt_long(argc, argv, "s:k:ch", opts, NULL)) != -1) {
		switch (c) {
		case 's': p.addr = optarg; break;
		case 'k': p.secret = optarg; break;
		case 'c': check = true; break;
		case 'h': return usage_restore(stdout);
		default: return usage_restore(stderr);
		}
	}
	if (optind + 1 != argc || (p.addr == NULL && !check))
		return usage_restore(stderr);
	const char *image = argv[optind];
	struct ava_img_summary sum;
	char why[400], text[500] = "";
	double t0 = now_s(), last = 0;
	int r = ava_img_check_file(image, &sum, why, sizeof(why));
	if (r < 0)
		return strstr(why, image) != NULL ? say(&p, "%s", why)
						  : say(&p, "%s: %s", image, why);
	if (check) {
		printf("%s: session %" PRIu64 ", %" PRIu64 " calls, %" PRIu64
		       " objects (%" PRIu64 " live), %.1f MiB of contents, "
		       "%" PRIu32 " guest threads: ok\n", image,
		       sum.header.session, sum.calls, sum.objects,
		       sum.live_objects, sum.state_bytes / 1048576.0,
		       sum.header.nthreads);
		return 0;
	}
	int fd = open(image, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return say(&p, "cannot read %s: %s", image, strerror(errno));
	if (open_peer(&p, 0) != 0) {
		close(fd);
		close_peer(&p);
		return AVA_EXIT_FAILURE;
	}
	r = ava_ctl_send(p.c, AVA_MSG_CONTROL, AVA_CTL_RESTORE, NULL, 0);
	uint8_t *buf = malloc(AVA_CTL_IMAGE_FRAME);
	uint64_t sent = 0;
	if (buf == NULL)
		r = -ENOMEM;
	while (r == 0) {
		ssize_t n = read(fd, buf, AVA_CTL_IMAGE_FRAME);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			r = -errno;
		if (n <= 0)
			break;
		r = ava_ctl_send(p.c, AVA_MSG_IMAGE, 0, buf, (size_t)n);
		sent += (uint64_t)n;
		progress("restore:", sent, sum.file_bytes, &last);
	}
	progress_end(last);
	free(buf);
	close(fd);
	if (r == 0)
		r = ava_ctl_send(p.c, AVA_MSG_IMAGE, 0, NULL, 0);
	/* A server that stops at a bad record answers before reading the
	 * rest: its DONE says why, so read it even after a send failed. */
	int rr = ava_transport_conn_recv(p.c, &p.f);
	if (rr == 0)
		r = done(&p, text, sizeof(text));
	else if (r == 0)
		snprintf(text, sizeof(text), "%s", rr == AVA_ECLOSED ?
			 "the server closed the connection" :
			 ava_strerror(rr));
	if (r == 0 && rr != 0)
		r = rr;
	close_peer(&p);
	if (r != 0)
		return say(&p, "%s on %s: %s", image, p.addr,
			   text[0] ? text : ava_strerror(r));
	double dt = now_s() - t0;
	printf("restored session %" PRIu64 " on %s from %s: %" PRIu64
	       " objects, %.1f MiB of contents in %.2f s (%.0f MiB/s); its "
	       "guest can resume\n", sum.header.session, p.addr, image,
	       sum.live_objects, sum.state_bytes / 1048576.0, dt,
	       sum.state_bytes / 1048576.0 / (dt > 0 ? dt : 1));
	return 0;
}

static int
usage_migrate(FILE *f)
{
	fprintf(f, "usage: ava migrate --server ADDR --session S --to ADDR "
		"[--guest-addr ADDR] [--secret FILE] [--criu PID --criu-dir DIR]\n"
		"Move session S, live, from the server at --server to the "
		"one at --to.\n"
		"  --guest-addr ADDR  where the guest reaches the destination "
		"(default: --to)\n"
		"  --secret FILE      the source server's shared secret\n"
		"  --criu PID         also move the guest process PID with CRIU: "
		"it is\n"
		"                     stopped, its session moved, and it is dumped "
		"to DIR\n");
	return f == stdout ? 0 : AVA_EXIT_USAGE;
}

/* Run argv, its output into out (one line kept); the exit status. */
static int
run_quiet(char *const argv[], char *out, size_t nout)
{
	int pfd[2];
	if (pipe(pfd) != 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(pfd[1], STDOUT_FILENO);
		dup2(pfd[1], STDERR_FILENO);
		close(pfd[0]);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(pfd[1]);
	char buf[4096];
	ssize_t n;
	out[0] = '\0';
	while ((n = read(pfd[0], buf, sizeof(buf) - 1)) > 0) {
		buf[n] = '\0';
		/* The last "Error" line says why, if there is one. */
		for (char *l = strtok(buf, "\n"); l != NULL;
		     l = strtok(NULL, "\n"))
			if (out[0] == '\0' || strstr(l, "Error") != NULL)
				snprintf(out, nout, "%s", l);
	}
	close(pfd[0]);
	int status;
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/*
 * CRIU moves the guest process: it is stopped first (SIGSTOP), so it
 * makes no call while its session moves; the switch-over's MOVED then
 * waits in its sockets, and `criu dump` keeps it there, so the process
 * restored on the destination host follows its session by itself.
 */
static int
criu_check(const struct peer *p)
{
	char line[300];
	char *check[] = { "criu", "check", NULL };
	int st = run_quiet(check, line, sizeof(line));
	if (st == 127)
		return say(p, "--criu: criu is not installed (apt-get install "
			   "criu)");
	if (st != 0)
		return say(p, "--criu: `criu check` fails on this kernel (%s): "
			   "the guest process cannot be moved here; its "
			   "session can (leave out --criu)", line);
	return 0;
}

static int
criu_dump(const struct peer *p, pid_t pid, const char *dir)
{
	char line[300], spid[32];
	snprintf(spid, sizeof(spid), "%d", (int)pid);
	char *dump[] = { "criu", "dump", "--tree", spid, "--images-dir",
			 (char *)dir, "--shell-job", "--ext-unix-sk",
			 "--tcp-established", NULL };
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return say(p, "--criu-dir %s: %s", dir, strerror(errno));
	if (run_quiet(dump, line, sizeof(line)) != 0)
		return say(p, "criu dump of pid %d failed (%s); the guest "
			   "goes on here and follows its session by itself",
			   (int)pid, line);
	return 0;
}

int
cmd_migrate(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "server", required_argument, NULL, 's' },
		{ "session", required_argument, NULL, 'S' },
		{ "to", required_argument, NULL, 't' },
		{ "guest-addr", required_argument, NULL, 'g' },
		{ "secret", required_argument, NULL, 'k' },
		{ "criu", required_argument, NULL, 'c' },
		{ "criu-dir", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct peer p = { .cmd = "migrate" };
	const char *to = NULL, *guest = "", *criu_dir = NULL;
	long criu = 0;
	uint64_t session = 0;
	int c;
	char *end;
	while ((c = getopt_long(argc, argv, "s:S:t:g:k:c:d:h", opts,
				NULL)) != -1) {
		switch (c) {
		case 's': p.addr = optarg; break;
		case 't': to = optarg; break;
		case 'd': criu_dir = optarg; break;
		case 'c':
			criu = strtol(optarg, &end, 10);
			if (*end || criu <= 1) {
				tool_error("migrate: --criu wants the guest's "
					   "pid, not '%s'", optarg);
				return AVA_EXIT_USAGE;
			}
			break;
		case 'g': guest = optarg; break;
		case 'k': p.secret = optarg; break;
		case 'S':
			if ((session = parse_session("migrate", optarg)) == 0)
				return AVA_EXIT_USAGE;
			break;
		case 'h': return usage_migrate(stdout);
		default: return usage_migrate(stderr);
		}
	}
	if (p.addr == NULL || session == 0 || to == NULL || optind < argc ||
	    (criu != 0) != (criu_dir != NULL))
		return usage_migrate(stderr);
	if (criu != 0 && criu_check(&p) != 0)
		return AVA_EXIT_FAILURE;
	if (criu != 0 && kill((pid_t)criu, SIGSTOP) != 0)
		return say(&p, "--criu %ld: %s", criu, strerror(errno));
	struct ava_addr a;
	if (ava_transport_addr_parse(to, &a) < 0 ||
	    (guest[0] && ava_transport_addr_parse(guest, &a) < 0)) {
		tool_error("migrate: '%s' is not an address (unix:PATH, "
			   "tcp:HOST:PORT or shm:PATH)", guest[0] ? guest : to);
		return AVA_EXIT_USAGE;
	}
	if (open_peer(&p, session) != 0) {
		close_peer(&p);
		return AVA_EXIT_FAILURE;
	}
	size_t n = 4 + strlen(to) + 1 + strlen(guest);
	uint8_t *req = malloc(n);
	int r = req == NULL ? -ENOMEM : 0;
	if (r == 0) {
		ava_wire_put_le(req, 0, 4);
		memcpy(req + 4, to, strlen(to));
		req[4 + strlen(to)] = '\n';
		memcpy(req + 5 + strlen(to), guest, strlen(guest));
		r = ava_ctl_send(p.c, AVA_MSG_CONTROL, AVA_CTL_MIGRATE, req, n);
	}
	free(req);
	bool tty = isatty(STDERR_FILENO);
	while (r == 0 && (r = ava_transport_conn_recv(p.c, &p.f)) == 0 &&
	       p.f.h.type == AVA_MSG_CONTROL && p.f.h.fn == AVA_CTL_PROGRESS &&
	       p.f.payload.len == 40) {
		const uint8_t *q = p.f.payload.data;
		if (tty)
			fprintf(stderr, "\rmigrate: round %" PRIu64 ", %.1f MiB "
				"moved, %.1f MiB dirty of %.1f MiB, %.1f s",
				ava_wire_get_le(q, 8),
				ava_wire_get_le(q + 8, 8) / 1048576.0,
				ava_wire_get_le(q + 16, 8) / 1048576.0,
				ava_wire_get_le(q + 24, 8) / 1048576.0,
				ava_wire_get_le(q + 32, 8) / 1e9);
	}
	if (tty)
		fputs("\r\033[K", stderr);
	char text[600] = "";
	if (r == 0)
		r = done(&p, text, sizeof(text));
	else
		snprintf(text, sizeof(text), "%s", r == AVA_ECLOSED ?
			 "the source server closed the connection" :
			 ava_strerror(r));
	close_peer(&p);
	if (r != 0) {
		if (criu != 0)
			kill((pid_t)criu, SIGCONT);
		return say(&p, "session %" PRIu64 ": %s", session, text);
	}
	printf("migrated: %s\n", text);
	if (criu != 0) {
		if (criu_dump(&p, (pid_t)criu, criu_dir) != 0) {
			kill((pid_t)criu, SIGCONT);
			return AVA_EXIT_FAILURE;
		}
		printf("guest pid %ld dumped to %s: on the destination host, "
		       "run `criu restore --images-dir %s --shell-job "
		       "--ext-unix-sk --tcp-established`; it resumes its "
		       "session there by itself\n", criu, criu_dir, criu_dir);
	}
	return 0;
}
