/*
 * check_deploy - structural checks of the deployment files, run by
 * tests/deploy/06NN-*.sh (docs/deploy.md).
 *
 * Schema validators (jv, kubeconform) prove the files are well-formed; these
 * checks prove they agree with each other and with rostersync's
 * configuration: the ports Prometheus scrapes and Kubernetes probes are the
 * ones the config listens on, KEDA watches the worker's consumer group and
 * topic, every secret a tenant file names is mounted, the image has the
 * libraries the binaries need.  Each problem is printed on one line
 * ("problem: ..."); the exit code is 1 when there is any, 2 on bad usage.
 *
 *   check_deploy conf-get CONF KEY [-X key=value ...]
 *   check_deploy compose COMPOSE_YAML PROMETHEUS_YML CONF [-X key=value ...]
 *   check_deploy dockerfile DOCKERFILE BINARY...
 *   check_deploy k8s-fs K8S_DIR DEPLOYMENT OUT
 *   check_deploy k8s K8S_DIR CONF FSROOT_PLANNER FSROOT_WORKER KEDA_TAGS
 *                [-X key=value ...]
 *
 * CONF is a main rostersync.conf, loaded with rostersync's own loader
 * (rs_conf_load, the same -X setter as the daemons), so every value is the
 * effective one with defaults filled in (e.g. the topic names): no second
 * parser of the configuration exists here.
 *
 * YAML: this program parses no YAML itself.  It runs the pinned Go yq
 * (github.com/mikefarah/yq/v4, installed by scripts/install-deps; path in
 * the environment variable RS_YQ) as `yq ea -o=json` with merge keys and
 * aliases resolved, and reads the JSON with cJSON.  Tenant files inside the
 * ConfigMap are libconfig text and are read with libconfig.
 */
#include "rs/rs_base.h"
#include "rs/rs_conf.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libconfig.h>
#include <limits.h>
#include <regex.h>
#include <spawn.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Bounds: every file and every tool output read here is small; anything
 * larger is a mistake, reported rather than buffered without end. */
#define MAX_READ (16 * 1024 * 1024)
#define MAX_OVERRIDES 64
#define MAX_LIST 256

/* The run's state, passed to every check (no global mutable state). */
typedef struct {
	int problems;
	const char *yq; /* RS_YQ */
} ctx_t;

static void problem(ctx_t *cx, const char *fmt, ...) RS_PRINTF(2, 3);
static void problem(ctx_t *cx, const char *fmt, ...) {
	va_list ap;

	va_start(ap, fmt);
	fputs("problem: ", stdout);
	vprintf(fmt, ap);
	fputc('\n', stdout);
	va_end(ap);
	cx->problems++;
}

/* expect(): records a problem when cond is false and returns cond, so a
 * caller can skip the checks that depend on it (as `if expect(...)`). */
#define expect(cx, cond, ...)                                                  \
	((cond) ? true : (problem((cx), __VA_ARGS__), false))

/* ---- small utilities ------------------------------------------------- */

/* A growable byte buffer with a hard maximum (STYLE.md 9). */
typedef struct {
	char *p;
	size_t len, cap;
} buf_t;

static bool buf_add(buf_t *b, const char *s, size_t n) {
	if (b->len + n + 1 > MAX_READ)
		return false;
	if (b->len + n + 1 > b->cap) {
		size_t cap = RS_MAX(b->cap * 2, b->len + n + 1);
		b->p = rs_realloc(b->p, RS_MIN(cap, (size_t)MAX_READ));
		b->cap = RS_MIN(cap, (size_t)MAX_READ);
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return true;
}

static char *read_file(const char *path) {
	buf_t b = {0};
	char chunk[65536];
	size_t n;
	FILE *fp = fopen(path, "r");

	if (!fp)
		return NULL;
	buf_add(&b, "", 0);
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
		if (!buf_add(&b, chunk, n)) {
			rs_free(b.p);
			b.p = NULL;
			break;
		}
	}
	fclose(fp);
	return b.p;
}

static bool starts_with(const char *s, const char *prefix) {
	return s && !strncmp(s, prefix, strlen(prefix));
}

