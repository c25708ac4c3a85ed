/*
 * fuzz_talkdesk_page.c - the Talkdesk HAL page parser (rs_td_page_parse)
 * for every shape we read (object `_embedded` with queues / ring_groups /
 * users, guardian's bare array) and the next-page decision
 * (rs_td_next_url).  Arbitrary bytes must never crash them; a next URL is
 * always under the base URL.
 */
#include "rs/rs_base.h"

#include "rs_source_int.h"

#define FUZZ_BASE "https://api.talkdeskapp.com"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	static const char *const keys[] = {"queues", "ring_groups", "users",
					   NULL};
	size_t k, i;

	for (k = 0; k < RS_ARRAY_SIZE(keys); k++) {
		rs_td_page_t p;
		rs_err_t err = rs_td_page_parse((const char *)data, size,
						keys[k], 100, &p);
		if (err != RS_OK) {
			rs_assert(p.cnt == 0 && p.items == NULL && !p.next);
			continue;
		}
		rs_assert(p.cnt <= 100);
		for (i = 0; i < p.cnt; i++)
			rs_assert(p.items[i].rg_cnt <= RS_TD_MAX_USER_GROUPS);
		for (i = 0; i < 2; i++) {
			char *next = NULL;
			if (rs_td_next_url(FUZZ_BASE,
					   FUZZ_BASE "/users?page=1&per_page=7",
					   &p, i == 1, &next) == RS_OK &&
			    next)
				rs_assert(!strncmp(next, FUZZ_BASE,
						   strlen(FUZZ_BASE)));
			rs_free(next);
		}
		rs_td_page_cleanup(&p);
	}
	return 0;
}
