/*
 * rs_graph_members.c - group membership on Microsoft Graph: list, add,
 * remove (graph.md 2 and 4).
 *
 * Idempotency is the point of this file (ARCHITECTURE.md guarantee 2):
 * Graph has no idempotency key, so a retried job must find "already a
 * member" and "not a member" to be successes.  Adding is done 20 at a time
 * with PATCH members@odata.bind, which is all-or-nothing: one existing
 * member fails the whole chunk with 400 "already exist", and then only
 * that chunk is redone one user at a time, where the same 400 is a no-op.
 * Removing has no bulk form, so DELETE .../$ref requests travel 20 per
 * $batch; each item has its own status, and its own Retry-After.
 */
#include "rs/rs_base.h"

#include "rs/rs_graph.h"
#include "rs/rs_odata.h"
#include "rs_graph_int.h"

#include <strings.h>

#include <cjson/cJSON.h>

/* ---------------------------------------------------------------------
 * List
 * ------------------------------------------------------------------- */

/*
 * $select keeps pages small (and costs one RU less, graph.md 5); $top=999
 * is the maximum, so a call-queue group (<= 200 agents that matter, a few
 * thousand at most) is one or a few requests.
 */
rs_error_t *rs_graph_members_list(rs_graph_t *g, const char *group_id,
				  rs_graph_call_t *call,
				  rs_graph_members_t *out) {
	char *url = NULL;
	rs_error_t *error = NULL;

	if (!group_id || !rs_guid_valid(group_id))
		return rs_error_new(RS_ERR_INVALID_ARG, false, true, -1,
				    "tenant %s: group id is not a GUID",
				    g->tenant);
	url = rs_malloc(RS_GRAPH_MAX_LINK + 1);
	rs_snprintf(url, RS_GRAPH_MAX_LINK + 1,
		    "%s/groups/%s/members?$select=id,mail,userPrincipalName"
		    "&$top=%d",
		    g->base_url, group_id, g->page_size);
	while (url) {
		rs_http_resp_t resp;
		char *next = NULL;
		rs_err_t err;

		if (out->pages >= g->max_pages) {
			error = rs_error_new(RS_ERR_TOO_LARGE, false, true, -1,
					     "tenant %s: group %s has more "
					     "than %zu member pages",
					     g->tenant, group_id, g->max_pages);
			break;
		}
		rs_http_resp_init(&resp);
		error = rs_graph_send(g, call, RS_HTTP_GET, url, NULL,
				      "members.list", &resp);
		if (error) {
			rs_http_resp_cleanup(&resp);
			break;
		}
		err = rs_graph_page_parse(resp.body ? resp.body : "",
					  resp.body_len, g->max_members, out,
					  &next);
		rs_http_resp_cleanup(&resp);
		if (err != RS_OK) {
			error = rs_error_new(err, false, err == RS_ERR_TOO_LARGE,
					     -1,
					     "tenant %s: group %s members: %s",
					     g->tenant, group_id,
					     err == RS_ERR_TOO_LARGE
						     ? "above max_members"
						     : "malformed page");
			break;
		}
		out->pages++;
		rs_free(url);
		url = NULL;
		/* An opaque link is followed verbatim, but only inside the
		 * API root we were configured with: a response must not be
		 * able to send our bearer token to another host. */
		if (next && !rs_graph_next_link_valid(g->base_url, next)) {
			error = rs_error_new(RS_ERR_BAD_RESPONSE, false, true,
					     -1,
					     "tenant %s: group %s: nextLink "
					     "outside %s refused",
					     g->tenant, group_id, g->base_url);
			rs_free(next);
			break;
		}
		url = next;
	}
	rs_free(url);
	/* A vanished group cannot be fixed by retrying. */
	if (error && rs_error_code(error) == RS_ERR_REMOTE_NOT_FOUND &&
	    !rs_error_fatal(error)) {
		rs_error_t *e2 = rs_error_new(
			RS_ERR_REMOTE_NOT_FOUND, false, true, -1, "%s",
			rs_error_msg(error));
		rs_error_set_http_status(e2, 404);
		rs_error_destroy(error);
		error = e2;
	}
	return error;
}

/* ---------------------------------------------------------------------
 * Outcome bookkeeping shared by add and remove
 * ------------------------------------------------------------------- */

/* The "worst" outcome seen so far: a retriable error wins over a
 * permanent one (the job as a whole should be retried, with the largest
 * wait), a fatal one over both. */
