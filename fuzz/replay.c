/* Replays a fuzz target's inputs in the normal test suite, without
 * libFuzzer: every file of fuzz/corpus/<target>/ (the seeds) and of
 * fuzz/regressions/<target>/ (inputs that once crashed gridd) goes through
 * LLVMFuzzerTestOneInput, which aborts on a crash or a broken promise.
 *
 * Built by fuzz/meson.build once per target (FUZZ_TARGET names it,
 * FUZZ_DIR is the fuzz/ source directory), with the normal compiler, in the
 * plain and the sanitizer build. One TAP case per directory; the file being
 * replayed is named on stderr first, so a failure says which input it was.
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/rpc.pb-c.h"
#include "tests/harness/test.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reads a whole file; NULL when it cannot. */
static uint8_t *read_file(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *data = NULL;
	size_t len = 0, cap = 0, n;

	if (!f)
		return NULL;
	do {
		if (len == cap) {
			uint8_t *d;
			cap = cap ? cap * 2 : 4096;
			d = realloc(data, cap);
			if (!d) {
				free(data);
				fclose(f);
				return NULL;
			}
			data = d;
		}
		n = fread(data + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	if (ferror(f)) {
		free(data);
		data = NULL;
	}
	fclose(f);
	*ret_len = len;
	return data;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int visible(const struct dirent *d)
{
	return d->d_name[0] != '.' && strcmp(d->d_name, "README.md") != 0;
}

typedef void (*input_fn)(const char *name, const uint8_t *data, size_t len, void *arg);

/* Calls fn on every input file in FUZZ_DIR/<kind>/FUZZ_TARGET, in name
 * order; returns how many there were. */
static int each_input(const char *kind, input_fn fn, void *arg)
{
	char dir[4096], path[8192];
	struct dirent **names;
	int n;

	snprintf(dir, sizeof(dir), "%s/%s/%s", FUZZ_DIR, kind, FUZZ_TARGET);
	n = scandir(dir, &names, visible, by_name);
	if (n < 0) {
		if (errno == ENOENT)
			return 0;
		ASSERT_MSG(0, "cannot read %s: %s", dir, strerror(errno));
	}
	for (int i = 0; i < n; i++) {
		uint8_t *data;
		size_t len = 0;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		data = read_file(path, &len);
		ASSERT_MSG(data || len == 0, "cannot read %s", path);
		fn(names[i]->d_name, data ? data : (const uint8_t *)"", len, arg);
		free(data);
		free(names[i]);
	}
	free(names);
	return n;
}

static void replay_one(const char *name, const uint8_t *data, size_t len, void *arg)
{
	fprintf(stderr, "# replaying %s/%s (%zu bytes)\n", (const char *)arg, name, len);
	LLVMFuzzerTestOneInput(data, len);
}

TEST(corpus)
{
	int n = each_input("corpus", replay_one, "corpus");

	ASSERT_MSG(n > 0, "no seed inputs in %s/corpus/%s", FUZZ_DIR, FUZZ_TARGET);
}

TEST(regressions)
{
	if (each_input("regressions", replay_one, "regressions") == 0)
		TEST_SKIP("no regression inputs for this target yet");
}

#ifdef FUZZ_TARGET_REQUEST
/* Request seeds: a mode byte, then a Request. Every call of the protocol
 * must have one, so that a call added later starts with a seed. */
static void note_call(const char *name, const uint8_t *data, size_t len, void *arg)
{
	bool *seen = arg;
	Grid__V1__Request *req;

	if (len < 1)
		return;
	req = grid__v1__request__unpack(NULL, len - 1, data + 1);
	if (!req)
		return;
	if ((unsigned)req->call_case < 1024)
		seen[req->call_case] = true;
	grid__v1__request__free_unpacked(req, NULL);
}

TEST(seeds_cover_every_call)
{
	const ProtobufCMessageDescriptor *d = &grid__v1__request__descriptor;
	bool seen[1024] = {false};

	each_input("corpus", note_call, seen);
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
			continue;
		ASSERT_MSG(
		    f->id < 1024 && seen[f->id],
		    "no seed in fuzz/corpus/request calls %s (field %u); regenerate the seeds "
		    "with scripts/fuzz --seeds",
		    f->name, f->id);
	}
}
#endif
