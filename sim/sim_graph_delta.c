/*
 * sim_graph_delta.c - GET /users/delta and /groups/delta (graph.md §2
 * "Group delta"): an initial round that pages the full state with
 * @odata.nextLink and ends with an @odata.deltaLink; later rounds replay
 * the tenant's change log from the position in the token.
 *
 * Tokens are opaque (hex, sim_odata_token_encode) and carry everything:
 * the position in the per-tenant change log, when the round started and
 * the $select of the first call (query parameters go only on the first
 * call, §2).  Nothing is stored server-side, so tokens survive nothing but
 * the change log itself: a token older than the log's oldest entry, from
 * before a reset, older than 7 days, or simply garbage gets 410 Gone with
 * a Location to restart from (§2: "410 Gone with Location = fresh initial
 * URL → full resync").
 */
#include "rs/rs_base.h"

#include "sim_graph_int.h"

#include <inttypes.h>

/* Objects per page (Graph decides page sizes for delta itself; $top is not
 * supported, §2). */
#define DELTA_PAGE 100
/* members@delta entries carried by one group object: a bigger group
 * repeats across pages with the next slice (§2 "Big groups"). */
#define DELTA_MEMBERS_SLICE 100
/* Change-log entries consumed per page of a change round. */
#define DELTA_CHANGES_PAGE 200
/* §2: directory delta tokens live 7 days. */
#define DELTA_TOKEN_TTL_MS (7LL * 24 * 3600 * 1000)

typedef struct dtok_s {
	char phase;      /* 'i' initial paging, 'c' change paging, 'd' delta */
	int64_t seq;     /* change-log position */
	int64_t wall_ms; /* when the round's token was made */
	size_t idx;      /* initial: object index */
	size_t moff;     /* initial: member offset within that group */
	char sel[512];   /* $select of the first call ("" = default) */
	/* $filter=id eq '..' or ... of the first call (§2: only this form,
	 * max 50 ids): comma-separated lower-case ids, "" = all objects. */
	char ids[SIM_ODATA_DELTA_OR_MAX * 37 + 1];
} dtok_t;

/* The kind ("users"/"groups") is the token tag, so a users token sent
 * to /groups/delta fails to decode and gets the 410. */
static char *tok_make(const char *kind, const dtok_t *t) {
	char text[2600];

	rs_snprintf(text, sizeof(text),
		    "%c|%" PRId64 "|%" PRId64 "|%zu|%zu|%s|%s", t->phase,
		    t->seq, t->wall_ms, t->idx, t->moff, t->sel, t->ids);
	return sim_odata_token_encode(kind, text);
}

/* Strict field-by-field parse: anything malformed is "unknown token". */
static bool tok_parse(const char *kind, const char *s, dtok_t *t) {
	char *text = sim_odata_token_decode(kind, s);
	char *p, *end;
	bool ok = false;

	memset(t, 0, sizeof(*t));
	if (!text)
		return false;
	p = text;
	if (!p[0] || p[1] != '|' || !strchr("icd", p[0]))
		goto out;
	t->phase = p[0];
	p += 2;
	t->seq = strtoll(p, &end, 10);
	if (end == p || *end != '|')
		goto out;
	p = end + 1;
	t->wall_ms = strtoll(p, &end, 10);
	if (end == p || *end != '|')
		goto out;
	p = end + 1;
	t->idx = (size_t)strtoull(p, &end, 10);
	if (end == p || *end != '|')
		goto out;
	p = end + 1;
	t->moff = (size_t)strtoull(p, &end, 10);
	if (end == p || *end != '|')
		goto out;
	p = end + 1;
	end = strchr(p, '|');
	if (!end || (size_t)(end - p) >= sizeof(t->sel) ||
	    strlen(end + 1) >= sizeof(t->ids))
		goto out;
	memcpy(t->sel, p, (size_t)(end - p));
	t->sel[end - p] = '\0';
	rs_snprintf(t->ids, sizeof(t->ids), "%s", end + 1);
	ok = true;
out:
	rs_free(text);
	return ok;
}

/* nextLink carries $skiptoken, deltaLink $deltatoken, as Graph's do;
 * both are absolute URLs on this simulator. */
static void add_link(sim_req_t *req, cJSON *root, const char *kind,
		     const char *name, const char *param, const dtok_t *t) {
	char *tok = tok_make(kind, t);
	size_t need = strlen(rs_sim_base_url(req->sim)) + strlen(tok) + 64;
	char *link = rs_malloc(need);

	snprintf(link, need, "%s/graph/v1.0/%s/delta?%s=%s",
		 rs_sim_base_url(req->sim), kind, param, tok);
	cJSON_AddStringToObject(root, name, link);
	rs_free(link);
	rs_free(tok);
}

