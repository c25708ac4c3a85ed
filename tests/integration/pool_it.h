/*
 * pool_it.h - shared fixture of the worker-pool-at-scale scenarios
 * (0400-0499): an in-process simulator with a generated MSP, its printed
 * configuration loaded with per-test overrides, a producer on the real
 * broker, group.members job builders, the applied-topic reader and an
 * in-process worker on a background thread.  Header-only (static
 * functions) so each scenario stays one executable; included after
 * rs_test.h.
 */
#ifndef POOL_IT_H
#define POOL_IT_H

#include "rs/rs_base.h"
#include "rs/rs_conf.h"
#include "rs/rs_envelope.h"
#include "rs/rs_http.h"
#include "rs/rs_queue.h"
#include "rs/rs_topics.h"
#include "rs_sim.h"
#include "rs_test.h"
#include "rs_worker.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#define PIT_MAX_OV 32

typedef struct pit_s {
	rs_sim_t *sim;
	rs_conf_t *conf;   /**< loaded with ov[] */
	rs_queue_t *prod;  /**< producer (and scan) handle */
	char dir[512];     /**< printed configuration, under the build tree */
	char path[600];    /**< dir/rostersync.conf */
	char prefix[128];  /**< unique topic prefix / group id */
	char ovr[PIT_MAX_OV][256];
	const char *ov[PIT_MAX_OV];
	int ovn;
	cJSON *tenants;    /**< rs_sim_tenants_json() */
	cJSON *state;      /**< rs_sim_state_json() at setup */
	uint64_t produced;
} pit_t;

static void pit_ov(pit_t *p, const char *fmt, ...) RS_PRINTF(2, 3);
static RS_UNUSED void pit_ov(pit_t *p, const char *fmt, ...) {
	va_list ap;
	TEST_ASSERT(p->ovn < PIT_MAX_OV, "too many overrides");
	va_start(ap, fmt);
	vsnprintf(p->ovr[p->ovn], sizeof(p->ovr[0]), fmt, ap);
	va_end(ap);
	p->ov[p->ovn] = p->ovr[p->ovn];
	p->ovn++;
}

/* Loads (again) the configuration with the overrides collected so far:
 * the first load happens in pit_setup, a test adds its own and reloads. */
static RS_UNUSED void pit_reload(pit_t *p) {
	char err[512];
	rs_conf_destroy(p->conf);
	p->conf = rs_conf_load(p->path, p->ov, (size_t)p->ovn, err,
			       sizeof(err));
	TEST_ASSERT(p->conf, "conf: %s", err);
}

/*
 * Generates and starts the simulator, prints its configuration into the
 * build tree (secrets are read lazily by the worker; /tmp is shared), sets
 * the common overrides (kafka backend, unique topics and group, short
 * session timeout so rebalances are quick) and creates the topics.
 */
