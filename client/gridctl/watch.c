/* gridctl watch NODE: the events of a subtree as they happen, one line each
 * (or one JSON object per line), until Ctrl-C.
 *
 * Unlike the other commands it runs libgridclient's asynchronous API on a
 * loop of its own, because events arrive between calls: connect,
 * Authenticate with the credential ctl_connect() would use, Subscribe, then
 * print what comes. A signal handle ends it cleanly (exit 0). The library
 * tells a lost connection only to calls in flight, so a Ping goes out every
 * second; when it fails the connection is gone (exit 5).
 *
 * When gridd says the subscription fell behind (an Event "missed"), the gap
 * is read with ListEvents, page by page, while live events wait in a
 * bounded queue; then the queue is printed, skipping what the pages showed
 * already (by seq), so the output has neither a gap nor a duplicate.
 * Dispatched from main.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/gridctl/gridctl.h"
#include "client/gridctl/output.h"
#include "client/gridctl/session.h"

#define MAX_KINDS 32
#define PAGE 500
#define MAX_QUEUE 10000
#define HEARTBEAT_MS 1000

static const char watch_help[] =
    "Usage: gridctl watch NODE [--kind KIND]... [--since SEQ]\n"
    "\n"
    "Prints the events of NODE's subtree (\"-\": the whole grid) as they happen,\n"
    "until interrupted (Ctrl-C, exit 0): cases raised in or escalated into an\n"
    "inbox, deadline warnings, tasks assigned and done. You see the events you\n"
    "may see: case events need the right to read cases where they happen, task\n"
    "events the right to read tasks.\n"
    "\n"
    "Each event is one line: TIME #SEQ KIND NODE (NAME) [from NODE] [case N]\n"
    "[task N] by ACTOR: SUMMARY. With --json: one object per line, {\"seq\",\n"
    "\"at_ms\", \"kind\", \"node_code\", \"node_name\", \"from_node_code\", \"case_id\",\n"
    "\"task_id\", \"actor\", \"summary\"} (null for what an event lacks).\n"
    "\n"
    "When this terminal falls behind, gridd says so and the events missed are\n"
    "read back, so nothing is left out. When the connection is lost, watch says\n"
    "so and exits 5.\n"
    "\n"
    "Options:\n"
    "  -k, --kind KIND     only events of KIND (case.escalated), or of a family\n"
    "                      (case, or case.); repeat for more\n"
    "      --since SEQ     first the events after SEQ (the #SEQ of an earlier\n"
    "                      line; 0 for all kept), then the new ones\n"
    "  -j, --json          JSON lines\n"
    "\n"
    "Examples:\n"
    "  gridctl watch WH-TZL-Z5                       # everything in zone 5\n"
    "  gridctl watch WH-TZL --kind case.escalated --kind case.warning\n"
    "  gridctl --json watch WH-TZL-Z5-ZTY --kind task --since 1200\n";

enum watch_state {
	W_CONNECTING,
	W_AUTHENTICATING,
	W_SUBSCRIBING,
	W_LIVE,
	W_CATCHING_UP, /* reading missed events; live ones wait in the queue */
	W_DONE,
};

struct watch {
	struct ctl *ctl;
	uv_loop_t loop;
	uv_signal_t sig_int;
	uv_signal_t sig_term;
	uv_timer_t heartbeat;
	struct grid_client *client;
	enum watch_state state;
	int rc;
	const char *node; /* "" for the whole grid */
	char *kinds[MAX_KINDS];
	size_t nkinds;
	uint64_t since;
	bool has_since;	       /* --since given (0: every event kept) */
	uint64_t last_printed; /* the seq of the last event printed */
	bool pinging;
	/* Live events that came while catching up (owned). */
	Grid__V1__Event **queue;
	size_t nqueue;
	bool overflow; /* some were dropped: read the gap again */
};

static void finish(struct watch *w, int rc)
{
	if (w->state == W_DONE)
		return;
	w->state = W_DONE;
	w->rc = rc;
	uv_signal_stop(&w->sig_int);
	uv_signal_stop(&w->sig_term);
	uv_timer_stop(&w->heartbeat);
	/* Calls still in flight get -ECANCELED, which finish() ignores. */
	grid_client_set_event_cb(w->client, NULL, NULL);
	grid_client_destroy(w->client);
	w->client = NULL;
}

