/*
 * cli_dlq.c - list, show, replay and purge DLQ entries (docs/cli.md).
 *
 * The DLQ topic itself is never changed: it is an append-only record of
 * what failed.  What an operator did about an entry (replayed it, purged
 * it) goes into a compacted DLQ-state topic keyed by the entry id, so the
 * tool's view is "DLQ records, minus what the state topic says", the same
 * for every operator and every run, and the workers' consumer group is
 * never touched (every read is a group-less scan).
 *
 * Replay safety rests on three facts: (1) the state record "replaying" is
 * stored before a job is republished and "replayed" after, so an entry is
 * never republished again once marked; (2) a replayed job keeps its id and
 * generation, so the worker's supersede and idempotence rules apply to it
 * like to any redelivery; (3) the applied topic tells which generation of
 * a key is already applied, so a job that a newer one superseded, or that
 * was applied meanwhile, is skipped.  The crash windows are in docs/cli.md.
 */
#include "rs/rs_base.h"
#include "rs_cli.h"
#include "rs_cli_dlq.h"

#include <inttypes.h>
#include <string.h>

/* Bounds of the in-memory views of the compacted topics (one small record
 * per key): far above any real deployment, low enough to stop a runaway. */
#define STATE_MAX_KEYS 20000000
#define APPLIED_MAX_KEYS 20000000
#define BATCH_DEFAULT 500
#define BATCH_MAX 100000
/* Header that ties a republished job to its DLQ entry (audit trail). */
#define ENTRY_HDR "rostersync-dlq-entry"

typedef enum { M_LIST, M_SHOW, M_REPLAY, M_PURGE } mode_t_;

/* What the applied topic says about one key. */
typedef struct {
	int64_t generation;
	char job_id[RS_DLQ_JOB_ID_MAX + 1];
	int64_t applied_at;
} applied_t;

/* One entry waiting in the current replay or purge batch. */
typedef struct {
	rs_dlq_state_t st; /* the state record to write (id, job, time) */
	char *key;         /* message key of the republished job */
	char *val;         /* the DLQ record's value, republished as is */
	size_t len;
	const char *topic; /* jobs topic it goes to */
	int64_t generation;
} item_t;

typedef struct {
	const rs_cli_dlq_io_t *io;
	const rs_cli_dlq_opts_t *o;
	rs_cli_dlq_result_t *res;
	mode_t_ mode;
	rs_cli_map_t *state;   /* entry id -> rs_dlq_state_t */
	rs_cli_map_t *applied; /* key -> applied_t */
	bool state_topic_ready;
	/* list */
	bool first;
	/* show */
	int32_t want_part;
	int64_t want_off;
	bool found;
	int show_rc;
	/* replay / purge batch */
	item_t *items;
	size_t n_items, batch;
	/* replay pacing */
	int64_t rate_start_ms;
	size_t rate_sent;
	/* the failure that stopped a scan */
	char errstr[512];
} ctx_t;

void rs_cli_dlq_filter_init(rs_cli_dlq_filter_t *f) {
	memset(f, 0, sizeof(*f));
	f->status = -1;
}

/* Operators type "notfound" for "Request_ResourceNotFound": matching is
 * case-insensitive and by substring, never exact. */
static bool has_text(const char *hay, const char *needle) {
	return hay && strcasestr(hay, needle);
}

