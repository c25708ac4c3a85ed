/*
 * 0402-aimd-budget: guarantee 5 (ARCHITECTURE.md), issue 5 G4.  The
 * simulator enforces graph.md §5's per-tenant resource-unit budget (token
 * bucket, BUDGET_RU per 10 s, throttled requests still charged); every
 * Graph request takes LATENCY_MS.  Two tenants each have a backlog of
 * single-member add jobs (one PATCH = 1 RU each), far more than the budget
 * allows, and one in-process worker with 16 threads works through it.
 *
 * The unthrottled rate would be 16 (tenant_concurrency_max) x 1000 /
 * LATENCY_MS = 160 req/s per
 * tenant against a budget of BUDGET_RU / 10 = 60 req/s, so the budget, not
 * the worker, is the bottleneck, and the per-tenant AIMD concurrency must
 * find it (about 6 concurrent requests).
 *
 * Steady state is measured over WINDOW_MS, starting SETTLE_MS after the
 * first 429 (the bucket starts full: its initial burst is not "sustained"
 * throughput).  Acceptance (issue 5): successful writes >= 90 % of the
 * budget and < 3 % of the requests answered 429.  Counters are the sim's
 * own (writes_applied, throttled, requests), summed over both tenants,
 * which have the same budget and load.
 *
 * Status: FAILS with the current worker (measured: 79.7 % of the budget,
 * 20 % of the requests 429 in the window), so it is registered on the
 * on-demand "e2e" label, not "kafka", until the worker is fixed.  Why:
 * every 429 halves the tenant's limit on its own (several concurrent
 * requests meeting the same empty bucket halve it several times); the
 * limit then grows back by ~1 per round trip, so it overshoots again
 * within a few round trips; rs_graph's in-place retry (max_wait_ms 1000)
 * resends the throttled request after Retry-After outside the limit; and
 * other jobs of the tenant keep starting during a Retry-After the server
 * just gave, each one charged (graph.md §5: throttled requests count),
 * which deepens the debt.
 */
#include "rs/rs_base.h"
#include "rs_test.h"
#include "pool_it.h"

#define NTENANTS 2
#define GROUPS 30           /* per tenant */
#define BUDGET_RU 600       /* per tenant per 10 s: 60 req/s */
#define LATENCY_MS 100
#define JOBS_PER_TENANT 3000
#define SETTLE_MS 3000
#define WINDOW_MS 15000

typedef struct snap_s {
	int64_t t;
	double writes, throttled, requests;
} snap_t;

static void snap(pit_t *p, snap_t *s) {
	s->t = rs_now_ms();
	s->writes = pit_sim_stat(p, "writes_applied");
	s->throttled = pit_sim_stat(p, "throttled");
	s->requests = pit_sim_stat(p, "requests");
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
	snap_t s0, s1, s2;
	double budget_rate, ok_rate, thr_frac, all_frac;
	int64_t end;

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
	pit_reload(&p);
	pit_fault(&p, "{\"path\":\"/graph*\",\"latency\":{\"min_ms\":%d,"
		      "\"max_ms\":%d}}",
		  LATENCY_MS, LATENCY_MS);

	SUB_TEST("backlog of %d jobs per tenant, budget %d RU / 10 s",
		 JOBS_PER_TENANT, BUDGET_RU);
	produce_backlog(&p);
	snap(&p, &s0);
	pw = pit_worker_start(p.conf);

	SUB_TEST("steady state: >= 90 %% of the budget, < 3 %% 429");
	/* The initial burst ends with the first 429. */
	end = rs_now_ms() + rs_test_timeout_ms(60000);
	while (pit_sim_stat(&p, "throttled") == 0 && rs_now_ms() < end) {
		rs_sleep_ms(1000);
		if (getenv("RS_IT_VERBOSE"))
			rs_test_say("writes %.0f requests %.0f\n",
				    pit_sim_stat(&p, "writes_applied"),
				    pit_sim_stat(&p, "requests"));
	}
	TEST_ASSERT(pit_sim_stat(&p, "throttled") > 0,
		    "the budget was never reached");
	rs_sleep_ms(SETTLE_MS);
	snap(&p, &s1);
	rs_sleep_ms(WINDOW_MS);
	snap(&p, &s2);
	pit_worker_stop(pw, &st);
	TEST_ASSERT(st.received > st.applied,
		    "backlog lasted the whole window (received %" PRIu64
		    " applied %" PRIu64 ")",
		    st.received, st.applied);

	budget_rate = NTENANTS * BUDGET_RU / 10.0;
	ok_rate = (s2.writes - s1.writes) * 1000.0 / (double)(s2.t - s1.t);
	thr_frac = (s2.throttled - s1.throttled) /
		   RS_MAX(s2.requests - s1.requests, 1.0);
	all_frac = (s2.throttled - s0.throttled) /
		   RS_MAX(s2.requests - s0.requests, 1.0);
	rs_test_say("figures: window %.1f s: %.1f writes/s for a budget of "
		    "%.0f req/s (%.1f %%), %.0f of %.0f requests 429 (%.2f %%); "
		    "whole run %.2f %% 429; worker applied %" PRIu64
		    " retried %" PRIu64 " dlq %" PRIu64 "\n",
		    (double)(s2.t - s1.t) / 1000.0, ok_rate, budget_rate,
		    100.0 * ok_rate / budget_rate, s2.throttled - s1.throttled,
		    s2.requests - s1.requests, 100.0 * thr_frac,
		    100.0 * all_frac, st.applied, st.retried,
		    st.dead_lettered);
	TEST_ASSERT(ok_rate >= 0.9 * budget_rate,
		    "sustained %.1f writes/s < 90 %% of %.0f", ok_rate,
		    budget_rate);
	TEST_ASSERT(thr_frac < 0.03, "%.2f %% of requests got 429",
		    100.0 * thr_frac);
	TEST_ASSERT(st.dead_lettered == 0, "dead-lettered %" PRIu64,
		    st.dead_lettered);

	pit_teardown(&p);
	return rs_test_finish();
}
