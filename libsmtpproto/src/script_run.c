/*
 * script_run.c - plays a session script on a connected sp_client.
 *
 * Each step is one function that fills in its result: what was sent
 * (printable), what came back, the verdict and the reply latency.  No
 * step reads a terminal and every wait is bounded: by the step's own
 * time, the runner's default_ms, or the client's RFC 5321 4.5.3.2
 * phase timeouts.  A server that does not do what the step expects
 * (wrong code, silence, a close, an endless reply) is a FAIL; trouble
 * on our side (a missing file, an unknown variable, TLS set-up) is an
 * ERROR.  After the first FAIL or ERROR the remaining steps are
 * skipped unless keep_going is set.
 */
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdarg.h>
#include <time.h>

#include <openssl/crypto.h>

#include "client_int.h"
#include "script_int.h"

#define RES_MAX	(1024 * 1024)	/* printable sent/got kept per step */

struct run {
	const sp_script				*s;
	sp_client				*c;
	const struct sp_script_run_options	*o;
	struct sp_step_result			*r;
	struct sp_str				 sent, got;
};

/* --------------------------------------------------------- helpers */

static const char *
lookup(const struct run *u, const char *name, size_t n)
{
	for (size_t i = 0; i < u->o->nvars; i++)
		if (strlen(u->o->vars[i].name) == n &&
		    memcmp(u->o->vars[i].name, name, n) == 0)
			return (u->o->vars[i].value);
	return (NULL);
}

static void
set_note(struct run *u, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
set_note(struct run *u, const char *fmt, ...)
{
	char	buf[512];
	va_list	ap;

	va_start(ap, fmt);
	(void)vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	free(u->r->note);
	u->r->note = sp__strdup(buf);
}

/* A verdict from an sp_err: the server's misbehaviour is a FAIL. */
static enum sp_verdict
err_verdict(struct run *u, sp_err e)
{
	u->r->err = e;
	set_note(u, "%s", sp_client_errmsg(u->c)[0] != '\0' ?
	    sp_client_errmsg(u->c) : sp_strerror(e));
	switch (e) {
	case SP_E_TIMEOUT:
	case SP_E_CLOSED:
	case SP_E_RESET:
	case SP_E_LIMIT:
		return (SP_VERDICT_FAIL);
	default:
		return (SP_VERDICT_ERROR);
	}
}

/*
 * Expand a template: ${name} from the run's variables, $$ is one $.
 * An unknown name is an error (a fixture the caller did not give).
 */
static sp_err
expand(struct run *u, const struct sp_script_text *t, struct sp_str *out)
{
	const uint8_t	*p = t->p, *end = t->p + t->len, *close;
	const char	*v;

	sp__str_init(out, (size_t)256 * 1024 * 1024);
	while (p < end) {
		if (*p != '$' || p + 1 >= end || (p[1] != '{' && p[1] != '$')) {
			sp__str_add(out, p++, 1);
			continue;
		}
		if (p[1] == '$') {
			sp__str_add(out, "$", 1);
			p += 2;
			continue;
		}
		close = memchr(p, '}', (size_t)(end - p));
		v = close != NULL ? lookup(u, (const char *)p + 2,
		    (size_t)(close - p - 2)) : NULL;
		if (v == NULL) {
			set_note(u, "unknown variable %.*s", close != NULL ?
			    (int)(close - p + 1) : (int)(end - p),
			    (const char *)p);
			free(out->p);
			out->p = NULL;
			return (SP_E_INVAL);
		}
		sp__str_add(out, v, strlen(v));
		p = close + 1;
	}
	if (out->p == NULL)
		sp__str_add(out, "", 0);
	return (out->failed ? SP_E_NOMEM : SP_E_OK);
}

static char *
join_path(const sp_script *s, const char *path)
{
	struct sp_str	b;

	sp__str_init(&b, 8192);
	if (path[0] != '/' && s->base_dir != NULL) {
		sp__str_add(&b, s->base_dir, strlen(s->base_dir));
		sp__str_add(&b, "/", 1);
	}
	sp__str_add(&b, path, strlen(path));
	return (sp__str_take(&b));
}

/* Read a whole @file, bounded by max_file. */
static sp_err
read_file(struct run *u, const char *path, struct sp_str *out)
{
	char	 buf[16384], *full = join_path(u->s, path);
	size_t	 n, max = u->o->max_file ? u->o->max_file : 64u << 20;
	FILE	*f;

	sp__str_init(out, max);
	if (full == NULL)
		return (SP_E_NOMEM);
	f = fopen(full, "rb");
	if (f == NULL) {
		set_note(u, "%s: %s", full, strerror(errno));
		free(full);
		return (SP_E_IO);
	}
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0 && !out->failed)
		sp__str_add(out, buf, n);
	(void)fclose(f);
	if (out->failed)
		set_note(u, "%s: larger than %zu bytes", full, max);
	free(full);
	return (out->failed ? SP_E_LIMIT : SP_E_OK);
}

