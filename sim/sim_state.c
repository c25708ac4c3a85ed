/*
 * sim_state.c - the simulator's state model: tenants, Entra users and
 * groups, Talkdesk users and queues, the owner index used to flag
 * cross-tenant attempts, and the per-tenant change log for deltas.
 *
 * Memberships are sim_idset_t (hash + dense array) so adding, removing and
 * testing a member is O(1) at 100k users; listings keep a stable order in
 * sim_vec_t so paging is deterministic.
 */
#include "rs/rs_base.h"

#include "sim_priv.h"

#include <openssl/x509.h>

void sim_bucket_init(sim_bucket_t *b, double capacity, double window_s) {
	b->capacity = capacity;
	b->tokens = capacity;
	b->window_s = window_s;
	b->last_us = rs_now_us();
}

/* ---- tenants ------------------------------------------------------- */

/*
 * A tenant starts empty with its buckets at full budget; credentials and
 * data are filled by the generator or the loader.
 */
sim_tenant_t *sim_tenant_new(rs_sim_t *sim, const char *id) {
	sim_tenant_t *tn = rs_calloc(1, sizeof(*tn));
	tn->sim = sim;
	tn->id = rs_strdup(id);
	tn->rg_mode = sim->conf.ring_groups;
	pthread_rwlock_init(&tn->lock, NULL);
	pthread_mutex_init(&tn->thr_lock, NULL);
	sim_map_init(&tn->users);
	sim_map_init(&tn->users_by_upn);
	sim_map_init(&tn->users_by_mail);
	sim_map_init(&tn->groups);
	sim_map_init(&tn->td_users);
	sim_map_init(&tn->td_users_by_email);
	sim_map_init(&tn->td_queues);
	sim_map_init(&tn->td_queues_by_name);
	tn->chg.cap = 4096;
	tn->chg.ring = rs_calloc(tn->chg.cap, sizeof(*tn->chg.ring));
	tn->chg.next_seq = 1;
	sim_bucket_init(&tn->ru, 3500, 10.0);
	sim_bucket_init(&tn->writes, sim->conf.write_budget, 150.0);
	sim_bucket_init(&tn->td_rate, sim->conf.talkdesk_rate, 1.0);
	return tn;
}

static void user_free(void *p) {
	sim_user_t *u = p;
	int i;
	rs_free(u->id);
	rs_free(u->upn);
	rs_free(u->mail);
	rs_free(u->display_name);
	rs_free(u->given_name);
	rs_free(u->surname);
	rs_free(u->department);
	for (i = 0; i < u->n_proxy; i++)
		rs_free(u->proxy_addresses[i]);
	rs_free(u->proxy_addresses);
	rs_free(u);
}

static void group_free(void *p) {
	sim_group_t *g = p;
	rs_free(g->id);
	rs_free(g->display_name);
	rs_free(g->mail_nickname);
	rs_free(g->description);
	sim_idset_cleanup(&g->members);
	sim_idset_cleanup(&g->owners);
	rs_free(g);
}

static void td_user_free(void *p) {
	sim_td_user_t *u = p;
	rs_free(u->id);
	rs_free(u->email);
	rs_free(u->name);
	rs_free(u->extension);
	rs_free(u);
}

static void td_queue_free(void *p) {
	sim_td_queue_t *q = p;
	rs_free(q->id);
	rs_free(q->name);
	rs_free(q->description);
	sim_idset_cleanup(&q->users);
	rs_free(q);
}

static void owner_forget(sim_tenant_t *tn, const char *id) {
	rs_sim_t *sim = tn->sim;
	pthread_mutex_lock(&sim->idx_lock);
	if (sim_map_get(&sim->owner, id) == tn)
		sim_map_del(&sim->owner, id);
	pthread_mutex_unlock(&sim->idx_lock);
}

/*
 * The owner index maps every object id to its tenant across the whole
 * sim.  It is what lets a handler tell "unknown id" from "another tenant's
 * id" and flag the latter as a cross-tenant attempt.
 */
static void owner_set(sim_tenant_t *tn, const char *id) {
	rs_sim_t *sim = tn->sim;
	pthread_mutex_lock(&sim->idx_lock);
	sim_map_put(&sim->owner, id, tn);
	pthread_mutex_unlock(&sim->idx_lock);
}

