/*
 * Guard-page test (picohttpparser): every payload ends right before a
 * page that may not be touched, so reading one byte past payload_len,
 * on any path (fast path, buffering, overlap comparison, the retain
 * ring), crashes the test.  Snap-cut segments claim more wire bytes
 * than they carry, the classic way to make a reader overrun.
 */
#include <sys/mman.h>
#include <unistd.h>

#include "tcp_harness.h"

static uint8_t	*page_end;	/* first byte of the forbidden page */

/* A copy of s whose last byte sits just before the forbidden page. */
static const uint8_t *
at_edge(const char *s)
{
	size_t	n = strlen(s);

	memcpy(page_end - n, s, n);
	return (page_end - n);
}

static struct sp_packet
edge_seg(const struct tends *e, int from_server, uint32_t seq,
    const char *s, size_t wire, sp_ts ts)
{
	struct sp_packet	p;

	p = tseg_n(e, from_server, "PA", seq, 0, at_edge(s), strlen(s), ts);
	if (wire > p.payload_len)
		p.payload_wire_len = wire;
	return (p);
}

int
main(void)
{
	long		 pg = sysconf(_SC_PAGESIZE);
	uint8_t		*map;
	struct evlog	 l;
	sp_tcp_reasm	*r;
	struct tends	 e = tends_v4(1, 40000, 2, 25);

	map = mmap(NULL, (size_t)pg * 2, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED)
		return (77);
	page_end = map + pg;
	if (mprotect(page_end, (size_t)pg, PROT_NONE) != 0)
		return (77);

	r = tnew(&l, NULL);
	FEED(r, tseg(&e, 0, "S", 1000, 0, NULL, 1));
	FEED(r, edge_seg(&e, 0, 1001, "hello", 0, 2));	/* fast path */
	FEED(r, edge_seg(&e, 0, 1016, "later", 0, 3));	/* buffered */
	FEED(r, edge_seg(&e, 0, 1006, "HELLOworldLAT", 0, 4)); /* overlap */
	FEED(r, edge_seg(&e, 0, 1003, "llo", 0, 5));		/* ring */
	FEED(r, edge_seg(&e, 0, 1001, "hexxo", 0, 6));	/* conflict */
	FEED(r, edge_seg(&e, 0, 1021, "cut", 40, 7));		/* snap cut */
	FEED(r, edge_seg(&e, 0, 1061, "z", 0, 8));
	CHECK_EQ(sp_tcp_reasm_finish(r), SP_E_OK);
	CHECK_STREQ(ev_text(&l), "start #1 10.0.0.1:40000>10.0.0.2:25 hs\n"
	    "data #1 C 0+5 \"hello\"\n"
	    "data #1 C 5+10 \"HELLOworld\"\n"
	    "data #1 C 15+5 \"later\"\n"
	    "anom #1 C tcp_retransmission 15\n"
	    "anom #1 C tcp_overlap_conflict 15 "
	    "(offsets 15-18 differ; first data kept)\n"
	    "anom #1 C tcp_overlap_conflict 2 "
	    "(offsets 2-4 differ; first data kept)\n"
	    "data #1 C 20+3 \"cut\"\n"
	    "gap #1 C 23+37\n"
	    "anom #1 C tcp_gap 23\n"
	    "data #1 C 60+1 \"z\"\n"
	    "end #1 eof\n");
	CHECK_EQ(l.violations, 0);
	sp_tcp_reasm_free(r);
	ev_free(&l);
	munmap(map, (size_t)pg * 2);
	return (check_done("test_tcp_guard"));
}
