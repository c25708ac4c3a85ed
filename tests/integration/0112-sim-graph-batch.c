/*
 * 0112-sim-graph-batch.c - Graph JSON batching against the simulator
 * (graph.md §4): per-item status/headers/body answered independently,
 * > 20 requests → 400, dependsOn on a failed request → 424, a per-item 429
 * carrying its own Retry-After (injected fault, and the RU budget), the
 * outer batch staying 200.
 */
#include "rs/rs_base.h"
#include "rs_test.h"
#include "sim_graph_it.h"

/* The response item with this id (order is not guaranteed, §4). */
static cJSON *item(cJSON *j, const char *id) {
	cJSON *it;

	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j,
								"responses"))
		if (!strcmp(it_jstr(it, "id"), id))
			return it;
	TEST_FAIL("no response for id %s", id);
}

static int status_of(cJSON *j, const char *id) {
	return (int)it_jnum(item(j, id), "status");
}

static const char *err_code(cJSON *it) {
	cJSON *b = cJSON_GetObjectItemCaseSensitive(it, "body");
	return it_jstr(cJSON_GetObjectItemCaseSensitive(b, "error"), "code");
}

/* The value of an item header, any name case (§4: not normalized). */
static const char *item_header(cJSON *it, const char *name) {
	cJSON *h;

	cJSON_ArrayForEach(h, cJSON_GetObjectItemCaseSensitive(it, "headers"))
		if (!strcasecmp(h->string, name))
			return h->valuestring;
	return NULL;
}

