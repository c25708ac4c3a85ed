/*
 * sim_graph.c - the Microsoft Graph module of the simulator: routing,
 * authentication, users and groups (members/owners lists, $ref add and
 * remove, PATCH with members@odata.bind).  $batch, delta and presence are
 * in sim_graph_batch.c, sim_graph_delta.c and sim_graph_presence.c.
 *
 * Every fact reproduced here is in /work/shared/reference/graph.md; the
 * section is cited where behaviour would surprise.  The tenant is the one
 * the bearer token was issued for: an object of another tenant does not
 * exist for it (404), and the attempt is flagged in the ledger.
 */
#include "rs/rs_base.h"

#include "sim_graph_int.h"

#include <strings.h>

/* graph.md §2/§3: default page 100, max $top 999. */
#define GRAPH_PAGE_DEFAULT 100
#define GRAPH_PAGE_MAX 999
/* graph.md §2: PATCH members@odata.bind takes at most 20 references. */
#define GRAPH_BIND_MAX 20

const char *const sim_graph_user_props[] = {
	"id", "displayName", "givenName", "surname", "mail",
	"userPrincipalName", "department", "accountEnabled", "userType",
	"proxyAddresses", "jobTitle", "businessPhones", "mobilePhone",
	"officeLocation", "preferredLanguage", NULL};

const char *const sim_graph_group_props[] = {
	"id", "displayName", "description", "mailNickname", "mailEnabled",
	"securityEnabled", "groupTypes", "members", "owners", NULL};

/* Filterable without ConsistencyLevel: eventual (graph.md §3). */
static const char *const user_filter_props[] = {
	"id", "mail", "userPrincipalName", "displayName", "givenName",
	"surname", NULL};

/* ---- shared helpers ------------------------------------------------- */

/*
 * The three 401 texts differ like Graph's do, so a client's log tells a
 * missing header from a stale token; clients must still act on the code
 * (InvalidAuthenticationToken: get a new token once, then give up).
 */
bool sim_graph_auth(sim_req_t *req, sim_resp_t *resp) {
	switch (sim_req_auth(req, SIM_SVC_GRAPH)) {
	case SIM_AUTH_OK:
		return true;
	case SIM_AUTH_MISSING:
		sim_resp_graph_error(req, resp, 401,
				     "InvalidAuthenticationToken",
				     "Access token is empty.");
		break;
	case SIM_AUTH_EXPIRED:
		/* graph.md §8: the text Graph gives for an expired token. */
		sim_resp_graph_error(req, resp, 401,
				     "InvalidAuthenticationToken",
				     "Access token has expired or is not yet "
				     "valid.");
		break;
	case SIM_AUTH_INVALID:
	default:
		sim_resp_graph_error(req, resp, 401,
				     "InvalidAuthenticationToken",
				     "Access token validation failure.");
		break;
	}
	/* Graph says where to authenticate on every 401. */
	sim_resp_header(resp, "WWW-Authenticate",
			"Bearer realm=\"\", authorization_uri=\"https://login."
			"microsoftonline.com/common/oauth2/authorize\"");
	return false;
}

/* Parsers fill a status/code/message triple without knowing about
 * requests; this turns it into the §8 envelope. */
void sim_graph_odata_error(sim_req_t *req, sim_resp_t *resp,
			   const sim_odata_err_t *err) {
	sim_resp_graph_error(req, resp, err->status, err->code, "%s",
			     err->message);
}

/* Every successful Graph answer carries the same content type and
 * tracing headers as an error does (§8), so clients can log request-id
 * for successes too. */
void sim_graph_reply(sim_req_t *req, sim_resp_t *resp, int status,
		     cJSON *json) {
	sim_resp_json(resp, status, json, SIM_GRAPH_CTYPE);
	sim_resp_graph_headers(req, resp);
}

/* @odata.context points at this simulator's $metadata, not Microsoft's:
 * clients must treat it as opaque, which is what this checks. */
char *sim_graph_context(const sim_req_t *req, const char *what) {
	char buf[512];

	rs_snprintf(buf, sizeof(buf), "%s/graph/v1.0/$metadata#%s",
		    rs_sim_base_url(req->sim), what);
	return rs_strdup(buf);
}

/* Directory object ids are GUIDs; anything else in an id position is the
 * "Invalid object identifier" 400, never a lookup (§2). */
bool sim_graph_is_guid(const char *s) {
	int i;

	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!((s[i] >= '0' && s[i] <= '9') ||
			     (s[i] >= 'a' && s[i] <= 'f') ||
			     (s[i] >= 'A' && s[i] <= 'F'))) {
			return false;
		}
	}
	return s[36] == '\0';
}

/* Another tenant's object: same 404 as a missing one (the caller's
 * directory does not have it), but the ledger records the attempt. */
static void flag_if_foreign(sim_req_t *req, const char *id) {
	sim_tenant_t *owner = sim_owner_of(req->sim, id);

	if (owner && owner != req->tn)
		sim_req_flag_cross_tenant(req);
}

void sim_graph_not_found(sim_req_t *req, sim_resp_t *resp, const char *id) {
	flag_if_foreign(req, id);
	/* graph.md §2: the id in the text tells which object is missing. */
	sim_resp_graph_error(req, resp, 404, "Request_ResourceNotFound",
			     "Resource '%s' does not exist or one of its "
			     "queried reference-property objects are not "
			     "present.",
			     id);
}

