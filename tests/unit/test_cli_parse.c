/*
 * test_cli_parse.c - the DLQ tool's parsers and formatting: --since/--until
 * times, entry ids, DLQ entry decoding (jobs, the worker's invalid wrapper,
 * malformed records of every sort: each gives a clear reason, none
 * crashes), DLQ-state and applied records, filters, and the table.
 */
#include "rs/rs_base.h"
#include "rs/rs_dlq.h"
#include "rs/rs_envelope.h"
#include "rs/rs_topics.h"
#include "rs_cli.h"
#include "rs_cli_dlq.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#define GROUP "11111111-2222-3333-4444-555555555555"
#define U1 "aaaaaaaa-0000-0000-0000-000000000001"
/* 2026-11-23T17:00:00Z */
#define T0 1795453200000LL

/* A job as the worker dead-letters it: two failed attempts recorded. */
static char *job_json(const char *tenant, int64_t gen, int status,
		      const char *code, const char *msg) {
	rs_envelope_t env;
	char *out = NULL, errstr[256], key[128];
	size_t len;

	rs_envelope_init(&env);
	env.tenant = rs_strdup(tenant);
	env.kind = rs_strdup("group.members");
	rs_snprintf(key, sizeof(key), "%s/%s", tenant, GROUP);
	env.key = rs_strdup(key);
	env.generation = gen;
	env.created = T0 - 60000;
	env.attempt = 3;
	env.members.group_id = rs_strdup(GROUP);
	env.members.mode = rs_strdup("exact");
	assert_int_equal(rs_envelope_member_add(&env, false, U1, "a@x.com"),
			 RS_OK);
	rs_envelope_error_append(&env, T0 - 2000, 1, 503, "HTTP_SERVER",
				 "HTTP 503 first failure", "req-1");
	rs_envelope_error_append(&env, T0 - 1000, 2, status, code, msg,
				 "req-2");
	assert_int_equal(rs_envelope_encode(&env, &out, &len, errstr,
					    sizeof(errstr)),
			 RS_OK);
	rs_envelope_cleanup(&env);
	return out;
}

static rs_err_t decode(const char *val, size_t len, int64_t ts,
		       rs_dlq_entry_t *e) {
	rs_dlq_rec_t rec = {3, 1234, ts, "k/ey", 4, val, len};

	return rs_dlq_entry_decode(&rec, e);
}

static void test_time_parse(void **state) {
	int64_t t;
	static const char *bad[] = {
		"",	 "yesterday", "2026-11-23T17:00:00", /* no zone */
		"2026-13-01", "2026-02-29", "2026-11-23T24:00:00Z",
		"2026-11-23T17:00Z", "2h30m", "-5m", "5", "5x", "m",
		"2026-11-23T17:00:00+1:00", "2026-11-23T17:00:00Zjunk",
		"1969-12-31", "99999999999999999999d", "2026-11-23T17:00:00.Z",
	};

	(void)state;
	assert_int_equal(rs_cli_time_parse("2026-11-23T17:00:00Z", 0, &t),
			 RS_OK);
	assert_int_equal(t, T0);
	assert_int_equal(rs_cli_time_parse("2026-11-23t17:00:00z", 0, &t),
			 RS_OK);
	assert_int_equal(t, T0);
	assert_int_equal(rs_cli_time_parse("2026-11-23 18:30:00.25+01:30", 0,
					   &t),
			 RS_OK);
	assert_int_equal(t, T0 + 250);
	assert_int_equal(rs_cli_time_parse("2026-11-23T16:00:00.123456-01:00",
					   0, &t),
			 RS_OK);
	assert_int_equal(t, T0 + 123);
	assert_int_equal(rs_cli_time_parse("2026-11-23", 0, &t), RS_OK);
	assert_int_equal(t, T0 - 17 * 3600000LL);
	assert_int_equal(rs_cli_time_parse("2024-02-29", 0, &t), RS_OK);
	assert_int_equal(rs_cli_time_parse("now", T0, &t), RS_OK);
	assert_int_equal(t, T0);
	assert_int_equal(rs_cli_time_parse("30s", T0, &t), RS_OK);
	assert_int_equal(t, T0 - 30000);
	assert_int_equal(rs_cli_time_parse("30m", T0, &t), RS_OK);
	assert_int_equal(t, T0 - 1800000);
	assert_int_equal(rs_cli_time_parse("2h", T0, &t), RS_OK);
	assert_int_equal(t, T0 - 7200000);
	assert_int_equal(rs_cli_time_parse("7d", T0, &t), RS_OK);
	assert_int_equal(t, T0 - 7 * 86400000LL);
	assert_int_equal(rs_cli_time_parse("1w", T0, &t), RS_OK);
	assert_int_equal(t, T0 - 7 * 86400000LL);
	for (size_t i = 0; i < RS_ARRAY_SIZE(bad); i++)
		assert_int_equal(rs_cli_time_parse(bad[i], T0, &t),
				 RS_ERR_PARSE);
}

