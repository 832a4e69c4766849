/* Writes the seed inputs of the fuzz targets: fuzz_seeds DIR fills
 * DIR/request/ and DIR/frame/ (scripts/fuzz --seeds, which points it at
 * fuzz/corpus; the files are checked in).
 *
 * Request seeds are made from the protocol's descriptors, not by hand: for
 * every call in Request.call, a request whose fields are filled with values
 * that make sense for their names (node codes of the harness's grid, level
 * names, small numbers), once for a district admin, once for a building head
 * and once with an idempotency key. A call added to the protocol gets its
 * seeds by running this again (replay.c checks that every call has one).
 * Frame seeds are framed Hello and Ping requests cut in various ways, an
 * empty frame and oversized headers.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/arena.h"
#include "common/frame.h"
#include "fuzz/harness.h"
#include "proto/rpc.pb-c.h"

static struct arena arena;

static const char *string_for(const char *field, enum fuzz_mode mode)
{
	static const struct {
		const char *part, *value;
	} names[] = {
	    {"parent_code", "WH-TZL-Z5-ZTY"},
	    {"within_code", "WH-TZL"},
	    {"code", "WH-TZL-Z5-ZTY-B1"},
	    {"level", "building"},
	    {"username", "zty_b1"},
	    {"password", "correct horse battery"},
	    {"page_token", ""},
	    {"token", "gs_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
	    {"kind", "case."},
	    {"category", "facilities"},
	    {"channel", "visit"},
	    {"phone", "13800000026"},
	    {"method", "GetNode"},
	    {"csv", "code,parent_code,level,name,leader_name,leader_phone\n"
		    "WH-TZL-Z5-NEW,WH-TZL-Z5,courtyard,新院落,王芳,13800000100\n"},
	    {"key_id", "gk_7Hq2xZ9p"},
	    {"number", "households_visited"},
	    {"name", "李刚"},
	    {"title", "楼道灯坏了"},
	};

	if (mode == FUZZ_MODE_BUILDING_HEAD && strstr(field, "code"))
		return "WH-TZL-Z5-ZTY-B1";
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strstr(field, names[i].part))
			return names[i].value;
	return "x";
}

static uint64_t number_for(const char *field)
{
	/* Times: a window from 2023 to 2100, so due dates lie ahead. */
	if (strstr(field, "from") && strstr(field, "_ms"))
		return 1700000000000ULL;
	if (strstr(field, "_ms"))
		return 4102444800000ULL;
	if (strstr(field, "page_size") || strstr(field, "limit"))
		return 10;
	if (strstr(field, "satisfaction"))
		return 5;
	if (strstr(field, "version"))
		return 1;
	return 1;
}

static void fill(ProtobufCMessage *m, enum fuzz_mode mode, int depth);

/* Sets one value of field f at p (a scalar slot, or one array element). */
static void set_value(const ProtobufCFieldDescriptor *f, void *p, enum fuzz_mode mode, int depth)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
		*(char **)p = arena_strdup(&arena, string_for(f->name, mode));
		break;
	case PROTOBUF_C_TYPE_BYTES: {
		const char *s = string_for(f->name, mode);
		ProtobufCBinaryData *b = p;
		b->len = strlen(s);
		b->data = arena_memdup(&arena, s, b->len);
		break;
	}
	case PROTOBUF_C_TYPE_BOOL:
		*(protobuf_c_boolean *)p = 1;
		break;
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumDescriptor *e = f->descriptor;
		*(int *)p = e->n_values > 1 ? e->values[1].value : e->values[0].value;
		break;
	}
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		*(uint32_t *)p = (uint32_t)number_for(f->name);
		break;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		*(uint64_t *)p = number_for(f->name);
		break;
	case PROTOBUF_C_TYPE_FLOAT:
		*(float *)p = 1;
		break;
	case PROTOBUF_C_TYPE_DOUBLE:
		*(double *)p = 1;
		break;
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessageDescriptor *d = f->descriptor;
		ProtobufCMessage *sub;
		if (depth > 4) {
			*(void **)p = NULL;
			break;
		}
		sub = arena_zalloc(&arena, d->sizeof_message);
		d->message_init(sub);
		fill(sub, mode, depth + 1);
		*(void **)p = sub;
		break;
	}
	}
}

static size_t value_size(const ProtobufCFieldDescriptor *f)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return 8;
	default:
		return 4;
	}
}

