/*
 * sp_streams - write the reassembled TCP streams of a capture to files,
 * using only the library's capture and reassembly API.  The capture
 * tests compare these files with the bytes the recording client logged.
 *
 *   sp_streams [-f BPF] [-p PORT]... CAPTURE OUTDIR
 *
 * -p names a server port (up to 8), for flows picked up mid-stream
 * whose roles the payload cannot tell; it replaces the library's
 * default list (25, 465, 587, 2525).
 *
 * For every flow, OUTDIR/<id>-<client>.<port>-<server>.<port>.c2s and
 * .s2c hold the client's and the server's stream; bytes declared
 * missing (gaps) are left out, so the bytes after a gap follow the
 * bytes before it.  One line per flow goes to standard output when the
 * flow ends:
 *
 *   flow 1 127.0.0.1:40000 > 127.0.0.1:25 c2s=429 s2c=318
 *     [gap dir=client off=O len=L]... end=fin
 *
 * (on one line), where off is the stream offset of the first missing
 * byte.  A capture that cannot be read to its end makes sp_streams flush
 * every flow, print the library's message (it names the file and the
 * byte offset) and exit with status 1.  Exit status 2: usage or setup.
 */
#include <smtpproto/capture.h>
#include <smtpproto/tcp.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Gaps listed per flow line; more are counted, not listed. */
#define MAX_LISTED_GAPS	32
/* Server ports given with -p. */
#define MAX_PORTS	8

struct gap {
	enum sp_dir	dir;
	uint64_t	off, len;
};

struct flow_out {
	FILE		*f[2];
	uint64_t	 bytes[2];
	struct gap	 gaps[MAX_LISTED_GAPS];
	size_t		 ngaps;		/* all gaps, listed or not */
};

struct app {
	const char	*outdir;
	int		 failed;	/* a write failed: exit 1 at the end */
};

static const char *const dir_name[2] = { "client", "server" };

static void
endpoint(char *buf, size_t len, const struct sp_addr *a, uint16_t port)
{
	char addr[64];

	sp_addr_format(a, addr, sizeof(addr));
	snprintf(buf, len, "%s.%u", addr, (unsigned)port);
}

static FILE *
open_stream(const struct app *app, const struct sp_tcp_flow *f,
    const char *ext)
{
	char c[80], s[80], path[4096];
	FILE *fp;
	int n;

	endpoint(c, sizeof(c), &f->client, f->client_port);
	endpoint(s, sizeof(s), &f->server, f->server_port);
	n = snprintf(path, sizeof(path), "%s/%" PRIu64 "-%s-%s.%s",
	    app->outdir, f->id, c, s, ext);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		fprintf(stderr, "sp_streams: output path too long\n");
		return NULL;
	}
	fp = fopen(path, "wb");
	if (fp == NULL)
		fprintf(stderr, "sp_streams: %s: %s\n", path, strerror(errno));
	return fp;
}

static int
on_flow_start(void *ud, struct sp_tcp_flow *f)
{
	struct app *app = ud;
	struct flow_out *o = calloc(1, sizeof(*o));

	if (o == NULL)
		return -1;
	f->user = o;
	o->f[SP_DIR_CLIENT] = open_stream(app, f, "c2s");
	o->f[SP_DIR_SERVER] = open_stream(app, f, "s2c");
	if (o->f[0] == NULL || o->f[1] == NULL)
		return -1;
	return 0;
}

static int
on_data(void *ud, struct sp_tcp_flow *f, enum sp_dir dir, uint64_t off,
    const uint8_t *p, size_t n, sp_ts ts)
{
	struct app *app = ud;
	struct flow_out *o = f->user;

	(void)off;
	(void)ts;
	if (fwrite(p, 1, n, o->f[dir]) != n) {
		fprintf(stderr, "sp_streams: write: %s\n", strerror(errno));
		app->failed = 1;
		return -1;
	}
	o->bytes[dir] += n;
	return 0;
}

static int
on_gap(void *ud, struct sp_tcp_flow *f, enum sp_dir dir, uint64_t off,
    uint64_t n, sp_ts ts)
{
	struct flow_out *o = f->user;

	(void)ud;
	(void)ts;
	if (o->ngaps < MAX_LISTED_GAPS) {
		o->gaps[o->ngaps].dir = dir;
		o->gaps[o->ngaps].off = off;
		o->gaps[o->ngaps].len = n;
	}
	o->ngaps++;
	return 0;
}

static void
print_flow(const struct sp_tcp_flow *f, const struct flow_out *o,
    enum sp_flow_end why)
{
	char c[80], s[80];
	size_t listed = o->ngaps < MAX_LISTED_GAPS ? o->ngaps :
	    MAX_LISTED_GAPS;