typedef struct outcome_s {
	rs_error_t *error;
	int64_t max_retry_after;
} outcome_t;

static void outcome_add(outcome_t *o, rs_error_t *error) {
	bool replace;

	if (!error)
		return;
	if (rs_error_retriable(error))
		o->max_retry_after = RS_MAX(o->max_retry_after,
					    rs_error_retry_after_ms(error));
	replace = !o->error ||
		  (rs_error_fatal(error) && !rs_error_fatal(o->error)) ||
		  (!rs_error_fatal(o->error) && rs_error_retriable(error) &&
		   !rs_error_retriable(o->error));
	if (replace) {
		rs_error_destroy(o->error);
		o->error = error;
	} else {
		rs_error_destroy(error);
	}
}

static rs_error_t *outcome_take(outcome_t *o) {
	rs_error_t *e = o->error, *e2;

	if (!e || !rs_error_retriable(e) ||
	    o->max_retry_after <= rs_error_retry_after_ms(e))
		return e;
	/* Carry the largest wait of all retriable items. */
	e2 = rs_error_new(rs_error_code(e), true, rs_error_fatal(e),
			  o->max_retry_after, "%s", rs_error_msg(e));
	rs_error_set_http_status(e2, rs_error_http_status(e));
	rs_error_destroy(e);
	return e2;
}

/* Per-item outcomes are optional (items may be NULL): the planner's dry
 * runs and simple callers only want the overall error. */
static void item_set(rs_graph_item_t *items, size_t i, rs_err_t err,
		     bool noop, bool retriable, int status,
		     int64_t retry_after_ms) {
	if (!items)
		return;
	items[i].err = err;
	items[i].noop = noop;
	items[i].retriable = retriable;
	items[i].status = status;
	items[i].retry_after_ms = retry_after_ms;
}

static void item_set_error(rs_graph_item_t *items, size_t i,
			   const rs_error_t *e) {
	item_set(items, i, rs_error_code(e), false, rs_error_retriable(e),
		 rs_error_http_status(e), rs_error_retry_after_ms(e));
}

/* A 404 names the missing object (graph.md 2): is it the group? */
static bool names_group(const char *message, const char *group_id) {
	return message && strcasestr(message, group_id) != NULL;
}

static rs_error_t *group_gone(const rs_graph_t *g, const char *group_id) {
	rs_error_t *e = rs_error_new(RS_ERR_REMOTE_NOT_FOUND, false, true, -1,
				     "tenant %s: group %s does not exist",
				     g->tenant, group_id);
	rs_error_set_http_status(e, 404);
	return e;
}

/* Everything that will go into a URL or a bind reference is checked before
 * the first request, so a bad id cannot leave a job half applied. */
static rs_error_t *check_ids(const rs_graph_t *g, const char *group_id,
			     const char *const *ids, size_t cnt) {
	size_t i;

	if (!group_id || !rs_guid_valid(group_id))
		return rs_error_new(RS_ERR_INVALID_ARG, false, true, -1,
				    "tenant %s: group id is not a GUID",
				    g->tenant);
	for (i = 0; i < cnt; i++)
		if (!ids[i] || !rs_guid_valid(ids[i]))
			return rs_error_new(RS_ERR_INVALID_ARG, false, true,
					    -1,
					    "tenant %s: member #%zu is not a "
					    "GUID; nothing sent",
					    g->tenant, i);
	return NULL;
}

/* ---------------------------------------------------------------------
 * Add
 * ------------------------------------------------------------------- */

/* One user through POST members/$ref; "already exist" is a no-op. */
static rs_error_t *add_one(rs_graph_t *g, rs_graph_call_t *call,
			   const char *group_id, const char *uid, bool *noop,
			   bool *gone) {
	char url[RS_GRAPH_MAX_LINK], body[RS_GRAPH_MAX_LINK];
	rs_http_resp_t resp;
	rs_error_t *error;

	*noop = *gone = false;
	rs_snprintf(url, sizeof(url), "%s/groups/%s/members/$ref", g->base_url,
		    group_id);
	rs_snprintf(body, sizeof(body),
		    "{\"@odata.id\":\"%s/directoryObjects/%s\"}", g->base_url,
		    uid);
	rs_http_resp_init(&resp);
	error = rs_graph_send(g, call, RS_HTTP_POST, url, body, "members.add",
			      &resp);
	if (error && rs_graph_is_already_exist(resp.status,
					       resp.api_error.code,
					       resp.api_error.message)) {
		rs_error_destroy(error);
		error = NULL;
		*noop = true;
	} else if (error && resp.status == 404 &&
		   names_group(resp.api_error.message, group_id)) {
		*gone = true;
	}
	rs_http_resp_cleanup(&resp);
	return error;
}