/* 410 Gone + Location of a fresh initial round (graph.md §2). */
static void gone(sim_req_t *req, sim_resp_t *resp, const char *kind,
		 const char *sel) {
	char *esc = sim_odata_qs_escape(sel);

	sim_resp_graph_error(req, resp, 410, "syncStateNotFound",
			     "The sync state is invalid or has expired; "
			     "start a new round of synchronization.");
	sim_resp_header(resp, "Location", "%s/graph/v1.0/%s/delta%s%s",
			rs_sim_base_url(req->sim), kind, sel[0] ? "?$select=" : "",
			esc);
	rs_free(esc);
}

static void removed(cJSON *o, const char *reason) {
	cJSON_AddStringToObject(cJSON_AddObjectToObject(o, "@removed"),
				"reason", reason);
}

static cJSON *member_ref(const char *uid, bool del) {
	cJSON *m = cJSON_CreateObject();

	cJSON_AddStringToObject(m, "@odata.type", "#microsoft.graph.user");
	cJSON_AddStringToObject(m, "id", uid);
	if (del)
		removed(m, "deleted");
	return m;
}

/* Group object of a delta page with one slice of members@delta. */
static cJSON *group_entry(const sim_group_t *g, const sim_odata_select_t *sel,
			  bool members, size_t moff, size_t *next_moff) {
	cJSON *o = sim_graph_group_json(g, sel), *arr;
	const char **ids;
	size_t i;

	*next_moff = 0;
	if (!members)
		return o;
	arr = cJSON_AddArrayToObject(o, "members@delta");
	ids = sim_idset_sorted(&g->members);
	for (i = moff; i < g->members.n; i++) {
		if (i - moff == DELTA_MEMBERS_SLICE) {
			*next_moff = i;
			break;
		}
		cJSON_AddItemToArray(arr, member_ref(ids[i], false));
	}
	rs_free(ids);
	return o;
}

/* Whether id passes the round's id filter (none = everything). */
static bool wanted(const dtok_t *t, const char *id) {
	size_t l = strlen(id);
	const char *p = t->ids;

	if (!t->ids[0])
		return true;
	while (*p) {
		if (!strncmp(p, id, l) && (p[l] == ',' || !p[l]))
			return true;
		p = strchr(p, ',');
		if (!p)
			break;
		p++;
	}
	return false;
}

/* The initial round: page idx.. of the full state. */
static void initial_page(sim_req_t *req, cJSON *root, cJSON *arr, bool groups,
			 const sim_odata_select_t *sel, dtok_t *t) {
	sim_tenant_t *tn = req->tn;
	const sim_vec_t *list = groups ? &tn->group_list : &tn->user_list;
	bool members = groups && (sel->n == 0 ||
				  sim_odata_select_has(sel, "members"));
	size_t next_moff;
	int n = 0;

	while (t->idx < list->n && n < DELTA_PAGE) {
		if (!wanted(t, groups ? ((sim_group_t *)list->v[t->idx])->id
				      : ((sim_user_t *)list->v[t->idx])->id)) {
			t->idx++;
			continue;
		}
		if (groups) {
			cJSON_AddItemToArray(
				arr, group_entry(list->v[t->idx], sel, members,
						 t->moff, &next_moff));
			if (next_moff) {
				/* The rest of this group's members go on
				 * the next page, in another copy of it. */
				t->moff = next_moff;
				break;
			}
		} else {
			cJSON_AddItemToArray(
				arr, sim_graph_user_json(list->v[t->idx], sel));
		}
		t->moff = 0;
		t->idx++;
		n++;
	}
	if (t->idx < list->n) {
		t->phase = 'i';
		add_link(req, root, groups ? "groups" : "users",
			 "@odata.nextLink", "$skiptoken", t);
	} else {
		/* Changes made while paging are after the snapshot position
		 * and come again in the next round (replays possible, §2). */
		t->phase = 'd';
		t->idx = t->moff = 0;
		add_link(req, root, groups ? "groups" : "users",
			 "@odata.deltaLink", "$deltatoken", t);
	}
}

/* Linear search in a page (≤ DELTA_CHANGES_PAGE objects). */
static cJSON *find_entry(cJSON *arr, const char *id) {
	cJSON *o;

	cJSON_ArrayForEach(o, arr) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "id");
		if (cJSON_IsString(v) && !strcmp(v->valuestring, id))
			return o;
	}
	return NULL;
}

