/* cmd_demo.c - `rostersync demo` (being written). */
#include "rs/rs_base.h"
#include "rs_cli.h"

int rs_cli_cmd_demo(int argc, char **argv) {
	(void)argc;
	(void)argv;
	fprintf(stderr, "rostersync demo: not yet\n");
	return RS_CLI_EXIT_FAIL;
}
