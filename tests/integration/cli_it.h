/*
 * cli_it.h - helpers shared by the rostersync CLI scenarios (0500-0599):
 * a config directory for a unique topic prefix, DLQ records made as the
 * worker makes them, running the `rostersync` binary as a child process,
 * and reading topics without a consumer group.  Header-only (static
 * functions) so each scenario stays one executable; include after
 * rs_test.h.
 */
#ifndef CLI_IT_H
#define CLI_IT_H

#include "rs/rs_base.h"
#include "rs/rs_envelope.h"
#include "rs/rs_queue.h"
#include "rs_test.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct cli_it_s {
	bool sqlite;      /* queue.backend: sqlite (else kafka) */
	char db[320];     /* sqlite: the database file */
	char dir[256];    /* config dir: rostersync.conf + tenants.d/ */
	char conf[320];   /* its rostersync.conf */
	char prefix[128]; /* topic prefix "rs05NN-pid-ms." */
	char dlq[192], state[200], jobs[192], applied[192];
	const char *brokers;
	rs_queue_t *prod; /* producer-only, also scans */
	char *out;        /* stdout of the last run_cli */
	char *err;        /* stderr of the last run_cli */
	double secs;      /* wall time of the last run_cli */
} cli_it_t;

/* A queue conf on the test's back-end (strings borrowed from @p c). */
static RS_UNUSED void cli_it_qconf(cli_it_t *c, rs_queue_conf_t *qc) {
	rs_queue_conf_init(qc);
	if (c->sqlite) {
		qc->backend = "sqlite";
		qc->sqlite_path = c->db;
	} else {
		qc->backend = "kafka";
		qc->brokers = c->brokers;
	}
}

/* @p backend "kafka" (needs RS_KAFKA_BROKERS) or "sqlite" (a database in
 * the test's temporary directory). */
static RS_UNUSED void cli_it_setup(cli_it_t *c, const char *name,
				   const char *backend) {
	char sub[300], err[512];
	rs_queue_conf_t qc;
	FILE *fp;

	memset(c, 0, sizeof(*c));
	c->sqlite = !strcmp(backend, "sqlite");
	TEST_ASSERT(c->sqlite || !strcmp(backend, "kafka"),
		    "backend %s: kafka or sqlite", backend);
	if (!c->sqlite)
		c->brokers = rs_test_kafka_brokers();
	rs_test_mkdtemp(c->dir, sizeof(c->dir));
	rs_snprintf(sub, sizeof(sub), "%s/tenants.d", c->dir);
	TEST_ASSERT(mkdir(sub, 0700) == 0, "mkdir %s", sub);
	rs_snprintf(c->db, sizeof(c->db), "%s/queue.db", c->dir);
	rs_test_unique_name(name, c->prefix, sizeof(c->prefix));
	rs_snprintf(c->dlq, sizeof(c->dlq), "%s.jobs.dlq", c->prefix);
	rs_snprintf(c->state, sizeof(c->state), "%s.jobs.dlq.state",
		    c->prefix);
	rs_snprintf(c->jobs, sizeof(c->jobs), "%s.jobs.group", c->prefix);
	rs_snprintf(c->applied, sizeof(c->applied), "%s.applied", c->prefix);
	rs_snprintf(c->conf, sizeof(c->conf), "%s/rostersync.conf", c->dir);
	fp = fopen(c->conf, "w");
	TEST_ASSERT(fp, "write %s", c->conf);
	if (c->sqlite)
		fprintf(fp,
			"queue = { backend = \"sqlite\";\n"
			"  sqlite = { path = \"%s\"; };\n"
			"  kafka = { topic_prefix = \"%s.\"; partitions = 3; "
			"}; };\n",
			c->db, c->prefix);
	else
		fprintf(fp,
			"queue = { backend = \"kafka\";\n"
			"  kafka = { brokers = \"%s\"; topic_prefix = \"%s.\";\n"
			"            partitions = 3; replication_factor = 1; }; "
			"};\n",
			c->brokers, c->prefix);
	fprintf(fp, "log = { level = \"warning\"; };\n");
	fclose(fp);

	cli_it_qconf(c, &qc);
	qc.roles = RS_QUEUE_ROLE_PRODUCER;
	qc.client_id = "rs-cli-it";
	c->prod = rs_queue_new(&qc, err, sizeof(err));
	TEST_ASSERT(c->prod, "producer: %s", err);
	{
		const char *tp[2] = {c->dlq, c->jobs};
		const char *cc[] = {"cleanup.policy=compact"};
		TEST_ASSERT(rs_queue_create_topics(c->prod, tp, 2, 3, 1, NULL,
						   0, 30000, err,
						   sizeof(err)) == RS_OK,
			    "create topics: %s", err);
		tp[0] = c->applied;
		TEST_ASSERT(rs_queue_create_topics(c->prod, tp, 1, 3, 1, cc,
						   1, 30000, err,
						   sizeof(err)) == RS_OK,
			    "create applied: %s", err);
	}
}

