/*
 * test_client.c - the client engine against an in-process server on
 * 127.0.0.1: the test plays the server on the accepted socket in the
 * same thread (socket buffers make that possible), so every case is
 * deterministic and quick.  Timeouts, cancellation by fd and by flag,
 * capabilities from EHLO, pipelined replies one at a time, unmatched
 * replies, the reply size cap, FIN versus RST.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "smtpproto/client.h"

struct srv {
	int	lfd, fd;
	char	port[8];
};

static int
srv_listen(struct srv *s)
{
	struct sockaddr_in	sa;
	socklen_t		sl = sizeof(sa);

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->fd = -1;
	s->lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(s->lfd, 4) || getsockname(s->lfd, (struct sockaddr *)&sa,
	    &sl))
		return (-1);
	(void)snprintf(s->port, sizeof(s->port), "%u", ntohs(sa.sin_port));
	return (0);
}

static sp_client *
connect_to(struct srv *s, struct sp_client_options *o)
{
	sp_client	*c = NULL;

	CHECK_EQ(sp_client_new(&c, o), SP_E_OK);
	if (c == NULL)
		return (NULL);
	CHECK_EQ(sp_client_connect(c, "127.0.0.1", s->port), SP_E_OK, "%s",
	    sp_client_errmsg(c));
	s->fd = accept(s->lfd, NULL, NULL);
	CHECK(s->fd >= 0);
	return (c);
}

static void
srv_say(struct srv *s, const char *text)
{
	CHECK_EQ(write(s->fd, text, strlen(text)), (ssize_t)strlen(text));
}

static void
srv_close(struct srv *s)
{
	if (s->fd >= 0)
		(void)close(s->fd);
	(void)close(s->lfd);
}

static double
now_s(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

static void
test_timeout_and_cancel(void)
{
	struct sp_client_options	 o;
	struct sp_client_reply		 r;
	volatile sig_atomic_t		 flag = 0;
	struct srv			 s;
	sp_client			*c;
	int				 p[2];
	double				 t0;

	if (srv_listen(&s) != 0 || pipe(p) != 0)
		return;
	sp_client_options_default(&o);
	o.timeouts.greeting_ms = 200;
	o.cancel_fd = p[0];
	o.cancel_flag = &flag;
	if ((c = connect_to(&s, &o)) == NULL)
		return;
	t0 = now_s();
	CHECK_EQ(sp_client_read_reply(c, -1, &r), SP_E_TIMEOUT);
	CHECK(now_s() - t0 < 1.0, "bounded");
	CHECK_STREQ(sp_client_errmsg(c),
	    "timed out after 0.2 s waiting for the greeting");
	CHECK_EQ(write(p[1], "x", 1), 1);
	CHECK_EQ(sp_client_read_reply(c, 5000, &r), SP_E_CANCELLED);
	CHECK(strstr(sp_client_errmsg(c), "cancelled while waiting") != NULL,
	    "%s", sp_client_errmsg(c));
	CHECK_EQ(read(p[0], &t0, 1), 1);
	flag = 1;
	CHECK_EQ(sp_client_read_reply(c, 5000, &r), SP_E_CANCELLED, "flag");
	flag = 0;
	/* The session survives a cancelled wait. */
	srv_say(&s, "220 late.test\r\n");
	CHECK_EQ(sp_client_read_reply(c, 1000, &r), SP_E_OK);
	CHECK(r.code == 220 && r.kind == SP_SMTP_REPLY_GREETING);
	sp_client_free(c);
	srv_close(&s);
	(void)close(p[0]);
	(void)close(p[1]);
}

static void
test_dialogue(void)
{
	static const char *const	 group[] = { "MAIL FROM:<a@b>",
					    "RCPT TO:<c@d>", "DATA" };
	static const size_t		 lens[] = { 15, 13, 4 };
	const struct sp_smtp_capabilities *k;
	struct sp_client_reply		 r;
	struct srv			 s;
	sp_client			*c;
	char				 buf[256];

	if (srv_listen(&s) != 0 || (c = connect_to(&s, NULL)) == NULL)
		return;
	srv_say(&s, "220 x.test ESMTP\r\n");
	CHECK_EQ(sp_client_read_reply(c, 1000, &r), SP_E_OK);
	CHECK(sp_client_capabilities(c) == NULL, "none before EHLO");
	CHECK_EQ(sp_client_send_line(c, "EHLO me", 7), SP_E_OK);
	CHECK(read(s.fd, buf, sizeof(buf)) == 9 && memcmp(buf, "EHLO me\r\n",
	    9) == 0, "CRLF appended");
	srv_say(&s, "250-x.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n"
	    "250 AUTH PLAIN LOGIN\r\n");
	CHECK_EQ(sp_client_read_reply(c, 1000, &r), SP_E_OK);
	CHECK(r.code == 250 && r.nlines == 4 && r.verb == SP_SMTP_VERB_EHLO);
	CHECK_STREQ(r.text, "x.test\nPIPELINING\nSIZE 1000\nAUTH PLAIN LOGIN");
	CHECK(r.raw_len == 65, "%zu", r.raw_len);
	k = sp_client_capabilities(c);
	CHECK(k != NULL && k->pipelining && k->has_size && k->size == 1000 &&
	    k->auth.len == 11 && memcmp(k->auth.p, "PLAIN LOGIN", 11) == 0);
	CHECK_EQ(sp_client_send_pipeline(c, group, lens, 3), SP_E_OK);
	CHECK_EQ(read(s.fd, buf, sizeof(buf)), 38, "the group in one go");
	srv_say(&s, "250 ok\r\n550 no\r\n354 go\r\n");
	CHECK(sp_client_read_reply(c, 1000, &r) == SP_E_OK && r.code == 250 &&
	    r.verb == SP_SMTP_VERB_MAIL);
	CHECK(sp_client_read_reply(c, 1000, &r) == SP_E_OK && r.code == 550 &&
	    r.verb == SP_SMTP_VERB_RCPT);
	CHECK(sp_client_read_reply(c, 1000, &r) == SP_E_OK && r.code == 354 &&
	    r.verb == SP_SMTP_VERB_DATA);
	CHECK_EQ(sp_client_send_message(c, (const uint8_t *)".x\r\n", 4, 0),
	    SP_E_OK);
	CHECK(read(s.fd, buf, sizeof(buf)) == 8 && memcmp(buf, "..x\r\n.\r\n",
	    8) == 0, "dot-stuffed, terminated");
	srv_say(&s, "250 queued\r\n421 bye\r\n");
	CHECK(sp_client_read_reply(c, 1000, &r) == SP_E_OK && r.code == 250 &&
	    r.kind == SP_SMTP_REPLY_DATA_END);
	CHECK(sp_client_read_reply(c, 1000, &r) == SP_E_OK && r.code == 421 &&
	    r.kind == SP_SMTP_REPLY_UNMATCHED && r.anomalies > 0);
	sp_client_free(c);
	srv_close(&s);
}

