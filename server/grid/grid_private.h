/* What the files of the grid domain share: grid.c (lifecycle, sync,
 * helpers), grid_read.c, grid_write.c, grid_import.c. */
#pragma once

#include <stdbool.h>

#include <libpq-fe.h>

#include "common/arena.h"
#include "proto/grid.pb-c.h"
#include "server/grid/tree.h"

struct rpc_call;
struct server;

struct grid {
	struct server *srv;
	struct tree *tree;
	bool syncing; /* a sync query is in flight */
	bool resync;  /* another notification came meanwhile */
	bool stopped;
};

struct grid *grid_of(const struct rpc_call *call);

/* The node message for n; strings borrowed from the cache (the reply is
 * packed before the cache can change). NULL when out of memory. */
Grid__V1__Node *grid_node_msg(const struct grid *g, struct arena *a, const struct tree_node *n);

const char *grid_level_name(const struct grid *g, unsigned level);
/* Level number of a level name; -EINVAL when unknown. */
int grid_level_parse(const struct grid *g, const char *name, unsigned *ret_level);
/* Parses a level name from a request; on failure ends the call with
 * INVALID_ARGUMENT listing the levels and returns -EINVAL. */
int grid_level_arg(struct rpc_call *call, const char *name, unsigned *ret_level);
/* "district, subdistrict, ..." for messages. */
const char *grid_level_list(const struct grid *g, struct arena *a);

/* Looks up code for a request; on failure ends the call with NOT_FOUND (or
 * INVALID_ARGUMENT for an empty code) and returns NULL. what names the
 * field in the message ("node", "parent"). */
struct tree_node *grid_lookup(struct rpc_call *call, const char *code, const char *what);

/* Field checks shared by the single-node writes and the import. Each
 * returns NULL when the value is fine, else the reason in words. Text
 * values are trimmed in place first. */
const char *grid_check_code(const char *code);
const char *grid_check_name(char *name);
const char *grid_check_leader(char *leader_name);
const char *grid_check_phone(char *phone);

/* Applies the node rows of a write's result to the cache; returns the
 * number applied and the first node in *ret_first (may be NULL). */
int grid_apply_result(struct grid *g, const PGresult *res, struct tree_node **ret_first);