static RS_UNUSED void pit_setup(pit_t *p, const char *name,
				const rs_sim_conf_t *sc,
				const rs_sim_gen_t *gen, int partitions) {
	char err[512], *s;
	const rs_conf_global_t *g;
	rs_queue_conf_t qc;

	memset(p, 0, sizeof(*p));
	TEST_ASSERT(rs_http_global_init() == RS_OK, "curl init");
	p->sim = rs_sim_new(sc, err, sizeof(err));
	TEST_ASSERT(p->sim, "sim: %s", err);
	TEST_ASSERT(rs_sim_generate(p->sim, gen, err, sizeof(err)) == RS_OK,
		    "generate: %s", err);
	TEST_ASSERT(rs_sim_start(p->sim, err, sizeof(err)) == RS_OK,
		    "start: %s", err);
	rs_snprintf(p->dir, sizeof(p->dir), "%s/tests/integration/%s-XXXXXX",
		    rs_test_env_required("RS_BINARY_DIR"), name);
	TEST_ASSERT(mkdtemp(p->dir), "mkdtemp %s", p->dir);
	TEST_ASSERT(rs_sim_print_config(p->sim, p->dir, err, sizeof(err)) ==
			    RS_OK,
		    "print config: %s", err);
	rs_snprintf(p->path, sizeof(p->path), "%s/rostersync.conf", p->dir);
	rs_test_unique_name(name, p->prefix, sizeof(p->prefix));
	pit_ov(p, "queue.backend=kafka");
	pit_ov(p, "queue.kafka.brokers=%s", rs_test_kafka_brokers());
	pit_ov(p, "queue.kafka.topic_prefix=%s.", p->prefix);
	pit_ov(p, "queue.kafka.partitions=%d", partitions);
	pit_ov(p, "worker.group_id=%s-w", p->prefix);
	pit_ov(p, "queue.kafka.properties=consumer.session.timeout.ms=6000,"
		  "consumer.heartbeat.interval.ms=1000");
	pit_ov(p, "log.level=warning");
	pit_reload(p);
	g = rs_conf_global(p->conf);

	rs_queue_conf_init(&qc);
	qc.brokers = rs_test_kafka_brokers();
	qc.roles = RS_QUEUE_ROLE_PRODUCER;
	p->prod = rs_queue_new(&qc, err, sizeof(err));
	TEST_ASSERT(p->prod, "producer: %s", err);
	TEST_ASSERT(rs_topics_ensure(p->prod, g, 30000, err, sizeof(err)) ==
			    RS_OK,
		    "topics: %s", err);

	s = rs_sim_tenants_json(p->sim);
	p->tenants = cJSON_Parse(s);
	rs_free(s);
	s = rs_sim_state_json(p->sim, NULL);
	p->state = cJSON_Parse(s);
	rs_free(s);
	TEST_ASSERT(p->tenants && p->state, "sim JSON");
}

static RS_UNUSED void pit_teardown(pit_t *p) {
	cJSON_Delete(p->tenants);
	cJSON_Delete(p->state);
	rs_queue_destroy(p->prod);
	rs_conf_destroy(p->conf);
	rs_sim_destroy(p->sim);
	rs_test_rmtree(p->dir);
	rs_http_global_cleanup();
}

static RS_UNUSED const char *pit_tenant_id(pit_t *p, int idx) {
	const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetArrayItem(p->tenants, idx), "id"));
	TEST_ASSERT(id, "tenant %d", idx);
	return id;
}

/* The tenant's "entra" object of a state document. */
static RS_UNUSED const cJSON *pit_entra(const cJSON *state,
					const char *tenant) {
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(state, "tenants"), tenant);
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(t, "entra");
	TEST_ASSERT(e, "state of %s", tenant);
	return e;
}

static RS_UNUSED const cJSON *pit_members(const cJSON *state,
					  const char *tenant,
					  const char *gid) {
	const cJSON *g;
	cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(
				      pit_entra(state, tenant), "groups")) {
		const char *id = cJSON_GetStringValue(
			cJSON_GetObjectItemCaseSensitive(g, "id"));
		if (id && !strcmp(id, gid))
			return cJSON_GetObjectItemCaseSensitive(g, "members");
	}
	TEST_FAIL("group %s of %s not in state", gid, tenant);
}

static RS_UNUSED bool pit_in(const cJSON *arr, const char *id) {
	const cJSON *x;
	cJSON_ArrayForEach(x, arr) if (cJSON_IsString(x) &&
				     !strcmp(x->valuestring, id)) return true;
	return false;
}

/* Group k of tenant t as generated (its id in *gid) and up to cap of the
 * tenant's users outside it, in state order: members a test may add.
 * Returns how many users. */
static RS_UNUSED int pit_group_outsiders(pit_t *p, int t, int k,
					 const char **gid, const char **users,
					 int cap) {
	const cJSON *e = pit_entra(p->state, pit_tenant_id(p, t));
	const cJSON *g = cJSON_GetArrayItem(
		cJSON_GetObjectItemCaseSensitive(e, "groups"), k);
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(g, "members"), *u;
	int n = 0;

	TEST_ASSERT(g, "tenant %d has no group %d", t, k);
	*gid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(g, "id"));
	cJSON_ArrayForEach(u, cJSON_GetObjectItemCaseSensitive(e, "users")) {
		const char *uid = cJSON_GetStringValue(
			cJSON_GetObjectItemCaseSensitive(u, "id"));
		if (n < cap && uid && !pit_in(m, uid))
			users[n++] = uid;
	}
	return n;
}

