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
      var cond = JSON.parse(box.dataset.showIf), ok = true;
      Object.keys(cond).forEach(function (k) { if (val(k) !== cond[k]) { ok = false; } });
      box.hidden = !ok;
    });
  }
  form.addEventListener('change', update); update();
})();
