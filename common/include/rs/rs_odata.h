/*
 * rs_odata.h - every value that goes into a URL or an OData filter passes
 * through here (Guarantee 8): validated (GUIDs, property names) or escaped
 * (string literals, path segments), always into bounded buffers.
 *
 * Rules (graph.md section 3; OData ABNF `SQUOTE-in-string = SQUOTE SQUOTE`):
 *  - a string literal is wrapped in single quotes, inner quotes doubled,
 *    then the whole query value is percent-encoded (RFC 3986 unreserved
 *    characters stay literal, everything else is %XX, space is %20);
 *  - `in (...)` takes at most RS_ODATA_IN_MAX (15) values;
 *  - path segments (UPNs with '#EXT#', '@', apostrophes) are
 *    percent-encoded; a segment starting with '$' uses the key form
 *    ('...') because Graph would read it as a system segment.
 */
#ifndef RS_ODATA_H
#define RS_ODATA_H

#include "rs_base.h"
#include "rs_err.h"

/** Graph limit for `in` lists without advanced queries. */
#define RS_ODATA_IN_MAX 15
/** Longest raw value accepted (emails are <= 254; generous but bounded). */
#define RS_ODATA_VALUE_MAX 1024
/** Textual GUID length, 8-4-4-4-12. */
#define RS_GUID_LEN 36

/**
 * @brief Strict GUID check: exactly 8-4-4-4-12 hex digits (either case),
 *        no braces, no whitespace.
 */
bool rs_guid_valid(const char *s);

/** @brief True for an OData property path: [A-Za-z_][A-Za-z0-9_]* ('/'
 *  separated), at most 128 chars. */
bool rs_odata_property_valid(const char *s);

/**
 * @brief Writes the percent-encoded OData string literal for @p value:
 *        O'Brien -> %27O%27%27Brien%27.
 * @returns RS_OK; RS_ERR_INVALID_ARG for NULL/over-long values or control
 *          characters; RS_ERR_TOO_LARGE when @p buf is too small.
 * @param lenp optional, receives the written length.
 */
rs_err_t rs_odata_quote(const char *value, char *buf, size_t size,
			size_t *lenp);

/**
 * @brief Builds `$filter=<prop> eq '<value>'` (value encoded as above,
 *        spaces as %20), e.g. `$filter=mail%20eq%20%27a%40b.com%27`.
 */
rs_err_t rs_odata_filter_eq(const char *prop, const char *value, char *buf,
			    size_t size);

/**
 * @brief Builds `$filter=<prop> in ('v1','v2',...)`, encoded.
 * @returns RS_ERR_INVALID_ARG for 0 or more than RS_ODATA_IN_MAX values,
 *          a bad property or value; RS_ERR_TOO_LARGE when it does not fit.
 */
rs_err_t rs_odata_filter_in(const char *prop, const char *const *values,
			    size_t cnt, char *buf, size_t size);

/**
 * @brief True when @p s can go into a path as is: non-empty, not "." or
 *        "..", at most 256 chars, only RFC 3986 unreserved characters
 *        (ALPHA DIGIT - . _ ~).  Use for opaque ids (Talkdesk hex ids).
 */
bool rs_url_path_segment_valid(const char *s);

/**
 * @brief Percent-encodes @p s as one path segment: unreserved and '@'
 *        stay, everything else (incl. '#', '/', '\'', '%', '$') is %XX.
 * @returns RS_ERR_INVALID_ARG for empty, ".", "..", control chars or
 *          over-long input; RS_ERR_TOO_LARGE when @p buf is too small.
 */
rs_err_t rs_url_path_segment_escape(const char *s, char *buf, size_t size);

/**
 * @brief The Graph key segment for a user/group: a GUID as is; a UPN
 *        escaped with rs_url_path_segment_escape; a UPN starting with '$'
 *        as `('<quoted>')` (graph.md 3).  Result follows `/users/` or
 *        `/users` respectively, so it always starts with the separator:
 *        "/<guid>", "/a%23EXT%23%40x.com" or "('%24x%40y.com')".
 */
rs_err_t rs_odata_key_segment(const char *id_or_upn, char *buf, size_t size);

#endif /* RS_ODATA_H */
