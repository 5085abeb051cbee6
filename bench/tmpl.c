/*
 * tmpl.c - read mkcapture's template captures into flows of segments.
 *
 * This decoder is mkcapture's own, small and separate from the
 * library's on purpose: the capture it builds is what the library's
 * decoder is measured and checked against, so it must not be made by
 * the code under test.
 */
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mkcapture.h"
#include "pktbytes.h"

/* A decoded frame: the TCP segment and its endpoints. */
struct seg {
	uint8_t		 family;
	uint8_t		 src[16], dst[16];
	uint16_t	 sport, dport;
	const uint8_t	*tcp;
	size_t		 hlen, plen;
};

/* Servers of flows whose handshake the template did not record. */
static const uint16_t smtp_ports[] = { 25, 465, 587, 2525 };

/* TCP header and payload of an IP datagram; 0, or -1 to skip it. */
static int
decode_tcp(const uint8_t *p, size_t len, struct seg *s)
{
	if (len < 20)
		return (-1);
	s->sport = get16(p);
	s->dport = get16(p + 2);
	s->hlen = (size_t)(p[12] >> 4) * 4;
	if (s->hlen < 20 || s->hlen > len)
		return (-1);
	s->tcp = p;
	s->plen = len - s->hlen;
	return (0);
}

/*
 * An IPv4 or IPv6 datagram of caplen captured bytes.  Fragments, IPv6
 * extension headers and datagrams the snap length cut are skipped:
 * cloning part of a segment would change what the stream holds.
 */
static int
decode_ip(const uint8_t *p, size_t caplen, struct seg *s)
{
	size_t	hl, total;

	if (caplen >= 20 && p[0] >> 4 == 4) {
		hl = (size_t)(p[0] & 0x0f) * 4;
		total = get16(p + 2);
		if (hl < 20 || total < hl || total > caplen || p[9] != 6 ||
		    (get16(p + 6) & 0x3fff) != 0)
			return (-1);
		s->family = 4;
		memset(s->src, 0, 16);
		memset(s->dst, 0, 16);
		memcpy(s->src, p + 12, 4);
		memcpy(s->dst, p + 16, 4);
		return (decode_tcp(p + hl, total - hl, s));
	}
	if (caplen >= 40 && p[0] >> 4 == 6) {
		total = 40 + (size_t)get16(p + 4);
		if (total > caplen || p[6] != 6)
			return (-1);
		s->family = 6;
		memcpy(s->src, p + 8, 16);
		memcpy(s->dst, p + 24, 16);
		return (decode_tcp(p + 40, total - 40, s));
	}
	return (-1);
}

/* Skip the link header; returns the IP datagram's offset or -1. */
static long
link_offset(int dlt, const uint8_t *p, size_t caplen)
{
	size_t	off;

	switch (dlt) {
	case DLT_EN10MB:
		/* 802.1Q and 802.1ad tags in front of the EtherType. */
		for (off = 12; off + 2 <= caplen; off += 4)
			if (get16(p + off) != 0x8100 && get16(p + off) != 0x88a8)
				break;
		return (off + 2 <= caplen ? (long)off + 2 : -1);
	case DLT_LINUX_SLL:
		return (caplen >= 16 ? 16 : -1);
	case DLT_LINUX_SLL2:
		return (caplen >= 20 ? 20 : -1);
	case DLT_NULL:
	case DLT_LOOP:
		/*
		 * The 4-byte address family (host order for NULL, network
		 * order for LOOP) is not needed: the IP version nibble says.
		 */
		return (caplen >= 4 ? 4 : -1);
	case DLT_RAW:
	case DLT_IPV4:
	case DLT_IPV6:
		return (0);
	default:
		return (-1);
	}
}