static bool is_file(const char *path) {
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static bool all_digits(const char *s) {
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* mkdir -p of the directory part of path. */
static bool mkdirs_for(const char *path) {
	char tmp[PATH_MAX];
	char *p;

	if (!rs_snprintf(tmp, sizeof(tmp), "%s", path))
		return false;
	for (p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
			return false;
		*p = '/';
	}
	return true;
}

/* Runs argv (no shell, so paths need no quoting) and captures its stdout;
 * stderr goes through.  Returns the exit status, -1 when it could not run
 * or its output exceeded MAX_READ.  quiet: stderr to /dev/null. */
static int run_capture(char *const argv[], char **out, bool quiet) {
	posix_spawn_file_actions_t fa;
	int pfd[2], status = 0, rc = -1;
	pid_t pid;
	buf_t b = {0};
	char chunk[65536];
	ssize_t n;
	bool ok = true;

	*out = NULL;
	if (pipe(pfd) != 0)
		return -1;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
	posix_spawn_file_actions_addclose(&fa, pfd[0]);
	posix_spawn_file_actions_addclose(&fa, pfd[1]);
	if (quiet)
		posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	if (posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[1]);
	buf_add(&b, "", 0);
	/* Keep draining after an overflow so the child never blocks on a full
	 * pipe; the result is then discarded. */
	while ((n = read(pfd[0], chunk, sizeof(chunk))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (ok && !buf_add(&b, chunk, (size_t)n))
			ok = false;
	}
	close(pfd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (ok && WIFEXITED(status))
		rc = WEXITSTATUS(status);
	if (rc < 0)
		rs_free(b.p);
	else
		*out = b.p;
	return rc;
}

/* ---- JSON helpers ------------------------------------------------------ */

/* jpath(o, "spec", "template", NULL): nested object member, NULL when any
 * step is missing or not an object.  Keys are given one by one because
 * Kubernetes keys contain dots and slashes ("prometheus.io/port"). */
static const cJSON *jpath(const cJSON *o, ...) {
	va_list ap;
	const char *k;

	va_start(ap, o);
	while (o && (k = va_arg(ap, const char *)) != NULL)
		o = cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, k)
				      : NULL;
	va_end(ap);
	return o;
}
#define J(...) jpath(__VA_ARGS__, (const char *)NULL)

/* The string value of o, or NULL when o is not a string. */
static const char *jstr(const cJSON *o) {
	return cJSON_IsString(o) ? o->valuestring : NULL;
}

/* "" for a missing string, for messages and comparisons. */
static const char *jstr0(const cJSON *o) {
	return cJSON_IsString(o) ? o->valuestring : "";
}

static bool jstr_eq(const cJSON *o, const char *want) {
	return cJSON_IsString(o) && want && !strcmp(o->valuestring, want);
}

/* A scalar as text the way YAML authors think of it: 9464 and "9464" are
 * the same port. */
static const char *jscalar(const cJSON *o, char *buf, size_t size) {
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
static double jnum(const cJSON *o, double def) {
	return cJSON_IsNumber(o) ? o->valuedouble : def;
}

/* True when array a is exactly the n strings given. */
static bool jstrs_are(const cJSON *a, int n, ...) {
	va_list ap;
	const cJSON *el;
	int i = 0;
	bool ok = cJSON_IsArray(a) && cJSON_GetArraySize(a) == n;
	const cJSON *arr = ok ? a : NULL;

	va_start(ap, n);
	cJSON_ArrayForEach(el, arr) {
		if (!jstr_eq(el, va_arg(ap, const char *)))
			ok = false;
		i++;
	}
	va_end(ap);
	return ok && i == n;
}

/* True when the first n items of array a are the n strings given. */
static bool jstrs_start(const cJSON *a, int n, ...) {
	va_list ap;
	int i;
	bool ok = cJSON_IsArray(a) && cJSON_GetArraySize(a) >= n;

	va_start(ap, n);
	for (i = 0; ok && i < n; i++)
		ok = jstr_eq(cJSON_GetArrayItem(a, i), va_arg(ap, const char *));
	va_end(ap);
	return ok;
}

static bool jarray_has_str(const cJSON *a, const char *s) {
	const cJSON *el, *arr = cJSON_IsArray(a) ? a : NULL;

	cJSON_ArrayForEach(el, arr) {
		if (jstr_eq(el, s))
			return true;
	}
	return false;
}

/* A short JSON rendering of o for messages. */
static void jshow(const cJSON *o, char *buf, size_t size) {
	char *s = o ? cJSON_PrintUnformatted(o) : NULL;

	rs_snprintf(buf, size, "%s", s ? s : "(none)");
	cJSON_free(s);
}

/* Reads YAML files through yq: a JSON array of every non-empty document of
 * every file, in order, with aliases and merge keys (<<) resolved as the
 * YAML spec says.  NULL (after a problem) when yq fails. */
static cJSON *yaml_load(ctx_t *cx, const char *const *paths, size_t n) {
	char *argv[MAX_LIST + 8];
	size_t i, a = 0;
	char *out = NULL;
	cJSON *docs = NULL;
	int rc;

	if (!expect(cx, cx->yq && *cx->yq, "RS_YQ is not set (the yq binary)"))
		return NULL;
	rs_assert(n <= MAX_LIST);
	argv[a++] = (char *)cx->yq;
	argv[a++] = (char *)"eval-all";
	argv[a++] = (char *)"--yaml-fix-merge-anchor-to-spec=true";
	argv[a++] = (char *)"-o=json";
	argv[a++] = (char *)"-I=0";
	argv[a++] = (char *)"[explode(.)] | map(select(. != null))";
	for (i = 0; i < n; i++)
		argv[a++] = (char *)paths[i];
	argv[a] = NULL;
	rc = run_capture(argv, &out, false);
	if (expect(cx, rc == 0, "yq could not read %s%s (exit %d)", paths[0],
		   n > 1 ? " and others" : "", rc))
		docs = cJSON_Parse(out);
	if (rc == 0)
		expect(cx, cJSON_IsArray(docs), "yq output for %s is not a "
		       "JSON array", paths[0]);
	rs_free(out);
	if (!cJSON_IsArray(docs)) {
		cJSON_Delete(docs);
		return NULL;
	}
	return docs;
}

/* The first document of one YAML file (an empty object when there is
 * none, so callers can look up members without NULL checks). */
static cJSON *yaml_load_one(ctx_t *cx, const char *path) {
	cJSON *docs = yaml_load(cx, &path, 1);
	cJSON *first;

	if (!docs)
		return cJSON_CreateObject();
	first = cJSON_DetachItemFromArray(docs, 0);
	cJSON_Delete(docs);
	return first ? first : cJSON_CreateObject();
}

/* ---- configuration ------------------------------------------------------ */

/* Loads CONF with the "-X key=value" arguments that follow it. */
static rs_conf_t *conf_load(ctx_t *cx, const char *path, int argc,
			    char **argv) {
	const char *ov[MAX_OVERRIDES];
	size_t n = 0;
	char err[8192];
	rs_conf_t *conf;
	int i;

	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "-X") || i + 1 >= argc ||
		    n >= RS_ARRAY_SIZE(ov)) {
			problem(cx, "bad argument %s (want -X key=value)", argv[i]);
			return NULL;
		}
		ov[n++] = argv[++i];
	}
	conf = rs_conf_load(path, ov, n, err, sizeof(err));
	if (!conf)
		problem(cx, "%s does not load: %s", path, err);
	return conf;
}

/* Any global key as text, through the configuration table (the same table
 * rs_conf_dump() walks); false for unknown keys and unset strings. */
static bool conf_get(const rs_conf_t *conf, const char *key, char *buf,
		     size_t size) {
	const rs_conf_prop_t *p = rs_conf_prop_find(RS_CONF_SCOPE_GLOBAL, key);
	const char *base = (const char *)rs_conf_global(conf);
	const char *v, *e;
	int idx;

	if (!p)
		return false;
	base += p->offset;
	switch (p->type) {
	case RS_CONF_T_STR:
	case RS_CONF_T_SECRET:
	case RS_CONF_T_URL:
	case RS_CONF_T_PATH:
		v = *(char *const *)(const void *)base;
		return v && rs_snprintf(buf, size, "%s", v);
	case RS_CONF_T_INT:
		return rs_snprintf(buf, size, "%d", *(const int *)(const void *)base);
	case RS_CONF_T_INT64:
	case RS_CONF_T_DURATION:
		/* Durations are milliseconds. */
		return rs_snprintf(buf, size, "%lld",
				   (long long)*(const int64_t *)(const void *)base);
	case RS_CONF_T_BOOL:
		return rs_snprintf(buf, size, "%s",
				   *(const bool *)(const void *)base ? "true" : "false");
	case RS_CONF_T_ENUM:
		/* values is "a|b|c": the index is the stored int. */
		idx = *(const int *)(const void *)base;
		for (v = p->values; v && idx > 0; idx--) {
			v = strchr(v, '|');
			v = v ? v + 1 : NULL;
		}
		if (!v)
			return false;
		e = strchr(v, '|');
		return rs_snprintf(buf, size, "%.*s",
				   (int)(e ? (size_t)(e - v) : strlen(v)), v);
	default:
		return false;
	}
}

/* The port of a "HOST:PORT" listener; -1 when malformed.  In a container
 * the scraper and the probes come from outside the network namespace, so
 * the host must be a wildcard: a loopback listener would be unreachable. */
static int listen_port(ctx_t *cx, const char *key, const char *v) {
	const char *colon = v ? strrchr(v, ':') : NULL;
	size_t hl;

	if (!expect(cx, colon, "%s is not HOST:PORT (%s)", key, v ? v : "unset"))
		return -1;
	hl = (size_t)(colon - v);
	expect(cx, hl == 0 || (hl == 7 && !strncmp(v, "0.0.0.0", 7)) ||
		   (hl == 1 && v[0] == '*'),
	       "%s listens on %.*s: unreachable from outside the container", key,
	       (int)hl, v);
	return all_digits(colon + 1) ? (int)strtol(colon + 1, NULL, 10) : -1;
}

/* ---- compose ------------------------------------------------------------ */

/* References the schema cannot check (what `docker compose config` would
 * reject): named volumes, configs and depends_on targets exist, and the
 * files behind configs are there. */
static void compose_refs(ctx_t *cx, const cJSON *c, const char *dir) {
	const cJSON *svcs = J(c, "services"), *sv, *v, *d, *cf;
	char path[PATH_MAX];

	cJSON_ArrayForEach(sv, svcs) {
		cJSON_ArrayForEach(v, J(sv, "volumes")) {
			char src[1024] = "";
			const char *typ = "volume";

			if (cJSON_IsObject(v)) {
				rs_snprintf(src, sizeof(src), "%s", jstr0(J(v, "source")));
				if (jstr(J(v, "type")))
					typ = jstr(J(v, "type"));
			} else {
				/* Short syntax SRC:DST[:MODE]; a path is a bind. */
				rs_snprintf(src, sizeof(src), "%s", jstr0(v));
				if (strchr(src, ':'))
					*strchr(src, ':') = '\0';
				if (src[0] == '.' || src[0] == '/' || src[0] == '~')
					typ = "bind";
			}
			if (!strcmp(typ, "volume") && src[0])
				expect(cx, J(c, "volumes", src),
				       "%s uses volume '%s', not declared in volumes:",
				       sv->string, src);
		}
		cJSON_ArrayForEach(cf, J(sv, "configs")) {
			const char *src = cJSON_IsObject(cf) ? jstr0(J(cf, "source"))
							     : jstr0(cf);
			expect(cx, J(c, "configs", src),
			       "%s uses config '%s', not declared in configs:",
			       sv->string, src);
		}
		/* depends_on: a list of names or a map name -> condition. */
		cJSON_ArrayForEach(d, J(sv, "depends_on")) {
			const char *name = cJSON_IsObject(J(sv, "depends_on"))
						   ? d->string : jstr0(d);
			expect(cx, J(svcs, name),
			       "%s depends on unknown service '%s'", sv->string, name);
		}
	}
	cJSON_ArrayForEach(cf, J(c, "configs")) {
		const char *file = jstr(J(cf, "file"));

		if (file)
			expect(cx, rs_snprintf(path, sizeof(path), "%s/%s", dir, file) &&
				       is_file(path),
			       "config %s: file %s does not exist", cf->string, file);
	}
}

/* The planner's and worker's services: config mount, command, metrics
 * port, hardening, tenants volume, start order. */
static void compose_role(ctx_t *cx, const cJSON *s, const char *name,
			 int port) {
	const cJSON *x, *dep;
	char exe[64], pbuf[32], sbuf[64];
	bool mounted = false, once = true, exposed = false, tenants = false;

	cJSON_ArrayForEach(x, J(s, "configs")) {
		if (!jstr_eq(J(x, "source"), "rostersync_conf"))
			continue;
		mounted = once && jstr_eq(J(x, "target"),
					  "/etc/rostersync/rostersync.conf");
		once = false;
	}
	expect(cx, mounted, "%s does not mount rostersync_conf at "
	       "/etc/rostersync/rostersync.conf", name);
	rs_snprintf(exe, sizeof(exe), "rostersync-%s", name);
	expect(cx, jstrs_start(J(s, "command"), 3, exe, "-c",
			       "/etc/rostersync/rostersync.conf"),
	       "%s command does not start with %s -c "
	       "/etc/rostersync/rostersync.conf", name, exe);
	rs_snprintf(pbuf, sizeof(pbuf), "%d", port);
	cJSON_ArrayForEach(x, J(s, "expose")) {
		if (!strcmp(jscalar(x, sbuf, sizeof(sbuf)), pbuf))
			exposed = true;
	}
	expect(cx, exposed, "%s does not expose its metrics port %d", name, port);
	expect(cx, !strcmp(jscalar(J(s, "environment", "RS_METRICS_PORT"), sbuf,
				   sizeof(sbuf)), pbuf),
	       "%s RS_METRICS_PORT (HEALTHCHECK) is not %d", name, port);
	expect(cx, cJSON_IsTrue(J(s, "read_only")),
	       "%s root filesystem is not read-only", name);
	expect(cx, jarray_has_str(J(s, "cap_drop"), "ALL"),
	       "%s keeps capabilities", name);
	cJSON_ArrayForEach(x, J(s, "volumes")) {
		if (jstr_eq(J(x, "source"), "tenants"))
			tenants = true;
	}
	expect(cx, tenants, "%s does not mount the tenants volume", name);
	/* Compose waits for the broker before starting rostersync. */
	dep = J(s, "depends_on");
	expect(cx, cJSON_IsObject(dep) &&
		       jstr_eq(J(dep, "kafka", "condition"), "service_healthy"),
	       "%s does not wait for a healthy kafka", name);
}

/* tenants_dir as written in the main file compose mounts (the loaded
 * configuration has it overridden to the example tenants). */
static void compose_tenants_dir(ctx_t *cx, const char *conf_path) {
	config_t cfg;
	const char *td = NULL;

	config_init(&cfg);
	if (config_read_file(&cfg, conf_path) != CONFIG_TRUE)
		problem(cx, "%s:%d: %s", conf_path, config_error_line(&cfg),
			config_error_text(&cfg));
	else if (config_lookup_string(&cfg, "tenants_dir", &td) != CONFIG_TRUE)
		td = NULL;
	expect(cx, starts_with(td, "/var/lib/rostersync/tenants/"),
	       "tenants_dir '%s' is not inside the tenants volume",
	       td ? td : "(unset)");
	config_destroy(&cfg);
}

/* Prometheus: the planner by name, every worker replica by DNS SD. */
static void compose_prometheus(ctx_t *cx, const cJSON *c, const cJSON *p,
			       const int ports[2]) {
	const cJSON *job, *pl = NULL, *wk = NULL, *sc, *t, *dns, *x, *pr;
	char want[64], got[512];
	int n = 0;
	bool ok = true, loads = false;
	const char *cmd0, *eq;

	cJSON_ArrayForEach(job, J(p, "scrape_configs")) {
		if (jstr_eq(J(job, "job_name"), "rostersync-planner"))
			pl = job;
		if (jstr_eq(J(job, "job_name"), "rostersync-worker"))
			wk = job;
	}
	rs_snprintf(want, sizeof(want), "planner:%d", ports[0]);
	cJSON_ArrayForEach(sc, J(pl, "static_configs")) {
		cJSON_ArrayForEach(t, J(sc, "targets")) {
			ok = ok && jstr_eq(t, want);
			n++;
		}
	}
	jshow(J(pl, "static_configs"), got, sizeof(got));
	expect(cx, ok && n == 1, "prometheus planner targets %s, want %s", got,
	       want);
	/* A static "worker:PORT" would reach one replica; DNS SD finds all. */
	dns = cJSON_GetArrayItem(J(wk, "dns_sd_configs"), 0);
	jshow(dns, got, sizeof(got));
	expect(cx, jstrs_are(J(dns, "names"), 1, "worker") &&
		       jstr_eq(J(dns, "type"), "A") &&
		       jnum(J(dns, "port"), -1) == ports[1],
	       "prometheus worker job is not DNS SD of worker:%d (%s)", ports[1],
	       got);
	/* The server loads the file compose mounts: --config.file=TARGET. */
	pr = J(c, "services", "prometheus");
	cmd0 = jstr0(cJSON_GetArrayItem(J(pr, "command"), 0));
	eq = strchr(cmd0, '=');
	cJSON_ArrayForEach(x, J(pr, "configs")) {
		if (jstr_eq(J(x, "source"), "prometheus_yml") &&
		    jstr_eq(J(x, "target"), eq ? eq + 1 : cmd0))
			loads = true;
	}
	expect(cx, loads, "prometheus does not load the mounted prometheus.yml");
	expect(cx, jstr_eq(J(c, "configs", "prometheus_yml", "file"),
			   "./prometheus.yml"),
	       "configs.prometheus_yml.file is not ./prometheus.yml");
}

static void check_compose(ctx_t *cx, const char *compose_path,
			  const char *prom_path, const char *conf_path,
			  int argc, char **argv) {
	static const char *const want[] = {"kafka", "sim", "planner", "worker",
					   "prometheus"};
	cJSON *c = NULL, *p = NULL;
	const cJSON *svcs, *k, *env, *e, *w;
	rs_conf_t *conf = NULL;
	const rs_conf_global_t *g;
	char dir[PATH_MAX], path[PATH_MAX], got[256], *slash;
	const char *adv, *roles, *b, *conf_src;
	int ports[2];
	size_t i;

	conf = conf_load(cx, conf_path, argc, argv);
	c = yaml_load_one(cx, compose_path);
	if (!conf || cx->problems)
		goto out;
	g = rs_conf_global(conf);
	rs_snprintf(dir, sizeof(dir), "%s", compose_path);
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	else
		rs_snprintf(dir, sizeof(dir), ".");

	svcs = J(c, "services");
	for (i = 0; i < RS_ARRAY_SIZE(want); i++)
		expect(cx, J(svcs, want[i]), "service %s missing", want[i]);
	if (cx->problems)
		goto out;
	compose_refs(cx, c, dir);

	k = J(svcs, "kafka");
	expect(cx, starts_with(jstr(J(k, "image")), "apache/kafka:3.9"),
	       "kafka image is '%s', want apache/kafka:3.9.x",
	       jstr0(J(k, "image")));
	env = J(k, "environment");
	roles = jscalar(J(env, "KAFKA_PROCESS_ROLES"), got, sizeof(got));
	expect(cx, strstr(roles, "broker") && strstr(roles, "controller"),
	       "kafka is not a KRaft broker+controller (KAFKA_PROCESS_ROLES=%s)",
	       roles);
	cJSON_ArrayForEach(e, env) {
		/* environment is a map here (the schema allows a list too). */
		const char *name = cJSON_IsObject(env) ? e->string : jstr0(e);
		expect(cx, !strstr(name, "ZOOKEEPER"), "kafka mentions ZooKeeper");
	}
	adv = jstr0(J(env, "KAFKA_ADVERTISED_LISTENERS"));
	expect(cx, g->queue.backend == RS_CONF_QUEUE_KAFKA,
	       "queue.backend is not kafka");
	/* Every broker of queue.kafka.brokers is advertised by the broker. */
	b = g->queue.kafka.brokers;
	if (expect(cx, b && *b, "queue.kafka.brokers is not set")) {
		while (*b) {
			size_t n = strcspn(b, ",");
			char one[256];

			rs_snprintf(one, sizeof(one), "%.*s", (int)n, b);
			expect(cx, strstr(adv, one),
			       "queue.kafka.brokers entry %s not advertised by "
			       "kafka (%s)", one, adv);
			b += n + (b[n] == ',');
		}
	}

	w = J(svcs, "worker");
	jshow(J(w, "deploy", "replicas"), got, sizeof(got));
	expect(cx, jnum(J(w, "deploy", "replicas"), -1) == 3,
	       "worker deploy.replicas is %s, want 3", got);

	ports[0] = listen_port(cx, "planner.metrics_listen",
			       g->planner.metrics_listen);
	ports[1] = listen_port(cx, "worker.metrics_listen",
			       g->worker.metrics_listen);
	conf_src = jstr(J(c, "configs", "rostersync_conf", "file"));
	expect(cx, conf_src && !strcmp(conf_src, "./config/rostersync.conf"),
	       "configs.rostersync_conf.file is '%s'", conf_src ? conf_src : "");
	compose_role(cx, J(svcs, "planner"), "planner", ports[0]);
	compose_role(cx, J(svcs, "worker"), "worker", ports[1]);
	if (conf_src && rs_snprintf(path, sizeof(path), "%s/%s", dir, conf_src))
		compose_tenants_dir(cx, path);

	p = yaml_load_one(cx, prom_path);
	compose_prometheus(cx, c, p, ports);
out:
	cJSON_Delete(c);
	cJSON_Delete(p);
	rs_conf_destroy(conf);
}

/* ---- Dockerfile ------------------------------------------------------------ */

typedef struct {
	char *image, *name;
	buf_t ins; /* the stage's instructions, one per line */
} stage_t;

/* True when regex re matches somewhere in text (^/$ match at lines). */
static bool rx_search(const char *re, const char *text, int flags) {
	regex_t rx;
	bool hit;

	if (regcomp(&rx, re, REG_EXTENDED | REG_NOSUB | REG_NEWLINE | flags) != 0)
		return false;
	hit = regexec(&rx, text, 0, NULL, 0) == 0;
	regfree(&rx);
	return hit;
}

/* Lines of text that start with prefix; the last such line's rest goes to
 * last (NULL when none), the count is returned. */
static int lines_with(const char *text, const char *prefix, char *last,
		      size_t size) {
	const char *l = text;
	int n = 0;

	last[0] = '\0';
	while (l && *l) {
		const char *nl = strchr(l, '\n');
		size_t len = nl ? (size_t)(nl - l) : strlen(l);

		if (len >= strlen(prefix) && !strncmp(l, prefix, strlen(prefix))) {
			n++;
			rs_snprintf(last, size, "%.*s", (int)(len - strlen(prefix)),
				    l + strlen(prefix));
		}
		l = nl ? nl + 1 : NULL;
	}
	return n;
}

/* The Debian package that owns each direct NEEDED library of the binaries,
 * checked against the runtime stage's apt-get install list.  One dpkg -S
 * for all paths (it is slow per call).  dpkg knows the path the package
 * shipped: with merged /usr that may be the /lib or the /usr/lib spelling,
 * so both are asked. */
typedef struct {
	const char *binary;
	char lib[128];
	char alts[4][PATH_MAX];
	int n_alts;
} needed_t;

static void add_alt(needed_t *nd, const char *p) {
	int i;

	for (i = 0; i < nd->n_alts; i++)
		if (!strcmp(nd->alts[i], p))
			return;
	if (nd->n_alts < 4)
		rs_snprintf(nd->alts[nd->n_alts++], PATH_MAX, "%s", p);
}

static const char *base_name(const char *p) {
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

static void check_libraries(ctx_t *cx, char **binaries, int nbin,
			    const char *listed) {
	needed_t *need = rs_calloc(MAX_LIST, sizeof(*need));
	char *dpkg_argv[MAX_LIST * 4 + 3];
	char *out = NULL, *ldd = NULL, *line, *save = NULL;
	int n_need = 0, b, i, j, a = 0;

	for (b = 0; b < nbin; b++) {
		char *re_argv[] = {(char *)"readelf", (char *)"-d", binaries[b], NULL};
		char *ldd_argv[] = {(char *)"ldd", binaries[b], NULL};
		const char *l;

		rs_free(out);
		rs_free(ldd);
		if (!expect(cx, run_capture(re_argv, &out, false) == 0 &&
				    run_capture(ldd_argv, &ldd, false) == 0,
			    "%s: readelf -d / ldd failed", binaries[b]))
			continue;
		/* " 0x0000000000000001 (NEEDED)  Shared library: [libcurl.so.4]" */
		for (l = strstr(out, "(NEEDED)"); l; l = strstr(l + 1, "(NEEDED)")) {
			const char *o = strchr(l, '['), *cl = o ? strchr(o, ']') : NULL;
			needed_t *nd;
			char pat[160], path[PATH_MAX], real[PATH_MAX];
			const char *m;

			if (!o || !cl || n_need >= MAX_LIST)
				continue;
			nd = &need[n_need];
			nd->binary = binaries[b];
			rs_snprintf(nd->lib, sizeof(nd->lib), "%.*s",
				    (int)(cl - o - 1), o + 1);
			/* ldd: "\tlibcurl.so.4 => /lib/x86_64.../libcurl.so.4 (0x...)" */
			rs_snprintf(pat, sizeof(pat), "\t%s => ", nd->lib);
			m = strstr(ldd, pat);
			if (!expect(cx, m && m[strlen(pat)] == '/',
				    "%s: %s not resolved by ldd", binaries[b],
				    nd->lib))
				continue;
			m += strlen(pat);
			rs_snprintf(path, sizeof(path), "%.*s", (int)strcspn(m, " \n"), m);
			add_alt(nd, path);
			if (realpath(path, real))
				add_alt(nd, real);
			for (i = 0, j = nd->n_alts; i < j; i++) {
				char alt[PATH_MAX];

				if (starts_with(nd->alts[i], "/usr/"))
					rs_snprintf(alt, sizeof(alt), "%s", nd->alts[i] + 4);
				else
					rs_snprintf(alt, sizeof(alt), "/usr%s", nd->alts[i]);
				add_alt(nd, alt);
			}
			for (i = 0; i < nd->n_alts && a < (int)RS_ARRAY_SIZE(dpkg_argv) - 3; i++)
				dpkg_argv[2 + a++] = nd->alts[i];
			n_need++;
		}
	}
	rs_free(out);
	out = NULL;
	if (n_need > 0) {
		dpkg_argv[0] = (char *)"dpkg";
		dpkg_argv[1] = (char *)"-S";
		dpkg_argv[2 + a] = NULL;
		/* dpkg -S exits 1 when some spelling is unknown: expected. */
		run_capture(dpkg_argv, &out, true);
	}
	for (i = 0; i < n_need; i++) {
		needed_t *nd = &need[i];
		char pkg[128] = "";

		/* "libcurl4:amd64: /usr/lib/x86_64-linux-gnu/libcurl.so.4" */
		for (j = 0; j < nd->n_alts && !pkg[0]; j++) {
			char *copy = rs_strdup(out ? out : "");

			save = NULL;
			for (line = strtok_r(copy, "\n", &save); line;
			     line = strtok_r(NULL, "\n", &save)) {
				char *sep = strstr(line, ": ");

				if (!sep || strcmp(sep + 2, nd->alts[j]))
					continue;
				*sep = '\0';
				line[strcspn(line, ":,")] = '\0';
				rs_snprintf(pkg, sizeof(pkg), "%s", line);
				break;
			}
			rs_free(copy);
		}
		if (!expect(cx, pkg[0], "%s: no Debian package owns %s",
			    nd->binary, nd->lib))
			continue;
		/* libc6 is Essential in every Debian image; sanitizer runtimes
		 * appear only in the ASan/UBSan test build, never in the image. */
		if (rx_search("^lib(asan|ubsan|tsan|lsan)", nd->lib, 0) ||
		    !strcmp(pkg, "libc6"))
			continue;
		{
			char word[160];
			rs_snprintf(word, sizeof(word), " %s ", pkg);
			expect(cx, strstr(listed, word),
			       "%s needs %s from %s, not installed in the runtime "
			       "stage", base_name(nd->binary), nd->lib, pkg);
		}
	}
	rs_free(out);
	rs_free(ldd);
	rs_free(need);
}

static void check_dockerfile(ctx_t *cx, const char *path, char **binaries,
			     int nbin) {
	char *text = read_file(path), *src, *dst, *line, *save = NULL;
	stage_t st[16];
	int n_st = 0, i;
	char build_copy[256], user[128], hc[1024], listed[4096] = " ";
	size_t nl = 1;
	const char *r, *apt;
	regex_t from;
	regmatch_t m[4];

	memset(st, 0, sizeof(st));
	if (!expect(cx, text, "cannot read %s", path))
		return;
	/* Join continuation lines so each instruction is one line. */
	for (src = dst = text; *src; src++) {
		if (src[0] == '\\' && src[1] == '\n') {
			*dst++ = ' ';
			src++;
		} else {
			*dst++ = *src;
		}
	}
	*dst = '\0';
	rs_assert(regcomp(&from, "^FROM[[:space:]]+([^[:space:]]+)([[:space:]]+AS"
			  "[[:space:]]+([^[:space:]]+))?", REG_EXTENDED | REG_ICASE) == 0);
	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		size_t len;

		while (*line == ' ' || *line == '\t')
			line++;
		len = strlen(line);
		while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t' ||
				   line[len - 1] == '\r'))
			line[--len] = '\0';
		if (!*line || *line == '#')
			continue;
		if (regexec(&from, line, 4, m, 0) == 0) {
			if (!expect(cx, n_st < (int)RS_ARRAY_SIZE(st), "too many stages"))
				break;
			st[n_st].image = rs_strndup(line + m[1].rm_so,
						    (size_t)(m[1].rm_eo - m[1].rm_so));
			st[n_st].name = m[3].rm_so >= 0
				? rs_strndup(line + m[3].rm_so,
					     (size_t)(m[3].rm_eo - m[3].rm_so))
				: rs_strdup("");
			buf_add(&st[n_st].ins, "", 0);
			n_st++;
		} else if (n_st > 0) {
			buf_add(&st[n_st - 1].ins, line, strlen(line));
			buf_add(&st[n_st - 1].ins, "\n", 1);
		}
	}
	regfree(&from);
	if (!expect(cx, n_st >= 2, "not a multi-stage build"))
		goto out;
	for (i = 0; i < n_st; i++)
		expect(cx, starts_with(st[i].image, "debian:bookworm"),
		       "stage %s is not Debian bookworm (%s)", st[i].name,
		       st[i].image);
	expect(cx, rx_search("^RUN scripts/install-deps([[:space:]]|$)",
			     st[0].ins.p, 0),
	       "build stage does not run scripts/install-deps");
	expect(cx, rx_search("^RUN scripts/build([[:space:]].*)?--prefix "
			     "/opt/rostersync", st[0].ins.p, 0),
	       "build stage does not run scripts/build --prefix /opt/rostersync");
	r = st[n_st - 1].ins.p;
	rs_snprintf(build_copy, sizeof(build_copy),
		    "COPY --from=%s /opt/rostersync /opt/rostersync", st[0].name);
	expect(cx, st[0].name[0] && lines_with(r, build_copy, hc, sizeof(hc)) > 0,
	       "runtime stage does not copy /opt/rostersync from the build stage");
	expect(cx, !rx_search("-dev([^a-z0-9_]|$)|(^|[^a-z0-9_])gcc([^a-z0-9_]|$)"
			      "|cmake", r, 0),
	       "runtime stage installs build tools or -dev packages");
	/* The last USER wins; Kubernetes runAsNonRoot needs a numeric uid. */
	if (expect(cx, lines_with(r, "USER ", user, sizeof(user)) > 0,
		   "runtime stage does not end as a non-root user (no USER)")) {
		user[strcspn(user, ": \t")] = '\0';
		expect(cx, strcmp(user, "0") && strcmp(user, "root"),
		       "runtime stage does not end as a non-root user (%s)", user);
		expect(cx, all_digits(user),
		       "USER is not numeric (Kubernetes runAsNonRoot needs a uid)");
	}
	expect(cx, lines_with(r, "HEALTHCHECK ", hc, sizeof(hc)) > 0 &&
		       strstr(hc, "/healthz"),
	       "no HEALTHCHECK on /healthz");
	/* The package list: from "apt-get install" up to the next "&". */
	apt = strstr(r, "apt-get install");
	if (!expect(cx, apt, "runtime stage installs no packages"))
		goto out;
	/* Kept as " word word ... " so a package matches as " name ". */
	for (apt += strlen("apt-get install"); *apt && *apt != '&'; apt++) {
		if (nl + 2 >= sizeof(listed))
			break;
		listed[nl++] = (*apt == '\n' || *apt == '\t' || *apt == '\\')
			       ? ' ' : *apt;
	}
	listed[nl++] = ' ';
	listed[nl] = '\0';
	check_libraries(cx, binaries, nbin, listed);