/*
 * The fallback as one $batch: the same POST .../$ref per user, with the
 * same meaning of every answer, in one request.  Returns the error that
 * stops the whole add (group gone, batch refused, throttled past the
 * wait) or NULL; per-user outcomes go to items/outcome.
 */
static rs_error_t *add_chunk_batch(rs_graph_t *g, rs_graph_call_t *call,
				   const char *group_id,
				   const char *const *ids, size_t n,
				   rs_graph_item_t *items, size_t first,
				   outcome_t *o) {
	rs_graph_bitem_t bi[RS_GRAPH_BATCH_MAX];
	rs_error_t *stop = NULL;
	char buf[RS_GRAPH_MAX_LINK];
	size_t k;

	memset(bi, 0, sizeof(bi));
	for (k = 0; k < n; k++) {
		bi[k].method = "POST";
		rs_snprintf(buf, sizeof(buf), "/groups/%s/members/$ref",
			    group_id);
		bi[k].url = rs_strdup(buf);
		rs_snprintf(buf, sizeof(buf),
			    "{\"@odata.id\":\"%s/directoryObjects/%s\"}",
			    g->base_url, ids[k]);
		bi[k].req_body = rs_strdup(buf);
	}
	stop = rs_graph_batch_run(g, call, bi, n, "members.add");
	for (k = 0; !stop && k < n; k++) {
		rs_graph_bitem_t *it = &bi[k];
		size_t idx = first + k;

		if (it->status >= 200 && it->status < 300) {
			item_set(items, idx, RS_OK, false, false, it->status,
				 -1);
			call->writes++;
			g->stats.writes++;
		} else if (rs_graph_is_already_exist(it->status, it->code,
						     it->message)) {
			item_set(items, idx, RS_OK, true, false, it->status,
				 -1);
			call->noops++;
			g->stats.noops++;
		} else if (it->status == 404 &&
			   names_group(it->message, group_id) &&
			   !names_group(it->message, ids[k])) {
			stop = group_gone(g, group_id);
		} else {
			rs_error_t *e = rs_graph_item_error(g, it,
							    "add member");
			rs_graph_call_note(call, it->status, it->code,
					   it->message, NULL);
			item_set_error(items, idx, e);
			outcome_add(o, e);
		}
	}
	rs_graph_bitems_cleanup(bi, n);
	return stop;
}

rs_error_t *rs_graph_members_add(rs_graph_t *g, const char *group_id,
				 const char *const *user_ids, size_t cnt,
				 rs_graph_call_t *call, rs_graph_item_t *items) {
	outcome_t o = {NULL, -1};
	rs_error_t *stop = NULL; /* set: the remaining items are not sent */
	size_t c0, i;

	o.error = check_ids(g, group_id, user_ids, cnt);
	if (o.error)
		return o.error;
	for (i = 0; i < cnt; i++)
		item_set(items, i, RS_OK, false, false, 0, -1);

	for (c0 = 0; c0 < cnt && !stop; c0 += RS_GRAPH_BIND_MAX) {
		size_t n = RS_MIN(RS_GRAPH_BIND_MAX, cnt - c0);
		char url[RS_GRAPH_MAX_LINK], *body;
		rs_http_resp_t resp;
		rs_error_t *error;
		bool fallback = false;

		rs_snprintf(url, sizeof(url), "%s/groups/%s", g->base_url,
			    group_id);
		body = rs_graph_bind_body(g->base_url, user_ids + c0, n);
		rs_http_resp_init(&resp);
		error = rs_graph_send(g, call, RS_HTTP_PATCH, url, body,
				      "members.add", &resp);
		rs_free(body);
		if (!error) {
			for (i = c0; i < c0 + n; i++)
				item_set(items, i, RS_OK, false, false, 204,
					 -1);
			call->writes += n;
			g->stats.writes += n;
		} else if (rs_graph_is_already_exist(resp.status,
						     resp.api_error.code,
						     resp.api_error.message)) {
			fallback = true;
		} else if (resp.status == 404 &&
			   names_group(resp.api_error.message, group_id)) {
			stop = group_gone(g, group_id);
		} else if (resp.status == 404) {
			/* A member vanished since planning: isolate it. */
			fallback = true;
		} else {
			/* Throttled past max_wait_ms, 403, 5xx...: the same
			 * would happen to every later chunk. */
			stop = error;
			error = NULL;
		}
		rs_error_destroy(error);
		rs_http_resp_cleanup(&resp);
		if (!fallback)
			continue;

		call->fallbacks++;
		g->stats.fallbacks++;
		if (g->add_fallback_batch) {
			stop = add_chunk_batch(g, call, group_id, user_ids + c0,
					       n, items, c0, &o);
			continue;
		}
		for (i = c0; i < c0 + n && !stop; i++) {
			bool noop, gone;
			rs_error_t *e = add_one(g, call, group_id, user_ids[i],
						&noop, &gone);
			if (gone) {
				rs_error_destroy(e);
				stop = group_gone(g, group_id);
			} else if (!e) {
				item_set(items, i, RS_OK, noop, false,
					 noop ? 400 : 204, -1);
				if (noop) {
					call->noops++;
					g->stats.noops++;
				} else {
					call->writes++;
					g->stats.writes++;
				}
			} else if (rs_error_retriable(e)) {
				/* Throttled: stop here, the rest of the job
				 * is retried as a whole later. */
				item_set_error(items, i, e);
				stop = e;
			} else {
				item_set_error(items, i, e);
				outcome_add(&o, e);
			}
		}
	}
	if (stop) {
		/* Everything not attempted carries the stopping error. */
		for (i = 0; items && i < cnt; i++)
			if (items[i].status == 0 && items[i].err == RS_OK)
				item_set_error(items, i, stop);
		outcome_add(&o, stop);
	}
	return outcome_take(&o);
}

