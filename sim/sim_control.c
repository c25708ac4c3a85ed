/*
 * sim_control.c - the control API under /_sim (JSON in, JSON out):
 *   GET  /tenants                 credentials and mapping of every tenant
 *   POST /tenants/{id}            per-tenant settings {"ring_groups":...}
 *   GET  /state[?tenant=ID]       directory + Talkdesk state
 *   GET|DELETE /ledger[?tenant=&since=] recorded requests (redacted)
 *   GET|DELETE /stats             counters per endpoint and status
 *   GET|POST|DELETE /faults       scripted faults (sim_fault.c)
 *   POST /churn[?tenant=&changes=N]  one deterministic round of changes
 *   POST /reset                   back to the generated/loaded dataset
 *   GET  /health
 * Also the in-process equivalents declared in rs_sim.h.
 */
#include "rs/rs_base.h"

#include "sim_priv.h"

static char *print_free(cJSON *j) {
	char *s = cJSON_PrintUnformatted(j);
	char *r = rs_strdup(s ? s : "null");
	cJSON_free(s);
	cJSON_Delete(j);
	return r;
}

char *rs_sim_tenants_json(rs_sim_t *sim) {
	cJSON *j;
	pthread_rwlock_rdlock(&sim->state_lock);
	j = sim_tenants_json(sim);
	pthread_rwlock_unlock(&sim->state_lock);
	return print_free(j);
}

char *rs_sim_state_json(rs_sim_t *sim, const char *tenant) {
	cJSON *j;
	pthread_rwlock_rdlock(&sim->state_lock);
	j = sim_state_json(sim, tenant);
	pthread_rwlock_unlock(&sim->state_lock);
	return j ? print_free(j) : NULL;
}

char *rs_sim_ledger_json(rs_sim_t *sim) {
	return print_free(sim_ledger_json(sim, NULL, 0));
}

char *rs_sim_stats_json(rs_sim_t *sim) {
	return print_free(sim_stats_json(sim));
}

/*
 * Same parser and semantics as POST /_sim/faults; a document with "clear"
 * empties the rules before adding its own, so a test can replace its script
 * atomically.
 */
rs_err_t rs_sim_faults_push(rs_sim_t *sim, const char *json, char *errstr,
			    size_t errstr_size) {
	sim_fault_rule_t *rules = NULL;
	bool clear = false;
	rs_err_t err;

	err = sim_faults_parse(json, strlen(json), &rules, &clear, errstr,
			       errstr_size);
	if (err)
		return err;
	if (clear)
		sim_faults_clear(sim);
	if (!rules)
		return RS_OK;
	return sim_faults_add(sim, rules, errstr, errstr_size);
}

/* Churn every tenant (or one); caller holds state_lock for reading. */
static cJSON *churn_locked(rs_sim_t *sim, const char *tenant, int changes) {
	cJSON *root = cJSON_CreateObject(), *tns;
	int i;
	tns = cJSON_AddObjectToObject(root, "tenants");
	for (i = 0; i < sim->n_tenants; i++) {
		sim_tenant_t *tn = sim->tenants[i];
		if (tenant && strcmp(tenant, tn->id))
			continue;
		sim_tenant_wrlock(tn);
		cJSON_AddItemToObject(tns, tn->id, sim_gen_churn(tn, changes));
		sim_tenant_unlock(tn);
	}
	if (tenant && !cJSON_GetArraySize(tns)) {
		cJSON_Delete(root);
		return NULL;
	}
	return root;
}

rs_err_t rs_sim_churn(rs_sim_t *sim, const char *tenant, int changes,
		      char **summary) {
	cJSON *j;
	pthread_rwlock_rdlock(&sim->state_lock);
	j = churn_locked(sim, tenant, changes);
	pthread_rwlock_unlock(&sim->state_lock);
	if (!j)
		return RS_ERR_NOT_FOUND;
	if (summary)
		*summary = print_free(j);
	else
		cJSON_Delete(j);
	return RS_OK;
}

/* Resets data in place (tenant by tenant), so it is safe from a request
 * handler that holds state_lock for reading. */
