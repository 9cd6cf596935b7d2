// REST client: every request carries `Authorization: Bearer <token>` when a
// token is set; errors come back as ApiError (status 0 = network failure).
import { getToken } from './auth';
import type { Client, ClientPage, ClientQuery, Job, Participation, Round } from './types';

export interface FieldError {
  field: string;
  message: string;
}

export class ApiError extends Error {
  constructor(
    public status: number,
    message: string,
    public fields: FieldError[] = [],
  ) {
    super(message);
  }
}

type Listener = (e: ApiError | null) => void;
const statusListeners = new Set<Listener>();

/** Called with the error of each failed request and with null after each success. */
export function onApiStatus(fn: Listener): () => void {
  statusListeners.add(fn);
  return () => statusListeners.delete(fn);
}

function notify(e: ApiError | null): void {
  for (const l of statusListeners) l(e);
}

export function apiUrl(path: string): string {
  return new URL(path.replace(/^\//, ''), document.baseURI).toString();
}

export function authHeaders(): Record<string, string> {
  const t = getToken();
  return t ? { Authorization: `Bearer ${t}` } : {};
}

export async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json', ...authHeaders() };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(apiUrl(path), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
    });
  } catch (e) {
    const err = new ApiError(0, 'cannot reach the server');
    notify(err);
    throw err;
  }
  const text = await res.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!res.ok) {
    const obj = (json ?? {}) as { error?: string; fields?: FieldError[] };
    const msg = obj.error ?? `HTTP ${res.status} ${res.statusText}`;
    const err = new ApiError(res.status, msg, Array.isArray(obj.fields) ? obj.fields : []);
    // 4xx on a user action (validation, conflict) is not a connectivity problem.
    notify(res.status === 401 || res.status === 403 || res.status >= 500 ? err : null);
    throw err;
  }
  notify(null);
  return json as T;
}

export const getJobs = () => request<Job[]>('GET', 'api/jobs');
export const getJob = (id: number) => request<Job>('GET', `api/jobs/${id}`);
export const getRounds = (id: number) => request<Round[]>('GET', `api/jobs/${id}/rounds`);
export const getParticipations = (id: number) =>
  request<Participation[]>('GET', `api/jobs/${id}/participations`);
export const getClients = () => request<Client[]>('GET', 'api/clients');
/** One page of clients, filtered and sorted by the server (GET /api/clients?limit=…). */
export function getClientsPage(q: ClientQuery): Promise<ClientPage> {
  const p = new URLSearchParams({ limit: String(q.limit), offset: String(q.offset), status: q.status, sort: 'connected' });
  if (q.q) p.set('q', q.q);
  return request<ClientPage>('GET', `api/clients?${p.toString()}`);
}
export const createJob = (spec: unknown) => request<{ id: number }>('POST', 'api/jobs', spec);
export const cancelJob = (id: number) => request<unknown>('POST', `api/jobs/${id}/cancel`);

/** Downloads the job's model with the auth header (a plain link could not send it). */
export async function downloadModel(id: number): Promise<void> {
  const res = await fetch(apiUrl(`api/jobs/${id}/model`), { headers: authHeaders(), cache: 'no-store' });
  if (!res.ok) {
    let msg = `HTTP ${res.status}`;
    try {
      msg = ((await res.json()) as { error?: string }).error ?? msg;
    } catch {
      /* not JSON */
    }
    throw new ApiError(res.status, msg);
  }
  const blob = await res.blob();
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = `fedpress-job-${id}.pt`;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
