/*
 * rs_source.c - the generic half of the source connectors: back-end
 * table, conf copy, snapshot building and lookup.
 *
 * Back-ends only talk to their API and call rs_source_snapshot_add /
 * rs_source_group_add_email; normalisation (lower-case, dedupe, sort) and
 * the bounds live here once, so every source hands the planner the same
 * shape whatever the API looked like.
 */
#include "rs/rs_base.h"

#include "rs/rs_conf.h"
#include "rs/rs_source.h"
#include "rs_source_int.h"

#include <ctype.h>
#include <strings.h>

/* One line per back-end (docs/internals/connectors.md). */
static const rs_source_backend_t *const backends[] = {
	&rs_source_talkdesk,
};

void rs_source_conf_init(rs_source_conf_t *conf) {
	memset(conf, 0, sizeof(*conf));
	conf->backend = "talkdesk";
	conf->mode = RS_SOURCE_TD_QUEUES;
	conf->active_only = true;
	conf->max_groups = RS_SOURCE_DEFAULT_MAX_GROUPS;
	conf->max_members = RS_SOURCE_DEFAULT_MAX_MEMBERS;
	conf->max_users = RS_SOURCE_DEFAULT_MAX_USERS;
	conf->max_pages = RS_SOURCE_DEFAULT_MAX_PAGES;
	conf->max_attempts = RS_SOURCE_DEFAULT_MAX_ATTEMPTS;
	conf->max_wait_ms = RS_SOURCE_DEFAULT_MAX_WAIT_MS;
	conf->retry_base_ms = 200;
	conf->retry_max_ms = 5000;
}

/* The tenant's strings are borrowed, not copied: rs_source_new() copies
 * what it keeps, and the config outlives the call. */
rs_err_t rs_source_conf_from_tenant(rs_source_conf_t *conf,
				    const struct rs_conf_tenant_s *tn) {
	rs_source_conf_init(conf);
	if (!tn->talkdesk.configured)
		return RS_ERR_CONFIG;
	conf->backend = "talkdesk";
	conf->tenant = tn->id;
	conf->base_url = tn->talkdesk.base_url;
	conf->mode = tn->talkdesk.source;
	return RS_OK;
}

/*
 * Everything is validated here rather than at the first read, so that a
 * wrong back-end name or URL in a tenant file fails at startup with the
 * tenant named, not hours later inside a planner cycle.
 */
rs_source_t *rs_source_new(const rs_source_conf_t *conf, char *errstr,
			   size_t errstr_size) {
	const rs_source_backend_t *be = NULL;
	rs_source_t *src;
	size_t i, len;

	for (i = 0; i < RS_ARRAY_SIZE(backends); i++)
		if (conf->backend && !strcmp(conf->backend, backends[i]->name))
			be = backends[i];
	if (!be) {
		rs_snprintf(errstr, errstr_size, "unknown source back-end \"%s\"",
			    conf->backend ? conf->backend : "");
		return NULL;
	}
	if (!conf->auth) {
		rs_snprintf(errstr, errstr_size,
			    "source %s needs a token provider", be->name);
		return NULL;
	}
	if (!conf->base_url || (strncmp(conf->base_url, "https://", 8) &&
				strncmp(conf->base_url, "http://", 7))) {
		rs_snprintf(errstr, errstr_size,
			    "source %s: base URL must be http(s)://...: \"%s\"",
			    be->name, conf->base_url ? conf->base_url : "");
		return NULL;
	}
	if (be->check && be->check(conf, errstr, errstr_size) != RS_OK)
		return NULL;

	src = rs_calloc(1, sizeof(*src));
	src->be = be;
	src->tenant = rs_strdup(conf->tenant ? conf->tenant : "");
	src->base_url = rs_strdup(conf->base_url);
	len = strlen(src->base_url);
	while (len > 0 && src->base_url[len - 1] == '/')
		src->base_url[--len] = '\0';
	src->auth = conf->auth;
	src->mode = conf->mode;
	if (conf->groups && conf->group_cnt) {
		src->groups = rs_calloc(conf->group_cnt, sizeof(char *));
		for (i = 0; i < conf->group_cnt; i++)
			src->groups[i] = rs_strdup(conf->groups[i]);
		src->group_cnt = conf->group_cnt;
	}
	src->active_only = conf->active_only;
	src->guardian_filter = rs_strdup(conf->guardian_filter
						 ? conf->guardian_filter
						 : RS_SOURCE_DEFAULT_GUARDIAN_FILTER);
	src->page_size = conf->page_size;
	src->max_groups = conf->max_groups ? conf->max_groups
					   : RS_SOURCE_DEFAULT_MAX_GROUPS;
	src->max_members = conf->max_members ? conf->max_members
					     : RS_SOURCE_DEFAULT_MAX_MEMBERS;
	src->max_users =
		conf->max_users ? conf->max_users : RS_SOURCE_DEFAULT_MAX_USERS;
	src->max_pages =
		conf->max_pages ? conf->max_pages : RS_SOURCE_DEFAULT_MAX_PAGES;
	src->max_attempts = conf->max_attempts > 0
				    ? conf->max_attempts
				    : RS_SOURCE_DEFAULT_MAX_ATTEMPTS;
	src->max_wait_ms = conf->max_wait_ms >= 0 ? conf->max_wait_ms : 0;
	src->retry_base_ms =
		conf->retry_base_ms > 0 ? conf->retry_base_ms : 200;
	src->retry_max_ms = conf->retry_max_ms > 0 ? conf->retry_max_ms : 5000;
	src->wall_ms = conf->wall_ms;
	src->clock_opaque = conf->clock_opaque;
	return src;
}

