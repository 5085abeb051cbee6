/*
 * rewrite.c - rewriting sessions before they are sent; see rsession.h.
 *
 * Step text is a template (docs/script-format.md): a '$' in a value we
 * put in is written "$$" so that the runner sends it as it is.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "rsession.h"

#define RW_TEXT_MAX	(64u * 1024 * 1024)

/* A bounded growing byte buffer. */
struct tb {
	char	*p;
	size_t	 len, cap;
	int	 failed;
};

static void
tb_add(struct tb *b, const char *s, size_t n)
{
	char	*np;
	size_t	 ncap;

	if (b->failed)
		return;
	if (n > RW_TEXT_MAX - b->len) {
		b->failed = 1;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		ncap = b->cap ? b->cap : 256;
		while (ncap < b->len + n + 1)
			ncap *= 2;
		if ((np = realloc(b->p, ncap)) == NULL) {
			b->failed = 1;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* A value into template text: '$' doubled. */
static void
tb_add_value(struct tb *b, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '$')
			tb_add(b, "$", 1);
		tb_add(b, s, 1);
	}
}

static const struct rw_map *
find_map(const struct rw_map *m, size_t n, const char *addr, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(m[i].from) == len &&
		    strncasecmp(m[i].from, addr, len) == 0)
			return (&m[i]);
	return (NULL);
}

/* "VERB:<addr>..." with addr replaced by to; 1 if done. */
static int
replace_path(struct tb *b, const char *p, size_t n, const char *to)
{
	const char	*lt = memchr(p, '<', n), *gt;

	if (lt == NULL || (gt = memchr(lt, '>', n - (size_t)(lt - p))) == NULL)
		return (0);
	tb_add(b, p, (size_t)(lt - p) + 1);
	tb_add_value(b, to);
	tb_add(b, gt, n - (size_t)(gt - p));
	return (1);
}

/* The address inside <...> of a MAIL/RCPT line. */
static const char *
path_of(const char *p, size_t n, size_t *len)
{
	const char	*lt = memchr(p, '<', n), *gt;

	if (lt == NULL || (gt = memchr(lt, '>', n - (size_t)(lt - p))) == NULL)
		return (NULL);
	*len = (size_t)(gt - lt - 1);
	return (lt + 1);
}

/* One command line (no CRLF) rewritten into b. */
static void
rewrite_cmd(struct tb *b, const char *p, size_t n, const struct rw_opts *rw)
{
	const struct rw_map	*m;
	const char		*a;
	size_t			 al;

	if (rw->helo != NULL && n >= 4 && (strncasecmp(p, "EHLO", 4) == 0 ||
	    strncasecmp(p, "HELO", 4) == 0 || strncasecmp(p, "LHLO", 4) == 0)
	    && (n == 4 || p[4] == ' ')) {
		tb_add(b, p, 4);
		tb_add(b, " ", 1);
		tb_add_value(b, rw->helo);
		return;
	}
	if (n > 10 && strncasecmp(p, "MAIL FROM:", 10) == 0 &&
	    (a = path_of(p, n, &al)) != NULL &&
	    (m = find_map(rw->senders, rw->nsenders, a, al)) != NULL &&
	    replace_path(b, p, n, m->to))
		return;
	if (n > 8 && strncasecmp(p, "RCPT TO:", 8) == 0 &&
	    (a = path_of(p, n, &al)) != NULL) {
		if (rw->rcpt != NULL && replace_path(b, p, n, rw->rcpt))
			return;
		if ((m = find_map(rw->rcpts, rw->nrcpts, a, al)) != NULL &&
		    replace_path(b, p, n, m->to))
			return;
	}
	tb_add(b, p, n);
}