bool rs_cli_dlq_filter_match(const rs_cli_dlq_filter_t *f,
			     const rs_dlq_entry_t *e, rs_dlq_status_t st) {
	/* Handled entries are noise in the daily view; "replaying" ones
	 * stay visible because they may still need a replay. */
	if (!f->all && (st == RS_DLQ_ST_PURGED || st == RS_DLQ_ST_REPLAYED))
		return false;
	/* An entry that does not know a field never matches a filter on
	 * it: a malformed record must not slip into a tenant's replay. */
	if (f->tenant && (!e->tenant || strcmp(f->tenant, e->tenant)))
		return false;
	if (f->kind && (!e->kind || strcmp(f->kind, e->kind)))
		return false;
	if (f->status >= 0 && e->http_status != f->status)
		return false;
	/* Half-open [since, until): consecutive windows never overlap. */
	if (f->since && e->time < f->since)
		return false;
	if (f->until && e->time >= f->until)
		return false;
	if (f->error && *f->error) {
		/* Any attempt's error counts: the first ones often say more
		 * than the last (a 404 behind a string of 503s). */
		bool hit = has_text(e->code, f->error) ||
			   has_text(e->message, f->error);
		for (size_t i = 0; !hit && i < e->env.error_cnt; i++)
			hit = has_text(e->env.errors[i].code, f->error) ||
			      has_text(e->env.errors[i].message, f->error);
		if (!hit)
			return false;
	}
	return true;
}

void rs_cli_dlq_opts_init(rs_cli_dlq_opts_t *o, const rs_conf_t *conf) {
	const rs_conf_global_t *g = rs_conf_global(conf);

	memset(o, 0, sizeof(*o));
	rs_cli_dlq_filter_init(&o->filter);
	o->dlq_topic = g->queue.kafka.topics.dlq;
	rs_snprintf(o->state_topic_buf, sizeof(o->state_topic_buf), "%s.state",
		    o->dlq_topic);
	o->state_topic = o->state_topic_buf;
	o->applied_topic = g->queue.kafka.topics.applied;
	o->jobs_group_topic = g->queue.kafka.topics.jobs_group;
	o->jobs_user_topic = g->queue.kafka.topics.jobs_user;
	o->out = stdout;
	o->err = stderr;
}

/* The signal flag, polled between entries and between jobs: a scan
 * callback returns RS_ERR_CANCELLED on it, which ends rs_queue_scan. */
static bool stopping(const ctx_t *c) {
	return c->o->stop && *c->o->stop;
}

/* The entry's state: what the state topic says, if it is about this very
 * entry (rs_dlq_state_matches). */
static rs_dlq_status_t entry_status(const ctx_t *c, const rs_dlq_entry_t *e) {
	const rs_dlq_state_t *st = rs_cli_map_get(c->state, e->id);

	return st && rs_dlq_state_matches(st, e) ? st->status
						 : RS_DLQ_ST_DEAD;
}

/* ------------------------------------------------------------------ */
/* Loading the compacted topics                                       */

static rs_err_t state_cb(const rs_dlq_rec_t *rec, void *opaque) {
	ctx_t *c = opaque;
	rs_dlq_state_t st, *copy;
	char why[256];

	/* A tombstone (no value): the entry is dead again.  A cleanly
	 * interrupted replay writes one for each entry it marked but did
	 * not send, so the next run does not count it as in doubt. */
	if (!rec->value || !rec->len) {
		if (!rec->key || !rec->keylen || rec->keylen >= RS_DLQ_ID_MAX)
			return RS_OK;
		copy = rs_calloc(1, sizeof(*copy));
		memcpy(copy->id, rec->key, rec->keylen);
		copy->status = RS_DLQ_ST_DEAD;
		if (rs_cli_map_put(c->state, copy->id, copy) != RS_OK) {
			rs_snprintf(c->errstr, sizeof(c->errstr),
				    "%s holds more than %d entries",
				    c->o->state_topic, STATE_MAX_KEYS);
			return RS_ERR_TOO_LARGE;
		}
		return RS_OK;
	}
	if (rs_dlq_state_decode(rec->value, rec->len, &st, why,
				sizeof(why)) != RS_OK) {
		if (!c->res->bad_state++)
			fprintf(c->o->err,
				"rostersync: ignoring unreadable record %" PRId32
				"-%" PRId64 " of %s: %s\n",
				rec->partition, rec->offset, c->o->state_topic,
				why);
		return RS_OK;
	}
	/* Records of one key are in one partition, in order: the last one
	 * read is the current state. */
	copy = rs_malloc(sizeof(*copy));
	*copy = st;
	if (rs_cli_map_put(c->state, st.id, copy) != RS_OK) {
		rs_snprintf(c->errstr, sizeof(c->errstr),
			    "%s holds more than %d entries", c->o->state_topic,
			    STATE_MAX_KEYS);
		return RS_ERR_TOO_LARGE;
	}
	return RS_OK;
}

