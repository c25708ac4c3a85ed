/*
 * sim_graph_it.h - helpers for the Graph fidelity tests (0110-0114):
 * a Graph token through the sim's login endpoint, requests with query
 * parameters escaped like a real client does, the Graph error envelope
 * check (graph.md §8) and the tenant's state from the sim.
 * Header-only, included after sim_it.h.
 */
#ifndef SIM_GRAPH_IT_H
#define SIM_GRAPH_IT_H

#include "sim_it.h"

/* A Graph token for tenant id through the sim's login endpoint. */
static RS_UNUSED char *g_token(rs_sim_t *sim, const char *tenant) {
	char url[512], form[1024];
	const char *hdr[] = {
		"Content-Type: application/x-www-form-urlencoded", NULL};
	cJSON *root, *t, *j;
	it_resp_t r;
	char *tok;

	t = it_tenant(sim, tenant, &root);
	rs_snprintf(url, sizeof(url), "%s/login/%s/oauth2/v2.0/token",
		    rs_sim_base_url(sim), it_jstr(t, "entra_tenant_id"));
	rs_snprintf(form, sizeof(form),
		    "client_id=%s&client_secret=%s&grant_type="
		    "client_credentials&scope=https%%3A%%2F%%2Fgraph.microsoft."
		    "com%%2F.default",
		    it_jstr(t, "graph_client_id"),
		    it_jstr(t, "graph_client_secret"));
	cJSON_Delete(root);
	it_http(&r, "POST", url, hdr, form, NULL, 0);
	TEST_ASSERT(r.status == 200, "login %ld %s", r.status, r.body);
	j = it_json(&r);
	tok = rs_strdup(it_jstr(j, "access_token"));
	cJSON_Delete(j);
	it_resp_free(&r);
	return tok;
}

/* The client id of tenant id (presence sessionId, graph.md §6). */
static RS_UNUSED char *g_client_id(rs_sim_t *sim, const char *tenant) {
	cJSON *root, *t = it_tenant(sim, tenant, &root);
	char *id = rs_strdup(it_jstr(t, "graph_client_id"));

	cJSON_Delete(root);
	return id;
}

/*
 * One Graph request.  path is relative to /graph/v1.0 and may already
 * carry a query; q is a NULL-terminated name, value list whose values
 * are percent-encoded here.  url_abs (when not NULL) is used verbatim
 * instead (nextLink / deltaLink).
 */
static RS_UNUSED void g_req(it_resp_t *r, rs_sim_t *sim, const char *tok,
			    const char *method, const char *path,
			    const char *const *q, const char *body) {
	char *url = rs_malloc(16384), auth[4096];
	const char *hdr[] = {auth, "Content-Type: application/json",
			     "client-request-id: 11111111-2222-3333-4444-"
			     "555555555555",
			     NULL};
	size_t o;
	int i;

	if (!strncmp(path, "http", 4)) {
		rs_snprintf(url, 16384, "%s", path);
	} else {
		o = (size_t)snprintf(url, 16384, "%s/graph/v1.0%s",
				     rs_sim_base_url(sim), path);
		for (i = 0; q && q[i]; i += 2) {
			char *e = curl_easy_escape(NULL, q[i + 1], 0);
			o += (size_t)snprintf(url + o, 16384 - o, "%c%s=%s",
					      i ? '&' : '?', q[i], e);
			curl_free(e);
		}
	}
	if (tok)
		rs_snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
			    tok);
	else
		rs_snprintf(auth, sizeof(auth), "X-None: 1");
	it_http(r, method, url, hdr, body, NULL, 0);
	rs_free(url);
}

/*
 * Asserts the Graph error envelope (graph.md §8): status, error.code,
 * error.message containing msg_part (may be NULL), innerError with date,
 * request-id and the echoed client-request-id, and the request-id header.
 * Returns the parsed body (cJSON_Delete()).
 */
static RS_UNUSED cJSON *g_assert_error(const it_resp_t *r, long status,
				       const char *code,
				       const char *msg_part) {
	cJSON *j, *e, *ie;
	char hb[128];
	const char *m;

	TEST_ASSERT(r->status == status, "status %ld, want %ld: %.400s",
		    r->status, status, r->body);
	j = it_json(r);
	e = cJSON_GetObjectItemCaseSensitive(j, "error");
	TEST_ASSERT(cJSON_IsObject(e), "no error object: %s", r->body);
	TEST_ASSERT(it_jstr(e, "code") && !strcmp(it_jstr(e, "code"), code),
		    "error.code %s, want %s", it_jstr(e, "code"), code);
	m = it_jstr(e, "message");
	TEST_ASSERT(m, "no error.message");
	if (msg_part)
		TEST_ASSERT(strstr(m, msg_part), "message '%s' lacks '%s'", m,
			    msg_part);
	ie = cJSON_GetObjectItemCaseSensitive(e, "innerError");
	TEST_ASSERT(cJSON_IsObject(ie), "no innerError");
	TEST_ASSERT(it_jstr(ie, "date") && it_jstr(ie, "request-id"),
		    "innerError lacks date/request-id: %s", r->body);
	TEST_ASSERT(it_jstr(ie, "client-request-id") &&
			    !strcmp(it_jstr(ie, "client-request-id"),
				    "11111111-2222-3333-4444-555555555555"),
		    "client-request-id not echoed: %s", r->body);
	TEST_ASSERT(it_header(r, "request-id", hb, sizeof(hb)),
		    "no request-id header");
	return j;
}

/* The sim's state of one tenant: {"entra":{"users":[..],"groups":[..]}}. */
static RS_UNUSED cJSON *g_state(rs_sim_t *sim, const char *tenant,
				cJSON **root) {
	char *s = rs_sim_state_json(sim, tenant);
	cJSON *t;

	*root = cJSON_Parse(s);
	rs_free(s);
	t = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(*root, "tenants"), tenant);
	TEST_ASSERT(t, "state of %s", tenant);
	return cJSON_GetObjectItemCaseSensitive(t, "entra");
}

/* A stats counter from rs_sim_stats_json(). */
static RS_UNUSED double g_stat(rs_sim_t *sim, const char *name) {
	char *s = rs_sim_stats_json(sim);
	cJSON *j = cJSON_Parse(s);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
	double d;

	rs_free(s);
	TEST_ASSERT(cJSON_IsNumber(v), "stats.%s", name);
	d = v->valuedouble;
	cJSON_Delete(j);
	return d;
}

#endif /* SIM_GRAPH_IT_H */
