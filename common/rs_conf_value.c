/*
 * rs_conf_value.c - the configuration setter: text -> struct member for
 * every table type, the value checks it shares with the cross-key checks,
 * and the bounded error list (rs_conf_int.h).
 */
#include "rs/rs_base.h"
#include "rs/rs_conf.h"
#include "rs/rs_secret.h"
#include "rs_conf_int.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>

/* -------------------------------------------------------------------------
 * Error collection
 * ---------------------------------------------------------------------- */

void rs_conf_errf(errs_t *e, const char *file, int line, const char *key,
		 const char *fmt, ...) {
	char msg[768], full[1024];
	va_list ap;

	if (e->n >= RS_CONF_MAX_ERRORS) {
		e->dropped++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		rs_snprintf(full, sizeof(full), "%s:%d: %s%s%s", file, line,
			    key ? key : "", key ? ": " : "", msg);
	else
		rs_snprintf(full, sizeof(full), "%s: %s%s%s", file,
			    key ? key : "", key ? ": " : "", msg);
	e->lines = rs_realloc(e->lines, (e->n + 1) * sizeof(*e->lines));
	e->lines[e->n++] = rs_strdup(full);
}

/* Copies every error, one per line, into errstr; when it does not fit the
 * last line says how many were left out. */
void rs_conf_errs_flush(errs_t *e, char *errstr, size_t size) {
	size_t i, used = 0;

	if (size)
		errstr[0] = '\0';
	for (i = 0; i < e->n && size; i++) {
		size_t len = strlen(e->lines[i]);
		/* Keep room for the "... N more" line. */
		if (used + len + 2 + 40 > size)
			break;
		memcpy(errstr + used, e->lines[i], len);
		used += len;
		errstr[used++] = '\n';
		errstr[used] = '\0';
	}
	if (size && (i < e->n || e->dropped))
		snprintf(errstr + used, size - used, "... %zu more errors\n",
			 e->n - i + e->dropped);
	for (i = 0; i < e->n; i++)
		rs_free(e->lines[i]);
	rs_free(e->lines);
	e->lines = NULL;
	e->n = 0;
}

/* -------------------------------------------------------------------------
 * One scope instance being loaded: the struct plus where each key was set.
 * ---------------------------------------------------------------------- */

void rs_conf_inst_init(inst_t *in, rs_conf_scope_t scope, void *obj,
		      const char *file, const char *base_dir) {
	in->scope = scope;
	in->obj = obj;
	in->props = rs_conf_props(scope, &in->n_props);
	in->file = file;
	in->base_dir = base_dir;
	in->set = rs_calloc(in->n_props, sizeof(*in->set));
	in->set_file = rs_calloc(in->n_props, sizeof(*in->set_file));
	in->set_line = rs_calloc(in->n_props, sizeof(*in->set_line));
}

void rs_conf_inst_cleanup(inst_t *in) {
	rs_free(in->set);
	rs_free(in->set_file);
	rs_free(in->set_line);
}

size_t rs_conf_prop_idx(const inst_t *in, const char *name) {
	size_t i;

	for (i = 0; i < in->n_props; i++)
		if (!strcmp(in->props[i].name, name))
			return i;
	rs_assert(!"unknown key in rs_conf_prop_idx");
	return 0;
}


void rs_conf_strlist_clear(rs_conf_strlist_t *l) {
	size_t i;

	for (i = 0; i < l->count; i++)
		rs_free(l->items[i]);
	rs_free(l->items);
	l->items = NULL;
	l->count = 0;
}

void rs_conf_map_clear(rs_conf_map_t *m) {
	size_t i;

	for (i = 0; i < m->count; i++) {
		rs_free(m->keys[i]);
		rs_free(m->values[i]);
	}
	rs_free(m->keys);
	rs_free(m->values);
	m->keys = m->values = NULL;
	m->count = 0;
}

bool rs_conf_is_strtype(rs_conf_type_t t) {
	return t == RS_CONF_T_STR || t == RS_CONF_T_SECRET ||
	       t == RS_CONF_T_URL || t == RS_CONF_T_PATH;
}

/* Frees every member a table row owns. */
void rs_conf_obj_free(rs_conf_scope_t scope, void *obj) {
	size_t n, i;
	const rs_conf_prop_t *props = rs_conf_props(scope, &n);

	for (i = 0; i < n; i++) {
		const rs_conf_prop_t *p = &props[i];
		if (rs_conf_is_strtype(p->type)) {
			char **s = MEMBER(obj, p, char *);
			rs_free(*s);
			*s = NULL;
		} else if (p->type == RS_CONF_T_STRLIST) {
			rs_conf_strlist_clear(MEMBER(obj, p, rs_conf_strlist_t));
		} else if (p->type == RS_CONF_T_MAP) {
			rs_conf_map_clear(MEMBER(obj, p, rs_conf_map_t));
		}
	}
}


/* -------------------------------------------------------------------------
 * Value checks shared by the setter and the cross-key checks
 * ---------------------------------------------------------------------- */
bool rs_conf_has_ctl(const char *s) {
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/* Plain integers are milliseconds so that libconfig ints keep meaning what
 * they always meant; units exist so humans do not count zeros.  Negative
 * values and overflow are parse errors, not wrapped numbers. */
rs_err_t rs_conf_parse_duration(const char *s, int64_t *ms) {
	char *end;
	long long v;
	int64_t mult = 1;

	while (isspace((unsigned char)*s))
		s++;
	if (!isdigit((unsigned char)*s))
		return RS_ERR_PARSE;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno)
		return RS_ERR_PARSE;
	if (!strcmp(end, "") || !strcmp(end, "ms"))
		mult = 1;
	else if (!strcmp(end, "s"))
		mult = 1000;
	else if (!strcmp(end, "m"))
		mult = 60 * 1000;
	else if (!strcmp(end, "h"))
		mult = 3600 * 1000;
	else if (!strcmp(end, "d"))
		mult = 86400 * 1000;
	else
		return RS_ERR_PARSE;
	if (v > INT64_MAX / mult)
		return RS_ERR_PARSE;
	*ms = (int64_t)v * mult;
	return RS_OK;
}

/* URLs are parsed only as far as we need to trust them: a scheme we speak,
 * a host, an optional numeric port.  userinfo is refused because it would
 * put a credential inline and into logs; whitespace and control
 * characters because they could split a request line or a log line. */
const char *rs_conf_url_check(const char *url) {
	const char *host, *end, *p;

	if (strlen(url) > RS_CONF_MAX_URL)
		return "URL too long";
	for (p = url; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return "must be an http(s) URL without spaces or "
			       "control characters";
	if (!strncasecmp(url, "https://", 8))
		host = url + 8;
	else if (!strncasecmp(url, "http://", 7))
		host = url + 7;
	else
		return "must be an http(s) URL";
	end = host + strcspn(host, "/?#");
	if (end == host)
		return "must be an http(s) URL with a host";
	if (memchr(host, '@', (size_t)(end - host)))
		return "must not contain user:password@ (use a secret "
		       "reference)";
	if (*host == '[') {
		p = memchr(host, ']', (size_t)(end - host));
		if (!p || p == host + 1)
			return "must be an http(s) URL with a valid host";
		p++;
	} else {
		for (p = host; p < end && *p != ':'; p++)
			if (!isalnum((unsigned char)*p) && *p != '.' &&
			    *p != '-' && *p != '_')
				return "must be an http(s) URL with a valid "
				       "host";
		if (p == host)
			return "must be an http(s) URL with a host";
	}
	if (p < end) {
		long port = 0;
		if (*p != ':' || p + 1 == end)
			return "must be an http(s) URL with a valid port";
		for (p++; p < end; p++) {
			if (!isdigit((unsigned char)*p) || port > 65535)
				return "must be an http(s) URL with a valid "
				       "port";
			port = port * 10 + (*p - '0');
		}
		if (port < 1 || port > 65535)
			return "must be an http(s) URL with a valid port";
	}
	return NULL;
}

bool rs_conf_is_guid(const char *s) {
	size_t i;

	if (strlen(s) != 36)
		return false;
	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!isxdigit((unsigned char)s[i])) {
			return false;
		}
	}
	return true;
}

