/*
 * test_auth.c - the per-tenant token provider (rs_auth.h) against a mock
 * token endpoint: a tiny libmicrohttpd server on 127.0.0.1:0 inside the
 * test that counts requests and records what it received.
 *
 * Proves: the request each flavour sends (Entra form + secret, Entra
 * certificate assertion, Talkdesk Basic + scopes), token URL derivation,
 * cache reuse and refresh near expiry (injected clock), single flight under
 * N threads, invalidate -> exactly one refresh, per-tenant isolation, the
 * error mapping (AADSTS codes permanent, 5xx/429/transport retriable), and
 * that no secret reaches the log of a failing request.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "rs/rs_base.h"
#include "rs/rs_auth.h"
#include "rs/rs_http.h"
#include "rs/rs_jwt.h"
#include "rs/rs_log.h"
#include "rs_auth_int.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#include "test_jwt_keys.inc"

static tk_t tk;

/* ------------------------------------------------------------------ */
/* The mock token endpoint                                             */
/* ------------------------------------------------------------------ */

typedef struct mock_s {
	struct MHD_Daemon *d;
	int port;
	char url[128];
	pthread_mutex_t lock;
	/* @locks lock */
	int requests;
	int status;         /* answer status; 200 = a token */
	char body[2048];    /* answer body when status != 200 */
	bool echo;          /* append the request form to error bodies */
	int delay_ms;       /* before answering */
	int expires_in;
	const char *retry_after;
	char last_form[8192];
	char last_auth[512];
	char last_path[256];
} mock_t;

typedef struct conn_s {
	char form[8192];
	size_t len;
} conn_t;

static enum MHD_Result mock_handler(void *cls, struct MHD_Connection *conn,
				    const char *url, const char *method,
				    const char *version, const char *upload,
				    size_t *upload_size, void **con_cls) {
	mock_t *m = cls;
	conn_t *c = *con_cls;
	struct MHD_Response *resp;
	const char *auth;
	char out[12288];
	int status, seq, delay;
	enum MHD_Result ret;
	(void)method;
	(void)version;

	if (!c) {
		c = rs_calloc(1, sizeof(*c));
		*con_cls = c;
		return MHD_YES;
	}
	if (*upload_size) {
		size_t n = RS_MIN(*upload_size, sizeof(c->form) - 1 - c->len);
		memcpy(c->form + c->len, upload, n);
		c->len += n;
		c->form[c->len] = '\0';
		*upload_size = 0;
		return MHD_YES;
	}
	auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
					   "Authorization");
	pthread_mutex_lock(&m->lock);
	seq = ++m->requests;
	status = m->status;
	delay = m->delay_ms;
	snprintf(m->last_form, sizeof(m->last_form), "%s", c->form);
	snprintf(m->last_auth, sizeof(m->last_auth), "%s", auth ? auth : "");
	snprintf(m->last_path, sizeof(m->last_path), "%s", url);
	if (status == 200) {
		/* The token names the client (form client_id, or the Basic
		 * header) so isolation tests see whose token they got. */
		const char *cid = strstr(c->form, "client_id=");
		int cl = cid ? (int)strcspn(cid + 10, "&") : 0;
		snprintf(out, sizeof(out),
			 "{\"token_type\":\"Bearer\",\"expires_in\":%d,"
			 "\"access_token\":\"tok-%.*s-%d\"}",
			 m->expires_in, cl, cid ? cid + 10 : "", seq);
	} else if (m->echo) {
		/* A hostile or buggy server that echoes what it got. */
		snprintf(out, sizeof(out),
			 "{\"error\":\"invalid_client\",\"error_description\":"
			 "\"AADSTS7000215: got %s auth %s\"}",
			 c->form, auth ? auth : "");
	} else {
		snprintf(out, sizeof(out), "%s", m->body);
	}
	pthread_mutex_unlock(&m->lock);
	if (delay)
		rs_sleep_ms(delay);
	resp = MHD_create_response_from_buffer(strlen(out), out,
					       MHD_RESPMEM_MUST_COPY);
	MHD_add_response_header(resp, "Content-Type", "application/json");
	if (m->retry_after)
		MHD_add_response_header(resp, "Retry-After", m->retry_after);
	ret = MHD_queue_response(conn, (unsigned int)status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void mock_completed(void *cls, struct MHD_Connection *conn,
			   void **con_cls, enum MHD_RequestTerminationCode t) {
	(void)cls;
	(void)conn;
	(void)t;
	rs_free(*con_cls);
	*con_cls = NULL;
}

static void mock_start(mock_t *m) {
	struct sockaddr_in sa;
	const union MHD_DaemonInfo *info;

	memset(m, 0, sizeof(*m));
	pthread_mutex_init(&m->lock, NULL);
	m->status = 200;
	m->expires_in = 3599;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	m->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
					MHD_USE_THREAD_PER_CONNECTION |
					MHD_USE_ERROR_LOG,
				0, NULL, NULL, mock_handler, m,
				MHD_OPTION_SOCK_ADDR, &sa,
				MHD_OPTION_NOTIFY_COMPLETED, mock_completed,
				NULL, MHD_OPTION_END);
	assert_non_null(m->d);
	info = MHD_get_daemon_info(m->d, MHD_DAEMON_INFO_BIND_PORT);
	m->port = info->port;
	snprintf(m->url, sizeof(m->url), "http://127.0.0.1:%d", m->port);
}

