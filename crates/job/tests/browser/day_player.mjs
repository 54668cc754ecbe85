// Drives the day page's player in headless Chromium (Debian's /usr/bin/chromium, through
// playwright-core) and prints what it heard as one JSON object, for
// crates/job/tests/browser_player.rs to check.
//
//   node day_player.mjs DAY_URL SCREENSHOT.png SEEK_MS,SEEK_MS,... JOIN_MS,JOIN_MS,... [GOTOS]
//
// A Web Audio tap in the page (MediaElementSource → ScriptProcessor) records what the player
// outputs. The fixtures' time code: in broadcast second N, 50 ms of silence, then a sine of
// 300 + 20 (N mod 256) Hz. For each seek (an instant, ms since 1970) it records ~1.7 s at 1×
// and finds the first second boundary (where the silence starts) and the tone after it; the
// boundary's media time comes from the element's clock read at each block. Around each join
// it records 4 s at 1× and reports every boundary's sample position, so the test can count
// frames heard twice or missing. Then it plays the whole day at 8× and keeps the union of the
// buffered ranges (the audio the player appended), the announcements and whether it ended.
import { readFileSync } from "node:fs";

import { launch } from "./chromium.mjs";

const [dayUrl, screenshot, seeksArg, joinsArg] = process.argv.slice(2);
const seeks = (seeksArg || "").split(",").filter(Boolean).map(Number);
const joins = (joinsArg || "").split(",").filter(Boolean).map(Number);
// Optional: JSON [{text, ms, by: "Enter" | "click"}], times to type into "Go to" (then only those).
const gotos = JSON.parse(process.argv[6] || "[]");

