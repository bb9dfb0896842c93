/* Unit tests of admin/table: columns as wide as their widest cell,
 * right and left alignment, no trailing blanks, UTF-8 names counted as
 * characters, control characters neutralised, short last rows, tables
 * without headers, growth to many rows, bad arguments and write errors.
 * Output is captured with open_memstream and compared byte for byte. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../admin/table.h"

/* table_print into a string (caller frees); asserts it succeeds. */
static char *render(const struct table *t)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	assert_int_equal(table_print(t, f), 0);
	fclose(f);
	return buf;
}

static void test_alignment(void **state)
{
	(void)state;
	struct table *t = table_new(3, (const char *[]){"ID", "SIZE", "PATH"}, "rrl");
	assert_non_null(t);
	table_add(t, "%d", 7);
	table_add(t, "%s", "1.5 GiB");
	table_add(t, "%s", "/a");
	table_add(t, "%d", 12345);
	table_add(t, "%s", "3 B");
	table_add(t, "%s", "/longer/path");
	assert_int_equal(table_rows(t), 2);
	char *out = render(t);
	assert_string_equal(out,
			    "   ID     SIZE  PATH\n"
			    "    7  1.5 GiB  /a\n"
			    "12345      3 B  /longer/path\n");
	free(out);
	table_free(t);
}

static void test_no_trailing_blanks(void **state)
{
	(void)state;
	struct table *t = table_new(3, (const char *[]){"A", "B", "C"}, "lll");
	table_add(t, "x");
	table_add(t, "yyyy");
	table_add(t, "%s", "");          /* empty last cell */
	table_add(t, "xx");
	table_add(t, "y");
	table_add(t, "z");
	char *out = render(t);
	assert_string_equal(out,
			    "A   B     C\n"
			    "x   yyyy\n"
			    "xx  y     z\n");
	for (char *p = out; *p; p++)
		if (*p == '\n')
			assert_true(p == out || p[-1] != ' ');
	free(out);
	table_free(t);
}

static void test_utf8_width(void **state)
{
	(void)state;
	assert_int_equal(table_width("café"), 4);
	assert_int_equal(table_width("日本"), 2);
	assert_int_equal(table_width(""), 0);
	assert_int_equal(table_width(NULL), 0);
	struct table *t = table_new(2, (const char *[]){"NAME", "N"}, "lr");
	table_add(t, "café");
	table_add(t, "1");
	table_add(t, "abcdef");
	table_add(t, "22");
	char *out = render(t);
	assert_string_equal(out,
			    "NAME     N\n"
			    "café     1\n"
			    "abcdef  22\n");
	free(out);
	table_free(t);
}

static void test_control_characters(void **state)
{
	(void)state;
	struct table *t = table_new(2, (const char *[]){"P", "Q"}, "ll");
	table_add(t, "%s", "a\nb\tc\x1b[2J");
	table_add(t, "%s", "ok");
	char *out = render(t);
	assert_string_equal(out,
			    "P          Q\n"
			    "a?b?c?[2J  ok\n");
	free(out);
	table_free(t);
}

static void test_short_last_row_and_no_header(void **state)
{
	(void)state;
	struct table *t = table_new(3, NULL, "lrl");
	table_add(t, "one");
	table_add(t, "1");
	table_add(t, "x");
	table_add(t, "two");          /* a row of one cell */
	assert_int_equal(table_rows(t), 2);
	char *out = render(t);
	assert_string_equal(out,
			    "one  1  x\n"
			    "two\n");
	free(out);
	table_free(t);
	/* empty headers count as none */
	t = table_new(2, (const char *[]){"", NULL}, NULL);
	table_add(t, "a");
	table_add(t, "b");
	out = render(t);
	assert_string_equal(out, "a  b\n");
	free(out);
	table_free(t);
}

static void test_empty_table(void **state)
{
	(void)state;
	struct table *t = table_new(2, (const char *[]){"A", "LONGER"}, "lr");
	assert_int_equal(table_rows(t), 0);
	char *out = render(t);
	assert_string_equal(out, "A  LONGER\n");
	free(out);
	table_free(t);
}

static void test_many_rows(void **state)
{
	(void)state;
	struct table *t = table_new(2, (const char *[]){"N", "SQUARE"}, "rr");
	for (int i = 0; i < 5000; i++) {
		table_add(t, "%d", i);
		table_add(t, "%d", i * i);
	}
	assert_int_equal(table_rows(t), 5000);
	char *out = render(t);
	/* widths: "4999" is 4 wide, "24990001" 8 */
	assert_memory_equal(out, "   N    SQUARE\n   0         0\n", 30);
	assert_non_null(strstr(out, "\n4999  24990001\n"));
	size_t lines = 0;
	for (char *p = out; *p; p++)
		lines += *p == '\n';
	assert_int_equal(lines, 5001);
	free(out);
	table_free(t);
}

static void test_bad_arguments(void **state)
{
	(void)state;
	assert_null(table_new(0, NULL, NULL));
	assert_null(table_new(TABLE_COLS_MAX + 1, NULL, NULL));
	struct table *t = table_new(TABLE_COLS_MAX, NULL, "zz");   /* unknown align: left */
	assert_non_null(t);
	table_free(t);
	table_free(NULL);
	table_add(NULL, "x");
	assert_int_equal(table_rows(NULL), 0);
	assert_int_equal(table_print(NULL, stdout), -ENOMEM);
}

static void test_write_error(void **state)
{
	(void)state;
	struct table *t = table_new(1, (const char *[]){"H"}, NULL);
	table_add(t, "row");
	FILE *f = fopen("/dev/null", "r");     /* writes fail */
	assert_non_null(f);
	assert_int_equal(table_print(t, f), -EIO);
	fclose(f);
	table_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alignment),
		cmocka_unit_test(test_no_trailing_blanks),
		cmocka_unit_test(test_utf8_width),
		cmocka_unit_test(test_control_characters),
		cmocka_unit_test(test_short_last_row_and_no_header),
		cmocka_unit_test(test_empty_table),
		cmocka_unit_test(test_many_rows),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_write_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
