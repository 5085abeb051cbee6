/*
 * decode.h - smtp-decode's internal interfaces.
 *
 * main.c parses options, input.c pulls packets from files or an
 * interface into the analyzer, record.c turns the analyzer's events
 * into one JSON record per session, and output.c writes records as
 * NDJSON, Zeek smtp.log or Suricata EVE.
 */
#ifndef SMTP_DECODE_H
#define SMTP_DECODE_H

#include <stdio.h>

#include <smtpproto/smtpproto.h>
#include <smtpproto/analyzer.h>

enum out_format { FMT_JSON, FMT_ZEEK, FMT_EVE };

struct decode_opts {
	const char	*iface;		/* -i: live capture */
	const char	*filter;	/* -f: BPF */
	int		 snaplen;
	int		 bufsize;
	const char	*user;		/* -Z: drop privileges to */
	const char	*outfile;	/* -o */
	const char	*extract_dir;	/* --extract */
	enum out_format	 format;
	int		 events;	/* --events */
	int		 dialogue;	/* --dialogue */
	int		 stats;		/* --stats */
	int		 pretty;	/* --pretty: indented JSON */
	int		 progress;	/* progress bar allowed */
	int		 threads;	/* shards per file (-j) */
	int		 max_flows;	/* --max-flows: TCP flows held */
	struct sp_analyzer_options an;
};

struct progress {
	int	enabled, drawn;
	double	start, last;
};

void	progress_init(struct progress *pg, int enabled);
void	progress_update(struct progress *pg, const char *name,
	    uint64_t done, uint64_t total, uint64_t sessions);
void	progress_clear(struct progress *pg);

/* Run over files (or opts->iface); returns the exit status. */
int	decode_run(const struct decode_opts *o, char **files, int nfiles);

#endif /* SMTP_DECODE_H */
