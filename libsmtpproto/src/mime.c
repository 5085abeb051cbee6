/*
 * mime.c - the message and MIME push parser: header blocks, the part
 * tree, boundaries (RFC 2046 5.1) and the decoded data of leaf parts.
 *
 * The parser keeps a stack of open parts (struct node), the root at
 * the bottom.  The top part is either in its header block, where
 * physical lines are collected (bounded by max_header_line) and
 * unfolded into fields, or in its body, where lines flow through
 * without being copied: only the start of a line that may be a
 * boundary ("--" ...) is held, in a buffer of at most
 * max_boundary + 72 bytes, until it is known.  The line end before a
 * boundary belongs to the boundary (RFC 2046 5.1.1: "the CRLF
 * preceding the boundary delimiter line is conceptually attached to
 * the boundary"), so each line end is held back until the next line
 * shows it is not one.
 */
#include <stdio.h>

#include "mime_int.h"

#define OUT_CAP		16384	/* decoded bytes gathered per event */
#define RUN_MAX		4096	/* encoded bytes decoded per step */
#define BND_SLACK	72	/* "--" "--", blanks and CRLF after it */
#define MAX_DEPTH	1000	/* cap on lim->max_mime_depth */
#define LINE_MAX_5322	998	/* RFC 5322 2.1.1 */
#define B64_LINE_MAX	1024	/* longest line b64_lines takes */

/* Where a multipart is between its boundaries. */
enum mp_state { MP_PREAMBLE = 0, MP_PART, MP_EPILOGUE };

struct node {
	struct sp_mime_part	 part;	/* what events carry */
	struct sp__mime_info	 info;	/* what its header block said */
	size_t			 plen;	/* length of its path */
	unsigned		 nchild;
	enum mp_state		 mp;
	bool			 hdr_done; /* on_part_begin sent */
	uint64_t		 body_off, epi_off;
};

struct sp_mime_parser {
	struct sp_limits	 lim;
	struct sp_mime_callbacks cb;
	void			*ud;
	sp_err			 err;		/* sticky */
	bool			 finished;
	uint64_t		 off;		/* bytes seen, gaps included */

	struct node		*nodes;		/* the open parts */
	size_t			 nnodes, maxnodes;
	char			*path;		/* path of the top part */
	size_t			 nparts;	/* parts begun so far */
	size_t			 nbound;	/* open multiparts */
	size_t			 nurls;
	bool			 parts_flagged;
	bool			 resync;	/* after a gap: skip to LF */

	/* Header block of the top part. */
	struct sp_buf		 line;		/* a line crossing feeds */
	uint64_t		 line_total, line_off;
	bool			 hskip;		/* line over the cap */
	struct sp_buf		 field;		/* the field being unfolded */
	uint64_t		 field_off;
	bool			 field_open, field_trunc;
	size_t			 hdr_bytes, hdr_count;
	bool			 hdr_big;
	unsigned		 dup_seen;	/* bit per sp_mime_field */
	struct sp__mime_scratch	 scr;
	struct sp_buf		 dec;		/* decoded field value */

	/* Body of the top part. */
	bool			 bol;		/* at the start of a line */
	uint8_t			 eol[2];	/* held line end */
	size_t			 eollen;
	bool			 cr_held;	/* a run ended in CR */
	uint8_t			*lsb;		/* held start of a line */
	size_t			 lsblen, lsbcap;
	uint64_t		 lsb_off;
	bool			 bare_seen;	/* MIME_BARE_LF once a part */
	bool			 bad_seen;	/* bad base64/QP once a part */
	bool			 b64_irregular;	/* b64_lines gave up here */

	/* Decoding of the top (leaf) part. */
	uint8_t			*out;
	size_t			 outlen;
	struct sp__b64		 b64;
	struct sp__qp		 qp;
	struct sp__url		 url;
};

static sp_err	run(sp_mime_parser *, const uint8_t *, size_t, uint64_t);

/* --- events --------------------------------------------------------- */

static struct node *
top(sp_mime_parser *m)
{
	return (&m->nodes[m->nnodes - 1]);
}

static sp_err
cb_rc(int rc)
{
	return (rc == 0 ? SP_E_OK : SP_E_CALLBACK);
}

static sp_err
anomaly(sp_mime_parser *m, enum sp_anomaly code, uint64_t off,
    const void *detail, size_t dlen)
{
	struct sp_mime_anomaly	a;

	if (m->cb.on_anomaly == NULL)
		return (SP_E_OK);
	a.code = code;
	a.offset = off;
	a.path = m->path;
	a.detail = detail != NULL ? detail : "";
	a.detail_len = detail != NULL ? dlen : 0;
	return (cb_rc(m->cb.on_anomaly(m->ud, &a)));
}

/* Flags from the charset and word decoders become anomalies. */
static sp_err
word_flags(sp_mime_parser *m, unsigned flags, uint64_t off)
{
	sp_err	e = SP_E_OK;

	if (flags & SP__W_BAD_WORD)
		e = anomaly(m, SP_ANOM_MIME_BAD_ENCODED_WORD, off, NULL, 0);
	if (e == SP_E_OK && (flags & SP__W_UNKNOWN))
		e = anomaly(m, SP_ANOM_MIME_UNKNOWN_CHARSET, off, NULL, 0);
	return (e);
}

static int
url_found(void *arg, const uint8_t *url, size_t len)
{
	sp_mime_parser		*m = arg;
	struct sp_mime_url	 u;

	if (m->nurls >= m->lim.max_urls || m->cb.on_url == NULL)
		return (0);
	m->nurls++;
	u.path = m->path;
	u.url = url;
	u.len = len;
	return (m->cb.on_url(m->ud, &u));
}

/* Hand decoded bytes of the top part to the consumer. */
static sp_err
deliver(sp_mime_parser *m, const uint8_t *p, size_t n)
{
	struct node	*t = top(m);

	if (n == 0)
		return (SP_E_OK);
	t->part.decoded_size += n;
	if (strcmp(t->info.type, "text") == 0 && m->nurls < m->lim.max_urls &&
	    sp__url_scan(&m->url, p, n, url_found, m) != 0)
		return (SP_E_CALLBACK);
	if (m->cb.on_part_data == NULL)
		return (SP_E_OK);
	return (cb_rc(m->cb.on_part_data(m->ud, &t->part, p, n)));
}

