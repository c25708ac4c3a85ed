/*
 * rs_conf.c - loading, validation and overrides of the configuration
 * (rs_conf.h), driven by the tables in rs_conf_table.c.
 *
 * One setter, rs_conf_set_str() (rs_conf_value.c), turns text into a
 * struct member for every type: the libconfig walk calls it for scalar
 * settings (after a strict type check), the -X overrides call it directly,
 * and the defaults go through it too, so the three can never disagree.  Errors are collected in a bounded
 * list rather than returned on the first one: an operator fixing a tenant
 * file wants to see every mistake in one run.
 */
#include "rs/rs_base.h"
#include "rs/rs_conf.h"
#include "rs/rs_log.h"
#include "rs/rs_secret.h"
#include "rs_conf_int.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <libconfig.h>
#include <limits.h>
#include <stddef.h>
#include <unistd.h>

#include <cjson/cJSON.h>

struct rs_conf_s {
	rs_conf_global_t g;
	rs_conf_tenant_t **tenants; /* sorted by id */
	size_t n_tenants;
};

static void tenant_free(rs_conf_tenant_t *tn) {
	if (!tn)
		return;
	rs_conf_obj_free(RS_CONF_SCOPE_TENANT, tn);
	rs_free(tn->source_file);
	rs_free(tn->base_dir);
	rs_free(tn);
}

/* -------------------------------------------------------------------------
 * libconfig walk
 * ---------------------------------------------------------------------- */
/* Edit distance for "did you mean": keys are short (< 128), so one row of
 * the classic table on the stack is enough; longer names are never close
 * to a real key anyway. */
static size_t levenshtein(const char *a, const char *b) {
	size_t la = strlen(a), lb = strlen(b), i, j;
	size_t row[128];

	if (la >= RS_ARRAY_SIZE(row) || lb >= RS_ARRAY_SIZE(row))
		return SIZE_MAX;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		size_t prev = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			size_t cur = row[j];
			size_t sub = prev + (a[i - 1] != b[j - 1]);
			row[j] = RS_MIN(RS_MIN(row[j] + 1, row[j - 1] + 1), sub);
			prev = cur;
		}
	}
	return row[lb];
}

/* An unknown key is an error, never ignored: a typo in a deletion guard
 * (max_removal instead of max_removals) would otherwise silently run with
 * the default.  The hint is the nearest key of the same scope, or a note
 * that the key belongs in the other scope. */
static void unknown_key(inst_t *in, errs_t *e, const char *file, int line,
			const char *name) {
	size_t i, best = SIZE_MAX, bi = 0;
	const char *hint = "";

	for (i = 0; i < in->n_props; i++) {
		size_t d = levenshtein(name, in->props[i].name);
		if (d < best) {
			best = d;
			bi = i;
		}
	}
	if (in->scope == RS_CONF_SCOPE_GLOBAL && !strncmp(name, "tenant", 6))
		hint = " (tenant keys go in a file in tenants_dir)";
	else if (in->scope == RS_CONF_SCOPE_TENANT &&
		 rs_conf_prop_find(RS_CONF_SCOPE_GLOBAL, name))
		hint = " (a global key: set it in the main file)";
	if (best <= RS_MAX((size_t)2, strlen(name) / 4) && !*hint)
		rs_conf_errf(e, file, line, name, "unknown key (did you mean %s?)",
		     in->props[bi].name);
	else
		rs_conf_errf(e, file, line, name, "unknown key%s", hint);
}

/* True when path names a group on the way to a key ("queue.kafka"). */
static bool is_prefix_of_key(inst_t *in, const char *path) {
	size_t i, len = strlen(path);

	for (i = 0; i < in->n_props; i++)
		if (!strncmp(in->props[i].name, path, len) &&
		    in->props[i].name[len] == '.')
			return true;
	return false;
}

static const char *cfg_type_name(int type) {
	switch (type) {
	case CONFIG_TYPE_GROUP:
		return "a group";
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		return "an integer";
	case CONFIG_TYPE_FLOAT:
		return "a float";
	case CONFIG_TYPE_STRING:
		return "a string";
	case CONFIG_TYPE_BOOL:
		return "a bool";
	case CONFIG_TYPE_ARRAY:
		return "an array";
	case CONFIG_TYPE_LIST:
		return "a list";
	}
	return "something else";
}

/* Sets one table key from a libconfig setting.  Types are strict on
 * purpose ("8" is not an integer, "yes" is not a bool): libconfig already
 * distinguishes them, and a quoted number is more often a mistake (a
 * template substitution gone wrong) than an intent.  Scalars are turned
 * into text and go through the one setter; lists and maps are built here
 * element by element so each element's line can be named. */
