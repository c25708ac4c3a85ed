/*
 * fuzz_graph_error.c - the API error-body parser (Graph envelope, Talkdesk
 * body, OAuth error) and the classifier on arbitrary bytes.
 *
 * The first byte picks an HTTP status (400-599); the rest is the body.
 * Invariants: parsed strings are NUL-terminated within their arrays; a
 * classified error is retriable exactly for 408/429/500/502/503/504 and
 * carries the status; retry hints stay within the cap.
 */
#include "rs/rs_base.h"
#include "rs/rs_http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	rs_http_api_error_t ae;
	rs_error_t *e;
	int status;
	bool want_retry;

	if (size < 1)
		return 0;
	status = 400 + data[0] % 200;
	rs_http_api_error_parse((const char *)data + 1, size - 1, &ae);
	rs_assert(strlen(ae.code) < sizeof(ae.code));
	rs_assert(strlen(ae.message) < sizeof(ae.message));
	rs_assert(strlen(ae.request_id) < sizeof(ae.request_id));
	rs_assert(ae.retry_after_ms >= -1 &&
		  ae.retry_after_ms <= RS_HTTP_RETRY_AFTER_MAX_MS);

	e = rs_http_classify(status, (const char *)data + 1, size - 1, "1.5",
			     1795446000000LL, "rid");
	rs_assert(e != NULL);
	want_retry = status == 408 || status == 429 || status == 500 ||
		     status == 502 || status == 503 || status == 504;
	rs_assert(rs_error_retriable(e) == want_retry);
	rs_assert(rs_error_http_status(e) == status);
	rs_assert(want_retry ? rs_error_retry_after_ms(e) == 1500
			     : rs_error_retry_after_ms(e) == -1);
	rs_assert(!strchr(rs_error_msg(e), '\n'));
	rs_error_destroy(e);
	return 0;
}
