/*
 * rs_queue_kafka.c - the librdkafka 2.0.2 back-end of rs_queue.
 *
 * Two rd_kafka_t handles: an idempotent producer served by a small poller
 * thread (so delivery reports are counted promptly even when the caller
 * does not produce for a while), and a group consumer with
 * cooperative-sticky assignment and enable.auto.offset.store=false: offsets
 * are stored only through the generic tracker (rs_queue.c) and committed by
 * auto-commit, on unassign, and by rs_queue_commit().
 *
 * The librdkafka 2.0.2 pitfalls this file works around are listed in
 * /work/shared/reference/kafka.md section 6 and docs/internals/queue.md.
 */
#include "rs/rs_base.h"
#include "rs/rs_log.h"
#include "rs/rs_queue.h"
#include "rs_queue_int.h"

#include <librdkafka/rdkafka.h>
#include <time.h>
#include <unistd.h>

typedef struct kq_s {
	rd_kafka_t *prod;
	rd_kafka_t *cons;
	rd_kafka_queue_t *msgq; /* assigned partitions' messages */
	pthread_t poller;
	bool poller_started;
	atomic_bool poller_stop;
	rs_qmsg_t *stash_head, *stash_tail; /* accepted later (poll thread) */
	bool ever_assigned; /* first ASSIGN seen (2.0.2 #4312 guard) */
	bool closed;
	bool draining_done; /* close already drained: revoke skips waiting */
	atomic_int fatal;   /* a fatal consumer error was seen */
	char fatal_str[256];
	rd_kafka_conf_t *scan_kc; /* template for rs_queue_scan() handles */
	bool reset_latest;  /* auto.offset.reset is latest (rs_queue_lag) */
	/* rs_queue_lag: a group-less handle made at the first call (from
	 * scan_kc), whose idle connections answer ListOffsets at once; the
	 * group consumer's wait behind its long-poll Fetch (the broker
	 * answers one request per connection at a time: up to
	 * fetch.wait.max.ms, 500 ms).  lag_lock serialises the calls. */
	pthread_mutex_t lag_lock;
	rd_kafka_t *lag_rk;
} kq_t;

#define KQ(q) ((kq_t *)(q)->be_state)

/* ---------------------------------------------------------------------- */
/* Configuration                                                          */

/* librdkafka's log lines go through the one log function, so operators see
 * broker trouble in the same stream as ours.  The syslog levels match. */
static void kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac,
			 const char *buf) {
	(void)rk;
	rs_log(NULL, level, "KAFKA", "%s: %s", fac, buf);
}

