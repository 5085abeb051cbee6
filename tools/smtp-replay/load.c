/*
 * load.c - smtp-replay's load mode: N worker threads run sessions
 * against --target (a built-in session or a session script), paced
 * to --rate sessions/s if asked, and report sessions/s, messages/s,
 * errors by class and per-phase latency percentiles.
 *
 * Two engines.  The built-in session runs by default on loadev.c's
 * single thread, which drives every connection through epoll: on a
 * small machine a thread per connection spends its time waking up.
 * STARTTLS, scripts and recorded sessions run here, on worker threads
 * with the library's blocking client (every wait bounded): each
 * worker owns one client at a time and its own statistics, so the
 * only shared state is a few atomic counters (the ticket that hands
 * out session numbers, and the progress figures).  Statistics merge
 * after the run (loadstats.h).  See bench/replay.sh for the figures.
 *
 * Bounds: at most --repeat sessions (MAX_SESSIONS), at most
 * --duration seconds (default 600), every wait --timeout seconds.
 * Nothing is ever sent anywhere but --target.
 */
#include <errno.h>
#include <stdint.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <smtpproto/client.h>
#include <smtpproto/script.h>

#include "load.h"
#include "loadstats.h"
#include "replay.h"
#include "rsession.h"

/* What an envelope group can take: MAIL, the RCPTs, DATA. */
#define ENVELOPE_MAX	((MAX_RCPTS + 2) * (MAX_ADDR + 16))

/* One session's state, for the step helpers. */
struct sess {
	struct worker		*w;
	sp_client		*c;
	struct sp_client_reply	 r;
	int			 failed;
	enum ls_phase		 last;		/* script mode */
};

static void
fail(struct sess *s, sp_err e, int code)
{
	if (s->failed)
		return;
	s->failed = 1;
	s->w->st->errors[ls_classify(e, sp_client_errmsg(s->c), code)]++;
}

/* Read a reply for phase p; 0 if its first digit is want. */
static int
expect(struct sess *s, enum ls_phase p, int want)
{
	sp_err e;

	e = sp_client_read_reply(s->c, -1, &s->r);
	if (e != SP_E_OK) {
		fail(s, e, 0);
		return (-1);
	}
	ls_hist_add(&s->w->st->h[p], s->r.latency_ns);
	if (s->r.code / 100 != want) {
		fail(s, SP_E_OK, s->r.code);
		return (-1);
	}
	return (0);
}

/* Send pre arg post as one line. */
static int
send_cmd(struct sess *s, const char *pre, const char *arg, const char *post)
{
	char	line[1024];
	int	n;
	sp_err	e;

	n = snprintf(line, sizeof(line), "%s%s%s", pre, arg, post);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		fail(s, SP_E_LIMIT, 0);
		return (-1);
	}
	e = sp_client_send_line(s->c, line, (size_t)n);
	if (e != SP_E_OK) {
		fail(s, e, 0);
		return (-1);
	}
	return (0);
}

static int
ehlo(struct sess *s)
{
	if (send_cmd(s, "EHLO ", s->w->run->cfg->helo, "") != 0)
		return (-1);
	return (expect(s, LS_EHLO, 2));
}

/*
 * RFC 2920 3.1: MAIL, every RCPT and DATA may go in one group when the
 * server advertised PIPELINING; the replies come back in order.
 */
size_t
load_envelope(const struct load_cfg *cfg, char *out, size_t cap)
{
	size_t	n = 0;
	int	k;

	/* Addresses are at most MAX_ADDR bytes (parse_args). */
	k = snprintf(out, cap, "MAIL FROM:<%s>\r\n", cfg->from);
	n += (size_t)k;
	for (unsigned i = 0; i < cfg->rcpts; i++) {
		k = snprintf(out + n, cap - n, "RCPT TO:<%s>\r\n", cfg->rcpt);
		n += (size_t)k;
	}
	k = snprintf(out + n, cap - n, "DATA\r\n");
	return (n + (size_t)k);
}

static int
send_out(struct sess *s, size_t n)
{
	sp_err	e;

	e = sp_client_send_raw(s->c, s->w->out, n);
	if (e != SP_E_OK) {
		fail(s, e, 0);
		return (-1);
	}
	return (0);
}

static int
send_envelope(struct sess *s)
{
	return (send_out(s, load_envelope(s->w->run->cfg, s->w->out,
	    s->w->outcap)));
}

/*
 * The message (dot-stuffed once, at the start) and what follows it in
 * the same write: the next envelope or QUIT.  One segment lets the
 * server answer the whole group in one write; two give it the chance
 * to answer the first alone and then hold the rest back (Nagle) until
 * our delayed ACK, 40 ms later on Linux.
 */
static int
send_body_and(struct sess *s, int last)
{
	struct worker	*w = s->w;
	size_t		 n = w->run->wirelen;

	memcpy(w->out, w->run->wire, n);
	if (last) {
		memcpy(w->out + n, "QUIT\r\n", 6);
		n += 6;
	} else
		n += load_envelope(w->run->cfg, w->out + n, w->outcap - n);
	return (send_out(s, n));
}

static int
read_envelope(struct sess *s)
{
	if (expect(s, LS_MAIL, 2) != 0)
		return (-1);
	for (unsigned i = 0; i < s->w->run->cfg->rcpts; i++)
		if (expect(s, LS_RCPT, 2) != 0)
			return (-1);
	return (expect(s, LS_DATA, 3));
}

