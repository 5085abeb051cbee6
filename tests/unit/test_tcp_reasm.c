/*
 * TCP reassembly: hand-built segments in, exact event logs out.
 * Client ISN 1000 and server ISN 5000 throughout, so client stream
 * offset k is sequence number 1001 + k and server offset k is 5001 + k.
 */
#include "tcp_harness.h"

#define C	0		/* from the client */
#define S	1		/* from the server */
#define CSEQ(k)	((uint32_t)(1001 + (k)))
#define SSEQ(k)	((uint32_t)(5001 + (k)))

static void
handshake(sp_tcp_reasm *r, const struct tends *e)
{
	FEED(r, tseg(e, C, "S", 1000, 0, NULL, MS(0)));
	FEED(r, tseg(e, S, "SA", 5000, 1001, NULL, MS(1)));
	FEED(r, tseg(e, C, "A", 1001, 5001, NULL, MS(2)));
}

static void
test_in_order(void)
{
	struct evlog		 l;
	sp_tcp_reasm		*r = tnew(&l, NULL);
	struct tends		 e = tends_v4(1, 40000, 2, 25);
	struct sp_tcp_stats	 st;

	handshake(r, &e);
	FEED(r, tseg(&e, S, "PA", SSEQ(0), CSEQ(0), "220 hi\r\n", MS(3)));
	FEED(r, tseg(&e, C, "PA", CSEQ(0), SSEQ(8), "EHLO x\r\n", MS(4)));
	FEED(r, tseg(&e, S, "PA", SSEQ(8), CSEQ(8), "250 ok\r\n", MS(5)));
	FEED(r, tseg(&e, C, "FA", CSEQ(8), SSEQ(16), NULL, MS(6)));
	FEED(r, tseg(&e, S, "FA", SSEQ(16), CSEQ(9), NULL, MS(7)));
	FEED(r, tseg(&e, C, "A", CSEQ(9), SSEQ(17), NULL, MS(8)));
	CHECK_STREQ(ev_text(&l),
	    "start #1 10.0.0.1:40000>10.0.0.2:25 hs\n"
	    "data #1 S 0+8 \"220 hi\\r\\n\"\n"
	    "data #1 C 0+8 \"EHLO x\\r\\n\"\n"
	    "data #1 S 8+8 \"250 ok\\r\\n\"\n"
	    "end #1 fin\n");
	CHECK_EQ(sp_tcp_reasm_finish(r), SP_E_OK);
	sp_tcp_reasm_get_stats(r, &st);
	CHECK_EQ(st.packets, 9u);
	CHECK_EQ(st.flows, 1u);
	CHECK_EQ(st.flows_open, 0u);
	CHECK_EQ(st.flows_ended[SP_FLOW_END_FIN], 1u);
	CHECK_EQ(st.bytes, 24u);
	CHECK_EQ(st.gaps + st.dup_bytes + st.dropped_bytes, 0u);
	CHECK_EQ(l.violations, 0);
	sp_tcp_reasm_free(r);
	ev_free(&l);
}

static void
test_reordered(void)
{
	struct evlog		 l;
	sp_tcp_reasm		*r = tnew(&l, NULL);
	struct tends		 e = tends_v4(1, 40000, 2, 25);
	struct sp_tcp_stats	 st;

	handshake(r, &e);
	FEED(r, tseg(&e, C, "PA", CSEQ(0), SSEQ(0), "aaaaa", MS(3)));
	FEED(r, tseg(&e, C, "PA", CSEQ(10), SSEQ(0), "ccccc", MS(4)));
	FEED(r, tseg(&e, C, "PA", CSEQ(15), SSEQ(0), "ddddd", MS(5)));
	sp_tcp_reasm_get_stats(r, &st);
	CHECK_EQ(st.buffered, 10u);
	FEED(r, tseg(&e, C, "PA", CSEQ(5), SSEQ(0), "bbbbb", MS(6)));
	CHECK_STREQ(ev_text(&l), "start #1 10.0.0.1:40000>10.0.0.2:25 hs\n"
	    "data #1 C 0+5 \"aaaaa\"\n"
	    "data #1 C 5+5 \"bbbbb\"\n"
	    "data #1 C 10+5 \"ccccc\"\n"
	    "data #1 C 15+5 \"ddddd\"\n");
	sp_tcp_reasm_get_stats(r, &st);
	CHECK_EQ(st.buffered, 0u);
	CHECK_EQ(st.buffered_peak, 10u);
	CHECK_EQ(st.anomalies[SP_ANOM_TCP_GAP], 0u);
	sp_tcp_reasm_free(r);
	ev_free(&l);
}

