/*
 * 0510-cli-run.c - `rostersync run`: the planner and the worker pool in one
 * process, against an in-process simulator (3 tenants, 600 users).  The
 * expected membership is computed here from the simulator's state
 * (sync_it.h), not by the planner.
 *
 * Runs once per queue back-end: `0510-cli-run` (argument sqlite, label
 * integration: the embedded queue, no broker) and `0512-cli-run-kafka`
 * (argument kafka, label kafka: the test broker, a topic prefix and a
 * consumer group of its own).
 *
 * Sub-tests:
 *   1. usage and configuration errors exit 2 (no config, bad -X, unknown
 *      option, stray argument, bad --until-idle);
 *   2. --once converges: exit 0, one summary line, every mapped group
 *      equals its source, and the simulator applied exactly the planned
 *      writes (nothing lost, nothing twice);
 *   3. --once again is idempotent: jobs=0 and no write;
 *   4. loop mode (no --once) after a churn round: the first cycle's jobs
 *      are applied by the pool in the same process (converged), the
 *      planner's and the worker's /metrics endpoints answer with their
 *      metrics, and SIGTERM ends it cleanly with exit 0.
 */
#include "rs/rs_base.h"
#include "rs_sim.h"
#include "rs_test.h"
#include "sync_it.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

typedef struct {
	rs_sim_t *sim;
	char dir[256], conf[512], bin[512], db[512];
	int runs;
} run_t;

/* Starts `rostersync run ARGS...`; stdout and stderr go to out_path. */
static pid_t spawn_run(run_t *r, const char *const *args, const char *out_path) {
	char *argv[64];
	int n = 0, i;
	pid_t pid;
	posix_spawn_file_actions_t fa;

	argv[n++] = r->bin;
	argv[n++] = (char *)"run";
	for (i = 0; args[i]; i++)
		argv[n++] = (char *)args[i];
	argv[n] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, out_path,
					 O_WRONLY | O_CREAT | O_TRUNC, 0644);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	TEST_ASSERT(posix_spawn(&pid, r->bin, &fa, NULL, argv, environ) == 0,
		    "cannot start %s", r->bin);
	posix_spawn_file_actions_destroy(&fa);
	return pid;
}

static int wait_exit(pid_t pid, int64_t timeout_ms) {
	int64_t end = rs_now_ms() + rs_test_timeout_ms(timeout_ms);
	int st;

	while (rs_now_ms() < end) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
		rs_sleep_ms(50);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	TEST_FAIL("process %d did not finish in %lld ms", (int)pid,
		  (long long)timeout_ms);
}

/* Runs to completion; returns the exit code, *out the output (rs_free). */
static int run_to_end(run_t *r, const char *const *args, char **out) {
	char path[512];
	int rc;

	rs_snprintf(path, sizeof(path), "%s/run-%d.log", r->dir, ++r->runs);
	rc = wait_exit(spawn_run(r, args, path), 120000);
	*out = it_slurp(path);
	return rc;
}

/* "key=N" from the last summary line ("tenants=..."). */
static long summary_get(const char *text, const char *key) {
	const char *line = NULL, *p;
	char pat[64];
	size_t klen;

	for (p = text; (p = strstr(p, "tenants=")) != NULL; p++)
		if (p == text || p[-1] == '\n')
			line = p;
	TEST_ASSERT(line, "no summary line in: %.500s", text);
	rs_snprintf(pat, sizeof(pat), "%s=", key);
	klen = strlen(pat);
	for (p = line; (p = strstr(p, pat)) != NULL; p += klen)
		if (p == line || p[-1] == ' ')
			return strtol(p + klen, NULL, 10);
	TEST_FAIL("no %s in %.300s", key, line);
}

