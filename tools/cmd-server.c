/*
 * cmd-server.c - `ava server`: serve guests on this host's devices.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ava-error.h"
#include "auth.h"
#include "tool.h"

#define MAX_LISTEN 16

static void
server_usage(FILE *f)
{
	fprintf(f,
		"usage: ava server [--listen ADDR]... [--journal DIR]"
		" [--journal-mode full|state|off] [--sync none|batch|strict]\n"
		"                  [--config FILE] [--spare] [--verbose]\n"
		"\n"
		"  --listen ADDR       accept guests at ADDR (unix:PATH, shm:PATH or\n"
		"                      tcp:HOST:PORT; port 0: any free port, printed);\n"
		"                      may be repeated\n"
		"                      default: unix:$XDG_RUNTIME_DIR/ava.sock, else\n"
		"                      unix:/tmp/ava-UID.sock\n"
		"  --journal DIR       journal every forwarded call into DIR\n"
		"  --journal-mode M    full, state or off (default full with --journal)\n"
		"  --sync S            journal durability: none, batch (default), strict\n"
		"  --config FILE       operator policy file (quotas, sharing)\n"
		"  --secret FILE       shared secret that `ava checkpoint` and `ava\n"
		"                      restore` must prove (needed for tcp:)\n"
		"  --spare             keep one worker ready, its vendor library\n"
		"                      loaded, for the next guest (forked at start\n"
		"                      and whenever no session is left)\n"
		"  --verbose           log every session's start and end\n");
}

static char *
default_address(void)
{
	const char *run = getenv("XDG_RUNTIME_DIR");
	char *addr = NULL;
	int n;
	if (run != NULL && run[0] == '/')
		n = asprintf(&addr, "unix:%s/ava.sock", run);
	else
		n = asprintf(&addr, "unix:/tmp/ava-%u.sock", (unsigned)getuid());
	return n < 0 ? NULL : addr;
}

/* Options shared with `ava run`'s private server live in the config. */
static int
parse_server_options(int argc, char **argv, struct ava_server_config *cfg,
		     const char **listen)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "journal", required_argument, NULL, 'j' },
		{ "journal-mode", required_argument, NULL, 'm' },
		{ "sync", required_argument, NULL, 'y' },
		{ "config", required_argument, NULL, 'c' },
		{ "secret", required_argument, NULL, 'k' },
		{ "spare", no_argument, NULL, 's' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool mode_set = false;
	int c;
	while ((c = getopt_long(argc, argv, "l:j:m:y:c:k:svh", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			if (cfg->nlisten == MAX_LISTEN) {
				tool_error("server: at most %d --listen addresses",
					   MAX_LISTEN);
				return AVA_EXIT_USAGE;
			}
			listen[cfg->nlisten++] = optarg;
			break;
		case 'j':
			cfg->journal_dir = optarg;
			break;
		case 'm':
			if (!tool_parse_journal_mode(optarg, &cfg->journal_mode))
				return AVA_EXIT_USAGE;
			mode_set = true;
			break;
		case 'c':
			cfg->config_file = optarg;
			break;
		case 'k':
			cfg->secret_file = optarg;
			break;
		case 'y':
			if (!tool_parse_sync(optarg, &cfg->journal_sync))
				return AVA_EXIT_USAGE;
			break;
		case 's':
			cfg->spare = true;
			cfg->keep_spare = true;
			break;
		case 'v':
			cfg->verbose = true;
			break;
		case 'h':
			server_usage(stdout);
			exit(0);
		default:
			server_usage(stderr);
			return AVA_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		tool_error("server: unexpected argument '%s'", argv[optind]);
		return AVA_EXIT_USAGE;
	}
	if (!mode_set)
		cfg->journal_mode = cfg->journal_dir ? AVA_JOURNAL_FULL
						     : AVA_JOURNAL_OFF;
	return 0;
}

int
tool_check_server_config(const struct ava_server_config *cfg)
{
	if (cfg->config_file != NULL) {
		tool_error("--config %s: policy files are not supported by this "
			   "version of ava (no quotas are enforced)",
			   cfg->config_file);
		return AVA_EXIT_USAGE;
	}
	if (cfg->journal_mode != AVA_JOURNAL_OFF && cfg->journal_dir == NULL) {
		tool_error("--journal-mode needs --journal DIR");
		return AVA_EXIT_USAGE;
	}
	if (cfg->secret_file != NULL) {
		/* Checked now, not at the first control connection. */
		struct ava_secret sec;
		char why[300];
		int r = ava_secret_load(cfg->secret_file, &sec, why, sizeof(why));
		ava_secret_clear(&sec);
		if (r < 0) {
			tool_error("server: %s", why);
			return AVA_EXIT_USAGE;
		}
	}
	return 0;
}

int
cmd_server(int argc, char **argv)
{
	const char *listen[MAX_LISTEN];
	struct ava_server_config cfg = { .listen = listen, .ready_fd = -1 };
	int rc = parse_server_options(argc, argv, &cfg, listen);
	if (rc == 0)
		rc = tool_check_server_config(&cfg);
	if (rc != 0)
		return rc;

	char *fallback = NULL;
	if (cfg.nlisten == 0) {
		fallback = default_address();
		if (fallback == NULL) {
			tool_error("server: out of memory");
			return AVA_EXIT_FAILURE;
		}
		listen[cfg.nlisten++] = fallback;
	}
	int err = ava_server_run(&cfg);
	free(fallback);
	/* ava_server_run has already said why on stderr. */
	return err == 0 ? 0 : AVA_EXIT_FAILURE;
}