bool rs_conf_is_domain(const char *s) {
	size_t len = strlen(s), label = 0;
	bool dot = false;

	if (!len || len > 253)
		return false;
	for (; *s; s++) {
		if (*s == '.') {
			if (!label)
				return false;
			label = 0;
			dot = true;
		} else if (isalnum((unsigned char)*s) || *s == '-') {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return dot && label;
}

bool rs_conf_charset_ok(const char *s, const char *extra, bool lower) {
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (isdigit(c) || (isalpha(c) && (!lower || islower(c))) ||
		    (c && strchr(extra, c)))
			continue;
		return false;
	}
	return true;
}

/* "host:port", ":port" or "[v6]:port"; port 0 asks for any free port. */
bool rs_conf_is_listen(const char *s) {
	const char *colon = strrchr(s, ':');
	char *end;
	long port;

	if (!colon || colon[1] == '\0')
		return false;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || *end || port < 0 || port > 65535)
		return false;
	for (; s < colon; s++)
		if (!isalnum((unsigned char)*s) && !strchr(".-_[]:", *s))
			return false;
	return true;
}

/* Makes a path absolute against base_dir (NULL or "" = as is). */
char *rs_conf_abs_path(const char *base_dir, const char *path) {
	char buf[PATH_MAX + 1];

	if (path[0] == '/' || !base_dir || !*base_dir)
		return rs_strdup(path);
	if (!rs_snprintf(buf, sizeof(buf), "%s/%s", base_dir, path))
		return NULL;
	return rs_strdup(buf);
}