static void test_time_fmt(void **state) {
	char buf[32];

	(void)state;
	rs_cli_time_fmt(T0 + 999, buf, sizeof(buf));
	assert_string_equal(buf, "2026-11-23T17:00:00Z");
	rs_cli_time_fmt(0, buf, sizeof(buf));
	assert_string_equal(buf, "-");
}

static void test_id(void **state) {
	char buf[RS_DLQ_ID_MAX];
	int32_t p;
	int64_t o;
	static const char *bad[] = {"",	 "-", "1-", "-1", "1-2-3", "a-1",
				    " 1-2", "1 -2", "+1-2", "1-+2",
				    "99999999999-1",
				    "1-99999999999999999999999"};

	(void)state;
	rs_dlq_id_format(2, 9007199254740993LL, buf, sizeof(buf));
	assert_string_equal(buf, "2-9007199254740993");
	assert_int_equal(rs_dlq_id_parse(buf, &p, &o), RS_OK);
	assert_int_equal(p, 2);
	assert_int_equal(o, 9007199254740993LL);
	assert_int_equal(rs_dlq_id_parse("0-0", &p, &o), RS_OK);
	for (size_t i = 0; i < RS_ARRAY_SIZE(bad); i++)
		assert_int_equal(rs_dlq_id_parse(bad[i], &p, &o),
				 RS_ERR_PARSE);
}

static void test_entry_job(void **state) {
	char *j = job_json("contoso", 42, 404, "Request_ResourceNotFound",
			   "Resource does not exist");
	rs_dlq_entry_t e;

	(void)state;
	assert_int_equal(decode(j, strlen(j), T0, &e), RS_OK);
	assert_int_equal(e.type, RS_DLQ_JOB);
	assert_string_equal(e.id, "3-1234");
	assert_int_equal(e.time, T0);
	assert_string_equal(e.tenant, "contoso");
	assert_string_equal(e.kind, "group.members");
	assert_string_equal(e.key, "contoso/" GROUP);
	assert_int_equal(e.generation, 42);
	assert_int_equal(e.attempts, 3);
	assert_int_equal(e.http_status, 404);
	assert_string_equal(e.code, "Request_ResourceNotFound");
	assert_string_equal(e.message, "Resource does not exist");
	assert_int_equal(strlen(e.job_id), 64);
	assert_int_equal(e.env.error_cnt, 2);
	rs_dlq_entry_cleanup(&e);
	/* No record timestamp: the last error's time stands in. */
	assert_int_equal(decode(j, strlen(j), -1, &e), RS_OK);
	assert_int_equal(e.time, T0 - 1000);
	rs_dlq_entry_cleanup(&e);
	rs_free(j);
}

static void test_entry_invalid(void **state) {
	static const char w[] =
		"{\"v\":1,\"kind\":\"invalid\",\"raw\":\"{not json at all\","
		"\"raw_truncated\":false,\"error\":\"envelope: not a JSON "
		"object\",\"time\":1795453100000}";
	rs_dlq_entry_t e;

	(void)state;
	assert_int_equal(decode(w, strlen(w), 0, &e), RS_OK);
	assert_int_equal(e.type, RS_DLQ_INVALID);
	assert_string_equal(e.kind, "invalid");
	assert_string_equal(e.raw, "{not json at all");
	assert_false(e.raw_truncated);
	assert_string_equal(e.message, "envelope: not a JSON object");
	assert_int_equal(e.time, 1795453100000LL);
	assert_string_equal(e.key, "k/ey"); /* from the record key */
	assert_int_equal(e.generation, -1);
	rs_dlq_entry_cleanup(&e);
}

/* Every malformed record decodes to a MALFORMED entry with a reason that
 * names the problem, and keeps what it can for the listing. */
