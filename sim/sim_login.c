/*
 * sim_login.c - Entra ID token endpoint (graph.md §1):
 *   POST /login/{tenant}/oauth2/v2.0/token
 * client_credentials with client_secret (form field or HTTP Basic) or with a
 * client_assertion JWT signed by the tenant's certificate, RS256 + x5t
 * (SHA-1 thumbprint) or PS256 + x5t#S256 (SHA-256 thumbprint): both doc
 * generations are accepted in practice (graph.md §1, MSAL Node).
 *
 * Errors use Entra's body (error, error_description "AADSTSnnnn: ...",
 * error_codes, timestamp, trace_id, correlation_id, error_uri).  Statuses:
 * 401 for invalid_client with a bad secret or a bad assertion signature
 * (observed, graph.md §1 - not documented), 400 otherwise.
 */
#include "rs/rs_base.h"

#include "sim_priv.h"

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <strings.h>
#include <time.h>

#define GRAPH_DEFAULT_SCOPE "https://graph.microsoft.com/.default"
#define GRAPH_APPID_SCOPE "00000003-0000-0000-c000-000000000000/.default"
#define ASSERTION_TYPE "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
/* Entra tolerates a few minutes of clock skew on nbf. */
#define SKEW_S 300

static void aad_error(sim_req_t *req, sim_resp_t *resp, int status,
		      const char *error, int code, const char *fmt, ...)
	RS_PRINTF(6, 7);

/*
 * Entra's error body (graph.md §1).  Clients must branch on `error` (and
 * maybe error_codes), never on the description text, which Microsoft
 * rewords; the sim's texts follow the real ones closely anyway so logs read
 * the same.
 */
