/*
 * session.c - the session model of smtp-fuzz: copying, seeds (built in,
 * session scripts, captures through the script converter) and writing
 * sessions back as scripts.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz.h"

const struct fz_eod fz_eods[] = {
	/* CONFORMANCE.md V1: the canonical end, then every variant. */
	{ "crlf.crlf", "\r\n.\r\n", 5 },
	{ "lf.lf", "\n.\n", 3 },
	{ "lf.cr", "\n.\r", 3 },
	{ "cr.lf", "\r.\n", 3 },
	{ "cr.cr", "\r.\r", 3 },
	{ "lf.crlf", "\n.\r\n", 4 },
	{ "cr.crlf", "\r.\r\n", 4 },
	{ "crlf-nul.crlf", "\r\n\0.\r\n", 6 },
	{ "crlf.crcrlf", "\r\n.\r\r\n", 6 },
	{ "crcrlf.crcrlf", "\r\r\n.\r\r\n", 7 },
	{ "crlf.lf", "\r\n.\n", 4 },
	{ "crlf.cr", "\r\n.\r", 4 },
	{ "crlf.nul-crlf", "\r\n.\0\r\n", 6 },
};
const size_t fz_neods = sizeof(fz_eods) / sizeof(fz_eods[0]);

static const char *const oracle_names[FZ_ORACLE__COUNT] = {
	"ok", "crash", "hang", "rfc-354-without-rcpt",
	"rfc-pipelining-reply-missing", "rfc-bare-end-of-data-accepted",
	"rfc-plaintext-after-starttls", "rfc-starttls-offered-after-tls",
	"rfc-malformed-reply", "rfc-close-without-reply", "latency-spike"
};

const char *
fz_oracle_name(enum fz_oracle o)
{
	return ((unsigned)o < FZ_ORACLE__COUNT ? oracle_names[o] : "?");
}

int
fz_bytes_set(struct fz_bytes *b, const void *p, size_t n)
{
	uint8_t	*q = malloc(n + 1);

	if (q == NULL)
		return (-1);
	if (n > 0)
		memcpy(q, p, n);
	q[n] = '\0';
	free(b->p);
	b->p = q;
	b->n = n;
	return (0);
}

static void
step_clear(struct fz_step *st)
{
	for (size_t i = 0; i < FZ_MAX_LINES; i++)
		free(st->lines[i].p);
	free(st->body.p);
	memset(st, 0, sizeof(*st));
}

void
fz_session_clear(struct fz_session *s)
{
	for (size_t i = 0; i < s->n; i++)
		step_clear(&s->steps[i]);
	s->n = 0;
}

int
fz_session_copy_step(struct fz_step *d, const struct fz_step *s)
{
	memset(d, 0, sizeof(*d));
	d->kind = s->kind;
	d->nlines = s->nlines;
	d->term = s->term;
	d->last = s->last;
	d->inject = s->inject;
	for (size_t i = 0; i < s->nlines; i++)
		if (fz_bytes_set(&d->lines[i], s->lines[i].p,
		    s->lines[i].n) != 0)
			return (-1);
	if (s->body.p != NULL &&
	    fz_bytes_set(&d->body, s->body.p, s->body.n) != 0)
		return (-1);
	return (0);
}

/* dst must be empty or cleared; on failure it is cleared. */
int
fz_session_copy(struct fz_session *dst, const struct fz_session *src)
{
	dst->n = 0;
	for (size_t i = 0; i < src->n; i++) {
		dst->n = i + 1;
		if (fz_session_copy_step(&dst->steps[i], &src->steps[i]) != 0) {
			fz_session_clear(dst);
			return (-1);
		}
	}
	return (0);
}

int
fz_session_remove(struct fz_session *s, size_t i)
{
	if (i >= s->n)
		return (-1);
	step_clear(&s->steps[i]);
	memmove(&s->steps[i], &s->steps[i + 1],
	    (s->n - i - 1) * sizeof(s->steps[0]));
	s->n--;
	memset(&s->steps[s->n], 0, sizeof(s->steps[0]));
	return (0);
}

/* The first word of the step's first line, upper-cased ("BDAT"...). */
const char *
fz_step_verb(const struct fz_step *st, char *buf, size_t cap)
{
	size_t	n = 0;

	if (st->kind == FZ_DATA)
		return ("DATA");
	if (st->kind == FZ_BDAT)
		return ("BDAT");
	if (st->kind == FZ_STARTTLS)
		return ("STARTTLS");
	if (st->nlines > 0)
		for (; n + 1 < cap && n < st->lines[0].n; n++) {
			uint8_t c = st->lines[0].p[n];
			if (c == ' ' || c == ':' || c < 0x21 || c > 0x7e)
				break;
			buf[n] = (char)(c >= 'a' && c <= 'z' ? c - 32 : c);
		}
	buf[n] = '\0';
	return (buf);
}

