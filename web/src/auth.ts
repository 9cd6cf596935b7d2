// Admin token: read once from the URL fragment (#token=... or #/jobs/3?token=...),
// otherwise from localStorage; stripped from the URL after reading so it does
// not linger in the address bar or get shared with a job link.

const KEY = 'fedpress.token';
let token: string | null = null;
const listeners = new Set<() => void>();

export function initToken(): void {
  const m = location.hash.match(/[#?&]token=([^&]*)/);
  if (m) {
    setToken(decodeURIComponent(m[1]));
    let rest = location.hash.replace(/([#?&])token=[^&]*&?/, '$1').replace(/[?&]$/, '');
    if (rest === '#') rest = '';
    history.replaceState(null, '', location.pathname + location.search + rest);
  } else {
    try {
      token = localStorage.getItem(KEY);
    } catch {
      token = null;
    }
  }
}

export function getToken(): string | null {
  return token;
}

export function setToken(t: string | null): void {
  token = t && t.trim() ? t.trim() : null;
  try {
    if (token) localStorage.setItem(KEY, token);
    else localStorage.removeItem(KEY);
  } catch {
    /* storage may be disabled; the token then lasts for this page only */
  }
  for (const l of listeners) l();
}

export function onTokenChange(fn: () => void): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}
