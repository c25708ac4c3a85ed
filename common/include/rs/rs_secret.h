/*
 * rs_secret.h - secret references.
 *
 * Configuration never holds a secret inline: it holds a reference,
 * "env:NAME" (an environment variable) or "file:PATH" (a file, relative
 * paths taken from a base directory, typically the config file's).  The
 * resolved value goes into a caller buffer that the caller rs_wipe()s as
 * soon as it is done with it.  Error messages name the reference, never the
 * value.
 */
#ifndef RS_SECRET_H
#define RS_SECRET_H

#include "rs_base.h"
#include "rs_err.h"

/** Largest secret a file reference may hold (a PEM key fits). */
#define RS_SECRET_MAX_FILE (64 * 1024)

/**
 * @brief Resolves a secret reference into buf.
 * @param ref "env:NAME" or "file:PATH".
 * @param base_dir directory for relative file: paths (NULL = the current
 *        directory).
 * @param buf receives the value, NUL-terminated, with trailing CR/LF
 *        removed (files usually end in a newline).
 * @returns RS_OK; RS_ERR_SECRET when the variable/file is missing or the
 *          reference is malformed; RS_ERR_TOO_LARGE when the value does not
 *          fit in buf.  errstr names the reference on failure.  buf is
 *          wiped on failure.
 * @locality any thread (getenv is only read).
 */
rs_err_t rs_secret_resolve(const char *ref, const char *base_dir, char *buf,
			   size_t size, char *errstr, size_t errstr_size);

/** @returns true when s looks like a reference ("env:" or "file:" prefix). */
bool rs_secret_is_ref(const char *s);

#endif /* RS_SECRET_H */
