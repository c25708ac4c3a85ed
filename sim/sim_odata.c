/*
 * sim_odata.c - $filter / $select / $top parsing and opaque tokens for the
 * Graph simulator (see sim_odata.h for the grammar).
 *
 * The parser is deliberately strict: code that only works because the
 * simulator accepted something Graph rejects would fail in production, so
 * whatever is outside the documented subset is a 400 here too.
 */
#include "rs/rs_base.h"

#include "sim_odata.h"

#include <ctype.h>
#include <strings.h>

/* Deepest "(" nesting accepted.  Graph refuses filter trees higher than a
 * few levels ("excessive height"); the bound also keeps the recursive
 * descent safe from fuzzed input. */
#define ODATA_MAX_DEPTH 8

/*
 * Recursive-descent state.  The parser never stops at the first clause
 * over the caller's limit: Graph's "too many child clauses" message names
 * the full count, so counting continues while storage stops at
 * SIM_ODATA_TERMS_HARD_MAX.  rc holds the first error only; later calls
 * see rc != RS_OK and return, which keeps every error path one line.
 */
typedef struct parser_s {
	const char *s;
	size_t len;
	size_t pos;
	int max_or;
	int count; /* OR-ed clauses seen (also past the hard max) */
	const char *resource;
	const char *const *allowed;
	sim_odata_filter_t *f;
	sim_odata_err_t *err;
	rs_err_t rc;
} parser_t;

/* An empty filter matches everything: callers test f->n == 0. */
void sim_odata_filter_init(sim_odata_filter_t *f) {
	memset(f, 0, sizeof(*f));
}

void sim_odata_filter_cleanup(sim_odata_filter_t *f) {
	int i;

	for (i = 0; i < f->n; i++)
		rs_free(f->terms[i].value);
	rs_free(f->terms);
	memset(f, 0, sizeof(*f));
}

static void err_set(sim_odata_err_t *err, int status, const char *code,
		    const char *fmt, ...) RS_PRINTF(4, 5);

static void err_set(sim_odata_err_t *err, int status, const char *code,
		    const char *fmt, ...) {
	va_list ap;

	err->status = status;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}

/* A syntax error.  Graph's text for these varies by failure; clients must
 * key on status + code (graph.md §8), which is what we keep exact. */
static void syntax_error(parser_t *p, const char *what) {
	if (p->rc != RS_OK)
		return;
	p->rc = RS_ERR_PARSE;
	err_set(p->err, 400, "BadRequest",
		"Invalid filter clause: %s at position %zu in '%.*s'.", what,
		p->pos, (int)RS_MIN(p->len, (size_t)200), p->s);
}

/* The directory's answer for a property or operator it cannot filter on
 * without advanced queries (graph.md §3). */
static void unsupported(parser_t *p, const char *prop) {
	if (p->rc != RS_OK)
		return;
	p->rc = RS_ERR_UNSUPPORTED;
	err_set(p->err, 400, "Request_UnsupportedQuery",
		"Unsupported or invalid query filter clause specified for "
		"property '%s' of resource '%s'.",
		prop, p->resource);
}

/* OData separates tokens with spaces only ('+' in the URL was already
 * decoded to a space by the query parser); tabs or newlines are not
 * whitespace in Graph's grammar, so they are syntax errors here too. */
static void skip_ws(parser_t *p) {
	while (p->pos < p->len && p->s[p->pos] == ' ')
		p->pos++;
}

static bool at_end(parser_t *p) {
	skip_ws(p);
	return p->pos >= p->len;
}

/* Reads an identifier (property name or keyword) into buf.  OData
 * identifiers may contain '/' (navigation) and '.' (casts): accept them so
 * that e.g. "assignedPlans/any" gets the "unsupported" answer rather than
 * a syntax error. */
static bool read_ident(parser_t *p, char *buf, size_t size) {
	size_t start, n;

	skip_ws(p);
	start = p->pos;
	if (p->pos >= p->len ||
	    !(isalpha((unsigned char)p->s[p->pos]) || p->s[p->pos] == '_' ||
	      p->s[p->pos] == '@'))
		return false;
	while (p->pos < p->len &&
	       (isalnum((unsigned char)p->s[p->pos]) || p->s[p->pos] == '_' ||
		p->s[p->pos] == '/' || p->s[p->pos] == '.' ||
		p->s[p->pos] == '@'))
		p->pos++;
	n = p->pos - start;
	if (n >= size)
		n = size - 1;
	memcpy(buf, p->s + start, n);
	buf[n] = '\0';
	return true;
}

