/*
 * 0113-sim-graph-delta.c - Graph delta queries against the simulator
 * (graph.md §2 "Group delta"): the initial round pages the full state with
 * @odata.nextLink (big groups repeat with slices of members@delta, merged
 * by id) and ends with @odata.deltaLink; a later round with no change is
 * empty; membership changes come back as members@delta with "@removed";
 * $deltatoken=latest; an unknown token is 410 Gone with a Location;
 * $top is refused.
 */
#include "rs/rs_base.h"
#include "rs_test.h"
#include "sim_graph_it.h"

/* Follows a delta round from url to its deltaLink.  Calls fn for every
 * object; returns the deltaLink (rs_free()) and the number of pages. */
typedef void (*obj_fn)(cJSON *o, void *ud);

static char *walk(rs_sim_t *sim, const char *tok, const char *first,
		  const char *const *q, obj_fn fn, void *ud, int *pages) {
	char *next = NULL, *delta = NULL;
	it_resp_t r;
	cJSON *j, *o;

	*pages = 0;
	g_req(&r, sim, tok, "GET", first, q, NULL);
	for (;;) {
		TEST_ASSERT(r.status == 200, "delta page %d: %ld %.300s",
			    *pages, r.status, r.body);
		j = it_json(&r);
		cJSON_ArrayForEach(o, cJSON_GetObjectItemCaseSensitive(j,
								       "value"))
			fn(o, ud);
		(*pages)++;
		rs_free(next);
		next = it_jstr(j, "@odata.nextLink")
			       ? rs_strdup(it_jstr(j, "@odata.nextLink"))
			       : NULL;
		if (!next) {
			TEST_ASSERT(it_jstr(j, "@odata.deltaLink"),
				    "last page has a deltaLink");
			delta = rs_strdup(it_jstr(j, "@odata.deltaLink"));
			TEST_ASSERT(strstr(delta, "$deltatoken="),
				    "deltatoken");
		} else {
			TEST_ASSERT(!it_jstr(j, "@odata.deltaLink"),
				    "deltaLink only on the last page");
		}
		cJSON_Delete(j);
		it_resp_free(&r);
		if (!next)
			return delta;
		g_req(&r, sim, tok, "GET", next, NULL, NULL);
	}
}

/* Merged view: group id -> {"members": {uid: true|false(removed)}}. */
typedef struct merged_s {
	cJSON *groups;  /* object keyed by group id */
	int repeats;    /* group objects seen more than once */
	int removed_groups;
} merged_t;

static void merge_group(cJSON *o, void *ud) {
	merged_t *mg = ud;
	const char *id = it_jstr(o, "id");
	cJSON *g = cJSON_GetObjectItemCaseSensitive(mg->groups, id), *md, *m,
	      *mem;

	if (cJSON_GetObjectItemCaseSensitive(o, "@removed")) {
		mg->removed_groups++;
		return;
	}
	if (g) {
		mg->repeats++;
	} else {
		g = cJSON_AddObjectToObject(mg->groups, id);
		cJSON_AddObjectToObject(g, "members");
	}
	mem = cJSON_GetObjectItemCaseSensitive(g, "members");
	md = cJSON_GetObjectItemCaseSensitive(o, "members@delta");
	cJSON_ArrayForEach(m, md) {
		const char *uid = it_jstr(m, "id");
		TEST_ASSERT(!strcmp(it_jstr(m, "@odata.type"),
				    "#microsoft.graph.user"),
			    "typed member");
		cJSON_DeleteItemFromObjectCaseSensitive(mem, uid);
		cJSON_AddBoolToObject(
			mem, uid,
			!cJSON_GetObjectItemCaseSensitive(m, "@removed"));
	}
}

static void count_obj(cJSON *o, void *ud) {
	(void)o;
	(*(int *)ud)++;
}

