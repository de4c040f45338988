/** Text for people: escaping for HTML and SVG, durations, shares and times, one way everywhere in the report. */

const entities: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for HTML and SVG, in element content and in quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => entities[c]!);
}

/** A duration as people read it: "0 s", "42 s", "12 min", "1 h 12 min", "3 d 4 h"; "unknown" for null. */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return 'unknown';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const minutes = Math.round(s / 60);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return minutes % 60 ? `${hours} h ${minutes % 60} min` : `${hours} h`;
  const days = Math.floor(hours / 24);
  return hours % 24 ? `${days} d ${hours % 24} h` : `${days} d`;
}

/** A share (0..1) as a percentage with one decimal, never rounded up to 100 % unless it is 1: "99.9 %"; "no data" for null. */
export function formatShare(share: number | null | undefined): string {
  if (share === null || share === undefined) return 'no data';
  const tenths = share >= 1 ? 1000 : Math.min(999, Math.floor(share * 1000));
  return `${(tenths / 10).toFixed(1)} %`;
}

/** A time in UTC, to the minute: "2026-11-26 14:05 UTC"; "never" when absent. */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return 'never';
  return `${new Date(iso).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}
