/*
 * sim_io.c - dataset files (--save / --load) and --print-config, which
 * writes a rostersync configuration pointing every base URL at a running
 * simulator (rs_conf.h layout: rostersync.conf + tenants.d/<id>.conf, with
 * secrets as file: references to 0600 files beside them).
 */
#include "rs/rs_base.h"

#include "sim_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define SIM_DATASET_MAX ((size_t)2 * 1024 * 1024 * 1024 - 1)

static rs_err_t write_all(const char *path, const char *data, size_t len,
			  int mode, char *errstr, size_t errstr_size) {
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	char eb[128];
	size_t off = 0;
	if (fd < 0)
		goto fail;
	while (off < len) {
		ssize_t n = write(fd, data + off, len - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			close(fd);
			goto fail;
		}
		off += (size_t)n;
	}
	if (close(fd) != 0)
		goto fail;
	return RS_OK;
fail:
	rs_snprintf(errstr, errstr_size, "%s: %s", path,
		    rs_strerror(errno, eb, sizeof(eb)));
	return RS_ERR_IO;
}

static cJSON *strs_json(char **v, int n) {
	cJSON *a = cJSON_CreateArray();
	int i;
	for (i = 0; i < n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
	return a;
}

static cJSON *idset_json(const sim_idset_t *s) {
	cJSON *a = cJSON_CreateArray();
	size_t i;
	for (i = 0; i < s->n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(s->items[i]));
	return a;
}

static void add_str(cJSON *o, const char *k, const char *v) {
	if (v)
		cJSON_AddStringToObject(o, k, v);
}

/*
 * The dataset keeps id sets in their internal order (not sorted): a
 * reload then rebuilds identical sets and the state documents match.
 */
static cJSON *tenant_dump(sim_tenant_t *tn) {
	cJSON *o = cJSON_CreateObject(), *a, *m;
	size_t i;
	int k;

	add_str(o, "id", tn->id);
	add_str(o, "entra_tenant_id", tn->entra_tenant_id);
	add_str(o, "domain", tn->domain);
	add_str(o, "mail_domain", tn->mail_domain);
	add_str(o, "graph_client_id", tn->graph_client_id);
	add_str(o, "graph_client_secret", tn->graph_client_secret);
	if (tn->cert) {
		char *pem = sim_cert_pem(tn);
		cJSON_AddStringToObject(o, "cert_pem", pem);
		rs_free(pem);
		add_str(o, "key_pem", tn->key_pem);
	}
	add_str(o, "pfx_password", tn->pfx_password);
	add_str(o, "talkdesk_account", tn->td_account);
	add_str(o, "talkdesk_client_id", tn->td_client_id);
	add_str(o, "talkdesk_client_secret", tn->td_client_secret);
	cJSON_AddNumberToObject(o, "ring_groups", tn->rg_mode);
	m = cJSON_AddObjectToObject(o, "mapping");
	for (k = 0; k < tn->n_map; k++)
		cJSON_AddStringToObject(m, tn->map_queue[k], tn->map_group[k]);
	a = cJSON_AddArrayToObject(o, "users");
	for (i = 0; i < tn->user_list.n; i++) {
		sim_user_t *u = tn->user_list.v[i];
		cJSON *x = cJSON_CreateObject();
		add_str(x, "id", u->id);
		add_str(x, "upn", u->upn);
		add_str(x, "mail", u->mail);
		add_str(x, "displayName", u->display_name);
		add_str(x, "givenName", u->given_name);
		add_str(x, "surname", u->surname);
		add_str(x, "department", u->department);
		cJSON_AddItemToObject(x, "proxy",
				      strs_json(u->proxy_addresses, u->n_proxy));
		cJSON_AddBoolToObject(x, "enabled", u->enabled);
		cJSON_AddItemToArray(a, x);
	}
	a = cJSON_AddArrayToObject(o, "groups");
	for (i = 0; i < tn->group_list.n; i++) {
		sim_group_t *g = tn->group_list.v[i];
		cJSON *x = cJSON_CreateObject();
		add_str(x, "id", g->id);
		add_str(x, "displayName", g->display_name);
		add_str(x, "mailNickname", g->mail_nickname);
		add_str(x, "description", g->description);
		cJSON_AddItemToObject(x, "members", idset_json(&g->members));
		cJSON_AddItemToObject(x, "owners", idset_json(&g->owners));
		cJSON_AddItemToArray(a, x);
	}
	a = cJSON_AddArrayToObject(o, "td_users");
	for (i = 0; i < tn->td_user_list.n; i++) {
		sim_td_user_t *u = tn->td_user_list.v[i];
		cJSON *x = cJSON_CreateObject();
		add_str(x, "id", u->id);
		add_str(x, "email", u->email);
		add_str(x, "name", u->name);
		cJSON_AddBoolToObject(x, "active", u->active);
		cJSON_AddItemToArray(a, x);
	}
	a = cJSON_AddArrayToObject(o, "td_queues");
	for (i = 0; i < tn->td_queue_list.n; i++) {
		sim_td_queue_t *q = tn->td_queue_list.v[i];
		cJSON *x = cJSON_CreateObject();
		add_str(x, "id", q->id);
		add_str(x, "name", q->name);
		cJSON_AddItemToObject(x, "users", idset_json(&q->users));
		cJSON_AddItemToArray(a, x);
	}
	return o;
}

rs_err_t rs_sim_save(rs_sim_t *sim, const char *path, char *errstr,
		     size_t errstr_size) {
	cJSON *root = cJSON_CreateObject(), *arr;
	char *s;
	rs_err_t err;
	int i;

	cJSON_AddNumberToObject(root, "version", 1);
	pthread_rwlock_rdlock(&sim->state_lock);
	arr = cJSON_AddArrayToObject(root, "tenants");
	for (i = 0; i < sim->n_tenants; i++) {
		sim_tenant_t *tn = sim->tenants[i];
		sim_tenant_rdlock(tn);
		cJSON_AddItemToArray(arr, tenant_dump(tn));
		sim_tenant_unlock(tn);
	}
	pthread_rwlock_unlock(&sim->state_lock);
	s = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	/* The dataset holds secrets and private keys: 0600. */
	err = write_all(path, s, strlen(s), 0600, errstr, errstr_size);
	cJSON_free(s);
	return err;
}

static const char *jstr(const cJSON *o, const char *k) {
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static char *jdup(const cJSON *o, const char *k) {
	const char *v = jstr(o, k);
	return v ? rs_strdup(v) : NULL;
}

/* The directory and Talkdesk part of a tenant entry (tn->lock held for
 * writing); shared by --load and by /_sim/reset of a loaded dataset. */
static void tenant_load_data(sim_tenant_t *tn, const cJSON *o) {
	const cJSON *a, *x;

	a = cJSON_GetObjectItemCaseSensitive(o, "users");
	cJSON_ArrayForEach(x, a) {
		sim_user_t *u;
		const cJSON *p;
		if (!jstr(x, "id") || !jstr(x, "upn") || !jstr(x, "displayName"))
			continue;
		u = sim_user_add(tn, jstr(x, "id"), jstr(x, "upn"),
				 jstr(x, "mail"), jstr(x, "displayName"));
		u->given_name = jdup(x, "givenName");
		u->surname = jdup(x, "surname");
		u->department = jdup(x, "department");
		u->enabled = !cJSON_IsFalse(
			cJSON_GetObjectItemCaseSensitive(x, "enabled"));
		cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(x, "proxy")) {
			if (cJSON_IsString(p) &&
			    !strncmp(p->valuestring, "smtp:", 5))
				sim_user_add_alias(tn, u, p->valuestring + 5);
		}
	}
	a = cJSON_GetObjectItemCaseSensitive(o, "groups");
	cJSON_ArrayForEach(x, a) {
		sim_group_t *g;
		const cJSON *p;
		if (!jstr(x, "id") || !jstr(x, "displayName"))
			continue;
		g = sim_group_add(tn, jstr(x, "id"), jstr(x, "displayName"));
		g->mail_nickname = jdup(x, "mailNickname");
		g->description = jdup(x, "description");
		cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(x, "members"))
			if (cJSON_IsString(p))
				sim_idset_add(&g->members, p->valuestring);
		cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(x, "owners"))
			if (cJSON_IsString(p))
				sim_idset_add(&g->owners, p->valuestring);
	}
	a = cJSON_GetObjectItemCaseSensitive(o, "td_users");
	cJSON_ArrayForEach(x, a) {
		sim_td_user_t *u;
		if (!jstr(x, "id") || !jstr(x, "email") || !jstr(x, "name"))
			continue;
		u = sim_td_user_add(tn, jstr(x, "id"), jstr(x, "email"),
				    jstr(x, "name"));
		u->active = !cJSON_IsFalse(
			cJSON_GetObjectItemCaseSensitive(x, "active"));
	}
	a = cJSON_GetObjectItemCaseSensitive(o, "td_queues");
	cJSON_ArrayForEach(x, a) {
		sim_td_queue_t *q;
		const cJSON *p;
		if (!jstr(x, "id") || !jstr(x, "name"))
			continue;
		q = sim_td_queue_add(tn, jstr(x, "id"), jstr(x, "name"));
		cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(x, "users"))
			if (cJSON_IsString(p))
				sim_idset_add(&q->users, p->valuestring);
	}
}