static int
envelope_lockstep(struct sess *s)
{
	const struct load_cfg *cfg = s->w->run->cfg;

	if (send_cmd(s, "MAIL FROM:<", cfg->from, ">") != 0 ||
	    expect(s, LS_MAIL, 2) != 0)
		return (-1);
	for (unsigned i = 0; i < cfg->rcpts; i++)
		if (send_cmd(s, "RCPT TO:<", cfg->rcpt, ">") != 0 ||
		    expect(s, LS_RCPT, 2) != 0)
			return (-1);
	if (send_cmd(s, "DATA", "", "") != 0)
		return (-1);
	return (expect(s, LS_DATA, 3));
}

static int
message_sent(struct sess *s)
{
	struct load_run *run = s->w->run;

	s->w->st->messages++;
	s->w->st->bytes += run->msglen;
	atomic_fetch_add_explicit(&run->msgs, 1, memory_order_relaxed);
	return (0);
}

static int
send_body(struct sess *s)
{
	struct load_run	*run = s->w->run;
	sp_err		 e;

	e = sp_client_send_raw(s->c, run->wire, run->wirelen);
	if (e != SP_E_OK) {
		fail(s, e, 0);
		return (-1);
	}
	return (0);
}

/* Lock-step: every command waits for the reply to the one before. */
static int
transactions_lockstep(struct sess *s, unsigned k)
{
	for (unsigned i = 0; i < k; i++) {
		if (envelope_lockstep(s) != 0 || send_body(s) != 0 ||
		    expect(s, LS_DOT, 2) != 0 || message_sent(s) != 0)
			return (-1);
	}
	if (send_cmd(s, "QUIT", "", "") != 0)
		return (-1);
	return (expect(s, LS_QUIT, 2));
}

/*
 * Pipelined: message content may start a group (RFC 2920 3.1), so the
 * end of data goes out with the next MAIL, RCPT and DATA, or with QUIT
 * after the last message, before the 250 to the data is read.  A
 * message then costs one round trip for the envelope and one for the
 * data, shared with the next envelope.
 */
static int
transactions_pipelined(struct sess *s, unsigned k)
{
	if (send_envelope(s) != 0)
		return (-1);
	for (unsigned i = 0; i < k; i++) {
		if (read_envelope(s) != 0 || send_body_and(s, i + 1 == k) != 0)
			return (-1);
		if (expect(s, LS_DOT, 2) != 0 || message_sent(s) != 0)
			return (-1);
	}
	return (expect(s, LS_QUIT, 2));
}

static int
starttls(struct sess *s)
{
	uint64_t t = ls_now();
	sp_err	 e;

	e = sp_client_starttls(s->c, &s->r);
	if (e != SP_E_OK) {
		fail(s, e, 0);
		return (-1);
	}
	if (s->r.code != 220) {
		fail(s, SP_E_OK, s->r.code);
		return (-1);
	}
	ls_hist_add(&s->w->st->h[LS_STARTTLS], ls_now() - t);
	return (ehlo(s));
}

/* The built-in session, after connect. */
static int
builtin(struct sess *s)
{
	const struct load_cfg *cfg = s->w->run->cfg;
	const struct sp_smtp_capabilities *caps;
	int	pipe;

	if (expect(s, LS_BANNER, 2) != 0 || ehlo(s) != 0)
		return (-1);
	if (cfg->starttls && starttls(s) != 0)
		return (-1);
	caps = sp_client_capabilities(s->c);
	pipe = cfg->pipelining && caps != NULL && caps->pipelining;
	return (pipe ? transactions_pipelined(s, cfg->per_session) :
	    transactions_lockstep(s, cfg->per_session));
}

static enum ls_phase
phase_of_verb(const char *sent)
{
	static const struct {
		const char	*verb;
		enum ls_phase	 p;
	} t[] = {
		{ "EHLO", LS_EHLO }, { "HELO", LS_EHLO }, { "LHLO", LS_EHLO },
		{ "MAIL", LS_MAIL }, { "RCPT", LS_RCPT }, { "DATA", LS_DATA },
		{ "QUIT", LS_QUIT }, { "AUTH", LS_AUTH },
		{ "STARTTLS", LS_STARTTLS }
	};

	for (size_t i = 0; sent != NULL && i < sizeof(t) / sizeof(t[0]); i++)
		if (strncasecmp(sent, t[i].verb, strlen(t[i].verb)) == 0)
			return (t[i].p);
	return (LS_NPHASES);
}

/*
 * Script steps to phases: an expect step answers the last command
 * sent (nothing sent yet: the banner), or the end of data after a
 * data or bdat step; starttls, auth and quit steps carry their own
 * final reply, a data step the 354.  An expect after the one that
 * answered the end of data answers nothing we sent (the replies to
 * smuggled commands of a replayed capture): LS_NPHASES.
 */
static enum ls_phase
step_phase(struct sess *s, const struct sp_step_result *r)
{
	enum ls_phase	p = LS_NPHASES;

	switch (r->op) {
	case SP_STEP_SEND:
	case SP_STEP_PIPELINE:
		s->last = phase_of_verb(r->sent);
		break;
	case SP_STEP_SENDRAW:		/* after a 354: message content */
		s->last = s->last == LS_DATA ? LS_DOT : phase_of_verb(r->sent);
		break;
	case SP_STEP_EXPECT:
		p = r->index == 0 ? LS_BANNER : s->last;
		if (p == LS_DOT)
			s->last = LS_NPHASES;
		break;
	case SP_STEP_DATA:		/* its code is the 354's */
		p = LS_DATA;
		s->last = LS_DOT;
		break;
	case SP_STEP_DATA_BODY:
	case SP_STEP_BDAT:
	case SP_STEP_BDAT_FILE:
		s->last = LS_DOT;	/* the next expect ends the data */
		break;
	case SP_STEP_STARTTLS: p = LS_STARTTLS; break;
	case SP_STEP_AUTH: p = LS_AUTH; break;
	case SP_STEP_QUIT: p = LS_QUIT; break;
	default:
		break;
	}
	return (p);
}

