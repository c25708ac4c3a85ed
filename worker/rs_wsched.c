/*
 * rs_wsched: per-key FIFO, generation supersede and retry delays (see
 * rs_wsched.h).  Keys live in a chained hash so the generation high-water
 * mark outlives the key's jobs; keys with work are also on an active list,
 * which is what selection scans.
 */
#include "rs/rs_base.h"
#include "rs_wsched.h"

#include <string.h>

#define WS_BUCKETS 4096
/* Idle keys kept for their generation mark; above this the idle ones are
 * forgotten (a later job then can't be compared with what was applied long
 * ago, but every job still runs in order within what is held). */
#define WS_MAX_KEYS 65536

typedef struct ws_key_s {
	char *key;
	int64_t applied_gen;    /**< highest generation applied, INT64_MIN */
	rs_wjob_t *head, *tail; /**< FIFO; head runs first */
	bool busy;              /**< head is running */
	struct ws_key_s *hnext; /**< hash chain */
	struct ws_key_s *anext, *aprev; /**< active list (has jobs) */
} ws_key_t;

struct rs_wsched_s {
	ws_key_t *buckets[WS_BUCKETS];
	ws_key_t *active;
	size_t key_cnt, job_cnt, running;
	uint64_t seq;
};

/* FNV-1a: keys are short ASCII "<tenant>/<guid>" strings; a simple,
 * well-spread hash is all the bucket choice needs. */
static uint32_t ws_hash(const char *s) {
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h % WS_BUCKETS;
}

/* Zeroed: empty buckets, no active keys, counters at 0. */
rs_wsched_t *rs_wsched_new(void) {
	return rs_calloc(1, sizeof(rs_wsched_t));
}

void rs_wsched_destroy(rs_wsched_t *s) {
	size_t i;
	if (!s)
		return;
	for (i = 0; i < WS_BUCKETS; i++) {
		ws_key_t *k = s->buckets[i], *n;
		for (; k; k = n) {
			n = k->hnext;
			rs_free(k->key);
			rs_free(k);
		}
	}
	rs_free(s);
}

/* Forgets idle keys with no jobs when the table is over its bound. */
static void ws_evict(rs_wsched_t *s) {
	size_t i;
	for (i = 0; i < WS_BUCKETS && s->key_cnt > WS_MAX_KEYS / 2; i++) {
		ws_key_t **pp = &s->buckets[i];
		while (*pp) {
			ws_key_t *k = *pp;
			if (!k->head && !k->busy) {
				*pp = k->hnext;
				rs_free(k->key);
				rs_free(k);
				s->key_cnt--;
			} else {
				pp = &k->hnext;
			}
		}
	}
}

/* Finds the key's entry; with @p create a missing one is added (after
 * eviction when the table is full) with no applied generation yet. */
static ws_key_t *ws_key_get(rs_wsched_t *s, const char *key, bool create) {
	uint32_t h = ws_hash(key);
	ws_key_t *k;
	for (k = s->buckets[h]; k; k = k->hnext)
		if (!strcmp(k->key, key))
			return k;
	if (!create)
		return NULL;
	if (s->key_cnt >= WS_MAX_KEYS)
		ws_evict(s);
	k = rs_calloc(1, sizeof(*k));
	k->key = rs_strdup(key);
	k->applied_gen = INT64_MIN;
	k->hnext = s->buckets[h];
	s->buckets[h] = k;
	s->key_cnt++;
	return k;
}

/* The active list holds exactly the keys with at least one job; selection
 * and deadline scans walk only these, never the idle marks. */
static void ws_active_add(rs_wsched_t *s, ws_key_t *k) {
	k->aprev = NULL;
	k->anext = s->active;
	if (s->active)
		s->active->aprev = k;
	s->active = k;
}

static void ws_active_del(rs_wsched_t *s, ws_key_t *k) {
	if (k->aprev)
		k->aprev->anext = k->anext;
	else
		s->active = k->anext;
	if (k->anext)
		k->anext->aprev = k->aprev;
	k->anext = k->aprev = NULL;
}

void rs_wsched_seed(rs_wsched_t *s, const char *key, int64_t generation) {
	ws_key_t *k = ws_key_get(s, key, true);
	if (generation > k->applied_gen)
		k->applied_gen = generation;
}

