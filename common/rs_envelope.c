/*
 * rs_envelope.c - encode, decode and validate job envelopes.
 *
 * The decoder is the trust boundary between the queue and the worker: every
 * message is untrusted input (a replayed DLQ entry may have been edited by
 * hand), so each field is type-checked and bounded, and a failure names the
 * field.  The encoder re-runs the decoder on its own output, so the two can
 * never disagree about what a valid envelope is.
 *
 * Kinds are a table (name, validator, builder): the decoder itself knows no
 * kind, and a new kind is one row plus its validator.
 */
#include "rs/rs_base.h"
#include "rs/rs_envelope.h"
#include "rs/rs_odata.h"

#include <math.h>
#include <openssl/evp.h>

#define ERRF(...) rs_snprintf(errstr, errstr_size, "envelope: " __VA_ARGS__)

/* Longest email accepted in a member (RFC 5321 path limit plus slack). */
#define MEMBER_EMAIL_MAX 320
/* Largest integer a JSON double carries exactly (2^53). */
#define JSON_INT_MAX 9007199254740992.0

typedef rs_err_t(kind_validate_t)(rs_envelope_t *env, const cJSON *change,
				  char *errstr, size_t errstr_size);
typedef cJSON *(kind_build_t)(const rs_envelope_t *env);
typedef void(kind_cleanup_t)(rs_envelope_t *env);

typedef struct {
	const char *name;
	rs_env_kind_t id;
	kind_validate_t *validate; /* checks change, fills the typed view */
	kind_build_t *build;       /* change from the typed view, or NULL */
	kind_cleanup_t *cleanup;   /* frees the typed view */
} kind_desc_t;

static kind_validate_t gm_validate;
static kind_build_t gm_build;
static kind_cleanup_t gm_cleanup;

/* The kind table: add a row (and an rs_env_kind_t value) per new kind. */
static const kind_desc_t kinds[] = {
	{"group.members", RS_ENV_KIND_GROUP_MEMBERS, gm_validate, gm_build,
	 gm_cleanup},
};

static const kind_desc_t *kind_find_id(rs_env_kind_t id) {
	size_t i;

	for (i = 0; i < RS_ARRAY_SIZE(kinds); i++)
		if (kinds[i].id == id)
			return &kinds[i];
	return NULL;
}

const char *rs_env_kind_name(rs_env_kind_t kind) {
	const kind_desc_t *k = kind_find_id(kind);
	return k ? k->name : NULL;
}

rs_env_kind_t rs_env_kind_lookup(const char *name) {
	size_t i;

	for (i = 0; name && i < RS_ARRAY_SIZE(kinds); i++)
		if (!strcmp(kinds[i].name, name))
			return kinds[i].id;
	return RS_ENV_KIND_UNKNOWN;
}

void rs_envelope_init(rs_envelope_t *env) {
	memset(env, 0, sizeof(*env));
	env->v = RS_ENVELOPE_VERSION;
}

static void member_list_free(rs_env_member_t *list, size_t cnt) {
	size_t i;

	for (i = 0; i < cnt; i++) {
		rs_free(list[i].id);
		rs_free(list[i].email);
	}
	rs_free(list);
}

static void gm_cleanup(rs_envelope_t *env) {
	rs_env_group_members_t *gm = &env->members;

	rs_free(gm->group_id);
	rs_free(gm->mode);
	member_list_free(gm->adds, gm->add_cnt);
	member_list_free(gm->removes, gm->remove_cnt);
	memset(gm, 0, sizeof(*gm));
}

static void error_entry_free(rs_env_error_t *e) {
	rs_free(e->code);
	rs_free(e->message);
	rs_free(e->request_id);
	memset(e, 0, sizeof(*e));
}

void rs_envelope_cleanup(rs_envelope_t *env) {
	size_t i;

	if (!env)
		return;
	rs_free(env->id);
	rs_free(env->tenant);
	rs_free(env->kind);
	rs_free(env->key);
	rs_free(env->source);
	rs_free(env->planner);
	rs_free(env->trace);
	cJSON_Delete(env->change);
	/* The typed view is freed whatever the kind says: a caller may have
	 * filled members before setting kind. */
	gm_cleanup(env);
	for (i = 0; i < env->error_cnt; i++)
		error_entry_free(&env->errors[i]);
	rs_free(env->errors);
	rs_envelope_init(env);
}

