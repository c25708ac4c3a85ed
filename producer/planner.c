/*
 * planner.c - one planner cycle: per tenant (in parallel) read the source,
 * resolve identities (cached between cycles), list each target group,
 * diff + guard; then, single-threaded, publish the jobs (or write the
 * dry-run plan) and append the audit CSV.
 *
 * Tenant work runs in planner.concurrency threads, each with its own
 * rs_http_t; a tenant's state (token providers, resolution cache,
 * generation) is touched by one thread per cycle only, so it needs no lock.
 * Results are kept per tenant and written after the threads are joined,
 * which keeps report files and produce order deterministic.
 */
#include "rs/rs_base.h"
#include "rs_planner.h"

#include "rs/rs_auth.h"
#include "rs/rs_envelope.h"
#include "rs/rs_graph.h"
#include "rs/rs_http.h"
#include "rs/rs_log.h"
#include "rs/rs_qconf.h"
#include "rs/rs_queue.h"
#include "rs/rs_topics.h"
#include "rs/rs_source.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define PL_FAC "PLAN"
#define PL_FLUSH_MS 30000
#define PL_SECRET_MAX 8192
#define PL_PRODUCE_RETRIES 300 /* x 100 ms flush = 30 s of backpressure */

/* A planned member change; the e-mail travels for the audit trail only,
 * the id is what the worker applies. */
typedef struct pl_member_s {
	char *id;
	char *email; /* lower-case, may be NULL */
} pl_member_t;

typedef struct pl_list_s {
	pl_member_t *v;
	size_t cnt;
} pl_list_t;

/* One mapping entry's plan. */
typedef struct pl_group_s {
	const char *queue;    /* borrowed from the config */
	const char *group_id; /* borrowed from the config */
	pl_list_t adds, removes, held;
	size_t desired_cnt, current_cnt, unresolved_cnt;
	const char *note; /* static: why removals were skipped / failure */
	bool error;
} pl_group_t;

typedef struct pl_tenant_s {
	const rs_conf_tenant_t *tn;
	/* Kept across cycles: token caches and the resolution cache. */
	rs_auth_t *entra, *td;
	rs_graph_resolve_t cache;
	int64_t cache_at_ms; /* monotonic; 0 = empty */
	int64_t last_gen;
	/* This cycle's result. */
	int64_t gen;
	pl_group_t *groups;
	size_t group_cnt;
	char **unresolved; /* lower-case e-mails, sorted */
	size_t unresolved_cnt;
	char error[512]; /* "" = tenant fine */
} pl_tenant_t;

/* The planner owns per-tenant state across cycles; the configuration is
 * borrowed and immutable (rs_conf.h), so threads read it without locks. */
struct rs_planner_s {
	const rs_conf_t *conf;
	const rs_conf_global_t *g;
	rs_planner_opts_t opts;
	char *report_dir;
	char *audit_dir;
	rs_queue_t *q;
	pl_tenant_t *tenants; /* enabled tenants only */
	size_t tenant_cnt;
	pthread_mutex_t lock; /* next */
	size_t next;
	atomic_uint_fast64_t delivery_failed;
	char planner_id[128];
};

/* Provenance names, in rs_conf_td_source_t order (the config's enum
 * values), so "talkdesk:<mode>" reads like the tenant file. */
static const char *const source_names[] = {"queues", "ring_groups",
					   "guardian"};

/* Delivery reports arrive on the flush caller's thread; the counter is
 * atomic anyway because librdkafka may serve them from its own poll. */
static void on_delivery(rs_queue_t *q, rs_err_t err, const char *errstr,
			void *msg_opaque, void *opaque) {
	rs_planner_t *p = opaque;
	(void)q;
	(void)msg_opaque;
	if (err != RS_OK) {
		atomic_fetch_add(&p->delivery_failed, 1);
		rs_log(NULL, LOG_ERR, PL_FAC, "job not delivered: %s",
		       errstr ? errstr : rs_err_str(err));
	}
}

rs_planner_t *rs_planner_new(const rs_conf_t *conf,
			     const rs_planner_opts_t *opts, char *errstr,
			     size_t errstr_size) {
	rs_planner_t *p;
	size_t i, n = rs_conf_tenant_count(conf);
	char host[64], tbuf[256];

	p = rs_calloc(1, sizeof(*p));
	p->conf = conf;
	p->g = rs_conf_global(conf);
	p->opts = *opts;
	p->report_dir = rs_strdup(opts->report_dir ? opts->report_dir
			       : p->g->planner.report_dir ? p->g->planner.report_dir
							  : ".");
	p->audit_dir = rs_strdup(p->g->planner.audit_dir ? p->g->planner.audit_dir
							 : p->report_dir);
	p->opts.report_dir = p->report_dir;
	pthread_mutex_init(&p->lock, NULL);
	atomic_init(&p->delivery_failed, 0);
	if (gethostname(host, sizeof(host)) != 0)
		rs_snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	rs_snprintf(p->planner_id, sizeof(p->planner_id), "%s/%ld", host,
		    (long)getpid());

	/* Disabled tenants are skipped once here, so cycles, summaries and
	 * reports only ever see the tenants that are really planned. */
	p->tenants = rs_calloc(n ? n : 1, sizeof(*p->tenants));
	for (i = 0; i < n; i++) {
		const rs_conf_tenant_t *tn = rs_conf_tenant(conf, i);
		if (!tn->enabled)
			continue;
		p->tenants[p->tenant_cnt].tn = tn;
		rs_graph_resolve_init(&p->tenants[p->tenant_cnt].cache);
		p->tenant_cnt++;
	}

	if (!opts->dry_run) {
		rs_queue_conf_t qc;
		const char *props[RS_QUEUE_MAX_PROPS];
		char *kv[RS_QUEUE_MAX_PROPS];
		size_t np = 0;

		/* queue.kafka.properties are passed through as "k=v", the
		 * form rs_queue_conf_t takes; extra ones beyond the bound are
		 * dropped rather than failing (the config caps them too). */
		for (i = 0; i < p->g->queue.kafka.properties.count &&
			    np < RS_QUEUE_MAX_PROPS;
		     i++) {
			size_t l = strlen(p->g->queue.kafka.properties.keys[i]) +
				   strlen(p->g->queue.kafka.properties.values[i]) + 2;
			kv[np] = rs_malloc(l);
			rs_snprintf(kv[np], l, "%s=%s",
				    p->g->queue.kafka.properties.keys[i],
				    p->g->queue.kafka.properties.values[i]);
			props[np] = kv[np];
			np++;
		}
		/* kafka or sqlite, as queue.backend says. */
		rs_qconf_fill(&qc, p->g);
		qc.roles = RS_QUEUE_ROLE_PRODUCER;
		qc.client_id = "rostersync-planner";
		qc.props = props;
		qc.prop_cnt = np;
		qc.on_delivery = on_delivery;
		qc.opaque = p;
		p->q = rs_queue_new(&qc, errstr, errstr_size);
		for (i = 0; i < np; i++)
			rs_free(kv[i]);
		if (!p->q) {
			rs_planner_destroy(p);
			return NULL;
		}
		/* Before the first publish, or auto-create would make them
		 * with the broker's defaults (see rs_topics.h). */
		if (rs_topics_ensure(p->q, p->g, 15000, tbuf, sizeof(tbuf)) !=
		    RS_OK)
			rs_log(NULL, LOG_WARNING, PL_FAC,
			       "creating topics: %s (continuing: they may be "
			       "pre-created)", tbuf);
	}
	return p;
}

