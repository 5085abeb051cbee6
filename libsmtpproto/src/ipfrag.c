/*
 * ipfrag.c - IPv4 fragment reassembly (RFC 791 3.2, "reassembly"),
 * within explicit caps and driven by the caller's timestamps.
 *
 * Each datagram being rebuilt owns one buffer for its payload, with
 * room for the IPv4 header in front, and a bitmap of the 8-byte units
 * received (fragment offsets count in 8-byte units, RFC 791 3.1, and
 * every fragment but the last carries a multiple of 8 bytes).
 *
 * Policy, chosen to match the TCP layer:
 *  - overlapping fragments: the first data wins; different bytes in
 *    the overlap raise SP_ANOM_IP_FRAG_OVERLAP (the classic evasion,
 *    RFC 1858 and Ptacek-Newsham 1998);
 *  - a datagram that would take the held bytes past ip_frag_bytes, or
 *    a new one past ip_frag_datagrams, is dropped with
 *    SP_ANOM_IP_FRAG_LIMIT.  A dropped datagram stays as a tombstone
 *    holding no data until it times out, so its later fragments are
 *    absorbed instead of starting a datagram that can never complete;
 *  - a datagram still incomplete ip_frag_timeout after its first
 *    fragment is dropped with SP_ANOM_IP_FRAG_TIMEOUT.
 * bytes_held counts the payload buffers; the per-datagram bookkeeping
 * (about 1.1 KiB each) is bounded by ip_frag_datagrams.
 */
#include "internal.h"

#define IPV4_MAX_HDR	60
#define IPV4_MAX_TOTAL	65535			/* 16-bit total length */
#define MAX_PAYLOAD	(IPV4_MAX_TOTAL - 20)
#define UNIT		8
#define NUNITS		((MAX_PAYLOAD + UNIT - 1) / UNIT)
#define IP_MF		0x2000
#define IP_DF		0x4000
#define IP_OFFMASK	0x1fff

struct frag_key {
	struct sp_addr	src, dst;
	uint16_t	id;
	uint8_t		proto;
	uint8_t		nvlan;
	uint16_t	vlan[SP_MAX_VLAN];
};

/* One fragment, parsed. */
struct frag {
	const uint8_t	*hdr;
	size_t		 hl;
	const uint8_t	*data;
	size_t		 off, len;
	int		 last;
};

struct dgram {
	struct dgram	*hnext;			/* hash chain */
	struct dgram	*older, *newer;		/* age list */
	struct frag_key	 key;
	sp_ts		 first_ts;
	uint8_t		*buf;			/* headroom, then payload */
	size_t		 buf_size;		/* allocated */
	size_t		 maxend;		/* highest payload end seen */
	size_t		 total;			/* payload size, once known */
	size_t		 units_have;
	int		 have_last;
	int		 dropped;		/* tombstone */
	size_t		 hl;			/* 0 until offset 0 is seen */
	uint8_t		 hdr[IPV4_MAX_HDR];
	uint8_t		 map[(NUNITS + 7) / 8];
};

struct sp_ipfrag {
	const struct sp_allocator *alloc;
	size_t		 max_bytes;
	size_t		 max_dgrams;
	sp_ts		 timeout;
	struct dgram	**bucket;
	size_t		 nbucket;		/* a power of two */
	struct dgram	*oldest, *newest;
	size_t		 ndgrams;
	uint8_t		*done;			/* last datagram handed out */
	struct sp_ipfrag_stats st;
};

sp_err
sp_ipfrag_new(sp_ipfrag **out, const struct sp_limits *lim)
{
	sp_ipfrag	*f;
	size_t		 n = 16;

	*out = NULL;
	if (lim == NULL)
		return (SP_E_INVAL);
	while (n < lim->ip_frag_datagrams && n < 4096)
		n *= 2;
	f = sp__calloc(lim->alloc, 1, sizeof(*f));
	if (f == NULL)
		return (SP_E_NOMEM);
	f->alloc = lim->alloc;
	f->max_bytes = lim->ip_frag_bytes;
	f->max_dgrams = lim->ip_frag_datagrams;
	f->timeout = lim->ip_frag_timeout;
	f->nbucket = n;
	f->bucket = sp__calloc(f->alloc, n, sizeof(*f->bucket));
	if (f->bucket == NULL) {
		sp__free(f->alloc, f);
		return (SP_E_NOMEM);
	}
	*out = f;
	return (SP_E_OK);
}