/* Strings used as keys, names and ids: bounded, no control characters
 * (they end up in logs, metric labels and URLs). */
static bool str_clean(const char *s, size_t max) {
	size_t n = 0;

	for (; *s; s++, n++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f || n >= max)
			return false;
	return true;
}

/*
 * Whether s[0..n) holds a control character (< 0x20 or 0x7f), eight bytes
 * at a time: a byte-wise loop was a tenth of the decode.  The word tests
 * are "hasless(w, 0x20)" and "haszero(w ^ 0x7f..)" of Bit Twiddling Hacks,
 * exact for "is there any such byte" (bytes >= 0x80 never match).
 */
static bool has_ctrl(const unsigned char *s, size_t n) {
	const uint64_t ones = 0x0101010101010101ULL;
	const uint64_t high = 0x8080808080808080ULL;
	uint64_t w, d;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		memcpy(&w, s + i, sizeof(w));
		d = w ^ (ones * 0x7f);
		if (((w - ones * 0x20) & ~w & high) | ((d - ones) & ~d & high))
			return true;
	}
	for (; i < n; i++)
		if (s[i] < 0x20 || s[i] == 0x7f)
			return true;
	return false;
}

/*
 * The decoder reads an object's fields through one pass over its members
 * (fields_collect) instead of one cJSON_GetObjectItemCaseSensitive scan
 * per field: the scans were a seventh of the decode (strcmp).  The first
 * member of a name wins, as with cJSON_GetObjectItemCaseSensitive.  Names
 * are listed in the encoder's order, and the search starts after the last
 * match, so a well-formed envelope costs one strcmp per member.
 */
static void fields_collect(const cJSON *obj, const char *const *names,
			   size_t n, cJSON **out) {
	cJSON *it;
	size_t hint = 0, j, k;

	memset(out, 0, n * sizeof(*out));
	for (it = obj->child; it; it = it->next) {
		if (!it->string)
			continue;
		for (j = 0, k = hint; j < n; j++, k = k + 1 < n ? k + 1 : 0) {
			if (strcmp(it->string, names[k]) != 0)
				continue;
			if (!out[k])
				out[k] = it;
			hint = k + 1 < n ? k + 1 : 0;
			break;
		}
	}
}

/*
 * `pfx` and `idx` make the path that prefixes a field's name in messages
 * ("change.adds[3].") so an operator reading a DLQ entry sees exactly which
 * value was wrong: `pfx` as is when idx < 0, else "<pfx>[<idx>].".  It is
 * formatted only when there is an error to report.
 */
static const char *path_of(char *buf, size_t size, const char *pfx,
			   long idx) {
	if (idx < 0)
		return pfx;
	rs_snprintf(buf, size, "%s[%ld].", pfx, idx);
	return buf;
}

/*
 * Field readers.  A missing optional field leaves *out untouched (NULL / 0
 * from init).
 *
 * @p steal: take the string from the parsed tree instead of copying it
 * (for trees the decoder frees afterwards).  cJSON allocates with malloc
 * unless cJSON_InitHooks says otherwise, and rostersync never calls it
 * (scripts/checksrc.sh bans it), so rs_free can free the string; the node
 * is left without one, which cJSON_Delete skips.
 */
static rs_err_t get_str(cJSON *it, const char *pfx, long idx,
			const char *name, bool required, size_t max,
			bool steal, char **out, char *errstr,
			size_t errstr_size) {
	char pb[64];
	size_t n;

	if (!it || cJSON_IsNull(it)) {
		if (!required)
			return RS_OK;
		ERRF("field '%s%s' is missing",
		     path_of(pb, sizeof(pb), pfx, idx), name);
		return RS_ERR_BAD_MESSAGE;
	}
	if (!cJSON_IsString(it) || !it->valuestring) {
		ERRF("field '%s%s' is not a string",
		     path_of(pb, sizeof(pb), pfx, idx), name);
		return RS_ERR_BAD_MESSAGE;
	}
	if (required && !it->valuestring[0]) {
		ERRF("field '%s%s' is empty",
		     path_of(pb, sizeof(pb), pfx, idx), name);
		return RS_ERR_BAD_MESSAGE;
	}
	/* Too long is reported first, as it is the more useful message;
	 * strnlen reads no further than max + 1. */
	n = strnlen(it->valuestring, max + 1);
	if (n > max) {
		ERRF("field '%s%s' is longer than %zu",
		     path_of(pb, sizeof(pb), pfx, idx), name, max);
		return RS_ERR_TOO_LARGE;
	}
	if (has_ctrl((const unsigned char *)it->valuestring, n)) {
		ERRF("field '%s%s' contains control characters",
		     path_of(pb, sizeof(pb), pfx, idx), name);
		return RS_ERR_BAD_MESSAGE;
	}
	if (steal) {
		*out = it->valuestring;
		it->valuestring = NULL;
	} else {
		*out = rs_malloc(n + 1);
		memcpy(*out, it->valuestring, n + 1);
	}
	return RS_OK;
}

