/*
 * cli_common.c - what every rostersync subcommand shares: configuration
 * loading (-c / -X through the real config setter, STYLE.md 13), time
 * parsing for --since/--until, and signal handling.
 */
#include "rs/rs_base.h"
#include "rs_cli.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The one piece of process state: a signal handler can only reach a
 * global, and sig_atomic_t is all it may write. */
static volatile sig_atomic_t stop_flag;

static void on_signal(int sig) {
	static const char msg[] = "rostersync: interrupted again, exiting\n";

	(void)sig;
	if (stop_flag) {
		/* Second signal: the operator wants out now. */
		if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
			_exit(130);
		_exit(130);
	}
	stop_flag = 1;
}

void rs_cli_signals_install(volatile sig_atomic_t **flag) {
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	*flag = &stop_flag;
}

rs_err_t rs_cli_confopts_add(rs_cli_confopts_t *co, const char *kv,
			     FILE *err) {
	if (!strchr(kv, '=') || kv[0] == '=') {
		fprintf(err, "rostersync: -X needs key=value, got '%s'\n", kv);
		return RS_ERR_INVALID_ARG;
	}
	if (co->n_overrides >= RS_CLI_MAX_OVERRIDES) {
		fprintf(err, "rostersync: too many -X overrides (max %d)\n",
			RS_CLI_MAX_OVERRIDES);
		return RS_ERR_TOO_LARGE;
	}
	co->overrides[co->n_overrides++] = kv;
	return RS_OK;
}

rs_conf_t *rs_cli_conf_load(rs_cli_confopts_t *co, const char *prog,
			    FILE *err) {
	const char *file = co->file ? co->file : getenv("ROSTERSYNC_CONFIG");
	char *errstr;
	rs_conf_t *conf;

	if (!file || !*file) {
		fprintf(err,
			"%s: no configuration: give -c FILE (or set "
			"ROSTERSYNC_CONFIG)\n",
			prog);
		return NULL;
	}
	/* rs_conf collects every error, one per line: give it room. */
	errstr = rs_calloc(1, 65536);
	conf = rs_conf_load(file, co->overrides, co->n_overrides, errstr,
			    65536);
	if (!conf)
		fprintf(err, "%s: %s\n", prog, errstr);
	else
		rs_conf_apply_log(conf);
	rs_free(errstr);
	return conf;
}

/* Reads exactly @p n digits at *pp into *v. */
static bool digits(const char **pp, int n, int *v) {
	int r = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*pp)[i]))
			return false;
		r = r * 10 + ((*pp)[i] - '0');
	}
	*pp += n;
	*v = r;
	return true;
}

/* Gregorian rule; dates before 1970 are refused earlier, so no
 * proleptic-calendar questions arise. */
static bool leap(int y) {
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* "30m" style: a positive integer and one unit. */
static rs_err_t parse_relative(const char *s, int64_t now_ms, int64_t *out) {
	static const struct {
		char unit;
		int64_t ms;
	} units[] = {{'s', 1000},
		     {'m', 60 * 1000},
		     {'h', 3600 * 1000},
		     {'d', 86400 * 1000},
		     {'w', 7 * 86400 * 1000LL}};
	char *end;
	long long n;

	if (!isdigit((unsigned char)s[0]))
		return RS_ERR_PARSE;
	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno || end[0] == '\0' || end[1] != '\0')
		return RS_ERR_PARSE;
	for (size_t i = 0; i < RS_ARRAY_SIZE(units); i++) {
		if (units[i].unit != end[0])
			continue;
		/* Bounded so the subtraction cannot overflow: 100 years. */
		if (n > (100LL * 366 * 86400 * 1000) / units[i].ms)
			return RS_ERR_PARSE;
		*out = now_ms - n * units[i].ms;
		return RS_OK;
	}
	return RS_ERR_PARSE;
}

rs_err_t rs_cli_time_parse(const char *s, int64_t now_ms, int64_t *out_ms) {
	static const int mdays[] = {31, 28, 31, 30, 31, 30,
				    31, 31, 30, 31, 30, 31};
	const char *p = s;
	int y, mo, d, h = 0, mi = 0, sec = 0, oh = 0, om = 0, sign = 0;
	int64_t frac_ms = 0, scale = 100;
	struct tm tm;
	time_t t;

	if (!s || !*s)
		return RS_ERR_PARSE;
	if (!strcmp(s, "now")) {
		*out_ms = now_ms;
		return RS_OK;
	}
	if (parse_relative(s, now_ms, out_ms) == RS_OK)
		return RS_OK;
	/* Digit by digit rather than sscanf: sscanf accepts signs, spaces
	 * and short fields ("2026-1-5"), which RFC 3339 does not. */
	if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) ||
	    *p++ != '-' || !digits(&p, 2, &d))
		return RS_ERR_PARSE;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 ||
	    d > mdays[mo - 1] + (mo == 2 && leap(y)))
		return RS_ERR_PARSE;
	if (*p == '\0')
		goto done; /* a date alone: midnight UTC */
	if (*p != 'T' && *p != 't' && *p != ' ')
		return RS_ERR_PARSE;
	p++;
	if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi) ||
	    *p++ != ':' || !digits(&p, 2, &sec))
		return RS_ERR_PARSE;
	/* 60 is a leap second (RFC 3339 5.6); timegm carries it over. */
	if (h > 23 || mi > 59 || sec > 60)
		return RS_ERR_PARSE;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return RS_ERR_PARSE;
		/* Milliseconds are kept; further digits are read and
		 * dropped (RFC 3339 allows any number). */
		for (; isdigit((unsigned char)*p); p++) {
			frac_ms += scale * (*p - '0');
			scale /= 10;
		}
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p++ == '+' ? 1 : -1;
		if (!digits(&p, 2, &oh) || *p++ != ':' || !digits(&p, 2, &om) ||
		    oh > 23 || om > 59)
			return RS_ERR_PARSE;
	} else {
		/* A time without a zone is ambiguous: refuse it. */
		return RS_ERR_PARSE;
	}
	if (*p != '\0')
		return RS_ERR_PARSE;
done:
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	/* timegm, not mktime: the fields are UTC whatever TZ says. */
	t = timegm(&tm);
	if (t == (time_t)-1)
		return RS_ERR_PARSE;
	*out_ms = (int64_t)t * 1000 + frac_ms -
		  (int64_t)sign * (oh * 3600 + om * 60) * 1000;
	return RS_OK;
}

void rs_cli_time_fmt(int64_t ms, char *buf, size_t size) {
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;

	if (ms <= 0 || !gmtime_r(&secs, &tm)) {
		rs_snprintf(buf, size, "-");
		return;
	}
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
