/*
 * rs_base.c - allocator failure, assertions, clocks and small string helpers
 * that every module uses.
 */
#include "rs/rs_base.h"

#include <errno.h>
#include <time.h>
#include <unistd.h>

void rs_abort_oom(size_t size) {
	char msg[96];
	int n = snprintf(msg, sizeof(msg), "rostersync: out of memory (%zu bytes)\n",
			 size);
	/* write(2) only: we may be deep inside a failing allocator. */
	if (n > 0 && write(STDERR_FILENO, msg, (size_t)n) < 0)
		abort();
	abort();
}

void rs_assert_fail(const char *expr, const char *file, int line) {
	fprintf(stderr, "rostersync: assertion failed: %s (%s:%d)\n", expr, file,
		line);
	abort();
}

void rs_wipe(void *p, size_t n) {
	/* A volatile pointer keeps the compiler from dropping the stores. */
	volatile unsigned char *v = p;
	while (n--)
		*v++ = 0;
}

int64_t rs_now_us(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t rs_now_ms(void) {
	return rs_now_us() / 1000;
}

int64_t rs_wall_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void rs_abstime_ms(clockid_t clk, int64_t ms, struct timespec *ts) {
	if (ms < 0)
		ms = 0;
	clock_gettime(clk, ts);
	ts->tv_sec += (time_t)(ms / 1000);
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

void rs_time_fmt(int64_t wall_ms, char *buf, size_t size) {
	time_t secs = (time_t)(wall_ms / 1000);
	struct tm tm;
	char tmp[32];

	gmtime_r(&secs, &tm);
	strftime(tmp, sizeof(tmp), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, size, "%s.%03dZ", tmp, (int)(wall_ms % 1000));
}

void rs_sleep_ms(int64_t ms) {
	struct timespec ts;
	if (ms <= 0)
		return;
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

bool rs_snprintf(char *buf, size_t size, const char *fmt, ...) {
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n >= 0 && (size_t)n < size;
}

const char *rs_strerror(int errnum, char *buf, size_t size) {
	/* GNU strerror_r may return a static string instead of filling buf. */
	return strerror_r(errnum, buf, size);
}