out:
	for (i = 0; i < n_st; i++) {
		rs_free(st[i].image);
		rs_free(st[i].name);
		rs_free(st[i].ins.p);
	}
	rs_free(text);
}

/* ---- Kubernetes ------------------------------------------------------------ */

/* Every document of every deploy/k8s YAML file but the Kustomization, in file
 * name order (the order kubectl -k does not care about, but messages do). */
static cJSON *k8s_docs(ctx_t *cx, const char *dir) {
	struct dirent **ents = NULL;
	char *paths[MAX_LIST];
	size_t n = 0;
	int ne, i;
	cJSON *docs;

	ne = scandir(dir, &ents, NULL, alphasort);
	for (i = 0; i < ne; i++) {
		const char *nm = ents[i]->d_name;
		size_t l = strlen(nm);

		if (l > 5 && !strcmp(nm + l - 5, ".yaml") &&
		    strcmp(nm, "kustomization.yaml") && n < MAX_LIST) {
			paths[n] = rs_malloc(strlen(dir) + l + 2);
			rs_snprintf(paths[n], strlen(dir) + l + 2, "%s/%s", dir, nm);
			n++;
		}
		free(ents[i]); /* checksrc: allow (scandir's own allocation) */
	}
	free(ents); /* checksrc: allow (scandir's own allocation) */
	if (!expect(cx, n > 0, "no *.yaml in %s", dir))
		return cJSON_CreateArray();
	docs = yaml_load(cx, (const char *const *)paths, n);
	while (n > 0)
		rs_free(paths[--n]);
	return docs ? docs : cJSON_CreateArray();
}

