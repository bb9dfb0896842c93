/* console_page — the static assets of the master's web console: the
 * stylesheet, the panels' markup and the script, as NUL-terminated C
 * strings. status_page.c assembles the page; see console_page.c. */
#ifndef BIGFS_MASTER_CONSOLE_PAGE_H
#define BIGFS_MASTER_CONSOLE_PAGE_H

/* Goes inside <style>. */
extern const char console_css[];
/* The panels, inside <body>; the script fills the elements by id. */
extern const char console_body[];
/* Goes inside <script>, after a <script type="application/json"
 * id="bigfs-config"> holding {"poll_ms", "summary_ms", "window_s",
 * "summary": bool (the master serves /v1/cluster/summary), "events_max",
 * "cluster_id", "kafka"}; missing members take defaults. */
extern const char console_js[];

#endif
