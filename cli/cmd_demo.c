/*
 * cmd_demo.c - `rostersync demo`: the main job in one process (docs/demo.md).
 *
 *   rostersync demo [--dir DIR] [--tenants N] [--users N] [--queues N]
 *                   [--seed N] [--latency-ms N] [--churn N] [--faults JSON]
 *                   [--keep] [-X key=value]...
 *
 * 1. starts the API simulator in this process with a generated MSP and
 *    writes a configuration pointing at it (DIR/config);
 * 2. sync 1 on the embedded SQLite queue (DIR/queue.db):
 *    plan    a dry-run cycle with the deletion guard on (DIR/plan-1): what
 *            the guard would hold back;
 *    publish a real cycle with --force-removals semantics: the demo stands
 *            for an operator who reviewed that plan;
 *    apply   the worker pool until the queue is idle;
 *    check   a dry-run cycle with the guard on (DIR/check-1) must find
 *            adds = removes = held_back = 0 and no error: converged;
 * 3. one churn round of the simulated sources (the sim's /_sim/churn);
 * 4. sync 2, the same four steps;
 * 5. the per-tenant before/after tables, the figures, and the paths of the
 *    audit CSV (DIR/audit.csv) and the HTML report (DIR/report.html).
 *
 * Exit 0 only when both checks converged; 1 otherwise (or interrupted);
 * 2 bad usage.  Logs go to DIR/demo.log so the terminal shows progress.
 */
#include "rs/rs_base.h"
#include "rs_cli.h"
#include "rs_cli_report.h"
#include "rs_cli_task.h"

#include "rs/rs_conf.h"
#include "rs/rs_dlq.h"
#include "rs/rs_http.h"
#include "rs/rs_log.h"
#include "rs/rs_qconf.h"
#include "rs/rs_queue.h"
#include "rs_planner.h"
#include "rs_sim.h"
#include "rs_worker.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DEMO_PATH 1024
/* How long the pool must find the queue empty before a sync counts as
 * applied.  Subtracted from the measured wall time. */
#define DEMO_IDLE_MS 2000
/* Progress and chart sampling period. */
#define DEMO_SAMPLE_MS 250

/* Simulator counters (cumulative since the sim started). */
typedef struct simstat_s {
	uint64_t requests, writes, throttled;
} simstat_t;

/* Figures of one sync (publish + apply). */
typedef struct figures_s {
	int64_t ms;
	size_t jobs;
	uint64_t changes, api, throttled;
	uint64_t dead_lettered; /* jobs the pool gave up on */
	bool converged;
	bool ran; /* the sync got as far as its figures */
} figures_t;

typedef struct demo_s {
	/* options */
	const char *dir_opt;
	const char *faults; /* fault rules for the simulator, JSON */
	int tenants, users, queues, latency_ms, churn;
	uint64_t seed;
	bool keep;
	rs_cli_confopts_t co; /* extra -X, applied after the demo's own */
	/* state */
	char dir[DEMO_PATH], conf_path[DEMO_PATH + 32], db[DEMO_PATH + 32];
	char gen_spec[128];
	rs_sim_t *sim;
	rs_conf_t *conf;
	rs_cli_report_t *rep;
	/* The publishing planner lives across both syncs, as in a running
	 * deployment: sync 2 reuses its tokens and resolution cache.  The
	 * dry-run planners are per step (each writes its own report). */
	rs_planner_t *publisher;
	int64_t t0; /* demo start (monotonic ms) */
	bool tty;
	volatile sig_atomic_t *stop;
	figures_t fig[2];
} demo_t;

/* What the progress line of one phase shows. */
typedef struct phase_s {
	const char *sync;    /* "sync 1" */
	const char *step;    /* "plan", "publish", "apply", "check" */
	rs_worker_t *w;      /* apply: jobs done come from the pool */
	size_t jobs_done;    /* after apply: what the pool finished */
	size_t jobs_total;   /* jobs published in this sync */
	int64_t t_sync;      /* start of the sync (publish) */
	simstat_t base;      /* sim counters at the start of the sync */
} phase_t;

