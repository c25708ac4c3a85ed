/*
 * rs_conf.h - configuration: one table per scope (STYLE.md 13).
 *
 * A deployment is a main libconfig file (rostersync.conf) holding the global
 * settings, plus a folder (tenants_dir, default "tenants.d" next to the main
 * file) with one file per tenant, each holding one `tenant = { ... };` group.
 *
 * Two tables, one per scope (global, tenant), list every key once: dotted
 * name, type, offset into the plain value struct below, min/max, default,
 * flags and description.  The tables drive everything: loading, validation
 * (every error names file, line and key, and ALL errors are collected),
 * -X key=value overrides (the same setter as the files), rs_conf_dump()
 * (--dump-config, secrets redacted) and rs_conf_doc_markdown() which
 * generates docs/CONFIGURATION.md.  The list of keys with their defaults
 * and ranges is that document; this header only explains the structs.
 *
 * Lifetime and threads: rs_conf_load() validates everything before it
 * returns, then the rs_conf_t is immutable: any thread may read it and the
 * structs it hands out, which stay valid until rs_conf_destroy().
 *
 * Secrets: values of RS_CONF_SENSITIVE keys are references ("env:NAME" or
 * "file:PATH"), never the secret itself; a relative file: path is made
 * absolute against the directory of the file that holds it, so the struct
 * always carries a reference rs_secret_resolve() can use with base_dir NULL.
 * The resolved value goes into a buffer owned by the CALLER, who must
 * rs_wipe() it as soon as the credential has been used (see rs_secret.h).
 * The config never holds a resolved secret.
 */
#ifndef RS_CONF_H
#define RS_CONF_H

#include "rs_base.h"
#include "rs_err.h"

/* -------------------------------------------------------------------------
 * Limits (going past one is a configuration error, not a crash)
 * ---------------------------------------------------------------------- */
#define RS_CONF_MAX_TENANTS 10000       /**< files in tenants_dir */
#define RS_CONF_MAX_STR 4096            /**< any string value, bytes */
#define RS_CONF_MAX_URL 2048            /**< any URL value, bytes */
#define RS_CONF_MAX_LIST 256            /**< items in a string list */
#define RS_CONF_MAX_MAP 10000           /**< entries in a map / mapping */
#define RS_CONF_MAX_FILE (4 * 1024 * 1024) /**< config or mapping file */
#define RS_CONF_MAX_TENANT_ID 64        /**< [a-z0-9_-]{1,64} */
#define RS_CONF_MAX_ERRORS 200          /**< errors collected before giving up */

/* -------------------------------------------------------------------------
 * Value types used in the structs
 * ---------------------------------------------------------------------- */

/** A list of strings (plain value, owned by the conf). */
typedef struct rs_conf_strlist_s {
	size_t count;
	char **items;
} rs_conf_strlist_t;

/** An ordered string map (plain value, owned by the conf); keys unique. */
typedef struct rs_conf_map_s {
	size_t count;
	char **keys;
	char **values;
} rs_conf_map_t;

/** log.level: index i of the allowed values is syslog level i. */
/* (emerg=0 alert crit err warning notice info debug=7) */

/** log.format: same numbering as rs_log_fmt_t. */
typedef enum { RS_CONF_LOG_TEXT = 0, RS_CONF_LOG_JSON = 1 } rs_conf_log_format_t;

/** queue.backend */
typedef enum {
	RS_CONF_QUEUE_SQLITE = 0, /**< embedded, one machine (default) */
	RS_CONF_QUEUE_KAFKA = 1,  /**< scale-out across machines */
} rs_conf_queue_backend_t;

/** planner.resolve_batch: how identities are resolved. */
typedef enum {
	RS_CONF_RESOLVE_BATCH = 0, /**< Graph $batch, 20 per request (default) */
	RS_CONF_RESOLVE_IN = 1,    /**< $filter=... in (...) lists, 15 per request */
} rs_conf_resolve_t;

/** tenant.talkdesk.region (sources.md 1.1). */
typedef enum {
	RS_CONF_TD_US = 0,
	RS_CONF_TD_EU = 1,
	RS_CONF_TD_CA = 2,
	RS_CONF_TD_AU = 3, /**< unconfirmed hosts: prefer base_url/token_url */
} rs_conf_td_region_t;

/** tenant.talkdesk.source: which Talkdesk API gives the groups. */
typedef enum {
	RS_CONF_TD_SRC_QUEUES = 0,      /**< /ccaas/queues (default) */
	RS_CONF_TD_SRC_RING_GROUPS = 1, /**< /ring-groups (deprecated 2026-07-31) */
	RS_CONF_TD_SRC_GUARDIAN = 2,    /**< /guardian/users ring_groups field */
} rs_conf_td_source_t;

