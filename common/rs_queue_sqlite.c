/*
 * rs_queue_sqlite.c - the embedded SQLite back-end of rs_queue.
 *
 * One database file holds every topic.  A message is a row of rs_msgs whose
 * INTEGER PRIMARY KEY AUTOINCREMENT is its offset: SQLite serialises writers
 * and AUTOINCREMENT never reuses a value, so offsets only grow, across
 * processes and after deletions.  A topic has N shards ("partitions"),
 * shard = fnv1a32(key) % N, so one key always lands in one shard and keeps
 * its order.  Offsets are global, so a shard's offsets have gaps; the
 * generic tracker (rs_queue.c) is built for gaps.
 *
 * Producer: rs_queue_produce() appends to a bounded in-memory list; a writer
 * thread writes batches in one transaction each and reports deliveries only
 * after COMMIT returned (synchronous=FULL in WAL mode: the WAL is fsynced).
 * Consumer: one connection used by the poll thread only; per shard a
 * bounded prefetch list; positions ("committed offsets") are written per
 * group, topic and shard every commit interval and at commit/close.  One
 * consumer process per group holds a lease row; a second one is refused.
 *
 * The contract is docs/internals/queue.md; the schema, locking and
 * retention are described there under "SQLite back-end".
 */
#include "rs/rs_base.h"
#include "rs/rs_log.h"
#include "rs/rs_queue.h"
#include "rs_queue_sqlite_int.h"

#include <errno.h>
#include <time.h>

/* ---------------------------------------------------------------------- */
/* Producer                                                               */

/* One delivery outcome, counted before the callback and "reported" after
 * it returns: flush waits for n_reported, so a failure counted here is
 * never missed by the flush that follows (the race 9ee80d3 fixed for
 * Kafka). */
static void report(rs_queue_t *q, sq_out_t *o, rs_err_t err,
		   const char *errstr) {
	if (err != RS_OK) {
		atomic_fetch_add(&q->n_delivery_failed, 1);
		atomic_fetch_add(&q->n_failed_since_flush, 1);
	} else {
		atomic_fetch_add(&q->n_delivered, 1);
	}
	if (q->on_delivery)
		q->on_delivery(q, err, errstr, o->opaque, q->opaque);
	atomic_fetch_add(&q->n_reported, 1);
}

/* Reports and frees a whole batch, then wakes flush once: one broadcast
 * per transaction, not per message. */
static void report_list(rs_queue_t *q, sq_out_t *list, rs_err_t err,
			const char *errstr) {
	while (list) {
		sq_out_t *next = list->next;
		report(q, list, err, errstr);
		rs_free(list);
		list = next;
	}
	pthread_mutex_lock(&SQ(q)->wlock);
	pthread_cond_broadcast(&SQ(q)->dcond);
	pthread_mutex_unlock(&SQ(q)->wlock);
}

/* Topic id and shard count for the writer.  Cached because every row
 * needs them and topic rows never change their shard count; a topic first
 * seen here is created (with default_shards) inside the batch's write
 * transaction, so a concurrent creator in another process cannot race
 * it. */
static rs_err_t tcache_get(sq_t *sq, const char *name, int64_t *tidp,
			   int *shardsp) {
	size_t i;
	rs_err_t err;

	for (i = 0; i < sq->tcache_cnt; i++) {
		if (!strcmp(sq->tcache[i].name, name)) {
			*tidp = sq->tcache[i].tid;
			*shardsp = sq->tcache[i].shards;
			return RS_OK;
		}
	}
	err = rs_qsql_topic_lookup(sq->wdb, name, true, sq->default_shards,
				   false, tidp, shardsp);
	if (err != RS_OK)
		return err;
	/* Bounded like the consumer's topics: a producer writes a handful of
	 * topics; past the bound the cache is simply not used. */
	if (sq->tcache_cnt < RS_QUEUE_MAX_TOPICS * 4) {
		sq->tcache = rs_realloc(sq->tcache, (sq->tcache_cnt + 1) *
						    sizeof(*sq->tcache));
		sq->tcache[sq->tcache_cnt].name = rs_strdup(name);
		sq->tcache[sq->tcache_cnt].tid = *tidp;
		sq->tcache[sq->tcache_cnt].shards = *shardsp;
		sq->tcache_cnt++;
	}
	return RS_OK;
}

