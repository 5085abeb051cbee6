/*
 * tcp.h - TCP stream reassembly.  An I/O-free core: segments and their
 * timestamps come in (struct sp_packet), ordered byte streams per
 * direction go out through callbacks.  Capture time drives every
 * timeout; the reassembler never reads a clock.
 *
 * What the consumer is promised, per direction of every flow:
 *  - on_data chunks arrive in stream order, at increasing offsets;
 *  - every byte offset from 0 up to the end is covered exactly once,
 *    either by on_data or by on_gap (nothing is silently skipped);
 *  - on_flow_end is called exactly once per flow, after everything.
 * Stream offset 0 is the byte after the SYN's sequence number, or the
 * first byte seen when the flow was picked up mid-stream.
 *
 * Where two copies of a byte differ, the first one seen wins and
 * SP_ANOM_TCP_OVERLAP_CONFLICT says where ("offsets 1200-1300 differ;
 * first data kept", end exclusive).  After FIN or RST a flow lingers
 * as a tombstone for tcp_closed_linger, calling no callbacks: segments
 * for it are only counted (stats.dropped_bytes, stats.anomalies), and
 * a new SYN on the same ports starts a new flow.  docs/internals/tcp.md
 * says when a hole becomes a gap.
 */
#ifndef SMTPPROTO_TCP_H
#define SMTPPROTO_TCP_H

#include "packet.h"

typedef struct sp_tcp_reasm sp_tcp_reasm;

/* Why a flow ended. */
#define SP_FLOW_END_MAP(X)						\
	X(FIN,		"fin",		"both sides closed with FIN")	\
	X(RST,		"rst",		"reset")			\
	X(TIMEOUT,	"timeout",	"idle longer than the timeout")	\
	X(EVICTED,	"evicted",	"flow cap reached, or ports reused") \
	X(EOF,		"eof",		"end of input")

enum sp_flow_end {
#define SP_FLOW_END_ENUM(name, str, desc)	SP_FLOW_END_##name,
	SP_FLOW_END_MAP(SP_FLOW_END_ENUM)
#undef SP_FLOW_END_ENUM
};

SP_EXTERN const char *sp_flow_end_name(enum sp_flow_end r);

/* Per-direction counters of a flow. */
struct sp_tcp_dir_stats {
	uint64_t	packets;
	uint64_t	bytes;		/* delivered through on_data */
	uint64_t	gaps;
	uint64_t	gap_bytes;	/* declared missing through on_gap */
	uint64_t	dup_bytes;	/* retransmitted, already delivered */
	uint64_t	dropped_bytes;	/* before start or after the FIN
					   (a tombstone's: stats only) */
	int		fin;
	int		rst;
};

/*
 * What the consumer sees of a flow.  Read-only, except user, which
 * the consumer may set (typically in on_flow_start) and which is
 * handed back in every later callback for the flow.
 */
struct sp_tcp_flow {
	uint64_t	 id;		/* unique within the reassembler, from 1 */
	struct sp_addr	 client, server;
	uint16_t	 client_port, server_port;
	uint16_t	 vlan[SP_MAX_VLAN];
	uint8_t		 nvlan;
	uint8_t		 handshake;	/* roles known from SYN/SYN-ACK */
	sp_ts		 first_ts, last_ts;
	struct sp_tcp_dir_stats dir[2];	/* indexed by enum sp_dir */
	void		*user;
};

/*
 * Callbacks.  Any may be NULL.  Slices are valid only during the call.
 * Return 0 to go on; nonzero makes the reassembler return SP_E_CALLBACK
 * from the call that triggered it (sticky).  ts is the time of the
 * packet or advance() that caused the event, or at finish() the
 * flow's last_ts.  On a gap, SP_ANOM_TCP_GAP follows on_gap.
 */
