/*
 * test_cli_dlq.c - the DLQ engine (list, show, replay, purge) on in-memory
 * topics: exactly the matching, non-superseded entries are republished,
 * byte for byte; a second replay sends nothing; --force adds the
 * superseded; --dry-run writes nothing; purge needs --yes and hides
 * entries; an interrupt or a failed write in the middle of a replay never
 * sends an entry twice unless the broker lost the "replayed" mark, and
 * then only if the applied topic does not show the job applied.
 */
#include "rs/rs_base.h"
#include "rs/rs_dlq.h"
#include "rs/rs_envelope.h"
#include "rs_cli.h"
#include "rs_cli_dlq.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <inttypes.h>

#define GROUP "11111111-2222-3333-4444-555555555555"
#define U1 "aaaaaaaa-0000-0000-0000-000000000001"
#define T0 1795453200000LL

/* ------------------------------------------------------------------ */
/* In-memory topics behind rs_cli_dlq_io_t                            */

typedef struct {
	char *key, *val, *hdr;
	size_t len;
	int64_t ts;
} mrec_t;

typedef struct {
	char name[64];
	mrec_t *recs;
	size_t n;
	bool compacted;
} mtopic_t;

typedef struct {
	mtopic_t topics[8];
	size_t n_topics;
	struct {
		size_t t;
		mrec_t r;
	} pending[4096];
	size_t n_pending;
	int flushes;       /* flush calls so far */
	int fail_flush_at; /* this flush (1-based) loses its records */
	long stop_after_jobs; /* raise the stop flag after N job produces */
	size_t jobs_produced;
	volatile sig_atomic_t stop;
} mio_t;

static mtopic_t *topic_get(mio_t *m, const char *name, bool create) {
	for (size_t i = 0; i < m->n_topics; i++)
		if (!strcmp(m->topics[i].name, name))
			return &m->topics[i];
	if (!create)
		return NULL;
	assert_true(m->n_topics < RS_ARRAY_SIZE(m->topics));
	rs_snprintf(m->topics[m->n_topics].name, 64, "%s", name);
	return &m->topics[m->n_topics++];
}

static void topic_append(mtopic_t *t, mrec_t r) {
	t->recs = rs_realloc(t->recs, (t->n + 1) * sizeof(*t->recs));
	t->recs[t->n++] = r;
}

static mrec_t mrec(const char *key, const void *val, size_t len,
		   const char *hdr, int64_t ts) {
	mrec_t r;

	r.key = key ? rs_strdup(key) : NULL;
	r.val = rs_malloc(len + 1);
	if (len)
		memcpy(r.val, val, len);
	r.val[len] = '\0';
	r.len = len;
	r.hdr = hdr ? rs_strdup(hdr) : NULL;
	r.ts = ts;
	return r;
}

static void mrec_free(mrec_t *r) {
	rs_free(r->key);
	rs_free(r->val);
	rs_free(r->hdr);
}

static rs_err_t m_scan(void *ctx, const char *topic, rs_cli_scan_cb_t *cb,
		       void *opaque, char *errstr, size_t errstr_size) {
	mio_t *m = ctx;
	mtopic_t *t = topic_get(m, topic, false);
	size_t end;

	(void)errstr;
	(void)errstr_size;
	if (!t)
		return RS_ERR_NOT_FOUND;
	end = t->n; /* the end as it was when the scan started */
	for (size_t i = 0; i < end; i++) {
		rs_dlq_rec_t rec = {0,
				    (int64_t)i,
				    t->recs[i].ts,
				    t->recs[i].key,
				    t->recs[i].key ? strlen(t->recs[i].key) : 0,
				    t->recs[i].val,
				    t->recs[i].len};
		rs_err_t err = cb(&rec, opaque);

		if (err != RS_OK)
			return err;
	}
	return RS_OK;
}

static rs_err_t m_produce(void *ctx, const char *topic, const char *key,
			  const void *val, size_t len, const char *entry_id) {
	mio_t *m = ctx;
	mtopic_t *t = topic_get(m, topic, true);

	assert_true(m->n_pending < RS_ARRAY_SIZE(m->pending));
	m->pending[m->n_pending].t = (size_t)(t - m->topics);
	m->pending[m->n_pending++].r = mrec(key, val, len, entry_id, T0);
	if (!strncmp(topic, "jobs.", 5) && m->stop_after_jobs >= 0 &&
	    ++m->jobs_produced >= (size_t)m->stop_after_jobs)
		m->stop = 1;
	return RS_OK;
}

