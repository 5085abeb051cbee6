/*
 * jv.h - small JSON value trees in an arena, for the session records.
 *
 * Why not json-c: every json-c value is a malloc, every object a hash
 * table; a session record of ~130 values cost ~300 mallocs and frees,
 * a seventh of smtp-decode's time.  A jv tree lives in a jv_arena (a
 * chain of chunks, bump-allocated) and is freed with it at once.
 * Objects keep their keys in insertion order, as json-c does, and
 * adding a key twice replaces the value in place (json-c's rule too),
 * so jv_write_ndjson() writes what json-c would and jv_to_json() gives
 * the same json-c tree the record used to be.
 *
 * Nothing is freed on its own: a value replaced or dropped stays in
 * its arena until the arena goes.  Parts that may be replaced or
 * dropped many times in one session get an arena of their own.
 *
 * Allocation failures give NULL; every function takes NULL containers
 * and does nothing, so a record short of memory loses values rather
 * than crashing (json-c behaves the same way).
 */
#ifndef SP_JV_H
#define SP_JV_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>

#include <smtpproto/smtpproto.h>

struct jv_arena;
struct jv;

enum jv_type {
	JV_BOOL, JV_INT, JV_UINT, JV_DOUBLE, JV_STRING, JV_OBJECT, JV_ARRAY
};

struct jv_arena	*jv_arena_new(void);
/* Frees the arena, its values and every arena it adopted. */
void		 jv_arena_free(struct jv_arena *a);
/* child is freed with parent from now on (its values may be linked). */
void		 jv_arena_adopt(struct jv_arena *parent, struct jv_arena *child);

struct jv	*jv_object(struct jv_arena *a);
struct jv	*jv_array(struct jv_arena *a);
struct jv	*jv_str(struct jv_arena *a, const char *s);	/* copied */
struct jv	*jv_strn(struct jv_arena *a, const char *s, size_t n);
/* Wire bytes as wire_text() (jsonutil.h) writes them: \xNN for non-UTF-8. */
struct jv	*jv_bytes(struct jv_arena *a, const uint8_t *p, size_t n);
struct jv	*jv_int(struct jv_arena *a, int64_t v);
struct jv	*jv_uint(struct jv_arena *a, uint64_t v);
struct jv	*jv_bool(struct jv_arena *a, int v);
/* Capture time: a number written with ts_text()'s exact text. */
struct jv	*jv_ts(struct jv_arena *a, sp_ts ts);

enum jv_type	 jv_type(const struct jv *v);

/* key is a literal (not copied); a NULL v adds nothing. */
void		 jv_add(struct jv *o, const char *key, struct jv *v);
/* key is copied; a NULL v is the value null. */
void		 jv_put(struct jv *o, const char *key, struct jv *v);
/* The value under key, or NULL (also for a null value). */
struct jv	*jv_get(const struct jv *o, const char *key);
int		 jv_has(const struct jv *o, const char *key);

void		 jv_push(struct jv *arr, struct jv *v);
size_t		 jv_len(const struct jv *c);
/* The last element of an array, or NULL. */
struct jv	*jv_last(const struct jv *arr);

/* Members in order: for (m = jv_first(c); m; m = jv_next(m)). */
struct jv_member;
const struct jv_member *jv_first(const struct jv *c);
const struct jv_member *jv_next(const struct jv_member *m);
const char	*jv_key(const struct jv_member *m);
struct jv	*jv_val(const struct jv_member *m);

/* A json-c tree with the same values (the caller owns it). */
json_object	*jv_to_json(const struct jv *v);

/*
 * One line of JSON and a newline: byte for byte what json-c's
 * json_object_to_json_string_ext(PLAIN | NOSLASHESCAPE) writes for
 * jv_to_json(v).
 */
void		 jv_write_ndjson(FILE *f, const struct jv *v);

#endif