static rs_err_t applied_cb(const rs_dlq_rec_t *rec, void *opaque) {
	ctx_t *c = opaque;
	rs_dlq_applied_t a;
	applied_t *cur, *n;
	char why[256];

	if (!rec->value || !rec->len)
		return RS_OK;
	if (rs_dlq_applied_decode(rec->value, rec->len, &a, why,
				  sizeof(why)) != RS_OK) {
		if (!c->res->bad_state++)
			fprintf(c->o->err,
				"rostersync: ignoring unreadable record %" PRId32
				"-%" PRId64 " of %s: %s\n",
				rec->partition, rec->offset,
				c->o->applied_topic, why);
		return RS_OK;
	}
	/* Keep the highest generation: before compaction runs, older
	 * records of a key are still in the topic. */
	cur = rs_cli_map_get(c->applied, a.key);
	if (cur && cur->generation > a.generation)
		return RS_OK;
	n = rs_malloc(sizeof(*n));
	n->generation = a.generation;
	n->applied_at = a.applied_at;
	memcpy(n->job_id, a.job_id, sizeof(n->job_id));
	if (rs_cli_map_put(c->applied, a.key, n) != RS_OK) {
		rs_snprintf(c->errstr, sizeof(c->errstr),
			    "%s holds more than %d keys", c->o->applied_topic,
			    APPLIED_MAX_KEYS);
		return RS_ERR_TOO_LARGE;
	}
	return RS_OK;
}

/* Scans @p topic; a missing topic is an empty one when @p may_be_missing
 * (the state topic exists only after the first replay or purge). */
static rs_err_t scan(ctx_t *c, const char *topic, rs_cli_scan_cb_t *cb,
		     bool may_be_missing) {
	char why[256] = "";
	rs_err_t err;

	c->errstr[0] = '\0';
	err = c->io->scan(c->io->ctx, topic, cb, c, why, sizeof(why));
	if (err == RS_ERR_NOT_FOUND && may_be_missing)
		return RS_OK;
	if (err == RS_ERR_CANCELLED && c->mode == M_SHOW)
		return RS_OK; /* the callback found the entry */
	if (err != RS_OK)
		fprintf(c->o->err, "rostersync: reading %s: %s\n", topic,
			c->errstr[0] ? c->errstr
			: why[0]     ? why
				     : rs_err_str(err));
	return err;
}

static rs_err_t ctx_init(ctx_t *c, const rs_cli_dlq_io_t *io,
			 const rs_cli_dlq_opts_t *o, rs_cli_dlq_result_t *res,
			 mode_t_ mode) {
	/* Every command starts from a clean slate, so one process (a test)
	 * can run many commands with the same result struct. */
	memset(c, 0, sizeof(*c));
	memset(res, 0, sizeof(*res));
	c->io = io;
	c->o = o;
	c->res = res;
	c->mode = mode;
	c->first = true;
	c->batch = o->batch ? RS_MIN(o->batch, BATCH_MAX) : BATCH_DEFAULT;
	c->state = rs_cli_map_new(STATE_MAX_KEYS);
	c->applied = rs_cli_map_new(APPLIED_MAX_KEYS);
	/* State first: the DLQ scan that follows classifies each entry as
	 * it streams by, so the state must be complete before it starts.
	 * Both scans stop at the end as of their start, so a concurrent
	 * replay by another operator shows up on the next run, and its
	 * entries are then skipped as replayed. */
	if (scan(c, o->state_topic, state_cb, true) != RS_OK)
		return RS_ERR_FAIL;
	/* Only replay needs to know what is applied. */
	if (mode == M_REPLAY &&
	    scan(c, o->applied_topic, applied_cb, true) != RS_OK)
		return RS_ERR_FAIL;
	return RS_OK;
}