static void mock_stop(mock_t *m) {
	MHD_stop_daemon(m->d);
	pthread_mutex_destroy(&m->lock);
}

static int mock_requests(mock_t *m) {
	int n;
	pthread_mutex_lock(&m->lock);
	n = m->requests;
	pthread_mutex_unlock(&m->lock);
	return n;
}

/* An injected monotonic clock: tests move time, nothing global. */
typedef struct tclock_s {
	_Atomic int64_t now;
} tclock_t;

static int64_t tclock_now(void *opaque) {
	return atomic_load(&((tclock_t *)opaque)->now);
}

static void entra_conf(rs_auth_conf_t *c, mock_t *m, tclock_t *clk,
		       const char *tenant, const char *client_id) {
	rs_auth_conf_init(c);
	c->flavour = RS_AUTH_ENTRA;
	c->tenant = tenant;
	c->login_base_url = m->url;
	c->directory = "contoso.onmicrosoft.com";
	c->client_id = client_id;
	c->client_secret = "Sup3rS3cretValue~x";
	c->timeout_ms = 3000;
	if (clk) {
		c->now_ms = tclock_now;
		c->clock_opaque = clk;
	}
}

static int group_setup(void **state) {
	(void)state;
	if (rs_http_global_init() != RS_OK)
		return -1;
	return tk_make(&tk);
}

static int group_teardown(void **state) {
	(void)state;
	tk_free(&tk);
	rs_http_global_cleanup();
	return 0;
}

/* ------------------------------------------------------------------ */
/* Construction and requests                                           */
/* ------------------------------------------------------------------ */

static void test_token_url(void **state) {
	rs_auth_conf_t c;
	rs_auth_t *a;
	char errstr[256];
	(void)state;

	/* Entra: public cloud by default, sovereign base configurable. */
	rs_auth_conf_init(&c);
	c.tenant = "t1";
	c.client_id = "app";
	c.client_secret = "s";
	c.directory = "contoso.onmicrosoft.com";
	a = rs_auth_new(&c, errstr, sizeof(errstr));
	assert_non_null(a);
	assert_string_equal(rs_auth_token_url(a),
			    "https://login.microsoftonline.com/"
			    "contoso.onmicrosoft.com/oauth2/v2.0/token");
	rs_auth_destroy(a);
	c.login_base_url = "https://login.microsoftonline.us/";
	a = rs_auth_new(&c, errstr, sizeof(errstr));
	assert_string_equal(rs_auth_token_url(a),
			    "https://login.microsoftonline.us/"
			    "contoso.onmicrosoft.com/oauth2/v2.0/token");
	rs_auth_destroy(a);
	/* A directory that would change the path is refused. */
	c.directory = "evil/../x";
	assert_null(rs_auth_new(&c, errstr, sizeof(errstr)));
	assert_non_null(strstr(errstr, "directory"));

	/* Talkdesk: token host per account, differs from the API host. */
	rs_auth_conf_init(&c);
	c.flavour = RS_AUTH_TALKDESK;
	c.tenant = "t1";
	c.client_id = "app";
	c.client_secret = "s";
	assert_null(rs_auth_new(&c, errstr, sizeof(errstr)));
	assert_non_null(strstr(errstr, "token_url or login_base_url"));
	c.login_base_url = "https://acme.talkdeskid.eu";
	a = rs_auth_new(&c, errstr, sizeof(errstr));
	assert_string_equal(rs_auth_token_url(a),
			    "https://acme.talkdeskid.eu/oauth/token");
	rs_auth_destroy(a);
	c.token_url = "http://127.0.0.1:1/talkdesk/oauth/token";
	a = rs_auth_new(&c, errstr, sizeof(errstr));
	assert_string_equal(rs_auth_token_url(a), c.token_url);
	rs_auth_destroy(a);
	/* Talkdesk takes a secret only; an empty secret is refused. */
	c.cred = RS_AUTH_CRED_PFX;
	assert_null(rs_auth_new(&c, errstr, sizeof(errstr)));
	c.cred = RS_AUTH_CRED_SECRET;
	c.client_secret = "";
	assert_null(rs_auth_new(&c, errstr, sizeof(errstr)));

	/* Genesys: default login host. */
	rs_auth_conf_init(&c);
	c.flavour = RS_AUTH_GENESYS;
	c.tenant = "t1";
	c.client_id = "app";
	c.client_secret = "s";
	a = rs_auth_new(&c, errstr, sizeof(errstr));
	assert_string_equal(rs_auth_token_url(a),
			    "https://login.mypurecloud.com/oauth/token");
	rs_auth_destroy(a);
	assert_string_equal(rs_auth_flavour_name(RS_AUTH_TALKDESK),
			    "talkdesk");

	/* A wrong PFX password fails at creation, not at the first job. */
	rs_auth_conf_init(&c);
	c.tenant = "t1";
	c.client_id = "app";
	c.directory = "contoso.onmicrosoft.com";
	c.cred = RS_AUTH_CRED_PFX;
	c.pfx_path = tk.pfx;
	c.pfx_password = "wrong";
	assert_null(rs_auth_new(&c, errstr, sizeof(errstr)));
	assert_non_null(strstr(errstr, "wrong PFX password"));
}

