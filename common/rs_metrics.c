/*
 * rs_metrics.c - Prometheus registry, text exposition and the metrics HTTP
 * endpoint (libmicrohttpd).
 *
 * Series live in an append-only array per family (so the output order is the
 * order of first use, stable between scrapes) with an open-addressing hash
 * index keyed by the joined label values.
 */
#include "rs/rs_base.h"
#include "rs/rs_metrics.h"

#include <arpa/inet.h>
#include <math.h>
#include <pthread.h>

#include <microhttpd.h>

typedef struct series_s {
	char *key;       /* label values joined by \x1f */
	char **values;   /* label values, label_cnt entries */
	double value;    /* counter / gauge */
	uint64_t *counts; /* histogram: bucket_cnt + 1 (the +Inf bucket) */
	double sum;
	uint64_t count;
} series_t;

struct rs_metric_s {
	rs_metrics_t *m;
	rs_metric_type_t type;
	char *name;
	char *help;
	char *labels[RS_METRICS_MAX_LABELS];
	size_t label_cnt;
	double buckets[RS_METRICS_MAX_BUCKETS];
	size_t bucket_cnt;
	series_t **series;
	size_t series_cnt;
	size_t series_cap;
	size_t *index; /* hash slots holding series index + 1, 0 = empty */
	size_t index_cap;
};

struct rs_metrics_s {
	pthread_mutex_t lock;
	rs_metric_t *families[RS_METRICS_MAX_FAMILIES];
	size_t family_cnt;
	uint64_t dropped;
	rs_metrics_collect_cb_t *collect_cb;
	void *collect_opaque;
	rs_metrics_ready_cb_t *ready_cb;
	void *ready_opaque;
	struct MHD_Daemon *daemon;
	int port;
};

static bool valid_name(const char *s, bool allow_colon) {
	const char *p;
	if (!s || !*s)
		return false;
	for (p = s; *p; p++) {
		bool alpha = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			     *p == '_' || (allow_colon && *p == ':');
		bool digit = *p >= '0' && *p <= '9';
		if (!alpha && !(digit && p != s))
			return false;
	}
	return true;
}

rs_metrics_t *rs_metrics_new(void) {
	rs_metrics_t *m = rs_calloc(1, sizeof(*m));
	pthread_mutex_init(&m->lock, NULL);
	return m;
}

/* Frees every series; the family is then empty (index cleared too). */
static void family_series_free(rs_metric_t *f) {
	size_t i, j;
	for (i = 0; i < f->series_cnt; i++) {
		series_t *s = f->series[i];
		for (j = 0; j < f->label_cnt; j++)
			rs_free(s->values[j]);
		rs_free(s->values);
		rs_free(s->counts);
		rs_free(s->key);
		rs_free(s);
	}
	f->series_cnt = 0;
	if (f->index_cap)
		memset(f->index, 0, f->index_cap * sizeof(*f->index));
}

static void family_destroy(rs_metric_t *f) {
	size_t j;
	family_series_free(f);
	for (j = 0; j < f->label_cnt; j++)
		rs_free(f->labels[j]);
	rs_free(f->series);
	rs_free(f->index);
	rs_free(f->name);
	rs_free(f->help);
	rs_free(f);
}

void rs_metrics_destroy(rs_metrics_t *m) {
	size_t i;
	if (!m)
		return;
	if (m->daemon)
		MHD_stop_daemon(m->daemon);
	for (i = 0; i < m->family_cnt; i++)
		family_destroy(m->families[i]);
	pthread_mutex_destroy(&m->lock);
	rs_free(m);
}

