/*
 * 0500-cli-dlq.c - `rostersync dlq` on a real broker, run as the operator
 * runs it (the binary, as a child process).
 *
 * Proves:
 *  1. list shows every entry (jobs as the worker writes them, the worker's
 *     invalid wrapper, a malformed record) and each filter (--tenant,
 *     --kind, --status, --error on any attempt, --since/--until, --json)
 *     selects exactly the expected entries;
 *  2. show prints the whole job with its error history; an unknown id
 *     exits 1, a bad one 2;
 *  3. replay --dry-run and purge --dry-run change nothing (jobs topic and
 *     state topic untouched);
 *  4. replay republishes to the jobs topic exactly the matching entries
 *     not superseded by a newer applied generation, byte for byte, with
 *     their key and an entry-id header, and lists the superseded one;
 *  5. a second replay republishes nothing; --force adds the superseded
 *     one, once;
 *  6. purge without --yes exits 2 saying how many; with --yes the entries
 *     vanish from list (and show as purged with --all);
 *  7. SIGINT in the middle of a paced replay (--rate 1) exits 1 after
 *     some jobs; the next replay sends the rest; every entry went out
 *     exactly once;
 *  8. the workers' consumer group is untouched: on Kafka its committed
 *     offsets are the same before and after all of this and no consumer
 *     group was created; on both back-ends a member that rejoins the group
 *     afterwards receives exactly the replayed jobs, nothing it had
 *     consumed before and nothing less.
 *
 * Run once per back-end: `it_0500 kafka` (0500, real broker) and
 * `it_0500 sqlite` (0502, the embedded back-end: same CLI, same topics in
 * one database file).
 */
#include "rs/rs_base.h"
#include "rs/rs_queue.h"
#include "rs/rs_topics.h"
#include "rs_test.h"
#include "cli_it.h"

#include <cjson/cJSON.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>

#define NPRE 10 /* jobs the workers consumed before the test */

enum { E_A, E_B, E_C, E_D, E_E, E_F, E_G, E_N };

typedef struct {
	char *val;
	char key[160];
	char job_id[80];
	char id[32]; /* DLQ entry id, from `list --json` */
} ent_t;

/* ------------------------------------------------------------------ */
/* Reading the jobs topic without a group                             */

typedef struct {
	size_t n, with_hdr;
	char *ids[64];
	char *vals[64];
	char *keys[64];
} jobs_seen_t;

static rs_err_t jobs_cb(const rs_qmsg_t *msg, void *opaque) {
	jobs_seen_t *s = opaque;
	const void *hv, *v, *k;
	size_t hl, vl, kl;

	s->n++;
	if (rs_qmsg_header_get(msg, "rostersync-dlq-entry", &hv, &hl) !=
	    RS_OK)
		return RS_OK;
	TEST_ASSERT(s->with_hdr < 64, "too many replayed jobs");
	v = rs_qmsg_value(msg, &vl);
	k = rs_qmsg_key(msg, &kl);
	s->ids[s->with_hdr] = rs_strndup(hv, hl);
	s->vals[s->with_hdr] = rs_strndup(v, vl);
	s->keys[s->with_hdr] = rs_strndup(k, kl);
	s->with_hdr++;
	return RS_OK;
}

static void jobs_free(jobs_seen_t *s) {
	for (size_t i = 0; i < s->with_hdr; i++) {
		rs_free(s->ids[i]);
		rs_free(s->vals[i]);
		rs_free(s->keys[i]);
	}
	memset(s, 0, sizeof(*s));
}

static void jobs_read(cli_it_t *c, jobs_seen_t *s) {
	jobs_free(s);
	TEST_ASSERT(rs_queue_scan(c->prod, c->jobs, rs_test_timeout_ms(30000),
				  jobs_cb, s) == RS_OK,
		    "scan %s", c->jobs);
}

