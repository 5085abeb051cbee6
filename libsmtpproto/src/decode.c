/*
 * decode.c - link, IP and TCP header decoding over the caller's bytes.
 *
 * Pure functions: no libpcap, no allocation, no I/O.  Every read is
 * checked against the captured length first (tcpdump's rule), and a
 * frame that ends early is classified by *why* it ends early:
 *
 *   PKT_SNAPLEN_CUT    the bytes exist on the wire, the capture's snap
 *                      length cut them (caplen < wirelen);
 *   PKT_TRUNCATED      the frame itself is shorter than its headers say;
 *   PKT_BAD_IP_HEADER  an IP header field is impossible;
 *   PKT_BAD_TCP_HEADER a TCP header field is impossible, or the IP
 *                      datagram is too short to hold a TCP header.
 *
 * A snap length that cuts only the TCP payload is not malformed: the
 * segment is returned and the caller sees payload_len below
 * payload_wire_len.  Checksums are not verified: captures taken on the
 * sending host carry unfinished checksums (offload), and wrong ones
 * would drop the very packets the receiver did accept.
 */
#include <arpa/inet.h>

#include "internal.h"

#define ETHERTYPE_IPV4		0x0800
#define ETHERTYPE_IPV6		0x86dd
#define ETHERTYPE_VLAN		0x8100	/* IEEE 802.1Q */
#define ETHERTYPE_QINQ		0x88a8	/* IEEE 802.1ad */
#define ETHERTYPE_QINQ_OLD	0x9100	/* pre-standard QinQ */
#define ETHER_MAX_LEN_FIELD	1500	/* below: an 802.3 length */

#define IPPROTO_HOPOPTS_	0
#define IPPROTO_TCP_		6
#define IPPROTO_ROUTING_	43
#define IPPROTO_FRAGMENT_	44
#define IPPROTO_AH_		51
#define IPPROTO_DSTOPTS_	60

/* Link types that are DLT_RAW on some systems (pcap's dlt.h). */
#define LINK_RAW_ALIAS_12	12
#define LINK_RAW_ALIAS_14	14

/* BSD address families seen in NULL/LOOP headers (libpcap's list). */
#define BSD_AF_INET		2
#define BSD_AF_INET6_BSD	24	/* NetBSD, OpenBSD, BSD/OS */
#define BSD_AF_INET6_FREEBSD	28
#define BSD_AF_INET6_DARWIN	30

/*
 * A window on the frame: cap bytes are present at p, wire bytes were
 * on the wire.  Invariant: cap <= wire.
 */
struct win {
	const uint8_t	*p;
	size_t		 cap;
	size_t		 wire;
};

/* Where the decoded fields go. */
struct out {
	struct sp_packet	*pkt;
	struct sp_frag_info	*frag;
	enum sp_anomaly		*anomaly;
};

static enum sp_decode_result decode_ipv4(struct win w, struct out *o);
static enum sp_decode_result decode_ipv6(struct win w, struct out *o);

static enum sp_decode_result
malformed(struct out *o, enum sp_anomaly a)
{
	*o->anomaly = a;
	return (SP_DECODE_MALFORMED);
}

/*
 * n bytes are needed and fewer are present: the snap length cut them
 * if the wire had them, else the frame is shorter than its headers.
 */
static enum sp_decode_result
short_read(const struct win *w, size_t n, struct out *o)
{
	return (malformed(o, n <= w->wire ? SP_ANOM_PKT_SNAPLEN_CUT :
	    SP_ANOM_PKT_TRUNCATED));
}

static void
advance(struct win *w, size_t n)
{
	SP_ASSERT(n <= w->cap && w->cap <= w->wire);
	w->p += n;
	w->cap -= n;
	w->wire -= n;
}

/* Narrow the window to the first n wire bytes (n <= w->wire). */
static void
limit(struct win *w, size_t n)
{
	w->wire = n;
	if (w->cap > n)
		w->cap = n;
}

static void
set_addr(struct sp_addr *a, int family, const uint8_t *p)
{
	memset(a, 0, sizeof(*a));
	a->family = (uint8_t)family;
	memcpy(a->a, p, family == 4 ? 4 : 16);
}

/* Dispatch on an EtherType once every VLAN tag has been stripped. */
static enum sp_decode_result
decode_ethertype(struct win w, uint16_t type, struct out *o)
{
	switch (type) {
	case ETHERTYPE_IPV4:
		return (decode_ipv4(w, o));
	case ETHERTYPE_IPV6:
		return (decode_ipv6(w, o));
	default:
		return (SP_DECODE_OTHER);
	}
}

