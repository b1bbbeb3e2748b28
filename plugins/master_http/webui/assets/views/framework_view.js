// What the Marathon and Chronos views share: they wait for the page's copy to say where the
// master proxies that framework's API (/state's frameworks_http), then redraw from it every
// `intervalMs` while shown. Their answers are small, unlike the cluster's state.
import { esc } from '../format.js';

// render(base) returns the view's HTML; the returned object is the view's {update, stop}, plus
// base() for the view's own requests.
export function frameworkView(body, key, label, intervalMs, render) {
  let base = null;
  let stopped = false;
  let timer = null;

  async function poll() {
    try {
      const html = await render(base);
      if (!stopped) body.innerHTML = html;
    } catch (error) {
      if (!stopped) body.innerHTML = `<p class="error">${esc(error.message)}</p>`;
    }
    if (!stopped) timer = setTimeout(poll, intervalMs);
  }

  return {
    base: () => base,
    update(store) {
      if (base !== null || !store.loaded) return;
      base = store.frameworksHttp[key] ?? '';
      if (!base) {
        body.innerHTML = `<p class="muted">${esc(label)} does not run beside this master.</p>`;
        return;
      }
      poll();
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
