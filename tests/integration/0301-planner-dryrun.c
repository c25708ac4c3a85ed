/*
 * 0301-planner-dryrun.c - one planner cycle in dry-run against an
 * in-process simulator, with the sim's own state as the oracle.
 *
 * Proves, for every tenant (one of them certificate-only) and every
 * mapped group:
 *  - the plan's adds are exactly desired - current and its removes exactly
 *    current - desired, where desired = the Entra ids of the queue's
 *    Talkdesk users (e-mail matched against mail or UPN, case-insensitive)
 *    and current = the group's user members in the sim;
 *  - applying the plan to the current members yields exactly the desired
 *    set, so a worker applying it converges the group;
 *  - unresolved e-mails are counted per group as the oracle predicts;
 *  - the deletion guard (max_removals = 0) holds back exactly the removes;
 *    --force-removals publishes them again; additive mode removes nothing;
 *  - the summary totals match the plan, and plan.csv has one row per
 *    planned member change;
 *  - a mapped queue missing from the source removes nobody from a group
 *    that has members (noted "queue_missing"), even with --force-removals;
 *  - a second cycle of the same planner resolves nothing and fetches no
 *    token (resolution and token caches), with the same plan totals; with
 *    planner.cache_ttl = 0 it resolves again.
 */
#include "rs/rs_base.h"
#include "rs_test.h"
#include "rs_sim.h"

#include "rs/rs_conf.h"
#include "rs/rs_http.h"
#include "rs_planner.h"

#include <cjson/cJSON.h>
#include <strings.h>

static const char *jstr(const cJSON *o, const char *k) {
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(it) ? it->valuestring : NULL;
}

static bool in_arr(const cJSON *arr, const char *s) {
	const cJSON *it;
	cJSON_ArrayForEach(it, arr) if (cJSON_IsString(it) &&
					!strcmp(it->valuestring, s)) return true;
	return false;
}

static void add_unique(cJSON *arr, const char *s) {
	if (!in_arr(arr, s))
		cJSON_AddItemToArray(arr, cJSON_CreateString(s));
}

/* Entra user id for an e-mail: mail or UPN, case-insensitive. */
static const char *entra_id(const cJSON *entra, const char *email) {
	const cJSON *u;
	cJSON_ArrayForEach(u, cJSON_GetObjectItem(entra, "users")) {
		const char *m = jstr(u, "mail"), *upn = jstr(u, "userPrincipalName");
		if ((m && !strcasecmp(m, email)) || (upn && !strcasecmp(upn, email)))
			return jstr(u, "id");
	}
	return NULL;
}

typedef struct expect_s {
	cJSON *desired; /* ids */
	cJSON *current; /* user ids */
	size_t unresolved;
} expect_t;

/* The oracle for one mapped group, from the sim's state. */
static void expect_group(rs_sim_t *sim, const char *tenant, const char *queue,
			 const char *group_id, expect_t *ex) {
	char *s = rs_sim_state_json(sim, tenant);
	cJSON *root = cJSON_Parse(s), *tn, *td, *entra, *q, *g, *m, *u;
	bool found = false;

	rs_free(s);
	tn = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "tenants"), tenant);
	TEST_ASSERT(tn, "state of %s", tenant);
	td = cJSON_GetObjectItem(tn, "talkdesk");
	entra = cJSON_GetObjectItem(tn, "entra");
	ex->desired = cJSON_CreateArray();
	ex->current = cJSON_CreateArray();
	ex->unresolved = 0;
	cJSON_ArrayForEach(q, cJSON_GetObjectItem(td, "queues")) {
		if (strcmp(jstr(q, "name"), queue))
			continue;
		found = true;
		cJSON_ArrayForEach(m, cJSON_GetObjectItem(q, "users")) {
			const char *email = NULL, *id;
			cJSON_ArrayForEach(u, cJSON_GetObjectItem(td, "users"))
				if (!strcmp(jstr(u, "id"), m->valuestring))
					email = jstr(u, "email");
			TEST_ASSERT(email, "talkdesk user %s has an e-mail",
				    m->valuestring);
			id = entra_id(entra, email);
			if (id)
				add_unique(ex->desired, id);
			else
				ex->unresolved++;
		}
	}
	TEST_ASSERT(found, "queue %s in the sim", queue);
	cJSON_ArrayForEach(g, cJSON_GetObjectItem(entra, "groups")) {
		if (strcmp(jstr(g, "id"), group_id))
			continue;
		cJSON_ArrayForEach(m, cJSON_GetObjectItem(g, "members")) {
			/* Only user members are managed by the planner. */
			bool user = false;
			cJSON_ArrayForEach(u, cJSON_GetObjectItem(entra, "users"))
				user = user || !strcmp(jstr(u, "id"), m->valuestring);
			if (user)
				add_unique(ex->current, m->valuestring);
		}
	}
	cJSON_Delete(root);
}

