/*
 * input.c - the run: capture files or an interface -> analyzer ->
 * records -> output.  Also the signals, the privilege drop, the
 * progress line and the --stats summary.
 */
#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "decode.h"
#include "feed.h"
#include "output.h"
#include "record.h"

/*
 * The one piece of file-scope state: a signal handler takes no user
 * pointer, and SIGINT must be able to stop every capture being read.
 */
#define MAX_SHARDS	16
static sp_capture *volatile	 running[MAX_SHARDS];
static volatile sig_atomic_t	 stop_requested;

static void
on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
	for (int i = 0; i < MAX_SHARDS; i++) {
		sp_capture	*c = running[i];

		if (c != NULL)
			sp_capture_break(c);
	}
}

/* What all shards share: options, the output and the totals. */
struct run {
	const struct decode_opts *o;
	FILE			*out;
	pthread_mutex_t		 lock;		/* out, totals, status */
	struct progress		 pg;
	struct sp_analyzer_stats total;
	uint64_t		 bytes, frames, malformed;
	uint64_t		 kernel_dropped, iface_dropped;
	unsigned		 extract_errors;
	unsigned long		 sessions_done;
	int			 out_tty;	/* records go to a terminal */
	double			 t0;
	int			 status;	/* exit status so far */
};

/*
 * One shard: a thread that sees every packet of the input but analyses
 * only the flows that hash to it, with its own analyzer and recorder.
 * Several shards share one reading of the file through a feed; a lone
 * shard reads its capture itself.  Its output is gathered in memory
 * and handed to the shared stream in blocks, so shards never write
 * half a record over each other.
 */
struct shard {
	struct run		*run;
	int			 index, count;
	const char		*path;		/* NULL: live */
	sp_capture		*cap;		/* NULL: reads the feed */
	struct feed		*feed;
	struct recorder		*rec;
	FILE			*buf;		/* open_memstream */
	char			*bufp;
	size_t			 bufn;
	pthread_t		 tid;
};

