/*
 * Link, IP and TCP decoding over hand-built frames: every link type,
 * VLAN stacks, IP options and IPv6 extension headers, padding, snap
 * length cuts, malformed lengths, and every truncation point of valid
 * frames with the frame's last byte right before a PROT_NONE page
 * (picohttpparser's trick), so any over-read faults.
 */
#include <arpa/inet.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

#include "check.h"
#include "frames.h"

static const char	payload[] = "EHLO client.example\r\n";
#define PLEN	(sizeof(payload) - 1)

/* Two pages, the second inaccessible. */
static uint8_t	*guard_base;
static size_t	 page;

static void
guard_init(void)
{
	page = (size_t)sysconf(_SC_PAGESIZE);
	guard_base = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (guard_base == MAP_FAILED ||
	    mprotect(guard_base + page, page, PROT_NONE) != 0) {
		perror("mmap");
		exit(1);
	}
}

/* Copy n bytes so that the last one is the last readable byte. */
static const uint8_t *
guarded(const uint8_t *p, size_t n)
{
	uint8_t	*dst = guard_base + page - n;

	if (n > page)
		abort();
	memcpy(dst, p, n);
	return (dst);
}

static enum sp_decode_result
decode(int lt, const uint8_t *p, size_t caplen, size_t wirelen,
    struct sp_packet *pkt, struct sp_frag_info *fi, enum sp_anomaly *a)
{
	*a = (enum sp_anomaly)-1;
	return (sp_packet_decode(lt, guarded(p, caplen), caplen, wirelen,
	    42, pkt, fi, a));
}

static void
tcp_segment(struct frame *t, int opts)
{
	memset(t, 0, sizeof(*t));
	fr_tcp(t, TEST_SEQ, payload, PLEN, opts);
}

static void
ipv4_packet(struct frame *ip, int ipopts, int tcpopts)
{
	struct frame	t;

	tcp_segment(&t, tcpopts);
	memset(ip, 0, sizeof(*ip));
	fr_ipv4(ip, &t, ipopts, 0x4000, 6, 7);
}

static void
ipv6_packet(struct frame *ip, int exts)
{
	struct frame	t;

	tcp_segment(&t, 1);
	memset(ip, 0, sizeof(*ip));
	fr_ipv6(ip, &t, exts);
}

/* The frame must decode to the test segment. */
static void
check_tcp(const char *what, int lt, const struct frame *f, int v6)
{
	struct sp_packet	pkt;
	struct sp_frag_info	fi;
	enum sp_anomaly		a;
	enum sp_decode_result	r;
	char			buf[64];

	r = decode(lt, f->b, f->n, f->n, &pkt, &fi, &a);
	CHECK_EQ(r, SP_DECODE_TCP, "%s: result %d anomaly %d", what, r, a);
	if (r != SP_DECODE_TCP)
		return;
	CHECK_EQ(pkt.sport, TEST_SPORT, "%s", what);
	CHECK_EQ(pkt.dport, TEST_DPORT, "%s", what);
	CHECK_EQ(pkt.seq, TEST_SEQ, "%s", what);
	CHECK_EQ(pkt.ack, TEST_ACK, "%s", what);
	CHECK_EQ(pkt.flags, SP_TCP_PSH | SP_TCP_ACK, "%s", what);
	CHECK_EQ(pkt.window, 512, "%s", what);
	CHECK_EQ(pkt.ts, 42u, "%s", what);
	CHECK_EQ(pkt.payload_len, PLEN, "%s", what);
	CHECK_EQ(pkt.payload_wire_len, PLEN, "%s", what);
	CHECK(pkt.payload_len == PLEN &&
	    memcmp(pkt.payload, payload, PLEN) == 0, "%s", what);
	CHECK_STREQ(sp_addr_format(&pkt.src, buf, sizeof(buf)),
	    v6 ? "2001:db8::1" : "192.0.2.1", "%s", what);
	CHECK_STREQ(sp_addr_format(&pkt.dst, buf, sizeof(buf)),
	    v6 ? "2001:db8::2" : "198.51.100.2", "%s", what);
}

