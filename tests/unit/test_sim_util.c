/*
 * test_sim_util.c - the simulator's containers and helpers (sim_util.c,
 * sim_throttle.c formatting): string map with deletions and growth, id sets
 * (O(1) membership with swap-remove), query/form decoding and its bounds,
 * glob matching, deterministic PRNG, Retry-After formatting.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "rs/rs_base.h"
#include "sim_priv.h"

static void test_map(void **state) {
	sim_map_t m;
	char key[32];
	int i, vals[2000];
	size_t pos = 0, seen = 0;
	(void)state;

	sim_map_init(&m);
	assert_null(sim_map_get(&m, "x"));
	for (i = 0; i < 2000; i++) {
		vals[i] = i;
		rs_snprintf(key, sizeof(key), "k%d", i);
		assert_null(sim_map_put(&m, key, &vals[i]));
	}
	assert_int_equal(sim_map_count(&m), 2000);
	/* Delete every other key: probe chains must survive tombstones. */
	for (i = 0; i < 2000; i += 2) {
		rs_snprintf(key, sizeof(key), "k%d", i);
		assert_ptr_equal(sim_map_del(&m, key), &vals[i]);
	}
	for (i = 0; i < 2000; i++) {
		rs_snprintf(key, sizeof(key), "k%d", i);
		if (i % 2)
			assert_ptr_equal(sim_map_get(&m, key), &vals[i]);
		else
			assert_null(sim_map_get(&m, key));
	}
	/* Replace returns the old value. */
	assert_ptr_equal(sim_map_put(&m, "k1", &vals[0]), &vals[1]);
	while (sim_map_next(&m, &pos, NULL, NULL))
		seen++;
	assert_int_equal(seen, 1000);
	sim_map_cleanup(&m, NULL);
}

static void test_idset(void **state) {
	sim_idset_t s;
	const char **sorted;
	(void)state;

	sim_idset_init(&s);
	assert_true(sim_idset_add(&s, "c"));
	assert_true(sim_idset_add(&s, "a"));
	assert_true(sim_idset_add(&s, "b"));
	assert_false(sim_idset_add(&s, "a")); /* no-op */
	assert_int_equal(s.n, 3);
	assert_true(sim_idset_del(&s, "c")); /* moves "b" into slot 0 */
	assert_false(sim_idset_del(&s, "c"));
	assert_true(sim_idset_has(&s, "a"));
	assert_true(sim_idset_has(&s, "b"));
	assert_false(sim_idset_has(&s, "c"));
	assert_true(sim_idset_del(&s, "b"));
	assert_true(sim_idset_has(&s, "a"));
	assert_true(sim_idset_add(&s, "z"));
	assert_true(sim_idset_add(&s, "m"));
	sorted = sim_idset_sorted(&s);
	assert_string_equal(sorted[0], "a");
	assert_string_equal(sorted[1], "m");
	assert_string_equal(sorted[2], "z");
	rs_free(sorted);
	sim_idset_cleanup(&s);
}

static void test_kv(void **state) {
	sim_kv_t kv;
	const char *q = "scope=https%3A%2F%2Fgraph.microsoft.com%2F.default"
			"&client_secret=a+b%2Bc&&flag&x=1&x=2";
	char big[SIM_KV_MAX * 4 + 8];
	int i;
	(void)state;

	assert_int_equal(sim_kv_parse(&kv, q, strlen(q)), RS_OK);
	assert_string_equal(sim_kv_get(&kv, "scope"),
			    "https://graph.microsoft.com/.default");
	assert_string_equal(sim_kv_get(&kv, "client_secret"), "a b+c");
	assert_string_equal(sim_kv_get(&kv, "flag"), "");
	assert_int_equal(sim_kv_count(&kv, "x"), 2);
	assert_null(sim_kv_get(&kv, "nope"));
	sim_kv_cleanup(&kv);

	assert_int_equal(sim_kv_parse(&kv, "a=%zz", 5), RS_ERR_PARSE);
	sim_kv_cleanup(&kv);
	assert_int_equal(sim_kv_parse(&kv, "a=%4", 4), RS_ERR_PARSE);
	sim_kv_cleanup(&kv);

	/* More than SIM_KV_MAX pairs is refused, not truncated silently. */
	big[0] = '\0';
	for (i = 0; i <= SIM_KV_MAX; i++)
		strncat(big, "a=&", sizeof(big) - strlen(big) - 1);
	assert_int_equal(sim_kv_parse(&kv, big, strlen(big)),
			 RS_ERR_TOO_LARGE);
	sim_kv_cleanup(&kv);
}