/* Reads '...' with '' as an escaped quote (graph.md §3 "Escaping single
 * quotes").  Returns the unescaped value (rs_free()) or NULL on error. */
static char *read_literal(parser_t *p) {
	char *out;
	size_t o = 0;

	skip_ws(p);
	if (p->pos >= p->len || p->s[p->pos] != '\'') {
		syntax_error(p, "expected a string literal");
		return NULL;
	}
	p->pos++;
	out = rs_malloc(p->len - p->pos + 1);
	for (;;) {
		if (p->pos >= p->len) {
			rs_free(out);
			syntax_error(p, "unterminated string literal");
			return NULL;
		}
		if (p->s[p->pos] == '\'') {
			if (p->pos + 1 < p->len && p->s[p->pos + 1] == '\'') {
				out[o++] = '\'';
				p->pos += 2;
				continue;
			}
			p->pos++;
			break;
		}
		if (p->s[p->pos] == '\0') {
			rs_free(out);
			syntax_error(p, "NUL character");
			return NULL;
		}
		out[o++] = p->s[p->pos++];
	}
	out[o] = '\0';
	return out;
}

/* Consumes c (after spaces) if it is next; the caller decides whether
 * its absence is an error, which keeps optional punctuation simple. */
static bool expect_char(parser_t *p, char c) {
	skip_ws(p);
	if (p->pos < p->len && p->s[p->pos] == c) {
		p->pos++;
		return true;
	}
	return false;
}

/* Canonical spelling of prop from the allowed list, or NULL. */
static const char *allowed_prop(parser_t *p, const char *prop) {
	int i;

	for (i = 0; p->allowed && p->allowed[i]; i++)
		if (!strcasecmp(p->allowed[i], prop))
			return p->allowed[i];
	return NULL;
}

/* Adds one OR-ed clause; counts past the hard bound without storing, so
 * the "too many" message can give the real count like Graph does. */
static void add_term(parser_t *p, const char *prop, char *value) {
	sim_odata_term_t *t;

	p->count++;
	if (p->f->n >= SIM_ODATA_TERMS_HARD_MAX) {
		rs_free(value);
		return;
	}
	if (strlen(value) > SIM_ODATA_VALUE_MAX) {
		/* graph.md §3: eq values are limited to 120 characters. */
		rs_free(value);
		unsupported(p, prop);
		return;
	}
	p->f->terms = rs_realloc(p->f->terms,
				 (size_t)(p->f->n + 1) * sizeof(*p->f->terms));
	t = &p->f->terms[p->f->n++];
	rs_snprintf(t->prop, sizeof(t->prop), "%s", prop);
	t->value = value;
}

/* Forward: a term may be a parenthesised expression. */
static void parse_expr(parser_t *p, int depth);

/*
 * term := "(" expr ")" | prop "eq" literal | prop "in" "(" literals ")".
 * The property is checked after the literal is read so that a syntax
 * error anywhere wins over "unsupported property", as with Graph, whose
 * OData layer parses before the directory validates.
 */

static void parse_term(parser_t *p, int depth) {
	char prop[SIM_ODATA_PROP_MAX], op[16];
	const char *canon;
	char *v;

	if (p->rc != RS_OK)
		return;
	if (expect_char(p, '(')) {
		if (depth >= ODATA_MAX_DEPTH) {
			syntax_error(p, "expression nested too deeply");
			return;
		}
		parse_expr(p, depth + 1);
		if (p->rc == RS_OK && !expect_char(p, ')'))
			syntax_error(p, "')' expected");
		return;
	}
	if (!read_ident(p, prop, sizeof(prop))) {
		syntax_error(p, "property name expected");
		return;
	}
	/* Function calls (startswith(...), any(...)) and other operators are
	 * outside the subset: Graph's "unsupported" answer for this property. */
	skip_ws(p);
	if (p->pos < p->len && p->s[p->pos] == '(') {
		unsupported(p, prop);
		return;
	}
	if (!read_ident(p, op, sizeof(op))) {
		syntax_error(p, "operator expected");
		return;
	}
	canon = allowed_prop(p, prop);
	if (!strcmp(op, "eq")) {
		v = read_literal(p);
		if (!v)
			return;
		if (!canon) {
			rs_free(v);
			unsupported(p, prop);
			return;
		}
		add_term(p, canon, v);
		return;
	}
	if (!strcmp(op, "in")) {
		if (!expect_char(p, '(')) {
			syntax_error(p, "'(' expected after 'in'");
			return;
		}
		do {
			v = read_literal(p);
			if (!v)
				return;
			if (!canon) {
				rs_free(v);
				unsupported(p, prop);
				return;
			}
			add_term(p, canon, v);
			if (p->rc != RS_OK)
				return;
		} while (expect_char(p, ','));
		if (!expect_char(p, ')'))
			syntax_error(p, "')' expected");
		return;
	}
	if (!strcmp(op, "ne") || !strcmp(op, "gt") || !strcmp(op, "ge") ||
	    !strcmp(op, "lt") || !strcmp(op, "le")) {
		/* Valid OData, but only with ConsistencyLevel: eventual (§3),
		 * which the simulator does not model. */
		unsupported(p, prop);
		return;
	}
	syntax_error(p, "unknown operator");
}

