/*
 * sim_odata.h - the OData query subset the Graph simulator understands
 * (private to sim/sim_graph*.c, sim_odata.c).
 *
 * Pure functions with no simulator state, so they are unit-tested and
 * fuzzed on their own (tests/unit/test_sim_odata.c,
 * tests/fuzz/fuzz_sim_odata.c).
 *
 * Supported $filter grammar (graph.md §3; anything else is answered with
 * the 400 Graph gives for a filter it does not support):
 *
 *   expr    := term { " or " term }
 *   term    := "(" expr ")"
 *            | prop " eq " literal
 *            | prop " in " "(" literal { "," literal } ")"
 *   literal := "'" { char | "''" } "'"      ('' is one quote, §3)
 *
 * The result is a flat list of (property, value) pairs that are OR-ed,
 * which is all Graph allows without advanced-query headers for
 * mail / userPrincipalName / id.
 */
#ifndef SIM_ODATA_H
#define SIM_ODATA_H

#include "rs/rs_base.h"
#include "rs/rs_err.h"

/* graph.md §3: `in` holds at most 15 expressions without advanced
 * queries; Graph counts every OR-ed child clause against that limit. */
#define SIM_ODATA_OR_MAX 15
/* graph.md §2 (group delta): `id eq` clauses OR-ed, max 50. */
#define SIM_ODATA_DELTA_OR_MAX 50
/* graph.md §3: an `eq` value is at most 120 characters. */
#define SIM_ODATA_VALUE_MAX 120
/* Hard bound on what the parser keeps before it checks the caller's
 * limit (STYLE.md 9: every parsed list has a maximum). */
#define SIM_ODATA_TERMS_HARD_MAX 256
#define SIM_ODATA_FILTER_MAXLEN 8192
#define SIM_ODATA_PROP_MAX 64
#define SIM_ODATA_SELECT_MAX 32

/** One OR-ed clause: prop eq value. */
typedef struct sim_odata_term_s {
	char prop[SIM_ODATA_PROP_MAX];
	char *value; /* unescaped, owned */
} sim_odata_term_t;

/** A parsed $filter (embedded: _init/_cleanup). */
typedef struct sim_odata_filter_s {
	sim_odata_term_t *terms;
	int n;
} sim_odata_filter_t;

/**
 * A Graph error to answer with: HTTP status, error.code and message.
 * Filled by the parsers on failure.
 */
typedef struct sim_odata_err_s {
	int status;
	const char *code;
	char message[320];
} sim_odata_err_t;

void sim_odata_filter_init(sim_odata_filter_t *f);
void sim_odata_filter_cleanup(sim_odata_filter_t *f);

/**
 * @brief Parses a $filter value (already percent-decoded).
 * @param max_or how many OR-ed clauses the endpoint allows
 *        (SIM_ODATA_OR_MAX for /users, SIM_ODATA_DELTA_OR_MAX for delta).
 * @param resource "User" or "Group": used in the error text.
 * @param allowed NULL-terminated list of filterable properties (matched
 *        case-insensitively; prop in each term is set to the canonical
 *        spelling from this list).
 * @returns RS_OK, or RS_ERR_PARSE / RS_ERR_UNSUPPORTED / RS_ERR_TOO_LARGE
 *          with err filled with the matching Graph 400.
 */
rs_err_t sim_odata_filter_parse(sim_odata_filter_t *f, const char *s,
				size_t len, int max_or, const char *resource,
				const char *const *allowed,
				sim_odata_err_t *err);

/** A parsed $select: canonical property names from the allowed list. */
typedef struct sim_odata_select_s {
	const char *props[SIM_ODATA_SELECT_MAX];
	int n; /* 0 = no $select: the endpoint's default set */
} sim_odata_select_t;

/**
 * @brief Parses $select ("a,b,c"); unknown properties give Graph's 400.
 * @param type "microsoft.graph.user" etc. for the error text.
 * @param known NULL-terminated list of selectable property names.
 */
rs_err_t sim_odata_select_parse(sim_odata_select_t *sel, const char *s,
				const char *type, const char *const *known,
				sim_odata_err_t *err);

/** @returns true if prop (canonical) is selected or no $select given. */
bool sim_odata_select_has(const sim_odata_select_t *sel, const char *prop);

/**
 * @brief Parses $top (NULL: def).  Graph accepts 1..max (graph.md §2, §3:
 *        max 999) and answers anything else with 400.
 */
rs_err_t sim_odata_top_parse(const char *s, int def, int max, int *top,
			     sim_odata_err_t *err);

/**
 * @brief Opaque paging/delta tokens: hex of "<tag>|<text>".  Decoding
 *        checks the tag so a token of one kind never passes as another.
 * @returns a new string (rs_free()).
 */
char *sim_odata_token_encode(const char *tag, const char *text);
/**
 * @returns the decoded text (rs_free()) or NULL when s is not a valid
 *          token with this tag.
 */
char *sim_odata_token_decode(const char *tag, const char *s);

/**
 * @brief Percent-encodes s for a query string value (RFC 3986 unreserved
 *        kept, '$' ',' '\'' '(' ')' kept as Graph's own links do).
 * @returns a new string (rs_free()).
 */
char *sim_odata_qs_escape(const char *s);

#endif /* SIM_ODATA_H */
