// The only script of the reading room: copy a citation to the clipboard.
document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const field = document.getElementById(button.dataset.copy);
  navigator.clipboard.writeText(field.value).then(
    () => { button.textContent = "Copied"; },
    () => { field.select(); button.textContent = "Press Ctrl+C to copy"; },
  );
});
