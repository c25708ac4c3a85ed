/*
 * 0403-scale-1-3-1: issue 5 G7, rebalance without stop-the-world, and
 * guarantees 1 and 3 (nothing lost, never stale) across scaling.  Three
 * in-process workers (each its own rs_worker_t: consumer, scheduler,
 * generation marks, thread pool; nothing shared but the process) in one
 * consumer group on a 12-partition jobs topic, the in-process simulator
 * with 60 ms of latency on every Graph write: one worker alone (4 threads,
 * ~120 ms per job) is just below the offered 40 jobs/s, so every rebalance
 * happens with jobs running and waiting.
 *
 * The producer runs ROUNDS rounds, one per second; round g publishes
 * generation g of every one of the KEYS group keys, planned like the
 * planner does (exact mode, the full change to the desired state
 * initial + u[g]): "add u[g], remove u[1..g-1]" (removing a non-member is
 * a success), so a newer generation may supersede a waiting older one.  Worker A runs throughout; B and C join at round
 * UP_AT and leave (rs_worker_stop, the SIGTERM path) at round DOWN_AT, so
 * every key sees generations published, applied and handed over while the
 * group goes 1 -> 3 -> 1 members.
 *
 * Checked at the end:
 *   - every group is exactly its initial members + u[ROUNDS] (each
 *     u[1..ROUNDS-1] was added and removed again): nothing lost, and no
 *     older generation re-applied last;
 *   - in the applied topic, each key's generations never go down (an
 *     older generation never applied after a newer one, whichever worker)
 *     and end at ROUNDS;
 *   - a late generation 10 for 10 keys, published after the run, is
 *     superseded by every key's generation-24 mark (never stale, also
 *     for keys that moved between workers);
 *   - B and C really took work while they were members, A kept working
 *     while they joined and left (its applies continue in every phase);
 *   - the DLQ is empty and every worker stopped cleanly.
 */
#include "rs/rs_base.h"
#include "rs_test.h"
#include "pool_it.h"

#define NTENANTS 4
#define GROUPS 10          /* per tenant */
#define KEYS (NTENANTS * GROUPS)
#define ROUNDS 24
#define UP_AT 5
#define DOWN_AT 15
#define LATENCY_MS 60
#define STALE_KEYS 10
#define STALE_GEN 10

typedef struct key_s {
	const char *tenant;
	const char *gid;
	const cJSON *initial;    /* members at setup */
	const char *u[ROUNDS + 1]; /* u[1..ROUNDS], all outside the group */
} key_t_;

static key_t_ keys[KEYS];

static void plan(pit_t *p) {
	int t, k, g, n = 0;
	for (t = 0; t < NTENANTS; t++) {
		const char *tid = pit_tenant_id(p, t);
		const cJSON *e = pit_entra(p->state, tid);
		const cJSON *groups = cJSON_GetObjectItemCaseSensitive(e,
								       "groups");
		const cJSON *users = cJSON_GetObjectItemCaseSensitive(e,
								      "users");
		TEST_ASSERT(cJSON_GetArraySize(groups) >= GROUPS,
			    "%s: %d groups", tid, cJSON_GetArraySize(groups));
		for (k = 0; k < GROUPS; k++, n++) {
			const cJSON *grp = cJSON_GetArrayItem(groups, k), *u;
			key_t_ *K = &keys[n];
			K->tenant = tid;
			K->gid = cJSON_GetStringValue(
				cJSON_GetObjectItemCaseSensitive(grp, "id"));
			K->initial = cJSON_GetObjectItemCaseSensitive(grp,
								      "members");
			g = 1;
			cJSON_ArrayForEach(u, users) {
				const char *uid = cJSON_GetStringValue(
					cJSON_GetObjectItemCaseSensitive(u,
									 "id"));
				if (g <= ROUNDS && !pit_in(K->initial, uid))
					K->u[g++] = uid;
			}
			TEST_ASSERT(g == ROUNDS + 1, "%s: users for group %d",
				    tid, k);
		}
	}
}

static void produce_round(pit_t *p, int g) {
	int k;
	for (k = 0; k < KEYS; k++) {
		const key_t_ *K = &keys[k];
		size_t len;
		char *txt = pit_job(K->tenant, K->gid, g, NULL, &K->u[g], 1,
				    &K->u[1], (size_t)(g - 1), rs_wall_ms(),
				    &len);
		pit_produce(p, K->tenant, K->gid, txt, len);
		rs_free(txt);
	}
	pit_flush(p);
}

/* True when every group is exactly initial + u[ROUNDS]; with @p why set,
 * the first difference is described there. */
