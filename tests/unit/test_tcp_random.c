/*
 * TCP reassembly under seeded random abuse: a few flows, every flag
 * combination, sequence and acknowledgment numbers scattered around
 * (and across) the wrap, snap-length cuts, clocks that step back, and
 * tiny limits so every cap, timeout, eviction and tombstone path runs.
 * Whatever comes in, the promises of tcp.h must hold: offsets covered
 * exactly once and in order, one on_flow_end per flow and nothing
 * after it, nothing buffered or open after finish(), and no error.
 * Sanitizer builds (SP_ASAN, SP_UBSAN) make this a memory test too.
 *
 * Bytes are a function of their sequence number, as on a real
 * connection, so no two copies of a byte ever differ: then no
 * overlap conflict may be reported either.
 */
#include "tcp_harness.h"

static uint32_t
rnd(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return (*s >> 8);
}

static const char *const flag_sets[] = {
	"S", "SA", "A", "PA", "PA", "PA", "PA", "FA", "R", "RA", "", "FPA"
};

/* Payload for sequence numbers seq.. of one side of one connection. */
static void
fill(uint8_t *p, size_t n, uint32_t seq, uint32_t salt)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)((seq + (uint32_t)i) * 31u + salt);
}

static void
one_run(uint32_t seed)
{
	struct evlog		 l;
	struct sp_limits	 lim;
	sp_tcp_reasm		*r;
	struct tends		 ends[3];
	uint32_t		 base[3][2];
	uint8_t			 buf[80];
	struct sp_tcp_stats	 st;
	struct sp_packet	 pkt;
	sp_ts			 ts = SP_TS_PER_SEC;
	int			 t, d;
	uint32_t		 seq;
	size_t			 n;
	const char		*flags;

	sp_limits_default(&lim);
	lim.tcp_flows = 1 + rnd(&seed) % 3;
	lim.tcp_flow_buffer = rnd(&seed) % 128;
	lim.tcp_total_buffer = rnd(&seed) % 200;
	lim.tcp_retain = rnd(&seed) % 24;
	lim.tcp_idle_timeout = MS(50);
	lim.tcp_closed_linger = MS(20);
	lim.tcp_gap_ack_packets = rnd(&seed) % 5;
	r = tnew(&l, &lim);
	l.log_data = 0;
	for (t = 0; t < 3; t++) {
		ends[t] = tends_v4((uint8_t)(1 + t), (uint16_t)(40000 + t),
		    9, t == 2 ? 4000 : 25);
		for (d = 0; d < 2; d++)
			base[t][d] = t == 0 ? 0xffffff00u + rnd(&seed) % 256 :
			    rnd(&seed) << 8;
	}
	for (int i = 0; i < 400; i++) {
		t = (int)(rnd(&seed) % 3);
		d = (int)(rnd(&seed) % 2);
		seq = base[t][d] + rnd(&seed) % 600 - 100;
		n = rnd(&seed) % 4 == 0 ? 0 : rnd(&seed) % 60;
		flags = flag_sets[rnd(&seed) % SP_NELEM(flag_sets)];
		/* A SYN's payload starts after the SYN's own number. */
		fill(buf, n, seq + (strchr(flags, 'S') != NULL),
		    (uint32_t)(t * 2 + d));
		ts += MS(rnd(&seed) % 12);
		if (rnd(&seed) % 16 == 0)
			ts -= MS(3);		/* capture clocks step back */
		pkt = tseg_n(&ends[t], d, flags, seq,
		    base[t][!d] + rnd(&seed) % 600 - 50, buf, n, ts);
		if (rnd(&seed) % 8 == 0)
			pkt.payload_wire_len += rnd(&seed) % 20;
		CHECK_EQ(sp_tcp_reasm_packet(r, &pkt), SP_E_OK, "seed %u",
		    seed);
		if (rnd(&seed) % 50 == 0)
			CHECK_EQ(sp_tcp_reasm_advance(r, ts + MS(40)), SP_E_OK);
	}
	CHECK_EQ(sp_tcp_reasm_finish(r), SP_E_OK);
	sp_tcp_reasm_get_stats(r, &st);
	CHECK_EQ(l.violations, 0, "seed %u", seed);
	CHECK_EQ(st.flows_open, 0u);
	CHECK_EQ(st.buffered, 0u);
	CHECK(st.buffered_peak <= lim.tcp_total_buffer, "peak %zu",
	    st.buffered_peak);
	CHECK_EQ(st.anomalies[SP_ANOM_TCP_OVERLAP_CONFLICT], 0u, "seed %u",
	    seed);
	CHECK(st.flows < EV_MAX_FLOWS, "%llu flows",
	    (unsigned long long)st.flows);
	for (uint64_t id = 1; id <= st.flows && id < EV_MAX_FLOWS; id++)
		CHECK(l.ended[id], "seed %u: flow %llu never ended", seed,
		    (unsigned long long)id);
	sp_tcp_reasm_free(r);
	ev_free(&l);
}

int
main(void)
{
	for (uint32_t seed = 1; seed <= 300; seed++) {
		int before = check_failed;

		one_run(seed * 2654435761u);
		if (check_failed != before)
			break;		/* one seed's failures are enough */
	}
	return (check_done("test_tcp_random"));
}
