/*
 * cmd_dlq.c - `rostersync dlq list|show|replay|purge`: the command line
 * around the engine in cli_dlq.c (docs/cli.md).
 *
 * Everything is checked before anything is read or written: a bad option,
 * time or configuration exits 2 without touching the queue.
 */
#include "rs/rs_base.h"
#include "rs_cli.h"
#include "rs_cli_dlq.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Which options an action accepts (bit mask).  An option an action does
 * not use is refused rather than ignored: `dlq list --yes` or
 * `dlq show --tenant t1` means the operator expects something that will
 * not happen. */
#define O_FILTER 0x01
#define O_JSON 0x02
#define O_ALL 0x04
#define O_DRY 0x08
#define O_RATE 0x10
#define O_FORCE 0x20
#define O_YES 0x40

static const struct {
	const char *name;
	int allowed;
} actions[] = {
	{"list", O_FILTER | O_JSON | O_ALL},
	{"show", 0},
	{"replay", O_FILTER | O_DRY | O_RATE | O_FORCE},
	{"purge", O_FILTER | O_ALL | O_DRY | O_YES},
};

static void usage(FILE *fp) {
	fprintf(fp,
		"usage: rostersync dlq list   [FILTERS] [--all] [--json]\n"
		"       rostersync dlq show   ID\n"
		"       rostersync dlq replay [FILTERS] [--dry-run] [--rate N] "
		"[--force]\n"
		"       rostersync dlq purge  [FILTERS] [--all] [--dry-run] "
		"--yes\n"
		"common: -c FILE (or $ROSTERSYNC_CONFIG), -X key=value "
		"(repeatable)\n"
		"FILTERS: --tenant T  --kind K  --status HTTP_STATUS  "
		"--error TEXT\n"
		"         --since TIME  --until TIME   (RFC 3339, a date, or "
		"30m / 2h / 7d ago)\n"
		"  --all       include replayed and purged entries\n"
		"  --json      list as a JSON array\n"
		"  --dry-run   show what would be done, write nothing\n"
		"  --rate N    replay at most N jobs per second\n"
		"  --force     replay also jobs a newer generation superseded\n"
		"  --yes       really purge\n"
		"ID is <partition>-<offset> of the DLQ record, as listed.\n"
		"Exit: 0 ok, 1 failure (broker, not found, interrupted), "
		"2 usage/config or purge without --yes.\n");
}

/* Parses --status: an HTTP status (0 = entries with no HTTP status).
 * strtol with end and range checks: atoi would turn "4o4" into 4. */
static bool parse_status(const char *s, int *v) {
	char *end;
	long n;

	errno = 0;
	n = strtol(s, &end, 10);
	if (errno || end == s || *end || n < 0 || n > 999)
		return false;
	*v = (int)n;
	return true;
}

static bool parse_rate(const char *s, double *v) {
	char *end;
	double d;

	errno = 0;
	d = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(d) || d <= 0 || d > 1e6)
		return false;
	*v = d;
	return true;
}

