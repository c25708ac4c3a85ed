/*
 * rs_graph.c - Microsoft Graph client: lifecycle, the request loop with
 * its retry policy, the pure parsers (pages, nextLink, $batch) and e-mail
 * resolution.  Group membership operations are in rs_graph_members.c.
 *
 * Why a request loop of our own instead of curl retries: the decisions
 * depend on Graph semantics (401 means "refresh the token once", 429
 * carries Retry-After, a wait longer than max_wait_ms belongs to the
 * worker's scheduler, not to this thread), and every attempt must be
 * counted for the job's audit (rs_graph_call_t).
 */
#include "rs/rs_base.h"

#include "rs/rs_graph.h"
#include "rs/rs_log.h"
#include "rs/rs_odata.h"
#include "rs_graph_int.h"

#include <ctype.h>
#include <strings.h>

#include <cjson/cJSON.h>

/* ---------------------------------------------------------------------
 * Lifecycle
 * ------------------------------------------------------------------- */

void rs_graph_conf_init(rs_graph_conf_t *conf) {
	memset(conf, 0, sizeof(*conf));
	conf->resolve_mode = RS_GRAPH_RESOLVE_BATCH;
	conf->max_members = RS_GRAPH_DEFAULT_MAX_MEMBERS;
	conf->max_pages = RS_GRAPH_DEFAULT_MAX_PAGES;
	conf->max_attempts = RS_GRAPH_DEFAULT_MAX_ATTEMPTS;
	conf->max_wait_ms = RS_GRAPH_DEFAULT_MAX_WAIT_MS;
	conf->retry_base_ms = 200;
	conf->retry_max_ms = 5000;
}

/*
 * No I/O here: a worker creates one client per (thread, tenant) or even
 * per job, so creation must be cheap.  The token buffer is allocated once
 * per client (16 KiB would be a lot of stack for every request) and wiped
 * on destroy because it holds a bearer credential.
 */
rs_graph_t *rs_graph_new(const rs_graph_conf_t *conf, char *errstr,
			 size_t errstr_size) {
	rs_graph_t *g;
	size_t len;

	if (!conf->http || !conf->auth) {
		rs_snprintf(errstr, errstr_size,
			    "graph client needs an HTTP client and a token "
			    "provider");
		return NULL;
	}
	if (!conf->base_url || (strncmp(conf->base_url, "https://", 8) &&
				strncmp(conf->base_url, "http://", 7))) {
		rs_snprintf(errstr, errstr_size,
			    "graph base URL must be http(s)://...: \"%s\"",
			    conf->base_url ? conf->base_url : "");
		return NULL;
	}
	if (conf->resolve_mode != RS_GRAPH_RESOLVE_BATCH &&
	    conf->resolve_mode != RS_GRAPH_RESOLVE_IN) {
		rs_snprintf(errstr, errstr_size, "bad resolve mode %d",
			    conf->resolve_mode);
		return NULL;
	}
	g = rs_calloc(1, sizeof(*g));
	g->tenant = rs_strdup(conf->tenant ? conf->tenant : "");
	g->base_url = rs_strdup(conf->base_url);
	/* A trailing '/' would double up in every path we append. */
	len = strlen(g->base_url);
	while (len > 0 && g->base_url[len - 1] == '/')
		g->base_url[--len] = '\0';
	g->base_len = len;
	g->http = conf->http;
	g->auth = conf->auth;
	g->resolve_mode = conf->resolve_mode;
	g->max_members = conf->max_members ? conf->max_members
					   : RS_GRAPH_DEFAULT_MAX_MEMBERS;
	g->max_pages =
		conf->max_pages ? conf->max_pages : RS_GRAPH_DEFAULT_MAX_PAGES;
	g->page_size = conf->page_size > 0 && conf->page_size < RS_GRAPH_TOP_MAX
			       ? conf->page_size
			       : RS_GRAPH_TOP_MAX;
	g->max_attempts = conf->max_attempts > 0
				  ? conf->max_attempts
				  : RS_GRAPH_DEFAULT_MAX_ATTEMPTS;
	g->max_wait_ms = conf->max_wait_ms >= 0 ? conf->max_wait_ms : 0;
	g->retry_base_ms = conf->retry_base_ms > 0 ? conf->retry_base_ms : 200;
	g->retry_max_ms = conf->retry_max_ms > 0 ? conf->retry_max_ms : 5000;
	g->add_fallback_batch = conf->add_fallback_batch;
	g->rng = rs_http_rand_seed();
	g->token = rs_malloc(RS_AUTH_MAX_TOKEN);
	g->token[0] = '\0';
	return g;
}

void rs_graph_destroy(rs_graph_t *g) {
	if (!g)
		return;
	rs_wipe(g->token, RS_AUTH_MAX_TOKEN);
	rs_free(g->token);
	rs_free(g->tenant);
	rs_free(g->base_url);
	rs_free(g);
}

void rs_graph_stats_get(const rs_graph_t *g, rs_graph_stats_t *out) {
	*out = g->stats;
}