/* Dropped after a failed transaction: a topic row it created was rolled
 * back with it, so its cached id would be a lie. */
static void tcache_clear(sq_t *sq) {
	size_t i;

	for (i = 0; i < sq->tcache_cnt; i++)
		rs_free(sq->tcache[i].name);
	rs_free(sq->tcache);
	sq->tcache = NULL;
	sq->tcache_cnt = 0;
}

/* Writes one batch in one transaction.  Returns SQLITE_OK or the error;
 * the caller rolls back and retries or fails the batch. */
static int write_batch(rs_queue_t *q, sq_out_t *list) {
	sq_t *sq = SQ(q);
	sqlite3_stmt *ins = NULL;
	int rc;

	rc = rs_qsql_exec(sq->wdb, "BEGIN IMMEDIATE");
	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_prepare_v2(sq->wdb,
				"INSERT INTO rs_msgs(tid, shard, key, value, "
				"hdrs, ts) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
				-1, &ins, NULL);
	for (; rc == SQLITE_OK && list; list = list->next) {
		int64_t tid;
		int shards, shard;

		if (tcache_get(sq, list->topic, &tid, &shards) != RS_OK) {
			rc = sqlite3_errcode(sq->wdb);
			if (rc == SQLITE_OK)
				rc = SQLITE_ERROR;
			break;
		}
		/* Same key, same shard, in every process and build: that
		 * is what keeps a key's jobs in order. */
		shard = list->has_key
				? (int)(rs_qsql_key_hash(list->key,
							 list->keylen) %
					(uint32_t)shards)
				: (int)(sq->rr++ % (unsigned int)shards);
		sqlite3_bind_int64(ins, 1, tid);
		sqlite3_bind_int(ins, 2, shard);
		/* A non-NULL pointer for empty keys and values: SQLite
		 * stores a NULL pointer as NULL, and "empty" must come back
		 * as empty, not as "none". */
		if (list->has_key)
			sqlite3_bind_blob(ins, 3, list->keylen ? list->key : "",
					  (int)list->keylen, SQLITE_STATIC);
		else
			sqlite3_bind_null(ins, 3);
		if (list->has_value)
			sqlite3_bind_blob(ins, 4, list->len ? list->value : "",
					  (int)list->len, SQLITE_STATIC);
		else
			sqlite3_bind_null(ins, 4);
		if (list->hdrlen)
			sqlite3_bind_blob(ins, 5, list->hdrs,
					  (int)list->hdrlen, SQLITE_STATIC);
		else
			sqlite3_bind_null(ins, 5);
		sqlite3_bind_int64(ins, 6, list->ts);
		rc = sqlite3_step(ins);
		if (rc == SQLITE_DONE)
			rc = SQLITE_OK;
		sqlite3_reset(ins);
	}
	sqlite3_finalize(ins);
	if (rc == SQLITE_OK)
		rc = rs_qsql_exec(sq->wdb, "COMMIT");
	if (rc != SQLITE_OK) {
		rs_qsql_exec(sq->wdb, "ROLLBACK");
		/* Topic rows created in the failed transaction are gone. */
		tcache_clear(sq);
	}
	return rc;
}


/* The writer: takes up to SQ_BATCH_MAX messages, writes them in one
 * transaction and reports them only after COMMIT returned, so a delivery
 * report always means "on disk".  Lock contention (another process
 * writing) and transient I/O errors are retried until the message
 * timeout; corruption fails at once and makes the handle fatal. */