static rs_err_t m_flush(void *ctx, char *errstr, size_t errstr_size) {
	mio_t *m = ctx;
	bool fail = ++m->flushes == m->fail_flush_at;

	for (size_t i = 0; i < m->n_pending; i++) {
		if (fail)
			mrec_free(&m->pending[i].r);
		else
			topic_append(&m->topics[m->pending[i].t],
				     m->pending[i].r);
	}
	m->n_pending = 0;
	if (fail) {
		rs_snprintf(errstr, errstr_size, "broker went away");
		return RS_ERR_QUEUE;
	}
	return RS_OK;
}

static rs_err_t m_ensure(void *ctx, const char *topic, char *errstr,
			 size_t errstr_size) {
	(void)errstr;
	(void)errstr_size;
	topic_get(ctx, topic, true)->compacted = true;
	return RS_OK;
}

static void m_init(mio_t *m, rs_cli_dlq_io_t *io) {
	memset(m, 0, sizeof(*m));
	m->stop_after_jobs = -1;
	io->scan = m_scan;
	io->produce = m_produce;
	io->flush = m_flush;
	io->ensure_compacted = m_ensure;
	io->ctx = m;
}

static void m_cleanup(mio_t *m) {
	for (size_t i = 0; i < m->n_topics; i++) {
		for (size_t j = 0; j < m->topics[i].n; j++)
			mrec_free(&m->topics[i].recs[j]);
		rs_free(m->topics[i].recs);
	}
}

static size_t topic_n(mio_t *m, const char *name) {
	mtopic_t *t = topic_get(m, name, false);
	return t ? t->n : 0;
}

/* ------------------------------------------------------------------ */
/* Fixture                                                            */

typedef struct {
	mio_t m;
	rs_cli_dlq_io_t io;
	rs_cli_dlq_opts_t o;
	rs_cli_dlq_result_t res;
	char *out;
	size_t out_len;
	char *job_ids[16]; /* job id of DLQ entry i (NULL: not a job) */
	char *vals[16];
	size_t n_entries;
} fx_t;

static void opts_reset(fx_t *f) {
	memset(&f->o, 0, sizeof(f->o));
	rs_cli_dlq_filter_init(&f->o.filter);
	f->o.dlq_topic = "dlq";
	f->o.state_topic = "dlq.state";
	f->o.applied_topic = "applied";
	f->o.jobs_group_topic = "jobs.group";
	f->o.jobs_user_topic = "jobs.user";
	f->o.batch = 3; /* several batches per run */
	f->o.err = stderr;
	f->o.stop = &f->m.stop;
}

/* Runs one command capturing its output in f->out. */
typedef int(cmd_t)(const rs_cli_dlq_io_t *, const rs_cli_dlq_opts_t *,
		   rs_cli_dlq_result_t *);
static int run(fx_t *f, cmd_t *cmd) {
	int rc;

	rs_free(f->out);
	f->out = NULL;
	f->o.out = open_memstream(&f->out, &f->out_len);
	rc = cmd(&f->io, &f->o, &f->res);
	fclose(f->o.out);
	f->o.out = NULL;
	return rc;
}

/* Adds a dead-lettered group.members job to the DLQ (as the worker does:
 * the envelope with its error history, key = job key). */
static size_t add_job(fx_t *f, const char *tenant, const char *gid_tail,
		      int64_t gen, int status, int64_t ts) {
	rs_envelope_t env;
	char key[128], gid[64], *txt = NULL, errstr[256];
	size_t len, i = f->n_entries++;

	rs_snprintf(gid, sizeof(gid), "11111111-2222-3333-4444-%s", gid_tail);
	rs_envelope_init(&env);
	env.tenant = rs_strdup(tenant);
	env.kind = rs_strdup("group.members");
	rs_snprintf(key, sizeof(key), "%s/%s", tenant, gid);
	env.key = rs_strdup(key);
	env.generation = gen;
	env.created = ts - 5000;
	env.members.group_id = rs_strdup(gid);
	env.members.mode = rs_strdup("exact");
	assert_int_equal(rs_envelope_member_add(&env, false, U1, NULL), RS_OK);
	rs_envelope_error_append(&env, ts - 10, 0, status, "SomeCode",
				 "failed", NULL);
	assert_int_equal(rs_envelope_encode(&env, &txt, &len, errstr,
					    sizeof(errstr)),
			 RS_OK);
	topic_append(topic_get(&f->m, "dlq", true),
		     mrec(key, txt, len, NULL, ts));
	f->job_ids[i] = rs_strdup(env.id);
	f->vals[i] = txt;
	rs_envelope_cleanup(&env);
	return i;
}