static sp_err
out_flush(sp_mime_parser *m)
{
	size_t	n = m->outlen;

	m->outlen = 0;
	return (deliver(m, m->out, n));
}

/* Make room for need bytes in the output buffer. */
static sp_err
out_room(sp_mime_parser *m, size_t need)
{
	SP_ASSERT(need <= OUT_CAP);
	if (need <= OUT_CAP - m->outlen)
		return (SP_E_OK);
	return (out_flush(m));
}

/* --- decoding ------------------------------------------------------- */

static sp_err
identity_add(sp_mime_parser *m, const uint8_t *p, size_t n)
{
	sp_err	e;

	if (n > OUT_CAP / 2) {			/* big: no copy */
		e = out_flush(m);
		return (e != SP_E_OK ? e : deliver(m, p, n));
	}
	e = out_room(m, n);
	if (e != SP_E_OK)
		return (e);
	memcpy(m->out + m->outlen, p, n);
	m->outlen += n;
	return (SP_E_OK);
}

static sp_err
bad_encoding(sp_mime_parser *m, enum sp_anomaly code, uint64_t off)
{
	if (m->bad_seen)
		return (SP_E_OK);
	m->bad_seen = true;
	return (anomaly(m, code, off, NULL, 0));
}

static sp_err
b64_add(sp_mime_parser *m, const uint8_t *p, size_t n, uint64_t off)
{
	size_t	k, bad;
	sp_err	e;

	while (n > 0) {
		k = SP_MIN(n, (size_t)RUN_MAX);
		e = out_room(m, (k / 4 + 1) * 3);
		if (e != SP_E_OK)
			return (e);
		m->outlen += sp__b64_run(&m->b64, p, k, m->out + m->outlen,
		    &bad);
		if (bad != SIZE_MAX) {
			e = bad_encoding(m, SP_ANOM_MIME_BAD_BASE64, off + bad);
			if (e != SP_E_OK)
				return (e);
		}
		p += k;
		n -= k;
		off += k;
	}
	return (SP_E_OK);
}

/* QP anomalies carry the offset of the line they are on. */
static sp_err
qp_add(sp_mime_parser *m, const uint8_t *p, size_t n, bool eol)
{
	size_t	k;
	sp_err	e;

	do {
		k = SP_MIN(n, (size_t)RUN_MAX);
		e = out_room(m, SP__QP_ROOM(k));
		if (e != SP_E_OK)
			return (e);
		if (eol)
			m->outlen += sp__qp_eol(&m->qp, p, k, m->out + m->outlen);
		else
			m->outlen += sp__qp_run(&m->qp, p, k, m->out + m->outlen);
		p += k;
		n -= k;
	} while (n > 0);
	if (m->qp.bad)
		return (bad_encoding(m, SP_ANOM_MIME_BAD_QP, m->line_off));
	return (SP_E_OK);
}

/* Line content of the top part: decoded when it is a leaf. */
static sp_err
sink(sp_mime_parser *m, const uint8_t *p, size_t n, uint64_t off, bool eol)
{
	struct node	*t = top(m);

	if (t->part.kind != SP_MIME_LEAF || n == 0)
		return (SP_E_OK);	/* preamble, epilogue, skipped */
	switch (t->part.cte) {
	case SP_MIME_CTE_BASE64:
		return (eol ? SP_E_OK : b64_add(m, p, n, off));
	case SP_MIME_CTE_QP:
		return (qp_add(m, p, n, eol));
	default:
		return (identity_add(m, p, n));
	}
}

/* The held line end was not a boundary's: it is data. */
static sp_err
eol_release(sp_mime_parser *m)
{
	size_t	n = m->eollen;

	m->eollen = 0;
	return (sink(m, m->eol, n, m->line_off, true));
}

/* End of a leaf: flush what the decoders hold. */
static sp_err
leaf_flush(sp_mime_parser *m)
{
	uint8_t	 tail[SP__QP_WS_MAX + 4];
	size_t	 k = 0;
	bool	 bad = false;
	sp_err	 e = SP_E_OK;

	if (top(m)->part.cte == SP_MIME_CTE_BASE64) {
		k = sp__b64_end(&m->b64, tail, &bad);
		if (bad)
			e = bad_encoding(m, SP_ANOM_MIME_BAD_BASE64, m->line_off);
	} else if (top(m)->part.cte == SP_MIME_CTE_QP) {
		k = sp__qp_end(&m->qp, tail);
		if (m->qp.bad)
			e = bad_encoding(m, SP_ANOM_MIME_BAD_QP, m->line_off);
	}
	if (e == SP_E_OK && k > 0)
		e = identity_add(m, tail, k);
	if (e == SP_E_OK)
		e = out_flush(m);
	if (e == SP_E_OK && sp__url_end(&m->url, url_found, m) != 0)
		e = SP_E_CALLBACK;
	return (e);
}

/* --- the part stack ------------------------------------------------- */

static void
body_reset(sp_mime_parser *m)
{
	m->bol = true;
	m->eollen = 0;
	m->cr_held = false;
	m->lsblen = 0;
	m->b64_irregular = false;
	memset(&m->b64, 0, sizeof(m->b64));
	memset(&m->qp, 0, sizeof(m->qp));
	m->url.len = 0;
	m->url.skipping = false;
	SP_ASSERT(m->outlen == 0);
}

static void
header_reset(sp_mime_parser *m)
{
	sp__buf_reset(&m->line);
	m->line_total = 0;
	m->hskip = false;
	m->field_open = false;
	m->hdr_bytes = 0;
	m->hdr_count = 0;
	m->hdr_big = false;
	m->dup_seen = 0;
}

/*
 * Open a part below the top one (or the root): number it, give it a
 * path, and start its header block.  False when the parts limit is
 * reached (the caller then skips its content).
 */
