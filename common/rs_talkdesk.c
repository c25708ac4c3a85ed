/*
 * rs_talkdesk.c - the Talkdesk source back-end (sources.md 1).
 *
 * Three ways to learn who is in which group, chosen per tenant:
 *  - queues (default): GET /ccaas/queues, then /ccaas/queues/{id}/users
 *    for each wanted queue (Queues API, the successor of ring groups);
 *  - ring_groups: GET /ring-groups, then /ring-groups/{name}/users, whose
 *    items are ids only (deprecated 2026-07-31, retired afterwards);
 *  - guardian: GET /guardian/users?filter=..., one listing whose users
 *    carry their ring_groups; `_embedded` is a bare array there.
 * Member ids become e-mails through ONE paged /users listing per read,
 * fetched only when some member came without an e-mail: one listing of N
 * users costs ceil(N/200) requests, where a lookup per member would cost
 * one request per member and per group.
 *
 * Paging is HAL: follow _links.next.href (only under the configured base
 * URL, so a response cannot send our token elsewhere), else page+1 while
 * page < total_pages.  Guardian is paged by number from our own URL,
 * because its mandatory filter must be on every page whatever the links
 * carry.  Every listing is bounded (pages, items).
 *
 * Requests: token from rs_auth (the token host {account}.talkdeskid.com is
 * not the API host); a 401 invalidates that token and retries once;
 * 429/5xx/transport are retried honouring Retry-After (header or the
 * load-shedding body hint) while the wait fits max_wait_ms.
 */
#include "rs/rs_base.h"

#include "rs/rs_log.h"
#include "rs/rs_odata.h"
#include "rs/rs_source.h"
#include "rs_graph_int.h"
#include "rs_source_int.h"

#include <strings.h>

#include <cjson/cJSON.h>

/* Ring groups API: deprecated 2026-07-31T00:00:00Z (sources.md 1.4). */
#define TD_RG_RETIRE_MS 1785456000000LL

/* Page sizes: the documented maxima (sources.md 1.4-1.7); ring groups
 * document no maximum, so their documented default is used. */
#define TD_PAGE_QUEUES 100
#define TD_PAGE_RING_GROUPS 50
#define TD_PAGE_USERS 200
#define TD_PAGE_GUARDIAN 250

static const char *td_mode_name(int mode) {
	switch (mode) {
	case RS_SOURCE_TD_RING_GROUPS:
		return "talkdesk.ring_groups";
	case RS_SOURCE_TD_GUARDIAN:
		return "talkdesk.guardian";
	default:
		return "talkdesk.queues";
	}
}

const char *rs_source_td_scopes(int mode) {
	switch (mode) {
	case RS_SOURCE_TD_RING_GROUPS:
		return "ring-groups:read user-ring-groups:read users:read";
	case RS_SOURCE_TD_GUARDIAN:
		return "guardian-users:read";
	default:
		return "queues:read queues-users:read users:read";
	}
}

static rs_err_t td_check(const rs_source_conf_t *conf, char *errstr,
			 size_t errstr_size) {
	if (conf->mode < RS_SOURCE_TD_QUEUES ||
	    conf->mode > RS_SOURCE_TD_GUARDIAN) {
		rs_snprintf(errstr, errstr_size,
			    "talkdesk: unknown source mode %d", conf->mode);
		return RS_ERR_INVALID_ARG;
	}
	return RS_OK;
}

/* ---------------------------------------------------------------------
 * Pure page parsing
 * ------------------------------------------------------------------- */

static const char *jstr(const cJSON *o, const char *name) {
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);
	return cJSON_IsString(it) ? it->valuestring : NULL;
}

static long jlong(const cJSON *o, const char *name) {
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);
	if (!cJSON_IsNumber(it) || it->valuedouble < 0 ||
	    it->valuedouble > 1e12)
		return -1;
	return (long)it->valuedouble;
}

