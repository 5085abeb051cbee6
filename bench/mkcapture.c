/*
 * mkcapture - build a large benchmark capture from recorded sessions.
 *
 *   mkcapture -o OUT.pcap --size MB [--interleave K] [--seed N]
 *       [--server-port P] [--filter BPF] [--mss N] TEMPLATE.pcap...
 *
 * Every TCP flow of the templates (those the BPF filter passes, when
 * one is given) is a session to clone.  --server-port rewrites the
 * server's port, e.g. to 25 so that every tool decodes it as SMTP.
 * Payloads longer than --mss bytes (default 1460, as on Ethernet; 0
 * keeps them whole) are cut into several segments, and SYNs announce
 * that MSS: sessions recorded on loopback carry 64 KB segments.
 *
 * Clones are started in turn (template flow 0, 1, ..., 0, 1, ...), each with a
 * fresh client address and port and its own random initial sequence
 * numbers; K clones are in flight at once and their packets are
 * interleaved one at a time in a seeded random order, as on a busy mail
 * server.  New clones start until the file would reach MB megabytes
 * (10^6 bytes); the clones in flight then run to their end, so every
 * session in the output is complete.  The same templates, options and
 * seed give the same bytes.
 *
 * Every packet is written anew as Ethernet + IPv4 (no options) + the
 * template's TCP header and payload, with lengths and both checksums
 * computed, whatever link type and IP version the template used.
 * Timestamps advance as on a 100 Mbit/s link (80 ns per byte plus 1 us
 * per packet) from 2026-01-01.
 *
 * On standard output it prints key=value lines, among them what a TCP
 * reassembler must deliver for the whole file: expect_flows (clones
 * of flows that carry a SYN or payload; a stray ACK is no stream),
 * expect_stream_bytes and expect_gap_bytes (the bytes the templates'
 * segments cover, or leave as holes, in each direction, counted once
 * however often they were retransmitted, times the number of clones).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mkcapture.h"
#include "pktbytes.h"

/* Templates are small recorded sessions; refuse anything absurd. */
#define MAX_TEMPLATE_BYTES	((size_t)1 << 30)
#define MAX_INTERLEAVE		100000
#define MAX_SIZE_MB		1000000.0
#define START_TIME_SEC		UINT64_C(1767225600)	/* 2026-01-01 */
#define NS_PER_BYTE		80			/* 100 Mbit/s */
#define NS_PER_PACKET		1000

struct options {
	const char	*out;
	double		 size_mb;
	unsigned	 interleave;
	uint64_t	 seed;
	int		 server_port;	/* -1: keep the template's */
	const char	*filter;	/* BPF for the templates, or NULL */
	size_t		 mss;		/* 0: keep the template's segments */
};

/* One clone in flight. */
struct slot {
	size_t		 flow;		/* template flow */
	size_t		 next;		/* its next packet */
	uint64_t	 left;		/* output bytes still to write */
	uint32_t	 client_ip, server_ip;
	uint16_t	 client_port, server_port;
	uint32_t	 seq_shift[2];	/* added to seq of each direction */
	uint16_t	 ip_id[2];
};

struct writer {
	pcap_dumper_t	*dump;
	uint64_t	 ts_ns;
	uint64_t	 bytes;		/* file bytes written, headers too */
	uint64_t	 packets;
	uint8_t		 frame[14 + 20 + 60 + 65535];
};

static void
usage(FILE *f)
{
	fprintf(f, "usage: mkcapture -o OUT.pcap --size MB [--interleave K]"
	    " [--seed N]\n"
	    "                 [--server-port P] [--filter BPF] [--mss N]"
	    " TEMPLATE.pcap..."
	    "\n");
}

static int
parse_uint(const char *s, unsigned long long max, unsigned long long *v)
{
	char	*end;

	errno = 0;
	*v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || *v > max || s[0] == '-')
		return (-1);
	return (0);
}

