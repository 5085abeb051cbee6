/*
 * The analyzer: TCP segments in, one tagged event stream out.  Checks
 * that SMTP is found by port and by content (and FTP is not), that
 * bytes held before the verdict are replayed, that roles of mid-stream
 * flows follow the verbs, that message and part digests cover exactly
 * the right bytes, and that allocation failures and consumer aborts
 * end cleanly.
 */
#include "tcp_harness.h"

#include "failalloc.h"

struct alog {
	char	text[16384];
	size_t	len;
	int	abort_at, n;
	char	msg_sha[65], part_sha[65];
};

static void __attribute__((format(printf, 2, 3)))
alog_add(struct alog *l, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	if (l->len >= sizeof(l->text))
		return;
	va_start(ap, fmt);
	n = vsnprintf(l->text + l->len, sizeof(l->text) - l->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		l->len = SP_MIN(l->len + (size_t)n, sizeof(l->text) - 1);
}

/* One line per event; message and part bytes are logged by size only. */
static int
on_event(void *ud, const struct sp_event *ev)
{
	struct alog	*l = ud;

	if (l->abort_at != 0 && ++l->n == l->abort_at)
		return (1);
	switch (ev->kind) {
	case SP_EV_SESSION_BEGIN:
		alog_add(l, "begin %u>%u\n", ev->flow->client_port,
		    ev->flow->server_port);
		break;
	case SP_EV_SESSION_END:
		alog_add(l, "end %s\n", sp_flow_end_name(ev->u.end.why));
		break;
	case SP_EV_COMMAND:
		alog_add(l, "cmd %s\n", sp_smtp_verb_name(ev->u.command->verb));
		break;
	case SP_EV_REPLY:
		alog_add(l, "reply %d\n", ev->u.reply->code);
		break;
	case SP_EV_TRANSACTION:
		alog_add(l, "txn %d %.*s\n", ev->u.transaction->final_code,
		    (int)ev->u.transaction->queue_id.len,
		    ev->u.transaction->queue_id.p);
		break;
	case SP_EV_MESSAGE_END:
		alog_add(l, "msg %llu\n",
		    (unsigned long long)ev->u.message.msg->size);
		memcpy(l->msg_sha, ev->u.message.digests->sha256, 65);
		break;
	case SP_EV_HEADER:
		alog_add(l, "hdr %.*s\n", (int)ev->u.header->name_len,
		    ev->u.header->name);
		break;
	case SP_EV_PART_END:
		alog_add(l, "part %llu\n",
		    (unsigned long long)ev->u.part.part->decoded_size);
		memcpy(l->part_sha, ev->u.part.digests->sha256, 65);
		break;
	case SP_EV_ANOMALY:
		alog_add(l, "anom %s\n", sp_anomaly_name(ev->u.anomaly.code));
		break;
	default:
		break;
	}
	return (0);
}

static const char *const dialogue[] = {
	"S220 mx.example ESMTP ready\r\n",
	"CEHLO client.example\r\n",
	"S250-mx.example\r\n250 PIPELINING\r\n",
	"CMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n",
	"S250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go ahead\r\n",
	"CSubject: hi\r\n\r\nbody\r\n..dot\r\n.\r\n",
	"S250 2.0.0 Ok: queued as ABC123\r\n",
	"CQUIT\r\n",
	"S221 2.0.0 Bye\r\n",
};

static const char golden[] =
	"reply 220\ncmd EHLO\nreply 250\ncmd MAIL\ncmd RCPT\ncmd DATA\n"
	"reply 250\nreply 250\nreply 354\nhdr Subject\npart 12\nmsg 27\n"
	"reply 250\ntxn 250 ABC123\ncmd QUIT\nreply 221\nend fin\n";

/*
 * Play the dialogue as a TCP conversation, chunk bytes at a time;
 * skip the first skip_pkts data segments (a mid-stream pickup).
 */
static sp_err
play(sp_analyzer *an, const struct tends *e, size_t chunk, int handshake,
    size_t skip)
{
	uint32_t	cseq = 1000, sseq = 5000;
	sp_ts		ts = MS(1);
	struct sp_packet pkt;
	sp_err		err = SP_E_OK;
	size_t		seg = 0;

	if (handshake) {
		pkt = tseg(e, 0, "S", cseq - 1, 0, NULL, ts);
		sp_analyzer_packet(an, &pkt);
		pkt = tseg(e, 1, "SA", sseq - 1, cseq, NULL, ts);
		sp_analyzer_packet(an, &pkt);
	}
	for (size_t i = 0; i < SP_NELEM(dialogue); i++) {
		int		 srv = dialogue[i][0] == 'S';
		const char	*p = dialogue[i] + 1;
		size_t		 n = strlen(p);

		for (size_t off = 0; off < n; off += chunk, ts += MS(1)) {
			size_t	 k = SP_MIN(chunk, n - off);
			uint32_t *seq = srv ? &sseq : &cseq;

			pkt = tseg_n(e, srv, "AP", *seq, srv ? cseq : sseq,
			    p + off, k, ts);
			*seq += (uint32_t)k;
			if (seg++ < skip)
				continue;
			if ((err = sp_analyzer_packet(an, &pkt)) != SP_E_OK)
				return (err);
		}
	}
	pkt = tseg(e, 0, "FA", cseq, sseq, NULL, ts);
	sp_analyzer_packet(an, &pkt);
	pkt = tseg(e, 1, "FA", sseq, cseq + 1, NULL, ts);
	if ((err = sp_analyzer_packet(an, &pkt)) != SP_E_OK)
		return (err);
	return (sp_analyzer_finish(an));
}

static void
run(struct alog *l, const struct tends *e, size_t chunk, int by_content,
    int handshake, size_t skip)
{
	struct sp_analyzer_options	o;
	sp_analyzer			*an;

	memset(l, 0, sizeof(*l));
	sp_analyzer_options_default(&o);
	o.by_content = by_content;
	CHECK_EQ(sp_analyzer_new(&an, NULL, &o, on_event, l), SP_E_OK);
	CHECK_EQ(play(an, e, chunk, handshake, skip), SP_E_OK);
	sp_analyzer_free(an);
}

static void
test_by_port(void)
{
	struct tends	e = tends_v4(1, 40000, 2, 25);
	struct alog	l;
	char		want[1024], sha[SP_HASH_MAX_HEX];
	const char	*msg = "Subject: hi\r\n\r\nbody\r\n.dot\r\n";

	run(&l, &e, 1500, 1, 1, 0);
	snprintf(want, sizeof(want), "begin 40000>25\n%s", golden);
	CHECK_STREQ(l.text, want);
	/* Digests cover the unstuffed bytes, terminator excluded. */
	sp_hash_hex(SP_HASH_SHA256, msg, strlen(msg), sha);
	CHECK_STREQ(l.msg_sha, sha);
	sp_hash_hex(SP_HASH_SHA256, "body\r\n.dot\r\n", 12, sha);
	CHECK_STREQ(l.part_sha, sha);
}

/* Unlisted ports: found by content; the held greeting is replayed. */
static void
test_by_content(void)
{
	struct tends	e = tends_v4(1, 40000, 2, 41000);
	struct alog	l, one;
	char		want[1024];

	run(&l, &e, 1500, 1, 1, 0);
	snprintf(want, sizeof(want), "begin 40000>41000\n%s", golden);
	CHECK_STREQ(l.text, want);
	/* One byte per segment: the verdict waits, nothing is lost. */
	run(&one, &e, 1, 1, 1, 0);
	CHECK_STREQ(one.text, want);
	CHECK_STREQ(one.msg_sha, l.msg_sha);
	run(&l, &e, 1500, 0, 1, 0);
	CHECK_STREQ(l.text, "", "by_content off: unlisted port ignored");
}

static void
test_not_smtp(void)
{
	struct tends		 e = tends_v4(1, 40000, 2, 2121);
	struct alog		 l;
	sp_analyzer		*an;
	struct sp_packet	 pkt;
	const char		*ftp = "220 ProFTPD 1.3.8 Server ready\r\n";

	memset(&l, 0, sizeof(l));
	CHECK_EQ(sp_analyzer_new(&an, NULL, NULL, on_event, &l), SP_E_OK);
	pkt = tseg(&e, 0, "S", 99, 0, NULL, MS(1));
	sp_analyzer_packet(an, &pkt);
	pkt = tseg(&e, 1, "SA", 499, 100, NULL, MS(1));
	sp_analyzer_packet(an, &pkt);
	pkt = tseg(&e, 1, "AP", 500, 100, ftp, MS(2));
	CHECK_EQ(sp_analyzer_packet(an, &pkt), SP_E_OK);
	pkt = tseg(&e, 0, "AP", 100, 532, "USER anonymous\r\n", MS(3));
	CHECK_EQ(sp_analyzer_packet(an, &pkt), SP_E_OK);
	CHECK_EQ(sp_analyzer_finish(an), SP_E_OK);
	CHECK_STREQ(l.text, "");
	sp_analyzer_free(an);
}

/*
 * Picked up at "MAIL FROM:" between two high ports: the verb marks the
 * client, whichever port is lower.
 */
static void
test_midstream_roles(void)
{
	struct tends	e = tends_v4(1, 50000, 2, 41000);
	struct alog	l;
	const char	*head = "begin 50000>41000\nanom tcp_midstream\n"
	    "cmd MAIL\n";

	run(&l, &e, 1500, 1, 0, 3);
	CHECK(strncmp(l.text, head, strlen(head)) == 0, "%s", l.text);
	CHECK(strstr(l.text, "txn 250 ABC123\n") != NULL, "%s", l.text);
	CHECK(strstr(l.text, "part 12\n") != NULL, "%s", l.text);
}

/* A consumer abort stops everything with SP_E_CALLBACK, sticky. */
static void
test_abort(void)
{
	struct tends	e = tends_v4(1, 40000, 2, 25);
	sp_analyzer	*an;
	struct alog	l;

	for (int at = 1; at <= 12; at++) {
		memset(&l, 0, sizeof(l));
		l.abort_at = at;
		CHECK_EQ(sp_analyzer_new(&an, NULL, NULL, on_event, &l),
		    SP_E_OK);
		CHECK_EQ(play(an, &e, 7, 1, 0), SP_E_CALLBACK, "at %d", at);
		/* Freed without finish: sessions still open must not leak. */
		sp_analyzer_free(an);
	}
}

/* Fail the Nth allocation, for every N until a run succeeds. */
static void
test_failmalloc(void)
{
	struct tends		e = tends_v4(1, 40000, 2, 25);
	struct failalloc	f;
	struct sp_limits	lim;
	struct alog		l;
	int			ok = 0;

	sp_limits_default(&lim);
	lim.alloc = &f.al;
	for (int at = 1; at < 500 && !ok; at++) {
		sp_analyzer	*an = NULL;
		sp_err		 err;

		failalloc_init(&f, at, false);
		memset(&l, 0, sizeof(l));
		err = sp_analyzer_new(&an, &lim, NULL, on_event, &l);
		if (err == SP_E_OK)
			err = play(an, &e, 9, 1, 0);
		CHECK(err == SP_E_OK || err == SP_E_NOMEM, "at %d: %s", at,
		    sp_errname(err));
		sp_analyzer_free(an);
		CHECK_EQ(f.live, 0, "at %d: %ld blocks leaked", at, f.live);
		ok = err == SP_E_OK;
	}
	CHECK(ok, "no run succeeded");
}

int
main(void)
{
	test_by_port();
	test_by_content();
	test_not_smtp();
	test_midstream_roles();
	test_abort();
	test_failmalloc();
	return (check_done("test_analyzer"));
}
