/*
 * 0010-queue-conformance: ONE suite, run against each queue back-end
 * (argv[1] or RS_QUEUE_BACKEND: "kafka" or "sqlite"; registered twice in
 * scenarios.cmake).  What it proves, in order:
 *
 *  1. produce: every message gets exactly one delivery report, with its
 *     own msg_opaque, and flush returns RS_OK;
 *  2. scan: every message once, offsets ascending per partition, headers
 *     intact; the end is the one at the start (messages produced from the
 *     callback are not read); a callback's code stops it; a topic just
 *     created is empty, not an error; unknown topic is NOT_FOUND;
 *  3. at-least-once with out-of-order processing: pass 1 finishes messages
 *     in a scrambled order and leaves about 1 % unfinished (released);
 *     after close and reopen, each partition resumes exactly at its
 *     lowest unfinished offset: nothing skipped, nothing finished below it
 *     redelivered;
 *  4. per-key order: a key stays in one partition and its sequence numbers
 *     arrive in order in every pass;
 *  5. headers round trip (binary value with a NUL, empty value);
 *  6. pause before any message, then resume;
 *  7. the in-flight cap: at the cap poll hands out nothing and returns
 *     RS_ERR_TOO_LARGE; one done lets the next message out;
 *  8. destroy without flush: every accepted message still gets exactly one
 *     report, and every one reported OK is consumable;
 *  9. SIGKILL of a producing child process: every message whose delivery
 *     report said OK is consumed afterwards (sqlite: and the file passes
 *     PRAGMA integrity_check), and the queue works on restart;
 * 10. throughput figures (produce, consume and scan msgs/s);
 * 13. consumer lag (rs_queue_lag): before anything is handed out, with
 *     everything handed out, after a prefix is done, when all are done (0),
 *     and from the committed positions after a reopen.
 * sqlite only: 11. a second consumer process in the group is refused with
 * a clear reason; SIGKILL of the consumer holding the group, and a new one
 * takes over at once, resuming at the stored positions; 12. retention
 * deletes rows below the group's positions and compaction keeps the
 * newest row per key.
 */
#include "rs/rs_base.h"
#include "rs/rs_queue.h"
#include "rs_test.h"

#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

#define NKEYS 50
#define NSEQ 40
#define NMSGS (NKEYS * NSEQ)
#define NPARTS 4
#define PERF_MSGS 50000
#define KILL_MSGS 200000

static const char *backend;
static bool is_sqlite;
static const char *brokers;
static char dbpath[512];
static char dir[256];

/* ---------------------------------------------------------------------- */
/* Handles                                                                */

typedef struct ctx_s {
	atomic_int assigned_parts;
	atomic_int assign_calls;
	atomic_int revoke_calls;
	atomic_int dr_ok, dr_err;
	atomic_uchar *dr_seen; /* per msg_opaque index: reports */
	atomic_uchar *dr_okmap; /* per msg_opaque index: reported OK */
	size_t dr_cap;
	atomic_int dr_dup;
} ctx_t;

static void on_assign(rs_queue_t *q, const rs_queue_partition_t *parts,
		      size_t cnt, bool lost, void *opaque) {
	ctx_t *ctx = opaque;
	(void)q;
	(void)parts;
	(void)lost;
	atomic_fetch_add(&ctx->assigned_parts, (int)cnt);
	atomic_fetch_add(&ctx->assign_calls, 1);
}

static void on_revoke(rs_queue_t *q, const rs_queue_partition_t *parts,
		      size_t cnt, bool lost, void *opaque) {
	ctx_t *ctx = opaque;
	(void)q;
	(void)parts;
	(void)lost;
	atomic_fetch_sub(&ctx->assigned_parts, (int)cnt);
	atomic_fetch_add(&ctx->revoke_calls, 1);
}

static void on_delivery(rs_queue_t *q, rs_err_t err, const char *errstr,
			void *msg_opaque, void *opaque) {
	ctx_t *ctx = opaque;
	size_t idx = (size_t)(uintptr_t)msg_opaque;
	(void)q;
	(void)errstr;
	if (err == RS_OK)
		atomic_fetch_add(&ctx->dr_ok, 1);
	else
		atomic_fetch_add(&ctx->dr_err, 1);
	if (ctx->dr_seen && idx > 0 && idx <= ctx->dr_cap &&
	    atomic_fetch_add(&ctx->dr_seen[idx - 1], 1) > 0)
		atomic_fetch_add(&ctx->dr_dup, 1);
	if (ctx->dr_okmap && idx > 0 && idx <= ctx->dr_cap && err == RS_OK)
		atomic_store(&ctx->dr_okmap[idx - 1], 1);
}

static void conf_base(rs_queue_conf_t *conf, ctx_t *ctx) {
	static const char *const props[] = {
		"sqlite.retention_interval_ms=500", "log_level=4"};

	rs_queue_conf_init(conf);
	conf->backend = backend;
	conf->brokers = brokers;
	conf->sqlite_path = dbpath;
	conf->client_id = "it-0010";
	conf->props = props;
	conf->prop_cnt = RS_ARRAY_SIZE(props);
	conf->session_timeout_ms = 10000;
	conf->heartbeat_interval_ms = 1000;
	conf->on_assign = on_assign;
	conf->on_revoke = on_revoke;
	conf->on_delivery = on_delivery;
	conf->opaque = ctx;
}

static rs_queue_t *producer_new(ctx_t *ctx) {
	rs_queue_conf_t conf;
	rs_queue_t *q;
	char errstr[256];

	conf_base(&conf, ctx);
	conf.roles = RS_QUEUE_ROLE_PRODUCER;
	q = rs_queue_new(&conf, errstr, sizeof(errstr));
	TEST_ASSERT(q, "producer: %s", errstr);
	TEST_ASSERT(!strcmp(rs_queue_backend_name(q), backend), "backend %s",
		    rs_queue_backend_name(q));
	return q;
}

static rs_queue_t *consumer_try(ctx_t *ctx, const char *group,
				const char *topic, size_t max_inflight,
				char *errstr, size_t errstr_size) {
	rs_queue_conf_t conf;
	const char *topics[1] = {topic};

	conf_base(&conf, ctx);
	conf.roles = RS_QUEUE_ROLE_CONSUMER;
	conf.group_id = group;
	conf.topics = topics;
	conf.topic_cnt = 1;
	conf.max_inflight = max_inflight;
	conf.revoke_drain_ms = 2000;
	return rs_queue_new(&conf, errstr, errstr_size);
}

static rs_queue_t *consumer_new(ctx_t *ctx, const char *group,
				const char *topic, size_t max_inflight) {
	char errstr[256];
	rs_queue_t *q =
		consumer_try(ctx, group, topic, max_inflight, errstr,
			     sizeof(errstr));
	TEST_ASSERT(q, "consumer: %s", errstr);
	return q;
}

static void create_topic(rs_queue_t *q, const char *topic, bool compact) {
	const char *names[1] = {topic};
	const char *cconf[1] = {"cleanup.policy=compact"};
	char errstr[256];

	TEST_ASSERT(rs_queue_create_topics(q, names, 1, NPARTS, 1,
					   compact ? cconf : NULL,
					   compact ? 1 : 0,
					   rs_test_timeout_ms(30000), errstr,
					   sizeof(errstr)) == RS_OK,
		    "create %s: %s", topic, errstr);
}

