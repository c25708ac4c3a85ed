/*
 * replay_main.c - a plain main() for every fuzz target: feeds each file of a
 * corpus directory to LLVMFuzzerTestOneInput, so ctest always replays the
 * corpus without libFuzzer (jq's and librdkafka's fuzzers do the same).
 */
#include "rs/rs_base.h"

#include <dirent.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path) {
	FILE *fp = fopen(path, "rb");
	uint8_t *buf = NULL;
	long len;
	int ret = -1;

	if (!fp)
		goto out;
	if (fseek(fp, 0, SEEK_END) != 0)
		goto out;
	len = ftell(fp);
	if (len < 0 || fseek(fp, 0, SEEK_SET) != 0)
		goto out;
	buf = rs_malloc((size_t)len + 1);
	if (len && fread(buf, 1, (size_t)len, fp) != (size_t)len)
		goto out;
	LLVMFuzzerTestOneInput(buf, (size_t)len);
	ret = 0;
out:
	rs_free(buf);
	if (fp)
		fclose(fp);
	return ret;
}

int main(int argc, char **argv) {
	DIR *d;
	struct dirent *de;
	int n = 0, failed = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
		return 2;
	}
	d = opendir(argv[1]);
	if (!d) {
		fprintf(stderr, "%s: cannot open corpus directory %s\n", argv[0],
			argv[1]);
		return 1;
	}
	while ((de = readdir(d)) != NULL) {
		char path[4096];
		struct stat st;
		if (de->d_name[0] == '.')
			continue;
		if (!rs_snprintf(path, sizeof(path), "%s/%s", argv[1], de->d_name))
			continue;
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		if (replay_file(path) != 0) {
			fprintf(stderr, "cannot read %s\n", path);
			failed++;
		}
		n++;
	}
	closedir(d);
	/* An empty corpus proves nothing: fail so it gets seeded. */
	if (n == 0) {
		fprintf(stderr, "%s: corpus %s is empty\n", argv[0], argv[1]);
		return 1;
	}
	printf("%d passed, %d failed\n", n - failed, failed);
	return failed ? 1 : 0;
}
