/*
 * sim_util.c - containers and helpers shared by every simulator module:
 * string map, id set, pointer vector, deterministic PRNG, GUIDs, glob and
 * the query-string / form decoder.
 */
#include "rs/rs_base.h"

#include "sim_int.h"

#include <ctype.h>
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>
#include <sys/random.h>

/* ---- string map ---------------------------------------------------- */

/* A deleted slot keeps a distinct marker so probe chains stay intact. */
static char sim_map_tomb_marker;
#define TOMB (&sim_map_tomb_marker)

static uint64_t hash_str(const char *s) {
	/* FNV-1a: fast, good enough for GUID-like and e-mail keys. */
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

void sim_map_init(sim_map_t *m) {
	memset(m, 0, sizeof(*m));
}

void sim_map_cleanup(sim_map_t *m, void (*free_val)(void *)) {
	size_t i;
	for (i = 0; i < m->cap; i++) {
		if (m->keys[i] && m->keys[i] != TOMB) {
			if (free_val)
				free_val(m->vals[i]);
			rs_free(m->keys[i]);
		}
	}
	rs_free(m->keys);
	rs_free(m->vals);
	memset(m, 0, sizeof(*m));
}

static size_t map_find(const sim_map_t *m, const char *key, bool *found) {
	size_t mask = m->cap - 1, i = (size_t)hash_str(key) & mask;
	size_t first_tomb = (size_t)-1;

	for (;;) {
		char *k = m->keys[i];
		if (!k) {
			*found = false;
			return first_tomb != (size_t)-1 ? first_tomb : i;
		}
		if (k == TOMB) {
			if (first_tomb == (size_t)-1)
				first_tomb = i;
		} else if (!strcmp(k, key)) {
			*found = true;
			return i;
		}
		i = (i + 1) & mask;
	}
}

static void map_grow(sim_map_t *m) {
	sim_map_t n;
	size_t i;

	sim_map_init(&n);
	n.cap = m->cap ? m->cap * 2 : 16;
	/* Rehash in place of growth when tombstones dominate. */
	if (m->cap && m->count * 2 < m->cap)
		n.cap = m->cap;
	n.keys = rs_calloc(n.cap, sizeof(*n.keys));
	n.vals = rs_calloc(n.cap, sizeof(*n.vals));
	for (i = 0; i < m->cap; i++) {
		bool found;
		size_t j;
		if (!m->keys[i] || m->keys[i] == TOMB)
			continue;
		j = map_find(&n, m->keys[i], &found);
		n.keys[j] = m->keys[i];
		n.vals[j] = m->vals[i];
		n.count++;
	}
	rs_free(m->keys);
	rs_free(m->vals);
	*m = n;
}

void *sim_map_get(const sim_map_t *m, const char *key) {
	bool found;
	size_t i;
	if (!m->count)
		return NULL;
	i = map_find(m, key, &found);
	return found ? m->vals[i] : NULL;
}

/*
 * Open addressing keeps a lookup to one or two cache lines at 100k keys;
 * growth happens before the table is 70 % full counting tombstones, so
 * probe chains stay short even with heavy churn.
 */
void *sim_map_put(sim_map_t *m, const char *key, void *val) {
	bool found;
	size_t i;
	void *old;

	/* Keep the load (live + tombstones) under 70 %. */
	if ((m->count + m->tombs + 1) * 10 >= m->cap * 7)
		map_grow(m);
	i = map_find(m, key, &found);
	if (found) {
		old = m->vals[i];
		m->vals[i] = val;
		return old;
	}
	if (m->keys[i] == TOMB)
		m->tombs--;
	m->keys[i] = rs_strdup(key);
	m->vals[i] = val;
	m->count++;
	return NULL;
}

void *sim_map_del(sim_map_t *m, const char *key) {
	bool found;
	size_t i;
	void *old;
	if (!m->count)
		return NULL;
	i = map_find(m, key, &found);
	if (!found)
		return NULL;
	old = m->vals[i];
	rs_free(m->keys[i]);
	m->keys[i] = TOMB;
	m->vals[i] = NULL;
	m->count--;
	m->tombs++;
	return old;
}

bool sim_map_next(const sim_map_t *m, size_t *pos, const char **key,
		  void **val) {
	while (*pos < m->cap) {
		size_t i = (*pos)++;
		if (m->keys[i] && m->keys[i] != TOMB) {
			if (key)
				*key = m->keys[i];
			if (val)
				*val = m->vals[i];
			return true;
		}
	}
	return false;
}

/* ---- id set -------------------------------------------------------- */

void sim_idset_init(sim_idset_t *s) {
	memset(s, 0, sizeof(*s));
	sim_map_init(&s->idx);
}

void sim_idset_cleanup(sim_idset_t *s) {
	size_t i;
	for (i = 0; i < s->n; i++)
		rs_free(s->items[i]);
	rs_free(s->items);
	sim_map_cleanup(&s->idx, NULL);
	memset(s, 0, sizeof(*s));
}

bool sim_idset_has(const sim_idset_t *s, const char *id) {
	return sim_map_get(&s->idx, id) != NULL;
}

bool sim_idset_add(sim_idset_t *s, const char *id) {
	if (sim_idset_has(s, id))
		return false;
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 4;
		s->items = rs_realloc(s->items, s->cap * sizeof(*s->items));
	}
	s->items[s->n] = rs_strdup(id);
	s->n++;
	sim_map_put(&s->idx, id, (void *)(uintptr_t)s->n);
	return true;
}

