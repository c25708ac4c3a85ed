/*
 * 0200-http-sim.c - rs_http and rs_odata against the simulator, end to
 * end: a client-credentials login with a form built by rs_http_form_add,
 * OData filters built by rs_odata (an apostrophe mail, an `in` list of 15)
 * that the sim's OData parser must read back to the right users, a UPN path
 * segment, and the classification of real error answers: bad secret (401
 * invalid_client), 404 Graph envelope with request-id, scripted 429 with a
 * fractional Retry-After, 503 with an HTTP-date, a dropped connection, and
 * recovery on the next request.
 */
#include "rs/rs_base.h"
#include "rs/rs_http.h"
#include "rs/rs_odata.h"
#include "rs_test.h"
#include "sim_graph_it.h"

#include <time.h>

/* The value array of a Graph list response. */
static cJSON *values(const rs_http_resp_t *resp, cJSON **root) {
	cJSON *v;

	*root = cJSON_ParseWithLength(resp->body, resp->body_len);
	TEST_ASSERT(*root, "JSON body: %s", resp->body ? resp->body : "");
	v = cJSON_GetObjectItemCaseSensitive(*root, "value");
	TEST_ASSERT(cJSON_IsArray(v), "value array: %s", resp->body);
	return v;
}

static char *login(rs_http_t *http, rs_sim_t *sim, const char *tenant,
		   bool bad_secret, rs_error_t **errp) {
	char url[512], form[1024];
	size_t flen = 0;
	cJSON *root, *t, *j;
	rs_http_req_t req;
	rs_http_resp_t resp;
	char *tok = NULL;

	t = it_tenant(sim, tenant, &root);
	rs_snprintf(url, sizeof(url), "%s/login/%s/oauth2/v2.0/token",
		    rs_sim_base_url(sim), it_jstr(t, "entra_tenant_id"));
	TEST_ASSERT(rs_http_form_add(form, sizeof(form), &flen, "client_id",
				     it_jstr(t, "graph_client_id")) == RS_OK,
		    "form");
	TEST_ASSERT(rs_http_form_add(form, sizeof(form), &flen,
				     "client_secret",
				     bad_secret ? "wrong secret+&="
						: it_jstr(t,
							  "graph_client_secret")) ==
			    RS_OK,
		    "form");
	TEST_ASSERT(rs_http_form_add(form, sizeof(form), &flen, "grant_type",
				     "client_credentials") == RS_OK,
		    "form");
	TEST_ASSERT(rs_http_form_add(form, sizeof(form), &flen, "scope",
				     "https://graph.microsoft.com/.default") ==
			    RS_OK,
		    "form");
	cJSON_Delete(root);

	rs_http_req_init(&req, RS_HTTP_POST, url);
	req.body = form;
	req.body_len = flen;
	req.content_type = "application/x-www-form-urlencoded";
	req.tenant = tenant;
	req.op = "token";
	rs_http_resp_init(&resp);
	*errp = rs_http_request_send(http, &req, &resp);
	if (!*errp) {
		j = cJSON_ParseWithLength(resp.body, resp.body_len);
		TEST_ASSERT(j, "token JSON");
		tok = rs_strdup(it_jstr(j, "access_token"));
		cJSON_Delete(j);
	}
	rs_wipe(form, sizeof(form));
	rs_http_resp_cleanup(&resp);
	return tok;
}

/* GET base/graph/v1.0<path> with the token. */
static rs_error_t *graph(rs_http_t *http, rs_sim_t *sim, const char *tok,
			 rs_http_method_t m, const char *path,
			 rs_http_resp_t *resp) {
	char url[8192];
	rs_http_req_t req;

	TEST_ASSERT(rs_snprintf(url, sizeof(url), "%s/graph/v1.0%s",
				rs_sim_base_url(sim), path),
		    "url fits");
	rs_http_req_init(&req, m, url);
	req.bearer_token = tok;
	req.tenant = "t001";
	return rs_http_request_send(http, &req, resp);
}

