/* gridctl apikey ...: the keys other city systems (a 12345 hotline, a data
 * platform) use instead of a person's login. create makes one for a subtree
 * and a list of calls and shows its secret once; ls lists them; revoke ends
 * one at once, on every connection using it. Dispatched from main.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/gridctl/args.h"
#include "client/gridctl/gridctl.h"
#include "client/gridctl/output.h"
#include "client/gridctl/table.h"

#define MAX_METHODS 128
#define METHOD_MAX 64

static const char apikey_help[] =
    "Usage: gridctl apikey COMMAND [ARGS...]\n"
    "\n"
    "API keys let another city system (a 12345 hotline, a data platform) call\n"
    "gridd without a person's login. A key works within one node's subtree and,\n"
    "if you say so, only for some calls; it acts with the city_system role.\n"
    "The other system presents it with Authenticate; gridctl takes it with\n"
    "--api-key KEY or $GRID_API_KEY.\n"
    "\n"
    "Commands:\n"
    "  create NAME --node NODE [--method CALL ...] [--expires WHEN]\n"
    "                                  make a key; its secret is shown once\n"
    "  ls [--all]                      the keys (--all: revoked ones too)\n"
    "  revoke ID                       end a key at once\n"
    "\n"
    "'gridctl apikey COMMAND --help' tells more.\n"
    "\n"
    "Examples:\n"
    "  gridctl apikey create 12345热线 --node WH-TZL --method GetNode,ListChildren\n"
    "  gridctl apikey ls\n";

static const char create_help[] =
    "Usage: gridctl apikey create NAME --node NODE [--method CALL ...] [--expires WHEN]\n"
    "\n"
    "Creates an API key named NAME for the subtree of NODE (\"-\": the whole\n"
    "grid) and prints the key on standard output. The key is shown this once:\n"
    "gridd keeps only a hash of it. Hand it to the other system's secret store.\n"
    "\n"
    "Options:\n"
    "  -n, --node NODE        the subtree the key may see and change (required)\n"
    "  -m, --method CALL      a call the key may make, by its name in\n"
    "                         proto/rpc.proto (GetNode, ListChildren, ...; get_node\n"
    "                         works too); repeat or separate with commas. Without\n"
    "                         it: every call the city_system role allows\n"
    "  -e, --expires WHEN     when the key stops working: YYYY-MM-DD,\n"
    "                         YYYY-MM-DDTHH:MM (local time) or a duration from now\n"
    "                         like 90d, 12w, 24h (default: never)\n"
    "\n"
    "With --json: {\"key\": SECRET, \"api_key\": {\"id\", \"name\", \"node_code\",\n"
    "\"methods\", \"expires_at_ms\", \"revoked\", \"created_at_ms\", \"created_by\"}}.\n"
    "\n"
    "Examples:\n"
    "  gridctl apikey create 12345热线 --node WH-TZL --method GetNode,ListChildren \\\n"
    "      --expires 90d\n"
    "  KEY=$(gridctl apikey create 数据平台 --node WH --method ExportGrid)\n"
    "  gridctl apikey create 梓潼苑门禁 --node WH-TZL-Z5-ZTY --expires 2030-12-31\n";

static const char ls_help[] =
    "Usage: gridctl apikey ls [--all]\n"
    "\n"
    "Lists the API keys you can see as a table: ID, NAME, NODE (\"-\": the\n"
    "whole grid), METHODS (\"*\": all its role allows), EXPIRES, CREATED BY,\n"
    "STATUS (active, expired, revoked). Never the secrets.\n"
    "With --json: an array of keys, as in 'apikey create'.\n"
    "\n"
    "Options:\n"
    "  -a, --all   include revoked keys\n"
    "\n"
    "Examples:\n"
    "  gridctl apikey ls\n"
    "  gridctl --json apikey ls --all\n";

static const char revoke_help[] =
    "Usage: gridctl apikey revoke ID\n"
    "\n"
    "Revokes the API key ID (gk_..., as 'apikey ls' shows it): it stops\n"
    "working at once, also on connections that presented it already.\n"
    "\n"
    "Example:\n"
    "  gridctl apikey revoke gk_7Hq2xZ9p\n";

static void apikey_json(struct json_writer *w, const Grid__V1__ApiKey *k)
{
	json_begin_object(w);
	json_key(w, "id");
	json_string(w, k->id);
	json_key(w, "name");
	json_string(w, k->name);
	json_key(w, "node_code");
	json_string(w, k->node_code);
	json_key(w, "methods");
	json_begin_array(w);
	for (size_t i = 0; i < k->n_methods; i++)
		json_string(w, k->methods[i]);
	json_end_array(w);
	json_key(w, "expires_at_ms");
	json_int(w, k->expires_at_ms);
	json_key(w, "revoked");
	json_bool(w, k->revoked);
	json_key(w, "created_at_ms");
	json_int(w, k->created_at_ms);
	json_key(w, "created_by");
	json_string(w, k->created_by);
	json_end_object(w);
}

static const char *key_status(const Grid__V1__ApiKey *k)
{
	if (k->revoked)
		return "revoked";
	if (k->expires_at_ms && k->expires_at_ms <= ctl_now_ms())
		return "expired";
	return "active";
}

/* "get_node", "get-node", "getNode" -> "GetNode": the call names of
 * rpc.proto as the server knows them. 0 or -EINVAL (not a name). */
