/*
 * sim_ledger.c - the request ledger (every request the sim answered, in a
 * bounded ring, secrets redacted) and the counters behind /_sim/stats.
 *
 * Tests assert the exact calls a client made (curl's sws records every
 * request the same way, STYLE.md 16), so the ledger keeps the decoded query
 * (OData filters readable) but never a secret: form bodies are not stored,
 * Authorization keeps only its scheme, and query values whose name looks
 * like a credential are replaced.
 */
#include "rs/rs_base.h"

#include "sim_priv.h"

#include <strings.h>

/* Query argument names whose values are never recorded. */
static const char *const secret_args[] = {
	"client_secret", "client_assertion", "access_token", "refresh_token",
	"code",          "password",         "token",        "secret",
};

static bool is_secret_arg(const char *name, size_t len) {
	size_t i;
	for (i = 0; i < RS_ARRAY_SIZE(secret_args); i++)
		if (strlen(secret_args[i]) == len &&
		    !strncasecmp(secret_args[i], name, len))
			return true;
	return false;
}

/* Copies a decoded "a=1&b=2" string replacing secret values. */
static char *redact_query(const char *q) {
	size_t cap = strlen(q) + 1, o = 0;
	char *out;
	const char *p = q;

	/* Every secret value may grow to "REDACTED" (8 bytes). */
	for (; *p; p++)
		if (*p == '&')
			cap += 8;
	cap += 8;
	out = rs_malloc(cap);
	p = q;
	while (*p) {
		const char *amp = strchr(p, '&');
		const char *end = amp ? amp : p + strlen(p);
		const char *eq = memchr(p, '=', (size_t)(end - p));
		if (eq && is_secret_arg(p, (size_t)(eq - p))) {
			size_t nl = (size_t)(eq - p) + 1;
			memcpy(out + o, p, nl);
			o += nl;
			memcpy(out + o, "REDACTED", 8);
			o += 8;
		} else {
			memcpy(out + o, p, (size_t)(end - p));
			o += (size_t)(end - p);
		}
		if (amp)
			out[o++] = '&';
		p = amp ? amp + 1 : end;
	}
	out[o] = '\0';
	return out;
}

static void ent_free(sim_ledger_ent_t *e) {
	rs_free(e->tenant);
	rs_free(e->method);
	rs_free(e->path);
	rs_free(e->query);
	rs_free(e->auth);
	rs_free(e->client_request_id);
	rs_free(e->traceparent);
	rs_free(e->fault);
	memset(e, 0, sizeof(*e));
}

void sim_ledger_init(rs_sim_t *sim) {
	sim->led_cap = sim->conf.ledger_size;
	sim->ledger = rs_calloc(sim->led_cap, sizeof(*sim->ledger));
	sim->led_head = 0;
	sim->led_n = 0;
}

void sim_ledger_clear(rs_sim_t *sim) {
	size_t i;
	pthread_mutex_lock(&sim->led_lock);
	for (i = 0; i < sim->led_n; i++)
		ent_free(&sim->ledger[(sim->led_head + i) % sim->led_cap]);
	sim->led_head = 0;
	sim->led_n = 0;
	pthread_mutex_unlock(&sim->led_lock);
}

void sim_ledger_cleanup(rs_sim_t *sim) {
	sim_ledger_clear(sim);
	rs_free(sim->ledger);
	sim->ledger = NULL;
}

/*
 * Called once per request after the answer is known.  Allocation and
 * redaction happen outside the lock; the critical section is a slot swap, so
 * recording costs little even at 40k requests/s.
 */
void sim_ledger_record(rs_sim_t *sim, const sim_req_t *req,
		       const sim_resp_t *resp, const char *fault) {
	sim_ledger_ent_t e, *slot;
	const char *auth = sim_req_header(req, "authorization");
	const char *crid = sim_req_header(req, "client-request-id");
	const char *tp = sim_req_header(req, "traceparent");

	/* Build outside the lock; only the ring update is serialised. */
	memset(&e, 0, sizeof(e));
	e.wall_ms = rs_wall_ms();
	e.tenant = req->ledger_tenant ? rs_strdup(req->ledger_tenant) : NULL;
	e.method = rs_strdup(req->method);
	e.path = rs_strdup(req->url);
	e.query = redact_query(req->query ? req->query : "");
	if (auth) {
		const char *sp = strchr(auth, ' ');
		size_t n = sp ? (size_t)(sp - auth) : strlen(auth);
		char buf[64];
		rs_snprintf(buf, sizeof(buf), "%.*s ***",
			    (int)RS_MIN(n, (size_t)32), auth);
		e.auth = rs_strdup(buf);
	}
	e.client_request_id = crid ? rs_strndup(crid, 128) : NULL;
	/* Recorded so a test can follow one change from the planner through
	 * Kafka to the Graph request (traceparent is 55 chars in version 00). */
	e.traceparent = tp ? rs_strndup(tp, 128) : NULL;
	e.endpoint = req->endpoint ? req->endpoint : "unknown";
	memcpy(e.request_id, req->request_id, sizeof(e.request_id));
	e.status = resp->action == SIM_ACT_RESPOND ? resp->status : 0;
	e.latency_us = rs_now_us() - req->start_us;
	e.cross_tenant = req->cross_tenant;
	e.depth = req->depth;
	e.fault = fault ? rs_strdup(fault) : NULL;

	pthread_mutex_lock(&sim->led_lock);
	e.seq = ++sim->led_seq;
	if (sim->led_n == sim->led_cap) {
		/* Bounded ring: the oldest entry goes. */
		slot = &sim->ledger[sim->led_head];
		ent_free(slot);
		sim->led_head = (sim->led_head + 1) % sim->led_cap;
		sim->led_n--;
	}
	slot = &sim->ledger[(sim->led_head + sim->led_n) % sim->led_cap];
	*slot = e;
	sim->led_n++;
	pthread_mutex_unlock(&sim->led_lock);
}