/* -------------------------------------------------------------------------
 * The setter: text -> member, for every type.
 * ---------------------------------------------------------------------- */
static int enum_index(const char *values, const char *s, size_t slen) {
	const char *p = values;
	int idx = 0;

	while (*p) {
		size_t len = strcspn(p, "|");
		if (len == slen && !strncmp(p, s, len))
			return idx;
		p += len;
		if (*p == '|')
			p++;
		idx++;
	}
	return -1;
}

static void values_text(const char *values, char *buf, size_t size) {
	size_t i, j = 0;

	for (i = 0; values[i] && j + 3 < size; i++) {
		if (values[i] == '|') {
			buf[j++] = ',';
			buf[j++] = ' ';
		} else {
			buf[j++] = values[i];
		}
	}
	buf[j] = '\0';
}

static void trim(const char **s, size_t *len) {
	while (*len && isspace((unsigned char)**s)) {
		(*s)++;
		(*len)--;
	}
	while (*len && isspace((unsigned char)(*s)[*len - 1]))
		(*len)--;
}

/* Adds one "k=v" (or a separate k, v) to a map under construction. */
/* Adds one entry, bounded (RS_CONF_MAX_MAP or the row's max).  Unique
 * names are checked once the map is complete (rs_conf_map_check_dups). */
bool rs_conf_map_add(rs_conf_map_t *m, const char *k, size_t klen,
		    const char *v, size_t vlen, int64_t max, errs_t *e,
		    const char *file, int line, const char *key) {
	trim(&k, &klen);
	trim(&v, &vlen);
	if (!klen) {
		rs_conf_errf(e, file, line, key, "map entry with an empty name");
		return false;
	}
	if (klen > 256 || vlen > RS_CONF_MAX_STR) {
		rs_conf_errf(e, file, line, key, "map entry too long");
		return false;
	}
	if ((max && (int64_t)m->count >= max) || m->count >= RS_CONF_MAX_MAP) {
		rs_conf_errf(e, file, line, key, "more than %lld entries",
		     (long long)(max ? max : RS_CONF_MAX_MAP));
		return false;
	}
	m->keys = rs_realloc(m->keys, (m->count + 1) * sizeof(*m->keys));
	m->values = rs_realloc(m->values, (m->count + 1) * sizeof(*m->values));
	m->keys[m->count] = rs_strndup(k, klen);
	m->values[m->count] = rs_strndup(v, vlen);
	m->count++;
	return true;
}

static int cmp_idx(const void *a, const void *b, void *arg) {
	char **strs = arg;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	int c = strcmp(strs[x], strs[y]);

	return c ? c : (x > y) - (x < y);
}

