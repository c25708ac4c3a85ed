/*
 * rostersync-worker: consumes change jobs and applies them (docs/worker.md).
 *
 *   rostersync-worker -c FILE [--until-idle SECONDS] [-X key=value]...
 *
 * Exit codes: 0 success, 1 runtime failure, 2 bad usage or configuration.
 */
#include "rs/rs_base.h"
#include "rs/rs_conf.h"
#include "rs/rs_http.h"
#include "rs/rs_log.h"
#include "rs_worker.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <string.h>

#define MAX_OVERRIDES 256

/* The signal handler needs the worker; set once before handlers install. */
static rs_worker_t *volatile sig_worker;

static void on_signal(int sig) {
	(void)sig;
	if (sig_worker)
		rs_worker_stop(sig_worker);
}

static void usage(FILE *fp) {
	fprintf(fp, "Usage: rostersync-worker -c FILE [--until-idle SECONDS] "
		    "[-X key=value]...\n"
		    "  -c, --config FILE      main configuration file\n"
		    "  -X key=value           override a setting (repeatable)\n"
		    "      --until-idle N     exit 0 once idle for N seconds\n"
		    "  -h, --help             this text\n");
}

int main(int argc, char **argv) {
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"until-idle", required_argument, NULL, 'I'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	const char *overrides[MAX_OVERRIDES], *cfile = NULL;
	size_t n_over = 0;
	int64_t until_idle_ms = 0;
	rs_conf_t *conf = NULL;
	rs_worker_t *w = NULL;
	char errstr[1024], *end;
	struct sigaction sa;
	int c, rc = 2;
	long v;

	while ((c = getopt_long(argc, argv, "c:X:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			cfile = optarg;
			break;
		case 'X':
			if (n_over >= MAX_OVERRIDES) {
				fprintf(stderr, "too many -X overrides\n");
				return 2;
			}
			overrides[n_over++] = optarg;
			break;
		case 'I':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || *end || v <= 0 || v > 86400) {
				fprintf(stderr, "--until-idle: 1..86400 seconds\n");
				return 2;
			}
			until_idle_ms = (int64_t)v * 1000;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!cfile || optind != argc) {
		usage(stderr);
		return 2;
	}
	/* Config problems are usage errors (exit 2): an operator fixes the
	 * file, a restart loop would not help. */
	conf = rs_conf_load(cfile, overrides, n_over, errstr, sizeof(errstr));
	if (!conf) {
		fprintf(stderr, "rostersync-worker: %s\n", errstr);
		return 2;
	}
	rs_conf_apply_log(conf);
	if (rs_http_global_init() != RS_OK) {
		fprintf(stderr, "rostersync-worker: curl init failed\n");
		rc = 1;
		goto out;
	}
	w = rs_worker_new(conf, errstr, sizeof(errstr));
	if (!w) {
		fprintf(stderr, "rostersync-worker: %s\n", errstr);
		rc = 1;
		goto out_http;
	}
	/* Handlers only after the worker exists: a signal before that
	 * keeps its default action (there is nothing to drain yet). */
	sig_worker = w;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	/* A peer closing a connection must be an error return, not death. */
	signal(SIGPIPE, SIG_IGN);
	/* A signal ends run() normally: clean shutdown is exit 0. */
	rc = rs_worker_run(w, until_idle_ms) == RS_OK ? 0 : 1;
	sig_worker = NULL;
	rs_worker_destroy(w);
out_http:
	rs_http_global_cleanup();
out:
	rs_conf_destroy(conf);
	return rc;
}
