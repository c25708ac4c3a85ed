/*
 * rs_conf_table.c - the two configuration tables (global, tenant) and the
 * documentation generated from them (STYLE.md 13).
 *
 * Every key exists exactly once, here.  The loader, the -X setter,
 * rs_conf_dump() and docs/CONFIGURATION.md all walk these rows, so adding a
 * key is one line plus its struct member.  Keys of one group must stay
 * contiguous: the dump emits nested libconfig groups by comparing each key
 * with the previous one.
 */
#include "rs/rs_base.h"
#include "rs/rs_conf.h"

#include <stddef.h>

#define G(name, type, member, min, max, def, values, flags, desc)             \
	{name, type, offsetof(rs_conf_global_t, member), min, max, def, values, \
	 flags, desc}
#define T(name, type, member, min, max, def, values, flags, desc)             \
	{name, type, offsetof(rs_conf_tenant_t, member), min, max, def, values, \
	 flags, desc}

#define SEC 1000LL
#define MIN (60 * SEC)
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)

/* Order matters only for grouping (see the file comment). */
static const rs_conf_prop_t global_props[] = {
	G("log.level", RS_CONF_T_ENUM, log.level, 0, 0, "info",
	  "emerg|alert|crit|err|warning|notice|info|debug", RS_CONF_RELOADABLE,
	  "Lowest syslog severity that is logged."),
	G("log.format", RS_CONF_T_ENUM, log.format, 0, 0, "text", "text|json",
	  0, "Log line format: human-readable text or one JSON object per line."),
	G("debug", RS_CONF_T_FLAGS, debug, 0, 0, "",
	  "http|queue|auth|plan|worker|sim|conf|all", RS_CONF_RELOADABLE,
	  "Comma-separated debug contexts to log at debug level "
	  "(e.g. \"http,queue\"); \"all\" enables every context."),

	G("queue.backend", RS_CONF_T_ENUM, queue.backend, 0, 0, "sqlite",
	  "sqlite|kafka", 0,
	  "Queue backend: embedded SQLite (one machine, no broker) or Apache "
	  "Kafka (workers scaled out across machines)."),
	G("queue.kafka.brokers", RS_CONF_T_STR, queue.kafka.brokers, 1, 1024,
	  NULL, NULL, 0,
	  "Bootstrap brokers, \"host:port,host:port\". Required when "
	  "queue.backend is kafka."),
	G("queue.kafka.topic_prefix", RS_CONF_T_STR, queue.kafka.topic_prefix,
	  0, 200, "rostersync.", NULL, 0,
	  "Prefix of every topic name whose name is not set explicitly."),
	G("queue.kafka.topics.jobs_group", RS_CONF_T_STR,
	  queue.kafka.topics.jobs_group, 0, 249, NULL, NULL, 0,
	  "Topic of per-group jobs. Default: topic_prefix + \"jobs.group\"."),
	G("queue.kafka.topics.jobs_user", RS_CONF_T_STR,
	  queue.kafka.topics.jobs_user, 0, 249, NULL, NULL, 0,
	  "Topic of per-user jobs. Default: topic_prefix + \"jobs.user\"."),
	G("queue.kafka.topics.retry", RS_CONF_T_STR, queue.kafka.topics.retry,
	  0, 249, NULL, NULL, 0,
	  "Topic holding jobs whose retry delay exceeds worker.retry_hold_max. "
	  "Default: topic_prefix + \"jobs.retry\"."),
	G("queue.kafka.topics.dlq", RS_CONF_T_STR, queue.kafka.topics.dlq, 0,
	  249, NULL, NULL, 0,
	  "Dead-letter topic. Default: topic_prefix + \"jobs.dlq\"."),
	G("queue.kafka.topics.applied", RS_CONF_T_STR,
	  queue.kafka.topics.applied, 0, 249, NULL, NULL, 0,
	  "Compacted topic recording the last applied generation per target "
	  "key. Default: topic_prefix + \"applied\"."),
	G("queue.kafka.partitions", RS_CONF_T_INT, queue.kafka.partitions, 1,
	  1024, "12", NULL, 0,
	  "Partitions of job topics created by rostersync (bounds how many "
	  "workers share one topic)."),
	G("queue.kafka.replication_factor", RS_CONF_T_INT,
	  queue.kafka.replication_factor, -1, 16, "-1", NULL, 0,
	  "Replication factor of topics created by rostersync; -1 = the "
	  "broker's default.replication.factor."),
	G("queue.kafka.properties", RS_CONF_T_MAP, queue.kafka.properties, 0,
	  64, NULL, NULL, 0,
	  "Extra librdkafka properties as a list of \"key=value\" strings, "
	  "e.g. [ \"security.protocol=ssl\" ]. Values go to both producer "
	  "and consumer."),
	G("queue.sqlite.path", RS_CONF_T_PATH, queue.sqlite.path, 0, 0,
	  "/var/lib/rostersync/queue.db", NULL, 0,
	  "SQLite queue database file (relative: to the main file's "
	  "directory)."),

	G("planner.interval", RS_CONF_T_DURATION, planner.interval_ms, 10 * SEC,
	  DAY, "5m", NULL, RS_CONF_RELOADABLE,
	  "Time between two planning runs of a tenant when running on an "
	  "interval."),
	G("planner.concurrency", RS_CONF_T_INT, planner.concurrency, 1, 256,
	  "8", NULL, 0, "Tenants planned in parallel."),
	G("planner.max_attempts", RS_CONF_T_INT, planner.max_attempts, 1, 20,
	  "8", NULL, 0,
	  "Attempts of one Graph or Talkdesk read on a transient failure (429, "
	  "5xx, timeout), with backoff or Retry-After between them (at most "
	  "10 s each); a read that still fails fails its tenant's cycle."),
	G("planner.report_dir", RS_CONF_T_PATH, planner.report_dir, 0, 0,
	  "/var/lib/rostersync/reports", NULL, 0,
	  "Directory of dry-run plans and held-back removal reports."),
	G("planner.audit_dir", RS_CONF_T_PATH, planner.audit_dir, 0, 0,
	  "/var/lib/rostersync/audit", NULL, 0,
	  "Directory of the audit trail (one JSON line per published job)."),
	G("planner.metrics_listen", RS_CONF_T_STR, planner.metrics_listen, 0,
	  256, NULL, NULL, 0,
	  "\"host:port\" of the planner's Prometheus /metrics endpoint; "
	  "unset = no endpoint."),
	G("planner.max_removals", RS_CONF_T_INT, planner.max_removals, 0,
	  1000000, "50", NULL, RS_CONF_RELOADABLE,
	  "A plan removing more members than this from one tenant is held "
	  "back and reported (deletion guard)."),
	G("planner.max_removal_percent", RS_CONF_T_INT,
	  planner.max_removal_percent, 0, 100, "20", NULL, RS_CONF_RELOADABLE,
	  "A plan removing more than this percentage of a group's members "
	  "is held back and reported."),
	G("planner.group_member_warn", RS_CONF_T_INT, planner.group_member_warn,
	  0, 1000000, "200", NULL, RS_CONF_RELOADABLE,
	  "Warn when a target group would exceed this many members (Teams "
	  "call queues serve at most 200 agents from a group)."),
	G("planner.resolve_batch", RS_CONF_T_ENUM, planner.resolve_batch, 0, 0,
	  "batch", "batch|in", 0,
	  "How identities are resolved in Graph: JSON $batch requests or "
	  "$filter \"in\" lists."),
	G("planner.cache_ttl", RS_CONF_T_DURATION, planner.cache_ttl_ms, 0,
	  7 * DAY, "1h", NULL, RS_CONF_RELOADABLE,
	  "How long a resolved identity (e-mail to Entra object id) is cached; "
	  "0 disables the cache."),

	G("worker.threads", RS_CONF_T_INT, worker.threads, 1, 1024, "8", NULL,
	  0, "Threads applying jobs in one worker process."),
	/* Bounded memory (G6, docs/benchmarks.md): a held job costs about
	 * 4.5 KB; 30,000 measured 188 MB RSS, 50,000 271 MB (over 256). */
	G("worker.max_in_flight", RS_CONF_T_INT, worker.max_in_flight, 1,
	  30000, "1000", NULL, 0,
	  "Jobs fetched but not finished in one worker; at the bound it takes "
	  "no more messages until some finish (backpressure). A held job "
	  "costs about 4.5 KB of memory (small jobs): the maximum, 30000, "
	  "measured 188 MB RSS."),
	G("worker.max_attempts", RS_CONF_T_INT, worker.max_attempts, 1, 100,
	  "8", NULL, 0,
	  "Attempts of a retriable failure before the job goes to the DLQ."),
	G("worker.retry_base_ms", RS_CONF_T_DURATION, worker.retry_base_ms, 10,
	  HOUR, "1s", NULL, 0,
	  "First retry delay; doubled per attempt with jitter."),
	G("worker.retry_max_ms", RS_CONF_T_DURATION, worker.retry_max_ms, 100,
	  DAY, "5m", NULL, 0,
	  "Largest retry delay (Retry-After from the server may be longer and "
	  "is honoured)."),
	G("worker.retry_hold_max", RS_CONF_T_DURATION, worker.retry_hold_max_ms,
	  0, 10 * MIN, "30s", NULL, 0,
	  "Retry delays up to this are waited out in the worker; longer ones "
	  "go through the retry topic."),
	G("worker.retry_max_held", RS_CONF_T_INT, worker.retry_max_held, 1,
	  2000, "1000", NULL, 0,
	  "Jobs read back from the retry topic and waiting for their due time "
	  "in one worker; beyond this they stay in the topic (bounded memory "
	  "for long delays). Shared out among tenants: one holding its share "
	  "sends further records back to the topic (docs/worker.md). Held on "
	  "top of worker.max_in_flight, at about 16 KB each (a held retry "
	  "record keeps its fetch buffer): both at their maximum measured "
	  "212 MB (bench/worker-bench rss)."),
	G("worker.shutdown_timeout", RS_CONF_T_DURATION,
	  worker.shutdown_timeout_ms, SEC, 10 * MIN, "30s", NULL, 0,
	  "On SIGTERM, time given to in-flight jobs before they are released."),
	G("worker.metrics_listen", RS_CONF_T_STR, worker.metrics_listen, 0, 256,
	  NULL, NULL, 0,
	  "\"host:port\" of the worker's Prometheus /metrics endpoint; unset = "
	  "no endpoint."),
	G("worker.metrics_tenant_labels", RS_CONF_T_BOOL,
	  worker.metrics_tenant_labels, 0, 0, "true", NULL, 0,
	  "Label worker metrics with the tenant id (one series per tenant)."),
	G("worker.group_id", RS_CONF_T_STR, worker.group_id, 1, 255,
	  "rostersync-workers", NULL, 0,
	  "Kafka consumer group shared by all workers."),
	G("worker.tenant_concurrency_initial", RS_CONF_T_INT,
	  worker.tenant_concurrency_initial, 1, 1000, "4", NULL, 0,
	  "Concurrent requests per tenant at start; adapts to 429s."),
	G("worker.tenant_concurrency_max", RS_CONF_T_INT,
	  worker.tenant_concurrency_max, 1, 1000, "16", NULL, 0,
	  "Upper bound of the adaptive per-tenant concurrency."),

	G("http.timeout", RS_CONF_T_DURATION, http.timeout_ms, SEC, 10 * MIN,
	  "30s", NULL, 0, "Total time of one HTTP request."),
	G("http.connect_timeout", RS_CONF_T_DURATION, http.connect_timeout_ms,
	  100, 2 * MIN, "10s", NULL, 0,
	  "Time to establish a connection (TCP and TLS)."),
	G("http.ca_file", RS_CONF_T_PATH, http.ca_file, 0, 0, NULL, NULL, 0,
	  "PEM CA bundle for TLS verification; unset = the system store. TLS "
	  "is always verified."),
	G("http.user_agent", RS_CONF_T_STR, http.user_agent, 1, 256,
	  "rostersync/" RS_VERSION_STR, NULL, 0, "User-Agent header."),
	G("http.max_response_bytes", RS_CONF_T_INT64, http.max_response_bytes,
	  1024, 1024LL * 1024 * 1024, "16777216", NULL, 0,
	  "Largest response body accepted; larger ones fail the request."),

	G("tenants_dir", RS_CONF_T_PATH, tenants_dir, 0, 0, "tenants.d", NULL,
	  0,
	  "Folder with one *.conf file per tenant (relative: to the main "
	  "file's directory)."),
};

