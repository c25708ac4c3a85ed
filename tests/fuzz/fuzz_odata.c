/*
 * fuzz_odata.c - the OData/URL escaper on arbitrary values.
 *
 * The input is split on '\n' into up to 16 values.  Invariants: every
 * successful output contains only RFC 3986 unreserved characters, '%XX'
 * escapes and the fixed syntax this module adds, so no value can change the
 * structure of a URL or a filter (Guarantee 8); outputs always fit.
 */
#include "rs/rs_base.h"
#include "rs/rs_odata.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool safe(const char *s, const char *extra) {
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || strchr("-._~", c))
			continue;
		if (c == '%') {
			if (!s[1] || !s[2] || !strchr("0123456789ABCDEF", s[1]) ||
			    !strchr("0123456789ABCDEF", s[2]))
				return false;
			s += 2;
			continue;
		}
		if (!strchr(extra, c))
			return false;
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	char *text, *vals[16], *p;
	char out[4096];
	size_t cnt = 0, i;

	text = rs_malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	p = text;
	while (cnt < 16) {
		vals[cnt++] = p;
		p = strchr(p, '\n');
		if (!p)
			break;
		*p++ = '\0';
	}
	for (i = 0; i < cnt; i++) {
		size_t len = 0;
		if (rs_odata_quote(vals[i], out, sizeof(out), &len) == RS_OK) {
			rs_assert(len == strlen(out) && len < sizeof(out));
			rs_assert(safe(out, ""));
		}
		if (rs_url_path_segment_escape(vals[i], out, sizeof(out)) ==
		    RS_OK) {
			rs_assert(safe(out, "@"));
			rs_assert(strcmp(out, ".") && strcmp(out, ".."));
		}
		if (rs_odata_key_segment(vals[i], out, sizeof(out)) == RS_OK)
			rs_assert(safe(out, "@/()"));
		if (rs_url_path_segment_valid(vals[i]))
			rs_assert(safe(vals[i], "") && !strchr(vals[i], '%'));
		if (rs_guid_valid(vals[i]))
			rs_assert(strlen(vals[i]) == RS_GUID_LEN);
		if (rs_odata_filter_eq("mail", vals[i], out, 64) == RS_OK)
			rs_assert(!strncmp(out, "$filter=mail%20eq%20%27", 23) &&
				  safe(out + 8, ""));
	}
	if (rs_odata_filter_in("mail", (const char *const *)vals, cnt, out,
			       sizeof(out)) == RS_OK) {
		rs_assert(cnt <= RS_ODATA_IN_MAX);
		rs_assert(safe(out + 8, "()"));
	}
	rs_free(text);
	return 0;
}
