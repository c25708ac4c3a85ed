/*
 * cmd_run.c - `rostersync run`: the planner and the worker pool in ONE
 * process (docs/cli.md).  This is the single-machine deployment: with the
 * embedded SQLite queue (queue.backend = "sqlite", the default) nothing
 * else has to run; with "kafka" it is one planner plus one worker member
 * of the consumer group.
 *
 *   rostersync run -c FILE [-X key=value]... [--once] [--force-removals]
 *                  [--until-idle SECONDS]
 *
 * Without --once the planner cycles every planner.interval while the
 * worker pool consumes continuously.  With --once the planner runs one
 * cycle, then the pool runs until the queue has been idle for
 * --until-idle seconds (default 3) and the command exits.
 *
 * SIGTERM/SIGINT: the planner stops between cycles (a running cycle
 * finishes: its jobs are published or not, never half), the pool drains as
 * rs_worker_run() does (stop polling, finish or release in-flight jobs,
 * commit), exit 0.  A second signal exits at once (130).
 *
 * Exit codes: 0 ok, 1 runtime failure (a cycle failed, the queue failed),
 * 2 bad usage or configuration.
 */
#include "rs/rs_base.h"
#include "rs_cli.h"
#include "rs_cli_task.h"

#include "rs/rs_http.h"
#include "rs/rs_log.h"
#include "rs/rs_metrics.h"
#include "rs_planner.h"
#include "rs_worker.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *fp) {
	fprintf(fp,
		"usage: rostersync run -c FILE [-X key=value]... [--once]\n"
		"                      [--force-removals] [--until-idle "
		"SECONDS]\n"
		"The planner and the worker pool in one process, on the "
		"queue.backend\nof the configuration (sqlite unless it says "
		"kafka).\n"
		"  -c, --config FILE     main configuration file (or "
		"$ROSTERSYNC_CONFIG)\n"
		"  -X key=value          override a configuration key "
		"(repeatable)\n"
		"      --once            one planner cycle, then the workers "
		"until idle\n"
		"      --force-removals  ignore the deletion guard\n"
		"      --until-idle N    with --once: idle seconds before "
		"exiting (default 3)\n"
		"Without --once the planner cycles every planner.interval "
		"until SIGTERM/SIGINT.\n"
		"Exit: 0 ok, 1 runtime failure, 2 usage or configuration.\n");
}

typedef struct worker_arg_s {
	rs_worker_t *w;
	int64_t idle_ms;
} worker_arg_t;

static rs_err_t worker_task(void *opaque) {
	worker_arg_t *a = opaque;

	return rs_worker_run(a->w, a->idle_ms);
}

/* Waits for the worker task, forwarding a stop request; sleeps in short
 * steps so a signal is acted on within 100 ms. */
static rs_err_t worker_wait(rs_cli_task_t *t, rs_worker_t *w,
			    volatile sig_atomic_t *stop) {
	bool stopped = false;

	while (!rs_cli_task_done(t)) {
		if (*stop && !stopped) {
			rs_worker_stop(w);
			stopped = true;
		}
		rs_sleep_ms(100);
	}
	return rs_cli_task_join(t);
}

/* One cycle: summary line, metrics, exit code of the cycle. */
static int cycle(rs_planner_t *p, rs_planner_metrics_t *pm) {
	rs_planner_summary_t sum;
	int rc = rs_planner_cycle(p, &sum) == RS_OK ? RS_CLI_EXIT_OK
						    : RS_CLI_EXIT_FAIL;

	rs_planner_metrics_cycle(pm, &sum, rc == RS_CLI_EXIT_OK);
	rs_planner_summary_print(&sum, stdout);
	fflush(stdout);
	return rc;
}

