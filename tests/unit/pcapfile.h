/*
 * pcapfile.h - write small pcap files by hand (so a test controls
 * every byte, corrupt ones included) and read captures back through
 * sp_capture.
 */
#ifndef SP_TEST_PCAPFILE_H
#define SP_TEST_PCAPFILE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtpproto/capture.h"

#define PF_MAX_REC	64

struct pfile {
	uint8_t	*b;
	size_t	 n, cap;
	size_t	 rec_off[PF_MAX_REC];	/* where each record starts */
	size_t	 nrec;
};

static inline void
pf_put(struct pfile *f, const void *p, size_t n)
{
	if (n > f->cap - f->n) {
		f->cap = (f->cap + n) * 2;
		f->b = realloc(f->b, f->cap);
		if (f->b == NULL)
			abort();
	}
	memcpy(f->b + f->n, p, n);
	f->n += n;
}

static inline void
pf_le32(struct pfile *f, uint32_t v)
{
	uint8_t	b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
	    (uint8_t)(v >> 24) };

	pf_put(f, b, 4);
}

/* The 24-byte file header: microsecond magic, version 2.4. */
static inline void
pf_header(struct pfile *f, uint32_t linktype, uint32_t snaplen)
{
	memset(f, 0, sizeof(*f));
	pf_le32(f, 0xa1b2c3d4);
	pf_le32(f, 0x00040002);
	pf_le32(f, 0);
	pf_le32(f, 0);
	pf_le32(f, snaplen);
	pf_le32(f, linktype);
}

static inline void
pf_record(struct pfile *f, const uint8_t *p, uint32_t caplen, uint32_t len)
{
	if (f->nrec < PF_MAX_REC)
		f->rec_off[f->nrec++] = f->n;
	pf_le32(f, 1700000000u + (uint32_t)f->nrec);
	pf_le32(f, 250000);
	pf_le32(f, caplen);
	pf_le32(f, len);
	pf_put(f, p, caplen);
}

/* Write the first n bytes of f to path. */
static inline void
pf_write(const struct pfile *f, size_t n, const char *path)
{
	FILE	*fp = fopen(path, "wb");

	if (fp == NULL || fwrite(f->b, 1, n, fp) != n || fclose(fp) != 0) {
		perror(path);
		exit(1);
	}
}

static inline void
pf_free(struct pfile *f)
{
	free(f->b);
	f->b = NULL;
}

/* What reading a capture to its end gave. */
struct readout {
	sp_err			open;
	sp_err			end;
	size_t			npkt;
	uint32_t		seq[PF_MAX_REC];
	size_t			payload_bytes;
	int			linktype;
	char			msg[1024];
	struct sp_capture_stats	st;
};

static inline void
read_capture(const char *path, const char *filter, struct readout *r)
{
	struct sp_limits	 lim;
	struct sp_packet	 pkt;
	sp_capture		*c;

	memset(r, 0, sizeof(*r));
	sp_limits_default(&lim);
	r->open = sp_capture_open_file(&c, path, filter, &lim, r->msg,
	    sizeof(r->msg));
	if (r->open != SP_E_OK)
		return;
	r->linktype = sp_capture_linktype(c);
	for (;;) {
		r->end = sp_capture_next(c, &pkt);
		if (r->end != SP_E_OK)
			break;
		if (r->npkt < PF_MAX_REC)
			r->seq[r->npkt] = pkt.seq;
		r->npkt++;
		r->payload_bytes += pkt.payload_len;
	}
	snprintf(r->msg, sizeof(r->msg), "%s", sp_capture_error(c));
	sp_capture_get_stats(c, &r->st);
	/* Errors are sticky. */
	if (sp_capture_next(c, &pkt) != r->end)
		r->end = SP_E_INTERNAL;
	sp_capture_free(c);
}

#endif /* SP_TEST_PCAPFILE_H */