/* Values are "k=<key> s=<seq>", keys "key-<key>". */
static void parse(const rs_qmsg_t *msg, int *key, int *seq) {
	size_t len;
	const char *v = rs_qmsg_value(msg, &len);
	char buf[64];

	TEST_ASSERT(v && len < sizeof(buf), "value length %zu", len);
	memcpy(buf, v, len);
	buf[len] = '\0';
	TEST_ASSERT(sscanf(buf, "k=%d s=%d", key, seq) == 2, "value \"%s\"",
		    buf);
}

static const uint8_t binhdr[] = {0x00, 0x01, 0xfe, 0xff, 0x00};

static void check_headers(const rs_qmsg_t *msg) {
	const void *v;
	size_t n;

	TEST_ASSERT(rs_qmsg_header_cnt(msg) == 3, "%zu headers",
		    rs_qmsg_header_cnt(msg));
	TEST_ASSERT(rs_qmsg_header_get(msg, "traceparent", &v, &n) == RS_OK &&
			    n == 9 && !memcmp(v, "00-abc-01", 9),
		    "traceparent header");
	TEST_ASSERT(rs_qmsg_header_get(msg, "bin", &v, &n) == RS_OK &&
			    n == sizeof(binhdr) &&
			    !memcmp(v, binhdr, sizeof(binhdr)),
		    "binary header");
	TEST_ASSERT(rs_qmsg_header_get(msg, "empty", &v, &n) == RS_OK &&
			    n == 0,
		    "empty header");
}

/* Produces NMSGS messages, key-major order interleaved (seq outer), each
 * with its index + 1 as msg_opaque. */
static void produce_all(rs_queue_t *q, const char *topic, bool hdrs) {
	rs_queue_header_t h[3] = {{"traceparent", "00-abc-01", 9},
				  {"bin", binhdr, sizeof(binhdr)},
				  {"empty", "", 0}};
	int k, s;

	for (s = 0; s < NSEQ; s++)
		for (k = 0; k < NKEYS; k++) {
			char key[16], val[32];
			rs_err_t err;
			rs_snprintf(key, sizeof(key), "key-%d", k);
			rs_snprintf(val, sizeof(val), "k=%d s=%d", k, s);
			while ((err = rs_queue_produce(
					q, topic, key, strlen(key), val,
					strlen(val), hdrs ? h : NULL,
					hdrs ? 3 : 0,
					(void *)(uintptr_t)(s * NKEYS + k +
							    1))) ==
			       RS_ERR_AGAIN)
				rs_sleep_ms(1);
			TEST_ASSERT(err == RS_OK, "produce: %s",
				    rs_err_name(err));
		}
}

/* ---------------------------------------------------------------------- */
/* Scan                                                                   */

typedef struct scan_s {
	int cnt;
	int stop_after;
	int64_t last_off[NPARTS];
	int next_seq[NKEYS];
	int part_of_key[NKEYS];
	rs_queue_t *prod;   /* produce from the callback (snapshot check) */
	const char *topic;
	bool hdrs;
} scan_t;

static rs_err_t scan_cb(const rs_qmsg_t *msg, void *opaque) {
	scan_t *sc = opaque;
	int32_t p = rs_qmsg_partition(msg);
	int key, seq;

	TEST_ASSERT(p >= 0 && p < NPARTS, "partition %d", (int)p);
	TEST_ASSERT(rs_qmsg_offset(msg) > sc->last_off[p],
		    "scan offset %lld after %lld",
		    (long long)rs_qmsg_offset(msg),
		    (long long)sc->last_off[p]);
	sc->last_off[p] = rs_qmsg_offset(msg);
	parse(msg, &key, &seq);
	if (sc->hdrs) {
		TEST_ASSERT(key >= 0 && key < NKEYS, "key %d", key);
		TEST_ASSERT(seq == sc->next_seq[key],
			    "scan: key %d seq %d, expected %d", key, seq,
			    sc->next_seq[key]);
		sc->next_seq[key]++;
		TEST_ASSERT(sc->part_of_key[key] < 0 ||
				    sc->part_of_key[key] == p,
			    "key %d in two partitions", key);
		sc->part_of_key[key] = p;
		check_headers(msg);
	}
	if (sc->prod && sc->cnt == 0) {
		int i;
		/* Produced and durable while the scan runs: not read. */
		for (i = 0; i < 10; i++)
			TEST_ASSERT(rs_queue_produce(sc->prod, sc->topic, "x",
						     1, "k=0 s=0", 7, NULL, 0,
						     NULL) == RS_OK,
				    "produce in scan");
		TEST_ASSERT(rs_queue_flush(sc->prod,
					   rs_test_timeout_ms(10000)) ==
				    RS_OK,
			    "flush in scan");
	}
	if (++sc->cnt == sc->stop_after)
		return RS_ERR_CANCELLED;
	return RS_OK;
}

static void scan_init(scan_t *sc) {
	int i;

	memset(sc, 0, sizeof(*sc));
	for (i = 0; i < NPARTS; i++)
		sc->last_off[i] = -1;
	for (i = 0; i < NKEYS; i++)
		sc->part_of_key[i] = -1;
}

/* ---------------------------------------------------------------------- */
/* Consumption bookkeeping                                                */

typedef struct track_s {
	unsigned char done[NKEYS][NSEQ]; /* times finished, all passes */
	int part_of_key[NKEYS];
	int next_seq[NKEYS];             /* this pass, -1 before the first */
	int64_t max_off[NPARTS];         /* pass 1 */
	int64_t resume[NPARTS];          /* pass 1: lowest unfinished */
	int64_t first2[NPARTS];          /* pass 2: first offset seen */
	int released;
} track_t;

static void track_msg(track_t *t, const rs_qmsg_t *msg, int *keyp,
		      int *seqp) {
	int32_t p = rs_qmsg_partition(msg);
	int key, seq;

	parse(msg, &key, &seq);
	TEST_ASSERT(key >= 0 && key < NKEYS && seq >= 0 && seq < NSEQ,
		    "value k=%d s=%d", key, seq);
	TEST_ASSERT(p >= 0 && p < NPARTS, "partition %d", (int)p);
	TEST_ASSERT(t->part_of_key[key] < 0 || t->part_of_key[key] == p,
		    "key %d in partitions %d and %d", key, t->part_of_key[key],
		    (int)p);
	t->part_of_key[key] = p;
	/* Per-key order: within a pass a key's sequence numbers follow each
	 * other without a gap or a step back (a pass may start anywhere: a
	 * resume can go below where the previous pass ended). */
	TEST_ASSERT(t->next_seq[key] < 0 || seq == t->next_seq[key],
		    "key %d: seq %d, expected %d", key, seq, t->next_seq[key]);
	t->next_seq[key] = seq + 1;
	check_headers(msg);
	*keyp = key;
	*seqp = seq;
}

