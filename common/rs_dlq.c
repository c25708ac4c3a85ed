/*
 * rs_dlq.c - decoding DLQ entries, DLQ-state and applied records.
 *
 * These records come from topics anyone with produce rights can write to,
 * and from workers of other versions, so each decoder treats its input as
 * hostile: sizes and strings are bounded, numbers must be exact integers,
 * and a record that cannot be understood still becomes something an
 * operator can see (a MALFORMED entry with the reason) instead of an error
 * that stops a listing of 100,000 good entries.
 */
#include "rs/rs_base.h"
#include "rs/rs_dlq.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Largest integer a JSON double carries exactly (2^53). */
#define JSON_INT_MAX 9007199254740992.0

/* Parses a whole JSON text of @p len bytes (no NUL needed); trailing
 * bytes other than whitespace make it invalid, as a strict reader
 * should (cJSON alone stops at the end of the first value). */
static cJSON *json_parse(const void *buf, size_t len) {
	const char *end = NULL, *p = buf;
	cJSON *root = cJSON_ParseWithLengthOpts(p, len, &end, false);

	if (!root)
		return NULL;
	for (; end && end < p + len; end++)
		if (*end != ' ' && *end != '\t' && *end != '\n' &&
		    *end != '\r') {
			cJSON_Delete(root);
			return NULL;
		}
	return root;
}

static const char *const status_names[] = {"dead", "replaying", "replayed",
					   "purged"};

void rs_dlq_entry_init(rs_dlq_entry_t *e) {
	memset(e, 0, sizeof(*e));
	rs_envelope_init(&e->env);
	e->generation = -1;
}

void rs_dlq_entry_cleanup(rs_dlq_entry_t *e) {
	if (!e)
		return;
	rs_envelope_cleanup(&e->env);
	rs_free(e->job_id);
	rs_free(e->tenant);
	rs_free(e->kind);
	rs_free(e->key);
	rs_free(e->code);
	rs_free(e->message);
	rs_free(e->raw);
	rs_dlq_entry_init(e);
}

/* Only C0 and DEL: bytes >= 0x80 are left alone so UTF-8 names (Zoë)
 * print as they are; a terminal does not act on them alone. */
void rs_dlq_str_sanitize(char *s) {
	if (!s)
		return;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
			*s = '?';
}

/* A bounded copy of @p len bytes: NUL bytes inside become '?', because
 * the result is a C string and must not silently end early. */
