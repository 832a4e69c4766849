/* The grid domain: the tree of nodes (district down to building), its cache
 * and its methods. server.c creates and stops it; methods.c lists the
 * handlers below in the dispatch table.
 */
#pragma once

#include <stddef.h>

#include <libpq-fe.h>

struct grid;
struct rpc_call;
struct server;
struct tree;

/* Loads the tree with the start-up connection pg (blocking). */
int grid_create(struct server *srv, PGconn *pg, struct grid **ret_grid, char *err, size_t errlen);
/* Once the pool exists: registers the statements. */
int grid_start(struct grid *g);
/* Reads back changes newer than the cache: on NOTIFY grid_changed and after
 * the listener reconnects. */
void grid_sync(struct grid *g);
/* Stops following changes (before the pool closes). */
void grid_stop(struct grid *g);
/* Accepts NULL. */
void grid_destroy(struct grid *g);
/* The in-memory tree, for authorization checks of other domains. */
struct tree *grid_tree(const struct grid *g);

void grid_get_node(struct rpc_call *call);
void grid_list_children(struct rpc_call *call);
void grid_get_subtree(struct rpc_call *call);
void grid_get_ancestors(struct rpc_call *call);
void grid_find_nodes(struct rpc_call *call);
void grid_export(struct rpc_call *call);
void grid_create_node(struct rpc_call *call);
void grid_rename_node(struct rpc_call *call);
void grid_set_leader(struct rpc_call *call);
void grid_move_node(struct rpc_call *call);
void grid_retire_node(struct rpc_call *call);
void grid_import(struct rpc_call *call);