/* A map that names a key twice is ambiguous, and libconfig's list form or
 * a JSON object would otherwise let it through.  Sorting indices keeps a
 * 10,000-entry mapping at n log n instead of comparing every pair. */
bool rs_conf_map_check_dups(const rs_conf_map_t *m, errs_t *e,
			    const char *file, int line, const char *key) {
	size_t *idx, i;
	bool ok = true;

	if (m->count < 2)
		return true;
	idx = rs_calloc(m->count, sizeof(*idx));
	for (i = 0; i < m->count; i++)
		idx[i] = i;
	qsort_r(idx, m->count, sizeof(*idx), cmp_idx, m->keys);
	for (i = 1; i < m->count; i++) {
		if (!strcmp(m->keys[idx[i - 1]], m->keys[idx[i]])) {
			rs_conf_errf(e, file, line, key,
				     "duplicate entry \"%.64s\"",
				     m->keys[idx[i]]);
			ok = false;
		}
	}
	rs_free(idx);
	return ok;
}
bool rs_conf_strlist_add(rs_conf_strlist_t *l, const char *s, size_t len,
			int64_t max, errs_t *e, const char *file, int line,
			const char *key) {
	trim(&s, &len);
	if (!len)
		return true;
	if ((max && (int64_t)l->count >= max) || l->count >= RS_CONF_MAX_LIST) {
		rs_conf_errf(e, file, line, key, "more than %lld items",
		     (long long)(max ? max : RS_CONF_MAX_LIST));
		return false;
	}
	if (len > RS_CONF_MAX_STR) {
		rs_conf_errf(e, file, line, key, "item too long");
		return false;
	}
	l->items = rs_realloc(l->items, (l->count + 1) * sizeof(*l->items));
	l->items[l->count++] = rs_strndup(s, len);
	return true;
}

void rs_conf_mark_set(inst_t *in, const rs_conf_prop_t *p, const char *file,
		     int line) {
	size_t i = (size_t)(p - in->props);

	in->set[i] = true;
	in->set_file[i] = file;
	in->set_line[i] = line;
}

/* Sets member p of in->obj from text s; base_dir resolves relative paths.
 * On error nothing changes and an error naming the key is collected. */
/* The one setter.  Every value ends here: file scalars (as text), -X
 * overrides and table defaults, so a default that violates its own range
 * fails test_defaults rather than surprising an operator.  The new value
 * is built and validated completely before the old one is freed, so a
 * failed set leaves the previous (file or default) value intact and the
 * error list complete. */
