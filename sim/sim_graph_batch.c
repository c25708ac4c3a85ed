/*
 * sim_graph_batch.c - POST /$batch (graph.md §4): up to 20 requests, each
 * run through the core's internal dispatch (sim_dispatch) exactly as if it
 * came from the wire, so per-item throttling, injected faults and the
 * ledger apply to every item independently.
 *
 * The parser (sim_graph_batch_parse) is pure and fuzzed
 * (tests/fuzz/fuzz_sim_batch.c): it validates the whole body first,
 * because Graph answers a malformed batch with one 400 and runs nothing.
 */
#include "rs/rs_base.h"

#include "sim_graph_int.h"

#include <strings.h>

/* Every validation failure is the same 400 BadRequest for the whole
 * batch (§4: "400 if malformed"); only the message differs. */
static void berr(sim_odata_err_t *err, const char *fmt, ...) RS_PRINTF(2, 3);

static void berr(sim_odata_err_t *err, const char *fmt, ...) {
	va_list ap;

	err->status = 400;
	err->code = "BadRequest";
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}

void sim_graph_batch_cleanup(sim_batch_t *b) {
	int i, j;

	for (i = 0; i < b->n; i++) {
		sim_batch_item_t *it = &b->items[i];
		rs_free(it->id);
		rs_free(it->method);
		rs_free(it->url);
		rs_free(it->body);
		for (j = 0; j < it->n_hdr; j++) {
			rs_free(it->hdr_name[j]);
			rs_free(it->hdr_value[j]);
		}
	}
	memset(b, 0, sizeof(*b));
}

/* Linear: a batch has at most 20 items. */
static int find_id(const sim_batch_t *b, int n, const char *id) {
	int i;

	for (i = 0; i < n; i++)
		if (!strcmp(b->items[i].id, id))
			return i;
	return -1;
}

/* Header names inside a batch keep the client's spelling (§4: not
 * normalized), so lookups ignore case. */
static bool has_header(const sim_batch_item_t *it, const char *name) {
	int i;

	for (i = 0; i < it->n_hdr; i++)
		if (!strcasecmp(it->hdr_name[i], name))
			return true;
	return false;
}

/* One entry of "requests"; false with err set. */
static bool parse_item(sim_batch_t *b, int idx, const cJSON *r,
		       sim_odata_err_t *err) {
	static const char *const methods[] = {"GET", "POST", "PATCH", "PUT",
					      "DELETE", NULL};
	sim_batch_item_t *it = &b->items[idx];
	const cJSON *id, *m, *u, *h, *body, *dep, *x;
	const char *url;
	int i;

	if (!cJSON_IsObject(r)) {
		berr(err, "Invalid batch payload format.");
		return false;
	}
	id = cJSON_GetObjectItemCaseSensitive(r, "id");
	m = cJSON_GetObjectItemCaseSensitive(r, "method");
	u = cJSON_GetObjectItemCaseSensitive(r, "url");
	h = cJSON_GetObjectItemCaseSensitive(r, "headers");
	body = cJSON_GetObjectItemCaseSensitive(r, "body");
	dep = cJSON_GetObjectItemCaseSensitive(r, "dependsOn");

	/* graph.md §4: id is a required, unique string. */
	if (!cJSON_IsString(id) || !id->valuestring[0] ||
	    strlen(id->valuestring) > SIM_BATCH_ID_MAX) {
		berr(err, "Invalid batch payload format: every request "
			  "needs an 'id'.");
		return false;
	}
	if (find_id(b, idx, id->valuestring) >= 0) {
		berr(err, "Batch request ids must be unique: '%s' is "
			  "repeated.",
		     id->valuestring);
		return false;
	}
	it->id = rs_strdup(id->valuestring);
	b->n = idx + 1; /* owned from here on (cleanup frees it) */

	if (!cJSON_IsString(m)) {
		berr(err, "Request id : %s does not contain a method.",
		     it->id);
		return false;
	}
	for (i = 0; methods[i]; i++)
		if (!strcasecmp(methods[i], m->valuestring))
			break;
	if (!methods[i]) {
		berr(err, "Request id : %s has an invalid method '%.16s'.",
		     it->id, m->valuestring);
		return false;
	}
	it->method = rs_strdup(methods[i]);

	/* url is relative to the version root ("/users" or "users?...");
	 * an absolute URL or a nested $batch is refused. */
	if (!cJSON_IsString(u) || !u->valuestring[0] ||
	    strlen(u->valuestring) > 8192) {
		berr(err, "Request id : %s does not contain a url.", it->id);
		return false;
	}
	url = u->valuestring;
	if (strstr(url, "://") || !strncasecmp(url, "/v1.0/", 6) ||
	    !strncasecmp(url + (url[0] == '/'), "$batch", 6)) {
		berr(err, "Request id : %s has an invalid url '%.100s'.",
		     it->id, url);
		return false;
	}
	it->url = rs_malloc(strlen(url) + 2);
	snprintf(it->url, strlen(url) + 2, "%s%s", url[0] == '/' ? "" : "/",
		 url);

	if (h && !cJSON_IsObject(h)) {
		berr(err, "Request id : %s has invalid headers.", it->id);
		return false;
	}
	cJSON_ArrayForEach(x, h) {
		if (!cJSON_IsString(x) || it->n_hdr >= SIM_BATCH_HDR_MAX ||
		    !x->string[0]) {
			berr(err, "Request id : %s has invalid headers.",
			     it->id);
			return false;
		}
		it->hdr_name[it->n_hdr] = rs_strdup(x->string);
		it->hdr_value[it->n_hdr] = rs_strdup(x->valuestring);
		it->n_hdr++;
	}
	if (body && !cJSON_IsNull(body)) {
		/* graph.md §4: Content-Type is required with a body. */
		if (!has_header(it, "Content-Type")) {
			berr(err,
			     "Write request id : %s does not contain "
			     "Content-Type header or body.",
			     it->id);
			return false;
		}
		it->body = cJSON_IsString(body)
				   ? rs_strdup(body->valuestring)
				   : cJSON_PrintUnformatted(body);
		if (!cJSON_IsString(body)) {
			/* cJSON allocates with malloc: hand over a copy
			 * owned by our allocator. */
			char *own = rs_strdup(it->body);
			cJSON_free(it->body);
			it->body = own;
		}
	}
	if (dep) {
		if (!cJSON_IsArray(dep)) {
			berr(err, "Request id : %s has an invalid dependsOn.",
			     it->id);
			return false;
		}
		cJSON_ArrayForEach(x, dep) {
			if (!cJSON_IsString(x) ||
			    it->n_depends >= SIM_BATCH_MAX) {
				berr(err,
				     "Request id : %s has an invalid "
				     "dependsOn.",
				     it->id);
				return false;
			}
			/* Resolved after all ids are known. */
			it->depends[it->n_depends++] = -1;
		}
	}
	return true;
}