int rs_cli_cmd_dlq(int argc, char **argv) {
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"tenant", required_argument, NULL, 't'},
		{"kind", required_argument, NULL, 'k'},
		{"status", required_argument, NULL, 's'},
		{"error", required_argument, NULL, 'e'},
		{"since", required_argument, NULL, 'S'},
		{"until", required_argument, NULL, 'U'},
		{"all", no_argument, NULL, 'a'},
		{"json", no_argument, NULL, 'j'},
		{"dry-run", no_argument, NULL, 'n'},
		{"rate", required_argument, NULL, 'r'},
		{"force", no_argument, NULL, 'f'},
		{"yes", no_argument, NULL, 'y'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	rs_cli_dlq_filter_t f;
	rs_cli_dlq_opts_t o;
	rs_cli_dlq_result_t res;
	rs_cli_dlq_io_t io;
	rs_cli_confopts_t co;
	rs_conf_t *conf = NULL;
	const char *action, *show_id = NULL, *opt_name;
	double rate = 0;
	bool json = false, dry = false, force = false, yes = false;
	char errstr[1024];
	int64_t now = rs_wall_ms();
	int c, used = 0, allowed = -1, rc = RS_CLI_EXIT_USAGE;
	size_t i;

	memset(&co, 0, sizeof(co));
	memset(&io, 0, sizeof(io));
	rs_cli_dlq_filter_init(&f);
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? RS_CLI_EXIT_USAGE : RS_CLI_EXIT_OK;
	}
	action = argv[1];
	for (i = 0; i < RS_ARRAY_SIZE(actions); i++)
		if (!strcmp(actions[i].name, action))
			allowed = actions[i].allowed;
	if (allowed < 0) {
		fprintf(stderr, "rostersync dlq: unknown action '%s'\n",
			action);
		usage(stderr);
		return RS_CLI_EXIT_USAGE;
	}
	/* getopt over "ACTION [options] [args]": argv[0] is the action.
	 * optind is reset because main() could have used getopt before
	 * (a future global option), and GNU getopt permutes, so options
	 * may follow the ID of `show`. */
	argc--;
	argv++;
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
		case 't':
			f.tenant = optarg;
			used |= O_FILTER;
			break;
		case 'k':
			f.kind = optarg;
			used |= O_FILTER;
			break;
		case 'e':
			f.error = optarg;
			used |= O_FILTER;
			break;
		case 's':
			used |= O_FILTER;
			if (!parse_status(optarg, &f.status)) {
				fprintf(stderr, "rostersync dlq: --status: an "
						"HTTP status 0..999\n");
				return RS_CLI_EXIT_USAGE;
			}
			break;
		case 'S':
		case 'U':
			used |= O_FILTER;
			if (rs_cli_time_parse(optarg, now,
					      c == 'S' ? &f.since : &f.until) !=
			    RS_OK) {
				fprintf(stderr,
					"rostersync dlq: --%s '%s': not a time "
					"(RFC 3339 like 2026-11-23T17:00:00Z, "
					"a date, or an age like 30m, 2h, "
					"7d)\n",
					c == 'S' ? "since" : "until", optarg);
				return RS_CLI_EXIT_USAGE;
			}
			break;
		case 'a':
			f.all = true;
			used |= O_ALL;
			break;
		case 'j':
			json = true;
			used |= O_JSON;
			break;
		case 'n':
			dry = true;
			used |= O_DRY;
			break;
		case 'r':
			used |= O_RATE;
			if (!parse_rate(optarg, &rate)) {
				fprintf(stderr, "rostersync dlq: --rate: jobs "
						"per second, > 0\n");
				return RS_CLI_EXIT_USAGE;
			}
			break;
		case 'f':
			force = true;
			used |= O_FORCE;
			break;
		case 'y':
			yes = true;
			used |= O_YES;
			break;
		case 'h':
			usage(stdout);
			return RS_CLI_EXIT_OK;
		default:
			usage(stderr);
			return RS_CLI_EXIT_USAGE;
		}
	}
	if (used & ~allowed) {
		/* Name the first option this action does not take. */
		opt_name = (used & ~allowed & O_FILTER) ? "filters"
			   : (used & ~allowed & O_JSON) ? "--json"
			   : (used & ~allowed & O_ALL)	? "--all"
			   : (used & ~allowed & O_DRY)	? "--dry-run"
			   : (used & ~allowed & O_RATE) ? "--rate"
			   : (used & ~allowed & O_FORCE) ? "--force"
							 : "--yes";
		fprintf(stderr, "rostersync dlq %s: %s not accepted here\n",
			action, opt_name);
		return RS_CLI_EXIT_USAGE;
	}
	if (!strcmp(action, "show")) {
		if (optind + 1 != argc) {
			fprintf(stderr, "rostersync dlq show: one ID needed\n");
			return RS_CLI_EXIT_USAGE;
		}
		show_id = argv[optind];
	} else if (optind != argc) {
		fprintf(stderr, "rostersync dlq %s: unexpected argument '%s'\n",
			action, argv[optind]);
		return RS_CLI_EXIT_USAGE;
	}
	/* An empty window is always a mistake (swapped arguments). */
	if (f.since && f.until && f.since >= f.until) {
		fprintf(stderr, "rostersync dlq: --since is not before "
				"--until\n");
		return RS_CLI_EXIT_USAGE;
	}
	/* Configuration errors are usage errors (exit 2): an operator fixes
	 * the file; retrying would not help. */
	conf = rs_cli_conf_load(&co, "rostersync dlq", stderr);
	if (!conf)
		return RS_CLI_EXIT_USAGE;
	if (rs_cli_dlq_io_open(conf, &io, errstr, sizeof(errstr)) != RS_OK) {
		fprintf(stderr, "rostersync dlq: %s\n", errstr);
		rc = RS_CLI_EXIT_FAIL;
		goto out;
	}
	rs_cli_dlq_opts_init(&o, conf);
	o.filter = f;
	o.json = json;
	o.dry_run = dry;
	o.force = force;
	o.yes = yes;
	o.rate = rate;
	/* Handlers only now: a signal during option parsing or connection
	 * set-up keeps its default action, as nothing is half-done yet. */
	rs_cli_signals_install(&o.stop);
	if (!strcmp(action, "list"))
		rc = rs_cli_dlq_list(&io, &o, &res);
	else if (!strcmp(action, "show"))
		rc = rs_cli_dlq_show(&io, &o, show_id);
	else if (!strcmp(action, "replay"))
		rc = rs_cli_dlq_replay(&io, &o, &res);
	else
		rc = rs_cli_dlq_purge(&io, &o, &res);
out:
	rs_cli_dlq_io_close(&io);
	rs_conf_destroy(conf);
	return rc;
}