static void set_setting(inst_t *in, const rs_conf_prop_t *p,
			config_setting_t *s, errs_t *e) {
	int type = config_setting_type(s);
	int line = (int)config_setting_source_line(s);
	const char *file = in->file;
	const char *want = NULL;
	char num[64];
	bool ok = false;
	unsigned int i, n;

	switch (p->type) {
	case RS_CONF_T_STR:
	case RS_CONF_T_SECRET:
	case RS_CONF_T_URL:
	case RS_CONF_T_PATH:
	case RS_CONF_T_ENUM:
	case RS_CONF_T_FLAGS:
		if (type == CONFIG_TYPE_STRING)
			ok = rs_conf_set_str(in, p, config_setting_get_string(s),
				     in->base_dir, e, file, line);
		else
			want = "a string";
		break;
	case RS_CONF_T_INT:
	case RS_CONF_T_INT64:
		if (type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64) {
			rs_snprintf(num, sizeof(num), "%lld",
				    config_setting_get_int64(s));
			ok = rs_conf_set_str(in, p, num, NULL, e, file, line);
		} else {
			want = "an integer";
		}
		break;
	case RS_CONF_T_DURATION:
		if (type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64) {
			rs_snprintf(num, sizeof(num), "%lld",
				    config_setting_get_int64(s));
			ok = rs_conf_set_str(in, p, num, NULL, e, file, line);
		} else if (type == CONFIG_TYPE_STRING) {
			ok = rs_conf_set_str(in, p, config_setting_get_string(s), NULL,
				     e, file, line);
		} else {
			want = "a duration (integer ms or a string such as "
			       "\"30s\")";
		}
		break;
	case RS_CONF_T_BOOL:
		if (type == CONFIG_TYPE_BOOL)
			ok = rs_conf_set_str(in, p,
				     config_setting_get_bool(s) ? "true"
								: "false",
				     NULL, e, file, line);
		else
			want = "a bool (true or false)";
		break;
	case RS_CONF_T_DOUBLE:
		if (config_setting_is_number(s)) {
			rs_snprintf(num, sizeof(num), "%.17g",
				    config_setting_get_float(s) +
					    (double)(type != CONFIG_TYPE_FLOAT
							     ? config_setting_get_int64(s)
							     : 0));
			ok = rs_conf_set_str(in, p, num, NULL, e, file, line);
		} else {
			want = "a number";
		}
		break;
	case RS_CONF_T_STRLIST:
		if (type == CONFIG_TYPE_STRING) {
			ok = rs_conf_set_str(in, p, config_setting_get_string(s), NULL,
				     e, file, line);
		} else if (type == CONFIG_TYPE_ARRAY ||
			   type == CONFIG_TYPE_LIST) {
			rs_conf_strlist_t nl = {0, NULL};
			n = (unsigned int)config_setting_length(s);
			ok = true;
			for (i = 0; i < n && ok; i++) {
				config_setting_t *el = config_setting_get_elem(s, i);
				const char *str = config_setting_get_string(el);
				if (!str || rs_conf_has_ctl(str)) {
					rs_conf_errf(e, file, line, p->name,
					     "items must be strings");
					ok = false;
				} else {
					ok = rs_conf_strlist_add(&nl, str, strlen(str),
							 p->max, e, file, line,
							 p->name);
				}
			}
			if (ok) {
				rs_conf_strlist_clear(MEMBER(in->obj, p,
						     rs_conf_strlist_t));
				*MEMBER(in->obj, p, rs_conf_strlist_t) = nl;
			} else {
				rs_conf_strlist_clear(&nl);
			}
		} else {
			want = "a list of strings";
		}
		break;
	case RS_CONF_T_MAP:
		if (type == CONFIG_TYPE_GROUP || type == CONFIG_TYPE_ARRAY ||
		    type == CONFIG_TYPE_LIST) {
			rs_conf_map_t nm = {0, NULL, NULL};
			n = (unsigned int)config_setting_length(s);
			ok = true;
			for (i = 0; i < n && ok; i++) {
				config_setting_t *el = config_setting_get_elem(s, i);
				const char *str = config_setting_get_string(el);
				int el_line = (int)config_setting_source_line(el);
				const char *eq;
				if (!str || rs_conf_has_ctl(str)) {
					rs_conf_errf(e, file, el_line, p->name,
					     "entries must be strings");
					ok = false;
				} else if (type == CONFIG_TYPE_GROUP) {
					const char *k = config_setting_name(el);
					ok = rs_conf_map_add(&nm, k, strlen(k), str,
						     strlen(str), p->max, e,
						     file, el_line, p->name);
				} else if (!(eq = strchr(str, '='))) {
					rs_conf_errf(e, file, el_line, p->name,
					     "list entries must be "
					     "\"key=value\"");
					ok = false;
				} else {
					ok = rs_conf_map_add(&nm, str,
						     (size_t)(eq - str), eq + 1,
						     strlen(eq + 1), p->max, e,
						     file, el_line, p->name);
				}
			}
			if (ok)
				ok = rs_conf_map_check_dups(&nm, e, file, line,
							    p->name);
			if (ok) {
				rs_conf_map_clear(MEMBER(in->obj, p, rs_conf_map_t));
				*MEMBER(in->obj, p, rs_conf_map_t) = nm;
			} else {
				rs_conf_map_clear(&nm);
			}
		} else {
			want = "a group or a list of \"key=value\" strings";
		}
		break;
	}
	if (want)
		rs_conf_errf(e, file, line, p->name, "wrong type: expected %s, got %s",
		     want, cfg_type_name(type));
	else if (ok)
		rs_conf_mark_set(in, p, file, line);
}

/* Walks a libconfig group, building dotted names; depth is bounded so a
 * deeply nested fuzzed file cannot exhaust the stack. */
static void walk(inst_t *in, config_setting_t *grp, const char *prefix,
		 errs_t *e, int depth) {
	unsigned int i, n = (unsigned int)config_setting_length(grp);

	for (i = 0; i < n; i++) {
		config_setting_t *s = config_setting_get_elem(grp, i);
		const char *name = config_setting_name(s);
		int line = (int)config_setting_source_line(s);
		char path[512];
		const rs_conf_prop_t *p;

		if (!name)
			continue;
		if (!rs_snprintf(path, sizeof(path), "%s%s%s", prefix,
				 *prefix ? "." : "", name)) {
			rs_conf_errf(e, in->file, line, NULL, "key name too long");
			continue;
		}
		p = rs_conf_prop_find(in->scope, path);
		if (p) {
			set_setting(in, p, s, e);
		} else if (is_prefix_of_key(in, path)) {
			if (config_setting_type(s) != CONFIG_TYPE_GROUP)
				rs_conf_errf(e, in->file, line, path,
				     "wrong type: expected a group, got %s",
				     cfg_type_name(config_setting_type(s)));
			else if (depth < 8)
				walk(in, s, path, e, depth + 1);
		} else {
			unknown_key(in, e, in->file, line, path);
		}
	}
}