/* dependsOn ids -> indexes, then a stable topological order. */
static bool resolve_depends(sim_batch_t *b, const cJSON *reqs,
			    sim_odata_err_t *err) {
	bool done[SIM_BATCH_MAX] = {false};
	const cJSON *r, *x;
	int i = 0, k, j, placed = 0;
	bool progress, ready;

	cJSON_ArrayForEach(r, reqs) {
		k = 0;
		cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(
					      r, "dependsOn")) {
			j = find_id(b, b->n, x->valuestring);
			if (j < 0 || j == i) {
				berr(err,
				     "Request id : %s depends on an unknown "
				     "request id '%.64s'.",
				     b->items[i].id, x->valuestring);
				return false;
			}
			b->items[i].depends[k++] = j;
		}
		i++;
	}
	/* Requests run in array order unless a dependency is still
	 * pending; a cycle can never become ready. */
	while (placed < b->n) {
		progress = false;
		for (i = 0; i < b->n; i++) {
			if (done[i])
				continue;
			ready = true;
			for (k = 0; k < b->items[i].n_depends; k++)
				if (!done[b->items[i].depends[k]])
					ready = false;
			if (!ready)
				continue;
			done[i] = true;
			b->order[placed++] = i;
			progress = true;
		}
		if (!progress) {
			berr(err, "Invalid batch payload format: circular "
				  "dependsOn.");
			return false;
		}
	}
	return true;
}

rs_err_t sim_graph_batch_parse(sim_batch_t *b, const char *body, size_t len,
			       sim_odata_err_t *err) {
	cJSON *root = NULL;
	const cJSON *reqs, *r;
	rs_err_t rc = RS_ERR_PARSE;
	int n = 0;

	memset(b, 0, sizeof(*b));
	if (len > SIM_BATCH_BODY_MAX) {
		berr(err, "Invalid batch payload format: body too large.");
		return RS_ERR_TOO_LARGE;
	}
	root = len ? cJSON_ParseWithLength(body, len) : NULL;
	reqs = cJSON_GetObjectItemCaseSensitive(root, "requests");
	if (!cJSON_IsObject(root) || !cJSON_IsArray(reqs)) {
		berr(err, "Invalid batch payload format.");
		goto out;
	}
	n = cJSON_GetArraySize(reqs);
	if (n == 0) {
		berr(err, "Invalid batch payload format: no requests.");
		goto out;
	}
	if (n > SIM_BATCH_MAX) {
		/* graph.md §4: at most 20 requests in one batch. */
		berr(err,
		     "The number of batch requests exceeds the limit of "
		     "%d: %d.",
		     SIM_BATCH_MAX, n);
		rc = RS_ERR_TOO_LARGE;
		goto out;
	}
	n = 0;
	cJSON_ArrayForEach(r, reqs) {
		if (!parse_item(b, n, r, err))
			goto out;
		n++;
	}
	b->n = n;
	if (!resolve_depends(b, reqs, err))
		goto out;
	rc = RS_OK;
out:
	cJSON_Delete(root);
	if (rc != RS_OK)
		sim_graph_batch_cleanup(b);
	return rc;
}

