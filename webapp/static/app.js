// sopflow's own script: the only JavaScript we write; htmx does the rest.
// Everything here is an enhancement: without it the board works as links and forms.
(function () {
  "use strict";

  const toastRegion = () => document.getElementById("toast");

  // Show a notice in the live region; it fades after a while (a close button too).
  function showNotice(fragmentHtml) {
    const region = toastRegion();
    if (!region) return;
    const doc = new DOMParser().parseFromString(fragmentHtml, "text/html");
    const source = doc.getElementById("toast") || doc.body;
    region.replaceChildren(...Array.from(source.childNodes).map((n) => document.importNode(n, true)));
    scheduleDismiss();
  }

  let dismissTimer = null;
  function scheduleDismiss() {
    clearTimeout(dismissTimer);
    dismissTimer = setTimeout(() => {
      const region = toastRegion();
      if (region) region.replaceChildren();
    }, 8000);
  }

  document.addEventListener("click", (event) => {
    if (event.target.closest(".notice-close")) {
      const region = toastRegion();
      if (region) region.replaceChildren();
    }
    const close = event.target.closest("[data-close-panel]");
    if (close) {
      const panel = document.getElementById("panel");
      if (panel) {
        panel.replaceChildren();
        const back = panel.dataset.listUrl;
        if (back) history.pushState({}, "", back);
      }
    }
  });

  // A task opened in the side panel takes the focus (keyboard and screen-reader users
  // land on its heading); Escape closes the panel.
  document.addEventListener("htmx:afterSwap", (event) => {
    if (event.detail.target && event.detail.target.id === "panel") {
      const heading = document.querySelector("#panel h2");
      if (heading) heading.focus({ preventScroll: true });
    }
  });
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    const close = document.querySelector("#panel [data-close-panel]");
    if (close) close.click();
  });

  // Out-of-band notices arrive through htmx; restart their timer.
  document.addEventListener("htmx:oobAfterSwap", (event) => {
    if (event.detail.target && event.detail.target.id === "toast") scheduleDismiss();
  });

  // Session expiry: a 401 from an htmx request means "sign in again"; go there keeping the page.
  // Other errors carry a short message (see webapp/errors.py): show it.
  document.addEventListener("htmx:responseError", (event) => {
    const xhr = event.detail.xhr;
    if (xhr.status === 401) {
      window.location.href =
        "/login?next=" + encodeURIComponent(window.location.pathname + window.location.search);
      return;
    }
    showNotice(xhr.responseText || "<p class='toast-note danger'>Something went wrong.</p>");
  });

  document.addEventListener("htmx:sendError", () => {
    showNotice("<p class='toast-note danger'>Could not reach the server. Check the connection and try again.</p>");
  });

  // Remember which list the side panel belongs to, so "Close" returns to it.
  function rememberList() {
    const panel = document.getElementById("panel");
    if (panel && !window.location.pathname.startsWith("/tasks/")) {
      panel.dataset.listUrl = window.location.pathname + window.location.search;
    }
  }
  document.addEventListener("DOMContentLoaded", rememberList);
  document.addEventListener("htmx:pushedIntoHistory", rememberList);
  document.addEventListener("htmx:historyRestore", rememberList);

  // Tell the server which list is on screen, so that an action in the panel updates
  // that list's row and counts (see webapp/htmx.py, LIST_HEADER).
  document.addEventListener("htmx:configRequest", (event) => {
    const panel = document.getElementById("panel");
    if (panel && panel.dataset.listUrl) event.detail.headers["X-Board-List"] = panel.dataset.listUrl;
  });

  // Select all rows of a list (manager board).
  document.addEventListener("change", (event) => {
    const all = event.target.closest("[data-select-all]");
    if (all) {
      const table = all.closest("table");
      table
        .querySelectorAll(`input[type=checkbox][name="${all.dataset.selectAll}"]:not(:disabled)`)
        .forEach((box) => {
          box.checked = all.checked;
        });
    }
    // Refuse a file larger than the server accepts before uploading it.
    const file = event.target.closest("input[type=file][data-max-bytes]");
    if (file) {
      const limit = Number(file.dataset.maxBytes);
      const tooBig = Array.from(file.files || []).some((f) => f.size > limit);
      file.setCustomValidity(
        tooBig ? `The file is larger than ${Math.round(limit / 1048576)} MB; attach a link instead.` : ""
      );
      file.reportValidity();
    }
  });

  // A button marked aria-disabled stays focusable (its reason is read out) but does nothing.
  document.addEventListener(
    "click",
    (event) => {
      const button = event.target.closest("button[aria-disabled=true]");
      if (button) {
        event.preventDefault();
        event.stopPropagation();
        const reasons = button.closest(".complete-box");
        if (reasons) reasons.classList.add("nudge");
      }
    },
    true
  );
})();