void rs_graph_call_init(rs_graph_call_t *call, const char *client_request_id,
			const char *traceparent) {
	memset(call, 0, sizeof(*call));
	call->client_request_id = client_request_id;
	call->traceparent = traceparent;
}

/*
 * Keeps the details of the LAST failed request only: that is the one whose
 * error ends up in the job's outcome, and the DLQ record wants its Graph
 * code and request-id to quote in a support ticket.
 */
void rs_graph_call_note(rs_graph_call_t *call, int status, const char *code,
			const char *message, const char *request_id) {
	call->http_status = status;
	rs_snprintf(call->error_code, sizeof(call->error_code), "%s",
		    code ? code : "");
	rs_snprintf(call->error_message, sizeof(call->error_message), "%s",
		    message ? message : "");
	rs_snprintf(call->request_id, sizeof(call->request_id), "%s",
		    request_id ? request_id : "");
}

/* ---------------------------------------------------------------------
 * The request loop
 * ------------------------------------------------------------------- */

/*
 * The one place that talks HTTP for Graph.  Every attempt asks rs_auth for
 * the token again (cheap: cached) so a refresh done by another thread is
 * picked up, and so the 401 path below can drop exactly the token that was
 * refused.  Attempts are counted on both the call (per job) and the client
 * (per thread) because the worker reports the first and metrics the second.
 */
rs_error_t *rs_graph_send(rs_graph_t *g, rs_graph_call_t *call,
			  rs_http_method_t method, const char *url,
			  const char *body, const char *op,
			  rs_http_resp_t *resp) {
	rs_error_t *error = NULL;
	bool auth_retried = false;
	int attempt = 0;

	for (;;) {
		rs_http_req_t req;
		int64_t wait;

		rs_error_destroy(error);
		error = NULL;
		if (rs_auth_token(g->auth, g->token, RS_AUTH_MAX_TOKEN,
				  &error) != RS_OK) {
			/* The token provider classified it (permanent bad
			 * credentials vs. retriable STS outage). */
			if (!error)
				error = rs_error_new(RS_ERR_AUTH, false, false,
						     -1,
						     "tenant %s: no Graph token",
						     g->tenant);
			rs_graph_call_note(call, 0, "token", rs_error_msg(error),
					   NULL);
			return error;
		}
		rs_http_req_init(&req, method, url);
		req.bearer_token = g->token;
		req.client_request_id = call->client_request_id;
		req.traceparent = call->traceparent;
		req.tenant = g->tenant;
		req.op = op;
		(void)rs_http_req_add_header(&req, "Accept: application/json");
		if (body) {
			req.content_type = "application/json";
			req.body = body;
			req.body_len = strlen(body);
		}
		error = rs_http_request_send(g->http, &req, resp);
		call->requests++;
		g->stats.requests++;
		if (!error)
			return NULL;
		rs_graph_call_note(call, resp->status, resp->api_error.code,
				   resp->api_error.message,
				   resp->api_error.request_id[0]
					   ? resp->api_error.request_id
					   : resp->request_id);
		if (resp->status == 401 && !auth_retried) {
			/* An expired or revoked token: drop exactly this one
			 * (other threads may already hold a newer one) and
			 * try once more with a fresh token. */
			rs_auth_invalidate(g->auth, g->token);
			auth_retried = true;
			call->auth_retries++;
			g->stats.auth_retries++;
			continue;
		}
		if (resp->status == 429) {
			call->throttled++;
			g->stats.throttled++;
		}
		if (!rs_error_retriable(error) || resp->status == 401 ||
		    ++attempt >= g->max_attempts)
			return error;
		wait = rs_error_retry_after_ms(error);
		if (wait < 0)
			wait = rs_http_backoff_ms(attempt - 1, g->retry_base_ms,
						  g->retry_max_ms,
						  rs_http_rand_xorshift,
						  &g->rng);
		if (wait > g->max_wait_ms)
			return error; /* the caller reschedules */
		rs_sleep_ms(wait);
		call->retries++;
		g->stats.retries++;
	}
}

/* ---------------------------------------------------------------------
 * Pure parsers
 * ------------------------------------------------------------------- */

static const char *json_str(const cJSON *o, const char *name) {
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);
	return cJSON_IsString(it) ? it->valuestring : NULL;
}

/* "#microsoft.graph.user" -> "user". */
static void odata_type_short(const char *t, char *out, size_t size) {
	const char *dot;

	out[0] = '\0';
	if (!t)
		return;
	dot = strrchr(t, '.');
	rs_snprintf(out, size, "%s", dot ? dot + 1 : t);
}

/*
 * Members pages and users filter answers share the item shape we need (id,
 * mail, userPrincipalName, @odata.type), so one parser serves both.  The
 * bound is checked against the accumulated count before anything is
 * copied: a hostile or buggy server cannot grow the list past max_items
 * one page at a time.
 */
