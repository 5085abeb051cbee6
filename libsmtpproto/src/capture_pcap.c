/*
 * capture_pcap.c - packets from pcap/pcapng files, standard input and
 * live interfaces, through libpcap.  The only file that includes
 * <pcap.h>: everything past the record header is decode.c's and
 * ipfrag.c's business.
 *
 * Reading is pulled by the caller (pcap_next_ex, not pcap_loop), one
 * record per call, so that:
 *  - the byte offset where each record starts is known (ftello before
 *    the read), and an error names the file and that offset;
 *  - BPF filters on files are run here (pcap_offline_filter) rather
 *    than inside libpcap, which would skip rejected records inside
 *    pcap_next_ex and lose the record boundaries;
 *  - every record read before a damaged one has been returned.
 * Standard input is wrapped in a counting stdio cookie so that ftello
 * answers there too (pipes cannot seek), for pcap and pcapng alike.
 */
#define _GNU_SOURCE		/* fopencookie(3) */
#define _FILE_OFFSET_BITS 64	/* ftello past 2 GiB on 32-bit systems */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>

#include <pcap/pcap.h>

#include "internal.h"

#define STREAM_BUF_SIZE		(32u * 1024)	/* see below */
#define DEFAULT_SNAPLEN		262144
#define DEFAULT_TIMEOUT_MS	100
#define PCAP_FILE_HDR		24
#define PCAP_REC_HDR		16
#define ERR_SIZE		(PCAP_ERRBUF_SIZE + 512)

/* Standard input, counted: what ftello cannot ask a pipe. */
struct counted_stdin {
	FILE		*in;
	uint64_t	 pos;
};

struct sp_capture {
	pcap_t			*p;
	const struct sp_allocator *alloc;
	char			*name;		/* for messages */
	int			 linktype;	/* LINKTYPE_ value */
	int			 live;
	int			 nano;		/* time stamps in ns */
	int			 have_filter;	/* files: run here */
	struct bpf_program	 prog;
	sp_ipfrag		*frag;
	FILE			*fp;		/* files */
	char			*iobuf;
	struct counted_stdin	*cin;
	uint64_t		 rec_off;	/* start of the record read */
	uint64_t		 run_off;	/* pcap: 24 + sum(16+caplen) */
	int			 classic;	/* pcap, not pcapng */
	volatile sig_atomic_t	 brk;
	sp_err			 sticky;
	struct sp_capture_stats	 st;
	char			 err[ERR_SIZE];
};

static void
put_err(char *errbuf, size_t errlen, const char *msg)
{
	if (errbuf != NULL && errlen > 0)
		snprintf(errbuf, errlen, "%s", msg);
}

static sp_capture *
capture_alloc(const struct sp_limits *lim, const char *name)
{
	struct sp_limits	 def;
	const struct sp_allocator *a;
	sp_capture		*c;
	size_t			 n = strlen(name) + 1;

	/* NULL limits mean the defaults, as everywhere in the library. */
	if (lim == NULL) {
		sp_limits_default(&def);
		lim = &def;
	}
	a = lim->alloc;
	c = sp__calloc(a, 1, sizeof(*c));
	if (c == NULL)
		return (NULL);
	c->alloc = a;
	c->name = sp__malloc(a, n);
	if (c->name == NULL || sp_ipfrag_new(&c->frag, lim) != SP_E_OK) {
		sp__free(a, c->name);
		sp__free(a, c);
		return (NULL);
	}
	memcpy(c->name, name, n);
	return (c);
}

void
sp_capture_free(sp_capture *c)
{
	if (c == NULL)
		return;
	if (c->have_filter)
		pcap_freecode(&c->prog);
	if (c->p != NULL)
		pcap_close(c->p);	/* closes fp, never stdin */
	else if (c->fp != NULL)
		fclose(c->fp);
	sp__free(c->alloc, c->cin);
	sp__free(c->alloc, c->iobuf);
	sp_ipfrag_free(c->frag);
	sp__free(c->alloc, c->name);
	sp__free(c->alloc, c);
}

static ssize_t
cin_read(void *cookie, char *buf, size_t n)
{
	struct counted_stdin	*ci = cookie;
	size_t			 got = fread(buf, 1, n, ci->in);

	if (got == 0 && ferror(ci->in))
		return (-1);
	ci->pos += got;
	return ((ssize_t)got);
}

