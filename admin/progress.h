/* progress — a one-line progress bar on a terminal, for long `bigfs`
 * work (`worker drain --wait`, `trash purge`).
 *
 * The bar is drawn on stderr, and only when stderr is a terminal and the
 * command prints human output (not --json): redirected or scripted runs
 * see no control characters at all. Each update rewrites the line
 * ("\r" then the text, then erase to the end of the line); progress_end
 * erases it, so the command's final message stands alone.
 *
 *   [#########...........]  45%  120 chunks left, 1.2 GiB moved, 80.0 MiB/s, ETA 2m 10s
 *
 * Not thread-safe: one bar, one thread. */
#ifndef BIGFS_ADMIN_PROGRESS_H
#define BIGFS_ADMIN_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct progress {
	FILE *f;
	bool on;          /* drawing at all */
	bool drawn;       /* a line is on the screen */
	int cols;         /* the terminal's width */
};

/* Draw on f if wanted and f is a terminal. */
void progress_init(struct progress *p, FILE *f, bool wanted);
/* fraction in 0..1, or < 0 when the total is unknown (no percentage, a
 * bar that only says "working"); text follows the bar (may be NULL). */
void progress_show(struct progress *p, double fraction, const char *text);
/* Erase the line (if one was drawn). */
void progress_end(struct progress *p);

/* The line progress_show draws (without "\r" and the erase), for a
 * terminal of cols columns, into out (cap bytes): the bar is 20 cells,
 * or fewer on a narrow terminal, and the text is cut to fit. Returns
 * out. Pure; exposed for the unit test. */
char *progress_line(char *out, size_t cap, int cols, double fraction, const char *text);

#endif
