/*
 * report.c - the sync report (rs_cli_report.h): per-tenant totals from the
 * planner's plan.json before and after each sync, a terminal table, and one
 * self-contained HTML file with an inline SVG chart.
 *
 * Why plan.json and not counters: the planner's dry-run plan is the one
 * document that has per tenant AND per group the desired and current sizes,
 * the changes, the guard's decisions and the unresolved e-mails; the check
 * after a sync is the same document, so "after" and "what is left" come
 * from the same code that decides what to change, not from a second
 * implementation of the diff.
 */
#include "rs/rs_base.h"
#include "rs_cli_report.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

typedef struct sample_s {
	int64_t t;
	uint64_t changes, api, thr;
} sample_t;

typedef struct mark_s {
	int64_t t;
	char *label;
} mark_t;

typedef struct sync_s {
	char *name;
	cJSON *plan;  /* dry run before the sync (guard on) */
	cJSON *after; /* dry run after it, NULL if none */
	cJSON *dlq;   /* {"<tenant>": dead-lettered jobs} */
	bool forced;
} sync_t;

struct rs_cli_report_s {
	char *title;
	char *meta_k[RS_CLI_REPORT_MAX_META], *meta_v[RS_CLI_REPORT_MAX_META];
	size_t n_meta;
	sample_t *samples;
	size_t n_samples, max_samples;
	/* After each thinning only every keep_every-th offered sample is
	 * kept, so the newer part is not denser than the older one. */
	uint64_t offered, keep_every;
	sample_t last; /* always the newest sample, kept or not */
	bool have_last;
	mark_t marks[RS_CLI_REPORT_MAX_MARKS];
	size_t n_marks;
	sync_t syncs[RS_CLI_REPORT_MAX_SYNCS];
	size_t n_syncs;
};

/* ------------------------------------------------------------------------
 * A bounded string buffer: once past max it stops growing and remembers
 * that it overflowed, so the renderers need no error path per append.
 * --------------------------------------------------------------------- */

typedef struct sbuf_s {
	char *p;
	size_t len, cap, max;
	bool over;
} sbuf_t;

/* The first allocation is small: most renderings (a table, a chart) are
 * a few KiB and the buffer doubles as needed. */
static void sb_init(sbuf_t *sb, size_t max) {
	memset(sb, 0, sizeof(*sb));
	sb->max = max;
	sb->cap = 4096;
	sb->p = rs_malloc(sb->cap);
	sb->p[0] = '\0';
}

static void sb_putn(sbuf_t *sb, const char *s, size_t n) {
	if (sb->over)
		return;
	if (sb->len + n + 1 > sb->max) {
		sb->over = true;
		return;
	}
	if (sb->len + n + 1 > sb->cap) {
		while (sb->len + n + 1 > sb->cap)
			sb->cap *= 2;
		sb->p = rs_realloc(sb->p, sb->cap);
	}
	memcpy(sb->p + sb->len, s, n);
	sb->len += n;
	sb->p[sb->len] = '\0';
}

static void sb_puts(sbuf_t *sb, const char *s) {
	sb_putn(sb, s, strlen(s));
}

static void sb_printf(sbuf_t *sb, const char *fmt, ...) RS_PRINTF(2, 3);
static void sb_printf(sbuf_t *sb, const char *fmt, ...) {
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* Only numbers and fixed markup go through here; untrusted text goes
	 * through sb_esc, so a cut line is a bug, not an attack. */
	rs_assert(n >= 0 && (size_t)n < sizeof(buf));
	sb_putn(sb, buf, (size_t)n);
}

/* Escapes for text and attribute values alike (quotes included), so one
 * function is right wherever a value lands. */
static void sb_esc(sbuf_t *sb, const char *s) {
	const char *run = s;

	if (!s)
		return;
	for (; *s; s++) {
		const char *rep = NULL;
		unsigned char c = (unsigned char)*s;

		switch (c) {
		case '&':
			rep = "&amp;";
			break;
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '"':
			rep = "&quot;";
			break;
		case '\'':
			rep = "&#39;";
			break;
		default:
			/* Control characters have no business in a name and
			 * some (NUL aside) confuse terminals and parsers. */
			if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7f)
				rep = "?";
		}
		if (!rep)
			continue;
		sb_putn(sb, run, (size_t)(s - run));
		sb_puts(sb, rep);
		run = s + 1;
	}
	sb_putn(sb, run, (size_t)(s - run));
}

char *rs_cli_html_escape(const char *s) {
	sbuf_t sb;

	sb_init(&sb, SIZE_MAX);
	sb_esc(&sb, s ? s : "");
	return sb.p;
}

/* ------------------------------------------------------------------------
 * Building
 * --------------------------------------------------------------------- */