/* Only "where am I" is answered; stdio subtracts what it buffered. */
static int
cin_seek(void *cookie, off64_t *off, int whence)
{
	struct counted_stdin	*ci = cookie;

	if (whence == SEEK_CUR && *off == 0) {
		*off = (off64_t)ci->pos;
		return (0);
	}
	errno = ESPIPE;
	return (-1);
}

static int
cin_close(void *cookie)
{
	(void)cookie;		/* standard input stays open */
	return (0);
}

static FILE *
open_stdin(sp_capture *c)
{
	cookie_io_functions_t	io = { cin_read, NULL, cin_seek, cin_close };

	c->cin = sp__calloc(c->alloc, 1, sizeof(*c->cin));
	if (c->cin == NULL)
		return (NULL);
	c->cin->in = stdin;
	return (fopencookie(c->cin, "rb", io));
}

/*
 * Open path (or standard input) as a buffered stream.  The fseeko to
 * 0 lets glibc track the position itself, so the ftello before every
 * record costs no system call.  The stream buffer is 32 KiB: 8 times
 * fewer read(2) calls than stdio's 4 KiB, and still small enough that
 * the bytes are in cache when libpcap copies them out (256 KiB ran at
 * half the speed on a 300 MB file).
 */
static sp_err
open_stream(sp_capture *c, const char *path, char *msg, size_t msglen)
{
	struct stat	sb;

	if (strcmp(path, "-") == 0)
		c->fp = open_stdin(c);
	else
		c->fp = fopen(path, "rb");
	if (c->fp == NULL) {
		snprintf(msg, msglen, "%s: %s", c->name, strerror(errno));
		return (errno == ENOMEM ? SP_E_NOMEM : SP_E_IO);
	}
	c->iobuf = sp__malloc(c->alloc, STREAM_BUF_SIZE);
	if (c->iobuf != NULL)
		setvbuf(c->fp, c->iobuf, _IOFBF, STREAM_BUF_SIZE);
	if (c->cin == NULL && fstat(fileno(c->fp), &sb) == 0 &&
	    S_ISREG(sb.st_mode)) {
		c->st.file_size = (uint64_t)sb.st_size;
		(void)fseeko(c->fp, 0, SEEK_SET);
	}
	return (SP_E_OK);
}

/* Where the next record starts, or where reading stopped. */
static uint64_t
stream_offset(const sp_capture *c)
{
	off_t	o = ftello(c->fp);

	return (o >= 0 ? (uint64_t)o : c->run_off);
}

/* libpcap reports DLT_ values; the API speaks LINKTYPE_ values. */
static int
dlt_to_linktype(int dlt)
{
	if (dlt == DLT_RAW)
		return (SP_LINK_RAW);
	if (dlt == DLT_LOOP)
		return (SP_LINK_LOOP);
	return (dlt);
}

static sp_err
check_linktype(sp_capture *c, char *msg, size_t msglen)
{
	int		 dlt = pcap_datalink(c->p);
	const char	*nm = pcap_datalink_val_to_name(dlt);

	c->linktype = dlt_to_linktype(dlt);
	if (sp_linktype_supported(c->linktype))
		return (SP_E_OK);
	snprintf(msg, msglen, "%s: unsupported link type %d (%s)", c->name,
	    c->linktype, nm != NULL ? nm : "unknown");
	return (SP_E_UNSUPPORTED);
}

/* Compile filter; live captures install it in the kernel. */
static sp_err
set_filter(sp_capture *c, const char *filter, char *msg, size_t msglen)
{
	if (filter == NULL || *filter == '\0')
		return (SP_E_OK);
	if (pcap_compile(c->p, &c->prog, filter, 1,
	    PCAP_NETMASK_UNKNOWN) != 0) {
		snprintf(msg, msglen, "%s: bad filter \"%s\": %s", c->name,
		    filter, pcap_geterr(c->p));
		return (SP_E_INVAL);
	}
	c->have_filter = 1;
	if (c->live && pcap_setfilter(c->p, &c->prog) != 0) {
		snprintf(msg, msglen, "%s: cannot set filter: %s", c->name,
		    pcap_geterr(c->p));
		return (SP_E_INVAL);
	}
	return (SP_E_OK);
}