static void
test_limit_and_close(void)
{
	struct sp_client_options	 o;
	struct sp_client_reply		 r;
	enum sp_client_event		 ev;
	struct srv			 s;
	sp_client			*c;
	char				 line[1000];

	if (srv_listen(&s) != 0)
		return;
	sp_client_options_default(&o);
	o.max_reply_bytes = 4096;
	if ((c = connect_to(&s, &o)) == NULL)
		return;
	memset(line, 'x', sizeof(line));
	memcpy(line, "220-", 4);
	for (int i = 0; i < 8; i++)
		CHECK_EQ(write(s.fd, line, sizeof(line)), (ssize_t)sizeof(line));
	CHECK_EQ(sp_client_read_reply(c, 1000, &r), SP_E_LIMIT);
	CHECK(strstr(sp_client_errmsg(c), "longer than 4096 bytes") != NULL);
	CHECK(!sp_client_is_open(c), "unusable after the cap");
	CHECK_EQ(sp_client_send_line(c, "QUIT", 4), SP_E_STATE);
	sp_client_free(c);
	(void)close(s.fd);
	/* FIN: an orderly close, seen by a wait. */
	if ((c = connect_to(&s, NULL)) == NULL)
		return;
	srv_say(&s, "220 x\r\n");
	(void)close(s.fd);
	CHECK(sp_client_wait(c, 1000, &ev) == SP_E_OK &&
	    ev == SP_CLIENT_EV_DATA, "buffered reply first");
	CHECK_EQ(sp_client_read_reply(c, 1000, &r), SP_E_OK);
	CHECK(sp_client_wait(c, 1000, &ev) == SP_E_OK &&
	    ev == SP_CLIENT_EV_CLOSED);
	CHECK_EQ(sp_client_read_reply(c, 1000, &r), SP_E_CLOSED);
	sp_client_free(c);
	srv_close(&s);
}

/*
 * A listener whose accept queue is full drops new SYNs (Linux), so the
 * connect hangs and its own timeout must end it.
 */
static void
test_connect_timeout(void)
{
	struct sp_client_options	 o;
	struct sockaddr_in		 sa;
	struct srv			 s;
	sp_client			*c;
	int				 fill[4];
	double				 t0;
	sp_err				 e;

	if (srv_listen(&s) != 0)
		return;
	(void)listen(s.lfd, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)strtoul(s.port, NULL, 10));
	for (int i = 0; i < 4; i++) {
		fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		(void)connect(fill[i], (struct sockaddr *)&sa, sizeof(sa));
	}
	usleep(100000);
	sp_client_options_default(&o);
	o.timeouts.connect_ms = 300;
	if (sp_client_new(&c, &o) != SP_E_OK)
		return;
	t0 = now_s();
	e = sp_client_connect(c, "127.0.0.1", s.port);
	if (e == SP_E_OK) {
		fprintf(stderr, "connect timeout: queue not full here, skipped\n");
	} else {
		CHECK_EQ(e, SP_E_TIMEOUT, "%s", sp_client_errmsg(c));
		CHECK(strstr(sp_client_errmsg(c), "timed out after 0.3 s") !=
		    NULL, "%s", sp_client_errmsg(c));
		CHECK(now_s() - t0 < 2.0, "bounded");
	}
	sp_client_free(c);
	for (int i = 0; i < 4; i++)
		(void)close(fill[i]);
	(void)close(s.lfd);
}

int
main(void)
{
	test_connect_timeout();
	signal(SIGPIPE, SIG_IGN);
	test_timeout_and_cancel();
	test_dialogue();
	test_limit_and_close();
	return (check_done("client"));
}