rs_err_t rs_graph_page_parse(const char *json, size_t len, size_t max_items,
			     rs_graph_members_t *acc, char **next_link) {
	rs_err_t err = RS_ERR_BAD_RESPONSE;
	cJSON *root = NULL;
	const cJSON *value, *it;
	const char *link;
	size_t n, i = 0;

	*next_link = NULL;
	root = cJSON_ParseWithLength(json, len);
	if (!cJSON_IsObject(root))
		goto out;
	value = cJSON_GetObjectItemCaseSensitive(root, "value");
	if (!cJSON_IsArray(value))
		goto out;
	n = (size_t)cJSON_GetArraySize(value);
	if (acc->cnt + n > max_items) {
		err = RS_ERR_TOO_LARGE;
		goto out;
	}
	/* Validate the whole page before taking any of it, so a bad page
	 * leaves acc as it was. */
	cJSON_ArrayForEach(it, value) {
		const char *id = json_str(it, "id");
		if (!cJSON_IsObject(it) || !id || !rs_guid_valid(id))
			goto out;
	}
	link = json_str(root, "@odata.nextLink");
	if (cJSON_GetObjectItemCaseSensitive(root, "@odata.nextLink") &&
	    (!link || strlen(link) > RS_GRAPH_MAX_LINK))
		goto out;
	acc->items = rs_realloc(acc->items,
				(acc->cnt + n) * sizeof(*acc->items));
	cJSON_ArrayForEach(it, value) {
		rs_graph_member_t *m = &acc->items[acc->cnt + i++];
		const char *mail = json_str(it, "mail");
		const char *upn = json_str(it, "userPrincipalName");

		memset(m, 0, sizeof(*m));
		rs_snprintf(m->id, sizeof(m->id), "%s", json_str(it, "id"));
		odata_type_short(json_str(it, "@odata.type"), m->type,
				 sizeof(m->type));
		m->mail = mail ? rs_strdup(mail) : NULL;
		m->upn = upn ? rs_strdup(upn) : NULL;
	}
	acc->cnt += n;
	if (link)
		*next_link = rs_strdup(link);
	err = RS_OK;
out:
	cJSON_Delete(root);
	return err;
}

/*
 * A nextLink is opaque and followed verbatim, with our bearer token.  So it
 * must stay inside the API root we were configured with: same scheme, host
 * and version path.  Percent-encoded dots are refused too, because some
 * servers decode them before resolving the path.
 */
bool rs_graph_next_link_valid(const char *base_url, const char *link) {
	size_t bl = strlen(base_url), i;

	while (bl > 0 && base_url[bl - 1] == '/')
		bl--;
	if (!link || bl == 0 || strlen(link) > RS_GRAPH_MAX_LINK ||
	    strncmp(link, base_url, bl) != 0)
		return false;
	/* The prefix must end at a path boundary: "https://graph.x/v1.0"
	 * must not accept "https://graph.x/v1.0.evil.com/" or
	 * "https://graph.x/v1.0@evil.com/". */
	if (link[bl] != '/' && link[bl] != '?')
		return false;
	for (i = bl; link[i]; i++) {
		unsigned char c = (unsigned char)link[i];
		if (c <= 0x20 || c >= 0x7f || c == '\\' || c == '#')
			return false;
	}
	/* No dot segments: they could climb out of the API root. */
	if (strstr(link + bl, "/../") || strstr(link + bl, "/./"))
		return false;
	i = strlen(link);
	if ((i >= 3 && !strcmp(link + i - 3, "/..")) ||
	    (i >= 2 && !strcmp(link + i - 2, "/.")))
		return false;
	if (strstr(link + bl, "%2e%2e") || strstr(link + bl, "%2E%2E"))
		return false;
	return true;
}

void rs_graph_bitems_cleanup(rs_graph_bitem_t *items, size_t n) {
	size_t i;

	for (i = 0; i < n; i++) {
		rs_free(items[i].url);
		rs_free(items[i].req_body);
		rs_free(items[i].body);
		items[i].url = NULL;
		items[i].req_body = NULL;
		items[i].body = NULL;
	}
}

/*
 * Item ids are the indexes into the caller's array, not 1..n of this
 * round: a retry round sends a subset, and the answers must still map back
 * to the right item without a lookup table.
 */
char *rs_graph_batch_body(const rs_graph_bitem_t *items, const bool *pending,
			  size_t n) {
	cJSON *root = cJSON_CreateObject();
	cJSON *reqs = cJSON_AddArrayToObject(root, "requests");
	char *out;
	size_t i;

	for (i = 0; i < n; i++) {
		cJSON *r;
		char id[24];

		if (pending && !pending[i])
			continue;
		r = cJSON_CreateObject();
		rs_snprintf(id, sizeof(id), "%zu", i);
		cJSON_AddStringToObject(r, "id", id);
		cJSON_AddStringToObject(r, "method", items[i].method);
		cJSON_AddStringToObject(r, "url", items[i].url);
		if (items[i].req_body) {
			/* A body needs its Content-Type inside the batch
			 * (graph.md 4), else the whole batch is a 400. */
			cJSON *h = cJSON_AddObjectToObject(r, "headers");
			cJSON_AddStringToObject(h, "Content-Type",
						"application/json");
			cJSON_AddItemToObject(r, "body",
					      cJSON_Parse(items[i].req_body));
		}
		cJSON_AddItemToArray(reqs, r);
	}
	out = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	/* cJSON allocates with malloc: hand back our allocator's copy. */
	{
		char *copy = rs_strdup(out);
		cJSON_free(out);
		return copy;
	}
}