/* A failure of the connection itself (the library's errno). */
static void fail_transport(struct watch *w, int err, const char *doing)
{
	status_code code = output_code_for_errno(err);
	char msg[512];
	int rc;

	if (w->state == W_DONE || err == -ECANCELED)
		return;
	snprintf(msg, sizeof(msg), "%s%s%s (events up to #%" PRIu64 " were shown)",
		 doing ? doing : "", doing ? ": " : "", grid_client_error(w->client),
		 w->last_printed);
	output_error(w->ctl->json, code, NULL, msg, NULL, 0, NULL);
	rc = output_exit_code(code);
	finish(w, rc == CTL_EXIT_OK || rc == CTL_EXIT_ERROR ? CTL_EXIT_UNAVAILABLE : rc);
}

/* A reply that is not OK. */
static void fail_status(struct watch *w, const Grid__V1__Reply *reply, const char *subject)
{
	status_code code = reply->status->code;
	int rc = output_exit_code(code);

	output_error(w->ctl->json, code, subject, reply->status->message, reply->status->details,
		     reply->status->n_details, NULL);
	finish(w, rc == CTL_EXIT_OK ? CTL_EXIT_ERROR : rc);
}

/* --- printing ------------------------------------------------------------ */

static void print_json(const Grid__V1__Event *e, struct buf *out)
{
	struct json_writer j;

	json_writer_init(&j, out, false);
	json_begin_object(&j);
	json_key(&j, "seq");
	json_uint(&j, e->seq);
	json_key(&j, "at_ms");
	json_int(&j, e->at_ms);
	json_key(&j, "kind");
	json_string(&j, e->kind);
	json_key(&j, "node_code");
	json_string(&j, e->node_code);
	json_key(&j, "node_name");
	json_string(&j, e->node_name);
	json_key(&j, "from_node_code");
	json_string(&j, *e->from_node_code ? e->from_node_code : NULL);
	json_key(&j, "case_id");
	if (e->case_id)
		json_uint(&j, e->case_id);
	else
		json_null(&j);
	json_key(&j, "task_id");
	if (e->task_id)
		json_uint(&j, e->task_id);
	else
		json_null(&j);
	json_key(&j, "actor");
	json_string(&j, e->actor);
	json_key(&j, "summary");
	json_string(&j, e->summary);
	json_end_object(&j);
	json_writer_finish(&j);
	buf_putc(out, '\n');
}

static void print_text(const Grid__V1__Event *e, struct buf *out)
{
	char when[32];

	buf_printf(out, "%s #%" PRIu64 " %s %s",
		   ctl_format_time(e->at_ms, true, when, sizeof(when)), e->seq, e->kind,
		   e->node_code);
	if (*e->node_name)
		buf_printf(out, " (%s)", e->node_name);
	if (*e->from_node_code)
		buf_printf(out, " from %s", e->from_node_code);
	if (e->case_id)
		buf_printf(out, " case %" PRIu64, e->case_id);
	if (e->task_id)
		buf_printf(out, " task %" PRIu64, e->task_id);
	buf_printf(out, " by %s", e->actor);
	if (*e->summary) {
		/* One event, one line. */
		buf_puts(out, ": ");
		for (const char *p = e->summary; *p; p++)
			buf_putc(out, *p == '\n' || *p == '\r' || *p == '\t' ? ' ' : *p);
	}
	buf_putc(out, '\n');
}

/* Prints e unless it was printed already; flushed at once, so that a pipe
 * sees each event as it comes. */
static void print_event(struct watch *w, const Grid__V1__Event *e)
{
	struct buf out;
	int r;

	if (w->state == W_DONE || e->seq <= w->last_printed)
		return;
	buf_init(&out, 0);
	if (w->ctl->json)
		print_json(e, &out);
	else
		print_text(e, &out);
	r = output_flush(&out);
	buf_finish(&out);
	if (r == 0 && fflush(stdout) != 0) {
		output_check_epipe(errno);
		fprintf(stderr, "gridctl: writing the output failed: %s\n", strerror(errno));
		r = CTL_EXIT_ERROR;
	}
	if (r != 0) {
		finish(w, r);
		return;
	}
	w->last_printed = e->seq;
}

/* --- catching up after "missed" ------------------------------------------ */

