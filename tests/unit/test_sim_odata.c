/*
 * test_sim_odata.c - the Graph simulator's query parsers (sim_odata.c) and
 * the $batch request validator (sim_graph_batch.c), graph.md §3 and §4.
 */
#include "rs/rs_base.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "sim_graph_int.h"
#include "sim_odata.h"

static const char *const props[] = {"id", "mail", "userPrincipalName",
				    NULL};

static rs_err_t parse(sim_odata_filter_t *f, const char *s,
		      sim_odata_err_t *err) {
	sim_odata_filter_init(f);
	return sim_odata_filter_parse(f, s, strlen(s), SIM_ODATA_OR_MAX,
				      "User", props, err);
}

static void test_eq(void **state) {
	sim_odata_filter_t f;
	sim_odata_err_t err;

	(void)state;
	assert_int_equal(parse(&f, "mail eq 'a@b.com'", &err), RS_OK);
	assert_int_equal(f.n, 1);
	assert_string_equal(f.terms[0].prop, "mail");
	assert_string_equal(f.terms[0].value, "a@b.com");
	sim_odata_filter_cleanup(&f);

	/* Property names are matched case-insensitively, canonicalised. */
	assert_int_equal(parse(&f, "  USERPRINCIPALNAME eq 'X@Y'  ", &err),
			 RS_OK);
	assert_string_equal(f.terms[0].prop, "userPrincipalName");
	sim_odata_filter_cleanup(&f);
}

/* graph.md §3: a quote inside a literal is doubled. */
static void test_escaping(void **state) {
	sim_odata_filter_t f;
	sim_odata_err_t err;

	(void)state;
	assert_int_equal(parse(&f, "mail eq 'o''brien@x.com'", &err), RS_OK);
	assert_string_equal(f.terms[0].value, "o'brien@x.com");
	sim_odata_filter_cleanup(&f);
	assert_int_equal(parse(&f, "mail eq ''''", &err), RS_OK);
	assert_string_equal(f.terms[0].value, "'");
	sim_odata_filter_cleanup(&f);
	/* An unescaped quote ends the literal: the rest is a syntax error. */
	assert_int_equal(parse(&f, "mail eq 'o'brien'", &err), RS_ERR_PARSE);
	assert_int_equal(err.status, 400);
	assert_string_equal(err.code, "BadRequest");
	assert_int_equal(parse(&f, "mail eq 'open", &err), RS_ERR_PARSE);
}

static void test_in_and_or(void **state) {
	sim_odata_filter_t f;
	sim_odata_err_t err;

	(void)state;
	assert_int_equal(parse(&f, "userPrincipalName in ('a@x','b@x', 'c@x')",
			       &err),
			 RS_OK);
	assert_int_equal(f.n, 3);
	assert_string_equal(f.terms[2].value, "c@x");
	sim_odata_filter_cleanup(&f);
	assert_int_equal(parse(&f, "(mail eq 'a') or (id eq 'b')", &err),
			 RS_OK);
	assert_int_equal(f.n, 2);
	assert_string_equal(f.terms[1].prop, "id");
	sim_odata_filter_cleanup(&f);
}

/* graph.md §3: at most 15 child clauses; the error names the count. */
static void test_in_limit(void **state) {
	char buf[1024];
	size_t o;
	sim_odata_filter_t f;
	sim_odata_err_t err;
	int i;

	(void)state;
	o = (size_t)snprintf(buf, sizeof(buf), "mail in (");
	for (i = 0; i < 15; i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s'u%d@x'",
				      i ? "," : "", i);
	snprintf(buf + o, sizeof(buf) - o, ")");
	assert_int_equal(parse(&f, buf, &err), RS_OK);
	assert_int_equal(f.n, 15);
	sim_odata_filter_cleanup(&f);

	o = (size_t)snprintf(buf, sizeof(buf), "mail in (");
	for (i = 0; i < 16; i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s'u%d@x'",
				      i ? "," : "", i);
	snprintf(buf + o, sizeof(buf) - o, ")");
	assert_int_equal(parse(&f, buf, &err), RS_ERR_TOO_LARGE);
	assert_int_equal(err.status, 400);
	assert_string_equal(err.code, "Request_UnsupportedQuery");
	assert_non_null(strstr(err.message, "'OR' operators: 16. Max "
					    "allowed: 15."));
	assert_int_equal(f.n, 0);
}

