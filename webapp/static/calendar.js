// Settings page: the "Copy link" button of a new calendar link.
// Event delegation, so buttons swapped in by htmx work without re-binding.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const input = document.getElementById(button.dataset.copy);
  if (!input) return;
  try {
    await navigator.clipboard.writeText(input.value);
  } catch {
    // Older browsers, or a page not served over https: select and copy instead.
    input.select();
    document.execCommand("copy");
  }
  button.textContent = "Copied";
  button.setAttribute("aria-live", "polite");
  setTimeout(() => { button.textContent = "Copy link"; }, 2500);
});