/** tenant.sync.mode */
typedef enum {
	RS_CONF_SYNC_EXACT = 0,    /**< add and remove (default) */
	RS_CONF_SYNC_ADDITIVE = 1, /**< add only, never remove */
} rs_conf_sync_mode_t;

/** tenant.graph auth method, derived from which keys are set. */
typedef enum {
	RS_CONF_AUTH_SECRET = 0,   /**< client_secret */
	RS_CONF_AUTH_CERT_PFX = 1, /**< certificate.pfx (+ pfx_password) */
	RS_CONF_AUTH_CERT_PEM = 2, /**< certificate.key + certificate.cert */
} rs_conf_auth_t;

/* -------------------------------------------------------------------------
 * The global scope: a plain value struct, read-only, owned by the conf.
 * Member names follow the dotted keys (queue.kafka.brokers ->
 * g->queue.kafka.brokers).  Durations are milliseconds.  Strings that are
 * not set are NULL unless the key has a default.  Paths are absolute
 * (relative ones are taken from the main file's directory).
 * ---------------------------------------------------------------------- */
typedef struct rs_conf_global_s {
	struct {
		int level;  /**< syslog level, LOG_ERR..LOG_DEBUG */
		int format; /**< rs_conf_log_format_t */
	} log;
	unsigned int debug; /**< RS_DBG_* mask (rs_log.h) */

	struct {
		int backend; /**< rs_conf_queue_backend_t */
		struct {
			char *brokers;      /**< required when backend = kafka */
			char *topic_prefix; /**< "rostersync." */
			struct {
				/* Empty in the file = prefix + default suffix;
				 * always filled after load. */
				char *jobs_group; /**< prefix + "jobs.group" */
				char *jobs_user;  /**< prefix + "jobs.user" */
				char *retry;      /**< prefix + "jobs.retry" */
				char *dlq;        /**< prefix + "jobs.dlq" */
				char *applied;    /**< prefix + "applied" */
			} topics;
			int partitions;
			int replication_factor;
			rs_conf_map_t properties; /**< extra librdkafka settings */
		} kafka;
		struct {
			char *path; /**< database file */
		} sqlite;
	} queue;

	struct {
		int64_t interval_ms;
		int concurrency;
		int max_attempts;   /**< per read request */
		char *report_dir;
		char *audit_dir;
		char *metrics_listen; /**< "host:port", NULL = off */
		int max_removals;
		int max_removal_percent;
		int group_member_warn;
		int resolve_batch; /**< rs_conf_resolve_t */
		int64_t cache_ttl_ms;
	} planner;

	struct {
		int threads;
		int max_in_flight;
		int max_attempts;
		int64_t retry_base_ms;
		int64_t retry_max_ms;
		int64_t retry_hold_max_ms; /**< longer delays go to the retry topic */
		int retry_max_held;        /**< retry-topic jobs held at once */
		int64_t shutdown_timeout_ms;
		char *metrics_listen;
		bool metrics_tenant_labels;
		char *group_id;
		int tenant_concurrency_initial;
		int tenant_concurrency_max;
	} worker;

	struct {
		int64_t timeout_ms;
		int64_t connect_timeout_ms;
		char *ca_file; /**< NULL = system store */
		char *user_agent;
		int64_t max_response_bytes;
	} http;

	char *tenants_dir; /**< absolute path of the tenant folder */
	char *main_file;   /**< the main file as given to rs_conf_load() */
} rs_conf_global_t;

/* -------------------------------------------------------------------------
 * The tenant scope: one plain value struct per tenant file.  Defaults that
 * depend on other keys (Talkdesk hosts from region/account, sync limits
 * inherited from planner.*) are resolved at load: the struct holds the
 * EFFECTIVE value.  Secret members hold references, never secrets.
 * ---------------------------------------------------------------------- */