static bool
node_push(sp_mime_parser *m, uint64_t off, bool encapsulated)
{
	struct node	*parent = m->nnodes > 0 ? top(m) : NULL;
	struct node	*n;
	char		*bnd;
	size_t		 bcap;
	int		 w = 0;

	if (m->nparts >= m->lim.max_mime_parts ||
	    SP_NEVER(m->nnodes >= m->maxnodes))
		return (false);
	m->nparts++;
	n = &m->nodes[m->nnodes++];
	bnd = n->info.boundary;
	bcap = n->info.bcap;
	memset(n, 0, sizeof(*n));
	n->info.boundary = bnd;
	n->info.bcap = bcap;
	bnd[0] = '\0';
	if (parent != NULL) {
		n->plen = parent->plen;
		w = snprintf(m->path + n->plen, 22, "%s%u",
		    n->plen > 0 ? "." : "", ++parent->nchild);
		n->plen += (size_t)(w > 0 ? w : 0);
		n->part.depth = parent->part.depth + 1;
		n->part.msg_level = parent->part.msg_level +
		    (encapsulated ? 1 : 0);
	}
	m->path[n->plen] = '\0';
	n->part.path = m->path;
	n->part.message_header = (parent == NULL || encapsulated);
	n->part.offset = off;
	n->part.complete = true;
	n->info.cte = SP_MIME_CTE_7BIT;
	header_reset(m);
	m->bare_seen = false;
	m->bad_seen = false;
	return (true);
}

static void
node_pop(sp_mime_parser *m)
{
	if (top(m)->part.kind == SP_MIME_MULTIPART && top(m)->hdr_done)
		m->nbound--;
	m->nnodes--;
	if (m->nnodes > 0)
		m->path[top(m)->plen] = '\0';
}

/* Raise the parts limit once; the part is skipped. */
static sp_err
parts_limit(sp_mime_parser *m, uint64_t off)
{
	if (m->parts_flagged)
		return (SP_E_OK);
	m->parts_flagged = true;
	return (anomaly(m, SP_ANOM_MIME_PARTS_LIMIT, off, NULL, 0));
}

/*
 * A multipart still waiting for its closing delimiter makes itself and
 * every part inside it incomplete.
 */
static void
mark_unclosed(sp_mime_parser *m, size_t from)
{
	for (size_t i = from; i < m->nnodes; i++) {
		if (m->nodes[i].part.kind != SP_MIME_MULTIPART ||
		    m->nodes[i].mp == MP_EPILOGUE)
			continue;
		for (size_t j = i; j < m->nnodes; j++)
			m->nodes[j].part.complete = false;
		return;
	}
}

static sp_err	begin_part(sp_mime_parser *, uint64_t, bool);

/* End the top part at end_off (where its body stops). */
static sp_err
node_end(sp_mime_parser *m, uint64_t end_off)
{
	struct node	*t = top(m);
	sp_err		 e = SP_E_OK;

	if (!t->hdr_done)
		e = begin_part(m, end_off, false);
	if (e == SP_E_OK && t->part.kind == SP_MIME_LEAF)
		e = leaf_flush(m);
	if (e == SP_E_OK && t->part.kind == SP_MIME_MULTIPART &&
	    t->mp != MP_EPILOGUE)
		e = anomaly(m, SP_ANOM_MIME_UNCLOSED_MULTIPART, end_off,
		    t->info.boundary, t->info.blen);
	if (e != SP_E_OK)
		return (e);
	t->part.raw_size = end_off > t->body_off ? end_off - t->body_off : 0;
	if (t->mp == MP_EPILOGUE && end_off > t->epi_off)
		t->part.epilogue_size = end_off - t->epi_off;
	if (t->part.missing > 0)
		t->part.complete = false;
	if (m->cb.on_part_end != NULL)
		e = cb_rc(m->cb.on_part_end(m->ud, &t->part));
	node_pop(m);
	return (e);
}

/* --- header blocks -------------------------------------------------- */

/* The part's kind, from its type and the limits (RFC 2046 5.1, 5.2). */
static sp_err
choose_kind(sp_mime_parser *m, struct node *t, uint64_t off)
{
	struct sp__mime_info	*in = &t->info;
	bool			 deep = t->part.depth + 1 > m->lim.max_mime_depth;
	sp_err			 e = SP_E_OK;

	t->part.kind = SP_MIME_LEAF;
	if (strcmp(in->type, "multipart") == 0) {
		if (in->boundary_long)
			e = anomaly(m, SP_ANOM_MIME_BOUNDARY_TOO_LONG, off,
			    NULL, 0);
		if (e == SP_E_OK && in->blen == 0 && !in->boundary_long)
			e = anomaly(m, SP_ANOM_MIME_MISSING_BOUNDARY, off,
			    NULL, 0);
		if (e == SP_E_OK && in->blen > 0 && deep)
			e = anomaly(m, SP_ANOM_MIME_DEPTH_LIMIT, off, NULL, 0);
		if (in->blen > 0 && !deep)
			t->part.kind = SP_MIME_MULTIPART;
	} else if (strcmp(in->type, "message") == 0 &&
	    (strcmp(in->subtype, "rfc822") == 0 ||
	    strcmp(in->subtype, "global") == 0) &&
	    in->cte != SP_MIME_CTE_BASE64 && in->cte != SP_MIME_CTE_QP) {
		if (deep)
			e = anomaly(m, SP_ANOM_MIME_DEPTH_LIMIT, off, NULL, 0);
		else
			t->part.kind = SP_MIME_MESSAGE;
	}
	return (e);
}

/* Defaults when Content-Type is absent or invalid (RFC 2045 5.2). */
static void
default_type(sp_mime_parser *m, struct node *t)
{
	const struct node	*parent;
	bool			 digest = false;

	if (t->info.have_ctype)
		return;
	if (m->nnodes > 1) {
		parent = &m->nodes[m->nnodes - 2];
		digest = parent->part.kind == SP_MIME_MULTIPART &&
		    strcmp(parent->info.subtype, "digest") == 0;
	}
	/* RFC 2046 5.1.5: in a digest, parts default to message/rfc822. */
	memcpy(t->info.type, digest ? "message" : "text",
	    digest ? sizeof("message") : sizeof("text"));
	memcpy(t->info.subtype, digest ? "rfc822" : "plain",
	    digest ? sizeof("rfc822") : sizeof("plain"));
}