static char *dup_bytes(const void *p, size_t len, size_t max, bool *cut) {
	size_t n = len > max ? max : len;
	char *s = rs_malloc(n + 1);

	if (n)
		memcpy(s, p, n);
	s[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if (!s[i])
			s[i] = '?';
	if (cut)
		*cut = n < len;
	return s;
}

static char *dup_str(const char *s, size_t max) {
	return s ? dup_bytes(s, strlen(s), max, NULL) : NULL;
}

/* An exact integer within +-2^53, or false. */
/* The envelope's rule (docs/internals/envelope.md): generations compare
 * wrongly once a double stops being exact, so 4.5, 1e300 and "42" are
 * refused rather than rounded. */
static bool json_int(const cJSON *it, int64_t *v) {
	double d;

	if (!cJSON_IsNumber(it))
		return false;
	d = it->valuedouble;
	if (!isfinite(d) || d != floor(d) || fabs(d) > JSON_INT_MAX)
		return false;
	*v = (int64_t)d;
	return true;
}

/* The string member @p name, NULL when absent or of another type. */
static const char *json_str(const cJSON *o, const char *name) {
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(it) ? it->valuestring : NULL;
}

void rs_dlq_id_format(int32_t partition, int64_t offset, char *buf,
		      size_t size) {
	rs_snprintf(buf, size, "%" PRId32 "-%" PRId64, partition, offset);
}

rs_err_t rs_dlq_id_parse(const char *s, int32_t *partition, int64_t *offset) {
	const char *dash;
	char *end;
	long long p, o;

	/* strtoll accepts spaces and signs; an id is digits only. */
	if (!s || !*s || strlen(s) >= RS_DLQ_ID_MAX ||
	    strspn(s, "0123456789-") != strlen(s))
		return RS_ERR_PARSE;
	dash = strchr(s, '-');
	if (!dash || dash == s || !dash[1] || strchr(dash + 1, '-'))
		return RS_ERR_PARSE;
	errno = 0;
	p = strtoll(s, &end, 10);
	if (errno || end != dash || p > INT32_MAX)
		return RS_ERR_PARSE;
	o = strtoll(dash + 1, &end, 10);
	if (errno || *end)
		return RS_ERR_PARSE;
	*partition = (int32_t)p;
	*offset = (int64_t)o;
	return RS_OK;
}

/* Out-of-range values print as "?" rather than indexing past the table:
 * a status comes from a decoded record only through the table, but a
 * caller's bug should not become a crash in an error message. */
const char *rs_dlq_status_name(rs_dlq_status_t st) {
	if ((size_t)st >= RS_ARRAY_SIZE(status_names))
		return "?";
	return status_names[st];
}

/* Summary of a decoded job: what `dlq list` shows. */
static void entry_from_job(rs_dlq_entry_t *e) {
	const rs_envelope_t *env = &e->env;
	const rs_env_error_t *last =
		env->error_cnt ? &env->errors[env->error_cnt - 1] : NULL;

	e->type = RS_DLQ_JOB;
	e->job_id = dup_str(env->id, RS_DLQ_JOB_ID_MAX);
	e->tenant = dup_str(env->tenant, RS_ENVELOPE_MAX_STR);
	e->kind = dup_str(env->kind, RS_ENVELOPE_MAX_STR);
	e->key = dup_str(env->key, RS_ENVELOPE_MAX_STR);
	e->generation = env->generation;
	e->attempts = env->attempt;
	if (last) {
		e->http_status = last->http_status;
		e->code = dup_str(last->code, RS_ENVELOPE_MAX_STR);
		e->message = dup_str(last->message, RS_DLQ_ERROR_MAX);
		if (!e->time)
			e->time = last->time;
	}
}

/* The worker's wrapper of an undecodable job (worker/rs_worker.c
 * w_invalid_record): {"v":1,"kind":"invalid","raw":…,"raw_truncated":…,
 * "error":…,"time":…}. */
static void entry_from_invalid(rs_dlq_entry_t *e, const cJSON *root) {
	const char *raw = json_str(root, "raw");
	const char *why = json_str(root, "error");
	int64_t t;

	e->type = RS_DLQ_INVALID;
	e->kind = rs_strdup("invalid");
	e->message = dup_str(why ? why : "(no reason recorded)",
			     RS_DLQ_ERROR_MAX);
	if (raw)
		e->raw = dup_bytes(raw, strlen(raw), RS_DLQ_RAW_MAX,
				   &e->raw_truncated);
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root,
							  "raw_truncated")))
		e->raw_truncated = true;
	if (!e->time &&
	    json_int(cJSON_GetObjectItemCaseSensitive(root, "time"), &t) &&
	    t > 0)
		e->time = t;
}

/* Whatever a malformed record still tells (so an operator can find the
 * tenant), typed fields only. */
static void entry_best_effort(rs_dlq_entry_t *e, const cJSON *root) {
	int64_t g;

	e->tenant = dup_str(json_str(root, "tenant"), RS_ENVELOPE_MAX_STR);
	e->kind = dup_str(json_str(root, "kind"), RS_ENVELOPE_MAX_STR);
	e->key = dup_str(json_str(root, "key"), RS_ENVELOPE_MAX_STR);
	e->job_id = dup_str(json_str(root, "id"), RS_DLQ_JOB_ID_MAX);
	if (json_int(cJSON_GetObjectItemCaseSensitive(root, "generation"),
		     &g) &&
	    g >= 0)
		e->generation = g;
}