/* Reads a file whole (bounded), so the same parser serves files and texts
 * and @include can be refused before libconfig follows it. */
static char *read_file(const char *path, size_t max, size_t *lenp,
		       char *why, size_t why_size) {
	/* O_NONBLOCK: a FIFO named by mistake must not hang the load; only
	 * regular files are read. */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	FILE *fp;
	struct stat st;
	char *buf = NULL;
	size_t len = 0, n;
	char eb[128];

	if (fd < 0) {
		rs_snprintf(why, why_size, "%s",
			    rs_strerror(errno, eb, sizeof(eb)));
		return NULL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		rs_snprintf(why, why_size, "not a regular file");
		close(fd);
		return NULL;
	}
	fp = fdopen(fd, "rb");
	if (!fp) {
		rs_snprintf(why, why_size, "%s",
			    rs_strerror(errno, eb, sizeof(eb)));
		close(fd);
		return NULL;
	}
	buf = rs_malloc(max + 2);
	n = fread(buf, 1, max + 1, fp);
	if (ferror(fp)) {
		rs_snprintf(why, why_size, "read error");
		rs_free(buf);
		buf = NULL;
	} else if (n > max) {
		rs_snprintf(why, why_size, "larger than %zu bytes", max);
		rs_free(buf);
		buf = NULL;
	} else {
		len = n;
		buf[len] = '\0';
	}
	fclose(fp);
	if (lenp)
		*lenp = len;
	return buf;
}

/* libconfig follows "@include" at the start of a line to any path; a
 * tenant file (and a fuzzer) must not be able to read /dev/zero that way. */
static int find_include(const char *text) {
	const char *p = text;
	int line = 1;

	while (*p) {
		const char *q = p;
		while (*q == ' ' || *q == '\t')
			q++;
		if (!strncmp(q, "@include", 8))
			return line;
		p = strchr(p, '\n');
		if (!p)
			break;
		p++;
		line++;
	}
	return 0;
}

/* Parses text into cfg; false (with an error) on syntax errors. */
static bool parse_text(config_t *cfg, const char *text, const char *file,
		       errs_t *e) {
	int line = find_include(text);

	if (line) {
		rs_conf_errf(e, file, line, NULL, "@include is not supported");
		return false;
	}
	config_init(cfg);
	if (config_read_string(cfg, text) != CONFIG_TRUE) {
		rs_conf_errf(e, file, config_error_line(cfg), NULL, "syntax error: %s",
		     config_error_text(cfg) ? config_error_text(cfg) : "?");
		config_destroy(cfg);
		return false;
	}
	return true;
}

/* -------------------------------------------------------------------------
 * Cross-key checks and derived values
 * ---------------------------------------------------------------------- */

/* Where a key was set, for messages about it ("file:line: key: ..."). */
static int key_line(inst_t *in, const char *name, const char **file) {
	size_t i = rs_conf_prop_idx(in, name);

	*file = in->set_file[i] ? in->set_file[i] : in->file;
	return in->set[i] ? in->set_line[i] : 0;
}

#define KEYERR(in, e, name, ...)                                              \
	do {                                                                   \
		const char *kf_;                                               \
		int kl_ = key_line(in, name, &kf_);                            \
		rs_conf_errf(e, kf_, kl_, name, __VA_ARGS__);                          \
	} while (0)

static bool is_set(inst_t *in, const char *name) {
	return in->set[rs_conf_prop_idx(in, name)];
}

static char *derive(const char *a, const char *b) {
	size_t la = strlen(a), lb = strlen(b);
	char *s = rs_malloc(la + lb + 1);

	memcpy(s, a, la);
	memcpy(s + la, b, lb + 1);
	return s;
}

static void check_topic(inst_t *in, errs_t *e, const char *key, char **topic,
			const char *prefix, const char *suffix) {
	if (!*topic)
		*topic = derive(prefix ? prefix : "", suffix);
	if (!**topic || strlen(*topic) > 249 ||
	    !rs_conf_charset_ok(*topic, "._-", false))
		KEYERR(in, e, key,
		       "topic name \"%.64s\" must be 1-249 characters of "
		       "[A-Za-z0-9._-]",
		       *topic);
}

/* Checks that involve more than one key, or a format the table cannot
 * express, run after all files and overrides so they see final values. */
