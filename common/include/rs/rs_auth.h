/*
 * rs_auth.h - per-tenant OAuth token provider with a token cache.
 *
 * One rs_auth_t serves ONE tenant and ONE service (Graph via Entra ID,
 * Talkdesk, Genesys Cloud): its token is never shared with another
 * provider, so tenants stay isolated (ARCHITECTURE.md guarantee 4).
 * The service is a "flavour" (a row in a const table inside rs_auth.c):
 * where the token URL is, how the client authenticates (form fields or
 * HTTP Basic), whether a certificate may replace the secret.
 *
 * Cache contract (docs/internals/auth.md):
 *  - rs_auth_token() returns the cached token while more than
 *    max(refresh_min_s, refresh_pct % of the lifetime) remains (capped at
 *    half the lifetime), else it fetches a new one;
 *  - single flight: one caller fetches, concurrent callers wait for that
 *    fetch and share its result (token or error) instead of stampeding;
 *    while a proactive refresh is in flight, callers holding a still-valid
 *    token are not delayed;
 *  - if a refresh fails while the old token is still valid, the old token
 *    is returned (a transient STS outage does not stop work);
 *  - rs_auth_invalidate(token) after a 401 drops that token (only if it is
 *    still the cached one), so N workers seeing the same 401 cause ONE
 *    refresh; the caller retries its request once.
 *
 * Secrets: the client secret is copied at creation and wiped at destroy;
 * request bodies holding it are wiped after use; nothing secret is logged
 * and error messages are scrubbed of the secret and the assertion.
 */
#ifndef RS_AUTH_H
#define RS_AUTH_H

#include "rs_base.h"
#include "rs_err.h"
#include "rs_jwt.h"

/** The service a provider gets tokens for. */
typedef enum {
	RS_AUTH_ENTRA = 0,    /**< Entra ID v2.0 client credentials (Graph) */
	RS_AUTH_TALKDESK = 1, /**< Talkdesk: Basic id:secret, scopes */
	RS_AUTH_GENESYS = 2,  /**< Genesys Cloud: Basic id:secret, no scope */
} rs_auth_flavour_t;

/** How the client proves who it is. */
typedef enum {
	RS_AUTH_CRED_SECRET = 0, /**< client_secret */
	RS_AUTH_CRED_PFX = 1,    /**< PKCS#12 file + password -> assertion */
	RS_AUTH_CRED_PEM = 2,    /**< PEM key + PEM certificate -> assertion */
} rs_auth_cred_t;

/** Longest token we hand out (Entra tokens are ~1.5-3 KiB). */
#define RS_AUTH_MAX_TOKEN 16384

/**
 * Provider settings (plain value struct; rs_auth_conf_init() fills the
 * defaults).  Strings are copied by rs_auth_new(): the caller may wipe and
 * free its copies, in particular the resolved secret, right after.
 */
typedef struct rs_auth_conf_s {
	rs_auth_flavour_t flavour;
	const char *tenant;    /**< rostersync tenant id (logs, errors) */
	/** Full token URL.  NULL: derived from login_base_url:
	 *  Entra "{base}/{directory}/oauth2/v2.0/token", Talkdesk and Genesys
	 *  "{base}/oauth/token". */
	const char *token_url;
	/** Entra: "https://login.microsoftonline.com" (default; sovereign
	 *  clouds differ); Talkdesk "https://{account}.talkdeskid.com";
	 *  Genesys "https://login.mypurecloud.com". */
	const char *login_base_url;
	const char *directory; /**< Entra tenant GUID or domain */
	const char *client_id;
	rs_auth_cred_t cred;
	const char *client_secret; /**< the VALUE (resolved), for CRED_SECRET */
	const char *pfx_path;      /**< CRED_PFX */
	const char *pfx_password;  /**< CRED_PFX, value; not kept */
	const char *key_pem_path;  /**< CRED_PEM */
	const char *cert_pem_path; /**< CRED_PEM; NULL = in the key file */
	const char *key_password;  /**< CRED_PEM encrypted key, value; not kept */
	/** Scope: Entra default "https://graph.microsoft.com/.default";
	 *  Talkdesk space-separated scopes ("users:read ring-groups:read");
	 *  Genesys none. */
	const char *scope;
	rs_jwt_alg_t assertion_alg; /**< PS256 (default) or RS256 */
	int assertion_lifetime_s;   /**< default 600, max 600 */
	int refresh_min_s;          /**< default 60 */
	int refresh_pct;            /**< default 10 (% of the token lifetime) */
	long timeout_ms;            /**< token request timeout, default 10000 */
	const char *ca_file;        /**< extra CA bundle (tests), or NULL */
	/** Monotonic clock for the cache (ms); NULL = rs_now_ms().  Tests
	 *  inject their own instead of touching global state. */
	int64_t (*now_ms)(void *opaque);
	/** Wall clock for assertion claims (ms since the epoch); NULL =
	 *  rs_wall_ms(). */
	int64_t (*wall_ms)(void *opaque);
	void *clock_opaque;
} rs_auth_conf_t;

typedef struct rs_auth_s rs_auth_t;

/** @brief Fills conf with the defaults above (flavour Entra, secret). */
void rs_auth_conf_init(rs_auth_conf_t *conf);

/**
 * @brief Creates a provider for one tenant and one service.  Certificates
 *        are loaded here, so a wrong PFX password fails now, not on the
 *        first job.
 * @returns the provider or NULL with errstr filled (never holding a
 *          secret).
 * @locality any thread.
 */
rs_auth_t *rs_auth_new(const rs_auth_conf_t *conf, char *errstr,
		       size_t errstr_size);

/** @brief Wipes the cached token and the secret, frees.  Accepts NULL.
 *  @remark No rs_auth_token() call may be in progress. */
void rs_auth_destroy(rs_auth_t *a);

/**
 * @brief Returns a bearer token (without the "Bearer " prefix).
 * @param buf receives the token, NUL-terminated.
 * @param errorp receives the travelling error on failure (caller
 *        destroys; may be NULL): RS_ERR_AUTH permanent (bad credentials,
 *        unknown app, ...; the AADSTS code is in the message),
 *        RS_ERR_HTTP_TRANSPORT / HTTP_SERVER / HTTP_THROTTLED retriable,
 *        RS_ERR_BAD_RESPONSE, RS_ERR_TOO_LARGE when size is too small.
 * @returns RS_OK or the error code.
 * @locality any thread.
 * @locks a->lock, not held during the token request; callers wait on
 *        a->cond while another thread's request is in flight.
 */
rs_err_t rs_auth_token(rs_auth_t *a, char *buf, size_t size,
		       rs_error_t **errorp);

/**
 * @brief Drops token from the cache if it is still the cached one (the
 *        API answered 401 with it), so the next rs_auth_token() fetches a
 *        new token exactly once however many callers saw the 401.
 * @locality any thread.  @locks a->lock.
 */
void rs_auth_invalidate(rs_auth_t *a, const char *token);

/** @returns how many token requests this provider sent (metrics, tests).
 *  @locks a->lock. */
uint64_t rs_auth_requests(rs_auth_t *a);

/** @returns the token URL in use (owned by a). */
const char *rs_auth_token_url(const rs_auth_t *a);

/** @returns "entra", "talkdesk" or "genesys". */
const char *rs_auth_flavour_name(rs_auth_flavour_t flavour);

#endif /* RS_AUTH_H */
