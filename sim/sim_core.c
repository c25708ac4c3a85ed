/*
 * sim_core.c - the simulator's HTTP core: libmicrohttpd server with a thread
 * pool, request/response model, prefix + route dispatch shared by every
 * service module, fault application, tokens and the common error envelopes.
 *
 * The wire never reaches a handler directly: MHD parses HTTP (no hand-written
 * parsing), the core copies what it needs into a sim_req_t, so the same code
 * path serves wire requests and Graph $batch sub-requests (sim_dispatch).
 */
#include "rs/rs_base.h"

#include "sim_priv.h"
#include "rs/rs_log.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <errno.h>
#include <unistd.h>

/* Bodies above this get 413: bounded memory whatever the client sends. */
#define SIM_BODY_MAX (8 * 1024 * 1024)
#define SIM_TOKENS_MAX (200 * 1000)

/* Dispatch order: longest prefixes are unambiguous, order only matters for
 * speed (Graph and Talkdesk carry nearly all traffic). */
static const sim_module_t *const sim_modules[] = {
#ifdef RS_SIM_HAVE_GRAPH
	&sim_module_graph,
#endif
	&sim_module_talkdesk,
	&sim_module_login,
	&sim_module_control,
};

/*
 * Defaults mirror the real services where the reference gives a number
 * (3599 s tokens, 130,000 app requests per 10 s, 3,000 writes per 150 s) so
 * that code tuned against the sim is tuned for production.
 */
void rs_sim_conf_init(rs_sim_conf_t *conf) {
	memset(conf, 0, sizeof(*conf));
	conf->listen = "127.0.0.1";
	conf->port = 0;
	conf->threads = 4;
	conf->token_lifetime_s = 3599; /* graph.md §1 example expires_in */
	conf->ru_budget = 0;
	conf->app_budget = 130000; /* graph.md §5: per app, all tenants */
	conf->write_budget = 3000; /* graph.md §5: per 2 min 30 s */
	conf->ledger_size = 100000;
	conf->ring_groups = RS_SIM_RG_AUTO;
	conf->talkdesk_rate = 0;
}

const rs_sim_conf_t *sim_conf(const rs_sim_t *sim) {
	return &sim->conf;
}

/*
 * Creates an empty simulator.  Nothing listens and no tenant exists until
 * rs_sim_generate()/rs_sim_load() and rs_sim_start(): tests decide the order,
 * and several simulators can live in one process (no global state).
 */
rs_sim_t *rs_sim_new(const rs_sim_conf_t *conf, char *errstr,
		     size_t errstr_size) {
	rs_sim_t *sim;
	rs_sim_conf_t def;

	if (!conf) {
		rs_sim_conf_init(&def);
		conf = &def;
	}
	if (conf->threads < 1 || conf->threads > 64) {
		rs_snprintf(errstr, errstr_size, "threads must be 1..64");
		return NULL;
	}
	if (conf->ledger_size < 1 || conf->ledger_size > 10000000) {
		rs_snprintf(errstr, errstr_size,
			    "ledger size must be 1..10000000");
		return NULL;
	}
	if (conf->token_lifetime_s < 1) {
		rs_snprintf(errstr, errstr_size, "token lifetime must be >= 1");
		return NULL;
	}
	sim = rs_calloc(1, sizeof(*sim));
	sim->conf = *conf;
	rs_snprintf(sim->listen, sizeof(sim->listen), "%s",
		    conf->listen ? conf->listen : "127.0.0.1");
	sim->conf.listen = sim->listen;
	if (RAND_bytes(sim->tok_key, sizeof(sim->tok_key)) != 1) {
		rs_free(sim);
		rs_snprintf(errstr, errstr_size, "RAND_bytes failed");
		return NULL;
	}
	pthread_rwlock_init(&sim->state_lock, NULL);
	pthread_mutex_init(&sim->idx_lock, NULL);
	pthread_mutex_init(&sim->tok_lock, NULL);
	pthread_mutex_init(&sim->app_lock, NULL);
	pthread_mutex_init(&sim->led_lock, NULL);
	pthread_mutex_init(&sim->stats_lock, NULL);
	pthread_mutex_init(&sim->fault_lock, NULL);
	pthread_mutex_init(&sim->delay_lock, NULL);
	{
		pthread_condattr_t ca;
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&sim->delay_cond, &ca);
		pthread_condattr_destroy(&ca);
	}
	sim_map_init(&sim->tn_by_id);
	sim_map_init(&sim->tn_by_entra);
	sim_map_init(&sim->tn_by_graph_client);
	sim_map_init(&sim->tn_by_td_client);
	sim_map_init(&sim->owner);
	sim_map_init(&sim->tokens);
	sim_map_init(&sim->stats_ep);
	sim->tok_cap = SIM_TOKENS_MAX;
	sim->tok_ring = rs_calloc(sim->tok_cap, sizeof(*sim->tok_ring));
	sim_bucket_init(&sim->app, conf->app_budget, 10.0);
	sim_ledger_init(sim);
	rs_sim_gen_init(&sim->gen);
	sim->started_ms = rs_wall_ms();
	return sim;
}

/*
 * Stops first so no handler can touch state being freed; tenants go under
 * the write lock for the same reason.
 */
