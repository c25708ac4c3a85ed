/*
 * 0104-sim-cli.c - rostersync-sim as a process: --port 0 prints the real
 * port, --save/--load round-trips the dataset, --print-config writes a
 * configuration with 0600 secret files referenced as file:, and SIGTERM
 * shuts it down cleanly (exit 0) even with a hanging request in flight.
 */
#include "rs/rs_base.h"
#include "rs_test.h"
#include "sim_it.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct child_s {
	pid_t pid;
	int port;
} child_t;

/* Starts the binary with args and reads "... (port N, ..." from stdout. */
static void start_sim(child_t *c, char *const argv[]) {
	int fds[2];
	char buf[512];
	size_t len = 0;
	int64_t deadline = rs_now_ms() + rs_test_timeout_ms(20000);
	const char *p;

	TEST_ASSERT(pipe(fds) == 0, "pipe");
	c->pid = fork();
	TEST_ASSERT(c->pid >= 0, "fork");
	if (c->pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		execv(argv[0], argv);
		_exit(127);
	}
	close(fds[1]);
	while (len < sizeof(buf) - 1 && rs_now_ms() < deadline) {
		ssize_t n = read(fds[0], buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		if (strchr(buf, '\n'))
			break;
	}
	close(fds[0]);
	buf[len] = '\0';
	p = strstr(buf, "(port ");
	TEST_ASSERT(p, "no port line from the simulator: \"%s\"", buf);
	c->port = (int)strtol(p + 6, NULL, 10);
	TEST_ASSERT(c->port > 0, "port %d", c->port);
}

static int stop_sim(child_t *c) {
	int st = 0;
	int64_t deadline = rs_now_ms() + rs_test_timeout_ms(10000);
	kill(c->pid, SIGTERM);
	while (waitpid(c->pid, &st, WNOHANG) == 0) {
		if (rs_now_ms() > deadline) {
			kill(c->pid, SIGKILL);
			waitpid(c->pid, &st, 0);
			TEST_FAIL("no exit within 10 s of SIGTERM");
		}
		rs_sleep_ms(20);
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static char *get_state(int port) {
	char url[128];
	it_resp_t r;
	char *s;
	rs_snprintf(url, sizeof(url), "http://127.0.0.1:%d/_sim/state", port);
	it_http(&r, "GET", url, NULL, NULL, NULL, 0);
	TEST_ASSERT(r.status == 200, "state %ld", r.status);
	s = rs_strdup(r.body);
	it_resp_free(&r);
	return s;
}

static void assert_mode_0600(const char *path) {
	struct stat st;
	TEST_ASSERT(stat(path, &st) == 0, "%s exists", path);
	TEST_ASSERT((st.st_mode & 0777) == 0600, "%s mode %o", path,
		    st.st_mode & 0777);
}

static bool file_has(const char *path, const char *needle) {
	FILE *fp = fopen(path, "r");
	char buf[8192];
	size_t n;
	if (!fp)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	return strstr(buf, needle) != NULL;
}

int main(void) {
	const char *bindir = rs_test_env_required("RS_BINARY_DIR");
	char bin[1024], dir[512], ds[600], cfg[600], path[1024];
	char *s1, *s2;
	child_t c;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	rs_snprintf(bin, sizeof(bin), "%s/sim/rostersync-sim", bindir);
	rs_test_mkdtemp(dir, sizeof(dir));
	rs_snprintf(ds, sizeof(ds), "%s/dataset.json", dir);
	rs_snprintf(cfg, sizeof(cfg), "%s/conf", dir);

	SUB_TEST("--port 0 --generate --save --print-config");
	{
		char *const argv[] = {bin, "--port", "0", "--generate",
				      "tenants=3,users=30,queues=3,seed=9,"
				      "cert_every=3",
				      "--save", ds, "--print-config", cfg,
				      "--token-lifetime", "600",
				      "--ledger-size", "10", NULL};
		start_sim(&c, argv);
	}
	s1 = get_state(c.port);

	SUB_TEST("print-config: files, file: references, 0600 secrets");
	rs_snprintf(path, sizeof(path), "%s/rostersync.conf", cfg);
	TEST_ASSERT(file_has(path, "tenants_dir = \"tenants.d\""),
		    "main file");
	rs_snprintf(path, sizeof(path), "%s/tenants.d/t001.conf", cfg);
	TEST_ASSERT(file_has(path, "client_secret = \"file:secrets/t001.graph\""),
		    "secret is a file: reference");
	{
		char want[128];
		rs_snprintf(want, sizeof(want),
			    "base_url = \"http://127.0.0.1:%d/graph/v1.0\"",
			    c.port);
		TEST_ASSERT(file_has(path, want), "graph base_url -> sim");
	}
	rs_snprintf(path, sizeof(path), "%s/tenants.d/t003.conf", cfg);
	TEST_ASSERT(file_has(path, "pfx = \"secrets/t003.pfx\""),
		    "certificate tenant uses its PFX");
	rs_snprintf(path, sizeof(path), "%s/tenants.d/secrets/t001.graph", cfg);
	assert_mode_0600(path);
	rs_snprintf(path, sizeof(path), "%s/tenants.d/secrets/t003.pfx", cfg);
	assert_mode_0600(path);
	assert_mode_0600(ds);

	SUB_TEST("SIGTERM with a hanging request in flight: exit 0");
	{
		char url[128];
		it_resp_t r;
		rs_snprintf(url, sizeof(url), "http://127.0.0.1:%d/_sim/faults",
			    c.port);
		it_http(&r, "POST", url, NULL,
			"{\"path\":\"/talkdesk/users\",\"kind\":\"hang\","
			"\"ms\":60000}",
			NULL, 0);
		TEST_ASSERT(r.status == 200, "fault");
		it_resp_free(&r);
		/* Fire the hanging request without waiting for it. */
		if (fork() == 0) {
			rs_snprintf(url, sizeof(url),
				    "http://127.0.0.1:%d/talkdesk/users",
				    c.port);
			it_http(&r, "GET", url, NULL, NULL, NULL, 5000);
			_exit(0);
		}
		rs_sleep_ms(300);
		TEST_ASSERT(stop_sim(&c) == 0, "clean exit");
		while (wait(NULL) > 0)
			;
	}

	SUB_TEST("--load gives back the same state");
	{
		char *const argv[] = {bin, "--port", "0", "--load", ds, NULL};
		start_sim(&c, argv);
	}
	s2 = get_state(c.port);
	TEST_ASSERT(!strcmp(s1, s2), "loaded state equals saved state");
	rs_free(s2);

	SUB_TEST("reset of a loaded dataset restores the file's state");
	{
		char url[128];
		it_resp_t r;
		rs_snprintf(url, sizeof(url),
			    "http://127.0.0.1:%d/_sim/churn?changes=30", c.port);
		it_http(&r, "POST", url, NULL, "", NULL, 0);
		TEST_ASSERT(r.status == 200, "churn %ld", r.status);
		it_resp_free(&r);
		s2 = get_state(c.port);
		TEST_ASSERT(strcmp(s1, s2), "churn changed the state");
		rs_free(s2);
		rs_snprintf(url, sizeof(url), "http://127.0.0.1:%d/_sim/reset",
			    c.port);
		it_http(&r, "POST", url, NULL, "", NULL, 0);
		TEST_ASSERT(r.status == 200, "reset %ld %s", r.status, r.body);
		it_resp_free(&r);
		s2 = get_state(c.port);
		TEST_ASSERT(!strcmp(s1, s2), "reset restored the loaded state");
	}
	TEST_ASSERT(stop_sim(&c) == 0, "clean exit");

	SUB_TEST("bad arguments: exit code 2");
	{
		char *const argv[] = {bin, "--generate", "tenants=0", NULL};
		pid_t pid = fork();
		int st;
		if (pid == 0) {
			execv(argv[0], argv);
			_exit(127);
		}
		waitpid(pid, &st, 0);
		TEST_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 2,
			    "exit %d", WEXITSTATUS(st));
	}

	rs_free(s1);
	rs_free(s2);
	rs_test_rmtree(dir);
	curl_global_cleanup();
	return rs_test_finish();
}
