/*
 * rs_jwt.h - certificate credentials and signed JWT client assertions
 * (RFC 7523 "private_key_jwt") for OAuth client credentials.
 *
 * A credential is an RSA private key plus the X.509 certificate registered
 * with the identity provider, loaded from a PKCS#12 (PFX) file or from PEM
 * files.  rs_jwt_assertion_build() turns it into the compact JWS that
 * replaces client_secret in a token request (graph.md section 1):
 *
 *   header  {"alg":"PS256","typ":"JWT","x5t#S256":b64url(SHA-256(cert DER))}
 *       or  {"alg":"RS256","typ":"JWT","x5t":b64url(SHA-1(cert DER))}
 *   payload {"aud":<token URL>,"iss":<client id>,"sub":<client id>,
 *            "jti":<random UUID>,"nbf":now,"iat":now,"exp":now+lifetime}
 *
 * Everything here is OpenSSL 3 (EVP_PKEY, PKCS12_parse, EVP_DigestSign).
 * A loaded credential is immutable, so one may be shared by threads.
 */
#ifndef RS_JWT_H
#define RS_JWT_H

#include "rs_base.h"
#include "rs_err.h"

/** Signature algorithm of the client assertion. */
typedef enum {
	RS_JWT_PS256 = 0, /**< RSASSA-PSS, SHA-256, salt = 32; x5t#S256 (default) */
	RS_JWT_RS256 = 1, /**< RSASSA-PKCS1-v1_5, SHA-256; x5t (SHA-1) */
} rs_jwt_alg_t;

/** Longest assertion lifetime we sign: Entra documents 5-10 minutes. */
#define RS_JWT_MAX_LIFETIME_S 600

/** An RSA key and its certificate (opaque, immutable once loaded). */
typedef struct rs_jwt_cred_s rs_jwt_cred_t;

/**
 * @brief Loads a PKCS#12 (PFX) file holding one RSA key and its certificate.
 * @param path the .pfx/.p12 file.
 * @param password its password (may be NULL or "" for none); not kept.
 * @returns the credential, or NULL with errstr filled (a wrong password is
 *          reported as such; the password itself never appears).
 * @locality any thread.
 */
rs_jwt_cred_t *rs_jwt_cred_load_pfx(const char *path, const char *password,
				    char *errstr, size_t errstr_size);

/**
 * @brief Same as rs_jwt_cred_load_pfx() for a PFX already in memory.
 * @param what names the source in error messages (e.g. a file name).
 */
rs_jwt_cred_t *rs_jwt_cred_load_pfx_mem(const void *der, size_t der_len,
					const char *password, const char *what,
					char *errstr, size_t errstr_size);

/**
 * @brief Loads a PEM private key (PKCS#8 or traditional, optionally
 *        encrypted) and a PEM certificate.
 * @param key_path the key file.
 * @param cert_path the certificate file; NULL means "in the key file too".
 * @param key_password passphrase of an encrypted key, or NULL.
 * @returns the credential, or NULL with errstr filled.  The key must be RSA
 *          and must match the certificate's public key.
 */
rs_jwt_cred_t *rs_jwt_cred_load_pem(const char *key_path,
				    const char *cert_path,
				    const char *key_password, char *errstr,
				    size_t errstr_size);

/** @brief Frees the credential (the key is cleared by OpenSSL).  Accepts NULL. */
void rs_jwt_cred_destroy(rs_jwt_cred_t *cred);

/**
 * @brief The certificate thumbprint as sent in the JWT header:
 *        base64url (no padding) of the raw SHA-256 (PS256, "x5t#S256") or
 *        SHA-1 (RS256, "x5t") digest of the DER certificate.
 * @returns a string owned by cred.
 */
const char *rs_jwt_cred_thumbprint(const rs_jwt_cred_t *cred,
				   rs_jwt_alg_t alg);

/** @returns the certificate's notAfter as seconds since the epoch (UTC). */
int64_t rs_jwt_cred_not_after(const rs_jwt_cred_t *cred);

/** What goes into one assertion (plain value struct). */
typedef struct rs_jwt_claims_s {
	rs_jwt_alg_t alg;     /**< PS256 (default) or RS256 */
	const char *aud;      /**< the token endpoint URL */
	const char *client_id; /**< iss and sub */
	int64_t now_s;        /**< wall clock, seconds since the epoch: nbf, iat */
	int lifetime_s;       /**< exp = now + lifetime, 1..RS_JWT_MAX_LIFETIME_S */
	const char *jti;      /**< NULL: a random UUID v4 */
} rs_jwt_claims_t;

/**
 * @brief Builds and signs a client assertion.
 * @param outp receives the compact JWS (rs_free() it; it is a credential
 *        for lifetime_s seconds, so rs_wipe() it first).
 * @returns RS_OK, RS_ERR_INVALID_ARG (bad claims) or RS_ERR_CRYPTO, with
 *          errstr filled on failure.
 * @locality any thread; cred is only read.
 */
rs_err_t rs_jwt_assertion_build(const rs_jwt_cred_t *cred,
				const rs_jwt_claims_t *claims, char **outp,
				char *errstr, size_t errstr_size);

/**
 * @brief base64url without padding (RFC 7515 section 2).
 * @param out receives the text, NUL-terminated; out_size must be at least
 *        (len + 2) / 3 * 4 + 1.
 * @returns the text length, or 0 when out is too small (and len > 0).
 */
size_t rs_jwt_b64url_encode(const void *data, size_t len, char *out,
			    size_t out_size);

/**
 * @brief Decodes base64url (padding accepted but not required).
 * @param out_len receives the decoded length.
 * @returns RS_OK, RS_ERR_PARSE on a bad character or length, or
 *          RS_ERR_TOO_LARGE when out is too small.
 */
rs_err_t rs_jwt_b64url_decode(const char *in, size_t in_len, void *out,
			      size_t out_size, size_t *out_len);

#endif /* RS_JWT_H */