static cJSON *load_json(const char *path) {
	FILE *fp = fopen(path, "r");
	char *buf;
	long n;
	cJSON *j;

	TEST_ASSERT(fp, "open %s", path);
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	buf = rs_calloc(1, (size_t)n + 1);
	TEST_ASSERT(fread(buf, 1, (size_t)n, fp) == (size_t)n, "read %s", path);
	fclose(fp);
	j = cJSON_Parse(buf);
	TEST_ASSERT(j, "%s is JSON", path);
	rs_free(buf);
	return j;
}

static size_t count_lines(const char *path) {
	FILE *fp = fopen(path, "r");
	size_t n = 0;
	int c;
	TEST_ASSERT(fp, "open %s", path);
	while ((c = fgetc(fp)) != EOF)
		n += c == '\n';
	fclose(fp);
	return n;
}

typedef struct totals_s {
	size_t adds, removes, held, groups_with_removes;
} totals_t;

/* One dry-run cycle with the given overrides; checks every group against
 * the oracle.  mode: 0 exact, 1 exact + guard, 2 exact + guard + force,
 * 3 additive. */
static void run_cycle(rs_sim_t *sim, const char *dir, int mode,
		      totals_t *tot) {
	char main_path[1024], report[1024], path[1100], err[4096];
	const char *ov[4];
	size_t nov = 0, i;
	rs_conf_t *conf;
	rs_planner_t *p;
	rs_planner_opts_t opts;
	rs_planner_summary_t sum;
	cJSON *plan, *t;

	memset(tot, 0, sizeof(*tot));
	rs_snprintf(main_path, sizeof(main_path), "%s/rostersync.conf", dir);
	rs_snprintf(report, sizeof(report), "%s/report%d", dir, mode);
	ov[nov++] = mode == 0 || mode == 3 ? "planner.max_removals=100000"
					   : "planner.max_removals=0";
	ov[nov++] = mode == 0 || mode == 3 ? "planner.max_removal_percent=100"
					   : "planner.max_removal_percent=0";
	if (mode == 3)
		ov[nov++] = "tenant.*.sync.mode=additive";
	conf = rs_conf_load(main_path, ov, nov, err, sizeof(err));
	TEST_ASSERT(conf, "config: %s", err);
	memset(&opts, 0, sizeof(opts));
	opts.dry_run = true;
	opts.force_removals = mode == 2;
	opts.report_dir = report;
	p = rs_planner_new(conf, &opts, err, sizeof(err));
	TEST_ASSERT(p, "planner: %s", err);
	TEST_ASSERT(rs_planner_cycle(p, &sum) == RS_OK, "cycle ok");
	TEST_ASSERT(sum.errors == 0, "no errors");
	TEST_ASSERT(sum.tenants == rs_conf_tenant_count(conf), "all tenants");

	rs_snprintf(path, sizeof(path), "%s/plan.json", report);
	plan = load_json(path);
	cJSON_ArrayForEach(t, cJSON_GetObjectItem(plan, "tenants")) {
		const char *tid = jstr(t, "id");
		cJSON *g;
		TEST_ASSERT(!cJSON_GetObjectItem(t, "error"), "tenant %s ok", tid);
		cJSON_ArrayForEach(g, cJSON_GetObjectItem(t, "groups")) {
			cJSON *adds = cJSON_GetObjectItem(g, "adds"),
			      *rems = cJSON_GetObjectItem(g, "removes"),
			      *held = cJSON_GetObjectItem(g, "held_back"), *m,
			      *result;
			const char *gid = jstr(g, "group_id");
			size_t nexp_add = 0, nexp_rem = 0;
			expect_t ex;

			expect_group(sim, tid, jstr(g, "queue"), gid, &ex);
			/* Expected sizes of both differences. */
			cJSON_ArrayForEach(m, ex.desired) nexp_add +=
				!in_arr(ex.current, m->valuestring);
			cJSON_ArrayForEach(m, ex.current) nexp_rem +=
				!in_arr(ex.desired, m->valuestring);
			TEST_ASSERT((size_t)cJSON_GetArraySize(adds) == nexp_add,
				    "%s/%s: %d adds, expected %zu", tid, gid,
				    cJSON_GetArraySize(adds), nexp_add);
			cJSON_ArrayForEach(m, adds) {
				const char *id = jstr(m, "id");
				TEST_ASSERT(in_arr(ex.desired, id) &&
						    !in_arr(ex.current, id),
					    "%s/%s: add %s is desired and absent",
					    tid, gid, id);
				TEST_ASSERT(jstr(m, "email"), "add has e-mail");
			}
			if (mode == 3) {
				TEST_ASSERT(cJSON_GetArraySize(rems) == 0 &&
						    cJSON_GetArraySize(held) == 0,
					    "additive: no removals");
			} else {
				cJSON *r = mode == 1 && nexp_rem ? held : rems;
				TEST_ASSERT(
					(size_t)cJSON_GetArraySize(r) == nexp_rem,
					"%s/%s: %d removals, expected %zu", tid,
					gid, cJSON_GetArraySize(r), nexp_rem);
				cJSON_ArrayForEach(m, r) TEST_ASSERT(
					in_arr(ex.current, jstr(m, "id")) &&
						!in_arr(ex.desired,
							jstr(m, "id")),
					"%s/%s: removal %s current, not desired",
					tid, gid, jstr(m, "id"));
				if (mode == 1)
					TEST_ASSERT(cJSON_GetArraySize(rems) == 0,
						    "guard: nothing removed");
				else
					TEST_ASSERT(cJSON_GetArraySize(held) == 0,
						    "nothing held back");
			}
			/* Applying the plan converges to the desired set. */
			if (mode == 0 || mode == 2) {
				result = cJSON_Duplicate(ex.current, 1);
				cJSON_ArrayForEach(m, adds)
					add_unique(result, jstr(m, "id"));
				cJSON_ArrayForEach(m, rems) {
					int k = 0;
					cJSON *x;
					cJSON_ArrayForEach(x, result) {
						if (!strcmp(x->valuestring,
							    jstr(m, "id")))
							break;
						k++;
					}
					cJSON_DeleteItemFromArray(result, k);
				}
				TEST_ASSERT(cJSON_GetArraySize(result) ==
						    cJSON_GetArraySize(ex.desired),
					    "%s/%s: converged size", tid, gid);
				cJSON_ArrayForEach(m, ex.desired) TEST_ASSERT(
					in_arr(result, m->valuestring),
					"%s/%s: converged", tid, gid);
				cJSON_Delete(result);
			}
			TEST_ASSERT((size_t)cJSON_GetObjectItem(g, "unresolved")
						    ->valuedouble == ex.unresolved,
				    "%s/%s: unresolved %zu", tid, gid,
				    ex.unresolved);
			tot->adds += (size_t)cJSON_GetArraySize(adds);
			tot->removes += (size_t)cJSON_GetArraySize(rems);
			tot->held += (size_t)cJSON_GetArraySize(held);
			tot->groups_with_removes += nexp_rem > 0;
			cJSON_Delete(ex.desired);
			cJSON_Delete(ex.current);
		}
	}
	TEST_ASSERT(sum.adds == tot->adds && sum.removes == tot->removes &&
			    sum.held_back == tot->held,
		    "summary matches the plan");
	rs_snprintf(path, sizeof(path), "%s/plan.csv", report);
	i = count_lines(path);
	TEST_ASSERT(i == 1 + tot->adds + tot->removes + tot->held,
		    "plan.csv: header + one row per change (%zu lines)", i);
	cJSON_Delete(plan);
	rs_planner_destroy(p);
	rs_conf_destroy(conf);
}

