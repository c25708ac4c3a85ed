/*
 * rs_err.c - error names, messages and the travelling error object.
 */
#include "rs/rs_base.h"
#include "rs/rs_err.h"

struct rs_error_s {
	rs_err_t code;
	bool retriable;
	bool fatal;
	int http_status;
	int64_t retry_after_ms;
	char msg[]; /* one allocation: the message follows the struct */
};

const char *rs_err_name(rs_err_t err) {
	switch (err) {
#define RS_ERR_NAME_CASE(code, name, msg)                                      \
	case RS_ERR_##name:                                                    \
		return #name;
		RS_ERR_MAP(RS_ERR_NAME_CASE)
#undef RS_ERR_NAME_CASE
	}
	return "UNKNOWN";
}

const char *rs_err_str(rs_err_t err) {
	switch (err) {
#define RS_ERR_STR_CASE(code, name, msg)                                       \
	case RS_ERR_##name:                                                    \
		return msg;
		RS_ERR_MAP(RS_ERR_STR_CASE)
#undef RS_ERR_STR_CASE
	}
	return "Unknown error";
}

rs_error_t *rs_error_new(rs_err_t code, bool retriable, bool fatal,
			 int64_t retry_after_ms, const char *fmt, ...) {
	char tmp[1024];
	va_list ap;
	size_t len;
	rs_error_t *error;

	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	len = strlen(tmp);

	error = rs_malloc(sizeof(*error) + len + 1);
	error->code = code;
	error->retriable = retriable;
	error->fatal = fatal;
	error->http_status = 0;
	error->retry_after_ms = retry_after_ms;
	memcpy(error->msg, tmp, len + 1);
	return error;
}

void rs_error_destroy(rs_error_t *error) {
	rs_free(error);
}

rs_err_t rs_error_code(const rs_error_t *error) {
	return error ? error->code : RS_OK;
}

const char *rs_error_msg(const rs_error_t *error) {
	return error ? error->msg : "";
}

bool rs_error_retriable(const rs_error_t *error) {
	return error && error->retriable;
}

bool rs_error_fatal(const rs_error_t *error) {
	return error && error->fatal;
}

int64_t rs_error_retry_after_ms(const rs_error_t *error) {
	return error ? error->retry_after_ms : -1;
}

int rs_error_http_status(const rs_error_t *error) {
	return error ? error->http_status : 0;
}

void rs_error_set_http_status(rs_error_t *error, int status) {
	error->http_status = status;
}
