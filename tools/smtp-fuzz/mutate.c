/*
 * mutate.c - mutations at two levels.  Session: insert, delete, repeat
 * and reorder steps, splice two sessions, regroup pipelining.  Field:
 * verb case, parameters and addresses from the dictionary, lengths at
 * and across the RFC 5321 4.5.3.1 limits, SIZE and BDAT numbers, AUTH
 * payloads, NUL/CR/LF/8-bit bytes, end-of-data variants (V1).
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

/* splitmix64: small, seedable, the same on every platform. */
uint64_t
fz_rand(struct fz_rng *r)
{
	uint64_t	z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return (z ^ (z >> 31));
}

size_t
fz_below(struct fz_rng *r, size_t n)
{
	return (n == 0 ? 0 : (size_t)(fz_rand(r) % n));
}

/* RFC 5321 4.5.3.1: local-part 64, domain 255, path 256, line 512/1000. */
static const size_t lengths[] = {
	63, 64, 65, 200, 255, 256, 257, 510, 511, 512, 513, 998, 999, 1000,
	1001, 2048, 4000
};

static const char *const numbers[] = {
	"0", "1", "-1", "00000000000000000001", "2147483647", "2147483648",
	"4294967295", "4294967296", "9223372036854775807",
	"18446744073709551615", "18446744073709551616", "1e9", "0x10", " 1",
	"10240000", "10240001"
};

/* Built-in dictionary: verbs, parameters, addresses, keywords. */
static const char *const words[] = {
	"EHLO", "HELO", "MAIL FROM:", "RCPT TO:", "DATA", "BDAT", "RSET",
	"NOOP", "QUIT", "VRFY", "EXPN", "HELP", "AUTH", "STARTTLS", "LAST",
	"SIZE=", "BODY=8BITMIME", "BODY=BINARYMIME", "SMTPUTF8", "RET=FULL",
	"RET=HDRS", "ENVID=", "NOTIFY=NEVER", "NOTIFY=SUCCESS,DELAY",
	"ORCPT=rfc822;", "AUTH=<>", "<>", "<postmaster>", "<@a,@b:c@d>",
	"<\"a b\"@x>", "<a@[127.0.0.1]>", "<a@[IPv6:::1]>", "PLAIN", "LOGIN",
	"CRAM-MD5", "XOAUTH2", "=", "*", "AGZvbwBiYXI=", "%", "\\", "\"",
	"\xc3\xa4", "\xe2\x80\xae", "\xff\xfe", "..", "."
};

static const char *const fill_bytes = "\0\r\n\x80\xff\t .:<>";

/* Replace b[off, off + cut) with ins[0, n); b stays within cap. */
void
fz_bytes_splice(struct fz_bytes *b, size_t off, size_t cut, const void *ins,
    size_t n, size_t cap)
{
	uint8_t	*q;
	size_t	 len;

	if (off > b->n || cut > b->n - off || n > cap)
		return;
	len = b->n - cut;
	if (n > cap - len)
		n = cap - len;
	if ((q = malloc(len + n + 1)) == NULL)
		return;
	memcpy(q, b->p, off);
	if (n > 0)
		memcpy(q + off, ins, n);
	memcpy(q + off + n, b->p + off + cut, b->n - off - cut);
	q[len + n] = '\0';
	free(b->p);
	b->p = q;
	b->n = len + n;
}

static const char *
pick_word(struct fz_rng *r, const char *const *dict, size_t ndict)
{
	size_t	k = fz_below(r, sizeof(words) / sizeof(words[0]) + ndict);

	return (k < ndict ? dict[k] : words[k - ndict]);
}

/* Bounds of a random blank-separated token of b. */
static void
pick_token(struct fz_rng *r, const struct fz_bytes *b, size_t *off,
    size_t *len)
{
	size_t	starts[64], n = 0, e;

	for (size_t i = 0; i < b->n && n < 64; i++)
		if (i == 0 || b->p[i - 1] == ' ')
			starts[n++] = i;
	*off = n > 0 ? starts[fz_below(r, n)] : 0;
	for (e = *off; e < b->n && b->p[e] != ' '; e++)
		;
	*len = e - *off;
}