static void test_entra_secret_request(void **state) {
	mock_t m;
	rs_auth_conf_t c;
	rs_auth_t *a;
	char tok[256], errstr[256];
	(void)state;

	mock_start(&m);
	entra_conf(&c, &m, NULL, "t1", "app-1");
	c.client_secret = "s3cr+t&=x y";
	a = rs_auth_new(&c, errstr, sizeof(errstr));
	assert_non_null(a);
	assert_int_equal(rs_auth_token(a, tok, sizeof(tok), NULL), RS_OK);
	assert_string_equal(tok, "tok-app-1-1");
	assert_string_equal(m.last_path,
			    "/contoso.onmicrosoft.com/oauth2/v2.0/token");
	/* The documented form, the secret URL-encoded, no Basic header. */
	assert_non_null(strstr(m.last_form, "grant_type=client_credentials"));
	assert_non_null(strstr(m.last_form, "client_id=app-1"));
	assert_non_null(strstr(m.last_form, "scope=https%3A%2F%2Fgraph."
					    "microsoft.com%2F.default"));
	assert_non_null(strstr(m.last_form, "client_secret=s3cr%2Bt%26%3Dx+y"));
	assert_string_equal(m.last_auth, "");
	/* A too-small buffer is refused, not overrun. */
	assert_int_equal(rs_auth_token(a, tok, 5, NULL), RS_ERR_TOO_LARGE);
	assert_int_equal(rs_auth_requests(a), 1);
	rs_auth_destroy(a);
	mock_stop(&m);
}

static void test_talkdesk_request(void **state) {
	mock_t m;
	rs_auth_conf_t c;
	rs_auth_t *a;
	char tok[256], errstr[256], url[256];
	(void)state;

	mock_start(&m);
	rs_auth_conf_init(&c);
	c.flavour = RS_AUTH_TALKDESK;
	c.tenant = "t1";
	snprintf(url, sizeof(url), "%s/talkdesk/oauth/token", m.url);
	c.token_url = url;
	c.client_id = "td-client";
	c.client_secret = "td-secret";
	c.scope = "users:read ring-groups:read";
	a = rs_auth_new(&c, errstr, sizeof(errstr));
	assert_non_null(a);
	assert_int_equal(rs_auth_token(a, tok, sizeof(tok), NULL), RS_OK);
	assert_string_equal(m.last_path, "/talkdesk/oauth/token");
	/* Basic base64("td-client:td-secret"); scopes space-separated. */
	assert_string_equal(m.last_auth,
			    "Basic dGQtY2xpZW50OnRkLXNlY3JldA==");
	assert_string_equal(m.last_form, "grant_type=client_credentials&"
					 "scope=users%3Aread+ring-groups%"
					 "3Aread");
	rs_auth_destroy(a);
	mock_stop(&m);
}

