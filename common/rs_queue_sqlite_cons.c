/*
 * rs_queue_sqlite_cons.c - the consumer half of the SQLite back-end.
 *
 * One process consumes a group (an exclusive lease row, taken over at
 * once when its holder died on this host, or when its lease expired).
 * It owns every shard of every subscribed topic: on_assign once at the
 * first poll, on_revoke at close.  Each shard has a bounded prefetch list
 * read in offset order; the generic tracker (rs_queue.c) decides the
 * position to store, and the poll thread writes the positions with the
 * lease renewal in one transaction every commit interval, at
 * rs_queue_commit() and at close.
 */
#include "rs/rs_base.h"
#include "rs/rs_log.h"
#include "rs_queue_sqlite_int.h"

#include <errno.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------------- */
/* Consumer: group lease                                                  */

/* Who we are, for the lease: a host name and PID namespace, so a PID is
 * only checked for liveness where it means the same process (containers
 * sharing a volume have their own PID numbering). */
static void self_identity(char *host, size_t hsize, char *ns, size_t nsize) {
	ssize_t n;

	if (gethostname(host, hsize) != 0)
		rs_snprintf(host, hsize, "?");
	host[hsize - 1] = '\0';
	n = readlink("/proc/self/ns/pid", ns, nsize - 1);
	ns[n > 0 ? n : 0] = '\0';
}

/* Takes the group's lease: free, expired, or held by a dead process on
 * this host and PID namespace (a SIGKILLed worker restarting at once).
 * Anything else refuses the second consumer with a reason that names the
 * holder: positions are per group and shard, and two readers of one
 * shard would both hand out the same rows. */
