/*
 * sim_talkdesk.c - Talkdesk under /talkdesk (sources.md §1):
 *   POST /oauth/token                       client credentials, Basic auth
 *   GET  /users, /users/{id}                 users:read
 *   GET  /guardian/users, /guardian/users/{id}  guardian-users:read
 *   GET  /ring-groups                        ring-groups:read (legacy)
 *   GET  /ring-groups/{name}/users           user-ring-groups:read (legacy)
 *   POST /actions/users/assign-ring-groups   user-ring-groups:write (EA)
 *   POST /actions/users/unassign-ring-groups user-ring-groups:write (EA)
 *   PUT  /users/{id}/ring-groups             user-ring-groups:write (EA)
 *   POST /ccaas/users/status                 ccaas-user-status:read (EA)
 *   PUT  /ccaas/users/{id}/status            ccaas-user-status:write (EA)
 *   GET  /ccaas/queues                       queues:read
 *   GET  /ccaas/queues/{id}/users            queues-users:read
 *
 * The account is the one of the bearer token (one gateway host per region,
 * sources.md §1.1).  Errors are {"code":"<7 digits>","message":...} with
 * per-service code prefixes (§1.3).  Paging is HAL: page/per_page, totals
 * and _links with absolute hrefs.  Guardian's _embedded is a bare array
 * (§1.6) - unlike every other list, on purpose.
 *
 * Ring groups were deprecated on 2026-07-31 (§1.4, §1.7).  Per tenant the
 * sim serves them (with Deprecation/Sunset headers) or answers as retired:
 * a plain 404 on every /ring-groups path, because the reference documents no
 * retirement body; clients must fall back to the Queues API.
 */
#include "rs/rs_base.h"

#include "sim_priv.h"
#include "sim_talkdesk.h"

#include <curl/curl.h>

#include <strings.h>
#include <time.h>

/* 2026-07-31T00:00:00Z (sources.md §1.4). */
#define RG_RETIRE_MS 1785456000000LL

/* Per-service error codes (TD-OAS, sources.md §1.4-1.7). */
typedef struct td_codes_s {
	const char *bad_request, *unauthorized, *forbidden, *not_found;
	const char *unauth_msg, *forbidden_msg, *not_found_msg;
} td_codes_t;

static const td_codes_t td_users_codes = {
	"0040001", "0040002", "0040003", "0040000",
	"Unauthorized", "Forbidden access", "User not found"};
static const td_codes_t td_rg_codes = {
	"0300012", "0300001", "0300002", "0300007",
	"Access denied.", "Forbidden access.", "Ring Group not found"};
static const td_codes_t td_guardian_codes = {
	"1050005", "1050008", "1050009", "1050001",
	"Unauthorized", "Forbidden", "User not found"};
/* Queues API codes beyond 0490005/0490007/0490022 are not in the
 * reference; these follow the 04900xx prefix (sources.md §1.3). */
static const td_codes_t td_queue_codes = {
	"0490001", "0490002", "0490003", "0490004",
	"Unauthorized", "Forbidden access", "Queue not found"};

/* Agent status API codes 15800xx (sources.md §1.8). */
static const td_codes_t td_status_codes = {
	"1580007", "1580004", "1580005", "1580006",
	"Unauthorized", "Forbidden", "User not found"};

static const struct {
	const char *name;
	uint32_t bit;
} td_scopes[] = {
	{"users:read", SIM_TD_SCOPE_USERS_READ},
	{"ring-groups:read", SIM_TD_SCOPE_RING_GROUPS_READ},
	{"user-ring-groups:read", SIM_TD_SCOPE_USER_RING_GROUPS_READ},
	{"user-ring-groups:write", SIM_TD_SCOPE_USER_RING_GROUPS_WRITE},
	{"guardian-users:read", SIM_TD_SCOPE_GUARDIAN_USERS_READ},
	{"queues:read", SIM_TD_SCOPE_QUEUES_READ},
	{"queues-users:read", SIM_TD_SCOPE_QUEUES_USERS_READ},
	{"queues:write", SIM_TD_SCOPE_QUEUES_WRITE},
	{"account:read", SIM_TD_SCOPE_ACCOUNT_READ},
	{"ccaas-user-status:read", SIM_TD_SCOPE_CCAAS_STATUS_READ},
	{"ccaas-user-status:write", SIM_TD_SCOPE_CCAAS_STATUS_WRITE},
};

static void oauth_error(sim_resp_t *resp, int status, const char *error,
			const char *desc) {
	cJSON *root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "error", error);
	cJSON_AddStringToObject(root, "error_description", desc);
	sim_resp_json(resp, status, root, NULL);
}

/* POST /oauth/token (sources.md §1.2). */
static void td_token(sim_req_t *req, sim_resp_t *resp) {
	char *id = NULL, *secret = NULL, *tok = NULL;
	const char *ctype = sim_req_header(req, "content-type");
	const char *grant, *scope;
	sim_tenant_t *tn;
	sim_kv_t form;
	uint32_t bits = 0;
	char granted[512] = "";
	size_t i;
	int lifetime;
	cJSON *root;

	memset(&form, 0, sizeof(form));
	if (!sim_req_basic_auth(req, &id, &secret)) {
		oauth_error(resp, 401, "invalid_client",
			    "Client authentication failed: Basic "
			    "authorization header required");
		goto out;
	}
	tn = sim_tenant_by_td_client(req->sim, id);
	if (!tn || strcmp(secret, tn->td_client_secret)) {
		oauth_error(resp, 401, "invalid_client",
			    "Client authentication failed");
		goto out;
	}
	req->ledger_tenant = tn->id;
	if (!ctype ||
	    strncasecmp(ctype, "application/x-www-form-urlencoded", 33) ||
	    sim_kv_parse(&form, req->body ? req->body : "", req->body_len) !=
		    RS_OK) {
		oauth_error(resp, 400, "invalid_request",
			    "Body must be application/x-www-form-urlencoded");
		goto out;
	}
	grant = sim_kv_get(&form, "grant_type");
	if (!grant) {
		oauth_error(resp, 400, "invalid_request",
			    "Missing grant_type parameter");
		goto out;
	}
	if (strcmp(grant, "client_credentials")) {
		oauth_error(resp, 400, "unsupported_grant_type",
			    "Unsupported grant type");
		goto out;
	}
	scope = sim_kv_get(&form, "scope");
	if (scope && *scope) {
		/* Space-separated; every scope must be one the app has. */
		const char *p = scope;
		while (*p) {
			size_t n;
			bool found = false;
			while (*p == ' ')
				p++;
			n = strcspn(p, " ");
			if (!n)
				break;
			for (i = 0; i < RS_ARRAY_SIZE(td_scopes); i++) {
				if (strlen(td_scopes[i].name) == n &&
				    !strncmp(td_scopes[i].name, p, n)) {
					bits |= td_scopes[i].bit;
					found = true;
				}
			}
			if (!found) {
				oauth_error(resp, 400, "invalid_scope",
					    "The requested scope is invalid, "
					    "unknown, or malformed");
				goto out;
			}
			p += n;
		}
	} else {
		/* No scope requested: the granted list is everything. */
		for (i = 0; i < RS_ARRAY_SIZE(td_scopes); i++)
			bits |= td_scopes[i].bit;
	}
	for (i = 0; i < RS_ARRAY_SIZE(td_scopes); i++) {
		if (!(bits & td_scopes[i].bit))
			continue;
		if (granted[0])
			strncat(granted, " ", sizeof(granted) - strlen(granted) - 1);
		strncat(granted, td_scopes[i].name,
			sizeof(granted) - strlen(granted) - 1);
	}
	lifetime = sim_token_issue(req->sim, SIM_SVC_TALKDESK, tn, id, bits,
				   &tok);
	root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "access_token", tok);
	cJSON_AddStringToObject(root, "token_type", "Bearer");
	cJSON_AddNumberToObject(root, "expires_in", lifetime);
	cJSON_AddStringToObject(root, "scope", granted);
	sim_resp_json(resp, 200, root, NULL);
