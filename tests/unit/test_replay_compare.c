/*
 * test_replay_compare - smtp-replay's reply comparison (compare.c):
 * code and enhanced code decide, volatile text is masked, a text
 * difference is only a note.  compare.c is a tool source with no
 * library dependency, so it is compiled in here.
 */
#include "check.h"

#include "../../tools/smtp-replay/compare.c"

static void
parse_got(void)
{
	struct cmp_reply	r;

	cmp_from_got(&r, "250 2.1.0 Ok");
	CHECK_EQ(r.code, 250, "code");
	CHECK(r.ecls == 2 && r.esub == 1 && r.edet == 0, "enhanced");
	CHECK_STREQ(r.text, "Ok");

	cmp_from_got(&r, "250-mx.example.test\\r\\n250-PIPELINING\\r\\n"
	    "250 CHUNKING");
	CHECK_EQ(r.code, 250, "multi-line code");
	CHECK_EQ(r.ecls, 0u, "no enhanced code");
	CHECK_STREQ(r.text, "mx.example.test / PIPELINING / CHUNKING");

	/* Enhanced code on every line (RFC 3463); the last one counts. */
	cmp_from_got(&r, "550-5.7.1 first\\r\\n550 5.7.1 second");
	CHECK(r.code == 550 && r.ecls == 5 && r.esub == 7 && r.edet == 1,
	    "multi-line enhanced");
	CHECK_STREQ(r.text, "first / second");

	/* Several replies (expect-count): the first is taken. */
	cmp_from_got(&r, "250 2.0.0 Ok ; 500 5.5.1 no");
	CHECK(r.code == 250 && r.edet == 0, "first of several");

	/* Not an enhanced code: 6.x, a missing part, letters. */
	cmp_from_got(&r, "250 6.1.0 x");
	CHECK_EQ(r.ecls, 0u, "class 6 is not a class");
	cmp_from_got(&r, "250 2.1 x");
	CHECK_EQ(r.ecls, 0u, "two parts");
	cmp_from_got(&r, "250 2.1.0x");
	CHECK_EQ(r.ecls, 0u, "glued to text");
	cmp_from_got(&r, NULL);
	CHECK_EQ(r.code, 0, "NULL");
	cmp_from_got(&r, "2");
	CHECK_EQ(r.code, 0, "short");
}

static void
parse_parts(void)
{
	struct cmp_reply	r;

	cmp_from_parts(&r, 250, 2, 0, 0, "2.0.0 Ok: queued as EB2E0A76D26");
	CHECK_STREQ(r.text, "Ok: queued as EB2E0A76D26",
	    "recorded text loses its enhanced code");
	cmp_from_parts(&r, 250, 0, 0, 0, "a\nb");
	CHECK_STREQ(r.text, "a / b");
}

static const char *
norm(const char *in)
{
	static char	out[CMP_TEXT_MAX];

	cmp_normalise(in, out, sizeof(out));
	return (out);
}

static void
normalise(void)
{
	char	a[CMP_TEXT_MAX];

	/* Postfix and Exim queue ids, PIDs, dates, hosts, brackets. */
	(void)snprintf(a, sizeof(a), "%s", norm("Ok: queued as EB2E0A76D26"));
	CHECK_STREQ(a, norm("Ok: queued as 8A640A8B35C"), "postfix ids");
	(void)snprintf(a, sizeof(a), "%s", norm("OK id=1abc23-000ABC-XY"));
	CHECK_STREQ(a, norm("OK id=1zzz99-00QQQQ-AB"), "exim ids");
	(void)snprintf(a, sizeof(a), "%s",
	    norm("mx1.example.test ESMTP Exim 4.96 Mon, 02 Mar 2026 10:00:00 "
	    "+0000"));
	CHECK_STREQ(a, norm("mx2.example.org ESMTP Exim 4.97 Tue, 29 Nov "
	    "2026 03:44:58 +0100"), "greeting with host and date");
	(void)snprintf(a, sizeof(a), "%s", norm("Hello [127.0.0.1] pid 4242"));
	CHECK_STREQ(a, norm("Hello [10.1.2.3] pid 17"), "brackets, pids");
	CHECK_STREQ(norm("queued as X1."), "queued as <n>.",
	    "a full stop stays");
	(void)snprintf(a, sizeof(a), "%s", norm("Ok"));
	CHECK(strcmp(a, norm("Recipient rejected")) != 0,
	    "words still count");
	/* Bounded: a long input is cut, never overrun. */
	{
		char	big[4000], small[16];

		memset(big, 'a', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		cmp_normalise(big, small, sizeof(small));
		CHECK_EQ(strlen(small), sizeof(small) - 1, "cut");
		cmp_normalise("[unterminated", small, sizeof(small));
		CHECK_STREQ(small, "[unterminated");
	}
}

static void
match(void)
{
	struct cmp_reply	w, g;
	char			note[300];

	cmp_from_parts(&w, 250, 2, 0, 0, "2.0.0 Ok: queued as EB2E0A76D26");
	cmp_from_got(&g, "250 2.0.0 Ok: queued as 0C1D2E3F4A5");
	CHECK_EQ(cmp_match(&w, &g, note, sizeof(note)), 0, "same");
	CHECK_STREQ(note, "", "queue id masked: no note");

	cmp_from_got(&g, "250 2.0.0 Accepted");
	CHECK_EQ(cmp_match(&w, &g, note, sizeof(note)), 0, "text only");
	CHECK(strncmp(note, "text differs", 12) == 0, "a note: %s", note);

	cmp_from_got(&g, "250 Ok");
	CHECK_EQ(cmp_match(&w, &g, note, sizeof(note)), 1, "enhanced");
	CHECK_STREQ(note, "expected 250 2.0.0, got 250");

	cmp_from_got(&g, "451 4.3.0 later");
	CHECK_EQ(cmp_match(&w, &g, note, sizeof(note)), 1, "code");
	CHECK_STREQ(note, "expected 250 2.0.0, got 451 4.3.0");
}

int
main(void)
{
	parse_got();
	parse_parts();
	normalise();
	match();
	return (check_done("replay_compare"));
}