/* Parses "id" as a decimal index < n; -1 otherwise. */
static long batch_index(const char *id, size_t n) {
	char *end = NULL;
	long v;

	if (!id || !isdigit((unsigned char)id[0]))
		return -1;
	v = strtol(id, &end, 10);
	if (*end != '\0' || v < 0 || (size_t)v >= n)
		return -1;
	return v;
}

/*
 * graph.md 4: the answers come in any order, the outer 200 says nothing
 * about the items, and header names inside an item are not normalised.
 * Retry-After may be a string ("10", "2.128", an HTTP-date) or, from some
 * proxies, a bare JSON number; both are accepted.
 */
rs_err_t rs_graph_batch_parse(const char *json, size_t len,
			      rs_graph_bitem_t *items, size_t n,
			      int64_t now_wall_ms) {
	rs_err_t err = RS_ERR_BAD_RESPONSE;
	cJSON *root = NULL;
	const cJSON *resps, *r;
	bool seen[RS_GRAPH_BATCH_MAX] = {false};

	if (n > RS_GRAPH_BATCH_MAX)
		return RS_ERR_INVALID_ARG;
	root = cJSON_ParseWithLength(json, len);
	if (!cJSON_IsObject(root))
		goto out;
	resps = cJSON_GetObjectItemCaseSensitive(root, "responses");
	if (!cJSON_IsArray(resps))
		goto out;
	/* First pass validates, so a bad document changes no item. */
	cJSON_ArrayForEach(r, resps) {
		const cJSON *st = cJSON_GetObjectItemCaseSensitive(r, "status");
		long idx = batch_index(json_str(r, "id"), n);
		if (!cJSON_IsObject(r) || idx < 0 || seen[idx] ||
		    !cJSON_IsNumber(st) || st->valuedouble < 100 ||
		    st->valuedouble > 599)
			goto out;
		seen[idx] = true;
	}
	cJSON_ArrayForEach(r, resps) {
		rs_graph_bitem_t *it = &items[batch_index(json_str(r, "id"), n)];
		const cJSON *h = cJSON_GetObjectItemCaseSensitive(r, "headers");
		const cJSON *b = cJSON_GetObjectItemCaseSensitive(r, "body");
		const cJSON *hv;

		it->status =
			(int)cJSON_GetObjectItemCaseSensitive(r, "status")
				->valuedouble;
		it->retry_after_ms = -1;
		it->code[0] = it->message[0] = '\0';
		rs_free(it->body);
		it->body = NULL;
		/* Header names inside a batch are not normalised. */
		if (!cJSON_IsObject(h))
			h = NULL;
		cJSON_ArrayForEach(hv, h) {
			int64_t ms;
			if (hv->string && !strcasecmp(hv->string, "Retry-After") &&
			    cJSON_IsString(hv) &&
			    rs_http_retry_after_parse(hv->valuestring,
						      now_wall_ms,
						      &ms) == RS_OK)
				it->retry_after_ms = ms;
			else if (hv->string &&
				 !strcasecmp(hv->string, "Retry-After") &&
				 cJSON_IsNumber(hv) && hv->valuedouble >= 0)
				it->retry_after_ms = (int64_t)RS_MIN(
					hv->valuedouble * 1000.0,
					(double)RS_HTTP_RETRY_AFTER_MAX_MS);
		}
		if (cJSON_IsObject(b)) {
			const cJSON *e = cJSON_GetObjectItemCaseSensitive(b, "error");
			char *txt = cJSON_PrintUnformatted(b);
			if (txt && strlen(txt) <= RS_GRAPH_MAX_ITEM_BODY)
				it->body = rs_strdup(txt);
			cJSON_free(txt);
			if (cJSON_IsObject(e)) {
				rs_snprintf(it->code, sizeof(it->code), "%s",
					    json_str(e, "code")
						    ? json_str(e, "code")
						    : "");
				rs_snprintf(it->message, sizeof(it->message),
					    "%s",
					    json_str(e, "message")
						    ? json_str(e, "message")
						    : "");
			}
		}
	}
	err = RS_OK;
out:
	cJSON_Delete(root);
	return err;
}

bool rs_graph_is_already_exist(int status, const char *code,
			       const char *message) {
	/* Match on status + code first; the message is the only thing that
	 * tells a duplicate from other bad requests (graph.md 2), so it is
	 * checked loosely (case-insensitive substring). */
	if (status != 400 || !message)
		return false;
	if (code && *code && strcmp(code, "Request_BadRequest"))
		return false;
	return strcasestr(message, "already exist") != NULL;
}

