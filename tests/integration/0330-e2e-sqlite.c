/*
 * 0330-e2e-sqlite.c - the planner and the worker end to end on the
 * EMBEDDED SQLite queue (queue.backend = "sqlite"): no broker at all.
 * The real rostersync-planner and rostersync-worker processes share one
 * queue file; the simulator runs in this process (4 tenants, 400 users).
 * The expected membership is computed here from the simulator's state, as
 * in 0320 (whose helpers this test copies).
 *
 * Sub-tests:
 *   1. convergence: planner --once, one worker --until-idle: every mapped
 *      group equals its source, the simulator applied exactly the planned
 *      writes, the DLQ (read with rs_queue_scan on the same file) is empty;
 *   2. a second worker of the same group is refused while the first runs
 *      (one consumer process per group on SQLite), with a clear message;
 *   3. idempotent: a second cycle publishes nothing and writes nothing;
 *   4. crash: churn, the worker is SIGKILLed mid-run and restarted at once
 *      (the dead holder's lease is taken over): converged, every planned
 *      write applied, DLQ empty, and the queue file passes
 *      PRAGMA integrity_check.
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
#include <sqlite3.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define NTENANTS 4

#include "e2e_it.h"

static rs_err_t dlq_cb(const rs_qmsg_t *msg, void *opaque) {
	int *n = opaque;
	size_t len;
	const char *v = rs_qmsg_value(msg, &len);
	if (!*n)
		rs_test_say("DLQ entry: %.*s", (int)RS_MIN(len, 400), v);
	(*n)++;
	return RS_OK;
}

/* Messages on the DLQ, read with a scan of the same queue file (no group:
 * nothing is consumed). */
static int dlq_count(e2e_t *e) {
	rs_queue_conf_t qc;
	rs_queue_t *q;
	char errstr[512];
	int n = 0;
	rs_err_t err;

	rs_queue_conf_init(&qc);
	qc.backend = "sqlite";
	qc.sqlite_path = e->db;
	qc.roles = RS_QUEUE_ROLE_PRODUCER;
	q = rs_queue_new(&qc, errstr, sizeof(errstr));
	TEST_ASSERT(q, "dlq reader: %s", errstr);
	err = rs_queue_scan(q, e->dlq_topic, 30000, dlq_cb, &n);
	TEST_ASSERT(err == RS_OK, "dlq scan: %s", rs_err_name(err));
	rs_queue_destroy(q);
	return n;
}

