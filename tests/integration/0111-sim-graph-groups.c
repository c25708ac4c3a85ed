/*
 * 0111-sim-graph-groups.c - Graph group membership against the simulator
 * (graph.md §2): members list paging with @odata.type, POST members/$ref
 * (204, then the exact duplicate 400), DELETE members/{id}/$ref (204, then
 * 404), PATCH members@odata.bind (≤ 20, all-or-nothing when one entry is
 * already a member, > 20 → 400), malformed ids, a cross-tenant token
 * (404 + flagged), and the sim's write statistics (applied vs no-op).
 */
#include "rs/rs_base.h"
#include "rs_test.h"
#include "sim_graph_it.h"

#define DUP_MSG                                                                \
	"One or more added object references already exist for the following " \
	"modified properties: 'members'."

static bool is_member(rs_sim_t *sim, const char *gid, const char *uid) {
	cJSON *root, *g, *m;
	cJSON *entra = g_state(sim, "t001", &root);
	bool found = false;

	cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(entra,
							       "groups")) {
		if (strcmp(it_jstr(g, "id"), gid))
			continue;
		cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(
					      g, "members"))
			if (!strcmp(m->valuestring, uid))
				found = true;
	}
	cJSON_Delete(root);
	return found;
}

static void bind_body(char *buf, size_t size, const char *base,
		      const char *const *ids, int n) {
	size_t o = (size_t)snprintf(buf, size, "{\"members@odata.bind\":[");
	int i;

	for (i = 0; i < n; i++)
		o += (size_t)snprintf(buf + o, size - o,
				      "%s\"%s/directoryObjects/%s\"",
				      i ? "," : "", base, ids[i]);
	snprintf(buf + o, size - o, "]}");
}

