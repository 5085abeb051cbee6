/*
 * client_encode.c - what a client puts on the wire besides commands:
 * base64 and the AUTH mechanisms' responses (RFC 4954), DATA
 * transparency (RFC 5321 4.5.2) and BDAT headers (RFC 3030).  Pure
 * functions: no I/O, no clock, no state outside their arguments.
 */
#include <stdio.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "internal.h"
#include "smtpproto/client.h"

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

sp_err
sp_base64_encode(char *out, size_t cap, size_t *len, const uint8_t *in,
    size_t n)
{
	size_t		i, o = 0;
	uint32_t	v;

	if (out == NULL || len == NULL || (in == NULL && n > 0))
		return (SP_E_INVAL);
	if (n / 3 >= (SIZE_MAX - 1) / 4 || cap < (n + 2) / 3 * 4 + 1)
		return (SP_E_LIMIT);
	for (i = 0; i + 2 < n; i += 3) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
		    in[i + 2];
		out[o++] = b64[v >> 18];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = b64[(v >> 6) & 63];
		out[o++] = b64[v & 63];
	}
	if (i < n) {
		v = (uint32_t)in[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		out[o++] = b64[v >> 18];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
	*len = o;
	return (SP_E_OK);
}

static int
b64val(char c)
{
	const char	*p;

	if (c == '\0' || (p = strchr(b64, c)) == NULL)
		return (-1);
	return ((int)(p - b64));
}

/* One quantum of four characters; pad is how many '=' end it. */
static sp_err
b64_quantum(const char *q, int last, uint8_t *dst, size_t *k)
{
	int	v[4], pad = 0;

	for (int j = 0; j < 4; j++) {
		if (q[j] == '=' && last && j >= 2) {
			v[j] = 0;
			pad++;
			continue;
		}
		if (pad > 0 || (v[j] = b64val(q[j])) < 0)
			return (SP_E_FORMAT);
	}
	dst[0] = (uint8_t)(v[0] << 2 | v[1] >> 4);
	dst[1] = (uint8_t)((v[1] & 15) << 4 | v[2] >> 2);
	dst[2] = (uint8_t)((v[2] & 3) << 6 | v[3]);
	*k = 3 - (size_t)pad;
	return (SP_E_OK);
}

sp_err
sp_base64_decode(uint8_t *out, size_t cap, size_t *len, const char *in,
    size_t n)
{
	uint8_t	tmp[3];
	size_t	o = 0, k;
	sp_err	e;

	if (out == NULL || len == NULL || (in == NULL && n > 0))
		return (SP_E_INVAL);
	if (n % 4 != 0)
		return (SP_E_FORMAT);
	for (size_t i = 0; i < n; i += 4) {
		if ((e = b64_quantum(in + i, i + 4 == n, tmp, &k)) != SP_E_OK)
			return (e);
		if (k > cap - o)
			return (SP_E_LIMIT);
		memcpy(out + o, tmp, k);
		o += k;
	}
	*len = o;
	return (SP_E_OK);
}

/* Concatenate parts into a bounded scratch buffer, then base64 it. */
static sp_err
b64_join(char *out, size_t cap, size_t *len, const char *const *parts,
    const size_t *lens, size_t n)
{
	uint8_t	buf[2048];
	size_t	o = 0;
	sp_err	e;

	for (size_t i = 0; i < n; i++) {
		if (lens[i] > sizeof(buf) - o)
			return (SP_E_LIMIT);
		memcpy(buf + o, parts[i], lens[i]);
		o += lens[i];
	}
	e = sp_base64_encode(out, cap, len, buf, o);
	OPENSSL_cleanse(buf, sizeof(buf));	/* it held a password */
	return (e);
}

sp_err
sp_auth_plain(char *out, size_t cap, size_t *len, const char *authzid,
    const char *user, const char *pass)
{
	const char	*parts[5];
	size_t		 lens[5];

	if (user == NULL || pass == NULL)
		return (SP_E_INVAL);
	if (authzid == NULL)
		authzid = "";
	/* RFC 4616 2: message = [authzid] UTF8NUL authcid UTF8NUL passwd */
	parts[0] = authzid;
	parts[1] = "";
	parts[2] = user;
	parts[3] = "";
	parts[4] = pass;
	for (int i = 0; i < 5; i++)
		lens[i] = (i == 1 || i == 3) ? 1 : strlen(parts[i]);
	return (b64_join(out, cap, len, parts, lens, 5));
}

sp_err
sp_auth_xoauth2(char *out, size_t cap, size_t *len, const char *user,
    const char *token)
{
	const char	*parts[5] = { "user=", user, "\001auth=Bearer ", token,
			    "\001\001" };
	size_t		 lens[5];

	if (user == NULL || token == NULL)
		return (SP_E_INVAL);
	for (int i = 0; i < 5; i++)
		lens[i] = strlen(parts[i]);
	return (b64_join(out, cap, len, parts, lens, 5));
}

sp_err
sp_auth_cram_md5(char *out, size_t cap, size_t *len, const char *user,
    const char *secret, const char *challenge_b64)
{
	uint8_t		 chal[1024], mac[EVP_MAX_MD_SIZE];
	unsigned	 maclen = 0;
	size_t		 clen, hl;
	char		 hex[2 * EVP_MAX_MD_SIZE + 1];
	const char	*parts[3];
	size_t		 lens[3];
	sp_err		 e;

	if (user == NULL || secret == NULL || challenge_b64 == NULL)
		return (SP_E_INVAL);
	if ((e = sp_base64_decode(chal, sizeof(chal), &clen, challenge_b64,
	    strlen(challenge_b64))) != SP_E_OK)
		return (e == SP_E_LIMIT ? SP_E_LIMIT : SP_E_FORMAT);
	/* RFC 2195 2: digest = HMAC-MD5(secret, challenge), lower hex. */
	if (HMAC(EVP_md5(), secret, (int)strlen(secret), chal, clen, mac,
	    &maclen) == NULL)
		return (SP_E_INTERNAL);
	for (unsigned i = 0; i < maclen; i++)
		(void)snprintf(hex + 2 * i, 3, "%02x", mac[i]);
	hl = 2 * (size_t)maclen;
	parts[0] = user;
	parts[1] = " ";
	parts[2] = hex;
	lens[0] = strlen(user);
	lens[1] = 1;
	lens[2] = hl;
	return (b64_join(out, cap, len, parts, lens, 3));
}

void
sp_data_enc_init(struct sp_data_enc *e, int crlf)
{
	e->bol = 1;
	e->cr = 0;
	e->crlf = crlf;
	e->empty = 1;
	e->eol = 0;
}

/*
 * RFC 5321 4.5.2: "Before sending a line of mail text, the SMTP client
 * checks the first character of the line.  If it is a period, one
 * additional period is inserted at the beginning of the line."  A line
 * begins after any LF: servers that take a bare LF as a line end
 * would otherwise see an unstuffed "." line.
 */
size_t
sp_data_enc_update(struct sp_data_enc *e, const uint8_t *in, size_t n,
    uint8_t *out)
{
	size_t	o = 0;

	for (size_t i = 0; i < n; i++) {
		uint8_t	ch = in[i];

		if (e->bol && ch == '.')
			out[o++] = '.';
		if (ch == '\n' && e->crlf && !e->cr) {
			out[o++] = '\r';
			e->cr = 1;
		}
		out[o++] = ch;
		e->eol = ch == '\n' && e->cr;
		e->bol = ch == '\n';
		e->cr = ch == '\r';
	}
	if (n > 0)
		e->empty = 0;
	return (o);
}

size_t
sp_data_enc_final(struct sp_data_enc *e, uint8_t *out)
{
	size_t	o = 0;

	/* The terminator is CRLF.CRLF; its first CRLF ends the last line. */
	if (!e->empty && !e->eol) {
		out[o++] = '\r';
		out[o++] = '\n';
	}
	memcpy(out + o, ".\r\n", 3);
	return (o + 3);
}

size_t
sp_bdat_header(char *out, size_t cap, uint64_t n, int last)
{
	int	k;

	k = snprintf(out, cap, "BDAT %llu%s\r\n", (unsigned long long)n,
	    last ? " LAST" : "");
	if (k < 0 || (size_t)k >= cap)
		return (0);
	return ((size_t)k);
}