void rs_sim_destroy(rs_sim_t *sim) {
	if (!sim)
		return;
	rs_sim_stop(sim);
	pthread_rwlock_wrlock(&sim->state_lock);
	sim_tenants_clear(sim);
	pthread_rwlock_unlock(&sim->state_lock);
	sim_tokens_clear(sim);
	rs_free(sim->tok_ring);
	sim_map_cleanup(&sim->tokens, NULL);
	sim_faults_clear(sim);
	sim_ledger_cleanup(sim);
	sim_map_cleanup(&sim->stats_ep, rs_free);
	sim_map_cleanup(&sim->tn_by_id, NULL);
	sim_map_cleanup(&sim->tn_by_entra, NULL);
	sim_map_cleanup(&sim->tn_by_graph_client, NULL);
	sim_map_cleanup(&sim->tn_by_td_client, NULL);
	sim_map_cleanup(&sim->owner, NULL);
	pthread_rwlock_destroy(&sim->state_lock);
	pthread_mutex_destroy(&sim->idx_lock);
	pthread_mutex_destroy(&sim->tok_lock);
	pthread_mutex_destroy(&sim->app_lock);
	pthread_mutex_destroy(&sim->led_lock);
	pthread_mutex_destroy(&sim->stats_lock);
	pthread_mutex_destroy(&sim->fault_lock);
	pthread_mutex_destroy(&sim->delay_lock);
	pthread_cond_destroy(&sim->delay_cond);
	rs_free(sim->delays);
	rs_free(sim->pfx_dir);
	rs_free(sim->loaded_path);
	rs_wipe(sim->tok_key, sizeof(sim->tok_key));
	rs_free(sim);
}

/* ---- requests and responses ---------------------------------------- */

static char *join_args(const sim_kv_t *kv);

const char *sim_req_header(const sim_req_t *req, const char *name) {
	int i;
	for (i = 0; i < req->n_hdr; i++)
		if (!strcasecmp(req->hdr_name[i], name))
			return req->hdr_value[i];
	return NULL;
}

cJSON *sim_req_json(const sim_req_t *req) {
	if (!req->body || !req->body_len)
		return NULL;
	return cJSON_ParseWithLength(req->body, req->body_len);
}

void sim_req_flag_cross_tenant(sim_req_t *req) {
	req->cross_tenant = true;
}

/*
 * Header names are stored lower-case so lookups are case-insensitive as
 * HTTP requires; a repeated header replaces the previous value (the services
 * we model never rely on repeated headers).
 */
static void req_add_header(sim_req_t *req, const char *name,
			   const char *value) {
	int i;
	for (i = 0; i < req->n_hdr; i++) {
		if (!strcasecmp(req->hdr_name[i], name)) {
			rs_free(req->hdr_value[i]);
			req->hdr_value[i] = rs_strdup(value);
			return;
		}
	}
	if (req->n_hdr == SIM_HDR_MAX)
		return; /* bounded; extra headers are ignored */
	req->hdr_name[req->n_hdr] = sim_strlower(name);
	req->hdr_value[req->n_hdr] = rs_strdup(value);
	req->n_hdr++;
}

/*
 * The one constructor for wire requests and $batch sub-requests, so both
 * go through exactly the same routing, faults and ledger.  A sub-request
 * inherits its parent's headers (Authorization above all), as Graph does for
 * requests inside a batch.
 */
rs_err_t sim_req_init(sim_req_t *req, rs_sim_t *sim, const sim_req_t *parent,
		      const char *method, const char *url,
		      const char *const *hdr_names,
		      const char *const *hdr_values, int n_hdr,
		      const char *body, size_t body_len) {
	const char *q = strchr(url, '?');
	rs_err_t err;
	int i;

	memset(req, 0, sizeof(*req));
	req->sim = sim;
	req->method = rs_strdup(method);
	for (i = 0; req->method[i]; i++)
		if (req->method[i] >= 'a' && req->method[i] <= 'z')
			req->method[i] = (char)(req->method[i] - 32);
	req->url = q ? rs_strndup(url, (size_t)(q - url)) : rs_strdup(url);
	req->path = req->url;
	req->query = rs_strdup(q ? q + 1 : "");
	if (parent) {
		for (i = 0; i < parent->n_hdr; i++)
			req_add_header(req, parent->hdr_name[i],
				       parent->hdr_value[i]);
		req->depth = parent->depth + 1;
	}
	for (i = 0; i < n_hdr; i++)
		req_add_header(req, hdr_names[i], hdr_values[i]);
	if (body) {
		/* Exact copy: a body may contain NUL bytes (body_len is what
		 * the client sent; the extra NUL is for string parsers). */
		req->body = rs_malloc(body_len + 1);
		memcpy(req->body, body, body_len);
		req->body[body_len] = '\0';
		req->body_len = body_len;
	}
	req->start_us = rs_now_us();
	sim_guid_random(req->request_id);
	err = sim_kv_parse(&req->args, req->query, strlen(req->query));
	/* Keep the decoded form, as for wire requests (MHD decodes those):
	 * the ledger shows $batch sub-requests the same way. */
	rs_free(req->query);
	req->query = join_args(&req->args);
	return err;
}

/*
 * Header values and bodies may hold secrets (Basic credentials, client
 * assertions, bearer tokens): they are wiped before being freed.
 */
void sim_req_cleanup(sim_req_t *req) {
	int i;
	rs_free(req->method);
	rs_free(req->url);
	rs_free(req->query);
	sim_kv_cleanup(&req->args);
	for (i = 0; i < req->n_hdr; i++) {
		rs_free(req->hdr_name[i]);
		rs_wipe(req->hdr_value[i], strlen(req->hdr_value[i]));
		rs_free(req->hdr_value[i]);
	}
	if (req->body) {
		/* Bodies of token requests hold secrets and assertions. */
		rs_wipe(req->body, req->body_len);
		rs_free(req->body);
	}
	for (i = 0; i < req->n_params; i++)
		rs_free(req->params[i]);
	memset(req, 0, sizeof(*req));
}

void sim_resp_init(sim_resp_t *resp) {
	memset(resp, 0, sizeof(*resp));
	resp->status = 200;
}