/*
 * Untrusted file: every member is type-checked; entries missing required
 * fields are skipped rather than crashing, a tenant without ids or
 * credentials fails the whole load.
 */
static rs_err_t tenant_load(rs_sim_t *sim, const cJSON *o, char *errstr,
			    size_t errstr_size) {
	const char *id = jstr(o, "id");
	const cJSON *x, *m, *v;
	sim_tenant_t *tn;
	rs_err_t err;

	if (!id || !jstr(o, "entra_tenant_id") || !jstr(o, "graph_client_id") ||
	    !jstr(o, "talkdesk_client_id") ||
	    !jstr(o, "talkdesk_client_secret") || sim_tenant_by_id(sim, id)) {
		rs_snprintf(errstr, errstr_size,
			    "dataset: tenant entry %s lacks ids/credentials "
			    "or is a duplicate",
			    id ? id : "?");
		return RS_ERR_PARSE;
	}
	tn = sim_tenant_new(sim, id);
	tn->entra_tenant_id = jdup(o, "entra_tenant_id");
	tn->domain = jdup(o, "domain");
	tn->mail_domain = jdup(o, "mail_domain");
	tn->graph_client_id = jdup(o, "graph_client_id");
	tn->graph_client_secret = jdup(o, "graph_client_secret");
	tn->pfx_password = jdup(o, "pfx_password");
	tn->td_account = jdup(o, "talkdesk_account");
	tn->td_client_id = jdup(o, "talkdesk_client_id");
	tn->td_client_secret = jdup(o, "talkdesk_client_secret");
	if (!tn->domain || !tn->mail_domain || !tn->pfx_password) {
		rs_snprintf(errstr, errstr_size, "dataset: %s incomplete", id);
		sim_tenant_destroy(tn);
		return RS_ERR_PARSE;
	}
	v = cJSON_GetObjectItemCaseSensitive(o, "ring_groups");
	if (cJSON_IsNumber(v) && v->valueint >= 0 && v->valueint <= 2)
		tn->rg_mode = (rs_sim_rg_mode_t)v->valueint;
	if (jstr(o, "cert_pem") && jstr(o, "key_pem")) {
		err = sim_cert_from_pem(tn, jstr(o, "cert_pem"),
					jstr(o, "key_pem"), errstr,
					errstr_size);
		if (err) {
			sim_tenant_destroy(tn);
			return err;
		}
	}
	m = cJSON_GetObjectItemCaseSensitive(o, "mapping");
	tn->map_queue = rs_calloc((size_t)cJSON_GetArraySize(m) + 1,
				  sizeof(char *));
	tn->map_group = rs_calloc((size_t)cJSON_GetArraySize(m) + 1,
				  sizeof(char *));
	cJSON_ArrayForEach(x, m) {
		if (!cJSON_IsString(x) || !x->string)
			continue;
		tn->map_queue[tn->n_map] = rs_strdup(x->string);
		tn->map_group[tn->n_map] = rs_strdup(x->valuestring);
		tn->n_map++;
	}
	sim_tenants_add(sim, tn);
	sim_tenant_wrlock(tn);
	tenant_load_data(tn, o);
	sim_throttle_size(tn);
	sim_tenant_unlock(tn);
	return RS_OK;
}

