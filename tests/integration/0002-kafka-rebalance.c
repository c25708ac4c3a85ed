/*
 * 0002-kafka-rebalance: cooperative incremental rebalance with work in
 * flight, on a REAL broker.
 *
 * Member A consumes a 4-partition topic alone, with two worker threads that
 * take ~200 us per message.  Then member B joins the same group; A's
 * workers hold off from the join until A's revoke callback, so A surely
 * has messages dispatched and unfinished when the revoke comes.  With cooperative-sticky, A must get an
 * orderly revoke (not lost) of only part of its partitions and keep the
 * rest; the module drains A's in-flight work for the revoked partitions,
 * stores and commits their finished prefix, and B starts exactly there.
 * Asserted: every message processed exactly once across both members (no
 * duplicate at the hand-over), per-key order kept across the hand-over, and
 * both members ended with partitions.
 */
#include "rs/rs_base.h"
#include "rs/rs_queue.h"
#include "rs_test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#define NKEYS 100
#define NSEQ 400
#define NMSGS (NKEYS * NSEQ)
#define NWORKERS 2
#define RING 1024
#define MAX_INFLIGHT 256

typedef struct shared_s {
	atomic_int next_seq[NKEYS];
	atomic_uchar seen[NKEYS][NSEQ];
	atomic_int processed;
	atomic_int order_errors;
	atomic_int duplicates;
} shared_t;

typedef struct member_s {
	const char *name;
	shared_t *sh;
	rs_queue_t *q;
	pthread_t poller;
	pthread_t workers[NWORKERS];
	pthread_mutex_t lock;
	pthread_cond_t cond;
	rs_qmsg_t *ring[NWORKERS][RING];
	size_t head[NWORKERS], cnt[NWORKERS];
	atomic_bool stop;
	bool gate_closed;        /* under lock: workers hold off (see main) */
	atomic_int assigned;     /* partitions currently assigned */
	atomic_int assign_cbs;
	atomic_int revoked_parts;
	atomic_int lost_cbs;
	atomic_int poll_errors;
	atomic_int part_busy[4]; /* per partition: dispatched, not done */
	atomic_int revoked_busy; /* part_busy of revoked partitions at revoke */
} member_t;

typedef struct wkarg_s {
	member_t *m;
	int idx;
} wkarg_t;

static void parse_value(rs_qmsg_t *msg, int *key, int *seq) {
	size_t len;
	const char *v = rs_qmsg_value(msg, &len);
	char buf[64];

	TEST_ASSERT(v && len < sizeof(buf), "bad value");
	memcpy(buf, v, len);
	buf[len] = '\0';
	TEST_ASSERT(sscanf(buf, "key=%d seq=%d", key, seq) == 2 &&
			    *key >= 0 && *key < NKEYS && *seq >= 0 &&
			    *seq < NSEQ,
		    "bad value \"%s\"", buf);
}

static void *worker_main(void *arg) {
	wkarg_t *wa = arg;
	member_t *m = wa->m;
	shared_t *sh = m->sh;
	int i = wa->idx;

	for (;;) {
		rs_qmsg_t *msg;
		int key, seq;

		pthread_mutex_lock(&m->lock);
		while ((!m->cnt[i] || m->gate_closed) &&
		       !atomic_load(&m->stop))
			pthread_cond_wait(&m->cond, &m->lock);
		if (!m->cnt[i]) {
			pthread_mutex_unlock(&m->lock);
			break;
		}
		msg = m->ring[i][m->head[i]];
		m->head[i] = (m->head[i] + 1) % RING;
		m->cnt[i]--;
		pthread_mutex_unlock(&m->lock);

		parse_value(msg, &key, &seq);
		if (atomic_exchange(&sh->next_seq[key], seq + 1) != seq)
			atomic_fetch_add(&sh->order_errors, 1);
		if (atomic_fetch_add(&sh->seen[key][seq], 1) > 0)
			atomic_fetch_add(&sh->duplicates, 1);
		usleep(200);
		atomic_fetch_sub(&m->part_busy[rs_qmsg_partition(msg)], 1);
		rs_queue_msg_done(m->q, msg);
		atomic_fetch_add(&sh->processed, 1);
	}
	return NULL;
}

static void *poller_main(void *arg) {
	member_t *m = arg;

	while (!atomic_load(&m->stop)) {
		rs_qmsg_t *msg = NULL;
		rs_err_t err = rs_queue_poll(m->q, 100, &msg);
		int key, seq, w;

		if (err != RS_OK && err != RS_ERR_TOO_LARGE)
			atomic_fetch_add(&m->poll_errors, 1);
		if (!msg)
			continue;
		parse_value(msg, &key, &seq);
		TEST_ASSERT(rs_qmsg_partition(msg) >= 0 &&
				    rs_qmsg_partition(msg) < 4,
			    "partition %d", (int)rs_qmsg_partition(msg));
		atomic_fetch_add(&m->part_busy[rs_qmsg_partition(msg)], 1);
		w = key % NWORKERS;
		pthread_mutex_lock(&m->lock);
		TEST_ASSERT(m->cnt[w] < RING, "ring full");
		m->ring[w][(m->head[w] + m->cnt[w]) % RING] = msg;
		m->cnt[w]++;
		pthread_cond_broadcast(&m->cond);
		pthread_mutex_unlock(&m->lock);
	}
	return NULL;
}

