/* The dispatch table: every call of the protocol, its handler and what it
 * needs. rpc.c indexes it by the call's field number at start; a call
 * missing here is answered UNIMPLEMENTED. */
#include "server/grid/grid.h"
#include "server/rpc/rpc.h"
#include "server/rpc/session.h"

#define CALL(name) GRID__V1__REQUEST__CALL_##name

const struct rpc_method rpc_methods[] = {
    {CALL(HELLO), "Hello", session_hello, RPC_BEFORE_HELLO},
    {CALL(PING), "Ping", session_ping, 0},

    {CALL(GET_NODE), "GetNode", grid_get_node, 0},
    {CALL(LIST_CHILDREN), "ListChildren", grid_list_children, 0},
    {CALL(GET_SUBTREE), "GetSubtree", grid_get_subtree, 0},
    {CALL(GET_ANCESTORS), "GetAncestors", grid_get_ancestors, 0},
    {CALL(FIND_NODES), "FindNodes", grid_find_nodes, 0},
    {CALL(EXPORT_GRID), "ExportGrid", grid_export, 0},
    {CALL(CREATE_NODE), "CreateNode", grid_create_node, RPC_WRITE},
    {CALL(RENAME_NODE), "RenameNode", grid_rename_node, RPC_WRITE},
    {CALL(SET_LEADER), "SetLeader", grid_set_leader, RPC_WRITE},
    {CALL(MOVE_NODE), "MoveNode", grid_move_node, RPC_WRITE},
    {CALL(RETIRE_NODE), "RetireNode", grid_retire_node, RPC_WRITE},
    {CALL(IMPORT_GRID), "ImportGrid", grid_import, RPC_WRITE},
};

const size_t rpc_nmethods = sizeof(rpc_methods) / sizeof(rpc_methods[0]);
