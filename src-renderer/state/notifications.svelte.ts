import { messageOf } from '../lib/api.js';

export interface Notice {
  id: number;
  kind: 'error' | 'info';
  message: string;
}

/**
 * Messages for the user: errors go to the alert region (read out at once and
 * kept until dismissed or replaced), confirmations to a polite status region
 * and fade after a few seconds.
 */
export class Notifications {
  notices = $state.raw<Notice[]>([]);
  private nextId = 1;

  readonly errors = $derived(this.notices.filter((n) => n.kind === 'error'));
  readonly infos = $derived(this.notices.filter((n) => n.kind === 'info'));

  constructor(private readonly infoLifetimeMs = 5000) {}

  error(error: unknown, context?: string): void {
    const message = messageOf(error);
    this.push('error', context ? `${context}: ${message}` : message);
  }

  info(message: string): void {
    const id = this.push('info', message);
    setTimeout(() => this.dismiss(id), this.infoLifetimeMs);
  }

  dismiss(id: number): void {
    this.notices = this.notices.filter((n) => n.id !== id);
  }

  private push(kind: Notice['kind'], message: string): number {
    // The same error repeated (a failing preview retried) replaces the earlier copy instead of stacking.
    const kept = this.notices.filter((n) => !(n.kind === kind && n.message === message));
    const id = this.nextId++;
    this.notices = [...kept, { id, kind, message }].slice(-5);
    return id;
  }
}