/* A change round: replay the log from t->seq, merged by object id. */
static void change_page(sim_req_t *req, cJSON *root, cJSON *arr, bool groups,
			const sim_odata_select_t *sel, dtok_t *t) {
	sim_tenant_t *tn = req->tn;
	int64_t end = sim_chg_next_seq(tn), seq;
	int used = 0;

	for (seq = t->seq; seq < end && used < DELTA_CHANGES_PAGE; seq++) {
		const sim_chg_t *c = sim_chg_get(tn, seq);
		cJSON *o, *md, *m;
		bool member = false;

		used++;
		if (!c || !wanted(t, c->obj_id))
			continue;
		if (!groups && (c->kind == SIM_CHG_USER_ADD ||
				c->kind == SIM_CHG_USER_UPD ||
				c->kind == SIM_CHG_USER_DEL)) {
			sim_user_t *u = sim_user_get(tn, c->obj_id);
			o = find_entry(arr, c->obj_id);
			if (o)
				cJSON_DetachItemViaPointer(arr, o), cJSON_Delete(o);
			if (u) {
				o = sim_graph_user_json(u, sel);
			} else {
				/* Deleted users are soft-deleted (restorable):
				 * reason "changed" (§2). */
				o = cJSON_CreateObject();
				cJSON_AddStringToObject(o, "id", c->obj_id);
				removed(o, "changed");
			}
			cJSON_AddItemToArray(arr, o);
			continue;
		}
		if (!groups)
			continue;
		switch (c->kind) {
		case SIM_CHG_MEMBER_ADD:
		case SIM_CHG_MEMBER_DEL:
			member = true;
			break;
		case SIM_CHG_GROUP_ADD:
		case SIM_CHG_GROUP_UPD:
		case SIM_CHG_GROUP_DEL:
			break;
		default:
			continue;
		}
		if (member && sel->n && !sim_odata_select_has(sel, "members"))
			continue;
		o = find_entry(arr, c->obj_id);
		if (!o) {
			sim_group_t *g = sim_group_get(tn, c->obj_id);
			if (g) {
				o = sim_graph_group_json(g, sel);
			} else {
				o = cJSON_CreateObject();
				cJSON_AddStringToObject(o, "id", c->obj_id);
				removed(o, "deleted");
			}
			cJSON_AddItemToArray(arr, o);
		}
		if (!member || cJSON_GetObjectItemCaseSensitive(o, "@removed"))
			continue;
		md = cJSON_GetObjectItemCaseSensitive(o, "members@delta");
		if (!md)
			md = cJSON_AddArrayToObject(o, "members@delta");
		/* Last change of a member within the page wins. */
		m = find_entry(md, c->ref_id);
		if (m)
			cJSON_DetachItemViaPointer(md, m), cJSON_Delete(m);
		cJSON_AddItemToArray(
			md, member_ref(c->ref_id, c->kind == SIM_CHG_MEMBER_DEL));
	}
	t->seq = seq;
	if (seq < end) {
		t->phase = 'c';
		add_link(req, root, groups ? "groups" : "users",
			 "@odata.nextLink", "$skiptoken", t);
	} else {
		t->phase = 'd';
		t->wall_ms = rs_wall_ms();
		add_link(req, root, groups ? "groups" : "users",
			 "@odata.deltaLink", "$deltatoken", t);
	}
}

/*
 * §2: delta accepts only `id eq '...'` OR-ed, at most 50; the ids are
 * kept in the token so later rounds stay restricted.  false with resp set
 * on a bad filter.
 */
static bool filter_ids(sim_req_t *req, sim_resp_t *resp, bool groups,
		       dtok_t *t) {
	static const char *const id_only[] = {"id", NULL};
	const char *fs = sim_req_arg(req, "$filter");
	sim_odata_filter_t f;
	sim_odata_err_t oerr;
	size_t o = 0;
	char *low;
	int i;

	sim_odata_filter_init(&f);
	if (sim_odata_filter_parse(&f, fs, strlen(fs), SIM_ODATA_DELTA_OR_MAX,
				   groups ? "Group" : "User", id_only,
				   &oerr) != RS_OK) {
		sim_graph_odata_error(req, resp, &oerr);
		return false;
	}
	for (i = 0; i < f.n; i++) {
		if (!sim_graph_is_guid(f.terms[i].value)) {
			sim_resp_graph_error(req, resp, 400,
					     "Request_BadRequest",
					     "Invalid object identifier "
					     "'%.80s'.",
					     f.terms[i].value);
			sim_odata_filter_cleanup(&f);
			return false;
		}
		low = sim_strlower(f.terms[i].value);
		o += (size_t)snprintf(t->ids + o, sizeof(t->ids) - o, "%s%s",
				      o ? "," : "", low);
		rs_free(low);
	}
	sim_odata_filter_cleanup(&f);
	return true;
}

