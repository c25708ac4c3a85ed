/*
 * rs_test.c - shared integration-test helpers.
 */
#include "rs/rs_base.h"
#include "rs_test.h"

#include <ftw.h>
#include <unistd.h>

/* Test processes are single-purpose; this bookkeeping lives only here. */
static int passed;
static char current[256];

void rs_test_fail(const char *file, int line, const char *expr, const char *fmt,
		  ...) {
	va_list ap;
	fprintf(stderr, "\nFAIL %s%s%s at %s:%d: %s: ", current[0] ? "[" : "",
		current, current[0] ? "] " : "", file, line, expr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	printf("%d passed, 1 failed\n", passed);
	fflush(stdout);
	exit(1);
}

void rs_test_sub(const char *fmt, ...) {
	va_list ap;
	if (current[0]) {
		passed++;
		printf("  PASS %s\n", current);
	}
	va_start(ap, fmt);
	vsnprintf(current, sizeof(current), fmt, ap);
	va_end(ap);
	printf("SUB_TEST %s\n", current);
	fflush(stdout);
}

void rs_test_say(const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	printf("    ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	fflush(stdout);
}

int rs_test_timeout_mult(void) {
	const char *s = getenv("RS_TEST_TIMEOUT_MULT");
	int m = s ? (int)strtol(s, NULL, 10) : 1;
	return m > 0 ? m : 1;
}

int64_t rs_test_timeout_ms(int64_t ms) {
	return ms * rs_test_timeout_mult();
}

const char *rs_test_env_required(const char *name) {
	const char *v = getenv(name);
	if (!v || !*v)
		rs_test_fail(__FILE__, __LINE__, name,
			     "required environment variable %s is not set",
			     name);
	return v;
}

const char *rs_test_kafka_brokers(void) {
	/* A kafka-label test that finds no broker fails; it never skips. */
	return rs_test_env_required("RS_KAFKA_BROKERS");
}

void rs_test_unique_name(const char *prefix, char *buf, size_t size) {
	snprintf(buf, size, "%s-%d-%lld", prefix, (int)getpid(),
		 (long long)rs_wall_ms());
}

void rs_test_mkdtemp(char *buf, size_t size) {
	const char *tmp = getenv("TMPDIR");
	snprintf(buf, size, "%s/rs-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(buf))
		rs_test_fail(__FILE__, __LINE__, "mkdtemp", "cannot create %s",
			     buf);
}

static int rm_one(const char *path, const struct stat *sb, int flag,
		  struct FTW *ftw) {
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void rs_test_rmtree(const char *path) {
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int rs_test_finish(void) {
	if (current[0]) {
		passed++;
		printf("  PASS %s\n", current);
		current[0] = '\0';
	}
	printf("%d passed, 0 failed\n", passed);
	fflush(stdout);
	return 0;
}
