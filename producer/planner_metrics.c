/*
 * planner_metrics.c - the planner's Prometheus metrics, fed from each
 * cycle's summary (the cycle itself stays metrics-free).  Shared by
 * rostersync-planner and `rostersync run`.
 */
#include "rs/rs_base.h"
#include "rs/rs_metrics.h"
#include "rs_planner.h"

struct rs_planner_metrics_s {
	rs_metrics_t *m;
	rs_metric_t *cycles, *changes, *errors, *unresolved, *seconds,
		*last_ok;
};

rs_planner_metrics_t *rs_planner_metrics_new(const char *listen,
					     char *errstr,
					     size_t errstr_size) {
	static const char *const result[] = {"result", NULL};
	static const char *const action[] = {"action", NULL};
	rs_planner_metrics_t *pm = rs_calloc(1, sizeof(*pm));

	pm->m = rs_metrics_new();
	pm->cycles = rs_metrics_register(pm->m, RS_METRIC_COUNTER,
					 "rostersync_planner_cycles_total",
					 "Planner cycles by result.", result,
					 NULL, 0);
	pm->changes = rs_metrics_register(
		pm->m, RS_METRIC_COUNTER, "rostersync_planner_changes_total",
		"Planned member changes (add, remove, held_back).", action,
		NULL, 0);
	pm->errors = rs_metrics_register(pm->m, RS_METRIC_COUNTER,
					 "rostersync_planner_errors_total",
					 "Tenant, publish and report failures.",
					 NULL, NULL, 0);
	pm->unresolved = rs_metrics_register(
		pm->m, RS_METRIC_GAUGE, "rostersync_planner_unresolved",
		"E-mails Entra did not know in the last cycle.", NULL, NULL, 0);
	pm->seconds = rs_metrics_register(
		pm->m, RS_METRIC_GAUGE, "rostersync_planner_cycle_seconds",
		"Duration of the last cycle.", NULL, NULL, 0);
	pm->last_ok = rs_metrics_register(
		pm->m, RS_METRIC_GAUGE,
		"rostersync_planner_last_success_timestamp_seconds",
		"Wall clock of the last fully successful cycle.", NULL, NULL, 0);
	if (rs_metrics_serve(pm->m, listen, errstr, errstr_size) != RS_OK) {
		rs_planner_metrics_destroy(pm);
		return NULL;
	}
	return pm;
}

void rs_planner_metrics_cycle(rs_planner_metrics_t *pm,
			      const rs_planner_summary_t *sum, bool ok) {
	const char *v[1];

	if (!pm)
		return;
	v[0] = ok ? "ok" : "error";
	rs_metric_add(pm->cycles, v, 1);
	v[0] = "add";
	rs_metric_add(pm->changes, v, (double)sum->adds);
	v[0] = "remove";
	rs_metric_add(pm->changes, v, (double)sum->removes);
	v[0] = "held_back";
	rs_metric_add(pm->changes, v, (double)sum->held_back);
	rs_metric_add(pm->errors, NULL, (double)sum->errors);
	rs_metric_set(pm->unresolved, NULL, (double)sum->unresolved);
	rs_metric_set(pm->seconds, NULL, sum->seconds);
	if (ok)
		rs_metric_set(pm->last_ok, NULL, (double)rs_wall_ms() / 1000.0);
}

void rs_planner_metrics_destroy(rs_planner_metrics_t *pm) {
	if (!pm)
		return;
	rs_metrics_destroy(pm->m);
	rs_free(pm);
}
