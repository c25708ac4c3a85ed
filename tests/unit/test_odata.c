/*
 * test_odata.c - OData literal quoting, filter building, GUID validation
 * and path-segment escaping (Guarantee 8).
 */
#include "rs/rs_base.h"
#include "rs/rs_odata.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

static void test_quote(void **state) {
	char buf[128];
	size_t len = 0;

	(void)state;
	/* Inner quote doubled, then every reserved byte percent-encoded. */
	assert_int_equal(rs_odata_quote("O'Brien", buf, sizeof(buf), &len),
			 RS_OK);
	assert_string_equal(buf, "%27O%27%27Brien%27");
	assert_int_equal(len, strlen(buf));
	assert_int_equal(rs_odata_quote("a'b'c", buf, sizeof(buf), NULL),
			 RS_OK);
	assert_string_equal(buf, "%27a%27%27b%27%27c%27");
	/* An attempt to close the literal and inject "or" stays inside. */
	assert_int_equal(rs_odata_quote("x' or 1 eq 1 or mail eq '", buf,
					sizeof(buf), NULL),
			 RS_OK);
	assert_string_equal(buf, "%27x%27%27%20or%201%20eq%201%20or%20mail%20"
				 "eq%20%27%27%27");
	/* Query structure characters are encoded. */
	assert_int_equal(rs_odata_quote("a&b=c+d#e", buf, sizeof(buf), NULL),
			 RS_OK);
	assert_string_equal(buf, "%27a%26b%3Dc%2Bd%23e%27");
	assert_int_equal(rs_odata_quote("", buf, sizeof(buf), NULL), RS_OK);
	assert_string_equal(buf, "%27%27");
	/* UTF-8 is encoded byte-wise. */
	assert_int_equal(rs_odata_quote("\xc3\xa9", buf, sizeof(buf), NULL),
			 RS_OK);
	assert_string_equal(buf, "%27%C3%A9%27");
	/* Control characters are refused, not escaped. */
	assert_int_equal(rs_odata_quote("a\nb", buf, sizeof(buf), NULL),
			 RS_ERR_INVALID_ARG);
	assert_int_equal(rs_odata_quote(NULL, buf, sizeof(buf), NULL),
			 RS_ERR_INVALID_ARG);
}

static void test_quote_overflow(void **state) {
	char buf[16];

	(void)state;
	/* "%27abcd%27" is 10 chars + NUL: fits in 11, not in 10. */
	assert_int_equal(rs_odata_quote("abcd", buf, 11, NULL), RS_OK);
	assert_int_equal(rs_odata_quote("abcd", buf, 10, NULL),
			 RS_ERR_TOO_LARGE);
	assert_string_equal(buf, "");
	assert_int_equal(rs_odata_quote("abcd", buf, 0, NULL),
			 RS_ERR_TOO_LARGE);
}

static void test_filter_eq(void **state) {
	char buf[256];

	(void)state;
	assert_int_equal(rs_odata_filter_eq("mail", "a.o'b@x.com", buf,
					    sizeof(buf)),
			 RS_OK);
	assert_string_equal(buf,
			    "$filter=mail%20eq%20%27a.o%27%27b%40x.com%27");
	assert_int_equal(rs_odata_filter_eq("mail eq 'x' or id", "a", buf,
					    sizeof(buf)),
			 RS_ERR_INVALID_ARG);
	assert_int_equal(rs_odata_filter_eq("", "a", buf, sizeof(buf)),
			 RS_ERR_INVALID_ARG);
	assert_int_equal(rs_odata_filter_eq("mail", "a@x.com", buf, 20),
			 RS_ERR_TOO_LARGE);
}

static void test_filter_in(void **state) {
	const char *v[16];
	char vals[16][32];
	char buf[2048], want[2048];
	size_t i, o;

	(void)state;
	for (i = 0; i < 16; i++) {
		snprintf(vals[i], sizeof(vals[i]), "u%zu'x@y.com", i);
		v[i] = vals[i];
	}
	assert_int_equal(rs_odata_filter_in("userPrincipalName", v, 15, buf,
					    sizeof(buf)),
			 RS_OK);
	o = (size_t)snprintf(want, sizeof(want),
			     "$filter=userPrincipalName%%20in%%20(");
	for (i = 0; i < 15; i++)
		o += (size_t)snprintf(want + o, sizeof(want) - o,
				      "%s%%27u%zu%%27%%27x%%40y.com%%27",
				      i ? "%2C" : "", i);
	snprintf(want + o, sizeof(want) - o, ")");
	assert_string_equal(buf, want);
	/* Graph's limit is 15 values: 16 is refused. */
	assert_int_equal(rs_odata_filter_in("userPrincipalName", v, 16, buf,
					    sizeof(buf)),
			 RS_ERR_INVALID_ARG);
	assert_int_equal(rs_odata_filter_in("mail", v, 0, buf, sizeof(buf)),
			 RS_ERR_INVALID_ARG);
	assert_int_equal(rs_odata_filter_in("mail", v, 15, buf, 100),
			 RS_ERR_TOO_LARGE);
	assert_string_equal(buf, "");
}

