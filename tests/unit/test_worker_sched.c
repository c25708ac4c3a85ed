/*
 * Unit tests of rs_wsched, the worker's scheduling core: per-key FIFO,
 * supersede by generation, retry delays that hold no slot, delay order.
 */
#include "rs/rs_base.h"
#include "rs_wsched.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

static void job_init(rs_wjob_t *j, const char *key, int64_t gen) {
	memset(j, 0, sizeof(*j));
	j->key = (char *)key;
	j->generation = gen;
}

/* Same key: one at a time, in push order; other keys run meanwhile. */
static void test_fifo_per_key(void **state) {
	rs_wsched_t *s = rs_wsched_new();
	rs_wjob_t a1, a2, b1, *sup[4];
	(void)state;
	job_init(&a1, "a", 1);
	job_init(&a2, "a", 1);
	job_init(&b1, "b", 1);
	assert_int_equal(rs_wsched_push(s, &a1, sup, 4), 0);
	assert_int_equal(rs_wsched_push(s, &a2, sup, 4), 0);
	assert_int_equal(rs_wsched_push(s, &b1, sup, 4), 0);
	assert_int_equal(rs_wsched_cnt(s), 3);
	assert_ptr_equal(rs_wsched_next(s, 0, NULL, NULL), &a1);
	/* a2 waits for a1; b1 may run in parallel. */
	assert_ptr_equal(rs_wsched_next(s, 0, NULL, NULL), &b1);
	assert_null(rs_wsched_next(s, 0, NULL, NULL));
	assert_int_equal(rs_wsched_running(s), 2);
	rs_wsched_finish(s, &a1, true);
	assert_ptr_equal(rs_wsched_next(s, 0, NULL, NULL), &a2);
	rs_wsched_finish(s, &a2, true);
	rs_wsched_finish(s, &b1, true);
	assert_int_equal(rs_wsched_cnt(s), 0);
	assert_null(rs_wsched_next(s, 0, NULL, NULL));
	rs_wsched_destroy(s);
}

/* A newer generation drops waiting older ones, never the running one; an
 * older one than applied or waiting is dropped itself. */
static void test_supersede(void **state) {
	rs_wsched_t *s = rs_wsched_new();
	rs_wjob_t g1, g2, g3, g4, old, *sup[4];
	(void)state;
	job_init(&g1, "k", 1);
	job_init(&g2, "k", 2);
	job_init(&g3, "k", 3);
	job_init(&g4, "k", 4);
	job_init(&old, "k", 2);
	assert_int_equal(rs_wsched_push(s, &g1, sup, 4), 0);
	assert_ptr_equal(rs_wsched_next(s, 0, NULL, NULL), &g1); /* running */
	assert_int_equal(rs_wsched_push(s, &g2, sup, 4), 0);
	assert_int_equal(rs_wsched_push(s, &g3, sup, 4), 1);
	assert_ptr_equal(sup[0], &g2);
	/* Older than the waiting g3: itself superseded. */
	assert_int_equal(rs_wsched_push(s, &old, sup, 4), 1);
	assert_ptr_equal(sup[0], &old);
	assert_int_equal(rs_wsched_cnt(s), 2);
	rs_wsched_finish(s, &g1, true);
	assert_ptr_equal(rs_wsched_next(s, 0, NULL, NULL), &g3);
	rs_wsched_finish(s, &g3, true);
	/* Applied mark 3: a replayed generation 2 is stale... */
	job_init(&old, "k", 2);
	assert_int_equal(rs_wsched_push(s, &old, sup, 4), 1);
	assert_ptr_equal(sup[0], &old);
	/* ...generation 4 runs. */
	assert_int_equal(rs_wsched_push(s, &g4, sup, 4), 0);
	assert_ptr_equal(rs_wsched_next(s, 0, NULL, NULL), &g4);
	rs_wsched_finish(s, &g4, false);
	assert_int_equal(rs_wsched_cnt(s), 0);
	rs_wsched_destroy(s);
}

/* A dead-lettered (not applied) job leaves no mark: an equal generation
 * (the DLQ replay) still runs. */
static void test_dlq_no_mark(void **state) {
	rs_wsched_t *s = rs_wsched_new();
	rs_wjob_t a, b, *sup[2];
	(void)state;
	job_init(&a, "k", 5);
	job_init(&b, "k", 5);
	rs_wsched_push(s, &a, sup, 2);
	assert_ptr_equal(rs_wsched_next(s, 0, NULL, NULL), &a);
	rs_wsched_finish(s, &a, false);
	assert_int_equal(rs_wsched_push(s, &b, sup, 2), 0);
	assert_ptr_equal(rs_wsched_next(s, 0, NULL, NULL), &b);
	rs_wsched_finish(s, &b, true);
	rs_wsched_destroy(s);
}

