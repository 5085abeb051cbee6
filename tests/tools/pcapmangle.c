/*
 * pcapmangle - derive damaged or re-encapsulated variants of a capture,
 * for the reassembly tests.
 *
 *   pcapmangle OP IN OUT [ARG]
 *
 * OPs (a "data segment" is a TCP segment with payload):
 *   reorder      swap pairs of consecutive data segments of the same
 *                flow and direction (never across a FIN or RST)
 *   dup          send every data segment twice
 *   tiny N       cut every data segment into N-byte segments; IP
 *                lengths and sequence numbers are fixed, TCP checksums
 *                are left as they were (wrong)
 *   drop K       drop the K-th (from 1) data segment the client of the
 *                first flow sent; prints
 *                "dropped dir=client off=O len=L", O relative to ISN+1
 *                (drop and midstream also print "first flow client
 *                port=P")
 *   nohandshake  remove SYN, SYN-ACK and the handshake's third ACK
 *   midstream P  drop the first P packets; prints, for the first
 *                flow, "first dir=client off=O" (and server): the
 *                stream offset of the first payload byte left, or none
 *   vlan, qinq   insert one 802.1Q tag, or an 802.1ad + 802.1Q pair
 *   sll, sll2    rewrite Ethernet as Linux cooked capture v1 / v2
 *   frag N       split every IPv4 packet into fragments carrying N
 *                payload bytes (rounded down to a multiple of 8)
 *   snap N       cut every packet to N captured bytes
 *
 * Input: Ethernet captures (optionally VLAN-tagged); IPv4 and IPv6.
 * The whole capture is held in memory, up to MAX_TOTAL bytes.
 * Exit status: 0 done, 1 error, 2 usage.
 */
#include <pcap/pcap.h>

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pktbytes.h"

#define MAX_TOTAL	(256u * 1024 * 1024)
#define MAX_FRAME	262144u
#define ETH_HLEN	14

#define TH_FIN	0x01
#define TH_SYN	0x02
#define TH_RST	0x04
#define TH_PSH	0x08
#define TH_ACK	0x10

struct pkt {
	struct pcap_pkthdr	 h;
	uint8_t			*d;
};

struct plist {
	struct pkt	*p;
	size_t		 n, cap;
	size_t		 bytes;
};

/* Where the headers of one Ethernet/IP/TCP frame are. */
struct view {
	int		 ok;		/* a TCP segment we understand */
	size_t		 l3;		/* offset of the IP header */
	int		 ipv;		/* 4 or 6 */
	size_t		 l4;		/* offset of the TCP header */
	size_t		 pay;		/* offset of the payload */
	size_t		 paylen;	/* payload bytes per IP length */
	uint8_t		 flags;
	uint32_t	 seq;
	const uint8_t	*src, *dst;	/* addresses */
	size_t		 alen;
	uint16_t	 sport, dport;
};

static void
die(const char *what)
{
	fprintf(stderr, "pcapmangle: %s\n", what);
	exit(1);
}

static void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		die("out of memory");
	return p;
}

/* Append a copy of caplen bytes at d with header h. */
static void
plist_add(struct plist *l, const struct pcap_pkthdr *h, const uint8_t *d)
{
	if (h->caplen > MAX_FRAME || h->caplen > MAX_TOTAL - l->bytes)
		die("capture too large for pcapmangle");
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 256;
		struct pkt *np = realloc(l->p, ncap * sizeof(*np));

		if (np == NULL)
			die("out of memory");
		l->p = np;
		l->cap = ncap;
	}
	l->p[l->n].h = *h;
	l->p[l->n].d = xmalloc(h->caplen);
	memcpy(l->p[l->n].d, d, h->caplen);
	l->n++;
	l->bytes += h->caplen;
}

static void
plist_free(struct plist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->p[i].d);
	free(l->p);
	memset(l, 0, sizeof(*l));
}

/* Skip the Ethernet header and up to two VLAN tags. */
static size_t
l2_len(const uint8_t *d, size_t caplen, uint16_t *etype)
{
	size_t off = 12;

	if (caplen < ETH_HLEN)
		return 0;
	*etype = get16(d + off);
	while ((*etype == 0x8100 || *etype == 0x88a8) && off < 20) {
		off += 4;
		if (caplen < off + 2)
			return 0;
		*etype = get16(d + off);
	}
	return off + 2;
}