static void
test_duplicates(void)
{
	struct evlog		 l;
	sp_tcp_reasm		*r = tnew(&l, NULL);
	struct tends		 e = tends_v4(1, 40000, 2, 25);
	struct sp_tcp_stats	 st;

	handshake(r, &e);
	ev_clear(&l);
	FEED(r, tseg(&e, C, "PA", CSEQ(0), SSEQ(0), "aaaaa", MS(3)));
	FEED(r, tseg(&e, C, "PA", CSEQ(0), SSEQ(0), "aaaaa", MS(4)));
	FEED(r, tseg(&e, C, "PA", CSEQ(0), SSEQ(0), "aaaaa", MS(5)));
	FEED(r, tseg(&e, C, "PA", CSEQ(5), SSEQ(0), "bbbbb", MS(6)));
	FEED(r, tseg(&e, C, "PA", CSEQ(5), SSEQ(0), "bbbbb", MS(7)));
	/* Partial overlap with the same bytes: only the new part. */
	FEED(r, tseg(&e, C, "PA", CSEQ(7), SSEQ(0), "bbbcccc", MS(8)));
	CHECK_STREQ(ev_text(&l),
	    "data #1 C 0+5 \"aaaaa\"\n"
	    "anom #1 C tcp_retransmission 0\n"
	    "data #1 C 5+5 \"bbbbb\"\n"
	    "anom #1 C tcp_retransmission 5\n"
	    "data #1 C 10+4 \"cccc\"\n"
	    "anom #1 C tcp_retransmission 7\n");
	sp_tcp_reasm_get_stats(r, &st);
	CHECK_EQ(st.dup_bytes, 18u);
	CHECK_EQ(st.anomalies[SP_ANOM_TCP_RETRANSMISSION], 3u);
	CHECK_EQ(st.anomalies[SP_ANOM_TCP_OVERLAP_CONFLICT], 0u);
	sp_tcp_reasm_free(r);
	ev_free(&l);
}

/* A capture echo (same segment within 100 us) is no retransmission. */
static void
test_capture_echo(void)
{
	struct evlog		 l;
	sp_tcp_reasm		*r = tnew(&l, NULL);
	struct tends		 e = tends_v4(1, 40000, 2, 25);
	struct sp_tcp_stats	 st;

	handshake(r, &e);
	ev_clear(&l);
	FEED(r, tseg(&e, C, "PA", CSEQ(0), SSEQ(0), "aaaaa", MS(3)));
	FEED(r, tseg(&e, C, "PA", CSEQ(0), SSEQ(0), "aaaaa", MS(3) + 50000));
	FEED(r, tseg(&e, C, "PA", CSEQ(5), SSEQ(0), "bbbbb", MS(4)));
	FEED(r, tseg(&e, C, "PA", CSEQ(5), SSEQ(0), "bbbbb", MS(4) + 100000));
	CHECK_STREQ(ev_text(&l),
	    "data #1 C 0+5 \"aaaaa\"\n"
	    "data #1 C 5+5 \"bbbbb\"\n"
	    "anom #1 C tcp_retransmission 5\n");
	sp_tcp_reasm_get_stats(r, &st);
	CHECK_EQ(st.dup_bytes, 10u);
	sp_tcp_reasm_free(r);
	ev_free(&l);
}