/*
 * One handler for both collections.  Phases: no token → start an
 * initial round (snapshot position = the log's next seq); 'i' → next
 * page of it; 'c' → next page of a change round; 'd' (deltaLink) →
 * a new change round from the stored position.
 */
static void delta(sim_req_t *req, sim_resp_t *resp, bool groups) {
	const char *kind = groups ? "groups" : "users";
	const char *skip = sim_req_arg(req, "$skiptoken");
	const char *dtoken = sim_req_arg(req, "$deltatoken");
	const char *ss = sim_req_arg(req, "$select");
	sim_odata_select_t sel;
	sim_odata_err_t oerr;
	cJSON *root, *arr;
	char *ctx;
	dtok_t t;
	int64_t first, next;

	if (!sim_graph_auth(req, resp) ||
	    !sim_graph_throttle(req, resp, ss ? 1 : 2, false))
		return;
	memset(&t, 0, sizeof(t));
	sel.n = 0;
	if (skip || (dtoken && strcmp(dtoken, "latest"))) {
		if (!tok_parse(kind, skip ? skip : dtoken, &t) ||
		    (skip && t.phase == 'd') || (!skip && t.phase != 'd')) {
			gone(req, resp, kind, "");
			return;
		}
		ss = t.sel[0] ? t.sel : NULL;
	} else if (sim_req_arg(req, "$top") || sim_req_arg(req, "$orderby") ||
		   sim_req_arg(req, "$expand")) {
		/* §2: $top, $orderby, $expand are not supported on delta. */
		sim_resp_graph_error(req, resp, 400, "Request_UnsupportedQuery",
				     "Unsupported query parameter for delta.");
		return;
	} else if (sim_req_arg(req, "$filter") &&
		   !filter_ids(req, resp, groups, &t)) {
		return;
	}
	if (ss && sim_odata_select_parse(&sel, ss,
					 groups ? "microsoft.graph.group"
						: "microsoft.graph.user",
					 groups ? sim_graph_group_props
						: sim_graph_user_props,
					 &oerr) != RS_OK) {
		sim_graph_odata_error(req, resp, &oerr);
		return;
	}
	if (!t.phase)
		rs_snprintf(t.sel, sizeof(t.sel), "%s", ss ? ss : "");

	root = cJSON_CreateObject();
	ctx = sim_graph_context(req, kind);
	cJSON_AddStringToObject(root, "@odata.context", ctx);
	rs_free(ctx);
	arr = cJSON_CreateArray();
	sim_tenant_rdlock(req->tn);
	first = sim_chg_first_seq(req->tn);
	next = sim_chg_next_seq(req->tn);
	if (t.phase && (t.seq < first || t.seq > next ||
			rs_wall_ms() - t.wall_ms > DELTA_TOKEN_TTL_MS)) {
		/* The log no longer reaches back to the token (or the data
		 * was reset): only a full resync is correct. */
		sim_tenant_unlock(req->tn);
		cJSON_Delete(arr);
		cJSON_Delete(root);
		gone(req, resp, kind, t.sel);
		return;
	}
	if (!t.phase && dtoken) {
		/* $deltatoken=latest: "sync from now", no data (§2). */
		t.seq = next;
		t.wall_ms = rs_wall_ms();
		t.phase = 'd';
		add_link(req, root, kind, "@odata.deltaLink", "$deltatoken",
			 &t);
	} else if (!t.phase || t.phase == 'i') {
		if (!t.phase) {
			t.seq = next;
			t.wall_ms = rs_wall_ms();
		}
		initial_page(req, root, arr, groups, &sel, &t);
	} else {
		change_page(req, root, arr, groups, &sel, &t);
	}
	sim_tenant_unlock(req->tn);
	cJSON_AddItemToObject(root, "value", arr);
	sim_graph_reply(req, resp, 200, root);
}

void sim_graph_users_delta(sim_req_t *req, sim_resp_t *resp) {
	delta(req, resp, false);
}

void sim_graph_groups_delta(sim_req_t *req, sim_resp_t *resp) {
	delta(req, resp, true);
}