static void usage(FILE *fp) {
	fprintf(fp,
		"usage: rostersync demo [--dir DIR] [--tenants N] [--users N] "
		"[--queues N]\n"
		"                       [--seed N] [--latency-ms N] [--churn N] "
		"[--faults JSON]\n"
		"                       [--keep] [-X key=value]...\n"
		"A full sync of a simulated MSP (simulator in this process, "
		"SQLite queue),\none churn round of the sources, a second "
		"sync; checks both converged\nand writes an HTML report beside "
		"the audit CSV.\n"
		"  --dir DIR        output directory (default "
		"out/demo-<UTC time>)\n"
		"  --tenants N      tenants (default 5)\n"
		"  --users N        Entra users in total (default 3000)\n"
		"  --queues N       Talkdesk queues in total (default 40)\n"
		"  --seed N         dataset seed (default 7)\n"
		"  --latency-ms N   latency the simulator adds to every Graph "
		"and Talkdesk request\n"
		"  --churn N        source changes per tenant between the syncs "
		"(default 10)\n"
		"  --faults JSON    fault rules for the simulator (the "
		"POST /_sim/faults syntax,\n"
		"                   docs/sim.md), e.g. 429 storms or failing "
		"writes\n"
		"  --keep           keep the configuration (with the generated "
		"secrets) and the\n"
		"                   queue database even on success (the log "
		"is always kept)\n"
		"  -X key=value     override a configuration key, e.g. -X "
		"worker.threads=16\n"
		"Exit: 0 converged, 1 not converged / failure / interrupted, "
		"2 usage.\n");
}

/* strtol with end and range checks: atoi would take "3k" as 3. */
static bool parse_int(const char *s, long lo, long hi, long *v) {
	char *end;

	errno = 0;
	*v = strtol(s, &end, 10);
	return !errno && end != s && !*end && *v >= lo && *v <= hi;
}

/* mkdir -p for the output directory. */
static int mkdir_p(const char *path) {
	char buf[DEMO_PATH];
	size_t i, len = strlen(path);

	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, path, len + 1);
	for (i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			return -1;
		buf[i] = path[i];
	}
	return 0;
}

/* nftw callback: depth-first, so a directory is removed after its files;
 * a failure is ignored (clean-up is best effort, the paths are printed). */