static int
is_vlan_type(uint16_t type)
{
	return (type == ETHERTYPE_VLAN || type == ETHERTYPE_QINQ ||
	    type == ETHERTYPE_QINQ_OLD);
}

/*
 * w starts after an EtherType field holding type.  Strip 802.1Q/802.1ad
 * tags (each TCI then the inner EtherType), recording the outermost
 * SP_MAX_VLAN VLAN IDs; deeper stacks are decoded but not recorded.
 */
static enum sp_decode_result
decode_vlans(struct win w, uint16_t type, struct out *o)
{
	struct sp_packet	*pkt = o->pkt;

	while (is_vlan_type(type)) {
		if (w.cap < 4)
			return (short_read(&w, 4, o));
		if (pkt->nvlan < SP_MAX_VLAN)
			pkt->vlan[pkt->nvlan++] = sp__be16(w.p) & 0x0fff;
		type = sp__be16(w.p + 2);
		advance(&w, 4);
	}
	return (decode_ethertype(w, type, o));
}

static enum sp_decode_result
decode_ethernet(struct win w, struct out *o)
{
	uint16_t	type;

	if (w.cap < 14)
		return (short_read(&w, 14, o));
	type = sp__be16(w.p + 12);
	advance(&w, 14);
	if (type <= ETHER_MAX_LEN_FIELD)
		return (SP_DECODE_OTHER);	/* 802.3 length, LLC */
	return (decode_vlans(w, type, o));
}

/* Linux cooked v1: 16 bytes, the protocol type last. */
static enum sp_decode_result
decode_sll(struct win w, struct out *o)
{
	uint16_t	type;

	if (w.cap < 16)
		return (short_read(&w, 16, o));
	type = sp__be16(w.p + 14);
	advance(&w, 16);
	return (decode_vlans(w, type, o));
}

/* Linux cooked v2: 20 bytes, the protocol type first. */
static enum sp_decode_result
decode_sll2(struct win w, struct out *o)
{
	uint16_t	type;

	if (w.cap < 20)
		return (short_read(&w, 20, o));
	type = sp__be16(w.p);
	advance(&w, 20);
	return (decode_vlans(w, type, o));
}

/*
 * BSD loopback: a 4-byte address family, in the byte order of the
 * machine that captured (NULL) or in network order (LOOP).  Like
 * libpcap, take whichever order gives a small number.  AF_INET6 has
 * three values across the BSDs.
 */
static enum sp_decode_result
decode_null(struct win w, struct out *o)
{
	uint32_t	fam;

	if (w.cap < 4)
		return (short_read(&w, 4, o));
	fam = sp__be32(w.p);
	if ((fam & 0xffff0000u) != 0)
		fam = (uint32_t)w.p[3] << 24 | (uint32_t)w.p[2] << 16 |
		    (uint32_t)w.p[1] << 8 | w.p[0];
	advance(&w, 4);
	switch (fam) {
	case BSD_AF_INET:
		return (decode_ipv4(w, o));
	case BSD_AF_INET6_BSD:
	case BSD_AF_INET6_FREEBSD:
	case BSD_AF_INET6_DARWIN:
		return (decode_ipv6(w, o));
	default:
		return (SP_DECODE_OTHER);
	}
}

/* No link header: the IP version nibble says which IP. */
static enum sp_decode_result
decode_raw(struct win w, struct out *o)
{
	if (w.cap < 1)
		return (short_read(&w, 1, o));
	switch (w.p[0] >> 4) {
	case 4:
		return (decode_ipv4(w, o));
	case 6:
		return (decode_ipv6(w, o));
	default:
		return (malformed(o, SP_ANOM_PKT_BAD_IP_HEADER));
	}
}

/*
 * TCP (RFC 9293 3.1).  w covers the IP payload as the IP header sizes
 * it, so a segment too short for its own header is a bad TCP header,
 * not a short frame.
 */
static enum sp_decode_result
decode_tcp(struct win w, struct out *o)
{
	struct sp_packet	*pkt = o->pkt;
	size_t			 doff;

	if (w.wire < 20)
		return (malformed(o, SP_ANOM_PKT_BAD_TCP_HEADER));
	if (w.cap < 20)
		return (short_read(&w, 20, o));
	doff = (size_t)(w.p[12] >> 4) * 4;
	if (doff < 20 || doff > w.wire)
		return (malformed(o, SP_ANOM_PKT_BAD_TCP_HEADER));
	if (doff > w.cap)
		return (short_read(&w, doff, o));
	pkt->sport = sp__be16(w.p);
	pkt->dport = sp__be16(w.p + 2);
	pkt->seq = sp__be32(w.p + 4);
	pkt->ack = sp__be32(w.p + 8);
	pkt->flags = w.p[13] & 0x3f;
	pkt->window = sp__be16(w.p + 14);
	advance(&w, doff);		/* options are skipped */
	pkt->payload = w.p;
	pkt->payload_len = w.cap;
	pkt->payload_wire_len = w.wire;
	return (SP_DECODE_TCP);
}