int main(void) {
	rs_sim_conf_t conf;
	rs_sim_t *sim, *tight;
	char *tok, body[16384], errstr[256];
	const char *gid, *member0, *outsider = NULL;
	cJSON *root, *entra, *g, *u, *m, *j, *it;
	it_resp_t r;
	size_t o;
	int i, n429 = 0, n200 = 0;

	curl_global_init(CURL_GLOBAL_ALL);
	rs_sim_conf_init(&conf);
	sim = it_sim_start(&conf, "tenants=2,users=80,queues=4,seed=3");
	tok = g_token(sim, "t001");
	entra = g_state(sim, "t001", &root);
	g = NULL;
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(entra,
								"groups"))
		if (!g || cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(
				  it, "members")) >
				  cJSON_GetArraySize(
					  cJSON_GetObjectItemCaseSensitive(
						  g, "members")))
			g = it;
	gid = it_jstr(g, "id");
	member0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(g,
								      "members"),
				     0)
			  ->valuestring;
	cJSON_ArrayForEach(u, cJSON_GetObjectItemCaseSensitive(entra,
							       "users")) {
		bool in = false;
		cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(
					      g, "members"))
			if (!strcmp(m->valuestring, it_jstr(u, "id")))
				in = true;
		if (!in)
			outsider = it_jstr(u, "id");
	}
	TEST_ASSERT(outsider, "a non-member");

	SUB_TEST("per-item status, headers and body");
	rs_snprintf(body, sizeof(body),
		    "{\"requests\":["
		    "{\"id\":\"a\",\"method\":\"GET\",\"url\":\"/users?$top=2\"},"
		    "{\"id\":\"b\",\"method\":\"GET\",\"url\":\"users/"
		    "00000000-0000-0000-0000-000000000009\"},"
		    "{\"id\":\"c\",\"method\":\"POST\",\"url\":\"/groups/%s/"
		    "members/$ref\",\"headers\":{\"Content-Type\":"
		    "\"application/json\"},\"body\":{\"@odata.id\":"
		    "\"https://graph.microsoft.com/v1.0/directoryObjects/%s\"}}"
		    "]}",
		    gid, outsider);
	g_req(&r, sim, tok, "POST", "/$batch", NULL, body);
	TEST_ASSERT(r.status == 200, "batch %ld %s", r.status, r.body);
	j = it_json(&r);
	TEST_ASSERT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(
			    j, "responses")) == 3,
		    "three responses");
	TEST_ASSERT(status_of(j, "a") == 200, "a 200");
	TEST_ASSERT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(
			    cJSON_GetObjectItemCaseSensitive(item(j, "a"),
							     "body"),
			    "value")) == 2,
		    "a body is the users page");
	TEST_ASSERT(item_header(item(j, "a"), "Content-Type"),
		    "a has Content-Type");
	TEST_ASSERT(status_of(j, "b") == 404 &&
			    !strcmp(err_code(item(j, "b")),
				    "Request_ResourceNotFound"),
		    "b 404 envelope");
	TEST_ASSERT(status_of(j, "c") == 204, "c 204");
	cJSON_Delete(j);
	it_resp_free(&r);
	{
		/* Each item is recorded in the ledger as its own request,
		 * marked as part of a batch, with its own status. */
		char *ls = rs_sim_ledger_json(sim);
		cJSON *lj = cJSON_Parse(ls), *e;
		int subs = 0, outer = 0;
		rs_free(ls);
		cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(
					      lj, "requests")) {
			if (cJSON_GetObjectItemCaseSensitive(e,
							     "batch_depth")) {
				subs++;
				if (!strcmp(it_jstr(e, "endpoint"),
					    "graph.groups.members.add"))
					TEST_ASSERT(it_jnum(e, "status") == 204,
						    "ledger status of c");
			} else if (!strcmp(it_jstr(e, "endpoint"),
					   "graph.batch")) {
				outer++;
			}
		}
		TEST_ASSERT(subs == 3 && outer == 1,
			    "ledger: %d sub-requests, %d batches", subs, outer);
		cJSON_Delete(lj);
	}

	SUB_TEST("more than 20 requests -> 400 for the whole batch");
	o = (size_t)snprintf(body, sizeof(body), "{\"requests\":[");
	for (i = 0; i < 21; i++)
		o += (size_t)snprintf(body + o, sizeof(body) - o,
				      "%s{\"id\":\"%d\",\"method\":\"GET\","
				      "\"url\":\"/users?$top=1\"}",
				      i ? "," : "", i);
	snprintf(body + o, sizeof(body) - o, "]}");
	g_req(&r, sim, tok, "POST", "/$batch", NULL, body);
	cJSON_Delete(g_assert_error(&r, 400, "BadRequest", "20"));
	it_resp_free(&r);
	g_req(&r, sim, tok, "POST", "/$batch", NULL,
	      "{\"requests\":[{\"id\":\"1\",\"method\":\"POST\",\"url\":"
	      "\"/x\",\"body\":{}}]}");
	cJSON_Delete(g_assert_error(&r, 400, "BadRequest", "Content-Type"));
	it_resp_free(&r);

	SUB_TEST("dependsOn a failed request -> 424; on a success -> runs");
	rs_snprintf(body, sizeof(body),
		    "{\"requests\":["
		    "{\"id\":\"2\",\"method\":\"GET\",\"url\":\"/groups/%s\","
		    "\"dependsOn\":[\"1\"]},"
		    "{\"id\":\"1\",\"method\":\"POST\",\"url\":\"/groups/%s/"
		    "members/$ref\",\"headers\":{\"Content-Type\":"
		    "\"application/json\"},\"body\":{\"@odata.id\":"
		    "\"https://graph.microsoft.com/v1.0/directoryObjects/%s\"}},"
		    "{\"id\":\"3\",\"method\":\"GET\",\"url\":\"/groups/%s\"},"
		    "{\"id\":\"4\",\"method\":\"GET\",\"url\":\"/groups/%s\","
		    "\"dependsOn\":[\"3\"]}"
		    "]}",
		    gid, gid, member0, gid, gid);
	g_req(&r, sim, tok, "POST", "/$batch", NULL, body);
	TEST_ASSERT(r.status == 200, "batch %ld %s", r.status, r.body);
	j = it_json(&r);
	TEST_ASSERT(status_of(j, "1") == 400 &&
			    !strcmp(err_code(item(j, "1")),
				    "Request_BadRequest"),
		    "1 duplicate 400");
	TEST_ASSERT(status_of(j, "2") == 424, "2 failed dependency");
	TEST_ASSERT(status_of(j, "3") == 200, "3 ok");
	TEST_ASSERT(status_of(j, "4") == 200, "4 ran after 3");
	cJSON_Delete(j);
	it_resp_free(&r);

	SUB_TEST("injected 429 on one item carries its own Retry-After");
	TEST_ASSERT(rs_sim_faults_push(sim,
				       "{\"tenant\":\"t001\",\"path\":"
				       "\"/graph/v1.0/groups/*\",\"errors\":"
				       "[{\"status\":429,\"retry_after\":"
				       "\"3\"}]}",
				       errstr, sizeof(errstr)) == RS_OK,
		    "fault: %s", errstr);
	rs_snprintf(body, sizeof(body),
		    "{\"requests\":["
		    "{\"id\":\"g\",\"method\":\"GET\",\"url\":\"/groups/%s\"},"
		    "{\"id\":\"u\",\"method\":\"GET\",\"url\":\"/users?$top=1\"}"
		    "]}",
		    gid);
	g_req(&r, sim, tok, "POST", "/$batch", NULL, body);
	TEST_ASSERT(r.status == 200, "outer stays 200: %ld", r.status);
	j = it_json(&r);
	TEST_ASSERT(status_of(j, "g") == 429, "g 429: %s", r.body);
	TEST_ASSERT(item_header(item(j, "g"), "Retry-After") &&
			    !strcmp(item_header(item(j, "g"), "Retry-After"),
				    "3"),
		    "g Retry-After 3");
	TEST_ASSERT(!strcmp(err_code(item(j, "g")), "TooManyRequests"),
		    "TooManyRequests body");
	TEST_ASSERT(status_of(j, "u") == 200, "u unaffected");
	cJSON_Delete(j);
	it_resp_free(&r);

	SUB_TEST("RU budget: items beyond it are 429 with Retry-After");
	conf.ru_budget = 10;
	tight = it_sim_start(&conf, "tenants=1,users=20,queues=2,seed=3");
	rs_free(tok);
	tok = g_token(tight, "t001");
	o = (size_t)snprintf(body, sizeof(body), "{\"requests\":[");
	for (i = 0; i < 20; i++)
		o += (size_t)snprintf(body + o, sizeof(body) - o,
				      "%s{\"id\":\"%d\",\"method\":\"GET\","
				      "\"url\":\"/users\"}",
				      i ? "," : "", i);
	snprintf(body + o, sizeof(body) - o, "]}");
	g_req(&r, tight, tok, "POST", "/$batch", NULL, body);
	TEST_ASSERT(r.status == 200, "outer 200: %ld %s", r.status, r.body);
	j = it_json(&r);
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j,
								"responses")) {
		int st = (int)it_jnum(it, "status");
		if (st == 429) {
			const char *ra = item_header(it, "Retry-After");
			TEST_ASSERT(ra && strtod(ra, NULL) > 0,
				    "429 item has Retry-After");
			n429++;
		} else if (st == 200) {
			n200++;
		}
	}
	/* GET users costs 2 RU (graph.md §5): 10 RU admit 5. */
	TEST_ASSERT(n200 == 5 && n429 == 15, "200s %d, 429s %d", n200, n429);
	cJSON_Delete(j);
	it_resp_free(&r);
	rs_sim_destroy(tight);

	cJSON_Delete(root);
	rs_free(tok);
	rs_sim_destroy(sim);
	curl_global_cleanup();
	return rs_test_finish();
}