static void kafka_error_cb(rd_kafka_t *rk, int err, const char *reason,
			   void *opaque) {
	rs_queue_t *q = opaque;
	kq_t *kq = KQ(q);

	if (err == RD_KAFKA_RESP_ERR__FATAL) {
		/* Only a consumer fatal error stops rs_queue_poll(); a producer
		 * one is reported by produce/flush (rd_kafka_fatal_error). */
		if (rk == kq->cons && !atomic_exchange(&kq->fatal, 1))
			rs_log(NULL, LOG_ERR, "QUEUE", "consumer fatal error: %s",
			       reason);
		else if (rk != kq->cons)
			rs_log(NULL, LOG_ERR, "QUEUE", "producer fatal error: %s",
			       reason);
		return;
	}
	/* Transient: librdkafka retries by itself (broker down, etc.). */
	rs_log(NULL, LOG_WARNING, "QUEUE", "%s: %s",
	       rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

/* One property; a failure names the property and librdkafka's reason, so a
 * typo in a -X key=value shows up at rs_queue_new(), not at first use. */
static bool conf_set(rd_kafka_conf_t *kc, const char *name, const char *val,
		     char *errstr, size_t errstr_size) {
	char buf[256];

	if (rd_kafka_conf_set(kc, name, val, buf, sizeof(buf)) !=
	    RD_KAFKA_CONF_OK) {
		rs_snprintf(errstr, errstr_size, "%s: %s", name, buf);
		return false;
	}
	return true;
}

static bool conf_set_int(rd_kafka_conf_t *kc, const char *name, int val,
			 char *errstr, size_t errstr_size) {
	char buf[32];

	rs_snprintf(buf, sizeof(buf), "%d", val);
	return conf_set(kc, name, buf, errstr, errstr_size);
}

/* Settings the contract depends on: users may not override them. */
static bool prop_protected(const char *name) {
	static const char *const prot[] = {"enable.auto.offset.store",
					   "enable.idempotence",
					   "partition.assignment.strategy",
					   "group.id", "enable.partition.eof"};
	size_t i;

	for (i = 0; i < RS_ARRAY_SIZE(prot); i++)
		if (!strcmp(name, prot[i]))
			return true;
	return false;
}

/* Applies the user's "key=value" list for one side ("producer." or
 * "consumer." prefixes pick a side, no prefix means both). */
static bool conf_apply_props(rd_kafka_conf_t *kc, const rs_queue_conf_t *conf,
			     const char *side, char *errstr,
			     size_t errstr_size) {
	size_t i;

	for (i = 0; i < conf->prop_cnt; i++) {
		const char *kv = conf->props[i];
		const char *eq = strchr(kv, '=');
		char name[128];
		const char *n;
		size_t nlen;

		if (!eq || eq == kv || (size_t)(eq - kv) >= sizeof(name)) {
			rs_snprintf(errstr, errstr_size,
				    "property \"%s\" is not key=value", kv);
			return false;
		}
		nlen = (size_t)(eq - kv);
		memcpy(name, kv, nlen);
		name[nlen] = '\0';
		n = name;
		/* The SQLite back-end's settings: one list serves both. */
		if (!strncmp(n, "sqlite.", 7))
			continue;
		if (!strncmp(n, "producer.", 9) || !strncmp(n, "consumer.", 9)) {
			if (strncmp(n, side, 9))
				continue;
			n += 9;
		}
		if (prop_protected(n)) {
			rs_snprintf(errstr, errstr_size,
				    "property \"%s\" is fixed by the queue "
				    "contract", n);
			return false;
		}
		if (!conf_set(kc, n, eq + 1, errstr, errstr_size))
			return false;
	}
	return true;
}

/* Settings shared by producer and consumer: the queue handle as opaque so
 * every callback finds its rs_queue_t, logging and error callbacks, and the
 * broker list.  Returns NULL with errstr filled. */
static rd_kafka_conf_t *conf_common(rs_queue_t *q, const rs_queue_conf_t *conf,
				    char *errstr, size_t errstr_size) {
	rd_kafka_conf_t *kc = rd_kafka_conf_new();

	rd_kafka_conf_set_opaque(kc, q);
	rd_kafka_conf_set_log_cb(kc, kafka_log_cb);
	rd_kafka_conf_set_error_cb(kc, kafka_error_cb);
	if (!conf_set(kc, "bootstrap.servers", conf->brokers, errstr,
		      errstr_size) ||
	    !conf_set(kc, "client.id",
		      conf->client_id ? conf->client_id : "rostersync", errstr,
		      errstr_size)) {
		rd_kafka_conf_destroy(kc);
		return NULL;
	}
	return kc;
}

/* ---------------------------------------------------------------------- */
/* Producer                                                               */

/* Delivery report, on the poller thread.  Every message produced gets
 * exactly one, success or failure (purge and timeout included), which is
 * what makes "never silently lost" checkable: produced = delivered +
 * delivery_failed once flush returns. */
static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm,
		      void *opaque) {
	rs_queue_t *q = opaque;

	(void)rk;
	if (rkm->err) {
		atomic_fetch_add(&q->n_delivery_failed, 1);
		atomic_fetch_add(&q->n_failed_since_flush, 1);
		rs_log(NULL, LOG_WARNING, "QUEUE", "delivery to %s failed: %s",
		       rd_kafka_topic_name(rkm->rkt), rd_kafka_err2str(rkm->err));
	} else {
		atomic_fetch_add(&q->n_delivered, 1);
	}
	if (q->on_delivery)
		q->on_delivery(q, rkm->err ? RS_ERR_QUEUE : RS_OK,
			       rkm->err ? rd_kafka_err2str(rkm->err) : NULL,
			       rkm->_private, q->opaque);
	atomic_fetch_add(&q->n_reported, 1);
}

/* True when every accepted message's delivery callback has returned. */
static bool all_reported(rs_queue_t *q) {
	return atomic_load(&q->n_reported) >= atomic_load(&q->n_produced);
}

/* Serves delivery reports and producer errors in <=100 ms steps. */
static void *poller_main(void *arg) {
	rs_queue_t *q = arg;
	kq_t *kq = KQ(q);

	while (!atomic_load(&kq->poller_stop))
		rd_kafka_poll(kq->prod, 100);
	return NULL;
}

/* A separate rd_kafka_t for producing: the consumer handle's queues are
 * served by the poll thread only, and delivery reports must flow even while
 * the poll thread is blocked in a revoke drain. */
static rs_err_t producer_new(rs_queue_t *q, const rs_queue_conf_t *conf,
			     char *errstr, size_t errstr_size) {
	kq_t *kq = KQ(q);
	rd_kafka_conf_t *kc = conf_common(q, conf, errstr, errstr_size);
	char buf[256];

	if (!kc)
		return RS_ERR_CONFIG;
	rd_kafka_conf_set_dr_msg_cb(kc, dr_msg_cb);
	/* Idempotence gives acks=all, <=5 in flight and infinite retries
	 * without reordering or duplicates. */
	if (!conf_set(kc, "enable.idempotence", "true", errstr, errstr_size) ||
	    !conf_apply_props(kc, conf, "producer.", errstr, errstr_size)) {
		rd_kafka_conf_destroy(kc);
		return RS_ERR_CONFIG;
	}
	kq->prod = rd_kafka_new(RD_KAFKA_PRODUCER, kc, buf, sizeof(buf));
	if (!kq->prod) {
		rs_snprintf(errstr, errstr_size, "producer: %s", buf);
		rd_kafka_conf_destroy(kc);
		return RS_ERR_QUEUE;
	}
	if (pthread_create(&kq->poller, NULL, poller_main, q) != 0) {
		rs_snprintf(errstr, errstr_size, "cannot start poller thread");
		return RS_ERR_FAIL;
	}
	kq->poller_started = true;
	return RS_OK;
}

/* Copies key, value and headers (RD_KAFKA_MSG_F_COPY), so the caller's
 * buffers are free again on return; the msg_opaque travels to the delivery
 * report. */
static rs_err_t kafka_produce(rs_queue_t *q, const char *topic,
			      const void *key, size_t keylen,
			      const void *value, size_t len,
			      const rs_queue_header_t *hdrs, size_t hdr_cnt,
			      void *msg_opaque) {
	kq_t *kq = KQ(q);
	rd_kafka_headers_t *h = NULL;
	rd_kafka_resp_err_t kerr;
	size_t i;

	if (rd_kafka_fatal_error(kq->prod, NULL, 0))
		return RS_ERR_QUEUE_FATAL;
	if (hdr_cnt) {
		h = rd_kafka_headers_new(hdr_cnt);
		for (i = 0; i < hdr_cnt; i++)
			rd_kafka_header_add(h, hdrs[i].name, -1, hdrs[i].value,
					    (ssize_t)hdrs[i].size);
	}
	kerr = rd_kafka_producev(
		kq->prod, RD_KAFKA_V_TOPIC(topic),
		RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
		RD_KAFKA_V_KEY(key, keylen),
		RD_KAFKA_V_VALUE((void *)(uintptr_t)value, len),
		RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(msg_opaque),
		RD_KAFKA_V_END);
	if (kerr) {
		/* On failure the headers still belong to us.  2.0.2's
		 * headers_destroy does not accept NULL (no headers given). */
		if (h)
			rd_kafka_headers_destroy(h);
		switch (kerr) {
		case RD_KAFKA_RESP_ERR__QUEUE_FULL:
			return RS_ERR_AGAIN;
		case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
			return RS_ERR_TOO_LARGE;
		case RD_KAFKA_RESP_ERR__FATAL:
			return RS_ERR_QUEUE_FATAL;
		default:
			rs_log(NULL, LOG_WARNING, "QUEUE", "produce to %s: %s",
			       topic, rd_kafka_err2str(kerr));
			return RS_ERR_QUEUE;
		}
	}
	atomic_fetch_add(&q->n_produced, 1);
	return RS_OK;
}

static rs_err_t scan_partition_cnt(rd_kafka_t *rk, const char *topic,
				   int64_t deadline, int *cntp);

/* A topic first produced to is only "unknown" to librdkafka 2.0.2 until
 * its topic scan (once a second) requests its metadata, and the message
 * waits that long.  Creating the local topic and asking for its metadata
 * now fills in its partitions and leaders; the topic stays known to the
 * handle after its reference is dropped. */
static rs_err_t kafka_produce_prepare(rs_queue_t *q, const char *topic,
				      int timeout_ms) {
	int cnt = 0;
	return scan_partition_cnt(KQ(q)->prod, topic,
				  rs_now_ms() + RS_MAX(timeout_ms, 0), &cnt);
}

/* Waits until every message produced so far is reported (outq_len counts
 * messages not yet reported, all_reported the callbacks that returned), or
 * the deadline.  The poller thread serves the reports: rd_kafka_flush()
 * would serve them on this thread too, and on_delivery would then run on
 * two threads at once (unit_queue lost a count that way under ASan), so
 * this thread only watches. */
static bool kafka_wait_reported(rs_queue_t *q, int timeout_ms) {
	kq_t *kq = KQ(q);
	int64_t deadline = rs_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);

	for (;;) {
		if (rd_kafka_outq_len(kq->prod) == 0 && all_reported(q))
			return true;
		if (rs_now_ms() >= deadline)
			return false;
		rs_sleep_ms(1);
	}
}

static rs_err_t kafka_flush(rs_queue_t *q, int timeout_ms) {
	kq_t *kq = KQ(q);

	kafka_wait_reported(q, timeout_ms);
	if (rd_kafka_fatal_error(kq->prod, NULL, 0))
		return RS_ERR_QUEUE_FATAL;
	if (rd_kafka_outq_len(kq->prod) > 0 || !all_reported(q))
		return RS_ERR_TIMEOUT;
	if (atomic_exchange(&q->n_failed_since_flush, 0) > 0)
		return RS_ERR_QUEUE;
	return RS_OK;
}

/* Fatal errors are sticky in librdkafka; the caller recreates the handle. */
static rs_err_t kafka_fatal_error(rs_queue_t *q, char *errstr, size_t size) {
	kq_t *kq = KQ(q);
	char buf[256] = "";

	if (kq->prod && rd_kafka_fatal_error(kq->prod, buf, sizeof(buf))) {
		rs_snprintf(errstr, size, "producer: %s", buf);
		return RS_ERR_QUEUE_FATAL;
	}
	if (kq->cons && rd_kafka_fatal_error(kq->cons, buf, sizeof(buf))) {
		rs_snprintf(errstr, size, "consumer: %s", buf);
		return RS_ERR_QUEUE_FATAL;
	}
	return RS_OK;
}

/* ---------------------------------------------------------------------- */
/* Rebalance                                                              */

static rs_queue_partition_t *parts_from_list(
	const rd_kafka_topic_partition_list_t *l) {
	rs_queue_partition_t *parts =
		rs_calloc((size_t)l->cnt + 1, sizeof(*parts));
	int i;

	for (i = 0; i < l->cnt; i++) {
		parts[i].topic = l->elems[i].topic;
		parts[i].partition = l->elems[i].partition;
	}
	return parts;
}

/* Waits (bounded, in 100 ms steps) until the listed partitions have no
 * outstanding messages, so their finished prefix is as far as it can get
 * before the partitions move to another member.  q->lock held. */