out:
	if (secret) {
		rs_wipe(secret, strlen(secret));
		rs_free(secret);
	}
	if (tok) {
		rs_wipe(tok, strlen(tok));
		rs_free(tok);
	}
	rs_free(id);
	sim_kv_cleanup(&form);
}

/* Bearer check + scope check + optional per-account rate limit.  On
 * failure resp is filled and false returned. */
static bool td_auth(sim_req_t *req, sim_resp_t *resp, const td_codes_t *c,
		    uint32_t scope) {
	sim_auth_t a = sim_req_auth(req, SIM_SVC_TALKDESK);
	int64_t wait;

	if (a != SIM_AUTH_OK) {
		sim_resp_td_error(resp, 401, c->unauthorized, c->unauth_msg);
		return false;
	}
	if (!(req->token.scopes & scope)) {
		sim_resp_td_error(resp, 403, c->forbidden, c->forbidden_msg);
		return false;
	}
	wait = sim_bucket_charge(req->tn, &req->tn->td_rate, 1);
	if (wait) {
		char ra[32];
		sim_retry_after_fmt(wait, ra, sizeof(ra));
		/* sources.md §1.9: the 429 body of the few operations that
		 * declare one. */
		sim_resp_td_error(resp, 429, "0012001",
				  "API rate limit exceeded");
		sim_resp_header(resp, "Retry-After", "%s", ra);
		return false;
	}
	return true;
}

/* Strict integer query argument in [lo, hi]; absent gives def. */
static bool arg_int(const sim_req_t *req, const char *name, long lo, long hi,
		    long def, long *out) {
	const char *v = sim_req_arg(req, name);
	char *end;
	long x;
	if (!v) {
		*out = def;
		return true;
	}
	if (!*v)
		return false;
	x = strtol(v, &end, 10);
	if (*end || x < lo || x > hi)
		return false;
	*out = x;
	return true;
}

