/*
 * tcp_stream.c - one direction of a flow as a byte stream.
 *
 * Bytes at the next expected offset go straight from the packet to
 * on_data (the fast path copies nothing but the retain ring).  Bytes
 * beyond it wait in a sorted list of segments, bounded per flow and in
 * all, until the hole fills or a rule declares it a gap.  Bytes below
 * it are retransmissions: counted, and compared with the last
 * tcp_retain bytes delivered.  Where two copies of a byte differ the
 * first one seen wins (it is the one already buffered or delivered),
 * and the disagreement is reported, since it is how TCP-level evasion
 * looks (Ptacek and Newsham, 1998).
 */
#include <inttypes.h>
#include <stdio.h>

#include "tcp_int.h"

/* What comparing one segment with earlier copies found. */
struct overlap {
	uint64_t	diff_lo, diff_hi;	/* differing bytes, [lo, hi) */
	uint64_t	dup_off;		/* first repeated byte */
	uint64_t	dup;			/* bytes repeated */
};

static sp_err
callback_failed(sp_tcp_reasm *r)
{
	r->err = SP_E_CALLBACK;
	return (SP_E_CALLBACK);
}

static sp_err
out_of_memory(sp_tcp_reasm *r)
{
	r->err = SP_E_NOMEM;
	return (SP_E_NOMEM);
}

sp_err
sp__tcp_emit_anomaly(sp_tcp_reasm *r, struct tcp_flow *f, enum sp_dir d,
    enum sp_anomaly a, uint64_t off, const char *detail)
{
	r->st.anomalies[a]++;
	if (r->cb.on_anomaly != NULL &&
	    r->cb.on_anomaly(r->ud, &f->pub, d, a, off, detail) != 0)
		return (callback_failed(r));
	return (SP_E_OK);
}

/* Note where copies a (earlier) and b (new) of bytes at off differ. */
static void
overlap_compare(struct overlap *o, const uint8_t *a, const uint8_t *b,
    size_t n, uint64_t off)
{
	size_t	first, last;

	if (n == 0 || memcmp(a, b, n) == 0)
		return;
	for (first = 0; a[first] == b[first]; first++)
		continue;
	for (last = n - 1; a[last] == b[last]; last--)
		continue;
	o->diff_lo = SP_MIN(o->diff_lo, off + first);
	o->diff_hi = SP_MAX(o->diff_hi, off + last + 1);
}

static void
overlap_dup(struct overlap *o, uint64_t off, uint64_t n)
{
	if (o->dup == 0)
		o->dup_off = off;
	o->dup += n;
}

/*
 * The ring starts small and doubles up to tcp_retain while the stream
 * is young: a capture may hold many thousands of flows that exchange a
 * few lines each, and a full ring for each would cost more than the
 * rest of the flow.  A byte at stream offset o sits at o % ring_cap,
 * so growing re-lays what is kept.
 */
/*
 * Copy stream bytes [lo, hi) from a ring of cap bytes to one of ncap:
 * in runs where neither ring wraps (at most four, as hi - lo <= cap),
 * not byte by byte with two divisions each.
 */
static void
ring_relay(uint8_t *dst, size_t ncap, const uint8_t *src, size_t cap,
    uint64_t lo, uint64_t hi)
{
	while (lo < hi) {
		size_t	s = (size_t)(lo % cap), d = (size_t)(lo % ncap);
		size_t	k = SP_MIN(cap - s, ncap - d);

		if (k > hi - lo)
			k = (size_t)(hi - lo);
		memcpy(dst + d, src + s, k);
		lo += k;
	}
}

