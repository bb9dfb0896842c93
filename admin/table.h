/* table — aligned text tables for the human output of `bigfs`.
 *
 * A table is built cell by cell, then printed once: each column as wide
 * as its widest cell (header included), two spaces between columns,
 * numbers right-aligned where the caller says so, and no trailing blanks
 * (the last column is never padded). Widths count UTF-8 characters, not
 * bytes, so a file name "café" lines up. A cell is one line: a newline
 * or other control character in it is printed as '?', so a file name
 * cannot break the layout.
 *
 *     struct table *t = table_new(3, (const char *[]){"ID", "SIZE", "PATH"}, "lrl");
 *     table_add(t, "%llu", id); table_add(t, "%s", size); table_add(t, "%s", path);
 *     table_print(t, stdout); table_free(t);
 *
 * Memory: an allocation failure is remembered; later calls do nothing and
 * table_print returns -ENOMEM (so callers check once, at the end). Not
 * thread-safe (one table, one thread). */
#ifndef BIGFS_ADMIN_TABLE_H
#define BIGFS_ADMIN_TABLE_H

#include <stddef.h>
#include <stdio.h>

#define TABLE_COLS_MAX 16

struct table;

/* ncols columns (1..TABLE_COLS_MAX) with these headers (copied; NULL or
 * empty headers: the table has no header line when all are) and align,
 * one character per column: 'l' left, 'r' right (NULL: all left).
 * Returns NULL on bad arguments or out of memory. */
struct table *table_new(size_t ncols, const char *const *headers, const char *align);
void table_free(struct table *t);

/* Append one cell (printf format) to the current row; a row is complete
 * after ncols cells and the next cell starts a new one. */
void table_add(struct table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Complete rows so far (a partly filled row counts once printed; its
 * missing cells are empty). */
size_t table_rows(const struct table *t);

/* Print header and rows to f. 0, -ENOMEM (an earlier allocation failed),
 * or -EIO (a write failed). */
int table_print(const struct table *t, FILE *f);

/* Display width of a UTF-8 string: characters, not bytes (continuation
 * bytes, 0x80..0xbf, do not count). Exposed for the unit test and callers
 * that pad by hand. */
size_t table_width(const char *s);

#endif