static int
on_step(void *ud, const struct sp_step_result *r)
{
	struct sess	*s = ud;
	enum ls_phase	 p = step_phase(s, r);

	if (r->code > 0 && p < LS_NPHASES)
		ls_hist_add(&s->w->st->h[p], r->latency_ns);
	if (p == LS_DOT && r->code == 250) {
		s->w->st->messages++;
		atomic_fetch_add_explicit(&s->w->run->msgs, 1,
		    memory_order_relaxed);
	}
	if (r->verdict == SP_VERDICT_ERROR)
		fail(s, r->err, 0);
	else if (r->verdict == SP_VERDICT_FAIL)
		fail(s, SP_E_OK, r->code);
	return (0);
}

static int
scripted(struct sess *s, const sp_script *script)
{
	struct sp_script_run_options o;
	struct sp_script_report	*rep = NULL;
	sp_err	e;
	int	rc;

	memset(&o, 0, sizeof(o));
	o.allow_env = 1;
	o.default_ms = (unsigned)(s->w->run->cfg->timeout * 1000);
	o.on_step = on_step;
	o.ud = s;
	s->last = LS_BANNER;
	e = sp_script_run(script, s->c, &o, &rep);
	if (e != SP_E_OK) {
		fail(s, e, 0);
		return (-1);
	}
	rc = rep->verdict == SP_VERDICT_PASS ? 0 : -1;
	if (rc != 0)
		fail(s, SP_E_OK, 0);	/* a mismatch counted once */
	sp_script_report_free(rep);
	return (rc);
}

/* The script of session ticket i: --script, or a recorded one. */
static const sp_script *
script_of(const struct load_run *run, uint64_t i)
{
	if (run->rec.n == 0)
		return (run->script);
	return (run->rec.v[i % run->rec.n]->script);
}

static void
session(struct worker *w, uint64_t i)
{
	struct load_run	*run = w->run;
	struct sess	 s;
	uint64_t	 t0 = ls_now();
	sp_err		 e;
	int		 rc = -1;

	memset(&s, 0, sizeof(s));
	s.w = w;
	w->st->sessions++;
	/*
	 * One client per worker, closed and connected again for each
	 * session (connect starts a fresh parser and reply queue): its
	 * buffers are allocated once, not per session.
	 */
	if (w->c == NULL && sp_client_new(&w->c, &run->copt) != SP_E_OK) {
		w->st->errors[LS_ERR_OTHER]++;
		goto out;
	}
	s.c = w->c;
	e = sp_client_connect(s.c, run->cfg->host, run->cfg->port);
	if (e != SP_E_OK) {
		fail(&s, e, 0);
		goto out;
	}
	ls_hist_add(&w->st->h[LS_CONNECT], ls_now() - t0);
	rc = script_of(run, i) != NULL ? scripted(&s, script_of(run, i)) :
	    builtin(&s);
	if (rc == 0) {
		w->st->sessions_ok++;
		ls_hist_add(&w->st->h[LS_SESSION], ls_now() - t0);
		atomic_fetch_add_explicit(&run->ok, 1, memory_order_relaxed);
	}
out:
	if (rc != 0)
		atomic_fetch_add_explicit(&run->errs, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&run->done, 1, memory_order_relaxed);
	sp_client_close(s.c);
}

/*
 * Stop the run: no new session, and every wait in progress ends at
 * once with SP_E_CANCELLED, since the client polls cancel_fd beside
 * its socket and the pipe stays readable.
 */
static void
stop_run(struct load_run *run)
{
	if (atomic_exchange(&run->stop, 1) == 0 &&
	    write(run->cancel[1], "x", 1) < 0)
		fprintf(stderr, "smtp-replay: cannot cancel waits: %s\n",
		    strerror(errno));
}

/* Until t (ns, monotonic), in steps of at most 100 ms to see a stop. */
static void
sleep_until(struct load_run *run, uint64_t t)
{
	struct timespec ts;
	uint64_t	step;

	while (!atomic_load(&run->stop) && ls_now() < t) {
		step = ls_now() + 100000000u;
		step = step < t ? step : t;
		ts.tv_sec = (time_t)(step / 1000000000u);
		ts.tv_nsec = (long)(step % 1000000000u);
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts,
		    NULL) == EINTR)
			;
	}
}

/*
 * When session ticket i may start (ns, monotonic), or 0 for at once.
 * With --rate: t0 + i / rate.  With --speed and recorded sessions:
 * its recorded start after the first one, divided by the speed; the
 * sessions are played again in rounds, one recorded span (plus one
 * mean interval between starts) apart.
 */
