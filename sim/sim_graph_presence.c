/*
 * sim_graph_presence.c - Teams presence (graph.md §6): setPresence,
 * clearPresence, setUserPreferredPresence, clearUserPreferredPresence,
 * GET /users/{id}/presence and POST /communications/getPresencesByUserId.
 *
 * State lives in the tenant's Graph module slot (tn->ext[SIM_EXT_GRAPH]):
 * a map user id -> presence.  The core frees it when the dataset resets.
 * One application session per user is modelled (one app per tenant).
 */
#include "rs/rs_base.h"

#include "sim_graph_int.h"

#include <strings.h>

/* §6: getPresencesByUserId takes at most 650 ids. */
#define PRESENCE_IDS_MAX 650
/* §6: expirationDuration PT5M..PT4H, default 5 min. */
#define SESSION_MIN_S (5 * 60)
#define SESSION_MAX_S (4 * 3600)
#define SESSION_DEFAULT_S (5 * 60)

typedef struct presence_s {
	char availability[24], activity[32];
	int64_t expires_ms; /* 0 = no session */
	char pref_avail[24], pref_act[32];
	int64_t pref_expires_ms; /* 0 = no preferred presence */
} presence_t;

/* §6: the only valid pairs for setPresence. */
static const char *const session_pairs[][2] = {
	{"Available", "Available"},  {"Busy", "InACall"},
	{"Busy", "InAConferenceCall"}, {"Away", "Away"},
	{"DoNotDisturb", "Presenting"}, {NULL, NULL}};

/* §6: the only valid pairs for setUserPreferredPresence. */
static const char *const pref_pairs[][2] = {
	{"Available", "Available"}, {"Busy", "Busy"},
	{"DoNotDisturb", "DoNotDisturb"}, {"BeRightBack", "BeRightBack"},
	{"Away", "Away"}, {"Offline", "OffWork"}, {NULL, NULL}};

/* Slot destructor, called by the core when the dataset is cleared. */
static void map_free(void *p) {
	sim_map_t *m = p;

	sim_map_cleanup(m, rs_free);
	rs_free(m);
}

/* The presence of uid, created on demand when create (tn write-locked). */
static presence_t *presence_of(sim_tenant_t *tn, const char *uid, bool create) {
	sim_map_t *m = tn->ext[SIM_EXT_GRAPH];
	presence_t *p;

	if (!m) {
		if (!create)
			return NULL;
		m = rs_calloc(1, sizeof(*m));
		sim_map_init(m);
		tn->ext[SIM_EXT_GRAPH] = m;
		tn->ext_free[SIM_EXT_GRAPH] = map_free;
	}
	p = sim_map_get(m, uid);
	if (!p && create) {
		p = rs_calloc(1, sizeof(*p));
		sim_map_put(m, uid, p);
	}
	return p;
}

/*
 * ISO-8601 duration of the forms Graph examples use: PnDTnHnMnS (any part
 * optional, at least one).  Returns seconds or -1.
 */
static int64_t iso_duration(const char *s) {
	int64_t total = 0, v;
	bool in_time = false, any = false;
	char *end;

	if (*s++ != 'P')
		return -1;
	while (*s) {
		if (*s == 'T') {
			if (in_time)
				return -1;
			in_time = true;
			s++;
			continue;
		}
		if (*s < '0' || *s > '9')
			return -1;
		v = strtoll(s, &end, 10);
		if (v > 1000000)
			return -1;
		s = end;
		switch (*s) {
		case 'D':
			if (in_time)
				return -1;
			total += v * 86400;
			break;
		case 'H':
			if (!in_time)
				return -1;
			total += v * 3600;
			break;
		case 'M':
			if (!in_time)
				return -1;
			total += v * 60;
			break;
		case 'S':
			if (!in_time)
				return -1;
			total += v;
			break;
		default:
			return -1;
		}
		any = true;
		s++;
	}
	return any ? total : -1;
}

/* Case-sensitive, like the enum values Graph documents. */
static bool valid_pair(const char *const (*pairs)[2], const char *a,
		       const char *b) {
	int i;

	for (i = 0; pairs[i][0]; i++)
		if (!strcmp(pairs[i][0], a) && !strcmp(pairs[i][1], b))
			return true;
	return false;
}

/* What a reader sees (§6 aggregation): the user's preferred presence wins
 * while at least one session exists; no live session = Offline. */
static void effective(const presence_t *p, int64_t now, const char **av,
		      const char **ac) {
	*av = "Offline";
	*ac = "Offline";
	if (!p || !p->expires_ms || p->expires_ms <= now)
		return;
	if (p->pref_expires_ms && p->pref_expires_ms > now) {
		*av = p->pref_avail;
		*ac = p->pref_act;
		return;
	}
	*av = p->availability;
	*ac = p->activity;
}

/* The presence resource: id, availability, activity (§6). */
static cJSON *presence_json(const char *uid, const presence_t *p,
			    int64_t now) {
	cJSON *o = cJSON_CreateObject();
	const char *av, *ac;

	effective(p, now, &av, &ac);
	cJSON_AddStringToObject(o, "id", uid);
	cJSON_AddStringToObject(o, "availability", av);
	cJSON_AddStringToObject(o, "activity", ac);
	return o;
}