/* Fills every field of m, the first member of each oneof only. */
static void fill(ProtobufCMessage *m, enum fuzz_mode mode, int depth)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	char *base = (char *)m;

	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];

		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			uint32_t *which = (uint32_t *)(base + f->quantifier_offset);
			if (*which)
				continue;
			*which = f->id;
			set_value(f, base + f->offset, mode, depth);
			continue;
		}
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			void *v = arena_zalloc(&arena, value_size(f));
			set_value(f, v, mode, depth);
			if (f->type == PROTOBUF_C_TYPE_MESSAGE && !*(void **)v)
				continue;
			*(size_t *)(base + f->quantifier_offset) = 1;
			*(void **)(base + f->offset) = v;
			continue;
		}
		if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset &&
		    f->type != PROTOBUF_C_TYPE_MESSAGE && f->type != PROTOBUF_C_TYPE_STRING)
			*(protobuf_c_boolean *)(base + f->quantifier_offset) = 1;
		set_value(f, base + f->offset, mode, depth);
	}
}

static void write_file(const char *dir, const char *name, const void *a, size_t alen, const void *b,
		       size_t blen)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(a, 1, alen, f) != alen || (blen && fwrite(b, 1, blen, f) != blen) ||
	    fclose(f) != 0) {
		fprintf(stderr, "fuzz_seeds: cannot write %s: %s\n", path, strerror(errno));
		exit(1);
	}
}

/* The Request of call field f, packed into the arena. */
static uint8_t *pack_call(const ProtobufCFieldDescriptor *f, enum fuzz_mode mode, bool idem,
			  uint64_t id, size_t *ret_len)
{
	Grid__V1__Request req = GRID__V1__REQUEST__INIT;
	char *base = (char *)&req;
	uint8_t *out;

	req.id = id;
	if (idem)
		req.idempotency_key = (char *)"seed-key-1";
	*(uint32_t *)(base + f->quantifier_offset) = f->id;
	set_value(f, base + f->offset, mode, 0);
	*ret_len = grid__v1__request__get_packed_size(&req);
	out = arena_alloc(&arena, *ret_len + 1);
	grid__v1__request__pack(&req, out);
	return out;
}

static void request_seeds(const char *dir)
{
	const ProtobufCMessageDescriptor *d = &grid__v1__request__descriptor;
	static const struct {
		enum fuzz_mode mode;
		bool idem;
		const char *prefix;
	} variants[] = {
	    {FUZZ_MODE_ADMIN, false, "admin"},
	    {FUZZ_MODE_BUILDING_HEAD, false, "building_head"},
	    {FUZZ_MODE_STAFF, true, "staff-idem"},
	};

	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
			continue;
		for (size_t v = 0; v < sizeof(variants) / sizeof(variants[0]); v++) {
			uint8_t mode = (uint8_t)variants[v].mode;
			char name[256];
			size_t len;
			uint8_t *p = pack_call(f, variants[v].mode, variants[v].idem, 7, &len);
			/* Hello is the first request, and only that. */
			if (f->id == GRID__V1__REQUEST__CALL_HELLO)
				mode = FUZZ_MODE_NEW;
			snprintf(name, sizeof(name), "%s-%s", variants[v].prefix, f->name);
			write_file(dir, name, &mode, 1, p, len);
		}
	}
}

/* A pipelined request input (see fuzz_request.c): the mode byte with its
 * top bit set, then each call's Request after a length byte. */
static void pipelined_seed(const char *dir, const char *name, enum fuzz_mode mode,
			   const Grid__V1__Request__CallCase *calls, size_t ncalls)
{
	uint8_t out[4096];
	size_t len = 0;

	out[len++] = (uint8_t)(0x80 | mode);
	for (size_t i = 0; i < ncalls; i++) {
		const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(
		    &grid__v1__request__descriptor, (unsigned)calls[i]);
		size_t n;
		uint8_t *p = pack_call(f, mode, i % 2 == 1, 100 + i, &n);
		if (n > 255 || len + 1 + n > sizeof(out)) {
			fprintf(stderr, "fuzz_seeds: %s: request %zu too long\n", name, i);
			exit(1);
		}
		out[len++] = (uint8_t)n;
		memcpy(out + len, p, n);
		len += n;
	}
	write_file(dir, name, out, len, NULL, 0);
}

#define CALL(name) GRID__V1__REQUEST__CALL_##name