static rs_err_t lease_take(rs_queue_t *q, char *errstr, size_t errstr_size) {
	sq_t *sq = SQ(q);
	char host[128], ns[64];
	sqlite3_stmt *st = NULL;
	rs_err_t err = RS_ERR_QUEUE;
	int64_t now = rs_wall_ms();
	int rc;

	self_identity(host, sizeof(host), ns, sizeof(ns));
	rs_snprintf(sq->owner, sizeof(sq->owner), "%s/%s/%ld/%lld", host, ns,
		    (long)getpid(), (long long)rs_now_us());
	if (rs_qsql_exec(sq->cdb, "BEGIN IMMEDIATE") != SQLITE_OK)
		goto fail;
	st = rs_qsql_prep(sq->cdb, "SELECT host, pidns, pid, expires_ms FROM "
			      "rs_leases WHERE grp=?1");
	if (!st)
		goto fail;
	sqlite3_bind_text(st, 1, sq->group, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *h = (const char *)sqlite3_column_text(st, 0);
		const char *n = (const char *)sqlite3_column_text(st, 1);
		pid_t pid = (pid_t)sqlite3_column_int64(st, 2);
		int64_t exp = sqlite3_column_int64(st, 3);
		bool here = h && n && !strcmp(h, host) && !strcmp(n, ns);
		bool dead = here && pid > 0 && kill(pid, 0) != 0 &&
			    errno == ESRCH;

		if (exp > now && !dead) {
			rs_snprintf(errstr, errstr_size,
				    "sqlite queue %s: group \"%s\" is "
				    "consumed by pid %ld on %s (lease for "
				    "%lld ms more); a SQLite queue allows one "
				    "consumer process per group (use kafka to "
				    "scale out)",
				    sq->path, sq->group, (long)pid,
				    h ? h : "?", (long long)(exp - now));
			err = RS_ERR_STATE;
			goto fail;
		}
		rs_log(NULL, LOG_NOTICE, "QUEUE",
		       "sqlite: taking over group \"%s\" from pid %ld (%s)",
		       sq->group, (long)pid, dead ? "exited" : "lease expired");
	} else if (rc != SQLITE_DONE) {
		goto fail;
	}
	sqlite3_finalize(st);
	st = rs_qsql_prep(sq->cdb,
			  "INSERT OR REPLACE INTO rs_leases(grp, owner, "
			  "host, pidns, pid, expires_ms) "
			  "VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
	if (!st)
		goto fail;
	sqlite3_bind_text(st, 1, sq->group, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, sq->owner, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, host, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, ns, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (int64_t)getpid());
	sqlite3_bind_int64(st, 6, now + sq->lease_ms);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	st = NULL;
	if (rs_qsql_exec(sq->cdb, "COMMIT") != SQLITE_OK)
		goto fail;
	return RS_OK;
fail:
	if (err != RS_ERR_STATE)
		rs_snprintf(errstr, errstr_size, "sqlite lease: %s",
			    sqlite3_errmsg(sq->cdb));
	sqlite3_finalize(st);
	rs_qsql_exec(sq->cdb, "ROLLBACK");
	return err;
}

/* Gives the group back (only if the row is still ours), so the next
 * consumer starts at once instead of waiting for the lease to expire. */
static void lease_release(sq_t *sq) {
	sqlite3_stmt *st = rs_qsql_prep(sq->cdb, "DELETE FROM rs_leases "
						 "WHERE grp=?1 AND owner=?2");

	if (st && sq->group) {
		sqlite3_bind_text(st, 1, sq->group, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, sq->owner, -1, SQLITE_STATIC);
		sqlite3_step(st);
	}
	sqlite3_finalize(st);
}

/* ---------------------------------------------------------------------- */
/* Consumer: positions                                                    */

sq_topic_t *rs_qsql_topic_find(sq_t *sq, const char *name) {
	size_t i;

	for (i = 0; i < sq->topic_cnt; i++)
		if (!strcmp(sq->topics[i].name, name))
			return &sq->topics[i];
	return NULL;
}

/* The store half of the offset model, under q->lock: only remembers the
 * position; the poll thread writes it (sq_commit_write), so a worker
 * thread finishing a message never waits for the disk. */
rs_err_t rs_qsql_store(rs_queue_t *q, rs_qpart_t *part, int64_t pos) {
	sq_topic_t *t = rs_qsql_topic_find(SQ(q), part->topic);

	if (!t || part->partition < 0 || part->partition >= t->shards)
		return RS_ERR_NOT_FOUND;
	t->sh[part->partition].pending = pos;
	t->sh[part->partition].dirty = true;
	return RS_OK;
}

/* Writes the dirty positions and renews the lease in one transaction.
 * The lease row must still be ours: if another process took the group
 * over (our lease expired while we stalled), writing would move its
 * positions, so the handle turns fatal instead (Kafka: fenced). */
static rs_err_t sq_commit_write(rs_queue_t *q) {
	sq_t *sq = SQ(q);
	sqlite3_stmt *up = NULL, *ls = NULL;
	int64_t now = rs_wall_ms();
	size_t i, n = 0, cap = 0;
	struct {
		int64_t tid;
		int shard;
		int64_t pos;
		sq_shard_t *sh;
	} *w = NULL;
	rs_err_t err = RS_ERR_QUEUE;
	int s;

	pthread_mutex_lock(&q->lock);
	for (i = 0; i < sq->topic_cnt; i++)
		for (s = 0; s < sq->topics[i].shards; s++) {
			sq_shard_t *sh = &sq->topics[i].sh[s];
			if (!sh->dirty)
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 16;
				w = rs_realloc(w, cap * sizeof(*w));
			}
			w[n].tid = sq->topics[i].tid;
			w[n].shard = s;
			w[n].pos = sh->pending;
			w[n].sh = sh;
			sh->dirty = false;
			n++;
		}
	pthread_mutex_unlock(&q->lock);

	/* Failing to start is like failing to commit: the positions taken
	 * above must be marked dirty again (rollback label), or they would
	 * never be written until the shard moves again. */
	if (rs_qsql_exec(sq->cdb, "BEGIN IMMEDIATE") != SQLITE_OK)
		goto rollback;
	ls = rs_qsql_prep(sq->cdb, "UPDATE rs_leases SET expires_ms=?1 "
			      "WHERE grp=?2 AND owner=?3");
	up = rs_qsql_prep(sq->cdb,
			  "INSERT INTO rs_positions(grp, tid, shard, pos, "
			  "updated_ms) VALUES(?1, ?2, ?3, ?4, ?5) "
			  "ON CONFLICT(grp, tid, shard) DO UPDATE SET "
			  "pos=excluded.pos, updated_ms=excluded.updated_ms");
	if (!ls || !up)
		goto rollback;
	sqlite3_bind_int64(ls, 1, now + sq->lease_ms);
	sqlite3_bind_text(ls, 2, sq->group, -1, SQLITE_STATIC);
	sqlite3_bind_text(ls, 3, sq->owner, -1, SQLITE_STATIC);
	if (sqlite3_step(ls) != SQLITE_DONE)
		goto rollback;
	if (sqlite3_changes(sq->cdb) != 1) {
		if (!atomic_exchange(&sq->fatal, 1)) {
			rs_snprintf(sq->fatal_str, sizeof(sq->fatal_str),
				    "sqlite queue: group \"%s\" was taken over "
				    "by another process (lease lost)",
				    sq->group);
			rs_log(NULL, LOG_ERR, "QUEUE", "%s", sq->fatal_str);
		}
		err = RS_ERR_QUEUE_FATAL;
		goto rollback;
	}
	for (i = 0; i < n; i++) {
		sqlite3_bind_text(up, 1, sq->group, -1, SQLITE_STATIC);
		sqlite3_bind_int64(up, 2, w[i].tid);
		sqlite3_bind_int(up, 3, w[i].shard);
		sqlite3_bind_int64(up, 4, w[i].pos);
		sqlite3_bind_int64(up, 5, now);
		if (sqlite3_step(up) != SQLITE_DONE)
			goto rollback;
		sqlite3_reset(up);
	}
	if (rs_qsql_exec(sq->cdb, "COMMIT") != SQLITE_OK)
		goto rollback;
	err = RS_OK;
	goto out;
rollback:
	if (err != RS_ERR_QUEUE_FATAL) {
		rs_qsql_check_fatal(q, sqlite3_errcode(sq->cdb), sq->cdb);
		rs_log(NULL, LOG_WARNING, "QUEUE",
		       "sqlite: writing positions: %s",
		       sqlite3_errmsg(sq->cdb));
	}
	rs_qsql_exec(sq->cdb, "ROLLBACK");
	/* Written next time; pending already holds the newest value. */
	pthread_mutex_lock(&q->lock);
	for (i = 0; i < n; i++)
		w[i].sh->dirty = true;
	pthread_mutex_unlock(&q->lock);
out:
	sqlite3_finalize(ls);
	sqlite3_finalize(up);
	rs_free(w);
	return err;
}