/* Results of the previous cycle are dropped at the start of the next one
 * (not at its end) so a caller can still read them after rs_planner_cycle. */
static void list_cleanup(pl_list_t *l) {
	size_t i;
	for (i = 0; i < l->cnt; i++) {
		rs_free(l->v[i].id);
		rs_free(l->v[i].email);
	}
	rs_free(l->v);
	memset(l, 0, sizeof(*l));
}

static void tenant_result_cleanup(pl_tenant_t *t) {
	size_t i;
	for (i = 0; i < t->group_cnt; i++) {
		list_cleanup(&t->groups[i].adds);
		list_cleanup(&t->groups[i].removes);
		list_cleanup(&t->groups[i].held);
	}
	rs_free(t->groups);
	t->groups = NULL;
	t->group_cnt = 0;
	for (i = 0; i < t->unresolved_cnt; i++)
		rs_free(t->unresolved[i]);
	rs_free(t->unresolved);
	t->unresolved = NULL;
	t->unresolved_cnt = 0;
	t->error[0] = '\0';
}

void rs_planner_destroy(rs_planner_t *p) {
	size_t i;
	if (!p)
		return;
	for (i = 0; i < p->tenant_cnt; i++) {
		tenant_result_cleanup(&p->tenants[i]);
		rs_auth_destroy(p->tenants[i].entra);
		rs_auth_destroy(p->tenants[i].td);
		rs_graph_resolve_cleanup(&p->tenants[i].cache);
	}
	rs_free(p->tenants);
	rs_queue_destroy(p->q);
	pthread_mutex_destroy(&p->lock);
	rs_free(p->report_dir);
	rs_free(p->audit_dir);
	rs_free(p);
}

/* W3C traceparent with random trace and span ids (one per job / read). */
static void traceparent_new(char *buf, size_t size) {
	unsigned char r[24];
	char hex[49];
	size_t i, got = 0;

	while (got < sizeof(r)) {
		ssize_t n = getrandom(r + got, sizeof(r) - got, 0);
		if (n <= 0) {
			/* getrandom on Linux >= 3.17 only fails with EINTR. */
			if (n < 0 && errno == EINTR)
				continue;
			break;
		}
		got += (size_t)n;
	}
	for (i = 0; i < sizeof(r); i++)
		rs_snprintf(hex + 2 * i, 3, "%02x", r[i]);
	rs_snprintf(buf, size, "00-%.32s-%.16s-01", hex, hex + 32);
}

/* Graph keeps mail/UPN in their original case; reports and envelopes use
 * the same lower-case form as the source snapshot so rows compare. */
static char *lower_dup(const char *s) {
	char *d;
	size_t i;
	if (!s)
		return NULL;
	d = rs_strdup(s);
	for (i = 0; d[i]; i++)
		d[i] = (char)tolower((unsigned char)d[i]);
	return d;
}

/* Token providers are created once and kept: their token cache is what
 * avoids a token request per tenant per cycle.  Secrets are resolved just
 * for the constructor and wiped right after. */
