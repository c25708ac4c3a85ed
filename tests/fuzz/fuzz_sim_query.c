/*
 * fuzz_sim_query.c - the simulator's query-string / form decoder
 * (sim_kv_parse: token request bodies, $batch sub-request URLs) and the
 * fault path glob: arbitrary bytes must never crash them, results stay
 * bounded.
 */
#include "rs/rs_base.h"

#include "sim_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	sim_kv_t kv;
	char *s = rs_strndup((const char *)data, size);
	size_t half = strlen(s) / 2;
	int i;

	(void)sim_kv_parse(&kv, (const char *)data, size);
	rs_assert(kv.n <= SIM_KV_MAX);
	for (i = 0; i < kv.n; i++) {
		rs_assert(kv.name[i] && kv.value[i]);
		(void)sim_kv_get(&kv, kv.name[i]);
	}
	(void)sim_kv_count(&kv, "scope");
	sim_kv_cleanup(&kv);

	/* Glob: the first half is the pattern, the rest the subject. */
	{
		char *pat = rs_strndup(s, half);
		(void)sim_glob(pat, s + half);
		rs_free(pat);
	}
	rs_free(s);
	return 0;
}
