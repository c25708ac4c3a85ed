/*
 * 0310-planner-publish.c - a real planner cycle against an in-process
 * simulator publishing to a real broker.
 *
 * Proves:
 *  - one group.members job per group with changes lands on the jobs topic,
 *    with message key = envelope key = "tenant/group", a well-formed W3C
 *    traceparent header equal to the envelope's trace, and exactly the
 *    adds/removes of a dry-run plan of the same state;
 *  - every job of a tenant in a cycle carries the same generation, taken
 *    from the wall clock at the cycle start, and the next cycle's is larger;
 *  - the audit CSV gets one row per planned change (plus the header once).
 */
#include "rs/rs_base.h"
#include "rs_test.h"
#include "rs_sim.h"

#include "rs/rs_conf.h"
#include "rs/rs_envelope.h"
#include "rs/rs_http.h"
#include "rs/rs_queue.h"
#include "rs_planner.h"

#include <cjson/cJSON.h>
#include <ctype.h>

static const char *jstr(const cJSON *o, const char *k) {
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(it) ? it->valuestring : NULL;
}

static cJSON *load_json(const char *path) {
	FILE *fp = fopen(path, "r");
	char *buf;
	long n;
	cJSON *j;

	TEST_ASSERT(fp, "open %s", path);
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	buf = rs_calloc(1, (size_t)n + 1);
	TEST_ASSERT(fread(buf, 1, (size_t)n, fp) == (size_t)n, "read %s", path);
	fclose(fp);
	j = cJSON_Parse(buf);
	TEST_ASSERT(j, "%s is JSON", path);
	rs_free(buf);
	return j;
}

static size_t count_lines(const char *path) {
	FILE *fp = fopen(path, "r");
	size_t n = 0;
	int c;
	TEST_ASSERT(fp, "open %s", path);
	while ((c = fgetc(fp)) != EOF)
		n += c == '\n';
	fclose(fp);
	return n;
}

/* The plan's group for a key "tenant/group", or NULL. */
static const cJSON *plan_group(const cJSON *plan, const char *key) {
	const cJSON *t, *g;
	char k[512];
	cJSON_ArrayForEach(t, cJSON_GetObjectItem(plan, "tenants"))
		cJSON_ArrayForEach(g, cJSON_GetObjectItem(t, "groups")) {
		rs_snprintf(k, sizeof(k), "%s/%s", jstr(t, "id"),
			    jstr(g, "group_id"));
		if (!strcmp(k, key))
			return g;
	}
	return NULL;
}

static void same_members(const cJSON *arr, const rs_env_member_t *v,
			 size_t n, const char *what, const char *key) {
	size_t i = 0;
	const cJSON *m;
	TEST_ASSERT((size_t)cJSON_GetArraySize(arr) == n,
		    "%s %s: %zu in the job, %d in the plan", key, what, n,
		    cJSON_GetArraySize(arr));
	/* Both sorted by id. */
	cJSON_ArrayForEach(m, arr) {
		TEST_ASSERT(!strcmp(jstr(m, "id"), v[i].id), "%s %s[%zu]", key,
			    what, i);
		i++;
	}
}

