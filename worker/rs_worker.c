/*
 * rs_worker: poll thread + thread pool applying group.members jobs.
 *
 * Threads: the caller of rs_worker_run() polls the queue (the only thread
 * allowed to) and feeds rs_wsched; worker.threads pool threads take
 * runnable jobs, apply them through rs_graph with their own rs_http_t and
 * per-tenant rs_graph_t, and finish them (rs_queue_msg_done from the pool
 * thread).  A retriable failure puts the job back into rs_wsched with a
 * not_before time, so a throttled tenant holds no thread and other tenants
 * keep going (guarantee 4).  One mutex (w->lock) guards the scheduler, the
 * tenant table and the counters; nothing slow runs under it.
 */
#include "rs/rs_base.h"
#include "rs/rs_auth.h"
#include "rs/rs_envelope.h"
#include "rs/rs_graph.h"
#include "rs/rs_http.h"
#include "rs/rs_log.h"
#include "rs/rs_metrics.h"
#include "rs/rs_queue.h"
#include "rs/rs_qconf.h"
#include "rs/rs_topics.h"
#include "rs_worker.h"
#include "rs_wsched.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

/* Superseded jobs returned by one push: a key rarely has more waiting. */
#define W_SUP_PUSH 64
/* ... and by one batch of arrivals, finished once the lock is dropped. */
#define W_SUP_MAX 256
/* Messages the poll thread takes per batch (w_receive). */
#define W_BATCH 64
/* Raw payload kept in an "invalid" DLQ record. */
#define W_RAW_MAX (64 * 1024)
/* How long a member may wait for its first partitions before an empty
 * assignment counts as idle (--until-idle): a group join, with the broker's
 * rebalance, takes a few seconds. */
#define RS_WORKER_JOIN_GRACE_MS 15000

/* A delivery report's opaque is a job (applied record, deferral) or a
 * w_sync_t (w_send_sync): told apart by the first member. */
#define W_TAG_JOB 0x4a4f4221u
#define W_TAG_SYNC 0x53594e43u

typedef struct w_job_s {
	uint32_t tag;         /**< W_TAG_JOB */
	rs_wjob_t sj;         /**< scheduler view; sj.opaque = this */
	rs_queue_t *q;        /**< the handle msg came from (jobs or retry) */
	rs_qmsg_t *msg;       /**< NULL once done/released */
	const char *topic;    /**< msg's topic (borrowed) */
	int32_t partition;
	rs_envelope_t env;
	int attempts;         /**< attempts made by this worker */
	int tenant_idx;       /**< index in the conf, -1 unknown */
	bool counted;         /**< counted in its tenant's held */
	bool deferring;       /**< produced to the retry topic on arrival */
} w_job_t;

/* One tenant's shared state: the Entra token provider (thread-safe). */
typedef struct w_tenant_s {
	rs_auth_t *auth;
	bool failed;          /**< could not be created: permanent */
	char error[256];
	/* Adaptive concurrency (guarantee 5), under w->lock: jobs of this
	 * tenant running at once.  The limit halves on a throttled attempt
	 * and grows by 1/limit per success (AIMD), within
	 * [1, worker.tenant_concurrency_max]. */
	int running;
	double limit;
	/* Monotonic ms: no job of the tenant starts before paused_until (a
	 * Retry-After the tenant's Graph just gave applies to all its jobs,
	 * graph.md §5: throttled requests are charged too).  last_cut is
	 * when the limit was last halved. */
	int64_t paused_until;
	int64_t last_cut;
	/* Pacing, under w->lock: once the tenant has met its budget, job
	 * starts are spaced 1/rate apart (jobs/s, 0 = unpaced until the first
	 * 429).  rate follows w_pace_rate(): after each congestion event it
	 * starts just under rate_w, the budget's estimated refill rate,
	 * flattens at it and then probes ever faster above it. */
	double rate;
	double rate_w;        /**< the curve's plateau, 0 = unpaced */
	int64_t next_slot_us; /**< no paced start before this */
	/* Since last_cut: job starts and the pacing time left unused (no
	 * job started when its slot came), which make the estimate. */
	int64_t starts;
	int64_t idle_us;
	int cut_inflight;     /**< other jobs running at the last cut */
	double k_ms;          /**< the curve's time to its plateau */
	double lat_ewma;      /**< attempt duration, ms, smoothed */
	/* Measured start rate (jobs/s, over windows of >= W_WIN_MS). */
	double start_rate;
	int64_t win_ms;
	int win_starts;
	int held;             /**< jobs held in the scheduler (both topics) */
	int rheld;            /**< of those, from the retry topic */
} w_tenant_t;

/* Per pool-thread state. */
typedef struct w_thread_s {
	struct rs_worker_s *w;
	pthread_t tid;
	rs_http_t *http;
	rs_graph_t **graphs; /**< per tenant index, lazily */
	uint64_t rnd;        /**< xorshift state for jitter */
	pthread_cond_t cond; /**< this thread's wake-up (w_wake) */
	bool signaled;       /**< woken by w_wake, not by its timeout */
} w_thread_t;

struct rs_worker_s {
	const rs_conf_t *conf;
	const rs_conf_global_t *g;
	rs_queue_t *q;         /**< jobs topic consumer + every producer */
	rs_queue_t *rq;        /**< retry topic consumer (own group) */
	rs_metrics_t *metrics;
	rs_metric_t *m_jobs, *m_inflight, *m_http;
	rs_metric_t *m_http_dur;  /**< request latency by target */
	rs_metric_t *m_job_lat;   /**< planned (created) -> finished */
	rs_metric_t *m_limit;     /**< per-tenant concurrency limit */
	rs_metric_t *m_paused;    /**< 1 while fetching is paused */
	rs_metric_t *m_lag;       /**< consumer lag per assigned partition */
	/** Held by the metrics collect hook while it reads the queues, so
	 *  rs_worker_destroy() never frees them under a scrape. */
	pthread_mutex_t collect_lock;
	bool queues_gone;         /**< collect_lock: queues destroyed */
	pthread_mutex_t lock;
	rs_wsched_t *sched;
	w_tenant_t *tenants;
	size_t tenant_cnt;
	uint32_t *tenant_slots;  /**< id hash -> index + 1 (0 = empty) */
	size_t tenant_slot_cnt;  /**< a power of two, at least 2 x tenants */
	w_thread_t *threads;
	int thread_cnt;
	atomic_bool stop;      /**< rs_worker_stop(): from a signal handler */
	atomic_bool ready;     /**< /readyz: consuming, not draining */
	bool draining;         /**< pool: no new jobs, exit when idle */
	int64_t wake_us;       /**< earliest pause/pacing end refused */
	struct w_thread_s **idle; /**< pool threads waiting, a stack */
	int idle_cnt;
	pthread_condattr_t cattr; /**< CLOCK_MONOTONIC, for the threads' */
	size_t seeded;         /**< applied records read at start */
	size_t seed_bad;       /**< unreadable applied records */
	int64_t last_activity; /**< monotonic ms of the last arrival/finish */
	/* The two most recent job starts by different tenants (index,
	 * monotonic ms): whether a tenant other than T started a job lately
	 * is one look (w_others_active). */
	int start_tn[2];
	int64_t start_ms[2];
	/* The retry consumer's window (worker.retry_max_held) is shared out
	 * among the tenants holding retry jobs (w_recycle_due_locked). */
	int rheld_tenants;     /**< tenants with rheld > 0 */
	int64_t cycle_epoch;   /**< monotonic ms the current second began */
	int cycle_cnt;         /**< retry records sent back in that second */
	int cycle_budget;      /**< how many it may send back (0 = max) */
	bool cycle_took;       /**< a retry record was taken in that second */
	rs_worker_stats_t st;
};

static const rs_log_ctx_t *W_LOG = NULL;

/* A job's log context: JSON logs carry tenant, job id, key, generation,
 * attempt and request-id as fields (issue 5, observability). */
static rs_log_ctx_t w_ctx(const w_job_t *j, int attempt,
			  const char *request_id) {
	rs_log_ctx_t c;
	c.tenant = j->env.tenant;
	c.job_id = j->env.id;
	c.key = j->env.key;
	c.generation = j->env.generation;
	c.attempt = attempt;
	c.request_id = request_id;
	return c;
}

/* Longest a scrape waits for one queue's lag (broker round trips or the
 * SQLite count); a partition not answered in time is left out. */
#define W_LAG_TIMEOUT_MS 500
/* Partitions reported per scrape (both consumers); more are left out. */
#define W_LAG_MAX 4096

/* Header of retry-topic messages: attempts made in this life of the job. */
#define W_HDR_ATTEMPTS "rs-attempts"

/* ------------------------------------------------------------------ */
/* Metrics                                                            */

/* rostersync_jobs_total{kind,tenant,outcome}.  The tenant label is off by
 * default: hundreds of tenants x kinds x outcomes would multiply series
 * (worker.metrics_tenant_labels turns it on). */
static void w_count_as(rs_worker_t *w, const char *kind, const char *tenant,
		       const char *outcome) {
	const char *v[3];
	v[0] = kind ? kind : "invalid";
	v[1] = tenant && w->g->worker.metrics_tenant_labels ? tenant : "";
	v[2] = outcome;
	rs_metric_add(w->m_jobs, v, 1);
}

static void w_count(rs_worker_t *w, const w_job_t *j, const char *outcome) {
	const char *v[1];
	if (!w->m_jobs)
		return;
	v[0] = j && j->env.kind ? j->env.kind : "invalid";
	w_count_as(w, v[0], j ? j->env.tenant : NULL, outcome);
	/* End-to-end latency of the change (planner's created time to this
	 * outcome), for outcomes that end the job. */
	if (j && j->env.created > 0 && w->m_job_lat &&
	    (!strcmp(outcome, "applied") || !strcmp(outcome, "noop") ||
	     !strcmp(outcome, "dead_lettered"))) {
		int64_t ms = rs_wall_ms() - j->env.created;
		rs_metric_observe(w->m_job_lat, v,
				  ms > 0 ? (double)ms / 1000.0 : 0.0);
	}
}

/* rs_http observe callback (any pool thread): counts every request by
 * target and status; rs_metric_add is thread-safe. */
static void w_http_observe(const rs_http_event_t *ev, void *opaque) {
	rs_worker_t *w = opaque;
	char st[16];
	const char *v[3];
	if (!w->m_http)
		return;
	const char *dv[1];
	rs_snprintf(st, sizeof(st), "%d", ev->status);
	v[0] = ev->target ? ev->target : "";
	v[1] = st;
	v[2] = ev->tenant && w->g->worker.metrics_tenant_labels ? ev->tenant
								: "";
	rs_metric_add(w->m_http, v, 1);
	dv[0] = v[0];
	rs_metric_observe(w->m_http_dur, dv, (double)ev->elapsed_us / 1e6);
}

/* ------------------------------------------------------------------ */
/* Jobs                                                               */

static void w_job_free(w_job_t *j) {
	if (!j)
		return;
	rs_envelope_cleanup(&j->env);
	rs_free(j);
}

/* The job enters the scheduler's hold (under w->lock): its tenant holds
 * one job more, of the retry topic's share too if it came from there. */