static void check_global(inst_t *in, errs_t *e) {
	rs_conf_global_t *g = in->obj;
	size_t i;

	if (g->queue.backend == RS_CONF_QUEUE_KAFKA && !g->queue.kafka.brokers)
		KEYERR(in, e, "queue.kafka.brokers",
		       "required when queue.backend is kafka");
	if (g->queue.kafka.brokers && !rs_conf_charset_ok(g->queue.kafka.brokers,
						  ".-_:,[]", false))
		KEYERR(in, e, "queue.kafka.brokers",
		       "must be \"host:port,host:port\"");
	check_topic(in, e, "queue.kafka.topics.jobs_group",
		    &g->queue.kafka.topics.jobs_group,
		    g->queue.kafka.topic_prefix, "jobs.group");
	check_topic(in, e, "queue.kafka.topics.jobs_user",
		    &g->queue.kafka.topics.jobs_user,
		    g->queue.kafka.topic_prefix, "jobs.user");
	check_topic(in, e, "queue.kafka.topics.retry",
		    &g->queue.kafka.topics.retry, g->queue.kafka.topic_prefix,
		    "jobs.retry");
	check_topic(in, e, "queue.kafka.topics.dlq", &g->queue.kafka.topics.dlq,
		    g->queue.kafka.topic_prefix, "jobs.dlq");
	check_topic(in, e, "queue.kafka.topics.applied",
		    &g->queue.kafka.topics.applied,
		    g->queue.kafka.topic_prefix, "applied");
	for (i = 0; i < g->queue.kafka.properties.count; i++)
		if (!rs_conf_charset_ok(g->queue.kafka.properties.keys[i], "._-",
				true))
			KEYERR(in, e, "queue.kafka.properties",
			       "\"%.64s\" is not a librdkafka property name",
			       g->queue.kafka.properties.keys[i]);
	if (g->planner.metrics_listen && !rs_conf_is_listen(g->planner.metrics_listen))
		KEYERR(in, e, "planner.metrics_listen",
		       "must be \"host:port\" (port 0-65535)");
	if (g->worker.metrics_listen && !rs_conf_is_listen(g->worker.metrics_listen))
		KEYERR(in, e, "worker.metrics_listen",
		       "must be \"host:port\" (port 0-65535)");
	if (g->worker.retry_base_ms > g->worker.retry_max_ms)
		KEYERR(in, e, "worker.retry_base_ms",
		       "must not exceed worker.retry_max_ms");
	if (g->http.connect_timeout_ms > g->http.timeout_ms)
		KEYERR(in, e, "http.connect_timeout",
		       "must not exceed http.timeout");
	if (g->worker.tenant_concurrency_initial >
	    g->worker.tenant_concurrency_max)
		KEYERR(in, e, "worker.tenant_concurrency_initial",
		       "must not exceed worker.tenant_concurrency_max");
}

/* Loads the JSON mapping file {"Sales": "<guid>"} into tn->mapping. */
static void load_mapping_file(inst_t *in, rs_conf_tenant_t *tn, errs_t *e) {
	const char *key = "tenant.mapping_file";
	char why[128];
	size_t len = 0;
	char *text = read_file(tn->mapping_file, RS_CONF_MAX_FILE, &len, why,
			       sizeof(why));
	cJSON *root = NULL, *it;
	const char *kf;
	int kl = key_line(in, key, &kf);

	if (!text) {
		KEYERR(in, e, key, "cannot read %s: %s", tn->mapping_file, why);
		return;
	}
	root = cJSON_ParseWithLength(text, len);
	if (!root || !cJSON_IsObject(root)) {
		KEYERR(in, e, key,
		       "%s: must be a JSON object {\"group name\": \"<group "
		       "id>\"}",
		       tn->mapping_file);
		goto out;
	}
	cJSON_ArrayForEach(it, root) {
		if (!cJSON_IsString(it) || !it->string) {
			KEYERR(in, e, key, "%s: \"%.64s\": value must be a string",
			       tn->mapping_file, it->string ? it->string : "");
			continue;
		}
		if (!rs_conf_map_add(&tn->mapping, it->string, strlen(it->string),
			     it->valuestring, strlen(it->valuestring),
			     RS_CONF_MAX_MAP, e, kf, kl, key) &&
		    tn->mapping.count >= RS_CONF_MAX_MAP)
			break; /* full: one error is enough */
	}
	rs_conf_map_check_dups(&tn->mapping, e, kf, kl, key);
out:
	cJSON_Delete(root);
	rs_free(text);
}

static const char *td_api_host[] = {"https://api.talkdeskapp.com",
				    "https://api.talkdeskapp.eu",
				    "https://api.talkdeskappca.com",
				    "https://api.mytalkdesk.au"};
static const char *td_id_host[] = {"talkdeskid.com", "talkdeskid.eu",
				   "talkdeskidca.com", "talkdeskid.au"};
static const char *td_scopes[] = {
	"users:read,queues:read,queues-users:read",
	"users:read,ring-groups:read,user-ring-groups:read",
	"guardian-users:read"};

/* qsort_r comparator over indices into a string array, case-insensitive. */
static int cmp_idx_ci(const void *a, const void *b, void *arg) {
	char **strs = arg;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	int c = strcasecmp(strs[x], strs[y]);

	return c ? c : (x > y) - (x < y);
}

/* Mapping checks.  Sorting indices keeps a 10,000-entry mapping at
 * n log n instead of comparing every pair. */