/* Wire requests (not $batch sub-requests) after seq whose endpoint
 * starts with prefix; returns the highest seq through *maxp. */
static int ledger_count(rs_sim_t *sim, double since, const char *prefix,
			double *maxp) {
	char *s = rs_sim_ledger_json(sim);
	cJSON *root = cJSON_Parse(s), *r;
	double max = 0;
	int n = 0;

	cJSON_ArrayForEach(r, cJSON_GetObjectItem(root, "requests")) {
		const cJSON *bd = cJSON_GetObjectItem(r, "batch_depth");
		const char *ep = jstr(r, "endpoint");
		double q = cJSON_GetObjectItem(r, "seq")->valuedouble;
		max = RS_MAX(max, q);
		if (q <= since || (cJSON_IsNumber(bd) && bd->valuedouble > 0))
			continue;
		if (ep && !strncmp(ep, prefix, strlen(prefix)))
			n++;
	}
	if (maxp)
		*maxp = max;
	cJSON_Delete(root);
	rs_free(s);
	return n;
}

/* Two cycles of one planner; returns resolution requests (graph.batch
 * plus users listings) and token requests of the second one. */
static void two_cycles(rs_sim_t *sim, const char *dir, const char *ttl,
		       int *resolves, int *tokens) {
	char main_path[1024], report[1024], err[4096];
	const char *ov[1] = {ttl};
	rs_conf_t *conf;
	rs_planner_t *p;
	rs_planner_opts_t opts;
	rs_planner_summary_t s1, s2;
	double seq;

	rs_snprintf(main_path, sizeof(main_path), "%s/rostersync.conf", dir);
	rs_snprintf(report, sizeof(report), "%s/report-cache", dir);
	conf = rs_conf_load(main_path, ov, 1, err, sizeof(err));
	TEST_ASSERT(conf, "config: %s", err);
	memset(&opts, 0, sizeof(opts));
	opts.dry_run = true;
	opts.report_dir = report;
	p = rs_planner_new(conf, &opts, err, sizeof(err));
	TEST_ASSERT(p, "planner: %s", err);
	TEST_ASSERT(rs_planner_cycle(p, &s1) == RS_OK, "cycle 1");
	(void)ledger_count(sim, 0, "", &seq);
	TEST_ASSERT(rs_planner_cycle(p, &s2) == RS_OK, "cycle 2");
	TEST_ASSERT(s1.adds == s2.adds && s1.removes == s2.removes &&
			    s1.held_back == s2.held_back &&
			    s1.unresolved == s2.unresolved && s2.adds > 0,
		    "same plan twice");
	*resolves = ledger_count(sim, seq, "graph.batch", NULL) +
		    ledger_count(sim, seq, "graph.users", NULL);
	*tokens = ledger_count(sim, seq, "login.token", NULL) +
		  ledger_count(sim, seq, "talkdesk.token", NULL);
	TEST_ASSERT(ledger_count(sim, seq, "graph.groups.members", NULL) > 0,
		    "the second cycle read the groups again");
	rs_planner_destroy(p);
	rs_conf_destroy(conf);
}