static void
test_link_types(void)
{
	struct frame	ip4, ip6, f;
	static const uint32_t v6fams[] = { 24, 28, 30 };

	ipv4_packet(&ip4, 0, 0);
	ipv6_packet(&ip6, 0);
	memset(&f, 0, sizeof(f));
	fr_eth(&f, NULL, 0, 0x0800, &ip4, 0);
	check_tcp("ethernet v4", SP_LINK_ETHERNET, &f, 0);
	memset(&f, 0, sizeof(f));
	fr_eth(&f, NULL, 0, 0x86dd, &ip6, 0);
	check_tcp("ethernet v6", SP_LINK_ETHERNET, &f, 1);
	memset(&f, 0, sizeof(f));
	fr_sll(&f, 0x0800, &ip4);
	check_tcp("sll", SP_LINK_LINUX_SLL, &f, 0);
	memset(&f, 0, sizeof(f));
	fr_sll2(&f, 0x86dd, &ip6);
	check_tcp("sll2", SP_LINK_LINUX_SLL2, &f, 1);
	for (int big = 0; big <= 1; big++) {
		memset(&f, 0, sizeof(f));
		fr_null(&f, 2, big, &ip4);
		check_tcp("null v4", SP_LINK_NULL, &f, 0);
		check_tcp("loop v4", SP_LINK_LOOP, &f, 0);
		for (size_t i = 0; i < SP_NELEM(v6fams); i++) {
			memset(&f, 0, sizeof(f));
			fr_null(&f, v6fams[i], big, &ip6);
			check_tcp("null v6", SP_LINK_NULL, &f, 1);
		}
	}
	check_tcp("raw v4", SP_LINK_RAW, &ip4, 0);
	check_tcp("raw v6", SP_LINK_RAW, &ip6, 1);
	check_tcp("raw alias 12", 12, &ip4, 0);
	check_tcp("raw alias 14", 14, &ip6, 1);
	check_tcp("ipv4", SP_LINK_IPV4, &ip4, 0);
	check_tcp("ipv6", SP_LINK_IPV6, &ip6, 1);
	CHECK(sp_linktype_supported(SP_LINK_LINUX_SLL2));
	CHECK(sp_linktype_supported(SP_LINK_NULL));
	CHECK(!sp_linktype_supported(105));
	CHECK(!sp_linktype_supported(-1));
}

static void
check_vlans(const char *what, const unsigned *tags, size_t ntags,
    uint8_t want_n, uint16_t v0, uint16_t v1)
{
	struct frame		ip, f;
	struct sp_packet	pkt;
	struct sp_frag_info	fi;
	enum sp_anomaly		a;

	ipv4_packet(&ip, 0, 1);
	memset(&f, 0, sizeof(f));
	fr_eth(&f, tags, ntags, 0x0800, &ip, 0);
	CHECK_EQ(decode(SP_LINK_ETHERNET, f.b, f.n, f.n, &pkt, &fi, &a),
	    SP_DECODE_TCP, "%s", what);
	CHECK_EQ(pkt.nvlan, want_n, "%s", what);
	CHECK_EQ(pkt.vlan[0], v0, "%s", what);
	CHECK_EQ(pkt.vlan[1], v1, "%s", what);
	CHECK_EQ(pkt.payload_len, PLEN, "%s", what);
}

