/*
 * test_queue_sqlite.c - unit tests of the SQLite queue back-end (hermetic:
 * a temporary directory, no broker).
 *
 * 1. The header blob: a round trip through the encoder and
 *    rs_qsql_row_msg() (NULL value, empty value, binary value with NULs),
 *    and malformed blobs (truncated, lengths past the end, a name without
 *    its NUL, too many headers) are rejected without reading out of
 *    bounds (run under ASan in CI).
 * 2. The shard hash is FNV-1a 32 (known vectors): changing it would move
 *    keys between shards of existing files and break their order.
 * 3. Configuration errors are refused at rs_queue_new() with a reason.
 * 4. A file that is not a database is refused cleanly.
 * 5. A small round trip: create_topics sets the shard count, positions
 *    survive a reopen, the second consumer of a group is refused while the
 *    first holds it, and close gives the group back at once.
 * 6. A full tracker window stops a shard with RS_ERR_TOO_LARGE.
 * 7. rs_queue_lag() counts, per shard, the rows at or after the lowest
 *    unfinished offset (offsets are shared with other topics, so a
 *    difference of offsets would be wrong), from the stored position
 *    before anything is handed out, and reaches 0 when all are done.
 */
#include "rs/rs_base.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <unistd.h>

#include "rs/rs_queue.h"
#include "rs_queue_sqlite_int.h"

/* ---------------------------------------------------------------------- */
/* Helpers                                                                */

/* Runs "SELECT 7, x'6b', x'76', ?1, 123" with @p blob bound as hdrs and
 * turns the row into a message. */
static rs_qmsg_t *msg_from_blob(const void *blob, size_t len) {
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	rs_qmsg_t *msg;

	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT 7, x'6b', x'76', ?1, 123",
					    -1, &st, NULL),
			 SQLITE_OK);
	if (len)
		sqlite3_bind_blob(st, 1, blob, (int)len, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, 1);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	msg = rs_qsql_row_msg(st, "t", 3);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return msg;
}

