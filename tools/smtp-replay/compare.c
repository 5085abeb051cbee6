/*
 * compare.c - see compare.h.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "compare.h"

#define MIN_LEN(a, b)	((a) < (b) ? (a) : (b))

/* Append n bytes of s to out[*len], keeping room for the NUL. */
static void
put(char *out, size_t cap, size_t *len, const char *s, size_t n)
{
	if (cap == 0)
		return;
	if (n > cap - 1 - *len)
		n = cap - 1 - *len;
	memcpy(out + *len, s, n);
	*len += n;
	out[*len] = '\0';
}

/* "d.d{1,3}.d{1,3}" at p, then blank or end: RFC 3463 2. */
static size_t
parse_enhanced(const char *p, unsigned *c, unsigned *s, unsigned *d)
{
	unsigned	 v[3] = { 0, 0, 0 };
	const char	*q = p;

	for (int i = 0; i < 3; i++) {
		size_t	n = 0;

		while (isdigit((unsigned char)*q) && n < 3) {
			v[i] = v[i] * 10 + (unsigned)(*q++ - '0');
			n++;
		}
		if (n == 0 || (i == 0 && (n != 1 || v[0] < 2 || v[0] > 5)))
			return (0);
		if (i < 2 && *q++ != '.')
			return (0);
	}
	if (*q != '\0' && *q != ' ')
		return (0);
	*c = v[0];
	*s = v[1];
	*d = v[2];
	return ((size_t)(q - p));
}

/*
 * RFC 3463 puts the enhanced code at the start of every line's text;
 * the last line's is the reply's.  It is compared on its own, so it is
 * taken out of the text.
 */
static void
strip_enhanced(struct cmp_reply *r, const char **t, int last)
{
	unsigned	c, s, d;
	size_t		k;

	if ((k = parse_enhanced(*t, &c, &s, &d)) == 0)
		return;
	*t += k + ((*t)[k] == ' ');
	if (last) {
		r->ecls = c;
		r->esub = s;
		r->edet = d;
	}
}

/* One reply line "NNN-text" / "NNN text": code, enhanced, text. */
static void
take_line(struct cmp_reply *r, const char *line, size_t n, size_t *tl,
    int last)
{
	char		 buf[CMP_TEXT_MAX];
	const char	*t;

	if (n >= sizeof(buf))
		n = sizeof(buf) - 1;
	memcpy(buf, line, n);
	buf[n] = '\0';
	if (n >= 3 && isdigit((unsigned char)buf[0]) &&
	    isdigit((unsigned char)buf[1]) && isdigit((unsigned char)buf[2]))
		r->code = (buf[0] - '0') * 100 + (buf[1] - '0') * 10 +
		    (buf[2] - '0');
	t = n > 4 ? buf + 4 : "";
	strip_enhanced(r, &t, last);
	if (*t == '\0')	/* "250 " ending an EHLO reply: nothing to say */
		return;
	if (*tl > 0)
		put(r->text, sizeof(r->text), tl, " / ", 3);
	put(r->text, sizeof(r->text), tl, t, strlen(t));
}

void
cmp_from_got(struct cmp_reply *r, const char *got)
{
	const char	*p = got, *e;
	size_t		 tl = 0;

	memset(r, 0, sizeof(*r));
	if (got == NULL)
		return;
	/* Several replies are joined by " ; ": the first is the one. */
	if ((e = strstr(p, " ; ")) == NULL)
		e = p + strlen(p);
	while (p < e) {
		const char	*nl = strstr(p, "\\r\\n");
		size_t		 n;

		if (nl == NULL || nl > e)
			nl = e;
		n = (size_t)(nl - p);
		take_line(r, p, n, &tl, nl + 4 >= e);
		p = nl + (nl < e ? 4 : 0);
		if (nl == e)
			break;
	}
}

