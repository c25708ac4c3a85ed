/*
 * rs_http.c - the HTTP client over one libcurl easy handle per thread.
 *
 * Why one easy handle per rs_http_t: curl_easy_reset() keeps the handle's
 * connection cache, DNS cache and TLS session ids, so successive requests
 * from one worker thread reuse connections without a shared (locked)
 * share handle.  The module never retries by itself: classification
 * (rs_http_classify) turns each exchange into an rs_error_t whose flags the
 * worker reads, so the retry policy lives in one place.
 */
#include "rs/rs_base.h"
#include "rs/rs_http.h"
#include "rs/rs_log.h"

#include <curl/curl.h>
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <sys/random.h>

struct rs_http_s {
	CURL *curl;
	char *target;
	char *ca_file;
	char *user_agent;
	int64_t timeout_ms;
	int64_t connect_timeout_ms;
	size_t max_body;
	rs_http_observe_cb_t *observe_cb;
	void *observe_opaque;
	rs_http_stats_t stats;
	/* Graph asks for a NEW connection after a 503 (graph.md 5). */
	bool fresh_connect;
	char curl_err[CURL_ERROR_SIZE];
};

/* State of one transfer, shared with the curl callbacks. */
typedef struct {
	rs_http_resp_t *resp;
	size_t max_body;
	size_t cap;
	bool too_large;
} xfer_t;

/* Indexed by rs_http_method_t; the names are also what curl sends with
 * CURLOPT_CUSTOMREQUEST for the methods it has no dedicated option for. */
static const char *method_names[] = {"GET", "POST", "PUT", "PATCH",
				     "DELETE"};

const char *rs_http_method_name(rs_http_method_t method) {
	if ((size_t)method >= RS_ARRAY_SIZE(method_names))
		return "?";
	return method_names[method];
}

rs_err_t rs_http_global_init(void) {
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? RS_OK
								  : RS_ERR_FAIL;
}

void rs_http_global_cleanup(void) {
	curl_global_cleanup();
}

void rs_http_conf_init(rs_http_conf_t *conf) {
	memset(conf, 0, sizeof(*conf));
	conf->timeout_ms = RS_HTTP_DEFAULT_TIMEOUT_MS;
	conf->connect_timeout_ms = RS_HTTP_DEFAULT_CONNECT_TIMEOUT_MS;
	conf->max_body = RS_HTTP_DEFAULT_MAX_BODY;
}

/*
 * Strings from the conf are copied so a caller may build the conf on its
 * stack (e.g. from a tenant's config) and free it after construction.
 * Zero or negative timeouts and a zero max_body fall back to the defaults
 * instead of meaning "unlimited": an unbounded request would break the
 * worker's shutdown deadline and Guarantee 6.
 */
rs_http_t *rs_http_new(const rs_http_conf_t *conf, char *errstr,
		       size_t errstr_size) {
	rs_http_t *http;
	FILE *fp;

	if (conf->ca_file) {
		/* Fail at construction, not on the first request hours
		 * later. */
		fp = fopen(conf->ca_file, "r");
		if (!fp) {
			rs_snprintf(errstr, errstr_size,
				    "http: cannot read ca_file '%s'",
				    conf->ca_file);
			return NULL;
		}
		fclose(fp);
	}
	http = rs_calloc(1, sizeof(*http));
	http->curl = curl_easy_init();
	if (!http->curl) {
		rs_snprintf(errstr, errstr_size, "http: curl_easy_init failed");
		rs_free(http);
		return NULL;
	}
	http->target = rs_strdup(conf->target ? conf->target : "");
	http->ca_file = rs_strdup(conf->ca_file);
	http->user_agent = rs_strdup(conf->user_agent
					     ? conf->user_agent
					     : "rostersync/" RS_VERSION_STR);
	http->timeout_ms = conf->timeout_ms > 0 ? conf->timeout_ms
						: RS_HTTP_DEFAULT_TIMEOUT_MS;
	http->connect_timeout_ms = conf->connect_timeout_ms > 0
					   ? conf->connect_timeout_ms
					   : RS_HTTP_DEFAULT_CONNECT_TIMEOUT_MS;
	http->max_body = conf->max_body ? conf->max_body
					: RS_HTTP_DEFAULT_MAX_BODY;
	http->observe_cb = conf->observe_cb;
	http->observe_opaque = conf->observe_opaque;
	return http;
}

void rs_http_destroy(rs_http_t *http) {
	if (!http)
		return;
	curl_easy_cleanup(http->curl);
	rs_free(http->target);
	rs_free(http->ca_file);
	rs_free(http->user_agent);
	rs_free(http);
}

void rs_http_stats_get(const rs_http_t *http, rs_http_stats_t *out) {
	*out = http->stats;
}

void rs_http_req_init(rs_http_req_t *req, rs_http_method_t method,
		      const char *url) {
	memset(req, 0, sizeof(*req));
	req->method = method;
	req->url = url;
}

