/*
 * buggy_smtpd - a deliberately buggy SMTP server for the smtp-fuzz
 * tests.  It forks per connection like real MTAs (a crash kills one
 * session, the listener lives on) and listens on 127.0.0.1 only.
 *
 *   buggy_smtpd PORT [LIFETIME_S [CERT KEY]]
 *
 * With CERT and KEY (PEM files) it offers STARTTLS (RFC 3207).  AUTH
 * PLAIN and LOGIN accept only the user "tester" with the password
 * "s3cret" (the fuzzer is given them, as a real user would).
 *
 * Each planted bug is reachable only from its own state:
 *
 *   B1 crash  a BDAT chunk of size > 0 after an accepted "BDAT 0"
 *   B2 hang   the 5th RCPT of one transaction is never answered
 *   B3 rfc    after an RSET, DATA gets 354 with no accepted recipient
 *   B4 rfc    after a successful AUTH, LF.LF (bare LF) ends the data
 *   B5 rfc    more than 3 commands in one read: the 3rd reply is lost
 *   B6 crash  a MAIL parameter over 200 octets, once EHLO was used
 *             and the MAIL carries SMTPUTF8
 *   B7 rfc    commands sent in plaintext after STARTTLS, in the same
 *             read, are executed inside TLS (CVE-2011-0411)
 *   B8 rfc    EHLO inside TLS still offers STARTTLS
 *
 * Otherwise it is a plain, strict RFC 5321 server that stores nothing.
 * Every session ends after 60 s idle or 2000 commands; the listener
 * exits after LIFETIME_S (default 900) so a forgotten one goes away.
 */
#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define LINE_MAX_	1000		/* RFC 5321 4.5.3.1.4 text line */
#define IDLE_MS		60000
#define MAX_CMDS	2000
#define TLS_WAIT_S	10		/* a stalled handshake */

/* RFC 4616 base64("" NUL "tester" NUL "s3cret"); LOGIN's two lines. */
#define AUTH_PLAIN_OK	"AHRlc3RlcgBzM2NyZXQ="
#define AUTH_USER_OK	"dGVzdGVy"
#define AUTH_PASS_OK	"czNjcmV0"

static SSL_CTX	*tls_ctx;		/* NULL: no STARTTLS */

struct sess {
	int		fd;
	SSL		*ssl;		/* after STARTTLS */
	int		ehlo;		/* EHLO (not HELO) accepted */
	int		helo;
	int		auth;		/* AUTH succeeded */
	int		rset_seen;
	int		mail;
	int		nrcpt_cmds;	/* RCPT commands this transaction */
	int		nrcpt_ok;
	int		bdat_zero;	/* an accepted BDAT 0 */
	int		in_bdat;
	int		ncmds;
	int		lines_in_read;	/* complete lines of this read */
	int		line_no_in_read;
	unsigned char	buf[65536];
	size_t		len;
};

static void
reply(struct sess *s, const char *text)
{
	size_t	n = strlen(text);

	/* B5: more than 3 commands in one read lose the 3rd reply. */
	if (s->lines_in_read > 3 && s->line_no_in_read == 3)
		return;
	if (s->ssl != NULL ? SSL_write(s->ssl, text, (int)n) <= 0 :
	    write(s->fd, text, n) < 0)
		_exit(0);
}

/* Read more input; 0 on close, idle timeout or error. */
static int
fill(struct sess *s)
{
	struct pollfd	pfd = { .fd = s->fd, .events = POLLIN };
	ssize_t		n;

	if (s->len == sizeof(s->buf))
		return (0);
	if ((s->ssl == NULL || SSL_pending(s->ssl) == 0) &&
	    poll(&pfd, 1, IDLE_MS) <= 0)
		return (0);
	if (s->ssl != NULL)
		n = SSL_read(s->ssl, s->buf + s->len,
		    (int)(sizeof(s->buf) - s->len));
	else
		n = read(s->fd, s->buf + s->len, sizeof(s->buf) - s->len);
	if (n <= 0)
		return (0);
	s->len += (size_t)n;
	return (1);
}

static int
count_lines(const struct sess *s)
{
	int	n = 0;

	for (size_t i = 0; i + 1 < s->len; i++)
		if (s->buf[i] == '\r' && s->buf[i + 1] == '\n')
			n++;
	return (n);
}

/* Take one CRLF line (without it) into out; 0 on close. */
static int
get_line(struct sess *s, char *out, size_t cap)
{
	for (;;) {
		for (size_t i = 0; i + 1 < s->len; i++) {
			if (s->buf[i] != '\r' || s->buf[i + 1] != '\n')
				continue;
			size_t n = i < cap - 1 ? i : cap - 1;
			memcpy(out, s->buf, n);
			out[n] = '\0';
			memmove(s->buf, s->buf + i + 2, s->len - i - 2);
			s->len -= i + 2;
			s->line_no_in_read++;
			return (1);
		}
		if (s->len >= LINE_MAX_ + 2 && s->len == sizeof(s->buf))
			return (0);
		if (!fill(s))
			return (0);
		s->lines_in_read = count_lines(s);
		s->line_no_in_read = 0;
	}
}

