/*
 * sim_it.h - small libcurl/cJSON helpers shared by the simulator fidelity
 * tests (0100-0119).  Header-only (static functions) so each scenario stays
 * one executable; included after rs_test.h.
 */
#ifndef SIM_IT_H
#define SIM_IT_H

#include "rs/rs_base.h"
#include "rs_test.h"
#include "rs_sim.h"

#include <curl/curl.h>
#include <cjson/cJSON.h>
#include <strings.h>

typedef struct it_resp_s {
	long status;
	CURLcode cc;       /* transport result (CURLE_OK when answered) */
	char *body;
	size_t len;
	char hdrs[16384];  /* raw response headers */
	size_t hlen;
	double secs;       /* total time */
} it_resp_t;

static RS_UNUSED size_t it_body_cb(char *p, size_t sz, size_t n, void *ud) {
	it_resp_t *r = ud;
	size_t add = sz * n;
	r->body = rs_realloc(r->body, r->len + add + 1);
	memcpy(r->body + r->len, p, add);
	r->len += add;
	r->body[r->len] = '\0';
	return add;
}

static RS_UNUSED size_t it_hdr_cb(char *p, size_t sz, size_t n, void *ud) {
	it_resp_t *r = ud;
	size_t add = sz * n;
	if (r->hlen + add < sizeof(r->hdrs)) {
		memcpy(r->hdrs + r->hlen, p, add);
		r->hlen += add;
		r->hdrs[r->hlen] = '\0';
	}
	return add;
}

static RS_UNUSED void it_resp_free(it_resp_t *r) {
	rs_free(r->body);
	memset(r, 0, sizeof(*r));
}

/**
 * One request.  headers: NULL-terminated list of "Name: value" lines;
 * userpwd "id:secret" for Basic (or NULL); timeout in ms (0 = 10 s).
 */
static RS_UNUSED void it_http(it_resp_t *r, const char *method, const char *url,
		    const char *const *headers, const char *body,
		    const char *userpwd, long timeout_ms) {
	CURL *c = curl_easy_init();
	struct curl_slist *sl = NULL;
	int i;

	memset(r, 0, sizeof(*r));
	r->body = rs_strdup("");
	for (i = 0; headers && headers[i]; i++)
		sl = curl_slist_append(sl, headers[i]);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	if (userpwd) {
		curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
		curl_easy_setopt(c, CURLOPT_USERPWD, userpwd);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, sl);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, it_body_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, it_hdr_cb);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
			 (long)rs_test_timeout_ms(timeout_ms ? timeout_ms
							     : 10000));
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	r->cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_getinfo(c, CURLINFO_TOTAL_TIME, &r->secs);
	curl_slist_free_all(sl);
	curl_easy_cleanup(c);
}

/** Value of a response header (copied into buf) or NULL. */
static RS_UNUSED const char *it_header(const it_resp_t *r, const char *name, char *buf,
			     size_t size) {
	const char *p = r->hdrs;
	size_t nl = strlen(name);
	while (p && *p) {
		const char *eol = strstr(p, "\r\n");
		if (!strncasecmp(p, name, nl) && p[nl] == ':') {
			const char *v = p + nl + 1;
			size_t l;
			while (*v == ' ')
				v++;
			l = eol ? (size_t)(eol - v) : strlen(v);
			if (l >= size)
				l = size - 1;
			memcpy(buf, v, l);
			buf[l] = '\0';
			return buf;
		}
		p = eol ? eol + 2 : NULL;
	}
	return NULL;
}

static RS_UNUSED cJSON *it_json(const it_resp_t *r) {
	cJSON *j = cJSON_Parse(r->body);
	TEST_ASSERT(j, "response is not JSON (status %ld): %.300s", r->status,
		    r->body);
	return j;
}