	sp_addr_format(&f->client, c, sizeof(c));
	sp_addr_format(&f->server, s, sizeof(s));
	printf("flow %" PRIu64 " %s%s%s:%u > %s%s%s:%u c2s=%" PRIu64
	    " s2c=%" PRIu64, f->id,
	    f->client.family == 6 ? "[" : "", c,
	    f->client.family == 6 ? "]" : "", (unsigned)f->client_port,
	    f->server.family == 6 ? "[" : "", s,
	    f->server.family == 6 ? "]" : "", (unsigned)f->server_port,
	    o->bytes[SP_DIR_CLIENT], o->bytes[SP_DIR_SERVER]);
	for (size_t i = 0; i < listed; i++)
		printf(" gap dir=%s off=%" PRIu64 " len=%" PRIu64,
		    dir_name[o->gaps[i].dir], o->gaps[i].off, o->gaps[i].len);
	if (o->ngaps > listed)
		printf(" gaps_not_listed=%zu", o->ngaps - listed);
	printf(" end=%s\n", sp_flow_end_name(why));
}

static int
on_flow_end(void *ud, struct sp_tcp_flow *f, enum sp_flow_end why)
{
	struct app *app = ud;
	struct flow_out *o = f->user;
	int rc = 0;

	if (o == NULL)
		return 0;
	print_flow(f, o, why);
	for (int d = 0; d < 2; d++) {
		if (o->f[d] != NULL && fclose(o->f[d]) != 0) {
			fprintf(stderr, "sp_streams: close: %s\n",
			    strerror(errno));
			app->failed = 1;
			rc = -1;
		}
	}
	free(o);
	f->user = NULL;
	return rc;
}

/*
 * Read every segment into the reassembler.  Returns 0 at the end of the
 * capture, 1 when reading stopped on an error (already reported).
 */
static int
pump(sp_capture *cap, sp_tcp_reasm *r)
{
	struct sp_packet pkt;
	sp_err e;

	for (;;) {
		e = sp_capture_next(cap, &pkt);
		if (e == SP_E_EOF)
			return 0;
		if (e != SP_E_OK) {
			fprintf(stderr, "sp_streams: %s (%s)\n",
			    sp_capture_error(cap), sp_errname(e));
			return 1;
		}
		e = sp_tcp_reasm_packet(r, &pkt);
		if (e != SP_E_OK) {
			fprintf(stderr, "sp_streams: reassembly: %s\n",
			    sp_strerror(e));
			return 1;
		}
	}
}

static void
usage(void)
{
	fprintf(stderr, "usage: sp_streams [-f BPF] [-p PORT]... CAPTURE "
	    "OUTDIR\n");
	exit(2);
}

static uint16_t
port_arg(const char *s)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v == 0 || v > 65535)
		usage();
	return (uint16_t)v;
}

int
main(int argc, char **argv)
{
	static const struct sp_tcp_callbacks cb = {
		.on_flow_start = on_flow_start,
		.on_data = on_data,
		.on_gap = on_gap,
		.on_flow_end = on_flow_end,
	};
	struct app app = { NULL, 0 };
	struct sp_limits lim;
	const char *filter = NULL;
	char err[512];
	sp_capture *cap;
	sp_tcp_reasm *r;
	sp_err e;
	uint16_t ports[MAX_PORTS];
	size_t nports = 0;
	int opt, status;

	while ((opt = getopt(argc, argv, "f:p:")) != -1) {
		if (opt == 'f')
			filter = optarg;
		else if (opt == 'p' && nports < MAX_PORTS)
			ports[nports++] = port_arg(optarg);
		else
			usage();
	}
	if (argc - optind != 2)
		usage();
	app.outdir = argv[optind + 1];
	sp_limits_default(&lim);
	e = sp_capture_open_file(&cap, argv[optind], filter, &lim, err,
	    sizeof(err));
	if (e != SP_E_OK) {
		fprintf(stderr, "sp_streams: %s\n", err);
		return 1;
	}
	if (sp_tcp_reasm_new(&r, &lim, &cb, &app) != SP_E_OK) {
		fprintf(stderr, "sp_streams: out of memory\n");
		sp_capture_free(cap);
		return 2;
	}
	if (nports > 0)
		(void)sp_tcp_reasm_set_server_ports(r, ports, nports);
	/* On a read error, still end every flow so what was read before
	 * the error is written out. */
	status = pump(cap, r);
	if (sp_tcp_reasm_finish(r) != SP_E_OK)
		status = 1;
	sp_tcp_reasm_free(r);
	sp_capture_free(cap);
	return status || app.failed ? 1 : 0;
}
