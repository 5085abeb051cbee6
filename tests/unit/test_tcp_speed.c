/*
 * TCP reassembly on its fast path: in-order segments with the peer's
 * ACKs in between, as a bulk SMTP DATA transfer looks.  Prints the
 * throughput (no pass/fail on speed: the machine is shared) and checks
 * that offsets run past 2^32 with the sequence numbers wrapping.
 */
#include <time.h>

#include "internal.h"

#include "check.h"

struct sink {
	uint64_t	next[2];
	uint64_t	bytes;
	int		bad;
	int		ends;
};

static int
on_data(void *ud, struct sp_tcp_flow *f, enum sp_dir d, uint64_t off,
    const uint8_t *p, size_t n, sp_ts ts)
{
	struct sink	*s = ud;

	(void)f;
	(void)p;
	(void)ts;
	if (off != s->next[d])
		s->bad++;
	s->next[d] = off + n;
	s->bytes += n;
	return (0);
}

static int
on_gap(void *ud, struct sp_tcp_flow *f, enum sp_dir d, uint64_t off,
    uint64_t n, sp_ts ts)
{
	struct sink	*s = ud;

	(void)f;
	(void)d;
	(void)off;
	(void)n;
	(void)ts;
	s->bad++;
	return (0);
}

static int
on_end(void *ud, struct sp_tcp_flow *f, enum sp_flow_end why)
{
	struct sink	*s = ud;

	(void)f;
	(void)why;
	s->ends++;
	return (0);
}

static double
now_sec(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

/*
 * Send total bytes from client to server in segments of seg bytes,
 * the server acking every second one, starting at client ISN isn.
 * Returns the seconds spent in the reassembler.
 */
static double
transfer(struct sink *s, uint64_t total, size_t seg, uint32_t isn)
{
	static const struct sp_tcp_callbacks cb = {
		NULL, on_data, on_gap, NULL, on_end
	};
	static uint8_t		 buf[65536];
	struct sp_limits	 lim;
	sp_tcp_reasm		*r;
	struct sp_packet	 d, a;
	uint64_t		 off, i;
	double			 t0;

	memset(buf, 'x', sizeof(buf));
	memset(s, 0, sizeof(*s));
	sp_limits_default(&lim);
	CHECK_EQ(sp_tcp_reasm_new(&r, &lim, &cb, s), SP_E_OK);
	memset(&d, 0, sizeof(d));
	d.src.family = d.dst.family = 4;
	d.src.a[3] = 1;
	d.dst.a[3] = 2;
	d.sport = 40000;
	d.dport = 25;
	d.flags = SP_TCP_SYN;
	d.seq = isn;
	CHECK_EQ(sp_tcp_reasm_packet(r, &d), SP_E_OK);
	a = d;
	a.src = d.dst;
	a.dst = d.src;
	a.sport = 25;
	a.dport = 40000;
	a.flags = SP_TCP_ACK;
	d.flags = SP_TCP_ACK | SP_TCP_PSH;
	d.payload = buf;
	t0 = now_sec();
	for (off = 0, i = 0; off < total; off += seg, i++) {
		d.seq = isn + 1 + (uint32_t)off;
		d.payload_len = d.payload_wire_len =
		    (size_t)SP_MIN((uint64_t)seg, total - off);
		d.ts += 1000;
		if (sp_tcp_reasm_packet(r, &d) != SP_E_OK)
			break;
		if (i % 2 == 0)
			continue;
		a.ack = isn + 1 + (uint32_t)SP_MIN(off + seg, total);
		a.ts = d.ts + 1;
		if (sp_tcp_reasm_packet(r, &a) != SP_E_OK)
			break;
	}
	CHECK_EQ(sp_tcp_reasm_finish(r), SP_E_OK);
	t0 = now_sec() - t0;
	sp_tcp_reasm_free(r);
	return (t0);
}

int
main(void)
{
	struct sink	s;
	double		t;
	uint64_t	total = (uint64_t)512 << 20;
	uint64_t	big = ((uint64_t)1 << 32) + ((uint64_t)3 << 20);

	t = transfer(&s, total, 1448, 0xfffff000u);
	CHECK_EQ(s.bytes, total);
	CHECK_EQ(s.bad, 0);
	CHECK_EQ(s.ends, 1);
	printf("in-order 1448-byte segments with ACKs: %.0f MB/s "
	    "(%.3f s for %llu MiB)\n", (double)total / t / 1e6, t,
	    (unsigned long long)(total >> 20));

	/* Past 4 GiB: the sequence space wraps, offsets must not. */
	t = transfer(&s, big, 65000, 0x7fffffffu);
	CHECK_EQ(s.bytes, big);
	CHECK_EQ(s.next[SP_DIR_CLIENT], big);
	CHECK_EQ(s.bad, 0);
	printf("in-order 65000-byte segments: %.0f MB/s (%.3f s for "
	    "%llu MiB)\n", (double)big / t / 1e6, t,
	    (unsigned long long)(big >> 20));
	return (check_done("test_tcp_speed"));
}