uint64_t
load_start_time(const struct load_run *run, uint64_t i)
{
	const struct rs_session *rs;
	double	off;

	if (run->cfg->rate > 0)
		return (run->t0 + (uint64_t)((double)i * 1e9 / run->cfg->rate));
	if (run->cfg->speed <= 0 || run->rec.n == 0)
		return (0);
	rs = run->rec.v[i % run->rec.n];
	off = (double)(i / run->rec.n) * (double)run->rec_period;
	if (rs->start_ts > run->rec_first)
		off += (double)(rs->start_ts - run->rec_first);
	return (run->t0 + (uint64_t)(off / run->cfg->speed));
}

/*
 * Each worker takes session numbers from one counter until none are
 * left or time is up, and starts each no earlier than start_time(),
 * whichever worker runs it.
 */
static void *
worker_main(void *arg)
{
	struct worker	*w = arg;
	struct load_run	*run = w->run;
	uint64_t	 i, at;

	for (;;) {
		i = atomic_fetch_add(&run->next, 1);
		if (i >= run->cfg->sessions || atomic_load(&run->stop))
			break;
		if ((at = load_start_time(run, i)) != 0) {
			if (at >= run->deadline)
				break;
			sleep_until(run, at);
		}
		if (ls_now() >= run->deadline || atomic_load(&run->stop))
			break;
		session(w, i);
	}
	sp_client_free(w->c);
	w->c = NULL;
	load_worker_done(run);
	return (NULL);
}

/*
 * SIGUSR1 is blocked in every thread and is one of the signals the
 * supervisor waits for, so this ends its wait at once rather than at
 * its next 50 ms tick (a tenth of a short run).
 */
void
load_worker_done(struct load_run *run)
{
	if (atomic_fetch_sub(&run->running, 1) == 1)
		pthread_kill(run->supervisor, SIGUSR1);
}

/* RFC 5321 4.5.2 transparency, once for the whole run. */
static int
encode_message(struct load_run *run)
{
	struct sp_data_enc e;

	if (run->msglen > (SIZE_MAX - 5) / 2)
		return (-1);
	run->wire = malloc(2 * run->msglen + 5);
	if (run->wire == NULL)
		return (-1);
	sp_data_enc_init(&e, 0);
	run->wirelen = sp_data_enc_update(&e, run->msg, run->msglen,
	    run->wire);
	run->wirelen += sp_data_enc_final(&e, run->wire + run->wirelen);
	return (0);
}

/*
 * The message: a few headers, then 72-character lines up to exactly
 * size bytes (smtp-source -l counts the same way), CRLF throughout.
 */
static int
make_message(struct load_run *run)
{
	const struct load_cfg *cfg = run->cfg;
	size_t	n = 0, cap = cfg->size;
	int	k;

	run->msg = malloc(cap + 1 > 512 ? cap + 1 : 512);
	if (run->msg == NULL)
		return (-1);
	k = snprintf((char *)run->msg, cap + 1 > 512 ? cap + 1 : 512,
	    "From: <%s>\r\nTo: <%s>\r\nSubject: smtp-replay load test\r\n"
	    "Message-ID: <load@smtp-replay.invalid>\r\n\r\n",
	    cfg->from, cfg->rcpt);
	if (k > 0)
		n = (size_t)k < cap ? (size_t)k : cap;
	while (n < cap) {
		size_t line = cap - n >= 74 ? 74 : cap - n;

		memset(run->msg + n, 'x', line);
		if (line >= 2)
			memcpy(run->msg + n + line - 2, "\r\n", 2);
		n += line;
	}
	run->msglen = n;
	return (encode_message(run));
}

static void
progress(struct load_run *run, int final)
{
	double	t = (double)(ls_now() - run->t0) / 1e9;
	unsigned long long done = atomic_load(&run->done);
	unsigned long long msgs = atomic_load(&run->msgs);

	fprintf(stderr, "\r%llu/%llu sessions, %llu messages, %llu errors, "
	    "%.1f s, %.0f msg/s   %s", done,
	    (unsigned long long)run->cfg->sessions, msgs,
	    (unsigned long long)atomic_load(&run->errs), t,
	    t > 0 ? (double)msgs / t : 0.0, final ? "\n" : "");
}

/*
 * Wait for the workers, print progress, stop them at the deadline or
 * on SIGINT/SIGTERM.  The signals are blocked in every thread and
 * taken here synchronously (sigtimedwait): no handler, no global.
 */
static void
supervise(struct load_run *run, const sigset_t *sigs)
{
	uint64_t next = ls_now();

	while (atomic_load(&run->running) > 0) {
		struct timespec ts = { 0, 50 * 1000 * 1000 };

		int sig = sigtimedwait(sigs, NULL, &ts);

		if (sig == SIGINT || sig == SIGTERM) {
			run->interrupted = 1;
			stop_run(run);
		}
		if (ls_now() >= run->deadline)
			stop_run(run);
		if (run->cfg->progress && ls_now() >= next) {
			progress(run, 0);
			next = ls_now() + 250 * 1000 * 1000;
		}
	}
	if (run->cfg->progress)
		progress(run, 1);
}

