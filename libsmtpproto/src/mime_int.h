/*
 * mime_int.h - what the mime*.c files share; not installed.
 *
 *   mime.c         the part/boundary state machine and the events
 *   mime_hdr.c     field names, Content-* values and their parameters
 *                  (RFC 2045, 2183, 2231)
 *   mime_decode.c  streaming base64 and quoted-printable (RFC 2045 6)
 *   mime_words.c   charsets to UTF-8 (iconv) and RFC 2047 words
 *   mime_url.c     URLs in decoded text, across chunk boundaries
 */
#ifndef SP_MIME_INT_H
#define SP_MIME_INT_H

#include <stdbool.h>

#include "internal.h"
#include "smtpproto/mime.h"

/* Fixed caps of the strings kept per part; longer values are cut. */
#define SP__MIME_TYPE_MAX	64
#define SP__MIME_SUBTYPE_MAX	128
#define SP__MIME_CHARSET_MAX	64
#define SP__MIME_FILENAME_MAX	1024

/*
 * The value of a hex digit of either case, or -1.  Quoted-printable
 * ("=XX", RFC 2045 6.7), the Q encoding (RFC 2047 4.2) and RFC 2231
 * parameter values ("%XX", section 4) all spell a byte as two of them.
 */
static inline int
sp__hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	c = (uint8_t)(c | 0x20);
	if (c >= 'a' && c <= 'f')
		return (c - 'a' + 10);
	return (-1);
}

/* The byte that the hex digits p[0] p[1] spell; -1 if n < 2 or bad. */
static inline int
sp__hexpair(const uint8_t *p, size_t n)
{
	int	hi, lo;

	if (n < 2)
		return (-1);
	hi = sp__hexval(p[0]);
	lo = sp__hexval(p[1]);
	return (hi < 0 || lo < 0 ? -1 : hi << 4 | lo);
}

/* --- mime_decode.c ------------------------------------------------ */

struct sp__b64 {
	uint32_t	acc;		/* sextets of the open quantum */
	unsigned	n;		/* how many (0..3) */
};

/*
 * Decode a run of base64 text into out, which has room for
 * (n / 4 + 1) * 3 bytes.  Whitespace is skipped; '=' closes the open
 * quantum (so concatenated encodings still decode); other bytes are
 * skipped and the index of the first one goes to *bad (else SIZE_MAX).
 * Returns the bytes written.
 */
size_t	sp__b64_run(struct sp__b64 *s, const uint8_t *in, size_t n,
	    uint8_t *out, size_t *bad);
/*
 * The fast path of sp__b64_run, for a caller with no quantum open: whole
 * quanta of alphabet characters from the start of in, stopping before
 * the first quantum holding anything else.  out + *k needs room for
 * (n / 4) * 3 + 4 bytes: the vector steps store whole registers, and
 * run only while enough characters remain for that to fit.
 * Returns the characters used; *k grows by the bytes written.
 */
size_t	sp__b64_quanta(const uint8_t *in, size_t n, uint8_t *out,
	    size_t *k);
/* Flush a quantum left open at the end (room: 3); 1 sextet is *bad. */
size_t	sp__b64_end(struct sp__b64 *s, uint8_t *out, bool *bad);

#define SP__QP_WS_MAX	64	/* trailing blanks held back per line */

struct sp__qp {
	unsigned	state;
	uint8_t		hex1;		/* first digit after '=' */
	uint8_t		nws;		/* blanks held in ws[] */
	uint8_t		ws[SP__QP_WS_MAX];
	bool		bad;		/* a malformed sequence was seen */
};

/* Room needed in out for a run of n bytes. */
#define SP__QP_ROOM(n)	((n) + SP__QP_WS_MAX + 4)

/*
 * Decode a run of line content (no line end), then, when the line ends,
 * its line end.  Malformed '=' sequences are kept literally and set
 * s->bad.  Each returns the bytes written.
 */
size_t	sp__qp_run(struct sp__qp *s, const uint8_t *in, size_t n,
	    uint8_t *out);
size_t	sp__qp_eol(struct sp__qp *s, const uint8_t *eol, size_t n,
	    uint8_t *out);
