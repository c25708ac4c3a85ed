/*
 * test_conf.c - configuration tables, loader, validation, overrides, dump
 * and the generated docs (rs_conf.h).
 *
 * File-based cases write a small deployment into a fresh mkdtemp() folder
 * so messages carry real file names and line numbers; text-based cases use
 * rs_conf_load_strings().
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "rs/rs_base.h"
#include "rs/rs_conf.h"
#include "rs/rs_log.h"

#include <dirent.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#define GUID1 "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
#define GUID2 "1a2b3c4d-5e6f-4a1b-8c2d-3e4f5a6b7c8d"
#define APPID "6731de76-14a6-49ae-97bc-6eba6914391e"

/* A minimal valid tenant; extra is pasted inside the tenant group. */
static char *tenant_text(const char *id, const char *extra) {
	char buf[4096];

	rs_snprintf(buf, sizeof(buf),
		    "tenant = {\n"
		    "  id = \"%s\";\n"
		    "  graph = {\n"
		    "    tenant_id = \"%s.onmicrosoft.com\";\n"
		    "    client_id = \"" APPID "\";\n"
		    "    client_secret = \"env:RS_TEST_SECRET\";\n"
		    "  };\n"
		    "%s"
		    "};\n",
		    id, id, extra ? extra : "");
	return rs_strdup(buf);
}

static rs_conf_t *load1(const char *main, const char *tenant,
			const char **ov, size_t n_ov, char *err,
			size_t err_size) {
	const char *t[1] = {tenant};
	return rs_conf_load_strings(main, t, tenant ? 1 : 0, NULL, ov, n_ov,
				    err, err_size);
}

/* ---- temp deployment helpers ---- */
static char tmpdir[256];