static void items_clear(ctx_t *c) {
	for (size_t i = 0; i < c->n_items; i++) {
		rs_free(c->items[i].key);
		rs_free(c->items[i].val);
	}
	c->n_items = 0;
}

static void ctx_cleanup(ctx_t *c) {
	items_clear(c);
	rs_free(c->items);
	rs_cli_map_destroy(c->state);
	rs_cli_map_destroy(c->applied);
}

/* ------------------------------------------------------------------ */
/* list                                                               */

static rs_err_t list_cb(const rs_dlq_rec_t *rec, void *opaque) {
	ctx_t *c = opaque;
	rs_dlq_entry_t e;
	rs_dlq_status_t st;

	c->res->scanned++;
	/* A malformed entry is shown like any other (with its reason): the
	 * listing is where an operator finds it. */
	if (rs_dlq_entry_decode(rec, &e) != RS_OK)
		c->res->malformed++;
	st = entry_status(c, &e);
	if (rs_cli_dlq_filter_match(&c->o->filter, &e, st)) {
		c->res->matched++;
		if (c->o->json) {
			cJSON *j = rs_cli_dlq_entry_json(&e, st);
			char *txt = cJSON_PrintUnformatted(j);

			fprintf(c->o->out, "%s%s", c->first ? "" : ",\n",
				txt);
			cJSON_free(txt);
			cJSON_Delete(j);
		} else {
			rs_cli_dlq_table_row(c->o->out, &e, st);
		}
		c->first = false;
	}
	rs_dlq_entry_cleanup(&e);
	return stopping(c) ? RS_ERR_CANCELLED : RS_OK;
}

int rs_cli_dlq_list(const rs_cli_dlq_io_t *io, const rs_cli_dlq_opts_t *o,
		    rs_cli_dlq_result_t *res) {
	int rc = RS_CLI_EXIT_FAIL;
	rs_err_t err;
	ctx_t c;

	if (ctx_init(&c, io, o, res, M_LIST) != RS_OK)
		goto out;
	/* Rows are printed as they are read (no sort): 100,000 entries must
	 * not be held in memory, and DLQ order is dead-letter order within
	 * each partition, which is what an operator reads anyway. */
	if (o->json)
		fprintf(o->out, "[");
	else
		rs_cli_dlq_table_header(o->out);
	err = scan(&c, o->dlq_topic, list_cb, true);
	if (o->json)
		fprintf(o->out, "%s]\n", c.first ? "" : "\n");
	if (err != RS_OK)
		goto out;
	fprintf(o->err, "%zu of %zu entries shown%s\n", res->matched,
		res->scanned,
		o->filter.all ? "" : " (replayed and purged ones hidden)");
	if (res->malformed)
		fprintf(o->err,
			"warning: %zu entries are not in a known format "
			"(type malformed; `dlq show ID` shows them raw)\n",
			res->malformed);
	rc = RS_CLI_EXIT_OK;
out:
	fflush(o->out);
	ctx_cleanup(&c);
	return rc;
}

/* ------------------------------------------------------------------ */
/* show                                                               */

static rs_err_t show_cb(const rs_dlq_rec_t *rec, void *opaque) {
	ctx_t *c = opaque;
	rs_dlq_entry_t e;
	cJSON *j;
	char *txt;

	/* Only the wanted record is decoded: show costs one scan, not one
	 * decode per entry. */
	if (rec->partition != c->want_part || rec->offset != c->want_off)
		return RS_OK;
	c->found = true;
	rs_dlq_entry_decode(rec, &e);
	j = rs_cli_dlq_show_json(&e, entry_status(c, &e), rec);
	txt = cJSON_Print(j);
	fprintf(c->o->out, "%s\n", txt);
	cJSON_free(txt);
	cJSON_Delete(j);
	rs_dlq_entry_cleanup(&e);
	return RS_ERR_CANCELLED; /* found: stop the scan */
}

