/*
 * The SMTP parser's API contract and its small parsers: argument
 * checks, sticky errors, pausing, memory that stays bounded while a
 * large message streams, queue ids, paths, enhanced codes, base64.
 */
#include "smtp_int.h"

#include "smtp_testlib.h"

#include "check.h"

static sp_err
feed_str(sp_smtp_parser *p, enum sp_dir d, const char *s)
{
	size_t	used;

	return (sp_smtp_parser_feed(p, d, 0, (const uint8_t *)s, strlen(s),
	    &used));
}

static void
test_args(void)
{
	sp_smtp_parser		*p = NULL;
	struct sp_limits	 lim;
	struct sp_smtp_options	 o = { 0 };
	size_t			 used = 7;

	CHECK_EQ(sp_smtp_parser_new(NULL, NULL, &log_callbacks, NULL),
	    SP_E_INVAL);
	CHECK_EQ(sp_smtp_parser_new(&p, NULL, NULL, NULL), SP_E_INVAL);
	sp_limits_default(&lim);
	lim.max_rcpts = 0;
	CHECK_EQ(sp_smtp_parser_new(&p, &lim, &log_callbacks, NULL),
	    SP_E_INVAL);
	CHECK(p == NULL);
	sp_smtp_parser_free(NULL);
	CHECK_EQ(sp_smtp_parser_new(&p, NULL,
	    &(struct sp_smtp_callbacks){ 0 }, NULL), SP_E_OK);
	CHECK_EQ(sp_smtp_parser_set_options(p, NULL), SP_E_INVAL);
	CHECK_EQ(feed_str(p, SP_DIR_SERVER, "220 hi\r\n"), SP_E_OK);
	CHECK_EQ(sp_smtp_parser_set_options(p, &o), SP_E_STATE);
	CHECK_EQ(sp_smtp_parser_feed(p, (enum sp_dir)5, 0,
	    (const uint8_t *)"x", 1, &used), SP_E_INVAL);
	CHECK_EQ(used, 0u);
	CHECK_EQ(sp_smtp_parser_finish(p, 0), SP_E_OK);
	CHECK_EQ(feed_str(p, SP_DIR_CLIENT, "NOOP\r\n"), SP_E_STATE);
	sp_smtp_parser_free(p);
}

static int
abort_on_reply(void *ud, const struct sp_smtp_reply *r)
{
	(void)ud;
	return (r->code == 250 ? -1 : 0);
}

static void
test_sticky(void)
{
	struct sp_smtp_callbacks cb = { 0 };
	sp_smtp_parser		*p;

	cb.on_reply = abort_on_reply;
	CHECK_EQ(sp_smtp_parser_new(&p, NULL, &cb, NULL), SP_E_OK);
	CHECK_EQ(feed_str(p, SP_DIR_SERVER, "220 hi\r\n"), SP_E_OK);
	CHECK_EQ(feed_str(p, SP_DIR_CLIENT, "NOOP\r\n"), SP_E_OK);
	CHECK_EQ(feed_str(p, SP_DIR_SERVER, "250 ok\r\n"), SP_E_CALLBACK);
	CHECK_EQ(feed_str(p, SP_DIR_SERVER, "250 ok\r\n"), SP_E_CALLBACK);
	CHECK_EQ(sp_smtp_parser_gap(p, SP_DIR_CLIENT, 0, 5), SP_E_CALLBACK);
	CHECK_EQ(sp_smtp_parser_finish(p, 0), SP_E_CALLBACK);
	sp_smtp_parser_free(p);
}

/* Pause on every command and every content run; resume each time. */
static int	pause_cmd(void *ud, const struct sp_smtp_command *c)
{
	(void)ev_command(ud, c);
	return (SP_E_PAUSED);
}

static int	pause_data(void *ud, const uint8_t *s, size_t n)
{
	(void)ev_msg_data(ud, s, n);
	return (SP_E_PAUSED);
}

