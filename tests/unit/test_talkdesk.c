/*
 * test_talkdesk.c - the pure parts of the Talkdesk source: HAL pages of
 * every listing we read (queues, ring groups, their users, /users with
 * total_pages, guardian's bare `_embedded` array), paging decisions,
 * error bodies, and the generic snapshot builder of rs_source.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "rs/rs_base.h"
#include "rs/rs_conf.h"
#include "rs/rs_http.h"
#include "rs/rs_source.h"
#include "rs_source_int.h"

#define BASE "https://api.talkdeskapp.com"

static void test_queues_page(void **state) {
	const char js[] =
		"{\"total\":3,\"count\":2,\"page\":1,\"per_page\":2,"
		"\"_embedded\":{\"queues\":["
		"{\"id\":\"q-1\",\"name\":\"sales\",\"description\":\"\"},"
		"{\"id\":\"q-2\",\"name\":\"support en\"}]},"
		"\"_links\":{\"self\":{\"href\":\"" BASE
		"/ccaas/queues?page=1&per_page=2\"},\"next\":{\"href\":\"" BASE
		"/ccaas/queues?page=2&per_page=2\"}}}";
	rs_td_page_t p;
	char *next = NULL;

	(void)state;
	assert_int_equal(rs_td_page_parse(js, strlen(js), "queues", 100, &p),
			 RS_OK);
	assert_int_equal(p.cnt, 2);
	assert_string_equal(p.items[1].id, "q-2");
	assert_string_equal(p.items[1].name, "support en");
	assert_int_equal(p.items[0].active, -1);
	assert_int_equal(p.page, 1);
	assert_int_equal(p.total, 3);
	assert_int_equal(p.total_pages, -1);
	assert_int_equal(rs_td_next_url(BASE, BASE "/ccaas/queues?page=1",
					&p, false, &next),
			 RS_OK);
	assert_string_equal(next, BASE "/ccaas/queues?page=2&per_page=2");
	rs_free(next);
	rs_td_page_cleanup(&p);
	assert_int_equal(p.cnt, 0);
}

/* /users: full objects, total_pages; here WITHOUT a next link, so the
 * next page is built from total_pages (sources.md 1.5). */
static void test_users_page_total_pages(void **state) {
	const char js[] =
		"{\"_embedded\":{\"users\":["
		"{\"id\":\"5b34eb0cdcba1b000bdbd320\",\"email\":\"Ann@X.com\","
		"\"name\":\"Ann\",\"active\":true,\"_links\":{\"self\":{"
		"\"href\":\"" BASE "/users/5b34eb0cdcba1b000bdbd320\"}}},"
		"{\"id\":\"5b34eb0cdcba1b000bdbd321\",\"email\":\"bob@x.com\","
		"\"active\":false}]},"
		"\"count\":2,\"total\":5,\"page\":2,\"per_page\":2,"
		"\"total_pages\":3,\"_links\":{\"self\":{\"href\":\"x\"}}}";
	rs_td_page_t p;
	char *next = NULL;

	(void)state;
	assert_int_equal(rs_td_page_parse(js, strlen(js), "users", 200, &p),
			 RS_OK);
	assert_int_equal(p.cnt, 2);
	assert_string_equal(p.items[0].email, "Ann@X.com");
	assert_int_equal(p.items[0].active, 1);
	assert_int_equal(p.items[1].active, 0);
	assert_int_equal(p.total_pages, 3);
	assert_int_equal(rs_td_next_url(BASE,
					BASE "/users?page=1&per_page=2", &p, false,
					&next),
			 RS_OK);
	assert_string_equal(next, BASE "/users?page=3&per_page=2");
	rs_free(next);
	/* Last page: no link, page == total_pages -> end. */
	p.page = 3;
	assert_int_equal(rs_td_next_url(BASE, BASE "/users?page=1", &p, false, &next),
			 RS_OK);
	assert_null(next);
	rs_td_page_cleanup(&p);
}

