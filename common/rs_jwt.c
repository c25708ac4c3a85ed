/*
 * rs_jwt.c - certificate credentials (PFX / PEM) and signed client
 * assertions.  See rs_jwt.h for the format and docs/internals/auth.md for
 * how the token provider uses them.
 */
#include "rs/rs_base.h"
#include "rs/rs_jwt.h"

#include <errno.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

/* Files we read are small; anything bigger is not a key or a certificate. */
#define JWT_MAX_FILE (1024 * 1024)

struct rs_jwt_cred_s {
	EVP_PKEY *pkey;
	X509 *cert;
	int64_t not_after;
	char x5t[32];      /* b64url(SHA-1): 27 chars */
	char x5t_s256[48]; /* b64url(SHA-256): 43 chars */
};

static const char b64url_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Written out rather than via EVP_EncodeBlock + translation: the URL-safe
 * alphabet and the missing padding are then visible in one place. */
size_t rs_jwt_b64url_encode(const void *data, size_t len, char *out,
			    size_t out_size) {
	const unsigned char *p = data;
	size_t o = 0, i;

	if (out_size < (len + 2) / 3 * 4 + 1) {
		if (out_size)
			out[0] = '\0';
		return 0;
	}
	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 |
			     p[i + 2];
		out[o++] = b64url_alphabet[(v >> 18) & 63];
		out[o++] = b64url_alphabet[(v >> 12) & 63];
		out[o++] = b64url_alphabet[(v >> 6) & 63];
		out[o++] = b64url_alphabet[v & 63];
	}
	/* The tail: one byte gives two characters, two bytes three; the
	 * padding '=' that base64 would add is omitted (RFC 7515 2). */
	if (len - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;
		out[o++] = b64url_alphabet[(v >> 18) & 63];
		out[o++] = b64url_alphabet[(v >> 12) & 63];
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		out[o++] = b64url_alphabet[(v >> 18) & 63];
		out[o++] = b64url_alphabet[(v >> 12) & 63];
		out[o++] = b64url_alphabet[(v >> 6) & 63];
	}
	out[o] = '\0';
	return o;
}

