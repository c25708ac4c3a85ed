/*
 * rs_envelope.h - the job envelope (ARCHITECTURE.md "Job envelope").
 *
 * A job is one JSON object:
 *   {"v":1,"id":"<sha256 hex>","tenant":"t1","kind":"group.members",
 *    "key":"t1/<group-guid>","generation":42,"attempt":0,"not_before":0,
 *    "created":1763900000000,
 *    "source":"talkdesk:queues","planner":"host/run","trace":"00-...",
 *    "change":{...kind-specific...},
 *    "errors":[{"time":..,"attempt":..,"http_status":..,"code":"..",
 *               "message":"..","request_id":".."}],"errors_dropped":0}
 *
 * rs_envelope_t is a PLAIN VALUE struct (STYLE.md 4): fields are read and
 * written directly; every char * and the change object are owned by the
 * struct and freed by rs_envelope_cleanup().
 *
 * The change payload is kind-specific and kept as a cJSON object; a table of
 * kinds (name, validator, typed view) in rs_envelope.c checks it, so a new
 * kind is one table row plus one validator (docs/internals/envelope.md).
 * Unknown kinds decode fine (kind_id RS_ENV_KIND_UNKNOWN, change kept
 * verbatim) unless RS_ENVELOPE_F_STRICT is given: the worker decides.
 */
#ifndef RS_ENVELOPE_H
#define RS_ENVELOPE_H

#include "rs_base.h"
#include "rs_err.h"

#include <cjson/cJSON.h>

#define RS_ENVELOPE_VERSION 1
/** Largest encoded or decoded envelope. */
#define RS_ENVELOPE_MAX_BYTES (4u * 1024u * 1024u)
/** Most adds (and, separately, removes) per group.members job. */
#define RS_ENVELOPE_MAX_MEMBERS 10000
/** Longest string field (tenant, key, source, ...); emails <= 320. */
#define RS_ENVELOPE_MAX_STR 512
/** Error history bound: the first N and the last M entries are kept. */
#define RS_ENVELOPE_ERRORS_FIRST 2
#define RS_ENVELOPE_ERRORS_LAST 8
/** Longest error message kept in the history (truncated). */
#define RS_ENVELOPE_ERROR_MSG_MAX 512

/** Decode flags. */
#define RS_ENVELOPE_F_STRICT 0x1 /**< reject unknown kinds */

typedef enum {
	RS_ENV_KIND_UNKNOWN = 0,
	RS_ENV_KIND_GROUP_MEMBERS, /**< "group.members" */
} rs_env_kind_t;

/** @brief The kind's name, NULL for RS_ENV_KIND_UNKNOWN. */
const char *rs_env_kind_name(rs_env_kind_t kind);
/** @brief Looks a kind name up; RS_ENV_KIND_UNKNOWN if not in the table. */
rs_env_kind_t rs_env_kind_lookup(const char *name);

/** One member of a group.members change (owned strings; email may be NULL). */
typedef struct rs_env_member_s {
	char *id;    /**< directory object GUID */
	char *email; /**< for audit/logs; NULL if unknown */
} rs_env_member_t;

/** The typed view of a group.members change. */
typedef struct rs_env_group_members_s {
	char *group_id; /**< target group GUID */
	char *mode;     /**< "exact" or "additive" */
	rs_env_member_t *adds; /**< add_cnt entries; NULL when there are none */
	size_t add_cnt;
	rs_env_member_t *removes; /**< remove_cnt entries; NULL when none */
	size_t remove_cnt;
} rs_env_group_members_t;

/** One failed attempt, for the DLQ and `dlq show`. */
typedef struct rs_env_error_s {
	int64_t time;     /**< ms epoch */
	int attempt;
	int http_status;  /**< 0 if none */
	char *code;       /**< rs_err_name() or the API code; may be NULL */
	char *message;    /**< may be NULL */
	char *request_id; /**< Graph request-id; may be NULL */
} rs_env_error_t;