static const char *jstr(cJSON *o, const char *k) {
	cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : "";
}

static void test_entra_cert_request(void **state) {
	mock_t m;
	rs_auth_conf_t c;
	rs_auth_t *a;
	char tok[256], errstr[256], want[64], jwt[4096], part[2048];
	const char *p, *d1, *d2;
	cJSON *hdr, *pl;
	size_t n;
	unsigned char sig[512];
	size_t sig_len;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	(void)state;

	mock_start(&m);
	entra_conf(&c, &m, NULL, "t1", "app-cert");
	c.cred = RS_AUTH_CRED_PFX;
	c.client_secret = NULL;
	c.pfx_path = tk.pfx;
	c.pfx_password = TK_PFX_PASS;
	a = rs_auth_new(&c, errstr, sizeof(errstr));
	assert_non_null(a);
	assert_int_equal(rs_auth_token(a, tok, sizeof(tok), NULL), RS_OK);
	assert_null(strstr(m.last_form, "client_secret"));
	assert_non_null(strstr(m.last_form,
			       "client_assertion_type=urn%3Aietf%3Aparams%3A"
			       "oauth%3Aclient-assertion-type%3Ajwt-bearer"));
	p = strstr(m.last_form, "client_assertion=");
	assert_non_null(p);
	/* base64url and dots need no escaping: the JWT is verbatim. */
	snprintf(jwt, sizeof(jwt), "%.*s", (int)strcspn(p + 17, "&"), p + 17);
	d1 = strchr(jwt, '.');
	d2 = strchr(d1 + 1, '.');
	assert_int_equal(rs_jwt_b64url_decode(jwt, (size_t)(d1 - jwt), part,
					      sizeof(part) - 1, &n),
			 RS_OK);
	part[n] = '\0';
	hdr = cJSON_Parse(part);
	assert_int_equal(rs_jwt_b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1),
					      part, sizeof(part) - 1, &n),
			 RS_OK);
	part[n] = '\0';
	pl = cJSON_Parse(part);
	tk_thumbprint(tk.cert, EVP_sha256(), want, sizeof(want));
	assert_string_equal(jstr(hdr, "alg"), "PS256");
	assert_string_equal(jstr(hdr, "x5t#S256"), want);
	/* aud is exactly the URL the request went to. */
	assert_string_equal(jstr(pl, "aud"), rs_auth_token_url(a));
	assert_string_equal(jstr(pl, "iss"), "app-cert");
	assert_string_equal(jstr(pl, "sub"), "app-cert");
	/* And it is signed by the registered certificate's key. */
	assert_int_equal(rs_jwt_b64url_decode(d2 + 1, strlen(d2 + 1), sig,
					      sizeof(sig), &sig_len),
			 RS_OK);
	assert_int_equal(EVP_DigestVerifyInit(md, &pctx, EVP_sha256(), NULL,
					      X509_get0_pubkey(tk.cert)),
			 1);
	EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
	EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32);
	assert_int_equal(EVP_DigestVerify(md, sig, sig_len,
					  (const unsigned char *)jwt,
					  (size_t)(d2 - jwt)),
			 1);
	EVP_MD_CTX_free(md);
	cJSON_Delete(hdr);
	cJSON_Delete(pl);
	rs_auth_destroy(a);

	/* PEM key + certificate work the same way. */
	c.cred = RS_AUTH_CRED_PEM;
	c.key_pem_path = tk.key_enc_pem;
	c.cert_pem_path = tk.cert_pem;
	c.key_password = TK_PEM_PASS;
	c.assertion_alg = RS_JWT_RS256;
	a = rs_auth_new(&c, errstr, sizeof(errstr));
	assert_non_null(a);
	assert_int_equal(rs_auth_token(a, tok, sizeof(tok), NULL), RS_OK);
	assert_non_null(strstr(m.last_form, "client_assertion=ey"));
	rs_auth_destroy(a);
	mock_stop(&m);
}

/* ------------------------------------------------------------------ */
/* The cache                                                           */
/* ------------------------------------------------------------------ */

static void test_refresh_margin(void **state) {
	(void)state;
	/* max(60 s, 10 %) ... */
	assert_int_equal(auth_refresh_margin_ms(3600000, 60, 10), 360000);
	assert_int_equal(auth_refresh_margin_ms(300000, 60, 10), 60000);
	/* ... capped at half the lifetime. */
	assert_int_equal(auth_refresh_margin_ms(100000, 60, 10), 50000);
}

