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

/* Everything one run shares; lives on main()'s stack. */
typedef struct {
	rs_sim_t *sim;
	char dir[256];
	char conf[512];
	char planner[512];
	char worker[512];
	char db[512];
	char prefix[128];
	char dlq_topic[192];
	char group[128];
	char *xargs[32];
	int xcnt;
	int cycle;
} e2e_t;

static void add_x(e2e_t *e, const char *fmt, ...) RS_PRINTF(2, 3);
static void add_x(e2e_t *e, const char *fmt, ...) {
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	e->xargs[e->xcnt++] = rs_strdup("-X");
	e->xargs[e->xcnt++] = rs_strdup(buf);
}

/* Starts bin with the common -X arguments plus extra ones; stdout and
 * stderr go to out_path. */
static pid_t spawn(e2e_t *e, const char *bin, const char *const *extra,
		   const char *out_path) {
	char *argv[64];
	int n = 0, i;
	pid_t pid;
	posix_spawn_file_actions_t fa;

	argv[n++] = (char *)bin;
	argv[n++] = (char *)"-c";
	argv[n++] = e->conf;
	for (i = 0; extra && extra[i]; i++)
		argv[n++] = (char *)extra[i];
	for (i = 0; i < e->xcnt; i++)
		argv[n++] = e->xargs[i];
	argv[n] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, out_path,
					 O_WRONLY | O_CREAT | O_APPEND, 0644);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	TEST_ASSERT(posix_spawn(&pid, bin, &fa, NULL, argv, environ) == 0,
		    "cannot start %s", bin);
	posix_spawn_file_actions_destroy(&fa);
	return pid;
}

/* Waits for pid at most timeout_ms; returns its exit code (-signal). */
static int wait_exit(pid_t pid, int64_t timeout_ms) {
	int64_t end = rs_now_ms() + rs_test_timeout_ms(timeout_ms);
	int st;
	while (rs_now_ms() < end) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
		rs_sleep_ms(50);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	TEST_FAIL("process %d did not finish in %lld ms", (int)pid,
		  (long long)timeout_ms);
}

static char *slurp(const char *path) {
	FILE *fp = fopen(path, "rb");
	char *buf;
	long len;
	TEST_ASSERT(fp, "cannot open %s", path);
	fseek(fp, 0, SEEK_END);
	len = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	buf = rs_malloc((size_t)len + 1);
	TEST_ASSERT(fread(buf, 1, (size_t)len, fp) == (size_t)len, "read %s",
		    path);
	buf[len] = '\0';
	fclose(fp);
	return buf;
}

/* Value of "key=N" in the planner's summary line (its last stdout line). */
static long summary_get(const char *text, const char *key) {
	const char *line = text, *p;
	char pat[64];
	size_t klen;
	/* The summary starts with "tenants="; take the last such line. */
	for (p = text; (p = strstr(p, "tenants=")) != NULL; p++)
		if (p == text || p[-1] == '\n')
			line = p;
	rs_snprintf(pat, sizeof(pat), "%s=", key);
	klen = strlen(pat);
	for (p = line; (p = strstr(p, pat)) != NULL; p += klen)
		if (p == line || p[-1] == ' ')
			return strtol(p + klen, NULL, 10);
	TEST_FAIL("no %s in planner output: %.300s", key, line);
}

/* One planner cycle; returns its stdout+stderr text (rs_free). */
static char *run_planner(e2e_t *e, const char *const *extra, int want_rc) {
	char out[512];
	pid_t pid;
	int rc;
	rs_snprintf(out, sizeof(out), "%s/planner-%d.log", e->dir, ++e->cycle);
	pid = spawn(e, e->planner, extra, out);
	rc = wait_exit(pid, 120000);
	TEST_ASSERT(rc == want_rc, "planner exit %d (want %d), see %s", rc,
		    want_rc, out);
	return slurp(out);
}

static void run_workers_until_idle(e2e_t *e, int n) {
	const char *extra[] = {"--until-idle", "4", NULL};
	pid_t pids[4];
	char out[512];
	int i;
	for (i = 0; i < n; i++) {
		rs_snprintf(out, sizeof(out), "%s/worker-%d-%d.log", e->dir,
			    e->cycle, i);
		pids[i] = spawn(e, e->worker, extra, out);
	}
	for (i = 0; i < n; i++)
		TEST_ASSERT(wait_exit(pids[i], 180000) == 0,
			    "worker %d failed (see %s/worker-%d-%d.log)", i,
			    e->dir, e->cycle, i);
}

static double stat_num(rs_sim_t *sim, const char *key) {
	char *s = rs_sim_stats_json(sim);
	cJSON *j = cJSON_Parse(s);
	double v = cJSON_GetNumberValue(cJSON_GetObjectItem(j, key));
	cJSON_Delete(j);
	rs_free(s);
	return v;
}

