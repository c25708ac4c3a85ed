/*
 * rs_source_int.h - private to the source subsystem (rs_source.c and its
 * back-ends rs_<backend>.c) and to their unit tests and fuzz targets.
 *
 * The generic half (rs_source.c) owns the conf copy, the snapshot builder
 * (dedupe, lower-case, sort, bounds) and the group filter.  A back-end
 * fills a const rs_source_backend_t (curl's struct Curl_ssl idea) and adds
 * one line to the table in rs_source.c.
 */
#ifndef RS_SOURCE_INT_H
#define RS_SOURCE_INT_H

#include "rs/rs_base.h"
#include "rs/rs_source.h"

/** A back-end (const, one per file). */
typedef struct rs_source_backend_s {
	const char *name; /**< conf.backend value, "talkdesk" */
	/** Validates back-end specific settings (mode); NULL = none. */
	rs_err_t (*check)(const rs_source_conf_t *conf, char *errstr,
			  size_t errstr_size);
	/** "talkdesk.queues" for a mode (static). */
	const char *(*mode_name)(int mode);
	/** Reads a snapshot; snap is initialised and empty, stats zero. */
	rs_error_t *(*read)(rs_source_t *src, rs_http_t *http,
			    const char *traceparent,
			    rs_source_snapshot_t *snap);
} rs_source_backend_t;

extern const rs_source_backend_t rs_source_talkdesk;

struct rs_source_s {
	const rs_source_backend_t *be;
	char *tenant;
	char *base_url;      /* no trailing '/' */
	rs_auth_t *auth;
	int mode;
	char **groups;       /* filter, lower-case; NULL = all */
	size_t group_cnt;
	bool active_only;
	char *guardian_filter;
	int page_size;
	size_t max_groups, max_members, max_users, max_pages;
	int max_attempts;
	int64_t max_wait_ms, retry_base_ms, retry_max_ms;
	int64_t (*wall_ms)(void *opaque);
	void *clock_opaque;
};

/** @returns true when conf.groups is empty or lists @p name (no case). */
bool rs_source_wants(const rs_source_t *src, const char *name);

/**
 * @brief Appends a group (id and name copied).
 * @returns the group, or NULL when max_groups is reached.
 */
rs_source_group_t *rs_source_snapshot_add(rs_source_snapshot_t *snap,
					  const char *id, const char *name,
					  size_t max_groups);

/** @returns the group with source id @p id, or NULL (linear). */
rs_source_group_t *rs_source_snapshot_by_id(rs_source_snapshot_t *snap,
					    const char *id);

/**
 * @brief Adds a member e-mail (lower-cased; duplicates are removed at
 *        finish).
 * @returns RS_OK, RS_ERR_TOO_LARGE above @p max_members,
 *          RS_ERR_INVALID_ARG for an empty / over-long / control-char
 *          e-mail (counted as unknown instead).
 */
rs_err_t rs_source_group_add_email(rs_source_group_t *grp, const char *email,
				   size_t max_members);

/** @brief Sorts groups and e-mails, removes duplicate e-mails. */
void rs_source_snapshot_finish(rs_source_snapshot_t *snap);

/* ---------------------------------------------------------------------
 * Talkdesk HAL pages (pure; tests/unit/test_talkdesk.c, fuzz target)
 * ------------------------------------------------------------------- */

/** Longest paging link we follow. */
#define RS_TD_MAX_LINK 4096
/** Most ring groups per user we keep from a guardian item. */
#define RS_TD_MAX_USER_GROUPS 256

/** One item of a Talkdesk page (queue, ring group, user, guardian user). */
typedef struct rs_td_item_s {
	char *id;      /**< "id" (ring groups have none: NULL) */
	char *name;    /**< "name" */
	char *email;   /**< "email" */
	int active;    /**< -1 unknown, 0, 1 ("active" bool or "status") */
	char **ring_groups; /**< guardian "ring_groups" */
	size_t rg_cnt;
} rs_td_item_t;

/** One parsed page. */
typedef struct rs_td_page_s {
	rs_td_item_t *items;
	size_t cnt;
	char *next;        /**< _links.next.href or NULL */
	long page;         /**< -1 when absent */
	long total_pages;  /**< -1 when absent */
	long total;        /**< -1 when absent */
} rs_td_page_t;

/**
 * @brief Parses a HAL page.
 * @param key the _embedded member holding the items ("queues",
 *        "ring_groups", "users"), or NULL when _embedded is itself the
 *        array (guardian, sources.md 1.6).
 * @param max_items RS_ERR_TOO_LARGE when the page holds more.
 * @returns RS_OK, RS_ERR_BAD_RESPONSE (not an object, _embedded of the
 *          wrong shape, an item that is not an object, a non-string id or
 *          next href), RS_ERR_TOO_LARGE.  A page without _embedded is an
 *          empty page (Talkdesk omits it when there are no items).
 */
rs_err_t rs_td_page_parse(const char *json, size_t len, const char *key,
			  size_t max_items, rs_td_page_t *out);
/** @brief Frees what @p p owns and zeroes it. */
void rs_td_page_cleanup(rs_td_page_t *p);

/**
 * @brief The URL of the page after @p cur: the validated _links.next.href,
 *        else (no link) "page+1" built from @p first_url when total_pages
 *        says there is more.
 * @param by_number build "page+1" from @p first_url whenever page and
 *        total_pages are given, ignoring the link (guardian: the link may
 *        lose the mandatory filter).
 * @param out receives a new string (rs_free) or NULL at the end.
 * @returns RS_OK or RS_ERR_BAD_RESPONSE for a link outside @p base_url.
 */
rs_err_t rs_td_next_url(const char *base_url, const char *first_url,
			const rs_td_page_t *cur, bool by_number, char **out);

#endif /* RS_SOURCE_INT_H */
