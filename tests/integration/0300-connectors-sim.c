/*
 * 0300-connectors-sim.c - the source and target connectors against an
 * in-process simulator (sim/rs_sim.h) with a small generated dataset.
 *
 * Proves, for one tenant, with the sim's own state as the oracle:
 *  - each Talkdesk source mode (queues, ring groups, guardian) reads every
 *    queue with exactly the members the sim holds, with the request count
 *    the paging arithmetic predicts (one /users listing at most);
 *  - a retired ring-groups API is a clear RS_ERR_RETIRED naming it;
 *  - a Talkdesk 429 with Retry-After is waited out and retried;
 *  - resolution finds exactly the e-mails Entra knows by mail or UPN, with
 *    ceil(n/15) + ceil(u/15) filters (IN) or 20 filters per $batch (BATCH);
 *  - member listing follows nextLink (small pages) and matches the sim;
 *  - adding a chunk that holds existing members falls back to one-by-one
 *    with "already exist" as a no-op; adding again changes nothing;
 *  - removing (including a non-member) converges to the desired set, with
 *    a 429 inside $batch retried after its own Retry-After;
 *  - a 401 invalidates the token and retries once.
 */
#include "rs/rs_base.h"
#include "rs_test.h"
#include "rs_sim.h"

#include "rs/rs_auth.h"
#include "rs/rs_graph.h"
#include "rs/rs_http.h"
#include "rs/rs_source.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <strings.h>

typedef struct fx_s {
	rs_sim_t *sim;
	const char *base;
	char tenant[64];
	char directory[64];
	cJSON *tenants; /* /_sim/tenants */
	cJSON *t;       /* our tenant in it */
	rs_http_t *http;
	rs_auth_t *entra;
} fx_t;

static const char *jstr(const cJSON *o, const char *k) {
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(it) ? it->valuestring : NULL;
}

static cJSON *state_tenant(fx_t *fx, cJSON **root) {
	char *s = rs_sim_state_json(fx->sim, fx->tenant);
	cJSON *tn;
	*root = cJSON_Parse(s);
	rs_free(s);
	tn = cJSON_GetObjectItem(cJSON_GetObjectItem(*root, "tenants"),
				 fx->tenant);
	TEST_ASSERT(tn, "state of %s", fx->tenant);
	return tn;
}

/* Every wire request after seq to an endpoint with prefix carried this
 * client-request-id (the sim records it). */
static void ledger_crid(fx_t *fx, double since, const char *prefix,
			const char *crid) {
	char *s = rs_sim_ledger_json(fx->sim);
	cJSON *root = cJSON_Parse(s), *r;
	int n = 0;
	cJSON_ArrayForEach(r, cJSON_GetObjectItem(root, "requests")) {
		const char *ep = jstr(r, "endpoint");
		const cJSON *bd = cJSON_GetObjectItem(r, "batch_depth");
		if (cJSON_GetObjectItem(r, "seq")->valuedouble <= since ||
		    !ep || strncmp(ep, prefix, strlen(prefix)) ||
		    (cJSON_IsNumber(bd) && bd->valuedouble > 0))
			continue;
		TEST_ASSERT(jstr(r, "client_request_id") &&
				    !strcmp(jstr(r, "client_request_id"), crid),
			    "request %s carries client-request-id %s", ep,
			    crid);
		n++;
	}
	TEST_ASSERT(n > 0, "requests to %s seen", prefix);
	cJSON_Delete(root);
	rs_free(s);
}

/* Highest ledger seq so far: later entries belong to the next phase. */
static double ledger_seq(fx_t *fx) {
	char *s = rs_sim_ledger_json(fx->sim);
	cJSON *root = cJSON_Parse(s), *r;
	double max = 0;
	cJSON_ArrayForEach(r, cJSON_GetObjectItem(root, "requests")) {
		double q = cJSON_GetObjectItem(r, "seq")->valuedouble;
		if (q > max)
			max = q;
	}
	cJSON_Delete(root);
	rs_free(s);
	return max;
}

/* Wire requests (not $batch sub-requests) after seq whose endpoint starts
 * with prefix. */
static int ledger_count(fx_t *fx, double since, const char *prefix) {
	char *s = rs_sim_ledger_json(fx->sim);
	cJSON *root = cJSON_Parse(s), *r;
	int n = 0;
	cJSON_ArrayForEach(r, cJSON_GetObjectItem(root, "requests")) {
		const cJSON *bd = cJSON_GetObjectItem(r, "batch_depth");
		const char *ep = jstr(r, "endpoint");
		if (cJSON_GetObjectItem(r, "seq")->valuedouble <= since)
			continue;
		if (bd && cJSON_IsNumber(bd) && bd->valuedouble > 0)
			continue;
		if (ep && !strncmp(ep, prefix, strlen(prefix)))
			n++;
	}
	cJSON_Delete(root);
	rs_free(s);
	return n;
}

static rs_auth_t *td_auth(fx_t *fx, int mode) {
	rs_auth_conf_t ac;
	char url[512], err[512];
	rs_auth_t *a;

	rs_auth_conf_init(&ac);
	ac.flavour = RS_AUTH_TALKDESK;
	ac.tenant = fx->tenant;
	rs_snprintf(url, sizeof(url), "%s/talkdesk/oauth/token", fx->base);
	ac.token_url = url;
	ac.client_id = jstr(fx->t, "talkdesk_client_id");
	ac.client_secret = jstr(fx->t, "talkdesk_client_secret");
	ac.scope = rs_source_td_scopes(mode);
	a = rs_auth_new(&ac, err, sizeof(err));
	TEST_ASSERT(a, "talkdesk auth: %s", err);
	return a;
}