static void
fill_frag(const struct win *w, const struct sp_packet *pkt,
    struct sp_frag_info *fi)
{
	fi->ip = w->p;
	fi->ip_len = w->cap;
	fi->src = pkt->src;
	fi->dst = pkt->dst;
	fi->id = sp__be16(w->p + 4);
	fi->proto = w->p[9];
	memcpy(fi->vlan, pkt->vlan, sizeof(fi->vlan));
	fi->nvlan = pkt->nvlan;
}

/*
 * IPv4 (RFC 791 3.1).  Bytes past the total length are link padding
 * (Ethernet pads to 60 bytes) and are not part of the datagram.
 */
static enum sp_decode_result
decode_ipv4(struct win w, struct out *o)
{
	size_t	hl, tot;

	if (w.cap < 1)
		return (short_read(&w, 1, o));
	hl = (size_t)(w.p[0] & 0x0f) * 4;
	if (w.p[0] >> 4 != 4 || hl < 20)
		return (malformed(o, SP_ANOM_PKT_BAD_IP_HEADER));
	if (w.cap < hl)
		return (short_read(&w, hl, o));
	tot = sp__be16(w.p + 2);
	if (tot < hl)
		return (malformed(o, SP_ANOM_PKT_BAD_IP_HEADER));
	if (tot > w.wire)
		return (malformed(o, SP_ANOM_PKT_TRUNCATED));
	limit(&w, tot);
	set_addr(&o->pkt->src, 4, w.p + 12);
	set_addr(&o->pkt->dst, 4, w.p + 16);
	if ((sp__be16(w.p + 6) & 0x3fff) != 0) {	/* MF or offset */
		if (w.cap < w.wire)
			return (short_read(&w, w.wire, o));
		fill_frag(&w, o->pkt, o->frag);
		return (SP_DECODE_FRAGMENT);
	}
	if (w.p[9] != IPPROTO_TCP_)
		return (SP_DECODE_OTHER);
	advance(&w, hl);
	return (decode_tcp(w, o));
}

/*
 * Walk IPv6 extension headers (RFC 8200 4) up to TCP.  Each header
 * consumes at least 8 bytes, so the walk ends.  Fragments other than
 * atomic ones (RFC 6946: offset 0, M clear) are not reassembled and
 * count as OTHER.
 */
static enum sp_decode_result
decode_ipv6_ext(struct win w, uint8_t nh, struct out *o)
{
	size_t	len;

	for (;;) {
		if (nh == IPPROTO_TCP_)
			return (decode_tcp(w, o));
		if (nh != IPPROTO_HOPOPTS_ && nh != IPPROTO_ROUTING_ &&
		    nh != IPPROTO_DSTOPTS_ && nh != IPPROTO_AH_ &&
		    nh != IPPROTO_FRAGMENT_)
			return (SP_DECODE_OTHER);
		if (w.cap < 8)
			return (short_read(&w, 8, o));
		if (nh == IPPROTO_FRAGMENT_)
			len = 8;
		else if (nh == IPPROTO_AH_)	/* RFC 4302 2.2 */
			len = ((size_t)w.p[1] + 2) * 4;
		else
			len = ((size_t)w.p[1] + 1) * 8;
		if (nh == IPPROTO_FRAGMENT_ &&
		    (sp__be16(w.p + 2) & 0xfff9) != 0)
			return (SP_DECODE_OTHER);
		if (w.cap < len)
			return (short_read(&w, len, o));
		nh = w.p[0];
		advance(&w, len);
	}
}