static rs_err_t tenant_auth(pl_tenant_t *t, const rs_conf_global_t *g) {
	const rs_conf_tenant_t *tn = t->tn;
	char *sec = NULL, *pass = NULL, scopes[2048];
	rs_auth_conf_t ac;
	rs_err_t err = RS_ERR_CONFIG;
	size_t i, off = 0;

	sec = rs_calloc(1, PL_SECRET_MAX);
	pass = rs_calloc(1, PL_SECRET_MAX);
	if (!t->entra) {
		rs_auth_conf_init(&ac);
		ac.flavour = RS_AUTH_ENTRA;
		ac.tenant = tn->id;
		ac.login_base_url = tn->graph.login_url;
		ac.directory = tn->graph.tenant_id;
		ac.client_id = tn->graph.client_id;
		ac.ca_file = g->http.ca_file;
		if (tn->graph.auth == RS_CONF_AUTH_SECRET) {
			if (rs_conf_tenant_secret(tn, "tenant.graph.client_secret",
						  sec, PL_SECRET_MAX, t->error,
						  sizeof(t->error)) != RS_OK)
				goto out;
			ac.cred = RS_AUTH_CRED_SECRET;
			ac.client_secret = sec;
		} else if (tn->graph.auth == RS_CONF_AUTH_CERT_PFX) {
			if (tn->graph.certificate.pfx_password &&
			    rs_conf_tenant_secret(
				    tn, "tenant.graph.certificate.pfx_password",
				    pass, PL_SECRET_MAX, t->error,
				    sizeof(t->error)) != RS_OK)
				goto out;
			ac.cred = RS_AUTH_CRED_PFX;
			ac.pfx_path = tn->graph.certificate.pfx;
			ac.pfx_password = pass;
		} else {
			/* The PEM key is a secret reference: resolve it into a
			 * path only when it is file:, the form auth reads. */
			const char *k = tn->graph.certificate.key;
			if (!k || strncmp(k, "file:", 5)) {
				rs_snprintf(t->error, sizeof(t->error),
					    "tenant.graph.certificate.key must "
					    "be a file: reference");
				goto out;
			}
			ac.cred = RS_AUTH_CRED_PEM;
			ac.key_pem_path = k + 5;
			ac.cert_pem_path = tn->graph.certificate.cert;
		}
		t->entra = rs_auth_new(&ac, t->error, sizeof(t->error));
		rs_wipe(sec, PL_SECRET_MAX);
		rs_wipe(pass, PL_SECRET_MAX);
		if (!t->entra)
			goto out;
	}
	if (!t->td && tn->talkdesk.configured) {
		rs_auth_conf_init(&ac);
		ac.flavour = RS_AUTH_TALKDESK;
		ac.tenant = tn->id;
		ac.token_url = tn->talkdesk.token_url;
		ac.client_id = tn->talkdesk.client_id;
		ac.ca_file = g->http.ca_file;
		if (rs_conf_tenant_secret(tn, "tenant.talkdesk.client_secret", sec,
					  PL_SECRET_MAX, t->error,
					  sizeof(t->error)) != RS_OK)
			goto out;
		ac.client_secret = sec;
		scopes[0] = '\0';
		for (i = 0; i < tn->talkdesk.scopes.count; i++) {
			rs_snprintf(scopes + off, sizeof(scopes) - off, "%s%s",
				    i ? " " : "", tn->talkdesk.scopes.items[i]);
			off = strlen(scopes);
		}
		ac.scope = off ? scopes : rs_source_td_scopes(tn->talkdesk.source);
		t->td = rs_auth_new(&ac, t->error, sizeof(t->error));
		rs_wipe(sec, PL_SECRET_MAX);
		if (!t->td)
			goto out;
	}
	err = RS_OK;
out:
	rs_wipe(sec, PL_SECRET_MAX);
	rs_wipe(pass, PL_SECRET_MAX);
	rs_free(sec);
	rs_free(pass);
	return err;
}

