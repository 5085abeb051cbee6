/*
 * analyzer.c - the stack in one handle: TCP reassembly, one SMTP
 * parser per SMTP flow, one MIME parser and digest set per message,
 * all events funnelled into one callback tagged with the flow.
 * Parsers and digests of ended sessions and messages are kept, a few,
 * for the next ones (a capture holds thousands of each).
 *
 * Deciding what is SMTP: a flow whose server port is in the list is
 * SMTP from its first byte.  Otherwise (with by_content) its first
 * bytes are held back in a small bounded buffer until they tell: a
 * greeting "220 ... SMTP", or a client line starting with EHLO, HELO
 * or LHLO.  The held bytes are then replayed into the SMTP parser, so
 * nothing before the decision is lost; a flow that does not look like
 * SMTP within the buffer is ignored.
 */
#include <stdio.h>
#include <strings.h>

#include "internal.h"
#include "smtpproto/analyzer.h"
#include "smtpproto/hash.h"

#define HOLD_BYTES	2048	/* per flow, before deciding */
#define HOLD_CHUNKS	16
#define HOLD_ANOMALIES	4
#define SPARE_MIME	8	/* idle MIME parsers kept for reuse */
#define SPARE_SMTP	8	/* idle SMTP parsers kept for reuse */
#define SPARE_DIGESTS	16	/* idle digest sets kept for reuse */

enum verdict { UNDECIDED = 0, SMTP_YES, SMTP_NO };

struct held_chunk {
	enum sp_dir	dir;
	sp_ts		ts;
	uint64_t	off;
	size_t		pos, len;	/* in hold */
	uint64_t	gap;		/* > 0: a gap of this many bytes */
};

struct held_anomaly {
	enum sp_anomaly	code;
	enum sp_dir	dir;
	uint64_t	off;
	char		detail[96];
};

/*
 * What a flow not yet judged has sent: held back, then replayed into
 * the SMTP parser, or dropped.  Allocated only for such flows, so the
 * thousands of flows judged by their port pay nothing for it.
 */
struct held {
	uint8_t			 bytes[HOLD_BYTES];
	size_t			 len;
	struct held_chunk	 chunks[HOLD_CHUNKS];
	size_t			 nchunks;
	struct held_anomaly	 anoms[HOLD_ANOMALIES];
	size_t			 nanoms;
};

struct digests {
	sp_hash		*h[3];		/* indexed by enum sp_hash_alg */
};

struct session {
	struct session		*prev, *next;	/* all live sessions */
	sp_analyzer		*an;
	struct sp_tcp_flow	*flow;
	enum verdict		 verdict;
	sp_smtp_parser		*smtp;
	sp_mime_parser		*mime;		/* the open message, if any */
	uint64_t		 msg_offset;	/* its first client byte */
	struct digests		 msg, part;
	struct held		*held;		/* only while undecided */
	void			*user;		/* the consumer's slot */
	/* The TCP event being processed, for events raised under it. */
	sp_ts			 ts;
};

struct sp_analyzer {
	struct sp_limits		lim;
	struct sp_analyzer_options	opts;
	sp_event_fn			fn;
	void				*ud;
	sp_tcp_reasm			*tcp;
	sp_err				 err;	/* why a callback failed */
	struct session			*sessions;
	struct sp_analyzer_stats	 st;
	/*
	 * Parsers and digests of ended messages and sessions, kept (a
	 * bounded few) for the next ones: a capture holds thousands of
	 * messages, and allocating a MIME parser and three digest
	 * contexts for each cost more than parsing a small message.
	 */
	sp_mime_parser			*spare_mime[SPARE_MIME];
	size_t				 nspare_mime;
	sp_smtp_parser			*spare_smtp[SPARE_SMTP];
	size_t				 nspare_smtp;
	struct digests			 spare_dg[SPARE_DIGESTS];
	size_t				 nspare_dg;
};

void
sp_analyzer_options_default(struct sp_analyzer_options *o)
{
	static const uint16_t	ports[] = { 25, 465, 587, 2525 };

	memset(o, 0, sizeof(*o));
	memcpy(o->ports, ports, sizeof(ports));
	o->nports = SP_NELEM(ports);
	o->by_content = 1;
}

/* Deliver one event; remember a consumer abort. */
static int
emit(struct session *s, struct sp_event *ev)
{
	ev->flow = s->flow;
	ev->user = &s->user;
	if (s->an->fn(s->an->ud, ev) != 0) {
		s->an->err = SP_E_CALLBACK;
		return (1);
	}
	return (0);
}

static int
fail(struct session *s, sp_err e)
{
	s->an->err = e;
	return (1);
}