static void drain_wait_locked(rs_queue_t *q,
			      const rd_kafka_topic_partition_list_t *l) {
	int64_t deadline = rs_now_ms() + q->revoke_drain_ms;

	for (;;) {
		size_t busy = 0;
		struct timespec ts;
		int i;

		for (i = 0; i < l->cnt; i++) {
			rs_qpart_t *p = rs_queue_part_find(
				q, l->elems[i].topic, l->elems[i].partition);
			if (p)
				busy += p->track.outstanding;
		}
		if (!busy || rs_now_ms() >= deadline) {
			if (busy)
				rs_log(NULL, LOG_WARNING, "QUEUE",
				       "revoke: %zu messages still running "
				       "after %d ms; they will be redelivered",
				       busy, q->revoke_drain_ms);
			return;
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&q->cond, &q->lock, &ts);
	}
}

/* Drops stashed (never handed out) messages of partitions not assigned any
 * more: their new owner fetches them from the committed offset. */
static void stash_prune(rs_queue_t *q) {
	kq_t *kq = KQ(q);
	rs_qmsg_t **pp = &kq->stash_head, *m, *prev = NULL;

	while ((m = *pp) != NULL) {
		bool keep;
		pthread_mutex_lock(&q->lock);
		keep = rs_queue_part_find(q, m->topic, m->partition) != NULL;
		pthread_mutex_unlock(&q->lock);
		if (keep) {
			prev = m;
			pp = &m->next;
			continue;
		}
		*pp = m->next;
		q->be->msg_free(q, m);
	}
	kq->stash_tail = prev;
}

/* Incremental assign: trackers first, so no message can arrive for a
 * partition the registry does not know. */
static void on_assign(rs_queue_t *q, rd_kafka_t *rk,
		      rd_kafka_topic_partition_list_t *l) {
	kq_t *kq = KQ(q);
	rd_kafka_error_t *error;
	rs_queue_partition_t *parts;
	int i;

	pthread_mutex_lock(&q->lock);
	for (i = 0; i < l->cnt; i++)
		rs_queue_part_add(q, l->elems[i].topic, l->elems[i].partition);
	pthread_mutex_unlock(&q->lock);

	error = rd_kafka_incremental_assign(rk, l);
	if (error) {
		rs_log(NULL, LOG_ERR, "QUEUE", "incremental_assign: %s",
		       rd_kafka_error_string(error));
		rd_kafka_error_destroy(error);
	}
	/* Messages go to msgq, apart from rebalances and errors, so the
	 * in-flight limit can stop taking messages without pausing (a pause
	 * drops the prefetched messages, and 2.0.2 waits ~1 s before fetching
	 * them again) while rebalances are still served. */
	for (i = 0; i < l->cnt; i++) {
		rd_kafka_queue_t *pq = rd_kafka_queue_get_partition(
			rk, l->elems[i].topic, l->elems[i].partition);
		if (pq) {
			rd_kafka_queue_forward(pq, kq->msgq);
			rd_kafka_queue_destroy(pq);
		}
	}
	/* New partitions join the paused state if backpressure is on. */
	pthread_mutex_lock(&q->lock);
	rs_queue_apply_pause(q);
	kq->ever_assigned = true;
	pthread_mutex_unlock(&q->lock);

	if (q->on_assign) {
		parts = parts_from_list(l);
		q->on_assign(q, parts, (size_t)l->cnt, false, q->opaque);
		rs_free(parts);
	}
}

/* Incremental revoke: let the application drop queued work, wait for the
 * running work, commit the finished prefix, then give the partitions up. */
static void on_revoke(rs_queue_t *q, rd_kafka_t *rk,
		      rd_kafka_topic_partition_list_t *l) {
	kq_t *kq = KQ(q);
	bool lost = rd_kafka_assignment_lost(rk) != 0;
	rd_kafka_topic_partition_list_t *commit;
	rd_kafka_error_t *error;
	int i;

	/* The application drops queued jobs of these partitions first, so
	 * the wait below is only for jobs already running. */
	if (q->on_revoke) {
		rs_queue_partition_t *parts = parts_from_list(l);
		q->on_revoke(q, parts, (size_t)l->cnt, lost, q->opaque);
		rs_free(parts);
	}

	commit = rd_kafka_topic_partition_list_new(l->cnt);
	pthread_mutex_lock(&q->lock);
	/* A lost partition may already be another member's: storing or
	 * waiting is pointless, its offsets cannot be committed. */
	if (!lost && !kq->draining_done)
		drain_wait_locked(q, l);
	for (i = 0; i < l->cnt; i++) {
		rs_qpart_t *p = rs_queue_part_find(q, l->elems[i].topic,
						   l->elems[i].partition);
		if (!p)
			continue;
		if (!lost) {
			int64_t pos = rs_qtrack_position(&p->track);
			rs_queue_part_store(q, p);
			if (pos >= 0)
				rd_kafka_topic_partition_list_add(
					commit, p->topic, p->partition)
					->offset = pos;
		}
		rs_queue_part_remove(q, p);
	}
	pthread_mutex_unlock(&q->lock);

	/* Commit the finished prefix synchronously before giving the
	 * partitions up, so the next owner starts exactly there.  (Unassign
	 * would commit too, but asynchronously: the new owner could fetch the
	 * old committed offset first and redeliver.) */
	if (commit->cnt > 0) {
		rd_kafka_resp_err_t kerr = rd_kafka_commit(rk, commit, 0);
		if (kerr)
			rs_log(NULL, LOG_WARNING, "QUEUE",
			       "revoke: commit: %s", rd_kafka_err2str(kerr));
	}
	rd_kafka_topic_partition_list_destroy(commit);

	/* With auto-commit on, unassign commits the stored offsets of the
	 * removed partitions (rd_kafka_assignment_serve_removals). */
	error = rd_kafka_incremental_unassign(rk, l);
	if (error) {
		rs_log(NULL, LOG_ERR, "QUEUE", "incremental_unassign: %s",
		       rd_kafka_error_string(error));
		rd_kafka_error_destroy(error);
	}
	stash_prune(q);
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
			 rd_kafka_topic_partition_list_t *l, void *opaque) {
	rs_queue_t *q = opaque;

	atomic_fetch_add(&q->n_rebalances, 1);
	rs_dbg(NULL, RS_DBG_QUEUE, "QUEUE", "rebalance %s: %d partitions%s",
	       rd_kafka_err2name(err), l->cnt,
	       rd_kafka_assignment_lost(rk) ? " (lost)" : "");
	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS)
		on_assign(q, rk, l);
	else
		on_revoke(q, rk, l);
}

/* ---------------------------------------------------------------------- */
/* Consumer                                                               */

/* The group consumer.  Defaults are chosen for a worker: long
 * max.poll.interval (a revoke may drain for revoke_drain_ms), auto-commit
 * of stored offsets only, and a bounded prefetch per partition. */
