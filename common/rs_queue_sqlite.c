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
#include "rs_queue_int.h"

#include <errno.h>
#include <signal.h>
#include <sqlite3.h>
#include <time.h>
#include <unistd.h>

#define SQ_SCHEMA_VERSION 1
#define SQ_DEFAULT_SHARDS 12
#define SQ_MAX_SHARDS 1024
#define SQ_BATCH_MAX 2000       /* rows per write transaction */
#define SQ_PENDING_MAX 100000   /* produced, not yet written: AGAIN above */
#define SQ_FETCH_MAX 500        /* rows per shard per read */
#define SQ_MSG_MAX (4 << 20)    /* key + value + headers of one message */
#define SQ_TOPIC_MAX 249        /* as Kafka */
#define SQ_HDRNAME_MAX 1024
#define SQ_POSITIONS_TTL_MS (7LL * 24 * 3600 * 1000) /* offsets.retention */

/* A message waiting for the writer: one allocation with its data. */
typedef struct sq_out_s {
	struct sq_out_s *next;
	const char *topic;
	const void *key;
	size_t keylen;
	const void *value;
	size_t len;
	const void *hdrs; /* encoded, see hdrs_encode() */
	size_t hdrlen;
	int64_t ts;
	void *opaque;
	bool has_key, has_value;
} sq_out_t;

/* One shard of a subscribed topic, on the consumer side. */
typedef struct sq_shard_s {
	rs_qmsg_t *head, *tail; /* fetched, not handed out (poll thread) */
	size_t cnt;
	int64_t next_fetch;     /* next offset to read (poll thread) */
	bool need_fetch;        /* more rows may be there (poll thread) */
	int64_t pending;        /* newest stored position (q->lock) */
	bool dirty;             /* pending not written yet (q->lock) */
} sq_shard_t;

typedef struct sq_topic_s {
	char *name;
	int64_t tid;
	int shards;
	sq_shard_t *sh;
} sq_topic_t;

/* The writer's cache of topic ids. */
typedef struct sq_tcache_s {
	char *name;
	int64_t tid;
	int shards;
} sq_tcache_t;

typedef struct sq_s {
	char *path;
	int default_shards;
	int busy_ms;
	bool sync_normal;
	int64_t msg_timeout_ms;
	int64_t retention_ms; /* maintenance interval */
	atomic_int fatal;
	char fatal_str[256];

	/* Producer side: the list is guarded by wlock; wcond wakes the
	 * writer, dcond wakes flush when a batch was reported. */
	sqlite3 *wdb;
	pthread_t writer;
	bool writer_started;
	pthread_mutex_t wlock;
	pthread_cond_t wcond, dcond;
	sq_out_t *out_head, *out_tail;
	size_t out_cnt;
	bool wstop;  /* writer: finish and exit */
	bool wpurge; /* writer: fail what is left instead of retrying */
	sq_tcache_t *tcache;
	size_t tcache_cnt;
	unsigned int rr; /* shard of keyless messages */

	/* Consumer side (poll thread, except the q->lock fields). */
	sqlite3 *cdb;
	char *group;
	char owner[192];
	sq_topic_t *topics;
	size_t topic_cnt;
	size_t rr_part; /* round robin over (topic, shard) */
	bool assigned, closed;
	int64_t data_version;
	int64_t commit_ms, lease_ms;
	int64_t next_commit, next_maint;
	const char *auto_offset_reset;
} sq_t;

#define SQ(q) ((sq_t *)(q)->be_state)

/* ---------------------------------------------------------------------- */
/* Database helpers                                                       */