/* Chunking is trivial, but it is what the request-count promises in
 * rs_graph.h rest on, so it is one tested function rather than loops that
 * each compute it their own way. */
size_t rs_graph_chunks(size_t n, size_t max, size_t *sizes, size_t sizes_max) {
	size_t cnt = 0, left = n;

	rs_assert(max > 0);
	while (left > 0) {
		size_t k = RS_MIN(left, max);
		if (cnt < sizes_max)
			sizes[cnt] = k;
		cnt++;
		left -= k;
	}
	return cnt;
}

char *rs_graph_bind_body(const char *base_url, const char *const *ids,
			 size_t cnt) {
	cJSON *root = cJSON_CreateObject();
	cJSON *arr = cJSON_AddArrayToObject(root, "members@odata.bind");
	char ref[512], *txt, *out;
	size_t i;

	for (i = 0; i < cnt; i++) {
		rs_snprintf(ref, sizeof(ref), "%s/directoryObjects/%s",
			    base_url, ids[i]);
		cJSON_AddItemToArray(arr, cJSON_CreateString(ref));
	}
	txt = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	out = rs_strdup(txt);
	cJSON_free(txt);
	return out;
}

/* ---------------------------------------------------------------------
 * $batch
 * ------------------------------------------------------------------- */

/* Item statuses worth another round: throttling, transient server errors,
 * and "no answer" (status 0: an item missing from the response). */
static bool item_retriable(int status) {
	return status == 0 || status == 429 || status == 503 ||
	       status == 504 || status == 502 || status == 500;
}

/*
 * SDKs do not retry throttled batch items (graph.md 4), so we do: only the
 * failed ids go again, after the largest Retry-After among them, in a new
 * batch.  Items that still fail after max_attempts rounds keep their
 * status, and the caller turns them into per-item retriable errors.
 */
rs_error_t *rs_graph_batch_run(rs_graph_t *g, rs_graph_call_t *call,
			       rs_graph_bitem_t *items, size_t n,
			       const char *op) {
	bool pending[RS_GRAPH_BATCH_MAX];
	char url[RS_GRAPH_MAX_LINK];
	size_t i, left = n;
	int round;

	rs_assert(n > 0 && n <= RS_GRAPH_BATCH_MAX);
	for (i = 0; i < n; i++) {
		pending[i] = true;
		items[i].status = 0;
		items[i].retry_after_ms = -1;
	}
	rs_snprintf(url, sizeof(url), "%s/$batch", g->base_url);
	for (round = 0; left > 0 && round < g->max_attempts; round++) {
		rs_http_resp_t resp;
		rs_error_t *error;
		char *body = rs_graph_batch_body(items, pending, n);
		int64_t wait = -1;

		rs_http_resp_init(&resp);
		error = rs_graph_send(g, call, RS_HTTP_POST, url, body, op,
				      &resp);
		rs_free(body);
		/* Older Graph answered a batch holding a throttled item with
		 * an outer 424 (graph.md 4): its body still lists the items,
		 * so parse it like a 200. */
		if (error && resp.status == 424 && resp.body) {
			rs_error_destroy(error);
			error = NULL;
		}
		if (error) {
			rs_http_resp_cleanup(&resp);
			return error;
		}
		if (rs_graph_batch_parse(resp.body ? resp.body : "",
					 resp.body_len, items, n,
					 rs_wall_ms()) != RS_OK) {
			error = rs_error_new(RS_ERR_BAD_RESPONSE, true, false,
					     -1,
					     "tenant %s: unparseable $batch "
					     "response (request-id %s)",
					     g->tenant, resp.request_id);
			rs_error_set_http_status(error, resp.status);
			rs_http_resp_cleanup(&resp);
			return error;
		}
		rs_http_resp_cleanup(&resp);
		left = 0;
		for (i = 0; i < n; i++) {
			if (!pending[i])
				continue;
			if (items[i].status == 429) {
				call->throttled++;
				g->stats.throttled++;
			}
			if (item_retriable(items[i].status)) {
				left++;
				wait = RS_MAX(wait, items[i].retry_after_ms);
			} else {
				pending[i] = false;
			}
		}
		if (left == 0 || round + 1 >= g->max_attempts)
			break;
		/* Retry only the throttled ids, after the largest
		 * Retry-After among them (graph.md 4). */
		if (wait < 0)
			wait = rs_http_backoff_ms(round, g->retry_base_ms,
						  g->retry_max_ms,
						  rs_http_rand_xorshift,
						  &g->rng);
		if (wait > g->max_wait_ms)
			break;
		rs_sleep_ms(wait);
		call->retries++;
		g->stats.retries++;
	}
	return NULL;
}