static void queue_clear(struct watch *w)
{
	for (size_t i = 0; i < w->nqueue; i++)
		grid__v1__event__free_unpacked(w->queue[i], NULL);
	w->nqueue = 0;
}

/* Keeps a copy of a live event that came while catching up. */
static void queue_add(struct watch *w, const Grid__V1__Event *e)
{
	size_t len = grid__v1__event__get_packed_size(e);
	uint8_t *p;
	Grid__V1__Event *copy = NULL;

	if (w->nqueue >= MAX_QUEUE) {
		w->overflow = true;
		return;
	}
	p = malloc(len ? len : 1);
	if (p) {
		grid__v1__event__pack(e, p);
		copy = grid__v1__event__unpack(NULL, len, p);
		free(p);
	}
	if (!copy) {
		w->overflow = true; /* read again instead */
		return;
	}
	w->queue[w->nqueue++] = copy;
}

static void read_gap(struct watch *w, uint64_t after);

static void on_page(struct grid_client *c, int status, const Grid__V1__Reply *reply, void *data)
{
	struct watch *w = data;
	const Grid__V1__EventList *list;

	(void)c;
	if (w->state == W_DONE)
		return;
	if (status < 0) {
		fail_transport(w, status, "reading the events missed");
		return;
	}
	if (reply->status->code != GRID__V1__CODE__CODE_OK || !reply->list_events) {
		fail_status(w, reply, "the events missed");
		return;
	}
	list = reply->list_events;
	for (size_t i = 0; i < list->n_events && w->state != W_DONE; i++)
		print_event(w, list->events[i]);
	if (w->state == W_DONE)
		return;
	if (list->more) {
		read_gap(w, list->last_seq);
		return;
	}
	/* The gap is read: what waited comes next, unless some had to be
	 * dropped, which are then read back too. */
	if (w->overflow) {
		w->overflow = false;
		queue_clear(w);
		read_gap(w, w->last_printed);
		return;
	}
	for (size_t i = 0; i < w->nqueue && w->state != W_DONE; i++)
		print_event(w, w->queue[i]);
	queue_clear(w);
	if (w->state != W_DONE)
		w->state = W_LIVE;
}

static void read_gap(struct watch *w, uint64_t after)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__ListEventsRequest m = GRID__V1__LIST_EVENTS_REQUEST__INIT;
	int r;

	m.node_code = (char *)w->node;
	m.kinds = w->kinds;
	m.n_kinds = w->nkinds;
	m.after_seq = after;
	m.limit = PAGE;
	req.call_case = GRID__V1__REQUEST__CALL_LIST_EVENTS;
	req.list_events = &m;
	w->state = W_CATCHING_UP;
	r = grid_client_call_async(w->client, &req, on_page, w);
	if (r < 0)
		fail_transport(w, r, "reading the events missed");
}

static void on_event(struct grid_client *c, const Grid__V1__Event *e, void *data)
{
	struct watch *w = data;

	(void)c;
	if (strcmp(e->kind, "missed") == 0) {
		if (w->state == W_CATCHING_UP) {
			/* Already reading from the oldest gap on. */
			return;
		}
		if (!w->ctl->json)
			fprintf(stderr, "gridctl: fell behind after #%" PRIu64 "; reading back\n",
				e->seq);
		read_gap(w, e->seq > w->last_printed ? e->seq : w->last_printed);
		return;
	}
	if (w->state == W_CATCHING_UP)
		queue_add(w, e);
	else if (w->state == W_LIVE || w->state == W_SUBSCRIBING)
		print_event(w, e);
}

/* --- the connection ------------------------------------------------------- */

static void on_pong(struct grid_client *c, int status, const Grid__V1__Reply *reply, void *data)
{
	struct watch *w = data;

	(void)c;
	(void)reply;
	w->pinging = false;
	if (status < 0)
		fail_transport(w, status, NULL);
}

static void on_heartbeat(uv_timer_t *t)
{
	struct watch *w = t->data;
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__Ping m = GRID__V1__PING__INIT;
	int r;

	if (w->pinging || w->state == W_DONE)
		return;
	req.call_case = GRID__V1__REQUEST__CALL_PING;
	req.ping = &m;
	r = grid_client_call_async(w->client, &req, on_pong, w);
	if (r < 0) {
		fail_transport(w, r, NULL);
		return;
	}
	w->pinging = true;
}

