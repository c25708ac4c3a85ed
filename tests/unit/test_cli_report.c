/*
 * test_cli_report.c - the sync report (cli/report.c): HTML escaping of
 * untrusted tenant / queue / user strings, the SVG chart with 0, 1 and
 * many samples, bounded samples and rows, per-tenant totals (forced
 * removals, "after" and "left" from the check), the terminal table and the
 * written file.
 */
#include "rs/rs_base.h"
#include "rs_cli_report.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <unistd.h>

#define EVIL "<script>alert('x')</script>&\"<img src=x onerror=y>"

/* A plan with one tenant and one group: adds/removes/held of n, m, h. */
static char *plan_doc(const char *tenant, const char *queue, const char *email,
		      int current, int adds, int removes, int held,
		      int unresolved, const char *note) {
	cJSON *root = cJSON_CreateObject(), *tns, *t, *gs, *g, *arr, *u;
	char *s;
	int i;

	tns = cJSON_AddArrayToObject(root, "tenants");
	t = cJSON_CreateObject();
	cJSON_AddItemToArray(tns, t);
	cJSON_AddStringToObject(t, "id", tenant);
	arr = cJSON_AddArrayToObject(t, "unresolved");
	for (i = 0; i < unresolved; i++) {
		char e[64];
		rs_snprintf(e, sizeof(e), "u%d@%s", i, email);
		cJSON_AddItemToArray(arr, cJSON_CreateString(e));
	}
	gs = cJSON_AddArrayToObject(t, "groups");
	g = cJSON_CreateObject();
	cJSON_AddItemToArray(gs, g);
	cJSON_AddStringToObject(g, "queue", queue);
	cJSON_AddStringToObject(g, "group_id", "g-1");
	cJSON_AddNumberToObject(g, "desired", current + adds - removes - held);
	cJSON_AddNumberToObject(g, "current", current);
	cJSON_AddNumberToObject(g, "unresolved", unresolved);
	cJSON_AddBoolToObject(g, "error", note != NULL);
	if (note)
		cJSON_AddStringToObject(g, "note", note);
	{
		const char *names[3] = {"adds", "removes", "held_back"};
		int cnt[3] = {adds, removes, held}, k;
		for (k = 0; k < 3; k++) {
			arr = cJSON_AddArrayToObject(g, names[k]);
			for (i = 0; i < cnt[k]; i++) {
				char id[32];
				rs_snprintf(id, sizeof(id), "%s-%d", names[k], i);
				u = cJSON_CreateObject();
				cJSON_AddStringToObject(u, "id", id);
				cJSON_AddStringToObject(u, "email", email);
				cJSON_AddItemToArray(arr, u);
			}
		}
	}
	s = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	return s;
}

static size_t count(const char *hay, const char *needle) {
	size_t n = 0;
	const char *p = hay;

	while ((p = strstr(p, needle)) != NULL) {
		n++;
		p += strlen(needle);
	}
	return n;
}

static void test_escape(void **state) {
	char *s = rs_cli_html_escape("a<b>&\"c'\x1b[31m\x7f\tok\n");

	(void)state;
	assert_string_equal(s, "a&lt;b&gt;&amp;&quot;c&#39;?[31m?\tok\n");
	rs_free(s);
	s = rs_cli_html_escape("");
	assert_string_equal(s, "");
	rs_free(s);
	/* UTF-8 passes through unchanged. */
	s = rs_cli_html_escape("Zoë Ångström");
	assert_string_equal(s, "Zoë Ångström");
	rs_free(s);
}

/* Untrusted strings everywhere they can appear: none reaches the
 * document as markup. */