/* The i-th (0-based) document of a kind (and name, unless NULL). */
static const cJSON *find(const cJSON *docs, const char *kind,
			 const char *name, int i) {
	const cJSON *d;

	cJSON_ArrayForEach(d, docs) {
		if (jstr_eq(J(d, "kind"), kind) &&
		    (!name || jstr_eq(J(d, "metadata", "name"), name)) && i-- == 0)
			return d;
	}
	return NULL;
}

static int count(const cJSON *docs, const char *kind) {
	int n = 0;

	while (find(docs, kind, NULL, n))
		n++;
	return n;
}

/* Writes data to OUT/path, with /etc/rostersync/ paths inside rewritten to
 * OUT/etc/rostersync/, so rostersync-confdoc --check can load the tree. */
static void fs_write(ctx_t *cx, const char *out, const char *path,
		     const char *data) {
	static const char from[] = "/etc/rostersync/";
	char full[PATH_MAX];
	const char *p, *hit;
	FILE *fp;

	if (!expect(cx, rs_snprintf(full, sizeof(full), "%s%s", out, path) &&
			    mkdirs_for(full) && (fp = fopen(full, "w")) != NULL,
		    "cannot write %s%s", out, path))
		return;
	for (p = data; (hit = strstr(p, from)) != NULL; p = hit + strlen(from)) {
		fwrite(p, 1, (size_t)(hit - p), fp);
		fprintf(fp, "%s%s", out, from);
	}
	fputs(p, fp);
	expect(cx, fclose(fp) == 0, "cannot write %s", full);
}

