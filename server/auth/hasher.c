/* Argon2id on the thread pool; see hasher.h. */
#include "server/auth/hasher.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "common/list.h"

enum job_kind {
	JOB_VERIFY,
	JOB_HASH,
};

struct job {
	uv_work_t work;
	struct hasher *h;
	struct list link; /* waiting queue */
	enum job_kind kind;
	char *password; /* wiped and freed with the job */
	char stored[crypto_pwhash_STRBYTES];
	char new_hash[crypto_pwhash_STRBYTES];
	bool has_new_hash;
	int status;
	hasher_cb cb;
	void *data;
};

struct hasher {
	uv_loop_t *loop;
	struct hasher_limits limits;
	unsigned concurrency, max_queue;
	unsigned running, queued;
	struct list queue;
	char dummy[crypto_pwhash_STRBYTES];
	bool closing;
};

static void resolve_limits(const struct hasher_limits *in, struct hasher_limits *out)
{
	out->opslimit = in && in->opslimit ? in->opslimit : crypto_pwhash_OPSLIMIT_INTERACTIVE;
	out->memlimit = in && in->memlimit ? in->memlimit : crypto_pwhash_MEMLIMIT_INTERACTIVE;
}

int hasher_hash_now(const struct hasher_limits *limits, const char *password, char *out)
{
	struct hasher_limits l;

	resolve_limits(limits, &l);
	if (crypto_pwhash_str(out, password, strlen(password), l.opslimit, l.memlimit) != 0)
		return -ENOMEM;
	return 0;
}

static void job_free(struct job *j)
{
	if (j->password) {
		sodium_memzero(j->password, strlen(j->password));
		free(j->password);
	}
	sodium_memzero(j, sizeof(*j));
	free(j);
}

/* On a pool thread: touches only the job. */
static void do_work(uv_work_t *w)
{
	struct job *j = w->data;
	struct hasher_limits *l = &j->h->limits;
	size_t plen = strlen(j->password);

	if (j->kind == JOB_HASH) {
		j->status =
		    crypto_pwhash_str(j->new_hash, j->password, plen, l->opslimit, l->memlimit) == 0
			? 0
			: -ENOMEM;
		j->has_new_hash = j->status == 0;
		return;
	}
	if (crypto_pwhash_str_verify(j->stored, j->password, plen) != 0) {
		j->status = -EACCES;
		return;
	}
	j->status = 0;
	/* The limits went up since this hash was made: offer a new one. */
	if (crypto_pwhash_str_needs_rehash(j->stored, l->opslimit, l->memlimit) != 0 &&
	    crypto_pwhash_str(j->new_hash, j->password, plen, l->opslimit, l->memlimit) == 0)
		j->has_new_hash = true;
}

static void start_next(struct hasher *h);

static void after_work(uv_work_t *w, int status)
{
	struct job *j = w->data;
	struct hasher *h = j->h;

	h->running--;
	if (status == UV_ECANCELED)
		j->status = -ECANCELED;
	j->cb(j->status, j->has_new_hash ? j->new_hash : NULL, j->data);
	job_free(j);
	if (h->closing && h->running == 0) {
		sodium_memzero(h->dummy, sizeof(h->dummy));
		free(h);
		return;
	}
	start_next(h);
}

static void start_next(struct hasher *h)
{
	while (!h->closing && h->running < h->concurrency && !list_empty(&h->queue)) {
		struct job *j = list_entry(h->queue.next, struct job, link);
		list_remove(&j->link);
		h->queued--;
		h->running++;
		if (uv_queue_work(h->loop, &j->work, do_work, after_work) < 0) {
			h->running--;
			j->cb(-ENOMEM, NULL, j->data);
			job_free(j);
		}
	}
}

struct hasher *hasher_create(uv_loop_t *loop, const struct hasher_limits *limits,
			     unsigned concurrency, unsigned max_queue)
{
	struct hasher *h = calloc(1, sizeof(*h));
	char random_password[33];

	if (!h)
		return NULL;
	h->loop = loop;
	resolve_limits(limits, &h->limits);
	h->concurrency = concurrency ? concurrency : 1;
	h->max_queue = max_queue;
	list_init(&h->queue);
	/* The dummy that unknown users are checked against: a real hash with
	 * the same limits, of a password nobody knows. */
	randombytes_buf(random_password, sizeof(random_password) - 1);
	for (size_t i = 0; i + 1 < sizeof(random_password); i++)
		random_password[i] = (char)('a' + (unsigned char)random_password[i] % 26);
	random_password[sizeof(random_password) - 1] = '\0';
	if (hasher_hash_now(&h->limits, random_password, h->dummy) < 0) {
		free(h);
		return NULL;
	}
	sodium_memzero(random_password, sizeof(random_password));
	return h;
}

void hasher_close(struct hasher *h)
{
	if (!h || h->closing)
		return;
	h->closing = true;
	while (!list_empty(&h->queue)) {
		struct job *j = list_entry(h->queue.next, struct job, link);
		list_remove(&j->link);
		h->queued--;
		j->cb(-ECANCELED, NULL, j->data);
		job_free(j);
	}
	if (h->running == 0) {
		sodium_memzero(h->dummy, sizeof(h->dummy));
		free(h);
	}
}

static int submit(struct hasher *h, enum job_kind kind, const char *stored, const char *password,
		  hasher_cb cb, void *data)
{
	struct job *j;

	if (h->closing)
		return -ECANCELED;
	if (h->running >= h->concurrency && h->queued >= h->max_queue)
		return -EAGAIN;
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->password = strdup(password);
	if (!j->password) {
		free(j);
		return -ENOMEM;
	}
	j->h = h;
	j->kind = kind;
	j->cb = cb;
	j->data = data;
	j->work.data = j;
	snprintf(j->stored, sizeof(j->stored), "%s", stored ? stored : h->dummy);
	list_append(&h->queue, &j->link);
	h->queued++;
	start_next(h);
	return 0;
}

int hasher_verify(struct hasher *h, const char *stored, const char *password, hasher_cb cb,
		  void *data)
{
	return submit(h, JOB_VERIFY, stored, password, cb, data);
}

int hasher_hash(struct hasher *h, const char *password, hasher_cb cb, void *data)
{
	return submit(h, JOB_HASH, NULL, password, cb, data);
}