static const rs_conf_prop_t tenant_props[] = {
	T("tenant.id", RS_CONF_T_STR, id, 1, RS_CONF_MAX_TENANT_ID, NULL, NULL,
	  RS_CONF_REQUIRED,
	  "Tenant identifier: 1-64 characters of [a-z0-9_-], unique across "
	  "tenants_dir. Used in job keys, logs and metrics."),
	T("tenant.name", RS_CONF_T_STR, name, 1, 256, NULL, NULL, 0,
	  "Display name. Default: the id."),
	T("tenant.enabled", RS_CONF_T_BOOL, enabled, 0, 0, "true", NULL,
	  RS_CONF_RELOADABLE,
	  "A disabled tenant is validated but neither planned nor applied."),

	T("tenant.graph.tenant_id", RS_CONF_T_STR, graph.tenant_id, 1, 253,
	  NULL, NULL, RS_CONF_REQUIRED,
	  "Entra directory: its GUID or a verified domain name."),
	T("tenant.graph.client_id", RS_CONF_T_STR, graph.client_id, 1, 64,
	  NULL, NULL, RS_CONF_REQUIRED, "Application (client) id, a GUID."),
	T("tenant.graph.client_secret", RS_CONF_T_SECRET, graph.client_secret,
	  0, 0, NULL, NULL, RS_CONF_SENSITIVE,
	  "Client secret reference. Exactly one of client_secret, "
	  "certificate.pfx or certificate.key+cert must be set."),
	T("tenant.graph.certificate.pfx", RS_CONF_T_PATH,
	  graph.certificate.pfx, 0, 0, NULL, NULL, 0,
	  "PKCS#12 file with the certificate and its private key."),
	T("tenant.graph.certificate.pfx_password", RS_CONF_T_SECRET,
	  graph.certificate.pfx_password, 0, 0, NULL, NULL, RS_CONF_SENSITIVE,
	  "Password of the PFX file (reference); only with certificate.pfx."),
	T("tenant.graph.certificate.key", RS_CONF_T_SECRET,
	  graph.certificate.key, 0, 0, NULL, NULL, RS_CONF_SENSITIVE,
	  "Reference to the PEM private key; needs certificate.cert."),
	T("tenant.graph.certificate.cert", RS_CONF_T_PATH,
	  graph.certificate.cert, 0, 0, NULL, NULL, 0,
	  "PEM certificate registered with the application; needs "
	  "certificate.key."),
	T("tenant.graph.login_url", RS_CONF_T_URL, graph.login_url, 0, 0,
	  "https://login.microsoftonline.com", NULL, 0,
	  "Entra login host (sovereign clouds and tests change it)."),
	T("tenant.graph.base_url", RS_CONF_T_URL, graph.base_url, 0, 0,
	  "https://graph.microsoft.com/v1.0", NULL, 0,
	  "Microsoft Graph base URL, version included."),

	T("tenant.talkdesk.account", RS_CONF_T_STR, talkdesk.account, 1, 63,
	  NULL, NULL, 0,
	  "Talkdesk account name ([a-z0-9-]), the {account} of the token "
	  "host. Required when any tenant.talkdesk key is set."),
	T("tenant.talkdesk.region", RS_CONF_T_ENUM, talkdesk.region, 0, 0, "us",
	  "us|eu|ca|au", 0,
	  "Region giving the default hosts: us api.talkdeskapp.com / "
	  "{account}.talkdeskid.com, eu api.talkdeskapp.eu / "
	  "{account}.talkdeskid.eu, ca api.talkdeskappca.com / "
	  "{account}.talkdeskidca.com, au api.mytalkdesk.au / "
	  "{account}.talkdeskid.au (au is unconfirmed: set base_url and "
	  "token_url)."),
	T("tenant.talkdesk.base_url", RS_CONF_T_URL, talkdesk.base_url, 0, 0,
	  NULL, NULL, 0, "Talkdesk API base URL. Default: from region."),
	T("tenant.talkdesk.token_url", RS_CONF_T_URL, talkdesk.token_url, 0, 0,
	  NULL, NULL, 0,
	  "OAuth token URL. Default: https://{account}.<region id host>"
	  "/oauth/token."),
	T("tenant.talkdesk.client_id", RS_CONF_T_STR, talkdesk.client_id, 1,
	  256, NULL, NULL, 0,
	  "OAuth client id. Required when any tenant.talkdesk key is set."),
	T("tenant.talkdesk.client_secret", RS_CONF_T_SECRET,
	  talkdesk.client_secret, 0, 0, NULL, NULL, RS_CONF_SENSITIVE,
	  "OAuth client secret reference. Required when any tenant.talkdesk "
	  "key is set."),
	T("tenant.talkdesk.scopes", RS_CONF_T_STRLIST, talkdesk.scopes, 0, 32,
	  NULL, NULL, 0,
	  "Requested scopes. Default from source: queues \"users:read "
	  "queues:read queues-users:read\", ring_groups \"users:read "
	  "ring-groups:read user-ring-groups:read\", guardian "
	  "\"guardian-users:read\"."),
	T("tenant.talkdesk.source", RS_CONF_T_ENUM, talkdesk.source, 0, 0,
	  "queues", "queues|ring_groups|guardian", 0,
	  "Which API lists the groups: Queues API, legacy ring groups "
	  "(deprecated 2026-07-31) or Guardian users."),

	T("tenant.mapping", RS_CONF_T_MAP, mapping, 0, RS_CONF_MAX_MAP, NULL,
	  NULL, 0,
	  "Source group name to Entra group id (GUID): a group { Sales = "
	  "\"<guid>\"; } or a list [ \"Sales Team=<guid>\" ]. Not with "
	  "mapping_file."),
	T("tenant.mapping_file", RS_CONF_T_PATH, mapping_file, 0, 0, NULL, NULL,
	  0,
	  "JSON object {\"Sales\": \"<guid>\"} with the mapping (relative: to "
	  "the tenant file). Not with mapping."),

	T("tenant.sync.mode", RS_CONF_T_ENUM, sync.mode, 0, 0, "exact",
	  "exact|additive", RS_CONF_RELOADABLE,
	  "exact adds and removes members; additive only adds."),
	T("tenant.sync.max_removals", RS_CONF_T_INT, sync.max_removals, -1,
	  1000000, "-1", NULL, RS_CONF_RELOADABLE,
	  "Deletion guard for this tenant; -1 = planner.max_removals."),
	T("tenant.sync.max_removal_percent", RS_CONF_T_INT,
	  sync.max_removal_percent, -1, 100, "-1", NULL, RS_CONF_RELOADABLE,
	  "Deletion guard in percent for this tenant; -1 = "
	  "planner.max_removal_percent."),
};

