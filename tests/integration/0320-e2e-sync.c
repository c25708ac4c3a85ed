/*
 * 0320-e2e-sync.c - Talkdesk queues -> Entra groups end to end: the real
 * rostersync-planner and rostersync-worker processes, a real Kafka broker,
 * and the simulator (in this process) with a generated MSP of 20 tenants and
 * 6,000 users.
 *
 * The expected membership is computed here, independently of the planner's
 * code, straight from the simulator's state: a queue's Talkdesk users ->
 * their e-mails -> the Entra users whose mail or userPrincipalName equals the
 * e-mail case-insensitively.  Every mapped group must then equal that set
 * (exact mode) or contain it (additive mode).
 *
 * Sub-tests, in order, on the same dataset:
 *   1. convergence: one planner cycle, two workers until idle;
 *   2. idempotence: a second cycle publishes nothing and the sim records
 *      zero writes;
 *   3. churn: the audit CSV rows of the cycle are exactly the changes the
 *      simulator's groups went through;
 *   4. crash: one of two workers is SIGKILLed mid-run and restarted:
 *      converged, DLQ empty;
 *   5. faults: 503s and 429s with Retry-After injected on Graph:
 *      converged, DLQ empty;
 *   6. a permanent 403 for one tenant: its jobs are in the DLQ with the
 *      error, every other tenant converged.
 */
#include "rs/rs_base.h"
#include "rs/rs_queue.h"
#include "rs_sim.h"
#include "rs_test.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define NTENANTS 20
#define SICK_TENANT "t005"
#include "e2e_it.h"

/* Messages on the DLQ; tenant_cnt (may be NULL) counts those of sick. */
static int dlq_count(e2e_t *e, const char *sick, int *sick_cnt, char *first,
		     size_t first_size) {
	rs_queue_conf_t qc;
	rs_queue_t *q;
	const char *topics[] = {e->dlq_topic};
	char errstr[512], grp[160];
	int n = 0;
	int64_t quiet = 0, end;

	rs_test_unique_name("e2e-dlq-reader", grp, sizeof(grp));
	rs_queue_conf_init(&qc);
	qc.brokers = e->brokers;
	qc.group_id = grp;
	qc.topics = topics;
	qc.topic_cnt = 1;
	qc.roles = RS_QUEUE_ROLE_CONSUMER;
	qc.session_timeout_ms = 6000;
	q = rs_queue_new(&qc, errstr, sizeof(errstr));
	TEST_ASSERT(q, "dlq reader: %s", errstr);
	if (sick_cnt)
		*sick_cnt = 0;
	end = rs_now_ms() + rs_test_timeout_ms(60000);
	/* Wait for the assignment, then read until 3 s of silence. */
	while (rs_now_ms() < end) {
		rs_qmsg_t *msg = NULL;
		TEST_ASSERT(rs_queue_poll(q, 200, &msg) == RS_OK, "dlq poll");
		if (!msg) {
			if (rs_queue_assignment_cnt(q) && !quiet)
				quiet = rs_now_ms();
			if (quiet && rs_now_ms() - quiet > 3000)
				break;
			continue;
		}
		quiet = rs_now_ms();
		{
			size_t len;
			const char *v = rs_qmsg_value(msg, &len);
			cJSON *j = cJSON_ParseWithLength(v, len);
			const char *t = cJSON_GetStringValue(cJSON_GetObjectItem(j, "tenant"));
			if (first && !n)
				rs_snprintf(first, first_size, "%.*s",
					    (int)RS_MIN(len, 2000), v);
			if (sick && t && !strcmp(t, sick) && sick_cnt)
				(*sick_cnt)++;
			cJSON_Delete(j);
		}
		n++;
		rs_queue_msg_done(q, msg);
	}
	rs_queue_close(q);
	rs_queue_destroy(q);
	return n;
}

/* Trace ids (the 32 hex digits of a version-00 traceparent) of every job
 * the planner published, read back from the jobs topic. */
static rs_err_t trace_cb(const rs_qmsg_t *msg, void *opaque) {
	size_t len;
	const char *v = rs_qmsg_value(msg, &len);
	cJSON *j = cJSON_ParseWithLength(v, len);
	const char *tp = cJSON_GetStringValue(cJSON_GetObjectItem(j, "trace"));
	char id[33];

	TEST_ASSERT(tp && strlen(tp) == 55 && !strncmp(tp, "00-", 3),
		    "job carries a traceparent: %.200s", v);
	rs_snprintf(id, sizeof(id), "%.32s", tp + 3);
	if (!cJSON_GetObjectItem(opaque, id))
		cJSON_AddTrueToObject(opaque, id);
	cJSON_Delete(j);
	return RS_OK;
}