static void
mutate_line(struct fz_rng *r, struct fz_bytes *b, const char *const *dict,
    size_t ndict)
{
	size_t		 off, len, want;
	const char	*w;
	uint8_t		*pad;

	pick_token(r, b, &off, &len);
	switch (fz_below(r, 8)) {
	case 0:		/* verb case */
		for (size_t i = 0; i < b->n && b->p[i] != ' '; i++)
			if (fz_below(r, 2) && ((b->p[i] | 32) >= 'a' &&
			    (b->p[i] | 32) <= 'z'))
				b->p[i] ^= 32;
		break;
	case 1:		/* a token grows to a limit (RFC 5321 4.5.3.1) */
		want = lengths[fz_below(r, sizeof(lengths) /
		    sizeof(lengths[0]))];
		if (want <= len || (pad = malloc(want - len)) == NULL)
			break;
		memset(pad, "xA9"[fz_below(r, 3)], want - len);
		fz_bytes_splice(b, off + len, 0, pad, want - len, FZ_MAX_LINE);
		free(pad);
		break;
	case 2:		/* a number where a number goes (SIZE=...) */
		w = numbers[fz_below(r, sizeof(numbers) / sizeof(numbers[0]))];
		if (len > 5 && memcmp(b->p + off, "SIZE=", 5) == 0)
			fz_bytes_splice(b, off + 5, len - 5, w, strlen(w),
			    FZ_MAX_LINE);
		else
			fz_bytes_splice(b, b->n, 0, " SIZE=", 6, FZ_MAX_LINE),
			fz_bytes_splice(b, b->n, 0, w, strlen(w), FZ_MAX_LINE);
		break;
	case 3:		/* replace a token with a dictionary word */
		w = pick_word(r, dict, ndict);
		fz_bytes_splice(b, off, len, w, strlen(w), FZ_MAX_LINE);
		break;
	case 4:		/* append a parameter */
		w = pick_word(r, dict, ndict);
		fz_bytes_splice(b, b->n, 0, " ", 1, FZ_MAX_LINE);
		fz_bytes_splice(b, b->n, 0, w, strlen(w), FZ_MAX_LINE);
		break;
	case 5:		/* NUL, CR, LF, 8-bit, blanks, specials */
		fz_bytes_splice(b, fz_below(r, b->n + 1), 0,
		    fill_bytes + fz_below(r, 11), 1, FZ_MAX_LINE);
		break;
	case 6:		/* delete a token */
		fz_bytes_splice(b, off, len, "", 0, FZ_MAX_LINE);
		break;
	default:	/* an AUTH payload: random base64-ish bytes */
		want = fz_below(r, 64);
		for (size_t i = 0; i < want; i++) {
			char c = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="[fz_below(r, 65)];
			fz_bytes_splice(b, off + len, 0, &c, 1, FZ_MAX_LINE);
		}
		break;
	}
}

static void
mutate_body(struct fz_rng *r, struct fz_step *st)
{
	size_t	want;
	uint8_t	*p;

	/* BDAT: the size (0 and the limits) is what matters most. */
	switch (st->kind == FZ_BDAT && fz_below(r, 2) ? 0 :
	    fz_below(r, st->kind == FZ_DATA ? 4 : 3)) {
	case 0:		/* BDAT and message sizes: empty, around the limits */
		want = fz_below(r, 2) == 0 ? 0 : lengths[fz_below(r,
		    sizeof(lengths) / sizeof(lengths[0]))];
		if ((p = malloc(want + 1)) == NULL)
			return;
		memset(p, 'x', want);
		for (size_t i = 80; i < want; i += 80)
			p[i] = '\n';
		fz_bytes_set(&st->body, p, want);
		free(p);
		break;
	case 1:
		fz_bytes_splice(&st->body, fz_below(r, st->body.n + 1), 0,
		    fill_bytes + fz_below(r, 11), 1, FZ_MAX_BODY);
		break;
	case 2:
		st->last = !st->last;
		break;
	default:	/* an end-of-data variant (CONFORMANCE.md V1) */
		st->term = (unsigned)fz_below(r, fz_neods);
		break;
	}
}