/* Read exactly n octets (a BDAT chunk); 0 on close. */
static int
get_bytes(struct sess *s, unsigned long n)
{
	while (n > 0) {
		if (s->len == 0 && !fill(s))
			return (0);
		size_t k = s->len < n ? s->len : (size_t)n;
		memmove(s->buf, s->buf + k, s->len - k);
		s->len -= k;
		n -= k;
	}
	s->lines_in_read = 0;
	return (1);
}

/*
 * Read a DATA body up to CRLF.CRLF; with bare_lf (B4) LF.LF also ends
 * it.  0 on close.
 */
static int
get_body(struct sess *s, int bare_lf)
{
	unsigned char	w[5] = { 0 };

	for (;;) {
		if (s->len == 0 && !fill(s))
			return (0);
		size_t i;
		for (i = 0; i < s->len; i++) {
			memmove(w, w + 1, 4);
			w[4] = s->buf[i];
			if (memcmp(w, "\r\n.\r\n", 5) == 0 ||
			    (bare_lf && memcmp(w + 2, "\n.\n", 3) == 0))
				break;
		}
		if (i < s->len) {
			memmove(s->buf, s->buf + i + 1, s->len - i - 1);
			s->len -= i + 1;
			s->lines_in_read = 0;
			return (1);
		}
		s->len = 0;
	}
}

static void
new_txn(struct sess *s)
{
	s->mail = 0;
	s->nrcpt_cmds = 0;
	s->nrcpt_ok = 0;
	s->bdat_zero = 0;
	s->in_bdat = 0;
}

static int
verb_is(const char *line, const char *verb)
{
	size_t	n = strlen(verb);

	return (strncasecmp(line, verb, n) == 0 &&
	    (line[n] == '\0' || line[n] == ' ' || line[n] == ':'));
}

/* B6: a MAIL parameter (after the path) longer than 200 octets. */
static void
check_mail_params(struct sess *s, const char *line)
{
	const char	*p = strchr(line, '>');
	char		 param[200];
	int		 utf8 = 0;
	size_t		 longest = 0;

	if (p == NULL)
		return;
	for (p++; *p != '\0';) {
		while (*p == ' ')
			p++;
		size_t n = strcspn(p, " ");
		if (n == 8 && strncasecmp(p, "SMTPUTF8", 8) == 0)
			utf8 = 1;
		if (n > longest)
			longest = n;
		p += n;
	}
	if (s->ehlo && utf8 && longest > sizeof(param)) {
		/* The planted overflow: crash like a smashed stack would. */
		abort();
	}
}

static void
cmd_mail(struct sess *s, const char *line)
{
	if (!s->helo) {
		reply(s, "503 5.5.1 EHLO first\r\n");
		return;
	}
	if (s->mail) {
		reply(s, "503 5.5.1 nested MAIL\r\n");
		return;
	}
	if (strncasecmp(line, "MAIL FROM:<", 11) != 0 ||
	    strchr(line, '>') == NULL) {
		reply(s, "501 5.5.4 syntax: MAIL FROM:<address>\r\n");
		return;
	}
	check_mail_params(s, line);
	s->mail = 1;
	reply(s, "250 2.1.0 sender ok\r\n");
}

static void
cmd_rcpt(struct sess *s, const char *line)
{
	if (!s->mail) {
		reply(s, "503 5.5.1 need MAIL\r\n");
		return;
	}
	if (++s->nrcpt_cmds == 5) {
		/* B2: the 5th RCPT hangs (bounded so no child lingers). */
		sleep(20);
		_exit(0);
	}
	if (strncasecmp(line, "RCPT TO:<", 9) != 0 ||
	    strchr(line, '>') == NULL) {
		reply(s, "501 5.5.4 syntax: RCPT TO:<address>\r\n");
		return;
	}
	s->nrcpt_ok++;
	reply(s, "250 2.1.5 recipient ok\r\n");
}

static int
cmd_data(struct sess *s)
{
	/* B3: after an RSET the recipient check is forgotten. */
	if (!s->rset_seen && (!s->mail || s->nrcpt_ok == 0)) {
		reply(s, "503 5.5.1 need RCPT\r\n");
		return (1);
	}
	if (s->in_bdat) {
		reply(s, "503 5.5.1 BDAT in progress\r\n");
		return (1);
	}
	reply(s, "354 end with <CRLF>.<CRLF>\r\n");
	if (!get_body(s, s->auth))
		return (0);
	new_txn(s);
	reply(s, "250 2.0.0 queued\r\n");
	return (1);
}

