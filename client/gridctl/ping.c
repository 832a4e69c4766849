/* gridctl ping: checks that the server answers and shows what it said in
 * Hello (name, version, protocol, level names) and the round trip of one
 * Ping. Dispatched from main.c.
 */
#include <errno.h>
#include <stdio.h>

#include "client/gridctl/args.h"
#include "client/gridctl/gridctl.h"
#include "client/gridctl/output.h"
#include "client/gridctl/table.h"

static const char ping_help[] =
    "Usage: gridctl ping\n"
    "\n"
    "Connects, sends one Ping and prints the server's name and version, the\n"
    "protocol version, the round-trip time of the ping and the names of the\n"
    "grid levels the server is configured with.\n"
    "\n"
    "Examples:\n"
    "  gridctl ping\n"
    "  gridctl --server 127.0.0.1:7420 --timeout 2 ping\n"
    "  gridctl --json ping\n";

static int print_json(const Grid__V1__HelloReply *h, const Grid__V1__Pong *pong, double rtt_ms)
{
	struct json_writer w;
	struct buf out;
	int r;

	buf_init(&out, 0);
	json_writer_init(&w, &out, false);
	json_begin_object(&w);
	json_key(&w, "server_name");
	json_string(&w, h->server_name);
	json_key(&w, "server_version");
	json_string(&w, h->server_version);
	json_key(&w, "protocol_version");
	json_uint(&w, h->protocol_version);
	json_key(&w, "rtt_ms");
	json_double(&w, rtt_ms);
	json_key(&w, "server_time_ms");
	json_int(&w, pong->server_time_ms);
	json_key(&w, "level_names");
	json_begin_array(&w);
	for (size_t i = 0; i < h->n_level_names; i++)
		json_string(&w, h->level_names[i]);
	json_end_array(&w);
	if (h->limits) {
		json_key(&w, "limits");
		json_begin_object(&w);
		json_key(&w, "max_frame_before_login");
		json_uint(&w, h->limits->max_frame_before_login);
		json_key(&w, "max_frame");
		json_uint(&w, h->limits->max_frame);
		json_key(&w, "max_inflight");
		json_uint(&w, h->limits->max_inflight);
		json_key(&w, "max_page_size");
		json_uint(&w, h->limits->max_page_size);
		json_key(&w, "idle_timeout_ms");
		json_uint(&w, h->limits->idle_timeout_ms);
		json_end_object(&w);
	}
	json_end_object(&w);
	r = output_json_flush(&w, &out);
	buf_finish(&out);
	return r;
}

static int print_text(const struct ctl *ctl, const Grid__V1__HelloReply *h, double rtt_ms)
{
	struct table *t = table_create(2);
	char proto[16], rtt[32];
	struct buf server, levels, out;
	int r = t ? 0 : -ENOMEM;

	buf_init(&server, 0);
	buf_init(&levels, 0);
	buf_init(&out, 0);
	snprintf(proto, sizeof(proto), "%u", h->protocol_version);
	snprintf(rtt, sizeof(rtt), "%.2f ms", rtt_ms);
	if (r == 0)
		r = buf_printf(&server, "%s %s at %s",
			       h->server_name[0] ? h->server_name : "(unnamed)", h->server_version,
			       ctl->server);
	for (size_t i = 0; i < h->n_level_names && r == 0; i++)
		r = buf_printf(&levels, "%s%s", i ? ", " : "", h->level_names[i]);
	if (r == 0) {
		const char *rows[][2] = {
		    {"server", buf_cstr(&server)},
		    {"protocol", proto},
		    {"round trip", rtt},
		    {"levels", h->n_level_names ? buf_cstr(&levels) : "-"},
		};

		for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]) && r == 0; i++)
			r = table_add_row(t, rows[i]);
	}
	r = output_table(t, &out, r);
	table_destroy(t);
	buf_finish(&server);
	buf_finish(&levels);
	buf_finish(&out);
	return r;
}

int ping_main(struct ctl *ctl, int argc, char **argv)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__Ping ping = GRID__V1__PING__INIT;
	Grid__V1__Reply *reply = NULL;
	const Grid__V1__HelloReply *hello;
	uint64_t t0, t1;
	int r;

	if ((r = args_help_only(ctl, "ping", argc, argv, ping_help)) >= 0)
		return r;
	if (args_none(ctl, "ping", argc, argv))
		return CTL_EXIT_USAGE;

	/* Connect first so that the round trip is the ping's alone. */
	r = ctl_connect(ctl);
	if (r != CTL_EXIT_OK)
		return r;
	req.call_case = GRID__V1__REQUEST__CALL_PING;
	req.ping = &ping;
	t0 = uv_hrtime();
	r = ctl_call(ctl, &req, &reply, "ping", NULL);
	t1 = uv_hrtime();
	if (r != CTL_EXIT_OK)
		return r;
	hello = grid_client_hello(ctl->client);
	if (ctl->json)
		r = print_json(hello, reply->ping, (double)(t1 - t0) / 1e6);
	else
		r = print_text(ctl, hello, (double)(t1 - t0) / 1e6);
	grid_client_reply_free(reply);
	return r;
}
