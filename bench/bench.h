/*
 * bench.h - the clock and memory readings the bench_* programs share.
 * Only the benchmarks read the clock: the library never does (its
 * timestamps come in as arguments).
 */
#ifndef SP_BENCH_H
#define SP_BENCH_H

#include <sys/resource.h>
#include <time.h>

/* Seconds on the monotonic clock, for differences only. */
static inline double
bench_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

/* The process's peak resident set so far, in KiB (Linux ru_maxrss). */
static inline long
bench_peak_rss_kb(void)
{
	struct rusage	ru;

	getrusage(RUSAGE_SELF, &ru);
	return (ru.ru_maxrss);
}

#endif /* SP_BENCH_H */
