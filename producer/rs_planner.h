/*
 * rs_planner.h - the planner: one cycle reads every enabled tenant's
 * Talkdesk source, resolves e-mails to Entra ids, lists the target groups,
 * diffs (exact or additive), applies the deletion guard and publishes one
 * group.members job per group with changes (or, in dry-run, writes the
 * plan as plan.json / plan.csv).
 */
#ifndef RS_PLANNER_H
#define RS_PLANNER_H

#include "rs/rs_base.h"
#include "rs/rs_err.h"
#include "rs/rs_conf.h"

/* ------------------------------------------------------------------------
 * Pure diff + deletion guard (no I/O, unit-tested)
 * --------------------------------------------------------------------- */

/** Inputs of one group's diff.  Id arrays need not be sorted or unique. */
typedef struct rs_planner_diff_in_s {
	const char *const *desired; /**< resolved ids the source wants */
	size_t desired_cnt;
	const char *const *current; /**< ids in the target group now */
	size_t current_cnt;
	int mode;               /**< rs_conf_sync_mode_t */
	/** false: the source for this group is not trustworthy this cycle
	 * (read error, queue missing or empty): never remove anything. */
	bool source_ok;
	int max_removals;        /**< guard by count */
	int max_removal_percent; /**< guard by share of current members */
	bool force_removals;     /**< --force-removals: guard off */
} rs_planner_diff_in_t;

/** Result: pointers borrowed from the inputs, each list sorted by id. */
typedef struct rs_planner_diff_s {
	const char **adds;
	size_t add_cnt;
	const char **removes;  /**< removals to publish */
	size_t remove_cnt;
	const char **held;     /**< removals held back by the guard */
	size_t held_cnt;
	bool guarded;          /**< the guard tripped (held_cnt > 0) */
	bool removals_skipped; /**< exact mode, but source_ok was false */
} rs_planner_diff_t;

/**
 * @brief Computes adds = desired - current and (exact mode, source_ok)
 *        removes = current - desired, then the guard: when removes >
 *        max_removals or removes*100 > max_removal_percent*current_cnt,
 *        all removes are moved to held (unless force_removals).
 * @returns RS_OK (out must be released with rs_planner_diff_cleanup()).
 * @locality any thread, no shared state.
 */
rs_err_t rs_planner_diff(const rs_planner_diff_in_t *in,
			 rs_planner_diff_t *out);
/** @brief Frees the lists (not the strings). NULL-safe. */
void rs_planner_diff_cleanup(rs_planner_diff_t *out);

/* ------------------------------------------------------------------------
 * Cycles
 * --------------------------------------------------------------------- */

typedef struct rs_planner_opts_s {
	bool dry_run;        /**< publish nothing, write plan.json/plan.csv */
	bool force_removals; /**< disable the deletion guard */
	const char *report_dir; /**< NULL = planner.report_dir */
} rs_planner_opts_t;

/** Totals of one cycle (the summary line). */
typedef struct rs_planner_summary_s {
	size_t tenants;     /**< enabled tenants planned */
	size_t groups;      /**< mapping entries planned */
	size_t jobs;        /**< groups with changes (envelopes) */
	size_t adds;
	size_t removes;     /**< removals published / planned */
	size_t held_back;   /**< removals held back by the guard */
	size_t unresolved;  /**< e-mails Entra does not know */
	size_t errors;      /**< tenant or group failures */
	double seconds;
} rs_planner_summary_t;

typedef struct rs_planner_s rs_planner_t;

/**
 * @brief Creates a planner over a loaded configuration (borrowed, must
 *        outlive the planner).  Creates the Kafka producer unless dry-run.
 * @returns NULL with errstr filled when the queue cannot be set up
 *          (queue.backend = sqlite is not implemented yet).
 */
rs_planner_t *rs_planner_new(const rs_conf_t *conf,
			     const rs_planner_opts_t *opts, char *errstr,
			     size_t errstr_size);
/** @brief Frees the planner (flushes nothing). NULL-safe. */
void rs_planner_destroy(rs_planner_t *p);

/**
 * @brief Runs one cycle over every enabled tenant with planner.concurrency
 *        threads, then publishes (or writes the dry-run plan) and appends
 *        the audit CSV.
 * @returns RS_OK when every tenant was planned and every job delivered;
 *          otherwise the first failure (other tenants are still planned).
 *          sum is filled in both cases.
 * @locality one caller at a time.
 */
rs_err_t rs_planner_cycle(rs_planner_t *p, rs_planner_summary_t *sum);

/** @brief Writes the one-line summary ("tenants=.. groups=.."). */
void rs_planner_summary_print(const rs_planner_summary_t *sum, FILE *fp);

/** The planner's Prometheus metrics (opaque). */
typedef struct rs_planner_metrics_s rs_planner_metrics_t;

/**
 * @brief Registers the planner metrics and serves /metrics, /healthz and
 *        /readyz on @p listen ("host:port").
 * @returns the handle or NULL with errstr filled.
 */
rs_planner_metrics_t *rs_planner_metrics_new(const char *listen,
					     char *errstr,
					     size_t errstr_size);
/** @brief Feeds one cycle's summary (@p ok: the cycle succeeded).  NULL ok. */
void rs_planner_metrics_cycle(rs_planner_metrics_t *pm,
			      const rs_planner_summary_t *sum, bool ok);
/** @brief Stops serving and frees.  Accepts NULL. */
void rs_planner_metrics_destroy(rs_planner_metrics_t *pm);

#endif /* RS_PLANNER_H */