/* Header lines are checked for CR/LF here, once, because a value built
 * from remote data (a delta link, a tenant name) could otherwise inject a
 * second header or split the request. */
rs_err_t rs_http_req_add_header(rs_http_req_t *req, const char *header) {
	if (!header || !strchr(header, ':') || strpbrk(header, "\r\n"))
		return RS_ERR_INVALID_ARG;
	if (req->header_cnt >= RS_HTTP_MAX_HEADERS)
		return RS_ERR_TOO_LARGE;
	req->headers[req->header_cnt++] = header;
	return RS_OK;
}

void rs_http_resp_init(rs_http_resp_t *resp) {
	memset(resp, 0, sizeof(*resp));
	resp->retry_after_ms = -1;
	resp->api_error.retry_after_ms = -1;
}

void rs_http_resp_cleanup(rs_http_resp_t *resp) {
	if (!resp)
		return;
	rs_free(resp->body);
	rs_http_resp_init(resp);
}

/*
 * Random numbers: UUIDs and jitter seeds come from getrandom(2), which
 * needs no global state and is thread-safe.
 */
static void fill_random(void *buf, size_t len) {
	uint8_t *p = buf;
	size_t got = 0;

	while (got < len) {
		ssize_t r = getrandom(p + got, len - got, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			/* Never happens on Linux >= 3.17; fall back to
			 * something non-constant rather than abort. */
			int64_t t = rs_now_us();
			memcpy(p + got, &t, RS_MIN(sizeof(t), len - got));
			got += RS_MIN(sizeof(t), len - got);
			continue;
		}
		got += (size_t)r;
	}
}

void rs_http_uuid4(char *out, size_t size) {
	uint8_t b[16];

	fill_random(b, sizeof(b));
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	rs_snprintf(out, size,
		    "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		    "%02x%02x%02x%02x%02x%02x",
		    b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
		    b[10], b[11], b[12], b[13], b[14], b[15]);
}

uint64_t rs_http_rand_seed(void) {
	uint64_t s = 0;

	while (s == 0)
		fill_random(&s, sizeof(s));
	return s;
}

uint64_t rs_http_rand_xorshift(void *opaque) {
	uint64_t *state = opaque;
	uint64_t x = *state;

	/* xorshift64* (Vigna): fine for jitter, state owned by the caller. */
	if (x == 0)
		x = 0x9e3779b97f4a7c15ULL;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/*
 * Full jitter (AWS architecture blog, "Exponential Backoff And Jitter"):
 * spreading retries over the whole window is what prevents a fleet of
 * workers throttled at the same moment from retrying in lockstep.  The
 * caller adds any floor it needs (e.g. max(Retry-After, backoff)).
 */
int64_t rs_http_backoff_ms(int attempt, int64_t base_ms, int64_t max_ms,
			   rs_http_rand_cb_t *rnd, void *opaque) {
	int64_t cap = base_ms;
	int i;

	if (base_ms <= 0 || max_ms <= 0)
		return 0;
	if (attempt < 0)
		attempt = 0;
	/* Doubling stops at max_ms, so the shift can never overflow. */
	for (i = 0; i < attempt && cap < max_ms; i++)
		cap = cap > INT64_MAX / 2 ? INT64_MAX : cap * 2;
	if (cap > max_ms)
		cap = max_ms;
	if (!rnd)
		return cap;
	return (int64_t)(rnd(opaque) % (uint64_t)(cap + 1));
}

/* Decorrelated jitter grows from the previous delay rather than from the
 * attempt number, so it needs no attempt counter and keeps some spread
 * even at the cap. */
int64_t rs_http_backoff_decorrelated_ms(int64_t prev_ms, int64_t base_ms,
					int64_t max_ms, rs_http_rand_cb_t *rnd,
					void *opaque) {
	int64_t hi;

	if (base_ms <= 0 || max_ms <= 0)
		return 0;
	if (base_ms > max_ms)
		base_ms = max_ms;
	if (prev_ms < base_ms)
		prev_ms = base_ms;
	hi = prev_ms > max_ms / 3 ? max_ms : prev_ms * 3;
	if (hi < base_ms)
		hi = base_ms;
	return base_ms +
	       (int64_t)(rnd(opaque) % (uint64_t)(hi - base_ms + 1));
}

/*
 * Retry-After (RFC 9110 10.2.3): delta-seconds or an HTTP-date.  Graph's
 * older docs show "2.128", so a fraction is accepted (graph.md 5).
 */
static const char *const wkday_short[] = {"Mon", "Tue", "Wed", "Thu",
					  "Fri", "Sat", "Sun"};
static const char *const wkday_long[] = {"Monday",   "Tuesday", "Wednesday",
					 "Thursday", "Friday",  "Saturday",
					 "Sunday"};
static const char *const months[] = {"Jan", "Feb", "Mar", "Apr",
				     "May", "Jun", "Jul", "Aug",
				     "Sep", "Oct", "Nov", "Dec"};

/* Reads exactly n digits. */
static bool digits(const char **pp, int n, int *out) {
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*pp)[i]))
			return false;
		v = v * 10 + ((*pp)[i] - '0');
	}
	*pp += n;
	*out = v;
	return true;
}