static void
report(const struct load_cfg *cfg, const struct ls_stats *st, double secs)
{
	int	any = 0;

	printf("target %s:%s, %llu session(s) at concurrency %u", cfg->host,
	    cfg->port, (unsigned long long)cfg->sessions, cfg->concurrency);
	if (cfg->script_path != NULL || cfg->ninputs > 0)
		printf(", %s\n", cfg->script_path != NULL ? "scripted" :
		    "recorded sessions");
	else
		printf(", %u message(s) of %zu bytes per session%s%s\n",
		    cfg->per_session, cfg->size, cfg->pipelining ?
		    ", pipelining when offered" : ", lock-step", cfg->starttls ?
		    ", STARTTLS" : "");
	if (cfg->speed > 0)
		printf("recorded timing at speed %g (pauses at most %u ms)\n",
		    cfg->speed, cfg->max_gap_ms != 0 ? cfg->max_gap_ms : 10000);
	printf("elapsed %.3f s: %llu sessions (%llu ok), %llu messages; "
	    "%.1f sessions/s, %.1f messages/s\n", secs,
	    (unsigned long long)st->sessions,
	    (unsigned long long)st->sessions_ok,
	    (unsigned long long)st->messages,
	    secs > 0 ? (double)st->sessions / secs : 0.0,
	    secs > 0 ? (double)st->messages / secs : 0.0);
	printf("errors:");
	for (int i = 0; i < LS_NERRS; i++) {
		if (st->errors[i] == 0)
			continue;
		printf(" %s %llu", ls_err_name((enum ls_err)i),
		    (unsigned long long)st->errors[i]);
		any = 1;
	}
	printf("%s\n", any ? "" : " none");
	ls_print_table(stdout, st);
}

static int
write_json(const struct load_cfg *cfg, const struct ls_stats *st,
    double secs)
{
	FILE	*f = fopen(cfg->json_path, "w");

	if (f == NULL) {
		fprintf(stderr, "smtp-replay: %s: %s\n", cfg->json_path,
		    strerror(errno));
		return (-1);
	}
	fprintf(f, "{\"mode\":\"load\",\"concurrency\":%u,"
	    "\"engine\":\"%s\",\"messages_per_session\":%u,\"size\":%zu,"
	    "\"pipelining\":%s,"
	    "\"elapsed_s\":%.6f,\"sessions\":%llu,\"sessions_ok\":%llu,"
	    "\"messages\":%llu,\"bytes\":%llu,\"sessions_per_s\":%.3f,"
	    "\"messages_per_s\":%.3f,", cfg->concurrency,
	    loadev_applies(cfg) ? "events" : "threads", cfg->per_session,
	    cfg->size, cfg->pipelining ? "true" : "false", secs,
	    (unsigned long long)st->sessions,
	    (unsigned long long)st->sessions_ok,
	    (unsigned long long)st->messages, (unsigned long long)st->bytes,
	    secs > 0 ? (double)st->sessions / secs : 0.0,
	    secs > 0 ? (double)st->messages / secs : 0.0);
	ls_print_json(f, st);
	fprintf(f, "}\n");
	return (fclose(f) == 0 ? 0 : -1);
}

static void
usage(FILE *f)
{
	fprintf(f,
"usage: smtp-replay --load --target HOST:PORT [options]\n"
"  (any of --load, --concurrency, --repeat, --rate selects this mode)\n"
"  --concurrency N         parallel sessions (default 1)\n"
"  --repeat M              sessions in all (default 1)\n"
"  --messages N            messages in all (sets --repeat from -k)\n"
"  -k, --messages-per-session K   transactions per session (default 1)\n"
"  --rate R                start at most R sessions per second\n"
"  --duration S            stop starting sessions after S s (default 600)\n"
"  --timeout S             every wait (default 30)\n"
"  --size BYTES            generated message size (default 4096)\n"
"  --rcpts N               RCPT commands per message (default 1)\n"
"  --from ADDR --rcpt ADDR --helo NAME\n"
"  --no-pipelining         lock-step: one command, one reply (by default\n"
"                          RFC 2920 groups when the server offers\n"
"                          PIPELINING, as Postfix sends)\n"
"  --spin USEC             the event engine polls up to USEC before\n"
"                          sleeping for a reply (default 100; 0: never)\n"
"  --starttls [--ca-file F | --no-verify]\n"
"  --script FILE           play a session script instead (script.h)\n"
"  INPUT...                or recorded sessions: captures, decode JSON\n"
"                          (--dialogue) or scripts, each in turn;\n"
"                          --repeat defaults to their number\n"
"  --speed X               recorded timing divided by X: sessions start\n"
"                          at their recorded offsets, and the clients'\n"
"                          pauses are kept (1: as recorded; default:\n"
"                          as fast as possible)\n"
"  --max-gap T             no pause longer than T (default 10s)\n"
"  --engine events|threads the built-in session runs on one thread\n"
"                          driving every connection (events, the\n"
"                          default), or on a blocking client per\n"
"                          connection (threads: always so with\n"
"                          --starttls, --script or recorded sessions)\n"
"  --json FILE             write the figures as JSON\n"
"  --no-progress           no progress line on the terminal\n"
"  -4, -6                  address family\n"
"Exit: 0 every session succeeded, 1 some failed, 2 usage or setup.\n");
}

enum {
	O_LOAD = 256, O_TARGET, O_CONC, O_REPEAT, O_MESSAGES, O_RATE,
	O_DURATION, O_TIMEOUT, O_SIZE, O_RCPTS, O_FROM, O_RCPT, O_HELO,
	O_PIPE, O_NOPIPE, O_SPIN, O_STARTTLS, O_CAFILE, O_NOVERIFY,
	O_SCRIPT, O_JSON, O_NOPROGRESS, O_SPEED, O_MAX_GAP, O_ENGINE,
	O_HELP
};

