// The browser side of a piece type: its manager (list, filters, paging, selection and
// batch operations that run as jobs with the apostrophe-jobs progress modal).
(function () {
  'use strict';

  function el(tag, attributes, text) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attributes || {})) {
      node.setAttribute(key, value);
    }
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function plural(n) {
    return n + ' item' + (n === 1 ? '' : 's');
  }

  apos.define('apostrophe-pieces', {
    extend: 'apostrophe-module',
    construct: function (self, options) {
      // Whether the current list filters rule an operation out (no Trash in the trash).
      self.hiddenByFilter = function (operation, filters) {
        const unless = operation.unlessFilter;
        if (!unless) return false;
        return Object.keys(unless).every(function (key) {
          return filters[key] === unless[key];
        });
      };

      self.manage = function (root) {
        const state = {
          filters: { trash: false, published: null, tags: '', search: '' },
          page: 1,
          pages: 1,
          total: 0,
          pieces: [],
          selected: new Set(),
          everything: false,
          loading: 0,
          busy: false,
        };
        const q = function (selector) { return root.querySelector(selector); };
        const rows = q('[data-apos-manager-rows]');
        const selectPage = q('[data-apos-select-page]');
        const operationSelect = q('[data-apos-batch-operation]');
        const fieldsArea = q('[data-apos-batch-fields]');
        const runButton = q('[data-apos-batch-run]');
        const status = q('[data-apos-manager-status]');
        const everything = q('[data-apos-select-everything]');
        const everythingText = q('[data-apos-select-everything-text]');
        const everythingButton = q('[data-apos-select-everything-button]');
        const operations = options.batchOperations || [];

        function say(text, isError) {
          status.textContent = text || '';
          status.classList.toggle('apos-manager__status--error', !!isError);
        }

        function filterBody() {
          const body = { trash: state.filters.trash, search: state.filters.search };
          if (state.filters.published !== null) body.published = state.filters.published;
          if (state.filters.tags) body.tags = state.filters.tags;
          return body;
        }

        function setBusy(busy) {
          state.busy = busy;
          root.setAttribute('aria-busy', busy ? 'true' : 'false');
          root.classList.toggle('apos-manager--loading', busy);
          for (const box of root.querySelectorAll('[data-apos-select-piece], [data-apos-select-page]')) {
            box.disabled = busy;
          }
          runButton.disabled = busy || !state.selected.size;
        }

        async function load() {
          const ticket = ++state.loading;
          setBusy(true);
          let data;
          try {
            data = await self.api('list', Object.assign(filterBody(), {
              page: state.page, perPage: options.perPage,
            }));
          } catch (error) {
            if (ticket === state.loading) {
              failed('The list could not be loaded. Please try again.');
            }
            return;
          }
          if (ticket !== state.loading) return; // a newer request is on its way
          if (data.status !== 'ok') {
            failed('The list could not be loaded (' + data.status + ').');
            return;
          }
          say('');
          state.pieces = data.data.pieces;
          state.total = data.data.total;
          state.pages = data.data.pages;
          state.page = data.data.page;
          render();
          setBusy(false);
        }

        // The rows on screen belong to other filters: show none rather than let them be
        // selected and acted on.
        function failed(message) {
          state.pieces = [];
          state.total = 0;
          state.pages = 1;
          render();
          setBusy(false);
          say(message, true);
        }

        function renderRows() {
          rows.textContent = '';
          if (!state.pieces.length) {
            const row = el('tr');
            row.appendChild(el('td', { colspan: '5' }, 'Nothing to show.'));
            rows.appendChild(row);
            return;
          }
          for (const piece of state.pieces) {
            const row = el('tr', { 'data-piece-id': piece._id });
            const check = el('input', {
              type: 'checkbox', 'data-apos-select-piece': piece._id,
              'aria-label': 'Select ' + piece.title,
            });
            check.checked = state.selected.has(piece._id);
            check.addEventListener('change', function () {
              state.everything = false;
              if (check.checked) state.selected.add(piece._id);
              else state.selected.delete(piece._id);
              renderSelection();
            });
            const checkCell = el('td', { class: 'apos-manager__check' });
            checkCell.appendChild(check);
            row.appendChild(checkCell);
            row.appendChild(el('td', { 'data-apos-piece-title': '' }, piece.title));
            row.appendChild(el('td', {}, piece.published ? 'Yes' : 'No'));
            const tagsCell = el('td', {});
            for (const tag of piece.tags || []) {
              tagsCell.appendChild(el('span', { class: 'apos-manager__tag' }, tag));
            }
            row.appendChild(tagsCell);
            row.appendChild(el('td', {}, piece.updatedAt ? new Date(piece.updatedAt).toLocaleString() : ''));
            rows.appendChild(row);
          }
        }

        function renderOperations() {
          const previous = operationSelect.value;
          operationSelect.textContent = '';
          const n = state.selected.size;
          const visible = operations.filter(function (op) {
            return !self.hiddenByFilter(op, state.filters);
          });
          for (const op of visible) {
            operationSelect.appendChild(el('option', { value: op.name },
              op.label + ' Selected (' + n + ')'));
          }
          if (visible.some(function (op) { return op.name === previous; })) {
            operationSelect.value = previous;
          }
          root.querySelector('[data-apos-manager-batch]').hidden = !visible.length;
          renderFields();
          runButton.disabled = state.busy || !n || !visible.length;
        }

        function currentOperation() {
          return operations.find(function (op) { return op.name === operationSelect.value; });
        }

        function renderFields() {
          const op = currentOperation();
          fieldsArea.textContent = '';
          runButton.textContent = op ? op.buttonLabel : 'Run';
          if (!op) return;
          for (const field of op.fields) {
            const id = 'apos-batch-field-' + op.name + '-' + field.name;
            fieldsArea.appendChild(el('label', { for: id }, field.label + (field.required ? ' *' : '')));
            let input;
            if (field.type === 'select') {
              input = el('select', { id: id });
              input.appendChild(el('option', { value: '' }, '—'));
              for (const choice of field.choices) {
                input.appendChild(el('option', { value: choice.value }, choice.label));
              }
            } else if (field.type === 'boolean') {
              input = el('input', { id: id, type: 'checkbox' });
            } else {
              input = el('input', {
                id: id, type: 'text',
                placeholder: field.type === 'tags' ? 'tag, another tag' : '',
              });
            }
            input.setAttribute('data-apos-batch-field', field.name);
            fieldsArea.appendChild(input);
          }
        }

        function fieldValues(op) {
          const values = {};
          for (const field of op.fields) {
            const input = fieldsArea.querySelector('[data-apos-batch-field="' + field.name + '"]');
            if (!input) continue;
            if (field.type === 'boolean') values[field.name] = input.checked;
            else if (field.type === 'tags') {
              values[field.name] = input.value.split(',').map(function (t) { return t.trim(); })
                .filter(Boolean);
            } else values[field.name] = input.value;
          }
          return values;
        }

        function renderSelection() {
          const onPage = state.pieces.map(function (p) { return p._id; });
          const allOnPage = onPage.length > 0 && onPage.every(function (id) {
            return state.selected.has(id);
          });
          selectPage.checked = allOnPage;
          selectPage.indeterminate = !allOnPage && onPage.some(function (id) {
            return state.selected.has(id);
          });
          for (const box of rows.querySelectorAll('[data-apos-select-piece]')) {
            box.checked = state.selected.has(box.getAttribute('data-apos-select-piece'));
          }
          if (state.everything) {
            everything.hidden = false;
            everythingText.textContent = 'All ' + plural(state.selected.size) +
              ' that match this search are selected.';
            everythingButton.textContent = 'Clear selection';
          } else if (allOnPage && state.total > onPage.length) {
            everything.hidden = false;
            everythingText.textContent = 'All ' + plural(onPage.length) + ' on this page are selected.';
            everythingButton.textContent = 'Select all ' + state.total + ' item(s) that match this search';
          } else {
            everything.hidden = true;
          }
          renderOperations();
        }

        function renderPager() {
          q('[data-apos-page-text]').textContent = 'Page ' + state.page + ' of ' + state.pages +
            ' (' + plural(state.total) + ')';
          q('[data-apos-page-previous]').disabled = state.page <= 1;
          q('[data-apos-page-next]').disabled = state.page >= state.pages;
        }

        function render() {
          renderRows();
          renderPager();
          renderSelection();
        }

        function clearSelection() {
          state.selected = new Set();
          state.everything = false;
        }

        async function run() {
          const op = currentOperation();
          const n = state.selected.size;
          if (!op || !n) return;
          const values = fieldValues(op);
          const missing = op.fields.filter(function (field) {
            const value = values[field.name];
            return field.required && (value === '' || value === undefined ||
              (Array.isArray(value) && !value.length));
          });
          if (missing.length) {
            say('Please fill in: ' + missing.map(function (f) { return f.label; }).join(', ') + '.', true);
            return;
          }
          const details = op.fields.map(function (field) {
            const value = values[field.name];
            return Array.isArray(value) ? value.join(', ') : String(value);
          }).filter(Boolean);
          if (!window.confirm('Are you sure you want to ' + op.label.toLowerCase() + ' ' +
            plural(n) + '?' + (details.length ? ' (' + details.join('; ') + ')' : ''))) {
            return;
          }
          runButton.disabled = true;
          say('Starting…');
          let answer;
          try {
            answer = await self.api(op.route, Object.assign(values, {
              ids: Array.from(state.selected), job: true,
            }));
          } catch (error) {
            say('The operation could not be started. Please try again.', true);
            runButton.disabled = false;
            return;
          }
          if (answer.status !== 'ok') {
            say(answer.status === 'invalid'
              ? 'Please check the form' + (answer.message ? ': ' + answer.message : '.')
              : 'The operation was refused (' + answer.status + ').', true);
            runButton.disabled = false;
            return;
          }
          say('');
          clearSelection(); // only now that the job has started
          render();
          apos.modules['apostrophe-jobs'].progress(answer.jobId, { change: options.type });
        }

        // -- wiring ----------------------------------------------------------------------
        const timers = {};
        for (const input of root.querySelectorAll('[data-apos-filter]')) {
          const name = input.getAttribute('data-apos-filter');
          const apply = function () {
            let value = input.value;
            if (name === 'trash') value = value === 'true';
            if (name === 'published') value = value === 'any' ? null : value === 'true';
            state.filters[name] = value;
            state.page = 1;
            clearSelection();
            renderSelection();
            load();
          };
          if (name === 'search' || name === 'tags') {
            input.addEventListener('input', function () {
              // The rows on screen no longer match what is typed: nothing may be selected
              // from them while the new list is on its way.
              clearSelection();
              renderSelection();
              state.loading++;
              setBusy(true);
              clearTimeout(timers[name]);
              timers[name] = setTimeout(apply, 300);
            });
          } else {
            input.addEventListener('change', apply);
          }
        }
        root.querySelector('[data-apos-manager-filters]').addEventListener('submit', function (e) {
          e.preventDefault();
        });
        selectPage.addEventListener('change', function () {
          state.everything = false;
          for (const piece of state.pieces) {
            if (selectPage.checked) state.selected.add(piece._id);
            else state.selected.delete(piece._id);
          }
          renderSelection();
        });
        everythingButton.addEventListener('click', async function () {
          if (state.everything) {
            clearSelection();
            renderSelection();
            return;
          }
          everythingButton.disabled = true;
          runButton.disabled = true;
          const ticket = state.loading; // the list these ids are for
          try {
            const data = await self.api('list', Object.assign(filterBody(), { format: 'allIds' }));
            if (data.status !== 'ok') throw new Error(data.status);
            if (ticket !== state.loading) return; // the filters changed meanwhile
            state.selected = new Set(data.data.ids);
            state.everything = true;
          } catch (error) {
            say('Could not select everything. Please try again.', true);
          } finally {
            everythingButton.disabled = false;
          }
          renderSelection();
        });
        operationSelect.addEventListener('change', renderOperations);
        runButton.addEventListener('click', run);
        q('[data-apos-page-previous]').addEventListener('click', function () {
          if (state.page > 1) { state.page--; load(); }
        });
        q('[data-apos-page-next]').addEventListener('click', function () {
          if (state.page < state.pages) { state.page++; load(); }
        });
        apos.on('change', function (what) {
          if (what === options.type) load();
        });
        load();
        return { reload: load, state: state };
      };
    },
  });
})();
