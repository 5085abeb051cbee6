/*
 * loadstats.c - latency histograms and error classes; see loadstats.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loadstats.h"

static const char *const phase_names[LS_NPHASES] = {
	"connect", "banner", "ehlo", "starttls", "auth", "mail", "rcpt",
	"data", "dot", "quit", "session"
};

static const char *const err_names[LS_NERRS] = {
	"refused", "connect", "timeout", "4xx", "5xx", "tls", "reset",
	"closed", "protocol", "cancelled", "other"
};

const char *
ls_phase_name(enum ls_phase p)
{
	return ((unsigned)p < LS_NPHASES ? phase_names[p] : "?");
}

const char *
ls_err_name(enum ls_err e)
{
	return ((unsigned)e < LS_NERRS ? err_names[e] : "?");
}

uint64_t
ls_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
}

static unsigned
floor_log2(uint64_t v)
{
	unsigned e = 0;

	while (v >>= 1)
		e++;
	return (e);
}

/*
 * Values below LS_SUB get a bucket each; above, the top LS_SUB_BITS+1
 * bits of the value (the leading 1 and LS_SUB_BITS more) choose it.
 */
static size_t
bucket_of(uint64_t v)
{
	unsigned e;

	if (v < LS_SUB)
		return ((size_t)v);
	e = floor_log2(v);
	if (e > LS_MAX_EXP)
		return (LS_BUCKETS - 1);
	return ((size_t)(e - LS_SUB_BITS + 1) * LS_SUB +
	    ((v >> (e - LS_SUB_BITS)) & (LS_SUB - 1)));
}

/* The largest value that falls in bucket i. */
static uint64_t
bucket_top(size_t i)
{
	unsigned row, shift;
	uint64_t sub;

	if (i < LS_SUB)
		return ((uint64_t)i);
	row = (unsigned)(i / LS_SUB);
	sub = i % LS_SUB;
	shift = row - 1;
	return (((LS_SUB + sub) << shift) + (((uint64_t)1 << shift) - 1));
}

void
ls_hist_add(struct ls_hist *h, uint64_t ns)
{
	if (h->count == 0 || ns < h->min)
		h->min = ns;
	if (ns > h->max)
		h->max = ns;
	h->count++;
	h->sum = ns > UINT64_MAX - h->sum ? UINT64_MAX : h->sum + ns;
	h->b[bucket_of(ns)]++;
}

void
ls_hist_merge(struct ls_hist *to, const struct ls_hist *from)
{
	if (from->count == 0)
		return;
	if (to->count == 0 || from->min < to->min)
		to->min = from->min;
	if (from->max > to->max)
		to->max = from->max;
	to->count += from->count;
	to->sum = from->sum > UINT64_MAX - to->sum ? UINT64_MAX :
	    to->sum + from->sum;
	for (size_t i = 0; i < LS_BUCKETS; i++)
		to->b[i] += from->b[i];
}

/*
 * The top of the bucket holding the ceil(q * count)-th sample, never
 * above the exact maximum: so p50 <= p90 <= p99 <= max always holds.
 */
uint64_t
ls_hist_quantile(const struct ls_hist *h, double q)
{
	uint64_t rank, seen = 0, v;

	if (h->count == 0)
		return (0);
	if (q >= 1.0)
		return (h->max);
	rank = (uint64_t)(q * (double)h->count);
	if ((double)rank < q * (double)h->count)
		rank++;
	if (rank == 0)
		rank = 1;
	for (size_t i = 0; i < LS_BUCKETS; i++) {
		seen += h->b[i];
		if (seen < rank)
			continue;
		v = bucket_top(i);
		if (v < h->min)
			v = h->min;
		return (v < h->max ? v : h->max);
	}
	return (h->max);
}

void
ls_stats_merge(struct ls_stats *to, const struct ls_stats *from)
{
	to->sessions += from->sessions;
	to->sessions_ok += from->sessions_ok;
	to->messages += from->messages;
	to->bytes += from->bytes;
	for (int i = 0; i < LS_NERRS; i++)
		to->errors[i] += from->errors[i];
	for (int i = 0; i < LS_NPHASES; i++)
		ls_hist_merge(&to->h[i], &from->h[i]);
}

/*
 * The client reports a refused connection as SP_E_IO with errno's
 * sentence in its message ("connect to ...: Connection refused").
 */
