/*
 * rs_queue_sqlite_db.c - the SQLite back-end's database layer: connection
 * settings, the schema, topic rows, the header blob format, turning a row
 * into a message, and retention.  Used by rs_queue_sqlite.c (producer,
 * scan) and rs_queue_sqlite_cons.c (consumer).
 */
#include "rs/rs_base.h"
#include "rs/rs_log.h"
#include "rs_queue_sqlite_int.h"

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
void rs_qsql_check_fatal(rs_queue_t *q, int rc, sqlite3 *db) {
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

int rs_qsql_exec(sqlite3 *db, const char *sql) {
	return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* Opens one connection with the settings every connection needs: WAL (so
 * readers never block the writer and a crash leaves a consistent file),
 * synchronous FULL unless asked otherwise, and a busy timeout so the
 * processes sharing the file wait for the write lock instead of failing. */
sqlite3 *rs_qsql_open(const sq_t *sq, bool create, char *errstr,
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
	if (rs_qsql_exec(db, "PRAGMA auto_vacuum=INCREMENTAL") != SQLITE_OK ||
	    rs_qsql_exec(db, sq->sync_normal ? "PRAGMA synchronous=NORMAL"
					     : "PRAGMA synchronous=FULL") !=
		    SQLITE_OK) {
		rs_snprintf(errstr, errstr_size, "sqlite %s: %s", sq->path,
			    sqlite3_errmsg(db));
		sqlite3_close(db);
		return NULL;
	}
	/* WAL is what lets scans and the consumer read while a writer
	 * commits; a file system without shared memory (NFS) refuses it
	 * and SQLite stays in rollback mode: still correct, but readers
	 * and writers then block each other, so say it. */
	{
		sqlite3_stmt *st = rs_qsql_prep(db, "PRAGMA journal_mode=WAL");
		const unsigned char *mode = NULL;
		int rc2 = st ? sqlite3_step(st) : SQLITE_ERROR;

		if (rc2 == SQLITE_ROW)
			mode = sqlite3_column_text(st, 0);
		if (rc2 != SQLITE_ROW) {
			rs_snprintf(errstr, errstr_size, "sqlite %s: %s",
				    sq->path, sqlite3_errmsg(db));
			sqlite3_finalize(st);
			sqlite3_close(db);
			return NULL;
		}
		if (!mode || strcmp((const char *)mode, "wal"))
			rs_log(NULL, LOG_WARNING, "QUEUE",
			       "sqlite %s: journal mode is %s, not wal (a "
			       "network file system?)", sq->path,
			       mode ? (const char *)mode : "?");
		sqlite3_finalize(st);
	}
	return db;
}

sqlite3_stmt *rs_qsql_prep(sqlite3 *db, const char *sql) {
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
rs_err_t rs_qsql_schema(sqlite3 *db, char *errstr, size_t errstr_size) {
	sqlite3_stmt *st = NULL;
	rs_err_t err = RS_ERR_QUEUE;
	int ver = 0;

	if (rs_qsql_exec(db, "BEGIN IMMEDIATE") != SQLITE_OK)
		goto fail;
	if (rs_qsql_exec(db, schema_sql) != SQLITE_OK) {
		rs_qsql_exec(db, "ROLLBACK");
		goto fail;
	}
	if (rs_qsql_exec(db, "COMMIT") != SQLITE_OK) {
		rs_qsql_exec(db, "ROLLBACK");
		goto fail;
	}
	st = rs_qsql_prep(db, "SELECT value FROM rs_meta "
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
rs_err_t rs_qsql_topic_lookup(sqlite3 *db, const char *name, bool create,
			     int shards, bool compacted, int64_t *tidp,
			     int *shardsp) {
	sqlite3_stmt *st;
	rs_err_t err = RS_ERR_QUEUE;

	if (create) {
		st = rs_qsql_prep(db, "INSERT OR IGNORE INTO rs_topics(name, "
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
			st = rs_qsql_prep(db, "UPDATE rs_topics SET "
					      "compacted=1 WHERE name=?1");
			if (!st)
				return RS_ERR_QUEUE;
			sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
			sqlite3_step(st);
			sqlite3_finalize(st);
		}
	}
	st = rs_qsql_prep(db,
			  "SELECT tid, shards FROM rs_topics WHERE name=?1");
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

size_t rs_qsql_hdrs_size(const rs_queue_header_t *hdrs, size_t cnt) {
	size_t i, n = 0;

	for (i = 0; i < cnt; i++)
		n += 2 + strlen(hdrs[i].name) + 1 + 4 +
		     (hdrs[i].value ? hdrs[i].size : 0);
	return n;
}

void rs_qsql_hdrs_encode(uint8_t *p, const rs_queue_header_t *hdrs,
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
uint32_t rs_qsql_key_hash(const void *key, size_t len) {
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
/* Retention                                                              */

/* Deletes the rows of one shard below @p pos, at most SQ_DELETE_CHUNK per
 * statement (each its own transaction): a large backlog then never holds
 * the write lock for long, and producers wait at most one chunk.  Rows of
 * all shards are interleaved in the file, so a delete costs about the
 * same per row whatever the chunk.  Returns the rows deleted. */
static int64_t delete_below(sqlite3 *db, sqlite3_stmt *del,
			    sqlite3_stmt *chunk, int64_t tid, int shard,
			    int64_t pos) {
	int64_t deleted = 0;

	for (;;) {
		int64_t upto = pos;
		bool more = false;

		sqlite3_bind_int64(chunk, 1, tid);
		sqlite3_bind_int(chunk, 2, shard);
		sqlite3_bind_int64(chunk, 3, pos);
		if (sqlite3_step(chunk) == SQLITE_ROW) {
			upto = sqlite3_column_int64(chunk, 0);
			more = true;
		}
		sqlite3_reset(chunk);
		sqlite3_bind_int64(del, 1, tid);
		sqlite3_bind_int(del, 2, shard);
		sqlite3_bind_int64(del, 3, upto);
		if (sqlite3_step(del) != SQLITE_DONE) {
			sqlite3_reset(del);
			break;
		}
		deleted += sqlite3_changes(db);
		sqlite3_reset(del);
		if (!more)
			break;
	}
	return deleted;
}

/* Deletes what no one can read any more, in short transactions so the
 * write lock is never held long: rows below every group's position
 * (topics no group has positions for are kept whole, like a DLQ read
 * only by scans), superseded rows of compacted topics (newest per key
 * stays), and positions of groups idle for 7 days (Kafka's
 * offsets.retention.minutes), which would otherwise pin rows for ever.
 * One process does it per interval: the maintained_ms row is the claim. */
void rs_qsql_maintain(rs_queue_t *q, sqlite3 *db) {
	sq_t *sq = SQ(q);
	int64_t now = rs_wall_ms();
	sqlite3_stmt *st = NULL, *tl = NULL, *del = NULL, *mins = NULL;
	sqlite3_stmt *chunk = NULL;
	int64_t deleted = 0;
	int rc;

	if (rs_qsql_exec(db, "BEGIN IMMEDIATE") != SQLITE_OK)
		return;
	st = rs_qsql_prep(db, "UPDATE rs_meta SET value=CAST(?1 AS TEXT) "
			 "WHERE name='maintained_ms' "
			 "AND CAST(value AS INTEGER) <= ?2");
	if (!st) {
		rs_qsql_exec(db, "ROLLBACK");
		return;
	}
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int64(st, 2, now - sq->retention_ms);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE || sqlite3_changes(db) != 1) {
		rs_qsql_exec(db, "ROLLBACK"); /* another process did it */
		return;
	}
	st = rs_qsql_prep(db, "DELETE FROM rs_positions WHERE updated_ms < ?1 "
			 "AND grp NOT IN (SELECT grp FROM rs_leases)");
	if (st) {
		sqlite3_bind_int64(st, 1, now - SQ_POSITIONS_TTL_MS);
		sqlite3_step(st);
		sqlite3_finalize(st);
	}
	if (rs_qsql_exec(db, "COMMIT") != SQLITE_OK) {
		rs_qsql_exec(db, "ROLLBACK");
		return;
	}

	tl = rs_qsql_prep(db, "SELECT tid, shards, compacted FROM rs_topics");
	mins = rs_qsql_prep(db, "SELECT MIN(pos), COUNT(*) FROM rs_positions "
			   "WHERE tid=?1 AND shard=?2");
	del = rs_qsql_prep(db, "DELETE FROM rs_msgs WHERE tid=?1 AND shard=?2 "
			  "AND off < ?3");
	chunk = rs_qsql_prep(db, "SELECT off + 1 FROM rs_msgs WHERE tid=?1 "
			    "AND shard=?2 AND off < ?3 ORDER BY off "
			    "LIMIT 1 OFFSET 4999"); /* SQ_DELETE_CHUNK - 1 */
	if (!tl || !mins || !del || !chunk)
		goto out;
	/* Topics are read first: deletes run in their own transactions. */
	while (sqlite3_step(tl) == SQLITE_ROW) {
		int64_t tid = sqlite3_column_int64(tl, 0);
		int shards = sqlite3_column_int(tl, 1), s;

		if (sqlite3_column_int(tl, 2)) {
			/* The newest row per key survives; the subquery is
			 * computed once (not correlated), so this is one
			 * sort of the topic, not a scan per row. */
			st = rs_qsql_prep(
				db, "DELETE FROM rs_msgs WHERE tid=?1 AND "
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
			deleted += delete_below(db, del, chunk, tid, s, minpos);
		}
	}
	/* Freed pages go back to the file system a bounded slice at a
	 * time (auto_vacuum=INCREMENTAL). */
	if (deleted)
		rs_qsql_exec(db, "PRAGMA incremental_vacuum(2000)");
	rs_dbg(NULL, RS_DBG_QUEUE, "QUEUE", "sqlite retention: %lld rows "
	       "deleted", (long long)deleted);
out:
	sqlite3_finalize(tl);
	sqlite3_finalize(mins);
	sqlite3_finalize(del);
	sqlite3_finalize(chunk);
}

rs_qmsg_t *rs_qsql_row_msg(sqlite3_stmt *st, const char *topic, int shard) {
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