static sp_err
ring_grow(sp_tcp_reasm *r, struct tcp_half *h, uint64_t end)
{
	size_t	 cap = h->ring_cap, ncap = cap != 0 ? cap : 256;
	uint8_t	*n;

	if (cap == r->lim.tcp_retain || (h->ring != NULL &&
	    end - h->ring_lo <= cap))
		return (SP_E_OK);
	while (ncap < r->lim.tcp_retain && ncap < end - h->ring_lo)
		ncap *= 2;
	ncap = SP_MIN(ncap, r->lim.tcp_retain);
	if ((n = sp__malloc(r->alloc, ncap)) == NULL)
		return (out_of_memory(r));
	/* While growing the ring holds everything since ring_lo. */
	if (h->ring != NULL)
		ring_relay(n, ncap, h->ring, cap, h->ring_lo, h->next);
	sp__free(r->alloc, h->ring);
	h->ring = n;
	h->ring_cap = ncap;
	return (SP_E_OK);
}

/*
 * Keep the last tcp_retain delivered bytes, so that a retransmission
 * of delivered data can still be checked.
 */
static sp_err
ring_store(sp_tcp_reasm *r, struct tcp_half *h, const uint8_t *p,
    size_t n)
{
	size_t		cap, pos, k;
	uint64_t	off = h->next, end = h->next + n;
	sp_err		e;

	if (r->lim.tcp_retain == 0)
		return (SP_E_OK);
	if ((e = ring_grow(r, h, end)) != SP_E_OK)
		return (e);
	cap = h->ring_cap;
	if (n > cap) {
		off += n - cap;
		p += n - cap;
		n = cap;
	}
	pos = (size_t)(off % cap);
	k = SP_MIN(n, cap - pos);
	memcpy(h->ring + pos, p, k);
	memcpy(h->ring, p + k, n - k);
	if (end - h->ring_lo > cap)
		h->ring_lo = end - cap;
	return (SP_E_OK);
}

/* Compare bytes at [off, off + n), all below next, with the ring. */
static void
ring_compare(const sp_tcp_reasm *r, const struct tcp_half *h,
    struct overlap *o, uint64_t off, const uint8_t *p, size_t n)
{
	size_t	cap = h->ring_cap, pos, k;

	(void)r;
	if (h->ring == NULL || off + n <= h->ring_lo)
		return;
	if (off < h->ring_lo) {
		p += h->ring_lo - off;
		n -= (size_t)(h->ring_lo - off);
		off = h->ring_lo;
	}
	pos = (size_t)(off % cap);
	k = SP_MIN(n, cap - pos);
	overlap_compare(o, h->ring + pos, p, k, off);
	overlap_compare(o, h->ring, p + k, n - k, off + k);
}

static sp_err
deliver(sp_tcp_reasm *r, struct tcp_flow *f, enum sp_dir d,
    const uint8_t *p, size_t n)
{
	struct tcp_half	*h = &f->h[d];
	uint64_t	 off = h->next;
	sp_err		 e;

	e = ring_store(r, h, p, n);
	if (e != SP_E_OK)
		return (e);
	h->next += n;
	h->in_retrans = 0;
	f->pub.dir[d].bytes += n;
	r->st.bytes += n;
	if (r->cb.on_data != NULL &&
	    r->cb.on_data(r->ud, &f->pub, d, off, p, n, r->ev_ts) != 0)
		return (callback_failed(r));
	return (SP_E_OK);
}

/* Declare the next n bytes missing. */
static sp_err
gap(sp_tcp_reasm *r, struct tcp_flow *f, enum sp_dir d, uint64_t n)
{
	struct tcp_half	*h = &f->h[d];
	uint64_t	 off = h->next;

	h->next += n;
	h->ring_lo = h->next;		/* the ring cannot span a gap */
	f->pub.dir[d].gaps++;
	f->pub.dir[d].gap_bytes += n;
	r->st.gaps++;
	r->st.gap_bytes += n;
	if (r->cb.on_gap != NULL &&
	    r->cb.on_gap(r->ud, &f->pub, d, off, n, r->ev_ts) != 0)
		return (callback_failed(r));
	return (sp__tcp_emit_anomaly(r, f, d, SP_ANOM_TCP_GAP, off, NULL));
}

