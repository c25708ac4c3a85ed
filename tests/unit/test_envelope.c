/*
 * test_envelope.c - job envelope: round trip, deterministic id, a named
 * error for every required field, size limits, unknown kinds and the
 * bounded error history.
 */
#include "rs/rs_base.h"
#include "rs/rs_envelope.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#define GROUP "11111111-2222-3333-4444-555555555555"
#define U1 "aaaaaaaa-0000-0000-0000-000000000001"
#define U2 "aaaaaaaa-0000-0000-0000-000000000002"
#define U3 "aaaaaaaa-0000-0000-0000-000000000003"

static void fill(rs_envelope_t *env) {
	rs_envelope_init(env);
	env->tenant = rs_strdup("contoso");
	env->kind = rs_strdup("group.members");
	env->key = rs_strdup("contoso/" GROUP);
	env->generation = 42;
	env->attempt = 1;
	env->not_before = 1763900001000;
	env->created = 1763900000000;
	env->source = rs_strdup("talkdesk:queues");
	env->planner = rs_strdup("host1/run-7");
	env->trace = rs_strdup(
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
	env->members.group_id = rs_strdup(GROUP);
	env->members.mode = rs_strdup("exact");
	assert_int_equal(rs_envelope_member_add(env, false, U1, "a@x.com"),
			 RS_OK);
	assert_int_equal(rs_envelope_member_add(env, false, U2, NULL), RS_OK);
	assert_int_equal(rs_envelope_member_add(env, true, U3, "o'c@x.com"),
			 RS_OK);
}

static char *encode(rs_envelope_t *env) {
	char *out = NULL, errstr[256];
	size_t len = 0;

	assert_int_equal(
		rs_envelope_encode(env, &out, &len, errstr, sizeof(errstr)),
		RS_OK);
	assert_int_equal(len, strlen(out));
	return out;
}

static void test_roundtrip(void **state) {
	rs_envelope_t env, dec;
	char *txt, *txt2, errstr[256];

	(void)state;
	fill(&env);
	rs_envelope_error_append(&env, 1763900002000, 0, 503, "HTTP_SERVER",
				 "HTTP 503 busy", "req-1");
	txt = encode(&env);
	assert_non_null(env.id); /* computed and stored */
	assert_int_equal(strlen(env.id), 64);

	assert_int_equal(rs_envelope_decode(txt, strlen(txt), 0, &dec, errstr,
					    sizeof(errstr)),
			 RS_OK);
	assert_int_equal(dec.v, 1);
	assert_string_equal(dec.id, env.id);
	assert_string_equal(dec.tenant, "contoso");
	assert_int_equal(dec.kind_id, RS_ENV_KIND_GROUP_MEMBERS);
	assert_string_equal(dec.key, "contoso/" GROUP);
	assert_int_equal(dec.generation, 42);
	assert_int_equal(dec.attempt, 1);
	assert_int_equal(dec.not_before, 1763900001000);
	assert_int_equal(dec.created, 1763900000000);
	assert_string_equal(dec.source, "talkdesk:queues");
	assert_string_equal(dec.planner, "host1/run-7");
	assert_string_equal(dec.trace, env.trace);
	assert_string_equal(dec.members.group_id, GROUP);
	assert_string_equal(dec.members.mode, "exact");
	assert_int_equal(dec.members.add_cnt, 2);
	assert_string_equal(dec.members.adds[0].id, U1);
	assert_string_equal(dec.members.adds[0].email, "a@x.com");
	assert_null(dec.members.adds[1].email);
	assert_int_equal(dec.members.remove_cnt, 1);
	assert_string_equal(dec.members.removes[0].email, "o'c@x.com");
	assert_int_equal(dec.error_cnt, 1);
	assert_int_equal(dec.errors[0].http_status, 503);
	assert_string_equal(dec.errors[0].request_id, "req-1");
	assert_non_null(dec.change);

	/* Re-encoding the decoded envelope gives the same bytes. */
	txt2 = encode(&dec);
	assert_string_equal(txt, txt2);

	rs_free(txt);
	rs_free(txt2);
	rs_envelope_cleanup(&env);
	rs_envelope_cleanup(&dec);
	rs_envelope_cleanup(NULL);
}

/* The worker edits a decoded job (drops an applied add, adds one) and
 * re-encodes: the typed view is what gets encoded, and lists decoded with
 * odd sizes can grow. */
static void test_edit_after_decode(void **state) {
	rs_envelope_t env, dec, again;
	char *txt, *txt2, errstr[256], id[40];
	size_t i;

	(void)state;
	fill(&env);
	assert_int_equal(rs_envelope_member_add(&env, false, U3, NULL), RS_OK);
	txt = encode(&env); /* 3 adds: capacity 4 after decode */
	assert_int_equal(rs_envelope_decode(txt, strlen(txt), 0, &dec, errstr,
					    sizeof(errstr)),
			 RS_OK);
	for (i = 0; i < 6; i++) {
		snprintf(id, sizeof(id), "cccccccc-0000-0000-0000-%012zu", i);
		assert_int_equal(rs_envelope_member_add(&dec, false, id, NULL),
				 RS_OK);
	}
	rs_free(dec.members.mode);
	dec.members.mode = rs_strdup("additive");
	txt2 = encode(&dec);
	assert_int_equal(rs_envelope_decode(txt2, strlen(txt2), 0, &again,
					    errstr, sizeof(errstr)),
			 RS_OK);
	assert_int_equal(again.members.add_cnt, 9);
	assert_string_equal(again.members.adds[8].id,
			    "cccccccc-0000-0000-0000-000000000005");
	assert_string_equal(again.members.mode, "additive");
	/* the id was kept: it names the planned job, not the edit */
	assert_string_equal(again.id, env.id);
	rs_free(txt);
	rs_free(txt2);
	rs_envelope_cleanup(&env);
	rs_envelope_cleanup(&dec);
	rs_envelope_cleanup(&again);
}

static void test_deterministic_id(void **state) {
	rs_envelope_t a, b;
	char ida[65], idb[65];

	(void)state;
	fill(&a);
	fill(&b);
	assert_int_equal(rs_envelope_id_compute(&a, ida, sizeof(ida)), RS_OK);
	/* attempt, not_before, provenance and errors are not in the id. */
	b.attempt = 7;
	b.not_before = 0;
	rs_free(b.planner);
	b.planner = rs_strdup("other");
	rs_envelope_error_append(&b, 1, 1, 429, "x", "y", "z");
	assert_int_equal(rs_envelope_id_compute(&b, idb, sizeof(idb)), RS_OK);
	assert_string_equal(ida, idb);
	/* The generation and the change are. */
	b.generation = 43;
	assert_int_equal(rs_envelope_id_compute(&b, idb, sizeof(idb)), RS_OK);
	assert_string_not_equal(ida, idb);
	b.generation = 42;
	assert_int_equal(rs_envelope_member_add(&b, true, U1, NULL), RS_OK);
	assert_int_equal(rs_envelope_id_compute(&b, idb, sizeof(idb)), RS_OK);
	assert_string_not_equal(ida, idb);
	assert_int_equal(rs_envelope_id_compute(&b, idb, 10),
			 RS_ERR_INVALID_ARG);
	rs_envelope_cleanup(&a);
	rs_envelope_cleanup(&b);
}

/* Replaces `"<field>":<old>` in a valid envelope's JSON and expects the
 * decode error to name the field. */
typedef struct {
	const char *field;   /* JSON key as written by the encoder */
	const char *replace; /* new "key":value text, "" = drop */
	rs_err_t err;
	const char *msg;     /* expected substring of errstr */
} mutation_t;

static char *mutate(const char *txt, const char *field, const char *repl) {
	char pat[64];
	const char *s, *e;
	int depth = 0;
	bool in_str = false;
	size_t n;
	char *out;

	snprintf(pat, sizeof(pat), "\"%s\":", field);
	s = strstr(txt, pat);
	assert_non_null(s);
	/* Find the end of the value (balanced brackets, strings). */
	for (e = s + strlen(pat); *e; e++) {
		if (in_str) {
			if (*e == '\\')
				e++;
			else if (*e == '"')
				in_str = false;
			continue;
		}
		if (*e == '"')
			in_str = true;
		else if (*e == '{' || *e == '[')
			depth++;
		else if (*e == '}' || *e == ']') {
			if (depth == 0)
				break;
			depth--;
		} else if (*e == ',' && depth == 0)
			break;
	}
	n = strlen(txt) + strlen(repl) + 4;
	out = rs_malloc(n);
	if (!*repl) {
		/* Drop the member and one adjacent comma. */
		if (*e == ',')
			e++;
		else if (s[-1] == ',')
			s--;
	}
	snprintf(out, n, "%.*s%s%s", (int)(s - txt), txt, repl, e);
	return out;
}

static void test_field_errors(void **state) {
	static const mutation_t m[] = {
		{"v", "", RS_ERR_BAD_MESSAGE, "field 'v' is missing"},
		{"v", "\"v\":\"1\"", RS_ERR_BAD_MESSAGE,
		 "field 'v' is not an integer"},
		{"v", "\"v\":2", RS_ERR_UNSUPPORTED, "version 2"},
		{"v", "\"v\":0", RS_ERR_BAD_MESSAGE, "'v' is out of range"},
		{"id", "", RS_ERR_BAD_MESSAGE, "field 'id' is missing"},
		{"id", "\"id\":5", RS_ERR_BAD_MESSAGE,
		 "field 'id' is not a string"},
		{"tenant", "", RS_ERR_BAD_MESSAGE, "field 'tenant' is missing"},
		{"tenant", "\"tenant\":\"\"", RS_ERR_BAD_MESSAGE,
		 "field 'tenant' is empty"},
		{"tenant", "\"tenant\":\"a\\nb\"", RS_ERR_BAD_MESSAGE,
		 "field 'tenant' contains control"},
		{"kind", "", RS_ERR_BAD_MESSAGE, "field 'kind' is missing"},
		{"kind", "\"kind\":[]", RS_ERR_BAD_MESSAGE,
		 "field 'kind' is not a string"},
		{"key", "", RS_ERR_BAD_MESSAGE, "field 'key' is missing"},
		{"key", "\"key\":\"contoso/other\"", RS_ERR_BAD_MESSAGE,
		 "field 'key' must be"},
		{"generation", "", RS_ERR_BAD_MESSAGE,
		 "field 'generation' is missing"},
		{"generation", "\"generation\":\"42\"", RS_ERR_BAD_MESSAGE,
		 "field 'generation' is not an integer"},
		{"generation", "\"generation\":4.5", RS_ERR_BAD_MESSAGE,
		 "field 'generation' is not an integer"},
		{"generation", "\"generation\":1e300", RS_ERR_BAD_MESSAGE,
		 "field 'generation' is not an integer"},
		{"generation", "\"generation\":-1", RS_ERR_BAD_MESSAGE,
		 "field 'generation' is out of range"},
		{"attempt", "\"attempt\":true", RS_ERR_BAD_MESSAGE,
		 "field 'attempt' is not an integer"},
		{"not_before", "\"not_before\":null", RS_ERR_BAD_MESSAGE,
		 "field 'not_before' is not an integer"},
		{"created", "", RS_ERR_BAD_MESSAGE, "field 'created' is missing"},
		{"created", "\"created\":\"now\"", RS_ERR_BAD_MESSAGE,
		 "field 'created' is not an integer"},
		{"tenant", "\"tenant\":null", RS_ERR_BAD_MESSAGE,
		 "field 'tenant' is missing"},
		{"tenant", "\"tenant\":[\"t\"]", RS_ERR_BAD_MESSAGE,
		 "field 'tenant' is not a string"},
		{"key", "\"key\":1", RS_ERR_BAD_MESSAGE,
		 "field 'key' is not a string"},
		{"mode", "", RS_ERR_BAD_MESSAGE,
		 "field 'change.mode' is missing"},
		{"group_id", "\"group_id\":7", RS_ERR_BAD_MESSAGE,
		 "field 'change.group_id' is not a string"},
		{"source", "\"source\":1", RS_ERR_BAD_MESSAGE,
		 "field 'source' is not a string"},
		{"trace", "\"trace\":{}", RS_ERR_BAD_MESSAGE,
		 "field 'trace' is not a string"},
		{"change", "", RS_ERR_BAD_MESSAGE, "field 'change' is missing"},
		{"change", "\"change\":[]", RS_ERR_BAD_MESSAGE,
		 "field 'change' is not an object"},
		{"group_id", "\"group_id\":\"nope\"", RS_ERR_BAD_MESSAGE,
		 "field 'change.group_id' is not a GUID"},
		{"group_id", "", RS_ERR_BAD_MESSAGE,
		 "field 'change.group_id' is missing"},
		{"mode", "\"mode\":\"all\"", RS_ERR_BAD_MESSAGE,
		 "field 'change.mode' must be"},
		{"adds", "\"adds\":{}", RS_ERR_BAD_MESSAGE,
		 "field 'change.adds' is not an array"},
		{"adds", "\"adds\":[1]", RS_ERR_BAD_MESSAGE,
		 "field 'change.adds[0]' is not an object"},
		{"adds", "\"adds\":[{\"id\":\"" U1 "\"},{\"id\":\"x\"}]",
		 RS_ERR_BAD_MESSAGE, "field 'change.adds[1].id' is not a GUID"},
		{"removes", "\"removes\":[{\"email\":\"a@b\"}]",
		 RS_ERR_BAD_MESSAGE, "field 'change.removes[0].id' is missing"},
		{"removes", "\"removes\":[{\"id\":\"" U1 "\",\"email\":3}]",
		 RS_ERR_BAD_MESSAGE,
		 "field 'change.removes[0].email' is not a string"},
		{"errors", "\"errors\":7", RS_ERR_BAD_MESSAGE,
		 "field 'errors' is not an array"},
		{"errors", "\"errors\":[{\"time\":\"x\"}]", RS_ERR_BAD_MESSAGE,
		 "field 'time' is not an integer"},
		{"errors", "\"errors\":[{\"message\":5}]", RS_ERR_BAD_MESSAGE,
		 "field 'errors[0].message' is not a string"},
		/* Control characters in the first 8-byte word, in a later
		 * word and in the tail after the last whole word. */
		{"source", "\"source\":\"a\\u0001bcdefghij\"",
		 RS_ERR_BAD_MESSAGE, "field 'source' contains control"},
		{"source", "\"source\":\"talkdesk:queues:abcdefgh\\u007f\"",
		 RS_ERR_BAD_MESSAGE, "field 'source' contains control"},
		{"source", "\"source\":\"talkdesk:queues:abc\\u001f\"",
		 RS_ERR_BAD_MESSAGE, "field 'source' contains control"},
		{"adds",
		 "\"adds\":[{\"id\":\"" U1 "\",\"email\":\"a@x.com\\r\"}]",
		 RS_ERR_BAD_MESSAGE,
		 "field 'change.adds[0].email' contains control"},
		{"errors", "\"errors\":[{},{\"code\":\"a\\tb\"}]",
		 RS_ERR_BAD_MESSAGE, "field 'errors[1].code' contains control"},
		{"errors", "\"errors\":[{\"request_id\":[]}]",
		 RS_ERR_BAD_MESSAGE,
		 "field 'errors[0].request_id' is not a string"},
	};
	rs_envelope_t env, dec;
	char *txt, *bad, errstr[256];
	size_t i;

	(void)state;
	fill(&env);
	rs_envelope_error_append(&env, 1, 0, 500, "c", "m", "r");
	txt = encode(&env);
	for (i = 0; i < RS_ARRAY_SIZE(m); i++) {
		rs_err_t err;
		bad = mutate(txt, m[i].field, m[i].replace);
		err = rs_envelope_decode(bad, strlen(bad), 0, &dec, errstr,
					 sizeof(errstr));
		if (err != m[i].err || !strstr(errstr, m[i].msg))
			fail_msg("mutation %zu (%s -> %s): got %s '%s', want "
				 "%s '%s'",
				 i, m[i].field, m[i].replace, rs_err_name(err),
				 errstr, rs_err_name(m[i].err), m[i].msg);
		rs_envelope_cleanup(&dec);
		rs_free(bad);
	}
	/* Not JSON / not an object. */
	assert_int_equal(rs_envelope_decode("[1]", 3, 0, &dec, errstr,
					    sizeof(errstr)),
			 RS_ERR_BAD_MESSAGE);
	assert_non_null(strstr(errstr, "not a JSON object"));
	rs_envelope_cleanup(&dec);
	assert_int_equal(rs_envelope_decode("{\"v\":1", 6, 0, &dec, errstr,
					    sizeof(errstr)),
			 RS_ERR_BAD_MESSAGE);
	rs_envelope_cleanup(&dec);
	rs_free(txt);
	rs_envelope_cleanup(&env);
}

/* Every byte from 0x20 up except 0x7f is accepted in a string field (the
 * control check reads words: no printable or UTF-8 byte may trip it), at
 * any length up to the bound. */
static void test_printable_accepted(void **state) {
	rs_envelope_t env, dec;
	char *txt, errstr[256], src[RS_ENVELOPE_MAX_STR + 1];
	size_t i, n = 0;
	int c;

	(void)state;
	/* 0x20..0x7e, then "é€" (C3 A9, E2 82 AC), repeated to the bound. */
	while (n < RS_ENVELOPE_MAX_STR - 5) {
		for (c = 0x20; c < 0x7f && n < RS_ENVELOPE_MAX_STR - 5; c++)
			src[n++] = (char)c;
		memcpy(src + n, "\xc3\xa9\xe2\x82\xac", 5);
		n += 5;
	}
	src[n] = '\0';
	assert_int_equal(strlen(src), RS_ENVELOPE_MAX_STR);
	for (i = 1; i <= RS_ENVELOPE_MAX_STR; i += (i < 24 ? 1 : 61)) {
		fill(&env);
		rs_free(env.source);
		env.source = rs_strndup(src + RS_ENVELOPE_MAX_STR - i, i);
		txt = encode(&env);
		assert_int_equal(rs_envelope_decode(txt, strlen(txt), 0, &dec,
						    errstr, sizeof(errstr)),
				 RS_OK);
		assert_string_equal(dec.source, env.source);
		rs_free(txt);
		rs_envelope_cleanup(&env);
		rs_envelope_cleanup(&dec);
	}
}

/* Field order is free and the first of two equal names wins (what
 * cJSON_GetObjectItemCaseSensitive gives); an empty member list decodes
 * like a missing one and can be added to. */
static void test_field_order(void **state) {
	static const char txt[] =
		"{\"errors_dropped\":3,\"errors\":[{\"request_id\":\"r\","
		"\"code\":\"c\",\"code\":\"d\",\"time\":5}],"
		"\"change\":{\"removes\":[],\"adds\":[],\"mode\":\"exact\","
		"\"mode\":\"bogus\",\"group_id\":\"" GROUP "\"},"
		"\"trace\":\"t\",\"planner\":\"p\",\"source\":\"first\","
		"\"source\":\"second\",\"created\":7,\"not_before\":6,"
		"\"attempt\":2,\"generation\":9,\"key\":\"t/" GROUP "\","
		"\"kind\":\"group.members\",\"tenant\":\"t\",\"id\":\"x\","
		"\"extra\":1,\"v\":1}";
	rs_envelope_t dec;
	char errstr[256], *out;

	(void)state;
	assert_int_equal(rs_envelope_decode(txt, strlen(txt), 0, &dec, errstr,
					    sizeof(errstr)),
			 RS_OK);
	assert_int_equal(dec.v, 1);
	assert_string_equal(dec.id, "x");
	assert_string_equal(dec.tenant, "t");
	assert_string_equal(dec.kind, "group.members");
	assert_string_equal(dec.key, "t/" GROUP);
	assert_int_equal(dec.generation, 9);
	assert_int_equal(dec.attempt, 2);
	assert_int_equal(dec.not_before, 6);
	assert_int_equal(dec.created, 7);
	assert_string_equal(dec.source, "first");
	assert_string_equal(dec.planner, "p");
	assert_string_equal(dec.trace, "t");
	assert_string_equal(dec.members.group_id, GROUP);
	assert_string_equal(dec.members.mode, "exact");
	assert_int_equal(dec.members.add_cnt, 0);
	assert_int_equal(dec.members.remove_cnt, 0);
	assert_int_equal(dec.error_cnt, 1);
	assert_string_equal(dec.errors[0].code, "c");
	assert_string_equal(dec.errors[0].request_id, "r");
	assert_int_equal(dec.errors[0].time, 5);
	assert_int_equal(dec.errors_dropped, 3);
	assert_non_null(dec.change);
	assert_int_equal(rs_envelope_member_add(&dec, false, U1, NULL), RS_OK);
	out = encode(&dec);
	assert_non_null(strstr(out, "\"adds\":[{\"id\":\"" U1 "\"}]"));
	rs_free(out);
	rs_envelope_cleanup(&dec);
}

static void test_limits(void **state) {
	rs_envelope_t env, dec;
	char id[40], errstr[256], *txt, *big;
	size_t i, n;

	(void)state;
	fill(&env);
	/* Up to the member bound... */
	for (i = env.members.add_cnt; i < RS_ENVELOPE_MAX_MEMBERS; i++) {
		snprintf(id, sizeof(id), "bbbbbbbb-0000-0000-0000-%012zu", i);
		assert_int_equal(rs_envelope_member_add(&env, false, id, NULL),
				 RS_OK);
	}
	/* ...and not one more. */
	assert_int_equal(rs_envelope_member_add(&env, false, U1, NULL),
			 RS_ERR_TOO_LARGE);
	assert_int_equal(rs_envelope_member_add(&env, false, "x", NULL),
			 RS_ERR_INVALID_ARG);
	txt = encode(&env);
	assert_int_equal(rs_envelope_decode(txt, strlen(txt), 0, &dec, errstr,
					    sizeof(errstr)),
			 RS_OK);
	assert_int_equal(dec.members.add_cnt, RS_ENVELOPE_MAX_MEMBERS);
	rs_envelope_cleanup(&dec);

	/* A decoded list above the bound is TOO_LARGE, naming the field. */
	n = strlen(txt) + 64;
	big = rs_malloc(n);
	{
		char *p = strstr(txt, "\"adds\":[");
		assert_non_null(p);
		p += strlen("\"adds\":[");
		snprintf(big, n, "%.*s{\"id\":\"" U1 "\"},%s",
			 (int)(p - txt), txt, p);
	}
	assert_int_equal(rs_envelope_decode(big, strlen(big), 0, &dec, errstr,
					    sizeof(errstr)),
			 RS_ERR_TOO_LARGE);
	assert_non_null(strstr(errstr, "'change.adds'"));
	rs_envelope_cleanup(&dec);
	rs_free(big);

	/* Over the byte bound: refused before parsing. */
	assert_int_equal(rs_envelope_decode(txt, RS_ENVELOPE_MAX_BYTES + 1, 0,
					    &dec, errstr, sizeof(errstr)),
			 RS_ERR_TOO_LARGE);
	rs_envelope_cleanup(&dec);
	rs_free(txt);

	/* Over-long string field. */
	rs_free(env.source);
	env.source = rs_malloc(RS_ENVELOPE_MAX_STR + 2);
	memset(env.source, 's', RS_ENVELOPE_MAX_STR + 1);
	env.source[RS_ENVELOPE_MAX_STR + 1] = '\0';
	txt = NULL;
	assert_int_equal(rs_envelope_encode(&env, &txt, NULL, errstr,
					    sizeof(errstr)),
			 RS_ERR_TOO_LARGE);
	assert_null(txt);
	assert_non_null(strstr(errstr, "'source'"));
	rs_envelope_cleanup(&env);
}

static void test_unknown_kind(void **state) {
	static const char js[] =
		"{\"v\":1,\"id\":\"abc\",\"tenant\":\"t\",\"kind\":"
		"\"user.presence\",\"key\":\"t/u1\",\"generation\":3,"
		"\"created\":5,\"change\":{\"availability\":\"Busy\","
		"\"future\":[1,2]}}";
	rs_envelope_t dec;
	char errstr[256], *txt;

	(void)state;
	/* Lenient (default): decoded, change kept verbatim. */
	assert_int_equal(rs_envelope_decode(js, strlen(js), 0, &dec, errstr,
					    sizeof(errstr)),
			 RS_OK);
	assert_int_equal(dec.kind_id, RS_ENV_KIND_UNKNOWN);
	assert_string_equal(dec.kind, "user.presence");
	assert_string_equal(
		cJSON_GetObjectItem(dec.change, "availability")->valuestring,
		"Busy");
	txt = encode(&dec);
	assert_non_null(strstr(txt, "\"future\":[1,2]"));
	rs_free(txt);
	rs_envelope_cleanup(&dec);
	/* Strict: refused with a clear reason. */
	assert_int_equal(rs_envelope_decode(js, strlen(js),
					    RS_ENVELOPE_F_STRICT, &dec, errstr,
					    sizeof(errstr)),
			 RS_ERR_UNSUPPORTED);
	assert_non_null(strstr(errstr, "unknown kind 'user.presence'"));
	rs_envelope_cleanup(&dec);
	assert_int_equal(rs_env_kind_lookup("group.members"),
			 RS_ENV_KIND_GROUP_MEMBERS);
	assert_string_equal(rs_env_kind_name(RS_ENV_KIND_GROUP_MEMBERS),
			    "group.members");
	assert_null(rs_env_kind_name(RS_ENV_KIND_UNKNOWN));
}

static void test_error_history(void **state) {
	rs_envelope_t env, dec;
	char msg[32], errstr[256], *txt, *longmsg;
	int i;
	const int total = 25;

	(void)state;
	fill(&env);
	for (i = 0; i < total; i++) {
		snprintf(msg, sizeof(msg), "fail %d", i);
		rs_envelope_error_append(&env, 1000 + i, i, 429, "THROTTLED",
					 msg, "rid\n1");
	}
	assert_int_equal(env.error_cnt,
			 RS_ENVELOPE_ERRORS_FIRST + RS_ENVELOPE_ERRORS_LAST);
	assert_int_equal(env.errors_dropped,
			 total - RS_ENVELOPE_ERRORS_FIRST -
				 RS_ENVELOPE_ERRORS_LAST);
	/* First entries kept, then the latest ones in order. */
	assert_string_equal(env.errors[0].message, "fail 0");
	assert_string_equal(env.errors[1].message, "fail 1");
	assert_int_equal(env.errors[RS_ENVELOPE_ERRORS_FIRST].attempt,
			 total - RS_ENVELOPE_ERRORS_LAST);
	assert_int_equal(env.errors[env.error_cnt - 1].attempt, total - 1);
	/* Control characters are flattened so the entry re-decodes. */
	assert_string_equal(env.errors[0].request_id, "rid 1");

	longmsg = rs_malloc(4000);
	memset(longmsg, 'm', 3999);
	longmsg[3999] = '\0';
	rs_envelope_error_append(&env, 9, 99, 500, NULL, longmsg, NULL);
	rs_free(longmsg);
	assert_int_equal(strlen(env.errors[env.error_cnt - 1].message),
			 RS_ENVELOPE_ERROR_MSG_MAX);

	txt = encode(&env);
	assert_int_equal(rs_envelope_decode(txt, strlen(txt), 0, &dec, errstr,
					    sizeof(errstr)),
			 RS_OK);
	assert_int_equal(dec.error_cnt, env.error_cnt);
	assert_int_equal(dec.errors_dropped, env.errors_dropped);
	assert_null(dec.errors[dec.error_cnt - 1].code);
	rs_free(txt);
	rs_envelope_cleanup(&dec);
	rs_envelope_cleanup(&env);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_edit_after_decode),
		cmocka_unit_test(test_deterministic_id),
		cmocka_unit_test(test_field_errors),
		cmocka_unit_test(test_printable_accepted),
		cmocka_unit_test(test_field_order),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_unknown_kind),
		cmocka_unit_test(test_error_history),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
