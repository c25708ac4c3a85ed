/*
 * rs_cli_dlq.h - the engine behind `rostersync dlq list|show|replay|purge`
 * (docs/cli.md).  Private to cli/ and its tests (test_cli_*.c).
 *
 * The engine talks to the queue only through rs_cli_dlq_io_t (scan a topic,
 * produce, flush, create a topic), so unit tests drive list/replay/purge
 * against in-memory topics, and the real program plugs in rs_queue
 * (cli/cli_dlq_io.c).  Everything streams: an entry is decoded, filtered,
 * printed or batched for replay, and freed, so memory is bounded by the
 * state and applied maps (one small record per key), not by the DLQ.
 */
#ifndef RS_CLI_DLQ_H
#define RS_CLI_DLQ_H

#include "rs/rs_base.h"
#include "rs/rs_conf.h"
#include "rs/rs_dlq.h"
#include "rs/rs_err.h"

#include <cjson/cJSON.h>
#include <signal.h>

/* ---------------------------------------------------------------------- */
/* String map (open addressing), for the state and applied records.       */

typedef struct rs_cli_map_s rs_cli_map_t;

/**
 * @brief Creates a map of at most @p max keys whose values are rs_malloc'd
 *        blocks freed by rs_cli_map_destroy().
 */
rs_cli_map_t *rs_cli_map_new(size_t max);
/** @brief Frees the keys and values.  NULL-safe. */
void rs_cli_map_destroy(rs_cli_map_t *m);
/** @returns the value of @p key or NULL. */
void *rs_cli_map_get(const rs_cli_map_t *m, const char *key);
/**
 * @brief Stores @p value (taking ownership; a previous value is freed).
 * @returns RS_OK, or RS_ERR_TOO_LARGE past the maximum (value freed).
 */
rs_err_t rs_cli_map_put(rs_cli_map_t *m, const char *key, void *value);
/** @returns the number of keys. */
size_t rs_cli_map_count(const rs_cli_map_t *m);

/* ---------------------------------------------------------------------- */
/* Queue access                                                           */

/** Called per record; anything but RS_OK stops the scan and is returned. */
typedef rs_err_t(rs_cli_scan_cb_t)(const rs_dlq_rec_t *rec, void *opaque);

/**
 * What the engine needs from the queue (a const vtable plus its context).
 * All calls come from one thread.
 */
typedef struct rs_cli_dlq_io_s {
	/** Reads @p topic from its start to its end at call time, outside
	 *  any consumer group.  RS_ERR_NOT_FOUND: no such topic. */
	rs_err_t (*scan)(void *ctx, const char *topic, rs_cli_scan_cb_t *cb,
			 void *opaque, char *errstr, size_t errstr_size);
	/** Enqueues one record; @p entry_id (may be NULL) goes into the
	 *  header "rostersync-dlq-entry". */
	rs_err_t (*produce)(void *ctx, const char *topic, const char *key,
			    const void *val, size_t len, const char *entry_id);
	/** Waits until everything produced is stored; RS_OK only when none
	 *  failed. */
	rs_err_t (*flush)(void *ctx, char *errstr, size_t errstr_size);
	/** Creates a compacted topic if missing. */
	rs_err_t (*ensure_compacted)(void *ctx, const char *topic,
				     char *errstr, size_t errstr_size);
	void *ctx;
} rs_cli_dlq_io_t;

/**
 * @brief The real io: rs_queue on the configured back-end, a producer-only
 *        handle (no consumer group is ever joined).
 * @returns RS_OK with *io filled, or an error with @p errstr.
 */
rs_err_t rs_cli_dlq_io_open(const rs_conf_t *conf, rs_cli_dlq_io_t *io,
			    char *errstr, size_t errstr_size);
/** @brief Flushes and frees what rs_cli_dlq_io_open() made. */
void rs_cli_dlq_io_close(rs_cli_dlq_io_t *io);

/* ---------------------------------------------------------------------- */
/* Filters and options                                                    */

/** Which entries a command takes (plain value; strings borrowed). */
typedef struct rs_cli_dlq_filter_s {
	const char *tenant; /**< exact, NULL = any */
	const char *kind;   /**< exact, NULL = any */
	const char *error;  /**< case-insensitive substring of any error's
				 code or message, NULL = any */
	int status;         /**< last HTTP status, -1 = any */
	int64_t since;      /**< entry time >= since (ms), 0 = open */
	int64_t until;      /**< entry time < until (ms), 0 = open */
	bool all;           /**< also replayed and purged entries */
} rs_cli_dlq_filter_t;

/** @brief Sets every filter to "any". */
void rs_cli_dlq_filter_init(rs_cli_dlq_filter_t *f);

/**
 * @brief Whether entry @p e in state @p st passes @p f.  Purged and
 *        replayed entries pass only with f->all.
 */
bool rs_cli_dlq_filter_match(const rs_cli_dlq_filter_t *f,
			     const rs_dlq_entry_t *e, rs_dlq_status_t st);