static rs_err_t consumer_new(rs_queue_t *q, const rs_queue_conf_t *conf,
			     char *errstr, size_t errstr_size) {
	kq_t *kq = KQ(q);
	rd_kafka_conf_t *kc;
	rd_kafka_topic_partition_list_t *sub;
	rd_kafka_resp_err_t kerr;
	int session = conf->session_timeout_ms > 0 ? conf->session_timeout_ms
						   : 45000;
	int hb = conf->heartbeat_interval_ms > 0 ? conf->heartbeat_interval_ms
						 : RS_MAX(session / 15, 100);
	char buf[256];
	size_t i;

	if (!conf->group_id || !conf->topic_cnt) {
		rs_snprintf(errstr, errstr_size,
			    "consumer needs group_id and topics");
		return RS_ERR_CONFIG;
	}
	if (conf->topic_cnt > RS_QUEUE_MAX_TOPICS) {
		rs_snprintf(errstr, errstr_size, "too many topics");
		return RS_ERR_TOO_LARGE;
	}
	kc = conf_common(q, conf, errstr, errstr_size);
	if (!kc)
		return RS_ERR_CONFIG;
	rd_kafka_conf_set_rebalance_cb(kc, rebalance_cb);
	if (!conf_set(kc, "group.id", conf->group_id, errstr, errstr_size) ||
	    !conf_set(kc, "partition.assignment.strategy", "cooperative-sticky",
		      errstr, errstr_size) ||
	    !conf_set(kc, "enable.auto.offset.store", "false", errstr,
		      errstr_size) ||
	    !conf_set(kc, "enable.auto.commit", "true", errstr, errstr_size) ||
	    !conf_set(kc, "enable.partition.eof", "false", errstr,
		      errstr_size) ||
	    !conf_set(kc, "auto.offset.reset",
		      conf->auto_offset_reset ? conf->auto_offset_reset
					      : "earliest",
		      errstr, errstr_size) ||
	    !conf_set_int(kc, "session.timeout.ms", session, errstr,
			  errstr_size) ||
	    !conf_set_int(kc, "heartbeat.interval.ms", hb, errstr,
			  errstr_size) ||
	    !conf_set_int(kc, "max.poll.interval.ms",
			  conf->max_poll_interval_ms > 0
				  ? conf->max_poll_interval_ms
				  : 300000,
			  errstr, errstr_size) ||
	    !conf_set_int(kc, "auto.commit.interval.ms",
			  conf->auto_commit_interval_ms > 0
				  ? conf->auto_commit_interval_ms
				  : 5000,
			  errstr, errstr_size) ||
	    !conf_set_int(kc, "queued.max.messages.kbytes",
			  conf->queued_max_kbytes > 0 ? conf->queued_max_kbytes
						      : 16384,
			  errstr, errstr_size) ||
	    !conf_apply_props(kc, conf, "consumer.", errstr, errstr_size)) {
		rd_kafka_conf_destroy(kc);
		return RS_ERR_CONFIG;
	}
	{
		/* Read back: a "consumer.auto.offset.reset" property may have
		 * overridden it. */
		size_t n = sizeof(buf);
		if (rd_kafka_conf_get(kc, "auto.offset.reset", buf, &n) ==
		    RD_KAFKA_CONF_OK)
			kq->reset_latest = !strcmp(buf, "latest") ||
					   !strcmp(buf, "largest") ||
					   !strcmp(buf, "end");
	}
	kq->cons = rd_kafka_new(RD_KAFKA_CONSUMER, kc, buf, sizeof(buf));
	if (!kq->cons) {
		rs_snprintf(errstr, errstr_size, "consumer: %s", buf);
		rd_kafka_conf_destroy(kc);
		return RS_ERR_QUEUE;
	}
	/* Errors, logs and rebalances all come through consumer_poll;
	 * messages through msgq (see on_assign). */
	rd_kafka_poll_set_consumer(kq->cons);
	kq->msgq = rd_kafka_queue_new(kq->cons);

	sub = rd_kafka_topic_partition_list_new((int)conf->topic_cnt);
	for (i = 0; i < conf->topic_cnt; i++)
		rd_kafka_topic_partition_list_add(sub, conf->topics[i],
						  RD_KAFKA_PARTITION_UA);
	kerr = rd_kafka_subscribe(kq->cons, sub);
	rd_kafka_topic_partition_list_destroy(sub);
	if (kerr) {
		rs_snprintf(errstr, errstr_size, "subscribe: %s",
			    rd_kafka_err2str(kerr));
		return RS_ERR_QUEUE;
	}
	return RS_OK;
}

/* Frees the wrapper and the librdkafka message, which releases its fetch
 * buffer: this is why messages must be given back promptly. */
static void kafka_msg_free(rs_queue_t *q, rs_qmsg_t *msg) {
	(void)q;
	if (msg->be_msg)
		rd_kafka_message_destroy(msg->be_msg);
	rs_free(msg);
}

/* Wraps a librdkafka message: the payload, key and headers stay owned by
 * rkm (which pins its fetch buffer) until the message is done. */
static rs_qmsg_t *msg_wrap(rd_kafka_message_t *rkm) {
	rs_qmsg_t *msg = rs_calloc(1, sizeof(*msg));
	rd_kafka_headers_t *h = NULL;
	rd_kafka_timestamp_type_t tstype;

	msg->be_msg = rkm;
	msg->topic = rd_kafka_topic_name(rkm->rkt);
	msg->partition = rkm->partition;
	msg->offset = rkm->offset;
	msg->key = rkm->key;
	msg->keylen = rkm->key_len;
	msg->value = rkm->payload;
	msg->len = rkm->len;
	msg->timestamp = rd_kafka_message_timestamp(rkm, &tstype);
	/* Headers are parsed here, on the poll thread, so the worker threads
	 * only ever read them. */
	if (rd_kafka_message_headers(rkm, &h) == RD_KAFKA_RESP_ERR_NO_ERROR) {
		size_t i;
		for (i = 0; i < RS_QUEUE_MAX_HEADERS; i++) {
			const char *name;
			const void *val;
			size_t size;
			if (rd_kafka_header_get_all(h, i, &name, &val, &size))
				break;
			msg->hdrs[i].name = name;
			msg->hdrs[i].value = val;
			msg->hdrs[i].size = size;
			msg->hdr_cnt++;
		}
	}
	return msg;
}

/* Offers one stashed or new message to the tracker.
 * Returns RS_OK (accepted), RS_ERR_TOO_LARGE (keep for later), or
 * RS_ERR_EXISTS / RS_ERR_NOT_FOUND (caller frees it). */
static rs_err_t msg_offer(rs_queue_t *q, rs_qmsg_t *msg) {
	rs_qpart_t *part;
	rs_err_t err;

	pthread_mutex_lock(&q->lock);
	part = rs_queue_part_find(q, msg->topic, msg->partition);
	err = part ? rs_queue_msg_accept(q, part, msg) : RS_ERR_NOT_FOUND;
	pthread_mutex_unlock(&q->lock);
	return err;
}

static void stash_push(kq_t *kq, rs_qmsg_t *msg) {
	msg->next = NULL;
	if (kq->stash_tail)
		kq->stash_tail->next = msg;
	else
		kq->stash_head = msg;
	kq->stash_tail = msg;
}

/* Returns true when no message may be handed out now.  Only a full
 * tracker window pauses fetching (rare: one message stuck while
 * max_window later ones finished); the in-flight limit just stops taking
 * messages from msgq, whose size librdkafka bounds by
 * queued.max.messages.kbytes per partition. */
static bool limit_update(rs_queue_t *q, bool window_full) {
	bool limit;

	pthread_mutex_lock(&q->lock);
	limit = q->inflight >= q->max_inflight || window_full;
	if (window_full != q->limit_paused) {
		q->limit_paused = window_full;
		rs_queue_apply_pause(q);
	}
	pthread_mutex_unlock(&q->lock);
	return limit;
}

/* Hands out one message: stashed ones first (they are older), then new
 * ones from msgq while under the in-flight limit; at the limit it only
 * serves rebalances and errors until capacity returns or time runs out. */
