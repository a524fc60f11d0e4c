// sopflow's own script: the only JavaScript we write; htmx does the rest.
// Session expiry: a 401 from an htmx request means "sign in again"; go there keeping the page.
document.addEventListener("htmx:responseError", (event) => {
  if (event.detail.xhr.status === 401) {
    window.location.href = "/login?next=" + encodeURIComponent(window.location.pathname + window.location.search);
  }
});
