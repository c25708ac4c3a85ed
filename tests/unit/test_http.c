/*
 * test_http.c - the HTTP client: Retry-After parsing, backoff bounds,
 * error classification from status + body, form encoding/redaction, and
 * real requests to a libmicrohttpd server started in this process on
 * 127.0.0.1 (ephemeral port).
 */
#include "rs/rs_base.h"
#include "rs/rs_http.h"
#include "rs/rs_log.h"

#include <microhttpd.h>
#include <pthread.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

/* Sun, 06 Nov 1994 08:49:37 GMT (RFC 9110's example date). */
#define T0_MS 784111777000LL

static void test_retry_after(void **state) {
	static const struct {
		const char *in;
		rs_err_t err;
		int64_t ms;
	} t[] = {
		{"0", RS_OK, 0},
		{"10", RS_OK, 10000},
		{" 10 ", RS_OK, 10000},
		{"120", RS_OK, 120000},
		{"0.25", RS_OK, 250},
		{"1.5", RS_OK, 1500},
		{"2.128", RS_OK, 2128},
		{"2.1285", RS_OK, 2129},  /* rounded up: never early */
		{"0.0001", RS_OK, 1},
		{"1.000000", RS_OK, 1000},
		{"3600", RS_OK, 3600000},
		{"4000", RS_OK, RS_HTTP_RETRY_AFTER_MAX_MS}, /* capped */
		{"99999999999", RS_OK, RS_HTTP_RETRY_AFTER_MAX_MS},
		{"Sun, 06 Nov 1994 08:49:47 GMT", RS_OK, 10000},
		{"Sunday, 06-Nov-94 08:49:47 GMT", RS_OK, 10000},
		{"Sun Nov  6 08:49:47 1994", RS_OK, 10000},
		{"Sun Nov 16 08:49:37 1994", RS_OK, RS_HTTP_RETRY_AFTER_MAX_MS},
		{"Sun, 06 Nov 1994 09:19:37 GMT", RS_OK, 1800000},
		{"Sun, 06 Nov 1994 08:49:36 GMT", RS_OK, 0}, /* past */
		{"Sat, 01 Jan 1994 00:00:00 GMT", RS_OK, 0},
		{"", RS_ERR_PARSE, 0},
		{"   ", RS_ERR_PARSE, 0},
		{"-1", RS_ERR_PARSE, 0},
		{"+5", RS_ERR_PARSE, 0},
		{"1.", RS_ERR_PARSE, 0},
		{".5", RS_ERR_PARSE, 0},
		{"1e3", RS_ERR_PARSE, 0},
		{"10s", RS_ERR_PARSE, 0},
		{"0x10", RS_ERR_PARSE, 0},
		{"1 2", RS_ERR_PARSE, 0},
		{"184467440737095516160", RS_ERR_PARSE, 0}, /* overflow */
		{"soon", RS_ERR_PARSE, 0},
		{"Sun, 06 Nov 1994 08:49:47 UTC", RS_ERR_PARSE, 0},
		{"Sun, 31 Feb 1994 08:49:47 GMT", RS_ERR_PARSE, 0},
		{"Sun, 06 Foo 1994 08:49:47 GMT", RS_ERR_PARSE, 0},
		{"Sun, 06 Nov 1994 24:00:00 GMT", RS_ERR_PARSE, 0},
		{"Sun, 06 Nov 1994 08:49:47 GMT x", RS_ERR_PARSE, 0},
		{"Funday, 06-Nov-94 08:49:47 GMT", RS_ERR_PARSE, 0},
	};
	size_t i;
	int64_t ms;

	(void)state;
	for (i = 0; i < RS_ARRAY_SIZE(t); i++) {
		rs_err_t err;
		ms = -7;
		err = rs_http_retry_after_parse(t[i].in, T0_MS, &ms);
		if (err != t[i].err || (err == RS_OK && ms != t[i].ms))
			fail_msg("'%s': got %s %lld, want %s %lld", t[i].in,
				 rs_err_name(err), (long long)ms,
				 rs_err_name(t[i].err), (long long)t[i].ms);
	}
	assert_int_equal(rs_http_retry_after_parse(NULL, T0_MS, &ms),
			 RS_ERR_PARSE);
	/* RFC 850 two-digit year: "26" read relative to a 2026 clock. */
	assert_int_equal(rs_http_retry_after_parse(
				 "Monday, 23-Nov-26 15:00:05 GMT",
				 1795446000000LL, &ms),
			 RS_OK);
	assert_int_equal(ms, 5000);
}

