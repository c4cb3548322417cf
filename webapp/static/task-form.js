/* Progressive enhancement of a step's form: hide fields whose condition does not hold.
   Without JavaScript every field shows and the server still validates. */
(function () {
  'use strict';
  var form = document.querySelector('.task-form'); if (!form) { return; }
  function val(name) {
    var els = form.querySelectorAll('[name="' + name + '"]'), out = null;
    els.forEach(function (el) { if ((el.type === 'radio' || el.type === 'checkbox') ? el.checked : true) { out = el.value; } });
    return out === 'yes' ? true : out === 'no' ? false : out;
  }
  function update() {
    form.querySelectorAll('[data-show-if]').forEach(function (box) {
      // One object: every field must match; a list of objects: any one of them (x-show-if in engine/forms.py).
      var cond = JSON.parse(box.dataset.showIf), alternatives = Array.isArray(cond) ? cond : [cond];
      box.hidden = !alternatives.some(function (c) {
        return Object.keys(c).every(function (k) { return val(k) === c[k]; });
      });
    });
  }
  form.addEventListener('change', update); update();
  // File fields: our button in the user's language instead of the browser's, and the chosen names beside it.
  form.classList.add('enhanced');
  form.querySelectorAll('input.file-input').forEach(function (input) {
    var names = input.parentNode.querySelector('.file-names');
    input.addEventListener('change', function () {
      names.textContent = Array.prototype.map.call(input.files, function (f) { return f.name; }).join(', ');
    });
  });
})();