/* Ring groups have no id (the name is the id); their users are ids. */
static void test_ring_groups_pages(void **state) {
	const char groups[] =
		"{\"total\":10,\"page\":2,\"per_page\":2,\"count\":2,"
		"\"_embedded\":{\"ring_groups\":[{\"name\":\"sales\","
		"\"short_abandoned_threshold\":5,\"wait_time_threshold\":20},"
		"{\"name\":\"agents\"}]},\"_links\":{\"page\":{\"templated\":"
		"true,\"href\":\"" BASE "/ring-groups?page={page}\"}}}";
	const char users[] =
		"{\"total\":1,\"page\":1,\"per_page\":50,\"count\":1,"
		"\"ring_group\":\"agents\",\"_embedded\":{\"users\":[{\"id\":"
		"\"5d94b9e9a29b78447056c775\",\"_links\":{\"self\":{\"href\":"
		"\"" BASE "/users/5d94b9e9a29b78447056c775\"}}}]},"
		"\"_links\":{}}";
	rs_td_page_t p;

	(void)state;
	assert_int_equal(rs_td_page_parse(groups, strlen(groups), "ring_groups",
					  50, &p),
			 RS_OK);
	assert_int_equal(p.cnt, 2);
	assert_null(p.items[0].id);
	assert_string_equal(p.items[1].name, "agents");
	assert_null(p.next);
	rs_td_page_cleanup(&p);
	assert_int_equal(rs_td_page_parse(users, strlen(users), "users", 50, &p),
			 RS_OK);
	assert_int_equal(p.cnt, 1);
	assert_string_equal(p.items[0].id, "5d94b9e9a29b78447056c775");
	assert_null(p.items[0].email);
	rs_td_page_cleanup(&p);
}

/* Guardian: `_embedded` is a bare array; ring_groups per user. */
static void test_guardian_bare_array(void **state) {
	const char js[] =
		"{\"page\":1,\"count\":2,\"per_page\":250,\"total\":2,"
		"\"total_pages\":1,\"_embedded\":["
		"{\"id\":\"u1\",\"name\":\"Ann\",\"email\":\"ann@x.com\","
		"\"role\":\"Agent\",\"status\":\"ACTIVE\",\"presence\":"
		"\"Available\",\"ring_groups\":[\"agents\",\"sales\"],"
		"\"risk\":91.5,\"call_quality\":{\"mos\":{\"avg\":4.2}}},"
		"{\"id\":\"u2\",\"email\":\"bob@x.com\",\"status\":\"INACTIVE\","
		"\"ring_groups\":[]}],"
		"\"_links\":{\"self\":{\"href\":\"x\"}}}";
	rs_td_page_t p;

	(void)state;
	assert_int_equal(rs_td_page_parse(js, strlen(js), NULL, 250, &p),
			 RS_OK);
	assert_int_equal(p.cnt, 2);
	assert_int_equal(p.items[0].rg_cnt, 2);
	assert_string_equal(p.items[0].ring_groups[1], "sales");
	assert_int_equal(p.items[0].active, 1);
	assert_int_equal(p.items[1].active, 0);
	assert_int_equal(p.items[1].rg_cnt, 0);
	rs_td_page_cleanup(&p);
	/* The same document read as an object-style page is malformed. */
	assert_int_equal(rs_td_page_parse(js, strlen(js), "users", 250, &p),
			 RS_ERR_BAD_RESPONSE);
}