/* One forced dry-run cycle with overrides @p ovs; the plan lands in
 * dir/<name>/plan.json.  @returns the cycle's result. */
static rs_err_t dry_run(const char *dir, const char **ovs, size_t n,
			const char *name, rs_planner_summary_t *sum) {
	char main_path[1024], report[1024], err[4096];
	rs_planner_opts_t opts;
	rs_planner_t *p;
	rs_conf_t *conf;
	rs_err_t ret;

	rs_snprintf(main_path, sizeof(main_path), "%s/rostersync.conf", dir);
	rs_snprintf(report, sizeof(report), "%s/%s", dir, name);
	conf = rs_conf_load(main_path, ovs, n, err, sizeof(err));
	TEST_ASSERT(conf, "config: %s", err);
	memset(&opts, 0, sizeof(opts));
	opts.dry_run = true;
	opts.force_removals = true;
	opts.report_dir = report;
	p = rs_planner_new(conf, &opts, err, sizeof(err));
	TEST_ASSERT(p, "planner: %s", err);
	ret = rs_planner_cycle(p, sum);
	rs_planner_destroy(p);
	rs_conf_destroy(conf);
	return ret;
}

/* Maps a queue the source does not have onto a group with members. */
static void test_queue_missing(const char *dir) {
	char path[1100], ov[256];
	const char *ovs[1] = {ov};
	cJSON *plan, *t, *g;
	rs_planner_summary_t sum;
	bool found = false;

	rs_snprintf(path, sizeof(path), "%s/report0/plan.json", dir);
	plan = load_json(path);
	t = cJSON_GetArrayItem(cJSON_GetObjectItem(plan, "tenants"), 0);
	g = cJSON_GetArrayItem(cJSON_GetObjectItem(t, "groups"), 0);
	TEST_ASSERT(cJSON_GetObjectItem(g, "current")->valuedouble > 0,
		    "group has members");
	rs_snprintf(ov, sizeof(ov), "tenant.%s.mapping=no-such-queue=%s",
		    jstr(t, "id"), jstr(g, "group_id"));
	cJSON_Delete(plan);

	TEST_ASSERT(dry_run(dir, ovs, 1, "report-missing", &sum) == RS_OK,
		    "cycle ok");
	TEST_ASSERT(sum.errors == 0, "no errors");
	rs_snprintf(path, sizeof(path), "%s/report-missing/plan.json", dir);
	plan = load_json(path);
	cJSON_ArrayForEach(t, cJSON_GetObjectItem(plan, "tenants"))
		cJSON_ArrayForEach(g, cJSON_GetObjectItem(t, "groups"))
		if (!strcmp(jstr(g, "queue"), "no-such-queue")) {
			TEST_ASSERT(jstr(g, "note") &&
					    !strcmp(jstr(g, "note"),
						    "queue_missing"),
				    "noted queue_missing");
			TEST_ASSERT(cJSON_GetArraySize(
					    cJSON_GetObjectItem(g, "removes")) ==
					    0,
				    "no removes");
			TEST_ASSERT(cJSON_GetArraySize(cJSON_GetObjectItem(
					    g, "held_back")) == 0,
				    "nothing held back either");
			TEST_ASSERT(cJSON_GetObjectItem(g, "current")
						    ->valuedouble > 0,
				    "the group had members to lose");
			found = true;
		}
	TEST_ASSERT(found, "the missing queue is in the plan");
	cJSON_Delete(plan);
}