rs_cli_report_t *rs_cli_report_new(const char *title, size_t max_samples) {
	rs_cli_report_t *r = rs_calloc(1, sizeof(*r));

	r->title = rs_strdup(title ? title : "rostersync report");
	/* At least 2, so that thinning always leaves room. */
	r->max_samples = max_samples ? RS_MAX(max_samples, 2)
				     : RS_CLI_REPORT_MAX_SAMPLES;
	r->samples = rs_calloc(r->max_samples, sizeof(*r->samples));
	r->keep_every = 1;
	return r;
}

void rs_cli_report_destroy(rs_cli_report_t *r) {
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->n_meta; i++) {
		rs_free(r->meta_k[i]);
		rs_free(r->meta_v[i]);
	}
	for (i = 0; i < r->n_marks; i++)
		rs_free(r->marks[i].label);
	for (i = 0; i < r->n_syncs; i++) {
		rs_free(r->syncs[i].name);
		cJSON_Delete(r->syncs[i].plan);
		cJSON_Delete(r->syncs[i].after);
		cJSON_Delete(r->syncs[i].dlq);
	}
	rs_free(r->samples);
	rs_free(r->title);
	rs_free(r);
}

rs_err_t rs_cli_report_meta(rs_cli_report_t *r, const char *key,
			    const char *value) {
	if (r->n_meta >= RS_CLI_REPORT_MAX_META)
		return RS_ERR_TOO_LARGE;
	r->meta_k[r->n_meta] = rs_strdup(key);
	r->meta_v[r->n_meta] = rs_strdup(value ? value : "");
	r->n_meta++;
	return RS_OK;
}

void rs_cli_report_sample(rs_cli_report_t *r, int64_t t_ms, uint64_t changes,
			  uint64_t api_calls, uint64_t throttled) {
	sample_t s = {t_ms, changes, api_calls, throttled};
	size_t i;

	r->last = s;
	r->have_last = true;
	if (r->offered++ % r->keep_every)
		return;
	if (r->n_samples == r->max_samples) {
		/* Thin: keep samples 0, 2, 4, ... and from now on only every
		 * other offered one. */
		for (i = 0; 2 * i < r->n_samples; i++)
			r->samples[i] = r->samples[2 * i];
		r->n_samples = i;
		r->keep_every *= 2;
	}
	r->samples[r->n_samples++] = s;
}

size_t rs_cli_report_sample_count(const rs_cli_report_t *r) {
	return r->n_samples;
}

rs_err_t rs_cli_report_mark(rs_cli_report_t *r, int64_t t_ms,
			    const char *label) {
	if (r->n_marks >= RS_CLI_REPORT_MAX_MARKS)
		return RS_ERR_TOO_LARGE;
	r->marks[r->n_marks].t = t_ms;
	r->marks[r->n_marks].label = rs_strdup(label ? label : "");
	r->n_marks++;
	return RS_OK;
}

/* A plan is usable when it has a "tenants" array: everything else in it
 * is read defensively (missing fields count as 0). */
static cJSON *plan_parse(const char *json, const char *what, char *errstr,
			 size_t errstr_size) {
	cJSON *j = cJSON_Parse(json);

	if (!j || !cJSON_IsArray(cJSON_GetObjectItem(j, "tenants"))) {
		rs_snprintf(errstr, errstr_size,
			    "%s: not a plan (no \"tenants\" array)", what);
		cJSON_Delete(j);
		return NULL;
	}
	return j;
}

rs_err_t rs_cli_report_add_sync(rs_cli_report_t *r, const char *name,
				const char *plan_json, const char *after_json,
				bool forced, char *errstr,
				size_t errstr_size) {
	cJSON *plan = NULL, *after = NULL;
	sync_t *s;

	if (r->n_syncs >= RS_CLI_REPORT_MAX_SYNCS) {
		rs_snprintf(errstr, errstr_size, "at most %d syncs",
			    RS_CLI_REPORT_MAX_SYNCS);
		return RS_ERR_TOO_LARGE;
	}
	plan = plan_parse(plan_json ? plan_json : "", "plan", errstr,
			  errstr_size);
	if (!plan)
		return RS_ERR_PARSE;
	if (after_json) {
		after = plan_parse(after_json, "check after the sync", errstr,
				   errstr_size);
		if (!after) {
			cJSON_Delete(plan);
			return RS_ERR_PARSE;
		}
	}
	s = &r->syncs[r->n_syncs++];
	s->name = rs_strdup(name ? name : "sync");
	s->plan = plan;
	s->after = after;
	s->dlq = cJSON_CreateObject();
	s->forced = forced;
	return RS_OK;
}