/* Stores every partition's finished prefix, then writes it. */
rs_err_t rs_qsql_commit(rs_queue_t *q) {
	sq_t *sq = SQ(q);
	rs_qpart_t *p;

	if (sq->closed)
		return RS_ERR_STATE;
	if (atomic_load(&sq->fatal))
		return RS_ERR_QUEUE_FATAL;
	pthread_mutex_lock(&q->lock);
	for (p = q->parts; p; p = p->next)
		rs_queue_part_store(q, p);
	pthread_mutex_unlock(&q->lock);
	return sq_commit_write(q);
}

/* Reads each subscribed topic's stored positions (creating the topic and
 * the group's missing positions at auto_offset_reset), so retention sees
 * every shard of the group from the first moment on. */
static rs_err_t positions_load(rs_queue_t *q, char *errstr,
			       size_t errstr_size) {
	sq_t *sq = SQ(q);
	sqlite3_stmt *sel = NULL, *ins = NULL, *top = NULL;
	bool latest = sq->auto_offset_reset &&
		      !strcmp(sq->auto_offset_reset, "latest");
	int64_t now = rs_wall_ms();
	size_t i;
	int s;

	if (rs_qsql_exec(sq->cdb, "BEGIN IMMEDIATE") != SQLITE_OK)
		goto fail;
	sel = rs_qsql_prep(sq->cdb, "SELECT pos FROM rs_positions WHERE grp=?1 "
			       "AND tid=?2 AND shard=?3");
	ins = rs_qsql_prep(sq->cdb, "INSERT INTO rs_positions(grp, tid, shard, "
			       "pos, updated_ms) VALUES(?1, ?2, ?3, ?4, ?5)");
	top = rs_qsql_prep(sq->cdb,
			   "SELECT COALESCE(MAX(off), 0) + 1 FROM rs_msgs "
			   "WHERE tid=?1 AND shard=?2");
	if (!sel || !ins || !top)
		goto fail;
	for (i = 0; i < sq->topic_cnt; i++) {
		sq_topic_t *t = &sq->topics[i];
		if (rs_qsql_topic_lookup(sq->cdb, t->name, true,
					 sq->default_shards, false, &t->tid,
					 &t->shards) != RS_OK)
			goto fail;
		t->sh = rs_calloc((size_t)t->shards, sizeof(*t->sh));
		for (s = 0; s < t->shards; s++) {
			int64_t pos = 0;
			sqlite3_bind_text(sel, 1, sq->group, -1, SQLITE_STATIC);
			sqlite3_bind_int64(sel, 2, t->tid);
			sqlite3_bind_int(sel, 3, s);
			if (sqlite3_step(sel) == SQLITE_ROW) {
				pos = sqlite3_column_int64(sel, 0);
			} else {
				if (latest) {
					sqlite3_bind_int64(top, 1, t->tid);
					sqlite3_bind_int(top, 2, s);
					if (sqlite3_step(top) == SQLITE_ROW)
						pos = sqlite3_column_int64(top,
									   0);
					sqlite3_reset(top);
				}
				sqlite3_bind_text(ins, 1, sq->group, -1,
						  SQLITE_STATIC);
				sqlite3_bind_int64(ins, 2, t->tid);
				sqlite3_bind_int(ins, 3, s);
				sqlite3_bind_int64(ins, 4, pos);
				sqlite3_bind_int64(ins, 5, now);
				if (sqlite3_step(ins) != SQLITE_DONE) {
					sqlite3_reset(sel);
					goto fail;
				}
				sqlite3_reset(ins);
			}
			sqlite3_reset(sel);
			t->sh[s].next_fetch = pos;
			t->sh[s].pending = pos;
			t->sh[s].need_fetch = true;
		}
	}
	sqlite3_finalize(sel);
	sqlite3_finalize(ins);
	sqlite3_finalize(top);
	if (rs_qsql_exec(sq->cdb, "COMMIT") != SQLITE_OK) {
		sel = ins = top = NULL;
		goto fail;
	}
	return RS_OK;
fail:
	rs_snprintf(errstr, errstr_size, "sqlite positions: %s",
		    sqlite3_errmsg(sq->cdb));
	sqlite3_finalize(sel);
	sqlite3_finalize(ins);
	sqlite3_finalize(top);
	rs_qsql_exec(sq->cdb, "ROLLBACK");
	return RS_ERR_QUEUE;
}