rs_err_t rs_dlq_entry_decode(const rs_dlq_rec_t *rec, rs_dlq_entry_t *e) {
	const char *val = rec->value ? rec->value : "";
	size_t len = rec->value ? rec->len : 0;
	char why[RS_DLQ_ERROR_MAX];
	cJSON *root = NULL;
	rs_err_t err;

	rs_dlq_entry_init(e);
	e->partition = rec->partition;
	e->offset = rec->offset;
	rs_dlq_id_format(rec->partition, rec->offset, e->id, sizeof(e->id));
	e->time = rec->timestamp > 0 ? rec->timestamp : 0;

	/* Nearly every entry is a job: try the strict decoder first so the
	 * common case parses once. */
	err = rs_envelope_decode(val, len, 0, &e->env, why, sizeof(why));
	if (err == RS_OK) {
		entry_from_job(e);
		goto out;
	}
	rs_envelope_cleanup(&e->env);
	if (len <= RS_ENVELOPE_MAX_BYTES)
		root = json_parse(val, len);
	if (cJSON_IsObject(root) &&
	    !strcmp(json_str(root, "kind") ? json_str(root, "kind") : "",
		    "invalid")) {
		entry_from_invalid(e, root);
		err = RS_OK;
		goto out;
	}
	/* Neither a job nor the wrapper: keep the envelope decoder's reason
	 * (it names the field), which is what an operator needs to fix the
	 * producer. */
	e->type = RS_DLQ_MALFORMED;
	if (cJSON_IsObject(root))
		entry_best_effort(e, root);
	e->message = dup_str(why[0] ? why : "malformed record",
			     RS_DLQ_ERROR_MAX);
	e->raw = dup_bytes(val, len, RS_DLQ_RAW_MAX, &e->raw_truncated);
out:
	/* The record key names the target when the value could not. */
	if (!e->key && rec->key && rec->keylen)
		e->key = dup_bytes(rec->key, rec->keylen, RS_ENVELOPE_MAX_STR,
				   NULL);
	cJSON_Delete(root);
	return err;
}

/* ------------------------------------------------------------------ */
/* DLQ-state records                                                  */

char *rs_dlq_state_encode(const rs_dlq_state_t *st, const char *topic) {
	cJSON *o = cJSON_CreateObject();
	char *txt, *out;

	cJSON_AddNumberToObject(o, "v", 1);
	cJSON_AddStringToObject(o, "id", st->id);
	cJSON_AddStringToObject(o, "status", rs_dlq_status_name(st->status));
	cJSON_AddStringToObject(o, "job_id", st->job_id);
	cJSON_AddNumberToObject(o, "entry_time", (double)st->entry_time);
	cJSON_AddNumberToObject(o, "time", (double)st->time);
	if (topic)
		cJSON_AddStringToObject(o, "topic", topic);
	txt = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	rs_assert(txt);
	/* Hand out rs_malloc memory, as documented (cJSON has its own). */
	out = rs_strdup(txt);
	cJSON_free(txt);
	return out;
}

#define SERR(...) rs_snprintf(errstr, errstr_size, __VA_ARGS__)

