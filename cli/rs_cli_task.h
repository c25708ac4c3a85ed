/*
 * rs_cli_task.h - one function run on its own thread while the caller's
 * thread keeps the terminal, the signals and the progress samples
 * (`rostersync run` and `rostersync demo`).
 *
 * Why a thread per phase: the planner cycle and the worker pool block for
 * as long as they work, but a signal must reach rs_worker_stop() promptly
 * and the demo samples its counters every 250 ms.  The signal handler only
 * sets a flag (STYLE.md 14); the caller's loop reads it and acts.
 */
#ifndef RS_CLI_TASK_H
#define RS_CLI_TASK_H

#include "rs/rs_base.h"
#include "rs/rs_err.h"

#include <pthread.h>
#include <stdatomic.h>

/** The work: returns its outcome. */
typedef rs_err_t(rs_cli_task_fn_t)(void *arg);

/** A running task; embedded by the caller (_start/_join). */
typedef struct rs_cli_task_s {
	pthread_t thr;
	rs_cli_task_fn_t *fn;
	void *arg;
	atomic_bool done; /**< set by the thread when fn returned */
	rs_err_t err;     /**< fn's result, valid once done */
} rs_cli_task_t;

/**
 * @brief Starts fn(arg) on a new thread.
 * @returns RS_OK or RS_ERR_FAIL (thread not created; nothing to join).
 */
rs_err_t rs_cli_task_start(rs_cli_task_t *t, rs_cli_task_fn_t *fn, void *arg);

/** @returns true once fn has returned.  @locality any thread. */
bool rs_cli_task_done(rs_cli_task_t *t);

/** @brief Waits for the thread.  @returns fn's result. */
rs_err_t rs_cli_task_join(rs_cli_task_t *t);

#endif /* RS_CLI_TASK_H */