static void iso_time(int64_t ms, char *buf, size_t size) {
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static cJSON *href(const sim_req_t *req, const char *fmt, ...)
	RS_PRINTF(2, 3);

/* {"href":"<base>/talkdesk<path>"} */
static cJSON *href(const sim_req_t *req, const char *fmt, ...) {
	char path[1024], full[1200];
	cJSON *o = cJSON_CreateObject();
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	rs_snprintf(full, sizeof(full), "%s/talkdesk%s",
		    rs_sim_base_url(req->sim), path);
	cJSON_AddStringToObject(o, "href", full);
	return o;
}

static cJSON *td_user_json(const sim_req_t *req, const sim_td_user_t *u) {
	cJSON *o = cJSON_CreateObject(), *l;
	char ts[32];
	iso_time(u->created_ms, ts, sizeof(ts));
	cJSON_AddStringToObject(o, "id", u->id);
	cJSON_AddStringToObject(o, "email", u->email);
	cJSON_AddStringToObject(o, "name", u->name);
	cJSON_AddBoolToObject(o, "active", u->active);
	cJSON_AddNullToObject(o, "gender");
	if (u->extension)
		cJSON_AddStringToObject(o, "extension", u->extension);
	else
		cJSON_AddNullToObject(o, "extension");
	cJSON_AddNullToObject(o, "external_phone_number");
	cJSON_AddStringToObject(o, "created_at", ts);
	l = cJSON_AddObjectToObject(o, "_links");
	cJSON_AddItemToObject(l, "self", href(req, "/users/%s", u->id));
	return o;
}

/* Adds count/total/page/per_page(/total_pages) and HAL links. */
static void add_paging(const sim_req_t *req, cJSON *root, const char *path,
		       const char *extra, long page, long per_page,
		       size_t total, size_t count, bool total_pages,
		       const char *prev_name) {
	long pages = (long)((total + (size_t)per_page - 1) / (size_t)per_page);
	cJSON *l;
	cJSON_AddNumberToObject(root, "count", (double)count);
	cJSON_AddNumberToObject(root, "total", (double)total);
	cJSON_AddNumberToObject(root, "page", (double)page);
	cJSON_AddNumberToObject(root, "per_page", (double)per_page);
	if (total_pages)
		cJSON_AddNumberToObject(root, "total_pages", (double)pages);
	l = cJSON_AddObjectToObject(root, "_links");
	cJSON_AddItemToObject(l, "self",
			      href(req, "%s?page=%ld&per_page=%ld%s", path, page,
				   per_page, extra));
	if (page < pages)
		cJSON_AddItemToObject(l, "next",
				      href(req, "%s?page=%ld&per_page=%ld%s",
					   path, page + 1, per_page, extra));
	if (page > 1 && prev_name)
		cJSON_AddItemToObject(l, prev_name,
				      href(req, "%s?page=%ld&per_page=%ld%s",
					   path, page - 1, per_page, extra));
	cJSON_AddItemToObject(l, "first",
			      href(req, "%s?page=1&per_page=%ld%s", path,
				   per_page, extra));
	cJSON_AddItemToObject(l, "last",
			      href(req, "%s?page=%ld&per_page=%ld%s", path,
				   pages ? pages : 1, per_page, extra));
}

/* GET /users (sources.md §1.5). */
static void td_users_list(sim_req_t *req, sim_resp_t *resp) {
	const char *active = sim_req_arg(req, "active");
	const char *email = sim_req_arg(req, "email");
	sim_tenant_t *tn;
	sim_vec_t sel = {0};
	long page, per_page;
	size_t i, start;
	cJSON *root, *emb, *arr, *l;
	char extra[400] = "";

	if (!td_auth(req, resp, &td_users_codes, SIM_TD_SCOPE_USERS_READ))
		return;
	if (!arg_int(req, "page", 1, 1000000, 1, &page) ||
	    !arg_int(req, "per_page", 1, 200, 20, &per_page) ||
	    (active && strcmp(active, "true") && strcmp(active, "false"))) {
		sim_resp_td_error(resp, 400, "0040001", "Bad request");
		return;
	}
	if (active)
		rs_snprintf(extra, sizeof(extra), "&active=%s", active);
	tn = req->tn;
	sim_tenant_rdlock(tn);
	for (i = 0; i < tn->td_user_list.n; i++) {
		sim_td_user_t *u = tn->td_user_list.v[i];
		if (active && u->active != !strcmp(active, "true"))
			continue;
		if (email && strcasecmp(email, u->email))
			continue;
		sim_vec_push(&sel, u);
	}
	start = (size_t)(page - 1) * (size_t)per_page;
	if (start > 0 && start >= sel.n) {
		sim_tenant_unlock(tn);
		sim_vec_cleanup(&sel);
		sim_resp_td_error(resp, 400, "0040021",
				  "Pagination out of bounds");
		return;
	}
	root = cJSON_CreateObject();
	emb = cJSON_AddObjectToObject(root, "_embedded");
	arr = cJSON_AddArrayToObject(emb, "users");
	for (i = start; i < sel.n && i < start + (size_t)per_page; i++)
		cJSON_AddItemToArray(arr, td_user_json(req, sel.v[i]));
	sim_tenant_unlock(tn);
	add_paging(req, root, "/users", extra, page, per_page, sel.n,
		   (size_t)cJSON_GetArraySize(arr), true, "prev");
	l = cJSON_GetObjectItemCaseSensitive(root, "_links");
	{
		cJSON *show = href(req, "/users/{id}");
		cJSON_AddBoolToObject(show, "templated", true);
		cJSON_AddItemToObject(l, "show", show);
		show = href(req, "/users{?page,per_page,active,email}");
		cJSON_AddBoolToObject(show, "templated", true);
		cJSON_AddItemToObject(l, "index", show);
	}
	sim_vec_cleanup(&sel);
	sim_resp_json(resp, 200, root, "application/hal+json");
}

/* A lookup miss on an id that another account owns is a cross-tenant
 * attempt: same 404 as an unknown id, flagged in the ledger. */
static void flag_if_foreign(sim_req_t *req, const char *id) {
	sim_tenant_t *owner = sim_owner_of(req->sim, id);
	if (owner && owner != req->tn)
		sim_req_flag_cross_tenant(req);
}

static void td_user_get(sim_req_t *req, sim_resp_t *resp) {
	sim_td_user_t *u;
	if (!td_auth(req, resp, &td_users_codes, SIM_TD_SCOPE_USERS_READ))
		return;
	sim_tenant_rdlock(req->tn);
	u = sim_td_user_get(req->tn, req->params[0]);
	if (u)
		sim_resp_json(resp, 200, td_user_json(req, u),
			      "application/hal+json");
	sim_tenant_unlock(req->tn);
	if (!u) {
		flag_if_foreign(req, req->params[0]);
		sim_resp_td_error(resp, 404, "0040000", "User not found");
	}
}

/* ---- guardian ------------------------------------------------------ */

bool sim_td_filter_parse(const char *s, sim_td_filter_t *f) {
	memset(f, 0, sizeof(*f));
	while (*s) {
		int k = f->n;
		while (*s == ' ' || *s == '(' || *s == ')')
			s++;
		if (!*s)
			break;
		if (k == SIM_TD_FILTER_MAX)
			return false;
		if (!strncmp(s, "contains(", 9)) {
			const char *comma, *q1, *q2;
			s += 9;
			comma = strchr(s, ',');
			if (!comma || (size_t)(comma - s) >= sizeof(f->c[k].field))
				return false;
			memcpy(f->c[k].field, s, (size_t)(comma - s));
			q1 = comma + 1;
			while (*q1 == ' ')
				q1++;
			if (*q1 != '\'')
				return false;
			q2 = strchr(q1 + 1, '\'');
			if (!q2 || (size_t)(q2 - q1 - 1) >= sizeof(f->c[k].value))
				return false;
			memcpy(f->c[k].value, q1 + 1, (size_t)(q2 - q1 - 1));
			rs_snprintf(f->c[k].op, sizeof(f->c[k].op), "contains");
			s = q2 + 1;
			if (*s != ')')
				return false;
			s++;
		} else {
			size_t fl = strcspn(s, " ");
			if (!fl || fl >= sizeof(f->c[k].field))
				return false;
			memcpy(f->c[k].field, s, fl);
			s += fl;
			while (*s == ' ')
				s++;
			if (strncmp(s, "eq ", 3) && strncmp(s, "ne ", 3) &&
			    strncmp(s, "ge ", 3) && strncmp(s, "le ", 3))
				return false;
			memcpy(f->c[k].op, s, 2);
			s += 3;
			while (*s == ' ')
				s++;
			if (*s == '\'') {
				const char *q2 = strchr(s + 1, '\'');
				if (!q2 || (size_t)(q2 - s - 1) >=
						   sizeof(f->c[k].value))
					return false;
				memcpy(f->c[k].value, s + 1,
				       (size_t)(q2 - s - 1));
				s = q2 + 1;
			} else {
				size_t vl = strcspn(s, " )");
				if (!vl || vl >= sizeof(f->c[k].value))
					return false;
				/* Unquoted: true/false or a number. */
				memcpy(f->c[k].value, s, vl);
				s += vl;
			}
		}
		f->n++;
		while (*s == ' ' || *s == ')')
			s++;
		if (!*s)
			break;
		if (strncmp(s, "and ", 4))
			return false;
		s += 4;
	}
	return f->n > 0;
}

bool sim_td_filter_match(const sim_td_filter_t *f, const sim_td_user_t *u,
			 const char *ctime) {
	int i;
	for (i = 0; i < f->n; i++) {
		const char *fv;
		const char *op = f->c[i].op, *want = f->c[i].value;
		int cmp;
		if (!strcmp(f->c[i].field, "user_id") ||
		    !strcmp(f->c[i].field, "id"))
			fv = u->id;
		else if (!strcmp(f->c[i].field, "email"))
			fv = u->email;
		else if (!strcmp(f->c[i].field, "name"))
			fv = u->name;
		else if (!strcmp(f->c[i].field, "active"))
			fv = u->active ? "true" : "false";
		else if (!strcmp(f->c[i].field, "status"))
			fv = u->active ? "ACTIVE" : "INACTIVE";
		else if (!strcmp(f->c[i].field, "creation_time"))
			fv = ctime;
		else
			return false;
		if (!strcmp(op, "contains")) {
			if (!strcasestr(fv, want))
				return false;
			continue;
		}
		cmp = strcasecmp(fv, want);
		if ((!strcmp(op, "eq") && cmp) || (!strcmp(op, "ne") && !cmp) ||
		    (!strcmp(op, "ge") && cmp < 0) ||
		    (!strcmp(op, "le") && cmp > 0))
			return false;
	}
	return true;
}

static bool accept_ok(const sim_req_t *req) {
	const char *a = sim_req_header(req, "accept");
	return !a || strstr(a, "json") || strstr(a, "*/*") ||
	       strstr(a, "text/csv");
}

static cJSON *guardian_user_json(sim_tenant_t *tn, const sim_td_user_t *u) {
	cJSON *o = cJSON_CreateObject(), *rg, *cq, *mos;
	char ts[32];
	size_t i;
	iso_time(u->created_ms, ts, sizeof(ts));
	cJSON_AddStringToObject(o, "id", u->id);
	cJSON_AddStringToObject(o, "name", u->name);
	cJSON_AddStringToObject(o, "email", u->email);
	cJSON_AddStringToObject(o, "role", "Agent");
	cJSON_AddStringToObject(o, "status", u->active ? "ACTIVE" : "INACTIVE");
	cJSON_AddStringToObject(o, "presence", "Available");
	cJSON_AddStringToObject(o, "presence_type", "available");
	/* Guardian is the one user view that carries ring groups (§1.6). */
	rg = cJSON_AddArrayToObject(o, "ring_groups");
	for (i = 0; i < tn->td_queue_list.n; i++) {
		sim_td_queue_t *q = tn->td_queue_list.v[i];
		if (sim_idset_has(&q->users, u->id))
			cJSON_AddItemToArray(rg, cJSON_CreateString(q->name));
	}
	cJSON_AddNumberToObject(o, "risk", 0);
	cJSON_AddStringToObject(o, "creation_time", ts);
	cq = cJSON_AddObjectToObject(o, "call_quality");
	mos = cJSON_AddObjectToObject(cq, "mos");
	cJSON_AddNumberToObject(mos, "avg", 4.2);
	cJSON_AddNumberToObject(cq, "avg_affected_calls", 0);
	return o;
}

/*
 * GET /guardian/users.  The filter is mandatory (1050005 without it),
 * checked after the Accept header (406 first, as a gateway would), and a
 * filter the sim does not understand is refused rather than ignored: a
 * silently ignored filter would let a client believe it filtered.
 */
static void td_guardian_list(sim_req_t *req, sim_resp_t *resp) {
	const char *filter = sim_req_arg(req, "filter");
	const char *order = sim_req_arg(req, "order_by");
	sim_td_filter_t f;
	sim_vec_t sel = {0};
	long page, per_page;
	size_t i, start;
	cJSON *root, *arr;
	sim_tenant_t *tn;

	if (!td_auth(req, resp, &td_guardian_codes,
		     SIM_TD_SCOPE_GUARDIAN_USERS_READ))
		return;
	if (!accept_ok(req)) {
		sim_resp_td_error(resp, 406, "1050002",
				  "Not Acceptable header");
		return;
	}
	if (!filter || !*filter) {
		sim_resp_td_error(resp, 400, "1050005",
				  "Invalid request: the filter parameter is "
				  "required");
		return;
	}
	if (!sim_td_filter_parse(filter, &f) ||
	    !arg_int(req, "page", 1, 1000000, 1, &page) ||
	    !arg_int(req, "per_page", 1, 250, 20, &per_page) ||
	    (order && strcmp(order, "id:asc") && strcmp(order, "id"))) {
		sim_resp_td_error(resp, 400, "1050005", "Invalid request");
		return;
	}
	tn = req->tn;
	sim_tenant_rdlock(tn);
	for (i = 0; i < tn->td_user_list.n; i++) {
		sim_td_user_t *u = tn->td_user_list.v[i];
		char ts[32];
		iso_time(u->created_ms, ts, sizeof(ts));
		if (sim_td_filter_match(&f, u, ts))
			sim_vec_push(&sel, u);
	}
	start = (size_t)(page - 1) * (size_t)per_page;
	root = cJSON_CreateObject();
	/* _embedded is a bare array here (sources.md §1.6). */
	arr = cJSON_AddArrayToObject(root, "_embedded");
	for (i = start; i < sel.n && i < start + (size_t)per_page; i++)
		cJSON_AddItemToArray(arr, guardian_user_json(tn, sel.v[i]));
	sim_tenant_unlock(tn);
	/* The filter is mandatory, so every link carries it again: a "next"
	 * without it would only earn the client a 400. */
	{
		char extra[1200];
		char *esc = curl_easy_escape(NULL, filter, 0);
		if (!esc || !rs_snprintf(extra, sizeof(extra), "&filter=%s", esc))
			extra[0] = '\0';
		curl_free(esc);
		add_paging(req, root, "/guardian/users", extra, page, per_page,
			   sel.n, (size_t)cJSON_GetArraySize(arr), true, "prev");
	}
	sim_vec_cleanup(&sel);
	sim_resp_json(resp, 200, root, NULL);
}

static void td_guardian_get(sim_req_t *req, sim_resp_t *resp) {
	sim_td_user_t *u;
	if (!td_auth(req, resp, &td_guardian_codes,
		     SIM_TD_SCOPE_GUARDIAN_USERS_READ))
		return;
	if (!accept_ok(req)) {
		sim_resp_td_error(resp, 406, "1050002",
				  "Not Acceptable header");
		return;
	}
	sim_tenant_rdlock(req->tn);
	u = sim_td_user_get(req->tn, req->params[0]);
	if (u)
		sim_resp_json(resp, 200, guardian_user_json(req->tn, u), NULL);
	sim_tenant_unlock(req->tn);
	if (!u) {
		flag_if_foreign(req, req->params[0]);
		sim_resp_td_error(resp, 404, "1050001", "User not found");
	}
}

/* ---- ring groups (legacy) ------------------------------------------ */

static bool rg_retired(const sim_tenant_t *tn) {
	if (tn->rg_mode == RS_SIM_RG_AUTO)
		return rs_wall_ms() >= RG_RETIRE_MS;
	return tn->rg_mode == RS_SIM_RG_RETIRED;
}

/* Returns false (resp filled) when the tenant's ring groups are retired. */
static bool rg_available(sim_req_t *req, sim_resp_t *resp) {
	if (rg_retired(req->tn)) {
		cJSON *root = cJSON_CreateObject();
		cJSON_AddStringToObject(root, "code", "0000404");
		cJSON_AddStringToObject(root, "message", "Not Found");
		cJSON_AddStringToObject(root, "description",
					"The Ring Groups API was retired on "
					"2026-07-31; use the Queues API "
					"(/ccaas/queues).");
		sim_resp_json(resp, 404, root, NULL);
		return false;
	}
	/* Still served: announce the deprecation (RFC 8594 Sunset). */
	sim_resp_header(resp, "Deprecation", "true");
	sim_resp_header(resp, "Sunset", "Fri, 31 Jul 2026 00:00:00 GMT");
	return true;
}

static int cmp_queue_name(const void *a, const void *b) {
	const sim_td_queue_t *x = *(sim_td_queue_t *const *)a;
	const sim_td_queue_t *y = *(sim_td_queue_t *const *)b;
	return strcmp(x->name, y->name);
}

/*
 * GET /ring-groups (legacy).  A ring group has no id, its name is the key
 * (sources.md §1.4); the sim serves each queue as the ring group of the same
 * name, so legacy and Queues-API clients see the same memberships.
 */
static void td_rg_list(sim_req_t *req, sim_resp_t *resp) {
	const char *name = sim_req_arg(req, "name");
	const char *order = sim_req_arg(req, "order_by");
	sim_vec_t sel = {0};
	long page, per_page;
	size_t i, start;
	bool desc = false;
	cJSON *root, *emb, *arr, *tmpl;
	sim_tenant_t *tn;

	if (!td_auth(req, resp, &td_rg_codes, SIM_TD_SCOPE_RING_GROUPS_READ))
		return;
	if (!rg_available(req, resp))
		return;
	if (order) {
		if (!strcmp(order, "name:desc"))
			desc = true;
		else if (strcmp(order, "name") && strcmp(order, "name:asc")) {
			sim_resp_td_error(resp, 400, "0300011",
					  "Invalid order_by");
			return;
		}
	}
	if (!arg_int(req, "page", 1, 1000000, 1, &page) ||
	    !arg_int(req, "per_page", 1, 100, 50, &per_page)) {
		sim_resp_td_error(resp, 400, "0300012", "Bad request");
		return;
	}
	tn = req->tn;
	sim_tenant_rdlock(tn);
	for (i = 0; i < tn->td_queue_list.n; i++) {
		sim_td_queue_t *q = tn->td_queue_list.v[i];
		if (name && !strcasestr(q->name, name))
			continue;
		sim_vec_push(&sel, q);
	}
	/* Order is undefined without order_by (§1.4); the sim sorts by name
	 * anyway so that paging is stable. */
	qsort(sel.v, sel.n, sizeof(*sel.v), cmp_queue_name);
	if (desc)
		for (i = 0; i < sel.n / 2; i++) {
			void *t = sel.v[i];
			sel.v[i] = sel.v[sel.n - 1 - i];
			sel.v[sel.n - 1 - i] = t;
		}
	start = (size_t)(page - 1) * (size_t)per_page;
	root = cJSON_CreateObject();
	emb = cJSON_AddObjectToObject(root, "_embedded");
	arr = cJSON_AddArrayToObject(emb, "ring_groups");
	for (i = start; i < sel.n && i < start + (size_t)per_page; i++) {
		sim_td_queue_t *q = sel.v[i];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", q->name);
		cJSON_AddNumberToObject(o, "short_abandoned_threshold", 5);
		cJSON_AddNumberToObject(o, "wait_time_threshold", 20);
		cJSON_AddItemToArray(arr, o);
	}
	sim_tenant_unlock(tn);
	add_paging(req, root, "/ring-groups", "", page, per_page, sel.n,
		   (size_t)cJSON_GetArraySize(arr), false, "previous");
	tmpl = href(req, "/ring-groups?page={page}&per_page=%ld", per_page);
	cJSON_AddBoolToObject(tmpl, "templated", true);
	cJSON_AddItemToObject(cJSON_GetObjectItemCaseSensitive(root, "_links"),
			      "page", tmpl);
	sim_vec_cleanup(&sel);
	sim_resp_json(resp, 200, root, "application/hal+json");
}

/* Shared by ring-group users and queue users: a page of sorted ids. */
static cJSON *members_page(sim_req_t *req, sim_tenant_t *tn,
			   const sim_td_queue_t *q, const char *active,
			   long page, long per_page, size_t *total,
			   bool full) {
	const char **ids = sim_idset_sorted(&q->users);
	cJSON *arr = cJSON_CreateArray();
	size_t i, n = 0, start = (size_t)(page - 1) * (size_t)per_page;

	for (i = 0; i < q->users.n; i++) {
		sim_td_user_t *u = sim_td_user_get(tn, ids[i]);
		if (active && u && u->active != !strcmp(active, "true"))
			continue;
		if (n >= start && n < start + (size_t)per_page) {
			cJSON *o;
			if (full && u) {
				o = td_user_json(req, u);
			} else {
				cJSON *l;
				o = cJSON_CreateObject();
				cJSON_AddStringToObject(o, "id", ids[i]);
				l = cJSON_AddObjectToObject(o, "_links");
				cJSON_AddItemToObject(
					l, "self",
					href(req, "/users/%s", ids[i]));
			}
			cJSON_AddItemToArray(arr, o);
		}
		n++;
	}
	rs_free(ids);
	*total = n;
	return arr;
}

/*
 * GET /ring-groups/{name}/users: ids only (with self links); clients must
 * resolve each id through /users/{id}, as with the real API.
 */
static void td_rg_users(sim_req_t *req, sim_resp_t *resp) {
	const char *active = sim_req_arg(req, "active");
	sim_td_queue_t *q;
	long page, per_page;
	size_t total = 0;
	cJSON *root, *emb, *arr;
	char path[300];

	if (!td_auth(req, resp, &td_rg_codes,
		     SIM_TD_SCOPE_USER_RING_GROUPS_READ))
		return;
	if (!rg_available(req, resp))
		return;
	if (!arg_int(req, "page", 1, 1000000, 1, &page) ||
	    !arg_int(req, "per_page", 1, 100, 50, &per_page) ||
	    (active && strcmp(active, "true") && strcmp(active, "false"))) {
		sim_resp_td_error(resp, 400, "0300012", "Bad request");
		return;
	}
	sim_tenant_rdlock(req->tn);
	q = sim_td_queue_by_name(req->tn, req->params[0]);
	if (!q) {
		sim_tenant_unlock(req->tn);
		sim_resp_td_error(resp, 404, "0300007", "Ring Group not found");
		return;
	}
	arr = members_page(req, req->tn, q, active, page, per_page, &total,
			   false);
	root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "ring_group", q->name);
	sim_tenant_unlock(req->tn);
	emb = cJSON_AddObjectToObject(root, "_embedded");
	cJSON_AddItemToObject(emb, "users", arr);
	rs_snprintf(path, sizeof(path), "/ring-groups/%s/users",
		    req->params[0]);
	add_paging(req, root, path, "", page, per_page, total,
		   (size_t)cJSON_GetArraySize(arr), false, "previous");
	sim_resp_json(resp, 200, root, "application/hal+json");
}

