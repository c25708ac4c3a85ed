/*
 * sim_throttle.c - Graph-style throttling shared by every module.
 *
 * graph.md §5: identity requests cost resource units (RU) from an app+tenant
 * budget per 10 s (S 3,500 / M 5,000 / L 8,000 by tenant size), writes also
 * come from a write budget (3,000 per 2 min 30 s), and every request counts
 * against the app's global budget across all tenants (130,000 requests per
 * 10 s).  Each budget is a token bucket refilled continuously, so the
 * Retry-After we compute is the exact time until the request would pass and
 * is often fractional ("2.128" in the older Microsoft sample) — clients must
 * parse fractional seconds.
 *
 * "Throttled requests still count" (graph.md §5): a 429 still drains the
 * bucket (down to minus one window), so clients that retry immediately only
 * dig deeper, and the Retry-After already includes that debt.
 */
#include "rs/rs_base.h"

#include "sim_priv.h"

/* Refills b to now; caller holds the bucket's lock. */
static void bucket_refill(sim_bucket_t *b, int64_t now_us) {
	double el = (double)(now_us - b->last_us) / 1e6;
	if (el > 0) {
		b->tokens += el * b->capacity / b->window_s;
		if (b->tokens > b->capacity)
			b->tokens = b->capacity;
	}
	b->last_us = now_us;
}

/* Microseconds until cost would fit (0 if it fits now). */
static int64_t bucket_wait(const sim_bucket_t *b, double cost) {
	double rate = b->capacity / b->window_s;
	if (b->tokens >= cost)
		return 0;
	if (rate <= 0)
		return (int64_t)(b->window_s * 1e6);
	return (int64_t)((cost - b->tokens) / rate * 1e6) + 1;
}

static void bucket_take(sim_bucket_t *b, double cost) {
	b->tokens -= cost;
	if (b->tokens < -b->capacity)
		b->tokens = -b->capacity;
}

/* The RU budget of a tenant by size (graph.md §5: S <50 users, M 50-500,
 * L >500) unless the operator set one.  Sized when the data is built
 * (sim_throttle_size), so charging never reads the directory. */
static double size_capacity(size_t n_users) {
	if (n_users < 50)
		return 3500;
	if (n_users <= 500)
		return 5000;
	return 8000;
}

void sim_throttle_size(sim_tenant_t *tn) {
	const rs_sim_conf_t *conf = sim_conf(tn->sim);
	double cap = conf->ru_budget > 0 ? conf->ru_budget
					 : size_capacity(tn->user_list.n);
	pthread_mutex_lock(&tn->thr_lock);
	sim_bucket_init(&tn->ru, cap, 10.0);
	pthread_mutex_unlock(&tn->thr_lock);
}

int64_t sim_throttle_charge(sim_tenant_t *tn, int cost, bool write,
			    const char **scope_out) {
	rs_sim_t *sim = tn->sim;
	int64_t now = rs_now_us(), w_app, w_ru, w_wr = 0, wait;
	const char *scope = NULL;

	if (cost < 1)
		cost = 1;
	/* Lock order: app_lock, then thr_lock (never the reverse). */
	pthread_mutex_lock(&sim->app_lock);
	pthread_mutex_lock(&tn->thr_lock);
	bucket_refill(&sim->app, now);
	bucket_refill(&tn->ru, now);
	w_app = sim->app.capacity > 0 ? bucket_wait(&sim->app, 1) : 0;
	w_ru = bucket_wait(&tn->ru, cost);
	if (write && tn->writes.capacity > 0) {
		bucket_refill(&tn->writes, now);
		w_wr = bucket_wait(&tn->writes, 1);
	}
	wait = RS_MAX(w_app, RS_MAX(w_ru, w_wr));
	if (wait > 0) {
		if (w_app >= w_ru && w_app >= w_wr)
			scope = "Application";
		else if (w_wr > w_ru)
			scope = "Tenant";
		else
			scope = "Tenant_Application";
	}
	/* Charged whether or not it passes (throttled requests count). */
	if (sim->app.capacity > 0)
		bucket_take(&sim->app, 1);
	bucket_take(&tn->ru, cost);
	if (write && tn->writes.capacity > 0)
		bucket_take(&tn->writes, 1);
	if (wait > 0) {
		/* Recompute including the debt just taken. */
		int64_t a = sim->app.capacity > 0 ? bucket_wait(&sim->app, 1)
						  : 0;
		int64_t r = bucket_wait(&tn->ru, cost);
		int64_t x = write && tn->writes.capacity > 0
				    ? bucket_wait(&tn->writes, 1)
				    : 0;
		wait = RS_MAX(a, RS_MAX(r, x));
	}
	pthread_mutex_unlock(&tn->thr_lock);
	pthread_mutex_unlock(&sim->app_lock);
	if (scope_out)
		*scope_out = scope;
	return wait;
}