static void *writer_main(void *arg) {
	rs_queue_t *q = arg;
	sq_t *sq = SQ(q);

	for (;;) {
		sq_out_t *batch, *last;
		size_t n = 0;
		int64_t deadline;
		int rc;

		/* Retention between two batches when it is due, busy or
		 * not: a producer that never pauses must still bound the
		 * file.  Each of its transactions is short (chunked). */
		if (rs_now_ms() >= sq->next_maint) {
			sq->next_maint = rs_now_ms() + sq->retention_ms;
			rs_qsql_maintain(q, sq->wdb);
		}
		pthread_mutex_lock(&sq->wlock);
		while (!sq->out_head && !sq->wstop &&
		       rs_now_ms() < sq->next_maint) {
			/* 1 s steps: destroy's stop flag and the retention
			 * deadline are noticed without a signal. */
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&sq->wcond, &sq->wlock, &ts);
		}
		if (!sq->out_head && !sq->wstop) {
			pthread_mutex_unlock(&sq->wlock);
			continue; /* retention is due */
		}
		if (!sq->out_head) {
			pthread_mutex_unlock(&sq->wlock);
			break;
		}
		batch = last = sq->out_head;
		n = 1;
		sq->out_bytes -= last->size;
		while (last->next && n < SQ_BATCH_MAX) {
			last = last->next;
			sq->out_bytes -= last->size;
			n++;
		}
		sq->out_head = last->next;
		if (!sq->out_head)
			sq->out_tail = NULL;
		last->next = NULL;
		sq->out_cnt -= n;
		pthread_mutex_unlock(&sq->wlock);

		deadline = rs_now_ms() + sq->msg_timeout_ms;
		for (;;) {
			int prim;
			bool purge;

			rc = atomic_load(&sq->fatal) ? SQLITE_CORRUPT
						     : write_batch(q, batch);
			if (rc == SQLITE_OK)
				break;
			rs_qsql_check_fatal(q, rc, sq->wdb);
			prim = rc & 0xff;
			pthread_mutex_lock(&sq->wlock);
			purge = sq->wpurge;
			pthread_mutex_unlock(&sq->wlock);
			if (purge || atomic_load(&sq->fatal) ||
			    rs_now_ms() >= deadline ||
			    (prim != SQLITE_BUSY && prim != SQLITE_LOCKED &&
			     prim != SQLITE_IOERR && prim != SQLITE_FULL &&
			     prim != SQLITE_CANTOPEN))
				break;
			/* BUSY after busy_timeout means another process held
			 * the write lock for seconds (a long retention pass,
			 * a checkpoint): worth waiting for, as Kafka retries
			 * a broker that is down until message.timeout.ms. */
			rs_log(NULL, LOG_WARNING, "QUEUE",
			       "sqlite write of %zu messages: %s (retrying)", n,
			       sqlite3_errstr(rc));
			rs_sleep_ms(100);
		}
		if (rc == SQLITE_OK) {
			report_list(q, batch, RS_OK, NULL);
		} else {
			char buf[256];
			rs_snprintf(buf, sizeof(buf), "sqlite: %s",
				    sqlite3_errstr(rc));
			rs_log(NULL, LOG_WARNING, "QUEUE",
			       "%zu messages not written: %s", n, buf);
			report_list(q, batch, RS_ERR_QUEUE, buf);
		}
	}
	return NULL;
}

/* Copies everything into one allocation and queues it for the writer.
 * n_produced is counted under the lock, before the writer can report the
 * message, so flush never sees more reports than messages. */
static rs_err_t sq_produce(rs_queue_t *q, const char *topic, const void *key,
			   size_t keylen, const void *value, size_t len,
			   const rs_queue_header_t *hdrs, size_t hdr_cnt,
			   void *msg_opaque) {
	sq_t *sq = SQ(q);
	size_t tlen = topic ? strlen(topic) : 0;
	size_t hlen, i;
	sq_out_t *o;
	uint8_t *p;

	if (atomic_load(&sq->fatal))
		return RS_ERR_QUEUE_FATAL;
	if (!tlen || tlen > SQ_TOPIC_MAX)
		return RS_ERR_INVALID_ARG;
	for (i = 0; i < hdr_cnt; i++)
		if (!hdrs[i].name ||
		    strlen(hdrs[i].name) >= SQ_HDRNAME_MAX)
			return RS_ERR_INVALID_ARG;
	hlen = rs_qsql_hdrs_size(hdrs, hdr_cnt);
	if ((key ? keylen : 0) + (value ? len : 0) + hlen > SQ_MSG_MAX)
		return RS_ERR_TOO_LARGE;

	o = rs_malloc(sizeof(*o) + tlen + 1 + (key ? keylen : 0) +
		      (value ? len : 0) + hlen);
	memset(o, 0, sizeof(*o));
	p = (uint8_t *)(o + 1);
	memcpy(p, topic, tlen + 1);
	o->topic = (const char *)p;
	p += tlen + 1;
	if (key) {
		o->has_key = true;
		memcpy(p, key, keylen);
		o->key = p;
		o->keylen = keylen;
		p += keylen;
	}
	if (value) {
		o->has_value = true;
		memcpy(p, value, len);
		o->value = p;
		o->len = len;
		p += len;
	}
	if (hlen) {
		rs_qsql_hdrs_encode(p, hdrs, hdr_cnt);
		o->hdrs = p;
		o->hdrlen = hlen;
	}
	o->ts = rs_wall_ms();
	o->opaque = msg_opaque;
	o->size = tlen + (key ? keylen : 0) + (value ? len : 0) + hlen;

	pthread_mutex_lock(&sq->wlock);
	/* Bounded memory (Guarantee 6): by count and by bytes, as
	 * librdkafka's queue.buffering.max.messages / .kbytes. */
	if (sq->out_cnt >= SQ_PENDING_MAX ||
	    sq->out_bytes + o->size > SQ_PENDING_MAX_BYTES || sq->wstop) {
		bool stopped = sq->wstop;
		pthread_mutex_unlock(&sq->wlock);
		rs_free(o);
		return stopped ? RS_ERR_STATE : RS_ERR_AGAIN;
	}
	if (sq->out_tail)
		sq->out_tail->next = o;
	else
		sq->out_head = o;
	sq->out_tail = o;
	sq->out_cnt++;
	sq->out_bytes += o->size;
	atomic_fetch_add(&q->n_produced, 1);
	pthread_cond_signal(&sq->wcond);
	pthread_mutex_unlock(&sq->wlock);
	return RS_OK;
}