static void test_cache_reuse_and_refresh(void **state) {
	mock_t m;
	tclock_t clk = {1000000};
	rs_auth_conf_t c;
	rs_auth_t *a;
	char tok[256], errstr[256];
	(void)state;

	mock_start(&m);
	m.expires_in = 3600;
	entra_conf(&c, &m, &clk, "t1", "app");
	a = rs_auth_new(&c, errstr, sizeof(errstr));
	assert_int_equal(rs_auth_token(a, tok, sizeof(tok), NULL), RS_OK);
	assert_string_equal(tok, "tok-app-1");
	/* Reused while more than max(60 s, 360 s) remains. */
	clk.now += 3239 * 1000;
	assert_int_equal(rs_auth_token(a, tok, sizeof(tok), NULL), RS_OK);
	assert_string_equal(tok, "tok-app-1");
	assert_int_equal(mock_requests(&m), 1);
	/* Inside the last 360 s: refreshed once, then reused again. */
	clk.now += 2 * 1000;
	assert_int_equal(rs_auth_token(a, tok, sizeof(tok), NULL), RS_OK);
	assert_string_equal(tok, "tok-app-2");
	assert_int_equal(rs_auth_token(a, tok, sizeof(tok), NULL), RS_OK);
	assert_string_equal(tok, "tok-app-2");
	assert_int_equal(mock_requests(&m), 2);

	/* A failed proactive refresh keeps the still-valid token... */
	clk.now += 3300 * 1000;
	m.status = 503;
	snprintf(m.body, sizeof(m.body), "{\"error\":\"temporarily_unavailable\"}");
	assert_int_equal(rs_auth_token(a, tok, sizeof(tok), NULL), RS_OK);
	assert_string_equal(tok, "tok-app-2");
	assert_int_equal(mock_requests(&m), 3);
	/* ...until it has expired: then the retriable error surfaces. */
	clk.now += 301 * 1000;
	{
		rs_error_t *e = NULL;
		assert_int_equal(rs_auth_token(a, tok, sizeof(tok), &e),
				 RS_ERR_HTTP_SERVER);
		assert_true(rs_error_retriable(e));
		assert_int_equal(rs_error_http_status(e), 503);
		rs_error_destroy(e);
	}
	rs_auth_destroy(a);
	mock_stop(&m);
}

typedef struct worker_arg_s {
	rs_auth_t *a;
	pthread_barrier_t *bar;
	const char *invalidate; /* token to invalidate first, or NULL */
	rs_err_t err;
	char tok[256];
	int loops;
	const char *want_prefix;
	int wrong;
} worker_arg_t;

static void *worker(void *p) {
	worker_arg_t *w = p;
	int i;

	pthread_barrier_wait(w->bar);
	if (w->invalidate)
		rs_auth_invalidate(w->a, w->invalidate);
	w->err = rs_auth_token(w->a, w->tok, sizeof(w->tok), NULL);
	for (i = 1; i < w->loops; i++) {
		char t[256];
		if (rs_auth_token(w->a, t, sizeof(t), NULL) != RS_OK ||
		    strncmp(t, w->want_prefix, strlen(w->want_prefix)))
			w->wrong++;
		if (i % 7 == 0)
			rs_auth_invalidate(w->a, t);
	}
	return NULL;
}

#define NTHREADS 8

static void run_threads(worker_arg_t *w, int n) {
	pthread_t th[NTHREADS * 2];
	pthread_barrier_t bar;
	int i;

	pthread_barrier_init(&bar, NULL, (unsigned)n);
	for (i = 0; i < n; i++) {
		w[i].bar = &bar;
		pthread_create(&th[i], NULL, worker, &w[i]);
	}
	for (i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&bar);
}

