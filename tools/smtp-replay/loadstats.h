/*
 * loadstats.h - what a load run or a probe measures: latency
 * histograms per SMTP phase and errors by class, shared by load.c and
 * probe.c.
 *
 * The histogram is log-linear, in the spirit of HdrHistogram: each
 * power of two of nanoseconds is cut into LS_SUB sub-buckets, so a
 * percentile is known to within 1/LS_SUB (6 %) of its value, memory is
 * a fixed LS_BUCKETS counters whatever the run length, and two
 * histograms merge by adding counters (one per worker thread, merged
 * at the end: no locks while measuring).
 */
#ifndef SMTP_REPLAY_LOADSTATS_H
#define SMTP_REPLAY_LOADSTATS_H

#include <stdint.h>
#include <stdio.h>

#include <smtpproto/err.h>

#define LS_SUB_BITS	4
#define LS_SUB		(1u << LS_SUB_BITS)
#define LS_MAX_EXP	44		/* 2^44 ns: 4.9 hours */
#define LS_BUCKETS	((LS_MAX_EXP + 1) * LS_SUB)

enum ls_phase {
	LS_CONNECT = 0,	/* TCP connect (and implicit TLS) */
	LS_BANNER,	/* connected -> 220 greeting */
	LS_EHLO,
	LS_STARTTLS,	/* STARTTLS -> handshake done */
	LS_AUTH,
	LS_MAIL,
	LS_RCPT,
	LS_DATA,	/* DATA -> 354 */
	LS_DOT,		/* end of data -> 250 */
	LS_QUIT,
	LS_SESSION,	/* connect -> closed, the whole session */
	LS_NPHASES
};

enum ls_err {
	LS_ERR_REFUSED = 0,	/* connection refused */
	LS_ERR_CONNECT,		/* other connect failure (unreachable...) */
	LS_ERR_TIMEOUT,
	LS_ERR_4XX,		/* transient reply (RFC 5321 4.2.1) */
	LS_ERR_5XX,		/* permanent reply */
	LS_ERR_TLS,
	LS_ERR_RESET,		/* RST from the server */
	LS_ERR_CLOSED,		/* orderly close before QUIT's reply */
	LS_ERR_PROTOCOL,	/* malformed or unexpected reply */
	LS_ERR_CANCELLED,	/* cut short: --duration or a signal */
	LS_ERR_OTHER,
	LS_NERRS
};

struct ls_hist {
	uint64_t	count;
	uint64_t	min, max;	/* ns */
	uint64_t	sum;		/* ns, saturating */
	uint64_t	b[LS_BUCKETS];
};

struct ls_stats {
	uint64_t	sessions;	/* started */
	uint64_t	sessions_ok;	/* every message accepted, QUIT */
	uint64_t	messages;	/* accepted (250 after end of data) */
	uint64_t	bytes;		/* message bytes accepted */
	uint64_t	errors[LS_NERRS];
	struct ls_hist	h[LS_NPHASES];
};

const char	*ls_phase_name(enum ls_phase p);
const char	*ls_err_name(enum ls_err e);

void		 ls_hist_add(struct ls_hist *h, uint64_t ns);
void		 ls_hist_merge(struct ls_hist *to, const struct ls_hist *from);
/* The value at or below which q (0..1) of the samples lie; 0 if none. */
uint64_t	 ls_hist_quantile(const struct ls_hist *h, double q);

void		 ls_stats_merge(struct ls_stats *to, const struct ls_stats *from);

/*
 * The error class of a failed client call (e) whose message is msg,
 * or of a reply code (e == SP_E_OK).
 */
enum ls_err	 ls_classify(sp_err e, const char *msg, int code);

/* The percentile table, one row per phase that has samples. */
void		 ls_print_table(FILE *f, const struct ls_stats *s);
/* The "phases" and "errors" members of a JSON object, no braces. */
void		 ls_print_json(FILE *f, const struct ls_stats *s);

/*
 * Command-line helpers shared by load.c and probe.c.  HOST:PORT,
 * [V6]:PORT or V6-literal.PORT is split into buf (cap bytes); the
 * number parsers take the whole string or fail.  All return 0 or -1.
 */
int		 ls_parse_target(const char *arg, char *buf, size_t cap,
		    const char **host, const char **port);
int		 ls_parse_u64(const char *s, uint64_t lo, uint64_t hi,
		    uint64_t *out);
int		 ls_parse_double(const char *s, double lo, double hi,
		    double *out);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t	 ls_now(void);

#endif