static const struct option load_opts[] = {
	{ "load", no_argument, NULL, O_LOAD },
	{ "target", required_argument, NULL, O_TARGET },
	{ "concurrency", required_argument, NULL, O_CONC },
	{ "repeat", required_argument, NULL, O_REPEAT },
	{ "messages", required_argument, NULL, O_MESSAGES },
	{ "messages-per-session", required_argument, NULL, 'k' },
	{ "rate", required_argument, NULL, O_RATE },
	{ "duration", required_argument, NULL, O_DURATION },
	{ "timeout", required_argument, NULL, O_TIMEOUT },
	{ "size", required_argument, NULL, O_SIZE },
	{ "rcpts", required_argument, NULL, O_RCPTS },
	{ "from", required_argument, NULL, O_FROM },
	{ "rcpt", required_argument, NULL, O_RCPT },
	{ "helo", required_argument, NULL, O_HELO },
	{ "pipelining", no_argument, NULL, O_PIPE },
	{ "no-pipelining", no_argument, NULL, O_NOPIPE },
	{ "spin", required_argument, NULL, O_SPIN },
	{ "starttls", no_argument, NULL, O_STARTTLS },
	{ "ca-file", required_argument, NULL, O_CAFILE },
	{ "no-verify", no_argument, NULL, O_NOVERIFY },
	{ "script", required_argument, NULL, O_SCRIPT },
	{ "json", required_argument, NULL, O_JSON },
	{ "no-progress", no_argument, NULL, O_NOPROGRESS },
	{ "speed", required_argument, NULL, O_SPEED },
	{ "max-gap", required_argument, NULL, O_MAX_GAP },
	{ "engine", required_argument, NULL, O_ENGINE },
	{ "help", no_argument, NULL, O_HELP },
	{ NULL, 0, NULL, 0 }
};

static int
bad(const char *opt, const char *arg)
{
	fprintf(stderr, "smtp-replay: bad value for %s: %s\n", opt,
	    arg != NULL ? arg : "(none)");
	return (-1);
}

/* One option; 0 on success, -1 on error, 1 for --help. */
static int
load_opt(struct load_cfg *cfg, int ch, const char *a, char *tbuf,
    size_t tcap, uint64_t *messages)
{
	uint64_t v;

	switch (ch) {
	case O_LOAD: return (0);
	case O_TARGET:
		return (ls_parse_target(a, tbuf, tcap, &cfg->host,
		    &cfg->port) == 0 ? 0 : bad("--target", a));
	case O_CONC:
		if (ls_parse_u64(a, 1, MAX_CONCURRENCY, &v) != 0)
			return (bad("--concurrency", a));
		cfg->concurrency = (unsigned)v;
		return (0);
	case O_REPEAT:
		cfg->repeat_set = 1;
		return (ls_parse_u64(a, 1, MAX_SESSIONS, &cfg->sessions) == 0 ?
		    0 : bad("--repeat", a));
	case O_MESSAGES:
		return (ls_parse_u64(a, 1, MAX_SESSIONS, messages) == 0 ?
		    0 : bad("--messages", a));
	case 'k':
		if (ls_parse_u64(a, 1, MAX_PER_SESSION, &v) != 0)
			return (bad("--messages-per-session", a));
		cfg->per_session = (unsigned)v;
		return (0);
	case O_SIZE:
		if (ls_parse_u64(a, 0, MAX_SIZE, &v) != 0)
			return (bad("--size", a));
		cfg->size = (size_t)v;
		return (0);
	case O_RCPTS:
		if (ls_parse_u64(a, 1, MAX_RCPTS, &v) != 0)
			return (bad("--rcpts", a));
		cfg->rcpts = (unsigned)v;
		return (0);
	case O_SPIN:
		if (ls_parse_u64(a, 0, 1000000, &v) != 0)
			return (bad("--spin", a));
		cfg->spin_us = (unsigned)v;
		return (0);
	default:
		break;
	}
	return (-2);	/* not a numeric option: see load_opt2 */
}

static int
load_opt2(struct load_cfg *cfg, int ch, const char *a)
{
	switch (ch) {
	case O_FROM: cfg->from = a; return (0);
	case O_RCPT: cfg->rcpt = a; return (0);
	case O_HELO: cfg->helo = a; return (0);
	case O_PIPE: cfg->pipelining = 1; return (0);
	case O_NOPIPE: cfg->pipelining = 0; return (0);
	case O_STARTTLS: cfg->starttls = 1; return (0);
	case O_CAFILE: cfg->ca_file = a; return (0);
	case O_NOVERIFY: cfg->no_verify = 1; return (0);
	case O_SCRIPT: cfg->script_path = a; return (0);
	case O_JSON: cfg->json_path = a; return (0);
	case O_NOPROGRESS: cfg->progress = 0; return (0);
	case '4': cfg->family = SP_CLIENT_FAMILY_IPV4; return (0);
	case '6': cfg->family = SP_CLIENT_FAMILY_IPV6; return (0);
	case O_RATE:
		return (ls_parse_double(a, 0.001, 1e6, &cfg->rate) == 0 ? 0 :
		    bad("--rate", a));
	case O_DURATION:
		return (ls_parse_double(a, 0.001, MAX_DURATION,
		    &cfg->duration) == 0 ? 0 : bad("--duration", a));
	case O_TIMEOUT:
		return (ls_parse_double(a, 0.001, 3600, &cfg->timeout) == 0 ?
		    0 : bad("--timeout", a));
	case O_SPEED:
		return (replay_parse_speed(a, &cfg->speed) == 0 ? 0 :
		    bad("--speed", a));
	case O_MAX_GAP:
		return (replay_parse_gap(a, &cfg->max_gap_ms) == 0 ? 0 :
		    bad("--max-gap", a));
	case O_ENGINE:
		if (strcmp(a, "threads") == 0)
			cfg->engine = LOAD_ENGINE_THREADS;
		else if (strcmp(a, "events") == 0)
			cfg->engine = LOAD_ENGINE_EVENTS;
		else
			return (bad("--engine", a));
		return (0);
	case O_HELP: usage(stdout); return (1);
	default: usage(stderr); return (-1);
	}
}