static int cmp_cstr(const void *a, const void *b) {
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* rs_graph_resolve_t.unresolved is sorted (rs_graph.h), so bsearch. */
static bool in_sorted(char **v, size_t n, const char *s) {
	return n && bsearch(&s, v, n, sizeof(*v), cmp_cstr) != NULL;
}

/* The cache answers when it is fresh and knows every e-mail (resolved or
 * known-unresolved); otherwise the whole tenant is resolved again, so the
 * cache never mixes results of different ages beyond the TTL. */
static bool cache_covers(const pl_tenant_t *t, int64_t ttl_ms,
			 const char **emails, size_t n) {
	size_t i;
	if (!t->cache_at_ms || ttl_ms <= 0 || rs_now_ms() - t->cache_at_ms > ttl_ms)
		return false;
	for (i = 0; i < n; i++)
		if (!rs_graph_resolve_find(&t->cache, emails[i]) &&
		    !in_sorted(t->cache.unresolved, t->cache.unresolved_cnt,
			       emails[i]))
			return false;
	return true;
}

/* Lists are sized once from the diff result (cap), never grown. */
static void list_add(pl_list_t *l, size_t cap, const char *id,
		     const char *email) {
	if (!l->v)
		l->v = rs_calloc(cap ? cap : 1, sizeof(*l->v));
	l->v[l->cnt].id = rs_strdup(id);
	l->v[l->cnt].email = lower_dup(email);
	l->cnt++;
}

/* Looks an id up in parallel arrays (small n per group: linear is fine
 * next to the HTTP calls that produced them). */
static const char *email_of(const char *const *ids, const char *const *emails,
			    size_t n, const char *id) {
	size_t i;
	for (i = 0; i < n; i++)
		if (!strcmp(ids[i], id))
			return emails[i];
	return NULL;
}

/* Plans one group: desired from the snapshot, current from Graph. */
static void plan_group(rs_planner_t *p, pl_tenant_t *t, rs_graph_t *graph,
		       const rs_source_snapshot_t *snap, bool source_ok,
		       pl_group_t *pg) {
	const rs_conf_tenant_t *tn = t->tn;
	const rs_source_group_t *sg = source_ok
					      ? rs_source_snapshot_find(snap, pg->queue)
					      : NULL;
	const char **d_ids = NULL, **d_em = NULL, **c_ids = NULL, **c_em = NULL;
	size_t nd = 0, nc = 0, i;
	rs_graph_members_t cur;
	rs_graph_call_t call;
	rs_planner_diff_in_t in;
	rs_planner_diff_t out;
	rs_error_t *e;
	rs_log_ctx_t lc = {.tenant = tn->id};
	char tp[64];

	/* The note explains to the operator why a group got no removals;
	 * "guard" overwrites it below when the guard trips instead. */
	if (!source_ok)
		pg->note = "source_error";
	else if (!sg)
		pg->note = "queue_missing";
	else if (sg->email_cnt == 0)
		pg->note = "queue_empty";

	/* desired: resolved ids in snapshot order, with the e-mail kept
	 * beside each id for the reports (d_em[i] belongs to d_ids[i]). */
	if (sg && sg->email_cnt) {
		d_ids = rs_calloc(sg->email_cnt, sizeof(*d_ids));
		d_em = rs_calloc(sg->email_cnt, sizeof(*d_em));
		for (i = 0; i < sg->email_cnt; i++) {
			const rs_graph_user_t *u =
				rs_graph_resolve_find(&t->cache, sg->emails[i]);
			if (!u) {
				pg->unresolved_cnt++;
				continue;
			}
			d_ids[nd] = u->id;
			d_em[nd++] = sg->emails[i];
		}
	}
	pg->desired_cnt = nd;
	if (nd > (size_t)p->g->planner.group_member_warn)
		rs_log(&lc, LOG_WARNING, PL_FAC,
		       "group %s (%s): %zu desired members, above "
		       "planner.group_member_warn %d",
		       pg->group_id, pg->queue, nd, p->g->planner.group_member_warn);

	/* The target is read even when the source was unusable for this
	 * group: adds are still valid, and "current" goes into the report. */
	rs_graph_members_init(&cur);
	traceparent_new(tp, sizeof(tp));
	rs_graph_call_init(&call, NULL, tp);
	e = rs_graph_members_list(graph, pg->group_id, &call, &cur);
	if (e) {
		rs_log(&lc, LOG_ERR, PL_FAC, "group %s: listing members: %s",
		       pg->group_id, rs_error_msg(e));
		rs_snprintf(t->error, sizeof(t->error), "group %s: %s",
			    pg->group_id, rs_error_msg(e));
		rs_error_destroy(e);
		pg->error = true;
		pg->note = "target_error";
		goto out;
	}
	c_ids = rs_calloc(cur.cnt ? cur.cnt : 1, sizeof(*c_ids));
	c_em = rs_calloc(cur.cnt ? cur.cnt : 1, sizeof(*c_em));
	for (i = 0; i < cur.cnt; i++) {
		/* Only users are managed; nested groups/devices stay. */
		if (cur.items[i].type[0] && strcmp(cur.items[i].type, "user"))
			continue;
		c_ids[nc] = cur.items[i].id;
		c_em[nc++] = cur.items[i].mail ? cur.items[i].mail
					       : cur.items[i].upn;
	}
	pg->current_cnt = nc;

	/* The tenant's sync.* are the effective values (inherited from
	 * planner.* at load when -1), see rs_conf.h. */
	memset(&in, 0, sizeof(in));
	in.desired = d_ids;
	in.desired_cnt = nd;
	in.current = c_ids;
	in.current_cnt = nc;
	in.mode = tn->sync.mode;
	in.source_ok = sg && sg->email_cnt > 0;
	in.max_removals = tn->sync.max_removals;
	in.max_removal_percent = tn->sync.max_removal_percent;
	in.force_removals = p->opts.force_removals;
	rs_planner_diff(&in, &out);
	for (i = 0; i < out.add_cnt; i++)
		list_add(&pg->adds, out.add_cnt, out.adds[i],
			 email_of(d_ids, d_em, nd, out.adds[i]));
	for (i = 0; i < out.remove_cnt; i++)
		list_add(&pg->removes, out.remove_cnt, out.removes[i],
			 email_of(c_ids, c_em, nc, out.removes[i]));
	for (i = 0; i < out.held_cnt; i++)
		list_add(&pg->held, out.held_cnt, out.held[i],
			 email_of(c_ids, c_em, nc, out.held[i]));
	if (out.guarded) {
		pg->note = "guard";
		rs_log(&lc, LOG_WARNING, PL_FAC,
		       "group %s (%s): %zu removals of %zu members held back "
		       "by the deletion guard (max_removals %d, "
		       "max_removal_percent %d); use --force-removals",
		       pg->group_id, pg->queue, out.held_cnt, nc,
		       tn->sync.max_removals, tn->sync.max_removal_percent);
	} else if (out.removals_skipped) {
		rs_log(&lc, LOG_WARNING, PL_FAC,
		       "group %s (%s): no removals: %s", pg->group_id,
		       pg->queue, pg->note ? pg->note : "source not usable");
	}
	rs_planner_diff_cleanup(&out);
out:
	rs_graph_members_cleanup(&cur);
	rs_free(d_ids);
	rs_free(d_em);
	rs_free(c_ids);
	rs_free(c_em);
}

/* Everything for one tenant; failures end up in t->error. */
static void plan_tenant(rs_planner_t *p, pl_tenant_t *t, rs_http_t *http) {
	const rs_conf_tenant_t *tn = t->tn;
	rs_source_snapshot_t snap;
	rs_source_conf_t sc;
	rs_source_t *src = NULL;
	rs_graph_conf_t gc;
	rs_graph_t *graph = NULL;
	rs_error_t *e;
	rs_log_ctx_t lc = {.tenant = tn->id};
	const char **emails = NULL;
	size_t i, j, ne = 0, cap = 0;
	bool source_ok = false;
	char tp[64];

	rs_source_snapshot_init(&snap);
	t->group_cnt = tn->mapping.count;
	t->groups = rs_calloc(t->group_cnt ? t->group_cnt : 1, sizeof(*t->groups));
	for (i = 0; i < t->group_cnt; i++) {
		t->groups[i].queue = tn->mapping.keys[i];
		t->groups[i].group_id = tn->mapping.values[i];
	}
	/* An auth failure (bad secret ref, unreadable PFX) fails only this
	 * tenant; t->error already names the key. */
	if (tenant_auth(t, p->g) != RS_OK)
		goto out;

	rs_graph_conf_init(&gc);
	gc.tenant = tn->id;
	gc.base_url = tn->graph.base_url;
	gc.http = http;
	gc.auth = t->entra;
	/* Reads are retried harder than the worker's in-place retries: a
	 * read that fails costs the tenant its whole cycle. */
	gc.max_attempts = p->g->planner.max_attempts;
	gc.resolve_mode = p->g->planner.resolve_batch == RS_CONF_RESOLVE_IN
				  ? RS_GRAPH_RESOLVE_IN
				  : RS_GRAPH_RESOLVE_BATCH;
	graph = rs_graph_new(&gc, t->error, sizeof(t->error));
	if (!graph)
		goto out;

	/* Source: only the mapped queues' members are read. */
	if (rs_source_conf_from_tenant(&sc, tn) != RS_OK) {
		rs_snprintf(t->error, sizeof(t->error),
			    "tenant has no talkdesk source configured");
	} else {
		sc.auth = t->td;
		sc.max_attempts = p->g->planner.max_attempts;
		sc.groups = (const char *const *)tn->mapping.keys;
		sc.group_cnt = tn->mapping.count;
		src = rs_source_new(&sc, t->error, sizeof(t->error));
	}
	if (src) {
		traceparent_new(tp, sizeof(tp));
		e = rs_source_read(src, http, tp, &snap);
		if (e) {
			rs_snprintf(t->error, sizeof(t->error),
				    "source read: %s", rs_error_msg(e));
			rs_error_destroy(e);
		} else {
			source_ok = true;
		}
	}
	if (!source_ok)
		rs_log(&lc, LOG_ERR, PL_FAC,
		       "%s: no removals this cycle", t->error);

	/* All e-mails of the tenant in one resolution (sorted, unique). */
	for (i = 0; source_ok && i < snap.group_cnt; i++)
		cap += snap.groups[i].email_cnt;
	emails = rs_calloc(cap ? cap : 1, sizeof(*emails));
	for (i = 0; source_ok && i < snap.group_cnt; i++)
		for (j = 0; j < snap.groups[i].email_cnt; j++)
			emails[ne++] = snap.groups[i].emails[j];
	if (ne > 1)
		qsort(emails, ne, sizeof(*emails), cmp_cstr);
	for (i = j = 0; i < ne; i++)
		if (!j || strcmp(emails[j - 1], emails[i]))
			emails[j++] = emails[i];
	ne = j;
	if (!source_ok)
		goto out;
	if (!cache_covers(t, p->g->planner.cache_ttl_ms, emails, ne)) {
		rs_graph_resolve_t res;
		rs_graph_call_t call;

		rs_graph_resolve_init(&res);
		traceparent_new(tp, sizeof(tp));
		rs_graph_call_init(&call, NULL, tp);
		e = rs_graph_resolve(graph, emails, ne, &call, &res);
		if (e) {
			rs_snprintf(t->error, sizeof(t->error), "resolve: %s",
				    rs_error_msg(e));
			rs_error_destroy(e);
			rs_graph_resolve_cleanup(&res);
			/* Without ids nothing can be planned for this tenant. */
			for (i = 0; i < t->group_cnt; i++) {
				t->groups[i].error = true;
				t->groups[i].note = "resolve_error";
			}
			goto out;
		}
		rs_graph_resolve_cleanup(&t->cache);
		t->cache = res;
		t->cache_at_ms = rs_now_ms();
	}
	for (i = 0; i < ne; i++)
		if (!rs_graph_resolve_find(&t->cache, emails[i]))
			t->unresolved_cnt++;
	t->unresolved = rs_calloc(t->unresolved_cnt ? t->unresolved_cnt : 1,
				  sizeof(*t->unresolved));
	for (i = j = 0; i < ne; i++)
		if (!rs_graph_resolve_find(&t->cache, emails[i]))
			t->unresolved[j++] = rs_strdup(emails[i]);
	if (t->unresolved_cnt)
		rs_log(&lc, LOG_WARNING, PL_FAC,
		       "%zu e-mail(s) not found in Entra (see the report)",
		       t->unresolved_cnt);

	for (i = 0; i < t->group_cnt; i++)
		plan_group(p, t, graph, &snap, source_ok, &t->groups[i]);
out:
	/* No source, no plan: the groups are only reported. */
	for (i = 0; !source_ok && i < t->group_cnt; i++)
		if (!t->groups[i].note)
			t->groups[i].note = "source_error";
	rs_free(emails);
	rs_graph_destroy(graph);
	rs_source_destroy(src);
	rs_source_snapshot_cleanup(&snap);
}

/* Planner thread: tenants are handed out one at a time from a shared
 * index, so a slow or throttled tenant occupies one thread only and the
 * others keep going (tenant isolation, ARCHITECTURE.md guarantee 4). */
static void *worker_main(void *arg) {
	rs_planner_t *p = arg;
	rs_http_conf_t hc;
	rs_http_t *http;
	char err[256];

	rs_http_conf_init(&hc);
	hc.target = "planner";
	hc.ca_file = p->g->http.ca_file;
	hc.user_agent = p->g->http.user_agent;
	if (p->g->http.timeout_ms > 0)
		hc.timeout_ms = p->g->http.timeout_ms;
	if (p->g->http.connect_timeout_ms > 0)
		hc.connect_timeout_ms = p->g->http.connect_timeout_ms;
	if (p->g->http.max_response_bytes > 0)
		hc.max_body = (size_t)p->g->http.max_response_bytes;
	http = rs_http_new(&hc, err, sizeof(err));
	for (;;) {
		pl_tenant_t *t;
		pthread_mutex_lock(&p->lock);
		t = p->next < p->tenant_cnt ? &p->tenants[p->next++] : NULL;
		pthread_mutex_unlock(&p->lock);
		if (!t)
			break;
		/* Without a client this thread still drains its share of
		 * tenants, marking them failed, so the cycle ends. */
		if (!http) {
			rs_snprintf(t->error, sizeof(t->error), "http: %s", err);
			continue;
		}
		plan_tenant(p, t, http);
	}
	rs_http_destroy(http);
	return NULL;
}

/* ------------------------------------------------------------------------
 * Output: jobs, plan report, audit CSV
 * --------------------------------------------------------------------- */

/* One group.members envelope; the encoder computes the deterministic id
 * (tenant|kind|key|generation|change), so re-publishing the same plan in
 * the same cycle is recognisably the same job. */
static rs_err_t publish_group(rs_planner_t *p, pl_tenant_t *t, pl_group_t *pg,
			      char *errstr, size_t errstr_size) {
	rs_envelope_t env;
	rs_queue_header_t hdr;
	char tp[64], *txt = NULL, key[512];
	size_t i, len = 0;
	rs_err_t err;

	rs_envelope_init(&env);
	traceparent_new(tp, sizeof(tp));
	rs_snprintf(key, sizeof(key), "%s/%s", t->tn->id, pg->group_id);
	env.tenant = rs_strdup(t->tn->id);
	env.kind = rs_strdup("group.members");
	env.key = rs_strdup(key);
	env.generation = t->gen;
	env.created = rs_wall_ms();
	env.source = rs_malloc(64);
	rs_snprintf(env.source, 64, "talkdesk:%s",
		    source_names[RS_MIN((size_t)RS_MAX(t->tn->talkdesk.source, 0),
					RS_ARRAY_SIZE(source_names) - 1)]);
	env.planner = rs_strdup(p->planner_id);
	env.trace = rs_strdup(tp);
	env.members.group_id = rs_strdup(pg->group_id);
	env.members.mode = rs_strdup(t->tn->sync.mode == RS_CONF_SYNC_EXACT
					     ? "exact"
					     : "additive");
	err = RS_OK;
	for (i = 0; i < pg->adds.cnt && !err; i++)
		err = rs_envelope_member_add(&env, false, pg->adds.v[i].id,
					     pg->adds.v[i].email);
	for (i = 0; i < pg->removes.cnt && !err; i++)
		err = rs_envelope_member_add(&env, true, pg->removes.v[i].id,
					     pg->removes.v[i].email);
	if (err) {
		rs_snprintf(errstr, errstr_size, "%s: envelope: %s", key,
			    rs_err_str(err));
		goto out;
	}
	err = rs_envelope_encode(&env, &txt, &len, errstr, errstr_size);
	if (err)
		goto out;
	hdr.name = "traceparent";
	hdr.value = tp;
	hdr.size = strlen(tp);
	/* A full local producer queue is backpressure, not failure: serve
	 * delivery reports for a moment and try again, within a bound so a
	 * dead broker still ends the cycle. */
	for (i = 0;; i++) {
		err = rs_queue_produce(p->q, p->g->queue.kafka.topics.jobs_group,
				       key, strlen(key), txt, len, &hdr, 1, NULL);
		if (err != RS_ERR_AGAIN || i >= PL_PRODUCE_RETRIES)
			break;
		(void)rs_queue_flush(p->q, 100);
	}
	if (err)
		rs_snprintf(errstr, errstr_size, "%s: produce: %s", key,
			    rs_err_str(err));
out:
	rs_free(txt);
	rs_envelope_cleanup(&env);
	return err;
}

/* CSV field: quoted when it holds a separator, quote or newline. */
static void csv_field(FILE *fp, const char *s, bool last) {
	if (!s)
		s = "";
	if (strpbrk(s, ",\"\r\n")) {
		fputc('"', fp);
		for (; *s; s++) {
			if (*s == '"')
				fputc('"', fp);
			fputc(*s, fp);
		}
		fputc('"', fp);
	} else {
		fputs(s, fp);
	}
	fputc(last ? '\n' : ',', fp);
}

/* Same row writer for plan.csv (time NULL: no time column, a queue
 * column instead) and the audit CSV (time set, no queue column). */
static void csv_rows(FILE *fp, const char *time, const char *tenant,
		     const pl_group_t *pg, const pl_list_t *l,
		     const char *action, const char *reason) {
	size_t i;
	for (i = 0; i < l->cnt; i++) {
		if (time)
			csv_field(fp, time, false);
		csv_field(fp, tenant, false);
		csv_field(fp, pg->group_id, false);
		if (!time)
			csv_field(fp, pg->queue, false);
		csv_field(fp, l->v[i].id, false);
		csv_field(fp, l->v[i].email, false);
		csv_field(fp, action, false);
		csv_field(fp, reason, true);
	}
}

/* Report and audit directories are created on demand, as a fresh
 * deployment's report_dir usually does not exist yet. */
static rs_err_t mkdir_p(const char *dir, char *errstr, size_t errstr_size) {
	char buf[4096], eb[128];
	size_t i;

	if (!rs_snprintf(buf, sizeof(buf), "%s", dir)) {
		rs_snprintf(errstr, errstr_size, "path too long: %s", dir);
		return RS_ERR_TOO_LARGE;
	}
	for (i = 1; buf[i]; i++) {
		if (buf[i] != '/')
			continue;
		buf[i] = '\0';
		(void)mkdir(buf, 0755);
		buf[i] = '/';
	}
	if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
		rs_snprintf(errstr, errstr_size, "%s: %s", dir,
			    rs_strerror(errno, eb, sizeof(eb)));
		return RS_ERR_IO;
	}
	return RS_OK;
}

