/*
 * test_graph.c - the pure parts of the Graph client (rs_graph_int.h):
 * members/users pages with @odata.nextLink, the nextLink check, $batch
 * responses with mixed item outcomes, the duplicate-add test, chunking,
 * request bodies and the id validation that runs before any request.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "rs/rs_base.h"
#include "rs/rs_graph.h"
#include "rs_graph_int.h"

#include <cjson/cJSON.h>

#define BASE "https://graph.microsoft.com/v1.0"
#define G1 "11111111-1111-1111-1111-111111111111"
#define U1 "aaaaaaaa-0000-0000-0000-000000000001"
#define U2 "aaaaaaaa-0000-0000-0000-000000000002"
#define U3 "AAAAAAAA-0000-0000-0000-000000000003"

static const char members_page[] =
	"{\"@odata.context\":\"" BASE "/$metadata#directoryObjects\","
	"\"@odata.nextLink\":\"" BASE "/groups/" G1
	"/members?$select=id,mail&$top=999&$skiptoken=RFNwdAIAAQAAAA\","
	"\"value\":["
	"{\"@odata.type\":\"#microsoft.graph.user\",\"id\":\"" U1 "\","
	"\"mail\":\"Ann@Contoso.com\",\"userPrincipalName\":\"ann@contoso.com\"},"
	"{\"@odata.type\":\"#microsoft.graph.group\",\"id\":\"" U2 "\","
	"\"mail\":null},"
	"{\"@odata.type\":\"#microsoft.graph.user\",\"id\":\"" U3 "\","
	"\"userPrincipalName\":\"bob_x.com#EXT#@contoso.onmicrosoft.com\"}]}";

static void test_page_members_next_link(void **state) {
	rs_graph_members_t m;
	char *next = NULL;

	(void)state;
	rs_graph_members_init(&m);
	assert_int_equal(rs_graph_page_parse(members_page, strlen(members_page),
					     100, &m, &next),
			 RS_OK);
	assert_int_equal(m.cnt, 3);
	assert_string_equal(m.items[0].id, U1);
	assert_string_equal(m.items[0].type, "user");
	assert_string_equal(m.items[0].mail, "Ann@Contoso.com");
	assert_string_equal(m.items[0].upn, "ann@contoso.com");
	assert_string_equal(m.items[1].type, "group");
	assert_null(m.items[1].mail); /* JSON null is "no mail" */
	assert_null(m.items[2].mail);
	assert_non_null(next);
	assert_true(strstr(next, "$skiptoken=RFNwdAIAAQAAAA") != NULL);
	assert_true(rs_graph_next_link_valid(BASE, next));
	rs_free(next);

	/* A second page appends; the last page has no link. */
	{
		const char last[] = "{\"value\":[{\"id\":\"" U2 "\"}]}";
		assert_int_equal(rs_graph_page_parse(last, strlen(last), 100,
						     &m, &next),
				 RS_OK);
		assert_int_equal(m.cnt, 4);
		assert_null(next);
		assert_string_equal(m.items[3].type, "");
	}
	rs_graph_members_cleanup(&m);
	assert_int_equal(m.cnt, 0);
}

/* A users $filter answer (graph.md 3): same item shape as members. */
static void test_page_users_filter(void **state) {
	const char js[] =
		"{\"@odata.context\":\"" BASE "/$metadata#users(id,mail,"
		"userPrincipalName)\",\"value\":["
		"{\"id\":\"" U1 "\",\"mail\":\"a@x.com\","
		"\"userPrincipalName\":\"a@x.com\"},"
		"{\"id\":\"" U2 "\",\"mail\":null,"
		"\"userPrincipalName\":\"B@X.com\"}]}";
	const char empty[] = "{\"value\":[]}";
	rs_graph_members_t m;
	char *next = (char *)1;

	(void)state;
	rs_graph_members_init(&m);
	assert_int_equal(rs_graph_page_parse(js, strlen(js), 15, &m, &next),
			 RS_OK);
	assert_null(next);
	assert_int_equal(m.cnt, 2);
	assert_string_equal(m.items[1].upn, "B@X.com");
	assert_int_equal(rs_graph_page_parse(empty, strlen(empty), 15, &m,
					     &next),
			 RS_OK);
	assert_int_equal(m.cnt, 2);
	rs_graph_members_cleanup(&m);
}