void sim_resp_cleanup(sim_resp_t *resp) {
	int i;
	rs_free(resp->body);
	for (i = 0; i < resp->n_hdr; i++) {
		rs_free(resp->hdr_name[i]);
		rs_free(resp->hdr_value[i]);
	}
	memset(resp, 0, sizeof(*resp));
}

/*
 * Setting a header twice replaces it: helpers (graph headers, throttle) and
 * handlers may both set request-id without producing duplicates.
 */
void sim_resp_header(sim_resp_t *resp, const char *name, const char *fmt,
		     ...) {
	char buf[1024];
	va_list ap;
	int i;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	for (i = 0; i < resp->n_hdr; i++) {
		if (!strcasecmp(resp->hdr_name[i], name)) {
			rs_free(resp->hdr_value[i]);
			resp->hdr_value[i] = rs_strdup(buf);
			return;
		}
	}
	if (resp->n_hdr == SIM_RESP_HDR_MAX)
		return;
	resp->hdr_name[resp->n_hdr] = rs_strdup(name);
	resp->hdr_value[resp->n_hdr] = rs_strdup(buf);
	resp->n_hdr++;
}

const char *sim_resp_get_header(const sim_resp_t *resp, const char *name) {
	int i;
	for (i = 0; i < resp->n_hdr; i++)
		if (!strcasecmp(resp->hdr_name[i], name))
			return resp->hdr_value[i];
	return NULL;
}

void sim_resp_raw(sim_resp_t *resp, int status, const char *ctype,
		  const char *body, size_t len) {
	rs_free(resp->body);
	resp->status = status;
	resp->body = rs_strndup(body ? body : "", len);
	resp->body_len = strlen(resp->body);
	rs_snprintf(resp->content_type, sizeof(resp->content_type), "%s",
		    ctype ? ctype : "text/plain");
}

/*
 * Unformatted JSON, like the real services; takes ownership of json so a
 * handler can build and hand over in one call.
 */
void sim_resp_json(sim_resp_t *resp, int status, cJSON *json,
		   const char *ctype) {
	char *s = cJSON_PrintUnformatted(json);
	cJSON_Delete(json);
	rs_free(resp->body);
	resp->status = status;
	resp->body = s ? rs_strdup(s) : rs_strdup("null");
	cJSON_free(s);
	resp->body_len = strlen(resp->body);
	rs_snprintf(resp->content_type, sizeof(resp->content_type), "%s",
		    ctype ? ctype : "application/json");
}

void sim_resp_empty(sim_resp_t *resp, int status) {
	rs_free(resp->body);
	resp->body = NULL;
	resp->body_len = 0;
	resp->status = status;
	resp->content_type[0] = '\0';
}

/* Graph's innerError date has no fraction and no zone (graph.md §8). */
static void graph_date(char *buf, size_t size) {
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
}

void sim_resp_graph_headers(const sim_req_t *req, sim_resp_t *resp) {
	const char *crid = sim_req_header(req, "client-request-id");
	sim_resp_header(resp, "request-id", "%s", req->request_id);
	/* Graph echoes the caller's client-request-id, or uses its own. */
	sim_resp_header(resp, "client-request-id", "%s",
			crid ? crid : req->request_id);
	sim_resp_header(resp, "x-ms-ags-diagnostic",
			"{\"ServerInfo\":{\"DataCenter\":\"Sim\","
			"\"Slice\":\"E\",\"Ring\":\"1\","
			"\"ScaleUnit\":\"000\",\"RoleInstance\":\"SIM\"}}");
	sim_resp_header(resp, "OData-Version", "4.0");
}

void sim_resp_graph_error(const sim_req_t *req, sim_resp_t *resp, int status,
			  const char *code, const char *fmt, ...) {
	char msg[1024], date[32];
	const char *crid = sim_req_header(req, "client-request-id");
	cJSON *root = cJSON_CreateObject(), *err, *inner;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	graph_date(date, sizeof(date));
	err = cJSON_AddObjectToObject(root, "error");
	cJSON_AddStringToObject(err, "code", code);
	cJSON_AddStringToObject(err, "message", msg);
	inner = cJSON_AddObjectToObject(err, "innerError");
	cJSON_AddStringToObject(inner, "date", date);
	cJSON_AddStringToObject(inner, "request-id", req->request_id);
	cJSON_AddStringToObject(inner, "client-request-id",
				crid ? crid : req->request_id);
	sim_resp_json(resp, status, root, SIM_GRAPH_CTYPE);
	sim_resp_graph_headers(req, resp);
}

void sim_resp_td_error(sim_resp_t *resp, int status, const char *code,
		       const char *message) {
	cJSON *root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "code", code);
	cJSON_AddStringToObject(root, "message", message);
	sim_resp_json(resp, status, root, "application/json");
}

/* ---- tokens -------------------------------------------------------- */

static char *b64url(const unsigned char *in, size_t len) {
	size_t cap = 4 * ((len + 2) / 3) + 1, i, o = 0;
	char *out = rs_malloc(cap);
	int n = EVP_EncodeBlock((unsigned char *)out, in, (int)len);
	for (i = 0; i < (size_t)n; i++) {
		if (out[i] == '=')
			break;
		out[o++] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
	}
	out[o] = '\0';
	return out;
}

/*
 * Tokens are opaque to the sim (looked up whole), but clients may decode
 * them: Graph clients read exp/tid, so the payload carries realistic claims.
 * The map is bounded; the oldest token is forgotten first, which a client
 * sees as an invalid token - as after a real key rollover.
 */
