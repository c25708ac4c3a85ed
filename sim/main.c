/*
 * main.c - rostersync-sim: the API simulator as a process.
 *
 *   rostersync-sim [--listen ADDR] [--port P] [--threads N]
 *                  [--generate tenants=N,users=U,queues=Q,seed=S]
 *                  [--load FILE] [--save FILE] [--print-config DIR]
 *                  [--pfx-dir DIR] [--token-lifetime S] [--budget RU]
 *                  [--app-budget N] [--write-budget N] [--ledger-size N]
 *                  [--ring-groups serve|retired|auto] [--talkdesk-rate N]
 *                  [--debug sim]
 *
 * Prints "rostersync-sim listening on http://ADDR:PORT" (the real port
 * when --port 0) on stdout once serving, then waits for SIGTERM/SIGINT.
 * The handlers only set a flag and write to a self-pipe (STYLE.md 14).
 */
#include "rs/rs_base.h"

#include "rs_sim.h"
#include "rs/rs_log.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

static volatile sig_atomic_t stop_flag;
static int sig_pipe[2] = {-1, -1};

static void on_signal(int sig) {
	int saved = errno;
	char c = (char)sig;
	stop_flag = 1;
	if (write(sig_pipe[1], &c, 1) < 0) {
		/* Nothing to do: the flag is set, the loop polls it. */
	}
	errno = saved;
}

static void usage(FILE *fp) {
	fprintf(fp,
		"usage: rostersync-sim [options]\n"
		"  --listen ADDR          IPv4 address (default 127.0.0.1)\n"
		"  --port P               port, 0 = ephemeral (default 0)\n"
		"  --threads N            HTTP thread pool size (default 4)\n"
		"  --generate SPEC        tenants=N,users=U,queues=Q,seed=S"
		"[,cert_every=K]\n"
		"  --load FILE            load a dataset saved with --save\n"
		"  --save FILE            save the dataset after building it\n"
		"  --print-config DIR     write a rostersync config for this sim\n"
		"  --pfx-dir DIR          write certificate tenants' PFX files\n"
		"  --token-lifetime S     access token lifetime (default 3599)\n"
		"  --budget RU            per-tenant RU per 10 s (default by "
		"size)\n"
		"  --app-budget N         per-app requests per 10 s (130000)\n"
		"  --write-budget N       per-tenant writes per 150 s (3000)\n"
		"  --ledger-size N        ledger ring entries (100000)\n"
		"  --ring-groups MODE     serve | retired | auto (default)\n"
		"  --talkdesk-rate N      Talkdesk requests/s per account (0=off)\n"
		"  --debug LIST           debug contexts, e.g. \"sim\" (one line "
		"per request)\n");
}

