/*
 * sim_int.h - shared inside the simulator only (STYLE.md 3: *_int.h).
 *
 * Four parts:
 *   1. small containers (string map, id set, pointer vector, PRNG);
 *   2. the state model: tenants, Entra users/groups with member and owner
 *      sets, Talkdesk users/queues, and a per-tenant change log for deltas;
 *   3. the request/response model and the per-service module table: every
 *      service (sim_login.c, sim_graph*.c, sim_talkdesk.c, sim_control.c,
 *      later sim_deskdirector.c, sim_genesys.c) is one const sim_module_t
 *      with a prefix and a route table;
 *   4. cross-cutting hooks: tokens, throttling, faults, ledger and stats.
 *
 * Locking (@locks): sim->state_lock (rwlock) guards the tenant list; every
 * request handler runs with it held for reading, so a handler never sees a
 * tenant disappear.  Generate/load/reset take it for writing.  Each tenant
 * has its own rwlock tn->lock guarding its directory and Talkdesk data;
 * handlers take it themselves (read for GET, write for mutations) through
 * sim_tenant_rdlock()/sim_tenant_wrlock()/sim_tenant_unlock().  Never hold
 * two tenant locks at once.  Tokens, ledger, stats, throttle and faults have
 * their own internal mutexes and may be called with a tenant lock held.
 */
#ifndef SIM_INT_H
#define SIM_INT_H

#include "rs/rs_base.h"
#include "rs/rs_err.h"
#include "rs_sim.h"

#include <pthread.h>
#include <cjson/cJSON.h>

/* ------------------------------------------------------------------ */
/* 1. Containers                                                       */
/* ------------------------------------------------------------------ */

/**
 * String-keyed hash map (open addressing, linear probing).  Keys are copied
 * and owned by the map; values are opaque pointers owned by the caller.
 * Not thread-safe: protect with the owner's lock.
 */
typedef struct sim_map_s {
	char **keys;
	void **vals;
	size_t cap;   /* power of two or 0 */
	size_t count;
	size_t tombs; /* deleted slots */
} sim_map_t;

void sim_map_init(sim_map_t *m);
/** @brief Frees keys; calls free_val (may be NULL) on each value. */
void sim_map_cleanup(sim_map_t *m, void (*free_val)(void *));
void *sim_map_get(const sim_map_t *m, const char *key);
/** @brief Inserts or replaces; @returns the previous value or NULL. */
void *sim_map_put(sim_map_t *m, const char *key, void *val);
/** @brief Removes; @returns the removed value or NULL. */
void *sim_map_del(sim_map_t *m, const char *key);
static inline size_t sim_map_count(const sim_map_t *m) { return m->count; }
/**
 * @brief Iterates: start with *pos = 0; @returns false at the end.
 * @remark Order is the slot order: stable while the map is not modified.
 */
bool sim_map_next(const sim_map_t *m, size_t *pos, const char **key,
		  void **val);

/**
 * A set of ids with O(1) add/remove/contains and index access (dense array
 * plus an index map; removal moves the last item into the hole, so order is
 * NOT insertion order after removals).  Used for group members/owners and
 * queue users at 100k-user scale.  Items are owned copies.
 */
typedef struct sim_idset_s {
	char **items;
	size_t n, cap;
	sim_map_t idx; /* id -> (void *)(uintptr_t)(position + 1) */
} sim_idset_t;

void sim_idset_init(sim_idset_t *s);
void sim_idset_cleanup(sim_idset_t *s);
bool sim_idset_has(const sim_idset_t *s, const char *id);
/** @returns true when added, false when already present (a no-op). */
bool sim_idset_add(sim_idset_t *s, const char *id);
/** @returns true when removed, false when absent (a no-op). */
bool sim_idset_del(sim_idset_t *s, const char *id);
/** @brief Sorted copy of the ids (pointers into the set, valid until the
 *         set changes); free the array with rs_free(). */
const char **sim_idset_sorted(const sim_idset_t *s);

