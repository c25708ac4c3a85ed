/*
 * 0404-retry-window: issue 5 G3 for the retry consumer's window ("a tenant
 * in backoff holds no thread and no slot another tenant could use").  The
 * retry topic is one FIFO per partition read by one consumer whose window
 * is worker.retry_max_held messages not yet finished; records of a tenant
 * in a long backoff used to fill that window, not yet due, and every
 * other tenant's retry records behind them waited for the backoff to end.
 *
 * Real broker, in-process simulator (two tenants, 20 ms per Graph
 * request), one in-process worker with retry_max_held = 100:
 *   1. Tenant A answers every Graph request 429 with Retry-After: RA_S.
 *      Its JOBS_A jobs: the first attempt pauses A, the overflow goes to
 *      the retry topic due when the pause ends (hundreds of records, more
 *      than the whole retry window).
 *   2. Tenant B's JOBS_B jobs each fail their first attempt with a 503
 *      and Retry-After: 2 (longer than worker.retry_hold_max), so they
 *      go to the retry topic too, behind A's records.
 * Acceptance: every B job is applied within B_BOUND_MS of its produce,
 * while A's pause still runs (A applied nothing yet).  Then A's fault is
 * cleared and every A job is applied once its pause ends: nothing lost;
 * DLQ empty.  Without the retry window's per-tenant share
 * (w_recycle_due_locked in worker/rs_worker.c) B waited for A's pause:
 * see the figures in docs/worker.md ("The retry consumer's window").
 */
#include "rs/rs_base.h"
#include "rs_test.h"
#include "pool_it.h"

#define NTENANTS 2
#define GROUPS 20
#define JOBS_A 600
#define JOBS_B 40
#define RA_S 20
#define B_BOUND_MS 10000
#define LATENCY_MS 20

typedef struct job_s {
	int tenant;
	int64_t created;
	int64_t applied_at;
} job_t;

typedef struct fx_s {
	pit_t p;
	const char *gids[NTENANTS][GROUPS];
	const char *free_users[NTENANTS][GROUPS][64];
	int free_cnt[NTENANTS][GROUPS];
	int cursor[NTENANTS][GROUPS];
	int next[NTENANTS];
	job_t jobs[2 + JOBS_A + JOBS_B]; /* warm-up, A, B */
	int njobs;
} fx_t;

static void plan_users(fx_t *fx) {
	int t, k;
	for (t = 0; t < NTENANTS; t++)
		for (k = 0; k < GROUPS; k++)
			fx->free_cnt[t][k] = pit_group_outsiders(
				&fx->p, t, k, &fx->gids[t][k],
				fx->free_users[t][k], 64);
}

/* One job of tenant t adding a member never added before (round-robin
 * over its groups; every job has generation 1, so none supersedes). */
static void job_produce(fx_t *fx, int t) {
	int k = fx->next[t]++ % GROUPS;
	job_t *j = &fx->jobs[fx->njobs];
	const char *user;
	char id[32], *txt;
	size_t len;

	TEST_ASSERT(fx->njobs < (int)RS_ARRAY_SIZE(fx->jobs), "too many jobs");
	TEST_ASSERT(fx->cursor[t][k] < fx->free_cnt[t][k],
		    "tenant %d group %d: out of users", t, k);
	user = fx->free_users[t][k][fx->cursor[t][k]++];
	j->tenant = t;
	j->applied_at = -1;
	j->created = rs_wall_ms();
	rs_snprintf(id, sizeof(id), "it0404-%d", fx->njobs);
	txt = pit_job(pit_tenant_id(&fx->p, t), fx->gids[t][k], 1, id, &user,
		      1, NULL, 0, j->created, &len);
	pit_produce(&fx->p, pit_tenant_id(&fx->p, t), fx->gids[t][k], txt,
		    len);
	rs_free(txt);
	fx->njobs++;
}

/* pit_applied_ids callback: the first record of a job counts. */
static void seen(void *opaque, long idx, int64_t applied_at) {
	fx_t *fx = opaque;
	if (fx->jobs[idx].applied_at < 0)
		fx->jobs[idx].applied_at = applied_at;
}

/* Reads the applied topic into jobs[].applied_at; returns how many jobs
 * of tenant t are applied. */
static int collect(fx_t *fx, int t) {
	cJSON *recs = pit_applied(&fx->p);
	int i, n = 0;
	pit_applied_ids(recs, "it0404-", fx->njobs, seen, fx);
	cJSON_Delete(recs);
	for (i = 0; i < fx->njobs; i++)
		n += fx->jobs[i].tenant == t && fx->jobs[i].applied_at >= 0;
	return n;
}

static int count_of(const fx_t *fx, int t) {
	int i, n = 0;
	for (i = 0; i < fx->njobs; i++)
		n += fx->jobs[i].tenant == t;
	return n;
}

/* Waits until every job of tenant t is applied or the monotonic deadline
 * passes; returns how many are applied. */
static int wait_tenant(fx_t *fx, int t, int64_t deadline) {
	int n = 0;
	for (;;) {
		n = collect(fx, t);
		if (n == count_of(fx, t) || rs_now_ms() >= deadline)
			return n;
		rs_sleep_ms(250);
	}
}