rs_metric_t *rs_metrics_register(rs_metrics_t *m, rs_metric_type_t type,
				 const char *name, const char *help,
				 const char *const *labels,
				 const double *buckets, size_t bucket_cnt) {
	rs_metric_t *f = NULL;
	size_t i;

	if (!valid_name(name, true))
		return NULL;
	if (type == RS_METRIC_HISTOGRAM &&
	    (bucket_cnt == 0 || bucket_cnt > RS_METRICS_MAX_BUCKETS))
		return NULL;
	for (i = 0; type == RS_METRIC_HISTOGRAM && i + 1 < bucket_cnt; i++)
		if (!(buckets[i] < buckets[i + 1]))
			return NULL;

	pthread_mutex_lock(&m->lock);
	for (i = 0; i < m->family_cnt; i++) {
		if (!strcmp(m->families[i]->name, name)) {
			f = m->families[i]->type == type ? m->families[i] : NULL;
			goto out;
		}
	}
	if (m->family_cnt == RS_METRICS_MAX_FAMILIES)
		goto out;
	f = rs_calloc(1, sizeof(*f));
	f->m = m;
	f->type = type;
	f->name = rs_strdup(name);
	f->help = rs_strdup(help ? help : "");
	for (i = 0; labels && labels[i]; i++) {
		/* "le" is reserved for histogram buckets. */
		if (i == RS_METRICS_MAX_LABELS || !valid_name(labels[i], false) ||
		    !strcmp(labels[i], "le")) {
			f->label_cnt = i;
			family_destroy(f);
			f = NULL;
			goto out;
		}
		f->labels[i] = rs_strdup(labels[i]);
		f->label_cnt = i + 1;
	}
	if (type == RS_METRIC_HISTOGRAM) {
		memcpy(f->buckets, buckets, bucket_cnt * sizeof(double));
		f->bucket_cnt = bucket_cnt;
	}
	m->families[m->family_cnt++] = f;
out:
	pthread_mutex_unlock(&m->lock);
	return f;
}

static uint64_t hash_str(const char *s) {
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	while (*s) {
		h ^= (unsigned char)*s++;
		h *= 1099511628211ULL;
	}
	return h;
}

/* Joins the label values into a lookup key, in @p buf when it fits (every
 * add and observe looks a series up: the common case allocates nothing),
 * else in a heap string. */
static char *join_values(const rs_metric_t *f, const char *const *values,
			 char *buf, size_t size) {
	size_t i, len = 1;
	char *key, *p;
	for (i = 0; i < f->label_cnt; i++)
		len += (values && values[i] ? strlen(values[i]) : 0) + 1;
	key = len <= size ? buf : rs_malloc(len);
	p = key;
	for (i = 0; i < f->label_cnt; i++) {
		size_t l = values && values[i] ? strlen(values[i]) : 0;
		if (l)
			memcpy(p, values[i], l);
		p += l;
		*p++ = '\x1f';
	}
	*p = '\0';
	return key;
}

static void index_insert(rs_metric_t *f, size_t idx) {
	size_t slot = hash_str(f->series[idx]->key) & (f->index_cap - 1);
	while (f->index[slot])
		slot = (slot + 1) & (f->index_cap - 1);
	f->index[slot] = idx + 1;
}

/* Finds or creates a series; NULL when the family is at its bound.
 * Called with the registry lock held. */