/* ---------------------------------------------------------------------
 * Remove
 * ------------------------------------------------------------------- */

rs_error_t *rs_graph_members_remove(rs_graph_t *g, const char *group_id,
				    const char *const *user_ids, size_t cnt,
				    rs_graph_call_t *call,
				    rs_graph_item_t *items) {
	outcome_t o = {NULL, -1};
	rs_error_t *stop = NULL;
	size_t c0, i;

	o.error = check_ids(g, group_id, user_ids, cnt);
	if (o.error)
		return o.error;
	for (i = 0; i < cnt; i++)
		item_set(items, i, RS_OK, false, false, 0, -1);

	for (c0 = 0; c0 < cnt && !stop; c0 += RS_GRAPH_BATCH_MAX) {
		rs_graph_bitem_t bi[RS_GRAPH_BATCH_MAX];
		size_t n = RS_MIN(RS_GRAPH_BATCH_MAX, cnt - c0), k;
		char path[256];
		rs_error_t *error;

		memset(bi, 0, sizeof(bi));
		for (k = 0; k < n; k++) {
			/* Always /$ref: without it Graph deletes the user
			 * object itself (graph.md 2). */
			rs_snprintf(path, sizeof(path),
				    "/groups/%s/members/%s/$ref", group_id,
				    user_ids[c0 + k]);
			bi[k].method = "DELETE";
			bi[k].url = rs_strdup(path);
		}
		error = rs_graph_batch_run(g, call, bi, n, "members.remove");
		if (error) {
			stop = error;
			rs_graph_bitems_cleanup(bi, n);
			break;
		}
		for (k = 0; k < n; k++) {
			rs_graph_bitem_t *it = &bi[k];
			size_t idx = c0 + k;

			if (it->status >= 200 && it->status < 300) {
				item_set(items, idx, RS_OK, false, false,
					 it->status, -1);
				call->writes++;
				g->stats.writes++;
			} else if (it->status == 404 &&
				   names_group(it->message, group_id) &&
				   !names_group(it->message,
						user_ids[idx])) {
				if (!stop)
					stop = group_gone(g, group_id);
			} else if (it->status == 404) {
				/* Not a member (any more): the goal state. */
				item_set(items, idx, RS_OK, true, false, 404,
					 -1);
				call->noops++;
				g->stats.noops++;
			} else {
				rs_error_t *e = rs_graph_item_error(
					g, it, "remove member");
				rs_graph_call_note(call, it->status, it->code,
						   it->message, NULL);
				item_set_error(items, idx, e);
				outcome_add(&o, e);
			}
		}
		rs_graph_bitems_cleanup(bi, n);
	}
	if (stop) {
		for (i = 0; items && i < cnt; i++)
			if (items[i].status == 0 && items[i].err == RS_OK)
				item_set_error(items, i, stop);
		outcome_add(&o, stop);
	}
	return outcome_take(&o);
}