static void
mutate_field(struct fz_rng *r, struct fz_session *s, const char *const *dict,
    size_t ndict)
{
	struct fz_step	*st;

	if (s->n == 0)
		return;
	st = &s->steps[fz_below(r, s->n)];
	/* Smuggling (CONFORMANCE.md V1) gets a fair share on its own. */
	if (fz_below(r, 8) == 0)
		for (size_t i = 0; i < s->n; i++)
			if (s->steps[i].kind == FZ_DATA && fz_below(r, 2)) {
				s->steps[i].term = 1 + (unsigned)fz_below(r,
				    fz_neods - 1);
				return;
			}
	if (st->kind == FZ_DATA || st->kind == FZ_BDAT)
		mutate_body(r, st);
	else if (st->kind == FZ_STARTTLS)
		st->inject = !st->inject;
	else if (st->nlines > 0)
		mutate_line(r, &st->lines[fz_below(r, st->nlines)], dict,
		    ndict);
}

/* Merge step i+1 into step i (both lines), or split a group. */
static void
regroup(struct fz_rng *r, struct fz_session *s)
{
	struct fz_step	*a, *b;
	size_t		 i;

	if (s->n < 2)
		return;
	i = fz_below(r, s->n - 1);
	a = &s->steps[i];
	b = &s->steps[i + 1];
	if (a->kind == FZ_PIPE && fz_below(r, 2) && s->n < FZ_MAX_STEPS &&
	    a->nlines > 1) {
		/* split: the last line of a becomes its own step */
		memmove(b + 1, b, (s->n - i - 1) * sizeof(*b));
		s->n++;
		memset(b, 0, sizeof(*b));
		b->kind = FZ_LINE;
		b->nlines = 1;
		b->lines[0] = a->lines[--a->nlines];
		memset(&a->lines[a->nlines], 0, sizeof(a->lines[0]));
		return;
	}
	if ((a->kind != FZ_LINE && a->kind != FZ_PIPE) ||
	    (b->kind != FZ_LINE && b->kind != FZ_PIPE) ||
	    a->nlines + b->nlines > FZ_MAX_LINES)
		return;
	for (size_t k = 0; k < b->nlines; k++) {
		a->lines[a->nlines++] = b->lines[k];
		memset(&b->lines[k], 0, sizeof(b->lines[k]));
	}
	b->nlines = 0;
	a->kind = FZ_PIPE;
	fz_session_remove(s, i + 1);
}

static void
mutate_session(struct fz_rng *r, struct fz_session *s,
    const struct fz_session *donor)
{
	struct fz_step	tmp;
	size_t		i, j;

	switch (fz_below(r, 6)) {
	case 0:		/* delete */
		if (s->n > 1)
			fz_session_remove(s, fz_below(r, s->n));
		break;
	case 1:		/* repeat a step (RCPT #5, BDAT after BDAT...) */
	case 2:		/* insert a step of the donor */
		if (s->n == 0 || s->n >= FZ_MAX_STEPS)
			break;
		i = fz_below(r, s->n);
		j = fz_below(r, s->n + 1);
		if (!(fz_below(r, 2) == 0 && donor != NULL && donor->n > 0)) {
			if (fz_session_copy_step(&tmp, &s->steps[i]) != 0)
				break;
		} else if (fz_session_copy_step(&tmp,
		    &donor->steps[fz_below(r, donor->n)]) != 0)
			break;
		memmove(&s->steps[j + 1], &s->steps[j],
		    (s->n - j) * sizeof(tmp));
		s->steps[j] = tmp;
		s->n++;
		break;
	case 3:		/* reorder */
		if (s->n < 2)
			break;
		i = fz_below(r, s->n);
		j = fz_below(r, s->n);
		tmp = s->steps[i];
		s->steps[i] = s->steps[j];
		s->steps[j] = tmp;
		break;
	case 4:		/* splice: our prefix, the donor's suffix */
		if (donor == NULL || donor->n == 0 || s->n == 0)
			break;
		i = fz_below(r, s->n) + 1;
		while (s->n > i)
			fz_session_remove(s, s->n - 1);
		for (j = fz_below(r, donor->n); j < donor->n &&
		    s->n < FZ_MAX_STEPS; j++)
			if (fz_session_copy_step(&s->steps[s->n],
			    &donor->steps[j]) == 0)
				s->n++;
		break;
	default:
		regroup(r, s);
		break;
	}
}

void
fz_mutate(struct fz_rng *r, struct fz_session *s,
    const struct fz_session *donor, const char *const *dict, size_t ndict)
{
	size_t	n = 1 + fz_below(r, 4);

	for (size_t i = 0; i < n; i++) {
		if (fz_below(r, 2))
			mutate_session(r, s, donor);
		else
			mutate_field(r, s, dict, ndict);
	}
}