static size_t
key_hash(const sp_ipfrag *f, const struct frag_key *k)
{
	uint32_t	h = 2166136261u;	/* FNV-1a */
	size_t		i;

	for (i = 0; i < 16; i++)
		h = (h ^ k->src.a[i] ^ (uint32_t)k->dst.a[i] << 8) *
		    16777619u;
	h = (h ^ k->id ^ (uint32_t)k->proto << 16) * 16777619u;
	h = (h ^ k->vlan[0] ^ (uint32_t)k->vlan[1] << 12) * 16777619u;
	return (h & (f->nbucket - 1));
}

static int
key_equal(const struct frag_key *a, const struct frag_key *b)
{
	return (a->id == b->id && a->proto == b->proto &&
	    a->nvlan == b->nvlan && a->vlan[0] == b->vlan[0] &&
	    a->vlan[1] == b->vlan[1] &&
	    memcmp(&a->src, &b->src, sizeof(a->src)) == 0 &&
	    memcmp(&a->dst, &b->dst, sizeof(a->dst)) == 0);
}

static struct dgram *
lookup(const sp_ipfrag *f, const struct frag_key *k)
{
	struct dgram	*d;

	for (d = f->bucket[key_hash(f, k)]; d != NULL; d = d->hnext)
		if (key_equal(&d->key, k))
			return (d);
	return (NULL);
}

static void
release_buf(sp_ipfrag *f, struct dgram *d)
{
	SP_ASSERT(d->buf_size <= f->st.bytes_held);
	f->st.bytes_held -= d->buf_size;
	sp__free(f->alloc, d->buf);
	d->buf = NULL;
	d->buf_size = 0;
}

/* Unlink d from the hash and the age list and free it. */
static void
dgram_remove(sp_ipfrag *f, struct dgram *d)
{
	struct dgram	**pp = &f->bucket[key_hash(f, &d->key)];

	while (*pp != d)
		pp = &(*pp)->hnext;
	*pp = d->hnext;
	if (d->older != NULL)
		d->older->newer = d->newer;
	else
		f->oldest = d->newer;
	if (d->newer != NULL)
		d->newer->older = d->older;
	else
		f->newest = d->older;
	release_buf(f, d);
	sp__free(f->alloc, d);
	f->ndgrams--;
}

/* Give up on d: count it, free its data, keep it as a tombstone. */
static void
dgram_drop(sp_ipfrag *f, struct dgram *d, int *anomaly, enum sp_anomaly a)
{
	f->st.dropped++;
	release_buf(f, d);
	d->dropped = 1;
	*anomaly = (int)a;
}

/* Drop datagrams whose first fragment is ip_frag_timeout old. */
static void
expire(sp_ipfrag *f, sp_ts ts, int *anomaly)
{
	struct dgram	*d;

	for (d = f->oldest; d != NULL; d = f->oldest) {
		if (ts < d->first_ts || ts - d->first_ts < f->timeout)
			break;
		if (!d->dropped) {
			f->st.dropped++;
			*anomaly = SP_ANOM_IP_FRAG_TIMEOUT;
		}
		dgram_remove(f, d);
	}
}

static struct dgram *
dgram_create(sp_ipfrag *f, const struct frag_key *k, sp_ts ts)
{
	struct dgram	*d;
	size_t		 h = key_hash(f, k);

	d = sp__calloc(f->alloc, 1, sizeof(*d));
	if (d == NULL)
		return (NULL);
	d->key = *k;
	d->first_ts = ts;
	d->hnext = f->bucket[h];
	f->bucket[h] = d;
	d->older = f->newest;
	if (f->newest != NULL)
		f->newest->newer = d;
	else
		f->oldest = d;
	f->newest = d;
	f->ndgrams++;
	return (d);
}