/* ---------------------------------------------------------------------- */
/* Consumer: poll                                                         */

void rs_qsql_msg_free(rs_queue_t *q, rs_qmsg_t *msg) {
	(void)q;
	rs_free(msg);
}

/* Builds a message from the current row (off, key, value, hdrs, ts) in
 * one allocation, so its pointers live exactly as long as the message.
 * Returns NULL for a row whose headers are malformed. */
static rs_err_t shard_fetch(rs_queue_t *q, sq_topic_t *t, int s) {
	sq_t *sq = SQ(q);
	sq_shard_t *sh = &t->sh[s];
	sqlite3_stmt *st = rs_qsql_prep(sq->cdb,
				   "SELECT off, key, value, hdrs, ts FROM "
				   "rs_msgs WHERE tid=?1 AND shard=?2 AND "
				   "off >= ?3 ORDER BY off LIMIT ?4");
	int rc, n = 0;

	if (!st)
		return RS_ERR_QUEUE;
	sqlite3_bind_int64(st, 1, t->tid);
	sqlite3_bind_int(st, 2, s);
	sqlite3_bind_int64(st, 3, sh->next_fetch);
	sqlite3_bind_int(st, 4, SQ_FETCH_MAX);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		rs_qmsg_t *msg = rs_qsql_row_msg(st, t->name, s);
		msg->next = NULL;
		if (sh->tail)
			sh->tail->next = msg;
		else
			sh->head = msg;
		sh->tail = msg;
		sh->cnt++;
		sh->next_fetch = msg->offset + 1;
		n++;
	}
	if (rc != SQLITE_DONE)
		rs_qsql_check_fatal(q, rc, sq->cdb);
	sqlite3_finalize(st);
	/* A full batch means more may follow; otherwise wait for another
	 * connection's commit (data_version). */
	sh->need_fetch = rc == SQLITE_DONE && n == SQ_FETCH_MAX;
	return rc == SQLITE_DONE ? RS_OK : RS_ERR_QUEUE;
}

/* True when another connection committed since the last call.  Cheap
 * (no I/O when nothing changed), so an idle poll loop costs little. */
