/*
 * rs_queue_sqlite_int.h - private to the SQLite back-end of rs_queue:
 * rs_queue_sqlite.c (producer, admin, scan, lifecycle, the vtable),
 * rs_queue_sqlite_cons.c (consumer: group lease, positions, poll, close)
 * and rs_queue_sqlite_db.c (connections, schema, topics, header blobs,
 * retention).  The design is in docs/internals/queue.md, "SQLite
 * back-end".
 */
#ifndef RS_QUEUE_SQLITE_INT_H
#define RS_QUEUE_SQLITE_INT_H

#include "rs/rs_base.h"
#include "rs/rs_queue.h"
#include "rs_queue_int.h"

#include <sqlite3.h>

#define SQ_SCHEMA_VERSION 1
#define SQ_DEFAULT_SHARDS 12
#define SQ_MAX_SHARDS 1024
#define SQ_BATCH_MAX 2000       /* rows per write transaction */
#define SQ_PENDING_MAX 100000   /* produced, not yet written: AGAIN above */
#define SQ_PENDING_MAX_BYTES (64 << 20) /* ... and their bytes */
#define SQ_FETCH_MAX 500        /* rows per shard per read */
#define SQ_MSG_MAX (4 << 20)    /* key + value + headers of one message */
#define SQ_TOPIC_MAX 249        /* as Kafka */
#define SQ_HDRNAME_MAX 1024
#define SQ_DELETE_CHUNK 5000   /* rows per retention delete */
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
	size_t size; /* data bytes, counted in sq_t.out_bytes */
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
	size_t out_cnt, out_bytes;
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
/* rs_queue_sqlite_db.c                                                   */

/** @brief Marks the handle fatal on corruption (SQLITE_CORRUPT/NOTADB). */
void rs_qsql_check_fatal(rs_queue_t *q, int rc, sqlite3 *db);
/** @brief sqlite3_exec without callbacks. @returns the SQLite code. */
int rs_qsql_exec(sqlite3 *db, const char *sql);
/**
 * @brief Opens a connection: WAL, synchronous FULL (or NORMAL), busy
 *        timeout, incremental auto-vacuum on a new file.
 * @returns the connection, or NULL with @p errstr filled.
 */
sqlite3 *rs_qsql_open(const sq_t *sq, bool create, char *errstr,
		      size_t errstr_size);
/** @brief Prepares a statement (logs and returns NULL on failure). */
sqlite3_stmt *rs_qsql_prep(sqlite3 *db, const char *sql);
/** @brief Creates the schema if needed and checks its version. */
rs_err_t rs_qsql_schema(sqlite3 *db, char *errstr, size_t errstr_size);
/**
 * @brief Finds (or, with @p create, creates inside the caller's write
 *        transaction) a topic row.
 * @returns RS_OK with *tidp and *shardsp, RS_ERR_NOT_FOUND, RS_ERR_QUEUE.
 */
rs_err_t rs_qsql_topic_lookup(sqlite3 *db, const char *name, bool create,
			      int shards, bool compacted, int64_t *tidp,
			      int *shardsp);
/** @brief Size of the header blob for @p hdrs. */
size_t rs_qsql_hdrs_size(const rs_queue_header_t *hdrs, size_t cnt);
/** @brief Writes the header blob (rs_qsql_hdrs_size() bytes) at @p p. */
void rs_qsql_hdrs_encode(uint8_t *p, const rs_queue_header_t *hdrs,
			 size_t cnt);
/** @brief FNV-1a 32 of the key: shard = hash % shards. */
uint32_t rs_qsql_key_hash(const void *key, size_t len);
/** @brief Retention and compaction pass (at most once per interval over
 *         every process sharing the file). */
void rs_qsql_maintain(rs_queue_t *q, sqlite3 *db);
/**
 * @brief A message from the current row (off, key, value, hdrs, ts), in
 *        one allocation (rs_free()); its topic pointer is @p topic.
 */
rs_qmsg_t *rs_qsql_row_msg(sqlite3_stmt *st, const char *topic, int shard);

/* ---------------------------------------------------------------------- */
/* rs_queue_sqlite_cons.c (vtable entries and init helpers)               */

sq_topic_t *rs_qsql_topic_find(sq_t *sq, const char *name);
/** @brief Opens the consumer connection, takes the group lease, loads the
 *         positions.  @returns RS_OK or an error with @p errstr filled. */
rs_err_t rs_qsql_consumer_start(rs_queue_t *q, char *errstr,
				size_t errstr_size);
/** @brief Undoes rs_qsql_consumer_start() after a failed init. */
void rs_qsql_consumer_abort(rs_queue_t *q);
rs_err_t rs_qsql_store(rs_queue_t *q, rs_qpart_t *part, int64_t pos);
rs_err_t rs_qsql_commit(rs_queue_t *q);
rs_err_t rs_qsql_poll(rs_queue_t *q, int timeout_ms, rs_qmsg_t **msgp);
rs_err_t rs_qsql_pause_parts(rs_queue_t *q, rs_qpart_t **parts, size_t cnt,
			     bool pause);
rs_err_t rs_qsql_close(rs_queue_t *q);
rs_err_t rs_qsql_lag(rs_queue_t *q, rs_queue_lag_t *v, size_t cnt,
		     int64_t deadline);
void rs_qsql_msg_free(rs_queue_t *q, rs_qmsg_t *msg);

#endif /* RS_QUEUE_SQLITE_INT_H */