/* A header line with every mapped address replaced. */
static void
map_addresses(struct tb *b, const char *p, size_t n, const struct rw_opts *rw)
{
	size_t	i = 0;

	while (i < n) {
		const struct rw_map	*hit = NULL;
		size_t			 k;

		for (k = 0; k < rw->nsenders + rw->nrcpts && hit == NULL; k++) {
			const struct rw_map *m = k < rw->nsenders ?
			    &rw->senders[k] : &rw->rcpts[k - rw->nsenders];
			size_t	fl = strlen(m->from);

			if (fl > 0 && fl <= n - i &&
			    strncasecmp(p + i, m->from, fl) == 0)
				hit = m;
		}
		if (hit != NULL) {
			tb_add_value(b, hit->to);
			i += strlen(hit->from);
		} else
			tb_add(b, p + i++, 1);
	}
}

static void
fresh_header(struct tb *b, int date, const struct rw_opts *rw)
{
	static unsigned	 seq;
	char		 v[256];
	time_t		 now = time(NULL);
	struct tm	 tm;

	if (date) {
		(void)gmtime_r(&now, &tm);
		(void)strftime(v, sizeof(v),
		    "Date: %a, %d %b %Y %H:%M:%S +0000", &tm);
		tb_add(b, v, strlen(v));
		return;
	}
	/* RFC 5322 3.6.4: unique; time, PID and a counter make it so. */
	(void)snprintf(v, sizeof(v), "Message-ID: <replay.%lld.%ld.%u@",
	    (long long)now, (long)getpid(), ++seq);
	tb_add(b, v, strlen(v));
	tb_add_value(b, rw->helo != NULL ? rw->helo : "smtp-replay.invalid");
	tb_add(b, ">", 1);
}

static int
is_header(const char *p, size_t n, const char *name)
{
	size_t	k = strlen(name);

	return (n > k && strncasecmp(p, name, k) == 0 && p[k] == ':');
}

/*
 * One header line (its line end excluded) into b; returns 1 when the
 * line is dropped with its line end (the continuation of a header we
 * replaced).  *skip and *addr carry what the header's first line was.
 */
static int
header_line(struct tb *b, const char *p, size_t n, const struct rw_opts *rw,
    int *skip, int *addr)
{
	if (n > 0 && (p[0] == ' ' || p[0] == '\t')) {
		if (*skip)
			return (1);
		if (*addr)
			map_addresses(b, p, n, rw);
		else
			tb_add(b, p, n);
		return (0);
	}
	*skip = 0;
	*addr = 0;
	if ((rw->fresh_date && is_header(p, n, "Date")) ||
	    (rw->fresh_msgid && is_header(p, n, "Message-ID"))) {
		fresh_header(b, p[0] == 'D' || p[0] == 'd', rw);
		*skip = 1;
	} else if (is_header(p, n, "From") || is_header(p, n, "To") ||
	    is_header(p, n, "Cc") || is_header(p, n, "Sender") ||
	    is_header(p, n, "Reply-To")) {
		*addr = 1;
		map_addresses(b, p, n, rw);
	} else
		tb_add(b, p, n);
	return (0);
}

/* A message's header rewritten; the body is left as it is. */
static void
rewrite_message(struct tb *b, const char *p, size_t n,
    const struct rw_opts *rw)
{
	size_t	i = 0;
	int	skip = 0, addr = 0;

	while (i < n) {
		const char	*nl = memchr(p + i, '\n', n - i);
		size_t		 end = nl ? (size_t)(nl - p) + 1 : n;
		size_t		 body = end - i;

		body -= (body > 0 && p[end - 1] == '\n');
		body -= (body > 0 && p[i + body - 1] == '\r');
		if (body == 0)		/* the blank line: header over */
			break;
		if (!header_line(b, p + i, body, rw, &skip, &addr))
			tb_add(b, p + i + body, end - i - body);
		i = end;
	}
	tb_add(b, p + i, n - i);
}

static int
needs_rewrite(const struct rw_opts *rw)
{
	return (rw->helo != NULL || rw->nsenders > 0 || rw->nrcpts > 0 ||
	    rw->rcpt != NULL || rw->fresh_date || rw->fresh_msgid);
}

