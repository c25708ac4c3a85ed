/*
 * fuzz_conf_tenant.c - the tenant config loader on arbitrary bytes.
 *
 * The input is one tenant file's text, loaded with default global settings
 * through rs_conf_load_strings() (the same walk, setter and checks as a
 * file in tenants_dir).  Relative paths point into a folder that does not
 * exist, so a fuzzed mapping_file cannot pick up files from the tree; the
 * loader itself refuses @include and non-regular files.  On success the
 * dump is exercised too.
 */
#include "rs/rs_base.h"
#include "rs/rs_conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	char *text;
	char err[4096];
	const char *texts[1];
	rs_conf_t *conf;

	if (size > RS_CONF_MAX_FILE)
		return 0;
	/* libconfig reads a C string: an embedded NUL ends the text, as it
	 * would for a file read by the loader. */
	text = rs_malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	texts[0] = text;
	conf = rs_conf_load_strings(NULL, texts, 1, "/nonexistent/rs-fuzz",
				    NULL, 0, err, sizeof(err));
	rs_assert(conf || err[0]);
	if (conf) {
		FILE *fp = fopen("/dev/null", "w");
		if (fp) {
			rs_conf_dump(conf, fp, true);
			fclose(fp);
		}
	}
	rs_conf_destroy(conf);
	rs_free(text);
	return 0;
}