int sim_token_issue(rs_sim_t *sim, sim_svc_t svc, sim_tenant_t *tn,
		    const char *client_id, uint32_t scopes, char **out) {
	int lifetime = sim->conf.token_lifetime_s;
	int64_t now = rs_wall_ms();
	unsigned char rnd[24];
	char jti[37], payload[768];
	char *h, *p, *s, *tok, *old = NULL;
	sim_token_t *t = rs_calloc(1, sizeof(*t));
	size_t tl;

	/* A JWT-shaped token: clients that peek at exp/tid work, and the
	 * random signature part makes every token unique.  The sim never
	 * verifies it; it looks the whole string up. */
	sim_guid_random(jti);
	rs_snprintf(payload, sizeof(payload),
		    "{\"aud\":\"%s\",\"iss\":\"https://sts.windows.net/%s/\","
		    "\"iat\":%lld,\"nbf\":%lld,\"exp\":%lld,\"appid\":\"%s\","
		    "\"tid\":\"%s\",\"oid\":\"%s\",\"roles\":[%s],"
		    "\"uti\":\"%s\"}",
		    svc == SIM_SVC_GRAPH ? "https://graph.microsoft.com"
					 : "talkdesk",
		    tn->entra_tenant_id, (long long)(now / 1000),
		    (long long)(now / 1000),
		    (long long)(now / 1000 + lifetime), client_id,
		    tn->entra_tenant_id, jti,
		    svc == SIM_SVC_GRAPH
			    ? "\"GroupMember.ReadWrite.All\",\"User.Read.All\""
			    : "",
		    jti);
	h = b64url((const unsigned char *)"{\"typ\":\"JWT\",\"alg\":\"RS256\"}",
		   27);
	p = b64url((const unsigned char *)payload, strlen(payload));
	RAND_bytes(rnd, sizeof(rnd));
	s = b64url(rnd, sizeof(rnd));
	tl = strlen(h) + strlen(p) + strlen(s) + 3;
	tok = rs_malloc(tl);
	rs_snprintf(tok, tl, "%s.%s.%s", h, p, s);
	rs_free(h);
	rs_free(p);
	rs_free(s);

	t->svc = svc;
	rs_snprintf(t->tenant_id, sizeof(t->tenant_id), "%s", tn->id);
	rs_snprintf(t->client_id, sizeof(t->client_id), "%s", client_id);
	t->scopes = scopes;
	t->expires_ms = now + (int64_t)lifetime * 1000;

	pthread_mutex_lock(&sim->tok_lock);
	/* Bounded: the oldest token is forgotten when the ring is full. */
	if (sim->tok_n == sim->tok_cap) {
		old = sim->tok_ring[sim->tok_head];
		rs_free(sim_map_del(&sim->tokens, old));
		sim->tok_head = (sim->tok_head + 1) % sim->tok_cap;
		sim->tok_n--;
	}
	sim->tok_ring[(sim->tok_head + sim->tok_n) % sim->tok_cap] =
		rs_strdup(tok);
	sim->tok_n++;
	sim_map_put(&sim->tokens, tok, t);
	pthread_mutex_unlock(&sim->tok_lock);
	rs_free(old);
	*out = tok;
	return lifetime;
}

void sim_tokens_clear(rs_sim_t *sim) {
	size_t i;
	pthread_mutex_lock(&sim->tok_lock);
	for (i = 0; i < sim->tok_n; i++)
		rs_free(sim->tok_ring[(sim->tok_head + i) % sim->tok_cap]);
	sim->tok_n = 0;
	sim->tok_head = 0;
	sim_map_cleanup(&sim->tokens, rs_free);
	sim_map_init(&sim->tokens);
	pthread_mutex_unlock(&sim->tok_lock);
}

/* Looks a bearer token up; fills *out and returns true when known. */
static bool token_lookup(rs_sim_t *sim, const char *tok, sim_token_t *out) {
	sim_token_t *t;
	bool found = false;
	pthread_mutex_lock(&sim->tok_lock);
	t = sim_map_get(&sim->tokens, tok);
	if (t) {
		*out = *t;
		found = true;
	}
	pthread_mutex_unlock(&sim->tok_lock);
	return found;
}

static const char *bearer_of(const sim_req_t *req) {
	const char *a = sim_req_header(req, "authorization");
	if (!a || strncasecmp(a, "Bearer ", 7))
		return NULL;
	a += 7;
	while (*a == ' ')
		a++;
	return *a ? a : NULL;
}

/*
 * A token is valid for one service only (a Talkdesk token on Graph is as
 * invalid as garbage).  The tenant is set even for an expired token so the
 * ledger still names who tried.
 */
sim_auth_t sim_req_auth(sim_req_t *req, sim_svc_t svc) {
	const char *b = bearer_of(req);
	sim_token_t t;

	if (!b)
		return SIM_AUTH_MISSING;
	if (!token_lookup(req->sim, b, &t) || t.svc != svc)
		return SIM_AUTH_INVALID;
	req->token = t;
	req->has_token = true;
	req->tn = sim_tenant_by_id(req->sim, t.tenant_id);
	if (!req->tn)
		return SIM_AUTH_INVALID; /* tenant gone (regenerated) */
	req->ledger_tenant = req->tn->id;
	if (rs_wall_ms() >= t.expires_ms)
		return SIM_AUTH_EXPIRED;
	return SIM_AUTH_OK;
}

