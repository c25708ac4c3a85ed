/*
 * rostersync-confdoc - writes docs/CONFIGURATION.md from the configuration
 * tables (rs_conf_doc_markdown), or checks a configuration:
 *
 *   rostersync-confdoc > docs/CONFIGURATION.md
 *   rostersync-confdoc --check rostersync.conf [-X key=value ...]
 *   rostersync-confdoc --dump rostersync.conf [-X key=value ...]
 *
 * Link with rs_common.  (Not yet wired into CMake: the lead adds
 * add_executable(rostersync-confdoc tools/rostersync-confdoc.c).)
 */
#include "rs/rs_base.h"
#include "rs/rs_conf.h"

static int usage(void) {
	fprintf(stderr,
		"usage: rostersync-confdoc [> CONFIGURATION.md]\n"
		"       rostersync-confdoc --check|--dump MAIN.conf "
		"[-X key=value ...]\n");
	return 2;
}

int main(int argc, char **argv) {
	const char *ov[256];
	size_t n_ov = 0;
	char err[16384];
	rs_conf_t *conf;
	bool dump;
	int i;

	if (argc == 1) {
		rs_conf_doc_markdown(stdout);
		return fflush(stdout) == 0 ? 0 : 1;
	}
	if (argc < 3 || (strcmp(argv[1], "--check") && strcmp(argv[1], "--dump")))
		return usage();
	dump = !strcmp(argv[1], "--dump");
	for (i = 3; i < argc; i++) {
		if (strcmp(argv[i], "-X") || i + 1 >= argc ||
		    n_ov >= RS_ARRAY_SIZE(ov))
			return usage();
		ov[n_ov++] = argv[++i];
	}
	conf = rs_conf_load(argv[2], ov, n_ov, err, sizeof(err));
	if (!conf) {
		fputs(err, stderr);
		return 1;
	}
	if (dump)
		rs_conf_dump(conf, stdout, true);
	else
		printf("%s: OK, %zu tenants\n", argv[2],
		       rs_conf_tenant_count(conf));
	rs_conf_destroy(conf);
	return 0;
}