static int
emit_anomaly(struct session *s, enum sp_anomaly code, enum sp_dir dir,
    uint64_t off, sp_ts ts, const char *detail)
{
	struct sp_event	ev = { .kind = SP_EV_ANOMALY, .dir = dir,
	    .offset = off, .ts = ts };

	if ((unsigned)code < SP_ANOM__COUNT)
		s->an->st.anomalies[code]++;
	ev.u.anomaly.code = code;
	ev.u.anomaly.detail = detail;
	return (emit(s, &ev));
}

/* --- Digests: sha256 always, md5 and sha1 when asked. --- */

static sp_err
digests_start(sp_analyzer *an, struct digests *d)
{
	int	want[3] = { an->opts.md5, an->opts.sha1, 1 };

	/* A set never started: take a spare one (same algorithms). */
	if (d->h[SP_HASH_SHA256] == NULL && an->nspare_dg > 0)
		*d = an->spare_dg[--an->nspare_dg];
	for (int i = 0; i < 3; i++) {
		sp_err	e;

		if (!want[i])
			continue;
		if (d->h[i] != NULL) {
			e = sp_hash_reset(d->h[i]);
		} else {
			e = sp_hash_new(&d->h[i], (enum sp_hash_alg)i);
		}
		if (e != SP_E_OK)
			return (e);
	}
	return (SP_E_OK);
}

static void
digests_update(struct digests *d, const uint8_t *p, size_t n)
{
	for (int i = 0; i < 3; i++)
		if (d->h[i] != NULL)
			(void)sp_hash_update(d->h[i], p, n);
}

static void
digests_final(struct digests *d, struct sp_digests *out)
{
	uint8_t	md[SP_HASH_MAX_LEN];
	char	*hex[3] = { out->md5, out->sha1, out->sha256 };

	memset(out, 0, sizeof(*out));
	for (int i = 0; i < 3; i++)
		if (d->h[i] != NULL &&
		    sp_hash_final(d->h[i], md, hex[i]) != SP_E_OK)
			hex[i][0] = '\0';
}

static void
digests_free(struct digests *d)
{
	for (int i = 0; i < 3; i++) {
		sp_hash_free(d->h[i]);
		d->h[i] = NULL;
	}
}

/* A session's set goes to the spares, or is freed when they are full. */
static void
digests_give(sp_analyzer *an, struct digests *d)
{
	if (d->h[SP_HASH_SHA256] == NULL || an->nspare_dg >= SPARE_DIGESTS) {
		digests_free(d);
		return;
	}
	an->spare_dg[an->nspare_dg++] = *d;
	memset(d, 0, sizeof(*d));
}

/* --- MIME events. --- */

static int
mime_header(void *ud, const struct sp_mime_header *h)
{
	struct session	*s = ud;
	struct sp_event	 ev = { .kind = SP_EV_HEADER, .dir = SP_DIR_CLIENT,
	    .ts = s->ts, .offset = s->msg_offset + h->offset };

	ev.u.header = h;
	return (emit(s, &ev));
}

static int
mime_part_begin(void *ud, const struct sp_mime_part *p)
{
	struct session	*s = ud;
	struct sp_event	 ev = { .kind = SP_EV_PART_BEGIN, .dir = SP_DIR_CLIENT,
	    .ts = s->ts, .offset = s->msg_offset + p->offset };
	sp_err		 e;

	/* Leaves never nest, so one digest set serves every part. */
	if (p->kind == SP_MIME_LEAF &&
	    (e = digests_start(s->an, &s->part)) != SP_E_OK)
		return (fail(s, e));
	ev.u.part.part = p;
	return (emit(s, &ev));
}

static int
mime_part_data(void *ud, const struct sp_mime_part *p, const uint8_t *buf,
    size_t len)
{
	struct session	*s = ud;
	struct sp_event	 ev = { .kind = SP_EV_PART_DATA, .dir = SP_DIR_CLIENT,
	    .ts = s->ts, .offset = s->msg_offset + p->offset };

	digests_update(&s->part, buf, len);
	ev.u.data.p = buf;
	ev.u.data.n = len;
	ev.u.data.part = p;
	return (emit(s, &ev));
}

static int
mime_part_end(void *ud, const struct sp_mime_part *p)
{
	struct session		*s = ud;
	struct sp_digests	 dg;
	struct sp_event		 ev = { .kind = SP_EV_PART_END,
	    .dir = SP_DIR_CLIENT, .ts = s->ts,
	    .offset = s->msg_offset + p->offset };

	memset(&dg, 0, sizeof(dg));
	if (p->kind == SP_MIME_LEAF) {
		digests_final(&s->part, &dg);
		s->an->st.parts++;
	}
	ev.u.part.part = p;
	ev.u.part.digests = &dg;
	return (emit(s, &ev));
}