static int
view_ip4(struct view *v, const uint8_t *d, size_t caplen)
{
	const uint8_t *ip = d + v->l3;
	size_t ihl, tot;

	if (caplen < v->l3 + 20 || (ip[0] >> 4) != 4 || ip[9] != 6)
		return 0;
	if ((get16(ip + 6) & 0x3fff) != 0)	/* already a fragment */
		return 0;
	ihl = (size_t)(ip[0] & 0x0f) * 4;
	tot = get16(ip + 2);
	if (ihl < 20 || tot < ihl)
		return 0;
	v->ipv = 4;
	v->l4 = v->l3 + ihl;
	v->src = ip + 12;
	v->dst = ip + 16;
	v->alen = 4;
	return (int)(tot - ihl);
}

static int
view_ip6(struct view *v, const uint8_t *d, size_t caplen)
{
	const uint8_t *ip = d + v->l3;

	/* No extension headers in what we record: next header must be TCP. */
	if (caplen < v->l3 + 40 || (ip[0] >> 4) != 6 || ip[6] != 6)
		return 0;
	v->ipv = 6;
	v->l4 = v->l3 + 40;
	v->src = ip + 8;
	v->dst = ip + 24;
	v->alen = 16;
	return (int)get16(ip + 4);
}

/*
 * Decode the headers of an Ethernet frame.  Lengths come from the IP
 * header, so a frame cut by the snap length still reports its payload
 * length on the wire.
 */
static struct view
view_of(const struct pkt *p)
{
	struct view v;
	uint16_t etype = 0;
	int l4len;
	size_t thl;

	memset(&v, 0, sizeof(v));
	v.l3 = l2_len(p->d, p->h.caplen, &etype);
	if (v.l3 == 0)
		return v;
	if (etype == 0x0800)
		l4len = view_ip4(&v, p->d, p->h.caplen);
	else if (etype == 0x86dd)
		l4len = view_ip6(&v, p->d, p->h.caplen);
	else
		return v;
	if (v.ipv == 0 || p->h.caplen < v.l4 + 20)
		return v;
	thl = (size_t)(p->d[v.l4 + 12] >> 4) * 4;
	if (thl < 20 || (size_t)l4len < thl || p->h.caplen < v.l4 + thl)
		return v;
	v.sport = get16(p->d + v.l4);
	v.dport = get16(p->d + v.l4 + 2);
	v.seq = get32(p->d + v.l4 + 4);
	v.flags = p->d[v.l4 + 13];
	v.pay = v.l4 + thl;
	v.paylen = (size_t)l4len - thl;
	v.ok = 1;
	return v;
}

/* Same flow and direction (0), same flow reversed (1), else -1. */
static int
same_flow(const struct view *a, const struct view *b)
{
	if (!a->ok || !b->ok || a->alen != b->alen)
		return -1;
	if (a->sport == b->sport && a->dport == b->dport &&
	    memcmp(a->src, b->src, a->alen) == 0 &&
	    memcmp(a->dst, b->dst, a->alen) == 0)
		return 0;
	if (a->sport == b->dport && a->dport == b->sport &&
	    memcmp(a->src, b->dst, a->alen) == 0 &&
	    memcmp(a->dst, b->src, a->alen) == 0)
		return 1;
	return -1;
}

static int
is_data(const struct view *v)
{
	return v->ok && v->paylen > 0;
}

/* RFC 791 header checksum over ihl bytes, the checksum field zeroed. */
static void
ip4_checksum(uint8_t *ip, size_t ihl)
{
	put16(ip + 10, 0);
	put16(ip + 10, csum_fold(csum_add(0, ip, ihl)));
}

/* Rewrite the IP length fields after the IP payload became l4len. */
static void
set_ip_len(uint8_t *d, const struct view *v, size_t l4len)
{
	uint8_t *ip = d + v->l3;

	if (v->ipv == 4) {
		put16(ip + 2, (uint16_t)(v->l4 - v->l3 + l4len));
		ip4_checksum(ip, v->l4 - v->l3);
	} else {
		put16(ip + 4, (uint16_t)l4len);
	}
}

