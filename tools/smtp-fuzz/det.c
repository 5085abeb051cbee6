/*
 * det.c - the deterministic stage.  Random mutation finds a bug that
 * needs one precise change (the 5th RCPT, LF.LF after AUTH, a 257-octet
 * parameter) only by luck; so, as AFL does before its random stage,
 * every seed first gets each single systematic mutation once:
 *
 *   0 EOD      every end-of-data variant on every DATA (CONFORMANCE V1)
 *   1 BODY     DATA body empty or one over-long line; BDAT size 0, 1001
 *              and LAST toggled; STARTTLS with plaintext injected
 *   2 SESSION  delete a step, repeat it 1, 3 or 7 more times, pipeline
 *              it with the next one (RFC 2920)
 *   3 MOVE     a copy of a step at every other place
 *   4 LENGTH   every token of every line grown to the RFC 5321 4.5.3.1
 *              limits plus one (local-part 64, path 256, command line
 *              512, text line 1000)
 *   5 BYTES    NUL, CR, LF and 8-bit octets after the verb and at the
 *              end of every line
 *
 * The stages run in this order over all seeds (stage outer, seed
 * inner), so the cheap, telling ones come first for every state.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#define BODY_SLOTS	3
#define SESSION_SLOTS	5
#define LEN_TOKENS	8
#define LEN_SLOTS	(LEN_TOKENS * 4)
#define BYTE_SLOTS	10

static const size_t	 grow_to[4] = { 65, 257, 513, 1001 };
static const char	 odd_bytes[5] = { '\0', '\r', '\n', '\x80', '\xff' };

/* Command lines of the session, counted over LINE and PIPE steps. */
static size_t
nlines(const struct fz_session *s)
{
	size_t	n = 0;

	for (size_t i = 0; i < s->n; i++)
		if (s->steps[i].kind == FZ_LINE || s->steps[i].kind == FZ_PIPE)
			n += s->steps[i].nlines;
	return (n);
}

/* The k-th command line of the session, or NULL. */
static struct fz_bytes *
line_at(struct fz_session *s, size_t k)
{
	for (size_t i = 0; i < s->n; i++) {
		struct fz_step *st = &s->steps[i];
		if (st->kind != FZ_LINE && st->kind != FZ_PIPE)
			continue;
		if (k < st->nlines)
			return (&st->lines[k]);
		k -= st->nlines;
	}
	return (NULL);
}

size_t
fz_det_count(const struct fz_session *s, unsigned stage)
{
	size_t	ndata = 0;

	switch (stage) {
	case 0:
		for (size_t i = 0; i < s->n; i++)
			ndata += s->steps[i].kind == FZ_DATA;
		return (ndata * (fz_neods - 1));
	case 1:
		return (s->n * BODY_SLOTS);
	case 2:
		return (s->n * SESSION_SLOTS);
	case 3:
		return (s->n * (s->n + 1));
	case 4:
		return (nlines(s) * LEN_SLOTS);
	case 5:
		return (nlines(s) * BYTE_SLOTS);
	}
	return (0);
}

static int
set_term(struct fz_session *s, size_t k)
{
	size_t	per = fz_neods - 1;

	for (size_t i = 0; i < s->n; i++) {
		if (s->steps[i].kind != FZ_DATA)
			continue;
		if (k < per) {
			s->steps[i].term = (unsigned)(k + 1);
			return (0);
		}
		k -= per;
	}
	return (1);
}

/* n octets of text: lines of 78 'x' (or one line when long_line). */
static int
set_body(struct fz_step *st, size_t n, int long_line)
{
	uint8_t	*p = malloc(n + 1);
	int	 rc;

	if (p == NULL)
		return (-1);
	memset(p, 'x', n);
	for (size_t i = 78; !long_line && i + 1 < n; i += 80)
		memcpy(p + i, "\r\n", 2);
	rc = fz_bytes_set(&st->body, p, n);
	free(p);
	return (rc);
}

static int
body(struct fz_session *s, size_t k)
{
	struct fz_step	*st = &s->steps[k / BODY_SLOTS];
	size_t		 slot = k % BODY_SLOTS;

	switch (st->kind) {
	case FZ_DATA:
		/* RFC 5321 4.5.3.1.6: a text line is at most 1000 octets. */
		return (slot == 2 ? 1 : set_body(st, slot == 0 ? 0 : 1001,
		    1));
	case FZ_BDAT:
		/* RFC 3030 2: a chunk of size 0 is legal, LAST or not. */
		if (slot == 2) {
			st->last = !st->last;
			return (0);
		}
		return (set_body(st, slot == 0 ? 0 : 1001, 0));
	case FZ_STARTTLS:
		if (slot != 0)
			return (1);
		st->inject = !st->inject;
		return (0);
	default:
		return (1);
	}
}

