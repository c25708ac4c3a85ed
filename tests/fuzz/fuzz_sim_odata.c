/*
 * fuzz_sim_odata.c - the Graph simulator's $filter parser (sim_odata.c):
 * whatever the input, it must return RS_OK with at most the allowed number
 * of terms, or an error with a 400 envelope filled, and never leak.
 */
#include "rs/rs_base.h"

#include "sim_odata.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	static const char *const props[] = {"id", "mail", "userPrincipalName",
					    NULL};
	sim_odata_filter_t f;
	sim_odata_err_t err;
	sim_odata_select_t sel;
	char *s = rs_malloc(size + 1), *tok, *back;
	rs_err_t rc;
	int i;

	memcpy(s, data, size);
	s[size] = '\0';
	sim_odata_filter_init(&f);
	rc = sim_odata_filter_parse(&f, s, size, SIM_ODATA_OR_MAX, "User",
				    props, &err);
	if (rc == RS_OK) {
		rs_assert(f.n >= 1 && f.n <= SIM_ODATA_OR_MAX);
		for (i = 0; i < f.n; i++)
			rs_assert(strlen(f.terms[i].value) <=
				  SIM_ODATA_VALUE_MAX);
	} else {
		rs_assert(err.status == 400 && err.code);
		rs_assert(f.n == 0);
	}
	sim_odata_filter_cleanup(&f);
	/* The same bytes as $select and as a paging token. */
	(void)sim_odata_select_parse(&sel, s, "microsoft.graph.user", props,
				     &err);
	tok = sim_odata_token_encode("t", s);
	back = sim_odata_token_decode("t", tok);
	rs_assert(strlen(s) != size || (back && !strcmp(back, s)));
	rs_free(back);
	rs_free(tok);
	rs_free(sim_odata_token_decode("t", s));
	rs_free(s);
	return 0;
}