/* A jitter source that returns a scripted value. */
static uint64_t fixed_rand(void *opaque) {
	return *(uint64_t *)opaque;
}

static void test_backoff(void **state) {
	uint64_t v;
	int64_t d, prev;
	int a;
	uint64_t seed = 12345, seed2 = 12345;

	(void)state;
	/* Full jitter: result is rnd % (cap + 1), cap = base * 2^attempt
	 * limited by max. */
	v = UINT64_MAX;
	for (a = 0; a < 70; a++) {
		int64_t cap = a < 20 ? RS_MIN(100LL << a, 30000) : 30000;
		d = rs_http_backoff_ms(a, 100, 30000, fixed_rand, &v);
		assert_true(d >= 0 && d <= cap);
	}
	v = 0;
	assert_int_equal(rs_http_backoff_ms(5, 100, 30000, fixed_rand, &v), 0);
	v = 800; /* attempt 3: cap 800 -> the top of the range */
	assert_int_equal(rs_http_backoff_ms(3, 100, 30000, fixed_rand, &v),
			 800);
	v = 801;
	assert_int_equal(rs_http_backoff_ms(3, 100, 30000, fixed_rand, &v), 0);
	v = 30000; /* attempt 60: capped at max, no overflow */
	assert_int_equal(rs_http_backoff_ms(60, 100, 30000, fixed_rand, &v),
			 30000);
	assert_int_equal(rs_http_backoff_ms(1, 0, 30000, fixed_rand, &v), 0);
	/* No random source: no jitter, the cap itself (the worker's DLQ
	 * resend passed NULL and crashed calling it). */
	assert_int_equal(rs_http_backoff_ms(0, 200, 5000, NULL, NULL), 200);
	assert_int_equal(rs_http_backoff_ms(3, 200, 5000, NULL, NULL), 1600);
	assert_int_equal(rs_http_backoff_ms(9, 200, 5000, NULL, NULL), 5000);

	/* Decorrelated: within [base, min(max, 3 * prev)]. */
	v = UINT64_MAX;
	prev = 100;
	for (a = 0; a < 50; a++) {
		d = rs_http_backoff_decorrelated_ms(prev, 100, 20000,
						    fixed_rand, &v);
		assert_true(d >= 100 && d <= RS_MIN(20000, prev * 3));
		prev = d;
	}
	v = 0;
	assert_int_equal(rs_http_backoff_decorrelated_ms(5000, 100, 20000,
							 fixed_rand, &v),
			 100);

	/* The xorshift source is deterministic per caller-owned state. */
	for (a = 0; a < 10; a++)
		assert_int_equal(rs_http_rand_xorshift(&seed),
				 rs_http_rand_xorshift(&seed2));
	assert_int_not_equal(rs_http_rand_seed(), 0);
	for (a = 0; a < 1000; a++) {
		d = rs_http_backoff_ms(a % 12, 50, 5000, rs_http_rand_xorshift,
				       &seed);
		assert_true(d >= 0 && d <= 5000);
	}
}

static void check_class(int status, const char *body, const char *ra,
			rs_err_t code, bool retriable, int64_t ra_ms,
			const char *msg_part) {
	rs_error_t *e = rs_http_classify(status, body, body ? strlen(body) : 0,
					 ra, T0_MS, "hdr-rid");

	assert_non_null(e);
	if (rs_error_code(e) != code || rs_error_retriable(e) != retriable ||
	    rs_error_retry_after_ms(e) != ra_ms ||
	    rs_error_http_status(e) != status ||
	    (msg_part && !strstr(rs_error_msg(e), msg_part)))
		fail_msg("status %d: got %s retriable=%d ra=%lld '%s'", status,
			 rs_err_name(rs_error_code(e)), rs_error_retriable(e),
			 (long long)rs_error_retry_after_ms(e),
			 rs_error_msg(e));
	rs_error_destroy(e);
}

