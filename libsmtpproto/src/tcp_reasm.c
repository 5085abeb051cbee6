/*
 * tcp_reasm.c - TCP reassembly: segments in, per-direction byte
 * streams out.  This file finds the flow of each segment, gives the
 * flow its roles and sequence bases, and runs its lifecycle (start,
 * FIN, RST, timeout, eviction, end of input, tombstone).  The byte
 * streams themselves are tcp_stream.c; the table is tcp_flow_table.c.
 * docs/internals/tcp.md explains the gap rules.
 */
#include "tcp_int.h"

static const uint16_t default_server_ports[] = { 25, 465, 587, 2525 };

static void
flow_destroy(sp_tcp_reasm *r, struct tcp_flow *f)
{
	sp__tcp_stream_release(r, f, SP_DIR_CLIENT);
	sp__tcp_stream_release(r, f, SP_DIR_SERVER);
	sp__free(r->alloc, f);
}

static void
list_destroy(sp_tcp_reasm *r, struct tcp_list *l)
{
	struct tcp_flow	*f, *next;

	for (f = l->head; f != NULL; f = next) {
		next = f->next;
		flow_destroy(r, f);
	}
	l->head = l->tail = NULL;
}

sp_err
sp_tcp_reasm_new(sp_tcp_reasm **out, const struct sp_limits *lim,
    const struct sp_tcp_callbacks *cb, void *ud)
{
	sp_tcp_reasm	*r;

	if (out == NULL)
		return (SP_E_INVAL);
	*out = NULL;
	if (lim == NULL)
		return (SP_E_INVAL);
	r = sp__calloc(lim->alloc, 1, sizeof(*r));
	if (r == NULL)
		return (SP_E_NOMEM);
	r->lim = *lim;
	r->alloc = lim->alloc;
	if (cb != NULL)
		r->cb = *cb;
	r->ud = ud;
	if (r->lim.tcp_flows == 0)
		r->lim.tcp_flows = 1;	/* the flow at hand must fit */
	memcpy(r->ports, default_server_ports, sizeof(default_server_ports));
	r->nports = SP_NELEM(default_server_ports);
	r->next_id = 1;
	if (sp__tcp_table_init(&r->tab, r->lim.tcp_flows, r->alloc) !=
	    SP_E_OK) {
		sp__free(r->alloc, r);
		return (SP_E_NOMEM);
	}
	*out = r;
	return (SP_E_OK);
}

void
sp_tcp_reasm_free(sp_tcp_reasm *r)
{
	if (r == NULL)
		return;
	list_destroy(r, &r->live);
	list_destroy(r, &r->dead);
	sp__tcp_table_free(&r->tab, r->alloc);
	sp__free(r->alloc, r);
}

sp_err
sp_tcp_reasm_set_server_ports(sp_tcp_reasm *r, const uint16_t *ports,
    size_t n)
{
	if (r == NULL || (n > 0 && ports == NULL))
		return (SP_E_INVAL);
	if (n > SP_NELEM(r->ports))
		return (SP_E_LIMIT);
	if (n > 0)
		memcpy(r->ports, ports, n * sizeof(*ports));
	r->nports = n;
	return (SP_E_OK);
}

void
sp_tcp_reasm_set_role_fn(sp_tcp_reasm *r, sp_tcp_role_fn fn)
{
	if (r != NULL)
		r->role_fn = fn;
}

void
sp_tcp_reasm_get_stats(const sp_tcp_reasm *r, struct sp_tcp_stats *st)
{
	if (r == NULL || st == NULL)
		return;
	*st = r->st;
}

/* Forget a flow without a word: tombstones, and eviction of them. */
static void
flow_forget(sp_tcp_reasm *r, struct tcp_flow *f)
{
	sp__tcp_table_remove(&r->tab, f);
	sp__tcp_list_remove(f->closed ? &r->dead : &r->live, f);
	flow_destroy(r, f);
}

/*
 * End a live flow: flush both directions (holes become gaps), call
 * on_flow_end, then keep a tombstone after FIN or RST (so stragglers
 * do not start a new flow) or free it.
 */
