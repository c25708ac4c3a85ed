/*
 * 0101-sim-talkdesk.c - the simulator's Talkdesk API (sources.md §1):
 * client-credentials token with Basic auth and scopes, scope checks per
 * endpoint with the service's error codes, HAL paging of users and queues
 * (every item exactly once), guardian's required filter and bare-array
 * _embedded, ring groups retired/served per tenant (reads and the
 * Early Access writes: idempotent assign, implicit creation, bulk limit,
 * last-ring-group guard), agent status read/write rules, token expiry.
 */
#include "rs/rs_base.h"
#include "rs_test.h"
#include "sim_it.h"

static const char *form_hdr[] = {
	"Content-Type: application/x-www-form-urlencoded", NULL};

static void expect_td_error(const it_resp_t *r, long status,
			    const char *code) {
	cJSON *j;
	TEST_ASSERT(r->status == status, "want %ld got %ld: %s", status,
		    r->status, r->body);
	j = it_json(r);
	TEST_ASSERT(it_jstr(j, "code") && !strcmp(it_jstr(j, "code"), code),
		    "want code %s: %s", code, r->body);
	TEST_ASSERT(it_jstr(j, "message"), "message present");
	cJSON_Delete(j);
}

/* Follows _links.next from path, collecting ids of _embedded.<key>;
 * returns the number of pages.  Fails on a duplicate. */
static int page_all(rs_sim_t *sim, const char *tok, const char *path,
		    const char *key, cJSON *ids, double *total) {
	char next[2048];
	int pages = 0;
	size_t blen = strlen(rs_sim_base_url(sim)) + strlen("/talkdesk");

	rs_snprintf(next, sizeof(next), "%s", path);
	for (;;) {
		it_resp_t r;
		cJSON *j, *arr, *it, *nx;
		it_get(&r, sim, tok, next);
		TEST_ASSERT(r.status == 200, "%s: %ld %s", next, r.status,
			    r.body);
		j = it_json(&r);
		arr = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "_embedded"),
					  key);
		TEST_ASSERT(cJSON_IsArray(arr), "_embedded.%s array", key);
		TEST_ASSERT(it_jnum(j, "count") == cJSON_GetArraySize(arr),
			    "count matches items");
		*total = it_jnum(j, "total");
		cJSON_ArrayForEach(it, arr) {
			const char *id = it_jstr(it, "id");
			TEST_ASSERT(!cJSON_GetObjectItem(ids, id),
				    "id %s seen twice while paging", id);
			cJSON_AddTrueToObject(ids, id);
		}
		pages++;
		nx = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "_links"),
					 "next");
		if (!nx) {
			cJSON_Delete(j);
			it_resp_free(&r);
			break;
		}
		/* hrefs are absolute: strip "<base>/talkdesk". */
		TEST_ASSERT(strlen(it_jstr(nx, "href")) > blen, "next href");
		rs_snprintf(next, sizeof(next), "/talkdesk%s",
			    it_jstr(nx, "href") + blen);
		cJSON_Delete(j);
		it_resp_free(&r);
		TEST_ASSERT(pages < 1000, "paging never ends");
	}
	return pages;
}