static void on_subscribed(struct grid_client *c, int status, const Grid__V1__Reply *reply,
			  void *data)
{
	struct watch *w = data;

	(void)c;
	if (w->state == W_DONE)
		return;
	if (status < 0) {
		fail_transport(w, status, NULL);
		return;
	}
	if (reply->status->code != GRID__V1__CODE__CODE_OK || !reply->subscribe) {
		char subject[200];
		snprintf(subject, sizeof(subject), "node %s", *w->node ? w->node : "-");
		fail_status(w, reply, *w->node ? subject : NULL);
		return;
	}
	/* A replay (--since) may have begun already; it goes on live. */
	if (w->state == W_SUBSCRIBING)
		w->state = W_LIVE;
	if (!w->ctl->json)
		fprintf(stderr, "gridctl: watching %s (newest event #%" PRIu64 "); Ctrl-C stops\n",
			*w->node ? w->node : "the whole grid", reply->subscribe->last_seq);
	uv_timer_start(&w->heartbeat, on_heartbeat, HEARTBEAT_MS, HEARTBEAT_MS);
}

static void subscribe(struct watch *w)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__SubscribeRequest m = GRID__V1__SUBSCRIBE_REQUEST__INIT;
	int r;

	m.node_code = (char *)w->node;
	m.kinds = w->kinds;
	m.n_kinds = w->nkinds;
	m.after_seq = w->since;
	m.from_first = w->has_since && w->since == 0;
	req.call_case = GRID__V1__REQUEST__CALL_SUBSCRIBE;
	req.subscribe = &m;
	w->state = W_SUBSCRIBING;
	w->last_printed = w->since;
	r = grid_client_call_async(w->client, &req, on_subscribed, w);
	if (r < 0)
		fail_transport(w, r, NULL);
}

static void on_authenticated(struct grid_client *c, int status, const Grid__V1__Reply *reply,
			     void *data)
{
	struct watch *w = data;
	const struct session *s = w->ctl->session;
	char msg[1400];

	(void)c;
	if (w->state == W_DONE)
		return;
	if (status < 0) {
		fail_transport(w, status, NULL);
		return;
	}
	if (reply->status->code == GRID__V1__CODE__CODE_UNAUTHENTICATED && !session_is_api_key(s)) {
		/* The server's words, and what to do about them, as the
		 * other commands say it. */
		snprintf(msg, sizeof(msg), "%s (%s): run 'gridctl%s%s login%s%s'",
			 *reply->status->message ? reply->status->message : "not authenticated",
			 w->ctl->server, w->ctl->token_file ? " --token-file " : "",
			 w->ctl->token_file ? w->ctl->token_file : "", s->user ? " " : "",
			 s->user ? s->user : "");
		output_error(w->ctl->json, GRID__V1__CODE__CODE_UNAUTHENTICATED, NULL, msg, NULL, 0,
			     NULL);
		finish(w, CTL_EXIT_DENIED);
		return;
	}
	if (reply->status->code != GRID__V1__CODE__CODE_OK) {
		fail_status(w, reply, NULL);
		return;
	}
	subscribe(w);
}