void rs_source_destroy(rs_source_t *src) {
	size_t i;

	if (!src)
		return;
	for (i = 0; i < src->group_cnt; i++)
		rs_free(src->groups[i]);
	rs_free(src->groups);
	rs_free(src->tenant);
	rs_free(src->base_url);
	rs_free(src->guardian_filter);
	rs_free(src);
}

const char *rs_source_name(const rs_source_t *src) {
	return src->be->mode_name(src->mode);
}

rs_error_t *rs_source_read(rs_source_t *src, rs_http_t *http,
			   const char *traceparent,
			   rs_source_snapshot_t *snap) {
	rs_error_t *error;

	rs_source_snapshot_cleanup(snap);
	snap->tenant = rs_strdup(src->tenant);
	snap->source = src->be->mode_name(src->mode);
	snap->taken_wall_ms =
		src->wall_ms ? src->wall_ms(src->clock_opaque) : rs_wall_ms();
	error = src->be->read(src, http, traceparent, snap);
	if (error) {
		/* Never hand out half a snapshot: a planner diffing a
		 * partial list would remove everyone missing from it. */
		rs_source_stats_t stats = snap->stats;
		rs_source_snapshot_cleanup(snap);
		snap->stats = stats;
		return error;
	}
	rs_source_snapshot_finish(snap);
	return NULL;
}

/* Names compare without case: mapping keys are typed by people, Talkdesk
 * queue names are lower-case by rule (sources.md 1.7). */
bool rs_source_wants(const rs_source_t *src, const char *name) {
	size_t i;

	if (!src->group_cnt)
		return true;
	for (i = 0; i < src->group_cnt; i++)
		if (name && !strcasecmp(src->groups[i], name))
			return true;
	return false;
}

/* ---------------------------------------------------------------------
 * Snapshot
 * ------------------------------------------------------------------- */

void rs_source_snapshot_init(rs_source_snapshot_t *snap) {
	memset(snap, 0, sizeof(*snap));
}

void rs_source_snapshot_cleanup(rs_source_snapshot_t *snap) {
	size_t i, j;

	for (i = 0; i < snap->group_cnt; i++) {
		rs_source_group_t *grp = &snap->groups[i];
		for (j = 0; j < grp->email_cnt; j++)
			rs_free(grp->emails[j]);
		rs_free(grp->emails);
		rs_free(grp->id);
		rs_free(grp->name);
	}
	rs_free(snap->groups);
	rs_free(snap->tenant);
	memset(snap, 0, sizeof(*snap));
}

