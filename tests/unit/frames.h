/*
 * frames.h - hand-built frames for the packet and capture tests: a
 * TCP segment wrapped in IPv4 or IPv6 and any supported link header.
 * Each builder appends to a struct frame and returns nothing; sizes
 * are small and fixed, so overflow is a test bug and aborts.
 */
#ifndef SP_TEST_FRAMES_H
#define SP_TEST_FRAMES_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct frame {
	uint8_t	b[4096];
	size_t	n;
};

static inline void
fr_bytes(struct frame *f, const void *p, size_t n)
{
	if (n > sizeof(f->b) - f->n)
		abort();
	memcpy(f->b + f->n, p, n);
	f->n += n;
}

static inline void
fr_u8(struct frame *f, unsigned v)
{
	uint8_t	b = (uint8_t)v;

	fr_bytes(f, &b, 1);
}

static inline void
fr_u16(struct frame *f, unsigned v)
{
	fr_u8(f, v >> 8);
	fr_u8(f, v);
}

static inline void
fr_u32(struct frame *f, uint32_t v)
{
	fr_u16(f, v >> 16);
	fr_u16(f, v & 0xffff);
}

static inline void
fr_zero(struct frame *f, size_t n)
{
	while (n-- > 0)
		fr_u8(f, 0);
}

#define TEST_SPORT	40000
#define TEST_DPORT	25
#define TEST_SEQ	1000u
#define TEST_ACK	2000u

/*
 * A TCP segment: ports 40000 -> 25, PSH|ACK, window 512.  With opts,
 * 16 bytes of options (MSS, NOP, NOP, timestamps): data offset 9.
 */
static inline void
fr_tcp(struct frame *f, uint32_t seq, const void *payload, size_t plen,
    int opts)
{
	fr_u16(f, TEST_SPORT);
	fr_u16(f, TEST_DPORT);
	fr_u32(f, seq);
	fr_u32(f, TEST_ACK);
	fr_u8(f, (opts ? 9u : 5u) << 4);
	fr_u8(f, 0x18);
	fr_u16(f, 512);
	fr_u16(f, 0);		/* checksum: not checked */
	fr_u16(f, 0);
	if (opts) {
		static const uint8_t o[16] = { 2, 4, 5, 0xb4, 1, 1, 8, 10,
		    0, 0, 0, 1, 0, 0, 0, 2 };
		fr_bytes(f, o, sizeof(o));
	}
	fr_bytes(f, payload, plen);
}

/*
 * An IPv4 header around l4 (192.0.2.1 -> 198.51.100.2).  opts adds a
 * 4-byte Router Alert option (IHL 6); frag is the flags/offset field.
 */
static inline void
fr_ipv4(struct frame *f, const struct frame *l4, int opts, unsigned frag,
    unsigned proto, unsigned id)
{
	size_t	hl = opts ? 24 : 20;

	fr_u8(f, 0x40 | (unsigned)(hl / 4));
	fr_u8(f, 0);
	fr_u16(f, (unsigned)(hl + l4->n));
	fr_u16(f, id);
	fr_u16(f, frag);
	fr_u8(f, 64);
	fr_u8(f, proto);
	fr_u16(f, 0);
	fr_u32(f, 0xc0000201);
	fr_u32(f, 0xc6336402);
	if (opts)
		fr_u32(f, 0x94040000);
	fr_bytes(f, l4->b, l4->n);
}

/* An IPv6 extension header of len bytes (PadN filled), then next. */
static inline void
fr_ext(struct frame *f, unsigned next, size_t len)
{
	fr_u8(f, next);
	fr_u8(f, (unsigned)(len / 8 - 1));
	fr_u8(f, 1);			/* PadN */
	fr_u8(f, (unsigned)(len - 4));
	fr_zero(f, len - 4);
}

/*
 * An IPv6 header around a TCP segment (2001:db8::1 -> 2001:db8::2),
 * with, when exts, hop-by-hop, destination options, routing and AH
 * headers in front of it.
 */
static inline void
fr_ipv6(struct frame *f, const struct frame *l4, int exts)
{
	size_t	elen = exts ? 8 + 8 + 24 + 24 : 0;

	fr_u32(f, 0x60000000);
	fr_u16(f, (unsigned)(elen + l4->n));
	fr_u8(f, exts ? 0 : 6);
	fr_u8(f, 64);
	fr_u32(f, 0x20010db8);
	fr_zero(f, 8);
	fr_u32(f, 1);
	fr_u32(f, 0x20010db8);
	fr_zero(f, 8);
	fr_u32(f, 2);
	if (exts) {
		fr_ext(f, 60, 8);	/* hop-by-hop, then dest. options */
		fr_ext(f, 43, 8);	/* destination options, then routing */
		fr_ext(f, 51, 24);	/* routing, then AH */
		fr_u8(f, 6);		/* AH: (4 + 2) * 4 = 24 bytes */
		fr_u8(f, 4);
		fr_zero(f, 22);
	}
	fr_bytes(f, l4->b, l4->n);
}

/* Ethernet with VLAN tags (TPID, VID pairs), then type and ip. */
static inline void
fr_eth(struct frame *f, const unsigned *tags, size_t ntags, unsigned type,
    const struct frame *ip, size_t min_len)
{
	static const uint8_t	macs[12] = { 2, 0, 0, 0, 0, 1, 2, 0, 0, 0,
	    0, 2 };

	fr_bytes(f, macs, sizeof(macs));
	for (size_t i = 0; i < ntags; i++) {
		fr_u16(f, tags[2 * i]);
		fr_u16(f, tags[2 * i + 1]);
	}
	fr_u16(f, type);
	fr_bytes(f, ip->b, ip->n);
	while (f->n < min_len)
		fr_u8(f, 0xee);		/* link padding */
}

static inline void
fr_sll(struct frame *f, unsigned type, const struct frame *ip)
{
	fr_u16(f, 0);		/* to us */
	fr_u16(f, 1);		/* ARPHRD_ETHER */
	fr_u16(f, 6);
	fr_zero(f, 8);
	fr_u16(f, type);
	fr_bytes(f, ip->b, ip->n);
}

static inline void
fr_sll2(struct frame *f, unsigned type, const struct frame *ip)
{
	fr_u16(f, type);
	fr_u16(f, 0);
	fr_u32(f, 1);		/* ifindex */
	fr_u16(f, 1);
	fr_u8(f, 0);
	fr_u8(f, 6);
	fr_zero(f, 8);
	fr_bytes(f, ip->b, ip->n);
}

/* BSD loopback family word, little- or big-endian. */
static inline void
fr_null(struct frame *f, uint32_t fam, int big, const struct frame *ip)
{
	if (big) {
		fr_u32(f, fam);
	} else {
		fr_u8(f, fam & 0xff);
		fr_u8(f, (fam >> 8) & 0xff);
		fr_u8(f, (fam >> 16) & 0xff);
		fr_u8(f, fam >> 24);
	}
	fr_bytes(f, ip->b, ip->n);
}

#endif /* SP_TEST_FRAMES_H */