static int rm_one(const char *path, const struct stat *sb, int flag,
		  struct FTW *ftw) {
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

typedef struct {
	char dir[64];
	char path[128];
} tmpdb_t;

static void tmpdb_init(tmpdb_t *t) {
	rs_snprintf(t->dir, sizeof(t->dir), "/tmp/rs-ut-sqlite-XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	rs_snprintf(t->path, sizeof(t->path), "%s/q.db", t->dir);
}

static void tmpdb_cleanup(tmpdb_t *t) {
	nftw(t->dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

/* ---------------------------------------------------------------------- */
/* 1. Header blob                                                         */

static void test_hdrs_roundtrip(void **state) {
	static const uint8_t bin[] = {0, 1, 0, 255};
	rs_queue_header_t h[3] = {{"traceparent", "00-abc-01", 9},
				  {"nul", NULL, 0},
				  {"bin", bin, sizeof(bin)}};
	size_t len = rs_qsql_hdrs_size(h, 3);
	uint8_t *blob = rs_malloc(len);
	const rs_queue_header_t *g;
	rs_qmsg_t *msg;
	const void *v;
	size_t n;

	(void)state;
	rs_qsql_hdrs_encode(blob, h, 3);
	msg = msg_from_blob(blob, len);
	assert_int_equal(rs_qmsg_offset(msg), 7);
	assert_int_equal(rs_qmsg_partition(msg), 3);
	assert_int_equal(rs_qmsg_timestamp(msg), 123);
	assert_string_equal(rs_qmsg_topic(msg), "t");
	v = rs_qmsg_key(msg, &n);
	assert_int_equal(n, 1);
	assert_memory_equal(v, "k", 1);
	assert_int_equal(rs_qmsg_header_cnt(msg), 3);
	assert_int_equal(rs_qmsg_header_get(msg, "traceparent", &v, &n), RS_OK);
	assert_int_equal(n, 9);
	assert_memory_equal(v, "00-abc-01", 9);
	g = rs_qmsg_header_at(msg, 1);
	assert_string_equal(g->name, "nul");
	assert_null(g->value);
	assert_int_equal(rs_qmsg_header_get(msg, "bin", &v, &n), RS_OK);
	assert_int_equal(n, sizeof(bin));
	assert_memory_equal(v, bin, sizeof(bin));
	rs_free(msg);

	/* No headers: a NULL column. */
	msg = msg_from_blob(NULL, 0);
	assert_int_equal(rs_qmsg_header_cnt(msg), 0);
	rs_free(msg);
	rs_free(blob);
}

static void test_hdrs_malformed(void **state) {
	/* name length 5 but only 3 bytes follow */
	static const uint8_t trunc_name[] = {5, 0, 'a', 'b', 0};
	/* name without its NUL */
	static const uint8_t no_nul[] = {2, 0, 'a', 'b', 0, 0, 0, 0};
	/* value length past the end */
	static const uint8_t long_val[] = {2, 0, 'a', 0, 9, 0, 0, 0, 'x'};
	/* value length missing */
	static const uint8_t no_vlen[] = {2, 0, 'a', 0, 1};
	/* zero-length name */
	static const uint8_t zero_name[] = {0, 0, 0, 0, 0, 0};
	const uint8_t *bad[] = {trunc_name, no_nul, long_val, no_vlen,
				zero_name};
	const size_t badlen[] = {sizeof(trunc_name), sizeof(no_nul),
				 sizeof(long_val), sizeof(no_vlen),
				 sizeof(zero_name)};
	rs_qmsg_t *msg;
	size_t i;

	(void)state;
	for (i = 0; i < RS_ARRAY_SIZE(bad); i++) {
		msg = msg_from_blob(bad[i], badlen[i]);
		/* Dropped whole, the message itself still arrives. */
		assert_int_equal(rs_qmsg_header_cnt(msg), 0);
		assert_int_equal(rs_qmsg_offset(msg), 7);
		rs_free(msg);
	}
	/* 17 well-formed headers of 8 bytes (u16, "h\0", u32 0): one more
	 * than a message can carry. */
	{
		uint8_t buf[17 * 8];
		for (i = 0; i < 17; i++) {
			uint8_t *p = buf + i * 8;
			memset(p, 0, 8);
			p[0] = 2;
			p[2] = 'h';
		}
		msg = msg_from_blob(buf, 16 * 8);
		assert_int_equal(rs_qmsg_header_cnt(msg), 16);
		rs_free(msg);
		msg = msg_from_blob(buf, sizeof(buf));
		assert_int_equal(rs_qmsg_header_cnt(msg), 0);
		rs_free(msg);
	}
}

/* ---------------------------------------------------------------------- */
/* 2. Shard hash                                                          */

static void test_key_hash(void **state) {
	(void)state;
	/* FNV-1a 32 test vectors. */
	assert_int_equal(rs_qsql_key_hash("", 0), 0x811c9dc5u);
	assert_int_equal(rs_qsql_key_hash("a", 1), 0xe40c292cu);
	assert_int_equal(rs_qsql_key_hash("foobar", 6), 0xbf9cf968u);
}

/* ---------------------------------------------------------------------- */
/* 3, 4. Refusals                                                         */

static void test_conf_errors(void **state) {
	rs_queue_conf_t conf;
	const char *topics[] = {"t"};
	const char *bad_prop[] = {"sqlite.nope=1"};
	const char *bad_sync[] = {"sqlite.synchronous=sometimes"};
	const char *ok_props[] = {"linger.ms=5", "sqlite.busy_timeout_ms=100"};
	char errstr[256];
	rs_queue_t *q;
	tmpdb_t t;

	(void)state;
	tmpdb_init(&t);
	rs_queue_conf_init(&conf);
	conf.backend = "sqlite";
	assert_null(rs_queue_new(&conf, errstr, sizeof(errstr)));
	assert_non_null(strstr(errstr, "path not set"));

	conf.sqlite_path = t.path;
	conf.props = bad_prop;
	conf.prop_cnt = 1;
	assert_null(rs_queue_new(&conf, errstr, sizeof(errstr)));
	assert_non_null(strstr(errstr, "sqlite.nope"));
	conf.props = bad_sync;
	assert_null(rs_queue_new(&conf, errstr, sizeof(errstr)));
	assert_non_null(strstr(errstr, "sqlite.synchronous"));

	/* librdkafka names are ignored: one list serves both back-ends. */
	conf.props = ok_props;
	conf.prop_cnt = 2;
	q = rs_queue_new(&conf, errstr, sizeof(errstr));
	assert_non_null(q);
	assert_string_equal(rs_queue_backend_name(q), "sqlite");
	rs_queue_destroy(q);

	conf.roles = RS_QUEUE_ROLE_CONSUMER;
	conf.group_id = "g";
	assert_null(rs_queue_new(&conf, errstr, sizeof(errstr)));
	assert_non_null(strstr(errstr, "group_id and topics"));
	conf.topics = topics;
	conf.topic_cnt = 1;
	conf.auto_offset_reset = "smallest";
	assert_null(rs_queue_new(&conf, errstr, sizeof(errstr)));
	assert_non_null(strstr(errstr, "auto_offset_reset"));
	conf.sqlite_shards = 5000;
	assert_null(rs_queue_new(&conf, errstr, sizeof(errstr)));
	tmpdb_cleanup(&t);
}

static void test_not_a_database(void **state) {
	rs_queue_conf_t conf;
	char errstr[256];
	tmpdb_t t;
	int fd;

	(void)state;
	tmpdb_init(&t);
	fd = open(t.path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "this is not an sqlite database, at all!!",
			       40),
			 40);
	close(fd);
	rs_queue_conf_init(&conf);
	conf.backend = "sqlite";
	conf.sqlite_path = t.path;
	assert_null(rs_queue_new(&conf, errstr, sizeof(errstr)));
	assert_true(errstr[0] != '\0');
	tmpdb_cleanup(&t);
}

/* ---------------------------------------------------------------------- */
/* 5. Round trip                                                          */

typedef struct {
	int assigned;
	int delivered;
} rt_state_t;

static void rt_assign(rs_queue_t *q, const rs_queue_partition_t *parts,
		      size_t cnt, bool lost, void *opaque) {
	rt_state_t *s = opaque;
	(void)q;
	(void)parts;
	(void)lost;
	s->assigned += (int)cnt;
}

static void rt_delivery(rs_queue_t *q, rs_err_t err, const char *errstr,
			void *msg_opaque, void *opaque) {
	rt_state_t *s = opaque;
	(void)q;
	(void)errstr;
	(void)msg_opaque;
	if (err == RS_OK)
		s->delivered++;
}

static rs_queue_t *rt_consumer(const char *path, rt_state_t *s, char *errstr,
			       size_t errstr_size) {
	static const char *topics[] = {"jobs"};
	rs_queue_conf_t conf;

	rs_queue_conf_init(&conf);
	conf.backend = "sqlite";
	conf.sqlite_path = path;
	conf.roles = RS_QUEUE_ROLE_CONSUMER;
	conf.group_id = "g";
	conf.topics = topics;
	conf.topic_cnt = 1;
	conf.on_assign = rt_assign;
	conf.opaque = s;
	return rs_queue_new(&conf, errstr, errstr_size);
}

static void test_roundtrip(void **state) {
	const char *names[] = {"jobs"};
	rs_queue_conf_t conf;
	rs_queue_t *prod, *cons, *other;
	rt_state_t s = {0, 0};
	char errstr[256];
	int got = 0, i;
	tmpdb_t t;

	(void)state;
	tmpdb_init(&t);
	rs_queue_conf_init(&conf);
	conf.backend = "sqlite";
	conf.sqlite_path = t.path;
	conf.on_delivery = rt_delivery;
	conf.opaque = &s;
	prod = rs_queue_new(&conf, errstr, sizeof(errstr));
	assert_non_null(prod);
	assert_int_equal(rs_queue_create_topics(prod, names, 1, 3, 1, NULL, 0,
						1000, errstr, sizeof(errstr)),
			 RS_OK);
	for (i = 0; i < 30; i++) {
		char key[8];
		rs_snprintf(key, sizeof(key), "k%d", i % 7);
		assert_int_equal(rs_queue_produce(prod, "jobs", key, strlen(key),
						  "v", 1, NULL, 0, NULL),
				 RS_OK);
	}
	assert_int_equal(rs_queue_flush(prod, 5000), RS_OK);
	assert_int_equal(s.delivered, 30);

	cons = rt_consumer(t.path, &s, errstr, sizeof(errstr));
	assert_non_null(cons);
	/* The group is held: a second consumer is refused with the reason. */
	other = rt_consumer(t.path, &s, errstr, sizeof(errstr));
	assert_null(other);
	assert_non_null(strstr(errstr, "one consumer process per group"));
	while (got < 20) {
		rs_qmsg_t *msg = NULL;
		assert_int_equal(rs_queue_poll(cons, 100, &msg), RS_OK);
		assert_non_null(msg);
		assert_true(rs_qmsg_partition(msg) >= 0 &&
			    rs_qmsg_partition(msg) < 3);
		rs_queue_msg_done(cons, msg);
		got++;
	}
	/* on_assign once with the three shards create_topics asked for. */
	assert_int_equal(s.assigned, 3);
	assert_int_equal(rs_queue_assignment_cnt(cons), 3);
	assert_int_equal(rs_queue_close(cons), RS_OK);
	rs_queue_destroy(cons);

	/* Close gave the group back; the rest (and only the rest) comes. */
	cons = rt_consumer(t.path, &s, errstr, sizeof(errstr));
	assert_non_null(cons);
	for (;;) {
		rs_qmsg_t *msg = NULL;
		assert_int_equal(rs_queue_poll(cons, 200, &msg), RS_OK);
		if (!msg)
			break;
		rs_queue_msg_done(cons, msg);
		got++;
	}
	assert_int_equal(got, 30);
	rs_queue_destroy(cons);
	rs_queue_destroy(prod);
	tmpdb_cleanup(&t);
}

/* A shard whose tracker window is full (one message stuck while the
 * next ones finished) hands out nothing more: poll says RS_ERR_TOO_LARGE,
 * as the Kafka back-end does, until the stuck one is finished. */
static void test_window_full(void **state) {
	static const char *topics[] = {"w"};
	rs_queue_conf_t conf;
	rs_queue_t *prod, *cons;
	rs_qmsg_t *stuck = NULL, *msg = NULL;
	char errstr[256];
	int i;
	tmpdb_t t;

	(void)state;
	tmpdb_init(&t);
	rs_queue_conf_init(&conf);
	conf.backend = "sqlite";
	conf.sqlite_path = t.path;
	prod = rs_queue_new(&conf, errstr, sizeof(errstr));
	assert_non_null(prod);
	for (i = 0; i < 10; i++)
		assert_int_equal(rs_queue_produce(prod, "w", "same", 4, "v", 1,
						  NULL, 0, NULL),
				 RS_OK);
	assert_int_equal(rs_queue_flush(prod, 5000), RS_OK);
	conf.roles = RS_QUEUE_ROLE_CONSUMER;
	conf.group_id = "g";
	conf.topics = topics;
	conf.topic_cnt = 1;
	conf.max_window = 4;
	cons = rs_queue_new(&conf, errstr, sizeof(errstr));
	assert_non_null(cons);
	assert_int_equal(rs_queue_poll(cons, 500, &stuck), RS_OK);
	assert_non_null(stuck);
	for (i = 0; i < 3; i++) {
		assert_int_equal(rs_queue_poll(cons, 500, &msg), RS_OK);
		assert_non_null(msg);
		rs_queue_msg_done(cons, msg);
	}
	/* Window: stuck + 3 finished = 4 = max_window. */
	assert_int_equal(rs_queue_poll(cons, 100, &msg), RS_ERR_TOO_LARGE);
	assert_null(msg);
	rs_queue_msg_done(cons, stuck);
	assert_int_equal(rs_queue_poll(cons, 500, &msg), RS_OK);
	assert_non_null(msg);
	rs_queue_msg_done(cons, msg);
	rs_queue_destroy(cons);
	rs_queue_destroy(prod);
	tmpdb_cleanup(&t);
}

/* ---------------------------------------------------------------------- */
/* 7. Consumer lag                                                        */

typedef struct {
	int64_t lag[3];
	int64_t pos[3];
	int calls;
} lag_state_t;

static void lag_cb(const rs_queue_lag_t *l, void *opaque) {
	lag_state_t *ls = opaque;

	assert_string_equal(l->topic, "jobs");
	assert_true(l->partition >= 0 && l->partition < 3);
	ls->lag[l->partition] = l->lag;
	ls->pos[l->partition] = l->position;
	ls->calls++;
}

static int64_t lag_total(rs_queue_t *q, lag_state_t *ls) {
	memset(ls, 0, sizeof(*ls));
	assert_int_equal(rs_queue_lag(q, 2000, lag_cb, ls), RS_OK);
	return ls->lag[0] + ls->lag[1] + ls->lag[2];
}

static void lag_produce(rs_queue_t *prod, int from, int n, int *per_shard) {
	int i;

	for (i = from; i < from + n; i++) {
		char key[8];
		rs_snprintf(key, sizeof(key), "k%d", i % 7);
		assert_int_equal(rs_queue_produce(prod, "jobs", key, strlen(key),
						  "v", 1, NULL, 0, NULL),
				 RS_OK);
		per_shard[rs_qsql_key_hash(key, strlen(key)) % 3]++;
		/* Interleaved rows of another topic take offsets too. */
		assert_int_equal(rs_queue_produce(prod, "other", key,
						  strlen(key), "v", 1, NULL, 0,
						  NULL),
				 RS_OK);
	}
	assert_int_equal(rs_queue_flush(prod, 5000), RS_OK);
}

static void test_lag(void **state) {
	const char *names[] = {"jobs", "other"};
	rs_queue_conf_t conf;
	rs_queue_t *prod, *cons;
	rs_qmsg_t *held[30], *first = NULL;
	rt_state_t s = {0, 0};
	lag_state_t ls;
	int per_shard[3] = {0, 0, 0};
	char errstr[256];
	int n = 0, i, p;
	tmpdb_t t;

	(void)state;
	tmpdb_init(&t);
	rs_queue_conf_init(&conf);
	conf.backend = "sqlite";
	conf.sqlite_path = t.path;
	prod = rs_queue_new(&conf, errstr, sizeof(errstr));
	assert_non_null(prod);
	assert_int_equal(rs_queue_create_topics(prod, names, 2, 3, 1, NULL, 0,
						1000, errstr, sizeof(errstr)),
			 RS_OK);
	/* No consumer role: nothing to report. */
	assert_int_equal(rs_queue_lag(prod, 100, lag_cb, &ls), RS_ERR_STATE);
	lag_produce(prod, 0, 30, per_shard);

	cons = rt_consumer(t.path, &s, errstr, sizeof(errstr));
	assert_non_null(cons);
	/* Shards are assigned at the first poll: none yet, none reported. */
	assert_int_equal(lag_total(cons, &ls), 0);
	assert_int_equal(ls.calls, 0);
	while (n < 30) {
		rs_qmsg_t *msg = NULL;
		assert_int_equal(rs_queue_poll(cons, 200, &msg), RS_OK);
		assert_non_null(msg);
		held[n++] = msg;
		if (n == 1) {
			/* One handed out, the others still in the table. */
			assert_int_equal(lag_total(cons, &ls), 30);
			assert_int_equal(ls.calls, 3);
		}
	}
	assert_int_equal(lag_total(cons, &ls), 30);
	for (p = 0; p < 3; p++)
		assert_int_equal(ls.lag[p], per_shard[p]);
	/* Finish every message but the first of one shard: that shard keeps
	 * its whole lag (a restart would redeliver from there), the others
	 * drop to 0. */
	first = held[0];
	p = rs_qmsg_partition(first);
	for (i = 1; i < 30; i++)
		rs_queue_msg_done(cons, held[i]);
	assert_int_equal(lag_total(cons, &ls), per_shard[p]);
	assert_int_equal(ls.lag[p], per_shard[p]);
	assert_int_equal(ls.pos[p], rs_qmsg_offset(first));
	rs_queue_msg_done(cons, first);
	assert_int_equal(lag_total(cons, &ls), 0);
	assert_int_equal(ls.calls, 3);
	assert_int_equal(rs_queue_close(cons), RS_OK);
	rs_queue_destroy(cons);

	/* Reopened, before any message is handed out: the stored positions
	 * count (5 new rows), not the tracker. */
	memset(per_shard, 0, sizeof(per_shard));
	lag_produce(prod, 30, 5, per_shard);
	cons = rt_consumer(t.path, &s, errstr, sizeof(errstr));
	assert_non_null(cons);
	assert_int_equal(rs_queue_pause_all(cons), RS_OK);
	{
		rs_qmsg_t *msg = NULL;
		assert_int_equal(rs_queue_poll(cons, 50, &msg), RS_OK);
		assert_null(msg); /* paused, but assigned */
	}
	assert_int_equal(lag_total(cons, &ls), 5);
	for (p = 0; p < 3; p++)
		assert_int_equal(ls.lag[p], per_shard[p]);
	rs_queue_destroy(cons);
	rs_queue_destroy(prod);
	tmpdb_cleanup(&t);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hdrs_roundtrip),
		cmocka_unit_test(test_hdrs_malformed),
		cmocka_unit_test(test_key_hash),
		cmocka_unit_test(test_conf_errors),
		cmocka_unit_test(test_not_a_database),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_window_full),
		cmocka_unit_test(test_lag),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