static void integrity_check(e2e_t *e) {
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	const char *res;

	TEST_ASSERT(sqlite3_open_v2(e->db, &db, SQLITE_OPEN_READWRITE, NULL) ==
			    SQLITE_OK,
		    "open %s", e->db);
	TEST_ASSERT(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st,
				       NULL) == SQLITE_OK &&
			    sqlite3_step(st) == SQLITE_ROW,
		    "integrity_check");
	res = (const char *)sqlite3_column_text(st, 0);
	TEST_ASSERT(res && !strcmp(res, "ok"), "integrity_check: %s",
		    res ? res : "(null)");
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static void setup(e2e_t *e) {
	memset(e, 0, sizeof(*e));
	e2e_setup_sim(e, "tenants=4,users=400,queues=40,seed=7");

	rs_test_unique_name("e2e-sqlite", e->prefix, sizeof(e->prefix));
	rs_snprintf(e->dlq_topic, sizeof(e->dlq_topic), "%s.jobs.dlq", e->prefix);
	rs_snprintf(e->group, sizeof(e->group), "%s-workers", e->prefix);
	rs_snprintf(e->db, sizeof(e->db), "%s/queue.db", e->dir);
	add_x(e, "queue.backend=sqlite");
	add_x(e, "queue.sqlite.path=%s", e->db);
	add_x(e, "queue.kafka.topic_prefix=%s.", e->prefix);
	add_x(e, "worker.group_id=%s", e->group);
	add_x(e, "planner.audit_dir=%s/audit", e->dir);
	add_x(e, "planner.report_dir=%s/report", e->dir);
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

	SUB_TEST("convergence on sqlite: planner --once, worker --until-idle");
	out = run_planner(&e, force, 0);
	adds = summary_get(out, "adds");
	removes = summary_get(out, "removes");
	TEST_ASSERT(summary_get(out, "tenants") == NTENANTS, "tenants");
	TEST_ASSERT(adds > 50, "a first sync has work: %ld/%ld", adds, removes);
	rs_free(out);
	run_workers_until_idle(&e, 1);
	groups = check_converged(&e, NULL, NULL);
	rs_test_say("%d groups converged; %ld adds, %ld removes applied", groups,
		    adds, removes);
	TEST_ASSERT(groups >= 30, "groups checked: %d", groups);
	TEST_ASSERT(stat_num(e.sim, "writes_applied") == (double)(adds + removes),
		    "sim applied %.0f writes for %ld planned changes",
		    stat_num(e.sim, "writes_applied"), adds + removes);
	TEST_ASSERT(dlq_count(&e) == 0, "DLQ not empty");

	SUB_TEST("a second worker of the group is refused while one runs");
	{
		const char *extra[] = {"--until-idle", "3", NULL};
		char p1[512], p2[512], *s;
		pid_t a, b;
		int rc;
		rs_snprintf(p1, sizeof(p1), "%s/second-a.log", e.dir);
		rs_snprintf(p2, sizeof(p2), "%s/second-b.log", e.dir);
		a = spawn(&e, e.worker, extra, p1);
		/* Let the first one take the group before the second starts. */
		rs_sleep_ms(1000);
		b = spawn(&e, e.worker, extra, p2);
		rc = wait_exit(b, 30000);
		TEST_ASSERT(rc != 0, "second worker ran (exit %d)", rc);
		s = slurp(p2);
		TEST_ASSERT(strstr(s, "one consumer process per group"),
			    "second worker's message: %s", s);
		rs_free(s);
		TEST_ASSERT(wait_exit(a, 60000) == 0, "first worker (see %s)",
			    p1);
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

	SUB_TEST("crash: SIGKILL the worker mid-run, restart it at once");
	{
		char errstr[256], path[512];
		const char *extra[] = {"--until-idle", "4", NULL};
		char *summary = NULL;
		double base;
		long planned;
		int64_t end;
		pid_t a;
		/* Slow Graph down so the kill lands while jobs are in flight. */
		TEST_ASSERT(rs_sim_faults_push(e.sim,
					       "{\"path\":\"/graph*\",\"latency\":"
					       "{\"min_ms\":20,\"max_ms\":60},"
					       "\"count\":400}",
					       errstr, sizeof(errstr)) == RS_OK,
			    "faults: %s", errstr);
		TEST_ASSERT(rs_sim_churn(e.sim, NULL, 30, &summary) == RS_OK,
			    "churn");
		rs_free(summary);
		base = stat_num(e.sim, "writes_applied");
		out = run_planner(&e, force, 0);
		TEST_ASSERT(summary_get(out, "jobs") > 5, "jobs to crash on");
		planned = summary_get(out, "adds") + summary_get(out, "removes");
		rs_free(out);
		rs_snprintf(path, sizeof(path), "%s/crash-a.log", e.dir);
		a = spawn(&e, e.worker, extra, path);
		/* Kill once some changes are applied, not all. */
		end = rs_now_ms() + rs_test_timeout_ms(60000);
		while (stat_num(e.sim, "writes_applied") < base + 2 &&
		       rs_now_ms() < end)
			rs_sleep_ms(5);
		TEST_ASSERT(stat_num(e.sim, "writes_applied") <
				    base + (double)planned,
			    "the worker finished before the kill");
		kill(a, SIGKILL);
		TEST_ASSERT(wait_exit(a, 10000) == -SIGKILL, "killed");
		integrity_check(&e);
		run_workers_until_idle(&e, 1);
		check_converged(&e, NULL, NULL);
		TEST_ASSERT(stat_num(e.sim, "writes_applied") ==
				    base + (double)planned,
			    "applied %.0f, planned %ld",
			    stat_num(e.sim, "writes_applied") - base, planned);
		TEST_ASSERT(dlq_count(&e) == 0, "DLQ not empty");
		integrity_check(&e);
	}

	rs_sim_destroy(e.sim);
	rs_test_rmtree(e.dir);
	e2e_cleanup(&e);
	return rs_test_finish();
}