static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw) {
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void rm_tree(const char *path) {
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static char *slurp(const char *path) {
	FILE *fp = fopen(path, "rb");
	char *buf = NULL;
	long len;

	if (!fp)
		return NULL;
	if (fseek(fp, 0, SEEK_END) == 0 && (len = ftell(fp)) >= 0 &&
	    fseek(fp, 0, SEEK_SET) == 0) {
		buf = rs_malloc((size_t)len + 1);
		if (fread(buf, 1, (size_t)len, fp) != (size_t)len) {
			rs_free(buf);
			buf = NULL;
		} else {
			buf[len] = '\0';
		}
	}
	fclose(fp);
	return buf;
}

static uint64_t jnum(const cJSON *o, const char *k) {
	double v = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(o, k));

	return v > 0 && v < 1e18 ? (uint64_t)v : 0;
}

/* The simulator's counters through its in-process API: what every client
 * request cost, counted where the requests arrive, not by the client. */
static void sim_stat(demo_t *d, simstat_t *st) {
	char *s = rs_sim_stats_json(d->sim);
	cJSON *j = cJSON_Parse(s);

	st->requests = jnum(j, "requests");
	st->writes = jnum(j, "writes_applied");
	st->throttled = jnum(j, "throttled");
	cJSON_Delete(j);
	rs_free(s);
}

/* ------------------------------------------------------------------------
 * Progress: one updating line on a terminal, plain lines otherwise
 * --------------------------------------------------------------------- */

static size_t jobs_done(const phase_t *ph) {
	rs_worker_stats_t st;

	if (!ph->w)
		return ph->jobs_done;
	rs_worker_stats(ph->w, &st);
	return (size_t)(st.applied + st.noop + st.superseded +
			st.dead_lettered);
}

/* Samples the counters for the chart and, when @p print, shows them. */
static void progress(demo_t *d, const phase_t *ph, bool final, bool print) {
	simstat_t st;
	int64_t now = rs_now_ms();
	char line[256], jobs[48];

	sim_stat(d, &st);
	rs_cli_report_sample(d->rep, now - d->t0, st.writes, st.requests,
			     st.throttled);
	/* Before anything is published there is no job count to show. */
	if (ph->w || ph->jobs_total)
		rs_snprintf(jobs, sizeof(jobs), "%zu/%zu", jobs_done(ph),
			    ph->jobs_total);
	else
		rs_snprintf(jobs, sizeof(jobs), "-");
	rs_snprintf(line, sizeof(line),
		    "%s %-7s jobs %s  changes %" PRIu64
		    "  API calls %" PRIu64 "  429s %" PRIu64
		    "  elapsed %.1f s",
		    ph->sync, ph->step, jobs,
		    st.writes - ph->base.writes,
		    st.requests - ph->base.requests,
		    st.throttled - ph->base.throttled,
		    (double)(now - ph->t_sync) / 1000.0);
	if (!print)
		return;
	if (d->tty) {
		/* \r + erase to end of line: the line updates in place. */
		printf("\r\033[K%s%s", line, final ? "\n" : "");
	} else {
		printf("%s\n", line);
	}
	fflush(stdout);
}

/*
 * Runs fn on a task thread while sampling every DEMO_SAMPLE_MS; a stop
 * request reaches the pool at once (the planner finishes its cycle: a
 * cycle cut in the middle would publish part of a plan).  The main thread
 * never blocks longer than one sample period, so Ctrl-C is answered
 * within 250 ms.
 */
static rs_err_t run_phase(demo_t *d, const phase_t *ph, rs_cli_task_fn_t *fn,
			  void *arg) {
	rs_cli_task_t task;
	bool stopped = false;
	int64_t next_line = rs_now_ms() + 1000;

	if (rs_cli_task_start(&task, fn, arg) != RS_OK)
		return RS_ERR_FAIL;
	while (!rs_cli_task_done(&task)) {
		rs_sleep_ms(DEMO_SAMPLE_MS);
		if (*d->stop && !stopped && ph->w) {
			rs_worker_stop(ph->w);
			stopped = true;
		}
		/* Not a terminal (a log, CI): one line a second is enough;
		 * the chart gets every sample either way. */
		if (d->tty || rs_now_ms() >= next_line) {
			progress(d, ph, false, true);
			next_line = rs_now_ms() + 1000;
		} else {
			progress(d, ph, false, false);
		}
	}
	progress(d, ph, true, true);
	return rs_cli_task_join(&task);
}

/* ------------------------------------------------------------------------
 * Steps
 * --------------------------------------------------------------------- */

typedef struct plan_arg_s {
	rs_planner_t *p;
	rs_planner_summary_t sum;
} plan_arg_t;

static rs_err_t plan_task(void *opaque) {
	plan_arg_t *a = opaque;

	return rs_planner_cycle(a->p, &a->sum);
}

static rs_err_t worker_task(void *opaque) {
	return rs_worker_run(opaque, DEMO_IDLE_MS);
}

/* One planner cycle as a phase; prints its summary line. */
static rs_err_t planner_phase(demo_t *d, phase_t *ph, bool dry, bool force,
			      const char *report_dir,
			      rs_planner_summary_t *sum) {
	rs_planner_opts_t opts;
	plan_arg_t a;
	char errstr[1024];
	rs_err_t err;

	memset(&opts, 0, sizeof(opts));
	opts.dry_run = dry;
	opts.force_removals = force;
	opts.report_dir = report_dir;
	memset(&a, 0, sizeof(a));
	a.p = dry ? NULL : d->publisher;
	if (!a.p)
		a.p = rs_planner_new(d->conf, &opts, errstr, sizeof(errstr));
	if (!a.p) {
		fprintf(stderr, "rostersync demo: planner: %s\n", errstr);
		return RS_ERR_FAIL;
	}
	if (!dry)
		d->publisher = a.p;
	err = run_phase(d, ph, plan_task, &a);
	if (dry)
		rs_planner_destroy(a.p);
	printf("  %-7s ", ph->step);
	rs_planner_summary_print(&a.sum, stdout);
	*sum = a.sum;
	return err;
}

/* The check: a dry run with the guard on must find nothing to do.  The
 * guard is on so that a removal the sync failed to apply cannot hide
 * behind it (held_back must be 0 too), and errors must be 0 because a
 * tenant that could not be read proves nothing. */
static bool converged(const rs_planner_summary_t *s) {
	return s->adds == 0 && s->removes == 0 && s->held_back == 0 &&
	       s->errors == 0;
}

/* Dead-lettered jobs per tenant, for the report: the DLQ entries written
 * since @p since_ms (wall clock), read with a scan (no consumer group, so
 * nothing is consumed). */
typedef struct dlq_scan_s {
	int64_t since_ms;
	cJSON *counts; /* {"<tenant>": n} */
} dlq_scan_t;

static rs_err_t dlq_cb(const rs_qmsg_t *msg, void *opaque) {
	dlq_scan_t *ds = opaque;
	rs_dlq_rec_t rec;
	rs_dlq_entry_t e;
	const char *tenant;
	cJSON *n;

	rec.partition = rs_qmsg_partition(msg);
	rec.offset = rs_qmsg_offset(msg);
	rec.timestamp = rs_qmsg_timestamp(msg);
	rec.key = rs_qmsg_key(msg, &rec.keylen);
	rec.value = rs_qmsg_value(msg, &rec.len);
	rs_dlq_entry_decode(&rec, &e);
	if (e.time == 0 || e.time >= ds->since_ms) {
		tenant = e.tenant ? e.tenant : "(unknown)";
		n = cJSON_GetObjectItemCaseSensitive(ds->counts, tenant);
		if (n)
			cJSON_SetNumberValue(n, n->valuedouble + 1);
		else if (cJSON_GetArraySize(ds->counts) < RS_CLI_REPORT_MAX_ROWS)
			cJSON_AddNumberToObject(ds->counts, tenant, 1);
	}
	rs_dlq_entry_cleanup(&e);
	return RS_OK;
}

static void dlq_report(demo_t *d, size_t idx, int64_t since_ms) {
	const rs_conf_global_t *g = rs_conf_global(d->conf);
	rs_queue_conf_t qc;
	rs_queue_t *q;
	dlq_scan_t ds;
	char errstr[512];
	cJSON *n;

	rs_queue_conf_init(&qc);
	rs_qconf_fill(&qc, g);
	qc.roles = RS_QUEUE_ROLE_PRODUCER;
	q = rs_queue_new(&qc, errstr, sizeof(errstr));
	if (!q) {
		fprintf(stderr, "rostersync demo: DLQ: %s\n", errstr);
		return;
	}
	ds.since_ms = since_ms;
	ds.counts = cJSON_CreateObject();
	if (rs_queue_scan(q, g->queue.kafka.topics.dlq, 30000, dlq_cb, &ds) !=
	    RS_OK)
		fprintf(stderr, "rostersync demo: DLQ scan failed\n");
	cJSON_ArrayForEach(n, ds.counts)
		rs_cli_report_dlq(d->rep, idx, n->string,
				  (size_t)cJSON_GetNumberValue(n));
	cJSON_Delete(ds.counts);
	rs_queue_destroy(q);
}

/* One sync: plan, publish, apply, check.  Returns false when it did not
 * converge (or failed). */
static bool sync_round(demo_t *d, int n) {
	char plan_dir[DEMO_PATH + 32], check_dir[DEMO_PATH + 32],
		path[DEMO_PATH + 64], path2[DEMO_PATH + 64], name[32],
		errstr[1024];
	char *plan = NULL, *check = NULL;
	rs_planner_summary_t sum;
	rs_worker_t *w = NULL;
	figures_t *f = &d->fig[n - 1];
	simstat_t end;
	phase_t ph;
	bool ok = false;
	int64_t t_end, wall_start = rs_wall_ms();

	/* Each sync writes its own plan and check directories, so both
	 * syncs' plans stay side by side for the report and for people. */
	rs_snprintf(name, sizeof(name), "sync %d", n);
	rs_snprintf(plan_dir, sizeof(plan_dir), "%s/plan-%d", d->dir, n);
	rs_snprintf(check_dir, sizeof(check_dir), "%s/check-%d", d->dir, n);
	printf("\n== %s\n", name);
	rs_cli_report_mark(d->rep, rs_now_ms() - d->t0, name);

	memset(&ph, 0, sizeof(ph));
	ph.sync = name;
	ph.step = "plan";
	ph.t_sync = rs_now_ms();
	sim_stat(d, &ph.base);
	if (planner_phase(d, &ph, true, false, plan_dir, &sum) != RS_OK)
		goto out;
	if (sum.held_back)
		printf("          the deletion guard holds back %zu removals; "
		       "the demo stands for an operator\n          who "
		       "reviewed the plan (%s/plan.csv) and forces them\n",
		       sum.held_back, plan_dir);
	if (*d->stop)
		goto out;

	/* Figures count from here: publish + apply. */
	ph.step = "publish";
	ph.t_sync = rs_now_ms();
	sim_stat(d, &ph.base);
	if (planner_phase(d, &ph, false, true, NULL, &sum) != RS_OK)
		goto out;
	f->jobs = sum.jobs;
	if (*d->stop)
		goto out;

	/* A fresh pool per sync: rs_worker_run() closes its consumer when it
	 * returns, and on SQLite the new one takes the group's lease over. */
	w = rs_worker_new(d->conf, errstr, sizeof(errstr));
	if (!w) {
		fprintf(stderr, "rostersync demo: worker: %s\n", errstr);
		goto out;
	}
	ph.step = "apply";
	ph.w = w;
	ph.jobs_total = sum.jobs;
	if (run_phase(d, &ph, worker_task, w) != RS_OK) {
		fprintf(stderr, "rostersync demo: the worker pool failed "
				"(see %s/demo.log)\n",
			d->dir);
		goto out;
	}
	/* The pool left DEMO_IDLE_MS after its last job: not work time. */
	t_end = rs_now_ms() - DEMO_IDLE_MS;
	sim_stat(d, &end);
	f->ms = RS_MAX(t_end - ph.t_sync, 0);
	f->changes = end.writes - ph.base.writes;
	f->api = end.requests - ph.base.requests;
	f->throttled = end.throttled - ph.base.throttled;
	{
		rs_worker_stats_t ws;
		rs_worker_stats(w, &ws);
		f->dead_lettered = ws.dead_lettered;
		f->ran = true;
		if (ws.dead_lettered)
			printf("          %" PRIu64 " job(s) dead-lettered "
			       "(rostersync dlq list -c %s -X "
			       "queue.backend=sqlite -X queue.sqlite.path=%s)\n",
			       ws.dead_lettered, d->conf_path, d->db);
	}
	ph.jobs_done = jobs_done(&ph);
	ph.w = NULL;
	rs_worker_destroy(w);
	w = NULL;
	if (*d->stop)
		goto out;

	ph.step = "check";
	if (planner_phase(d, &ph, true, false, check_dir, &sum) != RS_OK)
		goto out;
	f->converged = converged(&sum);

	rs_snprintf(path, sizeof(path), "%s/plan.json", plan_dir);
	rs_snprintf(path2, sizeof(path2), "%s/plan.json", check_dir);
	plan = slurp(path);
	check = slurp(path2);
	if (!plan || !check ||
	    rs_cli_report_add_sync(d->rep, name, plan, check, true, errstr,
				   sizeof(errstr)) != RS_OK) {
		fprintf(stderr, "rostersync demo: %s: cannot read the plans "
				"(%s)\n",
			name, plan && check ? errstr : "missing");
		goto out;
	}
	if (f->dead_lettered)
		dlq_report(d, (size_t)(n - 1), wall_start);
	printf("\n");
	rs_cli_report_table_print(d->rep, (size_t)(n - 1), stdout);
	printf("%s: %zu jobs, %" PRIu64 " changes applied in %.3f s, %" PRIu64
	       " API calls (%.2f per change), %" PRIu64 " answered 429\n",
	       name, f->jobs, f->changes, (double)f->ms / 1000.0, f->api,
	       f->changes ? (double)f->api / (double)f->changes : 0.0,
	       f->throttled);
	if (f->converged)
		printf("%s: converged: every mapped group equals its desired "
		       "membership (check: adds=0 removes=0 held_back=0)\n",
		       name);
	else
		printf("%s: NOT converged: the check still plans changes "
		       "(%s/plan.csv)\n",
		       name, check_dir);
	ok = f->converged;
out:
	rs_worker_destroy(w);
	rs_free(plan);
	rs_free(check);
	return ok;
}

/* ------------------------------------------------------------------------
 * Setup
 * --------------------------------------------------------------------- */

/*
 * The simulator on an ephemeral loopback port (several demos and tests can
 * run at once) with a generated MSP, and a configuration pointing at it.
 * 4 MHD threads: enough for planner.concurrency and worker.threads of 8
 * on a small machine without starving them.
 */
static rs_err_t sim_setup(demo_t *d) {
	rs_sim_conf_t sc;
	rs_sim_gen_t gen;
	char errstr[1024], cdir[DEMO_PATH + 16];

	rs_sim_conf_init(&sc);
	sc.port = 0;
	sc.threads = 4;
	d->sim = rs_sim_new(&sc, errstr, sizeof(errstr));
	if (!d->sim)
		goto fail;
	rs_sim_gen_init(&gen);
	gen.tenants = d->tenants;
	gen.users = d->users;
	gen.queues = d->queues;
	gen.seed = d->seed;
	rs_snprintf(d->gen_spec, sizeof(d->gen_spec),
		    "tenants=%d,users=%d,queues=%d,seed=%" PRIu64, d->tenants,
		    d->users, d->queues, d->seed);
	if (rs_sim_generate(d->sim, &gen, errstr, sizeof(errstr)) != RS_OK ||
	    rs_sim_start(d->sim, errstr, sizeof(errstr)) != RS_OK)
		goto fail;
	rs_snprintf(cdir, sizeof(cdir), "%s/config", d->dir);
	if (rs_sim_print_config(d->sim, cdir, errstr, sizeof(errstr)) !=
	    RS_OK)
		goto fail;
	/* The operator's rules first: a latency rule below must not hide
	 * them (rules are matched in order). */
	if (d->faults &&
	    rs_sim_faults_push(d->sim, d->faults, errstr, sizeof(errstr)) !=
		    RS_OK)
		goto fail;
	if (d->latency_ms > 0) {
		static const char *const paths[] = {"/graph*", "/talkdesk*"};
		char rule[256];
		size_t i;
		for (i = 0; i < RS_ARRAY_SIZE(paths); i++) {
			rs_snprintf(rule, sizeof(rule),
				    "{\"path\":\"%s\",\"latency\":{\"min_ms\":"
				    "%d,\"max_ms\":%d}}",
				    paths[i], d->latency_ms, d->latency_ms);
			if (rs_sim_faults_push(d->sim, rule, errstr,
					       sizeof(errstr)) != RS_OK)
				goto fail;
		}
	}
	printf("simulator: %s, %s (%s/config)\n", rs_sim_base_url(d->sim),
	       d->gen_spec, d->dir);
	if (d->latency_ms > 0)
		printf("simulated latency: %d ms on every Graph and Talkdesk "
		       "request\n",
		       d->latency_ms);
	if (d->faults)
		printf("simulated faults: %.200s\n", d->faults);
	return RS_OK;
fail:
	fprintf(stderr, "rostersync demo: simulator: %s\n", errstr);
	return RS_ERR_FAIL;
}

/* The generated configuration plus the demo's settings, then the
 * operator's -X (which win: a curious operator may point the demo at
 * Kafka with -X queue.backend=kafka -X queue.kafka.brokers=...).  The
 * report directory is the default for the dry runs; each passes its own. */
static rs_err_t conf_setup(demo_t *d) {
	char ov[4][DEMO_PATH + 64];
	const char *all[4 + RS_CLI_MAX_OVERRIDES];
	size_t n = 0, i;
	char *errstr = rs_calloc(1, 65536);
	rs_err_t err = RS_OK;

	rs_snprintf(d->conf_path, sizeof(d->conf_path),
		    "%s/config/rostersync.conf", d->dir);
	rs_snprintf(d->db, sizeof(d->db), "%s/queue.db", d->dir);
	rs_snprintf(ov[0], sizeof(ov[0]), "queue.backend=sqlite");
	rs_snprintf(ov[1], sizeof(ov[1]), "queue.sqlite.path=%s", d->db);
	rs_snprintf(ov[2], sizeof(ov[2]), "planner.audit_dir=%s", d->dir);
	rs_snprintf(ov[3], sizeof(ov[3]), "planner.report_dir=%s/plan",
		    d->dir);
	for (i = 0; i < 4; i++)
		all[n++] = ov[i];
	for (i = 0; i < d->co.n_overrides; i++)
		all[n++] = d->co.overrides[i];
	d->conf = rs_conf_load(d->conf_path, all, n, errstr, 65536);
	if (!d->conf) {
		fprintf(stderr, "rostersync demo: configuration: %s\n", errstr);
		err = RS_ERR_INVALID_ARG;
	}
	rs_free(errstr);
	return err;
}

/* Logs go to DIR/demo.log: the terminal belongs to the progress line. */
static int log_setup(demo_t *d) {
	char path[DEMO_PATH + 16];
	int fd;

	rs_snprintf(path, sizeof(path), "%s/demo.log", d->dir);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd >= 0)
		rs_log_set_fd(fd);
	return fd;
}