static int
parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "size", required_argument, NULL, 's' },
		{ "interleave", required_argument, NULL, 'k' },
		{ "seed", required_argument, NULL, 'S' },
		{ "server-port", required_argument, NULL, 'p' },
		{ "filter", required_argument, NULL, 'f' },
		{ "mss", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	unsigned long long	 v;
	char			*end;
	int			 c;

	memset(o, 0, sizeof(*o));
	o->interleave = 8;
	o->seed = 1;
	o->server_port = -1;
	o->mss = 1460;
	while ((c = getopt_long(argc, argv, "o:s:k:S:p:f:m:h", longopts,
	    NULL)) != -1) {
		switch (c) {
		case 'o':
			o->out = optarg;
			break;
		case 's':
			errno = 0;
			o->size_mb = strtod(optarg, &end);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    !(o->size_mb > 0 && o->size_mb <= MAX_SIZE_MB))
				return (-1);
			break;
		case 'k':
			if (parse_uint(optarg, MAX_INTERLEAVE, &v) != 0 ||
			    v == 0)
				return (-1);
			o->interleave = (unsigned)v;
			break;
		case 'S':
			if (parse_uint(optarg, UINT64_MAX, &v) != 0)
				return (-1);
			o->seed = v;
			break;
		case 'p':
			if (parse_uint(optarg, 65535, &v) != 0 || v == 0)
				return (-1);
			o->server_port = (int)v;
			break;
		case 'f':
			o->filter = optarg;
			break;
		case 'm':
			if (parse_uint(optarg, 65495, &v) != 0 ||
			    (v > 0 && v < 64))
				return (-1);
			o->mss = (size_t)v;
			break;
		default:
			return (-1);
		}
	}
	if (o->out == NULL || o->size_mb == 0 || optind >= argc)
		return (-1);
	return (0);
}

/* splitmix64: small, fast and fully determined by the seed. */
static uint64_t
rng_next(uint64_t *state)
{
	uint64_t	z = (*state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return (z ^ (z >> 31));
}

/*
 * SACK blocks (RFC 2018 3) carry sequence numbers of the other
 * direction, so they move with that direction's shift, as the ACK
 * field does.
 */
static void
shift_sack(uint8_t *tcp, size_t hlen, uint32_t shift)
{
	size_t	i = 20, len, j;

	while (i < hlen) {
		if (tcp[i] == 0)
			break;
		if (tcp[i] == 1 || i + 1 >= hlen) {
			i++;
			continue;
		}
		len = tcp[i + 1];
		if (len < 2 || len > hlen - i)
			break;
		if (tcp[i] == 5)
			for (j = i + 2; j + 4 <= i + len; j += 4)
				put32(tcp + j, get32(tcp + j) + shift);
		i += len;
	}
}

/* Fill the IPv4 and TCP headers of one cloned segment in w->frame. */
static size_t
build_frame(struct writer *w, const struct tmpl *t, const struct tpkt *tp,
    struct slot *s)
{
	uint8_t		*eth = w->frame, *ip = eth + 14, *tcp = ip + 20;
	const uint8_t	*src = t->pool + tp->off;
	int		 d = tp->dir;
	size_t		 seglen = (size_t)tp->tcp_hlen + tp->payload_len;
	uint32_t	 sum, saddr, daddr;

	memcpy(eth, d == 0 ? "\x02\0\0\0\0\x02\x02\0\0\0\0\x01" :
	    "\x02\0\0\0\0\x01\x02\0\0\0\0\x02", 12);
	put16(eth + 12, 0x0800);
	saddr = d == 0 ? s->client_ip : s->server_ip;
	daddr = d == 0 ? s->server_ip : s->client_ip;
	memset(ip, 0, 20);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(20 + seglen));
	put16(ip + 4, s->ip_id[d]++);
	put16(ip + 6, 0x4000);			/* DF */
	ip[8] = 64;
	ip[9] = 6;
	put32(ip + 12, saddr);
	put32(ip + 16, daddr);
	put16(ip + 10, csum_fold(csum_add(0, ip, 20)));

	memcpy(tcp, src, seglen);
	put16(tcp + (d == 0 ? 0 : 2), s->client_port);
	put16(tcp + (d == 0 ? 2 : 0), s->server_port);
	put32(tcp + 4, get32(tcp + 4) + s->seq_shift[d]);
	if (tcp[13] & 0x10)
		put32(tcp + 8, get32(tcp + 8) + s->seq_shift[!d]);
	shift_sack(tcp, tp->tcp_hlen, s->seq_shift[!d]);
	put16(tcp + 16, 0);
	/* RFC 793 3.1: the pseudo header, then the segment. */
	sum = (saddr >> 16) + (saddr & 0xffff) + (daddr >> 16) +
	    (daddr & 0xffff) + 6 + (uint32_t)seglen;
	put16(tcp + 16, csum_fold(csum_add(sum, tcp, seglen)));
	return (14 + 20 + seglen);
}

