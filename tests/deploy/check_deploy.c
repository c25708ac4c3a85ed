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
 *
 * This file: utilities, YAML and config loading, conf-get, compose,
 * dockerfile and main; the Kubernetes subcommands are in
 * check_deploy_k8s.c (shared declarations: check_deploy.h).
 */
#include "rs/rs_base.h"
#include "check_deploy.h"

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

void rs_dc_problem(rs_dc_t *cx, const char *fmt, ...) {
	va_list ap;

	va_start(ap, fmt);
	fputs("problem: ", stdout);
	vprintf(fmt, ap);
	fputc('\n', stdout);
	va_end(ap);
	cx->problems++;
}

/* ---- small utilities ------------------------------------------------- */

/* A growable byte buffer with a hard maximum (STYLE.md 9). */
typedef struct {
	char *p;
	size_t len, cap;
} buf_t;

static bool buf_add(buf_t *b, const char *s, size_t n) {
	if (b->len + n + 1 > RS_DC_MAX_READ)
		return false;
	if (b->len + n + 1 > b->cap) {
		size_t cap = RS_MAX(b->cap * 2, b->len + n + 1);
		b->p = rs_realloc(b->p, RS_MIN(cap, (size_t)RS_DC_MAX_READ));
		b->cap = RS_MIN(cap, (size_t)RS_DC_MAX_READ);
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return true;
}

char *rs_dc_read_file(const char *path) {
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

bool rs_dc_is_file(const char *path) {
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

bool rs_dc_mkdirs_for(const char *path) {
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
 * or its output exceeded RS_DC_MAX_READ.  quiet: stderr to /dev/null. */
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

/* Reads YAML files through yq: a JSON array of every non-empty document of
 * every file, in order, with aliases and merge keys (<<) resolved as the
 * YAML spec says.  NULL (after a problem) when yq fails. */
cJSON *rs_dc_yaml_load(rs_dc_t *cx, const char *const *paths, size_t n) {
	char *argv[RS_DC_MAX_LIST + 8];
	size_t i, a = 0;
	char *out = NULL;
	cJSON *docs = NULL;
	int rc;

	if (!EXPECT(cx, cx->yq && *cx->yq, "RS_YQ is not set (the yq binary)"))
		return NULL;
	rs_assert(n <= RS_DC_MAX_LIST);
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
	if (EXPECT(cx, rc == 0, "yq could not read %s%s (exit %d)", paths[0],
		   n > 1 ? " and others" : "", rc))
		docs = cJSON_Parse(out);
	if (rc == 0)
		EXPECT(cx, cJSON_IsArray(docs), "yq output for %s is not a "
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
static cJSON *yaml_load_one(rs_dc_t *cx, const char *path) {
	cJSON *docs = rs_dc_yaml_load(cx, &path, 1);
	cJSON *first;

	if (!docs)
		return cJSON_CreateObject();
	first = cJSON_DetachItemFromArray(docs, 0);
	cJSON_Delete(docs);
	return first ? first : cJSON_CreateObject();
}

/* ---- configuration ------------------------------------------------------ */

/* Loads CONF with the "-X key=value" arguments that follow it. */
rs_conf_t *rs_dc_conf_load(rs_dc_t *cx, const char *path, int argc,
			   char **argv) {
	const char *ov[RS_DC_MAX_OVERRIDES];
	size_t n = 0;
	char err[8192];
	rs_conf_t *conf;
	int i;

	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "-X") || i + 1 >= argc ||
		    n >= RS_ARRAY_SIZE(ov)) {
			rs_dc_problem(cx, "bad argument %s (want -X key=value)", argv[i]);
			return NULL;
		}
		ov[n++] = argv[++i];
	}
	conf = rs_conf_load(path, ov, n, err, sizeof(err));
	if (!conf)
		rs_dc_problem(cx, "%s does not load: %s", path, err);
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
int rs_dc_listen_port(rs_dc_t *cx, const char *key, const char *v) {
	const char *colon = v ? strrchr(v, ':') : NULL;
	size_t hl;

	if (!EXPECT(cx, colon, "%s is not HOST:PORT (%s)", key, v ? v : "unset"))
		return -1;
	hl = (size_t)(colon - v);
	EXPECT(cx, hl == 0 || (hl == 7 && !strncmp(v, "0.0.0.0", 7)) ||
		   (hl == 1 && v[0] == '*'),
	       "%s listens on %.*s: unreachable from outside the container", key,
	       (int)hl, v);
	return all_digits(colon + 1) ? (int)strtol(colon + 1, NULL, 10) : -1;
}

/* ---- compose ------------------------------------------------------------ */

/* References the schema cannot check (what `docker compose config` would
 * reject): named volumes, configs and depends_on targets exist, and the
 * files behind configs are there. */
static void compose_refs(rs_dc_t *cx, const cJSON *c, const char *dir) {
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
				EXPECT(cx, J(c, "volumes", src),
				       "%s uses volume '%s', not declared in volumes:",
				       sv->string, src);
		}
		cJSON_ArrayForEach(cf, J(sv, "configs")) {
			const char *src = cJSON_IsObject(cf) ? jstr0(J(cf, "source"))
							     : jstr0(cf);
			EXPECT(cx, J(c, "configs", src),
			       "%s uses config '%s', not declared in configs:",
			       sv->string, src);
		}
		/* depends_on: a list of names or a map name -> condition. */
		cJSON_ArrayForEach(d, J(sv, "depends_on")) {
			const char *name = cJSON_IsObject(J(sv, "depends_on"))
						   ? d->string : jstr0(d);
			EXPECT(cx, J(svcs, name),
			       "%s depends on unknown service '%s'", sv->string, name);
		}
	}
	cJSON_ArrayForEach(cf, J(c, "configs")) {
		const char *file = jstr(J(cf, "file"));

		if (file)
			EXPECT(cx, rs_snprintf(path, sizeof(path), "%s/%s", dir, file) &&
				       rs_dc_is_file(path),
			       "config %s: file %s does not exist", cf->string, file);
	}
}

/* The planner's and worker's services: config mount, command, metrics
 * port, hardening, tenants volume, start order. */
static void compose_role(rs_dc_t *cx, const cJSON *s, const char *name,
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
	EXPECT(cx, mounted, "%s does not mount rostersync_conf at "
	       "/etc/rostersync/rostersync.conf", name);
	rs_snprintf(exe, sizeof(exe), "rostersync-%s", name);
	EXPECT(cx, jstrs_start(J(s, "command"), 3, exe, "-c",
			       "/etc/rostersync/rostersync.conf"),
	       "%s command does not start with %s -c "
	       "/etc/rostersync/rostersync.conf", name, exe);
	rs_snprintf(pbuf, sizeof(pbuf), "%d", port);
	cJSON_ArrayForEach(x, J(s, "expose")) {
		if (!strcmp(jscalar(x, sbuf, sizeof(sbuf)), pbuf))
			exposed = true;
	}
	EXPECT(cx, exposed, "%s does not expose its metrics port %d", name, port);
	EXPECT(cx, !strcmp(jscalar(J(s, "environment", "RS_METRICS_PORT"), sbuf,
				   sizeof(sbuf)), pbuf),
	       "%s RS_METRICS_PORT (HEALTHCHECK) is not %d", name, port);
	EXPECT(cx, cJSON_IsTrue(J(s, "read_only")),
	       "%s root filesystem is not read-only", name);
	EXPECT(cx, jarray_has_str(J(s, "cap_drop"), "ALL"),
	       "%s keeps capabilities", name);
	cJSON_ArrayForEach(x, J(s, "volumes")) {
		if (jstr_eq(J(x, "source"), "tenants"))
			tenants = true;
	}
	EXPECT(cx, tenants, "%s does not mount the tenants volume", name);
	/* Compose waits for the broker before starting rostersync. */
	dep = J(s, "depends_on");
	EXPECT(cx, cJSON_IsObject(dep) &&
		       jstr_eq(J(dep, "kafka", "condition"), "service_healthy"),
	       "%s does not wait for a healthy kafka", name);
}

/* tenants_dir as written in the main file compose mounts (the loaded
 * configuration has it overridden to the example tenants). */
static void compose_tenants_dir(rs_dc_t *cx, const char *conf_path) {
	config_t cfg;
	const char *td = NULL;

	config_init(&cfg);
	if (config_read_file(&cfg, conf_path) != CONFIG_TRUE)
		rs_dc_problem(cx, "%s:%d: %s", conf_path, config_error_line(&cfg),
			config_error_text(&cfg));
	else if (config_lookup_string(&cfg, "tenants_dir", &td) != CONFIG_TRUE)
		td = NULL;
	EXPECT(cx, starts_with(td, "/var/lib/rostersync/tenants/"),
	       "tenants_dir '%s' is not inside the tenants volume",
	       td ? td : "(unset)");
	config_destroy(&cfg);
}

/* Prometheus: the planner by name, every worker replica by DNS SD. */
static void compose_prometheus(rs_dc_t *cx, const cJSON *c, const cJSON *p,
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
	EXPECT(cx, ok && n == 1, "prometheus planner targets %s, want %s", got,
	       want);
	/* A static "worker:PORT" would reach one replica; DNS SD finds all. */
	dns = cJSON_GetArrayItem(J(wk, "dns_sd_configs"), 0);
	jshow(dns, got, sizeof(got));
	EXPECT(cx, cJSON_GetArraySize(J(dns, "names")) == 1 &&
		       jstrs_start(J(dns, "names"), 1, "worker") &&
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
	EXPECT(cx, loads, "prometheus does not load the mounted prometheus.yml");
	EXPECT(cx, jstr_eq(J(c, "configs", "prometheus_yml", "file"),
			   "./prometheus.yml"),
	       "configs.prometheus_yml.file is not ./prometheus.yml");
}

/* compose: docker/compose.yaml and docker/prometheus.yml against the config
 * compose mounts.  The config loads first: when it does not, nothing below
 * could be compared, and the one problem reported says why. */
static void check_compose(rs_dc_t *cx, const char *compose_path,
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

	conf = rs_dc_conf_load(cx, conf_path, argc, argv);
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

	/* Without the five services every later lookup would report noise. */
	svcs = J(c, "services");
	for (i = 0; i < RS_ARRAY_SIZE(want); i++)
		EXPECT(cx, J(svcs, want[i]), "service %s missing", want[i]);
	if (cx->problems)
		goto out;
	compose_refs(cx, c, dir);

	/* A single KRaft node: ZooKeeper settings would mean an old recipe. */
	k = J(svcs, "kafka");
	EXPECT(cx, starts_with(jstr(J(k, "image")), "apache/kafka:3.9"),
	       "kafka image is '%s', want apache/kafka:3.9.x",
	       jstr0(J(k, "image")));
	env = J(k, "environment");
	roles = jscalar(J(env, "KAFKA_PROCESS_ROLES"), got, sizeof(got));
	EXPECT(cx, strstr(roles, "broker") && strstr(roles, "controller"),
	       "kafka is not a KRaft broker+controller (KAFKA_PROCESS_ROLES=%s)",
	       roles);
	cJSON_ArrayForEach(e, env) {
		/* environment is a map here (the schema allows a list too). */
		const char *name = cJSON_IsObject(env) ? e->string : jstr0(e);
		EXPECT(cx, !strstr(name, "ZOOKEEPER"), "kafka mentions ZooKeeper");
	}
	adv = jstr0(J(env, "KAFKA_ADVERTISED_LISTENERS"));
	EXPECT(cx, g->queue.backend == RS_CONF_QUEUE_KAFKA,
	       "queue.backend is not kafka");
	/* Every broker of queue.kafka.brokers is advertised by the broker. */
	b = g->queue.kafka.brokers;
	if (EXPECT(cx, b && *b, "queue.kafka.brokers is not set")) {
		while (*b) {
			size_t n = strcspn(b, ",");
			char one[256];

			rs_snprintf(one, sizeof(one), "%.*s", (int)n, b);
			EXPECT(cx, strstr(adv, one),
			       "queue.kafka.brokers entry %s not advertised by "
			       "kafka (%s)", one, adv);
			b += n + (b[n] == ',');
		}
	}

	/* Three replicas is what docs/deploy.md and the runbook describe. */
	w = J(svcs, "worker");
	jshow(J(w, "deploy", "replicas"), got, sizeof(got));
	EXPECT(cx, jnum(J(w, "deploy", "replicas"), -1) == 3,
	       "worker deploy.replicas is %s, want 3", got);

	/* The metrics ports are the hub of the checks: compose exposes them, the
	 * health checks and Prometheus use them, and all must be the ports the
	 * config makes the daemons listen on. */
	ports[0] = rs_dc_listen_port(cx, "planner.metrics_listen",
				     g->planner.metrics_listen);
	ports[1] = rs_dc_listen_port(cx, "worker.metrics_listen",
				     g->worker.metrics_listen);
	conf_src = jstr(J(c, "configs", "rostersync_conf", "file"));
	EXPECT(cx, conf_src && !strcmp(conf_src, "./config/rostersync.conf"),
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

static void check_libraries(rs_dc_t *cx, char **binaries, int nbin,
			    const char *listed) {
	needed_t *need = rs_calloc(RS_DC_MAX_LIST, sizeof(*need));
	char *dpkg_argv[RS_DC_MAX_LIST * 4 + 3];
	char *out = NULL, *ldd = NULL, *line, *save = NULL;
	int n_need = 0, b, i, j, a = 0;

	for (b = 0; b < nbin; b++) {
		char *re_argv[] = {(char *)"readelf", (char *)"-d", binaries[b], NULL};
		char *ldd_argv[] = {(char *)"ldd", binaries[b], NULL};
		const char *l;

		rs_free(out);
		rs_free(ldd);
		if (!EXPECT(cx, run_capture(re_argv, &out, false) == 0 &&
				    run_capture(ldd_argv, &ldd, false) == 0,
			    "%s: readelf -d / ldd failed", binaries[b]))
			continue;
		/* " 0x0000000000000001 (NEEDED)  Shared library: [libcurl.so.4]" */
		for (l = strstr(out, "(NEEDED)"); l; l = strstr(l + 1, "(NEEDED)")) {
			const char *o = strchr(l, '['), *cl = o ? strchr(o, ']') : NULL;
			needed_t *nd;
			char pat[160], path[PATH_MAX], real[PATH_MAX];
			const char *m;

			if (!o || !cl || n_need >= RS_DC_MAX_LIST)
				continue;
			nd = &need[n_need];
			nd->binary = binaries[b];
			rs_snprintf(nd->lib, sizeof(nd->lib), "%.*s",
				    (int)(cl - o - 1), o + 1);
			/* ldd: "\tlibcurl.so.4 => /lib/x86_64.../libcurl.so.4 (0x...)" */
			rs_snprintf(pat, sizeof(pat), "\t%s => ", nd->lib);
			m = strstr(ldd, pat);
			if (!EXPECT(cx, m && m[strlen(pat)] == '/',
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
		if (!EXPECT(cx, pkg[0], "%s: no Debian package owns %s",
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
			EXPECT(cx, strstr(listed, word),
			       "%s needs %s from %s, not installed in the runtime "
			       "stage", base_name(nd->binary), nd->lib, pkg);
		}
	}
	rs_free(out);
	rs_free(ldd);
	rs_free(need);
}

static void check_dockerfile(rs_dc_t *cx, const char *path, char **binaries,
			     int nbin) {
	char *text = rs_dc_read_file(path), *src, *dst, *line, *save = NULL;
	stage_t st[16];
	int n_st = 0, i;
	char build_copy[256], user[128], hc[1024], listed[4096] = " ";
	size_t nl = 1;
	const char *r, *apt;
	regex_t from;
	regmatch_t m[4];

	memset(st, 0, sizeof(st));
	if (!EXPECT(cx, text, "cannot read %s", path))
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
			if (!EXPECT(cx, n_st < (int)RS_ARRAY_SIZE(st), "too many stages"))
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
	if (!EXPECT(cx, n_st >= 2, "not a multi-stage build"))
		goto out;
	for (i = 0; i < n_st; i++)
		EXPECT(cx, starts_with(st[i].image, "debian:bookworm"),
		       "stage %s is not Debian bookworm (%s)", st[i].name,
		       st[i].image);
	EXPECT(cx, rx_search("^RUN scripts/install-deps([[:space:]]|$)",
			     st[0].ins.p, 0),
	       "build stage does not run scripts/install-deps");
	EXPECT(cx, rx_search("^RUN scripts/build([[:space:]].*)?--prefix "
			     "/opt/rostersync", st[0].ins.p, 0),
	       "build stage does not run scripts/build --prefix /opt/rostersync");
	r = st[n_st - 1].ins.p;
	rs_snprintf(build_copy, sizeof(build_copy),
		    "COPY --from=%s /opt/rostersync /opt/rostersync", st[0].name);
	EXPECT(cx, st[0].name[0] && lines_with(r, build_copy, hc, sizeof(hc)) > 0,
	       "runtime stage does not copy /opt/rostersync from the build stage");
	EXPECT(cx, !rx_search("-dev([^a-z0-9_]|$)|(^|[^a-z0-9_])gcc([^a-z0-9_]|$)"
			      "|cmake", r, 0),
	       "runtime stage installs build tools or -dev packages");
	/* The last USER wins; Kubernetes runAsNonRoot needs a numeric uid. */
	if (EXPECT(cx, lines_with(r, "USER ", user, sizeof(user)) > 0,
		   "runtime stage does not end as a non-root user (no USER)")) {
		user[strcspn(user, ": \t")] = '\0';
		EXPECT(cx, strcmp(user, "0") && strcmp(user, "root"),
		       "runtime stage does not end as a non-root user (%s)", user);
		EXPECT(cx, all_digits(user),
		       "USER is not numeric (Kubernetes runAsNonRoot needs a uid)");
	}
	EXPECT(cx, lines_with(r, "HEALTHCHECK ", hc, sizeof(hc)) > 0 &&
		       strstr(hc, "/healthz"),
	       "no HEALTHCHECK on /healthz");
	/* The package list: from "apt-get install" up to the next "&". */
	apt = strstr(r, "apt-get install");
	if (!EXPECT(cx, apt, "runtime stage installs no packages"))
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
	rs_dc_t cx = {0, getenv("RS_YQ")};
	const char *cmd = argc > 1 ? argv[1] : "";
	char val[4096];
	rs_conf_t *conf;

	if (!strcmp(cmd, "conf-get") && argc >= 4) {
		conf = rs_dc_conf_load(&cx, argv[2], argc - 4, argv + 4);
		if (!conf)
			return 1;
		if (!conf_get(conf, argv[3], val, sizeof(val)))
			rs_dc_problem(&cx, "%s: no value for %s", argv[2], argv[3]);
		else
			puts(val);
		rs_conf_destroy(conf);
	} else if (!strcmp(cmd, "compose") && argc >= 5) {
		check_compose(&cx, argv[2], argv[3], argv[4], argc - 5, argv + 5);
	} else if (!strcmp(cmd, "dockerfile") && argc >= 4) {
		check_dockerfile(&cx, argv[2], argv + 3, RS_MIN(argc - 3, 32));
	} else if (!strcmp(cmd, "k8s-fs") && argc == 5) {
		rs_dc_k8s_fs(&cx, argv[2], argv[3], argv[4]);
	} else if (!strcmp(cmd, "k8s") && argc >= 7) {
		rs_dc_k8s_check(&cx, argv + 2, argc - 7, argv + 7);
	} else {
		return usage();
	}
	return cx.problems ? 1 : 0;
}