static int
mime_url(void *ud, const struct sp_mime_url *u)
{
	struct session	*s = ud;
	struct sp_event	 ev = { .kind = SP_EV_URL, .dir = SP_DIR_CLIENT,
	    .ts = s->ts, .offset = s->msg_offset };

	ev.u.url = u;
	return (emit(s, &ev));
}

static int
mime_anomaly(void *ud, const struct sp_mime_anomaly *a)
{
	struct session	*s = ud;
	char		 detail[256];

	int		 n = (int)SP_MIN(a->detail_len, 200);

	/* The MIME detail is a slice; events carry C strings. */
	if (a->path[0] != '\0' && n > 0)
		snprintf(detail, sizeof(detail), "part %s: %.*s", a->path, n,
		    a->detail);
	else if (a->path[0] != '\0')
		snprintf(detail, sizeof(detail), "part %s", a->path);
	else
		snprintf(detail, sizeof(detail), "%.*s", n, n > 0 ?
		    a->detail : "");
	return (emit_anomaly(s, a->code, SP_DIR_CLIENT, s->msg_offset +
	    a->offset, s->ts, detail[0] != '\0' ? detail : NULL));
}

static const struct sp_mime_callbacks mime_cb = {
	.on_header = mime_header,
	.on_part_begin = mime_part_begin,
	.on_part_data = mime_part_data,
	.on_part_end = mime_part_end,
	.on_url = mime_url,
	.on_anomaly = mime_anomaly,
};

/* --- SMTP events. --- */

static int
smtp_command(void *ud, const struct sp_smtp_command *c)
{
	struct session	*s = ud;
	struct sp_event	 ev = { .kind = SP_EV_COMMAND, .dir = SP_DIR_CLIENT,
	    .ts = c->ts, .offset = c->offset };

	ev.u.command = c;
	return (emit(s, &ev));
}

static int
smtp_reply(void *ud, const struct sp_smtp_reply *r)
{
	struct session	*s = ud;
	struct sp_event	 ev = { .kind = SP_EV_REPLY, .dir = SP_DIR_SERVER,
	    .ts = r->ts, .offset = r->offset };

	ev.u.reply = r;
	return (emit(s, &ev));
}

static int
smtp_caps(void *ud, const struct sp_smtp_capabilities *caps)
{
	struct session	*s = ud;
	struct sp_event	 ev = { .kind = SP_EV_CAPABILITIES,
	    .dir = SP_DIR_SERVER, .ts = s->ts };

	ev.u.caps = caps;
	return (emit(s, &ev));
}

static int
smtp_tls(void *ud, const struct sp_smtp_tls *t)
{
	struct session	*s = ud;
	struct sp_event	 ev = { .kind = SP_EV_TLS, .dir = SP_DIR_SERVER,
	    .ts = t->ts, .offset = t->server_offset };

	ev.u.tls = t;
	return (emit(s, &ev));
}

static int
smtp_auth(void *ud, const struct sp_smtp_auth *a)
{
	struct session	*s = ud;
	struct sp_event	 ev = { .kind = SP_EV_AUTH, .dir = SP_DIR_CLIENT,
	    .ts = a->ts };

	ev.u.auth = a;
	return (emit(s, &ev));
}

static int
smtp_transaction(void *ud, const struct sp_smtp_transaction *t)
{
	struct session	*s = ud;
	struct sp_event	 ev = { .kind = SP_EV_TRANSACTION,
	    .dir = SP_DIR_SERVER, .ts = t->ts_end };

	s->an->st.transactions++;
	ev.u.transaction = t;
	return (emit(s, &ev));
}

/* The message's MIME parser: a spare one reset, or a new one. */
static sp_err
mime_take(struct session *s)
{
	sp_analyzer	*an = s->an;

	if (an->nspare_mime == 0)
		return (sp_mime_parser_new(&s->mime, &an->lim, &mime_cb, s));
	s->mime = an->spare_mime[--an->nspare_mime];
	sp_mime_parser_reset(s->mime, s);
	return (SP_E_OK);
}

static void
mime_give(struct session *s)
{
	sp_analyzer	*an = s->an;

	if (s->mime != NULL && an->nspare_mime < SPARE_MIME)
		an->spare_mime[an->nspare_mime++] = s->mime;
	else
		sp_mime_parser_free(s->mime);
	s->mime = NULL;
}

static int
smtp_message_begin(void *ud, const struct sp_smtp_message *m)
{
	struct session	*s = ud;
	struct sp_event	 ev = { .kind = SP_EV_MESSAGE_BEGIN,
	    .dir = SP_DIR_CLIENT, .ts = m->ts, .offset = m->offset };
	sp_err		 e;

	mime_give(s);
	s->msg_offset = m->offset;
	if ((e = digests_start(s->an, &s->msg)) != SP_E_OK ||
	    (e = mime_take(s)) != SP_E_OK)
		return (fail(s, e));
	ev.u.message.msg = m;
	return (emit(s, &ev));
}

