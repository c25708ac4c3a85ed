/*
 * sim_fault.c - scripted fault injection (POST /_sim/faults), in the spirit
 * of rd_kafka_mock_push_request_errors(): a rule matches requests by tenant,
 * method and a path glob, and either pops one scripted step per matching
 * request (N x 429 with Retry-After, 5xx bursts, dropped connections, hangs,
 * malformed bodies) or adds latency.
 *
 * Document (one rule, an array of rules, {"rules":[...]} or {"clear":true}):
 *   {"tenant":"t001", "method":"GET", "path":"/graph/v1.0/groups*",
 *    "errors":[{"status":429,"retry_after":"1.5"},{"status":503},
 *              {"kind":"drop"},{"kind":"hang","ms":3000},
 *              {"kind":"malformed"}],
 *    "repeat":2}
 *   {"tenant":"*", "path":"/talkdesk*", "status":500, "count":3}
 *   {"path":"/graph*", "latency":{"min_ms":5,"max_ms":50}, "count":100}
 *   {"path":"/graph*", "latency":{"mean_ms":20}}      (exponential)
 *   {"endpoint":"graph.groups.members.*", "status":503, "count":2}
 *                                   (glob on the route name instead)
 * Untrusted input: fuzzed by tests/fuzz/fuzz_sim_faults.c.
 */
#include "rs/rs_base.h"

#include "sim_priv.h"

#include <math.h>

#define FAULT_DOC_MAX (1024 * 1024)

static bool get_str(const cJSON *o, const char *name, char *buf, size_t size,
		    char *errstr, size_t errstr_size, bool *bad) {
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	if (!v)
		return false;
	if (!cJSON_IsString(v) || strlen(v->valuestring) >= size) {
		rs_snprintf(errstr, errstr_size,
			    "\"%s\" must be a string shorter than %zu", name,
			    size);
		*bad = true;
		return false;
	}
	memcpy(buf, v->valuestring, strlen(v->valuestring) + 1);
	return true;
}

/* Reads an integer member in [lo, hi]; absent leaves *out unchanged. */
static bool get_int(const cJSON *o, const char *name, int lo, int hi,
		    int *out, char *errstr, size_t errstr_size) {
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	if (!v)
		return true;
	if (!cJSON_IsNumber(v) || isnan(v->valuedouble) ||
	    v->valuedouble < lo || v->valuedouble > hi) {
		rs_snprintf(errstr, errstr_size,
			    "\"%s\" must be a number in %d..%d", name, lo, hi);
		return false;
	}
	*out = (int)v->valuedouble;
	return true;
}

/* Parses one step object (also used for the top-level shorthand). */
static bool parse_step(const cJSON *o, sim_fault_step_t *st, char *errstr,
		       size_t errstr_size) {
	const cJSON *ra = cJSON_GetObjectItemCaseSensitive(o, "retry_after");
	char kind[16] = "error";
	bool bad = false;

	memset(st, 0, sizeof(*st));
	get_str(o, "kind", kind, sizeof(kind), errstr, errstr_size, &bad);
	if (bad)
		return false;
	if (!strcmp(kind, "error"))
		st->kind = SIM_FAULT_ERROR;
	else if (!strcmp(kind, "drop"))
		st->kind = SIM_FAULT_DROP;
	else if (!strcmp(kind, "hang"))
		st->kind = SIM_FAULT_HANG;
	else if (!strcmp(kind, "malformed"))
		st->kind = SIM_FAULT_MALFORMED;
	else if (!strcmp(kind, "pass"))
		/* Answered normally: lets a script interleave faults with
		 * successes at a rate ("10 % 5xx") instead of in a burst. */
		st->kind = SIM_FAULT_LATENCY;
	else {
		rs_snprintf(errstr, errstr_size,
			    "unknown fault kind \"%s\" (error, drop, hang, "
			    "malformed, pass)",
			    kind);
		return false;
	}
	st->status = 500;
	if (!get_int(o, "status", 100, 599, &st->status, errstr, errstr_size))
		return false;
	st->hang_ms = 30000;
	if (!get_int(o, "ms", 0, 600000, &st->hang_ms, errstr, errstr_size))
		return false;
	if (ra) {
		if (cJSON_IsString(ra)) {
			char *end;
			double d;
			if (strlen(ra->valuestring) >= sizeof(st->retry_after) ||
			    !ra->valuestring[0]) {
				rs_snprintf(errstr, errstr_size,
					    "retry_after too long or empty");
				return false;
			}
			/* A number of seconds (maybe fractional) or an
			 * HTTP-date: passed through verbatim either way, so
			 * tests can exercise both forms. */
			d = strtod(ra->valuestring, &end);
			(void)d;
			memcpy(st->retry_after, ra->valuestring,
			       strlen(ra->valuestring) + 1);
		} else if (cJSON_IsNumber(ra) && ra->valuedouble >= 0 &&
			   ra->valuedouble < 1e6) {
			sim_retry_after_fmt((int64_t)(ra->valuedouble * 1e6),
					    st->retry_after,
					    sizeof(st->retry_after));
			if (ra->valuedouble == 0)
				rs_snprintf(st->retry_after,
					    sizeof(st->retry_after), "0");
		} else {
			rs_snprintf(errstr, errstr_size,
				    "retry_after must be a string or a "
				    "number of seconds");
			return false;
		}
	}
	return true;
}