static bool lit(const char **pp, const char *s) {
	size_t n = strlen(s);

	if (strncmp(*pp, s, n) != 0)
		return false;
	*pp += n;
	return true;
}

static bool month(const char **pp, int *mon) {
	int i;

	for (i = 0; i < 12; i++) {
		if (!strncmp(*pp, months[i], 3)) {
			*pp += 3;
			*mon = i + 1;
			return true;
		}
	}
	return false;
}

static bool hms(const char **pp, int *h, int *m, int *s) {
	return digits(pp, 2, h) && lit(pp, ":") && digits(pp, 2, m) &&
	       lit(pp, ":") && digits(pp, 2, s) && *h < 24 && *m < 60 &&
	       *s <= 60;
}

/* Days since 1970-01-01 for a proleptic Gregorian date (Hinnant). */
static int64_t days_from_civil(int64_t y, int m, int d) {
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m) {
	static const int dm[] = {31, 28, 31, 30, 31, 30,
				 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : dm[m - 1];
}

/*
 * The three forms of RFC 9110 5.6.7, matched literally.  The weekday is
 * only checked to be a valid name, not against the date (recipients are
 * told to be lenient there), but every numeric field is range-checked so
 * that garbage never turns into a far-future delay.
 */
static bool parse_http_date(const char *p, int64_t now_wall_ms,
			    int64_t *epoch_s) {
	int y = 0, mon = 0, d = 0, h = 0, mi = 0, s = 0, i;
	bool ok = false;

	for (i = 0; i < 7 && !ok; i++) {
		const char *q = p;
		/* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
		if (lit(&q, wkday_short[i]) && lit(&q, ", ")) {
			ok = digits(&q, 2, &d) && lit(&q, " ") &&
			     month(&q, &mon) && lit(&q, " ") &&
			     digits(&q, 4, &y) && lit(&q, " ") &&
			     hms(&q, &h, &mi, &s) && lit(&q, " GMT") && !*q;
			if (!ok)
				return false;
			break;
		}
		q = p;
		/* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT */
		if (lit(&q, wkday_long[i]) && lit(&q, ", ")) {
			int yy;
			ok = digits(&q, 2, &d) && lit(&q, "-") &&
			     month(&q, &mon) && lit(&q, "-") &&
			     digits(&q, 2, &yy) && lit(&q, " ") &&
			     hms(&q, &h, &mi, &s) && lit(&q, " GMT") && !*q;
			if (!ok)
				return false;
			/* RFC 9110 5.6.7: a two-digit year more than 50
			 * years in the future means the past century. */
			{
				int64_t now_days =
					now_wall_ms / 86400000LL;
				int cur = 1970 + (int)(now_days / 365);
				y = (cur / 100) * 100 + yy;
				if (y > cur + 50)
					y -= 100;
			}
			break;
		}
		q = p;
		/* asctime: Sun Nov  6 08:49:37 1994 */
		if (lit(&q, wkday_short[i]) && lit(&q, " ")) {
			if (!month(&q, &mon) || !lit(&q, " "))
				return false;
			if (*q == ' ') {
				q++;
				ok = digits(&q, 1, &d);
			} else {
				ok = digits(&q, 2, &d);
			}
			ok = ok && lit(&q, " ") && hms(&q, &h, &mi, &s) &&
			     lit(&q, " ") && digits(&q, 4, &y) && !*q;
			if (!ok)
				return false;
			break;
		}
	}
	if (!ok || d < 1 || d > days_in_month(y, mon))
		return false;
	*epoch_s = days_from_civil(y, mon, d) * 86400LL + h * 3600LL +
		   mi * 60LL + s;
	return true;
}

rs_err_t rs_http_retry_after_parse(const char *value, int64_t now_wall_ms,
				   int64_t *out_ms) {
	const char *p, *end;
	char tmp[64];
	size_t n;

	if (!value)
		return RS_ERR_PARSE;
	/* Trim optional whitespace around the field value. */
	while (*value == ' ' || *value == '\t')
		value++;
	end = value + strnlen(value, 128);
	while (end > value && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	n = (size_t)(end - value);
	if (n == 0 || n >= sizeof(tmp))
		return RS_ERR_PARSE;
	memcpy(tmp, value, n);
	tmp[n] = '\0';
	p = tmp;

	if (isdigit((unsigned char)*p)) {
		uint64_t sec = 0, frac_ms = 0, scale = 100;
		for (; isdigit((unsigned char)*p); p++) {
			if (sec > (UINT64_MAX - 9) / 10)
				return RS_ERR_PARSE; /* overflow */
			sec = sec * 10 + (uint64_t)(*p - '0');
		}
		if (*p == '.') {
			p++;
			if (!isdigit((unsigned char)*p))
				return RS_ERR_PARSE;
			/* Milliseconds; further digits are ignored but must
			 * still be digits.  Round up: never retry early. */
			for (; isdigit((unsigned char)*p); p++) {
				if (scale) {
					frac_ms += (uint64_t)(*p - '0') * scale;
					scale /= 10;
				} else if (*p != '0' && frac_ms < 1000) {
					frac_ms++;
					scale = 0;
					while (isdigit((unsigned char)p[1]))
						p++;
				}
			}
			if (frac_ms > 1000)
				frac_ms = 1000;
		}
		if (*p)
			return RS_ERR_PARSE;
		if (sec >= (uint64_t)RS_HTTP_RETRY_AFTER_MAX_MS / 1000)
			*out_ms = RS_HTTP_RETRY_AFTER_MAX_MS;
		else
			*out_ms = RS_MIN((int64_t)(sec * 1000 + frac_ms),
					 RS_HTTP_RETRY_AFTER_MAX_MS);
		return RS_OK;
	}

	{
		int64_t epoch_s, delta;
		if (!parse_http_date(p, now_wall_ms, &epoch_s))
			return RS_ERR_PARSE;
		delta = epoch_s * 1000 - now_wall_ms;
		if (delta < 0)
			delta = 0;
		*out_ms = RS_MIN(delta, RS_HTTP_RETRY_AFTER_MAX_MS);
	}
	return RS_OK;
}

/*
 * Error bodies.  Graph: {"error":{"code","message","innerError":{...}}};
 * Talkdesk: {"code","message","fields":[{"name","description"}]}; the
 * token endpoint: {"error":"invalid_client","error_description":"..."}.
 * cJSON does the parsing; this only picks fields, bounded.
 */
static void copy_str(char *dst, size_t size, const cJSON *item) {
	if (cJSON_IsString(item) && item->valuestring)
		rs_snprintf(dst, size, "%s", item->valuestring);
	else if (cJSON_IsNumber(item))
		rs_snprintf(dst, size, "%.0f", item->valuedouble);
}

bool rs_http_api_error_parse(const char *body, size_t len,
			     rs_http_api_error_t *out) {
	cJSON *root;
	const cJSON *err, *inner, *fields, *f;

	memset(out, 0, sizeof(*out));
	out->retry_after_ms = -1;
	if (!body || len == 0 || len > RS_HTTP_DEFAULT_MAX_BODY)
		return false;
	root = cJSON_ParseWithLength(body, len);
	if (!root)
		return false;
	if (!cJSON_IsObject(root))
		goto out;

	err = cJSON_GetObjectItemCaseSensitive(root, "error");
	if (cJSON_IsObject(err)) {
		copy_str(out->code, sizeof(out->code),
			 cJSON_GetObjectItemCaseSensitive(err, "code"));
		copy_str(out->message, sizeof(out->message),
			 cJSON_GetObjectItemCaseSensitive(err, "message"));
		inner = cJSON_GetObjectItem(err, "innerError");
		if (cJSON_IsObject(inner)) {
			copy_str(out->inner_code, sizeof(out->inner_code),
				 cJSON_GetObjectItemCaseSensitive(inner,
								  "code"));
			copy_str(out->request_id, sizeof(out->request_id),
				 cJSON_GetObjectItemCaseSensitive(
					 inner, "request-id"));
			/* older Graph docs spell it requestId */
			if (!out->request_id[0])
				copy_str(out->request_id,
					 sizeof(out->request_id),
					 cJSON_GetObjectItemCaseSensitive(
						 inner, "requestId"));
			copy_str(out->date, sizeof(out->date),
				 cJSON_GetObjectItemCaseSensitive(inner,
								  "date"));
		}
	} else if (cJSON_IsString(err)) {
		/* OAuth error: react on `error`, never the description. */
		copy_str(out->code, sizeof(out->code), err);
		copy_str(out->message, sizeof(out->message),
			 cJSON_GetObjectItemCaseSensitive(root,
							  "error_description"));
	} else {
		copy_str(out->code, sizeof(out->code),
			 cJSON_GetObjectItemCaseSensitive(root, "code"));
		copy_str(out->message, sizeof(out->message),
			 cJSON_GetObjectItemCaseSensitive(root, "message"));
		/* Talkdesk load shedding puts the hint in fields[]
		 * (sources.md 1.9). */
		fields = cJSON_GetObjectItemCaseSensitive(root, "fields");
		if (!cJSON_IsArray(fields))
			fields = NULL;
		cJSON_ArrayForEach(f, fields) {
			const cJSON *nm, *ds;
			int64_t ms;
			nm = cJSON_GetObjectItemCaseSensitive(f, "name");
			ds = cJSON_GetObjectItemCaseSensitive(f, "description");
			if (!cJSON_IsString(nm) ||
			    strcasecmp(nm->valuestring, "retry-after") != 0)
				continue;
			if (cJSON_IsString(ds) &&
			    rs_http_retry_after_parse(ds->valuestring, 0,
						      &ms) == RS_OK &&
			    isdigit((unsigned char)ds->valuestring[0]))
				out->retry_after_ms = ms;
			else if (cJSON_IsNumber(ds) && ds->valuedouble >= 0)
				out->retry_after_ms = (int64_t)RS_MIN(
					ds->valuedouble * 1000.0,
					(double)RS_HTTP_RETRY_AFTER_MAX_MS);
			break;
		}
	}
out:
	cJSON_Delete(root);
	return out->code[0] || out->message[0];
}

/* Clean a message for a one-line log: control characters become spaces
 * (error_description carries \r\n Trace ID lines). */
static void one_line(char *s) {
	for (; *s; s++)
		if ((unsigned char)*s < 0x20)
			*s = ' ';
}

/*
 * Status -> class.  The table is the retry policy's input (docs/internals/
 * http.md): 429 and the transient 5xx are retriable; 501/505 mean the
 * request can never succeed; 401 is not retriable here because only the
 * caller knows whether a fresh token is worth one more try; 3xx is an error
 * because redirects are never followed, and a redirected write must not be
 * mistaken for an applied one.
 */
static rs_error_t *classify(int status, const rs_http_api_error_t *ae,
			    int64_t retry_after_ms, const char *request_id) {
	rs_err_t code;
	bool retriable = false;
	char msg[640];
	const char *rid;
	rs_error_t *error;

	if (status < 300)
		return NULL;
	if (status < 400) {
		/* Redirects are not followed: a 3xx on a write must not
		 * look like success. */
		code = RS_ERR_HTTP_STATUS;
	} else if (status == 429) {
		code = RS_ERR_HTTP_THROTTLED;
		retriable = true;
	} else if (status == 500 || status == 502 || status == 503 ||
		   status == 504) {
		code = RS_ERR_HTTP_SERVER;
		retriable = true;
	} else if (status == 408) {
		code = RS_ERR_HTTP_SERVER;
		retriable = true;
	} else if (status == 401) {
		code = RS_ERR_AUTH;
	} else if (status == 403) {
		code = RS_ERR_FORBIDDEN;
	} else if (status == 404) {
		code = RS_ERR_REMOTE_NOT_FOUND;
	} else if (status == 410) {
		code = RS_ERR_RETIRED;
	} else if (status < 500) {
		code = RS_ERR_HTTP_CLIENT;
	} else {
		/* 501, 505...: a server error that retrying won't fix. */
		code = RS_ERR_HTTP_SERVER;
	}
	/* Retry-After only means something on a retriable answer; 429
	 * without it falls back to the caller's backoff (-1). */
	if (!retriable)
		retry_after_ms = -1;

	rid = ae->request_id[0] ? ae->request_id : request_id;
	rs_snprintf(msg, sizeof(msg), "HTTP %d%s%s%s%s%s%s%s", status,
		    ae->code[0] ? " " : "", ae->code,
		    ae->message[0] ? ": " : "", ae->message,
		    rid && rid[0] ? " (request-id " : "", rid ? rid : "",
		    rid && rid[0] ? ")" : "");
	one_line(msg);
	error = rs_error_new(code, retriable, false, retry_after_ms, "%s",
			     msg);
	rs_error_set_http_status(error, status);
	return error;
}

/* Header value first, then a hint in the body (Talkdesk). */
static int64_t pick_retry_after(const char *hdr, int64_t now_wall_ms,
				const rs_http_api_error_t *ae) {
	int64_t ms;

	if (hdr && hdr[0] &&
	    rs_http_retry_after_parse(hdr, now_wall_ms, &ms) == RS_OK)
		return ms;
	return ae->retry_after_ms;
}

rs_error_t *rs_http_classify(int status, const char *body, size_t body_len,
			     const char *retry_after, int64_t now_wall_ms,
			     const char *request_id) {
	rs_http_api_error_t ae;

	if (status < 300)
		return NULL;
	rs_http_api_error_parse(body, body_len, &ae);
	return classify(status, &ae,
			pick_retry_after(retry_after, now_wall_ms, &ae),
			request_id);
}

/* Form bodies: WHATWG application/x-www-form-urlencoded serializer. */
/* Length first, then encoding: rs_http_form_add must either append the
 * whole pair or leave the buffer untouched, never a truncated secret. */
static size_t form_enc_len(const char *s) {
	size_t n = 0;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		n += (isalnum(c) || c == '*' || c == '-' || c == '.' ||
		      c == '_' || c == ' ')
			     ? 1
			     : 3;
	}
	return n;
}

static char *form_enc(char *p, const char *s) {
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (isalnum(c) || c == '*' || c == '-' || c == '.' || c == '_') {
			*p++ = (char)c;
		} else if (c == ' ') {
			*p++ = '+';
		} else {
			*p++ = '%';
			*p++ = hex[c >> 4];
			*p++ = hex[c & 0xf];
		}
	}
	return p;
}