static void chglog_clear(sim_chglog_t *c) {
	size_t i;
	for (i = 0; i < c->n; i++) {
		sim_chg_t *e = &c->ring[(c->head + i) % c->cap];
		rs_free(e->obj_id);
		rs_free(e->ref_id);
	}
	c->head = 0;
	c->n = 0;
	/* next_seq keeps growing so old delta tokens never alias new ones. */
}

/*
 * Drops the directory and Talkdesk data (reset, reload) but keeps the
 * credentials, so clients configured against the sim keep working.
 */
void sim_tenant_clear_data(sim_tenant_t *tn) {
	size_t pos = 0;
	int i;
	const char *key;
	rs_sim_t *sim = tn->sim;

	pthread_mutex_lock(&sim->idx_lock);
	while (sim_map_next(&tn->users, &pos, &key, NULL))
		sim_map_del(&sim->owner, key);
	pos = 0;
	while (sim_map_next(&tn->groups, &pos, &key, NULL))
		sim_map_del(&sim->owner, key);
	pos = 0;
	while (sim_map_next(&tn->td_users, &pos, &key, NULL))
		sim_map_del(&sim->owner, key);
	pos = 0;
	while (sim_map_next(&tn->td_queues, &pos, &key, NULL))
		sim_map_del(&sim->owner, key);
	pthread_mutex_unlock(&sim->idx_lock);

	sim_map_cleanup(&tn->users, user_free);
	sim_map_cleanup(&tn->users_by_upn, NULL);
	sim_map_cleanup(&tn->users_by_mail, NULL);
	sim_map_cleanup(&tn->groups, group_free);
	sim_map_cleanup(&tn->td_users, td_user_free);
	sim_map_cleanup(&tn->td_users_by_email, NULL);
	sim_map_cleanup(&tn->td_queues, td_queue_free);
	sim_map_cleanup(&tn->td_queues_by_name, NULL);
	sim_vec_cleanup(&tn->user_list);
	sim_vec_cleanup(&tn->group_list);
	sim_vec_cleanup(&tn->td_user_list);
	sim_vec_cleanup(&tn->td_queue_list);
	chglog_clear(&tn->chg);
	tn->churn_round = 0;
	for (i = 0; i < SIM_EXT_MAX; i++) {
		if (tn->ext[i] && tn->ext_free[i])
			tn->ext_free[i](tn->ext[i]);
		tn->ext[i] = NULL;
		tn->ext_free[i] = NULL;
	}
}

void sim_tenant_destroy(sim_tenant_t *tn) {
	int i;
	if (!tn)
		return;
	sim_tenant_clear_data(tn);
	rs_free(tn->chg.ring);
	rs_free(tn->id);
	rs_free(tn->entra_tenant_id);
	rs_free(tn->domain);
	rs_free(tn->mail_domain);
	rs_free(tn->graph_client_id);
	if (tn->graph_client_secret)
		rs_wipe(tn->graph_client_secret,
			strlen(tn->graph_client_secret));
	rs_free(tn->graph_client_secret);
	if (tn->cert)
		X509_free(tn->cert);
	rs_free(tn->pfx);
	rs_free(tn->pfx_password);
	if (tn->key_pem)
		rs_wipe(tn->key_pem, strlen(tn->key_pem));
	rs_free(tn->key_pem);
	rs_free(tn->td_account);
	rs_free(tn->td_client_id);
	if (tn->td_client_secret)
		rs_wipe(tn->td_client_secret, strlen(tn->td_client_secret));
	rs_free(tn->td_client_secret);
	for (i = 0; i < tn->n_map; i++) {
		rs_free(tn->map_queue[i]);
		rs_free(tn->map_group[i]);
	}
	rs_free(tn->map_queue);
	rs_free(tn->map_group);
	pthread_rwlock_destroy(&tn->lock);
	pthread_mutex_destroy(&tn->thr_lock);
	rs_free(tn);
}

/*
 * Indexed by sim id, Entra GUID, domain (lower-case, Entra accepts any
 * case) and both client ids, so each endpoint finds its tenant in O(1).
 */