static void test_page_edge_and_rejects(void **state) {
	static const struct {
		const char *js;
		const char *key;
		rs_err_t err;
	} cases[] = {
		/* no _embedded: Talkdesk omits it for an empty list */
		{"{\"total\":0,\"count\":0,\"page\":1}", "queues", RS_OK},
		{"{\"_embedded\":{}}", "queues", RS_OK},
		{"", "queues", RS_ERR_BAD_RESPONSE},
		{"[]", "queues", RS_ERR_BAD_RESPONSE},
		{"{\"_embedded\":[]}", "queues", RS_ERR_BAD_RESPONSE},
		{"{\"_embedded\":{\"queues\":{}}}", "queues",
		 RS_ERR_BAD_RESPONSE},
		{"{\"_embedded\":{\"queues\":[1]}}", "queues",
		 RS_ERR_BAD_RESPONSE},
		{"{\"_embedded\":{\"queues\":[{\"id\":{}}]}}", "queues",
		 RS_ERR_BAD_RESPONSE},
		{"{\"_embedded\":{\"queues\":[{\"id\":1.5}]}}", "queues",
		 RS_ERR_BAD_RESPONSE},
		{"{\"_embedded\":{\"queues\":[{\"id\":42}]}}", "queues", RS_OK},
		{"{\"_embedded\":{}}", NULL, RS_ERR_BAD_RESPONSE},
		{"{\"_embedded\":[{\"ring_groups\":\"a\"}]}", NULL,
		 RS_ERR_BAD_RESPONSE},
		{"{\"_embedded\":[{\"ring_groups\":[1]}]}", NULL,
		 RS_ERR_BAD_RESPONSE},
		{"{\"_links\":{\"next\":{\"href\":7}}}", "queues",
		 RS_ERR_BAD_RESPONSE},
		{"{\"_links\":{\"next\":\"x\"}}", "queues", RS_ERR_BAD_RESPONSE},
		{"{\"_embedded\":{\"queues\":[{},{},{}]}}", "queues",
		 RS_ERR_TOO_LARGE},
	};
	rs_td_page_t p;
	size_t i;

	(void)state;
	for (i = 0; i < RS_ARRAY_SIZE(cases); i++) {
		rs_err_t err = rs_td_page_parse(cases[i].js, strlen(cases[i].js),
						cases[i].key, 2, &p);
		if (err != cases[i].err)
			fail_msg("case %zu: %s", i, rs_err_name(err));
		if (err == RS_OK)
			rs_td_page_cleanup(&p);
		else
			assert_int_equal(p.cnt, 0);
	}
}

/* Guardian pages by number from our URL: a next link that lost the
 * mandatory filter (the simulator's does) is not followed. */
static void test_next_url_by_number(void **state) {
	rs_td_page_t p;
	char *next = NULL;
	const char *first = BASE "/guardian/users?filter=active%20eq%20true"
			    "&page=1&per_page=7";

	(void)state;
	memset(&p, 0, sizeof(p));
	p.cnt = 7;
	p.page = 2;
	p.total_pages = 3;
	p.total = 20;
	p.next = BASE "/guardian/users?page=3&per_page=7";
	assert_int_equal(rs_td_next_url(BASE, first, &p, true, &next), RS_OK);
	assert_string_equal(next, BASE "/guardian/users?filter=active%20eq%20"
				  "true&page=3&per_page=7");
	rs_free(next);
	p.page = 3;
	assert_int_equal(rs_td_next_url(BASE, first, &p, true, &next), RS_OK);
	assert_null(next);
	/* an empty page ends the walk even if total_pages says more */
	p.page = 2;
	p.cnt = 0;
	assert_int_equal(rs_td_next_url(BASE, first, &p, true, &next), RS_OK);
	assert_null(next);
}

static void test_next_url_foreign(void **state) {
	rs_td_page_t p;
	char *next = NULL;

	(void)state;
	memset(&p, 0, sizeof(p));
	p.page = p.total_pages = p.total = -1;
	p.next = "https://evil.example/ccaas/queues?page=2";
	assert_int_equal(rs_td_next_url(BASE, BASE "/ccaas/queues?page=1", &p, false,
					&next),
			 RS_ERR_BAD_RESPONSE);
	assert_null(next);
	p.next = BASE ".evil.example/x";
	assert_int_equal(rs_td_next_url(BASE, BASE "/x?page=1", &p, false, &next),
			 RS_ERR_BAD_RESPONSE);
	/* no link, no total_pages: the end */
	p.next = NULL;
	p.page = 1;
	assert_int_equal(rs_td_next_url(BASE, BASE "/x?page=1", &p, false, &next),
			 RS_OK);
	assert_null(next);
}

