/* One arena per compilation: every AST node, IR node and string of a
 * compilation lives here and is freed at once with arena_free(). */
#ifndef XDPL_ARENA_H
#define XDPL_ARENA_H

#include <stddef.h>

struct arena_chunk;

struct arena {
	struct arena_chunk *head;
};

void *arena_alloc(struct arena *a, size_t size);          /* zeroed, 16-aligned */
char *arena_strdup(struct arena *a, const char *s);
char *arena_strndup(struct arena *a, const char *s, size_t n);
char *arena_printf(struct arena *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void *arena_memdup(struct arena *a, const void *p, size_t n);
void arena_free(struct arena *a);

/* Growable array of pointers kept in the arena (old storage is abandoned on
 * growth; arenas make that cheap and safe). */
struct ptrvec {
	void **items;
	int len, cap;
};
void ptrvec_push(struct arena *a, struct ptrvec *v, void *item);

#define NEW(a, type) ((type *)arena_alloc((a), sizeof(type)))

#endif