static void test_entry_malformed(void **state) {
	static const struct {
		const char *val;
		size_t len; /* 0: strlen */
		const char *reason;
	} cases[] = {
		{"", 0, "envelope:"},
		{"{not json", 0, "envelope:"},
		{"[1,2,3]", 0, "envelope:"},
		{"null", 0, "envelope:"},
		{"{\"v\":1,\"id\":\"x\",\"tenant\":\"t9\",\"kind\":\"group."
		 "members\",\"key\":\"t9/g\",\"generation\":\"42\"}",
		 0, "generation"},
		{"{\"v\":2,\"tenant\":\"t9\",\"kind\":\"x\"}", 0, "version"},
		{"{\"kind\":\"invalid\"", 0, "envelope:"},
		{"\x1b[2J\x00\xff\xfe", 6, "envelope:"},
	};
	rs_dlq_entry_t e;

	(void)state;
	for (size_t i = 0; i < RS_ARRAY_SIZE(cases); i++) {
		size_t len = cases[i].len ? cases[i].len
					  : strlen(cases[i].val);
		rs_err_t err = decode(cases[i].val, len, T0, &e);

		assert_int_not_equal(err, RS_OK);
		assert_int_equal(e.type, RS_DLQ_MALFORMED);
		assert_non_null(e.message);
		assert_non_null(strstr(e.message, cases[i].reason));
		assert_non_null(e.raw);
		assert_int_equal(strlen(e.raw), len); /* NUL became '?' */
		assert_string_equal(e.id, "3-1234");
		rs_dlq_entry_cleanup(&e);
	}
	/* Best effort: a bad envelope still names its tenant. */
	assert_int_not_equal(decode(cases[4].val, strlen(cases[4].val), T0,
				    &e),
			     RS_OK);
	assert_string_equal(e.tenant, "t9");
	assert_string_equal(e.key, "t9/g");
	rs_dlq_entry_cleanup(&e);
	/* A NULL value (tombstone) is malformed too, not a crash. */
	{
		rs_dlq_rec_t rec = {0, 1, -1, NULL, 0, NULL, 0};

		assert_int_not_equal(rs_dlq_entry_decode(&rec, &e), RS_OK);
		assert_int_equal(e.type, RS_DLQ_MALFORMED);
		assert_int_equal(e.time, 0);
		rs_dlq_entry_cleanup(&e);
	}
}

static void test_entry_too_large(void **state) {
	size_t len = RS_ENVELOPE_MAX_BYTES + 10;
	char *big = rs_malloc(len);
	rs_dlq_entry_t e;

	(void)state;
	memset(big, ' ', len);
	big[0] = '{';
	big[len - 1] = '}';
	assert_int_equal(decode(big, len, T0, &e), RS_ERR_TOO_LARGE);
	assert_int_equal(e.type, RS_DLQ_MALFORMED);
	assert_true(e.raw_truncated);
	assert_int_equal(strlen(e.raw), RS_DLQ_RAW_MAX);
	rs_dlq_entry_cleanup(&e);
	rs_free(big);
}

static void test_state_records(void **state) {
	rs_dlq_state_t st, back;
	char errstr[256], *txt;
	static const char *bad[] = {
		"", "[]", "{\"id\":\"0-1\"}",
		"{\"id\":\"x\",\"status\":\"purged\"}",
		"{\"id\":\"0-1\",\"status\":\"dead\"}",
		"{\"id\":\"0-1\",\"status\":\"purged\",\"job_id\":5}x",
	};

	(void)state;
	memset(&st, 0, sizeof(st));
	rs_snprintf(st.id, sizeof(st.id), "1-77");
	st.status = RS_DLQ_ST_REPLAYED;
	rs_snprintf(st.job_id, sizeof(st.job_id), "abc");
	st.entry_time = T0;
	st.time = T0 + 5;
	txt = rs_dlq_state_encode(&st, "rostersync.jobs.group");
	assert_int_equal(rs_dlq_state_decode(txt, strlen(txt), &back, errstr,
					     sizeof(errstr)),
			 RS_OK);
	rs_free(txt);
	assert_string_equal(back.id, "1-77");
	assert_int_equal(back.status, RS_DLQ_ST_REPLAYED);
	assert_string_equal(back.job_id, "abc");
	assert_int_equal(back.entry_time, T0);
	assert_int_equal(back.time, T0 + 5);
	for (size_t i = 0; i < RS_ARRAY_SIZE(bad); i++) {
		errstr[0] = '\0';
		assert_int_equal(rs_dlq_state_decode(bad[i], strlen(bad[i]),
						     &back, errstr,
						     sizeof(errstr)),
				 RS_ERR_BAD_MESSAGE);
		assert_non_null(strstr(errstr, "dlq state:"));
	}
}

