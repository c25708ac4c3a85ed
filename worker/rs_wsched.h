/*
 * rs_wsched: the worker's pure scheduling core (no threads, no I/O).
 *
 * Jobs with the same key run one at a time in arrival (offset) order: each
 * key has a FIFO and a busy flag.  A job whose generation is lower than one
 * already applied or waiting for the same key is superseded; a newer job
 * supersedes older WAITING jobs of its key (never the running one, which
 * finishes first).  A job that must be retried stays at the head of its
 * key's FIFO with a not_before time, so it holds no thread and later jobs
 * of the same key keep their order behind it, while other keys (and other
 * tenants) continue.
 *
 * Selection is a linear scan over the keys that have work: the caller bounds
 * the number of jobs (worker.max_in_flight), so the scan stays small and
 * the structure needs no second index that could drift.
 *
 * Locking is the caller's: one mutex around every call.
 */
#ifndef RS_WSCHED_H
#define RS_WSCHED_H

#include "rs/rs_base.h"

typedef struct rs_wjob_s rs_wjob_t;

/** One job as the scheduler sees it (embedded in the caller's job). */
struct rs_wjob_s {
	char *key;          /**< target key, owned by the caller */
	int64_t generation;
	int64_t not_before; /**< monotonic ms; 0 = now */
	uint64_t seq;       /**< arrival order, set by rs_wsched_push */
	const int *load;    /**< its tenant's running jobs (fairness), or
			     *   NULL = 0; read under the caller's lock */
	rs_wjob_t *next;    /**< FIFO link (scheduler private) */
	void *opaque;       /**< the caller's job */
};

typedef struct rs_wsched_s rs_wsched_t;

/** @brief New empty scheduler. */
rs_wsched_t *rs_wsched_new(void);
/** @brief Frees the scheduler (not the jobs).  Accepts NULL. */
void rs_wsched_destroy(rs_wsched_t *s);

/**
 * @brief Raises the applied-generation mark of @p key to @p generation
 *        (no-op when it is already higher).  A worker seeds the marks from
 *        the applied topic at start, so a job older than what any worker
 *        applied before a restart is superseded, not applied.
 * @remark Marks of idle keys are forgotten beyond 65,536 keys (the oldest
 *         half of the table goes); the applied topic keeps them all.
 */
void rs_wsched_seed(rs_wsched_t *s, const char *key, int64_t generation);

/**
 * @brief Adds a job at the tail of its key's FIFO.
 * @param superseded receives jobs dropped by this push (the new one itself
 *        when it is older than an applied/waiting generation, or older
 *        waiting jobs it replaces), up to @p sup_max.
 * @returns the number written to @p superseded.
 * @remark Equal generations are both kept (a replayed identical job is
 *         applied again, harmlessly, as it is idempotent).
 */
size_t rs_wsched_push(rs_wsched_t *s, rs_wjob_t *job, rs_wjob_t **superseded,
		      size_t sup_max);

/** Admission check for a job about to start (per-tenant concurrency). */
typedef bool(rs_wsched_can_run_cb_t)(rs_wjob_t *job, void *opaque);

/**
 * @brief Takes the runnable job with the smallest (*load, not_before, seq):
 *        the head of a key that is not busy, whose not_before <= now and
 *        that @p can_run admits (NULL = all).  Its key becomes busy.
 *        Ranking by load first makes the pool fair across tenants: a
 *        tenant with a burst of due jobs gets a thread after every other
 *        tenant with due work, not all threads in arrival order.
 * @returns the job or NULL.
 */
rs_wjob_t *rs_wsched_next(rs_wsched_t *s, int64_t now,
			  rs_wsched_can_run_cb_t *can_run, void *opaque);

/**
 * @brief Earliest not_before among heads of idle keys (INT64_MAX if none);
 *        the poll/sleep bound for threads waiting for work.
 */
int64_t rs_wsched_next_deadline(rs_wsched_t *s);

/**
 * @brief How long a pool thread that found nothing to run may sleep:
 *        until the next waiting job is due, at most \p cap_ms.  When a job
 *        is due already (its tenant's admission refused it) or nothing
 *        waits, the answer is \p cap_ms: a finishing job wakes the pool.
 * @returns a value in [1, cap_ms] (cap_ms >= 1).
 */
int64_t rs_wsched_wait_ms(rs_wsched_t *s, int64_t now, int64_t cap_ms);

/**
 * @brief The running job finished (applied, dead-lettered): removed from
 *        its key, which becomes idle.  @p applied records its generation as
 *        the key's applied high-water mark.
 */
void rs_wsched_finish(rs_wsched_t *s, rs_wjob_t *job, bool applied);

/** @brief The running job waits until @p not_before and stays the head. */
void rs_wsched_retry(rs_wsched_t *s, rs_wjob_t *job, int64_t not_before);

/**
 * @brief Removes every job that is not running and for which @p match
 *        returns true (revoked partitions, shutdown), into @p out (up to
 *        @p out_max).  @returns the number removed.
 */
size_t rs_wsched_remove_if(rs_wsched_t *s, bool (*match)(rs_wjob_t *, void *),
			   void *opaque, rs_wjob_t **out, size_t out_max);

/** @returns jobs held (waiting, delayed and running). */
size_t rs_wsched_cnt(const rs_wsched_t *s);
/** @returns jobs running (busy keys). */
size_t rs_wsched_running(const rs_wsched_t *s);

#endif /* RS_WSCHED_H */