/* ---------------------------------------------------------------- ops */

static void
op_reorder(struct plist *l)
{
	char *paired = calloc(l->n ? l->n : 1, 1);

	if (paired == NULL)
		die("out of memory");
	for (size_t i = 0; i < l->n; i++) {
		struct view vi = view_of(&l->p[i]);

		if (paired[i] || !is_data(&vi))
			continue;
		for (size_t j = i + 1; j < l->n; j++) {
			struct view vj = view_of(&l->p[j]);
			int rel = same_flow(&vi, &vj);

			if (rel >= 0 && (vj.flags & (TH_FIN | TH_RST)))
				break;
			if (rel != 0 || !is_data(&vj) || paired[j])
				continue;
			struct pkt t = l->p[i];
			l->p[i] = l->p[j];
			l->p[j] = t;
			paired[i] = paired[j] = 1;
			break;
		}
	}
	free(paired);
}

static void
op_dup(const struct plist *in, struct plist *out)
{
	for (size_t i = 0; i < in->n; i++) {
		struct view v = view_of(&in->p[i]);

		plist_add(out, &in->p[i].h, in->p[i].d);
		if (is_data(&v))
			plist_add(out, &in->p[i].h, in->p[i].d);
	}
}

/* One piece [off, off+n) of the payload of segment p, as a segment. */
static void
add_piece(struct plist *out, const struct pkt *p, const struct view *v,
    size_t off, size_t n, int last)
{
	struct pcap_pkthdr h = p->h;
	size_t hdr = v->pay;
	size_t have = p->h.caplen > v->pay + off ?
	    p->h.caplen - v->pay - off : 0;
	uint8_t *d;

	if (have > n)
		have = n;
	d = xmalloc(hdr + n);
	memcpy(d, p->d, hdr);
	memcpy(d + hdr, p->d + v->pay + off, have);
	h.caplen = (bpf_u_int32)(hdr + have);
	h.len = (bpf_u_int32)(p->h.len - v->paylen + n);
	put32(d + v->l4 + 4, v->seq + (uint32_t)off);
	if (!last)
		d[v->l4 + 13] &= (uint8_t)~(TH_FIN | TH_PSH);
	set_ip_len(d, v, v->pay - v->l4 + n);
	plist_add(out, &h, d);
	free(d);
}

static void
op_tiny(const struct plist *in, struct plist *out, size_t n)
{
	for (size_t i = 0; i < in->n; i++) {
		const struct pkt *p = &in->p[i];
		struct view v = view_of(p);

		if (!is_data(&v) || v.paylen <= n) {
			plist_add(out, &p->h, p->d);
			continue;
		}
		for (size_t off = 0; off < v.paylen; off += n) {
			size_t k = v.paylen - off < n ? v.paylen - off : n;

			add_piece(out, p, &v, off, k, off + k == v.paylen);
		}
	}
}

/* The client of the first flow: the sender of the first SYN without
 * ACK, else the sender of the first TCP segment. */
static struct view
first_client(const struct plist *l, uint32_t *isn, int *have_isn)
{
	struct view first;

	memset(&first, 0, sizeof(first));
	*have_isn = 0;
	for (size_t i = 0; i < l->n; i++) {
		struct view v = view_of(&l->p[i]);

		if (!v.ok)
			continue;
		if (!first.ok)
			first = v;
		if ((v.flags & (TH_SYN | TH_ACK)) == TH_SYN) {
			*isn = v.seq;
			*have_isn = 1;
			return v;
		}
	}
	return first;
}

