/*
 * 0114-sim-graph-presence.c - Teams presence against the simulator
 * (graph.md §6): setPresence with the valid pairs only, sessionId = the
 * app's client id, expirationDuration PT5M..PT4H; GET presence; the user's
 * preferred presence winning over the session; clearPresence 200 then
 * 404; getPresencesByUserId (≤ 650 ids).
 */
#include "rs/rs_base.h"
#include "rs_test.h"
#include "sim_graph_it.h"

static void expect_presence(rs_sim_t *sim, const char *tok, const char *uid,
			    const char *av, const char *ac) {
	char path[256];
	it_resp_t r;
	cJSON *j;

	rs_snprintf(path, sizeof(path), "/users/%s/presence", uid);
	g_req(&r, sim, tok, "GET", path, NULL, NULL);
	TEST_ASSERT(r.status == 200, "get presence %ld %s", r.status, r.body);
	j = it_json(&r);
	TEST_ASSERT(!strcmp(it_jstr(j, "id"), uid), "id");
	TEST_ASSERT(!strcmp(it_jstr(j, "availability"), av) &&
			    !strcmp(it_jstr(j, "activity"), ac),
		    "presence %s/%s, want %s/%s", it_jstr(j, "availability"),
		    it_jstr(j, "activity"), av, ac);
	cJSON_Delete(j);
	it_resp_free(&r);
}