static void test_single_flight(void **state) {
	mock_t m;
	rs_auth_conf_t c;
	rs_auth_t *a;
	worker_arg_t w[NTHREADS];
	char errstr[256];
	int i;
	(void)state;

	mock_start(&m);
	m.delay_ms = 200; /* every caller arrives while the fetch is slow */
	entra_conf(&c, &m, NULL, "t1", "app");
	a = rs_auth_new(&c, errstr, sizeof(errstr));
	memset(w, 0, sizeof(w));
	for (i = 0; i < NTHREADS; i++)
		w[i].a = a;
	run_threads(w, NTHREADS);
	assert_int_equal(mock_requests(&m), 1);
	for (i = 0; i < NTHREADS; i++) {
		assert_int_equal(w[i].err, RS_OK);
		assert_string_equal(w[i].tok, "tok-app-1");
	}

	/* Invalidate after a 401, from every thread at once: ONE refresh. */
	for (i = 0; i < NTHREADS; i++)
		w[i].invalidate = "tok-app-1";
	run_threads(w, NTHREADS);
	assert_int_equal(mock_requests(&m), 2);
	for (i = 0; i < NTHREADS; i++)
		assert_string_equal(w[i].tok, "tok-app-2");
	/* A stale token (already replaced) invalidates nothing. */
	rs_auth_invalidate(a, "tok-app-1");
	assert_int_equal(rs_auth_token(a, w[0].tok, sizeof(w[0].tok), NULL),
			 RS_OK);
	assert_string_equal(w[0].tok, "tok-app-2");
	assert_int_equal(mock_requests(&m), 2);
	rs_auth_destroy(a);

	/* Waiters share a failed fetch's error instead of each retrying. */
	m.status = 401;
	snprintf(m.body, sizeof(m.body),
		 "{\"error\":\"invalid_client\",\"error_codes\":[7000215]}");
	a = rs_auth_new(&c, errstr, sizeof(errstr));
	for (i = 0; i < NTHREADS; i++) {
		w[i].a = a;
		w[i].invalidate = NULL;
	}
	run_threads(w, NTHREADS);
	assert_int_equal(mock_requests(&m), 3);
	for (i = 0; i < NTHREADS; i++)
		assert_int_equal(w[i].err, RS_ERR_AUTH);
	rs_auth_destroy(a);
	mock_stop(&m);
}

static void test_tenant_isolation(void **state) {
	mock_t m;
	rs_auth_conf_t c;
	rs_auth_t *a, *b;
	worker_arg_t w[NTHREADS];
	char errstr[256], ta[256], tb[256];
	int i;
	(void)state;

	mock_start(&m);
	entra_conf(&c, &m, NULL, "tenant-a", "app-a");
	a = rs_auth_new(&c, errstr, sizeof(errstr));
	entra_conf(&c, &m, NULL, "tenant-b", "app-b");
	b = rs_auth_new(&c, errstr, sizeof(errstr));
	/* Threads hammer both providers, invalidating now and then: each
	 * only ever hands out its own client's token. */
	memset(w, 0, sizeof(w));
	for (i = 0; i < NTHREADS; i++) {
		w[i].a = i % 2 ? b : a;
		w[i].loops = 50;
		w[i].want_prefix = i % 2 ? "tok-app-b-" : "tok-app-a-";
	}
	run_threads(w, NTHREADS);
	for (i = 0; i < NTHREADS; i++) {
		assert_int_equal(w[i].wrong, 0);
		assert_int_equal(strncmp(w[i].tok, w[i].want_prefix,
					 strlen(w[i].want_prefix)),
				 0);
	}
	/* Invalidating a's token leaves b's cache alone. */
	assert_int_equal(rs_auth_token(a, ta, sizeof(ta), NULL), RS_OK);
	assert_int_equal(rs_auth_token(b, tb, sizeof(tb), NULL), RS_OK);
	i = mock_requests(&m);
	rs_auth_invalidate(b, ta);
	rs_auth_invalidate(a, ta);
	assert_int_equal(rs_auth_token(b, errstr, sizeof(errstr), NULL), RS_OK);
	assert_string_equal(errstr, tb);
	assert_int_equal(mock_requests(&m), i);
	assert_int_equal(rs_auth_token(a, errstr, sizeof(errstr), NULL), RS_OK);
	assert_string_not_equal(errstr, ta);
	assert_int_equal(mock_requests(&m), i + 1);
	rs_auth_destroy(a);
	rs_auth_destroy(b);
	mock_stop(&m);
}

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

