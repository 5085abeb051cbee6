/*
 * smtp_data.c - message content: DATA (RFC 5321 4.1.1.4, 4.5.2) and
 * BDAT chunks (RFC 3030 2).
 *
 * DATA content streams through a byte machine that reads it as a
 * strict server does: only CRLF "." CRLF ends it, and a leading dot
 * is removed from a line that begins after CRLF.  Beside it a detector
 * watches for every other end-of-data a lax server might accept (SMTP
 * smuggling: "\n.\n", "\r\n.\r", "\r\n\0.\r\n"...) and reports both
 * readings: where the lax server would have stopped, and what would
 * have followed.  The strict reading goes on.
 *
 * Strict states:  D_BOL   at a line start (after CRLF)
 *                 D_TEXT  inside a line
 *                 D_CR    after a CR inside a line
 *                 D_DOT   after "." at a line start (dot held back)
 *                 D_DOTCR after "." CR at a line start (both held)
 */
#include <ctype.h>
#include <stdio.h>

#include "smtp_int.h"

void
sp__smtp_data_reset(sp_smtp_parser *p)
{
	memset(&p->dm, 0, sizeof(p->dm));
	p->dm.st = D_BOL;
	p->dm.h[0] = '\n';		/* as if right after "DATA\r\n" */
	p->dm.h[1] = '\r';
}

sp_err
sp__smtp_msg_begin(sp_smtp_parser *p, enum sp_smtp_method m, uint64_t off,
    int start_missing)
{
	struct txn		*t = p->msg_txn;
	struct sp_smtp_message	 msg;

	if (!SP_ALWAYS(t != NULL))
		return (SP_E_INTERNAL);
	t->msg_open = t->msg_seen = 1;
	t->start_missing |= start_missing;
	p->info.messages++;
	if (p->cb.on_message_begin == NULL)
		return (SP_E_OK);
	memset(&msg, 0, sizeof(msg));
	msg.txn_seq = t->seq;
	msg.method = m;
	msg.offset = off;
	msg.ts = p->ts;
	msg.start_missing = t->start_missing;
	return (sp__smtp_cb(p, p->cb.on_message_begin(p->ud, &msg)));
}

/* The message ends; complete only if no byte of it went missing. */
sp_err
sp__smtp_msg_end(sp_smtp_parser *p, int complete)
{
	struct txn		*t = p->msg_txn;
	struct sp_smtp_message	 msg;
	sp_err			 e = SP_E_OK;

	if (t == NULL || !t->msg_open)
		return (SP_E_OK);
	t->msg_open = 0;
	t->msg_ended = 1;
	t->msg_complete = complete && t->missing == 0 && !t->start_missing;
	if (!t->msg_complete)
		e = sp__smtp_anomaly(p, SP_ANOM_SMTP_MESSAGE_INCOMPLETE,
		    SP_DIR_CLIENT, p->cpos, "%llu bytes "
		    "missing%s%s", (unsigned long long)t->missing,
		    t->start_missing ? ", start not seen" : "",
		    complete ? "" : ", end not seen");
	if (e != SP_E_OK)
		return (e);
	memset(&msg, 0, sizeof(msg));
	msg.txn_seq = t->seq;
	msg.method = t->method;
	msg.ts = p->ts;
	msg.start_missing = t->start_missing;
	msg.size = t->msg_size;
	msg.complete = t->msg_complete;
	msg.missing = t->missing;
	/* The caller reports t if it is due: t must outlive this call. */
	if (p->cb.on_message_end == NULL)
		return (SP_E_OK);
	return (sp__smtp_cb(p, p->cb.on_message_end(p->ud, &msg)));
}

static sp_err
emit_data(sp_smtp_parser *p, const uint8_t *s, size_t n)
{
	if (n == 0 || p->msg_txn == NULL)
		return (SP_E_OK);
	p->msg_txn->msg_size += n;
	if (p->cb.on_message_data == NULL)
		return (SP_E_OK);
	return (sp__smtp_cb(p, p->cb.on_message_data(p->ud, s, n)));
}

/* ---- the smuggling detector ---- */

static sp_err
smug_report(sp_smtp_parser *p)
{
	struct data_machine	*d = &p->dm;
	char			 seq[40], then[4 * SMUG_SHOW];

	d->smug = 0;
	sp__smtp_escape(seq, sizeof(seq), d->smug_seq, d->smug_len);
	sp__smtp_escape(then, sizeof(then), d->then, d->nthen);
	return (sp__smtp_anomaly(p, SP_ANOM_SMTP_SMUGGLING, SP_DIR_CLIENT,
	    d->smug_off, "lax end at %llu (%s); then: %s",
	    (unsigned long long)d->smug_off, seq, then));
}

