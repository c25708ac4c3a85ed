/*
 * main.c - rostersync-planner: command line around rs_planner_cycle().
 *
 * Exit codes: 0 success, 1 runtime failure (a tenant failed, a job was not
 * delivered, a report could not be written; without --once: in the last
 * cycle before SIGTERM/SIGINT), 2 bad usage or configuration.
 */
#include "rs/rs_base.h"
#include "rs_planner.h"

#include "rs/rs_http.h"
#include "rs/rs_log.h"
#include "rs/rs_metrics.h"

#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define MAX_OVERRIDES 256
#define ERRSTR_SIZE 65536

/* The one piece of process state: a signal handler can only reach a
 * global, and sig_atomic_t is all it may write. */
static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
	(void)sig;
	stop_requested = 1;
}

static void usage(FILE *fp) {
	fprintf(fp,
		"usage: rostersync-planner -c FILE [--once] [--dry-run] "
		"[--report DIR]\n"
		"                          [--force-removals] [-X key=value]...\n"
		"  -c, --config FILE     main configuration file\n"
		"      --once            run one cycle and exit\n"
		"      --dry-run         publish nothing; write plan.json and "
		"plan.csv\n"
		"      --report DIR      report directory (default "
		"planner.report_dir)\n"
		"      --force-removals  ignore the deletion guard\n"
		"  -X key=value          override a configuration key\n"
		"  -h, --help            this help\n");
}

int main(int argc, char **argv) {
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"once", no_argument, NULL, 'o'},
		{"dry-run", no_argument, NULL, 'n'},
		{"report", required_argument, NULL, 'r'},
		{"force-removals", no_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *overrides[MAX_OVERRIDES], *cfile = NULL;
	size_t n_over = 0;
	bool once = false;
	rs_planner_opts_t opts;
	rs_planner_summary_t sum;
	rs_planner_t *p = NULL;
	rs_conf_t *conf = NULL;
	struct sigaction sa;
	rs_planner_metrics_t *pm = NULL;
	char *errstr;
	int c, rc = 2;

	memset(&opts, 0, sizeof(opts));
	errstr = rs_calloc(1, ERRSTR_SIZE);
	while ((c = getopt_long(argc, argv, "c:X:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			cfile = optarg;
			break;
		case 'o':
			once = true;
			break;
		case 'n':
			opts.dry_run = true;
			break;
		case 'r':
			opts.report_dir = optarg;
			break;
		case 'f':
			opts.force_removals = true;
			break;
		case 'X':
			if (n_over >= MAX_OVERRIDES || !strchr(optarg, '=')) {
				fprintf(stderr,
					"rostersync-planner: -X needs key=value "
					"(at most %d)\n",
					MAX_OVERRIDES);
				goto out;
			}
			overrides[n_over++] = optarg;
			break;
		case 'h':
			usage(stdout);
			rc = 0;
			goto out;
		default:
			usage(stderr);
			goto out;
		}
	}
	if (!cfile || optind != argc) {
		usage(stderr);
		goto out;
	}
	/* Everything is validated before anything runs (exit 2). */
	conf = rs_conf_load(cfile, overrides, n_over, errstr, ERRSTR_SIZE);
	if (!conf) {
		fprintf(stderr, "%s\n", errstr);
		goto out;
	}
	rs_conf_apply_log(conf);
	if (rs_http_global_init() != RS_OK) {
		fprintf(stderr, "rostersync-planner: curl init failed\n");
		rc = 1;
		goto out;
	}
	p = rs_planner_new(conf, &opts, errstr, ERRSTR_SIZE);
	if (!p) {
		fprintf(stderr, "rostersync-planner: %s\n", errstr);
		rc = 1;
		goto out;
	}

	if (rs_conf_global(conf)->planner.metrics_listen &&
	    *rs_conf_global(conf)->planner.metrics_listen) {
		pm = rs_planner_metrics_new(
			rs_conf_global(conf)->planner.metrics_listen, errstr,
			ERRSTR_SIZE);
		if (!pm) {
			fprintf(stderr, "rostersync-planner: metrics: %s\n",
				errstr);
			rc = 1;
			goto out;
		}
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	rc = 0;
	for (;;) {
		int64_t next;
		/* The exit code reports the last cycle: a long-running planner
		 * stopped by SIGTERM after a good cycle exits 0. */
		rc = rs_planner_cycle(p, &sum) == RS_OK ? 0 : 1;
		rs_planner_metrics_cycle(pm, &sum, rc == 0);
		rs_planner_summary_print(&sum, stdout);
		if (once || stop_requested)
			break;
		/* Short sleeps so SIGTERM ends the wait promptly. */
		next = rs_now_ms() + rs_conf_global(conf)->planner.interval_ms;
		while (!stop_requested && rs_now_ms() < next)
			rs_sleep_ms(RS_MIN(200, next - rs_now_ms()));
		if (stop_requested)
			break;
	}
out:
	rs_planner_metrics_destroy(pm);
	rs_planner_destroy(p);
	rs_conf_destroy(conf);
	rs_free(errstr);
	return rc;
}