/*
 * O(1) removal: the last item moves into the hole.  The order of a set
 * is therefore not stable; listings that page use sim_idset_sorted().
 */
bool sim_idset_del(sim_idset_t *s, const char *id) {
	uintptr_t pos = (uintptr_t)sim_map_del(&s->idx, id);
	size_t i;
	if (!pos)
		return false;
	i = (size_t)pos - 1;
	rs_free(s->items[i]);
	s->n--;
	if (i != s->n) {
		/* Move the last item into the hole and fix its index. */
		s->items[i] = s->items[s->n];
		sim_map_put(&s->idx, s->items[i], (void *)(uintptr_t)(i + 1));
	}
	return true;
}

static int cmp_strp(const void *a, const void *b) {
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

const char **sim_idset_sorted(const sim_idset_t *s) {
	const char **v = rs_malloc((s->n ? s->n : 1) * sizeof(*v));
	size_t i;
	for (i = 0; i < s->n; i++)
		v[i] = s->items[i];
	qsort(v, s->n, sizeof(*v), cmp_strp);
	return v;
}

/* ---- vector -------------------------------------------------------- */

void sim_vec_push(sim_vec_t *vec, void *p) {
	if (vec->n == vec->cap) {
		vec->cap = vec->cap ? vec->cap * 2 : 16;
		vec->v = rs_realloc(vec->v, vec->cap * sizeof(*vec->v));
	}
	vec->v[vec->n++] = p;
}

bool sim_vec_remove(sim_vec_t *vec, void *p) {
	size_t i;
	for (i = 0; i < vec->n; i++) {
		if (vec->v[i] == p) {
			memmove(&vec->v[i], &vec->v[i + 1],
				(vec->n - i - 1) * sizeof(*vec->v));
			vec->n--;
			return true;
		}
	}
	return false;
}

void sim_vec_cleanup(sim_vec_t *vec) {
	rs_free(vec->v);
	memset(vec, 0, sizeof(*vec));
}

/* ---- PRNG ---------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *x) {
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void sim_rng_seed(sim_rng_t *r, uint64_t seed) {
	int i;
	for (i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k) {
	return (x << k) | (x >> (64 - k));
}

/*
 * xoshiro256**: fast, good statistics and, above all, the same sequence
 * on every platform, which deterministic datasets depend on.
 */
uint64_t sim_rng_next(sim_rng_t *r) {
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

int64_t sim_rng_range(sim_rng_t *r, int64_t lo, int64_t hi) {
	uint64_t span;
	if (hi <= lo)
		return lo;
	span = (uint64_t)(hi - lo) + 1;
	return lo + (int64_t)(sim_rng_next(r) % span);
}

double sim_rng_double(sim_rng_t *r) {
	return (double)(sim_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

static void fmt_guid(const unsigned char b[16], char out[37]) {
	static const char hex[] = "0123456789abcdef";
	int i, o = 0;
	for (i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[b[i] >> 4];
		out[o++] = hex[b[i] & 15];
	}
	out[o] = '\0';
}

void sim_rng_guid(sim_rng_t *r, char out[37]) {
	unsigned char b[16];
	uint64_t a = sim_rng_next(r), c = sim_rng_next(r);
	memcpy(b, &a, 8);
	memcpy(b + 8, &c, 8);
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	fmt_guid(b, out);
}

void sim_guid_random(char out[37]) {
	/* Per-thread PRNG seeded from getrandom(): request ids are hot, and a
	 * syscall per id would cost more than the rest of a small GET. */
	static __thread sim_rng_t rng;
	static __thread bool seeded;
	if (!seeded) {
		uint64_t seed = (uint64_t)rs_now_us() ^ (uint64_t)pthread_self();
		uint64_t tmp;
		if (getrandom(&tmp, sizeof(tmp), 0) == (ssize_t)sizeof(tmp))
			seed ^= tmp;
		sim_rng_seed(&rng, seed);
		seeded = true;
	}
	sim_rng_guid(&rng, out);
}

/* ---- strings ------------------------------------------------------- */

char *sim_strlower(const char *s) {
	char *p = rs_strdup(s ? s : "");
	char *c;
	for (c = p; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	return p;
}

bool sim_glob(const char *pat, const char *s) {
	/* Iterative matcher with single-star backtracking: linear enough for
	 * short fault patterns and immune to pathological recursion. */
	const char *star = NULL, *ss = NULL;
	while (*s) {
		if (*pat == '*') {
			star = pat++;
			ss = s;
		} else if (*pat == '?' || *pat == *s) {
			pat++;
			s++;
		} else if (star) {
			pat = star + 1;
			s = ++ss;
		} else {
			return false;
		}
	}
	while (*pat == '*')
		pat++;
	return *pat == '\0';
}

/* ---- query / form decoding ----------------------------------------- */

static int hexval(int c) {
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes [s, s+len) into a new string; returns NULL on a bad escape. */
static char *url_decode(const char *s, size_t len) {
	char *out = rs_malloc(len + 1);
	size_t i, o = 0;
	for (i = 0; i < len; i++) {
		if (s[i] == '+') {
			out[o++] = ' ';
		} else if (s[i] == '%') {
			int h, l;
			if (i + 2 >= len) {
				rs_free(out);
				return NULL;
			}
			h = hexval((unsigned char)s[i + 1]);
			l = hexval((unsigned char)s[i + 2]);
			if (h < 0 || l < 0) {
				rs_free(out);
				return NULL;
			}
			out[o++] = (char)(h * 16 + l);
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	return out;
}

/*
 * Form/query decoding for token bodies and $batch sub-request URLs (MHD
 * decodes wire query strings itself).  Untrusted: bounded in pairs and
 * bytes, rejects malformed %-escapes instead of guessing (fuzz_sim_query).
 */
rs_err_t sim_kv_parse(sim_kv_t *kv, const char *s, size_t len) {
	size_t i = 0;

	memset(kv, 0, sizeof(*kv));
	if (len > SIM_KV_MAXLEN)
		return RS_ERR_TOO_LARGE;
	while (i < len) {
		size_t start = i, eq = (size_t)-1, end;
		char *name, *value;
		while (i < len && s[i] != '&') {
			if (s[i] == '=' && eq == (size_t)-1)
				eq = i;
			i++;
		}
		end = i;
		i++; /* skip '&' */
		if (end == start)
			continue; /* "a=1&&b=2" */
		if (kv->n == SIM_KV_MAX)
			return RS_ERR_TOO_LARGE;
		if (eq == (size_t)-1) {
			name = url_decode(s + start, end - start);
			value = rs_strdup("");
		} else {
			name = url_decode(s + start, eq - start);
			value = url_decode(s + eq + 1, end - eq - 1);
		}
		if (!name || !value) {
			rs_free(name);
			rs_free(value);
			return RS_ERR_PARSE;
		}
		kv->name[kv->n] = name;
		kv->value[kv->n] = value;
		kv->n++;
	}
	return RS_OK;
}

void sim_kv_cleanup(sim_kv_t *kv) {
	int i;
	for (i = 0; i < kv->n; i++) {
		rs_free(kv->name[i]);
		/* Form bodies carry secrets (client_secret, client_assertion). */
		if (kv->value[i])
			rs_wipe(kv->value[i], strlen(kv->value[i]));
		rs_free(kv->value[i]);
	}
	kv->n = 0;
}

const char *sim_kv_get(const sim_kv_t *kv, const char *name) {
	int i;
	for (i = 0; i < kv->n; i++)
		if (!strcmp(kv->name[i], name))
			return kv->value[i];
	return NULL;
}

int sim_kv_count(const sim_kv_t *kv, const char *name) {
	int i, c = 0;
	for (i = 0; i < kv->n; i++)
		if (!strcmp(kv->name[i], name))
			c++;
	return c;
}
