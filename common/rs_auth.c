/*
 * rs_auth.c - per-tenant OAuth client-credentials token provider and its
 * cache (rs_auth.h; the contract is in docs/internals/auth.md).
 *
 * The token request goes through the shared HTTP client (rs_http.h): the
 * provider owns one rs_http_t, used by whichever thread runs the (single)
 * fetch, so it is never used by two threads at once.
 */
#include "rs/rs_base.h"
#include "rs/rs_auth.h"
#include "rs/rs_http.h"
#include "rs/rs_log.h"
#include "rs_auth_int.h"

#include <pthread.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

/* A token endpoint answer is a few KiB; anything bigger is refused. */
#define AUTH_MAX_BODY (64 * 1024)
/* Longest error_description excerpt we put into an error message. */
#define AUTH_MAX_DESC 200

#define CLIENT_ASSERTION_TYPE                                                  \
	"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

/*
 * A flavour: what differs between services.  Adding DeskDirector (static
 * "DdApi" key, no token endpoint) or a Talkdesk signed-JWT client means one
 * more row here and, if needed, one more form builder.
 */
typedef struct auth_flavour_s {
	const char *name;
	const char *token_path;    /* appended to login_base_url */
	bool path_has_directory;   /* Entra: /{directory}/oauth2/v2.0/token */
	const char *default_base;  /* NULL: login_base_url or token_url needed */
	const char *default_scope; /* NULL: no scope parameter */
	bool basic_auth;           /* id:secret as HTTP Basic, not form fields */
	bool form_client_id;       /* client_id in the form */
	bool supports_cert;        /* private_key_jwt client assertion */
} auth_flavour_t;

static const auth_flavour_t flavours[] = {
	[RS_AUTH_ENTRA] = {"entra", "/oauth2/v2.0/token", true,
			   "https://login.microsoftonline.com",
			   "https://graph.microsoft.com/.default", false, true,
			   true},
	[RS_AUTH_TALKDESK] = {"talkdesk", "/oauth/token", false, NULL, NULL,
			      true, false, false},
	[RS_AUTH_GENESYS] = {"genesys", "/oauth/token", false,
			     "https://login.mypurecloud.com", NULL, true, false,
			     false},
};

struct rs_auth_s {
	/* Immutable after rs_auth_new(). */
	const auth_flavour_t *fl;
	rs_log_ctx_t lctx;
	char *tenant;
	char *token_url;
	char *client_id;
	char *secret; /* wiped at destroy */
	size_t secret_len;
	char *scope;
	rs_http_t *http; /* used only by the fetching thread */
	rs_jwt_cred_t *jwt;
	rs_jwt_alg_t alg;
	int assertion_lifetime_s;
	int refresh_min_s, refresh_pct;
	long timeout_ms;
	int64_t (*now_ms)(void *opaque);
	int64_t (*wall_ms)(void *opaque);
	void *clock_opaque;

	pthread_mutex_t lock;
	pthread_cond_t cond; /* signalled when a fetch ends */
	/* @locks lock: everything below. */
	char *token; /* NULL: none cached */
	size_t token_len;
	int64_t expires_at;  /* monotonic ms */
	int64_t refresh_at;  /* monotonic ms */
	bool fetching;       /* a thread is talking to the token endpoint */
	uint64_t fetch_gen;  /* fetches completed */
	rs_error_t *fetch_err; /* the last fetch's error, for its waiters */
	uint64_t requests;
};

const char *rs_auth_flavour_name(rs_auth_flavour_t flavour) {
	if ((size_t)flavour >= RS_ARRAY_SIZE(flavours))
		return "unknown";
	return flavours[flavour].name;
}

void rs_auth_conf_init(rs_auth_conf_t *conf) {
	memset(conf, 0, sizeof(*conf));
	conf->flavour = RS_AUTH_ENTRA;
	conf->cred = RS_AUTH_CRED_SECRET;
	conf->assertion_alg = RS_JWT_PS256;
	conf->assertion_lifetime_s = RS_JWT_MAX_LIFETIME_S;
	conf->refresh_min_s = 60;
	conf->refresh_pct = 10;
	conf->timeout_ms = 10000;
}