static sp_err	field_done(sp_mime_parser *);

/*
 * The header block of the top part ended: report the part and start
 * its body at body_off.  A message/rfc822 part opens its encapsulated
 * message at once, unless the part is being closed (can_push false).
 */
static sp_err
begin_part(sp_mime_parser *m, uint64_t body_off, bool can_push)
{
	struct node	*t = top(m);
	sp_err		 e;

	e = field_done(m);
	default_type(m, t);
	if (e == SP_E_OK)
		e = choose_kind(m, t, body_off);
	if (e != SP_E_OK)
		return (e);
	t->part.type = t->info.type;
	t->part.subtype = t->info.subtype;
	t->part.charset = t->info.charset;
	t->part.boundary = t->part.kind == SP_MIME_MULTIPART ?
	    t->info.boundary : "";
	t->part.cte = t->info.cte;
	t->part.disposition = t->info.disp;
	t->part.filename = t->info.filename;
	t->hdr_done = true;
	t->body_off = body_off;
	if (t->part.kind == SP_MIME_MULTIPART)
		m->nbound++;
	body_reset(m);
	m->line_off = body_off;
	m->bare_seen = false;		/* once in the header, once after */
	if (m->cb.on_part_begin != NULL)
		e = cb_rc(m->cb.on_part_begin(m->ud, &t->part));
	if (e != SP_E_OK)
		return (e);
	if (t->part.kind != SP_MIME_MESSAGE || !can_push)
		return (SP_E_OK);
	if (!node_push(m, body_off, true))
		return (parts_limit(m, body_off));
	return (SP_E_OK);
}

/* Content-* fields describe the part (RFC 2045 5, 6; RFC 2183). */
static sp_err
field_interpret(sp_mime_parser *m, enum sp_mime_field f, const uint8_t *v,
    size_t n)
{
	struct node	*t = top(m);
	unsigned	 flags = 0;
	sp_err		 e = SP_E_OK;

	if (f == SP_MIME_F_CONTENT_TYPE)
		e = sp__mime_ctype(&m->scr, v, n, &t->info, &flags);
	else if (f == SP_MIME_F_CONTENT_DISPOSITION)
		e = sp__mime_cdisp(&m->scr, v, n, &t->info, &flags);
	else if (f == SP_MIME_F_CONTENT_TRANSFER_ENCODING)
		t->info.cte = sp__mime_cte(v, n);
	if (e != SP_E_OK)
		return (e);
	return (word_flags(m, flags, m->field_off));
}

/* RFC 5322 3.6: these appear at most once in a header block. */
static sp_err
duplicate_check(sp_mime_parser *m, enum sp_mime_field f,
    const uint8_t *name, size_t len)
{
	if (f != SP_MIME_F_FROM && f != SP_MIME_F_DATE &&
	    f != SP_MIME_F_SUBJECT && f != SP_MIME_F_TO)
		return (SP_E_OK);
	if (!(m->dup_seen & (1u << f))) {
		m->dup_seen |= 1u << f;
		return (SP_E_OK);
	}
	return (anomaly(m, SP_ANOM_MIME_DUPLICATE_HEADER, m->field_off, name,
	    len));
}

static bool
is_wsp(uint8_t c)
{
	return (c == ' ' || c == '\t');
}

static sp_err
field_emit(sp_mime_parser *m, enum sp_mime_field f, const uint8_t *name,
    size_t nlen, const uint8_t *v, size_t vlen)
{
	struct sp_mime_header	 h;
	struct node		*t = top(m);
	unsigned		 flags = 0;
	sp_err			 e;

	h.decoded = v;
	h.decoded_len = vlen;
	if (sp__has_word(v, vlen)) {
		sp__buf_reset(&m->dec);
		e = sp__words_decode(&m->scr.conv, v, vlen, &m->dec,
		    &m->scr.b, &flags);
		if (e == SP_E_OK)
			e = word_flags(m, flags, m->field_off);
		if (e != SP_E_OK)
			return (e);
		h.decoded = m->dec.p;
		h.decoded_len = m->dec.len;
	}
	h.path = m->path;
	h.depth = t->part.depth;
	h.msg_level = t->part.msg_level;
	h.message_header = t->part.message_header;
	h.field = f;
	h.index = m->hdr_count;
	h.offset = m->field_off;
	h.name = name;
	h.name_len = nlen;
	h.value = v;
	h.value_len = vlen;
	h.truncated = m->field_trunc;
	return (cb_rc(m->cb.on_header(m->ud, &h)));
}

/* The unfolded field is complete: interpret and report it. */
static sp_err
field_done(sp_mime_parser *m)
{
	const uint8_t		*p = m->field.p, *colon;
	size_t			 nlen, vs, ve = m->field.len;
	enum sp_mime_field	 f;
	sp_err			 e;

	if (!m->field_open)
		return (SP_E_OK);
	m->field_open = false;
	/* The colon is missing only when a long name was cut. */
	colon = memchr(p, ':', ve);
	nlen = colon != NULL ? (size_t)(colon - p) : ve;
	vs = colon != NULL ? nlen + 1 : ve;
	while (nlen > 0 && is_wsp(p[nlen - 1]))
		nlen--;
	for (; vs < ve && is_wsp(p[vs]); vs++)
		;
	while (ve > vs && is_wsp(p[ve - 1]))
		ve--;
	f = sp_mime_field_id(p, nlen);
	e = duplicate_check(m, f, p, nlen);
	if (e == SP_E_OK)
		e = field_interpret(m, f, p + vs, ve - vs);
	if (e != SP_E_OK || m->cb.on_header == NULL)
		return (e);
	if (m->hdr_count >= m->lim.max_headers || m->hdr_big)
		return (SP_E_OK);
	e = field_emit(m, f, p, nlen, p + vs, ve - vs);
	m->hdr_count++;
	if (e == SP_E_OK && m->hdr_count == m->lim.max_headers) {
		m->hdr_big = true;
		e = anomaly(m, SP_ANOM_MIME_HEADERS_TOO_BIG, m->field_off,
		    NULL, 0);
	}
	return (e);
}

