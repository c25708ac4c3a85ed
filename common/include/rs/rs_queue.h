/*
 * rs_queue.h - the job queue: produce jobs, consume them in a group with
 * out-of-order parallel processing, store offsets only for finished work.
 *
 * One interface, several back-ends behind a const vtable (common/rs_queue.c
 * dispatches; common/rs_queue_kafka.c is the librdkafka back-end,
 * common/rs_queue_sqlite*.c the embedded SQLite one, with the same
 * semantics and the same conformance suite).  The contract, the offset
 * model, rebalance and pause are described in docs/internals/queue.md.
 *
 * Model (Confluent Parallel Consumer idea):
 *   - one thread calls rs_queue_poll() and hands messages to any number of
 *     worker threads, which may finish them in any order;
 *   - each finished message is reported with rs_queue_msg_done() (any
 *     thread); per partition the module keeps the finished set and stores
 *     only the contiguous finished prefix, i.e. the lowest unfinished offset,
 *     so a crash redelivers unfinished work and never skips it;
 *   - stored offsets are committed by auto-commit and by rs_queue_commit().
 *
 * Ownership: strings and arrays passed in are copied unless stated; an
 * rs_qmsg_t returned by rs_queue_poll() belongs to the caller until it is
 * given back with rs_queue_msg_done() or rs_queue_msg_release(); every
 * pointer read from a message stays valid until then.
 */
#ifndef RS_QUEUE_H
#define RS_QUEUE_H

#include "rs_base.h"
#include "rs_err.h"

typedef struct rs_queue_s rs_queue_t;
typedef struct rs_qmsg_s rs_qmsg_t;

/** Limits (bounded memory, STYLE.md 9). */
#define RS_QUEUE_MAX_TOPICS 32
#define RS_QUEUE_MAX_PROPS 64
#define RS_QUEUE_MAX_HEADERS 16
#define RS_QUEUE_DEFAULT_MAX_INFLIGHT 10000
#define RS_QUEUE_DEFAULT_MAX_WINDOW 200000

/** Which sides of the handle to create (bit mask). */
#define RS_QUEUE_ROLE_PRODUCER 0x1
#define RS_QUEUE_ROLE_CONSUMER 0x2

/**
 * A message header (name/value), e.g. W3C "traceparent".  Plain value
 * struct: the pointers are borrowed for the duration of the call that takes
 * them (produce) or for the life of the message they came from (consume).
 */
typedef struct rs_queue_header_s {
	const char *name;
	const void *value;
	size_t size;
} rs_queue_header_t;

/** One partition of a topic, as passed to the rebalance callbacks. */
typedef struct rs_queue_partition_s {
	const char *topic;
	int32_t partition;
} rs_queue_partition_t;

/**
 * Rebalance callback: @p parts lists the partitions added (on_assign) or
 * removed (on_revoke).  @p lost is true when the partitions were lost
 * (session timeout, fenced) rather than revoked in an orderly way: their
 * offsets can no longer be committed and another member may already be
 * processing them.
 *
 * @locality the thread calling rs_queue_poll() (or rs_queue_close()).
 * @remark on_revoke is called BEFORE the module waits for the revoked
 *         partitions' outstanding messages: the application should drop its
 *         not-yet-started jobs of these partitions (rs_queue_msg_release())
 *         and let running ones finish (rs_queue_msg_done()).  The callback
 *         must not call rs_queue_poll() or rs_queue_close().
 */
typedef void(rs_queue_rebalance_cb_t)(rs_queue_t *q,
				      const rs_queue_partition_t *parts,
				      size_t cnt, bool lost, void *opaque);

/**
 * Delivery report for one produced message.  @p err is RS_OK on success;
 * otherwise @p errstr says why (the message is NOT stored in the queue).
 * @p msg_opaque is the value given to rs_queue_produce().
 *
 * @locality the queue's internal producer poll thread: keep it short, never
 *           block, never call rs_queue_flush()/rs_queue_destroy() from it.
 */
typedef void(rs_queue_delivery_cb_t)(rs_queue_t *q, rs_err_t err,
				     const char *errstr, void *msg_opaque,
				     void *opaque);

/**
 * Configuration: a plain value struct.  Initialise with rs_queue_conf_init(),
 * then set fields.  Zero / NULL means "default".  Nothing is kept after
 * rs_queue_new() returns: everything needed is copied.
 */
