/* The process editor: bpmn-js Modeler plus a plain properties form. Every check happens on the server. */
(function () {
  'use strict';
  var SPIFF = 'http://spiffworkflow.org/bpmn/schema/1.0/core';
  var config = JSON.parse(document.getElementById('editor-config').textContent);
  var T = config.i18n;
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var modeler = new BpmnJS({ container: '#canvas', keyboard: { bindTo: document } });
  var modeling = modeler.get('modeling');
  var moddle = modeler.get('moddle');
  var canvas = modeler.get('canvas');
  var registry = modeler.get('elementRegistry');
  var draftForms = {};
  var marked = [];
  var dirty = false;
  var statusEl = document.getElementById('editor-status');
  var body = document.getElementById('props-body');

  function status(text) { statusEl.textContent = text || ''; }

  function post(url, payload) {
    return fetch(url, {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRFToken': csrf, 'Accept': 'application/json' },
      body: JSON.stringify(payload)
    }).then(function (r) { return r.json().then(function (j) { j.httpStatus = r.status; return j; }); });
  }

  function withXml(extra) {
    return modeler.saveXML({ format: true }).then(function (res) {
      var payload = { xml: res.xml, forms: draftForms };
      Object.keys(extra || {}).forEach(function (k) { payload[k] = extra[k]; });
      return payload;
    });
  }

  // --- extension properties (spiffworkflow:property), kept as generic moddle elements ---------------
  function propsContainer(bo, create) {
    var ext = bo.extensionElements;
    if (!ext && !create) return null;
    if (!ext) { ext = moddle.create('bpmn:ExtensionElements', { values: [] }); ext.$parent = bo; bo.extensionElements = ext; }
    ext.values = ext.values || [];
    var c = ext.values.find(function (v) { return v.$type === 'spiffworkflow:properties'; });
    if (!c && create) {
      c = moddle.createAny('spiffworkflow:properties', SPIFF, {}); c.$children = []; c.$parent = ext; ext.values.push(c);
    }
    return c || null;
  }
  function getProp(bo, name) {
    var c = propsContainer(bo, false);
    var p = c && (c.$children || []).find(function (x) { return x.name === name; });
    return p ? (p.value || '') : '';
  }
  function setProp(element, name, value) {
    var bo = element.businessObject;
    var c = propsContainer(bo, true);
    c.$children = c.$children || [];
    var p = c.$children.find(function (x) { return x.name === name; });
    if (value === '' || value == null) {
      if (p) c.$children.splice(c.$children.indexOf(p), 1);
    } else if (p) { p.value = value; } else {
      p = moddle.createAny('spiffworkflow:property', SPIFF, { name: name, value: value }); p.$parent = c; c.$children.push(p);
    }
    modeling.updateProperties(element, { extensionElements: bo.extensionElements });
    changed();
  }

  function changed() { dirty = true; status(T.unsaved); }

  // --- the properties form -------------------------------------------------------------------------
  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === 'text') e.textContent = attrs[k]; else if (k === 'on') Object.keys(attrs.on).forEach(function (ev) { e.addEventListener(ev, attrs.on[ev]); });
      else e.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) e.appendChild(c); });
    return e;
  }
  function field(id, label, input) { input.id = id; return el('div', {}, [el('label', { for: id, text: label }), input]); }
  function textInput(value, onchange) { var i = el('input', { type: 'text' }); i.value = value || ''; i.addEventListener('change', function () { onchange(i.value); }); return i; }

  function timerDefinition(bo) {
    return (bo.eventDefinitions || []).find(function (d) { return d.$type === 'bpmn:TimerEventDefinition'; });
  }
  function timerExpression(def) {
    var e = def.timeDate || def.timeDuration || def.timeCycle;
    return e ? (e.body || '') : '';
  }

  var RULES = [
    ['next', /^next_working_day\((.+)\)$/], ['working', /^add_working_days\((.+),\s*(\d+)\)$/],
    ['days', /^add_days\((.+),\s*(\d+)\)$/], ['fixed', /^fixed_date\((.+),\s*(\d+),\s*(\d+)\)$/]
  ];
  function parseRule(expr) {
    expr = (expr || '').trim();
    for (var i = 0; i < RULES.length; i++) {
      var m = expr.match(RULES[i][1]);
      if (m) return { rule: RULES[i][0], base: m[1].trim(), n: m[2] || '', month: m[2] || '', day: m[3] || '' };
    }
    return { rule: 'custom', base: '', n: '' };
  }
  function buildRule(r, custom) {
    if (r.rule === 'next') return 'next_working_day(' + r.base + ')';
    if (r.rule === 'working') return 'add_working_days(' + r.base + ', ' + (parseInt(r.n, 10) || 0) + ')';
    if (r.rule === 'days') return 'add_days(' + r.base + ', ' + (parseInt(r.n, 10) || 0) + ')';
    if (r.rule === 'fixed') return 'fixed_date(' + r.base + ', ' + (parseInt(r.month, 10) || 1) + ', ' + (parseInt(r.day, 10) || 1) + ')';
    return custom;
  }

  function timerSection(element, def) {
    var current = timerExpression(def);
    var r = parseRule(current);
    var ruleSel = el('select', {}, [['next', T.ruleNext], ['working', T.ruleWorking], ['days', T.ruleDays], ['fixed', T.ruleFixed], ['custom', T.ruleCustom]].map(function (o) {
      var opt = el('option', { value: o[0], text: o[1] }); if (o[0] === r.rule) opt.selected = true; return opt;
    }));
    var base = textInput(r.rule === 'fixed' ? r.base : r.base, function () {});
    var n = el('input', { type: 'number', min: '0', max: '3660' }); n.value = r.n;
    var month = el('input', { type: 'number', min: '1', max: '12' }); month.value = r.month;
    var day = el('input', { type: 'number', min: '1', max: '31' }); day.value = r.day;
    var custom = el('textarea', { rows: '2', spellcheck: 'false' }); custom.value = current;
    var start = el('input', { type: 'date' }); start.value = config.today;
    var out = el('div', { class: 'preview-box', role: 'status', 'aria-live': 'polite', hidden: 'hidden' });
    var nBox = field('timer-n', T.days, n), baseBox = field('timer-base', r.rule === 'fixed' ? T.expression : T.from, base);
    var fixedBox = el('div', {}, [field('timer-month', T.month, month), field('timer-day', T.day, day)]);
    function current_() {
      return buildRule({ rule: ruleSel.value, base: base.value.trim(), n: n.value, month: month.value, day: day.value }, custom.value.trim());
    }
    // The rule in words (what the deadline register shows) and the timer's name follow the rule.
    var ruleTexts = {};
    var rulesBox = el('div', {}, ['ky', 'ru', 'en'].map(function (lang) {
      var t = el('textarea', { rows: '3' }); t.value = getProp(element.businessObject, 'rule_' + lang);
      ruleTexts[lang] = t;
      return field('timer-rule-' + lang, T['rule' + lang.charAt(0).toUpperCase() + lang.slice(1)], t);
    }));
    var regenerated = el('p', { class: 'help', id: 'timer-rules-note', hidden: 'hidden', text: T.rulesRegenerated });
    var textsTimer = null, lastWords = current;
    function regenerate() {
      var expr = current_();
      if (ruleSel.value === 'custom' || expr === lastWords) return;
      lastWords = expr;
      post(config.urls.rule_texts, { expression: expr }).then(function (res) {
        if (!res.ok || expr !== current_()) return;
        ['ky', 'ru', 'en'].forEach(function (lang) {
          ruleTexts[lang].value = res.rules[lang];
          var name = document.getElementById('prop-name-' + lang);
          if (name) name.value = res.names[lang];
        });
        regenerated.hidden = false;
      });
    }
    function sync() {
      var k = ruleSel.value;
      nBox.hidden = !(k === 'working' || k === 'days'); baseBox.hidden = k === 'custom'; fixedBox.hidden = k !== 'fixed';
      custom.value = current_(); custom.readOnly = k !== 'custom';
      clearTimeout(textsTimer); textsTimer = setTimeout(regenerate, 250);
    }
    [ruleSel, base, n, month, day].forEach(function (i) { i.addEventListener('input', sync); i.addEventListener('change', sync); });
    var apply = el('button', { type: 'button', id: 'timer-apply', text: T.apply, on: { click: function () {
      var expr = current_();
      var kind = def.timeDate ? 'timeDate' : def.timeDuration ? 'timeDuration' : def.timeCycle ? 'timeCycle' : 'timeDate';
      var props = {}; props[kind] = moddle.create('bpmn:FormalExpression', { body: expr });
      modeling.updateModdleProperties(element, def, props);
      ['ky', 'ru', 'en'].forEach(function (lang) { setProp(element, 'rule_' + lang, ruleTexts[lang].value.trim()); });
      var ky = document.getElementById('prop-name-ky');
      if (ky && ky.value !== (element.businessObject.name || '')) modeling.updateProperties(element, { name: ky.value });
      ['ru', 'en'].forEach(function (lang) {
        var input = document.getElementById('prop-name-' + lang);
        if (input && input.value !== getProp(element.businessObject, 'name_' + lang)) setProp(element, 'name_' + lang, input.value);
      });
      changed();
    } } });
    var preview = el('button', { type: 'button', id: 'timer-preview', text: T.preview, on: { click: function () {
      out.hidden = false; out.className = 'preview-box'; out.textContent = T.working;
      withXml({ element_id: element.id, expression: current_(), start: start.value }).then(function (p) {
        return post(config.urls.timer_preview, p);
      }).then(function (res) {
        out.className = 'preview-box' + (res.ok ? '' : ' bad'); out.textContent = res.ok ? res.text : res.error;
      });
    } } });
    sync();
    return el('fieldset', { class: 'timer' }, [el('legend', { text: T.deadline }), field('timer-rule', T.rule, ruleSel), baseBox, nBox, fixedBox,
      field('timer-expr', T.expression, custom), field('timer-start', T.sampleStart, start),
      regenerated, rulesBox, el('div', { class: 'actions' }, [preview, apply]), out]);
  }

  function formSection(element) {
    var bo = element.businessObject;
    var own = config.processId + '/' + bo.id + '.json';
    var chosen = getProp(bo, 'formJsonSchemaFilename');
    var sel = el('select', {}, []);
    sel.appendChild(el('option', { value: '', text: T.defaultForm + ' (' + own + ')' }));
    config.forms.forEach(function (f) { if (f !== own) { var o = el('option', { value: f, text: f }); if (f === chosen) o.selected = true; sel.appendChild(o); } });
    sel.appendChild(el('option', { value: '__new__', text: T.newForm }));
    sel.addEventListener('change', function () {
      if (sel.value === '__new__') {
        var path = config.processId + '/' + bo.id + '.json';
        setProp(element, 'formJsonSchemaFilename', '');
        openForm(path); sel.value = '';
      } else { setProp(element, 'formJsonSchemaFilename', sel.value); }
    });
    var edit = el('button', { type: 'button', id: 'form-open', text: T.editForm, on: { click: function () { openForm(sel.value || own); } } });
    return el('div', {}, [field('prop-form', T.form, sel), edit, reminderSection(element)]);
  }

  // Reminder settings: the properties engine/reminder_policy.py reads, checked on the server as at publication.
  function reminderSection(element) {
    var bo = element.businessObject;
    var offsets = textInput(getProp(bo, 'reminders'), function () {});
    offsets.placeholder = '-2, 0, 1';
    var after = textInput(getProp(bo, 'escalate_after'), function () {});
    after.placeholder = '1';
    var to = el('select', {}, [el('option', { value: '', text: T.escalateDefault })]);
    config.roles.forEach(function (r) {
      var o = el('option', { value: r.code, text: r.label + ' (' + r.code + ')' });
      if (r.code === getProp(bo, 'escalate_to')) o.selected = true;
      to.appendChild(o);
    });
    var out = el('p', { id: 'reminder-check', role: 'status', 'aria-live': 'polite' });
    function check() {
      var values = { reminders: offsets.value.trim(), escalate_after: after.value.trim(), escalate_to: to.value };
      setProp(element, 'reminders', values.reminders);
      setProp(element, 'escalate_after', values.escalate_after);
      setProp(element, 'escalate_to', values.escalate_to);
      post(config.urls.reminder_check, values).then(function (res) {
        out.className = res.ok ? 'preview-box' : 'error';
        out.textContent = res.ok ? res.text : res.error;
      });
    }
    [offsets, after, to].forEach(function (i) { i.addEventListener('change', check); });
    return el('fieldset', { class: 'reminders' }, [el('legend', { text: T.reminders }),
      field('prop-reminders', T.reminderOffsets, offsets), field('prop-escalate-after', T.escalateAfter, after),
      field('prop-escalate-to', T.escalateTo, to), out]);
  }

  function showProperties(element) {
    body.innerHTML = '';
    if (!element || element.type === 'bpmn:Process' || element.type === 'bpmn:Collaboration' || element.type === 'label') {
      body.appendChild(el('p', { class: 'help', text: T.nothingSelected })); return;
    }
    var bo = element.businessObject;
    body.appendChild(el('p', {}, [el('strong', { text: T.element + ': ' }), el('code', { text: bo.id + ' (' + bo.$type.replace('bpmn:', '') + ')' })]));
    if (element.type === 'bpmn:Lane') {
      var sel = el('select', {}, [el('option', { value: '', text: '—' })]);
      config.roles.forEach(function (r) { var o = el('option', { value: r.code, text: r.label + ' (' + r.code + ')' }); if (r.code === bo.name) o.selected = true; sel.appendChild(o); });
      sel.addEventListener('change', function () { modeling.updateProperties(element, { name: sel.value }); changed(); });
      body.appendChild(field('prop-role', T.role, sel));
      return;
    }
    body.appendChild(field('prop-name-ky', T.nameKy, textInput(bo.name, function (v) { modeling.updateProperties(element, { name: v }); changed(); })));
    body.appendChild(field('prop-name-ru', T.nameRu, textInput(getProp(bo, 'name_ru'), function (v) { setProp(element, 'name_ru', v); })));
    body.appendChild(field('prop-name-en', T.nameEn, textInput(getProp(bo, 'name_en'), function (v) { setProp(element, 'name_en', v); })));
    if (element.type === 'bpmn:UserTask') body.appendChild(formSection(element));
    var def = timerDefinition(bo);
    if (def) body.appendChild(timerSection(element, def));
  }

  // --- forms dialog ---------------------------------------------------------------------------------
  var dialog = document.getElementById('form-dialog');
  var formText = document.getElementById('form-text');
  var formPath = null, checkTimer = null;
  function openForm(path) {
    formPath = path;
    document.getElementById('form-path').textContent = path;
    var url = config.urls.form + '?path=' + encodeURIComponent(path);
    var known = draftForms[path];
    (known ? Promise.resolve({ schema: known }) : fetch(url, { credentials: 'same-origin' }).then(function (r) { return r.json(); }))
      .then(function (res) { formText.value = JSON.stringify(res.schema, null, 2); dialog.showModal(); checkForm(); });
  }
  function checkForm() {
    post(config.urls.form_check, { text: formText.value }).then(function (res) {
      var box = document.getElementById('form-check');
      box.innerHTML = '';
      if (res.ok) { box.appendChild(el('p', { class: 'preview-box', text: T.formOk })); }
      else {
        box.appendChild(el('p', { class: 'error', text: T.formErrors }));
        box.appendChild(el('ul', {}, res.errors.map(function (e) { return el('li', { class: 'error', text: e }); })));
      }
      document.getElementById('form-preview').innerHTML = res.preview || '';
    });
  }
  formText.addEventListener('input', function () { clearTimeout(checkTimer); checkTimer = setTimeout(checkForm, 400); });
  document.getElementById('form-keep').addEventListener('click', function () {
    try { draftForms[formPath] = JSON.parse(formText.value); } catch (e) { checkForm(); return; }
    if (config.forms.indexOf(formPath) < 0) config.forms.push(formPath);
    changed(); dialog.close();
  });
  document.getElementById('form-close').addEventListener('click', function () { dialog.close(); });

  // --- problems next to the elements ------------------------------------------------------------------
  function clearMarks() { marked.forEach(function (id) { if (registry.get(id)) canvas.removeMarker(id, 'kz-problem'); }); marked = []; }
  function showResults(res) {
    clearMarks();
    var box = document.getElementById('results'), out = document.getElementById('results-body');
    box.hidden = false; out.innerHTML = '';
    out.appendChild(el('p', { class: res.ok ? 'preview-box' : 'error', text: res.message || res.error || '' }));
    function list(items, cls) {
      items.forEach(function (p) {
        var item = el('div', { class: 'problem ' + cls, 'data-element': p.element_id || '', tabindex: '0' },
          [el('div', { text: (p.element_id ? p.element_id + ': ' : '') + p.title }), el('div', { class: 'detail', text: p.detail }),
           p.technical && p.technical !== p.detail ? el('div', { class: 'detail technical', lang: 'en', text: p.technical }) : null]);
        item.addEventListener('click', function () {
          var shape = p.element_id && registry.get(p.element_id);
          if (shape) { modeler.get('selection').select(shape); canvas.scrollToElement(shape); }
        });
        out.appendChild(item);
        if (p.element_id && registry.get(p.element_id) && cls !== 'note') { canvas.addMarker(p.element_id, 'kz-problem'); marked.push(p.element_id); }
      });
    }
    list(res.problems || [], '');
    list(res.notes || [], 'note');
    var timers = res.timers || {};
    if (Object.keys(timers).length) {
      out.appendChild(el('h3', { text: T.deadlines }));
      out.appendChild(el('ul', {}, Object.keys(timers).map(function (k) { return el('li', { text: k + ': ' + timers[k] }); })));
    }
  }

  // --- buttons ----------------------------------------------------------------------------------------
  document.getElementById('btn-save').addEventListener('click', function () {
    status(T.working);
    withXml().then(function (p) { return post(config.urls.save, p); }).then(function (res) {
      if (res.ok) dirty = false;
      status(res.ok ? res.message : res.error);
    });
  });
  document.getElementById('btn-validate').addEventListener('click', function () {
    status(T.working);
    withXml().then(function (p) { return post(config.urls.validate, p); }).then(function (res) { status(''); showResults(res); });
  });
  document.getElementById('btn-publish').addEventListener('click', function () {
    var note = document.getElementById('publish-note');
    if (!note.value.trim()) { status(T.noteRequired); note.focus(); return; }
    status(T.working);
    withXml({ note: note.value }).then(function (p) { return post(config.urls.publish, p); }).then(function (res) {
      if (res.ok) { dirty = false; window.location.href = res.url; return; }
      status(res.error || '');
      showResults(res);
    });
  });
  window.addEventListener('beforeunload', function (e) { if (dirty) { e.preventDefault(); e.returnValue = ''; } });

  modeler.on('selection.changed', function (e) { showProperties(e.newSelection[0]); });
  fetch(config.urls.source, { credentials: 'same-origin' }).then(function (r) { return r.json(); }).then(function (src) {
    draftForms = src.forms || {};
    return modeler.importXML(src.xml);
  }).then(function () {
    canvas.zoom('fit-viewport');
    showProperties(null);
    document.body.dataset.editorReady = '1';
  }).catch(function (err) { status(T.error + ': ' + err.message); });
})();
