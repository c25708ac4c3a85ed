/*
 * 0103-sim-throttle.c - the shared throttle (graph.md §5) that every Graph
 * endpoint charges through sim_graph_throttle(): a per-tenant RU budget per
 * 10 s window answered with the Graph 429 (TooManyRequests envelope,
 * Retry-After that may be fractional and is exact: waiting it is enough),
 * other tenants unaffected, a global per-app budget across tenants, the
 * write budget; plus the optional Talkdesk per-account rate over HTTP.
 *
 * The Graph endpoints live in sim_graph*.c; this test drives the mechanism
 * they call with real Graph tokens from the sim's login endpoint.
 */
#include "rs/rs_base.h"
#include "rs_test.h"
#include "sim_it.h"
#include "sim_int.h"

/* A Graph token for tenant t through the login endpoint. */
static char *graph_token(rs_sim_t *sim, const cJSON *t) {
	char url[512], form[1024];
	const char *hdr[] = {
		"Content-Type: application/x-www-form-urlencoded", NULL};
	it_resp_t r;
	cJSON *j;
	char *tok;
	rs_snprintf(url, sizeof(url), "%s/login/%s/oauth2/v2.0/token",
		    rs_sim_base_url(sim), it_jstr(t, "entra_tenant_id"));
	rs_snprintf(form, sizeof(form),
		    "client_id=%s&client_secret=%s&grant_type="
		    "client_credentials&scope=https://graph.microsoft.com/"
		    ".default",
		    it_jstr(t, "graph_client_id"),
		    it_jstr(t, "graph_client_secret"));
	it_http(&r, "POST", url, hdr, form, NULL, 0);
	TEST_ASSERT(r.status == 200, "login %ld %s", r.status, r.body);
	j = it_json(&r);
	tok = rs_strdup(it_jstr(j, "access_token"));
	cJSON_Delete(j);
	it_resp_free(&r);
	return tok;
}

/* One charge as a Graph handler would do it; returns the status. */
static int charge(rs_sim_t *sim, const char *tok, int cost, bool write,
		  sim_resp_t *keep) {
	char auth[2048];
	const char *hn[] = {"Authorization"};
	const char *hv[] = {auth};
	sim_req_t req;
	sim_resp_t resp;
	int status;

	rs_snprintf(auth, sizeof(auth), "Bearer %s", tok);
	TEST_ASSERT(sim_req_init(&req, sim, NULL, "GET",
				 "/graph/v1.0/users?$top=5", hn, hv, 1, NULL,
				 0) == RS_OK,
		    "req init");
	TEST_ASSERT(sim_req_auth(&req, SIM_SVC_GRAPH) == SIM_AUTH_OK,
		    "graph token resolves");
	sim_resp_init(&resp);
	status = sim_graph_throttle(&req, &resp, cost, write) ? 200 : 429;
	if (status == 200)
		TEST_ASSERT(sim_resp_get_header(&resp, "x-ms-resource-unit"),
			    "x-ms-resource-unit on success");
	else
		TEST_ASSERT(resp.status == 429, "resp status 429");
	if (keep)
		*keep = resp;
	else
		sim_resp_cleanup(&resp);
	sim_req_cleanup(&req);
	return status;
}