/* A loopback port free right now. */
static int free_port(void) {
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	TEST_ASSERT(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
			    getsockname(fd, (struct sockaddr *)&sa, &len) == 0,
		    "free port");
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static size_t on_body(char *p, size_t sz, size_t n, void *opaque) {
	char **buf = opaque;
	size_t old = *buf ? strlen(*buf) : 0;

	*buf = rs_realloc(*buf, old + sz * n + 1);
	memcpy(*buf + old, p, sz * n);
	(*buf)[old + sz * n] = '\0';
	return sz * n;
}

/* GET http://127.0.0.1:port/metrics; returns the body (rs_free). */
static char *get_metrics(int port) {
	CURL *c = curl_easy_init();
	char url[128], *body = NULL;
	long status = 0;

	rs_snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", port);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
	TEST_ASSERT(curl_easy_perform(c) == CURLE_OK, "GET %s", url);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	TEST_ASSERT(status == 200, "GET %s: %ld", url, status);
	curl_easy_cleanup(c);
	return body ? body : rs_strdup("");
}

static void setup(run_t *r) {
	rs_sim_conf_t sc;
	rs_sim_gen_t gen;
	char errstr[512], cdir[512];

	memset(r, 0, sizeof(*r));
	rs_test_mkdtemp(r->dir, sizeof(r->dir));
	rs_snprintf(r->bin, sizeof(r->bin), "%s/cli/rostersync",
		    rs_test_env_required("RS_BINARY_DIR"));
	TEST_ASSERT(access(r->bin, X_OK) == 0, "%s missing", r->bin);
	rs_sim_conf_init(&sc);
	sc.threads = 4;
	r->sim = rs_sim_new(&sc, errstr, sizeof(errstr));
	TEST_ASSERT(r->sim, "sim: %s", errstr);
	rs_sim_gen_init(&gen);
	TEST_ASSERT(rs_sim_gen_parse(&gen, "tenants=3,users=600,queues=12,seed=11",
				     errstr, sizeof(errstr)) == RS_OK, "%s", errstr);
	TEST_ASSERT(rs_sim_generate(r->sim, &gen, errstr, sizeof(errstr)) == RS_OK,
		    "generate: %s", errstr);
	TEST_ASSERT(rs_sim_start(r->sim, errstr, sizeof(errstr)) == RS_OK,
		    "start: %s", errstr);
	rs_snprintf(cdir, sizeof(cdir), "%s/config", r->dir);
	TEST_ASSERT(rs_sim_print_config(r->sim, cdir, errstr, sizeof(errstr)) ==
			    RS_OK, "print-config: %s", errstr);
	rs_snprintf(r->conf, sizeof(r->conf), "%s/rostersync.conf", cdir);
	rs_snprintf(r->db, sizeof(r->db), "%s/queue.db", r->dir);
}

int main(int argc, char **argv) {
	run_t r;
	char xbackend[64], xdb[600], xaudit[600], xrep[600], why[512], *out;
	char xprefix[160], xgroup[160], uniq[128];
	/* Kafka: a group join takes seconds, so a longer idle wait. */
	const char *idle;
	bool kafka = argc > 1 && !strcmp(argv[1], "kafka");
	long adds, removes;
	double writes;
	int groups, rc;

	setup(&r);
	rs_snprintf(xbackend, sizeof(xbackend), "queue.backend=%s",
		    kafka ? "kafka" : "sqlite");
	if (kafka)
		rs_snprintf(xdb, sizeof(xdb), "queue.kafka.brokers=%s",
			    rs_test_kafka_brokers());
	else
		rs_snprintf(xdb, sizeof(xdb), "queue.sqlite.path=%s", r.db);
	/* Own topics and group, so runs never see each other's jobs. */
	rs_test_unique_name("cli-run", uniq, sizeof(uniq));
	rs_snprintf(xprefix, sizeof(xprefix), "queue.kafka.topic_prefix=%s.", uniq);
	rs_snprintf(xgroup, sizeof(xgroup), "worker.group_id=%s", uniq);
	idle = kafka ? "6" : "2";
	rs_snprintf(xaudit, sizeof(xaudit), "planner.audit_dir=%s", r.dir);
	rs_snprintf(xrep, sizeof(xrep), "planner.report_dir=%s/rep", r.dir);

	SUB_TEST("usage and configuration errors exit 2");
	{
		const char *no_conf[] = {"--once", NULL};
		const char *bad_x[] = {"-c", r.conf, "-X", "planner.nosuchkey=1",
				       "--once", NULL};
		const char *bad_val[] = {"-c", r.conf, "-X",
					 "planner.interval=1ms", "--once", NULL};
		const char *unknown[] = {"-c", r.conf, "--nope", NULL};
		const char *stray[] = {"-c", r.conf, "extra", NULL};
		const char *bad_idle[] = {"-c", r.conf, "--until-idle", "0", NULL};
		const char *const *cases[] = {bad_x, bad_val, unknown, stray, bad_idle};
		size_t i;

		unsetenv("ROSTERSYNC_CONFIG");
		rc = run_to_end(&r, no_conf, &out);
		TEST_ASSERT(rc == 2 && strstr(out, "no configuration"),
			    "no config: exit %d: %s", rc, out);
		rs_free(out);
		for (i = 0; i < RS_ARRAY_SIZE(cases); i++) {
			rc = run_to_end(&r, cases[i], &out);
			TEST_ASSERT(rc == 2, "case %zu: exit %d: %s", i, rc, out);
			rs_free(out);
		}
	}

	SUB_TEST("--once on %s converges", kafka ? "kafka" : "sqlite");
	{
		const char *args[] = {"-c", r.conf, "--once", "--force-removals",
				      "--until-idle", idle,
				      "-X", xbackend, "-X", xdb, "-X", xprefix,
				      "-X", xgroup, "-X", xaudit, "-X", xrep, NULL};
		TEST_ASSERT(!it_converged(r.sim, why, sizeof(why), &groups),
			    "the generated MSP starts out of sync");
		rc = run_to_end(&r, args, &out);
		TEST_ASSERT(rc == 0, "exit %d: %s", rc, out);
		TEST_ASSERT(summary_get(out, "tenants") == 3, "tenants");
		TEST_ASSERT(summary_get(out, "errors") == 0, "errors");
		adds = summary_get(out, "adds");
		removes = summary_get(out, "removes");
		TEST_ASSERT(adds > 50 && removes > 0, "work: %ld/%ld", adds, removes);
		rs_free(out);
		TEST_ASSERT(it_converged(r.sim, why, sizeof(why), &groups),
			    "not converged: %s", why);
		TEST_ASSERT(groups == 12, "groups checked: %d", groups);
		writes = it_stat(r.sim, "writes_applied");
		TEST_ASSERT(writes == (double)(adds + removes),
			    "sim applied %.0f writes for %ld planned", writes,
			    adds + removes);
		rs_test_say("%d groups converged: %ld adds, %ld removes", groups,
			    adds, removes);
	}

	SUB_TEST("--once again: nothing to do, no write");
	{
		const char *args[] = {"-c", r.conf, "--once", "--until-idle", idle,
				      "-X", xbackend, "-X", xdb, "-X", xprefix,
				      "-X", xgroup, "-X", xaudit, "-X", xrep, NULL};
		rc = run_to_end(&r, args, &out);
		TEST_ASSERT(rc == 0, "exit %d: %s", rc, out);
		TEST_ASSERT(summary_get(out, "jobs") == 0 &&
				    summary_get(out, "adds") == 0 &&
				    summary_get(out, "removes") == 0,
			    "second run: %s", out);
		rs_free(out);
		TEST_ASSERT(it_stat(r.sim, "writes_applied") == writes,
			    "writes without source changes");
	}

	SUB_TEST("loop mode: churn applied in-process, metrics, SIGTERM exit 0");
	{
		char xpm[64], xwm[64], path[512], *summary = NULL, *m;
		int pport = free_port(), wport = free_port(), i;
		int64_t end;
		pid_t pid;
		bool ok = false;
		const char *args[] = {"-c", r.conf, "--force-removals",
				      "-X", xbackend, "-X", xdb, "-X", xprefix,
				      "-X", xgroup, "-X", xaudit, "-X", xrep,
				      "-X", "planner.interval=1h",
				      "-X", xpm, "-X", xwm, NULL};

		rs_snprintf(xpm, sizeof(xpm), "planner.metrics_listen=127.0.0.1:%d", pport);
		rs_snprintf(xwm, sizeof(xwm), "worker.metrics_listen=127.0.0.1:%d", wport);
		TEST_ASSERT(rs_sim_churn(r.sim, NULL, 15, &summary) == RS_OK, "churn");
		rs_free(summary);
		TEST_ASSERT(!it_converged(r.sim, why, sizeof(why), &groups),
			    "churn changed nothing");
		rs_snprintf(path, sizeof(path), "%s/loop.log", r.dir);
		pid = spawn_run(&r, args, path);
		end = rs_now_ms() + rs_test_timeout_ms(60000);
		while (!ok && rs_now_ms() < end) {
			rs_sleep_ms(200);
			ok = it_converged(r.sim, why, sizeof(why), &groups);
		}
		TEST_ASSERT(ok, "loop mode did not converge: %s", why);
		/* The metrics endpoints may start a moment after the pool. */
		for (i = 0; i < 50; i++) {
			m = get_metrics(pport);
			if (strstr(m, "rostersync_planner_cycles_total{result=\"ok\"} 1"))
				break;
			rs_free(m);
			m = NULL;
			rs_sleep_ms(100);
		}
		TEST_ASSERT(m, "planner metrics never showed one good cycle");
		rs_free(m);
		m = get_metrics(wport);
		TEST_ASSERT(strstr(m, "rostersync_jobs_total"), "worker metrics: %.300s", m);
		rs_free(m);
		TEST_ASSERT(kill(pid, SIGTERM) == 0, "kill");
		rc = wait_exit(pid, 30000);
		out = it_slurp(path);
		TEST_ASSERT(rc == 0, "SIGTERM: exit %d: %s", rc, out);
		/* Exactly one cycle ran (interval 1 h), and it did the work. */
		TEST_ASSERT(it_count(out, "tenants=3 ") == 1, "cycles: %s", out);
		TEST_ASSERT(summary_get(out, "jobs") > 0, "loop cycle had no jobs");
		rs_free(out);
	}

	rs_sim_destroy(r.sim);
	rs_test_rmtree(r.dir);
	return rs_test_finish();
}