static int method_name(const char *s, size_t n, char *out, size_t size)
{
	size_t j = 0;
	bool upper = true;

	if (n == 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '_' || c == '-') {
			upper = true;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
			return -EINVAL;
		if (upper && c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		upper = false;
		if (j + 1 >= size)
			return -EINVAL;
		out[j++] = c;
	}
	if (j == 0)
		return -EINVAL;
	out[j] = '\0';
	return 0;
}

static int apikey_create(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
	    ARGS_HELP_OPT,
	    {"node", required_argument, NULL, 'n'},
	    {"method", required_argument, NULL, 'm'},
	    {"expires", required_argument, NULL, 'e'},
	    {0},
	};
	const char *cmd = "apikey create";
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__CreateApiKeyRequest cr = GRID__V1__CREATE_API_KEY_REQUEST__INIT;
	Grid__V1__Reply *reply = NULL;
	static char methods[MAX_METHODS][METHOD_MAX];
	char *method_ptrs[MAX_METHODS];
	const char *node = NULL;
	char subject[300];
	struct buf out, info;
	int opt, r;

	while ((opt = ctl_getopt(ctl, cmd, argc, argv, "hn:m:e:", opts)) != -1) {
		switch (opt) {
		case 'n':
			node = optarg;
			break;
		case 'm':
			for (const char *p = optarg;;) {
				const char *comma = strchr(p, ',');
				size_t n = comma ? (size_t)(comma - p) : strlen(p);

				if (cr.n_methods == MAX_METHODS)
					return ctl_usage(ctl, cmd, "%s: at most %d methods", cmd,
							 MAX_METHODS);
				if (method_name(p, n, methods[cr.n_methods], METHOD_MAX) < 0)
					return ctl_usage(ctl, cmd,
							 "%s: '%.*s' is not a call name like "
							 "GetNode",
							 cmd, (int)n, p);
				method_ptrs[cr.n_methods] = methods[cr.n_methods];
				cr.n_methods++;
				if (!comma)
					break;
				p = comma + 1;
			}
			break;
		case 'e':
			if (ctl_parse_time(ctl, cmd, "--expires", optarg, 1, &cr.expires_at_ms))
				return CTL_EXIT_USAGE;
			if (cr.expires_at_ms <= ctl_now_ms())
				return ctl_usage(ctl, cmd, "%s: --expires %s is in the past", cmd,
						 optarg);
			break;
		default:
			return opt == 'h' ? ctl_help(create_help) : CTL_EXIT_USAGE;
		}
	}
	if (!(cr.name = args_one(ctl, cmd, argc, argv, "NAME")))
		return CTL_EXIT_USAGE;
	if (!node)
		return ctl_usage(ctl, cmd, "%s: --node NODE is required (\"-\": the whole grid)",
				 cmd);
	if (!*node)
		return ctl_usage(ctl, cmd, "%s: --node must not be empty (\"-\": the whole grid)",
				 cmd);
	if (strcmp(node, "-") != 0)
		cr.node_code = (char *)node;
	cr.methods = method_ptrs;
	if (cr.node_code[0])
		snprintf(subject, sizeof(subject), "node %s", cr.node_code);
	else
		snprintf(subject, sizeof(subject), "api key %s", cr.name);
	req.call_case = GRID__V1__REQUEST__CALL_CREATE_API_KEY;
	req.create_api_key = &cr;
	r = ctl_call(ctl, &req, &reply, subject, NULL);
	if (r != CTL_EXIT_OK)
		return r;

	const Grid__V1__CreateApiKeyReply *res = reply->create_api_key;
	buf_init(&out, 0);
	buf_init(&info, 0);
	if (ctl->json) {
		struct json_writer w;

		json_writer_init(&w, &out, false);
		json_begin_object(&w);
		json_key(&w, "key");
		json_string(&w, res->key);
		json_key(&w, "api_key");
		if (res->api_key)
			apikey_json(&w, res->api_key);
		else
			json_null(&w);
		json_end_object(&w);
		r = output_json_flush(&w, &out);
	} else {
		const Grid__V1__ApiKey *k = res->api_key;
		char when[64];

		/* The key alone goes to stdout, so that KEY=$(gridctl apikey
		 * create ...) works; the words around it go to stderr. */
		r = 0;
		if (k) {
			char *name = table_clean(k->name);

			r = buf_printf(&info, "gridctl: created API key %s \"%s\" for %s", k->id,
				       name ? name : "",
				       k->node_code[0] ? k->node_code : "the whole grid");
			free(name);
			for (size_t i = 0; r == 0 && i < k->n_methods; i++)
				r = buf_printf(&info, "%s%s",
					       i ? ", " : "; calls: ", k->methods[i]);
			if (r == 0)
				r = buf_printf(&info, "; %s%s\n",
					       k->expires_at_ms ? "valid until " : "never expires",
					       k->expires_at_ms
						   ? ctl_format_time(k->expires_at_ms, false, when,
								     sizeof(when))
						   : "");
		}
		if (r == 0)
			r = buf_puts(&info,
				     "gridctl: this is the only time the key is shown (gridd keeps "
				     "only its hash); store it safely now:\n");
		if (r == 0)
			r = buf_printf(&out, "%s\n", res->key);
		if (r < 0) {
			r = output_oom();
		} else {
			fflush(stdout);
			fwrite(info.data, 1, info.len, stderr);
			fflush(stderr);
			r = output_flush(&out);
		}
	}
	if (out.data)
		explicit_bzero(out.data, out.len);
	buf_finish(&out);
	buf_finish(&info);
	grid_client_reply_free(reply);
	return r;
}

