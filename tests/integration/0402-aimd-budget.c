/*
 * 0402-aimd-budget: guarantee 5 (ARCHITECTURE.md), issue 5 G4.  The
 * simulator enforces graph.md §5's per-tenant resource-unit budget (token
 * bucket, BUDGET_RU per 10 s, throttled requests still charged); every
 * Graph request takes LATENCY_MS.  Two tenants each have a backlog of
 * single-member add jobs (one PATCH = 1 RU each), far more than the budget
 * allows, and one in-process worker with 32 threads works through it.
 *
 * The unthrottled rate would be 16 (tenant_concurrency_max) x 1000 /
 * LATENCY_MS = 160 req/s per
 * tenant against a budget of BUDGET_RU / 10 = 60 req/s, so the budget, not
 * the worker, is the bottleneck, and the per-tenant AIMD concurrency must
 * find it (about 6 concurrent requests).
 *
 * Steady state is measured per tenant from the simulator's ledger.
 * Throughput: successful Graph requests over WINDOW_MS starting at the
 * tenant's first 429.  Its bucket is empty then (the full bucket's initial
 * burst is not "sustained" throughput), so saved-up budget cannot flatter
 * the figure: successes in the window are at most refill x window.
 * 429 share: over the same window minus its first TRANSIENT_MS, i.e.
 * without the one-time event when the full bucket first runs dry and every
 * request in flight meets it (measured ~30 429s in one round trip; the
 * whole-run share is printed too).  Acceptance (issue 5), per tenant:
 * >= 90 % of the budget's rate and < 3 % of the requests answered 429.
 *
 * Each tenant's window starts at its own first 429; the worker runs until
 * the later tenant's window has ended (an earlier version stopped 20 s
 * after the FIRST tenant's 429, so a tenant throttled 9 s later was
 * measured over a window that ran past the stop: one of the "69 %" runs).
 * The windows are the defaults (worker.max_in_flight 1,000,
 * worker.retry_max_held 1,000), so the tenants are also coupled through
 * them, a G3 matter: once both are paced, the three-quarters overflow
 * rule sends most of both backlogs to the retry topic, and the retry
 * consumer reads them back through one window.  Until the window had a
 * per-tenant share (w_recycle_due_locked) one tenant's waiting jobs could
 * fill it and the other's arrived only about as fast as the first
 * finished: 40-100 req/s, budget met 38 s late, then 50 % (worker of
 * 21:00, 2 of 12 runs failed that way), which is why this test used to
 * set worker.max_in_flight to hold both backlogs.  With the share: see
 * docs/worker.md ("The retry consumer's window").
 *
 * Label "kafka" (+ SLOW: optimized tree only, a throughput figure means
 * nothing under ASan).  Worker of 21:20 (pacing at the budget's measured
 * refill rate, CUBIC-shaped probe, see docs/worker.md): 12 of 12 runs
 * passed, per tenant 95.4-96.7 % of the budget and 0.89-1.03 % 429 after
 * the first 2 s (1.32-1.78 % over the whole run).  Before (18:44-19:01):
 * 94-97 % and up to 2.85 % 429 in most runs, one tenant at 69 % or 88 %
 * in about one run of four: the first pacing rate after the first 429 was
 * a quarter of the rate the tenant ran at, the fast climb aimed at 90 %
 * of a rate that was never sustainable, and the 429s came in three
 * congestion events per window.
 * History: the worker of 17:35 reached 79.7 % of the budget with 20 % of
 * the requests 429 (first version of this test, both tenants summed over
 * a window from 3 s after the first 429).  Why: every 429 halved the
 * tenant's limit on its own (several concurrent requests meeting the same
 * empty bucket halved it several times); the limit grew back by ~1 per
 * round trip and overshot again within a few round trips; rs_graph
 * resent a throttled request in place after its Retry-After, outside the
 * limit; and other jobs of the tenant kept starting inside a Retry-After
 * the server had just given, each one charged (graph.md §5).  Commits
 * 72fbabb and e38006b (one cut per congestion event, tenant pause on
 * Retry-After, pacing, no in-place retry): 94.7-96.2 % of the budget and
 * 0-2.85 % 429 per tenant in two runs at 18:44.
 */
#include "rs/rs_base.h"
#include "rs_test.h"
#include "pool_it.h"

#include <time.h>

#define NTENANTS 2
#define GROUPS 30           /* per tenant */
#define BUDGET_RU 600       /* per tenant per 10 s: 60 req/s */
#define LATENCY_MS 100
#define JOBS_PER_TENANT 3000
#define WINDOW_MS 15000
#define TRANSIENT_MS 2000

/* Wall-clock ms of a ledger time "YYYY-MM-DDTHH:MM:SS.mmmZ". */
static int64_t ledger_ms(const char *ts) {
	struct tm tm;
	int ms = 0;
	memset(&tm, 0, sizeof(tm));
	TEST_ASSERT(ts && sscanf(ts, "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year,
				 &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
				 &tm.tm_min, &tm.tm_sec, &ms) == 7,
		    "ledger time %s", ts ? ts : "(null)");
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm) * 1000 + ms;
}

