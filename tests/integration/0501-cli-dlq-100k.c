/*
 * 0501-cli-dlq-100k.c - `rostersync dlq` on a DLQ of 100,000 entries
 * (real broker), timed.
 *
 * The entries are what the worker writes: group.members jobs (4 adds, 1
 * remove, e-mails) with a three-attempt error history (503, 429, then the
 * final error), ~1.6 KB each, keyed by job key over 3 partitions, 20
 * tenants.  5,000 keys have a newer generation in the applied topic.
 *
 * Proves and measures: list (all, and one tenant), replay --dry-run,
 * a real replay of one tenant (5,000 jobs), purge --yes of the rest, and
 * list after the purge (100,000 state records read back) each finish in
 * seconds with the exact counts: every entry is listed once, exactly
 * the non-superseded ones would be replayed, the replay sends exactly its
 * tenant's non-superseded entries, and nothing is listed after the purge.
 * Prints the figures (docs/cli.md quotes them).  The argument picks the
 * back-end: kafka (0501) or sqlite (0503).
 */
#include "rs/rs_base.h"
#include "rs/rs_queue.h"
#include "rs_test.h"
#include "cli_it.h"

#define N 100000
#define TENANTS 20
#define SUPERSEDED_EVERY 20 /* group % 20 == 0: a newer generation applied */
/* "In seconds": a generous ceiling on a loaded 2-core machine. */
#define MAX_SECS 60.0

static rs_err_t count_cb(const rs_qmsg_t *msg, void *opaque) {
	size_t vl;

	(void)rs_qmsg_value(msg, &vl);
	(*(size_t *)opaque)++;
	return RS_OK;
}

static size_t count_topic(cli_it_t *c, const char *topic) {
	size_t n = 0;
	rs_err_t err = rs_queue_scan(c->prod, topic, rs_test_timeout_ms(120000),
				     count_cb, &n);

	TEST_ASSERT(err == RS_OK || err == RS_ERR_NOT_FOUND, "scan %s: %s",
		    topic, rs_err_str(err));
	return n;
}

static void timed(cli_it_t *c, const char *what) {
	rs_test_say("figure: %-34s %6.2f s", what, c->secs);
	TEST_ASSERT(c->secs < MAX_SECS * rs_test_timeout_mult(),
		    "%s took %.1f s", what, c->secs);
}