rs_err_t rs_http_form_add(char *buf, size_t size, size_t *len,
			  const char *name, const char *value) {
	size_t need;
	char *p;

	if (!name || !*name || !value)
		return RS_ERR_INVALID_ARG;
	need = (*len ? 1 : 0) + form_enc_len(name) + 1 + form_enc_len(value);
	if (*len + need + 1 > size)
		return RS_ERR_TOO_LARGE;
	p = buf + *len;
	if (*len)
		*p++ = '&';
	p = form_enc(p, name);
	*p++ = '=';
	p = form_enc(p, value);
	*p = '\0';
	*len += need;
	return RS_OK;
}

static bool secret_field(const char *name, size_t n) {
	static const char *const secret[] = {RS_HTTP_SECRET_FORM_FIELDS};
	size_t i;

	for (i = 0; i < RS_ARRAY_SIZE(secret); i++)
		if (strlen(secret[i]) == n && !strncmp(name, secret[i], n))
			return true;
	return false;
}

/* Works on the encoded body: field names in our forms are plain ASCII, so
 * matching the raw name is exact, and values are never decoded into a
 * temporary buffer that would then hold the secret in clear. */
void rs_http_form_redact(const char *body, size_t len, char *out,
			 size_t size) {
	size_t i = 0, o = 0;

	if (!size)
		return;
	while (i < len && o + 1 < size) {
		size_t start = i, eq;
		while (i < len && body[i] != '&')
			i++;
		/* [start, i) is one name=value pair */
		for (eq = start; eq < i && body[eq] != '='; eq++)
			;
		if (eq < i && secret_field(body + start, eq - start)) {
			int w = snprintf(out + o, size - o, "%.*s=[REDACTED]",
					 (int)(eq - start), body + start);
			o = w < 0 ? o : RS_MIN(size - 1, o + (size_t)w);
		} else {
			size_t n = RS_MIN(i - start, size - 1 - o);
			memcpy(out + o, body + start, n);
			o += n;
		}
		if (i < len && o + 1 < size) {
			out[o++] = '&';
			i++;
		}
	}
	out[o] = '\0';
}