static rs_source_t *source(fx_t *fx, rs_auth_t *a, int mode, int page) {
	rs_source_conf_t sc;
	char url[512], err[512];
	rs_source_t *src;

	rs_source_conf_init(&sc);
	sc.tenant = fx->tenant;
	rs_snprintf(url, sizeof(url), "%s/talkdesk", fx->base);
	sc.base_url = url;
	sc.auth = a;
	sc.mode = mode;
	sc.page_size = page;
	src = rs_source_new(&sc, err, sizeof(err));
	TEST_ASSERT(src, "source: %s", err);
	return src;
}

/* The snapshot must hold every sim queue with exactly its members'
 * e-mails (lower-case).  Returns the number of queues. */
static size_t check_snapshot(fx_t *fx, const rs_source_snapshot_t *snap,
			     bool skip_empty) {
	cJSON *root, *tn = state_tenant(fx, &root), *td, *q, *u, *emails;
	size_t nq = 0, seen = 0;

	td = cJSON_GetObjectItem(tn, "talkdesk");
	emails = cJSON_CreateObject();
	cJSON_ArrayForEach(u, cJSON_GetObjectItem(td, "users"))
		cJSON_AddStringToObject(emails, jstr(u, "id"), jstr(u, "email"));
	cJSON_ArrayForEach(q, cJSON_GetObjectItem(td, "queues")) {
		const cJSON *users = cJSON_GetObjectItem(q, "users");
		const rs_source_group_t *g =
			rs_source_snapshot_find(snap, jstr(q, "name"));
		const cJSON *id;
		size_t n = 0;

		if (skip_empty && cJSON_GetArraySize(users) == 0)
			continue;
		nq++;
		TEST_ASSERT(g, "queue %s missing from %s", jstr(q, "name"),
			    snap->source);
		seen++;
		cJSON_ArrayForEach(id, users) {
			const char *e = jstr(emails, id->valuestring);
			char low[300];
			size_t i, k;
			bool found = false;
			TEST_ASSERT(e, "user %s has an e-mail", id->valuestring);
			for (k = 0; e[k] && k < sizeof(low) - 1; k++)
				low[k] = (char)tolower((unsigned char)e[k]);
			low[k] = '\0';
			for (i = 0; i < g->email_cnt && !found; i++)
				found = !strcmp(g->emails[i], low);
			TEST_ASSERT(found, "%s: %s not in queue %s", snap->source,
				    low, g->name);
			n++;
		}
		TEST_ASSERT(g->email_cnt == n, "%s: queue %s has %zu, sim %zu",
			    snap->source, g->name, g->email_cnt, n);
		TEST_ASSERT(g->members_read, "members read");
	}
	TEST_ASSERT(snap->group_cnt == seen, "%s: %zu groups, sim %zu",
		    snap->source, snap->group_cnt, seen);
	cJSON_Delete(emails);
	cJSON_Delete(root);
	return nq;
}

static size_t ceil_div(size_t a, size_t b) {
	return (a + b - 1) / b;
}

/* Talkdesk requests the paging arithmetic predicts for the sim's state. */
static uint64_t td_expected(fx_t *fx, int mode, int page) {
	cJSON *root, *tn = state_tenant(fx, &root), *td, *q;
	size_t per = mode == RS_SOURCE_TD_RING_GROUPS ? 50 : 100;
	size_t pu = 200, pg = 250, nq, nu;
	uint64_t n;

	td = cJSON_GetObjectItem(tn, "talkdesk");
	nq = (size_t)cJSON_GetArraySize(cJSON_GetObjectItem(td, "queues"));
	nu = (size_t)cJSON_GetArraySize(cJSON_GetObjectItem(td, "users"));
	if (page > 0) {
		per = RS_MIN(per, (size_t)page);
		pu = RS_MIN(pu, (size_t)page);
		pg = RS_MIN(pg, (size_t)page);
	}
	if (mode == RS_SOURCE_TD_GUARDIAN) {
		n = RS_MAX(ceil_div(nu, pg), 1);
	} else {
		n = RS_MAX(ceil_div(nq, per), 1);
		cJSON_ArrayForEach(q, cJSON_GetObjectItem(td, "queues")) n +=
			RS_MAX(ceil_div((size_t)cJSON_GetArraySize(
						cJSON_GetObjectItem(q, "users")),
					per),
			       1);
		if (mode == RS_SOURCE_TD_RING_GROUPS)
			n += RS_MAX(ceil_div(nu, pu), 1);
	}
	cJSON_Delete(root);
	return n;
}

static void faults(fx_t *fx, const char *json) {
	char err[256];
	TEST_ASSERT(rs_sim_faults_push(fx->sim, json, err, sizeof(err)) ==
			    RS_OK,
		    "faults: %s", err);
}

/* POST to the sim's control API (no in-process call for this one). */
static void sim_post(fx_t *fx, const char *path, const char *body) {
	rs_http_req_t req;
	rs_http_resp_t resp;
	rs_error_t *e;
	char url[512];

	rs_snprintf(url, sizeof(url), "%s%s", fx->base, path);
	rs_http_req_init(&req, RS_HTTP_POST, url);
	req.content_type = "application/json";
	req.body = body;
	req.body_len = strlen(body);
	rs_http_resp_init(&resp);
	e = rs_http_request_send(fx->http, &req, &resp);
	TEST_ASSERT(!e, "POST %s: %s", path, rs_error_msg(e));
	rs_http_resp_cleanup(&resp);
}

