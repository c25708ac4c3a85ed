/*
 * rs_queue.c - the back-end independent half of the queue module.
 *
 * Dispatches the public API to the back-end vtable and implements what every
 * back-end must share so that they all keep the same contract
 * (docs/internals/queue.md):
 *   - the per-partition offset tracker (finished set, lowest unfinished
 *     offset), which makes out-of-order processing safe;
 *   - the registry of assigned partitions, reference counted so a message
 *     that outlives its partition's revocation can still be finished;
 *   - in-flight accounting and the app-side paused set.
 */
#include "rs/rs_base.h"
#include "rs/rs_queue.h"
#include "rs/rs_log.h"
#include "rs_queue_int.h"

#include <sys/types.h>

/* ---------------------------------------------------------------------- */
/* Offset tracker                                                         */

/* Ring slot of the i-th entry (0 = oldest). */
static size_t trk_slot(const rs_qtrack_t *t, size_t i) {
	return (t->head + i) & (t->cap - 1);
}

/* The ring starts empty and grows by doubling up to the window bound, so an
 * idle partition costs no memory beyond the struct. */
void rs_qtrack_init(rs_qtrack_t *t, size_t max) {
	memset(t, 0, sizeof(*t));
	t->max = max ? max : RS_QUEUE_DEFAULT_MAX_WINDOW;
	t->last = -1;
}

void rs_qtrack_cleanup(rs_qtrack_t *t) {
	rs_free(t->offs);
	rs_free(t->state);
	memset(t, 0, sizeof(*t));
	t->last = -1;
}

/* Doubles the ring, unrolling it so the oldest entry lands in slot 0. */
static void trk_grow(rs_qtrack_t *t) {
	size_t ncap = t->cap ? t->cap * 2 : 64;
	int64_t *noffs = rs_malloc(ncap * sizeof(*noffs));
	uint8_t *nstate = rs_malloc(ncap);
	size_t i;

	for (i = 0; i < t->cnt; i++) {
		size_t s = trk_slot(t, i);
		noffs[i] = t->offs[s];
		nstate[i] = t->state[s];
	}
	rs_free(t->offs);
	rs_free(t->state);
	t->offs = noffs;
	t->state = nstate;
	t->cap = ncap;
	t->head = 0;
}

rs_err_t rs_qtrack_add(rs_qtrack_t *t, int64_t offset) {
	/* Within one assignment a partition is delivered in offset order, so
	 * anything not above the newest offset is a redelivery (librdkafka
	 * seek/resume quirks): it is either still being processed or already
	 * finished, and processing it again would only duplicate work. */
	if (offset <= t->last)
		return RS_ERR_EXISTS;
	if (t->cnt >= t->max)
		return RS_ERR_TOO_LARGE;
	if (t->cnt == t->cap)
		trk_grow(t);
	t->offs[trk_slot(t, t->cnt)] = offset;
	t->state[trk_slot(t, t->cnt)] = RS_QTRACK_PENDING;
	t->cnt++;
	t->outstanding++;
	t->last = offset;
	return RS_OK;
}

/* Binary search: the ring is ascending from head.  Returns the entry index
 * (0 = oldest) or -1. */
