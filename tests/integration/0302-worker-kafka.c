/*
 * 0302-worker-kafka: the worker (rs_workerlib, in-process) against a real
 * broker and the in-process simulator.
 *
 * 1. Jobs built with rs_envelope (adds + removes for one group; a job for a
 *    nonexistent group; a message that is not JSON) are produced to a
 *    unique topic prefix; the worker runs until idle.  The sim's group
 *    membership must equal the expected set; the DLQ must hold exactly the
 *    invalid message (wrapped) and the failed job with its error history
 *    (404); the worker counted them.
 * 2. The same job again (new worker, same group: resumes from the committed
 *    offsets): no Graph write (sim writes_applied unchanged), counted noop.
 * 3. Generation 5 then generation 3 for one key: 3 is superseded (its user
 *    is not added).
 * 4. Faults (429 with Retry-After, 503) on the second tenant's group
 *    writes: the job still converges, nothing new in the DLQ.
 * 5. Tenant isolation with ONE pool thread: tenant 2's job parked by a
 *    6 s Retry-After does not hold back tenant 1's job produced after it
 *    (applied within 4 s); the parked one is applied after its wait.
 *    Meanwhile /metrics shows rostersync_worker_consumer_lag: 1 or 2 on
 *    the jobs topic while the parked job is unfinished (2 when tenant 1's
 *    finished job sits behind it in its partition), then 0, and series for
 *    the retry topic's partitions too.
 * 6. The rostersync-worker binary with a job parked by a 30 s Retry-After:
 *    SIGTERM makes it exit 0 within seconds (the parked job is released,
 *    not finished); a new worker then applies it (nothing lost).
 */
#include "rs/rs_base.h"
#include "rs/rs_conf.h"
#include "rs/rs_envelope.h"
#include "rs/rs_http.h"
#include "rs/rs_log.h"
#include "rs/rs_queue.h"
#include "rs_sim.h"
#include "rs_test.h"
#include "rs_worker.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <string.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOGROUP "0badbad0-0000-4000-8000-000000000302"

typedef struct fx_s {
	rs_sim_t *sim;
	const rs_conf_t *conf;
	rs_queue_t *prod;
	char dir[512];
	char prefix[128];
} fx_t;

static cJSON *tenant_state(fx_t *fx, const char *tenant) {
	char *s = rs_sim_state_json(fx->sim, tenant);
	cJSON *j, *t;
	TEST_ASSERT(s, "state of %s", tenant);
	j = cJSON_Parse(s);
	rs_free(s);
	t = cJSON_DetachItemFromObjectCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(j, "tenants"), tenant);
	cJSON_Delete(j);
	TEST_ASSERT(t, "tenant %s in state", tenant);
	return t;
}

static const cJSON *group_members(const cJSON *ts, const char *gid) {
	const cJSON *g;
	cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(
				      cJSON_GetObjectItemCaseSensitive(ts,
								       "entra"),
				      "groups")) {
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(g, "id");
		if (cJSON_IsString(id) && !strcmp(id->valuestring, gid))
			return cJSON_GetObjectItemCaseSensitive(g, "members");
	}
	return NULL;
}

static bool in_array(const cJSON *a, const char *id) {
	const cJSON *x;
	cJSON_ArrayForEach(x, a) if (cJSON_IsString(x) &&
				     !strcmp(x->valuestring, id)) return true;
	return false;
}

static double sim_stat(fx_t *fx, const char *name) {
	char *s = rs_sim_stats_json(fx->sim);
	cJSON *j = cJSON_Parse(s);
	double v;
	rs_free(s);
	v = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(j, name));
	cJSON_Delete(j);
	return v;
}

/* The worker binary under test: killed if the test fails first (a
 * leftover child would hold ctest's output pipe open). */
static pid_t child_pid;

static void kill_child(void) {
	if (child_pid > 0)
		kill(child_pid, SIGKILL);
}

/* Sum of 429 answers over every endpoint in the sim's stats. */
static double sim_429s(fx_t *fx) {
	char *s = rs_sim_stats_json(fx->sim);
	cJSON *j = cJSON_Parse(s);
	const cJSON *ep;
	double n = 0;
	rs_free(s);
	cJSON_ArrayForEach(ep, cJSON_GetObjectItemCaseSensitive(j,
								 "endpoints"))
	{
		const cJSON *c = cJSON_GetObjectItemCaseSensitive(ep, "429");
		if (cJSON_IsNumber(c))
			n += c->valuedouble;
	}
	cJSON_Delete(j);
	return n;
}

static void produce_raw(fx_t *fx, const char *key, const char *val) {
	const rs_conf_global_t *g = rs_conf_global(fx->conf);
	TEST_ASSERT(rs_queue_produce(fx->prod, g->queue.kafka.topics.jobs_group,
				     key, strlen(key), val, strlen(val), NULL,
				     0, NULL) == RS_OK,
		    "produce");
	TEST_ASSERT(rs_queue_flush(fx->prod, 30000) == RS_OK, "flush");
}

/* Builds and produces one group.members job. */
static void produce_job(fx_t *fx, const char *tenant, const char *gid,
			int64_t gen, const char *const *adds, size_t add_cnt,
			const char *const *removes, size_t remove_cnt) {
	rs_envelope_t env;
	char key[256], err[256], *txt = NULL;
	size_t len, i;

	rs_envelope_init(&env);
	env.v = RS_ENVELOPE_VERSION;
	env.tenant = rs_strdup(tenant);
	env.kind = rs_strdup("group.members");
	env.kind_id = RS_ENV_KIND_GROUP_MEMBERS;
	rs_snprintf(key, sizeof(key), "%s/%s", tenant, gid);
	env.key = rs_strdup(key);
	env.generation = gen;
	env.created = rs_wall_ms();
	env.source = rs_strdup("test:0302");
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
	TEST_ASSERT(rs_envelope_encode(&env, &txt, &len, err, sizeof(err)) ==
			    RS_OK,
		    "encode: %s", err);
	produce_raw(fx, key, txt);
	rs_free(txt);
	rs_envelope_cleanup(&env);
}

