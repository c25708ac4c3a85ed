/*
 * fuzz_queue_hdrs.c - the SQLite queue's header blob decoder
 * (rs_qsql_row_msg(), common/rs_queue_sqlite_db.c).  The blob comes from
 * the queue file, which other processes write and a disk can damage: any
 * input must give a message whose headers all lie inside the blob, or no
 * headers at all.
 */
#include "rs/rs_base.h"
#include "rs/rs_queue.h"
#include "rs_queue_sqlite_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	rs_qmsg_t *msg;
	size_t i, n;

	if (size > 1 << 20)
		return 0;
	if (sqlite3_open(":memory:", &db) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT 1, NULL, NULL, ?1, 0", -1, &st,
			       NULL) != SQLITE_OK)
		abort();
	sqlite3_bind_blob(st, 1, size ? (const void *)data : "", (int)size,
			  SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW)
		abort();
	msg = rs_qsql_row_msg(st, "t", 0);
	/* Touch every byte the decoder pointed at, so ASan sees any read
	 * outside the message's own copy of the blob. */
	n = rs_qmsg_header_cnt(msg);
	rs_assert(n <= RS_QUEUE_MAX_HEADERS);
	for (i = 0; i < n; i++) {
		const rs_queue_header_t *h = rs_qmsg_header_at(msg, i);
		volatile size_t sum = strlen(h->name);
		size_t j;
		for (j = 0; h->value && j < h->size; j++)
			sum += ((const uint8_t *)h->value)[j];
		(void)sum;
	}
	rs_free(msg);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return 0;
}