static bool traceparent_ok(const char *s, size_t n) {
	size_t i;
	if (n != 55 || strncmp(s, "00-", 3) || s[35] != '-' || s[52] != '-')
		return false;
	for (i = 3; i < 52; i++)
		if (i != 35 && !isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

/* Consumes n jobs and checks each against the plan; returns the
 * generation (all equal per tenant: the dataset's tenants share a cycle
 * start, so all jobs of the cycle carry it). */
static int64_t consume_check(rs_queue_t *c, const cJSON *plan, size_t n,
			     int64_t started) {
	int64_t deadline = rs_now_ms() + rs_test_timeout_ms(60000), gen = 0;
	size_t got = 0;

	while (got < n && rs_now_ms() < deadline) {
		rs_qmsg_t *msg = NULL;
		rs_envelope_t env;
		const void *val, *key, *tp;
		size_t vlen, klen, tplen;
		char errstr[256], k[512];
		const cJSON *g;

		TEST_ASSERT(rs_queue_poll(c, 200, &msg) == RS_OK, "poll");
		if (!msg)
			continue;
		val = rs_qmsg_value(msg, &vlen);
		key = rs_qmsg_key(msg, &klen);
		rs_envelope_init(&env);
		TEST_ASSERT(rs_envelope_decode(val, vlen, RS_ENVELOPE_F_STRICT,
					       &env, errstr,
					       sizeof(errstr)) == RS_OK,
			    "decode: %s", errstr);
		rs_snprintf(k, sizeof(k), "%.*s", (int)klen, (const char *)key);
		TEST_ASSERT(!strcmp(k, env.key), "message key %s = %s", k,
			    env.key);
		TEST_ASSERT(env.kind_id == RS_ENV_KIND_GROUP_MEMBERS, "kind");
		TEST_ASSERT(rs_qmsg_header_get(msg, "traceparent", &tp,
					       &tplen) == RS_OK &&
				    traceparent_ok(tp, tplen),
			    "traceparent header");
		TEST_ASSERT(env.trace && !strncmp(env.trace, tp, tplen),
			    "envelope trace = header");
		TEST_ASSERT(env.generation >= started, "generation from the "
							"cycle start");
		TEST_ASSERT(!gen || env.generation == gen,
			    "one generation per cycle");
		gen = env.generation;
		TEST_ASSERT(env.source && !strcmp(env.source, "talkdesk:queues"),
			    "source");
		g = plan_group(plan, env.key);
		TEST_ASSERT(g, "job %s is in the plan", env.key);
		same_members(cJSON_GetObjectItem(g, "adds"), env.members.adds,
			     env.members.add_cnt, "adds", env.key);
		same_members(cJSON_GetObjectItem(g, "removes"),
			     env.members.removes, env.members.remove_cnt,
			     "removes", env.key);
		rs_envelope_cleanup(&env);
		rs_queue_msg_done(c, msg);
		got++;
	}
	TEST_ASSERT(got == n, "%zu of %zu jobs consumed", got, n);
	return gen;
}

int main(void) {
	const char *brokers = rs_test_kafka_brokers();
	rs_sim_conf_t sc;
	rs_sim_gen_t gen;
	rs_sim_t *sim;
	char err[4096], dir[512], main_path[1024], prefix[128], topic[200],
		ov_b[600], ov_p[200], ov_a[700], report[700], path[800],
		group[128];
	const char *ov[4], *topics[1] = {topic};
	rs_conf_t *conf;
	rs_planner_opts_t opts;
	rs_planner_summary_t dry, s1, s2;
	rs_planner_t *p;
	rs_queue_conf_t qc;
	rs_queue_t *c;
	cJSON *plan;
	int64_t started, g1, g2;

	TEST_ASSERT(rs_http_global_init() == RS_OK, "curl init");
	rs_sim_conf_init(&sc);
	sim = rs_sim_new(&sc, err, sizeof(err));
	TEST_ASSERT(sim, "sim: %s", err);
	rs_sim_gen_init(&gen);
	gen.tenants = 2;
	gen.users = 100;
	gen.queues = 4;
	gen.seed = 302;
	gen.cert_every = 0;
	TEST_ASSERT(rs_sim_generate(sim, &gen, err, sizeof(err)) == RS_OK,
		    "generate: %s", err);
	TEST_ASSERT(rs_sim_start(sim, err, sizeof(err)) == RS_OK, "start: %s",
		    err);
	rs_test_mkdtemp(dir, sizeof(dir));
	TEST_ASSERT(rs_sim_print_config(sim, dir, err, sizeof(err)) == RS_OK,
		    "print-config: %s", err);
	rs_snprintf(main_path, sizeof(main_path), "%s/rostersync.conf", dir);
	rs_test_unique_name("rs-it-0310.", prefix, sizeof(prefix));
	rs_snprintf(topic, sizeof(topic), "%sjobs.group", prefix);
	rs_snprintf(ov_b, sizeof(ov_b), "queue.kafka.brokers=%s", brokers);
	rs_snprintf(ov_p, sizeof(ov_p), "queue.kafka.topic_prefix=%s", prefix);
	rs_snprintf(ov_a, sizeof(ov_a), "planner.audit_dir=%s/audit", dir);
	ov[0] = "queue.backend=kafka";
	ov[1] = ov_b;
	ov[2] = ov_p;
	ov[3] = ov_a;
	conf = rs_conf_load(main_path, ov, 4, err, sizeof(err));
	TEST_ASSERT(conf, "config: %s", err);
	TEST_ASSERT(!strcmp(rs_conf_global(conf)->queue.kafka.topics.jobs_group,
			    topic),
		    "jobs topic %s", topic);

	SUB_TEST("dry-run plan of the same state");
	memset(&opts, 0, sizeof(opts));
	opts.dry_run = true;
	rs_snprintf(report, sizeof(report), "%s/report", dir);
	opts.report_dir = report;
	p = rs_planner_new(conf, &opts, err, sizeof(err));
	TEST_ASSERT(p, "planner: %s", err);
	TEST_ASSERT(rs_planner_cycle(p, &dry) == RS_OK, "dry cycle");
	TEST_ASSERT(dry.jobs > 0, "the dataset has changes");
	rs_planner_destroy(p);
	rs_snprintf(path, sizeof(path), "%s/plan.json", report);
	plan = load_json(path);

	SUB_TEST("real cycle publishes %zu jobs to %s", dry.jobs, topic);
	rs_queue_conf_init(&qc);
	qc.brokers = brokers;
	qc.roles = RS_QUEUE_ROLE_PRODUCER;
	c = rs_queue_new(&qc, err, sizeof(err));
	TEST_ASSERT(c, "admin: %s", err);
	TEST_ASSERT(rs_queue_create_topics(c, topics, 1, 3, 1, NULL, 0,
					   rs_test_timeout_ms(30000), err,
					   sizeof(err)) == RS_OK,
		    "create topic: %s", err);
	rs_queue_destroy(c);

	opts.dry_run = false;
	p = rs_planner_new(conf, &opts, err, sizeof(err));
	TEST_ASSERT(p, "planner: %s", err);
	started = rs_wall_ms();
	TEST_ASSERT(rs_planner_cycle(p, &s1) == RS_OK, "cycle 1");
	TEST_ASSERT(s1.jobs == dry.jobs && s1.adds == dry.adds &&
			    s1.removes == dry.removes &&
			    s1.held_back == dry.held_back,
		    "same totals as the dry run");
	rs_snprintf(path, sizeof(path), "%s/audit/audit.csv", dir);
	TEST_ASSERT(count_lines(path) == 1 + s1.adds + s1.removes + s1.held_back,
		    "audit: header + one row per change");

	rs_test_unique_name("rs-it-0310-grp", group, sizeof(group));
	rs_queue_conf_init(&qc);
	qc.brokers = brokers;
	qc.roles = RS_QUEUE_ROLE_CONSUMER;
	qc.group_id = group;
	qc.topics = topics;
	qc.topic_cnt = 1;
	c = rs_queue_new(&qc, err, sizeof(err));
	TEST_ASSERT(c, "consumer: %s", err);
	g1 = consume_check(c, plan, s1.jobs, started);

	SUB_TEST("second cycle: same jobs, newer generation");
	TEST_ASSERT(rs_planner_cycle(p, &s2) == RS_OK, "cycle 2");
	TEST_ASSERT(s2.jobs == s1.jobs, "nothing was applied in between");
	g2 = consume_check(c, plan, s2.jobs, started);
	TEST_ASSERT(g2 > g1, "generation %lld > %lld", (long long)g2,
		    (long long)g1);
	TEST_ASSERT(count_lines(path) ==
			    1 + 2 * (s1.adds + s1.removes + s1.held_back),
		    "audit appended, header once");

	rs_queue_close(c);
	rs_queue_destroy(c);
	rs_planner_destroy(p);
	cJSON_Delete(plan);
	rs_conf_destroy(conf);
	rs_test_rmtree(dir);
	rs_sim_destroy(sim);
	return rs_test_finish();
}