static double
mono(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

/* Hand what the shard has gathered to the shared output. */
static void
shard_flush(struct shard *sh)
{
	struct run	*r = sh->run;

	if (fflush(sh->buf) != 0 || sh->bufn == 0)
		return;
	pthread_mutex_lock(&r->lock);
	/* Records and the progress line share the screen only on a tty. */
	if (r->out_tty)
		progress_clear(&r->pg);
	fwrite(sh->bufp, 1, sh->bufn, r->out);
	if (r->o->iface != NULL)
		fflush(r->out);
	pthread_mutex_unlock(&r->lock);
	fseek(sh->buf, 0, SEEK_SET);
}

/* Live output flows record by record; files in 256 KB blocks. */
static void
shard_maybe_flush(struct shard *sh)
{
	if (sh->run->o->iface != NULL || ftell(sh->buf) > (256 << 10))
		shard_flush(sh);
}

/*
 * A finished session record: write it in the chosen format.  The
 * default, one NDJSON line, is written from the record tree itself;
 * the other formats work on a json-c copy.
 */
static void
record_done(void *ud, const struct jv *rec)
{
	struct shard	*sh = ud;
	json_object	*j;

	__atomic_fetch_add(&sh->run->sessions_done, 1, __ATOMIC_RELAXED);
	if (sh->run->o->events)
		return;
	if (sh->run->o->format == FMT_JSON && !sh->run->o->pretty) {
		jv_write_ndjson(sh->buf, rec);
		shard_maybe_flush(sh);
		return;
	}
	if ((j = jv_to_json(rec)) == NULL)
		return;
	switch (sh->run->o->format) {
	case FMT_JSON: output_json(sh->buf, j, sh->run->o->pretty); break;
	case FMT_ZEEK: output_zeek(sh->buf, j); break;
	case FMT_EVE: output_eve(sh->buf, j); break;
	}
	json_object_put(j);
	shard_maybe_flush(sh);
}

static void
record_each(void *ud, const struct jv *ev)
{
	struct shard	*sh = ud;
	json_object	*j;

	if (!sh->run->o->pretty)
		jv_write_ndjson(sh->buf, ev);
	else if ((j = jv_to_json(ev)) != NULL) {
		output_json(sh->buf, j, 1);
		json_object_put(j);
	}
	shard_maybe_flush(sh);
}

static void
add_stats(struct sp_analyzer_stats *t, const struct sp_analyzer_stats *s)
{
	t->sessions += s->sessions;
	t->transactions += s->transactions;
	t->messages += s->messages;
	t->messages_incomplete += s->messages_incomplete;
	t->parts += s->parts;
	t->message_bytes += s->message_bytes;
	t->tcp.packets += s->tcp.packets;
	t->tcp.flows += s->tcp.flows;
	t->tcp.bytes += s->tcp.bytes;
	t->tcp.gaps += s->tcp.gaps;
	t->tcp.gap_bytes += s->tcp.gap_bytes;
	for (int i = 0; i < SP_ANOM__COUNT; i++)
		t->anomalies[i] += s->anomalies[i];
}

static uint32_t
load32(const uint8_t *p)
{
	uint32_t	v;

	memcpy(&v, p, sizeof(v));
	return (v);
}

/*
 * Which shard owns a packet's flow.  The hash is symmetric (XOR of the
 * two ends), so both directions land in the same shard.
 */
static int
shard_of(const struct sp_packet *p, int count)
{
	uint32_t	h = (uint32_t)(p->sport ^ p->dport);

	for (int i = 0; i < 16; i += 4)
		h ^= load32(p->src.a + i) ^ load32(p->dst.a + i);
	h *= 0x9e3779b1u;
	return ((int)((h >> 16) % (uint32_t)count));
}

/* After the last packet: end the sessions, add up the counts. */
static void
shard_finish(struct shard *sh, sp_analyzer *an)
{
	struct run			*r = sh->run;
	struct sp_analyzer_stats	 st;
	sp_err				 e = sp_analyzer_finish(an);

	sp_analyzer_get_stats(an, &st);
	shard_flush(sh);
	pthread_mutex_lock(&r->lock);
	if (e != SP_E_OK) {
		fprintf(stderr, "smtp-decode: %s\n", sp_strerror(e));
		r->status = 1;
	}
	add_stats(&r->total, &st);
	r->extract_errors += recorder_errors(sh->rec);
	pthread_mutex_unlock(&r->lock);
}

/* The frames of a capture, counted once whatever the shards. */
static void
add_capture_stats(struct run *r, sp_capture *cap)
{
	struct sp_capture_stats	cs;

	sp_capture_get_stats(cap, &cs);
	pthread_mutex_lock(&r->lock);
	r->bytes += cs.bytes;
	r->frames += cs.frames;
	r->malformed += cs.malformed;
	r->kernel_dropped += cs.kernel_dropped;
	r->iface_dropped += cs.iface_dropped;
	pthread_mutex_unlock(&r->lock);
}

/* Input errors come from whoever owns the capture, so once a file. */
static void
report(struct run *r, const char *msg)
{
	pthread_mutex_lock(&r->lock);
	r->status = 1;
	progress_clear(&r->pg);
	fprintf(stderr, "smtp-decode: %s\n", msg);
	pthread_mutex_unlock(&r->lock);
}

/*
 * A packet: this shard's own, or another's, which still moves this
 * shard's clock so that idle timeouts fire as they would in one thread.
 */
static sp_err
step(struct shard *sh, sp_analyzer *an, const struct sp_packet *pkt,
    int owner)
{
	return (owner == sh->index ? sp_analyzer_packet(an, pkt) :
	    sp_analyzer_advance(an, pkt->ts));
}

/* A live read timed out: let capture time pass. */
static sp_err
idle(sp_analyzer *an)
{
	struct timespec	now;

	clock_gettime(CLOCK_REALTIME, &now);
	return (sp_analyzer_advance(an, (sp_ts)now.tv_sec * SP_TS_PER_SEC +
	    (sp_ts)now.tv_nsec));
}

/* Whoever reads the capture (a lone shard, the feed's reader) calls it. */
static void
progress(struct run *r, sp_capture *cap, const char *path)
{
	struct sp_capture_stats	cs;
	const char		*name = path != NULL ? path : "live";

	/* The file's name, not its folders, fits the line. */
	if (strrchr(name, '/') != NULL)
		name = strrchr(name, '/') + 1;
	sp_capture_get_stats(cap, &cs);
	pthread_mutex_lock(&r->lock);
	progress_update(&r->pg, name, cs.offset, cs.file_size,
	    r->sessions_done);
	pthread_mutex_unlock(&r->lock);
}

static void
report_analyzer(struct shard *sh, sp_err e)
{
	char	msg[600];

	snprintf(msg, sizeof(msg), "%s: %s", sh->path != NULL ? sh->path :
	    "live", sp_strerror(e));
	report(sh->run, msg);
}

/* Pull every packet of the shard's own capture through its analyzer. */
static void
pump_capture(struct shard *sh, sp_analyzer *an)
{
	struct sp_packet	pkt;
	uint64_t		n = 0;
	sp_err			e = SP_E_OK, ae;

	running[sh->index] = sh->cap;
	while (!stop_requested) {
		e = sp_capture_next(sh->cap, &pkt);
		if (e != SP_E_OK && e != SP_E_AGAIN)
			break;
		/* Alone, or a shard whose thread could not start. */
		ae = e != SP_E_OK ? idle(an) : step(sh, an, &pkt, sh->count > 1 ?
		    shard_of(&pkt, sh->count) : sh->index);
		if (ae != SP_E_OK) {
			report_analyzer(sh, ae);
			break;
		}
		if ((++n & 4095) == 0 && sh->run->pg.enabled)
			progress(sh->run, sh->cap, sh->path);
	}
	running[sh->index] = NULL;
	/* The capture layer names the file and the offset. */
	if (e != SP_E_EOF && e != SP_E_OK && e != SP_E_AGAIN)
		report(sh->run, sp_capture_error(sh->cap));
}

/* The same from the feed; its owner reports how the input ended. */
static void
pump_feed(struct shard *sh, sp_analyzer *an)
{
	const struct feed_block	*b = NULL;
	sp_err			 ae = SP_E_OK;

	while (!stop_requested) {
		b = feed_next(sh->feed, b);
		for (size_t i = 0; i < b->npkts && ae == SP_E_OK; i++)
			ae = step(sh, an, &b->pkts[i], b->owner[i]);
		if (ae != SP_E_OK) {
			report_analyzer(sh, ae);
			break;
		}
		if (b->end != SP_E_OK)
			break;
	}
	feed_leave(sh->feed, b);
}

static sp_err
shard_open(struct shard *sh)
{
	const struct decode_opts	*o = sh->run->o;
	struct sp_capture_live_opts	 lo = { 0 };
	char				 err[512];
	sp_err				 e;

	if (sh->path != NULL) {
		e = sp_capture_open_file(&sh->cap, sh->path, o->filter, NULL,
		    err, sizeof(err));
	} else {
		lo.filter = o->filter;
		lo.snaplen = o->snaplen;
		lo.buffer_size = o->bufsize;
		lo.promisc = 1;
		e = sp_capture_open_live(&sh->cap, o->iface, &lo, NULL, err,
		    sizeof(err));
	}
	if (e != SP_E_OK)
		report(sh->run, err);
	return (e);
}

static void *
shard_main(void *arg)
{
	struct shard		*sh = arg;
	struct sp_limits	 lim;
	sp_analyzer		*an;
	sp_err			 e;

	sp_limits_default(&lim);
	/* Shards split the flows, and so the cap, between them. */
	if (sh->run->o->max_flows > 0)
		lim.tcp_flows = (size_t)(sh->run->o->max_flows / sh->count > 0 ?
		    sh->run->o->max_flows / sh->count : 1);
	e = sp_analyzer_new(&an, &lim, &sh->run->o->an, recorder_event,
	    sh->rec);
	if (e != SP_E_OK) {
		report(sh->run, sp_strerror(e));
		if (sh->feed != NULL)
			feed_leave(sh->feed, NULL);
		return (NULL);
	}
	if (sh->feed != NULL)
		pump_feed(sh, an);
	else
		pump_capture(sh, an);
	shard_finish(sh, an);
	if (sh->cap != NULL)
		add_capture_stats(sh->run, sh->cap);
	sp_analyzer_free(an);
	return (NULL);
}

/* Free what the shard holds; calling it twice is harmless. */
static void
shard_free(struct shard *sh)
{
	recorder_free(sh->rec);
	if (sh->buf != NULL)
		fclose(sh->buf);
	free(sh->bufp);
	sp_capture_free(sh->cap);
	sh->rec = NULL;
	sh->buf = NULL;
	sh->bufp = NULL;
	sh->cap = NULL;
}

static int
shard_init(struct shard *sh, struct run *r, int index, int count,
    const char *path)
{
	const struct decode_opts	*o = r->o;
	struct record_opts		 ro = { 0 };

	memset(sh, 0, sizeof(*sh));
	sh->run = r;
	sh->index = index;
	sh->count = count;
	sh->path = path;
	ro.dialogue = o->dialogue;
	ro.show_secrets = o->an.show_secrets;
	ro.extract_dir = o->extract_dir;
	sh->buf = open_memstream(&sh->bufp, &sh->bufn);
	sh->rec = recorder_new(&ro, record_done, o->events ? record_each :
	    NULL, sh);
	if (sh->buf != NULL && sh->rec != NULL)
		return (0);
	shard_free(sh);
	return (-1);
}

/*
 * Give up root after the interface is open (as tcpdump -Z does).
 * Without -Z, root drops to "nobody"; "-Z root" keeps root on purpose.
 * The extract folders were made as root, so they are handed over.
 */
static int
drop_privileges(const struct decode_opts *o)
{
	const char	*user = o->user != NULL ? o->user : "nobody";
	struct passwd	*pw;

	if (geteuid() != 0 || strcmp(user, "root") == 0)
		return (0);
	if ((pw = getpwnam(user)) == NULL) {
		fprintf(stderr, "smtp-decode: -Z: no such user: %s\n", user);
		return (-1);
	}
	if (o->extract_dir != NULL) {
		char	path[4096];

		(void)!chown(o->extract_dir, pw->pw_uid, pw->pw_gid);
		snprintf(path, sizeof(path), "%s/messages", o->extract_dir);
		(void)!chown(path, pw->pw_uid, pw->pw_gid);
		snprintf(path, sizeof(path), "%s/parts", o->extract_dir);
		(void)!chown(path, pw->pw_uid, pw->pw_gid);
	}
	if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 ||
	    setuid(pw->pw_uid) != 0 || setuid(0) == 0) {
		fprintf(stderr, "smtp-decode: cannot drop privileges to %s: "
		    "%s\n", user, strerror(errno));
		return (-1);
	}
	return (0);
}