/* ---- ring-group writes (Early Access, sources.md §1.4) ------------- */

#define RG_BULK_MAX 100
#define RG_PER_USER_MAX 100 /* "agent reached max ring groups" (0300010) */

/* Ring groups of a user = the queues that hold it. */
static size_t rg_count(sim_tenant_t *tn, const char *uid) {
	size_t i, n = 0;
	for (i = 0; i < tn->td_queue_list.n; i++)
		if (sim_idset_has(&((sim_td_queue_t *)tn->td_queue_list.v[i])
					   ->users,
				  uid))
			n++;
	return n;
}

/* Assigning an unknown name implicitly creates that ring group (§1.4). */
static sim_td_queue_t *rg_get_or_create(sim_tenant_t *tn, const char *name) {
	sim_td_queue_t *q = sim_td_queue_by_name(tn, name);
	char id[37], hex[33];
	size_t i, o = 0;
	if (q)
		return q;
	sim_guid_random(id);
	for (i = 0; id[i] && o < 32; i++)
		if (id[i] != '-')
			hex[o++] = id[i];
	hex[o] = '\0';
	return sim_td_queue_add(tn, hex, name);
}

static bool rg_name_ok(const cJSON *v) {
	size_t l;
	if (!cJSON_IsString(v))
		return false;
	l = strlen(v->valuestring);
	return l >= 1 && l <= 50 && v->valuestring[0] != ' ' &&
	       v->valuestring[l - 1] != ' ';
}

