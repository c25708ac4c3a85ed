/*
 * 0100-sim-login.c - the simulator's Entra token endpoint behaves like
 * login.microsoftonline.com (graph.md §1): client_secret OK, bad secret
 * (401 invalid_client AADSTS7000215), unknown app (700016), unknown tenant
 * (90002), and client assertions signed with the tenant's certificate:
 * RS256 + x5t and PS256 + x5t#S256 accepted, expired (700024), wrong
 * audience, wrong key (700027) rejected, each with Entra's error body.
 */
#include "rs/rs_base.h"
#include "rs_test.h"
#include "sim_it.h"

#include <openssl/evp.h>
#include <openssl/pkcs12.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

static const char *form_hdr[] = {
	"Content-Type: application/x-www-form-urlencoded", NULL};

static char *b64url(const unsigned char *in, size_t len) {
	char *out = rs_malloc(4 * ((len + 2) / 3) + 1);
	int n = EVP_EncodeBlock((unsigned char *)out, in, (int)len), i, o = 0;
	for (i = 0; i < n && out[i] != '='; i++)
		out[o++] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
	out[o] = '\0';
	return out;
}

/* Builds a signed client assertion the way MSAL does (graph.md §1). */
static char *make_assertion(EVP_PKEY *key, X509 *cert, bool pss,
			    const char *aud, const char *client_id,
			    long nbf, long exp) {
	unsigned char md[32], sig[1024];
	unsigned int mdlen;
	size_t siglen = sizeof(sig);
	char hdr[256], pl[1024], *h64, *p64, *thumb, *s64, *signing, *jwt;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	size_t l;

	X509_digest(cert, pss ? EVP_sha256() : EVP_sha1(), md, &mdlen);
	thumb = b64url(md, mdlen);
	rs_snprintf(hdr, sizeof(hdr),
		    "{\"alg\":\"%s\",\"typ\":\"JWT\",\"%s\":\"%s\"}",
		    pss ? "PS256" : "RS256", pss ? "x5t#S256" : "x5t", thumb);
	rs_snprintf(pl, sizeof(pl),
		    "{\"aud\":\"%s\",\"iss\":\"%s\",\"sub\":\"%s\","
		    "\"jti\":\"j-%ld\",\"nbf\":%ld,\"exp\":%ld}",
		    aud, client_id, client_id, nbf, nbf, exp);
	h64 = b64url((unsigned char *)hdr, strlen(hdr));
	p64 = b64url((unsigned char *)pl, strlen(pl));
	l = strlen(h64) + strlen(p64) + 2;
	signing = rs_malloc(l);
	rs_snprintf(signing, l, "%s.%s", h64, p64);
	TEST_ASSERT(EVP_DigestSignInit(ctx, &pctx, EVP_sha256(), NULL, key) ==
			    1,
		    "sign init");
	if (pss) {
		EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
		EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST);
	}
	TEST_ASSERT(EVP_DigestSign(ctx, sig, &siglen,
				   (unsigned char *)signing,
				   strlen(signing)) == 1,
		    "sign");
	s64 = b64url(sig, siglen);
	l = strlen(signing) + strlen(s64) + 2;
	jwt = rs_malloc(l);
	rs_snprintf(jwt, l, "%s.%s", signing, s64);
	EVP_MD_CTX_free(ctx);
	rs_free(thumb);
	rs_free(h64);
	rs_free(p64);
	rs_free(s64);
	rs_free(signing);
	return jwt;
}

