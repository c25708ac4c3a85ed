/*
 * rs_cli_report.h - the sync report of `rostersync demo` (and any caller
 * that has a planner's plan.json before and after a sync): a per-tenant
 * summary table for the terminal and ONE self-contained HTML file (inline
 * CSS, an inline SVG chart, no script, no external reference).
 *
 * Everything that comes from the APIs (tenant ids, queue names, e-mails,
 * error notes) is untrusted and is HTML-escaped on output.  Everything is
 * bounded: samples are thinned when full, long lists are cut with an
 * "N more" line, and the document has a maximum size (RS_ERR_TOO_LARGE).
 */
#ifndef RS_CLI_REPORT_H
#define RS_CLI_REPORT_H

#include "rs/rs_base.h"
#include "rs/rs_err.h"

#include <stdio.h>

/** Most samples kept by default (at 250 ms: about 17 minutes at full
 * resolution; beyond that every other sample is dropped, so a longer run
 * keeps its whole span at half the resolution). */
#define RS_CLI_REPORT_MAX_SAMPLES 4096
/** Most rows of one detail list (held-back removals, unresolved users,
 * groups) in the HTML; the rest is counted in an "N more" row. */
#define RS_CLI_REPORT_MAX_ROWS 500
/** Largest HTML document. */
#define RS_CLI_REPORT_MAX_HTML (32u * 1024 * 1024)
/** Most syncs, markers and meta rows in one report. */
#define RS_CLI_REPORT_MAX_SYNCS 16
#define RS_CLI_REPORT_MAX_MARKS 32
#define RS_CLI_REPORT_MAX_META 32

typedef struct rs_cli_report_s rs_cli_report_t;

/** Per-tenant totals of one sync (plain value struct). */
typedef struct rs_cli_report_tenant_s {
	const char *tenant;    /**< borrowed from the report */
	size_t groups;         /**< mapped groups planned */
	size_t before;         /**< user members before the sync */
	size_t after;          /**< user members after (SIZE_MAX: unknown) */
	size_t adds;           /**< members added */
	size_t removes;        /**< members removed (forced ones included) */
	size_t held_back;      /**< removals the deletion guard held back */
	size_t unresolved;     /**< e-mails Entra does not know */
	size_t errors;         /**< tenant + group failures + dead-lettered
				*   jobs */
	size_t left;           /**< changes still planned after the sync
				*   (adds + removes + held; SIZE_MAX: unknown) */
} rs_cli_report_tenant_t;

/**
 * @brief Creates an empty report.
 * @param title shown as the page title (copied, escaped on output).
 * @param max_samples most chart samples kept (0 = the default).
 */
rs_cli_report_t *rs_cli_report_new(const char *title, size_t max_samples);

/** @brief Frees the report.  Accepts NULL. */
void rs_cli_report_destroy(rs_cli_report_t *r);

/**
 * @brief Adds one "key: value" row to the header table (copied).
 * @returns RS_OK or RS_ERR_TOO_LARGE past RS_CLI_REPORT_MAX_META rows.
 */
rs_err_t rs_cli_report_meta(rs_cli_report_t *r, const char *key,
			    const char *value);

/**
 * @brief Records one sample of the running counters (cumulative since the
 *        start of the run).  Samples must come in time order.  When the
 *        report holds max_samples, every other sample is dropped first, so
 *        memory stays bounded and the chart keeps the whole run.
 * @param t_ms ms since the start of the run.
 */
void rs_cli_report_sample(rs_cli_report_t *r, int64_t t_ms, uint64_t changes,
			  uint64_t api_calls, uint64_t throttled);

/** @returns the number of samples held now. */
size_t rs_cli_report_sample_count(const rs_cli_report_t *r);

/**
 * @brief Marks a phase start on the chart ("sync 1", "churn").
 * @returns RS_OK or RS_ERR_TOO_LARGE past RS_CLI_REPORT_MAX_MARKS.
 */
rs_err_t rs_cli_report_mark(rs_cli_report_t *r, int64_t t_ms,
			    const char *label);

/**
 * @brief Adds one sync: the planner's plan.json (dry run, deletion guard
 *        on) taken just before it, and the plan.json of the check taken
 *        just after it (NULL if none).
 * @param forced the sync applied the removals the guard held back (the
 *        demo's --force-removals): they count as removes, and still show
 *        in held_back and in the held-back list.
 * @returns RS_OK, RS_ERR_PARSE (errstr filled) or RS_ERR_TOO_LARGE.
 */
rs_err_t rs_cli_report_add_sync(rs_cli_report_t *r, const char *name,
				const char *plan_json, const char *after_json,
				bool forced, char *errstr, size_t errstr_size);

/**
 * @brief Records that @p jobs jobs of @p tenant were dead-lettered during
 *        sync @p idx (counted under the tenant's errors and listed in the
 *        errors table).  Repeated calls for one tenant add up.
 * @returns RS_OK, RS_ERR_NOT_FOUND (no such sync) or RS_ERR_TOO_LARGE
 *          (more than RS_CLI_REPORT_MAX_ROWS tenants).
 */
rs_err_t rs_cli_report_dlq(rs_cli_report_t *r, size_t idx, const char *tenant,
			   size_t jobs);

/**
 * @brief Per-tenant totals of sync @p idx (0-based, in the order added).
 * @param rows receives an array to rs_free() (strings borrowed from r).
 * @returns the number of rows (0 when idx is out of range).
 */
size_t rs_cli_report_tenants(const rs_cli_report_t *r, size_t idx,
			     rs_cli_report_tenant_t **rows);

/**
 * @brief Prints sync @p idx's per-tenant table with a total row (plain
 *        text, fixed-width columns).
 */
void rs_cli_report_table_print(const rs_cli_report_t *r, size_t idx,
			       FILE *fp);

/**
 * @brief Renders the chart alone as an SVG element (width x height px):
 *        changes applied, API calls and 429 answers over time, and the
 *        phase markers.  0 samples give the axes and a "no samples" note,
 *        1 sample a dot per series.
 * @returns a NUL-terminated string to rs_free() (NULL past the size cap).
 */
char *rs_cli_report_svg(const rs_cli_report_t *r, int width, int height);

/**
 * @brief Renders the whole HTML document.
 * @param len receives its length (may be NULL).
 * @returns a string to rs_free(), or NULL when it would exceed
 *          RS_CLI_REPORT_MAX_HTML.
 */
char *rs_cli_report_html(const rs_cli_report_t *r, size_t *len);

/**
 * @brief Writes the HTML document to @p path (a temporary name, then
 *        rename, so a reader never sees half a report).
 * @returns RS_OK, RS_ERR_TOO_LARGE or RS_ERR_IO with errstr filled.
 */
rs_err_t rs_cli_report_write(const rs_cli_report_t *r, const char *path,
			     char *errstr, size_t errstr_size);

/**
 * @brief HTML-escapes @p s for text and attribute values: & < > " ' become
 *        entities; control characters other than tab and newline become
 *        '?'.
 * @returns a new string to rs_free().
 */
char *rs_cli_html_escape(const char *s);

#endif /* RS_CLI_REPORT_H */
