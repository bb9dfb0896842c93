/* Unit tests of admin/progress: the bar line at fractions 0..1 and
 * unknown, clamping, the text cut to the terminal's width (never a full
 * line, which would wrap), narrow terminals, tiny buffers, control
 * characters in the text, and no output at all when the stream is not a
 * terminal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../admin/progress.h"

static void test_line_fractions(void **state)
{
	(void)state;
	char b[256];
	assert_string_equal(progress_line(b, sizeof(b), 80, 0.45, "12 chunks left"),
			    "[#########...........]  45%  12 chunks left");
	assert_string_equal(progress_line(b, sizeof(b), 80, 0, NULL),
			    "[....................]   0%");
	assert_string_equal(progress_line(b, sizeof(b), 80, 1, ""),
			    "[####################] 100%");
	assert_string_equal(progress_line(b, sizeof(b), 80, 7.5, "x"),
			    "[####################] 100%  x");
	assert_string_equal(progress_line(b, sizeof(b), 80, -1, "working"),
			    "[~~~~~~~~~~~~~~~~~~~~]       working");
	/* 0.999 is not yet done */
	assert_string_equal(progress_line(b, sizeof(b), 80, 0.999, NULL),
			    "[###################.]  99%");
}

static void test_line_fits_the_terminal(void **state)
{
	(void)state;
	char b[512], text[300];
	memset(text, 'x', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	for (int cols = 1; cols <= 200; cols++) {
		progress_line(b, sizeof(b), cols, 0.5, text);
		int room = (cols < 20 ? 20 : cols) - 1;
		int bar = cols < 60 ? 17 : 27;      /* "[" cells "]" " NNN%" */
		/* never a full line; the text fills what is left past the bar */
		assert_true((int)strlen(b) <= room);
		if (room > bar + 2)
			assert_int_equal((int)strlen(b), room);
		else
			assert_int_equal((int)strlen(b), bar < room ? bar : room);
	}
	/* a narrow terminal gets a 10-cell bar */
	assert_string_equal(progress_line(b, sizeof(b), 40, 0.5, "abc"),
			    "[#####.....]  50%  abc");
	/* a tiny buffer: cut, terminated */
	progress_line(b, 6, 80, 0.5, "abc");
	assert_string_equal(b, "[####");
	progress_line(b, 1, 80, 0.5, "abc");
	assert_string_equal(b, "");
}

static void test_line_control_characters(void **state)
{
	(void)state;
	char b[256];
	assert_string_equal(progress_line(b, sizeof(b), 80, 0, "a\rb\nc\x1b"),
			    "[....................]   0%  a?b?c?");
}

static void test_not_a_terminal(void **state)
{
	(void)state;
	char *buf = NULL;
	size_t len = 0;
	struct progress p;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	progress_init(&p, f, true);
	assert_false(p.on);
	progress_show(&p, 0.5, "text");
	progress_end(&p);
	fflush(f);
	assert_int_equal(len, 0);
	fclose(f);
	free(buf);
	/* not wanted (--json): off even on a terminal-like stream */
	progress_init(&p, stderr, false);
	assert_false(p.on);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line_fractions),
		cmocka_unit_test(test_line_fits_the_terminal),
		cmocka_unit_test(test_line_control_characters),
		cmocka_unit_test(test_not_a_terminal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
