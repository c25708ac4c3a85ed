/*
 * check_deploy_k8s.c - the Kubernetes subcommands of check_deploy
 * (check_deploy.h; run by tests/deploy/0602-k8s.sh, docs/deploy.md):
 *
 *   k8s-fs  lays out the files a Deployment's container sees (ConfigMaps,
 *           projected Secrets) so rostersync's loader can read them as the
 *           pod would;
 *   k8s     checks the manifests against the configuration: ports, probes,
 *           Prometheus annotation, security settings, KEDA's trigger
 *           (consumer group, topic, brokers, parameter names and types),
 *           and that every tenant file's references are mounted.
 *
 * kubeconform already proved every manifest matches its schema; these
 * checks are about agreement between files that no schema relates.
 */
#include "rs/rs_base.h"
#include "check_deploy.h"

#include <dirent.h>
#include <libconfig.h>
#include <limits.h>

/* ---- Kubernetes ------------------------------------------------------------ */

/* Every document of every deploy/k8s YAML file but the Kustomization, in file
 * name order (the order kubectl -k does not care about, but messages do). */
static cJSON *k8s_docs(rs_dc_t *cx, const char *dir) {
	struct dirent **ents = NULL;
	char *paths[RS_DC_MAX_LIST];
	size_t n = 0;
	int ne, i;
	cJSON *docs;

	ne = scandir(dir, &ents, NULL, alphasort);
	for (i = 0; i < ne; i++) {
		const char *nm = ents[i]->d_name;
		size_t l = strlen(nm);

		if (l > 5 && !strcmp(nm + l - 5, ".yaml") &&
		    strcmp(nm, "kustomization.yaml") && n < RS_DC_MAX_LIST) {
			paths[n] = rs_malloc(strlen(dir) + l + 2);
			rs_snprintf(paths[n], strlen(dir) + l + 2, "%s/%s", dir, nm);
			n++;
		}
		free(ents[i]); /* checksrc: allow (scandir's own allocation) */
	}
	free(ents); /* checksrc: allow (scandir's own allocation) */
	if (!EXPECT(cx, n > 0, "no *.yaml in %s", dir))
		return cJSON_CreateArray();
	docs = rs_dc_yaml_load(cx, (const char *const *)paths, n);
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

/* How many documents of a kind (a second ScaledObject would fight the
 * first over the same Deployment). */
static int count(const cJSON *docs, const char *kind) {
	int n = 0;

	while (find(docs, kind, NULL, n))
		n++;
	return n;
}

/* Writes data to OUT/path, with /etc/rostersync/ paths inside rewritten to
 * OUT/etc/rostersync/, so rostersync-confdoc --check can load the tree. */
static void fs_write(rs_dc_t *cx, const char *out, const char *path,
		     const char *data) {
	static const char from[] = "/etc/rostersync/";
	char full[PATH_MAX];
	const char *p, *hit;
	FILE *fp;

	fp = rs_snprintf(full, sizeof(full), "%s%s", out, path) &&
		     rs_dc_mkdirs_for(full) ? fopen(full, "w") : NULL;
	if (!EXPECT(cx, fp, "cannot write %s%s", out, path))
		return;
	for (p = data; (hit = strstr(p, from)) != NULL; p = hit + strlen(from)) {
		fwrite(p, 1, (size_t)(hit - p), fp);
		fprintf(fp, "%s%s", out, from);
	}
	fputs(p, fp);
	EXPECT(cx, fclose(fp) == 0, "cannot write %s", full);
}

/* Lays out what the deployment's container sees under its volume mounts
 * (ConfigMaps, whole or by subPath; projected Secrets by item) below OUT,
 * so rostersync-confdoc --check loads the config exactly as the pod would.
 * A mount of something else is a problem: the layout would be partial. */
void rs_dc_k8s_fs(rs_dc_t *cx, const char *dir, const char *deployment,
		   const char *out) {
	cJSON *docs = k8s_docs(cx, dir);
	const cJSON *dep = find(docs, "Deployment", deployment, 0);
	const cJSON *spec = J(dep, "spec", "template", "spec"), *m, *v, *src, *it;
	const cJSON *c0 = cJSON_GetArrayItem(J(spec, "containers"), 0);
	char p[PATH_MAX];

	if (!EXPECT(cx, dep && c0, "Deployment %s (with a container) missing",
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
		if (!EXPECT(cx, v, "%s: volume %s not declared", deployment, vname))
			continue;
		if (J(v, "configMap")) {
			const cJSON *cm = find(docs, "ConfigMap",
					       jstr0(J(v, "configMap", "name")), 0);

			data = J(cm, "data");
			if (!EXPECT(cx, cm, "%s: ConfigMap %s missing", deployment,
				    jstr0(J(v, "configMap", "name"))))
				continue;
			if (jstr(J(m, "subPath"))) {
				const char *val = jstr(J(data, jstr(J(m, "subPath"))));

				if (EXPECT(cx, val, "ConfigMap %s has no key %s",
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

				if (!EXPECT(cx, s, "%s: projected Secret '%s' missing",
					    deployment, sn))
					continue;
				cJSON_ArrayForEach(it, J(src, "secret", "items")) {
					const char *k = jstr0(J(it, "key"));
					const cJSON *val = J(s, "stringData", k);

					EXPECT(cx, jstr(val), "Secret %s has no key %s", sn, k);
					if (rs_snprintf(p, sizeof(p), "%s/%s", mp,
							jstr0(J(it, "path"))))
						fs_write(cx, out, p, jstr0(val));
				}
			}
		} else if (starts_with(mp, "/etc/rostersync")) {
			rs_dc_problem(cx, "%s: %s is neither a ConfigMap nor a projected "
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

static int keda_tags(rs_dc_t *cx, const char *path, tag_t *tags, int max) {
	char *text = rs_dc_read_file(path), *line, *save = NULL;
	int n = 0;

	if (!EXPECT(cx, text, "cannot read %s", path))
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
	EXPECT(cx, n > 5, "%s: only %d kafka trigger parameters", path, n);
	return n;
}

/* KEDA's CRD types trigger metadata as map[string]string, so its schema
 * accepts any key: check keys, types and enums against the scaler. */
static void check_trigger(rs_dc_t *cx, const cJSON *md, const tag_t *tags,
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
		if (!EXPECT(cx, t && strstr(t->order, "triggerMetadata"),
			    "kafka trigger: unknown metadata key '%s'", kv->string))
			continue;
		EXPECT(cx, jstr(kv), "kafka trigger: %s is not a string", kv->string);
		if (!strcmp(t->type, "int") || !strcmp(t->type, "int64") ||
		    !strcmp(t->type, "int32"))
			EXPECT(cx, all_digits(v[0] == '-' ? v + 1 : v),
			       "kafka trigger: %s='%s' is not an integer",
			       kv->string, v);
		else if (!strcmp(t->type, "bool"))
			EXPECT(cx, !strcmp(v, "true") || !strcmp(v, "false"),
			       "kafka trigger: %s='%s' is not true/false",
			       kv->string, v);
		rs_snprintf(semi, sizeof(semi), ";%s;", v);
		if (t->en[0])
			EXPECT(cx, !strchr(v, ';') && strstr(t->en, semi),
			       "kafka trigger: %s='%s' not in %s", kv->string, v,
			       t->en);
	}
	for (i = 0; i < n; i++)
		if (strstr(tags[i].order, "triggerMetadata") && !tags[i].optional &&
		    !tags[i].has_default && !strstr(tags[i].order, "authParams"))
			EXPECT(cx, J(md, tags[i].name),
			       "kafka trigger: required metadata '%s' missing",
			       tags[i].name);
}

/* Ports, probes, annotations and security of one role's Deployment. */
static void k8s_role(rs_dc_t *cx, const cJSON *docs, const char *role, int port) {
	char name[64], want[64], got[512];
	const cJSON *dep, *pod, *spec, *c, *p, *m, *res;
	int metrics = -1, i;
	static const char *const probes[][2] = {{"livenessProbe", "/healthz"},
						{"readinessProbe", "/readyz"}};

	rs_snprintf(name, sizeof(name), "rostersync-%s", role);
	dep = find(docs, "Deployment", name, 0);
	if (!EXPECT(cx, dep, "Deployment %s missing", name))
		return;
	pod = J(dep, "spec", "template");
	spec = J(pod, "spec");
	c = cJSON_GetArrayItem(J(spec, "containers"), 0);
	EXPECT(cx, jstrs_start(J(c, "args"), 3, name, "-c",
			       "/etc/rostersync/rostersync.conf"),
	       "%s args do not start with %s -c /etc/rostersync/rostersync.conf",
	       role, name);
	cJSON_ArrayForEach(p, J(c, "ports")) {
		if (jstr_eq(J(p, "name"), "metrics"))
			metrics = (int)jnum(J(p, "containerPort"), -1);
	}
	EXPECT(cx, metrics == port, "%s containerPort metrics is %d, config "
	       "listens on %d", role, metrics, port);
	for (i = 0; i < 2; i++) {
		const cJSON *g = J(c, probes[i][0], "httpGet"), *gp = J(g, "port");
		int pp = jstr_eq(gp, "metrics") ? metrics : (int)jnum(gp, -1);

		jshow(g, got, sizeof(got));
		EXPECT(cx, jstr_eq(J(g, "path"), probes[i][1]) && pp == port,
		       "%s %s is %s, want GET %s on %d", role, probes[i][0], got,
		       probes[i][1], port);
	}
	rs_snprintf(want, sizeof(want), "%d", port);
	EXPECT(cx, jstr_eq(J(pod, "metadata", "annotations", "prometheus.io/port"),
			   want),
	       "%s prometheus.io/port annotation is not %d", role, port);
	EXPECT(cx, cJSON_IsTrue(J(spec, "securityContext", "runAsNonRoot")) &&
		       jnum(J(spec, "securityContext", "runAsUser"), 0) > 0,
	       "%s pod does not run as non-root", role);
	EXPECT(cx, cJSON_IsTrue(J(c, "securityContext", "readOnlyRootFilesystem")),
	       "%s root fs is writable", role);
	EXPECT(cx, cJSON_IsFalse(J(c, "securityContext",
				  "allowPrivilegeEscalation")),
	       "%s may escalate", role);
	EXPECT(cx, jarray_has_str(J(c, "securityContext", "capabilities", "drop"),
				  "ALL"),
	       "%s keeps capabilities", role);
	res = J(c, "resources");
	EXPECT(cx, J(res, "requests", "cpu") && J(res, "requests", "memory") &&
		       J(res, "limits", "cpu") && J(res, "limits", "memory"),
	       "%s lacks cpu/memory requests or limits", role);
	EXPECT(cx, cJSON_IsFalse(J(spec, "automountServiceAccountToken")),
	       "%s mounts a service account token", role);
	cJSON_ArrayForEach(m, J(c, "volumeMounts")) {
		if (starts_with(jstr(J(m, "mountPath")), "/etc/rostersync"))
			EXPECT(cx, cJSON_IsTrue(J(m, "readOnly")),
			       "%s mounts %s writable", role, jstr(J(m, "mountPath")));
	}
}

/* Walks a tenant file (libconfig): collects ids, checks every
 * /etc/rostersync path it names exists in both pods' file trees, and that
 * no secret is inline.  Sensitive keys come from rostersync's own tenant
 * table (RS_CONF_SENSITIVE), plus any key named client_secret, pfx_password
 * or key, so a secret under a key the table does not know yet (a typo the
 * loader would reject anyway, or a newer file) is still caught. */
typedef struct {
	const char *key, *roots[2];
	char ids[4][RS_CONF_MAX_TENANT_ID + 1];
	int n_ids;
} walk_t;

static void tenant_walk(rs_dc_t *cx, walk_t *w, const config_setting_t *s,
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
			EXPECT(cx, rs_snprintf(full, sizeof(full), "%s%s",
					       w->roots[i], fp) && rs_dc_is_file(full),
			       "%s: %s is not mounted in the %s", w->key, fp,
			       i ? "worker" : "planner");
	}
	if (nm) {
		const rs_conf_prop_t *p = rs_conf_prop_find(RS_CONF_SCOPE_TENANT, path);
		bool sensitive = (p && (p->flags & RS_CONF_SENSITIVE)) ||
				 !strcmp(nm, "client_secret") ||
				 !strcmp(nm, "pfx_password") || !strcmp(nm, "key");

		if (sensitive)
			EXPECT(cx, starts_with(v, "file:") || starts_with(v, "env:"),
			       "%s: a secret is inline (%s), not a file:/env: "
			       "reference", w->key, path);
	}
}

/* One ConfigMap key per customer, holding exactly the tenant it is named
 * after, with its Secret; everything it references is mounted. */
static void k8s_tenants(rs_dc_t *cx, const cJSON *docs, const char *fs_planner,
			const char *fs_worker) {
	const cJSON *tn = find(docs, "ConfigMap", "rostersync-tenants", 0), *d;

	if (!EXPECT(cx, tn, "ConfigMap rostersync-tenants missing"))
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
		if (EXPECT(cx, config_read_string(&cfg, jstr0(d)) == CONFIG_TRUE,
			   "tenant key %s: line %d: %s", d->string,
			   config_error_line(&cfg), config_error_text(&cfg)))
			tenant_walk(cx, &w, config_root_setting(&cfg), "");
		config_destroy(&cfg);
		EXPECT(cx, l > 5 && !strcmp(d->string + l - 5, ".conf") &&
			       w.n_ids == 1 && !strcmp(w.ids[0], id),
		       "tenant key %s holds %d tenant ids (first '%s'; want one, "
		       "named like the key)", d->string, w.n_ids, w.ids[0]);
		rs_snprintf(sec, sizeof(sec), "rostersync-tenant-%s", id);
		EXPECT(cx, find(docs, "Secret", sec, 0), "no Secret %s", sec);
	}
}

/* k8s: CONF is the config as the worker pod loads it (laid out by k8s-fs);
 * both pods read the same ConfigMap, so one load serves both roles. */
void rs_dc_k8s_check(rs_dc_t *cx, char **a, int argc, char **argv) {
	cJSON *docs = NULL;
	rs_conf_t *conf = rs_dc_conf_load(cx, a[1], argc, argv);
	const rs_conf_global_t *g;
	const cJSON *w, *so, *s, *t, *trig = NULL, *md;
	tag_t tags[64];
	int ports[2], ntags, tgp;

	if (!conf)
		return;
	g = rs_conf_global(conf);
	docs = k8s_docs(cx, a[0]);
	ports[0] = rs_dc_listen_port(cx, "planner.metrics_listen",
				     g->planner.metrics_listen);
	ports[1] = rs_dc_listen_port(cx, "worker.metrics_listen",
				     g->worker.metrics_listen);
	k8s_role(cx, docs, "planner", ports[0]);
	k8s_role(cx, docs, "worker", ports[1]);

	/* KEDA sets the worker's replica count; a replicas field would make
	 * every `kubectl apply` reset it.  The kubelet kills a pod after its
	 * grace period, which must leave the worker its own shutdown deadline
	 * (default 30 s when the manifest does not say). */
	w = find(docs, "Deployment", "rostersync-worker", 0);
	if (w) {
		EXPECT(cx, !J(w, "spec", "replicas"),
		       "worker Deployment sets replicas (KEDA owns them)");
		tgp = (int)jnum(J(w, "spec", "template", "spec",
				  "terminationGracePeriodSeconds"), 30);
		EXPECT(cx, (int64_t)tgp * 1000 > g->worker.shutdown_timeout_ms,
		       "worker terminationGracePeriodSeconds %d <= "
		       "worker.shutdown_timeout %lld ms", tgp,
		       (long long)g->worker.shutdown_timeout_ms);
	}

	/* KEDA must watch the lag of exactly the group and topic the workers
	 * consume, on the brokers they use; otherwise it scales on nothing. */
	if (EXPECT(cx, count(docs, "ScaledObject") == 1,
		   "want one KEDA ScaledObject, found %d",
		   count(docs, "ScaledObject"))) {
		so = find(docs, "ScaledObject", NULL, 0);
		s = J(so, "spec");
		EXPECT(cx, jstr_eq(J(s, "scaleTargetRef", "name"), "rostersync-worker") &&
			       (!J(s, "scaleTargetRef", "kind") ||
				jstr_eq(J(s, "scaleTargetRef", "kind"), "Deployment")),
		       "ScaledObject does not target the worker Deployment");
		cJSON_ArrayForEach(t, J(s, "triggers")) {
			if (!trig && jstr_eq(J(t, "type"), "kafka"))
				trig = t;
		}
		if (EXPECT(cx, trig, "ScaledObject has no kafka trigger")) {
			md = J(trig, "metadata");
			EXPECT(cx, jstr_eq(J(md, "consumerGroup"), g->worker.group_id),
			       "KEDA consumerGroup '%s' != worker.group_id '%s'",
			       jstr0(J(md, "consumerGroup")), g->worker.group_id);
			EXPECT(cx, jstr_eq(J(md, "topic"),
					   g->queue.kafka.topics.jobs_group),
			       "KEDA topic '%s' != queue.kafka.topics.jobs_group '%s'",
			       jstr0(J(md, "topic")), g->queue.kafka.topics.jobs_group);
			ntags = keda_tags(cx, a[4], tags, (int)RS_ARRAY_SIZE(tags));
			check_trigger(cx, md, tags, ntags);
			EXPECT(cx, jstr_eq(J(md, "bootstrapServers"),
					   g->queue.kafka.brokers),
			       "KEDA bootstrapServers '%s' != queue.kafka.brokers '%s'",
			       jstr0(J(md, "bootstrapServers")),
			       g->queue.kafka.brokers ? g->queue.kafka.brokers : "");
		}
		/* A consumer group cannot use more consumers than partitions. */
		EXPECT(cx, jnum(J(s, "maxReplicaCount"), 100) > 0 &&
			       jnum(J(s, "maxReplicaCount"), 100) <=
				       g->queue.kafka.partitions,
		       "maxReplicaCount %g exceeds the %d partitions",
		       jnum(J(s, "maxReplicaCount"), 100), g->queue.kafka.partitions);
	}
	k8s_tenants(cx, docs, a[2], a[3]);
	cJSON_Delete(docs);
	rs_conf_destroy(conf);
}

