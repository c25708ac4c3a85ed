#!/usr/bin/env bash
# scripts/checksrc.sh - source checks in the spirit of curl's checksrc.pl:
# banned functions, bare malloc/free outside rs_base.h, C++ comments.
# Usage: scripts/checksrc.sh [files...]   (default: every tracked .c/.h)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ $# -gt 0 ]; then
	files=("$@")
else
	mapfile -t files < <(find common producer worker cli sim tests bench -name '*.[ch]' 2>/dev/null | sort)
fi

# cJSON_InitHooks: rs_envelope_decode frees strings it takes from cJSON's
# tree with rs_free, which holds only while cJSON allocates with malloc.
banned='gets|sprintf|vsprintf|strcpy|strcat|strncpy|strtok|atoi|atol|gmtime|localtime|strerror|cJSON_InitHooks'
fail=0
for f in "${files[@]}"; do
	[ -f "$f" ] || continue
	# Strip string literals and /* */ comments line-wise before matching, so a
	# word inside a message or a comment is not flagged.
	out=$(sed -e 's/"\([^"\\]\|\\.\)*"/""/g' -e 's:/\*.*\*/::g' "$f" |
		grep -nE "(^|[^a-zA-Z0-9_.>])($banned)[[:space:]]*\(" || true)
	if [ -n "$out" ]; then
		echo "$f: banned function:" >&2
		echo "$out" | sed 's/^/    /' >&2
		fail=1
	fi
	if [ "$f" != common/include/rs/rs_base.h ]; then
		out=$(sed -e 's/"\([^"\\]\|\\.\)*"/""/g' "$f" |
			grep -nE '(^|[^a-zA-Z0-9_])(malloc|calloc|realloc|free)[[:space:]]*\(' |
			grep -v 'checksrc: allow' || true)
		if [ -n "$out" ]; then
			echo "$f: use rs_malloc/rs_calloc/rs_realloc/rs_free:" >&2
			echo "$out" | sed 's/^/    /' >&2
			fail=1
		fi
	fi
	out=$(sed -e 's/"\([^"\\]\|\\.\)*"/""/g' "$f" | grep -nE '(^|[^:])//' || true)
	if [ -n "$out" ]; then
		echo "$f: use /* */ comments:" >&2
		echo "$out" | sed 's/^/    /' >&2
		fail=1
	fi
done
[ "$fail" = 0 ] && echo "checksrc: ${#files[@]} files OK"
exit $fail