/* Fisher-Yates with a fixed LCG: reproducible scrambles. */
static void scramble(rs_qmsg_t **v, size_t n, uint32_t *seed) {
	size_t i;

	for (i = n; i > 1; i--) {
		size_t j;
		rs_qmsg_t *tmp;
		*seed = *seed * 1103515245u + 12345u;
		j = (*seed >> 8) % i;
		tmp = v[i - 1];
		v[i - 1] = v[j];
		v[j] = tmp;
	}
}

/* ---------------------------------------------------------------------- */
/* Child processes (re-executed, so no thread state crosses a fork)       */

static int child_fd = -1;

static void child_on_delivery(rs_queue_t *q, rs_err_t err, const char *errstr,
			      void *msg_opaque, void *opaque) {
	uint32_t idx = (uint32_t)(uintptr_t)msg_opaque;
	(void)q;
	(void)errstr;
	(void)opaque;
	/* Only acknowledged messages are announced; a short write cannot
	 * happen for 4 bytes on a pipe. */
	if (err == RS_OK && write(child_fd, &idx, sizeof(idx)) != sizeof(idx))
		_exit(3);
}

/* Produces KILL_MSGS messages to @p topic as fast as it can and reports
 * each acknowledged index on fd 1 until the parent SIGKILLs it. */
static int child_produce(const char *topic) {
	rs_queue_conf_t conf;
	rs_queue_t *q;
	char errstr[256];
	uint32_t i;

	child_fd = 1;
	rs_queue_conf_init(&conf);
	conf.backend = backend;
	conf.brokers = brokers;
	conf.sqlite_path = dbpath;
	conf.roles = RS_QUEUE_ROLE_PRODUCER;
	conf.on_delivery = child_on_delivery;
	q = rs_queue_new(&conf, errstr, sizeof(errstr));
	if (!q) {
		fprintf(stderr, "child: %s\n", errstr);
		return 2;
	}
	for (i = 1; i <= KILL_MSGS; i++) {
		char key[16], val[32];
		rs_err_t err;
		rs_snprintf(key, sizeof(key), "key-%u", i % NKEYS);
		rs_snprintf(val, sizeof(val), "k=%u s=%u", i % NKEYS, i);
		while ((err = rs_queue_produce(q, topic, key, strlen(key), val,
					       strlen(val), NULL, 0,
					       (void *)(uintptr_t)i)) ==
		       RS_ERR_AGAIN)
			rs_sleep_ms(1);
		if (err != RS_OK) {
			fprintf(stderr, "child: produce: %s\n",
				rs_err_name(err));
			return 2;
		}
	}
	rs_queue_flush(q, 60000);
	rs_queue_destroy(q);
	return 0;
}

/* Consumes @p topic in @p group, finishing everything, committing all
 * after each 100, until SIGKILLed; announces each finished index on fd 1
 * (after rs_queue_msg_done, so "announced" means "finished"). */
static int child_consume(const char *topic, const char *group) {
	rs_queue_t *q;
	ctx_t ctx;
	uint32_t n = 0, idx;

	memset(&ctx, 0, sizeof(ctx));
	q = consumer_new(&ctx, group, topic, 100);
	for (;;) {
		rs_qmsg_t *msg = NULL;
		rs_err_t err = rs_queue_poll(q, 100, &msg);
		if (err != RS_OK && err != RS_ERR_TOO_LARGE)
			return 2;
		if (!msg)
			continue;
		{
			int k, s;
			parse(msg, &k, &s);
			idx = (uint32_t)s;
		}
		rs_queue_msg_done(q, msg);
		if (write(1, &idx, sizeof(idx)) != sizeof(idx))
			return 3;
		if (++n % 100 == 0)
			rs_queue_commit(q);
	}
}

