/*
 * TCP reassembly over the shared third-party captures: every classic
 * pcap under $SP_SHARED_CAPTURES goes through the reassembler, and the
 * promises of tcp.h must hold for every flow (offsets covered exactly
 * once and in order, one on_flow_end each, nothing after it, no buffer
 * left).  Exits 77 when the captures are not there.
 *
 * The frame decoding here is a deliberately small stand-in (Ethernet
 * with 802.1Q, BSD loopback, raw IP, Linux cooked; IPv4 and IPv6
 * without extension headers) so this test does not depend on the
 * packet decoder; pcapng files are skipped.
 *
 * With file arguments it prints the event log and one line per flow
 * instead, and with $SP_DUMP_DIR set writes each stream there (gap
 * bytes as '#'), for comparing with "tshark -z follow,tcp,raw,N".
 */
#include <dirent.h>
#include <sys/stat.h>

#include "tcp_harness.h"

struct pcap_file {
	uint8_t		*data;
	size_t		 len;
	int		 swapped, nsec;
	uint32_t	 linktype;
};

static uint32_t
rd32(const struct pcap_file *pf, const uint8_t *p)
{
	uint32_t	v;

	memcpy(&v, p, 4);
	if (pf->swapped)
		v = __builtin_bswap32(v);
	return (v);
}

static int
load(const char *path, struct pcap_file *pf)
{
	FILE		*fp = fopen(path, "rb");
	struct stat	 sb;
	uint32_t	 magic;

	memset(pf, 0, sizeof(*pf));
	if (fp == NULL || fstat(fileno(fp), &sb) != 0 || sb.st_size < 24) {
		if (fp != NULL)
			fclose(fp);
		return (-1);
	}
	pf->len = (size_t)sb.st_size;
	pf->data = malloc(pf->len);
	if (pf->data == NULL || fread(pf->data, 1, pf->len, fp) != pf->len) {
		fclose(fp);
		return (-1);
	}
	fclose(fp);
	memcpy(&magic, pf->data, 4);
	pf->swapped = magic == 0xd4c3b2a1u || magic == 0x4d3cb2a1u;
	pf->nsec = magic == 0xa1b23c4du || magic == 0x4d3cb2a1u;
	if (!pf->swapped && magic != 0xa1b2c3d4u && magic != 0xa1b23c4du)
		return (-1);		/* pcapng or not a capture */
	pf->linktype = rd32(pf, pf->data + 20) & 0xffff;
	return (0);
}

/* TCP over IPv4 or IPv6 at ip; returns 0 when pkt is set. */
static int
decode_ip(const uint8_t *ip, size_t n, struct sp_packet *pkt)
{
	size_t		 hl, tl, th;
	const uint8_t	*tcp;

	if (n >= 20 && ip[0] >> 4 == 4) {
		hl = (size_t)(ip[0] & 15) * 4;
		tl = sp__be16(ip + 2);
		if (ip[9] != 6 || hl < 20 || tl < hl ||
		    (sp__be16(ip + 6) & 0x3fff) != 0 || n < hl)
			return (-1);
		pkt->src.family = pkt->dst.family = 4;
		memcpy(pkt->src.a, ip + 12, 4);
		memcpy(pkt->dst.a, ip + 16, 4);
	} else if (n >= 40 && ip[0] >> 4 == 6) {
		hl = 40;
		tl = 40 + (size_t)sp__be16(ip + 4);
		if (ip[6] != 6)
			return (-1);
		pkt->src.family = pkt->dst.family = 6;
		memcpy(pkt->src.a, ip + 8, 16);
		memcpy(pkt->dst.a, ip + 24, 16);
	} else {
		return (-1);
	}
	tcp = ip + hl;
	if (n < hl + 20)
		return (-1);
	th = (size_t)(tcp[12] >> 4) * 4;
	if (th < 20 || tl < hl + th || n < hl + th)
		return (-1);
	pkt->sport = sp__be16(tcp);
	pkt->dport = sp__be16(tcp + 2);
	pkt->seq = sp__be32(tcp + 4);
	pkt->ack = sp__be32(tcp + 8);
	pkt->flags = tcp[13];
	pkt->payload = tcp + th;
	pkt->payload_wire_len = tl - hl - th;
	pkt->payload_len = SP_MIN(pkt->payload_wire_len, n - hl - th);
	return (0);
}

static int
decode_frame(uint32_t linktype, const uint8_t *p, size_t n,
    struct sp_packet *pkt)
{
	size_t		off;
	uint16_t	type;

	switch (linktype) {
	case 0:			/* BSD loopback */
		off = 4;
		break;
	case 1:			/* Ethernet */
		off = 14;
		if (n < off)
			return (-1);
		type = sp__be16(p + 12);
		while ((type == 0x8100 || type == 0x88a8) && n >= off + 4) {
			if (pkt->nvlan < SP_MAX_VLAN)
				pkt->vlan[pkt->nvlan++] =
				    sp__be16(p + off) & 0x0fff;
			type = sp__be16(p + off + 2);
			off += 4;
		}
		break;
	case 12: case 101:	/* raw IP */
		off = 0;
		break;
	case 113:		/* Linux cooked */
		off = 16;
		break;
	default:
		return (-1);
	}
	if (n < off)
		return (-1);
	return (decode_ip(p + off, n - off, pkt));
}