/** Growable pointer vector (no ownership of items). */
typedef struct sim_vec_s {
	void **v;
	size_t n, cap;
} sim_vec_t;

void sim_vec_push(sim_vec_t *vec, void *p);
/** @brief Removes the first occurrence of p keeping order; @returns true
 *         when found. O(n). */
bool sim_vec_remove(sim_vec_t *vec, void *p);
void sim_vec_cleanup(sim_vec_t *vec);

/** Deterministic PRNG (splitmix64 seeded xoshiro256**). */
typedef struct sim_rng_s {
	uint64_t s[4];
} sim_rng_t;

void sim_rng_seed(sim_rng_t *r, uint64_t seed);
uint64_t sim_rng_next(sim_rng_t *r);
/** @returns uniform integer in [lo, hi] (inclusive). */
int64_t sim_rng_range(sim_rng_t *r, int64_t lo, int64_t hi);
/** @returns uniform double in [0, 1). */
double sim_rng_double(sim_rng_t *r);
/** @brief Writes a lower-case GUID (37 bytes with NUL) from the PRNG. */
void sim_rng_guid(sim_rng_t *r, char out[37]);
/** @brief Random GUID from a thread-safe non-deterministic source (request
 *         ids, token ids). */
void sim_guid_random(char out[37]);

/** @brief ASCII lower-case copy (rs_free()). */
char *sim_strlower(const char *s);
/** @brief fnmatch-like glob: '*' any run (also '/'), '?' one char. */
bool sim_glob(const char *pattern, const char *s);

/**
 * Decoded name/value pairs from a query string or an
 * application/x-www-form-urlencoded body ('+' is a space, %XX decoded).
 * Bounded: at most SIM_KV_MAX pairs and SIM_KV_MAXLEN input bytes.
 */
#define SIM_KV_MAX 64
#define SIM_KV_MAXLEN (64 * 1024)
typedef struct sim_kv_s {
	char *name[SIM_KV_MAX];
	char *value[SIM_KV_MAX];
	int n;
} sim_kv_t;

/** @returns RS_OK, RS_ERR_TOO_LARGE or RS_ERR_PARSE (bad %-escape).  On
 *  error kv is still valid (holds what was parsed) and must be cleaned. */
rs_err_t sim_kv_parse(sim_kv_t *kv, const char *s, size_t len);
void sim_kv_cleanup(sim_kv_t *kv);
/** @returns the first value for name (exact match) or NULL. */
const char *sim_kv_get(const sim_kv_t *kv, const char *name);
/** @returns how many times name occurs. */
int sim_kv_count(const sim_kv_t *kv, const char *name);

/* ------------------------------------------------------------------ */
/* 2. State model                                                      */
/* ------------------------------------------------------------------ */

/** An Entra ID user. Strings owned. */
typedef struct sim_user_s {
	char *id;                /* object id GUID */
	char *upn;               /* userPrincipalName (guests: ...#EXT#@...) */
	char *mail;              /* may be NULL */
	char *display_name;
	char *given_name, *surname;
	char *department;        /* may be NULL */
	char **proxy_addresses;  /* "SMTP:primary", "smtp:alias" */
	int n_proxy;
	bool guest;              /* userType Guest */
	bool enabled;            /* accountEnabled */
} sim_user_t;

/** An Entra ID group.  Member/owner sets hold user object ids. */
typedef struct sim_group_s {
	char *id;
	char *display_name;
	char *mail_nickname;
	char *description;
	bool security_enabled;
	bool mail_enabled;
	bool unified;            /* groupTypes ["Unified"] */
	sim_idset_t members;
	sim_idset_t owners;
} sim_group_t;

/** A Talkdesk user (24-hex id as in the examples, sources.md §1.5). */
typedef struct sim_td_user_s {
	char *id;
	char *email;
	char *name;
	bool active;
	char *extension;         /* may be NULL */
	int64_t created_ms;
	char status[40];         /* agent status (§1.8): "available", "away",
				  * "busy", "offline", "after_call_work", or a
				  * custom "away_*" / "busy_*" */
} sim_td_user_t;