static void
log_sent(struct run *u, const void *p, size_t n)
{
	sp__str_add_escaped(&u->sent, p, n);
}

static int
wait_ms(const struct run *u, unsigned within)
{
	if (within != 0)
		return ((int)within);
	if (u->o->default_ms != 0)
		return ((int)u->o->default_ms);
	return (-1);		/* the client's phase timeout */
}

/* ---------------------------------------------------------- replies */

static int
code_match(const char *pat, int code)
{
	char	d[3];

	if (code < 100 || code > 999)
		return (0);
	d[0] = (char)('0' + code / 100);
	d[1] = (char)('0' + code / 10 % 10);
	d[2] = (char)('0' + code % 10);
	for (int i = 0; i < 3; i++)
		if (pat[i] != 'x' && pat[i] != d[i])
			return (0);
	return (1);
}

static sp_err
text_match(struct run *u, const struct sp_script_expect *x,
    const char *text, int *ok)
{
	regex_t	re;
	int	rc, fl = REG_EXTENDED | REG_NOSUB | REG_NEWLINE;

	*ok = 1;
	if (x->pattern == NULL)
		return (SP_E_OK);
	if (!x->regex) {
		*ok = strstr(text, x->pattern) != NULL;
		return (SP_E_OK);
	}
	if ((rc = regcomp(&re, x->pattern, fl | (x->icase ? REG_ICASE : 0)))
	    != 0) {
		set_note(u, "bad regex /%s/ (regcomp error %d)", x->pattern,
		    rc);
		return (SP_E_INVAL);
	}
	*ok = regexec(&re, text, 0, NULL, 0) == 0;
	regfree(&re);
	return (SP_E_OK);
}

/* Read one reply into the result's "got" column. */
static sp_err
read_reply(struct run *u, int ms, struct sp_client_reply *rep)
{
	sp_err	e = sp_client_read_reply(u->c, ms, rep);
	size_t	n;

	if (e != SP_E_OK)
		return (e);
	n = rep->raw_len;
	if (n >= 2 && rep->raw[n - 2] == '\r' && rep->raw[n - 1] == '\n')
		n -= 2;
	if (u->got.len > 0)
		sp__str_add(&u->got, " ; ", 3);
	sp__str_add_escaped(&u->got, rep->raw, n);
	u->r->code = rep->code;
	u->r->latency_ns = rep->latency_ns;
	if (rep->anomalies > 0)
		set_note(u, "anomaly: %s", sp_anomaly_name(rep->first_anomaly));
	return (SP_E_OK);
}

