/*
 * bench_worker.c - the worker benchmarks of issue 5 (figures in
 * docs/benchmarks.md).  Built and run by bench/worker-bench, which links it
 * against a build tree's static libraries and provides a broker.
 *
 *   bench_worker rss        bounded memory (guarantee 6, G6): a backlog of
 *                           RS_BENCH_JOBS jobs (default 1,000,000) and a
 *                           slow target (RS_BENCH_LATENCY_MS, default
 *                           200 ms, on every Graph request); the
 *                           rostersync-worker BINARY (RS_BENCH_WORKER_BIN)
 *                           runs for RS_BENCH_SECONDS (default 60) while
 *                           its VmRSS is sampled every 250 ms; prints the
 *                           peak (and the kernel's VmHWM) against 256 MB,
 *                           and the worker's own in-flight and paused
 *                           gauges (/metrics on RS_BENCH_METRICS_PORT,
 *                           default 29596).
 *   bench_worker overhead   worker overhead: RS_BENCH_JOBS no-op jobs
 *                           (group.members with no adds and no removes: the
 *                           worker decodes, schedules, runs, records the
 *                           applied generation and commits each one, but
 *                           the target costs nothing), first read by a
 *                           plain librdkafka consumer (assign from the
 *                           beginning, count), then by an in-process
 *                           rs_worker; prints msgs/s, jobs/s, CPU seconds
 *                           and the ratios.  In between, rs_queue alone,
 *                           + envelope decode, + applied record finished
 *                           on its delivery (one thread: the work every
 *                           job needs, without scheduler and pool) locate
 *                           where the worker's cost lies.
 *
 * Both use the in-process simulator (50 tenants, 8 groups each) for the
 * tenants' configuration and, in "rss", as the slow target.  Environment:
 * RS_KAFKA_BROKERS (required), RS_BENCH_JOBS, RS_BENCH_THREADS (worker
 * threads, default 8), RS_BENCH_DIR (scratch directory, default /tmp),
 * RS_BENCH_X (extra settings, ';'-separated), RS_BENCH_FAULT (rss: an extra
 * simulator rule, matched before the latency rule).
 */
#include "rs/rs_base.h"
#include "rs/rs_conf.h"
#include "rs/rs_envelope.h"
#include "rs/rs_http.h"
#include "rs/rs_queue.h"
#include "rs/rs_topics.h"
#include "rs_sim.h"
#include "rs_worker.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define NTENANTS 50
#define GROUPS 8
#define MAX_OV 16

typedef struct bench_s {
	rs_sim_t *sim;
	rs_conf_t *conf;
	rs_queue_t *prod;
	char dir[512], path[600], prefix[96];
	char ovr[MAX_OV][256];
	const char *ov[MAX_OV];
	int ovn;
	const char *brokers;
	long jobs;
	int threads;
	/* tenant ids, group ids and a few user ids per tenant */
	char tid[NTENANTS][16];
	char gid[NTENANTS][GROUPS][40];
	char uid[NTENANTS][5][40];
} bench_t;