typedef struct rs_queue_conf_s {
	const char *backend;   /**< "kafka" (default) or "sqlite". */
	int roles;             /**< RS_QUEUE_ROLE_* (default: producer only,
				    plus consumer when group_id is set). */
	const char *brokers;   /**< kafka: bootstrap.servers (required). */
	const char *sqlite_path; /**< sqlite: database file (required; created
				      with its schema when missing). */
	int sqlite_shards;     /**< sqlite: shards ("partitions") of a topic
				    created implicitly, by a produce or a
				    subscription before rs_queue_create_topics();
				    default 12, at most 1024. */
	const char *group_id;  /**< consumer group (required for consumer). */
	const char *client_id; /**< client.id (default "rostersync"). */
	const char *const *topics; /**< topics to subscribe (consumer). */
	size_t topic_cnt;          /**< <= RS_QUEUE_MAX_TOPICS */
	/** Extra back-end properties "key=value" (librdkafka names, applied
	 *  to both producer and consumer; "producer.X=v" / "consumer.X=v"
	 *  apply to one side only).  Applied after the module's defaults but
	 *  the module refuses to override the settings its contract relies on
	 *  (enable.auto.offset.store, enable.idempotence,
	 *  partition.assignment.strategy).  The sqlite back-end reads only
	 *  "sqlite.*" names (see docs/internals/queue.md) and ignores the
	 *  others, so one property list can serve both back-ends. */
	const char *const *props;
	size_t prop_cnt; /**< <= RS_QUEUE_MAX_PROPS */

	int session_timeout_ms;      /**< default 45000 */
	int heartbeat_interval_ms;   /**< default session/15, >=100 */
	int max_poll_interval_ms;    /**< default 300000 */
	int auto_commit_interval_ms; /**< default 5000 */
	int queued_max_kbytes;       /**< prefetch bound per partition,
					  default 16384 */
	const char *auto_offset_reset; /**< default "earliest" */

	/** Max messages handed out and not yet done/released (whole handle).
	 *  At the limit rs_queue_poll() hands out nothing and returns
	 *  RS_ERR_TOO_LARGE until the count drops; fetched messages wait in
	 *  the back-end's bounded prefetch (no pause, so nothing is thrown
	 *  away and refetched).  Default RS_QUEUE_DEFAULT_MAX_INFLIGHT. */
	size_t max_inflight;
	/** Max offsets tracked per partition between the committed position and
	 *  the newest delivered message (finished ones behind a slow one count
	 *  too).  Default RS_QUEUE_DEFAULT_MAX_WINDOW. */
	size_t max_window;
	/** How long a revoke (or close) waits for outstanding messages of the
	 *  revoked partitions before storing what is finished and giving the
	 *  partitions up.  Waited in <=100 ms steps.  Default 10000. */
	int revoke_drain_ms;

	rs_queue_rebalance_cb_t *on_assign; /**< optional */
	rs_queue_rebalance_cb_t *on_revoke; /**< optional */
	rs_queue_delivery_cb_t *on_delivery; /**< optional */
	void *opaque;                        /**< passed to the callbacks */
} rs_queue_conf_t;

/**
 * @brief Fills @p conf with zeros (all defaults) and backend "kafka".
 * @locality any thread.
 */
void rs_queue_conf_init(rs_queue_conf_t *conf);

/**
 * @brief Creates a queue handle.  A consumer subscribes at once (the group
 *        join happens in the background; messages arrive through
 *        rs_queue_poll()).
 * @param conf configuration, copied.
 * @param errstr receives a one-line reason on failure.
 * @returns the handle, or NULL with @p errstr filled.
 * @locality any thread.
 */
rs_queue_t *rs_queue_new(const rs_queue_conf_t *conf, char *errstr,
			 size_t errstr_size);

/**
 * @brief Closes the consumer side (as rs_queue_close() if not done yet),
 *        flushes the producer for up to 10 s, fails any message still
 *        outstanding through on_delivery (never silently) and frees
 *        everything.  Accepts NULL.
 * @remark Every rs_qmsg_t must have been done/released before.
 * @locality the thread that polls; no other thread may use @p q any more.
 */
void rs_queue_destroy(rs_queue_t *q);

/** @brief The back-end's name ("kafka"). */
const char *rs_queue_backend_name(const rs_queue_t *q);

/* ---------------------------------------------------------------------- */
/* Producer                                                               */