/* ---- execution -------------------------------------------------------- */

/* dependsOn succeeds only on 2xx: a 404 or 429 dependency is a failure
 * for its dependants, like Graph's 424 rule. */
static bool ok_status(int status) {
	return status >= 200 && status < 300;
}

/* One entry of "responses" from a sub-request's answer: status, its
 * headers (Retry-After of a 429 stays on the item, graph.md §4), body. */
static cJSON *item_response(const char *id, const sim_resp_t *sr) {
	cJSON *o = cJSON_CreateObject(), *h, *b = NULL;
	int i;

	cJSON_AddStringToObject(o, "id", id);
	cJSON_AddNumberToObject(o, "status", sr->status);
	h = cJSON_AddObjectToObject(o, "headers");
	for (i = 0; i < sr->n_hdr; i++) {
		/* Tracing headers belong to the outer response. */
		if (!strcasecmp(sr->hdr_name[i], "request-id") ||
		    !strcasecmp(sr->hdr_name[i], "client-request-id") ||
		    !strcasecmp(sr->hdr_name[i], "x-ms-ags-diagnostic"))
			continue;
		cJSON_AddStringToObject(h, sr->hdr_name[i], sr->hdr_value[i]);
	}
	if (sr->body_len) {
		if (sr->content_type[0])
			cJSON_AddStringToObject(h, "Content-Type",
						sr->content_type);
		b = cJSON_ParseWithLength(sr->body, sr->body_len);
		if (!b) {
			/* Non-JSON bodies travel as strings. */
			char *s = rs_strndup(sr->body, sr->body_len);
			b = cJSON_CreateString(s);
			rs_free(s);
		}
		cJSON_AddItemToObject(o, "body", b);
	}
	return o;
}

/* graph.md §4: a request whose dependency failed is not run: 424. */
static cJSON *failed_dependency(const sim_req_t *req, const char *id) {
	cJSON *o = cJSON_CreateObject(), *b, *e;

	(void)req;
	cJSON_AddStringToObject(o, "id", id);
	cJSON_AddNumberToObject(o, "status", 424);
	cJSON_AddItemToObject(
		cJSON_AddObjectToObject(o, "headers"), "Content-Type",
		cJSON_CreateString("application/json"));
	b = cJSON_AddObjectToObject(o, "body");
	e = cJSON_AddObjectToObject(b, "error");
	cJSON_AddStringToObject(e, "code", "FailedDependency");
	cJSON_AddStringToObject(e, "message",
				"The request could not be completed because "
				"a request it depends on failed.");
	return o;
}

/*
 * POST /$batch.  The outer request is authenticated but not charged: each
 * item is charged by its own handler, which is how Graph evaluates
 * batched requests (§4 "each inner request is evaluated individually").
 * No tenant lock is held across sim_dispatch (the items take their own).
 */
void sim_graph_batch(sim_req_t *req, sim_resp_t *resp) {
	sim_batch_t b;
	sim_odata_err_t err;
	int status[SIM_BATCH_MAX];
	cJSON *root, *arr;
	char url[8448];
	int i, k, idx;
	bool dep_failed;

	if (!sim_graph_auth(req, resp))
		return;
	if (sim_graph_batch_parse(&b, req->body ? req->body : "",
				  req->body_len, &err) != RS_OK) {
		sim_graph_odata_error(req, resp, &err);
		return;
	}
	root = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(root, "responses");
	for (i = 0; i < b.n; i++) {
		sim_batch_item_t *it;
		sim_req_t sub;
		sim_resp_t sr;

		idx = b.order[i];
		it = &b.items[idx];
		dep_failed = false;
		for (k = 0; k < it->n_depends; k++)
			if (!ok_status(status[it->depends[k]]))
				dep_failed = true;
		if (dep_failed) {
			status[idx] = 424;
			cJSON_AddItemToArray(arr,
					     failed_dependency(req, it->id));
			continue;
		}
		rs_snprintf(url, sizeof(url), "/graph/v1.0%s", it->url);
		sim_resp_init(&sr);
		if (sim_req_init(&sub, req->sim, req, it->method, url,
				 (const char *const *)it->hdr_name,
				 (const char *const *)it->hdr_value, it->n_hdr,
				 it->body, it->body ? strlen(it->body) : 0) !=
		    RS_OK) {
			sim_resp_graph_error(req, &sr, 400, "BadRequest",
					     "Invalid request URL.");
		} else {
			/* Items are answered independently: each is
			 * routed, throttled and faulted on its own. */
			sim_dispatch(req->sim, &sub, &sr);
		}
		status[idx] = sr.status;
		cJSON_AddItemToArray(arr, item_response(it->id, &sr));
		sim_req_cleanup(&sub);
		sim_resp_cleanup(&sr);
	}
	sim_graph_batch_cleanup(&b);
	/* graph.md §4: the batch is 200 whatever its items say. */
	sim_graph_reply(req, resp, 200, root);
}