/* Graph sends unset string properties as null, not absent: clients that
 * treat a missing key as "not selected" must see the difference. */
static void add_str_or_null(cJSON *o, const char *k, const char *v) {
	if (v)
		cJSON_AddStringToObject(o, k, v);
	else
		cJSON_AddNullToObject(o, k);
}

/* Graph's default user properties (no $select) are the eleven of
 * user-list; department, accountEnabled etc. only when selected. */
static const char *const user_default_props[] = {
	"businessPhones", "displayName", "givenName", "jobTitle", "mail",
	"mobilePhone", "officeLocation", "preferredLanguage", "surname",
	"userPrincipalName", "id", NULL};

/* A property is written when selected, or, without $select, when it is
 * in the endpoint's default set. */
static bool want(const sim_odata_select_t *sel, const char *prop,
		 const char *const *defaults) {
	int i;

	if (sel->n)
		return sim_odata_select_has(sel, prop);
	for (i = 0; defaults[i]; i++)
		if (!strcmp(defaults[i], prop))
			return true;
	return false;
}

/* Properties the dataset does not model (jobTitle, phones, ...) are null,
 * as for a real user who has none. */
cJSON *sim_graph_user_json(const sim_user_t *u,
			   const sim_odata_select_t *sel) {
	cJSON *o = cJSON_CreateObject(), *a;
	const char *const *d = user_default_props;
	int i;

	if (want(sel, "businessPhones", d))
		cJSON_AddArrayToObject(o, "businessPhones");
	if (want(sel, "displayName", d))
		add_str_or_null(o, "displayName", u->display_name);
	if (want(sel, "givenName", d))
		add_str_or_null(o, "givenName", u->given_name);
	if (want(sel, "jobTitle", d))
		cJSON_AddNullToObject(o, "jobTitle");
	if (want(sel, "mail", d))
		add_str_or_null(o, "mail", u->mail);
	if (want(sel, "mobilePhone", d))
		cJSON_AddNullToObject(o, "mobilePhone");
	if (want(sel, "officeLocation", d))
		cJSON_AddNullToObject(o, "officeLocation");
	if (want(sel, "preferredLanguage", d))
		cJSON_AddNullToObject(o, "preferredLanguage");
	if (want(sel, "surname", d))
		add_str_or_null(o, "surname", u->surname);
	if (want(sel, "userPrincipalName", d))
		add_str_or_null(o, "userPrincipalName", u->upn);
	if (want(sel, "department", d))
		add_str_or_null(o, "department", u->department);
	if (want(sel, "accountEnabled", d))
		cJSON_AddBoolToObject(o, "accountEnabled", u->enabled);
	if (want(sel, "userType", d))
		cJSON_AddStringToObject(o, "userType",
					u->guest ? "Guest" : "Member");
	if (want(sel, "proxyAddresses", d)) {
		a = cJSON_AddArrayToObject(o, "proxyAddresses");
		for (i = 0; i < u->n_proxy; i++)
			cJSON_AddItemToArray(
				a, cJSON_CreateString(u->proxy_addresses[i]));
	}
	/* Graph always returns id, even when $select leaves it out. */
	cJSON_AddStringToObject(o, "id", u->id);
	return o;
}

static const char *const group_default_props[] = {
	"id", "displayName", "description", "mailNickname", "mailEnabled",
	"securityEnabled", "groupTypes", NULL};

cJSON *sim_graph_group_json(const sim_group_t *g,
			    const sim_odata_select_t *sel) {
	cJSON *o = cJSON_CreateObject(), *a;
	const char *const *d = group_default_props;

	cJSON_AddStringToObject(o, "id", g->id);
	if (want(sel, "displayName", d))
		add_str_or_null(o, "displayName", g->display_name);
	if (want(sel, "description", d))
		add_str_or_null(o, "description", g->description);
	if (want(sel, "mailNickname", d))
		add_str_or_null(o, "mailNickname", g->mail_nickname);
	if (want(sel, "mailEnabled", d))
		cJSON_AddBoolToObject(o, "mailEnabled", g->mail_enabled);
	if (want(sel, "securityEnabled", d))
		cJSON_AddBoolToObject(o, "securityEnabled",
				      g->security_enabled);
	if (want(sel, "groupTypes", d)) {
		a = cJSON_AddArrayToObject(o, "groupTypes");
		if (g->unified)
			cJSON_AddItemToArray(a, cJSON_CreateString("Unified"));
	}
	return o;
}

/*
 * RU cost of a request (graph.md §5): base cost by endpoint, $select -1,
 * $top < 20 -1, $expand +1, never below 1.
 */
static int graph_cost(const sim_req_t *req, int base) {
	const char *top = sim_req_arg(req, "$top");
	int cost = base;

	if (sim_req_arg(req, "$select"))
		cost--;
	if (top && strtol(top, NULL, 10) < 20)
		cost--;
	if (sim_req_arg(req, "$expand"))
		cost++;
	return RS_MAX(cost, 1);
}

/* Auth + throttle, the start of every handler. */
static bool graph_begin(sim_req_t *req, sim_resp_t *resp, int base,
			bool write) {
	if (!sim_graph_auth(req, resp))
		return false;
	return sim_graph_throttle(req, resp, write ? 1 : graph_cost(req, base),
				  write);
}

/* Appends "name=value&" (value escaped) to a query being built. */
/* Bounded by the caller's buffer: rs_snprintf truncates rather than
 * overflows, and the inputs are already bounded by the query parser. */
