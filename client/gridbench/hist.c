/* The log-linear latency histogram of hist.h. Bucket i < HIST_SUB holds the
 * value i exactly; above that, each power of two [2^e, 2^(e+1)) is cut into
 * HIST_SUB equal parts. Called by gridbench for every reply.
 */
#include <string.h>

#include "client/gridbench/hist.h"

void hist_init(struct hist *h)
{
	memset(h, 0, sizeof(*h));
}

static unsigned bucket_of(uint64_t v)
{
	unsigned e, idx;

	if (v < HIST_SUB)
		return (unsigned)v;
	e = 63u - (unsigned)__builtin_clzll(v); /* >= HIST_SUB_BITS */
	idx = HIST_SUB + (e - HIST_SUB_BITS) * HIST_SUB +
	      (unsigned)((v >> (e - HIST_SUB_BITS)) & (HIST_SUB - 1));
	return idx < HIST_BUCKETS ? idx : HIST_BUCKETS - 1;
}

/* The midpoint of bucket idx. */
static uint64_t bucket_value(unsigned idx)
{
	unsigned e, sub;
	uint64_t lo, width;

	if (idx < HIST_SUB)
		return idx;
	e = (idx - HIST_SUB) / HIST_SUB + HIST_SUB_BITS;
	sub = (idx - HIST_SUB) % HIST_SUB;
	width = 1ull << (e - HIST_SUB_BITS);
	lo = (uint64_t)(HIST_SUB + sub) * width;
	return lo + width / 2;
}

void hist_record(struct hist *h, uint64_t us)
{
	h->counts[bucket_of(us)]++;
	h->count++;
	h->sum_us += us;
	if (us > h->max_us)
		h->max_us = us;
}

void hist_merge(struct hist *into, const struct hist *from)
{
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		into->counts[i] += from->counts[i];
	into->count += from->count;
	into->sum_us += from->sum_us;
	if (from->max_us > into->max_us)
		into->max_us = from->max_us;
}

uint64_t hist_quantile(const struct hist *h, double q)
{
	uint64_t rank, seen = 0;

	if (!h->count)
		return 0;
	if (q <= 0)
		q = 0;
	if (q >= 1)
		return h->max_us;
	/* The rank of the value asked for, 1-based: ceil(q * count). */
	rank = (uint64_t)(q * (double)h->count);
	if ((double)rank < q * (double)h->count)
		rank++;
	if (rank == 0)
		rank = 1;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->counts[i];
		if (seen >= rank) {
			uint64_t v = bucket_value(i);
			return v < h->max_us ? v : h->max_us;
		}
	}
	return h->max_us;
}

double hist_mean(const struct hist *h)
{
	return h->count ? (double)h->sum_us / (double)h->count : 0.0;
}