/* Talkdesk error bodies (sources.md 1.3, 1.9) as the client sees them. */
static void test_error_bodies(void **state) {
	const char shed[] =
		"{\"code\":\"0020017\",\"message\":\"Load Shedding is enabled\","
		"\"fields\":[{\"name\":\"retry-after\",\"description\":\"3\"}]}";
	const char rate[] = "{\"code\":\"0012001\",\"message\":\"API rate "
			    "limit exceeded\"}";
	const char nf[] = "{\"code\":\"0300007\",\"message\":\"Ring Group not "
			  "found\"}";
	rs_http_api_error_t ae;
	rs_error_t *e;

	(void)state;
	assert_true(rs_http_api_error_parse(shed, strlen(shed), &ae));
	assert_string_equal(ae.code, "0020017");
	assert_int_equal(ae.retry_after_ms, 3000);
	e = rs_http_classify(503, shed, strlen(shed), NULL, 0, NULL);
	assert_true(rs_error_retriable(e));
	assert_int_equal(rs_error_retry_after_ms(e), 3000);
	rs_error_destroy(e);
	e = rs_http_classify(429, rate, strlen(rate), "2", 0, NULL);
	assert_int_equal(rs_error_code(e), RS_ERR_HTTP_THROTTLED);
	assert_int_equal(rs_error_retry_after_ms(e), 2000);
	rs_error_destroy(e);
	assert_true(rs_http_api_error_parse(nf, strlen(nf), &ae));
	assert_string_equal(ae.code, "0300007");
}

static void test_snapshot_builder(void **state) {
	rs_source_snapshot_t snap;
	rs_source_group_t *a, *b;
	const rs_source_group_t *f;

	(void)state;
	rs_source_snapshot_init(&snap);
	b = rs_source_snapshot_add(&snap, "q2", "Support", 10);
	assert_int_equal(rs_source_group_add_email(b, "Zed@X.com", 10), RS_OK);
	a = rs_source_snapshot_add(&snap, "q1", "agents", 10);
	assert_int_equal(rs_source_group_add_email(a, "b@x.com", 10), RS_OK);
	assert_int_equal(rs_source_group_add_email(a, "A@x.com", 10), RS_OK);
	assert_int_equal(rs_source_group_add_email(a, "a@X.COM", 10), RS_OK);
	assert_int_equal(rs_source_group_add_email(a, "", 10),
			 RS_ERR_INVALID_ARG);
	assert_int_equal(rs_source_group_add_email(a, "no-at", 10),
			 RS_ERR_INVALID_ARG);
	assert_int_equal(rs_source_group_add_email(a, "x\n@y", 10),
			 RS_ERR_INVALID_ARG);
	assert_int_equal(rs_source_group_add_email(a, NULL, 10),
			 RS_ERR_INVALID_ARG);
	assert_int_equal(a->unknown_cnt, 4);
	assert_int_equal(rs_source_group_add_email(a, "c@x.com", 3),
			 RS_ERR_TOO_LARGE);
	assert_null(rs_source_snapshot_add(&snap, "q3", "x", 2));
	rs_source_snapshot_finish(&snap);
	/* sorted by name without case, e-mails lower-case, unique, sorted */
	assert_string_equal(snap.groups[0].name, "agents");
	assert_int_equal(snap.groups[0].email_cnt, 2);
	assert_string_equal(snap.groups[0].emails[0], "a@x.com");
	assert_string_equal(snap.groups[0].emails[1], "b@x.com");
	f = rs_source_snapshot_find(&snap, "SUPPORT");
	assert_non_null(f);
	assert_string_equal(f->emails[0], "zed@x.com");
	assert_null(rs_source_snapshot_find(&snap, "nope"));
	rs_source_snapshot_cleanup(&snap);
	assert_int_equal(snap.group_cnt, 0);
}

