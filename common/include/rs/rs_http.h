/*
 * rs_http.h - the HTTP client every connector uses (libcurl underneath).
 *
 * One rs_http_t per thread: it owns one CURL easy handle, so connections
 * and TLS sessions are reused between requests of that thread.  TLS peer
 * and host verification are always on; plain http:// is allowed because the
 * simulator listens on loopback.
 *
 * A request is described by a plain rs_http_req_t; the response lands in a
 * caller-embedded rs_http_resp_t whose body is bounded (RS_ERR_TOO_LARGE).
 * The outcome is classified into an rs_error_t (retriable / retry_after_ms /
 * http_status) so the worker's retry and DLQ decisions read flags, never
 * text.  See docs/internals/http.md for the full contract.
 *
 * Secrets: the bearer token and form fields named in
 * RS_HTTP_SECRET_FORM_FIELDS are never logged; debug output (RS_DBG_HTTP)
 * redacts them.
 */
#ifndef RS_HTTP_H
#define RS_HTTP_H

#include "rs_base.h"
#include "rs_err.h"

/** Default response body bound (8 MiB); per instance and per request. */
#define RS_HTTP_DEFAULT_MAX_BODY (8u * 1024u * 1024u)
/** Default total request timeout and connect timeout. */
#define RS_HTTP_DEFAULT_TIMEOUT_MS 30000
#define RS_HTTP_DEFAULT_CONNECT_TIMEOUT_MS 10000
/** Retry-After values above this are capped (1 hour). */
#define RS_HTTP_RETRY_AFTER_MAX_MS (3600LL * 1000LL)
/** Extra request headers per request. */
#define RS_HTTP_MAX_HEADERS 16
/** Form fields whose values are redacted in debug logs. */
#define RS_HTTP_SECRET_FORM_FIELDS                                             \
	"client_secret", "client_assertion", "password", "refresh_token",      \
		"access_token", "code"

typedef struct rs_http_s rs_http_t;

typedef enum {
	RS_HTTP_GET = 0,
	RS_HTTP_POST,
	RS_HTTP_PUT,
	RS_HTTP_PATCH,
	RS_HTTP_DELETE,
} rs_http_method_t;

/** @brief "GET", "POST", ... */
const char *rs_http_method_name(rs_http_method_t method);

/**
 * One finished request, handed to the observe callback (metrics).
 * Plain value; strings are borrowed for the duration of the call only.
 */
typedef struct rs_http_event_s {
	const char *target;  /**< conf.target, e.g. "graph", "talkdesk" */
	const char *tenant;  /**< req.tenant, may be NULL */
	const char *op;      /**< req.op, e.g. "members.add", may be NULL */
	rs_http_method_t method;
	int status;          /**< HTTP status, 0 on transport failure */
	rs_err_t err;        /**< RS_OK or the classified code */
	int64_t elapsed_us;
	size_t bytes_sent;
	size_t bytes_received;
	int64_t retry_after_ms; /**< -1 when none */
} rs_http_event_t;

/** @locality the thread that sent the request. Must not call back into
 *  the same rs_http_t. */
typedef void(rs_http_observe_cb_t)(const rs_http_event_t *ev, void *opaque);

/** Instance configuration. Plain value; strings are copied by rs_http_new. */
typedef struct rs_http_conf_s {
	const char *target;     /**< metrics label ("graph"); may be NULL */
	const char *ca_file;    /**< CA bundle; NULL = system store */
	const char *user_agent; /**< NULL = "rostersync/<version>" */
	int64_t timeout_ms;     /**< default total timeout per request */
	int64_t connect_timeout_ms;
	size_t max_body;        /**< default response body bound */
	rs_http_observe_cb_t *observe_cb; /**< optional */
	void *observe_opaque;
} rs_http_conf_t;

/** @brief Fills @p conf with the defaults above. */
void rs_http_conf_init(rs_http_conf_t *conf);

/**
 * @brief Creates a client.  curl_global_init() must have run (rs_http_global_init).
 * @returns NULL with errstr filled on failure (e.g. unreadable ca_file).
 * @locality the returned handle is used by ONE thread at a time.
 */
rs_http_t *rs_http_new(const rs_http_conf_t *conf, char *errstr,
		       size_t errstr_size);
/** @brief Frees the client. NULL-safe. */
void rs_http_destroy(rs_http_t *http);