void
cmp_from_parts(struct cmp_reply *r, int code, unsigned ecls, unsigned esub,
    unsigned edet, const char *text)
{
	const char	*p = text != NULL ? text : "";
	size_t		 tl = 0;

	memset(r, 0, sizeof(*r));
	while (*p != '\0') {
		const char	*nl = strchr(p, '\n'), *t;
		char		 line[CMP_TEXT_MAX];
		size_t		 n = nl != NULL ? (size_t)(nl - p) : strlen(p);

		(void)snprintf(line, sizeof(line), "%.*s", (int)MIN_LEN(n,
		    sizeof(line) - 1), p);
		t = line;
		strip_enhanced(r, &t, 0);
		p += n + (nl != NULL);
		if (*t == '\0')
			continue;
		if (tl > 0)
			put(r->text, sizeof(r->text), &tl, " / ", 3);
		put(r->text, sizeof(r->text), &tl, t, strlen(t));
	}
	r->code = code;
	r->ecls = ecls;
	r->esub = esub;
	r->edet = edet;
}

static const char *const names[] = {
	"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun", "Jan", "Feb",
	"Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
};

/* What a token stands for once its punctuation is set aside. */
static const char *
classify(const char *t, size_t n)
{
	int	digit = 0, alpha = 0, dot = 0, at = 0;

	for (size_t i = 0; i < n; i++) {
		digit |= isdigit((unsigned char)t[i]) != 0;
		alpha |= isalpha((unsigned char)t[i]) != 0;
		dot |= t[i] == '.';
		at |= t[i] == '@';
	}
	if (at)
		return ("<addr>");
	if (dot && alpha)
		return ("<host>");	/* mx.example.test, host names */
	if (digit)
		return ("<n>");		/* queue ids, PIDs, times, sizes */
	if (n == 3)
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (strncmp(t, names[i], 3) == 0)
				return ("<d>");
	return (NULL);
}

void
cmp_normalise(const char *in, char *out, size_t cap)
{
	size_t	len = 0;

	if (cap == 0)
		return;
	out[0] = '\0';
	for (const char *p = in; *p != '\0';) {
		const char	*s = p, *kind;
		size_t		 n;

		if (strchr(" /<>()[],;:=\"'", *p) != NULL) {
			/* Bracketed content: "[127.0.0.1]", "[12345]". */
			if (*p == '[' && (s = strchr(p, ']')) != NULL) {
				put(out, cap, &len, "[<x>]", 5);
				p = s + 1;
				continue;
			}
			put(out, cap, &len, p++, 1);
			continue;
		}
		while (*p != '\0' && strchr(" /<>()[],;:=\"'", *p) == NULL)
			p++;
		n = (size_t)(p - s);
		/* A trailing full stop ends a sentence, not a name. */
		if (n > 1 && s[n - 1] == '.')
			n--;
		if ((kind = classify(s, n)) != NULL)
			put(out, cap, &len, kind, strlen(kind));
		else
			put(out, cap, &len, s, n);
		put(out, cap, &len, s + n, (size_t)(p - s) - n);
	}
}

const char *
cmp_codes(const struct cmp_reply *r, char *buf, size_t cap)
{
	if (r->ecls != 0)
		(void)snprintf(buf, cap, "%03d %u.%u.%u", r->code, r->ecls,
		    r->esub, r->edet);
	else
		(void)snprintf(buf, cap, "%03d", r->code);
	return (buf);
}

int
cmp_match(const struct cmp_reply *want, const struct cmp_reply *got,
    char *note, size_t cap)
{
	char	a[CMP_TEXT_MAX], b[CMP_TEXT_MAX], ca[32], cb[32];

	if (cap > 0)
		note[0] = '\0';
	if (want->code != got->code || want->ecls != got->ecls ||
	    want->esub != got->esub || want->edet != got->edet) {
		(void)snprintf(note, cap, "expected %s, got %s",
		    cmp_codes(want, ca, sizeof(ca)),
		    cmp_codes(got, cb, sizeof(cb)));
		return (1);
	}
	cmp_normalise(want->text, a, sizeof(a));
	cmp_normalise(got->text, b, sizeof(b));
	if (strcmp(a, b) != 0)
		(void)snprintf(note, cap, "text differs: \"%.150s\" vs "
		    "\"%.150s\"", want->text, got->text);
	return (0);
}