static void
op_drop(const struct plist *in, struct plist *out, size_t k)
{
	uint32_t isn = 0;
	int have_isn, done = 0;
	struct view c = first_client(in, &isn, &have_isn);
	size_t seen = 0;

	if (!c.ok)
		die("drop: no TCP segment in the capture");
	if (!have_isn)
		die("drop: the first flow has no SYN, offsets would be unknown");
	for (size_t i = 0; i < in->n; i++) {
		struct view v = view_of(&in->p[i]);

		if (!done && is_data(&v) && same_flow(&c, &v) == 0)
			seen++;
		if (!done && seen == k && is_data(&v) &&
		    same_flow(&c, &v) == 0) {
			printf("dropped dir=client off=%" PRIu32 " len=%zu\n",
			    v.seq - (isn + 1), v.paylen);
			printf("first flow client port=%u\n", c.sport);
			done = 1;
			continue;
		}
		plist_add(out, &in->p[i].h, in->p[i].d);
	}
	if (!done)
		die("drop: the client sent fewer data segments than that");
}

static void
op_nohandshake(const struct plist *in, struct plist *out)
{
	struct view syn;
	int state = 0;		/* 0 none, 1 SYN seen, 2 SYN-ACK seen */

	memset(&syn, 0, sizeof(syn));
	for (size_t i = 0; i < in->n; i++) {
		struct view v = view_of(&in->p[i]);

		if (v.ok && (v.flags & TH_SYN)) {
			if (!(v.flags & TH_ACK)) {
				syn = v;
				state = 1;
			} else if (state == 1) {
				state = 2;
			}
			continue;
		}
		if (state == 2 && same_flow(&syn, &v) == 0 &&
		    v.paylen == 0 && (v.flags & TH_ACK)) {
			state = 0;
			continue;
		}
		plist_add(out, &in->p[i].h, in->p[i].d);
	}
}

/*
 * Drop the first p packets.  For the first flow, print where each
 * direction's first remaining payload byte sits in the original stream
 * (offset from ISN+1), or "none": the test expects the reassembler to
 * pick each stream up exactly there.
 */
static void
op_midstream(const struct plist *in, struct plist *out, size_t p)
{
	uint32_t isn[2] = { 0, 0 };
	int have_isn, have[2] = { 0, 0 }, first[2] = { 0, 0 };
	struct view c = first_client(in, &isn[0], &have_isn);

	if (!c.ok || !have_isn)
		die("midstream: the first flow has no SYN");
	printf("first flow client port=%u\n", c.sport);
	for (size_t i = 0; i < in->n; i++) {
		struct view v = view_of(&in->p[i]);
		int rel = same_flow(&c, &v);

		if (rel >= 0 && (v.flags & TH_SYN) && !have[rel]) {
			isn[rel] = v.seq;
			have[rel] = 1;
		}
		if (rel >= 0 && i >= p && is_data(&v) && have[rel] &&
		    !first[rel]) {
			printf("first dir=%s off=%" PRIu32 "\n",
			    rel == 0 ? "client" : "server",
			    v.seq - (isn[rel] + 1));
			first[rel] = 1;
		}
		if (i >= p)
			plist_add(out, &in->p[i].h, in->p[i].d);
	}
	for (int d = 0; d < 2; d++)
		if (!first[d])
			printf("first dir=%s off=none\n",
			    d == 0 ? "client" : "server");
}

/* Insert tags after the MAC addresses: 802.1Q alone, or 802.1ad outer
 * (0x88a8) then 802.1Q inner for Q-in-Q. */
static void
op_vlan(const struct plist *in, struct plist *out, int qinq)
{
	static const uint8_t q[4] = { 0x81, 0x00, 0x00, 100 };
	static const uint8_t ad[4] = { 0x88, 0xa8, 0x00, 200 };
	size_t add = qinq ? 8 : 4;

	for (size_t i = 0; i < in->n; i++) {
		const struct pkt *p = &in->p[i];
		struct pcap_pkthdr h = p->h;
		uint8_t *d;

		if (p->h.caplen < 12) {
			plist_add(out, &p->h, p->d);
			continue;
		}
		d = xmalloc(p->h.caplen + add);
		memcpy(d, p->d, 12);
		if (qinq) {
			memcpy(d + 12, ad, 4);
			memcpy(d + 16, q, 4);
		} else {
			memcpy(d + 12, q, 4);
		}
		memcpy(d + 12 + add, p->d + 12, p->h.caplen - 12);
		h.caplen += (bpf_u_int32)add;
		h.len += (bpf_u_int32)add;
		plist_add(out, &h, d);
		free(d);
	}
}