static int64_t auth_now(const rs_auth_t *a) {
	return a->now_ms ? a->now_ms(a->clock_opaque) : rs_now_ms();
}

static int64_t auth_wall(const rs_auth_t *a) {
	return a->wall_ms ? a->wall_ms(a->clock_opaque) : rs_wall_ms();
}

/* The directory goes into the URL path: a GUID or a domain name, nothing
 * that could change the path or the host (ARCHITECTURE guarantee 8). */
static bool directory_ok(const char *d) {
	size_t i, n = strlen(d);

	if (!n || n > 253)
		return false;
	for (i = 0; i < n; i++) {
		char c = d[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '.'))
			return false;
	}
	return !strstr(d, "..");
}

static char *build_token_url(const rs_auth_conf_t *conf,
			     const auth_flavour_t *fl, char *errstr,
			     size_t errstr_size) {
	const char *base = conf->login_base_url ? conf->login_base_url
						: fl->default_base;
	size_t blen;
	char *url;

	if (conf->token_url && *conf->token_url)
		return rs_strdup(conf->token_url);
	if (!base || !*base) {
		snprintf(errstr, errstr_size,
			 "%s: token_url or login_base_url is required",
			 fl->name);
		return NULL;
	}
	blen = strlen(base);
	while (blen && base[blen - 1] == '/')
		blen--;
	if (fl->path_has_directory) {
		if (!conf->directory || !directory_ok(conf->directory)) {
			snprintf(errstr, errstr_size,
				 "%s: directory (tenant GUID or domain) missing "
				 "or invalid",
				 fl->name);
			return NULL;
		}
		blen += strlen(conf->directory) + 1;
	}
	url = rs_malloc(blen + strlen(fl->token_path) + 2);
	if (fl->path_has_directory)
		snprintf(url, blen + strlen(fl->token_path) + 2, "%.*s/%s%s",
			 (int)(blen - strlen(conf->directory) - 1), base,
			 conf->directory, fl->token_path);
	else
		snprintf(url, blen + strlen(fl->token_path) + 2, "%.*s%s",
			 (int)blen, base, fl->token_path);
	return url;
}

