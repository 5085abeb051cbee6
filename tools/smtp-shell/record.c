/*
 * record.c - :record FILE.  Every step of the session since it
 * connected is kept as a session script (docs/script-format.md); the
 * file is rewritten after each step, so it is complete even if the
 * shell is killed.  Replies become "expect CODE" with the exact code
 * seen, so a replay checks that the server still answers the same.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shell.h"

void
record_step(struct repl *r, const struct sp_script_step *st)
{
	sp_err e;

	if (r->rec == NULL && sp_script_new(&r->rec) != SP_E_OK)
		return;
	e = sp_script_append(r->rec, st);
	if (e != SP_E_OK)
		printf("** record: %s\n", sp_strerror(e));
	if (r->rec_path != NULL)
		record_flush(r);
}

void
record_send(struct repl *r, enum sp_script_op op, const void *p, size_t n)
{
	struct sp_script_step st;

	memset(&st, 0, sizeof(st));
	st.op = op;
	st.text.p = p;
	st.text.len = n;
	record_step(r, &st);
}

void
record_expect(struct repl *r, int code)
{
	struct sp_script_step st;

	memset(&st, 0, sizeof(st));
	st.op = SP_STEP_EXPECT;
	if (code >= 200 && code <= 599) {
		snprintf(st.expect.codes[0], sizeof(st.expect.codes[0]), "%d",
		    code);
		st.expect.ncodes = 1;
	}
	record_step(r, &st);
}

int
record_flush(struct repl *r)
{
	char	*text;
	size_t	 len;
	FILE	*f;

	if (r->rec_path == NULL || r->rec == NULL)
		return (0);
	if (sp_script_write(r->rec, &text, &len) != SP_E_OK)
		return (-1);
	f = fopen(r->rec_path, "w");
	if (f == NULL || fwrite(text, 1, len, f) != len) {
		printf("** record: cannot write %s\n", r->rec_path);
		if (f != NULL)
			fclose(f);
		free(text);
		return (-1);
	}
	free(text);
	return (fclose(f) == 0 ? 0 : -1);
}

int
record_start(struct repl *r, const char *path)
{
	char *p = strdup(path);

	if (p == NULL)
		return (-1);
	free(r->rec_path);
	r->rec_path = p;
	if (r->rec == NULL && sp_script_new(&r->rec) != SP_E_OK)
		return (-1);
	if (record_flush(r) != 0)
		return (-1);
	printf("recording to %s (%zu steps so far; replay with smtp-shell "
	    "--script %s HOST:PORT)\n", path, sp_script_nsteps(r->rec), path);
	return (0);
}
