// One player for the day (issue 28), inlined in the day page by report/html.rs.
//
// It reads the day manifest (`YYYY-MM-DD.json`, beside the page) and plays its segments in
// order through Media Source Extensions: each blob is fetched whole, its MP3 frames found,
// and the frames from the segment's in-point to its out-point appended at their place on the
// day's clock (`timestampOffset`), trimmed to those points (`appendWindowStart/End`). The
// media clock is seconds since the day's first archived moment, so a gap no replica recorded
// is a hole in it: the player jumps over it and says so. Every URL it loads carries the
// page's own query (a container SAS), as every other link of the page does.
//
// window.dayPlayer exposes the clock for tests and tools: seekWall(ms since 1970), wallAt(t),
// segments, gaps, announcements.
(function () {
  "use strict";
  var root = document.getElementById("player");
  var audio = document.getElementById("day-audio");
  if (!root || !audio) return;
  var status = document.getElementById("announce");
  var clock = document.getElementById("clock");
  var position = document.getElementById("position");
  var query = location.search;
  var zone = root.getAttribute("data-zone");
  var AHEAD = 30; // seconds appended ahead of the play position
  var BEHIND = 30; // seconds kept behind it
  var state = { segments: [], gaps: [], announcements: [], t0: 0, total: 0 };
  window.dayPlayer = state;

  function say(text) {
    state.announcements.push(text);
    status.textContent = text;
  }
  if (!window.MediaSource || !MediaSource.isTypeSupported("audio/mpeg")) {
    say("This browser cannot play MP3 through Media Source Extensions: use the players below.");
    return;
  }

  // Wall-clock time in TIME_ZONE with its UTC offset, which tells the repeated autumn hour apart.
  var format = new Intl.DateTimeFormat("en-GB", {
    timeZone: zone, hour: "2-digit", minute: "2-digit", second: "2-digit",
    hourCycle: "h23", timeZoneName: "longOffset",
  });
  function local(ms) {
    return format.format(new Date(ms)).replace("GMT", "UTC").replace(/UTC$/, "UTC+00:00");
  }
  var parts = new Intl.DateTimeFormat("en-US", {
    timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
  function offsetAt(ms) {
    var p = {};
    parts.formatToParts(new Date(ms)).forEach(function (x) { p[x.type] = Number(x.value); });
    var whole = Math.floor(ms / 1000) * 1000;
    return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - whole;
  }
  // "14:32", "14:32:10" or "02:30 +01:00" on the page's day → ms since 1970, or null. Without an
  // offset, the earlier of two instants with that wall time.
  function parseLocal(text, day) {
    var m = /^\s*(\d{1,2}):(\d{2})(?::(\d{2}))?\s*(?:(?:UTC)?([+-])(\d{2}):?(\d{2}))?\s*$/.exec(text);
    if (!m) return null;
    var d = day.split("-").map(Number);
    var wall = Date.UTC(d[0], d[1] - 1, d[2], +m[1], +m[2], +(m[3] || 0));
    var wanted = m[4] ? (m[4] === "-" ? -1 : 1) * (m[5] * 3600e3 + m[6] * 60e3) : null;
    var found = [];
    [-12, 0, 12].forEach(function (h) {
      var o = offsetAt(wall + h * 3600e3);
      var t = wall - o;
      if (offsetAt(t) === o && found.indexOf(t) < 0) found.push(t);
    });
    found.sort(function (a, b) { return a - b; });
    if (wanted !== null) found = found.filter(function (t) { return offsetAt(t) === wanted; });
    return found.length ? found[0] : null;
  }

  // The MP3 frames of a blob: [byte offset, length] of each audio frame (an ID3v2 tag and a
  // Xing/Info header frame are not audio), and the seconds a frame lasts.
  var RATES = [44100, 48000, 32000];
  var KBPS1 = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320];
  var KBPS2 = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];
  function frames(bytes) {
    var at = 0, out = [], seconds = 0;
    if (bytes[0] === 0x49 && bytes[1] === 0x44 && bytes[2] === 0x33) {
      at = 10 + ((bytes[6] << 21) | (bytes[7] << 14) | (bytes[8] << 7) | bytes[9]);
    }
    while (at + 4 <= bytes.length) {
      var b1 = bytes[at + 1], b2 = bytes[at + 2];
      var version = (b1 >> 3) & 3, rate = (b2 >> 2) & 3, kbps = b2 >> 4;
      if (bytes[at] !== 0xff || (b1 & 0xe0) !== 0xe0 || ((b1 >> 1) & 3) !== 1 ||
          version === 1 || rate === 3 || kbps === 0 || kbps === 15) {
        at += 1; // not a layer III frame header: resynchronise
        continue;
      }
      var one = version === 3;
      var hz = RATES[rate] / (one ? 1 : version === 2 ? 2 : 4);
      var length = Math.floor(((one ? 144000 : 72000) * (one ? KBPS1 : KBPS2)[kbps]) / hz) +
        ((b2 >> 1) & 1);
      if (at + length > bytes.length) break; // a partial frame at a killed recording's end
      seconds = (one ? 1152 : 576) / hz;
      var head = String.fromCharCode.apply(null, bytes.subarray(at + 4, at + 40));
      if (!(out.length === 0 && /Xing|Info/.test(head))) out.push([at, length]);
      at += length;
    }
    return { list: out, seconds: seconds };
  }

  var media = new MediaSource();
  var buffer = null;
  var busy = false;
  audio.src = URL.createObjectURL(media);

  fetch(root.getAttribute("data-manifest") + query)
    .then(function (r) {
      if (!r.ok) throw new Error("the day manifest: HTTP " + r.status);
      return r.json();
    })
    .then(start, function (e) { say("Cannot play the day: " + e.message); });

  function start(day) {
    var segments = day.segments.filter(function (s) { return s.out_s > s.in_s; });
    if (!segments.length) return say("Nothing archived this day.");
    var t0 = Date.parse(segments[0].start) + segments[0].in_s * 1000;
    segments.forEach(function (s) {
      s.at = (Date.parse(s.start) - t0) / 1000; // where the recording starts on the media clock
      s.a = s.at + s.in_s;
      s.b = s.at + s.out_s;
    });
    state.gaps = day.gaps.map(function (g) {
      return { a: (Date.parse(g.start) - t0) / 1000, b: (Date.parse(g.end) - t0) / 1000,
        start: Date.parse(g.start), end: Date.parse(g.end), seconds: g.seconds };
    });
    state.segments = segments;
    state.t0 = t0;
    state.total = segments[segments.length - 1].b;
    state.day = day.day;
    position.max = state.total;
    if (media.readyState === "open") open(); else media.addEventListener("sourceopen", open);
  }

  function open() {
    buffer = media.addSourceBuffer("audio/mpeg");
    buffer.mode = "sequence"; // MP3 has no timestamps of its own: timestampOffset places it
    media.duration = state.total;
    buffer.addEventListener("updateend", function () { busy = false; pump(); });
    pump();
    root.classList.add("ready");
    clock.textContent = local(state.t0);
  }

  // Appends the next segment the play position needs, and drops what lies far behind it.
  function pump() {
    if (!buffer || busy || buffer.updating) return;
    var now = audio.currentTime;
    if (now > BEHIND + 5 && buffer.buffered.length && buffer.buffered.start(0) < now - BEHIND - 5) {
      busy = true;
      state.segments.forEach(function (s) { if (s.a < now - BEHIND) s.loaded = false; });
      buffer.remove(0, now - BEHIND);
      return;
    }
    var next = state.segments.filter(function (s) {
      return !s.loaded && s.b > now && s.a < now + AHEAD;
    })[0];
    if (!next) {
      var last = state.segments[state.segments.length - 1];
      if (last.loaded && media.readyState === "open") media.endOfStream();
      return;
    }
    busy = true;
    next.loaded = true;
    if (next.waiting) return append(next, next.waiting); // fetched, refused for room
    fetch("../" + next.blob.split("/").map(encodeURIComponent).join("/") + query)
      .then(function (r) {
        if (!r.ok) throw new Error(next.blob + ": HTTP " + r.status);
        return r.arrayBuffer();
      })
      .then(function (data) { append(next, new Uint8Array(data)); })
      .catch(function (e) { busy = false; next.loaded = false; say("Cannot load " + e.message); });
  }

  // The segment's frames from its in-point to its out-point, placed at their time of day.
  function append(s, bytes) {
    var found = frames(bytes);
    var shift = (s.blob_first_frame || 0) - (s.lead_frames || 0); // recording frame of blob frame 0
    var step = s.frames ? s.duration_s / s.frames : found.seconds;
    var inFrame = s.in_frame != null ? s.in_frame : Math.round(s.in_s / step);
    var outFrame = s.out_frame != null ? s.out_frame : Math.round(s.out_s / step);
    var first = Math.max(0, inFrame - shift);
    var end = Math.min(found.list.length, outFrame - shift);
    if (end <= first) { busy = false; return pump(); }
    var from = found.list[first][0];
    var to = found.list[end - 1][0] + found.list[end - 1][1];
    // Each append is whole frames, so the parser holds nothing between appends. (No abort():
    // it would move the next append to where the last one ended.)
    buffer.appendWindowStart = 0;
    buffer.appendWindowEnd = Infinity;
    buffer.timestampOffset = s.at + (first + shift) * step; // also reopens an ended source
    buffer.appendWindowEnd = s.b;
    buffer.appendWindowStart = s.a;
    try {
      buffer.appendBuffer(bytes.subarray(from, to));
      s.waiting = null;
    } catch (e) {
      if (e.name !== "QuotaExceededError") throw e;
      // The browser's buffer is full (long segments at a high bit rate): keep the bytes, drop
      // what was played, and try again when there is room.
      s.loaded = false;
      s.waiting = bytes;
      var now = audio.currentTime;
      if (buffer.buffered.length && buffer.buffered.start(0) < now - 1) {
        state.segments.forEach(function (x) { if (x.a < now - 1) x.loaded = false; });
        buffer.remove(0, now - 1); // busy until its updateend
      } else {
        busy = false; // nothing to drop yet: the next timeupdate tries again
      }
    }
  }

  // A gap no replica recorded: jump over it, and say so.
  function skipGap() {
    var now = audio.currentTime;
    state.gaps.forEach(function (g) {
      if (now >= g.a - 0.25 && now < g.b && (audio.readyState < 3 || now >= g.a)) {
        audio.currentTime = g.b;
        say("Gap " + local(g.start) + " – " + local(g.end) + " (" + g.seconds.toFixed(1) +
          " s): no replica recorded it; skipped.");
      }
    });
  }

  // The picture's cursor: a line in each timeline at the time playing.
  var timelines = [].slice.call(document.querySelectorAll(".picture g.timeline[data-from]"));
  var cursors = timelines.map(function (g) {
    var line = document.createElementNS("http://www.w3.org/2000/svg", "line");
    line.setAttribute("class", "cursor");
    line.setAttribute("y1", g.getAttribute("data-top"));
    line.setAttribute("y2", g.getAttribute("data-bottom"));
    line.setAttribute("stroke", "#0b7a75");
    line.setAttribute("stroke-width", "2");
    line.setAttribute("visibility", "hidden");
    g.appendChild(line);
    return line;
  });
  function xOf(g, ms) {
    var from = Date.parse(g.getAttribute("data-from")), to = Date.parse(g.getAttribute("data-to"));
    var x0 = +g.getAttribute("data-x0"), x1 = +g.getAttribute("data-x1");
    return x0 + Math.min(1, Math.max(0, (ms - from) / (to - from))) * (x1 - x0);
  }
  state.wallAt = function (t) { return state.t0 + t * 1000; };
  audio.addEventListener("timeupdate", function () {
    var wall = state.wallAt(audio.currentTime);
    clock.textContent = local(wall);
    position.value = audio.currentTime;
    timelines.forEach(function (g, i) {
      var x = xOf(g, wall).toFixed(2);
      cursors[i].setAttribute("x1", x);
      cursors[i].setAttribute("x2", x);
      cursors[i].setAttribute("visibility", "visible");
    });
    skipGap();
    pump();
  });
  audio.addEventListener("waiting", skipGap);
  audio.addEventListener("seeking", pump);

  // Seek to an instant (ms since 1970): into the gap's end if no replica recorded it.
  state.seekWall = function (ms, play) {
    var t = (ms - state.t0) / 1000;
    if (t < 0 || t > state.total) {
      say(local(ms) + " is not archived: the day plays " + local(state.t0) + " – " +
        local(state.wallAt(state.total)) + ".");
      return false;
    }
    audio.currentTime = t;
    skipGap();
    if (play) audio.play();
    return true;
  };
  function go() {
    var text = document.getElementById("go-to").value;
    var ms = parseLocal(text, state.day);
    if (ms === null) return say("\"" + text + "\": expected HH:MM, HH:MM:SS, or with an offset, 02:30 +01:00.");
    state.seekWall(ms, true);
  }
  document.getElementById("go").addEventListener("click", go);
  document.getElementById("go-to").addEventListener("keydown", function (e) {
    if (e.key === "Enter") go();
  });
  position.addEventListener("change", function () { audio.currentTime = +position.value; });
  document.getElementById("play-pause").addEventListener("click", function () {
    if (audio.paused) audio.play(); else audio.pause();
  });
  // Clicking the picture plays from there.
  var svg = document.querySelector(".picture svg");
  if (svg) svg.addEventListener("click", function (e) {
    var point = svg.createSVGPoint();
    point.x = e.clientX;
    point.y = e.clientY;
    var p = point.matrixTransform(svg.getScreenCTM().inverse());
    timelines.forEach(function (g) {
      if (p.y < +g.getAttribute("data-top") || p.y > +g.getAttribute("data-bottom")) return;
      var x0 = +g.getAttribute("data-x0"), x1 = +g.getAttribute("data-x1");
      if (p.x < x0 || p.x > x1) return;
      var from = Date.parse(g.getAttribute("data-from")), to = Date.parse(g.getAttribute("data-to"));
      state.seekWall(from + ((p.x - x0) / (x1 - x0)) * (to - from), true);
    });
  });
  state.parseLocal = parseLocal;
  state.local = local;
})();