/* What the options cannot say alone; 0, or -1 with a message. */
static int
check_cfg(const struct load_cfg *cfg)
{
	if (cfg->ninputs > 0 && cfg->script_path != NULL) {
		fprintf(stderr, "smtp-replay: --script or recorded sessions, "
		    "not both\n");
		return (-1);
	}
	if (cfg->speed > 0 && (cfg->ninputs == 0 || cfg->rate > 0)) {
		fprintf(stderr, "smtp-replay: --speed needs recorded sessions "
		    "(INPUT...) and no --rate\n");
		return (-1);
	}
	if (cfg->engine == LOAD_ENGINE_EVENTS && (cfg->starttls ||
	    cfg->script_path != NULL || cfg->ninputs > 0)) {
		fprintf(stderr, "smtp-replay: --engine events runs the built-in "
		    "session only, without --starttls\n");
		return (-1);
	}
	if (cfg->host == NULL) {
		fprintf(stderr, "smtp-replay: --target HOST:PORT is required "
		    "(there is no default target)\n");
		return (-1);
	}
	if (strlen(cfg->from) > MAX_ADDR || strlen(cfg->rcpt) > MAX_ADDR ||
	    strlen(cfg->helo) > MAX_ADDR) {
		fprintf(stderr, "smtp-replay: --from, --rcpt, --helo: at most "
		    "%d bytes\n", MAX_ADDR);
		return (-1);
	}
	return (0);
}

static int
parse_args(struct load_cfg *cfg, int argc, char **argv, char *tbuf,
    size_t tcap)
{
	uint64_t messages = 0;
	int	 ch, rc;

	memset(cfg, 0, sizeof(*cfg));
	cfg->concurrency = 1, cfg->sessions = 1, cfg->per_session = 1;
	cfg->pipelining = 1, cfg->spin_us = 100;
	cfg->rcpts = 1, cfg->size = 4096, cfg->duration = 600;
	cfg->timeout = 30, cfg->progress = isatty(STDERR_FILENO);
	cfg->from = "load@smtp-replay.invalid";
	cfg->rcpt = "sink@smtp-replay.invalid", cfg->helo = "smtp-replay.invalid";
	optind = 1;
	while ((ch = getopt_long(argc, argv, "46k:", load_opts, NULL)) != -1) {
		rc = load_opt(cfg, ch, optarg, tbuf, tcap, &messages);
		if (rc == -2)
			rc = load_opt2(cfg, ch, optarg);
		if (rc != 0)
			return (rc);
	}
	cfg->inputs = argv + optind;
	cfg->ninputs = argc - optind;
	if (check_cfg(cfg) != 0)
		return (-1);
	if (messages > 0)
		cfg->sessions = (messages + cfg->per_session - 1) /
		    cfg->per_session;
	return (0);
}

static void
client_options(struct load_run *run)
{
	const struct load_cfg *cfg = run->cfg;
	struct sp_client_timeouts *t = &run->copt.timeouts;
	unsigned ms = (unsigned)(cfg->timeout * 1000);

	sp_client_options_default(&run->copt);
	run->copt.family = cfg->family;
	run->copt.ca_file = cfg->ca_file;
	run->copt.no_verify = cfg->no_verify;
	run->copt.cancel_fd = run->cancel[0];
	t->connect_ms = t->tls_ms = t->greeting_ms = t->mail_ms = ms;
	t->rcpt_ms = t->data_start_ms = t->data_block_ms = ms;
	t->data_end_ms = t->command_ms = ms;
}

/* The first recorded start and the length of one round (ns). */
static void
schedule_base(struct load_run *run)
{
	sp_ts	first = 0, last = 0;

	for (size_t k = 0; k < run->rec.n; k++) {
		sp_ts	t = run->rec.v[k]->start_ts;

		if (t != 0 && (first == 0 || t < first))
			first = t;
		last = t > last ? t : last;
	}
	run->rec_first = first;
	if (run->rec.n > 1 && last > first)
		run->rec_period = (last - first) + (last - first) /
		    (run->rec.n - 1);
}

/*
 * The recorded sessions to play (INPUT...), loaded with the run's
 * timing and rewritten as replay mode does (a capture's session is
 * cut at STARTTLS); --repeat defaults to their number.
 */
static int
load_recorded(struct load_run *run, struct load_cfg *cfg)
{
	struct rw_opts	rw;
	char		msg[600];

	run->rec.speed = cfg->speed;
	run->rec.max_gap_ms = cfg->max_gap_ms;
	memset(&rw, 0, sizeof(rw));
	rw.secret_env = "$SP_AUTH_SECRET";
	for (int i = 0; i < cfg->ninputs; i++)
		if (rs_load_any(&run->rec, cfg->inputs[i], NULL, msg,
		    sizeof(msg)) != 0)
			goto bad;
	for (size_t k = 0; k < run->rec.n; k++)
		if (rw_apply(run->rec.v[k], &rw, msg, sizeof(msg)) != 0)
			goto bad;
	schedule_base(run);
	if (!cfg->repeat_set)
		cfg->sessions = run->rec.n;
	return (0);
bad:
	fprintf(stderr, "smtp-replay: %s\n", msg);
	return (-1);
}