static cJSON *members_json(const pl_list_t *l) {
	cJSON *a = cJSON_CreateArray();
	size_t i;
	for (i = 0; i < l->cnt; i++) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "id", l->v[i].id);
		if (l->v[i].email)
			cJSON_AddStringToObject(o, "email", l->v[i].email);
		else
			cJSON_AddNullToObject(o, "email");
		cJSON_AddItemToArray(a, o);
	}
	return a;
}

static rs_err_t write_file(const char *dir, const char *name,
			   const char *text, char *errstr,
			   size_t errstr_size) {
	char path[4096], tmp[4200], eb[128];
	FILE *fp;

	rs_snprintf(path, sizeof(path), "%s/%s", dir, name);
	rs_snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	/* Written aside and renamed: a reader never sees half a plan. */
	fp = fopen(tmp, "w");
	if (!fp || fputs(text, fp) < 0 || fclose(fp) != 0 ||
	    rename(tmp, path) != 0) {
		rs_snprintf(errstr, errstr_size, "%s: %s", path,
			    rs_strerror(errno, eb, sizeof(eb)));
		return RS_ERR_IO;
	}
	return RS_OK;
}

static rs_err_t write_plan(rs_planner_t *p, const rs_planner_summary_t *sum,
			   int64_t started, char *errstr, size_t errstr_size) {
	cJSON *root = cJSON_CreateObject(), *ta, *s;
	char ts[64], *txt, path[4096], tmp[4200], eb[128];
	FILE *fp;
	size_t i, k;
	rs_err_t err;

	err = mkdir_p(p->report_dir, errstr, errstr_size);
	if (err)
		goto out;
	rs_time_fmt(started, ts, sizeof(ts));
	cJSON_AddStringToObject(root, "generated", ts);
	cJSON_AddBoolToObject(root, "dry_run", p->opts.dry_run);
	ta = cJSON_AddArrayToObject(root, "tenants");
	for (i = 0; i < p->tenant_cnt; i++) {
		pl_tenant_t *t = &p->tenants[i];
		cJSON *to = cJSON_CreateObject(), *ga, *ua;
		cJSON_AddItemToArray(ta, to);
		cJSON_AddStringToObject(to, "id", t->tn->id);
		cJSON_AddNumberToObject(to, "generation", (double)t->gen);
		if (t->error[0])
			cJSON_AddStringToObject(to, "error", t->error);
		ua = cJSON_AddArrayToObject(to, "unresolved");
		for (k = 0; k < t->unresolved_cnt; k++)
			cJSON_AddItemToArray(ua,
					     cJSON_CreateString(t->unresolved[k]));
		ga = cJSON_AddArrayToObject(to, "groups");
		for (k = 0; k < t->group_cnt; k++) {
			pl_group_t *pg = &t->groups[k];
			cJSON *go = cJSON_CreateObject();
			cJSON_AddItemToArray(ga, go);
			cJSON_AddStringToObject(go, "queue", pg->queue);
			cJSON_AddStringToObject(go, "group_id", pg->group_id);
			cJSON_AddNumberToObject(go, "desired",
						(double)pg->desired_cnt);
			cJSON_AddNumberToObject(go, "current",
						(double)pg->current_cnt);
			cJSON_AddNumberToObject(go, "unresolved",
						(double)pg->unresolved_cnt);
			if (pg->note)
				cJSON_AddStringToObject(go, "note", pg->note);
			cJSON_AddBoolToObject(go, "error", pg->error);
			cJSON_AddItemToObject(go, "adds", members_json(&pg->adds));
			cJSON_AddItemToObject(go, "removes",
					      members_json(&pg->removes));
			cJSON_AddItemToObject(go, "held_back",
					      members_json(&pg->held));
		}
	}
	s = cJSON_AddObjectToObject(root, "summary");
	cJSON_AddNumberToObject(s, "tenants", (double)sum->tenants);
	cJSON_AddNumberToObject(s, "groups", (double)sum->groups);
	cJSON_AddNumberToObject(s, "jobs", (double)sum->jobs);
	cJSON_AddNumberToObject(s, "adds", (double)sum->adds);
	cJSON_AddNumberToObject(s, "removes", (double)sum->removes);
	cJSON_AddNumberToObject(s, "held_back", (double)sum->held_back);
	cJSON_AddNumberToObject(s, "unresolved", (double)sum->unresolved);
	cJSON_AddNumberToObject(s, "errors", (double)sum->errors);
	txt = cJSON_Print(root);
	err = write_file(p->report_dir, "plan.json", txt, errstr, errstr_size);
	cJSON_free(txt);
	if (err)
		goto out;

	/* Rows straight into the temporary file, renamed like plan.json. */
	rs_snprintf(path, sizeof(path), "%s/plan.csv", p->report_dir);
	rs_snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fp = fopen(tmp, "w");
	if (!fp) {
		rs_snprintf(errstr, errstr_size, "%s: %s", tmp,
			    rs_strerror(errno, eb, sizeof(eb)));
		err = RS_ERR_IO;
		goto out;
	}
	fputs("tenant,group,queue,user_id,email,action,reason\n", fp);
	for (i = 0; i < p->tenant_cnt; i++)
		for (k = 0; k < p->tenants[i].group_cnt; k++) {
			pl_group_t *pg = &p->tenants[i].groups[k];
			const char *id = p->tenants[i].tn->id;
			csv_rows(fp, NULL, id, pg, &pg->adds, "add",
				 "in_source");
			csv_rows(fp, NULL, id, pg, &pg->removes, "remove",
				 "not_in_source");
			csv_rows(fp, NULL, id, pg, &pg->held, "held_back",
				 "deletion_guard");
		}
	if (fclose(fp) != 0 || rename(tmp, path) != 0) {
		rs_snprintf(errstr, errstr_size, "%s: %s", path,
			    rs_strerror(errno, eb, sizeof(eb)));
		err = RS_ERR_IO;
	}
out:
	cJSON_Delete(root);
	return err;
}