static void test_sources(fx_t *fx, rs_source_snapshot_t *keep) {
	static const int modes[] = {RS_SOURCE_TD_QUEUES,
				    RS_SOURCE_TD_RING_GROUPS,
				    RS_SOURCE_TD_GUARDIAN};
	size_t i;

	/* Each mode with the largest pages, then with pages of 7 so that
	 * every listing (queues, members, users, guardian) really pages. */
	for (i = 0; i < 2 * RS_ARRAY_SIZE(modes); i++) {
		int mode = modes[i % 3], page = i < 3 ? 0 : 7;
		rs_auth_t *a = td_auth(fx, mode);
		rs_source_t *src = source(fx, a, mode, page);
		rs_source_snapshot_t snap;
		rs_error_t *e;
		uint64_t want = td_expected(fx, mode, page);
		double seq = ledger_seq(fx);

		SUB_TEST("source %s, page size %d", rs_source_name(src),
			 page ? page : -1);
		rs_source_snapshot_init(&snap);
		e = rs_source_read(src, fx->http, NULL, &snap);
		TEST_ASSERT(!e, "read: %s", rs_error_msg(e));
		/* guardian derives groups from users: empty ones are absent */
		check_snapshot(fx, &snap, mode == RS_SOURCE_TD_GUARDIAN);
		TEST_ASSERT(snap.stats.requests == want,
			    "%s: %llu requests, paging predicts %llu",
			    snap.source,
			    (unsigned long long)snap.stats.requests,
			    (unsigned long long)want);
		TEST_ASSERT(ledger_count(fx, seq, "talkdesk.") ==
				    (int)want + (int)rs_auth_requests(a),
			    "ledger agrees with the counters");
		TEST_ASSERT(snap.stats.user_listings ==
				    (mode == RS_SOURCE_TD_RING_GROUPS ? 1u
									  : 0u),
			    "one /users listing only where ids need it");
		rs_test_say("%s: %zu groups, %llu requests (%llu pages), "
			    "%llu users listed",
			    snap.source, snap.group_cnt,
			    (unsigned long long)snap.stats.requests,
			    (unsigned long long)snap.stats.pages,
			    (unsigned long long)snap.stats.users_listed);
		if (i == 0) {
			*keep = snap;
		} else {
			rs_source_snapshot_cleanup(&snap);
		}
		rs_source_destroy(src);
		rs_auth_destroy(a);
	}

	SUB_TEST("talkdesk 429 with Retry-After is waited out");
	{
		rs_auth_t *a = td_auth(fx, RS_SOURCE_TD_QUEUES);
		rs_source_t *src = source(fx, a, RS_SOURCE_TD_QUEUES, 0);
		rs_source_snapshot_t snap;
		rs_error_t *e;
		char js[512];
		int64_t t0;

		rs_snprintf(js, sizeof(js),
			    "{\"tenant\":\"%s\",\"method\":\"GET\",\"path\":"
			    "\"/talkdesk/ccaas/queues\",\"errors\":[{\"status\":"
			    "429,\"retry_after\":\"0.3\"},{\"status\":503}]}",
			    fx->tenant);
		faults(fx, js);
		rs_source_snapshot_init(&snap);
		t0 = rs_now_ms();
		e = rs_source_read(src, fx->http, NULL, &snap);
		TEST_ASSERT(!e, "read: %s", rs_error_msg(e));
		TEST_ASSERT(rs_now_ms() - t0 >= 290, "Retry-After honoured");
		TEST_ASSERT(snap.stats.throttled == 1 && snap.stats.retries == 2,
			    "throttled %llu retries %llu",
			    (unsigned long long)snap.stats.throttled,
			    (unsigned long long)snap.stats.retries);
		check_snapshot(fx, &snap, false);
		rs_source_snapshot_cleanup(&snap);
		rs_source_destroy(src);
		rs_auth_destroy(a);
	}

	SUB_TEST("only wanted groups are read; missing scope is named");
	{
		rs_auth_t *a = td_auth(fx, RS_SOURCE_TD_QUEUES);
		rs_source_conf_t sc;
		rs_source_t *src;
		rs_source_snapshot_t snap;
		const rs_source_group_t *g;
		rs_error_t *e;
		const char *only[1];
		char url[512], err[256];
		size_t k, read = 0;

		only[0] = keep->groups[0].name;
		rs_source_conf_init(&sc);
		sc.tenant = fx->tenant;
		rs_snprintf(url, sizeof(url), "%s/talkdesk", fx->base);
		sc.base_url = url;
		sc.auth = a;
		sc.groups = only;
		sc.group_cnt = 1;
		src = rs_source_new(&sc, err, sizeof(err));
		TEST_ASSERT(src, "%s", err);
		rs_source_snapshot_init(&snap);
		e = rs_source_read(src, fx->http, NULL, &snap);
		TEST_ASSERT(!e, "read: %s", rs_error_msg(e));
		for (k = 0; k < snap.group_cnt; k++)
			read += snap.groups[k].members_read;
		g = rs_source_snapshot_find(&snap, only[0]);
		TEST_ASSERT(read == 1 && g && g->members_read &&
				    g->email_cnt == keep->groups[0].email_cnt,
			    "one group read, same members");
		TEST_ASSERT(snap.stats.requests ==
				    1 + RS_MAX(ceil_div(g->email_cnt, 100), 1),
			    "%llu requests",
			    (unsigned long long)snap.stats.requests);
		rs_source_snapshot_cleanup(&snap);
		rs_source_destroy(src);
		rs_auth_destroy(a);

		/* A token without queues:read: 403 naming the scope. */
		{
			rs_auth_conf_t ac;
			rs_auth_t *weak;
			rs_auth_conf_init(&ac);
			ac.flavour = RS_AUTH_TALKDESK;
			ac.tenant = fx->tenant;
			rs_snprintf(url, sizeof(url), "%s/talkdesk/oauth/token",
				    fx->base);
			ac.token_url = url;
			ac.client_id = jstr(fx->t, "talkdesk_client_id");
			ac.client_secret = jstr(fx->t, "talkdesk_client_secret");
			ac.scope = "users:read";
			weak = rs_auth_new(&ac, err, sizeof(err));
			TEST_ASSERT(weak, "%s", err);
			src = source(fx, weak, RS_SOURCE_TD_QUEUES, 0);
			rs_source_snapshot_init(&snap);
			e = rs_source_read(src, fx->http, NULL, &snap);
			TEST_ASSERT(e && rs_error_code(e) == RS_ERR_FORBIDDEN &&
					    strstr(rs_error_msg(e),
						   "queues:read"),
				    "403 names the scope: %s",
				    e ? rs_error_msg(e) : "success");
			rs_test_say("%s", rs_error_msg(e));
			rs_error_destroy(e);
			rs_source_snapshot_cleanup(&snap);
			rs_source_destroy(src);
			rs_auth_destroy(weak);
		}
	}

	SUB_TEST("retired ring groups: RS_ERR_RETIRED naming the endpoint");
	{
		rs_auth_t *a = td_auth(fx, RS_SOURCE_TD_RING_GROUPS);
		rs_source_t *src = source(fx, a, RS_SOURCE_TD_RING_GROUPS, 0);
		rs_source_snapshot_t snap;
		rs_error_t *e;
		char path[128];

		rs_snprintf(path, sizeof(path), "/_sim/tenants/%s", fx->tenant);
		sim_post(fx, path, "{\"ring_groups\":\"retired\"}");
		rs_source_snapshot_init(&snap);
		e = rs_source_read(src, fx->http, NULL, &snap);
		TEST_ASSERT(e && rs_error_code(e) == RS_ERR_RETIRED,
			    "want RETIRED, got %s",
			    e ? rs_err_name(rs_error_code(e)) : "success");
		TEST_ASSERT(!rs_error_retriable(e), "not retriable");
		TEST_ASSERT(strstr(rs_error_msg(e), "/ring-groups") &&
				    strstr(rs_error_msg(e), fx->tenant),
			    "message names tenant and endpoint: %s",
			    rs_error_msg(e));
		TEST_ASSERT(snap.group_cnt == 0, "no partial snapshot");
		rs_test_say("%s", rs_error_msg(e));
		rs_error_destroy(e);
		rs_source_snapshot_cleanup(&snap);
		sim_post(fx, path, "{\"ring_groups\":\"serve\"}");
		rs_source_destroy(src);
		rs_auth_destroy(a);
	}
}