/* Insert a copy of step i before position j. */
static int
insert_copy(struct fz_session *s, size_t i, size_t j)
{
	struct fz_step	tmp;

	if (s->n >= FZ_MAX_STEPS || i >= s->n || j > s->n)
		return (1);
	if (fz_session_copy_step(&tmp, &s->steps[i]) != 0)
		return (-1);
	memmove(&s->steps[j + 1], &s->steps[j], (s->n - j) * sizeof(tmp));
	s->steps[j] = tmp;
	s->n++;
	return (0);
}

/* Step i and i+1 in one write, if both are command lines. */
static int
merge_next(struct fz_session *s, size_t i)
{
	struct fz_step	*a = &s->steps[i], *b = a + 1;

	if (i + 1 >= s->n || (a->kind != FZ_LINE && a->kind != FZ_PIPE) ||
	    (b->kind != FZ_LINE && b->kind != FZ_PIPE) ||
	    a->nlines + b->nlines > FZ_MAX_LINES)
		return (1);
	for (size_t k = 0; k < b->nlines; k++) {
		a->lines[a->nlines++] = b->lines[k];
		memset(&b->lines[k], 0, sizeof(b->lines[k]));
	}
	b->nlines = 0;
	a->kind = FZ_PIPE;
	return (fz_session_remove(s, i + 1) == 0 ? 0 : -1);
}

static int
session(struct fz_session *s, size_t k)
{
	static const size_t	 more[3] = { 1, 3, 7 };
	size_t			 i = k / SESSION_SLOTS, slot = k % SESSION_SLOTS;
	int			 rc = 0;

	if (slot == 0)
		return (s->n > 1 ? fz_session_remove(s, i) : 1);
	if (slot == 4)
		return (merge_next(s, i));
	for (size_t m = 0; m < more[slot - 1] && rc == 0; m++)
		rc = insert_copy(s, i, i + 1);
	return (rc < 0 ? -1 : 0);
}

static int
move(struct fz_session *s, size_t k)
{
	size_t	i = k / (s->n + 1), j = k % (s->n + 1);

	/* j == i or i + 1 puts the copy next to itself: stage 2 did. */
	if (j == i || j == i + 1)
		return (1);
	return (insert_copy(s, i, j));
}

/* Bounds of the t-th blank-separated token of b; 1 if none. */
static int
token(const struct fz_bytes *b, size_t t, size_t *off, size_t *len)
{
	size_t	i = 0, e;

	for (size_t n = 0; i < b->n; n++) {
		while (i < b->n && b->p[i] == ' ')
			i++;
		for (e = i; e < b->n && b->p[e] != ' '; e++)
			;
		if (n == t && e > i) {
			*off = i;
			*len = e - i;
			return (0);
		}
		i = e;
	}
	return (1);
}

static int
grow(struct fz_session *s, size_t k)
{
	struct fz_bytes	*b = line_at(s, k / LEN_SLOTS);
	size_t		 slot = k % LEN_SLOTS, want = grow_to[slot % 4];
	size_t		 off, len, at;
	uint8_t		*pad;

	if (b == NULL || token(b, slot / 4, &off, &len) != 0 || len >= want)
		return (1);
	/* An address grows inside its brackets: local part and domain. */
	at = len > 1 && b->p[off + len - 1] == '>' ? off + len - 1 :
	    off + len;
	if ((pad = malloc(want - len)) == NULL)
		return (-1);
	memset(pad, 'x', want - len);
	fz_bytes_splice(b, at, 0, pad, want - len, FZ_MAX_LINE);
	free(pad);
	return (0);
}

static int
odd_byte(struct fz_session *s, size_t k)
{
	struct fz_bytes	*b = line_at(s, k / BYTE_SLOTS);
	size_t		 slot = k % BYTE_SLOTS, at;

	if (b == NULL)
		return (1);
	at = b->n;
	if (slot >= 5) {
		at = 0;
		while (at < b->n && b->p[at] != ' ')
			at++;
	}
	fz_bytes_splice(b, at, 0, &odd_bytes[slot % 5], 1, FZ_MAX_LINE);
	return (0);
}

int
fz_det_apply(struct fz_session *s, unsigned stage, size_t k)
{
	if (k >= fz_det_count(s, stage))
		return (1);
	switch (stage) {
	case 0:
		return (set_term(s, k));
	case 1:
		return (body(s, k));
	case 2:
		return (session(s, k));
	case 3:
		return (move(s, k));
	case 4:
		return (grow(s, k));
	case 5:
		return (odd_byte(s, k));
	}
	return (1);
}