static void test_page_rejects(void **state) {
	static const char *const bad[] = {
		"",
		"[]",
		"{\"value\":{}}",
		"{\"nothing\":[]}",
		"{\"value\":[{\"mail\":\"no id\"}]}",
		/* an id later goes into a URL: must be a GUID */
		"{\"value\":[{\"id\":\"../../users\"}]}",
		"{\"value\":[{\"id\":7}]}",
		"{\"value\":[],\"@odata.nextLink\":42}",
		"{\"value\":[{\"id\":\"" U1 "\"}",
	};
	rs_graph_members_t m;
	char *next = NULL;
	size_t i;

	(void)state;
	rs_graph_members_init(&m);
	for (i = 0; i < RS_ARRAY_SIZE(bad); i++) {
		assert_int_equal(rs_graph_page_parse(bad[i], strlen(bad[i]),
						     100, &m, &next),
				 RS_ERR_BAD_RESPONSE);
		assert_null(next);
		assert_int_equal(m.cnt, 0); /* nothing taken from a bad page */
	}
	/* Bound: 3 items with room for 2. */
	assert_int_equal(rs_graph_page_parse(members_page, strlen(members_page),
					     2, &m, &next),
			 RS_ERR_TOO_LARGE);
	assert_int_equal(m.cnt, 0);
	rs_graph_members_cleanup(&m);
}

static void test_next_link_valid(void **state) {
	char longlink[RS_GRAPH_MAX_LINK + 64];

	(void)state;
	assert_true(rs_graph_next_link_valid(
		BASE, BASE "/groups/x/members?$skiptoken=abc"));
	assert_true(rs_graph_next_link_valid(BASE "/", BASE "/users?$a=1"));
	assert_true(rs_graph_next_link_valid("http://127.0.0.1:4000/graph/v1.0",
					     "http://127.0.0.1:4000/graph/v1.0"
					     "/users?$skiptoken=1"));
	/* Another host, scheme, or a prefix that is not a path boundary. */
	assert_false(rs_graph_next_link_valid(
		BASE, "https://evil.example/v1.0/users?$skiptoken=1"));
	assert_false(rs_graph_next_link_valid(
		BASE, "http://graph.microsoft.com/v1.0/users"));
	assert_false(rs_graph_next_link_valid(
		BASE, "https://graph.microsoft.com/v1.0.evil.com/users"));
	assert_false(rs_graph_next_link_valid(
		BASE, "https://graph.microsoft.com/v1.0@evil.com/users"));
	assert_false(rs_graph_next_link_valid(
		BASE, "https://graph.microsoft.com/beta/users"));
	/* Dot segments, whitespace, fragments, backslashes. */
	assert_false(rs_graph_next_link_valid(BASE, BASE "/../beta/users"));
	assert_false(rs_graph_next_link_valid(BASE, BASE "/users/.."));
	assert_false(rs_graph_next_link_valid(BASE, BASE "/%2e%2e/x"));
	assert_false(rs_graph_next_link_valid(BASE, BASE "/users?a=1 b"));
	assert_false(rs_graph_next_link_valid(BASE, BASE "/users\r\nX: y"));
	assert_false(rs_graph_next_link_valid(BASE, BASE "/users#frag"));
	assert_false(rs_graph_next_link_valid(BASE, BASE "\\users"));
	assert_false(rs_graph_next_link_valid(BASE, NULL));
	assert_false(rs_graph_next_link_valid(BASE, ""));
	memset(longlink, 'a', sizeof(longlink) - 1);
	longlink[sizeof(longlink) - 1] = '\0';
	memcpy(longlink, BASE "/", strlen(BASE "/"));
	assert_false(rs_graph_next_link_valid(BASE, longlink));
}

/* graph.md 4: mixed item outcomes, unordered, header case not normalised. */
static const char batch_mixed[] =
	"{\"responses\":["
	"{\"id\":\"2\",\"status\":429,\"headers\":{\"retry-after\":\"7\","
	"\"Content-Type\":\"application/json\"},\"body\":{\"error\":{"
	"\"code\":\"TooManyRequests\",\"message\":\"Please retry again "
	"later.\",\"innerError\":{\"code\":\"429\"}}}},"
	"{\"id\":\"0\",\"status\":204,\"headers\":{},\"body\":null},"
	"{\"id\":\"1\",\"status\":404,\"body\":{\"error\":{\"code\":"
	"\"Request_ResourceNotFound\",\"message\":\"Resource '" U2
	"' does not exist or one of its queried reference-property objects "
	"are not present.\"}}},"
	"{\"id\":\"3\",\"status\":429,\"headers\":{\"Retry-After\":2.5}},"
	"{\"id\":\"4\",\"status\":200,\"body\":{\"value\":[{\"id\":\"" U1
	"\",\"mail\":\"a@x.com\"}]}}"
	"]}";