/* Parse fi into fr; 0 if it is not a usable fragment. */
static int
parse_frag(const struct sp_frag_info *fi, struct frag *fr)
{
	uint16_t	fl;

	if (fi->ip == NULL || fi->ip_len < 20)
		return (0);
	fr->hdr = fi->ip;
	fr->hl = (size_t)(fi->ip[0] & 0x0f) * 4;
	if (fi->ip[0] >> 4 != 4 || fr->hl < 20 || fr->hl > fi->ip_len)
		return (0);
	fl = sp__be16(fi->ip + 6);
	fr->off = (size_t)(fl & IP_OFFMASK) * UNIT;
	fr->last = (fl & IP_MF) == 0;
	fr->data = fi->ip + fr->hl;
	fr->len = fi->ip_len - fr->hl;
	/* RFC 791 3.2: all fragments but the last hold 8-byte units. */
	if (!fr->last && fr->len % UNIT != 0)
		return (0);
	return (1);
}

/*
 * Grow d's buffer to hold payload up to end, within ip_frag_bytes.
 * It doubles when the cap allows, so in-order fragments do not copy
 * the datagram once each.
 */
static sp_err
dgram_reserve(sp_ipfrag *f, struct dgram *d, size_t end)
{
	size_t	 want = IPV4_MAX_HDR + end, room, delta;
	uint8_t	*nb;

	if (want <= d->buf_size)
		return (SP_E_OK);
	room = f->max_bytes - f->st.bytes_held;		/* held <= max */
	if (want - d->buf_size > room)
		return (SP_E_LIMIT);
	if (d->buf_size * 2 > want)
		want = SP_MIN(d->buf_size * 2, IPV4_MAX_HDR + MAX_PAYLOAD);
	if (want - d->buf_size > room)
		want = IPV4_MAX_HDR + end;
	delta = want - d->buf_size;
	nb = sp__realloc(f->alloc, d->buf, want);
	if (nb == NULL)
		return (SP_E_NOMEM);
	d->buf = nb;
	d->buf_size = want;
	f->st.bytes_held += delta;
	return (SP_E_OK);
}

/*
 * A fragment that cannot fit what is already known: past the end
 * a last fragment gave, or a second, different end.
 */
static int
conflicts(const struct dgram *d, const struct frag *fr)
{
	size_t	end = fr->off + fr->len;

	if (d->have_last && end > d->total)
		return (1);
	if (fr->last && d->have_last && end != d->total)
		return (1);
	return (fr->last && end < d->maxend);
}

/* Copy fr's bytes into units not yet held; 1 if an overlap differs. */
static int
copy_units(struct dgram *d, const struct frag *fr)
{
	size_t	 end = fr->off + fr->len, u, us, ue;
	uint8_t	*pay = d->buf + IPV4_MAX_HDR;
	int	 differs = 0;

	for (u = fr->off / UNIT; u * UNIT < end; u++) {
		us = u * UNIT;
		ue = SP_MIN(us + UNIT, end);
		if (d->map[u / 8] & (1u << (u % 8))) {
			if (memcmp(pay + us, fr->data + (us - fr->off),
			    ue - us) != 0)
				differs = 1;
			continue;
		}
		memcpy(pay + us, fr->data + (us - fr->off), ue - us);
		d->map[u / 8] |= (uint8_t)(1u << (u % 8));
		d->units_have++;
	}
	return (differs);
}

static sp_err
dgram_insert(sp_ipfrag *f, struct dgram *d, const struct frag *fr,
    int *anomaly)
{
	size_t	end = fr->off + fr->len;
	sp_err	e;

	if (end > MAX_PAYLOAD) {
		dgram_drop(f, d, anomaly, SP_ANOM_PKT_BAD_IP_HEADER);
		return (SP_E_OK);
	}
	if (conflicts(d, fr)) {
		*anomaly = SP_ANOM_IP_FRAG_OVERLAP;	/* first data wins */
		return (SP_E_OK);
	}
	e = dgram_reserve(f, d, end);
	if (e == SP_E_LIMIT) {
		dgram_drop(f, d, anomaly, SP_ANOM_IP_FRAG_LIMIT);
		return (SP_E_OK);
	}
	if (e != SP_E_OK)
		return (e);
	if (copy_units(d, fr))
		*anomaly = SP_ANOM_IP_FRAG_OVERLAP;
	d->maxend = SP_MAX(d->maxend, end);
	if (fr->last) {
		d->have_last = 1;
		d->total = end;
	}
	if (fr->off == 0 && d->hl == 0) {
		memcpy(d->hdr, fr->hdr, fr->hl);
		d->hl = fr->hl;
	}
	return (SP_E_OK);
}