static void pipelined_seeds(const char *dir)
{
	static const Grid__V1__Request__CallCase first[] = {
	    CALL(HELLO), CALL(PING), CALL(LOGIN), CALL(GET_NODE), CALL(AUTHENTICATE),
	};
	static const Grid__V1__Request__CallCase admin[] = {
	    CALL(GET_NODE),    CALL(LIST_CHILDREN), CALL(RAISE_CASE), CALL(SUBSCRIBE),
	    CALL(GET_SUBTREE), CALL(UNSUBSCRIBE),   CALL(LOGOUT),     CALL(GET_NODE),
	};
	static const Grid__V1__Request__CallCase head[] = {
	    CALL(WHO_AM_I),   CALL(SUBSCRIBE), CALL(SUBSCRIBE),	 CALL(LIST_CASES),
	    CALL(FIND_NODES), CALL(HELLO),     CALL(ISSUE_TASK), CALL(PING),
	};

	pipelined_seed(dir, "pipelined-new-hello-login", FUZZ_MODE_NEW, first,
		       sizeof(first) / sizeof(first[0]));
	pipelined_seed(dir, "pipelined-admin", FUZZ_MODE_ADMIN, admin,
		       sizeof(admin) / sizeof(admin[0]));
	pipelined_seed(dir, "pipelined-building_head", FUZZ_MODE_BUILDING_HEAD, head,
		       sizeof(head) / sizeof(head[0]));
}

/* A frame input: flags, chunk sizes, stream (see fuzz_frame.c). */
static void frame_seed(const char *dir, const char *name, uint8_t flags, const uint8_t *chunks,
		       uint8_t nchunks, const uint8_t *stream, size_t len)
{
	uint8_t head[2 + 8];

	head[0] = flags;
	head[1] = nchunks;
	memcpy(head + 2, chunks, nchunks);
	write_file(dir, name, head, 2 + nchunks, stream, len);
}

static size_t put_frame(uint8_t *out, const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_pack(m, out + FRAME_HEADER_SIZE);

	frame_put_header(out, (uint32_t)n);
	return FRAME_HEADER_SIZE + n;
}

static void frame_seeds(const char *dir)
{
	Grid__V1__Request hello = GRID__V1__REQUEST__INIT, ping = GRID__V1__REQUEST__INIT;
	Grid__V1__Hello h = GRID__V1__HELLO__INIT;
	Grid__V1__Ping pr = GRID__V1__PING__INIT;
	uint8_t stream[1024];
	size_t n = 0;
	static const uint8_t ones[] = {1}, split[] = {3, 5, 2, 0, 7}, big[] = {200};

	hello.id = 1;
	hello.call_case = GRID__V1__REQUEST__CALL_HELLO;
	hello.hello = &h;
	h.protocol_version = 1;
	h.client_name = (char *)"fuzz";
	ping.id = 2;
	ping.call_case = GRID__V1__REQUEST__CALL_PING;
	ping.ping = &pr;

	n = put_frame(stream, &hello.base);
	frame_seed(dir, "hello", 0, NULL, 0, stream, n);
	frame_seed(dir, "hello-bytewise", 0, ones, 1, stream, n);
	n += put_frame(stream + n, &ping.base);
	frame_seed(dir, "hello-ping", 0, NULL, 0, stream, n);
	frame_seed(dir, "hello-ping-split", 0x06, split, sizeof(split), stream, n);
	frame_seed(dir, "hello-ping-stops", 0xff, big, 1, stream, n);
	frame_seed(dir, "hello-ping-admin", 0x01, split, sizeof(split), stream, n);
	/* Garbage after the good frames, an empty frame, a truncated one. */
	memcpy(stream + n, "\0\0\0\0\0\0\0\x05gar", 11);
	frame_seed(dir, "empty-truncated", 0x50, split, 3, stream, n + 11);
	/* A header over each limit. */
	frame_put_header(stream, 16385);
	frame_seed(dir, "oversize-before-login", 0, NULL, 0, stream, 4);
	frame_put_header(stream, 0xffffffffu);
	frame_seed(dir, "oversize-huge", 0x01, ones, 1, stream, 6);
	frame_put_header(stream, 70);
	memset(stream + 4, 0x0a, 70);
	frame_seed(dir, "over-small-limit", 0x30, NULL, 0, stream, 74);
}

int main(int argc, char **argv)
{
	char dir[4096];

	if (argc != 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: fuzz_seeds DIR   (writes DIR/request/ and DIR/frame/)\n");
		return 2;
	}
	arena_init(&arena, 1 << 16);
	snprintf(dir, sizeof(dir), "%s/request", argv[1]);
	mkdir(argv[1], 0777);
	mkdir(dir, 0777);
	request_seeds(dir);
	pipelined_seeds(dir);
	snprintf(dir, sizeof(dir), "%s/frame", argv[1]);
	mkdir(dir, 0777);
	frame_seeds(dir);
	arena_finish(&arena);
	return 0;
}