/* Script text is a template: "$$" is a literal "$". */
static int
untemplate(struct fz_bytes *b, const struct sp_script_text *t)
{
	uint8_t	*q = malloc(t->len + 1);
	size_t	 n = 0;

	if (q == NULL)
		return (-1);
	for (size_t i = 0; i < t->len; i++) {
		q[n++] = t->p[i];
		if (t->p[i] == '$' && i + 1 < t->len && t->p[i + 1] == '$')
			i++;
	}
	q[n] = '\0';
	free(b->p);
	b->p = q;
	b->n = n;
	return (0);
}

/* Escape "$" as "$$" (script text is a template); free(3) the result. */
uint8_t *
fz_escape(const void *p, size_t n, size_t *outlen)
{
	uint8_t	*q;
	size_t	 k = 0;

	if (n > SIZE_MAX / 2 - 1 || (q = malloc(2 * n + 1)) == NULL)
		return (NULL);
	for (size_t i = 0; i < n; i++) {
		q[k++] = ((const uint8_t *)p)[i];
		if (q[k - 1] == '$')
			q[k++] = '$';
	}
	q[k] = '\0';
	*outlen = k;
	return (q);
}

sp_err
fz_script_text(sp_script *sc, enum sp_script_op op, const void *p, size_t n)
{
	struct sp_script_step	 st;
	sp_err			 e;

	memset(&st, 0, sizeof(st));
	st.op = op;
	if ((st.text.p = fz_escape(p, n, &st.text.len)) == NULL)
		return (SP_E_NOMEM);
	e = sp_script_append(sc, &st);
	free((void *)st.text.p);
	return (e);
}

static struct fz_step *
add_step(struct fz_session *s, enum fz_kind k)
{
	struct fz_step	*st;

	if (s->n >= FZ_MAX_STEPS)
		return (NULL);
	st = &s->steps[s->n++];
	memset(st, 0, sizeof(*st));
	st->kind = k;
	return (st);
}

static int
line_step(struct fz_session *s, const char *line)
{
	struct fz_step	*st = add_step(s, FZ_LINE);

	if (st == NULL)
		return (0);
	st->nlines = 1;
	return (fz_bytes_set(&st->lines[0], line, strlen(line)));
}

/* A DATA sent inside a pipeline, then data-body: split it out. */
static int
data_body(struct fz_session *s, const struct sp_script_step *ss)
{
	struct fz_step	*prev = s->n > 0 ? &s->steps[s->n - 1] : NULL;
	struct fz_step	*st;

	if (prev != NULL && prev->kind == FZ_PIPE && prev->nlines > 1 &&
	    prev->lines[prev->nlines - 1].n == 4 &&
	    strncasecmp((char *)prev->lines[prev->nlines - 1].p, "DATA",
	    4) == 0) {
		prev->nlines--;
		free(prev->lines[prev->nlines].p);
		prev->lines[prev->nlines].p = NULL;
	} else if (prev != NULL && prev->kind == FZ_LINE &&
	    prev->lines[0].n == 4 &&
	    strncasecmp((char *)prev->lines[0].p, "DATA", 4) == 0)
		fz_session_remove(s, s->n - 1);
	if ((st = add_step(s, FZ_DATA)) == NULL)
		return (0);
	if (ss->path != NULL)
		return (fz_bytes_set(&st->body, "Subject: seed\r\n\r\nx\r\n",
		    20));
	return (untemplate(&st->body, &ss->text));
}

static int
bdat_step(struct fz_session *s, const struct sp_script_step *ss)
{
	struct fz_step	*st = add_step(s, FZ_BDAT);
	uint8_t		*fill;
	size_t		 n;

	if (st == NULL)
		return (0);
	st->last = ss->last;
	if (ss->has_text)
		return (untemplate(&st->body, &ss->text));
	n = ss->size < FZ_MAX_BODY ? (size_t)ss->size : FZ_MAX_BODY;
	if ((fill = malloc(n + 1)) == NULL)
		return (-1);
	memset(fill, 'x', n);
	n = fz_bytes_set(&st->body, fill, n) == 0 ? 0 : 1;
	free(fill);
	return (n == 0 ? 0 : -1);
}

static int
pipe_step(struct fz_session *s, const struct sp_script_step *ss)
{
	struct fz_step	*st = add_step(s, FZ_PIPE);

	if (st == NULL)
		return (0);
	for (size_t i = 0; i < ss->nlines && i < FZ_MAX_LINES; i++) {
		st->nlines = i + 1;
		if (untemplate(&st->lines[i], &ss->lines[i]) != 0)
			return (-1);
	}
	return (0);
}