/* PIPELINE: every line rewritten; the copies live in bufs[]. */
static sp_err
append_pipeline(sp_script *out, const struct sp_script_step *src,
    const struct rw_opts *rw)
{
	struct sp_script_step	 st = *src;
	struct sp_script_text	*lines;
	struct tb		*bufs;
	sp_err			 e = SP_E_OK;

	lines = calloc(src->nlines ? src->nlines : 1, sizeof(*lines));
	bufs = calloc(src->nlines ? src->nlines : 1, sizeof(*bufs));
	if (lines == NULL || bufs == NULL)
		e = SP_E_NOMEM;
	for (size_t i = 0; e == SP_E_OK && i < src->nlines; i++) {
		rewrite_cmd(&bufs[i], (const char *)src->lines[i].p,
		    src->lines[i].len, rw);
		tb_add(&bufs[i], "", 0);
		if (bufs[i].failed)
			e = SP_E_NOMEM;
		lines[i].p = (const uint8_t *)(bufs[i].p ? bufs[i].p : "");
		lines[i].len = bufs[i].len;
	}
	st.lines = lines;
	if (e == SP_E_OK)
		e = sp_script_append(out, &st);
	for (size_t i = 0; bufs != NULL && i < src->nlines; i++)
		free(bufs[i].p);
	free(bufs);
	free(lines);
	return (e);
}

/* SEND, DATA/DATA_BODY with inline text: the text rewritten. */
static sp_err
append_text(sp_script *out, const struct sp_script_step *src,
    const struct rw_opts *rw)
{
	struct sp_script_step	st = *src;
	struct tb		b = { NULL, 0, 0, 0 };
	sp_err			e;

	if (src->op == SP_STEP_SEND)
		rewrite_cmd(&b, (const char *)src->text.p, src->text.len, rw);
	else
		rewrite_message(&b, (const char *)src->text.p, src->text.len,
		    rw);
	tb_add(&b, "", 0);
	if (b.failed) {
		free(b.p);
		return (SP_E_NOMEM);
	}
	st.text.p = (const uint8_t *)b.p;
	st.text.len = b.len;
	e = sp_script_append(out, &st);
	free(b.p);
	return (e);
}

/*
 * What followed a STARTTLS in a capture was encrypted: we send the
 * command and check its 220, and the session ends there (with
 * --starttls after the handshake and a QUIT inside TLS).  Commands
 * the converter put between the last reply and the starttls step were
 * written after STARTTLS in the same write (a command injection,
 * CVE-2011-0411): they are sent the same way, in one write after it.
 */
static sp_err
append_starttls_cut(sp_script *out, const sp_script *in, size_t first,
    size_t tls, int handshake)
{
	struct sp_script_step	st;
	struct tb		b = { NULL, 0, 0, 0 };
	sp_err			e;

	memset(&st, 0, sizeof(st));
	tb_add(&b, "STARTTLS", 8);
	for (size_t i = first; i < tls; i++) {
		const struct sp_script_step *x = sp_script_step_at(in, i);

		tb_add(&b, "\r\n", 2);
		tb_add(&b, (const char *)x->text.p, x->text.len);
	}
	if (b.failed) {
		free(b.p);
		return (SP_E_NOMEM);
	}
	st.op = first < tls ? SP_STEP_SENDRAW : SP_STEP_SEND;
	if (first < tls)
		tb_add(&b, "\r\n", 2);
	st.text.p = (const uint8_t *)b.p;
	st.text.len = b.len;
	e = sp_script_append(out, &st);
	free(b.p);
	if (e != SP_E_OK)
		return (e);
	memset(&st, 0, sizeof(st));
	st.op = SP_STEP_EXPECT;
	memcpy(st.expect.codes[0], "220", 4);
	st.expect.ncodes = 1;
	if ((e = sp_script_append(out, &st)) != SP_E_OK || !handshake)
		return (e);
	/* --starttls: the real upgrade (RFC 3207), then QUIT inside. */
	memset(&st, 0, sizeof(st));
	st.op = SP_STEP_TLS;
	if ((e = sp_script_append(out, &st)) != SP_E_OK)
		return (e);
	st.op = SP_STEP_QUIT;
	return (sp_script_append(out, &st));
}