/**
 * @brief Enqueues one message for asynchronous, idempotent delivery.
 * @param topic destination topic.
 * @param key partitioning key (may be NULL), copied.
 * @param value payload (may be NULL), copied.
 * @param hdrs headers (up to RS_QUEUE_MAX_HEADERS), copied; may be NULL.
 * @param msg_opaque returned in on_delivery for this message.
 * @returns RS_OK (delivery outcome comes later through on_delivery and is
 *          counted), RS_ERR_AGAIN when the local producer queue is full
 *          (back off and retry), RS_ERR_TOO_LARGE (too many headers or
 *          message too large), RS_ERR_QUEUE_FATAL when the producer hit a
 *          fatal error (recreate the handle), RS_ERR_STATE without a
 *          producer role, RS_ERR_QUEUE otherwise.
 * @locality any thread.
 */
rs_err_t rs_queue_produce(rs_queue_t *q, const char *topic, const void *key,
			  size_t keylen, const void *value, size_t len,
			  const rs_queue_header_t *hdrs, size_t hdr_cnt,
			  void *msg_opaque);

/**
 * @brief Waits (in <=500 ms steps) until every message produced so far has a
 *        delivery report.
 * @returns RS_OK when all were delivered and none failed since the previous
 *          rs_queue_flush(); RS_ERR_TIMEOUT when some are still outstanding;
 *          RS_ERR_QUEUE when deliveries failed since the previous flush
 *          (the failure count is then reset; see rs_queue_stats());
 *          RS_ERR_QUEUE_FATAL on a fatal producer error.
 * @locality any thread (not the delivery callback).
 */
rs_err_t rs_queue_flush(rs_queue_t *q, int timeout_ms);

/**
 * @brief Makes the producer learn @p topic (partitions, leaders) now, so
 *        the first rs_queue_produce() to it is sent at once.  Without it
 *        librdkafka 2.0.2 looks a topic up only at its next topic scan
 *        (every second) after the first produce: measured 390 ms before
 *        the first retry-topic record of a burst was even requested.
 * @returns RS_OK (also for a back-end without such a delay),
 *          RS_ERR_TIMEOUT, RS_ERR_NOT_FOUND (no such topic), RS_ERR_STATE
 *          without a producer role, RS_ERR_QUEUE otherwise.
 * @locality any thread; blocks up to @p timeout_ms.
 */
rs_err_t rs_queue_produce_prepare(rs_queue_t *q, const char *topic,
				  int timeout_ms);

/**
 * @brief Reports a fatal error of the back-end (idempotent producer
 *        sequence error, fenced...).  The handle must be recreated.
 * @returns RS_OK if none, else RS_ERR_QUEUE_FATAL with @p errstr filled.
 */
rs_err_t rs_queue_fatal_error(rs_queue_t *q, char *errstr, size_t errstr_size);

/* ---------------------------------------------------------------------- */
/* Consumer                                                               */

/**
 * @brief Returns the next message, serving rebalances and errors meanwhile.
 * @param timeout_ms longest wait (values above 500 are capped at 500 so a
 *        caller's loop can check its stop flag).
 * @param msgp receives the message or NULL.
 * @returns RS_OK (with *msgp set or NULL on timeout), RS_ERR_TOO_LARGE when
 *          the in-flight limit (or a partition's tracker window) is
 *          reached: finish some messages, then poll again; the call still
 *          serves rebalances meanwhile,
 *          RS_ERR_QUEUE_FATAL on a fatal consumer error, RS_ERR_STATE after
 *          close or without a consumer role.
 * @remark Messages of one partition are returned in offset order.
 * @locality ONE thread only (the poll thread).
 */
rs_err_t rs_queue_poll(rs_queue_t *q, int timeout_ms, rs_qmsg_t **msgp);

/**
 * @brief Marks @p msg finished and frees it.  The partition's stored offset
 *        moves to its lowest unfinished offset (msg offset + 1 once all
 *        earlier messages are finished).  If the partition was revoked in
 *        the meantime, only the message is freed.
 * @locality any thread.
 */
void rs_queue_msg_done(rs_queue_t *q, rs_qmsg_t *msg);

/**
 * @brief Gives @p msg back WITHOUT finishing it and frees it: its offset
 *        stays unfinished, so it is redelivered after the next rebalance or
 *        restart.  Use only for partitions being revoked, or at shutdown:
 *        on a partition that stays assigned it blocks the committed
 *        position from advancing past it.
 * @locality any thread.
 */
void rs_queue_msg_release(rs_queue_t *q, rs_qmsg_t *msg);