/* Lays out what the deployment's container sees under its volume mounts
 * (ConfigMaps, whole or by subPath; projected Secrets by item) below OUT,
 * so rostersync-confdoc --check loads the config exactly as the pod would.
 * A mount of something else is a problem: the layout would be partial. */
static void k8s_fs(ctx_t *cx, const char *dir, const char *deployment,
		   const char *out) {
	cJSON *docs = k8s_docs(cx, dir);
	const cJSON *dep = find(docs, "Deployment", deployment, 0);
	const cJSON *spec = J(dep, "spec", "template", "spec"), *m, *v, *src, *it;
	const cJSON *c0 = cJSON_GetArrayItem(J(spec, "containers"), 0);
	char p[PATH_MAX];

	if (!expect(cx, dep && c0, "Deployment %s (with a container) missing",
		    deployment))
		goto out;
	cJSON_ArrayForEach(m, J(c0, "volumeMounts")) {
		const char *vname = jstr0(J(m, "name")), *mp = jstr0(J(m, "mountPath"));
		const cJSON *data, *d, *vols = J(spec, "volumes");

		v = NULL;
		cJSON_ArrayForEach(d, vols) {
			if (jstr_eq(J(d, "name"), vname))
				v = d;
		}
		if (!expect(cx, v, "%s: volume %s not declared", deployment, vname))
			continue;
		if (J(v, "configMap")) {
			const cJSON *cm = find(docs, "ConfigMap",
					       jstr0(J(v, "configMap", "name")), 0);

			data = J(cm, "data");
			if (!expect(cx, cm, "%s: ConfigMap %s missing", deployment,
				    jstr0(J(v, "configMap", "name"))))
				continue;
			if (jstr(J(m, "subPath"))) {
				const char *val = jstr(J(data, jstr(J(m, "subPath"))));

				if (expect(cx, val, "ConfigMap %s has no key %s",
					   jstr0(J(cm, "metadata", "name")),
					   jstr(J(m, "subPath"))))
					fs_write(cx, out, mp, val);
				continue;
			}
			cJSON_ArrayForEach(d, data) {
				if (rs_snprintf(p, sizeof(p), "%s/%s", mp, d->string))
					fs_write(cx, out, p, jstr0(d));
			}
		} else if (J(v, "projected")) {
			cJSON_ArrayForEach(src, J(v, "projected", "sources")) {
				const char *sn = jstr0(J(src, "secret", "name"));
				const cJSON *s = find(docs, "Secret", sn, 0);

				if (!expect(cx, s, "%s: projected Secret '%s' missing",
					    deployment, sn))
					continue;
				cJSON_ArrayForEach(it, J(src, "secret", "items")) {
					const char *k = jstr0(J(it, "key"));
					const cJSON *val = J(s, "stringData", k);

					expect(cx, jstr(val), "Secret %s has no key %s", sn, k);
					if (rs_snprintf(p, sizeof(p), "%s/%s", mp,
							jstr0(J(it, "path"))))
						fs_write(cx, out, p, jstr0(val));
				}
			}
		} else if (starts_with(mp, "/etc/rostersync")) {
			problem(cx, "%s: %s is neither a ConfigMap nor a projected "
				"volume", deployment, mp);
		}
	}
out:
	cJSON_Delete(docs);
}