/* Append to the field, cut at max_header_line. */
static sp_err
field_add(sp_mime_parser *m, const uint8_t *p, size_t n)
{
	size_t	room = m->field.max - m->field.len;
	sp_err	e;

	if (n > room) {
		n = room;
		if (!m->field_trunc) {
			m->field_trunc = true;
			e = anomaly(m, SP_ANOM_MIME_HEADER_TOO_LONG,
			    m->field_off, NULL, 0);
			if (e != SP_E_OK)
				return (e);
		}
	}
	return (sp__buf_append(&m->field, p, n));
}

/* Bare CR or LF (RFC 5322 2.3), reported once a part. */
static sp_err
bare_check(sp_mime_parser *m, const uint8_t *p, size_t n, bool bare_lf,
    uint64_t off)
{
	const uint8_t	*cr;

	if (m->bare_seen)
		return (SP_E_OK);
	cr = memchr(p, '\r', n);
	if (cr == NULL && !bare_lf)
		return (SP_E_OK);
	m->bare_seen = true;
	return (anomaly(m, SP_ANOM_MIME_BARE_LF, cr != NULL ?
	    off + (uint64_t)(cr - p) : off + n, NULL, 0));
}

/* Which open multipart does this line delimit?  -1 when none. */
static long
boundary_match(const sp_mime_parser *m, const uint8_t *p, size_t n,
    bool *close)
{
	const struct node	*t;
	const uint8_t		*r;
	size_t			 rn, i;

	if (n > 0 && p[n - 1] == '\n')
		n--;
	if (n > 0 && p[n - 1] == '\r')
		n--;
	if (m->nbound == 0 || n < 2 || p[0] != '-' || p[1] != '-')
		return (-1);
	for (i = m->nnodes; i-- > 0;) {
		t = &m->nodes[i];
		if (t->part.kind != SP_MIME_MULTIPART || !t->hdr_done ||
		    t->mp == MP_EPILOGUE || n - 2 < t->info.blen ||
		    memcmp(p + 2, t->info.boundary, t->info.blen) != 0)
			continue;
		r = p + 2 + t->info.blen;
		rn = n - 2 - t->info.blen;
		*close = (rn >= 2 && r[0] == '-' && r[1] == '-');
		if (*close) {
			r += 2;
			rn -= 2;
		}
		while (rn > 0 && is_wsp(*r)) {	/* RFC 2046 5.1.1 */
			r++;
			rn--;
		}
		if (rn == 0)
			return ((long)i);
	}
	return (-1);
}

/*
 * A boundary line of the multipart at stack index k, starting at
 * line_off, ends at next_off.  Parts inside it end (an enclosing
 * boundary closes inner parts); the held line end goes with it.
 */
static sp_err
boundary_hit(sp_mime_parser *m, size_t k, bool close, uint64_t line_off,
    uint64_t next_off)
{
	uint64_t	 end_off = line_off - m->eollen;
	struct node	*t;
	sp_err		 e = SP_E_OK;

	m->eollen = 0;
	mark_unclosed(m, k + 1);
	while (e == SP_E_OK && m->nnodes > k + 1)
		e = node_end(m, end_off);
	if (e != SP_E_OK)
		return (e);
	t = top(m);
	if (t->mp == MP_PREAMBLE)
		t->part.preamble_size = end_off - t->body_off;
	body_reset(m);
	m->line_off = next_off;
	if (close) {
		t->mp = MP_EPILOGUE;
		t->epi_off = next_off;
		return (SP_E_OK);
	}
	t->mp = MP_PART;
	if (!node_push(m, next_off, false))
		return (parts_limit(m, next_off));
	return (SP_E_OK);
}

/*
 * Strip the line end from *len and check the line: bare CR or LF, over
 * 998 characters (RFC 5322 2.1.1), over the header block's byte limit.
 */
static sp_err
header_line_checks(sp_mime_parser *m, const uint8_t *p, size_t *len,
    uint64_t total, uint64_t off)
{
	bool	lf = *len > 0 && p[*len - 1] == '\n';
	size_t	k;
	sp_err	e;

	*len -= lf ? 1 : 0;
	k = lf && *len > 0 && p[*len - 1] == '\r' ? 1 : 0;
	*len -= k;
	e = bare_check(m, p, *len, lf && k == 0, off);
	if (e == SP_E_OK && total - (lf ? 1 + k : 0) > LINE_MAX_5322)
		e = anomaly(m, SP_ANOM_MIME_HEADER_TOO_LONG, off, NULL, 0);
	if (e == SP_E_OK && total > m->lim.max_header_bytes - m->hdr_bytes &&
	    !m->hdr_big) {
		m->hdr_big = true;
		e = anomaly(m, SP_ANOM_MIME_HEADERS_TOO_BIG, off, NULL, 0);
	}
	m->hdr_bytes += (size_t)SP_MIN(total, m->lim.max_header_bytes -
	    m->hdr_bytes);
	return (e);
}

/*
 * One physical header line, p[0..n) with its line end when it has one;
 * total is its real length when it was cut.
 */
