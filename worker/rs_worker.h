/*
 * rs_worker: the worker pool (ARCHITECTURE.md "Worker"), usable in-process
 * (tests, demo) and by rostersync-worker (main.c).
 *
 * One poll thread owns the queue consumer; worker.threads threads apply
 * jobs through rs_graph; rs_wsched orders them per key.  See docs/worker.md.
 */
#ifndef RS_WORKER_H
#define RS_WORKER_H

#include "rs/rs_base.h"
#include "rs/rs_err.h"
#include "rs/rs_conf.h"

typedef struct rs_worker_s rs_worker_t;

/** Counters since rs_worker_new (all jobs, all tenants). */
typedef struct rs_worker_stats_s {
	uint64_t received;      /**< messages polled */
	uint64_t applied;       /**< applied with at least one write */
	uint64_t noop;          /**< applied, nothing to change */
	uint64_t superseded;    /**< dropped for a newer generation */
	uint64_t retried;       /**< attempts put back in the delay queue */
	uint64_t deferred;      /**< moved to the retry topic (long delay) */
	uint64_t requeued;      /**< retry records sent back unrun (a
				     tenant at its share of the window) */
	uint64_t dead_lettered; /**< produced to the DLQ (incl. invalid) */
	uint64_t invalid;       /**< not JSON / not a valid envelope */
	uint64_t released;      /**< given back unfinished (shutdown, revoke) */
	uint64_t graph_writes;  /**< members added/removed */
	uint64_t http_requests; /**< Graph requests incl. retries */
} rs_worker_stats_t;

/**
 * @brief Creates a worker from a loaded configuration (borrowed: it must
 *        outlive the worker).  Connects the consumer (queue.backend: kafka or
 *        sqlite) and starts metrics when worker.metrics_listen is set.
 * @returns the worker or NULL with errstr filled.
 * @remark rs_http_global_init() must have been called.
 */
rs_worker_t *rs_worker_new(const rs_conf_t *conf, char *errstr,
			   size_t errstr_size);

/**
 * @brief Runs until rs_worker_stop() or, when @p until_idle_ms > 0, until
 *        no job arrived and nothing was held for that long.  Then stops
 *        polling, lets running jobs finish (worker.shutdown_timeout),
 *        releases the rest and closes the consumer (commit).
 * @returns RS_OK, or the error that stopped it (queue fatal error).
 * @locality the calling thread becomes the poll thread.
 */
rs_err_t rs_worker_run(rs_worker_t *w, int64_t until_idle_ms);

/** @brief Asks rs_worker_run() to stop.  Async-signal-safe. */
void rs_worker_stop(rs_worker_t *w);

/** @brief Copies the counters.  @locality any thread. */
void rs_worker_stats(rs_worker_t *w, rs_worker_stats_t *st);

/**
 * @brief The worker's metrics in the Prometheus text format (what
 *        worker.metrics_listen serves).
 * @returns a string to rs_free().  @locality any thread.
 */
char *rs_worker_metrics_render(rs_worker_t *w);

/** @brief Frees the worker.  Accepts NULL.  Not while run() runs. */
void rs_worker_destroy(rs_worker_t *w);

#endif /* RS_WORKER_H */