static int
dgram_complete(const struct dgram *d)
{
	return (d->have_last && d->hl != 0 &&
	    d->units_have == (d->total + UNIT - 1) / UNIT);
}

static uint16_t
ip_checksum(const uint8_t *p, size_t n)
{
	uint32_t	sum = 0;
	size_t		i;

	for (i = 0; i + 1 < n; i += 2)
		sum += sp__be16(p + i);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return ((uint16_t)~sum);
}

/*
 * Put the first fragment's header in front of the payload, with the
 * fragment fields cleared (DF kept), the total length of the whole
 * datagram and a fresh checksum, and hand the buffer out.
 */
static void
dgram_finish(sp_ipfrag *f, struct dgram *d, const uint8_t **dgram,
    size_t *dgram_len)
{
	uint8_t	*ip = d->buf + IPV4_MAX_HDR - d->hl;
	size_t	 tot = d->hl + d->total;
	uint16_t fl, sum;

	if (tot > IPV4_MAX_TOTAL)
		tot = IPV4_MAX_TOTAL;	/* not reached: MAX_PAYLOAD check */
	memcpy(ip, d->hdr, d->hl);
	fl = sp__be16(ip + 6) & IP_DF;
	ip[2] = (uint8_t)(tot >> 8);
	ip[3] = (uint8_t)tot;
	ip[6] = (uint8_t)(fl >> 8);
	ip[7] = 0;
	ip[10] = ip[11] = 0;
	sum = ip_checksum(ip, d->hl);
	ip[10] = (uint8_t)(sum >> 8);
	ip[11] = (uint8_t)sum;
	*dgram = ip;
	*dgram_len = tot;
	/* The buffer now belongs to the caller until the next call. */
	f->done = d->buf;
	f->st.bytes_held -= d->buf_size;
	d->buf = NULL;
	d->buf_size = 0;
	f->st.reassembled++;
	dgram_remove(f, d);
}

static void
make_key(const struct sp_frag_info *fi, struct frag_key *k)
{
	memset(k, 0, sizeof(*k));
	k->src = fi->src;
	k->dst = fi->dst;
	k->id = fi->id;
	k->proto = fi->proto;
	k->nvlan = fi->nvlan;
	memcpy(k->vlan, fi->vlan, sizeof(k->vlan));
}

sp_err
sp_ipfrag_add(sp_ipfrag *f, const struct sp_frag_info *fi, sp_ts ts,
    const uint8_t **dgram, size_t *dgram_len, int *anomaly)
{
	struct frag_key	 k;
	struct frag	 fr;
	struct dgram	*d;
	int		 timeout = -1;
	sp_err		 e;

	*dgram = NULL;
	*dgram_len = 0;
	*anomaly = -1;
	sp__free(f->alloc, f->done);
	f->done = NULL;
	f->st.fragments++;
	expire(f, ts, &timeout);
	if (!parse_frag(fi, &fr)) {
		*anomaly = SP_ANOM_PKT_BAD_IP_HEADER;
		return (SP_E_OK);
	}
	make_key(fi, &k);
	d = lookup(f, &k);
	if (d == NULL && f->ndgrams >= f->max_dgrams) {
		f->st.dropped++;
		*anomaly = SP_ANOM_IP_FRAG_LIMIT;
		return (SP_E_OK);
	}
	if (d == NULL) {
		d = dgram_create(f, &k, ts);
		if (d == NULL)
			return (SP_E_NOMEM);
	}
	e = d->dropped ? SP_E_OK : dgram_insert(f, d, &fr, anomaly);
	if (e == SP_E_OK && !d->dropped && dgram_complete(d))
		dgram_finish(f, d, dgram, dgram_len);
	/* The fragment's own anomaly says more than an expiry. */
	if (*anomaly < 0)
		*anomaly = timeout;
	return (e);
}

void
sp_ipfrag_get_stats(const sp_ipfrag *f, struct sp_ipfrag_stats *st)
{
	*st = f->st;
}

void
sp_ipfrag_free(sp_ipfrag *f)
{
	if (f == NULL)
		return;
	while (f->oldest != NULL)
		dgram_remove(f, f->oldest);
	sp__free(f->alloc, f->done);
	sp__free(f->alloc, f->bucket);
	sp__free(f->alloc, f);
}