int main(int argc, char **argv) {
	static const struct {
		int status;
		const char *code;
	} last[] = {{404, "Request_ResourceNotFound"},
		    {403, "Authorization_RequestDenied"},
		    {400, "Request_BadRequest"},
		    {429, "HTTP_THROTTLED"},
		    {503, "HTTP_SERVER"}};
	size_t bytes = 0, superseded = 0, sup_t1 = 0, n;
	char tenant[16], summary[160];
	int64_t t0;
	cli_it_t c;

	cli_it_setup(&c, "rs0501", argc > 1 ? argv[1] : "kafka");
	rs_test_say("back-end: %s", argc > 1 ? argv[1] : "kafka");

	SUB_TEST("fill the DLQ with %d entries", N);
	t0 = rs_now_us();
	for (int i = 0; i < N; i++) {
		int t = i % TENANTS, group = i;
		char *j;
		char key[160];

		rs_snprintf(tenant, sizeof(tenant), "t%03d", t);
		j = cli_it_job(tenant, group, 10, 4, last[i % 5].status,
			       last[i % 5].code, NULL, 0);
		rs_snprintf(key, sizeof(key),
			    "%s/%08x-2222-3333-4444-555555555555", tenant,
			    (unsigned)group);
		cli_it_produce(&c, c.dlq, key, j);
		bytes += strlen(j);
		rs_free(j);
		if (group % SUPERSEDED_EVERY == 0) {
			char val[300];

			rs_snprintf(val, sizeof(val),
				    "{\"key\":\"%s\",\"generation\":11,"
				    "\"job_id\":\"newer\",\"applied_at\":%" PRId64
				    "}",
				    key, rs_wall_ms());
			cli_it_produce(&c, c.applied, key, val);
			superseded++;
			if (t == 1)
				sup_t1++;
		}
	}
	cli_it_flush(&c);
	rs_test_say("figure: produced %d entries (%.0f bytes avg) in %.2f s", N,
		    (double)bytes / N, (double)(rs_now_us() - t0) / 1e6);
	TEST_ASSERT(count_topic(&c, c.dlq) == N, "DLQ holds %d", N);

	SUB_TEST("list: all %d entries", N);
	TEST_ASSERT(cli_it_run(&c, "dlq", "list", NULL) == 0, "%s", c.err);
	timed(&c, "list (100,000 rows)");
	n = cli_it_lines_with(c.out, " dead ");
	TEST_ASSERT(n == N, "listed %zu", n);
	TEST_ASSERT(cli_it_run(&c, "dlq", "list", "--json", NULL) == 0, "%s",
		    c.err);
	timed(&c, "list --json (100,000 objects)");
	TEST_ASSERT(cli_it_lines_with(c.out, "\"state\":\"dead\"") == N,
		    "json rows");

	SUB_TEST("list --tenant t001 --status 404");
	TEST_ASSERT(cli_it_run(&c, "dlq", "list", "--tenant", "t001",
			       "--status", "404", NULL) == 0,
		    "%s", c.err);
	timed(&c, "list --tenant --status (filter)");
	/* i % 20 == 1 and i % 5 == 0 never meet: t001 has no 404s; i % 5
	 * == 1 (403) meets i % 20 == 1 for every t001 entry. */
	TEST_ASSERT(cli_it_lines_with(c.out, " dead ") == 0, "%s", c.out);
	TEST_ASSERT(cli_it_run(&c, "dlq", "list", "--tenant", "t001",
			       "--status", "403", NULL) == 0,
		    "%s", c.err);
	TEST_ASSERT(cli_it_lines_with(c.out, " dead ") == N / TENANTS,
		    "t001 403s");

	SUB_TEST("replay --dry-run");
	TEST_ASSERT(cli_it_run(&c, "dlq", "replay", "--dry-run", NULL) == 0,
		    "%s", c.err);
	timed(&c, "replay --dry-run");
	rs_snprintf(summary, sizeof(summary),
		    "%d matched, %zu would be replayed", N, N - superseded);
	TEST_ASSERT(strstr(c.out, summary), "want '%s' in: %s", summary,
		    strstr(c.out, "replay ("));
	TEST_ASSERT(cli_it_lines_with(c.out, "superseded: generation 11") ==
			    superseded,
		    "superseded listed");
	TEST_ASSERT(count_topic(&c, c.jobs) == 0, "dry run sent jobs");

	SUB_TEST("replay --tenant t001 (real)");
	TEST_ASSERT(cli_it_run(&c, "dlq", "replay", "--tenant", "t001", NULL) ==
			    0,
		    "%s", c.err);
	timed(&c, "replay --tenant (5,000 jobs sent)");
	TEST_ASSERT(count_topic(&c, c.jobs) == N / TENANTS - sup_t1,
		    "jobs sent");
	TEST_ASSERT(cli_it_run(&c, "dlq", "replay", "--tenant", "t001", NULL) ==
			    0,
		    "%s", c.err);
	timed(&c, "replay --tenant again (none sent)");
	TEST_ASSERT(count_topic(&c, c.jobs) == N / TENANTS - sup_t1,
		    "second replay sent jobs");

	SUB_TEST("purge --yes the rest");
	TEST_ASSERT(cli_it_run(&c, "dlq", "purge", NULL) == 2,
		    "purge without --yes");
	timed(&c, "purge (count, refused)");
	TEST_ASSERT(cli_it_run(&c, "dlq", "purge", "--yes", NULL) == 0, "%s",
		    c.err);
	timed(&c, "purge --yes");
	rs_snprintf(summary, sizeof(summary), "purged %zu entries",
		    (size_t)N - (N / TENANTS - sup_t1));
	TEST_ASSERT(strstr(c.out, summary), "want '%s' in: %s", summary,
		    c.out);

	SUB_TEST("list after purge: nothing");
	TEST_ASSERT(cli_it_run(&c, "dlq", "list", NULL) == 0, "%s", c.err);
	timed(&c, "list after purge (100,000 states)");
	TEST_ASSERT(cli_it_lines_with(c.out, " dead ") == 0, "still listed");
	TEST_ASSERT(cli_it_run(&c, "dlq", "list", "--all", NULL) == 0, "%s",
		    c.err);
	TEST_ASSERT(cli_it_lines_with(c.out, " purged ") +
				    cli_it_lines_with(c.out, " replayed ") ==
			    N,
		    "--all");
	cli_it_teardown(&c);
	return rs_test_finish();
}
