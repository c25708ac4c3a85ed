/*
 * rs_dlq.h - the records around the dead-letter queue, as plain values:
 * DLQ entries (what the worker dead-letters), the DLQ-state records the
 * `rostersync dlq` tool writes (replayed / purged marks), and the records
 * of the compacted `applied` topic.
 *
 * Every decoder here reads UNTRUSTED input (anything can be produced to a
 * topic, by hand or by an older/newer version): it never crashes, bounds
 * every string, and says what is wrong in one line.  Fuzz target:
 * tests/fuzz/fuzz_dlq_entry.c.  Format and design: docs/cli.md.
 *
 * Entry id: "<partition>-<offset>" of the record in the DLQ topic.  Unique
 * and stable for the life of the topic (offsets are never reused); a
 * state record also carries the entry's job id and time, so state written
 * for an older incarnation of a deleted and re-created topic is ignored.
 */
#ifndef RS_DLQ_H
#define RS_DLQ_H

#include "rs_base.h"
#include "rs_envelope.h"
#include "rs_err.h"

/** "<int32>-<int64>" plus NUL. */
#define RS_DLQ_ID_MAX 32
/** Job ids are hex SHA-256 (64) but a hand-made one may be any string up
 *  to this bound; longer ones are refused. */
#define RS_DLQ_JOB_ID_MAX 128
/** Longest raw payload kept from an "invalid" or malformed record. */
#define RS_DLQ_RAW_MAX 4096
/** Longest reason text kept (the worker's "error", our decode error). */
#define RS_DLQ_ERROR_MAX 512

/**
 * One record as read from a topic (borrowed pointers, valid for the call
 * that gets it).  @p timestamp is ms since the epoch, -1 if none.
 */
typedef struct rs_dlq_rec_s {
	int32_t partition;
	int64_t offset;
	int64_t timestamp;
	const void *key;
	size_t keylen;
	const void *value;
	size_t len;
} rs_dlq_rec_t;

/** What a DLQ record holds. */
typedef enum {
	RS_DLQ_JOB = 0,   /**< a job envelope with its error history */
	RS_DLQ_INVALID,   /**< the worker's {"kind":"invalid",...} wrapper */
	RS_DLQ_MALFORMED, /**< neither: not written by a worker we know */
} rs_dlq_type_t;

/**
 * A decoded DLQ entry: a PLAIN VALUE struct owning every pointer
 * (rs_dlq_entry_cleanup() frees them).  The summary fields are filled for
 * every type, as far as the record allows (NULL / -1 when unknown), so a
 * listing can show malformed entries too.  Strings are NUL-terminated and
 * may still contain any printable byte: sanitise before printing them to a
 * terminal (rs_dlq_str_sanitize()).
 */
typedef struct rs_dlq_entry_s {
	char id[RS_DLQ_ID_MAX]; /**< "<partition>-<offset>" */
	int32_t partition;
	int64_t offset;
	/** ms epoch the entry was dead-lettered: the record's timestamp,
	 *  else the last error's (or the wrapper's) time, else 0. */
	int64_t time;
	rs_dlq_type_t type;
	rs_envelope_t env; /**< RS_DLQ_JOB: the decoded job, else empty */

	/* Summary (owned copies; NULL when unknown). */
	char *job_id;
	char *tenant;
	char *kind; /**< "invalid" for the wrapper */
	char *key;  /**< the job key, else the record key */
	int64_t generation; /**< -1 when unknown */
	int attempts;       /**< attempts already made (env.attempt) */
	int http_status;    /**< of the last error, 0 if none */
	char *code;         /**< of the last error */
	char *message;      /**< of the last error, the wrapper's or
				 our decode error */
	char *raw;          /**< INVALID/MALFORMED: payload, bounded */
	bool raw_truncated;
} rs_dlq_entry_t;

/** @brief Zeroes @p e. */
void rs_dlq_entry_init(rs_dlq_entry_t *e);
/** @brief Frees every owned field and re-inits.  NULL-safe. */
void rs_dlq_entry_cleanup(rs_dlq_entry_t *e);

