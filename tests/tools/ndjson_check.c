/*
 * ndjson_check - smtp-decode's NDJSON writer (tools/smtp-decode/
 * ndjson.c) against json-c's own serializer: random trees of every
 * type the records use (strings of any bytes, signed and unsigned
 * 64-bit integers, timestamps with their own text, plain doubles,
 * booleans, null, nested and empty objects and arrays) must come out
 * byte for byte as json_object_to_json_string_ext(PLAIN |
 * NOSLASHESCAPE) writes them.  Then the record trees (tools/common/
 * jv.c): random jv trees, with keys added twice (the later value
 * replaces the earlier in place) and null members, must be written by
 * jv_write_ndjson() as json-c writes their jv_to_json() copy.  Exits 1
 * on the first difference.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "jsonutil.h"
#include "jv.h"
#include "output.h"

/*
 * The json-c forms the session records were built with before jv.c:
 * a jv tree must come out as the same json-c tree and the same text.
 */
static json_object *
json_bytes(const uint8_t *p, size_t n)
{
	char		*buf;
	json_object	*j;

	if (n <= INT_MAX && wire_plain(p, n))
		return (json_object_new_string_len((const char *)p, (int)n));
	if (n > INT_MAX / 4 || (buf = malloc(n * 4 + 1)) == NULL)
		return (json_object_new_string(""));
	j = json_object_new_string_len(buf, (int)wire_text(buf, p, n));
	free(buf);
	return (j);
}

static json_object *
json_ts(sp_ts ts)
{
	char	buf[32];

	ts_text(ts, buf, sizeof(buf));
	return (json_object_new_double_s((double)(ts / 1000) / 1e6, buf));
}

/* Keys on each side of the writer's one-pass limit (48 bytes), and short ones. */
#define KEY47	"capabilities_of_the_server_as_they_were_offered"

/* Key -> value only when value is not NULL; the key is a literal. */
static void
json_add(json_object *o, const char *key, json_object *v)
{
	if (v != NULL)
		json_object_object_add_ex(o, key, v,
		    JSON_C_OBJECT_ADD_CONSTANT_KEY);
}

static uint32_t
rnd(uint32_t *x)
{
	*x = *x * 1103515245u + 12345u;
	return (*x >> 8);
}

static json_object *
rnd_string(uint32_t *x)
{
	char	buf[80];
	size_t	n = rnd(x) % sizeof(buf);

	for (size_t i = 0; i < n; i++) {
		uint32_t r = rnd(x) % 10;

		/* Mostly text; quotes, backslashes, controls, high bytes. */
		if (r < 6)
			buf[i] = (char)('a' + rnd(x) % 26);
		else if (r == 6)
			buf[i] = '"';
		else if (r == 7)
			buf[i] = '\\';
		else if (r == 8)
			buf[i] = (char)(rnd(x) % 32);
		else
			buf[i] = (char)(0x80 + rnd(x) % 128);
	}
	return (json_object_new_string_len(buf, (int)n));
}

static json_object *
rnd_int(uint32_t *x)
{
	static const int64_t	edge[] = { 0, -1, 1, INT64_MIN, INT64_MAX,
	    9, 10, -10, 4294967296 };

	switch (rnd(x) % 4) {
	case 0:
		return (json_object_new_int64(edge[rnd(x) % 9]));
	case 1:
		return (json_object_new_uint64(UINT64_MAX - rnd(x)));
	case 2:
		return (json_object_new_int((int)rnd(x) - (1 << 23)));
	default:
		return (json_object_new_uint64(rnd(x)));
	}
}

static json_object *rnd_value(uint32_t *, int);

static json_object *
rnd_container(uint32_t *x, int depth)
{
	static const char *const keys[] = { "a", "ts", "k\"q", "path/x",
	    "\x01", "uid", "", KEY47, KEY47 "x", KEY47 "xy\"z",
	    "fifteen_chars_x", "sixteen_chars_xx", "fourteen_ch\tx" };
	int		 obj = rnd(x) % 2, n = (int)(rnd(x) % 6);
	json_object	*c = obj ? json_object_new_object() :
	    json_object_new_array();

	for (int i = 0; i < n; i++) {
		json_object *v = rnd_value(x, depth + 1);

		if (obj)
			json_object_object_add(c, keys[rnd(x) % 13], v);
		else
			json_object_array_add(c, v);
	}
	return (c);
}

static json_object *
rnd_value(uint32_t *x, int depth)
{
	char	ts[32];

	switch (rnd(x) % (depth < 4 ? 8 : 6)) {
	case 0: return (rnd_string(x));
	case 1: return (rnd_int(x));
	case 2:
		snprintf(ts, sizeof(ts), "%u.%06u", rnd(x), rnd(x) % 1000000);
		return (json_object_new_double_s(1.5, ts));
	case 3: return (json_object_new_double((double)rnd(x) / 7.0));
	case 4: return (json_object_new_boolean(rnd(x) % 2));
	case 5: return (NULL);
	default: return (rnd_container(x, depth));
	}
}

/* --- jv trees, each beside the json-c tree the same calls build. --- */

static struct jv *rnd_jv(struct jv_arena *, uint32_t *, int, json_object **);