static int apikey_ls(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {ARGS_HELP_OPT, {"all", no_argument, NULL, 'a'}, {0}};
	static const char *head[] = {"ID",	"NAME",	      "NODE",  "METHODS",
				     "EXPIRES", "CREATED BY", "STATUS"};
	const char *cmd = "apikey ls";
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__ListApiKeysRequest ls = GRID__V1__LIST_API_KEYS_REQUEST__INIT;
	Grid__V1__Reply *reply = NULL;
	const Grid__V1__ApiKeyList *l;
	struct table *t = NULL;
	struct buf out, methods;
	int opt, r;

	while ((opt = ctl_getopt(ctl, cmd, argc, argv, "ha", opts)) != -1) {
		if (opt == 'a')
			ls.include_revoked = true;
		else
			return opt == 'h' ? ctl_help(ls_help) : CTL_EXIT_USAGE;
	}
	if (args_none(ctl, cmd, argc, argv))
		return CTL_EXIT_USAGE;
	req.call_case = GRID__V1__REQUEST__CALL_LIST_API_KEYS;
	req.list_api_keys = &ls;
	r = ctl_call(ctl, &req, &reply, "api keys", NULL);
	if (r != CTL_EXIT_OK)
		return r;
	l = reply->list_api_keys;
	buf_init(&out, 0);
	buf_init(&methods, 0);
	if (ctl->json) {
		struct json_writer w;

		json_writer_init(&w, &out, false);
		json_begin_array(&w);
		for (size_t i = 0; i < l->n_api_keys; i++)
			apikey_json(&w, l->api_keys[i]);
		json_end_array(&w);
		r = output_json_flush(&w, &out);
		goto done;
	}
	if (l->n_api_keys == 0) {
		output_notice("no API keys");
		goto done;
	}
	t = table_create(7);
	r = t ? table_add_row(t, head) : -ENOMEM;
	for (size_t i = 0; i < l->n_api_keys && r == 0; i++) {
		const Grid__V1__ApiKey *k = l->api_keys[i];
		char when[64];

		buf_reset(&methods);
		for (size_t j = 0; j < k->n_methods && r == 0; j++)
			r = buf_printf(&methods, "%s%s", j ? "," : "", k->methods[j]);
		if (r == 0 && k->n_methods == 0)
			r = buf_puts(&methods, "*");
		if (r == 0 && !buf_cstr(&methods))
			r = -ENOMEM;
		if (r == 0) {
			const char *row[7] = {
			    k->id,
			    k->name,
			    k->node_code[0] ? k->node_code : "-",
			    buf_cstr(&methods),
			    k->expires_at_ms
				? ctl_format_time(k->expires_at_ms, false, when, sizeof(when))
				: "never",
			    k->created_by,
			    key_status(k),
			};
			r = table_add_row(t, row);
		}
	}
	r = output_table(t, &out, r);
done:
	table_destroy(t);
	buf_finish(&out);
	buf_finish(&methods);
	grid_client_reply_free(reply);
	return r;
}