/* Copy a TCP header and a piece of payload into the pool. */
static int
pool_add(struct tmpl *t, const struct seg *s, size_t poff, size_t plen,
    size_t *off)
{
	size_t	n = s->hlen + plen, cap;
	uint8_t	*np;

	if (n > t->pool_max - t->pool_len)
		return (-1);
	if (n > t->pool_cap - t->pool_len) {
		cap = t->pool_cap ? t->pool_cap : 65536;
		while (cap - t->pool_len < n)
			cap = cap > t->pool_max / 2 ? t->pool_max : cap * 2;
		np = realloc(t->pool, cap);
		if (np == NULL)
			return (-1);
		t->pool = np;
		t->pool_cap = cap;
	}
	*off = t->pool_len;
	memcpy(t->pool + t->pool_len, s->tcp, s->hlen);
	memcpy(t->pool + t->pool_len + s->hlen, s->tcp + s->hlen + poff, plen);
	t->pool_len += n;
	return (0);
}

/* Grow an array of elements of size sz to hold one more. */
static int
grow(void **arr, size_t *cap, size_t n, size_t sz)
{
	void	*np;
	size_t	 ncap;

	if (n < *cap)
		return (0);
	ncap = *cap ? *cap * 2 : 64;
	if (ncap > SIZE_MAX / sz)
		return (-1);
	np = realloc(*arr, ncap * sz);
	if (np == NULL)
		return (-1);
	*arr = np;
	*cap = ncap;
	return (0);
}

static int
is_smtp_port(uint16_t port)
{
	size_t	i;

	for (i = 0; i < sizeof(smtp_ports) / sizeof(smtp_ports[0]); i++)
		if (smtp_ports[i] == port)
			return (1);
	return (0);
}

/*
 * Which end of a new flow is the client: the sender of a SYN, the
 * receiver of a SYN-ACK, else the end not on an SMTP port, else the
 * higher port.
 */
static int
sender_is_client(const struct seg *s)
{
	uint8_t	flags = s->tcp[13];

	if ((flags & 0x12) == 0x02)
		return (1);
	if ((flags & 0x12) == 0x12)
		return (0);
	if (is_smtp_port(s->dport) != is_smtp_port(s->sport))
		return (is_smtp_port(s->dport));
	return (s->sport > s->dport);
}

static void
flow_init(struct tflow *f, const struct seg *s)
{
	int	c = sender_is_client(s);

	memset(f, 0, sizeof(*f));
	f->family = s->family;
	memcpy(f->addr[0], c ? s->src : s->dst, 16);
	memcpy(f->addr[1], c ? s->dst : s->src, 16);
	f->port[0] = c ? s->sport : s->dport;
	f->port[1] = c ? s->dport : s->sport;
	f->server_port = f->port[1];
	/* An IPv6 server becomes 198.51.100.1 (RFC 5737 TEST-NET-2). */
	f->server_ip = f->family == 4 ? get32(f->addr[1]) : 0xc6336401u;
}

/*
 * The flow s belongs to, created when new; *dir is set to the
 * direction.  Flows of earlier files are not searched: two templates
 * holding the same session are two sessions to clone.  Templates hold
 * a few recorded sessions, so a linear search is enough.  Returns the
 * flow's index or -1 on no memory.
 */
static long
flow_find(struct tmpl *t, const struct seg *s, size_t first, int *dir)
{
	struct tflow	*f;
	size_t		 i;

	for (i = t->nflows; i-- > first;) {
		f = &t->flows[i];
		if (f->family != s->family)
			continue;
		for (*dir = 0; *dir < 2; (*dir)++)
			if (memcmp(f->addr[*dir], s->src, 16) == 0 &&
			    memcmp(f->addr[!*dir], s->dst, 16) == 0 &&
			    f->port[*dir] == s->sport &&
			    f->port[!*dir] == s->dport)
				return ((long)i);
	}
	if (grow((void **)&t->flows, &t->flows_cap, t->nflows,
	    sizeof(*t->flows)) != 0)
		return (-1);
	flow_init(&t->flows[t->nflows], s);
	*dir = 0;
	if (memcmp(t->flows[t->nflows].addr[0], s->src, 16) != 0 ||
	    t->flows[t->nflows].port[0] != s->sport)
		*dir = 1;
	return ((long)t->nflows++);
}

