/* Every SQL statement of the grid domain, and the reading of node rows.
 * Called by grid.c (start-up load and sync), grid_write.c and
 * grid_import.c. The statements call the grid_* functions of migration
 * 0001, which check the tree's rules under a lock.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "common/buf.h"
#include "server/db/pool.h"
#include "server/grid/tree.h"

enum grid_stmt {
	GRID_STMT_SYNC,
	GRID_STMT_CREATE,
	GRID_STMT_UPDATE,
	GRID_STMT_MOVE,
	GRID_STMT_RETIRE,
	GRID_STMT_IMPORT,
	GRID_STMT_COUNT,
};

extern struct db_stmt grid_stmts[GRID_STMT_COUNT];

/* Column order of every statement that returns nodes. */
enum grid_col {
	GRID_COL_ID,
	GRID_COL_PARENT_ID,
	GRID_COL_LEVEL,
	GRID_COL_CODE,
	GRID_COL_NAME,
	GRID_COL_LEADER_NAME,
	GRID_COL_LEADER_PHONE,
	GRID_COL_RETIRED,
	GRID_COL_VERSION,
	GRID_COL_CHANGE, /* write statements only */
};

/* Reads row i of res into *ret (strings borrowed from res). -EPROTO when a
 * value does not parse. */
int grid_db_row(const PGresult *res, int i, struct tree_row *ret);

/* Blocking load of the whole tree at start-up, in one consistent snapshot.
 * Sets the tree's version. */
int grid_db_load(PGconn *pg, struct tree *t, char *err, size_t errlen);