static sp_err
flow_end(sp_tcp_reasm *r, struct tcp_flow *f, enum sp_flow_end why)
{
	int	rc = 0;
	sp_err	e;

	e = sp__tcp_stream_flush(r, f, SP_DIR_CLIENT);
	if (e == SP_E_OK)
		e = sp__tcp_stream_flush(r, f, SP_DIR_SERVER);
	if (e != SP_E_OK)
		return (e);
	r->st.flows_open--;
	r->st.flows_ended[why]++;
	if (r->cb.on_flow_end != NULL)
		rc = r->cb.on_flow_end(r->ud, &f->pub, why);
	if (why == SP_FLOW_END_FIN || why == SP_FLOW_END_RST) {
		sp__tcp_stream_release(r, f, SP_DIR_CLIENT);
		sp__tcp_stream_release(r, f, SP_DIR_SERVER);
		sp__tcp_list_remove(&r->live, f);
		f->closed = 1;
		f->active = r->now;
		sp__tcp_list_append(&r->dead, f);
	} else {
		flow_forget(r, f);
	}
	if (rc != 0) {
		r->err = SP_E_CALLBACK;
		return (SP_E_CALLBACK);
	}
	return (SP_E_OK);
}

/*
 * Idle flows time out and tombstones expire.  Both lists are in order
 * of activity, so only their heads need a look: O(1) per packet plus
 * the flows that actually end.
 */
static sp_err
expire(sp_tcp_reasm *r)
{
	sp_err	e;

	while (r->dead.head != NULL &&
	    r->now - r->dead.head->active > r->lim.tcp_closed_linger)
		flow_forget(r, r->dead.head);
	while (r->live.head != NULL &&
	    r->now - r->live.head->active > r->lim.tcp_idle_timeout) {
		e = flow_end(r, r->live.head, SP_FLOW_END_TIMEOUT);
		if (e != SP_E_OK)
			return (e);
	}
	return (SP_E_OK);
}

/* Capture clocks may step back a little; ours never does. */
static sp_err
clock_to(sp_tcp_reasm *r, sp_ts ts)
{
	if (ts > r->now)
		r->now = ts;
	r->ev_ts = ts;
	return (expire(r));
}

/* Make room for one more flow: a tombstone goes first, it costs nothing. */
static sp_err
evict_one(sp_tcp_reasm *r)
{
	if (r->dead.head != NULL) {
		flow_forget(r, r->dead.head);
		return (SP_E_OK);
	}
	if (SP_NEVER(r->live.head == NULL)) {
		r->err = SP_E_INTERNAL;
		return (SP_E_INTERNAL);
	}
	return (flow_end(r, r->live.head, SP_FLOW_END_EVICTED));
}

static void
make_key(const struct sp_packet *pkt, struct tcp_key *k, int *src_is_a)
{
	size_t	alen = pkt->src.family == 6 ? 16 : 4;
	int	cmp;

	memset(k, 0, sizeof(*k));
	cmp = memcmp(pkt->src.a, pkt->dst.a, alen);
	if (cmp == 0)
		cmp = (int)pkt->sport - (int)pkt->dport;
	*src_is_a = cmp <= 0;
	memcpy(k->a, *src_is_a ? pkt->src.a : pkt->dst.a, alen);
	memcpy(k->b, *src_is_a ? pkt->dst.a : pkt->src.a, alen);
	k->pa = *src_is_a ? pkt->sport : pkt->dport;
	k->pb = *src_is_a ? pkt->dport : pkt->sport;
	k->family = pkt->src.family;
	if (pkt->nvlan > 0) {
		k->has_vlan = 1;
		k->vlan = pkt->vlan[0];
	}
}

static size_t
wire_len(const struct sp_packet *pkt)
{
	return (SP_MAX(pkt->payload_len, pkt->payload_wire_len));
}

static int
server_port(const sp_tcp_reasm *r, uint16_t port)
{
	for (size_t i = 0; i < r->nports; i++)
		if (r->ports[i] == port)
			return (1);
	return (0);
}

/* "220 ", "250-", "354\r": what an SMTP reply starts with. */
static int
looks_like_reply(const uint8_t *p, size_t n)
{
	if (p == NULL || n < 4)
		return (0);
	for (size_t i = 0; i < 3; i++)
		if (p[i] < '0' || p[i] > '9')
			return (0);
	return (p[3] == ' ' || p[3] == '-' || p[3] == '\r' || p[3] == '\n');
}