/* Auth, throttle (presence has its own limits, §5; charged as 1 RU) and
 * the user; returns the lower-case user id (rs_free()) or NULL. */
static char *presence_begin(sim_req_t *req, sim_resp_t *resp, bool write) {
	sim_user_t *u;
	char *uid;

	if (!sim_graph_auth(req, resp) ||
	    !sim_graph_throttle(req, resp, 1, write))
		return NULL;
	uid = sim_strlower(req->params[0]);
	sim_tenant_rdlock(req->tn);
	u = sim_user_get(req->tn, uid);
	sim_tenant_unlock(req->tn);
	if (!u) {
		sim_graph_not_found(req, resp, req->params[0]);
		rs_free(uid);
		return NULL;
	}
	return uid;
}

/* A string member or NULL (missing or not a string: both invalid). */
static const char *jstr(const cJSON *o, const char *k) {
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* §6: the presence actions answer 200 with no body (not 204). */
static void ok_empty(sim_req_t *req, sim_resp_t *resp) {
	sim_resp_empty(resp, 200);
	sim_resp_graph_headers(req, resp);
}

void sim_graph_presence_get(sim_req_t *req, sim_resp_t *resp) {
	char *uid = presence_begin(req, resp, false);
	cJSON *o;
	char *ctx;

	if (!uid)
		return;
	sim_tenant_rdlock(req->tn);
	o = presence_json(uid, presence_of(req->tn, uid, false), rs_wall_ms());
	sim_tenant_unlock(req->tn);
	{
		char what[96];
		rs_snprintf(what, sizeof(what), "users('%s')/presence/$entity",
			    uid);
		ctx = sim_graph_context(req, what);
	}
	cJSON_AddStringToObject(o, "@odata.context", ctx);
	rs_free(ctx);
	sim_graph_reply(req, resp, 200, o);
	rs_free(uid);
}

/* Expiration from the body: default, range check; -1 with resp set. */
static int64_t expiration(sim_req_t *req, sim_resp_t *resp, const cJSON *b,
			  int64_t def_s, int64_t min_s, int64_t max_s) {
	const char *e = jstr(b, "expirationDuration");
	int64_t s;

	if (!e)
		return def_s;
	s = iso_duration(e);
	if (s < min_s || s > max_s) {
		sim_resp_graph_error(req, resp, 400, "BadRequest",
				     "Invalid expirationDuration '%.40s'.", e);
		return -1;
	}
	return s;
}

void sim_graph_presence_set(sim_req_t *req, sim_resp_t *resp) {
	char *uid = presence_begin(req, resp, true);
	cJSON *b = NULL;
	const char *sid, *av, *ac;
	presence_t *p;
	int64_t secs;
	bool changed;

	if (!uid)
		return;
	b = sim_req_json(req);
	sid = jstr(b, "sessionId");
	av = jstr(b, "availability");
	ac = jstr(b, "activity");
	if (!cJSON_IsObject(b) || !av || !ac) {
		sim_resp_graph_error(req, resp, 400, "BadRequest",
				     "availability and activity are "
				     "required.");
		goto out;
	}
	/* §6: sessionId must be the calling application's client id. */
	if (!sid || strcasecmp(sid, req->token.client_id)) {
		sim_resp_graph_error(req, resp, 400, "BadRequest",
				     "The sessionId must be the application "
				     "id of the caller.");
		goto out;
	}
	if (!valid_pair(session_pairs, av, ac)) {
		sim_resp_graph_error(req, resp, 400, "BadRequest",
				     "Invalid availability/activity "
				     "combination '%.24s'/'%.32s'.",
				     av, ac);
		goto out;
	}
	secs = expiration(req, resp, b, SESSION_DEFAULT_S, SESSION_MIN_S,
			  SESSION_MAX_S);
	if (secs < 0)
		goto out;
	sim_tenant_wrlock(req->tn);
	p = presence_of(req->tn, uid, true);
	changed = strcmp(p->availability, av) || strcmp(p->activity, ac) ||
		  p->expires_ms <= rs_wall_ms();
	rs_snprintf(p->availability, sizeof(p->availability), "%s", av);
	rs_snprintf(p->activity, sizeof(p->activity), "%s", ac);
	p->expires_ms = rs_wall_ms() + secs * 1000;
	sim_tenant_unlock(req->tn);
	/* Refreshing the same state only extends the session: a no-op write
	 * in the stats (Guarantee 2 is observable). */
	sim_stats_write(req->sim, changed);
	ok_empty(req, resp);
out:
	cJSON_Delete(b);
	rs_free(uid);
}

void sim_graph_presence_clear(sim_req_t *req, sim_resp_t *resp) {
	char *uid = presence_begin(req, resp, true);
	cJSON *b = NULL;
	const char *sid;
	presence_t *p;
	bool had;

	if (!uid)
		return;
	b = sim_req_json(req);
	sid = jstr(b, "sessionId");
	if (!sid) {
		sim_resp_graph_error(req, resp, 400, "BadRequest",
				     "sessionId is required.");
		goto out;
	}
	sim_tenant_wrlock(req->tn);
	p = presence_of(req->tn, uid, false);
	had = p && p->expires_ms > rs_wall_ms() &&
	      !strcasecmp(sid, req->token.client_id);
	if (had)
		p->expires_ms = 0;
	sim_tenant_unlock(req->tn);
	if (!had) {
		/* §6: 404 if that session doesn't exist. */
		sim_resp_graph_error(req, resp, 404, "NotFound",
				     "The presence session '%.64s' was not "
				     "found.",
				     sid);
		goto out;
	}
	sim_stats_write(req->sim, true);
	ok_empty(req, resp);
out:
	cJSON_Delete(b);
	rs_free(uid);
}

void sim_graph_presence_set_pref(sim_req_t *req, sim_resp_t *resp) {
	char *uid = presence_begin(req, resp, true);
	cJSON *b = NULL;
	const char *av, *ac;
	presence_t *p;
	int64_t secs, def;

	if (!uid)
		return;
	b = sim_req_json(req);
	av = jstr(b, "availability");
	ac = jstr(b, "activity");
	if (!av || !ac || !valid_pair(pref_pairs, av, ac)) {
		sim_resp_graph_error(req, resp, 400, "BadRequest",
				     "Invalid availability/activity "
				     "combination '%.24s'/'%.32s'.",
				     av ? av : "", ac ? ac : "");
		goto out;
	}
	/* §6: default expiry 1 day for Busy/DND, 7 days otherwise. */
	def = (!strcmp(av, "Busy") || !strcmp(av, "DoNotDisturb")) ? 86400
								   : 7 * 86400;
	secs = expiration(req, resp, b, def, 1, 30 * 86400);
	if (secs < 0)
		goto out;
	sim_tenant_wrlock(req->tn);
	p = presence_of(req->tn, uid, true);
	rs_snprintf(p->pref_avail, sizeof(p->pref_avail), "%s", av);
	rs_snprintf(p->pref_act, sizeof(p->pref_act), "%s", ac);
	p->pref_expires_ms = rs_wall_ms() + secs * 1000;
	sim_tenant_unlock(req->tn);
	sim_stats_write(req->sim, true);
	ok_empty(req, resp);
out:
	cJSON_Delete(b);
	rs_free(uid);
}

void sim_graph_presence_clear_pref(sim_req_t *req, sim_resp_t *resp) {
	char *uid = presence_begin(req, resp, true);
	presence_t *p;
	bool had;

	if (!uid)
		return;
	sim_tenant_wrlock(req->tn);
	p = presence_of(req->tn, uid, false);
	had = p && p->pref_expires_ms;
	if (p)
		p->pref_expires_ms = 0;
	sim_tenant_unlock(req->tn);
	sim_stats_write(req->sim, had);
	ok_empty(req, resp);
	rs_free(uid);
}

void sim_graph_presences_by_id(sim_req_t *req, sim_resp_t *resp) {
	cJSON *b = NULL, *ids, *it, *root, *arr;
	int64_t now = rs_wall_ms();
	char *ctx, *uid;
	int n;

	if (!sim_graph_auth(req, resp) ||
	    !sim_graph_throttle(req, resp, 1, false))
		return;
	b = sim_req_json(req);
	ids = cJSON_GetObjectItemCaseSensitive(b, "ids");
	if (!cJSON_IsArray(ids)) {
		sim_resp_graph_error(req, resp, 400, "BadRequest",
				     "The 'ids' array is required.");
		goto out;
	}
	n = cJSON_GetArraySize(ids);
	if (n > PRESENCE_IDS_MAX) {
		/* §6: max 650 ids per call. */
		sim_resp_graph_error(req, resp, 400, "BadRequest",
				     "Too many ids: %d. Max allowed: %d.", n,
				     PRESENCE_IDS_MAX);
		goto out;
	}
	cJSON_ArrayForEach(it, ids) {
		if (!cJSON_IsString(it) || !sim_graph_is_guid(it->valuestring)) {
			sim_resp_graph_error(req, resp, 400, "BadRequest",
					     "Invalid user id in 'ids'.");
			goto out;
		}
	}
	root = cJSON_CreateObject();
	ctx = sim_graph_context(req, "Collection(microsoft.graph.presence)");
	cJSON_AddStringToObject(root, "@odata.context", ctx);
	rs_free(ctx);
	arr = cJSON_AddArrayToObject(root, "value");
	sim_tenant_rdlock(req->tn);
	cJSON_ArrayForEach(it, ids) {
		uid = sim_strlower(it->valuestring);
		/* Unknown ids (and other tenants' users) are left out. */
		if (sim_user_get(req->tn, uid))
			cJSON_AddItemToArray(
				arr, presence_json(uid,
						   presence_of(req->tn, uid,
							       false),
						   now));
		rs_free(uid);
	}
	sim_tenant_unlock(req->tn);
	sim_graph_reply(req, resp, 200, root);
out:
	cJSON_Delete(b);
}
