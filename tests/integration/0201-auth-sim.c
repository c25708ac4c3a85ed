/*
 * 0201-auth-sim.c - the token provider (rs_auth) against the simulator's
 * real token endpoints, started in-process on 127.0.0.1:0:
 *   POST /login/{tenant}/oauth2/v2.0/token  (Entra v2.0: secret, PFX
 *        certificate with PS256 + x5t#S256 and RS256 + x5t)
 *   POST /talkdesk/oauth/token              (Basic auth + scopes)
 * Each token is then used on an API call, so "got a token" means "got a
 * token the API accepts".  Failures: wrong secret (AADSTS7000215, 401,
 * permanent), unknown app (AADSTS700016), bad Talkdesk scope, a 503 burst
 * (retriable, then recovered), invalidate -> one refresh.
 */
#include "rs/rs_base.h"
#include "rs/rs_auth.h"
#include "rs/rs_http.h"
#include "rs/rs_log.h"
#include "rs_sim.h"
#include "rs_test.h"

#include <fcntl.h>
#include <unistd.h>

#include <cjson/cJSON.h>

static rs_sim_t *sim;
static cJSON *tenants;
static char login_url[256], td_token_url[256];

static const char *jstr(const cJSON *o, const char *k) {
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The first tenant with (cert) or without (!cert) a certificate. */
static const cJSON *find_tenant(bool cert) {
	const cJSON *t;
	cJSON_ArrayForEach(t, tenants) {
		const cJSON *c = cJSON_GetObjectItemCaseSensitive(
			t, "graph_certificate");
		if (cJSON_IsTrue(c) == cert)
			return t;
	}
	return NULL;
}

/* GET url with the token: the status the API gives it. */
static int api_status(const char *url, const char *token) {
	rs_http_conf_t hc;
	rs_http_t *http;
	rs_http_req_t req;
	rs_http_resp_t resp;
	rs_error_t *e;
	char errstr[256];
	int status;

	rs_http_conf_init(&hc);
	http = rs_http_new(&hc, errstr, sizeof(errstr));
	TEST_ASSERT(http, "rs_http_new: %s", errstr);
	rs_http_req_init(&req, RS_HTTP_GET, url);
	req.bearer_token = token;
	rs_http_resp_init(&resp);
	e = rs_http_request_send(http, &req, &resp);
	status = resp.status;
	rs_error_destroy(e);
	rs_http_resp_cleanup(&resp);
	rs_http_destroy(http);
	return status;
}

static void entra_conf(rs_auth_conf_t *c, const cJSON *t) {
	rs_auth_conf_init(c);
	c->flavour = RS_AUTH_ENTRA;
	c->tenant = jstr(t, "id");
	c->login_base_url = login_url;
	c->directory = jstr(t, "entra_tenant_id");
	c->client_id = jstr(t, "graph_client_id");
	c->client_secret = jstr(t, "graph_client_secret");
	c->timeout_ms = rs_test_timeout_ms(5000);
}

static void graph_token_works(rs_auth_t *a) {
	char tok[RS_AUTH_MAX_TOKEN], url[512];
	rs_error_t *e = NULL;
	rs_err_t err = rs_auth_token(a, tok, sizeof(tok), &e);

	TEST_ASSERT(err == RS_OK, "token: %s", rs_error_msg(e));
	rs_snprintf(url, sizeof(url), "%s/graph/v1.0/users?$top=1",
		    rs_sim_base_url(sim));
	TEST_ASSERT(api_status(url, tok) == 200,
		    "Graph refused the token from %s", rs_auth_token_url(a));
}

static void test_entra_secret(void) {
	const cJSON *t = find_tenant(false);
	rs_auth_conf_t c;
	rs_auth_t *a;
	char errstr[256];

	SUB_TEST("entra: client secret, directory by GUID and by domain");
	TEST_ASSERT(t, "no secret tenant in the dataset");
	entra_conf(&c, t);
	a = rs_auth_new(&c, errstr, sizeof(errstr));
	TEST_ASSERT(a, "rs_auth_new: %s", errstr);
	graph_token_works(a);
	rs_auth_destroy(a);
	c.directory = jstr(t, "domain");
	a = rs_auth_new(&c, errstr, sizeof(errstr));
	TEST_ASSERT(a, "rs_auth_new: %s", errstr);
	graph_token_works(a);
	rs_auth_destroy(a);
}

static void test_entra_cert(void) {
	const cJSON *t = find_tenant(true);
	rs_auth_conf_t c;
	rs_auth_t *a;
	char errstr[256];
	int alg;

	for (alg = 0; alg < 2; alg++) {
		SUB_TEST("entra: PFX certificate assertion %s",
			 alg ? "RS256 + x5t" : "PS256 + x5t#S256");
		TEST_ASSERT(t, "no certificate tenant in the dataset");
		entra_conf(&c, t);
		c.cred = RS_AUTH_CRED_PFX;
		c.client_secret = NULL;
		c.pfx_path = jstr(t, "graph_cert_pfx");
		c.pfx_password = jstr(t, "graph_cert_password");
		c.assertion_alg = alg ? RS_JWT_RS256 : RS_JWT_PS256;
		TEST_ASSERT(c.pfx_path, "sim wrote no PFX file");
		a = rs_auth_new(&c, errstr, sizeof(errstr));
		TEST_ASSERT(a, "rs_auth_new: %s", errstr);
		graph_token_works(a);
		rs_auth_destroy(a);
	}
}

/* Reads what the log fd got so far. */
static void read_log(int fd, char *buf, size_t size) {
	ssize_t n;
	size_t len = 0;
	lseek(fd, 0, SEEK_SET);
	while (len + 1 < size &&
	       (n = read(fd, buf + len, size - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
}

static void test_entra_errors(void) {
	const cJSON *t = find_tenant(false);
	rs_auth_conf_t c;
	rs_auth_t *a;
	rs_error_t *e = NULL;
	char tok[RS_AUTH_MAX_TOKEN], errstr[256], logbuf[8192];
	char path[] = "/tmp/rs-0200-log-XXXXXX";
	int fd = mkstemp(path);
	const char *bad = "Wr0ngSecretValue123";

	SUB_TEST("entra: wrong secret -> AADSTS7000215, permanent, not logged");
	TEST_ASSERT(fd >= 0, "mkstemp");
	unlink(path);
	rs_log_set_fd(fd);
	entra_conf(&c, t);
	c.client_secret = bad;
	a = rs_auth_new(&c, errstr, sizeof(errstr));
	TEST_ASSERT(rs_auth_token(a, tok, sizeof(tok), &e) == RS_ERR_AUTH,
		    "expected AUTH, got %s", rs_error_msg(e));
	TEST_ASSERT(!rs_error_retriable(e), "bad secret must not be retried");
	TEST_ASSERT(rs_error_http_status(e) == 401, "status %d",
		    rs_error_http_status(e));
	TEST_ASSERT(strstr(rs_error_msg(e), "AADSTS7000215"), "%s",
		    rs_error_msg(e));
	read_log(fd, logbuf, sizeof(logbuf));
	rs_log_set_fd(2);
	close(fd);
	TEST_ASSERT(strstr(logbuf, "AADSTS7000215"), "not logged: %s", logbuf);
	TEST_ASSERT(!strstr(logbuf, bad) && !strstr(rs_error_msg(e), bad),
		    "secret leaked");
	rs_error_destroy(e);
	rs_auth_destroy(a);

	SUB_TEST("entra: unknown application -> AADSTS700016, permanent");
	entra_conf(&c, t);
	c.client_id = "0f0f0f0f-1111-2222-3333-444455556666";
	a = rs_auth_new(&c, errstr, sizeof(errstr));
	TEST_ASSERT(rs_auth_token(a, tok, sizeof(tok), &e) == RS_ERR_AUTH,
		    "expected AUTH, got %s", rs_error_msg(e));
	TEST_ASSERT(!rs_error_retriable(e), "unknown app must not be retried");
	TEST_ASSERT(strstr(rs_error_msg(e), "AADSTS700016"), "%s",
		    rs_error_msg(e));
	rs_error_destroy(e);
	rs_auth_destroy(a);
}

static void test_faults_and_invalidate(void) {
	const cJSON *t = find_tenant(false);
	rs_auth_conf_t c;
	rs_auth_t *a;
	rs_error_t *e = NULL;
	char tok[RS_AUTH_MAX_TOKEN], tok2[RS_AUTH_MAX_TOKEN], errstr[256];
	char fault[256];

	SUB_TEST("entra: 503 from the token endpoint is retriable");
	rs_snprintf(fault, sizeof(fault),
		    "{\"path\":\"/login*\",\"status\":503,\"count\":1}");
	TEST_ASSERT(rs_sim_faults_push(sim, fault, errstr, sizeof(errstr)) ==
			    RS_OK,
		    "faults: %s", errstr);
	entra_conf(&c, t);
	a = rs_auth_new(&c, errstr, sizeof(errstr));
	TEST_ASSERT(rs_auth_token(a, tok, sizeof(tok), &e) ==
			    RS_ERR_HTTP_SERVER,
		    "expected HTTP_SERVER, got %s", rs_error_msg(e));
	TEST_ASSERT(rs_error_retriable(e), "503 must be retriable");
	rs_error_destroy(e);
	e = NULL;
	TEST_ASSERT(rs_auth_token(a, tok, sizeof(tok), &e) == RS_OK,
		    "after the burst: %s", rs_error_msg(e));

	SUB_TEST("entra: cached, then invalidate -> exactly one refresh");
	TEST_ASSERT(rs_auth_requests(a) == 2, "requests %llu",
		    (unsigned long long)rs_auth_requests(a));
	TEST_ASSERT(rs_auth_token(a, tok2, sizeof(tok2), NULL) == RS_OK &&
			    !strcmp(tok, tok2),
		    "cached token not reused");
	rs_auth_invalidate(a, tok);
	rs_auth_invalidate(a, tok);
	TEST_ASSERT(rs_auth_token(a, tok2, sizeof(tok2), NULL) == RS_OK,
		    "refresh failed");
	TEST_ASSERT(rs_auth_requests(a) == 3, "requests %llu",
		    (unsigned long long)rs_auth_requests(a));
	rs_auth_invalidate(a, tok); /* stale: no effect */
	TEST_ASSERT(rs_auth_token(a, tok2, sizeof(tok2), NULL) == RS_OK &&
			    rs_auth_requests(a) == 3,
		    "stale invalidate caused a refresh");
	rs_auth_destroy(a);
}

static void test_talkdesk(void) {
	const cJSON *t = find_tenant(false);
	rs_auth_conf_t c;
	rs_auth_t *a;
	rs_error_t *e = NULL;
	char tok[RS_AUTH_MAX_TOKEN], errstr[256], url[512];

	SUB_TEST("talkdesk: Basic auth + scopes, token accepted by the API");
	rs_auth_conf_init(&c);
	c.flavour = RS_AUTH_TALKDESK;
	c.tenant = jstr(t, "id");
	c.token_url = td_token_url;
	c.client_id = jstr(t, "talkdesk_client_id");
	c.client_secret = jstr(t, "talkdesk_client_secret");
	c.scope = "users:read ring-groups:read";
	a = rs_auth_new(&c, errstr, sizeof(errstr));
	TEST_ASSERT(a, "rs_auth_new: %s", errstr);
	TEST_ASSERT(rs_auth_token(a, tok, sizeof(tok), &e) == RS_OK, "%s",
		    rs_error_msg(e));
	rs_snprintf(url, sizeof(url), "%s/talkdesk/users?per_page=1",
		    rs_sim_base_url(sim));
	TEST_ASSERT(api_status(url, tok) == 200, "Talkdesk refused the token");
	rs_auth_destroy(a);

	SUB_TEST("talkdesk: unknown scope -> invalid_scope, permanent");
	c.scope = "users:read no-such:scope";
	a = rs_auth_new(&c, errstr, sizeof(errstr));
	TEST_ASSERT(rs_auth_token(a, tok, sizeof(tok), &e) == RS_ERR_AUTH,
		    "expected AUTH, got %s", rs_error_msg(e));
	TEST_ASSERT(!rs_error_retriable(e) && strstr(rs_error_msg(e),
						     "invalid_scope"),
		    "%s", rs_error_msg(e));
	rs_error_destroy(e);
	rs_auth_destroy(a);

	SUB_TEST("talkdesk: wrong secret -> invalid_client 401, permanent");
	c.scope = "users:read";
	c.client_secret = "not-the-secret";
	a = rs_auth_new(&c, errstr, sizeof(errstr));
	TEST_ASSERT(rs_auth_token(a, tok, sizeof(tok), &e) == RS_ERR_AUTH,
		    "expected AUTH, got %s", rs_error_msg(e));
	TEST_ASSERT(rs_error_http_status(e) == 401 && !rs_error_retriable(e),
		    "%s", rs_error_msg(e));
	rs_error_destroy(e);
	rs_auth_destroy(a);
}

int main(void) {
	rs_sim_conf_t sc;
	rs_sim_gen_t gen;
	char errstr[512], dir[256];
	char *js;
	cJSON *root;

	rs_http_global_init();
	rs_test_mkdtemp(dir, sizeof(dir));
	rs_sim_conf_init(&sc);
	rs_sim_gen_init(&gen);
	gen.tenants = 5;
	gen.users = 20;
	gen.cert_every = 2;
	gen.pfx_dir = dir;
	sim = rs_sim_new(&sc, errstr, sizeof(errstr));
	TEST_ASSERT(sim, "rs_sim_new: %s", errstr);
	TEST_ASSERT(rs_sim_generate(sim, &gen, errstr, sizeof(errstr)) == RS_OK,
		    "generate: %s", errstr);
	TEST_ASSERT(rs_sim_start(sim, errstr, sizeof(errstr)) == RS_OK,
		    "start: %s", errstr);
	rs_snprintf(login_url, sizeof(login_url), "%s/login",
		    rs_sim_base_url(sim));
	rs_snprintf(td_token_url, sizeof(td_token_url),
		    "%s/talkdesk/oauth/token", rs_sim_base_url(sim));
	js = rs_sim_tenants_json(sim);
	root = cJSON_Parse(js);
	rs_free(js);
	tenants = cJSON_IsArray(root)
			  ? root
			  : cJSON_GetObjectItemCaseSensitive(root, "tenants");
	TEST_ASSERT(cJSON_IsArray(tenants), "no tenant list from the sim");

	test_entra_secret();
	test_entra_cert();
	test_entra_errors();
	test_faults_and_invalidate();
	test_talkdesk();

	cJSON_Delete(root);
	rs_sim_destroy(sim);
	rs_test_rmtree(dir);
	rs_http_global_cleanup();
	return rs_test_finish();
}
