/*
 * Golden event logs: each tests/golden/smtp/X.in, fed segment by
 * segment, must log exactly X.ref.  SP_REGEN=1 rewrites the .ref files
 * (review the diff before committing them).
 */
#include "smtp_testlib.h"

#include "check.h"

int
main(void)
{
	glob_t		 gl = golden_cases();
	int		 regen = getenv("SP_REGEN") != NULL;

	for (size_t i = 0; i < gl.gl_pathc; i++) {
		const char	*in = gl.gl_pathv[i];
		struct gcase	*g = malloc(sizeof(*g));
		struct evlog	 log = { 0 };
		struct feeder	 fd = { FEED_WHOLE, 0, 0, NULL, SP_E_OK };
		char		*want;

		if (g == NULL || gcase_load(g, in) != 0)
			tl_die(in);
		(void)run_case(g, &fd, &log, NULL);
		if (regen) {
			FILE	*f = fopen(ref_path(in), "w");

			if (f == NULL || fputs(log.s ? log.s : "", f) < 0)
				tl_die("write .ref");
			fclose(f);
		}
		want = read_text(ref_path(in));
		CHECK(want != NULL, "%s: missing .ref", in);
		if (want != NULL)
			CHECK_STREQ(log.s ? log.s : "", want, "case %s", in);
		free(want);
		evlog_free(&log);
		gcase_free(g);
		free(g);
	}
	globfree(&gl);
	return (check_done("test_smtp_golden"));
}
