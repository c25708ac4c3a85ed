/*
 * test_metrics.c - Prometheus registry, exposition format and endpoint.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "rs/rs_base.h"
#include "rs/rs_metrics.h"

#include <curl/curl.h>

static void test_counter_gauge_render(void **state) {
	rs_metrics_t *m = rs_metrics_new();
	const char *const labels[] = {"tenant", "outcome", NULL};
	const char *const v1[] = {"t1", "applied"};
	const char *const v2[] = {"t\"2\\\n", "noop"};
	rs_metric_t *c, *g;
	char *out;
	(void)state;

	c = rs_metrics_register(m, RS_METRIC_COUNTER, "rs_jobs_total",
				"Jobs by outcome.", labels, NULL, 0);
	assert_non_null(c);
	/* Same name, same type: the same family; other type: refused. */
	assert_ptr_equal(c, rs_metrics_register(m, RS_METRIC_COUNTER,
						"rs_jobs_total", "", labels,
						NULL, 0));
	assert_null(rs_metrics_register(m, RS_METRIC_GAUGE, "rs_jobs_total",
					"", NULL, NULL, 0));
	g = rs_metrics_register(m, RS_METRIC_GAUGE, "rs_inflight", "In flight.",
				NULL, NULL, 0);
	rs_metric_add(c, v1, 2);
	rs_metric_add(c, v1, 1);
	rs_metric_add(c, v1, -5); /* counters never go down */
	rs_metric_add(c, v2, 1);
	rs_metric_set(g, NULL, 7);
	rs_metric_add(g, NULL, -2);
	assert_true(rs_metric_get(c, v1) == 3);
	assert_true(rs_metric_get(g, NULL) == 5);

	out = rs_metrics_render(m);
	assert_non_null(strstr(out, "# HELP rs_jobs_total Jobs by outcome.\n"
				    "# TYPE rs_jobs_total counter\n"
				    "rs_jobs_total{tenant=\"t1\",outcome="
				    "\"applied\"} 3\n"));
	/* Label values escape backslash, quote and newline. */
	assert_non_null(strstr(out, "tenant=\"t\\\"2\\\\\\n\",outcome=\"noop\"} 1\n"));
	assert_non_null(strstr(out, "# TYPE rs_inflight gauge\nrs_inflight 5\n"));
	rs_free(out);
	rs_metrics_destroy(m);
}

/* A cleared family renders its HELP/TYPE lines and no series; series set
 * afterwards (a partition assigned again) are new and findable. */
static void test_clear(void **state) {
	rs_metrics_t *m = rs_metrics_new();
	const char *const labels[] = {"topic", "partition", NULL};
	const char *const p0[] = {"jobs", "0"};
	const char *const p1[] = {"jobs", "1"};
	rs_metric_t *g;
	char *out;
	int i;
	(void)state;

	g = rs_metrics_register(m, RS_METRIC_GAUGE, "rs_lag", "Lag.", labels,
				NULL, 0);
	assert_non_null(g);
	/* Enough series to have grown the index more than once. */
	for (i = 0; i < 40; i++) {
		char pv[8];
		const char *v[2] = {"jobs", pv};
		rs_snprintf(pv, sizeof(pv), "%d", i);
		rs_metric_set(g, v, i);
	}
	rs_metric_clear(g);
	assert_true(rs_metric_get(g, p1) == 0);
	out = rs_metrics_render(m);
	assert_non_null(strstr(out, "# TYPE rs_lag gauge\n# HELP"));
	assert_null(strstr(out, "rs_lag{"));
	rs_free(out);
	rs_metric_set(g, p1, 5);
	rs_metric_set(g, p1, 6);
	assert_true(rs_metric_get(g, p1) == 6);
	assert_true(rs_metric_get(g, p0) == 0);
	out = rs_metrics_render(m);
	assert_non_null(strstr(out, "rs_lag{topic=\"jobs\",partition=\"1\"} 6\n"));
	assert_null(strstr(out, "partition=\"0\""));
	rs_free(out);
	rs_metric_clear(NULL);
	rs_metrics_destroy(m);
}

static void test_histogram(void **state) {
	rs_metrics_t *m = rs_metrics_new();
	const double b[] = {0.1, 1, 10};
	const double bad[] = {1, 0.5};
	const char *const labels[] = {"target", NULL};
	const char *const v[] = {"graph"};
	rs_metric_t *h;
	char *out;
	(void)state;

	assert_null(rs_metrics_register(m, RS_METRIC_HISTOGRAM, "rs_bad", "",
					NULL, bad, 2));
	h = rs_metrics_register(m, RS_METRIC_HISTOGRAM, "rs_latency_seconds",
				"Latency.", labels, b, 3);
	assert_non_null(h);
	rs_metric_observe(h, v, 0.05);
	rs_metric_observe(h, v, 0.1); /* le is inclusive */
	rs_metric_observe(h, v, 5);
	rs_metric_observe(h, v, 50);
	out = rs_metrics_render(m);
	assert_non_null(strstr(out, "rs_latency_seconds_bucket{target=\"graph\",le=\"0.1\"} 2\n"));
	assert_non_null(strstr(out, "rs_latency_seconds_bucket{target=\"graph\",le=\"1\"} 2\n"));
	assert_non_null(strstr(out, "rs_latency_seconds_bucket{target=\"graph\",le=\"10\"} 3\n"));
	assert_non_null(strstr(out, "rs_latency_seconds_bucket{target=\"graph\",le=\"+Inf\"} 4\n"));
	assert_non_null(strstr(out, "rs_latency_seconds_sum{target=\"graph\"} 55.149999999999999\n"));
	assert_non_null(strstr(out, "rs_latency_seconds_count{target=\"graph\"} 4\n"));
	rs_free(out);
	rs_metrics_destroy(m);
}