/* A MIME error other than a consumer abort is ours to report. */
static int
mime_result(struct session *s, sp_err e)
{
	if (e == SP_E_OK)
		return (0);
	if (s->an->err == SP_E_OK)
		s->an->err = e;
	return (1);
}

static int
smtp_message_data(void *ud, const uint8_t *p, size_t n)
{
	struct session	*s = ud;
	struct sp_event	 ev = { .kind = SP_EV_MESSAGE_DATA,
	    .dir = SP_DIR_CLIENT, .ts = s->ts };

	s->an->st.message_bytes += n;
	digests_update(&s->msg, p, n);
	ev.u.data.p = p;
	ev.u.data.n = n;
	if (emit(s, &ev) != 0)
		return (1);
	if (s->mime == NULL)
		return (0);
	return (mime_result(s, sp_mime_parser_feed(s->mime, p, n)));
}

static int
smtp_message_end(void *ud, const struct sp_smtp_message *m)
{
	struct session		*s = ud;
	struct sp_digests	 dg;
	struct sp_event		 ev = { .kind = SP_EV_MESSAGE_END,
	    .dir = SP_DIR_CLIENT, .ts = m->ts, .offset = m->offset };

	if (s->mime != NULL &&
	    mime_result(s, sp_mime_parser_finish(s->mime)) != 0)
		return (1);
	mime_give(s);
	digests_final(&s->msg, &dg);
	s->an->st.messages++;
	if (!m->complete)
		s->an->st.messages_incomplete++;
	ev.u.message.msg = m;
	ev.u.message.digests = &dg;
	return (emit(s, &ev));
}

static int
smtp_anomaly(void *ud, enum sp_anomaly a, enum sp_dir dir, uint64_t off,
    const char *detail)
{
	struct session	*s = ud;

	return (emit_anomaly(s, a, dir, off, s->ts, detail));
}

static const struct sp_smtp_callbacks smtp_cb = {
	.on_command = smtp_command,
	.on_reply = smtp_reply,
	.on_capabilities = smtp_caps,
	.on_transaction = smtp_transaction,
	.on_message_begin = smtp_message_begin,
	.on_message_data = smtp_message_data,
	.on_message_end = smtp_message_end,
	.on_tls = smtp_tls,
	.on_auth = smtp_auth,
	.on_anomaly = smtp_anomaly,
};

/* --- Is this flow SMTP? --- */

static int
server_port_listed(const sp_analyzer *an, uint16_t port)
{
	for (size_t i = 0; i < an->opts.nports; i++)
		if (an->opts.ports[i] == port)
			return (1);
	return (0);
}

static int
has_word(const uint8_t *p, size_t n, const char *w)
{
	size_t	wl = strlen(w);

	for (size_t i = 0; i + wl <= n && p[i] != '\n'; i++)
		if (strncasecmp((const char *)p + i, w, wl) == 0)
			return (1);
	return (0);
}

/* Verbs no other common line protocol starts a line with. */
static int
smtp_verb(const uint8_t *p, size_t n)
{
	static const char *const verbs[] = { "EHLO ", "HELO ", "LHLO ",
	    "MAIL FROM:", "RCPT TO:", "BDAT ", "STARTTLS\r", "XCLIENT " };

	for (size_t i = 0; i < SP_NELEM(verbs); i++) {
		size_t	l = strlen(verbs[i]);

		if (n >= l && strncasecmp((const char *)p, verbs[i], l) == 0)
			return (1);
	}
	return (0);
}

/*
 * Look at the first bytes a side sent.  The server's greeting is
 * "220" (RFC 5321 4.2) and names the protocol in practice; FTP also
 * greets with 220, hence the word check.  The client's first command
 * is EHLO, HELO or LHLO (RFC 5321 4.1.1.1, RFC 2033); picked up
 * mid-stream it may be any command, or message data.
 */
static enum verdict
judge(enum sp_dir dir, const uint8_t *p, size_t n, int midstream)
{
	if (dir == SP_DIR_CLIENT) {
		if (n < 5 && memchr(p, '\n', n) == NULL)
			return (UNDECIDED);
		if (smtp_verb(p, n))
			return (SMTP_YES);
		return (midstream ? UNDECIDED : SMTP_NO);
	}
	if (n < 4 || memchr(p, '\n', n) == NULL)
		return (n < 512 ? UNDECIDED : SMTP_NO);
	if (p[0] < '2' || p[0] > '5' || (p[3] != ' ' && p[3] != '-') ||
	    has_word(p, n, "FTP"))
		return (SMTP_NO);
	if (memcmp(p, "220", 3) == 0 && has_word(p, n, "SMTP"))
		return (SMTP_YES);
	return (midstream || memcmp(p, "220", 3) == 0 ? UNDECIDED : SMTP_NO);
}