static void test_unsupported(void **state) {
	sim_odata_filter_t f;
	sim_odata_err_t err;

	(void)state;
	assert_int_equal(parse(&f, "department eq 'x'", &err),
			 RS_ERR_UNSUPPORTED);
	assert_string_equal(err.code, "Request_UnsupportedQuery");
	assert_non_null(strstr(err.message, "property 'department' of "
					    "resource 'User'"));
	assert_int_equal(parse(&f, "mail ne 'x'", &err), RS_ERR_UNSUPPORTED);
	assert_int_equal(parse(&f, "startswith(mail,'a')", &err),
			 RS_ERR_UNSUPPORTED);
	assert_int_equal(parse(&f, "mail eq 'a' and id eq 'b'", &err),
			 RS_ERR_UNSUPPORTED);
	assert_int_equal(parse(&f, "", &err), RS_ERR_PARSE);
	assert_int_equal(parse(&f, "mail eq", &err), RS_ERR_PARSE);
	assert_int_equal(parse(&f, "mail EQ 'a'", &err), RS_ERR_PARSE);
	assert_int_equal(parse(&f, "((((((((((mail eq 'a'))))))))))", &err),
			 RS_ERR_PARSE);
}

static void test_select_top(void **state) {
	static const char *const known[] = {"id", "displayName", "mail",
					    NULL};
	sim_odata_select_t sel;
	sim_odata_err_t err;
	int top;

	(void)state;
	assert_int_equal(sim_odata_select_parse(&sel, "displayname, id",
						"microsoft.graph.user", known,
						&err),
			 RS_OK);
	assert_int_equal(sel.n, 2);
	assert_true(sim_odata_select_has(&sel, "displayName"));
	assert_false(sim_odata_select_has(&sel, "mail"));
	assert_int_equal(sim_odata_select_parse(&sel, "bogus",
						"microsoft.graph.user", known,
						&err),
			 RS_ERR_UNSUPPORTED);
	assert_non_null(strstr(err.message, "'bogus'"));
	assert_int_equal(sim_odata_select_parse(&sel, "id,",
						"microsoft.graph.user", known,
						&err),
			 RS_ERR_PARSE);

	assert_int_equal(sim_odata_top_parse(NULL, 100, 999, &top, &err),
			 RS_OK);
	assert_int_equal(top, 100);
	assert_int_equal(sim_odata_top_parse("999", 100, 999, &top, &err),
			 RS_OK);
	assert_int_equal(top, 999);
	assert_int_equal(sim_odata_top_parse("1000", 100, 999, &top, &err),
			 RS_ERR_INVALID_ARG);
	assert_int_equal(err.status, 400);
	assert_int_equal(sim_odata_top_parse("0", 100, 999, &top, &err),
			 RS_ERR_INVALID_ARG);
	assert_int_equal(sim_odata_top_parse("5x", 100, 999, &top, &err),
			 RS_ERR_INVALID_ARG);
}

static void test_tokens(void **state) {
	char *t = sim_odata_token_encode("users", "12:abc");
	char *d;

	(void)state;
	d = sim_odata_token_decode("users", t);
	assert_string_equal(d, "12:abc");
	rs_free(d);
	/* A token of one kind never passes as another. */
	assert_null(sim_odata_token_decode("members", t));
	assert_null(sim_odata_token_decode("users", "zz"));
	assert_null(sim_odata_token_decode("users", "7573657273"));
	rs_free(t);
	t = sim_odata_qs_escape("mail eq 'a&b'");
	assert_string_equal(t, "mail%20eq%20'a%26b'");
	rs_free(t);
}