int rs_cli_dlq_show(const rs_cli_dlq_io_t *io, const rs_cli_dlq_opts_t *o,
		    const char *id) {
	rs_cli_dlq_result_t res;
	int rc = RS_CLI_EXIT_FAIL;
	ctx_t c;

	memset(&c, 0, sizeof(c));
	if (ctx_init(&c, io, o, &res, M_SHOW) != RS_OK)
		goto out;
	if (rs_dlq_id_parse(id, &c.want_part, &c.want_off) != RS_OK) {
		fprintf(o->err,
			"rostersync: '%s' is not a DLQ entry id "
			"(<partition>-<offset>, as `dlq list` shows)\n",
			id);
		rc = RS_CLI_EXIT_USAGE;
		goto out;
	}
	if (scan(&c, o->dlq_topic, show_cb, true) != RS_OK)
		goto out;
	if (!c.found) {
		fprintf(o->err, "rostersync: no DLQ entry %s in %s\n", id,
			o->dlq_topic);
		goto out;
	}
	rc = RS_CLI_EXIT_OK;
out:
	fflush(o->out);
	ctx_cleanup(&c);
	return rc;
}

/* ------------------------------------------------------------------ */
/* replay and purge batches                                           */

/* Creates the state topic at the first write, compacted: never on a read
 * or a dry run, so looking never changes the cluster. */
static rs_err_t state_topic_ready(ctx_t *c) {
	char why[256] = "";

	if (c->state_topic_ready)
		return RS_OK;
	if (c->io->ensure_compacted(c->io->ctx, c->o->state_topic, why,
				    sizeof(why)) != RS_OK) {
		rs_snprintf(c->errstr, sizeof(c->errstr),
			    "cannot create %s: %s", c->o->state_topic, why);
		return RS_ERR_QUEUE;
	}
	c->state_topic_ready = true;
	return RS_OK;
}

/* Produces a state record for items [0, n) and waits until stored. */
static rs_err_t write_states(ctx_t *c, size_t n, rs_dlq_status_t status) {
	char why[256] = "";
	rs_err_t err = RS_OK;

	/* One flush for the whole batch: the broker confirms every record
	 * (or the step fails as a whole), at one round trip per batch. */
	for (size_t i = 0; i < n && err == RS_OK; i++) {
		item_t *it = &c->items[i];
		char *txt;

		it->st.status = status;
		it->st.time = rs_wall_ms();
		txt = rs_dlq_state_encode(&it->st, it->topic);
		err = c->io->produce(c->io->ctx, c->o->state_topic, it->st.id,
				     txt, strlen(txt), NULL);
		rs_free(txt);
	}
	if (err == RS_OK)
		err = c->io->flush(c->io->ctx, why, sizeof(why));
	if (err != RS_OK)
		rs_snprintf(c->errstr, sizeof(c->errstr),
			    "writing %s state records to %s: %s",
			    rs_dlq_status_name(status), c->o->state_topic,
			    why[0] ? why : rs_err_str(err));
	return err;
}

/* After a clean interrupt: items [from, n) were marked "replaying" but
 * never produced.  A tombstone per entry makes them plainly dead again;
 * if that write fails they stay "replaying" (in doubt), which is safe. */
static void release_unsent(ctx_t *c, size_t from) {
	char why[256] = "";
	rs_err_t err = RS_OK;

	for (size_t i = from; i < c->n_items && err == RS_OK; i++)
		err = c->io->produce(c->io->ctx, c->o->state_topic,
				     c->items[i].st.id, NULL, 0, NULL);
	if (err == RS_OK)
		err = c->io->flush(c->io->ctx, why, sizeof(why));
	if (err != RS_OK)
		fprintf(c->o->err,
			"rostersync: %zu entries not sent stay 'replaying' "
			"(%s); the next replay sends them\n",
			c->n_items - from, why[0] ? why : rs_err_str(err));
}