/* Different bytes for offsets already buffered: the buffered ones win. */
static void
test_conflict_buffered(void)
{
	struct evlog	 l;
	sp_tcp_reasm	*r = tnew(&l, NULL);
	struct tends	 e = tends_v4(1, 40000, 2, 25);

	handshake(r, &e);
	ev_clear(&l);
	FEED(r, tseg(&e, C, "PA", CSEQ(10), SSEQ(0), "KLMNOPQRST", MS(3)));
	FEED(r, tseg(&e, C, "PA", CSEQ(5), SSEQ(0), "fghijKLmnO", MS(4)));
	FEED(r, tseg(&e, C, "PA", CSEQ(0), SSEQ(0), "abcde", MS(5)));
	CHECK_STREQ(ev_text(&l),
	    "anom #1 C tcp_retransmission 10\n"
	    "anom #1 C tcp_overlap_conflict 12 "
	    "(offsets 12-14 differ; first data kept)\n"
	    "data #1 C 0+5 \"abcde\"\n"
	    "data #1 C 5+5 \"fghij\"\n"
	    "data #1 C 10+10 \"KLMNOPQRST\"\n");
	sp_tcp_reasm_free(r);
	ev_free(&l);
}

/* Different bytes for offsets already delivered, within tcp_retain. */
static void
test_conflict_delivered(void)
{
	struct evlog		 l;
	struct sp_limits	 lim;
	sp_tcp_reasm		*r;
	struct tends		 e = tends_v4(1, 40000, 2, 25);

	sp_limits_default(&lim);
	lim.tcp_retain = 4;
	r = tnew(&l, &lim);
	handshake(r, &e);
	ev_clear(&l);
	FEED(r, tseg(&e, C, "PA", CSEQ(0), SSEQ(0), "0123456789", MS(3)));
	/* Offsets 0-5 are no longer retained: counted, not compared. */
	FEED(r, tseg(&e, C, "PA", CSEQ(0), SSEQ(0), "01x3", MS(4)));
	FEED(r, tseg(&e, C, "PA", CSEQ(10), SSEQ(0), "ab", MS(5)));
	/* Retained now: 8-11.  Offset 10 differs. */
	FEED(r, tseg(&e, C, "PA", CSEQ(9), SSEQ(0), "9Xbcd", MS(6)));
	/* A straddle: the retained part 10-11 is compared, 6-7 is not. */
	FEED(r, tseg(&e, C, "PA", CSEQ(6), SSEQ(0), "??89aZ", MS(7)));
	CHECK_STREQ(ev_text(&l),
	    "data #1 C 0+10 \"0123456789\"\n"
	    "anom #1 C tcp_retransmission 0\n"
	    "data #1 C 10+2 \"ab\"\n"
	    "data #1 C 12+2 \"cd\"\n"
	    "anom #1 C tcp_retransmission 9\n"
	    "anom #1 C tcp_overlap_conflict 10 "
	    "(offsets 10-11 differ; first data kept)\n"
	    "anom #1 C tcp_overlap_conflict 11 "
	    "(offsets 11-12 differ; first data kept)\n");
	sp_tcp_reasm_free(r);
	ev_free(&l);
}

/*
 * Rule (c): the server acks bytes 10-20 that the capture never shows.
 * After tcp_gap_ack_packets (3) further packets they become a gap at
 * exactly 10+10, and the stream goes on after it.
 */