/** A Talkdesk queue; with ring groups served, also the ring group of the
 *  same name (ring groups have no id, their name is the key, §1.4). */
typedef struct sim_td_queue_s {
	char *id;                /* 32-hex */
	char *name;              /* lower case, ≤ 50 chars (§1.7) */
	char *description;
	int64_t created_ms, updated_ms;
	sim_idset_t users;       /* Talkdesk user ids */
} sim_td_queue_t;

/** Change log kinds (per tenant, for Graph delta queries). */
typedef enum {
	SIM_CHG_USER_ADD,
	SIM_CHG_USER_DEL,
	SIM_CHG_USER_UPD,
	SIM_CHG_GROUP_ADD,
	SIM_CHG_GROUP_DEL,
	SIM_CHG_GROUP_UPD,
	SIM_CHG_MEMBER_ADD,
	SIM_CHG_MEMBER_DEL,
	SIM_CHG_OWNER_ADD,
	SIM_CHG_OWNER_DEL,
	SIM_CHG_TD_USER_ADD,     /* Talkdesk side (source churn) */
	SIM_CHG_TD_USER_DEL,
	SIM_CHG_TD_QUEUE_ADD,    /* Talkdesk queue membership */
	SIM_CHG_TD_QUEUE_DEL,
} sim_chg_kind_t;

typedef struct sim_chg_s {
	int64_t seq;             /* 1, 2, ... per tenant */
	sim_chg_kind_t kind;
	char *obj_id;            /* user/group/queue id */
	char *ref_id;            /* member/owner id for MEMBER_* / OWNER_* */
	int64_t wall_ms;
} sim_chg_t;

/** Bounded ring of changes; seq of the oldest kept entry is first_seq. */
#define SIM_CHGLOG_MAX (256 * 1024)
typedef struct sim_chglog_s {
	sim_chg_t *ring;
	size_t cap, head, n;     /* oldest at head */
	int64_t next_seq;        /* seq the next change gets (starts at 1) */
} sim_chglog_t;

/** Throttle state of one budget (token bucket refilled continuously). */
typedef struct sim_bucket_s {
	double tokens;
	double capacity;         /* budget per window */
	double window_s;         /* 10 s for RU, 150 s for writes */
	int64_t last_us;         /* monotonic */
} sim_bucket_t;

/* Slots of sim_tenant_t.ext (one per module that keeps private state). */
#define SIM_EXT_GRAPH 0
#define SIM_EXT_DESKDIRECTOR 1
#define SIM_EXT_GENESYS 2
#define SIM_EXT_TEAMS 3
#define SIM_EXT_MAX 8

/** One tenant: its Entra directory, its app registration(s), its
 *  Talkdesk account.  Owned by rs_sim_t. */