static void test_bad_names(void **state) {
	rs_metrics_t *m = rs_metrics_new();
	const char *const le[] = {"le", NULL};
	const char *const dash[] = {"a-b", NULL};
	(void)state;
	assert_null(rs_metrics_register(m, RS_METRIC_COUNTER, "1abc", "", NULL,
					NULL, 0));
	assert_null(rs_metrics_register(m, RS_METRIC_COUNTER, "a b", "", NULL,
					NULL, 0));
	assert_null(rs_metrics_register(m, RS_METRIC_COUNTER, "x_total", "", le,
					NULL, 0));
	assert_null(rs_metrics_register(m, RS_METRIC_COUNTER, "y_total", "",
					dash, NULL, 0));
	rs_metrics_destroy(m);
}

static void test_series_bound(void **state) {
	rs_metrics_t *m = rs_metrics_new();
	const char *const labels[] = {"k", NULL};
	rs_metric_t *c = rs_metrics_register(m, RS_METRIC_COUNTER, "rs_n_total",
					     "", labels, NULL, 0);
	char buf[32];
	const char *v[1] = {buf};
	char *out;
	int i;
	(void)state;

	for (i = 0; i < RS_METRICS_MAX_SERIES + 10; i++) {
		snprintf(buf, sizeof(buf), "%d", i);
		rs_metric_add(c, v, 1);
	}
	/* Past the bound new series are dropped and counted, old ones kept. */
	snprintf(buf, sizeof(buf), "%d", RS_METRICS_MAX_SERIES + 5);
	assert_true(rs_metric_get(c, v) == 0);
	snprintf(buf, sizeof(buf), "%d", 7);
	assert_true(rs_metric_get(c, v) == 1);
	out = rs_metrics_render(m);
	assert_non_null(strstr(out, "rostersync_metrics_series_dropped_total 10\n"));
	rs_free(out);
	rs_metrics_destroy(m);
}

static size_t sink(char *p, size_t sz, size_t n, void *ud) {
	char *buf = ud;
	size_t len = strlen(buf), add = sz * n;
	if (len + add < 8192) {
		memcpy(buf + len, p, add);
		buf[len + add] = '\0';
	}
	return add;
}

static long get(int port, const char *path, char *body) {
	char url[128];
	long code = 0;
	CURL *c = curl_easy_init();
	body[0] = '\0';
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(c);
	return code;
}

static bool ready_flag(void *opaque) {
	return *(bool *)opaque;
}

static void collect(rs_metrics_t *m, void *opaque) {
	rs_metric_t *g = rs_metrics_register(m, RS_METRIC_GAUGE, "rs_collected",
					     "", NULL, NULL, 0);
	rs_metric_set(g, NULL, (double)++*(int *)opaque);
}

static void test_server(void **state) {
	rs_metrics_t *m = rs_metrics_new();
	char errstr[256], body[8192];
	bool ready = false;
	int calls = 0;
	(void)state;

	assert_int_equal(rs_metrics_serve(m, "nonsense", errstr, sizeof(errstr)),
			 RS_ERR_INVALID_ARG);
	assert_non_null(strstr(errstr, "HOST:PORT"));
	assert_int_equal(rs_metrics_serve(m, "example.com:1", errstr,
					  sizeof(errstr)),
			 RS_ERR_INVALID_ARG);
	rs_metrics_set_ready(m, ready_flag, &ready);
	rs_metrics_set_collect(m, collect, &calls);
	assert_int_equal(rs_metrics_serve(m, "127.0.0.1:0", errstr,
					  sizeof(errstr)),
			 RS_OK);
	assert_true(rs_metrics_port(m) > 0);
	assert_int_equal(get(rs_metrics_port(m), "/metrics", body), 200);
	assert_non_null(strstr(body, "rs_collected 1\n"));
	assert_int_equal(get(rs_metrics_port(m), "/healthz", body), 200);
	assert_int_equal(get(rs_metrics_port(m), "/readyz", body), 503);
	ready = true;
	assert_int_equal(get(rs_metrics_port(m), "/readyz", body), 200);
	assert_int_equal(get(rs_metrics_port(m), "/nope", body), 404);
	rs_metrics_destroy(m);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counter_gauge_render),
		cmocka_unit_test(test_clear),
		cmocka_unit_test(test_histogram),
		cmocka_unit_test(test_bad_names),
		cmocka_unit_test(test_series_bound),
		cmocka_unit_test(test_server),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
