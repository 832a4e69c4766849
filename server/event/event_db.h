/* Every SQL statement of the event module, and the reading of event rows.
 * Called by event.c (the reader that follows the table, replays of
 * subscriptions) and event_list.c (ListEvents). The rows are written by the
 * case and task modules through event_emit() (migration 0003).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "common/arena.h"
#include "server/db/pool.h"

enum event_stmt {
	EVENT_STMT_LIST, /* ListEvents and replays: filtered, with the snapshot's newest seq */
	EVENT_STMT_COUNT,
};

/* On the server's pool. */
extern struct db_stmt event_stmts[EVENT_STMT_COUNT];
/* The reader's (every event after a seq), on its own connection. */
extern struct db_stmt event_next_stmt;

/* Rows per read of the reader; a full page is followed by another read. */
#define EVENT_NEXT_PAGE 1000

/* An event as read (strings borrowed from the result). */
struct event_row {
	uint64_t seq;
	int64_t at_ms;
	const char *kind;
	int64_t node_id;
	const char *node_code;
	const char *node_name;
	const char *from_code; /* "" when none */
	uint64_t case_id;      /* 0 when none */
	uint64_t task_id;
	const char *actor;
	const char *summary;
	const char *node_path; /* the ids from the top down to the node, "1.2.7" */
};

/* What a listing asks for. Array values are PostgreSQL array literals. */
struct event_filter {
	uint64_t after_seq;
	uint64_t upto_seq;	  /* 0: no bound */
	int64_t node_id;	  /* the subtree; 0: the whole grid */
	const char *exact_kinds;  /* "{case.raised,...}"; both "{}": every kind */
	const char *prefix_kinds; /* "{case.,...}" */
	/* Where the caller reads case events and task events: everywhere in
	 * the subtree (all), or below the nodes listed. */
	bool case_all;
	const char *case_nodes; /* "{12,40}" */
	bool task_all;
	const char *task_nodes;
	uint64_t case_id; /* 0: any */
	uint64_t task_id;
	uint32_t limit;
};

/* Appends the reader's statement (events after after_seq, EVENT_NEXT_PAGE
 * at most) to q; the parameter is copied into arena, which must outlive
 * the query. */
int event_db_add_next(struct db_query *q, struct arena *arena, uint64_t after_seq);
/* Appends the listing statement for f; parameters copied into arena. */
int event_db_add_list(struct db_query *q, struct arena *arena, const struct event_filter *f);

/* Row i of the reader's result into *ret. -EPROTO when it does not parse. */
int event_db_next_row(const PGresult *res, int i, struct event_row *ret);
/* Row i of a listing's result: the snapshot's newest seq into *ret_top and
 * the event into *ret. Returns 0, 1 when the row carries no event (the
 * listing found none; only *ret_top is set), or -EPROTO. */
int event_db_list_row(const PGresult *res, int i, uint64_t *ret_top, struct event_row *ret);

/* The newest seq, with the blocking start-up connection. */
int event_db_max_seq(PGconn *pg, uint64_t *ret_seq, char *err, size_t errlen);