static series_t *series_get(rs_metric_t *f, const char *const *values,
			    bool create) {
	char kbuf[512];
	char *key = join_values(f, values, kbuf, sizeof(kbuf));
	series_t *s = NULL;
	size_t slot, i;

	if (f->index_cap) {
		slot = hash_str(key) & (f->index_cap - 1);
		while (f->index[slot]) {
			series_t *c = f->series[f->index[slot] - 1];
			if (!strcmp(c->key, key)) {
				s = c;
				goto out;
			}
			slot = (slot + 1) & (f->index_cap - 1);
		}
	}
	if (!create)
		goto out;
	if (f->series_cnt >= RS_METRICS_MAX_SERIES) {
		f->m->dropped++;
		goto out;
	}
	if (f->series_cnt == f->series_cap) {
		f->series_cap = f->series_cap ? f->series_cap * 2 : 16;
		f->series = rs_realloc(f->series,
				       f->series_cap * sizeof(*f->series));
	}
	/* Keep the index at most half full. */
	if ((f->series_cnt + 1) * 2 > f->index_cap) {
		rs_free(f->index);
		f->index_cap = f->index_cap ? f->index_cap * 2 : 32;
		f->index = rs_calloc(f->index_cap, sizeof(*f->index));
		for (i = 0; i < f->series_cnt; i++)
			index_insert(f, i);
	}
	s = rs_calloc(1, sizeof(*s));
	s->key = rs_strdup(key);
	s->values = rs_calloc(f->label_cnt ? f->label_cnt : 1, sizeof(char *));
	for (i = 0; i < f->label_cnt; i++)
		s->values[i] = rs_strdup(values && values[i] ? values[i] : "");
	if (f->type == RS_METRIC_HISTOGRAM)
		s->counts = rs_calloc(f->bucket_cnt + 1, sizeof(uint64_t));
	f->series[f->series_cnt] = s;
	index_insert(f, f->series_cnt);
	f->series_cnt++;
out:
	if (key != kbuf)
		rs_free(key);
	return s;
}

void rs_metric_add(rs_metric_t *f, const char *const *values, double v) {
	series_t *s;
	if (!f || f->type == RS_METRIC_HISTOGRAM ||
	    (f->type == RS_METRIC_COUNTER && v < 0))
		return;
	pthread_mutex_lock(&f->m->lock);
	s = series_get(f, values, true);
	if (s)
		s->value += v;
	pthread_mutex_unlock(&f->m->lock);
}

void rs_metric_set(rs_metric_t *f, const char *const *values, double v) {
	series_t *s;
	if (!f || f->type != RS_METRIC_GAUGE)
		return;
	pthread_mutex_lock(&f->m->lock);
	s = series_get(f, values, true);
	if (s)
		s->value = v;
	pthread_mutex_unlock(&f->m->lock);
}

void rs_metric_observe(rs_metric_t *f, const char *const *values, double v) {
	series_t *s;
	size_t i;
	if (!f || f->type != RS_METRIC_HISTOGRAM)
		return;
	pthread_mutex_lock(&f->m->lock);
	s = series_get(f, values, true);
	if (s) {
		/* Buckets are cumulative only when rendered. */
		for (i = 0; i < f->bucket_cnt && v > f->buckets[i]; i++)
			;
		s->counts[i]++;
		s->sum += v;
		s->count++;
	}
	pthread_mutex_unlock(&f->m->lock);
}

void rs_metric_clear(rs_metric_t *f) {
	if (!f)
		return;
	pthread_mutex_lock(&f->m->lock);
	family_series_free(f);
	pthread_mutex_unlock(&f->m->lock);
}

double rs_metric_get(rs_metric_t *f, const char *const *values) {
	series_t *s;
	double v = 0;
	if (!f)
		return 0;
	pthread_mutex_lock(&f->m->lock);
	s = series_get(f, values, false);
	if (s)
		v = f->type == RS_METRIC_HISTOGRAM ? (double)s->count : s->value;
	pthread_mutex_unlock(&f->m->lock);
	return v;
}

void rs_metrics_set_collect(rs_metrics_t *m, rs_metrics_collect_cb_t *cb,
			    void *opaque) {
	m->collect_cb = cb;
	m->collect_opaque = opaque;
}

void rs_metrics_set_ready(rs_metrics_t *m, rs_metrics_ready_cb_t *cb,
			  void *opaque) {
	m->ready_cb = cb;
	m->ready_opaque = opaque;
}

/* A growable output buffer; the render is bounded by the series bounds. */
typedef struct {
	char *buf;
	size_t len, cap;
} outbuf_t;

