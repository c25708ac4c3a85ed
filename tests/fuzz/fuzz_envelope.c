/*
 * fuzz_envelope.c - the job envelope decoder on arbitrary bytes.
 *
 * Invariants checked beyond "no crash": a decode failure always names a
 * reason; an envelope that decodes re-encodes, and the re-encoded text
 * decodes to the same id, key and generation (encode and decode agree).
 */
#include "rs/rs_base.h"
#include "rs/rs_envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	rs_envelope_t env, again;
	char errstr[256], *txt = NULL;
	size_t len = 0;
	rs_err_t err;

	err = rs_envelope_decode((const char *)data, size, 0, &env, errstr,
				 sizeof(errstr));
	if (err != RS_OK) {
		rs_assert(errstr[0] != '\0');
		rs_envelope_cleanup(&env);
		return 0;
	}
	/* A later attempt records an error, as the worker would. */
	rs_envelope_error_append(&env, 1, env.attempt, 503, "HTTP_SERVER",
				 "fuzz", NULL);
	err = rs_envelope_encode(&env, &txt, &len, errstr, sizeof(errstr));
	/* Encoding cannot fail on what decoded, except when the grown
	 * history pushes it past the byte bound. */
	rs_assert(err == RS_OK || err == RS_ERR_TOO_LARGE);
	if (err == RS_OK) {
		err = rs_envelope_decode(txt, len, 0, &again, errstr,
					 sizeof(errstr));
		rs_assert(err == RS_OK);
		rs_assert(!strcmp(again.id, env.id));
		rs_assert(!strcmp(again.key, env.key));
		rs_assert(again.generation == env.generation);
		rs_assert(again.members.add_cnt == env.members.add_cnt);
		rs_envelope_cleanup(&again);
	}
	rs_free(txt);
	rs_envelope_cleanup(&env);
	return 0;
}
