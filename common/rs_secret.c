/*
 * rs_secret.c - "env:NAME" / "file:PATH" secret references (rs_secret.h).
 */
#include "rs/rs_base.h"
#include "rs/rs_secret.h"

#include <errno.h>

bool rs_secret_is_ref(const char *s) {
	return s && (!strncmp(s, "env:", 4) || !strncmp(s, "file:", 5));
}

/* Files and variables conventionally end in a newline that is not part of
 * the secret (echo secret > file). */
static void strip_newlines(char *buf) {
	size_t len = strlen(buf);

	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		buf[--len] = '\0';
}

static rs_err_t resolve_env(const char *ref, const char *name, char *buf,
			    size_t size, char *errstr, size_t errstr_size) {
	const char *v;

	if (!*name) {
		snprintf(errstr, errstr_size,
			 "secret reference \"%s\": empty variable name", ref);
		return RS_ERR_SECRET;
	}
	/* getenv is read-only here; the process never calls setenv after
	 * threads start, so this is safe from any thread. */
	v = getenv(name);
	if (!v) {
		snprintf(errstr, errstr_size,
			 "secret reference \"%s\": environment variable %s is "
			 "not set",
			 ref, name);
		return RS_ERR_SECRET;
	}
	if (strlen(v) >= size) {
		snprintf(errstr, errstr_size,
			 "secret reference \"%s\": value longer than %zu bytes",
			 ref, size ? size - 1 : 0);
		return RS_ERR_TOO_LARGE;
	}
	memcpy(buf, v, strlen(v) + 1);
	return RS_OK;
}

static rs_err_t resolve_file(const char *ref, const char *path,
			     const char *base_dir, char *buf, size_t size,
			     char *errstr, size_t errstr_size) {
	char full[4096];
	char eb[128];
	FILE *fp;
	size_t n;
	rs_err_t err = RS_ERR_SECRET;

	if (!*path) {
		snprintf(errstr, errstr_size,
			 "secret reference \"%s\": empty path", ref);
		return RS_ERR_SECRET;
	}
	/* Relative paths are relative to the config file that named them,
	 * not to wherever the daemon happens to be started. */
	if (path[0] != '/' && base_dir && *base_dir) {
		if (!rs_snprintf(full, sizeof(full), "%s/%s", base_dir, path)) {
			snprintf(errstr, errstr_size,
				 "secret reference \"%s\": path too long", ref);
			return RS_ERR_SECRET;
		}
		path = full;
	}
	fp = fopen(path, "rb");
	if (!fp) {
		snprintf(errstr, errstr_size,
			 "secret reference \"%s\": cannot open %s: %s", ref,
			 path, rs_strerror(errno, eb, sizeof(eb)));
		return RS_ERR_SECRET;
	}
	/* Read one byte more than fits so a too-long file is detected rather
	 * than silently truncated. */
	n = fread(buf, 1, size, fp);
	if (ferror(fp)) {
		snprintf(errstr, errstr_size,
			 "secret reference \"%s\": read error on %s", ref,
			 path);
		goto out;
	}
	if (n == size) {
		/* Only a trailing newline may be what overflows. */
		if ((buf[n - 1] != '\n' && buf[n - 1] != '\r') ||
		    fgetc(fp) != EOF) {
			snprintf(errstr, errstr_size,
				 "secret reference \"%s\": file larger than "
				 "%zu bytes",
				 ref, size - 1);
			err = RS_ERR_TOO_LARGE;
			goto out;
		}
		n--;
	}
	buf[n] = '\0';
	/* A NUL inside would silently cut the secret short. */
	if (memchr(buf, '\0', n)) {
		snprintf(errstr, errstr_size,
			 "secret reference \"%s\": file contains a NUL byte",
			 ref);
		goto out;
	}
	err = RS_OK;
out:
	fclose(fp);
	return err;
}

rs_err_t rs_secret_resolve(const char *ref, const char *base_dir, char *buf,
			   size_t size, char *errstr, size_t errstr_size) {
	rs_err_t err;

	if (!size)
		return RS_ERR_TOO_LARGE;
	buf[0] = '\0';
	if (!ref) {
		snprintf(errstr, errstr_size, "no secret reference given");
		return RS_ERR_SECRET;
	}
	if (!strncmp(ref, "env:", 4)) {
		err = resolve_env(ref, ref + 4, buf, size, errstr, errstr_size);
	} else if (!strncmp(ref, "file:", 5)) {
		err = resolve_file(ref, ref + 5, base_dir, buf, size, errstr,
				   errstr_size);
	} else {
		/* Do not echo ref: an inline secret pasted by mistake would
		 * otherwise land in the logs. */
		snprintf(errstr, errstr_size,
			 "secret must be a reference (\"env:NAME\" or "
			 "\"file:PATH\"), not an inline value");
		return RS_ERR_SECRET;
	}
	/* A partial read may have left part of a secret in buf. */
	if (err != RS_OK) {
		rs_wipe(buf, size);
		return err;
	}
	strip_newlines(buf);
	return RS_OK;
}