rs_error_t *rs_graph_item_error(const rs_graph_t *g,
				const rs_graph_bitem_t *it, const char *what) {
	rs_error_t *cls, *error;

	if (it->status == 0)
		return rs_error_new(RS_ERR_BAD_RESPONSE, true, false,
				    it->retry_after_ms,
				    "tenant %s: %s: no answer in $batch",
				    g->tenant, what);
	cls = rs_http_classify(it->status, it->body,
			       it->body ? strlen(it->body) : 0, NULL,
			       rs_wall_ms(), NULL);
	if (!cls)
		cls = rs_error_new(RS_ERR_HTTP_STATUS, false, false, -1,
				   "unexpected status %d", it->status);
	/* The item's own Retry-After lives in its headers object, which
	 * rs_http_classify never saw: carry it over. */
	error = rs_error_new(rs_error_code(cls), rs_error_retriable(cls),
			     rs_error_fatal(cls),
			     it->retry_after_ms >= 0
				     ? it->retry_after_ms
				     : rs_error_retry_after_ms(cls),
			     "tenant %s: %s: HTTP %d %s: %s", g->tenant, what,
			     it->status, it->code, it->message);
	rs_error_set_http_status(error, it->status);
	rs_error_destroy(cls);
	return error;
}

/* ---------------------------------------------------------------------
 * Resolve e-mails
 * ------------------------------------------------------------------- */

void rs_graph_resolve_init(rs_graph_resolve_t *res) {
	memset(res, 0, sizeof(*res));
}

void rs_graph_resolve_cleanup(rs_graph_resolve_t *res) {
	size_t i;

	for (i = 0; i < res->user_cnt; i++) {
		rs_free(res->users[i].key);
		rs_free(res->users[i].mail);
		rs_free(res->users[i].upn);
	}
	for (i = 0; i < res->unresolved_cnt; i++)
		rs_free(res->unresolved[i]);
	rs_free(res->users);
	rs_free(res->unresolved);
	memset(res, 0, sizeof(*res));
}

static int cmp_user_key(const void *a, const void *b) {
	return strcmp(((const rs_graph_user_t *)a)->key,
		      ((const rs_graph_user_t *)b)->key);
}

const rs_graph_user_t *rs_graph_resolve_find(const rs_graph_resolve_t *res,
					     const char *email) {
	char key[RS_GRAPH_MAX_EMAIL + 1];
	rs_graph_user_t probe;
	size_t i;

	if (!email || strlen(email) > RS_GRAPH_MAX_EMAIL || !res->user_cnt)
		return NULL;
	for (i = 0; email[i]; i++)
		key[i] = (char)tolower((unsigned char)email[i]);
	key[i] = '\0';
	probe.key = key;
	return bsearch(&probe, res->users, res->user_cnt, sizeof(probe),
		       cmp_user_key);
}

void rs_graph_members_init(rs_graph_members_t *m) {
	memset(m, 0, sizeof(*m));
}

void rs_graph_members_cleanup(rs_graph_members_t *m) {
	size_t i;

	for (i = 0; i < m->cnt; i++) {
		rs_free(m->items[i].mail);
		rs_free(m->items[i].upn);
	}
	rs_free(m->items);
	memset(m, 0, sizeof(*m));
}

static int cmp_str(const void *a, const void *b) {
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A key we are willing to put in a filter: printable, one '@'. */
static bool email_ok(const char *s) {
	size_t i, len = strlen(s);
	const char *at = strchr(s, '@');

	if (len == 0 || len > RS_GRAPH_MAX_EMAIL || !at || at == s ||
	    !at[1] || strchr(at + 1, '@'))
		return false;
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] == 0x7f)
			return false;
	return true;
}

/* Where one filter's answer goes: matches each returned user against the
 * chunk's keys on the filtered property (mail or UPN), case-insensitively
 * because Graph compares case-insensitively too. */
static void resolve_take(rs_graph_members_t *page, char **keys, size_t nkeys,
			 bool by_upn, rs_graph_user_t *found) {
	size_t i, k;

	for (i = 0; i < page->cnt; i++) {
		const rs_graph_member_t *m = &page->items[i];
		const char *v = by_upn ? m->upn : m->mail;
		if (!v)
			continue;
		for (k = 0; k < nkeys; k++) {
			if (found[k].key || strcasecmp(v, keys[k]))
				continue;
			found[k].key = keys[k];
			rs_snprintf(found[k].id, sizeof(found[k].id), "%s",
				    m->id);
			found[k].mail = m->mail ? rs_strdup(m->mail) : NULL;
			found[k].upn = m->upn ? rs_strdup(m->upn) : NULL;
		}
	}
}

/* Builds "/users?$filter=<prop> in (...)&$select=..." for keys. */
static rs_err_t filter_path(const char *prop, char **keys, size_t n,
			    char *buf, size_t size) {
	char filter[RS_GRAPH_MAX_LINK];
	rs_err_t err;

	err = rs_odata_filter_in(prop, (const char *const *)keys, n, filter,
				 sizeof(filter));
	if (err != RS_OK)
		return err;
	if (!rs_snprintf(buf, size,
			 "/users?%s&$select=id,mail,userPrincipalName",
			 filter))
		return RS_ERR_TOO_LARGE;
	return RS_OK;
}