static void test_state_matches(void **state) {
	char *j = job_json("contoso", 1, 404, "X", "m");
	rs_dlq_entry_t e;
	rs_dlq_state_t st;

	(void)state;
	assert_int_equal(decode(j, strlen(j), T0, &e), RS_OK);
	memset(&st, 0, sizeof(st));
	rs_snprintf(st.id, sizeof(st.id), "3-1234");
	rs_snprintf(st.job_id, sizeof(st.job_id), "%s", e.job_id);
	st.entry_time = T0;
	assert_true(rs_dlq_state_matches(&st, &e));
	/* The same id in a re-created DLQ topic holds another job. */
	st.job_id[0] ^= 1;
	assert_false(rs_dlq_state_matches(&st, &e));
	st.job_id[0] ^= 1;
	st.entry_time++;
	assert_false(rs_dlq_state_matches(&st, &e));
	rs_dlq_entry_cleanup(&e);
	rs_free(j);
}

static void test_applied_records(void **state) {
	static const char ok[] = "{\"key\":\"t1/g\",\"generation\":7,"
				 "\"job_id\":\"j7\",\"applied_at\":123}";
	static const char *bad[] = {
		"{\"generation\":7}",
		"{\"key\":\"\",\"generation\":7}",
		"{\"key\":\"t1/g\",\"generation\":-1}",
		"{\"key\":\"t1/g\",\"generation\":7.5}",
		"{\"key\":\"t1/g\",\"generation\":\"7\"}",
		"{\"key\":\"t1/g\",\"generation\":7,\"job_id\":[]}",
		"not json",
	};
	rs_dlq_applied_t a;
	char errstr[256];

	(void)state;
	assert_int_equal(rs_dlq_applied_decode(ok, strlen(ok), &a, errstr,
					       sizeof(errstr)),
			 RS_OK);
	assert_string_equal(a.key, "t1/g");
	assert_int_equal(a.generation, 7);
	assert_string_equal(a.job_id, "j7");
	assert_int_equal(a.applied_at, 123);
	/* What the worker writes (rs_topics_applied_record) reads back.
	 * Generations are ms timestamps: cJSON prints 15 significant
	 * digits, exact for those (not up to 2^53). */
	{
		char *w = rs_topics_applied_record("t1/" GROUP, 1795453200123LL,
						   "9f2c", T0);

		assert_int_equal(rs_dlq_applied_decode(w, strlen(w), &a, errstr,
						       sizeof(errstr)),
				 RS_OK);
		assert_string_equal(a.key, "t1/" GROUP);
		assert_int_equal(a.generation, 1795453200123LL);
		assert_string_equal(a.job_id, "9f2c");
		assert_int_equal(a.applied_at, T0);
		rs_free(w);
		/* The direct path writes exactly this. */
		w = rs_topics_applied_record("t1/g", 7, "j7", 123);
		assert_string_equal(w, ok);
		rs_free(w);
		/* A key that needs escaping goes through cJSON and reads
		 * back unchanged; integers stay exact beyond 2^53. */
		w = rs_topics_applied_record("t1/\"q\\\"\xc3\xa9", 9007199254740993LL,
					     "j\"8", 124);
		assert_int_equal(rs_dlq_applied_decode(w, strlen(w), &a, errstr,
						       sizeof(errstr)),
				 RS_OK);
		assert_string_equal(a.key, "t1/\"q\\\"\xc3\xa9");
		assert_string_equal(a.job_id, "j\"8");
		assert_int_equal(a.applied_at, 124);
		assert_non_null(strstr(w, "\"generation\":9007199254740993,"));
		rs_free(w);
	}
	for (size_t i = 0; i < RS_ARRAY_SIZE(bad); i++)
		assert_int_equal(rs_dlq_applied_decode(bad[i], strlen(bad[i]),
						       &a, errstr,
						       sizeof(errstr)),
				 RS_ERR_BAD_MESSAGE);
}

