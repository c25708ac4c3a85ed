/*
 * rs_sim.h - the API simulator as a library (rostersync-sim is a thin main()
 * around it; integration tests start it in-process on port 0).
 *
 * One rs_sim_t is one HTTP server on one port with every service under its
 * own path prefix (/login, /graph/v1.0, /talkdesk, /_sim) and its own
 * stateful synthetic MSP (tenants, Entra directory, Talkdesk account).
 * Several can live in one process: there is no global state.
 */
#ifndef RS_SIM_H
#define RS_SIM_H

#include "rs/rs_base.h"
#include "rs/rs_err.h"

typedef struct rs_sim_s rs_sim_t;

/** How a tenant's Talkdesk account answers the legacy ring-group API. */
typedef enum {
	RS_SIM_RG_SERVE = 0, /**< ring groups answered (GA until 2026-07-31) */
	RS_SIM_RG_RETIRED = 1, /**< 404 on every /ring-groups path (retired) */
	RS_SIM_RG_AUTO = 2, /**< serve before 2026-07-31, retired from then */
} rs_sim_rg_mode_t;

/** Simulator settings (plain value struct; rs_sim_conf_init fills defaults). */
typedef struct rs_sim_conf_s {
	const char *listen;      /**< IPv4 address to bind, "127.0.0.1" */
	int port;                /**< 0 = ephemeral, read with rs_sim_port() */
	int threads;             /**< MHD thread pool size (default 2) */
	int token_lifetime_s;    /**< access token lifetime (default 3599) */
	int ru_budget;           /**< per tenant RU / 10 s; 0 = by size S/M/L
				  *   3500/5000/8000 (graph.md §5) */
	int app_budget;          /**< per app requests / 10 s across all tenants
				  *   (default 130000, graph.md §5) */
	int write_budget;        /**< per tenant writes / 150 s (default 3000) */
	size_t ledger_size;      /**< ledger ring entries (default 100000) */
	rs_sim_rg_mode_t ring_groups; /**< default for generated tenants */
	int talkdesk_rate;       /**< Talkdesk requests/s per account, 0 = off */
} rs_sim_conf_t;

/** Dataset generator parameters (plain value struct). */
typedef struct rs_sim_gen_s {
	int tenants;           /**< number of tenants (default 3) */
	int users;             /**< Entra users in total (default 60) */
	int queues;            /**< Talkdesk queues in total (default 6) */
	uint64_t seed;         /**< everything derives from it (default 1) */
	int cert_every;        /**< every Nth tenant is certificate-only (5;
				*   0 = none) */
	const char *pfx_dir;   /**< where to write <tenant>.pfx (NULL: memory
				*   only, see rs_sim_tenant_pfx()) */
} rs_sim_gen_t;

/** @brief Fills defaults. */
void rs_sim_conf_init(rs_sim_conf_t *conf);
/** @brief Fills defaults. */
void rs_sim_gen_init(rs_sim_gen_t *gen);

/**
 * @brief Parses "tenants=N,users=U,queues=Q,seed=S[,cert_every=K]" into gen
 *        (keys not given keep their value).
 * @returns RS_OK or RS_ERR_INVALID_ARG with errstr filled.
 */
rs_err_t rs_sim_gen_parse(rs_sim_gen_t *gen, const char *spec, char *errstr,
			  size_t errstr_size);

/**
 * @brief Creates a simulator (not listening yet, no tenants).
 * @returns the handle or NULL with errstr filled.
 */
rs_sim_t *rs_sim_new(const rs_sim_conf_t *conf, char *errstr,
		     size_t errstr_size);

/**
 * @brief Builds the deterministic synthetic MSP described by gen, replacing
 *        any current data.  Same parameters give the same ids, names and
 *        memberships (certificates differ: RSA keys are random).
 * @locality any thread; may be called while serving.
 */
rs_err_t rs_sim_generate(rs_sim_t *sim, const rs_sim_gen_t *gen,
			 char *errstr, size_t errstr_size);

/** @brief Saves the full dataset (incl. credentials and keys) as JSON. */
rs_err_t rs_sim_save(rs_sim_t *sim, const char *path, char *errstr,
		     size_t errstr_size);
/** @brief Loads a dataset written by rs_sim_save(), replacing current data. */
rs_err_t rs_sim_load(rs_sim_t *sim, const char *path, char *errstr,
		     size_t errstr_size);

/**
 * @brief Writes a rostersync configuration pointing at this simulator:
 *        dir/rostersync.conf, dir/tenants.d/<id>.conf and the secrets as
 *        files (mode 0600) referenced with "file:".  Needs a started sim
 *        (the port is part of every URL).
 */
rs_err_t rs_sim_print_config(rs_sim_t *sim, const char *dir, char *errstr,
			     size_t errstr_size);

/** @brief Starts serving (MHD thread pool). */
rs_err_t rs_sim_start(rs_sim_t *sim, char *errstr, size_t errstr_size);
/** @returns the bound port (after rs_sim_start), 0 before. */
int rs_sim_port(const rs_sim_t *sim);
/** @returns "http://127.0.0.1:<port>" (valid while sim lives). */
const char *rs_sim_base_url(const rs_sim_t *sim);
/** @brief Stops serving; in-flight requests finish.  Idempotent. */
void rs_sim_stop(rs_sim_t *sim);
/** @brief Stops and frees.  Accepts NULL. */
void rs_sim_destroy(rs_sim_t *sim);

/* In-process access for tests and the demo: each returns a JSON document
 * (the same as the matching /_sim endpoint) that the caller frees with
 * rs_free(). */
char *rs_sim_tenants_json(rs_sim_t *sim);
/** @param tenant NULL for all tenants. */
char *rs_sim_state_json(rs_sim_t *sim, const char *tenant);
char *rs_sim_ledger_json(rs_sim_t *sim);
char *rs_sim_stats_json(rs_sim_t *sim);

/** @brief Same as POST /_sim/faults with body json. */
rs_err_t rs_sim_faults_push(rs_sim_t *sim, const char *json, char *errstr,
			    size_t errstr_size);
/** @brief Same as POST /_sim/churn: one deterministic round of source
 *         changes per tenant (tenant NULL = all).  @p summary (may be NULL)
 *         receives a JSON summary to rs_free(). */
rs_err_t rs_sim_churn(rs_sim_t *sim, const char *tenant, int changes,
		      char **summary);
/** @brief Same as POST /_sim/reset: dataset back to its generated/loaded
 *         state, ledger/stats/faults/tokens cleared; credentials kept. */
void rs_sim_reset(rs_sim_t *sim);

/**
 * @brief The PKCS#12 file of a certificate-only tenant, in memory.
 * @param der receives a pointer valid while sim lives (until next generate).
 * @param password receives the PFX password.
 * @returns RS_ERR_NOT_FOUND if the tenant has no certificate.
 */
rs_err_t rs_sim_tenant_pfx(rs_sim_t *sim, const char *tenant,
			   const unsigned char **der, size_t *der_len,
			   const char **password);

#endif /* RS_SIM_H */
