/*
 * cli_dlq_io.c - rs_cli_dlq_io_t on rs_queue: the DLQ tool's only link to
 * the real queue.
 *
 * The handle is producer-only and every read is rs_queue_scan(), which
 * uses no consumer group: listing or replaying the DLQ can never move the
 * workers' committed offsets or trigger a rebalance of their group.
 */
#include "rs/rs_base.h"
#include "rs/rs_queue.h"
#include "rs_cli.h"
#include "rs_cli_dlq.h"

#include <unistd.h>

/* How long one flush may wait for the broker before the step fails. */
#define FLUSH_TIMEOUT_MS 60000
/* How long produce keeps retrying while the local queue is full. */
#define PRODUCE_FULL_MS 60000
/* Longest scan of one topic; 100,000 entries take a few seconds. */
#define SCAN_TIMEOUT_MS 600000

typedef struct {
	rs_queue_t *q;
	int partitions;
	int replication;
} qio_t;

typedef struct {
	rs_cli_scan_cb_t *cb;
	void *opaque;
} scan_fwd_t;

/* rs_qmsg_t -> rs_dlq_rec_t: the engine and its tests know records, not
 * queue messages, so the in-memory io of the unit tests needs no
 * rs_queue at all. */
static rs_err_t scan_fwd(const rs_qmsg_t *msg, void *opaque) {
	scan_fwd_t *f = opaque;
	rs_dlq_rec_t rec;

	rec.partition = rs_qmsg_partition(msg);
	rec.offset = rs_qmsg_offset(msg);
	rec.timestamp = rs_qmsg_timestamp(msg);
	rec.key = rs_qmsg_key(msg, &rec.keylen);
	rec.value = rs_qmsg_value(msg, &rec.len);
	return f->cb(&rec, f->opaque);
}

static rs_err_t qio_scan(void *ctx, const char *topic, rs_cli_scan_cb_t *cb,
			 void *opaque, char *errstr, size_t errstr_size) {
	qio_t *x = ctx;
	scan_fwd_t f = {cb, opaque};
	rs_err_t err;

	err = rs_queue_scan(x->q, topic, SCAN_TIMEOUT_MS, scan_fwd, &f);
	/* rs_queue_scan gives a code only; say what it means here. */
	if (err == RS_ERR_TIMEOUT)
		rs_snprintf(errstr, errstr_size,
			    "not read to its end within %d s", SCAN_TIMEOUT_MS / 1000);
	else if (err == RS_ERR_QUEUE)
		rs_snprintf(errstr, errstr_size,
			    "queue error (broker unreachable?)");
	return err;
}

static rs_err_t qio_produce(void *ctx, const char *topic, const char *key,
			    const void *val, size_t len,
			    const char *entry_id) {
	qio_t *x = ctx;
	rs_queue_header_t h = {"rostersync-dlq-entry", entry_id,
			       entry_id ? strlen(entry_id) : 0};
	int64_t until = rs_now_ms() + PRODUCE_FULL_MS;
	rs_err_t err;

	/* A full local queue is back-pressure, not failure: the delivery
	 * thread empties it while we wait. */
	for (;;) {
		err = rs_queue_produce(x->q, topic, key, key ? strlen(key) : 0,
				       val, len, entry_id ? &h : NULL,
				       entry_id ? 1 : 0, NULL);
		if (err != RS_ERR_AGAIN || rs_now_ms() > until)
			return err;
		rs_sleep_ms(5);
	}
}

static rs_err_t qio_flush(void *ctx, char *errstr, size_t errstr_size) {
	qio_t *x = ctx;
	rs_err_t err = rs_queue_flush(x->q, FLUSH_TIMEOUT_MS);

	if (err == RS_ERR_TIMEOUT)
		rs_snprintf(errstr, errstr_size,
			    "not confirmed by the broker within %d s",
			    FLUSH_TIMEOUT_MS / 1000);
	else if (err != RS_OK)
		rs_snprintf(errstr, errstr_size, "delivery failed: %s",
			    rs_err_str(err));
	return err;
}