static sp_err
session_start(struct session *s)
{
	struct sp_smtp_options	o = { 0 };
	struct sp_event		ev = { .kind = SP_EV_SESSION_BEGIN,
	    .ts = s->flow->first_ts };
	sp_err			e;

	if (s->an->nspare_smtp > 0) {
		s->smtp = s->an->spare_smtp[--s->an->nspare_smtp];
		sp_smtp_parser_reset(s->smtp, s);
	} else if ((e = sp_smtp_parser_new(&s->smtp, &s->an->lim, &smtp_cb,
	    s)) != SP_E_OK) {
		return (e);
	}
	o.show_secrets = s->an->opts.show_secrets;
	/*
	 * No implicit_tls for port 465: the parser sees a TLS record
	 * (first byte 0x16) from the first byte anyway and says so
	 * (tls.implicit), while a plaintext session on 465 (seen in the
	 * field: suricata-verify smtp-errors) would be lost unread.
	 */
	o.midstream = !s->flow->handshake;
	if ((e = sp_smtp_parser_set_options(s->smtp, &o)) != SP_E_OK)
		return (e);
	s->verdict = SMTP_YES;
	s->an->st.sessions++;
	if (emit(s, &ev) != 0)
		return (SP_E_CALLBACK);
	for (size_t i = 0; s->held != NULL && i < s->held->nanoms; i++) {
		struct held_anomaly	*h = &s->held->anoms[i];

		if (emit_anomaly(s, h->code, h->dir, h->off, s->flow->first_ts,
		    h->detail[0] != '\0' ? h->detail : NULL) != 0)
			return (SP_E_CALLBACK);
	}
	if (s->held != NULL)
		s->held->nanoms = 0;
	return (SP_E_OK);
}

/*
 * Bytes of an SMTP flow to the parser; first, when asked, to the
 * consumer as they came (a replay needs the client's exact DATA bytes,
 * which the parser's events give only dot-unstuffed).
 */
static sp_err
feed(struct session *s, enum sp_dir dir, uint64_t off, sp_ts ts,
    const uint8_t *p, size_t n)
{
	struct sp_event	ev = { .kind = SP_EV_STREAM, .dir = dir, .ts = ts,
	    .offset = off };
	size_t		used;
	sp_err		e;

	s->ts = ts;
	if (s->an->opts.stream_events) {
		ev.u.data.p = p;
		ev.u.data.n = n;
		if (emit(s, &ev) != 0)
			return (SP_E_CALLBACK);
	}
	e = sp_smtp_parser_feed(s->smtp, dir, ts, p, n, &used);
	if (e == SP_E_CALLBACK && s->an->err != SP_E_OK)
		return (s->an->err);
	return (e);
}

static void
drop_held(struct session *s)
{
	sp__free(s->an->lim.alloc, s->held);
	s->held = NULL;
}

static struct held *
get_held(struct session *s)
{
	if (s->held == NULL)
		s->held = sp__calloc(s->an->lim.alloc, 1, sizeof(*s->held));
	return (s->held);
}

/* A gap, once the flow is SMTP: to the consumer and the parsers. */
static sp_err
gap_feed(struct session *s, enum sp_dir dir, uint64_t off, uint64_t n,
    sp_ts ts)
{
	struct sp_event	 ev = { .kind = SP_EV_GAP, .dir = dir, .ts = ts,
	    .offset = off };
	sp_err		 e;

	ev.u.gap = n;
	if (emit(s, &ev) != 0)
		return (SP_E_CALLBACK);
	s->ts = ts;
	if (dir == SP_DIR_CLIENT && s->mime != NULL &&
	    mime_result(s, sp_mime_parser_gap(s->mime, n)) != 0)
		return (SP_E_CALLBACK);
	e = sp_smtp_parser_gap(s->smtp, dir, ts, n);
	if (e == SP_E_CALLBACK && s->an->err != SP_E_OK)
		return (s->an->err);
	return (e);
}

/* Replay what was held while undecided, in the order it came. */
static sp_err
replay_held(struct session *s)
{
	for (size_t i = 0; s->held != NULL && i < s->held->nchunks; i++) {
		struct held_chunk	*c = &s->held->chunks[i];
		sp_err			 e;

		if (c->gap > 0)
			e = gap_feed(s, c->dir, c->off, c->gap, c->ts);
		else
			e = feed(s, c->dir, c->off, c->ts,
			    s->held->bytes + c->pos, c->len);
		if (e != SP_E_OK)
			return (e);
	}
	drop_held(s);
	return (SP_E_OK);
}

