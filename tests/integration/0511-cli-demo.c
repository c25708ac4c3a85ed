/*
 * 0511-cli-demo.c - `rostersync demo` end to end, the binary as a user
 * runs it (small dataset: 3 tenants, 400 users, 12 queues).
 *
 * Proves:
 *  - usage errors exit 2;
 *  - the demo exits 0 and prints, for each of its two syncs, the per-tenant
 *    table (header, one row per tenant, a total row) and "converged";
 *  - the state really converged, checked independently of the planner: this
 *    test generates the SAME deterministic dataset in its own simulator,
 *    computes every mapped group's desired membership from the sources
 *    (sync_it.h), applies the same churn round, and compares with the
 *    group sizes the demo's checks read back from Graph (check-N/plan.json)
 *    — and those checks have nothing left to add, remove or hold back;
 *  - nothing was lost or applied twice: the changes the simulator applied
 *    in each sync equal the add/remove rows the audit CSV has for it;
 *  - the HTML report exists beside the audit CSV, is self-contained (no
 *    script, no src/href attribute, no https:// and no http:// but the SVG
 *    namespace) and holds the chart (three series, both syncs, churn);
 *  - without --keep, the generated secrets and the queue file are removed;
 *  - a sync whose writes fail (simulated 403 on one tenant's member writes)
 *    exits 1, says NOT converged, and counts the dead-lettered jobs as that
 *    tenant's errors (the other tenant converges), in the table and the
 *    report; the failed run keeps its files.
 */
#include "rs/rs_base.h"
#include "rs_sim.h"
#include "rs_test.h"
#include "sync_it.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define GEN "tenants=3,users=400,queues=12,seed=5"
#define CHURN 8
#define STR_(x) #x
#define STR(x) STR_(x)

static int run_demo(const char *bin, const char *const *args, const char *out_path,
		    int64_t timeout_ms) {
	char *argv[32];
	int n = 0, i, st;
	pid_t pid;
	int64_t end;
	posix_spawn_file_actions_t fa;

	argv[n++] = (char *)bin;
	argv[n++] = (char *)"demo";
	for (i = 0; args[i]; i++)
		argv[n++] = (char *)args[i];
	argv[n] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, out_path,
					 O_WRONLY | O_CREAT | O_TRUNC, 0644);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	TEST_ASSERT(posix_spawn(&pid, bin, &fa, NULL, argv, environ) == 0,
		    "cannot start %s", bin);
	posix_spawn_file_actions_destroy(&fa);
	end = rs_now_ms() + rs_test_timeout_ms(timeout_ms);
	while (rs_now_ms() < end) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
		rs_sleep_ms(50);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	TEST_FAIL("demo did not finish in %lld ms", (long long)timeout_ms);
}

/* Compares the check's group sizes with the oracle's desired sets. */
static void check_against_oracle(rs_sim_t *sim, const char *check_path) {
	char *txt = it_slurp(check_path);
	cJSON *plan = cJSON_Parse(txt), *oracle = it_oracle(sim), *t, *g;
	int groups = 0;

	TEST_ASSERT(plan, "%s is JSON", check_path);
	cJSON_ArrayForEach(t, cJSON_GetObjectItem(plan, "tenants")) {
		TEST_ASSERT(!cJSON_GetObjectItem(t, "error"), "%s: tenant error",
			    it_jstr(t, "id"));
		cJSON_ArrayForEach(g, cJSON_GetObjectItem(t, "groups")) {
			const char *gid = it_jstr(g, "group_id");
			cJSON *o = cJSON_GetObjectItem(oracle, gid);
			int want, have;

			TEST_ASSERT(o, "group %s not in the oracle", gid);
			want = cJSON_GetArraySize(cJSON_GetObjectItem(o, "desired"));
			have = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(g, "current"));
			TEST_ASSERT(cJSON_GetArraySize(cJSON_GetObjectItem(g, "adds")) == 0 &&
					    cJSON_GetArraySize(cJSON_GetObjectItem(g, "removes")) == 0 &&
					    cJSON_GetArraySize(cJSON_GetObjectItem(g, "held_back")) == 0,
				    "%s: the check still plans changes", gid);
			/* An empty queue keeps its group (no removals). */
			if (cJSON_IsTrue(cJSON_GetObjectItem(o, "empty")))
				TEST_ASSERT(have >= want, "%s: %d < %d", gid, have, want);
			else
				TEST_ASSERT(have == want,
					    "%s (%s): %d members after the sync, the "
					    "source wants %d",
					    gid, it_jstr(o, "queue"), have, want);
			groups++;
		}
	}
	TEST_ASSERT(groups == cJSON_GetArraySize(oracle), "groups: %d of %d", groups,
		    cJSON_GetArraySize(oracle));
	cJSON_Delete(plan);
	cJSON_Delete(oracle);
	rs_free(txt);
}