typedef struct tstat_s {
	int64_t t429;          /* first 429 (wall ms), -1 none */
	double ok;             /* successes in the window */
	double thr, total;     /* in the window after the transient */
	double all_thr, all;   /* whole run */
} tstat_t;

/* Per-tenant figures from the ledger (Graph requests only). */
static void ledger_stats(pit_t *p, tstat_t st[NTENANTS]) {
	char *s = rs_sim_ledger_json(p->sim);
	cJSON *j = cJSON_Parse(s);
	const cJSON *reqs = cJSON_GetObjectItemCaseSensitive(j, "requests");
	const cJSON *r;
	int t;

	rs_free(s);
	TEST_ASSERT(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(
			    j, "total")) <= cJSON_GetArraySize(reqs),
		    "ledger ring overflowed");
	for (t = 0; t < NTENANTS; t++) {
		memset(&st[t], 0, sizeof(st[t]));
		st[t].t429 = -1;
	}
	/* Two passes: the first 429 of each tenant, then its window. */
	for (int pass = 0; pass < 2; pass++)
		cJSON_ArrayForEach(r, reqs) {
			const char *tn = cJSON_GetStringValue(
				cJSON_GetObjectItemCaseSensitive(r, "tenant"));
			const char *path = cJSON_GetStringValue(
				cJSON_GetObjectItemCaseSensitive(r, "path"));
			int status = (int)cJSON_GetNumberValue(
				cJSON_GetObjectItemCaseSensitive(r, "status"));
			int64_t ms;
			if (!tn || !path || strncmp(path, "/graph", 6))
				continue;
			for (t = 0; t < NTENANTS; t++)
				if (!strcmp(tn, pit_tenant_id(p, t)))
					break;
			if (t == NTENANTS)
				continue;
			ms = ledger_ms(cJSON_GetStringValue(
				cJSON_GetObjectItemCaseSensitive(r, "time")));
			if (pass == 0) {
				if (status == 429 &&
				    (st[t].t429 < 0 || ms < st[t].t429))
					st[t].t429 = ms;
				st[t].all++;
				st[t].all_thr += status == 429;
				continue;
			}
			if (st[t].t429 < 0 || ms < st[t].t429 ||
			    ms >= st[t].t429 + WINDOW_MS)
				continue;
			st[t].ok += status >= 200 && status < 300;
			if (ms < st[t].t429 + TRANSIENT_MS)
				continue;
			st[t].total++;
			st[t].thr += status == 429;
		}
	cJSON_Delete(j);
}

/* Produces the backlog: job i of a tenant adds its next outside user to
 * group i % GROUPS, so every job is exactly one successful PATCH. */
static void produce_backlog(pit_t *p) {
	int t, k, i;
	for (t = 0; t < NTENANTS; t++) {
		const char *tid = pit_tenant_id(p, t);
		const cJSON *e = pit_entra(p->state, tid);
		const cJSON *groups = cJSON_GetObjectItemCaseSensitive(e,
								       "groups");
		const cJSON *users = cJSON_GetObjectItemCaseSensitive(e,
								      "users");
		const cJSON *cur[GROUPS];
		const char *gid[GROUPS];
		TEST_ASSERT(cJSON_GetArraySize(groups) >= GROUPS,
			    "%s: %d groups", tid, cJSON_GetArraySize(groups));
		for (k = 0; k < GROUPS; k++) {
			const cJSON *g = cJSON_GetArrayItem(groups, k);
			gid[k] = cJSON_GetStringValue(
				cJSON_GetObjectItemCaseSensitive(g, "id"));
			cur[k] = users->child;
		}
		for (i = 0; i < JOBS_PER_TENANT; i++) {
			const cJSON *m;
			const char *uid;
			char *txt;
			size_t len;
			k = i % GROUPS;
			m = pit_members(p->state, tid, gid[k]);
			while (cur[k] &&
			       pit_in(m, cJSON_GetStringValue(
						 cJSON_GetObjectItemCaseSensitive(
							 cur[k], "id"))))
				cur[k] = cur[k]->next;
			TEST_ASSERT(cur[k], "%s group %d: out of users", tid, k);
			uid = cJSON_GetStringValue(
				cJSON_GetObjectItemCaseSensitive(cur[k], "id"));
			cur[k] = cur[k]->next;
			txt = pit_job(tid, gid[k], 1, NULL, &uid, 1, NULL, 0,
				      rs_wall_ms(), &len);
			pit_produce(p, tid, gid[k], txt, len);
			rs_free(txt);
		}
	}
	pit_flush(p);
}