static void out_append(outbuf_t *o, const char *s, size_t n) {
	if (o->len + n + 1 > o->cap) {
		while (o->len + n + 1 > o->cap)
			o->cap = o->cap ? o->cap * 2 : 4096;
		o->buf = rs_realloc(o->buf, o->cap);
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

static void out_printf(outbuf_t *o, const char *fmt, ...) RS_PRINTF(2, 3);
static void out_printf(outbuf_t *o, const char *fmt, ...) {
	char tmp[512];
	va_list ap;
	int n;
	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		out_append(o, tmp, RS_MIN((size_t)n, sizeof(tmp) - 1));
}

/* Label values escape \, " and newline; HELP text escapes \ and newline
 * (exposition format 0.0.4). */
static void out_escaped(outbuf_t *o, const char *s, bool quote) {
	for (; *s; s++) {
		if (*s == '\\')
			out_append(o, "\\\\", 2);
		else if (*s == '\n')
			out_append(o, "\\n", 2);
		else if (quote && *s == '"')
			out_append(o, "\\\"", 2);
		else
			out_append(o, s, 1);
	}
}

static void out_double(outbuf_t *o, double v) {
	if (isinf(v))
		out_append(o, v > 0 ? "+Inf" : "-Inf", 4);
	else if (isnan(v))
		out_append(o, "NaN", 3);
	else if (v == (double)(int64_t)v && fabs(v) < 9e15)
		out_printf(o, "%lld", (long long)v);
	else
		out_printf(o, "%.17g", v);
}

static void out_labels(outbuf_t *o, const rs_metric_t *f, const series_t *s,
		       const char *le) {
	size_t i;
	bool any = false;
	if (!f->label_cnt && !le)
		return;
	out_append(o, "{", 1);
	for (i = 0; i < f->label_cnt; i++) {
		out_printf(o, "%s%s=\"", any ? "," : "", f->labels[i]);
		out_escaped(o, s->values[i], true);
		out_append(o, "\"", 1);
		any = true;
	}
	if (le)
		out_printf(o, "%sle=\"%s\"", any ? "," : "", le);
	out_append(o, "}", 1);
}

char *rs_metrics_render(rs_metrics_t *m) {
	static const char *const type_names[] = {"counter", "gauge",
						 "histogram"};
	outbuf_t o = {NULL, 0, 0};
	size_t i, j, b;

	if (m->collect_cb)
		m->collect_cb(m, m->collect_opaque);
	pthread_mutex_lock(&m->lock);
	for (i = 0; i < m->family_cnt; i++) {
		rs_metric_t *f = m->families[i];
		out_printf(&o, "# HELP %s ", f->name);
		out_escaped(&o, f->help, false);
		out_printf(&o, "\n# TYPE %s %s\n", f->name, type_names[f->type]);
		for (j = 0; j < f->series_cnt; j++) {
			series_t *s = f->series[j];
			if (f->type != RS_METRIC_HISTOGRAM) {
				out_printf(&o, "%s", f->name);
				out_labels(&o, f, s, NULL);
				out_append(&o, " ", 1);
				out_double(&o, s->value);
				out_append(&o, "\n", 1);
				continue;
			}
			uint64_t cum = 0;
			for (b = 0; b <= f->bucket_cnt; b++) {
				char le[64];
				cum += s->counts[b];
				if (b < f->bucket_cnt)
					snprintf(le, sizeof(le), "%g",
						 f->buckets[b]);
				else
					snprintf(le, sizeof(le), "+Inf");
				out_printf(&o, "%s_bucket", f->name);
				out_labels(&o, f, s, le);
				out_printf(&o, " %llu\n", (unsigned long long)cum);
			}
			out_printf(&o, "%s_sum", f->name);
			out_labels(&o, f, s, NULL);
			out_append(&o, " ", 1);
			out_double(&o, s->sum);
			out_printf(&o, "\n%s_count", f->name);
			out_labels(&o, f, s, NULL);
			out_printf(&o, " %llu\n", (unsigned long long)s->count);
		}
	}
	out_printf(&o,
		   "# HELP rostersync_metrics_series_dropped_total Series not "
		   "recorded because a family reached its series bound.\n"
		   "# TYPE rostersync_metrics_series_dropped_total counter\n"
		   "rostersync_metrics_series_dropped_total %llu\n",
		   (unsigned long long)m->dropped);
	pthread_mutex_unlock(&m->lock);
	return o.buf;
}

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned int status,
			       const char *ctype, char *body) {
	struct MHD_Response *resp;
	enum MHD_Result ret;
	resp = MHD_create_response_from_buffer(strlen(body), body,
					       MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(resp, "Content-Type", ctype);
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn,
			      const char *url, const char *method,
			      const char *version, const char *upload_data,
			      size_t *upload_data_size, void **req_cls) {
	rs_metrics_t *m = cls;
	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)req_cls;

	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return respond(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain",
			       rs_strdup("method not allowed\n"));
	if (!strcmp(url, "/metrics"))
		return respond(conn, MHD_HTTP_OK,
			       "text/plain; version=0.0.4; charset=utf-8",
			       rs_metrics_render(m));
	if (!strcmp(url, "/healthz"))
		return respond(conn, MHD_HTTP_OK, "text/plain", rs_strdup("ok\n"));
	if (!strcmp(url, "/readyz")) {
		bool ready = !m->ready_cb || m->ready_cb(m->ready_opaque);
		return respond(conn,
			       ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
			       "text/plain",
			       rs_strdup(ready ? "ready\n" : "not ready\n"));
	}
	return respond(conn, MHD_HTTP_NOT_FOUND, "text/plain",
		       rs_strdup("not found: try /metrics, /healthz, /readyz\n"));
}

rs_err_t rs_metrics_serve(rs_metrics_t *m, const char *listen, char *errstr,
			  size_t errstr_size) {
	struct sockaddr_in sa;
	const char *colon = listen ? strrchr(listen, ':') : NULL;
	char host[64];
	char *end;
	long port;
	const union MHD_DaemonInfo *info;

	if (m->daemon) {
		snprintf(errstr, errstr_size, "metrics server already running");
		return RS_ERR_STATE;
	}
	if (!colon || (size_t)(colon - listen) >= sizeof(host)) {
		snprintf(errstr, errstr_size,
			 "metrics listen address \"%s\" is not HOST:PORT",
			 listen ? listen : "");
		return RS_ERR_INVALID_ARG;
	}
	memcpy(host, listen, (size_t)(colon - listen));
	host[colon - listen] = '\0';
	port = strtol(colon + 1, &end, 10);
	if (*end || end == colon + 1 || port < 0 || port > 65535) {
		snprintf(errstr, errstr_size,
			 "metrics listen address \"%s\": bad port", listen);
		return RS_ERR_INVALID_ARG;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	if (!strcmp(host, "*") || !strcmp(host, "0.0.0.0") || !*host)
		sa.sin_addr.s_addr = htonl(INADDR_ANY);
	else if (!strcmp(host, "localhost"))
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		snprintf(errstr, errstr_size,
			 "metrics listen address \"%s\": host must be an IPv4 "
			 "address, localhost or *",
			 listen);
		return RS_ERR_INVALID_ARG;
	}
	m->daemon = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL,
		NULL, handle, m, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)10,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)64, MHD_OPTION_END);
	if (!m->daemon) {
		snprintf(errstr, errstr_size,
			 "cannot serve metrics on %s (address in use?)", listen);
		return RS_ERR_IO;
	}
	info = MHD_get_daemon_info(m->daemon, MHD_DAEMON_INFO_BIND_PORT);
	m->port = info ? (int)info->port : (int)port;
	return RS_OK;
}

int rs_metrics_port(rs_metrics_t *m) {
	return m->daemon ? m->port : 0;
}