static int b64url_value(unsigned char c) {
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/* Decoding is needed by tests and by anyone inspecting an assertion; it
 * accumulates 6 bits per character and emits a byte per 8. */
rs_err_t rs_jwt_b64url_decode(const char *in, size_t in_len, void *out,
			      size_t out_size, size_t *out_len) {
	unsigned char *o = out;
	uint32_t acc = 0;
	size_t n = 0, bits = 0, i;

	/* Trailing padding is tolerated so standard base64url also decodes. */
	while (in_len && in[in_len - 1] == '=')
		in_len--;
	if (in_len % 4 == 1)
		return RS_ERR_PARSE;
	for (i = 0; i < in_len; i++) {
		int v = b64url_value((unsigned char)in[i]);
		if (v < 0)
			return RS_ERR_PARSE;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n >= out_size)
				return RS_ERR_TOO_LARGE;
			o[n++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	*out_len = n;
	return RS_OK;
}

/* Appends the first queued OpenSSL error (if any) to msg and clears the
 * thread's error queue, so a later failure does not report a stale reason. */
static void ssl_errstr(char *errstr, size_t errstr_size, const char *msg) {
	unsigned long e = ERR_peek_last_error();
	char reason[256];

	if (e) {
		ERR_error_string_n(e, reason, sizeof(reason));
		snprintf(errstr, errstr_size, "%s (%s)", msg, reason);
	} else {
		snprintf(errstr, errstr_size, "%s", msg);
	}
	ERR_clear_error();
}

/* Reads a whole (small) file into memory; the caller wipes and frees it
 * since it may hold a private key. */
static unsigned char *read_file(const char *path, size_t *lenp, char *errstr,
				size_t errstr_size) {
	FILE *fp = fopen(path, "rb");
	unsigned char *buf;
	size_t len;
	char eb[128];

	if (!fp) {
		snprintf(errstr, errstr_size, "cannot open %s: %s", path,
			 rs_strerror(errno, eb, sizeof(eb)));
		return NULL;
	}
	buf = rs_malloc(JWT_MAX_FILE + 1);
	len = fread(buf, 1, JWT_MAX_FILE + 1, fp);
	if (ferror(fp) || len > JWT_MAX_FILE) {
		snprintf(errstr, errstr_size, "%s: %s", path,
			 len > JWT_MAX_FILE ? "file larger than 1 MiB"
					    : "read error");
		fclose(fp);
		rs_wipe(buf, len);
		rs_free(buf);
		return NULL;
	}
	fclose(fp);
	*lenp = len;
	return buf;
}

/* Takes ownership of pkey and cert, checks they belong together and
 * precomputes what every assertion needs (thumbprints, notAfter). */
static rs_jwt_cred_t *cred_new(EVP_PKEY *pkey, X509 *cert, const char *what,
			       char *errstr, size_t errstr_size) {
	rs_jwt_cred_t *cred = NULL;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	const ASN1_TIME *na;
	struct tm tm;

	/* PS256 and RS256 are RSA algorithms; an EC key would need ES256,
	 * which Entra does not accept for client assertions. */
	if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA) {
		snprintf(errstr, errstr_size,
			 "%s: the private key is not RSA (PS256/RS256 need "
			 "an RSA key)",
			 what);
		goto out;
	}
	if (X509_check_private_key(cert, pkey) != 1) {
		ssl_errstr(errstr, errstr_size, "private key does not match "
						"the certificate");
		goto out;
	}
	cred = rs_calloc(1, sizeof(*cred));
	/* Both thumbprints are hashes of the DER certificate, encoded from
	 * the raw digest bytes (not the hex string), as MSAL does. */
	if (X509_digest(cert, EVP_sha1(), md, &mdlen) != 1 ||
	    !rs_jwt_b64url_encode(md, mdlen, cred->x5t, sizeof(cred->x5t)) ||
	    X509_digest(cert, EVP_sha256(), md, &mdlen) != 1 ||
	    !rs_jwt_b64url_encode(md, mdlen, cred->x5t_s256,
				  sizeof(cred->x5t_s256))) {
		ssl_errstr(errstr, errstr_size, "certificate digest failed");
		rs_free(cred);
		cred = NULL;
		goto out;
	}
	/* notAfter lets the provider warn about an expired certificate at
	 * start-up instead of failing every request with AADSTS700027. */
	na = X509_get0_notAfter(cert);
	memset(&tm, 0, sizeof(tm));
	if (na && ASN1_TIME_to_tm(na, &tm) == 1)
		cred->not_after = (int64_t)timegm(&tm);
	cred->pkey = pkey;
	cred->cert = cert;
	pkey = NULL;
	cert = NULL;
out:
	EVP_PKEY_free(pkey);
	X509_free(cert);
	return cred;
}

rs_jwt_cred_t *rs_jwt_cred_load_pfx_mem(const void *der, size_t der_len,
					const char *password, const char *what,
					char *errstr, size_t errstr_size) {
	rs_jwt_cred_t *cred = NULL;
	const unsigned char *p = der;
	PKCS12 *p12 = NULL;
	EVP_PKEY *pkey = NULL;
	X509 *cert = NULL;
	STACK_OF(X509) *ca = NULL;
	char msg[256];

	if (!password)
		password = "";
	if (der_len > JWT_MAX_FILE) {
		snprintf(errstr, errstr_size, "%s: PFX larger than 1 MiB", what);
		goto out;
	}
	/* DER is the only PFX encoding in use; a PEM file given by mistake
	 * fails here with "not a PKCS#12 file". */
	p12 = d2i_PKCS12(NULL, &p, (long)der_len);
	if (!p12) {
		snprintf(msg, sizeof(msg), "%s: not a PKCS#12 (PFX) file", what);
		ssl_errstr(errstr, errstr_size, msg);
		goto out;
	}
	/* Checking the MAC first tells a wrong password apart from a broken
	 * or unsupported file, which PKCS12_parse() alone does not. */
	if (PKCS12_mac_present(p12) &&
	    PKCS12_verify_mac(p12, password, -1) != 1) {
		snprintf(errstr, errstr_size,
			 "%s: wrong PFX password (MAC verification failed)",
			 what);
		ERR_clear_error();
		goto out;
	}
	if (PKCS12_parse(p12, password, &pkey, &cert, &ca) != 1) {
		/* RC2-40 / 3DES PFX files (old Windows exports) need
		 * OpenSSL's legacy provider, which we do not load. */
		snprintf(msg, sizeof(msg),
			 "%s: cannot decrypt the PFX (legacy RC2/3DES "
			 "encryption? re-export with AES-256)",
			 what);
		ssl_errstr(errstr, errstr_size, msg);
		goto out;
	}
	if (!pkey || !cert) {
		snprintf(errstr, errstr_size,
			 "%s: the PFX must hold a private key and its "
			 "certificate",
			 what);
		goto out;
	}
	cred = cred_new(pkey, cert, what, errstr, errstr_size);
	pkey = NULL;
	cert = NULL;
out:
	EVP_PKEY_free(pkey);
	X509_free(cert);
	sk_X509_pop_free(ca, X509_free);
	PKCS12_free(p12);
	return cred;
}

rs_jwt_cred_t *rs_jwt_cred_load_pfx(const char *path, const char *password,
				    char *errstr, size_t errstr_size) {
	rs_jwt_cred_t *cred;
	unsigned char *der;
	size_t len = 0;

	der = read_file(path, &len, errstr, errstr_size);
	if (!der)
		return NULL;
	cred = rs_jwt_cred_load_pfx_mem(der, len, password, path, errstr,
					errstr_size);
	rs_wipe(der, len);
	rs_free(der);
	return cred;
}

/* PEM_read_bio_PrivateKey() asks for the passphrase through a callback; a
 * NULL passphrase means "not encrypted", so fail instead of prompting. */
static int pem_passphrase(char *buf, int size, int rwflag, void *u) {
	const char *pw = u;
	size_t len;

	(void)rwflag;
	if (!pw)
		return -1;
	len = strlen(pw);
	if (len > (size_t)size)
		return -1;
	memcpy(buf, pw, len);
	return (int)len;
}

rs_jwt_cred_t *rs_jwt_cred_load_pem(const char *key_path,
				    const char *cert_path,
				    const char *key_password, char *errstr,
				    size_t errstr_size) {
	rs_jwt_cred_t *cred = NULL;
	unsigned char *kbuf = NULL, *cbuf = NULL;
	size_t klen = 0, clen = 0;
	BIO *bio = NULL;
	EVP_PKEY *pkey = NULL;
	X509 *cert = NULL;
	char msg[256];

	if (!cert_path)
		cert_path = key_path;
	kbuf = read_file(key_path, &klen, errstr, errstr_size);
	if (!kbuf)
		goto out;
	/* Reading into memory first (rather than BIO_new_file) lets us wipe
	 * the key bytes afterwards. */
	bio = BIO_new_mem_buf(kbuf, (int)klen);
	pkey = PEM_read_bio_PrivateKey(bio, NULL, pem_passphrase,
				       (void *)key_password);
	BIO_free(bio);
	bio = NULL;
	if (!pkey) {
		snprintf(msg, sizeof(msg),
			 "%s: no usable PEM private key (%s)", key_path,
			 key_password ? "wrong passphrase or not a key"
				      : "missing, or encrypted and no "
					"passphrase given");
		ssl_errstr(errstr, errstr_size, msg);
		goto out;
	}
	cbuf = read_file(cert_path, &clen, errstr, errstr_size);
	if (!cbuf)
		goto out;
	bio = BIO_new_mem_buf(cbuf, (int)clen);
	cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	bio = NULL;
	if (!cert) {
		snprintf(msg, sizeof(msg), "%s: no PEM certificate", cert_path);
		ssl_errstr(errstr, errstr_size, msg);
		goto out;
	}
	cred = cred_new(pkey, cert, key_path, errstr, errstr_size);
	pkey = NULL;
	cert = NULL;
out:
	EVP_PKEY_free(pkey);
	X509_free(cert);
	if (kbuf) {
		rs_wipe(kbuf, klen);
		rs_free(kbuf);
	}
	if (cbuf) {
		rs_wipe(cbuf, clen);
		rs_free(cbuf);
	}
	return cred;
}

void rs_jwt_cred_destroy(rs_jwt_cred_t *cred) {
	if (!cred)
		return;
	EVP_PKEY_free(cred->pkey);
	X509_free(cred->cert);
	rs_free(cred);
}

const char *rs_jwt_cred_thumbprint(const rs_jwt_cred_t *cred,
				   rs_jwt_alg_t alg) {
	return alg == RS_JWT_RS256 ? cred->x5t : cred->x5t_s256;
}

int64_t rs_jwt_cred_not_after(const rs_jwt_cred_t *cred) {
	return cred->not_after;
}

/* A random (version 4) UUID: Entra wants a unique GUID as jti. */
static int uuid_v4(char *out, size_t size) {
	unsigned char b[16];

	if (RAND_bytes(b, sizeof(b)) != 1)
		return -1;
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, size,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
		 b[10], b[11], b[12], b[13], b[14], b[15]);
	return 0;
}

