/*
 * rs_conf_int.h - shared inside the conf subsystem only (rs_conf.c,
 * rs_conf_value.c): the bounded error list, a scope instance being loaded,
 * and the one setter every source of values goes through.
 */
#ifndef RS_CONF_INT_H
#define RS_CONF_INT_H

#include "rs/rs_base.h"
#include "rs/rs_conf.h"

/* Errors collected during one load, at most RS_CONF_MAX_ERRORS kept. */
typedef struct errs_s {
	char **lines;
	size_t n;
	size_t dropped;
} errs_t;

/* One scope instance being loaded: the struct plus where each key was set,
 * so cross-key checks can point at the right file and line. */
typedef struct inst_s {
	rs_conf_scope_t scope;
	void *obj;
	const rs_conf_prop_t *props;
	size_t n_props;
	const char *file;     /* display name for messages */
	const char *base_dir; /* for relative paths in the file */
	bool *set;            /* key set by a file or override */
	const char **set_file;
	int *set_line;
} inst_t;

/* The member a table row points at. */
#define MEMBER(obj, p, type) ((type *)(void *)((char *)(obj) + (p)->offset))

/* Adds "file:line: key: message" (line 0: no line, key NULL: no key). */
void rs_conf_errf(errs_t *e, const char *file, int line, const char *key,
		  const char *fmt, ...) RS_PRINTF(5, 6);
/* Writes all errors into errstr, one per line, and empties the list. */
void rs_conf_errs_flush(errs_t *e, char *errstr, size_t size);

void rs_conf_inst_init(inst_t *in, rs_conf_scope_t scope, void *obj,
		       const char *file, const char *base_dir);
void rs_conf_inst_cleanup(inst_t *in);
/* Row index of a key that must exist (asserts). */
size_t rs_conf_prop_idx(const inst_t *in, const char *name);
void rs_conf_mark_set(inst_t *in, const rs_conf_prop_t *p, const char *file,
		      int line);

void rs_conf_strlist_clear(rs_conf_strlist_t *l);
void rs_conf_map_clear(rs_conf_map_t *m);
/* Frees every member the scope's table rows own. */
void rs_conf_obj_free(rs_conf_scope_t scope, void *obj);
bool rs_conf_is_strtype(rs_conf_type_t t);

bool rs_conf_has_ctl(const char *s);
bool rs_conf_is_guid(const char *s);
bool rs_conf_is_domain(const char *s);
/* Only [A-Za-z0-9] (lower: [a-z0-9]) and the characters of extra. */
bool rs_conf_charset_ok(const char *s, const char *extra, bool lower);
bool rs_conf_is_listen(const char *s);
/* path made absolute against base_dir; NULL when too long. */
char *rs_conf_abs_path(const char *base_dir, const char *path);

bool rs_conf_map_add(rs_conf_map_t *m, const char *k, size_t klen,
		     const char *v, size_t vlen, int64_t max, errs_t *e,
		     const char *file, int line, const char *key);
/* Reports every key present twice; false when there is one. */
bool rs_conf_map_check_dups(const rs_conf_map_t *m, errs_t *e,
			    const char *file, int line, const char *key);
bool rs_conf_strlist_add(rs_conf_strlist_t *l, const char *s, size_t len,
			 int64_t max, errs_t *e, const char *file, int line,
			 const char *key);

/* The setter: text -> member p of in->obj.  On error nothing changes and an
 * error naming the key is collected. */
bool rs_conf_set_str(inst_t *in, const rs_conf_prop_t *p, const char *s,
		     const char *base_dir, errs_t *e, const char *file,
		     int line);
/* Sets every key that has a default. */
bool rs_conf_apply_defaults(inst_t *in, errs_t *e);

#endif /* RS_CONF_INT_H */