/* A fresh state document (cJSON_Delete it). */
static RS_UNUSED cJSON *pit_state_now(pit_t *p) {
	char *s = rs_sim_state_json(p->sim, NULL);
	cJSON *j = cJSON_Parse(s);
	rs_free(s);
	TEST_ASSERT(j, "state JSON");
	return j;
}

/*
 * Encodes one group.members job.  @p id (may be NULL: computed) becomes
 * the envelope id, which the applied record repeats as job_id: tests use
 * it to find a job's produce time.  Returns the text (rs_free).
 */
static RS_UNUSED char *pit_job(const char *tenant, const char *gid,
			       int64_t gen, const char *id,
			       const char *const *adds, size_t add_cnt,
			       const char *const *removes, size_t remove_cnt,
			       int64_t created, size_t *lenp) {
	rs_envelope_t env;
	char key[256], err[256], *txt = NULL;
	size_t i;

	rs_envelope_init(&env);
	env.v = RS_ENVELOPE_VERSION;
	env.id = id ? rs_strdup(id) : NULL;
	env.tenant = rs_strdup(tenant);
	env.kind = rs_strdup("group.members");
	env.kind_id = RS_ENV_KIND_GROUP_MEMBERS;
	rs_snprintf(key, sizeof(key), "%s/%s", tenant, gid);
	env.key = rs_strdup(key);
	env.generation = gen;
	env.created = created;
	env.source = rs_strdup("test:pool");
	env.members.group_id = rs_strdup(gid);
	env.members.mode = rs_strdup("exact");
	for (i = 0; i < add_cnt; i++)
		TEST_ASSERT(rs_envelope_member_add(&env, false, adds[i],
						   NULL) == RS_OK,
			    "add");
	for (i = 0; i < remove_cnt; i++)
		TEST_ASSERT(rs_envelope_member_add(&env, true, removes[i],
						   NULL) == RS_OK,
			    "remove");
	TEST_ASSERT(rs_envelope_encode(&env, &txt, lenp, err, sizeof(err)) ==
			    RS_OK,
		    "encode: %s", err);
	rs_envelope_cleanup(&env);
	return txt;
}

/* Produces one job to the jobs topic of @p conf (key = tenant/gid); no
 * flush, the producer batches.  A full local queue is waited out. */
static RS_UNUSED void pit_produce_conf(pit_t *p, const rs_conf_t *conf,
				       const char *tenant, const char *gid,
				       const char *txt, size_t len) {
	const rs_conf_global_t *g = rs_conf_global(conf);
	char key[256];
	rs_err_t err;
	rs_snprintf(key, sizeof(key), "%s/%s", tenant, gid);
	while ((err = rs_queue_produce(p->prod,
				       g->queue.kafka.topics.jobs_group, key,
				       strlen(key), txt, len, NULL, 0,
				       NULL)) == RS_ERR_AGAIN)
		usleep(1000);
	TEST_ASSERT(err == RS_OK, "produce: %s", rs_err_str(err));
	p->produced++;
}

static RS_UNUSED void pit_produce(pit_t *p, const char *tenant,
				  const char *gid, const char *txt,
				  size_t len) {
	pit_produce_conf(p, p->conf, tenant, gid, txt, len);
}

/*
 * A second configuration on the same simulator: the same overrides plus
 * its own topic prefix and consumer group ("<prefix>-<suffix>"), topics
 * created.  Lets a test run two independent workers side by side (e.g. a
 * control and a treatment at the same time on the same machine).
 */