/* A string field of a JSON object, "" when absent. */
static const char *jstr(const cJSON *o, const char *name) {
	const char *s = cJSON_GetStringValue(
		cJSON_GetObjectItemCaseSensitive(o, name));
	return s ? s : "";
}

/*
 * The JSON log lines of a run with retried attempts: every "will retry"
 * line of the job carries its context as fields (issue 5: tenant, job id,
 * key, generation, attempt, request-id), not only inside the message.
 */
static void check_job_logs(const char *path, const char *tenant,
			   const char *gid) {
	FILE *f = fopen(path, "r");
	char line[8192], key[128];
	int retries = 0, attempt_max = 0;

	TEST_ASSERT(f, "open %s", path);
	rs_snprintf(key, sizeof(key), "%s/%s", tenant, gid);
	while (fgets(line, sizeof(line), f)) {
		cJSON *o = cJSON_Parse(line);
		const char *msg, *rid;
		const cJSON *att;
		TEST_ASSERT(o, "a log line that is not JSON: %s", line);
		msg = cJSON_GetStringValue(
			cJSON_GetObjectItemCaseSensitive(o, "msg"));
		if (msg && strstr(msg, "(will retry)")) {
			TEST_ASSERT(!strcmp(jstr(o, "tenant"), tenant) &&
					    !strcmp(jstr(o, "key"), key),
				    "tenant and key fields: %s", line);
			TEST_ASSERT(cJSON_GetStringValue(
					    cJSON_GetObjectItemCaseSensitive(
						    o, "job_id")) &&
					    cJSON_IsNumber(
						    cJSON_GetObjectItemCaseSensitive(
							    o, "generation")),
				    "job_id and generation fields: %s", line);
			att = cJSON_GetObjectItemCaseSensitive(o, "attempt");
			TEST_ASSERT(cJSON_IsNumber(att) && att->valueint >= 1,
				    "attempt field: %s", line);
			rid = cJSON_GetStringValue(
				cJSON_GetObjectItemCaseSensitive(o,
								 "request_id"));
			/* The simulator answers with a request-id, as Graph
			 * does (graph.md): the failed request is findable. */
			TEST_ASSERT(rid && *rid, "request_id field: %s", line);
			if (att->valueint > attempt_max)
				attempt_max = att->valueint;
			retries++;
		}
		cJSON_Delete(o);
	}
	fclose(f);
	TEST_ASSERT(retries >= 2, "retried attempts logged: %d", retries);
	rs_test_say("JSON logs: %d retried attempts with tenant, job_id, key, "
		    "generation, attempt (up to %d), request_id\n",
		    retries, attempt_max);
}

/* Sum of rostersync_worker_consumer_lag over the series of @p topic in
 * the worker's metrics text; *nseries gets their number. */
static double lag_metric(rs_worker_t *w, const char *topic, int *nseries) {
	char *m = rs_worker_metrics_render(w), want[300];
	const char *p = m;
	double sum = 0;

	rs_snprintf(want, sizeof(want),
		    "rostersync_worker_consumer_lag{topic=\"%s\",partition=\"",
		    topic);
	*nseries = 0;
	while ((p = strstr(p, want)) != NULL) {
		const char *v = strstr(p, "} ");
		TEST_ASSERT(v, "lag series line");
		sum += strtod(v + 2, NULL);
		(*nseries)++;
		p = v;
	}
	rs_free(m);
	return sum;
}

typedef struct bg_s {
	rs_worker_t *w;
	rs_err_t err;
} bg_t;

static void *bg_run(void *arg) {
	bg_t *b = arg;
	/* Longer than a Retry-After trip through the retry topic (its
	 * consumer joins its group first). */
	b->err = rs_worker_run(b->w, 8000);
	return NULL;
}

static void run_worker(fx_t *fx, rs_worker_stats_t *st) {
	char err[512];
	rs_worker_t *w = rs_worker_new(fx->conf, err, sizeof(err));
	int64_t t0 = rs_now_ms();
	TEST_ASSERT(w, "worker: %s", err);
	TEST_ASSERT(rs_worker_run(w, 3000) == RS_OK, "worker run");
	rs_worker_stats(w, st);
	{
		/* The exported counters agree with the stats. */
		char *m = rs_worker_metrics_render(w), want[64];
		TEST_ASSERT(m && strstr(m, "rostersync_jobs_total"),
			    "jobs metric");
		if (st->applied) {
			rs_snprintf(want, sizeof(want),
				    "outcome=\"applied\"} %" PRIu64,
				    st->applied);
			TEST_ASSERT(strstr(m, want), "metric %s in:\n%s", want,
				    m);
		}
		TEST_ASSERT(strstr(m, "rostersync_http_requests_total"),
			    "http metric");
		/* Every job that ended (applied, noop, dead-lettered; not
		 * the undecodable ones) has its latency observed once. */
		if (st->applied + st->noop + st->dead_lettered - st->invalid) {
			rs_snprintf(want, sizeof(want),
				    "rostersync_job_latency_seconds_count"
				    "{kind=\"group.members\"} %" PRIu64,
				    st->applied + st->noop +
					    st->dead_lettered - st->invalid);
			TEST_ASSERT(strstr(m, want), "metric %s in:\n%s",
				    want, m);
			TEST_ASSERT(strstr(m, "rostersync_http_request_duration"
					      "_seconds_bucket{target=\"graph\""),
				    "http latency histogram");
		}
		TEST_ASSERT(strstr(m, "rostersync_queue_paused 0"),
			    "paused gauge");
		rs_free(m);
	}
	rs_worker_destroy(w);
	rs_test_say("worker run: %" PRId64 " ms, received %" PRIu64
		    " applied %" PRIu64 " noop %" PRIu64 " superseded %" PRIu64
		    " retried %" PRIu64 " dlq %" PRIu64 " writes %" PRIu64
		    " requests %" PRIu64 "\n",
		    rs_now_ms() - t0, st->received, st->applied, st->noop,
		    st->superseded, st->retried, st->dead_lettered,
		    st->graph_writes, st->http_requests);
}

/* The applied topic, read with rs_queue_scan: records {key, generation,
 * job_id, applied_at} in one JSON array. */