static rs_err_t kafka_poll(rs_queue_t *q, int timeout_ms, rs_qmsg_t **msgp) {
	kq_t *kq = KQ(q);
	int64_t deadline = rs_now_ms() + RS_MAX(timeout_ms, 0);

	if (kq->closed)
		return RS_ERR_STATE;
	if (atomic_load(&kq->fatal))
		return RS_ERR_QUEUE_FATAL;

	for (;;) {
		bool window_full = false;
		rd_kafka_message_t *rkm;
		rs_qmsg_t *msg;
		int64_t left;

		/* Stashed messages come first: they are older than anything
		 * consumer_poll can return for the same partition. */
		while (kq->stash_head &&
		       q->inflight < q->max_inflight) {
			rs_err_t err;
			msg = kq->stash_head;
			err = msg_offer(q, msg);
			if (err == RS_ERR_TOO_LARGE) {
				window_full = true;
				break;
			}
			kq->stash_head = msg->next;
			if (!kq->stash_head)
				kq->stash_tail = NULL;
			msg->next = NULL;
			if (err == RS_OK) {
				limit_update(q, false);
				*msgp = msg;
				return RS_OK;
			}
			kafka_msg_free(q, msg);
		}
		bool limit = limit_update(q, window_full);

		left = RS_MAX(RS_MIN(deadline - rs_now_ms(), 100), 0);
		if (limit || kq->stash_head) {
			/* Serve rebalances and errors only; short waits so
			 * capacity freed by workers is noticed quickly. */
			rkm = rd_kafka_consumer_poll(kq->cons,
						     (int)RS_MIN(left, 10));
		} else {
			/* Rebalances first (no wait), then messages: a
			 * rebalance waits at most one msgq timeout. */
			rkm = rd_kafka_consumer_poll(kq->cons, 0);
			if (!rkm)
				rkm = rd_kafka_consume_queue(kq->msgq,
							     (int)left);
		}
		if (rkm && rkm->err) {
			if (rkm->err == RD_KAFKA_RESP_ERR__FATAL)
				atomic_store(&kq->fatal, 1);
			else if (rkm->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
				rs_log(NULL, LOG_WARNING, "QUEUE",
				       "consume: %s",
				       rd_kafka_message_errstr(rkm));
			rd_kafka_message_destroy(rkm);
			rkm = NULL;
			if (atomic_load(&kq->fatal))
				return RS_ERR_QUEUE_FATAL;
		}
		if (rkm) {
			msg = msg_wrap(rkm);
			if (limit || kq->stash_head) {
				/* Fetched before the pause took effect:
				 * bounded by queued.max.messages.kbytes. */
				stash_push(kq, msg);
			} else {
				rs_err_t err = msg_offer(q, msg);
				if (err == RS_OK) {
					*msgp = msg;
					return RS_OK;
				}
				if (err == RS_ERR_TOO_LARGE)
					stash_push(kq, msg);
				else
					kafka_msg_free(q, msg);
			}
		}
		if (rs_now_ms() >= deadline)
			return limit ? RS_ERR_TOO_LARGE : RS_OK;
	}
}

/* The store half of the offset model: called with q->lock held whenever a
 * partition's finished prefix grows (rs_queue_part_store). */
static rs_err_t kafka_store(rs_queue_t *q, rs_qpart_t *part, int64_t pos) {
	kq_t *kq = KQ(q);
	rd_kafka_topic_partition_list_t *l =
		rd_kafka_topic_partition_list_new(1);
	rd_kafka_resp_err_t kerr;

	/* offsets_store takes the offset as given: pos is already "next
	 * offset to consume" (msg offset + 1 semantics). */
	rd_kafka_topic_partition_list_add(l, part->topic, part->partition)
		->offset = pos;
	kerr = rd_kafka_offsets_store(kq->cons, l);
	if (!kerr)
		kerr = l->elems[0].err;
	rd_kafka_topic_partition_list_destroy(l);
	if (kerr) {
		rs_dbg(NULL, RS_DBG_QUEUE, "QUEUE", "store %s[%d]@%lld: %s",
		       part->topic, (int)part->partition, (long long)pos,
		       rd_kafka_err2str(kerr));
		return RS_ERR_QUEUE;
	}
	return RS_OK;
}

/* Pause/resume exactly the partitions given: the generic half keeps the
 * paused set and passes only the ones whose state changes. */
static rs_err_t kafka_pause_parts(rs_queue_t *q, rs_qpart_t **parts,
				  size_t cnt, bool pause) {
	kq_t *kq = KQ(q);
	rd_kafka_topic_partition_list_t *l =
		rd_kafka_topic_partition_list_new((int)cnt);
	rd_kafka_resp_err_t kerr;
	size_t i;

	for (i = 0; i < cnt; i++)
		rd_kafka_topic_partition_list_add(l, parts[i]->topic,
						  parts[i]->partition);
	kerr = pause ? rd_kafka_pause_partitions(kq->cons, l)
		     : rd_kafka_resume_partitions(kq->cons, l);
	rd_kafka_topic_partition_list_destroy(l);
	return kerr ? RS_ERR_QUEUE : RS_OK;
}

/* Synchronous commit of the stored offsets, after storing whatever the
 * trackers finished since: the shutdown path, where losing the last
 * auto-commit interval would mean redelivering finished work. */
/* Stores and synchronously commits the finished prefix of every assigned
 * partition; *kerrp (may be NULL) gets librdkafka's answer. */
static rs_err_t kafka_commit_kerr(rs_queue_t *q, rd_kafka_resp_err_t *kerrp) {
	kq_t *kq = KQ(q);
	rd_kafka_resp_err_t kerr;
	rs_qpart_t *p;

	if (kerrp)
		*kerrp = RD_KAFKA_RESP_ERR_NO_ERROR;
	if (kq->closed)
		return RS_ERR_STATE;
	pthread_mutex_lock(&q->lock);
	for (p = q->parts; p; p = p->next)
		rs_queue_part_store(q, p);
	pthread_mutex_unlock(&q->lock);
	/* NULL list: commit the stored offsets, synchronously. */
	kerr = rd_kafka_commit(kq->cons, NULL, 0);
	if (kerrp)
		*kerrp = kerr;
	if (kerr && kerr != RD_KAFKA_RESP_ERR__NO_OFFSET) {
		rs_log(NULL, LOG_WARNING, "QUEUE", "commit: %s",
		       rd_kafka_err2str(kerr));
		return RS_ERR_QUEUE;
	}
	return RS_OK;
}

static rs_err_t kafka_commit(rs_queue_t *q) {
	return kafka_commit_kerr(q, NULL);
}

/* Serves one event of the close queue.  librdkafka forwards the consumer
 * queue to it, so besides rebalances it may carry prefetched messages: those
 * were never handed out and are simply dropped (queue_poll_callback would
 * assert on them in 2.0.2). */
static void close_serve(rs_queue_t *q, rd_kafka_queue_t *rkqu) {
	kq_t *kq = KQ(q);
	rd_kafka_event_t *ev = rd_kafka_queue_poll(rkqu, 100);

	if (!ev)
		return;
	if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE)
		rebalance_cb(kq->cons, rd_kafka_event_error(ev),
			     rd_kafka_event_topic_partition_list(ev), q);
	rd_kafka_event_destroy(ev);
}

static rs_err_t kafka_close(rs_queue_t *q) {
	kq_t *kq = KQ(q);
	rd_kafka_queue_t *rkqu;
	rd_kafka_resp_err_t kerr;
	rd_kafka_error_t *error;
	rs_err_t err = RS_OK, cerr;
	int64_t deadline;

	if (kq->closed || !kq->cons)
		return RS_OK;

	/* librdkafka 2.0.2 (#4312) aborts when a cooperative-sticky consumer
	 * closes between JoinGroup and its first assignment: give the join a
	 * bounded chance to finish.  Anything fetched meanwhile is stashed
	 * and dropped below, never handed out. */
	deadline = rs_now_ms() + 10000;
	while (!kq->ever_assigned && rs_now_ms() < deadline) {
		rd_kafka_message_t *rkm =
			rd_kafka_consumer_poll(kq->cons, 100);
		if (rkm)
			rd_kafka_message_destroy(rkm);
	}

	/* Stop fetching, then let running messages finish (bounded). */
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
	kq->draining_done = true;
	pthread_mutex_unlock(&q->lock);

	while (kq->stash_head) {
		rs_qmsg_t *m = kq->stash_head;
		kq->stash_head = m->next;
		kafka_msg_free(q, m);
	}
	kq->stash_tail = NULL;

	cerr = kafka_commit_kerr(q, &kerr);
	/* A commit that raced a rebalance (the group moved to a new
	 * generation, seen in 0002 under load) loses nothing: the revoke
	 * that consumer_close runs below commits the same stored offsets
	 * with the current generation. */
	if (cerr != RS_OK &&
	    (kerr == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION ||
	     kerr == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS ||
	     kerr == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID))
		cerr = RS_OK;
	if (cerr != RS_OK)
		err = cerr;

	/* Asynchronous close served in 100 ms steps so no single call blocks
	 * long (STYLE.md 14); rebalances are served by close_serve(). */
	rkqu = rd_kafka_queue_new(kq->cons);
	error = rd_kafka_consumer_close_queue(kq->cons, rkqu);
	if (error) {
		rs_log(NULL, LOG_WARNING, "QUEUE", "close: %s",
		       rd_kafka_error_string(error));
		rd_kafka_error_destroy(error);
		err = RS_ERR_QUEUE;
	} else {
		deadline = rs_now_ms() + 30000;
		while (!rd_kafka_consumer_closed(kq->cons) &&
		       rs_now_ms() < deadline)
			close_serve(q, rkqu);
		if (!rd_kafka_consumer_closed(kq->cons)) {
			rs_log(NULL, LOG_WARNING, "QUEUE",
			       "close: consumer did not close in 30 s");
			err = RS_ERR_TIMEOUT;
		}
	}
	rd_kafka_queue_destroy(rkqu);
	kq->closed = true;
	return err;
}