static void
test_vlans(void)
{
	static const unsigned	one[] = { 0x8100, 0x2064 };	/* PCP 1, 100 */
	static const unsigned	qinq[] = { 0x88a8, 200, 0x8100, 300 };
	static const unsigned	three[] = { 0x9100, 10, 0x88a8, 20,
	    0x8100, 30 };
	struct frame		ip, f, empty = { .n = 0 };

	check_vlans("802.1Q", one, 1, 1, 100, 0);
	check_vlans("QinQ", qinq, 2, 2, 200, 300);
	check_vlans("three tags", three, 3, 2, 10, 20);

	/* An 802.1Q tag inside a cooked capture. */
	ipv4_packet(&ip, 0, 0);
	memset(&f, 0, sizeof(f));
	fr_sll(&f, 0x8100, &empty);
	fr_u16(&f, 7);
	fr_u16(&f, 0x0800);
	fr_bytes(&f, ip.b, ip.n);
	check_tcp("sll vlan", SP_LINK_LINUX_SLL, &f, 0);
}

static void
test_options_and_padding(void)
{
	struct frame		ip, f;
	struct sp_packet	pkt;
	struct sp_frag_info	fi;
	enum sp_anomaly		a;

	ipv4_packet(&ip, 1, 1);
	check_tcp("ipv4+tcp options", SP_LINK_RAW, &ip, 0);
	ipv6_packet(&ip, 1);
	check_tcp("ipv6 ext headers", SP_LINK_RAW, &ip, 1);

	/* Ethernet pads to 60 bytes: the padding is not payload. */
	memset(&f, 0, sizeof(f));
	fr_tcp(&f, TEST_SEQ, "", 0, 0);
	memcpy(&ip, &f, sizeof(f));
	memset(&f, 0, sizeof(f));
	{
		struct frame	v4 = { .n = 0 };

		fr_ipv4(&v4, &ip, 0, 0, 6, 1);
		fr_eth(&f, NULL, 0, 0x0800, &v4, 60);
	}
	CHECK_EQ(f.n, 60u);
	CHECK_EQ(decode(SP_LINK_ETHERNET, f.b, f.n, f.n, &pkt, &fi, &a),
	    SP_DECODE_TCP);
	CHECK_EQ(pkt.payload_len, 0u);
	CHECK_EQ(pkt.payload_wire_len, 0u);
}

/* Cut by the snap length inside the payload: TCP, short payload. */
static void
test_snaplen_payload(void)
{
	struct frame		ip, f;
	struct sp_packet	pkt;
	struct sp_frag_info	fi;
	enum sp_anomaly		a;
	size_t			hdrs = 14 + 20 + 36;

	ipv4_packet(&ip, 0, 1);
	memset(&f, 0, sizeof(f));
	fr_eth(&f, NULL, 0, 0x0800, &ip, 0);
	CHECK_EQ(decode(SP_LINK_ETHERNET, f.b, hdrs + 5, f.n, &pkt, &fi, &a),
	    SP_DECODE_TCP);
	CHECK_EQ(pkt.payload_len, 5u);
	CHECK_EQ(pkt.payload_wire_len, PLEN);
	CHECK(memcmp(pkt.payload, "EHLO ", 5) == 0);
}

/*
 * Cut f at every length.  With wirelen == caplen the frame is short on
 * the wire: anything but the whole frame (or the frame minus padding
 * only) is PKT_TRUNCATED.  With wirelen == full, the snap length cut
 * it: headers cut are PKT_SNAPLEN_CUT, a payload cut is still TCP.
 */
static void
sweep(const char *what, int lt, const struct frame *f, size_t hdrs,
    size_t ip_end)
{
	struct sp_packet	pkt;
	struct sp_frag_info	fi;
	enum sp_anomaly		a;
	enum sp_decode_result	r;

	for (size_t cut = 0; cut <= f->n; cut++) {
		r = decode(lt, f->b, cut, cut, &pkt, &fi, &a);
		if (cut >= ip_end)
			CHECK_EQ(r, SP_DECODE_TCP, "%s short cut %zu", what,
			    cut);
		else
			CHECK(r == SP_DECODE_MALFORMED &&
			    a == SP_ANOM_PKT_TRUNCATED,
			    "%s short cut %zu: r %d a %d", what, cut, r, a);
		r = decode(lt, f->b, cut, f->n, &pkt, &fi, &a);
		if (cut < hdrs) {
			CHECK(r == SP_DECODE_MALFORMED &&
			    a == SP_ANOM_PKT_SNAPLEN_CUT,
			    "%s snap cut %zu: r %d a %d", what, cut, r, a);
			continue;
		}
		CHECK_EQ(r, SP_DECODE_TCP, "%s snap cut %zu", what, cut);
		CHECK_EQ(pkt.payload_len, SP_MIN(cut, ip_end) - hdrs,
		    "%s snap cut %zu", what, cut);
		CHECK_EQ(pkt.payload_wire_len, PLEN, "%s", what);
	}
}

