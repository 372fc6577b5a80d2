/*
 * control.h - the CONTROL connection's pieces, shared by the server's
 * side (control.c) and the operator's commands (tools/cmd-checkpoint.c):
 * frames, and an image stream carried in IMAGE frames.
 */
#ifndef AVA_CONTROL_H
#define AVA_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "session-move.h"
#include "transport.h"

/* Image bytes per IMAGE frame. */
#define AVA_CTL_IMAGE_FRAME (1u << 20)

/* The server's handlers, for ava_server_set_control(). */
extern const struct ava_control_ops ava_migrate_control;

int
ava_ctl_send(struct ava_conn *c, uint8_t type, uint32_t fn, const void *p,
	     size_t n);

/*
 * Open a CONTROL connection for session (0: a new one) at addr, and pass
 * the server's admission: proving secret_file's secret if it asks (NULL:
 * none to give). Returns 0, or an error with one line in why.
 */
int
ava_ctl_open(const char *addr, uint64_t session,
	     const struct ava_api_desc *api, const char *secret_file,
	     struct ava_conn **out, char *why, size_t nwhy);

/* DONE: status, then one line of text. */
int
ava_ctl_done(struct ava_conn *c, int status, const char *text);

/* An ava_img_write_fn: ctx is the connection. */
int
ava_ctl_image_write(void *ctx, const void *p, size_t n);

/* An ava_img_read_fn over IMAGE frames; an empty frame ends the image. */
struct ava_ctl_image_in {
	struct ava_conn *c;
	struct ava_frame f;
	size_t off;
	bool ended;
};

void
ava_ctl_image_in_init(struct ava_ctl_image_in *in, struct ava_conn *c);

void
ava_ctl_image_in_finish(struct ava_ctl_image_in *in);

int
ava_ctl_image_read(void *ctx, void *p, size_t n);

#endif
