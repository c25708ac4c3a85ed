/*
 * sim_graph_int.h - shared by the Graph module files only
 * (sim_graph.c routing/users/groups, sim_graph_batch.c, sim_graph_delta.c,
 * sim_graph_presence.c).  Facts come from /work/shared/reference/graph.md.
 */
#ifndef SIM_GRAPH_INT_H
#define SIM_GRAPH_INT_H

#include "rs/rs_base.h"
#include "sim_int.h"
#include "sim_odata.h"

/* graph.md §4: at most 20 requests per $batch. */
#define SIM_BATCH_MAX 20
/* Bound on a $batch body (STYLE.md 9); Graph's own limit is larger but
 * 20 requests never need more. */
#define SIM_BATCH_BODY_MAX (4 * 1024 * 1024)
#define SIM_BATCH_ID_MAX 64
#define SIM_BATCH_HDR_MAX 16

/** One request of a $batch, validated (plain value; strings owned). */
typedef struct sim_batch_item_s {
	char *id;
	char *method;   /* upper case */
	char *url;      /* relative to the version root, leading '/' added */
	char *hdr_name[SIM_BATCH_HDR_MAX];
	char *hdr_value[SIM_BATCH_HDR_MAX];
	int n_hdr;
	char *body;     /* JSON text, or NULL */
	int depends[SIM_BATCH_MAX]; /* indexes into the batch */
	int n_depends;
} sim_batch_item_t;

typedef struct sim_batch_s {
	sim_batch_item_t items[SIM_BATCH_MAX];
	int n;
	int order[SIM_BATCH_MAX]; /* execution order honouring dependsOn */
} sim_batch_t;

/**
 * @brief Parses and validates a $batch body (graph.md §4): JSON object
 *        with "requests" (1..20), unique ids, method, relative url,
 *        headers object with Content-Type when a body is present, dependsOn
 *        naming ids of the same batch without cycles.
 * @returns RS_OK with b filled (sim_graph_batch_cleanup() it), or an error
 *          with err set to the 400 the whole batch gets.
 */
rs_err_t sim_graph_batch_parse(sim_batch_t *b, const char *body, size_t len,
			       sim_odata_err_t *err);
void sim_graph_batch_cleanup(sim_batch_t *b);

/* ---- helpers from sim_graph.c -------------------------------------- */

/**
 * @brief Resolves the Graph bearer token; on failure answers 401 with the
 *        Graph envelope and returns false.
 */
bool sim_graph_auth(sim_req_t *req, sim_resp_t *resp);

/** @brief Sets the status/body as an error from an odata parser. */
void sim_graph_odata_error(sim_req_t *req, sim_resp_t *resp,
			   const sim_odata_err_t *err);

/** @brief sim_resp_json with the Graph content type and headers. */
void sim_graph_reply(sim_req_t *req, sim_resp_t *resp, int status,
		     cJSON *json);

/** @brief The "@odata.context" URL for what ("users", "groups", ...). */
char *sim_graph_context(const sim_req_t *req, const char *what);

/** @returns true for a lower/upper-case GUID "8-4-4-4-12". */
bool sim_graph_is_guid(const char *s);

/** @brief 404 Request_ResourceNotFound for id (graph.md §2 text), flagging
 *         a cross-tenant attempt when another tenant owns id. */
void sim_graph_not_found(sim_req_t *req, sim_resp_t *resp, const char *id);

/** @brief Graph user object with $select applied (tn->lock held). */
cJSON *sim_graph_user_json(const sim_user_t *u, const sim_odata_select_t *sel);
/** @brief Graph group object with $select applied (tn->lock held). */
cJSON *sim_graph_group_json(const sim_group_t *g,
			    const sim_odata_select_t *sel);

extern const char *const sim_graph_user_props[];
extern const char *const sim_graph_group_props[];

/* ---- handlers in the other files ----------------------------------- */
void sim_graph_batch(sim_req_t *req, sim_resp_t *resp);
void sim_graph_users_delta(sim_req_t *req, sim_resp_t *resp);
void sim_graph_groups_delta(sim_req_t *req, sim_resp_t *resp);
void sim_graph_presence_get(sim_req_t *req, sim_resp_t *resp);
void sim_graph_presence_set(sim_req_t *req, sim_resp_t *resp);
void sim_graph_presence_clear(sim_req_t *req, sim_resp_t *resp);
void sim_graph_presence_set_pref(sim_req_t *req, sim_resp_t *resp);
void sim_graph_presence_clear_pref(sim_req_t *req, sim_resp_t *resp);
void sim_graph_presences_by_id(sim_req_t *req, sim_resp_t *resp);

#endif /* SIM_GRAPH_INT_H */