enum ls_err
ls_classify(sp_err e, const char *msg, int code)
{
	switch (e) {
	case SP_E_OK:
		if (code >= 400 && code < 500)
			return (LS_ERR_4XX);
		if (code >= 500 && code < 600)
			return (LS_ERR_5XX);
		return (LS_ERR_PROTOCOL);
	case SP_E_TIMEOUT:
		return (LS_ERR_TIMEOUT);
	case SP_E_CANCELLED:
		return (LS_ERR_CANCELLED);
	case SP_E_TLS:
		return (LS_ERR_TLS);
	case SP_E_RESET:
		return (LS_ERR_RESET);
	case SP_E_CLOSED:
		return (LS_ERR_CLOSED);
	case SP_E_FORMAT:
	case SP_E_LIMIT:
		return (LS_ERR_PROTOCOL);
	case SP_E_IO:
		if (msg != NULL && strstr(msg, "refused") != NULL)
			return (LS_ERR_REFUSED);
		if (msg != NULL && strstr(msg, "connect") != NULL)
			return (LS_ERR_CONNECT);
		return (LS_ERR_OTHER);
	default:
		return (LS_ERR_OTHER);
	}
}

static double
ms(uint64_t ns)
{
	return ((double)ns / 1e6);
}

void
ls_print_table(FILE *f, const struct ls_stats *s)
{
	const struct ls_hist *h;

	fprintf(f, "%-9s %8s %9s %9s %9s %9s %9s\n", "phase", "count",
	    "p50 ms", "p90 ms", "p99 ms", "max ms", "mean ms");
	for (int i = 0; i < LS_NPHASES; i++) {
		h = &s->h[i];
		if (h->count == 0)
			continue;
		fprintf(f, "%-9s %8llu %9.3f %9.3f %9.3f %9.3f %9.3f\n",
		    ls_phase_name((enum ls_phase)i),
		    (unsigned long long)h->count,
		    ms(ls_hist_quantile(h, 0.50)), ms(ls_hist_quantile(h, 0.90)),
		    ms(ls_hist_quantile(h, 0.99)), ms(h->max),
		    ms(h->sum / h->count));
	}
}

void
ls_print_json(FILE *f, const struct ls_stats *s)
{
	const struct ls_hist *h;
	const char *sep = "";

	fprintf(f, "\"errors\":{");
	for (int i = 0; i < LS_NERRS; i++)
		fprintf(f, "%s\"%s\":%llu", i ? "," : "",
		    ls_err_name((enum ls_err)i),
		    (unsigned long long)s->errors[i]);
	fprintf(f, "},\"phases\":{");
	for (int i = 0; i < LS_NPHASES; i++) {
		h = &s->h[i];
		if (h->count == 0)
			continue;
		fprintf(f, "%s\"%s\":{\"count\":%llu,\"p50_ms\":%.3f,"
		    "\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,"
		    "\"min_ms\":%.3f,\"mean_ms\":%.3f}", sep,
		    ls_phase_name((enum ls_phase)i),
		    (unsigned long long)h->count,
		    ms(ls_hist_quantile(h, 0.50)), ms(ls_hist_quantile(h, 0.90)),
		    ms(ls_hist_quantile(h, 0.99)), ms(h->max), ms(h->min),
		    ms(h->sum / h->count));
		sep = ",";
	}
	fprintf(f, "}");
}

int
ls_parse_target(const char *arg, char *buf, size_t cap, const char **host,
    const char **port)
{
	size_t	n = strlen(arg);
	char	*colon, *close;

	if (n == 0 || n >= cap)
		return (-1);
	memcpy(buf, arg, n + 1);
	if (buf[0] == '[') {
		close = strchr(buf, ']');
		if (close == NULL || close[1] != ':' || close[2] == '\0')
			return (-1);
		*close = '\0';
		*host = buf + 1;
		*port = close + 2;
		return (0);
	}
	colon = strrchr(buf, ':');
	if (colon == NULL || colon == buf || colon[1] == '\0')
		return (-1);
	*colon = '\0';
	*host = buf;
	*port = colon + 1;
	return (0);
}

int
ls_parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char			*end;
	unsigned long long	 v;

	if (s == NULL || *s < '0' || *s > '9')
		return (-1);
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < lo || v > hi)
		return (-1);
	*out = v;
	return (0);
}

int
ls_parse_double(const char *s, double lo, double hi, double *out)
{
	char	*end;
	double	 v;

	if (s == NULL || *s == '\0')
		return (-1);
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || *end != '\0' || !(v >= lo && v <= hi))
		return (-1);
	*out = v;
	return (0);
}