static void lower(char *s) {
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

static bool arr_has(const cJSON *arr, const char *s) {
	const cJSON *it;
	cJSON_ArrayForEach(it, arr) if (!strcmp(it->valuestring, s)) return true;
	return false;
}

/*
 * Compares every mapped group of every tenant with the desired membership
 * computed from the source.  Tenants in skip (may be NULL) are not checked.
 * Returns the number of groups checked.
 */
static int check_converged(e2e_t *e, const char *skip, const char *additive) {
	char *ts = rs_sim_tenants_json(e->sim), *ss = rs_sim_state_json(e->sim, NULL);
	cJSON *tenants = cJSON_Parse(ts), *state = cJSON_Parse(ss), *tn;
	int groups = 0;

	TEST_ASSERT(tenants && state, "sim JSON");
	cJSON_ArrayForEach(tn, tenants) {
		const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(tn, "id"));
		cJSON *st = cJSON_GetObjectItem(cJSON_GetObjectItem(state, "tenants"), id);
		cJSON *eusers = cJSON_GetObjectItem(cJSON_GetObjectItem(st, "entra"), "users");
		cJSON *egroups = cJSON_GetObjectItem(cJSON_GetObjectItem(st, "entra"), "groups");
		cJSON *tusers = cJSON_GetObjectItem(cJSON_GetObjectItem(st, "talkdesk"), "users");
		cJSON *queues = cJSON_GetObjectItem(cJSON_GetObjectItem(st, "talkdesk"), "queues");
		cJSON *map = cJSON_GetObjectItem(tn, "mapping"), *m;
		bool add_only = additive && !strcmp(id, additive);

		if (skip && !strcmp(id, skip))
			continue;
		cJSON_ArrayForEach(m, map) {
			cJSON *q = NULL, *g = NULL, *it, *want = cJSON_CreateArray();
			cJSON_ArrayForEach(it, queues) if (!strcmp(cJSON_GetStringValue(
					   cJSON_GetObjectItem(it, "name")), m->string)) q = it;
			cJSON_ArrayForEach(it, egroups) if (!strcmp(cJSON_GetStringValue(
					   cJSON_GetObjectItem(it, "id")), m->valuestring)) g = it;
			TEST_ASSERT(q && g, "%s: queue %s or group %s missing", id,
				    m->string, m->valuestring);
			/* desired = Entra users matching a queue member's e-mail */
			cJSON_ArrayForEach(it, cJSON_GetObjectItem(q, "users")) {
				cJSON *tu, *eu;
				char email[320] = "";
				cJSON_ArrayForEach(tu, tusers) if (!strcmp(cJSON_GetStringValue(
						   cJSON_GetObjectItem(tu, "id")), it->valuestring))
					rs_snprintf(email, sizeof(email), "%s",
						    cJSON_GetStringValue(cJSON_GetObjectItem(tu, "email")));
				lower(email);
				if (!email[0])
					continue;
				cJSON_ArrayForEach(eu, eusers) {
					char mail[320], upn[320];
					const char *v;
					v = cJSON_GetStringValue(cJSON_GetObjectItem(eu, "mail"));
					rs_snprintf(mail, sizeof(mail), "%s", v ? v : "");
					v = cJSON_GetStringValue(cJSON_GetObjectItem(eu, "userPrincipalName"));
					rs_snprintf(upn, sizeof(upn), "%s", v ? v : "");
					lower(mail);
					lower(upn);
					if (!strcmp(mail, email) || !strcmp(upn, email)) {
						const char *uid = cJSON_GetStringValue(
							cJSON_GetObjectItem(eu, "id"));
						if (!arr_has(want, uid))
							cJSON_AddItemToArray(want, cJSON_CreateString(uid));
						break;
					}
				}
			}
			{
				cJSON *have = cJSON_GetObjectItem(g, "members");
				cJSON_ArrayForEach(it, want)
					TEST_ASSERT(arr_has(have, it->valuestring),
						    "%s group %s (%s): desired member %s missing",
						    id, m->valuestring, m->string, it->valuestring);
				/* An empty queue never causes removals (the
				 * planner's safety rule): its group keeps what it
				 * has. */
				bool empty = cJSON_GetArraySize(
						     cJSON_GetObjectItem(q, "users")) == 0;
				if (!add_only && !empty)
					cJSON_ArrayForEach(it, have)
						TEST_ASSERT(arr_has(want, it->valuestring),
							    "%s group %s (%s): member %s not in the source",
							    id, m->valuestring, m->string, it->valuestring);
			}
			cJSON_Delete(want);
			groups++;
		}
	}
	cJSON_Delete(tenants);
	cJSON_Delete(state);
	rs_free(ts);
	rs_free(ss);
	return groups;
}

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
	rs_sim_conf_t sc;
	rs_sim_gen_t gen;
	char errstr[512];
	const char *bin = rs_test_env_required("RS_BINARY_DIR");

	memset(e, 0, sizeof(*e));
	rs_test_mkdtemp(e->dir, sizeof(e->dir));
	rs_snprintf(e->planner, sizeof(e->planner),
		    "%s/producer/rostersync-planner", bin);
	rs_snprintf(e->worker, sizeof(e->worker),
		    "%s/worker/rostersync-worker", bin);
	TEST_ASSERT(access(e->planner, X_OK) == 0 && access(e->worker, X_OK) == 0,
		    "planner/worker binaries missing in %s", bin);

	rs_sim_conf_init(&sc);
	sc.port = 0;
	sc.threads = 4;
	e->sim = rs_sim_new(&sc, errstr, sizeof(errstr));
	TEST_ASSERT(e->sim, "sim: %s", errstr);
	rs_sim_gen_init(&gen);
	TEST_ASSERT(rs_sim_gen_parse(&gen, "tenants=4,users=400,queues=40,seed=7",
				     errstr, sizeof(errstr)) == RS_OK, "%s", errstr);
	TEST_ASSERT(rs_sim_generate(e->sim, &gen, errstr, sizeof(errstr)) == RS_OK,
		    "generate: %s", errstr);
	TEST_ASSERT(rs_sim_start(e->sim, errstr, sizeof(errstr)) == RS_OK,
		    "start: %s", errstr);
	rs_snprintf(errstr, sizeof(errstr), "%s/config", e->dir);
	TEST_ASSERT(rs_sim_print_config(e->sim, errstr, errstr, sizeof(errstr)) ==
			    RS_OK, "print-config: %s", errstr);
	rs_snprintf(e->conf, sizeof(e->conf), "%s/config/rostersync.conf", e->dir);

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
	return rs_test_finish();
}