/* Starts this program as a child with @p args; its stdout is a pipe. */
static pid_t child_start(const char *mode, const char *a1, const char *a2,
			 int *fdp) {
	int pfd[2];
	pid_t pid;

	TEST_ASSERT(pipe(pfd) == 0, "pipe");
	pid = fork();
	TEST_ASSERT(pid >= 0, "fork");
	if (pid == 0) {
		dup2(pfd[1], 1);
		close(pfd[0]);
		close(pfd[1]);
		execl("/proc/self/exe", "it_0010", backend, mode, dbpath, a1,
		      a2 ? a2 : "-", (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	*fdp = pfd[0];
	return pid;
}

static void child_kill(pid_t pid) {
	int status = 0;

	kill(pid, SIGKILL);
	TEST_ASSERT(waitpid(pid, &status, 0) == pid, "waitpid");
	TEST_ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		    "child ended before the kill (status 0x%x)", status);
}

/* ---------------------------------------------------------------------- */
/* SQLite inspection (sqlite only)                                        */

static int64_t sql_int(const char *sql) {
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int64_t v = -1;

	TEST_ASSERT(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL) ==
			    SQLITE_OK,
		    "open %s", dbpath);
	TEST_ASSERT(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK,
		    "%s: %s", sql, sqlite3_errmsg(db));
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static void integrity_check(void) {
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	const char *res;

	TEST_ASSERT(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READWRITE, NULL) ==
			    SQLITE_OK,
		    "open %s", dbpath);
	TEST_ASSERT(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st,
				       NULL) == SQLITE_OK,
		    "integrity_check");
	TEST_ASSERT(sqlite3_step(st) == SQLITE_ROW, "integrity_check row");
	res = (const char *)sqlite3_column_text(st, 0);
	TEST_ASSERT(res && !strcmp(res, "ok"), "integrity_check: %s",
		    res ? res : "(null)");
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* ---------------------------------------------------------------------- */

/* Polls until a message arrives (or fails after @p ms). */
static rs_qmsg_t *poll_one(rs_queue_t *q, int64_t ms) {
	int64_t end = rs_now_ms() + rs_test_timeout_ms(ms);

	while (rs_now_ms() < end) {
		rs_qmsg_t *msg = NULL;
		rs_err_t err = rs_queue_poll(q, 200, &msg);
		TEST_ASSERT(err == RS_OK, "poll: %s", rs_err_name(err));
		if (msg)
			return msg;
	}
	TEST_FAIL("no message in %lld ms", (long long)ms);
}

/* Consumes @p topic in a fresh group until each index in @p want (1-based,
 * want[i] != 0) was seen; values are "k=.. s=<index>". */
static void consume_expect(ctx_t *ctx, const char *topic,
			   const unsigned char *want, uint32_t maxidx,
			   uint32_t nwant) {
	char group[128];
	unsigned char *seen = rs_calloc(maxidx + 1, 1);
	rs_queue_t *q;
	uint32_t got = 0;
	int64_t end = rs_now_ms() + rs_test_timeout_ms(90000);

	rs_test_unique_name("it-0010-check", group, sizeof(group));
	q = consumer_new(ctx, group, topic, 1000);
	while (got < nwant && rs_now_ms() < end) {
		rs_qmsg_t *msg = NULL;
		rs_err_t err = rs_queue_poll(q, 200, &msg);
		int k, s;
		TEST_ASSERT(err == RS_OK, "poll: %s", rs_err_name(err));
		if (!msg)
			continue;
		parse(msg, &k, &s);
		if (s > 0 && (uint32_t)s <= maxidx && want[s] && !seen[s]) {
			seen[s] = 1;
			got++;
		}
		rs_queue_msg_done(q, msg);
	}
	rs_queue_close(q);
	rs_queue_destroy(q);
	TEST_ASSERT(got == nwant, "%u of %u acknowledged messages found", got,
		    nwant);
	rs_free(seen);
}

/* ---------------------------------------------------------------------- */
/* Consumer lag                                                           */

typedef struct lag_sum_s {
	int64_t sum;
	int parts;
	const char *topic;
} lag_sum_t;

static void lag_cb(const rs_queue_lag_t *l, void *opaque) {
	lag_sum_t *ls = opaque;

	TEST_ASSERT(!strcmp(l->topic, ls->topic) && l->partition >= 0 &&
			    l->partition < NPARTS && l->lag >= 0 &&
			    l->position >= 0,
		    "lag of %s[%d]: %lld at %lld", l->topic, (int)l->partition,
		    (long long)l->lag, (long long)l->position);
	ls->sum += l->lag;
	ls->parts++;
}

/* The summed lag of every assigned partition (all NPARTS reported). */
static int64_t lag_sum(rs_queue_t *q, const char *topic) {
	lag_sum_t ls = {0, 0, topic};
	rs_err_t err = rs_queue_lag(q, rs_test_timeout_ms(5000), lag_cb, &ls);

	TEST_ASSERT(err == RS_OK, "rs_queue_lag: %s", rs_err_name(err));
	TEST_ASSERT(ls.parts == NPARTS, "lag of %d partitions", ls.parts);
	return ls.sum;
}

/* Polls while paused until every partition is assigned. */
static void wait_assigned_paused(rs_queue_t *q) {
	int64_t end = rs_now_ms() + rs_test_timeout_ms(30000);

	while (rs_queue_assignment_cnt(q) < NPARTS && rs_now_ms() < end) {
		rs_qmsg_t *msg = NULL;
		TEST_ASSERT(rs_queue_poll(q, 200, &msg) == RS_OK && !msg,
			    "poll while paused");
	}
	TEST_ASSERT(rs_queue_assignment_cnt(q) == NPARTS, "assigned %zu",
		    rs_queue_assignment_cnt(q));
}

static void lag_produce(rs_queue_t *prod, const char *topic, int from,
			int n) {
	int i;

	for (i = from; i < from + n; i++) {
		char key[16], val[32];
		rs_snprintf(key, sizeof(key), "key-%d", i % NKEYS);
		rs_snprintf(val, sizeof(val), "k=%d s=%d", i % NKEYS, i);
		TEST_ASSERT(rs_queue_produce(prod, topic, key, strlen(key), val,
					     strlen(val), NULL, 0, NULL) ==
				    RS_OK,
			    "produce");
	}
	TEST_ASSERT(rs_queue_flush(prod, rs_test_timeout_ms(30000)) == RS_OK,
		    "flush");
}

int main(int argc, char **argv) {
	static track_t tr;
	static scan_t sc;
	static ctx_t ctx;
	char topic[128], snap[160], group[128];
	rs_queue_t *prod, *q;
	rs_queue_stats_t st;
	int i, k, s, p;
	double prate = 0, crate = 0, srate = 0;

	backend = argc > 1 ? argv[1] : getenv("RS_QUEUE_BACKEND");
	TEST_ASSERT(backend && (!strcmp(backend, "kafka") ||
				!strcmp(backend, "sqlite")),
		    "backend must be kafka or sqlite (argv[1])");
	is_sqlite = !strcmp(backend, "sqlite");
	if (argc > 5) {
		/* Child: it_0010 <backend> <mode> <dbpath> <topic> <group> */
		rs_snprintf(dbpath, sizeof(dbpath), "%s", argv[3]);
		brokers = getenv("RS_KAFKA_BROKERS");
		if (!strcmp(argv[2], "produce"))
			return child_produce(argv[4]);
		if (!strcmp(argv[2], "consume"))
			return child_consume(argv[4], argv[5]);
		return 2;
	}
	if (is_sqlite) {
		rs_test_mkdtemp(dir, sizeof(dir));
		rs_snprintf(dbpath, sizeof(dbpath), "%s/queue.db", dir);
	} else {
		brokers = rs_test_kafka_brokers();
	}
	rs_test_say("backend %s", backend);
	rs_test_unique_name("rs-it-0010", topic, sizeof(topic));
	rs_snprintf(snap, sizeof(snap), "%s-snap", topic);
	rs_test_unique_name("rs-it-0010-grp", group, sizeof(group));

	SUB_TEST("[%s] produce %d messages: one delivery report each",
		 backend, NMSGS);
	ctx.dr_cap = NMSGS;
	ctx.dr_seen = rs_calloc(NMSGS, sizeof(*ctx.dr_seen));
	prod = producer_new(&ctx);
	create_topic(prod, topic, false);
	create_topic(prod, topic, false); /* exists: still OK */
	create_topic(prod, snap, false);
	produce_all(prod, topic, true);
	TEST_ASSERT(rs_queue_flush(prod, rs_test_timeout_ms(30000)) == RS_OK,
		    "flush");
	rs_queue_stats(prod, &st);
	TEST_ASSERT(st.produced == NMSGS && st.delivered == NMSGS &&
			    st.delivery_failed == 0,
		    "produced %llu delivered %llu failed %llu",
		    (unsigned long long)st.produced,
		    (unsigned long long)st.delivered,
		    (unsigned long long)st.delivery_failed);
	TEST_ASSERT(atomic_load(&ctx.dr_ok) == NMSGS && !atomic_load(&ctx.dr_dup),
		    "reports ok %d dup %d", atomic_load(&ctx.dr_ok),
		    atomic_load(&ctx.dr_dup));
	for (i = 0; i < NMSGS; i++)
		TEST_ASSERT(atomic_load(&ctx.dr_seen[i]) == 1,
			    "message %d reported %d times", i,
			    (int)atomic_load(&ctx.dr_seen[i]));
	TEST_ASSERT(rs_queue_flush(prod, 1000) == RS_OK, "empty flush");
	rs_free(ctx.dr_seen);
	ctx.dr_seen = NULL;

	SUB_TEST("[%s] scan: all, in order, headers intact, snapshot end",
		 backend);
	scan_init(&sc);
	sc.hdrs = true;
	TEST_ASSERT(rs_queue_scan(prod, topic, rs_test_timeout_ms(30000),
				  scan_cb, &sc) == RS_OK,
		    "scan");
	TEST_ASSERT(sc.cnt == NMSGS, "scan saw %d", sc.cnt);
	for (k = 0; k < NKEYS; k++)
		TEST_ASSERT(sc.next_seq[k] == NSEQ, "key %d ended at %d", k,
			    sc.next_seq[k]);
	scan_init(&sc);
	sc.stop_after = 5;
	TEST_ASSERT(rs_queue_scan(prod, topic, rs_test_timeout_ms(30000),
				  scan_cb, &sc) == RS_ERR_CANCELLED &&
			    sc.cnt == 5,
		    "early stop after %d", sc.cnt);
	for (i = 0; i < 10; i++)
		TEST_ASSERT(rs_queue_produce(prod, snap, "x", 1, "k=0 s=0", 7,
					     NULL, 0, NULL) == RS_OK,
			    "produce snap");
	TEST_ASSERT(rs_queue_flush(prod, rs_test_timeout_ms(10000)) == RS_OK,
		    "flush snap");
	scan_init(&sc);
	sc.prod = prod;
	sc.topic = snap;
	TEST_ASSERT(rs_queue_scan(prod, snap, rs_test_timeout_ms(30000),
				  scan_cb, &sc) == RS_OK &&
			    sc.cnt == 10,
		    "snapshot scan saw %d, expected the 10 from before", sc.cnt);
	scan_init(&sc);
	TEST_ASSERT(rs_queue_scan(prod, snap, rs_test_timeout_ms(30000),
				  scan_cb, &sc) == RS_OK &&
			    sc.cnt == 20,
		    "second scan saw %d, expected 20", sc.cnt);
	{
		char absent[200], fresh[200];
		/* Just created, maybe no leader yet (Kafka): empty, not an
		 * error. */
		rs_snprintf(fresh, sizeof(fresh), "%s-fresh", topic);
		create_topic(prod, fresh, false);
		scan_init(&sc);
		TEST_ASSERT(rs_queue_scan(prod, fresh, rs_test_timeout_ms(30000),
					  scan_cb, &sc) == RS_OK &&
				    sc.cnt == 0,
			    "scan of a fresh topic: %d messages", sc.cnt);
		rs_snprintf(absent, sizeof(absent), "%s-absent", topic);
		TEST_ASSERT(rs_queue_scan(prod, absent,
					  rs_test_timeout_ms(10000), scan_cb,
					  &sc) == RS_ERR_NOT_FOUND,
			    "unknown topic");
	}

	SUB_TEST("[%s] pass 1: scrambled finishing, ~1%% left unfinished",
		 backend);
	memset(&tr, 0, sizeof(tr));
	for (k = 0; k < NKEYS; k++) {
		tr.part_of_key[k] = -1;
		tr.next_seq[k] = -1;
	}
	for (p = 0; p < NPARTS; p++) {
		tr.max_off[p] = -1;
		tr.resume[p] = INT64_MAX;
		tr.first2[p] = -1;
	}
	atomic_store(&ctx.assign_calls, 0);
	q = consumer_new(&ctx, group, topic, 100);
	{
		rs_qmsg_t *held[100];
		size_t nheld = 0;
		int got = 0;
		uint32_t seed = 42;
		int64_t end = rs_now_ms() + rs_test_timeout_ms(60000);

		while (got < NMSGS / 2 && rs_now_ms() < end) {
			rs_qmsg_t *msg = NULL;
			rs_err_t err = rs_queue_poll(q, 200, &msg);
			TEST_ASSERT(err == RS_OK || err == RS_ERR_TOO_LARGE,
				    "poll: %s", rs_err_name(err));
			if (msg) {
				int key, seq;
				p = rs_qmsg_partition(msg);
				track_msg(&tr, msg, &key, &seq);
				tr.max_off[p] = RS_MAX(tr.max_off[p],
						       rs_qmsg_offset(msg));
				held[nheld++] = msg;
				got++;
			}
			if (nheld < 100 && msg && got < NMSGS / 2)
				continue;
			scramble(held, nheld, &seed);
			for (i = 0; i < (int)nheld; i++) {
				int key, seq;
				parse(held[i], &key, &seq);
				p = rs_qmsg_partition(held[i]);
				if ((key * 7 + seq) % 97 == 0) {
					tr.resume[p] = RS_MIN(
						tr.resume[p],
						rs_qmsg_offset(held[i]));
					tr.released++;
					rs_queue_msg_release(q, held[i]);
				} else {
					tr.done[key][seq]++;
					rs_queue_msg_done(q, held[i]);
				}
			}
			nheld = 0;
		}
		TEST_ASSERT(got == NMSGS / 2, "pass 1 got %d", got);
	}
	TEST_ASSERT(atomic_load(&ctx.assigned_parts) == NPARTS,
		    "assigned %d partitions", atomic_load(&ctx.assigned_parts));
	if (is_sqlite)
		TEST_ASSERT(atomic_load(&ctx.assign_calls) == 1,
			    "on_assign called %d times",
			    atomic_load(&ctx.assign_calls));
	TEST_ASSERT(tr.released > 0, "nothing left unfinished");
	TEST_ASSERT(rs_queue_inflight(q) == 0, "in flight %zu",
		    rs_queue_inflight(q));
	TEST_ASSERT(rs_queue_commit(q) == RS_OK, "commit");
	if (is_sqlite) {
		char errstr2[256];
		rs_queue_t *q2;
		SUB_TEST("[sqlite] a second consumer of the group is refused");
		q2 = consumer_try(&ctx, group, topic, 10, errstr2,
				  sizeof(errstr2));
		TEST_ASSERT(!q2, "second consumer accepted");
		TEST_ASSERT(strstr(errstr2, "one consumer process per group"),
			    "unclear reason: %s", errstr2);
		rs_test_say("refused: %s", errstr2);
	}
	atomic_store(&ctx.revoke_calls, 0);
	TEST_ASSERT(rs_queue_close(q) == RS_OK, "close");
	TEST_ASSERT(atomic_load(&ctx.revoke_calls) >= 1 &&
			    atomic_load(&ctx.assigned_parts) == 0,
		    "revoke at close: %d calls, %d left",
		    atomic_load(&ctx.revoke_calls),
		    atomic_load(&ctx.assigned_parts));
	rs_queue_destroy(q);
	rs_test_say("pass 1: %d consumed, %d released", NMSGS / 2,
		    tr.released);

	SUB_TEST("[%s] pause before the first message, then resume", backend);
	for (k = 0; k < NKEYS; k++)
		tr.next_seq[k] = -1;
	q = consumer_new(&ctx, group, topic, 100);
	TEST_ASSERT(rs_queue_pause_all(q) == RS_OK && rs_queue_paused(q),
		    "pause_all");
	{
		int64_t end = rs_now_ms() + rs_test_timeout_ms(30000);
		int64_t quiet = -1;
		while (rs_now_ms() < end) {
			rs_qmsg_t *msg = NULL;
			TEST_ASSERT(rs_queue_poll(q, 200, &msg) == RS_OK,
				    "poll while paused");
			TEST_ASSERT(!msg, "message at %lld while paused",
				    (long long)rs_qmsg_offset(msg));
			if (quiet < 0 && rs_queue_assignment_cnt(q) == NPARTS)
				quiet = rs_now_ms() + 1500;
			if (quiet > 0 && rs_now_ms() >= quiet)
				break;
		}
		TEST_ASSERT(rs_queue_assignment_cnt(q) == NPARTS,
			    "assigned %zu", rs_queue_assignment_cnt(q));
	}
	TEST_ASSERT(rs_queue_resume_all(q) == RS_OK && !rs_queue_paused(q),
		    "resume_all");

	SUB_TEST("[%s] in-flight cap: nothing past it until one is done",
		 backend);
	{
		rs_qmsg_t *held[101];
		rs_qmsg_t *msg = NULL;
		rs_err_t err;
		int64_t t0;
		for (i = 0; i < 100; i++)
			held[i] = poll_one(q, 30000);
		t0 = rs_now_ms();
		err = rs_queue_poll(q, 300, &msg);
		TEST_ASSERT(err == RS_ERR_TOO_LARGE && !msg,
			    "at the cap: %s, msg %p", rs_err_name(err),
			    (void *)msg);
		TEST_ASSERT(rs_now_ms() - t0 >= 250, "cap did not wait");
		TEST_ASSERT(rs_queue_inflight(q) == 100, "in flight %zu",
			    rs_queue_inflight(q));
		for (i = 0; i <= 100; i++) {
			int key, seq;
			/* One done lets exactly the next one out. */
			if (i == 100) {
				rs_queue_msg_done(q, held[0]);
				held[100] = poll_one(q, 10000);
			}
			p = rs_qmsg_partition(held[i]);
			track_msg(&tr, held[i], &key, &seq);
			if (tr.first2[p] < 0)
				tr.first2[p] = rs_qmsg_offset(held[i]);
			TEST_ASSERT(rs_qmsg_offset(held[i]) >= tr.resume[p] ||
					    (tr.resume[p] == INT64_MAX &&
					     rs_qmsg_offset(held[i]) >
						     tr.max_off[p]),
				    "p%d: offset %lld below resume %lld", p,
				    (long long)rs_qmsg_offset(held[i]),
				    (long long)tr.resume[p]);
			tr.done[key][seq]++;
		}
		for (i = 1; i <= 100; i++)
			rs_queue_msg_done(q, held[i]);
	}

	SUB_TEST("[%s] pass 2: resume at the lowest unfinished offset, "
		 "nothing skipped", backend);
	{
		int64_t end = rs_now_ms() + rs_test_timeout_ms(60000);
		int64_t last_msg = rs_now_ms();
		int missing = NMSGS;
		/* Until everything was finished once AND the redeliveries of
		 * work finished in pass 1 (above each resume point) are
		 * through: 1.5 s without a message. */
		while ((missing > 0 || rs_now_ms() - last_msg < 1500) &&
		       rs_now_ms() < end) {
			rs_qmsg_t *msg = NULL;
			int key, seq;
			rs_err_t err = rs_queue_poll(q, 200, &msg);
			TEST_ASSERT(err == RS_OK, "poll: %s", rs_err_name(err));
			if (msg) {
				last_msg = rs_now_ms();
				p = rs_qmsg_partition(msg);
				track_msg(&tr, msg, &key, &seq);
				if (tr.first2[p] < 0)
					tr.first2[p] = rs_qmsg_offset(msg);
				TEST_ASSERT(
					rs_qmsg_offset(msg) >= tr.resume[p] ||
						(tr.resume[p] == INT64_MAX &&
						 rs_qmsg_offset(msg) >
							 tr.max_off[p]),
					"p%d: offset %lld below resume %lld", p,
					(long long)rs_qmsg_offset(msg),
					(long long)tr.resume[p]);
				tr.done[key][seq]++;
				rs_queue_msg_done(q, msg);
			}
			missing = 0;
			for (k = 0; k < NKEYS; k++)
				for (s = 0; s < NSEQ; s++)
					missing += !tr.done[k][s];
		}
		TEST_ASSERT(missing == 0, "%d messages never finished",
			    missing);
		for (p = 0; p < NPARTS; p++)
			if (tr.resume[p] != INT64_MAX)
				TEST_ASSERT(tr.first2[p] == tr.resume[p],
					    "p%d resumed at %lld, lowest "
					    "unfinished was %lld",
					    p, (long long)tr.first2[p],
					    (long long)tr.resume[p]);
	}
	TEST_ASSERT(rs_queue_commit(q) == RS_OK, "commit");
	TEST_ASSERT(rs_queue_close(q) == RS_OK, "close");
	rs_queue_destroy(q);

	SUB_TEST("[%s] after a full commit the group gets nothing more",
		 backend);
	q = consumer_new(&ctx, group, topic, 100);
	{
		/* Assigned, then 2 s without a message (Kafka: the join
		 * itself takes a few seconds and proves nothing). */
		int64_t end = rs_now_ms() + rs_test_timeout_ms(30000);
		int64_t quiet = -1;
		while (rs_now_ms() < end) {
			rs_qmsg_t *msg = NULL;
			TEST_ASSERT(rs_queue_poll(q, 200, &msg) == RS_OK,
				    "poll");
			TEST_ASSERT(!msg, "redelivered offset %lld",
				    (long long)rs_qmsg_offset(msg));
			if (quiet < 0 && rs_queue_assignment_cnt(q) == NPARTS)
				quiet = rs_now_ms() + 2000;
			if (quiet > 0 && rs_now_ms() >= quiet)
				break;
		}
		TEST_ASSERT(quiet > 0, "no assignment");
	}
	rs_queue_close(q);
	rs_queue_destroy(q);

	SUB_TEST("[%s] lag: produced but unfinished messages, 0 when done",
		 backend);
	{
		char tl[200], tx[200], gl[160];
		rs_qmsg_t *held[NSEQ];
		int64_t v;

		rs_snprintf(tl, sizeof(tl), "%s-lag", topic);
		rs_snprintf(tx, sizeof(tx), "%s-lagx", topic);
		rs_snprintf(gl, sizeof(gl), "%s-lag", group);
		create_topic(prod, tl, false);
		create_topic(prod, tx, false);
		/* Other topics' messages in between (SQLite: one offset
		 * sequence for all) must not count. */
		lag_produce(prod, tl, 0, NSEQ / 2);
		lag_produce(prod, tx, 0, 5);
		lag_produce(prod, tl, NSEQ / 2, NSEQ / 2);
		q = consumer_new(&ctx, gl, tl, 100);
		TEST_ASSERT(rs_queue_pause_all(q) == RS_OK, "pause");
		wait_assigned_paused(q);
		/* Nothing handed out, no committed offset: all of it. */
		v = lag_sum(q, tl);
		TEST_ASSERT(v == NSEQ, "lag before consuming %lld, want %d",
			    (long long)v, NSEQ);
		TEST_ASSERT(rs_queue_resume_all(q) == RS_OK, "resume");
		for (i = 0; i < NSEQ; i++)
			held[i] = poll_one(q, 30000);
		v = lag_sum(q, tl);
		TEST_ASSERT(v == NSEQ, "lag with all handed out %lld, want %d",
			    (long long)v, NSEQ);
		/* Finished in delivery order, i.e. a prefix of each
		 * partition: the lag drops by exactly that many. */
		for (i = 0; i < NSEQ / 4; i++)
			rs_queue_msg_done(q, held[i]);
		v = lag_sum(q, tl);
		TEST_ASSERT(v == NSEQ - NSEQ / 4, "lag %lld, want %d",
			    (long long)v, NSEQ - NSEQ / 4);
		for (; i < NSEQ; i++)
			rs_queue_msg_done(q, held[i]);
		v = lag_sum(q, tl);
		TEST_ASSERT(v == 0, "lag %lld after all were done", (long long)v);
		TEST_ASSERT(rs_queue_commit(q) == RS_OK, "commit");
		TEST_ASSERT(rs_queue_close(q) == RS_OK, "close");
		rs_queue_destroy(q);
		/* Reopened: from the committed positions, before anything
		 * is handed out; new messages count at once. */
		lag_produce(prod, tl, NSEQ, 7);
		q = consumer_new(&ctx, gl, tl, 100);
		TEST_ASSERT(rs_queue_pause_all(q) == RS_OK, "pause");
		wait_assigned_paused(q);
		v = lag_sum(q, tl);
		TEST_ASSERT(v == 7, "lag after reopen %lld, want 7",
			    (long long)v);
		rs_queue_close(q);
		rs_queue_destroy(q);
		rs_test_say("lag: %d, %d, 0 and 7 as expected", NSEQ,
			    NSEQ - NSEQ / 4);
	}

	SUB_TEST("[%s] destroy without flush: every message reported once",
		 backend);
	{
		rs_queue_t *p2;
		ctx_t c2;
		char t2[200];
		unsigned char *want = rs_calloc(NMSGS + 1, 1);
		uint32_t nwant = 0;
		memset(&c2, 0, sizeof(c2));
		c2.dr_cap = NMSGS;
		c2.dr_seen = rs_calloc(NMSGS, sizeof(*c2.dr_seen));
		c2.dr_okmap = rs_calloc(NMSGS, sizeof(*c2.dr_okmap));
		rs_snprintf(t2, sizeof(t2), "%s-destroy", topic);
		p2 = producer_new(&c2);
		create_topic(p2, t2, false);
		for (i = 1; i <= NMSGS; i++) {
			char val[32];
			rs_snprintf(val, sizeof(val), "k=%d s=%d", i % NKEYS,
				    i);
			TEST_ASSERT(rs_queue_produce(p2, t2, val, 4, val,
						     strlen(val), NULL, 0,
						     (void *)(uintptr_t)i) ==
					    RS_OK,
				    "produce");
		}
		rs_queue_destroy(p2);
		TEST_ASSERT(atomic_load(&c2.dr_ok) + atomic_load(&c2.dr_err) ==
				    NMSGS && !atomic_load(&c2.dr_dup),
			    "reports ok %d err %d dup %d",
			    atomic_load(&c2.dr_ok), atomic_load(&c2.dr_err),
			    atomic_load(&c2.dr_dup));
		/* Every message reported OK must be consumable. */
		for (i = 1; i <= NMSGS; i++)
			if (atomic_load(&c2.dr_okmap[i - 1])) {
				want[i] = 1;
				nwant++;
			}
		rs_test_say("destroy: %d delivered, %d failed",
			    atomic_load(&c2.dr_ok), atomic_load(&c2.dr_err));
		rs_free(c2.dr_seen);
		rs_free(c2.dr_okmap);
		c2.dr_seen = NULL;
		c2.dr_okmap = NULL;
		consume_expect(&c2, t2, want, NMSGS, nwant);
		rs_free(want);
	}

	SUB_TEST("[%s] SIGKILL of a producing child: acknowledged messages "
		 "survive", backend);
	{
		char t3[200];
		unsigned char *want = rs_calloc(KILL_MSGS + 1, 1);
		uint32_t idx, nack = 0;
		int fd;
		pid_t pid;
		ssize_t r;

		rs_snprintf(t3, sizeof(t3), "%s-kill", topic);
		create_topic(prod, t3, false);
		pid = child_start("produce", t3, NULL, &fd);
		/* Kill while it is writing: after some thousands of acks. */
		while (nack < 5000) {
			r = read(fd, &idx, sizeof(idx));
			if (r != sizeof(idx)) {
				int status = 0;
				waitpid(pid, &status, 0);
				TEST_FAIL("child ended early after %u acks "
					  "(status 0x%x)", nack, status);
			}
			TEST_ASSERT(idx >= 1 && idx <= KILL_MSGS, "idx %u", idx);
			if (!want[idx]) {
				want[idx] = 1;
				nack++;
			}
		}
		child_kill(pid);
		/* Acks written before the kill are still in the pipe. */
		while ((r = read(fd, &idx, sizeof(idx))) == sizeof(idx))
			if (idx >= 1 && idx <= KILL_MSGS && !want[idx]) {
				want[idx] = 1;
				nack++;
			}
		close(fd);
		rs_test_say("child acknowledged %u messages before SIGKILL",
			    nack);
		if (is_sqlite)
			integrity_check();
		/* Restart: the queue takes new messages... */
		TEST_ASSERT(rs_queue_produce(prod, t3, "key-1", 5, "k=1 s=0", 7,
					     NULL, 0, NULL) == RS_OK,
			    "produce after kill");
		TEST_ASSERT(rs_queue_flush(prod, rs_test_timeout_ms(30000)) ==
				    RS_OK,
			    "flush after kill");
		/* ...and every acknowledged one is consumed. */
		consume_expect(&ctx, t3, want, KILL_MSGS, nack);
		if (is_sqlite)
			integrity_check();
		rs_free(want);
	}

	if (is_sqlite) {
		char cgroup[160], t6[200];
		unsigned char *done1 = rs_calloc(NMSGS + 1, 1);
		unsigned char *seen2 = rs_calloc(NMSGS + 1, 1);
		int fd, n1 = 0, n2 = 0, both = 0, missing = 0;
		uint32_t idx;
		pid_t pid;
		int64_t end;

		SUB_TEST("[sqlite] SIGKILL of the consumer holding the group: "
			 "a new one takes over at once and resumes");
		rs_snprintf(cgroup, sizeof(cgroup), "%s-ckill", group);
		rs_snprintf(t6, sizeof(t6), "%s-ckill", topic);
		create_topic(prod, t6, false);
		for (i = 1; i <= NMSGS; i++) {
			char key[16], val[32];
			rs_snprintf(key, sizeof(key), "key-%d", i % NKEYS);
			rs_snprintf(val, sizeof(val), "k=%d s=%d", i % NKEYS,
				    i);
			TEST_ASSERT(rs_queue_produce(prod, t6, key, strlen(key),
						     val, strlen(val), NULL, 0,
						     NULL) == RS_OK,
				    "produce");
		}
		TEST_ASSERT(rs_queue_flush(prod, 10000) == RS_OK, "flush");
		pid = child_start("consume", t6, cgroup, &fd);
		/* The child reports each finished index, and commits after
		 * each 100; kill it mid-way. */
		while (n1 < NMSGS / 2 && read(fd, &idx, sizeof(idx)) ==
						 sizeof(idx)) {
			TEST_ASSERT(idx >= 1 && idx <= NMSGS, "idx %u", idx);
			if (!done1[idx]++)
				n1++;
		}
		TEST_ASSERT(n1 == NMSGS / 2, "consumer child stopped at %d",
			    n1);
		child_kill(pid);
		while (read(fd, &idx, sizeof(idx)) == sizeof(idx))
			if (idx >= 1 && idx <= NMSGS && !done1[idx]++)
				n1++;
		close(fd);
		integrity_check();
		/* No waiting for a lease to expire: the holder is dead. */
		q = consumer_new(&ctx, cgroup, t6, 100);
		end = rs_now_ms() + rs_test_timeout_ms(20000);
		while (rs_now_ms() < end) {
			rs_qmsg_t *msg = NULL;
			TEST_ASSERT(rs_queue_poll(q, 200, &msg) == RS_OK,
				    "poll");
			if (!msg) {
				if (n2 + n1 - both >= NMSGS)
					break;
				continue;
			}
			parse(msg, &k, &s);
			TEST_ASSERT(s >= 1 && s <= NMSGS, "s %d", s);
			if (!seen2[s]++) {
				n2++;
				both += done1[s] ? 1 : 0;
			}
			rs_queue_msg_done(q, msg);
		}
		rs_queue_close(q);
		rs_queue_destroy(q);
		for (i = 1; i <= NMSGS; i++)
			missing += !done1[i] && !seen2[i];
		rs_test_say("child finished %d, successor got %d (%d of them "
			    "again)", n1, n2, both);
		TEST_ASSERT(missing == 0, "%d messages skipped", missing);
		/* Resumed at the stored positions: at most what was done
		 * after the last commit (100 per commit, 100 in flight) is
		 * processed twice. */
		TEST_ASSERT(both <= 200, "%d finished messages redelivered",
			    both);
		rs_free(done1);
		rs_free(seen2);
	}

	SUB_TEST("[%s] throughput: produce and consume %d messages", backend,
		 PERF_MSGS);
	{
		char t4[200], g4[160];
		int64_t t0, t1;
		int got = 0;
		rs_test_unique_name("rs-it-0010-perf", t4, sizeof(t4));
		rs_snprintf(g4, sizeof(g4), "%s-perf", group);
		create_topic(prod, t4, false);
		t0 = rs_now_us();
		for (i = 0; i < PERF_MSGS; i++) {
			char key[16], val[48];
			rs_err_t err;
			rs_snprintf(key, sizeof(key), "key-%d", i % 500);
			rs_snprintf(val, sizeof(val), "k=%d s=%d", i % 500, i);
			while ((err = rs_queue_produce(prod, t4, key,
						       strlen(key), val,
						       strlen(val), NULL, 0,
						       NULL)) == RS_ERR_AGAIN)
				rs_sleep_ms(1);
			TEST_ASSERT(err == RS_OK, "produce");
		}
		TEST_ASSERT(rs_queue_flush(prod, rs_test_timeout_ms(60000)) ==
				    RS_OK,
			    "flush");
		t1 = rs_now_us();
		prate = (double)PERF_MSGS * 1e6 / (double)(t1 - t0);
		scan_init(&sc);
		t0 = rs_now_us();
		TEST_ASSERT(rs_queue_scan(prod, t4, rs_test_timeout_ms(60000),
					  scan_cb, &sc) == RS_OK &&
				    sc.cnt == PERF_MSGS,
			    "perf scan saw %d", sc.cnt);
		t1 = rs_now_us();
		srate = (double)PERF_MSGS * 1e6 / (double)(t1 - t0);
		q = consumer_new(&ctx, g4, t4, 2000);
		t0 = -1;
		{
			int64_t end = rs_now_ms() + rs_test_timeout_ms(60000);
			while (got < PERF_MSGS && rs_now_ms() < end) {
				rs_qmsg_t *msg = NULL;
				rs_err_t err = rs_queue_poll(q, 200, &msg);
				TEST_ASSERT(err == RS_OK, "poll");
				if (!msg)
					continue;
				if (t0 < 0)
					t0 = rs_now_us();
				rs_queue_msg_done(q, msg);
				got++;
			}
		}
		t1 = rs_now_us();
		TEST_ASSERT(got == PERF_MSGS, "consumed %d", got);
		crate = (double)PERF_MSGS * 1e6 / (double)RS_MAX(t1 - t0, 1);
		TEST_ASSERT(rs_queue_commit(q) == RS_OK, "commit");
		rs_queue_close(q);
		rs_queue_destroy(q);
	}

	if (is_sqlite) {
		char t5[200], g5[160];
		int64_t rows, end;
		rs_queue_t *c5;
		SUB_TEST("[sqlite] retention below positions, compaction");
		/* The perf topic's rows are all below the perf group's
		 * positions and no other group reads it: retention (every
		 * 500 ms here) must delete them. */
		end = rs_now_ms() + rs_test_timeout_ms(15000);
		do {
			rs_sleep_ms(200);
			rows = sql_int("SELECT COUNT(*) FROM rs_msgs m JOIN "
				       "rs_topics t USING(tid) WHERE t.name "
				       "LIKE 'rs-it-0010-perf%'");
		} while (rows > 0 && rs_now_ms() < end);
		TEST_ASSERT(rows == 0, "%lld consumed rows not deleted",
			    (long long)rows);
		/* The scanned-only topic (no group) keeps every row. */
		rows = sql_int("SELECT COUNT(*) FROM rs_msgs m JOIN rs_topics t "
			       "USING(tid) WHERE t.name LIKE '%-snap'");
		TEST_ASSERT(rows == 20, "topic without a group lost rows: %lld",
			    (long long)rows);
		rs_snprintf(t5, sizeof(t5), "%s-compact", topic);
		create_topic(prod, t5, true);
		for (s = 0; s < 20; s++)
			for (k = 0; k < 10; k++) {
				char key[16], val[32];
				rs_snprintf(key, sizeof(key), "key-%d", k);
				rs_snprintf(val, sizeof(val), "k=%d s=%d", k,
					    s);
				TEST_ASSERT(rs_queue_produce(
						    prod, t5, key, strlen(key),
						    val, strlen(val), NULL, 0,
						    NULL) == RS_OK,
					    "produce");
			}
		TEST_ASSERT(rs_queue_flush(prod, 10000) == RS_OK, "flush");
		end = rs_now_ms() + rs_test_timeout_ms(15000);
		do {
			rs_sleep_ms(200);
			rows = sql_int("SELECT COUNT(*) FROM rs_msgs m JOIN "
				       "rs_topics t USING(tid) WHERE "
				       "t.compacted=1");
		} while (rows > 10 && rs_now_ms() < end);
		TEST_ASSERT(rows == 10, "compacted topic has %lld rows",
			    (long long)rows);
		/* The newest value of each key is what remains. */
		rs_snprintf(g5, sizeof(g5), "%s-compact", group);
		c5 = consumer_new(&ctx, g5, t5, 100);
		for (i = 0; i < 10; i++) {
			rs_qmsg_t *msg = poll_one(c5, 10000);
			parse(msg, &k, &s);
			TEST_ASSERT(s == 19, "key %d kept seq %d", k, s);
			rs_queue_msg_done(c5, msg);
		}
		rs_queue_close(c5);
		rs_queue_destroy(c5);
		integrity_check();
	}

	rs_queue_destroy(prod);
	rs_test_say("figures: %s produce %.0f msgs/s, consume %.0f msgs/s, "
		    "scan %.0f msgs/s (%d messages)", backend, prate, crate,
		    srate, PERF_MSGS);
	if (is_sqlite)
		rs_test_rmtree(dir);
	return rs_test_finish();
}