/* POSTs a token request and checks status + error + AADSTS code. */
static cJSON *token_req(rs_sim_t *sim, const char *tenant, const char *form,
			long want_status, const char *want_error,
			int want_code) {
	char url[512];
	it_resp_t r;
	cJSON *j;
	rs_snprintf(url, sizeof(url), "%s/login/%s/oauth2/v2.0/token",
		    rs_sim_base_url(sim), tenant);
	it_http(&r, "POST", url, form_hdr, form, NULL, 0);
	TEST_ASSERT(r.status == want_status, "want %ld got %ld: %s",
		    want_status, r.status, r.body);
	j = it_json(&r);
	if (want_error) {
		const cJSON *codes =
			cJSON_GetObjectItemCaseSensitive(j, "error_codes");
		char prefix[32];
		TEST_ASSERT(it_jstr(j, "error") &&
				    !strcmp(it_jstr(j, "error"), want_error),
			    "error %s, want %s", it_jstr(j, "error"),
			    want_error);
		TEST_ASSERT(cJSON_IsArray(codes) &&
				    cJSON_GetArrayItem(codes, 0)->valueint ==
					    want_code,
			    "error_codes, want %d: %s", want_code, r.body);
		rs_snprintf(prefix, sizeof(prefix), "AADSTS%d: ", want_code);
		TEST_ASSERT(!strncmp(it_jstr(j, "error_description"), prefix,
				     strlen(prefix)),
			    "description must start with %s", prefix);
		TEST_ASSERT(strstr(it_jstr(j, "error_description"),
				   "\r\nTrace ID: "),
			    "trace id in description");
		TEST_ASSERT(it_jstr(j, "trace_id") &&
				    it_jstr(j, "correlation_id") &&
				    it_jstr(j, "timestamp") &&
				    it_jstr(j, "error_uri"),
			    "Entra error members present");
	}
	it_resp_free(&r);
	return j;
}