static void check_mapping(inst_t *in, rs_conf_tenant_t *tn, errs_t *e) {
	const char *mk = tn->mapping_file ? "tenant.mapping_file"
					  : "tenant.mapping";
	size_t n = tn->mapping.count, i;
	size_t *idx;

	for (i = 0; i < n; i++)
		if (!rs_conf_is_guid(tn->mapping.values[i]))
			KEYERR(in, e, mk, "\"%.64s\": group id must be a GUID",
			       tn->mapping.keys[i]);
	if (n < 2)
		return;
	idx = rs_calloc(n, sizeof(*idx));
	/* Two sources feeding one group would undo each other's removals
	 * in exact mode. */
	for (i = 0; i < n; i++)
		idx[i] = i;
	qsort_r(idx, n, sizeof(*idx), cmp_idx_ci, tn->mapping.values);
	for (i = 1; i < n; i++)
		if (!strcasecmp(tn->mapping.values[idx[i - 1]],
				tn->mapping.values[idx[i]]))
			KEYERR(in, e, mk,
			       "group %.40s is mapped from both \"%.64s\" and "
			       "\"%.64s\"",
			       tn->mapping.values[idx[i]],
			       tn->mapping.keys[idx[i - 1]],
			       tn->mapping.keys[idx[i]]);
	/* Exact duplicates were reported by rs_conf_map_check_dups();
	 * names that differ only in case are a likely mistake (Talkdesk
	 * queue names are lower case, ring-group lookups ignore case). */
	for (i = 0; i < n; i++)
		idx[i] = i;
	qsort_r(idx, n, sizeof(*idx), cmp_idx_ci, tn->mapping.keys);
	for (i = 1; i < n; i++)
		if (!strcasecmp(tn->mapping.keys[idx[i - 1]],
				tn->mapping.keys[idx[i]]) &&
		    strcmp(tn->mapping.keys[idx[i - 1]],
			   tn->mapping.keys[idx[i]]))
			KEYERR(in, e, mk, "duplicate group name \"%.64s\"",
			       tn->mapping.keys[idx[i]]);
	rs_free(idx);
}

/* Tenant checks and derived values.  Derived values (Talkdesk hosts,
 * scopes, inherited guards, name) are written into the struct so every
 * consumer sees the same effective value instead of re-deriving it. */
static void check_tenant(inst_t *in, const rs_conf_global_t *g, errs_t *e) {
	rs_conf_tenant_t *tn = in->obj;
	size_t i, n_auth = 0;
	bool pem;

	for (i = 0; i < in->n_props; i++)
		if ((in->props[i].flags & RS_CONF_REQUIRED) && !in->set[i])
			rs_conf_errf(e, in->file, 0, in->props[i].name,
			     "required key is missing");
	if (tn->id && !rs_conf_charset_ok(tn->id, "_-", true))
		KEYERR(in, e, "tenant.id",
		       "must be 1-64 characters of [a-z0-9_-]");
	if (!tn->name && tn->id)
		tn->name = rs_strdup(tn->id);

	/* Graph */
	if (tn->graph.tenant_id && !rs_conf_is_guid(tn->graph.tenant_id) &&
	    !rs_conf_is_domain(tn->graph.tenant_id))
		KEYERR(in, e, "tenant.graph.tenant_id",
		       "must be a directory GUID or a domain name");
	if (tn->graph.client_id && !rs_conf_is_guid(tn->graph.client_id))
		KEYERR(in, e, "tenant.graph.client_id", "must be a GUID");
	pem = tn->graph.certificate.key || tn->graph.certificate.cert;
	n_auth = (tn->graph.client_secret != NULL) +
		 (tn->graph.certificate.pfx != NULL) + pem;
	if (n_auth != 1) {
		rs_conf_errf(e, in->file, 0, "tenant.graph",
		     "exactly one auth method must be set: client_secret, "
		     "certificate.pfx, or certificate.key + certificate.cert "
		     "(%zu set)",
		     n_auth);
	} else if (tn->graph.client_secret) {
		tn->graph.auth = RS_CONF_AUTH_SECRET;
	} else if (tn->graph.certificate.pfx) {
		tn->graph.auth = RS_CONF_AUTH_CERT_PFX;
	} else {
		tn->graph.auth = RS_CONF_AUTH_CERT_PEM;
		if (!tn->graph.certificate.key || !tn->graph.certificate.cert)
			rs_conf_errf(e, in->file, 0, "tenant.graph.certificate",
			     "certificate.key and certificate.cert go "
			     "together");
	}
	if (tn->graph.certificate.pfx_password && !tn->graph.certificate.pfx)
		KEYERR(in, e, "tenant.graph.certificate.pfx_password",
		       "only with tenant.graph.certificate.pfx");
	if (!tn->graph.login_url)
		KEYERR(in, e, "tenant.graph.login_url", "must not be empty");
	if (!tn->graph.base_url)
		KEYERR(in, e, "tenant.graph.base_url", "must not be empty");

	/* Talkdesk: configured as soon as any of its keys is set. */
	for (i = 0; i < in->n_props; i++)
		if (in->set[i] && !strncmp(in->props[i].name, "tenant.talkdesk.",
					   16))
			tn->talkdesk.configured = true;
	if (tn->talkdesk.configured) {
		static const char *req[] = {"tenant.talkdesk.account",
					    "tenant.talkdesk.client_id",
					    "tenant.talkdesk.client_secret"};
		for (i = 0; i < RS_ARRAY_SIZE(req); i++)
			if (!is_set(in, req[i]))
				rs_conf_errf(e, in->file, 0, req[i],
				     "required when tenant.talkdesk is set");
		if (tn->talkdesk.account &&
		    (!rs_conf_charset_ok(tn->talkdesk.account, "-", true) ||
		     tn->talkdesk.account[0] == '-'))
			KEYERR(in, e, "tenant.talkdesk.account",
			       "must be 1-63 characters of [a-z0-9-]");
		if (!tn->talkdesk.base_url)
			tn->talkdesk.base_url =
				rs_strdup(td_api_host[tn->talkdesk.region]);
		if (!tn->talkdesk.token_url && tn->talkdesk.account) {
			char url[512];
			rs_snprintf(url, sizeof(url),
				    "https://%s.%s/oauth/token",
				    tn->talkdesk.account,
				    td_id_host[tn->talkdesk.region]);
			tn->talkdesk.token_url = rs_strdup(url);
		}
		if (!tn->talkdesk.scopes.count) {
			const rs_conf_prop_t *p = rs_conf_prop_find(
				RS_CONF_SCOPE_TENANT, "tenant.talkdesk.scopes");
			rs_conf_set_str(in, p, td_scopes[tn->talkdesk.source], NULL, e,
				in->file, 0);
		}
	}

	/* Mapping */
	if (is_set(in, "tenant.mapping") && tn->mapping_file)
		KEYERR(in, e, "tenant.mapping_file",
		       "set tenant.mapping or tenant.mapping_file, not both");
	else if (tn->mapping_file)
		load_mapping_file(in, tn, e);
	check_mapping(in, tn, e);

	/* Sync limits inherit the planner's. */
	if (tn->sync.max_removals < 0)
		tn->sync.max_removals = g->planner.max_removals;
	if (tn->sync.max_removal_percent < 0)
		tn->sync.max_removal_percent = g->planner.max_removal_percent;
}