/* The starttls step if step i and the ones up to it are plain sends. */
static size_t
starttls_after(const sp_script *s, size_t i)
{
	size_t	n = sp_script_nsteps(s);

	for (; i < n; i++) {
		const struct sp_script_step *st = sp_script_step_at(s, i);

		if (st->op == SP_STEP_STARTTLS)
			return (i);
		if (st->op != SP_STEP_SEND)
			return (n);
	}
	return (n);
}

static sp_err
append_step(struct rs_session *s, sp_script *out, size_t i,
    const struct rw_opts *rw)
{
	const struct sp_script_step *src = sp_script_step_at(s->script, i);
	struct sp_script_step	st = *src;
	size_t			tls;

	if (s->from_capture && (tls = starttls_after(s->script, i)) <
	    sp_script_nsteps(s->script)) {
		s->stopped_tls = 1;
		return (append_starttls_cut(out, s->script, i, tls,
		    rw->starttls));
	}
	switch (src->op) {
	case SP_STEP_SEND:
		return (needs_rewrite(rw) ? append_text(out, src, rw) :
		    sp_script_append(out, src));
	case SP_STEP_PIPELINE:
		return (needs_rewrite(rw) ? append_pipeline(out, src, rw) :
		    sp_script_append(out, src));
	case SP_STEP_DATA:
	case SP_STEP_DATA_BODY:
		if (src->path == NULL && (rw->fresh_date || rw->fresh_msgid ||
		    rw->nsenders > 0 || rw->nrcpts > 0))
			return (append_text(out, src, rw));
		break;
	case SP_STEP_AUTH:
		/* A recorded secret is redacted: ours replaces it. */
		if (rw->auth_mech != 0) {
			st.mech = rw->auth_mech;
			st.user = rw->auth_user;
		} else if (!s->from_capture || rw->secret_env == NULL)
			break;
		st.secret = rw->secret_env;
		return (sp_script_append(out, &st));
	default:
		break;
	}
	return (sp_script_append(out, src));
}

/*
 * The expect steps were made from the recorded replies, in order and
 * with their codes (a 334 inside AUTH and a STARTTLS's 220 made none):
 * walking both lists and matching codes pairs each with its reply.
 */
static int
map_expects(struct rs_session *s)
{
	size_t	n = sp_script_nsteps(s->script), r = 0;

	if ((s->expect_map = calloc(n ? n : 1, sizeof(long))) == NULL)
		return (-1);
	s->nmap = n;
	for (size_t i = 0; i < n; i++) {
		const struct sp_script_step *st = sp_script_step_at(s->script,
		    i);
		char	*end;
		long	 code;

		s->expect_map[i] = -1;
		if (!s->from_capture || st->op != SP_STEP_EXPECT ||
		    st->expect.ncodes != 1)
			continue;
		code = strtol(st->expect.codes[0], &end, 10);
		if (*end != '\0')	/* "2xx": no recorded code to pair */
			continue;
		while (r < s->nreplies && s->replies[r].code != code)
			r++;
		if (r < s->nreplies)
			s->expect_map[i] = (long)r++;
	}
	return (0);
}

int
rw_apply(struct rs_session *s, const struct rw_opts *rw, char *msg,
    size_t cap)
{
	sp_script	*out;
	size_t		 n = sp_script_nsteps(s->script);
	sp_err		 e;

	if ((e = sp_script_new(&out)) != SP_E_OK ||
	    (e = sp_script_set_meta(out, sp_script_get_meta(s->script))) !=
	    SP_E_OK) {
		sp_script_free(out);
		(void)snprintf(msg, cap, "%s: %s", s->source, sp_strerror(e));
		return (-1);
	}
	for (size_t i = 0; i < n && !s->stopped_tls; i++)
		if ((e = append_step(s, out, i, rw)) != SP_E_OK) {
			(void)snprintf(msg, cap, "%s: rewriting step %zu: %s",
			    s->source, i + 1, sp_strerror(e));
			sp_script_free(out);
			return (-1);
		}
	sp_script_free(s->script);
	s->script = out;
	return (map_expects(s));
}