int main(void) {
	rs_sim_conf_t conf;
	rs_sim_t *sim;
	char *tok, *app, path[256], body[512], *ids;
	const char *uid, *uid2;
	cJSON *root, *entra, *j, *v;
	it_resp_t r;
	size_t o;
	int i;

	curl_global_init(CURL_GLOBAL_ALL);
	rs_sim_conf_init(&conf);
	sim = it_sim_start(&conf, "tenants=1,users=20,queues=2,seed=4");
	tok = g_token(sim, "t001");
	app = g_client_id(sim, "t001");
	entra = g_state(sim, "t001", &root);
	uid = it_jstr(cJSON_GetArrayItem(
			      cJSON_GetObjectItemCaseSensitive(entra, "users"),
			      0),
		      "id");
	uid2 = it_jstr(cJSON_GetArrayItem(
			       cJSON_GetObjectItemCaseSensitive(entra, "users"),
			       1),
		       "id");

	SUB_TEST("no session: Offline");
	expect_presence(sim, tok, uid, "Offline", "Offline");

	SUB_TEST("setPresence: valid pair -> 200, visible");
	rs_snprintf(path, sizeof(path), "/users/%s/presence/setPresence", uid);
	rs_snprintf(body, sizeof(body),
		    "{\"sessionId\":\"%s\",\"availability\":\"Busy\","
		    "\"activity\":\"InACall\",\"expirationDuration\":\"PT1H\"}",
		    app);
	g_req(&r, sim, tok, "POST", path, NULL, body);
	TEST_ASSERT(r.status == 200, "set %ld %s", r.status, r.body);
	it_resp_free(&r);
	expect_presence(sim, tok, uid, "Busy", "InACall");

	SUB_TEST("setPresence validation: pair, sessionId, duration");
	rs_snprintf(body, sizeof(body),
		    "{\"sessionId\":\"%s\",\"availability\":\"Busy\","
		    "\"activity\":\"Busy\"}",
		    app);
	g_req(&r, sim, tok, "POST", path, NULL, body);
	cJSON_Delete(g_assert_error(&r, 400, "BadRequest", NULL));
	it_resp_free(&r);
	g_req(&r, sim, tok, "POST", path, NULL,
	      "{\"sessionId\":\"22222222-2222-2222-2222-222222222222\","
	      "\"availability\":\"Away\",\"activity\":\"Away\"}");
	cJSON_Delete(g_assert_error(&r, 400, "BadRequest", "sessionId"));
	it_resp_free(&r);
	rs_snprintf(body, sizeof(body),
		    "{\"sessionId\":\"%s\",\"availability\":\"Away\","
		    "\"activity\":\"Away\",\"expirationDuration\":\"PT5H\"}",
		    app);
	g_req(&r, sim, tok, "POST", path, NULL, body);
	cJSON_Delete(g_assert_error(&r, 400, "BadRequest",
				    "expirationDuration"));
	it_resp_free(&r);
	rs_snprintf(body, sizeof(body),
		    "{\"sessionId\":\"%s\",\"availability\":\"Away\","
		    "\"activity\":\"Away\",\"expirationDuration\":\"PT4M\"}",
		    app);
	g_req(&r, sim, tok, "POST", path, NULL, body);
	TEST_ASSERT(r.status == 400, "PT4M is below the minimum");
	it_resp_free(&r);
	expect_presence(sim, tok, uid, "Busy", "InACall");

	SUB_TEST("preferred presence wins while a session exists");
	rs_snprintf(path, sizeof(path),
		    "/users/%s/presence/setUserPreferredPresence", uid);
	g_req(&r, sim, tok, "POST", path, NULL,
	      "{\"availability\":\"DoNotDisturb\",\"activity\":"
	      "\"DoNotDisturb\"}");
	TEST_ASSERT(r.status == 200, "pref %ld %s", r.status, r.body);
	it_resp_free(&r);
	expect_presence(sim, tok, uid, "DoNotDisturb", "DoNotDisturb");
	g_req(&r, sim, tok, "POST", path, NULL,
	      "{\"availability\":\"Offline\",\"activity\":\"Offline\"}");
	cJSON_Delete(g_assert_error(&r, 400, "BadRequest", NULL));
	it_resp_free(&r);
	rs_snprintf(path, sizeof(path),
		    "/users/%s/presence/clearUserPreferredPresence", uid);
	g_req(&r, sim, tok, "POST", path, NULL, "{}");
	TEST_ASSERT(r.status == 200, "clear pref %ld", r.status);
	it_resp_free(&r);
	expect_presence(sim, tok, uid, "Busy", "InACall");

	SUB_TEST("getPresencesByUserId");
	rs_snprintf(body, sizeof(body), "{\"ids\":[\"%s\",\"%s\"]}", uid,
		    uid2);
	g_req(&r, sim, tok, "POST", "/communications/getPresencesByUserId",
	      NULL, body);
	TEST_ASSERT(r.status == 200, "byid %ld %s", r.status, r.body);
	j = it_json(&r);
	v = cJSON_GetObjectItemCaseSensitive(j, "value");
	TEST_ASSERT(cJSON_GetArraySize(v) == 2, "two presences");
	TEST_ASSERT(!strcmp(it_jstr(cJSON_GetArrayItem(v, 0), "availability"),
			    "Busy") &&
			    !strcmp(it_jstr(cJSON_GetArrayItem(v, 1),
					    "availability"),
				    "Offline"),
		    "values: %s", r.body);
	cJSON_Delete(j);
	it_resp_free(&r);
	ids = rs_malloc(651 * 40 + 32);
	o = (size_t)snprintf(ids, 32, "{\"ids\":[");
	for (i = 0; i < 651; i++)
		o += (size_t)snprintf(ids + o, 41,
				      "%s\"%08d-0000-0000-0000-000000000000\"",
				      i ? "," : "", i);
	snprintf(ids + o, 4, "]}");
	g_req(&r, sim, tok, "POST", "/communications/getPresencesByUserId",
	      NULL, ids);
	cJSON_Delete(g_assert_error(&r, 400, "BadRequest", "650"));
	it_resp_free(&r);
	rs_free(ids);

	SUB_TEST("clearPresence: 200, then 404 (no such session)");
	rs_snprintf(path, sizeof(path), "/users/%s/presence/clearPresence",
		    uid);
	rs_snprintf(body, sizeof(body), "{\"sessionId\":\"%s\"}", app);
	g_req(&r, sim, tok, "POST", path, NULL, body);
	TEST_ASSERT(r.status == 200, "clear %ld %s", r.status, r.body);
	it_resp_free(&r);
	expect_presence(sim, tok, uid, "Offline", "Offline");
	g_req(&r, sim, tok, "POST", path, NULL, body);
	cJSON_Delete(g_assert_error(&r, 404, "NotFound", NULL));
	it_resp_free(&r);

	SUB_TEST("unknown user -> 404");
	g_req(&r, sim, tok, "GET",
	      "/users/00000000-0000-0000-0000-00000000abcd/presence", NULL,
	      NULL);
	cJSON_Delete(g_assert_error(&r, 404, "Request_ResourceNotFound", NULL));
	it_resp_free(&r);

	cJSON_Delete(root);
	rs_free(app);
	rs_free(tok);
	rs_sim_destroy(sim);
	curl_global_cleanup();
	return rs_test_finish();
}