static void test_guid(void **state) {
	(void)state;
	assert_true(rs_guid_valid("4828c8ec-dc2e-4779-b502-87ac9ce28ab7"));
	assert_true(rs_guid_valid("E43B5B99-8DFB-405F-9987-DC307F34BCBD"));
	assert_false(rs_guid_valid("{4828c8ec-dc2e-4779-b502-87ac9ce28ab7}"));
	assert_false(rs_guid_valid("4828c8ec-dc2e-4779-b502-87ac9ce28ab"));
	assert_false(rs_guid_valid("4828c8ec-dc2e-4779-b502-87ac9ce28ab77"));
	assert_false(rs_guid_valid("4828c8ecxdc2e-4779-b502-87ac9ce28ab7"));
	assert_false(rs_guid_valid("4828c8ec-dc2e-4779-b502-87ac9ce28ag7"));
	assert_false(rs_guid_valid("4828c8ec-dc2e-4779-b502-87ac9ce28a/7"));
	assert_false(rs_guid_valid(" 4828c8ec-dc2e-4779-b502-87ac9ce28ab7"));
	assert_false(rs_guid_valid(""));
	assert_false(rs_guid_valid(NULL));
}

static void test_path_segment(void **state) {
	char buf[256];

	(void)state;
	/* Guest UPN: '#' must become %23 or it starts a fragment. */
	assert_int_equal(rs_url_path_segment_escape(
				 "ann_contoso.com#EXT#@fabrikam.onmicrosoft.com",
				 buf, sizeof(buf)),
			 RS_OK);
	assert_string_equal(buf,
			    "ann_contoso.com%23EXT%23@fabrikam.onmicrosoft.com");
	assert_int_equal(rs_url_path_segment_escape("o'neil@x.com", buf,
						    sizeof(buf)),
			 RS_OK);
	assert_string_equal(buf, "o%27neil@x.com");
	/* Traversal and separators cannot escape the segment. */
	assert_int_equal(rs_url_path_segment_escape("../../admin", buf,
						    sizeof(buf)),
			 RS_OK);
	assert_string_equal(buf, "..%2F..%2Fadmin");
	assert_int_equal(rs_url_path_segment_escape("a?b=1&c%20", buf,
						    sizeof(buf)),
			 RS_OK);
	assert_string_equal(buf, "a%3Fb%3D1%26c%2520");
	assert_int_equal(rs_url_path_segment_escape("..", buf, sizeof(buf)),
			 RS_ERR_INVALID_ARG);
	assert_int_equal(rs_url_path_segment_escape("", buf, sizeof(buf)),
			 RS_ERR_INVALID_ARG);
	assert_int_equal(rs_url_path_segment_escape("a\rb", buf, sizeof(buf)),
			 RS_ERR_INVALID_ARG);
	assert_int_equal(rs_url_path_segment_escape("a#b", buf, 5),
			 RS_ERR_TOO_LARGE);

	assert_true(rs_url_path_segment_valid("abc-123_x.y~z"));
	assert_false(rs_url_path_segment_valid("a/b"));
	assert_false(rs_url_path_segment_valid("a#b"));
	assert_false(rs_url_path_segment_valid(".."));
	assert_false(rs_url_path_segment_valid(""));
}

static void test_key_segment(void **state) {
	char buf[256];

	(void)state;
	assert_int_equal(rs_odata_key_segment(
				 "4828c8ec-dc2e-4779-b502-87ac9ce28ab7", buf,
				 sizeof(buf)),
			 RS_OK);
	assert_string_equal(buf, "/4828c8ec-dc2e-4779-b502-87ac9ce28ab7");
	assert_int_equal(rs_odata_key_segment("a#EXT#@x.com", buf,
					      sizeof(buf)),
			 RS_OK);
	assert_string_equal(buf, "/a%23EXT%23@x.com");
	/* '$'-prefixed UPN uses the key form with a quoted literal. */
	assert_int_equal(rs_odata_key_segment("$o'k@y.com", buf, sizeof(buf)),
			 RS_OK);
	assert_string_equal(buf, "(%27%24o%27%27k%40y.com%27)");
	assert_int_equal(rs_odata_key_segment("$x@y.com", buf, 8),
			 RS_ERR_TOO_LARGE);
}

static void test_property(void **state) {
	(void)state;
	assert_true(rs_odata_property_valid("mail"));
	assert_true(rs_odata_property_valid("assignedPlans/servicePlanId"));
	assert_false(rs_odata_property_valid("1mail"));
	assert_false(rs_odata_property_valid("mail/"));
	assert_false(rs_odata_property_valid("/mail"));
	assert_false(rs_odata_property_valid("mail%20eq"));
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quote),
		cmocka_unit_test(test_quote_overflow),
		cmocka_unit_test(test_filter_eq),
		cmocka_unit_test(test_filter_in),
		cmocka_unit_test(test_guid),
		cmocka_unit_test(test_path_segment),
		cmocka_unit_test(test_key_segment),
		cmocka_unit_test(test_property),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