/* Append-only: the audit trail of earlier cycles is never rewritten; the
 * header is written only into an empty file so the CSV stays loadable. */
static rs_err_t append_audit(rs_planner_t *p, int64_t started, char *errstr,
			     size_t errstr_size) {
	char path[4096], ts[64], eb[128];
	struct stat st;
	bool fresh;
	FILE *fp;
	size_t i, k;
	rs_err_t err;

	err = mkdir_p(p->audit_dir, errstr, errstr_size);
	if (err)
		return err;
	rs_snprintf(path, sizeof(path), "%s/audit.csv", p->audit_dir);
	fresh = stat(path, &st) != 0 || st.st_size == 0;
	fp = fopen(path, "a");
	if (!fp) {
		rs_snprintf(errstr, errstr_size, "%s: %s", path,
			    rs_strerror(errno, eb, sizeof(eb)));
		return RS_ERR_IO;
	}
	if (fresh)
		fputs("time,tenant,group,user_id,email,action,reason\n", fp);
	rs_time_fmt(started, ts, sizeof(ts));
	for (i = 0; i < p->tenant_cnt; i++)
		for (k = 0; k < p->tenants[i].group_cnt; k++) {
			pl_group_t *pg = &p->tenants[i].groups[k];
			const char *id = p->tenants[i].tn->id;
			csv_rows(fp, ts, id, pg, &pg->adds, "add", "in_source");
			csv_rows(fp, ts, id, pg, &pg->removes, "remove",
				 "not_in_source");
			csv_rows(fp, ts, id, pg, &pg->held, "held_back",
				 "deletion_guard");
		}
	if (fclose(fp) != 0) {
		rs_snprintf(errstr, errstr_size, "%s: %s", path,
			    rs_strerror(errno, eb, sizeof(eb)));
		return RS_ERR_IO;
	}
	return RS_OK;
}

