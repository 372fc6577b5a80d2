/*
 * journal.c - opening and closing a journal for writing.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "huge-map.h"
#include "journal-private.h"

static void
log_stderr(void *data, const char *line)
{
	(void)data;
	fprintf(stderr, "%s\n", line);
}

void
ava_journal_options_init(struct ava_journal_options *o)
{
	*o = (struct ava_journal_options){
		.sync = AVA_JOURNAL_SYNC_BATCH,
		.level = AVA_JOURNAL_LEVEL_FULL,
		.ring_capacity = 65536,
		.arena_bytes = 64u << 20,
		.blob_threshold = 4096,
		.compress = false,
		.segment_bytes = 256u << 20,
		.map_bytes = 64ull << 30,
	};
}

/* Fill in zero fields and bound the rest. */
static int
normalize(struct ava_journal_options *o)
{
	struct ava_journal_options d;
	ava_journal_options_init(&d);
	if (o->sync > AVA_JOURNAL_SYNC_STRICT ||
	    o->level > AVA_JOURNAL_LEVEL_FULL)
		return -EINVAL;
	if (o->ring_capacity == 0)
		o->ring_capacity = d.ring_capacity;
	if (o->ring_capacity < 4 || o->ring_capacity > (1u << 24) ||
	    (o->ring_capacity & (o->ring_capacity - 1)) != 0)
		return -EINVAL;
	if (o->arena_bytes == 0)
		o->arena_bytes = d.arena_bytes;
	if (o->blob_threshold == 0)
		o->blob_threshold = d.blob_threshold;
	/* An inline payload must fit a call record's bounds. */
	if (o->blob_threshold > AVA_JOURNAL_MAX_FIELD)
		o->blob_threshold = AVA_JOURNAL_MAX_FIELD;
	if (o->segment_bytes == 0)
		o->segment_bytes = d.segment_bytes;
	if (o->map_bytes == 0)
		o->map_bytes = d.map_bytes;
	if (o->arena_bytes < 4096 || o->segment_bytes < 4096)
		return -EINVAL;
	if (o->log == NULL)
		o->log = log_stderr;
	return 0;
}

/* Create dir if needed; refuse one that holds something not a journal. */
static int
prepare_dir(const char *dir, char *why, size_t why_len)
{
	char path[4096];
	if (mkdir(dir, 0755) == 0)
		return 0;
	if (errno != EEXIST)
		return -errno;
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	if (access(path, F_OK) == 0)
		return 0;
	DIR *d = opendir(dir);
	if (d == NULL)
		return -errno;
	struct dirent *de;
	int err = 0;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			err = -ENOTEMPTY;
	closedir(d);
	if (err)
		set_why(why, why_len, "%s: exists and is not an ava journal",
			dir);
	return err;
}

/* Next session id and the highest call key, from the tables. */
static int
load_positions(struct ava_journal *j, MDB_txn *txn)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc = mdb_cursor_open(txn, j->st.sessions, &c);
	if (rc)
		return store_err(rc);
	rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
	mdb_cursor_close(c);
	if (rc == 0 && k.mv_size != 8)
		return AVA_ECORRUPT;
	atomic_store(&j->next_session, rc == 0 ? get_be64(k.mv_data) + 1 : 1);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return store_err(rc);
	rc = mdb_cursor_open(txn, j->st.calls, &c);
	if (rc)
		return store_err(rc);
	rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
	mdb_cursor_close(c);
	if (rc == 0 && k.mv_size == 16) {
		memcpy(j->last_key, k.mv_data, 16);
		j->have_last_key = true;
	}
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : store_err(rc);
}

static int
open_tables(struct ava_journal *j, char *why, size_t why_len)
{
	MDB_txn *txn;
	int err = store_open(j->dir, true, &j->opt, why, why_len, &j->st);
	if (err)
		return err;
	if (j->st.info.level != j->opt.level) {
		set_why(why, why_len, "%s: journal records at level %s",
			j->dir, j->st.info.level == AVA_JOURNAL_LEVEL_STATE
					? "state" : "full");
		return -EINVAL;
	}
	err = store_err(mdb_txn_begin(j->st.env, NULL, 0, &txn));
	if (err)
		return err;
	char reason[200] = "";
	err = load_positions(j, txn);
	if (!err)
		err = blob_open(j, txn, reason, sizeof(reason));
	if (err) {
		set_why(why, why_len, "%s: %s", j->dir,
			reason[0] ? reason : ava_strerror(err));
		mdb_txn_abort(txn);
		return err;
	}
	return store_err(mdb_txn_commit(txn));
}

