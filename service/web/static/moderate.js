// Civility moderator page: keyboard shortcuts, in-place decisions, bulk actions, flash messages.
// Plain JavaScript, no dependencies. Every form still works without it.
(() => {
  "use strict";

  const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
  const flashRegion = document.getElementById("flash");
  const rejectDialog = document.getElementById("reject-dialog");
  const rejectForm = document.getElementById("reject-form");
  const helpDialog = document.getElementById("help-dialog");
  const selectAll = document.getElementById("select-all");
  const selectedCount = document.getElementById("selected-count");
  const bulkForm = document.getElementById("bulk-form");
  const dialogCorrections = rejectDialog?.querySelector("[data-dialog-corrections]") || null;
  let current = -1;
  let rejectTargets = null; // cards the reject dialog applies to
  let rejectBulk = false; // true: reject every selected card (bulk), false: the one target card

  const cards = () => Array.from(document.querySelectorAll("article.card"));

  function flash(message, kind) {
    if (!flashRegion) return;
    const p = document.createElement("p");
    p.className = "flash flash-" + (kind || "info");
    p.textContent = message;
    flashRegion.replaceChildren(p);
  }

  function setCurrent(index, focus = true) {
    const list = cards();
    if (!list.length) { current = -1; return; }
    current = Math.max(0, Math.min(index, list.length - 1));
    list.forEach((card, i) => card.classList.toggle("current", i === current));
    const card = list[current];
    if (focus) card.focus({ preventScroll: true });
    card.scrollIntoView({ block: "nearest" });
  }

  function currentCard() {
    const list = cards();
    if (current < 0 && list.length) setCurrent(0, false);
    return list[current] || null;
  }

  function updateSelection() {
    const boxes = cards().map((card) => card.querySelector("input.select")).filter(Boolean);
    const count = boxes.filter((box) => box.checked).length;
    cards().forEach((card) => card.classList.toggle("selected", !!card.querySelector("input.select:checked")));
    if (selectedCount) selectedCount.textContent = count + " selected";
    if (selectAll) selectAll.checked = boxes.length > 0 && count === boxes.length;
  }

  function adjustCount(queue, delta) {
    const badge = document.querySelector('[data-count="' + queue + '"]');
    if (badge) badge.textContent = String(Math.max(0, Number(badge.textContent) + delta));
  }

  function replaceCard(card, html) {
    if (!html) return card;
    const template = document.createElement("template");
    template.innerHTML = html.trim();
    const fresh = template.content.firstElementChild;
    if (fresh.dataset.status !== card.dataset.status) {
      adjustCount(card.dataset.status, -1);
      adjustCount(fresh.dataset.status, +1);
    }
    if (card.querySelector(".badge-reported") && !fresh.querySelector(".badge-reported")) adjustCount("reported", -1);
    if (!card.querySelector(".badge-reported") && fresh.querySelector(".badge-reported")) adjustCount("reported", +1);
    card.replaceWith(fresh);
    bindCard(fresh);
    return fresh;
  }

  async function post(url, fields) {
    const body = new URLSearchParams(fields);
    body.set("csrf_token", csrf);
    const response = await fetch(url, {
      method: "POST",
      body,
      headers: { Accept: "application/json", "X-CSRF-Token": csrf },
      credentials: "same-origin",
    });
    let data = {};
    try { data = await response.json(); } catch (_) { data = { ok: false, message: "Unexpected answer from the server." }; }
    if (response.status === 401 && data.login) window.location.assign(data.login);
    return { status: response.status, data };
  }

  // Corrected labels under root: the checked "yes" / "no" radios named label.<id> ("not set" sends nothing).
  function labelCorrections(root) {
    const fields = {};
    root?.querySelectorAll('input[type="radio"][name^="label."]:checked').forEach((input) => {
      if (input.value) fields[input.name] = input.value;
    });
    return fields;
  }

  // labels: the corrections to send; by default the card's own "Correct labels" fieldset (comment page).
  async function decide(card, action, reason, explanation, advance = true, labels = null) {
    if (!card) return;
    const index = cards().indexOf(card);
    const fields = { action, version: card.dataset.version };
    if (reason) fields.reason_code = reason;
    if (explanation) fields.explanation = explanation;
    if (card.dataset.view) fields.view = card.dataset.view;
    Object.assign(fields, labels || labelCorrections(card.querySelector("[data-corrections]")));
    const { data } = await post(card.querySelector('form[data-action="approve"]').getAttribute("action"), fields);
    const fresh = replaceCard(card, data.html);
    flash(data.message || (data.ok ? "Done." : "Failed."), data.ok ? "success" : "error");
    setCurrent(data.ok && advance ? index + 1 : index, true);
    return fresh;
  }

  async function undo(card) {
    if (!card) return;
    const form = card.querySelector('form[data-action="undo"]');
    if (!form) { flash("Nothing to undo on this comment.", "info"); return; }
    const index = cards().indexOf(card);
    const fields = { version: card.dataset.version };
    if (card.dataset.view) fields.view = card.dataset.view;
    const { data } = await post(form.getAttribute("action"), fields);
    replaceCard(card, data.html);
    flash(data.message, data.ok ? "success" : "error");
    setCurrent(index, true);
  }

  async function bulk(action, reason, explanation) {
    const selected = cards().filter((card) => card.querySelector("input.select:checked"));
    if (!selected.length) { flash("Select comments first (x, or the checkboxes).", "info"); return; }
    const body = new URLSearchParams();
    body.set("action", action);
    body.set("csrf_token", csrf);
    if (reason) body.set("reason_code", reason);
    if (explanation) body.set("explanation", explanation);
    selected.forEach((card) => body.append("item", card.dataset.id + ":" + card.dataset.version));
    const response = await fetch(bulkForm.getAttribute("action"), {
      method: "POST", body, credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRF-Token": csrf },
    });
    const data = await response.json().catch(() => ({ ok: false, message: "Unexpected answer from the server." }));
    const byId = new Map(cards().map((card) => [card.dataset.id, card]));
    Object.entries(data.cards || {}).forEach(([id, html]) => {
      const card = byId.get(String(id));
      if (card) replaceCard(card, html);
    });
    flash(data.message, data.ok ? "success" : "error");
    updateSelection();
    setCurrent(current, true);
  }

  function openReject(targets, isBulk = false) {
    if (!rejectDialog) return;
    rejectTargets = targets;
    rejectBulk = isBulk;
    const label = rejectDialog.querySelector("[data-reject-target]");
    if (label) label.textContent = targets.length === 1 ? "comment " + targets[0].dataset.id : targets.length + " comments";
    rejectForm.reset();
    if (dialogCorrections) {
      // Corrections are per comment: not for bulk, and not twice when the card has its own (comment page).
      const card = targets.length === 1 ? targets[0] : null;
      dialogCorrections.hidden = !card || isBulk || !!card.querySelector("[data-corrections]");
      dialogCorrections.open = false;
      dialogCorrections.querySelectorAll(".correction").forEach((row) => {
        const score = card?.querySelector('li.score[data-label="' + row.dataset.label + '"] .score-value');
        row.querySelector("[data-model-score]").textContent = score ? "model " + score.textContent : "";
      });
    }
    rejectDialog.showModal();
    rejectForm.querySelector('input[name="reason_code"]:checked')?.focus();
  }

  if (rejectDialog) {
    rejectDialog.addEventListener("keydown", (event) => {
      if (/^[1-9]$/.test(event.key) && event.target.tagName !== "TEXTAREA") {
        const radios = rejectForm.querySelectorAll('input[name="reason_code"]');
        const radio = radios[Number(event.key) - 1];
        if (radio) { radio.checked = true; radio.focus(); event.preventDefault(); }
      } else if (event.key === "Enter" && !["TEXTAREA", "BUTTON", "SUMMARY"].includes(event.target.tagName)) {
        event.preventDefault();
        rejectForm.requestSubmit(rejectForm.querySelector('button[value="confirm"]'));
      }
    });
    rejectForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const confirmed = event.submitter ? event.submitter.value === "confirm" : true;
      const targets = rejectTargets || [];
      rejectDialog.close();
      rejectTargets = null;
      if (!confirmed || !targets.length) { setCurrent(Math.max(current, 0)); return; }
      const reason = rejectForm.querySelector('input[name="reason_code"]:checked')?.value;
      const explanation = rejectForm.querySelector("#reject-explanation").value.trim();
      const needs = rejectForm.querySelector('input[name="reason_code"]:checked')?.dataset.requiredExplanation === "true";
      if (needs && !explanation) {
        flash("This reason needs an explanation.", "error");
        openReject(targets, rejectBulk);
        return;
      }
      const labels = dialogCorrections && !dialogCorrections.hidden ? labelCorrections(dialogCorrections) : null;
      if (rejectBulk) await bulk("reject", reason, explanation);
      else await decide(targets[0], "reject", reason, explanation, true, labels);
    });
  }

  function toggleHelp() {
    if (!helpDialog) return;
    if (helpDialog.open) helpDialog.close(); else helpDialog.showModal();
  }
  document.querySelectorAll("[data-open-help]").forEach((button) => button.addEventListener("click", toggleHelp));

  function bindCard(card) {
    card.addEventListener("focus", () => {
      const index = cards().indexOf(card);
      if (index !== current) setCurrent(index, false);
    });
    card.querySelector('form[data-action="approve"]')?.addEventListener("submit", (event) => {
      event.preventDefault();
      decide(card, "approve");
    });
    card.querySelector('form[data-action="reject"]')?.addEventListener("submit", (event) => {
      event.preventDefault();
      const form = event.target;
      decide(card, "reject", form.reason_code.value, form.explanation.value.trim());
    });
    card.querySelector('form[data-action="undo"]')?.addEventListener("submit", (event) => {
      event.preventDefault();
      undo(card);
    });
    card.querySelector("input.select")?.addEventListener("change", updateSelection);
  }

  cards().forEach(bindCard);
  if (selectAll) {
    selectAll.addEventListener("change", () => {
      cards().forEach((card) => { const box = card.querySelector("input.select"); if (box) box.checked = selectAll.checked; });
      updateSelection();
    });
  }
  if (bulkForm) {
    bulkForm.addEventListener("submit", (event) => {
      event.preventDefault();
      const action = event.submitter?.value || "approve";
      if (action === "reject") {
        const selected = cards().filter((card) => card.querySelector("input.select:checked"));
        if (!selected.length) { flash("Select comments first (x, or the checkboxes).", "info"); return; }
        openReject(selected, true);
      } else {
        bulk("approve");
      }
    });
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const tag = event.target.tagName;
    if (tag === "INPUT" && event.target.type !== "checkbox" || tag === "TEXTAREA" || tag === "SELECT") return;
    if (document.querySelector("dialog[open]")) {
      if (event.key === "?" && helpDialog?.open) { helpDialog.close(); event.preventDefault(); }
      return;
    }
    const card = currentCard();
    switch (event.key) {
      case "j": setCurrent(current + 1); break;
      case "k": setCurrent(current - 1); break;
      case "a": decide(card, "approve"); break;
      case "r": if (card) openReject([card]); break;
      case "u": undo(card); break;
      case "x": {
        const box = card?.querySelector("input.select");
        if (box) { box.checked = !box.checked; updateSelection(); }
        break;
      }
      case "A": bulk("approve"); break;
      case "R": {
        const selected = cards().filter((c) => c.querySelector("input.select:checked"));
        if (selected.length) openReject(selected, true); else flash("Select comments first (x).", "info");
        break;
      }
      case "o": { const link = card?.querySelector(".history-link"); if (link) window.location.assign(link.href); break; }
      case "?": toggleHelp(); break;
      default: return;
    }
    event.preventDefault();
  });

  if (cards().length) setCurrent(0, false);
  updateSelection();
})();