/* --rate: waits until job number rate_sent may go (stop-aware). */
static void pace(ctx_t *c) {
	int64_t due;

	/* A schedule from the first job, not a sleep per job: the time
	 * spent producing does not slow the rate below N. */
	if (c->o->rate <= 0)
		return;
	if (!c->rate_sent)
		c->rate_start_ms = rs_now_ms();
	due = c->rate_start_ms +
	      (int64_t)((double)c->rate_sent * 1000.0 / c->o->rate);
	while (!stopping(c) && rs_now_ms() < due)
		rs_sleep_ms(RS_MIN(100, due - rs_now_ms()));
}

/*
 * Replays the batch: "replaying" marks (stored) -> jobs (stored) ->
 * "replayed" marks (stored).  A signal stops between jobs; the jobs sent
 * so far are still confirmed and marked, the rest keep "replaying" and
 * were never sent, which the next run treats as in doubt and sends.
 */
static rs_err_t replay_batch(ctx_t *c) {
	char why[256] = "";
	size_t sent = 0;
	rs_err_t err;

	if (!c->n_items)
		return RS_OK;
	err = state_topic_ready(c);
	if (err == RS_OK)
		err = write_states(c, c->n_items, RS_DLQ_ST_REPLAYING);
	for (; err == RS_OK && sent < c->n_items && !stopping(c); sent++) {
		item_t *it = &c->items[sent];

		pace(c);
		if (stopping(c))
			break;
		/* The DLQ value goes out unchanged: the job keeps its id
		 * and generation, so the worker's supersede and idempotence
		 * rules treat it like any redelivery. */
		err = c->io->produce(c->io->ctx, it->topic, it->key, it->val,
				     it->len, it->st.id);
		c->rate_sent++;
	}
	if (err == RS_OK) {
		err = c->io->flush(c->io->ctx, why, sizeof(why));
		if (err != RS_OK)
			rs_snprintf(c->errstr, sizeof(c->errstr),
				    "republishing: %s; these %zu entries stay "
				    "'replaying' and the next replay sends "
				    "them again",
				    why[0] ? why : rs_err_str(err), sent);
	} else if (!c->errstr[0]) {
		rs_snprintf(c->errstr, sizeof(c->errstr), "republishing: %s",
			    rs_err_str(err));
	}
	if (err == RS_OK)
		err = write_states(c, sent, RS_DLQ_ST_REPLAYED);
	if (err == RS_OK) {
		for (size_t i = 0; i < sent; i++)
			fprintf(c->o->out,
				"replayed  %-10s %s generation %" PRId64
				" -> %s\n",
				c->items[i].st.id, c->items[i].key,
				c->items[i].generation, c->items[i].topic);
		c->res->replayed += sent;
		if (sent < c->n_items) {
			release_unsent(c, sent);
			err = RS_ERR_CANCELLED;
		}
	}
	items_clear(c);
	return err;
}

static rs_err_t purge_batch(ctx_t *c) {
	rs_err_t err;

	if (!c->n_items)
		return RS_OK;
	err = state_topic_ready(c);
	if (err == RS_OK)
		err = write_states(c, c->n_items, RS_DLQ_ST_PURGED);
	if (err == RS_OK)
		c->res->purged += c->n_items;
	items_clear(c);
	return err;
}

static item_t *item_add(ctx_t *c, const rs_dlq_entry_t *e,
			const rs_dlq_rec_t *rec, const char *topic) {
	item_t *it;

	/* The batch bounds what a replay holds: at most batch values. */
	if (!c->items)
		c->items = rs_calloc(c->batch, sizeof(*c->items));
	it = &c->items[c->n_items++];
	memset(it, 0, sizeof(*it));
	rs_snprintf(it->st.id, sizeof(it->st.id), "%s", e->id);
	rs_snprintf(it->st.job_id, sizeof(it->st.job_id), "%s",
		    e->type == RS_DLQ_JOB && e->job_id ? e->job_id : "");
	it->st.entry_time = e->time;
	it->topic = topic;
	it->generation = e->generation;
	if (c->mode == M_REPLAY) {
		it->key = rs_strdup(e->key);
		it->val = rs_malloc(rec->len + 1);
		memcpy(it->val, rec->value, rec->len);
		it->val[rec->len] = '\0';
		it->len = rec->len;
	}
	return it;
}

