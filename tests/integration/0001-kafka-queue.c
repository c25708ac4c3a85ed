/*
 * 0001-kafka-queue: the queue module against a REAL Apache Kafka broker.
 *
 * 1. Create a 4-partition topic (rs_queue_create_topics), produce 100,000
 *    keyed messages (500 keys x 200 sequence numbers) with the idempotent
 *    producer; every delivery report must be a success.
 * 2. Consume in a consumer group: one poll thread dispatches to 4 worker
 *    threads by key, so keys are processed in parallel and finish out of
 *    order across keys (and across offsets of one partition) while each
 *    key stays in order.  Workers call rs_queue_msg_done(); the module
 *    stores only the finished prefix.  After about half, stop polling,
 *    let the workers finish, commit synchronously and close.
 * 3. A new consumer in the same group must resume from the committed
 *    offsets: nothing missing, nothing seen twice (committed synchronously,
 *    so redelivery must be 0), per-key order continues where pass 1 ended.
 * 4. rs_queue_scan() on the producer-only handle, between the two passes:
 *    every message once, in offset order per partition, without touching
 *    the group (pass 2 would then see redeliveries or gaps); a callback
 *    error stops it; an unknown topic is NOT_FOUND and is not created.
 * Prints produce, consume and scan rates (msgs/s).
 */
#include "rs/rs_base.h"
#include "rs/rs_queue.h"
#include "rs_test.h"

#include <pthread.h>
#include <stdatomic.h>

#define NKEYS 500
#define NSEQ 200
#define NMSGS (NKEYS * NSEQ)
#define NWORKERS 4
#define RING 4096
#define MAX_INFLIGHT 2000

typedef struct worker_s {
	pthread_t thr;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	rs_qmsg_t *ring[RING];
	size_t head, cnt;
	bool stop;
	struct ctx_s *ctx;
} worker_t;

typedef struct ctx_s {
	rs_queue_t *q;
	worker_t w[NWORKERS];
	/* Per key: next expected sequence; written only by the key's worker. */
	int next_seq[NKEYS];
	/* Times each (key, seq) was processed, over both passes. */
	atomic_uchar seen[NKEYS][NSEQ];
	atomic_int processed;   /* this pass */
	atomic_int order_errors;
	atomic_int duplicates;
	atomic_int assigns;
} ctx_t;

static void parse_value(const rs_qmsg_t *msg, int *key, int *seq) {
	size_t len;
	const char *v = rs_qmsg_value(msg, &len);
	char buf[64];

	TEST_ASSERT(v && len < sizeof(buf), "bad value length %zu", len);
	memcpy(buf, v, len);
	buf[len] = '\0';
	TEST_ASSERT(sscanf(buf, "key=%d seq=%d", key, seq) == 2,
		    "bad value \"%s\"", buf);
	TEST_ASSERT(*key >= 0 && *key < NKEYS && *seq >= 0 && *seq < NSEQ,
		    "value out of range \"%s\"", buf);
}

static void *worker_main(void *arg) {
	worker_t *w = arg;
	ctx_t *ctx = w->ctx;
	unsigned int n = 0;

	for (;;) {
		rs_qmsg_t *msg;
		int key, seq;

		pthread_mutex_lock(&w->lock);
		while (!w->cnt && !w->stop)
			pthread_cond_wait(&w->cond, &w->lock);
		if (!w->cnt) {
			pthread_mutex_unlock(&w->lock);
			break;
		}
		msg = w->ring[w->head];
		w->head = (w->head + 1) % RING;
		w->cnt--;
		pthread_mutex_unlock(&w->lock);

		parse_value(msg, &key, &seq);
		if (seq != ctx->next_seq[key])
			atomic_fetch_add(&ctx->order_errors, 1);
		ctx->next_seq[key] = seq + 1;
		if (atomic_fetch_add(&ctx->seen[key][seq], 1) > 0)
			atomic_fetch_add(&ctx->duplicates, 1);
		/* Now and then a slow job, so finishing order really differs
		 * from delivery order within a partition. */
		if (++n % 997 == 0)
			rs_sleep_ms(2);
		rs_queue_msg_done(ctx->q, msg);
		atomic_fetch_add(&ctx->processed, 1);
	}
	return NULL;
}

