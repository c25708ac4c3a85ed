/*
 * rs_source.h - source connectors: who is in which contact-center group.
 *
 * A source connector reads, for ONE tenant, a membership snapshot of the
 * system of record (Talkdesk today; Genesys Cloud and others later): the
 * list of its groups (queues, ring groups, ...) and, for each, the e-mail
 * addresses of the members.  The planner maps group names to Entra groups
 * (tenant.mapping), resolves the e-mails through rs_graph and diffs.
 *
 * The snapshot is generic on purpose: it carries no Talkdesk notion, so a
 * new back-end is one file (common/rs_<backend>.c) filling the const vtable
 * declared in common/rs_source_int.h, plus one line in the back-end table
 * of rs_source.c.  See docs/internals/connectors.md.
 *
 * Ownership: rs_source_new() copies every string of the conf; the auth
 * provider is borrowed and must outlive the source.  A snapshot is a plain
 * value the caller embeds (rs_source_snapshot_init/_cleanup) and owns.
 *
 * Threads: an rs_source_t holds no per-call state, so several threads may
 * read different snapshots through one source at the same time, each with
 * its own rs_http_t (one per thread, see rs_http.h).
 */
#ifndef RS_SOURCE_H
#define RS_SOURCE_H

#include "rs_base.h"
#include "rs_err.h"
#include "rs_auth.h"
#include "rs_http.h"

struct rs_conf_tenant_s;

/** Default bounds (RS_ERR_TOO_LARGE beyond them). */
#define RS_SOURCE_DEFAULT_MAX_GROUPS 10000
#define RS_SOURCE_DEFAULT_MAX_MEMBERS 20000  /**< per group */
#define RS_SOURCE_DEFAULT_MAX_USERS 200000   /**< user listing, per tenant */
#define RS_SOURCE_DEFAULT_MAX_PAGES 10000    /**< per listing */
#define RS_SOURCE_DEFAULT_MAX_ATTEMPTS 4     /**< per request, incl. first */
#define RS_SOURCE_DEFAULT_MAX_WAIT_MS 10000  /**< longest in-place wait */
/** Guardian's mandatory filter when none is configured (sources.md 1.6). */
#define RS_SOURCE_DEFAULT_GUARDIAN_FILTER "active eq true"

/** Talkdesk modes (same values as rs_conf_td_source_t in rs_conf.h). */
typedef enum {
	RS_SOURCE_TD_QUEUES = 0,      /**< /ccaas/queues (default) */
	RS_SOURCE_TD_RING_GROUPS = 1, /**< /ring-groups (retired 2026-07-31) */
	RS_SOURCE_TD_GUARDIAN = 2,    /**< /guardian/users ring_groups field */
} rs_source_td_mode_t;

/**
 * Source configuration (plain value; rs_source_conf_init() fills the
 * defaults; strings and the group list are copied by rs_source_new()).
 */
typedef struct rs_source_conf_s {
	const char *backend;  /**< "talkdesk" (default) */
	const char *tenant;   /**< rostersync tenant id (logs, errors) */
	/** API base, e.g. "https://api.talkdeskapp.com" (no trailing '/').
	 *  Paging links must point under it (else RS_ERR_BAD_RESPONSE). */
	const char *base_url;
	rs_auth_t *auth;      /**< borrowed token provider for this tenant */
	int mode;             /**< back-end specific, Talkdesk: rs_source_td_mode_t */
	/** Only these groups' members are read (case-insensitive names);
	 *  NULL/0 = all.  Saves one listing per unmapped queue. */
	const char *const *groups;
	size_t group_cnt;
	bool active_only;     /**< skip inactive users (default true) */
	const char *guardian_filter; /**< NULL = RS_SOURCE_DEFAULT_GUARDIAN_FILTER */
	int page_size;        /**< 0 = the largest the endpoint allows */
	size_t max_groups;    /**< 0 = default */
	size_t max_members;   /**< per group, 0 = default */
	size_t max_users;     /**< 0 = default */
	size_t max_pages;     /**< per listing, 0 = default */
	int max_attempts;     /**< per request incl. the first, 0 = default */
	/** A Retry-After (or backoff) longer than this is not waited for in
	 *  place: the read fails with a retriable error carrying
	 *  retry_after_ms, and the caller reschedules the tenant. */
	int64_t max_wait_ms;
	int64_t retry_base_ms; /**< backoff without Retry-After (default 200) */
	int64_t retry_max_ms;  /**< backoff cap (default 5000) */
	/** Wall clock used to decide retirement of dated APIs; NULL =
	 *  rs_wall_ms().  Tests move it past 2026-07-31. */
	int64_t (*wall_ms)(void *opaque);
	void *clock_opaque;
} rs_source_conf_t;

