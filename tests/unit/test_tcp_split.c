/*
 * TCP reassembly, the http-parser test_scan way: one byte stream cut
 * into segments at every boundary, one byte per segment, and seeded
 * random segmentations with duplicates, overlapping retransmissions
 * and any order, must always deliver the same stream, with no gap.
 * Then a failmalloc sweep (nghttp2): fail each allocation in turn.
 */
#include "tcp_harness.h"

#include "failalloc.h"

#define MSG_LEN	300

static uint8_t	msg[MSG_LEN];

struct span {
	size_t	off, len;
};

/* A small LCG: the same seed gives the same test on every machine. */
static uint32_t
rnd(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return (*s >> 8);
}

/*
 * Feed spans of msg (in the order given) from the client of a flow
 * whose client ISN is isn, then end the input.  Checks that the client
 * stream is exactly msg.  Returns the number of checks that failed.
 */
static int
run_spans(const struct span *sp, size_t n, uint32_t isn, size_t len,
    const char *what)
{
	struct evlog		 l;
	sp_tcp_reasm		*r = tnew(&l, NULL);
	struct tends		 e = tends_v4(1, 40000, 2, 25);
	struct sp_tcp_stats	 st;
	int			 before = check_failed;

	l.log_data = 0;
	FEED(r, tseg(&e, 0, "S", isn, 0, NULL, 1));
	FEED(r, tseg(&e, 1, "SA", 5000, isn + 1, NULL, 2));
	for (size_t i = 0; i < n; i++)
		FEED(r, tseg_n(&e, 0, "PA", isn + 1 + (uint32_t)sp[i].off,
		    5001, msg + sp[i].off, sp[i].len, 3 + i));
	CHECK_EQ(sp_tcp_reasm_finish(r), SP_E_OK);
	sp_tcp_reasm_get_stats(r, &st);
	CHECK(l.s[1][0].len == len && memcmp(l.s[1][0].bytes, msg, len) == 0,
	    "%s: stream differs (%zu bytes)", what, l.s[1][0].len);
	CHECK_EQ(st.gaps, 0u, "%s", what);
	CHECK_EQ(st.anomalies[SP_ANOM_TCP_OVERLAP_CONFLICT], 0u, "%s", what);
	CHECK_EQ(st.buffered, 0u, "%s", what);
	CHECK_EQ(l.violations, 0, "%s", what);
	sp_tcp_reasm_free(r);
	ev_free(&l);
	return (check_failed - before);
}

static void
test_every_cut(void)
{
	struct span	sp[3];
	char		what[64];

	for (size_t cut = 1; cut < MSG_LEN; cut++) {
		sp[0] = (struct span){ 0, cut };
		sp[1] = (struct span){ cut, MSG_LEN - cut };
		snprintf(what, sizeof(what), "cut %zu", cut);
		if (run_spans(sp, 2, 1000, MSG_LEN, what) != 0)
			return;
		sp[2] = sp[0];
		snprintf(what, sizeof(what), "cut %zu reversed", cut);
		if (run_spans(sp + 1, 2, 1000, MSG_LEN, what) != 0)
			return;
	}
}

/* Three pieces of the first 40 bytes at every pair of cuts, any order. */
static void
test_every_two_cuts(void)
{
	static const int orders[6][3] = {
		{ 0, 1, 2 }, { 0, 2, 1 }, { 1, 0, 2 },
		{ 1, 2, 0 }, { 2, 0, 1 }, { 2, 1, 0 }
	};
	const size_t	len = 40;
	struct span	piece[3], sp[3];
	char		what[64];

	for (size_t i = 1; i < len; i++) {
		for (size_t j = i + 1; j < len; j++) {
			piece[0] = (struct span){ 0, i };
			piece[1] = (struct span){ i, j - i };
			piece[2] = (struct span){ j, len - j };
			for (int o = 0; o < 6; o++) {
				for (int k = 0; k < 3; k++)
					sp[k] = piece[orders[o][k]];
				snprintf(what, sizeof(what), "cuts %zu %zu "
				    "order %d", i, j, o);
				if (run_spans(sp, 3, 0xffffffe0u, len,
				    what) != 0)
					return;
			}
		}
	}
}