static bool converged(pit_t *p, char *why, size_t why_size) {
	cJSON *now = pit_state_now(p);
	bool ok = true;
	int k, g;
	why[0] = '\0';
	for (k = 0; k < KEYS && ok; k++) {
		const key_t_ *K = &keys[k];
		const cJSON *m = pit_members(now, K->tenant, K->gid), *x;
		if (!pit_in(m, K->u[ROUNDS])) {
			rs_snprintf(why, why_size, "%s/%s lacks u[%d]",
				    K->tenant, K->gid, ROUNDS);
			ok = false;
		}
		for (g = 1; g < ROUNDS && ok; g++)
			if (pit_in(m, K->u[g])) {
				rs_snprintf(why, why_size,
					    "%s/%s still has u[%d] (stale)",
					    K->tenant, K->gid, g);
				ok = false;
			}
		cJSON_ArrayForEach(x, K->initial) if (ok && !pit_in(m, x->valuestring)) {
			rs_snprintf(why, why_size, "%s/%s lost initial %s",
				    K->tenant, K->gid, x->valuestring);
			ok = false;
		}
		if (ok && cJSON_GetArraySize(m) !=
				  cJSON_GetArraySize(K->initial) + 1) {
			rs_snprintf(why, why_size, "%s/%s has %d members",
				    K->tenant, K->gid, cJSON_GetArraySize(m));
			ok = false;
		}
	}
	cJSON_Delete(now);
	return ok;
}