/** Options of one command run (plain value; strings borrowed). */
typedef struct rs_cli_dlq_opts_s {
	rs_cli_dlq_filter_t filter;
	const char *dlq_topic;
	const char *state_topic;   /**< compacted DLQ-state topic */
	const char *applied_topic; /**< compacted applied topic */
	const char *jobs_group_topic; /**< kinds "group.*" replay here */
	const char *jobs_user_topic;  /**< every other kind */
	bool json;    /**< list: JSON instead of a table */
	bool dry_run; /**< replay/purge: write nothing */
	bool force;   /**< replay: also superseded / already applied */
	bool yes;     /**< purge: really */
	double rate;  /**< replay: jobs per second, 0 = unlimited */
	size_t batch; /**< replay/purge: entries per batch, 0 = 500 */
	FILE *out;    /**< results */
	FILE *err;    /**< diagnostics */
	/** Set by a signal: stop after the current step, cleanly. */
	volatile sig_atomic_t *stop;
	/** Storage for the default state_topic name (keep the struct in
	 *  place after rs_cli_dlq_opts_init(): state_topic may point here). */
	char state_topic_buf[256];
} rs_cli_dlq_opts_t;

/**
 * @brief Fills the topic names from the configuration (DLQ-state topic:
 *        the DLQ topic + ".state"), out/err = stdout/stderr, no filter.
 */
void rs_cli_dlq_opts_init(rs_cli_dlq_opts_t *o, const rs_conf_t *conf);

/** Counts of one command run, for the summary line and the tests. */
typedef struct rs_cli_dlq_result_s {
	size_t scanned;      /**< DLQ records read */
	size_t matched;      /**< passed the filter */
	size_t malformed;    /**< records that are not a known format */
	size_t replayed;     /**< republished (or would be, dry-run) */
	size_t resent;       /**< of which were in doubt ("replaying") */
	size_t superseded;   /**< skipped: newer generation applied */
	size_t applied;      /**< skipped: this very job applied */
	size_t unreplayable; /**< skipped: invalid or malformed entries */
	size_t purged;       /**< marked purged (or would be) */
	size_t bad_state;    /**< unreadable state/applied records */
} rs_cli_dlq_result_t;

/**
 * @brief `dlq list`: the table (or a JSON array) of matching entries.
 * @returns RS_CLI_EXIT_OK, or RS_CLI_EXIT_FAIL when a topic cannot be read.
 */
int rs_cli_dlq_list(const rs_cli_dlq_io_t *io, const rs_cli_dlq_opts_t *o,
		    rs_cli_dlq_result_t *res);

/**
 * @brief `dlq show ID`: the whole record, pretty JSON, with its state.
 * @returns RS_CLI_EXIT_OK; RS_CLI_EXIT_USAGE for an id that does not
 *          parse; RS_CLI_EXIT_FAIL when not found or unreadable.
 */
int rs_cli_dlq_show(const rs_cli_dlq_io_t *io, const rs_cli_dlq_opts_t *o,
		    const char *id);

/**
 * @brief `dlq replay`: republishes matching dead jobs to their jobs
 *        topic, in DLQ order, skipping (and listing) superseded and
 *        already-applied ones unless o->force.  Never republishes an entry
 *        whose state is "replayed".  Protocol per batch: state
 *        "replaying" (flushed), jobs (flushed), state "replayed"
 *        (flushed); see docs/cli.md for the crash windows.
 * @returns RS_CLI_EXIT_OK; RS_CLI_EXIT_FAIL on a read or write failure or
 *          when interrupted before the end.
 */
int rs_cli_dlq_replay(const rs_cli_dlq_io_t *io, const rs_cli_dlq_opts_t *o,
		      rs_cli_dlq_result_t *res);

/**
 * @brief `dlq purge`: marks matching entries purged (hidden from list,
 *        never replayed).  Without o->yes (and without dry-run) it writes
 *        nothing and returns RS_CLI_EXIT_USAGE after saying how many
 *        entries would be purged.
 */
int rs_cli_dlq_purge(const rs_cli_dlq_io_t *io, const rs_cli_dlq_opts_t *o,
		     rs_cli_dlq_result_t *res);

/* ---------------------------------------------------------------------- */
/* Output (cli_dlq_out.c)                                                 */

/** @brief Prints the table header line. */
void rs_cli_dlq_table_header(FILE *fp);
/**
 * @brief Prints one table row: fixed-width columns, long values cut with
 *        '~', control bytes shown as '?' (entries are untrusted).
 */
void rs_cli_dlq_table_row(FILE *fp, const rs_dlq_entry_t *e,
			  rs_dlq_status_t st);
/** @brief The summary object of `list --json` (caller cJSON_Delete()s). */
cJSON *rs_cli_dlq_entry_json(const rs_dlq_entry_t *e, rs_dlq_status_t st);
/**
 * @brief The `show` object: id, partition, offset, time, state, type, and
 *        the record itself ("job" for a job with its "errors" history,
 *        "record" for the worker's invalid wrapper, "raw" + "error" for a
 *        malformed one).
 */
cJSON *rs_cli_dlq_show_json(const rs_dlq_entry_t *e, rs_dlq_status_t st,
			    const rs_dlq_rec_t *rec);

#endif /* RS_CLI_DLQ_H */
