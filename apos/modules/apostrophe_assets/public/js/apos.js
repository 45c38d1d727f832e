// The apos browser runtime: module types (define/create), the api helper with the CSRF
// header, and a small event bus (apos.change / apos.on). Plain JavaScript, no build step.
(function () {
  'use strict';

  const definitions = {};
  const listeners = {};

  function readCookie(name) {
    const prefix = name + '=';
    for (const part of document.cookie.split(';')) {
      const trimmed = part.trim();
      if (trimmed.startsWith(prefix)) {
        return decodeURIComponent(trimmed.slice(prefix.length));
      }
    }
    return null;
  }

  // The chain of definitions for a type, base first.
  function chainOf(name) {
    const chain = [];
    const seen = new Set();
    let current = name;
    while (current) {
      if (seen.has(current)) {
        throw new Error('apos: circular extend involving ' + current);
      }
      seen.add(current);
      const definition = definitions[current];
      if (!definition) {
        throw new Error('apos: no browser type named ' + current);
      }
      chain.unshift(definition);
      current = definition.extend;
    }
    return chain;
  }

  const apos = window.apos || {};
  window.apos = apos;
  apos.modules = apos.modules || {};

  apos.csrfToken = function () {
    return readCookie('XSRF-TOKEN');
  };

  // POST a JSON body to a URL and resolve with the parsed JSON answer. Rejects on a network
  // error or a non-JSON answer; a JSON answer with a non-ok status resolves (callers check
  // data.status), as Apostrophe's $.jsonCall did.
  apos.post = async function (url, data) {
    const headers = { 'Content-Type': 'application/json', 'Accept': 'application/json' };
    const token = apos.csrfToken();
    if (token) {
      headers['X-XSRF-TOKEN'] = token;
    }
    const response = await fetch(url, {
      method: 'POST',
      headers: headers,
      credentials: 'same-origin',
      body: JSON.stringify(data || {}),
    });
    let parsed;
    try {
      parsed = await response.json();
    } catch (error) {
      const failure = new Error('apos: ' + url + ' answered HTTP ' + response.status + ' without JSON');
      failure.httpStatus = response.status;
      throw failure;
    }
    return parsed;
  };

  // Define a browser type. definition: { extend, beforeConstruct, construct, afterConstruct }.
  // A definition named after a type that exists already is an improvement: it extends the
  // previous definition of the same name.
  apos.define = function (name, definition) {
    const copy = Object.assign({}, definition);
    if (definitions[name] && !copy.extend) {
      const previousName = name + ' (before improvement ' + Object.keys(definitions).length + ')';
      definitions[previousName] = definitions[name];
      copy.extend = previousName;
    }
    definitions[name] = copy;
    return copy;
  };

  apos.isDefined = function (name) {
    return Object.prototype.hasOwnProperty.call(definitions, name);
  };

  // Create an object of a type: beforeConstruct runs most-derived first, construct and
  // afterConstruct base first, each with (self, options).
  apos.create = function (name, options) {
    const chain = chainOf(name);
    const self = { __typeName: name };
    const opts = Object.assign({}, options || {});
    for (let i = chain.length - 1; i >= 0; i--) {
      if (chain[i].beforeConstruct) chain[i].beforeConstruct(self, opts);
    }
    for (const definition of chain) {
      if (definition.construct) definition.construct(self, opts);
    }
    for (const definition of chain) {
      if (definition.afterConstruct) definition.afterConstruct(self, opts);
    }
    return self;
  };

  // The base type of every browser module: knows its server routes.
  apos.define('apostrophe-module', {
    construct: function (self, options) {
      self.options = options;
      self.name = options.name;
      self.action = options.action || ('/modules/' + options.name);
      // self.api('route', data) posts to this module; 'other-module:route' to another one.
      self.api = function (route, data) {
        let url;
        const colon = route.indexOf(':');
        if (colon > -1) {
          url = '/modules/' + route.slice(0, colon) + '/' + route.slice(colon + 1);
        } else {
          url = self.action + '/' + route;
        }
        return apos.post(url, data);
      };
    },
  });

  apos.on = function (eventName, fn) {
    (listeners[eventName] = listeners[eventName] || []).push(fn);
  };

  apos.off = function (eventName, fn) {
    listeners[eventName] = (listeners[eventName] || []).filter(function (f) { return f !== fn; });
  };

  apos.emit = function (eventName, ...args) {
    for (const fn of (listeners[eventName] || []).slice()) {
      try {
        fn(...args);
      } catch (error) {
        console.error('apos: a listener for ' + eventName + ' failed', error);
      }
    }
  };

  // Something changed on the server (pieces of a type, usually): lists listening refresh.
  apos.change = function (what) {
    apos.emit('change', what);
  };

  // Create a singleton for each server module that has browser code, using the most
  // derived browser type its chain defines. Called by the page layout.
  apos.createSingletons = function (modules) {
    for (const options of modules) {
      const chain = options.chain || [options.name];
      const typeName = chain.find(apos.isDefined) || 'apostrophe-module';
      apos.modules[options.name] = apos.create(typeName, options);
    }
    apos.emit('ready');
  };
})();