static bool data_changed(sq_t *sq) {
	sqlite3_stmt *st = rs_qsql_prep(sq->cdb, "PRAGMA data_version");
	int64_t v = sq->data_version;

	if (st && sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (v == sq->data_version)
		return false;
	sq->data_version = v;
	return true;
}

/* on_assign once, at the first poll, with every shard of every topic:
 * one process owns the whole group (the lease), so there is never a
 * rebalance until close. */
static void sq_assign(rs_queue_t *q) {
	sq_t *sq = SQ(q);
	rs_queue_partition_t *parts;
	size_t i, n = 0, total = 0;
	int s;

	for (i = 0; i < sq->topic_cnt; i++)
		total += (size_t)sq->topics[i].shards;
	parts = rs_calloc(total + 1, sizeof(*parts));
	pthread_mutex_lock(&q->lock);
	for (i = 0; i < sq->topic_cnt; i++)
		for (s = 0; s < sq->topics[i].shards; s++) {
			rs_queue_part_add(q, sq->topics[i].name, s);
			parts[n].topic = sq->topics[i].name;
			parts[n].partition = s;
			n++;
		}
	rs_queue_apply_pause(q);
	pthread_mutex_unlock(&q->lock);
	sq->assigned = true;
	atomic_fetch_add(&q->n_rebalances, 1);
	if (q->on_assign)
		q->on_assign(q, parts, n, false, q->opaque);
	rs_free(parts);
}

/* Hands out the head of the next shard (round robin over every shard of
 * every topic, so one busy shard does not starve the others), fetching
 * when a shard's list is empty and more rows may exist.  A shard whose
 * tracker window is full is skipped: its head waits. */
static rs_qmsg_t *next_msg(rs_queue_t *q, bool *window_full) {
	sq_t *sq = SQ(q);
	size_t total = 0, k, i;

	for (i = 0; i < sq->topic_cnt; i++)
		total += (size_t)sq->topics[i].shards;
	for (k = 0; k < total; k++) {
		size_t idx = (sq->rr_part + k) % total, base = 0;
		sq_topic_t *t = NULL;
		sq_shard_t *sh;
		rs_qpart_t *part;
		rs_qmsg_t *msg;
		rs_err_t err;
		int s;

		for (i = 0; i < sq->topic_cnt; i++) {
			if (idx < base + (size_t)sq->topics[i].shards) {
				t = &sq->topics[i];
				break;
			}
			base += (size_t)sq->topics[i].shards;
		}
		s = (int)(idx - base);
		sh = &t->sh[s];
		if (!sh->head && sh->need_fetch)
			shard_fetch(q, t, s);
		if (!sh->head)
			continue;
		msg = sh->head;
		pthread_mutex_lock(&q->lock);
		part = rs_queue_part_find(q, t->name, s);
		err = part ? rs_queue_msg_accept(q, part, msg)
			   : RS_ERR_NOT_FOUND;
		pthread_mutex_unlock(&q->lock);
		if (err == RS_ERR_TOO_LARGE) {
			*window_full = true;
			continue;
		}
		sh->head = msg->next;
		if (!sh->head)
			sh->tail = NULL;
		sh->cnt--;
		msg->next = NULL;
		if (err != RS_OK) {
			rs_free(msg);
			continue;
		}
		sq->rr_part = idx + 1;
		return msg;
	}
	return NULL;
}

/* Commit interval and lease renewal, both on the poll thread. */
static void periodic(rs_queue_t *q) {
	sq_t *sq = SQ(q);
	int64_t now = rs_now_ms();

	if (now >= sq->next_commit) {
		sq->next_commit = now + sq->commit_ms;
		sq_commit_write(q);
	}
	if (!(q->roles & RS_QUEUE_ROLE_PRODUCER) && now >= sq->next_maint) {
		sq->next_maint = now + sq->retention_ms;
		rs_qsql_maintain(q, sq->cdb);
	}
}

rs_err_t rs_qsql_poll(rs_queue_t *q, int timeout_ms, rs_qmsg_t **msgp) {
	sq_t *sq = SQ(q);
	int64_t deadline = rs_now_ms() + RS_MAX(timeout_ms, 0);

	if (sq->closed)
		return RS_ERR_STATE;
	if (!sq->assigned)
		sq_assign(q);
	for (;;) {
		bool limit, stopped, window_full = false;
		int64_t left;

		periodic(q);
		if (atomic_load(&sq->fatal))
			return RS_ERR_QUEUE_FATAL;
		pthread_mutex_lock(&q->lock);
		limit = q->inflight >= q->max_inflight;
		stopped = q->app_paused || q->closing;
		pthread_mutex_unlock(&q->lock);
		if (!limit && !stopped) {
			rs_qmsg_t *msg = next_msg(q, &window_full);
			if (msg) {
				*msgp = msg;
				return RS_OK;
			}
		}
		left = deadline - rs_now_ms();
		if (left <= 0)
			/* As Kafka: the cap, or a shard whose tracker window
			 * is full, says "finish some messages first". */
			return limit || window_full ? RS_ERR_TOO_LARGE : RS_OK;
		if (limit || stopped) {
			/* Woken by msg_done/release (q->cond). */
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += RS_MIN(left, 50) * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_mutex_lock(&q->lock);
			pthread_cond_timedwait(&q->cond, &q->lock, &ts);
			pthread_mutex_unlock(&q->lock);
		} else if (data_changed(sq)) {
			size_t i;
			int s;
			for (i = 0; i < sq->topic_cnt; i++)
				for (s = 0; s < sq->topics[i].shards; s++)
					sq->topics[i].sh[s].need_fetch = true;
		} else {
			rs_sleep_ms((int)RS_MIN(left, 10));
		}
	}
}

/* Pause is the generic half's flag: poll reads app_paused and closing,
 * and nothing is prefetched beyond the bounded per-shard lists. */
rs_err_t rs_qsql_pause_parts(rs_queue_t *q, rs_qpart_t **parts, size_t cnt,
			       bool pause) {
	(void)q;
	(void)parts;
	(void)cnt;
	(void)pause;
	return RS_OK;
}

static void prefetch_free(sq_t *sq) {
	size_t i;
	int s;

	for (i = 0; i < sq->topic_cnt; i++) {
		if (!sq->topics[i].sh)
			continue;
		for (s = 0; s < sq->topics[i].shards; s++) {
			sq_shard_t *sh = &sq->topics[i].sh[s];
			while (sh->head) {
				rs_qmsg_t *m = sh->head;
				sh->head = m->next;
				rs_free(m);
			}
			sh->tail = NULL;
			sh->cnt = 0;
		}
	}
}

/* Kafka's close order: stop handing out, wait (bounded) for running
 * messages, commit, on_revoke with every shard, commit what the revoke
 * stored, then give the lease back so the next process starts at once. */
rs_err_t rs_qsql_close(rs_queue_t *q) {
	sq_t *sq = SQ(q);
	rs_err_t err = RS_OK;
	int64_t deadline;

	if (sq->closed || !sq->cdb)
		return RS_OK;
	pthread_mutex_lock(&q->lock);
	q->closing = true;
	rs_queue_apply_pause(q);
	deadline = rs_now_ms() + q->revoke_drain_ms;
	while (q->inflight > 0 && rs_now_ms() < deadline) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&q->cond, &q->lock, &ts);
	}
	if (q->inflight > 0)
		rs_log(NULL, LOG_WARNING, "QUEUE",
		       "close: %zu messages unfinished; they will be "
		       "redelivered", q->inflight);
	pthread_mutex_unlock(&q->lock);
	if (!atomic_load(&sq->fatal))
		err = rs_qsql_commit(q);

	if (sq->assigned) {
		rs_queue_partition_t *parts;
		rs_qpart_t *p;
		size_t n = 0;

		pthread_mutex_lock(&q->lock);
		parts = rs_calloc(q->part_cnt + 1, sizeof(*parts));
		for (p = q->parts; p; p = p->next) {
			parts[n].topic = p->topic;
			parts[n].partition = p->partition;
			n++;
		}
		pthread_mutex_unlock(&q->lock);
		atomic_fetch_add(&q->n_rebalances, 1);
		if (q->on_revoke)
			q->on_revoke(q, parts, n, false, q->opaque);
		rs_free(parts);
		pthread_mutex_lock(&q->lock);
		while (q->parts) {
			rs_queue_part_store(q, q->parts);
			rs_queue_part_remove(q, q->parts);
		}
		pthread_mutex_unlock(&q->lock);
		if (!atomic_load(&sq->fatal)) {
			rs_err_t cerr = sq_commit_write(q);
			if (err == RS_OK)
				err = cerr;
		}
	}
	prefetch_free(sq);
	/* A fenced handle's lease belongs to the new owner: keep it. */
	if (!atomic_load(&sq->fatal))
		lease_release(sq);
	sqlite3_close(sq->cdb);
	sq->cdb = NULL;
	sq->closed = true;
	return err;
}