void sim_tenants_add(rs_sim_t *sim, sim_tenant_t *tn) {
	sim->tenants = rs_realloc(sim->tenants, (size_t)(sim->n_tenants + 1) *
							sizeof(*sim->tenants));
	sim->tenants[sim->n_tenants++] = tn;
	sim_map_put(&sim->tn_by_id, tn->id, tn);
	if (tn->entra_tenant_id)
		sim_map_put(&sim->tn_by_entra, tn->entra_tenant_id, tn);
	if (tn->domain) {
		char *d = sim_strlower(tn->domain);
		sim_map_put(&sim->tn_by_entra, d, tn);
		rs_free(d);
	}
	if (tn->graph_client_id)
		sim_map_put(&sim->tn_by_graph_client, tn->graph_client_id, tn);
	if (tn->td_client_id)
		sim_map_put(&sim->tn_by_td_client, tn->td_client_id, tn);
}

void sim_tenants_clear(rs_sim_t *sim) {
	int i;
	for (i = 0; i < sim->n_tenants; i++)
		sim_tenant_destroy(sim->tenants[i]);
	rs_free(sim->tenants);
	sim->tenants = NULL;
	sim->n_tenants = 0;
	sim_map_cleanup(&sim->tn_by_id, NULL);
	sim_map_cleanup(&sim->tn_by_entra, NULL);
	sim_map_cleanup(&sim->tn_by_graph_client, NULL);
	sim_map_cleanup(&sim->tn_by_td_client, NULL);
	sim_map_init(&sim->tn_by_id);
	sim_map_init(&sim->tn_by_entra);
	sim_map_init(&sim->tn_by_graph_client);
	sim_map_init(&sim->tn_by_td_client);
}

sim_tenant_t *sim_tenant_by_id(rs_sim_t *sim, const char *id) {
	return sim_map_get(&sim->tn_by_id, id);
}

sim_tenant_t *sim_tenant_by_entra(rs_sim_t *sim, const char *tenant) {
	/* Entra accepts the GUID or a domain, case-insensitively. */
	char *l = sim_strlower(tenant);
	sim_tenant_t *tn = sim_map_get(&sim->tn_by_entra, l);
	rs_free(l);
	return tn;
}

sim_tenant_t *sim_tenant_by_graph_client(rs_sim_t *sim,
					 const char *client_id) {
	return sim_map_get(&sim->tn_by_graph_client, client_id);
}

sim_tenant_t *sim_tenant_by_td_client(rs_sim_t *sim, const char *client_id) {
	return sim_map_get(&sim->tn_by_td_client, client_id);
}

sim_tenant_t *sim_owner_of(rs_sim_t *sim, const char *obj_id) {
	sim_tenant_t *tn;
	pthread_mutex_lock(&sim->idx_lock);
	tn = sim_map_get(&sim->owner, obj_id);
	pthread_mutex_unlock(&sim->idx_lock);
	return tn;
}

void sim_tenant_rdlock(sim_tenant_t *tn) {
	pthread_rwlock_rdlock(&tn->lock);
}

void sim_tenant_wrlock(sim_tenant_t *tn) {
	pthread_rwlock_wrlock(&tn->lock);
}

void sim_tenant_unlock(sim_tenant_t *tn) {
	pthread_rwlock_unlock(&tn->lock);
}

/* ---- lookups ------------------------------------------------------- */

sim_user_t *sim_user_get(sim_tenant_t *tn, const char *id) {
	return sim_map_get(&tn->users, id);
}

sim_user_t *sim_user_by_upn(sim_tenant_t *tn, const char *upn) {
	char *l = sim_strlower(upn);
	sim_user_t *u = sim_map_get(&tn->users_by_upn, l);
	rs_free(l);
	return u;
}

sim_user_t *sim_user_by_mail(sim_tenant_t *tn, const char *mail) {
	char *l = sim_strlower(mail);
	sim_user_t *u = sim_map_get(&tn->users_by_mail, l);
	rs_free(l);
	return u;
}

sim_group_t *sim_group_get(sim_tenant_t *tn, const char *id) {
	return sim_map_get(&tn->groups, id);
}

sim_td_user_t *sim_td_user_get(sim_tenant_t *tn, const char *id) {
	return sim_map_get(&tn->td_users, id);
}

sim_td_queue_t *sim_td_queue_get(sim_tenant_t *tn, const char *id) {
	return sim_map_get(&tn->td_queues, id);
}