int main(void) {
	static pit_t p;
	rs_sim_conf_t sc;
	rs_sim_gen_t gen;
	pit_worker_t *a, *b = NULL, *c = NULL;
	rs_worker_stats_t sa, sb, sc_, sa_up, sa_down;
	cJSON *recs;
	const cJSON *r;
	char why[512] = "";
	int64_t t0, end;
	int g, k, applied_max[KEYS], last_gen[KEYS];
	uint64_t a_before_up, a_before_down;

	rs_sim_conf_init(&sc);
	sc.threads = 4;
	rs_sim_gen_init(&gen);
	gen.tenants = NTENANTS;
	gen.users = NTENANTS * 120;
	gen.queues = KEYS;
	gen.seed = 403;
	gen.cert_every = 0;
	pit_setup(&p, "it0403", &sc, &gen, 12);
	pit_ov(&p, "worker.threads=4");
	pit_ov(&p, "worker.shutdown_timeout=10s");
	pit_reload(&p);
	plan(&p);
	/* Latency on the PATCH (adds) and the outer $batch POST (removes):
	 * latency inside a $batch sleeps per item in a sim thread. */
	pit_fault(&p, "{\"method\":\"PATCH\",\"path\":\"/graph*\","
		      "\"latency\":{\"min_ms\":%d,\"max_ms\":%d}}",
		  LATENCY_MS, LATENCY_MS);
	pit_fault(&p, "{\"method\":\"POST\",\"path\":\"/graph/v1.0/$batch\","
		      "\"latency\":{\"min_ms\":%d,\"max_ms\":%d}}",
		  LATENCY_MS, LATENCY_MS);

	SUB_TEST("%d rounds of %d keys while the group goes 1 -> 3 -> 1",
		 ROUNDS, KEYS);
	a = pit_worker_start(p.conf);
	t0 = rs_now_ms();
	for (g = 1; g <= ROUNDS; g++) {
		pit_sleep_until(t0 + (int64_t)(g - 1) * 1000);
		if (g == UP_AT) {
			rs_worker_stats(a->w, &sa_up);
			b = pit_worker_start(p.conf);
			c = pit_worker_start(p.conf);
			rs_test_say("round %d: B and C started\n", g);
		}
		if (g == DOWN_AT) {
			rs_worker_stats(a->w, &sa_down);
			pit_worker_stop(b, &sb);
			pit_worker_stop(c, &sc_);
			rs_test_say("round %d: B and C stopped after %" PRId64
				    " ms (B received %" PRIu64 " applied %" PRIu64
				    " superseded %" PRIu64 " released %" PRIu64
				    "; C received %" PRIu64 " applied %" PRIu64
				    " superseded %" PRIu64 " released %" PRIu64
				    ")\n",
				    g, rs_now_ms() - t0 - (int64_t)(g - 1) * 1000,
				    sb.received, sb.applied, sb.superseded,
				    sb.released, sc_.received, sc_.applied,
				    sc_.superseded, sc_.released);
		}
		produce_round(&p, g);
	}
	end = rs_now_ms() + rs_test_timeout_ms(60000);
	while (!converged(&p, why, sizeof(why)) && rs_now_ms() < end)
		rs_sleep_ms(500);
	rs_test_say("converged %" PRId64 " ms after the last round (%s)\n",
		    rs_now_ms() - t0 - (ROUNDS - 1) * 1000,
		    why[0] ? why : "-");
	/* A late, older generation for STALE_KEYS keys (a replayed or
	 * delayed plan), published after A saw those keys' newest
	 * generation, partly applied by B or C before it took them over:
	 * it must be superseded, not applied. */
	{
		rs_worker_stats_t s0, s1;
		rs_worker_stats(a->w, &s0);
		for (k = 0; k < STALE_KEYS; k++) {
			const key_t_ *K = &keys[k];
			size_t len;
			char *txt = pit_job(K->tenant, K->gid, STALE_GEN, NULL,
					    &K->u[STALE_GEN], 1, &K->u[1],
					    STALE_GEN - 1, rs_wall_ms(), &len);
			pit_produce(&p, K->tenant, K->gid, txt, len);
			rs_free(txt);
		}
		pit_flush(&p);
		end = rs_now_ms() + rs_test_timeout_ms(30000);
		do {
			rs_sleep_ms(200);
			rs_worker_stats(a->w, &s1);
		} while (s1.received < s0.received + STALE_KEYS &&
			 rs_now_ms() < end);
		TEST_ASSERT(s1.superseded >= s0.superseded + STALE_KEYS,
			    "late generation %d: received %" PRIu64
			    ", superseded %" PRIu64 " of %d",
			    STALE_GEN, s1.received - s0.received,
			    s1.superseded - s0.superseded, STALE_KEYS);
	}
	rs_sleep_ms(1000); /* the last applied records */
	pit_worker_stop(a, &sa);
	rs_test_say("figures: A received %" PRIu64 " applied %" PRIu64
		    " noop %" PRIu64 " superseded %" PRIu64 " dlq %" PRIu64
		    "\n",
		    sa.received, sa.applied, sa.noop, sa.superseded,
		    sa.dead_lettered);
	TEST_ASSERT(converged(&p, why, sizeof(why)), "not converged: %s",
		    why);

	SUB_TEST("B and C took work; A kept working through both rebalances");
	TEST_ASSERT(sb.received > 0 && sc_.received > 0,
		    "B received %" PRIu64 ", C %" PRIu64, sb.received,
		    sc_.received);
	TEST_ASSERT(sb.applied + sb.noop > 0 && sc_.applied + sc_.noop > 0,
		    "B and C applied jobs");
	a_before_up = sa_up.applied;
	a_before_down = sa_down.applied;
	TEST_ASSERT(a_before_up > 0 && a_before_down > a_before_up &&
			    sa.applied > a_before_down,
		    "A applied %" PRIu64 " / %" PRIu64 " / %" PRIu64,
		    a_before_up, a_before_down, sa.applied);
	TEST_ASSERT(sa.dead_lettered + sb.dead_lettered +
				    sc_.dead_lettered ==
			    0,
		    "dead-lettered");

	SUB_TEST("applied topic: per key generations never go down, end at "
		 "%d", ROUNDS);
	recs = pit_applied(&p);
	for (k = 0; k < KEYS; k++)
		applied_max[k] = last_gen[k] = 0;
	cJSON_ArrayForEach(r, recs) {
		const char *key = cJSON_GetStringValue(
			cJSON_GetObjectItemCaseSensitive(r, "key"));
		int gen_ = (int)cJSON_GetNumberValue(
			cJSON_GetObjectItemCaseSensitive(r, "generation"));
		char want[300];
		for (k = 0; k < KEYS; k++) {
			rs_snprintf(want, sizeof(want), "%s/%s",
				    keys[k].tenant, keys[k].gid);
			if (!strcmp(want, key))
				break;
		}
		TEST_ASSERT(k < KEYS, "unknown key %s", key);
		TEST_ASSERT(gen_ >= last_gen[k],
			    "%s: generation %d applied after %d", key, gen_,
			    last_gen[k]);
		last_gen[k] = gen_;
		if (gen_ > applied_max[k])
			applied_max[k] = gen_;
	}
	cJSON_Delete(recs);
	for (k = 0; k < KEYS; k++)
		TEST_ASSERT(applied_max[k] == ROUNDS,
			    "key %d: last applied generation %d", k,
			    applied_max[k]);
	TEST_ASSERT(pit_dlq_count(&p) == 0, "DLQ not empty");

	pit_teardown(&p);
	return rs_test_finish();
}