/* Follows a nextLink of a filter answer (rare: 15 values, page 100). */
static rs_error_t *follow_pages(rs_graph_t *g, rs_graph_call_t *call,
				char *link, rs_graph_members_t *page) {
	size_t pages = 1;

	while (link) {
		rs_http_resp_t resp;
		rs_error_t *error;
		char *next = NULL;
		rs_err_t err;

		if (!rs_graph_next_link_valid(g->base_url, link) ||
		    ++pages > g->max_pages) {
			rs_free(link);
			return rs_error_new(RS_ERR_BAD_RESPONSE, false, false,
					    -1,
					    "tenant %s: refusing nextLink "
					    "outside %s or past %zu pages",
					    g->tenant, g->base_url,
					    g->max_pages);
		}
		rs_http_resp_init(&resp);
		error = rs_graph_send(g, call, RS_HTTP_GET, link, NULL,
				      "users.resolve", &resp);
		rs_free(link);
		link = NULL;
		if (!error) {
			err = rs_graph_page_parse(resp.body ? resp.body : "",
						  resp.body_len, g->max_members,
						  page, &next);
			if (err != RS_OK)
				error = rs_error_new(err, false, false, -1,
						     "tenant %s: bad users "
						     "page: %s",
						     g->tenant, rs_err_str(err));
		}
		rs_http_resp_cleanup(&resp);
		if (error)
			return error;
		link = next;
	}
	return NULL;
}

/* One filter (by URL) answered directly: GET {base}{path}. */
static rs_error_t *resolve_direct(rs_graph_t *g, rs_graph_call_t *call,
				  const char *path, rs_graph_members_t *page) {
	char url[RS_GRAPH_MAX_LINK + 512];
	rs_http_resp_t resp;
	rs_error_t *error;
	char *next = NULL;
	rs_err_t err;

	rs_snprintf(url, sizeof(url), "%s%s", g->base_url, path);
	rs_http_resp_init(&resp);
	error = rs_graph_send(g, call, RS_HTTP_GET, url, NULL, "users.resolve",
			      &resp);
	if (!error) {
		err = rs_graph_page_parse(resp.body ? resp.body : "",
					  resp.body_len, g->max_members, page,
					  &next);
		if (err != RS_OK)
			error = rs_error_new(err, false, false, -1,
					     "tenant %s: bad users page: %s",
					     g->tenant, rs_err_str(err));
	}
	rs_http_resp_cleanup(&resp);
	if (error)
		return error;
	return follow_pages(g, call, next, page);
}

/* One pass (mail or UPN) over keys[0..n): fills found[]. */
/*
 * keys are split in filters of 15 (the `in` limit); in BATCH mode 20 such
 * filters travel in one $batch, so 300 e-mails cost one request.  An
 * item that is not 200 fails the whole pass: a partially resolved tenant
 * would make the planner remove people it simply did not look up.
 */
static rs_error_t *resolve_pass(rs_graph_t *g, rs_graph_call_t *call,
				const char *prop, char **keys, size_t n,
				rs_graph_user_t *found) {
	size_t nchunks = (n + RS_GRAPH_IN_MAX - 1) / RS_GRAPH_IN_MAX;
	size_t per_req = g->resolve_mode == RS_GRAPH_RESOLVE_BATCH
				 ? RS_GRAPH_BATCH_MAX
				 : 1;
	bool by_upn = !strcmp(prop, "userPrincipalName");
	size_t c0;

	for (c0 = 0; c0 < nchunks; c0 += per_req) {
		rs_graph_bitem_t items[RS_GRAPH_BATCH_MAX];
		size_t nb = RS_MIN(per_req, nchunks - c0), b;
		rs_error_t *error = NULL;

		memset(items, 0, sizeof(items));
		for (b = 0; b < nb; b++) {
			size_t k0 = (c0 + b) * RS_GRAPH_IN_MAX;
			size_t kn = RS_MIN(RS_GRAPH_IN_MAX, n - k0);
			char path[RS_GRAPH_MAX_LINK];
			rs_err_t err = filter_path(prop, keys + k0, kn, path,
						   sizeof(path));
			if (err != RS_OK) {
				rs_graph_bitems_cleanup(items, b);
				return rs_error_new(err, false, false, -1,
						    "tenant %s: cannot build "
						    "%s filter: %s",
						    g->tenant, prop,
						    rs_err_str(err));
			}
			items[b].method = "GET";
			items[b].url = rs_strdup(path);
		}
		if (per_req == 1) {
			rs_graph_members_t page;
			rs_graph_members_init(&page);
			error = resolve_direct(g, call, items[0].url, &page);
			if (!error)
				resolve_take(&page, keys + c0 * RS_GRAPH_IN_MAX,
					     RS_MIN(RS_GRAPH_IN_MAX,
						    n - c0 * RS_GRAPH_IN_MAX),
					     by_upn,
					     found + c0 * RS_GRAPH_IN_MAX);
			rs_graph_members_cleanup(&page);
		} else {
			error = rs_graph_batch_run(g, call, items, nb,
						   "users.resolve");
			for (b = 0; !error && b < nb; b++) {
				size_t k0 = (c0 + b) * RS_GRAPH_IN_MAX;
				size_t kn = RS_MIN(RS_GRAPH_IN_MAX, n - k0);
				rs_graph_members_t page;
				char *next = NULL;
				rs_err_t err;

				if (items[b].status != 200) {
					rs_graph_call_note(call, items[b].status,
							   items[b].code,
							   items[b].message,
							   NULL);
					error = rs_graph_item_error(
						g, &items[b], "users filter");
					break;
				}
				rs_graph_members_init(&page);
				err = rs_graph_page_parse(
					items[b].body ? items[b].body : "",
					items[b].body ? strlen(items[b].body)
						      : 0,
					g->max_members, &page, &next);
				if (err == RS_OK)
					error = follow_pages(g, call, next,
							     &page);
				else
					error = rs_error_new(
						err, false, false, -1,
						"tenant %s: bad users page in "
						"$batch: %s",
						g->tenant, rs_err_str(err));
				if (!error)
					resolve_take(&page, keys + k0, kn,
						     by_upn, found + k0);
				rs_graph_members_cleanup(&page);
			}
		}
		rs_graph_bitems_cleanup(items, nb);
		if (error)
			return error;
	}
	return NULL;
}