/* The kafka scaler's trigger parameters, from the struct tags of KEDA's
 * pkg/scalers/kafka_scaler.go (scripts/install-deps extracts the lines):
 *   Field  type  `keda:"name=lagThreshold,order=triggerMetadata,default=10"` */
typedef struct {
	char name[64], type[64], order[128], en[256];
	bool optional, has_default;
} tag_t;

static int keda_tags(ctx_t *cx, const char *path, tag_t *tags, int max) {
	char *text = read_file(path), *line, *save = NULL;
	int n = 0;

	if (!expect(cx, text, "cannot read %s", path))
		return 0;
	for (line = strtok_r(text, "\n", &save); line && n < max;
	     line = strtok_r(NULL, "\n", &save)) {
		char field[64], *k = strstr(line, "`keda:\"name="), *opt, *osave = NULL;
		tag_t *t = &tags[n];

		memset(t, 0, sizeof(*t));
		if (!k || sscanf(line, " %63s %63s", field, t->type) != 2)
			continue;
		k += strlen("`keda:\"");
		k[strcspn(k, "\"")] = '\0';
		/* name=x,order=a;b,optional,default=v,enum=p;q */
		for (opt = strtok_r(k, ",", &osave); opt;
		     opt = strtok_r(NULL, ",", &osave)) {
			while (*opt == ' ')
				opt++;
			if (starts_with(opt, "name="))
				rs_snprintf(t->name, sizeof(t->name), "%s", opt + 5);
			else if (starts_with(opt, "order="))
				rs_snprintf(t->order, sizeof(t->order), "%s", opt + 6);
			else if (starts_with(opt, "enum="))
				rs_snprintf(t->en, sizeof(t->en), ";%s;", opt + 5);
			else if (starts_with(opt, "default"))
				t->has_default = true;
			else if (!strcmp(opt, "optional"))
				t->optional = true;
		}
		if (t->name[0])
			n++;
	}
	rs_free(text);
	expect(cx, n > 5, "%s: only %d kafka trigger parameters", path, n);
	return n;
}