/*
 * Linux cooked headers, as the kernel writes them for "any":
 * v1 (LINKTYPE_LINUX_SLL, 16 bytes): packet type, ARPHRD type, address
 * length, 8 address bytes, protocol.  v2 (LINKTYPE_LINUX_SLL2, 20
 * bytes): protocol, reserved, interface index, ARPHRD type, packet
 * type, address length, 8 address bytes.
 */
static void
op_sll(const struct plist *in, struct plist *out, int v2)
{
	size_t hl = v2 ? 20 : 16;

	for (size_t i = 0; i < in->n; i++) {
		const struct pkt *p = &in->p[i];
		struct pcap_pkthdr h = p->h;
		uint8_t *d;

		if (p->h.caplen < ETH_HLEN)
			continue;
		d = xmalloc(p->h.caplen - ETH_HLEN + hl);
		memset(d, 0, hl);
		if (v2) {
			memcpy(d, p->d + 12, 2);
			put32(d + 4, 1);		/* ifindex of lo */
			put16(d + 8, 772);		/* ARPHRD_LOOPBACK */
			d[10] = 0;			/* PACKET_HOST */
			d[11] = 6;
			memcpy(d + 12, p->d + 6, 6);
		} else {
			put16(d, 0);
			put16(d + 2, 772);
			put16(d + 4, 6);
			memcpy(d + 6, p->d + 6, 6);
			memcpy(d + 14, p->d + 12, 2);
		}
		memcpy(d + hl, p->d + ETH_HLEN, p->h.caplen - ETH_HLEN);
		h.caplen = (bpf_u_int32)(p->h.caplen - ETH_HLEN + hl);
		h.len = (bpf_u_int32)(p->h.len - ETH_HLEN + hl);
		plist_add(out, &h, d);
		free(d);
	}
}

/* One IPv4 fragment of datagram p: payload bytes [off, off+n). */
static void
add_frag(struct plist *out, const struct pkt *p, const struct view *v,
    size_t off, size_t n, int more, uint16_t id)
{
	struct pcap_pkthdr h = p->h;
	size_t hdr = v->l4;		/* link + IP header */
	uint8_t *d = xmalloc(hdr + n);
	uint8_t *ip = d + v->l3;

	memcpy(d, p->d, hdr);
	memcpy(d + hdr, p->d + v->l4 + off, n);
	put16(ip + 4, id);
	/* RFC 791: offset in 8-byte units, MF on all but the last. */
	put16(ip + 6, (uint16_t)((more ? 0x2000 : 0) | (off / 8)));
	set_ip_len(d, v, n);
	h.caplen = (bpf_u_int32)(hdr + n);
	h.len = h.caplen;
	plist_add(out, &h, d);
	free(d);
}

static void
op_frag(const struct plist *in, struct plist *out, size_t n)
{
	uint16_t id = 0x4000;

	n &= ~(size_t)7;
	if (n == 0)
		die("frag: N must be at least 8");
	for (size_t i = 0; i < in->n; i++) {
		const struct pkt *p = &in->p[i];
		struct view v = view_of(p);
		size_t l4len = v.pay - v.l4 + v.paylen;

		if (!v.ok || v.ipv != 4 || l4len <= n ||
		    p->h.caplen < v.l4 + l4len) {
			plist_add(out, &p->h, p->d);
			continue;
		}
		/* A fresh id per datagram, so no two datagrams collide in
		 * the reassembler's (src, dst, id, proto) key. */
		id++;
		for (size_t off = 0; off < l4len; off += n) {
			size_t k = l4len - off < n ? l4len - off : n;

			add_frag(out, p, &v, off, k, off + k < l4len, id);
		}
	}
}

static void
op_snap(struct plist *l, size_t n)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->p[i].h.caplen > n)
			l->p[i].h.caplen = (bpf_u_int32)n;
}

/* ---------------------------------------------------------------- I/O */