typedef struct sim_tenant_s {
	rs_sim_t *sim;           /* back pointer */
	char *id;                /* short MSP name, "t001" */
	char *entra_tenant_id;   /* GUID, used in /login/{tenant} */
	char *domain;            /* "t001.onmicrosoft.com" (also accepted as
				  * {tenant} in the login path) */
	char *mail_domain;       /* verified custom domain for mail */

	/* Graph app registration (one app per tenant).  graph_client_secret
	 * is NULL for certificate-only tenants. */
	char *graph_client_id;
	char *graph_client_secret;
	void *cert;              /* X509 * (NULL: no certificate) */
	unsigned char x5t_sha1[20];
	unsigned char x5t_s256[32];
	unsigned char *pfx;      /* PKCS#12 DER, password pfx_password */
	size_t pfx_len;
	char *pfx_password;
	char *key_pem;           /* private key PEM (for --save only) */

	/* Talkdesk account */
	char *td_account;
	char *td_client_id;
	char *td_client_secret;
	rs_sim_rg_mode_t rg_mode;

	/* mapping queue name -> Entra group id (what rostersync syncs) */
	char **map_queue;
	char **map_group;
	int n_map;

	pthread_rwlock_t lock;   /* guards everything below */

	sim_map_t users;         /* id -> sim_user_t* */
	sim_map_t users_by_upn;  /* lower(upn) -> sim_user_t* */
	sim_map_t users_by_mail; /* lower(mail or proxy alias) -> sim_user_t* */
	sim_vec_t user_list;     /* stable listing order */
	sim_map_t groups;        /* id -> sim_group_t* */
	sim_vec_t group_list;
	sim_map_t td_users;      /* id -> sim_td_user_t* */
	sim_map_t td_users_by_email; /* lower(email) -> sim_td_user_t* */
	sim_vec_t td_user_list;
	sim_map_t td_queues;     /* id -> sim_td_queue_t* */
	sim_map_t td_queues_by_name; /* name -> sim_td_queue_t* */
	sim_vec_t td_queue_list;
	sim_chglog_t chg;
	uint64_t churn_round;

	/* throttle buckets: own mutex (charged without tn->lock) */
	pthread_mutex_t thr_lock;
	sim_bucket_t ru;         /* app+tenant RU per 10 s */
	sim_bucket_t writes;     /* app+tenant writes per 150 s */
	sim_bucket_t td_rate;    /* Talkdesk requests per second */

	/* Scripted credential states (POST /_sim/tenants/{id}); read and
	 * written atomically (no lock). */
	bool graph_secret_expired; /* login answers AADSTS7000222 */

	/* Per-module private state of this tenant (e.g. Graph presence per
	 * user), since modules have no other place to keep state (no globals,
	 * STYLE.md 11).  Guarded by tn->lock: a module creates its slot lazily
	 * under the write lock and sets ext_free; the core frees it (and
	 * clears the slot) when the tenant's data is cleared - reset, reload,
	 * destroy - so module state resets with the dataset. */
	void *ext[SIM_EXT_MAX];
	void (*ext_free[SIM_EXT_MAX])(void *);
} sim_tenant_t;

/* Tenant lookup (caller holds sim->state_lock for reading: every handler
 * does).  The returned tenant lives as long as that read lock. */
sim_tenant_t *sim_tenant_by_id(rs_sim_t *sim, const char *id);
/** @brief By Entra tenant GUID or domain name (login path). */
sim_tenant_t *sim_tenant_by_entra(rs_sim_t *sim, const char *tenant);
sim_tenant_t *sim_tenant_by_graph_client(rs_sim_t *sim, const char *client_id);
sim_tenant_t *sim_tenant_by_td_client(rs_sim_t *sim, const char *client_id);
/**
 * @brief Which tenant owns an object id (Entra user/group, Talkdesk user or
 *        queue), across all tenants: used to flag cross-tenant attempts.
 * @returns NULL when no tenant has it.
 * @locks takes sim's index lock briefly.
 */
sim_tenant_t *sim_owner_of(rs_sim_t *sim, const char *obj_id);

void sim_tenant_rdlock(sim_tenant_t *tn);
void sim_tenant_wrlock(sim_tenant_t *tn);
void sim_tenant_unlock(sim_tenant_t *tn);

/* Lookups: caller holds tn->lock (read or write). */
sim_user_t *sim_user_get(sim_tenant_t *tn, const char *id);
/** @brief Case-insensitive userPrincipalName lookup. */
sim_user_t *sim_user_by_upn(sim_tenant_t *tn, const char *upn);
/** @brief Case-insensitive mail or proxy address (alias) lookup. */
sim_user_t *sim_user_by_mail(sim_tenant_t *tn, const char *mail);
sim_group_t *sim_group_get(sim_tenant_t *tn, const char *id);
sim_td_user_t *sim_td_user_get(sim_tenant_t *tn, const char *id);
sim_td_queue_t *sim_td_queue_get(sim_tenant_t *tn, const char *id);
sim_td_queue_t *sim_td_queue_by_name(sim_tenant_t *tn, const char *name);

/*
 * Mutations: caller holds tn->lock for writing.  Each appends to the
 * change log and counts a "write applied" or "no-op write" in the stats,
 * so idempotency (ARCHITECTURE.md Guarantee 2) is observable.
 * @returns true when the state changed, false for a no-op.
 */
