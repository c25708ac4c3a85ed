/*
 * rs_qconf.c - queue back-end selection from the global configuration.
 */
#include "rs/rs_base.h"
#include "rs/rs_qconf.h"

void rs_qconf_fill(rs_queue_conf_t *qc, const rs_conf_global_t *g) {
	rs_queue_conf_init(qc);
	qc->backend =
		g->queue.backend == RS_CONF_QUEUE_SQLITE ? "sqlite" : "kafka";
	qc->brokers = g->queue.kafka.brokers;
	qc->sqlite_path = g->queue.sqlite.path;
	/* Job topics are created with queue.kafka.partitions shards; a topic
	 * first seen by a produce or a subscription gets the same count. */
	qc->sqlite_shards = g->queue.kafka.partitions;
}