static void dispatch(ctx_t *ctx, rs_qmsg_t *msg) {
	int key, seq;
	worker_t *w;

	parse_value(msg, &key, &seq);
	w = &ctx->w[key % NWORKERS];
	pthread_mutex_lock(&w->lock);
	/* MAX_INFLIGHT < RING, so the module's in-flight limit keeps the
	 * rings from overflowing. */
	TEST_ASSERT(w->cnt < RING, "worker ring full");
	w->ring[(w->head + w->cnt) % RING] = msg;
	w->cnt++;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

static void workers_start(ctx_t *ctx) {
	int i;

	for (i = 0; i < NWORKERS; i++) {
		worker_t *w = &ctx->w[i];
		memset(w, 0, sizeof(*w));
		w->ctx = ctx;
		pthread_mutex_init(&w->lock, NULL);
		pthread_cond_init(&w->cond, NULL);
		TEST_ASSERT(pthread_create(&w->thr, NULL, worker_main, w) == 0,
			    "pthread_create");
	}
}

/* Lets the workers finish everything queued, then joins them. */
static void workers_stop(ctx_t *ctx) {
	int i;

	for (i = 0; i < NWORKERS; i++) {
		worker_t *w = &ctx->w[i];
		pthread_mutex_lock(&w->lock);
		w->stop = true;
		pthread_cond_signal(&w->cond);
		pthread_mutex_unlock(&w->lock);
	}
	for (i = 0; i < NWORKERS; i++) {
		pthread_join(ctx->w[i].thr, NULL);
		pthread_mutex_destroy(&ctx->w[i].lock);
		pthread_cond_destroy(&ctx->w[i].cond);
	}
}

/* Scan bookkeeping: each (key, seq) once, offsets ascending per partition. */
typedef struct scan_s {
	int cnt;
	int stop_after;
	int64_t last_off[4];
	unsigned char seen[NKEYS][NSEQ];
} scan_t;

static rs_err_t scan_cb(const rs_qmsg_t *msg, void *opaque) {
	scan_t *sc = opaque;
	int32_t p = rs_qmsg_partition(msg);
	int key, seq;

	parse_value(msg, &key, &seq);
	TEST_ASSERT(p >= 0 && p < 4, "scan: partition %d", (int)p);
	TEST_ASSERT(rs_qmsg_offset(msg) > sc->last_off[p],
		    "scan: offset %lld after %lld", (long long)rs_qmsg_offset(msg),
		    (long long)sc->last_off[p]);
	sc->last_off[p] = rs_qmsg_offset(msg);
	TEST_ASSERT(!sc->seen[key][seq]++, "scan: key %d seq %d twice", key,
		    seq);
	if (++sc->cnt == sc->stop_after)
		return RS_ERR_CANCELLED;
	return RS_OK;
}

static void on_assign(rs_queue_t *q, const rs_queue_partition_t *parts,
		      size_t cnt, bool lost, void *opaque) {
	ctx_t *ctx = opaque;
	(void)q;
	(void)parts;
	(void)lost;
	rs_test_say("assigned %zu partitions", cnt);
	atomic_fetch_add(&ctx->assigns, 1);
}

static void on_revoke(rs_queue_t *q, const rs_queue_partition_t *parts,
		      size_t cnt, bool lost, void *opaque) {
	(void)q;
	(void)parts;
	(void)opaque;
	rs_test_say("revoked %zu partitions%s", cnt, lost ? " (lost)" : "");
}

static rs_queue_t *consumer_new(ctx_t *ctx, const char *brokers,
				const char *group, const char **topics) {
	rs_queue_conf_t conf;
	rs_queue_t *q;
	char errstr[256];

	rs_queue_conf_init(&conf);
	conf.brokers = brokers;
	conf.roles = RS_QUEUE_ROLE_CONSUMER;
	conf.group_id = group;
	conf.client_id = "it-0001";
	conf.topics = topics;
	conf.topic_cnt = 1;
	conf.session_timeout_ms = 10000;
	conf.heartbeat_interval_ms = 1000;
	conf.max_inflight = MAX_INFLIGHT;
	conf.on_assign = on_assign;
	conf.on_revoke = on_revoke;
	conf.opaque = ctx;
	q = rs_queue_new(&conf, errstr, sizeof(errstr));
	TEST_ASSERT(q, "consumer: %s", errstr);
	return q;
}

/* Polls and dispatches until @p target messages were processed in this
 * pass or the time runs out.  Returns the rate in msgs/s. */
static double consume_pass(ctx_t *ctx, int target, int64_t timeout_ms,
			   int *too_large) {
	int64_t deadline = rs_now_ms() + rs_test_timeout_ms(timeout_ms);
	int64_t t0 = -1, t1;
	int dispatched = 0;

	while (dispatched < target && rs_now_ms() < deadline) {
		rs_qmsg_t *msg = NULL;
		rs_err_t err = rs_queue_poll(ctx->q, 200, &msg);

		if (err == RS_ERR_TOO_LARGE) {
			(*too_large)++;
			continue;
		}
		TEST_ASSERT(err == RS_OK, "poll: %s", rs_err_name(err));
		if (!msg)
			continue;
		if (t0 < 0)
			t0 = rs_now_us();
		dispatch(ctx, msg);
		dispatched++;
	}
	TEST_ASSERT(dispatched == target,
		    "only %d of %d messages consumed in time", dispatched,
		    target);
	workers_stop(ctx);
	t1 = rs_now_us();
	return (double)target * 1e6 / (double)RS_MAX(t1 - t0, 1);
}

int main(void) {
	const char *brokers = rs_test_kafka_brokers();
	static ctx_t ctx;
	char topic[128], group[128], errstr[256];
	const char *topics[1] = {topic};
	rs_queue_conf_t conf;
	rs_queue_t *prod;
	rs_queue_stats_t st;
	int64_t t0, t1;
	int i, k, too_large = 0, half, rest, extra;
	double prate, crate1, crate2, srate = 0;

	rs_test_unique_name("rs-it-0001", topic, sizeof(topic));
	rs_test_unique_name("rs-it-0001-grp", group, sizeof(group));

	SUB_TEST("create topic %s and produce %d messages", topic, NMSGS);
	rs_queue_conf_init(&conf);
	conf.brokers = brokers;
	conf.roles = RS_QUEUE_ROLE_PRODUCER;
	conf.client_id = "it-0001-prod";
	prod = rs_queue_new(&conf, errstr, sizeof(errstr));
	TEST_ASSERT(prod, "producer: %s", errstr);
	TEST_ASSERT(rs_queue_create_topics(prod, topics, 1, 4, 1, NULL, 0,
					   rs_test_timeout_ms(30000), errstr,
					   sizeof(errstr)) == RS_OK,
		    "create topic: %s", errstr);
	{
		/* A compacted topic, as the "applied" topic will be. */
		char ctopic[160];
		const char *cnames[1] = {ctopic};
		const char *cconf[] = {"cleanup.policy=compact"};
		rs_snprintf(ctopic, sizeof(ctopic), "%s-applied", topic);
		TEST_ASSERT(rs_queue_create_topics(
				    prod, cnames, 1, 2, 1, cconf, 1,
				    rs_test_timeout_ms(30000), errstr,
				    sizeof(errstr)) == RS_OK,
			    "create compacted topic: %s", errstr);
	}
	/* Creating it again is tolerated ("already exists"). */
	TEST_ASSERT(rs_queue_create_topics(prod, topics, 1, 4, 1, NULL, 0,
					   rs_test_timeout_ms(30000), errstr,
					   sizeof(errstr)) == RS_OK,
		    "create existing topic: %s", errstr);

	t0 = rs_now_us();
	for (i = 0; i < NSEQ; i++) {
		for (k = 0; k < NKEYS; k++) {
			char key[16], val[48];
			rs_err_t err;
			rs_snprintf(key, sizeof(key), "key-%03d", k);
			rs_snprintf(val, sizeof(val), "key=%d seq=%d", k, i);
			while ((err = rs_queue_produce(prod, topic, key,
						       strlen(key), val,
						       strlen(val), NULL, 0,
						       NULL)) == RS_ERR_AGAIN)
				rs_sleep_ms(1);
			TEST_ASSERT(err == RS_OK, "produce: %s",
				    rs_err_name(err));
		}
	}
	TEST_ASSERT(rs_queue_flush(prod, rs_test_timeout_ms(60000)) == RS_OK,
		    "flush failed");
	t1 = rs_now_us();
	prate = (double)NMSGS * 1e6 / (double)(t1 - t0);
	rs_queue_stats(prod, &st);
	TEST_ASSERT(st.produced == NMSGS && st.delivered == NMSGS &&
			    st.delivery_failed == 0,
		    "produced %llu delivered %llu failed %llu",
		    (unsigned long long)st.produced,
		    (unsigned long long)st.delivered,
		    (unsigned long long)st.delivery_failed);
	rs_test_say("produce: %d msgs in %.2f s = %.0f msgs/s", NMSGS,
		    (double)(t1 - t0) / 1e6, prate);

	SUB_TEST("pass 1: consume about half with %d out-of-order workers",
		 NWORKERS);
	half = NMSGS / 2;
	ctx.q = consumer_new(&ctx, brokers, group, topics);
	workers_start(&ctx);
	crate1 = consume_pass(&ctx, half, 120000, &too_large);
	TEST_ASSERT(atomic_load(&ctx.processed) == half, "processed %d",
		    atomic_load(&ctx.processed));
	TEST_ASSERT(atomic_load(&ctx.assigns) > 0, "no assignment seen");
	TEST_ASSERT(rs_queue_inflight(ctx.q) == 0, "in flight %zu",
		    rs_queue_inflight(ctx.q));
	TEST_ASSERT(rs_queue_commit(ctx.q) == RS_OK, "commit failed");
	rs_queue_stats(ctx.q, &st);
	TEST_ASSERT(st.done == (uint64_t)half && st.redelivered_dropped == 0,
		    "done %llu redelivered %llu",
		    (unsigned long long)st.done,
		    (unsigned long long)st.redelivered_dropped);
	TEST_ASSERT(rs_queue_close(ctx.q) == RS_OK, "close failed");
	rs_queue_destroy(ctx.q);
	TEST_ASSERT(atomic_load(&ctx.order_errors) == 0,
		    "%d per-key order violations", atomic_load(&ctx.order_errors));
	TEST_ASSERT(atomic_load(&ctx.duplicates) == 0, "%d duplicates",
		    atomic_load(&ctx.duplicates));
	rs_test_say("pass 1: %d msgs at %.0f msgs/s (%d polls hit the "
		    "in-flight limit, %llu offset stores)",
		    half, crate1, too_large,
		    (unsigned long long)st.offsets_stored);

	SUB_TEST("scan the whole topic from the producer-only handle");
	{
		static scan_t sc;
		char absent[160];
		int64_t s0, s1;
		memset(&sc, 0, sizeof(sc));
		memset(sc.last_off, 0xff, sizeof(sc.last_off)); /* -1 */
		s0 = rs_now_us();
		TEST_ASSERT(rs_queue_scan(prod, topic, rs_test_timeout_ms(60000),
					  scan_cb, &sc) == RS_OK,
			    "scan failed");
		s1 = rs_now_us();
		TEST_ASSERT(sc.cnt == NMSGS, "scan saw %d of %d", sc.cnt,
			    NMSGS);
		srate = (double)NMSGS * 1e6 / (double)RS_MAX(s1 - s0, 1);
		rs_test_say("scan: %d msgs in %.2f s = %.0f msgs/s", NMSGS,
			    (double)(s1 - s0) / 1e6, srate);
		memset(&sc, 0, sizeof(sc));
		memset(sc.last_off, 0xff, sizeof(sc.last_off));
		sc.stop_after = 10;
		TEST_ASSERT(rs_queue_scan(prod, topic, rs_test_timeout_ms(30000),
					  scan_cb, &sc) == RS_ERR_CANCELLED &&
				    sc.cnt == 10,
			    "early stop: %d", sc.cnt);
		rs_snprintf(absent, sizeof(absent), "%s-absent", topic);
		TEST_ASSERT(rs_queue_scan(prod, absent, rs_test_timeout_ms(10000),
					  scan_cb, &sc) == RS_ERR_NOT_FOUND,
			    "scan of an unknown topic");
		TEST_ASSERT(rs_queue_scan(prod, absent, rs_test_timeout_ms(10000),
					  scan_cb, &sc) == RS_ERR_NOT_FOUND,
			    "the scan created the unknown topic");
	}

	SUB_TEST("pause before the first assignment: nothing is fetched");
	rest = NMSGS - half;
	atomic_store(&ctx.processed, 0);
	atomic_store(&ctx.assigns, 0);
	ctx.q = consumer_new(&ctx, brokers, group, topics);
	/* Paused before the group join: partitions assigned later must
	 * start paused (the app-side paused set). */
	TEST_ASSERT(rs_queue_pause_all(ctx.q) == RS_OK, "pause_all");
	TEST_ASSERT(rs_queue_paused(ctx.q), "not paused");
	{
		int64_t end = rs_now_ms() + rs_test_timeout_ms(30000);
		int64_t quiet_until = -1;
		while (rs_now_ms() < end) {
			rs_qmsg_t *msg = NULL;
			TEST_ASSERT(rs_queue_poll(ctx.q, 200, &msg) == RS_OK,
				    "poll while paused");
			TEST_ASSERT(!msg, "message at offset %lld while paused",
				    (long long)rs_qmsg_offset(msg));
			if (quiet_until < 0 && atomic_load(&ctx.assigns) > 0)
				quiet_until = rs_now_ms() + 2000;
			if (quiet_until > 0 && rs_now_ms() >= quiet_until)
				break;
		}
		TEST_ASSERT(atomic_load(&ctx.assigns) > 0,
			    "no assignment while paused");
	}
	TEST_ASSERT(rs_queue_assignment_cnt(ctx.q) == 4, "assigned %zu",
		    rs_queue_assignment_cnt(ctx.q));
	TEST_ASSERT(rs_queue_resume_all(ctx.q) == RS_OK, "resume_all");

	SUB_TEST("pass 2: a new consumer resumes from the committed offsets");
	workers_start(&ctx);
	crate2 = consume_pass(&ctx, rest, 120000, &too_large);
	/* Anything more within 3 s would be a redelivery. */
	workers_start(&ctx);
	{
		int64_t end = rs_now_ms() + 3000;
		extra = 0;
		while (rs_now_ms() < end) {
			rs_qmsg_t *msg = NULL;
			rs_err_t err = rs_queue_poll(ctx.q, 200, &msg);
			TEST_ASSERT(err == RS_OK || err == RS_ERR_TOO_LARGE,
				    "poll: %s", rs_err_name(err));
			if (msg) {
				extra++;
				dispatch(&ctx, msg);
			}
		}
	}
	workers_stop(&ctx);
	TEST_ASSERT(rs_queue_commit(ctx.q) == RS_OK, "commit failed");
	TEST_ASSERT(rs_queue_close(ctx.q) == RS_OK, "close failed");
	rs_queue_destroy(ctx.q);
	rs_test_say("pass 2: %d msgs at %.0f msgs/s, %d redelivered", rest,
		    crate2, extra);
	TEST_ASSERT(extra == 0, "%d messages redelivered after a synchronous "
		    "commit", extra);
	TEST_ASSERT(atomic_load(&ctx.duplicates) == 0, "%d duplicates",
		    atomic_load(&ctx.duplicates));
	TEST_ASSERT(atomic_load(&ctx.order_errors) == 0,
		    "%d per-key order violations", atomic_load(&ctx.order_errors));

	SUB_TEST("every message delivered exactly once over both passes");
	for (k = 0; k < NKEYS; k++) {
		TEST_ASSERT(ctx.next_seq[k] == NSEQ, "key %d ended at seq %d",
			    k, ctx.next_seq[k]);
		for (i = 0; i < NSEQ; i++)
			TEST_ASSERT(atomic_load(&ctx.seen[k][i]) == 1,
				    "key %d seq %d seen %d times", k, i,
				    (int)atomic_load(&ctx.seen[k][i]));
	}
	rs_queue_destroy(prod);
	rs_test_say("figures: produce %.0f msgs/s, consume %.0f / %.0f msgs/s, "
		    "scan %.0f msgs/s", prate, crate1, crate2, srate);
	return rs_test_finish();
}