/*
 * Why libpcap refused a file at open: cut inside the file header,
 * not a capture at all, a read error, or a header it cannot use.
 */
static sp_err
open_failed(sp_capture *c, const char *why, char *msg, size_t msglen)
{
	if (strstr(why, "truncated") != NULL) {
		snprintf(msg, msglen, "%s: truncated file header at offset 0: "
		    "%s", c->name, why);
		return (SP_E_TRUNCATED);
	}
	if (strstr(why, "unknown file format") != NULL) {
		snprintf(msg, msglen, "%s: not a pcap or pcapng file", c->name);
		return (SP_E_IO);
	}
	snprintf(msg, msglen, "%s: %s", c->name, why);
	if (strstr(why, "error reading") != NULL)
		return (SP_E_IO);
	if (strstr(why, "memory") != NULL)
		return (SP_E_NOMEM);
	return (SP_E_FORMAT);
}

static sp_err
open_file(sp_capture *c, const char *path, const char *filter, char *msg,
    size_t msglen)
{
	char	pe[PCAP_ERRBUF_SIZE] = "";
	sp_err	e;

	e = open_stream(c, path, msg, msglen);
	if (e != SP_E_OK)
		return (e);
	c->p = pcap_fopen_offline_with_tstamp_precision(c->fp,
	    PCAP_TSTAMP_PRECISION_NANO, pe);
	if (c->p == NULL)
		return (open_failed(c, pe, msg, msglen));
	c->nano = 1;
	c->run_off = PCAP_FILE_HDR;
	c->rec_off = stream_offset(c);
	/* A pcapng section header is at least 28 bytes: here we are past it. */
	c->classic = c->rec_off == PCAP_FILE_HDR;
	e = check_linktype(c, msg, msglen);
	if (e == SP_E_OK)
		e = set_filter(c, filter, msg, msglen);
	return (e);
}

sp_err
sp_capture_open_file(sp_capture **out, const char *path, const char *filter,
    const struct sp_limits *lim, char *errbuf, size_t errlen)
{
	char		 msg[ERR_SIZE];
	sp_capture	*c;
	sp_err		 e;

	*out = NULL;
	if (path == NULL) {
		put_err(errbuf, errlen, "sp_capture_open_file: no path");
		return (SP_E_INVAL);
	}
	c = capture_alloc(lim, strcmp(path, "-") == 0 ? "stdin" : path);
	if (c == NULL) {
		put_err(errbuf, errlen, "out of memory");
		return (SP_E_NOMEM);
	}
	e = open_file(c, path, filter, msg, sizeof(msg));
	if (e != SP_E_OK) {
		put_err(errbuf, errlen, msg);
		sp_capture_free(c);
		return (e);
	}
	*out = c;
	return (SP_E_OK);
}

/* Set the options pcap_create() leaves open, then activate. */
static sp_err
activate(sp_capture *c, const struct sp_capture_live_opts *o, char *msg,
    size_t msglen)
{
	int	rc;

	pcap_set_snaplen(c->p, o->snaplen > 0 ? o->snaplen : DEFAULT_SNAPLEN);
	if (o->buffer_size > 0)
		pcap_set_buffer_size(c->p, o->buffer_size);
	pcap_set_promisc(c->p, o->promisc != 0);
	pcap_set_timeout(c->p, o->timeout_ms > 0 ? o->timeout_ms :
	    DEFAULT_TIMEOUT_MS);
	(void)pcap_set_tstamp_precision(c->p, PCAP_TSTAMP_PRECISION_NANO);
	rc = pcap_activate(c->p);
	if (rc < 0) {
		snprintf(msg, msglen, "%s: cannot capture: %s (%s)", c->name,
		    pcap_statustostr(rc), pcap_geterr(c->p));
		return (SP_E_IO);
	}
	c->nano = pcap_get_tstamp_precision(c->p) ==
	    PCAP_TSTAMP_PRECISION_NANO;
	return (SP_E_OK);
}