static RS_UNUSED rs_conf_t *pit_conf_variant(pit_t *p, const char *suffix) {
	const char *ov[PIT_MAX_OV + 2];
	char pre[256], grp[256], err[512];
	rs_conf_t *c;
	int i;
	for (i = 0; i < p->ovn; i++)
		ov[i] = p->ov[i];
	/* Later overrides win over the common ones. */
	rs_snprintf(pre, sizeof(pre), "queue.kafka.topic_prefix=%s-%s.",
		    p->prefix, suffix);
	rs_snprintf(grp, sizeof(grp), "worker.group_id=%s-%s-w", p->prefix,
		    suffix);
	ov[i++] = pre;
	ov[i++] = grp;
	c = rs_conf_load(p->path, ov, (size_t)i, err, sizeof(err));
	TEST_ASSERT(c, "conf %s: %s", suffix, err);
	TEST_ASSERT(rs_topics_ensure(p->prod, rs_conf_global(c), 30000, err,
				     sizeof(err)) == RS_OK,
		    "topics %s: %s", suffix, err);
	return c;
}

static RS_UNUSED void pit_flush(pit_t *p) {
	TEST_ASSERT(rs_queue_flush(p->prod, 60000) == RS_OK, "flush");
}

/* Applied topic records {key, generation, job_id, applied_at}, appended
 * in topic order (per partition offset order). */
static RS_UNUSED rs_err_t pit_applied_cb(const rs_qmsg_t *msg, void *opaque) {
	size_t len;
	const char *v = rs_qmsg_value(msg, &len);
	cJSON *o = v ? cJSON_ParseWithLength(v, len) : NULL;
	TEST_ASSERT(o && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(
				 o, "key")) &&
			    cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(
				    o, "generation")),
		    "applied record %.*s", (int)len, v ? v : "");
	cJSON_AddItemToArray(opaque, o);
	return RS_OK;
}

/* A topic created a moment ago may not be in every metadata answer yet,
 * or its leader not known (fresh broker: "Not leader for partition"): a
 * failed scan is retried for 10 s. */
static RS_UNUSED cJSON *pit_applied_conf(pit_t *p, const rs_conf_t *conf) {
	const rs_conf_global_t *g = rs_conf_global(conf);
	int64_t end = rs_now_ms() + rs_test_timeout_ms(10000);
	cJSON *recs;
	rs_err_t err;
	for (;;) {
		recs = cJSON_CreateArray();
		err = rs_queue_scan(p->prod, g->queue.kafka.topics.applied,
				    (int)rs_test_timeout_ms(60000),
				    pit_applied_cb, recs);
		if (err == RS_OK || rs_now_ms() > end)
			break;
		cJSON_Delete(recs);
		rs_sleep_ms(500);
	}
	TEST_ASSERT(err == RS_OK, "scan the applied topic: %s",
		    rs_err_str(err));
	return recs;
}

static RS_UNUSED cJSON *pit_applied(pit_t *p) {
	return pit_applied_conf(p, p->conf);
}

/* Calls on(opaque, N, applied_at) for each applied record in @p recs
 * whose job_id is "<prefix><N>" (other ids are skipped); N must be below
 * @p n.  Tests number their jobs that way to find each one's record. */
static RS_UNUSED void pit_applied_ids(const cJSON *recs, const char *prefix,
				      long n,
				      void (*on)(void *, long, int64_t),
				      void *opaque) {
	size_t pl = strlen(prefix);
	const cJSON *r;
	cJSON_ArrayForEach(r, recs) {
		const char *jid = cJSON_GetStringValue(
			cJSON_GetObjectItemCaseSensitive(r, "job_id"));
		long idx;
		if (!jid || strncmp(jid, prefix, pl))
			continue;
		idx = strtol(jid + pl, NULL, 10);
		TEST_ASSERT(idx >= 0 && idx < n, "job id %s", jid);
		on(opaque, idx,
		   (int64_t)cJSON_GetNumberValue(
			   cJSON_GetObjectItemCaseSensitive(r, "applied_at")));
	}
}

