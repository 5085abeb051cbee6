/*
 * packet.h - link, IP and TCP header decoding, and IPv4 fragment
 * reassembly.  Pure functions over the caller's bytes: no libpcap, no
 * I/O.  capture.h drives these for pcap files and live interfaces;
 * anything else (a fuzzer, a test) can call them directly.
 */
#ifndef SMTPPROTO_PACKET_H
#define SMTPPROTO_PACKET_H

#include "anomaly.h"
#include "err.h"
#include "limits.h"

/* Link types, numbered as in pcap's LINKTYPE_ registry. */
enum sp_linktype {
	SP_LINK_NULL = 0,		/* BSD loopback, host byte order */
	SP_LINK_ETHERNET = 1,
	SP_LINK_RAW = 101,		/* raw IPv4 or IPv6 */
	SP_LINK_LOOP = 108,		/* OpenBSD loopback, network order */
	SP_LINK_LINUX_SLL = 113,
	SP_LINK_IPV4 = 228,
	SP_LINK_IPV6 = 229,
	SP_LINK_LINUX_SLL2 = 276
};

/* Non-zero when linktype is one sp_packet_decode() understands. */
SP_EXTERN int sp_linktype_supported(int linktype);

/* An IP address; v4 addresses use the first 4 bytes of a. */
struct sp_addr {
	uint8_t	family;			/* 4 or 6 */
	uint8_t	a[16];
};

#define SP_TCP_FIN	0x01
#define SP_TCP_SYN	0x02
#define SP_TCP_RST	0x04
#define SP_TCP_PSH	0x08
#define SP_TCP_ACK	0x10
#define SP_TCP_URG	0x20

#define SP_MAX_VLAN	2

/*
 * One decoded TCP segment.  payload points into the caller's packet
 * (or the fragment reassembler's buffer) and is valid only as long as
 * that memory is.
 */
struct sp_packet {
	sp_ts		 ts;
	struct sp_addr	 src, dst;
	uint16_t	 sport, dport;
	uint16_t	 vlan[SP_MAX_VLAN];	/* outermost first */
	uint8_t		 nvlan;
	uint8_t		 flags;			/* SP_TCP_* */
	uint32_t	 seq, ack;
	uint16_t	 window;
	const uint8_t	*payload;
	size_t		 payload_len;		/* bytes present */
	size_t		 payload_wire_len;	/* bytes on the wire; more
						   than payload_len when the
						   snap length cut them */
};

/* What sp_packet_decode() found. */
enum sp_decode_result {
	SP_DECODE_TCP,		/* *pkt is a TCP segment */
	SP_DECODE_OTHER,	/* well-formed, but not TCP over IP */
	SP_DECODE_FRAGMENT,	/* an IPv4 fragment: see *frag */
	SP_DECODE_MALFORMED	/* see *anomaly */
};

/* Where an IPv4 fragment sits, for sp_ipfrag_add(). */
struct sp_frag_info {
	const uint8_t	*ip;		/* the IPv4 header */
	size_t		 ip_len;	/* header plus fragment payload */
	struct sp_addr	 src, dst;
	uint16_t	 id;
	uint8_t		 proto;
	uint16_t	 vlan[SP_MAX_VLAN];
	uint8_t		 nvlan;
};

/*
 * Decode one captured frame of the given link type.  caplen bytes are
 * present at data; wirelen is the frame's length on the wire.  Every
 * read is bounds-checked against caplen.  On SP_DECODE_MALFORMED,
 * *anomaly says why; on SP_DECODE_FRAGMENT, *frag describes the
 * fragment.  Never allocates.
 */
SP_EXTERN enum sp_decode_result sp_packet_decode(int linktype,
    const uint8_t *data, size_t caplen, size_t wirelen, sp_ts ts,
    struct sp_packet *pkt, struct sp_frag_info *frag,
    enum sp_anomaly *anomaly);

/*
 * Decode a complete IPv4 or IPv6 datagram (no link header), e.g. one
 * returned by the fragment reassembler.  Same results as above.
 */
SP_EXTERN enum sp_decode_result sp_packet_decode_ip(const uint8_t *ip,
    size_t caplen, size_t wirelen, sp_ts ts, struct sp_packet *pkt,
    struct sp_frag_info *frag, enum sp_anomaly *anomaly);

/*
 * IPv4 fragment reassembly, within limits.ip_frag_bytes and
 * limits.ip_frag_datagrams.  Datagrams are keyed by (src, dst, id,
 * protocol, VLAN) as RFC 791 says.
 */
typedef struct sp_ipfrag sp_ipfrag;

/* Returns SP_E_OK, SP_E_NOMEM or SP_E_INVAL. */
SP_EXTERN sp_err sp_ipfrag_new(sp_ipfrag **out, const struct sp_limits *lim);
SP_EXTERN void sp_ipfrag_free(sp_ipfrag *f);

/*
 * Add one fragment seen at ts.  When it completes a datagram, *dgram
 * and *dgram_len are set to the whole IPv4 datagram (header with
 * fragment fields cleared, then payload), valid until the next call;
 * otherwise *dgram is NULL.  A fragment that overlaps with different
 * data, or that would exceed the caps, sets *anomaly (else it is
 * left as -1).  Expired datagrams are dropped with
 * SP_ANOM_IP_FRAG_TIMEOUT.  Returns SP_E_OK or SP_E_NOMEM.
 */
SP_EXTERN sp_err sp_ipfrag_add(sp_ipfrag *f, const struct sp_frag_info *fi,
    sp_ts ts, const uint8_t **dgram, size_t *dgram_len, int *anomaly);

/* Counters, for statistics. */
struct sp_ipfrag_stats {
	uint64_t	fragments;
	uint64_t	reassembled;
	uint64_t	dropped;	/* datagrams given up (caps, timeout) */
	size_t		bytes_held;
};
SP_EXTERN void sp_ipfrag_get_stats(const sp_ipfrag *f,
    struct sp_ipfrag_stats *st);

/*
 * Format an address as text (dotted quad or RFC 5952 IPv6) into buf
 * and return buf; "" when it does not fit, "?" for an unknown family.
 */
SP_EXTERN const char *sp_addr_format(const struct sp_addr *a, char *buf,
    size_t len);

#endif /* SMTPPROTO_PACKET_H */