typedef struct rs_conf_tenant_s {
	char *id;   /**< [a-z0-9_-]{1,64}, unique */
	char *name; /**< display name, defaults to id */
	bool enabled;

	struct {
		char *tenant_id; /**< directory GUID or verified domain */
		char *client_id; /**< application GUID */
		int auth;        /**< rs_conf_auth_t (exactly one method is set) */
		char *client_secret; /**< secret ref (AUTH_SECRET) */
		struct {
			char *pfx;          /**< path (AUTH_CERT_PFX) */
			char *pfx_password; /**< secret ref or NULL */
			char *key;          /**< secret ref to PEM key (AUTH_CERT_PEM) */
			char *cert;         /**< path to PEM certificate */
		} certificate;
		char *login_url; /**< https://login.microsoftonline.com */
		char *base_url;  /**< https://graph.microsoft.com/v1.0 */
	} graph;

	struct {
		bool configured; /**< false: no tenant.talkdesk group */
		char *account;   /**< [a-z0-9-], the {account} host label */
		int region;      /**< rs_conf_td_region_t */
		char *base_url;  /**< effective API base (from region) */
		char *token_url; /**< effective token URL (from region, account) */
		char *client_id;
		char *client_secret; /**< secret ref */
		rs_conf_strlist_t scopes;
		int source; /**< rs_conf_td_source_t */
	} talkdesk;

	/** Source group name -> Entra group id (GUID), from tenant.mapping or
	 *  the JSON tenant.mapping_file (never both). */
	rs_conf_map_t mapping;
	char *mapping_file; /**< absolute path or NULL */

	struct {
		int mode;                /**< rs_conf_sync_mode_t */
		int max_removals;        /**< effective (inherits planner.*) */
		int max_removal_percent; /**< effective (inherits planner.*) */
	} sync;

	/** Where the tenant came from, for messages ("tenants.d/x.conf"). */
	char *source_file;
	/** Directory of source_file (base for relative paths). */
	char *base_dir;
} rs_conf_tenant_t;

/* -------------------------------------------------------------------------
 * The tables
 * ---------------------------------------------------------------------- */
typedef enum { RS_CONF_SCOPE_GLOBAL = 0, RS_CONF_SCOPE_TENANT = 1 } rs_conf_scope_t;

typedef enum {
	RS_CONF_T_STR,      /**< char * */
	RS_CONF_T_INT,      /**< int */
	RS_CONF_T_INT64,    /**< int64_t */
	RS_CONF_T_BOOL,     /**< bool */
	RS_CONF_T_DOUBLE,   /**< double */
	RS_CONF_T_ENUM,     /**< int: index into the allowed values */
	RS_CONF_T_FLAGS,    /**< unsigned int mask: comma list of allowed names */
	RS_CONF_T_DURATION, /**< int64_t ms: 250 (ms) or "250ms" "30s" "5m" "1h" */
	RS_CONF_T_SECRET,   /**< char *: "env:NAME" | "file:PATH" */
	RS_CONF_T_URL,      /**< char *: http(s)://host..., no userinfo/spaces */
	RS_CONF_T_PATH,     /**< char *: made absolute against the file's dir */
	RS_CONF_T_STRLIST,  /**< rs_conf_strlist_t: ["a", "b"] or "a,b" */
	RS_CONF_T_MAP,      /**< rs_conf_map_t: { k = "v"; } or ["k=v", ...] */
} rs_conf_type_t;

#define RS_CONF_SENSITIVE 0x1  /**< value is a secret ref; redacted in dumps */
#define RS_CONF_RELOADABLE 0x2 /**< may change without a restart (SIGHUP) */
#define RS_CONF_REQUIRED 0x4   /**< must be set */
#define RS_CONF_HIDDEN 0x8     /**< internal, not documented (none yet) */

/** One row of a table (read-only, static). */
typedef struct rs_conf_prop_s {
	const char *name;    /**< dotted key, "queue.kafka.brokers" */
	rs_conf_type_t type;
	size_t offset;       /**< into rs_conf_global_t / rs_conf_tenant_t */
	int64_t min, max;    /**< ints, durations (ms), string length; 0,0 = none */
	const char *def;     /**< default as text, NULL = none */
	const char *values;  /**< ENUM/FLAGS: "a|b|c" (index = value / bit) */
	int flags;           /**< RS_CONF_* */
	const char *desc;    /**< one or more sentences for the docs */
} rs_conf_prop_t;

/**
 * @brief The table of a scope.
 * @param count receives the number of rows.
 * @returns a static array.
 * @locality any thread.
 */
const rs_conf_prop_t *rs_conf_props(rs_conf_scope_t scope, size_t *count);

/** @returns the row of a dotted key in a scope, or NULL. */
const rs_conf_prop_t *rs_conf_prop_find(rs_conf_scope_t scope,
					const char *name);

/* -------------------------------------------------------------------------
 * Loading
 * ---------------------------------------------------------------------- */
typedef struct rs_conf_s rs_conf_t;