rs_err_t rs_cli_report_dlq(rs_cli_report_t *r, size_t idx, const char *tenant,
			   size_t jobs) {
	cJSON *n;

	if (idx >= r->n_syncs)
		return RS_ERR_NOT_FOUND;
	n = cJSON_GetObjectItemCaseSensitive(r->syncs[idx].dlq, tenant);
	if (n) {
		cJSON_SetNumberValue(n, n->valuedouble + (double)jobs);
		return RS_OK;
	}
	if (cJSON_GetArraySize(r->syncs[idx].dlq) >= RS_CLI_REPORT_MAX_ROWS)
		return RS_ERR_TOO_LARGE;
	cJSON_AddNumberToObject(r->syncs[idx].dlq, tenant, (double)jobs);
	return RS_OK;
}

/* ------------------------------------------------------------------------
 * Reading plans
 * --------------------------------------------------------------------- */

/* Plans come from a file another program wrote: every accessor below
 * tolerates a missing or mistyped field (NULL / 0) rather than trusting
 * the shape. */
static const char *jstr(const cJSON *o, const char *k) {
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(it) ? it->valuestring : NULL;
}

/* A count: negative, fractional garbage or absurd values read as 0 so a
 * broken plan cannot overflow a total. */
static size_t jnum(const cJSON *o, const char *k) {
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
	double v = cJSON_IsNumber(it) ? it->valuedouble : 0;

	return v > 0 && v < 1e15 ? (size_t)v : 0;
}

static size_t jlen(const cJSON *o, const char *k) {
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsArray(it) ? (size_t)cJSON_GetArraySize(it) : 0;
}

/* A group failed when its "error" is true or a string. */
static bool group_failed(const cJSON *g) {
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(g, "error");

	return cJSON_IsTrue(e) || cJSON_IsString(e);
}

/* Linear search: a plan has at most a few hundred tenants and groups per
 * tenant, and the report is built once per run. */
static const cJSON *find_by(const cJSON *arr, const char *key,
			    const char *val) {
	const cJSON *it;

	if (!val)
		return NULL;
	cJSON_ArrayForEach(it, arr) {
		const char *v = jstr(it, key);
		if (v && !strcmp(v, val))
			return it;
	}
	return NULL;
}

/*
 * One tenant's row.  "before" and the changes come from the plan taken
 * before the sync; "after" and "left" from the check after it, matched by
 * tenant id (a tenant missing from the check stays unknown, SIZE_MAX,
 * rather than 0, which would read as "emptied").
 */
static void tenant_totals(const sync_t *s, const cJSON *t,
			  rs_cli_report_tenant_t *row) {
	const cJSON *at = NULL, *g;

	memset(row, 0, sizeof(*row));
	row->tenant = jstr(t, "id") ? jstr(t, "id") : "?";
	row->unresolved = jlen(t, "unresolved");
	row->errors = cJSON_GetObjectItemCaseSensitive(t, "error") ? 1 : 0;
	row->errors += jnum(s->dlq, row->tenant);
	cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(t, "groups")) {
		size_t held = jlen(g, "held_back");

		row->groups++;
		row->before += jnum(g, "current");
		row->adds += jlen(g, "adds");
		row->removes += jlen(g, "removes") + (s->forced ? held : 0);
		row->held_back += held;
		row->errors += group_failed(g);
	}
	row->after = row->left = SIZE_MAX;
	if (s->after)
		at = find_by(cJSON_GetObjectItemCaseSensitive(s->after,
							      "tenants"),
			     "id", jstr(t, "id"));
	if (!at)
		return;
	row->after = row->left = 0;
	cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(at, "groups")) {
		row->after += jnum(g, "current");
		row->left += jlen(g, "adds") + jlen(g, "removes") +
			     jlen(g, "held_back");
	}
}

size_t rs_cli_report_tenants(const rs_cli_report_t *r, size_t idx,
			     rs_cli_report_tenant_t **rows) {
	const sync_t *s;
	const cJSON *tns, *t;
	size_t n = 0;

	*rows = NULL;
	if (idx >= r->n_syncs)
		return 0;
	s = &r->syncs[idx];
	tns = cJSON_GetObjectItemCaseSensitive(s->plan, "tenants");
	if (!cJSON_GetArraySize(tns))
		return 0;
	*rows = rs_calloc((size_t)cJSON_GetArraySize(tns), sizeof(**rows));
	cJSON_ArrayForEach(t, tns)
		tenant_totals(s, t, &(*rows)[n++]);
	return n;
}

/* Adds one tenant row to a total; an unknown "after" makes the total's
 * unknown too (SIZE_MAX sticks). */
static void totals_add(rs_cli_report_tenant_t *tot,
		       const rs_cli_report_tenant_t *t) {
	tot->groups += t->groups;
	tot->before += t->before;
	tot->adds += t->adds;
	tot->removes += t->removes;
	tot->held_back += t->held_back;
	tot->unresolved += t->unresolved;
	tot->errors += t->errors;
	if (t->after == SIZE_MAX || tot->after == SIZE_MAX) {
		tot->after = tot->left = SIZE_MAX;
	} else {
		tot->after += t->after;
		tot->left += t->left;
	}
}