static void
test_one_byte_segments(void)
{
	struct span	sp[MSG_LEN];

	for (size_t i = 0; i < MSG_LEN; i++)
		sp[i] = (struct span){ i, 1 };
	run_spans(sp, MSG_LEN, 1000, MSG_LEN, "one byte each");
	for (size_t i = 0; i < MSG_LEN; i++)
		sp[i] = (struct span){ MSG_LEN - 1 - i, 1 };
	run_spans(sp, MSG_LEN, 0xffffff00u, MSG_LEN, "one byte, reversed");
}

/*
 * Random segmentations, plus random retransmissions of random ranges
 * (same bytes, so no conflict), shuffled; ISNs anywhere, wrap included.
 */
static void
test_random_permutations(void)
{
	struct span	sp[3 * MSG_LEN];
	uint32_t	seed = 12345, isn;
	size_t		n, off, k, j;
	char		what[64];

	for (int iter = 0; iter < 500; iter++) {
		n = 0;
		for (off = 0; off < MSG_LEN; off += k) {
			k = 1 + rnd(&seed) % 40;
			k = SP_MIN(k, MSG_LEN - off);
			sp[n++] = (struct span){ off, k };
		}
		for (int extra = (int)(rnd(&seed) % 8); extra > 0; extra--) {
			off = rnd(&seed) % MSG_LEN;
			k = 1 + rnd(&seed) % (MSG_LEN - off);
			sp[n++] = (struct span){ off, k };
		}
		for (size_t i = n - 1; i > 0; i--) {
			struct span t = sp[i];

			j = rnd(&seed) % (i + 1);
			sp[i] = sp[j];
			sp[j] = t;
		}
		isn = iter % 3 == 0 ? 0xffffffffu - rnd(&seed) % 400 :
		    rnd(&seed) << 8;
		snprintf(what, sizeof(what), "random iteration %d", iter);
		if (run_spans(sp, n, isn, MSG_LEN, what) != 0)
			return;
	}
}

/* --- failmalloc --- */

/*
 * A scenario that allocates in every way the reassembler does: flows
 * (more than 64, so the table grows), retain rings, out-of-order
 * segments, tombstones, eviction.  Stops at the first error.
 */
static sp_err
scenario(sp_tcp_reasm *r)
{
	struct tends		 e = tends_v4(1, 40000, 2, 25);
	struct sp_packet	 p[8];
	sp_err			 err = SP_E_OK;
	size_t			 np = 0;

	p[np++] = tseg(&e, 0, "S", 1000, 0, NULL, 1);
	p[np++] = tseg(&e, 1, "SA", 5000, 1001, NULL, 2);
	p[np++] = tseg(&e, 0, "PA", 1011, 5001, "ccccc", 3);
	p[np++] = tseg(&e, 0, "PA", 1021, 5001, "eeeee", 4);
	p[np++] = tseg(&e, 0, "PA", 1001, 5001, "aaaaabbbbb", 5);
	p[np++] = tseg(&e, 1, "PA", 5001, 1006, "220 hi\r\n", 6);
	p[np++] = tseg(&e, 0, "FA", 1026, 5009, NULL, 7);
	p[np++] = tseg(&e, 1, "RA", 5009, 1027, NULL, 8);
	for (size_t i = 0; i < np && err == SP_E_OK; i++)
		err = sp_tcp_reasm_packet(r, &p[i]);
	for (uint16_t port = 1; port <= 80 && err == SP_E_OK; port++) {
		struct tends		 m = tends_v4(3, port, 4, 25);
		struct sp_packet	 q;

		q = tseg(&m, 0, "PA", 100, 1, "x", 10 + port);
		err = sp_tcp_reasm_packet(r, &q);
		q = tseg(&m, 0, "PA", 102, 1, "z", 10 + port);
		if (err == SP_E_OK)
			err = sp_tcp_reasm_packet(r, &q);
	}
	if (err == SP_E_OK)
		err = sp_tcp_reasm_finish(r);
	return (err);
}