/* Roles of a flow picked up mid-stream, from its first payload. */
static int
sender_is_server(const sp_tcp_reasm *r, const struct sp_packet *pkt)
{
	int	v = -1;

	if (r->role_fn != NULL)
		v = r->role_fn(r->ud, pkt);
	if (v >= 0)
		return (v > 0);
	if (server_port(r, pkt->sport))
		return (1);
	if (server_port(r, pkt->dport))
		return (0);
	if (looks_like_reply(pkt->payload, pkt->payload_len))
		return (1);
	return (pkt->sport < pkt->dport);
}

static void
set_endpoints(struct tcp_flow *f, const struct sp_packet *pkt,
    int server_sent)
{
	struct sp_tcp_flow	*pub = &f->pub;

	pub->client = server_sent ? pkt->dst : pkt->src;
	pub->server = server_sent ? pkt->src : pkt->dst;
	pub->client_port = server_sent ? pkt->dport : pkt->sport;
	pub->server_port = server_sent ? pkt->sport : pkt->dport;
	if (pub->client.family != 6) {
		memset(pub->client.a + 4, 0, sizeof(pub->client.a) - 4);
		memset(pub->server.a + 4, 0, sizeof(pub->server.a) - 4);
	}
	pub->nvlan = SP_MIN(pkt->nvlan, (uint8_t)SP_MAX_VLAN);
	memcpy(pub->vlan, pkt->vlan, sizeof(pub->vlan));
}

/*
 * Start a flow.  A SYN makes its sender the client, a SYN-ACK its
 * sender the server (RFC 9293 3.5); anything else is a flow picked up
 * mid-stream, whose roles are guessed from this first payload.
 */
static sp_err
flow_new(sp_tcp_reasm *r, const struct sp_packet *pkt,
    const struct tcp_key *k, uint64_t hash, int src_is_a,
    struct tcp_flow **out)
{
	struct tcp_flow	*f;
	int		 hs = (pkt->flags & SP_TCP_SYN) != 0, server_sent;
	sp_err		 e;

	*out = NULL;
	while (r->tab.count >= r->lim.tcp_flows) {
		e = evict_one(r);
		if (e != SP_E_OK)
			return (e);
	}
	f = sp__calloc(r->alloc, 1, sizeof(*f));
	if (f == NULL) {
		r->err = SP_E_NOMEM;
		return (SP_E_NOMEM);
	}
	server_sent = hs ? (pkt->flags & SP_TCP_ACK) != 0 :
	    sender_is_server(r, pkt);
	f->key = *k;
	f->hash = hash;
	f->client_is_a = (uint8_t)(server_sent ? !src_is_a : src_is_a);
	f->pub.id = r->next_id++;
	f->pub.handshake = (uint8_t)hs;
	f->pub.first_ts = f->pub.last_ts = pkt->ts;
	f->active = r->now;
	set_endpoints(f, pkt, server_sent);
	sp__tcp_table_insert(&r->tab, f, r->alloc);
	sp__tcp_list_append(&r->live, f);
	r->st.flows++;
	r->st.flows_open++;
	*out = f;
	if (r->cb.on_flow_start != NULL &&
	    r->cb.on_flow_start(r->ud, &f->pub) != 0) {
		r->err = SP_E_CALLBACK;
		return (SP_E_CALLBACK);
	}
	if (hs)
		return (SP_E_OK);
	return (sp__tcp_emit_anomaly(r, f, server_sent ? SP_DIR_SERVER :
	    SP_DIR_CLIENT, SP_ANOM_TCP_MIDSTREAM, 0, NULL));
}

static void
half_start(struct tcp_half *h, uint32_t base)
{
	h->base = base;
	h->started = 1;
}

/*
 * The stream offset of seq.  Sequence numbers wrap at 2^32 (RFC 9293
 * 3.4), so seq is read as a signed 32-bit distance from the next
 * expected byte; a negative result lies before offset 0.
 */
static int64_t
unwrap(const struct tcp_half *h, uint32_t seq)
{
	uint32_t	ref = h->base + (uint32_t)h->next;

	return ((int64_t)h->next + (int32_t)(seq - ref));
}