/* Messages on the DLQ topic (0 when it is empty or was never created). */
static RS_UNUSED rs_err_t pit_count_cb(const rs_qmsg_t *msg, void *opaque) {
	(void)msg;
	(*(size_t *)opaque)++;
	return RS_OK;
}

static RS_UNUSED size_t pit_dlq_count_conf(pit_t *p, const rs_conf_t *conf) {
	const rs_conf_global_t *g = rs_conf_global(conf);
	size_t n = 0;
	rs_err_t err = rs_queue_scan(p->prod, g->queue.kafka.topics.dlq,
				     (int)rs_test_timeout_ms(60000),
				     pit_count_cb, &n);
	TEST_ASSERT(err == RS_OK || err == RS_ERR_NOT_FOUND, "scan DLQ: %s",
		    rs_err_str(err));
	return n;
}

static RS_UNUSED size_t pit_dlq_count(pit_t *p) {
	return pit_dlq_count_conf(p, p->conf);
}

/* A stats counter of the simulator. */
static RS_UNUSED double pit_sim_stat(pit_t *p, const char *name) {
	char *s = rs_sim_stats_json(p->sim);
	cJSON *j = cJSON_Parse(s);
	double v;
	rs_free(s);
	v = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(j, name));
	cJSON_Delete(j);
	return v;
}

static RS_UNUSED void pit_fault(pit_t *p, const char *fmt, ...)
	RS_PRINTF(2, 3);
static RS_UNUSED void pit_fault(pit_t *p, const char *fmt, ...) {
	char rule[2048], err[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(rule, sizeof(rule), fmt, ap);
	va_end(ap);
	TEST_ASSERT(rs_sim_faults_push(p->sim, rule, err, sizeof(err)) ==
			    RS_OK,
		    "fault %s: %s", rule, err);
}

/* An in-process worker on a background thread (the thread becomes its
 * poll thread); stopped with pit_worker_stop. */
typedef struct pit_worker_s {
	rs_worker_t *w;
	pthread_t tid;
	rs_err_t err;
	int64_t until_idle_ms;
} pit_worker_t;

static void *pit_worker_main(void *arg) {
	pit_worker_t *pw = arg;
	pw->err = rs_worker_run(pw->w, pw->until_idle_ms);
	return NULL;
}

static RS_UNUSED pit_worker_t *pit_worker_start(const rs_conf_t *conf) {
	pit_worker_t *pw = rs_calloc(1, sizeof(*pw));
	char err[512];
	pw->w = rs_worker_new(conf, err, sizeof(err));
	TEST_ASSERT(pw->w, "worker: %s", err);
	TEST_ASSERT(pthread_create(&pw->tid, NULL, pit_worker_main, pw) == 0,
		    "worker thread");
	return pw;
}

/* Stops, joins and frees the worker; its counters go to @p st. */
static RS_UNUSED void pit_worker_stop(pit_worker_t *pw,
				      rs_worker_stats_t *st) {
	rs_worker_stop(pw->w);
	pthread_join(pw->tid, NULL);
	TEST_ASSERT(pw->err == RS_OK, "worker run: %s", rs_err_str(pw->err));
	if (st)
		rs_worker_stats(pw->w, st);
	rs_worker_destroy(pw->w);
	rs_free(pw);
}

/* Sleeps until monotonic @p at_ms (pacing producers). */
static RS_UNUSED void pit_sleep_until(int64_t at_ms) {
	int64_t d = at_ms - rs_now_ms();
	if (d > 0)
		rs_sleep_ms(d);
}

static int pit_cmp_i64(const void *a, const void *b) {
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile (0 < q <= 1) of @p n values; sorts them. */
static RS_UNUSED int64_t pit_percentile(int64_t *v, size_t n, double q) {
	size_t rank;
	TEST_ASSERT(n > 0, "percentile of nothing");
	qsort(v, n, sizeof(*v), pit_cmp_i64);
	rank = (size_t)(q * (double)n + 0.999999);
	if (rank < 1)
		rank = 1;
	return v[rank > n ? n - 1 : rank - 1];
}

#endif /* POOL_IT_H */