static int
peek_is(const struct data_machine *d, const char *lit, int whole)
{
	size_t	k = strlen(lit);

	if (d->ncid < k || (whole && d->ncid != k))
		return (0);
	for (size_t i = 0; i < k; i++)
		if (toupper(d->cid_buf[i]) != (unsigned char)lit[i])
			return (0);
	return (1);
}

/* Does the line after a bare line end look like a command? */
static sp_err
cid_check(sp_smtp_parser *p)
{
	struct data_machine	*d = &p->dm;
	char			 show[4 * CID_PEEK];

	d->cid = 0;
	if (!peek_is(d, "MAIL FROM:", 0) && !peek_is(d, "RCPT TO:", 0) &&
	    !peek_is(d, "DATA", 1) && !peek_is(d, "BDAT ", 0))
		return (SP_E_OK);
	sp__smtp_escape(show, sizeof(show), d->cid_buf, d->ncid);
	return (sp__smtp_anomaly(p, SP_ANOM_SMTP_CMD_IN_DATA, SP_DIR_CLIENT,
	    d->cid_off, "%s", show));
}

static void
cid_start(struct data_machine *d, uint64_t off)
{
	d->cid = 1;
	d->ncid = 0;
	d->cid_off = off;
}

/* A "." : what line start precedes it, as the history tells. */
static void
cand_start(struct data_machine *d, uint64_t off)
{
	const uint8_t	*h = d->h;
	size_t		 pre;

	if (h[0] == '\n' && h[1] == '\r') {
		d->cand = LAX_CRLF;
		pre = h[2] == '\r' ? 3 : 2;	/* show "\r\r\n" whole */
	} else if (h[0] == '\n') {
		d->cand = LAX_LF;
		pre = 1;
	} else if (h[0] == '\r') {
		d->cand = LAX_CR;
		pre = 1;
	} else if (h[0] == '\0' && h[1] == '\n' && h[2] == '\r') {
		d->cand = LAX_CRLFNUL;
		pre = 3;
	} else {
		return;
	}
	pre = SP_MIN(pre, (size_t)off);
	for (size_t i = 0; i < pre; i++)
		d->cand_seq[i] = h[pre - 1 - i];
	d->cand_seq[pre] = '.';
	d->cand_pre = pre;
	d->cand_len = pre + 1;
	d->cand_off = off - pre;
}

/* Classify the bytes after the dot: 0 undecided, -1 none, else kind. */
static int
suffix_kind(const uint8_t *s, size_t n, size_t *slen)
{
	if (s[0] == '\n')
		return (*slen = 1, LAX_LF);
	if (s[0] == '\r') {
		if (n < 2)
			return (0);
		if (s[1] == '\n')
			return (*slen = 2, LAX_CRLF);
		if (s[1] != '\r')
			return (*slen = 1, LAX_CR);
		if (n < 3)
			return (0);
		if (s[2] == '\n')
			return (*slen = 3, LAX_CRCRLF);
		return (*slen = 1, LAX_CR);
	}
	if (s[0] != '\0')
		return (-1);
	if (n < 2)
		return (0);
	if (s[1] != '\r')
		return (-1);
	if (n < 3)
		return (0);
	return (s[2] == '\n' ? (*slen = 3, LAX_NULCRLF) : -1);
}

/*
 * One more byte after a candidate dot.  Returns 1 in *ate if the byte
 * belongs to the end sequence (so it is not text that follows).
 */
static sp_err
cand_step(sp_smtp_parser *p, uint8_t b, int *ate)
{
	struct data_machine	*d = &p->dm;
	size_t			 slen = 0, n;
	int			 k;
	sp_err			 e = SP_E_OK;

	d->cand_seq[d->cand_len++] = b;
	n = d->cand_len - d->cand_pre - 1;
	k = suffix_kind(d->cand_seq + d->cand_pre + 1, n, &slen);
	*ate = 1;
	if (k == 0)
		return (SP_E_OK);
	*ate = k > 0 && slen == n;
	if (k < 0 || (d->cand == LAX_CRLF && k == LAX_CRLF)) {
		d->cand = LAX_NONE;		/* text, or the real end */
		return (SP_E_OK);
	}
	if (d->smug)
		e = smug_report(p);
	d->smug = 1;
	d->smug_off = d->cand_off;
	d->smug_len = d->cand_pre + 1 + slen;
	memcpy(d->smug_seq, d->cand_seq, d->smug_len);
	d->nthen = 0;
	d->cand = LAX_NONE;
	if (e == SP_E_OK && d->cid)
		e = cid_check(p);
	cid_start(d, d->smug_off + d->smug_len);
	return (e);
}