static void test_filter(void **state) {
	char *j = job_json("contoso", 5, 403, "Authorization_RequestDenied",
			   "Insufficient privileges");
	rs_cli_dlq_filter_t f;
	rs_dlq_entry_t e;

	(void)state;
	assert_int_equal(decode(j, strlen(j), T0, &e), RS_OK);
	rs_cli_dlq_filter_init(&f);
	assert_true(rs_cli_dlq_filter_match(&f, &e, RS_DLQ_ST_DEAD));
	assert_true(rs_cli_dlq_filter_match(&f, &e, RS_DLQ_ST_REPLAYING));
	assert_false(rs_cli_dlq_filter_match(&f, &e, RS_DLQ_ST_REPLAYED));
	assert_false(rs_cli_dlq_filter_match(&f, &e, RS_DLQ_ST_PURGED));
	f.all = true;
	assert_true(rs_cli_dlq_filter_match(&f, &e, RS_DLQ_ST_PURGED));
	f.all = false;

	f.tenant = "contoso";
	assert_true(rs_cli_dlq_filter_match(&f, &e, RS_DLQ_ST_DEAD));
	f.tenant = "conto";
	assert_false(rs_cli_dlq_filter_match(&f, &e, RS_DLQ_ST_DEAD));
	rs_cli_dlq_filter_init(&f);
	f.kind = "group.members";
	assert_true(rs_cli_dlq_filter_match(&f, &e, RS_DLQ_ST_DEAD));
	f.kind = "user.voice";
	assert_false(rs_cli_dlq_filter_match(&f, &e, RS_DLQ_ST_DEAD));
	rs_cli_dlq_filter_init(&f);
	f.status = 403;
	assert_true(rs_cli_dlq_filter_match(&f, &e, RS_DLQ_ST_DEAD));
	f.status = 503; /* only an earlier attempt had 503 */
	assert_false(rs_cli_dlq_filter_match(&f, &e, RS_DLQ_ST_DEAD));
	rs_cli_dlq_filter_init(&f);
	f.error = "requestdenied"; /* case-insensitive, code */
	assert_true(rs_cli_dlq_filter_match(&f, &e, RS_DLQ_ST_DEAD));
	f.error = "first failure"; /* an earlier attempt's message */
	assert_true(rs_cli_dlq_filter_match(&f, &e, RS_DLQ_ST_DEAD));
	f.error = "throttled";
	assert_false(rs_cli_dlq_filter_match(&f, &e, RS_DLQ_ST_DEAD));
	rs_cli_dlq_filter_init(&f);
	f.since = T0; /* inclusive */
	assert_true(rs_cli_dlq_filter_match(&f, &e, RS_DLQ_ST_DEAD));
	f.since = T0 + 1;
	assert_false(rs_cli_dlq_filter_match(&f, &e, RS_DLQ_ST_DEAD));
	rs_cli_dlq_filter_init(&f);
	f.until = T0; /* exclusive */
	assert_false(rs_cli_dlq_filter_match(&f, &e, RS_DLQ_ST_DEAD));
	f.until = T0 + 1;
	assert_true(rs_cli_dlq_filter_match(&f, &e, RS_DLQ_ST_DEAD));
	rs_dlq_entry_cleanup(&e);
	/* A malformed entry without a tenant never matches --tenant. */
	assert_int_not_equal(decode("x", 1, T0, &e), RS_OK);
	rs_cli_dlq_filter_init(&f);
	assert_true(rs_cli_dlq_filter_match(&f, &e, RS_DLQ_ST_DEAD));
	f.tenant = "contoso";
	assert_false(rs_cli_dlq_filter_match(&f, &e, RS_DLQ_ST_DEAD));
	rs_dlq_entry_cleanup(&e);
	rs_free(j);
}

/* Writes the row into *out (the caller's variable, not a local: GCC 12
 * at -O2 misreads a returned open_memstream buffer as a dangling pointer
 * to the local that held it). */
static void table_of(const rs_dlq_entry_t *e, rs_dlq_status_t st,
		     char **out) {
	size_t len = 0;
	FILE *fp;

	*out = NULL;
	fp = open_memstream(out, &len);
	rs_cli_dlq_table_row(fp, e, st);
	fclose(fp);
}

