// Hash routing: #/fleet (default), #/explorer, #/console, #/tester, optionally with a query
// (#/console?target=user&to=alice). Shows one <section id="view-NAME"> at a time, marks its
// nav link (#nav-NAME) with aria-current="page" and calls the view's show(params) / hide().

const ROUTES = ['fleet', 'explorer', 'console', 'tester'];

export function parseHash(hash = location.hash) {
  const [path, query = ''] = hash.replace(/^#\/?/, '').split('?');
  const name = ROUTES.includes(path) ? path : 'fleet';
  return { name, params: new URLSearchParams(query) };
}

/** Builds a link to a view: href('console', { target: 'user', to: 'alice' }) */
export function href(name, params = {}) {
  const query = new URLSearchParams(params).toString();
  return `#/${name}${query ? `?${query}` : ''}`;
}

/** views: { fleet: { show(params), hide() }, ... } */
export function initRouter(views) {
  let current = null;
  let first = true;

  function route() {
    const { name, params } = parseHash();
    for (const route of ROUTES) {
      const active = route === name;
      document.getElementById(`view-${route}`).hidden = !active;
      const link = document.getElementById(`nav-${route}`);
      if (active) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
    if (current && current !== name) views[current]?.hide?.();
    current = name;
    document.title = `${name[0].toUpperCase()}${name.slice(1)} · wscenter console`;
    views[name]?.show?.(params);
    // Move focus to the view's heading after a navigation (not on the first load), so that
    // keyboard and screen reader users land on the new content.
    if (!first) document.getElementById(`${name}-title`)?.focus({ preventScroll: false });
    first = false;
  }

  window.addEventListener('hashchange', route);
  route();
}