/* curl callbacks */
static size_t on_body(char *ptr, size_t size, size_t nmemb, void *opaque) {
	xfer_t *x = opaque;
	rs_http_resp_t *resp = x->resp;
	size_t n = size * nmemb;

	if (resp->body_len + n > x->max_body) {
		/* Returning short aborts the transfer: memory stays bounded
		 * whatever the server sends (Guarantee 6). */
		x->too_large = true;
		return 0;
	}
	if (resp->body_len + n + 1 > x->cap) {
		size_t cap = x->cap ? x->cap : 4096;
		while (cap < resp->body_len + n + 1)
			cap *= 2;
		cap = RS_MIN(cap, x->max_body + 1);
		resp->body = rs_realloc(resp->body, cap);
		x->cap = cap;
	}
	memcpy(resp->body + resp->body_len, ptr, n);
	resp->body_len += n;
	resp->body[resp->body_len] = '\0';
	return n;
}

/* Header values are copied bounded: a server cannot grow our memory with
 * an oversized header; a truncated request-id is still useful in logs. */
static void hdr_copy(char *dst, size_t size, const char *v, size_t n) {
	while (n && (*v == ' ' || *v == '\t')) {
		v++;
		n--;
	}
	while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' ||
		     v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	n = RS_MIN(n, size - 1);
	memcpy(dst, v, n);
	dst[n] = '\0';
}