/* Reads and parses a dataset file (bounded size). */
static rs_err_t read_doc(const char *path, cJSON **out, char *errstr,
			 size_t errstr_size) {
	FILE *fp = fopen(path, "rb");
	char *buf = NULL, eb[128];
	long len;
	rs_err_t err = RS_ERR_IO;

	*out = NULL;
	if (!fp) {
		rs_snprintf(errstr, errstr_size, "%s: %s", path,
			    rs_strerror(errno, eb, sizeof(eb)));
		return RS_ERR_IO;
	}
	if (fseek(fp, 0, SEEK_END) || (len = ftell(fp)) < 0 ||
	    fseek(fp, 0, SEEK_SET)) {
		rs_snprintf(errstr, errstr_size, "%s: cannot size", path);
		goto out;
	}
	if ((size_t)len > SIM_DATASET_MAX) {
		rs_snprintf(errstr, errstr_size, "%s: too large", path);
		err = RS_ERR_TOO_LARGE;
		goto out;
	}
	buf = rs_malloc((size_t)len + 1);
	if (fread(buf, 1, (size_t)len, fp) != (size_t)len) {
		rs_snprintf(errstr, errstr_size, "%s: short read", path);
		goto out;
	}
	buf[len] = '\0';
	*out = cJSON_ParseWithLength(buf, (size_t)len);
	if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(*out, "tenants"))) {
		rs_snprintf(errstr, errstr_size,
			    "%s: not a rostersync-sim dataset", path);
		cJSON_Delete(*out);
		*out = NULL;
		err = RS_ERR_PARSE;
		goto out;
	}
	err = RS_OK;
