/* A latency histogram for gridbench: log-linear buckets in the manner of
 * HdrHistogram (32 linear sub-buckets per power of two, so every recorded
 * value is kept within about 3%), fixed size, no allocation. Values are
 * microseconds. gridbench keeps one per operation and merges them for the
 * total.
 */
#pragma once

#include <stdint.h>

#define HIST_SUB_BITS 5
#define HIST_SUB (1u << HIST_SUB_BITS)
/* Up to 2^45 us (about a year): far beyond any deadline. */
#define HIST_BUCKETS (HIST_SUB + (45 - HIST_SUB_BITS) * HIST_SUB)

struct hist {
	uint64_t count;
	uint64_t sum_us;
	uint64_t max_us;
	uint64_t counts[HIST_BUCKETS];
};

void hist_init(struct hist *h);
void hist_record(struct hist *h, uint64_t us);
/* Adds every value of from into into. */
void hist_merge(struct hist *into, const struct hist *from);
/* The value at quantile q (0..1): the midpoint of the bucket holding the
 * ceil(q * count)-th smallest value, never above the maximum; 0 when
 * empty. */
uint64_t hist_quantile(const struct hist *h, double q);
/* The mean in microseconds; 0 when empty. */
double hist_mean(const struct hist *h);