static void aad_error(sim_req_t *req, sim_resp_t *resp, int status,
		      const char *error, int code, const char *fmt, ...) {
	char msg[1024], desc[1600], ts[32], uri[96], corr[37];
	cJSON *root = cJSON_CreateObject(), *codes;
	time_t t = time(NULL);
	struct tm tm;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	gmtime_r(&t, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%SZ", &tm);
	sim_guid_random(corr);
	rs_snprintf(desc, sizeof(desc),
		    "AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\n"
		    "Timestamp: %s",
		    code, msg, req->request_id, corr, ts);
	rs_snprintf(uri, sizeof(uri),
		    "https://login.microsoftonline.com/error?code=%d", code);
	cJSON_AddStringToObject(root, "error", error);
	cJSON_AddStringToObject(root, "error_description", desc);
	codes = cJSON_AddArrayToObject(root, "error_codes");
	cJSON_AddItemToArray(codes, cJSON_CreateNumber(code));
	cJSON_AddStringToObject(root, "timestamp", ts);
	cJSON_AddStringToObject(root, "trace_id", req->request_id);
	cJSON_AddStringToObject(root, "correlation_id", corr);
	cJSON_AddStringToObject(root, "error_uri", uri);
	sim_resp_json(resp, status, root, "application/json; charset=utf-8");
	sim_resp_header(resp, "Cache-Control", "no-store, no-cache");
	sim_resp_header(resp, "Pragma", "no-cache");
	sim_resp_header(resp, "x-ms-request-id", "%s", req->request_id);
}

/*
 * Strict base64url (no '+', '/', '='): a JWT with standard base64 is
 * malformed for Entra too.
 */
static unsigned char *b64url_decode(const char *s, size_t len,
				    size_t *out_len) {
	size_t padded = (len + 3) / 4 * 4, i;
	char *tmp;
	unsigned char *out;
	int n;

	if (len % 4 == 1)
		return NULL;
	tmp = rs_malloc(padded + 1);
	for (i = 0; i < len; i++) {
		char c = s[i];
		if (c == '-')
			c = '+';
		else if (c == '_')
			c = '/';
		else if (c == '+' || c == '/' || c == '=')
			goto bad; /* not base64url */
		tmp[i] = c;
	}
	for (; i < padded; i++)
		tmp[i] = '=';
	tmp[padded] = '\0';
	out = rs_malloc(padded / 4 * 3 + 1);
	n = EVP_DecodeBlock(out, (unsigned char *)tmp, (int)padded);
	rs_free(tmp);
	if (n < 0) {
		rs_free(out);
		return NULL;
	}
	/* EVP_DecodeBlock counts padding bytes as zeros: drop them. */
	n -= (int)(padded - len);
	*out_len = (size_t)n;
	out[n] = '\0';
	return out;
bad:
	rs_free(tmp);
	return NULL;
}

static cJSON *b64url_json(const char *s, size_t len) {
	size_t n;
	unsigned char *raw = b64url_decode(s, len, &n);
	cJSON *j;
	if (!raw)
		return NULL;
	j = cJSON_ParseWithLength((const char *)raw, n);
	rs_free(raw);
	return j;
}

static bool num_claim(const cJSON *o, const char *name, double *out) {
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	if (!cJSON_IsNumber(v))
		return false;
	*out = v->valuedouble;
	return true;
}

static const char *str_claim(const cJSON *o, const char *name) {
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Audience: the token endpoint of this tenant (by GUID or domain), at the
 * real host or at the sim's /login (clients build it from their configured
 * login URL). */
static bool aud_ok(const sim_req_t *req, const sim_tenant_t *tn,
		   const char *aud) {
	const char *bases[2] = {"https://login.microsoftonline.com", NULL};
	char own[160], want[512];
	const char *tids[2] = {tn->entra_tenant_id, tn->domain};
	int b, t;

	rs_snprintf(own, sizeof(own), "%s/login",
		    rs_sim_base_url(req->sim));
	bases[1] = own;
	for (b = 0; b < 2; b++) {
		for (t = 0; t < 2; t++) {
			rs_snprintf(want, sizeof(want),
				    "%s/%s/oauth2/v2.0/token", bases[b],
				    tids[t]);
			if (!strcasecmp(want, aud))
				return true;
		}
	}
	return false;
}

/* Verifies the client assertion; on failure fills resp and returns false. */
static bool check_assertion(sim_req_t *req, sim_resp_t *resp,
			    sim_tenant_t *tn, const char *client_id,
			    const char *jwt) {
	const char *d1 = strchr(jwt, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	cJSON *hdr = NULL, *pl = NULL;
	unsigned char *sig = NULL;
	size_t sig_len = 0;
	const char *alg, *x5t, *aud, *iss, *sub;
	unsigned char *thumb = NULL;
	size_t thumb_len = 0;
	bool pss, ok = false;
	double nbf = 0, exp;
	int64_t now = rs_wall_ms() / 1000;
	EVP_MD_CTX *md = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	EVP_PKEY *pub = NULL;

	if (!d1 || !d2 || strchr(d2 + 1, '.'))
		goto malformed;
	hdr = b64url_json(jwt, (size_t)(d1 - jwt));
	pl = b64url_json(d1 + 1, (size_t)(d2 - d1 - 1));
	sig = b64url_decode(d2 + 1, strlen(d2 + 1), &sig_len);
	if (!cJSON_IsObject(hdr) || !cJSON_IsObject(pl) || !sig)
		goto malformed;
	alg = str_claim(hdr, "alg");
	if (!alg)
		goto malformed;
	if (!strcmp(alg, "RS256")) {
		pss = false;
		x5t = str_claim(hdr, "x5t");
	} else if (!strcmp(alg, "PS256")) {
		pss = true;
		x5t = str_claim(hdr, "x5t#S256");
	} else {
		aad_error(req, resp, 400, "invalid_request", 5002738,
			  "Invalid JWT token. '%.16s' is not a supported "
			  "signature algorithm. Supported signing algorithms "
			  "are: 'RS256, PS256'",
			  alg);
		goto out;
	}
	if (!x5t || !(thumb = b64url_decode(x5t, strlen(x5t), &thumb_len))) {
		aad_error(req, resp, 400, "invalid_request", 5002738,
			  "Invalid JWT token. The token header must carry "
			  "'%s' with the certificate thumbprint.",
			  pss ? "x5t#S256" : "x5t");
		goto out;
	}
	/* The key is found by thumbprint among the app's credentials. */
	if (!tn->cert ||
	    thumb_len != (pss ? sizeof(tn->x5t_s256) : sizeof(tn->x5t_sha1)) ||
	    memcmp(thumb, pss ? tn->x5t_s256 : tn->x5t_sha1, thumb_len)) {
		aad_error(req, resp, 401, "invalid_client", 700027,
			  "Client assertion failed signature validation. "
			  "[Reason - The key was not found., Thumbprint of "
			  "key used by client: '%s', Please visit the Azure "
			  "Portal, Graph Explorer or directly use MS Graph to "
			  "see configured keys for app Id '%s'.]",
			  x5t, client_id);
		goto out;
	}
	pub = X509_get_pubkey(tn->cert);
	md = EVP_MD_CTX_new();
	if (!pub || !md ||
	    EVP_DigestVerifyInit(md, &pctx, EVP_sha256(), NULL, pub) != 1)
		goto malformed;
	if (pss &&
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) !=
		     1))
		goto malformed;
	if (EVP_DigestVerify(md, sig, sig_len, (const unsigned char *)jwt,
			     (size_t)(d2 - jwt)) != 1) {
		aad_error(req, resp, 401, "invalid_client", 700027,
			  "Client assertion contains an invalid signature. "
			  "[Reason - The provided signature value did not "
			  "match the expected signature value., Thumbprint of "
			  "key used by client: '%s']",
			  x5t);
		goto out;
	}
	aud = str_claim(pl, "aud");
	if (!aud || !aud_ok(req, tn, aud)) {
		/* The reference names no code for a wrong audience; Entra
		 * reports it as an invalid client (react on `error`). */
		aad_error(req, resp, 400, "invalid_client", 700212,
			  "No matching federated identity record found for "
			  "presented assertion audience '%.200s'.",
			  aud ? aud : "");
		goto out;
	}
	iss = str_claim(pl, "iss");
	sub = str_claim(pl, "sub");
	if (!iss || !sub || strcmp(iss, client_id) || strcmp(sub, client_id)) {
		aad_error(req, resp, 400, "invalid_client", 50012,
			  "Client assertion contains an invalid issuer or "
			  "subject; both must be the client id '%s'.",
			  client_id);
		goto out;
	}
	if (!num_claim(pl, "exp", &exp)) {
		aad_error(req, resp, 400, "invalid_request", 50027,
			  "JWT token is invalid or malformed: the 'exp' "
			  "claim is missing.");
		goto out;
	}
	num_claim(pl, "nbf", &nbf);
	if (exp <= (double)now || nbf > (double)(now + SKEW_S)) {
		aad_error(req, resp, 400, "invalid_client", 700024,
			  "Client assertion is not within its valid time "
			  "range. Current time: %lld, assertion valid from "
			  "%.0f, expiry time of assertion %.0f.",
			  (long long)now, nbf, exp);
		goto out;
	}
	ok = true;
	goto out;
malformed:
	aad_error(req, resp, 400, "invalid_request", 50027,
		  "JWT token is invalid or malformed.");
out:
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pub);
	cJSON_Delete(hdr);
	cJSON_Delete(pl);
	rs_free(sig);
	rs_free(thumb);
	return ok;
}