rs_auth_t *rs_auth_new(const rs_auth_conf_t *conf, char *errstr,
		       size_t errstr_size) {
	const auth_flavour_t *fl;
	rs_auth_t *a = NULL;
	char *url = NULL;
	rs_jwt_cred_t *jwt = NULL;
	rs_http_conf_t hc;
	rs_http_t *http;

	/* Everything a token request needs is checked here, at start-up,
	 * so configuration mistakes surface before the first job does. */
	if ((size_t)conf->flavour >= RS_ARRAY_SIZE(flavours)) {
		snprintf(errstr, errstr_size, "unknown auth flavour %d",
			 (int)conf->flavour);
		return NULL;
	}
	fl = &flavours[conf->flavour];
	if (!conf->tenant || !*conf->tenant || !conf->client_id ||
	    !*conf->client_id) {
		snprintf(errstr, errstr_size, "%s: tenant and client_id are "
					      "required",
			 fl->name);
		return NULL;
	}
	if (conf->cred == RS_AUTH_CRED_SECRET &&
	    (!conf->client_secret || !*conf->client_secret)) {
		snprintf(errstr, errstr_size,
			 "tenant %s: %s: client secret is empty", conf->tenant,
			 fl->name);
		return NULL;
	}
	if (conf->cred != RS_AUTH_CRED_SECRET && !fl->supports_cert) {
		snprintf(errstr, errstr_size,
			 "tenant %s: %s supports only a client secret",
			 conf->tenant, fl->name);
		return NULL;
	}
	if (conf->assertion_lifetime_s < 1 ||
	    conf->assertion_lifetime_s > RS_JWT_MAX_LIFETIME_S ||
	    conf->refresh_min_s < 0 || conf->refresh_pct < 0 ||
	    conf->refresh_pct > 50 || conf->timeout_ms < 1) {
		snprintf(errstr, errstr_size,
			 "tenant %s: %s: assertion lifetime 1..%d s, refresh "
			 "percentage 0..50, timeout >= 1 ms",
			 conf->tenant, fl->name, RS_JWT_MAX_LIFETIME_S);
		return NULL;
	}
	url = build_token_url(conf, fl, errstr, errstr_size);
	if (!url)
		return NULL;
	if (conf->cred == RS_AUTH_CRED_PFX) {
		jwt = rs_jwt_cred_load_pfx(conf->pfx_path ? conf->pfx_path : "",
					   conf->pfx_password, errstr,
					   errstr_size);
	} else if (conf->cred == RS_AUTH_CRED_PEM) {
		jwt = rs_jwt_cred_load_pem(
			conf->key_pem_path ? conf->key_pem_path : "",
			conf->cert_pem_path, conf->key_password, errstr,
			errstr_size);
	}
	if (conf->cred != RS_AUTH_CRED_SECRET && !jwt) {
		rs_free(url);
		return NULL;
	}
	/* The provider's own HTTP client: only the fetching thread uses it
	 * (single flight), which is the one-thread-at-a-time rs_http needs. */
	rs_http_conf_init(&hc);
	hc.target = fl->name;
	hc.ca_file = conf->ca_file;
	hc.timeout_ms = conf->timeout_ms;
	hc.connect_timeout_ms = RS_MIN(conf->timeout_ms, 5000L);
	hc.max_body = AUTH_MAX_BODY;
	http = rs_http_new(&hc, errstr, errstr_size);
	if (!http) {
		rs_jwt_cred_destroy(jwt);
		rs_free(url);
		return NULL;
	}

	a = rs_calloc(1, sizeof(*a));
	a->fl = fl;
	a->tenant = rs_strdup(conf->tenant);
	a->lctx.tenant = a->tenant;
	a->token_url = url;
	a->client_id = rs_strdup(conf->client_id);
	if (conf->cred == RS_AUTH_CRED_SECRET) {
		a->secret = rs_strdup(conf->client_secret);
		a->secret_len = strlen(a->secret);
	}
	a->scope = rs_strdup(conf->scope ? conf->scope : fl->default_scope);
	a->jwt = jwt;
	a->http = http;
	a->alg = conf->assertion_alg;
	a->assertion_lifetime_s = conf->assertion_lifetime_s;
	a->refresh_min_s = conf->refresh_min_s;
	a->refresh_pct = conf->refresh_pct;
	a->timeout_ms = conf->timeout_ms;
	a->now_ms = conf->now_ms;
	a->wall_ms = conf->wall_ms;
	a->clock_opaque = conf->clock_opaque;
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->cond, NULL);

	/* An expired certificate would only show up as AADSTS700027 on every
	 * request: say so once, up front. */
	if (jwt && rs_jwt_cred_not_after(jwt) * 1000 < auth_wall(a))
		rs_log(&a->lctx, LOG_WARNING, "AUTH",
		       "%s: client certificate has expired", fl->name);
	return a;
}

static void wipe_free(char *s, size_t len) {
	if (!s)
		return;
	rs_wipe(s, len);
	rs_free(s);
}

void rs_auth_destroy(rs_auth_t *a) {
	if (!a)
		return;
	wipe_free(a->token, a->token_len);
	wipe_free(a->secret, a->secret_len);
	rs_error_destroy(a->fetch_err);
	rs_jwt_cred_destroy(a->jwt);
	rs_free(a->tenant);
	rs_free(a->token_url);
	rs_free(a->client_id);
	rs_free(a->scope);
	rs_http_destroy(a->http);
	pthread_mutex_destroy(&a->lock);
	pthread_cond_destroy(&a->cond);
	rs_free(a);
}

