/* The case's diagram (a hidden section until it is drawn) in the bpmn-js navigated viewer (served from /static/vendor, no CDN).
   Without JavaScript the page shows the text list of steps instead; this only adds the picture. */
(function () {
  'use strict';
  var box = document.querySelector('[data-bpmn-url]');
  if (!box || typeof window.BpmnJS !== 'function') { return; }
  var canvasBox = box.querySelector('.diagram-canvas');
  var words = box.dataset;
  function ids(name) { return (box.dataset[name] || '').split(' ').filter(Boolean); }

  function mark(viewer) {
    var canvas = viewer.get('canvas');
    var registry = viewer.get('elementRegistry');
    var overlays = viewer.get('overlays');
    function badge(id, cls, text) {
      var el = document.createElement('span');
      el.className = 'step-badge ' + cls;
      el.textContent = text;
      overlays.add(id, { position: { top: -10, right: 12 }, html: el });
    }
    ids('done').forEach(function (id) {
      if (!registry.get(id)) { return; }
      last = registry.get(id);
      canvas.addMarker(id, 'step-done');
      badge(id, 'done', '\u2713 ' + words.doneWord);
    });
    var first = null, last = null;
    ids('open').forEach(function (id) {
      var el = registry.get(id);
      if (!el) { return; }
      first = first || el;
      canvas.addMarker(id, 'step-open');
      badge(id, 'open', '\u25B6 ' + words.openWord);
    });
    canvas.zoom('fit-viewport', 'auto');
    // A wide diagram fitted into a small screen is unreadable: zoom in on the current (or last) step instead.
    first = first || last;
    if (first && canvas.zoom() < 0.75) {
      canvas.zoom(0.9, { x: first.x + first.width / 2, y: first.y + first.height / 2 });
      var vb = canvas.viewbox();
      var pool = registry.filter(function (e) { return e.type === 'bpmn:Participant'; })[0];
      var top = first.y + first.height / 2 - vb.height / 2;
      if (pool) { top = Math.max(top, pool.y - 10); }  // no empty band above the pool
      canvas.viewbox({ x: first.x + first.width / 2 - vb.width / 2, y: top, width: vb.width, height: vb.height });
    }
  }

  fetch(box.dataset.bpmnUrl, { credentials: 'same-origin', headers: { Accept: 'application/xml' } })
    .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.text(); })
    .then(function (xml) {
      box.hidden = false;
      var viewer = new window.BpmnJS({ container: canvasBox });
      return viewer.importXML(xml).then(function () { mark(viewer); box.classList.add('drawn'); });
    })
    .catch(function () { box.hidden = true; });
})();