int main(void) {
	static fx_t fx;
	rs_sim_conf_t sc;
	rs_sim_gen_t gen;
	pit_worker_t *pw;
	rs_worker_stats_t st;
	int64_t t_b, worst = 0, best = INT64_MAX, t_a, t_w;
	int i, n;
	const char *ta, *tb;

	rs_sim_conf_init(&sc);
	sc.threads = 4;
	rs_sim_gen_init(&gen);
	gen.tenants = NTENANTS;
	gen.users = NTENANTS * 100;
	gen.queues = NTENANTS * GROUPS;
	gen.seed = 404;
	gen.cert_every = 0;
	pit_setup(&fx.p, "it0404", &sc, &gen, 4);
	pit_ov(&fx.p, "worker.threads=8");
	pit_ov(&fx.p, "worker.max_in_flight=200");
	pit_ov(&fx.p, "worker.retry_max_held=100");
	pit_ov(&fx.p, "worker.retry_hold_max=1s");
	pit_ov(&fx.p, "worker.shutdown_timeout=5s");
	pit_reload(&fx.p);
	plan_users(&fx);
	ta = pit_tenant_id(&fx.p, 0);
	tb = pit_tenant_id(&fx.p, 1);
	pit_fault(&fx.p, "{\"path\":\"/graph*\",\"latency\":{\"min_ms\":%d,"
			 "\"max_ms\":%d}}",
		  LATENCY_MS, LATENCY_MS);

	SUB_TEST("warm-up: one job per tenant (tokens, group join)");
	t_w = rs_now_ms();
	pw = pit_worker_start(fx.p.conf);
	job_produce(&fx, 0);
	job_produce(&fx, 1);
	pit_flush(&fx.p);
	TEST_ASSERT(wait_tenant(&fx, 0, rs_now_ms() +
						rs_test_timeout_ms(60000)) == 1 &&
			    wait_tenant(&fx, 1, rs_now_ms() +
						       rs_test_timeout_ms(
							       60000)) == 1,
		    "warm-up jobs not applied");

	SUB_TEST("tenant A: every request 429, Retry-After %d s; %d jobs",
		 RA_S, JOBS_A);
	pit_fault(&fx.p,
		  "{\"tenant\":\"%s\",\"path\":\"/graph*\",\"status\":429,"
		  "\"retry_after\":%d,\"count\":1000}",
		  ta, RA_S);
	t_a = rs_now_ms();
	for (i = 0; i < JOBS_A; i++)
		job_produce(&fx, 0);
	pit_flush(&fx.p);
	/* Let A's overflow reach the retry topic and fill its window. */
	rs_sleep_ms(3000);

	SUB_TEST("tenant B: %d jobs, first attempt 503 with Retry-After 2",
		 JOBS_B);
	pit_fault(&fx.p,
		  "{\"tenant\":\"%s\",\"path\":\"/graph*\",\"status\":503,"
		  "\"retry_after\":2,\"count\":%d}",
		  tb, JOBS_B);
	t_b = rs_now_ms();
	for (i = 0; i < JOBS_B; i++)
		job_produce(&fx, 1);
	pit_flush(&fx.p);
	n = wait_tenant(&fx, 1, t_b + B_BOUND_MS);
	for (i = 0; i < fx.njobs; i++)
		if (i >= 2 && fx.jobs[i].tenant == 1 &&
		    fx.jobs[i].applied_at >= 0) {
			int64_t lat = fx.jobs[i].applied_at - fx.jobs[i].created;
			worst = RS_MAX(worst, lat);
			best = RS_MIN(best, lat);
		}
	rs_test_say("figures: B: %d of %d jobs applied within %d ms, latency "
		    "%" PRId64 "-%" PRId64 " ms\n",
		    n, count_of(&fx, 1), B_BOUND_MS, best, worst);
	TEST_ASSERT(n == count_of(&fx, 1),
		    "B: %d of %d jobs applied within %d ms while A's records "
		    "filled the retry window",
		    n, count_of(&fx, 1), B_BOUND_MS);
	/* Each waited out its Retry-After: 2 s > retry_hold_max, so it went
	 * through the retry topic. */
	TEST_ASSERT(best >= 1900, "a B job applied after %" PRId64 " ms: its "
		    "first attempt did not fail", best);
	TEST_ASSERT(rs_now_ms() - t_a < RA_S * 1000 &&
			    collect(&fx, 0) == 1,
		    "A's pause should still run (A applied %d, %" PRId64
		    " ms since its first 429)",
		    collect(&fx, 0) - 1, rs_now_ms() - t_a);

	SUB_TEST("A's fault cleared: every A job applied after its pause");
	pit_fault(&fx.p, "{\"clear\":true}");
	n = wait_tenant(&fx, 0, t_a + (RA_S + 60) * 1000);
	TEST_ASSERT(n == count_of(&fx, 0), "A: %d of %d jobs applied", n,
		    count_of(&fx, 0));
	pit_worker_stop(pw, &st);
	t_w = rs_now_ms() - t_w;
	rs_test_say("figures: worker: received %" PRIu64 ", deferred %" PRIu64
		    ", sent back %" PRIu64 " in %.1f s, applied %" PRIu64
		    ", retried %" PRIu64 "\n",
		    st.received, st.deferred, st.requeued, (double)t_w / 1000.0,
		    st.applied, st.retried);
	/* The share was used, within its budget: at most 1,000 records
	 * sent back per second (worker.retry_max_held is 100). */
	TEST_ASSERT(st.requeued > 0, "no retry record was sent back");
	TEST_ASSERT(st.requeued <= (uint64_t)(1000 * (t_w / 1000 + 1)),
		    "%" PRIu64 " records sent back in %" PRId64 " ms",
		    st.requeued, t_w);
	TEST_ASSERT(st.applied >= (uint64_t)fx.njobs, "applied %" PRIu64,
		    st.applied);
	TEST_ASSERT(pit_dlq_count(&fx.p) == 0, "DLQ not empty");
	pit_teardown(&fx.p);
	return rs_test_finish();
}