/* Every member add in the sim's ledger (PATCH members@odata.bind of a
 * group) carries the trace id of a published job.  Removes travel inside
 * POST $batch, which the planner also uses for its reads, so the ledger
 * cannot tell them apart; the worker sends them with the same call
 * context.  @returns writes checked. */
static int check_traces(e2e_t *e) {
	rs_queue_conf_t qc;
	rs_queue_t *q;
	char errstr[512], topic[192], *led;
	cJSON *traces = cJSON_CreateObject(), *lj;
	const cJSON *r;
	int n = 0;

	rs_snprintf(topic, sizeof(topic), "%s.jobs.group", e->prefix);
	rs_queue_conf_init(&qc);
	qc.brokers = e->brokers;
	qc.roles = RS_QUEUE_ROLE_PRODUCER;
	q = rs_queue_new(&qc, errstr, sizeof(errstr));
	TEST_ASSERT(q, "scanner: %s", errstr);
	TEST_ASSERT(rs_queue_scan(q, topic, rs_test_timeout_ms(60000), trace_cb,
				  traces) == RS_OK,
		    "scan %s", topic);
	rs_queue_destroy(q);
	TEST_ASSERT(cJSON_GetArraySize(traces) > 0, "jobs with traces");
	led = rs_sim_ledger_json(e->sim);
	lj = cJSON_Parse(led);
	rs_free(led);
	cJSON_ArrayForEach(r, cJSON_GetObjectItem(lj, "requests")) {
		const char *m = cJSON_GetStringValue(cJSON_GetObjectItem(r, "method"));
		const char *p = cJSON_GetStringValue(cJSON_GetObjectItem(r, "path"));
		const char *tp = cJSON_GetStringValue(
			cJSON_GetObjectItem(r, "traceparent"));
		char id[33];
		if (!m || !p || cJSON_GetObjectItem(r, "batch_depth") ||
		    strcmp(m, "PATCH") || !strstr(p, "/groups/"))
			continue;
		TEST_ASSERT(tp && strlen(tp) == 55, "write %s %s has a "
			    "traceparent", m, p);
		rs_snprintf(id, sizeof(id), "%.32s", tp + 3);
		TEST_ASSERT(cJSON_GetObjectItem(traces, id),
			    "write %s %s: trace %s is a published job's", m, p,
			    id);
		TEST_ASSERT(cJSON_GetStringValue(cJSON_GetObjectItem(
				    r, "client_request_id")),
			    "write %s %s has a client-request-id", m, p);
		n++;
	}
	cJSON_Delete(lj);
	cJSON_Delete(traces);
	return n;
}

static void setup(e2e_t *e) {
	memset(e, 0, sizeof(*e));
	e->brokers = rs_test_kafka_brokers();
	e2e_setup_sim(e, "tenants=20,users=6000,queues=200,seed=11");

	rs_test_unique_name("e2e", e->prefix, sizeof(e->prefix));
	rs_snprintf(e->dlq_topic, sizeof(e->dlq_topic), "%s.jobs.dlq", e->prefix);
	rs_snprintf(e->group, sizeof(e->group), "%s-workers", e->prefix);
	add_x(e, "queue.backend=kafka");
	add_x(e, "queue.kafka.brokers=%s", e->brokers);
	add_x(e, "queue.kafka.topic_prefix=%s.", e->prefix);
	add_x(e, "worker.group_id=%s", e->group);
	add_x(e, "planner.audit_dir=%s/audit", e->dir);
	add_x(e, "planner.report_dir=%s/report", e->dir);
	/* A SIGKILLed member keeps its partitions until its session times
	 * out (librdkafka default 45 s); a short session lets the restarted
	 * worker take them over within its --until-idle window. */
	add_x(e, "queue.kafka.properties=consumer.session.timeout.ms=6000,"
		 "consumer.heartbeat.interval.ms=1000");
	/* One tenant in additive mode: its groups keep extra members. */
	add_x(e, "tenant.t003.sync.mode=additive");
}