/* ---------------------------------------------------------------------- */
/* Consumer lag                                                           */

/* Interrupts the counting statement once the caller's time is up. */
static int lag_progress(void *opaque) {
	return rs_now_ms() >= *(const int64_t *)opaque;
}

/* Offsets are one sequence over every topic and shard (rs_msgs.off), so
 * the lag of a shard is a count of its rows at or after the position, not
 * a difference: an index range scan on (tid, shard, off).  A connection of
 * its own (the poll thread owns cdb) and one read transaction, so every
 * shard is counted on the same snapshot and no writer waits for it. */
rs_err_t rs_qsql_lag(rs_queue_t *q, rs_queue_lag_t *v, size_t cnt,
		     int64_t deadline) {
	sq_t *sq = SQ(q);
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	rs_err_t err = RS_OK;
	char errstr[256];
	size_t i;

	/* Nothing handed out yet: the position stored last (loaded at
	 * start, or written by this process). */
	pthread_mutex_lock(&q->lock);
	for (i = 0; i < cnt; i++) {
		sq_topic_t *t = rs_qsql_topic_find(sq, v[i].topic);
		if (v[i].position < 0 && t && t->sh && v[i].partition >= 0 &&
		    v[i].partition < t->shards)
			v[i].position = t->sh[v[i].partition].pending;
	}
	pthread_mutex_unlock(&q->lock);

	db = rs_qsql_open(sq, false, errstr, sizeof(errstr));
	if (!db) {
		rs_log(NULL, LOG_WARNING, "QUEUE", "lag: %s", errstr);
		return RS_ERR_QUEUE;
	}
	sqlite3_progress_handler(db, 1000, lag_progress, &deadline);
	st = rs_qsql_prep(db, "SELECT COUNT(*) FROM rs_msgs WHERE tid=?1 AND "
			      "shard=?2 AND off>=?3");
	if (!st || rs_qsql_exec(db, "BEGIN") != SQLITE_OK) {
		err = RS_ERR_QUEUE;
		goto out;
	}
	for (i = 0; i < cnt; i++) {
		sq_topic_t *t = rs_qsql_topic_find(sq, v[i].topic);
		int rc;

		if (!t || v[i].position < 0)
			continue;
		sqlite3_bind_int64(st, 1, t->tid);
		sqlite3_bind_int(st, 2, v[i].partition);
		sqlite3_bind_int64(st, 3, v[i].position);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			v[i].lag = sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
		if (rc == SQLITE_INTERRUPT || rs_now_ms() >= deadline) {
			err = RS_ERR_TIMEOUT;
			break;
		}
	}
	rs_qsql_exec(db, "COMMIT");
out:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return err;
}

/* ---------------------------------------------------------------------- */
/* Start and abort (called by rs_queue_sqlite.c's init)                   */

rs_err_t rs_qsql_consumer_start(rs_queue_t *q, char *errstr,
				size_t errstr_size) {
	sq_t *sq = SQ(q);
	rs_err_t err;

	sq->cdb = rs_qsql_open(sq, false, errstr, errstr_size);
	if (!sq->cdb)
		return RS_ERR_QUEUE;
	err = lease_take(q, errstr, errstr_size);
	if (err != RS_OK)
		return err;
	err = positions_load(q, errstr, errstr_size);
	if (err != RS_OK)
		return err;
	data_changed(sq);
	sq->next_commit = rs_now_ms() + sq->commit_ms;
	return RS_OK;
}

/* Init failed after the lease may have been taken: nothing was consumed,
 * so the lease is simply given back. */
void rs_qsql_consumer_abort(rs_queue_t *q) {
	sq_t *sq = SQ(q);

	if (!sq->cdb)
		return;
	lease_release(sq);
	sqlite3_close(sq->cdb);
	sq->cdb = NULL;
}
