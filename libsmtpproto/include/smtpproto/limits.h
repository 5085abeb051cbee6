/*
 * limits.h - every bound the library enforces, in one structure.
 *
 * No buffer in libsmtpproto grows without a cap.  Hitting a cap raises
 * an anomaly and parsing goes on with bounded memory; it never stops a
 * flow or a session.  sp_limits_default() documents each default.
 */
#ifndef SMTPPROTO_LIMITS_H
#define SMTPPROTO_LIMITS_H

#include "common.h"

struct sp_limits {
	/* Where memory comes from; NULL means malloc(3). */
	const struct sp_allocator *alloc;

	/* --- IP layer --- */
	size_t	ip_frag_bytes;		/* all fragments held at once */
	size_t	ip_frag_datagrams;	/* datagrams being reassembled */
	sp_ts	ip_frag_timeout;	/* an incomplete datagram expires */

	/* --- TCP reassembly --- */
	size_t	tcp_flows;		/* concurrent flows; oldest idle is evicted */
	size_t	tcp_flow_buffer;	/* out-of-order bytes held per flow */
	size_t	tcp_total_buffer;	/* out-of-order bytes held in all */
	size_t	tcp_retain;		/* delivered bytes kept per direction
					   to check retransmitted overlaps */
	sp_ts	tcp_idle_timeout;	/* flow idle this long ends */
	sp_ts	tcp_closed_linger;	/* a closed flow absorbs stragglers */
	unsigned tcp_gap_ack_packets;	/* packets a peer-acked hole may
					   stay open before it is a gap */

	/* --- SMTP dialogue --- */
	size_t	max_line;		/* command/reply/data line */
	size_t	max_reply_lines;	/* lines kept per multi-line reply */
	size_t	max_rcpts;		/* recipients kept per transaction */
	size_t	max_pipeline;		/* commands awaiting replies */
	size_t	max_transactions;	/* kept per session */

	/* --- Messages and MIME --- */
	size_t	max_header_line;	/* one unfolded header field */
	size_t	max_header_bytes;	/* one header block */
	size_t	max_headers;		/* fields kept per header block */
	size_t	max_mime_depth;		/* nesting of multiparts */
	size_t	max_mime_parts;		/* parts per message */
	size_t	max_boundary;		/* boundary length (RFC 2046: 70) */
	size_t	max_urls;		/* URLs kept per message */
};

/*
 * Fill *lim with the documented defaults:
 *   ip_frag_bytes 4 MiB, ip_frag_datagrams 1024, ip_frag_timeout 30 s;
 *   tcp_flows 65536, tcp_flow_buffer 1 MiB, tcp_total_buffer 32 MiB,
 *   tcp_retain 4 KiB, tcp_idle_timeout 300 s (RFC 5321 4.5.3.2.7 has
 *   servers wait 5 minutes), tcp_closed_linger 5 s,
 *   tcp_gap_ack_packets 32;
 *   max_line 4096 (RFC 5321 4.5.3.1.4 asks for 512 and AUTH lines
 *   may reach 12288 per RFC 4954 4, so 4096 keeps most and bounds
 *   the rest), max_reply_lines 128, max_rcpts 1000, max_pipeline
 *   1000, max_transactions 10000;
 *   max_header_line 65536, max_header_bytes 1 MiB, max_headers 1000,
 *   max_mime_depth 20, max_mime_parts 10000, max_boundary 200,
 *   max_urls 1000.
 */
SP_EXTERN void sp_limits_default(struct sp_limits *lim);

#endif /* SMTPPROTO_LIMITS_H */
