/*
 * smtp_reply.c - server replies (RFC 5321 4.2): codes, multi-line
 * replies, enhanced status codes (RFC 2034, 3463), EHLO keywords
 * (RFC 5321 4.1.1.1) and queue ids in final replies.
 */
#include <ctype.h>

#include "smtp_int.h"

/*
 * "x.y.z" at the start of s (RFC 3463 2: class 2, 4 or 5, subject and
 * detail of 1 to 3 digits), followed by a space or the end.
 */
int
sp__smtp_parse_enhanced(const uint8_t *s, size_t n,
    struct sp_smtp_enhanced *e, size_t *used)
{
	unsigned	v[3] = { 0, 0, 0 };
	size_t		i = 0, d;

	for (int part = 0; part < 3; part++) {
		if (part > 0) {
			if (i >= n || s[i] != '.')
				return (0);
			i++;
		}
		for (d = 0; i < n && isdigit(s[i]) && d < 4; d++, i++)
			v[part] = v[part] * 10 + (unsigned)(s[i] - '0');
		if (d == 0 || d > (part == 0 ? 1u : 3u))
			return (0);
	}
	if (i < n && s[i] != ' ')
		return (0);
	if (v[0] != 2 && v[0] != 4 && v[0] != 5)
		return (0);
	e->cls = v[0];
	e->subject = v[1];
	e->detail = v[2];
	*used = i < n ? i + 1 : i;
	return (1);
}