/* Waits until every produced message's report has returned, in <=500 ms
 * steps on a condition the writer broadcasts after each batch. */
static rs_err_t sq_flush(rs_queue_t *q, int timeout_ms) {
	sq_t *sq = SQ(q);
	int64_t deadline = rs_now_ms() + RS_MAX(timeout_ms, 0);

	pthread_mutex_lock(&sq->wlock);
	while (atomic_load(&q->n_reported) < atomic_load(&q->n_produced)) {
		int64_t left = deadline - rs_now_ms();
		struct timespec ts;

		if (left <= 0)
			break;
		left = RS_MIN(left, 500);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += left / 1000;
		ts.tv_nsec += (left % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&sq->dcond, &sq->wlock, &ts);
	}
	pthread_mutex_unlock(&sq->wlock);
	if (atomic_load(&q->n_reported) < atomic_load(&q->n_produced))
		return atomic_load(&sq->fatal) ? RS_ERR_QUEUE_FATAL
					       : RS_ERR_TIMEOUT;
	if (atomic_exchange(&q->n_failed_since_flush, 0) > 0)
		return atomic_load(&sq->fatal) ? RS_ERR_QUEUE_FATAL
					       : RS_ERR_QUEUE;
	return RS_OK;
}

static rs_err_t sq_fatal_error(rs_queue_t *q, char *errstr, size_t size) {
	sq_t *sq = SQ(q);

	if (!atomic_load(&sq->fatal))
		return RS_OK;
	rs_snprintf(errstr, size, "%s", sq->fatal_str);
	return RS_ERR_QUEUE_FATAL;
}

/* ---------------------------------------------------------------------- */
/* Admin and scan                                                         */

/* Records the topics: shard count from @p partitions (the default when
 * <= 0), compacted when a config says cleanup.policy=compact.  Existing
 * topics count as success and keep their shard count. */
