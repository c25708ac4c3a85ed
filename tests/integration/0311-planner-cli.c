/*
 * 0311-planner-cli.c - rostersync-planner as a process against an
 * in-process simulator.
 *
 * Proves the command-line contract (docs/planner.md):
 *  - exit 2 for bad usage and a bad -X value (naming the key);
 *  - --dry-run --once: exit 0, one summary line on stdout, plan files;
 *  - a tenant that cannot be reached: the other tenant is still planned,
 *    exit 1, errors=1 in the summary;
 *  - without --once: cycles until SIGTERM, exits 0 after a good cycle,
 *    and serves the planner metrics on planner.metrics_listen.
 */
#include "rs/rs_base.h"
#include "rs_test.h"
#include "rs_sim.h"

#include "rs/rs_http.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_ARGS 32

static char bin[1024];

/* Runs the planner with args; stdout and stderr go to files in dir. */
static pid_t spawn(const char *dir, const char *const *args) {
	char *argv[MAX_ARGS], out[1024], err[1024];
	size_t n = 0;
	pid_t pid;

	argv[n++] = bin;
	while (*args && n < MAX_ARGS - 1)
		argv[n++] = (char *)*args++;
	argv[n] = NULL;
	rs_snprintf(out, sizeof(out), "%s/stdout", dir);
	rs_snprintf(err, sizeof(err), "%s/stderr", dir);
	pid = fork();
	TEST_ASSERT(pid >= 0, "fork");
	if (pid == 0) {
		int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(o, 1);
		dup2(e, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static int wait_exit(pid_t pid, int64_t timeout_ms) {
	int64_t deadline = rs_now_ms() + rs_test_timeout_ms(timeout_ms);
	int st = 0;
	while (waitpid(pid, &st, WNOHANG) == 0) {
		if (rs_now_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			TEST_FAIL("planner did not exit in time");
		}
		rs_sleep_ms(20);
	}
	TEST_ASSERT(WIFEXITED(st), "planner exited normally");
	return WEXITSTATUS(st);
}

static int run(const char *dir, const char *const *args) {
	return wait_exit(spawn(dir, args), 60000);
}

static char *slurp(const char *dir, const char *name) {
	char path[1024];
	FILE *fp;
	char *buf = rs_calloc(1, 65536);
	size_t n;

	rs_snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "r");
	TEST_ASSERT(fp, "open %s", path);
	n = fread(buf, 1, 65535, fp);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

/* A port nobody listens on right now (bound, read, closed). */
static int free_port(void) {
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	TEST_ASSERT(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0,
		    "bind");
	TEST_ASSERT(getsockname(fd, (struct sockaddr *)&sa, &len) == 0,
		    "getsockname");
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

int main(void) {
	const char *bindir = rs_test_env_required("RS_BINARY_DIR");
	rs_sim_conf_t sc;
	rs_sim_gen_t gen;
	rs_sim_t *sim;
	char err[512], dir[512], conf[1024], report[1024], path[1100],
		ov[256], listen[64], url[128], tenant[64];
	char *s, *tenants;
	cJSON *tj;
	struct stat st;
	int rc;

	rs_snprintf(bin, sizeof(bin), "%s/producer/rostersync-planner", bindir);
	TEST_ASSERT(access(bin, X_OK) == 0, "%s is built", bin);
	TEST_ASSERT(rs_http_global_init() == RS_OK, "curl init");
	rs_sim_conf_init(&sc);
	sim = rs_sim_new(&sc, err, sizeof(err));
	TEST_ASSERT(sim, "sim: %s", err);
	rs_sim_gen_init(&gen);
	gen.tenants = 2;
	gen.users = 80;
	gen.queues = 4;
	gen.seed = 311;
	gen.cert_every = 0;
	TEST_ASSERT(rs_sim_generate(sim, &gen, err, sizeof(err)) == RS_OK,
		    "generate: %s", err);
	TEST_ASSERT(rs_sim_start(sim, err, sizeof(err)) == RS_OK, "start: %s",
		    err);
	rs_test_mkdtemp(dir, sizeof(dir));
	TEST_ASSERT(rs_sim_print_config(sim, dir, err, sizeof(err)) == RS_OK,
		    "print-config: %s", err);
	rs_snprintf(conf, sizeof(conf), "%s/rostersync.conf", dir);
	rs_snprintf(report, sizeof(report), "%s/report", dir);
	tenants = rs_sim_tenants_json(sim);
	tj = cJSON_Parse(tenants);
	rs_snprintf(tenant, sizeof(tenant), "%s",
		    cJSON_GetObjectItem(cJSON_GetArrayItem(tj, 0), "id")
			    ->valuestring);
	cJSON_Delete(tj);
	rs_free(tenants);

	SUB_TEST("usage and configuration errors exit 2");
	{
		const char *a1[] = {NULL};
		const char *a2[] = {"-c", conf, "--once", "-X",
				    "planner.concurrency=abc", NULL};
		TEST_ASSERT(run(dir, a1) == 2, "no -c: exit 2");
		TEST_ASSERT(run(dir, a2) == 2, "bad -X: exit 2");
		s = slurp(dir, "stderr");
		TEST_ASSERT(strstr(s, "planner.concurrency"), "names the key: %s",
			    s);
		rs_free(s);
	}

	SUB_TEST("--dry-run --once: exit 0, summary, plan files");
	{
		const char *a[] = {"-c", conf, "--once", "--dry-run",
				   "--report", report, NULL};
		TEST_ASSERT(run(dir, a) == 0, "exit 0");
		s = slurp(dir, "stdout");
		TEST_ASSERT(!strncmp(s, "tenants=2 groups=", 17) &&
				    strstr(s, " errors=0 ") &&
				    strchr(s, '\n') == s + strlen(s) - 1,
			    "one summary line: %s", s);
		rs_free(s);
		rs_snprintf(path, sizeof(path), "%s/plan.json", report);
		TEST_ASSERT(stat(path, &st) == 0 && st.st_size > 0, "plan.json");
		rs_snprintf(path, sizeof(path), "%s/plan.csv", report);
		TEST_ASSERT(stat(path, &st) == 0 && st.st_size > 0, "plan.csv");
	}

	SUB_TEST("an unreachable tenant: the other is planned, exit 1");
	{
		const char *a[] = {"-c",  conf, "--once",	"--dry-run",
				   "--report", report, "-X", ov, NULL};
		rs_snprintf(ov, sizeof(ov),
			    "tenant.%s.talkdesk.base_url=http://127.0.0.1:%d",
			    tenant, free_port());
		TEST_ASSERT(run(dir, a) == 1, "exit 1");
		s = slurp(dir, "stdout");
		TEST_ASSERT(strstr(s, "tenants=2 ") && strstr(s, " errors=1 "),
			    "summary: %s", s);
		TEST_ASSERT(!strstr(s, " adds=0 "), "the other tenant planned");
		rs_free(s);
	}

	SUB_TEST("loop until SIGTERM, metrics served, exit 0");
	{
		const char *a[] = {"-c", conf, "--dry-run", "--report", report,
				   "-X", ov, NULL};
		int64_t deadline = rs_now_ms() + rs_test_timeout_ms(20000);
		bool seen = false;
		rs_http_conf_t hc;
		rs_http_t *http;
		pid_t pid;

		rs_snprintf(listen, sizeof(listen), "127.0.0.1:%d", free_port());
		rs_snprintf(ov, sizeof(ov), "planner.metrics_listen=%s", listen);
		rs_snprintf(url, sizeof(url), "http://%s/metrics", listen);
		rs_http_conf_init(&hc);
		http = rs_http_new(&hc, err, sizeof(err));
		TEST_ASSERT(http, "http: %s", err);
		pid = spawn(dir, a);
		while (!seen && rs_now_ms() < deadline) {
			rs_http_req_t req;
			rs_http_resp_t resp;
			rs_error_t *e;

			rs_http_req_init(&req, RS_HTTP_GET, url);
			rs_http_resp_init(&resp);
			e = rs_http_request_send(http, &req, &resp);
			seen = !e && resp.status == 200 && resp.body &&
			       strstr(resp.body, "rostersync_planner_cycles_total"
						 "{result=\"ok\"} 1");
			rs_error_destroy(e);
			rs_http_resp_cleanup(&resp);
			if (!seen)
				rs_sleep_ms(100);
		}
		rs_http_destroy(http);
		TEST_ASSERT(seen, "metrics show one good cycle");
		kill(pid, SIGTERM);
		rc = wait_exit(pid, 10000);
		TEST_ASSERT(rc == 0, "exit %d after SIGTERM", rc);
		s = slurp(dir, "stdout");
		TEST_ASSERT(strstr(s, " errors=0 "), "summary: %s", s);
		rs_free(s);
	}

	rs_test_rmtree(dir);
	rs_sim_destroy(sim);
	return rs_test_finish();
}