static int
start_workers(struct load_run *run, struct worker *w, unsigned n)
{
	void	*(*fn)(void *) = worker_main;
	unsigned i;

	/* The event engine: one thread for every connection. */
	if (loadev_applies(run->cfg)) {
		fn = loadev_main;
		n = 1;
	}
	atomic_store(&run->running, n);
	for (i = 0; i < n; i++) {
		w[i].run = run;
		if (pthread_create(&w[i].tid, NULL, fn, &w[i]) != 0)
			break;
	}
	if (i < n) {
		/* Those not started will never decrement the count. */
		for (unsigned k = i; k < n; k++)
			load_worker_done(run);
		fprintf(stderr, "smtp-replay: started %u of %u threads\n",
		    i, n);
	}
	return ((int)i);
}

static void
free_workers(struct worker *w, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		free(w[i].st);
		free(w[i].out);
	}
	free(w);
}

static int
run_load(struct load_run *run, struct ls_stats *total, const sigset_t *sigs)
{
	const struct load_cfg *cfg = run->cfg;
	struct worker	*w;
	int		 started;

	w = calloc(cfg->concurrency, sizeof(*w));
	if (w == NULL)
		return (-1);
	for (unsigned i = 0; i < cfg->concurrency; i++) {
		w[i].outcap = run->wirelen + ENVELOPE_MAX;
		w[i].st = calloc(1, sizeof(*w[i].st));
		w[i].out = malloc(w[i].outcap);
		if (w[i].st == NULL || w[i].out == NULL)
			goto fail;
	}
	run->supervisor = pthread_self();
	run->t0 = ls_now();
	run->deadline = run->t0 + (uint64_t)(cfg->duration * 1e9);
	started = start_workers(run, w, cfg->concurrency);
	supervise(run, sigs);
	for (int i = 0; i < started; i++)
		pthread_join(w[i].tid, NULL);
	for (unsigned i = 0; i < cfg->concurrency; i++)
		ls_stats_merge(total, w[i].st);
	free_workers(w, cfg->concurrency);
	return (started > 0 ? 0 : -1);
fail:
	free_workers(w, cfg->concurrency);
	return (-1);
}

/* The run's resources, from run_new(); NULL does nothing. */
static void
run_free(struct load_run *run)
{
	if (run == NULL)
		return;
	free(run->msg);
	free(run->wire);
	if (run->cancel[0] >= 0)
		close(run->cancel[0]);
	if (run->cancel[1] >= 0)
		close(run->cancel[1]);
	rs_list_free(&run->rec);
	sp_script_free(run->script);
	free(run);
}

/*
 * Everything a run needs before the workers start: the script or the
 * recorded sessions, the cancel pipe, the client options, the message.
 */
static struct load_run *
run_new(struct load_cfg *cfg)
{
	struct load_run		*run;
	sp_script		*script = NULL;
	struct sp_script_error	 serr;

	if ((run = calloc(1, sizeof(*run))) == NULL)
		return (NULL);
	run->cancel[0] = run->cancel[1] = -1;
	run->cfg = cfg;
	if (cfg->script_path != NULL &&
	    sp_script_load(&script, cfg->script_path, &serr) != SP_E_OK) {
		fprintf(stderr, "smtp-replay: %s:%u: %s\n", cfg->script_path,
		    serr.line, serr.msg);
		run_free(run);
		return (NULL);
	}
	run->script = script;
	if (pipe(run->cancel) != 0) {
		fprintf(stderr, "smtp-replay: pipe: %s\n", strerror(errno));
		run_free(run);
		return (NULL);
	}
	client_options(run);
	if ((cfg->ninputs > 0 && load_recorded(run, cfg) != 0) ||
	    make_message(run) != 0) {
		run_free(run);
		return (NULL);
	}
	return (run);
}

int
load_main(int argc, char **argv)
{
	struct load_cfg		 cfg;
	struct load_run		*run;
	struct ls_stats		*total;
	char			 tbuf[512];
	sigset_t		 sigs;
	double			 secs;
	int			 rc;

	rc = parse_args(&cfg, argc, argv, tbuf, sizeof(tbuf));
	if (rc != 0)
		return (rc > 0 ? 0 : 2);
	/*
	 * SIGINT and SIGTERM are taken by the supervisor (supervise()),
	 * blocked in every thread; blocked from here, one that comes while
	 * the inputs load waits for it rather than killing the run (and
	 * one after the report is left pending: the process ends).
	 */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGUSR1);	/* load_worker_done() */
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	run = run_new(&cfg);
	total = calloc(1, sizeof(*total));
	rc = 2;
	if (run == NULL || total == NULL || run_load(run, total, &sigs) != 0)
		goto out;
	secs = (double)(ls_now() - run->t0) / 1e9;
	if (run->interrupted)
		printf("interrupted: the figures cover what ran\n");
	report(&cfg, total, secs);
	rc = total->sessions_ok == total->sessions && total->sessions > 0 ?
	    0 : 1;
	if (cfg.json_path != NULL && write_json(&cfg, total, secs) != 0)
		rc = 2;
out:
	run_free(run);
	free(total);
	return (rc);
}
