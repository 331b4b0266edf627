/* Front end driver: the standard library (embedded), then the main file's
 * imports depth-first (each file once, paths relative to the importing
 * file, cycles and unreadable files reported at the import), then the
 * main file; sema sees them in that order. */
#include "frontend.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct loader {
	struct arena *a;
	struct ptrvec files;  /* parsed files in sema order */
	struct ptrvec done;   /* canonical paths already loaded */
	struct ptrvec active; /* canonical paths being loaded (import chain) */
	struct ptrvec names;  /* the same chain as written, for messages */
};

/* A source larger than this is not a policy (and /dev/zero never ends). */
#define SOURCE_MAX_BYTES (16u << 20)

/* Reads a whole file, regular or not, up to SOURCE_MAX_BYTES. Returns 0
 * or a negative errno (-EFBIG past the limit). */
static int slurp(const char *path, char **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -errno;
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	int err = buf ? 0 : ENOMEM;
	while (!err) {
		n += fread(buf + n, 1, cap - n, f);
		if (n < cap)
			break;
		if (n > SOURCE_MAX_BYTES) {
			err = EFBIG;
			break;
		}
		/* one byte over the limit is enough to know */
		size_t ncap = cap * 2 > SOURCE_MAX_BYTES + 1 ? SOURCE_MAX_BYTES + 1 : cap * 2;
		char *bigger = realloc(buf, ncap);
		if (!bigger)
			err = ENOMEM;
		else
			buf = bigger, cap = ncap;
	}
	if (!err && ferror(f))
		err = errno ? errno : EIO;
	fclose(f);
	if (err) {
		free(buf);
		return -err;
	}
	*out = buf;
	*len = n;
	return 0;
}

/* The lexer reads NUL-terminated text: a NUL byte would silently end the
 * file there. It is an error at its line and column. */
static bool has_nul(const char *text, size_t len, int file)
{
	const char *nul = memchr(text, 0, len);
	if (!nul)
		return false;
	int line = 1, col = 1;
	for (const char *p = text; p < nul; p++, col++)
		if (*p == '\n')
			line++, col = 0;
	struct xdpl_loc at = { .first_line = line, .first_column = col, .last_line = line,
			       .last_column = col, .file = file };
	diag_error(at, "NUL byte in the source; a policy is text (is this a binary file?)");
	return true;
}

static int find_str(const struct ptrvec *v, const char *s)
{
	for (int i = 0; i < v->len; i++)
		if (!strcmp(v->items[i], s))
			return i;
	return -1;
}

/* Registers and parses one file; NULL after a reported failure. */
static struct ast_file *load_one(struct loader *L, const char *path, struct xdpl_loc at)
{
	size_t len = 0;
	char *text = NULL;
	int err = slurp(path, &text, &len);
	if (err) {
		const char *why = err == -EFBIG ? arena_printf(L->a, "it is larger than %u MiB, the limit of a source file",
								 SOURCE_MAX_BYTES >> 20)
						: strerror(-err);
		if (at.file)
			diag_error(at, "cannot import '%s': %s", path, why);
		else
			diag_error(at, "cannot read '%s': %s", path, why);
		return NULL;
	}
	int id = diag_add_source(path, text, len);
	bool nul = has_nul(text, len, id);
	free(text);
	if (nul)
		return NULL;
	struct ast_file *f = parse_file(L->a, id);
	if (f) {
		if (!f->path)
			f->path = arena_strdup(L->a, path);
		f->file_id = id;
	}
	return f;
}

/* "dir/of/importer/" + path, unless path is absolute. */
static const char *import_path(struct loader *L, const char *importer, const char *path)
{
	if (path[0] == '/')
		return path;
	const char *slash = strrchr(importer, '/');
	if (!slash)
		return path;
	return arena_printf(L->a, "%.*s/%s", (int)(slash - importer), importer, path);
}

static void load_imports(struct loader *L, struct ast_file *f);

static void load_import(struct loader *L, struct ast_file *from, struct ast_decl *d)
{
	struct xdpl_loc at = d->import->loc.file ? d->import->loc : d->loc;
	const char *path = import_path(L, from->path, d->import->path);
	char canon[PATH_MAX];
	if (!realpath(path, canon)) {
		diag_error(at, "cannot import '%s': %s", d->import->path, strerror(errno));
		return;
	}
	int on_chain = find_str(&L->active, canon);
	if (on_chain >= 0) {
		const char *chain = "";
		for (int i = on_chain; i < L->names.len; i++)
			chain = arena_printf(L->a, "%s%s -> ", chain, (const char *)L->names.items[i]);
		diag_error(at, "import cycle: %s%s", chain, path);
		return;
	}
	if (find_str(&L->done, canon) >= 0)
		return;
	struct ast_file *f = load_one(L, path, at);
	ptrvec_push(L->a, &L->done, arena_strdup(L->a, canon));
	if (!f)
		return;
	ptrvec_push(L->a, &L->active, arena_strdup(L->a, canon));
	ptrvec_push(L->a, &L->names, (void *)path);
	load_imports(L, f);
	L->active.len--;
	L->names.len--;
	ptrvec_push(L->a, &L->files, f);
}

static void load_imports(struct loader *L, struct ast_file *f)
{
	for (int i = 0; i < f->ndecls; i++) {
		struct ast_decl *d = f->decls[i];
		if (d && d->kind == D_IMPORT && d->import && d->import->path)
			load_import(L, f, d);
	}
}

static void load_stdlib(struct loader *L)
{
	for (int i = 0; xdpl_stdlib[i].path; i++) {
		const char *text = xdpl_stdlib[i].text;
		int id = diag_add_source(xdpl_stdlib[i].path, text, strlen(text));
		struct ast_file *f = parse_file(L->a, id);
		if (!f)
			continue;
		if (!f->path)
			f->path = xdpl_stdlib[i].path;
		f->file_id = id;
		for (int j = 0; j < f->ndecls; j++)
			if (f->decls[j])
				f->decls[j]->from_stdlib = true;
		ptrvec_push(L->a, &L->files, f);
	}
}

int frontend_load(struct arena *a, const char *path, struct sema_program *out)
{
	struct loader L = { .a = a };
	int errors_before = diag_error_count();
	memset(out, 0, sizeof(*out));

	load_stdlib(&L);
	struct xdpl_loc none = { 0 };
	struct ast_file *main = load_one(&L, path, none);
	if (!main)
		return -1;
	char canon[PATH_MAX];
	if (realpath(path, canon)) {
		ptrvec_push(a, &L.active, arena_strdup(a, canon));
		ptrvec_push(a, &L.names, (void *)path);
		ptrvec_push(a, &L.done, arena_strdup(a, canon));
	}
	load_imports(&L, main);
	ptrvec_push(a, &L.files, main);

	/* After syntax errors, stop: the parser's recovery keeps a truncated
	 * `match tcp.dport == == 22` as `match tcp.dport`, and checking that
	 * would report errors the user did not make. */
	if (diag_error_count() > errors_before)
		return -1;
	return sema_check(a, (struct ast_file **)L.files.items, L.files.len, out);
}