const char *rs_auth_token_url(const rs_auth_t *a) {
	return a->token_url;
}

uint64_t rs_auth_requests(rs_auth_t *a) {
	uint64_t n;

	pthread_mutex_lock(&a->lock);
	n = a->requests;
	pthread_mutex_unlock(&a->lock);
	return n;
}

/* --------------------------------------------------------------------
 * The token request
 * ------------------------------------------------------------------ */

/* Replaces every occurrence of needle in msg by "***": a server that
 * echoes the request must not get our secret into an error or a log. */
RS_STATIC void auth_redact(char *msg, const char *needle) {
	size_t nlen = needle ? strlen(needle) : 0;
	char *p;

	if (nlen < 4)
		return;
	while ((p = strstr(msg, needle)) != NULL) {
		memcpy(p, "***", 3);
		memmove(p + 3, p + nlen, strlen(p + nlen) + 1);
	}
}

/* What an AADSTS code means, for people reading the error (graph.md 1). */
static const struct {
	long code;
	const char *hint;
	bool retriable;
} aadsts_hints[] = {
	{7000215, "invalid client secret (secret ID pasted instead of value?)",
	 false},
	{7000222, "client secret expired", false},
	{7000218, "request has neither client_assertion nor client_secret",
	 false},
	{700016, "application not found in the directory (wrong tenant or no "
		 "consent)",
	 false},
	{90002, "tenant not found", false},
	{700027, "client assertion signature invalid (certificate expired or "
		 "not registered)",
	 false},
	{700024, "client assertion outside its valid time range (clock skew?)",
	 false},
	{50012, "authentication failed (bad assertion or thumbprint)", false},
	{70011, "invalid scope", false},
	{700022, "scope names more than one resource", false},
	{500011, "resource principal not found in the tenant", false},
	{65001, "admin consent missing", false},
	{53003, "blocked by Conditional Access", false},
	{7000112, "application disabled", false},
	{90055, "tenant throttled", true},
	{90024, "request budget exceeded", true},
	{90006, "transient service error", true},
	{90090, "transient service error", true},
};

/* The AADSTS code of an Entra error: error_codes[0], else the number after
 * "AADSTS" in error_description.  0 when none. */
static long aadsts_code(const cJSON *j, const char *desc) {
	const cJSON *codes = cJSON_GetObjectItemCaseSensitive(j, "error_codes");
	const cJSON *first = cJSON_IsArray(codes) ? codes->child : NULL;
	const char *p;

	if (cJSON_IsNumber(first) && first->valuedouble > 0)
		return (long)first->valuedouble;
	p = desc ? strstr(desc, "AADSTS") : NULL;
	if (p && p[6] >= '0' && p[6] <= '9')
		return strtol(p + 6, NULL, 10);
	return 0;
}

/* Maps a response that is not a usable token to a travelling error:
 * transport, 5xx, 429 and the STS's own transient codes are retriable;
 * everything the credentials or the app registration cause is a permanent
 * RS_ERR_AUTH that names the AADSTS code. */
