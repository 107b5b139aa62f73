import type { Clock } from '../../server/snapshots/scheduler.js';

/** Time that moves only when told; due timers fire when it passes them. */
export class FakeClock implements Clock {
  private timers: { at: number; fn: () => void }[] = [];
  /** Timers that came due and ran, so a test can tell that nothing ran yet. */
  fired = 0;
  constructor(private t: number) {}
  now(): Date {
    return new Date(this.t);
  }
  setTimer(ms: number, fn: () => void): () => void {
    const timer = { at: this.t + ms, fn };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((x) => x !== timer);
    };
  }
  set(iso: string): void {
    this.t = Date.parse(iso);
    const due = this.timers.filter((x) => x.at <= this.t);
    this.timers = this.timers.filter((x) => x.at > this.t);
    this.fired += due.length;
    for (const x of due) x.fn();
  }
}
