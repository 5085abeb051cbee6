/*
 * smtp_auth.c - AUTH exchanges (RFC 4954): the mechanism, who logs in,
 * and the outcome.  Client lines after AUTH are responses, not
 * commands, until the final reply.  PLAIN (RFC 4616), LOGIN, CRAM-MD5
 * (RFC 2195) and XOAUTH2 are decoded; the password, digest or token
 * is redacted unless the show_secrets option is set.
 */
#include <ctype.h>

#include "smtp_int.h"

static int
b64_val(uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return (c - 'A');
	if (c >= 'a' && c <= 'z')
		return (c - 'a' + 26);
	if (c >= '0' && c <= '9')
		return (c - '0' + 52);
	if (c == '+')
		return (62);
	if (c == '/')
		return (63);
	return (-1);
}

/*
 * Decode base64 (RFC 4648 4, as RFC 4954 4 requires: no spaces, "="
 * only as final padding).  Writes at most cap bytes; sets *bad on any
 * fault but decodes what it can.
 */
size_t
sp__smtp_b64_decode(const uint8_t *s, size_t n, uint8_t *out, size_t cap,
    int *bad)
{
	uint32_t	acc = 0;
	size_t		i, o = 0, bits = 0, pad = 0;
	int		v;

	*bad = (n % 4) != 0;
	for (i = 0; i < n; i++) {
		if (s[i] == '=') {
			pad++;
			continue;
		}
		if ((v = b64_val(s[i])) < 0 || pad > 0) {
			*bad = 1;
			continue;
		}
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o < cap)
				out[o++] = (uint8_t)(acc >> bits);
		}
	}
	if (pad > 2)
		*bad = 1;
	return (o);
}

static void
set_slice(size_t *off, size_t *len, size_t o, size_t n)
{
	*off = o;
	*len = n;
}

/* Split a decoded response by mechanism; base is its offset in buf. */
static void
decode_fields(struct auth_state *a, size_t base, size_t n, size_t idx)
{
	const uint8_t	*s = a->buf.p + base, *z1, *z2, *sp;

	if (a->mech == M_PLAIN && idx == 0) {
		z1 = memchr(s, '\0', n);
		z2 = z1 != NULL ? memchr(z1 + 1, '\0', n - (size_t)(z1 + 1 - s))
		    : NULL;
		if (z2 == NULL) {
			set_slice(&a->user_off, &a->user_len, base, n);
			return;
		}
		set_slice(&a->authz_off, &a->authz_len, base, (size_t)(z1 - s));
		set_slice(&a->user_off, &a->user_len, base +
		    (size_t)(z1 + 1 - s), (size_t)(z2 - z1 - 1));
		set_slice(&a->secret_off, &a->secret_len, base +
		    (size_t)(z2 + 1 - s), n - (size_t)(z2 + 1 - s));
	} else if (a->mech == M_LOGIN && idx < 2) {
		if (idx == 0)
			set_slice(&a->user_off, &a->user_len, base, n);
		else
			set_slice(&a->secret_off, &a->secret_len, base, n);
	} else if (a->mech == M_CRAM && idx == 0) {
		sp = memchr(s, ' ', n);		/* "user SP digest" */
		set_slice(&a->user_off, &a->user_len, base,
		    sp != NULL ? (size_t)(sp - s) : n);
		if (sp != NULL)
			set_slice(&a->secret_off, &a->secret_len, base +
			    (size_t)(sp + 1 - s), n - (size_t)(sp + 1 - s));
	}
}