static int
cmd_bdat(struct sess *s, const char *line)
{
	char		*end;
	const char	*p = line + 4;
	unsigned long	 n;
	int		 last;

	while (*p == ' ')
		p++;
	errno = 0;
	n = strtoul(p, &end, 10);
	if (end == p || errno != 0 || n > 10000000) {
		reply(s, "501 5.5.4 syntax: BDAT size [LAST]\r\n");
		return (1);
	}
	last = strcasecmp(end, " LAST") == 0;
	if (!get_bytes(s, n))
		return (0);
	if (!s->mail || s->nrcpt_ok == 0) {
		reply(s, "503 5.5.1 need RCPT\r\n");
		return (1);
	}
	if (n > 0 && s->bdat_zero) {
		/* B1: the zero chunk left a freed buffer behind. */
		abort();
	}
	if (n == 0 && !last)
		s->bdat_zero = 1;
	s->in_bdat = 1;
	if (last) {
		new_txn(s);
		reply(s, "250 2.0.0 message queued\r\n");
	} else
		reply(s, "250 2.0.0 chunk ok\r\n");
	return (1);
}

/* One AUTH LOGIN exchange: prompt, then compare the answer. */
static int
login_step(struct sess *s, const char *prompt, const char *want, int *ok)
{
	char	line[LINE_MAX_ + 1];

	reply(s, prompt);
	if (!get_line(s, line, sizeof(line)))
		return (0);
	*ok = *ok && strcmp(line, want) == 0;
	return (1);
}

/* AUTH PLAIN with an initial response, or AUTH LOGIN; 0 on close. */
static int
cmd_auth(struct sess *s, const char *line)
{
	int	ok = 1;

	if (!s->ehlo || s->auth) {
		reply(s, "503 5.5.1 no AUTH now\r\n");
		return (1);
	}
	if (strncasecmp(line, "AUTH PLAIN ", 11) == 0)
		ok = strcmp(line + 11, AUTH_PLAIN_OK) == 0;
	else if (strcasecmp(line, "AUTH LOGIN") == 0) {
		if (!login_step(s, "334 VXNlcm5hbWU6\r\n", AUTH_USER_OK, &ok) ||
		    !login_step(s, "334 UGFzc3dvcmQ6\r\n", AUTH_PASS_OK, &ok))
			return (0);
	} else {
		reply(s, "504 5.5.4 AUTH PLAIN (with a response) or LOGIN\r\n");
		return (1);
	}
	s->auth = ok;
	reply(s, ok ? "235 2.7.0 authenticated\r\n" :
	    "535 5.7.8 bad credentials\r\n");
	return (1);
}

/* RFC 3207 4.2: after the handshake the session starts afresh. */
static int
cmd_starttls(struct sess *s)
{
	struct timeval	tv = { TLS_WAIT_S, 0 };

	if (tls_ctx == NULL || s->ssl != NULL) {
		reply(s, "503 5.5.1 no STARTTLS now\r\n");
		return (1);
	}
	reply(s, "220 2.0.0 ready to start TLS\r\n");
	/* B7: the rest of the plaintext read stays in s->buf and is run
	   inside TLS; a correct server empties it here (s->len = 0). */
	setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if ((s->ssl = SSL_new(tls_ctx)) == NULL ||
	    SSL_set_fd(s->ssl, s->fd) != 1 || SSL_accept(s->ssl) != 1)
		return (0);
	s->helo = s->ehlo = s->auth = 0;
	new_txn(s);
	return (1);
}

static void
cmd_ehlo(struct sess *s, int ehlo)
{
	new_txn(s);
	s->helo = 1;
	s->ehlo = ehlo;
	if (!ehlo) {
		reply(s, "250 buggy.test\r\n");
		return;
	}
	/* B8: STARTTLS is offered inside TLS too (RFC 3207 4.2). */
	reply(s, tls_ctx != NULL ?
	    "250-buggy.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n"
	    "250-8BITMIME\r\n250-SMTPUTF8\r\n250-CHUNKING\r\n250-DSN\r\n"
	    "250-STARTTLS\r\n250-AUTH PLAIN LOGIN\r\n"
	    "250 ENHANCEDSTATUSCODES\r\n" :
	    "250-buggy.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n"
	    "250-8BITMIME\r\n250-SMTPUTF8\r\n250-CHUNKING\r\n250-DSN\r\n"
	    "250-AUTH PLAIN LOGIN\r\n250 ENHANCEDSTATUSCODES\r\n");
}