bool sim_group_member_add(sim_tenant_t *tn, sim_group_t *g, const char *uid);
bool sim_group_member_del(sim_tenant_t *tn, sim_group_t *g, const char *uid);
bool sim_group_owner_add(sim_tenant_t *tn, sim_group_t *g, const char *uid);
bool sim_group_owner_del(sim_tenant_t *tn, sim_group_t *g, const char *uid);
bool sim_td_queue_user_add(sim_tenant_t *tn, sim_td_queue_t *q,
			   const char *td_uid);
bool sim_td_queue_user_del(sim_tenant_t *tn, sim_td_queue_t *q,
			   const char *td_uid);

/** Constructors used by the generator, loader and churn (tn->lock held for
 *  writing; strings are copied; the object is indexed and logged). */
sim_user_t *sim_user_add(sim_tenant_t *tn, const char *id, const char *upn,
			 const char *mail, const char *display_name);
/** @brief Adds an alias ("smtp:alias") that sim_user_by_mail() finds. */
void sim_user_add_alias(sim_tenant_t *tn, sim_user_t *u, const char *alias);
/** @brief Deletes the user and removes it from every group. */
void sim_user_delete(sim_tenant_t *tn, sim_user_t *u);
sim_group_t *sim_group_add(sim_tenant_t *tn, const char *id,
			   const char *display_name);
sim_td_user_t *sim_td_user_add(sim_tenant_t *tn, const char *id,
			       const char *email, const char *name);
void sim_td_user_delete(sim_tenant_t *tn, sim_td_user_t *u);
sim_td_queue_t *sim_td_queue_add(sim_tenant_t *tn, const char *id,
				 const char *name);

/**
 * @brief Appends to the change log (called by the mutations above; call it
 *        directly for changes made elsewhere, e.g. a PATCH of a user).
 */
void sim_chg_append(sim_tenant_t *tn, sim_chg_kind_t kind, const char *obj_id,
		    const char *ref_id);
/** @returns the entry with sequence seq, or NULL when not (or no longer)
 *  in the ring.  Caller holds tn->lock. */
const sim_chg_t *sim_chg_get(const sim_tenant_t *tn, int64_t seq);
/** @returns seq of the oldest kept entry (== next_seq when empty). */
int64_t sim_chg_first_seq(const sim_tenant_t *tn);
/** @returns seq the next change will get (the "current" delta position). */
int64_t sim_chg_next_seq(const sim_tenant_t *tn);

/* ------------------------------------------------------------------ */
/* 3. Requests, responses, modules                                     */
/* ------------------------------------------------------------------ */

/** Which service issued a token. */
typedef enum {
	SIM_SVC_NONE = 0,
	SIM_SVC_GRAPH = 1,
	SIM_SVC_TALKDESK = 2,
} sim_svc_t;

/** A resolved access token (a copy: safe after the token map changes). */
typedef struct sim_token_s {
	sim_svc_t svc;
	char tenant_id[64];      /* sim tenant id ("t001") */
	char client_id[64];
	uint32_t scopes;         /* Talkdesk: SIM_TD_SCOPE_* bits */
	int64_t expires_ms;      /* wall clock */
} sim_token_t;

#define SIM_HDR_MAX 48
#define SIM_PARAM_MAX 8
#define SIM_RESP_HDR_MAX 16

/**
 * One request, from MHD or built for an internal sub-request ($batch).
 * All strings are owned by the request (sim_req_cleanup frees them).
 */