/* The arena and the slots in 2 MiB pages (huge-map.h): a record's copy
 * into fresh arena memory takes two faults per 4 MiB rather than 1024,
 * and the slots, which the ring walks through once before it wraps,
 * four faults rather than 1664 (65 536 slots of 104 bytes; touching all
 * of them in 4 KiB pages took 4 to 5 ms on this project's VM, so a
 * 9000-call program's 229 pages some 0.6 ms). */
static size_t
huge_span(size_t cap)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	return (cap + page - 1) / page * page;
}

static void *
huge_map(size_t cap)
{
	void *p = ava_map_huge(-1, huge_span(cap));
	return p == MAP_FAILED ? NULL : p;
}

static size_t
slots_len(const struct ava_journal *j)
{
	return j->opt.ring_capacity * sizeof(*j->slots);
}

static int
alloc_ring(struct ava_journal *j)
{
	j->mask = j->opt.ring_capacity - 1;
	j->arena_cap = j->opt.arena_bytes;
	/* Not written here: a slot is written whole before it is read,
	 * and touching 65 536 of them in 4 KiB pages cost 4 to 5 ms at
	 * every session's first call. */
	j->slots = huge_map(slots_len(j));
	j->ready = calloc(j->opt.ring_capacity, sizeof(*j->ready));
	j->arena = huge_map(j->arena_cap);
	if (j->slots == NULL || j->ready == NULL || j->arena == NULL)
		return -ENOMEM;
	/* The first record's faults now, in the open (which a spare worker
	 * makes while it loads the vendor library), not at the first call:
	 * in a 2 MiB page each clears the whole page. */
	*(volatile uint8_t *)j->arena = 0;
	*(volatile uint8_t *)&j->slots[0].type = 0;
	pthread_mutex_init(&j->lock, NULL);
	pthread_cond_init(&j->space_cv, NULL);
	pthread_cond_init(&j->work_cv, NULL);
	pthread_cond_init(&j->done_cv, NULL);
	j->sync_init = true;
	return 0;
}

static void
free_journal(struct ava_journal *j)
{
	jio_finish(&j->io);
	blob_close(&j->bs);
	store_close(&j->st);
	if (j->sync_init) {
		pthread_mutex_destroy(&j->lock);
		pthread_cond_destroy(&j->space_cv);
		pthread_cond_destroy(&j->work_cv);
		pthread_cond_destroy(&j->done_cv);
	}
	if (j->slots)
		munmap(j->slots, huge_span(slots_len(j)));
	free((void *)j->ready);
	if (j->arena)
		munmap(j->arena, huge_span(j->arena_cap));
	free(j->bsess);
	free(j->pl);
	free(j->dir);
	free(j);
}

int
ava_journal_open(const char *dir, const struct ava_journal_options *opts,
		 char *why, size_t why_len, struct ava_journal **out)
{
	if (why && why_len)
		why[0] = '\0';
	if (dir == NULL || out == NULL)
		return -EINVAL;
	struct ava_journal *j = calloc(1, sizeof(*j));
	if (j == NULL)
		return -ENOMEM;
	j->bs.dirfd = -1;
	if (opts)
		j->opt = *opts;
	else
		ava_journal_options_init(&j->opt);
	int err = normalize(&j->opt);
	if (err)
		goto err_free;
	if (j->opt.level == AVA_JOURNAL_LEVEL_OFF) {
		j->off = true;
		*out = j;
		return 0;
	}
	j->dir = strdup(dir);
	err = j->dir ? prepare_dir(dir, why, why_len) : -ENOMEM;
	if (!err)
		err = open_tables(j, why, why_len);
	if (!err)
		err = alloc_ring(j);
	if (err)
		goto err_free;
	jio_init(&j->io, j->opt.log, j->opt.log_data);
	err = j->opt.defer_start ? 0 : writer_start(j);
	if (err)
		goto err_free;
	*out = j;
	return 0;
err_free:
	if (why && why_len && why[0] == '\0')
		set_why(why, why_len, "%s: %s", dir, ava_strerror(err));
	free_journal(j);
	return err;
}

int
ava_journal_start(struct ava_journal *j)
{
	if (j == NULL)
		return -EINVAL;
	return j->off ? 0 : writer_start(j);
}

int
ava_journal_close(struct ava_journal *j)
{
	if (j == NULL)
		return 0;
	if (j->off) {
		free(j);
		return 0;
	}
	writer_stop(j);
	int err = j->fatal;
	free_journal(j);
	return err;
}