/* "-" for unknown, else the number (buf must hold 24 bytes). */
static const char *num_or_dash(size_t v, char *buf, size_t size) {
	if (v == SIZE_MAX)
		return "-";
	rs_snprintf(buf, size, "%zu", v);
	return buf;
}

void rs_cli_report_table_print(const rs_cli_report_t *r, size_t idx,
			       FILE *fp) {
	rs_cli_report_tenant_t *rows, tot;
	size_t n = rs_cli_report_tenants(r, idx, &rows), i;
	char a[24], b[24];

	memset(&tot, 0, sizeof(tot));
	fprintf(fp, "%-14s %6s %8s %8s %6s %7s %5s %10s %6s %5s\n", "tenant",
		"groups", "before", "after", "adds", "removes", "held",
		"unresolved", "errors", "left");
	for (i = 0; i < n; i++) {
		const rs_cli_report_tenant_t *t = &rows[i];
		char *esc = rs_strdup(t->tenant), *c;

		/* A terminal is an interpreter too: no escape sequences
		 * from a tenant id reach it. */
		for (c = esc; *c; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				*c = '?';
		fprintf(fp, "%-14.14s %6zu %8zu %8s %6zu %7zu %5zu %10zu %6zu %5s\n",
			esc, t->groups, t->before,
			num_or_dash(t->after, a, sizeof(a)), t->adds,
			t->removes, t->held_back, t->unresolved, t->errors,
			num_or_dash(t->left, b, sizeof(b)));
		rs_free(esc);
		totals_add(&tot, t);
	}
	fprintf(fp, "%-14s %6zu %8zu %8s %6zu %7zu %5zu %10zu %6zu %5s\n",
		"total", tot.groups, tot.before,
		num_or_dash(tot.after, a, sizeof(a)), tot.adds, tot.removes,
		tot.held_back, tot.unresolved, tot.errors,
		num_or_dash(tot.left, b, sizeof(b)));
	rs_free(rows);
}

/* ------------------------------------------------------------------------
 * The chart
 * --------------------------------------------------------------------- */

/* Smallest 1, 2 or 5 x 10^k >= v: round axis maxima. */
static double nice_ceil(double v) {
	double p = 1;

	if (v <= 1)
		return 1;
	while (p * 10 < v)
		p *= 10;
	if (v <= p)
		return p;
	if (v <= 2 * p)
		return 2 * p;
	if (v <= 5 * p)
		return 5 * p;
	return 10 * p;
}

/* Pixel geometry of the plot area and the data range it shows; every
 * series shares one y axis (changes and API calls are of the same order,
 * and one axis cannot be misread). */
typedef struct chart_s {
	double x0, y0, w, h; /* plot area */
	double tmax, ymax;
} chart_t;

static double cx(const chart_t *c, int64_t t) {
	return c->x0 + c->w * ((double)t / c->tmax);
}

static double cy(const chart_t *c, uint64_t v) {
	return c->y0 + c->h - c->h * ((double)v / c->ymax);
}

/* The samples to draw: the kept ones plus the newest if it was thinned
 * away (the end of the run must show). */
static size_t draw_samples(const rs_cli_report_t *r, const sample_t **arr,
			   sample_t *extra) {
	*arr = r->samples;
	if (r->have_last &&
	    (!r->n_samples || r->last.t > r->samples[r->n_samples - 1].t)) {
		*extra = r->last;
		return r->n_samples + 1;
	}
	return r->n_samples;
}

static const sample_t *sample_at(const rs_cli_report_t *r, size_t i,
				 const sample_t *extra) {
	return i < r->n_samples ? &r->samples[i] : extra;
}

static uint64_t series_val(const sample_t *s, int series) {
	return series == 0 ? s->changes : series == 1 ? s->api : s->thr;
}

static void svg_render(const rs_cli_report_t *r, int width, int height,
		       sbuf_t *sb) {
	static const char *const colors[] = {"#1f77b4", "#ff7f0e", "#d62728"};
	static const char *const names[] = {"changes applied", "API calls",
					    "429 answers"};
	const sample_t *arr;
	sample_t extra;
	size_t n = draw_samples(r, &arr, &extra), i;
	chart_t c;
	double ymax = 0;
	int64_t tmax = 0;
	int k, series;

	/* Margins: y labels on the left, the legend above, x labels below.
	 * Tiny sizes are raised so the margins never exceed the image. */
	c.x0 = 64;
	c.y0 = 28;
	c.w = RS_MAX(width, 200) - c.x0 - 16;
	c.h = RS_MAX(height, 120) - c.y0 - 40;
	for (i = 0; i < n; i++) {
		const sample_t *s = sample_at(r, i, &extra);
		tmax = RS_MAX(tmax, s->t);
		ymax = RS_MAX(ymax, (double)RS_MAX(s->changes, s->api));
	}
	for (i = 0; i < r->n_marks; i++)
		tmax = RS_MAX(tmax, r->marks[i].t);
	/* A zero range would divide by zero: one second and a y maximum of 1
	 * are the smallest axes drawn. */
	c.tmax = tmax > 0 ? (double)tmax : 1000;
	c.ymax = nice_ceil(ymax);

	/* The namespace makes the same markup a valid standalone .svg file;
	 * it is an identifier, nothing is fetched from it. */
	sb_printf(sb,
		  "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
		  "height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" "
		  "font-family=\"sans-serif\" font-size=\"11\">\n",
		  RS_MAX(width, 200), RS_MAX(height, 120), RS_MAX(width, 200),
		  RS_MAX(height, 120));
	sb_puts(sb, "<title>changes applied and API calls over time</title>\n");
	sb_printf(sb,
		  "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" "
		  "fill=\"#ffffff\"/>\n",
		  RS_MAX(width, 200), RS_MAX(height, 120));
	/* Grid and y labels: 5 steps of the rounded maximum. */
	for (k = 0; k <= 5; k++) {
		double y = c.y0 + c.h - c.h * k / 5.0;
		sb_printf(sb,
			  "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
			  "stroke=\"#dddddd\"/>\n"
			  "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">"
			  "%.0f</text>\n",
			  c.x0, y, c.x0 + c.w, y, c.x0 - 6, y + 4,
			  c.ymax * k / 5.0);
	}
	for (k = 0; k <= 5; k++) {
		double x = c.x0 + c.w * k / 5.0;
		sb_printf(sb,
			  "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">"
			  "%.1f s</text>\n",
			  x, c.y0 + c.h + 16, c.tmax * k / 5.0 / 1000.0);
	}
	sb_printf(sb,
		  "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
		  "fill=\"none\" stroke=\"#888888\"/>\n",
		  c.x0, c.y0, c.w, c.h);
	/* Phase markers: labels alternate between two heights because two
	 * phases can start a few ms apart (churn, then sync 2). */
	for (i = 0; i < r->n_marks; i++) {
		double x = cx(&c, r->marks[i].t);
		sb_printf(sb,
			  "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
			  "y2=\"%.1f\" stroke=\"#999999\" "
			  "stroke-dasharray=\"4 3\"/>\n"
			  "<text x=\"%.1f\" y=\"%.1f\" fill=\"#555555\">",
			  x, c.y0, x, c.y0 + c.h, x + 3, c.y0 + 12 + 12.0 * (double)(i % 2));
		sb_esc(sb, r->marks[i].label);
		sb_puts(sb, "</text>\n");
	}
	if (n == 0)
		sb_printf(sb,
			  "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" "
			  "fill=\"#555555\">no samples</text>\n",
			  c.x0 + c.w / 2, c.y0 + c.h / 2);
	for (series = 0; series < 3 && n > 0; series++) {
		if (n == 1) {
			/* One point has no line: a dot says where it is. */
			const sample_t *s = sample_at(r, 0, &extra);
			sb_printf(sb,
				  "<circle class=\"s%d\" cx=\"%.1f\" "
				  "cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n",
				  series, cx(&c, s->t),
				  cy(&c, series_val(s, series)),
				  colors[series]);
			continue;
		}
		sb_printf(sb,
			  "<polyline class=\"s%d\" fill=\"none\" "
			  "stroke=\"%s\" stroke-width=\"2\" points=\"",
			  series, colors[series]);
		for (i = 0; i < n; i++) {
			const sample_t *s = sample_at(r, i, &extra);
			sb_printf(sb, "%s%.1f,%.1f", i ? " " : "",
				  cx(&c, s->t),
				  cy(&c, series_val(s, series)));
		}
		sb_puts(sb, "\"/>\n");
	}
	/* Legend, top left above the plot. */
	for (series = 0; series < 3; series++) {
		double x = c.x0 + 150.0 * series;
		sb_printf(sb,
			  "<rect x=\"%.1f\" y=\"8\" width=\"12\" height=\"12\" "
			  "fill=\"%s\"/>\n<text x=\"%.1f\" y=\"18\">%s</text>\n",
			  x, colors[series], x + 16, names[series]);
	}
	sb_puts(sb, "</svg>\n");
}

char *rs_cli_report_svg(const rs_cli_report_t *r, int width, int height) {
	sbuf_t sb;

	sb_init(&sb, RS_CLI_REPORT_MAX_HTML);
	svg_render(r, width, height, &sb);
	if (sb.over) {
		rs_free(sb.p);
		return NULL;
	}
	return sb.p;
}

/* ------------------------------------------------------------------------
 * The HTML document
 * --------------------------------------------------------------------- */

/* The whole style sheet, inline: the report must open from disk, offline,
 * years later, so it references nothing. */
static const char css[] =
	"body{font-family:system-ui,sans-serif;margin:24px;color:#222;"
	"max-width:1100px}\n"
	"h1{font-size:22px}h2{font-size:18px;margin-top:28px;"
	"border-bottom:1px solid #ccc}h3{font-size:15px}\n"
	"table{border-collapse:collapse;margin:8px 0 16px}\n"
	"th,td{border:1px solid #ccc;padding:3px 8px;font-size:13px}\n"
	"th{background:#f2f2f2;text-align:left}td.n{text-align:right;"
	"font-variant-numeric:tabular-nums}\n"
	"tr.total td{font-weight:bold}.ok{color:#1a7f37}.bad{color:#b42318}\n"
	".muted{color:#666;font-size:12px}code{font-size:12px}\n";

/* Table cells: numbers right-aligned (class n), unknown as "-", text
 * always escaped. */
static void td_num(sbuf_t *sb, size_t v) {
	if (v == SIZE_MAX)
		sb_puts(sb, "<td class=\"n\">-</td>");
	else
		sb_printf(sb, "<td class=\"n\">%zu</td>", v);
}

static void td_text(sbuf_t *sb, const char *s) {
	sb_puts(sb, "<td>");
	sb_esc(sb, s ? s : "");
	sb_puts(sb, "</td>");
}

static void html_tenant_table(const rs_cli_report_t *r, size_t idx,
			      sbuf_t *sb) {
	rs_cli_report_tenant_t *rows, tot;
	size_t n = rs_cli_report_tenants(r, idx, &rows), i;

	sb_puts(sb, "<table><tr><th>tenant</th><th>groups</th>"
		    "<th>members before</th><th>members after</th>"
		    "<th>adds</th><th>removes</th><th>held back</th>"
		    "<th>unresolved</th><th>errors</th><th>left</th></tr>\n");
	memset(&tot, 0, sizeof(tot));
	for (i = 0; i <= n; i++) {
		const rs_cli_report_tenant_t *t = i < n ? &rows[i] : &tot;

		if (i == n && n < 2)
			break; /* a total of one row says nothing new */
		sb_puts(sb, i < n ? "<tr>" : "<tr class=\"total\">");
		td_text(sb, i < n ? t->tenant : "total");
		td_num(sb, t->groups);
		td_num(sb, t->before);
		td_num(sb, t->after);
		td_num(sb, t->adds);
		td_num(sb, t->removes);
		td_num(sb, t->held_back);
		td_num(sb, t->unresolved);
		td_num(sb, t->errors);
		td_num(sb, t->left);
		sb_puts(sb, "</tr>\n");
		if (i < n)
			totals_add(&tot, t);
	}
	sb_puts(sb, "</table>\n");
	rs_free(rows);
}

/* Per group of every tenant: sizes and changes (bounded).  "after" is
 * looked up in the check by group id, so a group the check did not list
 * shows "-" instead of a misleading 0.  Removes include the forced
 * held-back ones, as in the tenant table. */
static void html_groups(const sync_t *s, sbuf_t *sb) {
	const cJSON *t, *g;
	size_t rows = 0, more = 0;

	sb_puts(sb, "<table><tr><th>tenant</th><th>queue</th><th>group</th>"
		    "<th>desired</th><th>before</th><th>after</th>"
		    "<th>adds</th><th>removes</th><th>held back</th>"
		    "<th>unresolved</th><th>note</th></tr>\n");
	cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(s->plan,
							       "tenants")) {
		const cJSON *at = s->after
			? find_by(cJSON_GetObjectItemCaseSensitive(s->after,
								   "tenants"),
				  "id", jstr(t, "id"))
			: NULL;
		cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(t,
								       "groups")) {
			const cJSON *ag = at
				? find_by(cJSON_GetObjectItemCaseSensitive(
						  at, "groups"),
					  "group_id", jstr(g, "group_id"))
				: NULL;
			size_t held = jlen(g, "held_back");
			const char *note = jstr(g, "note");

			if (rows >= RS_CLI_REPORT_MAX_ROWS) {
				more++;
				continue;
			}
			rows++;
			sb_puts(sb, "<tr>");
			td_text(sb, jstr(t, "id"));
			td_text(sb, jstr(g, "queue"));
			sb_puts(sb, "<td><code>");
			sb_esc(sb, jstr(g, "group_id"));
			sb_puts(sb, "</code></td>");
			td_num(sb, jnum(g, "desired"));
			td_num(sb, jnum(g, "current"));
			td_num(sb, ag ? jnum(ag, "current") : SIZE_MAX);
			td_num(sb, jlen(g, "adds"));
			td_num(sb, jlen(g, "removes") + (s->forced ? held : 0));
			td_num(sb, held);
			td_num(sb, jnum(g, "unresolved"));
			if (group_failed(g))
				sb_puts(sb, "<td class=\"bad\">error ");
			else
				sb_puts(sb, "<td>");
			sb_esc(sb, note ? note : "");
			sb_puts(sb, "</td></tr>\n");
		}
	}
	if (more)
		sb_printf(sb,
			  "<tr><td colspan=\"11\" class=\"muted\">and %zu "
			  "more groups</td></tr>\n",
			  more);
	sb_puts(sb, "</table>\n");
}