static void
test_pause(void)
{
	static const char	 wire[] = "EHLO a\r\nMAIL FROM:<a@b>\r\n"
	    "RCPT TO:<c@d>\r\nDATA\r\nx\r\n..y\r\n.\r\nQUIT\r\n";
	struct sp_smtp_callbacks cb = log_callbacks;
	struct evlog		 want = { 0 }, got = { 0 };
	sp_smtp_parser		*p;
	size_t			 off = 0, used, pauses = 0;
	sp_err			 e;

	CHECK_EQ(sp_smtp_parser_new(&p, NULL, &log_callbacks, &want),
	    SP_E_OK);
	CHECK_EQ(feed_str(p, SP_DIR_CLIENT, wire), SP_E_OK);
	CHECK_EQ(sp_smtp_parser_finish(p, 0), SP_E_OK);
	sp_smtp_parser_free(p);
	log_flush_data(&want);

	cb.on_command = pause_cmd;
	cb.on_message_data = pause_data;
	CHECK_EQ(sp_smtp_parser_new(&p, NULL, &cb, &got), SP_E_OK);
	while (off < sizeof(wire) - 1) {
		e = sp_smtp_parser_feed(p, SP_DIR_CLIENT, 0,
		    (const uint8_t *)wire + off, sizeof(wire) - 1 - off, &used);
		CHECK(e == SP_E_OK || e == SP_E_PAUSED, "%s", sp_errname(e));
		if (e == SP_E_PAUSED)
			pauses++;
		if (e != SP_E_OK && e != SP_E_PAUSED)
			break;
		off += used;
	}
	CHECK_EQ(sp_smtp_parser_finish(p, 0), SP_E_OK);
	sp_smtp_parser_free(p);
	log_flush_data(&got);
	CHECK(pauses >= 6, "pauses %zu", pauses);
	CHECK_STREQ(got.s, want.s);
	evlog_free(&want);
	evlog_free(&got);
}

/* Allocator that tracks the bytes held at once. */
struct meter {
	size_t	live, peak;
};

static void *
m_malloc(size_t n, void *ud)
{
	struct meter	*m = ud;
	size_t		*h = malloc(n + sizeof(size_t));

	if (h == NULL)
		return (NULL);
	*h = n;
	m->live += n;
	m->peak = SP_MAX(m->peak, m->live);
	return (h + 1);
}

static void
m_free(void *p, void *ud)
{
	struct meter	*m = ud;
	size_t		*h = p;

	if (p == NULL)
		return;
	m->live -= h[-1];
	free(h - 1);
}

static void *
m_realloc(void *p, size_t n, void *ud)
{
	void	*np = m_malloc(n, ud);

	if (np == NULL || p == NULL)
		return (np);
	memcpy(np, p, SP_MIN(n, ((size_t *)p)[-1]));
	m_free(p, ud);
	return (np);
}

static uint64_t	streamed;

static int
count_data(void *ud, const uint8_t *s, size_t n)
{
	(void)ud;
	(void)s;
	streamed += n;
	return (0);
}

/* 64 MiB of content, one long line among them: memory stays small. */
static void
test_streaming(void)
{
	struct meter		 m = { 0, 0 };
	struct sp_allocator	 a = { m_malloc, m_realloc, m_free, &m };
	struct sp_limits	 lim;
	struct sp_smtp_callbacks cb = { 0 };
	sp_smtp_parser		*p;
	static uint8_t		 chunk[65536];
	size_t			 used;

	sp_limits_default(&lim);
	lim.alloc = &a;
	cb.on_message_data = count_data;
	memset(chunk, 'a', sizeof(chunk));
	for (size_t i = 100; i < sizeof(chunk); i += 100)
		chunk[i] = i % 700 == 0 ? '\n' : i % 300 == 0 ? '\r' : '.';
	CHECK_EQ(sp_smtp_parser_new(&p, &lim, &cb, NULL), SP_E_OK);
	CHECK_EQ(feed_str(p, SP_DIR_CLIENT, "MAIL FROM:<a@b>\r\n"
	    "RCPT TO:<c@d>\r\nDATA\r\n"), SP_E_OK);
	for (int i = 0; i < 1024; i++)
		CHECK_EQ(sp_smtp_parser_feed(p, SP_DIR_CLIENT, 0, chunk,
		    sizeof(chunk), &used), SP_E_OK);
	CHECK_EQ(feed_str(p, SP_DIR_CLIENT, "\r\n.\r\n"), SP_E_OK);
	CHECK_EQ(sp_smtp_parser_finish(p, 0), SP_E_OK);
	sp_smtp_parser_free(p);
	CHECK(streamed > (uint64_t)64 << 20, "streamed %llu",
	    (unsigned long long)streamed);
	CHECK(m.peak < 300000, "peak %zu bytes", m.peak);
	CHECK_EQ(m.live, 0u);
}

static void
qid(const char *text, const char *want)
{
	struct sp_smtp_str	id = { NULL, 0 };
	int			ok;

	ok = sp_smtp_queue_id((const uint8_t *)text, strlen(text), &id);
	if (want == NULL) {
		CHECK(!ok, "%s", text);
		return;
	}
	CHECK(ok && id.len == strlen(want) && memcmp(id.p, want, id.len) == 0,
	    "%s -> %.*s", text, (int)id.len, id.p ? (const char *)id.p : "");
}

