/*
 * rs_log.c - one-line logging, text or JSON, one write(2) per line so lines
 * from several threads never interleave.
 */
#include "rs/rs_base.h"
#include "rs/rs_log.h"

#include <unistd.h>

#include <cjson/cJSON.h>

/* Process-wide, set before threads start (STYLE.md 11 allows the sink). */
static int log_level = LOG_INFO;
static rs_log_fmt_t log_fmt = RS_LOG_FMT_TEXT;
static unsigned int log_debug_mask;
static int log_fd = 2;

static const char *const level_names[] = {"EMERG", "ALERT", "CRIT",  "ERROR",
					  "WARN",  "NOTICE", "INFO", "DEBUG"};

static const struct {
	const char *name;
	unsigned int bit;
} debug_names[] = {
	{"http", RS_DBG_HTTP},	   {"queue", RS_DBG_QUEUE}, {"auth", RS_DBG_AUTH},
	{"plan", RS_DBG_PLAN},	   {"worker", RS_DBG_WORKER},
	{"sim", RS_DBG_SIM},	   {"conf", RS_DBG_CONF},   {"all", RS_DBG_ALL},
};

void rs_log_set_level(int level) {
	log_level = level;
}

int rs_log_level(void) {
	return log_level;
}

void rs_log_set_format(rs_log_fmt_t fmt) {
	log_fmt = fmt;
}

void rs_log_set_fd(int fd) {
	log_fd = fd;
}

int rs_log_set_debug(const char *list, char *errstr, size_t errstr_size) {
	unsigned int mask = 0;
	const char *p = list;

	while (p && *p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		size_t i;
		bool found = false;

		while (len && *p == ' ') {
			p++;
			len--;
		}
		for (i = 0; i < RS_ARRAY_SIZE(debug_names) && len; i++) {
			if (strlen(debug_names[i].name) == len &&
			    !strncmp(debug_names[i].name, p, len)) {
				mask |= debug_names[i].bit;
				found = true;
				break;
			}
		}
		if (len && !found) {
			snprintf(errstr, errstr_size,
				 "unknown debug context \"%.*s\" (valid: http, "
				 "queue, auth, plan, worker, sim, conf, all)",
				 (int)RS_MIN(len, 64), p);
			return -1;
		}
		p = end ? end + 1 : NULL;
	}
	log_debug_mask = mask;
	if (mask && log_level < LOG_DEBUG)
		log_level = LOG_DEBUG;
	return 0;
}

bool rs_log_debug_enabled(unsigned int ctx_bit) {
	return (log_debug_mask & ctx_bit) != 0;
}

static void write_all(const char *buf, size_t len) {
	while (len) {
		ssize_t n = write(log_fd, buf, len);
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

void rs_log(const rs_log_ctx_t *ctx, int level, const char *fac,
	    const char *fmt, ...) {
	char msg[2048];
	char ts[40];
	char line[4096];
	va_list ap;
	size_t len;
	char *p;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* Messages are one line: fold any newline a caller let through. */
	for (p = msg; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	rs_time_fmt(rs_wall_ms(), ts, sizeof(ts));
	if (level < 0 || level > 7)
		level = LOG_INFO;

	if (log_fmt == RS_LOG_FMT_JSON) {
		cJSON *o = cJSON_CreateObject();
		char *s;
		cJSON_AddStringToObject(o, "time", ts);
		cJSON_AddStringToObject(o, "level", level_names[level]);
		cJSON_AddStringToObject(o, "fac", fac);
		if (ctx && ctx->tenant)
			cJSON_AddStringToObject(o, "tenant", ctx->tenant);
		if (ctx && ctx->job_id)
			cJSON_AddStringToObject(o, "job_id", ctx->job_id);
		if (ctx && ctx->key)
			cJSON_AddStringToObject(o, "key", ctx->key);
		if (ctx && ctx->generation)
			cJSON_AddNumberToObject(o, "generation",
						(double)ctx->generation);
		if (ctx && ctx->attempt)
			cJSON_AddNumberToObject(o, "attempt", ctx->attempt);
		if (ctx && ctx->request_id)
			cJSON_AddStringToObject(o, "request_id", ctx->request_id);
		cJSON_AddStringToObject(o, "msg", msg);
		s = cJSON_PrintUnformatted(o);
		len = strlen(s);
		if (len > sizeof(line) - 2)
			len = sizeof(line) - 2;
		memcpy(line, s, len);
		line[len++] = '\n';
		cJSON_free(s);
		cJSON_Delete(o);
	} else {
		char cbuf[512] = "";
		if (ctx) {
			size_t c = 0;
			if (ctx->tenant)
				c += (size_t)snprintf(cbuf + c, sizeof(cbuf) - c,
						      " tenant=%s", ctx->tenant);
			if (ctx->job_id && c < sizeof(cbuf))
				c += (size_t)snprintf(cbuf + c, sizeof(cbuf) - c,
						      " job=%s", ctx->job_id);
			if (ctx->generation && c < sizeof(cbuf))
				c += (size_t)snprintf(cbuf + c, sizeof(cbuf) - c,
						      " gen=%lld",
						      (long long)ctx->generation);
			if (ctx->attempt && c < sizeof(cbuf))
				c += (size_t)snprintf(cbuf + c, sizeof(cbuf) - c,
						      " attempt=%d", ctx->attempt);
			if (ctx->request_id && c < sizeof(cbuf))
				snprintf(cbuf + c, sizeof(cbuf) - c,
					 " request-id=%s", ctx->request_id);
		}
		snprintf(line, sizeof(line), "%s %-5s %s%s: %s\n", ts,
			 level_names[level], fac, cbuf, msg);
		len = strlen(line);
		if (len && line[len - 1] != '\n')
			line[len - 1] = '\n';
	}
	write_all(line, len);
}

void rs_log_from_handler(const char *msg) {
	size_t len = strlen(msg);
	write_all(msg, len);
}