static ssize_t trk_find(const rs_qtrack_t *t, int64_t offset) {
	size_t lo = 0, hi = t->cnt;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int64_t o = t->offs[trk_slot(t, mid)];
		if (o == offset)
			return (ssize_t)mid;
		if (o < offset)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static rs_err_t trk_finish(rs_qtrack_t *t, int64_t offset, uint8_t how) {
	ssize_t i = trk_find(t, offset);
	size_t s;

	if (i < 0)
		return RS_ERR_NOT_FOUND;
	s = trk_slot(t, (size_t)i);
	if (t->state[s] != RS_QTRACK_PENDING)
		return RS_ERR_NOT_FOUND;
	t->state[s] = how;
	t->outstanding--;
	/* Pop the finished prefix: what remains starts at the lowest
	 * unfinished offset, which is the position to commit.  Released
	 * entries are unfinished on purpose and stop the pop. */
	while (t->cnt > 0 && t->state[t->head] == RS_QTRACK_DONE) {
		t->head = (t->head + 1) & (t->cap - 1);
		t->cnt--;
	}
	return RS_OK;
}

rs_err_t rs_qtrack_done(rs_qtrack_t *t, int64_t offset) {
	return trk_finish(t, offset, RS_QTRACK_DONE);
}

rs_err_t rs_qtrack_release(rs_qtrack_t *t, int64_t offset) {
	return trk_finish(t, offset, RS_QTRACK_RELEASED);
}

int64_t rs_qtrack_position(const rs_qtrack_t *t) {
	if (t->cnt > 0)
		return t->offs[t->head];
	return t->last >= 0 ? t->last + 1 : -1;
}

/* ---------------------------------------------------------------------- */
/* Partition registry                                                     */

/* A linear scan: a member holds tens of partitions at most, and the poll
 * thread looks up one per message under the lock. */
rs_qpart_t *rs_queue_part_find(rs_queue_t *q, const char *topic,
			       int32_t partition) {
	rs_qpart_t *p;

	for (p = q->parts; p; p = p->next)
		if (p->partition == partition && !strcmp(p->topic, topic))
			return p;
	return NULL;
}

/* Called on assign.  Re-assigning a partition that is still listed keeps
 * its tracker (cannot happen with cooperative-sticky, which revokes first,
 * but must not leak if a back-end assigns twice). */
rs_qpart_t *rs_queue_part_add(rs_queue_t *q, const char *topic,
			      int32_t partition) {
	rs_qpart_t *p = rs_queue_part_find(q, topic, partition);

	if (p)
		return p;
	p = rs_calloc(1, sizeof(*p));
	p->topic = rs_strdup(topic);
	p->partition = partition;
	rs_qtrack_init(&p->track, q->max_window);
	p->stored = -1;
	p->refcnt = 1;
	p->next = q->parts;
	q->parts = p;
	q->part_cnt++;
	return p;
}

static void part_unref(rs_qpart_t *p) {
	rs_assert(p->refcnt > 0);
	if (--p->refcnt > 0)
		return;
	rs_qtrack_cleanup(&p->track);
	rs_free(p->topic);
	rs_free(p);
}

void rs_queue_part_remove(rs_queue_t *q, rs_qpart_t *part) {
	rs_qpart_t **pp;

	for (pp = &q->parts; *pp; pp = &(*pp)->next) {
		if (*pp == part) {
			*pp = part->next;
			part->next = NULL;
			q->part_cnt--;
			break;
		}
	}
	part->revoked = true;
	part->paused = false;
	part_unref(part);
}

/* Stores only forward moves: the position never goes back within an
 * assignment, and skipping equal positions saves a librdkafka call per
 * done message whose predecessor is still running. */
rs_err_t rs_queue_part_store(rs_queue_t *q, rs_qpart_t *part) {
	int64_t pos = rs_qtrack_position(&part->track);
	rs_err_t err;

	if (part->revoked || pos < 0 || pos <= part->stored)
		return RS_OK;
	err = q->be->store(q, part, pos);
	if (err == RS_OK) {
		part->stored = pos;
		atomic_fetch_add(&q->n_stored, 1);
	}
	return err;
}

rs_err_t rs_queue_msg_accept(rs_queue_t *q, rs_qpart_t *part, rs_qmsg_t *msg) {
	rs_err_t err = rs_qtrack_add(&part->track, msg->offset);

	if (err == RS_ERR_EXISTS) {
		atomic_fetch_add(&q->n_redelivered, 1);
		return err;
	}
	if (err != RS_OK)
		return err;
	/* The message holds a reference so it can be finished after its
	 * partition was revoked (the entry is then freed by the last one). */
	part->refcnt++;
	msg->part = part;
	q->inflight++;
	atomic_fetch_add(&q->n_consumed, 1);
	return RS_OK;
}

rs_err_t rs_queue_apply_pause(rs_queue_t *q) {
	bool want = q->app_paused || q->limit_paused || q->closing;
	rs_qpart_t *p, **list;
	size_t cnt = 0;
	rs_err_t err = RS_OK;

	if (!q->part_cnt)
		return RS_OK;
	list = rs_malloc(q->part_cnt * sizeof(*list));
	/* Only partitions whose state differs: resume touches exactly the set
	 * this module paused (librdkafka 2.0.2 #4636: resuming a partition
	 * that is not paused can rewind it). */
	for (p = q->parts; p; p = p->next)
		if (p->paused != want)
			list[cnt++] = p;
	if (cnt)
		err = q->be->pause_parts(q, list, cnt, want);
	if (err == RS_OK) {
		size_t i;
		for (i = 0; i < cnt; i++)
			list[i]->paused = want;
	}
	rs_free(list);
	return err;
}

/* ---------------------------------------------------------------------- */
/* Public API                                                             */

void rs_queue_conf_init(rs_queue_conf_t *conf) {
	memset(conf, 0, sizeof(*conf));
	conf->backend = "kafka";
}

/* The back-end table: Kafka stays the default of rs_queue_conf_init(). */
static const rs_queue_backend_t *backend_find(const char *name) {
	if (!name || !*name || !strcmp(name, "kafka"))
		return &rs_queue_backend_kafka;
	if (!strcmp(name, "sqlite"))
		return &rs_queue_backend_sqlite;
	return NULL;
}

/* The generic part is filled before the back-end's init, because the
 * back-end's callbacks (rebalance, delivery) may fire as soon as its
 * handles exist. */
rs_queue_t *rs_queue_new(const rs_queue_conf_t *conf, char *errstr,
			 size_t errstr_size) {
	const rs_queue_backend_t *be = backend_find(conf->backend);
	rs_queue_t *q;

	if (!be) {
		rs_snprintf(errstr, errstr_size, "unknown queue backend \"%s\"",
			    conf->backend);
		return NULL;
	}
	q = rs_calloc(1, sizeof(*q));
	q->be = be;
	q->roles = conf->roles;
	if (!q->roles)
		q->roles = RS_QUEUE_ROLE_PRODUCER |
			   (conf->group_id ? RS_QUEUE_ROLE_CONSUMER : 0);
	q->max_inflight = conf->max_inflight ? conf->max_inflight
					     : RS_QUEUE_DEFAULT_MAX_INFLIGHT;
	q->max_window = conf->max_window ? conf->max_window
					 : RS_QUEUE_DEFAULT_MAX_WINDOW;
	q->revoke_drain_ms =
		conf->revoke_drain_ms > 0 ? conf->revoke_drain_ms : 10000;
	q->on_assign = conf->on_assign;
	q->on_revoke = conf->on_revoke;
	q->on_delivery = conf->on_delivery;
	q->opaque = conf->opaque;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->cond, NULL);

	if (be->init(q, conf, errstr, errstr_size) != RS_OK) {
		pthread_cond_destroy(&q->cond);
		pthread_mutex_destroy(&q->lock);
		rs_free(q);
		return NULL;
	}
	return q;
}

