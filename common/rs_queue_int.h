/*
 * rs_queue_int.h - private to the queue subsystem (rs_queue.c and its
 * back-ends rs_queue_<backend>.c) and to tests/unit/test_queue.c.
 *
 * The generic half (rs_queue.c) owns everything the back-ends share: the
 * per-partition offset tracker, the registry of assigned partitions with
 * their paused flag, in-flight accounting, msg_done/msg_release and the
 * statistics.  A back-end fills a const rs_queue_backend_t (curl's
 * struct Curl_ssl idea) and keeps its own state in q->be_state.
 */
#ifndef RS_QUEUE_INT_H
#define RS_QUEUE_INT_H

#include "rs/rs_base.h"
#include "rs/rs_queue.h"

#include <pthread.h>
#include <stdatomic.h>

/* ---------------------------------------------------------------------- */
/* Offset tracker: one per assigned partition.                            */

/* Entry states in the tracker ring. */
#define RS_QTRACK_PENDING 0  /* handed out, not finished */
#define RS_QTRACK_DONE 1     /* finished, but an earlier offset is not */
#define RS_QTRACK_RELEASED 2 /* given back unfinished: blocks the position */

/*
 * The tracker holds, in delivery (= offset) order, every offset from the
 * lowest unfinished one to the newest delivered one.  Offsets need not be
 * contiguous (compaction and transaction markers leave gaps), so the
 * position to store is not "last done + 1" but "offset of the oldest entry
 * that is not done", or "newest delivered + 1" when every entry is done.
 * Finished entries at the head are popped at once, so the ring holds only
 * the window that a commit cannot cover yet.
 */
typedef struct rs_qtrack_s {
	int64_t *offs;      /* ring of offsets, ascending from head */
	uint8_t *state;     /* RS_QTRACK_* per ring slot */
	size_t cap;         /* allocated slots (power of two) */
	size_t head;        /* slot of the oldest entry */
	size_t cnt;         /* entries in the ring */
	size_t max;         /* most entries allowed (window bound) */
	size_t outstanding; /* entries still PENDING */
	int64_t last;       /* newest offset added, -1 before the first */
} rs_qtrack_t;

/** @brief Initialises an empty tracker bounded to @p max entries. */
void rs_qtrack_init(rs_qtrack_t *t, size_t max);
/** @brief Frees the ring. */
void rs_qtrack_cleanup(rs_qtrack_t *t);
/**
 * @brief Records a delivered offset.
 * @returns RS_OK; RS_ERR_EXISTS when @p offset is not above every offset
 *          seen (a redelivery in the same assignment: drop it);
 *          RS_ERR_TOO_LARGE when the window is full (pause, retry later).
 */
rs_err_t rs_qtrack_add(rs_qtrack_t *t, int64_t offset);
/**
 * @brief Marks @p offset finished (done) or given back (release).
 * @returns RS_OK, or RS_ERR_NOT_FOUND when the offset is not pending.
 */
rs_err_t rs_qtrack_done(rs_qtrack_t *t, int64_t offset);
rs_err_t rs_qtrack_release(rs_qtrack_t *t, int64_t offset);
/**
 * @returns the offset to store/commit: the lowest unfinished offset, or
 *          newest + 1 when all are finished; -1 before the first add.
 */
int64_t rs_qtrack_position(const rs_qtrack_t *t);

/* ---------------------------------------------------------------------- */
/* Partition registry entry.                                              */

typedef struct rs_qpart_s {
	struct rs_qpart_s *next; /* registry list (q->parts) */
	char *topic;
	int32_t partition;
	rs_qtrack_t track;
	int64_t stored;  /* last position handed to be->store, -1 none */
	int refcnt;      /* 1 for the registry + 1 per outstanding message */
	bool revoked;    /* out of the registry: done() no longer stores */
	bool paused;     /* paused by this module (app-side paused set) */
} rs_qpart_t;

/* A consumed message: generic fields filled by the back-end at poll. */
struct rs_qmsg_s {
	struct rs_qmsg_s *next; /* poll-side stash FIFO */
	rs_qpart_t *part;       /* NULL until accepted by the tracker */
	const char *topic;
	int32_t partition;
	int64_t offset;
	const void *key;
	size_t keylen;
	const void *value;
	size_t len;
	int64_t timestamp;
	rs_queue_header_t hdrs[RS_QUEUE_MAX_HEADERS];
	size_t hdr_cnt;
	void *be_msg; /* back-end message (rd_kafka_message_t *) */
};

/* ---------------------------------------------------------------------- */
/* Back-end vtable.                                                       */

