/*
 * cli_task.c - a function on its own thread with a "done" flag the
 * starting thread can poll between progress samples (rs_cli_task.h).
 */
#include "rs/rs_base.h"
#include "rs_cli_task.h"

#include <string.h>

static void *task_main(void *opaque) {
	rs_cli_task_t *t = opaque;

	t->err = t->fn(t->arg);
	/* Release: err is written before done reads true elsewhere. */
	atomic_store_explicit(&t->done, true, memory_order_release);
	return NULL;
}

rs_err_t rs_cli_task_start(rs_cli_task_t *t, rs_cli_task_fn_t *fn,
			   void *arg) {
	memset(t, 0, sizeof(*t));
	t->fn = fn;
	t->arg = arg;
	atomic_init(&t->done, false);
	if (pthread_create(&t->thr, NULL, task_main, t) != 0)
		return RS_ERR_FAIL;
	return RS_OK;
}

bool rs_cli_task_done(rs_cli_task_t *t) {
	return atomic_load_explicit(&t->done, memory_order_acquire);
}

rs_err_t rs_cli_task_join(rs_cli_task_t *t) {
	pthread_join(t->thr, NULL);
	return t->err;
}