/* The header of the report: what ran, where, whether it converged, and
 * the figures of each sync. */
static void report_meta(demo_t *d, bool ok, int64_t total_ms,
			const simstat_t *st) {
	char buf[256];
	int i;

	rs_cli_report_meta(d->rep, "dataset", d->gen_spec);
	rs_cli_report_meta(d->rep, "queue", "embedded SQLite (queue.db)");
	if (d->faults)
		rs_cli_report_meta(d->rep, "simulated faults", d->faults);
	rs_cli_report_meta(d->rep, "result",
			   ok ? "converged after both syncs"
			      : "NOT converged (see the check tables)");
	for (i = 0; i < 2; i++) {
		char k[32];
		const figures_t *f = &d->fig[i];
		if (!f->ran)
			continue;
		rs_snprintf(k, sizeof(k), "sync %d", i + 1);
		rs_snprintf(buf, sizeof(buf),
			    "%zu jobs, %" PRIu64 " changes in %.3f s, %" PRIu64
			    " API calls (%.2f per change), %" PRIu64 " x 429, "
			    "%" PRIu64 " dead-lettered, %s",
			    f->jobs, f->changes, (double)f->ms / 1000.0, f->api,
			    f->changes ? (double)f->api / (double)f->changes
				       : 0.0,
			    f->throttled, f->dead_lettered,
			    f->converged ? "converged" : "NOT converged");
		rs_cli_report_meta(d->rep, k, buf);
	}
	rs_snprintf(buf, sizeof(buf),
		    "%.1f s wall, %" PRIu64 " API calls in all (plans and "
		    "checks included), %" PRIu64 " x 429",
		    (double)total_ms / 1000.0, st->requests, st->throttled);
	rs_cli_report_meta(d->rep, "whole demo", buf);
	rs_cli_report_meta(d->rep, "audit CSV", "audit.csv (same directory)");
}

