/* gridctl grid ...: the whole grid as the CSV roster district offices keep
 * (code,parent_code,level,name,leader_name,leader_phone). import sends a
 * file in one ImportGrid call (all or nothing on the server; every bad line
 * comes back as an ErrorDetail, printed as FILE:LINE: field: reason);
 * export follows ExportGrid's pages into stdout or, atomically, a file.
 * Dispatched from main.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/gridctl/args.h"
#include "client/gridctl/gridctl.h"
#include "client/gridctl/output.h"
#include "client/gridctl/pager.h"

/* Far above any real roster; the server's max_frame is the real limit. */
#define IMPORT_MAX_BYTES (256u * 1024 * 1024)

static const char grid_help[] =
    "Usage: gridctl grid COMMAND [ARGS...]\n"
    "\n"
    "Moves the grid in and out as CSV with a header line:\n"
    "  code,parent_code,level,name,leader_name,leader_phone\n"
    "\n"
    "Commands:\n"
    "  import FILE [--dry-run]     create and update nodes from FILE (\"-\": stdin)\n"
    "  export [CODE] [-o FILE]     write the grid, or the subtree of CODE, as CSV\n"
    "\n"
    "'gridctl grid COMMAND --help' tells more.\n"
    "\n"
    "Examples:\n"
    "  gridctl grid export WH-TZL -o tongzilin.csv\n"
    "  gridctl grid import tongzilin.csv --dry-run\n";

static const char import_help[] =
    "Usage: gridctl grid import FILE [--dry-run]\n"
    "\n"
    "Sends the CSV roster FILE (\"-\": standard input) to the server. A code\n"
    "already in the grid updates that node (name, leader, parent: a new parent\n"
    "moves it); a new code creates a node; parents must come before their\n"
    "children. All or nothing: when any line is bad nothing changes, and every\n"
    "bad line is reported on stderr as FILE:LINE: field: reason.\n"
    "Prints \"created N, updated N, unchanged N\".\n"
    "\n"
    "Options:\n"
    "  -n, --dry-run   check the file and count, but change nothing\n"
    "\n"
    "Examples:\n"
    "  gridctl grid import tongzilin.csv --dry-run\n"
    "  gridctl grid import tongzilin.csv\n"
    "  gridctl grid export WH-TZL | sed 's/张明/李华/' | gridctl grid import -\n";

static const char export_help[] =
    "Usage: gridctl grid export [CODE] [-o FILE]\n"
    "\n"
    "Writes the active nodes of the grid, or of the subtree of CODE, as CSV\n"
    "(parents before children) to standard output or to FILE. FILE is written\n"
    "as FILE.tmp and renamed when complete, so it is never left half written.\n"
    "With --json: {\"count\": N, \"csv\": \"...\"}, or {\"count\": N, \"file\": FILE}.\n"
    "\n"
    "Options:\n"
    "  -o, --output FILE   write to FILE instead of standard output\n"
    "\n"
    "Examples:\n"
    "  gridctl grid export > grid.csv\n"
    "  gridctl grid export WH-TZL-Z5 -o zone5.csv\n";

/* Reads all of path ("-" = stdin) into out. 0 or an exit code, printed. */
static int read_input(struct ctl *ctl, const char *path, const char *shown, struct buf *out)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	int r = CTL_EXIT_OK;

	if (!f)
		return ctl_usage(ctl, "grid import", "cannot open %s: %s", shown, strerror(errno));
	for (;;) {
		uint8_t *p = buf_reserve(out, 64 * 1024);
		size_t n;

		if (!p) {
			char msg[128];

			snprintf(msg, sizeof(msg), "%s: the file is over %u MiB", shown,
				 IMPORT_MAX_BYTES >> 20);
			output_error(ctl->json, GRID__V1__CODE__CODE_RESOURCE_EXHAUSTED, NULL, msg,
				     NULL, 0, NULL);
			r = CTL_EXIT_REJECTED;
			break;
		}
		n = fread(p, 1, 64 * 1024, f);
		buf_commit(out, n);
		if (n < 64 * 1024) {
			if (ferror(f))
				r = ctl_usage(ctl, "grid import", "cannot read %s: %s", shown,
					      strerror(errno));
			break;
		}
	}
	if (f != stdin)
		fclose(f);
	return r;
}