static void test_error_mapping(void **state) {
	rs_error_t *e;
	(void)state;

	/* Bad secret: permanent, the AADSTS code and a hint in the text. */
	e = auth_map_error(
		"t1", "entra", 401,
		"{\"error\":\"invalid_client\",\"error_description\":"
		"\"AADSTS7000215: Invalid client secret provided.\\r\\nTrace "
		"ID: abc\\r\\nCorrelation ID: def\",\"error_codes\":[7000215]}",
		-1);
	assert_int_equal(rs_error_code(e), RS_ERR_AUTH);
	assert_false(rs_error_retriable(e));
	assert_int_equal(rs_error_http_status(e), 401);
	assert_non_null(strstr(rs_error_msg(e), "invalid_client"));
	assert_non_null(strstr(rs_error_msg(e), "AADSTS7000215"));
	assert_non_null(strstr(rs_error_msg(e), "invalid client secret"));
	assert_non_null(strstr(rs_error_msg(e), "tenant t1"));
	/* Only the first line of the description (no trace ids). */
	assert_null(strstr(rs_error_msg(e), "Trace ID"));
	rs_error_destroy(e);

	/* Code read from the description when error_codes is absent. */
	e = auth_map_error("t1", "entra", 400,
			   "{\"error\":\"unauthorized_client\","
			   "\"error_description\":\"AADSTS700016: Application "
			   "with identifier 'x' was not found\"}",
			   -1);
	assert_int_equal(rs_error_code(e), RS_ERR_AUTH);
	assert_false(rs_error_retriable(e));
	assert_non_null(strstr(rs_error_msg(e), "AADSTS700016"));
	rs_error_destroy(e);

	e = auth_map_error("t1", "entra", 400,
			   "{\"error\":\"invalid_client\",\"error_codes\":"
			   "[700024]}",
			   -1);
	assert_false(rs_error_retriable(e));
	assert_non_null(strstr(rs_error_msg(e), "AADSTS700024"));
	assert_non_null(strstr(rs_error_msg(e), "clock skew"));
	rs_error_destroy(e);

	/* Transient STS conditions are retriable. */
	e = auth_map_error("t1", "entra", 400,
			   "{\"error\":\"temporarily_unavailable\"}", -1);
	assert_true(rs_error_retriable(e));
	rs_error_destroy(e);
	e = auth_map_error("t1", "entra", 400,
			   "{\"error\":\"invalid_request\",\"error_codes\":"
			   "[90024]}",
			   -1);
	assert_true(rs_error_retriable(e));
	rs_error_destroy(e);
	e = auth_map_error("t1", "entra", 503, "<html>oops</html>", -1);
	assert_int_equal(rs_error_code(e), RS_ERR_HTTP_SERVER);
	assert_true(rs_error_retriable(e));
	rs_error_destroy(e);
	e = auth_map_error("t1", "talkdesk", 429, NULL, 7000);
	assert_int_equal(rs_error_code(e), RS_ERR_HTTP_THROTTLED);
	assert_true(rs_error_retriable(e));
	assert_int_equal(rs_error_retry_after_ms(e), 7000);
	rs_error_destroy(e);
	/* Talkdesk-style error: permanent, names the OAuth error. */
	e = auth_map_error("t1", "talkdesk", 401,
			   "{\"error\":\"invalid_client\",\"error_description\":"
			   "\"Client authentication failed\"}",
			   -1);
	assert_int_equal(rs_error_code(e), RS_ERR_AUTH);
	assert_false(rs_error_retriable(e));
	assert_non_null(strstr(rs_error_msg(e), "Client authentication failed"));
	rs_error_destroy(e);

	{
		char msg[] = "a SECRETVAL b SECRETVAL";
		auth_redact(msg, "SECRETVAL");
		assert_string_equal(msg, "a *** b ***");
	}
}

static void test_errors_over_http(void **state) {
	mock_t m;
	rs_auth_conf_t c;
	rs_auth_t *a;
	rs_error_t *e = NULL;
	char tok[256], errstr[256], url[128];
	int port;
	(void)state;

	mock_start(&m);
	entra_conf(&c, &m, NULL, "t1", "app");
	a = rs_auth_new(&c, errstr, sizeof(errstr));
	m.status = 429;
	m.retry_after = "3";
	snprintf(m.body, sizeof(m.body), "{}");
	assert_int_equal(rs_auth_token(a, tok, sizeof(tok), &e),
			 RS_ERR_HTTP_THROTTLED);
	assert_true(rs_error_retriable(e));
	assert_int_equal(rs_error_retry_after_ms(e), 3000);
	rs_error_destroy(e);
	/* 200 without a token is a bad response, not a crash. */
	m.status = 200;
	m.retry_after = NULL;
	rs_auth_destroy(a);
	port = m.port;
	mock_stop(&m);

	/* Nobody listening: a retriable transport error. */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
	c.login_base_url = url;
	a = rs_auth_new(&c, errstr, sizeof(errstr));
	assert_int_equal(rs_auth_token(a, tok, sizeof(tok), &e),
			 RS_ERR_HTTP_TRANSPORT);
	assert_true(rs_error_retriable(e));
	rs_error_destroy(e);
	rs_auth_destroy(a);
}