static void
test_truncation_sweeps(void)
{
	static const unsigned	qinq[] = { 0x88a8, 200, 0x8100, 300 };
	struct frame		ip4, ip6, f;

	ipv4_packet(&ip4, 1, 1);
	ipv6_packet(&ip6, 1);
	memset(&f, 0, sizeof(f));
	fr_eth(&f, qinq, 2, 0x0800, &ip4, 0);
	sweep("eth qinq v4", SP_LINK_ETHERNET, &f, 22 + 24 + 36, f.n);
	memset(&f, 0, sizeof(f));
	fr_eth(&f, NULL, 0, 0x86dd, &ip6, 0);
	sweep("eth v6", SP_LINK_ETHERNET, &f, 14 + 40 + 64 + 36, f.n);
	memset(&f, 0, sizeof(f));
	fr_sll(&f, 0x0800, &ip4);
	sweep("sll", SP_LINK_LINUX_SLL, &f, 16 + 24 + 36, f.n);
	memset(&f, 0, sizeof(f));
	fr_sll2(&f, 0x86dd, &ip6);
	sweep("sll2", SP_LINK_LINUX_SLL2, &f, 20 + 40 + 64 + 36, f.n);
	memset(&f, 0, sizeof(f));
	fr_null(&f, 30, 0, &ip6);
	sweep("null", SP_LINK_NULL, &f, 4 + 40 + 64 + 36, f.n);
	sweep("raw", SP_LINK_RAW, &ip4, 24 + 36, ip4.n);

	/* A padded frame: cuts inside the padding still decode. */
	{
		struct frame	t = { .n = 0 }, v4 = { .n = 0 };

		fr_tcp(&t, TEST_SEQ, "ab", 2, 0);
		fr_ipv4(&v4, &t, 0, 0, 6, 1);
		memset(&f, 0, sizeof(f));
		fr_eth(&f, NULL, 0, 0x0800, &v4, 60);
		for (size_t cut = 0; cut <= f.n; cut++) {
			struct sp_packet	pkt;
			struct sp_frag_info	fi;
			enum sp_anomaly		a;
			enum sp_decode_result	r;

			r = decode(SP_LINK_ETHERNET, f.b, cut, cut, &pkt, &fi,
			    &a);
			CHECK_EQ(r, cut >= 14 + v4.n ? SP_DECODE_TCP :
			    SP_DECODE_MALFORMED, "padded cut %zu", cut);
		}
	}
}

/* Set byte off of a copy of f to v and expect a malformed verdict. */
static void
check_bad(const char *what, int lt, const struct frame *f, size_t off,
    unsigned v, enum sp_anomaly want)
{
	struct frame		g = *f;
	struct sp_packet	pkt;
	struct sp_frag_info	fi;
	enum sp_anomaly		a;
	enum sp_decode_result	r;

	g.b[off] = (uint8_t)v;
	r = decode(lt, g.b, g.n, g.n, &pkt, &fi, &a);
	CHECK(r == SP_DECODE_MALFORMED && a == want, "%s: r %d a %d", what,
	    r, a);
}