rs_source_group_t *rs_source_snapshot_add(rs_source_snapshot_t *snap,
					  const char *id, const char *name,
					  size_t max_groups) {
	rs_source_group_t *grp;

	if (snap->group_cnt >= max_groups)
		return NULL;
	snap->groups = rs_realloc(snap->groups, (snap->group_cnt + 1) *
							sizeof(*snap->groups));
	grp = &snap->groups[snap->group_cnt++];
	memset(grp, 0, sizeof(*grp));
	grp->id = rs_strdup(id ? id : name);
	grp->name = rs_strdup(name ? name : id);
	return grp;
}

rs_source_group_t *rs_source_snapshot_by_id(rs_source_snapshot_t *snap,
					    const char *id) {
	size_t i;

	for (i = 0; i < snap->group_cnt; i++)
		if (!strcmp(snap->groups[i].id, id))
			return &snap->groups[i];
	return NULL;
}

/*
 * E-mails are lower-cased here once: Entra compares case-insensitively, the
 * simulator (like real tenants) has 72 % case differences between the two
 * systems, and a case-sensitive diff would remove and re-add those people
 * every cycle.  Unusable addresses are counted, never silently dropped.
 */
rs_err_t rs_source_group_add_email(rs_source_group_t *grp, const char *email,
				   size_t max_members) {
	size_t i, len;
	char *e;

	len = email ? strlen(email) : 0;
	if (len == 0 || len > 254 || !strchr(email, '@')) {
		grp->unknown_cnt++;
		return RS_ERR_INVALID_ARG;
	}
	for (i = 0; i < len; i++)
		if ((unsigned char)email[i] < 0x20 ||
		    (unsigned char)email[i] == 0x7f) {
			grp->unknown_cnt++;
			return RS_ERR_INVALID_ARG;
		}
	if (grp->email_cnt >= max_members)
		return RS_ERR_TOO_LARGE;
	e = rs_strdup(email);
	for (i = 0; i < len; i++)
		e[i] = (char)tolower((unsigned char)e[i]);
	/* Grow geometrically: groups of thousands are read page by page. */
	if ((grp->email_cnt & (grp->email_cnt - 1)) == 0)
		grp->emails = rs_realloc(grp->emails,
					 (grp->email_cnt ? grp->email_cnt * 2
							 : 1) *
						 sizeof(*grp->emails));
	grp->emails[grp->email_cnt++] = e;
	return RS_OK;
}

static int cmp_str(const void *a, const void *b) {
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_group(const void *a, const void *b) {
	const rs_source_group_t *x = a, *y = b;
	int c = strcasecmp(x->name, y->name);
	return c ? c : strcmp(x->id, y->id);
}

/* Sorted and unique, so the planner's diff is a linear merge and two
 * snapshots of the same data compare equal. */
void rs_source_snapshot_finish(rs_source_snapshot_t *snap) {
	size_t i, j, k;

	for (i = 0; i < snap->group_cnt; i++) {
		rs_source_group_t *grp = &snap->groups[i];
		if (grp->email_cnt < 2)
			continue; /* also: qsort must not see a NULL array */
		qsort(grp->emails, grp->email_cnt, sizeof(char *), cmp_str);
		for (j = 0, k = 0; j < grp->email_cnt; j++) {
			if (k > 0 && !strcmp(grp->emails[k - 1], grp->emails[j]))
				rs_free(grp->emails[j]);
			else
				grp->emails[k++] = grp->emails[j];
		}
		grp->email_cnt = k;
	}
	if (snap->group_cnt > 1)
		qsort(snap->groups, snap->group_cnt, sizeof(*snap->groups),
		      cmp_group);
}

const rs_source_group_t *
rs_source_snapshot_find(const rs_source_snapshot_t *snap, const char *name) {
	size_t i;

	for (i = 0; name && i < snap->group_cnt; i++)
		if (!strcasecmp(snap->groups[i].name, name))
			return &snap->groups[i];
	return NULL;
}
