/*
 * planner_diff.c - set difference of member ids and the deletion guard.
 *
 * Pure: the caller owns the strings, we only sort pointer arrays, so the
 * same function serves the cycle, the unit test and a future "plan" CLI.
 */
#include "rs/rs_base.h"
#include "rs_planner.h"

#include <stdlib.h>
#include <string.h>

static int cmp_str(const void *a, const void *b) {
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorted, de-duplicated copy of a pointer array (NULLs dropped). */
static const char **sorted_copy(const char *const *v, size_t n, size_t *outn) {
	const char **s = rs_calloc(n ? n : 1, sizeof(*s));
	size_t i, k = 0;

	for (i = 0; i < n; i++)
		if (v[i])
			s[k++] = v[i];
	if (k > 1)
		qsort(s, k, sizeof(*s), cmp_str);
	/* Duplicates would double-count adds and trip the guard wrongly. */
	n = k;
	for (i = k = 0; i < n; i++)
		if (!k || strcmp(s[k - 1], s[i]))
			s[k++] = s[i];
	*outn = k;
	return s;
}

/* a - b for sorted unique arrays, appended into out (capacity >= na). */
static size_t minus(const char **a, size_t na, const char **b, size_t nb,
		    const char **out) {
	size_t i = 0, j = 0, k = 0;

	while (i < na) {
		int c = j < nb ? strcmp(a[i], b[j]) : -1;
		if (c < 0)
			out[k++] = a[i++];
		else if (c > 0)
			j++;
		else
			i++, j++;
	}
	return k;
}

rs_err_t rs_planner_diff(const rs_planner_diff_in_t *in,
			 rs_planner_diff_t *out) {
	const char **d, **c;
	size_t nd, nc, nrem;
	bool over;

	memset(out, 0, sizeof(*out));
	d = sorted_copy(in->desired, in->desired_cnt, &nd);
	c = sorted_copy(in->current, in->current_cnt, &nc);

	out->adds = rs_calloc(nd ? nd : 1, sizeof(*out->adds));
	out->add_cnt = minus(d, nd, c, nc, out->adds);
	out->removes = rs_calloc(nc ? nc : 1, sizeof(*out->removes));
	out->held = rs_calloc(1, sizeof(*out->held));

	if (in->mode != RS_CONF_SYNC_EXACT)
		goto out;
	/* An unreadable or empty source must never empty a call queue: the
	 * difference would be "remove everyone". */
	if (!in->source_ok) {
		out->removals_skipped = nc > 0;
		goto out;
	}
	nrem = minus(c, nc, d, nd, out->removes);
	over = nrem > (size_t)RS_MAX(in->max_removals, 0) ||
	       (uint64_t)nrem * 100 >
		       (uint64_t)RS_MAX(in->max_removal_percent, 0) * nc;
	if (nrem > 0 && over && !in->force_removals) {
		/* All or nothing: a partial removal of a suspicious plan is
		 * still a surprise for the operator. */
		rs_free(out->held);
		out->held = out->removes;
		out->held_cnt = nrem;
		out->guarded = true;
		out->removes = rs_calloc(1, sizeof(*out->removes));
		nrem = 0;
	}
	out->remove_cnt = nrem;
out:
	rs_free(d);
	rs_free(c);
	return RS_OK;
}

void rs_planner_diff_cleanup(rs_planner_diff_t *out) {
	if (!out)
		return;
	rs_free(out->adds);
	rs_free(out->removes);
	rs_free(out->held);
	memset(out, 0, sizeof(*out));
}
