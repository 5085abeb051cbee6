/*
 * Live capture on the loopback interface: a TCP connection to a random
 * high port on 127.0.0.1 must show up (handshake and payload) through
 * a "tcp port N" filter, the kernel counters must move, and
 * sp_capture_break() from a signal handler must end a blocked read.
 * Exits 77 when capturing is not permitted here.  Bounded: at most a
 * few seconds, a handful of packets, loopback only.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#include "check.h"

static const char	hello[] = "HELO live.example\r\n";

static double
now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

/* A listening socket on 127.0.0.1, port chosen by the kernel. */
static int
listener(uint16_t *port)
{
	struct sockaddr_in	sin = { .sin_family = AF_INET };
	socklen_t		len = sizeof(sin);
	int			fd = socket(AF_INET, SOCK_STREAM, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    listen(fd, 1) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) != 0) {
		perror("listener");
		exit(1);
	}
	*port = ntohs(sin.sin_port);
	return (fd);
}

static void
talk(int lfd, uint16_t port)
{
	struct sockaddr_in	sin = { .sin_family = AF_INET };
	char			buf[64];
	int			cfd = socket(AF_INET, SOCK_STREAM, 0), sfd;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(port);
	if (cfd < 0 || connect(cfd, (struct sockaddr *)&sin,
	    sizeof(sin)) != 0) {
		perror("connect");
		exit(1);
	}
	sfd = accept(lfd, NULL, NULL);
	if (sfd < 0 || send(cfd, hello, sizeof(hello) - 1, 0) < 0 ||
	    recv(sfd, buf, sizeof(buf), 0) <= 0) {
		perror("talk");
		exit(1);
	}
	close(cfd);
	close(sfd);
}

struct seen {
	unsigned	segments, syn, hello;
};

static void
collect(sp_capture *c, uint16_t port, struct seen *s, double secs)
{
	struct sp_packet	pkt;
	double			end = now() + secs;
	sp_err			e;

	memset(s, 0, sizeof(*s));
	while (now() < end && !(s->syn && s->hello && s->segments >= 6)) {
		e = sp_capture_next(c, &pkt);
		if (e == SP_E_AGAIN)
			continue;
		CHECK_EQ(e, SP_E_OK, "%s", sp_capture_error(c));
		if (e != SP_E_OK)
			return;
		CHECK(pkt.sport == port || pkt.dport == port);
		s->segments++;
		if (pkt.flags & SP_TCP_SYN)
			s->syn++;
		if (pkt.payload_len == sizeof(hello) - 1 &&
		    memcmp(pkt.payload, hello, pkt.payload_len) == 0)
			s->hello++;
	}
}

static sp_capture	*to_break;	/* for the signal handler only */

static void
on_alarm(int sig)
{
	(void)sig;
	sp_capture_break(to_break);
}

/* A read blocked for seconds ends at once when a signal breaks it. */
static void
test_break(const struct sp_limits *lim)
{
	struct sp_capture_live_opts	opts = { .filter = "tcp port 1",
	    .timeout_ms = 4000 };
	struct itimerval		it = { .it_value = { 0, 200000 } };
	struct sp_packet		pkt;
	char				msg[512];
	double				t0;
	sp_err				e;

	if (sp_capture_open_live(&to_break, "lo", &opts, lim, msg,
	    sizeof(msg)) != SP_E_OK) {
		CHECK(0, "%s", msg);
		return;
	}
	signal(SIGALRM, on_alarm);
	setitimer(ITIMER_REAL, &it, NULL);
	t0 = now();
	do
		e = sp_capture_next(to_break, &pkt);
	while (e == SP_E_AGAIN && now() - t0 < 10);
	CHECK_EQ(e, SP_E_EOF, "%s", sp_capture_error(to_break));
	CHECK(now() - t0 < 3.0, "break took %.2f s", now() - t0);
	sp_capture_free(to_break);
	to_break = NULL;
}

int
main(void)
{
	struct sp_limits		lim;
	struct sp_capture_live_opts	opts = { .timeout_ms = 50 };
	struct sp_capture_stats		st;
	struct sp_packet		pkt;
	struct seen			s;
	sp_capture			*c;
	char				filter[64], msg[512];
	uint16_t			port;
	int				lfd;
	sp_err				e;

	sp_limits_default(&lim);
	lfd = listener(&port);
	snprintf(filter, sizeof(filter), "tcp port %u", port);
	opts.filter = filter;
	e = sp_capture_open_live(&c, "lo", &opts, &lim, msg, sizeof(msg));
	if (e == SP_E_IO) {
		printf("test_capture_live: skipped: %s\n", msg);
		return (77);
	}
	CHECK_EQ(e, SP_E_OK, "%s", msg);
	if (e != SP_E_OK)
		return (check_done("test_capture_live"));
	CHECK(sp_capture_fd(c) >= 0);
	CHECK_EQ(sp_capture_linktype(c), SP_LINK_ETHERNET);
	talk(lfd, port);
	collect(c, port, &s, 5.0);
	CHECK(s.syn >= 2, "SYN and SYN-ACK: %u", s.syn);
	CHECK_EQ(s.hello, 1u);
	sp_capture_get_stats(c, &st);
	CHECK(st.tcp >= s.segments);
	CHECK(st.kernel_received >= s.segments, "kernel saw %llu",
	    (unsigned long long)st.kernel_received);
	CHECK_EQ(st.file_size, 0u);
	sp_capture_break(c);
	CHECK_EQ(sp_capture_next(c, &pkt), SP_E_EOF);
	sp_capture_free(c);
	close(lfd);

	e = sp_capture_open_live(&c, "no-such-interface0", &opts, &lim, msg,
	    sizeof(msg));
	CHECK_EQ(e, SP_E_IO);
	CHECK(strstr(msg, "no-such-interface0") != NULL, "%s", msg);
	test_break(&lim);
	return (check_done("test_capture_live"));
}