/* add+remove rows per cycle of the audit CSV, in file order. */
static int audit_cycles(const char *path, long *changes, int max) {
	char *txt = it_slurp(path), *line, *save = NULL, prev[64] = "";
	int n = 0;

	for (line = strtok_r(txt, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *f[8], *s2 = NULL, *p;
		int k = 0;
		if (!strncmp(line, "time,", 5))
			continue;
		for (p = strtok_r(line, ",", &s2); p && k < 8; p = strtok_r(NULL, ",", &s2))
			f[k++] = p;
		TEST_ASSERT(k == 7, "audit row with %d fields", k);
		if (strcmp(f[0], prev)) {
			TEST_ASSERT(n < max, "more than %d cycles in the audit", max);
			changes[n++] = 0;
			rs_snprintf(prev, sizeof(prev), "%s", f[0]);
		}
		if (!strcmp(f[5], "add") || !strcmp(f[5], "remove"))
			changes[n - 1]++;
	}
	rs_free(txt);
	return n;
}

/* "sync N: J jobs, C changes applied" from the demo's output. */
static long demo_changes(const char *out, int sync) {
	char pat[32];
	const char *p;

	rs_snprintf(pat, sizeof(pat), "\nsync %d: ", sync);
	for (p = strstr(out, pat); p; p = strstr(p + 1, pat)) {
		const char *c = strstr(p, " jobs, ");
		if (c && c < strchr(p + 1, '\n'))
			return strtol(c + 7, NULL, 10);
	}
	TEST_FAIL("no figures line for sync %d", sync);
}

int main(void) {
	char dir[256], out_dir[512], out_path[512], path[700], *out, *html;
	const char *bin_dir = rs_test_env_required("RS_BINARY_DIR");
	char bin[512];
	long audit[4];
	int rc, i;

	rs_test_mkdtemp(dir, sizeof(dir));
	rs_snprintf(bin, sizeof(bin), "%s/cli/rostersync", bin_dir);
	TEST_ASSERT(access(bin, X_OK) == 0, "%s missing", bin);
	rs_snprintf(out_dir, sizeof(out_dir), "%s/out", dir);
	rs_snprintf(out_path, sizeof(out_path), "%s/demo.out", dir);

	SUB_TEST("usage errors exit 2");
	{
		const char *zero[] = {"--tenants", "0", NULL};
		const char *bogus[] = {"--bogus", NULL};
		const char *stray[] = {"now", NULL};
		const char *badx[] = {"--dir", out_dir, "--tenants", "1", "--users",
				      "20", "--queues", "2", "-X", "worker.threads", NULL};
		TEST_ASSERT(run_demo(bin, zero, out_path, 30000) == 2, "--tenants 0");
		TEST_ASSERT(run_demo(bin, bogus, out_path, 30000) == 2, "--bogus");
		TEST_ASSERT(run_demo(bin, stray, out_path, 30000) == 2, "stray arg");
		TEST_ASSERT(run_demo(bin, badx, out_path, 30000) == 2, "-X without =");
	}

	SUB_TEST("the demo converges twice and prints its tables");
	{
		const char *args[] = {"--dir", out_dir, "--tenants", "3", "--users", "400",
				      "--queues", "12", "--seed", "5", "--churn", STR(CHURN), NULL};
		int64_t t0 = rs_now_ms();
		rc = run_demo(bin, args, out_path, 180000);
		out = it_slurp(out_path);
		rs_test_say("demo: exit %d in %.1f s", rc, (double)(rs_now_ms() - t0) / 1000.0);
		TEST_ASSERT(rc == 0, "exit %d:\n%s", rc, out);
		TEST_ASSERT(strstr(out, "== done: converged after both syncs"), "%s", out);
		TEST_ASSERT(it_count(out, "\ntenant         groups   before    after   adds "
					  "removes  held unresolved errors  left\n") == 2,
			    "two per-tenant tables:\n%s", out);
		TEST_ASSERT(it_count(out, "\ntotal ") == 2, "two total rows");
		for (i = 1; i <= 3; i++) {
			char row[16];
			rs_snprintf(row, sizeof(row), "\nt%03d ", i);
			TEST_ASSERT(it_count(out, row) == 2, "rows of t%03d", i);
		}
		TEST_ASSERT(it_count(out, ": converged: every mapped group") == 2,
			    "both checks converged");
		/* Not a terminal: plain progress lines, no escape sequence. */
		TEST_ASSERT(!strchr(out, '\033') && !strchr(out, '\r'),
			    "terminal control codes in a non-TTY output");
		TEST_ASSERT(strstr(out, "sync 1 apply   jobs "), "progress lines");
	}

	SUB_TEST("independent oracle: same dataset, same churn");
	{
		rs_sim_conf_t sc;
		rs_sim_gen_t gen;
		rs_sim_t *sim;
		char errstr[256], *summary = NULL;

		rs_sim_conf_init(&sc);
		sim = rs_sim_new(&sc, errstr, sizeof(errstr));
		TEST_ASSERT(sim, "sim: %s", errstr);
		rs_sim_gen_init(&gen);
		TEST_ASSERT(rs_sim_gen_parse(&gen, GEN, errstr, sizeof(errstr)) == RS_OK,
			    "%s", errstr);
		TEST_ASSERT(rs_sim_generate(sim, &gen, errstr, sizeof(errstr)) == RS_OK,
			    "%s", errstr);
		rs_snprintf(path, sizeof(path), "%s/check-1/plan.json", out_dir);
		check_against_oracle(sim, path);
		TEST_ASSERT(rs_sim_churn(sim, NULL, CHURN, &summary) == RS_OK, "churn");
		rs_free(summary);
		rs_snprintf(path, sizeof(path), "%s/check-2/plan.json", out_dir);
		check_against_oracle(sim, path);
		rs_sim_destroy(sim);
	}

	SUB_TEST("applied changes equal the audit CSV's rows, per sync");
	{
		rs_snprintf(path, sizeof(path), "%s/audit.csv", out_dir);
		TEST_ASSERT(audit_cycles(path, audit, 4) == 2, "two real cycles audited");
		TEST_ASSERT(audit[0] > 100 && audit[1] > 0, "audit %ld, %ld", audit[0],
			    audit[1]);
		for (i = 0; i < 2; i++)
			TEST_ASSERT(demo_changes(out, i + 1) == audit[i],
				    "sync %d: %ld applied, %ld audited", i + 1,
				    demo_changes(out, i + 1), audit[i]);
	}

	SUB_TEST("self-contained HTML report with the chart");
	{
		rs_snprintf(path, sizeof(path), "%s/report.html", out_dir);
		TEST_ASSERT(strstr(out, path), "the demo names %s", path);
		html = it_slurp(path);
		TEST_ASSERT(!strncmp(html, "<!DOCTYPE html>", 15), "HTML");
		TEST_ASSERT(strstr(html, "</html>"), "complete");
		TEST_ASSERT(!strstr(html, "<script") && !strstr(html, "<link") &&
				    !strstr(html, "<img") && !strstr(html, "<iframe"),
			    "no script, stylesheet link, image or frame");
		TEST_ASSERT(!strstr(html, "src=\"") && !strstr(html, "href=\"") &&
				    !strstr(html, "url("),
			    "no src/href attribute, no CSS url()");
		TEST_ASSERT(!strstr(html, "https://"), "no https:// reference");
		TEST_ASSERT(it_count(html, "http://") ==
				    it_count(html, "xmlns=\"http://www.w3.org/2000/svg\""),
			    "only the SVG namespace uses http://");
		TEST_ASSERT(it_count(html, "<svg") == 1, "one inline chart");
		TEST_ASSERT(it_count(html, "<polyline") == 3, "three series");
		TEST_ASSERT(strstr(html, ">sync 1</text>") && strstr(html, ">sync 2</text>") &&
				    strstr(html, ">churn</text>"),
			    "phase markers");
		TEST_ASSERT(strstr(html, "<td>t001</td>") && strstr(html, "<td>t003</td>"),
			    "tenants in the tables");
		TEST_ASSERT(strstr(html, "converged after both syncs"), "result row");
		rs_free(html);
	}

	SUB_TEST("without --keep: secrets and queue removed, results kept");
	{
		rs_snprintf(path, sizeof(path), "%s/config", out_dir);
		TEST_ASSERT(access(path, F_OK) != 0, "%s still there", path);
		rs_snprintf(path, sizeof(path), "%s/queue.db", out_dir);
		TEST_ASSERT(access(path, F_OK) != 0, "%s still there", path);
		rs_snprintf(path, sizeof(path), "%s/plan-2/plan.csv", out_dir);
		TEST_ASSERT(access(path, F_OK) == 0, "%s missing", path);
		rs_snprintf(path, sizeof(path), "%s/demo.log", out_dir);
		TEST_ASSERT(access(path, F_OK) == 0, "%s missing", path);
	}

	SUB_TEST("failing writes: not converged, exit 1, errors per tenant");
	{
		/* Every member write of t001 answers 403 (not retriable):
		 * its jobs are dead-lettered, t002 is untouched. */
		const char *faults =
			"[{\"tenant\":\"t001\",\"method\":\"PATCH\",\"path\":"
			"\"/graph*\",\"status\":403,\"count\":1000},"
			"{\"tenant\":\"t001\",\"method\":\"DELETE\",\"path\":"
			"\"/graph*\",\"status\":403,\"count\":1000}]";
		char fdir[600], fout[600];
		const char *args[] = {"--dir", fdir, "--tenants", "2", "--users", "200",
				      "--queues", "6", "--faults", faults, NULL};
		char *o, *row;
		long v[9];

		rs_snprintf(fdir, sizeof(fdir), "%s/fail", dir);
		rs_snprintf(fout, sizeof(fout), "%s/fail.out", dir);
		rc = run_demo(bin, args, fout, 120000);
		o = it_slurp(fout);
		TEST_ASSERT(rc == 1, "exit %d:\n%s", rc, o);
		TEST_ASSERT(strstr(o, "sync 1: NOT converged") &&
				    strstr(o, "== done: NOT converged"),
			    "%s", o);
		TEST_ASSERT(strstr(o, "job(s) dead-lettered"), "DLQ hint");
		TEST_ASSERT(!strstr(o, "== sync 2"), "no second sync on a failed first");
		/* t001: groups before after adds removes held unresolved
		 * errors left */
		row = strstr(o, "\nt001 ");
		TEST_ASSERT(row && sscanf(row, " t001 %ld %ld %ld %ld %ld %ld %ld %ld %ld",
					  &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
					  &v[6], &v[7], &v[8]) == 9,
			    "t001 row");
		TEST_ASSERT(v[7] > 0 && v[8] > 0, "t001 errors %ld, left %ld", v[7], v[8]);
		row = strstr(o, "\nt002 ");
		TEST_ASSERT(row && sscanf(row, " t002 %ld %ld %ld %ld %ld %ld %ld %ld %ld",
					  &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
					  &v[6], &v[7], &v[8]) == 9,
			    "t002 row");
		TEST_ASSERT(v[7] == 0 && v[8] == 0, "t002 errors %ld, left %ld", v[7], v[8]);
		rs_free(o);
		rs_snprintf(path, sizeof(path), "%s/report.html", fdir);
		html = it_slurp(path);
		TEST_ASSERT(strstr(html, "NOT converged") &&
				    strstr(html, "<td>apply</td><td>t001</td>"),
			    "report names the failure");
		rs_free(html);
		/* A failed run keeps everything for inspection. */
		rs_snprintf(path, sizeof(path), "%s/queue.db", fdir);
		TEST_ASSERT(access(path, F_OK) == 0, "%s removed", path);
	}

	rs_free(out);
	rs_test_rmtree(dir);
	return rs_test_finish();
}