static void write_file(const char *rel, const char *text) {
	char path[512];
	FILE *fp;

	rs_snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static int rm_cb(const char *path, const struct stat *sb, int flag,
		 struct FTW *ftw) {
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int tmp_setup(void **state) {
	char path[512];

	(void)state;
	rs_snprintf(tmpdir, sizeof(tmpdir), "/tmp/rs_test_conf.XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	rs_snprintf(path, sizeof(path), "%s/tenants.d", tmpdir);
	mkdir(path, 0700);
	return 0;
}

static int tmp_teardown(void **state) {
	(void)state;
	nftw(tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

static rs_conf_t *load_tmp(const char **ov, size_t n, char *err, size_t sz) {
	char path[512];

	rs_snprintf(path, sizeof(path), "%s/rostersync.conf", tmpdir);
	return rs_conf_load(path, ov, n, err, sz);
}

static const char *src_dir(void) {
	const char *d = getenv("RS_SOURCE_DIR");
	return d ? d : ".";
}

/* ---- tests ---- */

/* The shipped example (config/) loads: every key used there is known, and
 * the derived values come out right. */
static void test_example_config(void **state) {
	char path[512], err[8192];
	const rs_conf_tenant_t *tn;
	const rs_conf_global_t *g;
	rs_conf_t *conf;

	(void)state;
	rs_snprintf(path, sizeof(path), "%s/config/rostersync.conf", src_dir());
	conf = rs_conf_load(path, NULL, 0, err, sizeof(err));
	if (!conf)
		fail_msg("example config does not load:\n%s", err);
	assert_int_equal(rs_conf_tenant_count(conf), 3);
	g = rs_conf_global(conf);
	assert_int_equal(g->queue.backend, RS_CONF_QUEUE_SQLITE);
	assert_int_equal(g->queue.kafka.properties.count, 2);
	assert_string_equal(g->queue.kafka.topics.dlq, "rostersync.jobs.dlq");
	assert_non_null(strstr(g->queue.sqlite.path, "/config/state/queue.db"));
	assert_true(g->queue.sqlite.path[0] == '/');

	/* Sorted by id. */
	assert_string_equal(rs_conf_tenant(conf, 0)->id, "contoso");
	assert_string_equal(rs_conf_tenant(conf, 2)->id, "northwind");
	assert_null(rs_conf_tenant(conf, 3));

	tn = rs_conf_tenant_by_id(conf, "contoso");
	assert_non_null(tn);
	assert_int_equal(tn->graph.auth, RS_CONF_AUTH_SECRET);
	assert_string_equal(tn->talkdesk.base_url, "https://api.talkdeskapp.com");
	assert_string_equal(tn->talkdesk.token_url,
			    "https://contoso.talkdeskid.com/oauth/token");
	assert_int_equal(tn->mapping.count, 2);
	assert_int_equal(tn->sync.max_removals, 50); /* inherited */
	assert_string_equal(tn->source_file, "tenants.d/contoso.conf");

	tn = rs_conf_tenant_by_id(conf, "fabrikam");
	assert_non_null(tn);
	assert_int_equal(tn->graph.auth, RS_CONF_AUTH_CERT_PFX);
	assert_string_equal(tn->talkdesk.token_url,
			    "https://fabrikam.talkdeskid.eu/oauth/token");
	assert_int_equal(tn->talkdesk.source, RS_CONF_TD_SRC_RING_GROUPS);
	assert_int_equal(tn->mapping.count, 3); /* from the JSON file */
	assert_string_equal(tn->mapping.keys[2], "Billing Team");
	assert_int_equal(tn->sync.mode, RS_CONF_SYNC_ADDITIVE);
	assert_int_equal(tn->sync.max_removals, 10);
	assert_int_equal(tn->sync.max_removal_percent, 20);

	tn = rs_conf_tenant_by_id(conf, "northwind");
	assert_non_null(tn);
	assert_false(tn->enabled);
	assert_false(tn->talkdesk.configured);
	assert_int_equal(tn->graph.auth, RS_CONF_AUTH_CERT_PEM);
	assert_string_equal(tn->graph.base_url, "https://graph.microsoft.us/v1.0");
	assert_null(rs_conf_tenant_by_id(conf, "nosuch"));
	rs_conf_destroy(conf);
}

/* Every main file in config/ (more may be added: a Kafka variant, a demo)
 * loads with its tenants, so every key used there is known and valid. */
static void test_all_config_files(void **state) {
	char dir[512], path[1024], err[8192];
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	(void)state;
	rs_snprintf(dir, sizeof(dir), "%s/config", src_dir());
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		rs_conf_t *conf;
		if (len < 6 || strcmp(de->d_name + len - 5, ".conf"))
			continue;
		rs_snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		conf = rs_conf_load(path, NULL, 0, err, sizeof(err));
		if (!conf)
			fail_msg("%s does not load:\n%s", path, err);
		rs_conf_destroy(conf);
		n++;
	}
	closedir(d);
	assert_true(n >= 1);
}

/* Every row is complete: a description, a unique name, enum values. */
static void test_table_complete(void **state) {
	rs_conf_scope_t scopes[] = {RS_CONF_SCOPE_GLOBAL, RS_CONF_SCOPE_TENANT};
	size_t s, i, j, n;

	(void)state;
	for (s = 0; s < 2; s++) {
		const rs_conf_prop_t *p = rs_conf_props(scopes[s], &n);
		assert_true(n > 10);
		for (i = 0; i < n; i++) {
			if (!p[i].desc || strlen(p[i].desc) < 10)
				fail_msg("%s has no description", p[i].name);
			if ((p[i].type == RS_CONF_T_ENUM ||
			     p[i].type == RS_CONF_T_FLAGS) && !p[i].values)
				fail_msg("%s has no values", p[i].name);
			if (scopes[s] == RS_CONF_SCOPE_TENANT)
				assert_true(!strncmp(p[i].name, "tenant.", 7));
			for (j = 0; j < i; j++)
				assert_string_not_equal(p[i].name, p[j].name);
			assert_ptr_equal(rs_conf_prop_find(scopes[s], p[i].name),
					 &p[i]);
		}
	}
}

/* No file: every default applies and is valid. */
static void test_defaults(void **state) {
	char err[4096];
	rs_conf_t *conf = load1(NULL, NULL, NULL, 0, err, sizeof(err));
	const rs_conf_global_t *g;

	(void)state;
	if (!conf)
		fail_msg("defaults do not validate:\n%s", err);
	g = rs_conf_global(conf);
	assert_int_equal(g->log.level, 6); /* LOG_INFO */
	assert_int_equal(g->debug, 0);
	assert_int_equal(g->queue.backend, RS_CONF_QUEUE_SQLITE);
	assert_string_equal(g->queue.kafka.topic_prefix, "rostersync.");
	assert_string_equal(g->queue.kafka.topics.jobs_group,
			    "rostersync.jobs.group");
	assert_string_equal(g->queue.kafka.topics.applied, "rostersync.applied");
	assert_int_equal(g->planner.max_removals, 50);
	assert_int_equal(g->planner.max_removal_percent, 20);
	assert_int_equal(g->planner.group_member_warn, 200);
	assert_int_equal(g->planner.interval_ms, 300000);
	assert_int_equal(g->worker.retry_hold_max_ms, 30000);
	assert_int_equal(g->http.timeout_ms, 30000);
	assert_true(g->worker.metrics_tenant_labels);
	assert_null(g->planner.metrics_listen);
	assert_int_equal(rs_conf_tenant_count(conf), 0);
	rs_conf_destroy(conf);

	/* A tenant's defaults. */
	{
		char *t = tenant_text("acme", NULL);
		const rs_conf_tenant_t *tn;
		conf = load1(NULL, t, NULL, 0, err, sizeof(err));
		rs_free(t);
		if (!conf)
			fail_msg("%s", err);
		tn = rs_conf_tenant(conf, 0);
		assert_string_equal(tn->name, "acme");
		assert_true(tn->enabled);
		assert_string_equal(tn->graph.login_url,
				    "https://login.microsoftonline.com");
		assert_string_equal(tn->graph.base_url,
				    "https://graph.microsoft.com/v1.0");
		assert_int_equal(tn->sync.mode, RS_CONF_SYNC_EXACT);
		assert_false(tn->talkdesk.configured);
		rs_conf_destroy(conf);
	}
}

static void test_overrides(void **state) {
	char err[4096];
	char *t = tenant_text("acme", NULL);
	const char *ov[] = {"worker.threads=4",
			    "http.user_agent=probe/1",
			    "worker.metrics_tenant_labels=false",
			    "planner.interval=2m",
			    "debug=http,queue",
			    "queue.kafka.topic_prefix=x.",
			    "tenant.acme.graph.base_url=http://127.0.0.1:8080/v1.0/",
			    "tenant.*.sync.mode=additive"};
	rs_conf_t *conf;
	const rs_conf_global_t *g;
	const rs_conf_tenant_t *tn;

	(void)state;
	conf = load1("worker = { threads = 2; };", t, ov, RS_ARRAY_SIZE(ov),
		     err, sizeof(err));
	if (!conf)
		fail_msg("%s", err);
	g = rs_conf_global(conf);
	assert_int_equal(g->worker.threads, 4); /* override beats the file */
	assert_string_equal(g->http.user_agent, "probe/1");
	assert_false(g->worker.metrics_tenant_labels);
	assert_int_equal(g->planner.interval_ms, 120000);
	assert_int_equal(g->debug, 3);
	assert_string_equal(g->queue.kafka.topics.retry, "x.jobs.retry");
	/* Log settings reach rs_log through rs_conf_apply_log(). */
	rs_conf_apply_log(conf);
	assert_true(rs_log_debug_enabled(RS_DBG_HTTP));
	assert_true(rs_log_debug_enabled(RS_DBG_QUEUE));
	assert_false(rs_log_debug_enabled(RS_DBG_AUTH));
	tn = rs_conf_tenant(conf, 0);
	/* The trailing slash is dropped. */
	assert_string_equal(tn->graph.base_url, "http://127.0.0.1:8080/v1.0");
	assert_int_equal(tn->sync.mode, RS_CONF_SYNC_ADDITIVE);
	rs_conf_destroy(conf);

	/* Bad values name the key; all of them are reported. */
	{
		const char *bad[] = {"worker.threads=eight",
				     "worker.metrics_tenant_labels=maybe",
				     "worker.thread=3", "nokey",
				     "tenant.nosuch.enabled=false",
				     "tenant.acme.id=other",
				     /* Memory bounds (G6): above the maximum. */
				     "worker.max_in_flight=100000",
				     "worker.retry_max_held=2001"};
		conf = load1(NULL, t, bad, RS_ARRAY_SIZE(bad), err,
			     sizeof(err));
		assert_null(conf);
		assert_non_null(strstr(err, "-X: worker.threads: expected an "
					    "integer"));
		assert_non_null(strstr(err, "-X: worker.metrics_tenant_labels: "
					    "expected a bool"));
		assert_non_null(strstr(err, "-X: worker.thread: unknown key "
					    "(did you mean worker.threads?)"));
		assert_non_null(strstr(err, "key=value"));
		assert_non_null(strstr(err, "no tenant with id \"nosuch\""));
		assert_non_null(strstr(err, "tenant.id: cannot be overridden"));
		assert_non_null(strstr(err, "-X: worker.max_in_flight: 100000 "
					    "is out of range 1..30000"));
		assert_non_null(strstr(err, "-X: worker.retry_max_held: 2001 "
					    "is out of range 1..2000"));
	}
	/* The maxima themselves are accepted. */
	{
		const char *top[] = {"worker.max_in_flight=30000",
				     "worker.retry_max_held=2000"};
		conf = load1(NULL, t, top, RS_ARRAY_SIZE(top), err,
			     sizeof(err));
		if (!conf)
			fail_msg("%s", err);
		assert_int_equal(rs_conf_global(conf)->worker.max_in_flight,
				 30000);
		assert_int_equal(rs_conf_global(conf)->worker.retry_max_held,
				 2000);
		rs_conf_destroy(conf);
	}
	rs_free(t);
}

/* Unknown keys, wrong types, ranges, URLs, with file:line. */
static void test_file_errors(void **state) {
	char err[8192];
	rs_conf_t *conf;

	(void)state;
	write_file("rostersync.conf",
		   "planner = {\n"
		   "  max_removal = 5;\n"            /* 2 */
		   "  max_removal_percent = 150;\n"  /* 3 */
		   "  interval = \"1s\";\n"          /* 4 */
		   "};\n"
		   "worker = { threads = \"8\"; };\n" /* 6 */
		   "http = { timeout = \"30 parsecs\"; };\n" /* 7 */
		   "queue = { backend = \"rabbit\"; };\n"   /* 8 */
		   "tenant = { id = \"x\"; };\n");           /* 9 */
	write_file("tenants.d/t007.conf",
		   "tenant = {\n"
		   "  id = \"t007\";\n"
		   "  enabled = \"yes\";\n" /* 3 */
		   "  graph = {\n"
		   "    tenant_id = \"t007.example\";\n"
		   "    client_id = \"" APPID "\";\n"
		   "    client_secret = \"env:X\";\n"
		   "    base_url = \"ftp://graph.example\";\n" /* 8 */
		   "    login_url = \"https://user:pw@login.example\";\n" /* 9 */
		   "  };\n"
		   "  sync = { mode = \"exact\"; max_removals = -5; };\n" /* 11 */
		   "  talkdesk = { regoin = \"eu\"; };\n" /* 12 */
		   "};\n");
	conf = load_tmp(NULL, 0, err, sizeof(err));
	assert_null(conf);
	assert_non_null(strstr(err, "rostersync.conf:2: planner.max_removal: "
				    "unknown key (did you mean "
				    "planner.max_removals?)"));
	assert_non_null(strstr(err, "rostersync.conf:3: "
				    "planner.max_removal_percent: 150 is out "
				    "of range 0..100"));
	assert_non_null(strstr(err, "rostersync.conf:4: planner.interval: 1000 "
				    "ms is out of range"));
	assert_non_null(strstr(err, "rostersync.conf:6: worker.threads: wrong "
				    "type: expected an integer, got a string"));
	assert_non_null(strstr(err, "rostersync.conf:7: http.timeout: expected "
				    "a duration"));
	assert_non_null(strstr(err, "rostersync.conf:8: queue.backend: must be "
				    "one of: sqlite, kafka"));
	assert_non_null(strstr(err, "rostersync.conf:9: tenant: unknown key "
				    "(tenant keys go in a file in "
				    "tenants_dir)"));
	assert_non_null(strstr(err, "tenants.d/t007.conf:3: tenant.enabled: "
				    "wrong type: expected a bool"));
	assert_non_null(strstr(err, "tenants.d/t007.conf:8: "
				    "tenant.graph.base_url: must be an http(s) "
				    "URL"));
	assert_non_null(strstr(err, "tenants.d/t007.conf:9: "
				    "tenant.graph.login_url: must not contain "
				    "user:password@"));
	assert_non_null(strstr(err, "tenants.d/t007.conf:11: "
				    "tenant.sync.max_removals: -5 is out of "
				    "range"));
	assert_non_null(strstr(err, "tenants.d/t007.conf:12: "
				    "tenant.talkdesk.regoin: unknown key (did "
				    "you mean tenant.talkdesk.region?)"));
}

/* A syntax error names file and line; @include is refused. */
static void test_syntax_errors(void **state) {
	char err[4096];
	rs_conf_t *conf;

	(void)state;
	write_file("rostersync.conf", "log = {\n  level = ;\n};\n");
	conf = load_tmp(NULL, 0, err, sizeof(err));
	assert_null(conf);
	assert_non_null(strstr(err, "rostersync.conf:2: syntax error"));

	write_file("rostersync.conf", "\n  @include \"/etc/passwd\"\n");
	conf = load_tmp(NULL, 0, err, sizeof(err));
	assert_null(conf);
	assert_non_null(strstr(err, "rostersync.conf:2: @include is not "
				    "supported"));
}

static void test_inline_secret(void **state) {
	char err[4096];
	char *t = tenant_text("acme", "  talkdesk = { account = \"acme\"; "
				      "client_id = \"abc\"; client_secret = "
				      "\"Sup3rS3cretValue\"; };\n");
	rs_conf_t *conf;

	(void)state;
	conf = load1(NULL, t, NULL, 0, err, sizeof(err));
	assert_null(conf);
	assert_non_null(strstr(err, "tenant[0]:8: tenant.talkdesk.client_secret: "
				    "must be a secret reference"));
	assert_null(strstr(err, "Sup3rS3cretValue"));
	rs_free(t);

	/* Same through -X. */
	{
		const char *ov[] = {"tenant.acme.graph.client_secret=hunter2xyz"};
		t = tenant_text("acme", NULL);
		conf = load1(NULL, t, ov, 1, err, sizeof(err));
		assert_null(conf);
		assert_non_null(strstr(err, "tenant.graph.client_secret"));
		assert_null(strstr(err, "hunter2xyz"));
		rs_free(t);
	}
}

static void test_secret_resolution(void **state) {
	char err[4096], buf[256], path[512];
	rs_conf_t *conf;
	const rs_conf_tenant_t *tn;
	rs_err_t rc;

	(void)state;
	rs_snprintf(path, sizeof(path), "%s/secrets", tmpdir);
	mkdir(path, 0700);
	write_file("secrets/td.secret", "td-value\n");
	write_file("rostersync.conf", "");
	write_file("tenants.d/acme.conf",
		   "tenant = { id = \"acme\";\n"
		   "  graph = { tenant_id = \"acme.example\"; client_id = \"" APPID
		   "\"; client_secret = \"env:RS_TEST_CONF_SECRET\"; };\n"
		   "  talkdesk = { account = \"acme\"; client_id = \"c\";\n"
		   "    client_secret = \"file:../secrets/td.secret\"; };\n"
		   "};\n");
	conf = load_tmp(NULL, 0, err, sizeof(err));
	if (!conf)
		fail_msg("%s", err);
	tn = rs_conf_tenant(conf, 0);
	/* The relative file: path was made absolute at load. */
	assert_non_null(strstr(tn->talkdesk.client_secret, "file:/"));

	setenv("RS_TEST_CONF_SECRET", "graph-value", 1);
	rc = rs_conf_tenant_secret(tn, "tenant.graph.client_secret", buf,
				   sizeof(buf), err, sizeof(err));
	assert_int_equal(rc, RS_OK);
	assert_string_equal(buf, "graph-value");
	rs_wipe(buf, sizeof(buf));

	rc = rs_conf_tenant_secret(tn, "tenant.talkdesk.client_secret", buf,
				   sizeof(buf), err, sizeof(err));
	assert_int_equal(rc, RS_OK);
	assert_string_equal(buf, "td-value"); /* newline stripped */
	rs_wipe(buf, sizeof(buf));

	unsetenv("RS_TEST_CONF_SECRET");
	rc = rs_conf_tenant_secret(tn, "tenant.graph.client_secret", buf,
				   sizeof(buf), err, sizeof(err));
	assert_int_equal(rc, RS_ERR_SECRET);
	assert_non_null(strstr(err, "tenant.graph.client_secret"));
	assert_non_null(strstr(err, "RS_TEST_CONF_SECRET"));

	assert_int_equal(rs_conf_tenant_secret(tn, "tenant.graph.certificate.key",
					       buf, sizeof(buf), err,
					       sizeof(err)),
			 RS_ERR_NOT_FOUND);
	assert_int_equal(rs_conf_tenant_secret(tn, "tenant.id", buf, sizeof(buf),
					       err, sizeof(err)),
			 RS_ERR_INVALID_ARG);
	rs_conf_destroy(conf);
}

static void test_auth_methods(void **state) {
	char err[4096];
	char *t;
	rs_conf_t *conf;

	(void)state;
	/* Secret + PFX: two methods. */
	t = tenant_text("acme", "  graph = { certificate = { pfx = \"a.pfx\"; }; };\n");
	conf = load1(NULL, t, NULL, 0, err, sizeof(err));
	rs_free(t);
	/* libconfig refuses a second "graph" group: use one group. */
	assert_null(conf);
	t = rs_strdup("tenant = { id = \"acme\"; graph = { tenant_id = "
		      "\"acme.example\"; client_id = \"" APPID "\";\n"
		      "  client_secret = \"env:S\";\n"
		      "  certificate = { pfx = \"a.pfx\"; }; }; };\n");
	conf = load1(NULL, t, NULL, 0, err, sizeof(err));
	rs_free(t);
	assert_null(conf);
	assert_non_null(strstr(err, "tenant.graph: exactly one auth method "
				    "must be set"));
	assert_non_null(strstr(err, "(2 set)"));

	/* None. */
	t = rs_strdup("tenant = { id = \"acme\"; graph = { tenant_id = "
		      "\"acme.example\"; client_id = \"" APPID "\"; }; };\n");
	conf = load1(NULL, t, NULL, 0, err, sizeof(err));
	rs_free(t);
	assert_null(conf);
	assert_non_null(strstr(err, "(0 set)"));

	/* PEM key without cert; pfx_password without pfx; bad ids. */
	t = rs_strdup("tenant = { id = \"Acme!\"; graph = { tenant_id = "
		      "\"not a domain\"; client_id = \"123\";\n"
		      "  certificate = { key = \"file:k.pem\"; "
		      "pfx_password = \"env:P\"; }; }; };\n");
	conf = load1(NULL, t, NULL, 0, err, sizeof(err));
	rs_free(t);
	assert_null(conf);
	assert_non_null(strstr(err, "key and certificate.cert go together"));
	assert_non_null(strstr(err, "pfx_password: only with"));
	assert_non_null(strstr(err, "tenant.id: must be 1-64 characters"));
	assert_non_null(strstr(err, "tenant.graph.tenant_id: must be a "
				    "directory GUID or a domain"));
	assert_non_null(strstr(err, "tenant.graph.client_id"));
}

static void test_mapping(void **state) {
	char err[8192];
	char *t;
	rs_conf_t *conf;
	const rs_conf_tenant_t *tn;

	(void)state;
	write_file("rostersync.conf", "");
	write_file("good.json", "{\"Sales\": \"" GUID1 "\", \"Support Team\": "
				"\"" GUID2 "\"}");
	write_file("dup.json", "{\"Sales\": \"" GUID1 "\", \"Sales\": \"" GUID2
			       "\", \"x\": \"not-a-guid\", \"y\": \"" GUID1
			       "\", \"n\": 5}");
	write_file("broken.json", "{\"Sales\": ");
	t = tenant_text("acme", "  mapping_file = \"../good.json\";\n");
	write_file("tenants.d/acme.conf", t);
	rs_free(t);
	conf = load_tmp(NULL, 0, err, sizeof(err));
	if (!conf)
		fail_msg("%s", err);
	tn = rs_conf_tenant(conf, 0);
	assert_int_equal(tn->mapping.count, 2);
	assert_string_equal(tn->mapping.keys[1], "Support Team");
	assert_string_equal(tn->mapping.values[1], GUID2);
	rs_conf_destroy(conf);

	t = tenant_text("acme", "  mapping_file = \"../dup.json\";\n");
	write_file("tenants.d/acme.conf", t);
	rs_free(t);
	conf = load_tmp(NULL, 0, err, sizeof(err));
	assert_null(conf);
	assert_non_null(strstr(err, "tenants.d/acme.conf:8: tenant.mapping_file: "
				    "duplicate entry \"Sales\""));
	assert_non_null(strstr(err, "\"x\": group id must be a GUID"));
	assert_non_null(strstr(err, "is mapped from both"));
	assert_non_null(strstr(err, "\"n\": value must be a string"));

	t = tenant_text("acme", "  mapping_file = \"../broken.json\";\n");
	write_file("tenants.d/acme.conf", t);
	rs_free(t);
	conf = load_tmp(NULL, 0, err, sizeof(err));
	assert_null(conf);
	assert_non_null(strstr(err, "must be a JSON object"));

	t = tenant_text("acme", "  mapping_file = \"../missing.json\";\n");
	write_file("tenants.d/acme.conf", t);
	rs_free(t);
	conf = load_tmp(NULL, 0, err, sizeof(err));
	assert_null(conf);
	assert_non_null(strstr(err, "cannot read"));

	/* Inline, both forms; and not together with mapping_file. */
	t = tenant_text("acme", "  mapping = [ \"Sales Team=" GUID1 "\", "
				"\"Billing=" GUID2 "\" ];\n");
	conf = load1(NULL, t, NULL, 0, err, sizeof(err));
	rs_free(t);
	if (!conf)
		fail_msg("%s", err);
	assert_int_equal(rs_conf_tenant(conf, 0)->mapping.count, 2);
	assert_string_equal(rs_conf_tenant(conf, 0)->mapping.keys[0],
			    "Sales Team");
	rs_conf_destroy(conf);

	t = tenant_text("acme", "  mapping = [ \"A=" GUID1 "\", \"A=" GUID2
				"\",\n    \"sales=" GUID2 "\", \"Sales=" GUID1
				"\" ];\n");
	conf = load1(NULL, t, NULL, 0, err, sizeof(err));
	rs_free(t);
	assert_null(conf);
	assert_non_null(strstr(err, "tenant[0]:8: tenant.mapping: duplicate "
				    "entry \"A\""));
	t = tenant_text("acme", "  mapping = [ \"sales=" GUID2 "\", \"Sales="
				GUID1 "\" ];\n");
	conf = load1(NULL, t, NULL, 0, err, sizeof(err));
	rs_free(t);
	assert_null(conf);
	assert_non_null(strstr(err, "duplicate group name"));

	t = tenant_text("acme", "  mapping = { Sales = \"" GUID1 "\"; };\n"
				"  mapping_file = \"x.json\";\n");
	conf = load1(NULL, t, NULL, 0, err, sizeof(err));
	rs_free(t);
	assert_null(conf);
	assert_non_null(strstr(err, "not both"));
}

static void test_duplicate_tenant(void **state) {
	char err[4096];
	char *t = tenant_text("acme", NULL);
	rs_conf_t *conf;

	(void)state;
	write_file("rostersync.conf", "");
	write_file("tenants.d/a.conf", t);
	write_file("tenants.d/b.conf", t);
	write_file("tenants.d/.hidden.conf", "garbage");
	write_file("tenants.d/readme.txt", "garbage");
	rs_free(t);
	conf = load_tmp(NULL, 0, err, sizeof(err));
	assert_null(conf);
	assert_non_null(strstr(err, "tenants.d/b.conf: tenant.id: duplicate "
				    "tenant id \"acme\" (also in "
				    "tenants.d/a.conf)"));
	/* Only that error: hidden and non-.conf files were skipped. */
	assert_null(strstr(err, "garbage"));
	assert_null(strchr(strchr(err, '\n') + 1, '\n'));
}

/* tenants_dir: relative to the main file, overridable with -X (global
 * overrides apply before the folder is read), missing = error. */
static void test_tenants_dir(void **state) {
	char err[4096], ov0[600], path[512];
	const char *ov[1] = {ov0};
	char *t = tenant_text("other", NULL);
	rs_conf_t *conf;

	(void)state;
	rs_snprintf(path, sizeof(path), "%s/elsewhere", tmpdir);
	mkdir(path, 0700);
	write_file("rostersync.conf", "tenants_dir = \"nope.d\";\n");
	conf = load_tmp(NULL, 0, err, sizeof(err));
	assert_null(conf);
	assert_non_null(strstr(err, "rostersync.conf:1: tenants_dir: cannot open"));

	write_file("elsewhere/other.conf", t);
	rs_free(t);
	rs_snprintf(ov0, sizeof(ov0), "tenants_dir=%s", path);
	conf = load_tmp(ov, 1, err, sizeof(err));
	if (!conf)
		fail_msg("%s", err);
	assert_int_equal(rs_conf_tenant_count(conf), 1);
	assert_string_equal(rs_conf_tenant(conf, 0)->id, "other");
	assert_string_equal(rs_conf_global(conf)->tenants_dir, path);
	rs_conf_destroy(conf);
}

static void test_talkdesk(void **state) {
	char err[4096];
	char *t;
	rs_conf_t *conf;
	const rs_conf_tenant_t *tn;

	(void)state;
	t = tenant_text("acme", "  talkdesk = { account = \"acme\"; region = "
				"\"ca\"; client_id = \"c\"; client_secret = "
				"\"env:TD\"; source = \"guardian\"; };\n");
	conf = load1(NULL, t, NULL, 0, err, sizeof(err));
	rs_free(t);
	if (!conf)
		fail_msg("%s", err);
	tn = rs_conf_tenant(conf, 0);
	assert_true(tn->talkdesk.configured);
	assert_string_equal(tn->talkdesk.base_url, "https://api.talkdeskappca.com");
	assert_string_equal(tn->talkdesk.token_url,
			    "https://acme.talkdeskidca.com/oauth/token");
	assert_int_equal(tn->talkdesk.scopes.count, 1);
	assert_string_equal(tn->talkdesk.scopes.items[0], "guardian-users:read");
	rs_conf_destroy(conf);

	/* Incomplete: account, client id and secret are required. */
	t = tenant_text("acme", "  talkdesk = { region = \"eu\"; };\n");
	conf = load1(NULL, t, NULL, 0, err, sizeof(err));
	rs_free(t);
	assert_null(conf);
	assert_non_null(strstr(err, "tenant.talkdesk.account: required"));
	assert_non_null(strstr(err, "tenant.talkdesk.client_secret: required"));
}

static void test_kafka_requires_brokers(void **state) {
	char err[4096];
	rs_conf_t *conf;

	(void)state;
	conf = load1("queue = { backend = \"kafka\"; };", NULL, NULL, 0, err,
		     sizeof(err));
	assert_null(conf);
	assert_non_null(strstr(err, "main: queue.kafka.brokers: required when "
				    "queue.backend is kafka"));
	conf = load1("worker = { retry_base_ms = \"10m\"; retry_max_ms = "
		     "\"1m\"; metrics_listen = \"nope\"; };",
		     NULL, NULL, 0, err, sizeof(err));
	assert_null(conf);
	assert_non_null(strstr(err, "main:1: worker.retry_base_ms: must not "
				    "exceed"));
	assert_non_null(strstr(err, "worker.metrics_listen: must be"));
}

/* Many errors: all are collected, errstr stays bounded and says so. */
static void test_errors_bounded(void **state) {
	char big[16384], small[300];
	char text[8192];
	size_t i, lines = 0, used = 0;
	rs_conf_t *conf;
	char *p;

	(void)state;
	for (i = 0; i < 50; i++) {
		rs_snprintf(text + used, sizeof(text) - used, "bogus%zu = 1;\n",
			    i);
		used += strlen(text + used);
	}
	conf = load1(text, NULL, NULL, 0, big, sizeof(big));
	assert_null(conf);
	for (p = big; (p = strchr(p, '\n')) != NULL; p++)
		lines++;
	assert_int_equal(lines, 50);
	conf = load1(text, NULL, NULL, 0, small, sizeof(small));
	assert_null(conf);
	assert_true(strlen(small) < sizeof(small));
	assert_non_null(strstr(small, "more errors"));
}

static void test_url_and_duration(void **state) {
	int64_t ms;

	(void)state;
	assert_null(rs_conf_url_check("https://graph.microsoft.com/v1.0"));
	assert_null(rs_conf_url_check("http://127.0.0.1:8080"));
	assert_null(rs_conf_url_check("http://[::1]:8080/x"));
	assert_non_null(rs_conf_url_check("ftp://x"));
	assert_non_null(rs_conf_url_check("https://"));
	assert_non_null(rs_conf_url_check("https:///path"));
	assert_non_null(rs_conf_url_check("https://a b"));
	assert_non_null(rs_conf_url_check("https://u:p@host"));
	assert_non_null(rs_conf_url_check("https://host:99999"));
	assert_non_null(rs_conf_url_check("https://host:"));
	assert_non_null(rs_conf_url_check("graph.microsoft.com"));
	assert_int_equal(rs_conf_parse_duration("250", &ms), RS_OK);
	assert_int_equal(ms, 250);
	assert_int_equal(rs_conf_parse_duration("30s", &ms), RS_OK);
	assert_int_equal(ms, 30000);
	assert_int_equal(rs_conf_parse_duration("5m", &ms), RS_OK);
	assert_int_equal(ms, 300000);
	assert_int_equal(rs_conf_parse_duration("1h", &ms), RS_OK);
	assert_int_equal(ms, 3600000);
	assert_int_equal(rs_conf_parse_duration("2d", &ms), RS_OK);
	assert_int_equal(ms, 172800000);
	assert_int_equal(rs_conf_parse_duration("-1s", &ms), RS_ERR_PARSE);
	assert_int_equal(rs_conf_parse_duration("5 minutes", &ms), RS_ERR_PARSE);
	assert_int_equal(rs_conf_parse_duration("99999999999999999999h", &ms),
			 RS_ERR_PARSE);
}

/* noinline: once inlined, gcc -O2 takes open_memstream's hold on &buf for a
 * dangling pointer (-Wdangling-pointer false positive). */
__attribute__((noinline)) static char *dump_to_string(const rs_conf_t *conf,
						     bool redact) {
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);

	rs_conf_dump(conf, fp, redact);
	fclose(fp);
	return buf;
}

/* Redaction; and the unredacted dump loads back to the same config. */
static void test_dump(void **state) {
	char path[512], err[8192];
	rs_conf_t *conf, *again;
	char *red, *full, *plain, *plain2, *tenant_part, *texts[3];
	size_t n = 0;

	(void)state;
	rs_snprintf(path, sizeof(path), "%s/config/rostersync.conf", src_dir());
	conf = rs_conf_load(path, NULL, 0, err, sizeof(err));
	if (!conf)
		fail_msg("%s", err);
	red = dump_to_string(conf, true);
	assert_null(strstr(red, "CONTOSO_GRAPH_SECRET"));
	assert_null(strstr(red, "contoso-talkdesk.secret"));
	assert_null(strstr(red, "FABRIKAM_PFX_PASSWORD"));
	assert_non_null(strstr(red, "client_secret = \"<redacted>\";"));
	assert_non_null(strstr(red, "base_url = \"https://graph.microsoft.us/v1.0\";"));
	full = dump_to_string(conf, false);
	assert_non_null(strstr(full, "env:CONTOSO_GRAPH_SECRET"));
	plain = rs_strdup(full);

	/* Split at the tenant comments; each part is valid libconfig. */
	tenant_part = strstr(plain, "\n# tenant ");
	assert_non_null(tenant_part);
	*tenant_part++ = '\0';
	while (tenant_part && n < 3) {
		char *next = strstr(tenant_part + 1, "\n# tenant ");
		texts[n++] = tenant_part;
		if (next)
			*next++ = '\0';
		tenant_part = next;
	}
	assert_int_equal(n, 3);
	again = rs_conf_load_strings(strchr(plain, '\n') + 1,
				     (const char *const *)texts, n, NULL, NULL,
				     0, err, sizeof(err));
	if (!again)
		fail_msg("dump does not load back:\n%s", err);
	plain2 = dump_to_string(again, false);
	/* Same values; only the header line and the tenants' source names
	 * differ, so compare the global part. */
	assert_non_null(strstr(plain2, "\nlog = {"));
	*strstr(full, "\n# tenant ") = '\0';
	*strstr(plain2, "\n# tenant ") = '\0';
	assert_string_equal(strstr(plain2, "\nlog = {"), strstr(full, "\nlog = {"));
	assert_int_equal(rs_conf_tenant_count(again), 3);
	assert_int_equal(rs_conf_tenant_by_id(again, "fabrikam")->mapping.count,
			 3);
	free(plain2); /* checksrc: allow (open_memstream) */
	free(full);   /* checksrc: allow */
	free(red);    /* checksrc: allow */
	rs_free(plain);
	rs_conf_destroy(again);
	rs_conf_destroy(conf);
}

/* docs/CONFIGURATION.md is what rs_conf_doc_markdown() writes, and names
 * every key of both tables. */
static void test_doc_up_to_date(void **state) {
	char path[512];
	char *gen = NULL, *doc;
	size_t glen = 0, dlen, i, n;
	FILE *fp;
	rs_conf_scope_t scopes[] = {RS_CONF_SCOPE_GLOBAL, RS_CONF_SCOPE_TENANT};
	size_t s;

	(void)state;
	fp = open_memstream(&gen, &glen);
	rs_conf_doc_markdown(fp);
	fclose(fp);
	rs_snprintf(path, sizeof(path), "%s/docs/CONFIGURATION.md", src_dir());
	fp = fopen(path, "rb");
	if (!fp)
		fail_msg("cannot open %s", path);
	doc = rs_malloc(1 << 20);
	dlen = fread(doc, 1, (1 << 20) - 1, fp);
	doc[dlen] = '\0';
	fclose(fp);
	if (strcmp(doc, gen))
		fail_msg("docs/CONFIGURATION.md is out of date: regenerate it "
			 "with rostersync-confdoc > docs/CONFIGURATION.md");
	for (s = 0; s < 2; s++) {
		const rs_conf_prop_t *p = rs_conf_props(scopes[s], &n);
		for (i = 0; i < n; i++) {
			char key[128];
			rs_snprintf(key, sizeof(key), "| `%s` |", p[i].name);
			if (!(p[i].flags & RS_CONF_HIDDEN) && !strstr(doc, key))
				fail_msg("%s missing from CONFIGURATION.md",
					 p[i].name);
		}
	}
	rs_free(doc);
	free(gen); /* checksrc: allow (open_memstream) */
}

/* RS_CONF_WRITE_DOC=path writes the doc (how the committed file is made
 * until the lead wires rostersync-confdoc). */
static void test_write_doc_if_asked(void **state) {
	const char *out = getenv("RS_CONF_WRITE_DOC");
	FILE *fp;

	(void)state;
	if (!out)
		return;
	fp = fopen(out, "w");
	assert_non_null(fp);
	rs_conf_doc_markdown(fp);
	fclose(fp);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write_doc_if_asked),
		cmocka_unit_test(test_table_complete),
		cmocka_unit_test(test_example_config),
		cmocka_unit_test(test_all_config_files),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_overrides),
		cmocka_unit_test_setup_teardown(test_file_errors, tmp_setup,
						tmp_teardown),
		cmocka_unit_test_setup_teardown(test_syntax_errors, tmp_setup,
						tmp_teardown),
		cmocka_unit_test(test_inline_secret),
		cmocka_unit_test_setup_teardown(test_secret_resolution,
						tmp_setup, tmp_teardown),
		cmocka_unit_test(test_auth_methods),
		cmocka_unit_test_setup_teardown(test_mapping, tmp_setup,
						tmp_teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_tenant,
						tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(test_tenants_dir, tmp_setup,
						tmp_teardown),
		cmocka_unit_test(test_talkdesk),
		cmocka_unit_test(test_kafka_requires_brokers),
		cmocka_unit_test(test_errors_bounded),
		cmocka_unit_test(test_url_and_duration),
		cmocka_unit_test(test_dump),
		cmocka_unit_test(test_doc_up_to_date),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