/** @brief Accessors; valid until done/release.  @locality any thread. */
const char *rs_qmsg_topic(const rs_qmsg_t *msg);
int32_t rs_qmsg_partition(const rs_qmsg_t *msg);
int64_t rs_qmsg_offset(const rs_qmsg_t *msg);
/** @returns the key (NULL if none), its length in *lenp. */
const void *rs_qmsg_key(const rs_qmsg_t *msg, size_t *lenp);
/** @returns the value (NULL if none), its length in *lenp. */
const void *rs_qmsg_value(const rs_qmsg_t *msg, size_t *lenp);
/** @returns producer/log-append timestamp in ms since the epoch, -1 if none. */
int64_t rs_qmsg_timestamp(const rs_qmsg_t *msg);
/** @returns the number of headers. */
size_t rs_qmsg_header_cnt(const rs_qmsg_t *msg);
/** @returns header @p idx (< rs_qmsg_header_cnt()), or NULL. */
const rs_queue_header_t *rs_qmsg_header_at(const rs_qmsg_t *msg, size_t idx);
/**
 * @brief Finds the LAST header named @p name.
 * @returns RS_OK with *valuep and *sizep set, or RS_ERR_NOT_FOUND.
 */
rs_err_t rs_qmsg_header_get(const rs_qmsg_t *msg, const char *name,
			    const void **valuep, size_t *sizep);

/**
 * @brief Stores the finished prefix of every assigned partition and commits
 *        the stored offsets synchronously (used at shutdown).
 * @returns RS_OK (also when there was nothing to commit), RS_ERR_QUEUE.
 * @locality the poll thread.
 */
rs_err_t rs_queue_commit(rs_queue_t *q);

/**
 * @brief Backpressure: pauses fetching on every assigned partition (and on
 *        partitions assigned later, until resume).  Only partitions the
 *        module paused are resumed by rs_queue_resume_all() (app-side paused
 *        set).  Keep calling rs_queue_poll() while paused: it serves
 *        rebalances and returns no messages of paused partitions.
 * @locality any thread.
 */
rs_err_t rs_queue_pause_all(rs_queue_t *q);
/** @brief Ends rs_queue_pause_all(). @locality any thread. */
rs_err_t rs_queue_resume_all(rs_queue_t *q);
/** @returns true while the application asked for a pause. */
bool rs_queue_paused(rs_queue_t *q);

/** @returns messages handed out and not yet done/released. @locality any. */
size_t rs_queue_inflight(rs_queue_t *q);

/** @returns number of partitions currently assigned. @locality any. */
size_t rs_queue_assignment_cnt(rs_queue_t *q);

/**
 * @brief Orderly consumer shutdown: stops fetching, waits (bounded by
 *        revoke_drain_ms) for outstanding messages, stores and commits the
 *        finished prefix, leaves the group and closes the consumer.  The
 *        producer side stays usable until rs_queue_destroy().  Loops in
 *        <=500 ms steps; idempotent.
 * @returns RS_OK, or the first error seen (the consumer is closed anyway).
 * @locality the poll thread.
 */
rs_err_t rs_queue_close(rs_queue_t *q);

/** Counters; plain value struct filled by rs_queue_stats(). */
typedef struct rs_queue_stats_s {
	uint64_t produced;       /**< accepted by rs_queue_produce() */
	uint64_t delivered;      /**< delivery reports, success */
	uint64_t delivery_failed; /**< delivery reports, failure */
	uint64_t consumed;       /**< messages handed out by rs_queue_poll() */
	uint64_t done;           /**< rs_queue_msg_done() */
	uint64_t released;       /**< rs_queue_msg_release() */
	uint64_t redelivered_dropped; /**< same-assignment redeliveries dropped */
	uint64_t offsets_stored; /**< successful offset stores */
	uint64_t rebalances;     /**< assign + revoke callbacks */
	size_t inflight;         /**< = rs_queue_inflight() */
} rs_queue_stats_t;

/** @brief Fills @p st. @locality any thread. */
void rs_queue_stats(rs_queue_t *q, rs_queue_stats_t *st);

/* ---------------------------------------------------------------------- */
/* Consumer lag (monitoring)                                              */

/** Lag of one assigned partition; plain value struct (rs_queue_lag()). */
typedef struct rs_queue_lag_s {
	const char *topic;  /**< valid during the callback only */
	int32_t partition;
	/** The position a restart would resume at: the lowest unfinished
	 *  offset (what is stored and committed), or, before anything was
	 *  handed out in this assignment, the committed position. */
	int64_t position;
	/** Messages at or after @p position: handed out and not finished
	 *  (including finished ones behind an unfinished one, which a
	 *  restart would redeliver) plus those not handed out yet. */
	int64_t lag;
} rs_queue_lag_t;

/** Called once per partition by rs_queue_lag(). */
typedef void(rs_queue_lag_cb_t)(const rs_queue_lag_t *lag, void *opaque);