static int
auth_step(struct fz_session *s, const struct sp_script_step *ss)
{
	char	b64[512], line[600];
	size_t	n;

	if (ss->mech != SP_AUTH_PLAIN)
		return (line_step(s, ss->mech == SP_AUTH_LOGIN ?
		    "AUTH LOGIN" : ss->mech == SP_AUTH_CRAM_MD5 ?
		    "AUTH CRAM-MD5" : "AUTH XOAUTH2"));
	if (sp_auth_plain(b64, sizeof(b64), &n, "", ss->user ? ss->user :
	    "fuzz", "fuzz") != SP_E_OK)
		return (-1);
	snprintf(line, sizeof(line), "AUTH PLAIN %s", b64);
	return (line_step(s, line));
}

/* One script step into the session; expectations are dropped. */
static int
from_step(struct fz_session *s, const struct sp_script_step *ss)
{
	struct fz_step	*st;

	switch (ss->op) {
	case SP_STEP_SEND:
	case SP_STEP_SENDRAW:
		if ((st = add_step(s, FZ_LINE)) == NULL)
			return (0);
		st->nlines = 1;
		if (untemplate(&st->lines[0], &ss->text) != 0)
			return (-1);
		/* sendraw "X\r\n": the CRLF is the executor's. */
		if (ss->op == SP_STEP_SENDRAW && st->lines[0].n >= 2 &&
		    memcmp(st->lines[0].p + st->lines[0].n - 2, "\r\n",
		    2) == 0)
			st->lines[0].n -= 2;
		return (0);
	case SP_STEP_PIPELINE:
		return (pipe_step(s, ss));
	case SP_STEP_DATA:
		if (line_step(s, "DATA") != 0)
			return (-1);
		return (data_body(s, ss));
	case SP_STEP_DATA_BODY:
		return (data_body(s, ss));
	case SP_STEP_BDAT:
		return (bdat_step(s, ss));
	case SP_STEP_STARTTLS:
		return (add_step(s, FZ_STARTTLS) == NULL ? 0 : 0);
	case SP_STEP_AUTH:
		return (auth_step(s, ss));
	case SP_STEP_QUIT:
		return (line_step(s, "QUIT"));
	default:
		return (0);
	}
}

int
fz_session_from_script(struct fz_session *s, const sp_script *sc)
{
	s->n = 0;
	for (size_t i = 0; i < sp_script_nsteps(sc); i++)
		if (from_step(s, sp_script_step_at(sc, i)) != 0) {
			fz_session_clear(s);
			return (-1);
		}
	return (s->n > 0 ? 0 : -1);
}

/*
 * Built-in seeds: one per feature of issue 7, written as session
 * scripts so they read like the reproducers.
 */
static const char *const builtin[] = {
	"send EHLO fuzz.test\nsend MAIL FROM:<a@fuzz.test> SIZE=120\n"
	"send RCPT TO:<b@fuzz.test>\nsend RCPT TO:<c@fuzz.test>\n"
	"data \"Subject: seed\\r\\n\\r\\nhello\\r\\n\"\nsend QUIT\n",
	"send HELO fuzz.test\nsend MAIL FROM:<>\nsend RCPT TO:<b@fuzz.test>\n"
	"data \"hello\\r\\n\"\nsend RSET\nsend NOOP\nsend QUIT\n",
	"send EHLO fuzz.test\npipeline\nMAIL FROM:<a@fuzz.test>\n"
	"RCPT TO:<b@fuzz.test>\nRCPT TO:<c@fuzz.test>\nend\n"
	"data \"x\\r\\n\"\nsend QUIT\n",
	"send EHLO fuzz.test\nsend MAIL FROM:<a@fuzz.test> BODY=BINARYMIME\n"
	"send RCPT TO:<b@fuzz.test>\nbdat 6 \"hello\\n\"\n"
	"bdat 5 last \"world\"\nsend QUIT\n",
	/* RFC 3030 2: a zero-length last chunk ends the message. */
	"send EHLO fuzz.test\nsend MAIL FROM:<a@fuzz.test>\n"
	"send RCPT TO:<b@fuzz.test>\nbdat 6 \"hello\\n\"\nbdat 0 last\n"
	"send QUIT\n",
	"send EHLO fuzz.test\nsend AUTH PLAIN AGZ1enoAZnV6eg==\n"
	"send MAIL FROM:<a@fuzz.test> AUTH=<>\nsend RCPT TO:<b@fuzz.test>\n"
	"data \"Subject: auth\\r\\n\\r\\nhi\\r\\n\"\nsend QUIT\n",
	"send EHLO fuzz.test\nsend AUTH LOGIN\nsend Zm9v\nsend YmFy\n"
	"send AUTH CRAM-MD5\nsend QUIT\n",
	"send EHLO fuzz.test\nstarttls\nsend EHLO fuzz.test\n"
	"send MAIL FROM:<a@fuzz.test>\nsend RCPT TO:<b@fuzz.test>\n"
	"data \"Subject: tls\\r\\n\\r\\nhi\\r\\n\"\nsend QUIT\n",
	"send EHLO fuzz.test\nsend MAIL FROM:<\xc3\xa4@fuzz.test> SMTPUTF8 "
	"SIZE=100\n"
	"send RCPT TO:<\xc3\xb6@fuzz.test>\ndata \"h\xc3\xa9\\r\\n\"\n"
	"send QUIT\n",
	"send EHLO fuzz.test\nsend MAIL FROM:<a@fuzz.test> RET=HDRS "
	"ENVID=x+2By\nsend RCPT TO:<b@fuzz.test> NOTIFY=SUCCESS,FAILURE "
	"ORCPT=rfc822;b@fuzz.test\ndata \"dsn\\r\\n\"\nsend QUIT\n",
	"send EHLO fuzz.test\nsend VRFY postmaster\nsend EXPN staff\n"
	"send HELP\nsend HELP MAIL\nsend NOOP x\nsend RSET\nsend QUIT\n",
};