/* Maps a queue onto a group id Entra does not have (a typo, or a group
 * deleted since): that group is reported as a target error and gets no
 * job; the tenant's other group and the other tenants are still planned. */
static void test_group_missing(const char *dir) {
	static const char *ghost = "00000000-0000-4000-8000-0000000000ff";
	char path[1100], ov[512];
	char q0[128], g0[64], q1[128], tid[64];
	const char *ovs[1] = {ov};
	cJSON *plan, *t, *g, *g1;
	rs_planner_summary_t sum;
	int adds0 = -1, seen = 0, tenants_ok = 0;

	rs_snprintf(path, sizeof(path), "%s/report0/plan.json", dir);
	plan = load_json(path);
	t = cJSON_GetArrayItem(cJSON_GetObjectItem(plan, "tenants"), 0);
	g = cJSON_GetArrayItem(cJSON_GetObjectItem(t, "groups"), 0);
	g1 = cJSON_GetArrayItem(cJSON_GetObjectItem(t, "groups"), 1);
	TEST_ASSERT(g && g1, "tenant 0 has two mapped groups");
	rs_snprintf(tid, sizeof(tid), "%s", jstr(t, "id"));
	rs_snprintf(q0, sizeof(q0), "%s", jstr(g, "queue"));
	rs_snprintf(g0, sizeof(g0), "%s", jstr(g, "group_id"));
	rs_snprintf(q1, sizeof(q1), "%s", jstr(g1, "queue"));
	adds0 = cJSON_GetArraySize(cJSON_GetObjectItem(g, "adds"));
	cJSON_Delete(plan);
	rs_snprintf(ov, sizeof(ov), "tenant.%s.mapping=%s=%s,%s=%s", tid, q0,
		    g0, q1, ghost);

	/* The cycle reports the failure (exit 1 from the CLI) ... */
	TEST_ASSERT(dry_run(dir, ovs, 1, "report-ghost", &sum) != RS_OK,
		    "cycle reports it");
	TEST_ASSERT(sum.errors == 1, "one error, got %zu", sum.errors);
	/* ... and still writes the plan for everything else. */
	rs_snprintf(path, sizeof(path), "%s/report-ghost/plan.json", dir);
	plan = load_json(path);
	cJSON_ArrayForEach(t, cJSON_GetObjectItem(plan, "tenants")) {
		if (strcmp(jstr(t, "id"), tid)) {
			TEST_ASSERT(!cJSON_GetObjectItem(t, "error"),
				    "tenant %s unaffected", jstr(t, "id"));
			tenants_ok++;
			continue;
		}
		TEST_ASSERT(jstr(t, "error") && strstr(jstr(t, "error"), ghost),
			    "tenant error names the group");
		cJSON_ArrayForEach(g, cJSON_GetObjectItem(t, "groups")) {
			cJSON *adds = cJSON_GetObjectItem(g, "adds");
			cJSON *rems = cJSON_GetObjectItem(g, "removes");
			if (!strcmp(jstr(g, "group_id"), ghost)) {
				TEST_ASSERT(cJSON_IsTrue(cJSON_GetObjectItem(
						    g, "error")) &&
						    jstr(g, "note") &&
						    !strcmp(jstr(g, "note"),
							    "target_error"),
					    "ghost group noted target_error");
				TEST_ASSERT(cJSON_GetArraySize(adds) == 0 &&
						    cJSON_GetArraySize(rems) ==
							    0,
					    "no job for the ghost group");
			} else {
				TEST_ASSERT(!strcmp(jstr(g, "group_id"), g0) &&
						    cJSON_GetArraySize(adds) ==
							    adds0,
					    "the tenant's other group planned "
					    "as before");
			}
			seen++;
		}
	}
	TEST_ASSERT(seen == 2 && tenants_ok > 0, "both groups in the plan");
	cJSON_Delete(plan);
}