static void qs_add(char *buf, size_t size, const char *name,
		   const char *value) {
	char *esc;
	size_t l = strlen(buf);

	if (!value)
		return;
	esc = sim_odata_qs_escape(value);
	rs_snprintf(buf + l, size - l, "%s%s=%s", l ? "&" : "", name, esc);
	rs_free(esc);
}

/* The nextLink: the same query (filter, select, top) plus the cursor, so
 * a client that follows it verbatim gets the next page (graph.md §2). */
static char *next_link(const sim_req_t *req, const char *path, int top,
		       const char *token) {
	char q[12288], topbuf[16], *link;
	size_t need;

	q[0] = '\0';
	qs_add(q, sizeof(q), "$filter", sim_req_arg(req, "$filter"));
	qs_add(q, sizeof(q), "$select", sim_req_arg(req, "$select"));
	rs_snprintf(topbuf, sizeof(topbuf), "%d", top);
	qs_add(q, sizeof(q), "$top", topbuf);
	qs_add(q, sizeof(q), "$skiptoken", token);
	need = strlen(rs_sim_base_url(req->sim)) + strlen(path) +
	       strlen(q) + 32;
	link = rs_malloc(need);
	snprintf(link, need, "%s/graph/v1.0%s?%s", rs_sim_base_url(req->sim),
		 path, q);
	return link;
}

/* A $skiptoken that does not decode: a client that builds or edits
 * paging URLs instead of following nextLink verbatim (§2) fails here. */
/* graph.md §2/§3: $skip is unsupported on users and member lists; a
 * client that pages with $skip must fail here as it would in production
 * (page with nextLink instead).  Returns true when it answered. */
static bool refuse_skip(sim_req_t *req, sim_resp_t *resp) {
	if (!sim_req_arg(req, "$skip"))
		return false;
	sim_resp_graph_error(req, resp, 400, "Request_BadRequest",
			     "'$skip' is not supported by the service.");
	return true;
}

static void bad_skiptoken(sim_req_t *req, sim_resp_t *resp) {
	sim_resp_graph_error(req, resp, 400, "Request_BadRequest",
			     "The specified page token value has expired or "
			     "is invalid.");
}

/* ---- users ----------------------------------------------------------- */

/* The filter is a flat OR of (property, value) terms: a user matches when
 * any term does.  `mail eq` compares the mail property only, not proxy
 * aliases, as in Graph (aliases need proxyAddresses/any). */
static bool user_matches(const sim_user_t *u, const sim_odata_filter_t *f) {
	const char *v;
	int i;

	if (f->n == 0)
		return true;
	for (i = 0; i < f->n; i++) {
		const char *p = f->terms[i].prop;
		if (!strcmp(p, "mail"))
			v = u->mail;
		else if (!strcmp(p, "userPrincipalName"))
			v = u->upn;
		else if (!strcmp(p, "displayName"))
			v = u->display_name;
		else if (!strcmp(p, "givenName"))
			v = u->given_name;
		else if (!strcmp(p, "surname"))
			v = u->surname;
		else
			v = u->id;
		/* Directory string comparisons ignore case (graph.md §3
		 * lookups by mail/UPN are case-insensitive). */
		if (v && !strcasecmp(v, f->terms[i].value))
			return true;
	}
	return false;
}

/*
 * Fast path for the planner's identity lookups (eq / in on mail, UPN or
 * id, graph.md §3): use the tenant's indexes instead of scanning every
 * user, which matters at 100k users per tenant.  Only when all terms are
 * indexed and every hit fits in one page; otherwise the caller scans
 * (same results, listing order, with paging).  tn->lock held.
 */
static bool users_by_index(sim_tenant_t *tn, const sim_odata_filter_t *f,
			   int top, const sim_odata_select_t *sel, cJSON *arr) {
	const sim_user_t *hits[SIM_ODATA_OR_MAX];
	sim_user_t *u;
	char *low;
	int i, k, n = 0;

	if (f->n == 0 || f->n > SIM_ODATA_OR_MAX)
		return false;
	for (i = 0; i < f->n; i++) {
		const char *p = f->terms[i].prop, *v = f->terms[i].value;
		if (!strcmp(p, "userPrincipalName")) {
			u = sim_user_by_upn(tn, v);
		} else if (!strcmp(p, "mail")) {
			/* The index also holds proxy aliases; `mail eq`
			 * matches the mail property only. */
			u = sim_user_by_mail(tn, v);
			if (u && (!u->mail || strcasecmp(u->mail, v)))
				u = NULL;
		} else if (!strcmp(p, "id")) {
			low = sim_strlower(v);
			u = sim_user_get(tn, low);
			rs_free(low);
		} else {
			return false;
		}
		for (k = 0; u && k < n; k++)
			if (hits[k] == u)
				u = NULL;
		if (u)
			hits[n++] = u;
	}
	if (n > top)
		return false;
	for (k = 0; k < n; k++)
		cJSON_AddItemToArray(arr, sim_graph_user_json(hits[k], sel));
	return true;
}

/*
 * GET /users: validation happens before the tenant lock is taken, so a
 * bad query costs no lock time; the RU charge comes first, as in Graph,
 * where a rejected request still counts against the budget (§5).
 */