/* Serialises a cJSON object and appends its base64url form to out at *pos. */
static int append_b64_json(cJSON *obj, char *out, size_t size, size_t *pos) {
	char *json = cJSON_PrintUnformatted(obj);
	size_t n;

	if (!json)
		return -1;
	n = rs_jwt_b64url_encode(json, strlen(json), out + *pos, size - *pos);
	cJSON_free(json);
	if (!n)
		return -1;
	*pos += n;
	return 0;
}

/* Signs tbs with SHA-256 and the padding alg calls for.  PS256 is
 * RSASSA-PSS with MGF1-SHA-256 and a salt as long as the digest (RFC 7518
 * 3.5); OpenSSL's default PSS salt length would be the maximum. */
static int sign_sha256(EVP_PKEY *pkey, rs_jwt_alg_t alg, const char *tbs,
		       size_t tbs_len, unsigned char **sigp, size_t *sig_len) {
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	unsigned char *sig = NULL;
	size_t len = 0;
	int r = -1;

	if (!md || EVP_DigestSignInit(md, &pctx, EVP_sha256(), NULL, pkey) != 1)
		goto out;
	if (alg == RS_JWT_PS256 &&
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) !=
		     1 ||
	     EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) != 1))
		goto out;
	if (alg == RS_JWT_RS256 &&
	    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1)
		goto out;
	if (EVP_DigestSign(md, NULL, &len, (const unsigned char *)tbs,
			   tbs_len) != 1)
		goto out;
	sig = rs_malloc(len);
	if (EVP_DigestSign(md, sig, &len, (const unsigned char *)tbs,
			   tbs_len) != 1)
		goto out;
	*sigp = sig;
	*sig_len = len;
	sig = NULL;
	r = 0;