int64_t sim_bucket_charge(sim_tenant_t *tn, sim_bucket_t *b, double cost) {
	int64_t wait;
	if (b->capacity <= 0)
		return 0;
	pthread_mutex_lock(&tn->thr_lock);
	bucket_refill(b, rs_now_us());
	wait = bucket_wait(b, cost);
	if (!wait)
		bucket_take(b, cost);
	pthread_mutex_unlock(&tn->thr_lock);
	return wait;
}

void sim_retry_after_fmt(int64_t wait_us, char *buf, size_t size) {
	int64_t ms = (wait_us + 999) / 1000;
	if (ms < 1)
		ms = 1;
	if (ms % 1000 == 0) {
		rs_snprintf(buf, size, "%lld", (long long)(ms / 1000));
	} else {
		char *e;
		rs_snprintf(buf, size, "%lld.%03lld", (long long)(ms / 1000),
			    (long long)(ms % 1000));
		/* "2.500" -> "2.5" */
		e = buf + strlen(buf) - 1;
		while (*e == '0')
			*e-- = '\0';
	}
}

/*
 * The Graph face of the throttle: on success only x-ms-resource-unit is
 * added (the handler builds the answer); on 429 the whole response is
 * built here so every Graph endpoint throttles identically.
 */
bool sim_graph_throttle(sim_req_t *req, sim_resp_t *resp, int cost,
			bool write) {
	const char *scope = NULL;
	char ra[32];
	int64_t wait;

	rs_assert(req->tn);
	wait = sim_throttle_charge(req->tn, cost, write, &scope);
	if (!wait) {
		sim_resp_header(resp, "x-ms-resource-unit", "%d",
				cost < 1 ? 1 : cost);
		return true;
	}
	sim_retry_after_fmt(wait, ra, sizeof(ra));
	/* graph.md §5 sample body and headers. */
	{
		char date[40];
		cJSON *root = cJSON_CreateObject(), *err, *inner;
		const char *crid = sim_req_header(req, "client-request-id");
		int64_t now = rs_wall_ms();
		rs_time_fmt(now, date, sizeof(date));
		date[19] = '\0'; /* "2020-08-18T12:51:51" */
		err = cJSON_AddObjectToObject(root, "error");
		cJSON_AddStringToObject(err, "code", "TooManyRequests");
		cJSON_AddStringToObject(err, "message",
					"Please retry again later.");
		inner = cJSON_AddObjectToObject(err, "innerError");
		cJSON_AddStringToObject(inner, "code", "429");
		cJSON_AddStringToObject(inner, "date", date);
		cJSON_AddStringToObject(inner, "message", "Please retry after");
		cJSON_AddStringToObject(inner, "request-id", req->request_id);
		cJSON_AddStringToObject(inner, "client-request-id",
					crid ? crid : req->request_id);
		cJSON_AddStringToObject(inner, "status", "429");
		sim_resp_json(resp, 429, root, SIM_GRAPH_CTYPE);
	}
	sim_resp_graph_headers(req, resp);
	sim_resp_header(resp, "Retry-After", "%s", ra);
	sim_resp_header(resp, "x-ms-throttle-scope", "%s/%s/%s/%s", scope,
			write ? "Write" : "Read", req->token.client_id,
			req->tn->entra_tenant_id);
	sim_resp_header(resp, "x-ms-throttle-information", "%s",
			!strcmp(scope, "Tenant") ? "WriteLimitExceeded"
						 : "ResourceUnitLimitExceeded");
	return false;
}
