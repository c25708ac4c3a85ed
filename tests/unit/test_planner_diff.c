/*
 * test_planner_diff.c - the planner's pure diff and deletion guard:
 * exact vs additive, unusable source, guard by count and by percent,
 * --force-removals, duplicates in the inputs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "rs/rs_base.h"
#include "rs_planner.h"

#include <string.h>

static const char *const D[] = {"a", "b", "c", "d"};      /* desired */
static const char *const C[] = {"c", "d", "e", "f", "g"}; /* current */

static void in_init(rs_planner_diff_in_t *in, int mode) {
	memset(in, 0, sizeof(*in));
	in->desired = D;
	in->desired_cnt = 4;
	in->current = C;
	in->current_cnt = 5;
	in->mode = mode;
	in->source_ok = true;
	in->max_removals = 100;
	in->max_removal_percent = 100;
}

static void assert_list(const char **v, size_t n, const char *const *want,
			size_t wn) {
	size_t i;
	assert_int_equal(n, wn);
	for (i = 0; i < n; i++)
		assert_string_equal(v[i], want[i]);
}

static void test_exact(void **state) {
	static const char *const adds[] = {"a", "b"};
	static const char *const rems[] = {"e", "f", "g"};
	rs_planner_diff_in_t in;
	rs_planner_diff_t out;

	(void)state;
	in_init(&in, RS_CONF_SYNC_EXACT);
	assert_int_equal(rs_planner_diff(&in, &out), RS_OK);
	assert_list(out.adds, out.add_cnt, adds, 2);
	assert_list(out.removes, out.remove_cnt, rems, 3);
	assert_int_equal(out.held_cnt, 0);
	assert_false(out.guarded);
	assert_false(out.removals_skipped);
	rs_planner_diff_cleanup(&out);
	rs_planner_diff_cleanup(NULL);
}

static void test_additive(void **state) {
	static const char *const adds[] = {"a", "b"};
	rs_planner_diff_in_t in;
	rs_planner_diff_t out;

	(void)state;
	in_init(&in, RS_CONF_SYNC_ADDITIVE);
	rs_planner_diff(&in, &out);
	assert_list(out.adds, out.add_cnt, adds, 2);
	assert_int_equal(out.remove_cnt, 0);
	assert_int_equal(out.held_cnt, 0);
	rs_planner_diff_cleanup(&out);
}

/* Empty or failed source: adds may still be computed from what is known,
 * but nothing is ever removed. */
static void test_source_not_ok(void **state) {
	rs_planner_diff_in_t in;
	rs_planner_diff_t out;

	(void)state;
	in_init(&in, RS_CONF_SYNC_EXACT);
	in.desired_cnt = 0;
	in.source_ok = false;
	rs_planner_diff(&in, &out);
	assert_int_equal(out.add_cnt, 0);
	assert_int_equal(out.remove_cnt, 0);
	assert_int_equal(out.held_cnt, 0);
	assert_true(out.removals_skipped);
	rs_planner_diff_cleanup(&out);
	/* Also when forced: force is about the guard, not the source. */
	in.force_removals = true;
	rs_planner_diff(&in, &out);
	assert_int_equal(out.remove_cnt, 0);
	rs_planner_diff_cleanup(&out);
}

static void test_guard_count(void **state) {
	static const char *const rems[] = {"e", "f", "g"};
	rs_planner_diff_in_t in;
	rs_planner_diff_t out;

	(void)state;
	in_init(&in, RS_CONF_SYNC_EXACT);
	in.max_removals = 2; /* 3 removals > 2 */
	rs_planner_diff(&in, &out);
	assert_int_equal(out.remove_cnt, 0);
	assert_list(out.held, out.held_cnt, rems, 3);
	assert_true(out.guarded);
	assert_int_equal(out.add_cnt, 2); /* adds are never held */
	rs_planner_diff_cleanup(&out);
	/* At the limit: allowed. */
	in.max_removals = 3;
	rs_planner_diff(&in, &out);
	assert_int_equal(out.remove_cnt, 3);
	assert_false(out.guarded);
	rs_planner_diff_cleanup(&out);
}

static void test_guard_percent(void **state) {
	rs_planner_diff_in_t in;
	rs_planner_diff_t out;

	(void)state;
	in_init(&in, RS_CONF_SYNC_EXACT);
	/* 3 of 5 = 60 %: 59 trips, 60 does not. */
	in.max_removal_percent = 59;
	rs_planner_diff(&in, &out);
	assert_true(out.guarded);
	assert_int_equal(out.held_cnt, 3);
	assert_int_equal(out.remove_cnt, 0);
	rs_planner_diff_cleanup(&out);
	in.max_removal_percent = 60;
	rs_planner_diff(&in, &out);
	assert_false(out.guarded);
	assert_int_equal(out.remove_cnt, 3);
	rs_planner_diff_cleanup(&out);
}

static void test_force(void **state) {
	rs_planner_diff_in_t in;
	rs_planner_diff_t out;

	(void)state;
	in_init(&in, RS_CONF_SYNC_EXACT);
	in.max_removals = 0;
	in.max_removal_percent = 0;
	in.force_removals = true;
	rs_planner_diff(&in, &out);
	assert_false(out.guarded);
	assert_int_equal(out.remove_cnt, 3);
	assert_int_equal(out.held_cnt, 0);
	rs_planner_diff_cleanup(&out);
}

/* Unsorted input with duplicates and an empty target group. */
static void test_dups_and_empty(void **state) {
	static const char *const d[] = {"z", "a", "z", "m", "a"};
	static const char *const adds[] = {"a", "m", "z"};
	rs_planner_diff_in_t in;
	rs_planner_diff_t out;

	(void)state;
	in_init(&in, RS_CONF_SYNC_EXACT);
	in.desired = d;
	in.desired_cnt = 5;
	in.current = NULL;
	in.current_cnt = 0;
	in.max_removal_percent = 0;
	rs_planner_diff(&in, &out);
	assert_list(out.adds, out.add_cnt, adds, 3);
	assert_int_equal(out.remove_cnt, 0);
	assert_false(out.guarded); /* nothing to remove, nothing held */
	rs_planner_diff_cleanup(&out);
	/* Identical sets: no change at all. */
	in.desired = C;
	in.desired_cnt = 5;
	in.current = C;
	in.current_cnt = 5;
	rs_planner_diff(&in, &out);
	assert_int_equal(out.add_cnt + out.remove_cnt + out.held_cnt, 0);
	rs_planner_diff_cleanup(&out);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exact),
		cmocka_unit_test(test_additive),
		cmocka_unit_test(test_source_not_ok),
		cmocka_unit_test(test_guard_count),
		cmocka_unit_test(test_guard_percent),
		cmocka_unit_test(test_force),
		cmocka_unit_test(test_dups_and_empty),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
