/*
 * bench_analyzer - time the whole library stack over a capture file,
 * without any output: capture -> TCP -> SMTP -> MIME -> digests.
 *
 *   bench_analyzer [--hashes] FILE
 *
 * The consumer only counts events, so the difference between this and
 * smtp-decode is what building and writing JSON costs.  Prints
 * key=value lines like bench_reasm.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "smtpproto/smtpproto.h"

#include "bench.h"

struct counts {
	uint64_t	events, sessions, messages, parts, message_bytes;
};

static int
on_event(void *ud, const struct sp_event *ev)
{
	struct counts	*c = ud;

	c->events++;
	if (ev->kind == SP_EV_SESSION_BEGIN)
		c->sessions++;
	else if (ev->kind == SP_EV_MESSAGE_END)
		c->messages++;
	else if (ev->kind == SP_EV_PART_END)
		c->parts++;
	else if (ev->kind == SP_EV_MESSAGE_DATA)
		c->message_bytes += ev->u.data.n;
	return (0);
}

int
main(int argc, char **argv)
{
	struct sp_analyzer_options	 o;
	struct sp_capture_stats		 cs;
	struct sp_packet		 pkt;
	struct counts			 c = { 0 };
	sp_capture			*cap;
	sp_analyzer			*an;
	char				 err[512];
	const char			*file;
	double				 t0, el;
	sp_err				 e;

	sp_analyzer_options_default(&o);
	if (argc == 3 && strcmp(argv[1], "--hashes") == 0)
		o.md5 = o.sha1 = 1;
	else if (argc != 2) {
		fprintf(stderr, "usage: bench_analyzer [--hashes] FILE\n");
		return (2);
	}
	file = argv[argc - 1];
	t0 = bench_now();
	if (sp_capture_open_file(&cap, file, NULL, NULL, err, sizeof(err)) !=
	    SP_E_OK) {
		fprintf(stderr, "%s\n", err);
		return (1);
	}
	if (sp_analyzer_new(&an, NULL, &o, on_event, &c) != SP_E_OK)
		return (1);
	while ((e = sp_capture_next(cap, &pkt)) == SP_E_OK)
		if (sp_analyzer_packet(an, &pkt) != SP_E_OK)
			return (1);
	if (e != SP_E_EOF || sp_analyzer_finish(an) != SP_E_OK) {
		fprintf(stderr, "%s\n", sp_capture_error(cap));
		return (1);
	}
	el = bench_now() - t0;
	sp_capture_get_stats(cap, &cs);
	printf("file_bytes=%" PRIu64 "\nseconds=%.3f\nmb_per_s=%.1f\n"
	    "sessions=%" PRIu64 "\nmessages=%" PRIu64 "\nparts=%" PRIu64
	    "\nmessage_bytes=%" PRIu64 "\nevents=%" PRIu64
	    "\npeak_rss_kb=%ld\n", cs.offset, el, (double)cs.offset / 1e6 / el,
	    c.sessions, c.messages, c.parts, c.message_bytes, c.events,
	    bench_peak_rss_kb());
	sp_analyzer_free(an);
	sp_capture_free(cap);
	return (0);
}
