/*
 * cli_dlq_out.c - how DLQ entries are shown: the `dlq list` table, its
 * JSON form, and the `dlq show` document.
 *
 * Every string in an entry came off a topic, so nothing reaches the
 * terminal unsanitised: an error message holding an escape sequence must
 * not rewrite the operator's screen.  JSON output needs no such care
 * (cJSON escapes control characters).
 */
#include "rs/rs_base.h"
#include "rs_cli.h"
#include "rs_cli_dlq.h"

#include <inttypes.h>

/* Column widths of the table; the message takes what is left of a wide
 * terminal and is cut at MSG_W.  Fixed widths (not measured over all
 * rows) let the table stream: rows print as the DLQ is read.  KEY fits
 * "<tenant up to 13>/<GUID>". */
#define ID_W 10
#define STATE_W 9
#define TIME_W 20
#define TENANT_W 12
#define KIND_W 14
#define KEY_W 50
#define GEN_W 6
#define ATT_W 3
#define HTTP_W 4
#define CODE_W 26
#define MSG_W 80

/* Prints @p s left-aligned in @p w columns: sanitised, cut with '~'.
 * @p last: no padding (the final column). */
static void cell(FILE *fp, const char *s, int w, bool last) {
	char buf[256];
	size_t n;

	/* "-" for unknown keeps the column count fixed for awk/cut. */
	rs_snprintf(buf, sizeof(buf), "%s", s && *s ? s : "-");
	rs_dlq_str_sanitize(buf);
	n = strlen(buf);
	if (n > (size_t)w) {
		buf[w - 1] = '~';
		buf[w] = '\0';
	}
	if (last)
		fprintf(fp, "%s\n", buf);
	else
		fprintf(fp, "%-*s ", w, buf);
}

void rs_cli_dlq_table_header(FILE *fp) {
	fprintf(fp, "%-*s %-*s %-*s %-*s %-*s %-*s %*s %*s %*s %-*s %s\n",
		ID_W, "ID", STATE_W, "STATE", TIME_W, "TIME", TENANT_W,
		"TENANT", KIND_W, "KIND", KEY_W, "KEY", GEN_W, "GEN", ATT_W,
		"ATT", HTTP_W, "HTTP", CODE_W, "CODE", "MESSAGE");
}

void rs_cli_dlq_table_row(FILE *fp, const rs_dlq_entry_t *e,
			  rs_dlq_status_t st) {
	char t[32], gen[24], att[16], http[16];

	rs_cli_time_fmt(e->time, t, sizeof(t));
	if (e->generation >= 0)
		rs_snprintf(gen, sizeof(gen), "%" PRId64, e->generation);
	else
		rs_snprintf(gen, sizeof(gen), "-");
	rs_snprintf(att, sizeof(att), "%d", e->attempts);
	if (e->http_status)
		rs_snprintf(http, sizeof(http), "%d", e->http_status);
	else
		rs_snprintf(http, sizeof(http), "-");
	cell(fp, e->id, ID_W, false);
	cell(fp, rs_dlq_status_name(st), STATE_W, false);
	cell(fp, t, TIME_W, false);
	cell(fp, e->tenant, TENANT_W, false);
	cell(fp, e->kind, KIND_W, false);
	cell(fp, e->key, KEY_W, false);
	fprintf(fp, "%*s %*s %*s ", GEN_W, gen, ATT_W, att, HTTP_W, http);
	/* A malformed entry has no error code: say what it is instead. */
	cell(fp,
	     e->type == RS_DLQ_MALFORMED ? "(malformed)"
	     : e->type == RS_DLQ_INVALID ? "(invalid job)"
					 : e->code,
	     CODE_W, false);
	cell(fp, e->message, MSG_W, true);
}

static void add_str_or_null(cJSON *o, const char *name, const char *v) {
	if (v)
		cJSON_AddStringToObject(o, name, v);
	else
		cJSON_AddNullToObject(o, name);
}

static const char *type_name(rs_dlq_type_t t) {
	return t == RS_DLQ_JOB ? "job" : t == RS_DLQ_INVALID ? "invalid"
							     : "malformed";
}

/* Both the RFC 3339 time (for people) and ms (for scripts comparing
 * times); unknown fields are null rather than absent, so every object has
 * the same keys. */
cJSON *rs_cli_dlq_entry_json(const rs_dlq_entry_t *e, rs_dlq_status_t st) {
	cJSON *o = cJSON_CreateObject();
	char t[32];

	rs_cli_time_fmt(e->time, t, sizeof(t));
	cJSON_AddStringToObject(o, "id", e->id);
	cJSON_AddStringToObject(o, "state", rs_dlq_status_name(st));
	cJSON_AddStringToObject(o, "type", type_name(e->type));
	cJSON_AddStringToObject(o, "time", t);
	cJSON_AddNumberToObject(o, "time_ms", (double)e->time);
	add_str_or_null(o, "tenant", e->tenant);
	add_str_or_null(o, "kind", e->kind);
	add_str_or_null(o, "key", e->key);
	add_str_or_null(o, "job_id", e->job_id);
	if (e->generation >= 0)
		cJSON_AddNumberToObject(o, "generation",
					(double)e->generation);
	else
		cJSON_AddNullToObject(o, "generation");
	cJSON_AddNumberToObject(o, "attempts", e->attempts);
	cJSON_AddNumberToObject(o, "http_status", e->http_status);
	add_str_or_null(o, "code", e->code);
	add_str_or_null(o, "message", e->message);
	return o;
}

cJSON *rs_cli_dlq_show_json(const rs_dlq_entry_t *e, rs_dlq_status_t st,
			    const rs_dlq_rec_t *rec) {
	cJSON *o = cJSON_CreateObject(), *doc = NULL;
	char t[32];

	rs_cli_time_fmt(e->time, t, sizeof(t));
	cJSON_AddStringToObject(o, "id", e->id);
	cJSON_AddNumberToObject(o, "partition", e->partition);
	cJSON_AddNumberToObject(o, "offset", (double)e->offset);
	cJSON_AddStringToObject(o, "time", t);
	cJSON_AddStringToObject(o, "state", rs_dlq_status_name(st));
	cJSON_AddStringToObject(o, "type", type_name(e->type));
	add_str_or_null(o, "key", e->key);
	/* The record as stored (not as re-encoded): `show` is for finding
	 * out what really is in the DLQ. */
	if (e->type != RS_DLQ_MALFORMED && rec->value)
		doc = cJSON_ParseWithLength(rec->value, rec->len);
	if (doc) {
		cJSON_AddItemToObject(
			o, e->type == RS_DLQ_JOB ? "job" : "record", doc);
	} else {
		add_str_or_null(o, "error", e->message);
		add_str_or_null(o, "raw", e->raw);
		cJSON_AddBoolToObject(o, "raw_truncated", e->raw_truncated);
	}
	return o;
}
