#!/usr/bin/env node
/* console_check — loads the BigFS master's web console in a real headless
 * browser (Debian's chromium, driven by puppeteer-core) and checks what a
 * person looking at it relies on. test/integration/test_730_console.py runs
 * it against a real cluster; it can also be run by hand:
 *
 *   node test/browser/console_check.js --url http://127.0.0.1:9400/ \
 *        --workers ID1,ID2,ID3 --screenshot /tmp/console.png [--no-load]
 *
 * Checks, in order:
 *  1. the page loads (HTTP 200) and every worker id given is shown as a
 *     worker card, with a throughput chart that has drawn samples;
 *  2. with --expect-no-summary: the summary panels show "—" (the master
 *     has no /v1/cluster/summary); otherwise they show numbers;
 *  3. unless --no-load: it prints {"event": "ready"} and waits for a line
 *     "load" on stdin (the test then writes and reads through the mount),
 *     then waits until the throughput the page recorded rises above
 *     --min-rate bytes/s and the pixels of the cluster chart and of a
 *     worker's chart differ from what they were before the load, and
 *     prints {"event": "changed"}; then it waits for a line "idle" (the
 *     test stopped its load) and for the page's throughput to fall below
 *     --min-rate again, and prints {"event": "fell"};
 *  4. all along: no console error, no uncaught exception, no failed
 *     request and no HTTP error answer on the page.
 * Then it saves a full-page screenshot and prints {"event": "done", "ok",
 * "errors": [...], "screenshot", ...} as its last line. Every line on
 * stdout is one JSON object. Exit status 0 when every check passed, 1 when
 * one failed, 2 on bad usage or when the browser cannot start. */
'use strict';

const fs = require('fs');
const path = require('path');
const readline = require('readline');

function usage(msg) {
	if (msg)
		process.stderr.write('console_check: ' + msg + '\n');
	process.stderr.write('usage: console_check.js --url URL --workers ID[,ID...] ' +
		'--screenshot PATH [--chromium PATH] [--timeout-s N] [--min-rate BYTES_PER_S] ' +
		'[--expect-no-summary] [--no-load]\n');
	process.exit(2);
}

function parseArgs(argv) {
	const o = { chromium: process.env.CHROMIUM || '/usr/bin/chromium', timeoutS: 90,
		    minRate: 256 * 1024, load: true, expectNoSummary: false, workers: [] };
	for (let i = 0; i < argv.length; i++) {
		const a = argv[i], next = () => {
			if (i + 1 >= argv.length)
				usage(a + ' needs a value');
			return argv[++i];
		};
		if (a === '--url') o.url = next();
		else if (a === '--workers') o.workers = next().split(',').filter(Boolean);
		else if (a === '--screenshot') o.screenshot = next();
		else if (a === '--chromium') o.chromium = next();
		else if (a === '--timeout-s') o.timeoutS = Number(next());
		else if (a === '--min-rate') o.minRate = Number(next());
		else if (a === '--no-load') o.load = false;
		else if (a === '--expect-no-summary') o.expectNoSummary = true;
		else usage('unknown argument ' + a);
	}
	if (!o.url || !o.screenshot || !o.workers.length)
		usage('--url, --workers and --screenshot are required');
	if (!(o.timeoutS > 0) || !(o.minRate >= 0))
		usage('bad --timeout-s or --min-rate');
	return o;
}