static void test_classify(void **state) {
	static const char graph404[] =
		"{\"error\":{\"code\":\"Request_ResourceNotFound\",\"message\":"
		"\"Resource 'x' does not exist or one of its queried "
		"reference-property objects are not present.\",\"innerError\":"
		"{\"date\":\"2020-08-18T12:51:51\",\"request-id\":"
		"\"b7b9a0d4-1111-2222-3333-444455556666\",\"client-request-id\":"
		"\"c0c0c0c0-1111-2222-3333-444455556666\"}}}";
	static const char graph429[] =
		"{\"error\":{\"code\":\"TooManyRequests\",\"innerError\":{"
		"\"code\":\"429\",\"date\":\"2020-08-18T12:51:51\",\"message\":"
		"\"Please retry after\",\"request-id\":\"r429\",\"status\":"
		"\"429\"},\"message\":\"Please retry again later.\"}}";
	static const char td429[] =
		"{\"code\":\"0012001\",\"message\":\"API rate limit exceeded\"}";
	static const char td_shed[] =
		"{\"code\":\"0020017\",\"message\":\"Load Shedding is enabled\","
		"\"fields\":[{\"name\":\"retry-after\",\"description\":\"3\"}]}";
	static const char oauth[] =
		"{\"error\":\"invalid_client\",\"error_description\":"
		"\"AADSTS7000215: Invalid client secret.\\r\\nTrace ID: x\"}";
	rs_http_api_error_t ae;

	(void)state;
	assert_null(rs_http_classify(200, "{}", 2, NULL, T0_MS, NULL));
	assert_null(rs_http_classify(204, NULL, 0, NULL, T0_MS, NULL));

	check_class(404, graph404, NULL, RS_ERR_REMOTE_NOT_FOUND, false, -1,
		    "HTTP 404 Request_ResourceNotFound: Resource 'x' does not "
		    "exist");
	/* the body's request-id wins over the header one */
	check_class(404, graph404, NULL, RS_ERR_REMOTE_NOT_FOUND, false, -1,
		    "(request-id b7b9a0d4-1111-2222-3333-444455556666)");
	check_class(429, graph429, "2.128", RS_ERR_HTTP_THROTTLED, true, 2128,
		    "TooManyRequests: Please retry again later. (request-id "
		    "r429)");
	check_class(429, td429, NULL, RS_ERR_HTTP_THROTTLED, true, -1,
		    "0012001: API rate limit exceeded (request-id hdr-rid)");
	check_class(429, td429, "garbage", RS_ERR_HTTP_THROTTLED, true, -1,
		    NULL);
	/* Talkdesk load shedding: hint in the body, header preferred */
	check_class(503, td_shed, NULL, RS_ERR_HTTP_SERVER, true, 3000,
		    "0020017");
	check_class(503, td_shed, "7", RS_ERR_HTTP_SERVER, true, 7000, NULL);
	check_class(503, "<html>busy</html>", "5", RS_ERR_HTTP_SERVER, true,
		    5000, "HTTP 503 (request-id hdr-rid)");
	check_class(504, NULL, "Sun, 06 Nov 1994 08:49:40 GMT",
		    RS_ERR_HTTP_SERVER, true, 3000, NULL);
	check_class(500, "not json", NULL, RS_ERR_HTTP_SERVER, true, -1, NULL);
	check_class(502, "", NULL, RS_ERR_HTTP_SERVER, true, -1, NULL);
	check_class(501, NULL, NULL, RS_ERR_HTTP_SERVER, false, -1, NULL);
	check_class(401, oauth, NULL, RS_ERR_AUTH, false, -1,
		    "invalid_client: AADSTS7000215: Invalid client secret.  "
		    "Trace ID: x");
	/* Retry-After is dropped on permanent errors */
	check_class(403,
		    "{\"error\":{\"code\":\"Authorization_RequestDenied\","
		    "\"message\":\"Insufficient privileges to complete the "
		    "operation.\"}}",
		    "10", RS_ERR_FORBIDDEN, false, -1,
		    "Authorization_RequestDenied");
	check_class(400,
		    "{\"error\":{\"code\":\"Request_BadRequest\",\"message\":"
		    "\"One or more added object references already exist\"}}",
		    NULL, RS_ERR_HTTP_CLIENT, false, -1, "Request_BadRequest");
	check_class(410, NULL, NULL, RS_ERR_RETIRED, false, -1, NULL);
	check_class(409, "[1,2]", NULL, RS_ERR_HTTP_CLIENT, false, -1, NULL);
	check_class(408, NULL, NULL, RS_ERR_HTTP_SERVER, true, -1, NULL);
	/* a redirect on a write must not look like success */
	check_class(302, NULL, "5", RS_ERR_HTTP_STATUS, false, -1, "HTTP 302");

	/* The parser on its own */
	assert_true(rs_http_api_error_parse(graph404, strlen(graph404), &ae));
	assert_string_equal(ae.code, "Request_ResourceNotFound");
	assert_string_equal(ae.date, "2020-08-18T12:51:51");
	assert_true(rs_http_api_error_parse(graph429, strlen(graph429), &ae));
	assert_string_equal(ae.inner_code, "429");
	assert_string_equal(ae.request_id, "r429");
	assert_true(rs_http_api_error_parse(td_shed, strlen(td_shed), &ae));
	assert_int_equal(ae.retry_after_ms, 3000);
	assert_false(rs_http_api_error_parse("{}", 2, &ae));
	assert_false(rs_http_api_error_parse("{\"error\":", 9, &ae));
	assert_false(rs_http_api_error_parse(NULL, 0, &ae));
	assert_int_equal(ae.retry_after_ms, -1);
}