/* KEDA's CRD types trigger metadata as map[string]string, so its schema
 * accepts any key: check keys, types and enums against the scaler. */
static void check_trigger(ctx_t *cx, const cJSON *md, const tag_t *tags,
			  int n) {
	const cJSON *kv;
	int i;

	cJSON_ArrayForEach(kv, md) {
		const tag_t *t = NULL;
		const char *v = jstr0(kv);
		char semi[300];

		for (i = 0; i < n; i++)
			if (!strcmp(tags[i].name, kv->string))
				t = &tags[i];
		if (!expect(cx, t && strstr(t->order, "triggerMetadata"),
			    "kafka trigger: unknown metadata key '%s'", kv->string))
			continue;
		expect(cx, jstr(kv), "kafka trigger: %s is not a string", kv->string);
		if (!strcmp(t->type, "int") || !strcmp(t->type, "int64") ||
		    !strcmp(t->type, "int32"))
			expect(cx, all_digits(v[0] == '-' ? v + 1 : v),
			       "kafka trigger: %s='%s' is not an integer",
			       kv->string, v);
		else if (!strcmp(t->type, "bool"))
			expect(cx, !strcmp(v, "true") || !strcmp(v, "false"),
			       "kafka trigger: %s='%s' is not true/false",
			       kv->string, v);
		rs_snprintf(semi, sizeof(semi), ";%s;", v);
		if (t->en[0])
			expect(cx, !strchr(v, ';') && strstr(t->en, semi),
			       "kafka trigger: %s='%s' not in %s", kv->string, v,
			       t->en);
	}
	for (i = 0; i < n; i++)
		if (strstr(tags[i].order, "triggerMetadata") && !tags[i].optional &&
		    !tags[i].has_default && !strstr(tags[i].order, "authParams"))
			expect(cx, J(md, tags[i].name),
			       "kafka trigger: required metadata '%s' missing",
			       tags[i].name);
}

/* Ports, probes, annotations and security of one role's Deployment. */
static void k8s_role(ctx_t *cx, const cJSON *docs, const char *role, int port) {
	char name[64], want[64], got[512];
	const cJSON *dep, *pod, *spec, *c, *p, *m, *res;
	int metrics = -1, i;
	static const char *const probes[][2] = {{"livenessProbe", "/healthz"},
						{"readinessProbe", "/readyz"}};

	rs_snprintf(name, sizeof(name), "rostersync-%s", role);
	dep = find(docs, "Deployment", name, 0);
	if (!expect(cx, dep, "Deployment %s missing", name))
		return;
	pod = J(dep, "spec", "template");
	spec = J(pod, "spec");
	c = cJSON_GetArrayItem(J(spec, "containers"), 0);
	expect(cx, jstrs_start(J(c, "args"), 3, name, "-c",
			       "/etc/rostersync/rostersync.conf"),
	       "%s args do not start with %s -c /etc/rostersync/rostersync.conf",
	       role, name);
	cJSON_ArrayForEach(p, J(c, "ports")) {
		if (jstr_eq(J(p, "name"), "metrics"))
			metrics = (int)jnum(J(p, "containerPort"), -1);
	}
	expect(cx, metrics == port, "%s containerPort metrics is %d, config "
	       "listens on %d", role, metrics, port);
	for (i = 0; i < 2; i++) {
		const cJSON *g = J(c, probes[i][0], "httpGet"), *gp = J(g, "port");
		int pp = jstr_eq(gp, "metrics") ? metrics : (int)jnum(gp, -1);

		jshow(g, got, sizeof(got));
		expect(cx, jstr_eq(J(g, "path"), probes[i][1]) && pp == port,
		       "%s %s is %s, want GET %s on %d", role, probes[i][0], got,
		       probes[i][1], port);
	}
	rs_snprintf(want, sizeof(want), "%d", port);
	expect(cx, jstr_eq(J(pod, "metadata", "annotations", "prometheus.io/port"),
			   want),
	       "%s prometheus.io/port annotation is not %d", role, port);
	expect(cx, cJSON_IsTrue(J(spec, "securityContext", "runAsNonRoot")) &&
		       jnum(J(spec, "securityContext", "runAsUser"), 0) > 0,
	       "%s pod does not run as non-root", role);
	expect(cx, cJSON_IsTrue(J(c, "securityContext", "readOnlyRootFilesystem")),
	       "%s root fs is writable", role);
	expect(cx, cJSON_IsFalse(J(c, "securityContext",
				  "allowPrivilegeEscalation")),
	       "%s may escalate", role);
	expect(cx, jarray_has_str(J(c, "securityContext", "capabilities", "drop"),
				  "ALL"),
	       "%s keeps capabilities", role);
	res = J(c, "resources");
	expect(cx, J(res, "requests", "cpu") && J(res, "requests", "memory") &&
		       J(res, "limits", "cpu") && J(res, "limits", "memory"),
	       "%s lacks cpu/memory requests or limits", role);
	expect(cx, cJSON_IsFalse(J(spec, "automountServiceAccountToken")),
	       "%s mounts a service account token", role);
	cJSON_ArrayForEach(m, J(c, "volumeMounts")) {
		if (starts_with(jstr(J(m, "mountPath")), "/etc/rostersync"))
			expect(cx, cJSON_IsTrue(J(m, "readOnly")),
			       "%s mounts %s writable", role, jstr(J(m, "mountPath")));
	}
}

/* Walks a tenant file (libconfig): collects ids, checks every
 * /etc/rostersync path it names exists in both pods' file trees, and that
 * no secret is inline.  Sensitive keys come from rostersync's own tenant
 * table (RS_CONF_SENSITIVE), plus the names the Python-era check used. */
typedef struct {
	const char *key, *roots[2];
	char ids[4][RS_CONF_MAX_TENANT_ID + 1];
	int n_ids;
} walk_t;

static void tenant_walk(ctx_t *cx, walk_t *w, const config_setting_t *s,
			const char *path) {
	int i, n = config_setting_length(s);
	const char *nm = config_setting_name(s), *v;
	char sub[512];

	if (config_setting_is_aggregate(s)) {
		for (i = 0; i < n; i++) {
			const config_setting_t *ch = config_setting_get_elem(s, (unsigned)i);
			const char *cn = config_setting_name(ch);

			rs_snprintf(sub, sizeof(sub), "%s%s%s", path,
				    path[0] && cn ? "." : "", cn ? cn : "");
			tenant_walk(cx, w, ch, sub);
		}
		return;
	}
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return;
	v = config_setting_get_string(s);
	if (nm && !strcmp(nm, "id") && w->n_ids < 4)
		rs_snprintf(w->ids[w->n_ids++], sizeof(w->ids[0]), "%s", v);
	if (starts_with(v, "/etc/rostersync/") ||
	    starts_with(v, "file:/etc/rostersync/")) {
		const char *fp = strchr(v, '/');
		char full[PATH_MAX];

		for (i = 0; i < 2; i++)
			expect(cx, rs_snprintf(full, sizeof(full), "%s%s",
					       w->roots[i], fp) && is_file(full),
			       "%s: %s is not mounted in the %s", w->key, fp,
			       i ? "worker" : "planner");
	}
	if (nm) {
		const rs_conf_prop_t *p = rs_conf_prop_find(RS_CONF_SCOPE_TENANT, path);
		bool sensitive = (p && (p->flags & RS_CONF_SENSITIVE)) ||
				 !strcmp(nm, "client_secret") ||
				 !strcmp(nm, "pfx_password") || !strcmp(nm, "key");

		if (sensitive)
			expect(cx, starts_with(v, "file:") || starts_with(v, "env:"),
			       "%s: a secret is inline (%s), not a file:/env: "
			       "reference", w->key, path);
	}
}