bool rs_conf_set_str(inst_t *in, const rs_conf_prop_t *p, const char *s,
		    const char *base_dir, errs_t *e, const char *file,
		    int line) {
	void *obj = in->obj;
	char vals[256];
	char *end;
	long long v;
	int64_t max = p->max;

	if (!rs_conf_is_strtype(p->type) && strlen(s) > RS_CONF_MAX_STR * 4) {
		rs_conf_errf(e, file, line, p->name, "value too long");
		return false;
	}
	switch (p->type) {
	case RS_CONF_T_STR:
	case RS_CONF_T_URL:
	case RS_CONF_T_PATH:
	case RS_CONF_T_SECRET: {
		char **dst = MEMBER(obj, p, char *);
		char *nv = NULL;
		size_t len = strlen(s), lim;

		lim = p->type == RS_CONF_T_URL ? RS_CONF_MAX_URL
		      : max ? (size_t)max
			    : RS_CONF_MAX_STR;
		if (len > lim) {
			rs_conf_errf(e, file, line, p->name,
			     "longer than %zu characters", lim);
			return false;
		}
		if (p->type == RS_CONF_T_SECRET) {
			const char *name = s + (strncmp(s, "env:", 4) ? 5 : 4);
			if (!rs_secret_is_ref(s) || !*name || rs_conf_has_ctl(s)) {
				/* Never echo the value: it may be the secret
				 * itself, pasted inline. */
				rs_conf_errf(e, file, line, p->name,
				     "must be a secret reference \"env:NAME\" "
				     "or \"file:PATH\"; inline secrets are not "
				     "allowed");
				return false;
			}
			if (!strncmp(s, "env:", 4) &&
			    (!rs_conf_charset_ok(name, "_", false) ||
			     isdigit((unsigned char)*name))) {
				rs_conf_errf(e, file, line, p->name,
				     "env: reference needs a variable name of "
				     "[A-Za-z0-9_]");
				return false;
			}
			if (!strncmp(s, "file:", 5) && name[0] != '/' &&
			    base_dir && *base_dir) {
				char *ap = rs_conf_abs_path(base_dir, name);
				if (!ap) {
					rs_conf_errf(e, file, line, p->name,
					     "path too long");
					return false;
				}
				nv = rs_malloc(strlen(ap) + 6);
				memcpy(nv, "file:", 5);
				memcpy(nv + 5, ap, strlen(ap) + 1);
				rs_free(ap);
			} else {
				nv = rs_strdup(s);
			}
		} else if (rs_conf_has_ctl(s)) {
			rs_conf_errf(e, file, line, p->name,
			     "must not contain control characters");
			return false;
		} else if (!*s && p->type != RS_CONF_T_STR) {
			nv = NULL; /* "" unsets a URL or path */
		} else if (p->type == RS_CONF_T_URL) {
			const char *why = rs_conf_url_check(s);
			if (why) {
				rs_conf_errf(e, file, line, p->name, "%s", why);
				return false;
			}
			nv = rs_strdup(s);
			/* Callers append paths: keep no trailing '/'. */
			len = strlen(nv);
			while (len > 8 && nv[len - 1] == '/' &&
			       strstr(nv, "://") + 3 < nv + len - 1)
				nv[--len] = '\0';
		} else if (p->type == RS_CONF_T_PATH) {
			nv = rs_conf_abs_path(base_dir, s);
			if (!nv) {
				rs_conf_errf(e, file, line, p->name, "path too long");
				return false;
			}
		} else {
			if (*s && (int64_t)len < p->min) {
				rs_conf_errf(e, file, line, p->name,
				     "shorter than %lld characters",
				     (long long)p->min);
				return false;
			}
			nv = *s ? rs_strdup(s) : NULL;
		}
		rs_free(*dst);
		*dst = nv;
		break;
	}
	case RS_CONF_T_INT:
	case RS_CONF_T_INT64:
		errno = 0;
		v = strtoll(s, &end, 10);
		if (errno || end == s || *end) {
			rs_conf_errf(e, file, line, p->name, "expected an integer");
			return false;
		}
		if ((p->min || p->max) && (v < p->min || v > p->max)) {
			rs_conf_errf(e, file, line, p->name,
			     "%lld is out of range %lld..%lld", v,
			     (long long)p->min, (long long)p->max);
			return false;
		}
		if (p->type == RS_CONF_T_INT && (v < INT_MIN || v > INT_MAX)) {
			rs_conf_errf(e, file, line, p->name, "out of range");
			return false;
		}
		if (p->type == RS_CONF_T_INT)
			*MEMBER(obj, p, int) = (int)v;
		else
			*MEMBER(obj, p, int64_t) = v;
		break;
	case RS_CONF_T_BOOL:
		if (!strcasecmp(s, "true") || !strcasecmp(s, "yes") ||
		    !strcasecmp(s, "on") || !strcmp(s, "1")) {
			*MEMBER(obj, p, bool) = true;
		} else if (!strcasecmp(s, "false") || !strcasecmp(s, "no") ||
			   !strcasecmp(s, "off") || !strcmp(s, "0")) {
			*MEMBER(obj, p, bool) = false;
		} else {
			rs_conf_errf(e, file, line, p->name,
			     "expected a bool (true or false)");
			return false;
		}
		break;
	case RS_CONF_T_DOUBLE: {
		double d;
		errno = 0;
		d = strtod(s, &end);
		if (errno || end == s || *end) {
			rs_conf_errf(e, file, line, p->name, "expected a number");
			return false;
		}
		if ((p->min || p->max) && (d < (double)p->min ||
					   d > (double)p->max)) {
			rs_conf_errf(e, file, line, p->name, "out of range");
			return false;
		}
		*MEMBER(obj, p, double) = d;
		break;
	}
	case RS_CONF_T_ENUM: {
		int idx = enum_index(p->values, s, strlen(s));
		if (idx < 0) {
			values_text(p->values, vals, sizeof(vals));
			rs_conf_errf(e, file, line, p->name, "must be one of: %s",
			     vals);
			return false;
		}
		*MEMBER(obj, p, int) = idx;
		break;
	}
	case RS_CONF_T_FLAGS: {
		unsigned int mask = 0;
		const char *q = s;
		while (*q) {
			size_t len = strcspn(q, ",");
			const char *w = q;
			size_t wl = len;
			int idx;
			trim(&w, &wl);
			idx = wl ? enum_index(p->values, w, wl) : -2;
			if (idx == -1) {
				values_text(p->values, vals, sizeof(vals));
				rs_conf_errf(e, file, line, p->name,
				     "unknown flag \"%.*s\" (valid: %s)",
				     (int)RS_MIN(wl, 64), w, vals);
				return false;
			}
			/* "all" sets every bit, including future ones. */
			if (wl == 3 && !strncmp(w, "all", 3))
				mask = 0xffffffffu;
			else if (idx >= 0)
				mask |= 1u << idx;
			q += len;
			if (*q == ',')
				q++;
		}
		*MEMBER(obj, p, unsigned int) = mask;
		break;
	}
	case RS_CONF_T_DURATION: {
		int64_t ms;
		if (rs_conf_parse_duration(s, &ms) != RS_OK) {
			rs_conf_errf(e, file, line, p->name,
			     "expected a duration (ms, or \"250ms\", \"30s\", "
			     "\"5m\", \"1h\", \"1d\")");
			return false;
		}
		if ((p->min || p->max) && (ms < p->min || ms > p->max)) {
			rs_conf_errf(e, file, line, p->name,
			     "%lld ms is out of range %lld..%lld ms",
			     (long long)ms, (long long)p->min,
			     (long long)p->max);
			return false;
		}
		*MEMBER(obj, p, int64_t) = ms;
		break;
	}
	case RS_CONF_T_STRLIST: {
		rs_conf_strlist_t nl = {0, NULL};
		const char *q = s;
		while (*q) {
			size_t len = strcspn(q, ",");
			if (!rs_conf_strlist_add(&nl, q, len, max, e, file, line,
					 p->name)) {
				rs_conf_strlist_clear(&nl);
				return false;
			}
			q += len;
			if (*q == ',')
				q++;
		}
		rs_conf_strlist_clear(MEMBER(obj, p, rs_conf_strlist_t));
		*MEMBER(obj, p, rs_conf_strlist_t) = nl;
		break;
	}
	case RS_CONF_T_MAP: {
		rs_conf_map_t nm = {0, NULL, NULL};
		const char *q = s;
		while (*q) {
			size_t len = strcspn(q, ",");
			const char *eq = memchr(q, '=', len);
			if (!eq) {
				rs_conf_errf(e, file, line, p->name,
				     "expected \"key=value\" items");
				rs_conf_map_clear(&nm);
				return false;
			}
			if (!rs_conf_map_add(&nm, q, (size_t)(eq - q), eq + 1,
				     len - (size_t)(eq - q) - 1, max, e, file,
				     line, p->name)) {
				rs_conf_map_clear(&nm);
				return false;
			}
			q += len;
			if (*q == ',')
				q++;
		}
		if (!rs_conf_map_check_dups(&nm, e, file, line, p->name)) {
			rs_conf_map_clear(&nm);
			return false;
		}
		rs_conf_map_clear(MEMBER(obj, p, rs_conf_map_t));
		*MEMBER(obj, p, rs_conf_map_t) = nm;
		break;
	}
	}
	return true;
}

bool rs_conf_apply_defaults(inst_t *in, errs_t *e) {
	size_t i;
	bool ok = true;

	for (i = 0; i < in->n_props; i++) {
		const rs_conf_prop_t *p = &in->props[i];
		if (p->def && !rs_conf_set_str(in, p, p->def, in->base_dir, e,
				       "(defaults)", 0))
			ok = false;
	}
	return ok;
}