/* A delayed job frees its slot, keeps its key's order, and delayed jobs
 * come out in not_before order. */
static void test_retry_delay_order(void **state) {
	rs_wsched_t *s = rs_wsched_new();
	rs_wjob_t a, a2, b, c, *sup[2];
	(void)state;
	job_init(&a, "a", 1);
	job_init(&a2, "a", 1);
	job_init(&b, "b", 1);
	job_init(&c, "c", 1);
	rs_wsched_push(s, &a, sup, 2);
	rs_wsched_push(s, &a2, sup, 2);
	rs_wsched_push(s, &b, sup, 2);
	rs_wsched_push(s, &c, sup, 2);
	assert_ptr_equal(rs_wsched_next(s, 100, NULL, NULL), &a);
	assert_ptr_equal(rs_wsched_next(s, 100, NULL, NULL), &b);
	rs_wsched_retry(s, &a, 500); /* throttled: Retry-After */
	rs_wsched_retry(s, &b, 300);
	assert_int_equal(rs_wsched_running(s), 0);
	/* a2 stays behind a (same key); c runs now. */
	assert_ptr_equal(rs_wsched_next(s, 100, NULL, NULL), &c);
	assert_null(rs_wsched_next(s, 100, NULL, NULL));
	assert_int_equal(rs_wsched_next_deadline(s), 300);
	rs_wsched_finish(s, &c, true);
	assert_null(rs_wsched_next(s, 299, NULL, NULL));
	/* Both due: the earlier not_before first. */
	assert_ptr_equal(rs_wsched_next(s, 1000, NULL, NULL), &b);
	assert_ptr_equal(rs_wsched_next(s, 1000, NULL, NULL), &a);
	rs_wsched_finish(s, &a, true);
	rs_wsched_finish(s, &b, true);
	assert_ptr_equal(rs_wsched_next(s, 1000, NULL, NULL), &a2);
	rs_wsched_finish(s, &a2, true);
	assert_int_equal(rs_wsched_cnt(s), 0);
	rs_wsched_destroy(s);
}

static bool match_key_b(rs_wjob_t *j, void *opaque) {
	(void)opaque;
	return !strcmp(j->key, "b");
}

/* Revoke/shutdown: waiting jobs removed, the running one stays. */
static void test_remove_if(void **state) {
	rs_wsched_t *s = rs_wsched_new();
	rs_wjob_t b1, b2, c, *sup[2], *out[4];
	(void)state;
	job_init(&b1, "b", 1);
	job_init(&b2, "b", 1);
	job_init(&c, "c", 1);
	rs_wsched_push(s, &b1, sup, 2);
	rs_wsched_push(s, &b2, sup, 2);
	rs_wsched_push(s, &c, sup, 2);
	assert_ptr_equal(rs_wsched_next(s, 0, NULL, NULL), &b1);
	assert_int_equal(rs_wsched_remove_if(s, match_key_b, NULL, out, 4), 1);
	assert_ptr_equal(out[0], &b2);
	assert_int_equal(rs_wsched_cnt(s), 2);
	rs_wsched_finish(s, &b1, true);
	assert_ptr_equal(rs_wsched_next(s, 0, NULL, NULL), &c);
	rs_wsched_finish(s, &c, true);
	assert_int_equal(rs_wsched_cnt(s), 0);
	rs_wsched_destroy(s);
}

static bool not_tenant_x(rs_wjob_t *j, void *opaque) {
	(void)opaque;
	return strncmp(j->key, "x/", 2) != 0;
}

/* A saturated tenant's jobs are skipped, others still start. */
static void test_can_run(void **state) {
	rs_wsched_t *s = rs_wsched_new();
	rs_wjob_t x1, y1, *sup[2];
	(void)state;
	job_init(&x1, "x/g1", 1);
	job_init(&y1, "y/g1", 1);
	rs_wsched_push(s, &x1, sup, 2);
	rs_wsched_push(s, &y1, sup, 2);
	assert_ptr_equal(rs_wsched_next(s, 0, not_tenant_x, NULL), &y1);
	assert_null(rs_wsched_next(s, 0, not_tenant_x, NULL));
	assert_ptr_equal(rs_wsched_next(s, 0, NULL, NULL), &x1);
	rs_wsched_finish(s, &x1, true);
	rs_wsched_finish(s, &y1, true);
	rs_wsched_destroy(s);
}

/* The pool's sleep after finding nothing: until the next due time, and
 * never from a past deadline.  A due job the tenant's admission refuses
 * has not_before <= now; the 0320 hang came from turning that into a
 * negative wait (pthread_cond_timedwait EINVAL, lock never released). */