/* Closing the gate stops the workers from taking new messages; the
 * poller keeps dispatching up to the in-flight limit. */
static void member_gate(member_t *m, bool closed) {
	pthread_mutex_lock(&m->lock);
	m->gate_closed = closed;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
}

static void on_assign(rs_queue_t *q, const rs_queue_partition_t *parts,
		      size_t cnt, bool lost, void *opaque) {
	member_t *m = opaque;
	(void)q;
	(void)parts;
	(void)lost;
	atomic_fetch_add(&m->assigned, (int)cnt);
	atomic_fetch_add(&m->assign_cbs, 1);
	rs_test_say("%s: assigned %zu partitions", m->name, cnt);
}

/* Queued (not started) jobs of revoked partitions could be released here;
 * this test lets them finish instead, which the module waits for. */
static void on_revoke(rs_queue_t *q, const rs_queue_partition_t *parts,
		      size_t cnt, bool lost, void *opaque) {
	member_t *m = opaque;
	size_t i;
	(void)q;
	for (i = 0; i < cnt; i++)
		atomic_fetch_add(&m->revoked_busy,
				 atomic_load(&m->part_busy[parts[i].partition]));
	atomic_fetch_sub(&m->assigned, (int)cnt);
	atomic_fetch_add(&m->revoked_parts, (int)cnt);
	if (lost)
		atomic_fetch_add(&m->lost_cbs, 1);
	rs_test_say("%s: busy per partition %d %d %d %d; revoking p%d",
		    m->name, atomic_load(&m->part_busy[0]),
		    atomic_load(&m->part_busy[1]),
		    atomic_load(&m->part_busy[2]),
		    atomic_load(&m->part_busy[3]),
		    cnt ? (int)parts[0].partition : -1);
	/* The module drains the revoked partitions after this returns, so
	 * the workers must run again. */
	member_gate(m, false);
	rs_test_say("%s: revoked %zu partitions%s (in flight %zu)", m->name,
		    cnt, lost ? " LOST" : "", rs_queue_inflight(m->q));
}

static wkarg_t wargs[2][NWORKERS];
static const char *batch_props[] = {"producer.batch.num.messages=50"};
static const char *fetch_props[] = {"consumer.max.partition.fetch.bytes=2048"};

static void member_start(member_t *m, int mi, shared_t *sh, const char *name,
			 const char *brokers, const char *group,
			 const char **topics) {
	rs_queue_conf_t conf;
	char errstr[256];
	int i;

	memset(m, 0, sizeof(*m));
	m->name = name;
	m->sh = sh;
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->cond, NULL);
	rs_queue_conf_init(&conf);
	conf.brokers = brokers;
	conf.roles = RS_QUEUE_ROLE_CONSUMER;
	conf.group_id = group;
	conf.client_id = name;
	conf.topics = topics;
	conf.topic_cnt = 1;
	conf.session_timeout_ms = 10000;
	conf.heartbeat_interval_ms = 500;
	conf.max_inflight = MAX_INFLIGHT;
	/* Small fetches so the partitions interleave and every partition has
	 * messages in flight when the rebalance comes. */
	conf.props = fetch_props;
	conf.prop_cnt = RS_ARRAY_SIZE(fetch_props);
	conf.on_assign = on_assign;
	conf.on_revoke = on_revoke;
	conf.opaque = m;
	m->q = rs_queue_new(&conf, errstr, sizeof(errstr));
	TEST_ASSERT(m->q, "%s: %s", name, errstr);
	for (i = 0; i < NWORKERS; i++) {
		wargs[mi][i].m = m;
		wargs[mi][i].idx = i;
		TEST_ASSERT(pthread_create(&m->workers[i], NULL, worker_main,
					   &wargs[mi][i]) == 0,
			    "pthread_create");
	}
	TEST_ASSERT(pthread_create(&m->poller, NULL, poller_main, m) == 0,
		    "pthread_create");
}

/* Stops polling, lets the workers finish what they hold, then closes. */
static void member_stop(member_t *m) {
	int i;

	atomic_store(&m->stop, true);
	pthread_join(m->poller, NULL);
	pthread_mutex_lock(&m->lock);
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	for (i = 0; i < NWORKERS; i++)
		pthread_join(m->workers[i], NULL);
	TEST_ASSERT(rs_queue_inflight(m->q) == 0, "%s: in flight %zu", m->name,
		    rs_queue_inflight(m->q));
	TEST_ASSERT(rs_queue_close(m->q) == RS_OK, "%s: close", m->name);
	rs_queue_destroy(m->q);
	pthread_mutex_destroy(&m->lock);
	pthread_cond_destroy(&m->cond);
}