static rs_err_t applied_cb(const rs_qmsg_t *msg, void *opaque) {
	size_t len;
	const char *v = rs_qmsg_value(msg, &len);
	cJSON *o = cJSON_ParseWithLength(v, len);
	TEST_ASSERT(o && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(
				 o, "key")) &&
			    cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(
				    o, "generation")) &&
			    cJSON_IsString(cJSON_GetObjectItemCaseSensitive(
				    o, "job_id")) &&
			    cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(
				    o, "applied_at")),
		    "applied record %.*s", (int)len, v);
	cJSON_AddItemToArray(opaque, o);
	return RS_OK;
}

/* Highest generation recorded for @p key; -1 when none. */
static double applied_gen(const cJSON *recs, const char *key) {
	const cJSON *r;
	double gen = -1;
	cJSON_ArrayForEach(r, recs) {
		if (!strcmp(cJSON_GetObjectItemCaseSensitive(r, "key")
				    ->valuestring,
			    key) &&
		    cJSON_GetObjectItemCaseSensitive(r, "generation")
				    ->valuedouble > gen)
			gen = cJSON_GetObjectItemCaseSensitive(r, "generation")
				      ->valuedouble;
	}
	return gen;
}

/* Counts the retry topic's records for @p key (and checks their form). */
typedef struct retry_scan_s {
	const char *key;
	int n;
	char attempts[16];
} retry_scan_t;

static rs_err_t retry_cb(const rs_qmsg_t *msg, void *opaque) {
	retry_scan_t *rs = opaque;
	size_t len, hl = 0;
	const char *v = rs_qmsg_value(msg, &len);
	const void *hv = NULL;
	rs_envelope_t env;
	char err[256];

	TEST_ASSERT(rs_envelope_decode(v, len, 0, &env, err, sizeof(err)) ==
			    RS_OK,
		    "retry record decodes: %s", err);
	if (!strcmp(env.key, rs->key)) {
		TEST_ASSERT(env.not_before > env.created,
			    "retry record has its due time");
		TEST_ASSERT(rs_qmsg_header_get(msg, "rs-attempts", &hv, &hl) ==
					    RS_OK &&
				    hl < sizeof(rs->attempts),
			    "rs-attempts header");
		memcpy(rs->attempts, hv, hl);
		rs->attempts[hl] = '\0';
		rs->n++;
	}
	rs_envelope_cleanup(&env);
	return RS_OK;
}

/* Reads the whole DLQ topic with a fresh group; returns a JSON array of
 * the parsed records. */
static cJSON *read_dlq(fx_t *fx, size_t expect) {
	const rs_conf_global_t *g = rs_conf_global(fx->conf);
	const char *topics[1] = {g->queue.kafka.topics.dlq};
	rs_queue_conf_t qc;
	rs_queue_t *c;
	cJSON *out = cJSON_CreateArray();
	char grp[160], err[256];
	int64_t deadline;

	rs_snprintf(grp, sizeof(grp), "%s-dlqreader-%" PRId64, fx->prefix,
		    rs_now_ms());
	rs_queue_conf_init(&qc);
	qc.brokers = rs_test_kafka_brokers();
	qc.group_id = grp;
	qc.roles = RS_QUEUE_ROLE_CONSUMER;
	qc.topics = topics;
	qc.topic_cnt = 1;
	c = rs_queue_new(&qc, err, sizeof(err));
	TEST_ASSERT(c, "dlq consumer: %s", err);
	/* Wait for the expected count, then a little more to see extras. */
	deadline = rs_now_ms() + rs_test_timeout_ms(30000);
	while (rs_now_ms() < deadline) {
		rs_qmsg_t *m = NULL;
		size_t len;
		const char *v;
		TEST_ASSERT(rs_queue_poll(c, 200, &m) == RS_OK, "dlq poll");
		if (!m)
			continue;
		v = rs_qmsg_value(m, &len);
		cJSON_AddItemToArray(out, cJSON_ParseWithLength(v, len));
		rs_queue_msg_done(c, m);
		if ((size_t)cJSON_GetArraySize(out) == expect)
			deadline = rs_now_ms() + 3000;
	}
	rs_queue_close(c);
	rs_queue_destroy(c);
	return out;
}