void rs_queue_destroy(rs_queue_t *q) {
	rs_qpart_t *p;

	if (!q)
		return;
	q->be->destroy(q);
	/* Whatever is left in the registry has no outstanding messages (the
	 * contract says all were given back), so dropping the registry's
	 * reference frees it. */
	while ((p = q->parts) != NULL)
		rs_queue_part_remove(q, p);
	pthread_cond_destroy(&q->cond);
	pthread_mutex_destroy(&q->lock);
	rs_free(q);
}

const char *rs_queue_backend_name(const rs_queue_t *q) {
	return q->be->name;
}

/* Role and header checks are back-end independent, so every back-end
 * refuses the same calls with the same codes. */
rs_err_t rs_queue_produce(rs_queue_t *q, const char *topic, const void *key,
			  size_t keylen, const void *value, size_t len,
			  const rs_queue_header_t *hdrs, size_t hdr_cnt,
			  void *msg_opaque) {
	if (!(q->roles & RS_QUEUE_ROLE_PRODUCER))
		return RS_ERR_STATE;
	if (hdr_cnt > RS_QUEUE_MAX_HEADERS)
		return RS_ERR_TOO_LARGE;
	return q->be->produce(q, topic, key, keylen, value, len, hdrs, hdr_cnt,
			      msg_opaque);
}

rs_err_t rs_queue_produce_prepare(rs_queue_t *q, const char *topic,
				  int timeout_ms) {
	if (!(q->roles & RS_QUEUE_ROLE_PRODUCER))
		return RS_ERR_STATE;
	if (!topic || !*topic)
		return RS_ERR_INVALID_ARG;
	if (!q->be->produce_prepare)
		return RS_OK;
	return q->be->produce_prepare(q, topic, timeout_ms);
}

rs_err_t rs_queue_flush(rs_queue_t *q, int timeout_ms) {
	if (!(q->roles & RS_QUEUE_ROLE_PRODUCER))
		return RS_OK;
	return q->be->flush(q, timeout_ms);
}