/* Held-back removals, one row per user (bounded): the list an operator
 * reviews before forcing them, so it names the user, not only a count. */
static void html_held(const sync_t *s, sbuf_t *sb) {
	const cJSON *t, *g, *m;
	size_t rows = 0, more = 0;

	sb_puts(sb, "<table><tr><th>tenant</th><th>queue</th>"
		    "<th>user id</th><th>e-mail</th></tr>\n");
	cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(s->plan,
							       "tenants"))
	cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(t, "groups"))
	cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(g,
							       "held_back")) {
		if (rows >= RS_CLI_REPORT_MAX_ROWS) {
			more++;
			continue;
		}
		rows++;
		sb_puts(sb, "<tr>");
		td_text(sb, jstr(t, "id"));
		td_text(sb, jstr(g, "queue"));
		td_text(sb, jstr(m, "id"));
		td_text(sb, jstr(m, "email"));
		sb_puts(sb, "</tr>\n");
	}
	if (!rows)
		sb_puts(sb, "<tr><td colspan=\"4\" class=\"muted\">none"
			    "</td></tr>\n");
	if (more)
		sb_printf(sb,
			  "<tr><td colspan=\"4\" class=\"muted\">and %zu "
			  "more</td></tr>\n",
			  more);
	sb_puts(sb, "</table>\n");
}

