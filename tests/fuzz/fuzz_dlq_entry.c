/*
 * fuzz_dlq_entry.c - the DLQ record decoders (rs_dlq.h) on arbitrary bytes.
 *
 * The same input is read as a DLQ entry value, as its record key, as a
 * DLQ-state record, as an applied record and as an entry id: every one of
 * them comes off a topic anybody may write to.  Invariants beyond "no
 * crash": a record that is not a job or the worker's wrapper is MALFORMED
 * with a reason; every summary string is bounded and NUL-free; a state
 * record that decodes re-encodes to the same record.
 */
#include "rs/rs_base.h"
#include "rs/rs_dlq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_str(const char *s, size_t max) {
	if (s)
		rs_assert(strlen(s) <= max);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	rs_dlq_rec_t rec = {1, 42, -1, data, size < 600 ? size : 600,
			    data, size};
	rs_dlq_state_t st, again;
	rs_dlq_applied_t a;
	rs_dlq_entry_t e;
	char errstr[256], *txt, *id;
	int32_t p;
	int64_t o;
	rs_err_t err;

	err = rs_dlq_entry_decode(&rec, &e);
	rs_assert(!strcmp(e.id, "1-42"));
	if (err == RS_OK) {
		rs_assert(e.type == RS_DLQ_JOB || e.type == RS_DLQ_INVALID);
	} else {
		rs_assert(e.type == RS_DLQ_MALFORMED);
		rs_assert(e.message && e.message[0]);
		rs_assert(e.raw);
	}
	check_str(e.tenant, RS_ENVELOPE_MAX_STR);
	check_str(e.key, RS_ENVELOPE_MAX_STR);
	check_str(e.job_id, RS_DLQ_JOB_ID_MAX);
	check_str(e.message, RS_DLQ_ERROR_MAX);
	check_str(e.raw, RS_DLQ_RAW_MAX);
	rs_dlq_str_sanitize(e.message);
	for (const char *s = e.message; s && *s; s++)
		rs_assert((unsigned char)*s >= 0x20 && *s != 0x7f);
	rs_dlq_entry_cleanup(&e);

	if (rs_dlq_state_decode(data, size, &st, errstr, sizeof(errstr)) ==
	    RS_OK) {
		txt = rs_dlq_state_encode(&st, NULL);
		rs_assert(rs_dlq_state_decode(txt, strlen(txt), &again, errstr,
					      sizeof(errstr)) == RS_OK);
		rs_assert(!strcmp(st.id, again.id));
		rs_assert(st.status == again.status);
		rs_assert(!strcmp(st.job_id, again.job_id));
		rs_free(txt);
	} else {
		rs_assert(errstr[0]);
	}
	if (rs_dlq_applied_decode(data, size, &a, errstr, sizeof(errstr)) ==
	    RS_OK)
		rs_assert(a.key[0] && a.generation >= 0);
	else
		rs_assert(errstr[0]);

	id = rs_malloc(size + 1);
	memcpy(id, data, size);
	id[size] = '\0';
	if (rs_dlq_id_parse(id, &p, &o) == RS_OK) {
		char back[RS_DLQ_ID_MAX];

		rs_dlq_id_format(p, o, back, sizeof(back));
		rs_assert(p >= 0 && o >= 0);
		(void)back;
	}
	rs_free(id);
	return 0;
}