static int
read_all(const char *path, struct plist *l)
{
	char err[PCAP_ERRBUF_SIZE];
	pcap_t *pc = pcap_open_offline(path, err);
	struct pcap_pkthdr *h;
	const u_char *d;
	int r, lt;

	if (pc == NULL) {
		fprintf(stderr, "pcapmangle: %s\n", err);
		exit(1);
	}
	lt = pcap_datalink(pc);
	while ((r = pcap_next_ex(pc, &h, &d)) == 1)
		plist_add(l, h, d);
	if (r == PCAP_ERROR) {
		fprintf(stderr, "pcapmangle: %s: %s\n", path, pcap_geterr(pc));
		exit(1);
	}
	pcap_close(pc);
	return lt;
}

static void
write_all(const char *path, const struct plist *l, int linktype)
{
	pcap_t *dead = pcap_open_dead(linktype, (int)MAX_FRAME);
	pcap_dumper_t *dp;

	if (dead == NULL)
		die("pcap_open_dead failed");
	dp = pcap_dump_open(dead, path);
	if (dp == NULL) {
		fprintf(stderr, "pcapmangle: %s: %s\n", path, pcap_geterr(dead));
		exit(1);
	}
	for (size_t i = 0; i < l->n; i++)
		pcap_dump((u_char *)dp, &l->p[i].h, l->p[i].d);
	if (pcap_dump_flush(dp) != 0)
		die("write failed");
	pcap_dump_close(dp);
	pcap_close(dead);
}

static size_t
num_arg(int argc, char **argv, size_t min)
{
	char *end;
	unsigned long long v;

	if (argc < 5) {
		fprintf(stderr, "pcapmangle: %s needs a number\n", argv[1]);
		exit(2);
	}
	errno = 0;
	v = strtoull(argv[4], &end, 10);
	if (errno != 0 || *end != '\0' || end == argv[4] || v < min ||
	    v > MAX_FRAME) {
		fprintf(stderr, "pcapmangle: bad number '%s'\n", argv[4]);
		exit(2);
	}
	return (size_t)v;
}

static void
usage(void)
{
	fprintf(stderr, "usage: pcapmangle OP IN OUT [N]\n"
	    "OP: reorder dup tiny N, drop K, nohandshake, midstream P,\n"
	    "    vlan qinq sll sll2, frag N, snap N\n");
	exit(2);
}

/* Run an op that builds a new list; the input list is freed. */
static int
run(const char *op, int argc, char **argv, struct plist *in,
    struct plist *out, int lt)
{
	if (strcmp(op, "dup") == 0)
		op_dup(in, out);
	else if (strcmp(op, "tiny") == 0)
		op_tiny(in, out, num_arg(argc, argv, 1));
	else if (strcmp(op, "drop") == 0)
		op_drop(in, out, num_arg(argc, argv, 1));
	else if (strcmp(op, "nohandshake") == 0)
		op_nohandshake(in, out);
	else if (strcmp(op, "midstream") == 0)
		op_midstream(in, out, num_arg(argc, argv, 0));
	else if (strcmp(op, "vlan") == 0 || strcmp(op, "qinq") == 0)
		op_vlan(in, out, op[0] == 'q');
	else if (strcmp(op, "sll") == 0 || strcmp(op, "sll2") == 0) {
		op_sll(in, out, op[3] == '2');
		lt = op[3] == '2' ? 276 : 113;
	} else if (strcmp(op, "frag") == 0)
		op_frag(in, out, num_arg(argc, argv, 8));
	else
		usage();
	plist_free(in);
	return lt;
}

int
main(int argc, char **argv)
{
	struct plist in, out;
	const char *op;
	int lt;

	if (argc < 4)
		usage();
	op = argv[1];
	memset(&in, 0, sizeof(in));
	memset(&out, 0, sizeof(out));
	lt = read_all(argv[2], &in);
	if (lt != DLT_EN10MB) {
		fprintf(stderr, "pcapmangle: %s: link type %d, only Ethernet "
		    "captures are handled\n", argv[2], lt);
		return 1;
	}
	if (strcmp(op, "reorder") == 0) {
		op_reorder(&in);
		out = in;
	} else if (strcmp(op, "snap") == 0) {
		op_snap(&in, num_arg(argc, argv, 1));
		out = in;
	} else {
		lt = run(op, argc, argv, &in, &out, lt);
	}
	write_all(argv[3], &out, lt);
	plist_free(&out);
	return 0;
}
