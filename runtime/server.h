/*
 * server.h - the ava API server, as `ava server` and `ava run` drive it.
 *
 * The server listens on one or more transport addresses, accepts guests,
 * and runs each guest session in its own worker process, so that one
 * guest's driver crash cannot take down another. Worker processes call the
 * vendor library through the system's ICD loader.
 */
#ifndef AVA_SERVER_H
#define AVA_SERVER_H

#include <stdbool.h>
#include <stddef.h>

enum ava_journal_mode {
	AVA_JOURNAL_OFF,
	AVA_JOURNAL_STATE,
	AVA_JOURNAL_FULL,
};

/* Journal durability (doc/journal.md says what each guarantees). */
enum ava_journal_sync_mode {
	AVA_SYNC_BATCH,   /* the default: each committed batch is synced */
	AVA_SYNC_NONE,    /* survives a server crash, not a power loss */
	AVA_SYNC_STRICT,  /* a call's reply waits until its record is synced */
};

struct ava_server_config {
	const char *const *listen;  /* addresses: unix:PATH, tcp:H:P, shm:PATH */
	size_t nlisten;
	const char *journal_dir;    /* NULL: no journal */
	enum ava_journal_mode journal_mode;
	enum ava_journal_sync_mode journal_sync;
	const char *config_file;    /* NULL: defaults */
	const char *secret_file;    /* shared secret of control peers
				     * (doc/migration-security.md); NULL:
				     * control only over local sockets */
	int ready_fd;               /* if >= 0: "ready\n" is written and the fd
				     * closed once every address listens */
	bool verbose;               /* log each session's start and end */
	bool spare;                 /* fork one worker ahead, which loads the
				     * vendor library before the first guest
				     * connects (`ava run`'s private server) */
	bool keep_spare;            /* and fork another whenever no worker
				     * is left (`ava server --spare`) */
};

/*
 * Run the server until SIGINT or SIGTERM. Blocks. Returns 0 after a clean
 * shutdown (worker processes are signalled and reaped), or a negative error
 * (ava-error.h) if an address cannot be listened on; the reason is logged as
 * one line on stderr first.
 */
int
ava_server_run(const struct ava_server_config *cfg);

#endif