/*
 * With --auth: the AUTH states a fuzzer cannot guess its way into.
 * PLAIN (RFC 4616) and LOGIN, each followed by a whole transaction,
 * and PLAIN inside TLS (servers that offer AUTH only there).
 */
#define SEED_AUTH_PLAIN \
	"send EHLO fuzz.test\nsend AUTH PLAIN %s\n" \
	"send MAIL FROM:<a@fuzz.test>\nsend RCPT TO:<b@fuzz.test>\n" \
	"data \"Subject: auth\\r\\n\\r\\nhi\\r\\n\"\nsend QUIT\n"
#define SEED_AUTH_LOGIN \
	"send EHLO fuzz.test\nsend AUTH LOGIN\nsend %s\nsend %s\n" \
	"send MAIL FROM:<a@fuzz.test>\nsend RCPT TO:<b@fuzz.test>\n" \
	"data \"Subject: login\\r\\n\\r\\nhi\\r\\n\"\nsend QUIT\n"
#define SEED_AUTH_TLS \
	"send EHLO fuzz.test\nstarttls\nsend EHLO fuzz.test\n" \
	"send AUTH PLAIN %s\nsend MAIL FROM:<a@fuzz.test>\n" \
	"send RCPT TO:<b@fuzz.test>\n" \
	"data \"Subject: tls\\r\\n\\r\\nhi\\r\\n\"\nsend QUIT\n"
#define N_AUTH_SEEDS	3

static int
seed_parse(struct fz_session *s, const char *text)
{
	struct sp_script_error	 err;
	sp_script		*sc;
	int			 rc;

	if (sp_script_parse(&sc, text, strlen(text), NULL, &err) != SP_E_OK) {
		fprintf(stderr, "smtp-fuzz: built-in seed: line %u: %s\n",
		    err.line, err.msg);
		return (-1);
	}
	rc = fz_session_from_script(s, sc);
	sp_script_free(sc);
	return (rc);
}

/* The --auth seeds into out[]; returns how many. */
static size_t
auth_builtin(struct fz_session *out, const char *user, const char *pass)
{
	char	plain[700], u64[400], p64[400], text[2048];
	size_t	len, k = 0;

	if (sp_auth_plain(plain, sizeof(plain), &len, "", user, pass) !=
	    SP_E_OK || sp_base64_encode(u64, sizeof(u64), &len,
	    (const uint8_t *)user, strlen(user)) != SP_E_OK ||
	    sp_base64_encode(p64, sizeof(p64), &len, (const uint8_t *)pass,
	    strlen(pass)) != SP_E_OK)
		return (0);
	snprintf(text, sizeof(text), SEED_AUTH_PLAIN, plain);
	k += seed_parse(&out[k], text) == 0;
	snprintf(text, sizeof(text), SEED_AUTH_LOGIN, u64, p64);
	k += seed_parse(&out[k], text) == 0;
	snprintf(text, sizeof(text), SEED_AUTH_TLS, plain);
	k += seed_parse(&out[k], text) == 0;
	return (k);
}

size_t
fz_builtin_seeds(struct fz_session **out, const char *user, const char *pass)
{
	size_t	n = sizeof(builtin) / sizeof(builtin[0]), k = 0;

	if ((*out = calloc(n + N_AUTH_SEEDS, sizeof(**out))) == NULL)
		return (0);
	/* The credentials first: the deterministic stage starts there. */
	if (user != NULL && pass != NULL)
		k = auth_builtin(*out, user, pass);
	for (size_t i = 0; i < n; i++)
		k += seed_parse(&(*out)[k], builtin[i]) == 0;
	return (k);
}