const rs_conf_prop_t *rs_conf_props(rs_conf_scope_t scope, size_t *count) {
	if (scope == RS_CONF_SCOPE_TENANT) {
		*count = RS_ARRAY_SIZE(tenant_props);
		return tenant_props;
	}
	*count = RS_ARRAY_SIZE(global_props);
	return global_props;
}

const rs_conf_prop_t *rs_conf_prop_find(rs_conf_scope_t scope,
					const char *name) {
	size_t n, i;
	const rs_conf_prop_t *props = rs_conf_props(scope, &n);

	for (i = 0; i < n; i++)
		if (!strcmp(props[i].name, name))
			return &props[i];
	return NULL;
}

static const char *type_name(rs_conf_type_t type) {
	switch (type) {
	case RS_CONF_T_STR:
		return "string";
	case RS_CONF_T_INT:
	case RS_CONF_T_INT64:
		return "integer";
	case RS_CONF_T_BOOL:
		return "bool";
	case RS_CONF_T_DOUBLE:
		return "number";
	case RS_CONF_T_ENUM:
		return "enum";
	case RS_CONF_T_FLAGS:
		return "list of flags";
	case RS_CONF_T_DURATION:
		return "duration";
	case RS_CONF_T_SECRET:
		return "secret ref";
	case RS_CONF_T_URL:
		return "URL";
	case RS_CONF_T_PATH:
		return "path";
	case RS_CONF_T_STRLIST:
		return "string list";
	case RS_CONF_T_MAP:
		return "map";
	}
	return "?";
}