static void test_html_untrusted(void **state) {
	rs_cli_report_t *r = rs_cli_report_new("title " EVIL, 0);
	char *plan = plan_doc(EVIL, "q " EVIL, "e" EVIL, 5, 1, 1, 2, 1,
			      "note " EVIL);
	char errstr[256], *html;
	size_t len = 0;

	(void)state;
	assert_int_equal(rs_cli_report_meta(r, "k " EVIL, "v " EVIL), RS_OK);
	assert_int_equal(rs_cli_report_mark(r, 10, "m " EVIL), RS_OK);
	rs_cli_report_sample(r, 0, 0, 0, 0);
	rs_cli_report_sample(r, 500, 3, 9, 1);
	assert_int_equal(rs_cli_report_add_sync(r, "sync " EVIL, plan, plan,
						true, errstr, sizeof(errstr)),
			 RS_OK);
	assert_int_equal(rs_cli_report_dlq(r, 0, "dlq " EVIL, 4), RS_OK);
	html = rs_cli_report_html(r, &len);
	assert_non_null(html);
	assert_int_equal(strlen(html), len);
	assert_null(strstr(html, "<script"));
	assert_null(strstr(html, "<img"));
	/* Self-contained: nothing is loaded from anywhere (an attribute
	 * needs a quote; escaped text has none, so "src=x" in text is
	 * harmless). */
	assert_null(strstr(html, "src=\""));
	assert_null(strstr(html, "href=\""));
	assert_null(strstr(html, "src='"));
	assert_null(strstr(html, "<link"));
	assert_non_null(strstr(html, "&lt;script&gt;alert(&#39;x&#39;)"));
	assert_non_null(strstr(html, "&lt;img src=x onerror=y&gt;"));
	/* Every place got it: title x2, meta k+v, mark, sync name, tenant
	 * (x5: tenant table, groups, held x2, unresolved, errors x2),
	 * queue, e-mails, note. */
	assert_true(count(html, "&lt;script&gt;") >= 16);
	assert_non_null(strstr(html, "<td>dlq &lt;script&gt;"));
	assert_non_null(strstr(html, "4 job(s) dead-lettered"));
	assert_non_null(strstr(html, "<svg"));
	rs_free(html);
	rs_free(plan);
	rs_cli_report_destroy(r);
}

static void test_svg_zero(void **state) {
	rs_cli_report_t *r = rs_cli_report_new("t", 0);
	char *svg = rs_cli_report_svg(r, 600, 200);

	(void)state;
	assert_non_null(svg);
	assert_non_null(strstr(svg, "<svg"));
	assert_non_null(strstr(svg, "no samples"));
	assert_null(strstr(svg, "<polyline"));
	assert_null(strstr(svg, "<circle"));
	assert_non_null(strstr(svg, "</svg>"));
	rs_free(svg);
	rs_cli_report_destroy(r);
}

static void test_svg_one(void **state) {
	rs_cli_report_t *r = rs_cli_report_new("t", 0);
	char *svg;

	(void)state;
	rs_cli_report_sample(r, 250, 10, 40, 0);
	svg = rs_cli_report_svg(r, 600, 200);
	assert_non_null(svg);
	assert_null(strstr(svg, "no samples"));
	assert_null(strstr(svg, "<polyline"));
	/* One dot per series. */
	assert_int_equal(count(svg, "<circle"), 3);
	rs_free(svg);
	rs_cli_report_destroy(r);
}

/* Points in the first polyline's points attribute. */
static size_t polyline_points(const char *svg) {
	const char *p = strstr(svg, "points=\""), *end;
	size_t n = 0;

	assert_non_null(p);
	p += 8;
	end = strchr(p, '"');
	assert_non_null(end);
	for (; p < end; p++)
		n += *p == ',';
	return n;
}

static void test_svg_many(void **state) {
	rs_cli_report_t *r = rs_cli_report_new("t", 0);
	char *svg;
	int i;

	(void)state;
	for (i = 0; i < 1000; i++)
		rs_cli_report_sample(r, i * 250, (uint64_t)i * 3,
				     (uint64_t)i * 4, (uint64_t)i / 100);
	assert_int_equal(rs_cli_report_sample_count(r), 1000);
	assert_int_equal(rs_cli_report_mark(r, 0, "sync 1"), RS_OK);
	assert_int_equal(rs_cli_report_mark(r, 125000, "churn"), RS_OK);
	svg = rs_cli_report_svg(r, 960, 320);
	assert_non_null(svg);
	assert_int_equal(count(svg, "<polyline"), 3);
	assert_int_equal(polyline_points(svg), 1000);
	assert_non_null(strstr(svg, ">churn</text>"));
	/* The y axis is rounded up from the largest value (3996 -> 5000). */
	assert_non_null(strstr(svg, ">5000</text>"));
	rs_free(svg);
	rs_cli_report_destroy(r);
}

/* Memory stays bounded: thinning keeps at most max samples, the whole
 * time span, and the newest sample is always drawn. */
static void test_samples_bounded(void **state) {
	rs_cli_report_t *r = rs_cli_report_new("t", 8);
	char *svg, *last;
	int i;

	(void)state;
	for (i = 0; i < 1001; i++) {
		rs_cli_report_sample(r, i * 10, (uint64_t)i, (uint64_t)i, 0);
		assert_true(rs_cli_report_sample_count(r) <= 8);
	}
	assert_true(rs_cli_report_sample_count(r) >= 4);
	svg = rs_cli_report_svg(r, 600, 200);
	assert_true(polyline_points(svg) <= 9);
	/* The first point is at t = 0 (x = 64.0, the plot's left edge) and
	 * the last at t = 10000 (the right edge, 600 - 16 = 584.0). */
	assert_non_null(strstr(svg, "points=\"64.0,"));
	last = strstr(svg, "\"/>");
	assert_non_null(last);
	assert_non_null(strstr(svg, " 584.0,"));
	rs_free(svg);
	rs_cli_report_destroy(r);
}