static rs_err_t bparse(sim_batch_t *b, const char *s, sim_odata_err_t *err) {
	return sim_graph_batch_parse(b, s, strlen(s), err);
}

static void test_batch(void **state) {
	sim_batch_t b;
	sim_odata_err_t err;
	char big[8192];
	size_t o;
	int i;

	(void)state;
	assert_int_equal(
		bparse(&b,
		       "{\"requests\":[{\"id\":\"2\",\"method\":\"GET\",\"url\":"
		       "\"/users/x\",\"dependsOn\":[\"1\"]},{\"id\":\"1\","
		       "\"method\":\"post\",\"url\":\"groups/g/members/$ref\","
		       "\"headers\":{\"Content-Type\":\"application/json\"},"
		       "\"body\":{\"@odata.id\":\"u\"}}]}",
		       &err),
		RS_OK);
	assert_int_equal(b.n, 2);
	/* Dependencies run first. */
	assert_int_equal(b.order[0], 1);
	assert_int_equal(b.order[1], 0);
	assert_string_equal(b.items[1].method, "POST");
	assert_string_equal(b.items[1].url, "/groups/g/members/$ref");
	assert_string_equal(b.items[1].body, "{\"@odata.id\":\"u\"}");
	sim_graph_batch_cleanup(&b);

	/* graph.md §4: Content-Type is required with a body. */
	assert_int_not_equal(
		bparse(&b,
		       "{\"requests\":[{\"id\":\"1\",\"method\":\"POST\",\"url\":"
		       "\"/x\",\"body\":{}}]}",
		       &err),
		RS_OK);
	assert_non_null(strstr(err.message, "Content-Type"));
	/* Duplicate ids, unknown dependency, cycles, absolute URLs. */
	assert_int_not_equal(
		bparse(&b,
		       "{\"requests\":[{\"id\":\"1\",\"method\":\"GET\",\"url\":"
		       "\"/x\"},{\"id\":\"1\",\"method\":\"GET\",\"url\":\"/y\"}"
		       "]}",
		       &err),
		RS_OK);
	assert_int_not_equal(
		bparse(&b,
		       "{\"requests\":[{\"id\":\"1\",\"method\":\"GET\",\"url\":"
		       "\"/x\",\"dependsOn\":[\"9\"]}]}",
		       &err),
		RS_OK);
	assert_int_not_equal(
		bparse(&b,
		       "{\"requests\":[{\"id\":\"1\",\"method\":\"GET\",\"url\":"
		       "\"/x\",\"dependsOn\":[\"2\"]},{\"id\":\"2\",\"method\":"
		       "\"GET\",\"url\":\"/y\",\"dependsOn\":[\"1\"]}]}",
		       &err),
		RS_OK);
	assert_int_not_equal(
		bparse(&b,
		       "{\"requests\":[{\"id\":\"1\",\"method\":\"GET\",\"url\":"
		       "\"https://graph.microsoft.com/v1.0/users\"}]}",
		       &err),
		RS_OK);
	assert_int_not_equal(bparse(&b, "{\"requests\":[]}", &err), RS_OK);
	assert_int_not_equal(bparse(&b, "not json", &err), RS_OK);
	assert_int_equal(err.status, 400);

	/* graph.md §4: more than 20 requests -> 400. */
	o = (size_t)snprintf(big, sizeof(big), "{\"requests\":[");
	for (i = 0; i < 21; i++)
		o += (size_t)snprintf(big + o, sizeof(big) - o,
				      "%s{\"id\":\"%d\",\"method\":\"GET\","
				      "\"url\":\"/users\"}",
				      i ? "," : "", i);
	snprintf(big + o, sizeof(big) - o, "]}");
	assert_int_equal(bparse(&b, big, &err), RS_ERR_TOO_LARGE);
	assert_int_equal(err.status, 400);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_eq),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_in_and_or),
		cmocka_unit_test(test_in_limit),
		cmocka_unit_test(test_unsupported),
		cmocka_unit_test(test_select_top),
		cmocka_unit_test(test_tokens),
		cmocka_unit_test(test_batch),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
