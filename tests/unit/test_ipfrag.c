/*
 * IPv4 fragment reassembly: orders, overlaps, duplicates, timeouts,
 * both caps, bad fragments, and a failmalloc sweep.
 */
#include "internal.h"

#include "check.h"
#include "failalloc.h"
#include "frames.h"

#define SEC	SP_TS_PER_SEC

static struct frame	segment;	/* the TCP segment to fragment */

static void
make_segment(void)
{
	uint8_t	data[100];

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)('a' + i % 26);
	memset(&segment, 0, sizeof(segment));
	fr_tcp(&segment, TEST_SEQ, data, sizeof(data), 0);	/* 120 bytes */
}

/*
 * Fragment [off, off + len) of the segment (or of other, when set) as
 * its own IPv4 packet, and describe it the way decode.c does.
 */
static void
make_frag(struct frame *ip, struct sp_frag_info *fi, size_t off, size_t len,
    int mf, unsigned id, const uint8_t *other)
{
	struct frame		l4 = { .n = 0 };
	struct sp_packet	pkt;
	enum sp_anomaly		a;
	enum sp_decode_result	r;

	fr_bytes(&l4, (other != NULL ? other : segment.b) + off, len);
	memset(ip, 0, sizeof(*ip));
	fr_ipv4(ip, &l4, 0, (mf ? 0x2000u : 0) | (unsigned)(off / 8), 6, id);
	r = sp_packet_decode_ip(ip->b, ip->n, ip->n, 0, &pkt, fi, &a);
	if (r != SP_DECODE_FRAGMENT)
		abort();
}

struct step {
	size_t	off, len;
	int	mf;
};

/* Feed steps; return the completed datagram's length (0: none). */
static size_t
feed(sp_ipfrag *f, const struct step *s, size_t n, unsigned id, sp_ts ts,
    int *anom_seen, const uint8_t **out)
{
	struct frame		ip;
	struct sp_frag_info	fi;
	const uint8_t		*dg = NULL;
	size_t			 dlen = 0;
	int			 anom;

	*anom_seen = -1;
	for (size_t i = 0; i < n; i++) {
		make_frag(&ip, &fi, s[i].off, s[i].len, s[i].mf, id, NULL);
		CHECK_EQ(sp_ipfrag_add(f, &fi, ts, &dg, &dlen, &anom),
		    SP_E_OK);
		if (anom >= 0)
			*anom_seen = anom;
		CHECK(dg == NULL || i == n - 1, "completed early at %zu", i);
	}
	*out = dg;
	return (dg != NULL ? dlen : 0);
}

/* The rebuilt datagram must decode to the original segment. */
static void
check_datagram(const char *what, const uint8_t *dg, size_t len)
{
	struct sp_packet	pkt;
	struct sp_frag_info	fi;
	enum sp_anomaly		a;
	uint32_t		sum = 0;

	CHECK_EQ(len, 20 + segment.n, "%s", what);
	if (len != 20 + segment.n)
		return;
	CHECK_EQ(sp_packet_decode_ip(dg, len, len, 0, &pkt, &fi, &a),
	    SP_DECODE_TCP, "%s", what);
	CHECK_EQ(pkt.payload_len, 100u, "%s", what);
	CHECK(memcmp(dg + 20, segment.b, segment.n) == 0, "%s", what);
	CHECK_EQ(sp__be16(dg + 6), 0, "%s: fragment fields", what);
	for (size_t i = 0; i < 20; i += 2)
		sum += sp__be16(dg + i);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	CHECK_EQ(sum, 0xffffu, "%s: header checksum", what);
}

static sp_ipfrag *
new_frag(const struct sp_limits *lim)
{
	sp_ipfrag	*f;

	if (sp_ipfrag_new(&f, lim) != SP_E_OK)
		abort();
	return (f);
}

