/*
 * rs_log.h - the one log function.
 *
 * rs_log(ctx, LOG_WARNING, "HTTP429", fmt, ...): a syslog level, an upper-case
 * facility, one line.  The context (tenant, job id, key, generation, attempt,
 * request-id) is added by the caller passing an rs_log_ctx_t, which may be
 * NULL.  Output is JSON lines or plain text.  The sink, format, level and
 * debug mask are process-wide and set before any thread starts (STYLE.md 11).
 */
#ifndef RS_LOG_H
#define RS_LOG_H

#include "rs_base.h"
#include <syslog.h>

/** Debug contexts, a bitmask set by `debug = "http,queue,auth"`. */
#define RS_DBG_HTTP (1u << 0)
#define RS_DBG_QUEUE (1u << 1)
#define RS_DBG_AUTH (1u << 2)
#define RS_DBG_PLAN (1u << 3)
#define RS_DBG_WORKER (1u << 4)
#define RS_DBG_SIM (1u << 5)
#define RS_DBG_CONF (1u << 6)
#define RS_DBG_ALL 0xffffffffu

typedef enum { RS_LOG_FMT_TEXT = 0, RS_LOG_FMT_JSON = 1 } rs_log_fmt_t;

/** Per-event context; every field may be NULL / 0. Plain value struct. */
typedef struct rs_log_ctx_s {
	const char *tenant;
	const char *job_id;
	const char *key;
	int64_t generation;
	int attempt;
	const char *request_id;
} rs_log_ctx_t;

/** @brief Sets the level (LOG_ERR..LOG_DEBUG). Call before threads start. */
void rs_log_set_level(int level);
int rs_log_level(void);
/** @brief Sets the format. Call before threads start. */
void rs_log_set_format(rs_log_fmt_t fmt);
/** @brief Sets the debug mask from "http,queue,auth" (or "all").
 *  @returns RS_OK-like 0, or -1 naming the bad context in errstr. */
int rs_log_set_debug(const char *list, char *errstr, size_t errstr_size);
/** @brief True when the debug context is enabled: test before formatting. */
bool rs_log_debug_enabled(unsigned int ctx_bit);
/** @brief Redirects output to fd (default 2). */
void rs_log_set_fd(int fd);

/** @brief Logs one line. Thread-safe (one write(2) per line). */
void rs_log(const rs_log_ctx_t *ctx, int level, const char *fac,
	    const char *fmt, ...) RS_PRINTF(4, 5);

/** @brief Debug log guarded by the mask. */
#define rs_dbg(ctx, bit, fac, ...)                                             \
	do {                                                                   \
		if (rs_log_debug_enabled(bit))                                 \
			rs_log(ctx, LOG_DEBUG, fac, __VA_ARGS__);              \
	} while (0)

/** @brief Async-signal-safe: write(2) of a constant message only. */
void rs_log_from_handler(const char *msg);

#endif /* RS_LOG_H */