/* Writes "`a`, `b`" for "a|b": a bare '|' would split a markdown cell. */
static void md_values(FILE *fp, const char *values) {
	const char *p = values;

	while (*p) {
		size_t len = strcspn(p, "|");
		fprintf(fp, "%s`%.*s`", p == values ? "" : ", ", (int)len, p);
		p += len;
		if (*p == '|')
			p++;
	}
}

static void md_duration(FILE *fp, int64_t ms) {
	if (ms && ms % DAY == 0)
		fprintf(fp, "%lldd", (long long)(ms / DAY));
	else if (ms && ms % HOUR == 0)
		fprintf(fp, "%lldh", (long long)(ms / HOUR));
	else if (ms && ms % MIN == 0)
		fprintf(fp, "%lldm", (long long)(ms / MIN));
	else if (ms && ms % SEC == 0)
		fprintf(fp, "%llds", (long long)(ms / SEC));
	else
		fprintf(fp, "%lldms", (long long)ms);
}

static void md_table(FILE *fp, rs_conf_scope_t scope) {
	size_t n, i;
	const rs_conf_prop_t *props = rs_conf_props(scope, &n);
	char section[64] = "";

	for (i = 0; i < n; i++) {
		const rs_conf_prop_t *p = &props[i];
		/* Sections: first component of global keys, first two of
		 * tenant keys ("tenant.graph"). */
		const char *dot = strchr(p->name, '.');
		size_t slen;

		if (p->flags & RS_CONF_HIDDEN)
			continue;
		if (scope == RS_CONF_SCOPE_TENANT && dot && strchr(dot + 1, '.'))
			dot = strchr(dot + 1, '.');
		else if (scope == RS_CONF_SCOPE_TENANT)
			dot = NULL;
		slen = dot ? (size_t)(dot - p->name) : strlen(p->name);
		if (scope == RS_CONF_SCOPE_TENANT && !dot)
			slen = strlen("tenant");
		if (strlen(section) != slen ||
		    strncmp(section, p->name, slen) != 0) {
			rs_snprintf(section, sizeof(section), "%.*s", (int)slen,
				    p->name);
			fprintf(fp,
				"\n### %s\n\n"
				"| Key | Type | Default | Range / values | "
				"Flags | Description |\n"
				"|---|---|---|---|---|---|\n",
				section);
		}
		fprintf(fp, "| `%s` | %s | ", p->name, type_name(p->type));
		if (p->def && *p->def)
			fprintf(fp, "`%s`", p->def);
		else
			fprintf(fp, "-");
		fprintf(fp, " | ");
		if (p->values) {
			md_values(fp, p->values);
		} else if (p->type == RS_CONF_T_DURATION) {
			md_duration(fp, p->min);
			fprintf(fp, " .. ");
			md_duration(fp, p->max);
		} else if ((p->type == RS_CONF_T_INT ||
			    p->type == RS_CONF_T_INT64) &&
			   (p->min || p->max)) {
			fprintf(fp, "%lld .. %lld", (long long)p->min,
				(long long)p->max);
		} else if (p->max && (p->type == RS_CONF_T_STRLIST ||
				      p->type == RS_CONF_T_MAP)) {
			fprintf(fp, "at most %lld entries", (long long)p->max);
		} else if (p->max) {
			fprintf(fp, "%lld .. %lld chars", (long long)p->min,
				(long long)p->max);
		} else {
			fprintf(fp, "-");
		}
		fprintf(fp, " | %s%s%s | %s |\n",
			p->flags & RS_CONF_REQUIRED ? "required " : "",
			p->flags & RS_CONF_SENSITIVE ? "sensitive " : "",
			p->flags & RS_CONF_RELOADABLE ? "reloadable" : "",
			p->desc);
	}
}

