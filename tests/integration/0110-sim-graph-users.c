/*
 * 0110-sim-graph-users.c - Graph users lookups against the simulator
 * (graph.md §3): $filter eq on mail / userPrincipalName (case-insensitive),
 * `in` with up to 15 values and the 400 above that, OData '' escaping of an
 * apostrophe, $select, $top with @odata.nextLink walking every user exactly
 * once, GET /users/{id|upn}, and the error envelope of §8.
 */
#include "rs/rs_base.h"
#include "rs_test.h"
#include "sim_graph_it.h"

static cJSON *value_of(const cJSON *j) {
	cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "value");
	TEST_ASSERT(cJSON_IsArray(v), "no value array");
	return v;
}

static char *upper(const char *s) {
	char *u = rs_strdup(s);
	size_t i;
	for (i = 0; u[i]; i++)
		if (u[i] >= 'a' && u[i] <= 'z')
			u[i] = (char)(u[i] - 32);
	return u;
}

int main(void) {
	rs_sim_conf_t conf;
	rs_sim_t *sim;
	char *tok, *tok2, *up, filter[4096];
	cJSON *root, *entra, *users, *u0, *u, *j, *v, *it;
	const char *apos_mail = NULL, *apos_id = NULL;
	it_resp_t r;
	int n_users, i, seen_total = 0, pages = 0;
	size_t o;

	curl_global_init(CURL_GLOBAL_ALL);
	rs_sim_conf_init(&conf);
	sim = it_sim_start(&conf, "tenants=2,users=400,queues=4,seed=11");
	tok = g_token(sim, "t001");
	entra = g_state(sim, "t001", &root);
	users = cJSON_GetObjectItemCaseSensitive(entra, "users");
	n_users = cJSON_GetArraySize(users);
	TEST_ASSERT(n_users > 20, "enough users (%d)", n_users);
	u0 = NULL;
	cJSON_ArrayForEach(u, users) {
		const char *m = it_jstr(u, "mail");
		if (m && !u0 && !strchr(m, '\''))
			u0 = u;
		if (m && strchr(m, '\'') && !apos_mail) {
			apos_mail = m;
			apos_id = it_jstr(u, "id");
		}
	}
	TEST_ASSERT(u0 && apos_mail, "dataset has a plain and an apostrophe "
				     "mail");

	SUB_TEST("eq on mail is case-insensitive");
	up = upper(it_jstr(u0, "mail"));
	rs_snprintf(filter, sizeof(filter), "mail eq '%s'", up);
	rs_free(up);
	{
		const char *q[] = {"$filter", filter, NULL};
		g_req(&r, sim, tok, "GET", "/users", q, NULL);
	}
	TEST_ASSERT(r.status == 200, "%ld %s", r.status, r.body);
	j = it_json(&r);
	v = value_of(j);
	TEST_ASSERT(cJSON_GetArraySize(v) == 1, "one match: %s", r.body);
	TEST_ASSERT(!strcmp(it_jstr(cJSON_GetArrayItem(v, 0), "id"),
			    it_jstr(u0, "id")),
		    "right user");
	TEST_ASSERT(!cJSON_GetObjectItemCaseSensitive(j, "@odata.nextLink"),
		    "no nextLink for one result");
	cJSON_Delete(j);
	it_resp_free(&r);

	SUB_TEST("eq on userPrincipalName; no match is 200 with []");
	rs_snprintf(filter, sizeof(filter), "userPrincipalName eq '%s'",
		    it_jstr(u0, "userPrincipalName"));
	{
		const char *q[] = {"$filter", filter, NULL};
		g_req(&r, sim, tok, "GET", "/users", q, NULL);
	}
	j = it_json(&r);
	TEST_ASSERT(r.status == 200 && cJSON_GetArraySize(value_of(j)) == 1,
		    "upn eq: %s", r.body);
	cJSON_Delete(j);
	it_resp_free(&r);
	{
		const char *q[] = {"$filter", "mail eq 'nobody@nowhere.test'",
				   NULL};
		g_req(&r, sim, tok, "GET", "/users", q, NULL);
	}
	j = it_json(&r);
	TEST_ASSERT(r.status == 200 && cJSON_GetArraySize(value_of(j)) == 0,
		    "no match: %s", r.body);
	cJSON_Delete(j);
	it_resp_free(&r);

	SUB_TEST("apostrophe: '' escaping finds the user, a bare ' is 400");
	o = (size_t)snprintf(filter, sizeof(filter), "mail eq '");
	for (i = 0; apos_mail[i]; i++) {
		if (apos_mail[i] == '\'')
			filter[o++] = '\'';
		filter[o++] = apos_mail[i];
	}
	snprintf(filter + o, sizeof(filter) - o, "'");
	{
		const char *q[] = {"$filter", filter, NULL};
		g_req(&r, sim, tok, "GET", "/users", q, NULL);
	}
	j = it_json(&r);
	v = value_of(j);
	TEST_ASSERT(r.status == 200 && cJSON_GetArraySize(v) == 1 &&
			    !strcmp(it_jstr(cJSON_GetArrayItem(v, 0), "id"),
				    apos_id),
		    "escaped apostrophe (%s): %s", filter, r.body);
	cJSON_Delete(j);
	it_resp_free(&r);
	rs_snprintf(filter, sizeof(filter), "mail eq '%s'", apos_mail);
	{
		const char *q[] = {"$filter", filter, NULL};
		g_req(&r, sim, tok, "GET", "/users", q, NULL);
	}
	cJSON_Delete(g_assert_error(&r, 400, "BadRequest",
				    "Invalid filter clause"));
	it_resp_free(&r);

	SUB_TEST("in with 15 values works, 16 is the real 400");
	o = (size_t)snprintf(filter, sizeof(filter), "userPrincipalName in (");
	for (i = 0; i < 15; i++)
		o += (size_t)snprintf(
			filter + o, sizeof(filter) - o, "%s'%s'", i ? "," : "",
			it_jstr(cJSON_GetArrayItem(users, i),
				"userPrincipalName"));
	snprintf(filter + o, sizeof(filter) - o, ")");
	{
		const char *q[] = {"$filter", filter, NULL};
		g_req(&r, sim, tok, "GET", "/users", q, NULL);
	}
	j = it_json(&r);
	TEST_ASSERT(r.status == 200 && cJSON_GetArraySize(value_of(j)) == 15,
		    "in(15): %ld %.300s", r.status, r.body);
	cJSON_Delete(j);
	it_resp_free(&r);
	{
		/* The same 15 with $top=5: paged, 15 in total. */
		const char *q[] = {"$filter", filter, "$top", "5", NULL};
		int total = 0, pg = 0;
		char *next = NULL;
		g_req(&r, sim, tok, "GET", "/users", q, NULL);
		for (;;) {
			TEST_ASSERT(r.status == 200, "paged in: %ld", r.status);
			j = it_json(&r);
			total += cJSON_GetArraySize(value_of(j));
			pg++;
			rs_free(next);
			next = it_jstr(j, "@odata.nextLink")
				       ? rs_strdup(it_jstr(j, "@odata.nextLink"))
				       : NULL;
			cJSON_Delete(j);
			it_resp_free(&r);
			if (!next)
				break;
			g_req(&r, sim, tok, "GET", next, NULL, NULL);
		}
		TEST_ASSERT(total == 15 && pg == 3, "paged in: %d in %d pages",
			    total, pg);
	}
	o = (size_t)snprintf(filter, sizeof(filter), "userPrincipalName in (");
	for (i = 0; i < 16; i++)
		o += (size_t)snprintf(
			filter + o, sizeof(filter) - o, "%s'%s'", i ? "," : "",
			it_jstr(cJSON_GetArrayItem(users, i),
				"userPrincipalName"));
	snprintf(filter + o, sizeof(filter) - o, ")");
	{
		const char *q[] = {"$filter", filter, NULL};
		g_req(&r, sim, tok, "GET", "/users", q, NULL);
	}
	cJSON_Delete(g_assert_error(&r, 400, "Request_UnsupportedQuery",
				    "Too many child clauses specified in "
				    "search filter expression containing "
				    "'OR' operators: 16. Max allowed: 15."));
	it_resp_free(&r);

	SUB_TEST("unsupported filters are 400 Request_UnsupportedQuery");
	{
		const char *q[] = {"$filter", "department eq 'Sales'", NULL};
		g_req(&r, sim, tok, "GET", "/users", q, NULL);
	}
	cJSON_Delete(g_assert_error(&r, 400, "Request_UnsupportedQuery",
				    "property 'department' of resource "
				    "'User'"));
	it_resp_free(&r);

	SUB_TEST("$top paging walks every user exactly once");
	{
		const char *q[] = {"$top", "7", "$select", "id,displayName",
				   NULL};
		char *next = NULL;
		char *seen = rs_calloc((size_t)n_users, 1);
		g_req(&r, sim, tok, "GET", "/users", q, NULL);
		for (;;) {
			const char *nl;
			TEST_ASSERT(r.status == 200, "page %d: %ld %s", pages,
				    r.status, r.body);
			j = it_json(&r);
			v = value_of(j);
			TEST_ASSERT(cJSON_GetArraySize(v) <= 7, "page size");
			cJSON_ArrayForEach(it, v) {
				int k = 0, found = -1;
				cJSON *s;
				cJSON_ArrayForEach(s, users) {
					if (!strcmp(it_jstr(s, "id"),
						    it_jstr(it, "id")))
						found = k;
					k++;
				}
				TEST_ASSERT(found >= 0, "unknown id");
				TEST_ASSERT(!seen[found], "user %s twice",
					    it_jstr(it, "id"));
				seen[found] = 1;
				seen_total++;
				/* $select: only id and displayName. */
				TEST_ASSERT(
					!cJSON_GetObjectItemCaseSensitive(
						it, "userPrincipalName") &&
						it_jstr(it, "displayName"),
					"$select applied");
			}
			nl = it_jstr(j, "@odata.nextLink");
			pages++;
			rs_free(next);
			next = nl ? rs_strdup(nl) : NULL;
			cJSON_Delete(j);
			it_resp_free(&r);
			if (!next)
				break;
			TEST_ASSERT(strstr(next, "$skiptoken="), "skiptoken");
			g_req(&r, sim, tok, "GET", next, NULL, NULL);
		}
		TEST_ASSERT(seen_total == n_users, "walked %d of %d",
			    seen_total, n_users);
		TEST_ASSERT(pages == (n_users + 6) / 7, "pages %d", pages);
		rs_free(seen);
	}
	{
		const char *q[] = {"$top", "1000", NULL};
		g_req(&r, sim, tok, "GET", "/users", q, NULL);
	}
	cJSON_Delete(g_assert_error(&r, 400, "Request_UnsupportedQuery",
				    "Must be between 1 and 999"));
	it_resp_free(&r);
	{
		/* graph.md §3: $skip is not supported; page with nextLink. */
		const char *q[] = {"$skip", "10", NULL};
		g_req(&r, sim, tok, "GET", "/users", q, NULL);
	}
	cJSON_Delete(g_assert_error(&r, 400, "Request_BadRequest", "$skip"));
	it_resp_free(&r);
	{
		const char *q[] = {"$select", "id,nonsense", NULL};
		g_req(&r, sim, tok, "GET", "/users", q, NULL);
	}
	cJSON_Delete(g_assert_error(&r, 400, "BadRequest", "'nonsense'"));
	it_resp_free(&r);

	SUB_TEST("GET /users/{id|upn}; unknown -> 404; other tenant -> 404");
	{
		char path[512];
		up = upper(it_jstr(u0, "userPrincipalName"));
		rs_snprintf(path, sizeof(path), "/users/%s", up);
		rs_free(up);
		g_req(&r, sim, tok, "GET", path, NULL, NULL);
		j = it_json(&r);
		TEST_ASSERT(r.status == 200 && !strcmp(it_jstr(j, "id"),
						       it_jstr(u0, "id")),
			    "by upn: %s", r.body);
		cJSON_Delete(j);
		it_resp_free(&r);
		rs_snprintf(path, sizeof(path), "/users/%s",
			    it_jstr(u0, "id"));
		g_req(&r, sim, tok, "GET", path, NULL, NULL);
		TEST_ASSERT(r.status == 200, "by id");
		it_resp_free(&r);
		g_req(&r, sim, tok, "GET",
		      "/users/00000000-0000-0000-0000-000000000001", NULL,
		      NULL);
		cJSON_Delete(g_assert_error(
			&r, 404, "Request_ResourceNotFound",
			"Resource '00000000-0000-0000-0000-000000000001' does "
			"not exist or one of its queried reference-property "
			"objects are not present."));
		it_resp_free(&r);
		/* tenant t002's token on t001's user: not found there. */
		tok2 = g_token(sim, "t002");
		rs_snprintf(path, sizeof(path), "/users/%s",
			    it_jstr(u0, "id"));
		g_req(&r, sim, tok2, "GET", path, NULL, NULL);
		cJSON_Delete(g_assert_error(&r, 404,
					    "Request_ResourceNotFound", NULL));
		it_resp_free(&r);
		rs_free(tok2);
	}

	SUB_TEST("no token -> 401 InvalidAuthenticationToken");
	g_req(&r, sim, NULL, "GET", "/users", NULL, NULL);
	cJSON_Delete(g_assert_error(&r, 401, "InvalidAuthenticationToken",
				    NULL));
	it_resp_free(&r);

	cJSON_Delete(root);
	rs_free(tok);
	rs_sim_destroy(sim);
	curl_global_cleanup();
	return rs_test_finish();
}
