/*
 * rs_odata.c - validation and escaping for identifiers put into URLs and
 * OData filters (Guarantee 8).  Everything writes into caller buffers and
 * fails with RS_ERR_TOO_LARGE instead of truncating: a truncated filter
 * would silently select different objects.
 */
#include "rs/rs_base.h"
#include "rs/rs_odata.h"

/* A small bounded writer: once full, it stays full and later appends are
 * no-ops, so callers check once at the end. */
typedef struct {
	char *buf;
	size_t size;
	size_t len;
	bool overflow;
} wbuf_t;

static void wb_init(wbuf_t *w, char *buf, size_t size) {
	w->buf = buf;
	w->size = size;
	w->len = 0;
	w->overflow = size == 0;
	if (size)
		buf[0] = '\0';
}

static void wb_putc(wbuf_t *w, char c) {
	if (w->overflow || w->len + 1 >= w->size) {
		w->overflow = true;
		return;
	}
	w->buf[w->len++] = c;
	w->buf[w->len] = '\0';
}

static void wb_puts(wbuf_t *w, const char *s) {
	while (*s)
		wb_putc(w, *s++);
}

static bool is_unreserved(unsigned char c) {
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	       c == '~';
}

static void wb_pct(wbuf_t *w, unsigned char c) {
	static const char hex[] = "0123456789ABCDEF";
	wb_putc(w, '%');
	wb_putc(w, hex[c >> 4]);
	wb_putc(w, hex[c & 0xf]);
}

/* Percent-encodes one byte for a query value: only unreserved characters
 * stay literal, so '&', '=', '+', '#', '\'' and spaces can never change the
 * structure of the query string. */
static void wb_query_byte(wbuf_t *w, unsigned char c) {
	if (is_unreserved(c))
		wb_putc(w, (char)c);
	else
		wb_pct(w, c);
}

static bool is_hex(char c) {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	       (c >= 'A' && c <= 'F');
}

/*
 * Strict on purpose: Graph object ids are always the 36-character form.
 * Accepting braces, missing dashes or whitespace would let a value that is
 * not an id reach a URL unescaped, since callers skip escaping for GUIDs.
 */
bool rs_guid_valid(const char *s) {
	size_t i;

	if (!s)
		return false;
	for (i = 0; i < RS_GUID_LEN; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!is_hex(s[i])) {
			/* also catches an early NUL */
			return false;
		}
	}
	return s[RS_GUID_LEN] == '\0';
}

/* Property names are code-controlled, but they are written into the
 * filter unescaped, so they are held to the OData identifier grammar (with
 * '/' for a navigation path). */
bool rs_odata_property_valid(const char *s) {
	size_t i, seg = 0;

	if (!s || !*s || strlen(s) > 128)
		return false;
	for (i = 0; s[i]; i++) {
		char c = s[i];
		if (c == '/') {
			if (seg == 0)
				return false;
			seg = 0;
			continue;
		}
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      c == '_' || (seg > 0 && c >= '0' && c <= '9')))
			return false;
		seg++;
	}
	return seg > 0;
}

/* Values with control characters are rejected instead of escaped: no
 * directory attribute we filter on legitimately contains them, and they are
 * a common smuggling vector. */
static bool value_ok(const char *v) {
	size_t n;

	if (!v)
		return false;
	n = strnlen(v, RS_ODATA_VALUE_MAX + 1);
	if (n > RS_ODATA_VALUE_MAX)
		return false;
	for (; *v; v++)
		if ((unsigned char)*v < 0x20 || *v == 0x7f)
			return false;
	return true;
}

/* The OData ABNF: string = SQUOTE *( SQUOTE-in-string / pchar-no-SQUOTE )
 * SQUOTE, with SQUOTE-in-string = SQUOTE SQUOTE.  The quotes themselves are
 * percent-encoded too (%27), which servers decode before parsing. */
static void wb_literal(wbuf_t *w, const char *v) {
	wb_pct(w, '\'');
	for (; *v; v++) {
		if (*v == '\'')
			wb_pct(w, '\'');
		wb_query_byte(w, (unsigned char)*v);
	}
	wb_pct(w, '\'');
}

rs_err_t rs_odata_quote(const char *value, char *buf, size_t size,
			size_t *lenp) {
	wbuf_t w;

	if (!value_ok(value))
		return RS_ERR_INVALID_ARG;
	wb_init(&w, buf, size);
	wb_literal(&w, value);
	if (w.overflow) {
		if (size)
			buf[0] = '\0';
		return RS_ERR_TOO_LARGE;
	}
	if (lenp)
		*lenp = w.len;
	return RS_OK;
}