static sp_err
open_live(sp_capture *c, const char *iface,
    const struct sp_capture_live_opts *o, char *msg, size_t msglen)
{
	char	pe[PCAP_ERRBUF_SIZE] = "";
	sp_err	e;

	c->live = 1;
	c->p = pcap_create(iface, pe);
	if (c->p == NULL) {
		snprintf(msg, msglen, "%s: %s", c->name, pe);
		return (SP_E_IO);
	}
	e = activate(c, o, msg, msglen);
	if (e == SP_E_OK)
		e = check_linktype(c, msg, msglen);
	if (e == SP_E_OK)
		e = set_filter(c, o->filter, msg, msglen);
	return (e);
}

sp_err
sp_capture_open_live(sp_capture **out, const char *iface,
    const struct sp_capture_live_opts *opts, const struct sp_limits *lim,
    char *errbuf, size_t errlen)
{
	static const struct sp_capture_live_opts defaults;
	char		 msg[ERR_SIZE];
	sp_capture	*c;
	sp_err		 e;

	*out = NULL;
	if (iface == NULL) {
		put_err(errbuf, errlen, "sp_capture_open_live: no interface");
		return (SP_E_INVAL);
	}
	c = capture_alloc(lim, iface);
	if (c == NULL) {
		put_err(errbuf, errlen, "out of memory");
		return (SP_E_NOMEM);
	}
	e = open_live(c, iface, opts != NULL ? opts : &defaults, msg,
	    sizeof(msg));
	if (e != SP_E_OK) {
		put_err(errbuf, errlen, msg);
		sp_capture_free(c);
		return (e);
	}
	*out = c;
	return (SP_E_OK);
}

static sp_ts
record_ts(const sp_capture *c, const struct pcap_pkthdr *h)
{
	uint64_t	frac = (uint64_t)h->ts.tv_usec;

	if (h->ts.tv_sec < 0 || h->ts.tv_usec < 0)
		return (0);
	return ((sp_ts)h->ts.tv_sec * SP_TS_PER_SEC +
	    (c->nano ? frac : frac * 1000));
}

static void
count_malformed(sp_capture *c, enum sp_anomaly a)
{
	c->st.malformed++;
	if ((unsigned)a < SP_ANOM__COUNT)
		c->st.anomalies[a]++;
}

/*
 * A TCP fragment goes to the reassembler; a completed datagram is
 * decoded like any other.  Out of memory there loses the datagram,
 * which is what the fragment cap does too, so it counts as one.
 */
static int
on_fragment(sp_capture *c, const struct sp_frag_info *fi, sp_ts ts,
    struct sp_packet *pkt)
{
	struct sp_frag_info	 fi2;
	const uint8_t		*dg;
	size_t			 dlen;
	int			 anom;
	enum sp_anomaly		 a;
	enum sp_decode_result	 r;

	if (fi->proto != 6) {
		c->st.other++;		/* not ours: do not buffer it */
		return (0);
	}
	if (sp_ipfrag_add(c->frag, fi, ts, &dg, &dlen, &anom) != SP_E_OK)
		anom = SP_ANOM_IP_FRAG_LIMIT;
	if (anom >= 0 && anom < SP_ANOM__COUNT)
		c->st.anomalies[anom]++;
	if (dg == NULL)
		return (0);
	r = sp_packet_decode_ip(dg, dlen, dlen, ts, pkt, &fi2, &a);
	if (r == SP_DECODE_MALFORMED)
		count_malformed(c, a);
	if (r != SP_DECODE_TCP) {
		c->st.other += r != SP_DECODE_MALFORMED;
		return (0);
	}
	memcpy(pkt->vlan, fi->vlan, sizeof(pkt->vlan));
	pkt->nvlan = fi->nvlan;
	c->st.tcp++;
	return (1);
}

/* One record: 1 when *pkt now holds a TCP segment. */
static int
on_record(sp_capture *c, const struct pcap_pkthdr *h, const uint8_t *data,
    struct sp_packet *pkt)
{
	struct sp_frag_info	fi;
	enum sp_anomaly		a;
	sp_ts			ts;