/* Unresolved e-mails per tenant (bounded): people in a queue with no
 * Entra account, which the sync cannot add; they need a human. */
static void html_unresolved(const sync_t *s, sbuf_t *sb) {
	const cJSON *t, *e;
	size_t rows = 0, more = 0;

	sb_puts(sb, "<table><tr><th>tenant</th><th>e-mail</th></tr>\n");
	cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(s->plan,
							       "tenants"))
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(t,
							       "unresolved")) {
		if (!cJSON_IsString(e))
			continue;
		if (rows >= RS_CLI_REPORT_MAX_ROWS) {
			more++;
			continue;
		}
		rows++;
		sb_puts(sb, "<tr>");
		td_text(sb, jstr(t, "id"));
		td_text(sb, e->valuestring);
		sb_puts(sb, "</tr>\n");
	}
	if (!rows)
		sb_puts(sb, "<tr><td colspan=\"2\" class=\"muted\">none"
			    "</td></tr>\n");
	if (more)
		sb_printf(sb,
			  "<tr><td colspan=\"2\" class=\"muted\">and %zu "
			  "more</td></tr>\n",
			  more);
	sb_puts(sb, "</table>\n");
}

/* Tenant and group failures, before and after the sync, then the jobs the
 * pool dead-lettered: everything that kept a group from converging. */