static RS_NORETURN void die(const char *fmt, ...) RS_PRINTF(1, 2);
static void die(const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "bench_worker: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

static long env_long(const char *name, long def) {
	const char *v = getenv(name);
	char *end;
	long n;
	if (!v || !*v)
		return def;
	n = strtol(v, &end, 10);
	if (*end || n <= 0)
		die("%s: a positive number", name);
	return n;
}

static void ov_add(bench_t *b, const char *fmt, ...) RS_PRINTF(2, 3);
static void ov_add(bench_t *b, const char *fmt, ...) {
	va_list ap;
	if (b->ovn >= MAX_OV)
		die("too many overrides");
	va_start(ap, fmt);
	vsnprintf(b->ovr[b->ovn], sizeof(b->ovr[0]), fmt, ap);
	va_end(ap);
	b->ov[b->ovn] = b->ovr[b->ovn];
	b->ovn++;
}

static double cpu_s(void) {
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* Reads the ids the jobs use from the simulator's state. */
static void read_ids(bench_t *b) {
	char *s = rs_sim_state_json(b->sim, NULL);
	cJSON *st = cJSON_Parse(s), *t;
	int ti = 0;
	rs_free(s);
	cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(st, "tenants")) {
		const cJSON *e = cJSON_GetObjectItemCaseSensitive(t, "entra");
		const cJSON *gs = cJSON_GetObjectItemCaseSensitive(e, "groups");
		const cJSON *us = cJSON_GetObjectItemCaseSensitive(e, "users");
		int k;
		if (ti >= NTENANTS)
			break;
		rs_snprintf(b->tid[ti], sizeof(b->tid[0]), "%s", t->string);
		for (k = 0; k < GROUPS; k++)
			rs_snprintf(b->gid[ti][k], sizeof(b->gid[0][0]), "%s",
				    cJSON_GetStringValue(
					    cJSON_GetObjectItemCaseSensitive(
						    cJSON_GetArrayItem(gs, k),
						    "id")));
		for (k = 0; k < 5; k++)
			rs_snprintf(b->uid[ti][k], sizeof(b->uid[0][0]), "%s",
				    cJSON_GetStringValue(
					    cJSON_GetObjectItemCaseSensitive(
						    cJSON_GetArrayItem(us, k),
						    "id")));
		ti++;
	}
	cJSON_Delete(st);
	if (ti < NTENANTS)
		die("sim has %d tenants", ti);
}

static void setup(bench_t *b, const char *name, int sim_threads) {
	rs_sim_conf_t sc;
	rs_sim_gen_t gen;
	rs_queue_conf_t qc;
	char err[512];
	const char *base = getenv("RS_BENCH_DIR");

	b->brokers = getenv("RS_KAFKA_BROKERS");
	if (!b->brokers || !*b->brokers)
		die("RS_KAFKA_BROKERS is not set");
	b->jobs = env_long("RS_BENCH_JOBS", 1000000);
	b->threads = (int)env_long("RS_BENCH_THREADS", 8);
	if (rs_http_global_init() != RS_OK)
		die("curl init");
	rs_sim_conf_init(&sc);
	sc.threads = sim_threads;
	sc.write_budget = 0; /* a slow target, not a throttled one */
	b->sim = rs_sim_new(&sc, err, sizeof(err));
	if (!b->sim)
		die("sim: %s", err);
	rs_sim_gen_init(&gen);
	gen.tenants = NTENANTS;
	gen.users = NTENANTS * 40;
	gen.queues = NTENANTS * GROUPS;
	gen.seed = 7;
	gen.cert_every = 0;
	if (rs_sim_generate(b->sim, &gen, err, sizeof(err)) != RS_OK ||
	    rs_sim_start(b->sim, err, sizeof(err)) != RS_OK)
		die("sim: %s", err);
	rs_snprintf(b->dir, sizeof(b->dir), "%s/rs-bench-%s-XXXXXX",
		    base ? base : "/tmp", name);
	if (!mkdtemp(b->dir))
		die("mkdtemp %s", b->dir);
	if (rs_sim_print_config(b->sim, b->dir, err, sizeof(err)) != RS_OK)
		die("print config: %s", err);
	rs_snprintf(b->path, sizeof(b->path), "%s/rostersync.conf", b->dir);
	rs_snprintf(b->prefix, sizeof(b->prefix), "bench-%s-%d-%" PRId64,
		    name, (int)getpid(), rs_wall_ms());
	ov_add(b, "queue.backend=kafka");
	ov_add(b, "queue.kafka.brokers=%s", b->brokers);
	ov_add(b, "queue.kafka.topic_prefix=%s.", b->prefix);
	ov_add(b, "queue.kafka.partitions=12");
	ov_add(b, "worker.group_id=%s-w", b->prefix);
	ov_add(b, "worker.threads=%d", b->threads);
	ov_add(b, "log.level=warning");
	/* Extra settings, ';'-separated (e.g. "worker.max_in_flight=20000"). */
	if (getenv("RS_BENCH_X")) {
		char x[512], *save = NULL, *it;
		rs_snprintf(x, sizeof(x), "%s", getenv("RS_BENCH_X"));
		for (it = strtok_r(x, ";", &save); it;
		     it = strtok_r(NULL, ";", &save))
			ov_add(b, "%s", it);
	}
	b->conf = rs_conf_load(b->path, b->ov, (size_t)b->ovn, err,
			       sizeof(err));
	if (!b->conf)
		die("conf: %s", err);
	rs_queue_conf_init(&qc);
	qc.brokers = b->brokers;
	qc.roles = RS_QUEUE_ROLE_PRODUCER;
	b->prod = rs_queue_new(&qc, err, sizeof(err));
	if (!b->prod)
		die("producer: %s", err);
	if (rs_topics_ensure(b->prod, rs_conf_global(b->conf), 30000, err,
			     sizeof(err)) != RS_OK)
		die("topics: %s", err);
	read_ids(b);
}

/*
 * Produces b->jobs jobs round-robin over 400 keys, all generation 1 (equal
 * generations are all applied: nothing is superseded, so every job costs
 * the worker a full run).  @p noop: no adds/removes, else 5 adds.
 */
static void produce(bench_t *b, bool noop) {
	const char *topic = rs_conf_global(b->conf)->queue.kafka.topics.jobs_group;
	int64_t t0 = rs_now_ms();
	long i;
	for (i = 0; i < b->jobs; i++) {
		int t = (int)(i % NTENANTS), k = (int)((i / NTENANTS) % GROUPS);
		rs_envelope_t env;
		char key[128], err[256], *txt = NULL;
		size_t len = 0;
		rs_err_t e;
		int u;

		rs_envelope_init(&env);
		env.v = RS_ENVELOPE_VERSION;
		env.tenant = rs_strdup(b->tid[t]);
		env.kind = rs_strdup("group.members");
		env.kind_id = RS_ENV_KIND_GROUP_MEMBERS;
		rs_snprintf(key, sizeof(key), "%s/%s", b->tid[t], b->gid[t][k]);
		env.key = rs_strdup(key);
		env.generation = 1;
		env.created = rs_wall_ms();
		env.source = rs_strdup("bench");
		env.members.group_id = rs_strdup(b->gid[t][k]);
		env.members.mode = rs_strdup("exact");
		for (u = 0; !noop && u < 5; u++)
			rs_envelope_member_add(&env, false, b->uid[t][u], NULL);
		if (rs_envelope_encode(&env, &txt, &len, err, sizeof(err)) !=
		    RS_OK)
			die("encode: %s", err);
		while ((e = rs_queue_produce(b->prod, topic, key, strlen(key),
					     txt, len, NULL, 0, NULL)) ==
		       RS_ERR_AGAIN)
			usleep(1000);
		if (e != RS_OK)
			die("produce: %s", rs_err_str(e));
		rs_free(txt);
		rs_envelope_cleanup(&env);
	}
	if (rs_queue_flush(b->prod, 120000) != RS_OK)
		die("flush");
	printf("produced %ld jobs (%s) in %.1f s\n", b->jobs,
	       noop ? "no-op" : "5 adds each",
	       (double)(rs_now_ms() - t0) / 1000.0);
	fflush(stdout);
}

static void teardown(bench_t *b) {
	char cmd[700];
	rs_queue_destroy(b->prod);
	rs_conf_destroy(b->conf);
	rs_sim_destroy(b->sim);
	rs_snprintf(cmd, sizeof(cmd), "rm -rf '%s'", b->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", b->dir);
	rs_http_global_cleanup();
}

/* ------------------------------------------------------------------ */
/* rss                                                                */

/* VmRSS / VmHWM of a process in kB, -1 when gone. */
static long proc_kb(pid_t pid, const char *field) {
	char path[64], line[256];
	size_t fl = strlen(field);
	long v = -1;
	FILE *fp;
	rs_snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	fp = fopen(path, "r");
	if (!fp)
		return -1;
	while (fgets(line, sizeof(line), fp))
		if (!strncmp(line, field, fl) && line[fl] == ':') {
			v = strtol(line + fl + 1, NULL, 10);
			break;
		}
	fclose(fp);
	return v;
}

typedef struct mbuf_s {
	char buf[1 << 16];
	size_t len;
} mbuf_t;

static size_t mbuf_cb(char *p, size_t sz, size_t n, void *ud) {
	mbuf_t *m = ud;
	size_t add = sz * n;
	if (m->len + add >= sizeof(m->buf))
		add = sizeof(m->buf) - 1 - m->len;
	memcpy(m->buf + m->len, p, add);
	m->len += add;
	m->buf[m->len] = '\0';
	return sz * n;
}

/* A gauge of the worker's /metrics (unlabelled), -1 when unreadable. */
static double scrape(int port, const char *name) {
	static mbuf_t m;
	char url[64];
	const char *at;
	CURL *c = curl_easy_init();
	double v = -1;
	m.len = 0;
	m.buf[0] = '\0';
	rs_snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", port);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, mbuf_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &m);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 2000L);
	if (curl_easy_perform(c) == CURLE_OK) {
		for (at = m.buf; (at = strstr(at, name)); at++)
			if ((at == m.buf || at[-1] == '\n') &&
			    at[strlen(name)] == ' ') {
				v = strtod(at + strlen(name) + 1, NULL);
				break;
			}
	}
	curl_easy_cleanup(c);
	return v;
}

static int bench_rss(void) {
	static bench_t b;
	const char *bin = getenv("RS_BENCH_WORKER_BIN");
	long secs = env_long("RS_BENCH_SECONDS", 60);
	long lat = env_long("RS_BENCH_LATENCY_MS", 200);
	char rule[256], err[256], *argv[2 * MAX_OV + 4];
	long peak = 0, hwm = -1, rss;
	int64_t t0, end;
	double w0, w1;
	pid_t pid;
	int i, n = 0, status;

	int mport = (int)env_long("RS_BENCH_METRICS_PORT", 29596);
	double inflight, paused, max_inflight = 0, paused_seen = 0;

	if (!bin)
		die("RS_BENCH_WORKER_BIN is not set");
	/* The worker's own gauges: jobs held and whether it paused. */
	{
		char x[64];
		rs_snprintf(x, sizeof(x), "127.0.0.1:%d", mport);
		ov_add(&b, "worker.metrics_listen=%s", x);
	}
	setup(&b, "rss", 4);
	produce(&b, false);
	/* An extra simulator rule, matched before the latency rule (e.g.
	 * 503s with a long Retry-After, to fill the retry window too). */
	if (getenv("RS_BENCH_FAULT") &&
	    rs_sim_faults_push(b.sim, getenv("RS_BENCH_FAULT"), err,
			       sizeof(err)) != RS_OK)
		die("RS_BENCH_FAULT: %s", err);
	rs_snprintf(rule, sizeof(rule),
		    "{\"path\":\"/graph*\",\"latency\":{\"min_ms\":%ld,"
		    "\"max_ms\":%ld}}",
		    lat, lat);
	if (rs_sim_faults_push(b.sim, rule, err, sizeof(err)) != RS_OK)
		die("fault: %s", err);
	argv[n++] = (char *)bin;
	argv[n++] = (char *)"-c";
	argv[n++] = b.path;
	for (i = 0; i < b.ovn; i++) {
		argv[n++] = (char *)"-X";
		argv[n++] = b.ovr[i];
	}
	argv[n] = NULL;
	{
		char *s = rs_sim_stats_json(b.sim);
		cJSON *j = cJSON_Parse(s);
		w0 = cJSON_GetNumberValue(cJSON_GetObjectItem(j, "requests"));
		cJSON_Delete(j);
		rs_free(s);
	}
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		execv(bin, argv);
		_exit(127);
	}
	t0 = rs_now_ms();
	end = t0 + secs * 1000;
	while (rs_now_ms() < end) {
		rss = proc_kb(pid, "VmRSS");
		if (rss < 0 || waitpid(pid, &status, WNOHANG) == pid)
			die("the worker exited early");
		if (rss > peak)
			peak = rss;
		inflight = scrape(mport, "rostersync_worker_jobs_in_flight");
		paused = scrape(mport, "rostersync_queue_paused");
		if (inflight > max_inflight)
			max_inflight = inflight;
		if (paused > 0)
			paused_seen++;
		if ((rs_now_ms() - t0) % 10000 < 250)
			printf("  t=%3" PRId64 " s  VmRSS %6.1f MB  jobs in "
			       "flight %.0f  paused %.0f\n",
			       (rs_now_ms() - t0) / 1000, rss / 1024.0,
			       inflight, paused);
		usleep(250000);
	}
	hwm = proc_kb(pid, "VmHWM");
	kill(pid, SIGTERM);
	waitpid(pid, &status, 0);
	{
		char *s = rs_sim_stats_json(b.sim);
		cJSON *j = cJSON_Parse(s);
		w1 = cJSON_GetNumberValue(cJSON_GetObjectItem(j, "requests"));
		cJSON_Delete(j);
		rs_free(s);
	}
	printf("figures: rss: jobs in flight at most %.0f (scraped every "
	       "250 ms), paused in %.0f samples\n",
	       max_inflight, paused_seen);
	printf("figures: rss: backlog %ld jobs, target latency %ld ms, %d "
	       "worker threads, extra settings [%s], %ld s: peak VmRSS %.1f MB, VmHWM %.1f MB "
	       "(limit 256 MB): %s; %.0f Graph requests served (the backlog "
	       "stayed: the worker was throttled by the target, not by "
	       "memory); exit status %d\n",
	       b.jobs, lat, b.threads,
	       getenv("RS_BENCH_X") ? getenv("RS_BENCH_X") : "", secs,
	       peak / 1024.0, hwm / 1024.0,
	       hwm < 256 * 1024 && peak < 256 * 1024 ? "OK" : "OVER", w1 - w0,
	       WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	teardown(&b);
	return hwm < 256 * 1024 && peak < 256 * 1024 ? 0 : 1;
}

/* ------------------------------------------------------------------ */
/* overhead                                                           */

/* The baseline: a plain librdkafka consumer, no group protocol (assign
 * every partition from the beginning), counting messages. */
static void raw_consume(bench_t *b, double *wall_s, double *cpu) {
	const char *topic = rs_conf_global(b->conf)->queue.kafka.topics.jobs_group;
	rd_kafka_conf_t *kc = rd_kafka_conf_new();
	rd_kafka_topic_partition_list_t *tp;
	const struct rd_kafka_metadata *md;
	rd_kafka_topic_t *rkt;
	rd_kafka_t *rk;
	char err[512], grp[160];
	long n = 0;
	int64_t t0 = 0, t1;
	double c0 = 0;
	int p;

	rs_snprintf(grp, sizeof(grp), "%s-raw", b->prefix);
	if (rd_kafka_conf_set(kc, "bootstrap.servers", b->brokers, err,
			      sizeof(err)) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(kc, "group.id", grp, err, sizeof(err)) !=
		    RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(kc, "enable.auto.commit", "false", err,
			      sizeof(err)) != RD_KAFKA_CONF_OK)
		die("raw conf: %s", err);
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, err, sizeof(err));
	if (!rk)
		die("raw consumer: %s", err);
	rd_kafka_poll_set_consumer(rk);
	rkt = rd_kafka_topic_new(rk, topic, NULL);
	if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) ||
	    md->topic_cnt != 1)
		die("raw metadata");
	tp = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
	for (p = 0; p < md->topics[0].partition_cnt; p++)
		rd_kafka_topic_partition_list_add(tp, topic, p)->offset =
			RD_KAFKA_OFFSET_BEGINNING;
	rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(rkt);
	if (rd_kafka_assign(rk, tp))
		die("raw assign");
	rd_kafka_topic_partition_list_destroy(tp);
	while (n < b->jobs) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 1000);
		if (!m)
			continue;
		if (!m->err) {
			if (!n) {
				t0 = rs_now_us();
				c0 = cpu_s();
			}
			n++;
		}
		rd_kafka_message_destroy(m);
	}
	t1 = rs_now_us();
	*cpu = cpu_s() - c0;
	*wall_s = (double)(t1 - t0) / 1e6;
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
}