static void add_raw(fx_t *f, const char *topic, const char *key,
		    const char *val) {
	topic_append(topic_get(&f->m, topic, true),
		     mrec(key, val, strlen(val), NULL, T0));
	if (!strcmp(topic, "dlq"))
		f->n_entries++;
}

/* The applied topic says generation @p gen of entry @p i's key (and, when
 * @p same_job, entry i's very job) was applied. */
static void add_applied(fx_t *f, size_t i, int64_t gen, bool same_job) {
	char val[512];
	rs_dlq_entry_t e;
	rs_dlq_rec_t rec = {0, 0, T0, NULL, 0, f->vals[i], strlen(f->vals[i])};

	assert_int_equal(rs_dlq_entry_decode(&rec, &e), RS_OK);
	rs_snprintf(val, sizeof(val),
		    "{\"key\":\"%s\",\"generation\":%" PRId64
		    ",\"job_id\":\"%s\",\"applied_at\":%lld}",
		    e.key, gen, same_job ? e.job_id : "other", T0 + 1);
	add_raw(f, "applied", e.key, val);
	rs_dlq_entry_cleanup(&e);
}

static int setup(void **state) {
	fx_t *f = rs_calloc(1, sizeof(*f));

	m_init(&f->m, &f->io);
	opts_reset(f);
	*state = f;
	return 0;
}

static int teardown(void **state) {
	fx_t *f = *state;

	m_cleanup(&f->m);
	for (size_t i = 0; i < RS_ARRAY_SIZE(f->job_ids); i++) {
		rs_free(f->job_ids[i]);
		rs_free(f->vals[i]);
	}
	rs_free(f->out);
	rs_free(f);
	return 0;
}

/* Whether jobs.group holds DLQ entry @p i republished exactly @p times,
 * byte for byte, with its key and the entry-id header. */
static void assert_sent(fx_t *f, size_t i, size_t times) {
	mtopic_t *t = topic_get(&f->m, "jobs.group", false);
	char id[32];
	size_t n = 0;

	rs_dlq_id_format(0, (int64_t)i, id, sizeof(id));
	for (size_t j = 0; t && j < t->n; j++) {
		if (strcmp(t->recs[j].hdr, id))
			continue;
		assert_int_equal(t->recs[j].len, strlen(f->vals[i]));
		assert_memory_equal(t->recs[j].val, f->vals[i],
				    t->recs[j].len);
		assert_non_null(strstr(f->vals[i], t->recs[j].key));
		n++;
	}
	if (n != times)
		fail_msg("entry %s sent %zu times, expected %zu", id, n, times);
}

/* ------------------------------------------------------------------ */
/* Tests                                                              */

/* e0 t1 gen5; e1 t1 gen3 (gen4 applied: superseded); e2 t2 gen2 (this
 * job applied already); e3 invalid wrapper; e4 t2 gen1 (an older gen of
 * another key applied: not superseded); e5 malformed. */
static void standard_dlq(fx_t *f) {
	add_job(f, "t1", "000000000000", 5, 404, T0);
	add_job(f, "t1", "000000000001", 3, 503, T0 + 1000);
	add_job(f, "t2", "000000000002", 2, 403, T0 + 2000);
	add_raw(f, "dlq", NULL,
		"{\"v\":1,\"kind\":\"invalid\",\"raw\":\"x\",\"error\":"
		"\"envelope: not a JSON object\",\"time\":1}");
	add_job(f, "t2", "000000000004", 7, 404, T0 + 4000);
	add_raw(f, "dlq", "k", "{garbage");
	add_applied(f, 1, 4, false);
	add_applied(f, 2, 2, true);
	add_applied(f, 4, 6, false);
}