out:
	rs_free(sig);
	EVP_MD_CTX_free(md); /* also frees pctx */
	return r;
}

rs_err_t rs_jwt_assertion_build(const rs_jwt_cred_t *cred,
				const rs_jwt_claims_t *claims, char **outp,
				char *errstr, size_t errstr_size) {
	rs_err_t err = RS_ERR_CRYPTO;
	cJSON *hdr = NULL, *pl = NULL;
	char jti[40];
	char *out = NULL;
	size_t size, pos = 0;
	unsigned char *sig = NULL;
	size_t sig_len = 0;

	*outp = NULL;
	if (!claims->aud || !*claims->aud || !claims->client_id ||
	    !*claims->client_id || claims->lifetime_s < 1 ||
	    claims->lifetime_s > RS_JWT_MAX_LIFETIME_S ||
	    (claims->alg != RS_JWT_PS256 && claims->alg != RS_JWT_RS256)) {
		snprintf(errstr, errstr_size,
			 "client assertion needs aud, client_id, a known alg "
			 "and a lifetime of 1..%d s",
			 RS_JWT_MAX_LIFETIME_S);
		err = RS_ERR_INVALID_ARG;
		goto out;
	}
	if (!claims->jti && uuid_v4(jti, sizeof(jti)) != 0) {
		ssl_errstr(errstr, errstr_size, "no random bytes for jti");
		goto out;
	}

	/* cJSON builds the JSON so a client id or URL with quotes or
	 * backslashes is escaped rather than breaking the token. */
	hdr = cJSON_CreateObject();
	cJSON_AddStringToObject(hdr, "alg",
				claims->alg == RS_JWT_PS256 ? "PS256" : "RS256");
	cJSON_AddStringToObject(hdr, "typ", "JWT");
	cJSON_AddStringToObject(hdr,
				claims->alg == RS_JWT_PS256 ? "x5t#S256" : "x5t",
				rs_jwt_cred_thumbprint(cred, claims->alg));

	/* iat is optional for Entra but harmless, and some STSs (Talkdesk's
	 * JWT variant) require it; nbf = iat = now, exp <= now + 10 min. */
	pl = cJSON_CreateObject();
	cJSON_AddStringToObject(pl, "aud", claims->aud);
	cJSON_AddStringToObject(pl, "iss", claims->client_id);
	cJSON_AddStringToObject(pl, "sub", claims->client_id);
	cJSON_AddStringToObject(pl, "jti", claims->jti ? claims->jti : jti);
	cJSON_AddNumberToObject(pl, "nbf", (double)claims->now_s);
	cJSON_AddNumberToObject(pl, "iat", (double)claims->now_s);
	cJSON_AddNumberToObject(pl, "exp",
				(double)(claims->now_s + claims->lifetime_s));

	/* Room for both parts, two dots and a 4096-bit signature; the parts
	 * are short, so a generous fixed bound keeps this simple. */
	size = 4 * (strlen(claims->aud) + strlen(claims->client_id)) + 4096;
	out = rs_malloc(size);
	err = RS_ERR_TOO_LARGE;
	snprintf(errstr, errstr_size, "client assertion too large");
	if (append_b64_json(hdr, out, size, &pos) != 0 || pos + 2 >= size)
		goto out;
	out[pos++] = '.';
	if (append_b64_json(pl, out, size, &pos) != 0)
		goto out;
	if (sign_sha256(cred->pkey, claims->alg, out, pos, &sig, &sig_len) !=
	    0) {
		err = RS_ERR_CRYPTO;
		ssl_errstr(errstr, errstr_size, "signing the client assertion "
						"failed");
		goto out;
	}
	if (pos + 2 >= size)
		goto out;
	out[pos++] = '.';
	if (!rs_jwt_b64url_encode(sig, sig_len, out + pos, size - pos))
		goto out;
	*outp = out;
	out = NULL;
	if (errstr_size)
		errstr[0] = '\0';
	err = RS_OK;
out:
	if (out) {
		rs_wipe(out, size);
		rs_free(out);
	}
	rs_free(sig);
	cJSON_Delete(hdr);
	cJSON_Delete(pl);
	return err;
}