static rs_err_t sq_create_topics(rs_queue_t *q, const char *const *names,
				 size_t name_cnt, int partitions,
				 int replication, const char *const *configs,
				 size_t config_cnt, int timeout_ms,
				 char *errstr, size_t errstr_size) {
	sq_t *sq = SQ(q);
	bool compacted = false;
	sqlite3 *db;
	rs_err_t err = RS_ERR_QUEUE;
	size_t i;

	(void)replication;
	(void)timeout_ms;
	if (partitions > SQ_MAX_SHARDS) {
		rs_snprintf(errstr, errstr_size, "at most %d shards",
			    SQ_MAX_SHARDS);
		return RS_ERR_INVALID_ARG;
	}
	for (i = 0; i < config_cnt; i++) {
		if (!strchr(configs[i], '=')) {
			rs_snprintf(errstr, errstr_size,
				    "topic config \"%s\" is not key=value",
				    configs[i]);
			return RS_ERR_INVALID_ARG;
		}
		if (!strncmp(configs[i], "cleanup.policy=", 15) &&
		    strstr(configs[i] + 15, "compact"))
			compacted = true;
	}
	db = rs_qsql_open(sq, false, errstr, errstr_size);
	if (!db)
		return RS_ERR_QUEUE;
	if (rs_qsql_exec(db, "BEGIN IMMEDIATE") != SQLITE_OK)
		goto out;
	for (i = 0; i < name_cnt; i++) {
		int64_t tid;
		int shards;
		size_t l = strlen(names[i]);
		if (!l || l > SQ_TOPIC_MAX) {
			rs_snprintf(errstr, errstr_size, "bad topic name");
			err = RS_ERR_INVALID_ARG;
			rs_qsql_exec(db, "ROLLBACK");
			goto done;
		}
		if (rs_qsql_topic_lookup(db, names[i], true,
				 partitions > 0 ? partitions
						: sq->default_shards,
				 compacted, &tid, &shards) != RS_OK) {
			rs_qsql_exec(db, "ROLLBACK");
			goto out;
		}
	}
	if (rs_qsql_exec(db, "COMMIT") != SQLITE_OK) {
		rs_qsql_exec(db, "ROLLBACK");
		goto out;
	}
	err = RS_OK;
	goto done;
out:
	rs_snprintf(errstr, errstr_size, "sqlite create topics: %s",
		    sqlite3_errmsg(db));
done:
	sqlite3_close(db);
	return err;
}

/* One read transaction is the snapshot: rows committed after it started
 * are not seen, so a replay that produces into the scanned topic ends.
 * Shards are read one after the other, each in offset order. */
static rs_err_t sq_scan(rs_queue_t *q, const char *topic, int timeout_ms,
			rs_queue_scan_cb_t *cb, void *opaque) {
	sq_t *sq = SQ(q);
	int64_t deadline = rs_now_ms() + timeout_ms;
	sqlite3_stmt *st = NULL;
	sqlite3 *db;
	rs_err_t err;
	int64_t tid;
	int shards, s, rc = SQLITE_DONE;
	unsigned int n = 0;
	char errstr[256];

	db = rs_qsql_open(sq, false, errstr, sizeof(errstr));
	if (!db) {
		rs_log(NULL, LOG_WARNING, "QUEUE", "scan: %s", errstr);
		return RS_ERR_QUEUE;
	}
	if (rs_qsql_exec(db, "BEGIN") != SQLITE_OK) {
		err = RS_ERR_QUEUE;
		goto out;
	}
	err = rs_qsql_topic_lookup(db, topic, false, 0, false, &tid, &shards);
	if (err != RS_OK)
		goto out;
	st = rs_qsql_prep(db, "SELECT off, key, value, hdrs, ts FROM rs_msgs "
			 "WHERE tid=?1 AND shard=?2 ORDER BY off");
	if (!st) {
		err = RS_ERR_QUEUE;
		goto out;
	}
	for (s = 0; s < shards && err == RS_OK; s++) {
		sqlite3_bind_int64(st, 1, tid);
		sqlite3_bind_int(st, 2, s);
		while (err == RS_OK &&
		       (rc = sqlite3_step(st)) == SQLITE_ROW) {
			/* Copied like a polled message: a callback may keep
			 * using pointers while it looks at other fields. */
			rs_qmsg_t *msg = rs_qsql_row_msg(st, topic, s);
			err = cb(msg, opaque);
			rs_free(msg);
			if (err == RS_OK && (++n & 255) == 0 &&
			    rs_now_ms() >= deadline)
				err = RS_ERR_TIMEOUT;
		}
		if (err == RS_OK && rc != SQLITE_DONE) {
			rs_qsql_check_fatal(q, rc, db);
			err = RS_ERR_QUEUE;
		}
		sqlite3_reset(st);
	}
out:
	sqlite3_finalize(st);
	rs_qsql_exec(db, "COMMIT");
	sqlite3_close(db);
	return err;
}

/* ---------------------------------------------------------------------- */
/* Lifecycle                                                              */

