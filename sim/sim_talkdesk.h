/*
 * sim_talkdesk.h - private to sim_talkdesk.c (and its fuzz target): the
 * Guardian filter language.
 *
 * Guardian's `filter` is OData-like (sources.md §1.6); the sim understands
 * the documented forms joined by "and" (parentheses allowed, no
 * precedence):
 *   contains(field,'v')   field eq|ne|ge|le 'v' | true | false | number
 * Fields: user_id (or id), email, name, active, status, creation_time.
 * Anything else is answered 400 1050005 like the real service.
 */
#ifndef SIM_TALKDESK_H
#define SIM_TALKDESK_H

#include "sim_int.h"

#define SIM_TD_FILTER_MAX 8

typedef struct sim_td_filter_s {
	int n;
	struct {
		char op[12];     /* "contains", "eq", "ne", "ge", "le" */
		char field[32];
		char value[256];
	} c[SIM_TD_FILTER_MAX];
} sim_td_filter_t;

/** @brief Parses a filter; @returns false when it is not understood
 *  (including empty, too many clauses, too long values). */
bool sim_td_filter_parse(const char *s, sim_td_filter_t *f);
/** @brief Evaluates f for a user whose creation_time is ctime. */
bool sim_td_filter_match(const sim_td_filter_t *f, const sim_td_user_t *u,
			 const char *ctime);

#endif /* SIM_TALKDESK_H */