/* Text after a found sequence, and a possible command line. */
static sp_err
collect(sp_smtp_parser *p, uint8_t b)
{
	struct data_machine	*d = &p->dm;
	int			 eol = b == '\r' || b == '\n';
	sp_err			 e = SP_E_OK;

	if (d->smug) {
		if (eol || d->nthen == SMUG_SHOW)
			e = smug_report(p);
		else
			d->then[d->nthen++] = b;
	}
	if (e == SP_E_OK && d->cid) {
		if (eol || d->ncid == CID_PEEK)
			e = cid_check(p);
		else
			d->cid_buf[d->ncid++] = b;
	}
	return (e);
}

/* Bare CR and LF (RFC 5321 2.3.8), flagged once per message each. */
static sp_err
bare_ends(sp_smtp_parser *p, uint8_t b, uint64_t off)
{
	struct data_machine	*d = &p->dm;
	sp_err			 e = SP_E_OK;

	if (b == '\n' && d->h[0] != '\r') {
		if (!d->bare_lf_seen)
			e = sp__smtp_anomaly(p, SP_ANOM_SMTP_BARE_LF,
			    SP_DIR_CLIENT, off, "in message content");
		d->bare_lf_seen = 1;
		if (!d->cid)
			cid_start(d, off + 1);
	} else if (d->h[0] == '\r' && b != '\n' && d->nraw > 0) {
		if (!d->bare_cr_seen)
			e = sp__smtp_anomaly(p, SP_ANOM_SMTP_BARE_CR,
			    SP_DIR_CLIENT, off - 1, "in message content");
		d->bare_cr_seen = 1;
		if (!d->cid && b != '\r') {
			cid_start(d, off);
			d->cid_buf[d->ncid++] = b;
		}
	}
	return (e);
}

static sp_err
detect(sp_smtp_parser *p, uint8_t b, uint64_t off)
{
	struct data_machine	*d = &p->dm;
	int			 ate = 0;
	sp_err			 e = SP_E_OK;

	if (d->cand != LAX_NONE)
		e = cand_step(p, b, &ate);
	if (e == SP_E_OK && !ate)
		e = collect(p, b);
	if (e == SP_E_OK && b == '.' && d->cand == LAX_NONE && !ate)
		cand_start(d, off);
	if (e == SP_E_OK)
		e = bare_ends(p, b, off);
	d->h[2] = d->h[1];
	d->h[1] = d->h[0];
	d->h[0] = b;
	d->nraw++;
	return (e);
}

/* Reports still waiting for more text are made with what there is. */
sp_err
sp__smtp_data_flush(sp_smtp_parser *p)
{
	struct data_machine	*d = &p->dm;
	sp_err			 e = SP_E_OK;

	if (d->smug)
		e = smug_report(p);
	if (e == SP_E_OK && d->cid)
		e = cid_check(p);
	d->cand = LAX_NONE;
	return (e);
}

/* CRLF "." CRLF: the message ends, a reply to it is awaited. */
static sp_err
data_end(sp_smtp_parser *p)
{
	struct txn	*t = p->msg_txn;
	struct pend	 q;
	sp_err		 e;

	if ((e = sp__smtp_data_flush(p)) != SP_E_OK ||
	    (e = sp__smtp_msg_end(p, 1)) != SP_E_OK)
		return (e);
	sp__smtp_set_cstate(p, C_CMD);
	p->msg_txn = NULL;
	if (t == NULL)
		return (SP_E_OK);
	if (!t->data_refused) {
		memset(&q, 0, sizeof(q));
		q.verb = SP_SMTP_VERB_DATA;
		q.seq = t->data_seq;
		q.txn = t;
		q.rcpt = -1;
		q.data_end = 1;
		if ((e = sp__smtp_push(p, &q)) != SP_E_OK)
			return (e);
	}
	return (sp__smtp_txn_done(p, t));
}

