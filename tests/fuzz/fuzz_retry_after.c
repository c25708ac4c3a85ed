/*
 * fuzz_retry_after.c - Retry-After / HTTP-date parsing on arbitrary bytes.
 *
 * Invariant: a parsed delay is within [0, RS_HTTP_RETRY_AFTER_MAX_MS]
 * whatever the clock, and parsing is deterministic.
 */
#include "rs/rs_base.h"
#include "rs/rs_http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	static const int64_t clocks[] = {0, 784111777000LL, 1795446000000LL,
					 4102444800000LL};
	char buf[256];
	size_t i, n = RS_MIN(size, sizeof(buf) - 1);
	int64_t ms, ms2;

	memcpy(buf, data, n);
	buf[n] = '\0';
	for (i = 0; i < RS_ARRAY_SIZE(clocks); i++) {
		rs_err_t err = rs_http_retry_after_parse(buf, clocks[i], &ms);
		rs_assert(err == RS_OK || err == RS_ERR_PARSE);
		if (err != RS_OK)
			continue;
		rs_assert(ms >= 0 && ms <= RS_HTTP_RETRY_AFTER_MAX_MS);
		rs_assert(rs_http_retry_after_parse(buf, clocks[i], &ms2) ==
				  RS_OK &&
			  ms2 == ms);
	}
	return 0;
}
