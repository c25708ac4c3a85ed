/*
 * rs_topics.c - creation of rostersync's topics and the applied record.
 */
#include "rs/rs_base.h"
#include "rs/rs_topics.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <string.h>

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

/* True when @p s can go into a JSON string as it is: printable ASCII
 * without '"' or '\\'.  Keys and job ids nearly always are. */
static bool json_plain(const char *s) {
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
			return false;
	}
	return true;
}

char *rs_topics_applied_record(const char *key, int64_t generation,
			       const char *job_id, int64_t applied_at_ms) {
	char num[24], *txt, *out;
	cJSON *o;

	key = key ? key : "";
	job_id = job_id ? job_id : "";
	/* The worker writes one per job: plain strings take the direct
	 * path (cJSON's number printing alone, sprintf then sscanf to
	 * check the round trip, was a tenth of the worker's CPU). */
	if (json_plain(key) && json_plain(job_id)) {
		size_t size = strlen(key) + strlen(job_id) + 96;
		out = rs_malloc(size);
		rs_snprintf(out, size,
			    "{\"key\":\"%s\",\"generation\":%" PRId64
			    ",\"job_id\":\"%s\",\"applied_at\":%" PRId64 "}",
			    key, generation, job_id, applied_at_ms);
		return out;
	}
	/* Anything else is escaped by cJSON; the integers go in raw, exact
	 * at any size. */
	o = cJSON_CreateObject();
	rs_assert(o);
	cJSON_AddStringToObject(o, "key", key);
	rs_snprintf(num, sizeof(num), "%" PRId64, generation);
	cJSON_AddRawToObject(o, "generation", num);
	cJSON_AddStringToObject(o, "job_id", job_id);
	rs_snprintf(num, sizeof(num), "%" PRId64, applied_at_ms);
	cJSON_AddRawToObject(o, "applied_at", num);
	txt = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	rs_assert(txt);
	out = rs_strdup(txt);
	cJSON_free(txt);
	return out;
}
