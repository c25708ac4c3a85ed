/*
 * rs_graph.h - the Microsoft Graph client of the planner and the workers
 * (group membership target, graph.md sections 2-5 and 8).
 *
 * One rs_graph_t serves ONE tenant on ONE thread: it borrows that thread's
 * rs_http_t and the tenant's rs_auth_t (both must outlive it) and copies
 * the base URL.  Creating one is cheap (no I/O), so a worker makes one per
 * (thread, tenant) or per job.
 *
 * Every operation takes an rs_graph_call_t: in, the client-request-id and
 * traceparent sent with each of its requests; out, the details of the last
 * failed request (Graph error code, message, request-id, for the DLQ) and
 * counters (requests, writes applied, no-ops).  Outcomes are rs_error_t
 * (retriable / fatal / retry_after_ms / http_status); decisions read the
 * flags, never the text.
 *
 * Retries inside one operation: 429/503/504/transport are retried up to
 * max_attempts when the wait (Retry-After, else backoff) is at most
 * max_wait_ms; a longer wait is returned to the caller as a retriable error
 * with retry_after_ms, so a throttled tenant never pins a worker thread.
 * A 401 invalidates the token (rs_auth_invalidate) and retries once.
 *
 * Safety: every id put in a URL must be a GUID (rs_guid_valid, else
 * RS_ERR_INVALID_ARG, nothing sent); e-mails in $filter are OData-quoted and percent-encoded;
 * an @odata.nextLink is followed only when it points under base_url.
 */
#ifndef RS_GRAPH_H
#define RS_GRAPH_H

#include "rs_base.h"
#include "rs_err.h"
#include "rs_auth.h"
#include "rs_http.h"

/** Graph limits (graph.md): $batch and PATCH members@odata.bind take 20,
 *  `in (...)` 15 values, $top 999. */
#define RS_GRAPH_BATCH_MAX 20
#define RS_GRAPH_BIND_MAX 20
#define RS_GRAPH_IN_MAX 15
#define RS_GRAPH_TOP_MAX 999
/** Default bounds. */
#define RS_GRAPH_DEFAULT_MAX_MEMBERS 100000 /**< per group listing */
#define RS_GRAPH_DEFAULT_MAX_PAGES 1000
#define RS_GRAPH_DEFAULT_MAX_ATTEMPTS 4
#define RS_GRAPH_DEFAULT_MAX_WAIT_MS 10000
/** Longest e-mail / UPN accepted for resolution (Graph eq values: 120). */
#define RS_GRAPH_MAX_EMAIL 254

/** How e-mails are resolved (same values as rs_conf_resolve_t). */
typedef enum {
	RS_GRAPH_RESOLVE_BATCH = 0, /**< $batch of <= 20 filter GETs */
	RS_GRAPH_RESOLVE_IN = 1,    /**< one filter GET per request */
} rs_graph_resolve_mode_t;

/** Client settings (plain value; rs_graph_conf_init() fills defaults). */
typedef struct rs_graph_conf_s {
	const char *tenant;   /**< rostersync tenant id (logs, metrics) */
	/** "https://graph.microsoft.com/v1.0" (no trailing '/'); copied. */
	const char *base_url;
	rs_http_t *http;      /**< borrowed, this thread's client */
	rs_auth_t *auth;      /**< borrowed, the tenant's Entra provider */
	int resolve_mode;     /**< rs_graph_resolve_mode_t (default BATCH) */
	size_t max_members;   /**< listing bound, 0 = default */
	size_t max_pages;     /**< listing bound, 0 = default */
	int page_size;        /**< $top of member listings, 0 = 999 (tests
			       *   use small pages to exercise nextLink) */
	int max_attempts;     /**< per request incl. the first, 0 = default */
	int64_t max_wait_ms;  /**< longest in-place wait, see above */
	int64_t retry_base_ms; /**< backoff without Retry-After (default 200) */
	int64_t retry_max_ms;  /**< backoff cap (default 5000) */
	/** Redo a failed add chunk as ONE $batch of POST members/$ref (same
	 *  per-user semantics, 1 request instead of k) rather than k single
	 *  POSTs.  Default false: one POST per user. */
	bool add_fallback_batch;
} rs_graph_conf_t;