/**
 * @brief Decodes one DLQ record into @p e (initialised by this call;
 *        rs_dlq_entry_cleanup() it in every case).
 * @returns RS_OK for RS_DLQ_JOB and RS_DLQ_INVALID; for a record that is
 *          neither, e->type is RS_DLQ_MALFORMED, e->message says why
 *          ("not JSON", "envelope: field 'generation' is not an integer")
 *          and the return is RS_ERR_BAD_MESSAGE (or RS_ERR_TOO_LARGE /
 *          RS_ERR_UNSUPPORTED as the envelope decoder said).
 * @remark Never fails otherwise; any bytes are accepted.
 * @locality any thread.
 */
rs_err_t rs_dlq_entry_decode(const rs_dlq_rec_t *rec, rs_dlq_entry_t *e);

/** @brief Formats an entry id into @p buf (>= RS_DLQ_ID_MAX). */
void rs_dlq_id_format(int32_t partition, int64_t offset, char *buf,
		      size_t size);

/**
 * @brief Parses "<partition>-<offset>" (decimal, no sign, no spaces).
 * @returns RS_OK or RS_ERR_PARSE.
 */
rs_err_t rs_dlq_id_parse(const char *s, int32_t *partition, int64_t *offset);

/** Replay/purge status of an entry, as recorded in the DLQ-state topic. */
typedef enum {
	RS_DLQ_ST_DEAD = 0,  /**< no state record: still dead */
	RS_DLQ_ST_REPLAYING, /**< replay started, end not confirmed */
	RS_DLQ_ST_REPLAYED,  /**< republished (never again) */
	RS_DLQ_ST_PURGED,    /**< hidden for good */
} rs_dlq_status_t;

/** @returns "dead", "replaying", "replayed", "purged". */
const char *rs_dlq_status_name(rs_dlq_status_t st);

/** A DLQ-state record (plain value, fixed buffers). */
typedef struct rs_dlq_state_s {
	char id[RS_DLQ_ID_MAX];             /**< the entry it is about */
	rs_dlq_status_t status;
	char job_id[RS_DLQ_JOB_ID_MAX + 1]; /**< "" for non-job entries */
	int64_t entry_time;                 /**< the entry's time (match) */
	int64_t time;                       /**< when it was written */
} rs_dlq_state_t;

/**
 * @brief Encodes a state record:
 *        {"v":1,"id":"0-42","status":"replayed","job_id":"…",
 *         "entry_time":…,"time":…,"topic":"…"}.
 * @param topic where the job was republished (may be NULL).
 * @returns an rs_malloc'd string (rs_free it).
 */
char *rs_dlq_state_encode(const rs_dlq_state_t *st, const char *topic);

/**
 * @brief Decodes a state record (untrusted).
 * @returns RS_OK, RS_ERR_BAD_MESSAGE with @p errstr naming the field.
 */
rs_err_t rs_dlq_state_decode(const void *buf, size_t len, rs_dlq_state_t *st,
			     char *errstr, size_t errstr_size);

/**
 * @brief Whether state record @p st is about entry @p e: same id, and the
 *        same job id and entry time (a state record left from a deleted
 *        and re-created DLQ topic must not hide a new entry).
 */
bool rs_dlq_state_matches(const rs_dlq_state_t *st, const rs_dlq_entry_t *e);

/** A record of the compacted `applied` topic (plain value). */
typedef struct rs_dlq_applied_s {
	char key[RS_ENVELOPE_MAX_STR + 1];
	int64_t generation;
	char job_id[RS_DLQ_JOB_ID_MAX + 1]; /**< "" when absent */
	int64_t applied_at;                 /**< ms epoch, 0 when absent */
} rs_dlq_applied_t;

/**
 * @brief Decodes an applied record (untrusted):
 *        {"key":"t1/<gid>","generation":42,"job_id":"…","applied_at":…}.
 *        key and generation are required; the others optional.
 * @returns RS_OK, RS_ERR_BAD_MESSAGE with @p errstr naming the field.
 */
rs_err_t rs_dlq_applied_decode(const void *buf, size_t len,
			       rs_dlq_applied_t *a, char *errstr,
			       size_t errstr_size);

/**
 * @brief Replaces bytes a terminal would interpret (C0 controls, DEL) by
 *        '?', in place, so untrusted text can be printed.  NULL-safe.
 */
void rs_dlq_str_sanitize(char *s);

#endif /* RS_DLQ_H */