static void html_errors(const sync_t *s, sbuf_t *sb) {
	const cJSON *plans[2] = {s->plan, s->after}, *t, *g;
	static const char *const when[2] = {"plan", "check after"};
	size_t rows = 0;
	int k;

	sb_puts(sb, "<table><tr><th>when</th><th>tenant</th><th>queue</th>"
		    "<th>error</th></tr>\n");
	for (k = 0; k < 2; k++) {
		if (!plans[k])
			continue;
		cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(
					      plans[k], "tenants")) {
			const cJSON *te = cJSON_GetObjectItemCaseSensitive(
				t, "error");
			if (te && rows < RS_CLI_REPORT_MAX_ROWS) {
				rows++;
				sb_printf(sb, "<tr><td>%s</td>", when[k]);
				td_text(sb, jstr(t, "id"));
				td_text(sb, "");
				td_text(sb, cJSON_IsString(te) ? te->valuestring
							       : "failed");
				sb_puts(sb, "</tr>\n");
			}
			cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(
						      t, "groups")) {
				if (!group_failed(g) ||
				    rows >= RS_CLI_REPORT_MAX_ROWS)
					continue;
				rows++;
				sb_printf(sb, "<tr><td>%s</td>", when[k]);
				td_text(sb, jstr(t, "id"));
				td_text(sb, jstr(g, "queue"));
				td_text(sb, jstr(g, "note") ? jstr(g, "note")
							    : "failed");
				sb_puts(sb, "</tr>\n");
			}
		}
	}
	cJSON_ArrayForEach(g, s->dlq) {
		char msg[96];

		rows++;
		rs_snprintf(msg, sizeof(msg),
			    "%zu job(s) dead-lettered (rostersync dlq list)",
			    jnum(s->dlq, g->string));
		sb_puts(sb, "<tr><td>apply</td>");
		td_text(sb, g->string);
		td_text(sb, "");
		td_text(sb, msg);
		sb_puts(sb, "</tr>\n");
	}
	if (!rows)
		sb_puts(sb, "<tr><td colspan=\"4\" class=\"muted\">none"
			    "</td></tr>\n");
	sb_puts(sb, "</table>\n");
}