static void
test_dropped_segment(void)
{
	struct evlog		 l;
	struct sp_limits	 lim;
	sp_tcp_reasm		*r;
	struct tends		 e = tends_v4(1, 40000, 2, 25);

	sp_limits_default(&lim);
	lim.tcp_gap_ack_packets = 3;
	r = tnew(&l, &lim);
	handshake(r, &e);
	ev_clear(&l);
	FEED(r, tseg(&e, C, "PA", CSEQ(0), SSEQ(0), "AAAAAAAAAA", MS(3)));
	FEED(r, tseg(&e, C, "PA", CSEQ(20), SSEQ(0), "CCCCCCCCCC", MS(4)));
	FEED(r, tseg(&e, C, "PA", CSEQ(30), SSEQ(0), "DDDDDDDDDD", MS(5)));
	FEED(r, tseg(&e, S, "A", SSEQ(0), CSEQ(40), NULL, MS(6)));
	FEED(r, tseg(&e, S, "A", SSEQ(0), CSEQ(40), NULL, MS(7)));
	FEED(r, tseg(&e, S, "A", SSEQ(0), CSEQ(40), NULL, MS(8)));
	CHECK_STREQ(ev_text(&l), "data #1 C 0+10 \"AAAAAAAAAA\"\n",
	    "still within the grace");
	FEED(r, tseg(&e, S, "A", SSEQ(0), CSEQ(40), NULL, MS(9)));
	CHECK(strstr(ev_text(&l), "gap #1 C 10+10\n") != NULL,
	    "the third packet after the ACK ends the grace: %s", ev_text(&l));
	FEED(r, tseg(&e, C, "PA", CSEQ(40), SSEQ(0), "EEEEE", MS(10)));
	CHECK_STREQ(ev_text(&l),
	    "data #1 C 0+10 \"AAAAAAAAAA\"\n"
	    "gap #1 C 10+10\n"
	    "anom #1 C tcp_gap 10\n"
	    "data #1 C 20+10 \"CCCCCCCCCC\"\n"
	    "data #1 C 30+10 \"DDDDDDDDDD\"\n"
	    "data #1 C 40+5 \"EEEEE\"\n");
	/* The lost segment turning up late is a duplicate now. */
	FEED(r, tseg(&e, C, "PA", CSEQ(10), SSEQ(0), "BBBBBBBBBB", MS(11)));
	CHECK_EQ(sp_tcp_reasm_finish(r), SP_E_OK);
	CHECK(strstr(ev_text(&l), "tcp_retransmission 10\nend #1 eof\n")
	    != NULL, "%s", ev_text(&l));
	CHECK_EQ(l.violations, 0);
	sp_tcp_reasm_free(r);
	ev_free(&l);
}

/*
 * The capture shows the server's ACK of 30 before segment 10-20 (as
 * an "any" capture may): reassembly must wait, not declare a gap.
 */
static void
test_ack_before_data(void)
{
	struct evlog		 l;
	struct sp_limits	 lim;
	sp_tcp_reasm		*r;
	struct tends		 e = tends_v4(1, 40000, 2, 25);

	sp_limits_default(&lim);
	lim.tcp_gap_ack_packets = 3;
	r = tnew(&l, &lim);
	handshake(r, &e);
	ev_clear(&l);
	FEED(r, tseg(&e, C, "PA", CSEQ(0), SSEQ(0), "AAAAAAAAAA", MS(3)));
	FEED(r, tseg(&e, C, "PA", CSEQ(20), SSEQ(0), "CCCCCCCCCC", MS(4)));
	FEED(r, tseg(&e, S, "A", SSEQ(0), CSEQ(30), NULL, MS(5)));
	FEED(r, tseg(&e, S, "PA", SSEQ(0), CSEQ(30), "250 ok\r\n", MS(6)));
	FEED(r, tseg(&e, S, "A", SSEQ(8), CSEQ(30), NULL, MS(7)));
	/* The third packet after the ACK: the last one the grace allows. */
	FEED(r, tseg(&e, C, "PA", CSEQ(10), SSEQ(8), "BBBBBBBBBB", MS(8)));
	FEED(r, tseg(&e, C, "FA", CSEQ(30), SSEQ(8), NULL, MS(9)));
	FEED(r, tseg(&e, S, "FA", SSEQ(8), CSEQ(31), NULL, MS(10)));
	CHECK_STREQ(ev_text(&l),
	    "data #1 C 0+10 \"AAAAAAAAAA\"\n"
	    "data #1 S 0+8 \"250 ok\\r\\n\"\n"
	    "data #1 C 10+10 \"BBBBBBBBBB\"\n"
	    "data #1 C 20+10 \"CCCCCCCCCC\"\n"
	    "end #1 fin\n");
	sp_tcp_reasm_free(r);
	ev_free(&l);
}

/*
 * Sequence numbers wrap at 2^32.  The client's ISN puts offset 0 at
 * 0xfffffff0: segments 10-20 and 20-30 straddle and follow the wrap,
 * arrive swapped, and 30-40 is lost (acked, so a gap after 1 packet).
 */
