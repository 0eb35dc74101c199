// Keyboard triage of the alert queue: move with j/k, confirm with c and a label's number,
// dismiss with d and a reason's number, assign to yourself with a, tick with x, open with o.
// Decisions are sent in the background (the page is not reloaded) and the next alert is
// selected. Text from posts is only ever set as textContent, never as HTML.
"use strict";
(() => {
  const table = document.querySelector("table.alerts");
  const menu = document.getElementById("triage-menu");
  if (!table || !menu) return;
  const csrf = document.querySelector("meta[name=csrf-token]").content;
  const said = document.getElementById("triage-said");
  const labels = JSON.parse(table.dataset.labels);
  const reasons = JSON.parse(table.dataset.reasons);
  const rows = () => Array.from(table.querySelectorAll("tbody tr[data-alert-id]"));
  let current = -1;
  let choosing = null; // {title, options, choose(index)} while a menu is open

  const HELP = [
    ["j / ↓", "next alert"], ["k / ↑", "previous alert"], ["c", "confirm, then the label's number"],
    ["d", "dismiss, then the reason's number (0: write one)"], ["a", "assign to me"],
    ["x", "tick for the bulk action"], ["o / Enter", "open the cluster page"], ["Esc", "close this"],
    ["?", "these keys"],
  ];

  function say(text) {
    said.textContent = text;
    table.dataset.said = text;
  }

  function select(index) {
    const all = rows();
    if (!all.length) return;
    current = Math.max(0, Math.min(index, all.length - 1));
    all.forEach((row, at) => row.classList.toggle("selected", at === current));
    all[current].scrollIntoView({block: "nearest"});
  }

  function selected() {
    return rows()[current];
  }

  function nextUndecided() {
    const all = rows();
    for (let at = current + 1; at < all.length; at++) {
      if (!all[at].matches(".decided, .sending")) return at;
    }
    return current;
  }

  function showMenu(title, options, choose) {
    choosing = {options, choose};
    menu.replaceChildren();
    const heading = document.createElement("p");
    heading.textContent = title;
    const list = document.createElement("ol");
    options.forEach(([key, text]) => {
      const item = document.createElement("li");
      const kbd = document.createElement("kbd");
      kbd.textContent = key;
      item.append(kbd, " ", text);
      list.append(item);
    });
    menu.append(heading, list);
    menu.hidden = false;
  }

  function closeMenu() {
    choosing = null;
    menu.hidden = true;
  }

  async function send(url, fields) {
    const body = new FormData();
    Object.entries(fields).forEach(([name, value]) => body.append(name, value));
    const response = await fetch(url, {
      method: "POST", body, credentials: "same-origin",
      headers: {"Accept": "application/json", "X-CSRFToken": csrf},
    });
    let answer;
    try {
      answer = await response.json();
    } catch (error) {
      answer = {error: `the server answered ${response.status}`};
    }
    return {status: response.status, answer};
  }

  async function decide(row, fields) {
    // On to the next alert at once: the moderator need not wait for the answer.
    row.classList.add("sending");
    if (row === selected()) select(nextUndecided());
    let {status, answer} = await send(row.dataset.decideUrl, fields);
    if (status === 409 && window.confirm(answer.error)) {
      ({status, answer} = await send(row.dataset.decideUrl, {...fields, change: "y"}));
    }
    row.classList.remove("sending");
    if (status !== 200) {
      say(`alert ${row.dataset.alertId}: ${answer.error || `not recorded (${status})`}`);
      return;
    }
    row.classList.add("decided");
    const badge = row.querySelector(".status");
    badge.textContent = answer.status;
    badge.className = `status status-${answer.status}`;
    row.querySelector(".decided").textContent = answer.decided;
    say(`alert ${answer.alert_id}: ${answer.decided}`);
  }

  async function assignToMe(row) {
    const {status, answer} = await send(row.dataset.assignUrl, {assignee: "me"});
    if (status !== 200) {
      say(answer.error || `not assigned (${status})`);
      return;
    }
    row.querySelector(".assignee").textContent = answer.assignee || "";
    say(answer.message);
  }

  const keys = {
    j: () => select(current + 1), ArrowDown: () => select(current + 1),
    k: () => select(current - 1), ArrowUp: () => select(current - 1),
    o: () => selected().querySelector("a.open").click(),
    Enter: () => selected().querySelector("a.open").click(),
    x: () => selected().querySelector("input[type=checkbox]").click(),
    a: () => assignToMe(selected()),
    c: () => {
      const row = selected();
      showMenu(`Confirm alert ${row.dataset.alertId} as:`,
        labels.map((label, at) => [String(at + 1), label.replaceAll("_", " ")]),
        (at) => decide(row, {decision: "confirm", label: labels[at]}));
    },
    d: () => {
      const row = selected();
      showMenu(`Dismiss alert ${row.dataset.alertId} because:`,
        [...reasons.map((reason, at) => [String(at + 1), reason]), ["0", "in my words…"]],
        (at) => {
          if (at < reasons.length) return decide(row, {decision: "dismiss", reason: reasons[at]});
          const note = window.prompt("Why is it dismissed?");
          if (note && note.trim()) return decide(row, {decision: "dismiss", note});
        });
    },
    "?": () => showMenu("Keys", HELP, () => {}),
  };

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target.closest("input, textarea, select")) return;
    if (event.key === "Enter" && event.target.closest("a, button")) return; // their own
    if (choosing) {
      event.preventDefault();
      const options = choosing.options;
      const choose = choosing.choose;
      closeMenu();
      const at = options.findIndex(([key]) => key === event.key);
      if (at >= 0) choose(at);
      return;
    }
    const action = keys[event.key];
    if (!action || !rows().length) return;
    event.preventDefault();
    action();
  });

  select(0);
})();
