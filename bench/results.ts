/**
 * The bench's figures: one value per server per round for each metric, and the
 * table that shows them (the median over rounds, and the median of each round's
 * ratio: a ratio within one round compares servers under the same load on the machine).
 */
import { percentile } from './load.js';

export type Server = 'relay' | 'careful' | 'posix-chat';
export const SERVERS: readonly Server[] = ['relay', 'careful', 'posix-chat'];

interface Metric {
  name: string;
  unit: string;
  target: string;
  /** 'sum': counts over all rounds (lost lines); 'median': one figure per round. */
  combine: 'median' | 'sum';
  values: Record<Server, number[]>;
}

export class Results {
  private readonly metrics = new Map<string, Metric>();

  record(name: string, unit: string, target: string, server: Server, value: number, combine: 'median' | 'sum' = 'median'): void {
    let metric = this.metrics.get(name);
    if (metric === undefined) {
      metric = { name, unit, target, combine, values: { relay: [], careful: [], 'posix-chat': [] } };
      this.metrics.set(name, metric);
    }
    metric.values[server].push(value);
  }

  /** The table: the median over rounds (or the sum, for counts), and posix-chat's ratio to each peer. */
  table(): string {
    const lines = [
      '| metric | bare relay | careful node:net chat | posix-chat | vs careful | vs relay | target |',
      '|---|---:|---:|---:|---:|---:|---|',
    ];
    for (const m of this.metrics.values()) {
      const cell = (server: Server): string => {
        const values = m.values[server];
        if (values.length === 0) return '-';
        const value = m.combine === 'sum' ? values.reduce((a, b) => a + b, 0) : median(values);
        return `${fmt(value)}${m.unit === '' || !Number.isFinite(value) ? '' : ` ${m.unit}`}`;
      };
      const ratio = (peer: Server): string => {
        if (m.combine === 'sum') return '';
        const ratios = m.values['posix-chat'].map((ours, i) => ratioOf(ours, m.values[peer][i] ?? NaN)).filter((r) => !Number.isNaN(r));
        return ratios.length === 0 ? '' : `${fmt(median(ratios))}x`;
      };
      lines.push(`| ${m.name} | ${cell('relay')} | ${cell('careful')} | ${cell('posix-chat')} | ${ratio('careful')} | ${ratio('relay')} | ${m.target} |`);
    }
    return lines.join('\n');
  }

  /** Each round's figures, for the ranges: `metric: relay a / b / c; careful ...`. */
  rounds(): string {
    const lines: string[] = [];
    for (const m of this.metrics.values()) {
      const parts = SERVERS.filter((s) => m.values[s].length > 0).map((s) => `${s} ${m.values[s].map(fmt).join(' / ')}`);
      lines.push(`- ${m.name}: ${parts.join('; ')}`);
    }
    return lines.join('\n');
  }
}

function ratioOf(ours: number, peer: number): number {
  if (ours === peer) return 1; // both 0, or both lost
  if (peer === 0 || !Number.isFinite(peer)) return NaN;
  return ours / peer;
}

export function median(values: number[]): number {
  return percentile(values, 50);
}

export function fmt(n: number): string {
  if (Number.isNaN(n)) return 'n/a';
  if (n === Infinity) return '∞'; // lost, or not within the time allowed
  const abs = Math.abs(n);
  if (abs >= 1000) return Math.round(n).toLocaleString('en-US');
  return abs >= 100 ? n.toFixed(0) : abs >= 10 ? n.toFixed(1) : n.toFixed(2);
}