typedef struct sim_req_s {
	rs_sim_t *sim;
	char *method;            /* "GET", upper case */
	char *url;               /* full path without the query: "/graph/v1.0/users" */
	const char *path;        /* points into url after the module prefix */
	char *query;             /* raw query string (no '?'), may be "" */
	sim_kv_t args;           /* decoded query arguments */
	char *hdr_name[SIM_HDR_MAX]; /* request headers (names lower case) */
	char *hdr_value[SIM_HDR_MAX];
	int n_hdr;
	char *body;              /* NUL-terminated copy, may be NULL */
	size_t body_len;
	/* Path parameters captured by "{}" segments of the matched route. */
	char *params[SIM_PARAM_MAX];
	int n_params;
	const char *endpoint;    /* matched route name ("talkdesk.users.get") */
	/* Authentication (filled by sim_req_auth). */
	bool has_token;
	sim_token_t token;
	sim_tenant_t *tn;        /* the token's tenant (NULL if none) */
	/* Ledger. */
	char request_id[37];
	bool cross_tenant;       /* set with sim_req_flag_cross_tenant() */
	const char *ledger_tenant; /* tenant id to record (default tn->id) */
	int depth;               /* 0 = from the wire, 1 = $batch sub-request */
	int64_t start_us;
} sim_req_t;

/** What to do with the connection instead of answering (faults). */
typedef enum {
	SIM_ACT_RESPOND = 0,
	SIM_ACT_DROP = 1,        /* close the connection without a response */
	SIM_ACT_HANG = 2,        /* hold the connection (hang_ms), then drop */
} sim_action_t;

typedef struct sim_resp_s {
	int status;
	char *body;              /* owned */
	size_t body_len;
	char content_type[160];
	char *hdr_name[SIM_RESP_HDR_MAX];
	char *hdr_value[SIM_RESP_HDR_MAX];
	int n_hdr;
	sim_action_t action;
	int hang_ms;
	/* Injected latency: the wire layer holds the answer this long without
	 * blocking a pool thread (MHD suspend/resume). */
	int delay_ms;
} sim_resp_t;

/** @returns a request header value (name case-insensitive) or NULL. */
const char *sim_req_header(const sim_req_t *req, const char *name);
/** @returns a decoded query argument or NULL. */
static inline const char *sim_req_arg(const sim_req_t *req, const char *name) {
	return sim_kv_get(&req->args, name);
}
/**
 * @brief Decodes "Authorization: Basic base64(id:secret)".
 * @returns true with *id and *secret allocated (caller wipes the secret
 *          and rs_free()s both), false when absent or malformed.
 */
bool sim_req_basic_auth(const sim_req_t *req, char **id, char **secret);
/** @returns the body parsed as JSON (caller cJSON_Delete()s) or NULL. */
cJSON *sim_req_json(const sim_req_t *req);
/** @brief Marks the request as a cross-tenant attempt (ledger + stats). */
void sim_req_flag_cross_tenant(sim_req_t *req);

void sim_resp_init(sim_resp_t *resp);
void sim_resp_cleanup(sim_resp_t *resp);
/** @brief Sets or replaces a response header (bounded SIM_RESP_HDR_MAX). */
void sim_resp_header(sim_resp_t *resp, const char *name, const char *fmt, ...)
	RS_PRINTF(3, 4);
const char *sim_resp_get_header(const sim_resp_t *resp, const char *name);
/** @brief JSON body; takes ownership of json (deleted); content type
 *         "application/json" unless ctype is given. */
void sim_resp_json(sim_resp_t *resp, int status, cJSON *json,
		   const char *ctype);
/** @brief Raw body copy with content type (ctype NULL = text/plain). */
void sim_resp_raw(sim_resp_t *resp, int status, const char *ctype,
		  const char *body, size_t len);
/** @brief Empty body (204, 202 ...). */
void sim_resp_empty(sim_resp_t *resp, int status);

/**
 * @brief The Graph error envelope (graph.md §8):
 *   {"error":{"code":code,"message":msg,"innerError":{"date":...,
 *    "request-id":...,"client-request-id":...}}}
 *   plus the request-id / client-request-id headers.
 */
void sim_resp_graph_error(const sim_req_t *req, sim_resp_t *resp, int status,
			  const char *code, const char *fmt, ...)
	RS_PRINTF(5, 6);
/** @brief Graph response headers every answer carries (request-id,
 *         client-request-id echo, x-ms-ags-diagnostic, OData-Version). */