static bool parse_long(const char *s, long lo, long hi, long *out) {
	char *end;
	long v;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || !*s || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

int main(int argc, char **argv) {
	static const struct option opts[] = {
		{"listen", required_argument, NULL, 'l'},
		{"port", required_argument, NULL, 'p'},
		{"threads", required_argument, NULL, 'T'},
		{"generate", required_argument, NULL, 'g'},
		{"load", required_argument, NULL, 'L'},
		{"save", required_argument, NULL, 'S'},
		{"print-config", required_argument, NULL, 'c'},
		{"pfx-dir", required_argument, NULL, 'x'},
		{"token-lifetime", required_argument, NULL, 't'},
		{"budget", required_argument, NULL, 'b'},
		{"app-budget", required_argument, NULL, 'a'},
		{"write-budget", required_argument, NULL, 'w'},
		{"ledger-size", required_argument, NULL, 'z'},
		{"ring-groups", required_argument, NULL, 'r'},
		{"talkdesk-rate", required_argument, NULL, 'R'},
		{"debug", required_argument, NULL, 'd'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	rs_sim_conf_t conf;
	rs_sim_gen_t gen;
	const char *load = NULL, *save = NULL, *print_dir = NULL;
	bool do_gen = false;
	char errstr[512];
	rs_sim_t *sim = NULL;
	struct sigaction sa;
	int64_t t0 = rs_now_ms();
	int opt, rc = 2;
	long v;

	rs_sim_conf_init(&conf);
	rs_sim_gen_init(&gen);
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'l':
			conf.listen = optarg;
			break;
		case 'p':
			if (!parse_long(optarg, 0, 65535, &v))
				goto bad;
			conf.port = (int)v;
			break;
		case 'T':
			if (!parse_long(optarg, 1, 64, &v))
				goto bad;
			conf.threads = (int)v;
			break;
		case 'g':
			if (rs_sim_gen_parse(&gen, optarg, errstr,
					     sizeof(errstr)) != RS_OK) {
				fprintf(stderr, "rostersync-sim: %s\n", errstr);
				return 2;
			}
			do_gen = true;
			break;
		case 'L':
			load = optarg;
			break;
		case 'S':
			save = optarg;
			break;
		case 'c':
			print_dir = optarg;
			break;
		case 'x':
			gen.pfx_dir = optarg;
			break;
		case 't':
			if (!parse_long(optarg, 1, 86400 * 30, &v))
				goto bad;
			conf.token_lifetime_s = (int)v;
			break;
		case 'b':
			if (!parse_long(optarg, 0, 1000000000, &v))
				goto bad;
			conf.ru_budget = (int)v;
			break;
		case 'a':
			if (!parse_long(optarg, 0, 1000000000, &v))
				goto bad;
			conf.app_budget = (int)v;
			break;
		case 'w':
			if (!parse_long(optarg, 0, 1000000000, &v))
				goto bad;
			conf.write_budget = (int)v;
			break;
		case 'z':
			if (!parse_long(optarg, 1, 10000000, &v))
				goto bad;
			conf.ledger_size = (size_t)v;
			break;
		case 'r':
			if (!strcmp(optarg, "serve"))
				conf.ring_groups = RS_SIM_RG_SERVE;
			else if (!strcmp(optarg, "retired"))
				conf.ring_groups = RS_SIM_RG_RETIRED;
			else if (!strcmp(optarg, "auto"))
				conf.ring_groups = RS_SIM_RG_AUTO;
			else
				goto bad;
			break;
		case 'R':
			if (!parse_long(optarg, 0, 1000000, &v))
				goto bad;
			conf.talkdesk_rate = (int)v;
			break;
		case 'd':
			/* Before any thread starts (STYLE.md 11). */
			if (rs_log_set_debug(optarg, errstr, sizeof(errstr))) {
				fprintf(stderr, "rostersync-sim: %s\n", errstr);
				return 2;
			}
			rs_log_set_level(LOG_DEBUG);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || (load && do_gen)) {
		usage(stderr);
		return 2;
	}

	if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
		perror("pipe2");
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	rc = 1;
	sim = rs_sim_new(&conf, errstr, sizeof(errstr));
	if (!sim)
		goto fail;
	if (load) {
		if (rs_sim_load(sim, load, errstr, sizeof(errstr)) != RS_OK)
			goto fail;
	} else if (rs_sim_generate(sim, &gen, errstr, sizeof(errstr)) !=
		   RS_OK) {
		goto fail;
	}
	if (save && rs_sim_save(sim, save, errstr, sizeof(errstr)) != RS_OK)
		goto fail;
	if (rs_sim_start(sim, errstr, sizeof(errstr)) != RS_OK)
		goto fail;
	if (print_dir &&
	    rs_sim_print_config(sim, print_dir, errstr, sizeof(errstr)) !=
		    RS_OK)
		goto fail;
	printf("rostersync-sim listening on %s (port %d, ready in %lld ms)\n",
	       rs_sim_base_url(sim), rs_sim_port(sim),
	       (long long)(rs_now_ms() - t0));
	fflush(stdout);

	/* Wait for a signal; the poll timeout bounds any missed wakeup. */
	while (!stop_flag) {
		struct pollfd pfd = {.fd = sig_pipe[0], .events = POLLIN};
		if (poll(&pfd, 1, 500) > 0) {
			char buf[16];
			while (read(sig_pipe[0], buf, sizeof(buf)) > 0)
				;
		}
	}
	fprintf(stderr, "rostersync-sim: shutting down\n");
	rs_sim_destroy(sim);
	close(sig_pipe[0]);
	close(sig_pipe[1]);
	return 0;
bad:
	fprintf(stderr, "rostersync-sim: bad value for --%s: %s\n",
		opts[0].name ? "option" : "", optarg);
	usage(stderr);
	return 2;
fail:
	fprintf(stderr, "rostersync-sim: %s\n", errstr);
	rs_sim_destroy(sim);
	return rc;
}
