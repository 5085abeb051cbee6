/*
 * send.c - the compound exchanges of the shell: AUTH (RFC 4954) with
 * the secret read without echo, DATA with automatic dot-stuffing
 * (RFC 5321 4.5.2) and BDAT chunks (RFC 3030).  Each is recorded as
 * one script step followed by an expect of its final reply, and never
 * with the secret in it.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "shell.h"

#define AUTH_BUF	2048

/* One reply, shown; its code (0 if the wait failed). */
static int
read_one(struct repl *r, struct sp_client_reply *rep)
{
	int	to = r->o.timeout_ms ? (int)r->o.timeout_ms : -1;
	sp_err	e = sp_client_read_reply(r->c, to, rep);

	if (e != SP_E_OK) {
		shell_report(r, e, "waiting for the reply");
		return (0);
	}
	shell_print_reply(r, rep);
	return (rep->code);
}

static int
send_shown(struct repl *r, const char *line, const char *shown)
{
	sp_err e = sp_client_send_line(r->c, line, strlen(line));

	printf("-> %s\n", shown != NULL ? shown : line);
	if (e != SP_E_OK) {
		shell_report(r, e, "sending");
		return (-1);
	}
	return (0);
}

/*
 * Read a secret with echo off.  On a terminal the bytes are read with
 * read(2) so that nothing is left in a stdio buffer readline cannot
 * see; elsewhere it is the next line of stdin.
 */
static char *
read_secret(struct repl *r, const char *prompt)
{
	struct termios	 old, quiet;
	char		*s;
	size_t		 n = 0;
	char		 ch;

	if (!r->interactive || tcgetattr(STDIN_FILENO, &old) != 0)
		return (repl_readline(r, ""));
	/* Echo goes off before the prompt shows, so nothing typed after
	   the prompt can be echoed. */
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
	fputs(prompt, stdout);
	fflush(stdout);
	s = malloc(AUTH_BUF / 4);
	while (s != NULL && n < AUTH_BUF / 4 - 1 &&
	    read(STDIN_FILENO, &ch, 1) == 1 && ch != '\n' && ch != '\r')
		s[n++] = ch;
	if (s != NULL)
		s[n] = '\0';
	tcsetattr(STDIN_FILENO, TCSANOW, &old);
	printf("\n");
	return (s);
}

static int
auth_login(struct repl *r, const char *user, const char *pass,
    struct sp_client_reply *rep)
{
	char	b[AUTH_BUF];
	size_t	n;

	if (send_shown(r, "AUTH LOGIN", NULL) != 0 || read_one(r, rep) != 334)
		return (-1);
	if (sp_base64_encode(b, sizeof(b), &n, (const uint8_t *)user,
	    strlen(user)) != SP_E_OK || send_shown(r, b, NULL) != 0 ||
	    read_one(r, rep) != 334)
		return (-1);
	if (sp_base64_encode(b, sizeof(b), &n, (const uint8_t *)pass,
	    strlen(pass)) != SP_E_OK || send_shown(r, b, "<password>") != 0)
		return (-1);
	return (read_one(r, rep) > 0 ? 0 : -1);
}

static int
auth_cram(struct repl *r, const char *user, const char *pass,
    struct sp_client_reply *rep)
{
	char	b[AUTH_BUF];
	size_t	n;

	if (send_shown(r, "AUTH CRAM-MD5", NULL) != 0 ||
	    read_one(r, rep) != 334)
		return (-1);
	if (sp_auth_cram_md5(b, sizeof(b), &n, user, pass, rep->text) !=
	    SP_E_OK) {
		printf("** the 334 challenge is not valid base64\n");
		return (-1);
	}
	if (send_shown(r, b, "<response>") != 0)
		return (-1);
	return (read_one(r, rep) > 0 ? 0 : -1);
}

/* PLAIN and XOAUTH2 carry an initial response (RFC 4954 4). */
static int
auth_initial(struct repl *r, enum sp_script_auth m, const char *user,
    const char *pass, struct sp_client_reply *rep)
{
	char	b[AUTH_BUF], line[AUTH_BUF + 32];
	size_t	n;
	sp_err	e;

	e = m == SP_AUTH_PLAIN ?
	    sp_auth_plain(b, sizeof(b), &n, "", user, pass) :
	    sp_auth_xoauth2(b, sizeof(b), &n, user, pass);
	if (e != SP_E_OK)
		return (-1);
	snprintf(line, sizeof(line), "AUTH %s %s",
	    m == SP_AUTH_PLAIN ? "PLAIN" : "XOAUTH2", b);
	if (send_shown(r, line, m == SP_AUTH_PLAIN ? "AUTH PLAIN <redacted>" :
	    "AUTH XOAUTH2 <redacted>") != 0 || read_one(r, rep) == 0)
		return (-1);
	/* XOAUTH2 failures come as a 334 with a JSON error: answer "". */
	if (rep->code == 334 && (send_shown(r, "", "(empty line)") != 0 ||
	    read_one(r, rep) == 0))
		return (-1);
	return (0);
}