void sim_resp_graph_headers(const sim_req_t *req, sim_resp_t *resp);
/** The Graph JSON content type (graph.md §8). */
#define SIM_GRAPH_CTYPE                                                        \
	"application/json;odata.metadata=minimal;odata.streaming=true;"        \
	"IEEE754Compatible=false;charset=utf-8"

/** @brief Talkdesk error body {"code","message"[,"description"]} (§1.3). */
void sim_resp_td_error(sim_resp_t *resp, int status, const char *code,
		       const char *message);

typedef void (*sim_handler_t)(sim_req_t *req, sim_resp_t *resp);

/**
 * A route: method + pattern relative to the module prefix.  Pattern
 * segments are literals (compared case-insensitively, like Graph) or "{}"
 * which matches one non-empty segment and is captured into req->params
 * (percent-decoded).  "/users/{}/memberOf" etc.
 */
typedef struct sim_route_s {
	const char *method;      /* "GET", "POST", ... */
	const char *pattern;
	sim_handler_t fn;
	const char *name;        /* endpoint name for stats, ledger, faults */
} sim_route_t;

/**
 * One service (const vtable, STYLE.md 2).  The core strips the prefix,
 * matches routes, and calls no_route when the path is under the prefix but
 * matches no route (the service's own 404/405 shape).
 */
typedef struct sim_module_s {
	const char *name;        /* "graph", "talkdesk", "login", "sim" */
	const char *prefix;      /* "/graph/v1.0" */
	const sim_route_t *routes;
	size_t n_routes;
	sim_handler_t no_route;
	/** Optional: answers a fault-injected error status in the service's
	 *  own error format (NULL: a generic JSON body). */
	void (*fault_error)(sim_req_t *req, sim_resp_t *resp, int status,
			    const char *retry_after);
} sim_module_t;

/* The modules (sim_core.c lists them in dispatch order).  sim_graph.c
 * defines sim_module_graph; the core references it only once that file
 * exists (RS_SIM_HAVE_GRAPH, set by sim/CMakeLists.txt). */
extern const sim_module_t sim_module_login;
extern const sim_module_t sim_module_talkdesk;
extern const sim_module_t sim_module_control;
extern const sim_module_t sim_module_graph;  /* sim_graph.c (simgraph) */

/**
 * @brief Internal dispatch: runs one request through prefix + route
 *        matching, fault injection and the handler, exactly as if it came
 *        from the wire, and records it in the ledger (with depth 1 when
 *        req->depth is 1).  Used by Graph $batch for each sub-request.
 * @remark Build req with sim_req_init(); caller keeps ownership of req and
 *        resp.  Sub-requests must not be $batch themselves (depth guard).
 */
void sim_dispatch(rs_sim_t *sim, sim_req_t *req, sim_resp_t *resp);
/* @locks the caller must NOT hold any tenant lock while calling
 * sim_dispatch() (the sub-request's handler takes it). */

/**
 * @brief Builds a request.
 * @param url path with optional "?query", e.g. "/graph/v1.0/users?$top=5"
 *        (for $batch, prepend the prefix to the sub-request's url).
 * @param parent headers (notably authorization) are copied from it first
 *        (may be NULL); then hdr_names/hdr_values (n_hdr pairs) override.
 * @returns RS_OK or RS_ERR_TOO_LARGE/RS_ERR_PARSE on a bad query.
 */
rs_err_t sim_req_init(sim_req_t *req, rs_sim_t *sim, const sim_req_t *parent,
		      const char *method, const char *url,
		      const char *const *hdr_names,
		      const char *const *hdr_values, int n_hdr,
		      const char *body, size_t body_len);
void sim_req_cleanup(sim_req_t *req);

/* ------------------------------------------------------------------ */
/* 4. Tokens, throttling, faults, ledger, stats                        */
/* ------------------------------------------------------------------ */