/* client_id/secret from HTTP Basic (RFC 6749 §2.3.1), also accepted. */
bool sim_req_basic_auth(const sim_req_t *req, char **id, char **secret) {
	const char *a = sim_req_header(req, "authorization");
	unsigned char *raw;
	size_t n, len;
	char *colon;
	int dl;

	if (!a || strncasecmp(a, "Basic ", 6))
		return false;
	a += 6;
	len = strlen(a);
	if (len > 4096 || len % 4)
		return false;
	raw = rs_malloc(len / 4 * 3 + 1);
	dl = EVP_DecodeBlock(raw, (const unsigned char *)a, (int)len);
	if (dl < 0) {
		rs_free(raw);
		return false;
	}
	/* EVP_DecodeBlock counts '=' padding as data bytes. */
	n = (size_t)dl;
	if (len >= 1 && a[len - 1] == '=')
		n--;
	if (len >= 2 && a[len - 2] == '=')
		n--;
	raw[n] = '\0';
	colon = strchr((char *)raw, ':');
	if (!colon) {
		rs_free(raw);
		return false;
	}
	*colon = '\0';
	*id = rs_strdup((char *)raw);
	*secret = rs_strdup(colon + 1);
	rs_wipe(raw, n);
	rs_free(raw);
	return true;
}

/* ---- dispatch ------------------------------------------------------ */

/* Which tenant a request is about before any handler runs: from its bearer
 * token, its Basic client id (Talkdesk token), or the /login/{tenant}
 * path.  Used for per-tenant faults and the ledger. */
static const char *peek_tenant(rs_sim_t *sim, const sim_req_t *req) {
	const char *b = bearer_of(req);
	sim_token_t t;
	sim_tenant_t *tn;

	if (b && token_lookup(sim, b, &t)) {
		tn = sim_tenant_by_id(sim, t.tenant_id);
		return tn ? tn->id : NULL;
	}
	if (!strncmp(req->url, "/login/", 7)) {
		char seg[128];
		const char *e = strchr(req->url + 7, '/');
		size_t n = e ? (size_t)(e - req->url - 7) : strlen(req->url + 7);
		if (n < sizeof(seg)) {
			memcpy(seg, req->url + 7, n);
			seg[n] = '\0';
			tn = sim_tenant_by_entra(sim, seg);
			return tn ? tn->id : NULL;
		}
	}
	return NULL;
}

/* Percent-decodes one path segment; '+' stays literal in a path. */
static bool url_decode_seg(const char *s, size_t len, char **out) {
	char *tmp = rs_malloc(len + 1);
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		if (s[i] != '%') {
			tmp[o++] = s[i];
			continue;
		}
		if (i + 2 >= len) {
			rs_free(tmp);
			return false;
		}
		{
			char hx[3] = {s[i + 1], s[i + 2], 0};
			char *end;
			long v = strtol(hx, &end, 16);
			/* A decoded NUL would cut the id short: reject. */
			if (*end || v <= 0 || hx[0] == '-' || hx[0] == '+') {
				rs_free(tmp);
				return false;
			}
			tmp[o++] = (char)v;
			i += 2;
		}
	}
	tmp[o] = '\0';
	*out = tmp;
	return true;
}

/* Matches path against a route pattern, capturing "{}" segments.
 * Returns true on a match (params stored in req). */
static bool route_match(sim_req_t *req, const char *pattern,
			const char *path) {
	const char *p = pattern, *s = path;
	int n = 0, i;

	while (*p == '/' && *s == '/') {
		const char *pe, *se;
		size_t pl, sl;
		p++;
		s++;
		pe = strchr(p, '/');
		se = strchr(s, '/');
		pl = pe ? (size_t)(pe - p) : strlen(p);
		sl = se ? (size_t)(se - s) : strlen(s);
		if (pl == 2 && !strncmp(p, "{}", 2)) {
			char *v;
			if (!sl || n == SIM_PARAM_MAX)
				goto fail;
			if (!url_decode_seg(s, sl, &v))
				goto fail;
			req->params[n++] = v;
		} else if (pl != sl || strncasecmp(p, s, pl)) {
			goto fail;
		}
		p += pl;
		s += sl;
	}
	/* A trailing slash on the request is tolerated. */
	if (*p == '\0' && (*s == '\0' || !strcmp(s, "/"))) {
		req->n_params = n;
		return true;
	}
fail:
	for (i = 0; i < n; i++)
		rs_free(req->params[i]);
	return false;
}

static void generic_error(sim_resp_t *resp, int status, const char *msg) {
	cJSON *root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "error", msg);
	sim_resp_json(resp, status, root, NULL);
}

/* Truncates a body so it no longer parses (the "malformed body" fault):
 * clients must treat it as a transport-level failure, not crash. */
static void mangle_body(sim_resp_t *resp) {
	size_t keep;
	if (!resp->body || resp->body_len < 2) {
		sim_resp_raw(resp, resp->status ? resp->status : 200,
			     "application/json", "{\"value\":[", 10);
		return;
	}
	keep = resp->body_len / 2;
	resp->body[keep] = '\0';
	resp->body_len = keep;
}

static void sleep_interruptible(rs_sim_t *sim, int ms) {
	int64_t end = rs_now_ms() + ms;
	while (!__atomic_load_n(&sim->stopping, __ATOMIC_RELAXED)) {
		int64_t left = end - rs_now_ms();
		if (left <= 0)
			break;
		rs_sleep_ms(left > 100 ? 100 : left);
	}
}