/** @brief Fills @p conf with the defaults above. */
void rs_graph_conf_init(rs_graph_conf_t *conf);

typedef struct rs_graph_s rs_graph_t;

/**
 * @brief Creates a client (no I/O).
 * @returns NULL with errstr filled when base_url is not http(s) or http /
 *          auth are missing.
 * @locality the thread owning conf->http.
 */
rs_graph_t *rs_graph_new(const rs_graph_conf_t *conf, char *errstr,
			 size_t errstr_size);
/** @brief Frees. Accepts NULL. */
void rs_graph_destroy(rs_graph_t *g);

/**
 * One operation's context (plain value the caller embeds).  Init with
 * rs_graph_call_init(); counters accumulate over every operation it is
 * passed to.
 */
typedef struct rs_graph_call_s {
	/* in */
	const char *client_request_id; /**< GUID sent on each request; NULL =
					*   a new one per request */
	const char *traceparent;       /**< W3C traceparent or NULL */
	/* out: the last failed request (empty strings / 0 when none) */
	int http_status;
	char error_code[64];   /**< Graph error.code, "Request_BadRequest" */
	char error_message[512];
	char request_id[64];   /**< Graph request-id of that response */
	/* out: counters */
	uint64_t requests;     /**< HTTP requests sent, incl. retries */
	uint64_t retries;      /**< repeated after 429/5xx/transport */
	uint64_t throttled;    /**< 429 answers, incl. $batch items */
	uint64_t auth_retries; /**< 401 -> new token -> retried */
	uint64_t writes;       /**< members actually added or removed */
	uint64_t noops;        /**< already member / not a member */
	uint64_t fallbacks;    /**< PATCH chunks redone one by one */
} rs_graph_call_t;

/** @brief Zeroes @p call and sets its inputs (borrowed). */
void rs_graph_call_init(rs_graph_call_t *call, const char *client_request_id,
			const char *traceparent);

/* ---------------------------------------------------------------------
 * Resolve e-mails -> Entra object ids
 * ------------------------------------------------------------------- */

/** A resolved user (plain value, owned by its rs_graph_resolve_t). */
typedef struct rs_graph_user_s {
	char *key;    /**< the e-mail asked for, lower-case */
	char id[40];  /**< object id (GUID) */
	char *mail;   /**< as Graph has it, may be NULL */
	char *upn;    /**< userPrincipalName, may be NULL */
} rs_graph_user_t;

/** Result of rs_graph_resolve (plain value the caller embeds). */
typedef struct rs_graph_resolve_s {
	rs_graph_user_t *users;  /**< sorted by key */
	size_t user_cnt;
	char **unresolved;       /**< lower-case keys with no user, sorted */
	size_t unresolved_cnt;
	/** Keys skipped without a request: empty, too long, no '@'. */
	size_t invalid_cnt;
} rs_graph_resolve_t;

void rs_graph_resolve_init(rs_graph_resolve_t *res);
void rs_graph_resolve_cleanup(rs_graph_resolve_t *res);
/** @returns the user resolved for @p email (case-insensitive) or NULL. */
const rs_graph_user_t *rs_graph_resolve_find(const rs_graph_resolve_t *res,
					     const char *email);

/**
 * @brief Resolves e-mails to users: `$filter=mail in (...)` with at most 15
 *        values per filter, then `userPrincipalName in (...)` for those
 *        still unresolved; matches are case-insensitive.  In BATCH mode up
 *        to 20 filters travel in one $batch.
 * @param emails duplicates and case variants are merged.
 * @param res an initialised result, filled on success; left as it was on
 *        error (a failed filter fails the whole resolution: the planner
 *        must not mistake "not asked" for "no such user").
 * @returns NULL on success (unresolved keys are not an error).
 * @remark Requests: mode IN: ceil(n/15) + ceil(u/15) where u = not found
 *         by mail; mode BATCH: ceil(ceil(n/15)/20) + ceil(ceil(u/15)/20).
 */
rs_error_t *rs_graph_resolve(rs_graph_t *g, const char *const *emails,
			     size_t cnt, rs_graph_call_t *call,
			     rs_graph_resolve_t *res);