static void w_job_count_locked(rs_worker_t *w, w_job_t *j) {
	w_tenant_t *t;
	if (j->tenant_idx < 0 || j->counted)
		return;
	t = &w->tenants[j->tenant_idx];
	t->held++;
	if (j->q == w->rq && t->rheld++ == 0)
		w->rheld_tenants++;
	j->counted = true;
}

/* The job leaves the scheduler's hold (under w->lock). */
static void w_job_uncount_locked(rs_worker_t *w, w_job_t *j) {
	w_tenant_t *t;
	if (!j->counted)
		return;
	t = &w->tenants[j->tenant_idx];
	t->held--;
	if (j->q == w->rq && --t->rheld == 0)
		w->rheld_tenants--;
	j->counted = false;
}

/* A job leaves the worker: its tenant holds one job less. */
static void w_job_uncount(rs_worker_t *w, w_job_t *j) {
	if (!j->counted)
		return;
	pthread_mutex_lock(&w->lock);
	w_job_uncount_locked(w, j);
	pthread_mutex_unlock(&w->lock);
}

/* Retry records a worker may send back per second (w_recycle_due_locked):
 * at most w_cycle_max(), at least W_CYCLE_MIN. */
#define W_CYCLE_MIN 100
static int w_cycle_max(const rs_worker_t *w) {
	return RS_MAX(w->g->worker.retry_max_held, 1000);
}

/* Starts a new second of sending back when the last one is over (under
 * w->lock).  The budget halves after a second that spent it without
 * taking a single retry record (the consumer only went round the same
 * records: one tenant waiting alone), down to W_CYCLE_MIN, and is back at
 * its maximum once a record is taken or this worker defers a new job
 * (w_cycle_boost_locked): there is something to find again. */
static void w_cycle_roll_locked(rs_worker_t *w, int64_t now) {
	if (now - w->cycle_epoch < 1000)
		return;
	if (w->cycle_took || w->cycle_budget == 0)
		w->cycle_budget = w_cycle_max(w);
	else if (w->cycle_cnt >= w->cycle_budget)
		w->cycle_budget = RS_MAX(w->cycle_budget / 2, W_CYCLE_MIN);
	w->cycle_epoch = now;
	w->cycle_cnt = 0;
	w->cycle_took = false;
}

static void w_cycle_boost_locked(rs_worker_t *w) {
	w->cycle_budget = w_cycle_max(w);
}

/* Whether this second's budget is spent (under w->lock): the retry
 * consumer is then not polled until the second ends, so it does not fill
 * its window with what it could no longer send back. */
static bool w_cycle_spent_locked(rs_worker_t *w) {
	w_cycle_roll_locked(w, rs_now_ms());
	return w->cycle_cnt >= w->cycle_budget;
}

/* Marks the job's message done (offset may advance) and frees the job. */
static void w_job_done(rs_worker_t *w, w_job_t *j) {
	w_job_uncount(w, j);
	if (j->msg)
		rs_queue_msg_done(j->q, j->msg);
	j->msg = NULL;
	w_job_free(j);
}

/* Gives the job's message back unfinished: its offset is not stored, so it
 * is redelivered to the partition's next owner (shutdown, revoke). */
static void w_job_release(rs_worker_t *w, w_job_t *j) {
	w_job_uncount(w, j);
	if (j->msg)
		rs_queue_msg_release(j->q, j->msg);
	j->msg = NULL;
	w_job_free(j);
}

/* One record w_send_sync waits for.  Heap-allocated: a wait that gives up
 * leaves it to the delivery report, which always comes (librdkafka's
 * message.timeout.ms) and then frees it. */
enum { W_SYNC_WAITING, W_SYNC_OK, W_SYNC_FAILED, W_SYNC_ABANDONED };
typedef struct w_sync_s {
	uint32_t tag; /**< W_TAG_SYNC */
	atomic_int state;
} w_sync_t;

/* How long w_send_sync waits for one delivery report before it sends the
 * record again (a duplicate is harmless: at-least-once). */
#define W_SYNC_WAIT_MS 30000

/* The delivery report of a w_sync_t (producer's thread). */
static void w_sync_report(w_sync_t *s, bool ok) {
	if (atomic_exchange(&s->state, ok ? W_SYNC_OK : W_SYNC_FAILED) ==
	    W_SYNC_ABANDONED)
		rs_free(s);
}

/* Produces one record and waits for ITS delivery report, not for every
 * record in flight: the worker's producer never goes quiet while jobs are
 * applied and retry records are sent back, so a flush could time out
 * with this record long stored.  RS_ERR_TIMEOUT: no report in time. */
static rs_err_t w_produce_wait(rs_worker_t *w, const char *topic,
			       const char *key, const char *val, size_t len,
			       const rs_queue_header_t *hdrs, size_t hdr_cnt) {
	w_sync_t *s = rs_calloc(1, sizeof(*s));
	int64_t end = rs_now_ms() + W_SYNC_WAIT_MS;
	int st = W_SYNC_WAITING;
	rs_err_t err;

	s->tag = W_TAG_SYNC;
	atomic_init(&s->state, W_SYNC_WAITING);
	err = rs_queue_produce(w->q, topic, key, key ? strlen(key) : 0, val,
			       len, hdrs, hdr_cnt, s);
	if (err != RS_OK) {
		rs_free(s);
		return err;
	}
	while ((st = atomic_load(&s->state)) == W_SYNC_WAITING &&
	       rs_now_ms() < end)
		usleep(1000);
	if (st == W_SYNC_WAITING &&
	    atomic_compare_exchange_strong(&s->state, &st, W_SYNC_ABANDONED))
		return RS_ERR_TIMEOUT; /* the report frees it */
	rs_free(s);
	return st == W_SYNC_OK ? RS_OK : RS_ERR_QUEUE;
}

/*
 * Produces one DLQ or retry-topic record and waits for its delivery;
 * retried with backoff while the worker runs, because marking the job done
 * before the record is stored would lose it (guarantee 1).  Not on the
 * producer's thread (it serves the report waited for).
 * @returns true when delivered.
 */
static bool w_send_sync(rs_worker_t *w, const char *topic, const char *key,
			const char *val, size_t len,
			const rs_queue_header_t *hdrs, size_t hdr_cnt) {
	int attempt = 0;
	rs_err_t err;

	for (;;) {
		err = w_produce_wait(w, topic, key, val, len, hdrs, hdr_cnt);
		if (err == RS_OK)
			return true;
		rs_log(W_LOG, LOG_ERR, "QUEUE",
		       "produce to %s failed (attempt %d): %s", topic,
		       attempt + 1, rs_err_str(err));
		if (atomic_load(&w->stop) || err == RS_ERR_QUEUE_FATAL)
			return false;
		/* No jitter needed: one record, one thread. */
		usleep((useconds_t)(rs_http_backoff_ms(attempt++, 200, 5000,
							NULL, NULL) *
				    1000));
	}
}

static bool w_dlq_send(rs_worker_t *w, const char *key, const char *val,
		       size_t len) {
	return w_send_sync(w, w->g->queue.kafka.topics.dlq, key, val, len,
			   NULL, 0);
}

/* Builds the {"v":1,"kind":"invalid",...} record for an undecodable
 * message.  The raw payload is kept (bounded) for the operator; it is the
 * planner's output and holds no credentials. */
static char *w_invalid_record(const void *val, size_t len, const char *why) {
	cJSON *o = cJSON_CreateObject();
	char *raw, *out;
	size_t n = len > W_RAW_MAX ? W_RAW_MAX : len;

	raw = rs_malloc(n + 1);
	if (n)
		memcpy(raw, val, n);
	raw[n] = '\0';
	/* cJSON strings stop at NUL: replace embedded ones. */
	for (size_t i = 0; i < n; i++)
		if (!raw[i])
			raw[i] = '?';
	cJSON_AddNumberToObject(o, "v", 1);
	cJSON_AddStringToObject(o, "kind", "invalid");
	cJSON_AddStringToObject(o, "raw", raw);
	cJSON_AddBoolToObject(o, "raw_truncated", n < len);
	cJSON_AddStringToObject(o, "error", why);
	cJSON_AddNumberToObject(o, "time", (double)rs_wall_ms());
	out = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	rs_free(raw);
	rs_assert(out);
	return out;
}

/* ------------------------------------------------------------------ */
/* Tenants and Graph clients                                          */