static void test_form(void **state) {
	char buf[256], red[256];
	size_t len = 0;

	(void)state;
	assert_int_equal(rs_http_form_add(buf, sizeof(buf), &len, "client_id",
					  "abc"),
			 RS_OK);
	assert_int_equal(rs_http_form_add(buf, sizeof(buf), &len, "scope",
					  "https://graph.microsoft.com/.default"),
			 RS_OK);
	assert_int_equal(rs_http_form_add(buf, sizeof(buf), &len,
					  "client_secret", "p&s=w+d %~"),
			 RS_OK);
	assert_string_equal(buf, "client_id=abc&scope=https%3A%2F%2Fgraph."
				 "microsoft.com%2F.default&client_secret=p%26s"
				 "%3Dw%2Bd+%25%7E");
	assert_int_equal(len, strlen(buf));
	/* Too large leaves the buffer unchanged. */
	assert_int_equal(rs_http_form_add(buf, len + 5, &len, "x", "yyyy"),
			 RS_ERR_TOO_LARGE);
	assert_int_equal(len, strlen(buf));

	rs_http_form_redact(buf, len, red, sizeof(red));
	assert_string_equal(red, "client_id=abc&scope=https%3A%2F%2Fgraph."
				 "microsoft.com%2F.default&client_secret="
				 "[REDACTED]");
	rs_http_form_redact("client_assertion=eyJ.x.y&grant_type=c", 37, red,
			    sizeof(red));
	assert_string_equal(red,
			    "client_assertion=[REDACTED]&grant_type=c");
	rs_http_form_redact("password=hunter2", 16, red, 12);
	assert_null(strstr(red, "hunter"));
}

static void test_uuid(void **state) {
	char a[40], b[40];
	int i;

	(void)state;
	rs_http_uuid4(a, sizeof(a));
	rs_http_uuid4(b, sizeof(b));
	assert_int_equal(strlen(a), 36);
	assert_string_not_equal(a, b);
	assert_int_equal(a[14], '4');
	assert_true(strchr("89ab", a[19]) != NULL);
	for (i = 0; i < 36; i++)
		assert_true(i == 8 || i == 13 || i == 18 || i == 23
				    ? a[i] == '-'
				    : (strchr("0123456789abcdef", a[i]) != NULL));
}

/*
 * The in-process server: records the last request, answers per path.
 */
typedef struct {
	pthread_mutex_t lock;
	char method[16], url[256], auth[256], crid[128], traceparent[128],
		ctype[128], custom[128];
	char body[4096];
	size_t body_len;
	int requests;
	int connections;
} srv_t;

typedef struct {
	char buf[4096];
	size_t len;
} upload_t;