static int grid_import(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
	    ARGS_HELP_OPT,
	    {"dry-run", no_argument, NULL, 'n'},
	    {0},
	};
	const char *cmd = "grid import";
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__ImportGridRequest imp = GRID__V1__IMPORT_GRID_REQUEST__INIT;
	Grid__V1__Reply *reply = NULL;
	const Grid__V1__ImportGridReply *res;
	const char *path, *shown;
	char subject[300];
	struct buf data, out;
	int opt, r;

	while ((opt = ctl_getopt(ctl, cmd, argc, argv, "hn", opts)) != -1) {
		if (opt == 'n')
			imp.dry_run = true;
		else
			return opt == 'h' ? ctl_help(import_help) : CTL_EXIT_USAGE;
	}
	if (argc - optind != 1)
		return ctl_usage(ctl, cmd, "%s: want exactly one FILE (\"-\" for stdin)", cmd);
	path = argv[optind];
	if (args_nonempty(ctl, cmd, "FILE", path))
		return CTL_EXIT_USAGE;
	shown = strcmp(path, "-") == 0 ? "stdin" : path;

	buf_init(&data, IMPORT_MAX_BYTES);
	buf_init(&out, 0);
	r = read_input(ctl, path, shown, &data);
	if (r != CTL_EXIT_OK)
		goto done;
	snprintf(subject, sizeof(subject), "import %s", shown);
	imp.csv.data = data.data;
	imp.csv.len = data.len;
	req.call_case = GRID__V1__REQUEST__CALL_IMPORT_GRID;
	req.import_grid = &imp;
	r = ctl_call(ctl, &req, &reply, subject, shown);
	if (r != CTL_EXIT_OK)
		goto done;
	res = reply->import_grid;
	if (ctl->json) {
		struct json_writer w;

		json_writer_init(&w, &out, false);
		json_begin_object(&w);
		json_key(&w, "created");
		json_uint(&w, res->created);
		json_key(&w, "updated");
		json_uint(&w, res->updated);
		json_key(&w, "unchanged");
		json_uint(&w, res->unchanged);
		json_key(&w, "dry_run");
		json_bool(&w, res->dry_run);
		json_end_object(&w);
		r = output_json_flush(&w, &out);
	} else {
		if (buf_printf(&out, "created %u, updated %u, unchanged %u\n%s", res->created,
			       res->updated, res->unchanged,
			       res->dry_run ? "dry run: nothing changed\n" : "") < 0)
			r = output_oom();
		else
			r = output_flush(&out);
	}
	if (r == CTL_EXIT_OK && imp.dry_run && !res->dry_run) {
		/* Say so loudly: the user asked for nothing to change. */
		r = output_internal(ctl->json, subject,
				    "the server did not confirm the dry run: changes may have been "
				    "made");
	}
done:
	grid_client_reply_free(reply);
	buf_finish(&data);
	buf_finish(&out);
	return r;
}

/* Where export writes: stdout, a temporary file renamed at the end, or
 * (--json without -o) a buffer. */
struct sink {
	const char *file;
	char *tmp;
	int fd;
	struct buf *json_csv;
};

static int sink_write(struct sink *s, const uint8_t *p, size_t n)
{
	if (s->json_csv)
		return buf_append(s->json_csv, p, n) < 0 ? output_oom() : CTL_EXIT_OK;
	if (s->fd < 0)
		return output_write(p, n);
	while (n > 0) {
		ssize_t w = write(s->fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			fprintf(stderr, "gridctl: writing %s failed: %s\n", s->tmp,
				strerror(errno));
			return CTL_EXIT_ERROR;
		}
		p += w;
		n -= (size_t)w;
	}
	return CTL_EXIT_OK;
}