// The flags: chromium.mjs's, and media that may start without a user gesture. No audio device
// is needed: with none, Chromium renders audio to a fake output stream, which runs in real time (an AudioContext is
// "running" at once, 44.1 kHz here). playwright-core passes the autoplay flag itself too, so
// play() also succeeds without ours. Faster than 1× Chromium keeps the pitch (measured at 4×
// and 8×: 20-ms windows hold the time code's own tones, not 4 or 8 times higher), so the time
// code is read at 1× and only the appended ranges at 8×.
const { context, args: flags, close } = await launch({ width: 1260, height: 1000 }, [
  "--autoplay-policy=no-user-gesture-required",
]);
const found = { console: [], failed: [], requests: [], flags };
try {
  const page = await context.newPage();
  page.on("console", (m) => found.console.push(`${m.type()}: ${m.text()}`));
  page.on("requestfailed", (r) => found.failed.push(`${r.url()}: ${r.failure()?.errorText}`));
  page.on("request", (r) => found.requests.push(r.url()));
  await page.goto(dayUrl, { waitUntil: "load" });
  await page.waitForFunction(() => document.getElementById("player").classList.contains("ready"), null, {
    timeout: 20000,
  });
  found.player = await page.evaluate(() => ({
    t0: window.dayPlayer.t0,
    total: window.dayPlayer.total,
    segments: window.dayPlayer.segments.length,
    clock: document.getElementById("clock").textContent,
    version: window.dayPlayer.version,
    types: window.dayPlayer.types,
  }));

  // The tap.
  await page.evaluate(() => {
    const audio = document.getElementById("day-audio");
    const ctx = new AudioContext();
    const source = ctx.createMediaElementSource(audio);
    const tap = ctx.createScriptProcessor(1024, 1, 1);
    source.connect(tap);
    tap.connect(ctx.destination);
    window.tap = { ctx, blocks: [], on: false };
    tap.onaudioprocess = (e) => {
      if (!window.tap.on) return;
      window.tap.blocks.push({ clock: audio.currentTime, samples: Float32Array.from(e.inputBuffer.getChannelData(0)) });
    };
    // Records `seconds` of output from media time `t` at 1×; resolves with the samples and
    // the media time of sample 0 (median over blocks of clock − position).
    window.record = async (t, seconds) => {
      await window.arm();
      audio.currentTime = t;
      return window.listen(t, seconds);
    };
    // Pauses and waits for the next seek, however it comes (a seek here, or the page's own
    // "Go to" typed by the driver).
    window.arm = async () => {
      audio.pause();
      await ctx.resume();
      window.seekDone = new Promise((done, fail) => {
        audio.addEventListener("seeked", done, { once: true });
        setTimeout(() => fail(new Error("no seek")), 15000);
      });
    };
    // Once the armed seek is done (to media time `t`), records `seconds` of output at 1×.
    window.listen = async (t, seconds) => {
      await window.seekDone;
      for (let waited = 0; audio.readyState < 3; waited += 20) {
        if (waited > 15000) throw new Error(`no audio at ${t} s: ${window.dayPlayer.announcements}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      window.tap.blocks = [];
      window.tap.on = true;
      await audio.play();
      await new Promise((r) => setTimeout(r, seconds * 1000 + 300));
      window.tap.on = false;
      audio.pause();
      const rate = ctx.sampleRate;
      let n = 0;
      const offsets = [];
      // Blocks before playback started hold silence and a clock that has not moved.
      const blocks = window.tap.blocks.filter((b) => b.clock > t + 0.001);
      for (const b of blocks) {
        offsets.push(b.clock - n / rate);
        n += b.samples.length;
      }
      offsets.sort((a, b) => a - b);
      const samples = new Float32Array(n);
      let at = 0;
      for (const b of blocks) {
        samples.set(b.samples, at);
        at += b.samples.length;
      }
      return { rate, start: offsets[Math.floor(offsets.length / 2)], samples };
    };
    // Second boundaries in samples: where 30+ ms of silence starts after sound, and the
    // tone's frequency after it (zero crossings over 200 ms).
    window.boundaries = (samples, rate) => {
      const win = Math.round(rate * 0.002);
      const loud = [];
      for (let i = 0; i + win <= samples.length; i += win) {
        let peak = 0;
        for (let j = i; j < i + win; j++) peak = Math.max(peak, Math.abs(samples[j]));
        loud.push(peak > 0.05);
      }
      const out = [];
      // The first 100 ms: playback starting (a fade-in from silence), not the time code.
      for (let k = Math.round(0.1 * rate / win); k + 15 < loud.length; k++) {
        if (!(loud[k - 1] && !loud[k])) continue;
        let quiet = 0;
        while (k + quiet < loud.length && !loud[k + quiet]) quiet++;
        if (quiet * 2 < 30 || quiet * 2 > 80) continue;
        // Refine to the sample: the last loud sample before the silence.
        let j = k * win;
        while (j > (k - 1) * win && Math.abs(samples[j]) < 0.05) j--;
        const from = (k + quiet) * win + Math.round(rate * 0.01);
        const to = from + Math.round(rate * 0.2);
        if (to > samples.length) break;
        let crossings = 0;
        for (let i = from + 1; i < to; i++) if ((samples[i - 1] < 0) !== (samples[i] < 0)) crossings++;
        const hz = crossings / 2 / 0.2;
        out.push({ sample: j + 1, hz, n: Math.round((hz - 300) / 20) });
        k += quiet;
      }
      return out;
    };
  });

  // "Go to" through the page's own input box: each time typed, then Enter or the Go button;
  // the time code heard from the instant it names (`ms`, known to the caller), the clock shown.
  found.gotos = [];
  for (const g of gotos) {
    await page.evaluate(() => window.arm());
    await page.fill("#go-to", g.text);
    if (g.by === "Enter") await page.press("#go-to", "Enter");
    else await page.click("#go");
    const got = await page.evaluate(async (g) => {
      const t = (g.ms - window.dayPlayer.t0) / 1000;
      const r = await window.listen(t, 1.5);
      const b = window.boundaries(r.samples, r.rate)[0];
      const clock = document.getElementById("clock").textContent;
      if (!b) return { ...g, t, error: "no second boundary heard", clock };
      const boundary = r.start + b.sample / r.rate;
      return { ...g, t, reading: (((b.n - (boundary - t)) % 256) + 256) % 256, clock };
    }, g);
    found.gotos.push(got);
  }
  if (gotos.length) {
    // Only "Go to" asked for: the screenshot, and done.
    await page.screenshot({ path: screenshot, fullPage: true });
    await close();
    console.log(JSON.stringify(found));
    process.exit(0);
  }

  found.seeks = [];
  for (const ms of seeks) {
    const got = await page.evaluate(async (ms) => {
      const p = window.dayPlayer;
      const t = p.mediaAt ? p.mediaAt(ms) : (ms - p.t0) / 1000;
      const r = await window.record(t, 1.5);
      const b = window.boundaries(r.samples, r.rate)[0];
      if (!b) return { ms, t, error: "no second boundary heard", clock: document.getElementById("clock").textContent };
      const boundary = r.start + b.sample / r.rate; // media time of the boundary
      return {
        ms, t, hz: b.hz, n_mod: b.n, boundary,
        // The time code at the requested instant, mod 256.
        reading: (((b.n - (boundary - t)) % 256) + 256) % 256,
        clock: document.getElementById("clock").textContent,
      };
    }, ms);
    found.seeks.push(got);
  }

  found.joins = [];
  for (const ms of joins) {
    const got = await page.evaluate(async (ms) => {
      const p = window.dayPlayer;
      const t = p.mediaAt ? p.mediaAt(ms) : (ms - p.t0) / 1000;
      const r = await window.record(Math.max(0, t - 2), 4);
      return {
        ms, t, start: r.start, rate: r.rate,
        boundaries: window.boundaries(r.samples, r.rate).map((b) => [b.sample, b.n]),
      };
    }, ms);
    found.joins.push(got);
  }

  await page.screenshot({ path: screenshot, fullPage: true });

  // Clicking the picture plays from there: a click on the detail timeline at a third of its
  // width, in screen pixels from the SVG's own coordinates. (A page without a picture, the
  // hls.js test page, skips this.)
  const hasPicture = await page.evaluate(() => !!document.querySelector(".picture g.timeline"));
  const click = !hasPicture ? null : await page.evaluate(() => {
    const g = document.querySelector(".picture g.timeline.detail") || document.querySelector(".picture g.timeline");
    const svg = g.ownerSVGElement;
    const x0 = +g.getAttribute("data-x0"), x1 = +g.getAttribute("data-x1");
    const from = Date.parse(g.getAttribute("data-from")), to = Date.parse(g.getAttribute("data-to"));
    const x = x0 + (x1 - x0) / 3, y = (+g.getAttribute("data-top") + +g.getAttribute("data-bottom")) / 2;
    const point = svg.createSVGPoint();
    point.x = x;
    point.y = y;
    const screen = point.matrixTransform(svg.getScreenCTM());
    const audio = document.getElementById("day-audio");
    audio.pause();
    // Where the click seeks to, read as the seek starts.
    window.clicked = new Promise((done) =>
      audio.addEventListener("seeking", () => done(window.dayPlayer.wallAt(audio.currentTime)), { once: true }),
    );
    return { x: screen.x, y: screen.y, ms: from + ((x - x0) / (x1 - x0)) * (to - from), ms_per_px: (to - from) / (x1 - x0) };
  });
  if (click) {
    await page.mouse.click(click.x, click.y);
    await page.waitForTimeout(300);
    click.playing_ms = await page.evaluate(() => window.clicked);
    click.paused = await page.evaluate(() => document.getElementById("day-audio").paused);
  }
  found.click = click;

  // The whole day at 8×: the union of every buffered range seen, the gaps announced, the end.
  found.whole = await page.evaluate(async () => {
    const audio = document.getElementById("day-audio");
    const p = window.dayPlayer;
    p.announcements.length = 0;
    audio.pause();
    audio.currentTime = 0;
    audio.playbackRate = 8;
    const seen = [];
    const look = () => {
      for (let i = 0; i < audio.buffered.length; i++) seen.push([audio.buffered.start(i), audio.buffered.end(i)]);
    };
    const ended = new Promise((done) => audio.addEventListener("ended", () => done(true), { once: true }));
    await audio.play();
    const timer = setInterval(look, 50);
    const finished = await Promise.race([ended, new Promise((r) => setTimeout(() => r(false), (p.total / 8 + 30) * 1000))]);
    clearInterval(timer);
    look();
    seen.sort((a, b) => a[0] - b[0]);
    const union = [];
    for (const [a, b] of seen) {
      const last = union[union.length - 1];
      if (last && a <= last[1] + 0.001) last[1] = Math.max(last[1], b);
      else union.push([a, b]);
    }
    // A player whose media clock is not the wall clock less t0 (hls.js lays fragments end to
    // end) says where each range is on the wall clock.
    const wall = p.wallRanges ? [].concat(...union.map(([a, b]) => p.wallRanges(a, b))) : null;
    return { finished, union, wall, types: p.types, placed: p.placed ? p.placed() : null, announcements: p.announcements.slice(), t0: p.t0, current: audio.currentTime };
  });

  // The time of day in another zone: a page with the player alone, its zone Europe/Madrid
  // (its manifest is missing: only the clock's functions are used). On 2026-10-25 the hour
  // from 02:00 repeats; its offset tells the two apart.
  const madrid = await context.newPage();
  const script = readFileSync(new URL("../../src/report/player.js", import.meta.url), "utf8");
  await madrid.setContent(
    `<section id="player" data-zone="Europe/Madrid" data-manifest="missing.json">` +
      `<button id="play-pause"></button><output id="clock"></output><input id="go-to"><button id="go"></button>` +
      `<input type="range" id="position"><p id="announce"></p><audio id="day-audio"></audio></section>` +
      `<script>${script}</script>`,
  );
  found.zone = await madrid.evaluate(() => {
    const p = window.dayPlayer;
    const iso = (ms) => (ms === null ? null : new Date(ms).toISOString());
    return {
      first: iso(p.parseLocal("02:30", "2026-10-25")),
      summer: iso(p.parseLocal("02:30 +02:00", "2026-10-25")),
      winter: iso(p.parseLocal("02:30 +01:00", "2026-10-25")),
      plain: iso(p.parseLocal("14:32:10", "2026-11-26")),
      wrong: iso(p.parseLocal("02:30 +05:00", "2026-10-25")),
      shown_summer: p.local(Date.parse("2026-10-25T00:30:00Z")),
      shown_winter: p.local(Date.parse("2026-10-25T01:30:00Z")),
    };
  });
} finally {
  await close();
}
console.log(JSON.stringify(found));