static RS_UNUSED const char *it_jstr(const cJSON *o, const char *k) {
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static RS_UNUSED double it_jnum(const cJSON *o, const char *k) {
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	TEST_ASSERT(cJSON_IsNumber(v), "member %s is not a number", k);
	return v->valuedouble;
}

/** Starts an in-process simulator on an ephemeral port. */
static RS_UNUSED rs_sim_t *it_sim_start(const rs_sim_conf_t *conf, const char *spec) {
	char errstr[256];
	rs_sim_gen_t gen;
	rs_sim_t *sim = rs_sim_new(conf, errstr, sizeof(errstr));
	TEST_ASSERT(sim, "rs_sim_new: %s", errstr);
	rs_sim_gen_init(&gen);
	TEST_ASSERT(rs_sim_gen_parse(&gen, spec, errstr, sizeof(errstr)) ==
			    RS_OK,
		    "gen spec: %s", errstr);
	TEST_ASSERT(rs_sim_generate(sim, &gen, errstr, sizeof(errstr)) ==
			    RS_OK,
		    "generate: %s", errstr);
	TEST_ASSERT(rs_sim_start(sim, errstr, sizeof(errstr)) == RS_OK,
		    "start: %s", errstr);
	TEST_ASSERT(rs_sim_port(sim) > 0, "no port");
	return sim;
}

/** The /_sim/tenants entry of tenant id (caller cJSON_Delete()s root). */
static RS_UNUSED cJSON *it_tenant(rs_sim_t *sim, const char *id, cJSON **root) {
	char *s = rs_sim_tenants_json(sim);
	cJSON *arr = cJSON_Parse(s), *t;
	rs_free(s);
	TEST_ASSERT(cJSON_IsArray(arr), "tenants json");
	cJSON_ArrayForEach(t, arr) {
		if (!strcmp(it_jstr(t, "id"), id)) {
			*root = arr;
			return t;
		}
	}
	TEST_FAIL("tenant %s not found", id);
}

/** A Talkdesk token for tenant t (scope NULL = all). rs_free() it. */
static RS_UNUSED char *it_td_token(rs_sim_t *sim, const cJSON *t, const char *scope) {
	char url[256], up[256], body[512];
	const char *hdr[] = {
		"Content-Type: application/x-www-form-urlencoded", NULL};
	it_resp_t r;
	cJSON *j;
	char *tok;

	rs_snprintf(url, sizeof(url), "%s/talkdesk/oauth/token",
		    rs_sim_base_url(sim));
	rs_snprintf(up, sizeof(up), "%s:%s", it_jstr(t, "talkdesk_client_id"),
		    it_jstr(t, "talkdesk_client_secret"));
	rs_snprintf(body, sizeof(body), "grant_type=client_credentials%s%s",
		    scope ? "&scope=" : "", scope ? scope : "");
	it_http(&r, "POST", url, hdr, body, up, 0);
	TEST_ASSERT(r.status == 200, "talkdesk token: %ld %s", r.status,
		    r.body);
	j = it_json(&r);
	tok = rs_strdup(it_jstr(j, "access_token"));
	cJSON_Delete(j);
	it_resp_free(&r);
	return tok;
}

/** GET base+path with a bearer token. */
static RS_UNUSED void it_get(it_resp_t *r, rs_sim_t *sim, const char *tok,
		   const char *path) {
	char url[2048], auth[2048];
	const char *hdr[] = {auth, NULL};
	rs_snprintf(url, sizeof(url), "%s%s", rs_sim_base_url(sim), path);
	rs_snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
		    tok ? tok : "");
	it_http(r, "GET", url, tok ? hdr : NULL, NULL, NULL, 0);
}

/** The last ledger entry whose path equals path (JSON, caller deletes
 *  *root), or NULL. */
static RS_UNUSED cJSON *it_ledger_last(rs_sim_t *sim, const char *path, cJSON **root) {
	char *s = rs_sim_ledger_json(sim);
	cJSON *j = cJSON_Parse(s), *reqs, *e, *found = NULL;
	rs_free(s);
	reqs = cJSON_GetObjectItemCaseSensitive(j, "requests");
	cJSON_ArrayForEach(e, reqs) {
		if (!strcmp(it_jstr(e, "path"), path))
			found = e;
	}
	*root = j;
	return found;
}

#endif /* SIM_IT_H */