/**
 * @brief Reports the consumer lag of every partition assigned now.
 *
 * Kafka: lag = end offset (high watermark, asked of the partition leaders
 * in one ListOffsets round trip on a group-less handle of its own, made at
 * the first call; librdkafka's cached value from the last fetch if that
 * fails) - position; a partition with nothing handed out yet takes its
 * committed offset (one OffsetFetch), or the low watermark / end when the
 * group has none (auto_offset_reset).  SQLite: the number of rows of the
 * shard at or after the position (one read transaction on a connection of
 * its own).  docs/internals/queue.md, "Consumer lag".
 *
 * @param timeout_ms bound for the whole call (broker round trips, SQLite
 *        counting); partitions not answered in time are left out.
 * @returns RS_OK when every assigned partition was reported (also when
 *          none is assigned), RS_ERR_TIMEOUT when some were left out,
 *          RS_ERR_QUEUE when the back-end could not be asked at all (no
 *          handle or connection for it), RS_ERR_STATE without a consumer
 *          role.
 * @locality any thread (a metrics scrape): it never takes the poll
 *           thread's place and holds the queue lock only to copy the
 *           assignment.
 */
rs_err_t rs_queue_lag(rs_queue_t *q, int timeout_ms, rs_queue_lag_cb_t *cb,
		      void *opaque);

/* ---------------------------------------------------------------------- */
/* Scan (operator tools: DLQ list/show/replay/purge)                      */

/**
 * Called by rs_queue_scan() once per message.  @p msg is read with the
 * rs_qmsg_*() accessors (topic, partition, offset, key, value, headers,
 * timestamp); it and every pointer read from it are valid only during the
 * call, and it must NOT be passed to rs_queue_msg_done()/_release().
 *
 * @returns RS_OK to go on; any other value stops the scan at once and is
 *          returned by rs_queue_scan() (e.g. RS_ERR_CANCELLED for "found
 *          what I was looking for", or the error that made the tool fail).
 * @locality the thread calling rs_queue_scan().
 */
typedef rs_err_t(rs_queue_scan_cb_t)(const rs_qmsg_t *msg, void *opaque);

/**
 * @brief Reads every message of @p topic, from the oldest one retained up
 *        to the end of the topic as it was when the scan started, and calls
 *        @p cb for each.  Messages produced after the start are not seen.
 *
 * The scan is read-only and outside every consumer group: it commits
 * nothing, joins no group and does not disturb the handle's own consumer
 * (Kafka: a separate, group-less consumer with rd_kafka_assign from the low
 * watermarks to a snapshot of the high watermarks; SQLite: one read
 * transaction).  It works on a producer-only handle.
 *
 * @param topic the topic to read.
 * @param timeout_ms limit for the whole scan (waited in <=500 ms steps).
 * @param cb called per message, in offset order within a partition;
 *        partitions may interleave.
 * @returns RS_OK when the end was reached (also for an empty topic),
 *          whatever @p cb returned when it stopped the scan,
 *          RS_ERR_NOT_FOUND when the topic does not exist,
 *          RS_ERR_TIMEOUT when the end was not reached in time (the
 *          messages read so far were passed to @p cb),
 *          RS_ERR_INVALID_ARG, RS_ERR_QUEUE.
 * @remark Not for the poll thread's hot path: each call opens its own
 *         connection (Kafka) or read transaction (SQLite).
 * @locality any thread; scans may run concurrently with produce and poll.
 */
rs_err_t rs_queue_scan(rs_queue_t *q, const char *topic, int timeout_ms,
		       rs_queue_scan_cb_t *cb, void *opaque);

/* ---------------------------------------------------------------------- */
/* Admin                                                                  */

/**
 * @brief Creates topics; topics that already exist count as success.
 * @param names topic names.
 * @param partitions partition count for each.
 * @param replication replication factor (-1: broker default).
 * @param configs topic configs as "key=value" (e.g.
 *        "cleanup.policy=compact"), may be NULL.
 * @param timeout_ms overall limit (waited in <=500 ms steps).
 * @returns RS_OK, RS_ERR_TIMEOUT, RS_ERR_QUEUE with @p errstr filled.
 * @locality any thread.
 */
rs_err_t rs_queue_create_topics(rs_queue_t *q, const char *const *names,
				size_t name_cnt, int partitions,
				int replication, const char *const *configs,
				size_t config_cnt, int timeout_ms, char *errstr,
				size_t errstr_size);

#endif /* RS_QUEUE_H */
