// The SOP pages' own script (htmx does the requests). A refused paste (413) comes
// back as an error status with a message fragment: swap it in like any answer, so
// the manager reads why instead of seeing nothing happen.
document.addEventListener("htmx:beforeSwap", (event) => {
  const status = event.detail.xhr.status;
  if ((status === 413 || status === 422) && event.detail.elt.closest("#sop-form")) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});