static void test_table(void **state) {
	char *j = job_json("contoso", 42, 404, "Request_ResourceNotFound",
			   "Resource '\x1b]0;pwned\x07' does not exist");
	char *row, *hdr = NULL;
	size_t len = 0;
	rs_dlq_entry_t e;
	FILE *fp;

	(void)state;
	fp = open_memstream(&hdr, &len);
	rs_cli_dlq_table_header(fp);
	fclose(fp);
	assert_non_null(strstr(hdr, "ID"));
	assert_non_null(strstr(hdr, "MESSAGE"));

	/* The worker blanks control bytes when it records an error, but a
	 * record written by anyone else may hold them: put them back. */
	{
		char *p = strstr(j, "Resource ' ]0;pwned ' does");
		char *fixed;
		size_t n;

		assert_non_null(p);
		n = strlen(j) + 32;
		fixed = rs_malloc(n);
		rs_snprintf(fixed, n, "%.*sResource '\\u001b]0;pwned\\u0007' "
			    "does%s", (int)(p - j), j,
			    p + strlen("Resource ' ]0;pwned ' does"));
		rs_free(j);
		j = fixed;
	}
	assert_int_equal(decode(j, strlen(j), T0, &e), RS_OK);
	assert_non_null(strchr(e.message, '\x1b'));
	table_of(&e, RS_DLQ_ST_DEAD, &row);
	/* Columns line up under the header: same offsets. */
	assert_int_equal(strstr(row, "dead") - row, strstr(hdr, "STATE") - hdr);
	assert_int_equal(strstr(row, "2026-11-23T17:00:00Z") - row,
			 strstr(hdr, "TIME") - hdr);
	assert_int_equal(strstr(row, "contoso/" GROUP) - row,
			 strstr(hdr, "KEY") - hdr);
	assert_non_null(strstr(row, " 42 "));
	assert_non_null(strstr(row, " 404 "));
	assert_non_null(strstr(row, "Request_ResourceNotFound"));
	/* Control bytes from the record never reach the terminal. */
	assert_null(strchr(row, '\x1b'));
	assert_null(strchr(row, '\x07'));
	assert_non_null(strstr(row, "Resource '?]0;pwned?' does not exist"));
	assert_int_equal(row[strlen(row) - 1], '\n');
	assert_true(strchr(row, '\n') == row + strlen(row) - 1);
	rs_free(row);
	rs_dlq_entry_cleanup(&e);
	rs_free(j);

	/* Long values are cut with '~' and keep the columns. */
	j = job_json("averyveryverylongtenantname", 1, 500, "HTTP_SERVER",
		     "x");
	assert_int_equal(decode(j, strlen(j), T0, &e), RS_OK);
	table_of(&e, RS_DLQ_ST_REPLAYING, &row);
	assert_non_null(strstr(row, "averyveryve~ "));
	assert_int_equal(strstr(row, "group.members") - row,
			 strstr(hdr, "KIND") - hdr);
	rs_free(row);
	rs_dlq_entry_cleanup(&e);
	rs_free(j);

	/* A malformed entry shows dashes and says what it is. */
	assert_int_not_equal(decode("garbage", 7, 0, &e), RS_OK);
	table_of(&e, RS_DLQ_ST_DEAD, &row);
	assert_non_null(strstr(row, "(malformed)"));
	assert_non_null(strstr(row, "envelope:"));
	assert_non_null(strstr(row, " - "));
	rs_free(row);
	rs_dlq_entry_cleanup(&e);
	rs_free(hdr);
}

static void test_json_forms(void **state) {
	char *j = job_json("contoso", 42, 404, "NotFound", "gone");
	rs_dlq_rec_t rec = {0, 9, T0, NULL, 0, j, strlen(j)};
	rs_dlq_entry_t e;
	cJSON *o;

	(void)state;
	assert_int_equal(rs_dlq_entry_decode(&rec, &e), RS_OK);
	o = rs_cli_dlq_entry_json(&e, RS_DLQ_ST_DEAD);
	assert_string_equal(cJSON_GetObjectItem(o, "id")->valuestring, "0-9");
	assert_string_equal(cJSON_GetObjectItem(o, "state")->valuestring,
			    "dead");
	assert_int_equal(cJSON_GetObjectItem(o, "generation")->valuedouble, 42);
	assert_int_equal(cJSON_GetObjectItem(o, "http_status")->valuedouble,
			 404);
	cJSON_Delete(o);
	o = rs_cli_dlq_show_json(&e, RS_DLQ_ST_REPLAYED, &rec);
	assert_string_equal(cJSON_GetObjectItem(o, "state")->valuestring,
			    "replayed");
	/* The whole job, with its error history. */
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(
				 cJSON_GetObjectItem(o, "job"), "errors")),
			 2);
	cJSON_Delete(o);
	rs_dlq_entry_cleanup(&e);
	rs_free(j);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_time_parse),
		cmocka_unit_test(test_time_fmt),
		cmocka_unit_test(test_id),
		cmocka_unit_test(test_entry_job),
		cmocka_unit_test(test_entry_invalid),
		cmocka_unit_test(test_entry_malformed),
		cmocka_unit_test(test_entry_too_large),
		cmocka_unit_test(test_state_records),
		cmocka_unit_test(test_state_matches),
		cmocka_unit_test(test_applied_records),
		cmocka_unit_test(test_filter),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_json_forms),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