static void test_list(void **state) {
	fx_t *f = *state;
	cJSON *arr;

	standard_dlq(f);
	assert_int_equal(run(f, rs_cli_dlq_list), RS_CLI_EXIT_OK);
	assert_int_equal(f->res.scanned, 6);
	assert_int_equal(f->res.matched, 6);
	assert_int_equal(f->res.malformed, 1);
	assert_non_null(strstr(f->out, "ID "));
	assert_non_null(strstr(f->out, "(malformed)"));
	assert_non_null(strstr(f->out, "(invalid job)"));

	f->o.filter.tenant = "t1";
	assert_int_equal(run(f, rs_cli_dlq_list), RS_CLI_EXIT_OK);
	assert_int_equal(f->res.matched, 2);
	f->o.filter.tenant = NULL;
	f->o.filter.status = 404;
	f->o.filter.since = T0 + 1;
	f->o.json = true;
	assert_int_equal(run(f, rs_cli_dlq_list), RS_CLI_EXIT_OK);
	assert_int_equal(f->res.matched, 1);
	arr = cJSON_Parse(f->out);
	assert_true(cJSON_IsArray(arr));
	assert_int_equal(cJSON_GetArraySize(arr), 1);
	assert_string_equal(
		cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 0), "id")
			->valuestring,
		"0-4");
	cJSON_Delete(arr);
	/* An empty selection is still a valid JSON array. */
	f->o.filter.tenant = "nobody";
	assert_int_equal(run(f, rs_cli_dlq_list), RS_CLI_EXIT_OK);
	arr = cJSON_Parse(f->out);
	assert_int_equal(cJSON_GetArraySize(arr), 0);
	cJSON_Delete(arr);
	/* Listing wrote nothing anywhere. */
	assert_int_equal(topic_n(&f->m, "dlq.state"), 0);
}

static void test_list_no_topics(void **state) {
	fx_t *f = *state;

	/* Nothing was ever dead-lettered: no DLQ topic, no state topic. */
	assert_int_equal(run(f, rs_cli_dlq_list), RS_CLI_EXIT_OK);
	assert_int_equal(f->res.scanned, 0);
	assert_int_equal(run(f, rs_cli_dlq_replay), RS_CLI_EXIT_OK);
	assert_int_equal(f->res.replayed, 0);
}

static void test_replay(void **state) {
	fx_t *f = *state;

	standard_dlq(f);
	assert_int_equal(run(f, rs_cli_dlq_replay), RS_CLI_EXIT_OK);
	assert_int_equal(f->res.replayed, 2);
	assert_int_equal(f->res.superseded, 1);
	assert_int_equal(f->res.applied, 1);
	assert_int_equal(f->res.unreplayable, 2);
	assert_int_equal(topic_n(&f->m, "jobs.group"), 2);
	assert_sent(f, 0, 1);
	assert_sent(f, 4, 1);
	assert_true(topic_get(&f->m, "dlq.state", false)->compacted);
	/* Skipped ones are listed with the reason. */
	assert_non_null(strstr(f->out, "0-1"));
	assert_non_null(strstr(f->out, "superseded: generation 4"));
	assert_non_null(strstr(f->out, "already applied"));
	/* The DLQ itself is append-only: untouched. */
	assert_int_equal(topic_n(&f->m, "dlq"), 6);

	/* Twice: nothing more. */
	assert_int_equal(run(f, rs_cli_dlq_replay), RS_CLI_EXIT_OK);
	assert_int_equal(f->res.replayed, 0);
	assert_int_equal(topic_n(&f->m, "jobs.group"), 2);

	/* list hides the replayed ones, --all shows them as such. */
	assert_int_equal(run(f, rs_cli_dlq_list), RS_CLI_EXIT_OK);
	assert_int_equal(f->res.matched, 4);
	assert_null(strstr(f->out, "replayed "));
	f->o.filter.all = true;
	assert_int_equal(run(f, rs_cli_dlq_list), RS_CLI_EXIT_OK);
	assert_int_equal(f->res.matched, 6);
	assert_non_null(strstr(f->out, "replayed "));
	f->o.filter.all = false;

	/* --force adds the superseded and the applied, once. */
	f->o.force = true;
	assert_int_equal(run(f, rs_cli_dlq_replay), RS_CLI_EXIT_OK);
	assert_int_equal(f->res.replayed, 2);
	assert_sent(f, 1, 1);
	assert_sent(f, 2, 1);
	assert_int_equal(run(f, rs_cli_dlq_replay), RS_CLI_EXIT_OK);
	assert_int_equal(f->res.replayed, 0);
	/* Even --all --force never replays a replayed entry. */
	f->o.filter.all = true;
	assert_int_equal(run(f, rs_cli_dlq_replay), RS_CLI_EXIT_OK);
	assert_int_equal(f->res.replayed, 0);
	assert_int_equal(topic_n(&f->m, "jobs.group"), 4);
}