/* ---------------------------------------------------------------------
 * Group members
 * ------------------------------------------------------------------- */

/** A member (plain value, owned by its list). */
typedef struct rs_graph_member_s {
	char id[40];    /**< object id */
	char type[32];  /**< "user", "group", ... from @odata.type */
	char *mail;     /**< may be NULL */
	char *upn;      /**< may be NULL */
} rs_graph_member_t;

/** A group's direct members (plain value the caller embeds). */
typedef struct rs_graph_members_s {
	rs_graph_member_t *items; /**< in Graph's order */
	size_t cnt;
	size_t pages;
} rs_graph_members_t;

void rs_graph_members_init(rs_graph_members_t *m);
void rs_graph_members_cleanup(rs_graph_members_t *m);

/**
 * @brief Lists the direct members of a group:
 *        GET {base}/groups/{id}/members?$select=id,mail,userPrincipalName
 *        &$top=999, then every @odata.nextLink (validated against base_url).
 * @returns NULL, or INVALID_ARG (not a GUID), REMOTE_NOT_FOUND (group
 *          gone; fatal), TOO_LARGE (above max_members / max_pages),
 *          BAD_RESPONSE (unparseable page or foreign nextLink), or the
 *          classified HTTP error.
 */
rs_error_t *rs_graph_members_list(rs_graph_t *g, const char *group_id,
				  rs_graph_call_t *call,
				  rs_graph_members_t *out);

/** Per-item outcome of an add or remove (plain value). */
typedef struct rs_graph_item_s {
	rs_err_t err;          /**< RS_OK when applied or a no-op */
	bool noop;             /**< already a member / not a member */
	bool retriable;        /**< only meaningful when err != RS_OK */
	int status;            /**< HTTP status of the item, 0 not sent */
	int64_t retry_after_ms; /**< -1 none */
} rs_graph_item_t;

/**
 * @brief Adds users to a group: PATCH {base}/groups/{id} with
 *        members@odata.bind, at most 20 per request.  When a chunk fails
 *        with 400 "already exist" (one existing member fails the whole
 *        chunk) or 404 naming a member, that chunk is redone one user at a
 *        time with POST .../members/$ref, where "already exist" is a
 *        successful no-op.
 * @param user_ids GUIDs; every one is validated before anything is sent.
 * @param items optional array of @p cnt per-item outcomes.
 * @returns NULL when every user is a member now; else the most urgent
 *          error: retriable (with the largest retry_after_ms) if any item
 *          may be retried, otherwise the first permanent one.  Group not
 *          found is REMOTE_NOT_FOUND, fatal.
 * @remark Requests: ceil(n/20) when no user is a member yet; a chunk with
 *         k users that falls back costs 1 + k (1 + 1 with
 *         add_fallback_batch, plus a round per throttled retry).
 */
rs_error_t *rs_graph_members_add(rs_graph_t *g, const char *group_id,
				 const char *const *user_ids, size_t cnt,
				 rs_graph_call_t *call, rs_graph_item_t *items);

/**
 * @brief Removes users from a group: DELETE
 *        /groups/{gid}/members/{uid}/$ref inside POST {base}/$batch of at
 *        most 20.  Item 204 = removed; item 404 = not a member, a
 *        successful no-op; item 429/503 = retriable with its own
 *        Retry-After (retried inside this call while the wait fits
 *        max_wait_ms, then returned); others classified as rs_http does.
 * @returns as rs_graph_members_add.
 * @remark Requests: ceil(n/20) plus one $batch per retry round.
 */
rs_error_t *rs_graph_members_remove(rs_graph_t *g, const char *group_id,
				    const char *const *user_ids, size_t cnt,
				    rs_graph_call_t *call,
				    rs_graph_item_t *items);

/** Cumulative counters of a client (plain value). */
typedef struct rs_graph_stats_s {
	uint64_t requests, retries, throttled, auth_retries;
	uint64_t writes, noops, fallbacks;
} rs_graph_stats_t;

/** @brief Copies the counters summed over every call. */
void rs_graph_stats_get(const rs_graph_t *g, rs_graph_stats_t *out);

#endif /* RS_GRAPH_H */