/* One line per tenant from the simulator's churn summary
 * {"tenants":{"t001":{"joins":2,...}}}. */
static void churn_print(const char *json) {
	static const char *const keys[] = {"joins", "leaves", "moves",
					   "new_users", "departed_users"};
	cJSON *j = cJSON_Parse(json), *t;
	size_t i;

	cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(j, "tenants")) {
		printf("  %-8.32s", t->string ? t->string : "?");
		for (i = 0; i < RS_ARRAY_SIZE(keys); i++)
			printf("  %s %" PRIu64, keys[i], jnum(t, keys[i]));
		printf("\n");
	}
	cJSON_Delete(j);
}

/* Everything between option parsing and clean-up; returns the exit code.
 * Resources hang off d and are freed by the caller in every case. */
static int demo_main(demo_t *d) {
	char path[DEMO_PATH + 32], errstr[1024], *churn = NULL;
	simstat_t st;
	int64_t total_ms;
	bool ok1 = false, ok2 = false;
	int rc = RS_CLI_EXIT_FAIL;

	d->t0 = rs_now_ms();
	if (sim_setup(d) != RS_OK)
		return RS_CLI_EXIT_FAIL;
	if (conf_setup(d) != RS_OK)
		return RS_CLI_EXIT_USAGE;
	printf("queue: SQLite %s; logs: %s/demo.log\n", d->db, d->dir);
	d->rep = rs_cli_report_new("rostersync demo", 0);
	rs_cli_signals_install(&d->stop);

	ok1 = sync_round(d, 1);
	/* Churn only on a converged first sync: a second sync over a
	 * broken first one would measure nothing meaningful. */
	if (ok1 && !*d->stop) {
		printf("\n== churn: one round of source changes (%d per "
		       "tenant)\n",
		       d->churn);
		rs_cli_report_mark(d->rep, rs_now_ms() - d->t0, "churn");
		if (rs_sim_churn(d->sim, NULL, d->churn, &churn) != RS_OK) {
			fprintf(stderr, "rostersync demo: churn failed\n");
			goto out;
		}
		churn_print(churn);
		ok2 = sync_round(d, 2);
	}
	if (*d->stop) {
		fprintf(stderr, "rostersync demo: interrupted\n");
		goto out;
	}

	total_ms = rs_now_ms() - d->t0;
	sim_stat(d, &st);
	rs_cli_report_sample(d->rep, total_ms, st.writes, st.requests,
			     st.throttled);
	report_meta(d, ok1 && ok2, total_ms, &st);
	rs_snprintf(path, sizeof(path), "%s/report.html", d->dir);
	if (rs_cli_report_write(d->rep, path, errstr, sizeof(errstr)) != RS_OK) {
		fprintf(stderr, "rostersync demo: report: %s\n", errstr);
		goto out;
	}
	printf("\n== done: %s\n", ok1 && ok2 ? "converged after both syncs"
					     : "NOT converged");
	printf("whole demo: %.1f s, %" PRIu64 " API calls (plans and checks "
	       "included), %" PRIu64 " answered 429\n",
	       (double)total_ms / 1000.0, st.requests, st.throttled);
	printf("audit CSV:  %s/audit.csv\n", d->dir);
	printf("report:     %s\n", path);
	printf("plans:      %s/plan-1 %s/plan-2; checks: %s/check-1 "
	       "%s/check-2\n",
	       d->dir, d->dir, d->dir, d->dir);
	rc = ok1 && ok2 ? RS_CLI_EXIT_OK : RS_CLI_EXIT_FAIL;
out:
	rs_free(churn);
	return rc;
}

