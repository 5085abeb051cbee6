/*
 * test_script.c - session scripts (reader, writer, round trip) and the
 * client's pure encoders (base64, AUTH mechanisms, DATA transparency,
 * BDAT headers).
 */
#include <glob.h>
#include <stdlib.h>

#include "check.h"
#include "smtpproto/smtpproto.h"

#define SP_NELEM_T(a)	(sizeof(a) / sizeof((a)[0]))

static sp_script *
parse_ok(const char *text)
{
	struct sp_script_error	 err;
	sp_script		*s = NULL;
	sp_err			 e = sp_script_parse(&s, text, strlen(text),
				    NULL, &err);

	CHECK_EQ(e, SP_E_OK, "parse: line %u: %s", err.line, err.msg);
	return (s);
}

static void
parse_bad(const char *text, unsigned line, const char *what)
{
	struct sp_script_error	 err;
	sp_script		*s = NULL;
	sp_err			 e = sp_script_parse(&s, text, strlen(text),
				    NULL, &err);

	CHECK_EQ(e, SP_E_FORMAT, "accepted: %s", text);
	CHECK_EQ(err.line, line, "%s: line %u (%s)", text, err.line, err.msg);
	CHECK(strstr(err.msg, what) != NULL, "%s: msg '%s' lacks '%s'", text,
	    err.msg, what);
	CHECK(s == NULL, "no script on error");
}

/* parse(write(s)) must equal s. */
static void
check_round_trip(const sp_script *s, const char *label)
{
	sp_script	*t = NULL;
	char		*out = NULL;
	size_t		 len = 0;

	CHECK_EQ(sp_script_write(s, &out, &len), SP_E_OK, "%s", label);
	if (out == NULL)
		return;
	t = parse_ok(out);
	CHECK(sp_script_equal(s, t), "%s: round trip differs:\n%s", label, out);
	sp_script_free(t);
	free(out);
}

static const char every_kind[] =
    "# a comment\n"
    "id: C9\n"
    "title: unknown verb gets 500\n"
    "rfc: 5321 4.2.4, 3.8\n"
    "level: MUST NOT\n"
    "fixture: helo rcpt\n"
    "tags: basic, verbs\n"
    "\n"
    "expect 220\n"
    "send EHLO ${helo}\n"
    "expect 2xx within 2s \"PIPELINING\"\n"
    "sendraw \"NOOP\\nNOOP\\r\\n\\x00\\t\\\\\\\"\\$\"\n"
    "expect-count 1 within 500ms\n"
    "expect 250|251 /^ok.*$/i\n"
    "pipeline\n"
    "MAIL FROM:<>\n"
    "  # skipped\n"
    "\"end\"\n"
    "RCPT TO:<${rcpt}>\n"
    "end\n"
    "expect any\n"
    "expect-silence 1.5s\n"
    "starttls\n"
    "data\n"
    "Subject: x\n"
    "\n"
    ".dot\n"
    "# not a comment\n"
    ".\n"
    "data @msg.eml\n"
    "data-body \"a\\r\\n.\\r\\n\"\n"
    "bdat 12 last \"hello\\r\\nworld\"\n"
    "bdat 5\n"
    "bdat-file @big file.eml 4096\n"
    "auth plain user \"p w\"\n"
    "auth CRAM-MD5 tim $SECRET\n"
    "sleep 2m\n"
    "quit\n"
    "expect-close\n"
    "expect-close 3s\n"
    "tls\n";

