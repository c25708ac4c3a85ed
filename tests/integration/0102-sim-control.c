/*
 * 0102-sim-control.c - the simulator's control API (/_sim): tenants and
 * state documents, ledger (every request, secrets redacted, bounded ring),
 * stats, scripted faults (N x 429 with fractional Retry-After, 5xx bursts,
 * malformed bodies, dropped connections, hangs, latency; per tenant),
 * deterministic churn, reset, and cross-tenant attempts counted.
 */
#include "rs/rs_base.h"
#include "rs_test.h"
#include "sim_it.h"

#include <pthread.h>

static void ctl(rs_sim_t *sim, const char *method, const char *path,
		const char *body, long want, it_resp_t *out) {
	char url[512];
	it_resp_t r;
	rs_snprintf(url, sizeof(url), "%s%s", rs_sim_base_url(sim), path);
	it_http(&r, method, url, NULL, body, NULL, 0);
	TEST_ASSERT(r.status == want, "%s %s: want %ld got %ld: %s", method,
		    path, want, r.status, r.body);
	if (out)
		*out = r;
	else
		it_resp_free(&r);
}

typedef struct slow_arg_s {
	rs_sim_t *sim;
	const char *tok;
	long status;
	double secs;
} slow_arg_t;

static void *slow_get(void *arg) {
	slow_arg_t *a = arg;
	it_resp_t r;
	it_get(&r, a->sim, a->tok, "/talkdesk/ccaas/queues");
	a->status = r.status;
	a->secs = r.secs;
	it_resp_free(&r);
	return NULL;
}

static cJSON *tenant_state(cJSON *state, const char *tid) {
	return cJSON_GetObjectItem(cJSON_GetObjectItem(state, "tenants"), tid);
}