/* Audit rows appended after byte offset from: (group|user|action) set. */
static cJSON *audit_rows(e2e_t *e, size_t from, size_t *end) {
	char path[512];
	char *text, *line, *save = NULL;
	cJSON *rows = cJSON_CreateArray();
	rs_snprintf(path, sizeof(path), "%s/audit/audit.csv", e->dir);
	text = slurp(path);
	*end = strlen(text);
	for (line = strtok_r(text + RS_MIN(from, *end), "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *f[8] = {0}, *p = line, *last, *prev;
		int n = 0;
		char key[400];
		if (!strncmp(line, "time,", 5))
			continue;
		while (n < 4 && p) {
			f[n++] = p;
			p = strchr(p, ',');
			if (p)
				*p++ = '\0';
		}
		/* action and reason are the last two fields (e-mail may be
		 * quoted); p points at the rest. */
		last = p ? strrchr(p, ',') : NULL;
		TEST_ASSERT(n == 4 && last, "audit row: %s", line);
		*last = '\0';
		prev = strrchr(p, ',');
		TEST_ASSERT(prev, "audit row action");
		rs_snprintf(key, sizeof(key), "%s|%s|%s", f[2], f[3], prev + 1);
		cJSON_AddItemToArray(rows, cJSON_CreateString(key));
	}
	rs_free(text);
	return rows;
}

/* group|user|add/remove for every membership that differs between two
 * state snapshots. */
static cJSON *state_diff(const char *before, const char *after) {
	cJSON *b = cJSON_Parse(before), *a = cJSON_Parse(after), *out = cJSON_CreateArray();
	cJSON *tn;
	cJSON_ArrayForEach(tn, cJSON_GetObjectItem(a, "tenants")) {
		cJSON *bg = cJSON_GetObjectItem(cJSON_GetObjectItem(
			cJSON_GetObjectItem(cJSON_GetObjectItem(b, "tenants"), tn->string),
			"entra"), "groups");
		cJSON *g, *bgrp, *it;
		cJSON_ArrayForEach(g, cJSON_GetObjectItem(cJSON_GetObjectItem(tn, "entra"), "groups")) {
			const char *gid = cJSON_GetStringValue(cJSON_GetObjectItem(g, "id"));
			cJSON *old = NULL, *now = cJSON_GetObjectItem(g, "members");
			char key[400];
			cJSON_ArrayForEach(bgrp, bg) if (!strcmp(gid, cJSON_GetStringValue(
					   cJSON_GetObjectItem(bgrp, "id")))) old = cJSON_GetObjectItem(bgrp, "members");
			cJSON_ArrayForEach(it, now) if (!old || !arr_has(old, it->valuestring)) {
				rs_snprintf(key, sizeof(key), "%s|%s|add", gid, it->valuestring);
				cJSON_AddItemToArray(out, cJSON_CreateString(key));
			}
			cJSON_ArrayForEach(it, old) if (!arr_has(now, it->valuestring)) {
				rs_snprintf(key, sizeof(key), "%s|%s|remove", gid, it->valuestring);
				cJSON_AddItemToArray(out, cJSON_CreateString(key));
			}
		}
	}
	cJSON_Delete(a);
	cJSON_Delete(b);
	return out;
}

int main(void) {
	e2e_t e;
	const char *const force[] = {"--once", "--force-removals", NULL};
	const char *const once[] = {"--once", NULL};
	char *out;
	double writes, noops;
	int groups;
	long adds, removes;

	setup(&e);

	SUB_TEST("convergence: 20 tenants, 6000 users, planner + two workers");
	out = run_planner(&e, force, 0);
	adds = summary_get(out, "adds");
	removes = summary_get(out, "removes");
	TEST_ASSERT(summary_get(out, "tenants") == NTENANTS, "tenants");
	TEST_ASSERT(adds > 500 && removes > 0, "a first sync has work: %ld/%ld",
		    adds, removes);
	rs_free(out);
	run_workers_until_idle(&e, 2);
	groups = check_converged(&e, NULL, "t003");
	rs_test_say("%d groups converged; %ld adds, %ld removes applied", groups,
		    adds, removes);
	TEST_ASSERT(groups >= 190, "groups checked: %d", groups);
	TEST_ASSERT(stat_num(e.sim, "writes_applied") == (double)(adds + removes),
		    "sim applied %.0f writes for %ld planned changes",
		    stat_num(e.sim, "writes_applied"), adds + removes);
	TEST_ASSERT(dlq_count(&e, NULL, NULL, NULL, 0) == 0, "DLQ not empty");

	SUB_TEST("trace context: every member add carries its job's traceparent");
	{
		int n = check_traces(&e);
		rs_test_say("%d member adds carried the trace of their job", n);
		TEST_ASSERT(n > 0, "writes checked");
	}

	SUB_TEST("idempotent: a second cycle publishes nothing, zero writes");
	writes = stat_num(e.sim, "writes_applied");
	noops = stat_num(e.sim, "writes_noop");
	out = run_planner(&e, once, 0);
	TEST_ASSERT(summary_get(out, "jobs") == 0 && summary_get(out, "adds") == 0 &&
			    summary_get(out, "removes") == 0,
		    "second cycle: %s", out);
	rs_free(out);
	run_workers_until_idle(&e, 1);
	TEST_ASSERT(stat_num(e.sim, "writes_applied") == writes &&
			    stat_num(e.sim, "writes_noop") == noops,
		    "writes changed without source changes");

	SUB_TEST("churn: converged again, the audit CSV lists exactly the changes");
	{
		char *before, *after, *summary = NULL;
		cJSON *rows, *diff, *it;
		size_t off, end;
		int changes = 0;
		rows = audit_rows(&e, 0, &off);
		cJSON_Delete(rows);
		TEST_ASSERT(rs_sim_churn(e.sim, NULL, 10, &summary) == RS_OK, "churn");
		rs_free(summary);
		before = rs_sim_state_json(e.sim, NULL);
		out = run_planner(&e, force, 0);
		rs_free(out);
		run_workers_until_idle(&e, 2);
		check_converged(&e, NULL, "t003");
		after = rs_sim_state_json(e.sim, NULL);
		rows = audit_rows(&e, off, &end);
		diff = state_diff(before, after);
		cJSON_ArrayForEach(it, diff) {
			TEST_ASSERT(arr_has(rows, it->valuestring),
				    "change %s not in the audit CSV", it->valuestring);
			changes++;
		}
		cJSON_ArrayForEach(it, rows)
			TEST_ASSERT(arr_has(diff, it->valuestring),
				    "audit row %s is not a change that happened",
				    it->valuestring);
		TEST_ASSERT(changes > 0, "churn produced changes");
		rs_test_say("%d changes, %d audit rows", changes,
			    cJSON_GetArraySize(rows));
		cJSON_Delete(rows);
		cJSON_Delete(diff);
		rs_free(before);
		rs_free(after);
	}

	SUB_TEST("crash: SIGKILL one of two workers mid-run, restart it");
	{
		char errstr[256], path[512];
		const char *extra[] = {"--until-idle", "4", NULL};
		char *summary = NULL;
		pid_t a, b, c;
		/* Slow Graph down so the kill lands while jobs are in flight. */
		TEST_ASSERT(rs_sim_faults_push(e.sim,
					       "{\"path\":\"/graph*\",\"latency\":"
					       "{\"min_ms\":20,\"max_ms\":60},"
					       "\"count\":1000}",
					       errstr, sizeof(errstr)) == RS_OK,
			    "faults: %s", errstr);
		TEST_ASSERT(rs_sim_churn(e.sim, NULL, 25, &summary) == RS_OK, "churn");
		rs_free(summary);
		double base = stat_num(e.sim, "writes_applied");
		long planned;
		int64_t end;
		out = run_planner(&e, force, 0);
		TEST_ASSERT(summary_get(out, "jobs") > 20, "jobs to crash on");
		planned = summary_get(out, "adds") + summary_get(out, "removes");
		rs_free(out);
		rs_snprintf(path, sizeof(path), "%s/crash-a.log", e.dir);
		a = spawn(&e, e.worker, extra, path);
		rs_snprintf(path, sizeof(path), "%s/crash-b.log", e.dir);
		b = spawn(&e, e.worker, extra, path);
		/* Kill once a tenth of the changes is applied: mid-run by
		 * observation, not by a guess of how long the run takes. */
		end = rs_now_ms() + rs_test_timeout_ms(120000);
		while (stat_num(e.sim, "writes_applied") - base < (double)planned / 10 &&
		       rs_now_ms() < end)
			rs_sleep_ms(20);
		TEST_ASSERT(stat_num(e.sim, "writes_applied") - base < (double)planned,
			    "the run finished before the kill");
		rs_test_say("SIGKILL after %.0f of %ld changes",
			    stat_num(e.sim, "writes_applied") - base, planned);
		TEST_ASSERT(kill(a, SIGKILL) == 0, "kill");
		TEST_ASSERT(wait_exit(a, 10000) == -SIGKILL, "killed");
		rs_snprintf(path, sizeof(path), "%s/crash-c.log", e.dir);
		c = spawn(&e, e.worker, extra, path);
		TEST_ASSERT(wait_exit(b, 180000) == 0, "worker b");
		TEST_ASSERT(wait_exit(c, 180000) == 0, "worker c");
		rs_sim_faults_push(e.sim, "{\"clear\":true}", errstr, sizeof(errstr));
		check_converged(&e, NULL, "t003");
		TEST_ASSERT(dlq_count(&e, NULL, NULL, NULL, 0) == 0, "DLQ not empty");
	}

	SUB_TEST("faults: 10 %% 5xx and 5 %% 429 + Retry-After on Graph, converged");
	{
		char errstr[256], rule[2048];
		char *summary = NULL;
		size_t len;
		int i;
		/* Every 20 Graph requests: 2 server errors, one 429 with a
		 * fractional Retry-After, 17 normal answers; repeated 40 times,
		 * for the planner's reads and the workers' writes alike. */
		rs_snprintf(rule, sizeof(rule),
			    "{\"path\":\"/graph/v1.0/*\",\"repeat\":40,\"errors\":["
			    "{\"status\":503},");
		for (i = 0; i < 8; i++) {
			len = strlen(rule);
			rs_snprintf(rule + len, sizeof(rule) - len, "{\"kind\":\"pass\"},");
		}
		len = strlen(rule);
		rs_snprintf(rule + len, sizeof(rule) - len,
			    "{\"status\":429,\"retry_after\":\"0.3\"},");
		for (i = 0; i < 8; i++) {
			len = strlen(rule);
			rs_snprintf(rule + len, sizeof(rule) - len, "{\"kind\":\"pass\"},");
		}
		len = strlen(rule);
		rs_snprintf(rule + len, sizeof(rule) - len,
			    "{\"status\":500},{\"kind\":\"pass\"}]}");
		TEST_ASSERT(rs_sim_faults_push(e.sim, rule, errstr, sizeof(errstr)) ==
				    RS_OK,
			    "faults: %s", errstr);
		TEST_ASSERT(rs_sim_churn(e.sim, NULL, 10, &summary) == RS_OK, "churn");
		rs_free(summary);
		out = run_planner(&e, force, 0);
		rs_free(out);
		run_workers_until_idle(&e, 2);
		rs_sim_faults_push(e.sim, "{\"clear\":true}", errstr, sizeof(errstr));
		check_converged(&e, NULL, "t003");
		TEST_ASSERT(dlq_count(&e, NULL, NULL, NULL, 0) == 0, "DLQ not empty");
	}

	SUB_TEST("permanent 403 for one tenant: its jobs dead-lettered, others converge");
	{
		char errstr[256], first[2048] = "";
		char *summary = NULL;
		int sick = 0, n;
		TEST_ASSERT(rs_sim_churn(e.sim, NULL, 10, &summary) == RS_OK, "churn");
		rs_free(summary);
		out = run_planner(&e, force, 0);
		rs_free(out);
		/* After planning: the planner's reads succeed, the writes fail. */
		TEST_ASSERT(rs_sim_faults_push(
				    e.sim,
				    "{\"tenant\":\"" SICK_TENANT "\",\"path\":\"/graph/v1.0/*\","
				    "\"status\":403,\"count\":1000}",
				    errstr, sizeof(errstr)) == RS_OK,
			    "faults: %s", errstr);
		run_workers_until_idle(&e, 2);
		rs_sim_faults_push(e.sim, "{\"clear\":true}", errstr, sizeof(errstr));
		check_converged(&e, SICK_TENANT, "t003");
		n = dlq_count(&e, SICK_TENANT, &sick, first, sizeof(first));
		rs_test_say("DLQ: %d jobs, %d of %s; first: %.300s", n, sick,
			    SICK_TENANT, first);
		TEST_ASSERT(n > 0 && sick == n, "DLQ holds only %s's jobs: %d/%d",
			    SICK_TENANT, sick, n);
		TEST_ASSERT(strstr(first, "403"), "DLQ entry carries the 403");
	}

	rs_sim_destroy(e.sim);
	rs_test_rmtree(e.dir);
	e2e_cleanup(&e);
	return rs_test_finish();
}