/* IPv6 (RFC 8200 3).  Jumbograms (payload length 0) are not handled. */
static enum sp_decode_result
decode_ipv6(struct win w, struct out *o)
{
	size_t	plen;
	uint8_t	nh;

	if (w.cap < 1)
		return (short_read(&w, 1, o));
	if (w.p[0] >> 4 != 6)
		return (malformed(o, SP_ANOM_PKT_BAD_IP_HEADER));
	if (w.cap < 40)
		return (short_read(&w, 40, o));
	plen = sp__be16(w.p + 4);
	nh = w.p[6];
	if (plen > w.wire - 40)
		return (malformed(o, SP_ANOM_PKT_TRUNCATED));
	limit(&w, 40 + plen);
	set_addr(&o->pkt->src, 6, w.p + 8);
	set_addr(&o->pkt->dst, 6, w.p + 24);
	advance(&w, 40);
	return (decode_ipv6_ext(w, nh, o));
}

int
sp_linktype_supported(int linktype)
{
	switch (linktype) {
	case SP_LINK_NULL:
	case SP_LINK_ETHERNET:
	case LINK_RAW_ALIAS_12:
	case LINK_RAW_ALIAS_14:
	case SP_LINK_RAW:
	case SP_LINK_LOOP:
	case SP_LINK_LINUX_SLL:
	case SP_LINK_IPV4:
	case SP_LINK_IPV6:
	case SP_LINK_LINUX_SLL2:
		return (1);
	default:
		return (0);
	}
}

static enum sp_decode_result
decode_link(int linktype, struct win w, struct out *o)
{
	switch (linktype) {
	case SP_LINK_ETHERNET:
		return (decode_ethernet(w, o));
	case SP_LINK_LINUX_SLL:
		return (decode_sll(w, o));
	case SP_LINK_LINUX_SLL2:
		return (decode_sll2(w, o));
	case SP_LINK_NULL:
	case SP_LINK_LOOP:
		return (decode_null(w, o));
	case SP_LINK_RAW:
	case LINK_RAW_ALIAS_12:
	case LINK_RAW_ALIAS_14:
		return (decode_raw(w, o));
	case SP_LINK_IPV4:
		return (decode_ipv4(w, o));
	case SP_LINK_IPV6:
		return (decode_ipv6(w, o));
	default:
		return (SP_DECODE_OTHER);
	}
}

static void
start(struct win *w, struct out *o, const uint8_t *data, size_t caplen,
    size_t wirelen, sp_ts ts)
{
	w->p = data;
	w->cap = caplen;
	w->wire = SP_MAX(caplen, wirelen);
	o->pkt->ts = ts;
	o->pkt->nvlan = 0;
	memset(o->pkt->vlan, 0, sizeof(o->pkt->vlan));
	o->pkt->payload = NULL;
	o->pkt->payload_len = o->pkt->payload_wire_len = 0;
}

enum sp_decode_result
sp_packet_decode(int linktype, const uint8_t *data, size_t caplen,
    size_t wirelen, sp_ts ts, struct sp_packet *pkt,
    struct sp_frag_info *frag, enum sp_anomaly *anomaly)
{
	struct win	w;
	struct out	o = { pkt, frag, anomaly };

	start(&w, &o, data, caplen, wirelen, ts);
	return (decode_link(linktype, w, &o));
}

enum sp_decode_result
sp_packet_decode_ip(const uint8_t *ip, size_t caplen, size_t wirelen,
    sp_ts ts, struct sp_packet *pkt, struct sp_frag_info *frag,
    enum sp_anomaly *anomaly)
{
	struct win	w;
	struct out	o = { pkt, frag, anomaly };

	start(&w, &o, ip, caplen, wirelen, ts);
	return (decode_raw(w, &o));
}


/*
 * Dotted quad, as inet_ntop() writes it: two per session record, and
 * glibc's goes through sprintf, which showed in profiles.
 */
static void
ipv4_text(const uint8_t *a, char *out)
{
	for (int i = 0; i < 4; i++) {
		unsigned	v = a[i];

		if (v >= 100)
			*out++ = (char)('0' + v / 100);
		if (v >= 10)
			*out++ = (char)('0' + v / 10 % 10);
		*out++ = (char)('0' + v % 10);
		*out++ = i < 3 ? '.' : '\0';
	}
}

const char *
sp_addr_format(const struct sp_addr *a, char *buf, size_t len)
{
	char	tmp[INET6_ADDRSTRLEN];
	size_t	n;

	if (len == 0)
		return ("");
	if (a->family == 4)
		ipv4_text(a->a, tmp);
	else if (a->family == 6)
		inet_ntop(AF_INET6, a->a, tmp, sizeof(tmp));	/* RFC 5952 */
	else
		memcpy(tmp, "?", 2);
	n = strlen(tmp);
	if (n >= len)
		n = 0;		/* does not fit: an empty string, not half */
	memcpy(buf, tmp, n);
	buf[n] = '\0';
	return (buf);
}