/* FNV-1a of a tenant id, for the id -> index table. */
static uint32_t w_tenant_hash(const char *s) {
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

/* Builds the id -> index table (open addressing, at most half full):
 * every job looks its tenant up, and an MSP has hundreds. */
static void w_tenant_index(rs_worker_t *w) {
	size_t i, cap = 16;
	while (cap < w->tenant_cnt * 2)
		cap *= 2;
	w->tenant_slot_cnt = cap;
	w->tenant_slots = rs_calloc(cap, sizeof(*w->tenant_slots));
	for (i = 0; i < w->tenant_cnt; i++) {
		size_t s = w_tenant_hash(rs_conf_tenant(w->conf, i)->id) &
			   (cap - 1);
		while (w->tenant_slots[s])
			s = (s + 1) & (cap - 1);
		w->tenant_slots[s] = (uint32_t)i + 1;
	}
}

/* The configuration index of tenant @p id, -1 when unknown (or NULL). */
static int w_tenant_find(const rs_worker_t *w, const char *id) {
	size_t s;
	if (!id)
		return -1;
	s = w_tenant_hash(id) & (w->tenant_slot_cnt - 1);
	for (; w->tenant_slots[s]; s = (s + 1) & (w->tenant_slot_cnt - 1)) {
		size_t i = w->tenant_slots[s] - 1;
		if (!strcmp(rs_conf_tenant(w->conf, i)->id, id))
			return (int)i;
	}
	return -1;
}

/* Creates the tenant's Entra provider (called under w->lock; rs_auth_new
 * sends nothing, so this is quick).  The secret is wiped right after. */
static void w_tenant_setup(rs_worker_t *w, size_t idx) {
	const rs_conf_tenant_t *tn = rs_conf_tenant(w->conf, idx);
	w_tenant_t *t = &w->tenants[idx];
	rs_auth_conf_t ac;
	char secret[4096], pw[1024], err[256];
	rs_err_t e;

	secret[0] = pw[0] = '\0';
	rs_auth_conf_init(&ac);
	ac.flavour = RS_AUTH_ENTRA;
	ac.tenant = tn->id;
	ac.login_base_url = tn->graph.login_url;
	ac.directory = tn->graph.tenant_id;
	ac.client_id = tn->graph.client_id;
	ac.ca_file = w->g->http.ca_file;
	switch (tn->graph.auth) {
	case RS_CONF_AUTH_SECRET:
		ac.cred = RS_AUTH_CRED_SECRET;
		e = rs_conf_tenant_secret(tn, "tenant.graph.client_secret",
					  secret, sizeof(secret), err,
					  sizeof(err));
		if (e != RS_OK)
			goto fail;
		ac.client_secret = secret;
		break;
	case RS_CONF_AUTH_CERT_PFX:
		ac.cred = RS_AUTH_CRED_PFX;
		ac.pfx_path = tn->graph.certificate.pfx;
		e = rs_conf_tenant_secret(tn,
					  "tenant.graph.certificate.pfx_password",
					  pw, sizeof(pw), err, sizeof(err));
		if (e != RS_OK && e != RS_ERR_NOT_FOUND)
			goto fail;
		ac.pfx_password = pw;
		break;
	default:
		ac.cred = RS_AUTH_CRED_PEM;
		/* The key is a secret reference ("file:..."): its resolved
		 * value would be the PEM text, but rs_auth wants a path, so
		 * only file: references are supported here. */
		if (!tn->graph.certificate.key ||
		    strncmp(tn->graph.certificate.key, "file:", 5)) {
			rs_snprintf(err, sizeof(err),
				    "graph.certificate.key must be file:PATH");
			goto fail;
		}
		ac.key_pem_path = tn->graph.certificate.key + 5;
		ac.cert_pem_path = tn->graph.certificate.cert;
		break;
	}
	t->auth = rs_auth_new(&ac, err, sizeof(err));
	if (!t->auth)
		goto fail;
	rs_wipe(secret, sizeof(secret));
	rs_wipe(pw, sizeof(pw));
	return;
fail:
	rs_wipe(secret, sizeof(secret));
	rs_wipe(pw, sizeof(pw));
	t->failed = true;
	rs_snprintf(t->error, sizeof(t->error), "tenant %s: %s", tn->id, err);
	rs_log(W_LOG, LOG_ERR, "TENANT", "%s", t->error);
}

/* This thread's Graph client for the tenant, NULL with *why set. */
static rs_graph_t *w_graph_get(w_thread_t *th, int tenant_idx,
			       const char **why) {
	rs_worker_t *w = th->w;
	const rs_conf_tenant_t *tn;
	size_t idx;
	rs_graph_conf_t gc;
	char err[256];
	bool failed;

	*why = "unknown tenant";
	if (tenant_idx < 0)
		return NULL;
	idx = (size_t)tenant_idx;
	tn = rs_conf_tenant(w->conf, idx);
	if (!tn->enabled) {
		*why = "tenant disabled";
		return NULL;
	}
	if (th->graphs[idx])
		return th->graphs[idx];
	pthread_mutex_lock(&w->lock);
	if (!w->tenants[idx].auth && !w->tenants[idx].failed)
		w_tenant_setup(w, idx);
	failed = w->tenants[idx].failed;
	pthread_mutex_unlock(&w->lock);
	if (failed) {
		/* error is written once, before failed is set, under the
		 * lock: stable from here on. */
		*why = w->tenants[idx].error;
		return NULL;
	}
	rs_graph_conf_init(&gc);
	gc.tenant = tn->id;
	gc.base_url = tn->graph.base_url;
	gc.http = th->http;
	gc.auth = w->tenants[idx].auth;
	/* No retry in place: every failed attempt comes back to the worker,
	 * which parks the job without holding this thread and, on a 429,
	 * pauses the tenant and adapts its limit (w_tenant_adapt).  An
	 * in-place resend would be a request outside the tenant's limit. */
	gc.max_attempts = 1;
	gc.max_wait_ms = 0;
	gc.retry_base_ms = w->g->worker.retry_base_ms;
	gc.retry_max_ms = w->g->worker.retry_max_ms;
	th->graphs[idx] = rs_graph_new(&gc, err, sizeof(err));
	if (!th->graphs[idx]) {
		*why = "graph client creation failed";
		rs_log(W_LOG, LOG_ERR, "TENANT", "tenant %s: %s", tn->id, err);
	}
	return th->graphs[idx];
}

/* ------------------------------------------------------------------ */
/* Applying a job (pool thread, no lock held)                         */

typedef enum {
	W_OUT_APPLIED,
	W_OUT_NOOP,
	W_OUT_RETRY,
	W_OUT_DLQ,
} w_outcome_t;

/* xorshift64 per thread: jitter needs no quality, only no shared state
 * (rand() would be a hidden global, and a lock for jitter is silly). */
static uint64_t w_rand(void *opaque) {
	w_thread_t *th = opaque;
	th->rnd ^= th->rnd << 13;
	th->rnd ^= th->rnd >> 7;
	th->rnd ^= th->rnd << 17;
	return th->rnd;
}

/* What one attempt did, for the caller to account under one lock. */
typedef struct w_attempt_s {
	int64_t delay_ms;   /**< W_OUT_RETRY: the wait */
	uint64_t writes;    /**< Graph writes sent */
	uint64_t requests;  /**< HTTP requests sent */
	bool throttled;     /**< a 429 was met */
} w_attempt_t;

/*
 * Runs one attempt of @p j (no lock held).  On W_OUT_RETRY a->delay_ms is
 * the wait; on W_OUT_DLQ an error entry was appended to the envelope.
 */
static w_outcome_t w_apply(w_thread_t *th, w_job_t *j, w_attempt_t *a) {
	rs_worker_t *w = th->w;
	rs_log_ctx_t ctx;
	rs_env_group_members_t *m = &j->env.members;
	rs_graph_call_t call;
	rs_error_t *e = NULL;
	rs_graph_t *gr;
	const char *why = NULL, **ids = NULL;
	w_outcome_t out;
	size_t i, n;
	int attempt;

	j->attempts++;
	attempt = j->env.attempt + j->attempts;
	rs_graph_call_init(&call, NULL, j->env.trace);
	if (j->env.kind_id != RS_ENV_KIND_GROUP_MEMBERS) {
		why = "unsupported job kind";
		goto permanent;
	}
	gr = w_graph_get(th, j->tenant_idx, &why);
	if (!gr)
		goto permanent;
	n = m->add_cnt > m->remove_cnt ? m->add_cnt : m->remove_cnt;
	/* rs_graph takes plain id arrays; one scratch array serves both. */
	ids = rs_calloc(n ? n : 1, sizeof(*ids));
	/* Adds first, then removes: a member being replaced is never
	 * missing from both states at once. */
	if (m->add_cnt) {
		for (i = 0; i < m->add_cnt; i++)
			ids[i] = m->adds[i].id;
		e = rs_graph_members_add(gr, m->group_id, ids, m->add_cnt,
					 &call, NULL);
	}
	if (!e && m->remove_cnt) {
		for (i = 0; i < m->remove_cnt; i++)
			ids[i] = m->removes[i].id;
		e = rs_graph_members_remove(gr, m->group_id, ids,
					    m->remove_cnt, &call, NULL);
	}
	rs_free(ids);
	a->writes = call.writes;
	a->requests = call.requests;
	a->throttled = call.throttled > 0;
	if (!e)
		return call.writes ? W_OUT_APPLIED : W_OUT_NOOP;

	/* Every failed attempt is recorded, not only the last: the DLQ
	 * reader sees the 429s that preceded a final 5xx.  The history is
	 * bounded by rs_envelope (first and last entries kept). */
	rs_envelope_error_append(
		&j->env, rs_wall_ms(), attempt,
		call.http_status ? call.http_status : rs_error_http_status(e),
		call.error_code[0] ? call.error_code
				   : rs_err_name(rs_error_code(e)),
		call.error_message[0] ? call.error_message : rs_error_msg(e),
		call.request_id[0] ? call.request_id : NULL);
	if (rs_error_retriable(e) && j->attempts < w->g->worker.max_attempts) {
		/* j->attempts counts this life of the job: attempts made
		 * before a trip through the retry topic come back in the
		 * W_HDR_ATTEMPTS header, a DLQ replay starts afresh. */
		int64_t ra = rs_error_retry_after_ms(e);
		/* Retry-After is the server's budget: honoured exactly.
		 * Without it, exponential backoff with full jitter. */
		a->delay_ms = ra >= 0 ? ra
				    : rs_http_backoff_ms(j->attempts - 1,
							 w->g->worker.retry_base_ms,
							 w->g->worker.retry_max_ms,
							 w_rand, th);
		out = W_OUT_RETRY;
	} else {
		out = W_OUT_DLQ;
	}
	ctx = w_ctx(j, attempt,
		    call.request_id[0] ? call.request_id : NULL);
	rs_log(&ctx, out == W_OUT_RETRY ? LOG_NOTICE : LOG_WARNING, "JOB",
	       "tenant %s key %s generation %" PRId64 " attempt %d: %s%s",
	       j->env.tenant, j->env.key, j->env.generation, attempt,
	       rs_error_msg(e),
	       out == W_OUT_RETRY ? " (will retry)" : " (dead-lettered)");
	rs_error_destroy(e);
	return out;

permanent:
	rs_envelope_error_append(&j->env, rs_wall_ms(), attempt, 0,
				 "rostersync", why, NULL);
	ctx = w_ctx(j, attempt, NULL);
	rs_log(&ctx, LOG_WARNING, "JOB",
	       "tenant %s key %s generation %" PRId64 ": %s (dead-lettered)",
	       j->env.tenant ? j->env.tenant : "-", j->env.key,
	       j->env.generation, why);
	return W_OUT_DLQ;
}

/*
 * A job's retry-topic record: the envelope with its due time (not_before,
 * @p delay_ms from now) and a header with the attempts of this life
 * (@p att is the header's value buffer).  @returns the encoded record
 * (rs_free), or NULL, not_before cleared and the reason logged.
 */
static char *w_retry_record(w_job_t *j, int64_t delay_ms, size_t *len,
			    rs_queue_header_t *h, char att[16]) {
	char *txt = NULL, err[256];

	j->env.not_before = rs_wall_ms() + delay_ms;
	if (rs_envelope_encode(&j->env, &txt, len, err, sizeof(err)) !=
	    RS_OK) {
		rs_log_ctx_t ctx = w_ctx(j, 0, NULL);
		rs_log(&ctx, LOG_ERR, "JOB", "key %s: encoding for the retry "
		       "topic: %s", j->env.key, err);
		j->env.not_before = 0;
		return NULL;
	}
	rs_snprintf(att, 16, "%d", j->attempts);
	h->name = W_HDR_ATTEMPTS;
	h->value = att;
	h->size = strlen(att);
	return txt;
}

/*
 * Guarantee 5: a wait longer than worker.retry_hold_max leaves the worker.
 * The job goes to the retry topic with its due time (envelope not_before)
 * and its attempts so far (header), and its jobs-topic message is finished,
 * so the partition's position moves on.  The retry consumer (its own
 * group, at most worker.retry_max_held jobs held) hands it back; a newer
 * generation applied meanwhile supersedes it.  @returns false when it could
 * not be stored (stopping): the caller keeps it in memory instead.
 */
static bool w_defer(rs_worker_t *w, w_job_t *j, int64_t delay_ms) {
	char *txt, att[16];
	rs_queue_header_t h;
	size_t len = 0;
	bool ok;

	txt = w_retry_record(j, delay_ms, &len, &h, att);
	if (!txt)
		return false;
	ok = w_send_sync(w, w->g->queue.kafka.topics.retry, j->env.key, txt,
			 len, &h, 1);
	rs_free(txt);
	if (!ok)
		j->env.not_before = 0;
	return ok;
}

/* Encodes the job with its error history and stores it in the DLQ. */
static bool w_dlq_job(rs_worker_t *w, w_job_t *j) {
	char *txt = NULL, err[256];
	size_t len = 0;
	bool ok;

	/* "attempt" = attempts already made, so a replay continues the
	 * count (and the error history's numbering). */
	j->env.attempt += j->attempts;
	j->attempts = 0;

	if (rs_envelope_encode(&j->env, &txt, &len, err, sizeof(err)) !=
	    RS_OK) {
		/* Should not happen (it was decoded); keep the job anyway. */
		char *rec = w_invalid_record("", 0, err);
		ok = w_dlq_send(w, j->sj.key, rec, strlen(rec));
		cJSON_free(rec);
		return ok;
	}
	ok = w_dlq_send(w, j->sj.key, txt, len);
	rs_free(txt);
	return ok;
}

/* How long a tenant counts as active after its last job start. */
#define W_ACTIVE_MS 1000

/* Whether a tenant other than @p idx started a job within W_ACTIVE_MS
 * (under w->lock). */
static bool w_others_active(const rs_worker_t *w, int idx) {
	return rs_now_ms() - w->start_ms[w->start_tn[0] == idx] < W_ACTIVE_MS;
}

/* Admission: a tenant at its concurrency limit starts nothing more. */
static bool w_can_run(rs_wjob_t *sj, void *opaque) {
	rs_worker_t *w = opaque;
	const w_job_t *j = sj->opaque;
	const w_tenant_t *t;
	if (j->tenant_idx < 0)
		return true;
	t = &w->tenants[j->tenant_idx];
	if (t->running >= (int)t->limit)
		return false; /* its next finish picks again */
	/* Half the pool at most while other tenants are active: a burst
	 * would otherwise take every thread whenever none of the others had
	 * a job waiting at that moment, and their next jobs would wait for
	 * one of its jobs to finish.  Alone, a tenant may use the pool. */
	if (t->running >= RS_MAX(w->thread_cnt / 2, 1) &&
	    w_others_active(w, j->tenant_idx))
		return false; /* its next finish picks again */
	{
		int64_t now_us = rs_now_us();
		int64_t until = RS_MAX(t->paused_until * 1000,
				       t->rate > 0 ? t->next_slot_us : 0);
		if (now_us < until) {
			/* Nothing wakes the pool when a pause ends: the pool
			 * sleeps until the earliest one instead. */
			if (until < w->wake_us)
				w->wake_us = until;
			return false;
		}
	}
	return true;
}

/*
 * Pacing (guarantee 4).  Graph's budget is a token bucket per tenant
 * (graph.md §5): it refills at a steady rate R, saved-up tokens are spent
 * first, and a 429 is charged too, so once the bucket is empty every
 * request sent faster than R fails.  A 429 says "the bucket is empty now",
 * and between two congestion events the bucket went from empty to empty:
 * the jobs started in between, over the time in between, are R.  The
 * requests in flight at a cut were charged to the empty bucket (the debt
 * the next interval first refills), so they are added at the start of an
 * interval and the ones in flight at its end taken off: (starts +
 * in flight at the last cut - in flight now) / interval.  Each event sets
 * the curve's plateau rate_w to that estimate when it is sound (at least
 * W_EST_MIN_MS long, and the tenant used its pacing slots rather than
 * being short of jobs or threads); otherwise to 0.85 x the rate that met
 * the 429 (multiplicative decrease), or, at the first 429, to half the
 * rate the saved-up budget was spent at (a guess: the next cut or two
 * correct it).  After the event the rate follows CUBIC's curve (RFC 8312)
 * in jobs/s: W_BETA x rate_w at once, flat around rate_w after k_ms
 * (W_K_MS, or the faster W_K_GUESS_MS after a guess), then ever faster
 * above it, so a larger budget is found too.  Under the plateau the bucket
 * saves the unused budget, above it that is spent: sustained throughput
 * is R, with one congestion event (about R x latency 429s, the requests
 * in flight) every 2 x W_K_MS or so.
 */
#define W_BETA 0.95
#define W_K_MS 5000.0
#define W_K_GUESS_MS 2000.0
#define W_EST_MIN_MS 500
#define W_WIN_MS 250

static double w_pace_rate(const w_tenant_t *t, int64_t now_ms) {
	double x = ((double)(now_ms - t->last_cut) - t->k_ms) / t->k_ms;
	if (x > 20)
		x = 20; /* hours without a 429: effectively unpaced */
	return t->rate_w * (1 + (1 - W_BETA) * x * x * x);
}

/* A job of tenant @p idx starts (under w->lock): reserves its pacing
 * slot. */
static void w_tenant_start(rs_worker_t *w, int idx) {
	w_tenant_t *t = &w->tenants[idx];
	int64_t now_us = rs_now_us(), now = now_us / 1000;

	if (w->start_tn[0] != idx) {
		w->start_tn[1] = w->start_tn[0];
		w->start_ms[1] = w->start_ms[0];
		w->start_tn[0] = idx;
	}
	w->start_ms[0] = now;

	t->running++;
	t->starts++;
	t->win_starts++;
	if (now - t->win_ms >= W_WIN_MS) {
		double r = t->win_starts * 1000.0 / (double)(now - t->win_ms);
		t->start_rate = t->start_rate > 0 ? 0.5 * t->start_rate + 0.5 * r
						  : r;
		t->win_ms = now;
		t->win_starts = 0;
	}
	if (t->rate_w > 0) {
		int64_t iv;
		t->rate = w_pace_rate(t, now);
		iv = (int64_t)(1e6 / t->rate);
		/* A start up to one interval late (a pool thread's wake-up)
		 * keeps its slot: the next one follows at once.  Later, the
		 * slot passed with no job to start: unused budget, which
		 * makes the interval's start count no estimate. */
		if (now_us - iv > t->next_slot_us) {
			t->idle_us += now_us - iv - t->next_slot_us;
			t->next_slot_us = now_us - iv;
		}
		t->next_slot_us += iv;
	}
}

/*
 * One attempt of a tenant's job ended (under w->lock).  AIMD as TCP does
 * it: one cut per congestion event, not per 429.  Requests already in
 * flight when the budget ran out all meet the same empty bucket; their
 * 429s say nothing new, so only an attempt that STARTED after the last
 * cut may cut again.  A throttled attempt's Retry-After (@p pause_ms)
 * pauses the whole tenant: starting more jobs inside it would only be
 * charged and throttled.  The concurrency limit halves per event and grows
 * by 1/limit per success (about one per round of the limit's worth of
 * jobs); the pacing rate is set as above.
 */
static void w_tenant_adapt(rs_worker_t *w, w_tenant_t *t, bool throttled,
			   int64_t started, int64_t pause_ms) {
	double max = (double)w->g->worker.tenant_concurrency_max;
	int64_t now = rs_now_ms(), dt;
	double cur, est, k_ms;

	t->running--;
	/* Attempt duration, smoothed: the round trip a cut waits out, and
	 * with the limit the rate the tenant could start at. */
	t->lat_ewma = t->lat_ewma > 0
			      ? 0.8 * t->lat_ewma + 0.2 * (double)(now - started)
			      : (double)(now - started);
	if (!throttled) {
		t->limit = t->limit + 1 / t->limit > max ? max
							   : t->limit + 1 / t->limit;
		return;
	}
	if (pause_ms > 0 && now + pause_ms > t->paused_until) {
		t->paused_until = now + pause_ms;
		/* The pause is not unused pacing time. */
		t->next_slot_us = RS_MAX(t->next_slot_us,
					 t->paused_until * 1000);
	}
	if (started <= t->last_cut)
		return;
	dt = now - t->last_cut;
	k_ms = W_K_MS;
	if (t->rate_w <= 0) {
		k_ms = W_K_GUESS_MS;
		/* The start rate that emptied the bucket, measured or what
		 * the limit allowed, whichever is higher: too high only
		 * costs another cut or two at once, too low a slow climb. */
		est = 0.5 * RS_MAX(t->start_rate,
				   t->limit * 1000.0 / RS_MAX(t->lat_ewma, 1.0));
	} else {
		cur = w_pace_rate(t, now);
		/* The requests in flight at a cut are charged to the empty
		 * bucket: the debt at either end of the interval. */
		est = (double)(t->starts + t->cut_inflight - t->running) *
		      1000.0 / (double)RS_MAX(dt, 1);
		if (t->idle_us * 10 > dt * 1000) {
			/* Short of jobs or threads, not of slots: the rate
			 * that met the 429 is the one measured. */
			est = 0.85 * RS_MIN(cur, RS_MAX(t->start_rate, 1.0));
			k_ms = W_K_GUESS_MS;
		} else if (dt < W_EST_MIN_MS) {
			est = 0.85 * cur;
		}
		if (est > cur)
			est = cur;
	}
	t->limit = t->limit / 2 < 1 ? 1 : t->limit / 2;
	/* The other requests in flight meet the same empty bucket: no start
	 * until they are back (their Retry-Afters extend the pause). */
	t->paused_until = RS_MAX(t->paused_until, now + (int64_t)t->lat_ewma);
	t->next_slot_us = RS_MAX(t->next_slot_us, t->paused_until * 1000);
	t->rate_w = RS_MAX(est, 0.1);
	t->k_ms = k_ms;
	t->last_cut = now;
	t->starts = 0;
	t->idle_us = 0;
	t->cut_inflight = t->running;
	t->rate = w_pace_rate(t, now);
}

/*
 * Records an applied (or already satisfied) job on the compacted applied
 * topic (guarantee 8): {key, generation, job id, time}.  The job's message
 * is finished only when that record is delivered (w_on_delivery), so a
 * crash in between redelivers the job, which is then a no-op and records
 * again: the record is never missing for an applied job, and replay can
 * trust it to spot superseded DLQ entries.
 */
static void w_applied_send(rs_worker_t *w, w_job_t *j) {
	const char *topic = w->g->queue.kafka.topics.applied;
	char *rec = rs_topics_applied_record(j->env.key, j->env.generation,
					     j->env.id, rs_wall_ms());
	rs_err_t err;
	int tries = 0;

	/* AGAIN = the producer's local queue is full: wait for room. */
	while ((err = rs_queue_produce(w->q, topic, j->env.key,
				       strlen(j->env.key), rec, strlen(rec),
				       NULL, 0, j)) == RS_ERR_AGAIN &&
	       tries++ < 500)
		usleep(10000);
	rs_free(rec);
	if (err != RS_OK) {
		/* Not recorded: give the message back (redelivered after the
		 * next rebalance or restart, then a no-op that records). */
		rs_log_ctx_t ctx = w_ctx(j, 0, NULL);
		rs_log(&ctx, LOG_ERR, "JOB",
		       "key %s generation %" PRId64 ": applied record to %s "
		       "not produced: %s (job will be redelivered)",
		       j->env.key, j->env.generation, topic, rs_err_str(err));
		w_job_release(w, j);
	}
}

static void w_hold(rs_worker_t *w, w_job_t *j, bool arrival);

/* Delivery reports of the worker's producer: applied records and
 * deferrals carry their job, DLQ and retry records sent by w_send_sync a
 * w_sync_t. */
static void w_on_delivery(rs_queue_t *q, rs_err_t err, const char *errstr,
			  void *msg_opaque, void *opaque) {
	rs_worker_t *w = opaque;
	w_job_t *j = msg_opaque;
	rs_log_ctx_t ctx;
	bool draining;
	(void)q;
	if (!j)
		return;
	/* A pointer to a struct points to its first member too. */
	if (*(const uint32_t *)msg_opaque == W_TAG_SYNC) {
		w_sync_report(msg_opaque, err == RS_OK);
		return;
	}
	if (j->deferring) {
		j->deferring = false;
		if (err == RS_OK) {
			w_job_done(w, j);
			return;
		}
		/* Not stored in the retry topic: hold it after all, or,
		 * when the pool is already draining, give it back. */
		j->env.not_before = 0;
		pthread_mutex_lock(&w->lock);
		draining = w->draining;
		pthread_mutex_unlock(&w->lock);
		if (draining)
			w_job_release(w, j);
		else
			w_hold(w, j, false);
		return;
	}
	if (err == RS_OK) {
		w_job_done(w, j);
		return;
	}
	ctx = w_ctx(j, 0, NULL);
	rs_log(&ctx, LOG_ERR, "JOB",
	       "key %s generation %" PRId64 ": applied record not stored: %s "
	       "(job will be redelivered)",
	       j->env.key, j->env.generation, errstr ? errstr : "?");
	w_job_release(w, j);
}

/*
 * Wakes one idle pool thread, if any (under w->lock).  Each thread waits
 * on its own condition variable and the idle ones form a stack, so a
 * wake-up reaches exactly one sleeping thread, never one already woken:
 * a shared condition broadcast on every arrival and every finish cost
 * more CPU than the jobs themselves (bench/worker-bench overhead: over
 * half the pool's samples were futex wake-ups and context switches).
 * The most recently idle thread goes first (its cache is warm).
 */
static void w_wake(rs_worker_t *w) {
	w_thread_t *th;
	if (w->idle_cnt == 0)
		return;
	th = w->idle[--w->idle_cnt];
	th->signaled = true;
	pthread_cond_signal(&th->cond);
}

/* Takes the next runnable job, if any (under w->lock), and counts it as
 * started, so w_can_run sees it at once and no thread overshoots. */
static rs_wjob_t *w_pick(rs_worker_t *w) {
	rs_wjob_t *sj;
	w_job_t *j;

	w->wake_us = INT64_MAX;
	sj = rs_wsched_next(w->sched, rs_now_ms(), w_can_run, w);
	if (!sj)
		return NULL;
	j = sj->opaque;
	if (j->tenant_idx >= 0)
		w_tenant_start(w, j->tenant_idx);
	/* More may be waiting: pass the baton to one idle thread. */
	if (rs_wsched_cnt(w->sched) > rs_wsched_running(w->sched))
		w_wake(w);
	return sj;
}

/* Waits for work (under w->lock) until the earliest due time, pause end
 * or pacing slot, or a wake-up. */
static void w_idle_wait(rs_worker_t *w, w_thread_t *th) {
	int64_t now = rs_now_ms();
	int64_t wait = rs_wsched_wait_ms(w->sched, now, 200);
	struct timespec ts;

	if (w->wake_us != INT64_MAX)
		wait = RS_MIN(wait,
			      RS_MAX((w->wake_us - rs_now_us()) / 1000 + 1, 1));
	/* Never a wait computed from a past deadline (a due job its
	 * tenant's limit holds back): a negative tv_nsec made
	 * pthread_cond_timedwait fail with EINVAL without releasing the
	 * lock, and this thread spun holding it for ever (the 0320 hang). */
	rs_abstime_ms(CLOCK_MONOTONIC, wait, &ts);
	th->signaled = false;
	w->idle[w->idle_cnt++] = th;
	pthread_cond_timedwait(&th->cond, &w->lock, &ts);
	if (!th->signaled) {
		/* Timed out (or spurious): still on the stack. */
		int i;
		for (i = 0; i < w->idle_cnt; i++)
			if (w->idle[i] == th) {
				w->idle[i] = w->idle[--w->idle_cnt];
				break;
			}
	}
}

/*
 * A pool thread.  Per job it takes w->lock twice: once to account the
 * attempt, finish (or park) the job and take the next one, once inside
 * rs_queue when the message is done.  Nothing slow runs under the lock:
 * the Graph calls, the DLQ and retry-topic records and the applied record
 * are all sent outside it.
 */
static void *w_pool_main(void *arg) {
	w_thread_t *th = arg;
	rs_worker_t *w = th->w;
	rs_wjob_t *sj = NULL;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		w_attempt_t a = {0, 0, 0, false};
		const char *outcome = NULL;
		bool adapted = false, moved = false, parked = false;
		int64_t started;
		w_outcome_t out;
		w_job_t *j;

		if (!sj) {
			if (w->draining)
				break;
			sj = w_pick(w);
			if (!sj) {
				w_idle_wait(w, th);
				continue;
			}
		}
		j = sj->opaque;
		pthread_mutex_unlock(&w->lock);

		started = rs_now_ms();
		out = w_apply(th, j, &a);
		/* The slow paths (a record sent and flushed) adapt first, so
		 * the attempt's duration is measured without them. */
		if (out == W_OUT_DLQ ||
		    (out == W_OUT_RETRY && w->rq &&
		     a.delay_ms > w->g->worker.retry_hold_max_ms)) {
			pthread_mutex_lock(&w->lock);
			if (j->tenant_idx >= 0)
				w_tenant_adapt(w, &w->tenants[j->tenant_idx],
					       a.throttled, started,
					       a.throttled &&
							       out == W_OUT_RETRY
						       ? a.delay_ms
						       : 0);
			pthread_mutex_unlock(&w->lock);
			adapted = true;
			if (out == W_OUT_DLQ && !w_dlq_job(w, j)) {
				/* Not stored in the DLQ (stopping or fatal):
				 * give the message back so it is
				 * redelivered, never dropped. */
				pthread_mutex_lock(&w->lock);
				rs_wsched_finish(w->sched, sj, false);
				w->st.released++;
				w_job_uncount_locked(w, j);
				sj = NULL;
				pthread_mutex_unlock(&w->lock);
				w_job_release(w, j);
				pthread_mutex_lock(&w->lock);
				continue;
			}
			/* Guarantee 5: a long wait leaves memory. */
			if (out == W_OUT_RETRY)
				moved = w_defer(w, j, a.delay_ms);
		}

		pthread_mutex_lock(&w->lock);
		if (!adapted && j->tenant_idx >= 0)
			w_tenant_adapt(w, &w->tenants[j->tenant_idx],
				       a.throttled, started,
				       a.throttled && out == W_OUT_RETRY
					       ? a.delay_ms
					       : 0);
		w->st.graph_writes += a.writes;
		w->st.http_requests += a.requests;
		/* Finishing counts as activity: --until-idle waits for the
		 * idle period after the LAST job, not after the last poll. */
		w->last_activity = rs_now_ms();
		if (out == W_OUT_RETRY && !moved) {
			/* Parked in the scheduler, holding no thread: once
			 * the lock drops another thread may take it, so it
			 * is counted here. */
			rs_wsched_retry(w->sched, sj, rs_now_ms() + a.delay_ms);
			w->st.retried++;
			w_count(w, j, "retried");
			parked = true;
			w_wake(w); /* an idle thread re-arms its wait */
		} else if (moved) {
			/* Finished here, not applied: the same generation
			 * may come back and run. */
			rs_wsched_finish(w->sched, sj, false);
			w->st.deferred++;
			w_cycle_boost_locked(w);
			outcome = "deferred";
		} else {
			rs_wsched_finish(w->sched, sj, out != W_OUT_DLQ);
			if (out == W_OUT_APPLIED) {
				w->st.applied++;
				outcome = "applied";
			} else if (out == W_OUT_NOOP) {
				w->st.noop++;
				outcome = "noop";
			} else {
				w->st.dead_lettered++;
				outcome = "dead_lettered";
			}
		}
		if (!parked)
			w_job_uncount_locked(w, j);
		sj = w->draining ? NULL : w_pick(w);
		pthread_mutex_unlock(&w->lock);
		if (!parked) {
			w_count(w, j, outcome);
			/* The applied record finishes the message once it is
			 * delivered (w_on_delivery); the others are done. */
			if (out == W_OUT_APPLIED || out == W_OUT_NOOP)
				w_applied_send(w, j);
			else
				w_job_done(w, j);
		}
		pthread_mutex_lock(&w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Poll thread                                                        */

/* Dead-letters an undecodable message on the poll thread (rare; the
 * record must be stored before the offset may move). */
static void w_invalid(rs_worker_t *w, rs_queue_t *q, rs_qmsg_t *msg,
		      const char *why) {
	size_t len = 0, klen = 0;
	const void *val = rs_qmsg_value(msg, &len);
	const void *k = rs_qmsg_key(msg, &klen);
	char key[RS_ENVELOPE_MAX_STR + 1], *rec;

	rs_snprintf(key, sizeof(key), "%.*s",
		    (int)(klen > RS_ENVELOPE_MAX_STR ? RS_ENVELOPE_MAX_STR
						     : klen),
		    k ? (const char *)k : "");
	rs_log(W_LOG, LOG_WARNING, "JOB",
	       "invalid message %s [%" PRId32 "] @%" PRId64 ": %s",
	       rs_qmsg_topic(msg), rs_qmsg_partition(msg), rs_qmsg_offset(msg),
	       why);
	rec = w_invalid_record(val ? val : "", val ? len : 0, why);
	if (w_dlq_send(w, key[0] ? key : NULL, rec, strlen(rec))) {
		rs_queue_msg_done(q, msg);
		pthread_mutex_lock(&w->lock);
		w->st.invalid++;
		w->st.dead_lettered++;
		pthread_mutex_unlock(&w->lock);
		w_count(w, NULL, "dead_lettered");
	} else {
		rs_queue_msg_release(q, msg);
	}
	cJSON_free(rec);
}

/* Finishes jobs a push superseded (no lock held). */
static void w_superseded(rs_worker_t *w, rs_wjob_t **sup, size_t n) {
	size_t i;
	for (i = 0; i < n; i++) {
		w_job_t *s = sup[i]->opaque;
		rs_log_ctx_t ctx = w_ctx(s, 0, NULL);
		rs_log(&ctx, LOG_INFO, "JOB",
		       "key %s generation %" PRId64 " superseded", s->sj.key,
		       s->sj.generation);
		w_count(w, s, "superseded");
		w_job_done(w, s);
	}
}

/* Hands a decoded job to the scheduler; jobs the push superseded are
 * finished right here.  Any thread (poll thread, delivery callback);
 * @p arrival counts it as received (one lock round trip for both). */
static void w_hold(rs_worker_t *w, w_job_t *j, bool arrival) {
	rs_wjob_t *sup[W_SUP_MAX];
	size_t n;

	pthread_mutex_lock(&w->lock);
	if (arrival) {
		w->st.received++;
		w->last_activity = rs_now_ms();
	}
	w_job_count_locked(w, j);
	n = rs_wsched_push(w->sched, &j->sj, sup, W_SUP_MAX);
	w->st.superseded += n;
	w_wake(w);
	pthread_mutex_unlock(&w->lock);
	w_superseded(w, sup, n);
}

/*
 * The retry consumer's window (worker.retry_max_held messages not yet
 * finished) is one FIFO read across all tenants: a tenant whose overflow
 * or backoff filled it would hold back every other tenant's retry records
 * behind its own in the partitions until its jobs ran (issue 5 G3, "a
 * tenant in backoff holds no slot another tenant could use").  So a tenant
 * holding its share of that window, window / (tenants holding retry jobs
 * + 1), which always leaves room for one more tenant, sends a retry record
 * it reads straight back to the retry topic, due when it was due (or when
 * its pause ends), and the consumer reads on.  Each costs a produce and a
 * fetch; how many per second is bounded (w_cycle_roll_locked).  Once the
 * second's budget is spent the record is held after all and the retry
 * consumer waits for the next second (under w->lock).
 */
static bool w_recycle_due_locked(rs_worker_t *w, const w_tenant_t *t,
				 const w_job_t *j, int64_t *wait_ms) {
	int64_t now = rs_now_ms();
	int share = RS_MAX(w->g->worker.retry_max_held /
				   (w->rheld_tenants + 1),
			   1);

	w_cycle_roll_locked(w, now);
	if (t->rheld < share) {
		w->cycle_took = true;
		return false;
	}
	if (w->cycle_cnt >= w->cycle_budget)
		return false;
	w->cycle_cnt++;
	*wait_ms = RS_MAX(RS_MAX(t->paused_until, j->sj.not_before) - now, 0);
	return true;
}

/*
 * Guarantee 3 under a backlog: a tenant that already holds its share of
 * worker.max_in_flight (a quarter) does not get more of the shared slots
 * while it is inside a Retry-After pause, or while the slots are nearly
 * all taken.  Its new arrivals go straight to the retry topic (due when
 * the pause ends, or at once), and their jobs-topic messages are finished
 * once that record is stored (w_on_delivery), so the other tenants keep
 * the slots.  The retry consumer hands them back within its own bound;
 * per-key order and supersede hold because they meet the same scheduler.
 * @returns true when the job was taken over.
 */
/* The condition (under w->lock): over its share, and either paused, or
 * another tenant active (started a job within W_ACTIVE_MS), or the shared
 * slots nearly gone: the overflow waits in the retry topic, due at the
 * pause's end (*wait_ms) or at once.  So a burst of one healthy tenant
 * never holds the window while others have work: their messages behind
 * it in the partitions are read at once (0401 with RS_IT_0401_BURST).
 * Arrivals from the retry topic follow w_recycle_due_locked instead. */
static bool w_defer_due_locked(rs_worker_t *w, const w_job_t *j,
			       int64_t *wait_ms) {
	int share = RS_MAX(w->g->worker.max_in_flight / 4, 1);
	const w_tenant_t *t;

	if (j->tenant_idx < 0 || !w->rq)
		return false;
	t = &w->tenants[j->tenant_idx];
	if (j->q == w->rq)
		return w_recycle_due_locked(w, t, j, wait_ms);
	if (j->q != w->q)
		return false;
	*wait_ms = t->paused_until - rs_now_ms();
	if (t->held < share ||
	    (*wait_ms <= 0 && !w_others_active(w, j->tenant_idx) &&
	     rs_wsched_cnt(w->sched) <
		     (size_t)w->g->worker.max_in_flight * 3 / 4))
		return false;
	if (*wait_ms < 0)
		*wait_ms = 0;
	return true;
}

/* Sends a job w_defer_due_locked chose to the retry topic (no lock
 * held).  @returns false when it could not be queued: the caller holds
 * it instead. */
static bool w_defer_arrival(rs_worker_t *w, w_job_t *j, int64_t wait_ms) {
	char *txt, att[16], kind[RS_ENVELOPE_MAX_STR + 1],
		tenant[RS_ENVELOPE_MAX_STR + 1];
	bool fresh = j->q == w->q;
	rs_queue_header_t h;
	size_t len = 0;
	rs_err_t e;

	txt = w_retry_record(j, wait_ms, &len, &h, att);
	if (!txt)
		return false;
	/* Once produced, the delivery report may finish and free the job on
	 * the producer's thread at any moment: what is counted afterwards
	 * is copied first. */
	rs_snprintf(kind, sizeof(kind), "%s", j->env.kind ? j->env.kind : "");
	rs_snprintf(tenant, sizeof(tenant), "%s",
		    j->env.tenant ? j->env.tenant : "");
	j->deferring = true;
	e = rs_queue_produce(w->q, w->g->queue.kafka.topics.retry, j->env.key,
			     strlen(j->env.key), txt, len, &h, 1, j);
	rs_free(txt);
	if (e != RS_OK) {
		j->deferring = false;
		j->env.not_before = 0;
		return false;
	}
	pthread_mutex_lock(&w->lock);
	w->st.received++;
	w->last_activity = rs_now_ms();
	if (fresh) {
		w->st.deferred++;
		w_cycle_boost_locked(w);
	} else {
		w->st.requeued++;
	}
	pthread_mutex_unlock(&w->lock);
	if (w->m_jobs)
		w_count_as(w, kind, tenant, fresh ? "deferred" : "requeued");
	return true;
}

/* Poll thread: turns one message into a job; NULL for an undecodable one,
 * which is dead-lettered here. */
static w_job_t *w_job_new(rs_worker_t *w, rs_queue_t *q, rs_qmsg_t *msg) {
	size_t len = 0;
	const void *val = rs_qmsg_value(msg, &len);
	char err[256];
	w_job_t *j;

	j = rs_calloc(1, sizeof(*j));
	j->tag = W_TAG_JOB;
	j->q = q;
	if (rs_envelope_decode(val ? val : "", val ? len : 0, 0, &j->env, err,
			       sizeof(err)) != RS_OK) {
		w_job_free(j);
		w_invalid(w, q, msg, err);
		return NULL;
	}
	j->msg = msg;
	if (q == w->rq) {
		const void *hv = NULL;
		size_t hl = 0;
		char num[16];
		/* Attempts of this life so far; absent/garbled = 0. */
		if (rs_qmsg_header_get(msg, W_HDR_ATTEMPTS, &hv, &hl) ==
			    RS_OK &&
		    hv && hl < sizeof(num)) {
			memcpy(num, hv, hl);
			num[hl] = '\0';
			j->attempts = (int)strtol(num, NULL, 10);
			if (j->attempts < 0 || j->attempts > 1000)
				j->attempts = 0;
		}
	}
	/* Borrowed from the message, which the job holds until it ends. */
	j->topic = rs_qmsg_topic(msg);
	j->partition = rs_qmsg_partition(msg);
	j->sj.key = j->env.key;
	j->sj.generation = j->env.generation;
	j->tenant_idx = w_tenant_find(w, j->env.tenant);
	j->sj.opaque = j;
	if (j->tenant_idx >= 0)
		j->sj.load = &w->tenants[j->tenant_idx].running;
	/* not_before is wall-clock; the scheduler runs on the monotonic
	 * clock, so convert the remaining wait. */
	if (j->env.not_before > 0) {
		int64_t wait = j->env.not_before - rs_wall_ms();
		j->sj.not_before = wait > 0 ? rs_now_ms() + wait : 0;
	}
	return j;
}

/*
 * Poll thread: a batch of messages (in offset order) becomes jobs, handed
 * to the scheduler under one lock with one wake-up per job up to the idle
 * threads, or, for a tenant over its share (w_defer_due_locked), to the
 * retry topic.  Per job, the lock and the wake-up used to cost more than
 * the decode.
 */
static void w_receive(rs_worker_t *w, rs_queue_t *q, rs_qmsg_t **msgs,
		      size_t cnt) {
	rs_wjob_t *sup[W_SUP_MAX];
	w_job_t *jobs[W_BATCH], *defer[W_BATCH];
	int64_t defer_wait[W_BATCH];
	size_t i, n = 0, nd = 0, ns = 0, pushed = 0;

	rs_assert(cnt <= W_BATCH);
	for (i = 0; i < cnt; i++)
		if ((jobs[n] = w_job_new(w, q, msgs[i])) != NULL)
			n++;
	if (!n)
		return;
	pthread_mutex_lock(&w->lock);
	for (i = 0; i < n; i++) {
		w_job_t *j = jobs[i];
		size_t k;
		if (w_defer_due_locked(w, j, &defer_wait[nd])) {
			defer[nd++] = j;
			continue;
		}
		/* Room for the most one push can supersede (a push with
		 * no room could neither keep nor return the new job). */
		if (W_SUP_MAX - ns < W_SUP_PUSH) {
			pthread_mutex_unlock(&w->lock);
			w_superseded(w, sup, ns);
			ns = 0;
			pthread_mutex_lock(&w->lock);
		}
		w->st.received++;
		w_job_count_locked(w, j);
		k = rs_wsched_push(w->sched, &j->sj, sup + ns, W_SUP_PUSH);
		w->st.superseded += k;
		ns += k;
		pushed++;
	}
	w->last_activity = rs_now_ms();
	for (i = 0; i < pushed && w->idle_cnt > 0; i++)
		w_wake(w);
	pthread_mutex_unlock(&w->lock);
	w_superseded(w, sup, ns);
	for (i = 0; i < nd; i++)
		if (!w_defer_arrival(w, defer[i], defer_wait[i]))
			w_hold(w, defer[i], true);
}

typedef struct w_revoke_s {
	const rs_queue_partition_t *parts;
	size_t cnt;
} w_revoke_t;

static bool w_match_part(rs_wjob_t *sj, void *opaque) {
	const w_revoke_t *r = opaque;
	const w_job_t *j = sj->opaque;
	size_t i;
	for (i = 0; i < r->cnt; i++)
		if (r->parts[i].partition == j->partition &&
		    !strcmp(r->parts[i].topic, j->topic))
			return true;
	return false;
}

static bool w_match_all(rs_wjob_t *sj, void *opaque) {
	(void)sj;
	(void)opaque;
	return true;
}

/* Gives back every waiting (not running) job @p match selects. */
static void w_release_if(rs_worker_t *w, bool (*match)(rs_wjob_t *, void *),
			 void *opaque) {
	rs_wjob_t *out[256];
	size_t n, i;
	do {
		pthread_mutex_lock(&w->lock);
		n = rs_wsched_remove_if(w->sched, match, opaque, out, 256);
		w->st.released += n;
		pthread_mutex_unlock(&w->lock);
		for (i = 0; i < n; i++)
			w_job_release(w, out[i]->opaque);
	} while (n == 256);
}

/* on_revoke: drop not-yet-started jobs of the revoked partitions; running
 * ones finish and mark themselves done (rs_queue waits for them). */
static void w_on_revoke(rs_queue_t *q, const rs_queue_partition_t *parts,
			size_t cnt, bool lost, void *opaque) {
	w_revoke_t r = {parts, cnt};
	(void)q;
	(void)lost;
	w_release_if(opaque, w_match_part, &r);
}

/* The lag of the partitions assigned at this scrape, gathered before the
 * gauge is rewritten. */
typedef struct w_lag_s {
	char *topic;
	int32_t partition;
	int64_t lag;
} w_lag_t;

typedef struct w_lags_s {
	w_lag_t *v;
	size_t cnt, cap;
} w_lags_t;

static void w_lag_cb(const rs_queue_lag_t *l, void *opaque) {
	w_lags_t *ls = opaque;
	w_lag_t *e;

	if (ls->cnt >= W_LAG_MAX)
		return;
	if (ls->cnt == ls->cap) {
		ls->cap = ls->cap ? ls->cap * 2 : 32;
		ls->v = rs_realloc(ls->v, ls->cap * sizeof(*ls->v));
	}
	e = &ls->v[ls->cnt++];
	e->topic = rs_strdup(l->topic);
	e->partition = l->partition;
	e->lag = l->lag;
}

/* rostersync_worker_consumer_lag{topic,partition}: messages at or after
 * the position a restart would resume at (the lowest unfinished offset),
 * per partition assigned now, jobs topic and retry topic.  The family is
 * cleared each scrape, so a revoked partition's series disappears. */
static void w_collect_lag(rs_worker_t *w) {
	w_lags_t ls = {NULL, 0, 0};
	size_t i;

	if (w->q)
		rs_queue_lag(w->q, W_LAG_TIMEOUT_MS, w_lag_cb, &ls);
	if (w->rq)
		rs_queue_lag(w->rq, W_LAG_TIMEOUT_MS, w_lag_cb, &ls);
	rs_metric_clear(w->m_lag);
	for (i = 0; i < ls.cnt; i++) {
		char part[16];
		const char *lv[2] = {ls.v[i].topic, part};
		rs_snprintf(part, sizeof(part), "%d", (int)ls.v[i].partition);
		rs_metric_set(w->m_lag, lv, (double)ls.v[i].lag);
		rs_free(ls.v[i].topic);
	}
	rs_free(ls.v);
}

/* Metrics collect callback: the in-flight gauge is read at scrape time
 * rather than updated on every change. */
static void w_collect(rs_metrics_t *m, void *opaque) {
	rs_worker_t *w = opaque;
	size_t n;
	(void)m;
	pthread_mutex_lock(&w->lock);
	n = rs_wsched_cnt(w->sched);
	pthread_mutex_unlock(&w->lock);
	rs_metric_set(w->m_inflight, NULL, (double)n);
	pthread_mutex_lock(&w->collect_lock);
	if (!w->queues_gone) {
		rs_metric_set(w->m_paused, NULL,
			      w->q && rs_queue_paused(w->q) ? 1.0 : 0.0);
		w_collect_lag(w);
	}
	pthread_mutex_unlock(&w->collect_lock);
	/* Per-tenant series only when tenant labels are on (hundreds of
	 * tenants would otherwise multiply the series). */
	if (w->g->worker.metrics_tenant_labels) {
		size_t i;
		pthread_mutex_lock(&w->lock);
		for (i = 0; i < w->tenant_cnt; i++) {
			const char *tv[1] = {rs_conf_tenant(w->conf, i)->id};
			rs_metric_set(w->m_limit, tv, w->tenants[i].limit);
		}
		pthread_mutex_unlock(&w->lock);
	}
}

/* /readyz: 200 only while the poll loop runs (queues up, not draining,
 * no fatal error), so an orchestrator sends no traffic to, and a probe
 * flags, a worker that is starting, stopping or broken. */
static bool w_ready(void *opaque) {
	rs_worker_t *w = opaque;
	return atomic_load(&w->ready);
}

/* ------------------------------------------------------------------ */
/* Life cycle                                                         */

/* One record of the applied topic: raises its key's mark.  Records
 * that do not parse are skipped (counted): the topic is ours, but a
 * compacted log may hold records of an older format. */
static rs_err_t w_seed_cb(const rs_qmsg_t *msg, void *opaque) {
	rs_worker_t *w = opaque;
	size_t len;
	const char *v = rs_qmsg_value(msg, &len);
	cJSON *o = v ? cJSON_ParseWithLength(v, len) : NULL;
	const cJSON *k = cJSON_GetObjectItemCaseSensitive(o, "key");
	const cJSON *g = cJSON_GetObjectItemCaseSensitive(o, "generation");

	if (cJSON_IsString(k) && cJSON_IsNumber(g) && k->valuestring[0]) {
		rs_wsched_seed(w->sched, k->valuestring, (int64_t)g->valuedouble);
		w->seeded++;
	} else if (v) {
		w->seed_bad++;
	}
	cJSON_Delete(o);
	return RS_OK;
}

/* Reads the applied topic once at start (guarantee 8): a job older than
 * a generation some worker applied before is superseded, also across
 * restarts.  A missing topic is a first start; other failures only cost
 * that protection (replay still checks), so they are logged, not fatal. */
static void w_seed_applied(rs_worker_t *w) {
	int64_t t0 = rs_now_ms();
	rs_err_t err = RS_OK;
	int attempt;

	/* A topic created a moment ago may have no partition leader yet
	 * (seen in the 04NN tests): retry a few times.  Marks only go up,
	 * so reading records twice changes nothing. */
	for (attempt = 0; attempt < 5; attempt++) {
		if (attempt)
			rs_sleep_ms(1000);
		w->seeded = w->seed_bad = 0;
		err = rs_queue_scan(w->q, w->g->queue.kafka.topics.applied,
				    30000, w_seed_cb, w);
		if (err == RS_OK || err == RS_ERR_NOT_FOUND)
			break;
	}

	if (err != RS_OK && err != RS_ERR_NOT_FOUND)
		rs_log(W_LOG, LOG_WARNING, "WORKER",
		       "reading the applied topic %s: %s (started without "
		       "its generation marks)",
		       w->g->queue.kafka.topics.applied, rs_err_str(err));
	rs_log(W_LOG, LOG_INFO, "WORKER",
	       "applied marks: %zu records read in %" PRId64 " ms (%zu "
	       "unreadable)",
	       w->seeded, rs_now_ms() - t0, w->seed_bad);
}

rs_worker_t *rs_worker_new(const rs_conf_t *conf, char *errstr,
			   size_t errstr_size) {
	static const char *job_labels[] = {"kind", "tenant", "outcome", NULL};
	static const char *http_labels[] = {"target", "status", "tenant", NULL};
	static const char *target_label[] = {"target", NULL};
	static const char *kind_label[] = {"kind", NULL};
	static const char *tenant_label[] = {"tenant", NULL};
	static const char *lag_labels[] = {"topic", "partition", NULL};
	/* Graph answers in 50 ms .. seconds; a job's planned-to-applied
	 * latency spans a second to many minutes under throttling. */
	static const double http_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1,
					      0.25, 0.5, 1, 2.5, 5, 10, 30};
	static const double job_buckets[] = {0.1, 0.25, 0.5, 1, 2.5, 5, 10,
					     30, 60, 120, 300, 900, 3600};
	rs_worker_t *w = rs_calloc(1, sizeof(*w));
	const rs_conf_global_t *g = rs_conf_global(conf);
	const char *topics[1], *rtopics[1], *props[RS_QUEUE_MAX_PROPS];
	char *prop_buf[RS_QUEUE_MAX_PROPS];
	rs_queue_conf_t qc;
	size_t i, np = 0;
	int t;

	w->conf = conf;
	w->g = g;
	pthread_mutex_init(&w->lock, NULL);
	/* Monotonic: the pool's timed waits must not stretch or shrink
	 * when the wall clock is set. */
	pthread_condattr_init(&w->cattr);
	pthread_condattr_setclock(&w->cattr, CLOCK_MONOTONIC);
	pthread_mutex_init(&w->collect_lock, NULL);
	w->sched = rs_wsched_new();
	w->start_tn[0] = w->start_tn[1] = -1;
	w->start_ms[0] = w->start_ms[1] = INT64_MIN / 2;
	w->tenant_cnt = rs_conf_tenant_count(conf);
	w->tenants = rs_calloc(w->tenant_cnt ? w->tenant_cnt : 1,
			       sizeof(*w->tenants));
	for (i = 0; i < w->tenant_cnt; i++)
		w->tenants[i].limit = g->worker.tenant_concurrency_initial;
	w_tenant_index(w);
	w->metrics = rs_metrics_new();
	w->m_jobs = rs_metrics_register(w->metrics, RS_METRIC_COUNTER,
					"rostersync_jobs_total",
					"Jobs finished or retried by outcome",
					job_labels, NULL, 0);
	w->m_inflight = rs_metrics_register(
		w->metrics, RS_METRIC_GAUGE, "rostersync_worker_jobs_in_flight",
		"Jobs held (waiting, delayed or running)", NULL, NULL, 0);
	w->m_http = rs_metrics_register(w->metrics, RS_METRIC_COUNTER,
					"rostersync_http_requests_total",
					"HTTP requests by target and status",
					http_labels, NULL, 0);
	w->m_http_dur = rs_metrics_register(
		w->metrics, RS_METRIC_HISTOGRAM,
		"rostersync_http_request_duration_seconds",
		"HTTP request latency by target", target_label, http_buckets,
		RS_ARRAY_SIZE(http_buckets));
	w->m_job_lat = rs_metrics_register(
		w->metrics, RS_METRIC_HISTOGRAM,
		"rostersync_job_latency_seconds",
		"Time from the planner creating a job to its final outcome",
		kind_label, job_buckets, RS_ARRAY_SIZE(job_buckets));
	w->m_limit = rs_metrics_register(
		w->metrics, RS_METRIC_GAUGE,
		"rostersync_worker_tenant_concurrency_limit",
		"Adaptive (AIMD) concurrency limit per tenant", tenant_label,
		NULL, 0);
	w->m_paused = rs_metrics_register(
		w->metrics, RS_METRIC_GAUGE, "rostersync_queue_paused",
		"1 while the worker's consumer is paused (backpressure)", NULL,
		NULL, 0);
	w->m_lag = rs_metrics_register(
		w->metrics, RS_METRIC_GAUGE, "rostersync_worker_consumer_lag",
		"Messages at or after the lowest unfinished offset, per "
		"assigned partition (jobs and retry topics)",
		lag_labels, NULL, 0);
	rs_metrics_set_collect(w->metrics, w_collect, w);
	rs_metrics_set_ready(w->metrics, w_ready, w);
	if (g->worker.metrics_listen && *g->worker.metrics_listen &&
	    rs_metrics_serve(w->metrics, g->worker.metrics_listen, errstr,
			     errstr_size) != RS_OK)
		goto fail;

	/* kafka or sqlite, as queue.backend says (same contract). */
	rs_qconf_fill(&qc, g);
	qc.roles = RS_QUEUE_ROLE_CONSUMER | RS_QUEUE_ROLE_PRODUCER;
	qc.group_id = g->worker.group_id;
	qc.client_id = "rostersync-worker";
	topics[0] = g->queue.kafka.topics.jobs_group;
	qc.topics = topics;
	qc.topic_cnt = 1;
	/* queue.kafka.properties is a map; rs_queue wants "k=v" strings
	 * (copied by rs_queue_new, so freed right after). */
	for (i = 0; i < g->queue.kafka.properties.count &&
		    np < RS_QUEUE_MAX_PROPS;
	     i++) {
		size_t n = strlen(g->queue.kafka.properties.keys[i]) +
			   strlen(g->queue.kafka.properties.values[i]) + 2;
		prop_buf[np] = rs_malloc(n);
		rs_snprintf(prop_buf[np], n, "%s=%s",
			    g->queue.kafka.properties.keys[i],
			    g->queue.kafka.properties.values[i]);
		props[np] = prop_buf[np];
		np++;
	}
	qc.props = props;
	qc.prop_cnt = np;
	/* The queue's in-flight bound IS the worker's: every held job owns
	 * exactly one message, so this caps memory too. */
	qc.max_inflight = (size_t)g->worker.max_in_flight;
	qc.on_revoke = w_on_revoke;
	qc.on_delivery = w_on_delivery;
	qc.opaque = w;
	w->q = rs_queue_new(&qc, errstr, errstr_size);
	if (w->q) {
		/* The retry topic has its own consumer and group: its held
		 * jobs have their own bound (worker.retry_max_held), so long
		 * delays never eat the jobs topic's in-flight budget. */
		char rgroup[300];
		rs_snprintf(rgroup, sizeof(rgroup), "%s.retry",
			    g->worker.group_id);
		rtopics[0] = g->queue.kafka.topics.retry;
		qc.roles = RS_QUEUE_ROLE_CONSUMER;
		qc.group_id = rgroup;
		qc.client_id = "rostersync-worker-retry";
		qc.topics = rtopics;
		qc.max_inflight = (size_t)g->worker.retry_max_held;
		qc.on_delivery = NULL;
		w->rq = rs_queue_new(&qc, errstr, errstr_size);
	}
	for (i = 0; i < np; i++)
		rs_free(prop_buf[i]);
	if (!w->q || !w->rq)
		goto fail;
	{
		char terr[256];
		if (rs_topics_ensure(w->q, g, 15000, terr, sizeof(terr)) !=
		    RS_OK)
			rs_log(W_LOG, LOG_WARNING, "WORKER",
			       "creating topics: %s (continuing: they may be "
			       "pre-created)", terr);
	}
	{
		/* The producer learns the topics it writes now rather than
		 * at its first record to each: a burst's first deferrals
		 * to the retry topic waited ~400 ms for librdkafka's topic
		 * scan, holding their in-flight slots (docs/worker.md). */
		const char *out[] = {g->queue.kafka.topics.retry,
				     g->queue.kafka.topics.applied,
				     g->queue.kafka.topics.dlq};
		size_t k;
		for (k = 0; k < RS_ARRAY_SIZE(out); k++) {
			rs_err_t e = rs_queue_produce_prepare(w->q, out[k],
							      3000);
			if (e != RS_OK)
				rs_log(W_LOG, LOG_WARNING, "WORKER",
				       "producer: topic %s: %s (its first "
				       "record may wait for its metadata)",
				       out[k], rs_err_str(e));
		}
	}
	w_seed_applied(w);

	w->thread_cnt = g->worker.threads;
	w->threads = rs_calloc((size_t)w->thread_cnt, sizeof(*w->threads));
	w->idle = rs_calloc((size_t)w->thread_cnt, sizeof(*w->idle));
	/* Monotonic: the pool's timed waits must not stretch or shrink
	 * when the wall clock is set. */
	for (t = 0; t < w->thread_cnt; t++)
		pthread_cond_init(&w->threads[t].cond, &w->cattr);
	for (t = 0; t < w->thread_cnt; t++) {
		w_thread_t *th = &w->threads[t];
		rs_http_conf_t hc;
		rs_http_conf_init(&hc);
		/* One client per thread: a curl handle is not shareable, and
		 * each keeps its own connection cache to Graph. */
		hc.target = "graph";
		hc.ca_file = g->http.ca_file;
		hc.user_agent = g->http.user_agent;
		hc.timeout_ms = g->http.timeout_ms;
		hc.connect_timeout_ms = g->http.connect_timeout_ms;
		hc.observe_cb = w_http_observe;
		hc.observe_opaque = w;
		th->w = w;
		th->http = rs_http_new(&hc, errstr, errstr_size);
		if (!th->http)
			goto fail;
		th->graphs = rs_calloc(w->tenant_cnt ? w->tenant_cnt : 1,
				       sizeof(*th->graphs));
		if (getrandom(&th->rnd, sizeof(th->rnd), 0) !=
			    (ssize_t)sizeof(th->rnd) ||
		    !th->rnd)
			th->rnd = 0x9e3779b97f4a7c15ull + (uint64_t)t;
	}
	return w;
fail:
	rs_worker_destroy(w);
	return NULL;
}

void rs_worker_stop(rs_worker_t *w) {
	atomic_store(&w->stop, true);
}

char *rs_worker_metrics_render(rs_worker_t *w) {
	return rs_metrics_render(w->metrics);
}

void rs_worker_stats(rs_worker_t *w, rs_worker_stats_t *st) {
	pthread_mutex_lock(&w->lock);
	*st = w->st;
	pthread_mutex_unlock(&w->lock);
}

rs_err_t rs_worker_run(rs_worker_t *w, int64_t until_idle_ms) {
	rs_err_t err = RS_OK, e, re;
	int t, started = 0;
	int64_t deadline, run_started;
	char errstr[256];
	bool rq_busy = false;

	atomic_store(&w->ready, true);
	run_started = rs_now_ms();
	w->last_activity = run_started;
	w->draining = false;
	for (t = 0; t < w->thread_cnt; t++) {
		if (pthread_create(&w->threads[t].tid, NULL, w_pool_main,
				   &w->threads[t]))
			break;
		started++;
	}
	if (started == 0) {
		err = RS_ERR_FAIL;
		atomic_store(&w->stop, true);
	}
	while (!atomic_load(&w->stop)) {
		rs_qmsg_t *msg = NULL, *rmsg = NULL, *batch[W_BATCH];
		size_t n;
		bool got, rq_wait;
		size_t held;
		int64_t idle;

		pthread_mutex_lock(&w->lock);
		/* Idle time counts only once the group gave us partitions:
		 * joining takes seconds and is not idleness.  But a member
		 * the group leaves without partitions (more workers than
		 * partitions, or all of them sticky elsewhere) is idle too,
		 * so this grace ends RS_WORKER_JOIN_GRACE_MS after start. */
		if (rs_queue_assignment_cnt(w->q) == 0 &&
		    rs_now_ms() - run_started < RS_WORKER_JOIN_GRACE_MS)
			w->last_activity = rs_now_ms();
		held = rs_wsched_cnt(w->sched);
		idle = rs_now_ms() - w->last_activity;
		rq_wait = w_cycle_spent_locked(w);
		pthread_mutex_unlock(&w->lock);
		if (until_idle_ms > 0 && held == 0 && idle >= until_idle_ms) {
			rs_log(W_LOG, LOG_INFO, "WORKER",
			       "idle for %" PRId64 " ms: stopping", idle);
			break;
		}
		/* Bounded memory (guarantee 6): at max_in_flight held jobs
		 * the poll only serves the group, rs_queue hands out
		 * nothing more (RS_ERR_TOO_LARGE). */
		/* Two handles, one thread: whichever handed out a message
		 * last is polled without waiting, the other waits 50 ms. */
		/* A batch: after the first message, what is already
		 * fetched is taken without waiting, up to W_BATCH. */
		n = 0;
		e = rs_queue_poll(w->q, rq_busy ? 0 : 50, &msg);
		while (e == RS_OK && msg) {
			batch[n++] = msg;
			msg = NULL;
			if (n == W_BATCH)
				break;
			e = rs_queue_poll(w->q, 0, &msg);
		}
		if (n)
			w_receive(w, w->q, batch, n);
		if (e != RS_OK && e != RS_ERR_TOO_LARGE) {
			rs_queue_fatal_error(w->q, errstr, sizeof(errstr));
			rs_log(W_LOG, LOG_ERR, "WORKER", "poll: %s: %s",
			       rs_err_str(e), errstr);
			err = e;
			break;
		}
		got = n > 0;
		n = 0;
		re = rq_wait ? RS_ERR_TOO_LARGE
			     : rs_queue_poll(w->rq, got ? 0 : 50, &rmsg);
		while (re == RS_OK && rmsg) {
			batch[n++] = rmsg;
			rmsg = NULL;
			if (n == W_BATCH)
				break;
			re = rs_queue_poll(w->rq, 0, &rmsg);
		}
		if (n)
			w_receive(w, w->rq, batch, n);
		if (re != RS_OK && re != RS_ERR_TOO_LARGE) {
			rs_queue_fatal_error(w->rq, errstr, sizeof(errstr));
			rs_log(W_LOG, LOG_ERR, "WORKER", "retry poll: %s: %s",
			       rs_err_str(re), errstr);
			err = re;
			break;
		}
		rq_busy = n > 0;
		if (e == RS_ERR_TOO_LARGE && re == RS_ERR_TOO_LARGE)
			usleep(10000);
	}

	atomic_store(&w->ready, false);
	/* Shutdown (guarantee 7): nothing new starts, waiting jobs are
	 * given back at once (they were not started), running ones get
	 * worker.shutdown_timeout to finish. */
	pthread_mutex_lock(&w->lock);
	w->draining = true; /* before the release: nothing new may start */
	while (w->idle_cnt > 0)
		w_wake(w);
	pthread_mutex_unlock(&w->lock);
	w_release_if(w, w_match_all, NULL);
	deadline = rs_now_ms() + w->g->worker.shutdown_timeout_ms;
	pthread_mutex_lock(&w->lock);
	while (rs_wsched_running(w->sched) > 0 && rs_now_ms() < deadline) {
		pthread_mutex_unlock(&w->lock);
		usleep(20000);
		pthread_mutex_lock(&w->lock);
	}
	if (rs_wsched_running(w->sched) > 0)
		rs_log(W_LOG, LOG_WARNING, "WORKER",
		       "%zu job(s) still running after shutdown_timeout; "
		       "waiting for their current request",
		       rs_wsched_running(w->sched));
	pthread_mutex_unlock(&w->lock);
	/* A running job can't be interrupted mid-request: it ends within
	 * http.timeout; only then may the queue close (its message must be
	 * done or released before). */
	for (t = 0; t < started; t++)
		pthread_join(w->threads[t].tid, NULL);
	/* Waiting jobs a finishing thread pushed back meanwhile (retry). */
	w_release_if(w, w_match_all, NULL);
	e = rs_queue_close(w->q);
	if (e != RS_OK && err == RS_OK)
		rs_log(W_LOG, LOG_WARNING, "WORKER", "close: %s",
		       rs_err_str(e));
	e = rs_queue_close(w->rq);
	if (e != RS_OK && err == RS_OK)
		rs_log(W_LOG, LOG_WARNING, "WORKER", "retry close: %s",
		       rs_err_str(e));
	return err;
}

void rs_worker_destroy(rs_worker_t *w) {
	size_t i;
	int t;
	if (!w)
		return;
	/* A scrape may be reading the queues: wait for it, and keep later
	 * ones away (the metrics server lives until below). */
	pthread_mutex_lock(&w->collect_lock);
	w->queues_gone = true;
	pthread_mutex_unlock(&w->collect_lock);
	rs_queue_destroy(w->rq);
	rs_queue_destroy(w->q);
	for (t = 0; w->threads && t < w->thread_cnt; t++) {
		w_thread_t *th = &w->threads[t];
		for (i = 0; th->graphs && i < w->tenant_cnt; i++)
			rs_graph_destroy(th->graphs[i]);
		rs_free(th->graphs);
		rs_http_destroy(th->http);
		pthread_cond_destroy(&th->cond);
	}
	rs_free(w->threads);
	rs_free(w->idle);
	for (i = 0; i < w->tenant_cnt; i++)
		rs_auth_destroy(w->tenants[i].auth);
	rs_free(w->tenant_slots);
	rs_free(w->tenants);
	rs_metrics_destroy(w->metrics);
	rs_wsched_destroy(w->sched);
	pthread_condattr_destroy(&w->cattr);
	pthread_mutex_destroy(&w->collect_lock);
	pthread_mutex_destroy(&w->lock);
	rs_free(w);
}