static void
write_packet(struct writer *w, const struct tmpl *t, struct slot *s)
{
	const struct tpkt	*tp = &t->pkts[t->flows[s->flow].pkts[s->next]];
	struct pcap_pkthdr	 h;
	size_t			 len;

	len = build_frame(w, t, tp, s);
	memset(&h, 0, sizeof(h));
	h.ts.tv_sec = (time_t)(w->ts_ns / 1000000000);
	h.ts.tv_usec = (suseconds_t)(w->ts_ns % 1000000000 / 1000);
	h.caplen = h.len = (bpf_u_int32)len;
	pcap_dump((u_char *)w->dump, &h, w->frame);
	w->ts_ns += NS_PER_PACKET + NS_PER_BYTE * (uint64_t)len;
	w->bytes += 16 + len;
	w->packets++;
	s->left -= 16 + len;
	s->next++;
}

/*
 * Clone n gets a client address in 100.64.0.0/10 (RFC 6598, shared
 * address space: it cannot clash with a recorded server's address in
 * 127/8 or the private ranges).  Multiplying by an odd constant is a
 * bijection modulo 2^22, so 4 million clones in a row get distinct
 * addresses; the port is random.
 */
static void
start_clone(struct slot *s, const struct tmpl *t, size_t flow, uint64_t n,
    uint64_t *rng, const struct options *o)
{
	const struct tflow	*f = &t->flows[flow];
	uint64_t		 r = rng_next(rng);

	memset(s, 0, sizeof(*s));
	s->flow = flow;
	s->left = f->file_bytes;
	s->client_ip = 0x64400000u | (uint32_t)((n * 2654435761u) &
	    0x3fffff);
	s->server_ip = f->server_ip;
	s->client_port = (uint16_t)(1024 + r % 64512);
	s->server_port = o->server_port >= 0 ? (uint16_t)o->server_port :
	    f->server_port;
	s->ip_id[0] = (uint16_t)(r >> 16);
	s->ip_id[1] = (uint16_t)(r >> 32);
	r = rng_next(rng);
	s->seq_shift[0] = (uint32_t)r;
	s->seq_shift[1] = (uint32_t)(r >> 32);
}

struct run {
	uint64_t	clones;
	uint64_t	flows;		/* clones of flows that are streams */
	uint64_t	stream_bytes;
	uint64_t	gap_bytes;
	uint64_t	payload_bytes;
};

/*
 * Fill the slots with new clones while the file, counting what the
 * clones in flight will still write, is below the target.
 */
static size_t
refill(struct slot *slots, size_t nslots, unsigned k, const struct tmpl *t,
    uint64_t committed, uint64_t target, struct run *run, uint64_t *rng,
    const struct options *o)
{
	const struct tflow	*f;
	size_t			 flow;

	while (nslots < k && committed < target) {
		flow = (size_t)(run->clones % t->nflows);
		f = &t->flows[flow];
		start_clone(&slots[nslots++], t, flow, run->clones, rng, o);
		run->clones++;
		run->flows += f->is_stream ? 1 : 0;
		run->stream_bytes += f->covered[0] + f->covered[1];
		run->gap_bytes += f->holes[0] + f->holes[1];
		run->payload_bytes += f->payload[0] + f->payload[1];
		committed += f->file_bytes;
	}
	return (nslots);
}