static void users_list(sim_req_t *req, sim_resp_t *resp) {
	sim_odata_filter_t f;
	sim_odata_select_t sel;
	sim_odata_err_t oerr;
	const char *fs = sim_req_arg(req, "$filter");
	const char *ss = sim_req_arg(req, "$select");
	const char *skip = sim_req_arg(req, "$skiptoken");
	char *cursor = NULL, *ctx, *tok, *link;
	cJSON *root = NULL, *arr;
	size_t i, start = 0;
	int top, n = 0;
	bool more = false;
	sim_tenant_t *tn;

	sim_odata_filter_init(&f);
	sel.n = 0;
	if (!graph_begin(req, resp, 2, false) || refuse_skip(req, resp))
		return;
	tn = req->tn;
	if (sim_odata_top_parse(sim_req_arg(req, "$top"), GRAPH_PAGE_DEFAULT,
				GRAPH_PAGE_MAX, &top, &oerr) != RS_OK ||
	    (ss && sim_odata_select_parse(&sel, ss, "microsoft.graph.user",
					  sim_graph_user_props,
					  &oerr) != RS_OK) ||
	    (fs && sim_odata_filter_parse(&f, fs, strlen(fs),
					  SIM_ODATA_OR_MAX, "User",
					  user_filter_props, &oerr) != RS_OK)) {
		sim_graph_odata_error(req, resp, &oerr);
		goto out;
	}
	if (skip) {
		char *endp = NULL;
		cursor = sim_odata_token_decode("users", skip);
		if (!cursor) {
			bad_skiptoken(req, resp);
			goto out;
		}
		start = (size_t)strtoull(cursor, &endp, 10);
		if (*endp != ':') {
			bad_skiptoken(req, resp);
			goto out;
		}
	}

	root = cJSON_CreateObject();
	ctx = sim_graph_context(req, "users");
	cJSON_AddStringToObject(root, "@odata.context", ctx);
	rs_free(ctx);
	arr = cJSON_CreateArray();
	sim_tenant_rdlock(tn);
	/* The cursor is "position:last id".  When users were deleted since
	 * the previous page the position moved: find the last id again so
	 * a walk never skips or repeats a user that is still there. */
	if (cursor) {
		const char *last = strchr(cursor, ':') + 1;
		if (start == 0 || start > tn->user_list.n ||
		    strcmp(((sim_user_t *)tn->user_list.v[start - 1])->id,
			   last)) {
			for (i = 0; i < tn->user_list.n; i++)
				if (!strcmp(((sim_user_t *)tn->user_list.v[i])
						    ->id,
					    last))
					break;
			start = i < tn->user_list.n ? i + 1 : start;
			start = RS_MIN(start, tn->user_list.n);
		}
	}
	if (!cursor && users_by_index(tn, &f, top, &sel, arr))
		start = tn->user_list.n; /* answered from the indexes */
	for (i = start; i < tn->user_list.n; i++) {
		sim_user_t *u = tn->user_list.v[i];
		if (!user_matches(u, &f))
			continue;
		if (n == top) {
			more = true;
			break;
		}
		cJSON_AddItemToArray(arr, sim_graph_user_json(u, &sel));
		n++;
		start = i + 1;
	}
	if (more) {
		sim_user_t *last = tn->user_list.v[start - 1];
		char *text = rs_malloc(strlen(last->id) + 32);
		snprintf(text, strlen(last->id) + 32, "%zu:%s", start,
			 last->id);
		tok = sim_odata_token_encode("users", text);
		rs_free(text);
		link = next_link(req, "/users", top, tok);
		cJSON_AddStringToObject(root, "@odata.nextLink", link);
		rs_free(link);
		rs_free(tok);
	}
	sim_tenant_unlock(tn);
	cJSON_AddItemToObject(root, "value", arr);
	sim_graph_reply(req, resp, 200, root);
	root = NULL;
out:
	cJSON_Delete(root);
	rs_free(cursor);
	sim_odata_filter_cleanup(&f);
}

/* /users/{id | userPrincipalName}: GUIDs are object ids, anything else a
 * UPN, compared case-insensitively (graph.md §3).  The form
 * /users('$x@y') is accepted too (UPNs starting with '$'). */
static sim_user_t *user_lookup(sim_tenant_t *tn, const char *key) {
	char buf[512];
	size_t l = strlen(key);

	if (l > 4 && l < sizeof(buf) && key[0] == '(' && key[1] == '\'' &&
	    key[l - 2] == '\'' && key[l - 1] == ')') {
		memcpy(buf, key + 2, l - 4);
		buf[l - 4] = '\0';
		key = buf;
	}
	if (sim_graph_is_guid(key)) {
		char *low = sim_strlower(key);
		sim_user_t *u = sim_user_get(tn, low);
		rs_free(low);
		return u;
	}
	return sim_user_by_upn(tn, key);
}

static void user_get(sim_req_t *req, sim_resp_t *resp) {
	sim_odata_select_t sel;
	sim_odata_err_t oerr;
	const char *ss = sim_req_arg(req, "$select");
	sim_user_t *u;
	cJSON *o = NULL;

	if (!graph_begin(req, resp, 2, false))
		return;
	sel.n = 0;
	if (ss && sim_odata_select_parse(&sel, ss, "microsoft.graph.user",
					 sim_graph_user_props,
					 &oerr) != RS_OK) {
		sim_graph_odata_error(req, resp, &oerr);
		return;
	}
	sim_tenant_rdlock(req->tn);
	u = user_lookup(req->tn, req->params[0]);
	if (u)
		o = sim_graph_user_json(u, &sel);
	sim_tenant_unlock(req->tn);
	if (!o) {
		sim_graph_not_found(req, resp, req->params[0]);
		return;
	}
	{
		char *ctx = sim_graph_context(req, "users/$entity");
		cJSON_AddStringToObject(o, "@odata.context", ctx);
		rs_free(ctx);
	}
	sim_graph_reply(req, resp, 200, o);
}

