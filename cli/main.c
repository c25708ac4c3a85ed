/*
 * main.c - `rostersync`, the operator command (docs/cli.md).
 *
 *   rostersync <command> [options]      e.g. rostersync dlq list -c FILE
 *
 * Commands are rows of a table; each lives in cli/cmd_<name>.c.
 * Exit codes: 0 success, 1 runtime failure, 2 bad usage or configuration.
 */
#include "rs/rs_base.h"
#include "rs_cli.h"

#include <string.h>

/* The subcommand table: `run` and `demo` get one row each when their
 * cmd_<name>.c exists. */
static const rs_cli_cmd_t commands[] = {
	{"dlq", rs_cli_cmd_dlq,
	 "list, show, replay or purge dead-lettered jobs"},
	{"run", rs_cli_cmd_run,
	 "planner and worker pool in one process (sqlite or kafka)"},
	{"demo", rs_cli_cmd_demo,
	 "full sync of a simulated MSP, churn, resync, HTML report"},
};

const rs_cli_cmd_t *rs_cli_commands(size_t *cnt) {
	*cnt = RS_ARRAY_SIZE(commands);
	return commands;
}

static void usage(FILE *fp) {
	size_t n, i;
	const rs_cli_cmd_t *cmds = rs_cli_commands(&n);

	fprintf(fp, "usage: rostersync <command> [options]   "
		    "(rostersync <command> --help)\ncommands:\n");
	for (i = 0; i < n; i++)
		fprintf(fp, "  %-8s %s\n", cmds[i].name, cmds[i].summary);
}

int main(int argc, char **argv) {
	size_t n, i;
	const rs_cli_cmd_t *cmds = rs_cli_commands(&n);

	if (argc < 2) {
		usage(stderr);
		return RS_CLI_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		return RS_CLI_EXIT_OK;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("rostersync %s\n", RS_VERSION_STR);
		return RS_CLI_EXIT_OK;
	}
	for (i = 0; i < n; i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "rostersync: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return RS_CLI_EXIT_USAGE;
}