static void rule_free(sim_fault_rule_t *r) {
	rs_free(r->steps);
	rs_free(r);
}

void sim_faults_free(sim_fault_rule_t *rules) {
	while (rules) {
		sim_fault_rule_t *n = rules->next;
		rule_free(rules);
		rules = n;
	}
}

static void push_step(sim_fault_rule_t *r, const sim_fault_step_t *st) {
	r->steps = rs_realloc(r->steps,
			      (size_t)(r->n_steps + 1) * sizeof(*r->steps));
	r->steps[r->n_steps++] = *st;
}

/*
 * One rule: either a script of steps ("errors", or the status/kind
 * shorthand with "count") or latency, or both.  Everything is range-checked
 * so a test script cannot make the sim allocate or wait without bound.
 */
static sim_fault_rule_t *parse_rule(const cJSON *o, char *errstr,
				    size_t errstr_size) {
	sim_fault_rule_t *r;
	const cJSON *errs, *lat;
	int count = 1, repeat = 1, i, k;
	bool bad = false;

	if (!cJSON_IsObject(o)) {
		rs_snprintf(errstr, errstr_size, "a fault rule is an object");
		return NULL;
	}
	r = rs_calloc(1, sizeof(*r));
	rs_snprintf(r->tenant, sizeof(r->tenant), "*");
	get_str(o, "tenant", r->tenant, sizeof(r->tenant), errstr,
		errstr_size, &bad);
	if (!bad)
		get_str(o, "method", r->method, sizeof(r->method), errstr,
			errstr_size, &bad);
	if (!bad)
		get_str(o, "path", r->path, sizeof(r->path), errstr,
			errstr_size, &bad);
	if (!bad)
		get_str(o, "endpoint", r->endpoint, sizeof(r->endpoint),
			errstr, errstr_size, &bad);
	if (bad)
		goto fail;
	if (!get_int(o, "count", 0, SIM_FAULT_STEPS_MAX, &count, errstr,
		     errstr_size) ||
	    !get_int(o, "repeat", 1, SIM_FAULT_STEPS_MAX, &repeat, errstr,
		     errstr_size))
		goto fail;

	errs = cJSON_GetObjectItemCaseSensitive(o, "errors");
	lat = cJSON_GetObjectItemCaseSensitive(o, "latency");
	if (errs) {
		int n = cJSON_GetArraySize(errs);
		if (!cJSON_IsArray(errs) || n < 1 ||
		    (long)n * repeat > SIM_FAULT_STEPS_MAX) {
			rs_snprintf(errstr, errstr_size,
				    "\"errors\" must be a non-empty array "
				    "(at most %d steps with repeat)",
				    SIM_FAULT_STEPS_MAX);
			goto fail;
		}
		for (k = 0; k < repeat; k++) {
			const cJSON *e;
			cJSON_ArrayForEach(e, errs) {
				sim_fault_step_t st;
				if (!cJSON_IsObject(e)) {
					rs_snprintf(errstr, errstr_size,
						    "each error is an object");
					goto fail;
				}
				if (!parse_step(e, &st, errstr, errstr_size))
					goto fail;
				push_step(r, &st);
			}
		}
	} else if (cJSON_GetObjectItemCaseSensitive(o, "status") ||
		   cJSON_GetObjectItemCaseSensitive(o, "kind")) {
		sim_fault_step_t st;
		if (!parse_step(o, &st, errstr, errstr_size))
			goto fail;
		if (count < 1) {
			rs_snprintf(errstr, errstr_size, "count must be >= 1");
			goto fail;
		}
		for (i = 0; i < count; i++)
			push_step(r, &st);
	}
	if (lat) {
		if (!cJSON_IsObject(lat) ||
		    !get_int(lat, "min_ms", 0, 600000, &r->lat_min_ms, errstr,
			     errstr_size) ||
		    !get_int(lat, "max_ms", 0, 600000, &r->lat_max_ms, errstr,
			     errstr_size) ||
		    !get_int(lat, "mean_ms", 0, 600000, &r->lat_mean_ms, errstr,
			     errstr_size)) {
			if (!errstr[0])
				rs_snprintf(errstr, errstr_size,
					    "\"latency\" is an object");
			goto fail;
		}
		if (r->lat_max_ms < r->lat_min_ms)
			r->lat_max_ms = r->lat_min_ms;
		/* With latency, count bounds how many requests get it
		 * (absent = forever). */
		r->lat_count = cJSON_GetObjectItemCaseSensitive(o, "count") &&
					       !r->n_steps
				       ? count
				       : -1;
	}
	if (!r->n_steps && !lat) {
		rs_snprintf(errstr, errstr_size,
			    "a rule needs \"errors\", \"status\", \"kind\" or "
			    "\"latency\"");
		goto fail;
	}
	return r;
fail:
	rule_free(r);
	return NULL;
}