/* Long lists are cut, with the rest counted. */
static void test_rows_bounded(void **state) {
	rs_cli_report_t *r = rs_cli_report_new("t", 0);
	char *plan = plan_doc("t1", "q", "x.example", 3000, 0, 0, 2000, 1200,
			      NULL);
	char errstr[128], *html;

	(void)state;
	assert_int_equal(rs_cli_report_add_sync(r, "s", plan, NULL, false,
						errstr, sizeof(errstr)),
			 RS_OK);
	html = rs_cli_report_html(r, NULL);
	assert_non_null(html);
	assert_non_null(strstr(html, "and 1500 more</td>"));
	assert_non_null(strstr(html, "and 700 more</td>"));
	assert_int_equal(count(html, "<td>held_back-"), RS_CLI_REPORT_MAX_ROWS);
	assert_true(strlen(html) < 1024 * 1024);
	rs_free(html);
	rs_free(plan);
	rs_cli_report_destroy(r);
}

static void test_totals(void **state) {
	rs_cli_report_t *r = rs_cli_report_new("t", 0);
	char *before = plan_doc("t1", "q", "x.example", 10, 3, 1, 2, 4, NULL);
	char *after = plan_doc("t1", "q", "x.example", 10, 0, 0, 0, 4, NULL);
	char *broken = plan_doc("t2", "q", "x.example", 1, 0, 0, 0, 0,
				"source_error");
	rs_cli_report_tenant_t *rows;
	char errstr[128];
	size_t n;

	(void)state;
	assert_int_equal(rs_cli_report_add_sync(r, "forced", before, after,
						true, errstr, sizeof(errstr)),
			 RS_OK);
	assert_int_equal(rs_cli_report_add_sync(r, "guarded", before, NULL,
						false, errstr, sizeof(errstr)),
			 RS_OK);
	assert_int_equal(rs_cli_report_add_sync(r, "err", broken, NULL, false,
						errstr, sizeof(errstr)),
			 RS_OK);
	n = rs_cli_report_tenants(r, 0, &rows);
	assert_int_equal(n, 1);
	assert_string_equal(rows[0].tenant, "t1");
	assert_int_equal(rows[0].groups, 1);
	assert_int_equal(rows[0].before, 10);
	assert_int_equal(rows[0].after, 10);
	assert_int_equal(rows[0].adds, 3);
	/* forced: the held-back removals were applied too */
	assert_int_equal(rows[0].removes, 3);
	assert_int_equal(rows[0].held_back, 2);
	assert_int_equal(rows[0].unresolved, 4);
	assert_int_equal(rows[0].left, 0);
	rs_free(rows);
	n = rs_cli_report_tenants(r, 1, &rows);
	assert_int_equal(n, 1);
	assert_int_equal(rows[0].removes, 1);
	assert_true(rows[0].after == SIZE_MAX && rows[0].left == SIZE_MAX);
	rs_free(rows);
	n = rs_cli_report_tenants(r, 2, &rows);
	assert_int_equal(rows[0].errors, 1);
	rs_free(rows);
	/* Dead-lettered jobs count as the tenant's errors, and add up. */
	assert_int_equal(rs_cli_report_dlq(r, 0, "t1", 2), RS_OK);
	assert_int_equal(rs_cli_report_dlq(r, 0, "t1", 1), RS_OK);
	assert_int_equal(rs_cli_report_dlq(r, 0, "other", 5), RS_OK);
	assert_int_equal(rs_cli_report_dlq(r, 9, "t1", 1), RS_ERR_NOT_FOUND);
	n = rs_cli_report_tenants(r, 0, &rows);
	assert_int_equal(rows[0].errors, 3);
	rs_free(rows);
	assert_int_equal(rs_cli_report_tenants(r, 3, &rows), 0);
	assert_null(rows);
	/* Not a plan: refused with a reason. */
	assert_int_equal(rs_cli_report_add_sync(r, "x", "{\"a\":1}", NULL,
						false, errstr, sizeof(errstr)),
			 RS_ERR_PARSE);
	assert_non_null(strstr(errstr, "tenants"));
	assert_int_equal(rs_cli_report_add_sync(r, "x", before, "[", false,
						errstr, sizeof(errstr)),
			 RS_ERR_PARSE);
	rs_free(before);
	rs_free(after);
	rs_free(broken);
	rs_cli_report_destroy(r);
}