/* ---------------------------------------------------------------------- */
/* Admin                                                                  */

static rs_err_t kafka_create_topics(rs_queue_t *q, const char *const *names,
				    size_t name_cnt, int partitions,
				    int replication,
				    const char *const *configs,
				    size_t config_cnt, int timeout_ms,
				    char *errstr, size_t errstr_size) {
	kq_t *kq = KQ(q);
	rd_kafka_t *rk = kq->prod ? kq->prod : kq->cons;
	rd_kafka_NewTopic_t **nt = rs_calloc(name_cnt, sizeof(*nt));
	rd_kafka_queue_t *rkqu = rd_kafka_queue_new(rk);
	rd_kafka_AdminOptions_t *opts =
		rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
	rd_kafka_event_t *ev = NULL;
	rs_err_t err = RS_ERR_QUEUE;
	int64_t deadline = rs_now_ms() + timeout_ms;
	char buf[256];
	size_t i, j;

	rd_kafka_AdminOptions_set_operation_timeout(opts, timeout_ms, buf,
						    sizeof(buf));
	rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, buf,
						  sizeof(buf));
	for (i = 0; i < name_cnt; i++) {
		nt[i] = rd_kafka_NewTopic_new(names[i], partitions,
					      replication, buf, sizeof(buf));
		if (!nt[i]) {
			rs_snprintf(errstr, errstr_size, "%s: %s", names[i],
				    buf);
			goto out;
		}
		for (j = 0; j < config_cnt; j++) {
			char name[128];
			const char *eq = strchr(configs[j], '=');
			if (!eq || (size_t)(eq - configs[j]) >= sizeof(name)) {
				rs_snprintf(errstr, errstr_size,
					    "topic config \"%s\" is not "
					    "key=value", configs[j]);
				err = RS_ERR_INVALID_ARG;
				goto out;
			}
			memcpy(name, configs[j], (size_t)(eq - configs[j]));
			name[eq - configs[j]] = '\0';
			rd_kafka_NewTopic_set_config(nt[i], name, eq + 1);
		}
	}
	rd_kafka_CreateTopics(rk, nt, name_cnt, opts, rkqu);
	while (!ev && rs_now_ms() < deadline + 1000)
		ev = rd_kafka_queue_poll(rkqu, 500);
	if (!ev) {
		rs_snprintf(errstr, errstr_size, "CreateTopics timed out");
		err = RS_ERR_TIMEOUT;
		goto out;
	}
	if (rd_kafka_event_error(ev)) {
		rs_snprintf(errstr, errstr_size, "CreateTopics: %s",
			    rd_kafka_event_error_string(ev));
		goto out;
	} else {
		const rd_kafka_CreateTopics_result_t *res =
			rd_kafka_event_CreateTopics_result(ev);
		size_t cnt;
		const rd_kafka_topic_result_t **tr =
			rd_kafka_CreateTopics_result_topics(res, &cnt);
		for (i = 0; i < cnt; i++) {
			rd_kafka_resp_err_t terr =
				rd_kafka_topic_result_error(tr[i]);
			if (terr &&
			    terr != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
				rs_snprintf(errstr, errstr_size, "%s: %s",
					    rd_kafka_topic_result_name(tr[i]),
					    rd_kafka_topic_result_error_string(
						    tr[i]));
				goto out;
			}
		}
	}
	err = RS_OK;
out:
	if (ev)
		rd_kafka_event_destroy(ev);
	for (i = 0; i < name_cnt; i++)
		if (nt[i])
			rd_kafka_NewTopic_destroy(nt[i]);
	rs_free(nt);
	rd_kafka_AdminOptions_destroy(opts);
	rd_kafka_queue_destroy(rkqu);
	return err;
}

/* ---------------------------------------------------------------------- */
/* Scan                                                                   */

/* The template every scan handle is duplicated from: brokers, client id and
 * the user's consumer-side properties, built once at init so a bad property
 * shows up at rs_queue_new() and a producer-only handle can scan too. */
static rs_err_t scan_conf_new(rs_queue_t *q, const rs_queue_conf_t *conf,
			      char *errstr, size_t errstr_size) {
	kq_t *kq = KQ(q);
	rd_kafka_conf_t *kc = rd_kafka_conf_new();
	char gid[96];

	/* librdkafka 2.0.2 refuses rd_kafka_assign() without a group.id
	 * (#3261), but with assign and no commit the id is never sent in a
	 * JoinGroup or OffsetCommit: no group is created or disturbed.  A
	 * per-process name keeps it apart from every real group anyway. */
	rs_snprintf(gid, sizeof(gid), "rostersync-scan-%ld-%lld", (long)getpid(),
		    (long long)rs_wall_ms());
	rd_kafka_conf_set_log_cb(kc, kafka_log_cb);
	if (!conf_set(kc, "bootstrap.servers", conf->brokers, errstr,
		      errstr_size) ||
	    !conf_set(kc, "client.id",
		      conf->client_id ? conf->client_id : "rostersync", errstr,
		      errstr_size) ||
	    /* Bounded prefetch, as the group consumer (props may raise it). */
	    !conf_set(kc, "queued.max.messages.kbytes", "16384", errstr,
		      errstr_size) ||
	    !conf_apply_props(kc, conf, "consumer.", errstr, errstr_size) ||
	    !conf_set(kc, "group.id", gid, errstr, errstr_size) ||
	    !conf_set(kc, "enable.auto.commit", "false", errstr, errstr_size) ||
	    !conf_set(kc, "enable.auto.offset.store", "false", errstr,
		      errstr_size) ||
	    /* EOF ends a partition whose last offsets are not messages
	     * (transaction markers) or were compacted away. */
	    !conf_set(kc, "enable.partition.eof", "true", errstr,
		      errstr_size) ||
	    !conf_set(kc, "auto.offset.reset", "earliest", errstr,
		      errstr_size) ||
	    !conf_set(kc, "allow.auto.create.topics", "false", errstr,
		      errstr_size)) {
		rd_kafka_conf_destroy(kc);
		return RS_ERR_CONFIG;
	}
	kq->scan_kc = kc;
	return RS_OK;
}

/* Partition count of @p topic from a metadata request, retried until the
 * deadline while the topic's leaders are still being elected.  Returns
 * RS_OK with *cntp, RS_ERR_NOT_FOUND, RS_ERR_TIMEOUT or RS_ERR_QUEUE. */