/* The layers in between, to locate the worker's cost. */
enum {
	Q_DONE,    /**< rs_queue alone: poll, msg_done */
	Q_DECODE,  /**< + rs_envelope_decode of every message */
	Q_APPLIED  /**< + the applied record (G8), msg_done on its delivery */
};

/* Q_APPLIED: the message is done once its applied record is delivered
 * (the producer's poller thread), as in the worker. */
static void applied_delivered(rs_queue_t *q, rs_err_t err, const char *errstr,
			      void *msg_opaque, void *opaque) {
	if (err != RS_OK)
		die("applied record: %s", errstr ? errstr : rs_err_str(err));
	rs_queue_msg_done(q, msg_opaque);
	atomic_fetch_add((atomic_long *)opaque, 1);
}

/*
 * One thread doing what every job needs, nothing else: rs_queue's group
 * consumer, then (by layer) the envelope decode and the applied record,
 * produced with the same handle and finished on its delivery report, as
 * the worker does, but without the scheduler and the pool.  Timed from
 * the first message to the last one finished.
 */
static void queue_consume(bench_t *b, int layer, double *wall_s,
			  double *cpu) {
	const rs_conf_global_t *g = rs_conf_global(b->conf);
	const char *topics[1] = {g->queue.kafka.topics.jobs_group};
	rs_queue_conf_t qc;
	rs_queue_t *q;
	char err[512], grp[160];
	long n = 0;
	atomic_long finished = 0;
	int64_t t0 = 0;
	double c0 = 0;

	rs_snprintf(grp, sizeof(grp), "%s-q%d", b->prefix, layer);
	rs_queue_conf_init(&qc);
	qc.brokers = b->brokers;
	qc.group_id = grp;
	qc.roles = RS_QUEUE_ROLE_CONSUMER;
	if (layer == Q_APPLIED) {
		qc.roles |= RS_QUEUE_ROLE_PRODUCER;
		qc.on_delivery = applied_delivered;
		qc.opaque = &finished;
	}
	qc.topics = topics;
	qc.topic_cnt = 1;
	q = rs_queue_new(&qc, err, sizeof(err));
	if (!q)
		die("queue consumer: %s", err);
	if (layer == Q_APPLIED &&
	    rs_queue_produce_prepare(q, g->queue.kafka.topics.applied, 10000) !=
		    RS_OK)
		die("applied topic metadata");
	while (n < b->jobs) {
		rs_envelope_t env;
		rs_qmsg_t *m = NULL;
		size_t len = 0;
		const void *v;
		char *rec;
		rs_err_t e;

		if (rs_queue_poll(q, 100, &m) != RS_OK || !m)
			continue;
		if (!n) {
			t0 = rs_now_us();
			c0 = cpu_s();
		}
		n++;
		if (layer == Q_DONE) {
			rs_queue_msg_done(q, m);
			continue;
		}
		v = rs_qmsg_value(m, &len);
		if (rs_envelope_decode(v, len, 0, &env, err, sizeof(err)) !=
		    RS_OK)
			die("decode: %s", err);
		if (layer == Q_DECODE) {
			rs_envelope_cleanup(&env);
			rs_queue_msg_done(q, m);
			continue;
		}
		rec = rs_topics_applied_record(env.key, env.generation, env.id,
					       rs_wall_ms());
		while ((e = rs_queue_produce(q, g->queue.kafka.topics.applied,
					     env.key, strlen(env.key), rec,
					     strlen(rec), NULL, 0, m)) ==
		       RS_ERR_AGAIN)
			usleep(1000);
		if (e != RS_OK)
			die("produce applied: %s", rs_err_str(e));
		rs_free(rec);
		rs_envelope_cleanup(&env);
	}
	if (layer == Q_APPLIED)
		while (atomic_load(&finished) < n)
			usleep(1000);
	*cpu = cpu_s() - c0;
	*wall_s = (double)(rs_now_us() - t0) / 1e6;
	rs_queue_close(q);
	rs_queue_destroy(q);
}