/*
 * expr := term { "or" term }.  Only disjunctions are in the subset: "and"
 * and "not" are valid OData, so they get the directory's "unsupported"
 * answer rather than a syntax error.
 */
static void parse_expr(parser_t *p, int depth) {
	char kw[16];
	size_t save;

	parse_term(p, depth);
	while (p->rc == RS_OK) {
		skip_ws(p);
		save = p->pos;
		if (p->pos >= p->len || p->s[p->pos] == ')')
			return;
		if (!read_ident(p, kw, sizeof(kw))) {
			syntax_error(p, "'or' expected");
			return;
		}
		if (!strcmp(kw, "and") || !strcmp(kw, "not")) {
			p->pos = save;
			unsupported(p, p->f->n ? p->f->terms[0].prop : kw);
			return;
		}
		if (strcmp(kw, "or")) {
			p->pos = save;
			syntax_error(p, "'or' expected");
			return;
		}
		parse_term(p, depth);
	}
}

rs_err_t sim_odata_filter_parse(sim_odata_filter_t *f, const char *s,
				size_t len, int max_or, const char *resource,
				const char *const *allowed,
				sim_odata_err_t *err) {
	parser_t p;

	memset(&p, 0, sizeof(p));
	p.s = s;
	p.len = len;
	p.max_or = max_or;
	p.resource = resource;
	p.allowed = allowed;
	p.f = f;
	p.err = err;
	p.rc = RS_OK;

	if (len > SIM_ODATA_FILTER_MAXLEN) {
		err_set(err, 400, "BadRequest",
			"Invalid filter clause: the expression is too long.");
		return RS_ERR_TOO_LARGE;
	}
	if (memchr(s, '\0', len)) {
		syntax_error(&p, "NUL character");
		goto out;
	}
	if (at_end(&p)) {
		syntax_error(&p, "empty expression");
		goto out;
	}
	parse_expr(&p, 0);
	if (p.rc == RS_OK && !at_end(&p))
		syntax_error(&p, "unexpected character");
	if (p.rc == RS_OK && p.count > max_or) {
		/* Real text, seen in the wild for `in` lists of 16+ values
		 * (graph.md §3, `in` limit 15). */
		p.rc = RS_ERR_TOO_LARGE;
		err_set(err, 400, "Request_UnsupportedQuery",
			"Too many child clauses specified in search filter "
			"expression containing 'OR' operators: %d. Max "
			"allowed: %d.",
			p.count, max_or);
	}
out:
	if (p.rc != RS_OK)
		sim_odata_filter_cleanup(f);
	return p.rc;
}

/*
 * $select is a comma list of property names.  Graph ignores neither
 * unknown names nor empty items, so neither does this; duplicates are
 * folded because Graph returns each property once.
 */
rs_err_t sim_odata_select_parse(sim_odata_select_t *sel, const char *s,
				const char *type, const char *const *known,
				sim_odata_err_t *err) {
	const char *p = s, *e;
	char name[SIM_ODATA_PROP_MAX];
	size_t n;
	int i, j;
	bool dup;

	memset(sel, 0, sizeof(*sel));
	while (*p) {
		while (*p == ' ')
			p++;
		e = p;
		while (*e && *e != ',')
			e++;
		n = (size_t)(e - p);
		while (n > 0 && p[n - 1] == ' ')
			n--;
		if (n == 0 || n >= sizeof(name)) {
			err_set(err, 400, "BadRequest",
				"Invalid $select value '%.*s'.", 100, s);
			return RS_ERR_PARSE;
		}
		memcpy(name, p, n);
		name[n] = '\0';
		for (i = 0; known[i]; i++)
			if (!strcasecmp(known[i], name))
				break;
		if (!known[i]) {
			/* Graph's OData layer text for an unknown property. */
			err_set(err, 400, "BadRequest",
				"Could not find a property named '%s' on type "
				"'%s'.",
				name, type);
			return RS_ERR_UNSUPPORTED;
		}
		dup = false;
		for (j = 0; j < sel->n; j++)
			if (sel->props[j] == known[i])
				dup = true;
		if (!dup) {
			if (sel->n >= SIM_ODATA_SELECT_MAX) {
				err_set(err, 400, "BadRequest",
					"Too many properties in $select.");
				return RS_ERR_TOO_LARGE;
			}
			sel->props[sel->n++] = known[i];
		}
		p = *e ? e + 1 : e;
		if (*e && !*p) {
			err_set(err, 400, "BadRequest",
				"Invalid $select value '%.*s'.", 100, s);
			return RS_ERR_PARSE;
		}
	}
	if (sel->n == 0) {
		err_set(err, 400, "BadRequest", "Invalid $select value ''.");
		return RS_ERR_PARSE;
	}
	return RS_OK;
}