static const char *const schema_sql =
	"CREATE TABLE IF NOT EXISTS rs_meta("
	" name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS rs_topics("
	" tid INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
	" shards INTEGER NOT NULL, compacted INTEGER NOT NULL DEFAULT 0,"
	" created_ms INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS rs_msgs("
	" off INTEGER PRIMARY KEY AUTOINCREMENT, tid INTEGER NOT NULL,"
	" shard INTEGER NOT NULL, key BLOB, value BLOB, hdrs BLOB,"
	" ts INTEGER NOT NULL);"
	/* (tid, shard) then rowid: reading a shard in offset order and
	 * deleting below a position are both range scans. */
	"CREATE INDEX IF NOT EXISTS rs_msgs_shard ON rs_msgs(tid, shard);"
	"CREATE TABLE IF NOT EXISTS rs_positions("
	" grp TEXT NOT NULL, tid INTEGER NOT NULL, shard INTEGER NOT NULL,"
	" pos INTEGER NOT NULL, updated_ms INTEGER NOT NULL,"
	" PRIMARY KEY(grp, tid, shard)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS rs_leases("
	" grp TEXT PRIMARY KEY, owner TEXT NOT NULL, host TEXT NOT NULL,"
	" pidns TEXT NOT NULL, pid INTEGER NOT NULL,"
	" expires_ms INTEGER NOT NULL) WITHOUT ROWID;"
	"INSERT OR IGNORE INTO rs_meta VALUES('schema_version','1');"
	"INSERT OR IGNORE INTO rs_meta VALUES('maintained_ms','0');";

/* Corruption cannot be retried: the handle reports it as fatal, so the
 * application stops instead of looping on a broken file. */
static void sq_check_fatal(rs_queue_t *q, int rc, sqlite3 *db) {
	sq_t *sq = SQ(q);
	int prim = rc & 0xff;

	if (prim != SQLITE_CORRUPT && prim != SQLITE_NOTADB)
		return;
	if (!atomic_exchange(&sq->fatal, 1)) {
		rs_snprintf(sq->fatal_str, sizeof(sq->fatal_str),
			    "%s: %s", sq->path, db ? sqlite3_errmsg(db)
						   : sqlite3_errstr(rc));
		rs_log(NULL, LOG_ERR, "QUEUE", "sqlite fatal error: %s",
		       sq->fatal_str);
	}
}

