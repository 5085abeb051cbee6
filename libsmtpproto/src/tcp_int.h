/*
 * tcp_int.h - the TCP reassembler's private structures, shared by
 * tcp_reasm.c (packets and flow lifecycle), tcp_stream.c (one
 * direction's byte stream) and tcp_flow_table.c (hash table and the
 * activity lists).  docs/internals/tcp.md describes the design.
 */
#ifndef SP_TCP_INT_H
#define SP_TCP_INT_H

#include "internal.h"

/* An out-of-order segment held until the hole before it fills. */
struct tcp_seg {
	struct tcp_seg	*next;		/* by offset; never overlapping */
	uint64_t	 off;
	size_t		 len;
	uint8_t		 data[];
};

/*
 * One direction of a flow.  Offsets are 64-bit stream offsets: offset
 * 0 has sequence number base.  next is the first offset not yet
 * covered by on_data or on_gap; every buffered segment starts after
 * it (a segment starting at next is delivered at once).
 */
struct tcp_half {
	struct tcp_seg	*segs;
	uint64_t	 next;
	uint64_t	 acked;		/* highest offset the peer acked */
	uint64_t	 fin_off;	/* offset of the FIN, if has_fin */
	uint64_t	 grace_ack;	/* acked when the grace began */
	uint64_t	 grace_since;	/* flow packet count then */
	uint64_t	 cut_lo, cut_hi; /* bytes the snap length cut */
	uint64_t	 ring_lo;	/* ring holds [ring_lo, next) */
	uint8_t		*ring;		/* last tcp_retain bytes delivered */
	size_t		 ring_cap;	/* grows to tcp_retain */
	sp_ts		 last_ts;	/* the last payload segment seen, */
	size_t		 last_len;	/* to recognise capture echoes */
	uint32_t	 last_seq;
	uint32_t	 base;		/* sequence number of offset 0 */
	uint8_t		 started;	/* base is known */
	uint8_t		 has_fin;
	uint8_t		 grace_on;	/* peer acked beyond a hole */
	uint8_t		 in_retrans;	/* retransmission anomaly raised */
};

/*
 * A flow key: both endpoints in a canonical order (a sorts before b)
 * and the outer VLAN id.  40 bytes, no padding, so memcmp() compares
 * it and the hash reads it as five 64-bit words.
 */
struct tcp_key {
	uint8_t		a[16], b[16];
	uint16_t	pa, pb;
	uint16_t	vlan;
	uint8_t		family;
	uint8_t		has_vlan;
};

struct tcp_flow {
	struct sp_tcp_flow pub;
	struct tcp_key	 key;
	uint64_t	 hash;
	struct tcp_flow	*hnext;		/* hash chain */
	struct tcp_flow	*prev, *next;	/* live or closed list */
	sp_ts		 active;	/* last packet; close time if closed */
	uint64_t	 npkts;
	size_t		 buffered;	/* both directions */
	struct tcp_half	 h[2];		/* by enum sp_dir */
	uint32_t	 syn_seq;	/* the client's SYN, if syn_seen */
	uint8_t		 syn_seen;
	uint8_t		 client_is_a;	/* client endpoint is key.a */
	uint8_t		 closed;	/* a tombstone after FIN or RST */
};

/* Chained hash table of every flow, live or closed. */
struct tcp_table {
	struct tcp_flow	**b;
	size_t		  mask;		/* buckets - 1, a power of two */
	size_t		  count;
	size_t		  max_buckets;
};

/* Doubly linked list, oldest at head. */
struct tcp_list {
	struct tcp_flow	*head, *tail;
};

struct sp_tcp_reasm {
	struct sp_limits	 lim;
	const struct sp_allocator *alloc;
	struct sp_tcp_callbacks	 cb;
	void			*ud;
	sp_tcp_role_fn		 role_fn;
	uint16_t		 ports[64];
	size_t			 nports;
	struct tcp_table	 tab;
	struct tcp_list		 live;	/* by last activity */
	struct tcp_list		 dead;	/* tombstones, by close time */
	struct sp_tcp_stats	 st;
	sp_ts			 now;	/* latest time seen, never decreases */
	sp_ts			 ev_ts;	/* timestamp handed to callbacks */
	uint64_t		 next_id;
	sp_err			 err;	/* sticky */
};

/* tcp_flow_table.c */
sp_err	sp__tcp_table_init(struct tcp_table *t, size_t max_flows,
	    const struct sp_allocator *a);
void	sp__tcp_table_free(struct tcp_table *t, const struct sp_allocator *a);
uint64_t sp__tcp_key_hash(const struct tcp_key *k);
struct tcp_flow *sp__tcp_table_find(const struct tcp_table *t,
	    const struct tcp_key *k, uint64_t hash);
void	sp__tcp_table_insert(struct tcp_table *t, struct tcp_flow *f,
	    const struct sp_allocator *a);
void	sp__tcp_table_remove(struct tcp_table *t, struct tcp_flow *f);
void	sp__tcp_list_append(struct tcp_list *l, struct tcp_flow *f);
void	sp__tcp_list_remove(struct tcp_list *l, struct tcp_flow *f);

/* tcp_stream.c */
sp_err	sp__tcp_emit_anomaly(sp_tcp_reasm *r, struct tcp_flow *f,
	    enum sp_dir d, enum sp_anomaly a, uint64_t off,
	    const char *detail);
sp_err	sp__tcp_stream_add(sp_tcp_reasm *r, struct tcp_flow *f,
	    enum sp_dir d, uint64_t off, const uint8_t *p, size_t n);
sp_err	sp__tcp_stream_check_cut(sp_tcp_reasm *r, struct tcp_flow *f,
	    enum sp_dir d);
sp_err	sp__tcp_stream_ack_check(sp_tcp_reasm *r, struct tcp_flow *f,
	    enum sp_dir d);
sp_err	sp__tcp_stream_flush(sp_tcp_reasm *r, struct tcp_flow *f,
	    enum sp_dir d);
void	sp__tcp_stream_release(sp_tcp_reasm *r, struct tcp_flow *f,
	    enum sp_dir d);

/* The stream's end as far as gaps may reach: the FIN, if known. */
static inline uint64_t
sp__tcp_acked_limit(const struct tcp_half *h)
{
	if (h->has_fin && h->acked > h->fin_off)
		return (h->fin_off);
	return (h->acked);
}

#endif /* SP_TCP_INT_H */