rs_err_t rs_planner_cycle(rs_planner_t *p, rs_planner_summary_t *sum) {
	int64_t t0 = rs_now_ms(), started = rs_wall_ms();
	size_t i, k, nthr;
	pthread_t *thr;
	rs_err_t ret = RS_OK;
	char err[512];

	memset(sum, 0, sizeof(*sum));
	for (i = 0; i < p->tenant_cnt; i++) {
		pl_tenant_t *t = &p->tenants[i];
		tenant_result_cleanup(t);
		/* Wall clock, but never backwards for a tenant: workers drop
		 * older generations, so a clock step must not stall jobs. */
		t->gen = RS_MAX(started, t->last_gen + 1);
		t->last_gen = t->gen;
	}
	p->next = 0;
	nthr = (size_t)RS_MAX(p->g->planner.concurrency, 1);
	nthr = RS_MIN(nthr, RS_MAX(p->tenant_cnt, (size_t)1));
	thr = rs_calloc(nthr, sizeof(*thr));
	for (i = 0; i < nthr; i++)
		if (pthread_create(&thr[i], NULL, worker_main, p) != 0) {
			/* Fewer threads still finish: they share the list. */
			nthr = i;
			break;
		}
	if (nthr == 0)
		worker_main(p);
	for (i = 0; i < nthr; i++)
		pthread_join(thr[i], NULL);
	rs_free(thr);

	/* Publishing happens after all threads joined: one producer, a
	 * deterministic order (tenant, then mapping order) and no contention
	 * between planner threads for the producer queue. */
	atomic_store(&p->delivery_failed, 0);
	sum->tenants = p->tenant_cnt;
	for (i = 0; i < p->tenant_cnt; i++) {
		pl_tenant_t *t = &p->tenants[i];
		if (t->error[0]) {
			sum->errors++;
			ret = ret ? ret : RS_ERR_IO;
			rs_log(&(rs_log_ctx_t){.tenant = t->tn->id}, LOG_ERR,
			       PL_FAC, "tenant failed: %s", t->error);
		}
		sum->unresolved += t->unresolved_cnt;
		for (k = 0; k < t->group_cnt; k++) {
			pl_group_t *pg = &t->groups[k];
			sum->groups++;
			sum->adds += pg->adds.cnt;
			sum->removes += pg->removes.cnt;
			sum->held_back += pg->held.cnt;
			if (!pg->adds.cnt && !pg->removes.cnt)
				continue;
			sum->jobs++;
			if (p->opts.dry_run)
				continue;
			if (publish_group(p, t, pg, err, sizeof(err)) != RS_OK) {
				rs_log(NULL, LOG_ERR, PL_FAC, "%s", err);
				sum->errors++;
				ret = ret ? ret : RS_ERR_IO;
			}
		}
	}
	/* Success means delivered, not queued locally: a job lost in the
	 * producer would be a silent gap until the next cycle. */
	if (p->q && sum->jobs) {
		rs_err_t fe = rs_queue_flush(p->q, PL_FLUSH_MS);
		if (fe != RS_OK || atomic_load(&p->delivery_failed) > 0) {
			rs_log(NULL, LOG_ERR, PL_FAC,
			       "flush: %s, %llu job(s) not delivered",
			       rs_err_str(fe),
			       (unsigned long long)atomic_load(
				       &p->delivery_failed));
			sum->errors++;
			ret = ret ? ret : (fe ? fe : RS_ERR_IO);
		}
	}
	if (p->opts.dry_run) {
		if (write_plan(p, sum, started, err, sizeof(err)) != RS_OK) {
			rs_log(NULL, LOG_ERR, PL_FAC, "report: %s", err);
			sum->errors++;
			ret = ret ? ret : RS_ERR_IO;
		}
	} else if (append_audit(p, started, err, sizeof(err)) != RS_OK) {
		rs_log(NULL, LOG_ERR, PL_FAC, "audit: %s", err);
		sum->errors++;
		ret = ret ? ret : RS_ERR_IO;
	}
	sum->seconds = (double)(rs_now_ms() - t0) / 1000.0;
	return ret;
}

void rs_planner_summary_print(const rs_planner_summary_t *sum, FILE *fp) {
	fprintf(fp,
		"tenants=%zu groups=%zu jobs=%zu adds=%zu removes=%zu "
		"held_back=%zu unresolved=%zu errors=%zu seconds=%.3f\n",
		sum->tenants, sum->groups, sum->jobs, sum->adds, sum->removes,
		sum->held_back, sum->unresolved, sum->errors, sum->seconds);
	fflush(fp);
}