int main(void) {
	const char *brokers = rs_test_kafka_brokers();
	static shared_t sh;
	static member_t a, b;
	char topic[128], group[128], errstr[256];
	const char *topics[1] = {topic};
	rs_queue_conf_t conf;
	rs_queue_t *prod;
	int64_t deadline;
	int i, k;

	rs_test_unique_name("rs-it-0002", topic, sizeof(topic));
	rs_test_unique_name("rs-it-0002-grp", group, sizeof(group));

	SUB_TEST("produce %d keyed messages", NMSGS);
	rs_queue_conf_init(&conf);
	conf.brokers = brokers;
	conf.roles = RS_QUEUE_ROLE_PRODUCER;
	/* Small batches: a fetch returns whole batches, so big ones would
	 * make the consumer see one partition at a time. */
	conf.props = batch_props;
	conf.prop_cnt = RS_ARRAY_SIZE(batch_props);
	prod = rs_queue_new(&conf, errstr, sizeof(errstr));
	TEST_ASSERT(prod, "producer: %s", errstr);
	TEST_ASSERT(rs_queue_create_topics(prod, topics, 1, 4, 1, NULL, 0,
					   rs_test_timeout_ms(30000), errstr,
					   sizeof(errstr)) == RS_OK,
		    "create topic: %s", errstr);
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
		    "flush");

	SUB_TEST("member A alone, then B joins while A has work in flight");
	member_start(&a, 0, &sh, "A", brokers, group, topics);
	deadline = rs_now_ms() + rs_test_timeout_ms(60000);
	while (atomic_load(&sh.processed) < 3000 && rs_now_ms() < deadline)
		rs_sleep_ms(20);
	TEST_ASSERT(atomic_load(&sh.processed) >= 3000, "A consumed %d",
		    atomic_load(&sh.processed));
	TEST_ASSERT(atomic_load(&a.assigned) == 4, "A holds %d partitions",
		    atomic_load(&a.assigned));
	/* Timing alone does not guarantee work in flight at the revoke (CI
	 * once saw A fully drained), so A's workers hold off from B's join
	 * until A's revoke callback: A then has up to MAX_INFLIGHT messages
	 * dispatched and unfinished across its partitions. */
	member_gate(&a, true);
	member_start(&b, 1, &sh, "B", brokers, group, topics);
	deadline = rs_now_ms() + rs_test_timeout_ms(60000);
	while (!atomic_load(&a.revoked_parts) && rs_now_ms() < deadline)
		rs_sleep_ms(20);
	member_gate(&a, false); /* no-op unless the revoke never came */

	deadline = rs_now_ms() + rs_test_timeout_ms(120000);
	while (atomic_load(&sh.processed) < NMSGS && rs_now_ms() < deadline)
		rs_sleep_ms(50);
	/* Anything more within 2 s would be a duplicate. */
	rs_sleep_ms(2000);
	rs_test_say("processed %d, A revoked %d partitions, B assigned %d",
		    atomic_load(&sh.processed),
		    atomic_load(&a.revoked_parts), atomic_load(&b.assigned));

	SUB_TEST("cooperative hand-over kept order and lost nothing");
	TEST_ASSERT(atomic_load(&a.lost_cbs) == 0 &&
			    atomic_load(&b.lost_cbs) == 0,
		    "partitions were lost");
	/* The hand-over really had work in flight on the moved partitions. */
	TEST_ASSERT(atomic_load(&a.revoked_busy) > 0,
		    "A had nothing in flight on the revoked partitions");
	rs_test_say("A had %d messages in flight on the revoked partitions",
		    atomic_load(&a.revoked_busy));
	/* Cooperative: A gave up only part of its partitions. */
	TEST_ASSERT(atomic_load(&a.revoked_parts) > 0 &&
			    atomic_load(&a.revoked_parts) < 4,
		    "A revoked %d partitions", atomic_load(&a.revoked_parts));
	TEST_ASSERT(atomic_load(&a.assigned) > 0 && atomic_load(&b.assigned) > 0,
		    "A holds %d, B holds %d", atomic_load(&a.assigned),
		    atomic_load(&b.assigned));
	TEST_ASSERT(atomic_load(&sh.duplicates) == 0,
		    "%d duplicates at the hand-over", atomic_load(&sh.duplicates));
	TEST_ASSERT(atomic_load(&sh.order_errors) == 0,
		    "%d per-key order violations", atomic_load(&sh.order_errors));
	TEST_ASSERT(atomic_load(&sh.processed) == NMSGS, "processed %d of %d",
		    atomic_load(&sh.processed), NMSGS);
	for (k = 0; k < NKEYS; k++)
		for (i = 0; i < NSEQ; i++)
			TEST_ASSERT(atomic_load(&sh.seen[k][i]) == 1,
				    "key %d seq %d seen %d times", k, i,
				    (int)atomic_load(&sh.seen[k][i]));
	TEST_ASSERT(atomic_load(&a.poll_errors) == 0 &&
			    atomic_load(&b.poll_errors) == 0,
		    "poll errors");

	SUB_TEST("both members close cleanly");
	member_stop(&b);
	member_stop(&a);
	rs_queue_destroy(prod);
	return rs_test_finish();
}