/* Applies one {"user_id","ring_groups"} item; returns NULL on success or
 * the error code (message in *msg).  Tenant write lock held. */
static const char *rg_apply(sim_tenant_t *tn, const cJSON *item, bool assign,
			    const char **msg) {
	const cJSON *uid = cJSON_GetObjectItemCaseSensitive(item, "user_id");
	const cJSON *rgs = cJSON_GetObjectItemCaseSensitive(item, "ring_groups");
	const cJSON *g;
	sim_td_user_t *u;

	if (!cJSON_IsString(uid) || !cJSON_IsArray(rgs)) {
		*msg = "Bad request";
		return "0300012";
	}
	cJSON_ArrayForEach(g, rgs) {
		if (!rg_name_ok(g)) {
			*msg = "Invalid ring group";
			return "0300006";
		}
	}
	u = sim_td_user_get(tn, uid->valuestring);
	if (!u) {
		*msg = "User not found";
		return "0300005";
	}
	cJSON_ArrayForEach(g, rgs) {
		sim_td_queue_t *q;
		if (assign) {
			if (rg_count(tn, u->id) >= RG_PER_USER_MAX &&
			    !(sim_td_queue_by_name(tn, g->valuestring) &&
			      sim_idset_has(&sim_td_queue_by_name(
						     tn, g->valuestring)->users,
					     u->id))) {
				*msg = "Agent reached the maximum number of "
				       "ring groups";
				return "0300010";
			}
			q = rg_get_or_create(tn, g->valuestring);
			if (sim_td_queue_user_add(tn, q, u->id))
				q->updated_ms = rs_wall_ms();
		} else {
			q = sim_td_queue_by_name(tn, g->valuestring);
			if (!q || !sim_idset_has(&q->users, u->id)) {
				sim_stats_write(tn->sim, false); /* no-op */
				continue;
			}
			/* A user must keep at least one ring group. */
			if (rg_count(tn, u->id) <= 1) {
				*msg = "User would be left with no ring group";
				return "0300008";
			}
			if (sim_td_queue_user_del(tn, q, u->id))
				q->updated_ms = rs_wall_ms();
		}
	}
	return NULL;
}