/* The strict machine for one byte; returns 1 when the end is reached. */
static int
strict_byte(struct data_machine *d, uint8_t b, int *skip, int *held_cr)
{
	*skip = 0;
	*held_cr = 0;
	switch (d->st) {
	case D_BOL:
		if (b == '.') {
			d->st = D_DOT;		/* RFC 5321 4.5.2 */
			*skip = 1;
			return (0);
		}
		d->st = b == '\r' ? D_CR : D_TEXT;
		return (0);
	case D_TEXT:
		d->st = b == '\r' ? D_CR : D_TEXT;
		return (0);
	case D_CR:
		d->st = b == '\n' ? D_BOL : b == '\r' ? D_CR : D_TEXT;
		return (0);
	case D_DOT:
		if (b == '\r') {
			d->st = D_DOTCR;
			*skip = 1;
			return (0);
		}
		d->st = D_TEXT;			/* the dot is dropped */
		return (0);
	case D_DOTCR:
		if (b == '\n')
			return (1);
		*held_cr = 1;			/* ".\r" then text */
		d->st = b == '\r' ? D_CR : D_TEXT;
		return (0);
	}
	return (0);
}

/* Bytes that can change the strict or the lax reading of DATA. */
static const uint8_t data_stop[256] = { ['\r'] = 1, ['\n'] = 1, ['\0'] = 1 };

/*
 * Where the next CR, LF or NUL is in s[i..n), or n: the lines of text
 * between them are most of a message, so they are stepped over a
 * vector (or a word) at a time rather than byte by byte.
 */
#if defined(__SSE2__)
#include <immintrin.h>

/* 32 bytes a step where the CPU has AVX2 (chosen at run time). */
__attribute__((target("avx2"))) static size_t
text_span32(const uint8_t *s, size_t i, size_t n)
{
	const __m256i	cr = _mm256_set1_epi8('\r');
	const __m256i	lf = _mm256_set1_epi8('\n');
	const __m256i	nul = _mm256_setzero_si256();
	unsigned	stops;

	while (n - i >= 32) {
		__m256i	v = _mm256_loadu_si256((const __m256i *)(s + i));

		stops = (unsigned)_mm256_movemask_epi8(_mm256_or_si256(
		    _mm256_or_si256(_mm256_cmpeq_epi8(v, cr),
		    _mm256_cmpeq_epi8(v, lf)), _mm256_cmpeq_epi8(v, nul)));
		if (stops != 0)
			return (i + (size_t)__builtin_ctz(stops));
		i += 32;
	}
	return (i);
}

static size_t
text_span(const uint8_t *s, size_t i, size_t n)
{
	const __m128i	cr = _mm_set1_epi8('\r'), lf = _mm_set1_epi8('\n');
	const __m128i	nul = _mm_setzero_si128();
	int		stops;

	if (n - i >= 32 && __builtin_cpu_supports("avx2")) {
		i = text_span32(s, i, n);
		if (n - i >= 32)
			return (i);		/* a stop, found */
	}
	while (n - i >= 16) {
		__m128i	v = _mm_loadu_si128((const __m128i *)(s + i));

		stops = _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(
		    _mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, lf)),
		    _mm_cmpeq_epi8(v, nul)));
		if (stops != 0)
			return (i + (size_t)__builtin_ctz((unsigned)stops));
		i += 16;
	}
	while (i < n && !data_stop[s[i]])
		i++;
	return (i);
}
#else
#define ONES	0x0101010101010101ull
#define HIGHS	0x8080808080808080ull

/* Nonzero when one of the eight bytes of v is zero (exact test). */
static inline uint64_t
has_zero(uint64_t v)
{
	return ((v - ONES) & ~v & HIGHS);
}

/* Eight bytes a step; the word holding a stop is searched bytewise. */
static size_t
text_span(const uint8_t *s, size_t i, size_t n)
{
	uint64_t	w;

	while (n - i >= 8) {
		memcpy(&w, s + i, sizeof(w));
		if (has_zero(w) | has_zero(w ^ ('\r' * ONES)) |
		    has_zero(w ^ ('\n' * ONES)))
			break;
		i += 8;
	}
	while (i < n && !data_stop[s[i]])
		i++;
	return (i);
}
#endif

/*
 * The common case, made fast: inside a line with nothing pending, only
 * CR, LF and NUL change any state but the history.  A "." there is
 * text (it ends nothing: only a dot after a line end or "\r\n\0" can,
 * CONFORMANCE V1), and so is a whole CRLF followed by an ordinary byte
 * (the next line starts without a dot): both are skipped here, so a
 * base64 body runs through without a per-line detour.
 */