static void test_glob(void **state) {
	(void)state;
	assert_true(sim_glob("/graph/*", "/graph/v1.0/groups/x/members"));
	assert_true(sim_glob("*/members", "/graph/v1.0/groups/x/members"));
	assert_true(sim_glob("/talkdesk/users?", "/talkdesk/users/"));
	assert_false(sim_glob("/talkdesk/users", "/talkdesk/users/1"));
	assert_true(sim_glob("*", ""));
	assert_false(sim_glob("a*b*c", "aXbY"));
	assert_true(sim_glob("a*b*c", "aXbYc"));
}

static void test_rng(void **state) {
	sim_rng_t a, b;
	char g1[37], g2[37];
	int i;
	(void)state;

	sim_rng_seed(&a, 42);
	sim_rng_seed(&b, 42);
	for (i = 0; i < 100; i++)
		assert_true(sim_rng_next(&a) == sim_rng_next(&b));
	sim_rng_guid(&a, g1);
	sim_rng_guid(&b, g2);
	assert_string_equal(g1, g2);
	assert_int_equal(strlen(g1), 36);
	assert_int_equal(g1[14], '4'); /* version 4 */
	for (i = 0; i < 1000; i++) {
		int64_t v = sim_rng_range(&a, 1, 300);
		assert_true(v >= 1 && v <= 300);
	}
}

static void test_retry_after_fmt(void **state) {
	char buf[32];
	(void)state;
	sim_retry_after_fmt(2000000, buf, sizeof(buf));
	assert_string_equal(buf, "2");
	sim_retry_after_fmt(2128000, buf, sizeof(buf));
	assert_string_equal(buf, "2.128");
	sim_retry_after_fmt(500000, buf, sizeof(buf));
	assert_string_equal(buf, "0.5");
	sim_retry_after_fmt(1, buf, sizeof(buf)); /* never 0 */
	assert_string_equal(buf, "0.001");
}

static int ext_freed;

static void ext_free_cb(void *p) {
	ext_freed++;
	rs_free(p);
}

static void test_ext_slot(void **state) {
	rs_sim_t *sim;
	sim_tenant_t *tn;
	char errstr[128];
	(void)state;

	sim = rs_sim_new(NULL, errstr, sizeof(errstr));
	assert_non_null(sim);
	tn = sim_tenant_new(sim, "t1");
	tn->ext[SIM_EXT_GRAPH] = rs_malloc(16);
	tn->ext_free[SIM_EXT_GRAPH] = ext_free_cb;
	/* Clearing the data (reset/reload) frees module state too. */
	sim_tenant_clear_data(tn);
	assert_int_equal(ext_freed, 1);
	assert_null(tn->ext[SIM_EXT_GRAPH]);
	tn->ext[SIM_EXT_GENESYS] = rs_malloc(16);
	tn->ext_free[SIM_EXT_GENESYS] = ext_free_cb;
	sim_tenant_destroy(tn);
	assert_int_equal(ext_freed, 2);
	rs_sim_destroy(sim);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_map),
		cmocka_unit_test(test_idset),
		cmocka_unit_test(test_kv),
		cmocka_unit_test(test_glob),
		cmocka_unit_test(test_rng),
		cmocka_unit_test(test_retry_after_fmt),
		cmocka_unit_test(test_ext_slot),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