static int
generate(struct writer *w, const struct tmpl *t, const struct options *o,
    struct run *run)
{
	struct slot	*slots;
	uint64_t	 rng = o->seed, committed, target;
	size_t		 nslots = 0, i, j;

	target = (uint64_t)(o->size_mb * 1e6);
	slots = calloc(o->interleave, sizeof(*slots));
	if (slots == NULL)
		return (-1);
	w->bytes = 24;				/* the file header */
	memset(run, 0, sizeof(*run));
	nslots = refill(slots, 0, o->interleave, t, w->bytes, target, run,
	    &rng, o);
	while (nslots > 0) {
		i = (size_t)(rng_next(&rng) % nslots);
		write_packet(w, t, &slots[i]);
		if (slots[i].next < t->flows[slots[i].flow].npkts)
			continue;
		slots[i] = slots[--nslots];	/* that clone is done */
		committed = w->bytes;
		for (j = 0; j < nslots; j++)
			committed += slots[j].left;
		nslots = refill(slots, nslots, o->interleave, t, committed,
		    target, run, &rng, o);
	}
	free(slots);
	return (0);
}

/* One line per template flow, so a user sees what is being cloned. */
static void
print_flows(const struct tmpl *t)
{
	const struct tflow	*f;
	size_t			 i;

	for (i = 0; i < t->nflows; i++) {
		f = &t->flows[i];
		printf("template_flow.%zu=server_port %u packets %zu payload "
		    "%" PRIu64 "/%" PRIu64 " stream %" PRIu64 "/%" PRIu64
		    " holes %" PRIu64 "/%" PRIu64 "\n", i, f->server_port,
		    f->npkts, f->payload[0], f->payload[1], f->covered[0],
		    f->covered[1], f->holes[0], f->holes[1]);
	}
}

static void
print_summary(const struct options *o, const struct tmpl *t,
    const struct writer *w, const struct run *run)
{
	printf("output=%s\n", o->out);
	printf("seed=%" PRIu64 "\ninterleave=%u\nmss=%zu\n", o->seed,
	    o->interleave, o->mss);
	printf("template_files=%zu\ntemplate_flows=%zu\n", t->nfiles,
	    t->nflows);
	printf("template_skipped_packets=%" PRIu64 "\n", t->skipped);
	print_flows(t);
	printf("file_bytes=%" PRIu64 "\npackets=%" PRIu64 "\n", w->bytes,
	    w->packets);
	printf("payload_bytes=%" PRIu64 "\n", run->payload_bytes);
	printf("sessions=%" PRIu64 "\n", run->clones);
	printf("expect_flows=%" PRIu64 "\n", run->flows);
	printf("expect_stream_bytes=%" PRIu64 "\n", run->stream_bytes);
	printf("expect_gap_bytes=%" PRIu64 "\n", run->gap_bytes);
}

int
main(int argc, char **argv)
{
	struct options	 o;
	struct tmpl	 t;
	struct writer	*w;
	struct run	 run;
	pcap_t		*dead;
	int		 rc = 1;

	if (parse_options(argc, argv, &o) != 0) {
		usage(stderr);
		return (2);
	}
	if (tmpl_load(&t, argv + optind, (size_t)(argc - optind), o.filter,
	    o.mss, MAX_TEMPLATE_BYTES) != 0)
		return (1);
	w = calloc(1, sizeof(*w));
	dead = pcap_open_dead(DLT_EN10MB, 262144);
	if (w == NULL || dead == NULL)
		goto out;
	w->ts_ns = START_TIME_SEC * 1000000000;
	w->dump = pcap_dump_open(dead, o.out);
	if (w->dump == NULL) {
		fprintf(stderr, "mkcapture: %s\n", pcap_geterr(dead));
		goto out;
	}
	if (generate(w, &t, &o, &run) == 0 && pcap_dump_flush(w->dump) == 0) {
		print_summary(&o, &t, w, &run);
		rc = 0;
	} else
		fprintf(stderr, "mkcapture: %s: write failed\n", o.out);
	pcap_dump_close(w->dump);
out:
	if (dead != NULL)
		pcap_close(dead);
	free(w);
	tmpl_free(&t);
	return (rc);
}