/* How many times entry @p e was republished (and always verbatim). */
static size_t times_sent(const jobs_seen_t *s, const ent_t *e) {
	size_t n = 0;

	for (size_t i = 0; i < s->with_hdr; i++) {
		if (strcmp(s->ids[i], e->id))
			continue;
		TEST_ASSERT(!strcmp(s->vals[i], e->val),
			    "entry %s republished with another value", e->id);
		TEST_ASSERT(!strcmp(s->keys[i], e->key),
			    "entry %s republished with key %s", e->id,
			    s->keys[i]);
		n++;
	}
	return n;
}

static rs_err_t count_cb(const rs_qmsg_t *msg, void *opaque) {
	(void)msg;
	(*(size_t *)opaque)++;
	return RS_OK;
}

/* ------------------------------------------------------------------ */
/* The workers' consumer group                                        */

/* Consumes the NPRE pre-existing jobs in group @p group and commits. */
static void group_consume(cli_it_t *c, const char *group) {
	const char *topics[1] = {c->jobs};
	rs_queue_conf_t qc;
	rs_qmsg_t *msg;
	char err[512];
	int got = 0;
	int64_t until = rs_now_ms() + rs_test_timeout_ms(60000);
	rs_queue_t *q;

	cli_it_qconf(c, &qc);
	qc.group_id = group;
	qc.roles = RS_QUEUE_ROLE_CONSUMER;
	qc.topics = topics;
	qc.topic_cnt = 1;
	q = rs_queue_new(&qc, err, sizeof(err));
	TEST_ASSERT(q, "consumer: %s", err);
	while (got < NPRE && rs_now_ms() < until) {
		TEST_ASSERT(rs_queue_poll(q, 500, &msg) == RS_OK, "poll");
		if (!msg)
			continue;
		rs_queue_msg_done(q, msg);
		got++;
	}
	TEST_ASSERT(got == NPRE, "consumed %d of %d", got, NPRE);
	TEST_ASSERT(rs_queue_commit(q) == RS_OK, "commit");
	rs_queue_close(q);
	rs_queue_destroy(q);
}

/* A member that joins the group now gets what was produced after the
 * group's committed position: exactly the replayed jobs if nothing moved
 * it.  @returns the count; @p with_hdr those carrying the entry header. */
static size_t group_rejoin(cli_it_t *c, const char *group, size_t expect,
			   size_t *with_hdr) {
	const char *topics[1] = {c->jobs};
	rs_queue_conf_t qc;
	rs_qmsg_t *msg;
	char err[512];
	size_t got = 0;
	int64_t until = rs_now_ms() + rs_test_timeout_ms(60000), quiet = 0;
	rs_queue_t *q;

	*with_hdr = 0;
	cli_it_qconf(c, &qc);
	qc.group_id = group;
	qc.roles = RS_QUEUE_ROLE_CONSUMER;
	qc.topics = topics;
	qc.topic_cnt = 1;
	q = rs_queue_new(&qc, err, sizeof(err));
	TEST_ASSERT(q, "consumer: %s", err);
	/* Up to the expected count, then 2 s more to catch any extra. */
	while (rs_now_ms() < until && (!quiet || rs_now_ms() < quiet)) {
		const void *hv;
		size_t hl;

		TEST_ASSERT(rs_queue_poll(q, 500, &msg) == RS_OK, "poll");
		if (!msg)
			continue;
		if (rs_qmsg_header_get(msg, "rostersync-dlq-entry", &hv, &hl) ==
		    RS_OK)
			(*with_hdr)++;
		rs_queue_msg_done(q, msg);
		if (++got >= expect && !quiet)
			quiet = rs_now_ms() + 2000;
	}
	rs_queue_close(q);
	rs_queue_destroy(q);
	return got;
}