/* A new chunk at the end of what is held (the caller checked room). */
static struct held_chunk *
new_chunk(struct held *h, enum sp_dir dir, uint64_t off, uint64_t gap,
    sp_ts ts)
{
	struct held_chunk	*c = &h->chunks[h->nchunks++];

	c->dir = dir;
	c->ts = ts;
	c->off = off;
	c->pos = h->len;
	c->len = 0;
	c->gap = gap;
	return (c);
}

/* Hold bytes until judged: 1, or 0 if they no longer fit, -1 no memory. */
static int
hold(struct session *s, enum sp_dir dir, uint64_t off, const uint8_t *p,
    size_t n, sp_ts ts)
{
	struct held		*h = get_held(s);
	struct held_chunk	*c;

	if (h == NULL)
		return (-1);
	if (n > HOLD_BYTES - h->len)
		return (0);
	c = h->nchunks > 0 ? &h->chunks[h->nchunks - 1] : NULL;
	/* Bytes that continue the last chunk extend it (tiny segments). */
	if (c == NULL || c->dir != dir || c->gap > 0 ||
	    c->off + c->len != off) {
		if (h->nchunks == HOLD_CHUNKS)
			return (0);
		c = new_chunk(h, dir, off, 0, ts);
	}
	memcpy(h->bytes + h->len, p, n);
	h->len += n;
	c->len += n;
	return (1);
}

/* Hold a gap in its place among the bytes: 1, 0 if full, -1 no memory. */
static int
hold_gap(struct session *s, enum sp_dir dir, uint64_t off, uint64_t n,
    sp_ts ts)
{
	struct held	*h = get_held(s);

	if (h == NULL)
		return (-1);
	if (h->nchunks == HOLD_CHUNKS)
		return (0);
	(void)new_chunk(h, dir, off, n, ts);
	return (1);
}

/* Gather what one direction sent, among the bytes held. */
static size_t
gather(const struct session *s, enum sp_dir dir, uint8_t *buf, int *cut)
{
	size_t	n = 0;

	*cut = 0;
	for (size_t i = 0; s->held != NULL && i < s->held->nchunks; i++) {
		const struct held_chunk	*c = &s->held->chunks[i];

		if (c->dir != dir)
			continue;
		if (c->gap > 0) {	/* bytes after a gap are no first bytes */
			*cut = 1;
			break;
		}
		memcpy(buf + n, s->held->bytes + c->pos, c->len);
		n += c->len;
	}
	return (n);
}

/*
 * Either side saying yes wins; otherwise either saying no.  A side's
 * first bytes end at its first gap, or at the flow's end (at_end): the
 * server's line ends there (a greeting cut by the snap length still
 * names SMTP), and a side cut undecided can tell no more; when both
 * are, it is no.
 */
static enum verdict
judge_held(const struct session *s, int at_end)
{
	uint8_t		buf[HOLD_BYTES + 1];
	size_t		n;
	int		mid = !s->flow->handshake, ccut, vcut;
	enum verdict	c, v;

	c = judge(SP_DIR_CLIENT, buf, gather(s, SP_DIR_CLIENT, buf, &ccut),
	    mid);
	n = gather(s, SP_DIR_SERVER, buf, &vcut);
	if ((vcut || at_end) && n > 0)
		buf[n++] = '\n';
	v = judge(SP_DIR_SERVER, buf, n, mid);
	if (c == SMTP_YES || v == SMTP_YES)
		return (SMTP_YES);
	if (c == SMTP_NO || v == SMTP_NO || (ccut && vcut))
		return (SMTP_NO);
	return (UNDECIDED);
}

/* --- TCP events. --- */

static void
session_free(struct session *s)
{
	if (s == NULL)
		return;
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		s->an->sessions = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	if (s->smtp != NULL && s->an->nspare_smtp < SPARE_SMTP)
		s->an->spare_smtp[s->an->nspare_smtp++] = s->smtp;
	else
		sp_smtp_parser_free(s->smtp);
	mime_give(s);
	digests_give(s->an, &s->msg);
	digests_give(s->an, &s->part);
	sp__free(s->an->lim.alloc, s->held);
	sp__free(s->an->lim.alloc, s);
}

static int
tcp_flow_start(void *ud, struct sp_tcp_flow *f)
{
	sp_analyzer	*an = ud;
	struct session	*s = sp__calloc(an->lim.alloc, 1, sizeof(*s));
	sp_err		 e;

	if (s == NULL) {
		an->err = SP_E_NOMEM;
		return (1);
	}
	s->an = an;
	s->flow = f;
	f->user = s;
	s->next = an->sessions;
	if (an->sessions != NULL)
		an->sessions->prev = s;
	an->sessions = s;
	if (server_port_listed(an, f->server_port)) {
		if ((e = session_start(s)) != SP_E_OK)
			return (fail(s, e));
	} else if (!an->opts.by_content) {
		s->verdict = SMTP_NO;
	}
	return (0);
}