static size_t
fast_text(struct data_machine *d, const uint8_t *s, size_t n)
{
	size_t	i = 0;

	if (d->st != D_TEXT || d->cand != LAX_NONE || d->smug || d->cid)
		return (0);
	if (n > 0 && s[0] == '.' && d->h[0] == '\0')
		return (0);
	for (;;) {
		i = text_span(s, i, n);
		if (i + 2 < n && s[i] == '\r' && s[i + 1] == '\n' &&
		    !data_stop[s[i + 2]] && s[i + 2] != '.')
			i += 3;
		else
			break;
	}
	for (size_t k = i > 3 ? i - 3 : 0; k < i; k++) {
		d->h[2] = d->h[1];
		d->h[1] = d->h[0];
		d->h[0] = s[k];
	}
	d->nraw += i;
	return (i);
}

/*
 * Message content in state C_DATA.  Slices of the caller's buffer go
 * to on_message_data; only the dropped dots break them up.
 */
sp_err
sp__smtp_data_step(sp_smtp_parser *p, const uint8_t *buf, size_t len,
    uint64_t off, size_t *used)
{
	size_t	i, run = 0;
	int	skip, held_cr, end;
	sp_err	e;

	*used = 0;
	if (p->msg_txn != NULL && !p->msg_txn->msg_open &&
	    !p->msg_txn->msg_ended &&
	    (e = sp__smtp_msg_begin(p, SP_SMTP_METHOD_DATA, off, 0)) != SP_E_OK)
		return (e);
	for (i = 0; i < len; i++) {
		i += fast_text(&p->dm, buf + i, len - i);
		if (i == len)
			break;
		if ((e = detect(p, buf[i], off + i)) != SP_E_OK)
			return (e);
		end = strict_byte(&p->dm, buf[i], &skip, &held_cr);
		if (held_cr &&
		    ((e = emit_data(p, buf + run, i - run)) != SP_E_OK ||
		    (e = emit_data(p, (const uint8_t *)"\r", 1)) != SP_E_OK))
			return (e);
		if (held_cr)
			run = i;
		if (end) {
			*used = i + 1;
			p->cpos = off + i + 1;
			return (data_end(p));
		}
		if (!skip)
			continue;
		if ((e = emit_data(p, buf + run, i - run)) != SP_E_OK)
			return (e);
		run = i + 1;
	}
	*used = len;
	return (emit_data(p, buf + run, len - run));
}

/* A BDAT chunk ended (RFC 3030 2); LAST ends the message. */
static sp_err
chunk_done(sp_smtp_parser *p)
{
	struct txn	*t = p->msg_txn;
	sp_err		 e = SP_E_OK;

	sp__smtp_set_cstate(p, C_CMD);
	p->after_bdat = 1;
	if (!p->bdat_chunk_last || t == NULL)
		return (SP_E_OK);
	e = sp__smtp_msg_end(p, 1);
	p->msg_txn = NULL;
	if (e == SP_E_OK)
		e = sp__smtp_txn_done(p, t);
	return (e);
}

/* Chunk octets, verbatim: no dot handling, no line ends. */
sp_err
sp__smtp_bdat_step(sp_smtp_parser *p, const uint8_t *buf, size_t len,
    uint64_t off, size_t *used)
{
	size_t	take = (size_t)SP_MIN((uint64_t)len, p->bdat_left);
	sp_err	e;

	*used = take;
	p->bdat_left -= take;
	p->cpos = off + take;
	if ((e = emit_data(p, buf, take)) != SP_E_OK)
		return (e);
	return (p->bdat_left == 0 ? chunk_done(p) : SP_E_OK);
}

/* Bytes lost inside DATA: counted, and the line position is unknown. */
sp_err
sp__smtp_data_gap(sp_smtp_parser *p, uint64_t n)
{
	sp_err	e;

	if (p->msg_txn != NULL && !p->msg_txn->msg_open &&
	    !p->msg_txn->msg_ended &&
	    (e = sp__smtp_msg_begin(p, SP_SMTP_METHOD_DATA,
	    p->h[SP_DIR_CLIENT].off, 0)) != SP_E_OK)
		return (e);
	if (p->msg_txn != NULL)
		p->msg_txn->missing += n;
	e = sp__smtp_data_flush(p);
	memset(p->dm.h, 0, sizeof(p->dm.h));
	p->dm.st = D_TEXT;
	return (e);
}

/* Bytes lost inside a chunk count against it; *left is what remains. */
sp_err
sp__smtp_bdat_gap(sp_smtp_parser *p, uint64_t n, uint64_t *left)
{
	uint64_t	take = SP_MIN(n, p->bdat_left);

	*left = n - take;
	p->bdat_left -= take;
	if (p->msg_txn != NULL)
		p->msg_txn->missing += take;
	return (p->bdat_left == 0 ? chunk_done(p) : SP_E_OK);
}