/*
 * The checks run in the order Entra reports them: tenant, body, grant,
 * client id, scope, app registration in this tenant, then the credential.
 * A client with several problems therefore sees the same first error as
 * against login.microsoftonline.com.
 */
static void login_token(sim_req_t *req, sim_resp_t *resp) {
	sim_kv_t form;
	sim_tenant_t *tn, *other;
	const char *grant, *scope, *client_id, *secret, *atype, *assertion;
	char *b_id = NULL, *b_secret = NULL, *tok = NULL;
	const char *ctype = sim_req_header(req, "content-type");
	int lifetime;
	cJSON *root;

	memset(&form, 0, sizeof(form));
	tn = sim_tenant_by_entra(req->sim, req->params[0]);
	if (!tn) {
		aad_error(req, resp, 400, "invalid_request", 90002,
			  "Tenant '%.100s' not found. Check to make sure you "
			  "have the correct tenant ID and are signing into "
			  "the correct cloud.",
			  req->params[0]);
		goto out;
	}
	req->ledger_tenant = tn->id;
	if (!ctype ||
	    strncasecmp(ctype, "application/x-www-form-urlencoded", 33) ||
	    sim_kv_parse(&form, req->body ? req->body : "", req->body_len) !=
		    RS_OK) {
		aad_error(req, resp, 400, "invalid_request", 900144,
			  "The request body must contain the following "
			  "parameter: 'grant_type'.");
		goto out;
	}
	grant = sim_kv_get(&form, "grant_type");
	scope = sim_kv_get(&form, "scope");
	client_id = sim_kv_get(&form, "client_id");
	secret = sim_kv_get(&form, "client_secret");
	atype = sim_kv_get(&form, "client_assertion_type");
	assertion = sim_kv_get(&form, "client_assertion");
	if (sim_req_basic_auth(req, &b_id, &b_secret)) {
		if (!client_id)
			client_id = b_id;
		if (!secret)
			secret = b_secret;
	}
	if (!grant) {
		aad_error(req, resp, 400, "invalid_request", 900144,
			  "The request body must contain the following "
			  "parameter: 'grant_type'.");
		goto out;
	}
	if (strcmp(grant, "client_credentials")) {
		aad_error(req, resp, 400, "unsupported_grant_type", 70003,
			  "The app requested an unsupported grant type "
			  "'%.64s'.",
			  grant);
		goto out;
	}
	if (!client_id) {
		aad_error(req, resp, 400, "invalid_request", 900144,
			  "The request body must contain the following "
			  "parameter: 'client_id'.");
		goto out;
	}
	if (!scope) {
		aad_error(req, resp, 400, "invalid_request", 900144,
			  "The request body must contain the following "
			  "parameter: 'scope'.");
		goto out;
	}
	if (strchr(scope, ' ')) {
		aad_error(req, resp, 400, "invalid_scope", 700022,
			  "The provided value for the input parameter scope "
			  "is not valid because it contains more than one "
			  "resource. Scope %.200s is not valid.",
			  scope);
		goto out;
	}
	if (strcasecmp(scope, GRAPH_DEFAULT_SCOPE) &&
	    strcasecmp(scope, GRAPH_APPID_SCOPE)) {
		aad_error(req, resp, 400, "invalid_scope", 1002012,
			  "The provided value for scope %.200s is not valid. "
			  "Client credential flows must have a scope value "
			  "with /.default suffixed to the resource "
			  "identifier (application ID URI).",
			  scope);
		goto out;
	}
	if (!tn->graph_client_id || strcmp(client_id, tn->graph_client_id)) {
		other = sim_tenant_by_graph_client(req->sim, client_id);
		if (other && other != tn)
			sim_req_flag_cross_tenant(req);
		aad_error(req, resp, 400, "unauthorized_client", 700016,
			  "Application with identifier '%.64s' was not found "
			  "in the directory '%s'. This can happen if the "
			  "application has not been installed by the "
			  "administrator of the tenant or consented to by "
			  "any user in the tenant. You may have sent your "
			  "authentication request to the wrong tenant.",
			  client_id, tn->domain);
		goto out;
	}
	if (assertion || atype) {
		if (!atype || strcmp(atype, ASSERTION_TYPE)) {
			aad_error(req, resp, 400, "invalid_request", 50027,
				  "Invalid client_assertion_type; expected "
				  "'%s'.",
				  ASSERTION_TYPE);
			goto out;
		}
		if (!assertion) {
			aad_error(req, resp, 400, "invalid_request", 900144,
				  "The request body must contain the "
				  "following parameter: 'client_assertion'.");
			goto out;
		}
		if (!check_assertion(req, resp, tn, client_id, assertion))
			goto out;
	} else if (secret) {
		if (!tn->graph_client_secret ||
		    strcmp(secret, tn->graph_client_secret)) {
			aad_error(req, resp, 401, "invalid_client", 7000215,
				  "Invalid client secret provided. Ensure the "
				  "secret being sent in the request is the "
				  "client secret value, not the client secret "
				  "ID, for a secret added to app '%s'.",
				  client_id);
			goto out;
		}
		if (__atomic_load_n(&tn->graph_secret_expired,
				    __ATOMIC_RELAXED)) {
			/* graph.md §1: expired secret, invalid_client. */
			aad_error(req, resp, 401, "invalid_client", 7000222,
				  "The provided client secret keys for app "
				  "'%s' are expired. Visit the Azure portal to "
				  "create new keys for your app: "
				  "https://aka.ms/NewClientSecret, or consider "
				  "using certificate credentials for added "
				  "security: https://aka.ms/certCreds.",
				  client_id);
			goto out;
		}
	} else {
		aad_error(req, resp, 401, "invalid_client", 7000218,
			  "The request body must contain the following "
			  "parameter: 'client_assertion' or 'client_secret'.");
		goto out;
	}

	lifetime = sim_token_issue(req->sim, SIM_SVC_GRAPH, tn, client_id, 0,
				   &tok);
	root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "token_type", "Bearer");
	cJSON_AddNumberToObject(root, "expires_in", lifetime);
	cJSON_AddNumberToObject(root, "ext_expires_in", lifetime);
	cJSON_AddStringToObject(root, "access_token", tok);
	sim_resp_json(resp, 200, root, "application/json; charset=utf-8");
	sim_resp_header(resp, "Cache-Control", "no-store, no-cache");
	sim_resp_header(resp, "Pragma", "no-cache");
