/*
 * server-private.h - the API-independent server, for server.c's callers
 * inside runtime/ and for tests (which drive it with a stand-in API).
 */
#ifndef AVA_SERVER_PRIVATE_H
#define AVA_SERVER_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "ava-generated.h"
#include "server.h"
#include "transport.h"

/* ava_server_run() for any generated API. Same contract. */
int
ava_server_run_api(const struct ava_server_config *cfg,
		   const struct ava_server_api *server);

/*
 * What a spare worker (ava_server_config.spare) runs before its first
 * connection comes: the API's own start-up (loading and initialising the
 * vendor library), which a session would otherwise pay at its first call.
 * NULL (the default): nothing.
 */
void
ava_server_set_warm(void (*warm)(void));

/*
 * In a spare worker that will journal, the start-up above runs in a
 * thread of its own, while the worker takes its connection, reads the
 * HELLO and opens the session's journal. Wait for it to end: the session
 * calls this before its first answer to the guest, and before anything
 * else of the vendor's. Anywhere else (a forked worker, a spare without
 * a journal, a second call) it returns at once. Only the worker's main
 * thread calls it.
 */
void
ava_server_await_warm(void);

/*
 * Does the vendor library hold nothing but this process's host memory
 * (a CPU device)? Then a worker says it is done once its session and
 * journal are closed, and a stopping server does not wait for the
 * kernel to take its memory back. A device's context that only the
 * process's exit gives back (a GPU's) must be gone before `ava run`
 * returns, so without this answer, or with false, the server waits for
 * the exit. NULL (the default): false.
 */
void
ava_server_set_host_only(bool (*host_only)(void));

/*
 * Serve one guest on conn until it leaves or breaks the protocol; runs in
 * the worker process. Takes ownership of conn. Logs one line on stderr
 * for a protocol violation (always) and for start/end (verbose).
 * Returns 0 after a clean end, or the error that closed the session.
 */
int
ava_session_serve(struct ava_conn *conn, uint64_t id,
		  const struct ava_server_api *server,
		  const struct ava_server_config *cfg);

/* Log "ava server: session ID (pid PID): MESSAGE" as one line. */
void
ava_session_log(uint64_t id, pid_t pid, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
