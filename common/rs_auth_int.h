/*
 * rs_auth_int.h - rs_auth.c internals reachable from tests/unit/test_auth.c
 * (RS_STATIC: static in the product, visible with RS_UNITTEST).
 */
#ifndef RS_AUTH_INT_H
#define RS_AUTH_INT_H

#include "rs/rs_base.h"
#include "rs/rs_err.h"

#ifdef RS_UNITTEST
/** Replaces each occurrence of needle (>= 4 chars) in msg by "***". */
void auth_redact(char *msg, const char *needle);
/** Maps a failed token response to a travelling error. */
rs_error_t *auth_map_error(const char *tenant, const char *flavour,
			   long status, const char *body,
			   int64_t retry_after_ms);
/** max(min_s, pct % of lifetime), capped at lifetime / 2. */
int64_t auth_refresh_margin_ms(int64_t lifetime_ms, int min_s, int pct);
#endif

#endif /* RS_AUTH_INT_H */