/**
 * @brief Loads and fully validates the main file, every *.conf in
 *        tenants_dir, and the overrides.
 * @param main_path the main file (its directory is the base for relative
 *        paths in it, including tenants_dir).
 * @param overrides "key=value" strings as given to -X, applied after the
 *        files through the same setter.  Global keys by name
 *        ("worker.threads=8"); tenant keys as tenant.<id>.<rest>
 *        ("tenant.contoso.graph.base_url=http://127.0.0.1:8080/v1.0", i.e.
 *        the key tenant.graph.base_url for tenant contoso) or
 *        tenant.*.<rest> for every tenant.  Relative paths in overrides are
 *        taken from the current directory.  May be NULL when n is 0.
 * @param errstr receives ALL errors, one per line
 *        ("tenants.d/t007.conf:12: tenant.graph.base_url: must be an http(s)
 *        URL"), truncated to errstr_size with a final "... N more" line.
 * @returns the configuration, or NULL when anything is wrong.
 * @remark Nothing should run before this returns non-NULL.  Secrets are not
 *         resolved here (only their form is checked), so a missing env var
 *         fails where the credential is used, naming the reference.
 * @locality any thread; no global state is touched (log level etc. are for
 *           the caller to apply from rs_conf_global()).
 */
rs_conf_t *rs_conf_load(const char *main_path, const char **overrides,
			size_t n_overrides, char *errstr, size_t errstr_size);

/**
 * @brief Same as rs_conf_load() from text, for tests and fuzzing: no file
 *        is read except mapping files named in the text.
 * @param main_text the main file's content (NULL = all defaults).
 * @param tenant_texts n_tenants tenant files' contents.
 * @param base_dir base for relative paths (NULL = current directory).
 * @remark Messages name the texts "main" and "tenant[i]".  tenants_dir is
 *         ignored.
 */
rs_conf_t *rs_conf_load_strings(const char *main_text,
				const char *const *tenant_texts,
				size_t n_tenants, const char *base_dir,
				const char **overrides, size_t n_overrides,
				char *errstr, size_t errstr_size);

/** @brief Frees everything; NULL is fine. */
void rs_conf_destroy(rs_conf_t *conf);

/** @returns the global settings (valid until rs_conf_destroy()). */
const rs_conf_global_t *rs_conf_global(const rs_conf_t *conf);

/** @returns the number of tenants, enabled or not (sorted by id). */
size_t rs_conf_tenant_count(const rs_conf_t *conf);

/** @returns tenant idx (0..count-1), sorted by id; NULL when out of range. */
const rs_conf_tenant_t *rs_conf_tenant(const rs_conf_t *conf, size_t idx);

/** @returns the tenant with this id, or NULL. */
const rs_conf_tenant_t *rs_conf_tenant_by_id(const rs_conf_t *conf,
					     const char *id);

/**
 * @brief Resolves one of a tenant's secret references into buf (wrapper of
 *        rs_secret_resolve() that names the key in errors).
 * @param key a SENSITIVE tenant key, e.g. "tenant.graph.client_secret".
 * @returns RS_OK, RS_ERR_NOT_FOUND when the key is unset,
 *          RS_ERR_INVALID_ARG when it is not a secret key, else as
 *          rs_secret_resolve().
 * @remark The CALLER wipes buf (rs_wipe) once the credential is used.
 */
rs_err_t rs_conf_tenant_secret(const rs_conf_tenant_t *tn, const char *key,
			       char *buf, size_t size, char *errstr,
			       size_t errstr_size);

/**
 * @brief Writes the effective configuration as libconfig text (global keys,
 *        then one tenant group per tenant), for --dump-config.
 * @param redact true: SENSITIVE values become "<redacted>" (they are only
 *        references anyway, but those still name where secrets live).
 */
void rs_conf_dump(const rs_conf_t *conf, FILE *fp, bool redact);

/**
 * @brief Applies log.level, log.format and debug to the process-wide log
 *        settings (rs_log.h).
 * @locality main thread, before any other thread starts (STYLE.md 11).
 */
void rs_conf_apply_log(const rs_conf_t *conf);

/**
 * @brief Writes docs/CONFIGURATION.md generated from both tables.
 * @remark Regenerate with `rostersync-confdoc > docs/CONFIGURATION.md`;
 *         test_conf fails when the committed file differs.
 */
void rs_conf_doc_markdown(FILE *fp);

/**
 * @brief Parses a duration: an integer (ms) or a number with a unit
 *        ms, s, m, h ("250ms", "30s", "5m", "1h").
 * @returns RS_OK or RS_ERR_PARSE.
 */
rs_err_t rs_conf_parse_duration(const char *s, int64_t *ms);

/**
 * @brief Checks an URL: http or https scheme, a host, no userinfo, no
 *        whitespace or control characters, at most RS_CONF_MAX_URL bytes.
 * @returns NULL when fine, else a static reason ("must be an http(s) URL").
 */
const char *rs_conf_url_check(const char *url);

#endif /* RS_CONF_H */