static void test_table_and_write(void **state) {
	rs_cli_report_t *r = rs_cli_report_new("t", 0);
	char *before = plan_doc("t\x1b[2J", "q", "x.example", 10, 3, 1, 0, 0,
				NULL);
	char *after = plan_doc("t\x1b[2J", "q", "x.example", 12, 0, 0, 0, 0,
			       NULL);
	char errstr[256], path[] = "/tmp/test_cli_report_XXXXXX", *buf = NULL,
			  *html, file[512];
	size_t blen = 0, hlen = 0;
	FILE *fp = open_memstream(&buf, &blen);
	int fd;

	(void)state;
	assert_int_equal(rs_cli_report_add_sync(r, "s", before, after, true,
						errstr, sizeof(errstr)),
			 RS_OK);
	rs_cli_report_table_print(r, 0, fp);
	fclose(fp);
	assert_non_null(strstr(buf, "tenant"));
	assert_null(strchr(buf, '\x1b'));
	assert_non_null(strstr(buf, "t?[2J"));
	assert_non_null(strstr(buf, "total"));
	/* before 10, after 12, adds 3, removes 1, left 0 */
	assert_non_null(strstr(buf, "     10       12      3       1"));
	rs_free(buf);

	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(rs_cli_report_write(r, path, errstr, sizeof(errstr)),
			 RS_OK);
	html = rs_cli_report_html(r, &hlen);
	fp = fopen(path, "r");
	assert_non_null(fp);
	buf = rs_calloc(1, hlen + 2);
	assert_int_equal(fread(buf, 1, hlen + 1, fp), hlen);
	fclose(fp);
	assert_memory_equal(buf, html, hlen);
	rs_free(buf);
	rs_free(html);
	unlink(path);
	/* A directory that does not exist: an I/O error with the path. */
	rs_snprintf(file, sizeof(file), "%s.d/none/report.html", path);
	assert_int_equal(rs_cli_report_write(r, file, errstr, sizeof(errstr)),
			 RS_ERR_IO);
	assert_non_null(strstr(errstr, "report.html"));
	rs_free(before);
	rs_free(after);
	rs_cli_report_destroy(r);
}

/* Two tenants: the HTML table gets a total row; one tenant does not. */
static void test_html_total(void **state) {
	rs_cli_report_t *r = rs_cli_report_new("t", 0);
	char *a = plan_doc("t1", "q", "x.example", 10, 3, 1, 0, 0, NULL);
	char *b = plan_doc("t2", "q", "x.example", 5, 2, 0, 0, 0, NULL);
	cJSON *ja = cJSON_Parse(a), *jb = cJSON_Parse(b);
	char errstr[128], *two, *html;

	(void)state;
	cJSON_AddItemToArray(cJSON_GetObjectItem(ja, "tenants"),
			     cJSON_DetachItemFromArray(
				     cJSON_GetObjectItem(jb, "tenants"), 0));
	two = cJSON_PrintUnformatted(ja);
	assert_int_equal(rs_cli_report_add_sync(r, "two", two, NULL, false,
						errstr, sizeof(errstr)),
			 RS_OK);
	assert_int_equal(rs_cli_report_add_sync(r, "one", a, a, false, errstr,
						sizeof(errstr)),
			 RS_OK);
	html = rs_cli_report_html(r, NULL);
	/* total: 2 groups, 15 before, after unknown, 5 adds, 1 remove */
	assert_non_null(strstr(html, "<tr class=\"total\"><td>total</td>"
				     "<td class=\"n\">2</td><td class=\"n\">15"
				     "</td><td class=\"n\">-</td><td class=\"n\">"
				     "5</td><td class=\"n\">1</td>"));
	assert_int_equal(count(html, "<tr class=\"total\">"), 1);
	rs_free(html);
	rs_free(two);
	cJSON_Delete(ja);
	cJSON_Delete(jb);
	rs_free(a);
	rs_free(b);
	rs_cli_report_destroy(r);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_html_untrusted),
		cmocka_unit_test(test_svg_zero),
		cmocka_unit_test(test_svg_one),
		cmocka_unit_test(test_svg_many),
		cmocka_unit_test(test_samples_bounded),
		cmocka_unit_test(test_rows_bounded),
		cmocka_unit_test(test_totals),
		cmocka_unit_test(test_table_and_write),
		cmocka_unit_test(test_html_total),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