static rs_err_t get_int(const cJSON *it, const char *name, bool required,
			int64_t min, int64_t max, int64_t *out, char *errstr,
			size_t errstr_size) {
	double d;

	if (!it) {
		if (!required)
			return RS_OK;
		ERRF("field '%s' is missing", name);
		return RS_ERR_BAD_MESSAGE;
	}
	if (!cJSON_IsNumber(it)) {
		ERRF("field '%s' is not an integer", name);
		return RS_ERR_BAD_MESSAGE;
	}
	d = it->valuedouble;
	/* Doubles above 2^53 lose integers silently: refuse them rather
	 * than compare generations wrongly (Guarantee 3). */
	if (!isfinite(d) || d != floor(d) || fabs(d) > JSON_INT_MAX) {
		ERRF("field '%s' is not an integer", name);
		return RS_ERR_BAD_MESSAGE;
	}
	if (d < (double)min || d > (double)max) {
		ERRF("field '%s' is out of range", name);
		return RS_ERR_BAD_MESSAGE;
	}
	*out = (int64_t)d;
	return RS_OK;
}

/*
 * One member list (adds or removes).  The count is checked before any
 * allocation, so a hostile message cannot make the worker allocate more
 * than the bound allows.  Entries are counted as they are filled, so the
 * caller's cleanup frees exactly what was copied when an entry is bad.
 * The strings are copied: the change object stays in the envelope.
 */
static rs_err_t member_list(const cJSON *arr, const char *pfx,
			    rs_env_member_t **out, size_t *out_cnt,
			    char *errstr, size_t errstr_size) {
	static const char *const mnames[] = {"id", "email"};
	cJSON *m, *f[RS_ARRAY_SIZE(mnames)];
	rs_env_member_t *list;
	size_t n, i = 0;
	char pb[64];
	rs_err_t err;

	if (!arr || cJSON_IsNull(arr))
		return RS_OK;
	if (!cJSON_IsArray(arr)) {
		ERRF("field '%s' is not an array", pfx);
		return RS_ERR_BAD_MESSAGE;
	}
	n = (size_t)cJSON_GetArraySize(arr);
	if (n > RS_ENVELOPE_MAX_MEMBERS) {
		ERRF("field '%s' has %zu entries (max %d)", pfx, n,
		     RS_ENVELOPE_MAX_MEMBERS);
		return RS_ERR_TOO_LARGE;
	}
	/* An empty list stays NULL, as a missing one. */
	if (!n)
		return RS_OK;
	/* Capacity is a power of two, the growth rule of
	 * rs_envelope_member_add, so members can be added after decode. */
	{
		size_t cap = 1;
		while (cap < n)
			cap *= 2;
		list = rs_calloc(cap, sizeof(*list));
	}
	/* Hand the list over first so a failure midway is freed by the
	 * caller's cleanup. */
	*out = list;
	*out_cnt = 0;
	cJSON_ArrayForEach(m, arr) {
		if (!cJSON_IsObject(m)) {
			ERRF("field '%s[%zu]' is not an object", pfx, i);
			return RS_ERR_BAD_MESSAGE;
		}
		*out_cnt = i + 1;
		fields_collect(m, mnames, RS_ARRAY_SIZE(mnames), f);
		err = get_str(f[0], pfx, (long)i, "id", true, RS_GUID_LEN,
			      false, &list[i].id, errstr, errstr_size);
		if (err == RS_ERR_TOO_LARGE || (err == RS_OK &&
						!rs_guid_valid(list[i].id))) {
			ERRF("field '%sid' is not a GUID",
			     path_of(pb, sizeof(pb), pfx, (long)i));
			return RS_ERR_BAD_MESSAGE;
		}
		if (err != RS_OK)
			return err;
		err = get_str(f[1], pfx, (long)i, "email", false,
			      MEMBER_EMAIL_MAX, false, &list[i].email, errstr,
			      errstr_size);
		if (err != RS_OK)
			return err;
		i++;
	}
	return RS_OK;
}