/* A Talkdesk queue that suddenly answers with no agents (an outage, a
 * migration, a wrong account): the planner must not empty the mapped
 * group, not even with --force-removals.  The dataset is saved, the
 * queue's member list cleared, and the result loaded back. */
static void test_queue_empty(rs_sim_t *sim, const char *dir) {
	char path[1100], save[1100], err[4096];
	char qname[128], tid[64];
	cJSON *plan, *t, *g, *ds, *tn, *q;
	rs_planner_summary_t sum;
	FILE *fp;
	char *txt;
	bool found = false, emptied = false;

	rs_snprintf(path, sizeof(path), "%s/report0/plan.json", dir);
	plan = load_json(path);
	t = cJSON_GetArrayItem(cJSON_GetObjectItem(plan, "tenants"), 0);
	g = cJSON_GetArrayItem(cJSON_GetObjectItem(t, "groups"), 0);
	TEST_ASSERT(cJSON_GetObjectItem(g, "current")->valuedouble > 0,
		    "group has members");
	rs_snprintf(tid, sizeof(tid), "%s", jstr(t, "id"));
	rs_snprintf(qname, sizeof(qname), "%s", jstr(g, "queue"));
	cJSON_Delete(plan);

	rs_snprintf(save, sizeof(save), "%s/dataset.json", dir);
	TEST_ASSERT(rs_sim_save(sim, save, err, sizeof(err)) == RS_OK,
		    "save: %s", err);
	ds = load_json(save);
	cJSON_ArrayForEach(tn, cJSON_GetObjectItem(ds, "tenants")) {
		if (!jstr(tn, "id") || strcmp(jstr(tn, "id"), tid))
			continue;
		cJSON_ArrayForEach(q, cJSON_GetObjectItem(tn, "td_queues")) {
			if (jstr(q, "name") && !strcmp(jstr(q, "name"), qname)) {
				cJSON_ReplaceItemInObject(q, "users",
							  cJSON_CreateArray());
				emptied = true;
			}
		}
	}
	TEST_ASSERT(emptied, "queue %s found in the saved dataset", qname);
	rs_snprintf(path, sizeof(path), "%s/dataset-empty.json", dir);
	fp = fopen(path, "w");
	TEST_ASSERT(fp, "write %s", path);
	txt = cJSON_PrintUnformatted(ds);
	fputs(txt, fp);
	fclose(fp);
	cJSON_free(txt);
	cJSON_Delete(ds);
	TEST_ASSERT(rs_sim_load(sim, path, err, sizeof(err)) == RS_OK,
		    "load: %s", err);

	TEST_ASSERT(dry_run(dir, NULL, 0, "report-empty", &sum) == RS_OK,
		    "cycle ok");
	rs_snprintf(path, sizeof(path), "%s/report-empty/plan.json", dir);
	plan = load_json(path);
	cJSON_ArrayForEach(t, cJSON_GetObjectItem(plan, "tenants"))
		cJSON_ArrayForEach(g, cJSON_GetObjectItem(t, "groups"))
		if (!strcmp(jstr(t, "id"), tid) &&
		    !strcmp(jstr(g, "queue"), qname)) {
			TEST_ASSERT(jstr(g, "note") &&
					    !strcmp(jstr(g, "note"),
						    "queue_empty"),
				    "noted queue_empty");
			TEST_ASSERT(cJSON_GetArraySize(
					    cJSON_GetObjectItem(g, "removes")) ==
						    0 &&
					    cJSON_GetArraySize(cJSON_GetObjectItem(
						    g, "held_back")) == 0,
				    "an empty source removes nobody, even "
				    "forced");
			TEST_ASSERT(cJSON_GetObjectItem(g, "current")
						    ->valuedouble > 0,
				    "the group had members to lose");
			found = true;
		}
	TEST_ASSERT(found, "the emptied queue is in the plan");
	cJSON_Delete(plan);
	/* Back to the generated data for the tests after this one. */
	TEST_ASSERT(rs_sim_load(sim, save, err, sizeof(err)) == RS_OK,
		    "reload: %s", err);
}