RS_STATIC rs_error_t *auth_map_error(const char *tenant, const char *flavour,
				     long status, const char *body,
				     int64_t retry_after_ms) {
	cJSON *j = body ? cJSON_Parse(body) : NULL;
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
	const cJSON *d =
		cJSON_GetObjectItemCaseSensitive(j, "error_description");
	const char *oerr = cJSON_IsString(e) ? e->valuestring : NULL;
	const char *desc = cJSON_IsString(d) ? d->valuestring : NULL;
	char dbuf[AUTH_MAX_DESC + 1] = "";
	char codebuf[64] = "";
	const char *hint = NULL;
	bool retriable = status >= 500 || status == 429 || status == 408;
	rs_err_t code = RS_ERR_AUTH;
	long aad = aadsts_code(j, desc);
	size_t i;
	rs_error_t *error;

	if (desc) {
		/* Only the first line: Entra appends trace and correlation
		 * ids and a timestamp on the following ones. */
		size_t n = strcspn(desc, "\r\n");
		snprintf(dbuf, sizeof(dbuf), "%.*s",
			 (int)RS_MIN(n, (size_t)AUTH_MAX_DESC), desc);
	}
	/* The AADSTS code is what an operator searches for, so it always goes
	 * into the message; the hint saves a trip to the error-code page. */
	if (aad) {
		snprintf(codebuf, sizeof(codebuf), " AADSTS%ld", aad);
		for (i = 0; i < RS_ARRAY_SIZE(aadsts_hints); i++) {
			if (aadsts_hints[i].code == aad) {
				hint = aadsts_hints[i].hint;
				retriable |= aadsts_hints[i].retriable;
			}
		}
	}
	/* The OAuth spec's one transient error code (RFC 6749 5.2 errata and
	 * Entra's own list): the STS asks us to come back later. */
	if (oerr && !strcmp(oerr, "temporarily_unavailable"))
		retriable = true;
	if (status == 429)
		code = RS_ERR_HTTP_THROTTLED;
	else if (status >= 500)
		code = RS_ERR_HTTP_SERVER;

	error = rs_error_new(code, retriable, false,
			     retriable ? retry_after_ms : -1,
			     "tenant %s: %s token request failed: HTTP %ld%s%s%s"
			     "%s%s%s%s",
			     tenant, flavour, status, oerr ? " " : "",
			     oerr ? oerr : "", codebuf, hint ? " (" : "",
			     hint ? hint : "", hint ? ")" : "",
			     dbuf[0] ? ": " : "");
	if (dbuf[0]) {
		/* Append the description through a second error so the
		 * format above stays readable. */
		char msg[1024];
		rs_snprintf(msg, sizeof(msg), "%s%s", rs_error_msg(error),
			    dbuf);
		rs_error_destroy(error);
		error = rs_error_new(code, retriable, false,
				     retriable ? retry_after_ms : -1, "%s",
				     msg);
	}
	rs_error_set_http_status(error, (int)status);
	cJSON_Delete(j);
	return error;
}

/* Copies an error, with its message scrubbed of the secrets we sent: the
 * secret raw and form-encoded (an echoing server returns what it got) and
 * the assertion. */
static rs_error_t *error_scrubbed(const rs_error_t *src, const char *secret,
				  const char *assertion) {
	char msg[1024];
	char *enc = NULL;
	size_t enc_size = 0, enc_len = 0;
	rs_error_t *error;

	rs_snprintf(msg, sizeof(msg), "%s", rs_error_msg(src));
	if (secret) {
		enc_size = 3 * strlen(secret) + 4;
		enc = rs_malloc(enc_size);
		if (rs_http_form_add(enc, enc_size, &enc_len, "x", secret) ==
		    RS_OK)
			auth_redact(msg, enc + 2); /* skip "x=" */
		auth_redact(msg, secret);
	}
	auth_redact(msg, assertion);
	error = rs_error_new(rs_error_code(src), rs_error_retriable(src),
			     rs_error_fatal(src), rs_error_retry_after_ms(src),
			     "%s", msg);
	rs_error_set_http_status(error, rs_error_http_status(src));
	rs_wipe(msg, sizeof(msg));
	if (enc) {
		rs_wipe(enc, enc_size);
		rs_free(enc);
	}
	return error;
}

/* "Authorization: Basic base64(id:secret)" (RFC 6749 2.3.1, as Talkdesk
 * and Genesys document it), in memory the caller wipes. */
static char *basic_header(const rs_auth_t *a, size_t *lenp) {
	const char *pfx = "Authorization: Basic ";
	size_t idlen = strlen(a->client_id);
	size_t plen = idlen + 1 + a->secret_len;
	unsigned char *plain = rs_malloc(plen + 1);
	char *hdr;

	memcpy(plain, a->client_id, idlen);
	plain[idlen] = ':';
	memcpy(plain + idlen + 1, a->secret, a->secret_len);
	*lenp = strlen(pfx) + (plen + 2) / 3 * 4 + 1;
	hdr = rs_malloc(*lenp);
	memcpy(hdr, pfx, strlen(pfx));
	EVP_EncodeBlock((unsigned char *)hdr + strlen(pfx), plain, (int)plen);
	rs_wipe(plain, plen);
	rs_free(plain);
	return hdr;
}