int
auth_run(struct repl *r, const char *args)
{
	char			 mech[16] = "", user[512] = "", *pass;
	struct sp_client_reply	 rep;
	struct sp_script_step	 st = { .op = SP_STEP_AUTH };
	enum sp_script_auth	 m;
	int			 rc;

	if (sscanf(args, "%15s %511s", mech, user) != 2) {
		printf("** :auth plain|login|cram-md5|xoauth2 USER\n");
		return (-1);
	}
	if ((m = sp_script_auth_from_name(mech, strlen(mech))) == 0) {
		printf("** unknown mechanism %s\n", mech);
		return (-1);
	}
	pass = read_secret(r, m == SP_AUTH_XOAUTH2 ? "token: " : "password: ");
	if (pass == NULL)
		return (-1);
	rc = m == SP_AUTH_LOGIN ? auth_login(r, user, pass, &rep) :
	    m == SP_AUTH_CRAM_MD5 ? auth_cram(r, user, pass, &rep) :
	    auth_initial(r, m, user, pass, &rep);
	explicit_bzero(pass, strlen(pass));
	free(pass);
	if (rc != 0)
		return (-1);
	st.mech = m;
	st.user = user;
	st.secret = "$SP_AUTH_SECRET";	/* never the secret itself */
	record_step(r, &st);
	record_expect(r, rep.code);
	return (rep.code / 100 == 2 ? 0 : -1);
}

/* A whole file, at most SHELL_MAX_FILE bytes. */
static uint8_t *
read_file(const char *path, size_t *len)
{
	FILE		*f = fopen(path, "rb");
	struct stat	 sb;
	uint8_t		*p = NULL;

	if (f == NULL || fstat(fileno(f), &sb) != 0 || sb.st_size < 0 ||
	    (uint64_t)sb.st_size > SHELL_MAX_FILE) {
		printf("** %s: cannot read (or over %u bytes)\n", path,
		    SHELL_MAX_FILE);
		if (f != NULL)
			fclose(f);
		return (NULL);
	}
	*len = (size_t)sb.st_size;
	p = malloc(*len + 1);
	if (p != NULL && fread(p, 1, *len, f) != *len) {
		free(p);
		p = NULL;
	}
	fclose(f);
	return (p);
}

/* Typed body lines until a lone "."; each line ends with CRLF. */
static uint8_t *
compose(struct repl *r, size_t *len)
{
	size_t	 cap = 4096, n = 0;
	uint8_t	*buf = malloc(cap), *nb;
	char	*l;

	printf("(type the message; a lone '.' ends it, dots are stuffed)\n");
	while (buf != NULL && (l = repl_readline(r, "msg> ")) != NULL) {
		size_t ln = strlen(l);

		if (strcmp(l, ".") == 0) {
			free(l);
			break;
		}
		if (ln > SHELL_MAX_FILE - n - 2) {
			free(l);
			break;
		}
		while (ln + 2 > cap - n) {
			nb = realloc(buf, cap * 2);
			if (nb == NULL) {
				free(buf);
				free(l);
				return (NULL);
			}
			buf = nb;
			cap *= 2;
		}
		memcpy(buf + n, l, ln);
		memcpy(buf + n + ln, "\r\n", 2);
		n += ln + 2;
		free(l);
	}
	*len = n;
	return (buf);
}

int
data_run(struct repl *r, const char *args)
{
	struct sp_client_reply	 rep;
	struct sp_script_step	 st = { .op = SP_STEP_DATA };
	char			 abs[PATH_MAX];
	uint8_t			*msg;
	size_t			 n = 0;
	sp_err			 e;

	msg = args[0] == '@' ? read_file(args + 1, &n) : compose(r, &n);
	if (msg == NULL)
		return (-1);
	if (send_shown(r, "DATA", NULL) != 0 || read_one(r, &rep) != 354) {
		free(msg);
		return (-1);
	}
	e = sp_client_send_message(r->c, msg, n, 1);
	printf("-> %zu bytes, then <CRLF>.<CRLF>\n", n);
	if (args[0] == '@' && realpath(args + 1, abs) != NULL)
		st.path = abs;
	else {
		st.text.p = msg;
		st.text.len = n;
	}
	if (e != SP_E_OK || read_one(r, &rep) == 0) {
		if (e != SP_E_OK)
			shell_report(r, e, "sending the message");
		free(msg);
		return (-1);
	}
	record_step(r, &st);
	record_expect(r, rep.code);
	free(msg);
	return (0);
}

int
bdat_run(struct repl *r, const char *args)
{
	struct sp_client_reply	 rep;
	struct sp_script_step	 st = { .op = SP_STEP_BDAT_FILE };
	char			 path[PATH_MAX], abs[PATH_MAX];
	unsigned long		 chunk = 65536;
	uint8_t			*msg;
	size_t			 n = 0, off = 0;

	if (sscanf(args, "@%4095s %lu", path, &chunk) < 1 || chunk == 0 ||
	    chunk > SHELL_MAX_FILE) {
		printf("** :bdat @FILE [CHUNK]\n");
		return (-1);
	}
	memset(&rep, 0, sizeof(rep));
	if ((msg = read_file(path, &n)) == NULL)
		return (-1);
	do {
		size_t	k = n - off < chunk ? n - off : chunk;
		int	last = off + k == n;
		sp_err	e = sp_client_send_bdat(r->c, msg + off, k, last);

		printf("-> BDAT %zu%s\n", k, last ? " LAST" : "");
		if (e != SP_E_OK) {
			shell_report(r, e, "sending BDAT");
			break;
		}
		off += k;
		if (read_one(r, &rep) / 100 != 2 || last)
			break;
	} while (off < n);
	free(msg);
	if (off != n || realpath(path, abs) == NULL)
		return (-1);
	st.path = abs;
	st.size = chunk;
	record_step(r, &st);
	record_expect(r, rep.code);
	return (0);
}
