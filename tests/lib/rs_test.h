/*
 * rs_test.h - helpers shared by integration tests (tests/integration/NNNN-*.c).
 *
 * Fail-fast asserts that name file and line, SUB_TEST names, timeouts scaled
 * by RS_TEST_TIMEOUT_MULT under sanitizers/valgrind, and the closing
 * "N passed, N failed" line (librdkafka tests/0nnn style).
 * Exit codes: 0 pass, 77 skip (only where a test truly cannot apply; a
 * missing broker is a FAILURE, never a skip), anything else fails.
 */
#ifndef RS_TEST_H
#define RS_TEST_H

#include "rs/rs_base.h"

/** Fails the whole test at once, naming the location and the reason. */
#define TEST_ASSERT(cond, ...)                                                 \
	do {                                                                   \
		if (!(cond))                                                   \
			rs_test_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);  \
	} while (0)

#define TEST_FAIL(...) rs_test_fail(__FILE__, __LINE__, "TEST_FAIL", __VA_ARGS__)

/** Starts a named sub-test; the previous one (if any) counts as passed. */
#define SUB_TEST(...) rs_test_sub(__VA_ARGS__)

RS_NORETURN void rs_test_fail(const char *file, int line, const char *expr,
			      const char *fmt, ...) RS_PRINTF(4, 5);
void rs_test_sub(const char *fmt, ...) RS_PRINTF(1, 2);
void rs_test_say(const char *fmt, ...) RS_PRINTF(1, 2);

/** RS_TEST_TIMEOUT_MULT from the environment (default 1). */
int rs_test_timeout_mult(void);
/** ms scaled by the multiplier. */
int64_t rs_test_timeout_ms(int64_t ms);

/** Value of a required environment variable; fails the test if unset. */
const char *rs_test_env_required(const char *name);

/** Broker list for kafka-label tests: RS_KAFKA_BROKERS, required. */
const char *rs_test_kafka_brokers(void);

/** A unique name with the given prefix ("<prefix>-<pid>-<ms>"). */
void rs_test_unique_name(const char *prefix, char *buf, size_t size);

/** A fresh temporary directory (removed by rs_test_rmtree). */
void rs_test_mkdtemp(char *buf, size_t size);
void rs_test_rmtree(const char *path);

/** Prints "N passed, N failed" and returns the exit code. */
int rs_test_finish(void);

#endif /* RS_TEST_H */