/* -------------------------------------------------------------------------
 * Loading
 * ---------------------------------------------------------------------- */
typedef struct loader_s {
	errs_t e;
	rs_conf_t *conf;
	inst_t gin;
	char *main_dir;
	char *cwd;
	rs_conf_tenant_t **tns; /* in file order */
	inst_t *tins;
	size_t n;
} loader_t;

static void loader_init(loader_t *ld, const char *main_display,
			const char *main_dir) {
	char buf[PATH_MAX];

	memset(ld, 0, sizeof(*ld));
	ld->conf = rs_calloc(1, sizeof(*ld->conf));
	ld->conf->g.main_file = rs_strdup(main_display);
	ld->cwd = rs_strdup(getcwd(buf, sizeof(buf)) ? buf : "");
	ld->main_dir = rs_strdup(main_dir ? main_dir : ld->cwd);
	rs_conf_inst_init(&ld->gin, RS_CONF_SCOPE_GLOBAL, &ld->conf->g,
		  ld->conf->g.main_file, ld->main_dir);
	rs_conf_apply_defaults(&ld->gin, &ld->e);
}

static void loader_cleanup(loader_t *ld) {
	size_t i;

	for (i = 0; i < ld->n; i++)
		rs_conf_inst_cleanup(&ld->tins[i]);
	rs_free(ld->tins);
	rs_free(ld->tns);
	rs_conf_inst_cleanup(&ld->gin);
	rs_free(ld->main_dir);
	rs_free(ld->cwd);
}

/* Parses one main-file text into the global scope. */
static void load_main_text(loader_t *ld, const char *text) {
	config_t cfg;

	if (!parse_text(&cfg, text, ld->gin.file, &ld->e))
		return;
	walk(&ld->gin, config_root_setting(&cfg), "", &ld->e, 0);
	config_destroy(&cfg);
}

/* One tenant: defaults first, then the file, each into its own struct.
 * The tenant is kept even when the file has errors, so later checks
 * (duplicate ids) still report against it. */
static void load_tenant_text(loader_t *ld, const char *text,
			     const char *display, const char *base_dir) {
	rs_conf_tenant_t *tn;
	inst_t *in;
	config_t cfg;

	if (ld->n >= RS_CONF_MAX_TENANTS) {
		if (ld->n == RS_CONF_MAX_TENANTS)
			rs_conf_errf(&ld->e, display, 0, NULL,
			     "more than %d tenants", RS_CONF_MAX_TENANTS);
		return;
	}
	tn = rs_calloc(1, sizeof(*tn));
	tn->source_file = rs_strdup(display);
	tn->base_dir = rs_strdup(base_dir);
	ld->tns = rs_realloc(ld->tns, (ld->n + 1) * sizeof(*ld->tns));
	ld->tins = rs_realloc(ld->tins, (ld->n + 1) * sizeof(*ld->tins));
	ld->tns[ld->n] = tn;
	in = &ld->tins[ld->n];
	ld->n++;
	rs_conf_inst_init(in, RS_CONF_SCOPE_TENANT, tn, tn->source_file, tn->base_dir);
	rs_conf_apply_defaults(in, &ld->e);
	if (!parse_text(&cfg, text, display, &ld->e))
		return;
	walk(in, config_root_setting(&cfg), "", &ld->e, 0);
	config_destroy(&cfg);
}

static int cmp_str(const void *a, const void *b) {
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every *.conf of tenants_dir, sorted by name, hidden files skipped. */
static void load_tenants_dir(loader_t *ld) {
	const char *dir = ld->conf->g.tenants_dir;
	char **names = NULL;
	size_t n = 0, i, mdl = strlen(ld->main_dir);
	struct dirent *de;
	char why[128];
	DIR *d;

	if (!dir)
		return;
	d = opendir(dir);
	if (!d) {
		KEYERR(&ld->gin, &ld->e, "tenants_dir", "cannot open %s: %s",
		       dir, rs_strerror(errno, why, sizeof(why)));
		return;
	}
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		if (de->d_name[0] == '.' || len < 6 ||
		    strcmp(de->d_name + len - 5, ".conf"))
			continue;
		if (n > RS_CONF_MAX_TENANTS) /* one more, to report it */
			break;
		names = rs_realloc(names, (n + 1) * sizeof(*names));
		names[n++] = rs_strdup(de->d_name);
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), cmp_str);
	for (i = 0; i < n; i++) {
		char path[PATH_MAX], display[PATH_MAX];
		char *text;
		const char *shown = path;

		if (!rs_snprintf(path, sizeof(path), "%s/%s", dir, names[i]))
			continue;
		/* Show paths under the main file's folder relative to it, as
		 * the operator wrote them ("tenants.d/t007.conf"). */
		if (!strncmp(path, ld->main_dir, mdl) && path[mdl] == '/' &&
		    rs_snprintf(display, sizeof(display), "%s", path + mdl + 1))
			shown = display;
		text = read_file(path, RS_CONF_MAX_FILE, NULL, why, sizeof(why));
		if (!text)
			rs_conf_errf(&ld->e, shown, 0, NULL, "cannot read: %s", why);
		else
			load_tenant_text(ld, text, shown, dir);
		rs_free(text);
	}
	for (i = 0; i < n; i++)
		rs_free(names[i]);
	rs_free(names);
}