void rs_td_page_cleanup(rs_td_page_t *p) {
	size_t i, j;

	for (i = 0; i < p->cnt; i++) {
		rs_td_item_t *it = &p->items[i];
		rs_free(it->id);
		rs_free(it->name);
		rs_free(it->email);
		for (j = 0; j < it->rg_cnt; j++)
			rs_free(it->ring_groups[j]);
		rs_free(it->ring_groups);
	}
	rs_free(p->items);
	rs_free(p->next);
	memset(p, 0, sizeof(*p));
}

/* An id goes into a URL later: accept strings and (defensively) integer
 * numbers, nothing else. */
static char *item_id(const cJSON *o) {
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
	char buf[32];

	if (cJSON_IsString(id))
		return rs_strdup(id->valuestring);
	if (cJSON_IsNumber(id) && id->valuedouble >= 0 &&
	    id->valuedouble < 1e15 &&
	    id->valuedouble == (double)(long long)id->valuedouble) {
		rs_snprintf(buf, sizeof(buf), "%lld",
			    (long long)id->valuedouble);
		return rs_strdup(buf);
	}
	return NULL;
}

/*
 * One item shape for every listing: the fields we read are a superset of
 * what each endpoint returns (queues: id/name; ring groups: name only;
 * users: id/email/active; guardian: id/email/status/ring_groups).  Absent
 * fields stay NULL / -1, and the caller decides what it needs.
 */
static rs_err_t parse_item(const cJSON *o, rs_td_item_t *it) {
	const cJSON *act, *rg, *g;
	const char *s;

	memset(it, 0, sizeof(*it));
	it->active = -1;
	if (!cJSON_IsObject(o))
		return RS_ERR_BAD_RESPONSE;
	if (cJSON_GetObjectItemCaseSensitive(o, "id")) {
		it->id = item_id(o);
		if (!it->id)
			return RS_ERR_BAD_RESPONSE;
	}
	s = jstr(o, "name");
	it->name = s ? rs_strdup(s) : NULL;
	s = jstr(o, "email");
	it->email = s ? rs_strdup(s) : NULL;
	act = cJSON_GetObjectItemCaseSensitive(o, "active");
	if (cJSON_IsBool(act))
		it->active = cJSON_IsTrue(act) ? 1 : 0;
	/* Guardian reports "status": ACTIVE|INACTIVE|PENDING. */
	s = jstr(o, "status");
	if (it->active < 0 && s)
		it->active = !strcasecmp(s, "ACTIVE") ? 1 : 0;
	rg = cJSON_GetObjectItemCaseSensitive(o, "ring_groups");
	if (rg && !cJSON_IsArray(rg))
		return RS_ERR_BAD_RESPONSE;
	if (cJSON_IsArray(rg)) {
		size_t n = (size_t)cJSON_GetArraySize(rg);
		if (n > RS_TD_MAX_USER_GROUPS)
			return RS_ERR_TOO_LARGE;
		it->ring_groups = rs_calloc(n ? n : 1, sizeof(char *));
		cJSON_ArrayForEach(g, rg) {
			if (!cJSON_IsString(g))
				return RS_ERR_BAD_RESPONSE;
			it->ring_groups[it->rg_cnt++] =
				rs_strdup(g->valuestring);
		}
	}
	return RS_OK;
}

/* The page is parsed whole or not at all: on any error, out is left empty,
 * so a caller can never act on half a page. */