/* ---- groups ---------------------------------------------------------- */

/* Ids are stored lower case; Graph accepts GUIDs in either case. */
static sim_group_t *group_lookup(sim_tenant_t *tn, const char *id) {
	char *low = sim_strlower(id);
	sim_group_t *g = sim_group_get(tn, low);

	rs_free(low);
	return g;
}

/* GET /groups/{id}: "any other GET" in the §5 cost table, 1 RU. */
static void group_get(sim_req_t *req, sim_resp_t *resp) {
	sim_odata_select_t sel;
	sim_odata_err_t oerr;
	const char *ss = sim_req_arg(req, "$select");
	sim_group_t *g;
	cJSON *o = NULL;
	char *ctx;

	if (!graph_begin(req, resp, 1, false))
		return;
	sel.n = 0;
	if (ss && sim_odata_select_parse(&sel, ss, "microsoft.graph.group",
					 sim_graph_group_props,
					 &oerr) != RS_OK) {
		sim_graph_odata_error(req, resp, &oerr);
		return;
	}
	sim_tenant_rdlock(req->tn);
	g = group_lookup(req->tn, req->params[0]);
	if (g)
		o = sim_graph_group_json(g, &sel);
	sim_tenant_unlock(req->tn);
	if (!o) {
		sim_graph_not_found(req, resp, req->params[0]);
		return;
	}
	ctx = sim_graph_context(req, "groups/$entity");
	cJSON_AddStringToObject(o, "@odata.context", ctx);
	rs_free(ctx);
	sim_graph_reply(req, resp, 200, o);
}