/* The group's committed offsets of the jobs topic, "p:o,p:o,p:o". */
static void group_offsets(cli_it_t *c, const char *group, char *buf,
			  size_t size) {
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_topic_partition_list_t *parts;
	char err[512];
	rd_kafka_t *rk;
	size_t off = 0;

	rd_kafka_conf_set(conf, "bootstrap.servers", c->brokers, err,
			  sizeof(err));
	rd_kafka_conf_set(conf, "group.id", group, err, sizeof(err));
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
	TEST_ASSERT(rk, "rd_kafka_new: %s", err);
	parts = rd_kafka_topic_partition_list_new(3);
	for (int p = 0; p < 3; p++)
		rd_kafka_topic_partition_list_add(parts, c->jobs, p);
	/* committed() asks the coordinator; it neither joins nor commits. */
	TEST_ASSERT(rd_kafka_committed(rk, parts, 30000) ==
			    RD_KAFKA_RESP_ERR_NO_ERROR,
		    "committed");
	buf[0] = '\0';
	for (int i = 0; i < parts->cnt; i++)
		off += (size_t)snprintf(buf + off, size - off, "%s%d:%" PRId64,
					i ? "," : "",
					parts->elems[i].partition,
					parts->elems[i].offset);
	rd_kafka_topic_partition_list_destroy(parts);
	rd_kafka_destroy(rk);
}

/* Consumer groups whose name starts with the test's prefix. */
static int groups_with_prefix(cli_it_t *c) {
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	const struct rd_kafka_group_list *gl = NULL;
	char err[512];
	rd_kafka_t *rk;
	int n = 0;

	rd_kafka_conf_set(conf, "bootstrap.servers", c->brokers, err,
			  sizeof(err));
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	TEST_ASSERT(rk, "rd_kafka_new: %s", err);
	TEST_ASSERT(rd_kafka_list_groups(rk, NULL, &gl, 30000) ==
			    RD_KAFKA_RESP_ERR_NO_ERROR,
		    "list groups");
	for (int i = 0; i < gl->group_cnt; i++)
		if (!strncmp(gl->groups[i].group, c->prefix,
			     strlen(c->prefix)))
			n++;
	rd_kafka_group_list_destroy(gl);
	rd_kafka_destroy(rk);
	return n;
}

/* ------------------------------------------------------------------ */

static void applied(cli_it_t *c, const ent_t *e, int64_t gen,
		    const char *job_id) {
	/* The record exactly as the worker writes it. */
	char *val = rs_topics_applied_record(e->key, gen, job_id, rs_wall_ms());

	cli_it_produce(c, c->applied, e->key, val);
	rs_free(val);
}

static void mk_job(ent_t *e, const char *tenant, int group, int64_t gen,
		   int status, const char *code) {
	e->val = cli_it_job(tenant, group, gen, 4, status, code, e->job_id,
			    sizeof(e->job_id));
	rs_snprintf(e->key, sizeof(e->key),
		    "%s/%08x-2222-3333-4444-555555555555", tenant,
		    (unsigned)group);
}