static rs_err_t reset_locked(rs_sim_t *sim, char *errstr,
			     size_t errstr_size) {
	rs_err_t err = RS_OK;
	int i;

	/* A loaded dataset is re-read from its file, tenant by tenant. */
	if (!sim->generated && sim->loaded_path)
		err = sim_io_reload_data(sim, errstr, errstr_size);
	for (i = 0; i < sim->n_tenants; i++) {
		sim_tenant_t *tn = sim->tenants[i];
		if (sim->generated) {
			sim_tenant_wrlock(tn);
			sim_tenant_clear_data(tn);
			sim_gen_tenant_data(sim, tn, i);
			sim_tenant_unlock(tn);
		}
		pthread_mutex_lock(&tn->thr_lock);
		sim_bucket_init(&tn->writes, sim->conf.write_budget, 150.0);
		sim_bucket_init(&tn->td_rate, sim->conf.talkdesk_rate, 1.0);
		pthread_mutex_unlock(&tn->thr_lock);
	}
	pthread_mutex_lock(&sim->app_lock);
	sim_bucket_init(&sim->app, sim->conf.app_budget, 10.0);
	pthread_mutex_unlock(&sim->app_lock);
	sim_tokens_clear(sim);
	sim_faults_clear(sim);
	sim_ledger_clear(sim);
	sim_stats_clear(sim);
	return err;
}

void rs_sim_reset(rs_sim_t *sim) {
	char errstr[256];
	pthread_rwlock_rdlock(&sim->state_lock);
	if (reset_locked(sim, errstr, sizeof(errstr)) != RS_OK)
		fprintf(stderr, "rostersync-sim: reset: %s\n", errstr);
	pthread_rwlock_unlock(&sim->state_lock);
}

/* ---- HTTP handlers ------------------------------------------------- */

static void json_msg(sim_resp_t *resp, int status, const char *json) {
	sim_resp_raw(resp, status, "application/json", json, strlen(json));
}

static void c_tenants(sim_req_t *req, sim_resp_t *resp) {
	sim_resp_json(resp, 200, sim_tenants_json(req->sim), NULL);
}

static void c_tenant_set(sim_req_t *req, sim_resp_t *resp) {
	sim_tenant_t *tn = sim_tenant_by_id(req->sim, req->params[0]);
	cJSON *body = sim_req_json(req);
	const cJSON *rg;

	if (!tn) {
		cJSON_Delete(body);
		json_msg(resp, 404, "{\"error\":\"unknown tenant\"}");
		return;
	}
	if (!cJSON_IsObject(body)) {
		cJSON_Delete(body);
		json_msg(resp, 400, "{\"error\":\"body must be a JSON object\"}");
		return;
	}
	rg = cJSON_GetObjectItemCaseSensitive(body, "ring_groups");
	if (rg) {
		rs_sim_rg_mode_t m;
		if (cJSON_IsString(rg) && !strcmp(rg->valuestring, "serve"))
			m = RS_SIM_RG_SERVE;
		else if (cJSON_IsString(rg) &&
			 !strcmp(rg->valuestring, "retired"))
			m = RS_SIM_RG_RETIRED;
		else if (cJSON_IsString(rg) && !strcmp(rg->valuestring, "auto"))
			m = RS_SIM_RG_AUTO;
		else {
			cJSON_Delete(body);
			json_msg(resp, 400, "{\"error\":\"ring_groups must be serve, "
				     "retired or auto\"}");
			return;
		}
		sim_tenant_wrlock(tn);
		tn->rg_mode = m;
		sim_tenant_unlock(tn);
	}
	rg = cJSON_GetObjectItemCaseSensitive(body, "graph_secret_expired");
	if (rg) {
		if (!cJSON_IsBool(rg)) {
			cJSON_Delete(body);
			json_msg(resp, 400,
				 "{\"error\":\"graph_secret_expired must be a "
				 "boolean\"}");
			return;
		}
		__atomic_store_n(&tn->graph_secret_expired, cJSON_IsTrue(rg),
				 __ATOMIC_RELAXED);
	}
	cJSON_Delete(body);
	json_msg(resp, 200, "{\"ok\":true}");
}

static void c_state(sim_req_t *req, sim_resp_t *resp) {
	const char *t = sim_req_arg(req, "tenant");
	cJSON *j = sim_state_json(req->sim, t);
	if (!j) {
		json_msg(resp, 404, "{\"error\":\"unknown tenant\"}");
		return;
	}
	sim_resp_json(resp, 200, j, NULL);
}

