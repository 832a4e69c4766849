/* The deadline clock; see clock.h. */
#include "server/clock.h"

#include <errno.h>
#include <inttypes.h>
#include <time.h>

#ifdef GRID_TEST_CLOCK
static int64_t offset_ms;
#endif

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#ifdef GRID_TEST_CLOCK
int64_t clock_now_ms(void)
{
	return wall_ms() + offset_ms;
}

const char *clock_sql_param(struct arena *a)
{
	return arena_printf(a, "%" PRId64, clock_now_ms());
}

int clock_advance(int64_t ms)
{
	if (ms < 0)
		return -EINVAL;
	offset_ms += ms;
	return 0;
}

bool clock_is_test(void)
{
	return true;
}
#else
int64_t clock_now_ms(void)
{
	return wall_ms();
}

const char *clock_sql_param(struct arena *a)
{
	return NULL;
}

int clock_advance(int64_t ms)
{
	return -ENOSYS;
}

bool clock_is_test(void)
{
	return false;
}
#endif
