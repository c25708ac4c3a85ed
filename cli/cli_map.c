/*
 * cli_map.c - a string-keyed hash map with linear probing.
 *
 * The DLQ tool keeps one small record per DLQ-state entry and per applied
 * key; both topics are compacted, so the key count is what matters, and
 * it is bounded at creation (STYLE.md 9).  Nothing is ever removed, so
 * linear probing needs no tombstones.
 */
#include "rs/rs_base.h"
#include "rs_cli_dlq.h"

typedef struct {
	char *key; /* NULL = empty slot */
	void *value;
	uint64_t hash;
} slot_t;

struct rs_cli_map_s {
	slot_t *slots;
	size_t cap; /* power of two */
	size_t cnt;
	size_t max;
};

/* FNV-1a: short keys ("3-1234", "t1/<guid>"), speed over strength; the
 * keys come from our own topics. */
static uint64_t hash_str(const char *s) {
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

rs_cli_map_t *rs_cli_map_new(size_t max) {
	rs_cli_map_t *m = rs_calloc(1, sizeof(*m));

	m->cap = 64;
	m->max = max;
	m->slots = rs_calloc(m->cap, sizeof(*m->slots));
	return m;
}

void rs_cli_map_destroy(rs_cli_map_t *m) {
	if (!m)
		return;
	for (size_t i = 0; i < m->cap; i++) {
		rs_free(m->slots[i].key);
		rs_free(m->slots[i].value);
	}
	rs_free(m->slots);
	rs_free(m);
}

static slot_t *find(slot_t *slots, size_t cap, const char *key,
		    uint64_t h) {
	size_t i = (size_t)h & (cap - 1);

	while (slots[i].key &&
	       (slots[i].hash != h || strcmp(slots[i].key, key)))
		i = (i + 1) & (cap - 1);
	return &slots[i];
}

void *rs_cli_map_get(const rs_cli_map_t *m, const char *key) {
	return find(m->slots, m->cap, key, hash_str(key))->value;
}

/* Doubles the table: load stays below 1/2 so probes stay short. */
static void grow(rs_cli_map_t *m) {
	size_t cap = m->cap * 2;
	slot_t *slots = rs_calloc(cap, sizeof(*slots));

	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].key)
			*find(slots, cap, m->slots[i].key, m->slots[i].hash) =
				m->slots[i];
	rs_free(m->slots);
	m->slots = slots;
	m->cap = cap;
}

rs_err_t rs_cli_map_put(rs_cli_map_t *m, const char *key, void *value) {
	uint64_t h = hash_str(key);
	slot_t *s = find(m->slots, m->cap, key, h);

	if (s->key) {
		rs_free(s->value);
		s->value = value;
		return RS_OK;
	}
	if (m->cnt >= m->max) {
		rs_free(value);
		return RS_ERR_TOO_LARGE;
	}
	if ((m->cnt + 1) * 2 > m->cap) {
		grow(m);
		s = find(m->slots, m->cap, key, h);
	}
	s->key = rs_strdup(key);
	s->value = value;
	s->hash = h;
	m->cnt++;
	return RS_OK;
}

size_t rs_cli_map_count(const rs_cli_map_t *m) {
	return m->cnt;
}