/* One ConfigMap key per customer, holding exactly the tenant it is named
 * after, with its Secret; everything it references is mounted. */
static void k8s_tenants(ctx_t *cx, const cJSON *docs, const char *fs_planner,
			const char *fs_worker) {
	const cJSON *tn = find(docs, "ConfigMap", "rostersync-tenants", 0), *d;

	if (!expect(cx, tn, "ConfigMap rostersync-tenants missing"))
		return;
	cJSON_ArrayForEach(d, J(tn, "data")) {
		walk_t w;
		config_t cfg;
		char id[128], sec[160];
		size_t l = strlen(d->string);

		memset(&w, 0, sizeof(w));
		w.key = d->string;
		w.roots[0] = fs_planner;
		w.roots[1] = fs_worker;
		rs_snprintf(id, sizeof(id), "%.*s", (int)(l > 5 ? l - 5 : 0), d->string);
		config_init(&cfg);
		if (expect(cx, config_read_string(&cfg, jstr0(d)) == CONFIG_TRUE,
			   "tenant key %s: line %d: %s", d->string,
			   config_error_line(&cfg), config_error_text(&cfg)))
			tenant_walk(cx, &w, config_root_setting(&cfg), "");
		config_destroy(&cfg);
		expect(cx, l > 5 && !strcmp(d->string + l - 5, ".conf") &&
			       w.n_ids == 1 && !strcmp(w.ids[0], id),
		       "tenant key %s holds %d tenant ids (first '%s'; want one, "
		       "named like the key)", d->string, w.n_ids, w.ids[0]);
		rs_snprintf(sec, sizeof(sec), "rostersync-tenant-%s", id);
		expect(cx, find(docs, "Secret", sec, 0), "no Secret %s", sec);
	}
}

static void check_k8s(ctx_t *cx, char **a, int argc, char **argv) {
	cJSON *docs = NULL;
	rs_conf_t *conf = conf_load(cx, a[1], argc, argv);
	const rs_conf_global_t *g;
	const cJSON *w, *so, *s, *t, *trig = NULL, *md;
	tag_t tags[64];
	int ports[2], ntags, tgp;

	if (!conf)
		return;
	g = rs_conf_global(conf);
	docs = k8s_docs(cx, a[0]);
	ports[0] = listen_port(cx, "planner.metrics_listen",
			       g->planner.metrics_listen);
	ports[1] = listen_port(cx, "worker.metrics_listen",
			       g->worker.metrics_listen);
	k8s_role(cx, docs, "planner", ports[0]);
	k8s_role(cx, docs, "worker", ports[1]);

	w = find(docs, "Deployment", "rostersync-worker", 0);
	if (w) {
		expect(cx, !J(w, "spec", "replicas"),
		       "worker Deployment sets replicas (KEDA owns them)");
		tgp = (int)jnum(J(w, "spec", "template", "spec",
				  "terminationGracePeriodSeconds"), 30);
		expect(cx, (int64_t)tgp * 1000 > g->worker.shutdown_timeout_ms,
		       "worker terminationGracePeriodSeconds %d <= "
		       "worker.shutdown_timeout %lld ms", tgp,
		       (long long)g->worker.shutdown_timeout_ms);
	}

	if (expect(cx, count(docs, "ScaledObject") == 1,
		   "want one KEDA ScaledObject, found %d",
		   count(docs, "ScaledObject"))) {
		so = find(docs, "ScaledObject", NULL, 0);
		s = J(so, "spec");
		expect(cx, jstr_eq(J(s, "scaleTargetRef", "name"), "rostersync-worker") &&
			       (!J(s, "scaleTargetRef", "kind") ||
				jstr_eq(J(s, "scaleTargetRef", "kind"), "Deployment")),
		       "ScaledObject does not target the worker Deployment");
		cJSON_ArrayForEach(t, J(s, "triggers")) {
			if (!trig && jstr_eq(J(t, "type"), "kafka"))
				trig = t;
		}
		if (expect(cx, trig, "ScaledObject has no kafka trigger")) {
			md = J(trig, "metadata");
			expect(cx, jstr_eq(J(md, "consumerGroup"), g->worker.group_id),
			       "KEDA consumerGroup '%s' != worker.group_id '%s'",
			       jstr0(J(md, "consumerGroup")), g->worker.group_id);
			expect(cx, jstr_eq(J(md, "topic"),
					   g->queue.kafka.topics.jobs_group),
			       "KEDA topic '%s' != queue.kafka.topics.jobs_group '%s'",
			       jstr0(J(md, "topic")), g->queue.kafka.topics.jobs_group);
			ntags = keda_tags(cx, a[4], tags, (int)RS_ARRAY_SIZE(tags));
			check_trigger(cx, md, tags, ntags);
			expect(cx, jstr_eq(J(md, "bootstrapServers"),
					   g->queue.kafka.brokers),
			       "KEDA bootstrapServers '%s' != queue.kafka.brokers '%s'",
			       jstr0(J(md, "bootstrapServers")),
			       g->queue.kafka.brokers ? g->queue.kafka.brokers : "");
		}
		/* A consumer group cannot use more consumers than partitions. */
		expect(cx, jnum(J(s, "maxReplicaCount"), 100) > 0 &&
			       jnum(J(s, "maxReplicaCount"), 100) <=
				       g->queue.kafka.partitions,
		       "maxReplicaCount %g exceeds the %d partitions",
		       jnum(J(s, "maxReplicaCount"), 100), g->queue.kafka.partitions);
	}
	k8s_tenants(cx, docs, a[2], a[3]);
	cJSON_Delete(docs);
	rs_conf_destroy(conf);
}

/* ---- main ---------------------------------------------------------------- */

static int usage(void) {
	fputs("usage: check_deploy conf-get CONF KEY [-X key=value ...]\n"
	      "       check_deploy compose COMPOSE_YAML PROMETHEUS_YML CONF "
	      "[-X key=value ...]\n"
	      "       check_deploy dockerfile DOCKERFILE BINARY...\n"
	      "       check_deploy k8s-fs K8S_DIR DEPLOYMENT OUT\n"
	      "       check_deploy k8s K8S_DIR CONF FSROOT_PLANNER FSROOT_WORKER "
	      "KEDA_TAGS [-X key=value ...]\n"
	      "YAML is read through the yq binary named by RS_YQ.\n",
	      stderr);
	return 2;
}

int main(int argc, char **argv) {
	ctx_t cx = {0, getenv("RS_YQ")};
	const char *cmd = argc > 1 ? argv[1] : "";
	char val[4096];
	rs_conf_t *conf;

	if (!strcmp(cmd, "conf-get") && argc >= 4) {
		conf = conf_load(&cx, argv[2], argc - 4, argv + 4);
		if (!conf)
			return 1;
		if (!conf_get(conf, argv[3], val, sizeof(val)))
			problem(&cx, "%s: no value for %s", argv[2], argv[3]);
		else
			puts(val);
		rs_conf_destroy(conf);
	} else if (!strcmp(cmd, "compose") && argc >= 5) {
		check_compose(&cx, argv[2], argv[3], argv[4], argc - 5, argv + 5);
	} else if (!strcmp(cmd, "dockerfile") && argc >= 4) {
		check_dockerfile(&cx, argv[2], argv + 3, RS_MIN(argc - 3, 32));
	} else if (!strcmp(cmd, "k8s-fs") && argc == 5) {
		k8s_fs(&cx, argv[2], argv[3], argv[4]);
	} else if (!strcmp(cmd, "k8s") && argc >= 7) {
		check_k8s(&cx, argv + 2, argc - 7, argv + 7);
	} else {
		return usage();
	}
	return cx.problems ? 1 : 0;
}