static void
test_queue_ids(void)
{
	qid("2.0.0 Ok: queued as 4XyZ1B2c3D", "4XyZ1B2c3D");
	qid("OK id=1rAbCd-000Ab1-Zz", "1rAbCd-000Ab1-Zz");
	qid("2.0.0 x9ABCDE012345 Message accepted for delivery",
	    "x9ABCDE012345");
	qid("2.0.0 5f3a1b2c Message accepted for delivery", "5f3a1b2c");
	qid("<AAA.123@host> Mail accepted", "AAA.123@host");
	qid("Ok: queued as <XYZ123>", "XYZ123");
	qid("Message accepted for delivery", NULL);
	qid("2.0.0 Ok", NULL);
	qid("OK uid=5 valid", NULL);
	qid("queued as ", NULL);
}

static int
path_ok(const char *s, const char *mailbox)
{
	struct sp_smtp_path	p;
	size_t			used;
	int			ok;

	ok = sp__smtp_parse_path((const uint8_t *)s, strlen(s), &p, &used);
	if (mailbox == NULL)
		return (!ok);
	return (ok && p.mailbox.len == strlen(mailbox) &&
	    (p.mailbox.len == 0 ||
	    memcmp(p.mailbox.p, mailbox, p.mailbox.len) == 0));
}

static void
test_paths(void)
{
	CHECK(path_ok("<a@b.example>", "a@b.example"));
	CHECK(path_ok("<\"a b\\\"c\"@x>", "\"a b\\\"c\"@x"));
	CHECK(path_ok("<@r1,@r2:u@d>", "u@d"));
	CHECK(path_ok("<u@[192.0.2.1]>", "u@[192.0.2.1]"));
	CHECK(path_ok("<>", ""));
	CHECK(path_ok("<postMaster>", "postMaster"));
	CHECK(path_ok("<a@>", NULL));
	CHECK(path_ok("<@r1:>", NULL));
	CHECK(path_ok("<.a@b>", NULL));
	CHECK(path_ok("<a@b", NULL));
	CHECK(path_ok("a@b", NULL));
	CHECK(path_ok("", NULL));
	CHECK(path_ok("<", NULL));
	CHECK(path_ok("<\"", NULL));
	CHECK(path_ok("<a@[1.2.3.4>", NULL));
}

static void
test_small(void)
{
	struct sp_smtp_enhanced	e;
	uint8_t			out[16];
	size_t			used;
	int			bad;
	char			esc[8];

	CHECK(sp__smtp_parse_enhanced((const uint8_t *)"5.7.1 x", 7, &e,
	    &used) && e.cls == 5 && e.subject == 7 && e.detail == 1 &&
	    used == 6);
	CHECK(sp__smtp_parse_enhanced((const uint8_t *)"4.123.999", 9, &e,
	    &used) && e.subject == 123 && e.detail == 999);
	CHECK(!sp__smtp_parse_enhanced((const uint8_t *)"3.1.1 x", 7, &e,
	    &used));
	CHECK(!sp__smtp_parse_enhanced((const uint8_t *)"5.1234.1", 8, &e,
	    &used));
	CHECK(!sp__smtp_parse_enhanced((const uint8_t *)"5.1.1x", 6, &e,
	    &used));
	CHECK_EQ(sp__smtp_b64_decode((const uint8_t *)"AGEAYg==", 8, out,
	    sizeof(out), &bad), 4u);
	CHECK(!bad && memcmp(out, "\0a\0b", 4) == 0);
	(void)sp__smtp_b64_decode((const uint8_t *)"=AAA", 4, out,
	    sizeof(out), &bad);
	CHECK(bad);
	(void)sp__smtp_b64_decode((const uint8_t *)"AA$A", 4, out,
	    sizeof(out), &bad);
	CHECK(bad);
	CHECK_EQ(sp__smtp_escape(esc, sizeof(esc), (const uint8_t *)
	    "\r\nabcdefgh", 10), 7u);
	CHECK_STREQ(esc, "\\r\\n...");
	CHECK_STREQ(sp_smtp_verb_name(SP_SMTP_VERB_STARTTLS), "STARTTLS");
	CHECK_EQ(sp__smtp_verb_lookup((const uint8_t *)"rCpT", 4),
	    SP_SMTP_VERB_RCPT);
}

int
main(void)
{
	test_args();
	test_sticky();
	test_pause();
	test_streaming();
	test_queue_ids();
	test_paths();
	test_small();
	return (check_done("test_smtp_api"));
}