static const char *hdr(struct MHD_Connection *c, const char *name) {
	const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
	return v ? v : "";
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned int status,
			     const char *body, size_t len, const char *h1,
			     const char *v1) {
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(len, (void *)body,
					    MHD_RESPMEM_MUST_COPY);
	MHD_add_response_header(r, "Content-Type", "application/json");
	MHD_add_response_header(r, "request-id", "srv-rid-1");
	MHD_add_response_header(r, "x-ms-ags-diagnostic",
				"{\"ServerInfo\":{\"DataCenter\":\"Test\"}}");
	if (h1)
		MHD_add_response_header(r, h1, v1);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c,
			       const char *url, const char *method,
			       const char *version, const char *data,
			       size_t *data_size, void **con_cls) {
	srv_t *srv = cls;
	upload_t *up = *con_cls;

	(void)version;
	if (!up) {
		up = rs_calloc(1, sizeof(*up));
		*con_cls = up;
		return MHD_YES;
	}
	if (*data_size) {
		size_t n = RS_MIN(*data_size, sizeof(up->buf) - 1 - up->len);
		memcpy(up->buf + up->len, data, n);
		up->len += n;
		*data_size = 0;
		return MHD_YES;
	}
	pthread_mutex_lock(&srv->lock);
	srv->requests++;
	rs_snprintf(srv->method, sizeof(srv->method), "%s", method);
	rs_snprintf(srv->url, sizeof(srv->url), "%s", url);
	rs_snprintf(srv->auth, sizeof(srv->auth), "%s",
		    hdr(c, "Authorization"));
	rs_snprintf(srv->crid, sizeof(srv->crid), "%s",
		    hdr(c, "client-request-id"));
	rs_snprintf(srv->traceparent, sizeof(srv->traceparent), "%s",
		    hdr(c, "traceparent"));
	rs_snprintf(srv->ctype, sizeof(srv->ctype), "%s",
		    hdr(c, "Content-Type"));
	rs_snprintf(srv->custom, sizeof(srv->custom), "%s",
		    hdr(c, "X-Custom"));
	memcpy(srv->body, up->buf, up->len);
	srv->body[up->len] = '\0';
	srv->body_len = up->len;
	pthread_mutex_unlock(&srv->lock);

	if (!strcmp(url, "/big")) {
		static char big[65536];
		memset(big, 'x', sizeof(big));
		return reply(c, 200, big, sizeof(big), NULL, NULL);
	}
	if (!strcmp(url, "/slow")) {
		usleep(700 * 1000);
		return reply(c, 200, "{}", 2, NULL, NULL);
	}
	if (!strcmp(url, "/throttle"))
		return reply(c, 429,
			     "{\"error\":{\"code\":\"TooManyRequests\","
			     "\"message\":\"Please retry again later.\"}}",
			     strlen("{\"error\":{\"code\":\"TooManyRequests\","
				    "\"message\":\"Please retry again "
				    "later.\"}}"),
			     "Retry-After", "2");
	if (!strcmp(url, "/missing")) {
		static const char b[] =
			"{\"error\":{\"code\":\"Request_ResourceNotFound\","
			"\"message\":\"Resource 'g' does not exist\","
			"\"innerError\":{\"request-id\":\"body-rid\"}}}";
		return reply(c, 404, b, strlen(b), NULL, NULL);
	}
	if (!strcmp(url, "/busy"))
		return reply(c, 503, "{}", 2, "Retry-After", "1");
	if (!strcmp(url, "/created"))
		return reply(c, 201, "{\"id\":\"1\"}", 10, "Location",
			     "http://127.0.0.1/x/1");
	/* default: echo the method */
	return reply(c, !strcmp(method, "DELETE") ? 204 : 200, method,
		     !strcmp(method, "DELETE") ? 0 : strlen(method),
		     "client-request-id", hdr(c, "client-request-id"));
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
		      enum MHD_RequestTerminationCode toe) {
	(void)cls;
	(void)c;
	(void)toe;
	rs_free(*con_cls);
	*con_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *c,
			  void **socket_context,
			  enum MHD_ConnectionNotificationCode code) {
	srv_t *srv = cls;

	(void)c;
	(void)socket_context;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		pthread_mutex_lock(&srv->lock);
		srv->connections++;
		pthread_mutex_unlock(&srv->lock);
	}
}