static void test_replay_filtered(void **state) {
	fx_t *f = *state;

	standard_dlq(f);
	f->o.filter.tenant = "t2";
	assert_int_equal(run(f, rs_cli_dlq_replay), RS_CLI_EXIT_OK);
	assert_int_equal(f->res.matched, 2);
	assert_int_equal(f->res.replayed, 1);
	assert_sent(f, 4, 1);
	assert_sent(f, 0, 0);
	f->o.filter.tenant = NULL;
	f->o.filter.until = T0 + 1; /* only e0 */
	assert_int_equal(run(f, rs_cli_dlq_replay), RS_CLI_EXIT_OK);
	assert_int_equal(f->res.replayed, 1);
	assert_sent(f, 0, 1);
	assert_int_equal(topic_n(&f->m, "jobs.group"), 2);
}

static void test_dry_run(void **state) {
	fx_t *f = *state;

	standard_dlq(f);
	f->o.dry_run = true;
	assert_int_equal(run(f, rs_cli_dlq_replay), RS_CLI_EXIT_OK);
	assert_int_equal(f->res.replayed, 2);
	assert_non_null(strstr(f->out, "would replay 0-0"));
	assert_non_null(strstr(f->out, "dry run"));
	assert_int_equal(run(f, rs_cli_dlq_purge), RS_CLI_EXIT_OK);
	assert_int_equal(f->res.purged, 6);
	/* Nothing written: no jobs, no state topic at all. */
	assert_int_equal(f->m.flushes, 0);
	assert_null(topic_get(&f->m, "jobs.group", false));
	assert_null(topic_get(&f->m, "dlq.state", false));
}

static void test_purge(void **state) {
	fx_t *f = *state;

	standard_dlq(f);
	f->o.filter.tenant = "t1";
	/* Without --yes: refused, says how many, writes nothing. */
	assert_int_equal(run(f, rs_cli_dlq_purge), RS_CLI_EXIT_USAGE);
	assert_int_equal(f->res.purged, 2);
	assert_null(topic_get(&f->m, "dlq.state", false));
	f->o.yes = true;
	assert_int_equal(run(f, rs_cli_dlq_purge), RS_CLI_EXIT_OK);
	assert_int_equal(f->res.purged, 2);
	assert_non_null(strstr(f->out, "purged 2"));
	/* Again: nothing left to purge. */
	assert_int_equal(run(f, rs_cli_dlq_purge), RS_CLI_EXIT_OK);
	assert_int_equal(f->res.purged, 0);
	f->o.yes = false;
	f->o.filter.tenant = NULL;
	assert_int_equal(run(f, rs_cli_dlq_list), RS_CLI_EXIT_OK);
	assert_int_equal(f->res.matched, 4);
	assert_null(strstr(f->out, "t1/"));
	/* Purged entries are never replayed, even with --force --all. */
	f->o.force = true;
	f->o.filter.all = true;
	assert_int_equal(run(f, rs_cli_dlq_replay), RS_CLI_EXIT_OK);
	assert_sent(f, 0, 0);
	assert_sent(f, 1, 0);
	assert_int_equal(run(f, rs_cli_dlq_list), RS_CLI_EXIT_OK);
	assert_non_null(strstr(f->out, "purged "));
}

/* SIGINT in the middle: the jobs sent so far are confirmed and marked,
 * the rest untouched; the next run sends exactly the rest. */
static void test_replay_interrupted(void **state) {
	fx_t *f = *state;

	for (int i = 0; i < 7; i++) {
		char tail[16];

		rs_snprintf(tail, sizeof(tail), "%012d", i);
		add_job(f, "t1", tail, 1, 404, T0 + i);
	}
	f->m.stop_after_jobs = 4; /* second batch, first job */
	assert_int_equal(run(f, rs_cli_dlq_replay), RS_CLI_EXIT_FAIL);
	assert_int_equal(f->res.replayed, 4);
	assert_int_equal(topic_n(&f->m, "jobs.group"), 4);
	f->m.stop = 0;
	f->m.stop_after_jobs = -1;
	assert_int_equal(run(f, rs_cli_dlq_replay), RS_CLI_EXIT_OK);
	assert_int_equal(f->res.replayed, 3);
	/* Entries 4-5 of the cut batch were marked "replaying" but never
	 * sent; the interrupted run gave them back (tombstones), so they
	 * are plainly dead now, not in doubt. */
	assert_int_equal(f->res.resent, 0);
	for (size_t i = 0; i < 7; i++)
		assert_sent(f, i, 1);
}