void rs_conf_doc_markdown(FILE *fp) {
	fprintf(fp,
		"<!-- Generated by rs_conf_doc_markdown() from "
		"common/rs_conf_table.c: do not edit.\n"
		"     Regenerate: rostersync-confdoc > docs/CONFIGURATION.md "
		"(test_conf checks it). -->\n"
		"# rostersync configuration reference\n\n"
		"rostersync reads one main file (libconfig syntax, e.g. "
		"`config/rostersync.conf`) with the global keys below, and one "
		"file per tenant in `tenants_dir` (every `*.conf`, sorted by "
		"name; hidden files are skipped), each holding one "
		"`tenant = { ... };` group.  Dotted keys are nested groups: "
		"`queue.kafka.brokers` is written\n`queue = { kafka = { brokers "
		"= \"...\"; }; };`.\n\n"
		"## Rules\n\n"
		"- The whole configuration is validated before anything runs. "
		"Every error names file, line and key "
		"(`tenants.d/t007.conf:12: tenant.graph.base_url: must be an "
		"http(s) URL`); all errors are reported, not only the first.\n"
		"- Unknown keys are errors (with a \"did you mean\" hint). "
		"`@include` is not accepted.\n"
		"- Types are strict: integers are unquoted, bools are "
		"`true`/`false`, strings are quoted. Durations are an integer "
		"of milliseconds or a string with a unit: `\"250ms\"`, "
		"`\"30s\"`, `\"5m\"`, `\"1h\"`, `\"1d\"`.\n"
		"- Relative paths are taken from the directory of the file "
		"that contains them.\n"
		"- URLs must be `http://` or `https://` with a host, no "
		"user:password@, no spaces; a trailing `/` is removed.\n"
		"- **Secrets** (flag *sensitive*) are references, never "
		"values: `\"env:NAME\"` (environment variable) or "
		"`\"file:PATH\"` (file content, trailing newline removed; "
		"relative to the file that contains the reference). An inline "
		"value is an error that does not repeat the value. "
		"`--dump-config` prints them as `<redacted>`. Resolved secrets "
		"live only in caller buffers that are wiped after use.\n"
		"- Limits: %d tenants, %d list items, %d map entries, %d bytes "
		"per string, %d bytes per URL, %d bytes per file.\n"
		"- *reloadable* keys are meant to change without a restart "
		"(SIGHUP); other keys need a restart.\n\n"
		"## Overrides (`-X key=value`)\n\n"
		"`-X` goes through the same setter as the files, after them: "
		"`-X worker.threads=4`, `-X log.level=debug`. Tenant keys are "
		"addressed as `tenant.<id>.<key without tenant.>`, e.g. "
		"`-X tenant.contoso.graph.base_url=http://127.0.0.1:8080/v1.0`, "
		"or `tenant.*.<key>` for every tenant. Lists and maps take "
		"comma-separated items (`a,b`, `k=v,k2=v2`). `tenant.id` cannot "
		"be overridden.\n\n"
		"## Tenant file\n\n"
		"Exactly one Graph auth method: `client_secret`, "
		"`certificate.pfx` (+ optional `pfx_password`), or "
		"`certificate.key` + `certificate.cert`.  The mapping "
		"(`mapping` or `mapping_file`, not both) maps source group "
		"names to Entra group GUIDs; names are unique, and one Entra "
		"group takes members from one source group only.\n\n"
		"## Global keys\n",
		RS_CONF_MAX_TENANTS, RS_CONF_MAX_LIST, RS_CONF_MAX_MAP,
		RS_CONF_MAX_STR, RS_CONF_MAX_URL, RS_CONF_MAX_FILE);
	md_table(fp, RS_CONF_SCOPE_GLOBAL);
	fprintf(fp, "\n## Tenant keys\n");
	md_table(fp, RS_CONF_SCOPE_TENANT);
}