static void
test_every_kind(void)
{
	sp_script			*s = parse_ok(every_kind);
	const struct sp_script_meta	*m;
	const struct sp_script_step	*st;

	if (s == NULL)
		return;
	m = sp_script_get_meta(s);
	CHECK_STREQ(m->id, "C9");
	CHECK_STREQ(m->rfc, "5321 4.2.4, 3.8");
	CHECK_EQ(m->level, SP_LEVEL_MUST_NOT);
	CHECK_EQ(m->nfixtures, 2);
	CHECK_STREQ(m->fixtures[1], "rcpt");
	CHECK_EQ(m->ntags, 2);
	CHECK_STREQ(m->tags[1], "verbs");
	CHECK_EQ(sp_script_nsteps(s), 23, "%zu", sp_script_nsteps(s));
	st = sp_script_step_at(s, 0);
	CHECK(st->op == SP_STEP_EXPECT && st->line == 9 && st->expect.ncodes
	    == 1 && strcmp(st->expect.codes[0], "220") == 0);
	st = sp_script_step_at(s, 1);
	CHECK(st->op == SP_STEP_SEND && st->text.len == 12 &&
	    memcmp(st->text.p, "EHLO ${helo}", 12) == 0);
	st = sp_script_step_at(s, 2);
	CHECK(st->expect.within_ms == 2000 && !st->expect.regex &&
	    strcmp(st->expect.pattern, "PIPELINING") == 0 &&
	    strcmp(st->expect.codes[0], "2xx") == 0);
	st = sp_script_step_at(s, 3);
	CHECK(st->op == SP_STEP_SENDRAW && st->text.len == 17 &&
	    memcmp(st->text.p, "NOOP\nNOOP\r\n\0\t\\\"$$", 17) == 0);
	st = sp_script_step_at(s, 4);
	CHECK(st->op == SP_STEP_EXPECT_COUNT && st->count == 1 &&
	    st->ms == 500);
	st = sp_script_step_at(s, 5);
	CHECK(st->expect.ncodes == 2 && st->expect.regex && st->expect.icase &&
	    strcmp(st->expect.pattern, "^ok.*$") == 0);
	st = sp_script_step_at(s, 6);
	CHECK(st->op == SP_STEP_PIPELINE && st->nlines == 3 && st->line == 15 &&
	    st->lines[1].len == 3 && memcmp(st->lines[1].p, "end", 3) == 0);
	CHECK(sp_script_step_at(s, 7)->expect.ncodes == 0);
	CHECK(sp_script_step_at(s, 8)->ms == 1500);
	CHECK(sp_script_step_at(s, 9)->op == SP_STEP_STARTTLS);
	st = sp_script_step_at(s, 10);
	CHECK(st->op == SP_STEP_DATA && st->line == 24 && st->text.len == 37 &&
	    memcmp(st->text.p, "Subject: x\r\n\r\n.dot\r\n# not a comment\r\n",
	    37) == 0, "%zu", st->text.len);
	st = sp_script_step_at(s, 11);
	CHECK(st->op == SP_STEP_DATA && strcmp(st->path, "msg.eml") == 0);
	st = sp_script_step_at(s, 12);
	CHECK(st->op == SP_STEP_DATA_BODY && st->text.len == 6);
	st = sp_script_step_at(s, 13);
	CHECK(st->op == SP_STEP_BDAT && st->size == 12 && st->last &&
	    st->has_text && st->text.len == 12);
	st = sp_script_step_at(s, 14);
	CHECK(st->size == 5 && !st->last && !st->has_text);
	st = sp_script_step_at(s, 15);
	CHECK(st->op == SP_STEP_BDAT_FILE && st->size == 4096 &&
	    strcmp(st->path, "big file.eml") == 0);
	st = sp_script_step_at(s, 16);
	CHECK(st->mech == SP_AUTH_PLAIN && strcmp(st->secret, "p w") == 0);
	st = sp_script_step_at(s, 17);
	CHECK(st->mech == SP_AUTH_CRAM_MD5 && strcmp(st->user, "tim") == 0 &&
	    strcmp(st->secret, "$SECRET") == 0);
	CHECK(sp_script_step_at(s, 18)->ms == 120000);
	CHECK(sp_script_step_at(s, 19)->op == SP_STEP_QUIT);
	CHECK(sp_script_step_at(s, 20)->ms == 0);
	CHECK(sp_script_step_at(s, 21)->ms == 3000);
	CHECK(sp_script_step_at(s, 22)->op == SP_STEP_TLS);
	check_round_trip(s, "every kind");
	sp_script_free(s);
}