static void
syn_step(struct tcp_flow *f, enum sp_dir d, const struct sp_packet *pkt)
{
	struct tcp_half	*h = &f->h[d], *peer = &f->h[!d];

	if (d == SP_DIR_CLIENT && !(pkt->flags & SP_TCP_ACK) && !f->syn_seen) {
		f->syn_seen = 1;
		f->syn_seq = pkt->seq;
	}
	if (!h->started)
		half_start(h, pkt->seq + 1);
	/* A SYN-ACK acknowledges the client's SYN: its base, too. */
	if ((pkt->flags & SP_TCP_ACK) && !peer->started)
		half_start(peer, pkt->ack);
}

static void
drop_bytes(sp_tcp_reasm *r, struct tcp_flow *f, enum sp_dir d, uint64_t n)
{
	f->pub.dir[d].dropped_bytes += n;
	r->st.dropped_bytes += n;
}

/*
 * Cut [*off, *off + *wire) to the part between offset 0 and the FIN;
 * the rest is dropped and reported.  *n (captured bytes) and *p follow.
 */
static sp_err
clip_to_stream(sp_tcp_reasm *r, struct tcp_flow *f, enum sp_dir d,
    int64_t *off, size_t *wire, const uint8_t **p, size_t *n)
{
	const struct tcp_half	*h = &f->h[d];
	uint64_t		 k, keep;
	sp_err			 e;

	if (*off < 0) {
		k = SP_MIN((uint64_t)-*off, (uint64_t)*wire);
		drop_bytes(r, f, d, k);
		*wire -= (size_t)k;
		*p += SP_MIN(*n, (size_t)k);
		*n -= SP_MIN(*n, (size_t)k);
		*off = 0;
		e = sp__tcp_emit_anomaly(r, f, d, SP_ANOM_TCP_BEFORE_START,
		    0, NULL);
		if (e != SP_E_OK)
			return (e);
	}
	if (!h->has_fin || (uint64_t)*off + *wire <= h->fin_off)
		return (SP_E_OK);
	keep = (uint64_t)*off >= h->fin_off ? 0 : h->fin_off - (uint64_t)*off;
	drop_bytes(r, f, d, *wire - keep);
	*wire = (size_t)keep;
	*n = SP_MIN(*n, (size_t)keep);
	return (sp__tcp_emit_anomaly(r, f, d, SP_ANOM_TCP_DATA_AFTER_CLOSE,
	    SP_MAX((uint64_t)*off, h->fin_off), NULL));
}

/*
 * An "any" capture sees a segment once per interface it crosses (a
 * bridge and its port, a VLAN device and its parent), microseconds
 * apart.  Such an echo repeats bytes but nothing was retransmitted, so
 * it is counted as repeated bytes without raising an anomaly.  A real
 * retransmission waits for a timeout or duplicate ACKs (RFC 6298,
 * RFC 5681), far longer than ECHO_WINDOW.
 */
#define ECHO_WINDOW	(SP_TS_PER_SEC / 10000)		/* 100 us */

static int
is_echo(struct tcp_half *h, const struct sp_packet *pkt, size_t wire)
{
	sp_ts	dt = pkt->ts >= h->last_ts ? pkt->ts - h->last_ts :
		    h->last_ts - pkt->ts;
	int	echo = h->last_len != 0 && h->last_seq == pkt->seq &&
		    h->last_len == wire && dt < ECHO_WINDOW;

	h->last_ts = pkt->ts;
	h->last_seq = pkt->seq;
	h->last_len = wire;
	return (echo);
}

static sp_err
payload_step(sp_tcp_reasm *r, struct tcp_flow *f, enum sp_dir d,
    const struct sp_packet *pkt)
{
	struct tcp_half	*h = &f->h[d];
	const uint8_t	*p = pkt->payload;
	size_t		 n = pkt->payload_len, wire = wire_len(pkt);
	uint32_t	 seq = pkt->seq + ((pkt->flags & SP_TCP_SYN) ? 1 : 0);
	int64_t		 off;
	sp_err		 e;

	if (wire == 0)
		return (SP_E_OK);
	if (is_echo(h, pkt, wire)) {
		f->pub.dir[d].dup_bytes += wire;
		r->st.dup_bytes += wire;
		return (SP_E_OK);
	}
	if (!h->started)
		half_start(h, seq);	/* offset 0: the first byte seen */
	off = unwrap(h, seq);
	e = clip_to_stream(r, f, d, &off, &wire, &p, &n);
	if (e != SP_E_OK || wire == 0)
		return (e);
	e = sp__tcp_stream_add(r, f, d, (uint64_t)off, p, n);
	if (e == SP_E_OK)
		e = sp__tcp_stream_check_cut(r, f, d);
	if (e != SP_E_OK || wire == n)
		return (e);
	h->cut_lo = (uint64_t)off + n;
	h->cut_hi = (uint64_t)off + wire;
	return (sp__tcp_stream_check_cut(r, f, d));
}

