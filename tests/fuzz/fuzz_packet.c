/*
 * fuzz_packet.c - link/IP/TCP decoding and IPv4 fragment reassembly.
 *
 * Input: byte 0 picks the link type; then frames, each a 2-byte
 * big-endian length, a 1-byte snap cut and the bytes.  Each frame is
 * decoded from its own heap copy (so ASan sees any over-read), its
 * fragments go to a reassembler with small caps (so the limit paths
 * run), and completed datagrams are decoded again.  The fuzzer checks
 * the decoder's promises: a TCP payload lies inside the frame, and
 * payload_len <= payload_wire_len.
 */
#include <stdio.h>

#include "internal.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const int linktypes[] = { SP_LINK_ETHERNET, SP_LINK_LINUX_SLL,
    SP_LINK_LINUX_SLL2, SP_LINK_NULL, SP_LINK_LOOP, SP_LINK_RAW,
    SP_LINK_IPV4, SP_LINK_IPV6 };

static void
check_tcp(const struct sp_packet *pkt, const uint8_t *buf, size_t caplen)
{
	if (pkt->payload_len > pkt->payload_wire_len ||
	    pkt->payload < buf ||
	    pkt->payload_len > caplen - (size_t)(pkt->payload - buf)) {
		fprintf(stderr, "fuzz_packet: payload outside the frame\n");
		abort();
	}
}

static void
one_frame(int lt, sp_ipfrag *f, const uint8_t *p, size_t n, size_t cut,
    sp_ts ts)
{
	struct sp_packet	 pkt;
	struct sp_frag_info	 fi;
	enum sp_anomaly		 a;
	const uint8_t		*dg;
	size_t			 dlen, caplen = n > cut ? n - cut : 0;
	int			 anom;
	uint8_t			*buf = malloc(caplen + 1);

	if (buf == NULL)
		return;
	memcpy(buf, p, caplen);
	switch (sp_packet_decode(lt, buf, caplen, n, ts, &pkt, &fi, &a)) {
	case SP_DECODE_TCP:
		check_tcp(&pkt, buf, caplen);
		break;
	case SP_DECODE_FRAGMENT:
		if (sp_ipfrag_add(f, &fi, ts, &dg, &dlen, &anom) == SP_E_OK &&
		    dg != NULL && sp_packet_decode_ip(dg, dlen, dlen, ts, &pkt,
		    &fi, &a) == SP_DECODE_TCP)
			check_tcp(&pkt, dg, dlen);
		break;
	default:
		break;
	}
	free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sp_limits	 lim;
	sp_ipfrag		*f;
	size_t			 off = 1, n;
	sp_ts			 ts = 0;
	int			 lt;

	if (size < 1)
		return (0);
	lt = linktypes[data[0] % SP_NELEM(linktypes)];
	sp_limits_default(&lim);
	lim.ip_frag_bytes = 4096;
	lim.ip_frag_datagrams = 4;
	lim.ip_frag_timeout = 3 * SP_TS_PER_SEC;
	if (sp_ipfrag_new(&f, &lim) != SP_E_OK)
		return (0);
	while (size - off >= 3) {
		n = sp__be16(data + off);
		if (n > size - off - 3)
			n = size - off - 3;
		one_frame(lt, f, data + off + 3, n, data[off + 2] % 64, ts);
		ts += SP_TS_PER_SEC;
		off += 3 + n;
	}
	sp_ipfrag_free(f);
	return (0);
}
