/*
 * rs_topics.c - creation of rostersync's topics and the applied record.
 */
#include "rs/rs_base.h"
#include "rs/rs_topics.h"

#include <cjson/cJSON.h>

rs_err_t rs_topics_ensure(rs_queue_t *q, const rs_conf_global_t *g,
			  int timeout_ms, char *errstr, size_t errstr_size) {
	const char *jobs[4];
	const char *applied[1] = {g->queue.kafka.topics.applied};
	/* A compacted topic keeps the newest record per key for ever; the
	 * log is small (one record per target group or user). */
	static const char *const compact[] = {"cleanup.policy=compact"};
	rs_err_t err;

	jobs[0] = g->queue.kafka.topics.jobs_group;
	jobs[1] = g->queue.kafka.topics.jobs_user;
	jobs[2] = g->queue.kafka.topics.retry;
	jobs[3] = g->queue.kafka.topics.dlq;
	err = rs_queue_create_topics(q, jobs, RS_ARRAY_SIZE(jobs),
				     g->queue.kafka.partitions,
				     g->queue.kafka.replication_factor, NULL, 0,
				     timeout_ms, errstr, errstr_size);
	if (err != RS_OK)
		return err;
	return rs_queue_create_topics(q, applied, 1, g->queue.kafka.partitions,
				      g->queue.kafka.replication_factor,
				      compact, RS_ARRAY_SIZE(compact),
				      timeout_ms, errstr, errstr_size);
}

char *rs_topics_applied_record(const char *key, int64_t generation,
			       const char *job_id, int64_t applied_at_ms) {
	cJSON *o = cJSON_CreateObject();
	char *txt, *out;

	rs_assert(o);
	cJSON_AddStringToObject(o, "key", key ? key : "");
	/* Generations are ms timestamps: exact in a double up to 2^53. */
	cJSON_AddNumberToObject(o, "generation", (double)generation);
	cJSON_AddStringToObject(o, "job_id", job_id ? job_id : "");
	cJSON_AddNumberToObject(o, "applied_at", (double)applied_at_ms);
	txt = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	rs_assert(txt);
	out = rs_strdup(txt);
	cJSON_free(txt);
	return out;
}
