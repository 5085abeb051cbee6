/*
 * bench_reasm - time TCP stream reassembly over a capture file.
 *
 *   bench_reasm [--capture-only] FILE
 *
 * Reads FILE through sp_capture and feeds every segment to an
 * sp_tcp_reasm whose callbacks only count (flows, bytes delivered,
 * gaps), so what is timed is the library's reading, decoding and
 * reassembly and nothing a consumer would add.  --capture-only stops
 * after sp_capture_next(), which tells the capture layer's share.
 *
 * Prints key=value lines: the file's size, the seconds from opening
 * the file to the end of sp_tcp_reasm_finish(), MB/s (10^6 bytes of
 * file per second), the counts, and the process's peak resident set
 * (getrusage ru_maxrss).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "smtpproto/smtpproto.h"

#include "bench.h"

struct counts {
	uint64_t	flows;
	uint64_t	ended;
	uint64_t	bytes;
	uint64_t	chunks;
	uint64_t	gaps;
	uint64_t	gap_bytes;
};

static int
on_flow_start(void *ud, struct sp_tcp_flow *f)
{
	struct counts	*c = ud;

	(void)f;
	c->flows++;
	return (0);
}

static int
on_data(void *ud, struct sp_tcp_flow *f, enum sp_dir dir, uint64_t off,
    const uint8_t *p, size_t n, sp_ts ts)
{
	struct counts	*c = ud;

	(void)f, (void)dir, (void)off, (void)p, (void)ts;
	c->bytes += n;
	c->chunks++;
	return (0);
}

static int
on_gap(void *ud, struct sp_tcp_flow *f, enum sp_dir dir, uint64_t off,
    uint64_t n, sp_ts ts)
{
	struct counts	*c = ud;

	(void)f, (void)dir, (void)off, (void)ts;
	c->gaps++;
	c->gap_bytes += n;
	return (0);
}

static int
on_flow_end(void *ud, struct sp_tcp_flow *f, enum sp_flow_end why)
{
	struct counts	*c = ud;

	(void)f, (void)why;
	c->ended++;
	return (0);
}

/* Read every segment; feed the reassembler unless r is NULL. */
static sp_err
pump(sp_capture *cap, sp_tcp_reasm *r)
{
	struct sp_packet	pkt;
	sp_err			e;

	for (;;) {
		e = sp_capture_next(cap, &pkt);
		if (e == SP_E_EOF)
			break;
		if (e != SP_E_OK) {
			fprintf(stderr, "bench_reasm: %s: %s\n",
			    sp_errname(e), sp_capture_error(cap));
			return (e);
		}
		if (r != NULL && (e = sp_tcp_reasm_packet(r, &pkt)) != SP_E_OK)
			return (e);
	}
	return (r != NULL ? sp_tcp_reasm_finish(r) : SP_E_OK);
}

static void
report(const char *path, int capture_only, double secs,
    const struct sp_capture_stats *cs, const struct sp_tcp_stats *ts,
    const struct counts *c)
{
	long	rss = bench_peak_rss_kb();	/* before stdio's buffer */

	printf("tool=bench_reasm%s\nfile=%s\n",
	    capture_only ? " --capture-only" : "", path);
	printf("file_bytes=%" PRIu64 "\nseconds=%.3f\nmb_per_s=%.1f\n",
	    cs->offset, secs, secs > 0 ? (double)cs->offset / 1e6 / secs : 0);
	printf("frames=%" PRIu64 "\ntcp_segments=%" PRIu64 "\n", cs->frames,
	    cs->tcp);
	printf("malformed=%" PRIu64 "\n", cs->malformed);
	if (!capture_only) {
		printf("flows=%" PRIu64 "\nflows_ended=%" PRIu64 "\n",
		    c->flows, c->ended);
		printf("stream_bytes=%" PRIu64 "\ndata_calls=%" PRIu64 "\n",
		    c->bytes, c->chunks);
		printf("gaps=%" PRIu64 "\ngap_bytes=%" PRIu64 "\n", c->gaps,
		    c->gap_bytes);
		printf("dup_bytes=%" PRIu64 "\nbuffered_peak=%zu\n",
		    ts->dup_bytes, ts->buffered_peak);
	}
	printf("peak_rss_kb=%ld\n", rss);
}

int
main(int argc, char **argv)
{
	struct sp_limits	 lim;
	struct sp_tcp_callbacks	 cb;
	struct sp_capture_stats	 cs;
	struct sp_tcp_stats	 ts;
	struct counts		 c;
	char			 err[256];
	sp_capture		*cap = NULL;
	sp_tcp_reasm		*r = NULL;
	int			 capture_only = 0, i = 1;
	double			 t0;
	sp_err			 e;

	if (argc == 3 && strcmp(argv[1], "--capture-only") == 0) {
		capture_only = 1;
		i = 2;
	}
	if (argc != i + 1) {
		fprintf(stderr, "usage: bench_reasm [--capture-only] FILE\n");
		return (2);
	}
	sp_limits_default(&lim);
	memset(&c, 0, sizeof(c));
	memset(&cb, 0, sizeof(cb));
	memset(&ts, 0, sizeof(ts));
	cb.on_flow_start = on_flow_start;
	cb.on_data = on_data;
	cb.on_gap = on_gap;
	cb.on_flow_end = on_flow_end;
	t0 = bench_now();
	e = sp_capture_open_file(&cap, argv[i], NULL, &lim, err, sizeof(err));
	if (e != SP_E_OK) {
		fprintf(stderr, "bench_reasm: %s\n", err);
		return (1);
	}
	if (!capture_only)
		e = sp_tcp_reasm_new(&r, &lim, &cb, &c);
	if (e == SP_E_OK)
		e = pump(cap, r);
	if (e == SP_E_OK) {
		sp_capture_get_stats(cap, &cs);
		if (r != NULL)
			sp_tcp_reasm_get_stats(r, &ts);
		report(argv[i], capture_only, bench_now() - t0, &cs, &ts, &c);
	} else
		fprintf(stderr, "bench_reasm: %s\n", sp_strerror(e));
	sp_tcp_reasm_free(r);
	sp_capture_free(cap);
	return (e == SP_E_OK ? 0 : 1);
}