rs_err_t rs_td_page_parse(const char *json, size_t len, const char *key,
			  size_t max_items, rs_td_page_t *out) {
	rs_err_t err = RS_ERR_BAD_RESPONSE;
	cJSON *root = NULL;
	const cJSON *emb, *arr = NULL, *links, *next, *o;
	size_t n;

	memset(out, 0, sizeof(*out));
	out->page = out->total_pages = out->total = -1;
	root = cJSON_ParseWithLength(json, len);
	if (!cJSON_IsObject(root))
		goto out;
	emb = cJSON_GetObjectItemCaseSensitive(root, "_embedded");
	if (key && emb) {
		if (!cJSON_IsObject(emb))
			goto out;
		arr = cJSON_GetObjectItemCaseSensitive(emb, key);
		if (arr && !cJSON_IsArray(arr))
			goto out;
	} else if (!key && emb) {
		/* guardian: _embedded IS the array (sources.md 1.6) */
		if (!cJSON_IsArray(emb))
			goto out;
		arr = emb;
	}
	out->page = jlong(root, "page");
	out->total_pages = jlong(root, "total_pages");
	out->total = jlong(root, "total");
	links = cJSON_GetObjectItemCaseSensitive(root, "_links");
	next = cJSON_IsObject(links)
		       ? cJSON_GetObjectItemCaseSensitive(links, "next")
		       : NULL;
	if (next) {
		const char *href = jstr(next, "href");
		if (!cJSON_IsObject(next) || !href ||
		    strlen(href) > RS_TD_MAX_LINK)
			goto out;
		out->next = rs_strdup(href);
	}
	n = arr ? (size_t)cJSON_GetArraySize(arr) : 0;
	if (n > max_items) {
		err = RS_ERR_TOO_LARGE;
		goto out;
	}
	out->items = rs_calloc(n ? n : 1, sizeof(*out->items));
	cJSON_ArrayForEach(o, arr) {
		err = parse_item(o, &out->items[out->cnt]);
		out->cnt++; /* counted even on error, so cleanup frees it */
		if (err != RS_OK)
			goto out;
	}
	err = RS_OK;
out:
	cJSON_Delete(root);
	if (err != RS_OK)
		rs_td_page_cleanup(out);
	return err;
}

/* Replaces (or appends) "page=N" in a first-page URL we built ourselves. */
static char *with_page(const char *url, long page) {
	char buf[RS_TD_MAX_LINK + 32];
	const char *p = strstr(url, "?page=");

	if (!p)
		p = strstr(url, "&page=");
	if (p) {
		const char *rest = strchr(p + 1, '&');
		rs_snprintf(buf, sizeof(buf), "%.*s%cpage=%ld%s",
			    (int)(p - url), url, p[0], page, rest ? rest : "");
	} else {
		rs_snprintf(buf, sizeof(buf), "%s%cpage=%ld", url,
			    strchr(url, '?') ? '&' : '?', page);
	}
	return rs_strdup(buf);
}

rs_err_t rs_td_next_url(const char *base_url, const char *first_url,
			const rs_td_page_t *cur, bool by_number, char **out) {
	*out = NULL;
	if (by_number && cur->page >= 1 && cur->total_pages >= 0) {
		if (cur->total_pages > cur->page && cur->cnt > 0)
			*out = with_page(first_url, cur->page + 1);
		return RS_OK;
	}
	if (cur->next) {
		/* Same rule as Graph's nextLink: only under our API root. */
		if (!rs_graph_next_link_valid(base_url, cur->next))
			return RS_ERR_BAD_RESPONSE;
		*out = rs_strdup(cur->next);
		return RS_OK;
	}
	/* No link: total_pages (users, guardian) still says if more exist. */
	if (cur->page >= 1 && cur->total_pages > cur->page && cur->cnt > 0)
		*out = with_page(first_url, cur->page + 1);
	return RS_OK;
}

/* ---------------------------------------------------------------------
 * Requests
 * ------------------------------------------------------------------- */

typedef struct td_ctx_s {
	rs_source_t *src;
	rs_http_t *http;
	const char *traceparent;
	rs_source_stats_t *stats;
	uint64_t rng;
	char *token;
} td_ctx_t;

/* GET with the retry policy.  @p scope only improves the 403 message. */
/*
 * Same policy as rs_graph_send() (see rs_graph.c), kept separate because
 * the Talkdesk client has no per-call context: its counters go to the
 * snapshot's stats, and a 403 is rewritten to name the missing scope, the
 * one thing an operator needs to fix it in the Talkdesk admin console.
 */