static sp_err
header_line(sp_mime_parser *m, const uint8_t *p, size_t n, uint64_t total,
    uint64_t off)
{
	size_t	len = n;
	long	b;
	bool	close;
	sp_err	e;

	b = boundary_match(m, p, n, &close);
	if (b >= 0) {
		e = begin_part(m, off, false);
		return (e != SP_E_OK ? e : boundary_hit(m, (size_t)b, close,
		    off, off + total));
	}
	e = header_line_checks(m, p, &len, total, off);
	if (e != SP_E_OK)
		return (e);
	if (len == 0)				/* the blank line */
		return (begin_part(m, off + total, true));
	if (is_wsp(p[0]) && m->field_open)	/* folded (RFC 5322 2.2.3) */
		return (field_add(m, p, len));
	e = field_done(m);
	if (e != SP_E_OK)
		return (e);
	/* A line cut at the cap may have its colon in the part not kept. */
	if (is_wsp(p[0]) || p[0] == ':' || (memchr(p, ':', len) == NULL &&
	    total == n)) {
		/* No field: the header block ended without its blank line. */
		e = anomaly(m, SP_ANOM_MIME_HEADER_NO_COLON, off, NULL, 0);
		if (e == SP_E_OK)
			e = begin_part(m, off, true);
		if (e != SP_E_OK || !top(m)->hdr_done)
			return (e);	/* a message/rfc822 opened: dropped */
		return (run(m, p, n, off));
	}
	sp__buf_reset(&m->field);
	m->field_open = true;
	m->field_trunc = false;
	m->field_off = off;
	return (field_add(m, p, len));
}

/* Collect a header line; lines over the cap keep their start. */
static sp_err
header_step(sp_mime_parser *m, const uint8_t *p, size_t n, uint64_t off,
    size_t *used)
{
	const uint8_t	*lf = memchr(p, '\n', n);
	size_t		 k = lf != NULL ? (size_t)(lf - p) + 1 : n, room;
	sp_err		 e;

	*used = k;
	if (m->line.len == 0 && !m->hskip && lf != NULL && k <= m->line.max)
		return (header_line(m, p, k, k, off));	/* no copy */
	if (m->line.len == 0 && !m->hskip)
		m->line_off = off;
	room = m->line.max - m->line.len;
	if (k > room)
		m->hskip = true;
	e = sp__buf_append(&m->line, p, SP_MIN(k, room));
	m->line_total += k;
	if (e != SP_E_OK || lf == NULL)
		return (e);
	e = header_line(m, m->line.p, m->line.len, m->line_total, m->line_off);
	sp__buf_reset(&m->line);
	m->line_total = 0;
	m->hskip = false;
	return (e);
}

/* --- bodies --------------------------------------------------------- */

/*
 * Line content up to and including the next LF: data for a leaf,
 * nothing for the others.  The line end is held back (see the top).
 */
static sp_err
content_step(sp_mime_parser *m, const uint8_t *p, size_t n, uint64_t off,
    size_t *used)
{
	const uint8_t	*lf = memchr(p, '\n', n);
	size_t		 k = lf != NULL ? (size_t)(lf - p) : n, c = k;
	bool		 crlf;
	sp_err		 e = SP_E_OK;

	*used = lf != NULL ? k + 1 : n;
	crlf = lf != NULL && ((k == 0 && m->cr_held) || (k > 0 &&
	    p[k - 1] == '\r'));
	if (m->cr_held && !(k == 0 && lf != NULL)) {
		m->cr_held = false;		/* the CR was data */
		e = bare_check(m, (const uint8_t *)"\r", 1, false, off - 1);
		if (e == SP_E_OK)
			e = sink(m, (const uint8_t *)"\r", 1, off - 1, false);
	}
	if (c > 0 && p[c - 1] == '\r' && (lf != NULL || c == n))
		c--;				/* line end, or maybe */
	if (e == SP_E_OK)
		e = bare_check(m, p, c, lf != NULL && !crlf, off);
	if (e == SP_E_OK)
		e = sink(m, p, c, off, false);
	if (e != SP_E_OK)
		return (e);
	if (lf == NULL) {
		m->cr_held = (c < k);
		return (SP_E_OK);
	}
	m->cr_held = false;
	memcpy(m->eol, crlf ? "\r\n" : "\n", crlf ? 2 : 1);
	m->eollen = crlf ? 2 : 1;
	m->bol = true;
	return (SP_E_OK);
}

/* The held line start is not a boundary: it is ordinary content. */
static sp_err
lsb_release(sp_mime_parser *m)
{
	size_t	i = 0, used, n = m->lsblen;
	sp_err	e;

	m->lsblen = 0;
	m->bol = false;
	e = eol_release(m);
	while (e == SP_E_OK && i < n) {
		e = content_step(m, m->lsb + i, n - i, m->lsb_off + i, &used);
		i += used;
	}
	return (e);
}

/* Decide a complete held line (or one at the end of the message). */
static sp_err
lsb_decide(sp_mime_parser *m)
{
	long	b;
	bool	close;

	size_t	n = m->lsblen;

	b = boundary_match(m, m->lsb, n, &close);
	if (b < 0)
		return (lsb_release(m));
	m->lsblen = 0;
	return (boundary_hit(m, (size_t)b, close, m->lsb_off, m->lsb_off +
	    (uint64_t)n));
}

/*
 * At the start of a body line: is it a boundary?  Decided in place when
 * the whole line is at hand, else its start is held in m->lsb.
 */
static sp_err
bol_step(sp_mime_parser *m, const uint8_t *p, size_t n, uint64_t off,
    size_t *used)
{
	const uint8_t	*lf;
	size_t		 k;
	long		 b;
	bool		 close;

	*used = 0;
	if (m->lsblen == 0) {
		m->line_off = off;
		if (m->nbound == 0 || p[0] != '-') {
			m->bol = false;
			return (eol_release(m));
		}
		lf = memchr(p, '\n', SP_MIN(n, m->lsbcap));
		if (lf != NULL || n >= m->lsbcap) {
			k = lf != NULL ? (size_t)(lf - p) + 1 : 0;
			b = lf != NULL ? boundary_match(m, p, k, &close) : -1;
			if (b >= 0) {
				*used = k;
				return (boundary_hit(m, (size_t)b, close, off,
				    off + k));
			}
			m->bol = false;
			return (eol_release(m));
		}
		m->lsb_off = off;
	}
	k = SP_MIN(n, m->lsbcap - m->lsblen);
	lf = memchr(p, '\n', k);
	if (lf != NULL)
		k = (size_t)(lf - p) + 1;
	memcpy(m->lsb + m->lsblen, p, k);
	m->lsblen += k;
	*used = k;
	if (lf == NULL && m->lsblen < m->lsbcap)
		return (SP_E_OK);
	if (lf == NULL)
		return (lsb_release(m));	/* too long for a boundary */
	return (lsb_decide(m));
}