/* XOAUTH2: "user=" U ^A "auth=Bearer " T ^A ^A */
static void
decode_xoauth2(struct auth_state *a, size_t base, size_t n)
{
	const uint8_t	*s = a->buf.p + base, *end;
	size_t		 i = 0, k;

	while (i < n) {
		end = memchr(s + i, '\x01', n - i);
		k = end != NULL ? (size_t)(end - (s + i)) : n - i;
		if (k > 5 && memcmp(s + i, "user=", 5) == 0)
			set_slice(&a->user_off, &a->user_len, base + i + 5,
			    k - 5);
		else if (k > 5 && memcmp(s + i, "auth=", 5) == 0)
			set_slice(&a->secret_off, &a->secret_len,
			    base + i + 5, k - 5);
		i += k + 1;
	}
}

/* One response (or the initial response), index idx. */
static sp_err
response(sp_smtp_parser *p, const uint8_t *s, size_t n, uint64_t off)
{
	struct auth_state	*a = &p->auth;
	size_t			 idx = a->responses++, base, dn;
	int			 bad;
	sp_err			 e;

	if (n == 1 && s[0] == '*') {		/* RFC 4954 4: cancel */
		a->cancelled = 1;
		return (SP_E_OK);
	}
	/* "=": empty initial response; an empty line: empty response. */
	if (n == 0 || (n == 1 && s[0] == '='))
		return (SP_E_OK);
	if ((e = sp__buf_reserve(&a->buf, n)) != SP_E_OK)
		return (e == SP_E_LIMIT ? SP_E_OK : e);	/* over the cap */
	base = a->buf.len;
	dn = sp__smtp_b64_decode(s, n, a->buf.p + base, n, &bad);
	a->buf.len += dn;
	if (a->mech == M_XOAUTH2 && idx == 0)
		decode_xoauth2(a, base, dn);
	else
		decode_fields(a, base, dn, idx);
	if (!bad)
		return (SP_E_OK);
	return (sp__smtp_anomaly(p, SP_ANOM_SMTP_BAD_BASE64, SP_DIR_CLIENT, off,
	    "AUTH response %zu", idx + 1));
}

static enum auth_mech
mech_of(const uint8_t *s, size_t n)
{
	static const struct {
		const char	*name;
		enum auth_mech	 m;
	} t[] = { { "PLAIN", M_PLAIN }, { "LOGIN", M_LOGIN },
		  { "CRAM-MD5", M_CRAM }, { "XOAUTH2", M_XOAUTH2 } };

	for (size_t i = 0; i < SP_NELEM(t); i++) {
		size_t	k = strlen(t[i].name), j;

		if (k != n)
			continue;
		for (j = 0; j < k && toupper(s[j]) == t[i].name[j]; j++)
			continue;
		if (j == k)
			return (t[i].m);
	}
	return (M_OTHER);
}

/* "AUTH mechanism [initial-response]" was sent. */
sp_err
sp__smtp_auth_begin(sp_smtp_parser *p, const struct line *l,
    const uint8_t *arg, size_t n, uint64_t seq)
{
	struct auth_state	*a = &p->auth;
	size_t			 k = 0, r;
	sp_err			 e = SP_E_OK;

	while (k < n && arg[k] != ' ')
		k++;
	sp__buf_reset(&a->buf);
	a->active = 1;
	a->mech = mech_of(arg, k);
	a->cmd_seq = seq;
	a->ts = p->ts;
	a->responses = a->challenges = a->answered = 0;
	a->cancelled = 0;
	a->user_len = a->authz_len = a->secret_len = 0;
	a->mech_off = 0;
	a->mech_len = 0;
	if ((e = sp__buf_append(&a->buf, arg, k)) == SP_E_NOMEM)
		return (e);
	a->mech_len = e == SP_E_OK ? k : 0;
	e = SP_E_OK;
	sp__smtp_set_cstate(p, C_AUTH);
	/* RFC 4954 4, 14: these send the password as is; TLS hides AUTH. */
	if ((a->mech == M_PLAIN || a->mech == M_LOGIN) &&
	    !p->opt.decrypted)
		e = sp__smtp_anomaly(p, SP_ANOM_SMTP_AUTH_PLAINTEXT,
		    SP_DIR_CLIENT, l->off, "AUTH %.*s in the clear", (int)k,
		    (const char *)arg);
	for (r = k; r < n && arg[r] == ' '; r++)
		continue;
	a->ir = r < n;
	if (e == SP_E_OK && a->ir)
		e = response(p, arg + r, n - r, l->off + (size_t)(arg + r - l->p));
	return (e);
}