/* curl calls this once per header line (status line included), for every
 * response of the transfer.  Only the headers the contract promises are
 * kept; names compare case-insensitively (RFC 9110 5.1). */
static size_t on_header(char *ptr, size_t size, size_t nmemb, void *opaque) {
	xfer_t *x = opaque;
	rs_http_resp_t *resp = x->resp;
	size_t n = size * nmemb;
	static const struct {
		const char *name;
		size_t off, size;
	} want[] = {
#define W(h, f) {h, offsetof(rs_http_resp_t, f), sizeof(((rs_http_resp_t *)0)->f)}
		W("retry-after", retry_after),
		W("request-id", request_id),
		W("client-request-id", client_request_id),
		W("x-ms-ags-diagnostic", ags_diagnostic),
		W("content-type", content_type),
		W("location", location),
#undef W
	};
	size_t i;
	const char *colon = memchr(ptr, ':', n);

	if (!colon)
		return n;
	for (i = 0; i < RS_ARRAY_SIZE(want); i++) {
		size_t nl = strlen(want[i].name);
		if ((size_t)(colon - ptr) == nl &&
		    !strncasecmp(ptr, want[i].name, nl)) {
			hdr_copy((char *)resp + want[i].off, want[i].size,
				 colon + 1, n - nl - 1);
			break;
		}
	}
	return n;
}

