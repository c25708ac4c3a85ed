/*
 * rs_topics.h - the topics rostersync owns, created with their settings.
 *
 * Both the planner and the worker call rs_topics_ensure() at start, so
 * whichever starts first creates them: job topics with
 * queue.kafka.partitions partitions (a broker's auto-create would give its
 * num.partitions instead, and no compaction), and the `applied` topic
 * compacted (one record per job key is all that replay needs).
 */
#ifndef RS_TOPICS_H
#define RS_TOPICS_H

#include "rs/rs_conf.h"
#include "rs/rs_queue.h"

/**
 * @brief Creates the job, retry, DLQ and applied topics named in @p g
 *        (existing topics count as success).
 * @returns RS_OK, or the rs_queue_create_topics() error with @p errstr
 *          naming the topic set that failed.  Callers treat a failure as
 *          a warning: a deployment may pre-create topics and deny the
 *          CreateTopics ACL; a missing topic then shows as a delivery
 *          failure, never as a silent loss.
 * @locality any thread; blocks up to @p timeout_ms per topic set.
 */
rs_err_t rs_topics_ensure(rs_queue_t *q, const rs_conf_global_t *g,
			  int timeout_ms, char *errstr, size_t errstr_size);

/**
 * @brief Encodes the applied record of a job:
 *        {"key":..., "generation":N, "job_id":..., "applied_at":ms}.
 * @returns a heap string (rs_free()), never NULL.
 */
char *rs_topics_applied_record(const char *key, int64_t generation,
			       const char *job_id, int64_t applied_at_ms);

#endif /* RS_TOPICS_H */