int main(void) {
	rs_sim_conf_t conf;
	rs_sim_t *sim, *sim2;
	cJSON *troot, *t1, *t2root, *t2, *state, *ids, *j, *led, *e;
	char *tok, *tok_users, *tok2, up[256], url[512], path[512], *s;
	const char *qid, *qname, *uid, *other_uid;
	it_resp_t r;
	double total;
	int pages;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	rs_sim_conf_init(&conf);
	sim = it_sim_start(&conf, "tenants=2,users=120,queues=4,seed=3");
	t1 = it_tenant(sim, "t001", &troot);
	t2 = it_tenant(sim, "t002", &t2root);
	rs_snprintf(url, sizeof(url), "%s/talkdesk/oauth/token",
		    rs_sim_base_url(sim));

	SUB_TEST("token: Basic auth, granted scopes echoed");
	tok = it_td_token(sim, t1, NULL);
	rs_snprintf(up, sizeof(up), "%s:%s", it_jstr(t1, "talkdesk_client_id"),
		    it_jstr(t1, "talkdesk_client_secret"));
	it_http(&r, "POST", url, form_hdr,
		"grant_type=client_credentials&scope=users:read", up, 0);
	TEST_ASSERT(r.status == 200, "scoped token %ld", r.status);
	j = it_json(&r);
	TEST_ASSERT(!strcmp(it_jstr(j, "scope"), "users:read"), "scope echo");
	TEST_ASSERT(!strcmp(it_jstr(j, "token_type"), "Bearer"), "Bearer");
	TEST_ASSERT(it_jnum(j, "expires_in") > 0, "expires_in");
	tok_users = rs_strdup(it_jstr(j, "access_token"));
	cJSON_Delete(j);
	it_resp_free(&r);

	SUB_TEST("token errors: no Basic, bad secret, grant, scope");
	it_http(&r, "POST", url, form_hdr, "grant_type=client_credentials",
		NULL, 0);
	TEST_ASSERT(r.status == 401 && strstr(r.body, "\"invalid_client\""),
		    "no basic: %ld %s", r.status, r.body);
	it_resp_free(&r);
	rs_snprintf(up, sizeof(up), "%s:wrong",
		    it_jstr(t1, "talkdesk_client_id"));
	it_http(&r, "POST", url, form_hdr, "grant_type=client_credentials", up,
		0);
	TEST_ASSERT(r.status == 401 && strstr(r.body, "\"error_description\""),
		    "bad secret: %ld %s", r.status, r.body);
	it_resp_free(&r);
	rs_snprintf(up, sizeof(up), "%s:%s", it_jstr(t1, "talkdesk_client_id"),
		    it_jstr(t1, "talkdesk_client_secret"));
	it_http(&r, "POST", url, form_hdr, "scope=users:read", up, 0);
	TEST_ASSERT(r.status == 400 && strstr(r.body, "invalid_request"),
		    "no grant: %ld", r.status);
	it_resp_free(&r);
	it_http(&r, "POST", url, form_hdr,
		"grant_type=client_credentials&scope=users:read%20nope:read",
		up, 0);
	TEST_ASSERT(r.status == 400 && strstr(r.body, "invalid_scope"),
		    "bad scope: %ld", r.status);
	it_resp_free(&r);

	SUB_TEST("no token / bad token: 401 with the service's code");
	it_get(&r, sim, NULL, "/talkdesk/users");
	expect_td_error(&r, 401, "0040002");
	it_resp_free(&r);
	it_get(&r, sim, "bogus", "/talkdesk/ccaas/queues");
	expect_td_error(&r, 401, "0490002");
	it_resp_free(&r);

	SUB_TEST("missing scope: 403 per endpoint");
	it_get(&r, sim, tok_users, "/talkdesk/ccaas/queues");
	expect_td_error(&r, 403, "0490003");
	it_resp_free(&r);
	it_get(&r, sim, tok_users, "/talkdesk/guardian/users?filter=active%20eq%20true");
	expect_td_error(&r, 403, "1050009");
	it_resp_free(&r);
	it_get(&r, sim, tok_users, "/talkdesk/users?per_page=1");
	TEST_ASSERT(r.status == 200, "users:read suffices for /users");
	it_resp_free(&r);

	SUB_TEST("users paging: every user exactly once");
	state = cJSON_Parse((s = rs_sim_state_json(sim, "t001")));
	rs_free(s);
	{
		cJSON *tdu = cJSON_GetObjectItem(
			cJSON_GetObjectItem(
				cJSON_GetObjectItem(
					cJSON_GetObjectItem(state, "tenants"),
					"t001"),
				"talkdesk"),
			"users");
		int n_state = cJSON_GetArraySize(tdu);
		ids = cJSON_CreateObject();
		pages = page_all(sim, tok, "/talkdesk/users?per_page=7",
				 "users", ids, &total);
		TEST_ASSERT(cJSON_GetArraySize(ids) == n_state &&
				    total == n_state,
			    "paged %d users, state has %d, total %.0f",
			    cJSON_GetArraySize(ids), n_state, total);
		TEST_ASSERT(pages == (n_state + 6) / 7, "pages %d", pages);
		cJSON_Delete(ids);
		uid = it_jstr(cJSON_GetArrayItem(tdu, 0), "id");
		rs_snprintf(path, sizeof(path), "/talkdesk/users/%s", uid);
		it_get(&r, sim, tok, path);
		TEST_ASSERT(r.status == 200 && strstr(r.body, uid), "get user");
		it_resp_free(&r);
	}

	SUB_TEST("users: bad paging parameters");
	it_get(&r, sim, tok, "/talkdesk/users?per_page=201");
	expect_td_error(&r, 400, "0040001");
	it_resp_free(&r);
	it_get(&r, sim, tok, "/talkdesk/users?page=abc");
	expect_td_error(&r, 400, "0040001");
	it_resp_free(&r);
	it_get(&r, sim, tok, "/talkdesk/users?page=999");
	expect_td_error(&r, 400, "0040021");
	it_resp_free(&r);
	it_get(&r, sim, tok, "/talkdesk/users/5b34eb0cdcba1b000bdbd320");
	expect_td_error(&r, 404, "0040000");
	it_resp_free(&r);

	SUB_TEST("other account's user id: 404, flagged cross-tenant");
	{
		char *s2 = rs_sim_state_json(sim, "t002");
		cJSON *st2 = cJSON_Parse(s2);
		rs_free(s2);
		other_uid = it_jstr(
			cJSON_GetArrayItem(
				cJSON_GetObjectItem(
					cJSON_GetObjectItem(
						cJSON_GetObjectItem(
							cJSON_GetObjectItem(
								st2, "tenants"),
							"t002"),
						"talkdesk"),
					"users"),
				0),
			"id");
		rs_snprintf(path, sizeof(path), "/talkdesk/users/%s", other_uid);
		it_get(&r, sim, tok, path);
		expect_td_error(&r, 404, "0040000");
		it_resp_free(&r);
		e = it_ledger_last(sim, path, &led);
		TEST_ASSERT(e && cJSON_IsTrue(cJSON_GetObjectItem(
					 e, "cross_tenant")),
			    "cross-tenant flagged");
		TEST_ASSERT(!strcmp(it_jstr(e, "tenant"), "t001"),
			    "ledger names the token's tenant");
		cJSON_Delete(led);
		/* The owner's own token reads it fine. */
		tok2 = it_td_token(sim, t2, NULL);
		it_get(&r, sim, tok2, path);
		TEST_ASSERT(r.status == 200, "owner reads its user");
		it_resp_free(&r);
		rs_free(tok2);
		cJSON_Delete(st2);
	}

	SUB_TEST("queues paging and queue users match the state");
	{
		cJSON *queues = cJSON_GetObjectItem(
			cJSON_GetObjectItem(
				cJSON_GetObjectItem(
					cJSON_GetObjectItem(state, "tenants"),
					"t001"),
				"talkdesk"),
			"queues");
		cJSON *q;
		ids = cJSON_CreateObject();
		page_all(sim, tok, "/talkdesk/ccaas/queues?per_page=1",
			 "queues", ids, &total);
		TEST_ASSERT(cJSON_GetArraySize(ids) ==
					cJSON_GetArraySize(queues) &&
				    total == cJSON_GetArraySize(queues),
			    "all queues");
		cJSON_Delete(ids);
		cJSON_ArrayForEach(q, queues) {
			cJSON *u;
			qid = it_jstr(q, "id");
			ids = cJSON_CreateObject();
			rs_snprintf(path, sizeof(path),
				    "/talkdesk/ccaas/queues/%s/users?per_page=3",
				    qid);
			page_all(sim, tok, path, "users", ids, &total);
			TEST_ASSERT(cJSON_GetArraySize(ids) ==
					    cJSON_GetArraySize(
						    cJSON_GetObjectItem(q, "users")),
				    "queue %s members", qid);
			cJSON_ArrayForEach(u, cJSON_GetObjectItem(q, "users"))
				TEST_ASSERT(cJSON_GetObjectItem(ids,
								u->valuestring),
					    "member %s listed", u->valuestring);
			cJSON_Delete(ids);
		}
		it_get(&r, sim, tok,
		       "/talkdesk/ccaas/queues/ffffffffffffffffffffffffffffffff/users");
		expect_td_error(&r, 404, "0490004");
		it_resp_free(&r);
		it_get(&r, sim, tok, "/talkdesk/ccaas/queues?per_page=101");
		expect_td_error(&r, 400, "0490001");
		it_resp_free(&r);
		qname = it_jstr(cJSON_GetArrayItem(queues, 0), "name");
	}

	SUB_TEST("guardian: filter required, _embedded a bare array");
	it_get(&r, sim, tok, "/talkdesk/guardian/users");
	expect_td_error(&r, 400, "1050005");
	it_resp_free(&r);
	it_get(&r, sim, tok, "/talkdesk/guardian/users?filter=%28%28bogus");
	expect_td_error(&r, 400, "1050005");
	it_resp_free(&r);
	rs_snprintf(path, sizeof(path),
		    "/talkdesk/guardian/users?filter=contains(user_id,'%s')"
		    "%%20and%%20active%%20eq%%20true",
		    uid);
	it_get(&r, sim, tok, path);
	TEST_ASSERT(r.status == 200, "guardian list %ld %s", r.status, r.body);
	j = it_json(&r);
	TEST_ASSERT(cJSON_IsArray(cJSON_GetObjectItem(j, "_embedded")),
		    "bare array");
	TEST_ASSERT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "_embedded")) ==
			    1,
		    "filter selects one user");
	TEST_ASSERT(cJSON_IsArray(cJSON_GetObjectItem(
			    cJSON_GetArrayItem(cJSON_GetObjectItem(j, "_embedded"),
					       0),
			    "ring_groups")),
		    "ring_groups per user");
	cJSON_Delete(j);
	it_resp_free(&r);
	{
		char auth[2048], u2[512];
		const char *h[] = {auth, "Accept: text/html", NULL};
		rs_snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok);
		rs_snprintf(u2, sizeof(u2),
			    "%s/talkdesk/guardian/users?filter=active%%20eq%%20true",
			    rs_sim_base_url(sim));
		it_http(&r, "GET", u2, h, NULL, NULL, 0);
		expect_td_error(&r, 406, "1050002");
		it_resp_free(&r);
	}

	SUB_TEST("guardian: the next link keeps the required filter");
	it_get(&r, sim, tok,
	       "/talkdesk/guardian/users?filter=active%20eq%20true&per_page=1");
	TEST_ASSERT(r.status == 200, "guardian page 1: %ld", r.status);
	j = it_json(&r);
	{
		cJSON *next = cJSON_GetObjectItem(
			cJSON_GetObjectItem(j, "_links"), "next");
		const char *href = cJSON_GetStringValue(
			cJSON_GetObjectItem(next, "href"));
		char auth[2048];
		const char *h[] = {auth, NULL};
		it_resp_t r2;
		TEST_ASSERT(href && strstr(href, "filter="),
			    "next link without filter: %s", href ? href : "-");
		rs_snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok);
		it_http(&r2, "GET", href, h, NULL, NULL, 0);
		TEST_ASSERT(r2.status == 200, "following next: %ld %s",
			    r2.status, r2.body);
		it_resp_free(&r2);
	}
	cJSON_Delete(j);
	it_resp_free(&r);

	SUB_TEST("ring groups retired (2026-07-31) by default: 404");
	it_get(&r, sim, tok, "/talkdesk/ring-groups");
	TEST_ASSERT(r.status == 404, "retired: %ld", r.status);
	it_resp_free(&r);

	SUB_TEST("ring groups served when configured, with Sunset header");
	{
		char cu[256], hb[128];
		rs_snprintf(cu, sizeof(cu), "%s/_sim/tenants/t001",
			    rs_sim_base_url(sim));
		it_http(&r, "POST", cu, NULL, "{\"ring_groups\":\"serve\"}",
			NULL, 0);
		TEST_ASSERT(r.status == 200, "set serve");
		it_resp_free(&r);
		it_get(&r, sim, tok, "/talkdesk/ring-groups?per_page=50");
		TEST_ASSERT(r.status == 200, "served: %ld %s", r.status, r.body);
		TEST_ASSERT(it_header(&r, "Sunset", hb, sizeof(hb)),
			    "Sunset header");
		TEST_ASSERT(strstr(r.body, qname), "ring group named %s", qname);
		it_resp_free(&r);
		rs_snprintf(path, sizeof(path), "/talkdesk/ring-groups/%s/users",
			    qname);
		it_get(&r, sim, tok, path);
		TEST_ASSERT(r.status == 200 && strstr(r.body, "\"ring_group\""),
			    "rg users: %ld", r.status);
		it_resp_free(&r);
		it_get(&r, sim, tok, "/talkdesk/ring-groups/nosuch/users");
		expect_td_error(&r, 404, "0300007");
		it_resp_free(&r);
		it_get(&r, sim, tok, "/talkdesk/ring-groups?order_by=size");
		expect_td_error(&r, 400, "0300011");
		it_resp_free(&r);
		/* Writes (Early Access, sources.md §1.4). */
		{
			char auth[2048], wu[512], body[8192];
			const char *h[] = {auth,
					   "Content-Type: application/hal+json",
					   NULL};
			size_t o;
			int k;
			rs_snprintf(auth, sizeof(auth),
				    "Authorization: Bearer %s", tok);
			rs_snprintf(wu, sizeof(wu),
				    "%s/talkdesk/actions/users/assign-ring-groups",
				    rs_sim_base_url(sim));
			rs_snprintf(body, sizeof(body),
				    "[{\"user_id\":\"%s\",\"ring_groups\":"
				    "[\"brand-new\",\"%s\"]}]",
				    uid, qname);
			it_http(&r, "POST", wu, h, body, NULL, 0);
			TEST_ASSERT(r.status == 204, "assign: %ld %s", r.status,
				    r.body);
			it_resp_free(&r);
			/* Idempotent. */
			it_http(&r, "POST", wu, h, body, NULL, 0);
			TEST_ASSERT(r.status == 204, "assign again");
			it_resp_free(&r);
			it_get(&r, sim, tok,
			       "/talkdesk/ring-groups/brand-new/users");
			TEST_ASSERT(r.status == 200 && strstr(r.body, uid),
				    "unknown name created the ring group");
			it_resp_free(&r);
			/* Bulk limit. */
			rs_snprintf(body, sizeof(body), "[");
			o = 1;
			for (k = 0; k < 101; k++) {
				rs_snprintf(body + o, sizeof(body) - o,
					    "%s{\"user_id\":\"x\","
					    "\"ring_groups\":[]}",
					    k ? "," : "");
				o = strlen(body);
			}
			rs_snprintf(body + o, sizeof(body) - o, "]");
			it_http(&r, "POST", wu, h, body, NULL, 0);
			expect_td_error(&r, 400, "0300007");
			TEST_ASSERT(strstr(r.body, "Found: 101. Allowed: 100."),
				    "bulk message");
			it_resp_free(&r);
			/* Replace the set, then removing the last one fails. */
			rs_snprintf(wu, sizeof(wu),
				    "%s/talkdesk/users/%s/ring-groups",
				    rs_sim_base_url(sim), uid);
			it_http(&r, "PUT", wu, h,
				"{\"ring_groups\":[\"solo\"]}", NULL, 0);
			TEST_ASSERT(r.status == 204, "put: %ld %s", r.status,
				    r.body);
			it_resp_free(&r);
			rs_snprintf(wu, sizeof(wu),
				    "%s/talkdesk/actions/users/unassign-ring-groups",
				    rs_sim_base_url(sim));
			rs_snprintf(body, sizeof(body),
				    "[{\"user_id\":\"%s\",\"ring_groups\":"
				    "[\"solo\"]}]",
				    uid);
			it_http(&r, "POST", wu, h, body, NULL, 0);
			expect_td_error(&r, 400, "0300008");
			it_resp_free(&r);
			rs_snprintf(wu, sizeof(wu),
				    "%s/talkdesk/users/5b34eb0cdcba1b000bdbd320"
				    "/ring-groups",
				    rs_sim_base_url(sim));
			it_http(&r, "PUT", wu, h,
				"{\"ring_groups\":[\"solo\"]}", NULL, 0);
			expect_td_error(&r, 404, "0300005");
			it_resp_free(&r);
			/* Without the write scope. */
			rs_snprintf(auth, sizeof(auth),
				    "Authorization: Bearer %s", tok_users);
			it_http(&r, "PUT", wu, h,
				"{\"ring_groups\":[\"solo\"]}", NULL, 0);
			expect_td_error(&r, 403, "0300002");
			it_resp_free(&r);
		}
		/* Tenant 2 still answers as retired. */
		tok2 = it_td_token(sim, t2, NULL);
		it_get(&r, sim, tok2, "/talkdesk/ring-groups");
		TEST_ASSERT(r.status == 404, "t002 still retired");
		it_resp_free(&r);
		rs_free(tok2);
	}

	SUB_TEST("agent status: batch read (max 20), optimistic PUT rules");
	{
		cJSON *tdu = cJSON_GetObjectItem(
			cJSON_GetObjectItem(
				cJSON_GetObjectItem(
					cJSON_GetObjectItem(state, "tenants"),
					"t001"),
				"talkdesk"),
			"users");
		char auth[2048], su[512], body[4096], cur[64] = "";
		const char *h[] = {auth, "Content-Type: application/json",
				   NULL};
		const char *settable = NULL, *locked = NULL;
		int k, n = cJSON_GetArraySize(tdu);
		size_t o;

		rs_snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
			    tok);
		rs_snprintf(su, sizeof(su), "%s/talkdesk/ccaas/users/status",
			    rs_sim_base_url(sim));
		/* 21 ids: refused. */
		rs_snprintf(body, sizeof(body), "{\"user_ids\":[");
		for (k = 0; k < 21; k++) {
			o = strlen(body);
			rs_snprintf(body + o, sizeof(body) - o, "%s\"%s\"",
				    k ? "," : "",
				    it_jstr(cJSON_GetArrayItem(tdu, k % n),
					    "id"));
		}
		o = strlen(body);
		rs_snprintf(body + o, sizeof(body) - o, "]}");
		it_http(&r, "POST", su, h, body, NULL, 0);
		expect_td_error(&r, 400, "1580008");
		it_resp_free(&r);
		/* Batches of 20 until one settable and one locked status. */
		for (k = 0; k < n && (!settable || !locked); k += 20) {
			int m;
			cJSON *arr, *e2;
			rs_snprintf(body, sizeof(body), "{\"user_ids\":[");
			for (m = k; m < n && m < k + 20; m++) {
				o = strlen(body);
				rs_snprintf(body + o, sizeof(body) - o,
					    "%s\"%s\"", m > k ? "," : "",
					    it_jstr(cJSON_GetArrayItem(tdu, m),
						    "id"));
			}
			o = strlen(body);
			rs_snprintf(body + o, sizeof(body) - o, "]}");
			it_http(&r, "POST", su, h, body, NULL, 0);
			TEST_ASSERT(r.status == 200, "status read %ld %s",
				    r.status, r.body);
			arr = it_json(&r);
			TEST_ASSERT(cJSON_GetArraySize(arr) == m - k,
				    "one status per id");
			cJSON_ArrayForEach(e2, arr) {
				const char *st = it_jstr(e2, "status");
				if (!settable && (!strcmp(st, "available") ||
						  !strcmp(st, "away"))) {
					settable = rs_strdup(it_jstr(e2, "id"));
					rs_snprintf(cur, sizeof(cur), "%s", st);
				}
				if (!locked && (!strcmp(st, "busy") ||
						!strcmp(st, "offline")))
					locked = rs_strdup(it_jstr(e2, "id"));
			}
			cJSON_Delete(arr);
			it_resp_free(&r);
		}
		TEST_ASSERT(settable && locked, "dataset has both kinds");
		rs_snprintf(su, sizeof(su), "%s/talkdesk/ccaas/users/%s/status",
			    rs_sim_base_url(sim), settable);
		rs_snprintf(body, sizeof(body),
			    "{\"current_status\":\"%s\",\"new_status\":"
			    "\"away_lunch\"}",
			    cur);
		it_http(&r, "PUT", su, h, body, NULL, 0);
		TEST_ASSERT(r.status == 204, "put %ld %s", r.status, r.body);
		it_resp_free(&r);
		/* Same request again: current status is stale now. */
		it_http(&r, "PUT", su, h, body, NULL, 0);
		expect_td_error(&r, 400, "1580002");
		it_resp_free(&r);
		it_http(&r, "PUT", su, h,
			"{\"current_status\":\"away_lunch\",\"new_status\":"
			"\"busy\"}",
			NULL, 0);
		expect_td_error(&r, 400, "1580003");
		it_resp_free(&r);
		rs_snprintf(su, sizeof(su), "%s/talkdesk/ccaas/users/%s/status",
			    rs_sim_base_url(sim), locked);
		{
			char body2[256];
			char *lst;
			rs_snprintf(body2, sizeof(body2),
				    "{\"user_ids\":[\"%s\"]}", locked);
			rs_snprintf(body, sizeof(body), "%s/talkdesk/ccaas/users/status",
				    rs_sim_base_url(sim));
			it_http(&r, "POST", body, h, body2, NULL, 0);
			j = it_json(&r);
			lst = rs_strdup(it_jstr(cJSON_GetArrayItem(j, 0),
						"status"));
			cJSON_Delete(j);
			it_resp_free(&r);
			rs_snprintf(body, sizeof(body),
				    "{\"current_status\":\"%s\","
				    "\"new_status\":\"available\"}",
				    lst);
			it_http(&r, "PUT", su, h, body, NULL, 0);
			expect_td_error(&r, 400, "1580001");
			it_resp_free(&r);
			rs_free(lst);
		}
		rs_snprintf(su, sizeof(su),
			    "%s/talkdesk/ccaas/users/5b34eb0cdcba1b000bdbd320/status",
			    rs_sim_base_url(sim));
		it_http(&r, "PUT", su, h,
			"{\"current_status\":\"away\",\"new_status\":"
			"\"available\"}",
			NULL, 0);
		expect_td_error(&r, 404, "1580006");
		it_resp_free(&r);
		rs_free((char *)settable);
		rs_free((char *)locked);
	}

	SUB_TEST("unknown path: Talkdesk-shaped 404");
	it_get(&r, sim, tok, "/talkdesk/nope");
	TEST_ASSERT(r.status == 404 && strstr(r.body, "\"code\""), "404");
	it_resp_free(&r);

	SUB_TEST("tokens expire (configurable lifetime)");
	conf.token_lifetime_s = 1;
	sim2 = it_sim_start(&conf, "tenants=1,users=5,queues=1,seed=1");
	{
		cJSON *r2, *tt = it_tenant(sim2, "t001", &r2);
		char *t = it_td_token(sim2, tt, NULL);
		it_get(&r, sim2, t, "/talkdesk/users");
		TEST_ASSERT(r.status == 200, "fresh token works");
		it_resp_free(&r);
		rs_sleep_ms(1200);
		it_get(&r, sim2, t, "/talkdesk/users");
		expect_td_error(&r, 401, "0040002");
		it_resp_free(&r);
		rs_free(t);
		cJSON_Delete(r2);
	}
	rs_sim_destroy(sim2);

	cJSON_Delete(state);
	cJSON_Delete(troot);
	cJSON_Delete(t2root);
	rs_free(tok);
	rs_free(tok_users);
	rs_sim_destroy(sim);
	curl_global_cleanup();
	return rs_test_finish();
}
