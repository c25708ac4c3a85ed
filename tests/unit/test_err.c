/*
 * test_err.c - the error table and the travelling error object.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "rs/rs_base.h"
#include "rs/rs_err.h"

static void test_names_and_messages(void **state) {
	(void)state;
	assert_int_equal(RS_OK, 0);
	assert_string_equal(rs_err_name(RS_ERR_TOO_LARGE), "TOO_LARGE");
	assert_string_equal(rs_err_str(RS_ERR_TOO_LARGE), "Size limit exceeded");
	assert_string_equal(rs_err_name(RS_ERR_CONFIG_UNKNOWN_KEY),
			    "CONFIG_UNKNOWN_KEY");
	assert_string_equal(rs_err_name((rs_err_t)9999), "UNKNOWN");
	assert_string_equal(rs_err_str((rs_err_t)9999), "Unknown error");
}

static void test_ranges(void **state) {
	(void)state;
	/* Each class of error stays in its documented range. */
	assert_true(RS_ERR_HTTP_TRANSPORT >= 100 && RS_ERR_RETIRED < 200);
	assert_true(RS_ERR_QUEUE >= 200 && RS_ERR_SUPERSEDED < 300);
	assert_true(RS_ERR_CONFIG >= 300 && RS_ERR_SECRET < 400);
}

static void test_error_object(void **state) {
	rs_error_t *e;
	char big[3000];
	(void)state;

	e = rs_error_new(RS_ERR_HTTP_THROTTLED, true, false, 1500,
			 "429 from %s", "graph");
	assert_int_equal(rs_error_code(e), RS_ERR_HTTP_THROTTLED);
	assert_true(rs_error_retriable(e));
	assert_false(rs_error_fatal(e));
	assert_int_equal(rs_error_retry_after_ms(e), 1500);
	assert_string_equal(rs_error_msg(e), "429 from graph");
	rs_error_set_http_status(e, 429);
	assert_int_equal(rs_error_http_status(e), 429);
	rs_error_destroy(e);

	/* Messages are bounded at 1 KiB. */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	e = rs_error_new(RS_ERR_FAIL, false, true, -1, "%s", big);
	assert_int_equal(strlen(rs_error_msg(e)), 1023);
	assert_true(rs_error_fatal(e));
	rs_error_destroy(e);

	/* NULL-safe accessors and destroy. */
	rs_error_destroy(NULL);
	assert_int_equal(rs_error_code(NULL), RS_OK);
	assert_false(rs_error_retriable(NULL));
	assert_int_equal(rs_error_retry_after_ms(NULL), -1);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_and_messages),
		cmocka_unit_test(test_ranges),
		cmocka_unit_test(test_error_object),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