static void
seg_unlink(sp_tcp_reasm *r, struct tcp_flow *f, struct tcp_seg **pp)
{
	struct tcp_seg	*s = *pp;

	*pp = s->next;
	f->buffered -= s->len;
	r->st.buffered -= s->len;
}

/* Deliver the buffered segments that now start at next. */
static sp_err
drain(sp_tcp_reasm *r, struct tcp_flow *f, enum sp_dir d)
{
	struct tcp_half	*h = &f->h[d];
	struct tcp_seg	*s;
	uint64_t	 skip;
	sp_err		 e = SP_E_OK;

	while (e == SP_E_OK && h->segs != NULL && h->segs->off <= h->next) {
		s = h->segs;
		seg_unlink(r, f, &h->segs);
		/* Segments start after next; be safe if one does not. */
		skip = h->next - s->off;
		if (!SP_NEVER(skip >= s->len))
			e = deliver(r, f, d, s->data + skip,
			    s->len - (size_t)skip);
		sp__free(r->alloc, s);
	}
	return (e);
}

/* Declare a gap up to target (if it is ahead), then drain. */
static sp_err
gap_to(sp_tcp_reasm *r, struct tcp_flow *f, enum sp_dir d, uint64_t target)
{
	struct tcp_half	*h = &f->h[d];
	sp_err		 e;

	if (target > h->next) {
		e = gap(r, f, d, target - h->next);
		if (e != SP_E_OK)
			return (e);
	}
	return (drain(r, f, d));
}

/*
 * Where the hole at h->next ends when nothing beyond limit counts: at
 * limit, or at the first buffered segment if that starts lower.
 */
static uint64_t
hole_end(const struct tcp_half *h, uint64_t limit)
{
	if (h->segs != NULL && h->segs->off < limit)
		return (h->segs->off);
	return (limit);
}

/* Close every hole below target: data there is not coming. */
static sp_err
gap_below(sp_tcp_reasm *r, struct tcp_flow *f, enum sp_dir d,
    uint64_t target)
{
	struct tcp_half	*h = &f->h[d];
	uint64_t	 t;
	sp_err		 e;

	while (h->next < target) {
		t = hole_end(h, target);
		/*
		 * A segment at next is data held back while the other
		 * side has a hole of its own (sp__tcp_stream_add): there
		 * is no hole here to declare; it drains with that side.
		 */
		if (t <= h->next)
			break;
		e = gap_to(r, f, d, t);
		if (e != SP_E_OK)
			return (e);
	}
	return (SP_E_OK);
}

/* Bytes of [off, off + n) that no buffered segment holds yet. */
static uint64_t
uncovered(const struct tcp_half *h, uint64_t off, size_t n)
{
	const struct tcp_seg	*s;
	uint64_t		 c = off, end = off + n, need = 0;

	for (s = h->segs; s != NULL && c < end; s = s->next) {
		if (s->off + s->len <= c)
			continue;
		if (s->off >= end)
			break;
		if (s->off > c)
			need += s->off - c;
		c = s->off + s->len;
	}
	if (c < end)
		need += end - c;
	return (need);
}

/*
 * Make room to buffer [off, off + n) within tcp_flow_buffer and
 * tcp_total_buffer.  When it does not fit, the first hole is declared
 * a gap and what follows it delivered, until it fits or the segment
 * itself is next in line (then it needs no buffer at all).
 */
static sp_err
make_room(sp_tcp_reasm *r, struct tcp_flow *f, enum sp_dir d,
    uint64_t off, size_t n)
{
	struct tcp_half	*h = &f->h[d];
	uint64_t	 need;
	int		 said = 0;
	sp_err		 e;

	while (off > h->next) {
		need = uncovered(h, off, n);
		if (need <= r->lim.tcp_flow_buffer - f->buffered &&
		    need <= r->lim.tcp_total_buffer - r->st.buffered)
			return (SP_E_OK);
		if (!said) {
			said = 1;
			e = sp__tcp_emit_anomaly(r, f, d,
			    SP_ANOM_TCP_FLOW_BUFFER_FULL, h->next, NULL);
			if (e != SP_E_OK)
				return (e);
		}
		e = gap_to(r, f, d, hole_end(h, off));
		if (e != SP_E_OK)
			return (e);
	}
	return (SP_E_OK);
}

