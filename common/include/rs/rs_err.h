/*
 * rs_err.h - the one error table.
 *
 * RS_ERR_MAP(XX) lists every error code once: XX(code, NAME, "message").
 * rs_err_t, rs_err_name() and rs_err_str() are generated from it (libuv's
 * UV_ERRNO_MAP).  RS_OK is 0; ranges: local 1-99, HTTP/API 100-199,
 * queue 200-299, config 300-399.
 *
 * rs_error_t is an error that travels: a job attempt's outcome with its class
 * (retriable, fatal, retry_after_ms) in one allocation, as librdkafka's
 * rd_kafka_error_t.  Retry/DLQ/supersede decisions read the flags, never the
 * text.
 */
#ifndef RS_ERR_H
#define RS_ERR_H

#include "rs_base.h"

#define RS_ERR_MAP(XX)                                                         \
	XX(0, OK, "Success")                                                   \
	/* local */                                                            \
	XX(1, FAIL, "Generic failure")                                         \
	XX(2, INVALID_ARG, "Invalid argument")                                 \
	XX(3, TOO_LARGE, "Size limit exceeded")                                \
	XX(4, NOT_FOUND, "Not found")                                          \
	XX(5, EXISTS, "Already exists")                                        \
	XX(6, IO, "I/O error")                                                 \
	XX(7, PARSE, "Malformed input")                                        \
	XX(8, TIMEOUT, "Timed out")                                            \
	XX(9, CANCELLED, "Cancelled")                                          \
	XX(10, CRYPTO, "Cryptographic operation failed")                       \
	XX(11, STATE, "Operation not valid in this state")                     \
	XX(12, UNSUPPORTED, "Unsupported")                                     \
	XX(13, AGAIN, "Try again")                                             \
	/* HTTP and remote APIs */                                             \
	XX(100, HTTP_TRANSPORT, "HTTP transport error")                        \
	XX(101, HTTP_STATUS, "Unexpected HTTP status")                         \
	XX(102, HTTP_THROTTLED, "Throttled by the remote API")                 \
	XX(103, HTTP_SERVER, "Remote server error")                            \
	XX(104, HTTP_CLIENT, "Request rejected by the remote API")             \
	XX(105, AUTH, "Authentication failed")                                 \
	XX(106, FORBIDDEN, "Access denied by the remote API")                  \
	XX(107, REMOTE_NOT_FOUND, "Remote object not found")                   \
	XX(108, BAD_RESPONSE, "Malformed response from the remote API")        \
	XX(109, RETIRED, "Remote endpoint retired or missing")                 \
	/* queue */                                                            \
	XX(200, QUEUE, "Queue error")                                          \
	XX(201, QUEUE_FATAL, "Fatal queue error")                              \
	XX(202, QUEUE_NO_BROKER, "No broker reachable")                        \
	XX(203, BAD_MESSAGE, "Malformed queue message")                        \
	XX(204, SUPERSEDED, "Superseded by a newer generation")                \
	/* config */                                                           \
	XX(300, CONFIG, "Configuration error")                                 \
	XX(301, CONFIG_UNKNOWN_KEY, "Unknown configuration key")               \
	XX(302, CONFIG_TYPE, "Configuration value has the wrong type")         \
	XX(303, CONFIG_RANGE, "Configuration value out of range")              \
	XX(304, CONFIG_MISSING, "Required configuration key missing")          \
	XX(305, SECRET, "Secret reference could not be resolved")

typedef enum {
#define RS_ERR_ENUM(code, name, msg) RS_ERR_##name = code,
	RS_ERR_MAP(RS_ERR_ENUM)
#undef RS_ERR_ENUM
} rs_err_t;

#define RS_OK RS_ERR_OK

/** @brief Upper-case symbolic name ("TOO_LARGE"); "UNKNOWN" if not in the table. */
const char *rs_err_name(rs_err_t err);
/** @brief Human-readable message for err. */
const char *rs_err_str(rs_err_t err);

/**
 * A travelling error: one allocation, NULL-safe destroy.
 * Fields are read through accessors only.
 */
typedef struct rs_error_s rs_error_t;

/**
 * @brief Creates an error.  @p fmt is printf-like and becomes the message
 *        (truncated to 1 KiB).
 * @remark flags are independent: a retriable error may carry retry_after_ms.
 */
rs_error_t *rs_error_new(rs_err_t code, bool retriable, bool fatal,
			 int64_t retry_after_ms, const char *fmt, ...)
	RS_PRINTF(5, 6);
void rs_error_destroy(rs_error_t *error);
rs_err_t rs_error_code(const rs_error_t *error);
const char *rs_error_msg(const rs_error_t *error);
bool rs_error_retriable(const rs_error_t *error);
bool rs_error_fatal(const rs_error_t *error);
/** @returns the server-requested delay in ms, or -1 when none was given. */
int64_t rs_error_retry_after_ms(const rs_error_t *error);
/** HTTP status that caused the error, 0 if none. */
int rs_error_http_status(const rs_error_t *error);
void rs_error_set_http_status(rs_error_t *error, int status);

#endif /* RS_ERR_H */
