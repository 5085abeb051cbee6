/*
 * Every capture listed in $SP_SHARED_CAPTURES/MANIFEST.tsv opens,
 * yields TCP segments, and has exactly the records the manifest
 * counts.  suricata-verify/smtp-to-comma.pcap is damaged upstream:
 * 18 records read, then a record header with a capture length of
 * 3925868813 (tcpdump: "invalid packet capture length"), which must
 * end reading with SP_E_FORMAT and a message naming file and offset.
 * Exits 77 when the folder is missing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

#include "check.h"
#include "pcapfile.h"

#define DAMAGED		"suricata-verify/smtp-to-comma.pcap"
#define DAMAGED_RECORDS	18u

/* Column col (0-based) of a tab-separated line, copied into out. */
static int
column(const char *line, int col, char *out, size_t outlen)
{
	const char	*p = line, *e;
	size_t		 n;

	for (int i = 0; i < col; i++) {
		p = strchr(p, '\t');
		if (p == NULL)
			return (0);
		p++;
	}
	e = strpbrk(p, "\t\n");
	n = e != NULL ? (size_t)(e - p) : strlen(p);
	if (n >= outlen)
		return (0);
	memcpy(out, p, n);
	out[n] = '\0';
	return (1);
}

static void
check_damaged(const char *full, const struct readout *r)
{
	char	want[1200];

	CHECK(r->end == SP_E_FORMAT || r->end == SP_E_TRUNCATED,
	    "%s: %s", full, r->msg);
	CHECK_EQ(r->st.frames, DAMAGED_RECORDS, "%s", full);
	CHECK(r->npkt > 0, "%s", full);
	snprintf(want, sizeof(want), "%s: corrupt record at offset ", full);
	CHECK(strncmp(r->msg, want, strlen(want)) == 0, "got %s", r->msg);
	CHECK(strstr(r->msg, "(after 18 packets)") != NULL, "got %s", r->msg);
}

static void
check_capture(const char *root, const char *file, unsigned long records)
{
	char		full[1024];
	struct readout	r;

	snprintf(full, sizeof(full), "%s/%s", root, file);
	read_capture(full, NULL, &r);
	CHECK_EQ(r.open, SP_E_OK, "%s: %s", file, r.msg);
	if (strcmp(file, DAMAGED) == 0) {
		check_damaged(full, &r);
		return;
	}
	CHECK_EQ(r.end, SP_E_EOF, "%s: %s", file, r.msg);
	CHECK(r.npkt > 0, "%s: no TCP segments", file);
	CHECK_EQ(r.st.frames, records, "%s", file);
	CHECK_EQ(r.st.offset, r.st.file_size, "%s", file);
	CHECK_EQ(r.st.malformed, 0u, "%s: %llu malformed", file,
	    (unsigned long long)r.st.malformed);
}

int
main(void)
{
	const char	*root = getenv("SP_SHARED_CAPTURES");
	char		 mpath[1024], line[65536], file[512], count[64];
	FILE		*fp;
	size_t		 n = 0;

	if (root == NULL) {
		printf("test_capture_shared: SP_SHARED_CAPTURES unset\n");
		return (77);
	}
	snprintf(mpath, sizeof(mpath), "%s/MANIFEST.tsv", root);
	fp = fopen(mpath, "r");
	if (fp == NULL) {
		printf("test_capture_shared: %s: %s\n", mpath,
		    strerror(errno));
		return (77);
	}
	if (fgets(line, sizeof(line), fp) == NULL)	/* header row */
		return (77);
	while (fgets(line, sizeof(line), fp) != NULL) {
		if (!column(line, 0, file, sizeof(file)) ||
		    !column(line, 9, count, sizeof(count)))
			continue;
		check_capture(root, file, strtoul(count, NULL, 10));
		n++;
	}
	fclose(fp);
	CHECK(n > 0, "no captures in %s", mpath);
	printf("test_capture_shared: %zu captures\n", n);
	return (check_done("test_capture_shared"));
}
