/*
 * compare.h - semantic comparison of SMTP replies for smtp-replay.
 *
 * Two replies "hold" when they have the same code (hence the same
 * class) and the same enhanced status code (RFC 3463), or when neither
 * has one.  Their text is compared only after normalisation, which
 * masks what changes from run to run (queue ids, dates, host names,
 * PIDs, numbers in brackets); a text difference is a note, never a
 * divergence, since RFC 5321 4.2 leaves the text to the server.
 */
#ifndef SMTP_REPLAY_COMPARE_H
#define SMTP_REPLAY_COMPARE_H

#include <stddef.h>

#define CMP_TEXT_MAX	512

struct cmp_reply {
	int		code;		/* 0: none or malformed */
	unsigned	ecls, esub, edet; /* ecls 0: no enhanced code */
	char		text[CMP_TEXT_MAX]; /* lines joined by " / " */
};

/* From a runner's "got" column (escaped raw bytes, CRLF as \r\n). */
void	cmp_from_got(struct cmp_reply *r, const char *got);

/* From a code, an enhanced code and the text (lines joined by \n). */
void	cmp_from_parts(struct cmp_reply *r, int code, unsigned ecls,
	    unsigned esub, unsigned edet, const char *text);

/* The text with volatile tokens masked, into out (always terminated). */
void	cmp_normalise(const char *in, char *out, size_t cap);

/*
 * 0 when got holds against want, 1 when code or enhanced code differ.
 * note (cap bytes) says what differs, or notes a text difference
 * after normalisation (then the return is still 0); "" if none.
 */
int	cmp_match(const struct cmp_reply *want, const struct cmp_reply *got,
	    char *note, size_t cap);

/* "250 2.1.0" or "250" into buf. */
const char *cmp_codes(const struct cmp_reply *r, char *buf, size_t cap);

#endif