rs_err_t sim_faults_parse(const char *json, size_t len,
			  sim_fault_rule_t **rules, bool *clear,
			  char *errstr, size_t errstr_size) {
	cJSON *root = NULL;
	const cJSON *arr, *it;
	sim_fault_rule_t *head = NULL, **tail = &head;
	rs_err_t err = RS_ERR_PARSE;
	int n = 0;

	*rules = NULL;
	*clear = false;
	if (errstr_size)
		errstr[0] = '\0';
	if (len > FAULT_DOC_MAX) {
		rs_snprintf(errstr, errstr_size, "fault document too large");
		return RS_ERR_TOO_LARGE;
	}
	root = cJSON_ParseWithLength(json, len);
	if (!root) {
		rs_snprintf(errstr, errstr_size, "body is not valid JSON");
		goto out;
	}
	arr = root;
	if (cJSON_IsObject(root)) {
		const cJSON *c = cJSON_GetObjectItemCaseSensitive(root, "clear");
		const cJSON *rl = cJSON_GetObjectItemCaseSensitive(root, "rules");
		if (cJSON_IsTrue(c)) {
			*clear = true;
			if (!rl) {
				err = RS_OK;
				goto out;
			}
		}
		arr = rl ? rl : NULL;
		if (rl && !cJSON_IsArray(rl)) {
			rs_snprintf(errstr, errstr_size,
				    "\"rules\" must be an array");
			goto out;
		}
	} else if (!cJSON_IsArray(root)) {
		rs_snprintf(errstr, errstr_size,
			    "expected a rule object or an array of rules");
		goto out;
	}
	if (!arr) {
		sim_fault_rule_t *r = parse_rule(root, errstr, errstr_size);
		if (!r)
			goto out;
		head = r;
	} else {
		cJSON_ArrayForEach(it, arr) {
			sim_fault_rule_t *r;
			if (++n > SIM_FAULT_RULES_MAX) {
				rs_snprintf(errstr, errstr_size,
					    "too many rules (max %d)",
					    SIM_FAULT_RULES_MAX);
				err = RS_ERR_TOO_LARGE;
				goto out;
			}
			r = parse_rule(it, errstr, errstr_size);
			if (!r)
				goto out;
			*tail = r;
			tail = &r->next;
		}
	}
	*rules = head;
	head = NULL;
	err = RS_OK;
out:
	sim_faults_free(head);
	cJSON_Delete(root);
	return err;
}

rs_err_t sim_faults_add(rs_sim_t *sim, sim_fault_rule_t *rules, char *errstr,
			size_t errstr_size) {
	sim_fault_rule_t **tail, *r;
	int n = 0;

	for (r = rules; r; r = r->next)
		n++;
	pthread_mutex_lock(&sim->fault_lock);
	if (sim->n_faults + n > SIM_FAULT_RULES_MAX) {
		pthread_mutex_unlock(&sim->fault_lock);
		rs_snprintf(errstr, errstr_size,
			    "too many active fault rules (max %d)",
			    SIM_FAULT_RULES_MAX);
		sim_faults_free(rules);
		return RS_ERR_TOO_LARGE;
	}
	for (tail = &sim->faults; *tail; tail = &(*tail)->next)
		;
	*tail = rules;
	__atomic_store_n(&sim->n_faults, sim->n_faults + n, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&sim->fault_lock);
	return RS_OK;
}