static void sq_destroy(rs_queue_t *q) {
	sq_t *sq = SQ(q);
	size_t i;

	if (!sq)
		return;
	if (sq->cdb)
		rs_qsql_close(q);
	if (sq->writer_started) {
		sq_out_t *left;
		/* As Kafka: 10 s to write what is queued, then whatever is
		 * left fails through on_delivery, never silently. */
		if (sq_flush(q, 10000) == RS_ERR_TIMEOUT)
			rs_log(NULL, LOG_WARNING, "QUEUE",
			       "sqlite: destroy: messages still unwritten "
			       "after 10 s are failed");
		pthread_mutex_lock(&sq->wlock);
		sq->wstop = true;
		sq->wpurge = true;
		left = sq->out_head;
		sq->out_head = sq->out_tail = NULL;
		sq->out_cnt = 0;
		sq->out_bytes = 0;
		pthread_cond_broadcast(&sq->wcond);
		pthread_mutex_unlock(&sq->wlock);
		report_list(q, left, RS_ERR_QUEUE, "purged at destroy");
		pthread_join(sq->writer, NULL);
	}
	sqlite3_close(sq->wdb);
	tcache_clear(sq);
	for (i = 0; i < sq->topic_cnt; i++) {
		rs_free(sq->topics[i].name);
		rs_free(sq->topics[i].sh);
	}
	rs_free(sq->topics);
	rs_free(sq->group);
	rs_free(sq->path);
	pthread_mutex_destroy(&sq->wlock);
	pthread_cond_destroy(&sq->wcond);
	pthread_cond_destroy(&sq->dcond);
	rs_free(sq);
	q->be_state = NULL;
}

/* "sqlite.*" properties; other names belong to librdkafka and are
 * ignored, so one property list serves both back-ends. */
static rs_err_t props_apply(sq_t *sq, const rs_queue_conf_t *conf,
			    char *errstr, size_t errstr_size) {
	size_t i;

	if (conf->prop_cnt > RS_QUEUE_MAX_PROPS) {
		rs_snprintf(errstr, errstr_size, "too many properties");
		return RS_ERR_TOO_LARGE;
	}
	for (i = 0; i < conf->prop_cnt; i++) {
		const char *kv = conf->props[i], *eq = strchr(kv, '=');
		char *end = NULL;
		long long v;

		if (!eq || eq == kv) {
			rs_snprintf(errstr, errstr_size,
				    "property \"%s\" is not key=value", kv);
			return RS_ERR_CONFIG;
		}
		if (strncmp(kv, "sqlite.", 7))
			continue;
		if (!strncmp(kv, "sqlite.synchronous=", 19)) {
			if (!strcmp(eq + 1, "normal"))
				sq->sync_normal = true;
			else if (!strcmp(eq + 1, "full"))
				sq->sync_normal = false;
			else
				goto bad;
			continue;
		}
		errno = 0;
		v = strtoll(eq + 1, &end, 10);
		if (errno || end == eq + 1 || *end || v < 1 || v > 86400000)
			goto bad;
		if (!strncmp(kv, "sqlite.busy_timeout_ms=", 23))
			sq->busy_ms = (int)v;
		else if (!strncmp(kv, "sqlite.message_timeout_ms=", 26))
			sq->msg_timeout_ms = v;
		else if (!strncmp(kv, "sqlite.retention_interval_ms=", 29))
			sq->retention_ms = v;
		else
			goto bad;
		continue;
bad:
		rs_snprintf(errstr, errstr_size,
			    "unknown or invalid sqlite property \"%s\"", kv);
		return RS_ERR_CONFIG;
	}
	return RS_OK;
}

