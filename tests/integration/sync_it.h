/*
 * sync_it.h - the convergence oracle shared by the `rostersync run` and
 * `rostersync demo` scenarios (0510, 0511): the desired membership of every
 * mapped group computed HERE from the simulator's own state, independently
 * of the planner (same rules as 0320/0330: a Talkdesk queue member's e-mail
 * matched case-insensitively against an Entra user's mail or UPN; only
 * user members count; an empty queue never causes removals).
 */
#ifndef SYNC_IT_H
#define SYNC_IT_H

#include "rs/rs_base.h"
#include "rs_sim.h"
#include "rs_test.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <strings.h>

static RS_UNUSED const char *it_jstr(const cJSON *o, const char *k) {
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

static RS_UNUSED bool it_arr_has(const cJSON *arr, const char *s) {
	const cJSON *it;
	cJSON_ArrayForEach(it, arr) if (cJSON_IsString(it) &&
					!strcmp(it->valuestring, s)) return true;
	return false;
}

/*
 * The oracle: {"<group id>": {"tenant": T, "queue": Q, "empty": bool,
 * "desired": [ids], "current": [user ids]}} for every mapped group of every
 * tenant.  Caller frees with cJSON_Delete.
 */
static RS_UNUSED cJSON *it_oracle(rs_sim_t *sim) {
	char *ts = rs_sim_tenants_json(sim), *ss = rs_sim_state_json(sim, NULL);
	cJSON *tenants = cJSON_Parse(ts), *state = cJSON_Parse(ss), *tn;
	cJSON *out = cJSON_CreateObject();

	TEST_ASSERT(tenants && state, "sim JSON");
	cJSON_ArrayForEach(tn, tenants) {
		const char *id = it_jstr(tn, "id");
		cJSON *st = cJSON_GetObjectItem(cJSON_GetObjectItem(state, "tenants"), id);
		cJSON *entra = cJSON_GetObjectItem(st, "entra");
		cJSON *td = cJSON_GetObjectItem(st, "talkdesk");
		cJSON *m;

		cJSON_ArrayForEach(m, cJSON_GetObjectItem(tn, "mapping")) {
			cJSON *q = NULL, *g = NULL, *it, *o = cJSON_CreateObject();
			cJSON *want = cJSON_AddArrayToObject(o, "desired");
			cJSON *have = cJSON_AddArrayToObject(o, "current");

			cJSON_ArrayForEach(it, cJSON_GetObjectItem(td, "queues"))
				if (!strcmp(it_jstr(it, "name"), m->string))
					q = it;
			cJSON_ArrayForEach(it, cJSON_GetObjectItem(entra, "groups"))
				if (!strcmp(it_jstr(it, "id"), m->valuestring))
					g = it;
			TEST_ASSERT(q && g, "%s: queue %s or group %s missing", id,
				    m->string, m->valuestring);
			cJSON_ArrayForEach(it, cJSON_GetObjectItem(q, "users")) {
				const char *email = NULL;
				cJSON *tu, *eu;
				cJSON_ArrayForEach(tu, cJSON_GetObjectItem(td, "users"))
					if (!strcmp(it_jstr(tu, "id"), it->valuestring))
						email = it_jstr(tu, "email");
				if (!email)
					continue;
				cJSON_ArrayForEach(eu, cJSON_GetObjectItem(entra, "users")) {
					const char *mail = it_jstr(eu, "mail"),
						   *upn = it_jstr(eu, "userPrincipalName");
					if ((mail && !strcasecmp(mail, email)) ||
					    (upn && !strcasecmp(upn, email))) {
						if (!it_arr_has(want, it_jstr(eu, "id")))
							cJSON_AddItemToArray(
								want, cJSON_CreateString(
									      it_jstr(eu, "id")));
						break;
					}
				}
			}
			/* Only user members are the planner's business. */
			cJSON_ArrayForEach(it, cJSON_GetObjectItem(g, "members")) {
				cJSON *eu;
				bool user = false;
				cJSON_ArrayForEach(eu, cJSON_GetObjectItem(entra, "users"))
					user = user || !strcmp(it_jstr(eu, "id"),
							       it->valuestring);
				if (user && !it_arr_has(have, it->valuestring))
					cJSON_AddItemToArray(have, cJSON_CreateString(
									   it->valuestring));
			}
			cJSON_AddStringToObject(o, "tenant", id);
			cJSON_AddStringToObject(o, "queue", m->string);
			cJSON_AddBoolToObject(o, "empty",
					      cJSON_GetArraySize(cJSON_GetObjectItem(
						      q, "users")) == 0);
			cJSON_AddItemToObject(out, m->valuestring, o);
		}
	}
	cJSON_Delete(tenants);
	cJSON_Delete(state);
	rs_free(ts);
	rs_free(ss);
	return out;
}

/*
 * True when every mapped group's user members equal its desired set (an
 * empty queue's group only has to contain it).  On false, why names the
 * first difference.  *groups receives the number of groups checked.
 */
static RS_UNUSED bool it_converged(rs_sim_t *sim, char *why, size_t why_size,
				   int *groups) {
	cJSON *o = it_oracle(sim), *g, *it;
	bool ok = true;

	*groups = 0;
	why[0] = '\0';
	cJSON_ArrayForEach(g, o) {
		cJSON *want = cJSON_GetObjectItem(g, "desired"),
		      *have = cJSON_GetObjectItem(g, "current");
		(*groups)++;
		cJSON_ArrayForEach(it, want) if (ok && !it_arr_has(have, it->valuestring)) {
			rs_snprintf(why, why_size, "%s group %s: %s missing",
				    it_jstr(g, "tenant"), g->string, it->valuestring);
			ok = false;
		}
		if (cJSON_IsTrue(cJSON_GetObjectItem(g, "empty")))
			continue;
		cJSON_ArrayForEach(it, have) if (ok && !it_arr_has(want, it->valuestring)) {
			rs_snprintf(why, why_size, "%s group %s: %s not in the source",
				    it_jstr(g, "tenant"), g->string, it->valuestring);
			ok = false;
		}
	}
	cJSON_Delete(o);
	return ok;
}

/* The text of a file (rs_free), failing the test if it cannot be read. */
static RS_UNUSED char *it_slurp(const char *path) {
	FILE *fp = fopen(path, "rb");
	char *buf;
	long len;

	TEST_ASSERT(fp, "cannot open %s", path);
	fseek(fp, 0, SEEK_END);
	len = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	buf = rs_malloc((size_t)len + 1);
	TEST_ASSERT(fread(buf, 1, (size_t)len, fp) == (size_t)len, "read %s", path);
	buf[len] = '\0';
	fclose(fp);
	return buf;
}

static RS_UNUSED double it_stat(rs_sim_t *sim, const char *key) {
	char *s = rs_sim_stats_json(sim);
	cJSON *j = cJSON_Parse(s);
	double v = cJSON_GetNumberValue(cJSON_GetObjectItem(j, key));

	cJSON_Delete(j);
	rs_free(s);
	return v;
}

/* Occurrences of needle in hay. */
static RS_UNUSED size_t it_count(const char *hay, const char *needle) {
	size_t n = 0;
	const char *p = hay;

	while ((p = strstr(p, needle)) != NULL) {
		n++;
		p += strlen(needle);
	}
	return n;
}

#endif /* SYNC_IT_H */