/** @brief curl_global_init wrapper: call once before threads start. */
rs_err_t rs_http_global_init(void);
/** @brief curl_global_cleanup wrapper: call once at exit. */
void rs_http_global_cleanup(void);

/**
 * A request.  Plain value; all pointers are borrowed for the duration of
 * rs_http_request_send.  Initialise with rs_http_req_init.
 */
typedef struct rs_http_req_s {
	rs_http_method_t method;
	const char *url;          /**< absolute http(s) URL, already escaped */
	/** "Name: value" lines. Never logged (so `Authorization: Basic` may
	 *  go here); an Authorization line is wiped after the request. */
	const char *headers[RS_HTTP_MAX_HEADERS];
	size_t header_cnt;
	const char *bearer_token; /**< -> "Authorization: Bearer ..." (never logged) */
	const char *content_type; /**< for body, e.g. "application/json" */
	const void *body;         /**< may be NULL */
	size_t body_len;
	bool body_secret;         /**< body must not be logged at all */
	const char *client_request_id; /**< GUID; NULL = generate one */
	const char *traceparent;  /**< W3C traceparent; NULL = none */
	int64_t timeout_ms;       /**< 0 = conf default */
	size_t max_body;          /**< 0 = conf default */
	const char *tenant;       /**< labels for logging and metrics */
	const char *op;
} rs_http_req_t;

/** @brief Zeroes @p req and sets method and url. */
void rs_http_req_init(rs_http_req_t *req, rs_http_method_t method,
		      const char *url);
/** @brief Adds "Name: value" (borrowed). @returns RS_ERR_TOO_LARGE when full,
 *  RS_ERR_INVALID_ARG on CR/LF or a missing ':'. */
rs_err_t rs_http_req_add_header(rs_http_req_t *req, const char *header);

/** A remote API error body: Graph envelope or Talkdesk body. Plain value. */
typedef struct rs_http_api_error_s {
	char code[64];        /**< "Request_ResourceNotFound", "0012001" */
	char message[512];
	char inner_code[64];  /**< Graph innerError.code, if any */
	char request_id[64];  /**< Graph innerError.request-id */
	char date[40];        /**< Graph innerError.date */
	int64_t retry_after_ms; /**< Talkdesk fields[retry-after], -1 none */
} rs_http_api_error_t;

/**
 * @brief Parses an error body (Graph `{"error":{code,message,innerError}}`,
 *        Talkdesk `{code,message,fields}`, or OAuth `{error,
 *        error_description}`).
 * @returns true when a code or message was found; @p out is always
 *          initialised (empty strings, retry_after_ms -1).
 */
bool rs_http_api_error_parse(const char *body, size_t len,
			     rs_http_api_error_t *out);

/** A response; embed it, rs_http_resp_init it, rs_http_resp_cleanup it. */
typedef struct rs_http_resp_s {
	int status;            /**< 0 when no response arrived */
	char *body;            /**< owned, NUL-terminated, may be NULL */
	size_t body_len;
	char retry_after[64];  /**< raw header value, "" if absent */
	int64_t retry_after_ms; /**< parsed (header, else body hint), -1 none */
	char request_id[64];
	char client_request_id[64]; /**< the one sent (echo checked) */
	char ags_diagnostic[256];
	char content_type[128];
	char location[512];
	int64_t elapsed_us;
	rs_http_api_error_t api_error; /**< filled for non-2xx */
} rs_http_resp_t;

void rs_http_resp_init(rs_http_resp_t *resp);
/** @brief Frees the body; the struct can be reused after rs_http_resp_init. */
void rs_http_resp_cleanup(rs_http_resp_t *resp);

/**
 * @brief Sends one request (no automatic retry: the caller decides).
 * @param resp receives status, headers and body; it is reset first.
 * @returns NULL on 2xx; otherwise an error the caller owns:
 *   - 3xx (redirects are not followed): HTTP_STATUS, not retriable
 *   - transport failure / timeout: HTTP_TRANSPORT / TIMEOUT, retriable
 *   - body above max_body: TOO_LARGE, not retriable
 *   - 429: HTTP_THROTTLED, retriable, retry_after_ms from Retry-After
 *   - 500/502/503/504 (and 408): HTTP_SERVER, retriable (+Retry-After)
 *   - 401 AUTH (retriable once the token is refreshed: the caller decides)
 *   - 403 FORBIDDEN, 404 REMOTE_NOT_FOUND, 410 RETIRED, other 4xx
 *     HTTP_CLIENT: not retriable
 *   The message names status, API code, message and request-id.
 * @locality the thread owning @p http.
 */