static void test_wait_ms(void **state) {
	rs_wsched_t *s = rs_wsched_new();
	rs_wjob_t x1, y1, *sup[2];
	struct timespec ts;
	(void)state;
	assert_int_equal(rs_wsched_wait_ms(s, 1000, 200), 200); /* empty */
	job_init(&x1, "x/g1", 1);
	job_init(&y1, "y/g1", 1);
	rs_wsched_push(s, &x1, sup, 2);
	rs_wsched_push(s, &y1, sup, 2);
	assert_ptr_equal(rs_wsched_next(s, 1000, not_tenant_x, NULL), &y1);
	rs_wsched_retry(s, &y1, 1050);
	/* x1 is due (not_before 0) but its tenant is at its limit. */
	assert_null(rs_wsched_next(s, 1000, not_tenant_x, NULL));
	assert_true(rs_wsched_next_deadline(s) < 1000);
	assert_int_equal(rs_wsched_wait_ms(s, 1000, 200), 200);
	assert_int_equal(rs_wsched_wait_ms(s, 1000, 0), 1);
	assert_ptr_equal(rs_wsched_next(s, 1000, NULL, NULL), &x1);
	/* Only y1 waits now, due in 50 ms; a 20 ms cap wins over that. */
	assert_int_equal(rs_wsched_wait_ms(s, 1000, 200), 50);
	assert_int_equal(rs_wsched_wait_ms(s, 1000, 20), 20);
	assert_int_equal(rs_wsched_wait_ms(s, 2000, 200), 200);
	rs_wsched_finish(s, &x1, true);
	assert_ptr_equal(rs_wsched_next(s, 1050, NULL, NULL), &y1);
	rs_wsched_finish(s, &y1, true);
	rs_wsched_destroy(s);
	/* The absolute time is normalized for every input, negative too. */
	rs_abstime_ms(CLOCK_MONOTONIC, -5, &ts);
	assert_true(ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000L);
	rs_abstime_ms(CLOCK_MONOTONIC, 1999, &ts);
	assert_true(ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000L);
}

/* Fairness: the least-loaded tenant's due job goes first, even behind
 * older jobs of a tenant that already runs some (a burst of one tenant
 * must not take every thread in arrival order). */
static void test_fair_by_load(void **state) {
	rs_wsched_t *s = rs_wsched_new();
	rs_wjob_t x1, x2, x3, y1, *sup[2];
	int load_x = 0, load_y = 0;
	(void)state;
	job_init(&x1, "x/g1", 1);
	job_init(&x2, "x/g2", 1);
	job_init(&x3, "x/g3", 1);
	job_init(&y1, "y/g1", 1);
	x1.load = x2.load = x3.load = &load_x;
	y1.load = &load_y;
	rs_wsched_push(s, &x1, sup, 2);
	rs_wsched_push(s, &x2, sup, 2);
	rs_wsched_push(s, &x3, sup, 2);
	rs_wsched_push(s, &y1, sup, 2);
	assert_ptr_equal(rs_wsched_next(s, 0, NULL, NULL), &x1);
	load_x = 1;
	/* x2 and x3 are older, but tenant x already runs one. */
	assert_ptr_equal(rs_wsched_next(s, 0, NULL, NULL), &y1);
	load_y = 1;
	assert_ptr_equal(rs_wsched_next(s, 0, NULL, NULL), &x2);
	rs_wsched_finish(s, &x1, true);
	rs_wsched_finish(s, &x2, true);
	rs_wsched_finish(s, &y1, true);
	assert_ptr_equal(rs_wsched_next(s, 0, NULL, NULL), &x3);
	rs_wsched_finish(s, &x3, true);
	rs_wsched_destroy(s);
}

/* A job parked for a retry is waiting, not running: a newer generation
 * supersedes it. */
static void test_parked_superseded(void **state) {
	rs_wsched_t *s = rs_wsched_new();
	rs_wjob_t g1, g2, *sup[2];
	(void)state;
	job_init(&g1, "k", 1);
	job_init(&g2, "k", 2);
	rs_wsched_push(s, &g1, sup, 2);
	assert_ptr_equal(rs_wsched_next(s, 0, NULL, NULL), &g1);
	rs_wsched_retry(s, &g1, 10000);
	assert_int_equal(rs_wsched_push(s, &g2, sup, 2), 1);
	assert_ptr_equal(sup[0], &g1);
	assert_ptr_equal(rs_wsched_next(s, 0, NULL, NULL), &g2);
	rs_wsched_finish(s, &g2, true);
	assert_int_equal(rs_wsched_cnt(s), 0);
	rs_wsched_destroy(s);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fifo_per_key),
		cmocka_unit_test(test_supersede),
		cmocka_unit_test(test_dlq_no_mark),
		cmocka_unit_test(test_retry_delay_order),
		cmocka_unit_test(test_remove_if),
		cmocka_unit_test(test_can_run),
		cmocka_unit_test(test_parked_superseded),
		cmocka_unit_test(test_wait_ms),
		cmocka_unit_test(test_fair_by_load),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