typedef struct wrun_s {
	rs_worker_t *w;
	rs_err_t err;
} wrun_t;

static void *wrun_main(void *arg) {
	wrun_t *r = arg;
	r->err = rs_worker_run(r->w, 0);
	return NULL;
}

static int bench_overhead(void) {
	static bench_t b;
	double raw_wall, raw_cpu, w_wall, w_cpu, c0 = 0;
	double raw_rate, w_rate, w_per_core, raw_per_core;
	rs_worker_stats_t st;
	int64_t t0 = 0, t1;
	pthread_t tid;
	wrun_t r;
	char err[512];

	setup(&b, "overhead", 2);
	produce(&b, true);
	raw_consume(&b, &raw_wall, &raw_cpu);
	raw_rate = (double)b.jobs / raw_wall;
	raw_per_core = (double)b.jobs / raw_cpu;
	printf("raw librdkafka consumer: %ld msgs in %.2f s = %.0f msgs/s, "
	       "%.2f CPU s (%.0f msgs per CPU s)\n",
	       b.jobs, raw_wall, raw_rate, raw_cpu, raw_per_core);
	fflush(stdout);
	{
		double qw, qc_, dw, dc, aw, ac;
		queue_consume(&b, Q_DONE, &qw, &qc_);
		printf("rs_queue consumer (poll + done, 1 thread): %.0f msgs/s, "
		       "%.0f msgs per CPU s\n",
		       (double)b.jobs / qw, (double)b.jobs / qc_);
		queue_consume(&b, Q_DECODE, &dw, &dc);
		printf("rs_queue + rs_envelope_decode (1 thread): %.0f msgs/s, "
		       "%.0f msgs per CPU s\n",
		       (double)b.jobs / dw, (double)b.jobs / dc);
		queue_consume(&b, Q_APPLIED, &aw, &ac);
		printf("rs_queue + decode + applied record, done on delivery (1 "
		       "thread): %.0f msgs/s, %.0f msgs per CPU s = ratio %.2f "
		       "(the floor of one job's work)\n",
		       (double)b.jobs / aw, (double)b.jobs / ac,
		       (double)b.jobs / ac / raw_rate);
		fflush(stdout);
	}

	r.w = rs_worker_new(b.conf, err, sizeof(err));
	if (!r.w)
		die("worker: %s", err);
	if (pthread_create(&tid, NULL, wrun_main, &r))
		die("thread");
	/* Timed from the first job received: the group join is not
	 * overhead per job. */
	for (;;) {
		rs_worker_stats(r.w, &st);
		if (!t0 && st.received) {
			t0 = rs_now_us();
			c0 = cpu_s();
		}
		if (st.noop + st.applied + st.dead_lettered >= (uint64_t)b.jobs)
			break;
		usleep(2000);
	}
	t1 = rs_now_us();
	w_cpu = cpu_s() - c0;
	w_wall = (double)(t1 - t0) / 1e6;
	rs_worker_stop(r.w);
	pthread_join(tid, NULL);
	rs_worker_destroy(r.w);
	w_rate = (double)b.jobs / w_wall;
	w_per_core = (double)b.jobs / w_cpu;
	printf("worker (%d threads): %ld jobs in %.2f s = %.0f jobs/s, %.2f "
	       "CPU s (%.0f jobs per CPU s); noop %" PRIu64 " dlq %" PRIu64
	       "\n",
	       b.threads, b.jobs, w_wall, w_rate, w_cpu, w_per_core, st.noop,
	       st.dead_lettered);
	printf("figures: overhead: worker %.0f jobs/s per core vs raw "
	       "consume %.0f msgs/s: ratio %.2f (goal >= 0.5); wall-clock "
	       "ratio %.2f; per-CPU-second ratio %.2f\n",
	       w_per_core, raw_rate, w_per_core / raw_rate, w_rate / raw_rate,
	       w_per_core / raw_per_core);
	teardown(&b);
	return 0;
}

int main(int argc, char **argv) {
	if (argc == 2 && !strcmp(argv[1], "rss"))
		return bench_rss();
	if (argc == 2 && !strcmp(argv[1], "overhead"))
		return bench_overhead();
	fprintf(stderr, "usage: bench_worker rss|overhead\n");
	return 2;
}