/* Lower the MSS option (RFC 9293 3.7.1) of a SYN to what clones use. */
static void
clamp_mss(uint8_t *tcp, size_t hlen, size_t mss)
{
	size_t	i = 20;

	while (i + 1 < hlen && tcp[i] != 0) {
		if (tcp[i] == 1) {
			i++;
			continue;
		}
		if (tcp[i + 1] < 2 || tcp[i + 1] > hlen - i)
			return;
		if (tcp[i] == 2 && tcp[i + 1] == 4 && get16(tcp + i + 2) > mss) {
			tcp[i + 2] = (uint8_t)(mss >> 8);
			tcp[i + 3] = (uint8_t)mss;
		}
		i += tcp[i + 1];
	}
}

/*
 * Store payload bytes [poff, poff + plen) of s as one segment of flow
 * f.  A piece after the first moves its sequence number on and drops
 * SYN; one before the last drops FIN and PSH.
 */
static int
add_piece(struct tmpl *t, struct tflow *f, int dir, const struct seg *s,
    size_t poff, size_t plen)
{
	struct tpkt	*tp;
	uint8_t		*tcp;

	if (grow((void **)&t->pkts, &t->pkts_cap, t->npkts,
	    sizeof(*t->pkts)) != 0 ||
	    grow((void **)&f->pkts, &f->cap, f->npkts, sizeof(*f->pkts)) != 0)
		return (-1);
	tp = &t->pkts[t->npkts];
	if (pool_add(t, s, poff, plen, &tp->off) != 0)
		return (-1);
	tcp = t->pool + tp->off;
	if (poff > 0) {
		tp->seq = get32(tcp + 4) + (uint32_t)poff +
		    ((tcp[13] & 0x02) ? 1 : 0);
		tcp[4] = (uint8_t)(tp->seq >> 24);
		tcp[5] = (uint8_t)(tp->seq >> 16);
		tcp[6] = (uint8_t)(tp->seq >> 8);
		tcp[7] = (uint8_t)tp->seq;
		tcp[13] &= (uint8_t)~0x02;
	}
	if (poff + plen < s->plen)
		tcp[13] &= (uint8_t)~0x09;
	if (tcp[13] & 0x02)
		clamp_mss(tcp, s->hlen, t->mss);
	tp->seq = get32(tcp + 4);
	tp->payload_len = (uint32_t)plen;
	tp->tcp_hlen = (uint16_t)s->hlen;
	tp->dir = (uint8_t)dir;
	tp->flags = tcp[13];
	f->pkts[f->npkts++] = t->npkts++;
	f->file_bytes += tpkt_file_bytes(tp);
	f->is_stream |= plen > 0 || (tp->flags & 0x02);
	f->payload[dir] += plen;
	return (0);
}

/*
 * Add a segment to its flow, cut into pieces of at most t->mss bytes
 * (and of what an IPv4 datagram can carry):
 * loopback recordings carry segments of up to 64 KB, which an Ethernet
 * mail server never sees.
 */
static int
add_segment(struct tmpl *t, const struct seg *s, size_t first)
{
	size_t	off = 0, n, max;
	long	fi;
	int	dir;

	fi = flow_find(t, s, first, &dir);
	if (fi < 0)
		return (-1);
	/* An IPv6 segment may not fit IPv4's 16-bit total length. */
	max = 65535 - 20 - s->hlen;
	if (t->mss > 0 && t->mss < max)
		max = t->mss;
	do {
		n = s->plen - off;
		if (n > max)
			n = max;
		if (add_piece(t, &t->flows[fi], dir, s, off, n) != 0)
			return (-1);
		off += n;
	} while (off < s->plen);
	return (0);
}

/* Compile and set the template filter; prints why it cannot. */
static int
set_filter(pcap_t *p, const char *path, const char *filter)
{
	struct bpf_program	prog;
	int			rc;

	if (filter == NULL)
		return (0);
	if (pcap_compile(p, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) != 0) {
		fprintf(stderr, "mkcapture: %s: %s\n", path, pcap_geterr(p));
		return (-1);
	}
	rc = pcap_setfilter(p, &prog);
	if (rc != 0)
		fprintf(stderr, "mkcapture: %s: %s\n", path, pcap_geterr(p));
	pcap_freecode(&prog);
	return (rc);
}

