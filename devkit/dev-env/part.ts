import { tailFile } from './processes';

/** The shape every part of the local environment reports in `drover dev status`. */
export interface PartStatus {
  name: string;
  healthy: boolean;
  running: boolean;
  endpoint: string;
  detail?: Record<string, unknown>;
  error?: string;
  logTail?: string;
}

export interface DevPart {
  name: string;
  up(log: (msg: string) => void): Promise<void>;
  down(): Promise<void>;
  status(): Promise<PartStatus>;
}

/**
 * A daemon's status as `drover dev status` reports it: when unhealthy, why (`not running`, else `unhealthy`)
 * and the tail of its log.
 */
export function daemonStatus(o: { name: string; running: boolean; healthy: boolean; endpoint: string; detail: Record<string, unknown>; unhealthy: string; logFile: string }): PartStatus {
  const { name, running, healthy, endpoint, detail } = o;
  return { name, running, healthy, endpoint, detail, ...(healthy ? {} : { error: running ? o.unhealthy : 'not running', logTail: tailFile(o.logFile) }) };
}