static void
test_malformed(void)
{
	struct frame	ip4, ip6;

	ipv4_packet(&ip4, 0, 0);	/* IP 0..19, TCP 20..39 */
	ipv6_packet(&ip6, 0);		/* IP 0..39, TCP 40..75 */
	check_bad("ip version 5", SP_LINK_IPV4, &ip4, 0, 0x55,
	    SP_ANOM_PKT_BAD_IP_HEADER);
	check_bad("raw version 7", SP_LINK_RAW, &ip4, 0, 0x75,
	    SP_ANOM_PKT_BAD_IP_HEADER);
	check_bad("ihl 4", SP_LINK_RAW, &ip4, 0, 0x44,
	    SP_ANOM_PKT_BAD_IP_HEADER);
	check_bad("ihl 15", SP_LINK_RAW, &ip4, 0, 0x4f,
	    SP_ANOM_PKT_BAD_TCP_HEADER);	/* IP header eats the TCP one */
	check_bad("total < header", SP_LINK_RAW, &ip4, 3, 19,
	    SP_ANOM_PKT_BAD_IP_HEADER);
	check_bad("total > frame", SP_LINK_RAW, &ip4, 2, 0x10,
	    SP_ANOM_PKT_TRUNCATED);
	check_bad("total leaves 10 TCP bytes", SP_LINK_RAW, &ip4, 3, 30,
	    SP_ANOM_PKT_BAD_TCP_HEADER);
	check_bad("data offset 4", SP_LINK_RAW, &ip4, 32, 0x40,
	    SP_ANOM_PKT_BAD_TCP_HEADER);
	check_bad("data offset 15", SP_LINK_RAW, &ip4, 32, 0xf0,
	    SP_ANOM_PKT_BAD_TCP_HEADER);
	check_bad("v6 version 4", SP_LINK_IPV6, &ip6, 0, 0x40,
	    SP_ANOM_PKT_BAD_IP_HEADER);
	check_bad("v6 payload > frame", SP_LINK_RAW, &ip6, 4, 0x10,
	    SP_ANOM_PKT_TRUNCATED);
}

static void
test_other_and_fragments(void)
{
	struct frame		t, ip, f;
	struct sp_packet	pkt;
	struct sp_frag_info	fi;
	enum sp_anomaly		a;

	tcp_segment(&t, 0);
	memset(&ip, 0, sizeof(ip));
	fr_ipv4(&ip, &t, 0, 0, 17, 1);		/* UDP */
	CHECK_EQ(decode(SP_LINK_RAW, ip.b, ip.n, ip.n, &pkt, &fi, &a),
	    SP_DECODE_OTHER);
	memset(&f, 0, sizeof(f));
	fr_eth(&f, NULL, 0, 0x0806, &ip, 60);	/* ARP */
	CHECK_EQ(decode(SP_LINK_ETHERNET, f.b, f.n, f.n, &pkt, &fi, &a),
	    SP_DECODE_OTHER);
	memset(&f, 0, sizeof(f));
	fr_eth(&f, NULL, 0, 100, &ip, 60);	/* 802.3 length */
	CHECK_EQ(decode(SP_LINK_ETHERNET, f.b, f.n, f.n, &pkt, &fi, &a),
	    SP_DECODE_OTHER);
	memset(&f, 0, sizeof(f));
	fr_null(&f, 7, 0, &ip);			/* unknown family */
	CHECK_EQ(decode(SP_LINK_NULL, f.b, f.n, f.n, &pkt, &fi, &a),
	    SP_DECODE_OTHER);
	CHECK_EQ(decode(105, ip.b, ip.n, ip.n, &pkt, &fi, &a),
	    SP_DECODE_OTHER);

	/* First fragment (MF), then one at offset 8 (64 bytes). */
	memset(&ip, 0, sizeof(ip));
	fr_ipv4(&ip, &t, 1, 0x2000, 6, 0x1234);
	CHECK_EQ(decode(SP_LINK_RAW, ip.b, ip.n, ip.n, &pkt, &fi, &a),
	    SP_DECODE_FRAGMENT);
	CHECK_EQ(fi.id, 0x1234);
	CHECK_EQ(fi.proto, 6);
	CHECK_EQ(fi.ip_len, ip.n);
	CHECK_EQ(fi.src.family, 4);
	memset(&ip, 0, sizeof(ip));
	fr_ipv4(&ip, &t, 0, 8, 6, 0x1234);
	CHECK_EQ(decode(SP_LINK_RAW, ip.b, ip.n, ip.n, &pkt, &fi, &a),
	    SP_DECODE_FRAGMENT);
	/* A fragment the snap length cut cannot be reassembled. */
	CHECK_EQ(decode(SP_LINK_RAW, ip.b, ip.n - 1, ip.n, &pkt, &fi, &a),
	    SP_DECODE_MALFORMED);
	CHECK_EQ(a, SP_ANOM_PKT_SNAPLEN_CUT);
}