/* -X key=value.  tenant_pass false: global keys only (before tenants are
 * read, so tenants_dir can be overridden); true: tenant keys. */
static void apply_overrides(loader_t *ld, const char **ov, size_t n,
			    bool tenant_pass) {
	size_t i, t;

	for (i = 0; i < n; i++) {
		const char *eq = strchr(ov[i], '=');
		char key[256];
		const rs_conf_prop_t *p;
		bool tkey = !strncmp(ov[i], "tenant.", 7);

		if (tkey != tenant_pass)
			continue;
		if (!eq || eq == ov[i] || (size_t)(eq - ov[i]) >= sizeof(key)) {
			rs_conf_errf(&ld->e, "-X", 0, NULL,
			     "override must be key=value");
			continue;
		}
		rs_snprintf(key, sizeof(key), "%.*s", (int)(eq - ov[i]), ov[i]);
		if (!tkey) {
			p = rs_conf_prop_find(RS_CONF_SCOPE_GLOBAL, key);
			if (!p)
				unknown_key(&ld->gin, &ld->e, "-X", 0, key);
			else if (rs_conf_set_str(&ld->gin, p, eq + 1, ld->cwd, &ld->e,
					 "-X", 0))
				rs_conf_mark_set(&ld->gin, p, "-X", 0);
			continue;
		} else {
			/* tenant.<id>.<rest> -> key tenant.<rest> of <id>. */
			const char *id = key + 7;
			char *dot = strchr(key + 7, '.');
			char tkeyname[256];
			bool found = false;

			if (!dot) {
				rs_conf_errf(&ld->e, "-X", 0, key,
				     "tenant overrides are "
				     "tenant.<id>.<key>, e.g. "
				     "tenant.contoso.graph.base_url=...");
				continue;
			}
			*dot = '\0';
			rs_snprintf(tkeyname, sizeof(tkeyname), "tenant.%s",
				    dot + 1);
			p = rs_conf_prop_find(RS_CONF_SCOPE_TENANT, tkeyname);
			if (!p) {
				rs_conf_errf(&ld->e, "-X", 0, tkeyname, "unknown key");
				continue;
			}
			if (!strcmp(p->name, "tenant.id")) {
				rs_conf_errf(&ld->e, "-X", 0, p->name,
				     "cannot be overridden");
				continue;
			}
			for (t = 0; t < ld->n; t++) {
				rs_conf_tenant_t *tn = ld->tns[t];
				if (strcmp(id, "*") &&
				    (!tn->id || strcmp(tn->id, id)))
					continue;
				found = true;
				if (rs_conf_set_str(&ld->tins[t], p, eq + 1, ld->cwd,
					    &ld->e, "-X", 0))
					rs_conf_mark_set(&ld->tins[t], p, "-X", 0);
			}
			if (!found && strcmp(id, "*"))
				rs_conf_errf(&ld->e, "-X", 0, p->name,
				     "no tenant with id \"%.64s\"", id);
		}
	}
}

static int cmp_tenant(const void *a, const void *b) {
	const rs_conf_tenant_t *x = *(rs_conf_tenant_t *const *)a;
	const rs_conf_tenant_t *y = *(rs_conf_tenant_t *const *)b;
	int c = strcmp(x->id ? x->id : "", y->id ? y->id : "");

	/* Ties (duplicate ids) order by file name, so the message about
	 * a duplicate names the later file and points at the earlier. */
	return c ? c : strcmp(x->source_file, y->source_file);
}

/* Runs the checks, detects duplicate ids and hands over or frees. */
static rs_conf_t *loader_finish(loader_t *ld, char *errstr, size_t size) {
	rs_conf_t *conf = ld->conf;
	size_t i;

	check_global(&ld->gin, &ld->e);
	for (i = 0; i < ld->n; i++)
		check_tenant(&ld->tins[i], &conf->g, &ld->e);
	conf->tenants = ld->tns;
	conf->n_tenants = ld->n;
	ld->tns = NULL;
	if (conf->n_tenants)
		qsort(conf->tenants, conf->n_tenants, sizeof(*conf->tenants),
		      cmp_tenant);
	for (i = 1; i < conf->n_tenants; i++) {
		rs_conf_tenant_t *a = conf->tenants[i - 1], *b = conf->tenants[i];
		if (a->id && b->id && !strcmp(a->id, b->id))
			rs_conf_errf(&ld->e, b->source_file, 0, "tenant.id",
			     "duplicate tenant id \"%s\" (also in %s)", b->id,
			     a->source_file);
	}
	ld->conf = NULL;
	if (ld->e.n || ld->e.dropped) {
		rs_conf_errs_flush(&ld->e, errstr, size);
		rs_conf_destroy(conf);
		conf = NULL;
	} else if (size) {
		errstr[0] = '\0';
	}
	loader_cleanup(ld);
	return conf;
}

/* Order: defaults, main file, global -X (so -X tenants_dir works), tenant
 * files, tenant -X, then all cross-key checks on the final values. */