/* group.members: {"group_id","mode","adds":[{id,email}],"removes":[...]} */
static rs_err_t gm_validate(rs_envelope_t *env, const cJSON *change,
			    char *errstr, size_t errstr_size) {
	static const char *const names[] = {"group_id", "mode", "adds",
					    "removes"};
	rs_env_group_members_t *gm = &env->members;
	cJSON *f[RS_ARRAY_SIZE(names)];
	size_t tl;
	rs_err_t err;

	gm_cleanup(env);
	fields_collect(change, names, RS_ARRAY_SIZE(names), f);
	err = get_str(f[0], "change.", -1, "group_id", true, RS_GUID_LEN,
		      false, &gm->group_id, errstr, errstr_size);
	if (err == RS_ERR_TOO_LARGE ||
	    (err == RS_OK && !rs_guid_valid(gm->group_id))) {
		ERRF("field 'change.group_id' is not a GUID");
		return RS_ERR_BAD_MESSAGE;
	}
	if (err != RS_OK)
		return err;
	err = get_str(f[1], "change.", -1, "mode", true, 16, false, &gm->mode,
		      errstr, errstr_size);
	if (err != RS_OK)
		return err;
	if (strcmp(gm->mode, "exact") != 0 && strcmp(gm->mode, "additive") != 0) {
		ERRF("field 'change.mode' must be \"exact\" or \"additive\"");
		return RS_ERR_BAD_MESSAGE;
	}
	err = member_list(f[2], "change.adds", &gm->adds, &gm->add_cnt, errstr,
			  errstr_size);
	if (err != RS_OK)
		return err;
	err = member_list(f[3], "change.removes", &gm->removes, &gm->remove_cnt,
			  errstr, errstr_size);
	if (err != RS_OK)
		return err;
	/* The key is what orders jobs on a partition: it must be the
	 * group the change touches, or two jobs for one group could race.
	 * key == tenant "/" group_id, compared in place. */
	tl = strlen(env->tenant);
	if (strncmp(env->key, env->tenant, tl) != 0 || env->key[tl] != '/' ||
	    strcmp(env->key + tl + 1, gm->group_id) != 0) {
		ERRF("field 'key' must be \"<tenant>/<group_id>\"");
		return RS_ERR_BAD_MESSAGE;
	}
	return RS_OK;
}

/* Members are written in list order: the planner sorts them, which keeps
 * the change JSON, and therefore the id, deterministic. */
static cJSON *members_json(const rs_env_member_t *list, size_t cnt) {
	cJSON *arr = cJSON_CreateArray(), *m;
	size_t i;

	for (i = 0; i < cnt; i++) {
		m = cJSON_CreateObject();
		cJSON_AddStringToObject(m, "id", list[i].id ? list[i].id : "");
		if (list[i].email)
			cJSON_AddStringToObject(m, "email", list[i].email);
		cJSON_AddItemToArray(arr, m);
	}
	return arr;
}

static cJSON *gm_build(const rs_envelope_t *env) {
	const rs_env_group_members_t *gm = &env->members;
	cJSON *c = cJSON_CreateObject();

	cJSON_AddStringToObject(c, "group_id",
				gm->group_id ? gm->group_id : "");
	cJSON_AddStringToObject(c, "mode", gm->mode ? gm->mode : "additive");
	cJSON_AddItemToObject(c, "adds", members_json(gm->adds, gm->add_cnt));
	cJSON_AddItemToObject(c, "removes",
			      members_json(gm->removes, gm->remove_cnt));
	return c;
}

/* The history is untrusted like the rest: bounded in count on decode (the
 * encoder never writes more than FIRST + LAST) and every field typed. */