static void
test_errors(void)
{
	struct sp_script_error	 err;
	sp_script		*s = NULL;

	parse_bad("expect 220\nfrobnicate\n", 2, "unknown step");
	parse_bad("expect 2200\n", 1, "bad reply code");
	parse_bad("expect 620\n", 1, "invalid expect");
	parse_bad("expect 250 within 0s\n", 1, "bad time");
	parse_bad("\n\nsend \"abc\n", 3, "unterminated");
	parse_bad("sendraw \"a\\q\"\n", 1, "unknown escape");
	parse_bad("sendraw \"\\x4\"\n", 1, "\\x");
	parse_bad("sendraw plain\n", 1, "quoted");
	parse_bad("send \"a\" b\n", 1, "after the closing quote");
	parse_bad("pipeline\nNOOP\n", 2, "no 'end'");
	parse_bad("x\ndata\nbody\n", 1, "unknown step");
	parse_bad("data\nbody\n", 2, "no final '.'");
	parse_bad("expect 250\nid: late\n", 2, "after the first step");
	parse_bad("color: red\n", 1, "unknown header");
	parse_bad("id: a\nid: b\n", 2, "twice");
	parse_bad("level: MIGHT\n", 1, "level");
	parse_bad("expect-count x within 1s\n", 1, "bad count");
	parse_bad("expect-count 2 in 1s\n", 1, "within");
	parse_bad("sleep forever\n", 1, "bad time");
	parse_bad("auth digest-md5 a b\n", 1, "unknown mechanism");
	parse_bad("auth plain a\n", 1, "auth MECH USER SECRET");
	parse_bad("bdat x\n", 1, "bad size");
	parse_bad("bdat-file x.eml 10\n", 1, "bdat-file @file CHUNK");
	parse_bad("starttls now\n", 1, "no argument");
	parse_bad("bdat-file\n", 1, "bdat-file @file CHUNK");
	parse_bad("expect 250 /abc\n", 1, "closing /");
	CHECK_EQ(sp_script_parse(&s, "send a\nsend \0b\n", 15, NULL, &err),
	    SP_E_FORMAT, "raw NUL");
	CHECK_EQ(err.line, 2);
}

static void
add(sp_script *s, const struct sp_script_step *st)
{
	CHECK_EQ(sp_script_append(s, st), SP_E_OK, "append op %d", st->op);
}

/* Steps whose plain forms would be ambiguous must still come back. */
static void
test_awkward_round_trip(void)
{
	static const char *const	fx[] = { "rcpt" };
	struct sp_script_meta		m = { "X1", "t", NULL, SP_LEVEL_MAY,
					    fx, 1, NULL, 0 };
	struct sp_script_text		lines[4] = {
		{ (const uint8_t *)"end", 3 }, { (const uint8_t *)"#x", 2 },
		{ (const uint8_t *)"", 0 }, { (const uint8_t *)" sp ", 4 } };
	struct sp_script_step		st;
	uint8_t				all[256];
	sp_script			*s;
	static const char *const	texts[] = { "NOOP  ", "\"q", "",
					    "a\tb", "caf\xc3\xa9", "$$x" };
	static const char *const	bodies[] = { "no crlf", "a\r\n.\r\n",
					    "bare\nlf\r\n", "", "x\r\n\r\n",
					    ".\r\nz\r\n", "cr\rin\r\n" };

	if (sp_script_new(&s) != SP_E_OK)
		return;
	CHECK_EQ(sp_script_set_meta(s, &m), SP_E_OK);
	for (size_t i = 0; i < SP_NELEM_T(texts); i++) {
		memset(&st, 0, sizeof(st));
		st.op = SP_STEP_SEND;
		st.text.p = (const uint8_t *)texts[i];
		st.text.len = strlen(texts[i]);
		add(s, &st);
	}
	for (int i = 0; i < 256; i++)
		all[i] = (uint8_t)i;
	memset(&st, 0, sizeof(st));
	st.op = SP_STEP_SENDRAW;
	st.text.p = all;
	st.text.len = sizeof(all);
	add(s, &st);
	memset(&st, 0, sizeof(st));
	st.op = SP_STEP_PIPELINE;
	st.lines = lines;
	st.nlines = 4;
	add(s, &st);
	for (size_t i = 0; i < SP_NELEM_T(bodies); i++) {
		memset(&st, 0, sizeof(st));
		st.op = i % 2 ? SP_STEP_DATA : SP_STEP_DATA_BODY;
		st.text.p = (const uint8_t *)bodies[i];
		st.text.len = strlen(bodies[i]);
		add(s, &st);
	}
	memset(&st, 0, sizeof(st));
	st.op = SP_STEP_EXPECT;
	st.expect.pattern = "say \"hi\" \\ $";
	add(s, &st);
	st.expect.pattern = "a/b";
	st.expect.regex = 1;
	st.expect.within_ms = 1234;
	add(s, &st);
	memset(&st, 0, sizeof(st));
	st.op = SP_STEP_AUTH;
	st.mech = SP_AUTH_XOAUTH2;
	st.user = "";
	st.secret = "tok en\"";
	add(s, &st);
	memset(&st, 0, sizeof(st));
	st.op = SP_STEP_BDAT;
	st.size = 3;
	st.has_text = 1;
	st.text.p = (const uint8_t *)"\r\n.";
	st.text.len = 3;
	add(s, &st);
	check_round_trip(s, "awkward");
	sp_script_free(s);
}