rs_conf_t *rs_conf_load(const char *main_path, const char **overrides,
			size_t n_overrides, char *errstr, size_t errstr_size) {
	loader_t ld;
	char dir[PATH_MAX], real[PATH_MAX], why[128];
	const char *slash = strrchr(main_path, '/');
	char *text;

	/* The main file's folder, absolute, is the base of its paths. */
	if (!slash)
		rs_snprintf(dir, sizeof(dir), ".");
	else if (slash == main_path)
		rs_snprintf(dir, sizeof(dir), "/");
	else
		rs_snprintf(dir, sizeof(dir), "%.*s", (int)(slash - main_path),
			    main_path);
	loader_init(&ld, main_path, realpath(dir, real) ? real : dir);
	text = read_file(main_path, RS_CONF_MAX_FILE, NULL, why, sizeof(why));
	if (!text) {
		rs_conf_errf(&ld.e, main_path, 0, NULL, "cannot read: %s", why);
	} else {
		load_main_text(&ld, text);
		rs_free(text);
		apply_overrides(&ld, overrides, n_overrides, false);
		load_tenants_dir(&ld);
		apply_overrides(&ld, overrides, n_overrides, true);
	}
	return loader_finish(&ld, errstr, errstr_size);
}

rs_conf_t *rs_conf_load_strings(const char *main_text,
				const char *const *tenant_texts,
				size_t n_tenants, const char *base_dir,
				const char **overrides, size_t n_overrides,
				char *errstr, size_t errstr_size) {
	loader_t ld;
	size_t i;

	loader_init(&ld, "main", base_dir);
	load_main_text(&ld, main_text ? main_text : "");
	apply_overrides(&ld, overrides, n_overrides, false);
	for (i = 0; i < n_tenants; i++) {
		char display[32];
		rs_snprintf(display, sizeof(display), "tenant[%zu]", i);
		load_tenant_text(&ld, tenant_texts[i], display, ld.main_dir);
	}
	apply_overrides(&ld, overrides, n_overrides, true);
	return loader_finish(&ld, errstr, errstr_size);
}

void rs_conf_destroy(rs_conf_t *conf) {
	size_t i;

	if (!conf)
		return;
	for (i = 0; i < conf->n_tenants; i++)
		tenant_free(conf->tenants[i]);
	rs_free(conf->tenants);
	rs_conf_obj_free(RS_CONF_SCOPE_GLOBAL, &conf->g);
	rs_free(conf->g.main_file);
	rs_free(conf);
}

/* -------------------------------------------------------------------------
 * Accessors
 * ---------------------------------------------------------------------- */
const rs_conf_global_t *rs_conf_global(const rs_conf_t *conf) {
	return &conf->g;
}

size_t rs_conf_tenant_count(const rs_conf_t *conf) {
	return conf->n_tenants;
}

const rs_conf_tenant_t *rs_conf_tenant(const rs_conf_t *conf, size_t idx) {
	return idx < conf->n_tenants ? conf->tenants[idx] : NULL;
}

const rs_conf_tenant_t *rs_conf_tenant_by_id(const rs_conf_t *conf,
					     const char *id) {
	size_t lo = 0, hi = conf->n_tenants;

	/* Sorted by id at load: binary search. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(conf->tenants[mid]->id, id);
		if (!c)
			return conf->tenants[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

rs_err_t rs_conf_tenant_secret(const rs_conf_tenant_t *tn, const char *key,
			       char *buf, size_t size, char *errstr,
			       size_t errstr_size) {
	const rs_conf_prop_t *p = rs_conf_prop_find(RS_CONF_SCOPE_TENANT, key);
	const char *ref;
	char inner[256];
	rs_err_t err;

	if (!p || !(p->flags & RS_CONF_SENSITIVE)) {
		snprintf(errstr, errstr_size, "%s: not a secret key", key);
		return RS_ERR_INVALID_ARG;
	}
	ref = *(char *const *)(const void *)((const char *)tn + p->offset);
	if (!ref) {
		snprintf(errstr, errstr_size, "%s: %s: not set",
			 tn->source_file, key);
		return RS_ERR_NOT_FOUND;
	}
	err = rs_secret_resolve(ref, tn->base_dir, buf, size, inner,
				sizeof(inner));
	if (err != RS_OK)
		snprintf(errstr, errstr_size, "%s: %s: %s", tn->source_file,
			 key, inner);
	return err;
}

void rs_conf_apply_log(const rs_conf_t *conf) {
	const rs_conf_prop_t *p = rs_conf_prop_find(RS_CONF_SCOPE_GLOBAL,
						    "debug");
	char list[256], eb[128];
	size_t used = 0;
	const char *v = p->values;
	unsigned int bit = 0;

	rs_log_set_level(conf->g.log.level);
	rs_log_set_format(conf->g.log.format == RS_CONF_LOG_JSON
				  ? RS_LOG_FMT_JSON
				  : RS_LOG_FMT_TEXT);
	/* rs_log takes the list as text: rebuild it from the mask with the
	 * same names the table validated, so it cannot fail here. */
	list[0] = '\0';
	if (conf->g.debug == 0xffffffffu) {
		rs_snprintf(list, sizeof(list), "all");
	} else {
		while (*v && used < sizeof(list)) {
			size_t len = strcspn(v, "|");
			if (conf->g.debug & (1u << bit)) {
				rs_snprintf(list + used, sizeof(list) - used,
					    "%s%.*s", used ? "," : "", (int)len,
					    v);
				used += strlen(list + used);
			}
			v += len + (v[len] == '|');
			bit++;
		}
	}
	rs_log_set_debug(list, eb, sizeof(eb));
}