static RS_UNUSED void cli_it_teardown(cli_it_t *c) {
	rs_queue_destroy(c->prod);
	rs_free(c->out);
	rs_free(c->err);
	rs_test_rmtree(c->dir);
}

/* A dead-lettered group.members job, as worker/rs_worker.c w_dlq_job
 * writes it: the envelope (attempt = attempts made) with one error entry
 * per failed attempt.  @p n_members adds (and n_members/3 removes) keep
 * sizes realistic.  Returns the encoded text (rs_free) and its job id. */
static RS_UNUSED char *cli_it_job(const char *tenant, int group, int64_t gen,
				  int n_members, int last_status,
				  const char *last_code, char *job_id,
				  size_t job_id_size) {
	rs_envelope_t env;
	char key[160], gid[48], uid[48], mail[96], *txt = NULL, err[256];
	size_t len;
	int64_t now = rs_wall_ms();

	rs_envelope_init(&env);
	rs_snprintf(gid, sizeof(gid), "%08x-2222-3333-4444-555555555555",
		    (unsigned)group);
	rs_snprintf(key, sizeof(key), "%s/%s", tenant, gid);
	env.tenant = rs_strdup(tenant);
	env.kind = rs_strdup("group.members");
	env.key = rs_strdup(key);
	env.generation = gen;
	env.attempt = 5;
	env.created = now - 60000;
	env.source = rs_strdup("talkdesk:queues");
	env.planner = rs_strdup("it-host/run-1");
	env.trace = rs_strdup(
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
	env.members.group_id = rs_strdup(gid);
	env.members.mode = rs_strdup("exact");
	for (int i = 0; i < n_members + n_members / 3; i++) {
		rs_snprintf(uid, sizeof(uid), "aaaaaaaa-0000-0000-%04x-%012x",
			    (unsigned)(group & 0xffff), (unsigned)i);
		rs_snprintf(mail, sizeof(mail), "first.last%d@%s.example.com",
			    i, tenant);
		TEST_ASSERT(rs_envelope_member_add(&env, i >= n_members, uid,
						   mail) == RS_OK,
			    "member");
	}
	rs_envelope_error_append(&env, now - 40000, 1, 503, "HTTP_SERVER",
				 "HTTP 503 Service Unavailable",
				 "11111111-aaaa-bbbb-cccc-000000000001");
	rs_envelope_error_append(&env, now - 20000, 3, 429, "HTTP_THROTTLED",
				 "Throttled by the remote API (Retry-After 2)",
				 "11111111-aaaa-bbbb-cccc-000000000002");
	rs_envelope_error_append(&env, now - 1000, 4, last_status, last_code,
				 "The request failed for this group",
				 "11111111-aaaa-bbbb-cccc-000000000003");
	TEST_ASSERT(rs_envelope_encode(&env, &txt, &len, err, sizeof(err)) ==
			    RS_OK,
		    "encode: %s", err);
	if (job_id)
		rs_snprintf(job_id, job_id_size, "%s", env.id);
	rs_envelope_cleanup(&env);
	return txt;
}

static RS_UNUSED void cli_it_produce(cli_it_t *c, const char *topic,
				     const char *key, const char *val) {
	rs_err_t err;

	do {
		err = rs_queue_produce(c->prod, topic, key,
				       key ? strlen(key) : 0, val, strlen(val),
				       NULL, 0, NULL);
		if (err == RS_ERR_AGAIN)
			rs_sleep_ms(5);
	} while (err == RS_ERR_AGAIN);
	TEST_ASSERT(err == RS_OK, "produce to %s: %s", topic,
		    rs_err_str(err));
}

static RS_UNUSED void cli_it_flush(cli_it_t *c) {
	TEST_ASSERT(rs_queue_flush(c->prod, (int)rs_test_timeout_ms(60000)) ==
			    RS_OK,
		    "flush");
}

static char *cli_it_slurp(const char *path) {
	FILE *fp = fopen(path, "rb");
	char *buf;
	long n;

	TEST_ASSERT(fp, "open %s", path);
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	buf = rs_malloc((size_t)n + 1);
	TEST_ASSERT(fread(buf, 1, (size_t)n, fp) == (size_t)n, "read %s",
		    path);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

/* Starts `rostersync <args...> -c CONF` (args in @p ap); stdout/stderr
 * go to files in c->dir.  @returns the child's pid. */
static pid_t cli_it_spawn_va(cli_it_t *c, va_list ap) {
	const char *argv[64];
	char bin[512], outp[400], errp[400];
	int argc = 0;
	pid_t pid;

	rs_snprintf(bin, sizeof(bin), "%s/cli/rostersync",
		    rs_test_env_required("RS_BINARY_DIR"));
	argv[argc++] = bin;
	for (const char *a = va_arg(ap, const char *); a;
	     a = va_arg(ap, const char *)) {
		TEST_ASSERT(argc < 60, "too many args");
		argv[argc++] = a;
	}
	argv[argc++] = "-c";
	argv[argc++] = c->conf;
	argv[argc] = NULL;
	rs_snprintf(outp, sizeof(outp), "%s/out.txt", c->dir);
	rs_snprintf(errp, sizeof(errp), "%s/err.txt", c->dir);
	pid = fork();
	TEST_ASSERT(pid >= 0, "fork");
	if (pid == 0) {
		int o = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int e = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
			_exit(127);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	return pid;
}

/* Starts rostersync in the background (NULL-terminated args). */
static RS_UNUSED pid_t cli_it_spawn(cli_it_t *c, ...) {
	va_list ap;
	pid_t pid;

	va_start(ap, c);
	pid = cli_it_spawn_va(c, ap);
	va_end(ap);
	return pid;
}

/* Waits for @p pid; fills c->out / c->err.  @returns the exit code. */
static RS_UNUSED int cli_it_wait(cli_it_t *c, pid_t pid) {
	char outp[400], errp[400];
	int st;

	TEST_ASSERT(waitpid(pid, &st, 0) == pid, "waitpid");
	rs_snprintf(outp, sizeof(outp), "%s/out.txt", c->dir);
	rs_snprintf(errp, sizeof(errp), "%s/err.txt", c->dir);
	rs_free(c->out);
	rs_free(c->err);
	c->out = cli_it_slurp(outp);
	c->err = cli_it_slurp(errp);
	TEST_ASSERT(WIFEXITED(st), "rostersync died (signal %d): %s",
		    WTERMSIG(st), c->err);
	return WEXITSTATUS(st);
}

/*
 * Runs `rostersync <args...> -c CONF` (NULL-terminated args); stdout and
 * stderr land in c->out / c->err.  @returns the exit code.
 */
static RS_UNUSED int cli_it_run(cli_it_t *c, ...) {
	int64_t t0 = rs_now_us();
	va_list ap;
	pid_t pid;
	int rc;

	va_start(ap, c);
	pid = cli_it_spawn_va(c, ap);
	va_end(ap);
	rc = cli_it_wait(c, pid);
	c->secs = (double)(rs_now_us() - t0) / 1e6;
	return rc;
}


/* Lines of @p s that contain @p needle. */
static RS_UNUSED size_t cli_it_lines_with(const char *s, const char *needle) {
	size_t n = 0;

	while (s && *s) {
		const char *nl = strchr(s, '\n');
		size_t len = nl ? (size_t)(nl - s) : strlen(s);

		if (memmem(s, len, needle, strlen(needle)))
			n++;
		s += len + (nl ? 1 : 0);
	}
	return n;
}

#endif /* CLI_IT_H */