/* Builds the form body: size bounded by what goes in (every byte may
 * become %XX) so it cannot be too small. */
static char *build_form(const rs_auth_t *a, const char *assertion,
			size_t *sizep, size_t *lenp) {
	size_t size = 256 + 3 * (strlen(a->client_id) +
				 (a->scope ? strlen(a->scope) : 0) +
				 (a->secret ? a->secret_len : 0) +
				 (assertion ? strlen(assertion) : 0) +
				 strlen(CLIENT_ASSERTION_TYPE));
	char *form = rs_malloc(size);
	rs_err_t err;

	*lenp = 0;
	form[0] = '\0';
	err = rs_http_form_add(form, size, lenp, "grant_type",
			       "client_credentials");
	if (!err && a->fl->form_client_id)
		err = rs_http_form_add(form, size, lenp, "client_id",
				       a->client_id);
	if (!err && a->scope && *a->scope)
		err = rs_http_form_add(form, size, lenp, "scope", a->scope);
	if (!err && assertion) {
		err = rs_http_form_add(form, size, lenp,
				       "client_assertion_type",
				       CLIENT_ASSERTION_TYPE);
		if (!err)
			err = rs_http_form_add(form, size, lenp,
					       "client_assertion", assertion);
	} else if (!err && !a->fl->basic_auth) {
		err = rs_http_form_add(form, size, lenp, "client_secret",
				       a->secret);
	}
	rs_assert(err == RS_OK); /* size covers the worst case */
	*sizep = size;
	return form;
}

/* Asks the token endpoint once.  On success *tokenp and *lifetime_s are
 * set; on failure the returned error is scrubbed of every secret we sent. */