rs_err_t rs_odata_filter_eq(const char *prop, const char *value, char *buf,
			    size_t size) {
	wbuf_t w;

	if (!rs_odata_property_valid(prop) || !value_ok(value))
		return RS_ERR_INVALID_ARG;
	wb_init(&w, buf, size);
	wb_puts(&w, "$filter=");
	wb_puts(&w, prop);
	wb_puts(&w, "%20eq%20");
	wb_literal(&w, value);
	if (w.overflow) {
		if (size)
			buf[0] = '\0';
		return RS_ERR_TOO_LARGE;
	}
	return RS_OK;
}

/* Every value is validated before anything is written, so a failure never
 * leaves a half-built filter in the buffer. */
rs_err_t rs_odata_filter_in(const char *prop, const char *const *values,
			    size_t cnt, char *buf, size_t size) {
	wbuf_t w;
	size_t i;

	if (!rs_odata_property_valid(prop) || cnt == 0 ||
	    cnt > RS_ODATA_IN_MAX || !values)
		return RS_ERR_INVALID_ARG;
	for (i = 0; i < cnt; i++)
		if (!value_ok(values[i]))
			return RS_ERR_INVALID_ARG;
	wb_init(&w, buf, size);
	wb_puts(&w, "$filter=");
	wb_puts(&w, prop);
	wb_puts(&w, "%20in%20(");
	for (i = 0; i < cnt; i++) {
		if (i)
			wb_puts(&w, "%2C");
		wb_literal(&w, values[i]);
	}
	wb_putc(&w, ')');
	if (w.overflow) {
		if (size)
			buf[0] = '\0';
		return RS_ERR_TOO_LARGE;
	}
	return RS_OK;
}

/* For ids that must go into a path verbatim (and be logged and compared
 * verbatim): anything that would need escaping is refused instead. */
bool rs_url_path_segment_valid(const char *s) {
	size_t n;

	if (!s)
		return false;
	n = strnlen(s, 257);
	if (n == 0 || n > 256 || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (; *s; s++)
		if (!is_unreserved((unsigned char)*s))
			return false;
	return true;
}

static rs_err_t segment_escape(wbuf_t *w, const char *s) {
	size_t n;

	n = strnlen(s, RS_ODATA_VALUE_MAX + 1);
	if (n == 0 || n > RS_ODATA_VALUE_MAX || !strcmp(s, ".") ||
	    !strcmp(s, ".."))
		return RS_ERR_INVALID_ARG;
	if (!value_ok(s))
		return RS_ERR_INVALID_ARG;
	/* '@' is a legal pchar and Graph's own examples keep it literal;
	 * everything else outside unreserved is encoded, notably '#' (it
	 * would start a fragment: guest '#EXT#' UPNs), '/', '?', '%' and
	 * '\''. */
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (is_unreserved(c) || c == '@')
			wb_putc(w, (char)c);
		else
			wb_pct(w, c);
	}
	return RS_OK;
}

rs_err_t rs_url_path_segment_escape(const char *s, char *buf, size_t size) {
	wbuf_t w;
	rs_err_t err;

	if (!s)
		return RS_ERR_INVALID_ARG;
	wb_init(&w, buf, size);
	err = segment_escape(&w, s);
	if (err != RS_OK)
		return err;
	if (w.overflow) {
		if (size)
			buf[0] = '\0';
		return RS_ERR_TOO_LARGE;
	}
	return RS_OK;
}

/* Chooses the form Graph documents for each kind of key (graph.md 3), so
 * connectors never build user URLs by hand. */
rs_err_t rs_odata_key_segment(const char *id_or_upn, char *buf, size_t size) {
	wbuf_t w;
	rs_err_t err = RS_OK;

	if (!id_or_upn)
		return RS_ERR_INVALID_ARG;
	wb_init(&w, buf, size);
	if (rs_guid_valid(id_or_upn)) {
		wb_putc(&w, '/');
		wb_puts(&w, id_or_upn);
	} else if (id_or_upn[0] == '$') {
		/* /users('$x@y.com'): the key form, since a segment starting
		 * with '$' is reserved for system segments ($ref, $value). */
		if (!value_ok(id_or_upn))
			return RS_ERR_INVALID_ARG;
		wb_putc(&w, '(');
		wb_literal(&w, id_or_upn);
		wb_putc(&w, ')');
	} else {
		wb_putc(&w, '/');
		err = segment_escape(&w, id_or_upn);
	}
	if (err != RS_OK)
		return err;
	if (w.overflow) {
		if (size)
			buf[0] = '\0';
		return RS_ERR_TOO_LARGE;
	}
	return RS_OK;
}