static int sq_exec(sqlite3 *db, const char *sql) {
	return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* Opens one connection with the settings every connection needs: WAL (so
 * readers never block the writer and a crash leaves a consistent file),
 * synchronous FULL unless asked otherwise, and a busy timeout so the
 * processes sharing the file wait for the write lock instead of failing. */
static sqlite3 *sq_open(const sq_t *sq, bool create, char *errstr,
			size_t errstr_size) {
	sqlite3 *db = NULL;
	int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
	int rc = sqlite3_open_v2(sq->path, &db, flags, NULL);

	if (rc != SQLITE_OK) {
		rs_snprintf(errstr, errstr_size, "sqlite open %s: %s", sq->path,
			    db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, sq->busy_ms);
	/* auto_vacuum only takes effect before the first table exists; on
	 * an existing file it is a no-op. */
	if (sq_exec(db, "PRAGMA auto_vacuum=INCREMENTAL") != SQLITE_OK ||
	    sq_exec(db, "PRAGMA journal_mode=WAL") != SQLITE_OK ||
	    sq_exec(db, sq->sync_normal ? "PRAGMA synchronous=NORMAL"
					: "PRAGMA synchronous=FULL") !=
		    SQLITE_OK) {
		rs_snprintf(errstr, errstr_size, "sqlite %s: %s", sq->path,
			    sqlite3_errmsg(db));
		sqlite3_close(db);
		return NULL;
	}
	return db;
}

static sqlite3_stmt *sq_prep(sqlite3 *db, const char *sql) {
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		rs_log(NULL, LOG_WARNING, "QUEUE", "sqlite prepare: %s",
		       sqlite3_errmsg(db));
		return NULL;
	}
	return st;
}

/* Creates the schema (idempotent, in one write transaction so two
 * processes starting together do not race) and checks its version. */
static rs_err_t sq_schema(sqlite3 *db, char *errstr, size_t errstr_size) {
	sqlite3_stmt *st = NULL;
	rs_err_t err = RS_ERR_QUEUE;
	int ver = 0;

	if (sq_exec(db, "BEGIN IMMEDIATE") != SQLITE_OK)
		goto fail;
	if (sq_exec(db, schema_sql) != SQLITE_OK) {
		sq_exec(db, "ROLLBACK");
		goto fail;
	}
	if (sq_exec(db, "COMMIT") != SQLITE_OK) {
		sq_exec(db, "ROLLBACK");
		goto fail;
	}
	st = sq_prep(db, "SELECT value FROM rs_meta "
			 "WHERE name='schema_version'");
	if (st && sqlite3_step(st) == SQLITE_ROW)
		ver = (int)strtol((const char *)sqlite3_column_text(st, 0),
				  NULL, 10);
	sqlite3_finalize(st);
	if (ver != SQ_SCHEMA_VERSION) {
		rs_snprintf(errstr, errstr_size,
			    "sqlite queue schema version %d, this build "
			    "knows %d", ver, SQ_SCHEMA_VERSION);
		return RS_ERR_CONFIG;
	}
	return RS_OK;
fail:
	rs_snprintf(errstr, errstr_size, "sqlite schema: %s",
		    sqlite3_errmsg(db));
	return err;
}

/* Finds or creates a topic row.  New topics get @p shards shards
 * (default_shards when <= 0).  Must run inside a write transaction when
 * it may create.  Returns RS_OK, RS_ERR_NOT_FOUND (create=false). */
static rs_err_t topic_lookup(sqlite3 *db, const char *name, bool create,
			     int shards, bool compacted, int64_t *tidp,
			     int *shardsp) {
	sqlite3_stmt *st;
	rs_err_t err = RS_ERR_QUEUE;

	if (create) {
		st = sq_prep(db, "INSERT OR IGNORE INTO rs_topics(name, "
				 "shards, compacted, created_ms) "
				 "VALUES(?1, ?2, ?3, ?4)");
		if (!st)
			return RS_ERR_QUEUE;
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 2, shards);
		sqlite3_bind_int(st, 3, compacted);
		sqlite3_bind_int64(st, 4, rs_wall_ms());
		err = sqlite3_step(st) == SQLITE_DONE ? RS_OK : RS_ERR_QUEUE;
		sqlite3_finalize(st);
		if (err != RS_OK)
			return err;
		/* An existing topic keeps its shard count (changing it would
		 * move keys between shards and break their order), but may
		 * become compacted: that only ever drops superseded rows. */
		if (compacted) {
			st = sq_prep(db, "UPDATE rs_topics SET compacted=1 "
					 "WHERE name=?1");
			if (!st)
				return RS_ERR_QUEUE;
			sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
			sqlite3_step(st);
			sqlite3_finalize(st);
		}
	}
	st = sq_prep(db, "SELECT tid, shards FROM rs_topics WHERE name=?1");
	if (!st)
		return RS_ERR_QUEUE;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	switch (sqlite3_step(st)) {
	case SQLITE_ROW:
		*tidp = sqlite3_column_int64(st, 0);
		*shardsp = sqlite3_column_int(st, 1);
		err = RS_OK;
		break;
	case SQLITE_DONE:
		err = RS_ERR_NOT_FOUND;
		break;
	default:
		err = RS_ERR_QUEUE;
	}
	sqlite3_finalize(st);
	if (err == RS_OK && (*shardsp < 1 || *shardsp > SQ_MAX_SHARDS))
		err = RS_ERR_BAD_MESSAGE; /* damaged row */
	return err;
}

/* ---------------------------------------------------------------------- */
/* Headers: one blob per message.                                         */

/* Layout per header: u16 name length (with its NUL), the name and NUL,
 * u32 value length (0xffffffff: NULL value), the value.  Little endian,
 * so the file is the same on every host it is likely to move to. */