/* Seeded random steps: whatever bytes they hold, the writer is exact. */
static void
test_random_round_trip(void)
{
	static const enum sp_script_op	ops[] = { SP_STEP_SEND,
					    SP_STEP_SENDRAW, SP_STEP_DATA,
					    SP_STEP_DATA_BODY, SP_STEP_BDAT,
					    SP_STEP_PIPELINE };
	struct sp_script_text		lines[3];
	struct sp_script_step		st;
	uint8_t				buf[3][40];
	uint32_t			seed = 12345;
	sp_script			*s;

	for (int round = 0; round < 200; round++) {
		if (sp_script_new(&s) != SP_E_OK)
			return;
		for (int k = 0; k < 8; k++) {
			memset(&st, 0, sizeof(st));
			seed = seed * 1103515245u + 12345u;
			st.op = ops[(seed >> 16) % SP_NELEM_T(ops)];
			for (int j = 0; j < 3; j++) {
				size_t	n = (seed >> 8) % 40;

				for (size_t i = 0; i < n; i++) {
					seed = seed * 1103515245u + 12345u;
					/* biased to the awkward bytes */
					buf[j][i] = (uint8_t)("\r\n.$\" #\\e"
					    [(seed >> 16) % 9]);
					if ((seed >> 20) % 5 == 0)
						buf[j][i] = (uint8_t)(seed >> 24);
				}
				lines[j].p = buf[j];
				lines[j].len = n;
			}
			st.text = lines[0];
			st.has_text = 1;
			st.size = st.text.len;
			if (st.op == SP_STEP_PIPELINE) {
				for (int j = 0; j < 3; j++)
					for (size_t i = 0; i < lines[j].len; i++)
						if (buf[j][i] == '\r' ||
						    buf[j][i] == '\n')
							buf[j][i] = 'x';
				st.lines = lines;
				st.nlines = 3;
				st.text.len = 0;
			}
			add(s, &st);
		}
		check_round_trip(s, "random");
		sp_script_free(s);
	}
}

static void
test_append_checks(void)
{
	struct sp_script_step	st;
	sp_script		*s;

	if (sp_script_new(&s) != SP_E_OK)
		return;
	memset(&st, 0, sizeof(st));
	CHECK_EQ(sp_script_append(s, &st), SP_E_INVAL, "op 0");
	st.op = SP_STEP_EXPECT;
	st.expect.ncodes = 1;
	memcpy(st.expect.codes[0], "2x", 3);
	CHECK_EQ(sp_script_append(s, &st), SP_E_INVAL, "short code");
	memset(&st, 0, sizeof(st));
	st.op = SP_STEP_AUTH;
	st.mech = SP_AUTH_PLAIN;
	st.user = "u";
	CHECK_EQ(sp_script_append(s, &st), SP_E_INVAL, "no secret");
	CHECK_EQ(sp_script_nsteps(s), 0);
	sp_script_free(s);
}

/* ------------------------------------------------------- encoders */