static void test_batch_parse_mixed(void **state) {
	rs_graph_bitem_t it[6];
	size_t i;

	(void)state;
	memset(it, 0, sizeof(it));
	assert_int_equal(rs_graph_batch_parse(batch_mixed, strlen(batch_mixed),
					      it, 6, 0),
			 RS_OK);
	assert_int_equal(it[0].status, 204);
	assert_null(it[0].body);
	assert_int_equal(it[0].retry_after_ms, -1);
	assert_int_equal(it[1].status, 404);
	assert_string_equal(it[1].code, "Request_ResourceNotFound");
	assert_true(strstr(it[1].message, U2) != NULL);
	assert_int_equal(it[2].status, 429);
	assert_int_equal(it[2].retry_after_ms, 7000);
	assert_string_equal(it[2].code, "TooManyRequests");
	assert_int_equal(it[3].status, 429);
	assert_int_equal(it[3].retry_after_ms, 2500); /* number, fractional */
	assert_int_equal(it[4].status, 200);
	assert_non_null(it[4].body);
	assert_true(strstr(it[4].body, "a@x.com") != NULL);
	assert_int_equal(it[5].status, 0); /* no answer for id 5 */

	/* A 429 item becomes a retriable error with ITS Retry-After. */
	{
		struct rs_graph_s g;
		rs_error_t *e;

		memset(&g, 0, sizeof(g));
		g.tenant = "t1";
		e = rs_graph_item_error(&g, &it[2], "remove member");
		assert_int_equal(rs_error_code(e), RS_ERR_HTTP_THROTTLED);
		assert_true(rs_error_retriable(e));
		assert_int_equal(rs_error_retry_after_ms(e), 7000);
		assert_int_equal(rs_error_http_status(e), 429);
		rs_error_destroy(e);
		e = rs_graph_item_error(&g, &it[1], "x");
		assert_int_equal(rs_error_code(e), RS_ERR_REMOTE_NOT_FOUND);
		assert_false(rs_error_retriable(e));
		rs_error_destroy(e);
		e = rs_graph_item_error(&g, &it[5], "x");
		assert_true(rs_error_retriable(e));
		rs_error_destroy(e);
	}
	for (i = 0; i < 6; i++)
		rs_free(it[i].body);
}

static void test_batch_parse_rejects(void **state) {
	static const char *const bad[] = {
		"",
		"{}",
		"{\"responses\":{}}",
		"{\"responses\":[{\"id\":\"9\",\"status\":204}]}",
		"{\"responses\":[{\"id\":\"0\",\"status\":204},"
		"{\"id\":\"0\",\"status\":204}]}",
		"{\"responses\":[{\"id\":\"x\",\"status\":204}]}",
		"{\"responses\":[{\"id\":\"-1\",\"status\":204}]}",
		"{\"responses\":[{\"id\":\"0\",\"status\":\"204\"}]}",
		"{\"responses\":[{\"id\":\"0\",\"status\":42}]}",
	};
	rs_graph_bitem_t it[3];
	size_t i;

	(void)state;
	for (i = 0; i < RS_ARRAY_SIZE(bad); i++) {
		memset(it, 0, sizeof(it));
		assert_int_equal(rs_graph_batch_parse(bad[i], strlen(bad[i]),
						      it, 3, 0),
				 RS_ERR_BAD_RESPONSE);
		assert_int_equal(it[0].status, 0);
	}
}

static void test_batch_body(void **state) {
	rs_graph_bitem_t it[3];
	bool pending[3] = {true, false, true};
	cJSON *root, *reqs;
	char *body;

	(void)state;
	memset(it, 0, sizeof(it));
	it[0].method = "DELETE";
	it[0].url = rs_strdup("/groups/" G1 "/members/" U1 "/$ref");
	it[1].method = "DELETE";
	it[1].url = rs_strdup("/groups/" G1 "/members/" U2 "/$ref");
	it[2].method = "GET";
	it[2].url = rs_strdup("/users?$filter=x");
	body = rs_graph_batch_body(it, pending, 3);
	root = cJSON_Parse(body);
	reqs = cJSON_GetObjectItem(root, "requests");
	assert_int_equal(cJSON_GetArraySize(reqs), 2);
	/* ids are the item indexes, so answers map back after a retry */
	assert_string_equal(
		cJSON_GetObjectItem(cJSON_GetArrayItem(reqs, 1), "id")
			->valuestring,
		"2");
	assert_string_equal(
		cJSON_GetObjectItem(cJSON_GetArrayItem(reqs, 0), "url")
			->valuestring,
		"/groups/" G1 "/members/" U1 "/$ref");
	cJSON_Delete(root);
	rs_free(body);
	rs_graph_bitems_cleanup(it, 3);
	assert_null(it[0].url);
}

static void test_already_exist(void **state) {
	(void)state;
	assert_true(rs_graph_is_already_exist(
		400, "Request_BadRequest",
		"One or more added object references already exist for the "
		"following modified properties: 'members'."));
	assert_true(rs_graph_is_already_exist(400, "", "ALREADY EXISTS"));
	assert_false(rs_graph_is_already_exist(
		404, "Request_BadRequest", "already exist"));
	assert_false(rs_graph_is_already_exist(
		400, "Request_BadRequest", "Invalid object identifier 'x'."));
	assert_false(rs_graph_is_already_exist(400, "Other", "already exist"));
	assert_false(rs_graph_is_already_exist(400, NULL, NULL));
}