static void
run_order(const char *what, const struct step *s, size_t n, int want_anom)
{
	struct sp_limits	lim;
	struct sp_ipfrag_stats	st;
	sp_ipfrag		*f;
	const uint8_t		*dg;
	size_t			 len;
	int			 anom;

	sp_limits_default(&lim);
	f = new_frag(&lim);
	len = feed(f, s, n, 77, 0, &anom, &dg);
	check_datagram(what, dg, len);
	CHECK_EQ(anom, want_anom, "%s", what);
	sp_ipfrag_get_stats(f, &st);
	CHECK_EQ(st.fragments, n, "%s", what);
	CHECK_EQ(st.reassembled, 1u, "%s", what);
	CHECK_EQ(st.dropped, 0u, "%s", what);
	CHECK_EQ(st.bytes_held, 0u, "%s", what);
	sp_ipfrag_free(f);
}

static void
test_orders(void)
{
	static const struct step in_order[] = {
		{ 0, 48, 1 }, { 48, 48, 1 }, { 96, 24, 0 } };
	static const struct step reversed[] = {
		{ 96, 24, 0 }, { 48, 48, 1 }, { 0, 48, 1 } };
	static const struct step overlap_same[] = {
		{ 0, 56, 1 }, { 96, 24, 0 }, { 40, 64, 1 } };
	static const struct step duplicate[] = {
		{ 0, 48, 1 }, { 0, 48, 1 }, { 96, 24, 0 }, { 96, 24, 0 },
		{ 48, 48, 1 } };

	run_order("in order", in_order, 3, -1);
	run_order("reversed", reversed, 3, -1);
	run_order("overlap, same data", overlap_same, 3, -1);
	run_order("duplicates", duplicate, 5, -1);
}

/* A later fragment rewrites bytes 48..55: the first data must win. */
static void
test_overlap_different(void)
{
	struct sp_limits	 lim;
	struct frame		 ip, evil = segment;
	struct sp_frag_info	 fi;
	sp_ipfrag		*f;
	const uint8_t		*dg;
	size_t			 len;
	int			 anom;
	static const struct step first[] = { { 0, 56, 1 } };

	sp_limits_default(&lim);
	f = new_frag(&lim);
	feed(f, first, 1, 5, 0, &anom, &dg);
	memset(evil.b + 48, 'X', 8);
	make_frag(&ip, &fi, 48, 72, 0, 5, evil.b);
	CHECK_EQ(sp_ipfrag_add(f, &fi, 0, &dg, &len, &anom), SP_E_OK);
	CHECK_EQ(anom, SP_ANOM_IP_FRAG_OVERLAP);
	check_datagram("overlap, different data", dg, dg != NULL ? len : 0);

	/* A second last fragment with another end conflicts. */
	feed(f, first, 1, 6, 0, &anom, &dg);
	make_frag(&ip, &fi, 96, 24, 0, 6, NULL);
	CHECK_EQ(sp_ipfrag_add(f, &fi, 0, &dg, &len, &anom), SP_E_OK);
	make_frag(&ip, &fi, 96, 16, 0, 6, NULL);
	CHECK_EQ(sp_ipfrag_add(f, &fi, 0, &dg, &len, &anom), SP_E_OK);
	CHECK_EQ(anom, SP_ANOM_IP_FRAG_OVERLAP);
	sp_ipfrag_free(f);
}

static void
test_timeout(void)
{
	struct sp_limits	 lim;
	struct sp_ipfrag_stats	 st;
	sp_ipfrag		*f;
	const uint8_t		*dg;
	int			 anom;
	static const struct step a[] = { { 0, 48, 1 } };
	static const struct step rest[] = { { 48, 48, 1 }, { 96, 24, 0 } };

	sp_limits_default(&lim);
	f = new_frag(&lim);
	feed(f, a, 1, 1, 10 * SEC, &anom, &dg);
	feed(f, a, 1, 2, 30 * SEC, &anom, &dg);
	CHECK_EQ(anom, -1);
	/* 30 s after datagram 1 started it expires; 2 still lives. */
	feed(f, rest, 2, 2, 40 * SEC, &anom, &dg);
	CHECK(dg != NULL);
	sp_ipfrag_get_stats(f, &st);
	CHECK_EQ(st.dropped, 1u);
	CHECK_EQ(st.reassembled, 1u);
	CHECK_EQ(st.bytes_held, 0u);
	/* Its late fragments start over, and expire in turn. */
	feed(f, rest, 1, 1, 41 * SEC, &anom, &dg);
	CHECK_EQ(anom, -1);
	feed(f, a, 1, 9, 71 * SEC, &anom, &dg);
	CHECK_EQ(anom, SP_ANOM_IP_FRAG_TIMEOUT);
	sp_ipfrag_free(f);
}