/* One command; 0 ends the session. */
static int
command(struct sess *s, const char *line)
{
	if (verb_is(line, "EHLO") || verb_is(line, "HELO"))
		cmd_ehlo(s, verb_is(line, "EHLO"));
	else if (verb_is(line, "MAIL"))
		cmd_mail(s, line);
	else if (verb_is(line, "RCPT"))
		cmd_rcpt(s, line);
	else if (verb_is(line, "DATA"))
		return (cmd_data(s));
	else if (verb_is(line, "BDAT"))
		return (cmd_bdat(s, line));
	else if (verb_is(line, "AUTH"))
		return (cmd_auth(s, line));
	else if (verb_is(line, "STARTTLS"))
		return (cmd_starttls(s));
	else if (verb_is(line, "RSET")) {
		new_txn(s);
		s->rset_seen = 1;
		reply(s, "250 2.0.0 reset\r\n");
	} else if (verb_is(line, "NOOP"))
		reply(s, "250 2.0.0 ok\r\n");
	else if (verb_is(line, "VRFY") || verb_is(line, "EXPN"))
		reply(s, "252 2.1.5 cannot verify\r\n");
	else if (verb_is(line, "HELP"))
		reply(s, "214 2.0.0 see RFC 5321\r\n");
	else if (verb_is(line, "QUIT")) {
		reply(s, "221 2.0.0 bye\r\n");
		return (0);
	} else
		reply(s, "500 5.5.2 unknown command\r\n");
	return (1);
}

static void
session(int fd)
{
	static struct sess	 s;
	char			 line[LINE_MAX_ + 1];
	struct rlimit		 nocore = { 0, 0 };

	setrlimit(RLIMIT_CORE, &nocore);
	memset(&s, 0, sizeof(s));
	s.fd = fd;
	reply(&s, "220 buggy.test ESMTP buggy_smtpd\r\n");
	while (s.ncmds++ < MAX_CMDS && get_line(&s, line, sizeof(line))) {
		if (!command(&s, line))
			break;
	}
	close(fd);
	_exit(0);
}

static int
tls_setup(const char *cert, const char *key)
{
	if ((tls_ctx = SSL_CTX_new(TLS_server_method())) == NULL ||
	    SSL_CTX_use_certificate_chain_file(tls_ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(tls_ctx, key, SSL_FILETYPE_PEM) != 1) {
		fprintf(stderr, "buggy_smtpd: cannot load %s / %s\n", cert,
		    key);
		ERR_print_errors_fp(stderr);
		return (-1);
	}
	return (0);
}

/* The listening socket on 127.0.0.1:port, or -1. */
static int
listen_on(long port)
{
	struct sockaddr_in	 sin;
	int			 lfd, one = 1;

	if ((lfd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return (-1);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    listen(lfd, 64) < 0) {
		perror("buggy_smtpd: bind/listen");
		close(lfd);
		return (-1);
	}
	return (lfd);
}

/*
 * Fork a child per connection until the lifetime ends.  Children are
 * reaped and their deaths logged, as Postfix's master does ("process
 * smtpd pid N killed by signal 6").
 */
static void
serve(int lfd, long life)
{
	time_t	end = time(NULL) + life;
	int	one = 1;

	while (time(NULL) < end) {
		struct pollfd pfd = { .fd = lfd, .events = POLLIN };
		int st;
		pid_t dead;
		while ((dead = waitpid(-1, &st, WNOHANG)) > 0)
			if (WIFSIGNALED(st))
				fprintf(stderr, "buggy_smtpd: process pid %ld "
				    "killed by signal %d\n", (long)dead,
				    WTERMSIG(st));
		if (poll(&pfd, 1, 20) <= 0)
			continue;
		int fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			continue;
		if (fork() == 0) {
			/* A reply per write, at once (no Nagle delays). */
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
			    sizeof(one));
			close(lfd);
			session(fd);
		}
		close(fd);
	}
}

int
main(int argc, char **argv)
{
	long	port, life = 900;
	int	lfd;

	if (argc != 2 && argc != 3 && argc != 5) {
		fprintf(stderr, "usage: buggy_smtpd PORT [LIFETIME_S "
		    "[CERT KEY]]\n");
		return (2);
	}
	port = strtol(argv[1], NULL, 10);
	if (argc >= 3)
		life = strtol(argv[2], NULL, 10);
	if (port <= 0 || port > 65535 || life <= 0 || life > 86400) {
		fprintf(stderr, "buggy_smtpd: bad port or lifetime\n");
		return (2);
	}
	if (argc == 5 && tls_setup(argv[3], argv[4]) != 0)
		return (1);
	signal(SIGPIPE, SIG_IGN);
	if ((lfd = listen_on(port)) < 0)
		return (1);
	printf("buggy_smtpd listening on 127.0.0.1:%ld\n", port);
	fflush(stdout);
	serve(lfd, life);
	return (0);
}