static rs_graph_t *graph(fx_t *fx, int mode, int page_size, bool fb_batch) {
	rs_graph_conf_t gc;
	char url[512], err[512];
	rs_graph_t *g;

	rs_graph_conf_init(&gc);
	gc.tenant = fx->tenant;
	rs_snprintf(url, sizeof(url), "%s/graph/v1.0", fx->base);
	gc.base_url = url;
	gc.http = fx->http;
	gc.auth = fx->entra;
	gc.resolve_mode = mode;
	gc.page_size = page_size;
	gc.add_fallback_batch = fb_batch;
	g = rs_graph_new(&gc, err, sizeof(err));
	TEST_ASSERT(g, "graph: %s", err);
	return g;
}

/* Entra user whose mail (else UPN) equals email without case. */
static const cJSON *entra_find(const cJSON *users, const char *email,
			       bool *by_mail) {
	const cJSON *u;
	cJSON_ArrayForEach(u, users) {
		const char *m = jstr(u, "mail");
		if (m && !strcasecmp(m, email)) {
			*by_mail = true;
			return u;
		}
	}
	cJSON_ArrayForEach(u, users) {
		const char *p = jstr(u, "userPrincipalName");
		if (p && !strcasecmp(p, email)) {
			*by_mail = false;
			return u;
		}
	}
	return NULL;
}