typedef struct rs_queue_backend_s {
	const char *name;
	/* Creates the back-end state in q->be_state; q->conf is set. */
	rs_err_t (*init)(rs_queue_t *q, const rs_queue_conf_t *conf,
			 char *errstr, size_t errstr_size);
	void (*destroy)(rs_queue_t *q);
	rs_err_t (*produce)(rs_queue_t *q, const char *topic, const void *key,
			    size_t keylen, const void *value, size_t len,
			    const rs_queue_header_t *hdrs, size_t hdr_cnt,
			    void *msg_opaque);
	rs_err_t (*flush)(rs_queue_t *q, int timeout_ms);
	/* rs_queue_produce_prepare; NULL: nothing to prepare. */
	rs_err_t (*produce_prepare)(rs_queue_t *q, const char *topic,
				    int timeout_ms);
	rs_err_t (*fatal_error)(rs_queue_t *q, char *errstr, size_t size);
	rs_err_t (*poll)(rs_queue_t *q, int timeout_ms, rs_qmsg_t **msgp);
	/* Stores @p position as the partition's next offset to commit.
	 * Called with q->lock held. */
	rs_err_t (*store)(rs_queue_t *q, rs_qpart_t *part, int64_t position);
	/* Frees the back-end part of a message (q->lock NOT held). */
	void (*msg_free)(rs_queue_t *q, rs_qmsg_t *msg);
	rs_err_t (*commit)(rs_queue_t *q);
	/* Pauses (true) or resumes (false) the listed partitions.
	 * Called with q->lock held. */
	rs_err_t (*pause_parts)(rs_queue_t *q, rs_qpart_t **parts, size_t cnt,
				bool pause);
	rs_err_t (*close)(rs_queue_t *q);
	rs_err_t (*create_topics)(rs_queue_t *q, const char *const *names,
				  size_t name_cnt, int partitions,
				  int replication, const char *const *configs,
				  size_t config_cnt, int timeout_ms,
				  char *errstr, size_t errstr_size);
	/* Reads the topic up to its end at the start (rs_queue_scan). */
	rs_err_t (*scan)(rs_queue_t *q, const char *topic, int timeout_ms,
			 rs_queue_scan_cb_t *cb, void *opaque);
	/* rs_queue_lag: @p v holds a copy of the assignment with each
	 * tracker's position (-1 when nothing was handed out yet).  Fills
	 * the missing positions and every lag (-1: unknown, left out) by
	 * @p deadline_ms (rs_now_ms()).  q->lock NOT held; any thread. */
	rs_err_t (*lag)(rs_queue_t *q, rs_queue_lag_t *v, size_t cnt,
			int64_t deadline_ms);
} rs_queue_backend_t;

extern const rs_queue_backend_t rs_queue_backend_kafka;
extern const rs_queue_backend_t rs_queue_backend_sqlite;

/* ---------------------------------------------------------------------- */
/* The handle.                                                            */

struct rs_queue_s {
	const rs_queue_backend_t *be;
	void *be_state;
	int roles;

	/* Copied settings the generic half needs. */
	size_t max_inflight;
	size_t max_window;
	int revoke_drain_ms;
	rs_queue_rebalance_cb_t *on_assign;
	rs_queue_rebalance_cb_t *on_revoke;
	rs_queue_delivery_cb_t *on_delivery;
	void *opaque;

	/* lock protects everything below; cond is broadcast whenever a
	 * message is done/released (revoke and close wait on it). */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	rs_qpart_t *parts;  /* assigned partitions */
	size_t part_cnt;
	size_t inflight;    /* handed out, not done/released */
	bool app_paused;    /* rs_queue_pause_all() in effect */
	bool limit_paused;  /* in-flight limit or window reached */
	bool closing;       /* close started: keep everything paused */

	/* Counters (rs_queue_stats); atomics because the producer side
	 * updates them from librdkafka's threads. */
	atomic_uint_least64_t n_produced, n_delivered, n_delivery_failed;
	atomic_uint_least64_t n_failed_since_flush;
	/* Delivery callbacks that have RETURNED: flush waits for them, since
	 * librdkafka's out-queue count drops when the poller thread takes a
	 * report, before its callback has counted a failure. */
	atomic_uint_least64_t n_reported;
	atomic_uint_least64_t n_consumed, n_done, n_released, n_redelivered;
	atomic_uint_least64_t n_stored, n_rebalances;
};

/* Helpers for back-ends (rs_queue.c). */

/** @brief Finds an assigned partition. @locks q->lock held. */
rs_qpart_t *rs_queue_part_find(rs_queue_t *q, const char *topic,
			       int32_t partition);
/** @brief Adds a partition to the registry (or returns the existing one).
 *  @locks q->lock held. */
rs_qpart_t *rs_queue_part_add(rs_queue_t *q, const char *topic,
			      int32_t partition);
/** @brief Removes a partition from the registry: marks it revoked and drops
 *  the registry's reference.  @locks q->lock held. */
void rs_queue_part_remove(rs_queue_t *q, rs_qpart_t *part);
/** @brief Stores the partition's position if it moved. @locks q->lock held. */
rs_err_t rs_queue_part_store(rs_queue_t *q, rs_qpart_t *part);
/**
 * @brief Accepts a message for @p part: records its offset in the tracker
 *        and counts it in flight.
 * @returns RS_OK, RS_ERR_EXISTS (redelivery: caller frees the message),
 *          RS_ERR_TOO_LARGE (window full: caller keeps it for later).
 * @locks q->lock held.
 */
rs_err_t rs_queue_msg_accept(rs_queue_t *q, rs_qpart_t *part, rs_qmsg_t *msg);
/**
 * @brief Pauses or resumes partitions so that the fetch state matches
 *        app_paused || limit_paused || closing.  Resumes only partitions
 *        this module paused.  @locks q->lock held.
 */
rs_err_t rs_queue_apply_pause(rs_queue_t *q);

#endif /* RS_QUEUE_INT_H */