size_t	sp__qp_end(struct sp__qp *s, uint8_t *out);

/* --- mime_words.c ------------------------------------------------- */

/* Flags the converters raise; the parser turns them into anomalies. */
#define SP__W_BAD_WORD	0x01u	/* malformed RFC 2047 word */
#define SP__W_UNKNOWN	0x02u	/* charset unknown, bytes kept */
#define SP__W_TRUNC	0x04u	/* output cut at its buffer's max */

/* A one-entry cache of iconv descriptors: opening one is costly. */
struct sp__conv {
	void	*cd;			/* iconv_t, or NULL */
	char	 name[SP__MIME_CHARSET_MAX];
};

void	sp__conv_fini(struct sp__conv *c);

/* Append in, written in charset cs, to out as UTF-8. */
sp_err	sp__conv_utf8(struct sp__conv *c, const uint8_t *cs, size_t cslen,
	    const uint8_t *in, size_t n, struct sp_buf *out, unsigned *flags);

/* Append in to out with RFC 2047 words decoded; tmp is scratch. */
sp_err	sp__words_decode(struct sp__conv *c, const uint8_t *in, size_t n,
	    struct sp_buf *out, struct sp_buf *tmp, unsigned *flags);

/* Whether p may hold an RFC 2047 word: "=?" somewhere. */
static inline bool
sp__has_word(const uint8_t *p, size_t n)
{
	const uint8_t	*q;

	while (n > 1) {
		q = memchr(p, '=', n - 1);
		if (q == NULL)
			return (false);
		if (q[1] == '?')
			return (true);
		n -= (size_t)(q - p) + 1;
		p = q + 1;
	}
	return (false);
}

/* Cut len back so that s[0..len) does not end inside a UTF-8 char. */
size_t	sp__utf8_cut(const uint8_t *s, size_t len);

/* --- mime_hdr.c --------------------------------------------------- */

/* What a part's header block says about its content. */
struct sp__mime_info {
	char		 type[SP__MIME_TYPE_MAX];
	char		 subtype[SP__MIME_SUBTYPE_MAX];
	char		 charset[SP__MIME_CHARSET_MAX];
	char		 filename[SP__MIME_FILENAME_MAX];
	unsigned	 fn_src;	/* 0 none, 1 CT name, 2 CD filename */
	char		*boundary;	/* storage of bcap + 1 bytes */
	size_t		 blen, bcap;
	bool		 have_ctype;
	bool		 boundary_long;	/* over bcap, or over RFC 2046's 70 */
	enum sp_mime_cte cte;
	enum sp_mime_disp disp;
};

/* Scratch for parameter decoding, bounded at creation. */
struct sp__mime_scratch {
	struct sp__conv	 conv;
	struct sp_buf	 a, b, c;
};

sp_err	sp__mime_ctype(struct sp__mime_scratch *s, const uint8_t *v,
	    size_t n, struct sp__mime_info *info, unsigned *flags);
sp_err	sp__mime_cdisp(struct sp__mime_scratch *s, const uint8_t *v,
	    size_t n, struct sp__mime_info *info, unsigned *flags);
enum sp_mime_cte sp__mime_cte(const uint8_t *v, size_t n);

/* --- mime_url.c --------------------------------------------------- */

#define SP__URL_MAX	2048	/* longer URLs are reported cut */

typedef int (*sp__url_fn)(void *arg, const uint8_t *url, size_t len);

struct sp__url {
	uint8_t		*tok;		/* SP__URL_MAX bytes */
	size_t		 len;
	bool		 skipping;	/* token overflowed: wait for its end */
};

/*
 * Scan decoded text; fn gets each URL when the token holding it ends.
 * Returns the first nonzero fn return, else 0.
 */
int	sp__url_scan(struct sp__url *u, const uint8_t *p, size_t n,
	    sp__url_fn fn, void *arg);
/* End of the text: the last token is checked too. */
int	sp__url_end(struct sp__url *u, sp__url_fn fn, void *arg);

#endif /* SP_MIME_INT_H */