sim_td_queue_t *sim_td_queue_by_name(sim_tenant_t *tn, const char *name) {
	return sim_map_get(&tn->td_queues_by_name, name);
}

/* ---- change log ---------------------------------------------------- */

/*
 * The change log starts small and doubles up to SIM_CHGLOG_MAX, then
 * drops the oldest entry: bounded memory (STYLE.md 9) at the cost that a very
 * old delta token must resync, exactly what Graph does with stale tokens.
 */
void sim_chg_append(sim_tenant_t *tn, sim_chg_kind_t kind, const char *obj_id,
		    const char *ref_id) {
	sim_chglog_t *c = &tn->chg;
	sim_chg_t *e;

	if (c->n == c->cap) {
		if (c->cap < SIM_CHGLOG_MAX) {
			/* Grow: unroll the ring into a larger array. */
			size_t ncap = c->cap * 2, i;
			sim_chg_t *nr = rs_calloc(ncap, sizeof(*nr));
			for (i = 0; i < c->n; i++)
				nr[i] = c->ring[(c->head + i) % c->cap];
			rs_free(c->ring);
			c->ring = nr;
			c->cap = ncap;
			c->head = 0;
		} else {
			/* Bounded: the oldest change is forgotten (a delta
			 * token older than it must resync). */
			e = &c->ring[c->head];
			rs_free(e->obj_id);
			rs_free(e->ref_id);
			c->head = (c->head + 1) % c->cap;
			c->n--;
		}
	}
	e = &c->ring[(c->head + c->n) % c->cap];
	e->seq = c->next_seq++;
	e->kind = kind;
	e->obj_id = rs_strdup(obj_id);
	e->ref_id = ref_id ? rs_strdup(ref_id) : NULL;
	e->wall_ms = rs_wall_ms();
	c->n++;
}

int64_t sim_chg_first_seq(const sim_tenant_t *tn) {
	const sim_chglog_t *c = &tn->chg;
	return c->n ? c->ring[c->head].seq : c->next_seq;
}

int64_t sim_chg_next_seq(const sim_tenant_t *tn) {
	return tn->chg.next_seq;
}

const sim_chg_t *sim_chg_get(const sim_tenant_t *tn, int64_t seq) {
	const sim_chglog_t *c = &tn->chg;
	int64_t first = sim_chg_first_seq(tn);
	if (seq < first || seq >= c->next_seq)
		return NULL;
	return &c->ring[(c->head + (size_t)(seq - first)) % c->cap];
}

/* ---- mutations ----------------------------------------------------- */

/*
 * Membership mutations return whether the state changed.  The no-op case
 * is counted too, so tests can prove idempotency (Guarantee 2): a replayed
 * job shows up as writes_noop, never as a second change.
 */
bool sim_group_member_add(sim_tenant_t *tn, sim_group_t *g, const char *uid) {
	bool changed = sim_idset_add(&g->members, uid);
	if (changed)
		sim_chg_append(tn, SIM_CHG_MEMBER_ADD, g->id, uid);
	sim_stats_write(tn->sim, changed);
	return changed;
}

bool sim_group_member_del(sim_tenant_t *tn, sim_group_t *g, const char *uid) {
	bool changed = sim_idset_del(&g->members, uid);
	if (changed)
		sim_chg_append(tn, SIM_CHG_MEMBER_DEL, g->id, uid);
	sim_stats_write(tn->sim, changed);
	return changed;
}

bool sim_group_owner_add(sim_tenant_t *tn, sim_group_t *g, const char *uid) {
	bool changed = sim_idset_add(&g->owners, uid);
	if (changed)
		sim_chg_append(tn, SIM_CHG_OWNER_ADD, g->id, uid);
	sim_stats_write(tn->sim, changed);
	return changed;
}

bool sim_group_owner_del(sim_tenant_t *tn, sim_group_t *g, const char *uid) {
	bool changed = sim_idset_del(&g->owners, uid);
	if (changed)
		sim_chg_append(tn, SIM_CHG_OWNER_DEL, g->id, uid);
	sim_stats_write(tn->sim, changed);
	return changed;
}

bool sim_td_queue_user_add(sim_tenant_t *tn, sim_td_queue_t *q,
			   const char *td_uid) {
	bool changed = sim_idset_add(&q->users, td_uid);
	if (changed)
		sim_chg_append(tn, SIM_CHG_TD_QUEUE_ADD, q->id, td_uid);
	sim_stats_write(tn->sim, changed);
	return changed;
}