static void test_source_new_checks(void **state) {
	rs_source_conf_t conf;
	char errstr[256];

	(void)state;
	rs_source_conf_init(&conf);
	assert_string_equal(conf.backend, "talkdesk");
	conf.base_url = BASE;
	assert_null(rs_source_new(&conf, errstr, sizeof(errstr)));
	assert_true(strstr(errstr, "token provider") != NULL);
	conf.auth = (rs_auth_t *)(uintptr_t)1; /* never used by _new */
	conf.backend = "genesys";
	assert_null(rs_source_new(&conf, errstr, sizeof(errstr)));
	assert_true(strstr(errstr, "genesys") != NULL);
	conf.backend = "talkdesk";
	conf.mode = 7;
	assert_null(rs_source_new(&conf, errstr, sizeof(errstr)));
	conf.mode = RS_SOURCE_TD_GUARDIAN;
	conf.base_url = "ftp://x";
	assert_null(rs_source_new(&conf, errstr, sizeof(errstr)));
	conf.base_url = BASE "/";
	{
		rs_source_t *src = rs_source_new(&conf, errstr, sizeof(errstr));
		assert_non_null(src);
		assert_string_equal(rs_source_name(src), "talkdesk.guardian");
		rs_source_destroy(src);
	}
	rs_source_destroy(NULL);
	assert_non_null(strstr(rs_source_td_scopes(RS_SOURCE_TD_QUEUES),
			       "queues-users:read"));
	assert_non_null(strstr(rs_source_td_scopes(RS_SOURCE_TD_RING_GROUPS),
			       "user-ring-groups:read"));
	assert_string_equal(rs_source_td_scopes(RS_SOURCE_TD_GUARDIAN),
			    "guardian-users:read");
}

/* The tenant's Talkdesk settings map onto the source conf; a tenant
 * without a talkdesk group has no source. */
static void test_conf_from_tenant(void **state) {
	rs_conf_tenant_t tn;
	rs_source_conf_t sc;

	(void)state;
	memset(&tn, 0, sizeof(tn));
	tn.id = "acme";
	assert_int_equal(rs_source_conf_from_tenant(&sc, &tn), RS_ERR_CONFIG);
	tn.talkdesk.configured = true;
	tn.talkdesk.base_url = BASE;
	tn.talkdesk.source = RS_CONF_TD_SRC_GUARDIAN;
	assert_int_equal(rs_source_conf_from_tenant(&sc, &tn), RS_OK);
	assert_string_equal(sc.tenant, "acme");
	assert_string_equal(sc.base_url, BASE);
	assert_int_equal(sc.mode, RS_SOURCE_TD_GUARDIAN);
	assert_null(sc.auth);
	/* the two enums must stay in step */
	assert_int_equal((int)RS_CONF_TD_SRC_QUEUES, (int)RS_SOURCE_TD_QUEUES);
	assert_int_equal((int)RS_CONF_TD_SRC_RING_GROUPS,
			 (int)RS_SOURCE_TD_RING_GROUPS);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_queues_page),
		cmocka_unit_test(test_users_page_total_pages),
		cmocka_unit_test(test_ring_groups_pages),
		cmocka_unit_test(test_guardian_bare_array),
		cmocka_unit_test(test_page_edge_and_rejects),
		cmocka_unit_test(test_next_url_by_number),
		cmocka_unit_test(test_next_url_foreign),
		cmocka_unit_test(test_error_bodies),
		cmocka_unit_test(test_snapshot_builder),
		cmocka_unit_test(test_source_new_checks),
		cmocka_unit_test(test_conf_from_tenant),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