static void test_resolve(fx_t *fx, const rs_source_snapshot_t *snap,
			 rs_graph_resolve_t *keep) {
	const char **emails = NULL;
	size_t n = 0, ntotal, i, j;
	cJSON *root, *tn = state_tenant(fx, &root);
	const cJSON *users =
		cJSON_GetObjectItem(cJSON_GetObjectItem(tn, "entra"), "users");
	size_t want_unres = 0, not_by_mail = 0;
	int mode;

	for (i = 0; i < snap->group_cnt; i++)
		for (j = 0; j < snap->groups[i].email_cnt; j++) {
			emails = rs_realloc(emails, (n + 1) * sizeof(*emails));
			emails[n++] = snap->groups[i].emails[j];
		}
	ntotal = n;
	/* The oracle: unique keys, which Entra knows by mail or by UPN. */
	{
		cJSON *uniq = cJSON_CreateObject();
		for (i = 0; i < n; i++) {
			bool by_mail = false;
			if (cJSON_GetObjectItem(uniq, emails[i]))
				continue;
			cJSON_AddTrueToObject(uniq, emails[i]);
			if (!entra_find(users, emails[i], &by_mail))
				want_unres++;
			if (!by_mail)
				not_by_mail++;
		}
		n = (size_t)cJSON_GetArraySize(uniq);
		cJSON_Delete(uniq);
	}
	for (mode = RS_GRAPH_RESOLVE_BATCH; mode <= RS_GRAPH_RESOLVE_IN;
	     mode++) {
		rs_graph_t *g = graph(fx, mode, 0, false);
		rs_graph_resolve_t res;
		rs_graph_call_t call;
		rs_error_t *e;
		size_t f1 = ceil_div(n, 15), f2 = ceil_div(not_by_mail, 15);
		uint64_t want = mode == RS_GRAPH_RESOLVE_IN
					? f1 + f2
					: ceil_div(f1, 20) + ceil_div(f2, 20);
		double seq = ledger_seq(fx);
		size_t k;

		SUB_TEST("resolve %zu e-mails (%s)", n,
			 mode == RS_GRAPH_RESOLVE_IN ? "in filters" : "$batch");
		rs_graph_resolve_init(&res);
		rs_graph_call_init(&call, "0b1e7c55-0000-4000-8000-000000000300",
				   NULL);
		/* e-mails of several queues repeat: duplicates merge */
		e = rs_graph_resolve(g, emails, ntotal, &call, &res);
		TEST_ASSERT(!e, "resolve: %s", rs_error_msg(e));
		TEST_ASSERT(res.unresolved_cnt == want_unres,
			    "unresolved %zu, sim says %zu", res.unresolved_cnt,
			    want_unres);
		TEST_ASSERT(res.user_cnt + res.unresolved_cnt == n,
			    "every key accounted for");
		for (k = 0; k < res.user_cnt; k++) {
			bool by_mail;
			const cJSON *u = entra_find(users, res.users[k].key,
						    &by_mail);
			TEST_ASSERT(u && !strcmp(jstr(u, "id"),
						 res.users[k].id),
				    "%s resolved to the right id",
				    res.users[k].key);
		}
		TEST_ASSERT(call.requests == want,
			    "%llu requests, want %llu (n=%zu, u=%zu)",
			    (unsigned long long)call.requests,
			    (unsigned long long)want, n, not_by_mail);
		TEST_ASSERT(ledger_count(fx, seq,
					 mode == RS_GRAPH_RESOLVE_IN
						 ? "graph.users"
						 : "graph.batch") == (int)want,
			    "ledger agrees");
		ledger_crid(fx, seq, "graph.",
			    "0b1e7c55-0000-4000-8000-000000000300");
		rs_test_say("resolve %s: n=%zu unresolved=%zu (not by mail "
			    "%zu) requests=%llu",
			    mode == RS_GRAPH_RESOLVE_IN ? "IN" : "BATCH", n,
			    res.unresolved_cnt, not_by_mail,
			    (unsigned long long)call.requests);
		if (mode == RS_GRAPH_RESOLVE_BATCH)
			*keep = res;
		else
			rs_graph_resolve_cleanup(&res);
		rs_graph_destroy(g);
	}
	rs_free(emails);
	cJSON_Delete(root);
}

/* Sorted member ids of group gid in the sim, as a cJSON array (owned). */
static cJSON *sim_members(fx_t *fx, const char *gid) {
	cJSON *root, *tn = state_tenant(fx, &root), *grp, *out = NULL;
	cJSON_ArrayForEach(grp, cJSON_GetObjectItem(
					cJSON_GetObjectItem(tn, "entra"),
					"groups")) if (!strcmp(jstr(grp, "id"),
							       gid)) out =
		cJSON_Duplicate(cJSON_GetObjectItem(grp, "members"), 1);
	cJSON_Delete(root);
	TEST_ASSERT(out, "group %s in sim", gid);
	return out;
}

static bool in_array(const cJSON *arr, const char *id) {
	const cJSON *it;
	cJSON_ArrayForEach(it, arr) if (!strcasecmp(it->valuestring, id)) return
		true;
	return false;
}