/* The dispatch body; caller holds state_lock for reading. */
static void dispatch_locked(rs_sim_t *sim, sim_req_t *req, sim_resp_t *resp) {
	const sim_module_t *mod = NULL;
	const sim_route_t *rt = NULL;
	const char *tenant;
	bool method_mismatch = false;
	char fault_desc[96] = "";
	int latency_ms = 0;
	sim_fault_step_t step;
	bool have_step;
	size_t i, plen = 0;

	for (i = 0; i < RS_ARRAY_SIZE(sim_modules); i++) {
		const char *pf = sim_modules[i]->prefix;
		size_t l = strlen(pf);
		if (!strncmp(req->url, pf, l) &&
		    (req->url[l] == '/' || req->url[l] == '\0')) {
			mod = sim_modules[i];
			plen = l;
			break;
		}
	}
	tenant = peek_tenant(sim, req);
	req->ledger_tenant = tenant;
	if (!mod) {
		req->endpoint = "unknown";
		generic_error(resp, 404, "no such service");
		goto out;
	}
	req->path = req->url[plen] ? req->url + plen : "/";
	for (i = 0; i < mod->n_routes; i++) {
		const sim_route_t *r = &mod->routes[i];
		if (!route_match(req, r->pattern, req->path))
			continue;
		if (strcmp(r->method, req->method)) {
			int k;
			method_mismatch = true;
			for (k = 0; k < req->n_params; k++)
				rs_free(req->params[k]);
			req->n_params = 0;
			continue;
		}
		rt = r;
		break;
	}
	req->endpoint = rt ? rt->name : mod->name;

	/* Faults: scripted steps and latency, matched on tenant + path. */
	have_step = sim_faults_take(sim, tenant, req->method, req->url,
				    req->endpoint, &latency_ms, &step);
	/* Wire requests get their latency from the wire layer after the
	 * handler (suspended connection); sub-requests sleep in place. */
	if (latency_ms > 0 && req->depth > 0)
		sleep_interruptible(sim, latency_ms);
	else if (latency_ms > 0)
		resp->delay_ms = latency_ms;
	if (have_step) {
		switch (step.kind) {
		case SIM_FAULT_DROP:
			resp->action = SIM_ACT_DROP;
			rs_snprintf(fault_desc, sizeof(fault_desc), "drop");
			goto out;
		case SIM_FAULT_HANG:
			resp->action = SIM_ACT_HANG;
			resp->hang_ms = step.hang_ms;
			rs_snprintf(fault_desc, sizeof(fault_desc), "hang %d",
				    step.hang_ms);
			goto out;
		case SIM_FAULT_ERROR:
			rs_snprintf(fault_desc, sizeof(fault_desc), "status %d",
				    step.status);
			if (mod->fault_error)
				mod->fault_error(req, resp, step.status,
						 step.retry_after[0]
							 ? step.retry_after
							 : NULL);
			else
				generic_error(resp, step.status,
					      "injected fault");
			if (step.retry_after[0])
				sim_resp_header(resp, "Retry-After", "%s",
						step.retry_after);
			goto out;
		case SIM_FAULT_MALFORMED:
		case SIM_FAULT_LATENCY:
			break;
		}
	}
	if (rt)
		rt->fn(req, resp);
	else if (mod->no_route)
		mod->no_route(req, resp);
	else
		generic_error(resp, method_mismatch ? 405 : 404,
			      method_mismatch ? "method not allowed"
					      : "not found");
	if (have_step && step.kind == SIM_FAULT_MALFORMED) {
		mangle_body(resp);
		rs_snprintf(fault_desc, sizeof(fault_desc), "malformed");
	} else if (latency_ms > 0) {
		rs_snprintf(fault_desc, sizeof(fault_desc), "latency %d",
			    latency_ms);
	}
out:
	/* The control API is not part of what a client under test did. */
	if (mod != &sim_module_control)
		sim_ledger_record(sim, req, resp,
				  fault_desc[0] ? fault_desc : NULL);
	sim_stats_request(sim, req->endpoint,
			  resp->action == SIM_ACT_RESPOND ? resp->status : 0,
			  req->cross_tenant);
	/* Path only: the query may carry secrets (the ledger redacts them). */
	rs_dbg(NULL, RS_DBG_SIM, "SIM", "%s %s -> %d%s%s (tenant %s)",
	       req->method, req->url,
	       resp->action == SIM_ACT_RESPOND ? resp->status : 0,
	       fault_desc[0] ? " fault " : "", fault_desc,
	       req->ledger_tenant ? req->ledger_tenant : "-");
}

void sim_dispatch(rs_sim_t *sim, sim_req_t *req, sim_resp_t *resp) {
	if (req->depth > 1) {
		generic_error(resp, 400, "nested batch not allowed");
		return;
	}
	/* A sub-request runs inside its parent's handler, which already holds
	 * state_lock for reading; rwlocks allow that recursion for readers
	 * but a queued writer could deadlock it, so don't take it again. */
	if (req->depth == 0)
		pthread_rwlock_rdlock(&sim->state_lock);
	dispatch_locked(sim, req, resp);
	if (req->depth == 0)
		pthread_rwlock_unlock(&sim->state_lock);
	/* Within a batch a dropped/hung sub-request becomes a 503. */
	if (req->depth > 0 && resp->action != SIM_ACT_RESPOND) {
		resp->action = SIM_ACT_RESPOND;
		generic_error(resp, 503, "injected fault");
	}
}

/* ---- libmicrohttpd glue ------------------------------------------- */

typedef struct conn_ctx_s {
	char *buf;
	size_t len, cap;
	bool too_large;
	sim_resp_t *pending; /* answer held while the connection sleeps */
} conn_ctx_t;

typedef struct sim_delay_s {
	struct MHD_Connection *conn;
	int64_t due_ms;
} sim_delay_t;

/* The timer thread: resumes held connections when they are due. */
static void *delay_main(void *arg) {
	rs_sim_t *sim = arg;
	pthread_mutex_lock(&sim->delay_lock);
	while (!sim->delay_quit) {
		int64_t now = rs_now_ms(), next = INT64_MAX;
		size_t i = 0;
		while (i < sim->n_delays) {
			sim_delay_t *d = &sim->delays[i];
			if (d->due_ms <= now) {
				MHD_resume_connection(d->conn);
				sim->delays[i] = sim->delays[--sim->n_delays];
				continue;
			}
			if (d->due_ms < next)
				next = d->due_ms;
			i++;
		}
		if (next == INT64_MAX) {
			pthread_cond_wait(&sim->delay_cond, &sim->delay_lock);
		} else {
			struct timespec ts;
			int64_t wait_ms = next - now;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += wait_ms / 1000;
			ts.tv_nsec += (wait_ms % 1000) * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&sim->delay_cond,
					       &sim->delay_lock, &ts);
		}
	}
	pthread_mutex_unlock(&sim->delay_lock);
	return NULL;
}