static void c_ledger(sim_req_t *req, sim_resp_t *resp) {
	const char *since = sim_req_arg(req, "since");
	uint64_t s = since ? strtoull(since, NULL, 10) : 0;
	sim_resp_json(resp, 200,
		      sim_ledger_json(req->sim, sim_req_arg(req, "tenant"), s),
		      NULL);
}

static void c_ledger_delete(sim_req_t *req, sim_resp_t *resp) {
	sim_ledger_clear(req->sim);
	sim_resp_empty(resp, 204);
}

static void c_stats_delete(sim_req_t *req, sim_resp_t *resp) {
	sim_stats_clear(req->sim);
	sim_resp_empty(resp, 204);
}

static void c_stats(sim_req_t *req, sim_resp_t *resp) {
	sim_resp_json(resp, 200, sim_stats_json(req->sim), NULL);
}

static void c_faults_get(sim_req_t *req, sim_resp_t *resp) {
	sim_resp_json(resp, 200, sim_faults_json(req->sim), NULL);
}

static void c_faults_post(sim_req_t *req, sim_resp_t *resp) {
	char errstr[256];
	cJSON *e;
	rs_err_t err = rs_sim_faults_push(req->sim,
					  req->body ? req->body : "", errstr,
					  sizeof(errstr));
	if (err) {
		e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "error", errstr);
		sim_resp_json(resp, err == RS_ERR_TOO_LARGE ? 413 : 400, e,
			      NULL);
		return;
	}
	sim_resp_json(resp, 200, sim_faults_json(req->sim), NULL);
}

static void c_faults_delete(sim_req_t *req, sim_resp_t *resp) {
	sim_faults_clear(req->sim);
	sim_resp_empty(resp, 204);
}

static void c_churn(sim_req_t *req, sim_resp_t *resp) {
	const char *tenant = sim_req_arg(req, "tenant");
	const char *ch = sim_req_arg(req, "changes");
	long changes = 10;
	cJSON *j;

	if (ch) {
		char *end;
		changes = strtol(ch, &end, 10);
		if (*end || changes < 1 || changes > 100000) {
			json_msg(resp, 400, "{\"error\":\"changes must be 1..100000\"}");
			return;
		}
	}
	j = churn_locked(req->sim, tenant, (int)changes);
	if (!j) {
		json_msg(resp, 404, "{\"error\":\"unknown tenant\"}");
		return;
	}
	sim_resp_json(resp, 200, j, NULL);
}

static void c_reset(sim_req_t *req, sim_resp_t *resp) {
	char errstr[256];
	cJSON *e;
	if (reset_locked(req->sim, errstr, sizeof(errstr)) != RS_OK) {
		e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "error", errstr);
		sim_resp_json(resp, 500, e, NULL);
		return;
	}
	json_msg(resp, 200, "{\"ok\":true}");
}

static void c_health(sim_req_t *req, sim_resp_t *resp) {
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "status", "ok");
	cJSON_AddNumberToObject(o, "tenants", req->sim->n_tenants);
	cJSON_AddNumberToObject(o, "port", req->sim->port);
	sim_resp_json(resp, 200, o, NULL);
}

static const sim_route_t control_routes[] = {
	{"GET", "/tenants", c_tenants, "sim.tenants"},
	{"POST", "/tenants/{}", c_tenant_set, "sim.tenants.set"},
	{"GET", "/state", c_state, "sim.state"},
	{"GET", "/ledger", c_ledger, "sim.ledger"},
	{"DELETE", "/ledger", c_ledger_delete, "sim.ledger"},
	{"GET", "/stats", c_stats, "sim.stats"},
	{"DELETE", "/stats", c_stats_delete, "sim.stats"},
	{"GET", "/faults", c_faults_get, "sim.faults"},
	{"POST", "/faults", c_faults_post, "sim.faults"},
	{"DELETE", "/faults", c_faults_delete, "sim.faults"},
	{"POST", "/churn", c_churn, "sim.churn"},
	{"POST", "/reset", c_reset, "sim.reset"},
	{"GET", "/health", c_health, "sim.health"},
};

const sim_module_t sim_module_control = {
	.name = "sim",
	.prefix = "/_sim",
	.routes = control_routes,
	.n_routes = RS_ARRAY_SIZE(control_routes),
	.no_route = NULL,
	.fault_error = NULL,
};