/* Talkdesk scopes (sources.md §1.2) as bits in sim_token_t.scopes. */
#define SIM_TD_SCOPE_USERS_READ (1u << 0)          /* users:read */
#define SIM_TD_SCOPE_RING_GROUPS_READ (1u << 1)    /* ring-groups:read */
#define SIM_TD_SCOPE_USER_RING_GROUPS_READ (1u << 2) /* user-ring-groups:read */
#define SIM_TD_SCOPE_GUARDIAN_USERS_READ (1u << 3) /* guardian-users:read */
#define SIM_TD_SCOPE_QUEUES_READ (1u << 4)         /* queues:read */
#define SIM_TD_SCOPE_QUEUES_USERS_READ (1u << 5)   /* queues-users:read */
#define SIM_TD_SCOPE_QUEUES_WRITE (1u << 6)        /* queues:write */
#define SIM_TD_SCOPE_ACCOUNT_READ (1u << 7)        /* account:read */
#define SIM_TD_SCOPE_USER_RING_GROUPS_WRITE (1u << 8)
#define SIM_TD_SCOPE_CCAAS_STATUS_READ (1u << 9)   /* ccaas-user-status:read */
#define SIM_TD_SCOPE_CCAAS_STATUS_WRITE (1u << 10) /* ccaas-user-status:write */

/**
 * @brief Issues an access token.  For Graph the token is a JWT-shaped
 *        string (header.payload.sig with tid, appid, exp, roles) so clients
 *        that peek at exp work; the sim only looks it up in its map.
 * @param out receives the token string (rs_free()).
 * @returns the lifetime in seconds.
 */
int sim_token_issue(rs_sim_t *sim, sim_svc_t svc, sim_tenant_t *tn,
		    const char *client_id, uint32_t scopes, char **out);

/** Result of a token check. */
typedef enum {
	SIM_AUTH_OK = 0,
	SIM_AUTH_MISSING,        /* no Authorization header / not Bearer */
	SIM_AUTH_INVALID,        /* unknown token (or other service's) */
	SIM_AUTH_EXPIRED,
} sim_auth_t;

/**
 * @brief Resolves the request's bearer token for service svc; on success
 *        fills req->token, req->tn, req->ledger_tenant.
 * @locks caller holds sim->state_lock for reading (all handlers do).
 */
sim_auth_t sim_req_auth(sim_req_t *req, sim_svc_t svc);

/**
 * @brief Charges a Graph request against the tenant's RU bucket (10 s
 *        window), the write bucket (writes), and the app's global budget
 *        across tenants (graph.md §5).
 * @param cost resource units (≥1; see graph.md §5 for costs); write: also
 *        charges one write.
 * @returns true if allowed (and sets x-ms-resource-unit on resp); false
 *        when throttled, with resp filled as the Graph 429 (TooManyRequests
 *        envelope, Retry-After possibly fractional, x-ms-throttle-scope,
 *        x-ms-throttle-information).
 */
bool sim_graph_throttle(sim_req_t *req, sim_resp_t *resp, int cost,
			bool write);

/**
 * @brief Lower-level charge usable by any module.
 * @returns 0 when allowed, else the wait in microseconds until it would be.
 * @param scope_out (may be NULL) receives "Tenant_Application",
 *        "Application" (global app budget) or "Tenant" (writes).
 */
int64_t sim_throttle_charge(sim_tenant_t *tn, int cost, bool write,
			    const char **scope_out);

/**
 * @brief Charges cost against any bucket of tn (e.g. &tn->td_rate) under
 *        tn->thr_lock.  A bucket with capacity 0 never throttles.
 * @returns 0 when allowed, else microseconds until it would be.
 */
int64_t sim_bucket_charge(sim_tenant_t *tn, sim_bucket_t *b, double cost);

/** @brief Formats a Retry-After value from microseconds: whole seconds when
 *         exact, else up to 3 decimals ("2.128"), never below 0.001. */
void sim_retry_after_fmt(int64_t wait_us, char *buf, size_t size);

/** Stats counters bumped by state mutations. */
void sim_stats_write(rs_sim_t *sim, bool applied);

/** @returns the simulator's configuration (read-only). */
const rs_sim_conf_t *sim_conf(const rs_sim_t *sim);

#endif /* SIM_INT_H */