rs_err_t rs_queue_fatal_error(rs_queue_t *q, char *errstr, size_t errstr_size) {
	return q->be->fatal_error(q, errstr, errstr_size);
}

/* The 500 ms cap keeps every caller's loop responsive to its stop flag
 * (STYLE.md 14), whatever timeout it asks for. */
rs_err_t rs_queue_poll(rs_queue_t *q, int timeout_ms, rs_qmsg_t **msgp) {
	*msgp = NULL;
	if (!(q->roles & RS_QUEUE_ROLE_CONSUMER))
		return RS_ERR_STATE;
	if (timeout_ms > 500)
		timeout_ms = 500;
	return q->be->poll(q, timeout_ms, msgp);
}

/* Common tail of done/release. */
static void msg_finish(rs_queue_t *q, rs_qmsg_t *msg, bool done) {
	rs_qpart_t *part = msg->part;
	rs_err_t err;

	rs_assert(part);
	pthread_mutex_lock(&q->lock);
	err = done ? rs_qtrack_done(&part->track, msg->offset)
		   : rs_qtrack_release(&part->track, msg->offset);
	rs_assert(err == RS_OK); /* finishing a message twice is a bug */
	q->inflight--;
	/* A revoked partition is not stored any more: its new owner starts
	 * from what was committed at revocation. */
	if (done && !part->revoked)
		rs_queue_part_store(q, part);
	part_unref(part);
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);

	atomic_fetch_add(done ? &q->n_done : &q->n_released, 1);
	msg->part = NULL;
	q->be->msg_free(q, msg);
}

void rs_queue_msg_done(rs_queue_t *q, rs_qmsg_t *msg) {
	msg_finish(q, msg, true);
}

void rs_queue_msg_release(rs_queue_t *q, rs_qmsg_t *msg) {
	msg_finish(q, msg, false);
}

const char *rs_qmsg_topic(const rs_qmsg_t *msg) {
	return msg->topic;
}

int32_t rs_qmsg_partition(const rs_qmsg_t *msg) {
	return msg->partition;
}

int64_t rs_qmsg_offset(const rs_qmsg_t *msg) {
	return msg->offset;
}

const void *rs_qmsg_key(const rs_qmsg_t *msg, size_t *lenp) {
	if (lenp)
		*lenp = msg->keylen;
	return msg->key;
}

const void *rs_qmsg_value(const rs_qmsg_t *msg, size_t *lenp) {
	if (lenp)
		*lenp = msg->len;
	return msg->value;
}

int64_t rs_qmsg_timestamp(const rs_qmsg_t *msg) {
	return msg->timestamp;
}

size_t rs_qmsg_header_cnt(const rs_qmsg_t *msg) {
	return msg->hdr_cnt;
}

const rs_queue_header_t *rs_qmsg_header_at(const rs_qmsg_t *msg, size_t idx) {
	return idx < msg->hdr_cnt ? &msg->hdrs[idx] : NULL;
}

rs_err_t rs_qmsg_header_get(const rs_qmsg_t *msg, const char *name,
			    const void **valuep, size_t *sizep) {
	size_t i = msg->hdr_cnt;

	/* Last one wins, as rd_kafka_header_get_last(). */
	while (i-- > 0) {
		if (!strcmp(msg->hdrs[i].name, name)) {
			*valuep = msg->hdrs[i].value;
			*sizep = msg->hdrs[i].size;
			return RS_OK;
		}
	}
	return RS_ERR_NOT_FOUND;
}

rs_err_t rs_queue_commit(rs_queue_t *q) {
	if (!(q->roles & RS_QUEUE_ROLE_CONSUMER))
		return RS_ERR_STATE;
	return q->be->commit(q);
}

/* Pause is a flag plus an immediate reconcile: partitions assigned later
 * read the flag in on_assign, so they start paused too. */
rs_err_t rs_queue_pause_all(rs_queue_t *q) {
	rs_err_t err;

	pthread_mutex_lock(&q->lock);
	q->app_paused = true;
	err = rs_queue_apply_pause(q);
	pthread_mutex_unlock(&q->lock);
	return err;
}

rs_err_t rs_queue_resume_all(rs_queue_t *q) {
	rs_err_t err;

	pthread_mutex_lock(&q->lock);
	q->app_paused = false;
	err = rs_queue_apply_pause(q);
	pthread_mutex_unlock(&q->lock);
	return err;
}