static void on_connected(struct grid_client *c, int status, void *data)
{
	struct watch *w = data;
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__AuthenticateRequest m = GRID__V1__AUTHENTICATE_REQUEST__INIT;
	int r;

	(void)c;
	if (w->state == W_DONE)
		return;
	if (status < 0) {
		fail_transport(w, status, NULL);
		return;
	}
	m.token = w->ctl->session->secret;
	req.call_case = GRID__V1__REQUEST__CALL_AUTHENTICATE;
	req.authenticate = &m;
	w->state = W_AUTHENTICATING;
	r = grid_client_call_async(w->client, &req, on_authenticated, w);
	if (r < 0)
		fail_transport(w, r, NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct watch *w = h->data;

	(void)signum;
	/* Interrupting is how a watch ends: not an error. */
	finish(w, CTL_EXIT_OK);
}

/* --- the command ---------------------------------------------------------- */

/* "case" means the family "case."; "case." and "case.raised" stay. */
static char *kind_arg(const char *s)
{
	size_t len = strlen(s);
	char *k = malloc(len + 2);

	if (!k)
		return NULL;
	memcpy(k, s, len + 1);
	if (!strchr(k, '.')) {
		k[len] = '.';
		k[len + 1] = '\0';
	}
	return k;
}

static void close_handle(uv_handle_t *h)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static int run(struct watch *w)
{
	struct grid_client_config cfg;
	int r;

	r = ctl_client_config(w->ctl, &cfg);
	if (r != CTL_EXIT_OK)
		return r;
	r = session_require(w->ctl);
	if (r != CTL_EXIT_OK)
		return r;
	w->queue = calloc(MAX_QUEUE, sizeof(*w->queue));
	if (!w->queue)
		return output_oom();
	r = uv_loop_init(&w->loop);
	if (r < 0) {
		free(w->queue);
		return output_oom();
	}
	uv_signal_init(&w->loop, &w->sig_int);
	uv_signal_init(&w->loop, &w->sig_term);
	uv_timer_init(&w->loop, &w->heartbeat);
	w->sig_int.data = w->sig_term.data = w->heartbeat.data = w;
	uv_signal_start(&w->sig_int, on_signal, SIGINT);
	uv_signal_start(&w->sig_term, on_signal, SIGTERM);

	w->client = grid_client_create(&w->loop, &cfg);
	if (!w->client) {
		w->state = W_DONE;
		w->rc = output_oom();
	} else {
		grid_client_set_event_cb(w->client, on_event, w);
		r = grid_client_connect_async(w->client, w->ctl->server, on_connected, w);
		if (r < 0)
			fail_transport(w, r, NULL);
	}
	while (w->state != W_DONE && uv_run(&w->loop, UV_RUN_ONCE))
		;
	/* The loop ran dry without an end (cannot happen: the signal
	 * handles keep it alive); say so rather than hang. */
	if (w->state != W_DONE)
		finish(w, CTL_EXIT_ERROR);
	close_handle((uv_handle_t *)&w->sig_int);
	close_handle((uv_handle_t *)&w->sig_term);
	close_handle((uv_handle_t *)&w->heartbeat);
	uv_run(&w->loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&w->loop) != 0)
		fprintf(stderr, "gridctl: internal error: handles left open\n");
	queue_clear(w);
	free(w->queue);
	return w->rc;
}

int watch_main(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"kind", required_argument, NULL, 'k'},
	    {"since", required_argument, NULL, 'S'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	struct watch w = {0};
	int opt, rc = CTL_EXIT_OK;

	w.ctl = ctl;
	optind = 0;
	while (rc == CTL_EXIT_OK &&
	       (opt = ctl_getopt(ctl, "watch", argc, argv, "k:jh", opts)) != -1) {
		switch (opt) {
		case 'k':
			if (w.nkinds == MAX_KINDS) {
				rc = ctl_usage(ctl, "watch", "watch: at most %d --kind options",
					       MAX_KINDS);
				break;
			}
			if (!*optarg) {
				rc = ctl_usage(ctl, "watch", "watch: --kind wants a kind");
				break;
			}
			w.kinds[w.nkinds] = kind_arg(optarg);
			if (!w.kinds[w.nkinds]) {
				rc = output_oom();
				break;
			}
			w.nkinds++;
			break;
		case 'S': {
			char *end;
			errno = 0;
			unsigned long long v = strtoull(optarg, &end, 10);
			if (!*optarg || *optarg == '-' || *end || errno || v > INT64_MAX)
				rc = ctl_usage(ctl, "watch",
					       "watch: --since wants an event number, not '%s'",
					       optarg);
			w.since = v;
			w.has_since = true;
			break;
		}
		case 'j':
			ctl->json = true;
			break;
		case 'h':
			rc = ctl_help(watch_help);
			goto out;
		default:
			rc = CTL_EXIT_USAGE;
			break;
		}
	}
	if (rc != CTL_EXIT_OK)
		goto out;
	if (optind >= argc) {
		rc = ctl_usage(ctl, "watch", "watch: which node? (\"-\" for the whole grid)");
		goto out;
	}
	if (optind + 1 < argc) {
		rc = ctl_usage(ctl, "watch", "watch: one node only, not '%s'", argv[optind + 1]);
		goto out;
	}
	w.node = strcmp(argv[optind], "-") == 0 ? "" : argv[optind];
	rc = run(&w);
out:
	for (size_t i = 0; i < w.nkinds; i++)
		free(w.kinds[i]);
	return rc;
}
