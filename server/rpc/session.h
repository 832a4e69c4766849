/* The session calls every connection starts with: Hello (protocol version
 * and the server's limits) and Ping. Listed in methods.c. */
#pragma once

struct rpc_call;

void session_hello(struct rpc_call *call);
void session_ping(struct rpc_call *call);
/* Test builds only; UNIMPLEMENTED otherwise. */
void session_advance_clock(struct rpc_call *call);