int main(void) {
	rs_sim_conf_t sc;
	rs_sim_gen_t gen;
	fx_t fx;
	char err[512], path[600], ovr[8][256], *s;
	const char *ov[8];
	const char *brokers = rs_test_kafka_brokers();
	cJSON *tenants, *ts0, *ts1, *dlq;
	const cJSON *users, *u, *g0, *m0;
	const char *t0, *t1, *gid0, *gid1, *gid2;
	const char *adds[40], *removes[4], *all_adds[40];
	size_t add_cnt = 0, remove_cnt = 0, i;
	rs_worker_stats_t st;
	rs_queue_conf_t qc;
	const rs_conf_global_t *g;
	rs_conf_t *conf;
	double writes_before;

	memset(&fx, 0, sizeof(fx));
	atexit(kill_child);
	TEST_ASSERT(rs_http_global_init() == RS_OK, "curl init");
	rs_sim_conf_init(&sc);
	fx.sim = rs_sim_new(&sc, err, sizeof(err));
	TEST_ASSERT(fx.sim, "sim: %s", err);
	rs_sim_gen_init(&gen);
	gen.tenants = 2;
	gen.users = 120;
	gen.queues = 6;
	gen.seed = 302;
	gen.cert_every = 0;
	TEST_ASSERT(rs_sim_generate(fx.sim, &gen, err, sizeof(err)) == RS_OK,
		    "generate: %s", err);
	TEST_ASSERT(rs_sim_start(fx.sim, err, sizeof(err)) == RS_OK,
		    "start: %s", err);
	/* Own directory under the build tree: the secrets are read lazily,
	 * while the worker runs, and /tmp is shared with other tests. */
	rs_snprintf(fx.dir, sizeof(fx.dir),
		    "%s/tests/integration/it0302-XXXXXX",
		    rs_test_env_required("RS_BINARY_DIR"));
	TEST_ASSERT(mkdtemp(fx.dir), "mkdtemp %s", fx.dir);
	TEST_ASSERT(rs_sim_print_config(fx.sim, fx.dir, err, sizeof(err)) ==
			    RS_OK,
		    "print config: %s", err);

	rs_test_unique_name("rs0302", fx.prefix, sizeof(fx.prefix));
	rs_snprintf(ovr[0], sizeof(ovr[0]), "queue.backend=kafka");
	rs_snprintf(ovr[1], sizeof(ovr[1]), "queue.kafka.brokers=%s", brokers);
	rs_snprintf(ovr[2], sizeof(ovr[2]), "queue.kafka.topic_prefix=%s.",
		    fx.prefix);
	rs_snprintf(ovr[3], sizeof(ovr[3]), "worker.group_id=%s-w", fx.prefix);
	rs_snprintf(ovr[4], sizeof(ovr[4]), "worker.threads=4");
	rs_snprintf(ovr[5], sizeof(ovr[5]), "worker.retry_base_ms=50ms");
	rs_snprintf(ovr[6], sizeof(ovr[6]), "worker.shutdown_timeout=10s");
	for (i = 0; i < 7; i++)
		ov[i] = ovr[i];
	rs_snprintf(path, sizeof(path), "%s/rostersync.conf", fx.dir);
	conf = rs_conf_load(path, ov, 7, err, sizeof(err));
	TEST_ASSERT(conf, "conf: %s", err);
	fx.conf = conf;
	g = rs_conf_global(conf);

	rs_queue_conf_init(&qc);
	qc.brokers = brokers;
	qc.roles = RS_QUEUE_ROLE_PRODUCER;
	fx.prod = rs_queue_new(&qc, err, sizeof(err));
	TEST_ASSERT(fx.prod, "producer: %s", err);
	{
		const char *tp[2] = {g->queue.kafka.topics.jobs_group,
				     g->queue.kafka.topics.dlq};
		TEST_ASSERT(rs_queue_create_topics(fx.prod, tp, 2, 3, 1, NULL,
						   0, 30000, err,
						   sizeof(err)) == RS_OK,
			    "create topics: %s", err);
	}

	s = rs_sim_tenants_json(fx.sim);
	tenants = cJSON_Parse(s);
	rs_free(s);
	t0 = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetArrayItem(tenants, 0), "id"));
	t1 = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetArrayItem(tenants, 1), "id"));
	TEST_ASSERT(t0 && t1, "two tenants");
	ts0 = tenant_state(&fx, t0);
	ts1 = tenant_state(&fx, t1);
	users = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(ts0, "entra"), "users");
	g0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(
					cJSON_GetObjectItemCaseSensitive(ts0,
									 "entra"),
					"groups"),
				0);
	gid0 = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(g0, "id"));
	gid2 = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetArrayItem(
			cJSON_GetObjectItemCaseSensitive(
				cJSON_GetObjectItemCaseSensitive(ts0, "entra"),
				"groups"),
			1),
		"id"));
	gid1 = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetArrayItem(
			cJSON_GetObjectItemCaseSensitive(
				cJSON_GetObjectItemCaseSensitive(ts1, "entra"),
				"groups"),
			0),
		"id"));
	TEST_ASSERT(gid0 && gid1 && gid2, "groups");
	m0 = group_members(ts0, gid0);
	/* 25 users not in group 0 (two PATCH chunks); 3 members removed. */
	cJSON_ArrayForEach(u, users) {
		const char *id = cJSON_GetStringValue(
			cJSON_GetObjectItemCaseSensitive(u, "id"));
		if (!in_array(m0, id) && add_cnt < 25)
			adds[add_cnt++] = id;
	}
	cJSON_ArrayForEach(u, m0) if (remove_cnt < 3) removes[remove_cnt++] =
		u->valuestring;
	TEST_ASSERT(add_cnt == 25 && remove_cnt == 3, "adds %zu removes %zu",
		    add_cnt, remove_cnt);

	SUB_TEST("apply, invalid message, nonexistent group -> DLQ");
	produce_job(&fx, t0, gid0, 1, adds, add_cnt, removes, remove_cnt);
	produce_raw(&fx, "garbage", "{not json at all");
	produce_job(&fx, t0, NOGROUP, 1, adds, 2, NULL, 0);
	run_worker(&fx, &st);
	{
		cJSON *now = tenant_state(&fx, t0);
		const cJSON *m = group_members(now, gid0);
		size_t want = (size_t)cJSON_GetArraySize(m0) - remove_cnt +
			      add_cnt;
		TEST_ASSERT((size_t)cJSON_GetArraySize(m) == want,
			    "group size %d, want %zu", cJSON_GetArraySize(m),
			    want);
		for (i = 0; i < add_cnt; i++)
			TEST_ASSERT(in_array(m, adds[i]), "added %s", adds[i]);
		for (i = 0; i < remove_cnt; i++)
			TEST_ASSERT(!in_array(m, removes[i]), "removed %s",
				    removes[i]);
		cJSON_ArrayForEach(u, m0) {
			bool rm = false;
			for (i = 0; i < remove_cnt; i++)
				rm |= !strcmp(u->valuestring, removes[i]);
			TEST_ASSERT(rm || in_array(m, u->valuestring),
				    "kept %s", u->valuestring);
		}
		cJSON_Delete(now);
	}
	TEST_ASSERT(st.applied == 1 && st.dead_lettered == 2 &&
			    st.invalid == 1,
		    "applied %" PRIu64 " dlq %" PRIu64 " invalid %" PRIu64,
		    st.applied, st.dead_lettered, st.invalid);
	dlq = read_dlq(&fx, 2);
	TEST_ASSERT(cJSON_GetArraySize(dlq) == 2, "DLQ holds %d records",
		    cJSON_GetArraySize(dlq));
	{
		bool seen_invalid = false, seen_job = false;
		const cJSON *r;
		cJSON_ArrayForEach(r, dlq) {
			const char *kind = cJSON_GetStringValue(
				cJSON_GetObjectItemCaseSensitive(r, "kind"));
			TEST_ASSERT(kind, "DLQ record is JSON with a kind");
			if (!strcmp(kind, "invalid")) {
				TEST_ASSERT(!strcmp(cJSON_GetStringValue(
							    cJSON_GetObjectItemCaseSensitive(
								    r, "raw")),
						    "{not json at all"),
					    "raw payload kept");
				TEST_ASSERT(cJSON_GetStringValue(
						    cJSON_GetObjectItemCaseSensitive(
							    r, "error")),
					    "error given");
				seen_invalid = true;
			} else {
				const cJSON *e = cJSON_GetArrayItem(
					cJSON_GetObjectItemCaseSensitive(
						r, "errors"),
					0);
				rs_envelope_t env;
				char *txt = cJSON_PrintUnformatted(r);
				TEST_ASSERT(rs_envelope_decode(
						    txt, strlen(txt), 0, &env,
						    err, sizeof(err)) == RS_OK,
					    "DLQ job decodes: %s", err);
				cJSON_free(txt);
				TEST_ASSERT(strstr(env.key, NOGROUP),
					    "the nonexistent group's job");
				TEST_ASSERT(env.error_cnt >= 1, "error history");
				TEST_ASSERT(env.errors[0].http_status == 404,
					    "http status %d",
					    env.errors[0].http_status);
				TEST_ASSERT(env.errors[0].message &&
						    env.errors[0].attempt == 1,
					    "message, attempt");
				TEST_ASSERT(e, "errors array");
				rs_envelope_cleanup(&env);
				seen_job = true;
			}
		}
		TEST_ASSERT(seen_invalid && seen_job, "both DLQ records");
	}
	cJSON_Delete(dlq);

	SUB_TEST("same job again: idempotent, no writes");
	writes_before = sim_stat(&fx, "writes_applied");
	produce_job(&fx, t0, gid0, 1, adds, add_cnt, removes, remove_cnt);
	run_worker(&fx, &st);
	TEST_ASSERT(st.received == 1 && st.noop == 1 && st.applied == 0,
		    "received %" PRIu64 " noop %" PRIu64, st.received,
		    st.noop);
	TEST_ASSERT(sim_stat(&fx, "writes_applied") == writes_before,
		    "writes %.0f -> %.0f", writes_before,
		    sim_stat(&fx, "writes_applied"));

	SUB_TEST("older generation superseded");
	produce_job(&fx, t0, gid2, 5, &adds[0], 1, NULL, 0);
	produce_job(&fx, t0, gid2, 3, &adds[1], 1, NULL, 0);
	run_worker(&fx, &st);
	{
		cJSON *now = tenant_state(&fx, t0);
		const cJSON *m = group_members(now, gid2);
		bool before1 = in_array(group_members(ts0, gid2), adds[1]);
		TEST_ASSERT(in_array(m, adds[0]), "generation 5 applied");
		TEST_ASSERT(before1 || !in_array(m, adds[1]),
			    "generation 3 not applied");
		TEST_ASSERT(st.superseded == 1, "superseded %" PRIu64,
			    st.superseded);
		cJSON_Delete(now);
	}

	SUB_TEST("applied topic: one record per applied job; a restarted "
		 "worker supersedes an older generation");
	{
		const rs_conf_global_t *gc = rs_conf_global(fx.conf);
		cJSON *recs = cJSON_CreateArray(), *now;
		char k0[256], k2[256], kn[256];
		bool before1 = in_array(group_members(ts0, gid2), adds[1]);
		const cJSON *r;

		TEST_ASSERT(rs_queue_scan(fx.prod, gc->queue.kafka.topics.applied,
					  rs_test_timeout_ms(30000), applied_cb,
					  recs) == RS_OK,
			    "scan the applied topic");
		rs_snprintf(k0, sizeof(k0), "%s/%s", t0, gid0);
		rs_snprintf(k2, sizeof(k2), "%s/%s", t0, gid2);
		rs_snprintf(kn, sizeof(kn), "%s/%s", t0, NOGROUP);
		TEST_ASSERT(applied_gen(recs, k0) == 1, "gid0 generation 1");
		TEST_ASSERT(applied_gen(recs, k2) == 5, "gid2 generation 5");
		TEST_ASSERT(applied_gen(recs, kn) == -1,
			    "a dead-lettered job has no applied record");
		cJSON_ArrayForEach(r, recs) TEST_ASSERT(
			cJSON_GetObjectItemCaseSensitive(r, "generation")
					->valuedouble != 3,
			"the superseded generation 3 was not recorded");
		cJSON_Delete(recs);

		/* A fresh worker (a restart) reads the marks at start: an
		 * older generation arriving now is superseded, not applied,
		 * although this process never saw generation 5. */
		writes_before = sim_stat(&fx, "writes_applied");
		produce_job(&fx, t0, gid2, 4, &adds[1], 1, NULL, 0);
		run_worker(&fx, &st);
		TEST_ASSERT(st.received == 1 && st.superseded == 1 &&
				    st.applied == 0,
			    "received %" PRIu64 " superseded %" PRIu64
			    " applied %" PRIu64,
			    st.received, st.superseded, st.applied);
		TEST_ASSERT(sim_stat(&fx, "writes_applied") == writes_before,
			    "no write for the stale job");
		now = tenant_state(&fx, t0);
		TEST_ASSERT(before1 || !in_array(group_members(now, gid2),
						 adds[1]),
			    "generation 4 not applied");
		cJSON_Delete(now);
	}

	SUB_TEST("429 + Retry-After and 503 faults: converges, DLQ unchanged");
	{
		const cJSON *users1 = cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(ts1, "entra"),
			"users");
		const cJSON *m1 = group_members(ts1, gid1);
		char rule[512];
		char logpath[600];
		int logfd;
		size_t n = 0;
		double thr0 = sim_stat(&fx, "throttled");
		cJSON_ArrayForEach(u, users1) {
			const char *id = cJSON_GetStringValue(
				cJSON_GetObjectItemCaseSensitive(u, "id"));
			if (!in_array(m1, id) && n < 30)
				all_adds[n++] = id;
		}
		TEST_ASSERT(n >= 21, "users to add in tenant 1: %zu", n);
		rs_snprintf(rule, sizeof(rule),
			    "{\"tenant\":\"%s\",\"path\":\"/graph/v1.0/groups*\","
			    "\"errors\":[{\"status\":429,\"retry_after\":\"2\"},"
			    "{\"status\":503},{\"status\":429,"
			    "\"retry_after\":\"1\"},{\"status\":503},"
			    "{\"status\":429,\"retry_after\":\"2\"}]}",
			    t1);
		TEST_ASSERT(rs_sim_faults_push(fx.sim, rule, err,
					       sizeof(err)) == RS_OK,
			    "faults: %s", err);
		produce_job(&fx, t1, gid1, 1, all_adds, n, NULL, 0);
		/* Structured logs: this run logs JSON lines to a file; the
		 * retried attempts must carry the job's fields. */
		rs_snprintf(logpath, sizeof(logpath), "%s/0302-log.jsonl",
			    fx.dir);
		logfd = open(logpath, O_CREAT | O_TRUNC | O_WRONLY, 0600);
		TEST_ASSERT(logfd >= 0, "open %s", logpath);
		rs_log_set_format(RS_LOG_FMT_JSON);
		rs_log_set_fd(logfd);
		run_worker(&fx, &st);
		rs_log_set_fd(2);
		rs_log_set_format(RS_LOG_FMT_TEXT);
		close(logfd);
		check_job_logs(logpath, t1, gid1);
		{
			cJSON *now = tenant_state(&fx, t1);
			const cJSON *m = group_members(now, gid1);
			for (i = 0; i < n; i++)
				TEST_ASSERT(in_array(m, all_adds[i]),
					    "added %s", all_adds[i]);
			cJSON_Delete(now);
		}
		TEST_ASSERT(st.applied == 1 && st.dead_lettered == 0,
			    "applied %" PRIu64 " dlq %" PRIu64, st.applied,
			    st.dead_lettered);
		TEST_ASSERT(sim_stat(&fx, "throttled") > thr0 ||
				    st.retried > 0,
			    "faults were hit");
		dlq = read_dlq(&fx, 2);
		TEST_ASSERT(cJSON_GetArraySize(dlq) == 2,
			    "DLQ still holds %d records",
			    cJSON_GetArraySize(dlq));
		cJSON_Delete(dlq);
	}

	SUB_TEST("tenant isolation: a throttled tenant holds no thread");
	{
		const cJSON *gA = cJSON_GetArrayItem(
			cJSON_GetObjectItemCaseSensitive(
				cJSON_GetObjectItemCaseSensitive(ts0, "entra"),
				"groups"),
			3);
		const cJSON *gB = cJSON_GetArrayItem(
			cJSON_GetObjectItemCaseSensitive(
				cJSON_GetObjectItemCaseSensitive(ts1, "entra"),
				"groups"),
			1);
		const char *gidA = cJSON_GetStringValue(
			cJSON_GetObjectItemCaseSensitive(gA, "id"));
		const char *gidB = cJSON_GetStringValue(
			cJSON_GetObjectItemCaseSensitive(gB, "id"));
		const cJSON *users1 = cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(ts1, "entra"),
			"users");
		const char *ua[1] = {NULL}, *ub[1] = {NULL}, *ov1[7];
		char rule[512], threads1[] = "worker.threads=1";
		rs_conf_t *conf1;
		bg_t b;
		pthread_t tid;
		int64_t t_start, t_429, t_a = -1, t_b = -1;
		double n429, lag_mid = -1, lag_end = -1, lag_retry = -1;
		int nser = 0, nser_retry = 0;

		TEST_ASSERT(gidA && gidB, "groups for isolation");
		cJSON_ArrayForEach(u, users) {
			const char *id = cJSON_GetStringValue(
				cJSON_GetObjectItemCaseSensitive(u, "id"));
			if (!ua[0] && !in_array(group_members(ts0, gidA), id))
				ua[0] = id;
		}
		cJSON_ArrayForEach(u, users1) {
			const char *id = cJSON_GetStringValue(
				cJSON_GetObjectItemCaseSensitive(u, "id"));
			if (!ub[0] && !in_array(group_members(ts1, gidB), id))
				ub[0] = id;
		}
		TEST_ASSERT(ua[0] && ub[0], "users for isolation");
		for (i = 0; i < 7; i++)
			ov1[i] = ov[i];
		ov1[4] = threads1;
		conf1 = rs_conf_load(path, ov1, 7, err, sizeof(err));
		TEST_ASSERT(conf1, "conf: %s", err);
		rs_snprintf(rule, sizeof(rule),
			    "{\"tenant\":\"%s\",\"path\":\"/graph/v1.0/groups/%s*\","
			    "\"errors\":[{\"status\":429,\"retry_after\":\"6\"}]}",
			    t1, gidB);
		TEST_ASSERT(rs_sim_faults_push(fx.sim, rule, err,
					       sizeof(err)) == RS_OK,
			    "faults: %s", err);
		b.w = rs_worker_new(conf1, err, sizeof(err));
		TEST_ASSERT(b.w, "worker: %s", err);
		t_start = rs_now_ms();
		TEST_ASSERT(pthread_create(&tid, NULL, bg_run, &b) == 0,
			    "thread");
		/* Tenant 2's job first; tenant 1's only once tenant 2 met
		 * its 429, so a worker that slept on the only thread would
		 * apply tenant 1 no earlier than 6 s later. */
		n429 = sim_429s(&fx);
		produce_job(&fx, t1, gidB, 1, ub, 1, NULL, 0);
		while (sim_429s(&fx) <= n429 &&
		       rs_now_ms() - t_start < rs_test_timeout_ms(60000))
			usleep(20000);
		t_429 = rs_now_ms();
		TEST_ASSERT(sim_429s(&fx) > n429, "tenant 2 throttled");
		produce_job(&fx, t0, gidA, 1, ua, 1, NULL, 0);
		while (rs_now_ms() - t_start < rs_test_timeout_ms(60000) &&
		       (t_a < 0 || t_b < 0)) {
			cJSON *s0 = tenant_state(&fx, t0),
			      *s1 = tenant_state(&fx, t1);
			if (t_a < 0 && in_array(group_members(s0, gidA), ua[0]))
				t_a = rs_now_ms();
			if (t_b < 0 && in_array(group_members(s1, gidB), ub[0]))
				t_b = rs_now_ms();
			cJSON_Delete(s0);
			cJSON_Delete(s1);
			if (t_a > 0 && t_b < 0 && lag_mid < 0)
				lag_mid = lag_metric(
					b.w, g->queue.kafka.topics.jobs_group,
					&nser);
			usleep(50000);
		}
		/* Done: the lag drops to 0; the retry consumer (its own
		 * group, joined meanwhile) reports its partitions too. */
		{
			int64_t end = rs_now_ms() + 5000;
			do {
				lag_end = lag_metric(
					b.w, g->queue.kafka.topics.jobs_group,
					&nser);
				lag_retry = lag_metric(
					b.w, g->queue.kafka.topics.retry,
					&nser_retry);
				if (lag_end == 0 && nser == 3 &&
				    nser_retry > 0)
					break;
				usleep(100000);
			} while (rs_now_ms() < end);
		}
		pthread_join(tid, NULL);
		rs_worker_stats(b.w, &st);
		rs_worker_destroy(b.w);
		rs_conf_destroy(conf1);
		rs_test_say("after tenant 2's 429: tenant 1 applied in %" PRId64
			    " ms, tenant 2 in %" PRId64 " ms (retried %" PRIu64
			    ")\n",
			    t_a - t_429, t_b - t_429, st.retried);
		TEST_ASSERT(b.err == RS_OK, "worker run");
		TEST_ASSERT(t_a > 0 && t_b > 0, "both applied");
		/* Tenant 1 did not wait for tenant 2's Retry-After although
		 * there is one pool thread; the 6 s were honoured. */
		TEST_ASSERT(t_a - t_429 < 4000, "tenant 1 held back %" PRId64
			    " ms", t_a - t_429);
		TEST_ASSERT(t_b - t_429 >= 5800, "Retry-After honoured: %" PRId64
			    " ms", t_b - t_429);
		TEST_ASSERT(st.retried >= 1 && st.dead_lettered == 0,
			    "retried %" PRIu64, st.retried);
		rs_test_say("consumer lag: %.0f while parked, %.0f after (%d "
			    "partitions), retry topic %.0f (%d partitions)\n",
			    lag_mid, lag_end, nser, lag_retry, nser_retry);
		TEST_ASSERT(lag_mid >= 1 && lag_mid <= 2,
			    "lag %.0f while tenant 2's job was parked", lag_mid);
		TEST_ASSERT(lag_end == 0 && nser == 3,
			    "lag %.0f over %d partitions after all were done",
			    lag_end, nser);
		TEST_ASSERT(nser_retry > 0 && lag_retry == 0,
			    "retry topic lag %.0f over %d partitions", lag_retry,
			    nser_retry);
	}

	SUB_TEST("a long Retry-After goes through the retry topic; a newer "
		 "generation supersedes it there");
	{
		const char *gidC = NULL, *uc[3] = {NULL, NULL, NULL}, *ov2[8];
		char hold[] = "worker.retry_hold_max=1s", rule[512], key[256];
		rs_conf_t *conf2;
		retry_scan_t rsc;
		bg_t b;
		pthread_t tid;
		int64_t t0ms, t_app = -1, deadline;
		size_t nu = 0;
		cJSON *now;

		/* gid0 again (applied at generation 1 above), with newer
		 * generations; users not in it now. */
		gidC = gid0;
		now = tenant_state(&fx, t0);
		cJSON_ArrayForEach(u, users) {
			const char *id = cJSON_GetStringValue(
				cJSON_GetObjectItemCaseSensitive(u, "id"));
			if (nu < 3 && !in_array(group_members(now, gidC), id))
				uc[nu++] = id;
		}
		cJSON_Delete(now);
		TEST_ASSERT(nu == 3, "users to add");
		for (i = 0; i < 7; i++)
			ov2[i] = ov[i];
		ov2[7] = hold;
		conf2 = rs_conf_load(path, ov2, 8, err, sizeof(err));
		TEST_ASSERT(conf2, "conf: %s", err);
		rs_snprintf(key, sizeof(key), "%s/%s", t0, gidC);
		rs_snprintf(rule, sizeof(rule),
			    "{\"tenant\":\"%s\",\"path\":\"/graph/v1.0/groups/%s*\","
			    "\"errors\":[{\"status\":429,\"retry_after\":\"3\"}]}",
			    t0, gidC);
		TEST_ASSERT(rs_sim_faults_push(fx.sim, rule, err,
					       sizeof(err)) == RS_OK,
			    "faults: %s", err);
		b.w = rs_worker_new(conf2, err, sizeof(err));
		TEST_ASSERT(b.w, "worker: %s", err);
		TEST_ASSERT(pthread_create(&tid, NULL, bg_run, &b) == 0,
			    "thread");
		/* Part 1: 3 s > retry_hold_max (1 s): the job leaves the
		 * worker for the retry topic and is applied once due. */
		t0ms = rs_now_ms();
		produce_job(&fx, t0, gidC, 10, &uc[0], 1, NULL, 0);
		deadline = rs_now_ms() + rs_test_timeout_ms(60000);
		while (t_app < 0 && rs_now_ms() < deadline) {
			now = tenant_state(&fx, t0);
			if (in_array(group_members(now, gidC), uc[0]))
				t_app = rs_now_ms();
			cJSON_Delete(now);
			usleep(50000);
		}
		rs_worker_stats(b.w, &st);
		TEST_ASSERT(t_app > 0, "applied after the retry topic");
		TEST_ASSERT(t_app - t0ms >= 2900,
			    "Retry-After honoured through the topic: %" PRId64
			    " ms",
			    t_app - t0ms);
		TEST_ASSERT(st.deferred == 1 && st.applied >= 1,
			    "deferred %" PRIu64 " applied %" PRIu64,
			    st.deferred, st.applied);
		memset(&rsc, 0, sizeof(rsc));
		rsc.key = key;
		TEST_ASSERT(rs_queue_scan(fx.prod, g->queue.kafka.topics.retry,
					  rs_test_timeout_ms(30000), retry_cb,
					  &rsc) == RS_OK,
			    "scan the retry topic");
		TEST_ASSERT(rsc.n == 1 && !strcmp(rsc.attempts, "1"),
			    "one retry record (attempts %s), got %d",
			    rsc.attempts, rsc.n);

		/* Part 2: generation 2 is deferred the same way; generation
		 * 3 arrives meanwhile and is applied; 2 comes back stale. */
		TEST_ASSERT(rs_sim_faults_push(fx.sim, rule, err,
					       sizeof(err)) == RS_OK,
			    "faults: %s", err);
		produce_job(&fx, t0, gidC, 11, &uc[1], 1, NULL, 0);
		deadline = rs_now_ms() + rs_test_timeout_ms(30000);
		do {
			usleep(20000);
			rs_worker_stats(b.w, &st);
		} while (st.deferred < 2 && rs_now_ms() < deadline);
		TEST_ASSERT(st.deferred == 2, "generation 2 deferred");
		produce_job(&fx, t0, gidC, 12, &uc[2], 1, NULL, 0);
		pthread_join(tid, NULL);
		TEST_ASSERT(b.err == RS_OK, "worker run");
		rs_worker_stats(b.w, &st);
		rs_worker_destroy(b.w);
		rs_conf_destroy(conf2);
		now = tenant_state(&fx, t0);
		TEST_ASSERT(in_array(group_members(now, gidC), uc[2]),
			    "generation 12 applied");
		TEST_ASSERT(!in_array(group_members(now, gidC), uc[1]),
			    "generation 11 never applied after 12");
		cJSON_Delete(now);
		TEST_ASSERT(st.superseded >= 1 && st.dead_lettered == 0,
			    "superseded %" PRIu64 " dlq %" PRIu64,
			    st.superseded, st.dead_lettered);
		rs_test_say("retry topic: applied %" PRId64 " ms after the "
			    "429 (Retry-After 3 s, hold max 1 s); deferred %"
			    PRIu64 ", superseded %" PRIu64 "\n",
			    t_app - t0ms, st.deferred, st.superseded);
	}

	SUB_TEST("binary: SIGTERM with a parked job exits 0, job not lost");
	{
		const cJSON *g3 = cJSON_GetArrayItem(
			cJSON_GetObjectItemCaseSensitive(
				cJSON_GetObjectItemCaseSensitive(ts0, "entra"),
				"groups"),
			2);
		const char *gid3 = cJSON_GetStringValue(
			cJSON_GetObjectItemCaseSensitive(g3, "id"));
		const char *bindir = rs_test_env_required("RS_BINARY_DIR");
		const char *add1[1];
		char bin[600], rule[512];
		double n429 = sim_429s(&fx);
		int64_t deadline, t_term;
		pid_t pid;
		int status = -1;

		TEST_ASSERT(gid3, "group 3");
		add1[0] = NULL;
		cJSON_ArrayForEach(u, users) {
			const char *id = cJSON_GetStringValue(
				cJSON_GetObjectItemCaseSensitive(u, "id"));
			if (!add1[0] && !in_array(group_members(ts0, gid3), id))
				add1[0] = id;
		}
		TEST_ASSERT(add1[0], "a user to add");
		rs_snprintf(rule, sizeof(rule),
			    "{\"tenant\":\"%s\",\"path\":\"/graph/v1.0/groups/%s*\","
			    "\"errors\":[{\"status\":429,\"retry_after\":\"30\"}]}",
			    t0, gid3);
		TEST_ASSERT(rs_sim_faults_push(fx.sim, rule, err,
					       sizeof(err)) == RS_OK,
			    "faults: %s", err);
		produce_job(&fx, t0, gid3, 1, add1, 1, NULL, 0);
		rs_snprintf(bin, sizeof(bin), "%s/worker/rostersync-worker",
			    bindir);
		pid = fork();
		TEST_ASSERT(pid >= 0, "fork");
		child_pid = pid;
		if (pid == 0) {
			execl(bin, bin, "-c", path, "-X", ov[0], "-X", ov[1],
			      "-X", ov[2], "-X", ov[3], "-X", ov[4], "-X",
			      ov[5], "-X", ov[6], (char *)NULL);
			_exit(127);
		}
		/* Wait until the job met its 429 (parked for 30 s). */
		deadline = rs_now_ms() + rs_test_timeout_ms(60000);
		while (sim_429s(&fx) <= n429 && rs_now_ms() < deadline)
			usleep(100000);
		TEST_ASSERT(sim_429s(&fx) > n429, "job throttled");
		usleep(300000);
		t_term = rs_now_ms();
		kill(pid, SIGTERM);
		deadline = rs_now_ms() + rs_test_timeout_ms(20000);
		while (waitpid(pid, &status, WNOHANG) == 0 &&
		       rs_now_ms() < deadline)
			usleep(50000);
		if (rs_now_ms() >= deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			TEST_FAIL("worker did not exit after SIGTERM");
		}
		child_pid = 0;
		TEST_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			    "exit status 0x%x", status);
		rs_test_say("exit %" PRId64 " ms after SIGTERM\n",
			    rs_now_ms() - t_term);
		{
			/* Parked, not applied: the next worker must do it. */
			cJSON *now = tenant_state(&fx, t0);
			TEST_ASSERT(!in_array(group_members(now, gid3),
					      add1[0]),
				    "parked job not applied yet");
			cJSON_Delete(now);
		}
		run_worker(&fx, &st);
		{
			cJSON *now = tenant_state(&fx, t0);
			TEST_ASSERT(in_array(group_members(now, gid3), add1[0]),
				    "released job applied by the next worker");
			cJSON_Delete(now);
		}
		TEST_ASSERT(st.received == 1 && st.applied == 1,
			    "received %" PRIu64 " applied %" PRIu64,
			    st.received, st.applied);
	}

	cJSON_Delete(ts0);
	cJSON_Delete(ts1);
	cJSON_Delete(tenants);
	rs_queue_destroy(fx.prod);
	rs_conf_destroy(conf);
	rs_sim_destroy(fx.sim);
	rs_test_rmtree(fx.dir);
	rs_http_global_cleanup();
	return rs_test_finish();
}