static void test_members(fx_t *fx, const rs_source_snapshot_t *snap,
			 const rs_graph_resolve_t *res) {
	const cJSON *map = cJSON_GetObjectItem(fx->t, "mapping"), *m;
	const char *gid = NULL, *qname = NULL;
	const rs_source_group_t *q = NULL;
	char **want = NULL, **adds = NULL, **dels = NULL;
	size_t nwant = 0, nadd = 0, ndel = 0, dup = 0, i;
	cJSON *cur;
	rs_graph_t *g;
	rs_graph_call_t call;
	rs_graph_members_t mem;
	rs_error_t *e;
	char js[512];

	/* The mapped queue with the most resolvable members. */
	cJSON_ArrayForEach(m, map) {
		const rs_source_group_t *c =
			rs_source_snapshot_find(snap, m->string);
		if (c && (!q || c->email_cnt > q->email_cnt)) {
			q = c;
			qname = m->string;
			gid = m->valuestring;
		}
	}
	TEST_ASSERT(q && gid, "a mapped queue");
	for (i = 0; i < q->email_cnt; i++) {
		const rs_graph_user_t *u = rs_graph_resolve_find(res,
								 q->emails[i]);
		if (!u)
			continue;
		want = rs_realloc(want, (nwant + 1) * sizeof(*want));
		want[nwant++] = rs_strdup(u->id);
	}

	SUB_TEST("list members of %s (%s) with nextLink", gid, qname);
	g = graph(fx, RS_GRAPH_RESOLVE_BATCH, 7, false);
	cur = sim_members(fx, gid);
	rs_graph_members_init(&mem);
	rs_graph_call_init(&call, NULL, "00-0af7651916cd43dd8448eb211c80319c-"
					"b7ad6b7169203331-01");
	e = rs_graph_members_list(g, gid, &call, &mem);
	TEST_ASSERT(!e, "list: %s", rs_error_msg(e));
	TEST_ASSERT(mem.cnt == (size_t)cJSON_GetArraySize(cur),
		    "%zu members, sim %d", mem.cnt, cJSON_GetArraySize(cur));
	TEST_ASSERT(mem.pages == RS_MAX(ceil_div(mem.cnt, 7), 1) ||
			    mem.pages == ceil_div(mem.cnt, 7) + 1,
		    "%zu pages for %zu members", mem.pages, mem.cnt);
	TEST_ASSERT(call.requests == mem.pages, "one request per page");
	for (i = 0; i < mem.cnt; i++)
		TEST_ASSERT(in_array(cur, mem.items[i].id), "member %s",
			    mem.items[i].id);

	SUB_TEST("add %zu wanted members (chunk with existing -> fallback)",
		 nwant);
	/* Everything wanted, including members already there: the chunks
	 * holding them fail with "already exist" and are redone 1 by 1. */
	for (i = 0; i < nwant; i++) {
		adds = rs_realloc(adds, (nadd + 1) * sizeof(*adds));
		adds[nadd++] = want[i];
		if (in_array(cur, want[i]))
			dup++;
	}
	TEST_ASSERT(dup > 0 && dup < nadd, "dataset gives a mixed chunk");
	{
		rs_graph_item_t *items = rs_calloc(nadd, sizeof(*items));
		size_t chunks = ceil_div(nadd, 20), fb_chunks = 0, fb_items = 0;
		size_t c;

		for (c = 0; c < chunks; c++) {
			size_t k, n = RS_MIN(20, nadd - c * 20), d = 0;
			for (k = 0; k < n; k++)
				d += in_array(cur, adds[c * 20 + k]);
			if (d) {
				fb_chunks++;
				fb_items += n;
			}
		}
		rs_graph_call_init(&call, NULL, NULL);
		e = rs_graph_members_add(g, gid, (const char *const *)adds,
					 nadd, &call, items);
		TEST_ASSERT(!e, "add: %s", rs_error_msg(e));
		TEST_ASSERT(call.writes == nadd - dup && call.noops == dup,
			    "writes %llu noops %llu (want %zu/%zu)",
			    (unsigned long long)call.writes,
			    (unsigned long long)call.noops, nadd - dup, dup);
		TEST_ASSERT(call.fallbacks == fb_chunks, "fallback chunks");
		TEST_ASSERT(call.requests == chunks + fb_items,
			    "%llu requests, want %zu", 
			    (unsigned long long)call.requests,
			    chunks + fb_items);
		for (i = 0; i < nadd; i++)
			TEST_ASSERT(items[i].err == RS_OK &&
					    items[i].noop ==
						    in_array(cur, adds[i]),
				    "item %zu outcome", i);
		rs_test_say("add: %zu users, %zu already members, %zu chunks, "
			    "%zu fallback chunks, %llu requests",
			    nadd, dup, chunks, fb_chunks,
			    (unsigned long long)call.requests);
		rs_free(items);
	}
	cJSON_Delete(cur);
	cur = sim_members(fx, gid);
	for (i = 0; i < nwant; i++)
		TEST_ASSERT(in_array(cur, want[i]), "%s added", want[i]);

	SUB_TEST("adding again is a no-op");
	rs_graph_call_init(&call, NULL, NULL);
	e = rs_graph_members_add(g, gid, (const char *const *)adds, nadd, &call,
				 NULL);
	TEST_ASSERT(!e, "re-add: %s", rs_error_msg(e));
	TEST_ASSERT(call.writes == 0 && call.noops == nadd, "all no-ops");
	TEST_ASSERT(call.requests == ceil_div(nadd, 20) + nadd,
		    "one PATCH per chunk + one POST per user");

	SUB_TEST("adding again with the $batch fallback: 2 requests a chunk");
	{
		rs_graph_t *gb = graph(fx, RS_GRAPH_RESOLVE_BATCH, 0, true);
		rs_graph_item_t *items = rs_calloc(nadd, sizeof(*items));
		double seq = ledger_seq(fx);

		rs_graph_call_init(&call, NULL, NULL);
		e = rs_graph_members_add(gb, gid, (const char *const *)adds,
					 nadd, &call, items);
		TEST_ASSERT(!e, "re-add: %s", rs_error_msg(e));
		TEST_ASSERT(call.writes == 0 && call.noops == nadd,
			    "all no-ops");
		TEST_ASSERT(call.requests == 2 * ceil_div(nadd, 20),
			    "%llu requests", (unsigned long long)call.requests);
		TEST_ASSERT(ledger_count(fx, seq, "graph.batch") ==
				    (int)ceil_div(nadd, 20),
			    "one $batch per chunk in the ledger");
		for (i = 0; i < nadd; i++)
			TEST_ASSERT(items[i].err == RS_OK && items[i].noop,
				    "item %zu no-op", i);
		rs_test_say("re-add %zu members: %llu requests with $batch "
			    "fallback, %zu with single POSTs",
			    nadd, (unsigned long long)call.requests,
			    ceil_div(nadd, 20) + nadd);
		rs_free(items);
		rs_graph_destroy(gb);
	}

	SUB_TEST("remove stale members + a non-member, 429 inside $batch");
	{
		cJSON *tnroot, *tn = state_tenant(fx, &tnroot), *u;
		const char *outsider = NULL;
		rs_graph_item_t *items;
		int64_t t0;

		for (i = 0; i < (size_t)cJSON_GetArraySize(cur); i++) {
			const char *id = cJSON_GetArrayItem(cur, (int)i)
						 ->valuestring;
			size_t k;
			bool wanted = false;
			for (k = 0; k < nwant && !wanted; k++)
				wanted = !strcasecmp(want[k], id);
			if (!wanted) {
				dels = rs_realloc(dels,
						  (ndel + 2) * sizeof(*dels));
				dels[ndel++] = rs_strdup(id);
			}
		}
		cJSON_ArrayForEach(u, cJSON_GetObjectItem(
					      cJSON_GetObjectItem(tn, "entra"),
					      "users")) if (!outsider &&
							    !in_array(cur,
								      jstr(u,
									   "id")))
			outsider = jstr(u, "id");
		TEST_ASSERT(ndel > 0 && outsider, "stale members and outsider");
		dels = rs_realloc(dels, (ndel + 1) * sizeof(*dels));
		dels[ndel++] = rs_strdup(outsider);
		cJSON_Delete(tnroot);

		/* The first DELETE sub-request is throttled with its own
		 * Retry-After; only it is sent again. */
		rs_snprintf(js, sizeof(js),
			    "{\"tenant\":\"%s\",\"endpoint\":"
			    "\"graph.groups.members.remove\",\"errors\":[{"
			    "\"status\":429,\"retry_after\":\"0.4\"}]}",
			    fx->tenant);
		faults(fx, js);
		items = rs_calloc(ndel, sizeof(*items));
		rs_graph_call_init(&call, NULL, NULL);
		t0 = rs_now_ms();
		e = rs_graph_members_remove(g, gid, (const char *const *)dels,
					    ndel, &call, items);
		TEST_ASSERT(!e, "remove: %s", rs_error_msg(e));
		TEST_ASSERT(rs_now_ms() - t0 >= 390, "item Retry-After waited");
		TEST_ASSERT(call.throttled == 1, "one throttled item");
		TEST_ASSERT(call.writes == ndel - 1 && call.noops == 1,
			    "writes %llu noops %llu",
			    (unsigned long long)call.writes,
			    (unsigned long long)call.noops);
		TEST_ASSERT(items[ndel - 1].noop && items[ndel - 1].status == 404,
			    "non-member: 404 no-op");
		TEST_ASSERT(call.requests == ceil_div(ndel, 20) + 1,
			    "%llu requests: one $batch per 20 + one retry",
			    (unsigned long long)call.requests);
		rs_test_say("remove: %zu users (1 non-member), %llu requests",
			    ndel, (unsigned long long)call.requests);
		rs_free(items);
	}
	cJSON_Delete(cur);
	cur = sim_members(fx, gid);
	TEST_ASSERT((size_t)cJSON_GetArraySize(cur) == nwant,
		    "group is exactly the wanted set (%d vs %zu)",
		    cJSON_GetArraySize(cur), nwant);
	for (i = 0; i < nwant; i++)
		TEST_ASSERT(in_array(cur, want[i]), "%s kept", want[i]);

	SUB_TEST("remove again: all no-ops");
	rs_graph_call_init(&call, NULL, NULL);
	e = rs_graph_members_remove(g, gid, (const char *const *)dels, ndel,
				    &call, NULL);
	TEST_ASSERT(!e && call.noops == ndel && call.writes == 0,
		    "idempotent remove");

	SUB_TEST("401 invalidates the token and retries once");
	{
		uint64_t before = rs_auth_requests(fx->entra);
		rs_graph_members_t m2;

		rs_snprintf(js, sizeof(js),
			    "{\"tenant\":\"%s\",\"endpoint\":"
			    "\"graph.groups.members\",\"errors\":[{\"status\":"
			    "401}]}",
			    fx->tenant);
		faults(fx, js);
		rs_graph_members_init(&m2);
		rs_graph_call_init(&call, NULL, NULL);
		e = rs_graph_members_list(g, gid, &call, &m2);
		TEST_ASSERT(!e, "list after 401: %s", rs_error_msg(e));
		TEST_ASSERT(call.auth_retries == 1, "one auth retry");
		TEST_ASSERT(rs_auth_requests(fx->entra) == before + 1,
			    "exactly one new token");
		TEST_ASSERT(m2.cnt == nwant, "list after 401 complete");
		rs_graph_members_cleanup(&m2);
	}

	SUB_TEST("$batch fallback on a mixed chunk: new users added");
	{
		rs_graph_t *gb = graph(fx, RS_GRAPH_RESOLVE_BATCH, 0, true);
		const char *mix[6];
		size_t nm = 0, k;

		mix[nm++] = dels[0]; /* removed above: a real add */
		for (k = 0; k < nwant && nm < 6; k++)
			mix[nm++] = want[k];
		rs_graph_call_init(&call, NULL, NULL);
		e = rs_graph_members_add(gb, gid, mix, nm, &call, NULL);
		TEST_ASSERT(!e, "add: %s", rs_error_msg(e));
		TEST_ASSERT(call.writes == 1 && call.noops == nm - 1 &&
				    call.fallbacks == 1 && call.requests == 2,
			    "writes %llu noops %llu requests %llu",
			    (unsigned long long)call.writes,
			    (unsigned long long)call.noops,
			    (unsigned long long)call.requests);
		cJSON_Delete(cur);
		cur = sim_members(fx, gid);
		TEST_ASSERT(in_array(cur, dels[0]), "added in the sim");
		rs_graph_destroy(gb);
	}

	SUB_TEST("Retry-After beyond max_wait_ms: retriable, not waited");
	{
		rs_graph_item_t items[2];
		const char *two[2];
		int64_t t0;

		two[0] = dels[1];
		two[1] = dels[2 % ndel];
		rs_snprintf(js, sizeof(js),
			    "{\"tenant\":\"%s\",\"endpoint\":"
			    "\"graph.groups.patch\",\"errors\":[{\"status\":"
			    "429,\"retry_after\":\"30\"}]}",
			    fx->tenant);
		faults(fx, js);
		rs_graph_call_init(&call, NULL, NULL);
		t0 = rs_now_ms();
		e = rs_graph_members_add(g, gid, two, 2, &call, items);
		TEST_ASSERT(e && rs_error_retriable(e) &&
				    rs_error_code(e) == RS_ERR_HTTP_THROTTLED &&
				    rs_error_retry_after_ms(e) == 30000,
			    "retriable with Retry-After 30 s: %s",
			    e ? rs_error_msg(e) : "success");
		TEST_ASSERT(rs_now_ms() - t0 < 5000, "not waited in place");
		TEST_ASSERT(call.requests == 1 && call.http_status == 429,
			    "one request");
		TEST_ASSERT(items[0].retriable && items[1].retriable &&
				    items[1].retry_after_ms == 30000,
			    "items retriable");
		rs_error_destroy(e);
	}

	SUB_TEST("group that does not exist: fatal REMOTE_NOT_FOUND");
	{
		const char *one[] = {want[0]};
		rs_graph_call_init(&call, NULL, NULL);
		e = rs_graph_members_add(g,
					 "0badc0de-0000-4000-8000-000000000000",
					 one, 1, &call, NULL);
		TEST_ASSERT(e && rs_error_code(e) == RS_ERR_REMOTE_NOT_FOUND &&
				    rs_error_fatal(e),
			    "missing group: %s", e ? rs_error_msg(e) : "ok");
		TEST_ASSERT(!strcmp(call.error_code, "Request_ResourceNotFound") &&
				    call.request_id[0],
			    "Graph code and request-id kept for the DLQ");
		rs_error_destroy(e);
	}

	cJSON_Delete(cur);
	rs_graph_members_cleanup(&mem);
	rs_graph_destroy(g);
	for (i = 0; i < nwant; i++)
		rs_free(want[i]);
	for (i = 0; i < ndel; i++)
		rs_free(dels[i]);
	rs_free(want);
	rs_free(adds);
	rs_free(dels);
}

