/* The conversation page: new messages and the holder appear without reloading (a poll of
   the page's JSON endpoint), and the composer shows live what its text becomes as SMS. */
(function () {
  "use strict";
  var root = document.getElementById("conversation");
  if (!root) { return; }
  var box = document.getElementById("thread-box");
  var me = root.getAttribute("data-me");
  var shown = signature(null);

  function signature(data) {
    if (!data) {
      return Array.prototype.map.call(box.querySelectorAll(".sms-row"), function (row) {
        return row.getAttribute("data-id") + ":" + row.querySelector(".sms-status").textContent;
      }).join("|");
    }
    return data.messages.map(function (m) { return m.id + ":" + m.status_label; }).join("|");
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function stamp(iso) {
    var at = new Date(iso);
    function two(n) { return (n < 10 ? "0" : "") + n; }
    return at.getUTCFullYear() + "-" + two(at.getUTCMonth() + 1) + "-" + two(at.getUTCDate()) +
      " " + two(at.getUTCHours()) + ":" + two(at.getUTCMinutes()) + ":" + two(at.getUTCSeconds()) + " UTC";
  }

  // A picture or voice note under its text, as templates/admin/_media.html shows it.
  function attachment(item) {
    var node = element("div", "sms-media");
    node.setAttribute("data-testid", "media");
    node.setAttribute("data-kind", item.kind);
    node.setAttribute("data-status", item.status);
    var about = item.content_type + (item.size === null ? "" : ", " + item.size + " bytes");
    var noun = {image: "Picture", text: "Text part"}[item.kind] || "Voice note";
    if (item.url) {
      var link = element("a");
      link.href = item.url;
      link.target = "_blank";
      link.rel = "noopener";
      var thumb = element("img", "sms-thumb");
      thumb.src = item.url;
      thumb.alt = "Picture from the texter (" + about + ")";
      link.appendChild(thumb);
      node.appendChild(link);
    } else if ((item.kind === "audio" || item.kind === "text") && item.status === "read") {
      var label = item.kind === "text" ? "Text part (" + about + "), words:" : "Voice note (" + about + "), transcript:";
      node.appendChild(element("span", "sms-media-label", label));
      node.appendChild(document.createTextNode(" "));
      var transcript = element("span", "sms-transcript", item.transcript);
      transcript.setAttribute("data-testid", "transcript");
      node.appendChild(transcript);
    } else if (item.status === "refused" && item.kind === "other") {
      node.appendChild(element("span", "sms-media-label", "A file we do not read (" + item.content_type + ")"));
    } else if (item.status === "reading") {
      node.appendChild(element("span", "sms-media-label", noun + " (" + item.content_type + ") being read"));
    } else {
      node.appendChild(element("span", "sms-media-label",
        noun + " not read (" + item.content_type + "): " + (item.error_message || "")));
    }
    return node;
  }

  function row(m) {
    var inbound = m.direction === "in";
    var node = element("div", "sms-row " + (inbound ? "sms-in" : "sms-out") + " sms-by-" + m.author_kind);
    node.setAttribute("data-id", m.id);
    var bubble = element("div", "sms-bubble", m.body);
    bubble.dir = "auto";  // a Hebrew or Arabic text reads right to left
    bubble.setAttribute("data-direction", inbound ? "inbound" : "outbound");
    var meta = element("div", "sms-meta");
    meta.appendChild(element("span", "sms-author", m.author));
    meta.appendChild(document.createTextNode(" · " + stamp(m.created_at) + " · "));
    meta.appendChild(element("span", "sms-status sms-status-" + m.status, m.status_label));
    var detail = m.channel === "whatsapp" ? " · WhatsApp" :
      " · " + m.segments + " segment" + (m.segments === 1 ? "" : "s") + ", " + m.encoding;
    meta.appendChild(document.createTextNode(detail + (m.error_code ? ", error " + m.error_code : "")));
    if (m.replying_to) {
      var quoted = m.replying_to.length > 200 ? m.replying_to.slice(0, 197) + "..." : m.replying_to;
      node.appendChild(element("div", "sms-quote", "In reply to: " + quoted));
    }
    node.appendChild(bubble);
    (m.media || []).forEach(function (item) { node.appendChild(attachment(item)); });
    node.appendChild(meta);
    return node;
  }

  function render(data) {
    var thread = element("div", "sms-thread");
    thread.setAttribute("data-testid", "thread");
    if (!data.messages.length) {
      var empty = element("p", "text-muted", "No messages yet.");
      empty.setAttribute("data-testid", "empty-thread");
      thread.appendChild(empty);
    }
    data.messages.forEach(function (m) { thread.appendChild(row(m)); });
    var newest = lastId();
    var atEnd = window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 40;
    box.replaceChildren(thread);
    // A new message is shown if staff were at the end; a changed status moves nothing.
    if (atEnd && lastId() !== newest) { showEnd(); }
  }

  function lastId() {
    var rows = box.querySelectorAll(".sms-row");
    return rows.length ? rows[rows.length - 1].getAttribute("data-id") : null;
  }

  // The newest messages and, under them, the composer staff answer in: scrolling the last
  // message to the window's bottom pushed the composer out of sight as staff typed.
  function showEnd() {
    var rows = box.querySelectorAll(".sms-row");
    var end = root.querySelector("[data-testid=composer]") || rows[rows.length - 1];
    if (end) { end.scrollIntoView({block: "end"}); }
  }

  function holder(data) {
    var state = root.querySelector("[data-testid=state]");
    state.textContent = data.state;
    state.className = "badge sms-state-" + data.state;
    var text = "The AI answers this texter.";
    if (data.state === "waiting") { text = "Waiting for staff."; }
    if (data.state === "staff") {
      text = data.held_by === me ? "You hold this conversation." : "Held by " + (data.held_by || "staff") + ".";
    }
    root.querySelector("[data-testid=holder-text]").textContent = text;
    // The buttons as the template shows them for this state (admin staff only).
    var mine = data.state === "staff" && data.held_by === me;
    toggle("[data-testid=take-over-form]", !mine);
    toggle("[data-testid=return-to-ai-form]", data.state !== "ai");
    refusal(data);
  }

  // A STOP (or START, a deactivation, a WhatsApp window closing) while the page is open:
  // said above Send, which is disabled, as the page first drawn says it; what is typed stays.
  function refusal(data) {
    toggle("[data-testid=opted-out]", data.opted_out);
    var why = root.querySelector("[data-testid=why]");
    if (why && data.why) {
      why.replaceChildren.apply(why, data.why.map(function (line) {
        var said = document.createElement("div");
        said.textContent = line;
        return said;
      }));
    }
    var notice = root.querySelector("[data-testid=cannot-text]");
    var send = root.querySelector("[data-testid=send]");
    if (!notice || !send) { return; }
    notice.textContent = data.cannot_text || "";
    notice.classList.toggle("d-none", !data.cannot_text);
    send.disabled = Boolean(data.cannot_text);
  }

  function toggle(selector, visible) {
    var node = root.querySelector(selector);
    if (node) { node.classList.toggle("d-none", !visible); }
  }

  // The texter deleted (by another staff member, or through the API) while the page was
  // open: the page says so and offers nothing more, instead of showing the thread as live.
  function gone() {
    root.querySelector("[data-testid=texter-gone]").classList.remove("d-none");
    root.querySelectorAll("button, textarea").forEach(function (node) { node.disabled = true; });
  }

  // Texts held for staff are read when an admin has the thread on screen: a POST, so that
  // neither a prefetch of the page nor its poll in a hidden tab reads them away.
  var reader = root.querySelector("[data-testid=mark-read-form]");
  var unread = Number(root.getAttribute("data-unread")) || 0;

  // A form's count of texts shown unread (Return to AI reads them) is the page's count
  // now, not the one it was drawn with: the script may have read those since, and a text
  // held after that, not yet shown, would have been read in their place.
  root.addEventListener("submit", function (event) {
    var shown = event.target.querySelector("input[name=unread]");
    if (shown) { shown.value = String(unread); }
  });

  function markRead() {
    if (!reader || !unread || document.visibilityState !== "visible") { return; }
    // The count shown: a text held after it stays unread until the next poll shows it.
    var body = new FormData();
    body.append("unread", String(unread));
    unread = 0;
    var token = reader.querySelector("input[name=csrf_token]").value;
    fetch(reader.action, {
      method: "POST", credentials: "same-origin", body: body,
      headers: {"X-CSRFToken": token, "Accept": "application/json"}
    })
      .then(function (response) {
        if (!response.ok) { return Promise.reject(response.status); }
        var button = reader.querySelector("[data-testid=mark-read]");
        if (button) { button.remove(); }
      })
      .catch(function () {});
  }

  // A poll sent to the login page (a logout in another tab, everywhere, or a deactivation)
  // shows nothing new: the page says so instead of freezing as if nobody had written.
  var ended = root.querySelector("[data-testid=session-ended]");

  function poll() {
    fetch(root.getAttribute("data-messages-url"), {credentials: "same-origin"})
      .then(function (response) {
        ended.classList.toggle("d-none", !response.redirected);
        if (response.status === 404) { gone(); return Promise.reject("gone"); }
        return response.ok && !response.redirected ? response.json() : Promise.reject(response.status);
      })
      .then(function (data) {
        holder(data);
        var now = signature(data);
        if (now !== shown) { shown = now; render(data); }
        unread = data.unread;
        markRead();
      })
      .then(function () { setTimeout(poll, 2000); }, function (why) {
        if (why !== "gone") { setTimeout(poll, 2000); }
      });
  }

  showEnd();
  markRead();
  document.addEventListener("visibilitychange", markRead);
  setTimeout(poll, 2000);

  // The composer: what the text becomes, as the server will shape and send it.
  var composer = root.querySelector("[data-testid=composer]");
  if (!composer) { return; }
  var field = composer.querySelector("textarea[name=message]");
  var measure = composer.querySelector("[data-testid=measure]");
  var sentAs = composer.querySelector("[data-testid=sent-as]");
  var token = composer.querySelector("input[name=csrf_token]").value;
  var timer = null;
  var measured = 0;
  // A WhatsApp reply goes as one message, whose length Twilio counts in UTF-16 units (an
  // emoji is two); an SMS reply is counted in characters, as the server counts them.
  var whatsapp = measure.hasAttribute("data-whatsapp");

  function describe(result) {
    if (result.too_long) {
      return result.characters + " characters · too long: a reply takes at most " + result.most +
        (whatsapp ? " as WhatsApp counts them (an emoji is two): it goes as one message" : "");
    }
    if (result.unmeasured) { return result.characters + " characters"; }
    if (!result.parts) {
      // Typed, but nothing is left once shaped: Send would be refused (handoff.NothingToSend).
      return result.characters + " characters" + (result.characters ?
        " · nothing to send: only spaces or invisible characters" : "");
    }
    var text = result.characters + " characters · " + result.segments + " segment" +
      (result.segments === 1 ? "" : "s") + " · " + result.encoding;
    if (result.parts > 1) { text += " · sent as " + result.parts + " messages"; }
    if (result.shortened) { text += " · too long for this texter's plan: it will be cut"; }
    return text;
  }

  function show(result) {
    measure.textContent = describe(result);
    measure.classList.toggle("sms-measure-warn", !result.unmeasured && Boolean(
      result.too_long || result.shortened || result.encoding === "UCS-2" ||
      (result.characters > 0 && !result.parts)));
    // What SMS shaping made of it (emoji dropped, accents GSM-7 lacks), before Send.
    sentAs.textContent = result.sent_as ? "It goes as: " + result.sent_as : "";
    sentAs.classList.toggle("d-none", !result.sent_as);
  }

  function remeasure() {
    // Characters as the server counts them (on SMS an emoji is one). A text too long to send is
    // said so here, and asked about cut to one past the most: one past what a form may
    // carry was refused unmeasured (413), and the last text's "1 segment" stayed under it.
    // It is asked all the same, since this post is what tells the server staff are typing
    // (ADMIN_IDLE_MINUTES): staff shortening a long reply were logged out as they typed.
    var most = Number(measure.getAttribute("data-most")) || Infinity;
    var typed = Array.from(field.value);
    var characters = whatsapp ? field.value.length : typed.length;
    var asked = ++measured;
    var tooLong = characters > most ?
      {characters: characters, too_long: true, most: most, sent_as: null} : null;
    if (tooLong) { show(tooLong); }
    var body = new FormData();
    body.append("message", tooLong ? typed.slice(0, most + 1).join("") : field.value);
    // Only the answer for the text now in the box is shown, not one overtaken on the way.
    function latest(then) { return function (value) { if (asked === measured) { then(value); } }; }
    fetch(root.getAttribute("data-measure-url"), {
      method: "POST", credentials: "same-origin", body: body, headers: {"X-CSRFToken": token}
    })
      .then(function (response) { return response.ok ? response.json() : Promise.reject(response.status); })
      .then(latest(function (result) { show(tooLong || result); }))
      .catch(latest(function () {
        // Not measured (the session ended, say): no measure of an earlier text stays.
        show(tooLong || {characters: characters, unmeasured: true, sent_as: null});
      }));
  }

  // What was typed before the session ended may be back in the box (drafts.js).
  field.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(remeasure, 200);
  });
  if (field.value) { remeasure(); }
})();