int main(void) {
	rs_sim_conf_t conf;
	rs_sim_t *sim;
	rs_http_conf_t hconf;
	rs_http_t *http;
	rs_http_resp_t resp;
	rs_http_stats_t st;
	rs_error_t *e;
	char errstr[256], path[4096], q[4096], seg[512];
	char *tok;
	cJSON *sroot, *entra, *users, *u, *root, *v, *it;
	const char *apos_mail = NULL, *apos_id = NULL, *upn = NULL,
		   *upn_id = NULL;
	const char *mails[RS_ODATA_IN_MAX];
	size_t nmails = 0;
	int64_t t0;

	TEST_ASSERT(rs_http_global_init() == RS_OK, "curl init");
	rs_sim_conf_init(&conf);
	sim = it_sim_start(&conf, "tenants=2,users=200,queues=2,seed=7");
	rs_http_conf_init(&hconf);
	hconf.target = "graph";
	hconf.timeout_ms = rs_test_timeout_ms(5000);
	http = rs_http_new(&hconf, errstr, sizeof(errstr));
	TEST_ASSERT(http, "rs_http_new: %s", errstr);
	rs_http_resp_init(&resp);

	entra = g_state(sim, "t001", &sroot);
	users = cJSON_GetObjectItemCaseSensitive(entra, "users");
	cJSON_ArrayForEach(u, users) {
		const char *m = it_jstr(u, "mail");
		if (!m)
			continue;
		if (strchr(m, '\'') && !apos_mail) {
			apos_mail = m;
			apos_id = it_jstr(u, "id");
		} else if (nmails < RS_ODATA_IN_MAX) {
			mails[nmails++] = m;
		}
		if (!upn) {
			upn = it_jstr(u, "userPrincipalName");
			upn_id = it_jstr(u, "id");
		}
	}
	TEST_ASSERT(apos_mail && nmails == RS_ODATA_IN_MAX && upn,
		    "dataset has an apostrophe mail and 15 others");

	SUB_TEST("bad client secret -> AUTH, invalid_client, not retriable");
	tok = login(http, sim, "t001", true, &e);
	TEST_ASSERT(!tok && e, "login must fail");
	TEST_ASSERT(rs_error_code(e) == RS_ERR_AUTH &&
			    rs_error_http_status(e) == 401 &&
			    !rs_error_retriable(e),
		    "got %s %d: %s", rs_err_name(rs_error_code(e)),
		    rs_error_http_status(e), rs_error_msg(e));
	TEST_ASSERT(strstr(rs_error_msg(e), "invalid_client"), "msg: %s",
		    rs_error_msg(e));
	TEST_ASSERT(!strchr(rs_error_msg(e), '\n'), "one line");
	rs_error_destroy(e);

	SUB_TEST("login with a form built by rs_http_form_add");
	tok = login(http, sim, "t001", false, &e);
	TEST_ASSERT(tok && !e, "login: %s", rs_error_msg(e));

	SUB_TEST("eq filter with an apostrophe finds exactly that user");
	TEST_ASSERT(rs_odata_filter_eq("mail", apos_mail, q, sizeof(q)) ==
			    RS_OK,
		    "filter");
	rs_snprintf(path, sizeof(path), "/users?%s&$select=id,mail", q);
	e = graph(http, sim, tok, RS_HTTP_GET, path, &resp);
	TEST_ASSERT(!e, "GET %s: %s", path, rs_error_msg(e));
	v = values(&resp, &root);
	TEST_ASSERT(cJSON_GetArraySize(v) == 1, "one match for %s: %s",
		    apos_mail, resp.body);
	TEST_ASSERT(!strcmp(it_jstr(cJSON_GetArrayItem(v, 0), "id"), apos_id),
		    "right user");
	cJSON_Delete(root);

	SUB_TEST("in filter with 15 values finds all 15");
	TEST_ASSERT(rs_odata_filter_in("mail", mails, nmails, q, sizeof(q)) ==
			    RS_OK,
		    "filter in");
	rs_snprintf(path, sizeof(path), "/users?%s&$select=id,mail", q);
	e = graph(http, sim, tok, RS_HTTP_GET, path, &resp);
	TEST_ASSERT(!e, "GET in-list: %s", rs_error_msg(e));
	v = values(&resp, &root);
	TEST_ASSERT(cJSON_GetArraySize(v) == (int)nmails, "%d of %zu found",
		    cJSON_GetArraySize(v), nmails);
	cJSON_ArrayForEach(it, v) {
		size_t i;
		bool hit = false;
		for (i = 0; i < nmails; i++)
			hit |= !strcasecmp(mails[i], it_jstr(it, "mail"));
		TEST_ASSERT(hit, "unexpected %s", it_jstr(it, "mail"));
	}
	cJSON_Delete(root);

	SUB_TEST("GET /users/{upn} through rs_odata_key_segment");
	TEST_ASSERT(rs_odata_key_segment(upn, seg, sizeof(seg)) == RS_OK,
		    "segment");
	rs_snprintf(path, sizeof(path), "/users%s", seg);
	e = graph(http, sim, tok, RS_HTTP_GET, path, &resp);
	TEST_ASSERT(!e, "GET %s: %s", path, rs_error_msg(e));
	root = cJSON_ParseWithLength(resp.body, resp.body_len);
	TEST_ASSERT(root && !strcmp(it_jstr(root, "id"), upn_id), "by upn");
	cJSON_Delete(root);
	TEST_ASSERT(resp.request_id[0], "request-id header captured");

	SUB_TEST("404 Graph envelope -> REMOTE_NOT_FOUND with request-id");
	rs_snprintf(path, sizeof(path),
		    "/groups/%s/members/%s/$ref",
		    "00000000-0000-4000-8000-000000000001", upn_id);
	e = graph(http, sim, tok, RS_HTTP_DELETE, path, &resp);
	TEST_ASSERT(e && rs_error_code(e) == RS_ERR_REMOTE_NOT_FOUND &&
			    !rs_error_retriable(e),
		    "got %s", e ? rs_error_msg(e) : "success");
	TEST_ASSERT(!strcmp(resp.api_error.code, "Request_ResourceNotFound"),
		    "code %s", resp.api_error.code);
	TEST_ASSERT(strstr(rs_error_msg(e), "(request-id "), "msg: %s",
		    rs_error_msg(e));
	rs_error_destroy(e);

	SUB_TEST("scripted 429 (Retry-After 1.5), 503 (HTTP-date), drop");
	{
		char date[64], rules[512];
		time_t later = time(NULL) + 30;
		struct tm tm;
		gmtime_r(&later, &tm);
		strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		rs_snprintf(rules, sizeof(rules),
			    "{\"tenant\":\"*\",\"method\":\"GET\","
			    "\"path\":\"/graph/v1.0/users*\",\"errors\":["
			    "{\"status\":429,\"retry_after\":\"1.5\"},"
			    "{\"status\":503,\"retry_after\":\"%s\"},"
			    "{\"kind\":\"drop\"}]}",
			    date);
		TEST_ASSERT(rs_sim_faults_push(sim, rules, errstr,
					       sizeof(errstr)) == RS_OK,
			    "faults: %s", errstr);
	}
	rs_snprintf(path, sizeof(path), "/users%s", seg);
	e = graph(http, sim, tok, RS_HTTP_GET, path, &resp);
	TEST_ASSERT(e && rs_error_code(e) == RS_ERR_HTTP_THROTTLED &&
			    rs_error_retriable(e) &&
			    rs_error_retry_after_ms(e) == 1500,
		    "429: %s ra=%lld", e ? rs_error_msg(e) : "success",
		    (long long)rs_error_retry_after_ms(e));
	TEST_ASSERT(!strcmp(resp.retry_after, "1.5"), "raw header");
	rs_error_destroy(e);
	e = graph(http, sim, tok, RS_HTTP_GET, path, &resp);
	TEST_ASSERT(e && rs_error_code(e) == RS_ERR_HTTP_SERVER &&
			    rs_error_retriable(e) &&
			    rs_error_retry_after_ms(e) > 25000 &&
			    rs_error_retry_after_ms(e) <= 30000,
		    "503: %s ra=%lld", e ? rs_error_msg(e) : "success",
		    (long long)rs_error_retry_after_ms(e));
	rs_error_destroy(e);
	t0 = rs_now_ms();
	e = graph(http, sim, tok, RS_HTTP_GET, path, &resp);
	TEST_ASSERT(e && rs_error_code(e) == RS_ERR_HTTP_TRANSPORT &&
			    rs_error_retriable(e) && resp.status == 0,
		    "drop: %s", e ? rs_error_msg(e) : "success");
	TEST_ASSERT(rs_now_ms() - t0 < rs_test_timeout_ms(4000),
		    "drop answered quickly");
	rs_error_destroy(e);
	e = graph(http, sim, tok, RS_HTTP_GET, path, &resp);
	TEST_ASSERT(!e && resp.status == 200, "recovered: %s",
		    rs_error_msg(e));

	SUB_TEST("counters");
	rs_http_stats_get(http, &st);
	TEST_ASSERT(st.requests == 10, "requests %llu",
		    (unsigned long long)st.requests);
	TEST_ASSERT(st.throttled == 1 && st.status_5xx == 1 &&
			    st.transport_errors == 1 && st.status_4xx == 3 /* 401, 404, 429 */,
		    "429=%llu 5xx=%llu transport=%llu 4xx=%llu",
		    (unsigned long long)st.throttled,
		    (unsigned long long)st.status_5xx,
		    (unsigned long long)st.transport_errors,
		    (unsigned long long)st.status_4xx);

	cJSON_Delete(sroot);
	rs_free(tok);
	rs_http_resp_cleanup(&resp);
	rs_http_destroy(http);
	rs_sim_destroy(sim);
	rs_http_global_cleanup();
	return rs_test_finish();
}