int main(void) {
	rs_sim_conf_t sc;
	rs_sim_gen_t gen;
	rs_sim_t *sim;
	char err[512], dir[512];
	totals_t exact, guard, forced, additive;

	TEST_ASSERT(rs_http_global_init() == RS_OK, "curl init");
	rs_sim_conf_init(&sc);
	sim = rs_sim_new(&sc, err, sizeof(err));
	TEST_ASSERT(sim, "sim: %s", err);
	rs_sim_gen_init(&gen);
	gen.tenants = 3;
	gen.users = 150;
	gen.queues = 6;
	gen.seed = 301;
	gen.cert_every = 2; /* t002 authenticates with a certificate */
	TEST_ASSERT(rs_sim_generate(sim, &gen, err, sizeof(err)) == RS_OK,
		    "generate: %s", err);
	TEST_ASSERT(rs_sim_start(sim, err, sizeof(err)) == RS_OK, "start: %s",
		    err);
	rs_test_mkdtemp(dir, sizeof(dir));
	TEST_ASSERT(rs_sim_print_config(sim, dir, err, sizeof(err)) == RS_OK,
		    "print-config: %s", err);

	SUB_TEST("exact mode, guard off: plan = desired - current");
	run_cycle(sim, dir, 0, &exact);
	TEST_ASSERT(exact.adds > 0 && exact.removes > 0,
		    "the dataset has drift both ways (%zu adds, %zu removes)",
		    exact.adds, exact.removes);

	SUB_TEST("deletion guard holds back every removal");
	run_cycle(sim, dir, 1, &guard);
	TEST_ASSERT(guard.removes == 0 && guard.held == exact.removes &&
			    guard.adds == exact.adds,
		    "held %zu of %zu", guard.held, exact.removes);

	SUB_TEST("--force-removals overrides the guard");
	run_cycle(sim, dir, 2, &forced);
	TEST_ASSERT(forced.removes == exact.removes && forced.held == 0,
		    "forced");

	SUB_TEST("additive mode never removes");
	run_cycle(sim, dir, 3, &additive);
	TEST_ASSERT(additive.adds == exact.adds && additive.removes == 0,
		    "additive");

	SUB_TEST("a queue missing from the source removes nobody");
	test_queue_missing(dir);

	SUB_TEST("a queue that answers empty: the group keeps its members");
	test_queue_empty(sim, dir);

	SUB_TEST("a mapping to a group Entra does not have");
	test_group_missing(dir);

	SUB_TEST("second cycle: resolutions and tokens come from the caches");
	{
		int resolves, tokens;
		two_cycles(sim, dir, "planner.cache_ttl=1h", &resolves, &tokens);
		TEST_ASSERT(resolves == 0 && tokens == 0,
			    "cached: %d resolution, %d token requests",
			    resolves, tokens);
		two_cycles(sim, dir, "planner.cache_ttl=0", &resolves, &tokens);
		TEST_ASSERT(resolves > 0, "cache_ttl=0 resolves again");
	}

	rs_test_rmtree(dir);
	rs_sim_destroy(sim);
	return rs_test_finish();
}