/* Drop the part of [*off, *off + *n) below next, checking it. */
static void
trim_delivered(const sp_tcp_reasm *r, const struct tcp_half *h,
    struct overlap *o, uint64_t *off, const uint8_t **p, size_t *n)
{
	size_t	k;

	if (*off >= h->next || *n == 0)
		return;
	k = (size_t)SP_MIN((uint64_t)*n, h->next - *off);
	ring_compare(r, h, o, *off, *p, k);
	overlap_dup(o, *off, k);
	*off += k;
	*p += k;
	*n -= k;
}

/*
 * The segment starts at next: deliver its new bytes from the packet,
 * interleaved with the buffered segments it runs into (their bytes
 * came first, so they are the ones delivered).
 */
static sp_err
merge_in_order(sp_tcp_reasm *r, struct tcp_flow *f, enum sp_dir d,
    struct overlap *o, uint64_t off, const uint8_t *p, size_t n)
{
	struct tcp_half	*h = &f->h[d];
	struct tcp_seg	*s;
	size_t		 k;
	sp_err		 e;

	for (;;) {
		trim_delivered(r, h, o, &off, &p, &n);
		if (n == 0)
			return (SP_E_OK);
		s = h->segs;
		SP_ASSERT(off == h->next && (s == NULL || s->off > off));
		k = n;
		if (s != NULL && s->off - off < k)
			k = (size_t)(s->off - off);
		e = deliver(r, f, d, p, k);
		if (e != SP_E_OK)
			return (e);
		off += k, p += k, n -= k;
		if (s == NULL || s->off != h->next)
			continue;
		k = SP_MIN(n, s->len);
		overlap_compare(o, s->data, p, k, off);
		overlap_dup(o, off, k);
		off += k, p += k, n -= k;
		e = drain(r, f, d);
		if (e != SP_E_OK)
			return (e);
	}
}

static sp_err
seg_insert(sp_tcp_reasm *r, struct tcp_flow *f, struct tcp_seg **pp,
    uint64_t off, const uint8_t *p, size_t n)
{
	struct tcp_seg	*s;

	if (n > SIZE_MAX - sizeof(*s))
		return (out_of_memory(r));
	s = sp__malloc(r->alloc, sizeof(*s) + n);
	if (s == NULL)
		return (out_of_memory(r));
	s->off = off;
	s->len = n;
	memcpy(s->data, p, n);
	s->next = *pp;
	*pp = s;
	f->buffered += n;
	r->st.buffered += n;
	r->st.buffered_peak = SP_MAX(r->st.buffered_peak, r->st.buffered);
	return (SP_E_OK);
}

/* The segment starts beyond next: buffer the bytes not held yet. */
static sp_err
merge_out_of_order(sp_tcp_reasm *r, struct tcp_flow *f, enum sp_dir d,
    struct overlap *o, uint64_t off, const uint8_t *p, size_t n)
{
	struct tcp_seg	**pp = &f->h[d].segs, *s;
	uint64_t	  end = off + n, k;
	sp_err		  e;

	while (off < end) {
		while (*pp != NULL && (*pp)->off + (*pp)->len <= off)
			pp = &(*pp)->next;
		s = *pp;
		if (s != NULL && s->off <= off) {
			k = SP_MIN(end, s->off + s->len) - off;
			overlap_compare(o, s->data + (off - s->off), p,
			    (size_t)k, off);
			overlap_dup(o, off, k);
		} else {
			k = (s != NULL && s->off < end ? s->off : end) - off;
			e = seg_insert(r, f, pp, off, p, (size_t)k);
			if (e != SP_E_OK)
				return (e);
			pp = &(*pp)->next;
		}
		off += k;
		p += k;
	}
	return (SP_E_OK);
}