/* POST /actions/users/assign-ring-groups and .../unassign-ring-groups:
 * idempotent, NOT transactional - items before a failing one stay applied
 * (§1.4), bulk max 100. */
static void rg_bulk(sim_req_t *req, sim_resp_t *resp, bool assign) {
	cJSON *body;
	const cJSON *item;
	const char *code = NULL, *msg = NULL;
	int n;

	if (!td_auth(req, resp, &td_rg_codes,
		     SIM_TD_SCOPE_USER_RING_GROUPS_WRITE))
		return;
	if (!rg_available(req, resp))
		return;
	body = sim_req_json(req);
	if (!cJSON_IsArray(body)) {
		cJSON_Delete(body);
		sim_resp_td_error(resp, 400, "0300012", "Bad request");
		return;
	}
	n = cJSON_GetArraySize(body);
	if (n > RG_BULK_MAX) {
		char m[128];
		cJSON_Delete(body);
		rs_snprintf(m, sizeof(m),
			    "Bulk operations limit exceeded. Found: %d. "
			    "Allowed: %d.",
			    n, RG_BULK_MAX);
		sim_resp_td_error(resp, 400, "0300007", m);
		return;
	}
	sim_tenant_wrlock(req->tn);
	cJSON_ArrayForEach(item, body) {
		code = rg_apply(req->tn, item, assign, &msg);
		if (code)
			break;
	}
	sim_tenant_unlock(req->tn);
	cJSON_Delete(body);
	if (code)
		sim_resp_td_error(resp, !strcmp(code, "0300005") ? 404 : 400,
				  code, msg);
	else
		sim_resp_empty(resp, 204);
}

static void td_rg_assign(sim_req_t *req, sim_resp_t *resp) {
	rg_bulk(req, resp, true);
}

static void td_rg_unassign(sim_req_t *req, sim_resp_t *resp) {
	rg_bulk(req, resp, false);
}

/* PUT /users/{id}/ring-groups: replaces the user's set. */
static void td_user_rg_put(sim_req_t *req, sim_resp_t *resp) {
	cJSON *body;
	const cJSON *rgs, *g;
	sim_tenant_t *tn;
	sim_td_user_t *u;
	size_t i;

	if (!td_auth(req, resp, &td_rg_codes,
		     SIM_TD_SCOPE_USER_RING_GROUPS_WRITE))
		return;
	if (!rg_available(req, resp))
		return;
	body = sim_req_json(req);
	rgs = cJSON_GetObjectItemCaseSensitive(body, "ring_groups");
	if (!cJSON_IsArray(rgs) || cJSON_GetArraySize(rgs) < 1 ||
	    cJSON_GetArraySize(rgs) > RG_PER_USER_MAX) {
		cJSON_Delete(body);
		sim_resp_td_error(resp, 400, "0300012", "Bad request");
		return;
	}
	cJSON_ArrayForEach(g, rgs) {
		if (!rg_name_ok(g)) {
			cJSON_Delete(body);
			sim_resp_td_error(resp, 400, "0300006",
					  "Invalid ring group");
			return;
		}
	}
	tn = req->tn;
	sim_tenant_wrlock(tn);
	u = sim_td_user_get(tn, req->params[0]);
	if (!u) {
		sim_tenant_unlock(tn);
		cJSON_Delete(body);
		flag_if_foreign(req, req->params[0]);
		sim_resp_td_error(resp, 404, "0300005", "User not found");
		return;
	}
	/* Add the wanted ones first so the user never has zero. */
	cJSON_ArrayForEach(g, rgs) {
		sim_td_queue_t *q = rg_get_or_create(tn, g->valuestring);
		if (sim_td_queue_user_add(tn, q, u->id))
			q->updated_ms = rs_wall_ms();
	}
	for (i = 0; i < tn->td_queue_list.n; i++) {
		sim_td_queue_t *q = tn->td_queue_list.v[i];
		bool wanted = false;
		if (!sim_idset_has(&q->users, u->id))
			continue;
		cJSON_ArrayForEach(g, rgs)
			if (!strcmp(g->valuestring, q->name))
				wanted = true;
		if (!wanted && sim_td_queue_user_del(tn, q, u->id))
			q->updated_ms = rs_wall_ms();
	}
	sim_tenant_unlock(tn);
	cJSON_Delete(body);
	sim_resp_empty(resp, 204);
}