int main(void) {
	rs_sim_conf_t conf;
	rs_sim_t *sim;
	char *tok, *tok2, path[512], body[8192];
	const char *gid = NULL, *outsiders[32], *member0 = NULL;
	const char *gbase = "https://graph.microsoft.com/v1.0";
	cJSON *root, *entra, *g, *best = NULL, *u, *m, *j, *v, *it;
	int n_members = 0, n_out = 0, seen = 0, pages = 0, i;
	double applied0, noop0;
	it_resp_t r;

	curl_global_init(CURL_GLOBAL_ALL);
	rs_sim_conf_init(&conf);
	sim = it_sim_start(&conf, "tenants=2,users=200,queues=6,seed=5");
	tok = g_token(sim, "t001");
	entra = g_state(sim, "t001", &root);
	cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(entra,
							       "groups")) {
		int n = cJSON_GetArraySize(
			cJSON_GetObjectItemCaseSensitive(g, "members"));
		if (n > n_members) {
			n_members = n;
			best = g;
		}
	}
	TEST_ASSERT(best && n_members >= 5, "a group with members (%d)",
		    n_members);
	gid = it_jstr(best, "id");
	member0 = cJSON_GetArrayItem(
			  cJSON_GetObjectItemCaseSensitive(best, "members"), 0)
			  ->valuestring;
	cJSON_ArrayForEach(u, cJSON_GetObjectItemCaseSensitive(entra,
							       "users")) {
		bool in = false;
		cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(
					      best, "members"))
			if (!strcmp(m->valuestring, it_jstr(u, "id")))
				in = true;
		if (!in && n_out < 32)
			outsiders[n_out++] = it_jstr(u, "id");
	}
	TEST_ASSERT(n_out >= 25, "enough non-members (%d)", n_out);

	SUB_TEST("members paging walks every member once, typed");
	{
		const char *q[] = {"$top", "3", NULL};
		char *next = NULL;
		rs_snprintf(path, sizeof(path), "/groups/%s/members", gid);
		g_req(&r, sim, tok, "GET", path, q, NULL);
		for (;;) {
			TEST_ASSERT(r.status == 200, "%ld %s", r.status,
				    r.body);
			j = it_json(&r);
			v = cJSON_GetObjectItemCaseSensitive(j, "value");
			TEST_ASSERT(cJSON_GetArraySize(v) <= 3, "page size");
			cJSON_ArrayForEach(it, v) {
				TEST_ASSERT(!strcmp(it_jstr(it, "@odata.type"),
						    "#microsoft.graph.user"),
					    "@odata.type");
				TEST_ASSERT(is_member(sim, gid,
						      it_jstr(it, "id")),
					    "listed id is a member");
				seen++;
			}
			pages++;
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
		TEST_ASSERT(seen == n_members, "saw %d of %d", seen,
			    n_members);
		TEST_ASSERT(pages == (n_members + 2) / 3, "pages %d", pages);
	}
	rs_snprintf(path, sizeof(path), "/groups/%s/owners", gid);
	g_req(&r, sim, tok, "GET", path, NULL, NULL);
	TEST_ASSERT(r.status == 200, "owners %ld", r.status);
	it_resp_free(&r);
	rs_snprintf(path, sizeof(path), "/groups/%s", gid);
	g_req(&r, sim, tok, "GET", path, NULL, NULL);
	j = it_json(&r);
	TEST_ASSERT(r.status == 200 && !strcmp(it_jstr(j, "id"), gid),
		    "group get");
	cJSON_Delete(j);
	it_resp_free(&r);

	SUB_TEST("POST members/$ref: 204, then the duplicate 400");
	applied0 = g_stat(sim, "writes_applied");
	noop0 = g_stat(sim, "writes_noop");
	rs_snprintf(path, sizeof(path), "/groups/%s/members/$ref", gid);
	rs_snprintf(body, sizeof(body),
		    "{\"@odata.id\":\"%s/directoryObjects/%s\"}", gbase,
		    outsiders[0]);
	g_req(&r, sim, tok, "POST", path, NULL, body);
	TEST_ASSERT(r.status == 204 && r.len == 0, "add: %ld %s", r.status,
		    r.body);
	it_resp_free(&r);
	TEST_ASSERT(is_member(sim, gid, outsiders[0]), "now a member");
	TEST_ASSERT(g_stat(sim, "writes_applied") == applied0 + 1,
		    "one write applied");
	g_req(&r, sim, tok, "POST", path, NULL, body);
	cJSON_Delete(g_assert_error(&r, 400, "Request_BadRequest", DUP_MSG));
	it_resp_free(&r);
	TEST_ASSERT(g_stat(sim, "writes_noop") == noop0 + 1,
		    "duplicate counted as a no-op write");

	SUB_TEST("$ref add: unknown user 404, malformed id 400");
	rs_snprintf(body, sizeof(body),
		    "{\"@odata.id\":\"%s/directoryObjects/"
		    "00000000-0000-0000-0000-0000000000aa\"}",
		    gbase);
	g_req(&r, sim, tok, "POST", path, NULL, body);
	cJSON_Delete(g_assert_error(
		&r, 404, "Request_ResourceNotFound",
		"Resource '00000000-0000-0000-0000-0000000000aa' does not "
		"exist or one of its queried reference-property objects are "
		"not present."));
	it_resp_free(&r);
	rs_snprintf(body, sizeof(body),
		    "{\"@odata.id\":\"%s/directoryObjects/not-a-guid\"}", gbase);
	g_req(&r, sim, tok, "POST", path, NULL, body);
	cJSON_Delete(g_assert_error(&r, 400, "Request_BadRequest",
				    "Invalid object identifier"));
	it_resp_free(&r);

	SUB_TEST("DELETE members/{id}/$ref: 204, then 404");
	rs_snprintf(path, sizeof(path), "/groups/%s/members/%s/$ref", gid,
		    outsiders[0]);
	g_req(&r, sim, tok, "DELETE", path, NULL, NULL);
	TEST_ASSERT(r.status == 204 && r.len == 0, "remove: %ld %s", r.status,
		    r.body);
	it_resp_free(&r);
	TEST_ASSERT(!is_member(sim, gid, outsiders[0]), "removed");
	g_req(&r, sim, tok, "DELETE", path, NULL, NULL);
	cJSON_Delete(g_assert_error(&r, 404, "Request_ResourceNotFound",
				    "does not exist or one of its queried "
				    "reference-property objects are not "
				    "present."));
	it_resp_free(&r);
	rs_snprintf(path, sizeof(path), "/groups/%s/members/xyz/$ref", gid);
	g_req(&r, sim, tok, "DELETE", path, NULL, NULL);
	cJSON_Delete(g_assert_error(&r, 400, "Request_UnsupportedQuery",
				    "Unsupported referenced-object resource "
				    "identifier for link property "
				    "'members'."));
	it_resp_free(&r);

	SUB_TEST("PATCH bind: one existing member fails all, nothing applied");
	{
		const char *ids[4] = {outsiders[1], outsiders[2], outsiders[3],
				      member0};
		rs_snprintf(path, sizeof(path), "/groups/%s", gid);
		bind_body(body, sizeof(body), gbase, ids, 4);
		g_req(&r, sim, tok, "PATCH", path, NULL, body);
		cJSON_Delete(g_assert_error(&r, 400, "Request_BadRequest",
					    DUP_MSG));
		it_resp_free(&r);
		for (i = 1; i <= 3; i++)
			TEST_ASSERT(!is_member(sim, gid, outsiders[i]),
				    "nothing applied (%d)", i);
	}

	SUB_TEST("PATCH bind: 20 new members -> 204, all added");
	bind_body(body, sizeof(body), gbase, outsiders + 1, 20);
	g_req(&r, sim, tok, "PATCH", path, NULL, body);
	TEST_ASSERT(r.status == 204, "bind 20: %ld %s", r.status, r.body);
	it_resp_free(&r);
	for (i = 1; i <= 20; i++)
		TEST_ASSERT(is_member(sim, gid, outsiders[i]), "added %d", i);

	SUB_TEST("PATCH bind: 21 -> 400, nothing applied");
	bind_body(body, sizeof(body), gbase, outsiders + 3, 21);
	g_req(&r, sim, tok, "PATCH", path, NULL, body);
	cJSON_Delete(g_assert_error(&r, 400, "Request_BadRequest", "20"));
	it_resp_free(&r);
	TEST_ASSERT(!is_member(sim, gid, outsiders[22]) &&
			    !is_member(sim, gid, outsiders[23]),
		    "nothing applied");

	SUB_TEST("cross-tenant token: 404 and flagged");
	{
		double x0 = g_stat(sim, "cross_tenant");
		tok2 = g_token(sim, "t002");
		rs_snprintf(path, sizeof(path), "/groups/%s/members/$ref",
			    gid);
		rs_snprintf(body, sizeof(body),
			    "{\"@odata.id\":\"%s/directoryObjects/%s\"}",
			    gbase, outsiders[24]);
		g_req(&r, sim, tok2, "POST", path, NULL, body);
		cJSON_Delete(g_assert_error(&r, 404,
					    "Request_ResourceNotFound", gid));
		it_resp_free(&r);
		TEST_ASSERT(!is_member(sim, gid, outsiders[24]),
			    "not applied");
		TEST_ASSERT(g_stat(sim, "cross_tenant") == x0 + 1,
			    "flagged as cross-tenant");
		rs_free(tok2);
	}

	cJSON_Delete(root);
	rs_free(tok);
	rs_sim_destroy(sim);
	curl_global_cleanup();
	return rs_test_finish();
}