int main(int argc, char **argv) {
	const char *backend = argc > 1 ? argv[1] : "kafka";
	cli_it_t c;
	ent_t e[E_N];
	jobs_seen_t js;
	char group[160], off_before[256] = "", off_after[256] = "", mid[64];
	size_t n, hdrs;
	cJSON *arr, *o;
	int64_t t_mid;

	memset(e, 0, sizeof(e));
	memset(&js, 0, sizeof(js));
	cli_it_setup(&c, "rs0500", backend);
	rs_test_say("back-end: %s", backend);
	rs_snprintf(group, sizeof(group), "%s-workers", c.prefix);

	SUB_TEST("the workers' group consumed and committed %d jobs", NPRE);
	for (int i = 0; i < NPRE; i++) {
		char *j = cli_it_job("t9", 100 + i, 1, 1, 404, "X", NULL, 0);
		char k[64];

		rs_snprintf(k, sizeof(k), "t9/%d", i);
		cli_it_produce(&c, c.jobs, k, j);
		rs_free(j);
	}
	cli_it_flush(&c);
	group_consume(&c, group);
	if (!c.sqlite) {
		group_offsets(&c, group, off_before, sizeof(off_before));
		rs_test_say("committed offsets before: %s", off_before);
		TEST_ASSERT(groups_with_prefix(&c) == 1, "one group");
	}

	SUB_TEST("fill the DLQ and the applied topic");
	mk_job(&e[E_A], "t1", 1, 5, 404, "Request_ResourceNotFound");
	mk_job(&e[E_B], "t1", 2, 3, 403, "Authorization_RequestDenied");
	mk_job(&e[E_C], "t2", 3, 7, 404, "Request_ResourceNotFound");
	mk_job(&e[E_D], "t2", 4, 2, 429, "HTTP_THROTTLED");
	e[E_E].val = rs_strdup(
		"{\"v\":1,\"kind\":\"invalid\",\"raw\":\"{not json at all\","
		"\"raw_truncated\":false,\"error\":\"envelope: not a JSON "
		"object\",\"time\":1795450666880}");
	rs_snprintf(e[E_E].key, sizeof(e[E_E].key), "t2/whatever");
	e[E_F].val = rs_strdup("{not a DLQ record");
	rs_snprintf(e[E_F].key, sizeof(e[E_F].key), "t3/junk");
	for (int i = E_A; i <= E_F; i++)
		cli_it_produce(&c, c.dlq, e[i].key, e[i].val);
	/* B is superseded (generation 4 applied); C's generation 7 was
	 * applied by ANOTHER job of that generation: not superseded. */
	applied(&c, &e[E_B], 4, "a-newer-job");
	applied(&c, &e[E_C], 7, "another-job-same-generation");
	cli_it_flush(&c);
	/* G is dead-lettered later, for --since / --until. */
	rs_sleep_ms(1500);
	t_mid = rs_wall_ms();
	rs_sleep_ms(1500);
	mk_job(&e[E_G], "t1", 5, 9, 500, "HTTP_SERVER");
	cli_it_produce(&c, c.dlq, e[E_G].key, e[E_G].val);
	cli_it_flush(&c);

	SUB_TEST("list shows every entry; ids from --json");
	TEST_ASSERT(cli_it_run(&c, "dlq", "list", NULL) == 0, "list: %s",
		    c.err);
	TEST_ASSERT(cli_it_lines_with(c.out, "ID ") == 1, "header:\n%s", c.out);
	TEST_ASSERT(cli_it_lines_with(c.out, " dead ") == E_N, "rows:\n%s",
		    c.out);
	TEST_ASSERT(cli_it_lines_with(c.out, "(malformed)") == 1, "%s", c.out);
	TEST_ASSERT(cli_it_lines_with(c.out, "(invalid job)") == 1, "%s",
		    c.out);
	rs_test_say("list:\n%s", c.out);
	TEST_ASSERT(cli_it_run(&c, "dlq", "list", "--json", NULL) == 0,
		    "list --json: %s", c.err);
	arr = cJSON_Parse(c.out);
	TEST_ASSERT(cJSON_GetArraySize(arr) == E_N, "json: %s", c.out);
	cJSON_ArrayForEach(o, arr) {
		const char *k = cJSON_GetStringValue(cJSON_GetObjectItem(o, "key"));
		for (int i = 0; i < E_N; i++)
			if (k && !strcmp(k, e[i].key))
				rs_snprintf(e[i].id, sizeof(e[i].id), "%s",
					    cJSON_GetStringValue(
						    cJSON_GetObjectItem(o, "id")));
	}
	cJSON_Delete(arr);
	for (int i = 0; i < E_N; i++)
		TEST_ASSERT(e[i].id[0], "no id for entry %d", i);

	SUB_TEST("list filters");
	TEST_ASSERT(cli_it_run(&c, "dlq", "list", "--tenant", "t1", NULL) == 0,
		    "%s", c.err);
	TEST_ASSERT(cli_it_lines_with(c.out, " dead ") == 3 &&
			    cli_it_lines_with(c.out, " t1 ") == 3,
		    "--tenant t1:\n%s", c.out);
	TEST_ASSERT(cli_it_run(&c, "dlq", "list", "--status", "404", NULL) == 0,
		    "%s", c.err);
	TEST_ASSERT(cli_it_lines_with(c.out, " dead ") == 2 &&
			    cli_it_lines_with(c.out, e[E_A].id) == 1 &&
			    cli_it_lines_with(c.out, e[E_C].id) == 1,
		    "--status 404:\n%s", c.out);
	TEST_ASSERT(cli_it_run(&c, "dlq", "list", "--error", "requestdenied",
			       NULL) == 0,
		    "%s", c.err);
	TEST_ASSERT(cli_it_lines_with(c.out, " dead ") == 1 &&
			    cli_it_lines_with(c.out, e[E_B].id) == 1,
		    "--error:\n%s", c.out);
	/* Every job met a 429 on an earlier attempt: --error looks at the
	 * whole history. */
	TEST_ASSERT(cli_it_run(&c, "dlq", "list", "--error", "Retry-After",
			       NULL) == 0,
		    "%s", c.err);
	TEST_ASSERT(cli_it_lines_with(c.out, " dead ") == 5, "history:\n%s",
		    c.out);
	TEST_ASSERT(cli_it_run(&c, "dlq", "list", "--kind", "invalid", NULL) ==
			    0,
		    "%s", c.err);
	TEST_ASSERT(cli_it_lines_with(c.out, " dead ") == 1 &&
			    cli_it_lines_with(c.out, e[E_E].id) == 1,
		    "--kind invalid:\n%s", c.out);
	rs_snprintf(mid, sizeof(mid), "%" PRId64 "s",
		    (rs_wall_ms() - t_mid) / 1000);
	TEST_ASSERT(cli_it_run(&c, "dlq", "list", "--since", mid, NULL) == 0,
		    "%s", c.err);
	TEST_ASSERT(cli_it_lines_with(c.out, " dead ") == 1 &&
			    cli_it_lines_with(c.out, e[E_G].id) == 1,
		    "--since %s:\n%s", mid, c.out);
	{
		char rfc[40];
		time_t s = (time_t)(t_mid / 1000);
		struct tm tm;

		gmtime_r(&s, &tm);
		strftime(rfc, sizeof(rfc), "%Y-%m-%dT%H:%M:%SZ", &tm);
		TEST_ASSERT(cli_it_run(&c, "dlq", "list", "--until", rfc,
				       NULL) == 0,
			    "%s", c.err);
		TEST_ASSERT(cli_it_lines_with(c.out, " dead ") == E_N - 1,
			    "--until %s:\n%s", rfc, c.out);
	}
	TEST_ASSERT(cli_it_run(&c, "dlq", "list", "--since", "soon", NULL) ==
			    2,
		    "bad time must exit 2");

	SUB_TEST("show");
	TEST_ASSERT(cli_it_run(&c, "dlq", "show", e[E_A].id, NULL) == 0, "%s",
		    c.err);
	o = cJSON_Parse(c.out);
	TEST_ASSERT(o, "show is JSON: %s", c.out);
	TEST_ASSERT(!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(
				    cJSON_GetObjectItem(o, "job"), "id")),
			    e[E_A].job_id),
		    "job id");
	TEST_ASSERT(cJSON_GetArraySize(cJSON_GetObjectItem(
			    cJSON_GetObjectItem(o, "job"), "errors")) == 3,
		    "error history:\n%s", c.out);
	cJSON_Delete(o);
	TEST_ASSERT(cli_it_run(&c, "dlq", "show", "2-999999", NULL) == 1,
		    "unknown id exits 1");
	TEST_ASSERT(cli_it_run(&c, "dlq", "show", "nope", NULL) == 2,
		    "bad id exits 2");

	SUB_TEST("dry runs change nothing");
	TEST_ASSERT(cli_it_run(&c, "dlq", "replay", "--dry-run", NULL) == 0,
		    "%s", c.err);
	TEST_ASSERT(cli_it_lines_with(c.out, "would replay") == 4,
		    "dry run:\n%s", c.out);
	TEST_ASSERT(cli_it_run(&c, "dlq", "purge", "--dry-run", NULL) == 0,
		    "%s", c.err);
	jobs_read(&c, &js);
	TEST_ASSERT(js.n == NPRE && js.with_hdr == 0, "jobs topic: %zu",
		    js.n);
	n = 0;
	TEST_ASSERT(rs_queue_scan(c.prod, c.state, 10000, count_cb, &n) ==
			    RS_ERR_NOT_FOUND,
		    "a dry run created the state topic");

	SUB_TEST("replay --tenant t1: A and G; B superseded and listed");
	TEST_ASSERT(cli_it_run(&c, "dlq", "replay", "--tenant", "t1", NULL) ==
			    0,
		    "%s", c.err);
	rs_test_say("replay:\n%s", c.out);
	TEST_ASSERT(cli_it_lines_with(c.out, "superseded: generation 4") ==
				1 &&
			    cli_it_lines_with(c.out, e[E_B].id) == 1,
		    "%s", c.out);
	jobs_read(&c, &js);
	TEST_ASSERT(js.with_hdr == 2 && times_sent(&js, &e[E_A]) == 1 &&
			    times_sent(&js, &e[E_G]) == 1,
		    "jobs after replay t1: %zu", js.with_hdr);

	SUB_TEST("replay everything else: C and D; twice is a no-op");
	TEST_ASSERT(cli_it_run(&c, "dlq", "replay", NULL) == 0, "%s", c.err);
	jobs_read(&c, &js);
	TEST_ASSERT(js.with_hdr == 4 && times_sent(&js, &e[E_C]) == 1 &&
			    times_sent(&js, &e[E_D]) == 1 &&
			    times_sent(&js, &e[E_B]) == 0,
		    "jobs after replay: %zu", js.with_hdr);
	TEST_ASSERT(cli_it_lines_with(c.out, "not replayable:") == 2, "%s",
		    c.out);
	TEST_ASSERT(cli_it_run(&c, "dlq", "replay", NULL) == 0, "%s", c.err);
	TEST_ASSERT(cli_it_lines_with(c.out, "0 replayed") == 1, "%s", c.out);
	jobs_read(&c, &js);
	TEST_ASSERT(js.with_hdr == 4 && js.n == NPRE + 4,
		    "second replay sent %zu", js.with_hdr - 4);

	SUB_TEST("--force includes the superseded, once");
	TEST_ASSERT(cli_it_run(&c, "dlq", "replay", "--force", NULL) == 0,
		    "%s", c.err);
	TEST_ASSERT(cli_it_run(&c, "dlq", "replay", "--force", NULL) == 0,
		    "%s", c.err);
	jobs_read(&c, &js);
	TEST_ASSERT(js.with_hdr == 5 && times_sent(&js, &e[E_B]) == 1,
		    "jobs after --force: %zu", js.with_hdr);
	for (int i = E_A; i <= E_G; i++)
		if (i != E_E && i != E_F)
			TEST_ASSERT(times_sent(&js, &e[i]) == 1, "entry %d", i);

	SUB_TEST("purge needs --yes; purged entries leave list");
	TEST_ASSERT(cli_it_run(&c, "dlq", "list", NULL) == 0, "%s", c.err);
	TEST_ASSERT(cli_it_lines_with(c.out, " dead ") == 2, "left:\n%s",
		    c.out);
	TEST_ASSERT(cli_it_run(&c, "dlq", "purge", "--kind", "invalid", NULL) ==
			    2,
		    "purge without --yes must exit 2");
	TEST_ASSERT(strstr(c.err, "1 entries would be purged"), "%s", c.err);
	TEST_ASSERT(cli_it_run(&c, "dlq", "list", NULL) == 0, "%s", c.err);
	TEST_ASSERT(cli_it_lines_with(c.out, e[E_E].id) == 1, "%s", c.out);
	TEST_ASSERT(cli_it_run(&c, "dlq", "purge", "--kind", "invalid", "--yes",
			       NULL) == 0,
		    "%s", c.err);
	TEST_ASSERT(cli_it_run(&c, "dlq", "list", NULL) == 0, "%s", c.err);
	TEST_ASSERT(cli_it_lines_with(c.out, " dead ") == 1 &&
			    cli_it_lines_with(c.out, e[E_E].id) == 0 &&
			    cli_it_lines_with(c.out, e[E_F].id) == 1,
		    "after purge:\n%s", c.out);
	TEST_ASSERT(cli_it_run(&c, "dlq", "list", "--all", NULL) == 0, "%s",
		    c.err);
	TEST_ASSERT(cli_it_lines_with(c.out, " purged ") == 1 &&
			    cli_it_lines_with(c.out, " replayed ") == 5,
		    "--all:\n%s", c.out);

	SUB_TEST("SIGINT during a replay, then again: each entry sent once");
	{
		ent_t t5[6];
		pid_t pid;
		size_t sent = 0;
		int64_t until = rs_now_ms() + rs_test_timeout_ms(60000);
		int rc;

		memset(t5, 0, sizeof(t5));
		for (int i = 0; i < 6; i++) {
			mk_job(&t5[i], "t5", 50 + i, 1, 404, "NotFound");
			cli_it_produce(&c, c.dlq, t5[i].key, t5[i].val);
		}
		cli_it_flush(&c);
		pid = cli_it_spawn(&c, "dlq", "replay", "--tenant", "t5",
				   "--rate", "1", NULL);
		/* Interrupt once the first job is visible: 1 job/s leaves
		 * seconds before the sixth. */
		while (rs_now_ms() < until) {
			jobs_read(&c, &js);
			if (js.with_hdr > 5)
				break;
			rs_sleep_ms(100);
		}
		TEST_ASSERT(js.with_hdr > 5, "the paced replay never started");
		TEST_ASSERT(kill(pid, SIGINT) == 0, "kill");
		rc = cli_it_wait(&c, pid);
		TEST_ASSERT(rc == 1, "interrupted replay exit %d: %s", rc,
			    c.err);
		TEST_ASSERT(strstr(c.err, "interrupted"), "%s", c.err);
		TEST_ASSERT(cli_it_run(&c, "dlq", "list", "--json", "--all",
				       "--tenant", "t5", NULL) == 0,
			    "%s", c.err);
		arr = cJSON_Parse(c.out);
		TEST_ASSERT(cJSON_GetArraySize(arr) == 6, "t5: %s", c.out);
		cJSON_ArrayForEach(o, arr) {
			const char *k = cJSON_GetStringValue(
				cJSON_GetObjectItem(o, "key"));
			for (int i = 0; i < 6; i++)
				if (!strcmp(k, t5[i].key))
					rs_snprintf(t5[i].id, sizeof(t5[i].id),
						    "%s",
						    cJSON_GetStringValue(
							    cJSON_GetObjectItem(
								    o, "id")));
		}
		cJSON_Delete(arr);
		jobs_read(&c, &js);
		for (int i = 0; i < 6; i++)
			sent += times_sent(&js, &t5[i]);
		rs_test_say("interrupted after %zu of 6 jobs", sent);
		TEST_ASSERT(sent >= 1 && sent < 6, "sent %zu before SIGINT",
			    sent);
		TEST_ASSERT(cli_it_run(&c, "dlq", "replay", "--tenant", "t5",
				       NULL) == 0,
			    "%s", c.err);
		/* The interrupted run gave its unsent entries back: nothing
		 * is in doubt after a clean SIGINT. */
		TEST_ASSERT(strstr(c.out, "(0 resent"), "%s", c.out);
		jobs_read(&c, &js);
		for (int i = 0; i < 6; i++) {
			TEST_ASSERT(times_sent(&js, &t5[i]) == 1,
				    "t5 entry %s sent %zu times", t5[i].id,
				    times_sent(&js, &t5[i]));
			rs_free(t5[i].val);
		}
	}

	SUB_TEST("the workers' consumer group is untouched");
	if (!c.sqlite) {
		group_offsets(&c, group, off_after, sizeof(off_after));
		rs_test_say("committed offsets after: %s", off_after);
		TEST_ASSERT(!strcmp(off_before, off_after),
			    "offsets moved: %s -> %s", off_before, off_after);
		TEST_ASSERT(groups_with_prefix(&c) == 1,
			    "a consumer group appeared");
	}
	n = group_rejoin(&c, group, 11, &hdrs);
	TEST_ASSERT(n == 11 && hdrs == 11,
		    "the group resumed with %zu jobs (%zu replayed), want the "
		    "11 replayed ones",
		    n, hdrs);

	jobs_free(&js);
	for (int i = 0; i < E_N; i++)
		rs_free(e[i].val);
	cli_it_teardown(&c);
	return rs_test_finish();
}