static void
test_byte_cap(void)
{
	struct sp_limits	 lim;
	struct sp_ipfrag_stats	 st;
	sp_ipfrag		*f;
	const uint8_t		*dg;
	int			 anom;
	static const struct step s1[] = { { 0, 48, 1 } };
	static const struct step s2[] = { { 48, 48, 1 } };
	static const struct step s3[] = { { 96, 24, 0 } };

	sp_limits_default(&lim);
	lim.ip_frag_bytes = 150;	/* 60 bytes of headroom + payload */
	f = new_frag(&lim);
	feed(f, s1, 1, 1, 0, &anom, &dg);
	CHECK_EQ(anom, -1);
	feed(f, s2, 1, 1, 0, &anom, &dg);
	CHECK_EQ(anom, SP_ANOM_IP_FRAG_LIMIT);
	sp_ipfrag_get_stats(f, &st);
	CHECK_EQ(st.dropped, 1u);
	CHECK_EQ(st.bytes_held, 0u);
	/* The rest of the dropped datagram is absorbed quietly. */
	feed(f, s3, 1, 1, 0, &anom, &dg);
	CHECK_EQ(anom, -1);
	CHECK(dg == NULL);
	sp_ipfrag_get_stats(f, &st);
	CHECK_EQ(st.dropped, 1u);
	CHECK(st.bytes_held <= lim.ip_frag_bytes);
	sp_ipfrag_free(f);
}

static void
test_datagram_cap(void)
{
	struct sp_limits	 lim;
	struct sp_ipfrag_stats	 st;
	sp_ipfrag		*f;
	const uint8_t		*dg;
	size_t			 len;
	int			 anom;
	static const struct step head[] = { { 0, 48, 1 } };
	static const struct step rest[] = { { 48, 48, 1 }, { 96, 24, 0 } };

	sp_limits_default(&lim);
	lim.ip_frag_datagrams = 2;
	f = new_frag(&lim);
	feed(f, head, 1, 1, 0, &anom, &dg);
	feed(f, head, 1, 2, 0, &anom, &dg);
	CHECK_EQ(anom, -1);
	feed(f, head, 1, 3, 0, &anom, &dg);
	CHECK_EQ(anom, SP_ANOM_IP_FRAG_LIMIT);
	len = feed(f, rest, 2, 1, 0, &anom, &dg);
	check_datagram("under the datagram cap", dg, len);
	sp_ipfrag_get_stats(f, &st);
	CHECK_EQ(st.dropped, 1u);
	sp_ipfrag_free(f);
}