/*
 * Two passes because Talkdesk addresses are sometimes the person's sign-in
 * name and not their mailbox (the simulator models 8 % of those): mail
 * first, as it is what most people share, then UPN for the rest only, so
 * the second pass costs requests in proportion to the mismatches.
 */
rs_error_t *rs_graph_resolve(rs_graph_t *g, const char *const *emails,
			     size_t cnt, rs_graph_call_t *call,
			     rs_graph_resolve_t *res) {
	rs_error_t *error = NULL;
	char **keys = NULL, **rest = NULL;
	rs_graph_user_t *found = NULL, *found2 = NULL;
	size_t i, n = 0, nrest = 0;

	/* Normalise: lower-case, valid, unique, sorted. */
	keys = rs_calloc(cnt ? cnt : 1, sizeof(*keys));
	for (i = 0; i < cnt; i++) {
		size_t j;
		if (!emails[i] || !email_ok(emails[i])) {
			res->invalid_cnt++;
			continue;
		}
		keys[n] = rs_strdup(emails[i]);
		for (j = 0; keys[n][j]; j++)
			keys[n][j] = (char)tolower((unsigned char)keys[n][j]);
		n++;
	}
	qsort(keys, n, sizeof(*keys), cmp_str);
	for (i = 1; i < n;) {
		if (!strcmp(keys[i], keys[i - 1])) {
			rs_free(keys[i]);
			memmove(keys + i, keys + i + 1,
				(n - i - 1) * sizeof(*keys));
			n--;
		} else {
			i++;
		}
	}

	found = rs_calloc(n ? n : 1, sizeof(*found));
	error = resolve_pass(g, call, "mail", keys, n, found);
	if (error)
		goto out;
	/* Second pass by UPN for what mail did not find: people whose
	 * Talkdesk e-mail is their sign-in name, not their mailbox. */
	rest = rs_calloc(n ? n : 1, sizeof(*rest));
	for (i = 0; i < n; i++)
		if (!found[i].key)
			rest[nrest++] = keys[i];
	found2 = rs_calloc(nrest ? nrest : 1, sizeof(*found2));
	error = resolve_pass(g, call, "userPrincipalName", rest, nrest,
			     found2);
	if (error)
		goto out;

	/* Collect: keys are sorted, so users and unresolved come out
	 * sorted too. */
	res->users = rs_realloc(res->users,
				(res->user_cnt + n) * sizeof(*res->users));
	res->unresolved = rs_realloc(res->unresolved,
				     (res->unresolved_cnt + n + 1) *
					     sizeof(*res->unresolved));
	{
		size_t r = 0;
		for (i = 0; i < n; i++) {
			rs_graph_user_t *u = NULL;
			if (found[i].key) {
				u = &found[i];
			} else if (r < nrest && rest[r] == keys[i]) {
				if (found2[r].key)
					u = &found2[r];
				r++;
			}
			if (u) {
				rs_graph_user_t *dst =
					&res->users[res->user_cnt++];
				*dst = *u;
				dst->key = rs_strdup(keys[i]);
				u->mail = u->upn = NULL; /* moved */
			} else {
				res->unresolved[res->unresolved_cnt++] =
					rs_strdup(keys[i]);
			}
		}
	}
	qsort(res->users, res->user_cnt, sizeof(*res->users), cmp_user_key);
	qsort(res->unresolved, res->unresolved_cnt, sizeof(*res->unresolved),
	      cmp_str);
out:
	for (i = 0; found && i < n; i++) {
		rs_free(found[i].mail);
		rs_free(found[i].upn);
	}
	for (i = 0; found2 && i < nrest; i++) {
		rs_free(found2[i].mail);
		rs_free(found2[i].upn);
	}
	for (i = 0; i < n; i++)
		rs_free(keys[i]);
	rs_free(keys);
	rs_free(rest);
	rs_free(found);
	rs_free(found2);
	return error;
}