rs_err_t rs_dlq_state_decode(const void *buf, size_t len, rs_dlq_state_t *st,
			     char *errstr, size_t errstr_size) {
	rs_err_t err = RS_ERR_BAD_MESSAGE;
	const cJSON *it;
	const char *s;
	cJSON *root = NULL;
	int32_t p;
	int64_t o, v;
	size_t i;

	memset(st, 0, sizeof(*st));
	/* Our own records are ~250 bytes; anything far larger is not ours,
	 * and parsing it would only cost memory. */
	if (!buf || len == 0 || len > 64 * 1024) {
		SERR("dlq state: empty or over 64 KiB");
		goto out;
	}
	root = json_parse(buf, len);
	if (!cJSON_IsObject(root)) {
		SERR("dlq state: not a JSON object");
		goto out;
	}
	s = json_str(root, "id");
	if (!s || rs_dlq_id_parse(s, &p, &o) != RS_OK) {
		SERR("dlq state: field 'id' is not \"<partition>-<offset>\"");
		goto out;
	}
	rs_snprintf(st->id, sizeof(st->id), "%s", s);
	s = json_str(root, "status");
	for (i = 1; s && i < RS_ARRAY_SIZE(status_names); i++)
		if (!strcmp(s, status_names[i]))
			break;
	if (!s || i == RS_ARRAY_SIZE(status_names)) {
		SERR("dlq state: field 'status' is not replaying, replayed "
		     "or purged");
		goto out;
	}
	st->status = (rs_dlq_status_t)i;
	it = cJSON_GetObjectItemCaseSensitive(root, "job_id");
	s = cJSON_IsString(it) ? it->valuestring : NULL;
	if ((it && !s && !cJSON_IsNull(it)) ||
	    (s && strlen(s) > RS_DLQ_JOB_ID_MAX)) {
		SERR("dlq state: field 'job_id' is not a string of at most "
		     "%d bytes",
		     RS_DLQ_JOB_ID_MAX);
		goto out;
	}
	rs_snprintf(st->job_id, sizeof(st->job_id), "%s", s ? s : "");
	if (json_int(cJSON_GetObjectItemCaseSensitive(root, "entry_time"), &v))
		st->entry_time = v;
	if (json_int(cJSON_GetObjectItemCaseSensitive(root, "time"), &v))
		st->time = v;
	err = RS_OK;
out:
	cJSON_Delete(root);
	return err;
}

/* The id alone is not enough: ids restart when the DLQ topic is
 * re-created, and a stale "replayed" must never hide a new failure. */
bool rs_dlq_state_matches(const rs_dlq_state_t *st, const rs_dlq_entry_t *e) {
	if (strcmp(st->id, e->id))
		return false;
	if (strcmp(st->job_id, e->type == RS_DLQ_JOB && e->job_id ? e->job_id
								  : ""))
		return false;
	return st->entry_time == e->time;
}

/* ------------------------------------------------------------------ */
/* Applied records                                                    */

rs_err_t rs_dlq_applied_decode(const void *buf, size_t len,
			       rs_dlq_applied_t *a, char *errstr,
			       size_t errstr_size) {
	rs_err_t err = RS_ERR_BAD_MESSAGE;
	const cJSON *it;
	const char *s;
	cJSON *root = NULL;
	int64_t v;

	memset(a, 0, sizeof(*a));
	if (!buf || len == 0 || len > 64 * 1024) {
		SERR("applied: empty or over 64 KiB");
		goto out;
	}
	root = json_parse(buf, len);
	if (!cJSON_IsObject(root)) {
		SERR("applied: not a JSON object");
		goto out;
	}
	s = json_str(root, "key");
	if (!s || !*s || strlen(s) > RS_ENVELOPE_MAX_STR) {
		SERR("applied: field 'key' missing or not a string of 1..%d "
		     "bytes",
		     RS_ENVELOPE_MAX_STR);
		goto out;
	}
	rs_snprintf(a->key, sizeof(a->key), "%s", s);
	if (!json_int(cJSON_GetObjectItemCaseSensitive(root, "generation"),
		      &v) ||
	    v < 0) {
		SERR("applied: field 'generation' is not an integer >= 0");
		goto out;
	}
	a->generation = v;
	it = cJSON_GetObjectItemCaseSensitive(root, "job_id");
	if (it && !cJSON_IsNull(it)) {
		if (!cJSON_IsString(it) ||
		    strlen(it->valuestring) > RS_DLQ_JOB_ID_MAX) {
			SERR("applied: field 'job_id' is not a string of at "
			     "most %d bytes",
			     RS_DLQ_JOB_ID_MAX);
			goto out;
		}
		rs_snprintf(a->job_id, sizeof(a->job_id), "%s",
			    it->valuestring);
	}
	if (json_int(cJSON_GetObjectItemCaseSensitive(root, "applied_at"), &v))
		a->applied_at = v;
	err = RS_OK;
out:
	cJSON_Delete(root);
	return err;
}