static struct jv *
rnd_jv_container(struct jv_arena *a, uint32_t *x, int depth, json_object **jo)
{
	static const char *const keys[] = { "a", "ts", "k\"q", "path/x",
	    "\x01", "uid", "", KEY47, KEY47 "x", KEY47 "xy\"z",
	    "fifteen_chars_x", "sixteen_chars_xx", "fourteen_ch\tx" };
	int		 obj = rnd(x) % 2, n = (int)(rnd(x) % 6);
	struct jv	*c = obj ? jv_object(a) : jv_array(a);

	*jo = obj ? json_object_new_object() : json_object_new_array();
	for (int i = 0; i < n; i++) {
		json_object	*jv;
		struct jv	*v = rnd_jv(a, x, depth + 1, &jv);
		const char	*k = keys[rnd(x) % 13];

		if (!obj) {
			jv_push(c, v);
			json_object_array_add(*jo, jv);
		} else if (rnd(x) % 2) {
			jv_add(c, k, v);	/* literal key; NULL: nothing */
			json_add(*jo, k, jv);
		} else {
			jv_put(c, k, v);	/* copied key; NULL: null */
			json_object_object_add(*jo, k, jv);
		}
	}
	return (c);
}

static struct jv *
rnd_jv(struct jv_arena *a, uint32_t *x, int depth, json_object **jo)
{
	static const int64_t	edge[] = { 0, -1, 1, INT64_MIN, INT64_MAX };
	uint8_t			b[80];
	size_t			n;
	int64_t			i;
	uint64_t		u;
	sp_ts			ts;

	switch (rnd(x) % (depth < 4 ? 8 : 6)) {
	case 0:
		n = rnd(x) % sizeof(b);
		for (size_t k = 0; k < n; k++)
			b[k] = (uint8_t)(rnd(x) % 3 == 0 ? rnd(x) :
			    'a' + rnd(x) % 26);
		/* Wire bytes (\xNN for non-UTF-8) or a string as it is. */
		if (rnd(x) % 2) {
			*jo = json_bytes(b, n);
			return (jv_bytes(a, b, n));
		}
		*jo = json_object_new_string_len((const char *)b, (int)n);
		return (jv_strn(a, (const char *)b, n));
	case 1:
		i = edge[rnd(x) % 5];
		*jo = json_object_new_int64(i);
		return (jv_int(a, i));
	case 2:
		ts = (sp_ts)rnd(x) * 1000003u * 1000u;
		*jo = json_ts(ts);
		return (jv_ts(a, ts));
	case 3:
		u = UINT64_MAX - rnd(x) * (rnd(x) % 2 ? 1u : 1000000000u);
		*jo = json_object_new_uint64(u);
		return (jv_uint(a, u));
	case 4:
		i = rnd(x) % 2;
		*jo = json_object_new_boolean((int)i);
		return (jv_bool(a, (int)i));
	case 5:
		*jo = NULL;
		return (NULL);
	default:
		return (rnd_jv_container(a, x, depth, jo));
	}
}

static const char *
plain(json_object *j)
{
	return (json_object_to_json_string_ext(j,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
}

static int
check_jv(void)
{
	uint32_t	x = 7;

	for (int round = 0; round < 20000; round++) {
		struct jv_arena	*a = jv_arena_new();
		json_object	*built, *conv;
		struct jv	*t;
		char		*got = NULL;
		size_t		 len = 0;
		FILE		*f = open_memstream(&got, &len);

		if (f == NULL || a == NULL)
			return (2);
		t = rnd_jv_container(a, &x, 0, &built);
		conv = jv_to_json(t);
		jv_write_ndjson(f, t);
		fclose(f);
		if (len != strlen(plain(built)) + 1 ||
		    memcmp(got, plain(built), len - 1) != 0 ||
		    got[len - 1] != '\n' ||
		    strcmp(plain(conv), plain(built)) != 0 ||
		    !json_object_equal(conv, built)) {
			fprintf(stderr, "jv round %d:\n got: %s conv: %s\n"
			    " want: %s\n", round, got, plain(conv),
			    plain(built));
			return (1);
		}
		free(got);
		json_object_put(built);
		json_object_put(conv);
		jv_arena_free(a);
	}
	printf("ndjson_check: 20000 jv trees identical\n");
	return (0);
}

/*
 * wire_plain() (16 bytes a step) against the plain rule, byte by byte:
 * every length to 80, a NUL or a byte >= 0x80 at every place or none.
 */
static int
check_wire_plain(void)
{
	uint8_t	b[80];

	for (size_t n = 0; n <= sizeof(b); n++)
		for (size_t at = 0; at <= n; at++)
			for (int bad = 0; bad < 3; bad++) {
				int	want = 1;

				for (size_t i = 0; i < n; i++)
					b[i] = (uint8_t)(' ' + (i * 7) % 95);
				if (at < n && bad > 0) {
					b[at] = bad == 1 ? 0 : (uint8_t)(0x80 +
					    at % 128);
					want = 0;
				}
				if (wire_plain(b, n) != want) {
					fprintf(stderr, "wire_plain: n %zu, "
					    "byte %zu, kind %d\n", n, at, bad);
					return (1);
				}
			}
	printf("ndjson_check: wire_plain agrees at every length and place\n");
	return (0);
}

int
main(void)
{
	uint32_t	x = 1;

	if (check_wire_plain() != 0)
		return (1);

	for (int round = 0; round < 20000; round++) {
		json_object	*t = rnd_container(&x, 0);
		char		*got = NULL;
		size_t		 len = 0;
		FILE		*f = open_memstream(&got, &len);
		const char	*want = json_object_to_json_string_ext(t,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);

		if (f == NULL)
			return (2);
		ndjson_write(f, t);
		fclose(f);
		if (len != strlen(want) + 1 || memcmp(got, want, len - 1) != 0 ||
		    got[len - 1] != '\n') {
			fprintf(stderr, "round %d:\n got: %s want: %s\n", round,
			    got, want);
			return (1);
		}
		free(got);
		json_object_put(t);
	}
	printf("ndjson_check: 20000 trees identical\n");
	return (check_jv());
}
