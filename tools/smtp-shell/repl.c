/*
 * repl.c - the readline glue.  readline's completion and signal hooks
 * take no user pointer, so this file keeps the shell's one file-static
 * state, g (SQLite's pattern); everything else gets it as an argument.
 *
 * Ctrl-C never ends the shell: during a wait it sets g.cancel, which
 * the client polls (sp_client_options.cancel_flag), and the wait ends
 * with SP_E_CANCELLED; at the prompt it clears the line.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <readline/readline.h>
#include <readline/history.h>

#include "shell.h"

#define HISTORY_MAX	1000

static struct repl g;

struct repl *
repl_get(void)
{
	return (&g);
}

static void
on_sigint(int sig)
{
	(void)sig;
	g.cancel = 1;
}

/* Called by readline when a signal interrupted its read. */
static int
signal_hook(void)
{
	if (!g.cancel)
		return (0);
	g.cancel = 0;
	rl_replace_line("", 0);
	rl_crlf();
	rl_on_new_line();
	rl_redisplay();
	return (0);
}

static char **
completion_hook(const char *text, int start, int end)
{
	rl_attempted_completion_over = 1;	/* no default file names */
	return (complete(&g, text, start, end, rl_line_buffer));
}

static void
history_path(char *out, size_t cap)
{
	const char *env = getenv("SMTP_SHELL_HISTORY");
	const char *home = getenv("HOME");

	out[0] = '\0';
	if (env != NULL)
		snprintf(out, cap, "%s", env);
	else if (home != NULL)
		snprintf(out, cap, "%s/.smtp_shell_history", home);
}

static void
setup(struct repl *r)
{
	struct sigaction	sa;
	char			hist[1024];

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigint;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);	/* no SA_RESTART: polls see it */
	signal(SIGPIPE, SIG_IGN);
	if (!r->interactive)
		return;
	rl_readline_name = "smtp-shell";
	rl_catch_signals = 0;
	rl_signal_event_hook = signal_hook;
	rl_attempted_completion_function = completion_hook;
	rl_completer_word_break_characters = (char *)" \t";
	using_history();
	stifle_history(HISTORY_MAX);
	history_path(hist, sizeof(hist));
	if (hist[0] != '\0')
		read_history(hist);
}

/* Without a terminal, lines come from stdin as they are, no prompt. */
static char *
read_plain(void)
{
	char	*line = NULL;
	size_t	 cap = 0;
	ssize_t	 n;

	errno = 0;
	n = getline(&line, &cap, stdin);
	if (n < 0) {
		free(line);
		return (NULL);
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	return (line);
}

/* One line typed (malloc'd; NULL at end of input). */
char *
repl_readline(struct repl *r, const char *prompt)
{
	char *line;

	if (!r->interactive)
		return (read_plain());
	line = readline(prompt);
	return (line);
}

static void
remember(struct repl *r, const char *line)
{
	char hist[1024];

	if (!r->interactive || line[0] == '\0')
		return;
	add_history(line);
	history_path(hist, sizeof(hist));
	if (hist[0] != '\0')
		write_history(hist);
}

/*
 * A typed STARTTLS that got its 220 is followed by the handshake
 * (RFC 3207 4), as :starttls does; to test what a server does with
 * bytes after the 220 in clear, send them with :raw instead.
 */
static void
typed_starttls(struct repl *r)
{
	struct sp_script_step	st;
	sp_err			e = sp_client_tls_upgrade(r->c);

	if (e != SP_E_OK) {
		shell_report(r, e, "TLS handshake");
		return;
	}
	memset(&st, 0, sizeof(st));
	st.op = SP_STEP_TLS;
	record_step(r, &st);
	shell_print_tls(r);
}

/* A line that is not a ':' command goes to the server as it is. */
static void
one_line(struct repl *r, const char *line)
{
	size_t n = strlen(line);

	if (line[0] == ':' && !r->in_data) {
		command_run(r, line);
		return;
	}
	if (shell_send_line(r, line, n) != 0)
		return;
	if (r->in_data) {
		/* RFC 5321 4.1.1.4: only a lone "." ends the data. */
		if (strcmp(line, ".") != 0)
			return;
		r->in_data = 0;
	}
	if (shell_read_replies(r, 1, 0) == 0 && r->last_code == 220 &&
	    strcasecmp(line, "STARTTLS") == 0)
		typed_starttls(r);
}

int
repl_run(struct repl *r)
{
	char	*line;

	setup(r);
	if (r->o.host != NULL)
		shell_connect(r, r->o.host, r->o.port);
	else if (r->interactive)
		printf("not connected; :connect HOST[:PORT], :help\n");
	while (!r->quit) {
		r->cancel = 0;
		line = repl_readline(r, r->in_data ? "data> " : "smtp> ");
		if (line == NULL)
			break;
		remember(r, line);
		r->cancel = 0;
		one_line(r, line);
		free(line);
		fflush(stdout);
	}
	if (r->interactive)
		printf("\n");
	return (0);
}