static void put_u16(uint8_t *p, size_t v) {
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v) {
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static size_t hdrs_size(const rs_queue_header_t *hdrs, size_t cnt) {
	size_t i, n = 0;

	for (i = 0; i < cnt; i++)
		n += 2 + strlen(hdrs[i].name) + 1 + 4 +
		     (hdrs[i].value ? hdrs[i].size : 0);
	return n;
}

static void hdrs_encode(uint8_t *p, const rs_queue_header_t *hdrs,
			size_t cnt) {
	size_t i;

	for (i = 0; i < cnt; i++) {
		size_t nl = strlen(hdrs[i].name) + 1;
		put_u16(p, nl);
		memcpy(p + 2, hdrs[i].name, nl);
		p += 2 + nl;
		if (!hdrs[i].value) {
			put_u32(p, 0xffffffffu);
			p += 4;
			continue;
		}
		put_u32(p, (uint32_t)hdrs[i].size);
		memcpy(p + 4, hdrs[i].value, hdrs[i].size);
		p += 4 + hdrs[i].size;
	}
}

/* Decodes into msg->hdrs, pointing into @p blob.  The file may have been
 * damaged or written by something else, so every length is checked.
 * Returns false on a malformed blob. */
static bool hdrs_decode(rs_qmsg_t *msg, const uint8_t *blob, size_t len) {
	size_t at = 0;

	msg->hdr_cnt = 0;
	while (at < len) {
		size_t nl;
		uint32_t vl;
		rs_queue_header_t *h;

		if (msg->hdr_cnt >= RS_QUEUE_MAX_HEADERS || len - at < 2)
			return false;
		nl = (size_t)blob[at] | ((size_t)blob[at + 1] << 8);
		at += 2;
		if (nl < 1 || nl > len - at || blob[at + nl - 1] != '\0')
			return false;
		h = &msg->hdrs[msg->hdr_cnt];
		h->name = (const char *)blob + at;
		at += nl;
		if (len - at < 4)
			return false;
		vl = (uint32_t)blob[at] | ((uint32_t)blob[at + 1] << 8) |
		     ((uint32_t)blob[at + 2] << 16) |
		     ((uint32_t)blob[at + 3] << 24);
		at += 4;
		if (vl == 0xffffffffu) {
			h->value = NULL;
			h->size = 0;
		} else {
			if (vl > len - at)
				return false;
			h->value = blob + at;
			h->size = vl;
			at += vl;
		}
		msg->hdr_cnt++;
	}
	return true;
}

/* FNV-1a: stable across processes, builds and hosts, which is what keeps
 * a key in one shard for the life of the file. */
static uint32_t key_hash(const void *key, size_t len) {
	const uint8_t *p = key;
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= 16777619u;
	}
	return h;
}

/* ---------------------------------------------------------------------- */
/* Producer                                                               */

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
	err = topic_lookup(sq->wdb, name, true, sq->default_shards, false,
			   tidp, shardsp);
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

	rc = sq_exec(sq->wdb, "BEGIN IMMEDIATE");
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
		shard = list->has_key
				? (int)(key_hash(list->key, list->keylen) %
					(uint32_t)shards)
				: (int)(sq->rr++ % (unsigned int)shards);
		sqlite3_bind_int64(ins, 1, tid);
		sqlite3_bind_int(ins, 2, shard);
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
		rc = sq_exec(sq->wdb, "COMMIT");
	if (rc != SQLITE_OK) {
		sq_exec(sq->wdb, "ROLLBACK");
		/* Topic rows created in the failed transaction are gone. */
		tcache_clear(sq);
	}
	return rc;
}