/* Count repeated bytes and raise what the comparisons found. */
static sp_err
overlap_report(sp_tcp_reasm *r, struct tcp_flow *f, enum sp_dir d,
    const struct overlap *o)
{
	struct tcp_half	*h = &f->h[d];
	char		 detail[96];
	sp_err		 e;

	if (o->dup > 0) {
		f->pub.dir[d].dup_bytes += o->dup;
		r->st.dup_bytes += o->dup;
	}
	if (o->dup > 0 && !h->in_retrans) {
		h->in_retrans = 1;	/* once per burst, until new data */
		e = sp__tcp_emit_anomaly(r, f, d, SP_ANOM_TCP_RETRANSMISSION,
		    o->dup_off, NULL);
		if (e != SP_E_OK)
			return (e);
	}
	if (o->diff_lo >= o->diff_hi)
		return (SP_E_OK);
	snprintf(detail, sizeof(detail), "offsets %" PRIu64 "-%" PRIu64
	    " differ; first data kept", o->diff_lo, o->diff_hi);
	return (sp__tcp_emit_anomaly(r, f, d, SP_ANOM_TCP_OVERLAP_CONFLICT,
	    o->diff_lo, detail));
}

/*
 * Add the captured bytes of a segment at stream offset off.  The
 * caller has already dropped bytes before offset 0 or after the FIN.
 */
sp_err
sp__tcp_stream_add(sp_tcp_reasm *r, struct tcp_flow *f, enum sp_dir d,
    uint64_t off, const uint8_t *p, size_t n)
{
	struct tcp_half	*h = &f->h[d];
	struct overlap	 o = { UINT64_MAX, 0, 0, 0 };
	int		 held;
	sp_err		 e = SP_E_OK;

	if (n == 0)
		return (SP_E_OK);
	/*
	 * Direction d has acknowledged bytes of the other direction that
	 * are not in yet (a hole in grace, sp__tcp_stream_ack_check):
	 * what d sends now answers them, so it waits, buffered, until
	 * the hole fills or is declared a gap.  Delivered at once, a
	 * server reply would reach the parser before the command it
	 * answers.  Only within the buffer limits; past them d's data
	 * flows in capture order as before.
	 */
	held = f->h[!d].grace_on &&
	    n <= r->lim.tcp_flow_buffer - f->buffered &&
	    n <= r->lim.tcp_total_buffer - r->st.buffered;
	if (!held && h->segs != NULL && h->segs->off <= h->next &&
	    (e = drain(r, f, d)) != SP_E_OK)
		return (e);
	if (off == h->next && h->segs == NULL && !held)
		return (deliver(r, f, d, p, n));	/* the fast path */
	trim_delivered(r, h, &o, &off, &p, &n);
	if (n > 0 && off > h->next) {
		e = make_room(r, f, d, off, n);
		trim_delivered(r, h, &o, &off, &p, &n);
	}
	if (e == SP_E_OK && n > 0 && off == h->next && !held)
		e = merge_in_order(r, f, d, &o, off, p, n);
	else if (e == SP_E_OK && n > 0)
		e = merge_out_of_order(r, f, d, &o, off, p, n);
	if (e != SP_E_OK)
		return (e);
	return (overlap_report(r, f, d, &o));
}

/*
 * Bytes the snap length cut off were on the wire but are not in the
 * capture: no reordering will bring them, so once anything is known
 * beyond them (buffered data or the FIN) they are a gap at once.  A
 * retransmission that arrives before that still fills them.
 */
sp_err
sp__tcp_stream_check_cut(sp_tcp_reasm *r, struct tcp_flow *f, enum sp_dir d)
{
	struct tcp_half	*h = &f->h[d];
	sp_err		 e;

	while (h->next >= h->cut_lo && h->next < h->cut_hi) {
		/* The peer's ACK past next is news from beyond, too. */
		if (h->segs == NULL && !(h->has_fin && h->fin_off > h->next) &&
		    sp__tcp_acked_limit(h) <= h->next)
			return (SP_E_OK);
		e = gap_to(r, f, d, hole_end(h, h->cut_hi));
		if (e != SP_E_OK)
			return (e);
	}
	return (SP_E_OK);
}

