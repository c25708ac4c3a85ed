/*
 * sim_priv.h - the simulator core's own internals (the rs_sim_t struct,
 * ledger, stats, faults, generator).  Service modules use sim_int.h only.
 */
#ifndef SIM_PRIV_H
#define SIM_PRIV_H

#include "sim_int.h"

struct MHD_Daemon;

/** One recorded request (ring buffer entry; strings owned). */
typedef struct sim_ledger_ent_s {
	uint64_t seq;
	int64_t wall_ms;
	char *tenant;            /* may be NULL */
	char *method;
	char *path;
	char *query;             /* decoded, secrets redacted */
	char *auth;              /* "Bearer ***", "Basic ***" or NULL */
	char *client_request_id;
	char *traceparent;       /* W3C trace context, may be NULL */
	const char *endpoint;    /* static route name */
	char request_id[37];
	int status;              /* 0 = dropped connection */
	int64_t latency_us;
	bool cross_tenant;
	int depth;
	char *fault;             /* fault applied, NULL if none */
} sim_ledger_ent_t;

/** A fault rule (POST /_sim/faults). */
typedef enum {
	SIM_FAULT_ERROR = 0,     /* respond status (+Retry-After) */
	SIM_FAULT_DROP,          /* close without answering */
	SIM_FAULT_HANG,          /* hold hang_ms then close */
	SIM_FAULT_MALFORMED,     /* real handler, truncated body */
	SIM_FAULT_LATENCY,       /* delay only, then real handler */
} sim_fault_kind_t;

typedef struct sim_fault_step_s {
	sim_fault_kind_t kind;
	int status;
	char retry_after[32];    /* "" = none */
	int hang_ms;
} sim_fault_step_t;

#define SIM_FAULT_STEPS_MAX 1000
#define SIM_FAULT_RULES_MAX 256

typedef struct sim_fault_rule_s {
	struct sim_fault_rule_s *next;
	char tenant[64];         /* "*" = any */
	char method[16];         /* "" = any */
	char path[256];          /* glob on the full path, "" = any */
	char endpoint[96];       /* glob on the route name, "" = any */
	/* Scripted steps, consumed in order, one per matching request. */
	sim_fault_step_t *steps;
	int n_steps, next_step;
	/* Latency for every matching request (until `latency_count` used,
	 * -1 = forever): uniform in [min,max] or exponential with mean. */
	int lat_min_ms, lat_max_ms;
	int lat_mean_ms;         /* >0: exponential distribution */
	int lat_count;
} sim_fault_rule_t;

struct rs_sim_s {
	rs_sim_conf_t conf;
	char listen[64];
	struct MHD_Daemon *mhd;
	int port;
	char base_url[96];
	unsigned char tok_key[32];

	pthread_rwlock_t state_lock; /* the tenant list */
	sim_tenant_t **tenants;
	int n_tenants;
	sim_map_t tn_by_id, tn_by_entra, tn_by_graph_client, tn_by_td_client;

	pthread_mutex_t idx_lock;    /* owner index */
	sim_map_t owner;             /* object id -> sim_tenant_t* */

	pthread_mutex_t tok_lock;
	sim_map_t tokens;            /* token string -> sim_token_t* */
	char **tok_ring;             /* FIFO for eviction */
	size_t tok_cap, tok_head, tok_n;

	pthread_mutex_t app_lock;    /* global per-app budget */
	sim_bucket_t app;

	pthread_mutex_t led_lock;
	sim_ledger_ent_t *ledger;
	size_t led_cap, led_head, led_n;
	uint64_t led_seq;

	pthread_mutex_t stats_lock;
	sim_map_t stats_ep;          /* "endpoint status" -> int64_t* */
	int64_t st_requests, st_writes_applied, st_writes_noop;
	int64_t st_cross_tenant, st_faults, st_throttled;

	pthread_mutex_t fault_lock;
	sim_fault_rule_t *faults;
	int n_faults;

	/* What reset rebuilds from. */
	rs_sim_gen_t gen;
	char *pfx_dir;
	bool generated;
	char *loaded_path;
	int64_t started_ms;
	int stopping;                /* atomic: hung handlers give up */