bool sim_td_queue_user_del(sim_tenant_t *tn, sim_td_queue_t *q,
			   const char *td_uid) {
	bool changed = sim_idset_del(&q->users, td_uid);
	if (changed)
		sim_chg_append(tn, SIM_CHG_TD_QUEUE_DEL, q->id, td_uid);
	sim_stats_write(tn->sim, changed);
	return changed;
}

static void index_mail(sim_tenant_t *tn, sim_user_t *u, const char *mail) {
	char *l = sim_strlower(mail);
	sim_map_put(&tn->users_by_mail, l, u);
	rs_free(l);
}

/*
 * Users are indexed by id, lower-cased UPN and lower-cased mail (plus
 * aliases): Entra matches addresses case-insensitively, and the generator
 * deliberately varies case between Entra and Talkdesk.
 */
sim_user_t *sim_user_add(sim_tenant_t *tn, const char *id, const char *upn,
			 const char *mail, const char *display_name) {
	sim_user_t *u = rs_calloc(1, sizeof(*u));
	char *l;

	u->id = rs_strdup(id);
	u->upn = rs_strdup(upn);
	u->mail = mail ? rs_strdup(mail) : NULL;
	u->display_name = rs_strdup(display_name);
	u->enabled = true;
	u->guest = strstr(upn, "#EXT#") != NULL;
	sim_map_put(&tn->users, id, u);
	l = sim_strlower(upn);
	sim_map_put(&tn->users_by_upn, l, u);
	rs_free(l);
	if (mail)
		index_mail(tn, u, mail);
	sim_vec_push(&tn->user_list, u);
	owner_set(tn, id);
	sim_chg_append(tn, SIM_CHG_USER_ADD, id, NULL);
	return u;
}

void sim_user_add_alias(sim_tenant_t *tn, sim_user_t *u, const char *alias) {
	size_t al = strlen(alias) + 6;
	char *p = rs_malloc(al);
	rs_snprintf(p, al, "smtp:%s", alias);
	u->proxy_addresses = rs_realloc(u->proxy_addresses,
					(size_t)(u->n_proxy + 1) *
						sizeof(*u->proxy_addresses));
	u->proxy_addresses[u->n_proxy++] = p;
	index_mail(tn, u, alias);
}

static void unindex_if(sim_map_t *m, const char *key, void *val) {
	char *l = sim_strlower(key);
	if (sim_map_get(m, l) == val)
		sim_map_del(m, l);
	rs_free(l);
}

void sim_user_delete(sim_tenant_t *tn, sim_user_t *u) {
	size_t i;
	int k;

	/* A deleted user leaves every group it was in (as in Entra). */
	for (i = 0; i < tn->group_list.n; i++) {
		sim_group_t *g = tn->group_list.v[i];
		if (sim_idset_del(&g->members, u->id))
			sim_chg_append(tn, SIM_CHG_MEMBER_DEL, g->id, u->id);
		if (sim_idset_del(&g->owners, u->id))
			sim_chg_append(tn, SIM_CHG_OWNER_DEL, g->id, u->id);
	}
	unindex_if(&tn->users_by_upn, u->upn, u);
	if (u->mail)
		unindex_if(&tn->users_by_mail, u->mail, u);
	for (k = 0; k < u->n_proxy; k++)
		unindex_if(&tn->users_by_mail, u->proxy_addresses[k] + 5, u);
	sim_map_del(&tn->users, u->id);
	sim_vec_remove(&tn->user_list, u);
	owner_forget(tn, u->id);
	sim_chg_append(tn, SIM_CHG_USER_DEL, u->id, NULL);
	user_free(u);
}

sim_group_t *sim_group_add(sim_tenant_t *tn, const char *id,
			   const char *display_name) {
	sim_group_t *g = rs_calloc(1, sizeof(*g));
	g->id = rs_strdup(id);
	g->display_name = rs_strdup(display_name);
	g->security_enabled = true;
	sim_idset_init(&g->members);
	sim_idset_init(&g->owners);
	sim_map_put(&tn->groups, id, g);
	sim_vec_push(&tn->group_list, g);
	owner_set(tn, id);
	sim_chg_append(tn, SIM_CHG_GROUP_ADD, id, NULL);
	return g;
}

