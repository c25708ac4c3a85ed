/*
 * 0105-sim-scale.c - the simulator's size targets: the MSP-scale dataset
 * (tenants=200, users=100000, queues=4000) is generated and served within
 * 10 s and stays under 1 GB RSS, and it answers correctly at that size
 * (spot checks across tenants, a full paged walk of one tenant's users).
 * Certificate tenants are left out (cert_every=0): their RSA keys are
 * cached per machine and measured in docs/sim.md, not here.
 */
#include "rs/rs_base.h"
#include "rs_test.h"
#include "sim_it.h"

static long rss_kb(void) {
	FILE *fp = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;
	if (!fp)
		return -1;
	while (fgets(line, sizeof(line), fp))
		if (!strncmp(line, "VmRSS:", 6))
			kb = strtol(line + 6, NULL, 10);
	fclose(fp);
	return kb;
}

int main(void) {
	rs_sim_conf_t conf;
	rs_sim_t *sim;
	int64_t t0, ms;
	long kb;
	cJSON *root, *t, *st;
	char *tok, *s, path[256];
	it_resp_t r;
	int i, n_users = 0;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	rs_sim_conf_init(&conf);

	SUB_TEST("200 tenants / 100000 users / 4000 queues ready within 10 s");
	t0 = rs_now_ms();
	sim = it_sim_start(&conf, "tenants=200,users=100000,queues=4000,"
				  "seed=1,cert_every=0");
	ms = rs_now_ms() - t0;
	rs_test_say("generated and serving in %lld ms", (long long)ms);
	TEST_ASSERT(ms < rs_test_timeout_ms(10000), "took %lld ms",
		    (long long)ms);

	SUB_TEST("RSS under 1 GB");
	kb = rss_kb();
	rs_test_say("RSS %ld kB", kb);
	TEST_ASSERT(kb > 0 && kb < 1024L * 1024L, "RSS %ld kB", kb);

	SUB_TEST("every tenant answers, data spread evenly");
	s = rs_sim_tenants_json(sim);
	root = cJSON_Parse(s);
	rs_free(s);
	TEST_ASSERT(cJSON_GetArraySize(root) == 200, "200 tenants");
	for (i = 0; i < 200; i += 37) {
		t = cJSON_GetArrayItem(root, i);
		TEST_ASSERT(cJSON_GetArraySize(cJSON_GetObjectItem(t, "mapping")) ==
				    20,
			    "20 queues mapped in %s", it_jstr(t, "id"));
		tok = it_td_token(sim, t, NULL);
		it_get(&r, sim, tok, "/talkdesk/ccaas/queues?per_page=100");
		TEST_ASSERT(r.status == 200 && strstr(r.body, "\"total\":20"),
			    "queues of %s: %ld", it_jstr(t, "id"), r.status);
		it_resp_free(&r);
		rs_free(tok);
	}

	SUB_TEST("a full paged walk of one tenant's users");
	t = cJSON_GetArrayItem(root, 199);
	tok = it_td_token(sim, t, NULL);
	for (i = 1;; i++) {
		cJSON *j, *arr;
		rs_snprintf(path, sizeof(path),
			    "/talkdesk/users?per_page=200&page=%d", i);
		it_get(&r, sim, tok, path);
		TEST_ASSERT(r.status == 200, "page %d: %ld", i, r.status);
		j = it_json(&r);
		arr = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "_embedded"),
					  "users");
		n_users += cJSON_GetArraySize(arr);
		if (!cJSON_GetObjectItem(cJSON_GetObjectItem(j, "_links"),
					 "next")) {
			TEST_ASSERT(n_users == (int)it_jnum(j, "total"),
				    "walked %d of %.0f", n_users,
				    it_jnum(j, "total"));
			cJSON_Delete(j);
			it_resp_free(&r);
			break;
		}
		cJSON_Delete(j);
		it_resp_free(&r);
	}
	s = rs_sim_state_json(sim, it_jstr(t, "id"));
	st = cJSON_Parse(s);
	rs_free(s);
	TEST_ASSERT(n_users > 450 &&
			    n_users == cJSON_GetArraySize(cJSON_GetObjectItem(
					       cJSON_GetObjectItem(
						       cJSON_GetObjectItem(
							       cJSON_GetObjectItem(
								       st,
								       "tenants"),
							       it_jstr(t, "id")),
						       "talkdesk"),
					       "users")),
		    "walk matches state (%d)", n_users);
	cJSON_Delete(st);
	rs_free(tok);
	cJSON_Delete(root);

	SUB_TEST("destroy releases everything");
	rs_sim_destroy(sim);
	curl_global_cleanup();
	return rs_test_finish();
}