static int apikey_revoke(struct ctl *ctl, int argc, char **argv)
{
	const char *cmd = "apikey revoke";
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__RevokeApiKeyRequest rv = GRID__V1__REVOKE_API_KEY_REQUEST__INIT;
	Grid__V1__Reply *reply = NULL;
	char subject[160];
	struct buf out;
	int r;

	if ((r = args_help_only(ctl, cmd, argc, argv, revoke_help)) >= 0)
		return r;
	if (argc - optind != 1)
		return ctl_usage(ctl, cmd, "%s: want exactly one ID (gk_...)", cmd);
	rv.id = argv[optind];
	if (args_nonempty(ctl, cmd, "ID", rv.id))
		return CTL_EXIT_USAGE;
	snprintf(subject, sizeof(subject), "api key %s", rv.id);
	req.call_case = GRID__V1__REQUEST__CALL_REVOKE_API_KEY;
	req.revoke_api_key = &rv;
	r = ctl_call(ctl, &req, &reply, subject, NULL);
	if (r != CTL_EXIT_OK)
		return r;
	buf_init(&out, 0);
	if (ctl->json) {
		struct json_writer w;

		json_writer_init(&w, &out, false);
		apikey_json(&w, reply->revoke_api_key);
		r = output_json_flush(&w, &out);
	} else {
		char *name = table_clean(reply->revoke_api_key->name);

		if (buf_printf(&out, "revoked API key %s \"%s\": it no longer works\n",
			       reply->revoke_api_key->id, name ? name : "") < 0)
			r = output_oom();
		else
			r = output_flush(&out);
		free(name);
	}
	buf_finish(&out);
	grid_client_reply_free(reply);
	return r;
}

static const struct ctl_command apikey_commands[] = {
    {"create", apikey_create},
    {"ls", apikey_ls},
    {"revoke", apikey_revoke},
    {NULL, NULL},
};

int apikey_main(struct ctl *ctl, int argc, char **argv)
{
	optind = 0;
	return ctl_dispatch(ctl, "apikey", apikey_commands, argc, argv, apikey_help);
}