/* A live interface: one shard, privileges dropped once it is open. */
static void
run_live(struct run *r)
{
	struct shard	sh;

	if (shard_init(&sh, r, 0, 1, NULL) != 0 || shard_open(&sh) != SP_E_OK ||
	    drop_privileges(r->o) != 0) {
		r->status = 1;
		shard_free(&sh);
		return;
	}
	shard_main(&sh);
	shard_free(&sh);
}

/* A file read by one shard, which owns its capture. */
static void
run_alone(struct run *r, const char *path)
{
	struct shard	sh;

	if (shard_init(&sh, r, 0, 1, path) == 0 && shard_open(&sh) == SP_E_OK)
		shard_main(&sh);
	else
		r->status = 1;
	shard_free(&sh);
}

/* The feed's reader has read a block: move the progress line. */
struct feed_input {
	struct run	*r;
	sp_capture	*cap;
	const char	*path;
};

static void
feed_progress(void *ud)
{
	struct feed_input	*in = ud;

	if (in->r->pg.enabled)
		progress(in->r, in->cap, in->path);
}

/*
 * Shards 1.. in threads, shard 0 here.  A shard whose thread cannot
 * start leaves the feed and reads the file on its own afterwards (so
 * the others never wait for it); standard input cannot be read twice.
 */
