/*
 * load.h - what load.c shares with its event-driven engine (loadev.c):
 * the run's configuration and state, the worker a thread runs as, and
 * the schedule of session starts.
 */
#ifndef SMTP_REPLAY_LOAD_H
#define SMTP_REPLAY_LOAD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <smtpproto/client.h>
#include <smtpproto/script.h>

#include "loadstats.h"
#include "rsession.h"

#define MAX_CONCURRENCY	1000
#define MAX_SESSIONS	100000000ull
#define MAX_PER_SESSION	10000
#define MAX_RCPTS	100
#define MAX_SIZE	(64u << 20)
#define MAX_DURATION	86400.0
#define MAX_ADDR	512	/* RFC 5321 4.5.3.1.3: a path is 256 */

/* The engine that runs the sessions (--engine). */
enum load_engine {
	LOAD_ENGINE_AUTO = 0,	/* events when it applies, else threads */
	LOAD_ENGINE_THREADS,
	LOAD_ENGINE_EVENTS
};

struct load_cfg {
	const char	*host, *port;
	const char	*from, *rcpt, *helo;
	const char	*script_path, *json_path;
	unsigned	 concurrency, per_session, rcpts;
	uint64_t	 sessions;
	size_t		 size;
	double		 rate, duration, timeout;
	int		 pipelining, starttls, no_verify, progress;
	unsigned	 spin_us;	/* event engine: poll before sleeping */
	/* Recorded sessions (captures, decode JSON, scripts) to play. */
	char *const	*inputs;
	int		 ninputs;
	int		 repeat_set;
	double		 speed;		/* 0: as fast as possible */
	unsigned	 max_gap_ms;
	const char	*ca_file;
	enum sp_client_family family;
	enum load_engine engine;
};

struct load_run {
	const struct load_cfg	*cfg;
	struct sp_client_options copt;
	sp_script		*script;	/* --script, owned */
	struct rs_list		 rec;		/* recorded sessions */
	sp_ts			 rec_first;	/* their first start */
	uint64_t		 rec_period;	/* ns between rounds */
	uint8_t			*msg;		/* the generated message */
	size_t			 msglen;
	uint8_t			*wire;		/* it dot-stuffed, CRLF.CRLF */
	size_t			 wirelen;
	uint64_t		 t0, deadline;	/* ns, monotonic */
	atomic_int		 stop;		/* no new sessions */
	int			 cancel[2];	/* a pipe: readable = stop */
	int			 interrupted;	/* SIGINT or SIGTERM */
	atomic_ullong		 next;		/* next session's ticket */
	atomic_ullong		 done, ok, msgs, errs;
	atomic_uint		 running;
	pthread_t		 supervisor;	/* woken when it reaches 0 */
};

/* A worker is done: the last one wakes the supervisor at once. */
void	load_worker_done(struct load_run *run);

struct worker {
	pthread_t		 tid;
	struct load_run		*run;
	struct ls_stats		*st;
	char			*out;		/* the next write (pipelining) */
	size_t			 outcap;
	sp_client		*c;		/* reused: see session() */
};

/*
 * When session ticket i may start (ns, monotonic), or 0 for at once:
 * --rate and --speed pacing.
 */
uint64_t	 load_start_time(const struct load_run *run, uint64_t i);

/*
 * The RFC 2920 envelope group of the built-in session: MAIL, each
 * RCPT and DATA, CRLF after each, at out (cap bytes); its length.
 */
size_t		 load_envelope(const struct load_cfg *cfg, char *out,
		    size_t cap);

/* 1 if the event engine can run cfg's sessions (loadev.c). */
int		 loadev_applies(const struct load_cfg *cfg);

/*
 * The event engine: a thread's main, arg a struct worker whose run and
 * st are set.  Runs every session of the run, --concurrency at a time.
 */
void		*loadev_main(void *arg);

#endif