static rs_error_t *td_get(td_ctx_t *c, const char *url, const char *op,
			  const char *scope, rs_http_resp_t *resp) {
	rs_source_t *src = c->src;
	rs_error_t *error = NULL;
	bool auth_retried = false;
	int attempt = 0;

	for (;;) {
		rs_http_req_t req;
		int64_t wait;

		rs_error_destroy(error);
		error = NULL;
		if (rs_auth_token(src->auth, c->token, RS_AUTH_MAX_TOKEN,
				  &error) != RS_OK) {
			if (!error)
				error = rs_error_new(RS_ERR_AUTH, false, false,
						     -1,
						     "tenant %s: no Talkdesk "
						     "token",
						     src->tenant);
			return error;
		}
		rs_http_req_init(&req, RS_HTTP_GET, url);
		req.bearer_token = c->token;
		req.traceparent = c->traceparent;
		req.tenant = src->tenant;
		req.op = op;
		(void)rs_http_req_add_header(&req, "Accept: application/json");
		error = rs_http_request_send(c->http, &req, resp);
		c->stats->requests++;
		if (!error)
			return NULL;
		if (resp->status == 401 && !auth_retried) {
			rs_auth_invalidate(src->auth, c->token);
			auth_retried = true;
			c->stats->auth_retries++;
			continue;
		}
		if (resp->status == 403) {
			rs_error_t *e2 = rs_error_new(
				RS_ERR_FORBIDDEN, false, false, -1,
				"tenant %s: talkdesk %s forbidden (%s %s); the "
				"client needs scope(s) \"%s\"",
				src->tenant, op, resp->api_error.code,
				resp->api_error.message, scope);
			rs_error_set_http_status(e2, 403);
			rs_error_destroy(error);
			return e2;
		}
		if (resp->status == 429)
			c->stats->throttled++;
		if (!rs_error_retriable(error) || resp->status == 401 ||
		    ++attempt >= src->max_attempts)
			return error;
		wait = rs_error_retry_after_ms(error);
		if (wait < 0)
			wait = rs_http_backoff_ms(attempt - 1, src->retry_base_ms,
						  src->retry_max_ms,
						  rs_http_rand_xorshift,
						  &c->rng);
		if (wait > src->max_wait_ms)
			return error;
		rs_sleep_ms(wait);
		c->stats->retries++;
	}
}

/* Called for each page of a listing; returns an error to stop. */
typedef rs_error_t *(page_cb_t)(td_ctx_t *c, const rs_td_page_t *page,
				void *opaque);

/* Retirement / absence of a listing endpoint, named for the operator. */
static rs_error_t *td_retired(td_ctx_t *c, const char *endpoint,
			      int status) {
	rs_source_t *src = c->src;
	int64_t now = src->wall_ms ? src->wall_ms(src->clock_opaque)
				   : rs_wall_ms();
	bool rg = !strncmp(endpoint, "/ring-groups", 12);
	rs_error_t *e = rs_error_new(
		RS_ERR_RETIRED, false, true, -1,
		"tenant %s: talkdesk %s answered %d: endpoint %s%s", src->tenant,
		endpoint, status,
		rg && now >= TD_RG_RETIRE_MS ? "retired on 2026-07-31"
					     : "missing",
		rg ? "; set talkdesk.source = \"queues\" (Queues API)" : "");
	rs_error_set_http_status(e, status);
	return e;
}

/*
 * Reads every page of a listing.  A 404/410 is returned as is with
 * *status set, so the caller decides between "endpoint retired" and
 * "this one object vanished".
 */