/* One debug line per request; the secret-bearing parts are replaced before
 * formatting so the secret never reaches the log buffer at all. */
static void dbg_request(const rs_http_t *http, const rs_http_req_t *req,
			const char *crid) {
	char body[512];
	rs_log_ctx_t ctx = {.tenant = req->tenant};

	if (!rs_log_debug_enabled(RS_DBG_HTTP))
		return;
	if (!req->body || !req->body_len)
		rs_snprintf(body, sizeof(body), "-");
	else if (req->body_secret)
		rs_snprintf(body, sizeof(body), "[REDACTED %zu bytes]",
			    req->body_len);
	else if (req->content_type &&
		 !strncasecmp(req->content_type,
			      "application/x-www-form-urlencoded", 33))
		rs_http_form_redact(req->body, req->body_len, body,
				    sizeof(body));
	else
		rs_snprintf(body, sizeof(body), "%.*s",
			    (int)RS_MIN(req->body_len, 256), (const char *)req->body);
	one_line(body);
	rs_log(&ctx, LOG_DEBUG, "HTTP",
	       "> %s %s target=%s op=%s client-request-id=%s auth=%s body=%s",
	       rs_http_method_name(req->method), req->url, http->target,
	       req->op ? req->op : "-", crid,
	       req->bearer_token ? "Bearer [REDACTED]" : "none", body);
}

/* Status classes are counted by the status received, so a 429 is both a
 * 4xx and a throttle, and a TOO_LARGE 200 is a 2xx and a too_large. */
static void count(rs_http_t *http, const rs_http_resp_t *resp,
		  size_t sent, rs_err_t code) {
	rs_http_stats_t *st = &http->stats;

	st->requests++;
	st->bytes_sent += sent;
	st->bytes_received += resp->body_len;
	if (resp->status == 0)
		st->transport_errors++;
	else if (resp->status >= 500)
		st->status_5xx++;
	else if (resp->status >= 400)
		st->status_4xx++;
	else if (resp->status >= 200 && resp->status < 300)
		st->status_2xx++;
	else
		st->status_1xx_3xx++;
	if (resp->status == 429)
		st->throttled++;
	if (code == RS_ERR_TIMEOUT)
		st->timeouts++;
	if (code == RS_ERR_TOO_LARGE)
		st->too_large++;
}

/*
 * One exchange.  Every option is set again after curl_easy_reset(): a
 * leftover option from the previous request (a body, a custom method) is
 * the classic bug of reused easy handles.
 */