static rs_err_t scan_partition_cnt(rd_kafka_t *rk, const char *topic,
				   int64_t deadline, int *cntp) {
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
	rs_err_t err = RS_ERR_TIMEOUT;

	for (;;) {
		const struct rd_kafka_metadata *md = NULL;
		int64_t left = deadline - rs_now_ms();
		rd_kafka_resp_err_t kerr;

		if (left <= 0)
			break;
		kerr = rd_kafka_metadata(rk, 0, rkt, &md,
					 (int)RS_MIN(left, 5000));
		if (!kerr && md->topic_cnt == 1) {
			kerr = md->topics[0].err;
			*cntp = md->topics[0].partition_cnt;
		}
		if (md)
			rd_kafka_metadata_destroy(md);
		if (!kerr) {
			err = RS_OK;
			break;
		}
		if (kerr == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
			err = RS_ERR_NOT_FOUND;
			break;
		}
		if (kerr != RD_KAFKA_RESP_ERR__TIMED_OUT &&
		    kerr != RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE &&
		    kerr != RD_KAFKA_RESP_ERR__TRANSPORT) {
			rs_log(NULL, LOG_WARNING, "QUEUE", "scan %s: %s", topic,
			       rd_kafka_err2str(kerr));
			err = RS_ERR_QUEUE;
			break;
		}
		rs_sleep_ms(100);
	}
	rd_kafka_topic_destroy(rkt);
	return err;
}

/* A group-less reader: snapshot the high watermarks, assign every
 * non-empty partition at its low watermark, and read until each partition
 * reached its snapshot (or EOF).  Nothing is committed, so the scan can run
 * beside the handle's own consumer and any operator tool. */