static int
parse_code(const uint8_t *s, size_t n)
{
	if (n < 3 || !isdigit(s[0]) || !isdigit(s[1]) || !isdigit(s[2]))
		return (-1);
	return ((s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0'));
}

/*
 * Room for n reply lines in the per-line arrays.  They grow on demand
 * up to max_reply_lines, since most sessions never see more than a
 * dozen lines and a capture may hold many thousands of open sessions.
 */
static sp_err
lines_room(sp_smtp_parser *p, size_t n)
{
	size_t			 cap = p->ncap_lines;
	void			*e, *c, *l;

	if (n <= cap)
		return (SP_E_OK);
	cap = SP_MIN(SP_MAX(n, cap * 2 < 8 ? 8 : cap * 2),
	    p->lim.max_reply_lines);
	e = sp__realloc(p->a, p->rep.ends, cap * sizeof(*p->rep.ends));
	if (e != NULL)
		p->rep.ends = e;
	c = sp__realloc(p->a, p->caps, cap * sizeof(*p->caps));
	if (c != NULL)
		p->caps = c;
	l = sp__realloc(p->a, p->rlines, cap * sizeof(*p->rlines));
	if (l != NULL)
		p->rlines = l;
	if (e == NULL || c == NULL || l == NULL)
		return (SP_E_NOMEM);
	p->ncap_lines = cap;
	return (SP_E_OK);
}

static sp_err
acc_add(sp_smtp_parser *p, const uint8_t *text, size_t n)
{
	struct reply_acc	*r = &p->rep;
	sp_err			 e;

	r->ntotal++;
	if (r->nkept >= p->lim.max_reply_lines) {
		if (r->ntotal != p->lim.max_reply_lines + 1)
			return (SP_E_OK);
		return (sp__smtp_anomaly(p, SP_ANOM_SMTP_REPLY_TOO_MANY_LINES,
		    SP_DIR_SERVER, r->off, "more than %zu lines",
		    p->lim.max_reply_lines));
	}
	if ((e = lines_room(p, r->nkept + 1)) != SP_E_OK)
		return (e);
	e = sp__buf_append(&r->text, text, n);
	if (e == SP_E_LIMIT)
		return (SP_E_OK);	/* cannot happen: max fits all */
	if (e != SP_E_OK)
		return (e);
	r->ends[r->nkept++] = r->text.len;
	return (SP_E_OK);
}

/* Hand the assembled reply on to matching, and start afresh. */
static sp_err
acc_finish(sp_smtp_parser *p)
{
	struct reply_acc	*r = &p->rep;
	struct sp_smtp_reply	 out;
	size_t			 start = 0, used;
	sp_err			 e;

	memset(&out, 0, sizeof(out));
	for (size_t i = 0; i < r->nkept; i++) {
		p->rlines[i].p = r->text.p != NULL ? r->text.p + start :
		    (const uint8_t *)"";
		p->rlines[i].len = r->ends[i] - start;
		start = r->ends[i];
	}
	out.code = r->code;
	out.lines = p->rlines;
	out.nlines = r->nkept;
	out.nlines_total = r->ntotal;
	out.offset = r->off;
	out.ts = r->ts;
	if (r->nkept > 0 && out.code >= 200)
		(void)sp__smtp_parse_enhanced(p->rlines[0].p,
		    p->rlines[0].len, &out.enhanced, &used);
	p->info.replies++;
	e = sp__smtp_match_reply(p, &out);
	r->active = 0;
	r->nkept = r->ntotal = 0;
	r->bad = 0;
	sp__buf_reset(&r->text);
	return (e);
}

static sp_err
bad_line_flag(sp_smtp_parser *p, const struct line *l, size_t n)
{
	char	show[80];

	sp__smtp_escape(show, sizeof(show), l->p, n);
	return (sp__smtp_anomaly(p, SP_ANOM_SMTP_BAD_REPLY, SP_DIR_SERVER,
	    l->off, "%s", show));
}

/* A line with no reply code: kept, and flagged. */
static sp_err
bad_line(sp_smtp_parser *p, const struct line *l, const uint8_t *s, size_t n)
{
	sp_err	e;

	if ((e = bad_line_flag(p, l, n)) != SP_E_OK)
		return (e);
	if (p->rep.active) {		/* inside a multi-line reply */
		p->rep.bad = 1;
		return (acc_add(p, s, n));
	}
	p->rep.active = 1;
	p->rep.code = 0;
	p->rep.off = l->off;
	p->rep.ts = p->ts;
	if ((e = acc_add(p, s, n)) != SP_E_OK)
		return (e);
	return (acc_finish(p));
}

/*
 * One reply line: "NNN-text" goes on, "NNN text" or "NNN" ends the
 * reply (RFC 5321 4.2.1), and every line of a reply carries the same
 * code.  Any code 100-599 is taken; a peer giving up on codes it does
 * not know loses the rest of the session.
 */
sp_err
sp__smtp_reply_line(sp_smtp_parser *p, const struct line *l)
{
	size_t	n = sp__smtp_trim_eol(l->p, l->len);
	int	code = parse_code(l->p, n), more, odd;
	sp_err	e;

	if ((e = sp__smtp_line_check(p, SP_DIR_SERVER, l)) != SP_E_OK)
		return (e);
	if (code < 100 || code > 599)
		return (bad_line(p, l, l->p, n));
	more = n > 3 && l->p[3] == '-';
	odd = n > 3 && l->p[3] != '-' && l->p[3] != ' ';
	if (odd && (e = bad_line_flag(p, l, n)) != SP_E_OK)
		return (e);
	if (!p->rep.active) {
		p->rep.active = 1;
		p->rep.code = code;
		p->rep.off = l->off;
		p->rep.ts = p->ts;
	} else if (code != p->rep.code &&
	    (e = sp__smtp_anomaly(p, SP_ANOM_SMTP_REPLY_CODE_MISMATCH,
	    SP_DIR_SERVER, l->off, "%d inside a %d reply", code,
	    p->rep.code)) != SP_E_OK) {
		return (e);
	}
	e = acc_add(p, l->p + SP_MIN(n, (size_t)(odd ? 3 : 4)),
	    n - SP_MIN(n, (size_t)(odd ? 3 : 4)));
	if (e != SP_E_OK || more)
		return (e);
	return (acc_finish(p));
}

static int
kw_is(const struct sp_smtp_capability *c, const char *lit)
{
	size_t	n = strlen(lit);

	if (c->keyword.len != n)
		return (0);
	for (size_t i = 0; i < n; i++)
		if (toupper(c->keyword.p[i]) != (unsigned char)lit[i])
			return (0);
	return (1);
}

static void
caps_flag(struct sp_smtp_capabilities *k, const struct sp_smtp_capability *c)
{
	uint64_t	v = 0;
	size_t		i;

	if (kw_is(c, "PIPELINING"))
		k->pipelining = 1;
	else if (kw_is(c, "CHUNKING"))
		k->chunking = 1;
	else if (kw_is(c, "STARTTLS"))
		k->starttls = 1;
	else if (kw_is(c, "8BITMIME"))
		k->eightbitmime = 1;
	else if (kw_is(c, "SMTPUTF8"))
		k->smtputf8 = 1;
	else if (kw_is(c, "DSN"))
		k->dsn = 1;
	else if (kw_is(c, "ENHANCEDSTATUSCODES"))
		k->enhancedstatuscodes = 1;
	else if (kw_is(c, "BINARYMIME"))
		k->binarymime = 1;
	else if (kw_is(c, "AUTH") && k->auth.len == 0)
		k->auth = c->params;
	else if (kw_is(c, "SIZE")) {
		k->has_size = 1;
		for (i = 0; i < c->params.len && isdigit(c->params.p[i]) &&
		    v <= (UINT64_MAX - 9) / 10; i++)
			v = v * 10 + (uint64_t)(c->params.p[i] - '0');
		k->size = v;
	}
}

/*
 * The keywords of an accepted EHLO (RFC 5321 4.1.1.1 ehlo-ok-rsp):
 * the first line greets, each later one is "keyword [params]".  The
 * old "AUTH=LOGIN PLAIN" spelling counts as AUTH.
 */
sp_err
sp__smtp_emit_caps(sp_smtp_parser *p, const struct sp_smtp_reply *r)
{
	struct sp_smtp_capabilities	 k;
	struct sp_smtp_capability	*c;
	size_t				 i, j;

	memset(&k, 0, sizeof(k));
	k.caps = p->caps;
	for (i = 1; i < r->nlines; i++) {
		const uint8_t	*s = r->lines[i].p;
		size_t		 n = r->lines[i].len;

		for (j = 0; j < n && s[j] != ' ' && s[j] != '='; j++)
			continue;
		c = &p->caps[k.ncaps++];
		c->keyword.p = s;
		c->keyword.len = j;
		c->params.p = s + SP_MIN(j + 1, n);
		c->params.len = n - SP_MIN(j + 1, n);
		caps_flag(&k, c);
	}
	p->caps_known = 1;
	p->pipelining = k.pipelining;
	p->chunking = k.chunking;
	if (p->cb.on_capabilities == NULL)
		return (SP_E_OK);
	return (sp__smtp_cb(p, p->cb.on_capabilities(p->ud, &k)));
}

static int
id_char(uint8_t c)
{
	return (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '@' ||
	    c == '+' || c == '=' || c == '/' || c == ':' || c == '$');
}

/* The token at s, without <> and trailing dots.  0 if empty. */
static int
take_id(const uint8_t *s, size_t n, struct sp_smtp_str *id)
{
	size_t	i = 0, start;
	int	br = n > 0 && s[0] == '<';

	start = i = (size_t)br;
	while (i < n && (br ? s[i] != '>' && s[i] != ' ' : id_char(s[i])))
		i++;
	if (br && (i >= n || s[i] != '>'))
		return (0);
	while (i > start && (s[i - 1] == '.' || s[i - 1] == ':'))
		i--;
	if (i == start)
		return (0);
	id->p = s + start;
	id->len = i - start;
	return (1);
}

static const uint8_t *
ifind(const uint8_t *s, size_t n, const char *lit, size_t *rest)
{
	size_t	k = strlen(lit), i, j;

	for (i = 0; i + k <= n; i++) {
		for (j = 0; j < k; j++)
			if (tolower(s[i + j]) != (unsigned char)lit[j])
				break;
		if (j == k) {
			*rest = n - i - k;
			return (s + i + k);
		}
	}
	return (NULL);
}

static int
has_digit(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (isdigit(s[i]))
			return (1);
	return (0);
}

int
sp_smtp_queue_id(const uint8_t *s, size_t n, struct sp_smtp_str *id)
{
	struct sp_smtp_enhanced	 e;
	const uint8_t		*q;
	size_t			 used = 0, rest, k;

	if ((q = ifind(s, n, "queued as ", &rest)) != NULL)	/* Postfix */
		return (take_id(q, rest, id));
	for (q = s; (q = ifind(q, n - (size_t)(q - s), "id=", &rest)) != NULL;)
		if (q - 3 == s || q[-4] == ' ')		/* Exim: " id=X" */
			return (take_id(q, rest, id));
	if (sp__smtp_parse_enhanced(s, n, &e, &used)) {
		s += used;
		n -= used;
	}
	if (n > 0 && s[0] == '<')		/* "<X> Mail accepted" */
		return (take_id(s, n, id));
	for (k = 0; k < n && s[k] != ' '; k++)
		continue;
	/*
	 * Sendmail, OpenSMTPD: "X Message accepted for delivery"; an id
	 * has a digit, which keeps "Message accepted" from being one.
	 */
	if (k > 0 && k < n && ifind(s + k, n - k, "accepted", &rest) != NULL &&
	    has_digit(s, k))
		return (take_id(s, k, id));
	return (0);
}
