/*
 * rs_metrics.h - Prometheus metrics: a registry of counter, gauge and
 * histogram families with labels, rendered in the text exposition format
 * 0.0.4, served by libmicrohttpd on /metrics together with /healthz and
 * /readyz probes.
 *
 * Families are registered once (name, help, label names); series are created
 * on first use and bounded per family (RS_METRICS_MAX_SERIES): past the bound
 * new series are dropped and counted in rostersync_metrics_series_dropped_total,
 * so a label explosion can never grow memory without limit (Guarantee 6).
 *
 * @locks one mutex per registry; every function is thread-safe.
 */
#ifndef RS_METRICS_H
#define RS_METRICS_H

#include "rs_base.h"
#include "rs_err.h"

#define RS_METRICS_MAX_FAMILIES 128
#define RS_METRICS_MAX_LABELS 6
#define RS_METRICS_MAX_SERIES 50000
#define RS_METRICS_MAX_BUCKETS 20

typedef struct rs_metrics_s rs_metrics_t;
typedef struct rs_metric_s rs_metric_t; /* one family */

typedef enum {
	RS_METRIC_COUNTER,
	RS_METRIC_GAUGE,
	RS_METRIC_HISTOGRAM,
} rs_metric_type_t;

/** @brief Creates an empty registry. */
rs_metrics_t *rs_metrics_new(void);
/** @brief Stops the server if running and frees everything. NULL-safe. */
void rs_metrics_destroy(rs_metrics_t *m);

/**
 * @brief Registers a family.
 * @param name metric name ([a-zA-Z_:][a-zA-Z0-9_:]*); counters should end in
 *        _total.
 * @param labels NULL-terminated label names (at most RS_METRICS_MAX_LABELS),
 *        or NULL.
 * @param buckets histogram upper bounds, ascending (ignored otherwise);
 *        +Inf is implicit.
 * @returns the family, or NULL on a bad name/label/bucket list or when the
 *          registry is full. Registering the same name twice with the same
 *          type returns the existing family.
 */
rs_metric_t *rs_metrics_register(rs_metrics_t *m, rs_metric_type_t type,
				 const char *name, const char *help,
				 const char *const *labels,
				 const double *buckets, size_t bucket_cnt);

/**
 * @brief Adds @p v to a counter or gauge series (created on first use).
 * @param values label values in the order of registration; NULL values and
 *        missing trailing values render as "".
 * @remark counters ignore negative @p v.
 */
void rs_metric_add(rs_metric_t *f, const char *const *values, double v);
/** @brief Sets a gauge series. */
void rs_metric_set(rs_metric_t *f, const char *const *values, double v);
/** @brief Records one observation in a histogram series. */
void rs_metric_observe(rs_metric_t *f, const char *const *values, double v);
/**
 * @brief Removes every series of a family, e.g. a gauge whose label set
 *        follows something that comes and goes (the partitions assigned
 *        now): clear, then set the current ones, in the collect hook.
 */
void rs_metric_clear(rs_metric_t *f);
/** @brief Current value of a counter/gauge series (0 if absent); tests. */
double rs_metric_get(rs_metric_t *f, const char *const *values);

/**
 * A collect hook runs before every render (e.g. to set in-flight and lag
 * gauges from the queue). @locality the thread rendering (the HTTP thread).
 */
typedef void(rs_metrics_collect_cb_t)(rs_metrics_t *m, void *opaque);
void rs_metrics_set_collect(rs_metrics_t *m, rs_metrics_collect_cb_t *cb,
			    void *opaque);

/** Readiness hook for /readyz: return true when ready. */
typedef bool(rs_metrics_ready_cb_t)(void *opaque);
void rs_metrics_set_ready(rs_metrics_t *m, rs_metrics_ready_cb_t *cb,
			  void *opaque);

/**
 * @brief Renders the registry in the Prometheus text format.
 * @returns a heap string (rs_free()), never NULL.
 */
char *rs_metrics_render(rs_metrics_t *m);

/**
 * @brief Serves /metrics, /healthz and /readyz.
 * @param listen "HOST:PORT" (IPv4 host or "*" for any); PORT 0 picks a free
 *        port (see rs_metrics_port()).
 * @returns RS_OK or RS_ERR_INVALID_ARG / RS_ERR_IO with @p errstr filled.
 */
rs_err_t rs_metrics_serve(rs_metrics_t *m, const char *listen, char *errstr,
			  size_t errstr_size);
/** @returns the port being served, 0 if none. */
int rs_metrics_port(rs_metrics_t *m);

#endif /* RS_METRICS_H */
