/*
 * rs_qconf.h - the queue settings of the global configuration, turned into
 * an rs_queue_conf_t.  The planner, the worker and the CLI all open queue
 * handles; this is the one place that knows which configuration keys
 * select and address the back-end, so `queue.backend = "sqlite"` works the
 * same for every program.
 */
#ifndef RS_QCONF_H
#define RS_QCONF_H

#include "rs/rs_conf.h"
#include "rs/rs_queue.h"

/**
 * @brief rs_queue_conf_init() plus the back-end fields from @p g:
 *        backend ("kafka" or "sqlite" from queue.backend), brokers
 *        (queue.kafka.brokers), sqlite_path (queue.sqlite.path) and
 *        sqlite_shards (queue.kafka.partitions, so topics created
 *        implicitly get as many shards as rs_topics_ensure() gives them).
 * @remark Pointers into @p g are stored, not copied: @p g must outlive
 *         the rs_queue_new() call (rs_queue_new copies everything).  The
 *         caller still sets roles, group, topics, props and callbacks.
 * @locality any thread.
 */
void rs_qconf_fill(rs_queue_conf_t *qc, const rs_conf_global_t *g);

#endif /* RS_QCONF_H */
