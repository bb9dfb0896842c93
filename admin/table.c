/* table — aligned text tables (table.h).
 *
 * State: the headers and every cell as malloc'ed strings, in one growing
 * array, row after row; widths are computed at print time. Owned by its
 * one caller; no locks. */
#include "table.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct table {
	size_t ncols;
	char align[TABLE_COLS_MAX];
	char *headers[TABLE_COLS_MAX];
	char **cells;         /* row-major, ncells used of cap */
	size_t ncells, cap;
	bool failed;          /* an allocation failed */
};

/* A copy of s in which control characters are '?'. */
static char *cell_copy(const char *s)
{
	char *c = strdup(s ? s : "");
	if (!c)
		return NULL;
	for (char *p = c; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return c;
}

struct table *table_new(size_t ncols, const char *const *headers, const char *align)
{
	struct table *t;

	if (ncols == 0 || ncols > TABLE_COLS_MAX)
		return NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->ncols = ncols;
	for (size_t i = 0; i < ncols; i++) {
		char a = align && i < strlen(align) ? align[i] : 'l';
		t->align[i] = a == 'r' ? 'r' : 'l';
		if (headers && headers[i] && headers[i][0]) {
			t->headers[i] = cell_copy(headers[i]);
			if (!t->headers[i]) {
				table_free(t);
				return NULL;
			}
		}
	}
	return t;
}

void table_free(struct table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->ncols; i++)
		free(t->headers[i]);
	for (size_t i = 0; i < t->ncells; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}

void table_add(struct table *t, const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;

	if (!t || t->failed)
		return;
	if (t->ncells == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		char **c = realloc(t->cells, cap * sizeof(*c));
		if (!c) {
			t->failed = true;
			return;
		}
		t->cells = c;
		t->cap = cap;
	}
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	char *c = n < 0 ? NULL : cell_copy(s);
	free(n < 0 ? NULL : s);
	if (!c) {
		t->failed = true;
		return;
	}
	t->cells[t->ncells++] = c;
}

size_t table_rows(const struct table *t)
{
	return t ? (t->ncells + t->ncols - 1) / t->ncols : 0;
}

size_t table_width(const char *s)
{
	size_t w = 0;
	for (; s && *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

/* One line: cells[0..ncols-1], a NULL cell empty. */
static int print_line(const struct table *t, const size_t *width, char *const *cells, FILE *f)
{
	size_t last = t->ncols;
	/* trailing empty cells print nothing at all (not even padding) */
	while (last > 1 && (!cells[last - 1] || !cells[last - 1][0]))
		last--;
	for (size_t i = 0; i < last; i++) {
		const char *s = cells[i] ? cells[i] : "";
		size_t pad = width[i] - table_width(s);
		if (i > 0 && fputs("  ", f) < 0)
			return -EIO;
		if (t->align[i] == 'r' && fprintf(f, "%*s", (int)pad, "") < 0)
			return -EIO;
		if (fputs(s, f) < 0)
			return -EIO;
		if (t->align[i] == 'l' && i + 1 < last && fprintf(f, "%*s", (int)pad, "") < 0)
			return -EIO;
	}
	return fputc('\n', f) == EOF ? -EIO : 0;
}

int table_print(const struct table *t, FILE *f)
{
	size_t width[TABLE_COLS_MAX] = {0};
	char *row[TABLE_COLS_MAX];
	bool header = false;
	int rc;

	if (!t || t->failed)
		return -ENOMEM;
	for (size_t i = 0; i < t->ncols; i++) {
		if (t->headers[i]) {
			header = true;
			width[i] = table_width(t->headers[i]);
		}
	}
	for (size_t k = 0; k < t->ncells; k++) {
		size_t w = table_width(t->cells[k]);
		if (w > width[k % t->ncols])
			width[k % t->ncols] = w;
	}
	if (header) {
		rc = print_line(t, width, t->headers, f);
		if (rc < 0)
			return rc;
	}
	for (size_t k = 0; k < t->ncells; k += t->ncols) {
		for (size_t i = 0; i < t->ncols; i++)
			row[i] = k + i < t->ncells ? t->cells[k + i] : NULL;
		rc = print_line(t, width, row, f);
		if (rc < 0)
			return rc;
	}
	return fflush(f) == EOF ? -EIO : 0;
}