static sp_err
run_failing(struct failalloc *fa, struct evlog *l)
{
	struct sp_limits	 lim;
	sp_tcp_reasm		*r = NULL;
	sp_err			 err;

	sp_limits_default(&lim);
	lim.alloc = &fa->al;
	lim.tcp_flows = 70;		/* the sweep also evicts */
	ev_init(l);
	l->log_data = 0;
	err = sp_tcp_reasm_new(&r, &lim, &ev_callbacks, l);
	if (err != SP_E_OK)
		return (err);
	err = scenario(r);
	if (err == SP_E_OK || err == SP_E_NOMEM)	/* sticky */
		CHECK_EQ(sp_tcp_reasm_packet(r, &(struct sp_packet){ 0 }),
		    err);
	sp_tcp_reasm_free(r);
	return (err);
}

static void
test_failmalloc(void)
{
	struct failalloc	 fa;
	struct evlog		 ref, l;
	sp_err			 err;
	long			 n;

	failalloc_init(&fa, 0, false);
	err = run_failing(&fa, &ref);
	CHECK_EQ(err, SP_E_OK);
	CHECK_EQ(fa.live, 0);
	CHECK(fa.calls > 80, "only %ld allocations", fa.calls);
	for (n = 1; n < 100000; n++) {
		failalloc_init(&fa, n, false);
		err = run_failing(&fa, &l);
		CHECK_EQ(fa.live, 0, "leak when allocation %ld fails", n);
		if (!fa.failed) {
			CHECK_EQ(err, SP_E_OK);
			CHECK_STREQ(ev_text(&l), ev_text(&ref));
			ev_free(&l);
			break;
		}
		/* Only a table resize may fail without an error. */
		CHECK(err == SP_E_NOMEM || (err == SP_E_OK &&
		    strcmp(ev_text(&l), ev_text(&ref)) == 0),
		    "allocation %ld: %s", n, sp_errname(err));
		ev_free(&l);
	}
	CHECK(n > 80, "sweep ended after %ld", n);
	ev_free(&ref);
}

/*
 * The same scenario, failing the Nth callback for every N: the error
 * is SP_E_CALLBACK, it sticks, no further callback runs, nothing leaks.
 */
static void
test_callback_sweep(void)
{
	struct sp_limits	 lim;
	struct evlog		 l;
	sp_tcp_reasm		*r;
	sp_err			 err;
	int			 n;

	sp_limits_default(&lim);
	lim.tcp_flows = 70;
	for (n = 1; n < 100000; n++) {
		r = tnew(&l, &lim);
		l.log_data = 0;
		l.fail_at = n;
		err = scenario(r);
		if (l.ncalls < n) {
			CHECK_EQ(err, SP_E_OK);
			sp_tcp_reasm_free(r);
			ev_free(&l);
			break;
		}
		CHECK_EQ(err, SP_E_CALLBACK, "callback %d", n);
		CHECK_EQ(l.ncalls, n, "callback %d", n);
		CHECK_EQ(sp_tcp_reasm_finish(r), SP_E_CALLBACK);
		CHECK_EQ(l.ncalls, n);
		sp_tcp_reasm_free(r);
		ev_free(&l);
	}
	CHECK(n > 100, "sweep ended after %d", n);
}

int
main(void)
{
	for (size_t i = 0; i < MSG_LEN; i++)
		msg[i] = (uint8_t)("0123456789abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ.,\r\n"[(i * 7 + i / 13) % 66]);
	test_every_cut();
	test_every_two_cuts();
	test_one_byte_segments();
	test_random_permutations();
	test_failmalloc();
	test_callback_sweep();
	return (check_done("test_tcp_split"));
}
