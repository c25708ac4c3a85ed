/*
 * e2e_it.h - shared fixture of the process-level end-to-end scenarios
 * (0320 on Kafka, 0330 on SQLite): the real rostersync-planner and
 * rostersync-worker binaries spawned against an in-process simulator, with
 * the run's -X overrides, summary parsing, simulator stats and the
 * convergence check (every mapped group equals its desired membership, or
 * contains it in additive mode).  Header-only (static functions) so each
 * scenario stays one executable; included after rs_test.h.  The including
 * file defines NTENANTS.
 */
#ifndef E2E_IT_H
#define E2E_IT_H

#include "rs/rs_base.h"
#include "rs_sim.h"
#include "rs_test.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Everything one run shares; lives on main()'s stack. */
typedef struct {
	rs_sim_t *sim;
	char dir[256];
	char conf[512];
	char planner[512];
	char worker[512];
	const char *brokers; /**< kafka runs */
	char db[512];        /**< sqlite runs */
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
	TEST_ASSERT(e->xcnt + 2 <= (int)RS_ARRAY_SIZE(e->xargs),
		    "too many -X arguments");
	e->xargs[e->xcnt++] = rs_strdup("-X");
	e->xargs[e->xcnt++] = rs_strdup(buf);
}

/* Frees what add_x kept (LeakSanitizer checks the test process too). */
static void e2e_cleanup(e2e_t *e) {
	int i;
	for (i = 0; i < e->xcnt; i++)
		rs_free(e->xargs[i]);
	e->xcnt = 0;
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

/* Temp dir, the planner and worker binaries of this build, and an
 * in-process simulator with the generated MSP @p gen_spec whose printed
 * configuration is e->conf.  Shared by 0320 and 0330. */
static void e2e_setup_sim(e2e_t *e, const char *gen_spec) {
	rs_sim_conf_t sc;
	rs_sim_gen_t gen;
	char errstr[512];
	const char *bin = rs_test_env_required("RS_BINARY_DIR");

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
	TEST_ASSERT(rs_sim_gen_parse(&gen, gen_spec,
				     errstr, sizeof(errstr)) == RS_OK, "%s", errstr);
	TEST_ASSERT(rs_sim_generate(e->sim, &gen, errstr, sizeof(errstr)) == RS_OK,
		    "generate: %s", errstr);
	TEST_ASSERT(rs_sim_start(e->sim, errstr, sizeof(errstr)) == RS_OK,
		    "start: %s", errstr);
	rs_snprintf(errstr, sizeof(errstr), "%s/config", e->dir);
	TEST_ASSERT(rs_sim_print_config(e->sim, errstr, errstr, sizeof(errstr)) ==
			    RS_OK, "print-config: %s", errstr);
	rs_snprintf(e->conf, sizeof(e->conf), "%s/config/rostersync.conf", e->dir);
}

#endif /* E2E_IT_H */