size_t rs_wsched_push(rs_wsched_t *s, rs_wjob_t *job, rs_wjob_t **superseded,
		      size_t sup_max) {
	ws_key_t *k = ws_key_get(s, job->key, true);
	rs_wjob_t **pp, *j;
	int64_t max_wait = INT64_MIN;
	size_t n = 0;
	bool was_active;

	/* seq orders jobs across keys (arrival = offset order within a
	 * partition) when their not_before ties, typically both 0. */
	job->seq = ++s->seq;
	job->next = NULL;
	for (j = k->head; j; j = j->next)
		if (j->generation > max_wait)
			max_wait = j->generation;
	/* Older than what was applied or is already queued: never stale
	 * (ARCHITECTURE.md guarantee 3). */
	if (job->generation < k->applied_gen || job->generation < max_wait) {
		if (sup_max > 0)
			superseded[n++] = job;
		return n;
	}
	was_active = k->head != NULL;
	/* Drop older waiting jobs; the running head (busy) must finish. */
	pp = k->busy && k->head ? &k->head->next : &k->head;
	while (*pp) {
		j = *pp;
		if (j->generation < job->generation && n < sup_max) {
			*pp = j->next;
			j->next = NULL;
			superseded[n++] = j;
			s->job_cnt--;
		} else {
			pp = &j->next;
		}
	}
	/* The purge may have removed the tail: find it again (FIFOs are
	 * short, a key rarely has more than a couple of jobs). */
	k->tail = NULL;
	for (j = k->head; j; j = j->next)
		k->tail = j;
	/* A key whose every job was just superseded leaves the active list
	 * before it rejoins it with the new job (no double entry). */
	if (!k->head && was_active)
		ws_active_del(s, k);
	if (!k->head) {
		ws_active_add(s, k);
		k->head = job;
	} else {
		k->tail->next = job;
	}
	k->tail = job;
	s->job_cnt++;
	return n;
}

rs_wjob_t *rs_wsched_next(rs_wsched_t *s, int64_t now,
			  rs_wsched_can_run_cb_t *can_run, void *opaque) {
	ws_key_t *k, *best = NULL;
	int best_load = 0;
	for (k = s->active; k; k = k->anext) {
		rs_wjob_t *h = k->head;
		int load;
		if (k->busy || h->not_before > now)
			continue;
		load = h->load ? *h->load : 0;
		if (!best || load < best_load ||
		    (load == best_load &&
		     (h->not_before < best->head->not_before ||
		      (h->not_before == best->head->not_before &&
		       h->seq < best->head->seq)))) {
			/* Asked only for a candidate that would win: a
			 * saturated tenant is skipped, the others go on. */
			if (can_run && !can_run(h, opaque))
				continue;
			best = k;
			best_load = load;
		}
	}
	if (!best)
		return NULL;
	best->busy = true;
	s->running++;
	return best->head;
}

/* Busy keys are skipped: their head is running, and what waits behind it
 * can't start before it finishes, whatever its not_before. */
int64_t rs_wsched_next_deadline(rs_wsched_t *s) {
	ws_key_t *k;
	int64_t d = INT64_MAX;
	for (k = s->active; k; k = k->anext)
		if (!k->busy && k->head->not_before < d)
			d = k->head->not_before;
	return d;
}

int64_t rs_wsched_wait_ms(rs_wsched_t *s, int64_t now, int64_t cap_ms) {
	int64_t d = rs_wsched_next_deadline(s);
	if (cap_ms < 1)
		cap_ms = 1;
	if (d <= now || d - now > cap_ms)
		return cap_ms;
	return d - now;
}

void rs_wsched_finish(rs_wsched_t *s, rs_wjob_t *job, bool applied) {
	ws_key_t *k = ws_key_get(s, job->key, false);
	rs_assert(k && k->busy && k->head == job);
	k->busy = false;
	s->running--;
	s->job_cnt--;
	/* Only an applied job raises the mark: a dead-lettered one must not
	 * make its own replay (same generation) look stale. */
	if (applied && job->generation > k->applied_gen)
		k->applied_gen = job->generation;
	k->head = job->next;
	job->next = NULL;
	if (!k->head) {
		k->tail = NULL;
		ws_active_del(s, k);
	}
}

void rs_wsched_retry(rs_wsched_t *s, rs_wjob_t *job, int64_t not_before) {
	ws_key_t *k = ws_key_get(s, job->key, false);
	rs_assert(k && k->busy && k->head == job);
	/* The job stays the head, so later jobs of the key keep waiting
	 * behind it (order), but the key is no longer busy: it holds no
	 * thread, and a newer generation pushed while it waits supersedes
	 * it like any waiting job (a throttled old plan is not retried once
	 * a newer one exists). */
	k->busy = false;
	s->running--;
	job->not_before = not_before;
}

size_t rs_wsched_remove_if(rs_wsched_t *s, bool (*match)(rs_wjob_t *, void *),
			   void *opaque, rs_wjob_t **out, size_t out_max) {
	ws_key_t *k, *kn;
	size_t n = 0;
	for (k = s->active; k; k = kn) {
		/* A running head is the caller's to finish: skip it. */
		rs_wjob_t **pp = k->busy ? &k->head->next : &k->head, *j;
		kn = k->anext;
		while (*pp && n < out_max) {
			j = *pp;
			if (match(j, opaque)) {
				*pp = j->next;
				j->next = NULL;
				out[n++] = j;
				s->job_cnt--;
			} else {
				pp = &j->next;
			}
		}
		k->tail = NULL;
		for (j = k->head; j; j = j->next)
			k->tail = j;
		if (!k->head)
			ws_active_del(s, k);
	}
	return n;
}

size_t rs_wsched_cnt(const rs_wsched_t *s) {
	return s->job_cnt;
}

size_t rs_wsched_running(const rs_wsched_t *s) {
	return s->running;
}