static sp_err
fin_step(sp_tcp_reasm *r, struct tcp_flow *f, enum sp_dir d,
    const struct sp_packet *pkt)
{
	struct tcp_half	*h = &f->h[d];
	uint32_t	 seq = pkt->seq + ((pkt->flags & SP_TCP_SYN) ? 1 : 0);
	int64_t		 off;

	if (!h->started)
		half_start(h, seq);
	off = unwrap(h, seq) + (int64_t)wire_len(pkt);
	if (off < 0 || h->has_fin)
		return (SP_E_OK);	/* a stray or repeated FIN */
	h->has_fin = 1;
	h->fin_off = (uint64_t)off;
	f->pub.dir[d].fin = 1;
	return (sp__tcp_stream_check_cut(r, f, d));
}

/* The peer's cumulative ACK (RFC 9293 3.4) tells how far d has sent. */
static void
ack_step(struct tcp_flow *f, enum sp_dir d, const struct sp_packet *pkt)
{
	struct tcp_half	*h = &f->h[!d];
	int32_t		 ahead;

	if (!h->started)
		return;
	ahead = (int32_t)(pkt->ack - (h->base + (uint32_t)h->next));
	if (ahead > 0 && h->next + (uint64_t)ahead > h->acked)
		h->acked = h->next + (uint64_t)ahead;
}

/* All data up to the FIN is in, or the peer acked the FIN. */
static int
half_done(const struct tcp_half *h)
{
	return (h->has_fin && (h->next >= h->fin_off || h->acked > h->fin_off));
}

static void
touch(sp_tcp_reasm *r, struct tcp_flow *f, enum sp_dir d,
    const struct sp_packet *pkt)
{
	f->npkts++;
	f->pub.dir[d].packets++;
	f->pub.last_ts = pkt->ts;
	f->active = r->now;
	if (r->live.tail != f) {
		sp__tcp_list_remove(&r->live, f);
		sp__tcp_list_append(&r->live, f);
	}
}

static enum sp_dir
dir_of(const struct tcp_flow *f, int src_is_a)
{
	return (src_is_a == f->client_is_a ? SP_DIR_CLIENT : SP_DIR_SERVER);
}

static sp_err
flow_packet(sp_tcp_reasm *r, struct tcp_flow *f, const struct sp_packet *pkt,
    int src_is_a)
{
	enum sp_dir	d = dir_of(f, src_is_a);
	sp_err		e;

	touch(r, f, d, pkt);
	if (pkt->flags & SP_TCP_RST) {
		f->pub.dir[d].rst = 1;
		return (flow_end(r, f, SP_FLOW_END_RST));
	}
	if (pkt->flags & SP_TCP_SYN)
		syn_step(f, d, pkt);
	e = payload_step(r, f, d, pkt);
	if (e == SP_E_OK && (pkt->flags & SP_TCP_FIN))
		e = fin_step(r, f, d, pkt);
	if (e != SP_E_OK)
		return (e);
	if (pkt->flags & SP_TCP_ACK)
		ack_step(f, d, pkt);
	e = sp__tcp_stream_ack_check(r, f, SP_DIR_CLIENT);
	if (e == SP_E_OK)
		e = sp__tcp_stream_ack_check(r, f, SP_DIR_SERVER);
	if (e != SP_E_OK)
		return (e);
	if (half_done(&f->h[SP_DIR_CLIENT]) && half_done(&f->h[SP_DIR_SERVER]))
		return (flow_end(r, f, SP_FLOW_END_FIN));
	return (SP_E_OK);
}

/*
 * A segment of a flow that has ended.  Tombstones call no callbacks
 * (on_flow_end was the flow's last event), so late data is only
 * counted.
 */
static void
tombstone_packet(sp_tcp_reasm *r, const struct sp_packet *pkt)
{
	if (wire_len(pkt) == 0 || (pkt->flags & SP_TCP_RST))
		return;
	r->st.dropped_bytes += wire_len(pkt);
	r->st.anomalies[SP_ANOM_TCP_DATA_AFTER_CLOSE]++;
}

