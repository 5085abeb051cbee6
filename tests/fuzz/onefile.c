/*
 * onefile.c - run a libFuzzer harness without libFuzzer: each argument
 * is a file (or a folder of files) fed once to LLVMFuzzerTestOneInput.
 * This is how the stored corpora replay as ordinary ctest cases
 * (libpcap and Suricata do the same).
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
run_file(const char *path)
{
	FILE	*f = fopen(path, "rb");
	uint8_t	*buf;
	long	 n;

	if (f == NULL) {
		perror(path);
		return (1);
	}
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0) {
		fclose(f);
		return (1);
	}
	/* malloc(0) may return NULL; keep one byte so it never does. */
	buf = malloc((size_t)n + 1);
	if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fprintf(stderr, "%s: read failed\n", path);
		free(buf);
		fclose(f);
		return (1);
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)n);
	free(buf);
	return (0);
}

static int
run_path(const char *path)
{
	struct stat	 st;
	DIR		*d;
	struct dirent	*e;
	char		 sub[4096];
	int		 rc = 0;

	if (stat(path, &st) != 0) {
		perror(path);
		return (1);
	}
	if (!S_ISDIR(st.st_mode))
		return (run_file(path));
	if ((d = opendir(path)) == NULL)
		return (1);
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name) >=
		    (int)sizeof(sub))
			continue;
		rc |= run_path(sub);
	}
	closedir(d);
	return (rc);
}

int
main(int argc, char **argv)
{
	int	rc = 0;

	for (int i = 1; i < argc; i++)
		rc |= run_path(argv[i]);
	if (rc == 0)
		printf("%d passed, 0 failed\n", argc - 1);
	return (rc);
}