/* A flow not yet judged: hold its bytes and judge them. */
static sp_err
undecided_data(struct session *s, enum sp_dir dir, uint64_t off,
    const uint8_t *p, size_t n, sp_ts ts)
{
	enum verdict	v;
	sp_err		e;

	switch (hold(s, dir, off, p, n, ts)) {
	case -1:
		return (SP_E_NOMEM);
	case 0:
		s->verdict = SMTP_NO;
		drop_held(s);
		return (SP_E_OK);
	}
	v = judge_held(s, 0);
	if (v == SMTP_NO) {
		s->verdict = SMTP_NO;
		drop_held(s);
	}
	if (v != SMTP_YES)
		return (SP_E_OK);
	if ((e = session_start(s)) != SP_E_OK)
		return (e);
	return (replay_held(s));
}

static int
tcp_data(void *ud, struct sp_tcp_flow *f, enum sp_dir dir, uint64_t off,
    const uint8_t *p, size_t n, sp_ts ts)
{
	struct session	*s = f->user;
	sp_err		 e;

	(void)ud;
	if (s->verdict == SMTP_NO)
		return (0);
	if (s->verdict == UNDECIDED)
		e = undecided_data(s, dir, off, p, n, ts);
	else
		e = feed(s, dir, off, ts, p, n);
	return (e == SP_E_OK ? 0 : fail(s, e));
}

static int
tcp_gap(void *ud, struct sp_tcp_flow *f, enum sp_dir dir, uint64_t off,
    uint64_t n, sp_ts ts)
{
	struct session	*s = f->user;
	enum verdict	 v;
	sp_err		 e;
	int		 held;

	(void)ud;
	if (s->verdict == SMTP_NO)
		return (0);
	if (s->verdict == SMTP_YES) {
		e = gap_feed(s, dir, off, n, ts);
		return (e == SP_E_OK ? 0 : fail(s, e));
	}
	/*
	 * Before the verdict the gap is held in its place: the bytes
	 * before it may still tell (a greeting cut short), or the other
	 * side's first bytes may.
	 */
	if ((held = hold_gap(s, dir, off, n, ts)) < 0)
		return (fail(s, SP_E_NOMEM));
	if (held == 0 || (v = judge_held(s, 0)) == SMTP_NO) {
		s->verdict = SMTP_NO;
		drop_held(s);
		return (0);
	}
	if (v == UNDECIDED)
		return (0);
	if ((e = session_start(s)) != SP_E_OK ||
	    (e = replay_held(s)) != SP_E_OK)
		return (fail(s, e));
	return (0);
}

static int
tcp_anomaly(void *ud, struct sp_tcp_flow *f, enum sp_dir dir,
    enum sp_anomaly a, uint64_t off, const char *detail)
{
	struct session		*s = f->user;
	struct held		*held;
	struct held_anomaly	*h;

	(void)ud;
	if (s->verdict == SMTP_YES)
		return (emit_anomaly(s, a, dir, off, f->last_ts, detail));
	if (s->verdict == SMTP_NO)
		return (0);
	if ((held = get_held(s)) == NULL)
		return (fail(s, SP_E_NOMEM));
	if (held->nanoms == HOLD_ANOMALIES)
		return (0);
	h = &held->anoms[held->nanoms++];
	h->code = a;
	h->dir = dir;
	h->off = off;
	snprintf(h->detail, sizeof(h->detail), "%s", detail ? detail : "");
	return (0);
}

static int
tcp_flow_end(void *ud, struct sp_tcp_flow *f, enum sp_flow_end why)
{
	struct session		*s = f->user;
	struct sp_smtp_info	 info;
	struct sp_event		 ev = { .kind = SP_EV_SESSION_END,
	    .ts = f->last_ts };
	sp_err			 e = SP_E_OK;
	int			 rc = 0;

	(void)ud;
	/* The flow's end ends the server's last line, as a gap does. */
	if (s->verdict == UNDECIDED && s->held != NULL && s->held->nchunks > 0 &&
	    judge_held(s, 1) == SMTP_YES) {
		if ((e = session_start(s)) == SP_E_OK)
			e = replay_held(s);
	}
	if (e == SP_E_OK && s->verdict == SMTP_YES) {
		s->ts = f->last_ts;
		e = sp_smtp_parser_finish(s->smtp, f->last_ts);
		if (e == SP_E_CALLBACK && s->an->err != SP_E_OK)
			e = s->an->err;
	}
	if (e != SP_E_OK) {
		rc = fail(s, e);
	} else if (s->verdict == SMTP_YES) {
		sp_smtp_parser_get_info(s->smtp, &info);
		ev.u.end.why = why;
		ev.u.end.info = &info;
		rc = emit(s, &ev);
	}
	f->user = NULL;
	session_free(s);
	return (rc);
}