static rs_error_t *td_list(td_ctx_t *c, const char *first_url,
			   const char *key, const char *op,
			   const char *scope, size_t max_items, bool by_number,
			   page_cb_t *cb, void *opaque, int *status) {
	rs_source_t *src = c->src;
	char *url = rs_strdup(first_url);
	rs_error_t *error = NULL;
	size_t pages = 0, items = 0;

	*status = 0;
	while (url && !error) {
		rs_http_resp_t resp;
		rs_td_page_t page;
		char *next = NULL;
		rs_err_t err;

		if (++pages > src->max_pages) {
			error = rs_error_new(RS_ERR_TOO_LARGE, false, true, -1,
					     "tenant %s: talkdesk %s: more "
					     "than %zu pages",
					     src->tenant, op, src->max_pages);
			break;
		}
		rs_http_resp_init(&resp);
		error = td_get(c, url, op, scope, &resp);
		*status = resp.status;
		if (error) {
			rs_http_resp_cleanup(&resp);
			break;
		}
		err = rs_td_page_parse(resp.body ? resp.body : "",
				       resp.body_len, key, max_items, &page);
		rs_http_resp_cleanup(&resp);
		if (err == RS_OK && (items += page.cnt) > max_items)
			err = RS_ERR_TOO_LARGE;
		if (err == RS_OK)
			err = rs_td_next_url(src->base_url, first_url, &page,
					     by_number, &next);
		if (err != RS_OK) {
			error = rs_error_new(err, false, true, -1,
					     "tenant %s: talkdesk %s: %s",
					     src->tenant, op,
					     err == RS_ERR_TOO_LARGE
						     ? "listing above its bound"
						     : "malformed page or "
						       "foreign paging link");
			rs_td_page_cleanup(&page);
			break;
		}
		c->stats->pages++;
		error = cb(c, &page, opaque);
		rs_td_page_cleanup(&page);
		/* A server that keeps answering the same link would loop
		 * until max_pages; stop at once instead. */
		if (next && !strcmp(next, url)) {
			rs_free(next);
			next = NULL;
			if (!error)
				error = rs_error_new(
					RS_ERR_BAD_RESPONSE, false, true, -1,
					"tenant %s: talkdesk %s: next link "
					"repeats the page",
					src->tenant, op);
		}
		rs_free(url);
		url = next;
	}
	rs_free(url);
	return error;
}

/* ---------------------------------------------------------------------
 * The user listing: id -> e-mail, once per read
 * ------------------------------------------------------------------- */

typedef struct td_user_s {
	char *id;
	char *email;
	int active;
} td_user_t;

typedef struct td_users_s {
	td_user_t *v;
	size_t n;
	bool loaded;
} td_users_t;

static int cmp_user(const void *a, const void *b) {
	return strcmp(((const td_user_t *)a)->id, ((const td_user_t *)b)->id);
}

static void td_users_cleanup(td_users_t *u) {
	size_t i;

	for (i = 0; i < u->n; i++) {
		rs_free(u->v[i].id);
		rs_free(u->v[i].email);
	}
	rs_free(u->v);
	memset(u, 0, sizeof(*u));
}

static rs_error_t *users_page(td_ctx_t *c, const rs_td_page_t *page,
			      void *opaque) {
	td_users_t *u = opaque;
	size_t i;

	(void)c;
	u->v = rs_realloc(u->v, (u->n + page->cnt) * sizeof(*u->v));
	for (i = 0; i < page->cnt; i++) {
		const rs_td_item_t *it = &page->items[i];
		if (!it->id)
			continue;
		u->v[u->n].id = rs_strdup(it->id);
		u->v[u->n].email = it->email ? rs_strdup(it->email) : NULL;
		u->v[u->n].active = it->active;
		u->n++;
	}
	return NULL;
}

/*
 * The whole account's users, once per read, sorted by id for bsearch.
 * Inactive users are kept in the table so that a member who is inactive
 * is counted as such rather than as "unknown".
 */
static rs_error_t *td_users_load(td_ctx_t *c, td_users_t *u) {
	rs_source_t *src = c->src;
	char url[RS_TD_MAX_LINK];
	rs_error_t *error;
	int status;

	if (u->loaded)
		return NULL;
	rs_snprintf(url, sizeof(url), "%s/users?page=1&per_page=%d",
		    src->base_url,
		    src->page_size > 0 ? RS_MIN(src->page_size, TD_PAGE_USERS)
				       : TD_PAGE_USERS);
	error = td_list(c, url, "users", "GET /users", "users:read",
			src->max_users, false, users_page, u, &status);
	if (error && (status == 404 || status == 410)) {
		rs_error_destroy(error);
		error = td_retired(c, "/users", status);
	}
	if (error)
		return error;
	if (u->n > 1)
		qsort(u->v, u->n, sizeof(*u->v), cmp_user);
	u->loaded = true;
	c->stats->user_listings++;
	c->stats->users_listed += u->n;
	return NULL;
}