out:
	if (buf)
		rs_wipe(buf, (size_t)len); /* it holds secrets and keys */
	rs_free(buf);
	fclose(fp);
	return err;
}

rs_err_t rs_sim_load(rs_sim_t *sim, const char *path, char *errstr,
		     size_t errstr_size) {
	cJSON *root = NULL;
	const cJSON *it;
	rs_err_t err;

	err = read_doc(path, &root, errstr, errstr_size);
	if (err)
		return err;
	pthread_rwlock_wrlock(&sim->state_lock);
	sim_tenants_clear(sim);
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(root, "tenants")) {
		err = tenant_load(sim, it, errstr, errstr_size);
		if (err)
			break;
	}
	if (err)
		sim_tenants_clear(sim);
	sim->generated = false;
	if (!sim->loaded_path || strcmp(sim->loaded_path, path)) {
		rs_free(sim->loaded_path);
		sim->loaded_path = rs_strdup(path);
	}
	pthread_rwlock_unlock(&sim->state_lock);
	sim_tokens_clear(sim);
	cJSON_Delete(root);
	return err;
}

rs_err_t sim_io_reload_data(rs_sim_t *sim, char *errstr, size_t errstr_size) {
	cJSON *root = NULL;
	const cJSON *it;
	rs_err_t err;

	err = read_doc(sim->loaded_path, &root, errstr, errstr_size);
	if (err)
		return err;
	/* Tenant by tenant under each tenant's write lock: the tenant list
	 * and credentials stay, so this is safe from a request handler. */
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(root, "tenants")) {
		const char *id = jstr(it, "id");
		sim_tenant_t *tn = id ? sim_tenant_by_id(sim, id) : NULL;
		if (!tn)
			continue;
		sim_tenant_wrlock(tn);
		sim_tenant_clear_data(tn);
		tenant_load_data(tn, it);
		sim_throttle_size(tn);
		sim_tenant_unlock(tn);
	}
	cJSON_Delete(root);
	return RS_OK;
}

/* ---- --print-config ------------------------------------------------ */

/* libconfig string literal: escape backslash and quote. */
static void conf_str(FILE *fp, const char *s) {
	fputc('"', fp);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', fp);
		fputc(*s, fp);
	}
	fputc('"', fp);
}

/*
 * Secrets are written as files and referenced with file: (relative paths
 * are resolved against the tenant file's directory by rs_conf), so the
 * generated configuration never holds a secret inline (ARCHITECTURE.md).
 */