sim_td_user_t *sim_td_user_add(sim_tenant_t *tn, const char *id,
			       const char *email, const char *name) {
	sim_td_user_t *u = rs_calloc(1, sizeof(*u));
	char *l;
	u->id = rs_strdup(id);
	u->email = rs_strdup(email);
	u->name = rs_strdup(name);
	u->active = true;
	u->created_ms = rs_wall_ms();
	{
		/* Initial agent status from the id, so it is deterministic
		 * without consuming the generator's random stream. */
		static const char *const st[] = {
			"available", "available", "available", "available",
			"available", "available", "away", "away", "busy",
			"offline"};
		uint64_t h = 1469598103934665603ULL;
		const char *c;
		for (c = id; *c; c++)
			h = (h ^ (unsigned char)*c) * 1099511628211ULL;
		rs_snprintf(u->status, sizeof(u->status), "%s",
			    st[h % RS_ARRAY_SIZE(st)]);
	}
	sim_map_put(&tn->td_users, id, u);
	l = sim_strlower(email);
	sim_map_put(&tn->td_users_by_email, l, u);
	rs_free(l);
	sim_vec_push(&tn->td_user_list, u);
	owner_set(tn, id);
	sim_chg_append(tn, SIM_CHG_TD_USER_ADD, id, NULL);
	return u;
}

void sim_td_user_delete(sim_tenant_t *tn, sim_td_user_t *u) {
	size_t i;
	for (i = 0; i < tn->td_queue_list.n; i++) {
		sim_td_queue_t *q = tn->td_queue_list.v[i];
		if (sim_idset_del(&q->users, u->id))
			sim_chg_append(tn, SIM_CHG_TD_QUEUE_DEL, q->id, u->id);
	}
	unindex_if(&tn->td_users_by_email, u->email, u);
	sim_map_del(&tn->td_users, u->id);
	sim_vec_remove(&tn->td_user_list, u);
	owner_forget(tn, u->id);
	sim_chg_append(tn, SIM_CHG_TD_USER_DEL, u->id, NULL);
	td_user_free(u);
}

sim_td_queue_t *sim_td_queue_add(sim_tenant_t *tn, const char *id,
				 const char *name) {
	sim_td_queue_t *q = rs_calloc(1, sizeof(*q));
	q->id = rs_strdup(id);
	q->name = rs_strdup(name);
	q->created_ms = q->updated_ms = rs_wall_ms();
	sim_idset_init(&q->users);
	sim_map_put(&tn->td_queues, id, q);
	sim_map_put(&tn->td_queues_by_name, name, q);
	sim_vec_push(&tn->td_queue_list, q);
	owner_set(tn, id);
	return q;
}

/* ---- JSON views (/_sim/tenants, /_sim/state) ----------------------- */

/*
 * /_sim/tenants shows secrets on purpose: it is how tests and the demo
 * learn the credentials of a generated dataset.  It is never ledgered.
 */
cJSON *sim_tenants_json(rs_sim_t *sim) {
	cJSON *arr = cJSON_CreateArray();
	int i, k;
	for (i = 0; i < sim->n_tenants; i++) {
		sim_tenant_t *tn = sim->tenants[i];
		cJSON *o = cJSON_CreateObject(), *m;
		cJSON_AddStringToObject(o, "id", tn->id);
		cJSON_AddStringToObject(o, "entra_tenant_id",
					tn->entra_tenant_id);
		cJSON_AddStringToObject(o, "domain", tn->domain);
		cJSON_AddStringToObject(o, "graph_client_id",
					tn->graph_client_id);
		if (tn->graph_client_secret)
			cJSON_AddStringToObject(o, "graph_client_secret",
						tn->graph_client_secret);
		else
			cJSON_AddNullToObject(o, "graph_client_secret");
		cJSON_AddBoolToObject(o, "graph_certificate", tn->cert != NULL);
		if (tn->cert) {
			cJSON_AddStringToObject(o, "graph_cert_password",
						tn->pfx_password);
			if (sim->pfx_dir) {
				char p[1024];
				rs_snprintf(p, sizeof(p), "%s/%s.pfx",
					    sim->pfx_dir, tn->id);
				cJSON_AddStringToObject(o, "graph_cert_pfx", p);
			}
		}
		cJSON_AddStringToObject(o, "talkdesk_account", tn->td_account);
		cJSON_AddStringToObject(o, "talkdesk_client_id",
					tn->td_client_id);
		cJSON_AddStringToObject(o, "talkdesk_client_secret",
					tn->td_client_secret);
		cJSON_AddStringToObject(o, "ring_groups",
					tn->rg_mode == RS_SIM_RG_SERVE
						? "serve"
					: tn->rg_mode == RS_SIM_RG_RETIRED
						? "retired"
						: "auto");
		m = cJSON_AddObjectToObject(o, "mapping");
		for (k = 0; k < tn->n_map; k++)
			cJSON_AddStringToObject(m, tn->map_queue[k],
						tn->map_group[k]);
		cJSON_AddItemToArray(arr, o);
	}
	return arr;
}