/* Reads everything written to fd so far. */
static void read_all(int fd, char *buf, size_t size) {
	ssize_t n;
	size_t len = 0;

	lseek(fd, 0, SEEK_SET);
	while (len + 1 < size && (n = read(fd, buf + len, size - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
}

static void test_secret_not_in_logs(void **state) {
	mock_t m;
	rs_auth_conf_t c;
	rs_auth_t *a;
	rs_error_t *e = NULL;
	char tok[256], errstr[256], logbuf[16384];
	char path[] = "/tmp/rs-authlog-XXXXXX";
	int fd = mkstemp(path);
	(void)state;

	assert_true(fd >= 0);
	unlink(path);
	rs_log_set_fd(fd);
	assert_int_equal(rs_log_set_debug("auth,http", errstr, sizeof(errstr)), 0);

	mock_start(&m);
	m.status = 401;
	m.echo = true; /* the server echoes the form into its error */
	entra_conf(&c, &m, NULL, "t1", "app");
	a = rs_auth_new(&c, errstr, sizeof(errstr));
	assert_int_equal(rs_auth_token(a, tok, sizeof(tok), &e), RS_ERR_AUTH);
	/* The echo did come back (so the test can fail)... */
	assert_non_null(strstr(m.last_form, "Sup3rS3cretValue%7Ex"));
	read_all(fd, logbuf, sizeof(logbuf));
	assert_non_null(strstr(logbuf, "AADSTS7000215"));
	/* ...but neither the log nor the error carries the secret. */
	assert_null(strstr(logbuf, "Sup3rS3cretValue"));
	assert_null(strstr(rs_error_msg(e), "Sup3rS3cretValue"));
	rs_error_destroy(e);
	rs_auth_destroy(a);

	/* The same for a certificate: the assertion is a credential too. */
	entra_conf(&c, &m, NULL, "t1", "app");
	c.cred = RS_AUTH_CRED_PFX;
	c.pfx_path = tk.pfx;
	c.pfx_password = TK_PFX_PASS;
	a = rs_auth_new(&c, errstr, sizeof(errstr));
	assert_int_equal(rs_auth_token(a, tok, sizeof(tok), &e), RS_ERR_AUTH);
	read_all(fd, logbuf, sizeof(logbuf));
	{
		const char *p = strstr(m.last_form, "client_assertion=");
		char sigpart[64];
		assert_non_null(p);
		/* the signature part of the assertion that was sent */
		p = strrchr(p, '.');
		snprintf(sigpart, sizeof(sigpart), "%.40s", p + 1);
		assert_null(strstr(logbuf, sigpart));
		assert_null(strstr(rs_error_msg(e), sigpart));
	}
	assert_null(strstr(logbuf, TK_PFX_PASS));
	rs_error_destroy(e);
	rs_auth_destroy(a);

	/* Debug logging of a successful fetch never prints the token. */
	m.status = 200;
	m.echo = false;
	entra_conf(&c, &m, NULL, "t1", "app");
	a = rs_auth_new(&c, errstr, sizeof(errstr));
	assert_int_equal(rs_auth_token(a, tok, sizeof(tok), NULL), RS_OK);
	read_all(fd, logbuf, sizeof(logbuf));
	assert_non_null(strstr(logbuf, "token fetched"));
	assert_null(strstr(logbuf, tok));
	rs_auth_destroy(a);
	mock_stop(&m);

	rs_log_set_debug("", errstr, sizeof(errstr));
	rs_log_set_fd(2);
	close(fd);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token_url),
		cmocka_unit_test(test_entra_secret_request),
		cmocka_unit_test(test_talkdesk_request),
		cmocka_unit_test(test_entra_cert_request),
		cmocka_unit_test(test_refresh_margin),
		cmocka_unit_test(test_cache_reuse_and_refresh),
		cmocka_unit_test(test_single_flight),
		cmocka_unit_test(test_tenant_isolation),
		cmocka_unit_test(test_error_mapping),
		cmocka_unit_test(test_errors_over_http),
		cmocka_unit_test(test_secret_not_in_logs),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