/* Why a matching job must not be replayed (NULL: replay it). */
static const char *replay_veto(ctx_t *c, const rs_dlq_entry_t *e,
			       char *buf, size_t size) {
	const applied_t *a;
	char t[32];

	if (e->type != RS_DLQ_JOB) {
		c->res->unreplayable++;
		rs_snprintf(buf, size, "not replayable: %s entry",
			    e->type == RS_DLQ_INVALID ? "invalid-job"
						      : "malformed");
		return buf;
	}
	/* No applied record: the key was never applied (or compaction of a
	 * deleted key removed it); the worker still guards what it applies. */
	a = rs_cli_map_get(c->applied, e->key);
	if (!a || c->o->force)
		return NULL;
	rs_cli_time_fmt(a->applied_at, t, sizeof(t));
	if (a->generation > e->generation) {
		c->res->superseded++;
		rs_snprintf(buf, size,
			    "superseded: generation %" PRId64
			    " applied at %s",
			    a->generation, t);
		return buf;
	}
	/* Applied meanwhile (an earlier replay whose end was not recorded,
	 * or a duplicate): a second copy could only be a no-op. */
	if (a->generation == e->generation && !strcmp(a->job_id, e->job_id)) {
		c->res->applied++;
		rs_snprintf(buf, size, "already applied at %s", t);
		return buf;
	}
	return NULL;
}

static rs_err_t act_cb(const rs_dlq_rec_t *rec, void *opaque) {
	ctx_t *c = opaque;
	rs_err_t err = RS_OK;
	rs_dlq_entry_t e;
	rs_dlq_status_t st;
	const char *veto;
	char why[256];

	c->res->scanned++;
	if (rs_dlq_entry_decode(rec, &e) != RS_OK)
		c->res->malformed++;
	st = entry_status(c, &e);
	/* A replayed entry is never replayed again, even with --force or
	 * --all: a new failure of the job is a new DLQ entry. */
	if ((c->mode == M_REPLAY &&
	     (st == RS_DLQ_ST_REPLAYED || st == RS_DLQ_ST_PURGED)) ||
	    (c->mode == M_PURGE && st == RS_DLQ_ST_PURGED) ||
	    !rs_cli_dlq_filter_match(&c->o->filter, &e, st))
		goto out;
	c->res->matched++;
	if (c->mode == M_PURGE) {
		if (c->o->yes && !c->o->dry_run) {
			item_add(c, &e, rec, NULL);
			if (c->n_items == c->batch)
				err = purge_batch(c);
		} else {
			c->res->purged++;
		}
		goto out;
	}
	veto = replay_veto(c, &e, why, sizeof(why));
	if (veto) {
		char k[128];

		char g[24] = "-";

		rs_snprintf(k, sizeof(k), "%s", e.key ? e.key : "-");
		rs_dlq_str_sanitize(k);
		if (e.generation >= 0)
			rs_snprintf(g, sizeof(g), "%" PRId64, e.generation);
		fprintf(c->o->out, "skipped   %-10s %s generation %s: %s\n",
			e.id, k, g, veto);
		goto out;
	}
	/* In doubt: the previous run may or may not have sent it (crash
	 * between the steps).  Sending again is safe because the copy is
	 * the same job; skipping could lose it.  docs/cli.md, crash windows. */
	if (st == RS_DLQ_ST_REPLAYING) {
		c->res->resent++;
		fprintf(c->o->err,
			"rostersync: %s: an earlier replay was interrupted "
			"after marking it; sending it (again)\n",
			e.id);
	}
	if (c->o->dry_run) {
		c->res->replayed++;
		fprintf(c->o->out,
			"would replay %-10s %s generation %" PRId64 " -> %s\n",
			e.id, e.key, e.generation,
			!strncmp(e.kind, "group.", 6) ? c->o->jobs_group_topic
						      : c->o->jobs_user_topic);
		goto out;
	}
	item_add(c, &e, rec,
		 !strncmp(e.kind, "group.", 6) ? c->o->jobs_group_topic
					       : c->o->jobs_user_topic);
	if (c->n_items == c->batch)
		err = replay_batch(c);
out:
	rs_dlq_entry_cleanup(&e);
	if (err == RS_OK && stopping(c))
		err = RS_ERR_CANCELLED;
	return err;
}