static void maintain(rs_queue_t *q, sqlite3 *db);

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

		pthread_mutex_lock(&sq->wlock);
		while (!sq->out_head && !sq->wstop) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			if (pthread_cond_timedwait(&sq->wcond, &sq->wlock,
						   &ts) == ETIMEDOUT &&
			    !sq->out_head && rs_now_ms() >= sq->next_maint) {
				/* Idle: a good moment for retention. */
				sq->next_maint = rs_now_ms() + sq->retention_ms;
				pthread_mutex_unlock(&sq->wlock);
				maintain(q, sq->wdb);
				pthread_mutex_lock(&sq->wlock);
			}
		}
		if (!sq->out_head) {
			pthread_mutex_unlock(&sq->wlock);
			break;
		}
		batch = last = sq->out_head;
		n = 1;
		while (last->next && n < SQ_BATCH_MAX) {
			last = last->next;
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
			sq_check_fatal(q, rc, sq->wdb);
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
	hlen = hdrs_size(hdrs, hdr_cnt);
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
		hdrs_encode(p, hdrs, hdr_cnt);
		o->hdrs = p;
		o->hdrlen = hlen;
	}
	o->ts = rs_wall_ms();
	o->opaque = msg_opaque;

	pthread_mutex_lock(&sq->wlock);
	if (sq->out_cnt >= SQ_PENDING_MAX || sq->wstop) {
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
/* Retention                                                              */

/* Deletes what no one can read any more, in short transactions so the
 * write lock is never held long: rows below every group's position
 * (topics no group has positions for are kept whole, like a DLQ read
 * only by scans), superseded rows of compacted topics (newest per key
 * stays), and positions of groups idle for 7 days (Kafka's
 * offsets.retention.minutes), which would otherwise pin rows for ever.
 * One process does it per interval: the maintained_ms row is the claim. */
static void maintain(rs_queue_t *q, sqlite3 *db) {
	sq_t *sq = SQ(q);
	int64_t now = rs_wall_ms();
	sqlite3_stmt *st = NULL, *tl = NULL, *del = NULL, *mins = NULL;
	int64_t deleted = 0;
	int rc;

	if (sq_exec(db, "BEGIN IMMEDIATE") != SQLITE_OK)
		return;
	st = sq_prep(db, "UPDATE rs_meta SET value=CAST(?1 AS TEXT) "
			 "WHERE name='maintained_ms' "
			 "AND CAST(value AS INTEGER) <= ?2");
	if (!st) {
		sq_exec(db, "ROLLBACK");
		return;
	}
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int64(st, 2, now - sq->retention_ms);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE || sqlite3_changes(db) != 1) {
		sq_exec(db, "ROLLBACK"); /* another process did it */
		return;
	}
	st = sq_prep(db, "DELETE FROM rs_positions WHERE updated_ms < ?1 "
			 "AND grp NOT IN (SELECT grp FROM rs_leases)");
	if (st) {
		sqlite3_bind_int64(st, 1, now - SQ_POSITIONS_TTL_MS);
		sqlite3_step(st);
		sqlite3_finalize(st);
	}
	if (sq_exec(db, "COMMIT") != SQLITE_OK) {
		sq_exec(db, "ROLLBACK");
		return;
	}

	tl = sq_prep(db, "SELECT tid, shards, compacted FROM rs_topics");
	mins = sq_prep(db, "SELECT MIN(pos), COUNT(*) FROM rs_positions "
			   "WHERE tid=?1 AND shard=?2");
	del = sq_prep(db, "DELETE FROM rs_msgs WHERE tid=?1 AND shard=?2 "
			  "AND off < ?3");
	if (!tl || !mins || !del)
		goto out;
	/* Topics are read first: deletes run in their own transactions. */
	while (sqlite3_step(tl) == SQLITE_ROW) {
		int64_t tid = sqlite3_column_int64(tl, 0);
		int shards = sqlite3_column_int(tl, 1), s;

		if (sqlite3_column_int(tl, 2)) {
			st = sq_prep(db,
				     "DELETE FROM rs_msgs WHERE tid=?1 AND "
				     "key IS NOT NULL AND off NOT IN ("
				     "SELECT MAX(off) FROM rs_msgs WHERE "
				     "tid=?1 AND key IS NOT NULL GROUP BY key)");
			if (st) {
				sqlite3_bind_int64(st, 1, tid);
				if (sqlite3_step(st) == SQLITE_DONE)
					deleted += sqlite3_changes(db);
				sqlite3_finalize(st);
			}
			continue;
		}
		for (s = 0; s < shards && s < SQ_MAX_SHARDS; s++) {
			int64_t minpos;
			sqlite3_bind_int64(mins, 1, tid);
			sqlite3_bind_int(mins, 2, s);
			if (sqlite3_step(mins) != SQLITE_ROW ||
			    sqlite3_column_int64(mins, 1) == 0) {
				sqlite3_reset(mins);
				continue;
			}
			minpos = sqlite3_column_int64(mins, 0);
			sqlite3_reset(mins);
			sqlite3_bind_int64(del, 1, tid);
			sqlite3_bind_int(del, 2, s);
			sqlite3_bind_int64(del, 3, minpos);
			if (sqlite3_step(del) == SQLITE_DONE)
				deleted += sqlite3_changes(db);
			sqlite3_reset(del);
		}
	}
	/* Freed pages go back to the file system a bounded slice at a
	 * time (auto_vacuum=INCREMENTAL). */
	if (deleted)
		sq_exec(db, "PRAGMA incremental_vacuum(2000)");
	rs_dbg(NULL, RS_DBG_QUEUE, "QUEUE", "sqlite retention: %lld rows "
	       "deleted", (long long)deleted);
out:
	sqlite3_finalize(tl);
	sqlite3_finalize(mins);
	sqlite3_finalize(del);
	(void)q;
}

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
	if (sq_exec(sq->cdb, "BEGIN IMMEDIATE") != SQLITE_OK)
		goto fail;
	st = sq_prep(sq->cdb, "SELECT host, pidns, pid, expires_ms FROM "
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
				    "sqlite queue %s: group \"%s\" is consumed "
				    "by pid %ld on %s (lease for %lld ms more); "
				    "a SQLite queue allows one consumer process "
				    "per group (use kafka to scale out)",
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
	st = sq_prep(sq->cdb, "INSERT OR REPLACE INTO rs_leases(grp, owner, "
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
	if (sq_exec(sq->cdb, "COMMIT") != SQLITE_OK)
		goto fail;
	return RS_OK;
fail:
	if (err != RS_ERR_STATE)
		rs_snprintf(errstr, errstr_size, "sqlite lease: %s",
			    sqlite3_errmsg(sq->cdb));
	sqlite3_finalize(st);
	sq_exec(sq->cdb, "ROLLBACK");
	return err;
}

/* ---------------------------------------------------------------------- */
/* Consumer: positions                                                    */

static sq_topic_t *topic_find(sq_t *sq, const char *name) {
	size_t i;

	for (i = 0; i < sq->topic_cnt; i++)
		if (!strcmp(sq->topics[i].name, name))
			return &sq->topics[i];
	return NULL;
}

/* The store half of the offset model, under q->lock: only remembers the
 * position; the poll thread writes it (sq_commit_write), so a worker
 * thread finishing a message never waits for the disk. */
static rs_err_t sq_store(rs_queue_t *q, rs_qpart_t *part, int64_t pos) {
	sq_topic_t *t = topic_find(SQ(q), part->topic);

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

	if (sq_exec(sq->cdb, "BEGIN IMMEDIATE") != SQLITE_OK)
		goto out;
	ls = sq_prep(sq->cdb, "UPDATE rs_leases SET expires_ms=?1 "
			      "WHERE grp=?2 AND owner=?3");
	up = sq_prep(sq->cdb, "INSERT INTO rs_positions(grp, tid, shard, pos, "
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
	if (sq_exec(sq->cdb, "COMMIT") != SQLITE_OK)
		goto rollback;
	err = RS_OK;
	goto out;
rollback:
	if (err != RS_ERR_QUEUE_FATAL) {
		sq_check_fatal(q, sqlite3_errcode(sq->cdb), sq->cdb);
		rs_log(NULL, LOG_WARNING, "QUEUE",
		       "sqlite: writing positions: %s",
		       sqlite3_errmsg(sq->cdb));
	}
	sq_exec(sq->cdb, "ROLLBACK");
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
static rs_err_t sq_commit(rs_queue_t *q) {
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

	if (sq_exec(sq->cdb, "BEGIN IMMEDIATE") != SQLITE_OK)
		goto fail;
	sel = sq_prep(sq->cdb, "SELECT pos FROM rs_positions WHERE grp=?1 "
			       "AND tid=?2 AND shard=?3");
	ins = sq_prep(sq->cdb, "INSERT INTO rs_positions(grp, tid, shard, "
			       "pos, updated_ms) VALUES(?1, ?2, ?3, ?4, ?5)");
	top = sq_prep(sq->cdb, "SELECT COALESCE(MAX(off), 0) + 1 FROM rs_msgs "
			       "WHERE tid=?1 AND shard=?2");
	if (!sel || !ins || !top)
		goto fail;
	for (i = 0; i < sq->topic_cnt; i++) {
		sq_topic_t *t = &sq->topics[i];
		if (topic_lookup(sq->cdb, t->name, true, sq->default_shards,
				 false, &t->tid, &t->shards) != RS_OK)
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
	if (sq_exec(sq->cdb, "COMMIT") != SQLITE_OK) {
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
	sq_exec(sq->cdb, "ROLLBACK");
	return RS_ERR_QUEUE;
}

/* ---------------------------------------------------------------------- */
/* Consumer: poll                                                         */

static void sq_msg_free(rs_queue_t *q, rs_qmsg_t *msg) {
	(void)q;
	rs_free(msg);
}

/* Builds a message from the current row (off, key, value, hdrs, ts) in
 * one allocation, so its pointers live exactly as long as the message.
 * Returns NULL for a row whose headers are malformed. */
static rs_qmsg_t *row_msg(sqlite3_stmt *st, const char *topic, int shard) {
	const void *key = sqlite3_column_blob(st, 1);
	size_t keylen = (size_t)sqlite3_column_bytes(st, 1);
	const void *val = sqlite3_column_blob(st, 2);
	size_t len = (size_t)sqlite3_column_bytes(st, 2);
	const void *h = sqlite3_column_blob(st, 3);
	size_t hlen = (size_t)sqlite3_column_bytes(st, 3);
	bool has_key = sqlite3_column_type(st, 1) != SQLITE_NULL;
	bool has_val = sqlite3_column_type(st, 2) != SQLITE_NULL;
	rs_qmsg_t *msg = rs_calloc(1, sizeof(*msg) + keylen + len + hlen + 3);
	uint8_t *p = (uint8_t *)(msg + 1);

	msg->topic = topic;
	msg->partition = shard;
	msg->offset = sqlite3_column_int64(st, 0);
	msg->timestamp = sqlite3_column_int64(st, 4);
	if (has_key) {
		if (keylen)
			memcpy(p, key, keylen);
		msg->key = p;
		msg->keylen = keylen;
		p += keylen + 1;
	}
	if (has_val) {
		if (len)
			memcpy(p, val, len);
		msg->value = p;
		msg->len = len;
		p += len + 1;
	}
	if (hlen) {
		memcpy(p, h, hlen);
		if (!hdrs_decode(msg, p, hlen)) {
			rs_log(NULL, LOG_WARNING, "QUEUE",
			       "sqlite: %s[%d]@%lld: malformed headers "
			       "ignored", topic, shard,
			       (long long)msg->offset);
			msg->hdr_cnt = 0;
		}
	}
	return msg;
}

/* Reads the next rows of one shard into its prefetch list. */
static rs_err_t shard_fetch(rs_queue_t *q, sq_topic_t *t, int s) {
	sq_t *sq = SQ(q);
	sq_shard_t *sh = &t->sh[s];
	sqlite3_stmt *st = sq_prep(sq->cdb,
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
		rs_qmsg_t *msg = row_msg(st, t->name, s);
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
		sq_check_fatal(q, rc, sq->cdb);
	sqlite3_finalize(st);
	/* A full batch means more may follow; otherwise wait for another
	 * connection's commit (data_version). */
	sh->need_fetch = rc == SQLITE_DONE && n == SQ_FETCH_MAX;
	return rc == SQLITE_DONE ? RS_OK : RS_ERR_QUEUE;
}

/* True when another connection committed since the last call.  Cheap
 * (no I/O when nothing changed), so an idle poll loop costs little. */
static bool data_changed(sq_t *sq) {
	sqlite3_stmt *st = sq_prep(sq->cdb, "PRAGMA data_version");
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
static rs_qmsg_t *next_msg(rs_queue_t *q) {
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
		if (err == RS_ERR_TOO_LARGE)
			continue;
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
		maintain(q, sq->cdb);
	}
}

static rs_err_t sq_poll(rs_queue_t *q, int timeout_ms, rs_qmsg_t **msgp) {
	sq_t *sq = SQ(q);
	int64_t deadline = rs_now_ms() + RS_MAX(timeout_ms, 0);

	if (sq->closed)
		return RS_ERR_STATE;
	if (!sq->assigned)
		sq_assign(q);
	for (;;) {
		bool limit, stopped;
		int64_t left;

		periodic(q);
		if (atomic_load(&sq->fatal))
			return RS_ERR_QUEUE_FATAL;
		pthread_mutex_lock(&q->lock);
		limit = q->inflight >= q->max_inflight;
		stopped = q->app_paused || q->closing;
		pthread_mutex_unlock(&q->lock);
		if (!limit && !stopped) {
			rs_qmsg_t *msg = next_msg(q);
			if (msg) {
				*msgp = msg;
				return RS_OK;
			}
		}
		left = deadline - rs_now_ms();
		if (left <= 0)
			return limit ? RS_ERR_TOO_LARGE : RS_OK;
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
static rs_err_t sq_pause_parts(rs_queue_t *q, rs_qpart_t **parts, size_t cnt,
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
static rs_err_t sq_close(rs_queue_t *q) {
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
		err = sq_commit(q);

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
	if (!atomic_load(&sq->fatal)) {
		sqlite3_stmt *st = sq_prep(sq->cdb, "DELETE FROM rs_leases "
						    "WHERE grp=?1 AND owner=?2");
		if (st) {
			sqlite3_bind_text(st, 1, sq->group, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 2, sq->owner, -1, SQLITE_STATIC);
			sqlite3_step(st);
			sqlite3_finalize(st);
		}
	}
	sqlite3_close(sq->cdb);
	sq->cdb = NULL;
	sq->closed = true;
	return err;
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
	db = sq_open(sq, false, errstr, errstr_size);
	if (!db)
		return RS_ERR_QUEUE;
	if (sq_exec(db, "BEGIN IMMEDIATE") != SQLITE_OK)
		goto out;
	for (i = 0; i < name_cnt; i++) {
		int64_t tid;
		int shards;
		size_t l = strlen(names[i]);
		if (!l || l > SQ_TOPIC_MAX) {
			rs_snprintf(errstr, errstr_size, "bad topic name");
			err = RS_ERR_INVALID_ARG;
			sq_exec(db, "ROLLBACK");
			goto done;
		}
		if (topic_lookup(db, names[i], true,
				 partitions > 0 ? partitions
						: sq->default_shards,
				 compacted, &tid, &shards) != RS_OK) {
			sq_exec(db, "ROLLBACK");
			goto out;
		}
	}
	if (sq_exec(db, "COMMIT") != SQLITE_OK) {
		sq_exec(db, "ROLLBACK");
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

	db = sq_open(sq, false, errstr, sizeof(errstr));
	if (!db) {
		rs_log(NULL, LOG_WARNING, "QUEUE", "scan: %s", errstr);
		return RS_ERR_QUEUE;
	}
	if (sq_exec(db, "BEGIN") != SQLITE_OK) {
		err = RS_ERR_QUEUE;
		goto out;
	}
	err = topic_lookup(db, topic, false, 0, false, &tid, &shards);
	if (err != RS_OK)
		goto out;
	st = sq_prep(db, "SELECT off, key, value, hdrs, ts FROM rs_msgs "
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
			rs_qmsg_t *msg = row_msg(st, topic, s);
			err = cb(msg, opaque);
			rs_free(msg);
			if (err == RS_OK && (++n & 255) == 0 &&
			    rs_now_ms() >= deadline)
				err = RS_ERR_TIMEOUT;
		}
		if (err == RS_OK && rc != SQLITE_DONE) {
			sq_check_fatal(q, rc, db);
			err = RS_ERR_QUEUE;
		}
		sqlite3_reset(st);
	}
out:
	sqlite3_finalize(st);
	sq_exec(db, "COMMIT");
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
		sq_close(q);
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
	sq->default_shards =
		conf->sqlite_shards > 0 ? conf->sqlite_shards : SQ_DEFAULT_SHARDS;
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
	sq->wdb = sq_open(sq, true, errstr, errstr_size);
	if (!sq->wdb)
		goto fail;
	err = sq_schema(sq->wdb, errstr, errstr_size);
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
			if (!l || l > SQ_TOPIC_MAX || topic_find(sq, conf->topics[i])) {
				rs_snprintf(errstr, errstr_size,
					    "bad or repeated topic \"%s\"",
					    conf->topics[i]);
				err = RS_ERR_CONFIG;
				goto fail;
			}
			sq->topics[i].name = rs_strdup(conf->topics[i]);
			sq->topic_cnt++;
		}
		sq->cdb = sq_open(sq, false, errstr, errstr_size);
		if (!sq->cdb)
			goto fail;
		err = lease_take(q, errstr, errstr_size);
		if (err != RS_OK)
			goto fail;
		err = positions_load(q, errstr, errstr_size);
		if (err != RS_OK)
			goto fail;
		data_changed(sq);
		sq->next_commit = rs_now_ms() + sq->commit_ms;
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
	if (sq->cdb) {
		/* Leave the lease if it was taken: nothing was consumed. */
		sqlite3_stmt *st = sq_prep(sq->cdb, "DELETE FROM rs_leases "
						    "WHERE grp=?1 AND owner=?2");
		if (st && sq->group) {
			sqlite3_bind_text(st, 1, sq->group, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 2, sq->owner, -1, SQLITE_STATIC);
			sqlite3_step(st);
		}
		sqlite3_finalize(st);
		sqlite3_close(sq->cdb);
		sq->cdb = NULL;
	}
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
	.poll = sq_poll,
	.store = sq_store,
	.msg_free = sq_msg_free,
	.commit = sq_commit,
	.pause_parts = sq_pause_parts,
	.close = sq_close,
	.create_topics = sq_create_topics,
	.scan = sq_scan,
};