/* ---- agent status (Early Access, sources.md §1.8) ------------------ */

#define STATUS_BATCH_MAX 20

/* Statuses an agent can be moved from/to through the API: available, away
 * and existing custom away_* / busy_* ones; never busy, after_call_work or
 * offline (those belong to the telephony side). */
static bool status_settable(const char *s) {
	return !strcmp(s, "available") || !strcmp(s, "away") ||
	       (!strncmp(s, "away_", 5) && s[5]) ||
	       (!strncmp(s, "busy_", 5) && s[5]);
}

/* POST /ccaas/users/status {"user_ids":[≤20]} -> [{"id","status"}]. */
static void td_status_get(sim_req_t *req, sim_resp_t *resp) {
	cJSON *body, *out;
	const cJSON *ids, *id;

	if (!td_auth(req, resp, &td_status_codes,
		     SIM_TD_SCOPE_CCAAS_STATUS_READ))
		return;
	body = sim_req_json(req);
	ids = cJSON_GetObjectItemCaseSensitive(body, "user_ids");
	if (!cJSON_IsArray(ids)) {
		cJSON_Delete(body);
		sim_resp_td_error(resp, 400, "1580007", "Bad request");
		return;
	}
	if (cJSON_GetArraySize(ids) > STATUS_BATCH_MAX) {
		cJSON_Delete(body);
		sim_resp_td_error(resp, 400, "1580008",
				  "Maximum number of user ids exceeded");
		return;
	}
	out = cJSON_CreateArray();
	sim_tenant_rdlock(req->tn);
	cJSON_ArrayForEach(id, ids) {
		sim_td_user_t *u;
		cJSON *o;
		if (!cJSON_IsString(id))
			continue;
		u = sim_td_user_get(req->tn, id->valuestring);
		if (!u) /* unknown ids are left out of the answer */
			continue;
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "id", u->id);
		cJSON_AddStringToObject(o, "status", u->status);
		cJSON_AddItemToArray(out, o);
	}
	sim_tenant_unlock(req->tn);
	cJSON_Delete(body);
	sim_resp_json(resp, 200, out, NULL);
}

/* PUT /ccaas/users/{id}/status {"current_status","new_status"}: the
 * current status is an optimistic check (1580002 when stale). */
static void td_status_put(sim_req_t *req, sim_resp_t *resp) {
	cJSON *body;
	const char *cur, *nw;
	sim_td_user_t *u;
	const char *code = NULL, *msg = NULL;

	if (!td_auth(req, resp, &td_status_codes,
		     SIM_TD_SCOPE_CCAAS_STATUS_WRITE))
		return;
	body = sim_req_json(req);
	cur = cJSON_GetStringValue(
		cJSON_GetObjectItemCaseSensitive(body, "current_status"));
	nw = cJSON_GetStringValue(
		cJSON_GetObjectItemCaseSensitive(body, "new_status"));
	if (!cur || !nw || strlen(nw) >= sizeof(u->status)) {
		cJSON_Delete(body);
		sim_resp_td_error(resp, 400, "1580003", "Invalid new status");
		return;
	}
	sim_tenant_wrlock(req->tn);
	u = sim_td_user_get(req->tn, req->params[0]);
	if (!u) {
		code = "1580006";
		msg = "User not found";
	} else if (!status_settable(nw)) {
		code = "1580003";
		msg = "Invalid new status";
	} else if (strcmp(cur, u->status)) {
		code = "1580002";
		msg = "Current status does not match";
	} else if (!status_settable(u->status)) {
		code = "1580001";
		msg = "Invalid status transition";
	} else {
		rs_snprintf(u->status, sizeof(u->status), "%s", nw);
	}
	sim_tenant_unlock(req->tn);
	cJSON_Delete(body);
	if (code) {
		if (!strcmp(code, "1580006"))
			flag_if_foreign(req, req->params[0]);
		sim_resp_td_error(resp, !strcmp(code, "1580006") ? 404 : 400,
				  code, msg);
		return;
	}
	sim_resp_empty(resp, 204);
}

/* ---- queues -------------------------------------------------------- */

static cJSON *queue_json(const sim_td_queue_t *q) {
	cJSON *o = cJSON_CreateObject();
	char ts[32];
	cJSON_AddStringToObject(o, "id", q->id);
	cJSON_AddStringToObject(o, "name", q->name);
	cJSON_AddStringToObject(o, "description",
				q->description ? q->description : "");
	iso_time(q->created_ms, ts, sizeof(ts));
	cJSON_AddStringToObject(o, "created_at", ts);
	iso_time(q->updated_ms, ts, sizeof(ts));
	cJSON_AddStringToObject(o, "updated_at", ts);
	return o;
}

/* Default order: most recently updated first (§1.7), ties by id so that
 * pages never overlap. */
static int cmp_queue_updated(const void *a, const void *b) {
	const sim_td_queue_t *x = *(sim_td_queue_t *const *)a;
	const sim_td_queue_t *y = *(sim_td_queue_t *const *)b;
	if (x->updated_ms != y->updated_ms)
		return x->updated_ms > y->updated_ms ? -1 : 1;
	return strcmp(x->id, y->id);
}

/*
 *
 */