/* Responses a client-only capture still expects before commands. */
int
sp__smtp_auth_expect_more(const sp_smtp_parser *p)
{
	const struct auth_state	*a = &p->auth;
	size_t			 want;

	switch (a->mech) {
	case M_LOGIN:
		want = 2;
		break;
	case M_CRAM:
		want = 1;
		break;
	default:
		want = a->ir ? 0 : 1;
		break;
	}
	if (a->mech == M_LOGIN || a->mech == M_CRAM)
		want = SP_MAX(want, a->responses);
	return (!a->cancelled && a->responses < want);
}

/* The exchange is over: r is its final reply, or NULL if none seen. */
sp_err
sp__smtp_auth_end(sp_smtp_parser *p, const struct sp_smtp_reply *r)
{
	struct auth_state	*a = &p->auth;
	struct sp_smtp_auth	 x;

	if (!a->active)
		return (SP_E_OK);
	a->active = 0;
	if (p->cst == C_AUTH)
		sp__smtp_set_cstate(p, C_CMD);
	memset(&x, 0, sizeof(x));
	x.mechanism = sp__smtp_slice(&a->buf, a->mech_off, a->mech_len);
	x.user = sp__smtp_slice(&a->buf, a->user_off, a->user_len);
	x.authzid = sp__smtp_slice(&a->buf, a->authz_off, a->authz_len);
	x.secret = sp__smtp_slice(&a->buf, a->secret_off, a->secret_len);
	if (!p->opt.show_secrets && x.secret.len > 0) {
		x.secret.p = (const uint8_t *)"<redacted>";
		x.secret.len = 10;
		x.redacted = 1;
	}
	x.responses = a->responses;
	x.cmd_seq = a->cmd_seq;
	x.ts = a->ts;
	if (r != NULL) {
		x.code = r->code;
		x.enhanced = r->enhanced;
	}
	x.outcome = a->cancelled ? SP_SMTP_AUTH_CANCELLED :
	    r == NULL ? SP_SMTP_AUTH_UNKNOWN :
	    r->code >= 200 && r->code < 300 ? SP_SMTP_AUTH_SUCCESS :
	    SP_SMTP_AUTH_FAILURE;
	if (p->cb.on_auth == NULL)
		return (SP_E_OK);
	return (sp__smtp_cb(p, p->cb.on_auth(p->ud, &x)));
}

/*
 * A client line in state C_AUTH.  With the server heard, a line is a
 * response only if a 334 awaits one (RFC 4954 4: the server speaks
 * first); any other line is a command pipelined behind AUTH.
 */
sp_err
sp__smtp_auth_response(sp_smtp_parser *p, const struct line *l)
{
	struct auth_state	*a = &p->auth;
	size_t			 n = sp__smtp_trim_eol(l->p, l->len);
	sp_err			 e;

	if (p->server_seen) {
		if (a->challenges <= a->answered)
			return (sp__smtp_command_line(p, l));
		a->answered++;
	} else if (!sp__smtp_auth_expect_more(p)) {
		if ((e = sp__smtp_auth_end(p, NULL)) != SP_E_OK)
			return (e);
		return (sp__smtp_command_line(p, l));
	}
	if ((e = sp__smtp_line_check(p, SP_DIR_CLIENT, l)) != SP_E_OK ||
	    (e = response(p, l->p, n, l->off)) != SP_E_OK)
		return (e);
	if (!p->server_seen && !sp__smtp_auth_expect_more(p))
		return (sp__smtp_auth_end(p, NULL));
	return (SP_E_OK);
}
