/* Wiring of the server object; see server.h. Start-up runs in order and
 * blocks (nothing is served yet); the stop runs in the reverse order through
 * callbacks: connections drain, then the domain modules stop following the
 * database, then the pool closes, and the loop ends with every handle
 * closed. */
#include "server/server.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "server/audit/audit.h"
#include "server/auth/auth.h"
#include "server/case/calendar.h"
#include "server/case/case.h"
#include "server/db/migrate.h"
#include "server/db/pool.h"
#include "server/event/event.h"
#include "server/grid/grid.h"
#include "server/log.h"
#include "server/net/net.h"
#include "server/rpc/rpc.h"
#include "server/task/task.h"

static void on_signal(uv_signal_t *h, int signum)
{
	struct server *s = h->data;

	/* A second signal (Ctrl-C reaches the whole process group, a
	 * supervisor may add SIGTERM) must not cut the clean stop short. */
	log_info("event=signal signal=%s%s", signum == SIGINT ? "SIGINT" : "SIGTERM",
		 s->stopping ? " already_stopping=1" : "");
	server_stop(s);
}

/* The signal handlers stay until everything else is closed. */
static void close_signals(struct server *s)
{
	uv_close((uv_handle_t *)&s->sig_int, NULL);
	uv_close((uv_handle_t *)&s->sig_term, NULL);
}

static void on_pool_state(int up, void *data)
{
	struct server *s = data;

	if (up)
		log_info("event=db_up");
	else if (!s->stopping)
		log_warn("event=db_down writes=unavailable");
}

static void on_notify(void *data, const char *channel, const char *payload)
{
	struct server *s = data;

	if (strcmp(channel, "grid_changed") == 0)
		grid_sync(s->grid);
	else if (strcmp(channel, "auth_changed") == 0)
		auth_on_notify(s->auth, payload);
	else if (strcmp(channel, "grid_events") == 0)
		event_on_notify(s->events);
}

/* After every (re)connect of the listener: catch up on what was missed. */
static void on_listener_ready(void *data)
{
	struct server *s = data;

	grid_sync(s->grid);
	auth_refresh(s->auth);
	event_catch_up(s->events);
}

int server_start(struct server *s, uv_loop_t *loop, const struct config *cfg, char *err,
		 size_t errlen)
{
	struct db_pool_options opt = {0};
	PGconn *pg;
	int r;

	memset(s, 0, sizeof(*s));
	s->loop = loop;
	s->cfg = cfg;
	s->started_ms = uv_now(loop);
	uv_signal_init(loop, &s->sig_int);
	uv_signal_init(loop, &s->sig_term);
	s->sig_int.data = s;
	s->sig_term.data = s;
	uv_signal_start(&s->sig_int, on_signal, SIGINT);
	uv_signal_start(&s->sig_term, on_signal, SIGTERM);

	r = rpc_check_table(err, errlen);
	if (r < 0)
		return r;

	pg = db_connect_wait(cfg->database_url, cfg->connect_wait_ms, err, errlen);
	if (!pg)
		return -ECONNREFUSED;
	r = migrate_apply(pg, err, errlen);
	if (r >= 0)
		r = calendar_apply(pg, cfg, err, errlen);
	if (r >= 0)
		r = grid_create(s, pg, &s->grid, err, errlen);
	if (r >= 0)
		r = event_create(s, pg, &s->events, err, errlen);
	PQfinish(pg);
	if (r >= 0)
		r = auth_create(s, &s->auth, err, errlen);
	if (r >= 0 && (r = case_create(s, &s->cases)) < 0)
		snprintf(err, errlen, "out of memory");
	if (r >= 0 && (r = task_create(s, &s->tasks)) < 0)
		snprintf(err, errlen, "out of memory");
	if (r < 0)
		return r;

	/* The loop's clock stood still while the grid loaded (seconds for a
	 * city): without this, every timeout started next (the pool's
	 * connection attempts) would count from before the load and fire at
	 * once. */
	uv_update_time(loop);
	opt.size = cfg->pool_size;
	opt.query_timeout_ms = cfg->statement_timeout_ms;
	opt.connect_timeout_ms = cfg->db_connect_timeout_ms;
	opt.health_check_ms = cfg->db_health_check_ms;
	s->db = db_pool_create(loop, cfg->database_url, &opt);
	if (!s->db) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	db_pool_set_state_cb(s->db, on_pool_state, s);
	r = grid_start(s->grid);
	if (r == 0)
		r = auth_start(s->auth);
	if (r == 0)
		r = case_start(s->cases);
	if (r == 0)
		r = task_start(s->tasks);
	if (r == 0)
		r = event_start(s->events);
	if (r == 0)
		r = audit_start(s);
	if (r == 0)
		r = idem_start(s);
	if (r < 0) {
		snprintf(err, errlen, "cannot register the database statements: %s", strerror(-r));
		return r;
	}
	static const char *const channels[] = {"grid_changed", "auth_changed", "grid_events", NULL};
	s->listener =
	    db_listener_create(loop, cfg->database_url, channels, on_notify, on_listener_ready, s);
	if (!s->listener) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	db_listener_set_timeouts(s->listener, cfg->db_connect_timeout_ms, cfg->db_health_check_ms);

	s->net = net_create(s);
	if (!s->net) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r = net_listen(s->net, cfg->listen, err, errlen);
	if (r < 0)
		return r;
	if (*cfg->tls_listen) {
		r = net_listen_tls(s->net, cfg->tls_listen, cfg->tls_cert, cfg->tls_key, err,
				   errlen);
		if (r < 0)
			return r;
	}
	log_info("event=listening address=%s tls_address=%s levels=%u pool=%u",
		 net_bound_address(s->net),
		 *net_tls_bound_address(s->net) ? net_tls_bound_address(s->net) : "none",
		 cfg->nlevels, cfg->pool_size);
	return 0;
}

const char *server_bound_address(const struct server *s)
{
	return s->net ? net_bound_address(s->net) : "";
}

static void on_pool_closed(void *data)
{
	struct server *s = data;

	grid_destroy(s->grid);
	s->grid = NULL;
	auth_destroy(s->auth);
	event_destroy(s->events);
	s->events = NULL;
	case_destroy(s->cases);
	s->cases = NULL;
	task_destroy(s->tasks);
	s->tasks = NULL;
	s->auth = NULL;
	s->db = NULL;
	close_signals(s);
	log_info("event=stopped");
}

static void on_net_drained(void *data)
{
	struct server *s = data;

	s->net = NULL;
	grid_stop(s->grid);
	auth_stop(s->auth);
	case_stop(s->cases);
	task_stop(s->tasks);
	event_stop(s->events);
	db_listener_close(s->listener);
	s->listener = NULL;
	if (s->db) {
		db_pool_close(s->db, on_pool_closed, s);
	} else {
		grid_destroy(s->grid);
		s->grid = NULL;
		auth_destroy(s->auth);
		event_destroy(s->events);
		s->events = NULL;
		case_destroy(s->cases);
		s->cases = NULL;
		task_destroy(s->tasks);
		s->tasks = NULL;
		s->auth = NULL;
		close_signals(s);
	}
}

void server_stop(struct server *s)
{
	if (s->stopping)
		return;
	s->stopping = true;
	log_info("event=stopping");
	if (s->net)
		net_drain(s->net, s->cfg->shutdown_timeout_ms, on_net_drained, s);
	else
		on_net_drained(s);
}
