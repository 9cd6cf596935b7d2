// JSON shapes of the REST API (server/http/api.cc).

export type JobStatus = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';

export interface Totals {
  rounds_committed: number;
  participations: number;
  rejected: number;
  bytes_up_raw: number;
  bytes_up_wire: number;
  bytes_down_raw: number;
  bytes_down_wire: number;
  bytes_saved_up: number;
  bytes_saved_down: number;
}

export interface Job {
  id: number;
  name: string;
  status: JobStatus;
  current_round: number;
  rounds: number;
  error: string | null;
  created_ms: number;
  started_ms: number | null;
  finished_ms: number | null;
  updated_ms: number;
  spec: Record<string, unknown> | null;
  accuracy?: number | null;
  loss?: number | null;
  totals?: Totals;
}

export interface Round {
  round: number;
  attempts: number;
  accuracy: number | null;
  loss: number | null;
  train_loss: number | null;
  participants: number;
  rejected: number;
  late: number;
  timeouts: number;
  samples: number;
  bytes_up_raw: number;
  bytes_up_wire: number;
  bytes_down_raw: number;
  bytes_down_wire: number;
  started_ms: number;
  finished_ms: number;
  duration_ms: number;
  /** Robust aggregation: median L2 norm of the accepted updates (null before schema v4). */
  median_norm?: number | null;
  clipped?: number;
  outliers?: number;
}

export type ParticipationStatus = 'accepted' | 'rejected' | 'late' | 'timeout';

export interface Participation {
  round: number;
  attempt: number;
  client_id: number;
  client: string;
  status: ParticipationStatus;
  reason: string;
  samples: number;
  train_loss: number | null;
  bytes_up_raw: number;
  bytes_up_wire: number;
  bytes_down_raw: number;
  bytes_down_wire: number;
  train_ms: number;
  encode_ms: number;
  decode_ms: number;
  sent_ms: number | null;
  received_ms: number | null;
  /** L2 norm of the accepted update before any clipping (null otherwise). */
  update_norm?: number | null;
  clipped?: boolean;
  outlier?: boolean;
}

export interface Client {
  id: number;
  name: string;
  connected: boolean;
  busy: boolean;
  last_seen_ms: number;
  samples: number;
  rounds_done: number;
  bytes_up: number;
  bytes_down: number;
  info: { dataset?: string; capabilities?: number; version?: string };
}

export type ClientStatusFilter = 'all' | 'connected' | 'disconnected' | 'busy';

export interface ClientQuery {
  limit: number;
  offset: number;
  status: ClientStatusFilter;
  q: string;
}

/** GET /api/clients with paging parameters. */
export interface ClientPage {
  total: number;
  offset: number;
  limit: number;
  counts: { known: number; connected: number; busy: number };
  clients: Client[];
}

/** A server push on /api/events. */
export interface ServerEvent {
  type: string;
  job_id?: number;
  round?: number;
  data?: Record<string, unknown>;
  ts_ms?: number;
}

export const TERMINAL: ReadonlySet<JobStatus> = new Set(['completed', 'failed', 'cancelled']);