/*
 * Sorted so that two state documents compare byte for byte (determinism
 * tests), whatever order the set holds after removals.
 */
static cJSON *idset_json(const sim_idset_t *s) {
	const char **v = sim_idset_sorted(s);
	cJSON *a = cJSON_CreateArray();
	size_t i;
	for (i = 0; i < s->n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
	rs_free(v);
	return a;
}

static cJSON *tenant_state_json(sim_tenant_t *tn) {
	cJSON *o = cJSON_CreateObject(), *entra, *td, *a;
	size_t i;

	sim_tenant_rdlock(tn);
	entra = cJSON_AddObjectToObject(o, "entra");
	a = cJSON_AddArrayToObject(entra, "users");
	for (i = 0; i < tn->user_list.n; i++) {
		sim_user_t *u = tn->user_list.v[i];
		cJSON *x = cJSON_CreateObject();
		cJSON_AddStringToObject(x, "id", u->id);
		if (u->mail)
			cJSON_AddStringToObject(x, "mail", u->mail);
		else
			cJSON_AddNullToObject(x, "mail");
		cJSON_AddStringToObject(x, "userPrincipalName", u->upn);
		cJSON_AddItemToArray(a, x);
	}
	a = cJSON_AddArrayToObject(entra, "groups");
	for (i = 0; i < tn->group_list.n; i++) {
		sim_group_t *g = tn->group_list.v[i];
		cJSON *x = cJSON_CreateObject();
		cJSON_AddStringToObject(x, "id", g->id);
		cJSON_AddStringToObject(x, "displayName", g->display_name);
		cJSON_AddItemToObject(x, "members", idset_json(&g->members));
		cJSON_AddItemToObject(x, "owners", idset_json(&g->owners));
		cJSON_AddItemToArray(a, x);
	}
	td = cJSON_AddObjectToObject(o, "talkdesk");
	a = cJSON_AddArrayToObject(td, "users");
	for (i = 0; i < tn->td_user_list.n; i++) {
		sim_td_user_t *u = tn->td_user_list.v[i];
		cJSON *x = cJSON_CreateObject();
		cJSON_AddStringToObject(x, "id", u->id);
		cJSON_AddStringToObject(x, "email", u->email);
		cJSON_AddItemToArray(a, x);
	}
	a = cJSON_AddArrayToObject(td, "queues");
	for (i = 0; i < tn->td_queue_list.n; i++) {
		sim_td_queue_t *q = tn->td_queue_list.v[i];
		cJSON *x = cJSON_CreateObject();
		cJSON_AddStringToObject(x, "id", q->id);
		cJSON_AddStringToObject(x, "name", q->name);
		cJSON_AddItemToObject(x, "users", idset_json(&q->users));
		cJSON_AddItemToArray(a, x);
	}
	sim_tenant_unlock(tn);
	return o;
}

cJSON *sim_state_json(rs_sim_t *sim, const char *tenant) {
	cJSON *root = cJSON_CreateObject(), *tns;
	int i;

	tns = cJSON_AddObjectToObject(root, "tenants");
	for (i = 0; i < sim->n_tenants; i++) {
		sim_tenant_t *tn = sim->tenants[i];
		if (tenant && strcmp(tenant, tn->id))
			continue;
		cJSON_AddItemToObject(tns, tn->id, tenant_state_json(tn));
	}
	if (tenant && !cJSON_GetArraySize(tns)) {
		cJSON_Delete(root);
		return NULL;
	}
	return root;
}
