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