typedef struct {
	int events;
	int last_status;
	rs_err_t last_err;
	char last_op[32];
} obs_t;

static void observe(const rs_http_event_t *ev, void *opaque) {
	obs_t *o = opaque;

	o->events++;
	o->last_status = ev->status;
	o->last_err = ev->err;
	rs_snprintf(o->last_op, sizeof(o->last_op), "%s", ev->op ? ev->op : "");
	assert_string_equal(ev->target, "graph");
}

static void test_live(void **state) {
	srv_t srv;
	struct MHD_Daemon *d;
	const union MHD_DaemonInfo *info;
	rs_http_conf_t conf;
	rs_http_t *http;
	rs_http_req_t req;
	rs_http_resp_t resp;
	rs_http_stats_t st;
	rs_error_t *e;
	obs_t obs = {0};
	char url[256], errstr[256], logpath[] = "/tmp/rs_test_http_XXXXXX";
	char logbuf[16384], form[256];
	size_t flen = 0;
	unsigned short port;
	int logfd, sock, conns;
	ssize_t n;
	struct sockaddr_in sa;
	socklen_t salen = sizeof(sa);

	(void)state;
	memset(&srv, 0, sizeof(srv));
	pthread_mutex_init(&srv.lock, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION |
				     MHD_USE_INTERNAL_POLLING_THREAD,
			     0, NULL, NULL, handler, &srv,
			     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
			     MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
			     MHD_OPTION_NOTIFY_CONNECTION, on_connection,
			     &srv, MHD_OPTION_END);
	assert_non_null(d);
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	port = info->port;
	assert_true(port > 0);

	/* Debug log goes to a file we inspect for secrets. */
	logfd = mkstemp(logpath);
	assert_true(logfd >= 0);
	rs_log_set_fd(logfd);
	rs_log_set_level(LOG_DEBUG);
	assert_int_equal(rs_log_set_debug("http", errstr, sizeof(errstr)), 0);

	assert_int_equal(rs_http_global_init(), RS_OK);
	rs_http_conf_init(&conf);
	conf.target = "graph";
	conf.observe_cb = observe;
	conf.observe_opaque = &obs;
	conf.ca_file = "/nonexistent/ca.pem";
	assert_null(rs_http_new(&conf, errstr, sizeof(errstr)));
	assert_non_null(strstr(errstr, "ca_file"));
	conf.ca_file = NULL;
	http = rs_http_new(&conf, errstr, sizeof(errstr));
	assert_non_null(http);
	rs_http_resp_init(&resp);

	/* GET with bearer token, custom header, traceparent, given crid */
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1.0/users", port);
	rs_http_req_init(&req, RS_HTTP_GET, url);
	req.bearer_token = "SECRET-TOKEN-abc123";
	req.client_request_id = "11111111-2222-4333-8444-555555555555";
	req.traceparent =
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
	req.op = "users.get";
	assert_int_equal(rs_http_req_add_header(&req, "X-Custom: yes"), RS_OK);
	assert_int_equal(rs_http_req_add_header(&req, "Bad\r\nX: y"),
			 RS_ERR_INVALID_ARG);
	e = rs_http_request_send(http, &req, &resp);
	assert_null(e);
	assert_int_equal(resp.status, 200);
	assert_string_equal(resp.body, "GET");
	assert_string_equal(resp.request_id, "srv-rid-1");
	assert_string_equal(resp.client_request_id,
			    "11111111-2222-4333-8444-555555555555");
	assert_string_equal(resp.content_type, "application/json");
	assert_non_null(strstr(resp.ags_diagnostic, "DataCenter"));
	assert_string_equal(srv.method, "GET");
	assert_string_equal(srv.url, "/v1.0/users");
	assert_string_equal(srv.auth, "Bearer SECRET-TOKEN-abc123");
	assert_string_equal(srv.crid, "11111111-2222-4333-8444-555555555555");
	assert_string_equal(srv.traceparent, req.traceparent);
	assert_string_equal(srv.custom, "yes");
	assert_string_equal(obs.last_op, "users.get");

	/* POST a form with a client_secret: generated crid, body arrives */
	rs_http_req_init(&req, RS_HTTP_POST, url);
	assert_int_equal(rs_http_form_add(form, sizeof(form), &flen,
					  "client_secret", "S3CR3T-form"),
			 RS_OK);
	assert_int_equal(rs_http_form_add(form, sizeof(form), &flen,
					  "grant_type", "client_credentials"),
			 RS_OK);
	req.body = form;
	req.body_len = flen;
	req.content_type = "application/x-www-form-urlencoded";
	e = rs_http_request_send(http, &req, &resp);
	assert_null(e);
	assert_string_equal(resp.body, "POST");
	assert_string_equal(srv.body, form);
	assert_string_equal(srv.ctype, "application/x-www-form-urlencoded");
	assert_int_equal(strlen(srv.crid), 36); /* generated UUID */
	assert_string_equal(srv.crid, resp.client_request_id);
	assert_string_equal(srv.auth, "");

	/* PATCH with JSON body, DELETE -> 204 */
	rs_http_req_init(&req, RS_HTTP_PATCH, url);
	req.body = "{\"a\":1}";
	req.body_len = 7;
	req.content_type = "application/json";
	e = rs_http_request_send(http, &req, &resp);
	assert_null(e);
	assert_string_equal(srv.method, "PATCH");
	assert_string_equal(srv.body, "{\"a\":1}");
	rs_http_req_init(&req, RS_HTTP_DELETE, url);
	e = rs_http_request_send(http, &req, &resp);
	assert_null(e);
	assert_int_equal(resp.status, 204);
	assert_string_equal(srv.method, "DELETE");
	assert_int_equal(resp.body_len, 0);

	/* 201 with Location */
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/created", port);
	rs_http_req_init(&req, RS_HTTP_POST, url);
	e = rs_http_request_send(http, &req, &resp);
	assert_null(e);
	assert_int_equal(resp.status, 201);
	assert_string_equal(resp.location, "http://127.0.0.1/x/1");

	/* The five requests above reused one connection (one easy handle,
	 * its connection cache survives curl_easy_reset). */
	pthread_mutex_lock(&srv.lock);
	assert_int_equal(srv.connections, 1);
	pthread_mutex_unlock(&srv.lock);

	/* Bounded body -> TOO_LARGE, not retriable */
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/big", port);
	rs_http_req_init(&req, RS_HTTP_GET, url);
	req.max_body = 1024;
	e = rs_http_request_send(http, &req, &resp);
	assert_non_null(e);
	assert_int_equal(rs_error_code(e), RS_ERR_TOO_LARGE);
	assert_false(rs_error_retriable(e));
	assert_true(resp.body_len <= 1024);
	rs_error_destroy(e);
	req.max_body = 65536; /* exactly fits */
	e = rs_http_request_send(http, &req, &resp);
	assert_null(e);
	assert_int_equal(resp.body_len, 65536);

	/* 429 with Retry-After */
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/throttle", port);
	rs_http_req_init(&req, RS_HTTP_GET, url);
	e = rs_http_request_send(http, &req, &resp);
	assert_non_null(e);
	assert_int_equal(rs_error_code(e), RS_ERR_HTTP_THROTTLED);
	assert_true(rs_error_retriable(e));
	assert_int_equal(rs_error_retry_after_ms(e), 2000);
	assert_int_equal(resp.retry_after_ms, 2000);
	assert_string_equal(resp.retry_after, "2");
	assert_string_equal(resp.api_error.code, "TooManyRequests");
	rs_error_destroy(e);

	/* 404 Graph envelope */
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/missing", port);
	rs_http_req_init(&req, RS_HTTP_DELETE, url);
	e = rs_http_request_send(http, &req, &resp);
	assert_non_null(e);
	assert_int_equal(rs_error_code(e), RS_ERR_REMOTE_NOT_FOUND);
	assert_int_equal(rs_error_http_status(e), 404);
	assert_non_null(strstr(rs_error_msg(e), "(request-id body-rid)"));
	assert_int_equal(obs.last_status, 404);
	assert_int_equal(obs.last_err, RS_ERR_REMOTE_NOT_FOUND);
	rs_error_destroy(e);

	/* 503: retriable with Retry-After, and the next request opens a new
	 * connection (Graph: retry 503 on a new connection, graph.md 5). */
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/busy", port);
	rs_http_req_init(&req, RS_HTTP_GET, url);
	e = rs_http_request_send(http, &req, &resp); /* may reconnect */
	assert_non_null(e);
	assert_int_equal(rs_error_code(e), RS_ERR_HTTP_SERVER);
	assert_true(rs_error_retriable(e));
	assert_int_equal(rs_error_retry_after_ms(e), 1000);
	rs_error_destroy(e);
	pthread_mutex_lock(&srv.lock);
	conns = srv.connections;
	pthread_mutex_unlock(&srv.lock);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/echo", port);
	rs_http_req_init(&req, RS_HTTP_GET, url);
	e = rs_http_request_send(http, &req, &resp);
	assert_null(e);
	pthread_mutex_lock(&srv.lock);
	assert_int_equal(srv.connections, conns + 1);
	pthread_mutex_unlock(&srv.lock);

	/* Timeout -> TIMEOUT, retriable */
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/slow", port);
	rs_http_req_init(&req, RS_HTTP_GET, url);
	req.timeout_ms = 200;
	e = rs_http_request_send(http, &req, &resp);
	assert_non_null(e);
	assert_int_equal(rs_error_code(e), RS_ERR_TIMEOUT);
	assert_true(rs_error_retriable(e));
	assert_int_equal(resp.status, 0);
	rs_error_destroy(e);

	/* Connection refused -> transport, retriable: bind a port, close. */
	sock = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(sock >= 0);
	sa.sin_port = 0;
	assert_int_equal(bind(sock, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(sock, (struct sockaddr *)&sa, &salen), 0);
	close(sock);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/x",
		 ntohs(sa.sin_port));
	rs_http_req_init(&req, RS_HTTP_GET, url);
	e = rs_http_request_send(http, &req, &resp);
	assert_non_null(e);
	assert_int_equal(rs_error_code(e), RS_ERR_HTTP_TRANSPORT);
	assert_true(rs_error_retriable(e));
	rs_error_destroy(e);

	/* Non-http scheme refused before any I/O */
	rs_http_req_init(&req, RS_HTTP_GET, "file:///etc/passwd");
	e = rs_http_request_send(http, &req, &resp);
	assert_int_equal(rs_error_code(e), RS_ERR_INVALID_ARG);
	rs_error_destroy(e);

	rs_http_stats_get(http, &st);
	assert_int_equal(st.requests, 13);
	/* the TOO_LARGE answer had status 200 too */
	assert_int_equal(st.status_2xx, 8);
	assert_int_equal(st.status_5xx, 1);
	assert_int_equal(st.status_4xx, 2);
	assert_int_equal(st.throttled, 1);
	assert_int_equal(st.timeouts, 1);
	assert_int_equal(st.transport_errors, 2);
	assert_int_equal(st.too_large, 1);
	assert_true(st.bytes_received >= 65536);
	assert_true(st.bytes_sent >= flen + 7);
	assert_int_equal(obs.events, 13);

	/* The debug log saw the requests but no secret. */
	rs_log_set_fd(2);
	rs_log_set_debug("", errstr, sizeof(errstr));
	n = pread(logfd, logbuf, sizeof(logbuf) - 1, 0);
	assert_true(n > 0);
	logbuf[n] = '\0';
	close(logfd);
	unlink(logpath);
	assert_non_null(strstr(logbuf, "/v1.0/users"));
	assert_non_null(strstr(logbuf, "Bearer [REDACTED]"));
	assert_non_null(strstr(logbuf, "client_secret=[REDACTED]"));
	assert_null(strstr(logbuf, "SECRET-TOKEN-abc123"));
	assert_null(strstr(logbuf, "S3CR3T-form"));

	rs_http_resp_cleanup(&resp);
	rs_http_destroy(http);
	rs_http_destroy(NULL);
	MHD_stop_daemon(d);
	rs_http_global_cleanup();
	pthread_mutex_destroy(&srv.lock);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_retry_after),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_form),
		cmocka_unit_test(test_uuid),
		cmocka_unit_test(test_live),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