bool rs_queue_paused(rs_queue_t *q) {
	bool r;

	pthread_mutex_lock(&q->lock);
	r = q->app_paused;
	pthread_mutex_unlock(&q->lock);
	return r;
}

size_t rs_queue_inflight(rs_queue_t *q) {
	size_t n;

	pthread_mutex_lock(&q->lock);
	n = q->inflight;
	pthread_mutex_unlock(&q->lock);
	return n;
}

size_t rs_queue_assignment_cnt(rs_queue_t *q) {
	size_t n;

	pthread_mutex_lock(&q->lock);
	n = q->part_cnt;
	pthread_mutex_unlock(&q->lock);
	return n;
}

rs_err_t rs_queue_close(rs_queue_t *q) {
	if (!(q->roles & RS_QUEUE_ROLE_CONSUMER))
		return RS_OK;
	return q->be->close(q);
}

/* Counters are read one by one: a consistent snapshot is not needed for
 * monitoring, and no lock is taken on the delivery-report path. */
void rs_queue_stats(rs_queue_t *q, rs_queue_stats_t *st) {
	memset(st, 0, sizeof(*st));
	st->produced = atomic_load(&q->n_produced);
	st->delivered = atomic_load(&q->n_delivered);
	st->delivery_failed = atomic_load(&q->n_delivery_failed);
	st->consumed = atomic_load(&q->n_consumed);
	st->done = atomic_load(&q->n_done);
	st->released = atomic_load(&q->n_released);
	st->redelivered_dropped = atomic_load(&q->n_redelivered);
	st->offsets_stored = atomic_load(&q->n_stored);
	st->rebalances = atomic_load(&q->n_rebalances);
	st->inflight = rs_queue_inflight(q);
}

/* The assignment is copied under the lock and the back-end asks its
 * broker or file without it, so a slow answer never holds up poll or
 * msg_done. */
rs_err_t rs_queue_lag(rs_queue_t *q, int timeout_ms, rs_queue_lag_cb_t *cb,
		      void *opaque) {
	rs_queue_lag_t *v = NULL;
	rs_err_t err = RS_OK;
	rs_qpart_t *p;
	size_t cnt = 0, i;

	if (!(q->roles & RS_QUEUE_ROLE_CONSUMER))
		return RS_ERR_STATE;
	if (!cb || !q->be->lag)
		return RS_ERR_INVALID_ARG;
	pthread_mutex_lock(&q->lock);
	if (q->part_cnt) {
		v = rs_calloc(q->part_cnt, sizeof(*v));
		for (p = q->parts; p; p = p->next) {
			v[cnt].topic = rs_strdup(p->topic);
			v[cnt].partition = p->partition;
			v[cnt].position = rs_qtrack_position(&p->track);
			v[cnt].lag = -1;
			cnt++;
		}
	}
	pthread_mutex_unlock(&q->lock);
	if (!cnt)
		goto out;
	err = q->be->lag(q, v, cnt, rs_now_ms() + RS_MAX(timeout_ms, 0));
	for (i = 0; i < cnt; i++) {
		if (v[i].lag >= 0 && v[i].position >= 0)
			cb(&v[i], opaque);
		else if (err == RS_OK)
			err = RS_ERR_TIMEOUT;
	}
out:
	for (i = 0; i < cnt; i++)
		rs_free((char *)v[i].topic);
	rs_free(v);
	return err;
}

rs_err_t rs_queue_create_topics(rs_queue_t *q, const char *const *names,
				size_t name_cnt, int partitions,
				int replication, const char *const *configs,
				size_t config_cnt, int timeout_ms, char *errstr,
				size_t errstr_size) {
	if (!name_cnt)
		return RS_OK;
	return q->be->create_topics(q, names, name_cnt, partitions,
				    replication, configs, config_cnt,
				    timeout_ms, errstr, errstr_size);
}

/* Argument checks here so both back-ends refuse the same calls alike. */
rs_err_t rs_queue_scan(rs_queue_t *q, const char *topic, int timeout_ms,
		       rs_queue_scan_cb_t *cb, void *opaque) {
	if (!topic || !*topic || !cb)
		return RS_ERR_INVALID_ARG;
	if (!q->be->scan)
		return RS_ERR_UNSUPPORTED;
	return q->be->scan(q, topic, timeout_ms > 0 ? timeout_ms : 0, cb,
			   opaque);
}