static int
load_file(struct tmpl *t, const char *path, const char *filter)
{
	char			 err[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr	*h;
	const u_char		*data;
	struct seg		 s;
	pcap_t			*p;
	size_t			 first = t->nflows;
	long			 off;
	int			 dlt, rc;

	p = pcap_open_offline(path, err);
	if (p == NULL) {
		fprintf(stderr, "mkcapture: %s\n", err);
		return (-1);
	}
	if (set_filter(p, path, filter) != 0) {
		pcap_close(p);
		return (-1);
	}
	dlt = pcap_datalink(p);
	while ((rc = pcap_next_ex(p, &h, &data)) == 1) {
		off = link_offset(dlt, data, h->caplen);
		if (off < 0 || decode_ip(data + off, h->caplen - (size_t)off,
		    &s) != 0) {
			t->skipped++;
			continue;
		}
		if (add_segment(t, &s, first) != 0) {
			fprintf(stderr, "mkcapture: %s: out of memory or over "
			    "the template cap\n", path);
			rc = -3;
			break;
		}
	}
	if (rc == -1)
		fprintf(stderr, "mkcapture: %s: %s\n", path, pcap_geterr(p));
	pcap_close(p);
	return (rc == -2 ? 0 : -1);
}

struct ival {
	int64_t	start, end;
};

static int
ival_cmp(const void *a, const void *b)
{
	const struct ival	*x = a, *y = b;

	return ((x->start > y->start) - (x->start < y->start));
}

/*
 * What a reassembler makes of one direction: stream offset 0 is the
 * byte after the SYN, or the first payload byte when no SYN was
 * recorded; bytes before it are dropped.  covered counts the offsets
 * some segment holds, holes the offsets below the highest one that no
 * segment holds (the reassembler reports them as gaps).
 */
static void
count_direction(const struct tmpl *t, struct tflow *f, int dir,
    struct ival *iv)
{
	const struct tpkt	*tp;
	uint32_t		 base = 0;
	int			 have_base = 0;
	size_t			 i, n = 0;
	int64_t			 end = 0, covered = 0;

	for (i = 0; i < f->npkts; i++) {
		tp = &t->pkts[f->pkts[i]];
		if (tp->dir != dir)
			continue;
		if (!have_base && ((tp->flags & 0x02) || tp->payload_len)) {
			base = tp->seq + ((tp->flags & 0x02) ? 1 : 0);
			have_base = 1;
		}
		if (tp->payload_len == 0)
			continue;
		iv[n].start = (int32_t)(tp->seq - base);
		iv[n].end = iv[n].start + tp->payload_len;
		n++;
	}
	qsort(iv, n, sizeof(*iv), ival_cmp);
	for (i = 0; i < n; i++) {
		if (iv[i].start < end)
			iv[i].start = end;
		if (iv[i].start < 0)
			iv[i].start = 0;
		if (iv[i].end <= iv[i].start)
			continue;
		covered += iv[i].end - iv[i].start;
		end = iv[i].end;
	}
	f->covered[dir] = (uint64_t)covered;
	f->holes[dir] = (uint64_t)(end - covered);
}

int
tmpl_load(struct tmpl *t, char **files, size_t nfiles, const char *filter,
    size_t mss, size_t max)
{
	struct ival	*iv;
	size_t		 i;

	memset(t, 0, sizeof(*t));
	t->pool_max = max;
	t->mss = mss;
	for (i = 0; i < nfiles; i++) {
		if (load_file(t, files[i], filter) != 0)
			goto fail;
		t->nfiles++;
	}
	if (t->nflows == 0) {
		fprintf(stderr, "mkcapture: the templates hold no TCP flow\n");
		goto fail;
	}
	iv = calloc(t->npkts, sizeof(*iv));
	if (iv == NULL)
		goto fail;
	for (i = 0; i < t->nflows; i++) {
		count_direction(t, &t->flows[i], 0, iv);
		count_direction(t, &t->flows[i], 1, iv);
	}
	free(iv);
	return (0);
fail:
	tmpl_free(t);
	return (-1);
}

void
tmpl_free(struct tmpl *t)
{
	size_t	i;

	for (i = 0; i < t->nflows; i++)
		free(t->flows[i].pkts);
	free(t->flows);
	free(t->pkts);
	free(t->pool);
	memset(t, 0, sizeof(*t));
}