/* The same, but the tombstones are lost too (the broker went away right
 * after the SIGINT): the entries stay in doubt and are sent next time. */
static void test_replay_interrupted_no_release(void **state) {
	fx_t *f = *state;

	for (int i = 0; i < 3; i++) {
		char tail[16];

		rs_snprintf(tail, sizeof(tail), "%012d", i);
		add_job(f, "t1", tail, 1, 404, T0 + i);
	}
	f->m.stop_after_jobs = 1;
	/* flushes: 1 replaying, 2 jobs, 3 replayed, 4 tombstones */
	f->m.fail_flush_at = 4;
	assert_int_equal(run(f, rs_cli_dlq_replay), RS_CLI_EXIT_FAIL);
	assert_int_equal(f->res.replayed, 1);
	f->m.stop = 0;
	f->m.stop_after_jobs = -1;
	assert_int_equal(run(f, rs_cli_dlq_replay), RS_CLI_EXIT_OK);
	assert_int_equal(f->res.replayed, 2);
	assert_int_equal(f->res.resent, 2);
	for (size_t i = 0; i < 3; i++)
		assert_sent(f, i, 1);
}

/* The broker loses the jobs of a batch (crash before they are stored):
 * the entries stay "replaying" and the next run sends them, once. */
static void test_replay_crash_before_jobs(void **state) {
	fx_t *f = *state;

	add_job(f, "t1", "000000000000", 1, 404, T0);
	add_job(f, "t1", "000000000001", 1, 404, T0);
	f->m.fail_flush_at = 2; /* 1: "replaying" marks, 2: the jobs */
	assert_int_equal(run(f, rs_cli_dlq_replay), RS_CLI_EXIT_FAIL);
	assert_int_equal(topic_n(&f->m, "jobs.group"), 0);
	assert_int_equal(run(f, rs_cli_dlq_list), RS_CLI_EXIT_OK);
	assert_non_null(strstr(f->out, "replaying"));
	assert_int_equal(run(f, rs_cli_dlq_replay), RS_CLI_EXIT_OK);
	assert_int_equal(f->res.replayed, 2);
	assert_int_equal(f->res.resent, 2);
	assert_sent(f, 0, 1);
	assert_sent(f, 1, 1);
}

/* The jobs are stored but the "replayed" marks are lost: the one window
 * where an entry can go out twice.  If the worker applied them meanwhile
 * (applied topic), the next run sees it and sends nothing. */
static void test_replay_crash_after_jobs(void **state) {
	fx_t *f = *state;

	add_job(f, "t1", "000000000000", 1, 404, T0);
	add_job(f, "t1", "000000000001", 1, 404, T0);
	f->m.fail_flush_at = 3; /* 3: the "replayed" marks */
	assert_int_equal(run(f, rs_cli_dlq_replay), RS_CLI_EXIT_FAIL);
	assert_int_equal(topic_n(&f->m, "jobs.group"), 2);
	add_applied(f, 0, 1, true); /* the worker applied entry 0 */
	assert_int_equal(run(f, rs_cli_dlq_replay), RS_CLI_EXIT_OK);
	assert_int_equal(f->res.applied, 1);
	assert_int_equal(f->res.replayed, 1); /* entry 1: in doubt, resent */
	assert_int_equal(f->res.resent, 1);
	assert_sent(f, 0, 1);
	assert_sent(f, 1, 2);
}

/* A state record about the same id but another job (the DLQ topic was
 * deleted and re-created) does not hide the new entry. */
static void test_foreign_state(void **state) {
	fx_t *f = *state;
	char val[256];

	add_job(f, "t1", "000000000000", 1, 404, T0);
	rs_snprintf(val, sizeof(val),
		    "{\"v\":1,\"id\":\"0-0\",\"status\":\"replayed\","
		    "\"job_id\":\"old\",\"entry_time\":%lld}",
		    T0);
	add_raw(f, "dlq.state", "0-0", val);
	f->n_entries--;
	add_raw(f, "dlq.state", "0-9", "not json"); /* ignored, counted */
	assert_int_equal(run(f, rs_cli_dlq_replay), RS_CLI_EXIT_OK);
	assert_int_equal(f->res.replayed, 1);
	assert_int_equal(f->res.bad_state, 1);
	assert_sent(f, 0, 1);
}