static const td_user_t *td_users_find(const td_users_t *u, const char *id) {
	td_user_t probe;

	probe.id = (char *)(uintptr_t)id;
	return u->n ? bsearch(&probe, u->v, u->n, sizeof(probe), cmp_user)
		    : NULL;
}

/* ---------------------------------------------------------------------
 * Queues and ring groups: list groups, then each group's members
 * ------------------------------------------------------------------- */

/* Member ids waiting for the user listing, per group index. */
typedef struct td_pending_s {
	size_t group;
	char *id;
} td_pending_t;

typedef struct td_members_s {
	rs_source_snapshot_t *snap;
	size_t group;         /* index into snap->groups */
	td_pending_t *pend;
	size_t npend;
	size_t members_seen;
} td_members_t;

/* Groups are taken from the listing first, members later: a read is two
 * phases so that the group filter can skip member listings entirely. */
static rs_error_t *groups_page(td_ctx_t *c, const rs_td_page_t *page,
			       void *opaque) {
	rs_source_snapshot_t *snap = opaque;
	rs_source_t *src = c->src;
	size_t i;

	for (i = 0; i < page->cnt; i++) {
		const rs_td_item_t *it = &page->items[i];
		rs_source_group_t *grp;
		const char *id = src->mode == RS_SOURCE_TD_RING_GROUPS
					 ? it->name
					 : it->id;
		if (!id || !it->name)
			return rs_error_new(RS_ERR_BAD_RESPONSE, false, true,
					    -1,
					    "tenant %s: talkdesk group without "
					    "%s",
					    src->tenant,
					    it->name ? "id" : "name");
		grp = rs_source_snapshot_add(snap, id, it->name,
					     src->max_groups);
		if (!grp)
			return rs_error_new(RS_ERR_TOO_LARGE, false, true, -1,
					    "tenant %s: more than %zu talkdesk "
					    "groups",
					    src->tenant, src->max_groups);
		grp->members_read = false;
	}
	return NULL;
}

/*
 * A member item either carries its e-mail (Queues API answers full user
 * objects) or only an id (ring groups).  Id-only members are parked and
 * resolved after every group is read, so however many groups there are
 * the user listing happens at most once.
 */
static rs_error_t *members_page(td_ctx_t *c, const rs_td_page_t *page,
				void *opaque) {
	td_members_t *m = opaque;
	rs_source_t *src = c->src;
	rs_source_group_t *grp = &m->snap->groups[m->group];
	size_t i;

	for (i = 0; i < page->cnt; i++) {
		const rs_td_item_t *it = &page->items[i];

		if (++m->members_seen > src->max_members)
			return rs_error_new(RS_ERR_TOO_LARGE, false, true, -1,
					    "tenant %s: talkdesk group %s has "
					    "more than %zu members",
					    src->tenant, grp->name,
					    src->max_members);
		if (src->active_only && it->active == 0) {
			grp->inactive_cnt++;
			continue;
		}
		if (it->email) {
			/* Full user object (Queues API): no lookup needed;
			 * an unknown "active" counts as active. */
			(void)rs_source_group_add_email(grp, it->email,
							src->max_members);
		} else if (it->id) {
			m->pend = rs_realloc(m->pend, (m->npend + 1) *
							      sizeof(*m->pend));
			m->pend[m->npend].group = m->group;
			m->pend[m->npend].id = rs_strdup(it->id);
			m->npend++;
		} else {
			grp->unknown_cnt++;
		}
	}
	return NULL;
}

/* queues and ring_groups modes: same two-phase walk, different paths,
 * keys, scopes and page sizes. */