static rs_err_t errors_decode(rs_envelope_t *env, const cJSON *arr,
			      const cJSON *dropped, char *errstr,
			      size_t errstr_size) {
	static const char *const names[] = {"time", "attempt", "http_status",
					    "code", "message", "request_id"};
	cJSON *e, *f[RS_ARRAY_SIZE(names)];
	size_t n, i = 0;
	int64_t v;
	rs_err_t err;
	char pb[32];

	if (!arr || cJSON_IsNull(arr))
		return RS_OK;
	if (!cJSON_IsArray(arr)) {
		ERRF("field 'errors' is not an array");
		return RS_ERR_BAD_MESSAGE;
	}
	n = (size_t)cJSON_GetArraySize(arr);
	if (n > RS_ENVELOPE_ERRORS_FIRST + RS_ENVELOPE_ERRORS_LAST) {
		ERRF("field 'errors' has %zu entries (max %d)", n,
		     RS_ENVELOPE_ERRORS_FIRST + RS_ENVELOPE_ERRORS_LAST);
		return RS_ERR_TOO_LARGE;
	}
	env->errors = rs_calloc(RS_ENVELOPE_ERRORS_FIRST +
					RS_ENVELOPE_ERRORS_LAST,
				sizeof(*env->errors));
	cJSON_ArrayForEach(e, arr) {
		rs_env_error_t *x = &env->errors[i];
		if (!cJSON_IsObject(e)) {
			ERRF("field 'errors[%zu]' is not an object", i);
			return RS_ERR_BAD_MESSAGE;
		}
		fields_collect(e, names, RS_ARRAY_SIZE(names), f);
		env->error_cnt = ++i;
		v = 0;
		err = get_int(f[0], "time", false, 0, INT64_MAX, &v, errstr,
			      errstr_size);
		x->time = v;
		v = 0;
		if (err == RS_OK)
			err = get_int(f[1], "attempt", false, 0, INT32_MAX, &v,
				      errstr, errstr_size);
		x->attempt = (int)v;
		v = 0;
		if (err == RS_OK)
			err = get_int(f[2], "http_status", false, 0, 999, &v,
				      errstr, errstr_size);
		x->http_status = (int)v;
		/* The root is freed after decode: its strings are taken. */
		if (err == RS_OK)
			err = get_str(f[3], "errors", (long)(i - 1), "code",
				      false, 128, true, &x->code, errstr,
				      errstr_size);
		if (err == RS_OK)
			err = get_str(f[5], "errors", (long)(i - 1),
				      "request_id", false, 128, true,
				      &x->request_id, errstr, errstr_size);
		if (err != RS_OK)
			return err;
		/* Messages come from remote APIs and may hold newlines;
		 * they are kept verbatim but bounded. */
		if (f[4] && !cJSON_IsNull(f[4])) {
			if (!cJSON_IsString(f[4])) {
				ERRF("field '%smessage' is not a string",
				     path_of(pb, sizeof(pb), "errors",
					     (long)(i - 1)));
				return RS_ERR_BAD_MESSAGE;
			}
			x->message = rs_strndup(f[4]->valuestring,
						RS_ENVELOPE_ERROR_MSG_MAX);
		}
	}
	v = 0;
	err = get_int(dropped, "errors_dropped", false, 0, INT64_MAX, &v,
		      errstr, errstr_size);
	env->errors_dropped = (uint64_t)v;
	return err;
}

/* The top-level fields, in the encoder's order (see fields_collect). */
enum {
	F_V,
	F_ID,
	F_TENANT,
	F_KIND,
	F_KEY,
	F_GENERATION,
	F_ATTEMPT,
	F_NOT_BEFORE,
	F_CREATED,
	F_SOURCE,
	F_PLANNER,
	F_TRACE,
	F_CHANGE,
	F_ERRORS,
	F_ERRORS_DROPPED,
	F_COUNT
};
static const char *const root_names[F_COUNT] = {
	[F_V] = "v",
	[F_ID] = "id",
	[F_TENANT] = "tenant",
	[F_KIND] = "kind",
	[F_KEY] = "key",
	[F_GENERATION] = "generation",
	[F_ATTEMPT] = "attempt",
	[F_NOT_BEFORE] = "not_before",
	[F_CREATED] = "created",
	[F_SOURCE] = "source",
	[F_PLANNER] = "planner",
	[F_TRACE] = "trace",
	[F_CHANGE] = "change",
	[F_ERRORS] = "errors",
	[F_ERRORS_DROPPED] = "errors_dropped",
};

/*
 * Order of checks: size before parsing (cJSON allocates per node), version
 * before anything else (a v2 job must be reported as "newer", not as a
 * pile of field errors), then the common fields, then the kind's change.
 */