/* Document order follows an operator's questions: did it work (header),
 * how did it go (chart), where did it change what (per tenant, per group),
 * and what needs a human (held back, unresolved, errors). */
static void html_render(const rs_cli_report_t *r, sbuf_t *sb) {
	size_t i;

	sb_puts(sb, "<!DOCTYPE html>\n<html lang=\"en\"><head>"
		    "<meta charset=\"utf-8\">\n<title>");
	sb_esc(sb, r->title);
	sb_printf(sb, "</title>\n<style>\n%s</style>\n</head><body>\n", css);
	sb_puts(sb, "<h1>");
	sb_esc(sb, r->title);
	sb_puts(sb, "</h1>\n<table>\n");
	for (i = 0; i < r->n_meta; i++) {
		sb_puts(sb, "<tr><th>");
		sb_esc(sb, r->meta_k[i]);
		sb_puts(sb, "</th>");
		td_text(sb, r->meta_v[i]);
		sb_puts(sb, "</tr>\n");
	}
	sb_puts(sb, "</table>\n<h2>Changes applied and API calls over "
		    "time</h2>\n");
	svg_render(r, 960, 320, sb);
	sb_puts(sb, "<p class=\"muted\">Cumulative counters sampled during "
		    "the run: member changes the workers applied, requests "
		    "the simulated APIs answered (all of them: tokens, reads, "
		    "writes), and 429 answers.</p>\n");
	for (i = 0; i < r->n_syncs; i++) {
		const sync_t *s = &r->syncs[i];

		sb_puts(sb, "<h2>");
		sb_esc(sb, s->name);
		sb_puts(sb, "</h2>\n<h3>Per tenant</h3>\n");
		html_tenant_table(r, i, sb);
		if (s->forced)
			sb_puts(sb, "<p class=\"muted\">Removals the deletion "
				    "guard held back were applied in this "
				    "sync (forced): they count under removes "
				    "and are listed below.</p>\n");
		sb_puts(sb, "<h3>Per group</h3>\n");
		html_groups(s, sb);
		sb_puts(sb, "<h3>Held-back removals</h3>\n");
		html_held(s, sb);
		sb_puts(sb, "<h3>Unresolved users</h3>\n");
		html_unresolved(s, sb);
		sb_puts(sb, "<h3>Errors</h3>\n");
		html_errors(s, sb);
	}
	sb_puts(sb, "<p class=\"muted\">Generated by rostersync "
		    RS_VERSION_STR ".</p>\n</body></html>\n");
}

/* Rendered in memory first so the size cap is checked before anything is
 * written, and the file is written in one go. */
char *rs_cli_report_html(const rs_cli_report_t *r, size_t *len) {
	sbuf_t sb;

	sb_init(&sb, RS_CLI_REPORT_MAX_HTML);
	html_render(r, &sb);
	if (sb.over) {
		rs_free(sb.p);
		return NULL;
	}
	if (len)
		*len = sb.len;
	return sb.p;
}

rs_err_t rs_cli_report_write(const rs_cli_report_t *r, const char *path,
			     char *errstr, size_t errstr_size) {
	rs_err_t err = RS_ERR_IO;
	char tmp[4096], ebuf[128];
	size_t len = 0;
	char *html = rs_cli_report_html(r, &len);
	FILE *fp = NULL;

	if (!html) {
		rs_snprintf(errstr, errstr_size, "report larger than %u bytes",
			    RS_CLI_REPORT_MAX_HTML);
		return RS_ERR_TOO_LARGE;
	}
	rs_snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fp = fopen(tmp, "w");
	if (!fp || fwrite(html, 1, len, fp) != len) {
		rs_snprintf(errstr, errstr_size, "%s: %s", tmp,
			    strerror_r(errno, ebuf, sizeof(ebuf)));
		goto out;
	}
	if (fclose(fp) != 0) {
		fp = NULL;
		rs_snprintf(errstr, errstr_size, "%s: %s", tmp,
			    strerror_r(errno, ebuf, sizeof(ebuf)));
		goto out;
	}
	fp = NULL;
	if (rename(tmp, path) != 0) {
		rs_snprintf(errstr, errstr_size, "%s: %s", path,
			    strerror_r(errno, ebuf, sizeof(ebuf)));
		goto out;
	}
	err = RS_OK;
out:
	if (fp)
		fclose(fp);
	if (err)
		unlink(tmp);
	rs_free(html);
	return err;
}