	c->st.frames++;
	c->st.bytes += h->caplen;
	c->run_off += PCAP_REC_HDR + (uint64_t)h->caplen;
	if (c->have_filter && !c->live &&
	    pcap_offline_filter(&c->prog, h, data) == 0)
		return (0);
	ts = record_ts(c, h);
	switch (sp_packet_decode(c->linktype, data, h->caplen, h->len, ts,
	    pkt, &fi, &a)) {
	case SP_DECODE_TCP:
		c->st.tcp++;
		/* Not malformed, but worth counting: bytes are missing. */
		if (pkt->payload_len < pkt->payload_wire_len)
			c->st.anomalies[SP_ANOM_PKT_SNAPLEN_CUT]++;
		return (1);
	case SP_DECODE_FRAGMENT:
		return (on_fragment(c, &fi, ts, pkt));
	case SP_DECODE_MALFORMED:
		count_malformed(c, a);
		return (0);
	case SP_DECODE_OTHER:
		break;
	}
	c->st.other++;
	return (0);
}

/*
 * libpcap gave up on a record.  Its message says which way: "truncated
 * dump file" / "truncated pcapng dump file" when the file ends inside
 * a record, "error reading dump file" for I/O, anything else (a
 * capture length past the snap length, a bad block) is corruption.
 */
static sp_err
read_failed(sp_capture *c)
{
	const char	*why = pcap_geterr(c->p);
	const char	*what = "corrupt record";
	sp_err		 e = SP_E_FORMAT;

	if (c->live) {
		snprintf(c->err, sizeof(c->err), "%s: read error: %s",
		    c->name, why);
		return (SP_E_IO);
	}
	if (strstr(why, "truncated") != NULL) {
		what = "truncated record";
		e = SP_E_TRUNCATED;
	} else if (strstr(why, "error reading") != NULL) {
		what = "read error";
		e = SP_E_IO;
	}
	snprintf(c->err, sizeof(c->err), "%s: %s at offset %llu (after %llu "
	    "packets): %s", c->name, what, (unsigned long long)c->rec_off,
	    (unsigned long long)c->st.frames, why);
	return (e);
}

sp_err
sp_capture_next(sp_capture *c, struct sp_packet *pkt)
{
	struct pcap_pkthdr	*h;
	const u_char		*data;
	int			 rc;

	for (;;) {
		if (c->brk)
			return (SP_E_EOF);
		if (c->sticky != SP_E_OK)
			return (c->sticky);
		/*
		 * Where the record starts, for an error message.  In a pcap
		 * file every record passes on_record(), so run_off says it
		 * without the ftello() (a locked stdio call per packet); in
		 * pcapng libpcap skips blocks we never see.  The first
		 * record checks it (libpcap also reads variants whose record
		 * headers are longer than 16 bytes).
		 */
		if (c->classic && c->st.frames < 2)
			c->classic = stream_offset(c) == c->run_off;
		if (!c->live)
			c->rec_off = c->classic ? c->run_off : stream_offset(c);
		rc = pcap_next_ex(c->p, &h, &data);
		if (rc == 1) {
			if (on_record(c, h, data, pkt))
				return (SP_E_OK);
			continue;
		}
		if (rc == 0)
			return (SP_E_AGAIN);	/* live read timeout */
		/* End of file, or pcap_breakloop() on a live capture. */
		if (rc == PCAP_ERROR_BREAK)
			c->sticky = SP_E_EOF;
		else
			c->sticky = read_failed(c);
		return (c->sticky);
	}
}

void
sp_capture_break(sp_capture *c)
{
	/* A store and pcap_breakloop's write(2): async-signal-safe. */
	c->brk = 1;
	if (c->live)
		pcap_breakloop(c->p);
}

const char *
sp_capture_error(const sp_capture *c)
{
	return (c->err);
}

int
sp_capture_linktype(const sp_capture *c)
{
	return (c->linktype);
}

int
sp_capture_fd(const sp_capture *c)
{
	return (c->live ? pcap_get_selectable_fd(c->p) : -1);
}

void
sp_capture_get_stats(sp_capture *c, struct sp_capture_stats *st)
{
	struct pcap_stat	ps;

	*st = c->st;
	sp_ipfrag_get_stats(c->frag, &st->frag);
	if (!c->live) {
		st->offset = stream_offset(c);
		return;
	}
	if (pcap_stats(c->p, &ps) == 0) {
		st->kernel_received = ps.ps_recv;
		st->kernel_dropped = ps.ps_drop;
		st->iface_dropped = ps.ps_ifdrop;
	}
}
