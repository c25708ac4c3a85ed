/*
 * test_secret.c - "env:NAME" / "file:PATH" secret references (rs_secret.h):
 * values resolved, trailing newline stripped, relative paths from the base
 * directory, and errors that name the reference but never a value.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "rs/rs_base.h"
#include "rs/rs_secret.h"

#include <unistd.h>

static void write_file(const char *path, const char *content, size_t len) {
	FILE *fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(content, 1, len, fp), len);
	fclose(fp);
}

static void test_env(void **state) {
	char buf[64], errstr[256];
	(void)state;

	setenv("RS_TEST_SECRET_X", "v4lue\n", 1);
	assert_int_equal(rs_secret_resolve("env:RS_TEST_SECRET_X", NULL, buf,
					   sizeof(buf), errstr, sizeof(errstr)),
			 RS_OK);
	assert_string_equal(buf, "v4lue");

	unsetenv("RS_TEST_SECRET_MISSING");
	assert_int_equal(rs_secret_resolve("env:RS_TEST_SECRET_MISSING", NULL,
					   buf, sizeof(buf), errstr,
					   sizeof(errstr)),
			 RS_ERR_SECRET);
	assert_non_null(strstr(errstr, "RS_TEST_SECRET_MISSING"));
	assert_non_null(strstr(errstr, "not set"));

	/* Too long for the buffer: refused, value not echoed. */
	setenv("RS_TEST_SECRET_X", "0123456789abcdef", 1);
	assert_int_equal(rs_secret_resolve("env:RS_TEST_SECRET_X", NULL, buf, 8,
					   errstr, sizeof(errstr)),
			 RS_ERR_TOO_LARGE);
	assert_null(strstr(errstr, "0123456789"));
	assert_string_equal(buf, "");
}

static void test_file(void **state) {
	char dir[] = "/tmp/rs-secret-XXXXXX";
	char path[128], buf[16], errstr[256];
	(void)state;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/pw", dir);
	write_file(path, "hunter2\r\n", 9);

	/* Relative to base_dir, CR/LF stripped. */
	assert_int_equal(rs_secret_resolve("file:pw", dir, buf, sizeof(buf),
					   errstr, sizeof(errstr)),
			 RS_OK);
	assert_string_equal(buf, "hunter2");
	/* Absolute path ignores base_dir. */
	snprintf(errstr, sizeof(errstr), "file:%s", path);
	assert_int_equal(rs_secret_resolve(errstr, "/nonexistent", buf,
					   sizeof(buf), errstr, sizeof(errstr)),
			 RS_OK);
	assert_string_equal(buf, "hunter2");

	/* A value filling the buffer exactly except for its newline fits. */
	write_file(path, "0123456789abcde\n", 16);
	assert_int_equal(rs_secret_resolve("file:pw", dir, buf, sizeof(buf),
					   errstr, sizeof(errstr)),
			 RS_OK);
	assert_string_equal(buf, "0123456789abcde");
	/* One byte more does not, and is not truncated silently. */
	write_file(path, "0123456789abcdef", 16);
	assert_int_equal(rs_secret_resolve("file:pw", dir, buf, sizeof(buf),
					   errstr, sizeof(errstr)),
			 RS_ERR_TOO_LARGE);
	assert_non_null(strstr(errstr, "file:pw"));
	assert_null(strstr(errstr, "0123456789"));
	/* A NUL inside would cut the secret short: refused. */
	write_file(path, "ab\0cd", 5);
	assert_int_equal(rs_secret_resolve("file:pw", dir, buf, sizeof(buf),
					   errstr, sizeof(errstr)),
			 RS_ERR_SECRET);

	/* Missing file: names the reference. */
	assert_int_equal(rs_secret_resolve("file:nope", dir, buf, sizeof(buf),
					   errstr, sizeof(errstr)),
			 RS_ERR_SECRET);
	assert_non_null(strstr(errstr, "\"file:nope\""));

	unlink(path);
	rmdir(dir);
}

static void test_not_a_reference(void **state) {
	char buf[32], errstr[256];
	(void)state;

	/* An inline secret is refused and NOT echoed into the message. */
	assert_int_equal(rs_secret_resolve("Pa55word!", NULL, buf, sizeof(buf),
					   errstr, sizeof(errstr)),
			 RS_ERR_SECRET);
	assert_null(strstr(errstr, "Pa55word!"));
	assert_int_equal(rs_secret_resolve("env:", NULL, buf, sizeof(buf),
					   errstr, sizeof(errstr)),
			 RS_ERR_SECRET);
	assert_true(rs_secret_is_ref("env:X"));
	assert_true(rs_secret_is_ref("file:/x"));
	assert_false(rs_secret_is_ref("secret"));
	assert_false(rs_secret_is_ref(NULL));
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_env),
		cmocka_unit_test(test_file),
		cmocka_unit_test(test_not_a_reference),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
