/*
 * Golden event logs for the MIME parser: each X.eml in tests/golden/mime
 * must produce X.ref (format in mime_log.h), fed whole, in two pieces
 * at every cut point, one byte at a time, and placed right before an
 * inaccessible page (any over-read crashes), and with each allocation
 * failing in turn (SP_E_NOMEM, never a crash or a leak).  An optional X.lim sets
 * limits, one "name value" a line.  SP_UPDATE_GOLDEN=1 rewrites the
 * .ref files (review the diff before committing them).
 */
#include <dirent.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check.h"
#include "failalloc.h"
#include "mime_log.h"

#define DIR_GOLDEN	"tests/golden/mime"

static uint8_t *
slurp(const char *path, size_t *len)
{
	FILE	*f = fopen(path, "rb");
	uint8_t	*buf = NULL;
	size_t	 cap = 0, n;

	*len = 0;
	if (f == NULL)
		return (NULL);
	for (;;) {
		if (*len + 4096 > cap) {
			cap = (cap + 4096) * 2;
			buf = realloc(buf, cap);
			if (buf == NULL)
				abort();
		}
		n = fread(buf + *len, 1, 4096, f);
		*len += n;
		if (n == 0)
			break;
	}
	fclose(f);
	return (buf);
}

static void
read_limits(const char *path, struct sp_limits *lim)
{
	FILE	*f = fopen(path, "r");
	char	 key[64];
	unsigned long v;

	sp_limits_default(lim);
	if (f == NULL)
		return;
	while (fscanf(f, "%63s %lu", key, &v) == 2) {
		if (strcmp(key, "max_mime_depth") == 0)
			lim->max_mime_depth = v;
		else if (strcmp(key, "max_mime_parts") == 0)
			lim->max_mime_parts = v;
		else if (strcmp(key, "max_header_line") == 0)
			lim->max_header_line = v;
		else if (strcmp(key, "max_header_bytes") == 0)
			lim->max_header_bytes = v;
		else if (strcmp(key, "max_headers") == 0)
			lim->max_headers = v;
		else if (strcmp(key, "max_boundary") == 0)
			lim->max_boundary = v;
		else if (strcmp(key, "max_urls") == 0)
			lim->max_urls = v;
		else
			fprintf(stderr, "%s: unknown limit %s\n", path, key);
	}
	fclose(f);
}

/* The message placed so that its last byte touches a PROT_NONE page. */
static char *
run_guarded(const struct sp_limits *lim, const uint8_t *msg, size_t len)
{
	size_t	 pg = (size_t)sysconf(_SC_PAGESIZE);
	size_t	 span = (len + pg - 1) / pg * pg + pg;
	uint8_t	*map;
	char	*log;

	map = mmap(NULL, span, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED)
		abort();
	if (mprotect(map + span - pg, pg, PROT_NONE) != 0)
		abort();
	memcpy(map + span - pg - len, msg, len);
	log = mlog_run(lim, map + span - pg - len, len, NULL, 0, NULL);
	munmap(map, span);
	return (log);
}

/* failmalloc: fail the Nth allocation, for every N until none fails. */
static void
failmalloc_sweep(struct sp_limits lim, const uint8_t *msg, size_t len,
    const char *want, const char *name)
{
	struct failalloc	 fa;
	char			*got;
	sp_err			 e;
	long			 nth;

	lim.alloc = &fa.al;
	for (nth = 0; nth < 10000; nth++) {
		failalloc_init(&fa, nth + 1, false);
		got = mlog_run(&lim, msg, len, NULL, 0, &e);
		if (!fa.failed) {
			CHECK_EQ(e, SP_E_OK, "%s", name);
			CHECK_STREQ(got, want, "%s: no failure", name);
			free(got);
			break;
		}
		CHECK(e == SP_E_NOMEM, "%s: allocation %ld failed, got %s",
		    name, nth, sp_errname(e));
		free(got);
	}
	CHECK(nth > 3, "%s: only %ld allocations", name, nth);
}

static void
check_case(const char *name)
{
	char		 path[512];
	struct sp_limits lim;
	uint8_t		*msg, *ref;
	size_t		 len, rlen, *cuts;
	char		*want, *got;
	size_t		 cut;
	FILE		*f;

	snprintf(path, sizeof(path), DIR_GOLDEN "/%s.lim", name);
	read_limits(path, &lim);
	snprintf(path, sizeof(path), DIR_GOLDEN "/%s.eml", name);
	msg = slurp(path, &len);
	CHECK(msg != NULL, "%s", path);
	if (msg == NULL)
		return;
	want = mlog_run(&lim, msg, len, NULL, 0, NULL);
	snprintf(path, sizeof(path), DIR_GOLDEN "/%s.ref", name);
	f = getenv("SP_UPDATE_GOLDEN") != NULL ? fopen(path, "w") : NULL;
	if (f != NULL) {
		fputs(want, f);
		fclose(f);
	}
	ref = slurp(path, &rlen);
	if (ref != NULL)
		ref[rlen] = '\0';
	CHECK_STREQ(want, (char *)ref, "%s: whole", name);

	for (cut = 0; cut <= len; cut++) {
		got = mlog_run(&lim, msg, len, &cut, 1, NULL);
		if (strcmp(got, want) != 0) {
			CHECK_STREQ(got, want, "%s: cut at %zu", name, cut);
			free(got);
			break;
		}
		free(got);
	}
	cuts = malloc((len + 1) * sizeof(*cuts));
	for (size_t i = 0; i < len; i++)
		cuts[i] = i;
	got = mlog_run(&lim, msg, len, cuts, len, NULL);
	CHECK_STREQ(got, want, "%s: one byte at a time", name);
	free(got);
	free(cuts);
	got = run_guarded(&lim, msg, len);
	CHECK_STREQ(got, want, "%s: before a guard page", name);
	free(got);
	failmalloc_sweep(lim, msg, len, want, name);
	free(want);
	free(ref);
	free(msg);
}

static int
cmp_str(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

int
main(void)
{
	DIR		*d = opendir(DIR_GOLDEN);
	struct dirent	*e;
	char		*names[512];
	size_t		 n = 0, l;

	CHECK(d != NULL, "run from the source tree");
	if (d == NULL)
		return (check_done("test_mime_golden"));
	while ((e = readdir(d)) != NULL && n < sizeof(names) / sizeof(names[0])) {
		l = strlen(e->d_name);
		if (l > 4 && strcmp(e->d_name + l - 4, ".eml") == 0)
			names[n++] = strndup(e->d_name, l - 4);
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), cmp_str);
	CHECK(n >= 20, "only %zu golden cases", n);
	for (size_t i = 0; i < n; i++) {
		check_case(names[i]);
		free(names[i]);
	}
	return (check_done("test_mime_golden"));
}