struct run {
	int		 files, flows, gaps;
	uint64_t	 bytes;
};

/* With $SP_DUMP_DIR set, write each stream to <dir>/<id>.<C|S>. */
static void
dump_streams(const struct evlog *l, uint64_t flows)
{
	const char	*dir = getenv("SP_DUMP_DIR");
	char		 path[4096];
	FILE		*fp;

	for (uint64_t id = 1; dir != NULL && id <= flows &&
	    id < EV_MAX_FLOWS; id++) {
		for (int d = 0; d < 2; d++) {
			snprintf(path, sizeof(path), "%s/%llu.%c", dir,
			    (unsigned long long)id, d == 0 ? 'C' : 'S');
			fp = fopen(path, "wb");
			if (fp == NULL)
				continue;
			if (l->s[id][d].len > 0)
				fwrite(l->s[id][d].bytes, 1, l->s[id][d].len,
				    fp);
			fclose(fp);
		}
	}
}

static void
run_file(const char *path, struct run *tot, int verbose)
{
	struct pcap_file	 pf;
	struct evlog		 l;
	struct sp_limits	 lim;
	sp_tcp_reasm		*r;
	struct sp_tcp_stats	 st;
	size_t			 off = 24, caplen;
	struct sp_packet	 pkt;

	if (load(path, &pf) != 0) {
		free(pf.data);
		return;
	}
	sp_limits_default(&lim);
	lim.tcp_flows = EV_MAX_FLOWS - 1;	/* ids stay within the log */
	r = tnew(&l, &lim);
	l.log_data = 0;
	while (off + 16 <= pf.len) {
		caplen = rd32(&pf, pf.data + off + 8);
		if (caplen > pf.len - off - 16)
			break;
		memset(&pkt, 0, sizeof(pkt));
		if (decode_frame(pf.linktype, pf.data + off + 16, caplen,
		    &pkt) == 0) {
			pkt.ts = (sp_ts)rd32(&pf, pf.data + off) *
			    SP_TS_PER_SEC + (sp_ts)rd32(&pf, pf.data + off +
			    4) * (pf.nsec ? 1 : 1000);
			CHECK_EQ(sp_tcp_reasm_packet(r, &pkt), SP_E_OK, "%s",
			    path);
		}
		off += 16 + caplen;
	}
	CHECK_EQ(sp_tcp_reasm_finish(r), SP_E_OK, "%s", path);
	sp_tcp_reasm_get_stats(r, &st);
	CHECK_EQ(l.violations, 0, "%s", path);
	CHECK_EQ(st.flows_open, 0u, "%s", path);
	CHECK_EQ(st.buffered, 0u, "%s", path);
	for (uint64_t id = 1; id <= st.flows && id < EV_MAX_FLOWS; id++)
		CHECK(l.ended[id], "%s: flow %llu never ended", path,
		    (unsigned long long)id);
	if (verbose) {
		dump_streams(&l, st.flows);
		printf("%s\n%s", path, ev_text(&l));
		for (uint64_t id = 1; id <= st.flows && id < EV_MAX_FLOWS;
		    id++)
			printf("flow %llu: client %llu bytes, server %llu "
			    "bytes\n", (unsigned long long)id,
			    (unsigned long long)l.s[id][0].next,
			    (unsigned long long)l.s[id][1].next);
	}
	tot->files++;
	tot->flows += (int)st.flows;
	tot->gaps += (int)st.gaps;
	tot->bytes += st.bytes;
	sp_tcp_reasm_free(r);
	ev_free(&l);
	free(pf.data);
}

static void
run_dir(const char *dir, struct run *tot)
{
	DIR		*d = opendir(dir);
	struct dirent	*de;
	char		 path[4096];
	size_t		 n;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		n = strlen(de->d_name);
		if (n > 5 && strcmp(de->d_name + n - 5, ".pcap") == 0)
			run_file(path, tot, 0);
		else if (strchr(de->d_name, '.') == NULL)
			run_dir(path, tot);
	}
	closedir(d);
}

int
main(int argc, char **argv)
{
	const char	*dir = getenv("SP_SHARED_CAPTURES");
	struct run	 tot = { 0, 0, 0, 0 };
	DIR		*d;

	if (argc > 1) {
		for (int i = 1; i < argc; i++)
			run_file(argv[i], &tot, 1);
		return (check_done("test_tcp_captures"));
	}
	d = dir != NULL ? opendir(dir) : NULL;
	if (d == NULL) {
		printf("no shared captures: skipped\n");
		return (77);
	}
	closedir(d);
	run_dir(dir, &tot);
	printf("%d captures, %d flows, %llu bytes, %d gaps\n", tot.files,
	    tot.flows, (unsigned long long)tot.bytes, tot.gaps);
	CHECK(tot.files > 50, "only %d captures read", tot.files);
	return (check_done("test_tcp_captures"));
}
