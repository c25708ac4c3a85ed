/*
 * rs_graph_int.h - private to rs_graph.c / rs_graph_members.c and their
 * unit test and fuzz target.
 *
 * The pure parts of the Graph client live behind these prototypes so that
 * they can be tested on fixtures without a network: the page parser
 * (members and users pages, @odata.nextLink), the nextLink check, the
 * $batch response parser, the "already exist" test and the chunking.
 */
#ifndef RS_GRAPH_INT_H
#define RS_GRAPH_INT_H

#include "rs/rs_base.h"
#include "rs/rs_graph.h"

/** Longest nextLink we follow (Graph skiptokens are ~ 500 chars). */
#define RS_GRAPH_MAX_LINK 4096
/** Longest $batch item body we keep (a filter answer of 15 users). */
#define RS_GRAPH_MAX_ITEM_BODY (256u * 1024u)

struct rs_graph_s {
	char *tenant;
	char *base_url;
	size_t base_len;
	rs_http_t *http;
	rs_auth_t *auth;
	int resolve_mode;
	size_t max_members;
	size_t max_pages;
	int page_size;
	int max_attempts;
	int64_t max_wait_ms;
	int64_t retry_base_ms;
	int64_t retry_max_ms;
	bool add_fallback_batch;
	uint64_t rng;       /* jitter state (rs_http_rand_xorshift) */
	char *token;        /* RS_AUTH_MAX_TOKEN bytes, wiped on destroy */
	rs_graph_stats_t stats;
};

/**
 * @brief Appends the items of one members or users page to @p acc.
 * @param max_items RS_ERR_TOO_LARGE when acc would exceed it.
 * @param next_link receives a copy of @odata.nextLink (rs_free) or NULL.
 * @returns RS_OK, RS_ERR_BAD_RESPONSE (not a JSON object, no "value"
 *          array, an item without a string id), RS_ERR_TOO_LARGE.
 *          Items whose id is not a GUID are rejected as BAD_RESPONSE: an id
 *          from a page later goes into a URL.
 */
rs_err_t rs_graph_page_parse(const char *json, size_t len, size_t max_items,
			     rs_graph_members_t *acc, char **next_link);

/**
 * @brief True when @p link may be followed: it starts with @p base_url
 *        followed by '/' or '?', is at most RS_GRAPH_MAX_LINK long, and has
 *        no whitespace, control characters, backslash, fragment or "..".
 */
bool rs_graph_next_link_valid(const char *base_url, const char *link);

/** One item of a $batch (request in, response out). */
typedef struct rs_graph_bitem_s {
	const char *method; /**< "GET", "DELETE" (static) */
	char *url;          /**< relative to the version root ("/users?...") */
	char *req_body;     /**< JSON request body or NULL (sent with
			     *   Content-Type: application/json) */
	/* out */
	int status;         /**< 0 = no answer for this id */
	int64_t retry_after_ms; /**< from the item's Retry-After, -1 none */
	char *body;         /**< the item's body as JSON text or NULL */
	char code[64];      /**< error.code of the item body */
	char message[256];  /**< error.message of the item body */
} rs_graph_bitem_t;

/** @brief Frees url, req_body and body of @p n items. */
void rs_graph_bitems_cleanup(rs_graph_bitem_t *items, size_t n);

/**
 * @brief Builds the POST /$batch body for items (ids "0".."n-1" = index
 *        in @p items) whose @p pending flag is set.
 * @returns a string to rs_free().
 */
char *rs_graph_batch_body(const rs_graph_bitem_t *items, const bool *pending,
			  size_t n);

/**
 * @brief Parses a $batch response into @p items (matched by id = index).
 *        Header names are matched case-insensitively (graph.md 4).
 * @returns RS_OK, or RS_ERR_BAD_RESPONSE when it is not
 *          {"responses":[...]} or an id is out of range / repeated.
 *          Items without an answer keep status 0.
 */
rs_err_t rs_graph_batch_parse(const char *json, size_t len,
			      rs_graph_bitem_t *items, size_t n,
			      int64_t now_wall_ms);

/** @returns true for 400 + "already exist" (graph.md 2: duplicate add). */
bool rs_graph_is_already_exist(int status, const char *code,
			       const char *message);

/**
 * @brief Splits @p n items into chunks of at most @p max.
 * @param sizes receives the chunk sizes (at most @p sizes_max).
 * @returns the number of chunks (ceil(n/max)), even if > sizes_max.
 */
size_t rs_graph_chunks(size_t n, size_t max, size_t *sizes, size_t sizes_max);

/**
 * @brief The PATCH body {"members@odata.bind":["<base>/directoryObjects/
 *        <id>", ...]}.  @returns a string to rs_free().
 */
char *rs_graph_bind_body(const char *base_url, const char *const *ids,
			 size_t cnt);

/* ---- shared between rs_graph.c and rs_graph_members.c -------------- */

/**
 * @brief Sends one request with the retry policy (see rs_graph.h): token,
 *        client-request-id, traceparent, 401 -> invalidate + one retry,
 *        429/5xx waits when they fit max_wait_ms.
 * @param url absolute URL (already escaped).
 * @param body JSON text or NULL.
 * @param resp initialised; holds the last response.
 * @returns NULL on 2xx, else the final error (call's details filled).
 */
rs_error_t *rs_graph_send(rs_graph_t *g, rs_graph_call_t *call,
			  rs_http_method_t method, const char *url,
			  const char *body, const char *op,
			  rs_http_resp_t *resp);

/**
 * @brief Runs @p n (<= 20) items through POST /$batch, redoing items
 *        answered 429/503/504 (or not at all) in further rounds while the
 *        largest item Retry-After fits max_wait_ms, at most max_attempts
 *        rounds.
 * @returns NULL when the batch itself went through (items carry their own
 *          outcome), else the outer request's error.
 */
rs_error_t *rs_graph_batch_run(rs_graph_t *g, rs_graph_call_t *call,
			       rs_graph_bitem_t *items, size_t n,
			       const char *op);

/** @brief The classified error of a $batch item (its own Retry-After). */
rs_error_t *rs_graph_item_error(const rs_graph_t *g,
				const rs_graph_bitem_t *it, const char *what);

/** @brief Copies an item's / response's error details into @p call. */
void rs_graph_call_note(rs_graph_call_t *call, int status, const char *code,
			const char *message, const char *request_id);

#endif /* RS_GRAPH_INT_H */