void sim_faults_clear(rs_sim_t *sim) {
	pthread_mutex_lock(&sim->fault_lock);
	sim_faults_free(sim->faults);
	sim->faults = NULL;
	__atomic_store_n(&sim->n_faults, 0, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&sim->fault_lock);
}

static bool rule_matches(const sim_fault_rule_t *r, const char *tenant,
			 const char *method, const char *url,
			 const char *endpoint) {
	if (strcmp(r->tenant, "*") && (!tenant || strcmp(r->tenant, tenant)))
		return false;
	if (r->method[0] && strcasecmp(r->method, method))
		return false;
	if (r->path[0] && !sim_glob(r->path, url))
		return false;
	if (r->endpoint[0] && (!endpoint || !sim_glob(r->endpoint, endpoint)))
		return false;
	return true;
}

/*
 * Called for every request.  With no rules at all it returns after one
 * atomic load: fault support costs nothing on the benchmark path.  Rules are
 * consulted in insertion order; the first rule with steps left supplies the
 * step, every matching rule may add latency (first one wins).
 */
bool sim_faults_take(rs_sim_t *sim, const char *tenant, const char *method,
		     const char *url, const char *endpoint, int *latency_ms,
		     sim_fault_step_t *step) {
	sim_fault_rule_t **pp, *r;
	bool have = false;
	static __thread sim_rng_t rng;
	static __thread bool seeded;

	*latency_ms = 0;
	if (!__atomic_load_n(&sim->n_faults, __ATOMIC_RELAXED))
		return false; /* fast path: no rules at all */
	if (!seeded) {
		sim_rng_seed(&rng, (uint64_t)rs_now_us());
		seeded = true;
	}
	pthread_mutex_lock(&sim->fault_lock);
	pp = &sim->faults;
	while ((r = *pp)) {
		bool spent = false;
		if (!rule_matches(r, tenant, method, url, endpoint)) {
			pp = &r->next;
			continue;
		}
		if (!*latency_ms && r->lat_count != 0 &&
		    (r->lat_max_ms > 0 || r->lat_mean_ms > 0)) {
			if (r->lat_mean_ms > 0)
				*latency_ms = (int)(-log(1.0 - sim_rng_double(
							       &rng)) *
						    r->lat_mean_ms);
			else
				*latency_ms = (int)sim_rng_range(
					&rng, r->lat_min_ms, r->lat_max_ms);
			if (r->lat_count > 0)
				r->lat_count--;
		}
		if (!have && r->next_step < r->n_steps) {
			*step = r->steps[r->next_step++];
			have = true;
		}
		/* A rule is done when its steps and its latency budget are
		 * used up; it then disappears from /_sim/faults. */
		spent = r->next_step >= r->n_steps &&
			(r->lat_count == 0 ||
			 (r->lat_max_ms <= 0 && r->lat_mean_ms <= 0));
		if (spent) {
			*pp = r->next;
			__atomic_store_n(&sim->n_faults, sim->n_faults - 1,
					 __ATOMIC_RELAXED);
			rule_free(r);
			continue;
		}
		pp = &r->next;
	}
	pthread_mutex_unlock(&sim->fault_lock);
	return have;
}

cJSON *sim_faults_json(rs_sim_t *sim) {
	cJSON *arr = cJSON_CreateArray();
	sim_fault_rule_t *r;
	pthread_mutex_lock(&sim->fault_lock);
	for (r = sim->faults; r; r = r->next) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "tenant", r->tenant);
		cJSON_AddStringToObject(o, "method", r->method);
		cJSON_AddStringToObject(o, "path", r->path);
		cJSON_AddStringToObject(o, "endpoint", r->endpoint);
		cJSON_AddNumberToObject(o, "steps_left",
					r->n_steps - r->next_step);
		if (r->lat_max_ms > 0 || r->lat_mean_ms > 0)
			cJSON_AddNumberToObject(o, "latency_left",
						r->lat_count);
		cJSON_AddItemToArray(arr, o);
	}
	pthread_mutex_unlock(&sim->fault_lock);
	return arr;
}