static rs_error_t *td_read_grouped(td_ctx_t *c, rs_source_snapshot_t *snap) {
	rs_source_t *src = c->src;
	bool rg = src->mode == RS_SOURCE_TD_RING_GROUPS;
	const char *list_ep = rg ? "/ring-groups" : "/ccaas/queues";
	const char *key = rg ? "ring_groups" : "queues";
	const char *scope_list = rg ? "ring-groups:read" : "queues:read";
	const char *scope_members = rg ? "user-ring-groups:read"
				       : "queues-users:read";
	int per_page = rg ? TD_PAGE_RING_GROUPS : TD_PAGE_QUEUES;
	char url[RS_TD_MAX_LINK];
	td_members_t m;
	td_users_t users = {NULL, 0, false};
	rs_error_t *error = NULL;
	size_t gi, i;
	int status;

	memset(&m, 0, sizeof(m));
	m.snap = snap;
	if (src->page_size > 0)
		per_page = RS_MIN(src->page_size, per_page);
	rs_snprintf(url, sizeof(url), "%s%s?page=1&per_page=%d", src->base_url,
		    list_ep, per_page);
	error = td_list(c, url, key, rg ? "GET /ring-groups" : "GET /ccaas/queues",
			scope_list, src->max_groups, false, groups_page, snap,
			&status);
	if (error && (status == 404 || status == 410)) {
		rs_error_destroy(error);
		return td_retired(c, list_ep, status);
	}
	if (error)
		return error;

	for (gi = 0; gi < snap->group_cnt && !error; gi++) {
		rs_source_group_t *grp = &snap->groups[gi];
		char seg[1024];

		if (!rs_source_wants(src, grp->name))
			continue;
		/* Ring-group ids are names (spaces, accents): escape them;
		 * queue ids are opaque and escaped the same way. */
		if (rs_url_path_segment_escape(grp->id, seg, sizeof(seg)) !=
		    RS_OK) {
			error = rs_error_new(RS_ERR_BAD_RESPONSE, false, true,
					     -1,
					     "tenant %s: talkdesk group id "
					     "cannot go into a URL",
					     src->tenant);
			break;
		}
		rs_snprintf(url, sizeof(url), "%s%s/%s/users?page=1&per_page=%d",
			    src->base_url, list_ep, seg, per_page);
		m.group = gi;
		m.members_seen = 0;
		error = td_list(c, url, "users",
				rg ? "GET /ring-groups/{name}/users"
				   : "GET /ccaas/queues/{id}/users",
				scope_members, src->max_members, false,
				members_page, &m, &status);
		if (error && status == 404) {
			/* The group was deleted between the two calls: it
			 * is not in the snapshot's "read" set; the planner
			 * leaves its target alone this cycle. */
			rs_error_destroy(error);
			error = NULL;
			grp->members_read = false;
			continue;
		}
		grp->members_read = error == NULL;
	}

	/* One listing resolves every id-only member of every group. */
	if (!error && m.npend > 0)
		error = td_users_load(c, &users);
	for (i = 0; !error && i < m.npend; i++) {
		rs_source_group_t *grp = &snap->groups[m.pend[i].group];
		const td_user_t *u = td_users_find(&users, m.pend[i].id);
		if (!u || !u->email)
			grp->unknown_cnt++;
		else if (src->active_only && u->active == 0)
			grp->inactive_cnt++;
		else
			(void)rs_source_group_add_email(grp, u->email,
							src->max_members);
	}
	for (i = 0; i < m.npend; i++)
		rs_free(m.pend[i].id);
	rs_free(m.pend);
	td_users_cleanup(&users);
	return error;
}

/* ---------------------------------------------------------------------
 * Guardian: one listing, groups derived from each user's ring_groups
 * ------------------------------------------------------------------- */

/* Guardian turns the relation around (user -> groups), so groups are
 * created as they are first seen, keyed by name (ring groups have no id). */