int main(void) {
	rs_sim_conf_t sc;
	rs_sim_gen_t gen;
	rs_http_conf_t hc;
	rs_auth_conf_t ac;
	fx_t fx;
	char err[512], login[512], *s;
	rs_source_snapshot_t snap;
	rs_graph_resolve_t res;

	memset(&fx, 0, sizeof(fx));
	TEST_ASSERT(rs_http_global_init() == RS_OK, "curl init");
	rs_sim_conf_init(&sc);
	sc.ring_groups = RS_SIM_RG_SERVE;
	fx.sim = rs_sim_new(&sc, err, sizeof(err));
	TEST_ASSERT(fx.sim, "sim: %s", err);
	rs_sim_gen_init(&gen);
	gen.tenants = 2;
	gen.users = 240;
	gen.queues = 8;
	gen.seed = 300;
	gen.cert_every = 0;
	/* Bigger datasets for measurements, e.g.
	 * RS_IT_0300_GEN="users=4000,queues=40" ./it_0300 */
	if (getenv("RS_IT_0300_GEN"))
		TEST_ASSERT(rs_sim_gen_parse(&gen, getenv("RS_IT_0300_GEN"),
					     err, sizeof(err)) == RS_OK,
			    "RS_IT_0300_GEN: %s", err);
	TEST_ASSERT(rs_sim_generate(fx.sim, &gen, err, sizeof(err)) == RS_OK,
		    "generate: %s", err);
	TEST_ASSERT(rs_sim_start(fx.sim, err, sizeof(err)) == RS_OK,
		    "start: %s", err);
	fx.base = rs_sim_base_url(fx.sim);
	s = rs_sim_tenants_json(fx.sim);
	fx.tenants = cJSON_Parse(s);
	rs_free(s);
	fx.t = cJSON_GetArrayItem(fx.tenants, 0);
	TEST_ASSERT(fx.t && jstr(fx.t, "id"), "a tenant");
	rs_snprintf(fx.tenant, sizeof(fx.tenant), "%s", jstr(fx.t, "id"));
	rs_snprintf(fx.directory, sizeof(fx.directory), "%s",
		    jstr(fx.t, "entra_tenant_id"));

	rs_http_conf_init(&hc);
	hc.target = "test";
	fx.http = rs_http_new(&hc, err, sizeof(err));
	TEST_ASSERT(fx.http, "http: %s", err);
	rs_auth_conf_init(&ac);
	ac.flavour = RS_AUTH_ENTRA;
	ac.tenant = fx.tenant;
	rs_snprintf(login, sizeof(login), "%s/login", fx.base);
	ac.login_base_url = login;
	ac.directory = fx.directory;
	ac.client_id = jstr(fx.t, "graph_client_id");
	ac.client_secret = jstr(fx.t, "graph_client_secret");
	fx.entra = rs_auth_new(&ac, err, sizeof(err));
	TEST_ASSERT(fx.entra, "entra auth: %s", err);

	rs_source_snapshot_init(&snap);
	test_sources(&fx, &snap);
	rs_graph_resolve_init(&res);
	test_resolve(&fx, &snap, &res);
	test_members(&fx, &snap, &res);

	rs_graph_resolve_cleanup(&res);
	rs_source_snapshot_cleanup(&snap);
	rs_auth_destroy(fx.entra);
	rs_http_destroy(fx.http);
	cJSON_Delete(fx.tenants);
	rs_sim_destroy(fx.sim);
	rs_http_global_cleanup();
	return rs_test_finish();
}