static void test_chunks(void **state) {
	size_t sizes[8];

	(void)state;
	assert_int_equal(rs_graph_chunks(45, RS_GRAPH_BIND_MAX, sizes, 8), 3);
	assert_int_equal(sizes[0], 20);
	assert_int_equal(sizes[1], 20);
	assert_int_equal(sizes[2], 5);
	assert_int_equal(rs_graph_chunks(0, 20, sizes, 8), 0);
	assert_int_equal(rs_graph_chunks(20, 20, sizes, 8), 1);
	assert_int_equal(sizes[0], 20);
	assert_int_equal(rs_graph_chunks(21, 20, sizes, 8), 2);
	assert_int_equal(sizes[1], 1);
	/* 31 e-mails -> 3 filters of <= 15 */
	assert_int_equal(rs_graph_chunks(31, RS_GRAPH_IN_MAX, sizes, 8), 3);
	assert_int_equal(sizes[2], 1);
	/* more chunks than room: count is still right */
	assert_int_equal(rs_graph_chunks(1000, 20, sizes, 8), 50);
}

static void test_bind_body(void **state) {
	const char *ids[] = {U1, U2};
	char *body = rs_graph_bind_body(BASE, ids, 2);
	cJSON *root = cJSON_Parse(body), *arr;

	(void)state;
	arr = cJSON_GetObjectItem(root, "members@odata.bind");
	assert_int_equal(cJSON_GetArraySize(arr), 2);
	assert_string_equal(cJSON_GetArrayItem(arr, 1)->valuestring,
			    BASE "/directoryObjects/" U2);
	cJSON_Delete(root);
	rs_free(body);
}

/* Ids are validated before anything is sent: http/auth are NULL here, so
 * any attempt to send would crash the test. */
static void test_ids_validated_before_sending(void **state) {
	struct rs_graph_s g;
	rs_graph_call_t call;
	rs_graph_members_t m;
	const char *bad[] = {U1, "' or 1 eq 1", U2};
	const char *good[] = {U1};
	rs_error_t *e;

	(void)state;
	memset(&g, 0, sizeof(g));
	g.tenant = "t1";
	g.base_url = BASE;
	rs_graph_call_init(&call, NULL, NULL);
	e = rs_graph_members_add(&g, G1, bad, 3, &call, NULL);
	assert_int_equal(rs_error_code(e), RS_ERR_INVALID_ARG);
	assert_true(rs_error_fatal(e));
	rs_error_destroy(e);
	e = rs_graph_members_remove(&g, G1 "/../x", good, 1, &call, NULL);
	assert_int_equal(rs_error_code(e), RS_ERR_INVALID_ARG);
	rs_error_destroy(e);
	rs_graph_members_init(&m);
	e = rs_graph_members_list(&g, "groups?$expand=x", &call, &m);
	assert_int_equal(rs_error_code(e), RS_ERR_INVALID_ARG);
	rs_error_destroy(e);
	assert_int_equal(call.requests, 0);
}

static void test_resolve_find_and_new(void **state) {
	rs_graph_resolve_t res;
	rs_graph_user_t users[2];
	rs_graph_conf_t conf;
	char errstr[256];

	(void)state;
	rs_graph_resolve_init(&res);
	memset(users, 0, sizeof(users));
	users[0].key = "a@x.com";
	users[1].key = "b@x.com";
	res.users = users;
	res.user_cnt = 2;
	assert_ptr_equal(rs_graph_resolve_find(&res, "B@X.COM"), &users[1]);
	assert_null(rs_graph_resolve_find(&res, "c@x.com"));
	assert_null(rs_graph_resolve_find(&res, NULL));

	rs_graph_conf_init(&conf);
	assert_int_equal(conf.resolve_mode, RS_GRAPH_RESOLVE_BATCH);
	conf.base_url = BASE;
	assert_null(rs_graph_new(&conf, errstr, sizeof(errstr)));
	assert_true(strstr(errstr, "token provider") != NULL);
	rs_graph_destroy(NULL);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_page_members_next_link),
		cmocka_unit_test(test_page_users_filter),
		cmocka_unit_test(test_page_rejects),
		cmocka_unit_test(test_next_link_valid),
		cmocka_unit_test(test_batch_parse_mixed),
		cmocka_unit_test(test_batch_parse_rejects),
		cmocka_unit_test(test_batch_body),
		cmocka_unit_test(test_already_exist),
		cmocka_unit_test(test_chunks),
		cmocka_unit_test(test_bind_body),
		cmocka_unit_test(test_ids_validated_before_sending),
		cmocka_unit_test(test_resolve_find_and_new),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