/* Suspends conn for ms; false when shutting down (answer at once). */
static bool hold_connection(rs_sim_t *sim, struct MHD_Connection *conn,
			    int ms) {
	bool held = false;
	pthread_mutex_lock(&sim->delay_lock);
	if (sim->delay_running && !sim->delay_quit) {
		if (sim->n_delays == sim->cap_delays) {
			sim->cap_delays = sim->cap_delays ? sim->cap_delays * 2
							  : 64;
			sim->delays = rs_realloc(sim->delays,
						 sim->cap_delays *
							 sizeof(*sim->delays));
		}
		/* Suspend under the lock so the timer can't resume first. */
		MHD_suspend_connection(conn);
		sim->delays[sim->n_delays].conn = conn;
		sim->delays[sim->n_delays].due_ms = rs_now_ms() + ms;
		sim->n_delays++;
		pthread_cond_signal(&sim->delay_cond);
		held = true;
	}
	pthread_mutex_unlock(&sim->delay_lock);
	return held;
}

typedef struct collect_s {
	sim_req_t *req;
	bool overflow;
} collect_t;

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind,
				      const char *key, const char *value) {
	collect_t *c = cls;
	(void)kind;
	if (c->req->n_hdr == SIM_HDR_MAX) {
		c->overflow = true;
		return MHD_NO;
	}
	req_add_header(c->req, key, value ? value : "");
	return MHD_YES;
}

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind,
				   const char *key, const char *value) {
	collect_t *c = cls;
	sim_kv_t *kv = &c->req->args;
	(void)kind;
	if (kv->n == SIM_KV_MAX) {
		c->overflow = true;
		return MHD_NO;
	}
	kv->name[kv->n] = rs_strdup(key);
	kv->value[kv->n] = rs_strdup(value ? value : "");
	kv->n++;
	return MHD_YES;
}

/* Rebuilds a readable (decoded) query string for the ledger. */
static char *join_args(const sim_kv_t *kv) {
	size_t cap = 1, o = 0;
	char *s;
	int i;
	for (i = 0; i < kv->n; i++)
		cap += strlen(kv->name[i]) + strlen(kv->value[i]) + 2;
	s = rs_malloc(cap);
	s[0] = '\0';
	for (i = 0; i < kv->n; i++) {
		size_t nl = strlen(kv->name[i]), vl = strlen(kv->value[i]);
		if (i)
			s[o++] = '&';
		memcpy(s + o, kv->name[i], nl);
		o += nl;
		s[o++] = '=';
		memcpy(s + o, kv->value[i], vl);
		o += vl;
	}
	s[o] = '\0';
	return s;
}

static enum MHD_Result send_resp(struct MHD_Connection *conn,
				 sim_resp_t *resp) {
	struct MHD_Response *r;
	enum MHD_Result ret;
	int i;

	r = MHD_create_response_from_buffer(resp->body_len,
					    resp->body ? resp->body : (void *)"",
					    MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	if (resp->content_type[0])
		MHD_add_response_header(r, "Content-Type",
					resp->content_type);
	for (i = 0; i < resp->n_hdr; i++)
		MHD_add_response_header(r, resp->hdr_name[i],
					resp->hdr_value[i]);
	ret = MHD_queue_response(conn, (unsigned int)resp->status, r);
	MHD_destroy_response(r);
	return ret;
}

/*
 * libmicrohttpd access handler.  MHD calls it several times per request:
 * once to create the per-request context, once per body chunk, once to
 * answer, and once more after a held (suspended) connection is resumed.
 */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
				  const char *url, const char *method,
				  const char *version,
				  const char *upload_data,
				  size_t *upload_data_size, void **con_cls) {
	rs_sim_t *sim = cls;
	conn_ctx_t *cc = *con_cls;
	sim_req_t req;
	sim_resp_t resp;
	collect_t col;
	enum MHD_Result ret;
	(void)version;

	if (!cc) {
		cc = rs_calloc(1, sizeof(*cc));
		*con_cls = cc;
		return MHD_YES;
	}
	if (cc->pending) {
		/* Resumed after a latency/hang hold: answer (or drop) now. */
		sim_resp_t *held = cc->pending;
		cc->pending = NULL;
		ret = held->action == SIM_ACT_RESPOND ? send_resp(conn, held)
						      : MHD_NO;
		sim_resp_cleanup(held);
		rs_free(held);
		return ret;
	}
	if (*upload_data_size) {
		/* Bounded body: past the limit we keep reading but drop it,
		 * then answer 413. */
		if (cc->len + *upload_data_size > SIM_BODY_MAX) {
			cc->too_large = true;
		} else {
			if (cc->len + *upload_data_size + 1 > cc->cap) {
				cc->cap = (cc->len + *upload_data_size + 1) * 2;
				cc->buf = rs_realloc(cc->buf, cc->cap);
			}
			memcpy(cc->buf + cc->len, upload_data,
			       *upload_data_size);
			cc->len += *upload_data_size;
			cc->buf[cc->len] = '\0';
		}
		*upload_data_size = 0;
		return MHD_YES;
	}

	memset(&req, 0, sizeof(req));
	sim_req_init(&req, sim, NULL, method, url, NULL, NULL, 0,
		     cc->buf, cc->len);
	sim_resp_init(&resp);
	col.req = &req;
	col.overflow = false;
	MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_header, &col);
	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_arg,
				  &col);
	rs_free(req.query);
	req.query = join_args(&req.args);
	if (cc->too_large || col.overflow) {
		pthread_rwlock_rdlock(&sim->state_lock);
		req.endpoint = "rejected";
		generic_error(&resp, cc->too_large ? 413 : 431,
			      cc->too_large ? "request body too large"
					    : "too many headers or arguments");
		sim_ledger_record(sim, &req, &resp, NULL);
		sim_stats_request(sim, req.endpoint, resp.status, false);
		pthread_rwlock_unlock(&sim->state_lock);
	} else {
		sim_dispatch(sim, &req, &resp);
	}
	{
		int hold = resp.action == SIM_ACT_HANG ? resp.hang_ms
						       : resp.delay_ms;
		if (hold > 0 && resp.action != SIM_ACT_DROP &&
		    hold_connection(sim, conn, hold)) {
			cc->pending = rs_malloc(sizeof(*cc->pending));
			*cc->pending = resp; /* moved */
			sim_req_cleanup(&req);
			return MHD_YES;
		}
	}
	if (resp.action != SIM_ACT_RESPOND)
		ret = MHD_NO; /* MHD closes the connection: a dropped reply */
	else
		ret = send_resp(conn, &resp);
	sim_resp_cleanup(&resp);
	sim_req_cleanup(&req);
	return ret;
}