static rs_error_t *fetch_token(rs_auth_t *a, char **tokenp, size_t *lenp,
			       int64_t *lifetime_s) {
	char *form = NULL, *assertion = NULL, *basic = NULL;
	size_t form_len = 0, form_size = 0, basic_len = 0;
	rs_http_req_t req;
	rs_http_resp_t resp;
	cJSON *j = NULL;
	const cJSON *tok, *exp;
	rs_error_t *error = NULL, *raw = NULL;
	char errstr[256];

	rs_http_resp_init(&resp);
	if (a->jwt) {
		rs_jwt_claims_t cl = {0};
		cl.alg = a->alg;
		cl.aud = a->token_url;
		cl.client_id = a->client_id;
		cl.now_s = auth_wall(a) / 1000;
		cl.lifetime_s = a->assertion_lifetime_s;
		if (rs_jwt_assertion_build(a->jwt, &cl, &assertion, errstr,
					   sizeof(errstr)) != RS_OK) {
			error = rs_error_new(RS_ERR_CRYPTO, false, false, -1,
					     "tenant %s: %s", a->tenant,
					     errstr);
			goto out;
		}
	}
	form = build_form(a, assertion, &form_size, &form_len);

	rs_http_req_init(&req, RS_HTTP_POST, a->token_url);
	req.content_type = "application/x-www-form-urlencoded";
	req.body = form;
	req.body_len = form_len;
	req.body_secret = true;
	req.tenant = a->tenant;
	req.op = "oauth.token";
	rs_http_req_add_header(&req, "Accept: application/json");
	if (a->fl->basic_auth && a->secret) {
		basic = basic_header(a, &basic_len);
		rs_http_req_add_header(&req, basic);
	}
	/* No retry here: the caller (a job attempt) owns the retry policy
	 * and reads the retriable flag and Retry-After we pass on. */
	raw = rs_http_request_send(a->http, &req, &resp);
	if (raw && resp.status >= 400) {
		/* The STS's own error body says more than the generic
		 * classification: map it (AADSTS codes, OAuth errors). */
		rs_error_destroy(raw);
		raw = auth_map_error(a->tenant, a->fl->name, resp.status,
				     resp.body, resp.retry_after_ms);
	}
	if (raw)
		goto out;
	j = resp.body ? cJSON_Parse(resp.body) : NULL;
	tok = cJSON_GetObjectItemCaseSensitive(j, "access_token");
	exp = cJSON_GetObjectItemCaseSensitive(j, "expires_in");
	if (!cJSON_IsString(tok) || !*tok->valuestring ||
	    strlen(tok->valuestring) >= RS_AUTH_MAX_TOKEN) {
		error = rs_error_new(RS_ERR_BAD_RESPONSE, true, false, -1,
				     "tenant %s: %s token response without a "
				     "usable access_token",
				     a->tenant, a->fl->name);
		goto out;
	}
	/* expires_in is a number in the specs, a string in some proxies. */
	*lifetime_s = cJSON_IsNumber(exp)   ? (int64_t)exp->valuedouble
		      : cJSON_IsString(exp) ? strtol(exp->valuestring, NULL, 10)
					    : 0;
	if (*lifetime_s <= 0)
		*lifetime_s = 3600; /* the usual default when not stated */
	*lenp = strlen(tok->valuestring);
	*tokenp = rs_strndup(tok->valuestring, *lenp);
out:
	if (raw) {
		error = error_scrubbed(raw, a->secret, assertion);
		rs_error_destroy(raw);
	}
	if (j) {
		/* The parsed copy of the token is a credential too. */
		tok = cJSON_GetObjectItemCaseSensitive(j, "access_token");
		if (cJSON_IsString(tok))
			rs_wipe(tok->valuestring, strlen(tok->valuestring));
		cJSON_Delete(j);
	}
	if (resp.body)
		rs_wipe(resp.body, resp.body_len);
	rs_http_resp_cleanup(&resp);
	if (form) {
		rs_wipe(form, form_size);
		rs_free(form);
	}
	if (basic) {
		rs_wipe(basic, basic_len);
		rs_free(basic);
	}
	if (assertion) {
		rs_wipe(assertion, strlen(assertion));
		rs_free(assertion);
	}
	return error;
}

/* --------------------------------------------------------------------
 * The cache
 * ------------------------------------------------------------------ */

/* Copies the cached token out.  @locks a->lock held. */
static rs_err_t copy_token(rs_auth_t *a, char *buf, size_t size,
			   rs_error_t **errorp) {
	if (a->token_len >= size) {
		if (errorp)
			*errorp = rs_error_new(
				RS_ERR_TOO_LARGE, false, false, -1,
				"tenant %s: token of %zu bytes does not fit "
				"in %zu",
				a->tenant, a->token_len, size);
		return RS_ERR_TOO_LARGE;
	}
	memcpy(buf, a->token, a->token_len + 1);
	return RS_OK;
}

/* Refresh margin: max(refresh_min_s, refresh_pct % of the lifetime), but
 * never more than half the lifetime so short-lived tokens are still used. */
RS_STATIC int64_t auth_refresh_margin_ms(int64_t lifetime_ms, int min_s,
					 int pct) {
	int64_t m = RS_MAX((int64_t)min_s * 1000, lifetime_ms * pct / 100);
	return RS_MIN(m, lifetime_ms / 2);
}

static rs_error_t *error_copy(const rs_error_t *src) {
	rs_error_t *e = rs_error_new(rs_error_code(src), rs_error_retriable(src),
				     rs_error_fatal(src),
				     rs_error_retry_after_ms(src), "%s",
				     rs_error_msg(src));
	rs_error_set_http_status(e, rs_error_http_status(src));
	return e;
}

/*
 * The loop re-evaluates the state after every wait: a woken waiter may find
 * a fresh token (done), the error of the fetch it waited for (shared, so a
 * bad secret costs one request, not one per thread), or, if it slept
 * through more than one fetch, a state where it must fetch itself.
 */