cJSON *sim_ledger_json(rs_sim_t *sim, const char *tenant, uint64_t since) {
	cJSON *root = cJSON_CreateObject(), *arr;
	size_t i;

	pthread_mutex_lock(&sim->led_lock);
	cJSON_AddNumberToObject(root, "total", (double)sim->led_seq);
	cJSON_AddNumberToObject(root, "capacity", (double)sim->led_cap);
	arr = cJSON_AddArrayToObject(root, "requests");
	for (i = 0; i < sim->led_n; i++) {
		const sim_ledger_ent_t *e =
			&sim->ledger[(sim->led_head + i) % sim->led_cap];
		char ts[40];
		cJSON *o;
		if (e->seq <= since)
			continue;
		if (tenant && (!e->tenant || strcmp(tenant, e->tenant)))
			continue;
		o = cJSON_CreateObject();
		rs_time_fmt(e->wall_ms, ts, sizeof(ts));
		cJSON_AddNumberToObject(o, "seq", (double)e->seq);
		cJSON_AddStringToObject(o, "time", ts);
		if (e->tenant)
			cJSON_AddStringToObject(o, "tenant", e->tenant);
		else
			cJSON_AddNullToObject(o, "tenant");
		cJSON_AddStringToObject(o, "method", e->method);
		cJSON_AddStringToObject(o, "path", e->path);
		cJSON_AddStringToObject(o, "query", e->query);
		cJSON_AddStringToObject(o, "endpoint", e->endpoint);
		cJSON_AddNumberToObject(o, "status", e->status);
		cJSON_AddNumberToObject(o, "latency_ms",
					(double)e->latency_us / 1000.0);
		cJSON_AddBoolToObject(o, "cross_tenant", e->cross_tenant);
		cJSON_AddStringToObject(o, "request_id", e->request_id);
		if (e->client_request_id)
			cJSON_AddStringToObject(o, "client_request_id",
						e->client_request_id);
		if (e->traceparent)
			cJSON_AddStringToObject(o, "traceparent",
						e->traceparent);
		if (e->auth)
			cJSON_AddStringToObject(o, "authorization", e->auth);
		if (e->depth)
			cJSON_AddNumberToObject(o, "batch_depth", e->depth);
		if (e->fault)
			cJSON_AddStringToObject(o, "fault", e->fault);
		cJSON_AddItemToArray(arr, o);
	}
	pthread_mutex_unlock(&sim->led_lock);
	return root;
}

/* ---- stats --------------------------------------------------------- */

/*
 * Counters are keyed "endpoint status" in one map: a handful of keys in
 * practice, and /_sim/stats regroups them per endpoint.
 */
void sim_stats_request(rs_sim_t *sim, const char *endpoint, int status,
		       bool cross_tenant) {
	char key[160];
	int64_t *c;

	rs_snprintf(key, sizeof(key), "%s %d", endpoint, status);
	pthread_mutex_lock(&sim->stats_lock);
	sim->st_requests++;
	if (cross_tenant)
		sim->st_cross_tenant++;
	if (status == 429)
		sim->st_throttled++;
	c = sim_map_get(&sim->stats_ep, key);
	if (!c) {
		c = rs_calloc(1, sizeof(*c));
		sim_map_put(&sim->stats_ep, key, c);
	}
	(*c)++;
	pthread_mutex_unlock(&sim->stats_lock);
}

void sim_stats_write(rs_sim_t *sim, bool applied) {
	pthread_mutex_lock(&sim->stats_lock);
	if (applied)
		sim->st_writes_applied++;
	else
		sim->st_writes_noop++;
	pthread_mutex_unlock(&sim->stats_lock);
}

cJSON *sim_stats_json(rs_sim_t *sim) {
	cJSON *root = cJSON_CreateObject(), *eps;
	size_t pos = 0;
	const char *key;
	void *val;

	pthread_mutex_lock(&sim->stats_lock);
	cJSON_AddNumberToObject(root, "requests", (double)sim->st_requests);
	cJSON_AddNumberToObject(root, "writes_applied",
				(double)sim->st_writes_applied);
	cJSON_AddNumberToObject(root, "writes_noop",
				(double)sim->st_writes_noop);
	cJSON_AddNumberToObject(root, "cross_tenant",
				(double)sim->st_cross_tenant);
	cJSON_AddNumberToObject(root, "throttled", (double)sim->st_throttled);
	eps = cJSON_AddObjectToObject(root, "endpoints");
	/* {"talkdesk.users.get":{"200":12,"404":1}} */
	while (sim_map_next(&sim->stats_ep, &pos, &key, &val)) {
		const char *sp = strrchr(key, ' ');
		char name[160];
		cJSON *ep;
		if (!sp)
			continue;
		rs_snprintf(name, sizeof(name), "%.*s", (int)(sp - key), key);
		ep = cJSON_GetObjectItemCaseSensitive(eps, name);
		if (!ep)
			ep = cJSON_AddObjectToObject(eps, name);
		cJSON_AddNumberToObject(ep, sp + 1, (double)*(int64_t *)val);
	}
	pthread_mutex_unlock(&sim->stats_lock);
	return root;
}

void sim_stats_clear(rs_sim_t *sim) {
	pthread_mutex_lock(&sim->stats_lock);
	sim_map_cleanup(&sim->stats_ep, rs_free);
	sim_map_init(&sim->stats_ep);
	sim->st_requests = sim->st_writes_applied = sim->st_writes_noop = 0;
	sim->st_cross_tenant = sim->st_faults = sim->st_throttled = 0;
	pthread_mutex_unlock(&sim->stats_lock);
}
