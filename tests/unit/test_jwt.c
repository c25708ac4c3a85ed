/*
 * test_jwt.c - certificate credentials and client assertions (rs_jwt.h):
 * base64url, PFX / PEM loading and their errors, the JWT structure
 * (header alg + thumbprint, claims) and that the signature verifies with
 * the certificate's public key for PS256 and RS256.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "rs/rs_base.h"
#include "rs/rs_jwt.h"

#include <cjson/cJSON.h>

#include "test_jwt_keys.inc"

static tk_t tk;

static int group_setup(void **state) {
	(void)state;
	return tk_make(&tk);
}

static int group_teardown(void **state) {
	(void)state;
	tk_free(&tk);
	return 0;
}

static void test_b64url(void **state) {
	static const struct {
		const char *in, *out;
	} v[] = {{"", ""},	   {"f", "Zg"},		{"fo", "Zm8"},
		 {"foo", "Zm9v"},  {"foob", "Zm9vYg"},	{"fooba", "Zm9vYmE"},
		 {"foobar", "Zm9vYmFy"}};
	const unsigned char url[] = {0xfb, 0xff, 0xbf};
	unsigned char dec[16];
	char out[32];
	size_t i, n;
	(void)state;

	for (i = 0; i < RS_ARRAY_SIZE(v); i++) {
		n = rs_jwt_b64url_encode(v[i].in, strlen(v[i].in), out,
					 sizeof(out));
		assert_int_equal(n, strlen(v[i].out));
		assert_string_equal(out, v[i].out);
		assert_int_equal(rs_jwt_b64url_decode(out, n, dec, sizeof(dec),
						      &n),
				 RS_OK);
		assert_int_equal(n, strlen(v[i].in));
		assert_memory_equal(dec, v[i].in, n);
	}
	/* The URL-safe alphabet: '-' and '_' instead of '+' and '/'. */
	rs_jwt_b64url_encode(url, sizeof(url), out, sizeof(out));
	assert_string_equal(out, "-_-_");
	/* Padding tolerated on input, bad characters and lengths refused. */
	assert_int_equal(rs_jwt_b64url_decode("Zg==", 4, dec, sizeof(dec), &n),
			 RS_OK);
	assert_int_equal(n, 1);
	assert_int_equal(rs_jwt_b64url_decode("Zm+v", 4, dec, sizeof(dec), &n),
			 RS_ERR_PARSE);
	assert_int_equal(rs_jwt_b64url_decode("Zm9vY", 5, dec, sizeof(dec), &n),
			 RS_ERR_PARSE);
	assert_int_equal(rs_jwt_b64url_decode("Zm9vYmFy", 8, dec, 5, &n),
			 RS_ERR_TOO_LARGE);
	/* An output buffer too small is refused, not overrun. */
	assert_int_equal(rs_jwt_b64url_encode("foobar", 6, out, 8), 0);
}

/* A decoded JWT: header and payload JSON, signing input and signature. */
typedef struct jwt_parts_s {
	cJSON *hdr, *pl;
	char *tbs;
	size_t tbs_len;
	unsigned char sig[1024];
	size_t sig_len;
} jwt_parts_t;

static cJSON *decode_json_part(const char *s, size_t len) {
	char buf[2048];
	size_t n = 0;

	assert_int_equal(rs_jwt_b64url_decode(s, len, buf, sizeof(buf) - 1, &n),
			 RS_OK);
	buf[n] = '\0';
	return cJSON_Parse(buf);
}

static void jwt_split(const char *jwt, jwt_parts_t *p) {
	const char *d1 = strchr(jwt, '.');
	const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;

	assert_non_null(d2);
	assert_null(strchr(d2 + 1, '.'));
	/* No padding anywhere (base64url as JWS requires). */
	assert_null(strchr(jwt, '='));
	p->hdr = decode_json_part(jwt, (size_t)(d1 - jwt));
	p->pl = decode_json_part(d1 + 1, (size_t)(d2 - d1 - 1));
	assert_non_null(p->hdr);
	assert_non_null(p->pl);
	p->tbs = rs_strndup(jwt, (size_t)(d2 - jwt));
	p->tbs_len = strlen(p->tbs);
	assert_int_equal(rs_jwt_b64url_decode(d2 + 1, strlen(d2 + 1), p->sig,
					      sizeof(p->sig), &p->sig_len),
			 RS_OK);
}

static void jwt_parts_free(jwt_parts_t *p) {
	cJSON_Delete(p->hdr);
	cJSON_Delete(p->pl);
	rs_free(p->tbs);
}

/* Verifies with the certificate's public key: pss selects RSASSA-PSS with
 * a salt exactly as long as the digest, else PKCS#1 v1.5. */
static bool verify_sig(X509 *cert, const jwt_parts_t *p, bool pss) {
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	bool ok = false;

	if (EVP_DigestVerifyInit(md, &pctx, EVP_sha256(), NULL,
				 X509_get0_pubkey(cert)) != 1)
		goto out;
	if (pss && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) !=
			    1 ||
		    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32) != 1))
		goto out;
	ok = EVP_DigestVerify(md, p->sig, p->sig_len,
			      (const unsigned char *)p->tbs, p->tbs_len) == 1;
