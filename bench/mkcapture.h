/*
 * mkcapture.h - the template sessions mkcapture clones: every TCP
 * segment of the template captures, grouped by flow, with the client
 * and server roles decided and what a reassembler must make of each
 * direction counted.
 */
#ifndef SP_BENCH_MKCAPTURE_H
#define SP_BENCH_MKCAPTURE_H

#include <stddef.h>
#include <stdint.h>

/* One template segment: TCP header and payload, stored in the pool. */
struct tpkt {
	size_t		 off;		/* into tmpl.pool */
	uint32_t	 seq;
	uint32_t	 payload_len;
	uint16_t	 tcp_hlen;
	uint8_t		 dir;		/* 0 client to server, 1 back */
	uint8_t		 flags;
};

struct tflow {
	uint8_t		 family;	/* 4 or 6, of the template */
	uint8_t		 addr[2][16];	/* client, server */
	uint16_t	 port[2];	/* client, server */
	uint32_t	 server_ip;	/* IPv4 address the clones use */
	uint16_t	 server_port;
	size_t		*pkts;		/* indexes into tmpl.pkts, in order */
	size_t		 npkts, cap;
	uint64_t	 file_bytes;	/* one clone's share of the output */
	int		 is_stream;	/* a SYN or a payload byte was seen:
					   a reassembler must report it */
	/* Per direction, counted once the whole template is read: */
	uint64_t	 payload[2];	/* segment payload, duplicates too */
	uint64_t	 covered[2];	/* stream bytes some segment holds */
	uint64_t	 holes[2];	/* stream bytes no segment holds */
};

struct tmpl {
	uint8_t		*pool;		/* TCP headers and payloads */
	size_t		 pool_len, pool_cap, pool_max;
	struct tpkt	*pkts;
	size_t		 npkts, pkts_cap;
	struct tflow	*flows;
	size_t		 nflows, flows_cap;
	size_t		 nfiles;
	size_t		 mss;		/* longest payload kept; 0: any */
	uint64_t	 skipped;	/* frames that are not usable TCP */
};

/* Bytes one cloned segment takes in the output file. */
static inline uint64_t
tpkt_file_bytes(const struct tpkt *tp)
{
	/* pcap record header, Ethernet, IPv4 without options, TCP. */
	return (16 + 14 + 20 + (uint64_t)tp->tcp_hlen + tp->payload_len);
}

/*
 * Read the template files, only the packets the BPF filter passes
 * when it is not NULL, cutting payloads longer than mss (unless 0)
 * into segments of mss bytes; at most max bytes of TCP headers and
 * payload are kept.  Prints why on standard error and returns -1 when
 * a file cannot be read, is over the cap or holds no TCP flow (*t is
 * then empty: nothing to free).
 */
int	tmpl_load(struct tmpl *t, char **files, size_t nfiles,
	    const char *filter, size_t mss, size_t max);
void	tmpl_free(struct tmpl *t);

#endif /* SP_BENCH_MKCAPTURE_H */