/* Compacted: the state topic holds one live record per entry id, so its
 * size follows the DLQ's, not the number of replays. */
static rs_err_t qio_ensure_compacted(void *ctx, const char *topic,
				     char *errstr, size_t errstr_size) {
	static const char *const cfg[] = {"cleanup.policy=compact"};
	qio_t *x = ctx;

	return rs_queue_create_topics(x->q, &topic, 1, x->partitions,
				      x->replication, cfg, 1, 30000, errstr,
				      errstr_size);
}

rs_err_t rs_cli_dlq_io_open(const rs_conf_t *conf, rs_cli_dlq_io_t *io,
			    char *errstr, size_t errstr_size) {
	const rs_conf_global_t *g = rs_conf_global(conf);
	const char *props[RS_QUEUE_MAX_PROPS];
	char *prop_buf[RS_QUEUE_MAX_PROPS];
	rs_queue_conf_t qc;
	size_t np = 0, i;
	qio_t *x;

	memset(io, 0, sizeof(*io));
	rs_queue_conf_init(&qc);
	/* The same back-end the workers use: the DLQ, state and applied
	 * topics all live there (SQLite: one database file). */
	if (g->queue.backend == RS_CONF_QUEUE_SQLITE) {
		if (!g->queue.sqlite.path) {
			rs_snprintf(errstr, errstr_size,
				    "queue.backend = sqlite needs "
				    "queue.sqlite.path");
			return RS_ERR_CONFIG;
		}
		/* Opening creates a missing database: a mistyped path would
		 * then show an empty DLQ instead of an error. */
		if (access(g->queue.sqlite.path, F_OK) != 0) {
			rs_snprintf(errstr, errstr_size,
				    "queue.sqlite.path %s does not exist (not "
				    "the workers' queue database?)",
				    g->queue.sqlite.path);
			return RS_ERR_NOT_FOUND;
		}
		qc.backend = "sqlite";
		qc.sqlite_path = g->queue.sqlite.path;
	} else {
		qc.backend = "kafka";
		qc.brokers = g->queue.kafka.brokers;
	}
	/* Producer only, and no group_id: nothing here can join the
	 * workers' group or commit an offset for it. */
	qc.roles = RS_QUEUE_ROLE_PRODUCER;
	qc.client_id = "rostersync-cli";
	/* The same extra properties as the workers (security settings). */
	for (i = 0; i < g->queue.kafka.properties.count &&
		    np < RS_QUEUE_MAX_PROPS;
	     i++) {
		size_t n = strlen(g->queue.kafka.properties.keys[i]) +
			   strlen(g->queue.kafka.properties.values[i]) + 2;
		prop_buf[np] = rs_malloc(n);
		rs_snprintf(prop_buf[np], n, "%s=%s",
			    g->queue.kafka.properties.keys[i],
			    g->queue.kafka.properties.values[i]);
		props[np] = prop_buf[np];
		np++;
	}
	qc.props = props;
	qc.prop_cnt = np;
	x = rs_calloc(1, sizeof(*x));
	x->partitions = g->queue.kafka.partitions;
	x->replication = g->queue.kafka.replication_factor;
	x->q = rs_queue_new(&qc, errstr, errstr_size);
	for (i = 0; i < np; i++)
		rs_free(prop_buf[i]);
	if (!x->q) {
		rs_free(x);
		return RS_ERR_QUEUE;
	}
	io->scan = qio_scan;
	io->produce = qio_produce;
	io->flush = qio_flush;
	io->ensure_compacted = qio_ensure_compacted;
	io->ctx = x;
	return RS_OK;
}

void rs_cli_dlq_io_close(rs_cli_dlq_io_t *io) {
	qio_t *x = io->ctx;

	if (!x)
		return;
	rs_queue_destroy(x->q);
	rs_free(x);
	io->ctx = NULL;
}