static rs_err_t kafka_scan(rs_queue_t *q, const char *topic, int timeout_ms,
			   rs_queue_scan_cb_t *cb, void *opaque) {
	kq_t *kq = KQ(q);
	int64_t deadline = rs_now_ms() + timeout_ms;
	rd_kafka_t *rk = NULL;
	rd_kafka_topic_partition_list_t *l = NULL;
	int64_t *hi = NULL;
	bool *done = NULL;
	int pcnt = 0, left_parts = 0, p;
	rs_err_t err = RS_ERR_QUEUE;
	char buf[256];

	rk = rd_kafka_new(RD_KAFKA_CONSUMER, rd_kafka_conf_dup(kq->scan_kc),
			  buf, sizeof(buf));
	if (!rk) {
		rs_log(NULL, LOG_WARNING, "QUEUE", "scan %s: %s", topic, buf);
		return RS_ERR_QUEUE;
	}
	err = scan_partition_cnt(rk, topic, deadline, &pcnt);
	if (err != RS_OK)
		goto out;

	/* The end is fixed now: messages produced during the scan are not
	 * read, so a replay that re-produces into the topic terminates. */
	hi = rs_calloc((size_t)pcnt + 1, sizeof(*hi));
	done = rs_calloc((size_t)pcnt + 1, sizeof(*done));
	l = rd_kafka_topic_partition_list_new(pcnt);
	for (p = 0; p < pcnt; p++) {
		int64_t lo = 0;
		rd_kafka_resp_err_t kerr;

		/* A topic created a moment ago may have no leader yet: such
		 * errors are retried within the scan's time, so callers need
		 * not retry themselves. */
		do {
			int64_t left = deadline - rs_now_ms();
			if (left <= 0) {
				err = RS_ERR_TIMEOUT;
				goto out;
			}
			kerr = rd_kafka_query_watermark_offsets(
				rk, topic, p, &lo, &hi[p],
				(int)RS_MIN(left, 5000));
			if (kerr == RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE ||
			    kerr == RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION ||
			    kerr == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
			    kerr == RD_KAFKA_RESP_ERR__TRANSPORT)
				rs_sleep_ms(100);
			else
				break;
		} while (1);
		if (kerr) {
			rs_log(NULL, LOG_WARNING, "QUEUE",
			       "scan %s[%d]: watermarks: %s", topic, p,
			       rd_kafka_err2str(kerr));
			err = kerr == RD_KAFKA_RESP_ERR__TIMED_OUT
				      ? RS_ERR_TIMEOUT
				      : RS_ERR_QUEUE;
			goto out;
		}
		if (lo >= hi[p]) {
			done[p] = true; /* empty */
			continue;
		}
		rd_kafka_topic_partition_list_add(l, topic, p)->offset = lo;
		left_parts++;
	}
	if (!left_parts) {
		err = RS_OK;
		goto out;
	}
	if (rd_kafka_assign(rk, l)) {
		err = RS_ERR_QUEUE;
		goto out;
	}

	err = RS_OK;
	while (left_parts > 0) {
		int64_t left = deadline - rs_now_ms();
		rd_kafka_message_t *rkm;
		rs_qmsg_t *msg;

		if (left <= 0) {
			err = RS_ERR_TIMEOUT;
			break;
		}
		rkm = rd_kafka_consumer_poll(rk, (int)RS_MIN(left, 500));
		if (!rkm)
			continue;
		p = rkm->partition;
		if (rkm->err) {
			rd_kafka_resp_err_t kerr = rkm->err;
			if (kerr == RD_KAFKA_RESP_ERR__PARTITION_EOF &&
			    p >= 0 && p < pcnt && !done[p]) {
				done[p] = true;
				left_parts--;
			} else if (kerr != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
				rs_log(NULL, LOG_WARNING, "QUEUE", "scan %s: %s",
				       topic, rd_kafka_message_errstr(rkm));
				if (kerr == RD_KAFKA_RESP_ERR__FATAL ||
				    kerr == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
					err = RS_ERR_QUEUE;
			}
			rd_kafka_message_destroy(rkm);
			if (err != RS_OK)
				break;
			continue;
		}
		if (p < 0 || p >= pcnt || done[p] || rkm->offset >= hi[p]) {
			rd_kafka_message_destroy(rkm);
			continue;
		}
		if (rkm->offset >= hi[p] - 1) {
			done[p] = true;
			left_parts--;
		}
		msg = msg_wrap(rkm);
		err = cb(msg, opaque);
		kafka_msg_free(q, msg);
		if (err != RS_OK)
			break;
	}
	rd_kafka_assign(rk, NULL);
out:
	if (l)
		rd_kafka_topic_partition_list_destroy(l);
	rs_free(hi);
	rs_free(done);
	/* No subscription: close only ends the (never joined) group handle. */
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	return err;
}

/* ---------------------------------------------------------------------- */
/* Consumer lag                                                           */

/* Asks the partition leaders for the offsets of @p l in one ListOffsets
 * round trip per leader: rd_kafka_offsets_for_times() sends each .offset
 * as the timestamp, and the protocol's timestamps -1 (latest) and -2
 * (earliest) answer with the end and the low watermark.  Elements that
 * fail keep .err set.  Returns false when the call as a whole failed. */
static bool lag_list_offsets(rd_kafka_t *rk,
			     rd_kafka_topic_partition_list_t *l,
			     int64_t deadline) {
	int64_t left = deadline - rs_now_ms();

	if (!l->cnt)
		return true;
	if (left <= 0)
		return false;
	return rd_kafka_offsets_for_times(rk, l, (int)RS_MIN(left, INT32_MAX)) ==
	       RD_KAFKA_RESP_ERR_NO_ERROR;
}

/* Fills v[i].position for partitions with nothing handed out yet (their
 * committed offset, one OffsetFetch; without one, where
 * auto.offset.reset starts), then every lag from the end offsets.  An end
 * the leaders did not give in time comes from librdkafka's cache (the
 * high watermark of the last fetch response; possibly older, never
 * blocking); a partition with neither stays unknown (-1). */
static rs_err_t kafka_lag(rs_queue_t *q, rs_queue_lag_t *v, size_t cnt,
			  int64_t deadline) {
	kq_t *kq = KQ(q);
	rd_kafka_topic_partition_list_t *cl, *el, *bl;
	rd_kafka_topic_partition_t *e;
	int64_t *end;
	int64_t left;
	size_t i;

	/* No kq->closed check (the poll thread sets it): after close the
	 * registry is empty and this is not reached; meanwhile librdkafka
	 * answers a closing consumer with errors, not waits. */
	if (!kq->cons)
		return RS_ERR_STATE;
	pthread_mutex_lock(&kq->lag_lock);
	if (!kq->lag_rk) {
		char buf[256];
		kq->lag_rk = rd_kafka_new(RD_KAFKA_CONSUMER,
					  rd_kafka_conf_dup(kq->scan_kc), buf,
					  sizeof(buf));
		if (!kq->lag_rk) {
			pthread_mutex_unlock(&kq->lag_lock);
			rs_log(NULL, LOG_WARNING, "QUEUE", "lag: %s", buf);
			return RS_ERR_QUEUE;
		}
	}
	/* Nobody else polls this handle: serve its error events here, so
	 * they cannot pile up during a long broker outage. */
	rd_kafka_poll(kq->lag_rk, 0);
	end = rs_calloc(cnt, sizeof(*end));
	cl = rd_kafka_topic_partition_list_new((int)cnt);
	el = rd_kafka_topic_partition_list_new((int)cnt);
	bl = rd_kafka_topic_partition_list_new(1);
	for (i = 0; i < cnt; i++) {
		if (v[i].position < 0)
			rd_kafka_topic_partition_list_add(cl, v[i].topic,
							  v[i].partition);
		rd_kafka_topic_partition_list_add(el, v[i].topic,
						  v[i].partition)
			->offset = RD_KAFKA_OFFSET_END; /* timestamp -1 */
		end[i] = -1;
	}
	left = deadline - rs_now_ms();
	if (cl->cnt && left > 0 &&
	    rd_kafka_committed(kq->cons, cl, (int)RS_MIN(left, INT32_MAX)) ==
		    RD_KAFKA_RESP_ERR_NO_ERROR) {
		for (i = 0; i < cnt; i++) {
			if (v[i].position >= 0)
				continue;
			e = rd_kafka_topic_partition_list_find(
				cl, v[i].topic, v[i].partition);
			if (!e || e->err)
				continue;
			if (e->offset >= 0)
				v[i].position = e->offset;
			else if (!kq->reset_latest)
				/* No committed offset: the group starts at
				 * the low watermark (asked below). */
				rd_kafka_topic_partition_list_add(
					bl, v[i].topic, v[i].partition)
					->offset = RD_KAFKA_OFFSET_BEGINNING;
			else
				v[i].position = INT64_MAX; /* = the end */
		}
	}
	if (lag_list_offsets(kq->lag_rk, el, deadline)) {
		for (i = 0; i < cnt; i++) {
			e = rd_kafka_topic_partition_list_find(
				el, v[i].topic, v[i].partition);
			if (e && !e->err && e->offset >= 0)
				end[i] = e->offset;
		}
	}
	if (lag_list_offsets(kq->lag_rk, bl, deadline)) {
		for (i = 0; i < cnt; i++) {
			if (v[i].position >= 0)
				continue;
			e = rd_kafka_topic_partition_list_find(
				bl, v[i].topic, v[i].partition);
			if (e && !e->err && e->offset >= 0)
				v[i].position = e->offset;
		}
	}
	for (i = 0; i < cnt; i++) {
		int64_t lo, hi;
		if (end[i] < 0 &&
		    rd_kafka_get_watermark_offsets(kq->cons, v[i].topic,
						   v[i].partition, &lo,
						   &hi) ==
			    RD_KAFKA_RESP_ERR_NO_ERROR &&
		    hi >= 0)
			end[i] = hi;
		if (end[i] < 0 || v[i].position < 0)
			continue;
		if (v[i].position == INT64_MAX)
			v[i].position = end[i];
		v[i].lag = RS_MAX(end[i] - v[i].position, 0);
	}

	rd_kafka_topic_partition_list_destroy(cl);
	rd_kafka_topic_partition_list_destroy(el);
	rd_kafka_topic_partition_list_destroy(bl);
	rs_free(end);
	pthread_mutex_unlock(&kq->lag_lock);
	return RS_OK;
}

/* ---------------------------------------------------------------------- */
/* Lifecycle                                                              */

/* Consumer first (close commits), then the producer: flush, purge what is
 * left so its delivery reports say so, stop the poller, destroy. */
static void kafka_destroy(rs_queue_t *q) {
	kq_t *kq = KQ(q);

	if (!kq)
		return;
	if (kq->cons) {
		kafka_close(q);
		if (kq->msgq)
			rd_kafka_queue_destroy(kq->msgq);
		rd_kafka_destroy(kq->cons);
	}
	if (kq->prod) {
		if (kafka_flush(q, 10000) == RS_ERR_TIMEOUT) {
			/* Purged messages get a failed delivery report, so
			 * nothing disappears without on_delivery hearing. */
			rd_kafka_purge(kq->prod, RD_KAFKA_PURGE_F_QUEUE |
							 RD_KAFKA_PURGE_F_INFLIGHT);
			kafka_wait_reported(q, 500);
		}
		if (kq->poller_started) {
			atomic_store(&kq->poller_stop, true);
			pthread_join(kq->poller, NULL);
		}
		rd_kafka_poll(kq->prod, 0);
		rd_kafka_destroy(kq->prod);
	}
	if (kq->lag_rk)
		rd_kafka_destroy(kq->lag_rk);
	pthread_mutex_destroy(&kq->lag_lock);
	if (kq->scan_kc)
		rd_kafka_conf_destroy(kq->scan_kc);
	rs_free(kq);
	q->be_state = NULL;
}

/* Builds the handles the roles ask for; on failure everything built so far
 * is torn down without a group close (no group was joined). */
static rs_err_t kafka_init(rs_queue_t *q, const rs_queue_conf_t *conf,
			   char *errstr, size_t errstr_size) {
	rs_err_t err = RS_ERR_CONFIG;

	if (!conf->brokers || !*conf->brokers) {
		rs_snprintf(errstr, errstr_size, "kafka: brokers not set");
		return err;
	}
	if (conf->prop_cnt > RS_QUEUE_MAX_PROPS) {
		rs_snprintf(errstr, errstr_size, "too many properties");
		return RS_ERR_TOO_LARGE;
	}
	q->be_state = rs_calloc(1, sizeof(kq_t));
	pthread_mutex_init(&KQ(q)->lag_lock, NULL);
	err = scan_conf_new(q, conf, errstr, errstr_size);
	if (err != RS_OK)
		goto out;
	if (q->roles & RS_QUEUE_ROLE_PRODUCER) {
		err = producer_new(q, conf, errstr, errstr_size);
		if (err != RS_OK)
			goto out;
	}
	if (q->roles & RS_QUEUE_ROLE_CONSUMER) {
		err = consumer_new(q, conf, errstr, errstr_size);
		if (err != RS_OK)
			goto out;
	}
	err = RS_OK;
out:
	if (err != RS_OK) {
		/* No group was joined yet that close could trip over. */
		kq_t *kq = KQ(q);
		if (kq->cons) {
			if (kq->msgq)
				rd_kafka_queue_destroy(kq->msgq);
			kq->msgq = NULL;
			rd_kafka_destroy_flags(kq->cons,
					       RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
			kq->cons = NULL;
		}
		kafka_destroy(q);
	}
	return err;
}

const rs_queue_backend_t rs_queue_backend_kafka = {
	.name = "kafka",
	.init = kafka_init,
	.destroy = kafka_destroy,
	.produce = kafka_produce,
	.flush = kafka_flush,
	.produce_prepare = kafka_produce_prepare,
	.fatal_error = kafka_fatal_error,
	.poll = kafka_poll,
	.store = kafka_store,
	.msg_free = kafka_msg_free,
	.commit = kafka_commit,
	.pause_parts = kafka_pause_parts,
	.close = kafka_close,
	.create_topics = kafka_create_topics,
	.scan = kafka_scan,
	.lag = kafka_lag,
};