int main(void) {
	rs_sim_conf_t conf;
	rs_sim_t *sim;
	char *tok, *dl, *dl2, path[512], body[512], hb[1024];
	const char *q[] = {"$select", "displayName,members", NULL};
	cJSON *root, *entra, *g, *m, *big = NULL, *u, *mem;
	const char *outsider = NULL, *victim;
	merged_t mg;
	int pages, n_users = 0, biggest = 0;
	it_resp_t r;

	curl_global_init(CURL_GLOBAL_ALL);
	rs_sim_conf_init(&conf);
	sim = it_sim_start(&conf, "tenants=1,users=400,queues=3,seed=9");
	tok = g_token(sim, "t001");
	entra = g_state(sim, "t001", &root);

	SUB_TEST("initial round: full state, big groups merged by id");
	mg.groups = cJSON_CreateObject();
	mg.repeats = mg.removed_groups = 0;
	dl = walk(sim, tok, "/groups/delta", q, merge_group, &mg, &pages);
	cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(entra,
							       "groups")) {
		cJSON *mm = cJSON_GetObjectItemCaseSensitive(
			mg.groups, it_jstr(g, "id"));
		int n = cJSON_GetArraySize(
			cJSON_GetObjectItemCaseSensitive(g, "members"));
		TEST_ASSERT(mm, "group %s in delta", it_jstr(g, "id"));
		mem = cJSON_GetObjectItemCaseSensitive(mm, "members");
		TEST_ASSERT(cJSON_GetArraySize(mem) == n,
			    "group %s: %d members in delta, %d in state",
			    it_jstr(g, "id"), cJSON_GetArraySize(mem), n);
		cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(
					      g, "members"))
			TEST_ASSERT(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
					    mem, m->valuestring)),
				    "member listed");
		if (n > biggest) {
			biggest = n;
			big = g;
		}
	}
	TEST_ASSERT(cJSON_GetArraySize(mg.groups) ==
			    cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(
				    entra, "groups")),
		    "no extra groups");
	/* graph.md §2: a group bigger than a slice repeats across pages. */
	if (biggest > 100)
		TEST_ASSERT(mg.repeats > 0 && pages > 1,
			    "big group repeated (%d members)", biggest);
	TEST_ASSERT(big, "a group");
	cJSON_Delete(mg.groups);

	SUB_TEST("no change: empty page with a new deltaLink");
	{
		int n = 0;
		dl2 = walk(sim, tok, dl, NULL, count_obj, &n, &pages);
		TEST_ASSERT(n == 0 && pages == 1, "empty (%d objects)", n);
		rs_free(dl);
		dl = dl2;
	}

	SUB_TEST("membership changes come back as members@delta");
	cJSON_ArrayForEach(u, cJSON_GetObjectItemCaseSensitive(entra,
							       "users")) {
		bool in = false;
		cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(
					      big, "members"))
			if (!strcmp(m->valuestring, it_jstr(u, "id")))
				in = true;
		if (!in)
			outsider = it_jstr(u, "id");
	}
	victim = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(big,
								     "members"),
				    0)
			 ->valuestring;
	rs_snprintf(path, sizeof(path), "/groups/%s/members/$ref",
		    it_jstr(big, "id"));
	rs_snprintf(body, sizeof(body),
		    "{\"@odata.id\":\"https://graph.microsoft.com/v1.0/"
		    "directoryObjects/%s\"}",
		    outsider);
	g_req(&r, sim, tok, "POST", path, NULL, body);
	TEST_ASSERT(r.status == 204, "add %ld", r.status);
	it_resp_free(&r);
	rs_snprintf(path, sizeof(path), "/groups/%s/members/%s/$ref",
		    it_jstr(big, "id"), victim);
	g_req(&r, sim, tok, "DELETE", path, NULL, NULL);
	TEST_ASSERT(r.status == 204, "remove %ld", r.status);
	it_resp_free(&r);
	mg.groups = cJSON_CreateObject();
	mg.repeats = mg.removed_groups = 0;
	dl2 = walk(sim, tok, dl, NULL, merge_group, &mg, &pages);
	TEST_ASSERT(cJSON_GetArraySize(mg.groups) == 1, "one group changed");
	mem = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(mg.groups, it_jstr(big, "id")),
		"members");
	TEST_ASSERT(cJSON_GetArraySize(mem) == 2, "two member changes");
	TEST_ASSERT(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(mem,
								  outsider)),
		    "added member without @removed");
	TEST_ASSERT(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(mem,
								   victim)),
		    "removed member with @removed");
	cJSON_Delete(mg.groups);
	rs_free(dl);
	dl = dl2;

	SUB_TEST("users delta: full walk, then latest");
	{
		const char *qu[] = {"$select", "displayName,mail", NULL};
		const char *ql[] = {"$deltatoken", "latest", NULL};
		int n = 0;
		char *udl = walk(sim, tok, "/users/delta", qu, count_obj,
				 &n_users, &pages);
		TEST_ASSERT(n_users == cJSON_GetArraySize(
					       cJSON_GetObjectItemCaseSensitive(
						       entra, "users")),
			    "all users (%d)", n_users);
		rs_free(udl);
		udl = walk(sim, tok, "/users/delta", ql, count_obj, &n,
			   &pages);
		TEST_ASSERT(n == 0 && pages == 1, "latest: no data");
		rs_free(udl);
	}

	SUB_TEST("unknown token: 410 Gone with Location; $top refused");
	g_req(&r, sim, tok, "GET", "/groups/delta?$deltatoken=abcdef", NULL,
	      NULL);
	cJSON_Delete(g_assert_error(&r, 410, "syncStateNotFound", NULL));
	TEST_ASSERT(it_header(&r, "Location", hb, sizeof(hb)) &&
			    strstr(hb, "/graph/v1.0/groups/delta"),
		    "Location to restart");
	it_resp_free(&r);
	{
		/* A users token is not a groups token. */
		const char *ql[] = {"$deltatoken", "latest", NULL};
		int n = 0;
		char *udl = walk(sim, tok, "/users/delta", ql, count_obj, &n,
				 &pages);
		char *tokpart = strstr(udl, "$deltatoken=");
		rs_snprintf(path, sizeof(path), "/groups/delta?%s", tokpart);
		g_req(&r, sim, tok, "GET", path, NULL, NULL);
		cJSON_Delete(g_assert_error(&r, 410, "syncStateNotFound",
					    NULL));
		it_resp_free(&r);
		rs_free(udl);
	}
	{
		const char *qt[] = {"$top", "5", NULL};
		g_req(&r, sim, tok, "GET", "/groups/delta", qt, NULL);
		cJSON_Delete(g_assert_error(&r, 400,
					    "Request_UnsupportedQuery", NULL));
		it_resp_free(&r);
	}

	SUB_TEST("$filter=id eq: only that group, in later rounds too");
	{
		char filter[4096];
		const char *qf[] = {"$filter", filter, NULL};
		const char *gid = it_jstr(big, "id"), *other = NULL;
		char *fdl;
		size_t o;
		int k;
		cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(
					      entra, "groups"))
			if (strcmp(it_jstr(g, "id"), gid))
				other = it_jstr(g, "id");
		TEST_ASSERT(other, "a second group");
		{
			/* A user who is not in the other group yet. */
			cJSON *og = NULL;
			cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(
						      entra, "groups"))
				if (!strcmp(it_jstr(g, "id"), other))
					og = g;
			victim = NULL;
			cJSON_ArrayForEach(u, cJSON_GetObjectItemCaseSensitive(
						      entra, "users")) {
				bool in = false;
				cJSON_ArrayForEach(
					m, cJSON_GetObjectItemCaseSensitive(
						   og, "members"))
					if (!strcmp(m->valuestring,
						    it_jstr(u, "id")))
						in = true;
				if (!in)
					victim = it_jstr(u, "id");
			}
			TEST_ASSERT(victim, "a non-member of the other group");
		}
		rs_snprintf(filter, sizeof(filter), "id eq '%s'", gid);
		mg.groups = cJSON_CreateObject();
		mg.repeats = mg.removed_groups = 0;
		fdl = walk(sim, tok, "/groups/delta", qf, merge_group, &mg,
			   &pages);
		TEST_ASSERT(cJSON_GetArraySize(mg.groups) == 1 &&
				    cJSON_GetObjectItemCaseSensitive(mg.groups,
								     gid),
			    "only the filtered group");
		cJSON_Delete(mg.groups);
		/* A change to another group is not in this round. */
		rs_snprintf(path, sizeof(path), "/groups/%s/members/$ref",
			    other);
		rs_snprintf(body, sizeof(body),
			    "{\"@odata.id\":\"https://graph.microsoft.com/"
			    "v1.0/directoryObjects/%s\"}",
			    victim);
		g_req(&r, sim, tok, "POST", path, NULL, body);
		TEST_ASSERT(r.status == 204, "add to other group: %ld",
			    r.status);
		it_resp_free(&r);
		{
			int n = 0;
			char *d2 = walk(sim, tok, fdl, NULL, count_obj, &n,
					&pages);
			TEST_ASSERT(n == 0, "filtered round ignores other "
					    "groups (%d)",
				    n);
			rs_free(d2);
		}
		rs_free(fdl);
		/* graph.md §2: at most 50 ids. */
		o = (size_t)snprintf(filter, sizeof(filter), "id eq '%s'", gid);
		for (k = 0; k < 50; k++)
			o += (size_t)snprintf(filter + o, sizeof(filter) - o,
					      " or id eq '%s'", gid);
		g_req(&r, sim, tok, "GET", "/groups/delta", qf, NULL);
		cJSON_Delete(g_assert_error(&r, 400,
					    "Request_UnsupportedQuery",
					    "Max allowed: 50"));
		it_resp_free(&r);
	}

	rs_free(dl);
	cJSON_Delete(root);
	rs_free(tok);
	rs_sim_destroy(sim);
	curl_global_cleanup();
	return rs_test_finish();
}
