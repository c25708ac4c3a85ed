/*
 * fuzz_sim_guardian_filter.c - the simulator's Talkdesk Guardian filter
 * parser (GET /talkdesk/guardian/users?filter=...): arbitrary text must
 * never crash it; what it accepts is bounded and evaluates safely.
 */
#include "rs/rs_base.h"

#include "sim_talkdesk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	char *s = rs_strndup((const char *)data, size);
	sim_td_filter_t f;
	sim_td_user_t u;

	if (sim_td_filter_parse(s, &f)) {
		rs_assert(f.n >= 1 && f.n <= SIM_TD_FILTER_MAX);
		memset(&u, 0, sizeof(u));
		u.id = "5b34eb0cdcba1b000bdbd320";
		u.email = "o'brien@example.com";
		u.name = "Sean O'Brien";
		u.active = true;
		(void)sim_td_filter_match(&f, &u, "2026-01-01T00:00:00Z");
	}
	rs_free(s);
	return 0;
}
