/*
 * input.c - the run: capture files or an interface -> analyzer ->
 * records -> output.  Also the signals, the privilege drop, the
 * progress line and the --stats summary.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "decode.h"
#include "output.h"
#include "record.h"

/*
 * The one piece of file-scope state: a signal handler takes no user
 * pointer, and SIGINT must be able to stop the capture being read.
 */
static sp_capture *volatile	 running_capture;
static volatile sig_atomic_t	 stop_requested;

static void
on_signal(int sig)
{
	sp_capture	*c = running_capture;

	(void)sig;
	stop_requested = 1;
	if (c != NULL)
		sp_capture_break(c);
}

struct run {
	const struct decode_opts *o;
	FILE			*out;
	struct recorder		*rec;
	struct progress		 pg;
	struct sp_analyzer_stats total;
	uint64_t		 bytes, frames, malformed;
	uint64_t		 kernel_dropped, iface_dropped;
	double			 t0;
	int			 status;	/* exit status so far */
};

static double
mono(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

/* A finished session record: write it in the chosen format. */
static void
record_done(void *ud, json_object *rec)
{
	struct run	*r = ud;

	progress_clear(&r->pg);
	if (r->o->events)
		return;
	switch (r->o->format) {
	case FMT_JSON: output_json(r->out, rec); break;
	case FMT_ZEEK: output_zeek(r->out, rec); break;
	case FMT_EVE: output_eve(r->out, rec); break;
	}
	if (r->o->iface != NULL)
		fflush(r->out);
}

static void
record_each(void *ud, json_object *ev)
{
	struct run	*r = ud;

	progress_clear(&r->pg);
	output_json(r->out, ev);
	if (r->o->iface != NULL)
		fflush(r->out);
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

static sp_analyzer *
new_analyzer(struct run *r)
{
	sp_analyzer	*an;
	sp_err		 e;

	e = sp_analyzer_new(&an, NULL, &r->o->an, recorder_event, r->rec);
	if (e != SP_E_OK) {
		fprintf(stderr, "smtp-decode: %s\n", sp_strerror(e));
		return (NULL);
	}
	return (an);
}

/* After the last packet of an input: end its sessions, keep counts. */
static void
finish_input(struct run *r, sp_analyzer *an, sp_capture *c)
{
	struct sp_analyzer_stats	st;
	struct sp_capture_stats		cs;
	sp_err				e;

	if ((e = sp_analyzer_finish(an)) != SP_E_OK) {
		fprintf(stderr, "smtp-decode: %s\n", sp_strerror(e));
		r->status = 1;
	}
	sp_analyzer_get_stats(an, &st);
	add_stats(&r->total, &st);
	sp_capture_get_stats(c, &cs);
	r->bytes += cs.bytes;
	r->frames += cs.frames;
	r->malformed += cs.malformed;
	r->kernel_dropped += cs.kernel_dropped;
	r->iface_dropped += cs.iface_dropped;
}

/* Pull every packet of one capture through the analyzer. */
static void
pump(struct run *r, sp_capture *c, sp_analyzer *an, const char *name)
{
	struct sp_packet	pkt;
	struct sp_capture_stats	cs;
	uint64_t		n = 0;
	sp_err			e;

	running_capture = c;
	while (!stop_requested) {
		e = sp_capture_next(c, &pkt);
		if (e == SP_E_AGAIN) {
			struct timespec	now;

			clock_gettime(CLOCK_REALTIME, &now);
			e = sp_analyzer_advance(an, (sp_ts)now.tv_sec *
			    SP_TS_PER_SEC + (sp_ts)now.tv_nsec);
		} else if (e == SP_E_OK) {
			e = sp_analyzer_packet(an, &pkt);
		} else {
			break;
		}
		if (e != SP_E_OK) {
			progress_clear(&r->pg);
			fprintf(stderr, "smtp-decode: %s: %s\n", name,
			    sp_strerror(e));
			r->status = 1;
			break;
		}
		if ((++n & 4095) == 0 && r->pg.enabled) {
			sp_capture_get_stats(c, &cs);
			progress_update(&r->pg, name, cs.offset, cs.file_size,
			    r->total.sessions);
		}
	}
	running_capture = NULL;
	progress_clear(&r->pg);
	if (e != SP_E_EOF && e != SP_E_OK && e != SP_E_AGAIN) {
		/* The capture layer names the file and the offset. */
		fprintf(stderr, "smtp-decode: %s\n", sp_capture_error(c));
		r->status = 1;
	}
}

static void
run_file(struct run *r, const char *path)
{
	sp_capture	*c;
	sp_analyzer	*an;
	char		 err[512];
	sp_err		 e;

	e = sp_capture_open_file(&c, path, r->o->filter, NULL, err,
	    sizeof(err));
	if (e != SP_E_OK) {
		fprintf(stderr, "smtp-decode: %s\n", err);
		r->status = 1;
		return;
	}
	if ((an = new_analyzer(r)) == NULL) {
		sp_capture_free(c);
		r->status = 1;
		return;
	}
	pump(r, c, an, strcmp(path, "-") == 0 ? "stdin" : path);
	finish_input(r, an, c);
	sp_analyzer_free(an);
	sp_capture_free(c);
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

static void
run_live(struct run *r)
{
	struct sp_capture_live_opts	lo = { 0 };
	sp_capture			*c;
	sp_analyzer			*an;
	char				 err[512];
	sp_err				 e;

	lo.filter = r->o->filter;
	lo.snaplen = r->o->snaplen;
	lo.buffer_size = r->o->bufsize;
	lo.promisc = 1;
	e = sp_capture_open_live(&c, r->o->iface, &lo, NULL, err, sizeof(err));
	if (e != SP_E_OK) {
		fprintf(stderr, "smtp-decode: %s\n", err);
		r->status = 1;
		return;
	}
	if (drop_privileges(r->o) != 0 || (an = new_analyzer(r)) == NULL) {
		sp_capture_free(c);
		r->status = 1;
		return;
	}
	pump(r, c, an, r->o->iface);
	finish_input(r, an, c);
	sp_analyzer_free(an);
	sp_capture_free(c);
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
	struct record_opts	ro = { 0 };
	struct sigaction	sa;

	memset(&r, 0, sizeof(r));
	r.o = o;
	r.t0 = mono();
	if (open_output(&r) != 0)
		return (1);
	ro.dialogue = o->dialogue;
	ro.show_secrets = o->an.show_secrets;
	ro.extract_dir = o->extract_dir;
	r.rec = recorder_new(&ro, record_done, o->events ? record_each : NULL,
	    &r);
	if (r.rec == NULL)
		return (1);
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
	if (o->format == FMT_ZEEK)
		output_zeek_footer(r.out);
	if (recorder_errors(r.rec) > 0) {
		fprintf(stderr, "smtp-decode: %u files could not be written "
		    "in %s\n", recorder_errors(r.rec), o->extract_dir);
		r.status = 1;
	}
	if (o->stats || (o->iface != NULL && stop_requested))
		print_stats(&r);
	if (fflush(r.out) != 0 || (r.out != stdout && fclose(r.out) != 0)) {
		fprintf(stderr, "smtp-decode: write error: %s\n",
		    strerror(errno));
		r.status = 1;
	}
	recorder_free(r.rec);
	return (r.status);
}
