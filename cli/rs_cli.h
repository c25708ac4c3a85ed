/*
 * rs_cli.h - the `rostersync` operator command: subcommand table and the
 * helpers every subcommand shares (configuration, times, exit codes).
 *
 * Each subcommand lives in cli/cmd_<name>.c and exports one entry point
 * rs_cli_cmd_<name>(argc, argv) with argv[0] = "<name>"; main.c only
 * dispatches through the table (rs_cli_commands()), so adding `run` or
 * `demo` is one file plus one row.
 */
#ifndef RS_CLI_H
#define RS_CLI_H

#include "rs/rs_base.h"
#include "rs/rs_conf.h"
#include "rs/rs_err.h"

#include <signal.h>

/** Exit codes, the same for every rostersync program. */
#define RS_CLI_EXIT_OK 0    /**< success */
#define RS_CLI_EXIT_FAIL 1  /**< runtime failure (broker, I/O, not found) */
#define RS_CLI_EXIT_USAGE 2 /**< bad usage or configuration; refused */

/** Most -X overrides on one command line. */
#define RS_CLI_MAX_OVERRIDES 256

/** A subcommand: argv[0] is its name. @returns an RS_CLI_EXIT_* code. */
typedef int(rs_cli_cmd_fn_t)(int argc, char **argv);

/** One row of the subcommand table (static, read-only). */
typedef struct rs_cli_cmd_s {
	const char *name;    /**< "dlq" */
	rs_cli_cmd_fn_t *fn; /**< entry point */
	const char *summary; /**< one line for `rostersync --help` */
} rs_cli_cmd_t;

/**
 * @brief The subcommand table.
 * @param cnt receives the number of rows.
 */
const rs_cli_cmd_t *rs_cli_commands(size_t *cnt);

/** `rostersync dlq ...` (cli/cmd_dlq.c). */
int rs_cli_cmd_dlq(int argc, char **argv);
/** `rostersync run ...` (cli/cmd_run.c). */
int rs_cli_cmd_run(int argc, char **argv);
/** `rostersync demo ...` (cli/cmd_demo.c). */
int rs_cli_cmd_demo(int argc, char **argv);

/**
 * The options every subcommand takes: -c FILE and -X key=value.  Plain
 * value struct; the strings are borrowed from argv.
 */
typedef struct rs_cli_confopts_s {
	const char *file;
	const char *overrides[RS_CLI_MAX_OVERRIDES];
	size_t n_overrides;
} rs_cli_confopts_t;

/**
 * @brief Records one -X argument.
 * @returns RS_OK, RS_ERR_INVALID_ARG (no '=') or RS_ERR_TOO_LARGE, with a
 *          message on @p err.
 */
rs_err_t rs_cli_confopts_add(rs_cli_confopts_t *co, const char *kv,
			     FILE *err);

/**
 * @brief Loads the configuration (-c, or $ROSTERSYNC_CONFIG when -c was
 *        not given) with the overrides and applies its log settings.
 * @returns the configuration, or NULL after printing every error to
 *          @p err (the caller exits RS_CLI_EXIT_USAGE).
 */
rs_conf_t *rs_cli_conf_load(rs_cli_confopts_t *co, const char *prog,
			    FILE *err);

/**
 * @brief Parses a point in time: RFC 3339 ("2026-11-23T17:00:00Z",
 *        "2026-11-23T18:00:00.5+01:00", a space instead of 'T'), a date
 *        ("2026-11-23", midnight UTC), "now", or a duration before
 *        @p now_ms ("30s", "30m", "2h", "7d", "1w").
 * @param out_ms receives ms since the epoch.
 * @returns RS_OK or RS_ERR_PARSE.
 */
rs_err_t rs_cli_time_parse(const char *s, int64_t now_ms, int64_t *out_ms);

/**
 * @brief Formats ms since the epoch as "2026-11-23T17:00:00Z" (UTC,
 *        seconds); "-" for 0.
 */
void rs_cli_time_fmt(int64_t ms, char *buf, size_t size);

/**
 * @brief Installs SIGINT/SIGTERM handlers: the first signal sets *flag
 *        (the command finishes its current step and stops cleanly), a
 *        second one exits at once with status 130.
 * @remark One flag per process: the handler can only reach a global.
 */
void rs_cli_signals_install(volatile sig_atomic_t **flag);

#endif /* RS_CLI_H */