static void td_queues_list(sim_req_t *req, sim_resp_t *resp) {
	const char *id = sim_req_arg(req, "id");
	const char *name = sim_req_arg(req, "name");
	const char *order = sim_req_arg(req, "order_by");
	sim_vec_t sel = {0};
	long page, per_page;
	size_t i, start;
	cJSON *root, *emb, *arr;
	sim_tenant_t *tn;
	int (*cmp)(const void *, const void *) = cmp_queue_updated;
	bool desc = false;

	if (!td_auth(req, resp, &td_queue_codes, SIM_TD_SCOPE_QUEUES_READ))
		return;
	if (order) {
		if (!strcmp(order, "name") || !strcmp(order, "name:asc")) {
			cmp = cmp_queue_name;
		} else if (!strcmp(order, "name:desc")) {
			cmp = cmp_queue_name;
			desc = true;
		} else if (strcmp(order, "updated_at") &&
			   strcmp(order, "updated_at:desc")) {
			sim_resp_td_error(resp, 400, "0490001",
					  "Invalid order_by");
			return;
		}
	}
	if (!arg_int(req, "page", 1, 1000000, 1, &page) ||
	    !arg_int(req, "per_page", 1, 100, 20, &per_page)) {
		sim_resp_td_error(resp, 400, "0490001", "Bad request");
		return;
	}
	tn = req->tn;
	sim_tenant_rdlock(tn);
	for (i = 0; i < tn->td_queue_list.n; i++) {
		sim_td_queue_t *q = tn->td_queue_list.v[i];
		/* id wins over name (§1.7). */
		if (id && strcmp(id, q->id))
			continue;
		if (!id && name && !strcasestr(q->name, name))
			continue;
		sim_vec_push(&sel, q);
	}
	qsort(sel.v, sel.n, sizeof(*sel.v), cmp);
	if (desc)
		for (i = 0; i < sel.n / 2; i++) {
			void *t = sel.v[i];
			sel.v[i] = sel.v[sel.n - 1 - i];
			sel.v[sel.n - 1 - i] = t;
		}
	start = (size_t)(page - 1) * (size_t)per_page;
	root = cJSON_CreateObject();
	emb = cJSON_AddObjectToObject(root, "_embedded");
	arr = cJSON_AddArrayToObject(emb, "queues");
	for (i = start; i < sel.n && i < start + (size_t)per_page; i++)
		cJSON_AddItemToArray(arr, queue_json(sel.v[i]));
	sim_tenant_unlock(tn);
	add_paging(req, root, "/ccaas/queues", "", page, per_page, sel.n,
		   (size_t)cJSON_GetArraySize(arr), false, "prev");
	sim_vec_cleanup(&sel);
	sim_resp_json(resp, 200, root, "application/hal+json");
}

/* GET /ccaas/queues/{id}/users: the response JSON is an open question in
 * the reference (sources.md, Open questions 1); the sim answers like the
 * users list (HAL, _embedded.users with id/email/name). */
static void td_queue_users(sim_req_t *req, sim_resp_t *resp) {
	sim_td_queue_t *q;
	long page, per_page;
	size_t total = 0;
	cJSON *root, *emb, *arr;
	char path[300];

	if (!td_auth(req, resp, &td_queue_codes,
		     SIM_TD_SCOPE_QUEUES_USERS_READ))
		return;
	if (!arg_int(req, "page", 1, 1000000, 1, &page) ||
	    !arg_int(req, "per_page", 1, 100, 20, &per_page)) {
		sim_resp_td_error(resp, 400, "0490001", "Bad request");
		return;
	}
	sim_tenant_rdlock(req->tn);
	q = sim_td_queue_get(req->tn, req->params[0]);
	if (!q) {
		sim_tenant_unlock(req->tn);
		flag_if_foreign(req, req->params[0]);
		sim_resp_td_error(resp, 404, "0490004", "Queue not found");
		return;
	}
	arr = members_page(req, req->tn, q, NULL, page, per_page, &total,
			   true);
	sim_tenant_unlock(req->tn);
	root = cJSON_CreateObject();
	emb = cJSON_AddObjectToObject(root, "_embedded");
	cJSON_AddItemToObject(emb, "users", arr);
	rs_snprintf(path, sizeof(path), "/ccaas/queues/%s/users",
		    req->params[0]);
	add_paging(req, root, path, "", page, per_page, total,
		   (size_t)cJSON_GetArraySize(arr), false, "prev");
	sim_resp_json(resp, 200, root, "application/hal+json");
}

static void td_no_route(sim_req_t *req, sim_resp_t *resp) {
	(void)req;
	sim_resp_td_error(resp, 404, "0000404", "Not Found");
}

/*
 * Injected errors in Talkdesk's shape: 429 is the documented rate-limit
 * body, 503 the load-shedding body whose retry hint is in "fields", anything
 * else a generic 7-digit code.
 */
static void td_fault(sim_req_t *req, sim_resp_t *resp, int status,
		     const char *retry_after) {
	(void)req;
	if (status == 429) {
		sim_resp_td_error(resp, 429, "0012001",
				  "API rate limit exceeded");
	} else if (status == 503) {
		/* Load shedding carries its hint in the body too (§1.9). */
		cJSON *root = cJSON_CreateObject(), *fields, *f;
		cJSON_AddStringToObject(root, "code", "0020017");
		cJSON_AddStringToObject(root, "message",
					"Load Shedding is enabled");
		fields = cJSON_AddArrayToObject(root, "fields");
		f = cJSON_CreateObject();
		cJSON_AddStringToObject(f, "name", "retry-after");
		cJSON_AddStringToObject(f, "description",
					retry_after ? retry_after : "1");
		cJSON_AddItemToArray(fields, f);
		sim_resp_json(resp, 503, root, NULL);
	} else {
		sim_resp_td_error(resp, status, "0000500",
				  "Internal Server Error");
	}
}

static const sim_route_t td_routes[] = {
	{"POST", "/oauth/token", td_token, "talkdesk.token"},
	{"GET", "/users", td_users_list, "talkdesk.users.list"},
	{"GET", "/users/{}", td_user_get, "talkdesk.users.get"},
	{"GET", "/guardian/users", td_guardian_list, "talkdesk.guardian.list"},
	{"GET", "/guardian/users/{}", td_guardian_get, "talkdesk.guardian.get"},
	{"GET", "/ring-groups", td_rg_list, "talkdesk.ringgroups.list"},
	{"GET", "/ring-groups/{}/users", td_rg_users,
	 "talkdesk.ringgroups.users"},
	{"POST", "/actions/users/assign-ring-groups", td_rg_assign,
	 "talkdesk.ringgroups.assign"},
	{"POST", "/actions/users/unassign-ring-groups", td_rg_unassign,
	 "talkdesk.ringgroups.unassign"},
	{"PUT", "/users/{}/ring-groups", td_user_rg_put,
	 "talkdesk.users.ringgroups.put"},
	{"POST", "/ccaas/users/status", td_status_get, "talkdesk.status.get"},
	{"PUT", "/ccaas/users/{}/status", td_status_put, "talkdesk.status.put"},
	{"GET", "/ccaas/queues", td_queues_list, "talkdesk.queues.list"},
	{"GET", "/ccaas/queues/{}/users", td_queue_users,
	 "talkdesk.queues.users"},
};

const sim_module_t sim_module_talkdesk = {
	.name = "talkdesk",
	.prefix = "/talkdesk",
	.routes = td_routes,
	.n_routes = RS_ARRAY_SIZE(td_routes),
	.no_route = td_no_route,
	.fault_error = td_fault,
};
