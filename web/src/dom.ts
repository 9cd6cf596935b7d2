// Tiny DOM helpers: h() builds elements, clear() empties one, debounce().
// No virtual DOM: pages keep references to the nodes they update.

export type Child = Node | string | number | null | undefined | false | Child[];
type Props = Record<string, unknown> & { testid?: string; class?: string };

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props?: Props | null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (props) {
    for (const [k, v] of Object.entries(props)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'testid') el.setAttribute('data-testid', String(v));
      else if (k === 'class') el.className = String(v);
      else if (k.startsWith('on') && typeof v === 'function')
        el.addEventListener(k.slice(2).toLowerCase(), v as EventListener);
      else if (k === 'value' || k === 'checked' || k === 'disabled' || k === 'selected')
        (el as unknown as Record<string, unknown>)[k] = v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

export function clear(el: Node, ...children: Child[]): void {
  while (el.firstChild) el.removeChild(el.firstChild);
  append(el, children);
}

export function debounce(fn: () => void, ms: number): (() => void) & { cancel(): void } {
  let t: ReturnType<typeof setTimeout> | undefined;
  const d = () => {
    if (t !== undefined) clearTimeout(t);
    t = setTimeout(() => {
      t = undefined;
      fn();
    }, ms);
  };
  d.cancel = () => {
    if (t !== undefined) clearTimeout(t);
    t = undefined;
  };
  return d;
}

/** A page mounted into the main container; destroy() stops timers and listeners. */
export interface Page {
  el: HTMLElement;
  destroy(): void;
}
