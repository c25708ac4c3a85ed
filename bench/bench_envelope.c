/*
 * bench_envelope.c - micro-benchmark of the job envelope codec, the OData
 * filter builder and the Retry-After parser (figures quoted in
 * docs/internals/envelope.md and docs/internals/http.md).
 *
 * Not part of the CMake build (the bench harness owns that); build it
 * against a Release librs_common.a:
 *
 *   cmake -S . -B /tmp/rs-rel -G Ninja -DCMAKE_BUILD_TYPE=Release -DRS_TESTS=OFF
 *   ninja -C /tmp/rs-rel rs_common
 *   gcc -O2 -std=c11 -D_GNU_SOURCE -Icommon/include -o /tmp/bench_envelope \
 *     bench/bench_envelope.c /tmp/rs-rel/librs_common.a \
 *     $(pkg-config --libs libcurl libcjson openssl libconfig libmicrohttpd \
 *       sqlite3 rdkafka) -lpthread -lm
 *   /tmp/bench_envelope
 */
#include "rs/rs_base.h"
#include "rs/rs_envelope.h"
#include "rs/rs_http.h"
#include "rs/rs_odata.h"

#define GROUP "11111111-2222-3333-4444-555555555555"

static void fill(rs_envelope_t *env, const char *tenant, int members) {
	char id[40], em[64], key[128];
	int i;

	rs_envelope_init(env);
	rs_snprintf(key, sizeof(key), "%s/" GROUP, tenant);
	env->tenant = rs_strdup(tenant);
	env->kind = rs_strdup("group.members");
	env->key = rs_strdup(key);
	env->generation = 1;
	env->created = 1;
	env->members.group_id = rs_strdup(GROUP);
	env->members.mode = rs_strdup("exact");
	for (i = 0; i < members; i++) {
		rs_snprintf(id, sizeof(id), "bbbbbbbb-0000-0000-0000-%012d", i);
		rs_snprintf(em, sizeof(em), "first.last%d@contoso.com", i);
		rs_assert(rs_envelope_member_add(env, false, id, em) == RS_OK);
	}
}

/*
 * Decode-only cost of one envelope like the worker's (bench_worker.c's
 * produce(): GUID tenant, source "bench", @p members adds): the best of
 * @p rounds rounds of @p n decodes, in ns per decode (the machine is shared;
 * the best round is the least disturbed one).
 */
static double decode_ns(int members, int rounds, int n, size_t *len_out) {
	rs_envelope_t env, dec;
	char err[256], *txt = NULL;
	size_t len = 0;
	double best = 0;
	int64_t t0;
	int r, i;

	fill(&env, "aaaaaaaa-1111-2222-3333-444444444444", members);
	env.source = rs_strdup("bench");
	rs_assert(rs_envelope_encode(&env, &txt, &len, err, sizeof(err)) ==
		  RS_OK);
	for (r = 0; r < rounds; r++) {
		t0 = rs_now_us();
		for (i = 0; i < n; i++) {
			rs_assert(rs_envelope_decode(txt, len, 0, &dec, err,
						     sizeof(err)) == RS_OK);
			rs_envelope_cleanup(&dec);
		}
		t0 = rs_now_us() - t0;
		if (r == 0 || (double)t0 * 1000.0 / n < best)
			best = (double)t0 * 1000.0 / n;
	}
	*len_out = len;
	rs_free(txt);
	rs_envelope_cleanup(&env);
	return best;
}

int main(void) {
	rs_envelope_t env, dec;
	char err[256], buf[2048], *txt = NULL;
	const char *v[RS_ODATA_IN_MAX];
	size_t len = 0;
	int64_t t0, t1, t2, ms;
	int i;
	const int reps = 20, small = 20000, nfilter = 200000;

	{
		size_t l0 = 0, l5 = 0;
		double ns0 = decode_ns(0, 7, 100000, &l0);
		double ns5 = decode_ns(5, 7, 50000, &l5);
		printf("decode only, no-op envelope (%zu bytes): %.0f ns\n", l0,
		       ns0);
		printf("decode only, 5-member envelope (%zu bytes): %.0f ns\n",
		       l5, ns5);
	}

	fill(&env, "contoso", RS_ENVELOPE_MAX_MEMBERS);
	t0 = rs_now_us();
	for (i = 0; i < reps; i++) {
		rs_free(txt);
		rs_free(env.id);
		env.id = NULL; /* recompute the id each time */
		rs_assert(rs_envelope_encode(&env, &txt, &len, err,
					     sizeof(err)) == RS_OK);
	}
	t1 = rs_now_us();
	for (i = 0; i < reps; i++) {
		rs_assert(rs_envelope_decode(txt, len, 0, &dec, err,
					     sizeof(err)) == RS_OK);
		rs_envelope_cleanup(&dec);
	}
	t2 = rs_now_us();
	printf("%d-member envelope: %zu bytes, encode %.1f ms, decode %.1f "
	       "ms\n",
	       RS_ENVELOPE_MAX_MEMBERS, len, (double)(t1 - t0) / 1000.0 / reps,
	       (double)(t2 - t1) / 1000.0 / reps);
	rs_free(txt);
	rs_envelope_cleanup(&env);

	fill(&env, "t", 1);
	t0 = rs_now_us();
	for (i = 0; i < small; i++) {
		rs_free(env.id);
		env.id = NULL;
		rs_assert(rs_envelope_encode(&env, &txt, &len, err,
					     sizeof(err)) == RS_OK);
		rs_assert(rs_envelope_decode(txt, len, 0, &dec, err,
					     sizeof(err)) == RS_OK);
		rs_envelope_cleanup(&dec);
		rs_free(txt);
	}
	t1 = rs_now_us();
	printf("1-member envelope encode+decode: %.1f us\n",
	       (double)(t1 - t0) / small);
	rs_envelope_cleanup(&env);

	for (i = 0; i < RS_ODATA_IN_MAX; i++)
		v[i] = "o'brien.someone@contoso.com";
	t0 = rs_now_us();
	for (i = 0; i < nfilter; i++)
		rs_assert(rs_odata_filter_in("mail", v, RS_ODATA_IN_MAX, buf,
					     sizeof(buf)) == RS_OK);
	t1 = rs_now_us();
	printf("15-value in filter: %.2f us\n", (double)(t1 - t0) / nfilter);

	t0 = rs_now_us();
	for (i = 0; i < 1000000; i++)
		rs_assert(rs_http_retry_after_parse(
				  "Sun, 06 Nov 1994 08:49:37 GMT",
				  784111777000LL, &ms) == RS_OK);
	t1 = rs_now_us();
	printf("Retry-After HTTP-date parse: %.3f us\n",
	       (double)(t1 - t0) / 1e6);
	return 0;
}