/* -------------------------------------------------------------------------
 * --dump-config: libconfig text, nested groups rebuilt from the dotted keys
 * ---------------------------------------------------------------------- */
static void dump_quoted(FILE *fp, const char *s) {
	fputc('"', fp);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(fp, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(fp, "\\x%02x", (unsigned char)*s);
		else
			fputc(*s, fp);
	}
	fputc('"', fp);
}

static void dump_indent(FILE *fp, int depth) {
	int i;

	for (i = 0; i < depth; i++)
		fputs("  ", fp);
}

static void dump_value(FILE *fp, const rs_conf_prop_t *p, const void *obj,
		       bool redact) {
	const char *m = (const char *)obj + p->offset;
	size_t i;

	switch (p->type) {
	case RS_CONF_T_STR:
	case RS_CONF_T_URL:
	case RS_CONF_T_PATH:
	case RS_CONF_T_SECRET: {
		const char *s = *(char *const *)(const void *)m;
		if (redact && (p->flags & RS_CONF_SENSITIVE))
			s = "<redacted>";
		dump_quoted(fp, s);
		break;
	}
	case RS_CONF_T_INT:
		fprintf(fp, "%d", *(const int *)(const void *)m);
		break;
	case RS_CONF_T_INT64: {
		long long v = *(const int64_t *)(const void *)m;
		fprintf(fp, "%lld%s", v, v > INT32_MAX || v < INT32_MIN ? "L" : "");
		break;
	}
	case RS_CONF_T_BOOL:
		fputs(*(const bool *)(const void *)m ? "true" : "false", fp);
		break;
	case RS_CONF_T_DOUBLE:
		fprintf(fp, "%.17g", *(const double *)(const void *)m);
		break;
	case RS_CONF_T_ENUM: {
		int idx = *(const int *)(const void *)m, k = 0;
		const char *v = p->values;
		while (k < idx && strchr(v, '|')) {
			v = strchr(v, '|') + 1;
			k++;
		}
		fprintf(fp, "\"%.*s\"", (int)strcspn(v, "|"), v);
		break;
	}
	case RS_CONF_T_FLAGS: {
		unsigned int mask = *(const unsigned int *)(const void *)m;
		const char *v = p->values;
		int bit = 0;
		bool first = true;
		fputc('"', fp);
		if (mask == 0xffffffffu) {
			fputs("all", fp);
		} else {
			while (*v) {
				size_t len = strcspn(v, "|");
				if (mask & (1u << bit)) {
					fprintf(fp, "%s%.*s", first ? "" : ",",
						(int)len, v);
					first = false;
				}
				v += len + (v[len] == '|');
				bit++;
			}
		}
		fputc('"', fp);
		break;
	}
	case RS_CONF_T_DURATION: {
		int64_t ms = *(const int64_t *)(const void *)m;
		fputc('"', fp);
		md_duration(fp, ms);
		fputc('"', fp);
		break;
	}
	case RS_CONF_T_STRLIST: {
		const rs_conf_strlist_t *l = (const void *)m;
		fputs("[ ", fp);
		for (i = 0; i < l->count; i++) {
			if (i)
				fputs(", ", fp);
			dump_quoted(fp, l->items[i]);
		}
		fputs(" ]", fp);
		break;
	}
	case RS_CONF_T_MAP: {
		/* The list form: map keys need not be libconfig names. */
		const rs_conf_map_t *mp = (const void *)m;
		fputs("[", fp);
		for (i = 0; i < mp->count; i++) {
			char *kv = rs_malloc(strlen(mp->keys[i]) +
					     strlen(mp->values[i]) + 2);
			memcpy(kv, mp->keys[i], strlen(mp->keys[i]));
			kv[strlen(mp->keys[i])] = '=';
			memcpy(kv + strlen(mp->keys[i]) + 1, mp->values[i],
			       strlen(mp->values[i]) + 1);
			fputs(i ? ",\n    " : " ", fp);
			dump_quoted(fp, kv);
			rs_free(kv);
		}
		fputs(" ]", fp);
		break;
	}
	}
}