static void test_show(void **state) {
	fx_t *f = *state;
	cJSON *o;

	standard_dlq(f);
	f->o.out = open_memstream(&f->out, &f->out_len);
	assert_int_equal(rs_cli_dlq_show(&f->io, &f->o, "0-4"),
			 RS_CLI_EXIT_OK);
	fclose(f->o.out);
	o = cJSON_Parse(f->out);
	assert_non_null(o);
	assert_string_equal(cJSON_GetObjectItem(o, "id")->valuestring, "0-4");
	assert_string_equal(cJSON_GetObjectItem(o, "type")->valuestring,
			    "job");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(
				 cJSON_GetObjectItem(o, "job"), "errors")),
			 1);
	assert_non_null(strchr(f->out, '\n')); /* pretty, several lines */
	cJSON_Delete(o);
	rs_free(f->out);
	f->out = NULL;

	f->o.out = open_memstream(&f->out, &f->out_len);
	assert_int_equal(rs_cli_dlq_show(&f->io, &f->o, "0-5"),
			 RS_CLI_EXIT_OK);
	fclose(f->o.out);
	o = cJSON_Parse(f->out);
	assert_string_equal(cJSON_GetObjectItem(o, "type")->valuestring,
			    "malformed");
	assert_string_equal(cJSON_GetObjectItem(o, "raw")->valuestring,
			    "{garbage");
	cJSON_Delete(o);

	f->o.out = stdout;
	assert_int_equal(rs_cli_dlq_show(&f->io, &f->o, "0-99"),
			 RS_CLI_EXIT_FAIL);
	assert_int_equal(rs_cli_dlq_show(&f->io, &f->o, "abc"),
			 RS_CLI_EXIT_USAGE);
}

static void test_rate(void **state) {
	fx_t *f = *state;
	int64_t t0;

	for (int i = 0; i < 5; i++) {
		char tail[16];

		rs_snprintf(tail, sizeof(tail), "%012d", i);
		add_job(f, "t1", tail, 1, 404, T0 + i);
	}
	f->o.rate = 20; /* 5 jobs: 4 gaps of 50 ms */
	t0 = rs_now_ms();
	assert_int_equal(run(f, rs_cli_dlq_replay), RS_CLI_EXIT_OK);
	assert_true(rs_now_ms() - t0 >= 195);
	assert_int_equal(f->res.replayed, 5);
}

static void test_map(void **state) {
	rs_cli_map_t *m = rs_cli_map_new(1000);
	char k[32];

	(void)state;
	for (int i = 0; i < 1000; i++) {
		int *v = rs_malloc(sizeof(*v));

		*v = i;
		rs_snprintf(k, sizeof(k), "key-%d", i);
		assert_int_equal(rs_cli_map_put(m, k, v), RS_OK);
	}
	assert_int_equal(rs_cli_map_put(m, "one-too-many", rs_malloc(4)),
			 RS_ERR_TOO_LARGE);
	/* Replacing an existing key is always fine. */
	assert_int_equal(rs_cli_map_put(m, "key-7", rs_calloc(1, sizeof(int))),
			 RS_OK);
	assert_int_equal(*(int *)rs_cli_map_get(m, "key-7"), 0);
	assert_int_equal(*(int *)rs_cli_map_get(m, "key-999"), 999);
	assert_null(rs_cli_map_get(m, "key-1000"));
	assert_int_equal(rs_cli_map_count(m), 1000);
	rs_cli_map_destroy(m);
	rs_cli_map_destroy(NULL);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void) {
	const struct CMUnitTest tests[] = {
		T(test_list),
		T(test_list_no_topics),
		T(test_replay),
		T(test_replay_filtered),
		T(test_dry_run),
		T(test_purge),
		T(test_replay_interrupted),
		T(test_replay_interrupted_no_release),
		T(test_replay_crash_before_jobs),
		T(test_replay_crash_after_jobs),
		T(test_foreign_state),
		T(test_show),
		T(test_rate),
		cmocka_unit_test(test_map),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
