// The browser side of apostrophe-jobs: apos.modules['apostrophe-jobs'].progress(jobId, options)
// opens a modal that follows a job until it ends. The modal can be minimised to a small tray
// button; open jobs are remembered in localStorage, so a reloaded page picks them up again.
(function () {
  'use strict';

  const STORAGE_KEY = 'apos-jobs-open';
  const POLL_MS = 1000;
  const MAX_BACKOFF_MS = 15000;
  const FAILURES_BEFORE_NOTICE = 3;

  function sleep(ms) {
    return new Promise(function (resolve) { setTimeout(resolve, ms); });
  }

  function remembered() {
    try {
      return JSON.parse(localStorage.getItem(STORAGE_KEY) || '[]');
    } catch (error) {
      return [];
    }
  }

  function remember(entries) {
    try {
      localStorage.setItem(STORAGE_KEY, JSON.stringify(entries));
    } catch (error) {
      // Private browsing or a full quota: resuming after reload is a nicety, not a need.
    }
  }

  function focusables(root) {
    return Array.from(root.querySelectorAll('button, [href], input, select, textarea'))
      .filter(function (el) { return !el.hidden && !el.disabled; });
  }

  apos.define('apostrophe-jobs', {
    extend: 'apostrophe-module',
    construct: function (self, options) {
      self.monitors = {};

      // Open (or bring back) the progress modal for a job. options.change: after closing,
      // apos.change(options.change). options.success(results): after closing, only if the
      // job completed.
      self.progress = function (jobId, opts) {
        opts = opts || {};
        const existing = self.monitors[jobId];
        if (existing) {
          existing.restore();
          return existing;
        }
        const monitor = createMonitor(jobId, opts);
        self.monitors[jobId] = monitor;
        const entries = remembered().filter(function (e) { return e.jobId !== jobId; });
        entries.push({ jobId: jobId, change: opts.change || null });
        remember(entries);
        monitor.start();
        return monitor;
      };

      self.postHtml = async function (route, data) {
        const response = await fetch(self.action + '/' + route, {
          method: 'POST',
          credentials: 'same-origin',
          headers: {
            'Content-Type': 'application/json',
            'X-XSRF-TOKEN': apos.csrfToken() || '',
          },
          body: JSON.stringify(data || {}),
        });
        if (!response.ok) {
          const failure = new Error('apostrophe-jobs: ' + route + ' answered HTTP ' + response.status);
          failure.httpStatus = response.status;
          throw failure;
        }
        return response.text();
      };

      // Every result of a job whose results live outside its document.
      async function allResults(jobId) {
        const results = {};
        let after = 0;
        while (after !== null) {
          const page = await self.api('results', { _id: jobId, after: after });
          if (page.status !== 'ok') throw new Error('results answered ' + page.status);
          Object.assign(results, page.results);
          after = page.next;
        }
        return results;
      }

      function tray() {
        let el = document.querySelector('.apos-jobs-tray');
        if (!el) {
          el = document.createElement('div');
          el.className = 'apos-jobs-tray';
          document.body.appendChild(el);
        }
        return el;
      }

      function createMonitor(jobId, opts) {
        const monitor = {
          jobId: jobId,
          job: null,
          ended: false,
          closed: false,
          minimised: !!opts.minimised,
          failures: 0,
        };
        const overlay = document.createElement('div');
        overlay.className = 'apos-jobs-overlay';
        overlay.hidden = true;
        const trayButton = document.createElement('button');
        trayButton.type = 'button';
        trayButton.className = 'apos-jobs-tray__item';
        trayButton.hidden = true;
        trayButton.textContent = 'Job in progress';
        trayButton.addEventListener('click', function () { monitor.restore(); });
        let previousFocus = null;
        let modal = null;

        function el(selector) {
          return modal ? modal.querySelector(selector) : null;
        }

        function showMessage(text) {
          const message = el('[data-apos-job-message]');
          if (!message) return;
          message.textContent = text || '';
          message.hidden = !text;
        }

        async function loadModal() {
          let attempt = 0;
          while (!monitor.closed) {
            try {
              return await self.postHtml('modal', { _id: jobId });
            } catch (error) {
              attempt++;
              await sleep(Math.min(POLL_MS * Math.pow(2, attempt), MAX_BACKOFF_MS));
            }
          }
          return null;
        }

        function wire() {
          const stop = el('[data-apos-job-stop]');
          if (stop) stop.addEventListener('click', function () { monitor.stop(); });
          el('[data-apos-job-done]').addEventListener('click', function () { monitor.close(); });
          el('[data-apos-job-minimize]').addEventListener('click', function () {
            monitor.minimise();
          });
          modal.addEventListener('keydown', function (event) {
            if (event.key === 'Escape') {
              event.preventDefault();
              if (monitor.ended) {
                monitor.close();
              } else {
                monitor.minimise();
              }
            } else if (event.key === 'Tab') {
              const items = focusables(modal);
              if (!items.length) return;
              const first = items[0];
              const last = items[items.length - 1];
              if (event.shiftKey && document.activeElement === first) {
                event.preventDefault();
                last.focus();
              } else if (!event.shiftKey && document.activeElement === last) {
                event.preventDefault();
                first.focus();
              }
            }
          });
        }

        function focusInside() {
          const stop = el('[data-apos-job-stop]');
          const done = el('[data-apos-job-done]');
          if (monitor.ended && done) {
            done.focus();
          } else if (stop && !stop.hidden && !stop.disabled) {
            stop.focus();
          } else {
            modal.focus();
          }
        }

        function render(data) {
          const job = data.job || {};
          monitor.job = job;
          const area = el('[data-apos-job-progress]');
          if (area && typeof data.html === 'string') {
            area.innerHTML = data.html;
          }
          const percentage = job.percentage ? job.percentage + '%' : '';
          trayButton.textContent = (job.ended ? 'Job finished' : 'Job in progress') +
            (percentage ? ' (' + percentage + ')' : '') + ' \u2014 show';
          if (job.ended && !monitor.ended) {
            monitor.ended = true;
            const stop = el('[data-apos-job-stop]');
            if (stop) stop.hidden = true;
            const done = el('[data-apos-job-done]');
            done.hidden = false;
            if (!monitor.minimised) done.focus();
          }
        }

        async function poll() {
          while (!monitor.closed && !monitor.ended) {
            let wait = POLL_MS;
            try {
              const data = await self.api('progress', { _id: jobId });
              if (data.status !== 'ok') {
                throw new Error('progress answered ' + data.status);
              }
              monitor.failures = 0;
              showMessage('');
              render(data);
            } catch (error) {
              monitor.failures++;
              wait = Math.min(POLL_MS * Math.pow(2, monitor.failures), MAX_BACKOFF_MS);
              if (monitor.failures >= FAILURES_BEFORE_NOTICE) {
                showMessage('Cannot reach the server to update the progress. Retrying\u2026');
              }
            }
            if (!monitor.ended) await sleep(wait);
          }
        }

        monitor.start = async function () {
          document.body.appendChild(overlay);
          tray().appendChild(trayButton);
          const html = await loadModal();
          if (html === null || monitor.closed) return;
          overlay.innerHTML = html;
          modal = overlay.querySelector('[data-apos-job-modal]');
          wire();
          if (monitor.minimised) {
            trayButton.hidden = false;
          } else {
            previousFocus = document.activeElement;
            overlay.hidden = false;
            focusInside();
          }
          await poll();
        };

        monitor.stop = async function () {
          const stop = el('[data-apos-job-stop]');
          if (!stop || stop.disabled) return;
          const label = stop.textContent;
          stop.disabled = true;
          showMessage('');
          try {
            const result = await self.api('cancel', { _id: jobId });
            // "invalid" here means the job ended meanwhile: the next poll shows how.
            if (result.status !== 'ok' && result.status !== 'invalid') {
              throw new Error(result.status);
            }
          } catch (error) {
            stop.disabled = false;
            stop.textContent = label;
            showMessage('The job could not be stopped. Please try again.');
            stop.focus();
          }
        };

        monitor.minimise = function () {
          monitor.minimised = true;
          overlay.hidden = true;
          trayButton.hidden = false;
          trayButton.focus();
        };

        monitor.restore = function () {
          if (monitor.closed) return;
          monitor.minimised = false;
          trayButton.hidden = true;
          previousFocus = previousFocus || document.activeElement;
          overlay.hidden = false;
          if (modal) focusInside();
        };

        monitor.close = function () {
          if (monitor.closed) return;
          monitor.closed = true;
          overlay.remove();
          trayButton.remove();
          delete self.monitors[jobId];
          remember(remembered().filter(function (e) { return e.jobId !== jobId; }));
          if (previousFocus && previousFocus.focus) previousFocus.focus();
          if (opts.change) {
            apos.change(opts.change);
          }
          const job = monitor.job || {};
          if (job.status === 'completed' && typeof opts.success === 'function') {
            if (job.resultsStored) {
              // Too many results for the job document: page through them first.
              allResults(jobId).then(opts.success, function (error) {
                console.error('apostrophe-jobs: could not load the results of ' + jobId, error);
              });
            } else {
              opts.success(job.results);
            }
          }
        };

        return monitor;
      }
    },
    afterConstruct: function (self) {
      // Jobs that were open when the page was left come back, minimised.
      for (const entry of remembered()) {
        if (entry && typeof entry.jobId === 'string' && !self.monitors[entry.jobId]) {
          self.progress(entry.jobId, { change: entry.change || undefined, minimised: true });
        }
      }
    },
  });
})();