out:
	EVP_MD_CTX_free(md);
	ERR_clear_error();
	return ok;
}

static const char *jstr(cJSON *o, const char *k) {
	cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double jnum(cJSON *o, const char *k) {
	cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	assert_true(cJSON_IsNumber(v));
	return v->valuedouble;
}

static const char *aud =
	"https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/"
	"v2.0/token";
static const char *cid = "6731de76-14a6-49ae-97bc-6eba6914391e";

static void check_assertion(rs_jwt_alg_t alg) {
	rs_jwt_cred_t *cred;
	rs_jwt_claims_t c = {0};
	jwt_parts_t p;
	char errstr[256], want[64];
	char *jwt = NULL;

	cred = rs_jwt_cred_load_pem(tk.key_pem, tk.cert_pem, NULL, errstr,
				    sizeof(errstr));
	assert_non_null(cred);
	c.alg = alg;
	c.aud = aud;
	c.client_id = cid;
	c.now_s = 1795000000;
	c.lifetime_s = 600;
	assert_int_equal(rs_jwt_assertion_build(cred, &c, &jwt, errstr,
						sizeof(errstr)),
			 RS_OK);
	jwt_split(jwt, &p);

	/* Header: alg, typ and the thumbprint matching the algorithm. */
	assert_string_equal(jstr(p.hdr, "typ"), "JWT");
	if (alg == RS_JWT_PS256) {
		assert_string_equal(jstr(p.hdr, "alg"), "PS256");
		tk_thumbprint(tk.cert, EVP_sha256(), want, sizeof(want));
		assert_int_equal(strlen(want), 43);
		assert_string_equal(jstr(p.hdr, "x5t#S256"), want);
		assert_null(jstr(p.hdr, "x5t"));
	} else {
		assert_string_equal(jstr(p.hdr, "alg"), "RS256");
		tk_thumbprint(tk.cert, EVP_sha1(), want, sizeof(want));
		assert_int_equal(strlen(want), 27);
		assert_string_equal(jstr(p.hdr, "x5t"), want);
		assert_null(jstr(p.hdr, "x5t#S256"));
	}
	assert_string_equal(rs_jwt_cred_thumbprint(cred, alg), want);

	/* Claims (graph.md section 1). */
	assert_string_equal(jstr(p.pl, "aud"), aud);
	assert_string_equal(jstr(p.pl, "iss"), cid);
	assert_string_equal(jstr(p.pl, "sub"), cid);
	assert_int_equal(strlen(jstr(p.pl, "jti")), 36);
	assert_true(jnum(p.pl, "nbf") == 1795000000.0);
	assert_true(jnum(p.pl, "iat") == 1795000000.0);
	assert_true(jnum(p.pl, "exp") == 1795000600.0);

	/* The signature verifies with the certificate's key, only with the
	 * padding the header names... */
	assert_true(verify_sig(tk.cert, &p, alg == RS_JWT_PS256));
	assert_false(verify_sig(tk.cert, &p, alg != RS_JWT_PS256));
	/* ...and not once the signed bytes change. */
	p.tbs[p.tbs_len - 1] ^= 1;
	assert_false(verify_sig(tk.cert, &p, alg == RS_JWT_PS256));

	jwt_parts_free(&p);
	rs_free(jwt);
	rs_jwt_cred_destroy(cred);
}

static void test_assertion_ps256(void **state) {
	(void)state;
	check_assertion(RS_JWT_PS256);
}

static void test_assertion_rs256(void **state) {
	(void)state;
	check_assertion(RS_JWT_RS256);
}

static void test_assertion_unique_and_checked(void **state) {
	rs_jwt_cred_t *cred;
	rs_jwt_claims_t c = {0};
	jwt_parts_t p1, p2;
	char errstr[256];
	char *j1 = NULL, *j2 = NULL;
	(void)state;

	cred = rs_jwt_cred_load_pem(tk.both_pem, NULL, NULL, errstr,
				    sizeof(errstr));
	assert_non_null(cred);
	c.aud = aud;
	c.client_id = cid;
	c.now_s = 1795000000;
	c.lifetime_s = 300;
	assert_int_equal(rs_jwt_assertion_build(cred, &c, &j1, errstr,
						sizeof(errstr)),
			 RS_OK);
	assert_int_equal(rs_jwt_assertion_build(cred, &c, &j2, errstr,
						sizeof(errstr)),
			 RS_OK);
	jwt_split(j1, &p1);
	jwt_split(j2, &p2);
	/* Default alg is PS256; each assertion gets its own jti. */
	assert_string_equal(jstr(p1.hdr, "alg"), "PS256");
	assert_string_not_equal(jstr(p1.pl, "jti"), jstr(p2.pl, "jti"));
	assert_true(jnum(p1.pl, "exp") - jnum(p1.pl, "nbf") == 300.0);
	jwt_parts_free(&p1);
	jwt_parts_free(&p2);
	rs_free(j1);
	rs_free(j2);

	/* exp beyond 10 minutes and a missing audience are refused. */
	c.lifetime_s = RS_JWT_MAX_LIFETIME_S + 1;
	assert_int_equal(rs_jwt_assertion_build(cred, &c, &j1, errstr,
						sizeof(errstr)),
			 RS_ERR_INVALID_ARG);
	assert_null(j1);
	c.lifetime_s = 600;
	c.aud = NULL;
	assert_int_equal(rs_jwt_assertion_build(cred, &c, &j1, errstr,
						sizeof(errstr)),
			 RS_ERR_INVALID_ARG);
	/* A given jti is used as is. */
	c.aud = aud;
	c.jti = "fixed-jti";
	assert_int_equal(rs_jwt_assertion_build(cred, &c, &j1, errstr,
						sizeof(errstr)),
			 RS_OK);
	jwt_split(j1, &p1);
	assert_string_equal(jstr(p1.pl, "jti"), "fixed-jti");
	jwt_parts_free(&p1);
	rs_free(j1);
	rs_jwt_cred_destroy(cred);
}

static void test_pfx(void **state) {
	rs_jwt_cred_t *cred;
	char errstr[256], want[64];
	(void)state;

	cred = rs_jwt_cred_load_pfx(tk.pfx, TK_PFX_PASS, errstr,
				    sizeof(errstr));
	assert_non_null(cred);
	tk_thumbprint(tk.cert, EVP_sha256(), want, sizeof(want));
	assert_string_equal(rs_jwt_cred_thumbprint(cred, RS_JWT_PS256), want);
	/* notAfter is one day from generation. */
	assert_true(rs_jwt_cred_not_after(cred) > time(NULL) + 86000);
	assert_true(rs_jwt_cred_not_after(cred) < time(NULL) + 86500);
	rs_jwt_cred_destroy(cred);

	/* The same file from memory. */
	cred = rs_jwt_cred_load_pfx_mem(tk.pfx_der, (size_t)tk.pfx_der_len,
					TK_PFX_PASS, "mem.pfx", errstr,
					sizeof(errstr));
	assert_non_null(cred);
	rs_jwt_cred_destroy(cred);

	/* Wrong password: said so clearly, password not echoed. */
	errstr[0] = '\0';
	cred = rs_jwt_cred_load_pfx(tk.pfx, "not-the-password", errstr,
				    sizeof(errstr));
	assert_null(cred);
	assert_non_null(strstr(errstr, "wrong PFX password"));
	assert_non_null(strstr(errstr, tk.pfx));
	assert_null(strstr(errstr, "not-the-password"));

	/* Not a PFX at all, and a missing file. */
	cred = rs_jwt_cred_load_pfx(tk.cert_pem, TK_PFX_PASS, errstr,
				    sizeof(errstr));
	assert_null(cred);
	assert_non_null(strstr(errstr, "not a PKCS#12"));
	cred = rs_jwt_cred_load_pfx("/nonexistent/x.pfx", "", errstr,
				    sizeof(errstr));
	assert_null(cred);
	assert_non_null(strstr(errstr, "cannot open /nonexistent/x.pfx"));
}

static void test_pem(void **state) {
	rs_jwt_cred_t *cred;
	char errstr[256];
	(void)state;

	cred = rs_jwt_cred_load_pem(tk.key_enc_pem, tk.cert_pem, TK_PEM_PASS,
				    errstr, sizeof(errstr));
	assert_non_null(cred);
	rs_jwt_cred_destroy(cred);

	/* Encrypted key without / with a wrong passphrase. */
	cred = rs_jwt_cred_load_pem(tk.key_enc_pem, tk.cert_pem, NULL, errstr,
				    sizeof(errstr));
	assert_null(cred);
	assert_non_null(strstr(errstr, "no passphrase given"));
	cred = rs_jwt_cred_load_pem(tk.key_enc_pem, tk.cert_pem, "nope",
				    errstr, sizeof(errstr));
	assert_null(cred);
	assert_non_null(strstr(errstr, "wrong passphrase"));
	assert_null(strstr(errstr, "nope"));

	/* A certificate for some other key. */
	cred = rs_jwt_cred_load_pem(tk.key_pem, tk.other_pem, NULL, errstr,
				    sizeof(errstr));
	assert_null(cred);
	assert_non_null(strstr(errstr, "does not match"));

	/* A key file with no certificate in it. */
	cred = rs_jwt_cred_load_pem(tk.key_pem, NULL, NULL, errstr,
				    sizeof(errstr));
	assert_null(cred);
	assert_non_null(strstr(errstr, "no PEM certificate"));
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64url),
		cmocka_unit_test(test_assertion_ps256),
		cmocka_unit_test(test_assertion_rs256),
		cmocka_unit_test(test_assertion_unique_and_checked),
		cmocka_unit_test(test_pfx),
		cmocka_unit_test(test_pem),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
