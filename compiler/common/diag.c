#include "diag.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

struct source {
	char *path;
	char *text;
	int *line_starts; /* offset of each line, built on the first diagnostic */
	int nlines;
};

static struct source *sources;
static int nsources;
static int nerrors, nwarnings;
static FILE *stream;
static int werror;

int diag_add_source(const char *path, const char *text, size_t len)
{
	struct source *s = realloc(sources, sizeof(*s) * (size_t)(nsources + 1));
	if (!s) {
		fprintf(stderr, "xdplc: out of memory\n");
		exit(2);
	}
	sources = s;
	s[nsources].path = strdup(path);
	s[nsources].text = malloc(len + 1);
	s[nsources].line_starts = NULL;
	s[nsources].nlines = 0;
	if (!s[nsources].path || !s[nsources].text) {
		fprintf(stderr, "xdplc: out of memory\n");
		exit(2);
	}
	memcpy(s[nsources].text, text, len);
	s[nsources].text[len] = 0;
	return ++nsources;
}

const char *diag_source_path(int file)
{
	return file >= 1 && file <= nsources ? sources[file - 1].path : "<unknown>";
}

const char *diag_source_text(int file)
{
	return file >= 1 && file <= nsources ? sources[file - 1].text : NULL;
}

void diag_set_werror(int on)
{
	werror = on;
}

void diag_set_stream(FILE *f)
{
	stream = f;
}

int diag_error_count(void)
{
	return nerrors;
}

int diag_warning_count(void)
{
	return nwarnings;
}

void diag_reset(void)
{
	for (int i = 0; i < nsources; i++) {
		free(sources[i].path);
		free(sources[i].text);
		free(sources[i].line_starts);
	}
	free(sources);
	sources = NULL;
	nsources = 0;
	nerrors = nwarnings = 0;
}

/* Where line `line` of a file starts; the index is built once per file so
 * a run with many diagnostics stays linear. */
static const char *line_start(int file, int line)
{
	struct source *src = &sources[file - 1];
	if (!src->line_starts) {
		int n = 1;
		for (const char *p = src->text; *p; p++)
			n += *p == '\n';
		src->line_starts = malloc(sizeof(int) * (size_t)n);
		if (!src->line_starts)
			return NULL;
		src->line_starts[0] = 0;
		int k = 1;
		for (const char *p = src->text; *p; p++)
			if (*p == '\n')
				src->line_starts[k++] = (int)(p - src->text) + 1;
		src->nlines = n;
	}
	/* Past the last line (a location at end of file): an empty line. */
	return line <= src->nlines ? src->text + src->line_starts[line - 1]
				   : src->text + strlen(src->text);
}

/* Print the line of the location and a caret run under its columns. */
static void print_source_line(FILE *f, struct xdpl_loc loc)
{
	if (!diag_source_text(loc.file) || loc.first_line < 1)
		return;
	const char *p = line_start(loc.file, loc.first_line);
	if (!p)
		return;
	const char *end = strchr(p, '\n');
	int len = end ? (int)(end - p) : (int)strlen(p);
	fprintf(f, "%5d | %.*s\n      | ", loc.first_line, len, p);
	int first = loc.first_column > 0 ? loc.first_column : 1;
	int last = loc.last_line == loc.first_line && loc.last_column >= first ? loc.last_column
									 : first;
	if (last > len && len >= first)
		last = len;
	for (int c = 1; c < first; c++)
		fputc(p[c - 1] == '\t' ? '\t' : ' ', f);
	fputc('^', f);
	for (int c = first + 1; c <= last; c++)
		fputc('~', f);
	fputc('\n', f);
}

void diag_report(enum diag_level level, struct xdpl_loc loc, const char *fmt, ...)
{
	FILE *f = stream ? stream : stderr;
	static const char *const names[] = { "error", "warning", "note" };
	if (level == DIAG_WARNING && werror)
		level = DIAG_ERROR;
	if (level == DIAG_ERROR)
		nerrors++;
	else if (level == DIAG_WARNING)
		nwarnings++;
	if (loc.file)
		fprintf(f, "%s:%d:%d: ", diag_source_path(loc.file), loc.first_line,
			loc.first_column);
	else
		fprintf(f, "xdplc: ");
	fprintf(f, "%s: ", names[level]);
	va_list ap;
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fputc('\n', f);
	if (loc.file)
		print_source_line(f, loc);
}

static int edit_distance(const char *a, const char *b)
{
	int la = (int)strlen(a), lb = (int)strlen(b);
	if (la > 64 || lb > 64)
		return 1 << 20;
	int row[65];
	for (int j = 0; j <= lb; j++)
		row[j] = j;
	for (int i = 1; i <= la; i++) {
		int diag = row[0];
		row[0] = i;
		for (int j = 1; j <= lb; j++) {
			int up = row[j];
			int cost = a[i - 1] == b[j - 1] ? 0 : 1;
			int best = diag + cost;
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

const char *diag_closest(const char *name, const char *const *candidates, int n)
{
	const char *best = NULL;
	int best_d = 1 << 20;
	for (int i = 0; i < n; i++) {
		int d = edit_distance(name, candidates[i]);
		if (d < best_d) {
			best_d = d;
			best = candidates[i];
		}
	}
	/* A typo changes a few characters; beyond a third of the name it is a
	 * different word, and suggesting it would mislead. */
	int limit = (int)strlen(name) / 3 + 1;
	return best_d <= limit ? best : NULL;
}