/** @brief Fills @p conf with the defaults above (backend "talkdesk"). */
void rs_source_conf_init(rs_source_conf_t *conf);

/**
 * @brief Fills @p conf from a loaded tenant (talkdesk.base_url, .source)
 *        on top of rs_source_conf_init() defaults; auth is left NULL
 *        (the caller builds it from tn->talkdesk, see rs_auth.h).
 * @param tn borrowed: the strings stay owned by the config.
 * @returns RS_OK, or RS_ERR_CONFIG when the tenant has no talkdesk group.
 */
rs_err_t rs_source_conf_from_tenant(rs_source_conf_t *conf,
				    const struct rs_conf_tenant_s *tn);

/** One source group (plain value, owned by its snapshot). */
typedef struct rs_source_group_s {
	char *id;       /**< source id (queue id; ring group: its name) */
	char *name;     /**< display name: the tenant.mapping key */
	char **emails;  /**< lower-case, sorted, unique */
	size_t email_cnt;
	/** Members that could not be given an e-mail (id unknown to the
	 *  user listing, no e-mail) or were skipped as inactive. */
	size_t unknown_cnt;
	size_t inactive_cnt;
	bool members_read; /**< false: filtered out by conf.groups */
} rs_source_group_t;

/** Counters of one read (plain value). */
typedef struct rs_source_stats_s {
	uint64_t requests;   /**< HTTP requests sent (incl. retries) */
	uint64_t pages;      /**< 2xx pages parsed */
	uint64_t retries;    /**< requests repeated after 429/5xx/transport */
	uint64_t throttled;  /**< 429 answers */
	uint64_t auth_retries; /**< 401 -> invalidate -> retried once */
	uint64_t user_listings; /**< full /users listings (0 or 1) */
	uint64_t users_listed;  /**< users seen in that listing */
} rs_source_stats_t;

/** A tenant's membership snapshot (plain value the caller embeds). */
typedef struct rs_source_snapshot_s {
	char *tenant;
	const char *source;   /**< static, e.g. "talkdesk.queues" */
	rs_source_group_t *groups; /**< sorted by name (case-insensitive) */
	size_t group_cnt;
	int64_t taken_wall_ms;     /**< when the read started */
	rs_source_stats_t stats;
} rs_source_snapshot_t;

/** @brief Zeroes @p snap. */
void rs_source_snapshot_init(rs_source_snapshot_t *snap);
/** @brief Frees everything @p snap owns; it can be reused after init. */
void rs_source_snapshot_cleanup(rs_source_snapshot_t *snap);
/** @returns the group named @p name (case-insensitive) or NULL. */
const rs_source_group_t *
rs_source_snapshot_find(const rs_source_snapshot_t *snap, const char *name);

typedef struct rs_source_s rs_source_t;

/**
 * @brief Creates a source connector of conf->backend.
 * @returns NULL with errstr filled for an unknown back-end, a bad mode, a
 *          missing base_url/auth or a base_url that is not http(s).
 * @locality any thread.
 */
rs_source_t *rs_source_new(const rs_source_conf_t *conf, char *errstr,
			   size_t errstr_size);
/** @brief Frees. Accepts NULL.  The auth provider is not touched. */
void rs_source_destroy(rs_source_t *src);

/** @returns the back-end and mode, e.g. "talkdesk.queues" (static). */
const char *rs_source_name(const rs_source_t *src);

/**
 * @brief Reads a full membership snapshot (every page of every listing).
 * @param http this thread's client (borrowed).
 * @param traceparent optional W3C traceparent sent with every request.
 * @param snap an initialised snapshot; filled on success, left empty
 *        (cleaned) on failure.  stats are filled in both cases.
 * @returns NULL on success, else an error the caller destroys:
 *   - RS_ERR_RETIRED (not retriable): the endpoint is retired (ring groups
 *     after 2026-07-31) or answers 404/410 for a listing path; the message
 *     names the tenant and the endpoint ("talkdesk /ring-groups").
 *   - HTTP_THROTTLED / HTTP_SERVER / HTTP_TRANSPORT (retriable, with
 *     retry_after_ms) once max_attempts or max_wait_ms are exhausted.
 *   - AUTH (a second 401 after a fresh token), FORBIDDEN (missing scope:
 *     the message names the scope the endpoint needs).
 *   - BAD_RESPONSE (unparseable page, foreign paging link), TOO_LARGE.
 * @locality any thread, with its own @p http.
 */
rs_error_t *rs_source_read(rs_source_t *src, rs_http_t *http,
			   const char *traceparent,
			   rs_source_snapshot_t *snap);

/** @returns the Talkdesk scopes mode @p mode needs, space-separated
 *  (static), for the tenant's rs_auth_conf_t.scope. */
const char *rs_source_td_scopes(int mode);

#endif /* RS_SOURCE_H */