struct sp_tcp_callbacks {
	int	(*on_flow_start)(void *ud, struct sp_tcp_flow *f);
	int	(*on_data)(void *ud, struct sp_tcp_flow *f, enum sp_dir dir,
		    uint64_t off, const uint8_t *p, size_t n, sp_ts ts);
	int	(*on_gap)(void *ud, struct sp_tcp_flow *f, enum sp_dir dir,
		    uint64_t off, uint64_t n, sp_ts ts);
	/* off is the stream offset; detail may be NULL. */
	int	(*on_anomaly)(void *ud, struct sp_tcp_flow *f, enum sp_dir dir,
		    enum sp_anomaly a, uint64_t off, const char *detail);
	int	(*on_flow_end)(void *ud, struct sp_tcp_flow *f,
		    enum sp_flow_end why);
};

/*
 * Decide which endpoint of a flow picked up mid-stream is the server.
 * Called once, with the first payload seen, which was sent by the
 * endpoint (sport).  Return 1 if that sender is the server, 0 if it is
 * the client, -1 to let the reassembler decide (ports, then content).
 * NULL means the built-in rule: a port in smtp_ports, else a payload
 * starting with a 3-digit code, else the lower port is the server.
 */
typedef int (*sp_tcp_role_fn)(void *ud, const struct sp_packet *pkt);

/*
 * lim is copied (lim->alloc must outlive the reassembler); cb is
 * copied and may be NULL for none.  Returns SP_E_OK, SP_E_NOMEM or
 * SP_E_INVAL (out or lim NULL).
 */
SP_EXTERN sp_err sp_tcp_reasm_new(sp_tcp_reasm **out,
    const struct sp_limits *lim, const struct sp_tcp_callbacks *cb,
    void *ud);

/* Ends no flows and calls no callbacks: call _finish() first. */
SP_EXTERN void sp_tcp_reasm_free(sp_tcp_reasm *r);

/*
 * Ports that mark the server of a flow picked up mid-stream (default
 * 25, 465, 587, 2525).  n may be 0.  Returns SP_E_OK, SP_E_LIMIT
 * (more than 64 ports) or SP_E_INVAL (r NULL, or ports NULL with n).
 */
SP_EXTERN sp_err sp_tcp_reasm_set_server_ports(sp_tcp_reasm *r,
    const uint16_t *ports, size_t n);

SP_EXTERN void sp_tcp_reasm_set_role_fn(sp_tcp_reasm *r, sp_tcp_role_fn fn);

/*
 * Process one segment; pkt->ts is the current time, and flows idle
 * past the timeout end first.  Returns SP_E_OK; SP_E_NOMEM,
 * SP_E_CALLBACK or SP_E_INTERNAL (a broken invariant, which cannot
 * happen), all sticky: later calls return them again; or SP_E_INVAL
 * (a NULL argument).
 */
SP_EXTERN sp_err sp_tcp_reasm_packet(sp_tcp_reasm *r,
    const struct sp_packet *pkt);

/*
 * Let time pass without a packet (live capture); ends idle flows.
 * Returns as _packet().
 */
SP_EXTERN sp_err sp_tcp_reasm_advance(sp_tcp_reasm *r, sp_ts now);

/*
 * End of input: every open flow delivers what it holds (holes become
 * gaps) and ends with SP_FLOW_END_EOF.  Returns as _packet().
 */
SP_EXTERN sp_err sp_tcp_reasm_finish(sp_tcp_reasm *r);

struct sp_tcp_stats {
	uint64_t	packets;
	uint64_t	flows;		/* started */
	uint64_t	flows_open;
	uint64_t	flows_ended[5];	/* indexed by enum sp_flow_end */
	uint64_t	bytes;		/* delivered, both directions */
	uint64_t	gaps;
	uint64_t	gap_bytes;
	uint64_t	dup_bytes;
	uint64_t	dropped_bytes;
	uint64_t	anomalies[SP_ANOM__COUNT];
	size_t		buffered;	/* out-of-order bytes held now */
	size_t		buffered_peak;
};

SP_EXTERN void sp_tcp_reasm_get_stats(const sp_tcp_reasm *r,
    struct sp_tcp_stats *st);

#endif /* SMTPPROTO_TCP_H */
