/*
 * fuzz_graph_page.c - the Graph page parsers (rs_graph_int.h): members /
 * users pages with @odata.nextLink, the nextLink check and the $batch
 * response parser.  Arbitrary bytes must never crash them; what they
 * accept must hold the invariants the client relies on (every id a GUID,
 * bounded counts, a followed link always under the base URL).
 *
 * Input: the bytes are tried as a page, as a $batch response and as a
 * nextLink candidate.
 */
#include "rs/rs_base.h"

#include "rs/rs_odata.h"
#include "rs_graph_int.h"

#define FUZZ_BASE "https://graph.microsoft.com/v1.0"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	rs_graph_members_t m;
	rs_graph_bitem_t items[RS_GRAPH_BATCH_MAX];
	char *next = NULL, *s = rs_strndup((const char *)data, size);
	size_t i;
	rs_err_t err;

	rs_graph_members_init(&m);
	err = rs_graph_page_parse((const char *)data, size, 50, &m, &next);
	if (err == RS_OK) {
		rs_assert(m.cnt <= 50);
		for (i = 0; i < m.cnt; i++)
			rs_assert(rs_guid_valid(m.items[i].id));
		if (next && rs_graph_next_link_valid(FUZZ_BASE, next))
			rs_assert(!strncmp(next, FUZZ_BASE, strlen(FUZZ_BASE)));
	} else {
		rs_assert(next == NULL && m.cnt == 0);
	}
	rs_free(next);
	rs_graph_members_cleanup(&m);

	memset(items, 0, sizeof(items));
	err = rs_graph_batch_parse((const char *)data, size, items,
				   RS_GRAPH_BATCH_MAX, 0);
	for (i = 0; i < RS_GRAPH_BATCH_MAX; i++) {
		if (err != RS_OK)
			rs_assert(items[i].status == 0 && !items[i].body);
		else
			rs_assert(items[i].status == 0 ||
				  (items[i].status >= 100 &&
				   items[i].status <= 599));
		rs_free(items[i].body);
	}

	/* The raw bytes as a link: accepted ones never leave the base. */
	if (rs_graph_next_link_valid(FUZZ_BASE, s)) {
		rs_assert(!strncmp(s, FUZZ_BASE, strlen(FUZZ_BASE)));
		rs_assert(!strstr(s, "/../") && !strchr(s, ' '));
	}
	rs_free(s);
	return 0;
}