/*
 * The body of a base64 leaf a whole line at a time, at the start of a
 * line.  Nearly every attachment is lines of whole quanta ending in
 * CRLF, and they are most of the bytes of most mail; for them the
 * general steps (hold the line end, look for a boundary, look for a
 * bare CR, decode, hold the next line end) reduce to: decode up to the
 * CR and check that CRLF follows.  A boundary, padding, a bare LF, a
 * stray character or a line cut by the end of the run stops the
 * decoder early, and the line goes to the general steps, from its
 * start and with nothing of it used here.  A part whose lines stop the
 * decoder (not base64 in 4-character multiples, LF line ends) is left
 * to the general steps after the first such line, so that no line is
 * decoded twice over and over.
 */
static sp_err
b64_lines(sp_mime_parser *m, const uint8_t *p, size_t n, uint64_t off,
    size_t *used)
{
	size_t	i = 0, j, len, k;
	sp_err	e;

	*used = 0;
	if (m->b64_irregular || m->b64.n != 0 || m->lsblen != 0 ||
	    top(m)->part.kind != SP_MIME_LEAF ||
	    top(m)->part.cte != SP_MIME_CTE_BASE64)
		return (SP_E_OK);
	while (n - i > 2) {
		len = SP_MIN(n - i, (size_t)B64_LINE_MAX);
		if ((e = out_room(m, len / 4 * 3 + 4)) != SP_E_OK)
			return (e);
		k = m->outlen;
		j = sp__b64_quanta(p + i, len, m->out, &k);
		if (j + 2 > len || p[i + j] != '\r' || p[i + j + 1] != '\n') {
			/* Fewer than 4 left: cut by the run, not irregular. */
			m->b64_irregular = (j + 4 <= len);
			break;
		}
		m->outlen = k;
		m->line_off = off + i;
		i += j + 2;
	}
	if (i > 0) {
		/* What bol_step and content_step leave after a line. */
		memcpy(m->eol, "\r\n", 2);
		m->eollen = 2;
	}
	*used = i;
	return (SP_E_OK);
}

/* After a gap: drop bytes up to the next line end. */
static size_t
resync_step(sp_mime_parser *m, const uint8_t *p, size_t n)
{
	const uint8_t	*lf = memchr(p, '\n', n);

	if (lf == NULL)
		return (n);
	m->resync = false;
	return ((size_t)(lf - p) + 1);
}

/* Parse p[0..n), whose first byte is at message offset off. */
static sp_err
run(sp_mime_parser *m, const uint8_t *p, size_t n, uint64_t off)
{
	size_t	used;
	sp_err	e = SP_E_OK;

	while (n > 0 && e == SP_E_OK) {
		used = 0;
		if (m->resync)
			used = resync_step(m, p, n);
		else if (!top(m)->hdr_done)
			e = header_step(m, p, n, off, &used);
		else if (m->bol) {
			e = b64_lines(m, p, n, off, &used);
			if (e == SP_E_OK && used == 0)
				e = bol_step(m, p, n, off, &used);
		}
		else
			e = content_step(m, p, n, off, &used);
		SP_ASSERT(used <= n);
		p += used;
		n -= used;
		off += used;
	}
	return (e);
}

/* --- public API ----------------------------------------------------- */

static sp_err
alloc_parts(sp_mime_parser *m)
{
	const struct sp_allocator *a = m->lim.alloc;
	size_t	bstep = m->lim.max_boundary + 1;
	char	*bstore;

	m->maxnodes = m->lim.max_mime_depth + 2;
	m->nodes = sp__calloc(a, m->maxnodes, sizeof(*m->nodes));
	m->path = sp__calloc(a, m->maxnodes, 22);
	m->out = sp__malloc(a, OUT_CAP);
	m->url.tok = sp__malloc(a, SP__URL_MAX);
	m->lsbcap = m->lim.max_boundary + BND_SLACK;
	m->lsb = sp__malloc(a, m->lsbcap);
	bstore = sp__calloc(a, m->maxnodes, bstep);
	if (m->nodes == NULL || m->path == NULL || m->out == NULL ||
	    m->url.tok == NULL || m->lsb == NULL || bstore == NULL) {
		sp__free(a, bstore);
		return (SP_E_NOMEM);
	}
	for (size_t i = 0; i < m->maxnodes; i++) {
		m->nodes[i].info.boundary = bstore + i * bstep;
		m->nodes[i].info.bcap = m->lim.max_boundary;
	}
	return (SP_E_OK);
}

static bool
limits_ok(const struct sp_limits *l)
{
	return (l->max_header_line > 0 && l->max_header_bytes > 0 &&
	    l->max_headers > 0 && l->max_mime_parts > 0 &&
	    l->max_boundary > 0 && l->max_mime_depth <= MAX_DEPTH &&
	    l->max_boundary <= SIZE_MAX / (MAX_DEPTH + 2) - BND_SLACK &&
	    l->max_header_line <= SIZE_MAX / 4 - 64);
}

sp_err
sp_mime_parser_new(sp_mime_parser **out, const struct sp_limits *lim,
    const struct sp_mime_callbacks *cb, void *ud)
{
	struct sp_limits	 dl;
	sp_mime_parser		*m;
	const struct sp_allocator *a;
	size_t			 hl;

	if (out == NULL || cb == NULL)
		return (SP_E_INVAL);
	*out = NULL;
	if (lim == NULL) {
		sp_limits_default(&dl);
		lim = &dl;
	}
	if (!limits_ok(lim))
		return (SP_E_INVAL);
	a = lim->alloc;
	m = sp__calloc(a, 1, sizeof(*m));
	if (m == NULL)
		return (SP_E_NOMEM);
	m->lim = *lim;
	m->cb = *cb;
	m->ud = ud;
	hl = lim->max_header_line;
	sp__buf_init(&m->line, hl + 2, a);
	sp__buf_init(&m->field, hl, a);
	sp__buf_init(&m->dec, 3 * hl + 64, a);
	sp__buf_init(&m->scr.a, hl, a);
	sp__buf_init(&m->scr.b, hl + 16, a);
	sp__buf_init(&m->scr.c, 3 * hl + 64, a);
	if (alloc_parts(m) != SP_E_OK) {
		sp_mime_parser_free(m);
		return (SP_E_NOMEM);
	}
	(void)node_push(m, 0, false);		/* the root */
	*out = m;
	return (SP_E_OK);
}