int rs_cli_cmd_demo(int argc, char **argv) {
	static const struct option longopts[] = {
		{"dir", required_argument, NULL, 'd'},
		{"tenants", required_argument, NULL, 't'},
		{"users", required_argument, NULL, 'u'},
		{"queues", required_argument, NULL, 'q'},
		{"seed", required_argument, NULL, 's'},
		{"latency-ms", required_argument, NULL, 'l'},
		{"churn", required_argument, NULL, 'C'},
		{"faults", required_argument, NULL, 'F'},
		{"keep", no_argument, NULL, 'k'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	demo_t d;
	char stamp[64], sub[DEMO_PATH + 32];
	int c, rc, log_fd;
	long v;
	time_t now;
	struct tm tm;

	memset(&d, 0, sizeof(d));
	d.tenants = 5;
	d.users = 3000;
	d.queues = 40;
	d.seed = 7;
	d.churn = 10;
	optind = 1;
	while ((c = getopt_long(argc, argv, "X:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			d.dir_opt = optarg;
			break;
		case 't':
			if (!parse_int(optarg, 1, 1000, &v))
				goto bad;
			d.tenants = (int)v;
			break;
		case 'u':
			if (!parse_int(optarg, 1, 1000000, &v))
				goto bad;
			d.users = (int)v;
			break;
		case 'q':
			if (!parse_int(optarg, 1, 100000, &v))
				goto bad;
			d.queues = (int)v;
			break;
		case 's':
			if (!parse_int(optarg, 0, 2147483647L, &v))
				goto bad;
			d.seed = (uint64_t)v;
			break;
		case 'l':
			if (!parse_int(optarg, 0, 60000, &v))
				goto bad;
			d.latency_ms = (int)v;
			break;
		case 'C':
			if (!parse_int(optarg, 0, 100000, &v))
				goto bad;
			d.churn = (int)v;
			break;
		case 'k':
			d.keep = true;
			break;
		case 'F':
			d.faults = optarg;
			break;
		case 'X':
			if (rs_cli_confopts_add(&d.co, optarg, stderr) != RS_OK)
				return RS_CLI_EXIT_USAGE;
			break;
		case 'h':
			usage(stdout);
			return RS_CLI_EXIT_OK;
		default:
			usage(stderr);
			return RS_CLI_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return RS_CLI_EXIT_USAGE;
	}
	if (d.dir_opt) {
		rs_snprintf(d.dir, sizeof(d.dir), "%s", d.dir_opt);
	} else {
		now = time(NULL);
		gmtime_r(&now, &tm);
		strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
		rs_snprintf(d.dir, sizeof(d.dir), "out/demo-%s", stamp);
	}
	if (mkdir_p(d.dir) != 0) {
		fprintf(stderr, "rostersync demo: cannot create %s\n", d.dir);
		return RS_CLI_EXIT_FAIL;
	}
	/* A redirected stdout (CI, a log file) gets plain lines: carriage
	 * returns and escape sequences would only garble it. */
	d.tty = isatty(STDOUT_FILENO);
	log_fd = log_setup(&d);
	if (rs_http_global_init() != RS_OK) {
		fprintf(stderr, "rostersync demo: curl init failed\n");
		return RS_CLI_EXIT_FAIL;
	}
	rc = demo_main(&d);
	rs_cli_report_destroy(d.rep);
	rs_planner_destroy(d.publisher);
	rs_conf_destroy(d.conf);
	rs_sim_destroy(d.sim);
	rs_http_global_cleanup();
	/* Without --keep a successful run leaves only its results: the
	 * generated secrets and the queue are not worth keeping. */
	if (rc == RS_CLI_EXIT_OK && !d.keep) {
		rs_snprintf(sub, sizeof(sub), "%s/config", d.dir);
		rm_tree(sub);
		rs_snprintf(sub, sizeof(sub), "%s/queue.db", d.dir);
		unlink(sub);
		rs_snprintf(sub, sizeof(sub), "%s/queue.db-wal", d.dir);
		unlink(sub);
		rs_snprintf(sub, sizeof(sub), "%s/queue.db-shm", d.dir);
		unlink(sub);
	} else if (rc != RS_CLI_EXIT_OK) {
		fprintf(stderr, "rostersync demo: kept %s (configuration, "
				"queue, demo.log) for inspection\n",
			d.dir);
	}
	rs_log_set_fd(STDERR_FILENO);
	if (log_fd >= 0)
		close(log_fd);
	return rc;
bad:
	fprintf(stderr, "rostersync demo: bad value '%s'\n", optarg);
	usage(stderr);
	return RS_CLI_EXIT_USAGE;
}