/*
 * Whether buffered segments hold every byte from next up to end: then
 * the peer acknowledged no hole, only bytes held back (see
 * sp__tcp_stream_add), and waiting for them would hold both sides.
 */
static int
buffered_to(const struct tcp_half *h, uint64_t end)
{
	uint64_t		 pos = h->next;
	const struct tcp_seg	*s;

	for (s = h->segs; s != NULL && pos < end; s = s->next) {
		if (s->off > pos)
			break;
		pos = SP_MAX(pos, s->off + s->len);
	}
	return (pos >= end);
}

/*
 * Rule (c) of docs/internals/tcp.md: the peer acknowledged bytes we
 * have not seen.  Captures reorder (an "any" capture merges interfaces
 * out of order), so the hole gets tcp_gap_ack_packets more packets of
 * the flow to fill; then everything below what the peer had acked when
 * the wait began is declared missing.
 */
sp_err
sp__tcp_stream_ack_check(sp_tcp_reasm *r, struct tcp_flow *f, enum sp_dir d)
{
	struct tcp_half	*h = &f->h[d];
	uint64_t	 acked;
	sp_err		 e;

	/* Cut bytes are not coming: no grace, nothing held for them. */
	if ((e = sp__tcp_stream_check_cut(r, f, d)) != SP_E_OK)
		return (e);
	acked = sp__tcp_acked_limit(h);
	if (acked <= h->next || buffered_to(h, acked)) {
		h->grace_on = 0;
		return (drain(r, f, !d));	/* what the peer held back */
	}
	if (!h->grace_on || h->next >= h->grace_ack) {
		h->grace_on = 1;
		h->grace_ack = acked;
		h->grace_since = f->npkts;
	}
	if (f->npkts - h->grace_since < r->lim.tcp_gap_ack_packets)
		return (SP_E_OK);
	h->grace_on = 0;
	e = gap_below(r, f, d, h->grace_ack);
	if (e != SP_E_OK)
		return (e);
	if (sp__tcp_acked_limit(h) > h->next) {
		h->grace_on = 1;
		h->grace_ack = sp__tcp_acked_limit(h);
		h->grace_since = f->npkts;
		return (SP_E_OK);
	}
	return (drain(r, f, !d));
}

/*
 * The flow ends: deliver what is buffered, and declare missing every
 * hole before it and every byte up to the FIN, the peer's ACK or the
 * end of a cut segment, whichever reaches furthest.
 */
sp_err
sp__tcp_stream_flush(sp_tcp_reasm *r, struct tcp_flow *f, enum sp_dir d)
{
	struct tcp_half	*h = &f->h[d];
	uint64_t	 end;
	sp_err		 e;

	while (h->segs != NULL) {
		e = gap_to(r, f, d, h->segs->off);
		if (e != SP_E_OK)
			return (e);
	}
	end = SP_MAX(sp__tcp_acked_limit(h), h->cut_hi);
	if (h->has_fin)
		end = SP_MAX(end, h->fin_off);
	if (end > h->next)
		return (gap(r, f, d, end - h->next));
	return (SP_E_OK);
}

/* Free the direction's memory, calling nothing. */
void
sp__tcp_stream_release(sp_tcp_reasm *r, struct tcp_flow *f, enum sp_dir d)
{
	struct tcp_half	*h = &f->h[d];
	struct tcp_seg	*s;

	while (h->segs != NULL) {
		s = h->segs;
		seg_unlink(r, f, &h->segs);
		sp__free(r->alloc, s);
	}
	sp__free(r->alloc, h->ring);
	h->ring = NULL;
	h->ring_cap = 0;
}