static void
run_shards(struct shard *sh, int n, struct feed *f)
{
	int	started = 0;

	for (int i = 1; i < n; i++) {
		if (pthread_create(&sh[i].tid, NULL, shard_main, &sh[i]) == 0)
			started |= 1 << i;
		else
			feed_leave(f, NULL);
	}
	shard_main(&sh[0]);
	for (int i = 1; i < n; i++) {
		if (started & (1 << i)) {
			pthread_join(sh[i].tid, NULL);
			continue;
		}
		sh[i].feed = NULL;
		if (strcmp(sh[i].path, "-") == 0) {
			report(sh[i].run, "-: cannot start a thread for "
			    "standard input: use -j 1");
		} else if (shard_open(&sh[i]) == SP_E_OK) {
			shard_main(&sh[i]);
		}
	}
}

/*
 * A file, in r->o->threads shards running side by side over one
 * reading of it (feed.h), each analysing its own share of the flows.
 */
static void
run_file(struct run *r, const char *path)
{
	const struct decode_opts	*o = r->o;
	struct shard			 sh[MAX_SHARDS];
	struct feed_input		 in = { r, NULL, path };
	struct feed			*f = NULL;
	int				 n = o->threads, ok = 0;
	char				 err[512];
	sp_err				 e;

	if (n <= 1) {
		run_alone(r, path);
		return;
	}
	if (sp_capture_open_file(&in.cap, path, o->filter, NULL, err,
	    sizeof(err)) != SP_E_OK) {
		report(r, err);
		return;
	}
	/* A shard that cannot start frees what it holds. */
	if ((f = feed_new(in.cap, n, shard_of, feed_progress, &in)) != NULL)
		for (ok = 0; ok < n && shard_init(&sh[ok], r, ok, n, path) == 0;
		    ok++)
			sh[ok].feed = f;
	if (ok == n) {
		running[0] = in.cap;
		run_shards(sh, n, f);
		running[0] = NULL;
		/* The capture layer names the file and the offset. */
		e = feed_end(f);
		if (e != SP_E_EOF && e != SP_E_OK)
			report(r, sp_capture_error(in.cap));
		add_capture_stats(r, in.cap);
	} else {
		report(r, sp_strerror(SP_E_NOMEM));
	}
	for (int i = 0; i < ok; i++)
		shard_free(&sh[i]);
	feed_free(f);
	sp_capture_free(in.cap);
}