static enum sp_verdict
do_expect(struct run *u, const struct sp_script_step *st)
{
	const struct sp_script_expect	*x = &st->expect;
	struct sp_client_reply		 rep;
	int				 ok = x->ncodes == 0, tok;
	sp_err				 e;

	if ((e = read_reply(u, wait_ms(u, x->within_ms), &rep)) != SP_E_OK)
		return (err_verdict(u, e));
	for (size_t i = 0; i < x->ncodes && !ok; i++)
		ok = code_match(x->codes[i], rep.code);
	if (text_match(u, x, rep.text, &tok) != SP_E_OK)
		return (SP_VERDICT_ERROR);
	if (!ok)
		set_note(u, "reply code %d not expected", rep.code);
	else if (!tok)
		set_note(u, "reply text does not match %s%s%s", x->regex ?
		    "/" : "\"", x->pattern, x->regex ? "/" : "\"");
	return (ok && tok ? SP_VERDICT_PASS : SP_VERDICT_FAIL);
}

static uint64_t
now_ms(void)
{
	struct timespec	ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

/*
 * Exactly count replies within ms, and no more (C1, C4): the whole
 * time is waited out, since a second reply is the failure sought.
 */
static enum sp_verdict
do_count(struct run *u, const struct sp_script_step *st)
{
	struct sp_client_reply	rep;
	uint64_t		end = now_ms() + st->ms, now;
	unsigned		got = 0;
	sp_err			e = SP_E_OK;

	while ((now = now_ms()) < end && got <= st->count) {
		if ((e = read_reply(u, (int)(end - now), &rep)) != SP_E_OK)
			break;
		got++;
	}
	if (e != SP_E_OK && e != SP_E_TIMEOUT && e != SP_E_CLOSED &&
	    e != SP_E_RESET)
		return (err_verdict(u, e));
	if (got == st->count)
		return (SP_VERDICT_PASS);
	set_note(u, "%u replies, expected %u", got, st->count);
	return (SP_VERDICT_FAIL);
}

static enum sp_verdict
do_silence(struct run *u, const struct sp_script_step *st)
{
	struct sp_client_reply	rep;
	enum sp_client_event	ev;
	sp_err			e;

	if ((e = sp_client_wait(u->c, (int)st->ms, &ev)) != SP_E_OK)
		return (err_verdict(u, e));
	if (ev == SP_CLIENT_EV_SILENCE)
		return (SP_VERDICT_PASS);
	if (ev == SP_CLIENT_EV_DATA) {
		(void)read_reply(u, 1000, &rep);	/* show what it was */
		set_note(u, "the server spoke");
	} else {
		set_note(u, "the server %s the connection",
		    ev == SP_CLIENT_EV_RESET ? "reset" : "closed");
	}
	return (SP_VERDICT_FAIL);
}

/* Replies before the close are shown, and allowed (a 421 first). */
static enum sp_verdict
do_close(struct run *u, const struct sp_script_step *st)
{
	struct sp_client_reply	rep;
	enum sp_client_event	ev;
	unsigned		ms = st->ms != 0 ? st->ms :
				    u->o->default_ms != 0 ? u->o->default_ms :
				    30000;
	sp_err			e;

	for (int i = 0; i < 1000; i++) {
		if ((e = sp_client_wait(u->c, (int)ms, &ev)) != SP_E_OK)
			return (err_verdict(u, e));
		if (ev == SP_CLIENT_EV_CLOSED || ev == SP_CLIENT_EV_RESET) {
			if (u->got.len > 0)
				sp__str_add(&u->got, " ; ", 3);
			sp__str_addf(&u->got, "%s", ev == SP_CLIENT_EV_RESET ?
			    "reset (RST)" : "closed (FIN)");
			return (SP_VERDICT_PASS);
		}
		if (ev == SP_CLIENT_EV_SILENCE)
			break;
		e = read_reply(u, (int)ms, &rep);
		if (e == SP_E_CLOSED || e == SP_E_RESET)
			continue;	/* the next wait reports it */
		if (e != SP_E_OK)
			return (err_verdict(u, e));
	}
	set_note(u, "still open after %.1f s", ms / 1000.0);
	return (SP_VERDICT_FAIL);
}


/* ------------------------------------------------------------ sends */

static enum sp_verdict
do_send(struct run *u, const struct sp_script_step *st)
{
	struct sp_str	b;
	sp_err		e;

	if ((e = expand(u, &st->text, &b)) != SP_E_OK)
		return (SP_VERDICT_ERROR);
	if (st->op == SP_STEP_SEND) {
		sp__str_add(&b, "\r\n", 2);
		if (b.failed) {
			free(b.p);
			return (err_verdict(u, SP_E_NOMEM));
		}
	}
	log_sent(u, b.p, b.len);
	e = sp_client_send_raw(u->c, b.p, b.len);
	free(b.p);
	return (e == SP_E_OK ? SP_VERDICT_PASS : err_verdict(u, e));
}

static enum sp_verdict
do_pipeline(struct run *u, const struct sp_script_step *st)
{
	struct sp_str	all, one;
	sp_err		e = SP_E_OK;

	sp__str_init(&all, 1024 * 1024);
	for (size_t i = 0; i < st->nlines && e == SP_E_OK; i++) {
		if ((e = expand(u, &st->lines[i], &one)) != SP_E_OK)
			break;
		sp__str_add(&all, one.p, one.len);
		sp__str_add(&all, "\r\n", 2);
		free(one.p);
	}
	if (e == SP_E_OK && all.failed)
		e = SP_E_LIMIT;
	if (e == SP_E_OK) {
		log_sent(u, all.p, all.len);
		e = sp_client_send_raw(u->c, all.p, all.len);	/* one write */
	}
	free(all.p);
	if (e == SP_E_INVAL)
		return (SP_VERDICT_ERROR);
	return (e == SP_E_OK ? SP_VERDICT_PASS : err_verdict(u, e));
}

/* The message of a data step: inline (a template) or a file. */
static sp_err
body_bytes(struct run *u, const struct sp_script_step *st, struct sp_str *b)
{
	if (st->path != NULL)
		return (read_file(u, st->path, b));
	return (expand(u, &st->text, b));
}

/*
 * data: "DATA", which must get 354 (RFC 5321 4.1.1.4), then the body
 * dot-stuffed (4.5.2) and CRLF.CRLF.  The final reply is left to the
 * next expect step.  A file's bare LFs become CRLF; inline bodies are
 * CRLF already.
 */
static enum sp_verdict
do_data(struct run *u, const struct sp_script_step *st)
{
	struct sp_client_reply	rep;
	struct sp_str		b;
	sp_err			e;

	if (st->op == SP_STEP_DATA) {
		log_sent(u, "DATA\r\n", 6);
		if ((e = sp_client_send_line(u->c, "DATA", 4)) != SP_E_OK ||
		    (e = read_reply(u, wait_ms(u, 0), &rep)) != SP_E_OK)
			return (err_verdict(u, e));
		if (rep.code != 354) {
			set_note(u, "DATA answered %d, not 354: body not sent",
			    rep.code);
			return (SP_VERDICT_FAIL);
		}
	}
	if ((e = body_bytes(u, st, &b)) != SP_E_OK)
		return (e == SP_E_NOMEM ? err_verdict(u, e) : SP_VERDICT_ERROR);
	sp__str_addf(&u->sent, "%s<message, %zu bytes>", u->sent.len > 0 ?
	    " " : "", b.len);
	e = sp_client_send_message(u->c, (const uint8_t *)b.p, b.len,
	    st->path != NULL);
	free(b.p);
	return (e == SP_E_OK ? SP_VERDICT_PASS : err_verdict(u, e));
}

/* Filler for "bdat N" without bytes: lines of x, CRLF every 78. */
static void
filler(struct sp_str *b, uint64_t n)
{
	for (uint64_t i = 0; i < n && !b->failed; i++)
		sp__str_add(b, i % 80 == 78 ? "\r" : i % 80 == 79 ? "\n" : "x",
		    1);
}

/* bdat N [last] ["bytes"]: N is sent as written, even if it lies. */
static enum sp_verdict
do_bdat(struct run *u, const struct sp_script_step *st)
{
	struct sp_str	b, all;
	char		hdr[48];
	size_t		h = sp_bdat_header(hdr, sizeof(hdr), st->size,
			    st->last);
	sp_err		e = SP_E_OK;

	if (st->has_text)
		e = expand(u, &st->text, &b);
	else {
		sp__str_init(&b, (size_t)64 * 1024 * 1024);
		filler(&b, st->size);
	}
	if (e != SP_E_OK)
		return (SP_VERDICT_ERROR);
	sp__str_init(&all, (size_t)65 * 1024 * 1024);
	sp__str_add(&all, hdr, h);
	sp__str_add(&all, b.p, b.len);
	free(b.p);
	if (all.failed) {
		free(all.p);
		return (err_verdict(u, SP_E_LIMIT));
	}
	log_sent(u, all.p, SP_MIN(all.len, (size_t)4096));
	e = sp_client_send_raw(u->c, all.p, all.len);
	free(all.p);
	return (e == SP_E_OK ? SP_VERDICT_PASS : err_verdict(u, e));
}

/* A file in CHUNK-byte BDATs; each but the last must get 2xx. */
static enum sp_verdict
do_bdat_file(struct run *u, const struct sp_script_step *st)
{
	struct sp_client_reply	rep;
	struct sp_str		b;
	size_t			off = 0, n;
	int			last;
	sp_err			e;

	if ((e = read_file(u, st->path, &b)) != SP_E_OK)
		return (e == SP_E_NOMEM ? err_verdict(u, e) : SP_VERDICT_ERROR);
	do {
		n = (size_t)SP_MIN((uint64_t)(b.len - off), st->size);
		last = off + n == b.len;
		sp__str_addf(&u->sent, "%sBDAT %zu%s", off > 0 ? " ; " : "",
		    n, last ? " LAST" : "");
		e = sp_client_send_bdat(u->c, (const uint8_t *)b.p + off, n,
		    last);
		off += n;
		if (e == SP_E_OK && !last)
			e = read_reply(u, wait_ms(u, 0), &rep);
		if (e == SP_E_OK && !last && rep.code / 100 != 2) {
			free(b.p);
			set_note(u, "chunk answered %d", rep.code);
			return (SP_VERDICT_FAIL);
		}
	} while (e == SP_E_OK && !last);
	free(b.p);
	return (e == SP_E_OK ? SP_VERDICT_PASS : err_verdict(u, e));
}

/* ------------------------------------------------------------- auth */

/*
 * The secret: "$NAME" (not "${") is read from the environment when
 * the caller allows it, so passwords stay out of script files.
 */
static sp_err
secret_of(struct run *u, const char *s, struct sp_str *out)
{
	struct sp_script_text	t = { (const uint8_t *)s, strlen(s) };
	const char		*v;

	if (s[0] != '$' || s[1] == '{' || s[1] == '$' || s[1] == '\0')
		return (expand(u, &t, out));
	if (!u->o->allow_env) {
		set_note(u, "secret %s: the environment is not allowed", s);
		return (SP_E_INVAL);
	}
	if ((v = getenv(s + 1)) == NULL) {
		set_note(u, "secret %s: not set in the environment", s);
		return (SP_E_INVAL);
	}
	sp__str_init(out, 4096);
	sp__str_add(out, v, strlen(v));
	return (out->failed ? SP_E_LIMIT : SP_E_OK);
}

/* Send one AUTH line; what is logged hides the credentials. */
static sp_err
auth_line(struct run *u, const char *line, const char *shown)
{
	sp__str_addf(&u->sent, "%s%s\\r\\n", u->sent.len > 0 ? " " : "",
	    shown);
	return (sp_client_send_line(u->c, line, strlen(line)));
}

/* A 334 must come before the next response (RFC 4954 4). */
static sp_err
challenge(struct run *u, struct sp_client_reply *rep, int *ok)
{
	sp_err	e = read_reply(u, wait_ms(u, 0), rep);

	*ok = e == SP_E_OK && rep->code == 334;
	if (e == SP_E_OK && !*ok)
		set_note(u, "AUTH answered %d, not 334", rep->code);
	return (e);
}

static sp_err
auth_login(struct run *u, const char *user, const char *pass, int *ok)
{
	struct sp_client_reply	rep;
	char			b[1400];
	size_t			n;
	sp_err			e;

	if ((e = auth_line(u, "AUTH LOGIN", "AUTH LOGIN")) != SP_E_OK ||
	    (e = challenge(u, &rep, ok)) != SP_E_OK || !*ok)
		return (e);
	if ((e = sp_base64_encode(b, sizeof(b), &n, (const uint8_t *)user,
	    strlen(user))) != SP_E_OK || (e = auth_line(u, b, b)) != SP_E_OK ||
	    (e = challenge(u, &rep, ok)) != SP_E_OK || !*ok)
		return (e);
	if ((e = sp_base64_encode(b, sizeof(b), &n, (const uint8_t *)pass,
	    strlen(pass))) != SP_E_OK)
		return (e);
	e = auth_line(u, b, "<password>");
	OPENSSL_cleanse(b, sizeof(b));
	return (e);
}

static sp_err
auth_cram(struct run *u, const char *user, const char *pass, int *ok)
{
	struct sp_client_reply	rep;
	char			b[1400];
	size_t			n;
	sp_err			e;

	if ((e = auth_line(u, "AUTH CRAM-MD5", "AUTH CRAM-MD5")) != SP_E_OK ||
	    (e = challenge(u, &rep, ok)) != SP_E_OK || !*ok)
		return (e);
	e = sp_auth_cram_md5(b, sizeof(b), &n, user, pass, rep.text);
	if (e != SP_E_OK) {
		set_note(u, "bad CRAM-MD5 challenge");
		*ok = 0;
		return (SP_E_OK);
	}
	return (auth_line(u, b, "<digest>"));
}

/* One line with an initial response (RFC 4954 4): PLAIN, XOAUTH2. */
static sp_err
auth_ir(struct run *u, enum sp_script_auth m, const char *user,
    const char *pass)
{
	char	b[1400], line[1500];
	size_t	n;
	sp_err	e;

	if (m == SP_AUTH_PLAIN)
		e = sp_auth_plain(b, sizeof(b), &n, "", user, pass);
	else
		e = sp_auth_xoauth2(b, sizeof(b), &n, user, pass);
	if (e != SP_E_OK)
		return (e);
	(void)snprintf(line, sizeof(line), "AUTH %s %s", m == SP_AUTH_PLAIN ?
	    "PLAIN" : "XOAUTH2", b);
	e = auth_line(u, line, m == SP_AUTH_PLAIN ? "AUTH PLAIN <redacted>" :
	    "AUTH XOAUTH2 <redacted>");
	OPENSSL_cleanse(line, sizeof(line));
	return (e);
}

/* The exchange up to the final reply, which the next expect reads. */
static enum sp_verdict
do_auth(struct run *u, const struct sp_script_step *st)
{
	struct sp_script_text	ut = { (const uint8_t *)st->user,
				    strlen(st->user) };
	struct sp_str		user, pass;
	int			ok = 1;
	sp_err			e;

	if (expand(u, &ut, &user) != SP_E_OK)
		return (SP_VERDICT_ERROR);
	if (secret_of(u, st->secret, &pass) != SP_E_OK) {
		free(user.p);
		return (SP_VERDICT_ERROR);
	}
	if (st->mech == SP_AUTH_LOGIN)
		e = auth_login(u, user.p, pass.p, &ok);
	else if (st->mech == SP_AUTH_CRAM_MD5)
		e = auth_cram(u, user.p, pass.p, &ok);
	else
		e = auth_ir(u, st->mech, user.p, pass.p);
	OPENSSL_cleanse(pass.p, pass.len);
	free(user.p);
	free(pass.p);
	if (e != SP_E_OK)
		return (err_verdict(u, e));
	return (ok ? SP_VERDICT_PASS : SP_VERDICT_FAIL);
}

/* ------------------------------------------------------------ other */

static enum sp_verdict
do_starttls(struct run *u)
{
	struct sp_client_reply		rep;
	struct sp_client_tls_info	ti;
	sp_err				e;

	log_sent(u, "STARTTLS\r\n", 10);
	if ((e = sp_client_send_line(u->c, "STARTTLS", 8)) != SP_E_OK ||
	    (e = read_reply(u, wait_ms(u, 0), &rep)) != SP_E_OK)
		return (err_verdict(u, e));
	if (rep.code != 220) {
		set_note(u, "STARTTLS answered %d, not 220", rep.code);
		return (SP_VERDICT_FAIL);
	}
	if ((e = sp_client_tls_upgrade(u->c)) != SP_E_OK)
		return (err_verdict(u, e));
	if (sp_client_tls_info(u->c, &ti))
		sp__str_addf(&u->got, " ; %s %s%s", ti.protocol, ti.cipher,
		    ti.verified ? ", verified" : ", NOT verified");
	return (SP_VERDICT_PASS);
}

/*
 * The handshake alone, for a STARTTLS sent with sendraw and its 220
 * read by an expect: what the server says next comes inside TLS
 * (CONFORMANCE X4, CVE-2011-0411).
 */
static enum sp_verdict
do_tls(struct run *u)
{
	struct sp_client_tls_info	ti;
	sp_err				e;

	if ((e = sp_client_tls_upgrade(u->c)) != SP_E_OK)
		return (err_verdict(u, e));
	if (sp_client_tls_info(u->c, &ti))
		sp__str_addf(&u->got, "%s %s%s", ti.protocol, ti.cipher,
		    ti.verified ? ", verified" : ", NOT verified");
	return (SP_VERDICT_PASS);
}

/* A pause; the client's cancellation ends it early (an error). */
static enum sp_verdict
do_sleep(struct run *u, const struct sp_script_step *st)
{
	sp_err	e = sp__client_sleep(u->c, st->ms);

	return (e == SP_E_OK ? SP_VERDICT_PASS : err_verdict(u, e));
}

static enum sp_verdict
do_quit(struct run *u)
{
	struct sp_client_reply	rep;
	sp_err			e;

	log_sent(u, "QUIT\r\n", 6);
	if ((e = sp_client_send_line(u->c, "QUIT", 4)) != SP_E_OK ||
	    (e = read_reply(u, wait_ms(u, 0), &rep)) != SP_E_OK)
		return (err_verdict(u, e));
	if (rep.code == 221)
		return (SP_VERDICT_PASS);
	set_note(u, "QUIT answered %d, not 221", rep.code);
	return (SP_VERDICT_FAIL);
}

static enum sp_verdict
dispatch(struct run *u, const struct sp_script_step *st)
{
	switch (st->op) {
	case SP_STEP_SEND:
	case SP_STEP_SENDRAW:		return (do_send(u, st));
	case SP_STEP_PIPELINE:		return (do_pipeline(u, st));
	case SP_STEP_EXPECT:		return (do_expect(u, st));
	case SP_STEP_EXPECT_COUNT:	return (do_count(u, st));
	case SP_STEP_EXPECT_SILENCE:	return (do_silence(u, st));
	case SP_STEP_EXPECT_CLOSE:	return (do_close(u, st));
	case SP_STEP_STARTTLS:		return (do_starttls(u));
	case SP_STEP_DATA:
	case SP_STEP_DATA_BODY:		return (do_data(u, st));
	case SP_STEP_BDAT:		return (do_bdat(u, st));
	case SP_STEP_BDAT_FILE:		return (do_bdat_file(u, st));
	case SP_STEP_AUTH:		return (do_auth(u, st));
	case SP_STEP_SLEEP:		return (do_sleep(u, st));
	case SP_STEP_QUIT:		return (do_quit(u));
	case SP_STEP_TLS:		return (do_tls(u));
	}
	return (SP_VERDICT_ERROR);
}

/* ------------------------------------------------------------- run */

static void
count(struct sp_script_report *rep, enum sp_verdict v)
{
	if (v == SP_VERDICT_PASS)
		rep->passed++;
	else if (v == SP_VERDICT_FAIL)
		rep->failed++;
	else if (v == SP_VERDICT_ERROR)
		rep->errors++;
	else
		rep->skipped++;
}

static const char *
missing_fixture(const sp_script *s, const struct sp_script_run_options *o)
{
	for (size_t i = 0; i < s->meta.nfixtures; i++) {
		size_t	j;

		for (j = 0; j < o->nvars; j++)
			if (strcmp(o->vars[j].name, s->meta.fixtures[i]) == 0)
				break;
		if (j == o->nvars)
			return (s->meta.fixtures[i]);
	}
	return (NULL);
}

static int
run_step(struct run *u, const struct sp_script_step *st, int skip)
{
	struct sp_step_result	*r = u->r;

	r->line = st->line;
	r->op = st->op;
	sp__str_init(&u->sent, RES_MAX);
	sp__str_init(&u->got, RES_MAX);
	r->verdict = skip ? SP_VERDICT_SKIP : dispatch(u, st);
	r->sent = u->sent.len > 0 ? sp__str_take(&u->sent) : NULL;
	r->got = u->got.len > 0 ? sp__str_take(&u->got) : NULL;
	free(u->sent.p);
	free(u->got.p);
	if (u->o->on_step != NULL && u->o->on_step(u->o->ud, r) != 0)
		return (1);
	return (0);
}

sp_err
sp_script_run(const sp_script *s, sp_client *c,
    const struct sp_script_run_options *o, struct sp_script_report **out)
{
	struct sp_script_run_options	 def;
	struct sp_script_report		*rep;
	struct run			 u;
	const char			*miss;
	int				 skip = 0, stop = 0;

	if (s == NULL || c == NULL || out == NULL)
		return (SP_E_INVAL);
	if (o == NULL) {
		memset(&def, 0, sizeof(def));
		o = &def;
	}
	if ((rep = calloc(1, sizeof(*rep))) == NULL ||
	    (s->nsteps > 0 && (rep->steps = calloc(s->nsteps,
	    sizeof(*rep->steps))) == NULL)) {
		free(rep);
		return (SP_E_NOMEM);
	}
	memset(&u, 0, sizeof(u));
	u.s = s;
	u.c = c;
	u.o = o;
	if ((miss = missing_fixture(s, o)) != NULL) {
		skip = 1;
		sp__str_init(&u.sent, 512);
		sp__str_addf(&u.sent, "fixture %s not provided", miss);
		rep->note = sp__str_take(&u.sent);
	}
	for (size_t i = 0; i < s->nsteps && !stop; i++) {
		u.r = &rep->steps[i];
		u.r->index = i;
		stop = run_step(&u, &s->steps[i], skip);
		rep->nsteps++;
		count(rep, u.r->verdict);
		if (u.r->verdict == SP_VERDICT_FAIL ||
		    u.r->verdict == SP_VERDICT_ERROR)
			skip = !o->keep_going;
	}
	rep->verdict = rep->errors > 0 ? SP_VERDICT_ERROR : rep->failed > 0 ?
	    SP_VERDICT_FAIL : miss != NULL ? SP_VERDICT_SKIP : SP_VERDICT_PASS;
	*out = rep;
	return (SP_E_OK);
}

void
sp_script_report_free(struct sp_script_report *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->nsteps; i++) {
		free(r->steps[i].sent);
		free(r->steps[i].got);
		free(r->steps[i].note);
	}
	free(r->steps);
	free(r->note);
	free(r);
}