sp_err
sp_mime_parser_feed(sp_mime_parser *m, const uint8_t *buf, size_t len)
{
	if (m->err != SP_E_OK)
		return (m->err);
	if (m->finished)
		return (SP_E_STATE);
	m->err = run(m, buf, len, m->off);
	m->off += len;
	if (m->err == SP_E_OK && m->outlen > 0)
		m->err = out_flush(m);		/* no data waits for more */
	return (m->err);
}

sp_err
sp_mime_parser_gap(sp_mime_parser *m, uint64_t n)
{
	if (m->err != SP_E_OK)
		return (m->err);
	if (m->finished)
		return (SP_E_STATE);
	if (n == 0)
		return (SP_E_OK);
	for (size_t i = 0; i < m->nnodes; i++) {
		m->nodes[i].part.missing += n;
		m->nodes[i].part.complete = false;
	}
	/* The held line end was data; what was held after it is lost. */
	if (top(m)->hdr_done)
		m->err = eol_release(m);
	m->lsblen = 0;
	m->cr_held = false;
	memset(&m->b64, 0, sizeof(m->b64));
	m->qp.state = 0;
	m->qp.nws = 0;
	sp__buf_reset(&m->line);
	m->line_total = 0;
	m->hskip = false;
	/*
	 * Text after the gap is kept from where it resumes, as a client
	 * would save it; a header line or a base64 line (whose quanta
	 * would be misaligned) is dropped up to the next line.
	 */
	m->bol = false;
	m->resync = !top(m)->hdr_done ||
	    top(m)->part.kind != SP_MIME_LEAF ||
	    top(m)->part.cte == SP_MIME_CTE_BASE64;
	if (m->resync)
		m->bol = true;
	m->off += n;
	return (m->err);
}

/* A last line without its line end. */
static sp_err
finish_line(sp_mime_parser *m)
{
	sp_err	e = SP_E_OK;

	if (m->resync)
		return (SP_E_OK);
	if (!top(m)->hdr_done && (m->line.len > 0 || m->hskip)) {
		e = header_line(m, m->line.p, m->line.len, m->line_total,
		    m->line_off);
		sp__buf_reset(&m->line);
		m->hskip = false;
	}
	if (e == SP_E_OK && top(m)->hdr_done && m->lsblen > 0)
		e = lsb_decide(m);
	if (e == SP_E_OK && top(m)->hdr_done && m->cr_held) {
		m->cr_held = false;
		e = bare_check(m, (const uint8_t *)"\r", 1, false, m->off - 1);
		if (e == SP_E_OK)
			e = sink(m, (const uint8_t *)"\r", 1, m->off - 1, false);
	}
	return (e);
}

sp_err
sp_mime_parser_finish(sp_mime_parser *m)
{
	sp_err	e;

	if (m->err != SP_E_OK)
		return (m->err);
	if (m->finished)
		return (SP_E_STATE);
	m->finished = true;
	e = finish_line(m);
	if (e == SP_E_OK && top(m)->hdr_done)
		e = eol_release(m);		/* the message's last line end */
	if (e == SP_E_OK)
		mark_unclosed(m, 0);
	while (e == SP_E_OK && m->nnodes > 0)
		e = node_end(m, m->off);
	m->err = e;
	return (e);
}

/*
 * Everything but the memory goes back to what sp_mime_parser_new()
 * left: the state is zeroed as calloc() did, the buffers are emptied,
 * and the root is pushed again.  The node array keeps its boundary
 * storage (node_push() clears the rest of a node).
 */
void
sp_mime_parser_reset(sp_mime_parser *m, void *ud)
{
	sp_mime_parser	keep = *m;

	memset(m, 0, sizeof(*m));
	m->lim = keep.lim;
	m->cb = keep.cb;
	m->ud = ud;
	m->nodes = keep.nodes;
	m->maxnodes = keep.maxnodes;
	m->path = keep.path;
	m->line = keep.line;
	m->field = keep.field;
	m->dec = keep.dec;
	m->scr = keep.scr;	/* the charset converter is kept too */
	m->lsb = keep.lsb;
	m->lsbcap = keep.lsbcap;
	m->out = keep.out;
	m->url.tok = keep.url.tok;
	sp__buf_reset(&m->line);
	sp__buf_reset(&m->field);
	sp__buf_reset(&m->dec);
	sp__buf_reset(&m->scr.a);
	sp__buf_reset(&m->scr.b);
	sp__buf_reset(&m->scr.c);
	(void)node_push(m, 0, false);		/* the root */
}

void
sp_mime_parser_free(sp_mime_parser *m)
{
	const struct sp_allocator *a;

	if (m == NULL)
		return;
	a = m->lim.alloc;
	sp__buf_free(&m->line);
	sp__buf_free(&m->field);
	sp__buf_free(&m->dec);
	sp__buf_free(&m->scr.a);
	sp__buf_free(&m->scr.b);
	sp__buf_free(&m->scr.c);
	sp__conv_fini(&m->scr.conv);
	if (m->nodes != NULL)
		sp__free(a, m->nodes[0].info.boundary);
	sp__free(a, m->nodes);
	sp__free(a, m->path);
	sp__free(a, m->out);
	sp__free(a, m->url.tok);
	sp__free(a, m->lsb);
	sp__free(a, m);
}

uint64_t
sp_mime_parser_offset(const sp_mime_parser *m)
{
	return (m->off);
}
