/* progress — the terminal progress bar (progress.h).
 *
 * State: the struct progress of its caller. Writes only to the stream
 * given at init, only when that stream is a terminal. */
#include "progress.h"

#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define BAR_CELLS 20

void progress_init(struct progress *p, FILE *f, bool wanted)
{
	struct winsize ws;

	memset(p, 0, sizeof(*p));
	p->f = f;
	p->on = wanted && f && isatty(fileno(f));
	p->cols = 80;
	if (p->on && ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
		p->cols = ws.ws_col;
}

char *progress_line(char *out, size_t cap, int cols, double fraction, const char *text)
{
	size_t n = 0;
	int cells = BAR_CELLS;

	if (cap == 0)
		return out;
	if (cols < 20)
		cols = 20;
	if (cols < 60)
		cells = 10;
	/* the line may use cols - 1 characters: a full line would wrap */
	size_t room = (size_t)cols - 1 < cap - 1 ? (size_t)cols - 1 : cap - 1;
	char bar[BAR_CELLS + 16];
	size_t b = 0;
	bar[b++] = '[';
	if (fraction >= 0) {
		if (fraction > 1)
			fraction = 1;
		int full = (int)(fraction * cells + 1e-9);
		for (int i = 0; i < cells; i++)
			bar[b++] = i < full ? '#' : '.';
		b += (size_t)snprintf(bar + b, sizeof(bar) - b, "] %3d%%", (int)(fraction * 100 + 1e-9));
	} else {
		for (int i = 0; i < cells; i++)
			bar[b++] = '~';
		b += (size_t)snprintf(bar + b, sizeof(bar) - b, "]     ");
	}
	bar[b] = '\0';
	n = b < room ? b : room;
	memcpy(out, bar, n);
	if (text && *text && n + 2 < room) {
		out[n++] = ' ';
		out[n++] = ' ';
		for (const char *t = text; *t && n < room; t++)
			out[n++] = (unsigned char)*t < 0x20 ? '?' : *t;
	}
	out[n] = '\0';
	return out;
}

void progress_show(struct progress *p, double fraction, const char *text)
{
	char line[512];

	if (!p->on)
		return;
	progress_line(line, sizeof(line), p->cols, fraction, text);
	fprintf(p->f, "\r%s\033[K", line);
	fflush(p->f);
	p->drawn = true;
}

void progress_end(struct progress *p)
{
	if (!p->on || !p->drawn)
		return;
	fputs("\r\033[K", p->f);
	fflush(p->f);
	p->drawn = false;
}