static rs_error_t *guardian_page(td_ctx_t *c, const rs_td_page_t *page,
				 void *opaque) {
	rs_source_snapshot_t *snap = opaque;
	rs_source_t *src = c->src;
	size_t i, j;

	for (i = 0; i < page->cnt; i++) {
		const rs_td_item_t *it = &page->items[i];

		for (j = 0; j < it->rg_cnt; j++) {
			const char *name = it->ring_groups[j];
			rs_source_group_t *grp;

			if (!rs_source_wants(src, name))
				continue;
			grp = rs_source_snapshot_by_id(snap, name);
			if (!grp) {
				grp = rs_source_snapshot_add(snap, name, name,
							     src->max_groups);
				if (!grp)
					return rs_error_new(
						RS_ERR_TOO_LARGE, false, true,
						-1,
						"tenant %s: more than %zu "
						"talkdesk groups",
						src->tenant, src->max_groups);
				grp->members_read = true;
			}
			if (src->active_only && it->active == 0) {
				grp->inactive_cnt++;
				continue;
			}
			if (rs_source_group_add_email(grp, it->email,
						      src->max_members) ==
			    RS_ERR_TOO_LARGE)
				return rs_error_new(
					RS_ERR_TOO_LARGE, false, true, -1,
					"tenant %s: talkdesk group %s has "
					"more than %zu members",
					src->tenant, name, src->max_members);
		}
	}
	return NULL;
}

static rs_error_t *td_read_guardian(td_ctx_t *c, rs_source_snapshot_t *snap) {
	rs_source_t *src = c->src;
	char url[RS_TD_MAX_LINK], filter[1024];
	rs_error_t *error;
	size_t i;
	int status;

	/* The filter is mandatory (400 1050005 without it). */
	if (rs_url_path_segment_escape(src->guardian_filter, filter,
				       sizeof(filter)) != RS_OK)
		return rs_error_new(RS_ERR_CONFIG, false, true, -1,
				    "tenant %s: guardian filter cannot be "
				    "encoded",
				    src->tenant);
	rs_snprintf(url, sizeof(url), "%s/guardian/users?filter=%s&page=1&per_page=%d",
		    src->base_url, filter,
		    src->page_size > 0 ? RS_MIN(src->page_size, TD_PAGE_GUARDIAN)
				       : TD_PAGE_GUARDIAN);
	/* Paged by number from our own URL: the filter is mandatory and a
	 * next link that dropped it would fail with 400 1050005. */
	error = td_list(c, url, NULL, "GET /guardian/users",
			"guardian-users:read", src->max_users, true,
			guardian_page, snap, &status);
	if (error && (status == 404 || status == 410)) {
		rs_error_destroy(error);
		return td_retired(c, "/guardian/users", status);
	}
	if (error)
		return error;
	/* A group nobody is in does not appear in a per-user listing; a
	 * wanted group that is missing IS empty (the listing was complete). */
	for (i = 0; i < src->group_cnt; i++) {
		if (rs_source_snapshot_find(snap, src->groups[i]))
			continue;
		rs_source_group_t *grp = rs_source_snapshot_add(
			snap, src->groups[i], src->groups[i], src->max_groups);
		if (grp)
			grp->members_read = true;
	}
	return NULL;
}

/* Per-read state lives on this stack frame, so one rs_source_t can serve
 * several threads at once (rs_source.h). */
static rs_error_t *td_read(rs_source_t *src, rs_http_t *http,
			   const char *traceparent,
			   rs_source_snapshot_t *snap) {
	td_ctx_t c;
	rs_error_t *error;

	memset(&c, 0, sizeof(c));
	c.src = src;
	c.http = http;
	c.traceparent = traceparent;
	c.stats = &snap->stats;
	c.rng = rs_http_rand_seed();
	c.token = rs_malloc(RS_AUTH_MAX_TOKEN);
	c.token[0] = '\0';
	if (src->mode == RS_SOURCE_TD_GUARDIAN)
		error = td_read_guardian(&c, snap);
	else
		error = td_read_grouped(&c, snap);
	rs_wipe(c.token, RS_AUTH_MAX_TOKEN);
	rs_free(c.token);
	return error;
}

const rs_source_backend_t rs_source_talkdesk = {
	.name = "talkdesk",
	.check = td_check,
	.mode_name = td_mode_name,
	.read = td_read,
};