int main(void) {
	rs_sim_conf_t conf;
	rs_sim_t *sim;
	cJSON *troot, *croot, *t1, *t2, *j, *led, *e;
	char form[8192], aud[512], *jwt;
	const unsigned char *pfx;
	size_t pfx_len;
	const char *pass, *tid1, *cid1, *sec1, *tid2, *cid2;
	PKCS12 *p12;
	EVP_PKEY *key = NULL, *other;
	X509 *cert = NULL;
	const unsigned char *pp;
	long now = (long)(rs_wall_ms() / 1000);

	curl_global_init(CURL_GLOBAL_DEFAULT);
	rs_sim_conf_init(&conf);
	conf.token_lifetime_s = 1234;
	/* cert_every=2: t002 is certificate-only, t001 has a secret. */
	sim = it_sim_start(&conf, "tenants=2,users=20,queues=2,seed=7,"
				  "cert_every=2");
	t1 = it_tenant(sim, "t001", &troot);
	t2 = it_tenant(sim, "t002", &croot);
	tid1 = it_jstr(t1, "entra_tenant_id");
	cid1 = it_jstr(t1, "graph_client_id");
	sec1 = it_jstr(t1, "graph_client_secret");
	tid2 = it_jstr(t2, "entra_tenant_id");
	cid2 = it_jstr(t2, "graph_client_id");
	TEST_ASSERT(tid1 && cid1 && sec1 && tid2 && cid2, "credentials");
	TEST_ASSERT(cJSON_IsNull(cJSON_GetObjectItem(t2, "graph_client_secret")),
		    "t002 is certificate-only");

	SUB_TEST("client_secret accepted, token has the configured lifetime");
	rs_snprintf(form, sizeof(form),
		    "client_id=%s&scope=https%%3A%%2F%%2Fgraph.microsoft.com%%2F"
		    ".default&client_secret=%s&grant_type=client_credentials",
		    cid1, sec1);
	j = token_req(sim, tid1, form, 200, NULL, 0);
	TEST_ASSERT(!strcmp(it_jstr(j, "token_type"), "Bearer"), "Bearer");
	TEST_ASSERT(it_jnum(j, "expires_in") == 1234, "expires_in");
	TEST_ASSERT(it_jstr(j, "access_token") &&
			    strlen(it_jstr(j, "access_token")) > 40,
		    "access_token");
	cJSON_Delete(j);
	/* The domain name works as {tenant} too. */
	j = token_req(sim, "T001.onmicrosoft.com", form, 200, NULL, 0);
	cJSON_Delete(j);

	SUB_TEST("secret never reaches the ledger");
	{
		char *s = rs_sim_ledger_json(sim);
		TEST_ASSERT(!strstr(s, sec1), "secret in ledger");
		rs_free(s);
	}

	SUB_TEST("bad secret: 401 invalid_client AADSTS7000215");
	rs_snprintf(form, sizeof(form),
		    "client_id=%s&scope=https://graph.microsoft.com/.default"
		    "&client_secret=wrong&grant_type=client_credentials",
		    cid1);
	cJSON_Delete(token_req(sim, tid1, form, 401, "invalid_client",
			       7000215));

	SUB_TEST("expired secret (scripted): 401 invalid_client AADSTS7000222");
	{
		char cu[256];
		it_resp_t r;
		rs_snprintf(cu, sizeof(cu), "%s/_sim/tenants/t001",
			    rs_sim_base_url(sim));
		it_http(&r, "POST", cu, NULL, "{\"graph_secret_expired\":true}",
			NULL, 0);
		TEST_ASSERT(r.status == 200, "set expired: %ld", r.status);
		it_resp_free(&r);
		rs_snprintf(form, sizeof(form),
			    "client_id=%s&scope=https://graph.microsoft.com/"
			    ".default&client_secret=%s&grant_type="
			    "client_credentials",
			    cid1, sec1);
		cJSON_Delete(token_req(sim, tid1, form, 401, "invalid_client",
				       7000222));
		it_http(&r, "POST", cu, NULL,
			"{\"graph_secret_expired\":false}", NULL, 0);
		it_resp_free(&r);
		cJSON_Delete(token_req(sim, tid1, form, 200, NULL, 0));
	}

	SUB_TEST("unknown app: 400 unauthorized_client AADSTS700016");
	rs_snprintf(form, sizeof(form),
		    "client_id=00000000-1111-2222-3333-444444444444&scope="
		    "https://graph.microsoft.com/.default&client_secret=x"
		    "&grant_type=client_credentials");
	cJSON_Delete(token_req(sim, tid1, form, 400, "unauthorized_client",
			       700016));

	SUB_TEST("app of tenant 1 on tenant 2: 700016, flagged cross-tenant");
	rs_snprintf(form, sizeof(form),
		    "client_id=%s&scope=https://graph.microsoft.com/.default"
		    "&client_secret=%s&grant_type=client_credentials",
		    cid1, sec1);
	cJSON_Delete(token_req(sim, tid2, form, 400, "unauthorized_client",
			       700016));
	{
		char p[256];
		rs_snprintf(p, sizeof(p), "/login/%s/oauth2/v2.0/token", tid2);
		e = it_ledger_last(sim, p, &led);
		TEST_ASSERT(e && cJSON_IsTrue(cJSON_GetObjectItem(
					 e, "cross_tenant")),
			    "cross_tenant flag in ledger");
		TEST_ASSERT(!strcmp(it_jstr(e, "tenant"), "t002"),
			    "ledger tenant");
		cJSON_Delete(led);
	}

	SUB_TEST("unknown tenant, missing credentials, bad grant, bad scope");
	cJSON_Delete(token_req(sim, "nosuch.onmicrosoft.com", form, 400,
			       "invalid_request", 90002));
	rs_snprintf(form, sizeof(form),
		    "client_id=%s&scope=https://graph.microsoft.com/.default"
		    "&grant_type=client_credentials",
		    cid1);
	cJSON_Delete(token_req(sim, tid1, form, 401, "invalid_client",
			       7000218));
	rs_snprintf(form, sizeof(form),
		    "client_id=%s&scope=https://graph.microsoft.com/.default"
		    "&client_secret=%s&grant_type=password",
		    cid1, sec1);
	cJSON_Delete(token_req(sim, tid1, form, 400, "unsupported_grant_type",
			       70003));
	rs_snprintf(form, sizeof(form),
		    "client_id=%s&scope=User.Read&client_secret=%s"
		    "&grant_type=client_credentials",
		    cid1, sec1);
	cJSON_Delete(token_req(sim, tid1, form, 400, "invalid_scope",
			       1002012));

	/* Certificate tenant: the PFX the generator wrote. */
	TEST_ASSERT(rs_sim_tenant_pfx(sim, "t002", &pfx, &pfx_len, &pass) ==
			    RS_OK,
		    "pfx");
	TEST_ASSERT(rs_sim_tenant_pfx(sim, "t001", &pfx, &pfx_len, &pass) ==
			    RS_ERR_NOT_FOUND,
		    "t001 has no certificate");
	rs_sim_tenant_pfx(sim, "t002", &pfx, &pfx_len, &pass);
	pp = pfx;
	p12 = d2i_PKCS12(NULL, &pp, (long)pfx_len);
	TEST_ASSERT(p12 && PKCS12_parse(p12, pass, &key, &cert, NULL) == 1,
		    "PFX opens with its password");
	PKCS12_free(p12);
	rs_snprintf(aud, sizeof(aud), "https://login.microsoftonline.com/%s"
				      "/oauth2/v2.0/token",
		    tid2);

#define ASSERTION_FORM(jwt_)                                                   \
	rs_snprintf(form, sizeof(form),                                        \
		    "client_id=%s&scope=https://graph.microsoft.com/.default"  \
		    "&grant_type=client_credentials&client_assertion_type="   \
		    "urn%%3Aietf%%3Aparams%%3Aoauth%%3Aclient-assertion-type"  \
		    "%%3Ajwt-bearer&client_assertion=%s",                      \
		    cid2, jwt_)

	SUB_TEST("client_assertion RS256 + x5t accepted");
	jwt = make_assertion(key, cert, false, aud, cid2, now, now + 600);
	ASSERTION_FORM(jwt);
	cJSON_Delete(token_req(sim, tid2, form, 200, NULL, 0));
	rs_free(jwt);

	SUB_TEST("client_assertion PS256 + x5t#S256 accepted (sim audience)");
	{
		char aud2[512];
		rs_snprintf(aud2, sizeof(aud2), "%s/login/%s/oauth2/v2.0/token",
			    rs_sim_base_url(sim), tid2);
		jwt = make_assertion(key, cert, true, aud2, cid2, now,
				     now + 600);
	}
	ASSERTION_FORM(jwt);
	cJSON_Delete(token_req(sim, tid2, form, 200, NULL, 0));
	rs_free(jwt);

	SUB_TEST("expired assertion: AADSTS700024");
	jwt = make_assertion(key, cert, true, aud, cid2, now - 1200,
			     now - 600);
	ASSERTION_FORM(jwt);
	cJSON_Delete(token_req(sim, tid2, form, 400, "invalid_client",
			       700024));
	rs_free(jwt);

	SUB_TEST("assertion with the wrong audience rejected");
	jwt = make_assertion(key, cert, false,
			     "https://login.microsoftonline.com/common/"
			     "oauth2/v2.0/token",
			     cid2, now, now + 600);
	ASSERTION_FORM(jwt);
	cJSON_Delete(token_req(sim, tid2, form, 400, "invalid_client",
			       700212));
	rs_free(jwt);

	SUB_TEST("assertion signed by another key: 401 AADSTS700027");
	other = EVP_RSA_gen(2048);
	jwt = make_assertion(other, cert, false, aud, cid2, now, now + 600);
	ASSERTION_FORM(jwt);
	cJSON_Delete(token_req(sim, tid2, form, 401, "invalid_client",
			       700027));
	rs_free(jwt);
	EVP_PKEY_free(other);

	SUB_TEST("a secret on a certificate-only app: AADSTS7000215");
	rs_snprintf(form, sizeof(form),
		    "client_id=%s&scope=https://graph.microsoft.com/.default"
		    "&client_secret=guess&grant_type=client_credentials",
		    cid2);
	cJSON_Delete(token_req(sim, tid2, form, 401, "invalid_client",
			       7000215));

	SUB_TEST("garbage assertion is a 400, not a crash");
	ASSERTION_FORM("not.a.jwt");
	cJSON_Delete(token_req(sim, tid2, form, 400, "invalid_request",
			       50027));

	EVP_PKEY_free(key);
	X509_free(cert);
	cJSON_Delete(troot);
	cJSON_Delete(croot);
	rs_sim_destroy(sim);
	curl_global_cleanup();
	return rs_test_finish();
}