static void
test_seq_wrap(void)
{
	struct evlog		 l;
	struct sp_limits	 lim;
	sp_tcp_reasm		*r;
	struct tends		 e = tends_v4(1, 40000, 2, 25);
	uint32_t		 b = 0xfffffff0u;

	sp_limits_default(&lim);
	lim.tcp_gap_ack_packets = 1;
	r = tnew(&l, &lim);
	FEED(r, tseg(&e, C, "S", b - 1, 0, NULL, MS(0)));
	FEED(r, tseg(&e, S, "SA", 5000, b, NULL, MS(1)));
	FEED(r, tseg(&e, C, "PA", b, SSEQ(0), "0000000000", MS(2)));
	FEED(r, tseg(&e, C, "PA", b + 20, SSEQ(0), "2222222222", MS(3)));
	FEED(r, tseg(&e, C, "PA", b + 10, SSEQ(0), "1111111111", MS(4)));
	FEED(r, tseg(&e, C, "PA", b + 40, SSEQ(0), "4444444444", MS(5)));
	FEED(r, tseg(&e, S, "A", SSEQ(0), b + 50, NULL, MS(6)));
	CHECK(strstr(ev_text(&l), "gap") == NULL, "%s", ev_text(&l));
	FEED(r, tseg(&e, S, "A", SSEQ(0), b + 50, NULL, MS(7)));
	FEED(r, tseg(&e, C, "FA", b + 50, SSEQ(0), NULL, MS(8)));
	FEED(r, tseg(&e, S, "FA", SSEQ(0), b + 51, NULL, MS(9)));
	CHECK_STREQ(ev_text(&l), "start #1 10.0.0.1:40000>10.0.0.2:25 hs\n"
	    "data #1 C 0+10 \"0000000000\"\n"
	    "data #1 C 10+10 \"1111111111\"\n"
	    "data #1 C 20+10 \"2222222222\"\n"
	    "gap #1 C 30+10\n"
	    "anom #1 C tcp_gap 30\n"
	    "data #1 C 40+10 \"4444444444\"\n"
	    "end #1 fin\n");
	CHECK_EQ(l.violations, 0);
	sp_tcp_reasm_free(r);
	ev_free(&l);

	/* The lost segment is the one that straddles 2^32. */
	r = tnew(&l, NULL);
	FEED(r, tseg(&e, C, "S", b - 1, 0, NULL, MS(0)));
	FEED(r, tseg(&e, C, "PA", b, 0, "0000000000", MS(1)));
	FEED(r, tseg(&e, C, "PA", b + 20, 0, "2222222222", MS(2)));
	CHECK_EQ(sp_tcp_reasm_finish(r), SP_E_OK);
	CHECK_STREQ(ev_text(&l), "start #1 10.0.0.1:40000>10.0.0.2:25 hs\n"
	    "data #1 C 0+10 \"0000000000\"\n"
	    "gap #1 C 10+10\n"
	    "anom #1 C tcp_gap 10\n"
	    "data #1 C 20+10 \"2222222222\"\n"
	    "end #1 eof\n");
	sp_tcp_reasm_free(r);
	ev_free(&l);
}

/* The SYN names the client, whatever the ports say. */
static void
test_syn_roles(void)
{
	struct evlog	 l;
	sp_tcp_reasm	*r = tnew(&l, NULL);
	struct tends	 e = tends_v4(1, 25, 2, 40000);

	FEED(r, tseg(&e, C, "S", 1000, 0, NULL, MS(0)));
	FEED(r, tseg(&e, S, "PA", 5000, 1001, "220 x\r\n", MS(1)));
	FEED(r, tseg(&e, C, "PA", CSEQ(0), 5007, "HELO", MS(2)));
	CHECK_STREQ(ev_text(&l), "start #1 10.0.0.1:25>10.0.0.2:40000 hs\n"
	    "data #1 S 0+7 \"220 x\\r\\n\"\n"
	    "data #1 C 0+4 \"HELO\"\n");
	sp_tcp_reasm_free(r);
	ev_free(&l);
}

int
main(void)
{
	test_in_order();
	test_reordered();
	test_duplicates();
	test_capture_echo();
	test_conflict_buffered();
	test_conflict_delivered();
	test_dropped_segment();
	test_ack_before_data();
	test_seq_wrap();
	test_syn_roles();
	return (check_done("test_tcp_reasm"));
}
