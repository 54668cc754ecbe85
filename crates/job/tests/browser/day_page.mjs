// Loads a day page of the archive browser in headless Chromium (Debian's /usr/bin/chromium,
// driven by playwright-core) and prints what it found as one JSON object on stdout, for
// crates/job/tests/browser_report.rs to check.
//
//   node day_page.mjs DAY_URL UNSIGNED_URL SCREENSHOT.png
//
// DAY_URL is the page with its SAS query; UNSIGNED_URL the same page without it (it must be
// refused, or the SAS proves nothing). The machine has no internet: every background service
// of the browser is off, and the profile is a new empty folder.
import { launch } from "./chromium.mjs";

const [dayUrl, unsignedUrl, screenshot] = process.argv.slice(2);
if (!dayUrl || !unsignedUrl || !screenshot) {
  console.error("usage: node day_page.mjs DAY_URL UNSIGNED_URL SCREENSHOT.png");
  process.exit(2);
}

const { context, close } = await launch({ width: 1260, height: 900 });
const found = { console: [], failed: [] };
try {
  const page = await context.newPage();
  page.on("console", (m) => found.console.push(`${m.type()}: ${m.text()}`));
  page.on("requestfailed", (r) => found.failed.push(`${r.url()}: ${r.failure()?.errorText}`));
  found.unsigned_status = (await page.request.get(unsignedUrl)).status();

  const response = await page.goto(dayUrl, { waitUntil: "load" });
  found.status = response.status();
  found.content_type = response.headers()["content-type"];
  found.title = await page.title();

  found.picture = await page.evaluate(() => {
    const svg = document.querySelector(".picture svg");
    if (!svg) return null;
    const box = svg.getBoundingClientRect();
    const lanes = [...svg.querySelectorAll("g.timeline.day g.lane")].map((g) => {
      const b = g.getBBox();
      return { pod: g.getAttribute("data-pod"), width: b.width, height: b.height };
    });
    const spans = (cls) =>
      [...svg.querySelectorAll(`.${cls}`)].map((e) => ({
        width: e.getBBox().width,
        title: e.querySelector("title")?.textContent ?? "",
      }));
    return {
      width: box.width,
      height: box.height,
      lanes,
      gaps: spans("gap"),
      archived: spans("archived").length,
      recorded: spans("recorded").length,
      detail: !!svg.querySelector("g.timeline.detail"),
    };
  });
  found.gap_rows = await page.$$eval("table.gaps tbody tr", (rows) =>
    rows.map((r) => [...r.cells].map((c) => c.textContent)),
  );

  // Each player's metadata: the SAS must reach its blob (the script appended it), and the
  // browser must decode enough of the MP3 to know its length.
  found.players = await page.evaluate(async () => {
    const players = [...document.querySelectorAll("tr.segment audio")];
    return Promise.all(
      players.map(
        (a) =>
          new Promise((resolve) => {
            const done = () =>
              resolve({
                src: a.currentSrc || a.src,
                duration: Number.isFinite(a.duration) ? a.duration : String(a.duration),
                expected: Number(a.closest("tr").getAttribute("data-duration")),
                ready_state: a.readyState,
                error: a.error ? a.error.code : null,
              });
            if (a.readyState >= 1 || a.error) return done();
            a.addEventListener("loadedmetadata", done, { once: true });
            a.addEventListener("error", done, { once: true });
            setTimeout(done, 20000);
          }),
      ),
    );
  });

  await page.screenshot({ path: screenshot, fullPage: false });

  // The link back to the list of days carries the same SAS.
  await page.click("text=← all days");
  await page.waitForLoadState("load");
  found.index_url = page.url();
  found.index_days = await page.$$eval("table.days tbody tr", (rows) =>
    rows.map((r) => [...r.cells].map((c) => c.textContent)),
  );
} finally {
  await close();
}
console.log(JSON.stringify(found));
