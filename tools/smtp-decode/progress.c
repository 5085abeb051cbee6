/*
 * progress.c - the progress line on stderr for file input: bytes read,
 * sessions, rate and ETA.  Drawn only when stderr is a terminal, at
 * most every 200 ms, and erased before anything else is printed.
 */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "decode.h"

static double
now_sec(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

void
progress_init(struct progress *pg, int enabled)
{
	pg->enabled = enabled && isatty(STDERR_FILENO);
	pg->start = now_sec();
	pg->last = 0;
	pg->drawn = 0;
}

static void
human_bytes(double b, char *buf, size_t len)
{
	const char	*unit[] = { "B", "KB", "MB", "GB", "TB" };
	int		 u = 0;

	while (b >= 1000 && u < 4) {
		b /= 1000;
		u++;
	}
	snprintf(buf, len, "%.1f %s", b, unit[u]);
}

void
progress_update(struct progress *pg, const char *name, uint64_t done,
    uint64_t total, uint64_t sessions)
{
	double	t = now_sec(), el, rate;
	char	d[32], r[32];

	if (!pg->enabled || t - pg->last < 0.2)
		return;
	pg->last = t;
	el = t - pg->start;
	rate = el > 0 ? (double)done / el : 0;
	human_bytes((double)done, d, sizeof(d));
	human_bytes(rate, r, sizeof(r));
	if (total > 0 && done <= total) {
		double	pct = 100.0 * (double)done / (double)total;
		double	eta = rate > 0 ? (double)(total - done) / rate : 0;
		int	fill = (int)(pct / 5);

		fprintf(stderr, "\r%.30s [%-20.*s] %5.1f%% %s %s/s "
		    "%llu sessions ETA %.0fs ", name, fill,
		    "####################", pct, d, r,
		    (unsigned long long)sessions, eta);
	} else {
		fprintf(stderr, "\r%.30s %s %s/s %llu sessions ", name, d, r,
		    (unsigned long long)sessions);
	}
	pg->drawn = 1;
}

void
progress_clear(struct progress *pg)
{
	if (!pg->drawn)
		return;
	fprintf(stderr, "\r\033[K");
	pg->drawn = 0;
}