static void
test_bad_fragments(void)
{
	struct sp_limits	 lim;
	struct frame		 ip, l4 = { .n = 0 };
	struct sp_frag_info	 fi;
	sp_ipfrag		*f;
	const uint8_t		*dg;
	size_t			 len;
	int			 anom;
	static const struct step odd[] = { { 0, 44, 1 } };

	sp_limits_default(&lim);
	f = new_frag(&lim);
	/* Not the last, yet not a multiple of 8 bytes (RFC 791 3.2). */
	feed(f, odd, 1, 1, 0, &anom, &dg);
	CHECK_EQ(anom, SP_ANOM_PKT_BAD_IP_HEADER);
	/* Past 65535 bytes in all: the "ping of death". */
	fr_zero(&l4, 100);
	memset(&ip, 0, sizeof(ip));
	fr_ipv4(&ip, &l4, 0, 8180, 6, 2);
	memset(&fi, 0, sizeof(fi));
	fi.ip = ip.b;
	fi.ip_len = ip.n;
	fi.id = 2;
	fi.proto = 6;
	CHECK_EQ(sp_ipfrag_add(f, &fi, 0, &dg, &len, &anom), SP_E_OK);
	CHECK_EQ(anom, SP_ANOM_PKT_BAD_IP_HEADER);
	/* Garbage in the info. */
	fi.ip_len = 10;
	CHECK_EQ(sp_ipfrag_add(f, &fi, 0, &dg, &len, &anom), SP_E_OK);
	CHECK_EQ(anom, SP_ANOM_PKT_BAD_IP_HEADER);
	sp_ipfrag_free(f);
	sp_ipfrag_free(NULL);
}

/* Same id, different VLAN: different datagrams (RFC 791 keys + VLAN). */
static void
test_vlan_key(void)
{
	struct sp_limits	 lim;
	struct frame		 ip;
	struct sp_frag_info	 fi;
	sp_ipfrag		*f;
	const uint8_t		*dg;
	size_t			 len;
	int			 anom;

	sp_limits_default(&lim);
	f = new_frag(&lim);
	make_frag(&ip, &fi, 0, 48, 1, 3, NULL);
	fi.nvlan = 1;
	fi.vlan[0] = 10;
	CHECK_EQ(sp_ipfrag_add(f, &fi, 0, &dg, &len, &anom), SP_E_OK);
	make_frag(&ip, &fi, 48, 72, 0, 3, NULL);
	CHECK_EQ(sp_ipfrag_add(f, &fi, 0, &dg, &len, &anom), SP_E_OK);
	CHECK(dg == NULL, "VLAN 10 and no VLAN must not mix");
	sp_ipfrag_free(f);
}

/*
 * Returns 1 when the whole run succeeded with n allocations failing
 * nothing: allocation n + 1 and every one after it fail (a heap that
 * stays exhausted).
 */
static int
failmalloc_run(long n)
{
	struct failalloc	 fa;
	struct sp_limits	 lim;
	struct frame		 ip;
	struct sp_frag_info	 fi;
	sp_ipfrag		*f;
	const uint8_t		*dg = NULL;
	size_t			 len;
	int			 anom, ok = 1;
	static const struct step s[] = {
		{ 96, 24, 0 }, { 0, 48, 1 }, { 48, 48, 1 } };

	failalloc_init(&fa, n + 1, true);
	sp_limits_default(&lim);
	lim.alloc = &fa.al;
	if (sp_ipfrag_new(&f, &lim) != SP_E_OK) {
		CHECK(f == NULL);
		CHECK_EQ(fa.live, 0);
		return (0);
	}
	for (size_t i = 0; i < SP_NELEM(s); i++) {
		make_frag(&ip, &fi, s[i].off, s[i].len, s[i].mf, 1, NULL);
		if (sp_ipfrag_add(f, &fi, 0, &dg, &len, &anom) != SP_E_OK)
			ok = 0;
	}
	if (ok)
		check_datagram("failmalloc", dg, dg != NULL ? len : 0);
	sp_ipfrag_free(f);
	CHECK_EQ(fa.live, 0, "leak after %ld allocations", n);
	return (ok);
}

static void
test_failmalloc(void)
{
	long	n;

	for (n = 0; n < 100; n++)
		if (failmalloc_run(n))
			break;
	CHECK(n > 2 && n < 100, "succeeded after %ld allocations", n);
}

int
main(void)
{
	make_segment();
	test_orders();
	test_overlap_different();
	test_timeout();
	test_byte_cap();
	test_datagram_cap();
	test_bad_fragments();
	test_vlan_key();
	test_failmalloc();
	return (check_done("test_ipfrag"));
}