	/* Held answers (latency and hang faults): suspended MHD connections
	 * resumed by one timer thread, so a slow answer never blocks a pool
	 * thread. */
	pthread_mutex_t delay_lock;
	pthread_cond_t delay_cond;
	struct sim_delay_s *delays;
	size_t n_delays, cap_delays;
	pthread_t delay_thread;
	bool delay_running;
	bool delay_quit;
};

/* sim_core.c */
void sim_tokens_clear(rs_sim_t *sim);

/* sim_ledger.c */
void sim_ledger_init(rs_sim_t *sim);
void sim_ledger_cleanup(rs_sim_t *sim);
void sim_ledger_record(rs_sim_t *sim, const sim_req_t *req,
		       const sim_resp_t *resp, const char *fault);
cJSON *sim_ledger_json(rs_sim_t *sim, const char *tenant, uint64_t since);
void sim_ledger_clear(rs_sim_t *sim);
void sim_stats_request(rs_sim_t *sim, const char *endpoint, int status,
		       bool cross_tenant);
cJSON *sim_stats_json(rs_sim_t *sim);
void sim_stats_clear(rs_sim_t *sim);

/* sim_fault.c */
/** @brief Parses a fault document (one rule object or an array, or
 *  {"clear":true}).  @returns RS_OK with *rules (list) / *clear set. */
rs_err_t sim_faults_parse(const char *json, size_t len,
			  sim_fault_rule_t **rules, bool *clear,
			  char *errstr, size_t errstr_size);
void sim_faults_free(sim_fault_rule_t *rules);
/** @brief Adds parsed rules (appended, in order). */
rs_err_t sim_faults_add(rs_sim_t *sim, sim_fault_rule_t *rules,
			char *errstr, size_t errstr_size);
void sim_faults_clear(rs_sim_t *sim);
/** @brief Takes the fault for a request, if any: latency_ms receives the
 *  delay to apply (0 none); @returns true and fills step when a scripted
 *  step applies. */
bool sim_faults_take(rs_sim_t *sim, const char *tenant, const char *method,
		     const char *url, const char *endpoint, int *latency_ms,
		     sim_fault_step_t *step);
cJSON *sim_faults_json(rs_sim_t *sim);

/* sim_state.c */
sim_tenant_t *sim_tenant_new(rs_sim_t *sim, const char *id);
void sim_tenant_destroy(sim_tenant_t *tn);
/** @brief Drops all directory/Talkdesk data (tn->lock held for writing). */
void sim_tenant_clear_data(sim_tenant_t *tn);
/** @brief Adds a tenant to the sim (state_lock held for writing). */
void sim_tenants_add(rs_sim_t *sim, sim_tenant_t *tn);
/** @brief Removes and destroys every tenant (state_lock held for writing). */
void sim_tenants_clear(rs_sim_t *sim);
cJSON *sim_tenants_json(rs_sim_t *sim);
/** @returns NULL when tenant is unknown. */
cJSON *sim_state_json(rs_sim_t *sim, const char *tenant);
void sim_bucket_init(sim_bucket_t *b, double capacity, double window_s);

/* sim_io.c */
/** @brief Restores every tenant's data from the loaded dataset file
 *  (state_lock held for reading; credentials and tenant list unchanged). */
rs_err_t sim_io_reload_data(rs_sim_t *sim, char *errstr, size_t errstr_size);

/* sim_throttle.c */
/** @brief Sets tn's RU budget from conf or its size class (tn->lock held). */
void sim_throttle_size(sim_tenant_t *tn);

/* sim_gen.c */
rs_err_t sim_gen_build(rs_sim_t *sim, const rs_sim_gen_t *gen, char *errstr,
		       size_t errstr_size);
/** @brief Rebuilds a generated tenant's data (tn->lock held for writing). */
void sim_gen_tenant_data(rs_sim_t *sim, sim_tenant_t *tn, int index);
/** @brief One churn round on tn (tn->lock held for writing). */
cJSON *sim_gen_churn(sim_tenant_t *tn, int changes);
/** @brief Creates the certificate + PFX of a tenant. */
rs_err_t sim_gen_cert(sim_tenant_t *tn, char *errstr, size_t errstr_size);
/** @brief Loads a certificate from PEM (cert + key) into tn. */
rs_err_t sim_cert_from_pem(sim_tenant_t *tn, const char *cert_pem,
			   const char *key_pem, char *errstr,
			   size_t errstr_size);
char *sim_cert_pem(const sim_tenant_t *tn);

#endif /* SIM_PRIV_H */