/* First index in sorted ids[0..n) whose id sorts after last. */
static size_t after(const char **ids, size_t n, const char *last) {
	size_t lo = 0, hi = n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (strcmp(ids[mid], last) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * GET /groups/{id}/members | /owners: directoryObjects with @odata.type
 * (graph.md §2), ordered by id; the cursor is the last id returned so a
 * walk stays exact while the set changes (sim_idset order is not stable).
 */
static void group_links_list(sim_req_t *req, sim_resp_t *resp, bool owners) {
	sim_odata_select_t sel;
	sim_odata_err_t oerr;
	const char *ss = sim_req_arg(req, "$select");
	const char *skip = sim_req_arg(req, "$skiptoken");
	const char *tag = owners ? "owners" : "members";
	char *cursor = NULL, *ctx, *tok, *link, path[160];
	const char **ids = NULL;
	cJSON *root = NULL, *arr, *o;
	sim_group_t *g;
	sim_idset_t *set;
	size_t i, n;
	int top, got = 0;

	if (!graph_begin(req, resp, 3, false) || refuse_skip(req, resp))
		return;
	sel.n = 0;
	if (sim_odata_top_parse(sim_req_arg(req, "$top"), GRAPH_PAGE_DEFAULT,
				GRAPH_PAGE_MAX, &top, &oerr) != RS_OK ||
	    (ss && sim_odata_select_parse(&sel, ss, "microsoft.graph.user",
					  sim_graph_user_props,
					  &oerr) != RS_OK)) {
		sim_graph_odata_error(req, resp, &oerr);
		return;
	}
	if (skip) {
		cursor = sim_odata_token_decode(tag, skip);
		if (!cursor) {
			bad_skiptoken(req, resp);
			return;
		}
	}
	sim_tenant_rdlock(req->tn);
	g = group_lookup(req->tn, req->params[0]);
	if (!g) {
		sim_tenant_unlock(req->tn);
		sim_graph_not_found(req, resp, req->params[0]);
		goto out;
	}
	set = owners ? &g->owners : &g->members;
	n = set->n;
	ids = sim_idset_sorted(set);
	root = cJSON_CreateObject();
	ctx = sim_graph_context(req, "directoryObjects");
	cJSON_AddStringToObject(root, "@odata.context", ctx);
	rs_free(ctx);
	arr = cJSON_AddArrayToObject(root, "value");
	for (i = cursor ? after(ids, n, cursor) : 0; i < n; i++) {
		sim_user_t *u = sim_user_get(req->tn, ids[i]);
		if (got == top) {
			tok = sim_odata_token_encode(tag, ids[i - 1]);
			rs_snprintf(path, sizeof(path), "/groups/%s/%s", g->id,
				    tag);
			link = next_link(req, path, top, tok);
			cJSON_AddStringToObject(root, "@odata.nextLink", link);
			rs_free(link);
			rs_free(tok);
			break;
		}
		if (u) {
			o = sim_graph_user_json(u, &sel);
		} else {
			o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "id", ids[i]);
		}
		/* The type annotation goes first, as Graph writes it. */
		cJSON_AddItemToArray(arr, o);
		cJSON_AddItemToObject(o, "@odata.type",
				      cJSON_CreateString(
					      "#microsoft.graph.user"));
		got++;
	}
	sim_tenant_unlock(req->tn);
	sim_graph_reply(req, resp, 200, root);
	root = NULL;
out:
	rs_free(ids);
	rs_free(cursor);
	cJSON_Delete(root);
}

static void group_members_list(sim_req_t *req, sim_resp_t *resp) {
	group_links_list(req, resp, false);
}

static void group_owners_list(sim_req_t *req, sim_resp_t *resp) {
	group_links_list(req, resp, true);
}

/*
 * Object id from an @odata.id / @odata.bind URL:
 * ".../v1.0/directoryObjects/{id}" or ".../v1.0/users/{id}" (graph.md §2),
 * on graph.microsoft.com or on this simulator.  Returns a pointer into url
 * or NULL when the URL has another shape.
 */
static const char *ref_object_id(const sim_req_t *req, const char *url) {
	static const char *const hosts[] = {"https://graph.microsoft.com/v1.0",
					    NULL};
	static const char *const colls[] = {"/directoryObjects/", "/users/",
					    NULL};
	const char *rest = NULL, *base = rs_sim_base_url(req->sim);
	size_t bl = strlen(base);
	int i;

	if (!strncmp(url, base, bl) && !strncmp(url + bl, "/graph/v1.0", 11))
		rest = url + bl + 11;
	for (i = 0; !rest && hosts[i]; i++)
		if (!strncmp(url, hosts[i], strlen(hosts[i])))
			rest = url + strlen(hosts[i]);
	if (!rest)
		return NULL;
	for (i = 0; colls[i]; i++)
		if (!strncmp(rest, colls[i], strlen(colls[i])))
			return rest + strlen(colls[i]);
	return NULL;
}

/* graph.md §2: the exact 400 for a reference that already exists. */
static void already_exists(sim_req_t *req, sim_resp_t *resp, bool owners) {
	sim_resp_graph_error(req, resp, 400, "Request_BadRequest",
			     "One or more added object references already "
			     "exist for the following modified properties: "
			     "'%s'.",
			     owners ? "owners" : "members");
}

/* POST /groups/{id}/members/$ref and /owners/$ref. */
/*
 * The outcome is decided under the write lock and answered after it is
 * released, so building the error body never holds the tenant.  The
 * state helpers count the write as applied or no-op (Guarantee 2), so the
 * "already exist" 400 shows up in /_sim/stats as a no-op write.
 */
static void group_ref_add(sim_req_t *req, sim_resp_t *resp, bool owners) {
	cJSON *body = NULL, *oid;
	const char *id;
	char *uid = NULL;
	sim_group_t *g;
	sim_user_t *u;
	int outcome;

	if (!graph_begin(req, resp, 1, true))
		return;
	body = sim_req_json(req);
	if (!body) {
		sim_resp_graph_error(req, resp, 400, "BadRequest",
				     "Empty Payload. JSON content expected.");
		goto out;
	}
	oid = cJSON_GetObjectItemCaseSensitive(body, "@odata.id");
	id = cJSON_IsString(oid) ? ref_object_id(req, oid->valuestring)
				 : NULL;
	if (!id || !sim_graph_is_guid(id)) {
		/* graph.md §2: malformed id -> "Invalid object identifier". */
		sim_resp_graph_error(req, resp, 400, "Request_BadRequest",
				     "Invalid object identifier '%.80s'.",
				     id ? id
					: (cJSON_IsString(oid) ? oid->valuestring
							       : ""));
		goto out;
	}
	uid = sim_strlower(id);
	sim_tenant_wrlock(req->tn);
	g = group_lookup(req->tn, req->params[0]);
	u = g ? sim_user_get(req->tn, uid) : NULL;
	if (!g)
		outcome = 1;
	else if (!u)
		outcome = 2;
	else if (owners ? sim_group_owner_add(req->tn, g, uid)
			: sim_group_member_add(req->tn, g, uid))
		outcome = 0;
	else
		outcome = 3;
	sim_tenant_unlock(req->tn);
	switch (outcome) {
	case 0:
		sim_resp_empty(resp, 204);
		sim_resp_graph_headers(req, resp);
		break;
	case 1:
		sim_graph_not_found(req, resp, req->params[0]);
		break;
	case 2:
		sim_graph_not_found(req, resp, uid);
		break;
	default:
		already_exists(req, resp, owners);
		break;
	}
out:
	rs_free(uid);
	cJSON_Delete(body);
}

static void group_member_ref_add(sim_req_t *req, sim_resp_t *resp) {
	group_ref_add(req, resp, false);
}

static void group_owner_ref_add(sim_req_t *req, sim_resp_t *resp) {
	group_ref_add(req, resp, true);
}

/* DELETE /groups/{id}/members/{uid}/$ref: 204; not a member -> 404;
 * malformed id -> 400 Request_UnsupportedQuery (graph.md §2). */
static void group_ref_del(sim_req_t *req, sim_resp_t *resp, bool owners) {
	char *uid = NULL;
	sim_group_t *g;
	int outcome;

	if (!graph_begin(req, resp, 1, true))
		return;
	if (!sim_graph_is_guid(req->params[1])) {
		sim_resp_graph_error(req, resp, 400, "Request_UnsupportedQuery",
				     "Unsupported referenced-object resource "
				     "identifier for link property '%s'.",
				     owners ? "owners" : "members");
		return;
	}
	uid = sim_strlower(req->params[1]);
	sim_tenant_wrlock(req->tn);
	g = group_lookup(req->tn, req->params[0]);
	if (!g)
		outcome = 1;
	else if (owners ? sim_group_owner_del(req->tn, g, uid)
			: sim_group_member_del(req->tn, g, uid))
		outcome = 0;
	else
		outcome = 2;
	sim_tenant_unlock(req->tn);
	if (outcome == 0) {
		sim_resp_empty(resp, 204);
		sim_resp_graph_headers(req, resp);
	} else {
		sim_graph_not_found(req, resp,
				    outcome == 1 ? req->params[0] : uid);
	}
	rs_free(uid);
}

static void group_member_ref_del(sim_req_t *req, sim_resp_t *resp) {
	group_ref_del(req, resp, false);
}

static void group_owner_ref_del(sim_req_t *req, sim_resp_t *resp) {
	group_ref_del(req, resp, true);
}

/* Validated ids of one "...@odata.bind" array, or false with resp set. */
/* The 20-reference cap is checked while reading, so a huge array is
 * refused before anything is allocated for it (STYLE.md 9). */
static bool bind_ids(sim_req_t *req, sim_resp_t *resp, const cJSON *arr,
		     const char *prop, char **ids, int *n) {
	const cJSON *it;
	const char *id;

	if (!cJSON_IsArray(arr)) {
		sim_resp_graph_error(req, resp, 400, "BadRequest",
				     "Invalid value for '%s@odata.bind'.",
				     prop);
		return false;
	}
	cJSON_ArrayForEach(it, arr) {
		if (*n >= GRAPH_BIND_MAX) {
			/* graph.md §2: max 20 per request; the exact body
			 * for more is an open question there. */
			sim_resp_graph_error(
				req, resp, 400, "Request_BadRequest",
				"The number of object references in '%s"
				"@odata.bind' exceeds the maximum of %d.",
				prop, GRAPH_BIND_MAX);
			return false;
		}
		id = cJSON_IsString(it) ? ref_object_id(req, it->valuestring)
					: NULL;
		if (!id || !sim_graph_is_guid(id)) {
			sim_resp_graph_error(req, resp, 400,
					     "Request_BadRequest",
					     "Invalid object identifier "
					     "'%.80s'.",
					     id ? id
						: (cJSON_IsString(it)
							   ? it->valuestring
							   : ""));
			return false;
		}
		ids[(*n)++] = sim_strlower(id);
	}
	return true;
}

/*
 * PATCH /groups/{id} with members@odata.bind / owners@odata.bind (≤ 20,
 * graph.md §2 Example 2) and plain properties.  All-or-nothing: every
 * reference is checked first (bad URL 400, missing object 404, already a
 * member 400 "already exist" — Canvas relies on this, §2), and only then
 * is anything applied.
 */
static void group_patch(sim_req_t *req, sim_resp_t *resp) {
	char *mids[GRAPH_BIND_MAX + 1], *oids[GRAPH_BIND_MAX + 1];
	int nm = 0, no = 0, i, j, outcome = 0;
	const char *bad = NULL;
	cJSON *body = NULL, *mb, *ob, *dn, *ds;
	sim_group_t *g;

	if (!graph_begin(req, resp, 1, true))
		return;
	body = sim_req_json(req);
	if (!cJSON_IsObject(body)) {
		sim_resp_graph_error(req, resp, 400, "BadRequest",
				     "Empty Payload. JSON content expected.");
		goto out;
	}
	mb = cJSON_GetObjectItemCaseSensitive(body, "members@odata.bind");
	ob = cJSON_GetObjectItemCaseSensitive(body, "owners@odata.bind");
	dn = cJSON_GetObjectItemCaseSensitive(body, "displayName");
	ds = cJSON_GetObjectItemCaseSensitive(body, "description");
	if ((mb && !bind_ids(req, resp, mb, "members", mids, &nm)) ||
	    (ob && !bind_ids(req, resp, ob, "owners", oids, &no)))
		goto out;
	if ((dn && !cJSON_IsString(dn)) || (ds && !cJSON_IsString(ds) &&
					    !cJSON_IsNull(ds))) {
		sim_resp_graph_error(req, resp, 400, "BadRequest",
				     "Invalid property value.");
		goto out;
	}

	sim_tenant_wrlock(req->tn);
	g = group_lookup(req->tn, req->params[0]);
	if (!g)
		outcome = 1;
	/* Validate everything before changing anything. */
	for (i = 0; !outcome && i < nm + no; i++) {
		const char *id = i < nm ? mids[i] : oids[i - nm];
		sim_idset_t *set = i < nm ? &g->members : &g->owners;
		if (!sim_user_get(req->tn, id)) {
			outcome = 2;
			bad = id;
		} else if (sim_idset_has(set, id)) {
			outcome = i < nm ? 3 : 4;
		}
		/* The same id twice in one request is a duplicate too. */
		for (j = i < nm ? 0 : nm; !outcome && j < i; j++)
			if (!strcmp(i < nm ? mids[j] : oids[j - nm], id))
				outcome = i < nm ? 3 : 4;
	}
	if (!outcome) {
		for (i = 0; i < nm; i++)
			sim_group_member_add(req->tn, g, mids[i]);
		for (i = 0; i < no; i++)
			sim_group_owner_add(req->tn, g, oids[i]);
		if (dn || ds) {
			bool changed = false;
			if (dn && strcmp(dn->valuestring, g->display_name)) {
				rs_free(g->display_name);
				g->display_name = rs_strdup(dn->valuestring);
				changed = true;
			}
			if (ds) {
				const char *nv = cJSON_IsString(ds)
							 ? ds->valuestring
							 : NULL;
				if ((nv == NULL) != (g->description == NULL) ||
				    (nv && strcmp(nv, g->description))) {
					rs_free(g->description);
					g->description = rs_strdup(nv);
					changed = true;
				}
			}
			if (changed)
				sim_chg_append(req->tn, SIM_CHG_GROUP_UPD,
					       g->id, NULL);
			sim_stats_write(req->sim, changed);
		}
	}
	sim_tenant_unlock(req->tn);
	switch (outcome) {
	case 0:
		sim_resp_empty(resp, 204);
		sim_resp_graph_headers(req, resp);
		break;
	case 1:
		sim_graph_not_found(req, resp, req->params[0]);
		break;
	case 2:
		sim_graph_not_found(req, resp, bad);
		break;
	default:
		already_exists(req, resp, outcome == 4);
		break;
	}
out:
	for (i = 0; i < nm; i++)
		rs_free(mids[i]);
	for (i = 0; i < no; i++)
		rs_free(oids[i]);
	cJSON_Delete(body);
}

/* ---- module ---------------------------------------------------------- */

/* Graph's answer for a path it does not serve. */
static void graph_no_route(sim_req_t *req, sim_resp_t *resp) {
	if (!sim_graph_auth(req, resp))
		return;
	sim_resp_graph_error(req, resp, 400, "BadRequest",
			     "Resource not found for the segment '%.100s'.",
			     req->path);
}

/* Injected errors in Graph's own envelope; a 429 looks exactly like the
 * throttle's (graph.md §5 sample body). */
static void graph_fault(sim_req_t *req, sim_resp_t *resp, int status,
			const char *retry_after) {
	const char *code = "UnknownError", *msg = "Injected fault.";

	switch (status) {
	case 429:
		code = "TooManyRequests";
		msg = "Please retry again later.";
		break;
	case 503:
		code = "serviceNotAvailable";
		msg = "Service unavailable.";
		break;
	case 504:
		code = "UnknownError";
		msg = "Gateway timeout.";
		break;
	case 500:
		code = "generalException";
		msg = "General exception while processing.";
		break;
	case 401:
		code = "InvalidAuthenticationToken";
		msg = "Access token has expired or is not yet valid.";
		break;
	case 403:
		code = "Authorization_RequestDenied";
		msg = "Insufficient privileges to complete the operation.";
		break;
	case 404:
		code = "Request_ResourceNotFound";
		msg = "Resource does not exist.";
		break;
	default:
		break;
	}
	sim_resp_graph_error(req, resp, status, code, "%s", msg);
	if (retry_after)
		sim_resp_header(resp, "Retry-After", "%s", retry_after);
}

/*
 * Route order matters: the core takes the first match, so literal
 * segments ("/users/delta") come before the "{}" routes they would
 * otherwise be captured by ("/users/{}").  Route names are what fault
 * rules ("endpoint") and the ledger use.
 */
static const sim_route_t graph_routes[] = {
	{"GET", "/users/delta", sim_graph_users_delta, "graph.users.delta"},
	{"GET", "/users", users_list, "graph.users.list"},
	{"GET", "/users/{}/presence", sim_graph_presence_get,
	 "graph.presence.get"},
	{"POST", "/users/{}/presence/setPresence", sim_graph_presence_set,
	 "graph.presence.set"},
	{"POST", "/users/{}/presence/clearPresence", sim_graph_presence_clear,
	 "graph.presence.clear"},
	{"POST", "/users/{}/presence/setUserPreferredPresence",
	 sim_graph_presence_set_pref, "graph.presence.setpref"},
	{"POST", "/users/{}/presence/clearUserPreferredPresence",
	 sim_graph_presence_clear_pref, "graph.presence.clearpref"},
	{"GET", "/users/{}", user_get, "graph.users.get"},
	{"POST", "/communications/getPresencesByUserId",
	 sim_graph_presences_by_id, "graph.presence.byid"},
	{"GET", "/groups/delta", sim_graph_groups_delta, "graph.groups.delta"},
	{"GET", "/groups/{}", group_get, "graph.groups.get"},
	{"PATCH", "/groups/{}", group_patch, "graph.groups.patch"},
	{"GET", "/groups/{}/members", group_members_list,
	 "graph.groups.members"},
	{"GET", "/groups/{}/owners", group_owners_list, "graph.groups.owners"},
	{"POST", "/groups/{}/members/$ref", group_member_ref_add,
	 "graph.groups.members.add"},
	{"POST", "/groups/{}/owners/$ref", group_owner_ref_add,
	 "graph.groups.owners.add"},
	{"DELETE", "/groups/{}/members/{}/$ref", group_member_ref_del,
	 "graph.groups.members.remove"},
	{"DELETE", "/groups/{}/owners/{}/$ref", group_owner_ref_del,
	 "graph.groups.owners.remove"},
	{"POST", "/$batch", sim_graph_batch, "graph.batch"},
};

const sim_module_t sim_module_graph = {
	.name = "graph",
	.prefix = "/graph/v1.0",
	.routes = graph_routes,
	.n_routes = RS_ARRAY_SIZE(graph_routes),
	.no_route = graph_no_route,
	.fault_error = graph_fault,
};