typedef struct rs_envelope_s {
	int v;              /**< schema version, RS_ENVELOPE_VERSION */
	char *id;           /**< idempotency key (rs_envelope_id_compute) */
	char *tenant;
	char *kind;         /**< kind name, also for unknown kinds */
	rs_env_kind_t kind_id;
	char *key;          /**< target key, also the queue message key */
	int64_t generation; /**< plan generation, monotonic per tenant */
	int attempt;        /**< 0 for the first try */
	int64_t not_before; /**< ms epoch, 0 = now */
	int64_t created;    /**< ms epoch */
	char *source;       /**< provenance: "talkdesk:queues"; may be NULL */
	char *planner;      /**< "host/run-id"; may be NULL */
	char *trace;        /**< W3C traceparent; may be NULL */
	cJSON *change;      /**< owned JSON object, the kind's payload */
	/** Typed view of change, valid when kind_id is GROUP_MEMBERS. */
	rs_env_group_members_t members;
	rs_env_error_t *errors; /**< bounded history */
	size_t error_cnt;
	uint64_t errors_dropped; /**< entries removed from the middle */
} rs_envelope_t;

/** @brief Zeroes the struct (v = RS_ENVELOPE_VERSION). */
void rs_envelope_init(rs_envelope_t *env);
/** @brief Frees every owned field and re-inits. NULL-safe. */
void rs_envelope_cleanup(rs_envelope_t *env);

/**
 * @brief Decodes and validates a JSON envelope into @p env (initialised by
 *        this call; rs_envelope_cleanup it even on failure).
 * @returns RS_OK; RS_ERR_TOO_LARGE (size or list limits);
 *          RS_ERR_UNSUPPORTED (version > 1, or unknown kind with
 *          RS_ENVELOPE_F_STRICT); RS_ERR_BAD_MESSAGE otherwise, with
 *          errstr naming the field: "envelope: field 'generation' is not
 *          an integer".
 */
rs_err_t rs_envelope_decode(const char *buf, size_t len, int flags,
			    rs_envelope_t *env, char *errstr,
			    size_t errstr_size);

/**
 * @brief Encodes @p env (validated first: the same checks as decode).
 *        For a known kind whose typed view is filled (group.members:
 *        members.group_id set) the change is built from the typed view,
 *        which is authoritative; otherwise env->change is encoded as is.
 *        An id is computed when env->id is NULL (and stored into env->id).
 * @param out receives an rs_malloc'd NUL-terminated string (rs_free it).
 */
rs_err_t rs_envelope_encode(rs_envelope_t *env, char **out, size_t *out_len,
			    char *errstr, size_t errstr_size);

/**
 * @brief The deterministic id: hex SHA-256 of
 *        "tenant|kind|key|generation|<compact change JSON>".  attempt,
 *        not_before and errors are not part of it, so retries keep the id.
 * @param out >= 65 bytes.
 * @remark for group.members the change is built from env->members when
 *         env->change is NULL.
 */
rs_err_t rs_envelope_id_compute(rs_envelope_t *env, char *out, size_t size);

/**
 * @brief Adds a member to the adds (removes == false) or removes list of a
 *        group.members envelope.  Copies the strings.
 * @remark lists must come from this function or from decode (their
 *         capacity follows a power-of-two rule); don't assign them by hand.
 * @returns RS_ERR_TOO_LARGE past RS_ENVELOPE_MAX_MEMBERS,
 *          RS_ERR_INVALID_ARG for a non-GUID id.
 */
rs_err_t rs_envelope_member_add(rs_envelope_t *env, bool removes,
				const char *id, const char *email);

/**
 * @brief Appends one attempt's error to the history, keeping the first
 *        RS_ENVELOPE_ERRORS_FIRST and last RS_ENVELOPE_ERRORS_LAST
 *        (errors_dropped counts the rest).  Strings are copied; message is
 *        truncated to RS_ENVELOPE_ERROR_MSG_MAX.
 */
void rs_envelope_error_append(rs_envelope_t *env, int64_t time, int attempt,
			      int http_status, const char *code,
			      const char *message, const char *request_id);

#endif /* RS_ENVELOPE_H */
