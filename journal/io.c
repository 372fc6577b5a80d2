/*
 * io.c - blob segment writes: io_uring with up to JIO_DEPTH requests in
 * flight, or plain pwrite/fdatasync where io_uring is unavailable.
 *
 * Only the journal thread uses a struct jio, so nothing here locks.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "journal-private.h"

/* io_uring's length field is 32 bits; split larger writes. */
#define MAX_CHUNK (64u << 20)

void
jio_init(struct jio *io, void (*log)(void *, const char *), void *log_data)
{
	memset(io, 0, sizeof(*io));
	for (int i = JIO_DEPTH - 1; i >= 0; i--) {
		io->reqs[i].next_free = io->free;
		io->free = &io->reqs[i];
	}
	const char *no = getenv("AVA_JOURNAL_NO_URING");
	if (no != NULL && strcmp(no, "1") == 0) {
		log(log_data, "ava journal: AVA_JOURNAL_NO_URING=1: "
			      "writing blobs with pwrite");
		return;
	}
	int rc = io_uring_queue_init(JIO_DEPTH, &io->ring, 0);
	if (rc < 0) {
		char line[160];
		snprintf(line, sizeof(line), "ava journal: io_uring unavailable "
			 "(%s): writing blobs with pwrite", strerror(-rc));
		log(log_data, line);
		return;
	}
	io->uring = true;
}

void
jio_finish(struct jio *io)
{
	if (io->uring) {
		jio_wait(io);
		io_uring_queue_exit(&io->ring);
	}
	io->uring = false;
}

static int
pwrite_all(struct jio *io, int fd, const uint8_t *buf, size_t len,
	   uint64_t off)
{
	while (len > 0) {
		ssize_t n = pwrite(fd, buf, len, (off_t)off);
		io->pwrites++;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		buf += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static void
prep(struct io_uring_sqe *sqe, struct jio_req *r)
{
	if (r->op == 1) {
		io_uring_prep_fsync(sqe, r->fd, IORING_FSYNC_DATASYNC);
	} else {
		unsigned n = r->len > MAX_CHUNK ? MAX_CHUNK : (unsigned)r->len;
		io_uring_prep_write(sqe, r->fd, r->buf, n, r->off);
	}
	io_uring_sqe_set_data(sqe, r);
}

static int
submit(struct jio *io)
{
	if (io->queued == 0)
		return 0;
	int n = io_uring_submit(&io->ring);
	if (n < 0)
		return n;
	io->submissions += (uint64_t)n;
	io->inflight += (unsigned)n;
	io->queued -= (unsigned)n;
	return 0;
}

/* A short write resubmits the rest; anything else retires the request. */
static void
complete(struct jio *io, struct jio_req *r, int res)
{
	io->completions++;
	io->inflight--;
	if (res < 0 && io->err == 0)
		io->err = res;
	if (res > 0 && r->op == 0 && (size_t)res < r->len) {
		r->buf += res;
		r->len -= (size_t)res;
		r->off += (uint64_t)res;
		struct io_uring_sqe *sqe = io_uring_get_sqe(&io->ring);
		if (sqe != NULL) {
			prep(sqe, r);
			io->queued++;
			return;
		}
		if (io->err == 0)
			io->err = -EIO;
	} else if (res == 0 && r->op == 0 && r->len > 0 && io->err == 0) {
		io->err = -EIO;
	}
	r->next_free = io->free;
	io->free = r;
}

static int
reap_one(struct jio *io)
{
	struct io_uring_cqe *cqe;
	int rc = submit(io);
	if (rc < 0)
		return rc;
	rc = io_uring_wait_cqe(&io->ring, &cqe);
	if (rc < 0)
		return rc;
	struct jio_req *r = io_uring_cqe_get_data(cqe);
	int res = cqe->res;
	io_uring_cqe_seen(&io->ring, cqe);
	complete(io, r, res);
	return 0;
}

static int
queue(struct jio *io, int op, int fd, const void *buf, size_t len,
      uint64_t off)
{
	while (io->free == NULL) {
		int rc = reap_one(io);
		if (rc < 0)
			return rc;
	}
	struct jio_req *r = io->free;
	io->free = r->next_free;
	*r = (struct jio_req){ fd, op, buf, len, off, NULL };
	struct io_uring_sqe *sqe = io_uring_get_sqe(&io->ring);
	if (sqe == NULL) {
		int rc = submit(io);
		sqe = rc == 0 ? io_uring_get_sqe(&io->ring) : NULL;
		if (sqe == NULL)
			return rc < 0 ? rc : -EBUSY;
	}
	prep(sqe, r);
	io->queued++;
	/* Submit in small groups so the device sees work early. */
	return io->queued >= 8 ? submit(io) : 0;
}

int
jio_write(struct jio *io, int fd, const void *buf, size_t len, uint64_t off)
{
	if (!io->uring) {
		int rc = pwrite_all(io, fd, buf, len, off);
		if (rc < 0 && io->err == 0)
			io->err = rc;
		return rc;
	}
	return queue(io, 0, fd, buf, len, off);
}

int
jio_fsync(struct jio *io, int fd)
{
	io->fsyncs++;
	if (!io->uring) {
		int rc = fdatasync(fd) == 0 ? 0 : -errno;
		if (rc < 0 && io->err == 0)
			io->err = rc;
		return rc;
	}
	return queue(io, 1, fd, NULL, 0, 0);
}

int
jio_wait(struct jio *io)
{
	while (io->uring && (io->inflight > 0 || io->queued > 0)) {
		int rc = reap_one(io);
		if (rc < 0) {
			if (io->err == 0)
				io->err = rc;
			break;
		}
	}
	int err = io->err;
	io->err = 0;
	return err;
}