rs_err_t rs_envelope_decode(const char *buf, size_t len, int flags,
			    rs_envelope_t *env, char *errstr,
			    size_t errstr_size) {
	cJSON *root = NULL, *f[F_COUNT], *change;
	const kind_desc_t *kd;
	rs_err_t err = RS_ERR_BAD_MESSAGE;
	int64_t v = 0;

	rs_envelope_init(env);
	if (errstr_size)
		errstr[0] = '\0';
	if (!buf || len > RS_ENVELOPE_MAX_BYTES) {
		ERRF("%zu bytes (max %u)", len, RS_ENVELOPE_MAX_BYTES);
		return buf ? RS_ERR_TOO_LARGE : RS_ERR_BAD_MESSAGE;
	}
	root = cJSON_ParseWithLength(buf, len);
	if (!root || !cJSON_IsObject(root)) {
		ERRF("not a JSON object");
		goto out;
	}
	fields_collect(root, root_names, F_COUNT, f);

	err = get_int(f[F_V], "v", true, 1, INT32_MAX, &v, errstr,
		      errstr_size);
	if (err != RS_OK)
		goto out;
	if (v > RS_ENVELOPE_VERSION) {
		ERRF("version %lld not supported (max %d)", (long long)v,
		     RS_ENVELOPE_VERSION);
		err = RS_ERR_UNSUPPORTED;
		goto out;
	}
	env->v = (int)v;

	/* The root is freed below: its strings are taken, not copied. */
#define STR(name, idx, req)                                                    \
	do {                                                                   \
		err = get_str(f[idx], "", -1, #name, req,                      \
			      RS_ENVELOPE_MAX_STR, true, &env->name, errstr,   \
			      errstr_size);                                    \
		if (err != RS_OK)                                              \
			goto out;                                              \
	} while (0)
#define INT(name, idx, req, min, max)                                          \
	do {                                                                   \
		v = 0;                                                         \
		err = get_int(f[idx], #name, req, min, max, &v, errstr,        \
			      errstr_size);                                    \
		if (err != RS_OK)                                              \
			goto out;                                              \
		env->name = v;                                                 \
	} while (0)
	STR(id, F_ID, true);
	STR(tenant, F_TENANT, true);
	STR(kind, F_KIND, true);
	STR(key, F_KEY, true);
	INT(generation, F_GENERATION, true, 0, INT64_MAX);
	INT(attempt, F_ATTEMPT, false, 0, INT32_MAX);
	INT(not_before, F_NOT_BEFORE, false, 0, INT64_MAX);
	INT(created, F_CREATED, true, 0, INT64_MAX);
	STR(source, F_SOURCE, false);
	STR(planner, F_PLANNER, false);
	STR(trace, F_TRACE, false);
#undef STR
#undef INT

	change = f[F_CHANGE];
	if (!change) {
		ERRF("field 'change' is missing");
		err = RS_ERR_BAD_MESSAGE;
		goto out;
	}
	if (!cJSON_IsObject(change)) {
		ERRF("field 'change' is not an object");
		err = RS_ERR_BAD_MESSAGE;
		goto out;
	}
	env->kind_id = rs_env_kind_lookup(env->kind);
	kd = kind_find_id(env->kind_id);
	if (!kd && (flags & RS_ENVELOPE_F_STRICT)) {
		ERRF("unknown kind '%s'", env->kind);
		err = RS_ERR_UNSUPPORTED;
		goto out;
	}
	if (kd) {
		err = kd->validate(env, change, errstr, errstr_size);
		if (err != RS_OK)
			goto out;
	}
	err = errors_decode(env, f[F_ERRORS], f[F_ERRORS_DROPPED], errstr,
			    errstr_size);
	if (err != RS_OK)
		goto out;
	/* Detach change: the envelope owns it, root is freed below. */
	env->change = cJSON_DetachItemViaPointer(root, change);
	err = RS_OK;
out:
	cJSON_Delete(root);
	return err;
}

/* The change as the id and the encoder see it. */
static cJSON *change_for(const rs_envelope_t *env) {
	const kind_desc_t *kd;

	/* A known kind's typed view is authoritative once filled: a worker
	 * that edits members (e.g. drops adds already applied) re-encodes
	 * what it edited.  The raw object is used for unknown kinds and when
	 * the caller supplied only JSON. */
	kd = kind_find_id(rs_env_kind_lookup(env->kind));
	if (kd && kd->build && env->members.group_id)
		return kd->build(env);
	if (env->change)
		return cJSON_Duplicate(env->change, true);
	if (kd && kd->build)
		return kd->build(env);
	return NULL;
}