static void
test_base64(void)
{
	/* RFC 4648 10. */
	static const char *const	in[] = { "", "f", "fo", "foo", "foob",
					    "fooba", "foobar" };
	static const char *const	out[] = { "", "Zg==", "Zm8=", "Zm9v",
					    "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
	char				b[64];
	uint8_t				d[64];
	size_t				n;

	for (size_t i = 0; i < SP_NELEM_T(in); i++) {
		CHECK_EQ(sp_base64_encode(b, sizeof(b), &n,
		    (const uint8_t *)in[i], strlen(in[i])), SP_E_OK);
		CHECK_STREQ(b, out[i]);
		CHECK_EQ(sp_base64_decode(d, sizeof(d), &n, out[i],
		    strlen(out[i])), SP_E_OK);
		CHECK(n == strlen(in[i]) && memcmp(d, in[i], n) == 0);
	}
	CHECK_EQ(sp_base64_encode(b, 4, &n, (const uint8_t *)"foo", 3),
	    SP_E_LIMIT, "no room for the NUL");
	CHECK_EQ(sp_base64_decode(d, sizeof(d), &n, "=AAA", 4), SP_E_FORMAT);
	CHECK_EQ(sp_base64_decode(d, sizeof(d), &n, "AA=B", 4), SP_E_FORMAT);
	CHECK_EQ(sp_base64_decode(d, sizeof(d), &n, "AAA=BBBB", 8),
	    SP_E_FORMAT, "padding inside");
	CHECK_EQ(sp_base64_decode(d, sizeof(d), &n, "AA*A", 4), SP_E_FORMAT);
	CHECK_EQ(sp_base64_decode(d, sizeof(d), &n, "AAA", 3), SP_E_FORMAT);
	CHECK_EQ(sp_base64_decode(d, 2, &n, "Zm9v", 4), SP_E_LIMIT);
}

static void
test_auth(void)
{
	char	b[256];
	size_t	n;

	/* RFC 4616 4: "\0tim\0tanstaaftanstaaf". */
	CHECK_EQ(sp_auth_plain(b, sizeof(b), &n, NULL, "tim",
	    "tanstaaftanstaaf"), SP_E_OK);
	CHECK_STREQ(b, "AHRpbQB0YW5zdGFhZnRhbnN0YWFm");
	CHECK_EQ(sp_auth_plain(b, sizeof(b), &n, "Ursel", "Kurt",
	    "xipj3plmq"), SP_E_OK);
	CHECK_STREQ(b, "VXJzZWwAS3VydAB4aXBqM3BsbXE=");
	/* RFC 2195 2: the digest is b913a602c7eda7a495b4e6e7334d3890. */
	CHECK_EQ(sp_auth_cram_md5(b, sizeof(b), &n, "tim", "tanstaaftanstaaf",
	    "PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+"),
	    SP_E_OK);
	CHECK_STREQ(b, "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw");
	CHECK_EQ(sp_auth_cram_md5(b, sizeof(b), &n, "tim", "x", "not b64!"),
	    SP_E_FORMAT);
	/* Google's XOAUTH2 example. */
	CHECK_EQ(sp_auth_xoauth2(b, sizeof(b), &n, "someuser@example.com",
	    "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"), SP_E_OK);
	CHECK_STREQ(b, "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YT"
	    "I5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ==");
	CHECK_EQ(sp_auth_plain(b, 8, &n, NULL, "tim", "pw"), SP_E_LIMIT);
}

static void
encode(const char *in, size_t len, int crlf, size_t cut, char *out,
    size_t *olen)
{
	struct sp_data_enc	e;
	size_t			k;

	sp_data_enc_init(&e, crlf);
	k = sp_data_enc_update(&e, (const uint8_t *)in, cut, (uint8_t *)out);
	k += sp_data_enc_update(&e, (const uint8_t *)in + cut, len - cut,
	    (uint8_t *)out + k);
	k += sp_data_enc_final(&e, (uint8_t *)out + k);
	out[k] = '\0';
	*olen = k;
}

static void
test_dotstuff(void)
{
	static const struct {
		const char	*in, *out;
		int		 crlf;
	} v[] = {
		{ "", ".\r\n", 0 },
		{ ".x\r\n", "..x\r\n.\r\n", 0 },
		{ "a\r\n.\r\nb", "a\r\n..\r\nb\r\n.\r\n", 0 },
		{ "a\r\n..\r\n", "a\r\n...\r\n.\r\n", 0 },
		{ "a\n.b\n", "a\r\n..b\r\n.\r\n", 1 },
		{ "a\n.b\n", "a\n..b\n\r\n.\r\n", 0 },
		{ "x\r", "x\r\r\n.\r\n", 0 },
		{ ". \r\n.\t\r\n", ".. \r\n..\t\r\n.\r\n", 0 },
	};
	char	out[64];
	size_t	n;

	for (size_t i = 0; i < SP_NELEM_T(v); i++)
		for (size_t cut = 0; cut <= strlen(v[i].in); cut++) {
			encode(v[i].in, strlen(v[i].in), v[i].crlf, cut, out,
			    &n);
			CHECK_STREQ(out, v[i].out, "case %zu cut %zu", i, cut);
		}
}

static void
test_bdat_header(void)
{
	char	b[48];

	CHECK_EQ(sp_bdat_header(b, sizeof(b), 0, 1), 13);
	CHECK_STREQ(b, "BDAT 0 LAST\r\n");
	CHECK_EQ(sp_bdat_header(b, sizeof(b), 1000, 0), 11);
	CHECK_STREQ(b, "BDAT 1000\r\n");
	CHECK_EQ(sp_bdat_header(b, 5, 1000, 0), 0, "too small");
}

struct conv {
	sp_script_conv	*cv;
	int		 taken;
	sp_err		 err;
	size_t		 sessions;
};

static int
conv_event(void *ud, const struct sp_event *ev)
{
	struct conv	*x = ud;

	if (ev->kind == SP_EV_SESSION_BEGIN) {
		x->sessions++;
		if (!x->taken) {
			x->taken = 1;
			*ev->user = x;
		}
	}
	if (*ev->user == x && x->err == SP_E_OK)
		x->err = sp_script_conv_event(x->cv, ev);
	return (0);
}

/* The first session of a capture as a script, with options co. */
static sp_script *
convert_with(const char *path, const struct sp_script_conv_options *co)
{
	struct conv	 x;
	struct sp_analyzer_options ao;
	struct sp_packet pkt;
	sp_capture	*cap;
	sp_analyzer	*an;
	sp_script	*s = NULL;
	char		 eb[256];

	memset(&x, 0, sizeof(x));
	if (sp_capture_open_file(&cap, path, NULL, NULL, eb, sizeof(eb)) !=
	    SP_E_OK)
		return (NULL);
	sp_analyzer_options_default(&ao);
	ao.stream_events = co != NULL && co->raw_data;
	CHECK_EQ(sp_script_conv_new(&x.cv, co), SP_E_OK);
	CHECK_EQ(sp_analyzer_new(&an, NULL, &ao, conv_event, &x), SP_E_OK);
	while (sp_capture_next(cap, &pkt) == SP_E_OK)
		(void)sp_analyzer_packet(an, &pkt);
	(void)sp_analyzer_finish(an);
	sp_analyzer_free(an);
	sp_capture_free(cap);
	CHECK_EQ(x.err, SP_E_OK, "%s", path);
	CHECK_EQ(sp_script_conv_finish(x.cv, &s), SP_E_OK, "%s", path);
	sp_script_conv_free(x.cv);
	return (s);
}

static sp_script *
convert(const char *path)
{
	return (convert_with(path, NULL));
}

static size_t
count_op(const sp_script *s, enum sp_script_op op)
{
	size_t	n = 0;

	for (size_t i = 0; i < sp_script_nsteps(s); i++)
		n += sp_script_step_at(s, i)->op == op;
	return (n);
}

/* Every capture converts, writes and reads back the same. */
static void
test_captures(void)
{
	glob_t		 g;
	sp_script	*s;

	if (glob("captures/*.pcap", 0, NULL, &g) != 0) {
		fprintf(stderr, "no captures/*.pcap: skipped\n");
		return;
	}
	for (size_t i = 0; i < g.gl_pathc; i++) {
		if ((s = convert(g.gl_pathv[i])) == NULL)
			continue;
		CHECK(sp_script_nsteps(s) > 2, "%s", g.gl_pathv[i]);
		check_round_trip(s, g.gl_pathv[i]);
		if (strstr(g.gl_pathv[i], "/starttls.pcap") != NULL)
			CHECK(sp_script_step_at(s, sp_script_nsteps(s) - 1)->op
			    == SP_STEP_STARTTLS, "stops at STARTTLS");
		if (strstr(g.gl_pathv[i], "/pipelining.pcap") != NULL)
			CHECK(count_op(s, SP_STEP_PIPELINE) == 1 &&
			    count_op(s, SP_STEP_DATA_BODY) == 1, "pipelined");
		if (strstr(g.gl_pathv[i], "/bdat.pcap") != NULL)
			CHECK(count_op(s, SP_STEP_BDAT) == 6, "bdat chunks");
		if (strstr(g.gl_pathv[i], "/auth_plain.pcap") != NULL)
			CHECK(count_op(s, SP_STEP_AUTH) == 1 &&
			    strcmp(sp_script_step_at(s, 3)->secret,
			    "$SP_AUTH_SECRET") == 0, "auth, secret not kept");
		sp_script_free(s);
	}
	globfree(&g);
}

static int
has_bytes(const uint8_t *p, size_t n, const char *w)
{
	size_t	k = strlen(w);

	for (size_t i = 0; i + k <= n; i++)
		if (memcmp(p + i, w, k) == 0)
			return (1);
	return (0);
}

/* The sleep steps' lengths, in order, into ms[] (at most n). */
static size_t
sleeps(const sp_script *s, unsigned *ms, size_t n)
{
	size_t	k = 0;

	for (size_t i = 0; i < sp_script_nsteps(s); i++)
		if (sp_script_step_at(s, i)->op == SP_STEP_SLEEP && k < n)
			ms[k++] = sp_script_step_at(s, i)->ms;
	return (k);
}

/*
 * smuggling_postfix.pcap: its client paused about 1003 ms three times
 * and ended DATA with "\n.\n" and "\n.\r\n" (Postfix took both).
 * Timing gives sleep steps of pause / speed, capped; raw_data sends
 * those two messages as the client did, and only those.
 */
static void
test_conv_options(void)
{
	const char	*path = "captures/smuggling_postfix.pcap";
	struct sp_script_conv_options co;
	sp_script	*s;
	unsigned	 ms[8];
	size_t		 n;

	if ((s = convert(path)) == NULL) {
		fprintf(stderr, "no %s: skipped\n", path);
		return;
	}
	CHECK(count_op(s, SP_STEP_SLEEP) == 0 &&
	    count_op(s, SP_STEP_SENDRAW) == 0, "no options: as before");
	sp_script_free(s);
	memset(&co, 0, sizeof(co));
	co.speed = 2;
	s = convert_with(path, &co);
	n = sleeps(s, ms, 8);
	CHECK(n == 3 && ms[0] >= 495 && ms[0] <= 510 && ms[2] >= 495 &&
	    ms[2] <= 510, "speed 2: %zu sleeps, %u ms", n, ms[0]);
	check_round_trip(s, "timed");
	sp_script_free(s);
	co.max_gap_ms = 300;
	co.raw_data = 1;
	s = convert_with(path, &co);
	n = sleeps(s, ms, 8);
	CHECK(n == 3 && ms[0] == 300 && ms[1] == 300 && ms[2] == 300,
	    "max_gap_ms caps every pause");
	CHECK_EQ(count_op(s, SP_STEP_SENDRAW), 2, "two smuggled endings raw");
	for (size_t i = 0; i < sp_script_nsteps(s); i++) {
		const struct sp_script_step *st = sp_script_step_at(s, i);

		if (st->op == SP_STEP_SENDRAW)
			CHECK(has_bytes(st->text.p, st->text.len,
			    "text\n.") && st->text.len > 5 &&
			    memcmp(st->text.p + st->text.len - 5,
			    "\r\n.\r\n", 5) == 0, "raw bytes to the end of data");
	}
	check_round_trip(s, "raw");
	sp_script_free(s);
	s = convert_with("captures/dotstuff.pcap", &co);
	CHECK(s != NULL && count_op(s, SP_STEP_SENDRAW) == 0 &&
	    count_op(s, SP_STEP_DATA_BODY) == 1, "regular DATA stays data");
	sp_script_free(s);
}

int
main(void)
{
	test_captures();
	test_conv_options();
	test_every_kind();
	test_errors();
	test_awkward_round_trip();
	test_random_round_trip();
	test_append_checks();
	test_base64();
	test_auth();
	test_dotstuff();
	test_bdat_header();
	return (check_done("script"));
}
