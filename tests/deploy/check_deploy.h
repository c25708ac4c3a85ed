/*
 * check_deploy.h - private header of the test tool check_deploy
 * (check_deploy.c: utilities, compose, Dockerfile, main;
 * check_deploy_k8s.c: Kubernetes).  Nothing here is part of libcommon.
 *
 * Conventions of the tool: every check takes the run's rs_dc_t, reports
 * each problem as one "problem: ..." line on stdout through
 * rs_dc_problem()/EXPECT(), and keeps going, so one run lists every
 * problem; main() exits 1 when there was any.  Documents come from yq as
 * cJSON trees; the small inline accessors below treat a missing member,
 * or one of the wrong type, as absent instead of crashing, so a malformed
 * manifest is a reported problem, never a NULL dereference.
 */
#ifndef CHECK_DEPLOY_H
#define CHECK_DEPLOY_H

#include "rs/rs_base.h"
#include "rs/rs_conf.h"

#include <cjson/cJSON.h>
#include <stdarg.h>

/* Bounds: every file and every tool output read here is small; anything
 * larger is a mistake, reported rather than buffered without end. */
#define RS_DC_MAX_READ (16 * 1024 * 1024) /**< a file or a tool's output */
#define RS_DC_MAX_OVERRIDES 64            /**< -X arguments */
#define RS_DC_MAX_LIST 256                /**< YAML files, NEEDED libraries */

/** The run's state, passed to every check (no global mutable state). */
typedef struct rs_dc_s {
	int problems;   /**< problems reported so far */
	const char *yq; /**< the yq binary (environment RS_YQ) */
} rs_dc_t;

/**
 * @brief Reports one problem: prints "problem: <message>" and counts it.
 * @locality the tool is single-threaded.
 */
void rs_dc_problem(rs_dc_t *cx, const char *fmt, ...) RS_PRINTF(2, 3);

/* EXPECT(cx, cond, fmt, ...): reports a problem when cond is false and
 * evaluates to cond, so a caller can skip the checks that depend on it. */
#define EXPECT(cx, cond, ...)                                                  \
	((cond) ? true : (rs_dc_problem((cx), __VA_ARGS__), false))

/**
 * @brief Reads a whole file (at most RS_DC_MAX_READ bytes).
 * @returns a NUL-terminated copy the caller rs_free()s, or NULL.
 */
char *rs_dc_read_file(const char *path);

/** @returns true when path is an existing regular file. */
bool rs_dc_is_file(const char *path);

/** @brief mkdir -p of the directory part of path. */
bool rs_dc_mkdirs_for(const char *path);

/**
 * @brief Reads YAML files through yq: every non-empty document of every
 *        file, in order, anchors and merge keys resolved.
 * @returns a JSON array the caller cJSON_Delete()s, or NULL after a
 *          reported problem (yq missing or failing).
 */
cJSON *rs_dc_yaml_load(rs_dc_t *cx, const char *const *paths, size_t n);

/**
 * @brief Loads a main rostersync.conf with rostersync's own loader, with
 *        argv holding "-X key=value" pairs (argc strings).
 * @returns the configuration (rs_conf_destroy()), or NULL after a problem.
 */
rs_conf_t *rs_dc_conf_load(rs_dc_t *cx, const char *path, int argc,
			   char **argv);

/**
 * @brief The port of a metrics listener "HOST:PORT" whose host must be a
 *        wildcard (in a container a loopback listener is unreachable from
 *        the scraper and the probes).
 * @returns the port, or -1 (problem reported) when malformed.
 */
int rs_dc_listen_port(rs_dc_t *cx, const char *key, const char *v);

/**
 * @brief k8s-fs: lays out what a Deployment's container sees under its
 *        volume mounts below out (check_deploy_k8s.c).
 */
void rs_dc_k8s_fs(rs_dc_t *cx, const char *dir, const char *deployment,
		  const char *out);

/**
 * @brief k8s: the manifests against the config, the pods' file layouts and
 *        the kafka scaler's parameters (check_deploy_k8s.c).
 * @param a K8S_DIR CONF FSROOT_PLANNER FSROOT_WORKER KEDA_TAGS.
 * @param argc, argv the "-X key=value" arguments that follow.
 */
void rs_dc_k8s_check(rs_dc_t *cx, char **a, int argc, char **argv);

/* ---- inline helpers ---------------------------------------------------- */

static inline bool starts_with(const char *s, const char *prefix) {
	return s && !strncmp(s, prefix, strlen(prefix));
}

/* True for a non-empty run of ASCII digits (a port, a uid). */
static inline bool all_digits(const char *s) {
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}


/* jpath(o, "spec", "template", NULL): nested object member, NULL when any
 * step is missing or not an object.  Keys are given one by one because
 * Kubernetes keys contain dots and slashes ("prometheus.io/port"). */
static inline const cJSON *jpath(const cJSON *o, ...) {
	va_list ap;
	const char *k;

	va_start(ap, o);
	for (k = va_arg(ap, const char *); o && k; k = va_arg(ap, const char *))
		o = cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, k)
				      : NULL;
	va_end(ap);
	return o;
}
#define J(...) jpath(__VA_ARGS__, (const char *)NULL)

/* The string value of o, or NULL when o is not a string. */
static inline const char *jstr(const cJSON *o) {
	return cJSON_IsString(o) ? o->valuestring : NULL;
}

/* "" for a missing string, for messages and comparisons. */
static inline const char *jstr0(const cJSON *o) {
	return cJSON_IsString(o) ? o->valuestring : "";
}

static inline bool jstr_eq(const cJSON *o, const char *want) {
	return cJSON_IsString(o) && want && !strcmp(o->valuestring, want);
}

/* A scalar as text the way YAML authors think of it: 9464 and "9464" are
 * the same port. */
static inline const char *jscalar(const cJSON *o, char *buf, size_t size) {
	if (cJSON_IsString(o))
		return o->valuestring;
	if (cJSON_IsNumber(o)) {
		rs_snprintf(buf, size, "%.17g", o->valuedouble);
		return buf;
	}
	if (cJSON_IsBool(o))
		return cJSON_IsTrue(o) ? "true" : "false";
	return "";
}

/* An integer member, or def when missing / not a number. */
static inline double jnum(const cJSON *o, double def) {
	return cJSON_IsNumber(o) ? o->valuedouble : def;
}

/* True when the first n items of array a are the n strings given. */
static inline bool jstrs_start(const cJSON *a, int n, ...) {
	va_list ap;
	int i;
	bool ok = cJSON_IsArray(a) && cJSON_GetArraySize(a) >= n;

	va_start(ap, n);
	for (i = 0; ok && i < n; i++)
		ok = jstr_eq(cJSON_GetArrayItem(a, i), va_arg(ap, const char *));
	va_end(ap);
	return ok;
}

static inline bool jarray_has_str(const cJSON *a, const char *s) {
	const cJSON *el, *arr = cJSON_IsArray(a) ? a : NULL;

	cJSON_ArrayForEach(el, arr) {
		if (jstr_eq(el, s))
			return true;
	}
	return false;
}

/* A short JSON rendering of o for messages. */
static inline void jshow(const cJSON *o, char *buf, size_t size) {
	char *s = o ? cJSON_PrintUnformatted(o) : NULL;

	rs_snprintf(buf, size, "%s", s ? s : "(none)");
	cJSON_free(s);
}

#endif /* CHECK_DEPLOY_H */