out:
	if (tok) {
		rs_wipe(tok, strlen(tok));
		rs_free(tok);
	}
	if (b_secret) {
		rs_wipe(b_secret, strlen(b_secret));
		rs_free(b_secret);
	}
	rs_free(b_id);
	sim_kv_cleanup(&form);
}

static void login_get(sim_req_t *req, sim_resp_t *resp) {
	aad_error(req, resp, 400, "invalid_request", 900561,
		  "The endpoint only accepts POST requests. Received a GET "
		  "request.");
}

static void login_no_route(sim_req_t *req, sim_resp_t *resp) {
	aad_error(req, resp, 404, "invalid_request", 900023,
		  "Specified tenant identifier or endpoint is neither a "
		  "valid DNS name, nor a valid external domain.");
}

static void login_fault(sim_req_t *req, sim_resp_t *resp, int status,
			const char *retry_after) {
	(void)retry_after;
	if (status == 429)
		aad_error(req, resp, 429, "temporarily_unavailable", 90055,
			  "The request is throttled temporarily.");
	else if (status >= 500)
		aad_error(req, resp, status, "temporarily_unavailable", 90006,
			  "The server encountered an unexpected error.");
	else
		aad_error(req, resp, status, "invalid_request", 90000,
			  "Injected error.");
}

static const sim_route_t login_routes[] = {
	{"POST", "/{}/oauth2/v2.0/token", login_token, "login.token"},
	{"GET", "/{}/oauth2/v2.0/token", login_get, "login.token"},
};

const sim_module_t sim_module_login = {
	.name = "login",
	.prefix = "/login",
	.routes = login_routes,
	.n_routes = RS_ARRAY_SIZE(login_routes),
	.no_route = login_no_route,
	.fault_error = login_fault,
};