int main(void) {
	static pit_t p;
	rs_sim_conf_t sc;
	rs_sim_gen_t gen;
	pit_worker_t *pw;
	rs_worker_stats_t st;
	tstat_t ts[NTENANTS];
	double budget_rate = BUDGET_RU / 10.0;
	int64_t end, stop_wall = 0;
	int t;

	rs_sim_conf_init(&sc);
	sc.threads = 4;
	sc.ru_budget = BUDGET_RU;
	sc.write_budget = 0; /* the RU budget alone is the limit here */
	rs_sim_gen_init(&gen);
	gen.tenants = NTENANTS;
	gen.users = NTENANTS * 1500;
	gen.queues = NTENANTS * GROUPS;
	gen.seed = 402;
	gen.cert_every = 0;
	pit_setup(&p, "it0402", &sc, &gen, 12);
	pit_ov(&p, "worker.threads=32");
	pit_ov(&p, "worker.tenant_concurrency_initial=4");
	pit_ov(&p, "worker.tenant_concurrency_max=16");
	pit_ov(&p, "worker.shutdown_timeout=5s");
	/* Experiments: RS_IT_0402_X="key=value;..." (e.g. the earlier
	 * worker.max_in_flight=24000 that held both backlogs). */
	if (getenv("RS_IT_0402_X")) {
		char x[512], *save = NULL, *it;
		rs_snprintf(x, sizeof(x), "%s", getenv("RS_IT_0402_X"));
		for (it = strtok_r(x, ";", &save); it;
		     it = strtok_r(NULL, ";", &save))
			pit_ov(&p, "%s", it);
	}
	pit_reload(&p);
	pit_fault(&p, "{\"path\":\"/graph*\",\"latency\":{\"min_ms\":%d,"
		      "\"max_ms\":%d}}",
		  LATENCY_MS, LATENCY_MS);

	SUB_TEST("backlog of %d jobs per tenant, budget %d RU / 10 s",
		 JOBS_PER_TENANT, BUDGET_RU);
	produce_backlog(&p);
	pw = pit_worker_start(p.conf);

	SUB_TEST("steady state per tenant: >= 90 %% of the budget, < 3 %% 429");
	/* Each tenant's window starts at its own first 429, which may come
	 * seconds after the other's: the worker runs until the later window
	 * has ended, so no window reaches past the run. */
	end = rs_now_ms() + rs_test_timeout_ms(60000);
	for (;;) {
		int64_t last = 0;
		ledger_stats(&p, ts);
		for (t = 0; t < NTENANTS; t++)
			last = ts[t].t429 < 0 || last < 0 ? -1
							  : RS_MAX(last,
								   ts[t].t429);
		if (last >= 0) {
			stop_wall = last + WINDOW_MS + 1000;
			break;
		}
		TEST_ASSERT(rs_now_ms() < end,
			    "the budget was never reached by every tenant");
		rs_sleep_ms(500);
	}
	while (rs_wall_ms() < stop_wall)
		rs_sleep_ms(100);
	pit_worker_stop(pw, &st);
	TEST_ASSERT(st.received > st.applied,
		    "backlog lasted the whole window (received %" PRIu64
		    " applied %" PRIu64 ")",
		    st.received, st.applied);
	ledger_stats(&p, ts);
	for (t = 0; t < NTENANTS; t++) {
		double ok_rate = ts[t].ok * 1000.0 / WINDOW_MS;
		double frac = ts[t].thr / RS_MAX(ts[t].total, 1.0);
		rs_test_say("figures: %s: %.1f s window from its first 429: "
			    "%.1f successful req/s for a budget of %.0f "
			    "(%.1f %%); after the first %.0f s, %.0f of %.0f "
			    "requests 429 (%.2f %%); whole run %.0f of %.0f "
			    "(%.2f %%)\n",
			    pit_tenant_id(&p, t), WINDOW_MS / 1000.0, ok_rate,
			    budget_rate, 100.0 * ok_rate / budget_rate,
			    TRANSIENT_MS / 1000.0, ts[t].thr, ts[t].total, 100.0 * frac,
			    ts[t].all_thr, ts[t].all,
			    100.0 * ts[t].all_thr / RS_MAX(ts[t].all, 1.0));
		TEST_ASSERT(ts[t].t429 >= 0, "%s never throttled",
			    pit_tenant_id(&p, t));
		TEST_ASSERT(ok_rate >= 0.9 * budget_rate,
			    "%s: sustained %.1f req/s < 90 %% of %.0f",
			    pit_tenant_id(&p, t), ok_rate, budget_rate);
		TEST_ASSERT(frac < 0.03, "%s: %.2f %% of requests got 429",
			    pit_tenant_id(&p, t), 100.0 * frac);
	}
	rs_test_say("figures: worker applied %" PRIu64 " retried %" PRIu64
		    " dlq %" PRIu64 "\n",
		    st.applied, st.retried, st.dead_lettered);
	TEST_ASSERT(st.dead_lettered == 0, "dead-lettered %" PRIu64,
		    st.dead_lettered);

	pit_teardown(&p);
	return rs_test_finish();
}