/*
 * Frees the per-request context whatever happened (client gone while
 * suspended, dropped by a fault, normal end).
 */
static void on_completed(void *cls, struct MHD_Connection *conn,
			 void **con_cls, enum MHD_RequestTerminationCode toe) {
	conn_ctx_t *cc = *con_cls;
	(void)cls;
	(void)conn;
	(void)toe;
	if (cc) {
		if (cc->pending) {
			sim_resp_cleanup(cc->pending);
			rs_free(cc->pending);
		}
		if (cc->buf)
			rs_wipe(cc->buf, cc->len);
		rs_free(cc->buf);
		rs_free(cc);
		*con_cls = NULL;
	}
}

rs_err_t rs_sim_start(rs_sim_t *sim, char *errstr, size_t errstr_size) {
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	char eb[128];
	int fd = -1, one = 1;

	if (sim->mhd) {
		rs_snprintf(errstr, errstr_size, "already started");
		return RS_ERR_STATE;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)sim->conf.port);
	if (inet_pton(AF_INET, sim->listen, &sa.sin_addr) != 1) {
		rs_snprintf(errstr, errstr_size,
			    "listen address \"%s\" is not an IPv4 address",
			    sim->listen);
		return RS_ERR_INVALID_ARG;
	}
	/* We bind the socket ourselves so the real port (port 0) and the base
	 * URL are known before any request can read them. */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(fd, 1024) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
		rs_snprintf(errstr, errstr_size, "cannot listen on %s:%d: %s",
			    sim->listen, sim->conf.port,
			    rs_strerror(errno, eb, sizeof(eb)));
		if (fd >= 0)
			close(fd);
		return RS_ERR_IO;
	}
	sim->port = ntohs(sa.sin_port);
	rs_snprintf(sim->base_url, sizeof(sim->base_url), "http://%s:%d",
		    sim->listen, sim->port);
	__atomic_store_n(&sim->stopping, 0, __ATOMIC_RELAXED);
	pthread_mutex_lock(&sim->delay_lock);
	sim->delay_quit = false;
	sim->delay_running =
		pthread_create(&sim->delay_thread, NULL, delay_main, sim) == 0;
	pthread_mutex_unlock(&sim->delay_lock);
	sim->mhd = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL_LINUX_ONLY |
			MHD_USE_TURBO | MHD_ALLOW_SUSPEND_RESUME,
		0, NULL, NULL, on_request, sim, MHD_OPTION_LISTEN_SOCKET, fd,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)sim->conf.threads,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, sim,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)120,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)4000,
		MHD_OPTION_END);
	if (!sim->mhd) {
		rs_snprintf(errstr, errstr_size, "cannot start the HTTP server "
						 "on %s:%d",
			    sim->listen, sim->port);
		close(fd);
		pthread_mutex_lock(&sim->delay_lock);
		sim->delay_quit = true;
		pthread_cond_signal(&sim->delay_cond);
		pthread_mutex_unlock(&sim->delay_lock);
		if (sim->delay_running)
			pthread_join(sim->delay_thread, NULL);
		sim->delay_running = false;
		sim->port = 0;
		return RS_ERR_IO;
	}
	return RS_OK;
}

int rs_sim_port(const rs_sim_t *sim) {
	return sim->port;
}

const char *rs_sim_base_url(const rs_sim_t *sim) {
	return sim->base_url;
}

/*
 * Idempotent.  Order: flag (hung handlers stop waiting), resume every
 * held connection, stop the timer, then MHD (which joins its threads).
 */
void rs_sim_stop(rs_sim_t *sim) {
	if (!sim->mhd)
		return;
	__atomic_store_n(&sim->stopping, 1, __ATOMIC_RELAXED);
	/* MHD must not be stopped with suspended connections: resume every
	 * held one (it then answers or drops at once) and stop the timer. */
	pthread_mutex_lock(&sim->delay_lock);
	while (sim->n_delays)
		MHD_resume_connection(sim->delays[--sim->n_delays].conn);
	sim->delay_quit = true;
	pthread_cond_signal(&sim->delay_cond);
	pthread_mutex_unlock(&sim->delay_lock);
	if (sim->delay_running)
		pthread_join(sim->delay_thread, NULL);
	sim->delay_running = false;
	MHD_stop_daemon(sim->mhd);
	sim->mhd = NULL;
}
