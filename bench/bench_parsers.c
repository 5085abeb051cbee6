/*
 * bench_parsers - MB/s of the SMTP and MIME push parsers alone, on a
 * corpus of messages (.eml files), with no capture and no TCP.
 *
 *   bench_parsers [--rounds N] FILE.eml...
 *
 * Each message is fed, in 64 KiB pieces, (1) to an sp_smtp_parser as
 * the DATA of a transaction (dot-stuffed, as a client sends it) and
 * (2) to an sp_mime_parser as it is.  The corpus is gone through N
 * times (default 20) so the figures are over tens of megabytes.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtpproto/smtpproto.h"

#include "bench.h"

struct msg {
	uint8_t	*raw, *stuffed;
	size_t	 nraw, nstuffed;
};

/* RFC 5321 4.5.2: a client doubles a dot that starts a line. */
static void
stuff(struct msg *m)
{
	size_t	n = 0;
	int	bol = 1;

	m->stuffed = malloc(m->nraw * 2 + 8);
	if (m->stuffed == NULL)
		exit(1);
	for (size_t i = 0; i < m->nraw; i++) {
		if (bol && m->raw[i] == '.')
			m->stuffed[n++] = '.';
		m->stuffed[n++] = m->raw[i];
		bol = m->raw[i] == '\n';
	}
	if (!bol) {
		m->stuffed[n++] = '\r';
		m->stuffed[n++] = '\n';
	}
	memcpy(m->stuffed + n, ".\r\n", 3);
	m->nstuffed = n + 3;
}

static int
load(const char *path, struct msg *m)
{
	FILE	*f = fopen(path, "rb");
	long	 n;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0)
		return (-1);
	m->raw = malloc((size_t)n + 1);
	if (m->raw == NULL || fread(m->raw, 1, (size_t)n, f) != (size_t)n)
		return (-1);
	m->nraw = (size_t)n;
	fclose(f);
	stuff(m);
	return (0);
}

static void
feed_smtp(sp_smtp_parser *p, enum sp_dir d, const void *buf, size_t n)
{
	size_t	used;

	for (size_t off = 0; off < n; off += 65536)
		sp_smtp_parser_feed(p, d, 0, (const uint8_t *)buf + off,
		    n - off < 65536 ? n - off : 65536, &used);
}

static void
one_smtp(const struct msg *m)
{
	static const struct sp_smtp_callbacks	cb = { 0 };
	static const char *const		pre[] = {
	    "S220 mx ESMTP\r\n", "CEHLO c\r\n", "S250 mx\r\n",
	    "CMAIL FROM:<a@b>\r\n", "S250 ok\r\n", "CRCPT TO:<c@d>\r\n",
	    "S250 ok\r\n", "CDATA\r\n", "S354 go\r\n" };
	sp_smtp_parser	*p;

	if (sp_smtp_parser_new(&p, NULL, &cb, NULL) != SP_E_OK)
		exit(1);
	for (size_t i = 0; i < sizeof(pre) / sizeof(*pre); i++)
		feed_smtp(p, pre[i][0] == 'C' ? SP_DIR_CLIENT : SP_DIR_SERVER,
		    pre[i] + 1, strlen(pre[i] + 1));
	feed_smtp(p, SP_DIR_CLIENT, m->stuffed, m->nstuffed);
	feed_smtp(p, SP_DIR_SERVER, "250 queued as X\r\n", 17);
	sp_smtp_parser_finish(p, 0);
	sp_smtp_parser_free(p);
}

static void
one_mime(const struct msg *m)
{
	static const struct sp_mime_callbacks	cb = { 0 };
	sp_mime_parser	*p;

	if (sp_mime_parser_new(&p, NULL, &cb, NULL) != SP_E_OK)
		exit(1);
	for (size_t off = 0; off < m->nraw; off += 65536)
		sp_mime_parser_feed(p, m->raw + off, m->nraw - off < 65536 ?
		    m->nraw - off : 65536);
	sp_mime_parser_finish(p);
	sp_mime_parser_free(p);
}

int
main(int argc, char **argv)
{
	struct msg	*ms;
	int		 rounds = 20, first = 1, n;
	uint64_t	 total = 0;
	double		 t0, ts, tm;

	if (argc > 2 && strcmp(argv[1], "--rounds") == 0) {
		rounds = (int)strtol(argv[2], NULL, 10);
		first = 3;
	}
	n = argc - first;
	if (n < 1 || rounds < 1) {
		fprintf(stderr, "usage: bench_parsers [--rounds N] FILE.eml...\n");
		return (2);
	}
	if ((ms = calloc((size_t)n, sizeof(*ms))) == NULL)
		return (1);
	for (int i = 0; i < n; i++) {
		if (load(argv[first + i], &ms[i]) != 0) {
			perror(argv[first + i]);
			return (1);
		}
		total += ms[i].nraw;
	}
	t0 = bench_now();
	for (int r = 0; r < rounds; r++)
		for (int i = 0; i < n; i++)
			one_smtp(&ms[i]);
	ts = bench_now() - t0;
	t0 = bench_now();
	for (int r = 0; r < rounds; r++)
		for (int i = 0; i < n; i++)
			one_mime(&ms[i]);
	tm = bench_now() - t0;
	printf("messages=%d\nrounds=%d\nbytes=%" PRIu64 "\n"
	    "smtp_seconds=%.3f\nsmtp_mb_per_s=%.1f\n"
	    "mime_seconds=%.3f\nmime_mb_per_s=%.1f\n", n, rounds,
	    total * (uint64_t)rounds, ts,
	    (double)total * rounds / 1e6 / ts, tm,
	    (double)total * rounds / 1e6 / tm);
	return (0);
}