/*
 * Roles of a flow picked up mid-stream on a port not in the list.
 * The reassembler knows replies ("250 ") mark the server; we add that
 * a command verb at the start of a payload marks the client, so a
 * capture starting at "MAIL FROM:" between two high ports is read the
 * right way round instead of by the lower-port guess.
 */
static int
role_by_verb(void *ud, const struct sp_packet *pkt)
{
	static const char *const verbs[] = { "EHLO ", "HELO ", "LHLO ",
	    "MAIL FROM:", "RCPT TO:", "DATA\r", "BDAT ", "RSET\r", "NOOP",
	    "QUIT\r", "AUTH ", "STARTTLS\r", "VRFY ", "EXPN " };
	const sp_analyzer	*an = ud;

	if (server_port_listed(an, pkt->sport) ||
	    server_port_listed(an, pkt->dport))
		return (-1);
	for (size_t i = 0; i < SP_NELEM(verbs); i++) {
		size_t	n = strlen(verbs[i]);

		if (pkt->payload_len >= n && strncasecmp(
		    (const char *)pkt->payload, verbs[i], n) == 0)
			return (0);
	}
	return (-1);
}

static const struct sp_tcp_callbacks tcp_cb = {
	.on_flow_start = tcp_flow_start,
	.on_data = tcp_data,
	.on_gap = tcp_gap,
	.on_anomaly = tcp_anomaly,
	.on_flow_end = tcp_flow_end,
};

/* --- The handle. --- */

sp_err
sp_analyzer_new(sp_analyzer **out, const struct sp_limits *lim,
    const struct sp_analyzer_options *opts, sp_event_fn fn, void *ud)
{
	struct sp_limits	 l;
	sp_analyzer		*an;
	sp_err			 e;

	if (out == NULL || fn == NULL)
		return (SP_E_INVAL);
	*out = NULL;
	if (lim == NULL)
		sp_limits_default(&l);
	else
		l = *lim;
	if ((an = sp__calloc(l.alloc, 1, sizeof(*an))) == NULL)
		return (SP_E_NOMEM);
	an->lim = l;
	if (opts != NULL)
		an->opts = *opts;
	else
		sp_analyzer_options_default(&an->opts);
	an->fn = fn;
	an->ud = ud;
	e = sp_tcp_reasm_new(&an->tcp, &an->lim, &tcp_cb, an);
	if (e == SP_E_OK)
		e = sp_tcp_reasm_set_server_ports(an->tcp, an->opts.ports,
		    an->opts.nports);
	if (e == SP_E_OK)
		sp_tcp_reasm_set_role_fn(an->tcp, role_by_verb);
	if (e != SP_E_OK) {
		sp_analyzer_free(an);
		return (e);
	}
	*out = an;
	return (SP_E_OK);
}

void
sp_analyzer_free(sp_analyzer *an)
{
	if (an == NULL)
		return;
	/* Sessions of flows still open (no finish(), or an error). */
	while (an->sessions != NULL)
		session_free(an->sessions);
	while (an->nspare_mime > 0)
		sp_mime_parser_free(an->spare_mime[--an->nspare_mime]);
	while (an->nspare_smtp > 0)
		sp_smtp_parser_free(an->spare_smtp[--an->nspare_smtp]);
	while (an->nspare_dg > 0)
		digests_free(&an->spare_dg[--an->nspare_dg]);
	sp_tcp_reasm_free(an->tcp);
	sp__free(an->lim.alloc, an);
}

/* A callback failure below carries our own reason in an->err. */
static sp_err
result(sp_analyzer *an, sp_err e)
{
	if (e == SP_E_CALLBACK && an->err != SP_E_OK)
		return (an->err);
	return (e);
}

sp_err
sp_analyzer_packet(sp_analyzer *an, const struct sp_packet *pkt)
{
	return (result(an, sp_tcp_reasm_packet(an->tcp, pkt)));
}

sp_err
sp_analyzer_advance(sp_analyzer *an, sp_ts now)
{
	return (result(an, sp_tcp_reasm_advance(an->tcp, now)));
}

sp_err
sp_analyzer_finish(sp_analyzer *an)
{
	return (result(an, sp_tcp_reasm_finish(an->tcp)));
}

void
sp_analyzer_get_stats(const sp_analyzer *an, struct sp_analyzer_stats *st)
{
	*st = an->st;
	sp_tcp_reasm_get_stats(an->tcp, &st->tcp);
}
