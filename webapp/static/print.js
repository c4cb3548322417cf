/* The receipt's Print button (a script file: the Content-Security-Policy allows no inline handlers). */
document.querySelectorAll('[data-print]').forEach(function (b) {
  b.hidden = false;
  b.addEventListener('click', function () { window.print(); });
});