static int sink_open(struct sink *s, const char *file)
{
	size_t n = strlen(file) + 5;

	s->file = file;
	s->tmp = malloc(n);
	if (!s->tmp)
		return output_oom();
	snprintf(s->tmp, n, "%s.tmp", file);
	s->fd = open(s->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (s->fd < 0) {
		fprintf(stderr, "gridctl: cannot create %s: %s\n", s->tmp, strerror(errno));
		return CTL_EXIT_ERROR;
	}
	return CTL_EXIT_OK;
}

/* Renames the finished file into place, or removes the partial one. */
static int sink_close(struct sink *s, int status)
{
	if (s->fd < 0)
		goto out;
	if (status == CTL_EXIT_OK && fsync(s->fd) < 0) {
		fprintf(stderr, "gridctl: writing %s failed: %s\n", s->tmp, strerror(errno));
		status = CTL_EXIT_ERROR;
	}
	if (close(s->fd) < 0 && status == CTL_EXIT_OK) {
		fprintf(stderr, "gridctl: writing %s failed: %s\n", s->tmp, strerror(errno));
		status = CTL_EXIT_ERROR;
	}
	s->fd = -1;
	if (status == CTL_EXIT_OK && rename(s->tmp, s->file) < 0) {
		fprintf(stderr, "gridctl: cannot rename %s to %s: %s\n", s->tmp, s->file,
			strerror(errno));
		status = CTL_EXIT_ERROR;
	}
	if (status != CTL_EXIT_OK)
		unlink(s->tmp);
out:
	free(s->tmp);
	s->tmp = NULL;
	return status;
}

static int grid_export(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
	    ARGS_HELP_OPT,
	    {"output", required_argument, NULL, 'o'},
	    {0},
	};
	const char *cmd = "grid export";
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	Grid__V1__ExportGridRequest exp = GRID__V1__EXPORT_GRID_REQUEST__INIT;
	struct sink sink = {.fd = -1};
	const char *file = NULL;
	struct pager pager;
	struct buf csv, out;
	char subject[160];
	uint64_t count = 0;
	int opt, r;

	while ((opt = ctl_getopt(ctl, cmd, argc, argv, "ho:", opts)) != -1) {
		if (opt == 'o')
			file = optarg;
		else
			return opt == 'h' ? ctl_help(export_help) : CTL_EXIT_USAGE;
	}
	if (argc - optind > 1)
		return ctl_usage(ctl, cmd, "%s: want at most one CODE", cmd);
	if (file && !*file)
		return ctl_usage(ctl, cmd, "%s: -o wants a file name", cmd);
	if (argc - optind == 1) {
		exp.code = argv[optind];
		if (args_nonempty(ctl, cmd, "CODE", exp.code))
			return CTL_EXIT_USAGE;
		snprintf(subject, sizeof(subject), "node %s", exp.code);
	} else {
		snprintf(subject, sizeof(subject), "export");
	}

	buf_init(&csv, 0);
	buf_init(&out, 0);
	/* Connect before creating the file, so a server that is down leaves
	 * nothing behind. */
	r = ctl_connect(ctl);
	if (r != CTL_EXIT_OK)
		goto done;
	if (file)
		r = sink_open(&sink, file);
	else if (ctl->json)
		sink.json_csv = &csv;
	req.call_case = GRID__V1__REQUEST__CALL_EXPORT_GRID;
	req.export_grid = &exp;
	/* Page by page into the sink: only the last page is kept. */
	pager_init(&pager, ctl, &req, &exp.page_token, subject, false);
	while (r == CTL_EXIT_OK) {
		const Grid__V1__Reply *reply;
		const Grid__V1__ExportGridReply *page;

		r = pager_next(&pager, &reply);
		if (r != CTL_EXIT_OK || !reply)
			break;
		page = reply->export_grid;
		count += page->count;
		r = sink_write(&sink, page->csv.data, page->csv.len);
	}
	pager_finish(&pager);
	r = sink_close(&sink, r);
	if (r != CTL_EXIT_OK)
		goto done;
	if (ctl->json) {
		struct json_writer w;

		json_writer_init(&w, &out, false);
		json_begin_object(&w);
		json_key(&w, "count");
		json_uint(&w, count);
		if (file) {
			json_key(&w, "file");
			json_string(&w, file);
		} else {
			json_key(&w, "csv");
			json_string_len(&w, (const char *)csv.data, csv.len);
		}
		json_end_object(&w);
		r = output_json_flush(&w, &out);
	} else if (file) {
		if (buf_printf(&out, "exported %llu node%s to %s\n", (unsigned long long)count,
			       count == 1 ? "" : "s", file) < 0)
			r = output_oom();
		else
			r = output_flush(&out);
	}
done:
	buf_finish(&csv);
	buf_finish(&out);
	return r;
}

static const struct ctl_command grid_commands[] = {
    {"import", grid_import},
    {"export", grid_export},
    {NULL, NULL},
};

int grid_main(struct ctl *ctl, int argc, char **argv)
{
	optind = 0;
	return ctl_dispatch(ctl, "grid", grid_commands, argc, argv, grid_help);
}