/* IPv6 fragment headers: atomic ones decode, real ones are OTHER. */
static void
test_ipv6_fragment(void)
{
	struct frame		t, ip;
	struct sp_packet	pkt;
	struct sp_frag_info	fi;
	enum sp_anomaly		a;

	for (int real = 0; real <= 1; real++) {
		tcp_segment(&t, 0);
		memset(&ip, 0, sizeof(ip));
		fr_u32(&ip, 0x60000000);
		fr_u16(&ip, (unsigned)(8 + t.n));
		fr_u8(&ip, 44);
		fr_u8(&ip, 64);
		fr_zero(&ip, 32);
		fr_u8(&ip, 6);
		fr_u8(&ip, 0);
		fr_u16(&ip, real ? 1 : 0);	/* M flag */
		fr_u32(&ip, 99);
		fr_bytes(&ip, t.b, t.n);
		CHECK_EQ(decode(SP_LINK_RAW, ip.b, ip.n, ip.n, &pkt, &fi, &a),
		    real ? SP_DECODE_OTHER : SP_DECODE_TCP, "real %d", real);
	}
}

static void
test_addr_format(void)
{
	struct sp_addr	a = { .family = 6 };
	char		buf[64];

	a.a[15] = 1;
	CHECK_STREQ(sp_addr_format(&a, buf, sizeof(buf)), "::1");
	a.a[10] = a.a[11] = 0xff;
	a.a[12] = 192;
	CHECK_STREQ(sp_addr_format(&a, buf, sizeof(buf)), "::ffff:192.0.0.1");
	CHECK_STREQ(sp_addr_format(&a, buf, 5), "");
	a.family = 9;
	CHECK_STREQ(sp_addr_format(&a, buf, sizeof(buf)), "?");
	CHECK_STREQ(sp_addr_format(&a, buf, 0), "");
	/* IPv4 is formatted by hand: every byte value in every place. */
	a.family = 4;
	for (unsigned v = 0; v < 256; v++)
		for (int at = 0; at < 4; at++) {
			char	want[INET_ADDRSTRLEN];

			memset(a.a, 0, sizeof(a.a));
			a.a[at] = (uint8_t)v;
			a.a[(at + 1) % 4] = (uint8_t)(255 - v);
			a.a[(at + 2) % 4] = (uint8_t)(v * 7);
			inet_ntop(AF_INET, a.a, want, sizeof(want));
			CHECK_STREQ(sp_addr_format(&a, buf, sizeof(buf)), want);
		}
	memcpy(a.a, "\xff\xff\xff\xff", 4);
	CHECK_STREQ(sp_addr_format(&a, buf, 16), "255.255.255.255");
	CHECK_STREQ(sp_addr_format(&a, buf, 15), "");	/* no room for NUL */
}

int
main(void)
{
	guard_init();
	test_link_types();
	test_vlans();
	test_options_and_padding();
	test_snaplen_payload();
	test_truncation_sweeps();
	test_malformed();
	test_other_and_fragments();
	test_ipv6_fragment();
	test_addr_format();
	return (check_done("test_decode"));
}