rs_err_t rs_sim_print_config(rs_sim_t *sim, const char *dir, char *errstr,
			     size_t errstr_size) {
	char path[2048], eb[128];
	const char *base = rs_sim_base_url(sim), *brokers;
	rs_err_t err = RS_OK;
	FILE *fp;
	int i, k;

	if (!sim->port) {
		rs_snprintf(errstr, errstr_size,
			    "print-config needs a started simulator");
		return RS_ERR_STATE;
	}
	mkdir(dir, 0755);
	rs_snprintf(path, sizeof(path), "%s/tenants.d", dir);
	mkdir(path, 0755);
	rs_snprintf(path, sizeof(path), "%s/tenants.d/secrets", dir);
	mkdir(path, 0700);
	rs_snprintf(path, sizeof(path), "%s/rostersync.conf", dir);
	fp = fopen(path, "w");
	if (!fp) {
		rs_snprintf(errstr, errstr_size, "%s: %s", path,
			    rs_strerror(errno, eb, sizeof(eb)));
		return RS_ERR_IO;
	}
	/* The broker list comes from the environment tests already use. */
	brokers = getenv("RS_KAFKA_BROKERS");
	if (!brokers || !*brokers || strchr(brokers, '"'))
		brokers = "127.0.0.1:29092";
	fprintf(fp,
		"# Generated by rostersync-sim --print-config: every base URL "
		"points at\n# the simulator on %s.\n"
		"queue = {\n  backend = \"kafka\";\n"
		"  kafka = { brokers = \"%s\"; };\n};\n"
		"planner = { concurrency = 8; };\n"
		"worker = { threads = 8; };\n"
		"tenants_dir = \"tenants.d\";\n",
		base, brokers);
	fclose(fp);

	pthread_rwlock_rdlock(&sim->state_lock);
	for (i = 0; i < sim->n_tenants && !err; i++) {
		sim_tenant_t *tn = sim->tenants[i];
		char sp[2048];
		/* Secrets beside the tenant files, referenced relatively
		 * (relative file: paths are taken from the file's dir). */
		if (tn->graph_client_secret) {
			rs_snprintf(sp, sizeof(sp),
				    "%s/tenants.d/secrets/%s.graph", dir,
				    tn->id);
			err = write_all(sp, tn->graph_client_secret,
					strlen(tn->graph_client_secret), 0600,
					errstr, errstr_size);
		}
		if (!err && tn->pfx) {
			rs_snprintf(sp, sizeof(sp),
				    "%s/tenants.d/secrets/%s.pfx", dir, tn->id);
			err = write_all(sp, (const char *)tn->pfx, tn->pfx_len,
					0600, errstr, errstr_size);
			rs_snprintf(sp, sizeof(sp),
				    "%s/tenants.d/secrets/%s.pfx.pass", dir,
				    tn->id);
			if (!err)
				err = write_all(sp, tn->pfx_password,
						strlen(tn->pfx_password), 0600,
						errstr, errstr_size);
		}
		rs_snprintf(sp, sizeof(sp), "%s/tenants.d/secrets/%s.talkdesk",
			    dir, tn->id);
		if (!err)
			err = write_all(sp, tn->td_client_secret,
					strlen(tn->td_client_secret), 0600,
					errstr, errstr_size);
		if (err)
			break;
		rs_snprintf(path, sizeof(path), "%s/tenants.d/%s.conf", dir,
			    tn->id);
		fp = fopen(path, "w");
		if (!fp) {
			rs_snprintf(errstr, errstr_size, "%s: %s", path,
				    rs_strerror(errno, eb, sizeof(eb)));
			err = RS_ERR_IO;
			break;
		}
		fprintf(fp, "tenant = {\n  id = \"%s\";\n  graph = {\n", tn->id);
		fprintf(fp, "    tenant_id = \"%s\";\n", tn->entra_tenant_id);
		fprintf(fp, "    client_id = \"%s\";\n", tn->graph_client_id);
		if (tn->graph_client_secret)
			fprintf(fp, "    client_secret = \"file:secrets/%s.graph\";\n",
				tn->id);
		else
			fprintf(fp,
				"    certificate = {\n"
				"      pfx = \"secrets/%s.pfx\";\n"
				"      pfx_password = \"file:secrets/%s.pfx.pass\";\n"
				"    };\n",
				tn->id, tn->id);
		fprintf(fp, "    login_url = \"%s/login\";\n", base);
		fprintf(fp, "    base_url = \"%s/graph/v1.0\";\n  };\n", base);
		fprintf(fp, "  talkdesk = {\n    account = \"%s\";\n",
			tn->td_account);
		fprintf(fp, "    token_url = \"%s/talkdesk/oauth/token\";\n",
			base);
		fprintf(fp, "    base_url = \"%s/talkdesk\";\n", base);
		fprintf(fp, "    client_id = \"%s\";\n", tn->td_client_id);
		fprintf(fp,
			"    client_secret = \"file:secrets/%s.talkdesk\";\n",
			tn->id);
		/* The list form ["name=id", ...] of a map (rs_conf.h): queue
		 * names need not be valid libconfig setting names. */
		fprintf(fp, "    source = \"queues\";\n  };\n  mapping = [\n");
		for (k = 0; k < tn->n_map; k++) {
			char kv[512];
			rs_snprintf(kv, sizeof(kv), "%s=%s", tn->map_queue[k],
				    tn->map_group[k]);
			fprintf(fp, "    ");
			conf_str(fp, kv);
			fprintf(fp, "%s\n", k + 1 < tn->n_map ? "," : "");
		}
		fprintf(fp, "  ];\n  sync = { mode = \"exact\"; };\n};\n");
		if (fclose(fp) != 0) {
			err = RS_ERR_IO;
			rs_snprintf(errstr, errstr_size, "%s: write failed",
				    path);
		}
	}
	pthread_rwlock_unlock(&sim->state_lock);
	return err;
}