rs_error_t *rs_http_request_send(rs_http_t *http, const rs_http_req_t *req,
				 rs_http_resp_t *resp);

/**
 * @brief Classifies a finished exchange (no network; used by send, tests).
 * @param retry_after raw Retry-After header value or NULL.
 * @returns NULL for 1xx/2xx, else a new error as described above (3xx:
 *          HTTP_STATUS, not retriable: redirects are never followed).
 */
rs_error_t *rs_http_classify(int status, const char *body, size_t body_len,
			     const char *retry_after, int64_t now_wall_ms,
			     const char *request_id);

/** Per-instance counters. Plain value.  Status classes count the status
 *  received: a 429 is in status_4xx and in throttled; a TOO_LARGE answer
 *  with status 200 is in status_2xx and in too_large. */
typedef struct rs_http_stats_s {
	uint64_t requests;
	uint64_t status_1xx_3xx, status_2xx, status_4xx, status_5xx;
	uint64_t throttled;        /**< 429s */
	uint64_t transport_errors; /**< incl. timeouts */
	uint64_t timeouts;
	uint64_t too_large;
	uint64_t bytes_sent, bytes_received;
} rs_http_stats_t;

/** @brief Copies the counters. @locality owner thread. */
void rs_http_stats_get(const rs_http_t *http, rs_http_stats_t *out);

/**
 * @brief Parses a Retry-After value: delta-seconds (fractional allowed,
 *        "1.5") or an HTTP-date (IMF-fixdate, RFC 850, asctime).
 * @param now_wall_ms the current wall clock (rs_wall_ms()), for dates.
 * @param out_ms delay in ms; past dates give 0; capped at
 *        RS_HTTP_RETRY_AFTER_MAX_MS.
 * @returns RS_OK, or RS_ERR_PARSE for garbage, negatives and overflow.
 */
rs_err_t rs_http_retry_after_parse(const char *value, int64_t now_wall_ms,
				   int64_t *out_ms);

/** A jitter source: returns uniformly distributed 64-bit values. */
typedef uint64_t(rs_http_rand_cb_t)(void *opaque);

/**
 * @brief xorshift64* source whose state the caller owns (@p opaque is a
 *        uint64_t *, never 0; seed it with rs_http_rand_seed).
 */
uint64_t rs_http_rand_xorshift(void *opaque);
/** @brief A non-zero seed from the OS (getrandom). */
uint64_t rs_http_rand_seed(void);

/**
 * @brief Exponential backoff with full jitter:
 *        uniform in [0, min(max_ms, base_ms * 2^attempt)].
 * @param attempt 0 for the first retry.
 * @param rnd the random source, or NULL for no jitter (the upper bound).
 */
int64_t rs_http_backoff_ms(int attempt, int64_t base_ms, int64_t max_ms,
			   rs_http_rand_cb_t *rnd, void *opaque);
/**
 * @brief Decorrelated jitter: uniform in [base_ms, min(max_ms, prev_ms*3)].
 * @param prev_ms the previous delay (base_ms for the first retry).
 */
int64_t rs_http_backoff_decorrelated_ms(int64_t prev_ms, int64_t base_ms,
					int64_t max_ms, rs_http_rand_cb_t *rnd,
					void *opaque);

/**
 * @brief Appends `name=value` (with '&' if *len > 0) to a form body,
 *        application/x-www-form-urlencoded (space -> '+').
 * @param len in/out used length; buf stays NUL-terminated.
 * @returns RS_ERR_TOO_LARGE when it does not fit (buf unchanged).
 */
rs_err_t rs_http_form_add(char *buf, size_t size, size_t *len,
			  const char *name, const char *value);

/**
 * @brief Copies a form body with the values of RS_HTTP_SECRET_FORM_FIELDS
 *        replaced by "[REDACTED]" (for logging). Truncates to fit.
 */
void rs_http_form_redact(const char *body, size_t len, char *out,
			 size_t size);

/** @brief A random (v4) UUID, lower-case, into @p out (>= 37 bytes). */
void rs_http_uuid4(char *out, size_t size);

#endif /* RS_HTTP_H */