rs_err_t rs_auth_token(rs_auth_t *a, char *buf, size_t size,
		       rs_error_t **errorp) {
	rs_err_t err;

	if (errorp)
		*errorp = NULL;
	pthread_mutex_lock(&a->lock);
	for (;;) {
		int64_t now = auth_now(a);
		char *tok = NULL;
		size_t tok_len = 0;
		int64_t lifetime_s = 0, started;
		rs_error_t *error;

		if (a->token && now < a->refresh_at) {
			err = copy_token(a, buf, size, errorp);
			goto out;
		}
		if (a->fetching) {
			uint64_t gen = a->fetch_gen;

			/* Someone is already refreshing: a token that is
			 * still valid is good enough meanwhile. */
			if (a->token && now < a->expires_at) {
				err = copy_token(a, buf, size, errorp);
				goto out;
			}
			while (a->fetching && a->fetch_gen == gen)
				pthread_cond_wait(&a->cond, &a->lock);
			/* Share the outcome of the fetch we waited for. */
			if (a->fetch_err && a->fetch_gen == gen + 1 &&
			    !(a->token && auth_now(a) < a->expires_at)) {
				if (errorp)
					*errorp = error_copy(a->fetch_err);
				err = rs_error_code(a->fetch_err);
				goto out;
			}
			continue;
		}

		/* This thread fetches; the lock is not held meanwhile. */
		a->fetching = true;
		a->requests++;
		pthread_mutex_unlock(&a->lock);
		started = auth_now(a);
		error = fetch_token(a, &tok, &tok_len, &lifetime_s);
		pthread_mutex_lock(&a->lock);

		a->fetching = false;
		a->fetch_gen++;
		rs_error_destroy(a->fetch_err);
		a->fetch_err = error;
		if (!error) {
			/* Expiry counts from when the request was sent, so
			 * the cache never believes a token lives longer than
			 * the server does. */
			int64_t life_ms = lifetime_s * 1000;
			wipe_free(a->token, a->token_len);
			a->token = tok;
			a->token_len = tok_len;
			a->expires_at = started + life_ms;
			a->refresh_at =
				a->expires_at -
				auth_refresh_margin_ms(life_ms,
						       a->refresh_min_s,
						       a->refresh_pct);
			rs_dbg(&a->lctx, RS_DBG_AUTH, "AUTH",
			       "%s token fetched, expires in %lld s",
			       a->fl->name, (long long)lifetime_s);
		} else {
			/* The message already names the tenant. */
			rs_log(NULL, LOG_WARNING, "AUTH", "%s",
			       rs_error_msg(error));
		}
		pthread_cond_broadcast(&a->cond);
		if (!error || (a->token && auth_now(a) < a->expires_at)) {
			/* A failed proactive refresh still leaves a valid
			 * token: use it, the next call tries again. */
			err = copy_token(a, buf, size, errorp);
			goto out;
		}
		if (errorp)
			*errorp = error_copy(error);
		err = rs_error_code(error);
		goto out;
	}
out:
	pthread_mutex_unlock(&a->lock);
	return err;
}

/* CRYPTO_memcmp keeps the comparison time independent of where the
 * tokens differ; cheap, and tokens are credentials. */
void rs_auth_invalidate(rs_auth_t *a, const char *token) {
	size_t len = token ? strlen(token) : 0;

	pthread_mutex_lock(&a->lock);
	/* Only the token the caller used: if another thread has already
	 * replaced it, the new one has not been seen to fail. */
	if (a->token && len == a->token_len &&
	    CRYPTO_memcmp(a->token, token, len) == 0) {
		wipe_free(a->token, a->token_len);
		a->token = NULL;
		a->token_len = 0;
		a->expires_at = a->refresh_at = 0;
		rs_dbg(&a->lctx, RS_DBG_AUTH, "AUTH",
		       "%s token invalidated after 401", a->fl->name);
	}
	pthread_mutex_unlock(&a->lock);
}