rs_error_t *rs_http_request_send(rs_http_t *http, const rs_http_req_t *req,
				 rs_http_resp_t *resp) {
	CURL *c = http->curl;
	struct curl_slist *hdrs = NULL, *tmp;
	char line[2048], crid[64];
	rs_error_t *error = NULL;
	xfer_t x;
	rs_log_ctx_t lctx = {0};
	CURLcode cc;
	long status = 0;
	size_t i;
	int64_t t0;

	rs_http_resp_cleanup(resp);
	memset(&x, 0, sizeof(x));
	x.resp = resp;
	x.max_body = req->max_body ? req->max_body : http->max_body;

	if (!req->url || (strncmp(req->url, "https://", 8) != 0 &&
			  strncmp(req->url, "http://", 7) != 0))
		return rs_error_new(RS_ERR_INVALID_ARG, false, false, -1,
				    "http: URL must be http(s)://");

	rs_snprintf(crid, sizeof(crid), "%s",
		    req->client_request_id ? req->client_request_id : "");
	if (!crid[0] || strpbrk(crid, "\r\n"))
		rs_http_uuid4(crid, sizeof(crid));
	rs_snprintf(resp->client_request_id, sizeof(resp->client_request_id),
		    "%s", crid);

	/* reset keeps the connection/TLS session cache of the handle. */
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, req->url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (http->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, http->ca_file);
	curl_easy_setopt(c, CURLOPT_USERAGENT, http->user_agent);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
			 (long)(req->timeout_ms > 0 ? req->timeout_ms
						    : http->timeout_ms));
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
			 (long)http->connect_timeout_ms);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, http->curl_err);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &x);
	curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
	if (http->fresh_connect) {
		curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L);
		http->fresh_connect = false;
	}
	http->curl_err[0] = '\0';

	switch (req->method) {
	case RS_HTTP_GET:
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
		break;
	case RS_HTTP_POST:
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		break;
	default:
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST,
				 rs_http_method_name(req->method));
		break;
	}
	if (req->method != RS_HTTP_GET &&
	    (req->body || req->method == RS_HTTP_POST)) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS,
				 req->body ? (const char *)req->body : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)req->body_len);
	}

	/* "Expect:" off: no 100-continue round trip on POST bodies. */
	hdrs = curl_slist_append(hdrs, "Expect:");
	for (i = 0; i < req->header_cnt && hdrs; i++) {
		tmp = curl_slist_append(hdrs, req->headers[i]);
		if (tmp)
			hdrs = tmp;
	}
	if (req->content_type && req->body) {
		rs_snprintf(line, sizeof(line), "Content-Type: %s",
			    req->content_type);
		hdrs = curl_slist_append(hdrs, line);
	}
	rs_snprintf(line, sizeof(line), "client-request-id: %s", crid);
	hdrs = curl_slist_append(hdrs, line);
	if (req->traceparent && !strpbrk(req->traceparent, "\r\n")) {
		rs_snprintf(line, sizeof(line), "traceparent: %s",
			    req->traceparent);
		hdrs = curl_slist_append(hdrs, line);
	}
	if (req->bearer_token) {
		if (strpbrk(req->bearer_token, "\r\n") ||
		    strlen(req->bearer_token) + 32 > sizeof(line)) {
			error = rs_error_new(RS_ERR_INVALID_ARG, false, false,
					     -1, "http: bad bearer token");
			goto out;
		}
		rs_snprintf(line, sizeof(line), "Authorization: Bearer %s",
			    req->bearer_token);
		hdrs = curl_slist_append(hdrs, line);
		rs_wipe(line, sizeof(line));
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);

	dbg_request(http, req, crid);
	t0 = rs_now_us();
	cc = curl_easy_perform(c);
	resp->elapsed_us = rs_now_us() - t0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);

	if (x.too_large) {
		resp->status = (int)status;
		error = rs_error_new(RS_ERR_TOO_LARGE, false, false, -1,
				     "http: %s %s: response body above %zu "
				     "bytes",
				     rs_http_method_name(req->method),
				     http->target, x.max_body);
		rs_error_set_http_status(error, (int)status);
	} else if (cc != CURLE_OK) {
		bool to = cc == CURLE_OPERATION_TIMEDOUT;
		resp->status = 0;
		error = rs_error_new(to ? RS_ERR_TIMEOUT : RS_ERR_HTTP_TRANSPORT,
				     true, false, -1, "http: %s %s: %s%s%s",
				     rs_http_method_name(req->method),
				     http->target, curl_easy_strerror(cc),
				     http->curl_err[0] ? ": " : "",
				     http->curl_err);
		/* A broken connection should not be reused. */
		http->fresh_connect = true;
	} else {
		resp->status = (int)status;
		if (status >= 400)
			rs_http_api_error_parse(resp->body, resp->body_len,
						&resp->api_error);
		resp->retry_after_ms = pick_retry_after(
			resp->retry_after, rs_wall_ms(), &resp->api_error);
		error = classify((int)status, &resp->api_error,
				 resp->retry_after_ms, resp->request_id);
		if (status == 503)
			http->fresh_connect = true;
	}

	lctx.tenant = req->tenant;
	lctx.request_id = resp->request_id;
	/* The error message quotes the server's error text, and a server
	 * that echoes the request (some token endpoints do) would put a
	 * secret request body into the log: for secret bodies only the
	 * error code is logged. */
	rs_dbg(&lctx, RS_DBG_HTTP, "HTTP",
	       "< %d %s %s %zu bytes %lld us%s%s", resp->status,
	       rs_http_method_name(req->method), http->target,
	       resp->body_len, (long long)resp->elapsed_us,
	       error ? " error: " : "",
	       !error ? ""
	       : req->body_secret ? rs_err_name(rs_error_code(error))
				  : rs_error_msg(error));

	count(http, resp, req->body_len, error ? rs_error_code(error) : RS_OK);
	if (http->observe_cb) {
		rs_http_event_t ev = {
			.target = http->target,
			.tenant = req->tenant,
			.op = req->op,
			.method = req->method,
			.status = resp->status,
			.err = error ? rs_error_code(error) : RS_OK,
			.elapsed_us = resp->elapsed_us,
			.bytes_sent = req->body_len,
			.bytes_received = resp->body_len,
			.retry_after_ms = resp->retry_after_ms,
		};
		http->observe_cb(&ev, http->observe_opaque);
	}
out:
	/* The slist holds the Authorization line: wipe before freeing. */
	for (tmp = hdrs; tmp; tmp = tmp->next)
		if (!strncasecmp(tmp->data, "Authorization:", 14))
			rs_wipe(tmp->data, strlen(tmp->data));
	curl_slist_free_all(hdrs);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	return error;
}