static void
print_stats(const struct run *r)
{
	const struct sp_analyzer_stats	*t = &r->total;
	double				 el = mono() - r->t0;

	fprintf(stderr, "smtp-decode: %llu frames, %.1f MB in %.2f s "
	    "(%.1f MB/s)\n", (unsigned long long)r->frames,
	    (double)r->bytes / 1e6, el, el > 0 ? (double)r->bytes / 1e6 / el :
	    0.0);
	fprintf(stderr, "  sessions %llu, transactions %llu, messages %llu "
	    "(%llu incomplete), parts %llu, message bytes %llu\n",
	    (unsigned long long)t->sessions,
	    (unsigned long long)t->transactions,
	    (unsigned long long)t->messages,
	    (unsigned long long)t->messages_incomplete,
	    (unsigned long long)t->parts,
	    (unsigned long long)t->message_bytes);
	fprintf(stderr, "  tcp flows %llu, stream bytes %llu, gaps %llu "
	    "(%llu bytes missing), malformed frames %llu\n",
	    (unsigned long long)t->tcp.flows, (unsigned long long)t->tcp.bytes,
	    (unsigned long long)t->tcp.gaps,
	    (unsigned long long)t->tcp.gap_bytes,
	    (unsigned long long)r->malformed);
	if (r->o->iface != NULL)
		fprintf(stderr, "  kernel drops %llu, interface drops %llu\n",
		    (unsigned long long)r->kernel_dropped,
		    (unsigned long long)r->iface_dropped);
	for (int i = 0; i < SP_ANOM__COUNT; i++)
		if (t->anomalies[i] > 0)
			fprintf(stderr, "  anomaly %-32s %llu\n",
			    sp_anomaly_name((enum sp_anomaly)i),
			    (unsigned long long)t->anomalies[i]);
}

static int
open_output(struct run *r)
{
	r->out = stdout;
	if (r->o->outfile == NULL || strcmp(r->o->outfile, "-") == 0)
		return (0);
	if ((r->out = fopen(r->o->outfile, "w")) == NULL) {
		fprintf(stderr, "smtp-decode: %s: %s\n", r->o->outfile,
		    strerror(errno));
		return (-1);
	}
	return (0);
}

int
decode_run(const struct decode_opts *o, char **files, int nfiles)
{
	struct run		r;
	struct sigaction	sa;

	memset(&r, 0, sizeof(r));
	r.o = o;
	r.t0 = mono();
	pthread_mutex_init(&r.lock, NULL);
	if (open_output(&r) != 0)
		return (1);
	r.out_tty = isatty(fileno(r.out));
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	progress_init(&r.pg, o->progress && o->iface == NULL);
	if (o->format == FMT_ZEEK)
		output_zeek_header(r.out);
	if (o->iface != NULL)
		run_live(&r);
	for (int i = 0; i < nfiles && !stop_requested; i++)
		run_file(&r, files[i]);
	progress_clear(&r.pg);
	if (o->format == FMT_ZEEK)
		output_zeek_footer(r.out);
	if (r.extract_errors > 0) {
		fprintf(stderr, "smtp-decode: %u files could not be written "
		    "in %s\n", r.extract_errors, o->extract_dir);
		r.status = 1;
	}
	if (o->stats || (o->iface != NULL && stop_requested))
		print_stats(&r);
	if (fflush(r.out) != 0 || (r.out != stdout && fclose(r.out) != 0)) {
		fprintf(stderr, "smtp-decode: write error: %s\n",
		    strerror(errno));
		r.status = 1;
	}
	pthread_mutex_destroy(&r.lock);
	return (r.status);
}