/* No $select means "the endpoint's default set": callers decide what
 * that set is, so "everything" is the answer here. */
bool sim_odata_select_has(const sim_odata_select_t *sel, const char *prop) {
	int i;

	if (sel->n == 0)
		return true;
	for (i = 0; i < sel->n; i++)
		if (!strcmp(sel->props[i], prop))
			return true;
	return false;
}

/* strtol with full-string and range checks: "5x", "", "0" and "1000" are
 * all the same 400 for Graph. */
rs_err_t sim_odata_top_parse(const char *s, int def, int max, int *top,
			     sim_odata_err_t *err) {
	char *end = NULL;
	long v;

	if (!s) {
		*top = def;
		return RS_OK;
	}
	v = strtol(s, &end, 10);
	if (!*s || *end || v < 1 || v > max) {
		/* Graph's directory answer for a page size out of range. */
		err_set(err, 400, "Request_UnsupportedQuery",
			"Invalid page size specified: '%.*s'. Must be between "
			"1 and %d inclusive.",
			40, s, max);
		return RS_ERR_INVALID_ARG;
	}
	*top = (int)v;
	return RS_OK;
}

char *sim_odata_token_encode(const char *tag, const char *text) {
	static const char hex[] = "0123456789abcdef";
	size_t tl = strlen(tag), xl = strlen(text), i, o = 0;
	char *out = rs_malloc((tl + 1 + xl) * 2 + 1);
	const unsigned char *b;

	/* Hex of tag '|' text: opaque to clients (they must follow links
	 * verbatim, graph.md §2) and safe in a URL without escaping. */
	for (b = (const unsigned char *)tag, i = 0; i < tl; i++) {
		out[o++] = hex[b[i] >> 4];
		out[o++] = hex[b[i] & 15];
	}
	out[o++] = hex['|' >> 4];
	out[o++] = hex['|' & 15];
	for (b = (const unsigned char *)text, i = 0; i < xl; i++) {
		out[o++] = hex[b[i] >> 4];
		out[o++] = hex[b[i] & 15];
	}
	out[o] = '\0';
	return out;
}

/* One hex digit or -1; both cases accepted since clients may re-encode. */
static int hexval(char c) {
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Decoding rejects odd lengths, non-hex characters, embedded NULs and a
 * wrong tag, so a token edited by hand or meant for another collection
 * is simply invalid (the callers answer 400 or 410).
 */
char *sim_odata_token_decode(const char *tag, const char *s) {
	size_t len = strlen(s), i, tl = strlen(tag);
	char *raw;
	char *text = NULL;
	int hi, lo;

	if (len % 2 || len > 8192)
		return NULL;
	raw = rs_malloc(len / 2 + 1);
	for (i = 0; i < len / 2; i++) {
		hi = hexval(s[2 * i]);
		lo = hexval(s[2 * i + 1]);
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
			goto out;
		raw[i] = (char)(hi * 16 + lo);
	}
	raw[len / 2] = '\0';
	if (len / 2 < tl + 1 || memcmp(raw, tag, tl) || raw[tl] != '|')
		goto out;
	text = rs_strdup(raw + tl + 1);
out:
	rs_free(raw);
	return text;
}

/*
 * Links the simulator builds must survive being followed verbatim by any
 * HTTP client, so everything outside the unreserved set (and the few
 * characters Graph itself leaves readable) is percent-encoded: spaces,
 * '&' and '#' (guest UPNs) above all.
 */
char *sim_odata_qs_escape(const char *s) {
	static const char hex[] = "0123456789ABCDEF";
	size_t len = strlen(s), o = 0, i;
	char *out = rs_malloc(len * 3 + 1);
	unsigned char c;

	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if (isalnum(c) || strchr("-._~$,'()@:", c)) {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return out;
}