int main(void) {
	rs_sim_conf_t conf;
	rs_sim_t *sim, *simb;
	cJSON *troot, *t1, *t2root, *t2, *j, *arr, *e;
	char *tok, *tok2, *s, *s0, *sa, *sb, path[512], hb[64];
	it_resp_t r;
	int i;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	rs_sim_conf_init(&conf);
	conf.ledger_size = 50;
	sim = it_sim_start(&conf, "tenants=2,users=40,queues=4,seed=11");
	t1 = it_tenant(sim, "t001", &troot);
	t2 = it_tenant(sim, "t002", &t2root);
	tok = it_td_token(sim, t1, NULL);
	tok2 = it_td_token(sim, t2, NULL);

	SUB_TEST("GET /_sim/tenants: credentials and mapping");
	ctl(sim, "GET", "/_sim/tenants", NULL, 200, &r);
	j = it_json(&r);
	TEST_ASSERT(cJSON_GetArraySize(j) == 2, "two tenants");
	e = cJSON_GetArrayItem(j, 0);
	TEST_ASSERT(it_jstr(e, "id") && it_jstr(e, "entra_tenant_id") &&
			    it_jstr(e, "graph_client_id") &&
			    it_jstr(e, "talkdesk_client_id") &&
			    it_jstr(e, "talkdesk_client_secret"),
		    "fields");
	TEST_ASSERT(cJSON_GetArraySize(cJSON_GetObjectItem(e, "mapping")) == 2,
		    "mapping: one group per queue");
	cJSON_Delete(j);
	it_resp_free(&r);

	SUB_TEST("GET /_sim/state: shape, and mapping groups exist");
	ctl(sim, "GET", "/_sim/state?tenant=t001", NULL, 200, &r);
	j = it_json(&r);
	e = tenant_state(j, "t001");
	TEST_ASSERT(e && !tenant_state(j, "t002"), "only t001");
	arr = cJSON_GetObjectItem(cJSON_GetObjectItem(e, "entra"), "users");
	TEST_ASSERT(cJSON_GetArraySize(arr) == 20, "20 entra users");
	TEST_ASSERT(it_jstr(cJSON_GetArrayItem(arr, 0), "userPrincipalName"),
		    "upn");
	arr = cJSON_GetObjectItem(cJSON_GetObjectItem(e, "entra"), "groups");
	TEST_ASSERT(cJSON_IsArray(cJSON_GetObjectItem(
			    cJSON_GetArrayItem(arr, 0), "members")) &&
			    cJSON_IsArray(cJSON_GetObjectItem(
				    cJSON_GetArrayItem(arr, 0), "owners")),
		    "members/owners");
	arr = cJSON_GetObjectItem(cJSON_GetObjectItem(e, "talkdesk"), "queues");
	TEST_ASSERT(cJSON_GetArraySize(arr) == 2 &&
			    cJSON_IsArray(cJSON_GetObjectItem(
				    cJSON_GetArrayItem(arr, 0), "users")),
		    "queues with users");
	cJSON_Delete(j);
	it_resp_free(&r);
	ctl(sim, "GET", "/_sim/state?tenant=nosuch", NULL, 404, NULL);

	SUB_TEST("ledger: secrets redacted, authorization scheme only");
	it_get(&r, sim, tok,
	       "/talkdesk/users?client_secret=hunter2&per_page=2&access_token=xyz");
	it_resp_free(&r);
	ctl(sim, "GET", "/_sim/ledger", NULL, 200, &r);
	TEST_ASSERT(!strstr(r.body, "hunter2") && !strstr(r.body, "xyz") &&
			    !strstr(r.body, tok),
		    "a secret leaked into the ledger: %s", r.body);
	TEST_ASSERT(strstr(r.body, "client_secret=REDACTED") &&
			    strstr(r.body, "per_page=2"),
		    "query recorded with redaction");
	TEST_ASSERT(strstr(r.body, "\"authorization\":\"Bearer ***\""),
		    "auth scheme recorded");
	j = it_json(&r);
	e = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "requests"),
			       cJSON_GetArraySize(cJSON_GetObjectItem(
				       j, "requests")) -
				       1);
	TEST_ASSERT(!strcmp(it_jstr(e, "method"), "GET") &&
			    !strcmp(it_jstr(e, "path"), "/talkdesk/users") &&
			    it_jnum(e, "status") == 200 &&
			    !strcmp(it_jstr(e, "tenant"), "t001") &&
			    it_jstr(e, "time") && it_jnum(e, "latency_ms") >= 0,
		    "entry fields");
	cJSON_Delete(j);
	it_resp_free(&r);

	SUB_TEST("ledger is a bounded ring (ledger_size 50)");
	for (i = 0; i < 60; i++) {
		it_get(&r, sim, tok, "/talkdesk/users?per_page=1");
		it_resp_free(&r);
	}
	ctl(sim, "GET", "/_sim/ledger", NULL, 200, &r);
	j = it_json(&r);
	TEST_ASSERT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "requests")) ==
				50 &&
			    it_jnum(j, "total") >= 60,
		    "ring keeps the last 50");
	cJSON_Delete(j);
	it_resp_free(&r);

	SUB_TEST("stats: per endpoint and status");
	ctl(sim, "GET", "/_sim/stats", NULL, 200, &r);
	j = it_json(&r);
	e = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "endpoints"),
				"talkdesk.users.list");
	TEST_ASSERT(e && it_jnum(e, "200") >= 61, "users.list 200 count");
	TEST_ASSERT(it_jnum(j, "requests") >= 61, "requests");
	cJSON_Delete(j);
	it_resp_free(&r);

	SUB_TEST("DELETE ledger / stats clear them");
	ctl(sim, "DELETE", "/_sim/ledger", NULL, 204, NULL);
	ctl(sim, "GET", "/_sim/ledger", NULL, 200, &r);
	TEST_ASSERT(strstr(r.body, "\"requests\":[]"), "ledger empty");
	it_resp_free(&r);
	ctl(sim, "DELETE", "/_sim/stats", NULL, 204, NULL);
	ctl(sim, "GET", "/_sim/stats", NULL, 200, &r);
	TEST_ASSERT(strstr(r.body, "\"requests\":1,") ||
			    strstr(r.body, "\"requests\":0,"),
		    "stats reset: %s", r.body);
	it_resp_free(&r);

	SUB_TEST("faults: 2 x 429 with Retry-After (fractional), then OK");
	ctl(sim, "POST", "/_sim/faults",
	    "{\"tenant\":\"t001\",\"path\":\"/talkdesk/users*\",\"errors\":["
	    "{\"status\":429,\"retry_after\":\"1.5\"},"
	    "{\"status\":429,\"retry_after\":0.25}]}",
	    200, NULL);
	/* Tenant 2 is not affected by t001's rule. */
	it_get(&r, sim, tok2, "/talkdesk/users?per_page=1");
	TEST_ASSERT(r.status == 200, "t002 unaffected: %ld", r.status);
	it_resp_free(&r);
	it_get(&r, sim, tok, "/talkdesk/users?per_page=1");
	TEST_ASSERT(r.status == 429 && strstr(r.body, "\"0012001\""),
		    "first 429: %ld %s", r.status, r.body);
	TEST_ASSERT(it_header(&r, "Retry-After", hb, sizeof(hb)) &&
			    !strcmp(hb, "1.5"),
		    "Retry-After 1.5");
	it_resp_free(&r);
	it_get(&r, sim, tok, "/talkdesk/users?per_page=1");
	TEST_ASSERT(r.status == 429 &&
			    it_header(&r, "Retry-After", hb, sizeof(hb)) &&
			    !strcmp(hb, "0.25"),
		    "second 429 Retry-After 0.25");
	it_resp_free(&r);
	it_get(&r, sim, tok, "/talkdesk/users?per_page=1");
	TEST_ASSERT(r.status == 200, "third OK: %ld", r.status);
	it_resp_free(&r);
	e = it_ledger_last(sim, "/talkdesk/users", &j);
	TEST_ASSERT(e && !it_jstr(e, "fault"), "last has no fault");
	cJSON_Delete(j);

	SUB_TEST("faults: 5xx burst");
	ctl(sim, "POST", "/_sim/faults",
	    "{\"path\":\"/talkdesk/ccaas/*\",\"status\":503,\"count\":2,"
	    "\"retry_after\":\"2\"}",
	    200, NULL);
	for (i = 0; i < 3; i++) {
		it_get(&r, sim, tok, "/talkdesk/ccaas/queues");
		TEST_ASSERT(r.status == (i < 2 ? 503 : 200), "call %d: %ld", i,
			    r.status);
		if (i < 2)
			TEST_ASSERT(strstr(r.body, "Load Shedding"),
				    "load shedding body");
		it_resp_free(&r);
	}

	SUB_TEST("faults: matched by endpoint name");
	ctl(sim, "POST", "/_sim/faults",
	    "{\"endpoint\":\"talkdesk.users.g*\",\"status\":500}", 200,
	    NULL);
	it_get(&r, sim, tok, "/talkdesk/users?per_page=1");
	TEST_ASSERT(r.status == 200, "list not matched: %ld", r.status);
	it_resp_free(&r);
	{
		char *st1 = rs_sim_state_json(sim, "t001");
		cJSON *x = cJSON_Parse(st1);
		rs_free(st1);
		rs_snprintf(path, sizeof(path), "/talkdesk/users/%s",
			    it_jstr(cJSON_GetArrayItem(
					    cJSON_GetObjectItem(
						    cJSON_GetObjectItem(
							    tenant_state(x, "t001"),
							    "talkdesk"),
						    "users"),
					    0),
				    "id"));
		cJSON_Delete(x);
	}
	it_get(&r, sim, tok, path);
	TEST_ASSERT(r.status == 500, "users.get matched: %ld", r.status);
	it_resp_free(&r);

	SUB_TEST("faults: malformed body");
	ctl(sim, "POST", "/_sim/faults",
	    "{\"path\":\"/talkdesk/users\",\"kind\":\"malformed\"}", 200, NULL);
	it_get(&r, sim, tok, "/talkdesk/users");
	TEST_ASSERT(r.status == 200, "status kept");
	j = cJSON_Parse(r.body);
	TEST_ASSERT(!j, "body must not parse: %s", r.body);
	it_resp_free(&r);

	SUB_TEST("faults: dropped connection and hang");
	ctl(sim, "POST", "/_sim/faults",
	    "[{\"path\":\"/talkdesk/users\",\"kind\":\"drop\"},"
	    "{\"path\":\"/talkdesk/users\",\"kind\":\"hang\",\"ms\":300}]",
	    200, NULL);
	it_get(&r, sim, tok, "/talkdesk/users");
	TEST_ASSERT(r.cc != CURLE_OK && r.status == 0, "dropped: %d %ld",
		    (int)r.cc, r.status);
	it_resp_free(&r);
	it_get(&r, sim, tok, "/talkdesk/users");
	TEST_ASSERT(r.cc != CURLE_OK && r.secs >= 0.29, "hang %.3f s",
		    r.secs);
	it_resp_free(&r);
	it_get(&r, sim, tok, "/talkdesk/users");
	TEST_ASSERT(r.status == 200, "after the script: OK");
	it_resp_free(&r);

	SUB_TEST("faults: latency");
	ctl(sim, "POST", "/_sim/faults",
	    "{\"path\":\"/talkdesk/users\",\"latency\":{\"min_ms\":200,"
	    "\"max_ms\":200},\"count\":1}",
	    200, NULL);
	it_get(&r, sim, tok, "/talkdesk/users");
	TEST_ASSERT(r.status == 200 && r.secs >= 0.19, "latency %.3f",
		    r.secs);
	it_resp_free(&r);
	it_get(&r, sim, tok, "/talkdesk/users");
	TEST_ASSERT(r.secs < 0.19, "latency used up");
	it_resp_free(&r);

	SUB_TEST("faults: bad documents are 400, listing and clearing");
	ctl(sim, "POST", "/_sim/faults", "{\"status\":99}", 400, NULL);
	ctl(sim, "POST", "/_sim/faults", "not json", 400, NULL);
	ctl(sim, "POST", "/_sim/faults", "{\"path\":\"/x\"}", 400, NULL);
	{
		/* Regression: a body with NUL bytes overflowed the request
		 * copy when it was wiped (found with ASan). */
		static const char nul_body[64] = {'{', 0, 0, '}'};
		char url[256];
		long code = 0;
		CURL *c = curl_easy_init();
		rs_snprintf(url, sizeof(url), "%s/_sim/faults",
			    rs_sim_base_url(sim));
		curl_easy_setopt(c, CURLOPT_URL, url);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, nul_body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE,
				 (long)sizeof(nul_body));
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, it_body_cb);
		memset(&r, 0, sizeof(r));
		curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
		TEST_ASSERT(curl_easy_perform(c) == CURLE_OK, "answered");
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
		curl_easy_cleanup(c);
		it_resp_free(&r);
		TEST_ASSERT(code == 400, "NUL body: %ld", code);
	}
	ctl(sim, "POST", "/_sim/faults",
	    "{\"path\":\"/talkdesk/nothing\",\"status\":500,\"count\":5}", 200,
	    &r);
	j = it_json(&r);
	TEST_ASSERT(cJSON_GetArraySize(j) == 1, "one active rule");
	cJSON_Delete(j);
	it_resp_free(&r);
	ctl(sim, "DELETE", "/_sim/faults", NULL, 204, NULL);
	ctl(sim, "GET", "/_sim/faults", NULL, 200, &r);
	TEST_ASSERT(!strcmp(r.body, "[]"), "cleared");
	it_resp_free(&r);

	SUB_TEST("cross-tenant token use counted in stats");
	{
		char *st2 = rs_sim_state_json(sim, "t002");
		cJSON *x = cJSON_Parse(st2);
		const char *q2 = it_jstr(
			cJSON_GetArrayItem(
				cJSON_GetObjectItem(
					cJSON_GetObjectItem(
						tenant_state(x, "t002"),
						"talkdesk"),
					"queues"),
				0),
			"id");
		rs_free(st2);
		rs_snprintf(path, sizeof(path),
			    "/talkdesk/ccaas/queues/%s/users", q2);
		it_get(&r, sim, tok, path);
		TEST_ASSERT(r.status == 404, "foreign queue: %ld", r.status);
		it_resp_free(&r);
		cJSON_Delete(x);
		ctl(sim, "GET", "/_sim/stats", NULL, 200, &r);
		j = it_json(&r);
		TEST_ASSERT(it_jnum(j, "cross_tenant") >= 1, "counted");
		cJSON_Delete(j);
		it_resp_free(&r);
	}

	SUB_TEST("churn is deterministic and changes the sources");
	s0 = rs_sim_state_json(sim, NULL);
	simb = it_sim_start(&conf, "tenants=2,users=40,queues=4,seed=11");
	sb = rs_sim_state_json(simb, NULL);
	TEST_ASSERT(!strcmp(s0, sb), "same seed, same dataset");
	rs_free(sb);
	ctl(sim, "POST", "/_sim/churn?changes=25", NULL, 200, &r);
	j = it_json(&r);
	TEST_ASSERT(it_jnum(cJSON_GetObjectItem(cJSON_GetObjectItem(
							j, "tenants"),
						"t001"),
			    "round") == 1,
		    "round 1");
	cJSON_Delete(j);
	it_resp_free(&r);
	TEST_ASSERT(rs_sim_churn(simb, NULL, 25, NULL) == RS_OK, "churn b");
	sa = rs_sim_state_json(sim, NULL);
	sb = rs_sim_state_json(simb, NULL);
	TEST_ASSERT(strcmp(sa, s0), "churn changed something");
	TEST_ASSERT(!strcmp(sa, sb), "same churn on both sims");
	rs_free(sa);
	rs_free(sb);
	ctl(sim, "POST", "/_sim/churn?tenant=nosuch", NULL, 404, NULL);
	rs_sim_destroy(simb);

	SUB_TEST("reset: back to the generated state, ledger and tokens gone");
	ctl(sim, "POST", "/_sim/reset", NULL, 200, NULL);
	s = rs_sim_state_json(sim, NULL);
	TEST_ASSERT(!strcmp(s, s0), "state restored");
	rs_free(s);
	rs_free(s0);
	ctl(sim, "GET", "/_sim/ledger", NULL, 200, &r);
	j = it_json(&r);
	TEST_ASSERT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "requests")) == 0,
		    "ledger cleared");
	cJSON_Delete(j);
	it_resp_free(&r);
	it_get(&r, sim, tok, "/talkdesk/users");
	TEST_ASSERT(r.status == 401, "old tokens are gone");
	it_resp_free(&r);

	SUB_TEST("a held (latency) answer does not block the only thread");
	{
		rs_sim_conf_t c1;
		rs_sim_t *s1;
		cJSON *r1, *tt;
		char *t1tok;
		pthread_t th;
		slow_arg_t sa_;
		int64_t t0;

		rs_sim_conf_init(&c1);
		c1.threads = 1;
		s1 = it_sim_start(&c1, "tenants=1,users=10,queues=1,seed=1");
		tt = it_tenant(s1, "t001", &r1);
		t1tok = it_td_token(s1, tt, NULL);
		TEST_ASSERT(rs_sim_faults_push(s1,
					       "{\"path\":\"/talkdesk/ccaas/*\","
					       "\"latency\":{\"min_ms\":800,"
					       "\"max_ms\":800},\"count\":1}",
					       hb, sizeof(hb)) == RS_OK,
			    "fault");
		sa_.sim = s1;
		sa_.tok = t1tok;
		t0 = rs_now_ms();
		pthread_create(&th, NULL, slow_get, &sa_);
		rs_sleep_ms(100);
		it_get(&r, s1, t1tok, "/talkdesk/users?per_page=1");
		TEST_ASSERT(r.status == 200 && rs_now_ms() - t0 < 600,
			    "fast request answered while the slow one waits "
			    "(%lld ms)",
			    (long long)(rs_now_ms() - t0));
		it_resp_free(&r);
		pthread_join(th, NULL);
		TEST_ASSERT(sa_.status == 200 && sa_.secs >= 0.79,
			    "slow request answered after its latency: %ld "
			    "%.3f",
			    sa_.status, sa_.secs);
		rs_free(t1tok);
		cJSON_Delete(r1);
		rs_sim_destroy(s1);
	}

	SUB_TEST("unknown control path and service: 404");
	ctl(sim, "GET", "/_sim/nope", NULL, 404, NULL);
	ctl(sim, "GET", "/nothing/here", NULL, 404, NULL);

	cJSON_Delete(troot);
	cJSON_Delete(t2root);
	rs_free(tok);
	rs_free(tok2);
	rs_sim_destroy(sim);
	curl_global_cleanup();
	return rs_test_finish();
}