int main(void) {
	rs_sim_conf_t conf;
	rs_sim_t *sim;
	cJSON *r1, *r2, *r3, *t1, *t2, *t3, *j;
	char *g1, *g2, *g3, *td1, *td2;
	sim_resp_t resp;
	const char *ra, *scope;
	double secs;
	int i, st;
	it_resp_t r;
	char hb[64];

	curl_global_init(CURL_GLOBAL_DEFAULT);
	rs_sim_conf_init(&conf);
	conf.ru_budget = 100; /* 100 RU per 10 s = 10 RU/s */
	conf.app_budget = 0;  /* off for the first part */
	conf.write_budget = 5;
	conf.talkdesk_rate = 5;
	sim = it_sim_start(&conf, "tenants=3,users=30,queues=3,seed=5,"
				  "cert_every=0");
	t1 = it_tenant(sim, "t001", &r1);
	t2 = it_tenant(sim, "t002", &r2);
	t3 = it_tenant(sim, "t003", &r3);
	g1 = graph_token(sim, t1);
	g2 = graph_token(sim, t2);
	g3 = graph_token(sim, t3);

	SUB_TEST("tenant RU budget: 33 x 3 RU pass, the 34th is a 429");
	for (i = 0; i < 33; i++)
		TEST_ASSERT(charge(sim, g1, 3, false, NULL) == 200,
			    "charge %d within budget", i);
	st = charge(sim, g1, 3, false, &resp);
	TEST_ASSERT(st == 429, "over budget");
	j = cJSON_Parse(resp.body);
	TEST_ASSERT(j && !strcmp(it_jstr(cJSON_GetObjectItem(j, "error"),
					  "code"),
				 "TooManyRequests"),
		    "Graph 429 body: %s", resp.body);
	TEST_ASSERT(it_jstr(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "error"),
						"innerError"),
			    "request-id"),
		    "innerError request-id");
	cJSON_Delete(j);
	ra = sim_resp_get_header(&resp, "Retry-After");
	TEST_ASSERT(ra, "Retry-After present");
	secs = strtod(ra, NULL);
	TEST_ASSERT(strchr(ra, '.') && secs > 0.2 && secs < 1.0,
		    "fractional Retry-After, got %s", ra);
	scope = sim_resp_get_header(&resp, "x-ms-throttle-scope");
	TEST_ASSERT(scope && !strncmp(scope, "Tenant_Application/Read/", 24) &&
			    strstr(scope, it_jstr(t1, "entra_tenant_id")),
		    "throttle scope %s", scope ? scope : "(none)");
	TEST_ASSERT(sim_resp_get_header(&resp, "request-id"),
		    "request-id header");
	sim_resp_cleanup(&resp);

	SUB_TEST("an immediate retry is throttled again (throttled requests "
		 "count)");
	TEST_ASSERT(charge(sim, g1, 3, false, NULL) == 429, "still throttled");

	SUB_TEST("other tenants are unaffected");
	for (i = 0; i < 20; i++)
		TEST_ASSERT(charge(sim, g2, 3, false, NULL) == 200,
			    "t002 charge %d", i);

	SUB_TEST("waiting exactly Retry-After is enough");
	st = charge(sim, g1, 3, false, &resp);
	TEST_ASSERT(st == 429, "throttled");
	secs = strtod(sim_resp_get_header(&resp, "Retry-After"), NULL);
	sim_resp_cleanup(&resp);
	rs_sleep_ms((int64_t)(secs * 1000) + 20);
	TEST_ASSERT(charge(sim, g1, 3, false, NULL) == 200,
		    "passes after %.3f s", secs);

	SUB_TEST("write budget: 5 writes, the 6th is a 429 WriteLimitExceeded");
	for (i = 0; i < 5; i++)
		TEST_ASSERT(charge(sim, g3, 1, true, NULL) == 200, "write %d",
			    i);
	TEST_ASSERT(charge(sim, g3, 1, true, &resp) == 429, "6th write");
	TEST_ASSERT(!strcmp(sim_resp_get_header(&resp,
						"x-ms-throttle-information"),
			    "WriteLimitExceeded"),
		    "write limit info");
	TEST_ASSERT(!strncmp(sim_resp_get_header(&resp, "x-ms-throttle-scope"),
			     "Tenant/Write/", 13),
		    "write scope");
	sim_resp_cleanup(&resp);
	TEST_ASSERT(charge(sim, g3, 1, false, NULL) == 200,
		    "reads still pass while writes are throttled");

	SUB_TEST("Talkdesk per-account rate: 429 0012001 with Retry-After");
	td1 = it_td_token(sim, t1, NULL);
	td2 = it_td_token(sim, t2, NULL);
	for (i = 0; i < 5; i++) {
		it_get(&r, sim, td1, "/talkdesk/users?per_page=1");
		TEST_ASSERT(r.status == 200, "td %d: %ld", i, r.status);
		it_resp_free(&r);
	}
	it_get(&r, sim, td1, "/talkdesk/users?per_page=1");
	TEST_ASSERT(r.status == 429 && strstr(r.body, "0012001") &&
			    it_header(&r, "Retry-After", hb, sizeof(hb)),
		    "td 429: %ld %s", r.status, r.body);
	it_resp_free(&r);
	it_get(&r, sim, td2, "/talkdesk/users?per_page=1");
	TEST_ASSERT(r.status == 200, "other account unaffected");
	it_resp_free(&r);
	rs_free(td1);
	rs_free(td2);
	rs_free(g1);
	rs_free(g2);
	rs_free(g3);
	cJSON_Delete(r1);
	cJSON_Delete(r2);
	cJSON_Delete(r3);
	rs_sim_destroy(sim);

	SUB_TEST("over HTTP: a Graph endpoint answers the 429 with Retry-After");
	rs_sim_conf_init(&conf);
	conf.ru_budget = 20;
	sim = it_sim_start(&conf, "tenants=2,users=30,queues=2,seed=5,"
				  "cert_every=0");
	t1 = it_tenant(sim, "t001", &r1);
	t2 = it_tenant(sim, "t002", &r2);
	g1 = graph_token(sim, t1);
	g2 = graph_token(sim, t2);
	st = 0;
	for (i = 0; i < 60 && st != 429; i++) {
		it_get(&r, sim, g1, "/graph/v1.0/users?$top=5");
		st = (int)r.status;
		TEST_ASSERT(st == 200 || st == 429, "status %d: %s", st,
			    r.body);
		if (st == 429) {
			TEST_ASSERT(it_header(&r, "Retry-After", hb, sizeof(hb)) &&
					    strtod(hb, NULL) > 0,
				    "Retry-After header");
			TEST_ASSERT(strstr(r.body, "\"TooManyRequests\""),
				    "Graph 429 body");
		}
		it_resp_free(&r);
	}
	TEST_ASSERT(st == 429, "a 20 RU budget runs out within 60 calls");
	it_get(&r, sim, g2, "/graph/v1.0/users?$top=5");
	TEST_ASSERT(r.status == 200, "other tenant unaffected: %ld", r.status);
	it_resp_free(&r);
	rs_free(g1);
	rs_free(g2);
	cJSON_Delete(r1);
	cJSON_Delete(r2);
	rs_sim_destroy(sim);

	SUB_TEST("global per-app budget across tenants");
	rs_sim_conf_init(&conf);
	conf.ru_budget = 100000;
	conf.app_budget = 30;
	sim = it_sim_start(&conf, "tenants=3,users=30,queues=3,seed=5,"
				  "cert_every=0");
	t1 = it_tenant(sim, "t001", &r1);
	t2 = it_tenant(sim, "t002", &r2);
	t3 = it_tenant(sim, "t003", &r3);
	g1 = graph_token(sim, t1);
	g2 = graph_token(sim, t2);
	g3 = graph_token(sim, t3);
	for (i = 0; i < 30; i++)
		TEST_ASSERT(charge(sim, i % 2 ? g1 : g2, 1, false, NULL) == 200,
			    "app charge %d", i);
	TEST_ASSERT(charge(sim, g3, 1, false, &resp) == 429,
		    "a third tenant hits the app budget");
	TEST_ASSERT(!strncmp(sim_resp_get_header(&resp, "x-ms-throttle-scope"),
			     "Application/", 12),
		    "application scope: %s",
		    sim_resp_get_header(&resp, "x-ms-throttle-scope"));
	sim_resp_cleanup(&resp);
	rs_free(g1);
	rs_free(g2);
	rs_free(g3);
	cJSON_Delete(r1);
	cJSON_Delete(r2);
	cJSON_Delete(r3);
	rs_sim_destroy(sim);
	curl_global_cleanup();
	return rs_test_finish();
}