static rs_err_t sq_init(rs_queue_t *q, const rs_queue_conf_t *conf,
			char *errstr, size_t errstr_size) {
	sq_t *sq;
	rs_err_t err = RS_ERR_CONFIG;
	size_t i;

	if (!conf->sqlite_path || !*conf->sqlite_path) {
		rs_snprintf(errstr, errstr_size, "sqlite: path not set");
		return RS_ERR_CONFIG;
	}
	if (conf->sqlite_shards < 0 || conf->sqlite_shards > SQ_MAX_SHARDS) {
		rs_snprintf(errstr, errstr_size, "sqlite: shards must be "
			    "1..%d", SQ_MAX_SHARDS);
		return RS_ERR_CONFIG;
	}
	sq = rs_calloc(1, sizeof(*sq));
	q->be_state = sq;
	pthread_mutex_init(&sq->wlock, NULL);
	pthread_cond_init(&sq->wcond, NULL);
	pthread_cond_init(&sq->dcond, NULL);
	sq->path = rs_strdup(conf->sqlite_path);
	sq->default_shards = conf->sqlite_shards > 0 ? conf->sqlite_shards
						      : SQ_DEFAULT_SHARDS;
	sq->busy_ms = 5000;
	sq->msg_timeout_ms = 30000;
	sq->retention_ms = 60000;
	sq->commit_ms = conf->auto_commit_interval_ms > 0
				? conf->auto_commit_interval_ms
				: 1000;
	sq->lease_ms = conf->session_timeout_ms > 0 ? conf->session_timeout_ms
						    : 30000;
	sq->auto_offset_reset = NULL;
	err = props_apply(sq, conf, errstr, errstr_size);
	if (err != RS_OK)
		goto fail;
	err = RS_ERR_QUEUE;

	/* The writer's connection creates the file and the schema. */
	sq->wdb = rs_qsql_open(sq, true, errstr, errstr_size);
	if (!sq->wdb)
		goto fail;
	err = rs_qsql_schema(sq->wdb, errstr, errstr_size);
	if (err != RS_OK)
		goto fail;

	if (q->roles & RS_QUEUE_ROLE_CONSUMER) {
		if (!conf->group_id || !*conf->group_id || !conf->topic_cnt) {
			rs_snprintf(errstr, errstr_size,
				    "consumer needs group_id and topics");
			err = RS_ERR_CONFIG;
			goto fail;
		}
		if (conf->topic_cnt > RS_QUEUE_MAX_TOPICS) {
			rs_snprintf(errstr, errstr_size, "too many topics");
			err = RS_ERR_TOO_LARGE;
			goto fail;
		}
		if (conf->auto_offset_reset &&
		    strcmp(conf->auto_offset_reset, "earliest") &&
		    strcmp(conf->auto_offset_reset, "latest")) {
			rs_snprintf(errstr, errstr_size, "sqlite: "
				    "auto_offset_reset must be earliest or "
				    "latest");
			err = RS_ERR_CONFIG;
			goto fail;
		}
		sq->auto_offset_reset = conf->auto_offset_reset &&
						!strcmp(conf->auto_offset_reset,
							"latest")
					? "latest"
					: "earliest";
		sq->group = rs_strdup(conf->group_id);
		sq->topics = rs_calloc(conf->topic_cnt, sizeof(*sq->topics));
		for (i = 0; i < conf->topic_cnt; i++) {
			size_t l = strlen(conf->topics[i]);
			if (!l || l > SQ_TOPIC_MAX ||
			    rs_qsql_topic_find(sq, conf->topics[i])) {
				rs_snprintf(errstr, errstr_size,
					    "bad or repeated topic \"%s\"",
					    conf->topics[i]);
				err = RS_ERR_CONFIG;
				goto fail;
			}
			sq->topics[i].name = rs_strdup(conf->topics[i]);
			sq->topic_cnt++;
		}
		err = rs_qsql_consumer_start(q, errstr, errstr_size);
		if (err != RS_OK)
			goto fail;
	}
	sq->next_maint = rs_now_ms() + RS_MIN(sq->retention_ms, 5000);
	if (q->roles & RS_QUEUE_ROLE_PRODUCER) {
		if (pthread_create(&sq->writer, NULL, writer_main, q) != 0) {
			rs_snprintf(errstr, errstr_size,
				    "cannot start the writer thread");
			err = RS_ERR_FAIL;
			goto fail;
		}
		sq->writer_started = true;
	}
	return RS_OK;
fail:
	rs_qsql_consumer_abort(q);
	sq_destroy(q);
	return err;
}

const rs_queue_backend_t rs_queue_backend_sqlite = {
	.name = "sqlite",
	.init = sq_init,
	.destroy = sq_destroy,
	.produce = sq_produce,
	.flush = sq_flush,
	.fatal_error = sq_fatal_error,
	.poll = rs_qsql_poll,
	.store = rs_qsql_store,
	.msg_free = rs_qsql_msg_free,
	.commit = rs_qsql_commit,
	.pause_parts = rs_qsql_pause_parts,
	.close = rs_qsql_close,
	.create_topics = sq_create_topics,
	.scan = sq_scan,
	.lag = rs_qsql_lag,
};