static bool value_unset(const rs_conf_prop_t *p, const void *obj) {
	const char *m = (const char *)obj + p->offset;

	if (p->type == RS_CONF_T_STR || p->type == RS_CONF_T_URL ||
	    p->type == RS_CONF_T_PATH || p->type == RS_CONF_T_SECRET)
		return *(char *const *)(const void *)m == NULL;
	return false;
}

/* Keys whose value must not be written back: the mapping loaded from a
 * mapping_file (mapping and mapping_file together are an error) and the
 * Talkdesk defaults of a tenant without Talkdesk (setting them would turn
 * Talkdesk on).  Keeps the unredacted dump loadable. */
static const char *dump_skip(rs_conf_scope_t scope, const void *obj,
			     const char *name) {
	const rs_conf_tenant_t *tn = obj;

	if (scope != RS_CONF_SCOPE_TENANT)
		return NULL;
	if (!strcmp(name, "tenant.mapping") && tn->mapping_file)
		return "loaded from mapping_file";
	if (!strncmp(name, "tenant.talkdesk.", 16) && !tn->talkdesk.configured)
		return "talkdesk not configured";
	return NULL;
}

/* Emits one scope as nested groups: for each key, close the groups the
 * previous key opened that this one does not share, open the new ones. */
static void dump_scope(FILE *fp, rs_conf_scope_t scope, const void *obj,
		       bool redact) {
	size_t n, i;
	const rs_conf_prop_t *props = rs_conf_props(scope, &n);
	const char *prev = "";
	int depth = 0;

	for (i = 0; i < n; i++) {
		const char *name = props[i].name, *leaf, *q, *skip;
		size_t common = 0, j;
		int shared = 0;

		/* Components shared with the previous key's groups. */
		for (j = 0; prev[j] && name[j] == prev[j]; j++)
			if (name[j] == '.') {
				common = j + 1;
			}
		for (q = name; q < name + common; q++)
			shared += *q == '.';
		while (depth > shared) {
			dump_indent(fp, --depth);
			fputs("};\n", fp);
		}
		/* Open the groups after the shared ones. */
		q = name + common;
		while (strchr(q, '.')) {
			size_t len = (size_t)(strchr(q, '.') - q);
			dump_indent(fp, depth++);
			fprintf(fp, "%.*s = {\n", (int)len, q);
			q += len + 1;
		}
		leaf = q;
		dump_indent(fp, depth);
		skip = dump_skip(scope, obj, name);
		if (skip) {
			fprintf(fp, "# %s: %s\n", leaf, skip);
		} else if (value_unset(&props[i], obj)) {
			fprintf(fp, "# %s: not set\n", leaf);
		} else {
			fprintf(fp, "%s = ", leaf);
			dump_value(fp, &props[i], obj, redact);
			fputs(";\n", fp);
		}
		/* Groups opened so far are the key's components minus its
		 * leaf: remember the key to compare with the next one. */
		prev = name;
	}
	while (depth > 0) {
		dump_indent(fp, --depth);
		fputs("};\n", fp);
	}
}

void rs_conf_dump(const rs_conf_t *conf, FILE *fp, bool redact) {
	size_t i;

	fprintf(fp, "# rostersync effective configuration (%s)%s\n",
		rs_conf_global(conf)->main_file,
		redact ? ", secrets redacted" : "");
	dump_scope(fp, RS_CONF_SCOPE_GLOBAL, rs_conf_global(conf), redact);
	for (i = 0; i < rs_conf_tenant_count(conf); i++) {
		const rs_conf_tenant_t *tn = rs_conf_tenant(conf, i);
		fprintf(fp, "\n# tenant %s from %s\n", tn->id, tn->source_file);
		dump_scope(fp, RS_CONF_SCOPE_TENANT, tn, redact);
	}
}
