/*
 * session-callback.c - the worker's callback channel to its guest
 * (session-callback.h).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>

#include "ava-error.h"
#include "session-callback.h"
#include "wire.h"

static struct {
	pthread_mutex_t lock;      /* the channel; held while sending */
	struct ava_conn *conn;     /* NULL: no channel */
	uint8_t api_id;
} CB = { .lock = PTHREAD_MUTEX_INITIALIZER };

static _Thread_local struct ava_buf *inline_sink;

void
ava_session_callback_inline(struct ava_buf *sink)
{
	inline_sink = sink;
}

void
ava_session_callback_attach(struct ava_conn *conn, uint8_t api_id)
{
	pthread_mutex_lock(&CB.lock);
	CB.conn = conn;
	CB.api_id = api_id;
	pthread_mutex_unlock(&CB.lock);
}

void
ava_session_callback_detach(struct ava_conn *conn)
{
	pthread_mutex_lock(&CB.lock);
	if (CB.conn == conn)
		CB.conn = NULL;
	pthread_mutex_unlock(&CB.lock);
}

int
ava_session_callback_send(uint64_t cookie, const void *body, size_t len)
{
	struct ava_buf *sink = inline_sink;
	if (sink != NULL) {
		ava_buf_put_u64(sink, 8 + len);
		ava_buf_put_u64(sink, cookie);
		ava_buf_put_padded(sink, body, len);
		return ava_buf_error(sink);
	}
	struct ava_buf b;
	ava_buf_init(&b);
	ava_buf_put_u64(&b, cookie);
	ava_buf_put_bytes(&b, body, len);
	int r = ava_buf_error(&b);
	pthread_mutex_lock(&CB.lock);
	if (r == 0 && CB.conn == NULL)
		r = AVA_EDEAD;
	if (r == 0) {
		struct ava_frame_header h = {
			.magic = AVA_PROTOCOL_MAGIC,
			.version = AVA_PROTOCOL_VERSION,
			.type = AVA_MSG_CALLBACK, .api = CB.api_id,
			.len = b.len,
		};
		r = ava_transport_conn_send(CB.conn, &h, b.data);
	}
	pthread_mutex_unlock(&CB.lock);
	ava_buf_finish(&b);
	return r;
}