/* The id is hashed incrementally: no concatenated copy of a change that
 * can be megabytes long. */
rs_err_t rs_envelope_id_compute(rs_envelope_t *env, char *out, size_t size) {
	cJSON *change;
	char *cj = NULL, num[32];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	EVP_MD_CTX *ctx;
	rs_err_t err = RS_ERR_INVALID_ARG;

	if (size < 65 || !env->tenant || !env->kind || !env->key)
		return RS_ERR_INVALID_ARG;
	change = change_for(env);
	if (!change)
		return RS_ERR_INVALID_ARG;
	cj = cJSON_PrintUnformatted(change);
	cJSON_Delete(change);
	if (!cj)
		return RS_ERR_FAIL;
	rs_snprintf(num, sizeof(num), "%lld", (long long)env->generation);

	ctx = EVP_MD_CTX_new();
	if (!ctx)
		goto out;
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, env->tenant, strlen(env->tenant)) != 1 ||
	    EVP_DigestUpdate(ctx, "|", 1) != 1 ||
	    EVP_DigestUpdate(ctx, env->kind, strlen(env->kind)) != 1 ||
	    EVP_DigestUpdate(ctx, "|", 1) != 1 ||
	    EVP_DigestUpdate(ctx, env->key, strlen(env->key)) != 1 ||
	    EVP_DigestUpdate(ctx, "|", 1) != 1 ||
	    EVP_DigestUpdate(ctx, num, strlen(num)) != 1 ||
	    EVP_DigestUpdate(ctx, "|", 1) != 1 ||
	    EVP_DigestUpdate(ctx, cj, strlen(cj)) != 1 ||
	    EVP_DigestFinal_ex(ctx, md, &mdlen) != 1) {
		err = RS_ERR_CRYPTO;
		goto out;
	}
	for (i = 0; i < mdlen && i * 2 + 2 < size; i++)
		rs_snprintf(out + i * 2, 3, "%02x", md[i]);
	err = RS_OK;
out:
	EVP_MD_CTX_free(ctx);
	cJSON_free(cj);
	return err;
}

static void add_str(cJSON *o, const char *name, const char *v) {
	if (v)
		cJSON_AddStringToObject(o, name, v);
}

rs_err_t rs_envelope_encode(rs_envelope_t *env, char **out, size_t *out_len,
			    char *errstr, size_t errstr_size) {
	cJSON *root = NULL, *arr, *e, *change;
	char *txt = NULL, id[65];
	rs_envelope_t check;
	rs_err_t err = RS_ERR_INVALID_ARG;
	size_t i, len;

	*out = NULL;
	if (out_len)
		*out_len = 0;
	rs_envelope_init(&check);
	if (!env->tenant || !env->kind || !env->key) {
		ERRF("tenant, kind and key are required");
		goto out;
	}
	change = change_for(env);
	if (!change) {
		ERRF("field 'change' is missing");
		err = RS_ERR_BAD_MESSAGE;
		goto out;
	}
	if (!env->id) {
		err = rs_envelope_id_compute(env, id, sizeof(id));
		if (err != RS_OK) {
			cJSON_Delete(change);
			ERRF("cannot compute id: %s", rs_err_str(err));
			goto out;
		}
		env->id = rs_strdup(id);
	}

	root = cJSON_CreateObject();
	cJSON_AddNumberToObject(root, "v", env->v ? env->v
						   : RS_ENVELOPE_VERSION);
	add_str(root, "id", env->id);
	add_str(root, "tenant", env->tenant);
	add_str(root, "kind", env->kind);
	add_str(root, "key", env->key);
	cJSON_AddNumberToObject(root, "generation", (double)env->generation);
	cJSON_AddNumberToObject(root, "attempt", env->attempt);
	cJSON_AddNumberToObject(root, "not_before", (double)env->not_before);
	cJSON_AddNumberToObject(root, "created", (double)env->created);
	add_str(root, "source", env->source);
	add_str(root, "planner", env->planner);
	add_str(root, "trace", env->trace);
	cJSON_AddItemToObject(root, "change", change);
	if (env->error_cnt) {
		arr = cJSON_AddArrayToObject(root, "errors");
		for (i = 0; i < env->error_cnt; i++) {
			const rs_env_error_t *x = &env->errors[i];
			e = cJSON_CreateObject();
			cJSON_AddNumberToObject(e, "time", (double)x->time);
			cJSON_AddNumberToObject(e, "attempt", x->attempt);
			cJSON_AddNumberToObject(e, "http_status",
						x->http_status);
			add_str(e, "code", x->code);
			add_str(e, "message", x->message);
			add_str(e, "request_id", x->request_id);
			cJSON_AddItemToArray(arr, e);
		}
		cJSON_AddNumberToObject(root, "errors_dropped",
					(double)env->errors_dropped);
	}
	txt = cJSON_PrintUnformatted(root);
	if (!txt) {
		err = RS_ERR_FAIL;
		ERRF("cJSON print failed");
		goto out;
	}
	len = strlen(txt);
	/* Validate our own output with the decoder: the encoder can never
	 * publish a job a worker would reject. */
	err = rs_envelope_decode(txt, len, 0, &check, errstr, errstr_size);
	if (err != RS_OK)
		goto out;
	*out = rs_malloc(len + 1);
	memcpy(*out, txt, len + 1);
	if (out_len)
		*out_len = len;
out:
	rs_envelope_cleanup(&check);
	cJSON_free(txt);
	cJSON_Delete(root);
	return err;
}