/* A new SYN (not the old one again) reuses a closed flow's ports. */
static int
reopens(const struct tcp_flow *f, const struct sp_packet *pkt)
{
	if ((pkt->flags & (SP_TCP_SYN | SP_TCP_ACK | SP_TCP_RST)) !=
	    SP_TCP_SYN)
		return (0);
	return (!f->syn_seen || pkt->seq != f->syn_seq);
}

/*
 * A SYN with a new initial sequence number on a live flow: the ports
 * were reused for a new connection while the old one still looked open
 * (its FIN or RST was lost, or a hole kept it from closing).  A SYN
 * repeating the one that started the flow is just a retransmission.
 */
static int
restarts(const struct tcp_flow *f, const struct sp_packet *pkt, int src_is_a)
{
	const struct tcp_half	*h = &f->h[dir_of(f, src_is_a)];

	if ((pkt->flags & (SP_TCP_SYN | SP_TCP_ACK | SP_TCP_RST)) !=
	    SP_TCP_SYN)
		return (0);
	if (!h->started || pkt->seq + 1 == h->base)
		return (0);
	return (!f->syn_seen || pkt->seq != f->syn_seq);
}

/*
 * End the old connection on reused ports: as closed if both sides had
 * sent their FIN, else as pushed out of the table (EVICTED), which is
 * what happens to it: the key now belongs to the new connection.
 */
static sp_err
end_reused(sp_tcp_reasm *r, struct tcp_flow *f)
{
	if (f->h[SP_DIR_CLIENT].has_fin && f->h[SP_DIR_SERVER].has_fin)
		return (flow_end(r, f, SP_FLOW_END_FIN));
	return (flow_end(r, f, SP_FLOW_END_EVICTED));
}

/* Only a SYN or payload starts a flow; bare ACK, FIN, RST do not. */
static int
starts_flow(const struct sp_packet *pkt)
{
	if (pkt->flags & SP_TCP_RST)
		return (0);
	return ((pkt->flags & SP_TCP_SYN) || wire_len(pkt) > 0);
}

sp_err
sp_tcp_reasm_packet(sp_tcp_reasm *r, const struct sp_packet *pkt)
{
	struct tcp_key	 k;
	struct tcp_flow	*f;
	uint64_t	 hash;
	int		 src_is_a;
	sp_err		 e;

	if (r == NULL || pkt == NULL)
		return (SP_E_INVAL);
	if (r->err != SP_E_OK)
		return (r->err);
	r->st.packets++;
	e = clock_to(r, pkt->ts);
	if (e != SP_E_OK)
		return (e);
	make_key(pkt, &k, &src_is_a);
	hash = sp__tcp_key_hash(&k);
	f = sp__tcp_table_find(&r->tab, &k, hash);
	if (f != NULL && !f->closed && restarts(f, pkt, src_is_a)) {
		e = end_reused(r, f);
		if (e != SP_E_OK)
			return (e);
		f = sp__tcp_table_find(&r->tab, &k, hash);	/* tombstone? */
	}
	if (f != NULL && f->closed) {
		if (!reopens(f, pkt)) {
			tombstone_packet(r, pkt);
			return (SP_E_OK);
		}
		flow_forget(r, f);
		f = NULL;
	}
	if (f == NULL) {
		if (!starts_flow(pkt))
			return (SP_E_OK);
		e = flow_new(r, pkt, &k, hash, src_is_a, &f);
		if (e != SP_E_OK)
			return (e);
	}
	return (flow_packet(r, f, pkt, src_is_a));
}

sp_err
sp_tcp_reasm_advance(sp_tcp_reasm *r, sp_ts now)
{
	if (r == NULL)
		return (SP_E_INVAL);
	if (r->err != SP_E_OK)
		return (r->err);
	return (clock_to(r, now));
}

sp_err
sp_tcp_reasm_finish(sp_tcp_reasm *r)
{
	sp_err	e;

	if (r == NULL)
		return (SP_E_INVAL);
	if (r->err != SP_E_OK)
		return (r->err);
	while (r->live.head != NULL) {
		r->ev_ts = r->live.head->pub.last_ts;
		e = flow_end(r, r->live.head, SP_FLOW_END_EOF);
		if (e != SP_E_OK)
			return (e);
	}
	return (SP_E_OK);
}