function say(obj) {
	process.stdout.write(JSON.stringify(obj) + '\n');
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/* Poll fn() every 250 ms until it returns a true value, or fail. */
async function waitFor(fn, timeoutMs, what) {
	const end = Date.now() + timeoutMs;
	let last;
	for (;;) {
		last = await fn();
		if (last)
			return last;
		if (Date.now() > end)
			throw new Error('timed out after ' + Math.round(timeoutMs / 1000) +
					' s waiting for ' + what);
		await sleep(250);
	}
}

/* A line on stdin, or null when stdin closes. */
function lineReader() {
	const rl = readline.createInterface({ input: process.stdin });
	const lines = [], waiters = [];
	let closed = false;
	rl.on('line', (l) => (waiters.length ? waiters.shift()(l) : lines.push(l)));
	rl.on('close', () => {
		closed = true;
		while (waiters.length)
			waiters.shift()(null);
	});
	return () => new Promise((res) => {
		if (lines.length)
			res(lines.shift());
		else if (closed)
			res(null);
		else
			waiters.push(res);
	});
}

/* What the page shows, read in the page. */
function pageState() {
	const S = window.bigfsConsole;
	const cards = Array.from(document.querySelectorAll('#workers-grid [data-worker-id]'));
	const text = (id) => {
		const e = document.getElementById(id);
		return e ? e.textContent : null;
	};
	const total = S ? S.total : [];
	let peakIn = 0, peakOut = 0;
	for (const p of total) {
		peakIn = Math.max(peakIn, p.i);
		peakOut = Math.max(peakOut, p.o);
	}
	return {
		polls: S ? S.polls : 0,
		failures: S ? S.failures : 0,
		lastError: S ? S.lastError : 'no window.bigfsConsole',
		summaryState: S ? S.summaryState : null,
		workers: cards.map((c) => ({
			id: c.getAttribute('data-worker-id'),
			state: c.getAttribute('data-state'),
			text: c.textContent,
			points: Number(c.querySelector('canvas').getAttribute('data-points') || 0),
		})),
		totalPoints: total.length,
		peakIn, peakOut,
		lastTotal: total.length ? total[total.length - 1] : null,
		chartTotal: document.getElementById('chart-total').toDataURL(),
		panels: {
			chunks: text('s-chunks'), undergoal: text('s-undergoal'), lost: text('s-lost'),
			repairs: text('s-repairs'), trashFiles: text('s-trash-files'),
			trashBytes: text('s-trash-bytes'), quotas: text('quotas-note'),
			events: text('events-note'), drains: text('drains'),
		},
		events: Array.from(document.querySelectorAll('#events li .badge'))
			.map((b) => b.textContent),
		quotas: Array.from(document.querySelectorAll('#quotas tbody tr'))
			.map((tr) => tr.cells[0].textContent),
		role: text('role'),
		conn: text('conn'),
	};
}

async function workerCharts(page) {
	return page.evaluate(() => {
		const out = {};
		for (const c of document.querySelectorAll('#workers-grid [data-worker-id]'))
			out[c.getAttribute('data-worker-id')] = c.querySelector('canvas').toDataURL();
		return out;
	});
}

async function main() {
	const opt = parseArgs(process.argv.slice(2));
	let puppeteer;
	try {
		puppeteer = require('puppeteer-core');
	} catch (e) {
		process.stderr.write('console_check: puppeteer-core is not installed: run ' +
			'`npm ci` in ' + __dirname + ' (scripts/install-deps.sh does)\n');
		process.exit(2);
	}
	if (!fs.existsSync(opt.chromium)) {
		process.stderr.write('console_check: no browser at ' + opt.chromium +
			' (apt-get install chromium; scripts/install-deps.sh does)\n');
		process.exit(2);
	}
	const errors = [];
	let closing = false; /* requests cut off by closing the page are no error */
	const result = { event: 'done', ok: false, errors, screenshot: opt.screenshot };
	const profile = fs.mkdtempSync(path.join(require('os').tmpdir(), 'bigfs-chromium-'));
	let browser;
	try {
		browser = await puppeteer.launch({
			executablePath: opt.chromium,
			headless: true,
			userDataDir: profile,
			args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
			       '--no-first-run', '--no-default-browser-check',
			       '--disable-extensions', '--window-size=1400,1000'],
			defaultViewport: { width: 1400, height: 1000 },
			timeout: 60000,
		});
	} catch (e) {
		process.stderr.write('console_check: cannot start ' + opt.chromium + ': ' + e.message + '\n');
		fs.rmSync(profile, { recursive: true, force: true });
		process.exit(2);
	}
	try {
		const page = await browser.newPage();
		page.on('console', (m) => {
			if (!closing && (m.type() === 'error' || m.type() === 'assert'))
				errors.push('console ' + m.type() + ': ' + m.text() +
					(m.location() && m.location().url ? ' (' + m.location().url + ')' : ''));
		});
		page.on('pageerror', (e) => errors.push('uncaught exception: ' + (e.message || e)));
		page.on('requestfailed', (r) => {
			if (!closing)
				errors.push('request failed: ' + r.method() + ' ' + r.url() + ': ' +
					    (r.failure() ? r.failure().errorText : '?'));
		});
		page.on('response', (r) => {
			if (!closing && r.status() >= 400)
				errors.push('HTTP ' + r.status() + ' for ' + r.request().method() + ' ' + r.url());
		});
		const resp = await page.goto(opt.url, { waitUntil: 'load', timeout: 30000 });
		if (!resp || resp.status() !== 200)
			throw new Error('GET ' + opt.url + ': ' + (resp ? 'HTTP ' + resp.status() : 'no answer'));
		const title = await page.title();
		if (!/BigFS/.test(title))
			throw new Error('page title is ' + JSON.stringify(title));

		// 1. every worker, with a chart that has samples
		let st = await waitFor(async () => {
			const s = await page.evaluate(pageState);
			const shown = new Set(s.workers.filter((w) => w.points >= 2).map((w) => w.id));
			return opt.workers.every((id) => shown.has(id)) && s.polls >= 3 ? s : null;
		}, 30000, 'every worker (' + opt.workers.join(', ') + ') shown with a chart');
		for (const id of opt.workers) {
			const w = st.workers.find((x) => x.id === id);
			if (w.state !== 'live')
				errors.push('worker ' + id + ' is shown as ' + w.state + ', not live');
			if (!w.text.includes(id))
				errors.push('worker card ' + id + ' does not show its id');
		}
		if (st.failures)
			errors.push('the page failed ' + st.failures + ' polls: ' + st.lastError);

		// 2. the summary panels
		const dash = '\u2014';
		if (opt.expectNoSummary) {
			for (const k of ['chunks', 'undergoal', 'lost', 'repairs', 'trashFiles', 'trashBytes'])
				if (st.panels[k] !== dash)
					errors.push('panel ' + k + ' shows ' + JSON.stringify(st.panels[k]) +
						' without a summary, not ' + dash);
			for (const k of ['quotas', 'events', 'drains'])
				if (!st.panels[k].startsWith(dash))
					errors.push('panel ' + k + ' shows ' + JSON.stringify(st.panels[k]) +
						' without a summary');
		} else {
			await waitFor(() => page.evaluate(() => window.bigfsConsole.summaryState === 'ok'),
				      10000, 'the cluster summary on the page');
			st = await page.evaluate(pageState);
			for (const k of ['chunks', 'undergoal', 'lost', 'repairs'])
				if (!/^[0-9,]+$/.test(st.panels[k]))
					errors.push('panel ' + k + ' shows ' + JSON.stringify(st.panels[k]) +
						', not a number');
		}
		say({ event: 'ready', polls: st.polls, workers: st.workers.map((w) => w.id),
		      panels: st.panels, events: st.events, quotas: st.quotas, role: st.role,
		      peakIn: st.peakIn });

		// 3. the charts follow the load
		if (opt.load) {
			const before = await page.evaluate(pageState);
			const chartsBefore = await workerCharts(page);
			const baseIn = before.lastTotal ? before.lastTotal.i : 0;
			const line = await nextLine();
			if (line === null || line.trim() !== 'load')
				throw new Error('expected "load" on stdin, got ' + JSON.stringify(line));
			const t0 = Date.now();
			const after = await waitFor(async () => {
				const s = await page.evaluate(pageState);
				return s.lastTotal && s.lastTotal.i >= opt.minRate + baseIn ? s : null;
			}, opt.timeoutS * 1000, 'the cluster throughput on the page to rise above ' +
				opt.minRate + ' B/s');
			// let the chart draw the rise (one more poll)
			await waitFor(async () => (await page.evaluate(() => window.bigfsConsole.polls)) >
				      after.polls, 5000, 'one more poll');
			const now = await page.evaluate(pageState);
			const chartsNow = await workerCharts(page);
			const changed = Object.keys(chartsNow).filter((id) => chartsBefore[id] &&
				chartsBefore[id] !== chartsNow[id]);
			if (now.chartTotal === before.chartTotal)
				errors.push('the cluster throughput chart did not change under load');
			if (!changed.length)
				errors.push('no worker\'s throughput chart changed under load');
			const busy = await page.evaluate(() => {
				const out = [];
				for (const c of document.querySelectorAll('#workers-grid canvas'))
					if (Number(c.getAttribute('data-peak')) > 0)
						out.push(c.closest('[data-worker-id]').getAttribute('data-worker-id'));
				return out;
			});
			say({ event: 'changed', after_ms: Date.now() - t0, total_in: now.lastTotal.i,
			      peak_in: now.peakIn, peak_out: now.peakOut, charts_changed: changed,
			      busy_workers: busy });
			if (!busy.length)
				errors.push('no worker chart shows a non-zero peak');
			const line2 = await nextLine();
			if (line2 === null || line2.trim() !== 'idle')
				throw new Error('expected "idle" on stdin, got ' + JSON.stringify(line2));
			const t1 = Date.now();
			const fell = await waitFor(async () => {
				const s = await page.evaluate(pageState);
				return s.lastTotal && s.lastTotal.i < opt.minRate ? s : null;
			}, opt.timeoutS * 1000, 'the cluster throughput on the page to fall below ' +
				opt.minRate + ' B/s after the load');
			await waitFor(async () => (await page.evaluate(() => window.bigfsConsole.polls)) >
				      fell.polls + 1, 5000, 'two more polls');
			const idle = await page.evaluate(pageState);
			if (idle.chartTotal === now.chartTotal)
				errors.push('the cluster throughput chart did not change when the load stopped');
			say({ event: 'fell', after_ms: Date.now() - t1, total_in: idle.lastTotal.i });
		}
		fs.mkdirSync(path.dirname(path.resolve(opt.screenshot)), { recursive: true });
		await page.screenshot({ path: opt.screenshot, fullPage: true });
		const fin = await page.evaluate(pageState);
		result.polls = fin.polls;
		result.summaryState = fin.summaryState;
		result.panels = fin.panels;
	} catch (e) {
		errors.push(String(e && e.message || e));
	} finally {
		closing = true;
		await browser.close().catch(() => {});
		fs.rmSync(profile, { recursive: true, force: true });
	}
	result.ok = errors.length === 0;
	say(result);
	process.exit(result.ok ? 0 : 1);
}

const nextLine = lineReader();
main().catch((e) => {
	say({ event: 'done', ok: false, errors: ['console_check: ' + (e && e.stack || e)] });
	process.exit(1);
});
