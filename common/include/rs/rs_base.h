/*
 * rs_base.h - included first by every rostersync .c file.
 *
 * Feature macros, the allocator wrappers (which abort on OOM so callers never
 * check), attributes and rs_assert().  Modelled on curl's curl_setup.h and
 * librdkafka's rd.h.
 */
#ifndef RS_BASE_H
#define RS_BASE_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <time.h>

#define RS_VERSION_STR "0.1.0"

#if defined(__GNUC__)
#define RS_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define RS_UNUSED __attribute__((unused))
#define RS_NORETURN __attribute__((noreturn))
#define RS_WARN_UNUSED __attribute__((warn_unused_result))
#else
#define RS_PRINTF(fmt, args)
#define RS_UNUSED
#define RS_NORETURN
#define RS_WARN_UNUSED
#endif

#define RS_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define RS_MIN(a, b) ((a) < (b) ? (a) : (b))
#define RS_MAX(a, b) ((a) > (b) ? (a) : (b))

/* RS_UNITTEST makes chosen static functions reachable from unit tests. */
#ifdef RS_UNITTEST
#define RS_STATIC
#else
#define RS_STATIC static
#endif

RS_NORETURN void rs_abort_oom(size_t size);
RS_NORETURN void rs_assert_fail(const char *expr, const char *file, int line);

#define rs_assert(expr)                                                        \
	((expr) ? (void)0 : rs_assert_fail(#expr, __FILE__, __LINE__))

/* The one place allowed to call malloc/free (scripts/checksrc.sh). */
static inline void *rs_malloc(size_t size) {
	void *p = malloc(size ? size : 1); /* checksrc: allow */
	if (!p)
		rs_abort_oom(size);
	return p;
}

static inline void *rs_calloc(size_t n, size_t size) {
	void *p = calloc(n ? n : 1, size ? size : 1); /* checksrc: allow */
	if (!p)
		rs_abort_oom(n * size);
	return p;
}

static inline void *rs_realloc(void *ptr, size_t size) {
	void *p = realloc(ptr, size ? size : 1); /* checksrc: allow */
	if (!p)
		rs_abort_oom(size);
	return p;
}

static inline void rs_free(void *ptr) {
	free(ptr); /* checksrc: allow */
}

static inline char *rs_strdup(const char *s) {
	size_t len;
	char *p;
	if (!s)
		return NULL;
	len = strlen(s);
	p = rs_malloc(len + 1);
	memcpy(p, s, len + 1);
	return p;
}

static inline char *rs_strndup(const char *s, size_t n) {
	char *p;
	size_t len = strnlen(s, n);
	p = rs_malloc(len + 1);
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

/* Overwrites a secret in memory in a way the compiler cannot elide. */
void rs_wipe(void *p, size_t n);

/* Monotonic and wall clocks in milliseconds / microseconds. */
int64_t rs_now_ms(void);      /* monotonic */
int64_t rs_now_us(void);      /* monotonic */
int64_t rs_wall_ms(void);     /* CLOCK_REALTIME, ms since the epoch */

/* Fills *ts with "now + ms" on clock clk, normalized (0 <= tv_nsec < 1e9),
 * for pthread_cond_timedwait.  A negative ms counts as 0: a timedwait with
 * a negative tv_nsec fails with EINVAL without releasing its mutex. */
void rs_abstime_ms(clockid_t clk, int64_t ms, struct timespec *ts);

/* Formats ms since the epoch as RFC 3339 UTC ("2026-11-23T14:25:46.123Z"). */
void rs_time_fmt(int64_t wall_ms, char *buf, size_t size);

/* Sleeps for ms milliseconds (restarts on EINTR unless *stop becomes true). */
void rs_sleep_ms(int64_t ms);

/* Bounded snprintf that never overflows and always terminates;
 * returns true when the result fitted. */
bool rs_snprintf(char *buf, size_t size, const char *fmt, ...) RS_PRINTF(3, 4);

/* Thread-safe strerror. */
const char *rs_strerror(int errnum, char *buf, size_t size);

#endif /* RS_BASE_H */