/* Runs replay or purge over the DLQ; the last partial batch is written
 * even after an interrupt (its entries were selected, none sent yet). */
static int act(const rs_cli_dlq_io_t *io, const rs_cli_dlq_opts_t *o,
	       rs_cli_dlq_result_t *res, mode_t_ mode) {
	int rc = RS_CLI_EXIT_FAIL;
	rs_err_t err;
	ctx_t c;

	if (ctx_init(&c, io, o, res, mode) != RS_OK)
		goto out;
	/* Batches are written from inside the scan callback, so a replay
	 * starts sending while it is still reading: bounded memory, and the
	 * first jobs go out after one batch, not after the whole DLQ. */
	c.errstr[0] = '\0';
	err = io->scan(io->ctx, o->dlq_topic, act_cb, &c, c.errstr,
		       sizeof(c.errstr));
	if (err == RS_ERR_NOT_FOUND)
		err = RS_OK; /* no DLQ topic yet: nothing dead-lettered */
	if ((err == RS_OK || (err == RS_ERR_CANCELLED && stopping(&c))) &&
	    c.n_items) {
		rs_err_t e2 = mode == M_REPLAY ? replay_batch(&c)
					       : purge_batch(&c);
		if (e2 != RS_OK)
			err = e2;
	}
	if (err == RS_ERR_CANCELLED && stopping(&c)) {
		fprintf(o->err, "rostersync: interrupted; what is reported "
				"below is done and recorded, the rest was not "
				"touched\n");
	} else if (err != RS_OK) {
		fprintf(o->err, "rostersync: dlq %s: %s\n",
			mode == M_REPLAY ? "replay" : "purge",
			c.errstr[0] ? c.errstr : rs_err_str(err));
	}
	if (mode == M_REPLAY)
		fprintf(o->out,
			"replay%s: %zu matched, %zu %s (%zu resent after an "
			"interrupted replay), %zu superseded, %zu already "
			"applied, %zu not replayable\n",
			o->dry_run ? " (dry run, nothing written)" : "",
			res->matched, res->replayed,
			o->dry_run ? "would be replayed" : "replayed",
			res->resent, res->superseded, res->applied,
			res->unreplayable);
	if (err == RS_OK)
		rc = RS_CLI_EXIT_OK;
out:
	fflush(o->out);
	ctx_cleanup(&c);
	return rc;
}

int rs_cli_dlq_replay(const rs_cli_dlq_io_t *io, const rs_cli_dlq_opts_t *o,
		      rs_cli_dlq_result_t *res) {
	return act(io, o, res, M_REPLAY);
}

int rs_cli_dlq_purge(const rs_cli_dlq_io_t *io, const rs_cli_dlq_opts_t *o,
		     rs_cli_dlq_result_t *res) {
	int rc = act(io, o, res, M_PURGE);

	if (rc != RS_CLI_EXIT_OK)
		return rc;
	if (o->dry_run) {
		fprintf(o->out, "purge (dry run): %zu entries would be purged\n",
			res->purged);
		return RS_CLI_EXIT_OK;
	}
	if (!o->yes) {
		fprintf(o->err,
			"rostersync: dlq purge: %zu entries would be purged; "
			"nothing done: add --yes to purge them\n",
			res->purged);
		return RS_CLI_EXIT_USAGE;
	}
	fprintf(o->out, "purged %zu entries\n", res->purged);
	return RS_CLI_EXIT_OK;
}
