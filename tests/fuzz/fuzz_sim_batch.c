/*
 * fuzz_sim_batch.c - the Graph simulator's $batch request validator
 * (sim_graph_batch.c, graph.md §4): any body parses into at most 20
 * items with an execution order that respects dependsOn, or is refused
 * with a 400, and never leaks.
 */
#include "rs/rs_base.h"

#include "sim_graph_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	sim_batch_t b;
	sim_odata_err_t err;
	bool seen[SIM_BATCH_MAX];
	int i, k;

	if (sim_graph_batch_parse(&b, (const char *)data, size, &err) !=
	    RS_OK) {
		rs_assert(err.status == 400);
		return 0;
	}
	rs_assert(b.n >= 1 && b.n <= SIM_BATCH_MAX);
	memset(seen, 0, sizeof(seen));
	for (i = 0; i < b.n; i++) {
		const sim_batch_item_t *it = &b.items[b.order[i]];
		rs_assert(it->id && it->method && it->url[0] == '/');
		for (k = 0; k < it->n_depends; k++)
			rs_assert(seen[it->depends[k]]);
		seen[b.order[i]] = true;
	}
	sim_graph_batch_cleanup(&b);
	return 0;
}