int rs_cli_cmd_run(int argc, char **argv) {
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"once", no_argument, NULL, 'o'},
		{"force-removals", no_argument, NULL, 'f'},
		{"until-idle", required_argument, NULL, 'I'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	rs_cli_confopts_t co;
	rs_planner_opts_t opts;
	rs_conf_t *conf = NULL;
	rs_planner_t *p = NULL;
	rs_worker_t *w = NULL;
	rs_planner_metrics_t *pm = NULL;
	rs_cli_task_t task;
	worker_arg_t wa;
	volatile sig_atomic_t *stop = NULL;
	bool once = false, http = false, task_running = false;
	int64_t idle_ms = 3000;
	char errstr[1024], *end;
	int c, rc = RS_CLI_EXIT_USAGE, prc = RS_CLI_EXIT_OK;
	long v;

	memset(&co, 0, sizeof(co));
	memset(&opts, 0, sizeof(opts));
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:X:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			co.file = optarg;
			break;
		case 'X':
			if (rs_cli_confopts_add(&co, optarg, stderr) != RS_OK)
				return RS_CLI_EXIT_USAGE;
			break;
		case 'o':
			once = true;
			break;
		case 'f':
			opts.force_removals = true;
			break;
		case 'I':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || v <= 0 ||
			    v > 86400) {
				fprintf(stderr, "rostersync run: --until-idle: "
						"1..86400 seconds\n");
				return RS_CLI_EXIT_USAGE;
			}
			idle_ms = (int64_t)v * 1000;
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
	/* The whole configuration is checked before anything starts. */
	conf = rs_cli_conf_load(&co, "rostersync run", stderr);
	if (!conf)
		return RS_CLI_EXIT_USAGE;

	rc = RS_CLI_EXIT_FAIL;
	if (rs_http_global_init() != RS_OK) {
		fprintf(stderr, "rostersync run: curl init failed\n");
		goto out;
	}
	http = true;
	/* The worker first: on SQLite it takes the group's lease, and a
	 * second `run` on the same queue file fails here, before planning. */
	w = rs_worker_new(conf, errstr, sizeof(errstr));
	if (!w) {
		fprintf(stderr, "rostersync run: worker: %s\n", errstr);
		goto out;
	}
	p = rs_planner_new(conf, &opts, errstr, sizeof(errstr));
	if (!p) {
		fprintf(stderr, "rostersync run: planner: %s\n", errstr);
		goto out;
	}
	if (rs_conf_global(conf)->planner.metrics_listen &&
	    *rs_conf_global(conf)->planner.metrics_listen) {
		pm = rs_planner_metrics_new(
			rs_conf_global(conf)->planner.metrics_listen, errstr,
			sizeof(errstr));
		if (!pm) {
			fprintf(stderr, "rostersync run: planner metrics: %s\n",
				errstr);
			goto out;
		}
	}
	rs_cli_signals_install(&stop);
	wa.w = w;

	if (once) {
		/* Publish first, then consume: a pool started alongside
		 * could count the planning time as idleness and leave. */
		prc = cycle(p, pm);
		if (*stop) {
			/* Stopped during the cycle: what was published
			 * waits in the queue for the next run. */
			rc = prc;
			goto out;
		}
		wa.idle_ms = idle_ms;
		if (rs_cli_task_start(&task, worker_task, &wa) != RS_OK) {
			fprintf(stderr, "rostersync run: cannot start the "
					"worker thread\n");
			goto out;
		}
		if (worker_wait(&task, w, stop) != RS_OK) {
			fprintf(stderr, "rostersync run: worker failed\n");
			goto out;
		}
		rc = prc;
		goto out;
	}

	/* Loop mode: the pool consumes all along; cycles publish into it. */
	wa.idle_ms = 0;
	if (rs_cli_task_start(&task, worker_task, &wa) != RS_OK) {
		fprintf(stderr, "rostersync run: cannot start the worker "
				"thread\n");
		goto out;
	}
	task_running = true;
	for (;;) {
		int64_t next;

		/* The exit code reports the last cycle, as the planner's. */
		prc = cycle(p, pm);
		next = rs_now_ms() + rs_conf_global(conf)->planner.interval_ms;
		while (!*stop && !rs_cli_task_done(&task) && rs_now_ms() < next)
			rs_sleep_ms(RS_MIN(100, next - rs_now_ms()));
		if (*stop || rs_cli_task_done(&task))
			break;
	}
	/* The pool ending on its own is a failure (a fatal queue error):
	 * nothing would apply the next cycles' jobs. */
	if (rs_cli_task_done(&task) && !*stop) {
		rs_cli_task_join(&task);
		task_running = false;
		fprintf(stderr, "rostersync run: the worker pool stopped\n");
		goto out;
	}
	rs_worker_stop(w);
	task_running = false;
	if (worker_wait(&task, w, stop) != RS_OK) {
		fprintf(stderr, "rostersync run: worker failed\n");
		goto out;
	}
	rc = prc;
out:
	if (task_running) {
		rs_worker_stop(w);
		rs_cli_task_join(&task);
	}
	rs_planner_metrics_destroy(pm);
	rs_planner_destroy(p);
	rs_worker_destroy(w);
	if (http)
		rs_http_global_cleanup();
	rs_conf_destroy(conf);
	return rc;
}