/* Members are appended through here so the bound and the GUID check hold
 * for envelopes built in memory, not only for decoded ones. */
rs_err_t rs_envelope_member_add(rs_envelope_t *env, bool removes,
				const char *id, const char *email) {
	rs_env_group_members_t *gm = &env->members;
	rs_env_member_t **list = removes ? &gm->removes : &gm->adds;
	size_t *cnt = removes ? &gm->remove_cnt : &gm->add_cnt;

	if (!rs_guid_valid(id) ||
	    (email && (strlen(email) > MEMBER_EMAIL_MAX ||
		       !str_clean(email, MEMBER_EMAIL_MAX))))
		return RS_ERR_INVALID_ARG;
	if (*cnt >= RS_ENVELOPE_MAX_MEMBERS)
		return RS_ERR_TOO_LARGE;
	/* Grow by doubling; the bound above caps the allocation. */
	if ((*cnt & (*cnt - 1)) == 0)
		*list = rs_realloc(*list, (*cnt ? *cnt * 2 : 1) *
						  sizeof(**list));
	(*list)[*cnt].id = rs_strdup(id);
	(*list)[*cnt].email = rs_strdup(email);
	(*cnt)++;
	return RS_OK;
}

/* History strings come from remote APIs: control characters become spaces
 * so a stored entry always decodes again. */
static char *dup_clean(const char *s, size_t max) {
	char *d, *p;

	if (!s)
		return NULL;
	d = rs_strndup(s, max);
	for (p = d; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	return d;
}

void rs_envelope_error_append(rs_envelope_t *env, int64_t time, int attempt,
			      int http_status, const char *code,
			      const char *message, const char *request_id) {
	const size_t cap = RS_ENVELOPE_ERRORS_FIRST + RS_ENVELOPE_ERRORS_LAST;
	rs_env_error_t *x;

	if (!env->errors)
		env->errors = rs_calloc(cap, sizeof(*env->errors));
	if (env->error_cnt == cap) {
		/* Keep the first entries (what went wrong originally) and
		 * the latest ones (what is wrong now); drop the oldest of
		 * the "last" window. */
		error_entry_free(&env->errors[RS_ENVELOPE_ERRORS_FIRST]);
		memmove(&env->errors[RS_ENVELOPE_ERRORS_FIRST],
			&env->errors[RS_ENVELOPE_ERRORS_FIRST + 1],
			(cap - RS_ENVELOPE_ERRORS_FIRST - 1) *
				sizeof(*env->errors));
		env->error_cnt--;
		env->errors_dropped++;
	}
	x = &env->errors[env->error_cnt++];
	memset(x, 0, sizeof(*x));
	x->time = time;
	x->attempt = attempt;
	x->http_status = http_status;
	x->code = dup_clean(code, 127);
	x->message = dup_clean(message, RS_ENVELOPE_ERROR_MSG_MAX);
	x->request_id = dup_clean(request_id, 127);
}
